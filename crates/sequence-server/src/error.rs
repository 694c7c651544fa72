//! [`ApiError`]: the single boundary where domain and storage errors become HTTP answers.
//!
//! Errors are layered: the domain's (`TransferRejection`, `Denied`, …) and the store's become
//! the application layer's `AppError`, and `From<AppError>` below is the only place that decides
//! a status and an error code. The error code is always one of
//! the spec's catalogue ([`ErrorCode`], generated from `x-error-codes`). Internal details (database
//! errors, broken invariants) are logged with the request id and never sent to the client.

use sequence_api::runtime::{FromError, RequestContext};
use sequence_api::server::{ErrorCode, error_body};
use sequence_api::types::ErrorResponse;
use sequence_app::{AppError, Resource};
use sequence_core::cards::PurchaseDecline;
use sequence_core::ledger::TransferRejection;
use sequence_core::permissions::{Denied, TransferDenied};
use sequence_store::StoreError;

/// The message every 401 carries (verbatim from the public docs).
pub const UNAUTHORIZED_MESSAGE: &str = "Missing or invalid API key.";
/// The message every plain 403 carries (verbatim from the public docs).
pub const FORBIDDEN_MESSAGE: &str = "This API key does not have the required permission.";

/// An error answer: a catalogue code (which fixes the status), a message for the client, and
/// optionally an internal cause for the logs.
#[derive(Debug)]
pub struct ApiError {
    /// The catalogue code; its status is the HTTP status.
    pub code: ErrorCode,
    /// Sent to the client.
    pub message: String,
    /// Logged, never sent.
    pub internal: Option<String>,
    /// The transaction collided with a concurrent one; the whole use case may be retried.
    pub retryable: bool,
}

impl ApiError {
    /// An error with a client-facing message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into(), internal: None, retryable: false }
    }

    /// 403 with the documented message.
    pub fn forbidden() -> ApiError {
        ApiError::new(ErrorCode::Forbidden, FORBIDDEN_MESSAGE)
    }

    /// 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidRequest, message)
    }

    /// 500 with a generic message; `cause` goes to the logs only.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        ApiError {
            code: ErrorCode::InternalError,
            message: "An internal error occurred. It has been logged; retry later or report the request id.".to_owned(),
            internal: Some(cause.to_string()),
            retryable: false,
        }
    }

    /// Renders into an operation's response enum, falling back to its 500 variant when the
    /// operation does not declare this status (a server bug, logged). `operation` is the
    /// `operationId`, from the request context, for the logs.
    pub fn into_response<R: FromError<ErrorResponse>>(
        self,
        request_id: &str,
        operation: &str,
    ) -> R {
        let status = self.code.status();
        if let Some(internal) = &self.internal {
            tracing::error!(request_id, operation, code = self.code.as_str(), %internal, "request failed");
        } else {
            tracing::debug!(request_id, operation, code = self.code.as_str(), message = %self.message, "request refused");
        }
        let body = error_body(self.code.as_str(), self.message, request_id);
        R::from_error(status, body).unwrap_or_else(|body| {
            tracing::error!(request_id, operation, %status, "status not declared for this operation; answering 500");
            let fallback = error_body(ErrorCode::InternalError.as_str(), body.error.message, request_id);
            R::from_error(ErrorCode::InternalError.status(), fallback)
                .unwrap_or_else(|_| panic!("every operation declares 500 (the spec lint checks this)"))
        })
    }
}

/// Turns a use case's result into the operation's response.
pub fn respond<P, R: FromError<ErrorResponse>>(
    ctx: &RequestContext<P>,
    result: Result<R, ApiError>,
) -> R {
    result.unwrap_or_else(|error| error.into_response(&ctx.request_id, ctx.operation.operation_id))
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::from(AppError::Store(error))
    }
}

/// The one mapping from the application layer's errors to catalogue codes and statuses.
impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        let message = error.to_string();
        match error {
            AppError::NotFound { resource, .. } => {
                let code = match resource {
                    Resource::Account => ErrorCode::AccountNotFound,
                    Resource::TransferSource => ErrorCode::TransferSourceNotFound,
                    Resource::TransferDestination => ErrorCode::TransferDestinationNotFound,
                    Resource::Transfer => ErrorCode::TransferNotFound,
                    Resource::Rule => ErrorCode::RuleNotFound,
                    Resource::RuleExecution => ErrorCode::RuleExecutionNotFound,
                    Resource::WebhookEndpoint => ErrorCode::WebhookEndpointNotFound,
                    Resource::WebhookEvent => ErrorCode::WebhookEventNotFound,
                    Resource::Card => ErrorCode::CardNotFound,
                    Resource::CardPurchase => ErrorCode::CardTransactionNotFound,
                };
                ApiError::new(code, message)
            }
            AppError::RuleDeleted(_) => ApiError::new(ErrorCode::RuleDeleted, message),
            AppError::RuleDisabled(_) => ApiError::new(ErrorCode::RuleDisabled, message),
            AppError::InvalidRule { .. } => ApiError::new(ErrorCode::InvalidRule, message),
            AppError::Invalid(_) => ApiError::new(ErrorCode::InvalidRequest, message),
            AppError::TransferNotPendingApproval { .. } => {
                ApiError::new(ErrorCode::TransferNotPendingApproval, message)
            }
            AppError::DeletionRefused(_) => ApiError::new(ErrorCode::AccountNotEmpty, message),
            AppError::WebhookEndpointLimit(_) => {
                ApiError::new(ErrorCode::WebhookEndpointLimitReached, message)
            }
            AppError::CardAccountNotPod(_) => ApiError::new(ErrorCode::CardAccountNotPod, message),
            AppError::CardStatus(_) => ApiError::new(ErrorCode::CardStatusConflict, message),
            AppError::PurchaseDeclined(decline) => {
                let code = match decline {
                    PurchaseDecline::CardNotActive { .. } => ErrorCode::CardNotActive,
                    PurchaseDecline::InsufficientFunds { .. } => ErrorCode::InsufficientFunds,
                };
                ApiError::new(code, message)
            }
            AppError::RefundExceedsPurchase(_) => {
                ApiError::new(ErrorCode::RefundExceedsPurchase, message)
            }
            AppError::Rejected(rejection) => {
                let code = match rejection {
                    TransferRejection::SourceDeleted { .. } => ErrorCode::TransferSourceNotFound,
                    TransferRejection::DestinationDeleted { .. } => {
                        ErrorCode::TransferDestinationNotFound
                    }
                    TransferRejection::SourceCannotSend { .. } => ErrorCode::AccountCannotBeSource,
                    TransferRejection::DestinationCannotReceive { .. } => {
                        ErrorCode::AccountCannotBeDestination
                    }
                    TransferRejection::AmountBelowMinimum { .. }
                    | TransferRejection::AmountAboveMaximum { .. }
                    | TransferRejection::AmountNotPositive { .. } => ErrorCode::InvalidRequest,
                    _ => ErrorCode::TransferNotSupported,
                };
                ApiError::new(code, message)
            }
            AppError::Denied(denied) => {
                tracing::debug!(%denied, "permission denied");
                ApiError::forbidden()
            }
            AppError::TransferDenied(TransferDenied::MaximumAmountExceeded { max_amount }) => {
                ApiError::new(
                    ErrorCode::MaximumAmountExceeded,
                    format!(
                        "The amount exceeds this API key's maximum of {} ({} cents) for this source and destination.",
                        max_amount,
                        max_amount.get()
                    ),
                )
            }
            AppError::TransferDenied(other) => {
                tracing::debug!(denied = %other, "transfer not permitted");
                ApiError::forbidden()
            }
            AppError::Conflict(what) => ApiError {
                code: ErrorCode::InternalError,
                message: "The request conflicted with concurrent requests; retry it.".to_owned(),
                internal: Some(format!("{what} changed concurrently; retries exhausted")),
                retryable: true,
            },
            AppError::Store(StoreError::Retry) => ApiError {
                code: ErrorCode::InternalError,
                message: "The request conflicted with concurrent requests; retry it.".to_owned(),
                internal: Some("transaction retries exhausted".to_owned()),
                retryable: true,
            },
            // Handlers map "not found" to the specific resource's code through the use cases;
            // reaching here means an internal lookup failed, which is a bug.
            AppError::Store(StoreError::NotFound) => ApiError::internal("unexpected missing row"),
            AppError::Store(other) => ApiError::internal(other),
            AppError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<Denied> for ApiError {
    fn from(denied: Denied) -> Self {
        ApiError::from(AppError::Denied(denied))
    }
}

impl From<TransferDenied> for ApiError {
    fn from(denied: TransferDenied) -> Self {
        ApiError::from(AppError::TransferDenied(denied))
    }
}
