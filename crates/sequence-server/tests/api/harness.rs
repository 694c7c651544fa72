//! Test harness: an app over a fresh SQLite file (or PostgreSQL when `SEQUENCE_TEST_POSTGRES_URL`
//! is set and a test asks for it), plus helpers.
//!
//! - [`TestApp::new`] is SQLite, unless `SEQUENCE_TEST_BACKEND=postgres` runs the whole suite on
//!   PostgreSQL. [`TestApp::on`] asks for a backend explicitly and is `None` (after printing
//!   `skipping: SEQUENCE_TEST_POSTGRES_URL is not set`) when PostgreSQL is asked for but not
//!   configured; [`both_backends!`] declares a test once and runs it as `name::sqlite` and
//!   `name::postgres`.
//! - Each PostgreSQL test gets its own `seq_test_…` database, dropped when the app is dropped.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use sequence_core::ids::OrgId;
use sequence_core::permissions::Permissions;
use sequence_server::AppState;
use sequence_server::state::Server;
use sequence_store::Store;
use sequence_store::orgs::{self, Organization};
pub use sequence_store::test_support::TestBackend as Backend;
use sequence_store::test_support::TestDatabase;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Declares an async test body once and runs it on both backends, as `name::sqlite` and
/// `name::postgres` (the latter skipped, with a note on stderr, without
/// `SEQUENCE_TEST_POSTGRES_URL`). The body receives a fresh [`TestApp`] with the sandbox on.
macro_rules! both_backends {
    ($(#[$meta:meta])* async fn $name:ident($app:ident: TestApp) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($app: $crate::harness::TestApp) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(app) = $crate::harness::TestApp::on($crate::harness::Backend::Sqlite).await {
                    body(app).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::harness::TestApp::on($crate::harness::Backend::Postgres).await {
                    body(app).await;
                }
            }
        }
    };
}
pub(crate) use both_backends;

/// Like `both_backends!`, on a runtime with 8 worker threads, so that parallel requests really
/// overlap in the database.
macro_rules! both_backends_parallel {
    (async fn $name:ident($app:ident: TestApp) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($app: $crate::harness::TestApp) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
            async fn sqlite() {
                if let Some(app) = $crate::harness::TestApp::on($crate::harness::Backend::Sqlite).await {
                    body(app).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
            async fn postgres() {
                if let Some(app) = $crate::harness::TestApp::on($crate::harness::Backend::Postgres).await {
                    body(app).await;
                }
            }
        }
    };
}
pub(crate) use both_backends_parallel;

/// An app over its own database.
pub struct TestApp {
    pub state: AppState,
    /// Which backend the database is on.
    pub backend: Backend,
    // Declared last: dropped after the state, so the database outlives the pool.
    database: TestDatabase,
}

/// The backend [`TestApp::new`] uses: SQLite, or PostgreSQL with `SEQUENCE_TEST_BACKEND=postgres`.
fn default_backend() -> Backend {
    match std::env::var("SEQUENCE_TEST_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("sqlite") | Ok("") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("SEQUENCE_TEST_BACKEND must be `sqlite` or `postgres`, not `{other}`"),
    }
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
        let backend = default_backend();
        TestApp::create(backend, sandbox).await.unwrap_or_else(|| {
            panic!(
                "SEQUENCE_TEST_BACKEND=postgres needs {}",
                sequence_store::test_support::POSTGRES_URL_VAR
            )
        })
    }

    /// A fresh app with the sandbox on, over `backend`; `None` (with a note on stderr) when
    /// `backend` is PostgreSQL and `SEQUENCE_TEST_POSTGRES_URL` is not set.
    pub async fn on(backend: Backend) -> Option<TestApp> {
        TestApp::create(backend, true).await
    }

    async fn create(backend: Backend, sandbox: bool) -> Option<TestApp> {
        let database = TestDatabase::create(backend).await?;
        let store = Store::connect(database.url()).await.expect("store");
        Some(TestApp { state: AppState::new(store, sandbox), backend, database })
    }

    /// Another server replica on the same database: its own connection pool and state, as a
    /// second `sequence-server` process would have.
    pub async fn replica(&self) -> AppState {
        let store = Store::connect(self.database.url()).await.expect("replica store");
        AppState::new(store, self.state.sandbox)
    }

    /// The database URL (for starting the real binary on it).
    pub fn database_url(&self) -> &str {
        self.database.url()
    }

    /// The handler object, for driving background work (`Server::tick`) directly.
    pub fn server(&self) -> Server {
        Server::new(self.state.clone())
    }

    /// The application, to send requests from several tasks at once (see [`send_to`]).
    pub fn router(&self) -> Router {
        sequence_server::app(self.state.clone())
    }

    /// Creates an organization.
    pub async fn org(&self, name: &str) -> OrgId {
        let org = Organization::new(name, chrono::Utc::now());
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
        send_to(self.router(), request).await
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
    pub async fn post_idempotent(
        &self,
        path: &str,
        key: &str,
        idempotency_key: &str,
        body: Value,
    ) -> TestResponse {
        self.send(request(
            "POST",
            path,
            Some(key),
            Some(body.to_string()),
            &[("Idempotency-Key", idempotency_key)],
        ))
        .await
    }
}

/// Sends a request through `router` in-process. The response is checked against the
/// operation's declared responses in `openapi.yaml` ([`crate::spec_check`]); a mismatch panics
/// here, failing the test that sent the request.
pub async fn send_to(router: Router, request: Request<Body>) -> TestResponse {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let response = router.oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    crate::spec_check::assert_matches_spec(&method, &path, status, &headers, &bytes);
    let raw = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    TestResponse { status, headers, body, raw }
}

/// Ledger helpers: short ways to set up money for the transfers, permissions and concurrency
/// tests. Each asserts its own success, so a test's assertions are about what it tests.
impl TestApp {
    /// `POST path` without a body (the approve and decline operations take none).
    pub async fn post_empty(&self, path: &str, key: Option<&str>) -> TestResponse {
        self.send(request("POST", path, key, None, &[])).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str, key: Option<&str>) -> TestResponse {
        self.send(request("DELETE", path, key, None, &[])).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, key: Option<&str>, body: Value) -> TestResponse {
        self.send(request("PUT", path, key, Some(body.to_string()), &[])).await
    }

    /// Creates a pod; returns its id.
    pub async fn create_pod(&self, key: &str, nickname: &str) -> String {
        let response =
            self.post("/api/v1/accounts/pods", Some(key), json!({"nickname": nickname})).await;
        assert_eq!(response.status, 201, "creating a pod: {}", response.raw);
        response.body["data"]["id"].as_str().unwrap().to_owned()
    }

    /// Creates an income source; returns its id.
    pub async fn create_income_source(&self, key: &str, nickname: &str) -> String {
        let response = self
            .post("/api/v1/accounts/income-sources", Some(key), json!({"nickname": nickname}))
            .await;
        assert_eq!(response.status, 201, "creating an income source: {}", response.raw);
        response.body["data"]["id"].as_str().unwrap().to_owned()
    }

    /// Links a sandbox external account of `external_type` (`DEPOSITORY`, `INVESTMENT`,
    /// `LIABILITY`) reporting `balance` cents; returns its id.
    pub async fn create_external_account(
        &self,
        key: &str,
        external_type: &str,
        balance: i64,
    ) -> String {
        let body = json!({
            "name": format!("{external_type} account"),
            "external_account_type": external_type,
            "institution_name": "Test Bank",
            "balance_in_cents": balance,
        });
        let response = self.post("/api/v1/sandbox/external-accounts", Some(key), body).await;
        assert_eq!(response.status, 201, "linking an external account: {}", response.raw);
        response.body["data"]["id"].as_str().unwrap().to_owned()
    }

    /// Deposits `cents` into `account` through the sandbox; returns the (complete) transfer.
    pub async fn deposit(&self, key: &str, account: &str, cents: i64) -> Value {
        let response = self.deposit_response(key, account, cents).await;
        assert_eq!(response.status, 201, "depositing: {}", response.raw);
        response.body["data"].clone()
    }

    /// `POST /sandbox/deposits`, whatever it answers.
    pub async fn deposit_response(&self, key: &str, account: &str, cents: i64) -> TestResponse {
        let body = json!({"account_id": account, "amount_in_cents": cents});
        self.post("/api/v1/sandbox/deposits", Some(key), body).await
    }

    /// `POST /transfers`.
    pub async fn transfer(
        &self,
        key: &str,
        source: &str,
        destination: &str,
        cents: i64,
    ) -> TestResponse {
        let body = json!({"source_account_id": source, "destination_account_id": destination, "amount_in_cents": cents});
        self.post("/api/v1/transfers", Some(key), body).await
    }

    /// Advances the organization clock by `seconds`; returns the response's `data`.
    pub async fn advance_clock(&self, key: &str, seconds: i64) -> Value {
        let response = self
            .post("/api/v1/sandbox/clock/advance", Some(key), json!({"seconds": seconds}))
            .await;
        assert_eq!(response.status, 200, "advancing the clock: {}", response.raw);
        response.body["data"].clone()
    }

    /// `GET /accounts/{id}`'s `data`.
    pub async fn account(&self, key: &str, id: &str) -> Value {
        let response = self.get(&format!("/api/v1/accounts/{id}"), Some(key)).await;
        assert_eq!(response.status, 200, "reading account {id}: {}", response.raw);
        response.body["data"].clone()
    }

    /// `(balance_in_cents, available_balance_in_cents)` of an income source or pod.
    pub async fn balances(&self, key: &str, id: &str) -> (i64, i64) {
        let balance = &self.account(key, id).await["balance"];
        (
            balance["balance_in_cents"].as_i64().unwrap(),
            balance["available_balance_in_cents"].as_i64().unwrap(),
        )
    }

    /// `GET /transfers/{id}`'s `data`.
    pub async fn transfer_by_id(&self, key: &str, id: &str) -> Value {
        let response = self.get(&format!("/api/v1/transfers/{id}"), Some(key)).await;
        assert_eq!(response.status, 200, "reading transfer {id}: {}", response.raw);
        response.body["data"].clone()
    }

    /// Every transfer of `account` matching `query` (e.g. `execution_mode=all`), following the
    /// cursor through every page; newest first.
    pub async fn all_transfers(&self, key: &str, account: &str, query: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/transfers?account_id={account}&first=100");
            if !query.is_empty() {
                path.push('&');
                path.push_str(query);
            }
            if let Some(cursor) = &after {
                path.push_str(&format!("&after={cursor}"));
            }
            let response = self.get(&path, Some(key)).await;
            assert_eq!(response.status, 200, "listing transfers: {}", response.raw);
            items.extend(response.body["data"].as_array().unwrap().iter().cloned());
            if response.body["page_info"]["has_next_page"] != json!(true) {
                return items;
            }
            after = Some(response.body["page_info"]["end_cursor"].as_str().unwrap().to_owned());
        }
    }
}

/// Builds a request; `body` is sent as `application/json`.
pub fn request(
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<String>,
    headers: &[(&str, &str)],
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(key) = key {
        builder = builder.header("Authorization", format!("ApiKey {key}"));
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    match body {
        Some(body) => {
            builder.header("Content-Type", "application/json").body(Body::from(body)).unwrap()
        }
        None => builder.body(Body::empty()).unwrap(),
    }
}

/// Asserts the spec's error envelope with `status` and `code`, and that `request_id` matches the
/// response header.
#[track_caller]
pub fn assert_error(response: &TestResponse, status: u16, code: &str) {
    assert_eq!(response.status.as_u16(), status, "unexpected status; body: {}", response.raw);
    assert_eq!(response.body["error"]["code"], code, "body: {}", response.raw);
    assert!(
        response.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        response.raw
    );
    let header = response
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id header");
    assert_eq!(
        response.body["request_id"], header,
        "request_id must equal the X-Request-ID header"
    );
}
