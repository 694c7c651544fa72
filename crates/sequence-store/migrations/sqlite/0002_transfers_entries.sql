-- Transfers and ledger entries (SQLite).

CREATE TABLE transfers (
    id                        TEXT    PRIMARY KEY,
    org_id                    TEXT    NOT NULL REFERENCES organizations (id),
    -- NULL on the API side means "the outside world" (a deposit has no source account).
    source_account_id         TEXT    NULL REFERENCES accounts (id),
    destination_account_id    TEXT    NULL REFERENCES accounts (id),
    -- Positive, except 0 for a rule action that failed before its amount was known (the spec's
    -- `Transfer.amount_in_cents`: "0 only for failed rule actions whose amount could not be
    -- computed").
    amount_cents              INTEGER NOT NULL CHECK (amount_cents > 0 OR (amount_cents = 0 AND status = 'error')),
    direction                 TEXT    NOT NULL CHECK (direction IN ('money_in', 'money_out', 'internal')),
    origin                    TEXT    NOT NULL CHECK (origin IN ('paycheck', 'check_deposit', 'cashback', 'user_pull', 'rule', 'user', 'external_pull')),
    status                    TEXT    NOT NULL CHECK (status IN ('pending_approval', 'processing', 'pending', 'complete', 'error', 'cancelled')),
    error_code                TEXT    NULL,
    description               TEXT    NULL,
    simulation                INTEGER NOT NULL CHECK (simulation IN (0, 1)),
    -- What this transfer holds on its source's `reserved_cents`: its amount while it is live, in
    -- flight and from an internal account; 0 otherwise.
    reserved_cents            INTEGER NOT NULL DEFAULT 0 CHECK (reserved_cents = 0 OR reserved_cents = amount_cents),
    rule_id                   TEXT    NULL,
    rule_execution_id         TEXT    NULL,
    -- When the transfer entered `processing` (creation or approval): its settlement schedule
    -- is computed from this instant.
    processing_started_at_ms  INTEGER NULL,
    -- When the settlement worker must move it on; NULL when nothing is scheduled.
    next_step_at_ms           INTEGER NULL,
    created_at_ms             INTEGER NOT NULL,
    updated_at_ms             INTEGER NOT NULL,
    completed_at_ms           INTEGER NULL,
    CHECK (source_account_id IS NOT NULL OR destination_account_id IS NOT NULL),
    CHECK (source_account_id IS NULL OR destination_account_id IS NULL OR source_account_id <> destination_account_id),
    CHECK ((status = 'complete') = (completed_at_ms IS NOT NULL)),
    CHECK ((status = 'error') = (error_code IS NOT NULL)),
    CHECK (simulation = 0 OR reserved_cents = 0)
);
CREATE INDEX transfers_by_source ON transfers (org_id, source_account_id, created_at_ms);
CREATE INDEX transfers_by_destination ON transfers (org_id, destination_account_id, created_at_ms);
CREATE INDEX transfers_due ON transfers (next_step_at_ms) WHERE next_step_at_ms IS NOT NULL;
CREATE INDEX transfers_by_execution ON transfers (rule_execution_id) WHERE rule_execution_id IS NOT NULL;

-- One row per account side of a completed transfer. Immutable: never updated or deleted.
CREATE TABLE entries (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id                TEXT    NOT NULL REFERENCES organizations (id),
    transfer_id           TEXT    NOT NULL REFERENCES transfers (id),
    account_id            TEXT    NOT NULL REFERENCES accounts (id),
    amount_cents          INTEGER NOT NULL CHECK (amount_cents <> 0),
    balance_before_cents  INTEGER NOT NULL,
    balance_after_cents   INTEGER NOT NULL,
    -- The account's version after this entry: entries of one account replay in this order.
    account_version       INTEGER NOT NULL,
    created_at_ms         INTEGER NOT NULL,
    CHECK (balance_after_cents = balance_before_cents + amount_cents),
    UNIQUE (account_id, account_version),
    UNIQUE (transfer_id, account_id)
);
CREATE INDEX entries_by_org ON entries (org_id, account_id);
