//! Where the ledger hands over to the rules engine. The ledger calls these at the moments rules
//! care about; the rules engine decides what, if anything, happens. Each runs inside the caller's
//! transaction, so a rule execution commits together with the event that caused it.
//!
//! - Money arriving fires the trigger account's enabled `ON_FUNDS_TRANSFERRED` rule, unless the
//!   money was itself sent by a rule (spec decision 15: no cascades between rules). The rule's
//!   row is locked and the rule read again under the lock before it runs.
//! - A rule transfer settling moves its execution's counters and status (and, when that was its
//!   last transfer in flight, reports `rule_execution.completed`).
//! - Scheduled occurrences run once each, oldest first, each after the settlements due before it
//!   (spec decision 16). An occurrence is claimed by a conditional update of the rule's
//!   `next_run_at` (which also locks the rule's row) in the same transaction as its execution, so
//!   with several replicas processing one organization exactly one of them runs it.
//!
//! **Progress.** Each claim moves `next_run_at` strictly later at stored precision: the schedule
//! is read at stored precision ([`schedule_at_stored_precision`]), so its occurrences are exact
//! milliseconds and the one after `due` is later than `due` once stored. A claim that would not
//! move forward is refused with an error instead of being run again and again.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sequence_core::ids::{AccountId, RuleId};
use sequence_core::ledger::{TransferOrigin, TransferStatus};
use sequence_core::rules::{
    ExecutionStatus, ExecutionTrigger, RuleStatus, Schedule, TransferOutcome, execution_status,
    next_occurrence_after, outcome_of,
};
use sequence_store::Tx;
use sequence_store::orgs::Organization;
use sequence_store::rules;
use sequence_store::transfers::TransferRecord;

use crate::rule_engine::{Run, run_rule};
use crate::{AppError, at_stored_precision, ledger};

/// Upper bound on the occurrences one call looks at; the caller's loop
/// ([`crate::sandbox::process_everything_due`]) calls again until nothing is due, so this bounds
/// one call's work, not what eventually runs.
const OCCURRENCES_PER_CALL_MAX: u32 = 10_000;

/// Money arrived in `transfer.destination` (a sandbox deposit, or an incoming transfer that just
/// completed): fire the account's `ON_FUNDS_TRANSFERRED` rule, if any.
pub async fn on_funds_arrived(
    tx: &mut Tx,
    org: &Organization,
    transfer: &TransferRecord,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    on_funds_arrived_watched_by(tx, org, transfer, now, &mut FundsWatchers::default()).await
}

/// Which enabled `ON_FUNDS_TRANSFERRED` rule, if any, watches each account, as first looked up
/// in this transaction: a settlement slice completes many transfers into few accounts, and a
/// lookup per transfer was a statement per transfer on SQLite's one writer. A slice's own steps
/// never enable, change or delete a rule (only requests do), and a rule found is locked and read
/// again before it runs, so what the slice looked up holds for all of it.
#[derive(Debug, Default)]
pub struct FundsWatchers(HashMap<AccountId, Option<RuleId>>);

/// [`on_funds_arrived`], looking the watching rule up through `watchers` (see [`FundsWatchers`]).
pub async fn on_funds_arrived_watched_by(
    tx: &mut Tx,
    org: &Organization,
    transfer: &TransferRecord,
    now: DateTime<Utc>,
    watchers: &mut FundsWatchers,
) -> Result<(), AppError> {
    let from_a_rule =
        transfer.origin == TransferOrigin::Rule || transfer.rule_execution_id.is_some();
    if transfer.simulation || from_a_rule || transfer.status != TransferStatus::Complete {
        return Ok(());
    }
    let Some(account) = &transfer.destination else { return Ok(()) };
    let watcher = match watchers.0.get(account) {
        Some(watcher) => watcher.clone(),
        None => {
            let rule = rules::enabled_on_funds_rule(tx, &org.id, account).await?;
            let watcher = rule.map(|rule| rule.rule.id);
            watchers.0.insert(account.clone(), watcher.clone());
            watcher
        }
    };
    let Some(rule_id) = watcher else {
        return Ok(());
    };
    // Serialize with other runs of this rule, then read it again: it may have been disabled or
    // changed since the lookup.
    rules::lock(tx, &org.id, rule_id.as_str()).await?;
    let Some(rule) = rules::find(tx, &org.id, rule_id.as_str()).await? else {
        return Ok(());
    };
    let still_watching = !rule.is_deleted()
        && rule.rule.status == RuleStatus::Enabled
        && rule.rule.trigger.account_id.as_ref() == Some(account);
    if !still_watching {
        return Ok(());
    }
    let run = Run {
        rule: &rule,
        trigger: ExecutionTrigger::OnFundsTransferred,
        trigger_amount: Some(transfer.amount),
        scheduled_time: None,
        simulation: false,
    };
    run_rule(tx, org, run, now).await?;
    Ok(())
}

/// A transfer made by a rule changed status: keep its execution's counters and status in step.
pub async fn on_rule_transfer_changed(
    tx: &mut Tx,
    org: &Organization,
    transfer: &TransferRecord,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    if transfer.simulation {
        return Ok(());
    }
    let outcome = outcome_of(transfer.status, false);
    if outcome == TransferOutcome::Pending {
        return Ok(());
    }
    let Some(execution) =
        rules::record_transfer_outcome(tx, &transfer.org_id, &transfer.id, outcome, now).await?
    else {
        return Ok(());
    };
    let status = execution_status(&execution.counters, execution.stopped_by_error);
    let message = (outcome == TransferOutcome::Failed).then(|| {
        let code = transfer.error_code.map(|code| format!(" ({code})")).unwrap_or_default();
        format!("transfer `{}` ended {}{code}", transfer.id, transfer.status)
    });
    rules::set_execution_status(tx, &execution.id, status, message.as_deref(), now).await?;
    if status != ExecutionStatus::InProgress {
        // The execution's last transfer settled: it is complete. Read back what was written (the
        // error message is kept if one was set before).
        let completed =
            rules::find_execution(tx, &transfer.org_id, execution.id.as_str()).await?.ok_or_else(
                || AppError::internal(format!("execution {} vanished", execution.id)),
            )?;
        crate::events::execution_if_completed(tx, org, &completed, now).await?;
    }
    Ok(())
}

/// A schedule whose start is at stored precision (milliseconds). Rules written by earlier
/// releases may hold a finer start; computing occurrences from it would give instants that the
/// store truncates back onto the occurrence just claimed.
pub fn schedule_at_stored_precision(schedule: Schedule) -> Schedule {
    Schedule { start: at_stored_precision(schedule.start), ..schedule }
}

/// The occurrence after `due`, at stored precision, checked to be strictly later than `due`.
pub fn next_occurrence_strictly_after(
    schedule: &Schedule,
    due: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, AppError> {
    let schedule = schedule_at_stored_precision(*schedule);
    let next = next_occurrence_after(&schedule, due).map(at_stored_precision);
    match next {
        Some(next) if next <= due => Err(AppError::internal(format!(
            "the schedule {schedule:?} does not move past {due} (next {next})"
        ))),
        next => Ok(next),
    }
}

/// Runs every scheduled rule occurrence of `org` due at or before `now`, oldest first, in the
/// caller's transaction. Returns how many executions ran.
///
/// Each occurrence runs at its own time (its execution and transfers are dated then, and its
/// `DATE` conditions and caps see that day), after the settlements due by then, so a clock
/// advance past several events replays them in order. The transfers those settlements complete
/// are added to `settled`, so the caller's count of completed transfers stays whole.
pub async fn run_due_schedules(
    tx: &mut Tx,
    org: &Organization,
    now: DateTime<Utc>,
    settled: &mut u32,
) -> Result<u32, AppError> {
    let mut executed = 0;
    for _ in 0..OCCURRENCES_PER_CALL_MAX {
        let Some(record) = rules::next_due(tx, &org.id, now).await? else { break };
        let (Some(due), Some(schedule)) = (record.next_run_at, record.rule.trigger.schedule) else {
            return Err(AppError::internal(format!(
                "rule {} is due without a schedule",
                record.rule.id
            )));
        };
        // Settlements before rule runs due at the same instant.
        *settled += ledger::process_due(tx, org, due).await?;
        let next = next_occurrence_strictly_after(&schedule, due)?;
        if !rules::claim_occurrence(tx, &org.id, &record.rule.id, due, next).await? {
            // Another replica ran this occurrence (or the rule changed); look again.
            continue;
        }
        let run = Run {
            rule: &record,
            trigger: ExecutionTrigger::Scheduled,
            trigger_amount: None,
            scheduled_time: Some(due),
            simulation: false,
        };
        run_rule(tx, org, run, due).await?;
        executed += 1;
    }
    Ok(executed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use sequence_core::rules::ScheduleKind;

    #[test]
    fn a_sub_millisecond_start_still_moves_each_claim_forward() {
        // Regression: a start of …:18.000500 stored next_run_at …:18.000; the occurrence after
        // that was …:18.000500 again, stored as …:18.000, so the claim never moved forward and
        // the clock advance looped for as long as runs happened.
        let start = Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 18).unwrap()
            + chrono::TimeDelta::microseconds(500);
        for kind in ScheduleKind::ALL {
            let schedule = Schedule { kind: *kind, start };
            let mut due = at_stored_precision(start);
            for _ in 0..5 {
                match next_occurrence_strictly_after(&schedule, due).expect("progress") {
                    Some(next) => {
                        assert!(next > due, "{kind:?}: {next} after {due}");
                        assert_eq!(next, at_stored_precision(next));
                        due = next;
                    }
                    None => break,
                }
            }
        }
    }
}
