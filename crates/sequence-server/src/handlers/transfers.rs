//! `TransfersApi`: creating, listing and reading transfers.

use sequence_api::runtime::RequestContext;
use sequence_api::server::{
    CreateTransferParams, CreateTransferResponse, GetTransferParams, GetTransferResponse,
    ListTransfersParams, ListTransfersResponse, TransfersApi,
};
use sequence_api::types;
use sequence_core::ids::AccountId;
use sequence_core::ledger::{
    AccountView, TransferDirection, TransferOrigin, validate_manual_transfer,
};
use sequence_core::money::Cents;
use sequence_core::permissions::Scope;
use sequence_store::accounts;
use sequence_store::orgs;
use sequence_store::transfers::{self, AccountRole, ModeFilter, TransferFilter};
use sequence_store::{AnyConnection, StoreError};

use super::accounts::account_not_found;
use super::ledger::{NewTransfer, transfer_not_found};
use crate::auth::Principal;
use crate::convert::{self, cursor};
use crate::error::{ApiError, respond};
use crate::idempotency::fingerprint;
use crate::state::Server;

/// The mode filter a list's `execution_mode` parameter asks for (default: live only).
pub(crate) fn mode_filter(mode: Option<types::ExecutionMode>) -> ModeFilter {
    match mode {
        None | Some(types::ExecutionMode::Live) => ModeFilter::Live,
        Some(types::ExecutionMode::Simulation) => ModeFilter::Simulation,
        Some(types::ExecutionMode::All) => ModeFilter::All,
    }
}

/// Checks `from <= to` and decodes `after`.
pub(crate) fn page_bounds(
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
    after: Option<&str>,
) -> Result<Option<transfers::Cursor>, ApiError> {
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(ApiError::invalid("`from` is later than `to`"));
    }
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
        ctx.principal.permissions.require_resource(Scope::ReadTransfers, account_id)?;
        let after =
            page_bounds(params.from, params.to, params.after.as_deref().map(String::as_str))?;
        let first = u32::try_from(params.first).unwrap_or(20).clamp(1, 100);
        let mut conn = self.state.store.pool().acquire().await.map_err(StoreError::from)?;
        let org = &ctx.principal.org_id;
        // Deleted accounts are not found here either (spec decision 10), although their
        // transfers stay readable by id.
        if accounts::find(&mut conn, org, account_id).await?.is_none_or(|a| a.is_deleted()) {
            return Err(account_not_found(account_id));
        }
        let filter = TransferFilter {
            account: AccountId::from_raw(account_id),
            role: match params.account_role {
                Some(types::AccountRole::Source) => AccountRole::Source,
                Some(types::AccountRole::Destination) => AccountRole::Destination,
                Some(types::AccountRole::Either) | None => AccountRole::Either,
            },
            direction: params
                .direction
                .map(convert::same_name::<_, TransferDirection>)
                .transpose()?,
            origin: params.origin.map(convert::same_name::<_, TransferOrigin>).transpose()?,
            status: params.status.map(convert::same_name).transpose()?,
            mode: mode_filter(params.execution_mode),
            from: params.from,
            to: params.to,
            rule_execution: None,
        };
        let mut rows = transfers::list(&mut conn, org, &filter, after.as_ref(), first + 1).await?;
        let has_next_page = rows.len() > first as usize;
        rows.truncate(first as usize);
        let end_cursor = rows
            .last()
            .map(|t| cursor::encode(sequence_store::to_millis(t.created_at), t.id.as_str()));
        let mut data = Vec::with_capacity(rows.len());
        for row in &rows {
            data.push(self.transfer_view(&mut conn, row).await?);
        }
        Ok(ListTransfersResponse::Ok(types::TransferListResponse {
            request_id: ctx.request_id.clone(),
            data,
            page_info: types::PageInfo { end_cursor, has_next_page },
        }))
    }

    async fn transfer_get(
        &self,
        ctx: &RequestContext<Principal>,
        id: &str,
    ) -> Result<GetTransferResponse, ApiError> {
        let filter = ctx.principal.permissions.resource_filter(Scope::ReadTransfers)?;
        let mut conn = self.state.store.pool().acquire().await.map_err(StoreError::from)?;
        let transfer = transfers::find(&mut conn, &ctx.principal.org_id, id)
            .await?
            .ok_or_else(|| transfer_not_found(id))?;
        let visible = [&transfer.source, &transfer.destination]
            .into_iter()
            .flatten()
            .any(|a| filter.allows(a.as_str()));
        if !visible {
            return Err(ApiError::forbidden());
        }
        let data = self.transfer_view(&mut conn, &transfer).await?;
        Ok(GetTransferResponse::Ok(types::TransferResponse {
            request_id: ctx.request_id.clone(),
            data,
        }))
    }

    async fn transfer_create(
        &self,
        conn: &mut sequence_store::Tx,
        ctx: &RequestContext<Principal>,
        body: &types::CreateTransferRequest,
    ) -> Result<CreateTransferResponse, ApiError> {
        let org = orgs::get(conn, &ctx.principal.org_id).await?;
        let now = self.state.org_now(org.clock_offset_seconds);
        // Lock both accounts (in id order, as postings do) before reading them, so a concurrent
        // deletion cannot slip between this check and the transfer's insert.
        let mut sides = [body.source_account_id.as_str(), body.destination_account_id.as_str()];
        sides.sort_unstable();
        for id in sides {
            accounts::lock_live(conn, &org.id, id).await?;
        }
        let find = async |conn: &mut AnyConnection,
                          id: &str|
               -> Result<Option<accounts::AccountRecord>, ApiError> {
            Ok(accounts::find(conn, &org.id, id).await?.filter(|a| !a.is_deleted()))
        };
        let source = find(conn, body.source_account_id.as_str()).await?.ok_or_else(|| {
            ApiError::new(
                sequence_api::server::ErrorCode::TransferSourceNotFound,
                format!(
                    "No account `{}` exists in this organization.",
                    body.source_account_id.as_str()
                ),
            )
        })?;
        let destination =
            find(conn, body.destination_account_id.as_str()).await?.ok_or_else(|| {
                ApiError::new(
                    sequence_api::server::ErrorCode::TransferDestinationNotFound,
                    format!(
                        "No account `{}` exists in this organization.",
                        body.destination_account_id.as_str()
                    ),
                )
            })?;
        let amount = Cents::new(body.amount_in_cents);
        let view = |a: &accounts::AccountRecord| AccountView {
            id: a.id.clone(),
            kind: a.kind,
            is_deleted: a.is_deleted(),
        };
        validate_manual_transfer(&view(&source), &view(&destination), amount)?;
        let direction = sequence_core::ledger::TransferDirection::between(
            &view(&source).endpoint(),
            &view(&destination).endpoint(),
        )
        .map_err(ApiError::internal)?;
        let new = NewTransfer {
            source: Some(&source),
            destination: Some(&destination),
            amount,
            origin: TransferOrigin::of_manual_transfer(direction),
            description: body.description.as_deref().cloned(),
            simulation: body.simulation,
            rule: None,
        };
        let record = self.accept_transfer(conn, &org, new, now).await?;
        let data = self.transfer_view(conn, &record).await?;
        Ok(CreateTransferResponse::Created(types::TransferResponse {
            request_id: ctx.request_id.clone(),
            data,
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
        let result = self.transfer_get(&ctx, &params.id).await;
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
        if let Err(denied) = ctx.principal.permissions.authorize_transfer(
            &source,
            &destination,
            Cents::new(body.amount_in_cents),
        ) {
            return respond(&ctx, Err(denied.into()));
        }
        let key = params.idempotency_key.as_deref().map(String::as_str);
        let fingerprint = fingerprint("POST", "/transfers", body);
        self.mutate(&ctx, key, fingerprint, |mut tx| async {
            let result = self.transfer_create(&mut tx, &ctx, body).await;
            (tx, result)
        })
        .await
    }
}
