//! Test harness: an app over a fresh SQLite file (or PostgreSQL when `SEQUENCE_TEST_POSTGRES_URL`
//! is set and a test asks for it), plus helpers.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use sequence_core::ids::OrgId;
use sequence_core::ledger::SystemAccounts;
use sequence_core::permissions::Permissions;
use sequence_server::AppState;
use sequence_store::Store;
use sequence_store::orgs::{self, Organization};
use serde_json::Value;
use tower::ServiceExt;

/// An app over its own database.
pub struct TestApp {
    pub state: AppState,
    _dir: tempfile::TempDir,
}

/// A response, decoded.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
    pub raw: String,
}

impl TestApp {
    /// A fresh app with the sandbox enabled.
    pub async fn new() -> TestApp {
        TestApp::with_sandbox(true).await
    }

    /// A fresh app; `sandbox` as with `serve --sandbox`.
    pub async fn with_sandbox(sandbox: bool) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let store = Store::connect(&url).await.expect("store");
        TestApp { state: AppState::new(store, sandbox), _dir: dir }
    }

    /// Creates an organization.
    pub async fn org(&self, name: &str) -> OrgId {
        let org = Organization {
            id: OrgId::generate(),
            name: name.to_owned(),
            clock_offset_seconds: 0,
            approval_threshold: None,
            system_accounts: SystemAccounts::generate(),
            created_at: chrono::Utc::now(),
        };
        let mut tx = self.state.store.begin().await.unwrap();
        orgs::insert(&mut tx, &org).await.unwrap();
        tx.commit().await.unwrap();
        org.id
    }

    /// Mints a key for `org` with `permissions` (JSON) and returns the plaintext key.
    pub async fn key(&self, org: &OrgId, permissions: &str) -> String {
        let permissions = Permissions::from_json(permissions).expect("valid permissions");
        let minted = sequence_server::auth::mint(org, "test", &permissions, chrono::Utc::now());
        let mut tx = self.state.store.begin().await.unwrap();
        sequence_store::keys::insert(&mut tx, &minted.record).await.unwrap();
        tx.commit().await.unwrap();
        minted.plaintext
    }

    /// An organization and an all-scopes key for it.
    pub async fn org_with_admin_key(&self) -> (OrgId, String) {
        let org = self.org("Test Org").await;
        let permissions = Permissions::all_scopes().to_json();
        let key = self.key(&org, &permissions).await;
        (org, key)
    }

    /// Sends a request through the app in-process.
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = sequence_server::app(self.state.clone()).oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
        let raw = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        TestResponse { status, headers, body, raw }
    }

    /// `GET path` with an optional key.
    pub async fn get(&self, path: &str, key: Option<&str>) -> TestResponse {
        self.send(request("GET", path, key, None, &[])).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, key: Option<&str>, body: Value) -> TestResponse {
        self.send(request("POST", path, key, Some(body.to_string()), &[])).await
    }

    /// `POST path` with a JSON body and an idempotency key.
    pub async fn post_idempotent(&self, path: &str, key: &str, idempotency_key: &str, body: Value) -> TestResponse {
        self.send(request("POST", path, Some(key), Some(body.to_string()), &[("Idempotency-Key", idempotency_key)])).await
    }
}

/// Builds a request; `body` is sent as `application/json`.
pub fn request(method: &str, path: &str, key: Option<&str>, body: Option<String>, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(key) = key {
        builder = builder.header("Authorization", format!("ApiKey {key}"));
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    match body {
        Some(body) => builder.header("Content-Type", "application/json").body(Body::from(body)).unwrap(),
        None => builder.body(Body::empty()).unwrap(),
    }
}

/// Asserts the spec's error envelope with `status` and `code`, and that `request_id` matches the
/// response header.
#[track_caller]
pub fn assert_error(response: &TestResponse, status: u16, code: &str) {
    assert_eq!(response.status.as_u16(), status, "unexpected status; body: {}", response.raw);
    assert_eq!(response.body["error"]["code"], code, "body: {}", response.raw);
    assert!(response.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", response.raw);
    let header = response.headers.get("x-request-id").and_then(|v| v.to_str().ok()).expect("x-request-id header");
    assert_eq!(response.body["request_id"], header, "request_id must equal the X-Request-ID header");
}
