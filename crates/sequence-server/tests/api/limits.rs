//! Per-key rate limiting (`serve --rate-limit`, [`sequence_server::rate_limit`]): the 101st
//! request of a minute is refused with `429 rate_limit_exceeded` and `Retry-After`, every answer
//! to an authenticated request carries the `RateLimit-*` headers, keys and replicas keep separate
//! buckets (as the spec states), unauthenticated requests are not counted, and `0` turns the
//! limit off.

use sequence_server::AppState;

use crate::harness::{TestApp, TestResponse, assert_error, request, send_to};

async fn get(state: &AppState, path: &str, key: Option<&str>) -> TestResponse {
    send_to(sequence_server::app(state.clone()), request("GET", path, key, None, &[])).await
}

fn header(response: &TestResponse, name: &str) -> Option<u64> {
    response.headers.get(name).map(|v| v.to_str().unwrap().parse().unwrap())
}

/// With a limit of 10 per minute a token comes back every 6 s, so the 10 requests below (a
/// fraction of a second even in a debug build) see no refill and the 11th finds the bucket
/// empty. (`rate_limit`'s unit tests show the same for the default 100, at in-memory speed.)
#[tokio::test]
async fn the_request_after_the_limit_gets_429_with_retry_after() {
    let app = TestApp::new().await;
    let (org, key) = app.org_with_admin_key().await;
    let other_key = app.key(&org, r#"[{"scope":"LIST_ACCOUNTS"}]"#).await;
    let limited = app.state.clone().with_rate_limit(10);

    for n in 1..=10u64 {
        // Invalid requests count too: the bucket is taken before validation.
        let path = if n == 5 { "/api/v1/accounts?type=nope" } else { "/api/v1/accounts" };
        let response = get(&limited, path, Some(&key)).await;
        assert_eq!(response.status.as_u16(), if n == 5 { 400 } else { 200 }, "{}", response.raw);
        assert_eq!(header(&response, "ratelimit-limit"), Some(10));
        assert_eq!(header(&response, "ratelimit-remaining"), Some(10 - n));
    }
    let refused = get(&limited, "/api/v1/accounts", Some(&key)).await;
    assert_error(&refused, 429, "rate_limit_exceeded");
    let retry_after = header(&refused, "retry-after").expect("Retry-After");
    assert!((1..=6).contains(&retry_after), "one token comes back every 6 s: {retry_after}");
    assert_eq!(header(&refused, "ratelimit-remaining"), Some(0));
    assert!(header(&refused, "ratelimit-reset").is_some_and(|s| (55..=60).contains(&s)));
    // Over the limit, even an operation the key may not call answers 429 (no effect, no check).
    let refused = get(&limited, "/api/v1/rules", Some(&key)).await;
    assert_error(&refused, 429, "rate_limit_exceeded");

    // Another key has its own bucket; requests without a valid key are not counted.
    let other = get(&limited, "/api/v1/accounts", Some(&other_key)).await;
    assert_eq!(other.status.as_u16(), 200);
    assert_eq!(header(&other, "ratelimit-remaining"), Some(9));
    let anonymous = get(&limited, "/api/v1/accounts", None).await;
    assert_error(&anonymous, 401, "unauthorized");
    assert_eq!(header(&anonymous, "ratelimit-remaining"), None);

    // The refusals are in the audit log as denied calls.
    app.state.denials.flush().await;
    let log = app.get("/api/v1/audit-logs?outcome=denied", Some(&key)).await;
    assert_eq!(log.status.as_u16(), 200, "{}", log.raw);
    let codes: Vec<&str> = log.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["error_code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["rate_limit_exceeded", "rate_limit_exceeded"], "{}", log.raw);
}

#[tokio::test]
async fn replicas_keep_their_own_buckets() {
    // The spec: "buckets live in each server process; with R replicas a key may make up to
    // R × N requests per minute".
    let app = TestApp::new().await;
    let (_, key) = app.org_with_admin_key().await;
    let first = app.state.clone().with_rate_limit(2);
    let second = app.replica().await.with_rate_limit(2);
    for _ in 0..2 {
        assert_eq!(get(&first, "/api/v1/accounts", Some(&key)).await.status.as_u16(), 200);
    }
    assert_error(&get(&first, "/api/v1/accounts", Some(&key)).await, 429, "rate_limit_exceeded");
    for _ in 0..2 {
        assert_eq!(get(&second, "/api/v1/accounts", Some(&key)).await.status.as_u16(), 200);
    }
    assert_error(&get(&second, "/api/v1/accounts", Some(&key)).await, 429, "rate_limit_exceeded");
}

#[tokio::test]
async fn zero_turns_the_limit_off() {
    let app = TestApp::new().await;
    let (_, key) = app.org_with_admin_key().await;
    let unlimited = app.state.clone().with_rate_limit(0);
    assert!(unlimited.rate_limit.is_none());
    for _ in 0..150 {
        let response = get(&unlimited, "/api/v1/accounts", Some(&key)).await;
        assert_eq!(response.status.as_u16(), 200);
        assert_eq!(header(&response, "ratelimit-limit"), None);
    }
}

/// `HEAD` is served by the `GET` operation, so it takes a token like a `GET` (it is not a way
/// around the limit).
#[tokio::test]
async fn head_requests_count_like_gets() {
    use tower::ServiceExt;
    let app = TestApp::new().await;
    let (_, key) = app.org_with_admin_key().await;
    let limited = app.state.clone().with_rate_limit(3);
    let head = || async {
        let request = request("HEAD", "/api/v1/accounts", Some(&key), None, &[]);
        sequence_server::app(limited.clone()).oneshot(request).await.unwrap()
    };
    for remaining in [2, 1, 0] {
        let response = head().await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["ratelimit-remaining"], remaining.to_string().as_str());
    }
    assert_eq!(head().await.status(), 429);
    assert_error(&get(&limited, "/api/v1/accounts", Some(&key)).await, 429, "rate_limit_exceeded");
}
