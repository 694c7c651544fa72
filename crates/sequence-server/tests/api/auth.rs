//! 401 for missing, malformed, unknown and revoked keys; 403 for missing scopes and resources.

use serde_json::json;

use crate::harness::{TestApp, assert_error, request};

#[tokio::test]
async fn missing_malformed_unknown_and_revoked_keys_get_401() {
    let app = TestApp::new().await;
    let (org, _) = app.org_with_admin_key().await;
    let key = app.key(&org, r#"[{"scope":"LIST_ACCOUNTS"}]"#).await;

    let missing = app.get("/api/v1/accounts", None).await;
    assert_error(&missing, 401, "unauthorized");
    assert_eq!(missing.body["error"]["message"], "Missing or invalid API key.");

    for header in ["Bearer abc", "ApiKey", "ApiKey not-a-key", &format!("Basic {key}")] {
        let response = app
            .send(request("GET", "/api/v1/accounts", None, None, &[("Authorization", header)]))
            .await;
        assert_error(&response, 401, "unauthorized");
    }

    // Well-formed, but the secret does not match / the id does not exist.
    let mut forged = key.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    assert_error(&app.get("/api/v1/accounts", Some(&forged)).await, 401, "unauthorized");
    let unknown = format!("seqk_{}_{}", ulid::Ulid::new(), "a".repeat(64));
    assert_error(&app.get("/api/v1/accounts", Some(&unknown)).await, 401, "unauthorized");

    // The key works, then is revoked.
    assert_eq!(app.get("/api/v1/accounts", Some(&key)).await.status, 200);
    let key_id = format!("key_{}", &key[5..31]);
    let mut tx = app.state.store.begin().await.unwrap();
    sequence_store::keys::revoke(
        &mut tx,
        &sequence_core::ids::ApiKeyId::from_raw(key_id),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // Verified keys are cached for at most KEY_CACHE_TTL: after that the revocation holds.
    app.state.keys.clear();
    assert_error(&app.get("/api/v1/accounts", Some(&key)).await, 401, "unauthorized");
}

#[tokio::test]
async fn a_revoked_key_stops_working_within_the_cache_bound() {
    let mut app = TestApp::new().await;
    let ttl = std::time::Duration::from_millis(300);
    app.state.keys = sequence_server::auth::KeyCache::new(ttl);
    let (org, _) = app.org_with_admin_key().await;
    let key = app.key(&org, r#"[{"scope":"LIST_ACCOUNTS"}]"#).await;
    let cached_at = std::time::Instant::now();
    assert_eq!(app.get("/api/v1/accounts", Some(&key)).await.status, 200);
    // Revoked by another process (`sequence-server keys revoke`), straight in the database.
    let key_id = sequence_core::ids::ApiKeyId::from_raw(format!("key_{}", &key[5..31]));
    let mut tx = app.state.store.begin().await.unwrap();
    sequence_store::keys::revoke(&mut tx, &key_id, chrono::Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    // Still cached: the request path did not ask the database.
    assert_eq!(app.get("/api/v1/accounts", Some(&key)).await.status, 200);
    // A forged secret for the cached id is refused from the cache too.
    let mut forged = key.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    assert_error(&app.get("/api/v1/accounts", Some(&forged)).await, 401, "unauthorized");
    // Within the bound (plus slack for a slow machine), the revocation holds.
    loop {
        let response = app.get("/api/v1/accounts", Some(&key)).await;
        if response.status == 401 {
            break;
        }
        assert!(cached_at.elapsed() < ttl * 10, "the revoked key still works after {ttl:?}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(cached_at.elapsed() >= ttl, "the cached key expired early");
}

#[tokio::test]
async fn a_key_without_the_scope_gets_403_with_the_documented_body() {
    let app = TestApp::new().await;
    let org = app.org("Org").await;
    let key = app.key(&org, r#"[{"scope":"READ_ACCOUNTS","resources":["*"]}]"#).await;

    let list = app.get("/api/v1/accounts", Some(&key)).await;
    assert_error(&list, 403, "forbidden");
    assert_eq!(
        list.body["error"]["message"],
        "This API key does not have the required permission."
    );

    let create = app
        .post("/api/v1/accounts/income-sources", Some(&key), json!({"nickname": "Payroll"}))
        .await;
    assert_error(&create, 403, "forbidden");
}

#[tokio::test]
async fn read_accounts_is_limited_to_the_listed_resources() {
    let app = TestApp::new().await;
    let (org, admin) = app.org_with_admin_key().await;
    let created =
        app.post("/api/v1/accounts/pods", Some(&admin), json!({"nickname": "Savings"})).await;
    let pod = created.body["data"]["id"].as_str().unwrap().to_owned();
    let other = app.post("/api/v1/accounts/pods", Some(&admin), json!({"nickname": "Other"})).await;
    let other = other.body["data"]["id"].as_str().unwrap().to_owned();

    let key =
        app.key(&org, &format!(r#"[{{"scope":"READ_ACCOUNTS","resources":["{pod}"]}}]"#)).await;
    assert_eq!(app.get(&format!("/api/v1/accounts/{pod}"), Some(&key)).await.status, 200);
    assert_error(
        &app.get(&format!("/api/v1/accounts/{other}"), Some(&key)).await,
        403,
        "forbidden",
    );
}

#[tokio::test]
async fn another_organizations_accounts_are_not_found() {
    let app = TestApp::new().await;
    let (_, admin_a) = app.org_with_admin_key().await;
    let (_, admin_b) = app.org_with_admin_key().await;
    let created =
        app.post("/api/v1/accounts/pods", Some(&admin_a), json!({"nickname": "Savings"})).await;
    let pod = created.body["data"]["id"].as_str().unwrap();
    assert_error(
        &app.get(&format!("/api/v1/accounts/{pod}"), Some(&admin_b)).await,
        404,
        "account_not_found",
    );
    let listed = app.get("/api/v1/accounts", Some(&admin_b)).await;
    assert_eq!(listed.body["data"], json!([]));
}
