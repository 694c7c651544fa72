//! listAccounts, getAccount, createIncomeSource and createPod, including idempotency.

use serde_json::{Value, json};

use crate::harness::{TestApp, assert_error, request};

fn redact(mut body: Value) -> Value {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if key == "id" || key == "request_id" {
                        *v = json!("[id]");
                    } else if key.ends_with("_at") {
                        *v = json!("[timestamp]");
                    } else if key == "routing_number" || key == "bank_account_number" {
                        *v = json!("[masked]");
                    } else {
                        walk(v);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut body);
    body
}

#[tokio::test]
async fn created_income_source_has_the_documented_shape() {
    let app = TestApp::new().await;
    let (_, key) = app.org_with_admin_key().await;
    let response = app
        .post(
            "/api/v1/accounts/income-sources",
            Some(&key),
            json!({"nickname": "Main Payroll", "icon": "briefcase"}),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.raw);
    let data = &response.body["data"];
    assert!(data["id"].as_str().unwrap().starts_with("acc_"));
    assert!(data["routing_number"].as_str().unwrap().starts_with("••••"));
    insta::assert_json_snapshot!("income_source_created", redact(response.body.clone()));

    let id = data["id"].as_str().unwrap();
    let read = app.get(&format!("/api/v1/accounts/{id}"), Some(&key)).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["data"], response.body["data"], "a read returns what the create returned");
}

#[tokio::test]
async fn list_filters_by_type_and_orders_income_sources_pods_then_external() {
    let app = TestApp::new().await;
    let (_, key) = app.org_with_admin_key().await;
    app.post("/api/v1/accounts/pods", Some(&key), json!({"nickname": "Pod A"})).await;
    app.post("/api/v1/accounts/income-sources", Some(&key), json!({"nickname": "Payroll"})).await;
    app.post("/api/v1/accounts/pods", Some(&key), json!({"nickname": "Pod B"})).await;

    let all = app.get("/api/v1/accounts", Some(&key)).await;
    assert_eq!(all.status, 200);
    let names: Vec<&str> =
        all.body["data"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Payroll", "Pod A", "Pod B"]);
    insta::assert_json_snapshot!("account_list", redact(all.body.clone()));

    let pods = app.get("/api/v1/accounts?type=pod", Some(&key)).await;
    let names: Vec<&str> =
        pods.body["data"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Pod A", "Pod B"]);
    let none = app.get("/api/v1/accounts?type=external_account", Some(&key)).await;
    assert_eq!(none.body["data"], json!([]));
    assert_error(
        &app.get("/api/v1/accounts?type=checking", Some(&key)).await,
        400,
        "invalid_request",
    );
}

#[tokio::test]
async fn idempotency_key_replays_rejects_other_bodies_and_is_scoped_to_the_organization() {
    let app = TestApp::new().await;
    let (_, key) = app.org_with_admin_key().await;
    let body = json!({"nickname": "Main Payroll"});
    let first =
        app.post_idempotent("/api/v1/accounts/income-sources", &key, "key-1", body.clone()).await;
    assert_eq!(first.status, 201);
    let replay =
        app.post_idempotent("/api/v1/accounts/income-sources", &key, "key-1", body.clone()).await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.raw, first.raw, "replays are byte for byte");
    let listed = app.get("/api/v1/accounts", Some(&key)).await;
    assert_eq!(
        listed.body["data"].as_array().unwrap().len(),
        1,
        "the replay did not create a second account"
    );

    // Same JSON, different formatting and key order: still the same request.
    let reformatted = app
        .send(request(
            "POST",
            "/api/v1/accounts/income-sources",
            Some(&key),
            Some("{ \"nickname\" :\n \"Main Payroll\" }".to_owned()),
            &[("Idempotency-Key", "key-1")],
        ))
        .await;
    assert_eq!(reformatted.raw, first.raw);

    let other = app
        .post_idempotent(
            "/api/v1/accounts/income-sources",
            &key,
            "key-1",
            json!({"nickname": "Other"}),
        )
        .await;
    assert_error(&other, 400, "idempotency_key_mismatch");
    let other_path =
        app.post_idempotent("/api/v1/accounts/pods", &key, "key-1", body.clone()).await;
    assert_error(&other_path, 400, "idempotency_key_mismatch");

    // Another organization may use the same key independently.
    let (_, other_org_key) = app.org_with_admin_key().await;
    let theirs =
        app.post_idempotent("/api/v1/accounts/income-sources", &other_org_key, "key-1", body).await;
    assert_eq!(theirs.status, 201);
    assert_ne!(theirs.body["data"]["id"], first.body["data"]["id"]);
}

#[tokio::test]
async fn errors_do_not_consume_an_idempotency_key() {
    let app = TestApp::new().await;
    let org = app.org("Org").await;
    let key = app.key(&org, r#"[{"scope":"LIST_ACCOUNTS"}]"#).await;
    let refused =
        app.post_idempotent("/api/v1/accounts/pods", &key, "k", json!({"nickname": "P"})).await;
    assert_error(&refused, 403, "forbidden");
    let admin =
        app.key(&org, &sequence_core::permissions::Permissions::all_scopes().to_json()).await;
    let accepted =
        app.post_idempotent("/api/v1/accounts/pods", &admin, "k", json!({"nickname": "P"})).await;
    assert_eq!(accepted.status, 201);
}
