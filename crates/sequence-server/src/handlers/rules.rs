//! `RulesApi` (list, read, create, replace, delete, trigger) and the sandbox's rule switches.
//!
//! Checks run in the spec's order: the router has authenticated (401) and validated the input
//! (400, including unknown fields at any depth of a rule body); the handler
//! checks the scope and the id against the key's resources (403), then — for writes, inside
//! [`Server::mutate`] — idempotency, existence (`404 rule_not_found`, `410 rule_deleted`), and the
//! operation's own rules (`400 invalid_rule`, `403 rule_disabled`).
//!
//! Rules created or replaced through the API are always stored `disabled` and have no scheduled
//! occurrence; only a person (here `POST /sandbox/rules/{id}/enable`) enables them, which is also
//! when a scheduled rule's next occurrence is computed, from the organization clock: occurrences
//! that fell while it was disabled are skipped, not caught up.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use sequence_api::runtime::RequestContext;
use sequence_api::server::{
    CreateRuleParams, CreateRuleResponse, DeleteRuleParams, DeleteRuleResponse,
    DisableSandboxRuleParams, DisableSandboxRuleResponse, EnableSandboxRuleParams,
    EnableSandboxRuleResponse, ErrorCode, GetRuleParams, GetRuleResponse, ListRulesParams,
    ListRulesResponse, RulesApi, TriggerRuleParams, TriggerRuleResponse, UpdateRuleParams,
    UpdateRuleResponse,
};
use sequence_api::types;
use sequence_core::ids::{AccountId, OrgId, RuleId};
use sequence_core::ledger::AccountKind;
use sequence_core::money::Cents;
use sequence_core::permissions::Scope;
use sequence_core::rules::{Rule, RuleDraft, RuleStatus, next_occurrence_after, validate_rule};
use sequence_store::orgs::{self, Organization};
use sequence_store::rules::{self, ExecutionTrigger, RuleRecord};
use sequence_store::{StoreError, Tx, accounts};

use super::rule_engine::Run;
use super::rule_wire;
use crate::auth::Principal;
use crate::error::{ApiError, respond};
use crate::idempotency::fingerprint;
use crate::state::Server;

/// `404 rule_not_found`.
pub(crate) fn rule_not_found(id: &str) -> ApiError {
    ApiError::new(ErrorCode::RuleNotFound, format!("No rule `{id}` exists in this organization."))
}

/// `410 rule_deleted`.
fn rule_deleted(id: &str) -> ApiError {
    ApiError::new(ErrorCode::RuleDeleted, format!("Rule `{id}` was deleted."))
}

/// `400 invalid_rule` naming the field path.
fn invalid_rule(path: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::InvalidRule, format!("{path}: {message}"))
}

/// The rule `id` of the organization if it is not deleted: `404` / `410` otherwise.
pub(crate) async fn live_rule(
    conn: &mut sequence_store::AnyConnection,
    org: &OrgId,
    id: &str,
) -> Result<RuleRecord, ApiError> {
    match rules::find(conn, org, id).await? {
        None => Err(rule_not_found(id)),
        Some(record) if record.is_deleted() => Err(rule_deleted(id)),
        Some(record) => Ok(record),
    }
}

/// The next occurrence a scheduled rule enabled at `now` runs: the first at or after `now`
/// (millisecond precision, as stored).
fn first_occurrence_from(rule: &Rule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let schedule = rule.trigger.schedule?;
    next_occurrence_after(&schedule, now - TimeDelta::milliseconds(1))
}

impl Server {
    /// Validates a draft against the organization as it is now: its live accounts, and the
    /// one-`ON_FUNDS_TRANSFERRED`-rule-per-account constraint (`replacing` may keep its own).
    async fn validated_rule(
        &self,
        tx: &mut Tx,
        org: &OrgId,
        id: RuleId,
        draft: &RuleDraft,
        replacing: Option<&RuleId>,
    ) -> Result<Rule, ApiError> {
        let kinds: BTreeMap<AccountId, AccountKind> = accounts::list(tx, org, None)
            .await?
            .into_iter()
            .map(|account| (account.id, account.kind))
            .collect();
        let watched = rules::on_funds_trigger_accounts(tx, org, replacing).await?;
        let rule = validate_rule(id, draft, |id| kinds.get(id).copied(), |id| watched.contains(id))
            .map_err(|invalid| invalid_rule(&invalid.path, invalid.message))?;
        // The core's validation checks each side's capabilities; a transfer between two external
        // accounts is impossible too (`transfer_not_supported` for manual transfers).
        for (s, step) in rule.steps.iter().enumerate() {
            for (a, action) in step.actions.iter().enumerate() {
                let external =
                    |id: &AccountId| kinds.get(id).is_some_and(|kind| !kind.is_internal());
                if external(&action.source) && external(&action.destination) {
                    let path = format!("steps[{s}].actions[{a}].destination_account_id");
                    return Err(invalid_rule(
                        &path,
                        "money cannot move between two external accounts",
                    ));
                }
            }
        }
        Ok(rule)
    }

    /// Stores a new rule; a concurrent creation that took the trigger account first is reported
    /// like the validation would have.
    async fn store_rule(
        &self,
        tx: &mut Tx,
        record: &RuleRecord,
        new: bool,
    ) -> Result<(), ApiError> {
        let written =
            if new { rules::insert(tx, record).await } else { rules::update(tx, record).await };
        match written {
            Err(StoreError::Conflict(_)) => Err(invalid_rule(
                "trigger.account_id",
                "this account already has an ON_FUNDS_TRANSFERRED rule; edit that rule instead",
            )),
            other => Ok(other?),
        }
    }

    async fn rule_create(
        &self,
        tx: &mut Tx,
        ctx: &RequestContext<Principal>,
        body: &types::RuleInput,
    ) -> Result<CreateRuleResponse, ApiError> {
        let org = orgs::get(tx, &ctx.principal.org_id).await?;
        let now = self.state.org_now(org.clock_offset_seconds);
        let draft = rule_wire::draft_from_input(body)?;
        let rule = self.validated_rule(tx, &org.id, RuleId::generate(), &draft, None).await?;
        assert_eq!(rule.status, RuleStatus::Disabled, "rules from the API are created disabled");
        let record = RuleRecord {
            rule,
            org_id: org.id,
            next_run_at: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        self.store_rule(tx, &record, true).await?;
        let data = rule_wire::rule(&record)?;
        Ok(CreateRuleResponse::Created(types::RuleResponse {
            request_id: ctx.request_id.clone(),
            data,
        }))
    }

    async fn rule_update(
        &self,
        tx: &mut Tx,
        ctx: &RequestContext<Principal>,
        id: &str,
        body: &types::RuleInput,
    ) -> Result<UpdateRuleResponse, ApiError> {
        let org = orgs::get(tx, &ctx.principal.org_id).await?;
        let now = self.state.org_now(org.clock_offset_seconds);
        let existing = live_rule(tx, &org.id, id).await?;
        let draft = rule_wire::draft_from_input(body)?;
        let rule_id = existing.rule.id.clone();
        let rule =
            self.validated_rule(tx, &org.id, rule_id.clone(), &draft, Some(&rule_id)).await?;
        assert_eq!(rule.status, RuleStatus::Disabled, "an update disables the rule");
        let record = RuleRecord { rule, next_run_at: None, updated_at: now, ..existing };
        self.store_rule(tx, &record, false).await?;
        let data = rule_wire::rule(&record)?;
        Ok(UpdateRuleResponse::Ok(types::RuleResponse { request_id: ctx.request_id.clone(), data }))
    }

    async fn rule_delete(
        &self,
        tx: &mut Tx,
        principal: &Principal,
        id: &str,
    ) -> Result<DeleteRuleResponse, ApiError> {
        let org = orgs::get(tx, &principal.org_id).await?;
        let now = self.state.org_now(org.clock_offset_seconds);
        let mut record = live_rule(tx, &org.id, id).await?;
        record.rule.status = RuleStatus::Disabled;
        record.next_run_at = None;
        record.updated_at = now;
        record.deleted_at = Some(now);
        rules::update(tx, &record).await?;
        Ok(DeleteRuleResponse::NoContent)
    }

    async fn rule_trigger(
        &self,
        tx: &mut Tx,
        ctx: &RequestContext<Principal>,
        id: &str,
        body: Option<&types::TriggerRuleRequest>,
    ) -> Result<TriggerRuleResponse, ApiError> {
        let org: Organization = orgs::get(tx, &ctx.principal.org_id).await?;
        let now = self.state.org_now(org.clock_offset_seconds);
        let record = live_rule(tx, &org.id, id).await?;
        if record.rule.status != RuleStatus::Enabled {
            return Err(ApiError::new(
                ErrorCode::RuleDisabled,
                format!(
                    "Rule `{id}` is disabled; a person must enable it before it can be triggered."
                ),
            ));
        }
        let run = Run {
            rule: &record,
            trigger: ExecutionTrigger::Manual,
            trigger_amount: body.and_then(|b| b.manual_execute_amount).map(Cents::new),
            scheduled_time: None,
            simulation: body.is_some_and(|b| b.simulation),
        };
        let execution = self.run_rule(tx, &org, run, now).await?;
        Ok(TriggerRuleResponse::Accepted(types::TriggerRuleResponse {
            request_id: ctx.request_id.clone(),
            data: types::TriggeredExecution { execution_id: execution.id.to_string() },
        }))
    }

    /// Enables or disables a rule (a no-op when it already is), returning it.
    async fn rule_switch(
        &self,
        tx: &mut Tx,
        principal: &Principal,
        id: &str,
        status: RuleStatus,
    ) -> Result<types::Rule, ApiError> {
        let org = orgs::get(tx, &principal.org_id).await?;
        let now = self.state.org_now(org.clock_offset_seconds);
        let mut record = live_rule(tx, &org.id, id).await?;
        if record.rule.status != status {
            record.rule.status = status;
            record.updated_at = now;
            record.next_run_at = match status {
                RuleStatus::Enabled => first_occurrence_from(&record.rule, now),
                RuleStatus::Disabled => None,
            };
            rules::update(tx, &record).await?;
        }
        rule_wire::rule(&record)
    }

    async fn rule_list(
        &self,
        ctx: &RequestContext<Principal>,
        params: &ListRulesParams,
    ) -> Result<ListRulesResponse, ApiError> {
        ctx.principal.permissions.require(Scope::ListRules)?;
        let mut conn = self.state.store.pool().acquire().await.map_err(StoreError::from)?;
        let org = &ctx.principal.org_id;
        let records =
            rules::list(&mut conn, org, params.source_id.as_ref().map(|id| id.as_str())).await?;
        let triggers: Vec<&AccountId> =
            records.iter().filter_map(|r| r.rule.trigger.account_id.as_ref()).collect();
        let named = accounts::by_ids(&mut conn, org, &triggers).await?;
        let data = records
            .iter()
            .map(|record| {
                let source =
                    record.rule.trigger.account_id.as_ref().and_then(|id| named.get(id.as_str()));
                rule_wire::rule_summary(record, source)
            })
            .collect::<Result<_, _>>()?;
        Ok(ListRulesResponse::Ok(types::RuleListResponse {
            request_id: ctx.request_id.clone(),
            data,
        }))
    }

    async fn rule_get(
        &self,
        ctx: &RequestContext<Principal>,
        id: &str,
    ) -> Result<GetRuleResponse, ApiError> {
        ctx.principal.permissions.require_resource(Scope::ReadRules, id)?;
        let mut conn = self.state.store.pool().acquire().await.map_err(StoreError::from)?;
        let record = live_rule(&mut conn, &ctx.principal.org_id, id).await?;
        Ok(GetRuleResponse::Ok(types::RuleResponse {
            request_id: ctx.request_id.clone(),
            data: rule_wire::rule(&record)?,
        }))
    }
}

impl RulesApi for Server {
    async fn list_rules(
        &self,
        ctx: RequestContext<Principal>,
        params: ListRulesParams,
    ) -> ListRulesResponse {
        let result = self.rule_list(&ctx, &params).await;
        respond(&ctx, result)
    }

    async fn get_rule(
        &self,
        ctx: RequestContext<Principal>,
        params: GetRuleParams,
    ) -> GetRuleResponse {
        let result = self.rule_get(&ctx, &params.id).await;
        respond(&ctx, result)
    }

    async fn create_rule(
        &self,
        ctx: RequestContext<Principal>,
        params: CreateRuleParams,
    ) -> CreateRuleResponse {
        if let Err(denied) = ctx.principal.permissions.require(Scope::CreateAndEditRules) {
            return respond(&ctx, Err(denied.into()));
        }
        let body = &params.body;
        let key = params.idempotency_key.as_deref().map(String::as_str);
        let fingerprint = fingerprint("POST", "/rules", body);
        self.mutate(&ctx, key, fingerprint, |mut tx| async {
            let result = self.rule_create(&mut tx, &ctx, body).await;
            (tx, result)
        })
        .await
    }

    async fn update_rule(
        &self,
        ctx: RequestContext<Principal>,
        params: UpdateRuleParams,
    ) -> UpdateRuleResponse {
        if let Err(denied) = ctx.principal.permissions.require(Scope::CreateAndEditRules) {
            return respond(&ctx, Err(denied.into()));
        }
        let body = &params.body;
        let key = params.idempotency_key.as_deref().map(String::as_str);
        let fingerprint = fingerprint("PUT", &format!("/rules/{}", *params.id), body);
        self.mutate(&ctx, key, fingerprint, |mut tx| async {
            let result = self.rule_update(&mut tx, &ctx, &params.id, body).await;
            (tx, result)
        })
        .await
    }

    async fn delete_rule(
        &self,
        ctx: RequestContext<Principal>,
        params: DeleteRuleParams,
    ) -> DeleteRuleResponse {
        if let Err(denied) = ctx.principal.permissions.require(Scope::CreateAndEditRules) {
            return respond(&ctx, Err(denied.into()));
        }
        let key = params.idempotency_key.as_deref().map(String::as_str);
        let fingerprint = fingerprint("DELETE", &format!("/rules/{}", *params.id), &());
        self.mutate(&ctx, key, fingerprint, |mut tx| async {
            let result = self.rule_delete(&mut tx, &ctx.principal, &params.id).await;
            (tx, result)
        })
        .await
    }

    async fn trigger_rule(
        &self,
        ctx: RequestContext<Principal>,
        params: TriggerRuleParams,
    ) -> TriggerRuleResponse {
        if let Err(denied) =
            ctx.principal.permissions.require_resource(Scope::TriggerRules, &params.id)
        {
            return respond(&ctx, Err(denied.into()));
        }
        let body = params.body.as_ref();
        let key = params.idempotency_key.as_deref().map(String::as_str);
        let fingerprint = fingerprint("POST", &format!("/rules/{}/trigger", *params.id), &body);
        self.mutate(&ctx, key, fingerprint, |mut tx| async {
            let result = self.rule_trigger(&mut tx, &ctx, &params.id, body).await;
            (tx, result)
        })
        .await
    }
}

impl Server {
    /// `POST /sandbox/rules/{id}/enable`.
    pub(crate) async fn sandbox_enable_rule(
        &self,
        ctx: RequestContext<Principal>,
        params: EnableSandboxRuleParams,
    ) -> EnableSandboxRuleResponse {
        let key = params.idempotency_key.as_deref().map(String::as_str);
        let fingerprint =
            fingerprint("POST", &format!("/sandbox/rules/{}/enable", *params.id), &());
        self.mutate(&ctx, key, fingerprint, |mut tx| async {
            let result =
                self.rule_switch(&mut tx, &ctx.principal, &params.id, RuleStatus::Enabled).await;
            let result = result.map(|data| {
                EnableSandboxRuleResponse::Ok(types::RuleResponse {
                    request_id: ctx.request_id.clone(),
                    data,
                })
            });
            (tx, result)
        })
        .await
    }

    /// `POST /sandbox/rules/{id}/disable`.
    pub(crate) async fn sandbox_disable_rule(
        &self,
        ctx: RequestContext<Principal>,
        params: DisableSandboxRuleParams,
    ) -> DisableSandboxRuleResponse {
        let key = params.idempotency_key.as_deref().map(String::as_str);
        let fingerprint =
            fingerprint("POST", &format!("/sandbox/rules/{}/disable", *params.id), &());
        self.mutate(&ctx, key, fingerprint, |mut tx| async {
            let result =
                self.rule_switch(&mut tx, &ctx.principal, &params.id, RuleStatus::Disabled).await;
            let result = result.map(|data| {
                DisableSandboxRuleResponse::Ok(types::RuleResponse {
                    request_id: ctx.request_id.clone(),
                    data,
                })
            });
            (tx, result)
        })
        .await
    }
}
