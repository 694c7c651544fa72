//! `AuditLogsApi`: the organization's audit log, newest first. The generated router has checked
//! `READ_AUDIT_LOGS` (no resources: the whole organization's log); what is recorded, and when,
//! is `sequence_app::audit` (see [`crate::keyed`] and [`Server::mutate`](crate::state::Server)).

use sequence_api::runtime::RequestContext;
use sequence_api::server::{AuditLogsApi, ListAuditLogsParams, ListAuditLogsResponse};
use sequence_api::types;
use sequence_app::audit;
use sequence_store::audit::{AuditEntry, AuditFilter};

use super::transfers::{after_cursor, page_size};
use crate::auth::Principal;
use crate::convert::{Twin, cursor, wire};
use crate::error::{ApiError, respond};
use crate::state::Server;

fn entry(entry: &AuditEntry) -> Result<types::AuditLogEntry, ApiError> {
    Ok(types::AuditLogEntry {
        id: wire(entry.id.as_str())?,
        created_at: entry.created_at,
        api_key_id: wire(entry.api_key_id.as_str())?,
        operation_id: entry.operation_id.clone(),
        method: entry.method.clone(),
        path: entry.path.clone(),
        resource_ids: entry.resource_ids.clone(),
        outcome: entry.outcome.twin(),
        status: i64::from(entry.status),
        error_code: entry.error_code.clone(),
        request_id: entry.request_id.clone(),
        called_reason: entry.called_reason.clone(),
    })
}

impl AuditLogsApi for Server {
    async fn list_audit_logs(
        &self,
        ctx: RequestContext<Principal>,
        params: ListAuditLogsParams,
    ) -> ListAuditLogsResponse {
        let result = async {
            let after = after_cursor(params.after.as_deref().map(String::as_str))?;
            let filter = AuditFilter {
                api_key_id: params.api_key_id.as_ref().map(|k| k.to_string()),
                operation_id: params.operation_id.as_ref().map(|o| o.to_string()),
                outcome: params.outcome.map(Twin::twin),
                from: params.from,
                to: params.to,
            };
            let mut conn = self.read_connection().await?;
            let org = &ctx.principal.org_id;
            let (entries, has_next_page) =
                audit::list(&mut conn, org, &filter, after.as_ref(), page_size(params.first))
                    .await?;
            let end_cursor = entries
                .last()
                .map(|e| cursor::encode(sequence_store::to_millis(e.created_at), e.id.as_str()));
            Ok(ListAuditLogsResponse::Ok(types::AuditLogListResponse {
                request_id: ctx.request_id.clone(),
                data: entries.iter().map(entry).collect::<Result<_, _>>()?,
                page_info: types::PageInfo { end_cursor, has_next_page },
            }))
        }
        .await;
        respond(&ctx, result)
    }
}
