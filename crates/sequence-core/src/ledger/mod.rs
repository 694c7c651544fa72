//! The double-entry ledger: accounts, transfers, their lifecycle and the checks that keep money
//! conserved.
//!
//! This module decides; the store makes the decisions durable. Every function here is pure, and
//! each use case below maps to **one database transaction** in the store, so a crash can never
//! leave money half-moved.
//!
//! # Accounts
//!
//! * **Internal accounts** ([`AccountKind::IncomeSource`], [`AccountKind::Pod`]) hold money at
//!   Sequence. Their balances are **strictly ledger-derived**: `balance` is the sum of their
//!   postings (postings exist only for completed transfers and card transactions), and
//!   `available = balance − reserved`, where `reserved` is the sum of the amounts of their *live*
//!   outgoing transfers that are still in flight ([`holds_reservation`]). Nothing ever sets an internal balance directly, so
//!   `balance >= reserved >= 0` always holds ([`InternalBalance::from_ledger`] asserts it).
//! * **External accounts** ([`AccountKind::External`]) live at other banks. Their
//!   `balance_in_cents` is **informational**: what the bank reports, set when the account is
//!   linked (sandbox) and adjusted when a transfer to or from it *completes*
//!   ([`reported_balances_after`]): a `DEPOSITORY`/`INVESTMENT` account gains what it receives and
//!   loses what is pulled from it; a `LIABILITY` account's amount owed (and its statement balance
//!   and minimum payment, not below zero) drops by each payment. External accounts have no
//!   postings and no available balance.
//! * **System accounts** ([`SystemAccounts`], two per organization, never exposed by the API)
//!   stand for the world outside Sequence so that every transfer has two sides:
//!   `outside_world` is the counterparty of deposits (paycheck, check deposit, cashback: money
//!   arriving with no source account) and of card purchases and refunds (merchants are outside
//!   Sequence too; see [`crate::cards`]), `external_clearing` the counterparty of transfers to and
//!   from linked external accounts. Their balances are negative of what entered through them.
//!
//! **Invariant:** the postings of an organization, including those of its system accounts, sum
//! to zero ([`assert_balanced`]); replaying them ([`replay`]) reproduces every internal balance.
//!
//! # Transfers
//!
//! A transfer is immutable apart from its status. Amounts are positive integer cents. Its
//! [`TransferDirection`] follows from its two sides: internal → internal is `internal`, outside
//! or external → internal is `money_in`, internal → external or outside is `money_out`; a transfer
//! with no internal side does not exist. Its status follows the table in [`transition`]:
//!
//! ```text
//! pending_approval ─approve→ processing ─submit→ pending ─settle→ complete
//!        │ decline/cancel        │ cancel           │
//!        ▼                       ▼                  │
//!    cancelled               cancelled              │
//! (any in-flight status) ─fail(error_code)→ error ◄─┘
//! ```
//!
//! Postings are written exactly when a transfer becomes `complete`. Reservations are not stored
//! separately: a live transfer whose source is internal reserves its amount for as long as its
//! status is in flight, so every transition out of flight releases the reservation by itself.
//!
//! # Use cases (one store transaction each)
//!
//! 1. **Accept** (`createTransfer`, a rule action): lock the source account row; the caller has
//!    already checked permission and existence; [`validate_manual_transfer`]; compute the
//!    source's available balance inside the same transaction; [`plan_acceptance`] decides the
//!    initial status (`processing`, `pending_approval` or `error`/`insufficient_funds`); insert
//!    the transfer. No postings.
//! 2. **Approve / decline / cancel / fail**: [`transition`], update status (and `error_code`).
//! 3. **Submit / settle** (the settlement worker, on the organization clock):
//!    [`SettlementPlan::next_step`] says which event is due when; `settle` additionally inserts
//!    [`postings_for`] and applies [`reported_balances_after`] to an external side.
//! 4. **Deposit** (sandbox): [`validate_deposit`], then insert the transfer already `complete`
//!    together with its postings: a deposit reports money that has already arrived, so it never
//!    reserves, never needs approval and never goes through settlement.
//! 5. **Delete an account**: [`check_deletable`].
//!
//! Lock account rows in ascending id order when a transaction touches several, so concurrent
//! transfers cannot deadlock (pgledger's rule).
//!
//! # Simulations
//!
//! A simulated transfer ([`ExecutionMode::Simulation`]) gets the status a live one would get at
//! acceptance and then **never changes**: it never reserves, never settles and never posts. The
//! store must therefore exclude simulations wherever it sums reservations, counts in-flight
//! transfers (deletion, "nothing in flight after five days") or runs the settlement worker.

/// Defines a field-less enum whose values travel as fixed strings (on the wire and in storage),
/// with `ALL`, `as_str`, `Display`, `FromStr` and serde impls all generated from one table so the
/// spellings cannot drift apart.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $( $(#[$variant_meta:meta])* $variant:ident => $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as it appears on the wire and in storage.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::ledger::ParseError;

            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                match raw {
                    $($wire => Ok($name::$variant),)+
                    _ => Err($crate::ledger::ParseError::Unknown {
                        what: $what,
                        given: raw.to_owned(),
                    }),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = <String as ::serde::Deserialize>::deserialize(deserializer)?;
                raw.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}

/// Also used by [`crate::webhooks`] and [`crate::cards`] for their wire enums.
pub(crate) use wire_enum;

mod acceptance;
mod account;
pub mod limits;
mod posting;
mod settlement;
mod transfer;
mod validation;

pub use acceptance::{
    Acceptance, AcceptanceRequest, InternalBalance, holds_reservation, plan_acceptance,
};
pub use account::{
    AccountKind, AccountView, DeletionRefused, Endpoint, ExternalAccountType, check_deletable,
};
pub use posting::{
    Posting, ReportedBalances, SystemAccounts, TransferLegs, TransferSide, assert_balanced,
    postings_for, replay, reported_balances_after,
};
pub use settlement::{SettlementPlan, SettlementStep, settlement_plan};
pub use transfer::{
    ExecutionMode, InvalidTransition, TransferDirection, TransferErrorCode, TransferEvent,
    TransferOrigin, TransferStatus, transition,
};
pub use validation::{TransferRejection, validate_deposit, validate_manual_transfer};

use crate::ids::AccountId;

/// A stored or received string that names no value of a ledger enum.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The string is not one of the enum's spellings.
    #[error("unknown {what} {given:?}")]
    Unknown {
        /// Which enum, e.g. `transfer status`.
        what: &'static str,
        /// The string given.
        given: String,
    },
    /// An account `type` and `external_account_type` that do not fit together: external accounts
    /// need a sub-type, income sources and pods must not have one.
    #[error(
        "account type {account_type:?} does not fit external_account_type {external_account_type:?}"
    )]
    AccountKindMismatch {
        /// The `type` given.
        account_type: String,
        /// The `external_account_type` given.
        external_account_type: Option<String>,
    },
}

/// A ledger computation that cannot be carried out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// A transfer whose two sides are both outside Sequence.
    #[error("a transfer needs an income source or pod on at least one side")]
    NoInternalSide,
    /// An account's balance left the range of `i64` cents.
    #[error("the balance of account {account} is out of range")]
    BalanceOverflow {
        /// The account.
        account: AccountId,
    },
}
