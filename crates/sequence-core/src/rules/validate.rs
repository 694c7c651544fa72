//! Validating a rule: [`RuleDraft`] in, [`Rule`] or the first problem out.
//!
//! Validation parses rather than checks: the result is the strict model, so the evaluator never
//! meets a `TOP_UP` without a target or a condition with two right-hand sides. It implements the
//! semantic rules of `RuleInput` in `openapi.yaml` (the `400 invalid_rule` checks; the server's
//! schema validation has already refused wrong types and unknown fields).
//!
//! Problems are reported one at a time, **the first in document order** (the trigger, then each
//! step's conditions and actions, each field in wire order), so a client fixing errors one by one
//! sees a stable sequence and tests can pin each case (TigerBeetle's fixed result precedence).
//! Each problem names its field by its path in the wire body, e.g.
//! `steps[2].conditions.all[0].condition.params.value_account_id`; [`RuleInvalid`] displays as
//! `path: message`, the API's `invalid_rule` message format.
//!
//! What needs the outside world comes in as functions, so validation stays pure:
//! - `accounts` answers the kind of an account of the organization, or `None` when it is unknown or
//!   deleted (both are "unknown account" to the client);
//! - `on_funds_rule_exists` answers whether *another* non-deleted `ON_FUNDS_TRANSFERRED` rule
//!   already watches an account (the caller excludes the rule being updated), because the API
//!   allows one such rule per account.
//!
//! Beyond the API's table of rules, validation also refuses what the evaluator could only ever
//! answer with "condition not met": a `BALANCE` condition with no account at all (no
//! `params.account_id` and no trigger account), a `value_account_id` that nothing reads, an
//! `account_id` on a fact other than `BALANCE`, and comparisons of days with amounts.
//!
//! Limits ([`STEPS_MAX`], [`ACTIONS_PER_STEP_MAX`], [`CONDITION_DEPTH_MAX`],
//! [`CONDITIONS_PER_GROUP_MAX`]) bound the evaluator's work and its recursion depth.

use std::collections::BTreeMap;

use crate::ids::{AccountId, RuleId};
use crate::ledger::{AccountKind, ExternalAccountType};
use crate::money::Cents;

use super::draft::{
    ActionDraft, ConditionDraft, ConditionGroupDraft, RuleDraft, StepDraft, TriggerDraft,
};
use super::model::{
    Action, ActionKind, ActionType, Condition, ConditionGroup, Fact, Operand, PercentageTarget,
    Rule, Schedule, Step, TransferCap, Trigger, TriggerKind, ValueFact,
    basis_points_from_percentage,
};

/// The most steps a rule may have.
pub const STEPS_MAX: usize = 20;
/// The most actions a step may have.
pub const ACTIONS_PER_STEP_MAX: usize = 20;
/// The most levels of condition groups, counting the root group and the `{condition}` leaf: the
/// API's "groups nest up to 5 levels deep", so at most four `any`/`all` around a condition.
pub const CONDITION_DEPTH_MAX: usize = 5;
/// The most children an `any` or `all` group may have (and it needs at least one).
pub const CONDITIONS_PER_GROUP_MAX: usize = 20;

/// The first problem found in a rule draft.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct RuleInvalid {
    /// Where, in wire field names, e.g. `steps[0].actions[1].percentage_value`.
    pub path: String,
    /// What is wrong, in a sentence meant for the API client.
    pub message: String,
}

fn invalid<T>(path: impl Into<String>, message: impl Into<String>) -> Result<T, RuleInvalid> {
    Err(RuleInvalid { path: path.into(), message: message.into() })
}

/// Validates `draft` against the organization's accounts and turns it into the rule `id`.
pub fn validate_rule(
    id: RuleId,
    draft: &RuleDraft,
    accounts: impl Fn(&AccountId) -> Option<AccountKind>,
    on_funds_rule_exists: impl Fn(&AccountId) -> bool,
) -> Result<Rule, RuleInvalid> {
    let validator =
        Validator { accounts: &accounts, trigger_account: draft.trigger.account_id.as_ref() };
    let trigger = validator.trigger(&draft.trigger, &on_funds_rule_exists)?;
    if draft.steps.is_empty() {
        return invalid("steps", "a rule needs at least one step");
    }
    if draft.steps.len() > STEPS_MAX {
        return invalid("steps", format!("a rule has at most {STEPS_MAX} steps"));
    }
    let steps = draft
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| validator.step(&format!("steps[{index}]"), step))
        .collect::<Result<Vec<Step>, RuleInvalid>>()?;
    assert_eq!(steps.len(), draft.steps.len());
    assert!(steps.iter().all(|step| !step.actions.is_empty()));
    Ok(Rule {
        id,
        nickname: draft.nickname.clone(),
        description: draft.description.clone(),
        status: draft.status,
        trigger,
        steps,
    })
}

struct Validator<'a> {
    accounts: &'a dyn Fn(&AccountId) -> Option<AccountKind>,
    trigger_account: Option<&'a AccountId>,
}

impl Validator<'_> {
    fn account(&self, path: &str, id: &AccountId) -> Result<AccountKind, RuleInvalid> {
        match (self.accounts)(id) {
            Some(kind) => Ok(kind),
            None => invalid(path, format!("unknown account `{id}`")),
        }
    }

    fn trigger(
        &self,
        trigger: &TriggerDraft,
        on_funds_rule_exists: &dyn Fn(&AccountId) -> bool,
    ) -> Result<Trigger, RuleInvalid> {
        let path = "trigger.account_id";
        match (trigger.kind, &trigger.account_id) {
            (TriggerKind::OnFundsTransferred, None) => {
                return invalid(path, "an ON_FUNDS_TRANSFERRED trigger needs an account_id");
            }
            (TriggerKind::OnFundsTransferred, Some(id)) => {
                let kind = self.account(path, id)?;
                if !matches!(kind, AccountKind::IncomeSource | AccountKind::Pod) {
                    let message = format!(
                        "ON_FUNDS_TRANSFERRED watches an income source or a pod, not {kind}"
                    );
                    return invalid(path, message);
                }
                if on_funds_rule_exists(id) {
                    let message = "this account already has an ON_FUNDS_TRANSFERRED rule; \
                                   edit that rule instead";
                    return invalid(path, message);
                }
            }
            (TriggerKind::Scheduled | TriggerKind::Manual, Some(id)) => {
                self.account(path, id)?;
            }
            (TriggerKind::Scheduled | TriggerKind::Manual, None) => {}
        }
        let schedule = match (trigger.kind, trigger.schedule_type, trigger.start_date) {
            (TriggerKind::Scheduled, Some(kind), Some(start)) => Some(Schedule { kind, start }),
            (TriggerKind::Scheduled, None, _) => {
                return invalid(
                    "trigger.schedule_type",
                    "a SCHEDULED trigger needs a schedule_type",
                );
            }
            (TriggerKind::Scheduled, Some(_), None) => {
                return invalid("trigger.start_date", "a SCHEDULED trigger needs a start_date");
            }
            (TriggerKind::OnFundsTransferred | TriggerKind::Manual, schedule_type, start_date) => {
                let message =
                    format!("only SCHEDULED triggers have a schedule, not {}", trigger.kind);
                if schedule_type.is_some() {
                    return invalid("trigger.schedule_type", message);
                }
                if start_date.is_some() {
                    return invalid("trigger.start_date", message);
                }
                None
            }
        };
        Ok(Trigger { kind: trigger.kind, account_id: trigger.account_id.clone(), schedule })
    }

    fn step(&self, path: &str, step: &StepDraft) -> Result<Step, RuleInvalid> {
        let conditions = match &step.conditions {
            None => None,
            Some(group) => Some(self.group(format!("{path}.conditions"), group, 1)?),
        };
        if step.actions.is_empty() {
            return invalid(format!("{path}.actions"), "a step needs at least one action");
        }
        if step.actions.len() > ACTIONS_PER_STEP_MAX {
            let message = format!("a step has at most {ACTIONS_PER_STEP_MAX} actions");
            return invalid(format!("{path}.actions"), message);
        }
        let mut group_limits: BTreeMap<u32, (usize, TransferCap)> = BTreeMap::new();
        let mut actions = Vec::with_capacity(step.actions.len());
        for (index, draft) in step.actions.iter().enumerate() {
            let action_path = format!("{path}.actions[{index}]");
            let action = self.action(&action_path, draft)?;
            if let Some(limit) = action.limit {
                match group_limits.get(&action.group_index) {
                    None => {
                        group_limits.insert(action.group_index, (index, limit));
                    }
                    Some(&(first, group_limit)) if group_limit != limit => {
                        let message = format!(
                            "actions of group {} share one limit; this one differs from \
                             {path}.actions[{first}].limit",
                            action.group_index
                        );
                        return invalid(format!("{action_path}.limit"), message);
                    }
                    Some(_) => {}
                }
            }
            actions.push(action);
        }
        Ok(Step { conditions, actions })
    }

    /// `depth` counts the group levels down to and including `group` (the root is level 1).
    fn group(
        &self,
        path: String,
        group: &ConditionGroupDraft,
        depth: usize,
    ) -> Result<ConditionGroup, RuleInvalid> {
        assert!(depth >= 1);
        if depth > CONDITION_DEPTH_MAX {
            let message =
                format!("condition groups nest at most {CONDITION_DEPTH_MAX} levels deep");
            return invalid(path, message);
        }
        let (members, name) = match (&group.condition, &group.any, &group.all) {
            (Some(condition), None, None) => {
                let condition = self.condition(&format!("{path}.condition"), condition)?;
                return Ok(ConditionGroup::Condition(condition));
            }
            (None, Some(members), None) => (members, "any"),
            (None, None, Some(members)) => (members, "all"),
            _ => return invalid(path, "set exactly one of condition, any and all"),
        };
        if members.is_empty() || members.len() > CONDITIONS_PER_GROUP_MAX {
            let message = format!("{name} holds 1 to {CONDITIONS_PER_GROUP_MAX} groups");
            return invalid(format!("{path}.{name}"), message);
        }
        let members = members
            .iter()
            .enumerate()
            .map(|(index, member)| self.group(format!("{path}.{name}[{index}]"), member, depth + 1))
            .collect::<Result<Vec<ConditionGroup>, RuleInvalid>>()?;
        Ok(if name == "any" { ConditionGroup::Any(members) } else { ConditionGroup::All(members) })
    }

    fn condition(&self, path: &str, draft: &ConditionDraft) -> Result<Condition, RuleInvalid> {
        let operand = match (draft.value, draft.value_fact) {
            (Some(value), None) => Operand::Value(value),
            (None, Some(value_fact)) => Operand::Fact(value_fact),
            (Some(_), Some(_)) => {
                return invalid(format!("{path}.value_fact"), "set value or value_fact, not both");
            }
            (None, None) => return invalid(format!("{path}.value"), "set value or value_fact"),
        };
        self.condition_operand(path, draft.fact, operand)?;
        self.condition_account(path, draft)?;
        self.condition_value_account(path, operand, draft.value_account_id.as_ref())?;
        Ok(Condition {
            fact: draft.fact,
            operator: draft.operator,
            operand,
            account_id: draft.account_id.clone(),
            value_account_id: draft.value_account_id.clone(),
        })
    }

    /// `DATE` compares days with days; the other facts compare cents with cents.
    fn condition_operand(
        &self,
        path: &str,
        fact: Fact,
        operand: Operand,
    ) -> Result<(), RuleInvalid> {
        match (fact, operand) {
            (Fact::Date, Operand::Value(day)) if !(1..=31).contains(&day) => {
                invalid(format!("{path}.value"), "DATE compares with a day of the month, 1 to 31")
            }
            (Fact::Date, Operand::Fact(value_fact)) if value_fact.needs_liability() => {
                let message = format!("DATE is a day of the month but {value_fact} is an amount");
                invalid(format!("{path}.value_fact"), message)
            }
            (Fact::TransferAmount | Fact::Balance, Operand::Fact(ValueFact::LastDayOfMonth)) => {
                let message = format!("{fact} is an amount but LAST_DAY_OF_MONTH is a day");
                invalid(format!("{path}.value_fact"), message)
            }
            _ => Ok(()),
        }
    }

    /// `params.account_id` is the `BALANCE` account; it defaults to the trigger account, if any.
    fn condition_account(&self, path: &str, draft: &ConditionDraft) -> Result<(), RuleInvalid> {
        let path = format!("{path}.params.account_id");
        match (draft.fact, &draft.account_id) {
            (Fact::Balance, Some(id)) => self.account(&path, id).map(|_| ()),
            (Fact::Balance, None) if self.trigger_account.is_none() => {
                invalid(path, "BALANCE needs an account_id when the trigger has no account")
            }
            (Fact::TransferAmount | Fact::Date, Some(_)) => {
                invalid(path, format!("account_id applies to BALANCE only, not {}", draft.fact))
            }
            _ => Ok(()),
        }
    }

    /// `params.value_account_id` is the liability a liability value fact reads, and nothing else.
    fn condition_value_account(
        &self,
        path: &str,
        operand: Operand,
        value_account_id: Option<&AccountId>,
    ) -> Result<(), RuleInvalid> {
        let path = format!("{path}.params.value_account_id");
        let value_fact = match operand {
            Operand::Fact(value_fact) if value_fact.needs_liability() => value_fact,
            _ => {
                return match value_account_id {
                    None => Ok(()),
                    Some(_) => invalid(
                        path,
                        "value_account_id applies to NEXT_PAYMENT_MINIMUM_AMOUNT and \
                         LAST_STATEMENT_BALANCE only",
                    ),
                };
            }
        };
        let Some(id) = value_account_id else {
            return invalid(
                path,
                format!("{value_fact} needs the value_account_id of a liability"),
            );
        };
        let kind = self.account(&path, id)?;
        if kind != AccountKind::External(ExternalAccountType::Liability) {
            let message = format!("{value_fact} reads a liability, not {kind}");
            return invalid(path, message);
        }
        Ok(())
    }

    fn action(&self, path: &str, draft: &ActionDraft) -> Result<Action, RuleInvalid> {
        let source_path = format!("{path}.source_account_id");
        let source = self.account(&source_path, &draft.source_account_id)?;
        if !source.can_be_source() {
            return invalid(source_path, format!("{source} cannot be a source"));
        }
        let destination_path = format!("{path}.destination_account_id");
        let destination = self.account(&destination_path, &draft.destination_account_id)?;
        if !destination.can_be_destination() {
            return invalid(destination_path, format!("{destination} cannot be a destination"));
        }
        if draft.source_account_id == draft.destination_account_id {
            return invalid(destination_path, "source and destination must differ");
        }
        let liability = AccountKind::External(ExternalAccountType::Liability);
        if draft.action_type.pays_liability() && destination != liability {
            let message = format!("{} pays a liability, not {destination}", draft.action_type);
            return invalid(destination_path, message);
        }
        let kind = action_kind(path, draft)?;
        if let Some(cap) = draft.limit
            && cap.amount < Cents::ZERO
        {
            return invalid(format!("{path}.limit.amount_in_cents"), "a cap cannot be negative");
        }
        assert_eq!(kind.action_type(), draft.action_type);
        Ok(Action {
            kind,
            source: draft.source_account_id.clone(),
            destination: draft.destination_account_id.clone(),
            group_index: draft.group_index,
            up_to_enabled: draft.up_to_enabled,
            limit: draft.limit,
        })
    }
}

/// The action's parameters: the ones its type needs must be present and valid, the others absent
/// (a stray `percentage_value` on a `FIXED` action is a client mistake worth reporting, not
/// something to ignore silently).
fn action_kind(path: &str, draft: &ActionDraft) -> Result<ActionKind, RuleInvalid> {
    use Parameter::{AmountInCents, PercentageValue};
    let parameters = Parameters { path, draft };
    let kind = match draft.action_type {
        ActionType::Fixed => {
            parameters.refuse(&[PercentageValue, Parameter::PercentageTarget])?;
            ActionKind::Fixed { amount: parameters.amount("the amount")? }
        }
        ActionType::TopUp => {
            parameters.refuse(&[PercentageValue, Parameter::PercentageTarget])?;
            ActionKind::TopUp { target_balance: parameters.amount("the target balance")? }
        }
        ActionType::RoundDown => {
            parameters.refuse(&[PercentageValue, Parameter::PercentageTarget])?;
            ActionKind::RoundDown { multiple: parameters.amount("the multiple")? }
        }
        ActionType::Percentage => {
            parameters.refuse(&[AmountInCents])?;
            let basis_points = parameters.basis_points()?;
            // The wire's default base is the incoming amount.
            let target = draft.percentage_target.unwrap_or(PercentageTarget::IncomingAmount);
            ActionKind::Percentage { basis_points, target }
        }
        ActionType::PercentageLiabilityBalance => {
            parameters.refuse(&[AmountInCents, Parameter::PercentageTarget])?;
            ActionKind::PercentageLiabilityBalance { basis_points: parameters.basis_points()? }
        }
        ActionType::NextPaymentMinimum => {
            parameters.refuse(&[AmountInCents, PercentageValue, Parameter::PercentageTarget])?;
            ActionKind::NextPaymentMinimum
        }
        ActionType::TotalAmountDue => {
            parameters.refuse(&[AmountInCents, PercentageValue, Parameter::PercentageTarget])?;
            ActionKind::TotalAmountDue
        }
        ActionType::LastStatementBalance => {
            parameters.refuse(&[AmountInCents, PercentageValue, Parameter::PercentageTarget])?;
            ActionKind::LastStatementBalance
        }
    };
    Ok(kind)
}

/// The optional, type-dependent parameters of an [`ActionDraft`], in declaration order.
#[derive(Clone, Copy)]
enum Parameter {
    AmountInCents,
    PercentageValue,
    PercentageTarget,
}

impl Parameter {
    fn name(self) -> &'static str {
        match self {
            Parameter::AmountInCents => "amount_in_cents",
            Parameter::PercentageValue => "percentage_value",
            Parameter::PercentageTarget => "percentage_target",
        }
    }
}

/// Reads one action draft's parameters, reporting problems at `path`.
struct Parameters<'a> {
    path: &'a str,
    draft: &'a ActionDraft,
}

impl Parameters<'_> {
    fn problem<T>(&self, parameter: Parameter, message: String) -> Result<T, RuleInvalid> {
        invalid(format!("{}.{}", self.path, parameter.name()), message)
    }

    /// Refuses any of `unused` that is present.
    fn refuse(&self, unused: &[Parameter]) -> Result<(), RuleInvalid> {
        for &parameter in unused {
            let present = match parameter {
                Parameter::AmountInCents => self.draft.amount_in_cents.is_some(),
                Parameter::PercentageValue => self.draft.percentage_value.is_some(),
                Parameter::PercentageTarget => self.draft.percentage_target.is_some(),
            };
            if present {
                let message =
                    format!("{} does not apply to {}", parameter.name(), self.draft.action_type);
                return self.problem(parameter, message);
            }
        }
        Ok(())
    }

    /// `amount_in_cents`, required and at least 1 cent; `meaning` says what it is for this type.
    fn amount(&self, meaning: &str) -> Result<Cents, RuleInvalid> {
        let action_type = self.draft.action_type;
        match self.draft.amount_in_cents {
            None => {
                let message = format!("{action_type} needs amount_in_cents ({meaning})");
                self.problem(Parameter::AmountInCents, message)
            }
            Some(amount) if amount < Cents::new(1) => {
                self.problem(Parameter::AmountInCents, "amount_in_cents must be at least 1".into())
            }
            Some(amount) => Ok(amount),
        }
    }

    /// `percentage_value`, required, converted to basis points.
    fn basis_points(&self) -> Result<u32, RuleInvalid> {
        match self.draft.percentage_value {
            None => {
                let message = format!("{} needs percentage_value", self.draft.action_type);
                self.problem(Parameter::PercentageValue, message)
            }
            Some(percentage) => basis_points_from_percentage(percentage)
                .or_else(|problem| self.problem(Parameter::PercentageValue, problem.to_string())),
        }
    }
}
