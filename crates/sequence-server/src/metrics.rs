//! Prometheus metrics, served at `GET /metrics` (text exposition format).
//!
//! Everything records through the `metrics` facade (the application layer and the store too,
//! without knowing where the figures go); this module installs the Prometheus recorder once per
//! process and renders it. Reported:
//!
//! - `sequence_http_requests_total{operation, status}` and
//!   `sequence_http_request_duration_seconds{operation, status}`: every request, by the spec's
//!   `operationId` (`unmatched` for paths outside the API) and status;
//! - `sequence_settlement_lag_seconds`: how late settlement steps are applied;
//! - `sequence_due_work`: due work the background worker found in its last pass;
//! - `sequence_worker_tick_seconds`, `sequence_worker_failed_organizations`: the worker's passes;
//! - `sequence_db_acquire_seconds{pool}`: waiting for a database connection (`writer` is the
//!   queue for SQLite's one writer).

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::Request;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sequence_api::server::{BASE_PATH, OPERATIONS};

/// Request counter.
pub const REQUESTS_METRIC: &str = "sequence_http_requests_total";
/// Request latency histogram.
pub const DURATION_METRIC: &str = "sequence_http_request_duration_seconds";

/// Histogram buckets (seconds): from half a millisecond to half a minute.
const BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder as the process's global recorder (once; later calls return
/// the same handle). `None` if another recorder was installed first (then `/metrics` says so).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(REQUESTS_METRIC, "API requests, by operationId and status.");
    describe_histogram!(
        DURATION_METRIC,
        Unit::Seconds,
        "API request latency, by operationId and status."
    );
    describe_histogram!(
        sequence_app::ledger::SETTLEMENT_LAG_METRIC,
        Unit::Seconds,
        "Delay between a settlement step's due time and when it was applied."
    );
    describe_gauge!(
        sequence_app::worker::DUE_METRIC,
        "Due work found by the worker's last pass (settlement steps and scheduled rules)."
    );
    describe_gauge!(
        sequence_app::worker::FAILED_METRIC,
        "Organizations whose due work failed in the worker's last pass."
    );
    describe_histogram!(
        sequence_app::worker::TICK_METRIC,
        Unit::Seconds,
        "Duration of one worker pass over every organization."
    );
    describe_histogram!(
        sequence_store::ACQUIRE_METRIC,
        Unit::Seconds,
        "Wait for a database connection, by pool (writer: the queue for SQLite's one writer)."
    );
}

/// `GET /metrics`.
pub async fn render() -> Response {
    match handle() {
        Some(handle) => {
            handle.run_upkeep();
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
        }
        None => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "another metrics recorder is installed in this process",
        )
            .into_response(),
    }
}

/// The `operationId` of a request: its method and path matched against the spec's path
/// templates (`{param}` matches one segment); `unmatched` outside the API.
pub fn operation_of(method: &Method, path: &str) -> &'static str {
    let Some(relative) = path.strip_prefix(BASE_PATH) else { return "unmatched" };
    let segments: Vec<&str> = relative.trim_matches('/').split('/').collect();
    OPERATIONS
        .iter()
        .find(|operation| {
            operation.method == method.as_str() && {
                let template: Vec<&str> = operation.path.trim_matches('/').split('/').collect();
                template.len() == segments.len()
                    && template.iter().zip(&segments).all(|(pattern, segment)| {
                        (pattern.starts_with('{') && !segment.is_empty()) || pattern == segment
                    })
            }
        })
        .map_or("unmatched", |operation| operation.operation_id)
}

/// Middleware: counts and times every request.
pub async fn record(request: Request, next: Next) -> Response {
    let operation = operation_of(request.method(), request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("operation", operation.to_owned()), ("status", status)];
    metrics::counter!(REQUESTS_METRIC, &labels).increment(1);
    metrics::histogram!(DURATION_METRIC, &labels).record(started.elapsed());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_named_by_their_operation() {
        assert_eq!(operation_of(&Method::GET, "/api/v1/accounts"), "listAccounts");
        assert_eq!(operation_of(&Method::GET, "/api/v1/accounts/acc_1"), "getAccount");
        assert_eq!(operation_of(&Method::POST, "/api/v1/rules/rule_1/trigger"), "triggerRule");
        assert_eq!(operation_of(&Method::DELETE, "/api/v1/accounts/acc_1"), "deleteAccount");
        assert_eq!(operation_of(&Method::GET, "/api/v1/nothing"), "unmatched");
        assert_eq!(operation_of(&Method::GET, "/health"), "unmatched");
        assert_eq!(operation_of(&Method::PATCH, "/api/v1/accounts"), "unmatched");
    }
}
