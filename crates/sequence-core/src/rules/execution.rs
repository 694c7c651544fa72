//! A rule execution's bookkeeping, decided purely: which bucket a rule transfer counts in, what
//! status an execution's counters add up to, which cap periods a moment falls in, and which
//! accounts a rule touches (and so must be read, and locked, before it runs).
//!
//! The application layer gathers the inputs in a transaction and stores the answers; nothing here
//! does IO.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, Utc};

use super::model::{ConditionGroup, ExecutionStatus, Rule, TransferOutcome};
use crate::ids::AccountId;
use crate::ledger::TransferStatus;

/// An execution's transfer counters (`attempted = completed + failed + pending`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransferCounters {
    /// Transfers the run created.
    pub attempted: u32,
    /// Of which complete.
    pub completed: u32,
    /// Of which in `error` or `cancelled`.
    pub failed: u32,
    /// Of which still in flight.
    pub pending: u32,
    /// Actions that made no transfer (below $1.00, cap reached, nothing to move).
    pub skipped: u32,
}

/// The starts of the cap periods containing a moment (organization clock, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapPeriodStarts {
    /// Monday 00:00 of the current week.
    pub week: DateTime<Utc>,
    /// The 1st 00:00 of the current month.
    pub month: DateTime<Utc>,
    /// 1 January 00:00 of the current year.
    pub year: DateTime<Utc>,
}

/// The status an execution's counters add up to: `in_progress` while any transfer is in flight;
/// then `executed` when none failed (and no error stopped the run), `failed` when none completed,
/// `partial` otherwise.
pub fn execution_status(counters: &TransferCounters, stopped_by_error: bool) -> ExecutionStatus {
    if counters.pending > 0 {
        ExecutionStatus::InProgress
    } else if counters.failed == 0 && !stopped_by_error {
        ExecutionStatus::Executed
    } else if counters.completed == 0 {
        ExecutionStatus::Failed
    } else {
        ExecutionStatus::Partial
    }
}

/// The bucket a rule transfer of this status counts in. In a simulation nothing settles, so what
/// a live run would have sent counts as completed at once.
pub fn outcome_of(status: TransferStatus, simulation: bool) -> TransferOutcome {
    match status {
        TransferStatus::Complete => TransferOutcome::Completed,
        TransferStatus::Error | TransferStatus::Cancelled => TransferOutcome::Failed,
        TransferStatus::PendingApproval | TransferStatus::Processing | TransferStatus::Pending
            if simulation =>
        {
            TransferOutcome::Completed
        }
        TransferStatus::PendingApproval | TransferStatus::Processing | TransferStatus::Pending => {
            TransferOutcome::Pending
        }
    }
}

/// Whether a live transfer of this status uses up a rule's periodic cap: everything that may
/// still move money or already did (in flight or complete), not what failed or was cancelled.
pub const fn counts_toward_caps(status: TransferStatus) -> bool {
    match status {
        TransferStatus::PendingApproval
        | TransferStatus::Processing
        | TransferStatus::Pending
        | TransferStatus::Complete => true,
        TransferStatus::Error | TransferStatus::Cancelled => false,
    }
}

/// Midnight (UTC) starting the week (Monday), month and year that contain `now`.
pub fn cap_period_starts(now: DateTime<Utc>) -> CapPeriodStarts {
    let today = now.date_naive();
    let midnight = |date: NaiveDate| date.and_time(NaiveTime::MIN).and_utc();
    let monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()));
    let first_of_month = today.with_day(1).expect("every month has a 1st");
    let first_of_year =
        NaiveDate::from_ymd_opt(today.year(), 1, 1).expect("every year has a 1 January");
    CapPeriodStarts {
        week: midnight(monday),
        month: midnight(first_of_month),
        year: midnight(first_of_year),
    }
}

/// Every account a rule names: its trigger account, its conditions' accounts, its actions' sources
/// and destinations.
pub fn referenced_accounts(rule: &Rule) -> BTreeSet<AccountId> {
    fn walk(group: &ConditionGroup, into: &mut BTreeSet<AccountId>) {
        match group {
            ConditionGroup::Condition(condition) => {
                into.extend(condition.account_id.iter().cloned());
                into.extend(condition.value_account_id.iter().cloned());
            }
            ConditionGroup::Any(items) | ConditionGroup::All(items) => {
                items.iter().for_each(|item| walk(item, into))
            }
        }
    }
    let mut ids: BTreeSet<AccountId> = rule.trigger.account_id.iter().cloned().collect();
    for step in &rule.steps {
        if let Some(group) = &step.conditions {
            walk(group, &mut ids);
        }
        for action in &step.actions {
            ids.insert(action.source.clone());
            ids.insert(action.destination.clone());
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn counters(completed: u32, failed: u32, pending: u32) -> TransferCounters {
        TransferCounters {
            attempted: completed + failed + pending,
            completed,
            failed,
            pending,
            skipped: 0,
        }
    }

    #[test]
    fn execution_status_follows_the_counters() {
        // Goal: the spec's RuleExecutionStatus table, case by case.
        use ExecutionStatus::*;
        let cases = [
            (counters(0, 0, 0), false, Executed), // nothing to do (no match, all skipped)
            (counters(2, 0, 0), false, Executed),
            (counters(1, 0, 1), false, InProgress),
            (counters(0, 1, 1), false, InProgress), // still in flight, whatever failed
            (counters(1, 1, 0), false, Partial),
            (counters(0, 2, 0), false, Failed),
            (counters(0, 0, 0), true, Failed), // an error stopped the run before anything
            (counters(1, 0, 0), true, Partial), // ... after something completed
        ];
        for (counters, stopped, expected) in cases {
            assert_eq!(
                execution_status(&counters, stopped),
                expected,
                "{counters:?} stopped={stopped}"
            );
        }
    }

    #[test]
    fn simulated_transfers_are_final_at_once() {
        assert_eq!(outcome_of(TransferStatus::Processing, true), TransferOutcome::Completed);
        assert_eq!(outcome_of(TransferStatus::PendingApproval, true), TransferOutcome::Completed);
        assert_eq!(outcome_of(TransferStatus::Error, true), TransferOutcome::Failed);
        assert_eq!(outcome_of(TransferStatus::Processing, false), TransferOutcome::Pending);
        assert_eq!(outcome_of(TransferStatus::Cancelled, false), TransferOutcome::Failed);
        assert_eq!(outcome_of(TransferStatus::Complete, false), TransferOutcome::Completed);
    }

    #[test]
    fn what_counts_toward_caps_is_what_did_not_fail() {
        for status in TransferStatus::ALL {
            assert_eq!(
                counts_toward_caps(*status),
                outcome_of(*status, false) != TransferOutcome::Failed,
                "{status}"
            );
        }
    }

    #[test]
    fn cap_periods_start_on_monday_the_first_and_new_year_in_utc() {
        // 2025-01-01 is a Wednesday: its week started in 2024.
        let now = Utc.with_ymd_and_hms(2025, 1, 1, 23, 59, 59).unwrap();
        let starts = cap_period_starts(now);
        assert_eq!(starts.week, Utc.with_ymd_and_hms(2024, 12, 30, 0, 0, 0).unwrap());
        assert_eq!(starts.month, Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap());
        assert_eq!(starts.year, Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap());
        // A Monday is its own week's start.
        let monday = Utc.with_ymd_and_hms(2024, 3, 18, 0, 0, 0).unwrap();
        assert_eq!(cap_period_starts(monday).week, monday);
    }
}
