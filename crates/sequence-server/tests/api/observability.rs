//! `/metrics`: Prometheus text with the figures the README documents, recorded by the real
//! request path and the real worker.

use crate::harness::TestApp;

#[tokio::test]
async fn metrics_report_requests_settlement_and_the_worker() {
    let app = TestApp::new().await;
    let (_, key) = app.org_with_admin_key().await;
    let income = app.create_income_source(&key, "Checking").await;
    let pod = app.create_pod(&key, "Savings").await;
    app.deposit(&key, &income, 10_000).await;
    let sent = app.transfer(&key, &income, &pod, 1_000).await;
    assert_eq!(sent.status, 201, "{}", sent.raw);
    app.advance_clock(&key, 5 * 24 * 3600).await;
    assert_eq!(app.get("/api/v1/accounts", Some(&key)).await.status, 200);
    assert_eq!(app.get("/api/v1/accounts", None).await.status, 401);
    app.server().tick().await.expect("a pass");

    let response = app.get("/metrics", None).await;
    assert_eq!(response.status, 200);
    let content_type = response.headers["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = &response.raw;
    for expected in [
        r#"sequence_http_requests_total{operation="listAccounts",status="200"}"#,
        r#"sequence_http_requests_total{operation="listAccounts",status="401"}"#,
        r#"sequence_http_requests_total{operation="createTransfer",status="201"}"#,
        r#"sequence_http_request_duration_seconds_bucket{operation="listAccounts",status="200",le="0.005"}"#,
        "sequence_settlement_lag_seconds_count",
        "sequence_worker_tick_seconds_count",
        "sequence_due_work",
        r#"sequence_db_acquire_seconds_count{pool="writer"}"#,
        r#"sequence_db_acquire_seconds_count{pool="reader"}"#,
        "# HELP sequence_http_requests_total",
    ] {
        assert!(text.contains(expected), "/metrics lacks {expected}:\n{text}");
    }
}
