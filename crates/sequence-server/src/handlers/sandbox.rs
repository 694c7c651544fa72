//! `SandboxApi`: the controls an integrator uses to play the world the real service gets from
//! banks and people (deposits, linked external accounts, approvals, the clock, enabling rules).
//! Every operation requires the `SANDBOX` scope and is only routed with `serve --sandbox`.
//!
//! The trait needs one `impl` block; the work lives with the resource it touches:
//! ledger-related operations in [`super::ledger`], rule switches in [`super::rules`].

use sequence_api::runtime::RequestContext;
use sequence_api::server::{
    AdvanceSandboxClockParams, AdvanceSandboxClockResponse, ApproveSandboxTransferParams,
    ApproveSandboxTransferResponse, CreateSandboxDepositParams, CreateSandboxDepositResponse,
    CreateSandboxExternalAccountParams, CreateSandboxExternalAccountResponse,
    DeclineSandboxTransferParams, DeclineSandboxTransferResponse, DisableSandboxRuleParams,
    DisableSandboxRuleResponse, EnableSandboxRuleParams, EnableSandboxRuleResponse,
    GetSandboxOrganizationParams, GetSandboxOrganizationResponse, SandboxApi,
    UpdateSandboxOrganizationParams, UpdateSandboxOrganizationResponse,
};
use sequence_core::permissions::Scope;

use crate::auth::Principal;
use crate::error::respond;
use crate::state::Server;

/// Answers 403 unless the key holds `SANDBOX`.
macro_rules! require_sandbox_scope {
    ($ctx:expr) => {
        if let Err(denied) = $ctx.principal.permissions.require(Scope::Sandbox) {
            return respond(&$ctx, Err(denied.into()));
        }
    };
}

impl SandboxApi for Server {
    async fn create_sandbox_deposit(
        &self,
        ctx: RequestContext<Principal>,
        params: CreateSandboxDepositParams,
    ) -> CreateSandboxDepositResponse {
        require_sandbox_scope!(ctx);
        self.sandbox_deposit(ctx, params).await
    }

    async fn create_sandbox_external_account(
        &self,
        ctx: RequestContext<Principal>,
        params: CreateSandboxExternalAccountParams,
    ) -> CreateSandboxExternalAccountResponse {
        require_sandbox_scope!(ctx);
        self.sandbox_external_account(ctx, params).await
    }

    async fn approve_sandbox_transfer(
        &self,
        ctx: RequestContext<Principal>,
        params: ApproveSandboxTransferParams,
    ) -> ApproveSandboxTransferResponse {
        require_sandbox_scope!(ctx);
        self.sandbox_approve(ctx, params).await
    }

    async fn decline_sandbox_transfer(
        &self,
        ctx: RequestContext<Principal>,
        params: DeclineSandboxTransferParams,
    ) -> DeclineSandboxTransferResponse {
        require_sandbox_scope!(ctx);
        self.sandbox_decline(ctx, params).await
    }

    async fn advance_sandbox_clock(
        &self,
        ctx: RequestContext<Principal>,
        params: AdvanceSandboxClockParams,
    ) -> AdvanceSandboxClockResponse {
        require_sandbox_scope!(ctx);
        self.sandbox_advance_clock(ctx, params).await
    }

    async fn get_sandbox_organization(
        &self,
        ctx: RequestContext<Principal>,
        params: GetSandboxOrganizationParams,
    ) -> GetSandboxOrganizationResponse {
        require_sandbox_scope!(ctx);
        self.sandbox_get_organization(ctx, params).await
    }

    async fn update_sandbox_organization(
        &self,
        ctx: RequestContext<Principal>,
        params: UpdateSandboxOrganizationParams,
    ) -> UpdateSandboxOrganizationResponse {
        require_sandbox_scope!(ctx);
        self.sandbox_update_organization(ctx, params).await
    }

    async fn enable_sandbox_rule(
        &self,
        ctx: RequestContext<Principal>,
        params: EnableSandboxRuleParams,
    ) -> EnableSandboxRuleResponse {
        require_sandbox_scope!(ctx);
        self.sandbox_enable_rule(ctx, params).await
    }

    async fn disable_sandbox_rule(
        &self,
        ctx: RequestContext<Principal>,
        params: DisableSandboxRuleParams,
    ) -> DisableSandboxRuleResponse {
        require_sandbox_scope!(ctx);
        self.sandbox_disable_rule(ctx, params).await
    }
}
