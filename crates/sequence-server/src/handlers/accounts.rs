//! `AccountsApi`: listing, reading, creating and deleting accounts.

use chrono::{DateTime, Utc};
use rand::Rng;
use sequence_api::runtime::{FromError, Replayable, RequestContext};
use sequence_api::server::{
    AccountsApi, CreateIncomeSourceParams, CreateIncomeSourceResponse, CreatePodParams,
    CreatePodResponse, DeleteAccountParams, DeleteAccountResponse, ErrorCode, GetAccountParams,
    GetAccountResponse, ListAccountsParams, ListAccountsResponse,
};
use sequence_api::types::{self, ErrorResponse};
use sequence_core::ids::AccountId;
use sequence_core::ledger::{AccountKind, AccountView, check_deletable};
use sequence_core::money::Cents;
use sequence_core::permissions::Scope;
use sequence_store::accounts::{self, AccountRecord};
use sequence_store::orgs::{self, Organization};
use sequence_store::{StoreError, Tx};

use crate::auth::Principal;
use crate::convert;
use crate::error::{ApiError, respond};
use crate::idempotency::fingerprint;
use crate::state::Server;

/// `404 account_not_found`.
pub(crate) fn account_not_found(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::AccountNotFound,
        format!("No account `{id}` exists in this organization."),
    )
}

/// A new, empty account of `org` (organization-clock timestamps `now`), with random routing and
/// account numbers (stored in full, masked on the wire). Callers adjust the remaining fields.
pub(crate) fn new_account(
    org: &Organization,
    kind: AccountKind,
    name: &str,
    now: DateTime<Utc>,
) -> AccountRecord {
    let digits = |count: usize| -> String {
        let mut rng = rand::rng();
        (0..count).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect()
    };
    AccountRecord {
        id: AccountId::generate(),
        org_id: org.id.clone(),
        kind,
        name: name.to_owned(),
        description: None,
        icon: None,
        beneficiary_name: org.name.clone(),
        institution_name: None,
        routing_number: Some(digits(9)),
        account_number: Some(digits(12)),
        balance: Cents::ZERO,
        reserved: Cents::ZERO,
        reported_balance: None,
        last_statement_balance: None,
        next_payment_minimum: None,
        next_payment_due_date: None,
        balance_updated_at: now,
        created_at: now,
        updated_at: now,
        deleted_at: None,
    }
}

impl Server {
    /// `createIncomeSource` and `createPod`: the two kinds of account a client can open, with the
    /// same body shape (`nickname`, `icon`).
    async fn open_account<R: Replayable + FromError<ErrorResponse>>(
        &self,
        ctx: &RequestContext<Principal>,
        idempotency_key: Option<&str>,
        path: &str,
        (kind, nickname, icon): (AccountKind, &str, Option<&str>),
        body: &impl serde::Serialize,
        created: impl Fn(types::AccountResponse) -> R,
    ) -> R {
        if let Err(error) = ctx.principal.permissions.require(Scope::ManageAccounts) {
            return respond(ctx, Err(error.into()));
        }
        self.mutate(ctx, idempotency_key, fingerprint("POST", path, body), |mut tx| async {
            let result = async {
                let org = orgs::get(&mut tx, &ctx.principal.org_id).await?;
                let now = self.state.org_now(org.clock_offset_seconds);
                let record = AccountRecord {
                    icon: icon.map(str::to_owned),
                    ..new_account(&org, kind, nickname, now)
                };
                accounts::insert(&mut tx, &record).await?;
                Ok(created(types::AccountResponse {
                    request_id: ctx.request_id.clone(),
                    data: convert::account(&record),
                }))
            }
            .await;
            (tx, result)
        })
        .await
    }
}

impl Server {
    /// Deletes an account that holds no money and has no transfer in flight.
    async fn delete_account_in(
        &self,
        tx: &mut Tx,
        principal: &Principal,
        id: &str,
    ) -> Result<DeleteAccountResponse, ApiError> {
        let org = sequence_store::orgs::get(tx, &principal.org_id).await?;
        let now = self.state.org_now(org.clock_offset_seconds);
        // Lock the account before looking at its money and transfers: a transfer or deposit
        // arriving concurrently locks it too, so it either committed before (and is counted
        // below) or waits and then finds the account deleted (see accounts::lock_live).
        if !accounts::lock_live(tx, &org.id, id).await? {
            return Err(account_not_found(id));
        }
        let account = match accounts::get_live(tx, &org.id, id).await {
            Err(StoreError::NotFound) => return Err(account_not_found(id)),
            other => other?,
        };
        let in_flight =
            sequence_store::transfers::count_in_flight(tx, &org.id, &account.id).await?;
        let view = AccountView { id: account.id.clone(), kind: account.kind, is_deleted: false };
        let ledger_balance = account.kind.is_internal().then_some(account.balance);
        check_deletable(&view, ledger_balance, in_flight)?;
        if !accounts::soft_delete_if_empty(tx, &org.id, &account.id, now).await? {
            // Money arrived between the read and the delete: refuse rather than lose it.
            return Err(ApiError::new(
                ErrorCode::AccountNotEmpty,
                format!("account {id} is not empty"),
            ));
        }
        Ok(DeleteAccountResponse::NoContent)
    }
}

impl AccountsApi for Server {
    async fn delete_account(
        &self,
        ctx: RequestContext<Principal>,
        params: DeleteAccountParams,
    ) -> DeleteAccountResponse {
        if let Err(error) = ctx.principal.permissions.require(Scope::ManageAccounts) {
            return respond(&ctx, Err(error.into()));
        }
        let key = params.idempotency_key.as_deref().map(String::as_str);
        let fingerprint = fingerprint("DELETE", &format!("/accounts/{}", *params.id), &());
        self.mutate(&ctx, key, fingerprint, |mut tx| async {
            let result = self.delete_account_in(&mut tx, &ctx.principal, &params.id).await;
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
            ctx.principal.permissions.require(Scope::ListAccounts)?;
            let mut conn = self.state.store.pool().acquire().await.map_err(StoreError::from)?;
            let filter = params.type_.map(|t| t.to_string());
            let records =
                accounts::list(&mut conn, &ctx.principal.org_id, filter.as_deref()).await?;
            Ok(ListAccountsResponse::Ok(types::AccountListResponse {
                request_id: ctx.request_id.clone(),
                data: records.iter().map(convert::account_summary).collect(),
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
            ctx.principal.permissions.require_resource(Scope::ReadAccounts, &params.id)?;
            let mut conn = self.state.store.pool().acquire().await.map_err(StoreError::from)?;
            let record =
                match accounts::get_live(&mut conn, &ctx.principal.org_id, &params.id).await {
                    Err(StoreError::NotFound) => return Err(account_not_found(&params.id)),
                    other => other?,
                };
            Ok(GetAccountResponse::Ok(types::AccountResponse {
                request_id: ctx.request_id.clone(),
                data: convert::account(&record),
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
        self.open_account(
            &ctx,
            key,
            "/accounts/income-sources",
            account,
            body,
            CreateIncomeSourceResponse::Created,
        )
        .await
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
        self.open_account(&ctx, key, "/accounts/pods", account, body, CreatePodResponse::Created)
            .await
    }
}
