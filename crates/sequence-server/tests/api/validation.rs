//! Invalid input is answered by the generated router with the spec's 400 envelope, naming the
//! field; unknown routes and methods get the envelope too.

use serde_json::json;

use crate::harness::{TestApp, assert_error, request};

#[tokio::test]
async fn body_violations_name_the_field() {
    let app = TestApp::new().await;
    let (_, key) = app.org_with_admin_key().await;
    let cases = [
        (json!({}), "invalid `nickname`: is required"),
        (json!({"nickname": ""}), "invalid `nickname`: must be at least 1 character long"),
        (
            json!({"nickname": "x".repeat(101)}),
            "invalid `nickname`: must be at most 100 characters long",
        ),
        (json!({"nickname": 5}), "invalid `nickname`: must be a string, not a number"),
        (json!({"nickname": "ok", "colour": "red"}), "invalid `colour`: is not a known field"),
        (json!([1, 2]), "invalid request body: must be a JSON object, not an array"),
    ];
    for (body, expected) in cases {
        let response = app.post("/api/v1/accounts/income-sources", Some(&key), body.clone()).await;
        assert_error(&response, 400, "invalid_request");
        let message = response.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{body}: {message}");
    }
}

#[tokio::test]
async fn malformed_bodies_and_media_types() {
    let app = TestApp::new().await;
    let (_, key) = app.org_with_admin_key().await;
    let bad_json = app
        .send(request("POST", "/api/v1/accounts/pods", Some(&key), Some("{nope".into()), &[]))
        .await;
    assert_error(&bad_json, 400, "invalid_request");
    let missing = app.send(request("POST", "/api/v1/accounts/pods", Some(&key), None, &[])).await;
    assert_error(&missing, 400, "invalid_request");
    let text = app
        .send(
            axum::http::Request::builder()
                .method("POST")
                .uri("/api/v1/accounts/pods")
                .header("Authorization", format!("ApiKey {key}"))
                .header("Content-Type", "text/plain")
                .body(axum::body::Body::from("nickname=x"))
                .unwrap(),
        )
        .await;
    assert_error(&text, 415, "unsupported_media_type");
    let huge = json!({"nickname": "x".repeat(300 * 1024)});
    assert_error(
        &app.post("/api/v1/accounts/pods", Some(&key), huge).await,
        413,
        "payload_too_large",
    );
}

#[tokio::test]
async fn parameters_are_validated() {
    let app = TestApp::new().await;
    let (_, key) = app.org_with_admin_key().await;
    let unknown = app.get("/api/v1/accounts?colour=red", Some(&key)).await;
    assert_error(&unknown, 400, "invalid_request");
    assert!(
        unknown.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown query parameter `colour`")
    );
    let bad_request_id = app
        .send(request(
            "GET",
            "/api/v1/accounts",
            Some(&key),
            None,
            &[("X-Request-ID", "has spaces!")],
        ))
        .await;
    assert_error(&bad_request_id, 400, "invalid_request");
    let long_id = format!("/api/v1/accounts/{}", "a".repeat(65));
    assert_error(&app.get(&long_id, Some(&key)).await, 400, "invalid_request");
    let bad_key = app
        .post_idempotent("/api/v1/accounts/pods", &key, "white space", json!({"nickname": "P"}))
        .await;
    assert_error(&bad_key, 400, "invalid_request");
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = TestApp::new().await;
    let (_, key) = app.org_with_admin_key().await;
    let echoed = app
        .send(request("GET", "/api/v1/accounts", Some(&key), None, &[("X-Request-ID", "my-id-1")]))
        .await;
    assert_eq!(echoed.headers["x-request-id"], "my-id-1");
    assert_eq!(echoed.body["request_id"], "my-id-1");
    let generated = app.get("/api/v1/accounts", Some(&key)).await;
    assert!(generated.body["request_id"].as_str().unwrap().starts_with("req_"));
}

#[tokio::test]
async fn unknown_routes_and_methods_get_the_envelope() {
    let app = TestApp::new().await;
    let (_, key) = app.org_with_admin_key().await;
    assert_error(&app.get("/api/v1/nope", Some(&key)).await, 404, "not_found");
    let method = app.send(request("PATCH", "/api/v1/accounts", Some(&key), None, &[])).await;
    assert_error(&method, 405, "method_not_allowed");
    assert!(method.headers.get("allow").is_some(), "405 keeps the Allow header");
}

#[tokio::test]
async fn sandbox_routes_are_hidden_without_sandbox_mode() {
    let app = TestApp::with_sandbox(false).await;
    let (_, key) = app.org_with_admin_key().await;
    assert_error(&app.get("/api/v1/sandbox/organization", Some(&key)).await, 404, "not_found");
}

/// A JSON object naming a key twice is refused (400, naming the key and where it is) instead of
/// letting the last occurrence win, at the top level and deep inside a rule; nothing is created.
#[tokio::test]
async fn duplicate_json_keys_are_refused_at_every_depth() {
    let app = TestApp::new().await;
    let (_, key) = app.org_with_admin_key().await;
    let income = app.create_income_source(&key, "Payroll").await;
    let savings = app.create_pod(&key, "Savings").await;
    app.deposit(&key, &income, 100_000).await;

    let transfer = format!(
        r#"{{"source_account_id": "{income}", "destination_account_id": "{savings}",
             "amount_in_cents": 100, "amount_in_cents": 50000000}}"#
    );
    let response =
        app.send(request("POST", "/api/v1/transfers", Some(&key), Some(transfer), &[])).await;
    assert_error(&response, 400, "invalid_request");
    assert_eq!(
        response.body["error"]["message"],
        "duplicate key `amount_in_cents` in the request body"
    );
    let transfers = app.get(&format!("/api/v1/transfers?account_id={savings}"), Some(&key)).await;
    assert_eq!(transfers.status, 200, "{}", transfers.raw);
    assert_eq!(transfers.body["data"], json!([]), "no transfer was created");

    let rule = format!(
        r#"{{"nickname": "Top savings", "trigger": {{"type": "MANUAL", "account_id": "{income}"}},
             "steps": [{{"actions": [{{"type": "FIXED", "source_account_id": "{income}",
                                       "destination_account_id": "{savings}",
                                       "amount_in_cents": 100, "amount_in_cents": 50000000}}]}}]}}"#
    );
    let response = app.send(request("POST", "/api/v1/rules", Some(&key), Some(rule), &[])).await;
    assert_error(&response, 400, "invalid_request");
    assert_eq!(
        response.body["error"]["message"],
        "duplicate key `amount_in_cents` at `steps[0].actions[0]` in the request body"
    );
    let rules = app.get("/api/v1/rules", Some(&key)).await;
    assert_eq!(rules.status, 200, "{}", rules.raw);
    assert_eq!(rules.body["data"], json!([]), "no rule was created");
}
