//! `SandboxApi`: the controls an integrator uses to play the world the real service gets from
//! banks and people (deposits, linked external accounts, approvals, the clock, enabling rules).
//! Every operation requires the `SANDBOX` scope (declared in the spec, enforced by the generated
//! router) and is only routed with `serve --sandbox`.
//!
//! The use cases are `sequence_app::ledger` (deposits, linked accounts, approvals),
//! `sequence_app::sandbox` (clock, organization), `sequence_app::rules` (the switches),
//! `sequence_app::webhooks` (endpoints, attempts and events; handlers in [`super::webhooks`]) and
//! `sequence_app::cards` (the card issuer and network; the card operations delegate to the
//! helpers in `handlers/cards.rs`).

use chrono::{DateTime, Utc};
use sequence_api::runtime::RequestContext;
use sequence_api::server::{
    ActivateSandboxCardParams, ActivateSandboxCardResponse, AdvanceSandboxClockParams,
    AdvanceSandboxClockResponse, ApproveSandboxTransferParams, ApproveSandboxTransferResponse,
    CreateSandboxCardPurchaseParams, CreateSandboxCardPurchaseResponse,
    CreateSandboxCardRefundParams, CreateSandboxCardRefundResponse, CreateSandboxDepositParams,
    CreateSandboxDepositResponse, CreateSandboxExternalAccountParams,
    CreateSandboxExternalAccountResponse, CreateSandboxWebhookEndpointParams,
    CreateSandboxWebhookEndpointResponse, DeclineSandboxTransferParams,
    DeclineSandboxTransferResponse, DeleteSandboxWebhookEndpointParams,
    DeleteSandboxWebhookEndpointResponse, DisableSandboxRuleParams, DisableSandboxRuleResponse,
    EnableSandboxRuleParams, EnableSandboxRuleResponse, FreezeSandboxCardParams,
    FreezeSandboxCardResponse, GetSandboxOrganizationParams, GetSandboxOrganizationResponse,
    GetSandboxWebhookEventParams, GetSandboxWebhookEventResponse, IssueSandboxCardParams,
    IssueSandboxCardResponse, ListSandboxWebhookDeliveriesParams,
    ListSandboxWebhookDeliveriesResponse, ListSandboxWebhookEndpointsParams,
    ListSandboxWebhookEndpointsResponse, ReportSandboxCardLostParams,
    ReportSandboxCardLostResponse, ReportSandboxCardStolenParams, ReportSandboxCardStolenResponse,
    SandboxApi, UnfreezeSandboxCardParams, UnfreezeSandboxCardResponse,
    UpdateSandboxOrganizationParams, UpdateSandboxOrganizationResponse,
};
use sequence_api::types;
use sequence_app::ledger::{self, Deposit, ExternalAccount, TransferView};
use sequence_app::sandbox;
use sequence_core::cards::CardEvent;
use sequence_core::ledger::TransferEvent;
use sequence_core::money::Cents;
use sequence_store::orgs::Organization;

use crate::auth::Principal;
use crate::convert;
use crate::error::{ApiError, respond};
use crate::state::Server;

fn transfer_response(
    ctx: &RequestContext<Principal>,
    view: &TransferView,
) -> Result<types::TransferResponse, ApiError> {
    Ok(types::TransferResponse {
        request_id: ctx.request_id.clone(),
        data: convert::transfer(view)?,
    })
}

fn organization_response(
    ctx: &RequestContext<Principal>,
    (org, now): (Organization, DateTime<Utc>),
) -> Result<types::SandboxOrganizationResponse, ApiError> {
    Ok(types::SandboxOrganizationResponse {
        request_id: ctx.request_id.clone(),
        data: types::SandboxOrganization {
            id: convert::wire(org.id.as_str())?,
            name: org.name,
            now,
            approval_threshold_in_cents: org.approval_threshold.map(Cents::get),
        },
    })
}

impl Server {
    /// Approves or declines a transfer waiting for a person.
    async fn sandbox_decide<R>(
        &self,
        ctx: &RequestContext<Principal>,
        id: &str,
        key: Option<&str>,
        event: TransferEvent,
        respond_ok: impl Fn(types::TransferResponse) -> R,
    ) -> R
    where
        R: sequence_api::runtime::Replayable
            + sequence_api::runtime::FromError<types::ErrorResponse>,
    {
        self.mutate(ctx, key, &(), |mut tx| async {
            let org = &ctx.principal.org_id;
            let result = ledger::decide_approval(&self.app, &mut tx, org, id, event)
                .await
                .map_err(ApiError::from)
                .and_then(|view| transfer_response(ctx, &view).map(&respond_ok));
            (tx, result)
        })
        .await
    }
}

impl SandboxApi for Server {
    async fn create_sandbox_deposit(
        &self,
        ctx: RequestContext<Principal>,
        params: CreateSandboxDepositParams,
    ) -> CreateSandboxDepositResponse {
        let body = &params.body;
        let Ok(amount) = i64::try_from(body.amount_in_cents.get()) else {
            return respond(&ctx, Err(ApiError::invalid("amount_in_cents is too large")));
        };
        let deposit = Deposit {
            account_id: body.account_id.to_string(),
            amount: Cents::new(amount),
            origin: body.origin.map(convert::deposit_origin),
            description: body.description.as_deref().cloned(),
        };
        let key = params.idempotency_key.as_deref().map(String::as_str);
        self.mutate(&ctx, key, body, |mut tx| async {
            let org = &ctx.principal.org_id;
            let result = ledger::deposit(&self.app, &mut tx, org, deposit.clone())
                .await
                .map_err(ApiError::from)
                .and_then(|view| {
                    transfer_response(&ctx, &view).map(CreateSandboxDepositResponse::Created)
                });
            (tx, result)
        })
        .await
    }

    async fn create_sandbox_external_account(
        &self,
        ctx: RequestContext<Principal>,
        params: CreateSandboxExternalAccountParams,
    ) -> CreateSandboxExternalAccountResponse {
        let body = &params.body;
        let input = ExternalAccount {
            name: body.name.to_string(),
            institution_name: body.institution_name.to_string(),
            kind: convert::external_type_from_wire(body.external_account_type),
            balance: Cents::new(body.balance_in_cents),
            last_statement_balance: body.last_statement_balance_in_cents.map(Cents::new),
            next_payment_minimum: body.next_payment_minimum_in_cents.map(Cents::new),
            next_payment_due_date: body.next_payment_due_date,
        };
        let key = params.idempotency_key.as_deref().map(String::as_str);
        self.mutate(&ctx, key, body, |mut tx| async {
            let org = &ctx.principal.org_id;
            let result = ledger::create_external_account(&self.app, &mut tx, org, input.clone())
                .await
                .map_err(ApiError::from)
                .and_then(|record| {
                    Ok(CreateSandboxExternalAccountResponse::Created(types::AccountResponse {
                        request_id: ctx.request_id.clone(),
                        data: convert::account(&record)?,
                    }))
                });
            (tx, result)
        })
        .await
    }

    async fn approve_sandbox_transfer(
        &self,
        ctx: RequestContext<Principal>,
        params: ApproveSandboxTransferParams,
    ) -> ApproveSandboxTransferResponse {
        let key = params.idempotency_key.as_deref().map(String::as_str);
        self.sandbox_decide(
            &ctx,
            &params.id,
            key,
            TransferEvent::Approve,
            ApproveSandboxTransferResponse::Ok,
        )
        .await
    }

    async fn decline_sandbox_transfer(
        &self,
        ctx: RequestContext<Principal>,
        params: DeclineSandboxTransferParams,
    ) -> DeclineSandboxTransferResponse {
        let key = params.idempotency_key.as_deref().map(String::as_str);
        self.sandbox_decide(
            &ctx,
            &params.id,
            key,
            TransferEvent::Decline,
            DeclineSandboxTransferResponse::Ok,
        )
        .await
    }

    async fn advance_sandbox_clock(
        &self,
        ctx: RequestContext<Principal>,
        params: AdvanceSandboxClockParams,
    ) -> AdvanceSandboxClockResponse {
        let Ok(seconds) = i64::try_from(params.body.seconds.get()) else {
            return respond(&ctx, Err(ApiError::invalid("`seconds` is too large")));
        };
        let key = params.idempotency_key.as_deref().map(String::as_str);
        self.mutate(&ctx, key, &params.body, |mut tx| async {
            let org = &ctx.principal.org_id;
            let result = sandbox::advance_clock(&self.app, &mut tx, org, seconds)
                .await
                .map(|advanced| {
                    AdvanceSandboxClockResponse::Ok(types::SandboxClockResponse {
                        request_id: ctx.request_id.clone(),
                        data: types::SandboxClock {
                            now: advanced.now,
                            transfers_settled: i32::try_from(advanced.transfers_settled)
                                .unwrap_or(i32::MAX),
                            rules_executed: i32::try_from(advanced.rules_executed)
                                .unwrap_or(i32::MAX),
                        },
                    })
                })
                .map_err(ApiError::from);
            (tx, result)
        })
        .await
    }

    async fn get_sandbox_organization(
        &self,
        ctx: RequestContext<Principal>,
        _params: GetSandboxOrganizationParams,
    ) -> GetSandboxOrganizationResponse {
        let result = async {
            let mut conn = self.read_connection().await?;
            let org = sandbox::organization(&self.app, &mut conn, &ctx.principal.org_id).await?;
            Ok(GetSandboxOrganizationResponse::Ok(organization_response(&ctx, org)?))
        }
        .await;
        respond(&ctx, result)
    }

    async fn update_sandbox_organization(
        &self,
        ctx: RequestContext<Principal>,
        params: UpdateSandboxOrganizationParams,
    ) -> UpdateSandboxOrganizationResponse {
        let key = params.idempotency_key.as_deref().map(String::as_str);
        let threshold = params.body.approval_threshold_in_cents.map(Cents::new);
        self.mutate(&ctx, key, &params.body, |mut tx| async {
            let org = &ctx.principal.org_id;
            let result = sandbox::set_approval_threshold(&self.app, &mut tx, org, threshold)
                .await
                .map_err(ApiError::from)
                .and_then(|org| {
                    organization_response(&ctx, org).map(UpdateSandboxOrganizationResponse::Ok)
                });
            (tx, result)
        })
        .await
    }

    async fn enable_sandbox_rule(
        &self,
        ctx: RequestContext<Principal>,
        params: EnableSandboxRuleParams,
    ) -> EnableSandboxRuleResponse {
        self.sandbox_enable_rule(ctx, params).await
    }

    async fn disable_sandbox_rule(
        &self,
        ctx: RequestContext<Principal>,
        params: DisableSandboxRuleParams,
    ) -> DisableSandboxRuleResponse {
        self.sandbox_disable_rule(ctx, params).await
    }

    async fn list_sandbox_webhook_endpoints(
        &self,
        ctx: RequestContext<Principal>,
        params: ListSandboxWebhookEndpointsParams,
    ) -> ListSandboxWebhookEndpointsResponse {
        self.sandbox_list_webhook_endpoints(ctx, params).await
    }

    async fn create_sandbox_webhook_endpoint(
        &self,
        ctx: RequestContext<Principal>,
        params: CreateSandboxWebhookEndpointParams,
    ) -> CreateSandboxWebhookEndpointResponse {
        self.sandbox_create_webhook_endpoint(ctx, params).await
    }

    async fn delete_sandbox_webhook_endpoint(
        &self,
        ctx: RequestContext<Principal>,
        params: DeleteSandboxWebhookEndpointParams,
    ) -> DeleteSandboxWebhookEndpointResponse {
        self.sandbox_delete_webhook_endpoint(ctx, params).await
    }

    async fn list_sandbox_webhook_deliveries(
        &self,
        ctx: RequestContext<Principal>,
        params: ListSandboxWebhookDeliveriesParams,
    ) -> ListSandboxWebhookDeliveriesResponse {
        self.sandbox_list_webhook_deliveries(ctx, params).await
    }

    async fn get_sandbox_webhook_event(
        &self,
        ctx: RequestContext<Principal>,
        params: GetSandboxWebhookEventParams,
    ) -> GetSandboxWebhookEventResponse {
        self.sandbox_get_webhook_event(ctx, params).await
    }

    async fn issue_sandbox_card(
        &self,
        ctx: RequestContext<Principal>,
        params: IssueSandboxCardParams,
    ) -> IssueSandboxCardResponse {
        self.sandbox_issue_card(ctx, params).await
    }

    async fn activate_sandbox_card(
        &self,
        ctx: RequestContext<Principal>,
        params: ActivateSandboxCardParams,
    ) -> ActivateSandboxCardResponse {
        let key = params.idempotency_key.as_deref().map(String::as_str);
        let ok = ActivateSandboxCardResponse::Ok;
        self.sandbox_change_card(&ctx, &params.id, key, CardEvent::Activate, ok).await
    }

    async fn freeze_sandbox_card(
        &self,
        ctx: RequestContext<Principal>,
        params: FreezeSandboxCardParams,
    ) -> FreezeSandboxCardResponse {
        let key = params.idempotency_key.as_deref().map(String::as_str);
        let ok = FreezeSandboxCardResponse::Ok;
        self.sandbox_change_card(&ctx, &params.id, key, CardEvent::Freeze, ok).await
    }

    async fn unfreeze_sandbox_card(
        &self,
        ctx: RequestContext<Principal>,
        params: UnfreezeSandboxCardParams,
    ) -> UnfreezeSandboxCardResponse {
        let key = params.idempotency_key.as_deref().map(String::as_str);
        let ok = UnfreezeSandboxCardResponse::Ok;
        self.sandbox_change_card(&ctx, &params.id, key, CardEvent::Unfreeze, ok).await
    }

    async fn report_sandbox_card_lost(
        &self,
        ctx: RequestContext<Principal>,
        params: ReportSandboxCardLostParams,
    ) -> ReportSandboxCardLostResponse {
        let key = params.idempotency_key.as_deref().map(String::as_str);
        let ok = ReportSandboxCardLostResponse::Ok;
        self.sandbox_change_card(&ctx, &params.id, key, CardEvent::ReportLost, ok).await
    }

    async fn report_sandbox_card_stolen(
        &self,
        ctx: RequestContext<Principal>,
        params: ReportSandboxCardStolenParams,
    ) -> ReportSandboxCardStolenResponse {
        let key = params.idempotency_key.as_deref().map(String::as_str);
        let ok = ReportSandboxCardStolenResponse::Ok;
        self.sandbox_change_card(&ctx, &params.id, key, CardEvent::ReportStolen, ok).await
    }

    async fn create_sandbox_card_purchase(
        &self,
        ctx: RequestContext<Principal>,
        params: CreateSandboxCardPurchaseParams,
    ) -> CreateSandboxCardPurchaseResponse {
        self.sandbox_card_purchase(ctx, params).await
    }

    async fn create_sandbox_card_refund(
        &self,
        ctx: RequestContext<Principal>,
        params: CreateSandboxCardRefundParams,
    ) -> CreateSandboxCardRefundResponse {
        self.sandbox_card_refund(ctx, params).await
    }
}
