//! `RuleExecutionsApi`: the history of rule runs, newest first.
//!
//! `listRuleExecutions` needs the `rule_id` filter, checked against the key's
//! `READ_RULE_EXECUTIONS` resources before anything is read; deleted rules keep their history, so
//! their id is accepted. `getRuleExecution` depends on another resource (the execution's rule), so
//! the execution is looked up first (`404`) and the permission checked afterwards (`403`), as the
//! spec's check order prescribes.

use sequence_api::runtime::RequestContext;
use sequence_api::server::{
    ErrorCode, GetRuleExecutionParams, GetRuleExecutionResponse, ListRuleExecutionsParams,
    ListRuleExecutionsResponse, RuleExecutionsApi,
};
use sequence_api::types;
use sequence_core::ids::{RuleExecutionId, RuleId};
use sequence_core::permissions::Scope;
use sequence_store::StoreError;
use sequence_store::rules::{self, ExecutionFilter, ExecutionRecord};

use super::rule_wire;
use super::rules::rule_not_found;
use super::transfers::{mode_filter, page_bounds};
use crate::auth::Principal;
use crate::convert::{cursor, same_name};
use crate::error::{ApiError, respond};
use crate::state::Server;

/// `404 rule_execution_not_found`.
fn execution_not_found(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::RuleExecutionNotFound,
        format!("No rule execution `{id}` exists in this organization."),
    )
}

impl Server {
    /// Renders executions with their transfer ids (one query for the whole page).
    async fn execution_views(
        &self,
        conn: &mut sequence_store::AnyConnection,
        records: &[ExecutionRecord],
    ) -> Result<Vec<types::RuleExecution>, ApiError> {
        let ids: Vec<&RuleExecutionId> = records.iter().map(|r| &r.id).collect();
        let transfer_ids = rules::transfer_ids(conn, &ids).await?;
        records
            .iter()
            .map(|record| {
                rule_wire::execution(
                    record,
                    transfer_ids.get(&record.id).map_or(&[], Vec::as_slice),
                )
            })
            .collect()
    }

    async fn execution_list(
        &self,
        ctx: &RequestContext<Principal>,
        params: &ListRuleExecutionsParams,
    ) -> Result<ListRuleExecutionsResponse, ApiError> {
        let after =
            page_bounds(params.from, params.to, params.after.as_deref().map(String::as_str))?;
        let rule_id = params.rule_id.as_str();
        ctx.principal.permissions.require_resource(Scope::ReadRuleExecutions, rule_id)?;
        let first = u32::try_from(params.first).unwrap_or(20).clamp(1, 100);
        let mut conn = self.state.store.pool().acquire().await.map_err(StoreError::from)?;
        let org = &ctx.principal.org_id;
        if rules::find(&mut conn, org, rule_id).await?.is_none() {
            return Err(rule_not_found(rule_id));
        }
        let filter = ExecutionFilter {
            rule: RuleId::from_raw(rule_id),
            status: params.status.map(same_name).transpose()?,
            trigger: params.trigger_type.map(same_name).transpose()?,
            mode: mode_filter(params.execution_mode),
            from: params.from,
            to: params.to,
        };
        let mut rows =
            rules::list_executions(&mut conn, org, &filter, after.as_ref(), first + 1).await?;
        let has_next_page = rows.len() > first as usize;
        rows.truncate(first as usize);
        let end_cursor = rows
            .last()
            .map(|e| cursor::encode(sequence_store::to_millis(e.created_at), e.id.as_str()));
        let data = self.execution_views(&mut conn, &rows).await?;
        Ok(ListRuleExecutionsResponse::Ok(types::RuleExecutionListResponse {
            request_id: ctx.request_id.clone(),
            data,
            page_info: types::PageInfo { end_cursor, has_next_page },
        }))
    }

    async fn execution_get(
        &self,
        ctx: &RequestContext<Principal>,
        id: &str,
    ) -> Result<GetRuleExecutionResponse, ApiError> {
        let allowed = ctx.principal.permissions.resource_filter(Scope::ReadRuleExecutions)?;
        let mut conn = self.state.store.pool().acquire().await.map_err(StoreError::from)?;
        let record = rules::find_execution(&mut conn, &ctx.principal.org_id, id)
            .await?
            .ok_or_else(|| execution_not_found(id))?;
        if !allowed.allows(record.rule_id.as_str()) {
            return Err(ApiError::forbidden());
        }
        let mut views = self.execution_views(&mut conn, std::slice::from_ref(&record)).await?;
        let data =
            views.pop().ok_or_else(|| ApiError::internal("an execution rendered to nothing"))?;
        Ok(GetRuleExecutionResponse::Ok(types::RuleExecutionResponse {
            request_id: ctx.request_id.clone(),
            data,
        }))
    }
}

impl RuleExecutionsApi for Server {
    async fn list_rule_executions(
        &self,
        ctx: RequestContext<Principal>,
        params: ListRuleExecutionsParams,
    ) -> ListRuleExecutionsResponse {
        let result = self.execution_list(&ctx, &params).await;
        respond(&ctx, result)
    }

    async fn get_rule_execution(
        &self,
        ctx: RequestContext<Principal>,
        params: GetRuleExecutionParams,
    ) -> GetRuleExecutionResponse {
        let result = self.execution_get(&ctx, &params.id).await;
        respond(&ctx, result)
    }
}
