//! Rules on the wire ↔ rules in the domain. The only place that knows both shapes.
//!
//! Incoming bodies (`RuleInput`) are copied field for field into a [`RuleDraft`]: the core's
//! draft is deliberately as loose as the wire, so this copy never decides anything and every
//! semantic check lives in `sequence_core::rules::validate_rule`, which names the offending field
//! by its wire path. Outgoing rules go the other way through `RuleDraft::from(&Rule)`, so a stored
//! rule renders exactly as a client would have to send it (validating the rendering gives the rule
//! back; the core tests that round trip).
//!
//! Executions render from the store's record plus the transfer ids, in action order.

use std::num::NonZeroU64;

use sequence_api::types;
use sequence_core::ids::{AccountId, TransferId};
use sequence_core::money::Cents;
use sequence_core::rules::{
    ActionDraft, ConditionDraft, ConditionGroupDraft, Rule, RuleDraft, RuleStatus, StepDraft,
    TransferCap, TriggerDraft,
};
use sequence_store::accounts::AccountRecord;
use sequence_store::rules::{ExecutionRecord, RuleRecord};

use crate::convert::{Twin, account_type, wire};
use crate::error::ApiError;

/// The draft of a create or update body. Rules arriving through the API are always `disabled`.
pub(crate) fn draft_from_input(input: &types::RuleInput) -> Result<RuleDraft, ApiError> {
    let steps = input
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| step_draft(&format!("steps[{index}]"), step))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RuleDraft {
        nickname: input.nickname.to_string(),
        description: input.description.as_ref().map(|text| text.as_str().to_owned()),
        status: RuleStatus::Disabled,
        trigger: TriggerDraft {
            kind: input.trigger.type_.twin(),
            account_id: input
                .trigger
                .account_id
                .as_ref()
                .map(|id| AccountId::from_raw(id.as_str())),
            schedule_type: input.trigger.schedule_type.map(Twin::twin),
            start_date: input.trigger.start_date,
        },
        steps,
    })
}

fn step_draft(path: &str, step: &types::RuleStep) -> Result<StepDraft, ApiError> {
    let actions = step
        .actions
        .iter()
        .enumerate()
        .map(|(index, action)| action_draft(&format!("{path}.actions[{index}]"), action))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StepDraft { conditions: step.conditions.as_ref().map(group_draft).transpose()?, actions })
}

fn group_draft(group: &types::RuleConditionGroup) -> Result<ConditionGroupDraft, ApiError> {
    // The wire leaves an absent `any`/`all` as an empty list; the schema's `minItems: 1` has
    // already refused a present empty one, so empty means absent.
    let members = |items: &[types::RuleConditionGroup]| -> Result<Option<Vec<ConditionGroupDraft>>, ApiError> {
        if items.is_empty() { Ok(None) } else { items.iter().map(group_draft).collect::<Result<_, _>>().map(Some) }
    };
    Ok(ConditionGroupDraft {
        condition: group.condition.as_ref().map(condition_draft).transpose()?,
        any: members(&group.any)?,
        all: members(&group.all)?,
    })
}

fn condition_draft(condition: &types::RuleCondition) -> Result<ConditionDraft, ApiError> {
    let params = condition.params.as_ref();
    Ok(ConditionDraft {
        fact: condition.fact.twin(),
        operator: condition.operator.twin(),
        value: condition.value,
        value_fact: condition.value_fact.map(Twin::twin),
        account_id: params
            .and_then(|p| p.account_id.as_ref())
            .map(|id| AccountId::from_raw(id.as_str())),
        value_account_id: params
            .and_then(|p| p.value_account_id.as_ref())
            .map(|id| AccountId::from_raw(id.as_str())),
    })
}

fn action_draft(path: &str, action: &types::RuleAction) -> Result<ActionDraft, ApiError> {
    let amount_in_cents = action
        .amount_in_cents
        .map(|amount| {
            i64::try_from(amount.get()).map(Cents::new).map_err(|_| {
                ApiError::invalid(format!("{path}.amount_in_cents: must be at most {}", i64::MAX))
            })
        })
        .transpose()?;
    let group_index = u32::try_from(action.group_index)
        .map_err(|_| ApiError::invalid(format!("{path}.group_index: must be at least 0")))?;
    let limit = action
        .limit
        .as_ref()
        .map(|cap| {
            Ok::<_, ApiError>(TransferCap {
                period: cap.period.twin(),
                amount: Cents::new(cap.amount_in_cents),
            })
        })
        .transpose()?;
    Ok(ActionDraft {
        action_type: action.type_.twin(),
        source_account_id: AccountId::from_raw(action.source_account_id.as_str()),
        destination_account_id: AccountId::from_raw(action.destination_account_id.as_str()),
        group_index,
        up_to_enabled: action.up_to_enabled,
        limit,
        amount_in_cents,
        percentage_value: action.percentage_value,
        percentage_target: action.percentage_target.map(Twin::twin),
    })
}

/// The full rule as the API shows it.
pub(crate) fn rule(record: &RuleRecord) -> Result<types::Rule, ApiError> {
    let draft = RuleDraft::from(&record.rule);
    let trigger = &draft.trigger;
    Ok(types::Rule {
        id: wire(record.rule.id.as_str())?,
        nickname: draft.nickname.clone(),
        description: draft.description.clone(),
        status: draft.status.twin(),
        trigger: types::RuleTrigger {
            type_: trigger.kind.twin(),
            account_id: trigger.account_id.as_ref().map(|id| wire(id.as_str())).transpose()?,
            schedule_type: trigger.schedule_type.map(Twin::twin),
            start_date: trigger.start_date,
        },
        steps: draft.steps.iter().map(wire_step).collect::<Result<_, _>>()?,
        created_at: record.created_at,
        updated_at: record.updated_at,
    })
}

fn wire_step(step: &StepDraft) -> Result<types::RuleStep, ApiError> {
    Ok(types::RuleStep {
        conditions: step.conditions.as_ref().map(wire_group).transpose()?,
        actions: step.actions.iter().map(wire_action).collect::<Result<_, _>>()?,
    })
}

fn wire_group(group: &ConditionGroupDraft) -> Result<types::RuleConditionGroup, ApiError> {
    let members = |items: &Option<Vec<ConditionGroupDraft>>| -> Result<Vec<types::RuleConditionGroup>, ApiError> {
        items.iter().flatten().map(wire_group).collect()
    };
    Ok(types::RuleConditionGroup {
        condition: group.condition.as_ref().map(wire_condition).transpose()?,
        any: members(&group.any)?,
        all: members(&group.all)?,
    })
}

fn wire_condition(condition: &ConditionDraft) -> Result<types::RuleCondition, ApiError> {
    let params = if condition.account_id.is_none() && condition.value_account_id.is_none() {
        None
    } else {
        Some(types::RuleConditionParams {
            account_id: condition.account_id.as_ref().map(|id| wire(id.as_str())).transpose()?,
            value_account_id: condition
                .value_account_id
                .as_ref()
                .map(|id| wire(id.as_str()))
                .transpose()?,
        })
    };
    Ok(types::RuleCondition {
        fact: condition.fact.twin(),
        operator: condition.operator.twin(),
        value: condition.value,
        value_fact: condition.value_fact.map(Twin::twin),
        params,
    })
}

fn wire_action(action: &ActionDraft) -> Result<types::RuleAction, ApiError> {
    let amount_in_cents = action
        .amount_in_cents
        .map(|cents| {
            u64::try_from(cents.get()).ok().and_then(NonZeroU64::new).ok_or_else(|| {
                ApiError::internal(format!("stored action amount {} is not positive", cents.get()))
            })
        })
        .transpose()?;
    Ok(types::RuleAction {
        type_: action.action_type.twin(),
        source_account_id: wire(action.source_account_id.as_str())?,
        destination_account_id: wire(action.destination_account_id.as_str())?,
        amount_in_cents,
        percentage_value: action.percentage_value,
        percentage_target: action.percentage_target.map(Twin::twin),
        group_index: i32::try_from(action.group_index).map_err(ApiError::internal)?,
        up_to_enabled: action.up_to_enabled,
        limit: action
            .limit
            .map(|cap| {
                Ok::<_, ApiError>(types::TransferCap {
                    period: cap.period.twin(),
                    amount_in_cents: cap.amount.get(),
                })
            })
            .transpose()?,
    })
}

/// A rule as listed: `source` is its trigger account (`trigger_account` holds it when the rule has
/// one; deleted accounts are still shown, since the rule still names them).
pub(crate) fn rule_summary(
    record: &RuleRecord,
    trigger_account: Option<&AccountRecord>,
) -> Result<types::RuleSummary, ApiError> {
    let rule: &Rule = &record.rule;
    Ok(types::RuleSummary {
        id: wire(rule.id.as_str())?,
        nickname: rule.nickname.clone(),
        description: rule.description.clone(),
        status: rule.status.twin(),
        trigger_type: rule.trigger.kind.twin(),
        source: trigger_account
            .map(|account| {
                Ok::<_, ApiError>(types::RuleSourceRef {
                    id: wire(account.id.as_str())?,
                    name: account.name.clone(),
                    type_: account_type(account.kind),
                })
            })
            .transpose()?,
        created_at: record.created_at,
        updated_at: record.updated_at,
    })
}

/// An execution as the API shows it.
pub(crate) fn execution(
    record: &ExecutionRecord,
    transfer_ids: &[TransferId],
) -> Result<types::RuleExecution, ApiError> {
    let count = |n: u32| i32::try_from(n).map_err(ApiError::internal);
    let trigger_type: types::RuleExecutionTriggerType = record.trigger.twin();
    Ok(types::RuleExecution {
        id: wire(record.id.as_str())?,
        rule_id: wire(record.rule_id.as_str())?,
        rule_name: record.rule_name.clone(),
        trigger_type,
        status: record.status.twin(),
        simulation: record.simulation,
        created_at: record.created_at,
        trigger_details: types::RuleTriggerDetails {
            type_: trigger_type,
            amount_in_cents: record.trigger_amount.map(Cents::get),
            scheduled_time: record.scheduled_time,
        },
        step_index_matched: record
            .step_index_matched
            .map(|step| i32::try_from(step).map_err(ApiError::internal))
            .transpose()?,
        conditions_not_met: record.conditions_not_met,
        transfers_attempted: count(record.counters.attempted)?,
        transfers_completed: count(record.counters.completed)?,
        transfers_failed: count(record.counters.failed)?,
        transfers_pending: count(record.counters.pending)?,
        transfers_skipped: count(record.counters.skipped)?,
        transfer_ids: transfer_ids.iter().map(|id| wire(id.as_str())).collect::<Result<_, _>>()?,
        error_message: record.error_message.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use sequence_core::ids::{OrgId, RuleId};
    use sequence_core::ledger::AccountKind;
    use sequence_core::rules::validate_rule;

    fn input() -> types::RuleInput {
        serde_json::from_value(serde_json::json!({
            "nickname": "Split",
            "description": "Every deposit",
            "trigger": {"type": "ON_FUNDS_TRANSFERRED", "account_id": "acc_income"},
            "steps": [
                {
                    "conditions": {"any": [
                        {"condition": {"fact": "TRANSFER_AMOUNT", "operator": "GREATER_THAN", "value": 50000}},
                        {"all": [{"condition": {"fact": "BALANCE", "operator": "LESS_THAN_OR_EQUAL",
                            "value_fact": "LAST_STATEMENT_BALANCE",
                            "params": {"account_id": "acc_pod", "value_account_id": "acc_card"}}}]}
                    ]},
                    "actions": [
                        {"type": "PERCENTAGE", "source_account_id": "acc_income", "destination_account_id": "acc_pod",
                         "percentage_value": 33.33, "group_index": 1,
                         "limit": {"period": "PER_MONTH", "amount_in_cents": 200000}},
                        {"type": "LAST_STATEMENT_BALANCE", "source_account_id": "acc_income",
                         "destination_account_id": "acc_card", "up_to_enabled": true}
                    ]
                },
                {"actions": [{"type": "FIXED", "source_account_id": "acc_income", "destination_account_id": "acc_pod",
                              "amount_in_cents": 5000}]}
            ]
        }))
        .expect("a valid RuleInput")
    }

    fn kinds(id: &AccountId) -> Option<AccountKind> {
        match id.as_str() {
            "acc_income" => Some(AccountKind::IncomeSource),
            "acc_pod" => Some(AccountKind::Pod),
            "acc_card" => {
                Some(AccountKind::External(sequence_core::ledger::ExternalAccountType::Liability))
            }
            _ => None,
        }
    }

    #[test]
    fn a_rule_renders_as_the_body_that_created_it_with_defaults_filled_in() {
        // Goal: wire → draft → validated rule → wire keeps every field, and fills the schema's
        // defaults (`group_index` 0, `up_to_enabled` false, `percentage_target` INCOMING_AMOUNT).
        let draft = draft_from_input(&input()).unwrap();
        assert_eq!(draft.status, RuleStatus::Disabled);
        let rule = validate_rule(RuleId::from_raw("rule_1"), &draft, kinds, |_| false).unwrap();
        let at = Utc.with_ymd_and_hms(2024, 4, 1, 10, 0, 0).unwrap();
        let record = RuleRecord {
            rule,
            org_id: OrgId::from_raw("org_1"),
            next_run_at: None,
            created_at: at,
            updated_at: at,
            deleted_at: None,
        };
        let rendered = serde_json::to_value(super::rule(&record).unwrap()).unwrap();
        let mut expected = serde_json::to_value(input()).unwrap();
        let actions = &mut expected["steps"][0]["actions"];
        actions[0]["up_to_enabled"] = false.into();
        actions[0]["percentage_target"] = "INCOMING_AMOUNT".into();
        actions[1]["group_index"] = 0.into();
        expected["steps"][1]["actions"][0]["up_to_enabled"] = false.into();
        expected["steps"][1]["actions"][0]["group_index"] = 0.into();
        for key in ["nickname", "description", "trigger", "steps"] {
            assert_eq!(rendered[key], expected[key], "{key}");
        }
        assert_eq!(rendered["status"], "disabled");
        assert_eq!(rendered["id"], "rule_1");
    }

    #[test]
    fn amounts_beyond_the_domain_range_are_invalid_requests() {
        let mut body = input();
        body.steps[1].actions[0].amount_in_cents = NonZeroU64::new(u64::MAX);
        let error = draft_from_input(&body).unwrap_err();
        assert_eq!(error.code, sequence_api::server::ErrorCode::InvalidRequest);
        assert!(
            error.message.starts_with("steps[1].actions[0].amount_in_cents"),
            "{}",
            error.message
        );
    }
}
