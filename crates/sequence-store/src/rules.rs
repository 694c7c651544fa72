//! Rules, their executions, and the link between an execution and the transfers it made (see
//! migration 0003).
//!
//! - A rule is stored as the JSON of [`sequence_core::rules::Rule`] (the core pins that serde
//!   shape as the storage shape) plus copies of the fields queries filter on. Every write goes
//!   through [`insert`] or [`update`], which derive those copies from the rule itself, so they
//!   cannot disagree with it.
//! - Scheduled rules carry `next_run_at`: the next occurrence to run. [`claim_occurrence`] moves
//!   it forward with a conditional `UPDATE … WHERE next_run_at_ms = <the occurrence>`; the caller
//!   runs the occurrence in the same transaction, so with several replicas exactly one of them
//!   runs each occurrence (the others' updates match no row).
//! - An execution's transfer counters move when its transfers settle. [`record_transfer_outcome`]
//!   first flips the transfer's `outcome` from `pending` with a conditional update, then adjusts
//!   the counters with relative updates (`transfers_pending = transfers_pending - 1`), which are
//!   atomic under the row lock on both backends: concurrent settlements of two transfers of one
//!   execution never lose an update, and a repeated notification is counted once.
//! - Queries over history (a rule's executions, the next due occurrence, a rule's cap usage) read
//!   index ranges in the order they return (migration 0005, [`crate::statement`]); each has a
//!   `…_statement` twin returning its exact SQL for the store's plan test.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sequence_core::ids::{AccountId, OrgId, RuleExecutionId, RuleId, TransferId};
use sequence_core::money::Cents;
use sequence_core::rules::{CapPeriod, Rule, RuleStatus, TriggerKind};
use sqlx::{AnyConnection, Row};

use crate::statement::{Cursor, Params, Statement, backend_of, newest_first, upper_bound};
use crate::transfers::ModeFilter;
use crate::{Backend, StoreError, StoreResult, from_millis, to_millis};

/// A rule as stored: the domain rule plus its bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRecord {
    /// The rule itself (id, nickname, description, status, trigger, steps).
    pub rule: Rule,
    /// Owning organization.
    pub org_id: OrgId,
    /// The next scheduled occurrence to run (`SCHEDULED` rules that are enabled and live only).
    pub next_run_at: Option<DateTime<Utc>>,
    /// Creation (organization clock).
    pub created_at: DateTime<Utc>,
    /// Last change of the rule's own fields (organization clock).
    pub updated_at: DateTime<Utc>,
    /// Soft deletion.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl RuleRecord {
    /// Whether the rule was deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

const RULE_COLUMNS: &str =
    "id, org_id, definition, next_run_at_ms, created_at_ms, updated_at_ms, deleted_at_ms";

fn corrupt(what: &str, detail: impl fmt::Display) -> StoreError {
    StoreError::Config(format!("corrupt {what}: {detail}"))
}

fn rule_from_row(row: &sqlx::any::AnyRow) -> StoreResult<RuleRecord> {
    let id: String = row.try_get(0)?;
    let definition: String = row.try_get(2)?;
    let rule: Rule = serde_json::from_str(&definition)
        .map_err(|e| corrupt("rule definition", format!("{id}: {e}")))?;
    if rule.id.as_str() != id {
        return Err(corrupt("rule definition", format!("row {id} holds rule {}", rule.id)));
    }
    Ok(RuleRecord {
        rule,
        org_id: OrgId::from_raw(row.try_get::<String, _>(1)?),
        next_run_at: row.try_get::<Option<i64>, _>(3)?.map(from_millis),
        created_at: from_millis(row.try_get(4)?),
        updated_at: from_millis(row.try_get(5)?),
        deleted_at: row.try_get::<Option<i64>, _>(6)?.map(from_millis),
    })
}

fn definition(rule: &Rule) -> StoreResult<String> {
    serde_json::to_string(rule)
        .map_err(|e| StoreError::Config(format!("serializing rule {}: {e}", rule.id)))
}

/// Inserts a rule. A second live `ON_FUNDS_TRANSFERRED` rule on one account is
/// [`StoreError::Conflict`] (a unique index; validation normally catches it first).
pub async fn insert(conn: &mut AnyConnection, record: &RuleRecord) -> StoreResult<()> {
    let rule = &record.rule;
    sqlx::query(
        "INSERT INTO rules (id, org_id, nickname, description, status, trigger_type, trigger_account_id, definition, \
         next_run_at_ms, created_at_ms, updated_at_ms, deleted_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(rule.id.as_str())
    .bind(record.org_id.as_str())
    .bind(&rule.nickname)
    .bind(&rule.description)
    .bind(rule.status.as_str())
    .bind(rule.trigger.kind.as_str())
    .bind(rule.trigger.account_id.as_ref().map(AccountId::as_str))
    .bind(definition(rule)?)
    .bind(record.next_run_at.map(to_millis))
    .bind(to_millis(record.created_at))
    .bind(to_millis(record.updated_at))
    .bind(record.deleted_at.map(to_millis))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Replaces a rule's stored state (everything but its id, organization and creation time).
/// [`StoreError::NotFound`] if the organization has no such rule.
pub async fn update(conn: &mut AnyConnection, record: &RuleRecord) -> StoreResult<()> {
    let rule = &record.rule;
    let result = sqlx::query(
        "UPDATE rules SET nickname = $1, description = $2, status = $3, trigger_type = $4, trigger_account_id = $5, \
         definition = $6, next_run_at_ms = $7, updated_at_ms = $8, deleted_at_ms = $9 \
         WHERE id = $10 AND org_id = $11",
    )
    .bind(&rule.nickname)
    .bind(&rule.description)
    .bind(rule.status.as_str())
    .bind(rule.trigger.kind.as_str())
    .bind(rule.trigger.account_id.as_ref().map(AccountId::as_str))
    .bind(definition(rule)?)
    .bind(record.next_run_at.map(to_millis))
    .bind(to_millis(record.updated_at))
    .bind(record.deleted_at.map(to_millis))
    .bind(rule.id.as_str())
    .bind(record.org_id.as_str())
    .execute(&mut *conn)
    .await?;
    if result.rows_affected() == 1 { Ok(()) } else { Err(StoreError::NotFound) }
}

/// One rule of the organization, deleted or not.
pub async fn find(
    conn: &mut AnyConnection,
    org: &OrgId,
    id: &str,
) -> StoreResult<Option<RuleRecord>> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM rules WHERE org_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.as_str())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(rule_from_row).transpose()
}

/// The organization's live rules, optionally only those whose trigger account is `source`,
/// oldest first (then by id).
pub async fn list(
    conn: &mut AnyConnection,
    org: &OrgId,
    source: Option<&str>,
) -> StoreResult<Vec<RuleRecord>> {
    let sql = format!(
        "SELECT {RULE_COLUMNS} FROM rules WHERE org_id = $1 AND deleted_at_ms IS NULL \
         AND (CAST($2 AS TEXT) IS NULL OR trigger_account_id = $2) \
         ORDER BY created_at_ms, id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.as_str())
        .bind(source)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(rule_from_row).collect()
}

/// The trigger accounts of the organization's live `ON_FUNDS_TRANSFERRED` rules, leaving out
/// `except` (the rule being updated, which may keep its own account).
pub async fn on_funds_trigger_accounts(
    conn: &mut AnyConnection,
    org: &OrgId,
    except: Option<&RuleId>,
) -> StoreResult<BTreeSet<AccountId>> {
    let rows = sqlx::query(
        "SELECT trigger_account_id FROM rules WHERE org_id = $1 AND trigger_type = $2 AND deleted_at_ms IS NULL \
         AND trigger_account_id IS NOT NULL AND (CAST($3 AS TEXT) IS NULL OR id <> $3)",
    )
    .bind(org.as_str())
    .bind(TriggerKind::OnFundsTransferred.as_str())
    .bind(except.map(RuleId::as_str))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|row| Ok(AccountId::from_raw(row.try_get::<String, _>(0)?))).collect()
}

/// The enabled, live `ON_FUNDS_TRANSFERRED` rule watching `account`, if any (there is at most one
/// live such rule per account).
pub async fn enabled_on_funds_rule(
    conn: &mut AnyConnection,
    org: &OrgId,
    account: &AccountId,
) -> StoreResult<Option<RuleRecord>> {
    let sql = format!(
        "SELECT {RULE_COLUMNS} FROM rules WHERE org_id = $1 AND trigger_account_id = $2 AND trigger_type = $3 \
         AND status = $4 AND deleted_at_ms IS NULL"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.as_str())
        .bind(account.as_str())
        .bind(TriggerKind::OnFundsTransferred.as_str())
        .bind(RuleStatus::Enabled.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(rule_from_row).transpose()
}

/// The organization's scheduled rule whose next occurrence is the earliest one due at `now`
/// (ties broken by id), if any.
pub async fn next_due(
    conn: &mut AnyConnection,
    org: &OrgId,
    now: DateTime<Utc>,
) -> StoreResult<Option<RuleRecord>> {
    let row = next_due_statement(org, now).query().fetch_optional(&mut *conn).await?;
    row.as_ref().map(rule_from_row).transpose()
}

/// The statement [`next_due`] runs: the first row of the organization's range of the partial
/// index `rules_due_by_org` (migration 0005). The status and deletion terms never exclude a row
/// (a CHECK allows `next_run_at` only on enabled, live rules); they state the intent.
pub fn next_due_statement(org: &OrgId, now: DateTime<Utc>) -> Statement {
    let mut params = Params::default();
    let sql = format!(
        "SELECT {RULE_COLUMNS} FROM rules WHERE org_id = {} AND next_run_at_ms IS NOT NULL AND next_run_at_ms <= {} \
         AND status = {} AND deleted_at_ms IS NULL ORDER BY next_run_at_ms, id LIMIT 1",
        params.text(org.as_str()),
        params.int(to_millis(now)),
        params.text(RuleStatus::Enabled.as_str()),
    );
    Statement::new(sql, params)
}

/// Locks a rule's row until the end of the transaction, so that runs of one rule (and changes to
/// it) serialize: whatever a run reads after this (its cap usage, its accounts' balances and the
/// money in flight to them) includes every earlier run's committed transfers, and nothing another
/// run commits can slip between the read and this run's transfers. On PostgreSQL this is
/// `SELECT … FOR UPDATE` (READ COMMITTED gives each later statement a fresh snapshot, taken after
/// the lock was granted); SQLite's write transaction (`BEGIN IMMEDIATE`) already excludes every
/// other writer. Returns whether the organization has the rule (deleted or not).
pub async fn lock(conn: &mut AnyConnection, org: &OrgId, id: &str) -> StoreResult<bool> {
    let lock = if conn.backend_name() == "PostgreSQL" { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT id FROM rules WHERE org_id = $1 AND id = $2{lock}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.as_str())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
}

/// Claims the occurrence `due` of a scheduled rule by moving its `next_run_at` to `next` (`None`:
/// no further occurrence), if it still is `due` and the rule is still enabled and live. Returns
/// whether this call won; the winner runs the occurrence in the same transaction.
pub async fn claim_occurrence(
    conn: &mut AnyConnection,
    org: &OrgId,
    rule: &RuleId,
    due: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
) -> StoreResult<bool> {
    let result = sqlx::query(
        "UPDATE rules SET next_run_at_ms = $1 WHERE id = $2 AND org_id = $3 AND next_run_at_ms = $4 \
         AND status = $5 AND deleted_at_ms IS NULL",
    )
    .bind(next.map(to_millis))
    .bind(rule.as_str())
    .bind(org.as_str())
    .bind(to_millis(due))
    .bind(RuleStatus::Enabled.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The execution vocabulary is the domain's (`sequence_core::rules`); re-exported so that the
/// store's records and their types come from one place for callers.
pub use sequence_core::rules::{
    CapPeriodStarts, ExecutionStatus, ExecutionTrigger, TransferCounters, TransferOutcome,
};

fn parse_stored<T: FromStr>(what: &str, text: String) -> StoreResult<T> {
    text.parse().map_err(|_| corrupt(what, text))
}

/// One run of a rule, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRecord {
    /// `rex_…`.
    pub id: RuleExecutionId,
    /// Owning organization.
    pub org_id: OrgId,
    /// The rule that ran.
    pub rule_id: RuleId,
    /// The rule's nickname when the run started.
    pub rule_name: String,
    /// How the run started.
    pub trigger: ExecutionTrigger,
    /// A dry run.
    pub simulation: bool,
    /// Where it stands.
    pub status: ExecutionStatus,
    /// The run's incoming amount, if any.
    pub trigger_amount: Option<Cents>,
    /// The scheduled occurrence this run belongs to (`scheduled` runs).
    pub scheduled_time: Option<DateTime<Utc>>,
    /// The step whose conditions passed.
    pub step_index_matched: Option<u32>,
    /// No step's conditions passed.
    pub conditions_not_met: bool,
    /// Transfer counters.
    pub counters: TransferCounters,
    /// The run stopped on an error that produced no transfer.
    pub stopped_by_error: bool,
    /// Why the run failed or stopped early.
    pub error_message: Option<String>,
    /// When the run started (organization clock).
    pub created_at: DateTime<Utc>,
    /// Last change (organization clock).
    pub updated_at: DateTime<Utc>,
}

const EXECUTION_COLUMNS: &str = "id, org_id, rule_id, rule_name, trigger_type, simulation, status, trigger_amount_cents, \
     scheduled_time_ms, step_index_matched, conditions_not_met, transfers_attempted, transfers_completed, \
     transfers_failed, transfers_pending, transfers_skipped, stopped_by_error, error_message, created_at_ms, updated_at_ms";

fn count(row: &sqlx::any::AnyRow, index: usize) -> StoreResult<u32> {
    let value: i64 = row.try_get(index)?;
    u32::try_from(value).map_err(|_| corrupt("execution counter", value))
}

fn execution_from_row(row: &sqlx::any::AnyRow) -> StoreResult<ExecutionRecord> {
    let step: Option<i64> = row.try_get(9)?;
    Ok(ExecutionRecord {
        id: RuleExecutionId::from_raw(row.try_get::<String, _>(0)?),
        org_id: OrgId::from_raw(row.try_get::<String, _>(1)?),
        rule_id: RuleId::from_raw(row.try_get::<String, _>(2)?),
        rule_name: row.try_get(3)?,
        trigger: parse_stored("execution trigger", row.try_get::<String, _>(4)?)?,
        simulation: row.try_get::<i64, _>(5)? != 0,
        status: parse_stored("execution status", row.try_get::<String, _>(6)?)?,
        trigger_amount: row.try_get::<Option<i64>, _>(7)?.map(Cents::new),
        scheduled_time: row.try_get::<Option<i64>, _>(8)?.map(from_millis),
        step_index_matched: step
            .map(|s| u32::try_from(s).map_err(|_| corrupt("step index", s)))
            .transpose()?,
        conditions_not_met: row.try_get::<i64, _>(10)? != 0,
        counters: TransferCounters {
            attempted: count(row, 11)?,
            completed: count(row, 12)?,
            failed: count(row, 13)?,
            pending: count(row, 14)?,
            skipped: count(row, 15)?,
        },
        stopped_by_error: row.try_get::<i64, _>(16)? != 0,
        error_message: row.try_get(17)?,
        created_at: from_millis(row.try_get(18)?),
        updated_at: from_millis(row.try_get(19)?),
    })
}

/// Inserts an execution.
pub async fn insert_execution(conn: &mut AnyConnection, e: &ExecutionRecord) -> StoreResult<()> {
    let c = e.counters;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO rule_executions ({EXECUTION_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
    )))
    .bind(e.id.as_str())
    .bind(e.org_id.as_str())
    .bind(e.rule_id.as_str())
    .bind(&e.rule_name)
    .bind(e.trigger.as_str())
    .bind(i64::from(e.simulation))
    .bind(e.status.as_str())
    .bind(e.trigger_amount.map(Cents::get))
    .bind(e.scheduled_time.map(to_millis))
    .bind(e.step_index_matched.map(i64::from))
    .bind(i64::from(e.conditions_not_met))
    .bind(i64::from(c.attempted))
    .bind(i64::from(c.completed))
    .bind(i64::from(c.failed))
    .bind(i64::from(c.pending))
    .bind(i64::from(c.skipped))
    .bind(i64::from(e.stopped_by_error))
    .bind(&e.error_message)
    .bind(to_millis(e.created_at))
    .bind(to_millis(e.updated_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One execution of the organization.
pub async fn find_execution(
    conn: &mut AnyConnection,
    org: &OrgId,
    id: &str,
) -> StoreResult<Option<ExecutionRecord>> {
    let sql =
        format!("SELECT {EXECUTION_COLUMNS} FROM rule_executions WHERE org_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.as_str())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(execution_from_row).transpose()
}

/// Filters for [`list_executions`].
#[derive(Debug, Clone)]
pub struct ExecutionFilter {
    /// The rule whose executions are listed.
    pub rule: RuleId,
    /// Only this status.
    pub status: Option<ExecutionStatus>,
    /// Only runs started this way.
    pub trigger: Option<ExecutionTrigger>,
    /// Live, simulated or both.
    pub mode: ModeFilter,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created at or before.
    pub to: Option<DateTime<Utc>>,
}

/// Newest first (`created_at` desc, then id desc), at most `limit` rows after `cursor`.
pub async fn list_executions(
    conn: &mut AnyConnection,
    org: &OrgId,
    filter: &ExecutionFilter,
    cursor: Option<&Cursor>,
    limit: u32,
) -> StoreResult<Vec<ExecutionRecord>> {
    let statement = list_executions_statement(backend_of(conn), org, filter, cursor, limit);
    let rows = statement.query().fetch_all(&mut *conn).await?;
    rows.iter().map(execution_from_row).collect()
}

/// The statement [`list_executions`] runs: the rule's range of `rule_executions_list_by_rule`
/// (migration 0005) for each live/simulated value asked for, newest first from the cursor, merged
/// (see [`crate::statement`]). Status and trigger are checked on the rows of that range.
pub fn list_executions_statement(
    backend: Backend,
    org: &OrgId,
    filter: &ExecutionFilter,
    cursor: Option<&Cursor>,
    limit: u32,
) -> Statement {
    let mut params = Params::default();
    let org = params.text(org.as_str());
    let rule = params.text(filter.rule.as_str());
    let mut common = Vec::new();
    if let Some(status) = filter.status {
        common.push(format!("status = {}", params.text(status.as_str())));
    }
    if let Some(trigger) = filter.trigger {
        common.push(format!("trigger_type = {}", params.text(trigger.as_str())));
    }
    if let Some(from) = filter.from {
        common.push(format!("created_at_ms >= {}", params.int(to_millis(from))));
    }
    common.extend(upper_bound(&mut params, filter.to.map(to_millis), cursor));
    let simulations: &[i64] = match filter.mode {
        ModeFilter::Live => &[0],
        ModeFilter::Simulation => &[1],
        ModeFilter::All => &[0, 1],
    };
    let branches: Vec<Vec<String>> = simulations
        .iter()
        .map(|simulation| {
            vec![
                format!("org_id = {org}"),
                format!("rule_id = {rule}"),
                format!("simulation = {simulation}"),
            ]
        })
        .collect();
    let limit = params.int(i64::from(limit));
    let sql =
        newest_first(backend, "rule_executions", EXECUTION_COLUMNS, &branches, &common, &limit);
    Statement::new(sql, params)
}

/// Sets an execution's status and, when it has none yet, its error message.
pub async fn set_execution_status(
    conn: &mut AnyConnection,
    id: &RuleExecutionId,
    status: ExecutionStatus,
    error_message: Option<&str>,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE rule_executions SET status = $1, error_message = COALESCE(error_message, $2), updated_at_ms = $3 \
         WHERE id = $4",
    )
    .bind(status.as_str())
    .bind(error_message)
    .bind(to_millis(at))
    .bind(id.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A transfer a run made, and what it counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTransfer {
    /// The transfer.
    pub transfer_id: TransferId,
    /// Its place among the run's transfers (action order).
    pub position: u32,
    /// The step that made it.
    pub step_index: u32,
    /// The action that made it, within the step.
    pub action_index: u32,
    /// The action's limit group.
    pub group_index: u32,
    /// The bucket it is counted in now.
    pub outcome: TransferOutcome,
}

/// Links `transfers` (already inserted) to their execution (already inserted).
pub async fn insert_rule_transfers(
    conn: &mut AnyConnection,
    org: &OrgId,
    rule: &RuleId,
    execution: &RuleExecutionId,
    transfers: &[RuleTransfer],
) -> StoreResult<()> {
    for t in transfers {
        sqlx::query(
            "INSERT INTO rule_transfers (transfer_id, org_id, rule_id, execution_id, position, step_index, action_index, \
             group_index, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(t.transfer_id.as_str())
        .bind(org.as_str())
        .bind(rule.as_str())
        .bind(execution.as_str())
        .bind(i64::from(t.position))
        .bind(i64::from(t.step_index))
        .bind(i64::from(t.action_index))
        .bind(i64::from(t.group_index))
        .bind(t.outcome.as_str())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The transfer ids of each of `executions`, in action order (executions without transfers are
/// absent from the map).
pub async fn transfer_ids(
    conn: &mut AnyConnection,
    executions: &[&RuleExecutionId],
) -> StoreResult<BTreeMap<RuleExecutionId, Vec<TransferId>>> {
    let mut found: BTreeMap<RuleExecutionId, Vec<TransferId>> = BTreeMap::new();
    if executions.is_empty() {
        return Ok(found);
    }
    let placeholders: Vec<String> = (1..=executions.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT execution_id, transfer_id FROM rule_transfers WHERE execution_id IN ({}) ORDER BY execution_id, position",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for execution in executions {
        query = query.bind(execution.as_str());
    }
    for row in query.fetch_all(&mut *conn).await? {
        let execution = RuleExecutionId::from_raw(row.try_get::<String, _>(0)?);
        found
            .entry(execution)
            .or_default()
            .push(TransferId::from_raw(row.try_get::<String, _>(1)?));
    }
    Ok(found)
}

/// Counts a settled rule transfer in its execution: moves the transfer's bucket from `pending`
/// to `outcome` (`Completed` or `Failed`) and adjusts the execution's counters to match. Returns
/// the execution as it now stands, or `None` when there was nothing to count (not a rule transfer,
/// or already counted).
pub async fn record_transfer_outcome(
    conn: &mut AnyConnection,
    org: &OrgId,
    transfer: &TransferId,
    outcome: TransferOutcome,
    at: DateTime<Utc>,
) -> StoreResult<Option<ExecutionRecord>> {
    assert_ne!(outcome, TransferOutcome::Pending, "only settled transfers are counted");
    let flipped = sqlx::query(
        "UPDATE rule_transfers SET outcome = $1 WHERE transfer_id = $2 AND org_id = $3 AND outcome = $4",
    )
    .bind(outcome.as_str())
    .bind(transfer.as_str())
    .bind(org.as_str())
    .bind(TransferOutcome::Pending.as_str())
    .execute(&mut *conn)
    .await?;
    if flipped.rows_affected() != 1 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT execution_id FROM rule_transfers WHERE transfer_id = $1")
        .bind(transfer.as_str())
        .fetch_one(&mut *conn)
        .await?;
    let execution: String = row.try_get(0)?;
    let (completed, failed) = match outcome {
        TransferOutcome::Completed => (1_i64, 0_i64),
        TransferOutcome::Failed | TransferOutcome::Pending => (0, 1),
    };
    sqlx::query(
        "UPDATE rule_executions SET transfers_pending = transfers_pending - 1, \
         transfers_completed = transfers_completed + $1, transfers_failed = transfers_failed + $2, updated_at_ms = $3 \
         WHERE id = $4 AND org_id = $5",
    )
    .bind(completed)
    .bind(failed)
    .bind(to_millis(at))
    .bind(&execution)
    .bind(org.as_str())
    .execute(&mut *conn)
    .await?;
    find_execution(conn, org, &execution).await
}

/// What `rule` already moved in each limit group during the current week, month and year: the
/// amounts of its live transfers that are not `error`/`cancelled` (in flight or complete), keyed
/// by (group index, period) as the evaluator expects. Groups that moved nothing are absent.
pub async fn cap_usage(
    conn: &mut AnyConnection,
    rule: &RuleId,
    starts: CapPeriodStarts,
) -> StoreResult<BTreeMap<(u32, CapPeriod), Cents>> {
    let rows = cap_usage_statement(rule, starts).query().fetch_all(&mut *conn).await?;
    let mut usage = BTreeMap::new();
    for row in rows {
        // The `NULL` group: the rule's transfers without a link (see [`cap_usage_statement`]).
        let Some(group) = row.try_get::<Option<i64>, _>(0)? else { continue };
        let group = u32::try_from(group).map_err(|_| corrupt("group index", group))?;
        for (index, period) in
            [(1, CapPeriod::PerWeek), (2, CapPeriod::PerMonth), (3, CapPeriod::PerYear)]
        {
            let used = Cents::new(row.try_get(index)?);
            if used.is_positive() {
                usage.insert((group, period), used);
            }
        }
    }
    Ok(usage)
}

/// The statement [`cap_usage`] runs: the rule's live transfers since the earliest period start, a
/// range of the partial index `transfers_by_rule_time` (migration 0005), each with its group
/// looked up by primary key in `rule_transfers`. It reads the current year's transfers of the
/// rule, never older ones.
///
/// - The rule is matched on the transfer's own `rule_id`, which the ledger writes from the same
///   rule as the link's. Matching it on `rule_transfers.rule_id` would let a planner walk the
///   rule's links in group order, through its whole history.
/// - The group is a correlated lookup rather than a join, so that no planner can hash-join with a
///   scan of every organization's `rule_transfers` (PostgreSQL does when the rule's year is a
///   large share of that table). Transfers without a link fall in the `NULL` group, which
///   [`cap_usage`] leaves out, as an inner join did (`transfer_id` is the link's primary key, so
///   there is at most one). The lookup is not repeated in a `WHERE`: PostgreSQL would run it twice
///   per row.
pub fn cap_usage_statement(rule: &RuleId, starts: CapPeriodStarts) -> Statement {
    let earliest = starts.week.min(starts.month).min(starts.year);
    let mut params = Params::default();
    let rule = params.text(rule.as_str());
    let week = params.int(to_millis(starts.week));
    let month = params.int(to_millis(starts.month));
    let year = params.int(to_millis(starts.year));
    let earliest = params.int(to_millis(earliest));
    let sum = |since: &str| {
        // PostgreSQL's SUM over BIGINT is NUMERIC, which the Any driver cannot decode: cast back.
        format!(
            "CAST(COALESCE(SUM(CASE WHEN created_at_ms >= {since} THEN amount_cents ELSE 0 END), 0) AS BIGINT)"
        )
    };
    let sql = format!(
        "SELECT group_index, {}, {}, {} FROM (\
         SELECT (SELECT rt.group_index FROM rule_transfers rt WHERE rt.transfer_id = t.id) AS group_index, \
         t.amount_cents, t.created_at_ms FROM transfers t \
         WHERE t.rule_id = {rule} AND t.simulation = 0 AND t.created_at_ms >= {earliest} \
         AND t.status IN ({counted})) AS counted \
         GROUP BY group_index",
        sum(&week),
        sum(&month),
        sum(&year),
        counted = crate::transfers::status_list(sequence_core::rules::counts_toward_caps),
    );
    Statement::new(sql, params)
}

/// The latest occurrence of `rule`'s schedule that ran (its live scheduled executions'
/// `scheduled_time`), if any. Enabling a rule again never schedules an occurrence at or before
/// it, so an occurrence runs once even when the rule is switched off and on (or replaced and
/// enabled) within the same millisecond as its run.
pub async fn last_scheduled_run(
    conn: &mut AnyConnection,
    org: &OrgId,
    rule: &RuleId,
) -> StoreResult<Option<DateTime<Utc>>> {
    let row = sqlx::query(
        "SELECT MAX(scheduled_time_ms) FROM rule_executions \
         WHERE org_id = $1 AND rule_id = $2 AND trigger_type = $3 AND simulation = 0",
    )
    .bind(org.as_str())
    .bind(rule.as_str())
    .bind(ExecutionTrigger::Scheduled.as_str())
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get::<Option<i64>, _>(0)?.map(from_millis))
}
