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
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::SharedString;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::keyed::MatchedOperation;

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

/// Middleware: counts and times every request, labelled with the `operationId` the route layer
/// ([`crate::keyed::guard`]) left on the response (`unmatched` for anything outside the
/// operations: unknown paths and methods, the docs, `/health`).
pub async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    let operation = response
        .extensions()
        .get::<MatchedOperation>()
        .map_or("unmatched", |matched| matched.0.operation_id);
    let labels = [
        ("operation", SharedString::const_str(operation)),
        ("status", SharedString::from(status_label(response.status()))),
    ];
    metrics::counter!(REQUESTS_METRIC, &labels).increment(1);
    metrics::histogram!(DURATION_METRIC, &labels).record(started.elapsed());
    response
}

/// The status as a label (the common ones without an allocation).
fn status_label(status: StatusCode) -> std::borrow::Cow<'static, str> {
    let known = match status.as_u16() {
        200 => "200",
        201 => "201",
        204 => "204",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        409 => "409",
        422 => "422",
        429 => "429",
        500 => "500",
        _ => return std::borrow::Cow::Owned(status.as_u16().to_string()),
    };
    std::borrow::Cow::Borrowed(known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_labels_are_the_status_codes() {
        for code in [200, 201, 204, 400, 401, 403, 404, 405, 408, 409, 413, 422, 429, 500, 503] {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(status_label(status), code.to_string());
        }
    }
}
