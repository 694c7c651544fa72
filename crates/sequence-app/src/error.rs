//! [`AppError`]: why a use case did not happen. The server maps each variant to one catalogue
//! code and status (`sequence-server/src/error.rs`); the simulator counts them.
//!
//! Messages are for the client: they name the resource and the reason, never a balance or any
//! other figure the calling key might not be allowed to read.

use sequence_core::cards::{PurchaseDecline, RefundExceedsPurchase, StatusConflict};
use sequence_core::ledger::{DeletionRefused, TransferRejection};
use sequence_core::permissions::{Denied, TransferDenied};
use sequence_store::StoreError;

/// A resource that can be missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// An account (`404 account_not_found`).
    Account,
    /// A transfer's source account (`404 transfer_source_not_found`).
    TransferSource,
    /// A transfer's destination account (`404 transfer_destination_not_found`).
    TransferDestination,
    /// A transfer (`404 transfer_not_found`).
    Transfer,
    /// A rule (`404 rule_not_found`).
    Rule,
    /// A rule execution (`404 rule_execution_not_found`).
    RuleExecution,
    /// A webhook endpoint (`404 webhook_endpoint_not_found`).
    WebhookEndpoint,
    /// A webhook event (`404 webhook_event_not_found`).
    WebhookEvent,
    /// A card (`404 card_not_found`).
    Card,
    /// A card's purchase, named by a refund (`404 card_transaction_not_found`).
    CardPurchase,
}

impl Resource {
    fn noun(self) -> &'static str {
        match self {
            Resource::Account | Resource::TransferSource | Resource::TransferDestination => {
                "account"
            }
            Resource::Transfer => "transfer",
            Resource::Rule => "rule",
            Resource::RuleExecution => "rule execution",
            Resource::WebhookEndpoint => "webhook endpoint",
            Resource::WebhookEvent => "webhook event",
            Resource::Card => "card",
            Resource::CardPurchase => "purchase",
        }
    }
}

/// Why a use case refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The resource does not exist in the organization (or is deleted, where that reads as
    /// missing).
    #[error("No {} `{id}` exists in this organization.", resource.noun())]
    NotFound {
        /// Which kind.
        resource: Resource,
        /// The id asked for.
        id: String,
    },
    /// The rule was deleted (`410`).
    #[error("Rule `{0}` was deleted.")]
    RuleDeleted(String),
    /// The rule is disabled and cannot be triggered.
    #[error("Rule `{0}` is disabled; a person must enable it before it can be triggered.")]
    RuleDisabled(String),
    /// A rule body that the domain refuses, with the field path.
    #[error("{path}: {message}")]
    InvalidRule {
        /// Wire path of the offending field.
        path: String,
        /// Why.
        message: String,
    },
    /// Input the domain refuses (`400 invalid_request`).
    #[error("{0}")]
    Invalid(String),
    /// Approving or declining a transfer that does not wait for it.
    #[error("Transfer `{id}` cannot be approved or declined: {why} (status `{status}`).")]
    TransferNotPendingApproval {
        /// The transfer.
        id: String,
        /// Why not.
        why: &'static str,
        /// Its status.
        status: String,
    },
    /// The organization has as many webhook endpoints as it may have.
    #[error(
        "This organization already has {0} webhook endpoints; delete one before registering another."
    )]
    WebhookEndpointLimit(u32),
    /// A card can only be issued on a pod.
    #[error("account_id: account `{0}` is not a pod; cards are linked to pods only.")]
    CardAccountNotPod(String),
    /// The card's status does not allow the change.
    #[error(transparent)]
    CardStatus(#[from] StatusConflict),
    /// A purchase is declined.
    #[error(transparent)]
    PurchaseDeclined(#[from] PurchaseDecline),
    /// A refund would exceed its purchase.
    #[error(transparent)]
    RefundExceedsPurchase(#[from] RefundExceedsPurchase),
    /// The account still holds money or has transfers in flight.
    #[error(transparent)]
    DeletionRefused(#[from] DeletionRefused),
    /// The ledger refuses the transfer.
    #[error(transparent)]
    Rejected(#[from] TransferRejection),
    /// The key may not do this.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The key may not make this transfer.
    #[error(transparent)]
    TransferDenied(#[from] TransferDenied),
    /// What was read changed before the conditional write; the whole use case may run again.
    #[error("{0} changed concurrently")]
    Conflict(&'static str),
    /// The store failed ([`StoreError::Retry`]: a collision, retryable).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A broken invariant: a bug, logged, never described to the client.
    #[error("internal: {0}")]
    Internal(String),
}

impl AppError {
    /// A resource that does not exist.
    pub fn not_found(resource: Resource, id: impl Into<String>) -> AppError {
        AppError::NotFound { resource, id: id.into() }
    }

    /// A broken invariant.
    pub fn internal(cause: impl std::fmt::Display) -> AppError {
        AppError::Internal(cause.to_string())
    }

    /// Whether running the whole use case again (in a new transaction) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, AppError::Conflict(_) | AppError::Store(StoreError::Retry))
    }

    /// Whether this is the server's fault (a bug or an infrastructure failure) rather than a
    /// refusal the client can act on.
    pub fn is_internal(&self) -> bool {
        match self {
            AppError::Internal(_) => true,
            AppError::Store(error) => !matches!(error, StoreError::Retry),
            _ => false,
        }
    }
}
