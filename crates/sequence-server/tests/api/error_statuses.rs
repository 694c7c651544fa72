//! Every error status an operation can produce is declared for it in `openapi.yaml`.
//!
//! Why a static check: `ApiError::into_response` turns a status the operation does not declare
//! into a logged `500` (the generated response enums have no variant for it), so no response, and
//! so no `spec_check`, ever shows the mistake; and which statuses the test suite happens to reach
//! is not a proof. Instead this test reasons, per operation, from two sources:
//!
//! - **what the generated router and the server's protocols can answer**, read from the spec's
//!   operation: `400` for its parameters (every operation takes `X-Request-ID`, whose invalid
//!   value is a `400`), `401`/`403` when it is secured (authentication, the declared scope), `404`
//!   for a path id (its resource's `*_not_found`) and for every `/sandbox` operation (`not_found`
//!   without `--sandbox`), `400`/`409` for an `Idempotency-Key` (mismatch, in progress),
//!   `413`/`415` for a request body, `429` when it is secured (the key's rate limit), `501` where
//!   the spec marks `x-not-implemented`, and `500`;
//! - **what its use case and handler can return**: the table in [`use_case_errors`], written from
//!   the code of `sequence-app` and the handlers, as `AppError` values that go through the
//!   server's one mapping (`ApiError::from`), so a change to that mapping is checked too.
//!
//! The table has a row for every operation of the route table: a new operation fails this test
//! until someone writes down what it can answer.

use std::collections::BTreeSet;

use sequence_api::runtime::OperationInfo;
use sequence_api::server::{ErrorCode, OPERATIONS};
use sequence_app::{AppError, Resource};
use sequence_core::cards::{
    CardEvent, CardStatus, PurchaseDecline, RefundExceedsPurchase, StatusConflict,
};
use sequence_core::ids::{AccountId, CardId, CardTransactionId};
use sequence_core::ledger::{AccountKind, DeletionRefused, ExternalAccountType, TransferRejection};
use sequence_core::money::Cents;
use sequence_core::permissions::{Denied, Scope, TransferDenied};
use sequence_server::error::ApiError;
use sequence_store::StoreError;
use serde_json::Value;

/// One way an operation can fail: the catalogue code it answers with, and why.
#[derive(Clone)]
struct Cause {
    code: ErrorCode,
    why: String,
}

fn cause(code: ErrorCode, why: impl Into<String>) -> Cause {
    Cause { code, why: why.into() }
}

/// An application error, through the server's one mapping.
fn app(error: AppError) -> Cause {
    let why = format!("the use case returns {error:?}");
    cause(ApiError::from(error).code, why)
}

fn spec() -> Value {
    serde_saphyr::from_str(sequence_server::docs::OPENAPI_YAML).expect("spec parses")
}

/// The spec's operation object, with `$ref`'d parameters resolved.
fn parameters(spec: &Value, operation: &Value) -> Vec<Value> {
    operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|parameter| match parameter["$ref"].as_str() {
            Some(reference) => spec
                .pointer(reference.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling {reference}"))
                .clone(),
            None => parameter.clone(),
        })
        .collect()
}

/// What the generated router and the server's protocols can answer for `info`.
fn protocol_errors(spec: &Value, info: &OperationInfo) -> Vec<Cause> {
    let operation = &spec["paths"][info.path][info.method.to_ascii_lowercase()];
    let parameters = parameters(spec, operation);
    let mut causes = vec![cause(ErrorCode::InternalError, "a database or other internal failure")];
    if !parameters.is_empty() || operation.get("requestBody").is_some() {
        causes.push(cause(ErrorCode::InvalidRequest, "its input fails validation"));
    }
    if info.secured {
        causes.push(cause(ErrorCode::Unauthorized, "it is secured"));
        causes.push(cause(ErrorCode::Forbidden, "the key lacks its scope or resource"));
        causes.push(cause(ErrorCode::RateLimitExceeded, "the key's bucket is empty (keyed.rs)"));
    }
    for parameter in parameters.iter().filter(|p| p["in"] == "path") {
        let code = match parameter["description"].as_str().unwrap_or_default() {
            d if d.contains("`acc_") => ErrorCode::AccountNotFound,
            d if d.contains("`rule_") => ErrorCode::RuleNotFound,
            d if d.contains("`rex_") => ErrorCode::RuleExecutionNotFound,
            d if d.contains("`txr_") => ErrorCode::TransferNotFound,
            d if d.contains("`card_") => ErrorCode::CardNotFound,
            d if d.contains("`whe_") => ErrorCode::WebhookEndpointNotFound,
            d if d.contains("`evt_") => ErrorCode::WebhookEventNotFound,
            other => {
                panic!("{}: which resource does path parameter {other:?} name?", info.operation_id)
            }
        };
        causes.push(cause(code, format!("its path names a resource ({})", parameter["name"])));
    }
    if info.path.starts_with("/sandbox/") {
        causes.push(cause(ErrorCode::NotFound, "the sandbox is off (no --sandbox)"));
    }
    if parameters.iter().any(|p| p["in"] == "header" && p["name"] == "Idempotency-Key") {
        causes.push(cause(
            ErrorCode::IdempotencyKeyMismatch,
            "the Idempotency-Key was used for another request",
        ));
        causes.push(cause(
            ErrorCode::IdempotencyRequestInProgress,
            "the Idempotency-Key's request is still running",
        ));
    }
    if operation.get("requestBody").is_some() {
        causes.push(cause(ErrorCode::PayloadTooLarge, "it takes a body (64 KiB limit)"));
        causes.push(cause(ErrorCode::UnsupportedMediaType, "it takes a JSON body"));
    }
    if operation["x-not-implemented"] == true {
        causes.push(cause(ErrorCode::NotImplemented, "the spec marks it x-not-implemented"));
    }
    causes
}

/// What each operation's use case and handler can return, read from their code.
fn use_case_errors(operation_id: &str) -> Vec<Cause> {
    let account = || AccountId::from_raw("acc_x");
    let card = || CardId::from_raw("card_x");
    let conflict = || app(AppError::Conflict("a row"));
    let store_retry = || app(AppError::Store(StoreError::Retry));
    let cursor = || cause(ErrorCode::InvalidRequest, "`after` is not a cursor (handler)");
    let bounds = || app(AppError::Invalid("`from` is later than `to`".into()));
    let rule = || {
        vec![
            app(AppError::not_found(Resource::Rule, "rule_x")),
            app(AppError::RuleDeleted("rule_x".into())),
        ]
    };
    let invalid_rule = || app(AppError::InvalidRule { path: "steps".into(), message: "x".into() });
    let every_rejection = || {
        let pod = AccountKind::Pod;
        [
            TransferRejection::AmountBelowMinimum {
                amount: Cents::new(1),
                minimum: Cents::new(100),
            },
            TransferRejection::AmountAboveMaximum { amount: Cents::new(2), maximum: Cents::new(1) },
            TransferRejection::AmountNotPositive { amount: Cents::new(0) },
            TransferRejection::SourceDeleted { account: account() },
            TransferRejection::DestinationDeleted { account: account() },
            TransferRejection::SourceCannotSend { account: account(), kind: pod },
            TransferRejection::DestinationCannotReceive { account: account(), kind: pod },
            TransferRejection::SameAccount { account: account() },
            TransferRejection::ExternalToExternal {
                source_account: account(),
                destination_account: account(),
            },
            TransferRejection::DepositIntoExternal {
                account: account(),
                account_type: ExternalAccountType::Liability,
            },
        ]
        .into_iter()
        .map(|rejection| app(AppError::Rejected(rejection)))
        .collect::<Vec<_>>()
    };
    let mut causes = match operation_id {
        // accounts::list: store reads only.
        "listAccounts" => vec![],
        // accounts::live.
        "getAccount" => vec![app(AppError::not_found(Resource::Account, "acc_x"))],
        // accounts::delete: missing, not empty / in flight, lost the balance race.
        "deleteAccount" => vec![
            app(AppError::not_found(Resource::Account, "acc_x")),
            app(AppError::DeletionRefused(DeletionRefused::HoldsMoney {
                account: account(),
                balance: Cents::new(1),
            })),
            app(AppError::DeletionRefused(DeletionRefused::TransfersInFlight {
                account: account(),
                count: 1,
            })),
            conflict(),
        ],
        // accounts::open.
        "createIncomeSource" | "createPod" => vec![app(AppError::internal("x"))],
        // rules::list.
        "listRules" => vec![],
        // rules::create: rule validation, the trigger account taken concurrently.
        "createRule" => vec![invalid_rule()],
        // rules::live.
        "getRule" => rule(),
        // rules::update / delete: rules::live_locked, validation.
        "updateRule" => [rule(), vec![invalid_rule()]].concat(),
        "deleteRule" => rule(),
        // rules::trigger: rules::live_locked, disabled rules; the run records failures.
        "triggerRule" => [rule(), vec![app(AppError::RuleDisabled("rule_x".into()))]].concat(),
        // executions::list: the rule filter, the cursor, from/to.
        "listRuleExecutions" => {
            vec![app(AppError::not_found(Resource::Rule, "rule_x")), cursor(), bounds()]
        }
        // executions::get: looked up, then its rule checked against the key.
        "getRuleExecution" => vec![
            app(AppError::not_found(Resource::RuleExecution, "rex_x")),
            app(AppError::Denied(Denied::MissingScope(Scope::ReadRuleExecutions))),
        ],
        // transfers::list: the account filter, the cursor, from/to.
        "listTransfers" => {
            vec![app(AppError::not_found(Resource::Account, "acc_x")), cursor(), bounds()]
        }
        // The handler's pair check, then transfers::create: the accounts, the ledger's rules.
        "createTransfer" => [
            vec![
                app(AppError::TransferDenied(TransferDenied::MissingScope)),
                app(AppError::TransferDenied(TransferDenied::PairNotAllowed)),
                app(AppError::TransferDenied(TransferDenied::MaximumAmountExceeded {
                    max_amount: Cents::new(100),
                })),
                app(AppError::not_found(Resource::TransferSource, "acc_x")),
                app(AppError::not_found(Resource::TransferDestination, "acc_x")),
            ],
            every_rejection(),
        ]
        .concat(),
        // transfers::get: looked up, then its accounts checked against the key.
        "getTransfer" => vec![
            app(AppError::not_found(Resource::Transfer, "txr_x")),
            app(AppError::Denied(Denied::MissingScope(Scope::ReadTransfers))),
        ],
        // cards::list: the account filter.
        "listCards" => vec![app(AppError::not_found(Resource::Account, "acc_x"))],
        // cards::get: looked up, then its pod checked against the key.
        "getCard" => vec![
            app(AppError::not_found(Resource::Card, "card_x")),
            app(AppError::Denied(Denied::MissingScope(Scope::ReadCards))),
        ],
        // cards::list_transactions: cards::get, the cursor, from/to.
        "listCardTransactions" => vec![
            app(AppError::not_found(Resource::Card, "card_x")),
            app(AppError::Denied(Denied::MissingScope(Scope::ReadCards))),
            cursor(),
            bounds(),
        ],
        // cards::issue: the account (missing, deleted), not a pod.
        "issueSandboxCard" => vec![
            app(AppError::not_found(Resource::Account, "acc_x")),
            app(AppError::CardAccountNotPod("acc_x".into())),
        ],
        // cards::change_status: the card, the transition, the conditional update.
        "activateSandboxCard"
        | "freezeSandboxCard"
        | "unfreezeSandboxCard"
        | "reportSandboxCardLost"
        | "reportSandboxCardStolen" => vec![
            app(AppError::not_found(Resource::Card, "card_x")),
            app(AppError::CardStatus(StatusConflict {
                card: card(),
                status: CardStatus::Lost,
                event: CardEvent::Freeze,
                why: "",
            })),
            conflict(),
        ],
        // The handler bounds the amount; cards::purchase: the amount, the card, its pod, the
        // authorization.
        "createSandboxCardPurchase" => vec![
            cause(ErrorCode::InvalidRequest, "amount_in_cents is too large (handler)"),
            app(AppError::Invalid("amount_in_cents".into())),
            app(AppError::not_found(Resource::Card, "card_x")),
            app(AppError::not_found(Resource::Account, "acc_x")),
            app(AppError::PurchaseDeclined(PurchaseDecline::CardNotActive {
                card: card(),
                status: CardStatus::Frozen,
            })),
            app(AppError::PurchaseDeclined(PurchaseDecline::InsufficientFunds { card: card() })),
        ],
        // The handler bounds the amount; cards::refund: the amount, the card, its pod, the
        // purchase, the remainder (checked, then conditionally recorded).
        "createSandboxCardRefund" => vec![
            cause(ErrorCode::InvalidRequest, "amount_in_cents is too large (handler)"),
            app(AppError::Invalid("amount_in_cents".into())),
            app(AppError::not_found(Resource::Card, "card_x")),
            app(AppError::not_found(Resource::Account, "acc_x")),
            app(AppError::not_found(Resource::CardPurchase, "ctx_x")),
            app(AppError::RefundExceedsPurchase(RefundExceedsPurchase {
                purchase: CardTransactionId::from_raw("ctx_x"),
            })),
            conflict(),
        ],
        // ledger::deposit: the account, validate_deposit; the handler bounds the amount.
        "createSandboxDeposit" => [
            vec![
                app(AppError::not_found(Resource::Account, "acc_x")),
                cause(ErrorCode::InvalidRequest, "amount_in_cents is too large (handler)"),
            ],
            every_rejection(),
        ]
        .concat(),
        // ledger::create_external_account: liability fields on another type.
        "createSandboxExternalAccount" => vec![app(AppError::Invalid("liability fields".into()))],
        // ledger::decide_approval.
        "approveSandboxTransfer" | "declineSandboxTransfer" => vec![
            app(AppError::not_found(Resource::Transfer, "txr_x")),
            app(AppError::TransferNotPendingApproval {
                id: "txr_x".into(),
                why: "x",
                status: "complete".into(),
            }),
            conflict(),
        ],
        // sandbox::advance_clock: the offset's bound; the handler bounds `seconds`.
        "advanceSandboxClock" => vec![app(AppError::Invalid("too far".into()))],
        "getSandboxOrganization" | "updateSandboxOrganization" => vec![],
        // audit::list: the cursor, from/to.
        "listAuditLogs" => vec![cursor(), bounds()],
        // rules::switch: rules::live_locked.
        "enableSandboxRule" | "disableSandboxRule" => rule(),
        // webhooks::list_endpoints: store reads only.
        "listSandboxWebhookEndpoints" => vec![],
        // webhooks::create_endpoint: the URL check, the endpoint limit.
        "createSandboxWebhookEndpoint" => vec![
            app(AppError::Invalid("url: not an absolute URL".into())),
            app(AppError::WebhookEndpointLimit(16)),
        ],
        // webhooks::delete_endpoint.
        "deleteSandboxWebhookEndpoint" => {
            vec![app(AppError::not_found(Resource::WebhookEndpoint, "whe_x"))]
        }
        // webhooks::list_attempts: the endpoint, the cursor.
        "listSandboxWebhookDeliveries" => {
            vec![app(AppError::not_found(Resource::WebhookEndpoint, "whe_x")), cursor()]
        }
        // webhooks::get_event; the stored payload is parsed into the generated type (a 500 if
        // it ever did not parse).
        "getSandboxWebhookEvent" => vec![
            app(AppError::not_found(Resource::WebhookEvent, "evt_x")),
            app(AppError::internal("the payload does not parse")),
        ],
        other => panic!(
            "`{other}` has no row in use_case_errors: read its use case and handler and write \
             down the errors they can return"
        ),
    };
    // Every use case runs in the retrying transaction runner; exhausted retries are a 500.
    causes.push(store_retry());
    causes
}

#[test]
fn every_error_an_operation_can_produce_is_declared_for_it() {
    let spec = spec();
    let mut undeclared = Vec::new();
    for info in OPERATIONS.iter() {
        let declared: BTreeSet<u16> = info.error_statuses.iter().copied().collect();
        for Cause { code, why } in
            protocol_errors(&spec, info).into_iter().chain(use_case_errors(info.operation_id))
        {
            let status = code.status().as_u16();
            if !declared.contains(&status) {
                undeclared.push(format!(
                    "{} ({} {}) can answer {status} {} ({why}), but declares only {declared:?}",
                    info.operation_id,
                    info.method,
                    info.path,
                    code.as_str()
                ));
            }
        }
    }
    assert!(undeclared.is_empty(), "undeclared error statuses:\n{}", undeclared.join("\n"));
}

/// The minimum every operation declares, whatever its use case: `400` (all take input), `401` and
/// `403` (all are secured), `404` where the path names a resource, `500`.
#[test]
fn every_operation_declares_the_baseline_statuses() {
    for info in OPERATIONS.iter() {
        let declared = info.error_statuses;
        let mut expected = vec![400, 500];
        if info.secured {
            expected.extend([401, 403]);
        }
        if info.path.contains('{') {
            expected.push(404);
        }
        for status in expected {
            assert!(
                declared.contains(&status),
                "{} ({} {}) must declare {status}; it declares {declared:?}",
                info.operation_id,
                info.method,
                info.path
            );
        }
    }
}
