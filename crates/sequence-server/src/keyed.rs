//! What happens around every call to an operation, before and after the generated router:
//! verify the key, take a token from its bucket, and audit the call if it was denied or failed.
//!
//! It runs as a route layer on the generated router, so only requests that matched an operation
//! reach it (unknown paths and methods are answered `404`/`405` first, as the spec's check order
//! says), and in this order:
//!
//! 1. **Authentication.** The key is verified here ([`AppState::verify_key`]) and the principal
//!    left in the request's extensions ([`VerifiedKey`]), where the generated router's
//!    authentication hook takes it instead of verifying the key a second time. A request
//!    without a valid key is answered `401` at once, with no token taken.
//! 2. **Rate limit** ([`crate::rate_limit`]): an empty bucket is answered `429` with
//!    `Retry-After`, before validation, with no effect. Every other answer to an authenticated
//!    request carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.
//! 3. The generated router: validation, permission, the operation.
//! 4. **Audit** (`sequence_app::audit`): a successful mutating call was recorded inside its own
//!    transaction by [`Server::mutate`](crate::state::Server); here, denied calls (`401` for a
//!    stored key with a wrong secret or revoked, `403`, `429`) and failed mutating calls are
//!    handed to the [`DenialLog`](sequence_app::audit::DenialLog) queue, which writes them off
//!    the request path.
//!
//! The request's `X-Called-Reason` is attached as [`CalledReason`] for the mutation runner.

use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sequence_api::runtime::{OperationInfo, Problem, RequestId};
use sequence_api::server::{BASE_PATH, ErrorCode, OPERATIONS, error_body};
use sequence_app::audit::{Call, PendingCall};
use sequence_core::ids::{ApiKeyId, OrgId};

use crate::audit::{CalledReason, resource_ids};
use crate::auth::Principal;
use crate::rate_limit::Refusal;
use crate::state::AppState;

/// Error bodies are small; a larger one is not parsed for its code.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// The route layer (see the module docs). Every answer it passes on names its operation
/// ([`MatchedOperation`]).
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(operation) = operation_of(&request) else {
        return next.run(request).await;
    };
    let mut response = guard_operation(state, request, next, operation).await;
    response.extensions_mut().insert(MatchedOperation(operation));
    response
}

async fn guard_operation(
    state: AppState,
    mut request: Request,
    next: Next,
    operation: &'static OperationInfo,
) -> Response {
    let request_id =
        request.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let called_reason = CalledReason::from_header(request.headers().get("x-called-reason"));
    // Only a call that is audited needs its path (a cheap clone of the URI's shared bytes now,
    // the audited form only when an entry is queued).
    let uri = request.uri().clone();
    let credential = request.headers().get(header::AUTHORIZATION).cloned();
    let caller = |key: ApiKeyId, org: OrgId, called_reason: Option<String>| Caller {
        key,
        org,
        operation,
        uri: uri.clone(),
        request_id: request_id.clone(),
        called_reason,
    };

    let principal = match state.verify_key(credential.as_ref()).await {
        Ok(principal) => principal,
        Err(refused) => {
            // Only a stored key (wrong secret, or revoked) puts a 401 in its organization's log,
            // and without the caller's reason: whoever sent it did not prove who they are.
            // Unknown keys are in nobody's log, so random key ids cannot flood the writer.
            if let Some((key, org)) = refused.stored_key {
                caller(key, org, None).queue(
                    &state,
                    refused.problem.status.as_u16(),
                    Some(refused.problem.code.to_owned()),
                );
            }
            return problem_response(&refused.problem, &request_id);
        }
    };
    let reason = called_reason.as_ref().map(|r| r.0.clone());
    let caller = caller(principal.key_id.clone(), principal.org_id.clone(), reason);
    if let Some(reason) = called_reason {
        request.extensions_mut().insert(reason);
    }
    // The generated router's authentication hook takes the key verified here instead of
    // verifying it again (see `crate::auth`).
    request.extensions_mut().insert(VerifiedKey(principal.clone()));

    let allowance = match state.rate_limit.as_ref().map(|limit| limit.check(&principal.key_id)) {
        Some(Err(refusal)) => {
            caller.queue(&state, 429, Some(ErrorCode::RateLimitExceeded.as_str().to_owned()));
            return too_many_requests(refusal, &request_id);
        }
        Some(Ok(allowance)) => Some(allowance),
        None => None,
    };
    let mut response = next.run(request).await;
    if let Some(allowance) = allowance {
        allowance.write_headers(response.headers_mut());
    }

    let status = response.status();
    let denied = matches!(status.as_u16(), 401 | 403 | 429);
    let failed_mutation = operation.method != "GET" && !status.is_success();
    if denied || failed_mutation {
        let (parts, body) = response.into_parts();
        let bytes = to_bytes(body, ERROR_BODY_LIMIT).await.unwrap_or_default();
        let code = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
        caller.queue(&state, status.as_u16(), code);
        response = Response::from_parts(parts, Body::from(bytes));
    }
    response
}

/// The operation a response answered, left in the response's extensions for the layers outside
/// the router (the metrics layer, which runs before routing, labels requests with its
/// `operationId`).
#[derive(Clone, Copy, Debug)]
pub struct MatchedOperation(pub &'static OperationInfo);

/// A key this layer verified for the request, left in the request's extensions for the
/// generated router's authentication hook. Only this layer inserts it (the type cannot be built
/// outside the crate), so its presence means this request's own credential was verified.
#[derive(Clone, Debug)]
pub(crate) struct VerifiedKey(pub(crate) Principal);

/// Who made a call, and what it was, for its audit entry.
struct Caller {
    key: ApiKeyId,
    org: OrgId,
    operation: &'static OperationInfo,
    uri: Uri,
    request_id: String,
    called_reason: Option<String>,
}

impl Caller {
    fn queue(self, state: &AppState, status: u16, error_code: Option<String>) {
        let path = audited_path(self.operation, relative_path(self.uri.path()));
        let call = Call {
            api_key_id: self.key,
            operation_id: self.operation.operation_id.to_owned(),
            method: self.operation.method.to_owned(),
            resource_ids: resource_ids(self.operation, &path, None),
            path,
            status,
            error_code,
            request_id: self.request_id,
            called_reason: self.called_reason,
        };
        state.denials.record(PendingCall { org: self.org, at: state.clock.now(), call });
    }
}

/// The operation a request matched: its method and the route template axum matched. `HEAD`
/// is served by the `GET` operation (axum's method router does so), so it is that operation's
/// call: it takes a token and is audited like a `GET`.
fn operation_of(request: &Request) -> Option<&'static OperationInfo> {
    let template = relative_path(request.extensions().get::<MatchedPath>()?.as_str());
    let method = match request.method().as_str() {
        "HEAD" => "GET",
        method => method,
    };
    OPERATIONS.iter().find(|o| o.method == method && o.path == template)
}

/// The path an audit entry records for a call refused or failed before validation: the
/// operation's template with each path parameter that looks like an id (what `resource_ids` then
/// lists), and `{name}` for one that does not, so a hostile path is never stored whole.
fn audited_path(operation: &OperationInfo, path: &str) -> String {
    let looks_like_id = |value: &str| {
        (1..=64).contains(&value.len())
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let segments: Vec<&str> = path.split('/').collect();
    let template: Vec<&str> = operation.path.split('/').collect();
    if segments.len() != template.len() {
        return operation.path.to_owned();
    }
    template
        .iter()
        .zip(segments)
        .map(|(part, value)| match part.starts_with('{') && !looks_like_id(value) {
            true => *part,
            false => value,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `path` relative to the base path (`/api/v1/rules/x` → `/rules/x`).
fn relative_path(path: &str) -> &str {
    path.strip_prefix(BASE_PATH).filter(|p| p.starts_with('/')).unwrap_or(path)
}

/// A problem in the spec's error envelope.
fn problem_response(problem: &Problem, request_id: &str) -> Response {
    let body = error_body(problem.code, problem.message.clone(), request_id);
    (problem.status, axum::Json(body)).into_response()
}

/// `429 rate_limit_exceeded` with `Retry-After` and the `RateLimit-*` headers.
fn too_many_requests(refusal: Refusal, request_id: &str) -> Response {
    let (seconds, limit) = (refusal.retry_after_seconds, refusal.allowance.limit);
    let unit = if seconds == 1 { "second" } else { "seconds" };
    let problem = ErrorCode::RateLimitExceeded.problem(format!(
        "Rate limit exceeded. Maximum {limit} requests per minute per API key; retry after {seconds} {unit}."
    ));
    let mut response = problem_response(&problem, request_id);
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    refusal.allowance.write_headers(headers);
    response
}
