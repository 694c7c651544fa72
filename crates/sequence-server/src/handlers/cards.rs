//! `CardsApi`: listing a pod's cards, reading one, and paging through a card's transactions.
//!
//! The generated router has checked `READ_CARDS` and, for `listCards`, the `account_id` filter.
//! `getCard` and `listCardTransactions` declare their resource as `loaded` (`checked-by:
//! application`): the card's pod is only known once the card is found, so
//! `sequence_app::cards::get` looks it up first (`404`) and checks the key afterwards (`403`).
//!
//! Cards are issued and used through the sandbox: the `SandboxApi` methods for `/sandbox/cards…`
//! (in `handlers/sandbox.rs`) delegate to the `sandbox_*card*` helpers below, which run
//! `sequence_app::cards`' use cases through [`Server::mutate`](crate::state::Server) (one
//! transaction, with the idempotency protocol).

use sequence_api::runtime::RequestContext;
use sequence_api::runtime::{FromError, Replayable};
use sequence_api::server::{
    CardsApi, CreateSandboxCardPurchaseParams, CreateSandboxCardPurchaseResponse,
    CreateSandboxCardRefundParams, CreateSandboxCardRefundResponse, GetCardParams, GetCardResponse,
    IssueSandboxCardParams, IssueSandboxCardResponse, ListCardTransactionsParams,
    ListCardTransactionsResponse, ListCardsParams, ListCardsResponse,
};
use sequence_api::types;
use sequence_app::cards::{self, NewCard, Purchase, Refund};
use sequence_core::cards::CardEvent;
use sequence_core::ids::{AccountId, CardId};
use sequence_core::money::Cents;
use sequence_store::cards::{CardFilter, CardTransactionFilter};

use super::transfers::{after_cursor, page_size};
use crate::auth::Principal;
use crate::convert::{self, Twin, cursor};
use crate::error::{ApiError, respond};
use crate::state::Server;

impl Server {
    async fn card_transactions(
        &self,
        ctx: &RequestContext<Principal>,
        params: &ListCardTransactionsParams,
    ) -> Result<ListCardTransactionsResponse, ApiError> {
        let after = after_cursor(params.after.as_deref().map(String::as_str))?;
        let filter = CardTransactionFilter {
            card: CardId::from_raw(params.id.as_str()),
            direction: params.direction.map(Twin::twin),
            from: params.from,
            to: params.to,
        };
        let mut conn = self.read_connection().await?;
        let principal = &ctx.principal;
        let (rows, has_next_page) = cards::list_transactions(
            &mut conn,
            &principal.org_id,
            &principal.permissions,
            filter,
            after.as_ref(),
            page_size(params.first),
        )
        .await?;
        let end_cursor = rows
            .last()
            .map(|t| cursor::encode(sequence_store::to_millis(t.created_at), t.id.as_str()));
        let data = rows.iter().map(convert::card_transaction).collect::<Result<_, _>>()?;
        Ok(ListCardTransactionsResponse::Ok(types::CardTransactionListResponse {
            request_id: ctx.request_id.clone(),
            data,
            page_info: types::PageInfo { end_cursor, has_next_page },
        }))
    }
}

/// Cents from a validated body amount (the spec bounds it far below `i64::MAX`).
fn cents(amount: std::num::NonZeroU64) -> Result<Cents, ApiError> {
    i64::try_from(amount.get())
        .map(Cents::new)
        .map_err(|_| ApiError::invalid("amount_in_cents is too large"))
}

fn card_response(
    ctx: &RequestContext<Principal>,
    record: &sequence_store::cards::CardRecord,
) -> Result<types::CardResponse, ApiError> {
    Ok(types::CardResponse { request_id: ctx.request_id.clone(), data: convert::card(record)? })
}

fn transaction_response(
    ctx: &RequestContext<Principal>,
    record: &sequence_store::cards::CardTransactionRecord,
) -> Result<types::CardTransactionResponse, ApiError> {
    Ok(types::CardTransactionResponse {
        request_id: ctx.request_id.clone(),
        data: convert::card_transaction(record)?,
    })
}

/// The sandbox's card operations (see the module docs).
impl Server {
    /// `POST /sandbox/cards`.
    pub(crate) async fn sandbox_issue_card(
        &self,
        ctx: RequestContext<Principal>,
        params: IssueSandboxCardParams,
    ) -> IssueSandboxCardResponse {
        let body = &params.body;
        let new = NewCard {
            account_id: body.account_id.to_string(),
            card_type: body.type_.twin(),
            holder_name: body.holder_name.as_deref().cloned(),
        };
        let key = params.idempotency_key.as_deref().map(String::as_str);
        self.mutate(&ctx, key, body, |mut tx| async {
            let result = cards::issue(&self.app, &mut tx, &ctx.principal.org_id, new.clone())
                .await
                .map_err(ApiError::from)
                .and_then(|record| {
                    card_response(&ctx, &record).map(IssueSandboxCardResponse::Created)
                });
            (tx, result)
        })
        .await
    }

    /// `POST /sandbox/cards/{id}/activate`, `/freeze`, `/unfreeze`, `/report-lost`,
    /// `/report-stolen`.
    pub(crate) async fn sandbox_change_card<R>(
        &self,
        ctx: &RequestContext<Principal>,
        id: &str,
        key: Option<&str>,
        event: CardEvent,
        respond_ok: impl Fn(types::CardResponse) -> R,
    ) -> R
    where
        R: Replayable + FromError<types::ErrorResponse>,
    {
        self.mutate(ctx, key, &(), |mut tx| async {
            let org = &ctx.principal.org_id;
            let result = cards::change_status(&self.app, &mut tx, org, id, event)
                .await
                .map_err(ApiError::from)
                .and_then(|record| card_response(ctx, &record).map(&respond_ok));
            (tx, result)
        })
        .await
    }

    /// `POST /sandbox/cards/{id}/purchases`.
    pub(crate) async fn sandbox_card_purchase(
        &self,
        ctx: RequestContext<Principal>,
        params: CreateSandboxCardPurchaseParams,
    ) -> CreateSandboxCardPurchaseResponse {
        let body = &params.body;
        let amount = match cents(body.amount_in_cents) {
            Ok(amount) => amount,
            Err(error) => return respond(&ctx, Err(error)),
        };
        let purchase = Purchase {
            amount,
            merchant_name: body.merchant_name.to_string(),
            description: body.description.as_deref().cloned(),
        };
        let key = params.idempotency_key.as_deref().map(String::as_str);
        self.mutate(&ctx, key, body, |mut tx| async {
            let org = &ctx.principal.org_id;
            let result = async {
                let record =
                    cards::purchase(&self.app, &mut tx, org, &params.id, purchase.clone()).await?;
                Ok(CreateSandboxCardPurchaseResponse::Created(transaction_response(&ctx, &record)?))
            }
            .await;
            (tx, result)
        })
        .await
    }

    /// `POST /sandbox/cards/{id}/refunds`.
    pub(crate) async fn sandbox_card_refund(
        &self,
        ctx: RequestContext<Principal>,
        params: CreateSandboxCardRefundParams,
    ) -> CreateSandboxCardRefundResponse {
        let body = &params.body;
        let amount = match body.amount_in_cents.map(cents).transpose() {
            Ok(amount) => amount,
            Err(error) => return respond(&ctx, Err(error)),
        };
        let refund = Refund {
            purchase_id: body.purchase_id.to_string(),
            amount,
            description: body.description.as_deref().cloned(),
        };
        let key = params.idempotency_key.as_deref().map(String::as_str);
        self.mutate(&ctx, key, body, |mut tx| async {
            let org = &ctx.principal.org_id;
            let result = async {
                let record =
                    cards::refund(&self.app, &mut tx, org, &params.id, refund.clone()).await?;
                Ok(CreateSandboxCardRefundResponse::Created(transaction_response(&ctx, &record)?))
            }
            .await;
            (tx, result)
        })
        .await
    }
}

impl CardsApi for Server {
    async fn list_cards(
        &self,
        ctx: RequestContext<Principal>,
        params: ListCardsParams,
    ) -> ListCardsResponse {
        let result = async {
            let filter = CardFilter {
                account: AccountId::from_raw(params.account_id.as_str()),
                status: params.status.map(Twin::twin),
                card_type: params.type_.map(Twin::twin),
            };
            let mut conn = self.read_connection().await?;
            let records = cards::list(&mut conn, &ctx.principal.org_id, filter).await?;
            Ok(ListCardsResponse::Ok(types::CardListResponse {
                request_id: ctx.request_id.clone(),
                data: records.iter().map(convert::card).collect::<Result<_, _>>()?,
            }))
        }
        .await;
        respond(&ctx, result)
    }

    async fn get_card(
        &self,
        ctx: RequestContext<Principal>,
        params: GetCardParams,
    ) -> GetCardResponse {
        let result = async {
            let mut conn = self.read_connection().await?;
            let principal = &ctx.principal;
            let record =
                cards::get(&mut conn, &principal.org_id, &principal.permissions, &params.id)
                    .await?;
            Ok(GetCardResponse::Ok(types::CardResponse {
                request_id: ctx.request_id.clone(),
                data: convert::card(&record)?,
            }))
        }
        .await;
        respond(&ctx, result)
    }

    async fn list_card_transactions(
        &self,
        ctx: RequestContext<Principal>,
        params: ListCardTransactionsParams,
    ) -> ListCardTransactionsResponse {
        let result = self.card_transactions(&ctx, &params).await;
        respond(&ctx, result)
    }
}
