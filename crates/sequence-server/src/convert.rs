//! Domain and store records → wire types. The only place that knows both shapes.

use sequence_api::types;
use sequence_core::ledger::{AccountKind, ExternalAccountType};
use sequence_core::money::Cents;
use sequence_store::accounts::AccountRecord;

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
pub fn account_summary(account: &AccountRecord) -> types::AccountSummary {
    types::AccountSummary {
        id: account.id.to_string(),
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
    }
}

/// The full account with masked numbers and its balance.
pub fn account(account: &AccountRecord) -> types::Account {
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
    types::Account {
        id: account.id.to_string(),
        name: account.name.clone(),
        type_: account_type(account.kind),
        description: account.description.clone(),
        external_account_type: external_type(account.kind),
        beneficiary_name: account.beneficiary_name.clone(),
        institution_name: account.institution_name.clone(),
        can_be_source: account.kind.can_be_source(),
        can_be_destination: account.kind.can_be_destination(),
        routing_number: account.routing_number.as_deref().map(mask),
        bank_account_number: account.account_number.as_deref().map(mask),
        balance,
        created_at: account.created_at,
        updated_at: account.updated_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_masked_to_the_last_four_digits() {
        assert_eq!(mask("021000021"), "••••0021");
        assert_eq!(mask("12"), "••••12");
    }
}
