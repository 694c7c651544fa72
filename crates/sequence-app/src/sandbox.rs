//! The sandbox's own use cases: the organization's clock and settings. (Deposits, linked
//! accounts and approvals are ledger use cases, in [`crate::ledger`]; the rule switches are in
//! [`crate::rules`].)

use chrono::{DateTime, Utc};
use sequence_core::clock::advanced_offset;
use sequence_core::ids::OrgId;
use sequence_core::money::Cents;
use sequence_store::Tx;
use sequence_store::orgs::{self, Organization};

use crate::{App, AppError, ledger, rule_hooks};

/// Upper bound on rounds of "scheduled runs, then settlements" in one call. Each round that does
/// something consumes a scheduled occurrence (claimed strictly later) or completes a transfer, so
/// the loop ends on its own; the bound turns a bug into an error instead of a hang that holds the
/// write lock.
const ROUNDS_MAX: u32 = 100_000;

/// What a clock advance did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockAdvanced {
    /// The organization's time after the advance.
    pub now: DateTime<Utc>,
    /// Transfers that completed.
    pub transfers_settled: u32,
    /// Scheduled rule executions that ran.
    pub rules_executed: u32,
}

/// Moves the organization's clock forward by `seconds` and processes everything that became due,
/// in one transaction.
pub async fn advance_clock(
    app: &App,
    tx: &mut Tx,
    org: &OrgId,
    seconds: i64,
) -> Result<ClockAdvanced, AppError> {
    let org = orgs::get(tx, org).await?;
    let offset = advanced_offset(org.clock_offset_seconds, seconds)
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    let offset = orgs::advance_clock(tx, &org.id, offset).await?;
    let org = Organization { clock_offset_seconds: offset, ..org };
    let now = app.org_now(offset);
    let (transfers_settled, rules_executed) = process_everything_due(tx, &org, now).await?;
    Ok(ClockAdvanced { now, transfers_settled, rules_executed })
}

/// Settlements and scheduled rules due at `now`, until neither has anything left (a settlement
/// can fire a rule whose transfers are themselves due). Returns (transfers settled, executions).
pub async fn process_everything_due(
    tx: &mut Tx,
    org: &Organization,
    now: DateTime<Utc>,
) -> Result<(u32, u32), AppError> {
    let (mut settled, mut executed) = (0_u32, 0_u32);
    for _ in 0..ROUNDS_MAX {
        let executions = rule_hooks::run_due_schedules(tx, org, now, &mut settled).await?;
        let completions = ledger::process_due(tx, org, now).await?;
        settled = settled.saturating_add(completions);
        executed = executed.saturating_add(executions);
        if executions == 0 && completions == 0 {
            return Ok((settled, executed));
        }
    }
    Err(AppError::internal(format!("organization {}: due work did not run out", org.id)))
}

/// One bounded slice of [`process_everything_due`], for the background worker: the scheduled
/// occurrences due at `now` (each after the settlements due before it), then at most `max_steps`
/// settlement steps. Returns (transfers settled, executions, more), where `more` says work may
/// remain: the slice was full, or executions ran (their transfers may be due already). A slice
/// that says `more` took at least one step or ran at least one occurrence, so repeating slices
/// makes strict progress and ends.
pub async fn process_due_slice(
    tx: &mut Tx,
    org: &Organization,
    now: DateTime<Utc>,
    max_steps: u32,
) -> Result<(u32, u32, bool), AppError> {
    let mut settled = 0_u32;
    let executed = rule_hooks::run_due_schedules(tx, org, now, &mut settled).await?;
    let (completions, full) = ledger::process_due_at_most(tx, org, now, max_steps).await?;
    Ok((settled.saturating_add(completions), executed, full || executed > 0))
}

/// The organization as the sandbox shows it, with its time now.
pub async fn organization(
    app: &App,
    conn: &mut sequence_store::AnyConnection,
    org: &OrgId,
) -> Result<(Organization, DateTime<Utc>), AppError> {
    app.organization(conn, org).await
}

/// Sets (or clears) the amount from which transfers wait for a person's approval.
pub async fn set_approval_threshold(
    app: &App,
    tx: &mut Tx,
    org: &OrgId,
    threshold: Option<Cents>,
) -> Result<(Organization, DateTime<Utc>), AppError> {
    orgs::set_approval_threshold(tx, org, threshold).await?;
    app.organization(tx, org).await
}
