//! Accepting a validated transfer: its initial status, and whether it reserves funds.
//!
//! The store runs this inside the transaction that inserts the transfer, after locking the
//! source account and computing its available balance there, so two concurrent transfers can
//! never both spend the same money.

use super::limits::TRANSFER_AMOUNT_MAX;
use super::{ExecutionMode, TransferErrorCode, TransferStatus};
use crate::money::{Cents, TRANSFER_MINIMUM};

/// The facts [`plan_acceptance`] decides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcceptanceRequest {
    /// The transfer amount, already validated (`TRANSFER_MINIMUM..=TRANSFER_AMOUNT_MAX`).
    pub amount: Cents,
    /// The source's available balance, for internal sources; `None` when the source is an
    /// external account (a pull), whose funds Sequence cannot see: no funds check is made and
    /// nothing is reserved (a pull that bounces would fail later with `payment_failed`).
    pub source_available: Option<Cents>,
    /// Live or simulated.
    pub mode: ExecutionMode,
    /// The organization's approval threshold (`None`: approval is never needed). The caller
    /// passes `None` for transfers that never need approval.
    pub approval_threshold: Option<Cents>,
}

/// What [`plan_acceptance`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acceptance {
    /// `processing`, `pending_approval` or `error`.
    pub status: TransferStatus,
    /// `Some(InsufficientFunds)` exactly when `status` is `error`.
    pub error_code: Option<TransferErrorCode>,
    /// Whether the transfer counts against its source's available balance from now on. Always
    /// equal to [`holds_reservation`] of the outcome; spelled out so the store need not re-derive
    /// it (for example, to update a cached available balance in the same transaction).
    pub reserves_funds: bool,
}

/// Decides the initial status of a validated transfer, in this order:
///
/// 1. an internal source whose available balance is below the amount → `error` with
///    `insufficient_funds` (the transfer is still recorded, and the API answers `201`);
/// 2. an approval threshold at or below the amount → `pending_approval`;
/// 3. otherwise → `processing`.
///
/// Funds are checked before the threshold, so a short balance is reported at once rather than
/// after a person approves. A simulation gets exactly the status a live transfer would get, but
/// never reserves.
///
/// # Panics
/// If the amount was not validated, a balance is negative or the threshold is not positive.
pub fn plan_acceptance(request: &AcceptanceRequest) -> Acceptance {
    let AcceptanceRequest { amount, source_available, mode, approval_threshold } = *request;
    assert!(amount >= TRANSFER_MINIMUM && amount <= TRANSFER_AMOUNT_MAX, "unvalidated {amount}");
    assert!(source_available.is_none_or(|available| available >= Cents::ZERO));
    assert!(approval_threshold.is_none_or(Cents::is_positive));

    let short = source_available.is_some_and(|available| available < amount);
    let needs_approval = approval_threshold.is_some_and(|threshold| amount >= threshold);
    let (status, error_code) = if short {
        (TransferStatus::Error, Some(TransferErrorCode::InsufficientFunds))
    } else if needs_approval {
        (TransferStatus::PendingApproval, None)
    } else {
        (TransferStatus::Processing, None)
    };
    let reserves_funds = holds_reservation(status, mode, source_available.is_some());

    assert_eq!(status == TransferStatus::Error, error_code.is_some());
    assert!(!reserves_funds || mode == ExecutionMode::Live);
    Acceptance { status, error_code, reserves_funds }
}

/// Whether a transfer currently reserves its amount on its source: it is live, its source holds
/// money at Sequence, and it is still in flight. The store sums the amounts of exactly these
/// transfers to get an account's reserved funds.
pub fn holds_reservation(
    status: TransferStatus,
    mode: ExecutionMode,
    source_is_internal: bool,
) -> bool {
    status.is_in_flight() && mode == ExecutionMode::Live && source_is_internal
}

/// An internal account's balances, derived from the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InternalBalance {
    /// The sum of the account's postings (`balance_in_cents`).
    pub balance: Cents,
    /// `balance` minus reserved funds (`available_balance_in_cents`).
    pub available: Cents,
}

impl InternalBalance {
    /// Combines the ledger balance with the sum of the account's reservations.
    ///
    /// # Panics
    /// Unless `0 <= reserved <= balance`. Reservations are only taken against available funds
    /// and released in the same transaction that posts the transfer, so anything else means the
    /// stored ledger is corrupt; pair this with database `CHECK`s.
    pub fn from_ledger(balance: Cents, reserved: Cents) -> InternalBalance {
        assert!(reserved >= Cents::ZERO, "negative reservations: {reserved}");
        assert!(reserved <= balance, "reservations {reserved} exceed the balance {balance}");
        let available = balance.checked_sub(reserved).expect("0 <= reserved <= balance");
        assert!(available >= Cents::ZERO && available <= balance);
        InternalBalance { balance, available }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_status_checks_funds_before_the_threshold() {
        // Goal: the documented order (funds, threshold, otherwise processing) and that a
        // simulation mirrors a live transfer without reserving. Method: every row is run both
        // live and simulated.
        use TransferStatus::{Error, PendingApproval, Processing};
        let insufficient = Some(TransferErrorCode::InsufficientFunds);
        let cents = |n: i64| Some(Cents::new(n));
        // (amount, available, threshold) → (status, error_code, reserves when live)
        type Row =
            (i64, Option<Cents>, Option<Cents>, TransferStatus, Option<TransferErrorCode>, bool);
        let table: &[Row] = &[
            (100, cents(100), None, Processing, None, true),
            (100, cents(99), None, Error, insufficient, false),
            (5_000, cents(0), None, Error, insufficient, false),
            // At the threshold waits for approval; one cent below does not.
            (10_000, cents(50_000), cents(10_000), PendingApproval, None, true),
            (9_999, cents(50_000), cents(10_000), Processing, None, true),
            // Short funds win over the threshold.
            (10_000, cents(9_999), cents(10_000), Error, insufficient, false),
            // External sources (pulls): no funds check, no reservation, threshold still applies.
            (10_000, None, None, Processing, None, false),
            (10_000, None, cents(500), PendingApproval, None, false),
        ];
        for &(amount, source_available, approval_threshold, status, error_code, reserves) in table {
            for mode in ExecutionMode::ALL {
                let request = AcceptanceRequest {
                    amount: Cents::new(amount),
                    source_available,
                    mode: *mode,
                    approval_threshold,
                };
                let expected = Acceptance {
                    status,
                    error_code,
                    reserves_funds: reserves && *mode == ExecutionMode::Live,
                };
                assert_eq!(plan_acceptance(&request), expected, "{request:?}");
            }
        }
    }

    #[test]
    fn acceptance_refuses_unvalidated_amounts() {
        for amount in [0, 99, TRANSFER_AMOUNT_MAX.get() + 1] {
            let request = AcceptanceRequest {
                amount: Cents::new(amount),
                source_available: Some(Cents::new(i64::MAX)),
                mode: ExecutionMode::Live,
                approval_threshold: None,
            };
            assert!(std::panic::catch_unwind(|| plan_acceptance(&request)).is_err(), "{amount}");
        }
    }

    #[test]
    fn reservations_are_live_in_flight_transfers_from_internal_accounts() {
        for status in TransferStatus::ALL {
            for mode in ExecutionMode::ALL {
                for internal in [false, true] {
                    let expected =
                        status.is_in_flight() && *mode == ExecutionMode::Live && internal;
                    assert_eq!(holds_reservation(*status, *mode, internal), expected);
                }
            }
        }
    }

    #[test]
    fn internal_balance_subtracts_reservations() {
        let balance = InternalBalance::from_ledger(Cents::new(10_000), Cents::new(2_500));
        assert_eq!(
            balance,
            InternalBalance { balance: Cents::new(10_000), available: Cents::new(7_500) }
        );
        assert_eq!(InternalBalance::from_ledger(Cents::ZERO, Cents::ZERO).available, Cents::ZERO);
        for (balance, reserved) in [(100, 101), (100, -1), (-1, 0)] {
            let outcome = std::panic::catch_unwind(|| {
                InternalBalance::from_ledger(Cents::new(balance), Cents::new(reserved))
            });
            assert!(outcome.is_err(), "{balance} {reserved}");
        }
    }
}
