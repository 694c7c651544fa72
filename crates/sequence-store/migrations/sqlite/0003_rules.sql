-- Rules and rule executions (SQLite).

-- A rule. `definition` is the JSON of `sequence_core::rules::Rule` (its serde shape is the
-- storage shape) and is authoritative; the other descriptive columns are copies written from it
-- in the same statement, kept for filtering and constraints.
CREATE TABLE rules (
    id                  TEXT    PRIMARY KEY,
    org_id              TEXT    NOT NULL REFERENCES organizations (id),
    nickname            TEXT    NOT NULL,
    description         TEXT    NULL,
    status              TEXT    NOT NULL CHECK (status IN ('enabled', 'disabled')),
    trigger_type        TEXT    NOT NULL CHECK (trigger_type IN ('ON_FUNDS_TRANSFERRED', 'SCHEDULED', 'MANUAL')),
    trigger_account_id  TEXT    NULL REFERENCES accounts (id),
    definition          TEXT    NOT NULL,
    -- The next scheduled occurrence to run; set only while a SCHEDULED rule is enabled and live.
    -- A scheduler claims an occurrence by moving this forward with a conditional UPDATE.
    next_run_at_ms      INTEGER NULL,
    created_at_ms       INTEGER NOT NULL,
    updated_at_ms       INTEGER NOT NULL,
    deleted_at_ms       INTEGER NULL,
    CHECK (trigger_type <> 'ON_FUNDS_TRANSFERRED' OR trigger_account_id IS NOT NULL),
    CHECK (next_run_at_ms IS NULL OR (trigger_type = 'SCHEDULED' AND status = 'enabled' AND deleted_at_ms IS NULL)),
    CHECK (deleted_at_ms IS NULL OR status = 'disabled')
);
CREATE INDEX rules_by_org ON rules (org_id, created_at_ms, id);
-- The API allows one non-deleted ON_FUNDS_TRANSFERRED rule per account; validation reports it
-- with a field path, and this index settles races between concurrent creations.
CREATE UNIQUE INDEX rules_one_on_funds_per_account ON rules (trigger_account_id)
    WHERE trigger_type = 'ON_FUNDS_TRANSFERRED' AND deleted_at_ms IS NULL;
CREATE INDEX rules_due ON rules (org_id, next_run_at_ms) WHERE next_run_at_ms IS NOT NULL;

-- One run of a rule. The counters follow its transfers as they settle:
-- attempted = completed + failed + pending (skipped actions make no transfer).
CREATE TABLE rule_executions (
    id                    TEXT    PRIMARY KEY,
    org_id                TEXT    NOT NULL REFERENCES organizations (id),
    rule_id               TEXT    NOT NULL REFERENCES rules (id),
    rule_name             TEXT    NOT NULL,
    trigger_type          TEXT    NOT NULL CHECK (trigger_type IN ('manual', 'scheduled', 'on_funds_transferred')),
    simulation            INTEGER NOT NULL CHECK (simulation IN (0, 1)),
    status                TEXT    NOT NULL CHECK (status IN ('in_progress', 'executed', 'partial', 'failed')),
    trigger_amount_cents  INTEGER NULL,
    scheduled_time_ms     INTEGER NULL,
    step_index_matched    INTEGER NULL CHECK (step_index_matched IS NULL OR step_index_matched >= 0),
    conditions_not_met    INTEGER NOT NULL CHECK (conditions_not_met IN (0, 1)),
    transfers_attempted   INTEGER NOT NULL CHECK (transfers_attempted >= 0),
    transfers_completed   INTEGER NOT NULL CHECK (transfers_completed >= 0),
    transfers_failed      INTEGER NOT NULL CHECK (transfers_failed >= 0),
    transfers_pending     INTEGER NOT NULL CHECK (transfers_pending >= 0),
    transfers_skipped     INTEGER NOT NULL CHECK (transfers_skipped >= 0),
    -- The run stopped on an error that produced no transfer (e.g. arithmetic overflow).
    stopped_by_error      INTEGER NOT NULL CHECK (stopped_by_error IN (0, 1)),
    error_message         TEXT    NULL,
    created_at_ms         INTEGER NOT NULL,
    updated_at_ms         INTEGER NOT NULL,
    CHECK (transfers_attempted = transfers_completed + transfers_failed + transfers_pending),
    CHECK (conditions_not_met = 0 OR step_index_matched IS NULL),
    CHECK (simulation = 0 OR transfers_pending = 0)
);
CREATE INDEX rule_executions_by_rule ON rule_executions (org_id, rule_id, created_at_ms, id);

-- Which transfers a run made, in action order, with the limit group each counts against.
-- `outcome` is the bucket the transfer is counted in; it moves from `pending` exactly once (a
-- conditional UPDATE), so an execution's counters change exactly once per settled transfer.
CREATE TABLE rule_transfers (
    transfer_id   TEXT    PRIMARY KEY REFERENCES transfers (id),
    org_id        TEXT    NOT NULL REFERENCES organizations (id),
    rule_id       TEXT    NOT NULL REFERENCES rules (id),
    execution_id  TEXT    NOT NULL REFERENCES rule_executions (id),
    position      INTEGER NOT NULL CHECK (position >= 0),
    step_index    INTEGER NOT NULL CHECK (step_index >= 0),
    action_index  INTEGER NOT NULL CHECK (action_index >= 0),
    group_index   INTEGER NOT NULL CHECK (group_index >= 0),
    outcome       TEXT    NOT NULL CHECK (outcome IN ('pending', 'completed', 'failed')),
    UNIQUE (execution_id, position)
);
CREATE INDEX rule_transfers_by_rule ON rule_transfers (rule_id, group_index);

