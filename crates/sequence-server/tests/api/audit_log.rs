//! The audit log (`GET /audit-logs`): every mutating call and every denied call is recorded with
//! its key, operation, resource ids, outcome, request id and `X-Called-Reason`; successful
//! mutations in their own transaction (an idempotent replay adds nothing), denials and failures
//! off the request path; filters, pagination and organization isolation.

use serde_json::{Value, json};

use crate::harness::{TestApp, assert_error, both_backends, request};

fn entries(body: &Value) -> Vec<Value> {
    body["data"].as_array().expect("a list").clone()
}

both_backends! {
    async fn the_log_shows_successes_failures_and_denials_newest_first(app: TestApp) {
        let (org, key) = app.org_with_admin_key().await;
        let reader = app.key(&org, r#"[{"scope":"LIST_ACCOUNTS"}]"#).await;

        // A success, with a reason.
        let created = app
            .send(request(
                "POST",
                "/api/v1/accounts/pods",
                Some(&key),
                Some(json!({"nickname": "Taxes"}).to_string()),
                &[("X-Called-Reason", "Set aside taxes")],
            ))
            .await;
        assert_eq!(created.status.as_u16(), 201, "{}", created.raw);
        let pod = created.body["data"]["id"].as_str().unwrap().to_owned();
        // A failure: the pod holds nothing, so a transfer out of it errors... as a transfer; use
        // an unknown source instead, which the use case refuses.
        let failed = app
            .post(
                "/api/v1/transfers",
                Some(&key),
                json!({"source_account_id": "acc_nope", "destination_account_id": pod, "amount_in_cents": 100}),
            )
            .await;
        assert_error(&failed, 400, "transfer_source_not_found");
        // A denial (403) and a 401 for a key of this organization presented with a wrong secret.
        assert_error(&app.get("/api/v1/rules", Some(&reader)).await, 403, "forbidden");
        let (prefix, secret) = reader.rsplit_once('_').unwrap();
        let wrong = format!("{prefix}_{}", secret.chars().rev().collect::<String>());
        assert_error(&app.get("/api/v1/accounts", Some(&wrong)).await, 401, "unauthorized");
        // Reads that succeed are not recorded.
        assert_eq!(app.get("/api/v1/accounts", Some(&reader)).await.status.as_u16(), 200);

        app.state.denials.flush().await;
        let log = app.get("/api/v1/audit-logs", Some(&key)).await;
        assert_eq!(log.status.as_u16(), 200, "{}", log.raw);
        let log = entries(&log.body);
        let summary: Vec<(String, String, u64)> = log
            .iter()
            .map(|e| {
                (
                    e["operation_id"].as_str().unwrap().to_owned(),
                    e["outcome"].as_str().unwrap().to_owned(),
                    e["status"].as_u64().unwrap(),
                )
            })
            .collect();
        let expected = [
            ("listAccounts", "denied", 401),
            ("listRules", "denied", 403),
            ("createTransfer", "failure", 400),
            ("createPod", "success", 201),
        ];
        let expected: Vec<(String, String, u64)> =
            expected.iter().map(|(o, r, s)| (o.to_string(), r.to_string(), *s)).collect();
        assert_eq!(summary, expected);
        let success = &log[3];
        assert_eq!(success["resource_ids"], json!([pod]));
        assert_eq!(success["called_reason"], "Set aside taxes");
        assert_eq!(success["request_id"], created.body["request_id"]);
        assert_eq!(success["error_code"], Value::Null);
        assert_eq!(log[2]["error_code"], "transfer_source_not_found");
        assert_eq!(log[1]["error_code"], "forbidden");
        let reader_id = log[1]["api_key_id"].as_str().unwrap();
        assert_eq!(log[0]["api_key_id"], reader_id, "the 401 is attributed to the key id it named");
        assert!(reader_id.starts_with("key_"));

        // Filters and pagination.
        let denied = app.get("/api/v1/audit-logs?outcome=denied", Some(&key)).await;
        assert_eq!(entries(&denied.body).len(), 2);
        let by_key = app.get(&format!("/api/v1/audit-logs?api_key_id={reader_id}"), Some(&key)).await;
        assert_eq!(entries(&by_key.body).len(), 2);
        let by_op = app.get("/api/v1/audit-logs?operation_id=createPod", Some(&key)).await;
        assert_eq!(entries(&by_op.body).len(), 1);
        let mut seen = Vec::new();
        let mut after = String::new();
        loop {
            let page = app.get(&format!("/api/v1/audit-logs?first=1{after}"), Some(&key)).await;
            seen.extend(entries(&page.body).into_iter().map(|e| e["id"].clone()));
            if !page.body["page_info"]["has_next_page"].as_bool().unwrap() {
                break;
            }
            after = format!("&after={}", page.body["page_info"]["end_cursor"].as_str().unwrap());
        }
        let ids: Vec<Value> = log.iter().map(|e| e["id"].clone()).collect();
        assert_eq!(seen, ids, "pages of one give the same entries in the same order");
        let backwards =
            app.get("/api/v1/audit-logs?from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z", Some(&key)).await;
        assert_error(&backwards, 400, "invalid_request");

        // Without READ_AUDIT_LOGS: 403 (itself recorded). Another organization sees nothing.
        assert_error(&app.get("/api/v1/audit-logs", Some(&reader)).await, 403, "forbidden");
        let (_, stranger) = app.org_with_admin_key().await;
        let theirs = app.get("/api/v1/audit-logs", Some(&stranger)).await;
        assert_eq!(entries(&theirs.body), Vec::<Value>::new());
    }
}

both_backends! {
    async fn an_idempotent_replay_is_recorded_once(app: TestApp) {
        let (_, key) = app.org_with_admin_key().await;
        for _ in 0..3 {
            let response = app
                .post_idempotent("/api/v1/accounts/pods", &key, "pod-once", json!({"nickname": "Once"}))
                .await;
            assert_eq!(response.status.as_u16(), 201);
        }
        let log = app.get("/api/v1/audit-logs?operation_id=createPod", Some(&key)).await;
        assert_eq!(entries(&log.body).len(), 1, "{}", log.raw);
    }
}

#[tokio::test]
async fn an_invalid_called_reason_is_refused_and_not_recorded() {
    let app = TestApp::new().await;
    let (_, key) = app.org_with_admin_key().await;
    let long = "x".repeat(201);
    let response = app
        .send(request(
            "POST",
            "/api/v1/accounts/pods",
            Some(&key),
            Some(json!({"nickname": "Long"}).to_string()),
            &[("X-Called-Reason", long.as_str())],
        ))
        .await;
    assert_error(&response, 400, "invalid_request");
    assert!(response.body["error"]["message"].as_str().unwrap().contains("X-Called-Reason"));
    app.state.denials.flush().await;
    let log = app.get("/api/v1/audit-logs", Some(&key)).await;
    let log = entries(&log.body);
    assert_eq!(log.len(), 1, "the failed call, without its reason: {log:?}");
    assert_eq!(log[0]["outcome"], "failure");
    assert_eq!(log[0]["called_reason"], Value::Null);
}

#[tokio::test]
async fn what_a_denial_records_is_bounded_and_attributed() {
    let app = TestApp::new().await;
    let (org, key) = app.org_with_admin_key().await;
    let lister = app.key(&org, r#"[{"scope":"LIST_ACCOUNTS"}]"#).await;
    // A call refused before validation (429) with a hostile path parameter: the entry keeps the
    // template's `{id}`, not the 5,000 characters.
    let limited = app.state.clone().with_rate_limit(1);
    let send = |path: String| {
        crate::harness::send_to(
            sequence_server::app(limited.clone()),
            request("GET", &path, Some(&lister), None, &[]),
        )
    };
    assert_eq!(send("/api/v1/accounts".into()).await.status.as_u16(), 200);
    let long = "x".repeat(5_000);
    let refused = send(format!("/api/v1/accounts/{long}")).await;
    assert_error(&refused, 429, "rate_limit_exceeded");
    // An unknown (well-formed) key is in nobody's log.
    let unknown = "seqk_01HZZZZZZZZZZZZZZZZZZZZZZZ_".to_owned() + &"0".repeat(64);
    assert_error(&app.get("/api/v1/accounts", Some(&unknown)).await, 401, "unauthorized");
    // An operation rule answered with 403 is a failure, not a denial.
    let income = app.create_income_source(&key, "Payroll").await;
    let pod = app.create_pod(&key, "Savings").await;
    let rule = app
        .post(
            "/api/v1/rules",
            Some(&key),
            json!({
                "nickname": "Off",
                "trigger": {"type": "MANUAL", "account_id": income},
                "steps": [{"actions": [{"type": "FIXED", "source_account_id": income,
                                        "destination_account_id": pod, "amount_in_cents": 100}]}]
            }),
        )
        .await;
    let rule = rule.body["data"]["id"].as_str().unwrap().to_owned();
    let disabled = app.post(&format!("/api/v1/rules/{rule}/trigger"), Some(&key), json!({})).await;
    assert_error(&disabled, 403, "rule_disabled");

    app.state.denials.flush().await;
    let denied = entries(&app.get("/api/v1/audit-logs?outcome=denied", Some(&key)).await.body);
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["path"], "/accounts/{id}");
    assert_eq!(denied[0]["resource_ids"], json!([]));
    let failed = entries(&app.get("/api/v1/audit-logs?outcome=failure", Some(&key)).await.body);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["error_code"], "rule_disabled");
    assert_eq!(failed[0]["resource_ids"], json!([rule]));
}
