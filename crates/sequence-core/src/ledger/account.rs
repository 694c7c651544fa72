//! Account kinds, what each may do in a transfer, and when an account may be deleted.

use std::fmt;

use super::ParseError;
use crate::ids::AccountId;
use crate::money::Cents;

wire_enum! {
    /// The sub-type of an external account, as the API spells it (UPPERCASE).
    pub enum ExternalAccountType ("external account type") {
        /// A checking or savings account at another bank.
        Depository => "DEPOSITORY",
        /// A brokerage or other investment account.
        Investment => "INVESTMENT",
        /// A credit card or loan: its balance is an amount owed.
        Liability => "LIABILITY",
    }
}

/// What an account is, which decides what it may do in a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccountKind {
    /// Where money from outside lands (payroll): it can send, but only the outside world pays
    /// into it, so it is never a transfer destination.
    IncomeSource,
    /// A Sequence account that can both send and receive.
    Pod,
    /// An account at another bank, linked to the organization.
    External(ExternalAccountType),
}

impl AccountKind {
    /// Every kind.
    pub const ALL: [AccountKind; 5] = [
        AccountKind::IncomeSource,
        AccountKind::Pod,
        AccountKind::External(ExternalAccountType::Depository),
        AccountKind::External(ExternalAccountType::Investment),
        AccountKind::External(ExternalAccountType::Liability),
    ];

    /// Whether money may leave this account in a manual or rule transfer (`can_be_source`).
    /// A liability cannot be pulled from.
    pub const fn can_be_source(self) -> bool {
        match self {
            AccountKind::IncomeSource | AccountKind::Pod => true,
            AccountKind::External(ExternalAccountType::Depository)
            | AccountKind::External(ExternalAccountType::Investment) => true,
            AccountKind::External(ExternalAccountType::Liability) => false,
        }
    }

    /// Whether money may arrive in this account in a manual or rule transfer
    /// (`can_be_destination`). Income sources receive only deposits from outside, which are not
    /// transfers in this sense (see [`super::validate_deposit`]).
    pub const fn can_be_destination(self) -> bool {
        match self {
            AccountKind::IncomeSource => false,
            AccountKind::Pod | AccountKind::External(_) => true,
        }
    }

    /// Whether the account holds money at Sequence (income sources and pods), so its balance is
    /// ledger-derived.
    pub const fn is_internal(self) -> bool {
        matches!(self, AccountKind::IncomeSource | AccountKind::Pod)
    }

    /// The account's `type` on the wire: `income_source`, `pod` or `external_account`.
    pub const fn type_str(self) -> &'static str {
        match self {
            AccountKind::IncomeSource => "income_source",
            AccountKind::Pod => "pod",
            AccountKind::External(_) => "external_account",
        }
    }

    /// The account's `external_account_type` on the wire (`None` for internal accounts).
    pub const fn external_account_type(self) -> Option<ExternalAccountType> {
        match self {
            AccountKind::External(external) => Some(external),
            AccountKind::IncomeSource | AccountKind::Pod => None,
        }
    }

    /// The inverse of ([`Self::type_str`], [`Self::external_account_type`]), for reading stored
    /// rows.
    pub fn from_parts(
        account_type: &str,
        external_account_type: Option<&str>,
    ) -> Result<AccountKind, ParseError> {
        let mismatch = || ParseError::AccountKindMismatch {
            account_type: account_type.to_owned(),
            external_account_type: external_account_type.map(str::to_owned),
        };
        match (account_type, external_account_type) {
            ("income_source", None) => Ok(AccountKind::IncomeSource),
            ("pod", None) => Ok(AccountKind::Pod),
            ("external_account", Some(external)) => Ok(AccountKind::External(external.parse()?)),
            ("income_source" | "pod" | "external_account", _) => Err(mismatch()),
            (other, _) => {
                Err(ParseError::Unknown { what: "account type", given: other.to_owned() })
            }
        }
    }
}

impl fmt::Display for AccountKind {
    /// Prose for messages: `an income source`, `a pod`, `a LIABILITY external account`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountKind::IncomeSource => f.write_str("an income source"),
            AccountKind::Pod => f.write_str("a pod"),
            AccountKind::External(external) => write!(f, "a {external} external account"),
        }
    }
}

/// The facts about an account that transfer validation needs. The caller has already found the
/// account in the organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountView {
    /// The account.
    pub id: AccountId,
    /// What it is.
    pub kind: AccountKind,
    /// Whether it has been deleted (deleted accounts stay in transfer history).
    pub is_deleted: bool,
}

impl AccountView {
    /// The account as one side of a transfer.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::Account { id: self.id.clone(), kind: self.kind }
    }
}

/// One side of a transfer: an account of the organization, or the unnamed outside world (the
/// employer behind a paycheck; `source: null` on the wire).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// An account of the organization.
    Account {
        /// The account.
        id: AccountId,
        /// What it is.
        kind: AccountKind,
    },
    /// Outside Sequence, with no account: deposits come from here.
    OutsideWorld,
}

impl Endpoint {
    /// Whether this side holds money at Sequence.
    pub fn is_internal(&self) -> bool {
        match self {
            Endpoint::Account { kind, .. } => kind.is_internal(),
            Endpoint::OutsideWorld => false,
        }
    }

    /// The account id, if this side is an account.
    pub fn account_id(&self) -> Option<&AccountId> {
        match self {
            Endpoint::Account { id, .. } => Some(id),
            Endpoint::OutsideWorld => None,
        }
    }
}

/// Why an account cannot be deleted (`409 account_not_empty`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeletionRefused {
    /// An internal account still holds money; deleting it would make that money vanish from the
    /// ledger, so it must be moved out first.
    #[error("account {account} still holds {balance}; move the money out first")]
    HoldsMoney {
        /// The account.
        account: AccountId,
        /// Its ledger balance.
        balance: Cents,
    },
    /// Live transfers from or to the account are still in flight.
    #[error("account {account} has {count} transfers in flight")]
    TransfersInFlight {
        /// The account.
        account: AccountId,
        /// How many live transfers from or to it are `pending_approval`, `processing` or
        /// `pending`.
        count: u64,
    },
}

/// Whether `account` may be deleted. Checked in this order: in-flight transfers (any kind), then
/// the ledger balance (internal accounts only; an external account's reported balance, such as
/// money owed on a card, never blocks deletion).
///
/// `ledger_balance` must be `Some` exactly for internal accounts. `in_flight_transfers` counts
/// **live** transfers only: simulated transfers stay in their acceptance status forever and must
/// not block deletion.
///
/// # Panics
/// If the account is already deleted, or `ledger_balance` does not match the account's kind.
pub fn check_deletable(
    account: &AccountView,
    ledger_balance: Option<Cents>,
    in_flight_transfers: u64,
) -> Result<(), DeletionRefused> {
    assert!(!account.is_deleted, "deleting an already deleted account is a 404 before this");
    assert_eq!(
        ledger_balance.is_some(),
        account.kind.is_internal(),
        "a ledger balance exists exactly for internal accounts"
    );
    if in_flight_transfers > 0 {
        return Err(DeletionRefused::TransfersInFlight {
            account: account.id.clone(),
            count: in_flight_transfers,
        });
    }
    match ledger_balance {
        Some(balance) if balance != Cents::ZERO => {
            assert!(balance.is_positive(), "an internal balance is never negative");
            Err(DeletionRefused::HoldsMoney { account: account.id.clone(), balance })
        }
        Some(_) | None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_kind_may_do() {
        // Goal: the can_be flags match the seed (income source: source only; liability:
        // destination only). Method: the full table of kinds.
        // (kind, can_be_source, can_be_destination, is_internal, type, external_account_type)
        type Row = (AccountKind, bool, bool, bool, &'static str, Option<&'static str>);
        let table: [Row; 5] = [
            (AccountKind::IncomeSource, true, false, true, "income_source", None),
            (AccountKind::Pod, true, true, true, "pod", None),
            (
                AccountKind::External(ExternalAccountType::Depository),
                true,
                true,
                false,
                "external_account",
                Some("DEPOSITORY"),
            ),
            (
                AccountKind::External(ExternalAccountType::Investment),
                true,
                true,
                false,
                "external_account",
                Some("INVESTMENT"),
            ),
            (
                AccountKind::External(ExternalAccountType::Liability),
                false,
                true,
                false,
                "external_account",
                Some("LIABILITY"),
            ),
        ];
        for ((kind, source, destination, internal, type_str, external), listed) in
            table.into_iter().zip(AccountKind::ALL)
        {
            assert_eq!(kind, listed, "table follows AccountKind::ALL");
            assert_eq!(kind.can_be_source(), source, "{kind}");
            assert_eq!(kind.can_be_destination(), destination, "{kind}");
            assert_eq!(kind.is_internal(), internal, "{kind}");
            assert_eq!(kind.type_str(), type_str);
            assert_eq!(kind.external_account_type().map(ExternalAccountType::as_str), external);
            assert_eq!(AccountKind::from_parts(type_str, external), Ok(kind));
        }
    }

    #[test]
    fn from_parts_rejects_inconsistent_rows() {
        let table: &[(&str, Option<&str>, &str)] = &[
            (
                "pod",
                Some("LIABILITY"),
                "account type \"pod\" does not fit external_account_type Some(\"LIABILITY\")",
            ),
            (
                "external_account",
                None,
                "account type \"external_account\" does not fit external_account_type None",
            ),
            ("external_account", Some("liability"), "unknown external account type \"liability\""),
            ("savings", None, "unknown account type \"savings\""),
        ];
        for (account_type, external, message) in table {
            let error = AccountKind::from_parts(account_type, *external).unwrap_err();
            assert_eq!(error.to_string(), *message);
        }
    }

    #[test]
    fn deletion_needs_no_money_and_nothing_in_flight() {
        let pod = AccountView {
            id: AccountId::from_raw("acc_pod"),
            kind: AccountKind::Pod,
            is_deleted: false,
        };
        let card = AccountView {
            id: AccountId::from_raw("acc_card"),
            kind: AccountKind::External(ExternalAccountType::Liability),
            is_deleted: false,
        };
        // (account, ledger balance, in-flight transfers, verdict)
        type Row<'a> = (&'a AccountView, Option<i64>, u64, Result<(), DeletionRefused>);
        let table: &[Row] = &[
            (&pod, Some(0), 0, Ok(())),
            (
                &pod,
                Some(1),
                0,
                Err(DeletionRefused::HoldsMoney {
                    account: pod.id.clone(),
                    balance: Cents::new(1),
                }),
            ),
            // In-flight transfers are reported first, even when money is held too.
            (
                &pod,
                Some(500),
                2,
                Err(DeletionRefused::TransfersInFlight { account: pod.id.clone(), count: 2 }),
            ),
            (&card, None, 0, Ok(())),
            (
                &card,
                None,
                1,
                Err(DeletionRefused::TransfersInFlight { account: card.id.clone(), count: 1 }),
            ),
        ];
        for (account, balance, in_flight, expected) in table {
            let verdict = check_deletable(account, balance.map(Cents::new), *in_flight);
            assert_eq!(&verdict, expected, "{} {balance:?} {in_flight}", account.id);
        }
        let mismatch = std::panic::catch_unwind(|| check_deletable(&card, Some(Cents::ZERO), 0));
        assert!(mismatch.is_err(), "external accounts have no ledger balance");
    }
}
