//! Whether a transfer or deposit may be created at all, checked in a fixed order.
//!
//! When several problems apply, only the first in the documented order is reported, so the same
//! request always gets the same answer (TigerBeetle's result-code precedence). The order matches
//! `createTransfer`'s documented validation order in `openapi.yaml`: the amount (request
//! validation), then existence (deleted accounts count as not found), then what each account
//! may do, then whether the pair makes sense. Existence in the organization and permissions are
//! the caller's, checked before.

use super::limits::TRANSFER_AMOUNT_MAX;
use super::{AccountKind, AccountView, ExternalAccountType, TransferErrorCode};
use crate::ids::AccountId;
use crate::money::{Cents, TRANSFER_MINIMUM};

/// Why a transfer or deposit cannot be created.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransferRejection {
    /// A transfer below [`TRANSFER_MINIMUM`].
    #[error("amount {amount} is below the {minimum} transfer minimum")]
    AmountBelowMinimum {
        /// The amount asked for.
        amount: Cents,
        /// The minimum.
        minimum: Cents,
    },
    /// Above [`TRANSFER_AMOUNT_MAX`].
    #[error("amount {amount} is above the {maximum} transfer maximum")]
    AmountAboveMaximum {
        /// The amount asked for.
        amount: Cents,
        /// The maximum.
        maximum: Cents,
    },
    /// A deposit of zero or less.
    #[error("amount {amount} must be positive")]
    AmountNotPositive {
        /// The amount asked for.
        amount: Cents,
    },
    /// The source account was deleted (`transfer_source_not_found`).
    #[error("source account {account} was deleted")]
    SourceDeleted {
        /// The account.
        account: AccountId,
    },
    /// The destination account was deleted (`transfer_destination_not_found`, or
    /// `account_not_found` for a deposit).
    #[error("destination account {account} was deleted")]
    DestinationDeleted {
        /// The account.
        account: AccountId,
    },
    /// The source's kind cannot send (`account_cannot_be_source`).
    #[error("account {account} is {kind} and cannot be a transfer source")]
    SourceCannotSend {
        /// The account.
        account: AccountId,
        /// Its kind.
        kind: AccountKind,
    },
    /// The destination's kind cannot receive (`account_cannot_be_destination`).
    #[error("account {account} is {kind} and cannot be a transfer destination")]
    DestinationCannotReceive {
        /// The account.
        account: AccountId,
        /// Its kind.
        kind: AccountKind,
    },
    /// Source and destination are the same account (`transfer_not_supported`).
    #[error("source and destination are the same account {account}")]
    SameAccount {
        /// The account.
        account: AccountId,
    },
    /// Both sides are external accounts: Sequence cannot move money between two other banks
    /// (`transfer_not_supported`).
    #[error(
        "transfers between two external accounts ({source_account} to {destination_account}) \
         are not supported"
    )]
    ExternalToExternal {
        /// The source. (Not named `source`: thiserror reserves that name for an error's cause.)
        source_account: AccountId,
        /// The destination.
        destination_account: AccountId,
    },
    /// A deposit into an external account: their balances are reported by their bank, so
    /// deposits go only into income sources and pods (`transfer_not_supported`).
    #[error(
        "account {account} is a {account_type} external account; deposits go only into income \
         sources and pods"
    )]
    DepositIntoExternal {
        /// The account.
        account: AccountId,
        /// Its type.
        account_type: ExternalAccountType,
    },
}

impl TransferRejection {
    /// The `error_code` a rule records when one of its planned transfers is rejected this way
    /// (rules record failed transfers instead of answering 400), if the API has one.
    pub const fn error_code(&self) -> Option<TransferErrorCode> {
        match self {
            TransferRejection::AmountBelowMinimum { .. } => {
                Some(TransferErrorCode::TransferAmountLessThanOneDollar)
            }
            TransferRejection::SourceDeleted { .. }
            | TransferRejection::DestinationDeleted { .. } => {
                Some(TransferErrorCode::AccountDeleted)
            }
            TransferRejection::AmountAboveMaximum { .. }
            | TransferRejection::AmountNotPositive { .. }
            | TransferRejection::SourceCannotSend { .. }
            | TransferRejection::DestinationCannotReceive { .. }
            | TransferRejection::SameAccount { .. }
            | TransferRejection::ExternalToExternal { .. }
            | TransferRejection::DepositIntoExternal { .. } => None,
        }
    }
}

/// Checks a manual (or rule) transfer of `amount` from `source` to `destination`, in this order:
///
/// 1. `amount >= TRANSFER_MINIMUM`, then `amount <= TRANSFER_AMOUNT_MAX`;
/// 2. the source is not deleted, then the destination is not deleted;
/// 3. the source's kind can send, then the destination's kind can receive;
/// 4. the accounts differ;
/// 5. not external → external.
pub fn validate_manual_transfer(
    source: &AccountView,
    destination: &AccountView,
    amount: Cents,
) -> Result<(), TransferRejection> {
    check_amount(amount)?;
    if source.is_deleted {
        return Err(TransferRejection::SourceDeleted { account: source.id.clone() });
    }
    if destination.is_deleted {
        return Err(TransferRejection::DestinationDeleted { account: destination.id.clone() });
    }
    if !source.kind.can_be_source() {
        return Err(TransferRejection::SourceCannotSend {
            account: source.id.clone(),
            kind: source.kind,
        });
    }
    if !destination.kind.can_be_destination() {
        return Err(TransferRejection::DestinationCannotReceive {
            account: destination.id.clone(),
            kind: destination.kind,
        });
    }
    if source.id == destination.id {
        assert_eq!(source.kind, destination.kind, "one account has one kind");
        return Err(TransferRejection::SameAccount { account: source.id.clone() });
    }
    if !source.kind.is_internal() && !destination.kind.is_internal() {
        return Err(TransferRejection::ExternalToExternal {
            source_account: source.id.clone(),
            destination_account: destination.id.clone(),
        });
    }
    // Postconditions: the transfer has an internal side and a direction.
    assert!(source.kind.is_internal() || destination.kind.is_internal());
    assert!(amount >= TRANSFER_MINIMUM && amount <= TRANSFER_AMOUNT_MAX);
    Ok(())
}

fn check_amount(amount: Cents) -> Result<(), TransferRejection> {
    if amount < TRANSFER_MINIMUM {
        return Err(TransferRejection::AmountBelowMinimum { amount, minimum: TRANSFER_MINIMUM });
    }
    if amount > TRANSFER_AMOUNT_MAX {
        return Err(TransferRejection::AmountAboveMaximum { amount, maximum: TRANSFER_AMOUNT_MAX });
    }
    Ok(())
}

/// Checks a deposit of `amount` from outside into `destination`, in this order: `amount > 0`,
/// then `amount <= TRANSFER_AMOUNT_MAX`; the destination is not deleted; it is an income
/// source or pod.
///
/// Deposits have no $1.00 minimum (cashback can be cents) and ignore `can_be_destination`:
/// that flag governs transfers Sequence makes, and an income source exists precisely to receive
/// money from outside.
pub fn validate_deposit(destination: &AccountView, amount: Cents) -> Result<(), TransferRejection> {
    if !amount.is_positive() {
        return Err(TransferRejection::AmountNotPositive { amount });
    }
    if amount > TRANSFER_AMOUNT_MAX {
        return Err(TransferRejection::AmountAboveMaximum { amount, maximum: TRANSFER_AMOUNT_MAX });
    }
    if destination.is_deleted {
        return Err(TransferRejection::DestinationDeleted { account: destination.id.clone() });
    }
    match destination.kind {
        AccountKind::IncomeSource | AccountKind::Pod => Ok(()),
        AccountKind::External(account_type) => Err(TransferRejection::DepositIntoExternal {
            account: destination.id.clone(),
            account_type,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(raw: &str, kind: AccountKind, is_deleted: bool) -> AccountView {
        AccountView { id: AccountId::from_raw(raw), kind, is_deleted }
    }

    #[test]
    fn manual_transfer_checks_follow_the_documented_precedence() {
        // Goal: when several problems apply, the earliest in the documented order wins.
        // Method: each row breaks the check under test *and* every later one it can.
        let income = view("acc_in", AccountKind::IncomeSource, false);
        let pod = view("acc_pod", AccountKind::Pod, false);
        let other_pod = view("acc_pod2", AccountKind::Pod, false);
        let bank = view("acc_bank", AccountKind::External(ExternalAccountType::Depository), false);
        let broker = view("acc_inv", AccountKind::External(ExternalAccountType::Investment), false);
        let card = view("acc_card", AccountKind::External(ExternalAccountType::Liability), false);
        let deleted_card =
            view("acc_gone", AccountKind::External(ExternalAccountType::Liability), true);
        let deleted_pod = view("acc_old", AccountKind::Pod, true);
        let id = |raw: &str| AccountId::from_raw(raw);
        let dollars = |n: i64| Cents::new(n * 100);
        let table: Vec<(&AccountView, &AccountView, Cents, Result<(), TransferRejection>)> = vec![
            // Allowed shapes.
            (&income, &pod, TRANSFER_MINIMUM, Ok(())),
            (&pod, &other_pod, TRANSFER_AMOUNT_MAX, Ok(())),
            (&pod, &card, dollars(250), Ok(())),
            (&income, &bank, dollars(1), Ok(())),
            (&bank, &pod, dollars(1), Ok(())),
            // 1. Amount first, even with deleted accounts of the wrong kind.
            (
                &deleted_card,
                &deleted_card,
                Cents::new(99),
                Err(TransferRejection::AmountBelowMinimum {
                    amount: Cents::new(99),
                    minimum: TRANSFER_MINIMUM,
                }),
            ),
            (
                &pod,
                &card,
                Cents::new(0),
                Err(TransferRejection::AmountBelowMinimum {
                    amount: Cents::ZERO,
                    minimum: TRANSFER_MINIMUM,
                }),
            ),
            (
                &pod,
                &card,
                Cents::new(-500),
                Err(TransferRejection::AmountBelowMinimum {
                    amount: Cents::new(-500),
                    minimum: TRANSFER_MINIMUM,
                }),
            ),
            (
                &deleted_card,
                &income,
                Cents::new(TRANSFER_AMOUNT_MAX.get() + 1),
                Err(TransferRejection::AmountAboveMaximum {
                    amount: Cents::new(TRANSFER_AMOUNT_MAX.get() + 1),
                    maximum: TRANSFER_AMOUNT_MAX,
                }),
            ),
            // 2. Deleted source before deleted destination and before any role check.
            (
                &deleted_card,
                &deleted_pod,
                dollars(5),
                Err(TransferRejection::SourceDeleted { account: id("acc_gone") }),
            ),
            (
                &card,
                &deleted_pod,
                dollars(5),
                Err(TransferRejection::DestinationDeleted { account: id("acc_old") }),
            ),
            // 3. Roles: source before destination.
            (
                &card,
                &income,
                dollars(5),
                Err(TransferRejection::SourceCannotSend {
                    account: id("acc_card"),
                    kind: AccountKind::External(ExternalAccountType::Liability),
                }),
            ),
            (
                &pod,
                &income,
                dollars(5),
                Err(TransferRejection::DestinationCannotReceive {
                    account: id("acc_in"),
                    kind: AccountKind::IncomeSource,
                }),
            ),
            (
                &broker,
                &income,
                dollars(1),
                Err(TransferRejection::DestinationCannotReceive {
                    account: id("acc_in"),
                    kind: AccountKind::IncomeSource,
                }),
            ),
            // An income source to itself fails on its role before sameness.
            (
                &income,
                &income,
                dollars(5),
                Err(TransferRejection::DestinationCannotReceive {
                    account: id("acc_in"),
                    kind: AccountKind::IncomeSource,
                }),
            ),
            // 4. Same account.
            (
                &pod,
                &pod,
                dollars(5),
                Err(TransferRejection::SameAccount { account: id("acc_pod") }),
            ),
            (
                &bank,
                &bank,
                dollars(5),
                Err(TransferRejection::SameAccount { account: id("acc_bank") }),
            ),
            // 5. External to external.
            (
                &bank,
                &card,
                dollars(5),
                Err(TransferRejection::ExternalToExternal {
                    source_account: id("acc_bank"),
                    destination_account: id("acc_card"),
                }),
            ),
            (
                &broker,
                &bank,
                dollars(5),
                Err(TransferRejection::ExternalToExternal {
                    source_account: id("acc_inv"),
                    destination_account: id("acc_bank"),
                }),
            ),
        ];
        for (source, destination, amount, expected) in table {
            assert_eq!(
                validate_manual_transfer(source, destination, amount),
                expected,
                "{} -> {} {amount}",
                source.id,
                destination.id
            );
        }
    }

    #[test]
    fn deposits_go_into_live_internal_accounts() {
        let income = view("acc_in", AccountKind::IncomeSource, false);
        let pod = view("acc_pod", AccountKind::Pod, false);
        let bank = view("acc_bank", AccountKind::External(ExternalAccountType::Depository), false);
        let deleted_bank =
            view("acc_gone", AccountKind::External(ExternalAccountType::Depository), true);
        let table: Vec<(&AccountView, i64, Result<(), TransferRejection>)> = vec![
            (&income, 1, Ok(())),
            (&pod, 250, Ok(())),
            (&income, TRANSFER_AMOUNT_MAX.get(), Ok(())),
            (&deleted_bank, 0, Err(TransferRejection::AmountNotPositive { amount: Cents::ZERO })),
            (&income, -1, Err(TransferRejection::AmountNotPositive { amount: Cents::new(-1) })),
            (
                &income,
                TRANSFER_AMOUNT_MAX.get() + 1,
                Err(TransferRejection::AmountAboveMaximum {
                    amount: Cents::new(TRANSFER_AMOUNT_MAX.get() + 1),
                    maximum: TRANSFER_AMOUNT_MAX,
                }),
            ),
            (
                &deleted_bank,
                100,
                Err(TransferRejection::DestinationDeleted {
                    account: AccountId::from_raw("acc_gone"),
                }),
            ),
            (
                &bank,
                100,
                Err(TransferRejection::DepositIntoExternal {
                    account: AccountId::from_raw("acc_bank"),
                    account_type: ExternalAccountType::Depository,
                }),
            ),
        ];
        for (destination, cents, expected) in table {
            assert_eq!(validate_deposit(destination, Cents::new(cents)), expected, "{cents}");
        }
    }

    #[test]
    fn rejections_read_well_and_map_to_error_codes() {
        let id = AccountId::from_raw("acc_card");
        let table: Vec<(TransferRejection, &str, Option<TransferErrorCode>)> = vec![
            (
                TransferRejection::AmountBelowMinimum {
                    amount: Cents::new(50),
                    minimum: TRANSFER_MINIMUM,
                },
                "amount $0.50 is below the $1.00 transfer minimum",
                Some(TransferErrorCode::TransferAmountLessThanOneDollar),
            ),
            (
                TransferRejection::SourceCannotSend {
                    account: id.clone(),
                    kind: AccountKind::External(ExternalAccountType::Liability),
                },
                "account acc_card is a LIABILITY external account and cannot be a transfer source",
                None,
            ),
            (
                TransferRejection::DestinationDeleted { account: id.clone() },
                "destination account acc_card was deleted",
                Some(TransferErrorCode::AccountDeleted),
            ),
            (
                TransferRejection::DepositIntoExternal {
                    account: id,
                    account_type: ExternalAccountType::Liability,
                },
                "account acc_card is a LIABILITY external account; deposits go only into income \
                 sources and pods",
                None,
            ),
        ];
        for (rejection, message, code) in table {
            assert_eq!(rejection.to_string(), message);
            assert_eq!(rejection.error_code(), code, "{message}");
        }
    }
}
