//! A Rust client for the Sequence money-automation API (API v1 plus this server's sandbox
//! extensions).
//!
//! # What this crate is
//!
//! Almost all of it is **generated**: `src/generated.rs` is written by [progenitor] from the
//! repository's `openapi.yaml` (the single source of truth for the API) by `cargo xtask codegen`.
//! Never edit `generated.rs` by hand: change `openapi.yaml` and run `cargo xtask codegen`
//! (`cargo xtask codegen --check` fails when the committed file is stale). This file
//! (`src/lib.rs`) is the small hand-written layer on top: constructing a client with an API key,
//! idempotency keys, retry classification and page walking.
//!
//! The generated part gives you:
//! - [`Client`], with one method per operation, named after the spec's `operationId` in
//!   snake_case (`listAccounts` → [`Client::list_accounts`]). Every method returns a *builder*:
//!   set parameters with chainable setters, then `.send().await`.
//! - [`types`]: the request and response bodies (`types::Account`, `types::Transfer`,
//!   `types::ErrorResponse`, …). Constrained strings become validated newtypes, enums become Rust
//!   enums, and every struct has a `builder()` (handy in tests).
//!
//! # Connecting
//!
//! Every request needs an API key, sent as `Authorization: ApiKey <key>`. progenitor ignores the
//! spec's security schemes, so use [`client_with_api_key`], which installs that header (marked
//! sensitive, so it is never logged) on every request:
//!
//! ```no_run
//! use sequence_client::{DEFAULT_BASE_URL, client_with_api_key, types};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = client_with_api_key(DEFAULT_BASE_URL, "seqk_…")?;
//! let accounts = client.list_accounts().type_(types::AccountType::Pod).send().await?;
//! for account in &accounts.data {
//!     println!("{} {}", account.id.as_str(), account.name);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The **base URL includes the API prefix** `/api/v1` (the spec's `servers[0].url`): a server on
//! `http://127.0.0.1:8080` is [`DEFAULT_BASE_URL`] = `http://127.0.0.1:8080/api/v1`; Sequence
//! production is `https://api.getsequence.io/api/v1`. [`API_KEY_ENV`] and [`BASE_URL_ENV`] name
//! the environment variables the `sequence` CLI and the examples read.
//!
//! # Responses
//!
//! `send()` returns `Result<ResponseValue<T>, Error<types::ErrorResponse>>`. A [`ResponseValue`]
//! derefs to the body (`T`, always the `{request_id, data, page_info?}` envelope) and also has
//! `.status()` and `.headers()`; `.into_inner()` takes the body out.
//!
//! # Errors
//!
//! [`Error`] (progenitor's `progenitor_client::Error<types::ErrorResponse>`) says who is at fault:
//!
//! - `Error::ErrorResponse(ResponseValue<types::ErrorResponse>)`: the server answered with a
//!   documented 4xx/5xx. `.status()` is the HTTP status; `.error.code` is the stable,
//!   machine-readable code to branch on (`account_not_found`, `insufficient_funds`,
//!   `not_implemented`, …; the catalogue is the spec's `ErrorDetail` schema, and new codes may
//!   appear, so always keep a fallback arm); `.error.message` is for humans; `.request_id` is the
//!   id to quote in a bug report (an `Option`: this server always sends it, Sequence production's
//!   documented errors do not).
//! - `Error::CommunicationError(reqwest::Error)`: the request never got an answer (connection
//!   refused, reset, timeout).
//! - `Error::InvalidRequest(String)`: **client-side** validation of builder inputs failed before
//!   anything was sent: a required parameter was not set, or a value does not fit its schema (an
//!   id longer than 64 characters, an `Idempotency-Key` with a space, `first(0)`, …).
//! - `Error::UnexpectedResponse(reqwest::Response)`: a status the spec does not list for the
//!   operation (for example `408 request_timeout` or `405`, which come from the transport layer);
//!   the body is usually still an `ErrorResponse`.
//! - `Error::InvalidResponsePayload` / `Error::ResponseBodyError`: the body could not be decoded
//!   or read.
//!
//! ```no_run
//! # use sequence_client::{Client, Error};
//! # async fn demo(client: &Client) {
//! match client.get_account().id("acc_01HZZZ9999").send().await {
//!     Ok(account) => println!("balance: {} cents", account.data.balance.balance_in_cents),
//!     Err(Error::ErrorResponse(e)) if e.error.code == "account_not_found" => {
//!         println!("no such account (request {:?})", e.request_id);
//!     }
//!     Err(Error::ErrorResponse(e)) => {
//!         eprintln!("HTTP {}: {}: {}", e.status(), e.error.code, e.error.message);
//!     }
//!     Err(other) => eprintln!("request failed: {other}"),
//! }
//! # }
//! ```
//!
//! [`is_retryable`] tells whether an error is worth retrying (with the same idempotency key).
//! Prefer it over progenitor's `Error::is_retryable` method, which does not know this API's
//! `409 idempotency_request_in_progress` and never retries a `500`.
//!
//! # Pagination
//!
//! `listTransfers`, `listRuleExecutions` and `listCardTransactions` are cursor-paginated: `first`
//! is the page size (1–100, default 20) and `after` is the previous page's
//! `page_info.end_cursor`. Keep the other filters identical from page to page and stop when
//! `page_info.has_next_page` is false:
//!
//! ```no_run
//! # use sequence_client::{Client, Error, types};
//! # async fn demo(client: &Client) -> Result<(), Error<types::ErrorResponse>> {
//! let mut after: Option<String> = None;
//! loop {
//!     let mut request = client.list_transfers().account_id("acc_01HDEF0123").first(100);
//!     if let Some(cursor) = &after {
//!         request = request.after(cursor.as_str());
//!     }
//!     let page = request.send().await?.into_inner();
//!     for transfer in &page.data {
//!         println!("{} {} {}", transfer.id.as_str(), transfer.status, transfer.amount_in_cents);
//!     }
//!     match (page.page_info.has_next_page, page.page_info.end_cursor) {
//!         (true, Some(cursor)) => after = Some(cursor),
//!         _ => break,
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! [`collect_transfers`] and [`collect_rule_executions`] run that loop for you. Lists are newest
//! first; `listAccounts` and `listRules` are not paginated.
//!
//! # Idempotency keys
//!
//! Every mutating operation accepts an optional `Idempotency-Key` (setter `.idempotency_key(…)`).
//! Within 24 hours, repeating a request with the same key replays the first successful response
//! instead of executing it twice, so **generate one key per logical operation, before the first
//! attempt, and reuse it for every retry** of that operation ([`new_idempotency_key`]). Reusing a
//! key for a different request is `400 idempotency_key_mismatch`; a retry that arrives while the
//! first attempt is still running gets `409 idempotency_request_in_progress` (retry later). Only
//! successful responses are stored, so retrying after an error response executes again.
//!
//! ```no_run
//! # use sequence_client::{Client, Error, is_retryable, new_idempotency_key, types};
//! # async fn demo(client: &Client) -> Result<(), Error<types::ErrorResponse>> {
//! let key = new_idempotency_key();
//! let mut attempts = 0;
//! let transfer = loop {
//!     let result = client
//!         .create_transfer()
//!         .idempotency_key(key.as_str())
//!         .body_map(|body| {
//!             body.source_account_id("acc_01HDEF0123")
//!                 .destination_account_id("acc_01HGHI7890")
//!                 .amount_in_cents(12_345)
//!         })
//!         .send()
//!         .await;
//!     match result {
//!         Err(e) if attempts < 3 && is_retryable(&e) => attempts += 1,
//!         other => break other?,
//!     }
//! };
//! println!("{} is {}", transfer.data.id.as_str(), transfer.data.status);
//! # Ok(())
//! # }
//! ```
//!
//! # Webhooks
//!
//! [`webhooks::Verifier`] checks a delivery's `Sequence-Signature` against the raw body and the
//! endpoint's secret, and parses the body into [`types::WebhookEvent`] (one variant per event
//! type, with [`types::WebhookEvent::id`] to deduplicate by). Register endpoints with
//! [`Client::create_sandbox_webhook_endpoint`] (the response is the only place the secret is
//! shown) and read their attempts with [`Client::list_sandbox_webhook_deliveries`].
//!
//! # TLS
//!
//! The crate has one feature, **`rustls`** (off by default), which enables HTTPS through
//! reqwest's rustls backend. Without it only `http://` base URLs work (enough for a local
//! server), and [`client_with_api_key`] rejects `https://` URLs with
//! [`ClientBuildError::HttpsNeedsRustls`]. To talk to Sequence production:
//!
//! ```toml
//! sequence-client = { workspace = true, features = ["rustls"] }
//! ```
//!
//! # Versioning
//!
//! - This crate's version follows the spec's `info.version` (currently **1.0.0**), the version
//!   of the API it was generated from; see `CHANGELOG.md`.
//! - progenitor sends `api-version: <info.version>` on every request (`api-version: 1.0.0` today).
//! - A breaking change to `openapi.yaml` (removing or renaming an operation, parameter, field or
//!   enum value, tightening a constraint, changing a type) bumps the **major** version; additive
//!   changes bump the minor version. Every spec change is checked in review with
//!   `cargo xtask spec-diff <git-ref>` (e.g. `cargo xtask spec-diff main`), which lists the API
//!   changes and exits non-zero on breaking ones unless `--allow-breaking` is given.
//!
//! [progenitor]: https://github.com/oxidecomputer/progenitor

#![deny(missing_docs)]

#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, missing_docs, unused_imports, unused_qualifications)]
// The spec's prose (copied into doc comments) has bare URLs.
#[allow(rustdoc::bare_urls)]
mod generated;
pub use generated::*;

pub mod webhooks;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

/// Base URL of a server started locally with its defaults (`cargo run -p sequence-server --
/// serve`): the listen address plus the API prefix `/api/v1`.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080/api/v1";

/// Environment variable holding the API key (read by the `sequence` CLI and the examples).
pub const API_KEY_ENV: &str = "SEQUENCE_API_KEY";

/// Environment variable holding the base URL (read by the `sequence` CLI and the examples).
pub const BASE_URL_ENV: &str = "SEQUENCE_BASE_URL";

/// Total time allowed for one request (connect, send, wait, read) by [`client_with_api_key`].
///
/// Longer than progenitor's 15 s default because `advanceSandboxClock` processes everything that
/// fell due in the skipped interval before it answers.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Time allowed to establish the TCP (and TLS) connection by [`client_with_api_key`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why [`client_with_api_key`] could not build a client. Nothing was sent.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    /// The API key is empty.
    #[error("the API key is empty")]
    EmptyApiKey,
    /// The API key cannot be sent in an HTTP header (whitespace or control characters).
    #[error("the API key contains whitespace or characters that cannot be sent in an HTTP header")]
    InvalidApiKey,
    /// The base URL is not an absolute `http://` or `https://` URL.
    #[error("invalid base URL {0:?}: expected http://host[:port]/api/v1 or https://…")]
    InvalidBaseUrl(String),
    /// An `https://` base URL was given but the crate was built without the `rustls` feature.
    #[error(
        "base URL {0:?} uses https, but sequence-client was built without its `rustls` feature"
    )]
    HttpsNeedsRustls(String),
    /// reqwest could not build its client (for example, the TLS backend failed to initialise).
    #[error("could not build the HTTP client")]
    Http(#[source] reqwest::Error),
}

/// Builds a [`Client`] for `base_url` that sends `Authorization: ApiKey <api_key>` on every
/// request, with [`DEFAULT_TIMEOUT`] and [`DEFAULT_CONNECT_TIMEOUT`].
///
/// `base_url` includes the API prefix, e.g. [`DEFAULT_BASE_URL`]; a trailing `/` is ignored.
/// The header value is marked sensitive, so reqwest and its logging never print the key.
pub fn client_with_api_key(base_url: &str, api_key: &str) -> Result<Client, ClientBuildError> {
    client_with_api_key_and_timeout(base_url, api_key, DEFAULT_TIMEOUT)
}

/// [`client_with_api_key`] with a custom total per-request `timeout`.
pub fn client_with_api_key_and_timeout(
    base_url: &str,
    api_key: &str,
    timeout: Duration,
) -> Result<Client, ClientBuildError> {
    let base_url = normalize_base_url(base_url)?;
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, authorization_value(api_key)?);
    let http = reqwest::ClientBuilder::new()
        .default_headers(headers)
        .connect_timeout(DEFAULT_CONNECT_TIMEOUT.min(timeout))
        .timeout(timeout)
        .build()
        .map_err(ClientBuildError::Http)?;
    Ok(Client::new_with_client(&base_url, http))
}

/// Checks the URL's scheme and strips trailing slashes (the generated code appends `/accounts`
/// and friends to the base URL verbatim, so `…/api/v1/` would produce `//accounts`).
fn normalize_base_url(base_url: &str) -> Result<String, ClientBuildError> {
    let trimmed = base_url.trim_end_matches('/');
    let rest = if let Some(rest) = trimmed.strip_prefix("http://") {
        rest
    } else if let Some(rest) = trimmed.strip_prefix("https://") {
        if !cfg!(feature = "rustls") {
            return Err(ClientBuildError::HttpsNeedsRustls(base_url.to_string()));
        }
        rest
    } else {
        return Err(ClientBuildError::InvalidBaseUrl(base_url.to_string()));
    };
    if rest.is_empty() || rest.starts_with('/') || rest.chars().any(char::is_whitespace) {
        return Err(ClientBuildError::InvalidBaseUrl(base_url.to_string()));
    }
    Ok(trimmed.to_string())
}

fn authorization_value(api_key: &str) -> Result<HeaderValue, ClientBuildError> {
    if api_key.is_empty() {
        return Err(ClientBuildError::EmptyApiKey);
    }
    if api_key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ClientBuildError::InvalidApiKey);
    }
    let mut value = HeaderValue::from_str(&format!("ApiKey {api_key}"))
        .map_err(|_| ClientBuildError::InvalidApiKey)?;
    value.set_sensitive(true);
    Ok(value)
}

/// A fresh idempotency key: a random UUID v4 string, e.g. `7f3c2a4e-9b1d-4c6e-8f2a-5d9e0b1c3a77`
/// (the format the spec recommends; it fits `IdempotencyKeyValue`'s pattern).
///
/// Generate one per logical operation and reuse it for every retry of that operation. The
/// randomness comes from the standard library (the OS-seeded keys of `RandomState`, mixed with
/// the time, the process id and a counter): unique and unpredictable enough for idempotency, not
/// meant as a secret.
pub fn new_idempotency_key() -> String {
    let bits = (u128::from(random_u64()) << 64) | u128::from(random_u64());
    // Set the version (4) and variant (10xx) bits of an RFC 9562 UUID.
    let bits = (bits & !(0xF << 76)) | (0x4 << 76);
    let bits = (bits & !(0x3 << 62)) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // Each `RandomState` gets fresh SipHash keys derived from OS randomness.
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// The server's error code (`error.code`, e.g. `account_not_found`) if the error is a documented
/// error response; `None` for transport and client-side errors.
pub fn error_code(error: &Error<types::ErrorResponse>) -> Option<&str> {
    match error {
        Error::ErrorResponse(response) => Some(response.error.code.as_str()),
        _ => None,
    }
}

/// Whether retrying the request that failed with `error` may succeed.
///
/// Retry mutating requests only with the **same** `Idempotency-Key`: the original attempt may
/// have been applied (a dropped connection does not tell), and the key makes the retry replay
/// instead of executing twice. Back off between attempts.
pub fn is_retryable(error: &Error<types::ErrorResponse>) -> bool {
    match error {
        // Nothing answered (refused, reset, timed out); the server may be restarting.
        Error::CommunicationError(_) => true,
        // The connection broke while the body was being read; the retry replays or re-executes.
        Error::ResponseBodyError(_) => true,
        Error::ErrorResponse(response) => {
            is_retryable_status(response.status(), Some(response.error.code.as_str()))
        }
        // A status the spec does not list for the operation (408 and 405 come from the transport
        // layer); decide on the status alone.
        Error::UnexpectedResponse(response) => is_retryable_status(response.status(), None),
        // The builder inputs failed client-side validation; they will fail again.
        Error::InvalidRequest(_) => false,
        // Client and server disagree about the response schema; retrying will not change that.
        Error::InvalidResponsePayload(..) => false,
        // No operation of this API upgrades the connection.
        Error::InvalidUpgrade(_) => false,
        // Raised by consumer hooks, which this crate does not install.
        Error::Custom(_) => false,
    }
}

fn is_retryable_status(status: StatusCode, code: Option<&str>) -> bool {
    match status.as_u16() {
        // The same Idempotency-Key is still executing; the retry will replay its result.
        409 => code == Some("idempotency_request_in_progress"),
        // The server gave up on a slow request before finishing it.
        408 => true,
        // Rate limited (this server never rate-limits, Sequence production may).
        429 => true,
        // The operation is not implemented by this server; it will not be until an upgrade.
        501 => false,
        // The server failed and committed nothing (500), or a proxy in front of it failed.
        500..=599 => true,
        // Any other 4xx: the request itself is wrong (validation, permission, not found, state).
        _ => false,
    }
}

/// Fetches every page of a `listTransfers` request and returns all transfers, newest first.
///
/// `request` carries the filters (and optionally `first`, the page size; use 100 to make the
/// fewest round trips); its `after` is replaced page by page.
///
/// ```no_run
/// # async fn demo(client: &sequence_client::Client) -> Result<(), sequence_client::Error<sequence_client::types::ErrorResponse>> {
/// let transfers =
///     sequence_client::collect_transfers(client.list_transfers().account_id("acc_01HDEF0123").first(100))
///         .await?;
/// println!("{} transfers", transfers.len());
/// # Ok(())
/// # }
/// ```
pub async fn collect_transfers(
    request: builder::ListTransfers<'_>,
) -> Result<Vec<types::Transfer>, Error<types::ErrorResponse>> {
    collect_pages(|after| {
        let page = match &after {
            Some(cursor) => request.clone().after(cursor.as_str()),
            None => request.clone(),
        };
        async move {
            let page = page.send().await?.into_inner();
            Ok((page.data, page.page_info))
        }
    })
    .await
}

/// Fetches every page of a `listRuleExecutions` request and returns all executions, newest
/// first. Works like [`collect_transfers`].
pub async fn collect_rule_executions(
    request: builder::ListRuleExecutions<'_>,
) -> Result<Vec<types::RuleExecution>, Error<types::ErrorResponse>> {
    collect_pages(|after| {
        let page = match &after {
            Some(cursor) => request.clone().after(cursor.as_str()),
            None => request.clone(),
        };
        async move {
            let page = page.send().await?.into_inner();
            Ok((page.data, page.page_info))
        }
    })
    .await
}

/// The walk both `collect_*` helpers share: `fetch` gets the cursor to continue from (`None` for
/// the first page) and returns one page.
async fn collect_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, Error<types::ErrorResponse>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, types::PageInfo), Error<types::ErrorResponse>>>,
{
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (page, page_info) = fetch(after.clone()).await?;
        items.extend(page);
        match next_cursor(page_info, after.as_deref()).map_err(Error::Custom)? {
            Some(cursor) => after = Some(cursor),
            None => return Ok(items),
        }
    }
}

/// The cursor of the next page, `None` at the end. A server that says there is a next page
/// without a new cursor would make the walk loop forever, so that is an error.
fn next_cursor(
    page_info: types::PageInfo,
    previous: Option<&str>,
) -> Result<Option<String>, String> {
    if !page_info.has_next_page {
        return Ok(None);
    }
    match page_info.end_cursor {
        Some(cursor) if previous != Some(cursor.as_str()) => Ok(Some(cursor)),
        _ => Err("the server reported has_next_page without a new end_cursor".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_response(status: u16, code: &str) -> Error<types::ErrorResponse> {
        let body = types::ErrorResponse {
            error: types::ErrorDetail { code: code.to_string(), message: "m".to_string() },
            request_id: Some("req_1".to_string()),
        };
        Error::ErrorResponse(ResponseValue::new(
            body,
            StatusCode::from_u16(status).unwrap(),
            HeaderMap::new(),
        ))
    }

    #[test]
    fn retry_classification() {
        assert!(is_retryable(&error_response(409, "idempotency_request_in_progress")));
        assert!(!is_retryable(&error_response(409, "account_not_empty")));
        assert!(is_retryable(&error_response(500, "internal_error")));
        assert!(is_retryable(&error_response(503, "unavailable")));
        assert!(!is_retryable(&error_response(501, "not_implemented")));
        assert!(!is_retryable(&error_response(400, "invalid_request")));
        assert!(!is_retryable(&error_response(401, "unauthorized")));
        assert!(!is_retryable(&error_response(404, "account_not_found")));
        assert!(!is_retryable(&Error::InvalidRequest("bad".to_string())));
    }

    #[test]
    fn error_code_reads_documented_errors_only() {
        assert_eq!(error_code(&error_response(404, "rule_not_found")), Some("rule_not_found"));
        assert_eq!(error_code(&Error::InvalidRequest("x".to_string())), None);
    }

    #[test]
    fn idempotency_keys_are_uuid_v4_and_valid() {
        let a = new_idempotency_key();
        let b = new_idempotency_key();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
        assert!(types::IdempotencyKeyValue::try_from(a.as_str()).is_ok());
    }

    #[test]
    fn base_urls_are_checked_and_trimmed() {
        assert_eq!(normalize_base_url("http://127.0.0.1:8080/api/v1/").unwrap(), DEFAULT_BASE_URL);
        assert!(matches!(
            normalize_base_url("127.0.0.1:8080"),
            Err(ClientBuildError::InvalidBaseUrl(_))
        ));
        assert!(matches!(normalize_base_url("http://"), Err(ClientBuildError::InvalidBaseUrl(_))));
        if !cfg!(feature = "rustls") {
            assert!(matches!(
                normalize_base_url("https://api.getsequence.io/api/v1"),
                Err(ClientBuildError::HttpsNeedsRustls(_))
            ));
        }
    }

    #[test]
    fn api_keys_are_checked_and_sensitive() {
        assert!(matches!(authorization_value(""), Err(ClientBuildError::EmptyApiKey)));
        assert!(matches!(authorization_value("a b"), Err(ClientBuildError::InvalidApiKey)));
        assert!(matches!(authorization_value("key\n"), Err(ClientBuildError::InvalidApiKey)));
        let value = authorization_value("sk_test_123").unwrap();
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().unwrap(), "ApiKey sk_test_123");
        assert!(client_with_api_key(DEFAULT_BASE_URL, "sk_test_123").is_ok());
    }

    #[test]
    fn pagination_stops_and_guards() {
        let page = |has_next_page, end_cursor: Option<&str>| types::PageInfo {
            end_cursor: end_cursor.map(str::to_string),
            has_next_page,
        };
        assert_eq!(next_cursor(page(false, Some("c1")), None).unwrap(), None);
        assert_eq!(next_cursor(page(true, Some("c1")), None).unwrap(), Some("c1".to_string()));
        assert!(next_cursor(page(true, None), None).is_err());
        assert!(next_cursor(page(true, Some("c1")), Some("c1")).is_err());
    }
}
