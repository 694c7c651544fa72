-- Webhooks (SQLite; issue 11): endpoints, the event outbox, deliveries and their attempts.
-- Four tables:
-- - `webhook_endpoints`: where an organization wants events sent (soft-deleted);
-- - `webhook_events`: the outbox. An event is inserted in the same transaction as the change it
--   reports (a transfer created or changing status, a rule execution completing), so it exists if
--   and only if that change committed. `payload` is the exact body every attempt sends;
-- - `webhook_deliveries`: one event to one endpoint (the fan-out, written in that same
--   transaction), with its state, attempt count and next attempt time;
-- - `webhook_attempts`: one row per HTTP attempt, for listing.
--
-- Times: `created_at_ms` of events and attempts (and `next_attempt_org_ms`) are the organization
-- clock, as everything the API shows; the scheduling columns of deliveries
-- (`next_attempt_at_ms`, `first_attempt_at_ms`) are real time (the server's clock), so that
-- advancing a sandbox clock never expires retries.
--
-- Every query over these tables reads an index range (the store's plan test explains each one).

CREATE TABLE webhook_endpoints (
    id             TEXT    PRIMARY KEY,
    org_id         TEXT    NOT NULL REFERENCES organizations (id),
    url            TEXT    NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
    -- The event types sent to it, comma-separated spellings; NULL: every type, including later ones.
    event_types    TEXT    NULL,
    description    TEXT    NULL,
    -- The signing secret (`whsec_…`). Stored as is: signing needs it (unlike API keys, which are
    -- only compared and so stored hashed).
    secret         TEXT    NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    deleted_at_ms  INTEGER NULL
);
-- An organization's live endpoints, oldest first: the listing and every event's fan-out.
CREATE INDEX webhook_endpoints_live_by_org
    ON webhook_endpoints (org_id, created_at_ms, id) WHERE deleted_at_ms IS NULL;

CREATE TABLE webhook_events (
    -- Insertion order: the order of the events about one resource (their transactions are
    -- serialized by the resource's own conditional updates).
    seq            INTEGER PRIMARY KEY,
    id             TEXT    NOT NULL UNIQUE,
    org_id         TEXT    NOT NULL REFERENCES organizations (id),
    event_type     TEXT    NOT NULL CHECK (event_type IN ('transfer.created', 'transfer.status_changed', 'transfer.approval_required', 'rule_execution.completed', 'card_transaction.created')),
    -- The resource the event is about (a transfer, rule execution or card transaction id): events
    -- about one subject reach each endpoint in order.
    subject_id     TEXT    NOT NULL,
    payload        TEXT    NOT NULL,
    created_at_ms  INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
    id                   TEXT    PRIMARY KEY,
    org_id               TEXT    NOT NULL REFERENCES organizations (id),
    endpoint_id          TEXT    NOT NULL REFERENCES webhook_endpoints (id),
    event_id             TEXT    NOT NULL REFERENCES webhook_events (id),
    event_seq            INTEGER NOT NULL,
    subject_id           TEXT    NOT NULL,
    -- waiting: behind an unfinished delivery of an earlier event about the same subject to the
    -- same endpoint; pending: due at next_attempt_at_ms (or under way, leased until then);
    -- delivered / failed / cancelled: final.
    status               TEXT    NOT NULL CHECK (status IN ('waiting', 'pending', 'delivered', 'failed', 'cancelled')),
    -- Attempts claimed so far. A claim is a conditional update from the count it read, so one
    -- attempt number is claimed by exactly one server replica.
    attempts             INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at_ms   INTEGER NULL,
    first_attempt_at_ms  INTEGER NULL,
    created_at_ms        INTEGER NOT NULL,
    updated_at_ms        INTEGER NOT NULL,
    CHECK ((status = 'pending') = (next_attempt_at_ms IS NOT NULL)),
    UNIQUE (event_id, endpoint_id)
);
-- Due work, across organizations, oldest due first: the deliverer's only scan.
CREATE INDEX webhook_deliveries_due
    ON webhook_deliveries (next_attempt_at_ms, id) WHERE status = 'pending';
-- Unfinished deliveries per endpoint and subject, in event order: the tail a new delivery waits
-- behind, the next one to promote when one finishes, and the ones a deleted endpoint cancels.
CREATE INDEX webhook_deliveries_unfinished
    ON webhook_deliveries (endpoint_id, subject_id, event_seq) WHERE status IN ('waiting', 'pending');

CREATE TABLE webhook_attempts (
    id                   TEXT    PRIMARY KEY,
    org_id               TEXT    NOT NULL REFERENCES organizations (id),
    endpoint_id          TEXT    NOT NULL REFERENCES webhook_endpoints (id),
    delivery_id          TEXT    NOT NULL REFERENCES webhook_deliveries (id),
    event_id             TEXT    NOT NULL,
    event_type           TEXT    NOT NULL,
    attempt              INTEGER NOT NULL CHECK (attempt >= 1),
    response_status      INTEGER NULL,
    error                TEXT    NULL,
    duration_ms          INTEGER NOT NULL CHECK (duration_ms >= 0),
    outcome              TEXT    NOT NULL CHECK (outcome IN ('delivered', 'retrying', 'failed')),
    next_attempt_org_ms  INTEGER NULL,
    created_at_ms        INTEGER NOT NULL,
    -- One row per attempt number: the database's own witness that no attempt was made twice.
    UNIQUE (delivery_id, attempt)
);
-- An endpoint's attempts, newest first from a cursor.
CREATE INDEX webhook_attempts_list_by_endpoint
    ON webhook_attempts (org_id, endpoint_id, created_at_ms, id);
