//! When an accepted transfer is submitted and when it settles.
//!
//! The schedule depends only on the direction and the moment the transfer entered `processing`
//! (its creation, or its approval), on the organization clock:
//!
//! | direction   | `pending` at         | `complete` at            |
//! |-------------|----------------------|--------------------------|
//! | `internal`  | accepted (at once)   | accepted + 30 seconds    |
//! | `money_in`  | accepted + 1 minute  | accepted + 1 business day  |
//! | `money_out` | accepted + 1 minute  | accepted + 3 business days |
//!
//! Moves inside Sequence settle within a minute, as `createTransfer` documents; a pull from
//! another bank (ACH debit) takes a business day and a payment out (ACH credit to a card or
//! account) up to three. Three business days span at most five calendar days (Thursday or
//! Friday + 3), which is what lets the sandbox promise that after advancing five days no
//! accepted transfer is still `processing` or `pending` ([`SETTLEMENT_CALENDAR_DAYS_MAX`]).
//! Transfers waiting in `pending_approval` have no schedule until approved; deposits and
//! simulations never have one.

use chrono::{DateTime, TimeDelta, Utc};

use super::{TransferDirection, TransferEvent, TransferStatus};
use crate::clock::add_business_days;

/// Seconds after acceptance an internal transfer completes.
pub const INTERNAL_COMPLETE_AFTER_SECONDS: i64 = 30;
/// Seconds after acceptance a transfer to or from an external account is submitted.
pub const EXTERNAL_PENDING_AFTER_SECONDS: i64 = 60;
/// Business days after acceptance a `money_in` pull completes.
pub const MONEY_IN_COMPLETE_AFTER_BUSINESS_DAYS: u32 = 1;
/// Business days after acceptance a `money_out` payment completes.
pub const MONEY_OUT_COMPLETE_AFTER_BUSINESS_DAYS: u32 = 3;
/// No accepted transfer stays in flight longer than this many calendar days.
pub const SETTLEMENT_CALENDAR_DAYS_MAX: i64 = 5;

/// When a transfer moves to `pending` and to `complete`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettlementPlan {
    /// When `processing` → `pending` ([`TransferEvent::Submit`]) is due.
    pub pending_at: DateTime<Utc>,
    /// When `pending` → `complete` ([`TransferEvent::Settle`]) is due.
    pub complete_at: DateTime<Utc>,
}

/// The next scheduled step of a transfer: which event is due, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettlementStep {
    /// When the event is due (on the organization clock).
    pub at: DateTime<Utc>,
    /// [`TransferEvent::Submit`] or [`TransferEvent::Settle`].
    pub event: TransferEvent,
}

/// The schedule of a transfer in `direction` that entered `processing` at `accepted_at`.
pub fn settlement_plan(direction: TransferDirection, accepted_at: DateTime<Utc>) -> SettlementPlan {
    let after = |seconds: i64| {
        accepted_at
            .checked_add_signed(TimeDelta::seconds(seconds))
            .expect("settlement schedule beyond chrono's range")
    };
    let plan = match direction {
        TransferDirection::Internal => SettlementPlan {
            pending_at: accepted_at,
            complete_at: after(INTERNAL_COMPLETE_AFTER_SECONDS),
        },
        TransferDirection::MoneyIn => SettlementPlan {
            pending_at: after(EXTERNAL_PENDING_AFTER_SECONDS),
            complete_at: add_business_days(accepted_at, MONEY_IN_COMPLETE_AFTER_BUSINESS_DAYS),
        },
        TransferDirection::MoneyOut => SettlementPlan {
            pending_at: after(EXTERNAL_PENDING_AFTER_SECONDS),
            complete_at: add_business_days(accepted_at, MONEY_OUT_COMPLETE_AFTER_BUSINESS_DAYS),
        },
    };
    assert!(accepted_at <= plan.pending_at && plan.pending_at < plan.complete_at);
    assert!(plan.complete_at - accepted_at <= TimeDelta::days(SETTLEMENT_CALENDAR_DAYS_MAX));
    plan
}

impl SettlementPlan {
    /// The next scheduled step for a transfer in `status`: `Submit` at `pending_at` while
    /// `processing`, `Settle` at `complete_at` while `pending`, nothing otherwise. The worker
    /// applies every step with `at <= now` in chronological order, repeating until none is due
    /// (a transfer past both instants takes two steps).
    pub fn next_step(&self, status: TransferStatus) -> Option<SettlementStep> {
        match status {
            TransferStatus::Processing => {
                Some(SettlementStep { at: self.pending_at, event: TransferEvent::Submit })
            }
            TransferStatus::Pending => {
                Some(SettlementStep { at: self.complete_at, event: TransferEvent::Settle })
            }
            TransferStatus::PendingApproval
            | TransferStatus::Complete
            | TransferStatus::Error
            | TransferStatus::Cancelled => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::transition;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
        // April 2024: the 22nd is a Monday, the 26th a Friday.
        Utc.with_ymd_and_hms(2024, 4, day, hour, minute, second).unwrap()
    }

    #[test]
    fn schedules_by_direction() {
        use TransferDirection::{Internal, MoneyIn, MoneyOut};
        // (direction, accepted_at, pending_at, complete_at)
        type Row = (TransferDirection, DateTime<Utc>, DateTime<Utc>, DateTime<Utc>);
        let table: &[Row] = &[
            (Internal, at(23, 9, 0, 0), at(23, 9, 0, 0), at(23, 9, 0, 30)),
            (Internal, at(27, 23, 59, 45), at(27, 23, 59, 45), at(28, 0, 0, 15)),
            (MoneyIn, at(23, 9, 0, 0), at(23, 9, 1, 0), at(24, 9, 0, 0)),
            (MoneyIn, at(26, 9, 0, 0), at(26, 9, 1, 0), at(29, 9, 0, 0)), // Fri → Mon
            (MoneyOut, at(22, 9, 0, 0), at(22, 9, 1, 0), at(25, 9, 0, 0)), // Mon → Thu
            (
                MoneyOut,
                at(26, 9, 0, 0),
                at(26, 9, 1, 0),
                Utc.with_ymd_and_hms(2024, 5, 1, 9, 0, 0).unwrap(),
            ), // Fri → Wed
            (
                MoneyOut,
                at(27, 9, 0, 0),
                at(27, 9, 1, 0),
                Utc.with_ymd_and_hms(2024, 5, 1, 9, 0, 0).unwrap(),
            ), // Sat → Wed
        ];
        for (direction, accepted_at, pending_at, complete_at) in table {
            assert_eq!(
                settlement_plan(*direction, *accepted_at),
                SettlementPlan { pending_at: *pending_at, complete_at: *complete_at },
                "{direction} accepted {accepted_at}"
            );
        }
    }

    #[test]
    fn nothing_stays_in_flight_beyond_five_days() {
        // Goal: the sandbox's promise. Method: accept at every hour of a whole week, in every
        // direction, and check the completion bound (settlement_plan also asserts it).
        for hour in 0..(7 * 24) {
            let accepted_at = at(22, 0, 0, 0) + TimeDelta::hours(hour);
            for direction in TransferDirection::ALL {
                let plan = settlement_plan(*direction, accepted_at);
                assert!(plan.complete_at - accepted_at <= TimeDelta::days(5));
            }
        }
    }

    #[test]
    fn next_step_walks_an_accepted_transfer_to_complete() {
        let plan = settlement_plan(TransferDirection::MoneyOut, at(23, 9, 0, 0));
        let mut status = TransferStatus::Processing;
        let mut instants = Vec::new();
        while let Some(step) = plan.next_step(status) {
            assert!(instants.len() < 2, "at most two scheduled steps");
            instants.push(step.at);
            status = transition(status, step.event).expect("scheduled steps are valid");
        }
        assert_eq!(status, TransferStatus::Complete);
        assert_eq!(instants, [plan.pending_at, plan.complete_at]);
        for status in [
            TransferStatus::PendingApproval,
            TransferStatus::Complete,
            TransferStatus::Error,
            TransferStatus::Cancelled,
        ] {
            assert_eq!(plan.next_step(status), None, "{status}");
        }
    }
}
