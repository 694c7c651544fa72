//! Cross-cutting HTTP behaviour that is not part of any one operation.
//!
//! - [`request_id`]: picks the request id (the client's `X-Request-ID` when it is acceptable,
//!   otherwise a fresh `req_<ULID>`), stores it for the generated handlers and echoes it in the
//!   response header. tower-http's request-id layers only fill in a *missing* header; we also
//!   need to replace an invalid one (which the generated validation then rejects with 400 while
//!   the response still carries a usable id), so this is a small custom layer.
//! - [`error_envelope`]: answers that do not come from an operation (unknown route 404, 405 from
//!   the method router, 408 from the timeout layer, 413 from the body limit, 500 from a caught
//!   panic) get the spec's error envelope instead of an empty or plain-text body.
//! - [`sandbox_gate`]: `/sandbox/*` answers 404 unless the server runs with `--sandbox`.
//! - [`writer_lane`]: operations that may write run on the store's writer lane (on SQLite: the
//!   CPU its one writer connection runs on; see `sequence_store::lane`).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sequence_api::runtime::RequestId;
use sequence_api::server::{ErrorCode, error_body};
use tracing::Instrument;

use crate::state::AppState;

/// The response header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

fn acceptable_request_id(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:/|-".contains(&b))
}

/// Chooses the request id and echoes it in the response.
pub async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("req_{}", ulid::Ulid::new()));
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response.extensions_mut().insert(RequestId(id));
    response
}

/// Gives error answers produced outside the operations the spec's JSON envelope.
pub async fn error_envelope(request: Request, next: Next) -> Response {
    let request_id =
        request.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || is_json {
        return response;
    }
    let code = ErrorCode::for_status(status).unwrap_or(if status.is_server_error() {
        ErrorCode::InternalError
    } else {
        ErrorCode::InvalidRequest
    });
    let message = match status {
        StatusCode::NOT_FOUND => {
            "No such route. The API lives under /api/v1; see /docs.".to_owned()
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            "This method is not allowed on this path; see the Allow header.".to_owned()
        }
        StatusCode::REQUEST_TIMEOUT => "The request took too long and was abandoned.".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => "The request body is too large.".to_owned(),
        _ if status.is_server_error() => {
            tracing::error!(%status, "an internal error escaped the handlers");
            "An internal error occurred. It has been logged; retry later or report the request id."
                .to_owned()
        }
        _ => code.description().to_owned(),
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let body =
        serde_json::to_vec(&error_body(code.as_str(), message, &request_id)).unwrap_or_default();
    Response::from_parts(parts, Body::from(body))
}

/// Hides the sandbox routes unless the server was started with `--sandbox`.
pub async fn sandbox_gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if !state.sandbox && (path.starts_with("/api/v1/sandbox/") || path == "/api/v1/sandbox") {
        return StatusCode::NOT_FOUND.into_response();
    }
    next.run(request).await
}

/// Runs an operation that may write (any method but `GET`, `HEAD` and `OPTIONS`), once the key
/// guard let it through, on the store's writer lane (`Store::on_writer_lane`). On SQLite
/// every statement of its transaction is then a hand-off between two threads of one CPU instead
/// of a wake-up of another CPU, which is what bounded write throughput (see `sequence_store::lane`
/// and BENCHMARKS.md). Reads stay on the request's task: they never use the writer. If the
/// request is abandoned (client gone, timeout), its work on the lane is cancelled as it would
/// have been here.
pub async fn writer_lane(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let work = next.run(request).in_current_span();
    match state.store.on_writer_lane(work).await {
        Ok(response) => response,
        Err(stopped) => {
            // The lane lives as long as the store this request holds, so this is a broken
            // invariant; the error envelope answers it as a 500.
            tracing::error!(error = %stopped, "the writer's lane stopped under a request");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
