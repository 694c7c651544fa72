-- Indexes that serve every query over an organization's history from one index range, in the
-- order it returns (SQLite; issue 9). The queries are in `transfers.rs` and `rules.rs`; the
-- store's plan test (`tests/store/plans.rs`) explains each one and fails on a sort or a scan.
--
-- Listings are newest first (`created_at_ms DESC, id DESC`) from a cursor, so each listing index
-- ends in `(created_at_ms, id)` after the columns a listing fixes by equality. `simulation` is one
-- of them: the default listing is live only, and a listing of both modes merges two ranges.

-- An account's transfers, one index per side (a listing of either side merges the two ranges).
-- They replace 0002's `transfers_by_source` / `_by_destination`, which ended in `created_at_ms`
-- without `simulation` or `id`.
DROP INDEX transfers_by_source;
DROP INDEX transfers_by_destination;
CREATE INDEX transfers_list_by_source
    ON transfers (org_id, source_account_id, simulation, created_at_ms, id);
CREATE INDEX transfers_list_by_destination
    ON transfers (org_id, destination_account_id, simulation, created_at_ms, id);

-- Live transfers still in flight, per side: an account's in-flight count (may it be deleted?) and
-- the money on its way in (rules) read only these rows, never the account's history. SQLite uses
-- a partial index only when the query repeats its predicate term for term, so the status list is
-- spelled exactly as `transfers::status_list(TransferStatus::is_in_flight)` writes it. Both
-- indexes cover their queries (`status`, and on the destination side the amount and the other
-- side): SQLite, which has no statistics, otherwise prefers the listing index above, whose
-- equality columns it cannot tell apart from these (and which holds the whole history).
CREATE INDEX transfers_in_flight_by_source
    ON transfers (org_id, source_account_id, status)
    WHERE simulation = 0 AND status IN ('pending_approval', 'processing', 'pending');
CREATE INDEX transfers_in_flight_by_destination
    ON transfers (org_id, destination_account_id, status, amount_cents, source_account_id)
    WHERE simulation = 0 AND status IN ('pending_approval', 'processing', 'pending');

-- Due settlement steps, per organization, oldest first (replaces 0002's `transfers_due`, which
-- was not per organization: each organization's look-up read every organization's due rows).
DROP INDEX transfers_due;
CREATE INDEX transfers_due_by_org
    ON transfers (org_id, next_step_at_ms, id) WHERE next_step_at_ms IS NOT NULL;

-- One rule execution's transfers, in creation order (replaces 0002's `transfers_by_execution`,
-- which had no order).
DROP INDEX transfers_by_execution;
CREATE INDEX transfers_by_execution_time
    ON transfers (rule_execution_id, created_at_ms, id) WHERE rule_execution_id IS NOT NULL;

-- A rule's live transfers since a date (its cap usage reads the current year's only). It
-- replaces 0003's `rule_transfers_by_rule`, through which cap usage read the rule's whole
-- history; nothing else looks rule transfers up by rule.
DROP INDEX rule_transfers_by_rule;
CREATE INDEX transfers_by_rule_time
    ON transfers (rule_id, simulation, created_at_ms) WHERE rule_id IS NOT NULL;

-- A rule's executions, live or simulated, newest first (replaces 0003's `rule_executions_by_rule`).
DROP INDEX rule_executions_by_rule;
CREATE INDEX rule_executions_list_by_rule
    ON rule_executions (org_id, rule_id, simulation, created_at_ms, id);

-- The organization's next scheduled occurrence, ties by id (replaces 0003's `rules_due`, whose
-- ties needed a sort).
DROP INDEX rules_due;
CREATE INDEX rules_due_by_org
    ON rules (org_id, next_run_at_ms, id) WHERE next_run_at_ms IS NOT NULL;
