//! The unvalidated rule: what a client sent, shaped like the wire, before it becomes a [`Rule`].
//!
//! The wire (`RuleInput` in `openapi.yaml`) is looser than the model: a trigger has two nullable
//! schedule fields, a condition group has three nullable members of which exactly one must be
//! set, a condition has two nullable right-hand sides (`value`, `value_fact`), an action has one
//! bag of optional parameters (`amount_in_cents`, `percentage_value`, `percentage_target`) whose
//! meaning depends on its `type`, and a percentage is a float. A [`RuleDraft`] keeps exactly that
//! looseness, so the server's conversion is a field-for-field copy (after applying the schema's
//! defaults: `group_index` 0, `up_to_enabled` false) and *every* semantic check lives in
//! [`validate_rule`](super::validate_rule), which reports it with the wire's field path
//! (`steps[0].actions[1].percentage_value`).
//!
//! One flattening: the wire nests a condition's accounts in `params` (`params.account_id`,
//! `params.value_account_id`); the draft holds them directly, and error paths put `params.` back.
//!
//! `RuleDraft::from(&rule)` goes the other way, so the server can render a stored rule through the
//! same shape, and validating that draft gives the rule back (tested in `validate_tests.rs`).

use chrono::{DateTime, Utc};

use crate::ids::AccountId;
use crate::money::Cents;

use super::model::{
    Action, ActionKind, ActionType, Condition, ConditionGroup, Fact, Operand, Operator,
    PercentageTarget, Rule, RuleStatus, ScheduleKind, Step, TransferCap, Trigger, TriggerKind,
    ValueFact, percentage_from_basis_points,
};

/// A rule as received on create or update (no id yet: the server supplies one).
#[derive(Clone, Debug, PartialEq)]
pub struct RuleDraft {
    /// The name people see.
    pub nickname: String,
    /// Free text.
    pub description: Option<String>,
    /// The status to store (the API only accepts `disabled`; the server decides).
    pub status: RuleStatus,
    /// What makes the rule run.
    pub trigger: TriggerDraft,
    /// The steps.
    pub steps: Vec<StepDraft>,
}

/// A trigger as received (`RuleTrigger`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggerDraft {
    /// The wire's `type`.
    pub kind: TriggerKind,
    /// The trigger account.
    pub account_id: Option<AccountId>,
    /// `SCHEDULED` only, required there.
    pub schedule_type: Option<ScheduleKind>,
    /// `SCHEDULED` only, required there.
    pub start_date: Option<DateTime<Utc>>,
}

/// A step as received (`RuleStep`).
#[derive(Clone, Debug, PartialEq)]
pub struct StepDraft {
    /// The condition tree; `None` is a catch-all.
    pub conditions: Option<ConditionGroupDraft>,
    /// The actions.
    pub actions: Vec<ActionDraft>,
}

/// A condition tree node as received (`RuleConditionGroup`): exactly one member should be set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConditionGroupDraft {
    /// A single test.
    pub condition: Option<ConditionDraft>,
    /// OR of the children.
    pub any: Option<Vec<ConditionGroupDraft>>,
    /// AND of the children.
    pub all: Option<Vec<ConditionGroupDraft>>,
}

/// A condition as received (`RuleCondition`): exactly one of `value` and `value_fact` should be set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionDraft {
    /// The left-hand side.
    pub fact: Fact,
    /// The comparison.
    pub operator: Operator,
    /// A literal right-hand side.
    pub value: Option<i64>,
    /// A computed right-hand side.
    pub value_fact: Option<ValueFact>,
    /// The wire's `params.account_id`: the `BALANCE` account (default: the trigger account).
    pub account_id: Option<AccountId>,
    /// The wire's `params.value_account_id`: the liability read by liability value facts.
    pub value_account_id: Option<AccountId>,
}

/// An action as received (`RuleAction`): which optional parameters must be set depends on
/// `action_type`.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionDraft {
    /// The wire's `type`.
    pub action_type: ActionType,
    /// Where the money comes from.
    pub source_account_id: AccountId,
    /// Where the money goes.
    pub destination_account_id: AccountId,
    /// Actions with the same group index in a step share one limit.
    pub group_index: u32,
    /// Move what the source has instead of failing.
    pub up_to_enabled: bool,
    /// The group's cap.
    pub limit: Option<TransferCap>,
    /// `FIXED`: the amount; `TOP_UP`: the target balance; `ROUND_DOWN`: the multiple.
    pub amount_in_cents: Option<Cents>,
    /// `PERCENTAGE`, `PERCENTAGE_LIABILITY_BALANCE`: 0 to 100, truncated to 0.01.
    pub percentage_value: Option<f64>,
    /// `PERCENTAGE` only: what the percentage is of (default `INCOMING_AMOUNT`).
    pub percentage_target: Option<PercentageTarget>,
}

impl From<&Rule> for RuleDraft {
    fn from(rule: &Rule) -> Self {
        RuleDraft {
            nickname: rule.nickname.clone(),
            description: rule.description.clone(),
            status: rule.status,
            trigger: TriggerDraft::from(&rule.trigger),
            steps: rule.steps.iter().map(StepDraft::from).collect(),
        }
    }
}

impl From<&Trigger> for TriggerDraft {
    fn from(trigger: &Trigger) -> Self {
        TriggerDraft {
            kind: trigger.kind,
            account_id: trigger.account_id.clone(),
            schedule_type: trigger.schedule.map(|schedule| schedule.kind),
            start_date: trigger.schedule.map(|schedule| schedule.start),
        }
    }
}

impl From<&Step> for StepDraft {
    fn from(step: &Step) -> Self {
        StepDraft {
            conditions: step.conditions.as_ref().map(ConditionGroupDraft::from),
            actions: step.actions.iter().map(ActionDraft::from).collect(),
        }
    }
}

impl From<&ConditionGroup> for ConditionGroupDraft {
    fn from(group: &ConditionGroup) -> Self {
        let members =
            |items: &[ConditionGroup]| items.iter().map(ConditionGroupDraft::from).collect();
        match group {
            ConditionGroup::Condition(condition) => ConditionGroupDraft {
                condition: Some(ConditionDraft::from(condition)),
                ..ConditionGroupDraft::default()
            },
            ConditionGroup::Any(items) => {
                ConditionGroupDraft { any: Some(members(items)), ..ConditionGroupDraft::default() }
            }
            ConditionGroup::All(items) => {
                ConditionGroupDraft { all: Some(members(items)), ..ConditionGroupDraft::default() }
            }
        }
    }
}

impl From<&Condition> for ConditionDraft {
    fn from(condition: &Condition) -> Self {
        let (value, value_fact) = match condition.operand {
            Operand::Value(value) => (Some(value), None),
            Operand::Fact(value_fact) => (None, Some(value_fact)),
        };
        ConditionDraft {
            fact: condition.fact,
            operator: condition.operator,
            value,
            value_fact,
            account_id: condition.account_id.clone(),
            value_account_id: condition.value_account_id.clone(),
        }
    }
}

impl From<&Action> for ActionDraft {
    fn from(action: &Action) -> Self {
        let mut draft = ActionDraft {
            action_type: action.kind.action_type(),
            source_account_id: action.source.clone(),
            destination_account_id: action.destination.clone(),
            group_index: action.group_index,
            up_to_enabled: action.up_to_enabled,
            limit: action.limit,
            amount_in_cents: None,
            percentage_value: None,
            percentage_target: None,
        };
        match action.kind {
            ActionKind::Fixed { amount: cents }
            | ActionKind::TopUp { target_balance: cents }
            | ActionKind::RoundDown { multiple: cents } => draft.amount_in_cents = Some(cents),
            ActionKind::Percentage { basis_points, target } => {
                draft.percentage_value = Some(percentage_from_basis_points(basis_points));
                draft.percentage_target = Some(target);
            }
            ActionKind::PercentageLiabilityBalance { basis_points } => {
                draft.percentage_value = Some(percentage_from_basis_points(basis_points));
            }
            ActionKind::NextPaymentMinimum
            | ActionKind::TotalAmountDue
            | ActionKind::LastStatementBalance => {}
        }
        draft
    }
}
