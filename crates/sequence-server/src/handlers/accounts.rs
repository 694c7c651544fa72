//! `AccountsApi`: listing, reading, creating and deleting accounts.

use sequence_api::runtime::{FromError, Replayable, RequestContext};
use sequence_api::server::{
    AccountsApi, CreateIncomeSourceParams, CreateIncomeSourceResponse, CreatePodParams,
    CreatePodResponse, DeleteAccountParams, DeleteAccountResponse, GetAccountParams,
    GetAccountResponse, ListAccountsParams, ListAccountsResponse,
};
use sequence_api::types::{self, ErrorResponse};
use sequence_app::accounts;
use sequence_core::ledger::AccountKind;

use crate::auth::Principal;
use crate::convert;
use crate::error::{ApiError, respond};
use crate::state::Server;

impl Server {
    /// `createIncomeSource` and `createPod`: the two kinds of account a client can open, with the
    /// same body shape (`nickname`, `icon`).
    async fn open_account<R: Replayable + FromError<ErrorResponse>>(
        &self,
        ctx: &RequestContext<Principal>,
        idempotency_key: Option<&str>,
        (kind, nickname, icon): (AccountKind, &str, Option<&str>),
        body: &impl serde::Serialize,
        created: impl Fn(types::AccountResponse) -> R,
    ) -> R {
        self.mutate(ctx, idempotency_key, body, |mut tx| async {
            let org = &ctx.principal.org_id;
            let result = accounts::open(&self.app, &mut tx, org, kind, nickname, icon)
                .await
                .map_err(ApiError::from)
                .and_then(|record| {
                    Ok(created(types::AccountResponse {
                        request_id: ctx.request_id.clone(),
                        data: convert::account(&record)?,
                    }))
                });
            (tx, result)
        })
        .await
    }
}

impl AccountsApi for Server {
    async fn delete_account(
        &self,
        ctx: RequestContext<Principal>,
        params: DeleteAccountParams,
    ) -> DeleteAccountResponse {
        let key = params.idempotency_key.as_deref().map(String::as_str);
        self.mutate(&ctx, key, &(), |mut tx| async {
            let result = accounts::delete(&self.app, &mut tx, &ctx.principal.org_id, &params.id)
                .await
                .map(|()| DeleteAccountResponse::NoContent)
                .map_err(ApiError::from);
            (tx, result)
        })
        .await
    }

    async fn list_accounts(
        &self,
        ctx: RequestContext<Principal>,
        params: ListAccountsParams,
    ) -> ListAccountsResponse {
        let result = async {
            let filter = params.type_.map(|t| t.to_string());
            let store = &self.app.store;
            let records = accounts::list(store, &ctx.principal.org_id, filter.as_deref()).await?;
            Ok(ListAccountsResponse::Ok(types::AccountListResponse {
                request_id: ctx.request_id.clone(),
                data: records.iter().map(convert::account_summary).collect::<Result<_, _>>()?,
            }))
        }
        .await;
        respond(&ctx, result)
    }

    async fn get_account(
        &self,
        ctx: RequestContext<Principal>,
        params: GetAccountParams,
    ) -> GetAccountResponse {
        let result = async {
            let record = accounts::get(&self.app.store, &ctx.principal.org_id, &params.id).await?;
            Ok(GetAccountResponse::Ok(types::AccountResponse {
                request_id: ctx.request_id.clone(),
                data: convert::account(&record)?,
            }))
        }
        .await;
        respond(&ctx, result)
    }

    async fn create_income_source(
        &self,
        ctx: RequestContext<Principal>,
        params: CreateIncomeSourceParams,
    ) -> CreateIncomeSourceResponse {
        let body = &params.body;
        let account = (
            AccountKind::IncomeSource,
            body.nickname.as_str(),
            body.icon.as_deref().map(String::as_str),
        );
        let key = params.idempotency_key.as_deref().map(String::as_str);
        self.open_account(&ctx, key, account, body, CreateIncomeSourceResponse::Created).await
    }

    async fn create_pod(
        &self,
        ctx: RequestContext<Principal>,
        params: CreatePodParams,
    ) -> CreatePodResponse {
        let body = &params.body;
        let account =
            (AccountKind::Pod, body.nickname.as_str(), body.icon.as_deref().map(String::as_str));
        let key = params.idempotency_key.as_deref().map(String::as_str);
        self.open_account(&ctx, key, account, body, CreatePodResponse::Created).await
    }
}
