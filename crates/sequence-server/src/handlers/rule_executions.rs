//! `RuleExecutionsApi`: the history of rule runs, newest first.
//!
//! `listRuleExecutions` needs the `rule_id` filter, which the generated router checks against
//! the key's `READ_RULE_EXECUTIONS` resources before anything is read. `getRuleExecution` depends
//! on another resource (the execution's rule; the spec declares it `in: loaded`,
//! `checked-by: application`), so the use case looks the execution up first (`404`) and checks the
//! permission afterwards (`403`), as the spec's check order prescribes.

use sequence_api::runtime::RequestContext;
use sequence_api::server::{
    GetRuleExecutionParams, GetRuleExecutionResponse, ListRuleExecutionsParams,
    ListRuleExecutionsResponse, RuleExecutionsApi,
};
use sequence_api::types;
use sequence_app::executions::{self, ExecutionView};
use sequence_core::ids::RuleId;
use sequence_store::rules::ExecutionFilter;

use super::rule_wire;
use super::transfers::{after_cursor, mode_filter, page_size};
use crate::auth::Principal;
use crate::convert::{Twin, cursor};
use crate::error::{ApiError, respond};
use crate::state::Server;

fn view(view: &ExecutionView) -> Result<types::RuleExecution, ApiError> {
    rule_wire::execution(&view.execution, &view.transfer_ids)
}

impl RuleExecutionsApi for Server {
    async fn list_rule_executions(
        &self,
        ctx: RequestContext<Principal>,
        params: ListRuleExecutionsParams,
    ) -> ListRuleExecutionsResponse {
        let result = async {
            let rule_id = params.rule_id.as_str();
            let after = after_cursor(params.after.as_deref().map(String::as_str))?;
            let filter = ExecutionFilter {
                rule: RuleId::from_raw(rule_id),
                status: params.status.map(Twin::twin),
                trigger: params.trigger_type.map(Twin::twin),
                mode: mode_filter(params.execution_mode),
                from: params.from,
                to: params.to,
            };
            let mut conn = self.read_connection().await?;
            let org = &ctx.principal.org_id;
            let (views, has_next_page) =
                executions::list(&mut conn, org, filter, after.as_ref(), page_size(params.first))
                    .await?;
            let end_cursor = views.last().map(|v| {
                let e = &v.execution;
                cursor::encode(sequence_store::to_millis(e.created_at), e.id.as_str())
            });
            Ok(ListRuleExecutionsResponse::Ok(types::RuleExecutionListResponse {
                request_id: ctx.request_id.clone(),
                data: views.iter().map(view).collect::<Result<_, _>>()?,
                page_info: types::PageInfo { end_cursor, has_next_page },
            }))
        }
        .await;
        respond(&ctx, result)
    }

    async fn get_rule_execution(
        &self,
        ctx: RequestContext<Principal>,
        params: GetRuleExecutionParams,
    ) -> GetRuleExecutionResponse {
        let result = async {
            let mut conn = self.read_connection().await?;
            let principal = &ctx.principal;
            let found =
                executions::get(&mut conn, &principal.org_id, &principal.permissions, &params.id)
                    .await?;
            Ok(GetRuleExecutionResponse::Ok(types::RuleExecutionResponse {
                request_id: ctx.request_id.clone(),
                data: view(&found)?,
            }))
        }
        .await;
        respond(&ctx, result)
    }
}
