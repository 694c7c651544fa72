-- The audit log (PostgreSQL): one row per recorded API call (see `sequence_store::audit`).
--
-- Successful mutating calls are written in the same transaction as their change; denied and
-- failed calls afterwards, off the request path. Bodies and secrets are never stored: only the
-- call's identity (key, operation, path, ids), its outcome and the optional X-Called-Reason.
CREATE TABLE audit_logs (
    id              TEXT    PRIMARY KEY,
    org_id          TEXT    NOT NULL REFERENCES organizations (id),
    created_at_ms   BIGINT  NOT NULL,
    api_key_id      TEXT    NOT NULL,
    operation_id    TEXT    NOT NULL,
    method          TEXT    NOT NULL,
    path            TEXT    NOT NULL,
    -- JSON array of ids, in the order the API returns them.
    resource_ids    TEXT    NOT NULL,
    outcome         TEXT    NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    status          INTEGER NOT NULL CHECK (status BETWEEN 100 AND 599),
    error_code      TEXT    NULL,
    request_id      TEXT    NOT NULL,
    called_reason   TEXT    NULL
);
-- GET /audit-logs is newest first from a cursor; each filter it takes has an index whose range,
-- read backwards, is the page in order (see `sequence_store::statement`).
CREATE INDEX audit_logs_by_org ON audit_logs (org_id, created_at_ms, id);
CREATE INDEX audit_logs_by_key ON audit_logs (org_id, api_key_id, created_at_ms, id);
CREATE INDEX audit_logs_by_operation ON audit_logs (org_id, operation_id, created_at_ms, id);
CREATE INDEX audit_logs_by_outcome ON audit_logs (org_id, outcome, created_at_ms, id);
