//! `RulesApi` (list, read, create, replace, delete, trigger) and the sandbox's rule switches.
//!
//! Checks run in the spec's order: the router has authenticated (401), validated the input
//! (400, including unknown fields at any depth of a rule body) and checked the declared scope and
//! the path id against the key's resources (403); the use case (`sequence_app::rules`) then checks
//! existence (`404 rule_not_found`, `410 rule_deleted`) and the operation's own rules
//! (`400 invalid_rule`, `403 rule_disabled`), inside [`Server::mutate`] for writes.

use sequence_api::runtime::RequestContext;
use sequence_api::server::{
    CreateRuleParams, CreateRuleResponse, DeleteRuleParams, DeleteRuleResponse,
    DisableSandboxRuleParams, DisableSandboxRuleResponse, EnableSandboxRuleParams,
    EnableSandboxRuleResponse, GetRuleParams, GetRuleResponse, ListRulesParams, ListRulesResponse,
    RulesApi, TriggerRuleParams, TriggerRuleResponse, UpdateRuleParams, UpdateRuleResponse,
};
use sequence_api::types;
use sequence_app::rules::{self, Trigger};
use sequence_core::money::Cents;
use sequence_core::rules::RuleStatus;

use super::rule_wire;
use crate::auth::Principal;
use crate::convert::wire;
use crate::error::{ApiError, respond};
use crate::state::Server;

impl RulesApi for Server {
    async fn list_rules(
        &self,
        ctx: RequestContext<Principal>,
        params: ListRulesParams,
    ) -> ListRulesResponse {
        let result = async {
            let mut conn = self.read_connection().await?;
            let source = params.source_id.as_ref().map(|id| id.as_str());
            let rules = rules::list(&mut conn, &ctx.principal.org_id, source).await?;
            let data = rules
                .iter()
                .map(|(record, source)| rule_wire::rule_summary(record, source.as_ref()))
                .collect::<Result<_, _>>()?;
            Ok(ListRulesResponse::Ok(types::RuleListResponse {
                request_id: ctx.request_id.clone(),
                data,
            }))
        }
        .await;
        respond(&ctx, result)
    }

    async fn get_rule(
        &self,
        ctx: RequestContext<Principal>,
        params: GetRuleParams,
    ) -> GetRuleResponse {
        let result = async {
            let mut conn = self.read_connection().await?;
            let record = rules::live(&mut conn, &ctx.principal.org_id, &params.id).await?;
            Ok(GetRuleResponse::Ok(types::RuleResponse {
                request_id: ctx.request_id.clone(),
                data: rule_wire::rule(&record)?,
            }))
        }
        .await;
        respond(&ctx, result)
    }

    async fn create_rule(
        &self,
        ctx: RequestContext<Principal>,
        params: CreateRuleParams,
    ) -> CreateRuleResponse {
        let draft = match rule_wire::draft_from_input(&params.body) {
            Ok(draft) => draft,
            Err(error) => return respond(&ctx, Err(error)),
        };
        let key = params.idempotency_key.as_deref().map(String::as_str);
        self.mutate(&ctx, key, &params.body, |mut tx| async {
            let result = async {
                let record =
                    rules::create(&self.app, &mut tx, &ctx.principal.org_id, &draft).await?;
                Ok(CreateRuleResponse::Created(types::RuleResponse {
                    request_id: ctx.request_id.clone(),
                    data: rule_wire::rule(&record)?,
                }))
            }
            .await;
            (tx, result)
        })
        .await
    }

    async fn update_rule(
        &self,
        ctx: RequestContext<Principal>,
        params: UpdateRuleParams,
    ) -> UpdateRuleResponse {
        let draft = match rule_wire::draft_from_input(&params.body) {
            Ok(draft) => draft,
            Err(error) => return respond(&ctx, Err(error)),
        };
        let key = params.idempotency_key.as_deref().map(String::as_str);
        self.mutate(&ctx, key, &params.body, |mut tx| async {
            let result = async {
                let org = &ctx.principal.org_id;
                let record = rules::update(&self.app, &mut tx, org, &params.id, &draft).await?;
                Ok(UpdateRuleResponse::Ok(types::RuleResponse {
                    request_id: ctx.request_id.clone(),
                    data: rule_wire::rule(&record)?,
                }))
            }
            .await;
            (tx, result)
        })
        .await
    }

    async fn delete_rule(
        &self,
        ctx: RequestContext<Principal>,
        params: DeleteRuleParams,
    ) -> DeleteRuleResponse {
        let key = params.idempotency_key.as_deref().map(String::as_str);
        self.mutate(&ctx, key, &(), |mut tx| async {
            let result = rules::delete(&self.app, &mut tx, &ctx.principal.org_id, &params.id)
                .await
                .map(|()| DeleteRuleResponse::NoContent)
                .map_err(ApiError::from);
            (tx, result)
        })
        .await
    }

    async fn trigger_rule(
        &self,
        ctx: RequestContext<Principal>,
        params: TriggerRuleParams,
    ) -> TriggerRuleResponse {
        let body = params.body.as_ref();
        let trigger = Trigger {
            amount: body.and_then(|b| b.manual_execute_amount).map(Cents::new),
            simulation: body.is_some_and(|b| b.simulation),
        };
        let key = params.idempotency_key.as_deref().map(String::as_str);
        self.mutate(&ctx, key, &body, |mut tx| async {
            let org = &ctx.principal.org_id;
            let result = rules::trigger(&self.app, &mut tx, org, &params.id, trigger)
                .await
                .map_err(ApiError::from)
                .and_then(|execution| {
                    Ok(TriggerRuleResponse::Accepted(types::TriggerRuleResponse {
                        request_id: ctx.request_id.clone(),
                        data: types::TriggeredExecution {
                            execution_id: wire(execution.id.as_str())?,
                        },
                    }))
                });
            (tx, result)
        })
        .await
    }
}

impl Server {
    /// `POST /sandbox/rules/{id}/enable` and `/disable`: the switch a person flips.
    pub(crate) async fn sandbox_switch_rule<R>(
        &self,
        ctx: &RequestContext<Principal>,
        id: &str,
        key: Option<&str>,
        status: RuleStatus,
        respond_ok: impl Fn(types::RuleResponse) -> R,
    ) -> R
    where
        R: sequence_api::runtime::Replayable
            + sequence_api::runtime::FromError<types::ErrorResponse>,
    {
        self.mutate(ctx, key, &(), |mut tx| async {
            let result = async {
                let record =
                    rules::switch(&self.app, &mut tx, &ctx.principal.org_id, id, status).await?;
                Ok(respond_ok(types::RuleResponse {
                    request_id: ctx.request_id.clone(),
                    data: rule_wire::rule(&record)?,
                }))
            }
            .await;
            (tx, result)
        })
        .await
    }

    /// `POST /sandbox/rules/{id}/enable`.
    pub(crate) async fn sandbox_enable_rule(
        &self,
        ctx: RequestContext<Principal>,
        params: EnableSandboxRuleParams,
    ) -> EnableSandboxRuleResponse {
        let key = params.idempotency_key.as_deref().map(String::as_str);
        self.sandbox_switch_rule(
            &ctx,
            &params.id,
            key,
            RuleStatus::Enabled,
            EnableSandboxRuleResponse::Ok,
        )
        .await
    }

    /// `POST /sandbox/rules/{id}/disable`.
    pub(crate) async fn sandbox_disable_rule(
        &self,
        ctx: RequestContext<Principal>,
        params: DisableSandboxRuleParams,
    ) -> DisableSandboxRuleResponse {
        let key = params.idempotency_key.as_deref().map(String::as_str);
        self.sandbox_switch_rule(
            &ctx,
            &params.id,
            key,
            RuleStatus::Disabled,
            DisableSandboxRuleResponse::Ok,
        )
        .await
    }
}
