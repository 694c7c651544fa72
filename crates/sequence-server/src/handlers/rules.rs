//! `RulesApi` and the sandbox's rule switches. Not implemented yet: the operations answer
//! `501 not_implemented` (the README lists what is implemented).

use sequence_api::runtime::RequestContext;
use sequence_api::server::{
    DisableSandboxRuleParams, DisableSandboxRuleResponse, EnableSandboxRuleParams, EnableSandboxRuleResponse,
    ErrorCode, RulesApi,
};

use crate::auth::Principal;
use crate::error::{ApiError, respond};
use crate::state::Server;

impl RulesApi for Server {}

impl Server {
    /// `POST /sandbox/rules/{id}/enable`.
    pub(crate) async fn sandbox_enable_rule(
        &self,
        ctx: RequestContext<Principal>,
        _params: EnableSandboxRuleParams,
    ) -> EnableSandboxRuleResponse {
        respond(&ctx, Err(ApiError::new(ErrorCode::NotImplemented, "enableSandboxRule is not implemented yet.")))
    }

    /// `POST /sandbox/rules/{id}/disable`.
    pub(crate) async fn sandbox_disable_rule(
        &self,
        ctx: RequestContext<Principal>,
        _params: DisableSandboxRuleParams,
    ) -> DisableSandboxRuleResponse {
        respond(&ctx, Err(ApiError::new(ErrorCode::NotImplemented, "disableSandboxRule is not implemented yet.")))
    }
}
