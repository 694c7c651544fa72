//! The rule model: what a validated rule *is*, in domain terms.
//!
//! These types mirror the API's snake_case rule model (`sequence-api.md` §8) but they are not the
//! wire types: the server converts between the two. The model is stricter than the wire: a
//! condition's right-hand side is one [`Operand`] (the wire has two nullable fields, `value` and
//! `value_fact`), and every action kind carries exactly the parameters it needs. A rule that
//! arrives from a client is first a [`RuleDraft`](super::RuleDraft) and becomes a [`Rule`] only by
//! passing [`validate_rule`](super::validate_rule), so the evaluator never has to ask "what if the
//! target is missing?".
//!
//! Percentages are carried as **basis points** (hundredths of a percent, `0..=10_000`), so no float
//! ever touches an amount. [`basis_points_from_percentage`] is the single place where the wire's
//! floating-point percentage is converted, and it truncates: a rule never moves more than it says.
//!
//! The serde derives give a stable **storage** shape (the store persists steps as JSON); the field
//! and enum spellings follow the API so that stored rules stay readable. Enum values serialize as
//! their API strings (`ON_FUNDS_TRANSFERRED`, `PER_WEEK`, rule status `enabled`, …), which are also
//! what [`as_str`](TriggerKind::as_str) returns and [`FromStr`] accepts.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::ids::{AccountId, RuleId};
use crate::money::Cents;

/// A string did not name any value of an API enum.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownValue {
    /// The enum that was being parsed, e.g. `TriggerKind`.
    pub kind: &'static str,
    /// The string that matched none of its values.
    pub value: String,
}

/// Declares a fieldless enum whose values have fixed API spellings, with `as_str`, `FromStr`,
/// `Display` and serde all agreeing on those spellings.
macro_rules! api_enum {
    (
        $(#[$doc:meta])*
        $name:ident {
            $( $(#[$variant_doc:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $( $(#[$variant_doc])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The API spelling of this value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            /// Parses the exact API spelling (case-sensitive, as the API is).
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $( $text => Ok($name::$variant), )+
                    _ => Err(UnknownValue { kind: stringify!($name), value: text.to_owned() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

api_enum! {
    /// Whether a rule may run. Disabled rules never run, not even on demand; deciding that is the
    /// caller's job ([`evaluate`](super::evaluate) does not look at the status).
    RuleStatus {
        /// The rule runs on its trigger.
        Enabled => "enabled",
        /// The rule is kept but never runs (new and updated rules start here).
        Disabled => "disabled",
    }
}

api_enum! {
    /// What makes a rule run.
    TriggerKind {
        /// Funds arrived in the trigger account (a deposit); its amount is the trigger amount.
        OnFundsTransferred => "ON_FUNDS_TRANSFERRED",
        /// A [`Schedule`] fired.
        Scheduled => "SCHEDULED",
        /// Only an explicit trigger through the API; `manual_execute_amount` is the trigger amount.
        Manual => "MANUAL",
    }
}

api_enum! {
    /// How a [`Schedule`] repeats. See [`schedule`](super::schedule) for the exact arithmetic.
    ScheduleKind {
        /// Once, at the start.
        OneTime => "ONE_TIME",
        /// Every 24 hours from the start.
        Daily => "DAILY",
        /// Every 7 days from the start.
        Weekly => "WEEKLY",
        /// Semi-monthly: the 1st and the 15th of every month, at the start's time of day.
        BiWeekly => "BI_WEEKLY",
        /// The start's day of month (clamped to short months), at the start's time of day.
        Monthly => "MONTHLY",
        /// Every 14 days from the start.
        EveryOtherWeek => "EVERY_OTHER_WEEK",
    }
}

api_enum! {
    /// The left-hand side of a condition.
    Fact {
        /// The trigger amount (deposit or `manual_execute_amount`), in cents.
        TransferAmount => "TRANSFER_AMOUNT",
        /// The available balance of the condition's account (default: the trigger account), cents.
        Balance => "BALANCE",
        /// Today's day of the month (1–31), on the organization's clock.
        Date => "DATE",
    }
}

api_enum! {
    /// A comparison between a fact and an operand.
    Operator {
        /// `fact == operand`
        Equals => "EQUALS",
        /// `fact != operand`
        NotEquals => "NOT_EQUALS",
        /// `fact > operand`
        GreaterThan => "GREATER_THAN",
        /// `fact < operand`
        LessThan => "LESS_THAN",
        /// `fact >= operand`
        GreaterThanOrEqual => "GREATER_THAN_OR_EQUAL",
        /// `fact <= operand`
        LessThanOrEqual => "LESS_THAN_OR_EQUAL",
    }
}

impl Operator {
    /// Applies the operator to two already-resolved values.
    pub fn compare(self, fact: i64, operand: i64) -> bool {
        match self {
            Operator::Equals => fact == operand,
            Operator::NotEquals => fact != operand,
            Operator::GreaterThan => fact > operand,
            Operator::LessThan => fact < operand,
            Operator::GreaterThanOrEqual => fact >= operand,
            Operator::LessThanOrEqual => fact <= operand,
        }
    }
}

api_enum! {
    /// A right-hand side computed from the facts instead of written into the rule.
    ValueFact {
        /// The last day of today's month (28–31): `DATE EQUALS LAST_DAY_OF_MONTH`.
        LastDayOfMonth => "LAST_DAY_OF_MONTH",
        /// The next payment minimum of the condition's `value_account_id` (a liability), cents.
        NextPaymentMinimumAmount => "NEXT_PAYMENT_MINIMUM_AMOUNT",
        /// The last statement balance of the condition's `value_account_id` (a liability), cents.
        LastStatementBalance => "LAST_STATEMENT_BALANCE",
    }
}

impl ValueFact {
    /// `true` for the value facts read from a liability (they need a `value_account_id`).
    pub const fn needs_liability(self) -> bool {
        match self {
            ValueFact::LastDayOfMonth => false,
            ValueFact::NextPaymentMinimumAmount | ValueFact::LastStatementBalance => true,
        }
    }
}

api_enum! {
    /// What a `PERCENTAGE` action takes a percentage of.
    PercentageTarget {
        /// The trigger amount (deposit or `manual_execute_amount`).
        IncomingAmount => "INCOMING_AMOUNT",
        /// The source account's available balance when the action runs.
        SourceAccount => "SOURCE_ACCOUNT",
    }
}

api_enum! {
    /// The window a [`TransferCap`] counts over. Weeks start on Monday.
    CapPeriod {
        /// Each transfer on its own is clipped to the cap.
        PerTransfer => "PER_TRANSFER",
        /// Calendar week (Monday to Sunday).
        PerWeek => "PER_WEEK",
        /// Calendar month.
        PerMonth => "PER_MONTH",
        /// Calendar year.
        PerYear => "PER_YEAR",
    }
}

impl CapPeriod {
    /// `true` for the caps that accumulate across executions (all but `PER_TRANSFER`).
    pub const fn is_periodic(self) -> bool {
        !matches!(self, CapPeriod::PerTransfer)
    }
}

api_enum! {
    /// The `type` of an action, without its parameters (see [`ActionKind`]).
    ActionType {
        /// A fixed amount.
        Fixed => "FIXED",
        /// A percentage of the incoming amount or of the source balance.
        Percentage => "PERCENTAGE",
        /// Whatever brings the destination up to a target balance.
        TopUp => "TOP_UP",
        /// The remainder that leaves the source at a multiple of an amount.
        RoundDown => "ROUND_DOWN",
        /// The liability's next payment minimum.
        NextPaymentMinimum => "NEXT_PAYMENT_MINIMUM",
        /// The liability's current balance owed.
        TotalAmountDue => "TOTAL_AMOUNT_DUE",
        /// The liability's last statement balance.
        LastStatementBalance => "LAST_STATEMENT_BALANCE",
        /// A percentage of the liability's current balance owed.
        PercentageLiabilityBalance => "PERCENTAGE_LIABILITY_BALANCE",
    }
}

impl ActionType {
    /// `true` for actions whose amount is read from the destination liability; their destination
    /// must be an external `LIABILITY` account.
    pub const fn pays_liability(self) -> bool {
        match self {
            ActionType::NextPaymentMinimum
            | ActionType::TotalAmountDue
            | ActionType::LastStatementBalance
            | ActionType::PercentageLiabilityBalance => true,
            ActionType::Fixed
            | ActionType::Percentage
            | ActionType::TopUp
            | ActionType::RoundDown => false,
        }
    }
}

/// A rule: a trigger, and steps of which the first whose conditions pass runs its actions.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rule {
    /// The rule's id (`rule_…`).
    pub id: RuleId,
    /// The name people see.
    pub nickname: String,
    /// Free text.
    pub description: Option<String>,
    /// Whether the rule may run.
    pub status: RuleStatus,
    /// What makes it run.
    pub trigger: Trigger,
    /// One to [`STEPS_MAX`](super::STEPS_MAX) steps, tried in order.
    pub steps: Vec<Step>,
}

/// What makes a rule run, and the account it is about.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Trigger {
    /// The trigger type.
    #[serde(rename = "type")]
    pub kind: TriggerKind,
    /// The trigger account: required for `ON_FUNDS_TRANSFERRED` (the account funds arrive in),
    /// optional otherwise. It is the default account of `BALANCE` conditions.
    pub account_id: Option<AccountId>,
    /// Present exactly when `kind` is `SCHEDULED`.
    pub schedule: Option<Schedule>,
}

/// When a `SCHEDULED` rule runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Schedule {
    /// How it repeats.
    #[serde(rename = "type")]
    pub kind: ScheduleKind,
    /// The first occurrence (or, for `BI_WEEKLY`, the earliest moment and the time of day).
    pub start: DateTime<Utc>,
}

/// One step: if its conditions pass (or it has none), its actions run and no later step is tried.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    /// `None` means "always": a catch-all step.
    pub conditions: Option<ConditionGroup>,
    /// One to [`ACTIONS_PER_STEP_MAX`](super::ACTIONS_PER_STEP_MAX) actions, run top to bottom.
    pub actions: Vec<Action>,
}

/// A condition tree: one condition, or `any` (OR) / `all` (AND) of subtrees.
///
/// Validation refuses empty groups (the API requires 1–20 children), but the evaluator still
/// gives them a meaning: an empty `all` is true and an empty `any` is false, the identities of
/// AND and OR.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionGroup {
    /// A single comparison.
    Condition(Condition),
    /// True when at least one subtree is true.
    Any(Vec<ConditionGroup>),
    /// True when every subtree is true.
    All(Vec<ConditionGroup>),
}

/// `fact operator operand`, e.g. `BALANCE GREATER_THAN 50000`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Condition {
    /// The left-hand side.
    pub fact: Fact,
    /// The comparison.
    pub operator: Operator,
    /// The right-hand side.
    pub operand: Operand,
    /// The account whose balance `BALANCE` reads; `None` means the trigger account.
    pub account_id: Option<AccountId>,
    /// The liability that `NEXT_PAYMENT_MINIMUM_AMOUNT` / `LAST_STATEMENT_BALANCE` read.
    pub value_account_id: Option<AccountId>,
}

/// The right-hand side of a [`Condition`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Operand {
    /// A literal: cents for money facts, a day of month for `DATE`.
    #[serde(rename = "value")]
    Value(i64),
    /// A value computed from the facts.
    #[serde(rename = "value_fact")]
    Fact(ValueFact),
}

/// One transfer a step may plan.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Action {
    /// How the amount is computed.
    #[serde(flatten)]
    pub kind: ActionKind,
    /// Where the money comes from.
    pub source: AccountId,
    /// Where the money goes.
    pub destination: AccountId,
    /// Actions with the same group index in a step share one limit (and its usage).
    pub group_index: u32,
    /// When the source has less than the amount: move what it has instead of failing.
    pub up_to_enabled: bool,
    /// The group's cap. Validation makes the non-null limits of a group equal; an action without
    /// one is still bound by its group's.
    pub limit: Option<TransferCap>,
}

/// How an action computes its amount, with exactly the parameters each type needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionKind {
    /// Exactly `amount` (never overridden by the trigger amount).
    Fixed {
        /// At least 1 cent.
        amount: Cents,
    },
    /// `floor(base × basis_points / 10 000)` where the base is chosen by `target` (the wire's
    /// default is `INCOMING_AMOUNT`).
    Percentage {
        /// `0..=10_000`.
        basis_points: u32,
        /// The base amount.
        target: PercentageTarget,
    },
    /// `max(0, target_balance − destination balance)` (a pod's available balance).
    TopUp {
        /// At least 1 cent.
        target_balance: Cents,
    },
    /// `source available mod multiple`: leaves the source at a multiple of `multiple`.
    RoundDown {
        /// At least 1 cent.
        multiple: Cents,
    },
    /// The destination liability's next payment minimum.
    NextPaymentMinimum,
    /// The destination liability's current balance owed.
    TotalAmountDue,
    /// The destination liability's last statement balance.
    LastStatementBalance,
    /// `floor(balance owed × basis_points / 10 000)` of the destination liability.
    PercentageLiabilityBalance {
        /// `0..=10_000`.
        basis_points: u32,
    },
}

impl ActionKind {
    /// The action's type without parameters.
    pub const fn action_type(&self) -> ActionType {
        match self {
            ActionKind::Fixed { .. } => ActionType::Fixed,
            ActionKind::Percentage { .. } => ActionType::Percentage,
            ActionKind::TopUp { .. } => ActionType::TopUp,
            ActionKind::RoundDown { .. } => ActionType::RoundDown,
            ActionKind::NextPaymentMinimum => ActionType::NextPaymentMinimum,
            ActionKind::TotalAmountDue => ActionType::TotalAmountDue,
            ActionKind::LastStatementBalance => ActionType::LastStatementBalance,
            ActionKind::PercentageLiabilityBalance { .. } => ActionType::PercentageLiabilityBalance,
        }
    }
}

/// A cap on how much an action (or a group of actions) may move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TransferCap {
    /// The window the cap counts over.
    pub period: CapPeriod,
    /// The most that may move in the window (0 or more).
    pub amount: Cents,
}

/// The basis points in 100%.
pub const BASIS_POINTS_MAX: u32 = 10_000;

/// A percentage from the wire could not become basis points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PercentageInvalid {
    /// `NaN` compares false with everything, so it must be refused before any range check.
    #[error("percentage is not a number")]
    NotANumber,
    /// Below 0.
    #[error("percentage must be at least 0")]
    Negative,
    /// Above 100 (including +∞).
    #[error("percentage must be at most 100")]
    AboveHundred,
}

/// Converts a wire percentage (`0.0..=100.0`) into basis points, truncating below 0.01%.
///
/// This is the only float in the rules engine, and it stops here. The value is first rounded to the
/// nearest 0.0001% to undo binary representation error (`33.33` is stored as `33.3299999…`, which
/// plain truncation would turn into 3332), then truncated to whole basis points, so `12.349` is
/// 1234 basis points: a rule never moves more than it says.
pub fn basis_points_from_percentage(percentage: f64) -> Result<u32, PercentageInvalid> {
    if percentage.is_nan() {
        return Err(PercentageInvalid::NotANumber);
    }
    if percentage < 0.0 {
        return Err(PercentageInvalid::Negative);
    }
    if percentage > 100.0 {
        return Err(PercentageInvalid::AboveHundred);
    }
    // In range, so `micro` is within 0..=1_000_000 and the cast is exact.
    let micro = (percentage * 10_000.0).round() as u32;
    let basis_points = micro / 100;
    assert!(basis_points <= BASIS_POINTS_MAX);
    Ok(basis_points)
}

/// Converts basis points back to the wire's percentage (for rendering a stored rule).
pub fn percentage_from_basis_points(basis_points: u32) -> f64 {
    assert!(basis_points <= BASIS_POINTS_MAX);
    f64::from(basis_points) / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_truncate_to_basis_points() {
        // Goal: the wire's float becomes whole basis points, never rounding up.
        assert_eq!(basis_points_from_percentage(20.0), Ok(2_000));
        assert_eq!(basis_points_from_percentage(33.33), Ok(3_333));
        assert_eq!(basis_points_from_percentage(12.349), Ok(1_234));
        assert_eq!(basis_points_from_percentage(0.009), Ok(0));
        assert_eq!(basis_points_from_percentage(0.0), Ok(0));
        assert_eq!(basis_points_from_percentage(100.0), Ok(10_000));
        assert_eq!(basis_points_from_percentage(0.07), Ok(7));
        assert_eq!(basis_points_from_percentage(f64::NAN), Err(PercentageInvalid::NotANumber));
        assert_eq!(basis_points_from_percentage(-0.01), Err(PercentageInvalid::Negative));
        assert_eq!(basis_points_from_percentage(100.001), Err(PercentageInvalid::AboveHundred));
        assert_eq!(
            basis_points_from_percentage(f64::INFINITY),
            Err(PercentageInvalid::AboveHundred)
        );
        assert_eq!(percentage_from_basis_points(3_333), 33.33);
    }

    #[test]
    fn every_basis_point_survives_a_round_trip_through_the_wire() {
        // Goal: rendering a stored rule and reading it back never changes it. Method: all 10 001.
        for basis_points in 0..=BASIS_POINTS_MAX {
            let percentage = percentage_from_basis_points(basis_points);
            assert_eq!(basis_points_from_percentage(percentage), Ok(basis_points));
        }
    }

    #[test]
    fn enums_use_the_api_spellings() {
        // Goal: as_str, FromStr and serde agree, for every value of every enum.
        fn check<T>(all: &[T], as_str: fn(T) -> &'static str)
        where
            T: Copy + fmt::Debug + PartialEq + FromStr<Err = UnknownValue> + serde::Serialize,
        {
            for &value in all {
                let text = as_str(value);
                assert_eq!(text.parse::<T>(), Ok(value));
                assert_eq!(serde_json::to_value(value).unwrap(), serde_json::json!(text));
            }
        }
        check(RuleStatus::ALL, RuleStatus::as_str);
        check(TriggerKind::ALL, TriggerKind::as_str);
        check(ScheduleKind::ALL, ScheduleKind::as_str);
        check(Fact::ALL, Fact::as_str);
        check(Operator::ALL, Operator::as_str);
        check(ValueFact::ALL, ValueFact::as_str);
        check(PercentageTarget::ALL, PercentageTarget::as_str);
        check(CapPeriod::ALL, CapPeriod::as_str);
        check(ActionType::ALL, ActionType::as_str);

        assert_eq!(TriggerKind::OnFundsTransferred.as_str(), "ON_FUNDS_TRANSFERRED");
        assert_eq!(ScheduleKind::OneTime.as_str(), "ONE_TIME");
        assert_eq!(CapPeriod::PerWeek.as_str(), "PER_WEEK");
        assert_eq!(ActionType::PercentageLiabilityBalance.as_str(), "PERCENTAGE_LIABILITY_BALANCE");
        assert_eq!(PercentageTarget::IncomingAmount.as_str(), "INCOMING_AMOUNT");
        assert_eq!(Operator::GreaterThanOrEqual.as_str(), "GREATER_THAN_OR_EQUAL");
        assert_eq!(ValueFact::LastDayOfMonth.as_str(), "LAST_DAY_OF_MONTH");
        assert_eq!(RuleStatus::Enabled.as_str(), "enabled");
        assert_eq!(
            "enabled ".parse::<RuleStatus>(),
            Err(UnknownValue { kind: "RuleStatus", value: "enabled ".to_owned() })
        );
    }

    #[test]
    fn action_kind_type_matches_its_serde_tag() {
        // Goal: the storage tag of each action kind is its API type string.
        let kinds = [
            ActionKind::Fixed { amount: Cents::new(1) },
            ActionKind::Percentage { basis_points: 1, target: PercentageTarget::SourceAccount },
            ActionKind::TopUp { target_balance: Cents::new(1) },
            ActionKind::RoundDown { multiple: Cents::new(1) },
            ActionKind::NextPaymentMinimum,
            ActionKind::TotalAmountDue,
            ActionKind::LastStatementBalance,
            ActionKind::PercentageLiabilityBalance { basis_points: 1 },
        ];
        assert_eq!(kinds.len(), ActionType::ALL.len());
        for kind in kinds {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json["type"], kind.action_type().as_str());
            assert_eq!(serde_json::from_value::<ActionKind>(json).unwrap(), kind);
        }
    }
}

api_enum! {
    /// How a run started (the API's `RuleExecutionTriggerType`).
    ExecutionTrigger {
        /// `triggerRule`.
        Manual => "manual",
        /// A scheduled occurrence.
        Scheduled => "scheduled",
        /// Money arrived in the trigger account.
        OnFundsTransferred => "on_funds_transferred",
    }
}

api_enum! {
    /// Where a run stands (the API's `RuleExecutionStatus`); decided by
    /// [`execution_status`](super::execution::execution_status).
    ExecutionStatus {
        /// Transfers are still in flight.
        InProgress => "in_progress",
        /// Every transfer completed, or there was nothing to do.
        Executed => "executed",
        /// Some transfers completed and some failed.
        Partial => "partial",
        /// Every transfer failed, or an error stopped the run before anything completed.
        Failed => "failed",
    }
}

api_enum! {
    /// The bucket a rule transfer is counted in; decided by
    /// [`outcome_of`](super::execution::outcome_of).
    TransferOutcome {
        /// Still in flight (`pending_approval`, `processing`, `pending`).
        Pending => "pending",
        /// `complete`.
        Completed => "completed",
        /// `error` or `cancelled`.
        Failed => "failed",
    }
}
