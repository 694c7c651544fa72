//! The axum application: the generated router mounted at the spec's base path, the docs, a
//! health endpoint, Prometheus metrics, and the middleware stack.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use sequence_api::server::BASE_PATH;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::middleware;
use crate::state::{AppState, Server};

/// Largest request body accepted, as the spec documents (rule bodies, the largest legitimate
/// ones, are a few KiB).
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;
/// Requests running longer than this are abandoned with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the whole application over `state`.
pub fn app(state: AppState) -> Router {
    let server = Arc::new(Server::new(state.clone()));
    let api = sequence_api::server::router::<_, AppState>(server)
        // Only for requests that matched an operation: verification, rate limit, audit.
        // Inside the guard: an operation that may write runs on the store's writer lane once its
        // key and rate limit passed, so a flood of unauthenticated or throttled calls never
        // occupies the lane.
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), middleware::writer_lane))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::keyed::guard));
    crate::metrics::handle();
    let layers = ServiceBuilder::new()
        // Outermost first: every request is counted and timed, whatever answers it.
        .layer(axum::middleware::from_fn(crate::metrics::record))
        // Every answer, including the error envelope below, carries the id.
        .layer(axum::middleware::from_fn(middleware::request_id))
        .layer(axum::middleware::from_fn(middleware::error_envelope))
        .layer(CatchPanicLayer::new())
        .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION]))
        .layer(TraceLayer::new_for_http())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::sandbox_gate))
        // Innermost: it changes the request body type, which the `from_fn` layers above do not
        // accept (the router does).
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT_BYTES));
    Router::new()
        .nest(BASE_PATH, api)
        .merge(crate::docs::router())
        .route("/health", get(health))
        .route("/metrics", get(crate::metrics::render))
        .with_state(state)
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(layers)
}

/// Liveness and database reachability.
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let database = sqlx_ping(&state).await;
    let status = if database { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = serde_json::json!({
        "status": if database { "ok" } else { "degraded" },
        "database": if database { "ok" } else { "unreachable" },
        "version": env!("CARGO_PKG_VERSION"),
    });
    (status, axum::Json(body))
}

async fn sqlx_ping(state: &AppState) -> bool {
    match state.store.read().await {
        Ok(mut conn) => sequence_store::ping(&mut conn).await,
        Err(_) => false,
    }
}
