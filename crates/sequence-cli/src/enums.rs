//! The API's enums as command-line values, without copies of them.
//!
//! Flags such as `--status` hold the generated types themselves (`types::TransferStatus`, …):
//! [`wire`] is their clap value parser. It accepts exactly the wire names (the generated
//! `Display`), lists them in `--help`, and gives clap's usual "invalid value … [possible values:
//! …]" error otherwise. The only hand-written part per enum is a line of help per variant,
//! written as an exhaustive `match` on the generated enum: when the spec gains a variant, this
//! file stops compiling until the variant gets its help line, and with it its place on the
//! command line.

use std::ffi::OsStr;
use std::fmt::Display;
use std::marker::PhantomData;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use sequence_client::types;

/// A generated enum offered on the command line.
pub trait WireEnum: Copy + Display + Send + Sync + 'static {
    /// Every variant, in the order `--help` lists them.
    const VARIANTS: &'static [Self];

    /// The `--help` line for `self`.
    fn help(self) -> &'static str;

    /// The wire names of [`Self::VARIANTS`] (their `Display`), computed once because clap keeps
    /// `&'static str` names.
    fn names() -> &'static [String];
}

/// Implements [`WireEnum`] for `types::$ty`; `VARIANTS` and the exhaustive `help` match come from
/// the same list, so a variant the list lacks is a compile error rather than a missing value.
macro_rules! wire_enum {
    ($ty:ident { $($variant:ident => $help:literal,)+ }) => {
        impl WireEnum for types::$ty {
            const VARIANTS: &'static [Self] = &[$(types::$ty::$variant),+];

            fn help(self) -> &'static str {
                match self {
                    $(types::$ty::$variant => $help,)+
                }
            }

            fn names() -> &'static [String] {
                static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
                NAMES.get_or_init(|| Self::VARIANTS.iter().map(ToString::to_string).collect())
            }
        }
    };
}

wire_enum!(AccountType {
    IncomeSource => "Where money lands from outside (payroll, deposits)",
    Pod => "A sub-account holding money at Sequence",
    ExternalAccount => "An account at another institution",
});

wire_enum!(AuditOutcome {
    Success => "A mutating call that succeeded",
    Failure => "A mutating call answered with an error",
    Denied => "A call refused with 401, 403 or 429",
});

wire_enum!(AccountRole {
    Source => "The account sends",
    Destination => "The account receives",
    Either => "Either (API default)",
});

wire_enum!(TransferDirection {
    MoneyIn => "Money arriving from outside Sequence",
    MoneyOut => "Money leaving Sequence",
    Internal => "Between accounts at Sequence",
});

wire_enum!(TransferStatus {
    PendingApproval => "Waiting for a person to approve or decline it",
    Processing => "Accepted, not yet sent",
    Pending => "Sent, not yet settled",
    Complete => "Settled",
    Error => "Failed (see its error code)",
    Cancelled => "Declined or cancelled",
});

wire_enum!(TransferOrigin {
    Paycheck => "A paycheck deposit",
    CheckDeposit => "A check deposit",
    Cashback => "Cashback",
    UserPull => "Pulled by the user",
    Rule => "Created by a rule",
    User => "A manual transfer",
    ExternalPull => "Pulled by an outside party",
});

wire_enum!(ExecutionMode {
    Live => "Only live records (API default)",
    Simulation => "Only simulated (dry-run) records",
    All => "Both",
});

wire_enum!(RuleExecutionStatus {
    InProgress => "Still running",
    Executed => "Every transfer succeeded (or the conditions were not met)",
    Partial => "Some transfers failed",
    Failed => "The run failed",
});

wire_enum!(RuleExecutionTriggerType {
    Manual => "`triggerRule`",
    Scheduled => "The rule's schedule",
    OnFundsTransferred => "Money arriving in the trigger account",
});

wire_enum!(DepositOrigin {
    Paycheck => "A paycheck",
    CheckDeposit => "A check deposit",
    Cashback => "Cashback",
});

wire_enum!(WebhookEventType {
    TransferCreated => "A transfer was recorded",
    TransferStatusChanged => "A transfer changed status (with the previous one)",
    TransferApprovalRequired => "A transfer waits for a person's approval",
    RuleExecutionCompleted => "A rule execution finished",
    CardTransactionCreated => "A card transaction was recorded",
});

wire_enum!(ExternalAccountType {
    Depository => "A bank account (checking, savings)",
    Investment => "A brokerage or retirement account",
    Liability => "A credit card or loan (can only receive payments)",
});

wire_enum!(CardType {
    Virtual => "A card number for online and wallet payments, usable once issued",
    Physical => "A plastic card, inactive until activated",
});

wire_enum!(CardStatus {
    Active => "Purchases are authorized",
    Inactive => "A physical card not yet activated",
    Frozen => "Paused; declines purchases until unfrozen",
    Stolen => "Reported stolen (final)",
    Lost => "Reported lost (final)",
});

wire_enum!(CardTransactionDirection {
    Debit => "Purchases",
    Credit => "Refunds",
});

/// The clap value parser for a generated enum `T`: `#[arg(long, value_parser = wire::<T>())]`.
pub fn wire<T: WireEnum>() -> WireParser<T> {
    WireParser(PhantomData)
}

/// See [`wire`].
#[derive(Debug)]
pub struct WireParser<T>(PhantomData<fn() -> T>);

impl<T> Clone for WireParser<T> {
    fn clone(&self) -> Self {
        WireParser(PhantomData)
    }
}

fn possible_values<T: WireEnum>() -> impl Iterator<Item = PossibleValue> {
    T::VARIANTS
        .iter()
        .zip(T::names())
        .map(|(variant, name)| PossibleValue::new(name.as_str()).help(variant.help()))
}

impl<T: WireEnum> TypedValueParser for WireParser<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        // clap checks the name (honouring `ignore_case`) and words the error.
        let text = PossibleValuesParser::new(possible_values::<T>()).parse_ref(cmd, arg, value)?;
        let ignore_case = arg.is_some_and(clap::Arg::is_ignore_case_set);
        let variant = T::VARIANTS
            .iter()
            .zip(possible_values::<T>())
            .find(|(_, possible)| possible.matches(&text, ignore_case))
            .map(|(variant, _)| *variant);
        Ok(variant.expect("PossibleValuesParser accepts only these names"))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(possible_values::<T>()))
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    /// Each listed name is the generated type's own: it parses back to the same variant.
    fn names_round_trip<T: WireEnum + FromStr + PartialEq + std::fmt::Debug>() {
        assert_eq!(T::names().len(), T::VARIANTS.len());
        for (variant, name) in T::VARIANTS.iter().zip(T::names()) {
            assert_eq!(T::from_str(name).ok(), Some(*variant), "{name}");
        }
    }

    #[test]
    fn names_are_the_generated_wire_names() {
        names_round_trip::<types::AccountType>();
        names_round_trip::<types::AccountRole>();
        names_round_trip::<types::TransferDirection>();
        names_round_trip::<types::TransferStatus>();
        names_round_trip::<types::TransferOrigin>();
        names_round_trip::<types::ExecutionMode>();
        names_round_trip::<types::RuleExecutionStatus>();
        names_round_trip::<types::RuleExecutionTriggerType>();
        names_round_trip::<types::DepositOrigin>();
        names_round_trip::<types::ExternalAccountType>();
        names_round_trip::<types::CardType>();
        names_round_trip::<types::CardStatus>();
        names_round_trip::<types::CardTransactionDirection>();
        names_round_trip::<types::AuditOutcome>();
        names_round_trip::<types::WebhookEventType>();
    }
}
