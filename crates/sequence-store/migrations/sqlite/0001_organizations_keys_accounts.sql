-- Organizations, API keys and accounts (SQLite).
-- Timestamps are integer milliseconds since the Unix epoch (UTC); amounts are integer cents.
-- Never edit a migration once it has shipped: add a new one (sqlx checks their hashes).

CREATE TABLE organizations (
    id                        TEXT    PRIMARY KEY,
    name                      TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- The sandbox clock: the organization's "now" is real time plus this offset.
    clock_offset_seconds      INTEGER NOT NULL DEFAULT 0 CHECK (clock_offset_seconds >= 0),
    -- Manual transfers of at least this amount wait for a person's approval.
    -- The two hidden system accounts that make every transfer two-sided (see sequence_core::ledger):
    -- money entering from / leaving to the outside world, and money moving to / from linked
    -- external accounts.
    outside_world_account_id      TEXT    NOT NULL,
    external_clearing_account_id  TEXT    NOT NULL,
    approval_threshold_cents  INTEGER NULL CHECK (approval_threshold_cents IS NULL OR approval_threshold_cents >= 100),
    created_at_ms             INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id            TEXT    PRIMARY KEY,
    org_id        TEXT    NOT NULL REFERENCES organizations (id),
    name          TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- SHA-256 of the key's secret part, hex. The secret itself is never stored.
    secret_sha256 TEXT    NOT NULL CHECK (length(secret_sha256) = 64),
    -- The permission entries, as the canonical JSON of sequence_core::permissions.
    permissions   TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER NULL
);
CREATE INDEX api_keys_by_org ON api_keys (org_id, created_at_ms);

CREATE TABLE accounts (
    id                            TEXT    PRIMARY KEY,
    org_id                        TEXT    NOT NULL REFERENCES organizations (id),
    -- income_source | pod | external_account | system (the organization's two hidden ledger
    -- counterparties; never exposed by the API).
    kind                          TEXT    NOT NULL CHECK (kind IN ('income_source', 'pod', 'external_account', 'system')),
    external_type                 TEXT    NULL CHECK (external_type IN ('DEPOSITORY', 'INVESTMENT', 'LIABILITY')),
    name                          TEXT    NOT NULL,
    description                   TEXT    NULL,
    icon                          TEXT    NULL,
    beneficiary_name              TEXT    NOT NULL,
    institution_name              TEXT    NULL,
    routing_number                TEXT    NULL,
    account_number                TEXT    NULL,
    -- Ledger balance: the sum of this account's entries. Only changed together with an entry.
    balance_cents                 INTEGER NOT NULL DEFAULT 0,
    -- Money promised to in-flight outgoing transfers; available = balance - reserved.
    reserved_cents                INTEGER NOT NULL DEFAULT 0 CHECK (reserved_cents >= 0),
    -- What the bank reports for external accounts (informational; for LIABILITY, amount owed).
    reported_balance_cents        INTEGER NULL,
    last_statement_balance_cents  INTEGER NULL,
    next_payment_minimum_cents    INTEGER NULL,
    next_payment_due_date         TEXT    NULL,
    -- Bumped with every entry; entries record it, so the ledger replays in order.
    version                       INTEGER NOT NULL DEFAULT 0,
    balance_updated_at_ms         INTEGER NOT NULL,
    created_at_ms                 INTEGER NOT NULL,
    updated_at_ms                 INTEGER NOT NULL,
    deleted_at_ms                 INTEGER NULL,
    CHECK ((kind = 'external_account') = (external_type IS NOT NULL)),
    -- Internal accounts can never be overdrawn, not even by a reservation.
    CHECK (kind NOT IN ('income_source', 'pod') OR (balance_cents >= 0 AND balance_cents - reserved_cents >= 0))
);
CREATE INDEX accounts_by_org ON accounts (org_id, created_at_ms);

CREATE TABLE idempotency_keys (
    org_id               TEXT    NOT NULL REFERENCES organizations (id),
    key                  TEXT    NOT NULL,
    -- SHA-256 over method, path and body: the same key with another request is refused.
    request_fingerprint  TEXT    NOT NULL,
    -- NULL while the original request is executing.
    response_status      INTEGER NULL,
    response_body        TEXT    NULL,
    created_at_ms        INTEGER NOT NULL,
    -- A claim whose request died without finishing may be taken over after this time.
    locked_until_ms      INTEGER NOT NULL,
    PRIMARY KEY (org_id, key)
);
