//! `TransfersApi`: creating, listing and reading transfers.
//!
//! The generated router has checked each operation's scope and, for `listTransfers`, the
//! `account_id` filter. Two checks are left here, as the spec declares: `createTransfer`'s
//! `MANUAL_TRANSFER` pair and `max_amount` (`checked-by: handler`: it needs the amount, so it runs
//! before the idempotency protocol and any lookup), and `getTransfer`'s accounts
//! (`checked-by: application`: `sequence_app::transfers::get` looks the transfer up first).

use sequence_api::runtime::RequestContext;
use sequence_api::server::{
    CreateTransferParams, CreateTransferResponse, GetTransferParams, GetTransferResponse,
    ListTransfersParams, ListTransfersResponse, TransfersApi,
};
use sequence_api::types;
use sequence_app::transfers::{self, TransferRequest};
use sequence_core::ids::AccountId;
use sequence_core::money::Cents;
use sequence_store::transfers::{AccountRole, ModeFilter, TransferFilter};

use crate::auth::Principal;
use crate::convert::{self, Twin, cursor};
use crate::error::{ApiError, respond};
use crate::state::Server;

/// The mode filter a list's `execution_mode` parameter asks for (default: live only).
pub(crate) fn mode_filter(mode: Option<types::ExecutionMode>) -> ModeFilter {
    match mode {
        None | Some(types::ExecutionMode::Live) => ModeFilter::Live,
        Some(types::ExecutionMode::Simulation) => ModeFilter::Simulation,
        Some(types::ExecutionMode::All) => ModeFilter::All,
    }
}

/// The page size a list's `first` asks for (1..=100, default 20).
pub(crate) fn page_size(first: i32) -> u32 {
    u32::try_from(first).unwrap_or(20).clamp(1, 100)
}

/// Decodes `after`.
pub(crate) fn after_cursor(
    after: Option<&str>,
) -> Result<Option<sequence_store::transfers::Cursor>, ApiError> {
    after
        .map(|raw| {
            cursor::decode(raw)
                .ok_or_else(|| ApiError::invalid("`after` is not a cursor returned by this API"))
        })
        .transpose()
}

impl Server {
    async fn transfer_list(
        &self,
        ctx: &RequestContext<Principal>,
        params: &ListTransfersParams,
    ) -> Result<ListTransfersResponse, ApiError> {
        let account_id = params.account_id.as_str();
        let after = after_cursor(params.after.as_deref().map(String::as_str))?;
        let filter = TransferFilter {
            account: AccountId::from_raw(account_id),
            role: match params.account_role {
                Some(types::AccountRole::Source) => AccountRole::Source,
                Some(types::AccountRole::Destination) => AccountRole::Destination,
                Some(types::AccountRole::Either) | None => AccountRole::Either,
            },
            direction: params.direction.map(Twin::twin),
            origin: params.origin.map(Twin::twin),
            status: params.status.map(Twin::twin),
            mode: mode_filter(params.execution_mode),
            from: params.from,
            to: params.to,
            rule_execution: None,
        };
        let mut conn = self.read_connection().await?;
        let (views, has_next_page) = transfers::list(
            &mut conn,
            &ctx.principal.org_id,
            filter,
            after.as_ref(),
            page_size(params.first),
        )
        .await?;
        let end_cursor = views.last().map(|v| {
            cursor::encode(sequence_store::to_millis(v.transfer.created_at), v.transfer.id.as_str())
        });
        Ok(ListTransfersResponse::Ok(types::TransferListResponse {
            request_id: ctx.request_id.clone(),
            data: views.iter().map(convert::transfer).collect::<Result<_, _>>()?,
            page_info: types::PageInfo { end_cursor, has_next_page },
        }))
    }
}

impl TransfersApi for Server {
    async fn list_transfers(
        &self,
        ctx: RequestContext<Principal>,
        params: ListTransfersParams,
    ) -> ListTransfersResponse {
        let result = self.transfer_list(&ctx, &params).await;
        respond(&ctx, result)
    }

    async fn get_transfer(
        &self,
        ctx: RequestContext<Principal>,
        params: GetTransferParams,
    ) -> GetTransferResponse {
        let result = async {
            let mut conn = self.read_connection().await?;
            let principal = &ctx.principal;
            let view =
                transfers::get(&mut conn, &principal.org_id, &principal.permissions, &params.id)
                    .await?;
            Ok(GetTransferResponse::Ok(types::TransferResponse {
                request_id: ctx.request_id.clone(),
                data: convert::transfer(&view)?,
            }))
        }
        .await;
        respond(&ctx, result)
    }

    async fn create_transfer(
        &self,
        ctx: RequestContext<Principal>,
        params: CreateTransferParams,
    ) -> CreateTransferResponse {
        let body = &params.body;
        let source = AccountId::from_raw(body.source_account_id.as_str());
        let destination = AccountId::from_raw(body.destination_account_id.as_str());
        let amount = Cents::new(body.amount_in_cents);
        // The declared `transfer-pair` resource (the router checked only the scope).
        if let Err(denied) =
            ctx.principal.permissions.authorize_transfer(&source, &destination, amount)
        {
            return respond(&ctx, Err(denied.into()));
        }
        let request = TransferRequest {
            source_account_id: source.to_string(),
            destination_account_id: destination.to_string(),
            amount,
            description: body.description.as_deref().cloned(),
            simulation: body.simulation,
        };
        let key = params.idempotency_key.as_deref().map(String::as_str);
        self.mutate(&ctx, key, body, |mut tx| async {
            let result =
                transfers::create(&self.app, &mut tx, &ctx.principal.org_id, request.clone())
                    .await
                    .map_err(ApiError::from)
                    .and_then(|view| {
                        Ok(CreateTransferResponse::Created(types::TransferResponse {
                            request_id: ctx.request_id.clone(),
                            data: convert::transfer(&view)?,
                        }))
                    });
            (tx, result)
        })
        .await
    }
}
