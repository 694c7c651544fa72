//! The transfer's vocabulary (status, direction, origin, error code, execution mode) and its
//! lifecycle as a transition table.

use std::fmt;

use super::{Endpoint, LedgerError};

wire_enum! {
    /// Where a transfer is in its lifecycle. See [`transition`] for the allowed moves.
    pub enum TransferStatus ("transfer status") {
        /// Waiting for a person to approve it; its funds are reserved.
        PendingApproval => "pending_approval",
        /// Accepted, not yet submitted to the payment network; funds reserved.
        Processing => "processing",
        /// Submitted, waiting to settle; funds reserved.
        Pending => "pending",
        /// Settled; its postings are in the ledger. Final.
        Complete => "complete",
        /// Failed; see its error code. Final; nothing moved.
        Error => "error",
        /// Declined or cancelled. Final; nothing moved.
        Cancelled => "cancelled",
    }
}

impl TransferStatus {
    /// Whether the transfer may still move money (`pending_approval`, `processing`, `pending`).
    /// A live in-flight transfer from an internal account reserves its amount.
    pub const fn is_in_flight(self) -> bool {
        matches!(
            self,
            TransferStatus::PendingApproval | TransferStatus::Processing | TransferStatus::Pending
        )
    }

    /// Whether the status is final (`complete`, `error`, `cancelled`). Exactly the statuses that
    /// are not in flight.
    pub const fn is_terminal(self) -> bool {
        !self.is_in_flight()
    }
}

wire_enum! {
    /// Which way money crosses Sequence's boundary, derived from the transfer's two sides
    /// ([`TransferDirection::between`]).
    pub enum TransferDirection ("transfer direction") {
        /// Into an income source or pod from outside (deposits, pulls from external accounts).
        MoneyIn => "money_in",
        /// From an income source or pod to an external account.
        MoneyOut => "money_out",
        /// Between income sources and pods.
        Internal => "internal",
    }
}

impl TransferDirection {
    /// The direction of a transfer from `source` to `destination`, or
    /// [`LedgerError::NoInternalSide`] when neither side holds money at Sequence (external →
    /// external, which validation rejects before this is ever asked).
    pub fn between(source: &Endpoint, destination: &Endpoint) -> Result<Self, LedgerError> {
        match (source.is_internal(), destination.is_internal()) {
            (true, true) => Ok(TransferDirection::Internal),
            (false, true) => Ok(TransferDirection::MoneyIn),
            (true, false) => Ok(TransferDirection::MoneyOut),
            (false, false) => Err(LedgerError::NoInternalSide),
        }
    }
}

wire_enum! {
    /// What created a transfer.
    pub enum TransferOrigin ("transfer origin") {
        /// A paycheck deposit (Platform v1's `DIRECT_DEPOSIT`).
        Paycheck => "paycheck",
        /// A check deposit.
        CheckDeposit => "check_deposit",
        /// Cashback.
        Cashback => "cashback",
        /// A manual transfer pulling money in from an external account.
        UserPull => "user_pull",
        /// A rule action.
        Rule => "rule",
        /// Any other manual transfer.
        User => "user",
        /// Money pulled out by an outside party (not produced by this server).
        ExternalPull => "external_pull",
    }
}

impl TransferOrigin {
    /// Whether this origin is a deposit from outside (`paycheck`, `check_deposit`, `cashback`):
    /// such transfers are booked complete at once against the outside world.
    pub const fn is_deposit(self) -> bool {
        matches!(
            self,
            TransferOrigin::Paycheck | TransferOrigin::CheckDeposit | TransferOrigin::Cashback
        )
    }

    /// The origin of a manual transfer (`createTransfer`) in `direction`: a pull from an external
    /// account is `user_pull`, anything else `user`.
    pub const fn of_manual_transfer(direction: TransferDirection) -> TransferOrigin {
        match direction {
            TransferDirection::MoneyIn => TransferOrigin::UserPull,
            TransferDirection::MoneyOut | TransferDirection::Internal => TransferOrigin::User,
        }
    }
}

wire_enum! {
    /// Why a transfer is in `error`.
    pub enum TransferErrorCode ("transfer error code") {
        /// The source's available balance was short at acceptance.
        InsufficientFunds => "insufficient_funds",
        /// The amount was below $1.00 (kept for compatibility; rules skip such transfers).
        TransferAmountLessThanOneDollar => "transfer_amount_less_than_one_dollar",
        /// The source or destination was deleted.
        AccountDeleted => "account_deleted",
        /// A liability action found no minimum payment amount.
        AccountNoMinimumPaymentAmount => "account_no_minimum_payment_amount",
        /// A liability action found no last statement balance.
        AccountNoLastStatementBalance => "account_no_last_statement_balance",
        /// The payment network rejected the transfer.
        PaymentFailed => "payment_failed",
    }
}

wire_enum! {
    /// Whether a transfer really moves money.
    pub enum ExecutionMode ("execution mode") {
        /// A real transfer.
        Live => "live",
        /// A dry run: recorded with the status a live transfer would get at acceptance, then
        /// frozen. Never reserves, settles or posts.
        Simulation => "simulation",
    }
}

/// Something that happens to a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferEvent {
    /// A person approved a `pending_approval` transfer.
    Approve,
    /// A person declined a `pending_approval` transfer.
    Decline,
    /// The transfer was handed to the payment network (`processing` → `pending`).
    Submit,
    /// The payment network settled it (`pending` → `complete`): post it to the ledger.
    Settle,
    /// It failed for the given reason.
    Fail(TransferErrorCode),
    /// It was withdrawn before it reached the payment network.
    Cancel,
}

impl TransferEvent {
    /// The event's name, for logs and messages (without the error code of `Fail`).
    pub const fn name(self) -> &'static str {
        match self {
            TransferEvent::Approve => "approve",
            TransferEvent::Decline => "decline",
            TransferEvent::Submit => "submit",
            TransferEvent::Settle => "settle",
            TransferEvent::Fail(_) => "fail",
            TransferEvent::Cancel => "cancel",
        }
    }
}

impl fmt::Display for TransferEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferEvent::Fail(code) => write!(f, "fail ({code})"),
            other => f.write_str(other.name()),
        }
    }
}

/// An event that the transfer's current status does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a {from} transfer cannot {event}")]
pub struct InvalidTransition {
    /// The status the transfer is in.
    pub from: TransferStatus,
    /// The event that was refused.
    pub event: TransferEvent,
}

/// The status after `event` happens to a transfer in status `from`.
///
/// | from \ event       | approve    | decline   | submit  | settle   | fail  | cancel    |
/// |--------------------|------------|-----------|---------|----------|-------|-----------|
/// | `pending_approval` | processing | cancelled | —       | —        | error | cancelled |
/// | `processing`       | —          | —         | pending | —        | error | cancelled |
/// | `pending`          | —          | —         | —       | complete | error | —         |
/// | final statuses     | —          | —         | —       | —        | —     | —         |
///
/// A `pending` transfer is with the payment network and can no longer be cancelled, only fail.
/// Approval does not re-check funds: they were reserved at acceptance. The caller records the
/// `Fail` event's code as the transfer's `error_code`.
pub fn transition(
    from: TransferStatus,
    event: TransferEvent,
) -> Result<TransferStatus, InvalidTransition> {
    use TransferEvent as Event;
    use TransferStatus as Status;
    let to = match (from, event) {
        (Status::PendingApproval, Event::Approve) => Status::Processing,
        (Status::PendingApproval, Event::Decline | Event::Cancel) => Status::Cancelled,
        (Status::Processing, Event::Submit) => Status::Pending,
        (Status::Processing, Event::Cancel) => Status::Cancelled,
        (Status::Pending, Event::Settle) => Status::Complete,
        (Status::PendingApproval | Status::Processing | Status::Pending, Event::Fail(_)) => {
            Status::Error
        }
        _ => return Err(InvalidTransition { from, event }),
    };
    assert!(from.is_in_flight(), "only in-flight transfers change status");
    assert_ne!(from, to);
    assert!(to != Status::Complete || event == Event::Settle, "only settling completes");
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::AccountId;
    use crate::ledger::{AccountKind, ExternalAccountType, ParseError};

    #[test]
    fn transition_table_is_exhaustive() {
        // Goal: every (status, event) pair has exactly the outcome of the documented table.
        // Method: the table below lists every pair; the loop checks coverage and outcomes.
        use TransferEvent as E;
        use TransferStatus as S;
        let fail = E::Fail(TransferErrorCode::PaymentFailed);
        let events = [E::Approve, E::Decline, E::Submit, E::Settle, fail, E::Cancel];
        let table: &[(S, [Option<S>; 6])] = &[
            //                     approve         decline          submit          settle           fail            cancel
            (
                S::PendingApproval,
                [
                    Some(S::Processing),
                    Some(S::Cancelled),
                    None,
                    None,
                    Some(S::Error),
                    Some(S::Cancelled),
                ],
            ),
            (
                S::Processing,
                [None, None, Some(S::Pending), None, Some(S::Error), Some(S::Cancelled)],
            ),
            (S::Pending, [None, None, None, Some(S::Complete), Some(S::Error), None]),
            (S::Complete, [None; 6]),
            (S::Error, [None; 6]),
            (S::Cancelled, [None; 6]),
        ];
        let listed: Vec<S> = table.iter().map(|(status, _)| *status).collect();
        assert_eq!(listed, S::ALL, "one row per status, in order");
        for (from, outcomes) in table {
            for (event, expected) in events.iter().zip(outcomes) {
                let actual = transition(*from, *event);
                match expected {
                    Some(to) => assert_eq!(actual, Ok(*to), "{from} + {event}"),
                    None => assert_eq!(
                        actual,
                        Err(InvalidTransition { from: *from, event: *event }),
                        "{from} + {event}"
                    ),
                }
            }
        }
        // Every error code fails an in-flight transfer the same way.
        for code in TransferErrorCode::ALL {
            assert_eq!(transition(S::Pending, E::Fail(*code)), Ok(S::Error));
        }
        assert_eq!(
            transition(S::Pending, E::Cancel).unwrap_err().to_string(),
            "a pending transfer cannot cancel"
        );
        assert_eq!(
            transition(S::Complete, E::Fail(TransferErrorCode::PaymentFailed))
                .unwrap_err()
                .to_string(),
            "a complete transfer cannot fail (payment_failed)"
        );
    }

    #[test]
    fn in_flight_and_terminal_partition_the_statuses() {
        let in_flight: Vec<_> =
            TransferStatus::ALL.iter().filter(|status| status.is_in_flight()).collect();
        assert_eq!(
            in_flight,
            [
                &TransferStatus::PendingApproval,
                &TransferStatus::Processing,
                &TransferStatus::Pending
            ]
        );
        for status in TransferStatus::ALL {
            assert_ne!(status.is_in_flight(), status.is_terminal(), "{status}");
        }
    }

    #[test]
    fn wire_strings_round_trip() {
        // Goal: as_str, FromStr, Display and serde agree for every enum, and match the API.
        fn check<T>(values: &[T], expected: &[&str])
        where
            T: Copy + fmt::Debug + PartialEq + fmt::Display + std::str::FromStr<Err = ParseError>,
            T: serde::Serialize + serde::de::DeserializeOwned,
        {
            let spelled: Vec<String> = values.iter().map(ToString::to_string).collect();
            assert_eq!(spelled, expected);
            for value in values {
                let text = value.to_string();
                assert_eq!(text.parse::<T>(), Ok(*value));
                let json = serde_json::to_string(value).unwrap();
                assert_eq!(json, format!("\"{text}\""));
                assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *value);
            }
        }
        check(
            TransferStatus::ALL,
            &["pending_approval", "processing", "pending", "complete", "error", "cancelled"],
        );
        check(TransferDirection::ALL, &["money_in", "money_out", "internal"]);
        check(
            TransferOrigin::ALL,
            &[
                "paycheck",
                "check_deposit",
                "cashback",
                "user_pull",
                "rule",
                "user",
                "external_pull",
            ],
        );
        check(
            TransferErrorCode::ALL,
            &[
                "insufficient_funds",
                "transfer_amount_less_than_one_dollar",
                "account_deleted",
                "account_no_minimum_payment_amount",
                "account_no_last_statement_balance",
                "payment_failed",
            ],
        );
        check(ExecutionMode::ALL, &["live", "simulation"]);
        check(ExternalAccountType::ALL, &["DEPOSITORY", "INVESTMENT", "LIABILITY"]);
        assert_eq!(
            "Complete".parse::<TransferStatus>(),
            Err(ParseError::Unknown { what: "transfer status", given: "Complete".into() })
        );
        assert!(serde_json::from_str::<TransferStatus>("\"done\"").is_err());
    }

    #[test]
    fn direction_follows_the_two_sides() {
        let account = |raw: &str, kind| Endpoint::Account { id: AccountId::from_raw(raw), kind };
        let income = account("acc_in", AccountKind::IncomeSource);
        let pod = account("acc_pod", AccountKind::Pod);
        let bank = account("acc_bank", AccountKind::External(ExternalAccountType::Depository));
        let card = account("acc_card", AccountKind::External(ExternalAccountType::Liability));
        let outside = Endpoint::OutsideWorld;
        let table: &[(&Endpoint, &Endpoint, Result<TransferDirection, LedgerError>)] = &[
            (&income, &pod, Ok(TransferDirection::Internal)),
            (&pod, &income, Ok(TransferDirection::Internal)),
            (&pod, &card, Ok(TransferDirection::MoneyOut)),
            (&income, &bank, Ok(TransferDirection::MoneyOut)),
            (&bank, &pod, Ok(TransferDirection::MoneyIn)),
            (&outside, &income, Ok(TransferDirection::MoneyIn)),
            (&pod, &outside, Ok(TransferDirection::MoneyOut)),
            (&bank, &card, Err(LedgerError::NoInternalSide)),
            (&outside, &bank, Err(LedgerError::NoInternalSide)),
        ];
        for (source, destination, expected) in table {
            assert_eq!(&TransferDirection::between(source, destination), expected);
        }
        assert_eq!(
            TransferOrigin::of_manual_transfer(TransferDirection::MoneyIn),
            TransferOrigin::UserPull
        );
        assert_eq!(
            TransferOrigin::of_manual_transfer(TransferDirection::MoneyOut),
            TransferOrigin::User
        );
        assert_eq!(
            TransferOrigin::of_manual_transfer(TransferDirection::Internal),
            TransferOrigin::User
        );
        let deposits: Vec<_> = TransferOrigin::ALL.iter().filter(|o| o.is_deposit()).collect();
        assert_eq!(
            deposits,
            [&TransferOrigin::Paycheck, &TransferOrigin::CheckDeposit, &TransferOrigin::Cashback]
        );
    }
}
