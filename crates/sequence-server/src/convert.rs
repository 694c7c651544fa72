//! Domain and store records → wire types, and wire enums ↔ domain enums ([`Twin`]). The only
//! place (with `handlers/rule_wire.rs` for rules) that knows both shapes.
//!
//! Every value the spec constrains (ids carry their kind's `pattern`, masked numbers
//! `^••••[0-9]{4}$`) is a validated newtype on the wire; [`wire`] is the one way in.

use std::fmt;
use std::str::FromStr;

use sequence_api::types;
use sequence_core::cards;
use sequence_core::ledger::{self, AccountKind, ExternalAccountType};
use sequence_core::money::Cents;
use sequence_core::rules;
use sequence_core::webhooks;
use sequence_store::accounts::AccountRecord;
use sequence_store::audit;

use crate::error::ApiError;

/// A wire string newtype (`TransferId`, `AccountRoutingNumber`, `RuleTriggerAccountId`, …) from a
/// value this server produced: an id it minted (prefix + ULID, which fits its kind's pattern), a
/// masked number, a stored rule field (which passed the same schema on the way in). Such a value
/// always fits, so a failure is a broken invariant (a row written by something else, a prefix
/// changed on one side only): a 500 whose logged cause names the wire type, never a panic and
/// never a body that breaks the spec. The value itself is not logged: it may be an account
/// number that failed to mask.
pub fn wire<T>(value: &str) -> Result<T, ApiError>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    value.parse().map_err(|error: T::Err| {
        let full = std::any::type_name::<T>();
        let kind = full.rsplit("::").next().unwrap_or(full);
        ApiError::internal(format!(
            "a value of {} characters does not fit its wire type {kind}: {error}",
            value.chars().count()
        ))
    })
}

/// `••••1234`: the documented masking of routing and account numbers (last four digits).
pub fn mask(number: &str) -> String {
    let digits: Vec<char> = number.chars().collect();
    let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("••••{tail}")
}

/// The API's account `type`.
pub fn account_type(kind: AccountKind) -> types::AccountType {
    match kind {
        AccountKind::IncomeSource => types::AccountType::IncomeSource,
        AccountKind::Pod => types::AccountType::Pod,
        AccountKind::External(_) => types::AccountType::ExternalAccount,
    }
}

/// The API's `external_account_type`.
pub fn external_type(kind: AccountKind) -> Option<types::ExternalAccountType> {
    kind.external_account_type().map(|t| match t {
        ExternalAccountType::Depository => types::ExternalAccountType::Depository,
        ExternalAccountType::Investment => types::ExternalAccountType::Investment,
        ExternalAccountType::Liability => types::ExternalAccountType::Liability,
    })
}

/// The domain's external account type.
pub fn external_type_from_wire(t: types::ExternalAccountType) -> ExternalAccountType {
    match t {
        types::ExternalAccountType::Depository => ExternalAccountType::Depository,
        types::ExternalAccountType::Investment => ExternalAccountType::Investment,
        types::ExternalAccountType::Liability => ExternalAccountType::Liability,
    }
}

/// A list item (no balance, no numbers).
pub fn account_summary(account: &AccountRecord) -> Result<types::AccountSummary, ApiError> {
    Ok(types::AccountSummary {
        id: wire(account.id.as_str())?,
        name: account.name.clone(),
        type_: account_type(account.kind),
        description: account.description.clone(),
        external_account_type: external_type(account.kind),
        beneficiary_name: account.beneficiary_name.clone(),
        institution_name: account.institution_name.clone(),
        can_be_source: account.kind.can_be_source(),
        can_be_destination: account.kind.can_be_destination(),
        created_at: account.created_at,
        updated_at: account.updated_at,
    })
}

/// The full account with masked numbers and its balance.
pub fn account(account: &AccountRecord) -> Result<types::Account, ApiError> {
    let balance = if account.kind.is_internal() {
        types::Balance {
            balance_in_cents: account.balance.get(),
            available_balance_in_cents: Some(account.available().get()),
            last_statement_balance_in_cents: None,
            next_payment_minimum_in_cents: None,
            next_payment_due_date: None,
            balance_last_updated_at: account.balance_updated_at,
        }
    } else {
        types::Balance {
            balance_in_cents: account.reported_balance.unwrap_or(Cents::ZERO).get(),
            available_balance_in_cents: None,
            last_statement_balance_in_cents: account.last_statement_balance.map(Cents::get),
            next_payment_minimum_in_cents: account.next_payment_minimum.map(Cents::get),
            next_payment_due_date: account.next_payment_due_date,
            balance_last_updated_at: account.balance_updated_at,
        }
    };
    // The full account is the list item plus numbers and balance: derive the shared fields once.
    let types::AccountSummary {
        id: _,
        name,
        type_,
        description,
        external_account_type,
        beneficiary_name,
        institution_name,
        can_be_source,
        can_be_destination,
        created_at,
        updated_at,
    } = account_summary(account)?;
    Ok(types::Account {
        id: wire(account.id.as_str())?,
        name,
        type_,
        description,
        external_account_type,
        beneficiary_name,
        institution_name,
        can_be_source,
        can_be_destination,
        routing_number: account.routing_number.as_deref().map(|n| wire(&mask(n))).transpose()?,
        bank_account_number: account
            .account_number
            .as_deref()
            .map(|n| wire(&mask(n)))
            .transpose()?,
        balance,
        created_at,
        updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_masked_to_the_last_four_digits() {
        assert_eq!(mask("021000021"), "••••0021");
        assert_eq!(mask("12"), "••••12");
    }

    #[test]
    fn minted_values_fit_their_wire_types_and_anything_else_is_a_500() {
        let minted = sequence_core::ids::TransferId::generate();
        let id: Result<types::TransferId, _> = wire(minted.as_str());
        assert_eq!(id.map(String::from).ok().as_deref(), Some(minted.as_str()));
        let masked: Result<types::AccountRoutingNumber, _> = wire(&mask("021000021"));
        assert!(masked.is_ok());

        let wrong_prefix =
            wire::<types::TransferId>(minted.as_str().replacen("txr_", "acc_", 1).as_str());
        let unmasked = wire::<types::AccountBankAccountNumber>("000123456789");
        for refused in [wrong_prefix.map(|_| ()), unmasked.map(|_| ())] {
            let error = refused.expect_err("does not fit");
            assert_eq!(error.code, sequence_api::server::ErrorCode::InternalError);
            let cause = error.internal.unwrap_or_default();
            assert!(cause.contains("does not fit its wire type"), "{cause}");
            assert!(!cause.contains("000123456789"), "the value is not logged: {cause}");
        }
    }

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let encoded = cursor::encode(1_713_864_100_000, "txr_01HABC1111");
        let decoded = cursor::decode(&encoded).expect("decodes");
        assert_eq!(
            (decoded.created_at_ms, decoded.id.as_str()),
            (1_713_864_100_000, "txr_01HABC1111")
        );
        for forged in ["", "zz", "312e00", &hex::encode("x.txr_1"), &hex::encode("1.a b")] {
            assert!(cursor::decode(forged).is_none(), "{forged}");
        }
    }
}

/// A domain enum's wire twin, or the other way round. Every pair is converted by two exhaustive
/// `match`es (generated by `twins!` below from one list of variants), so a value added to the
/// spec, or to the domain, is a compile error here until it is mapped; nothing goes through a
/// string.
pub trait Twin<T> {
    /// The twin of `self`.
    fn twin(self) -> T;
}

/// Declares both directions of a domain/wire enum pair.
macro_rules! twins {
    ($($domain:ident :: $d:ident <=> $w:ident [$($variant:ident),+ $(,)?];)+) => {
        $(
            impl Twin<types::$w> for $domain::$d {
                fn twin(self) -> types::$w {
                    match self {
                        $($domain::$d::$variant => types::$w::$variant,)+
                    }
                }
            }

            impl Twin<$domain::$d> for types::$w {
                fn twin(self) -> $domain::$d {
                    match self {
                        $(types::$w::$variant => $domain::$d::$variant,)+
                    }
                }
            }
        )+
    };
}

twins! {
    cards::CardType <=> CardType [Virtual, Physical];
    cards::CardStatus <=> CardStatus [Active, Inactive, Frozen, Stolen, Lost];
    cards::CardTransactionDirection <=> CardTransactionDirection [Debit, Credit];
    ledger::TransferDirection <=> TransferDirection [MoneyIn, MoneyOut, Internal];
    ledger::TransferOrigin <=> TransferOrigin [Paycheck, CheckDeposit, Cashback, UserPull, Rule, User, ExternalPull];
    ledger::TransferStatus <=> TransferStatus [PendingApproval, Processing, Pending, Complete, Error, Cancelled];
    ledger::TransferErrorCode <=> TransferErrorCode [InsufficientFunds, TransferAmountLessThanOneDollar, AccountDeleted, AccountNoMinimumPaymentAmount, AccountNoLastStatementBalance, PaymentFailed];
    rules::ExecutionStatus <=> RuleExecutionStatus [InProgress, Executed, Partial, Failed];
    rules::ExecutionTrigger <=> RuleExecutionTriggerType [Manual, Scheduled, OnFundsTransferred];
    rules::RuleStatus <=> RuleStatus [Enabled, Disabled];
    rules::TriggerKind <=> RuleTriggerType [OnFundsTransferred, Scheduled, Manual];
    rules::ScheduleKind <=> ScheduleType [OneTime, Daily, Weekly, BiWeekly, Monthly, EveryOtherWeek];
    rules::Fact <=> RuleConditionFact [TransferAmount, Balance, Date];
    rules::Operator <=> RuleConditionOperator [Equals, NotEquals, GreaterThan, LessThan, GreaterThanOrEqual, LessThanOrEqual];
    rules::ValueFact <=> RuleConditionValueFact [LastDayOfMonth, NextPaymentMinimumAmount, LastStatementBalance];
    rules::PercentageTarget <=> PercentageTarget [IncomingAmount, SourceAccount];
    rules::CapPeriod <=> TransferCapPeriod [PerTransfer, PerWeek, PerMonth, PerYear];
    rules::ActionType <=> RuleActionType [Fixed, Percentage, TopUp, RoundDown, NextPaymentMinimum, TotalAmountDue, LastStatementBalance, PercentageLiabilityBalance];
    audit::Outcome <=> AuditOutcome [Success, Failure, Denied];
    webhooks::EventType <=> WebhookEventType [TransferCreated, TransferStatusChanged, TransferApprovalRequired, RuleExecutionCompleted, CardTransactionCreated];
    webhooks::AttemptOutcome <=> WebhookDeliveryOutcome [Delivered, Retrying, Failed];
}

/// A transfer with its account references resolved (the view holds every account the transfer
/// names; system accounts are never among them, so their side is `null`).
pub fn transfer(view: &sequence_app::ledger::TransferView) -> Result<types::Transfer, ApiError> {
    let record = &view.transfer;
    let reference = |id: &Option<sequence_core::ids::AccountId>| {
        id.as_ref()
            .and_then(|id| view.accounts.get(id.as_str()))
            .map(|a| {
                Ok::<_, ApiError>(types::TransferAccountRef {
                    id: wire(a.id.as_str())?,
                    name: a.name.clone(),
                    type_: account_type(a.kind),
                    is_deleted: a.is_deleted(),
                })
            })
            .transpose()
    };
    Ok(types::Transfer {
        id: wire(record.id.as_str())?,
        amount_in_cents: record.amount.get(),
        direction: record.direction.twin(),
        origin: record.origin.twin(),
        status: record.status.twin(),
        description: record.description.clone(),
        simulation: record.simulation,
        source: reference(&record.source)?,
        destination: reference(&record.destination)?,
        rule_id: record.rule_id.as_ref().map(|id| wire(id.as_str())).transpose()?,
        rule_execution_id: record
            .rule_execution_id
            .as_ref()
            .map(|id| wire(id.as_str()))
            .transpose()?,
        error_code: record.error_code.map(Twin::twin),
        created_at: record.created_at,
        completed_at: record.completed_at,
    })
}

/// A card as the API shows it (only the last four digits of its number exist).
pub fn card(record: &sequence_store::cards::CardRecord) -> Result<types::Card, ApiError> {
    Ok(types::Card {
        id: wire(record.id.as_str())?,
        type_: record.card_type.twin(),
        status: record.status.twin(),
        last_four: wire(&record.last_four)?,
        holder_name: record.holder_name.clone(),
        expiration_date: record.expiration_date.clone(),
        account_id: wire(record.account_id.as_str())?,
        created_at: record.created_at,
    })
}

/// A card transaction as the API shows it. Amounts are positive (a database CHECK); a row that
/// is not is a broken invariant.
pub fn card_transaction(
    record: &sequence_store::cards::CardTransactionRecord,
) -> Result<types::CardTransaction, ApiError> {
    let amount = u64::try_from(record.amount.get())
        .ok()
        .and_then(std::num::NonZeroU64::new)
        .ok_or_else(|| {
            ApiError::internal(format!(
                "card transaction {} has amount {}",
                record.id,
                record.amount.get()
            ))
        })?;
    Ok(types::CardTransaction {
        id: wire(record.id.as_str())?,
        card_id: wire(record.card_id.as_str())?,
        direction: record.direction.twin(),
        amount_in_cents: amount,
        description: record.description.clone(),
        merchant_name: record.merchant_name.clone(),
        purchase_id: record.purchase_id.as_ref().map(|id| wire(id.as_str())).transpose()?,
        refunded_amount_in_cents: record.refunded.map(Cents::get),
        created_at: record.created_at,
    })
}

/// The domain's origin of a sandbox deposit.
pub fn deposit_origin(origin: types::DepositOrigin) -> ledger::TransferOrigin {
    match origin {
        types::DepositOrigin::Paycheck => ledger::TransferOrigin::Paycheck,
        types::DepositOrigin::CheckDeposit => ledger::TransferOrigin::CheckDeposit,
        types::DepositOrigin::Cashback => ledger::TransferOrigin::Cashback,
    }
}

/// Opaque pagination cursors: hex of `<created_at_ms>.<id>` of the last item of a page.
pub mod cursor {
    use sequence_store::transfers::Cursor;

    /// Encodes the position after an item.
    pub fn encode(created_at_ms: i64, id: &str) -> String {
        hex::encode(format!("{created_at_ms}.{id}"))
    }

    /// Decodes a cursor; `None` if it was not made by [`encode`].
    pub fn decode(cursor: &str) -> Option<Cursor> {
        let text = String::from_utf8(hex::decode(cursor).ok()?).ok()?;
        let (ms, id) = text.split_once('.')?;
        // Ids we mint are a prefix and a ULID: anything else was not made by `encode`.
        let plausible = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        plausible
            .then(|| Some(Cursor { created_at_ms: ms.parse().ok()?, id: id.to_owned() }))
            .flatten()
    }
}
