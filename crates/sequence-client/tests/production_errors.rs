//! The generated client against errors shaped like Sequence production's: the public docs'
//! `unauthorized` and `forbidden` bodies carry only `error`, no `request_id`. The spec keeps
//! `request_id` optional so that a client generated from it decodes them; a tiny axum server
//! answers with exactly those bodies (and with this server's shape, which has the id) and the
//! client must turn each into `Error::ErrorResponse`, not a decoding failure.

use axum::Json;
use axum::http::StatusCode;
use axum::routing::get;
use sequence_client::{Error, client_with_api_key, error_code, is_retryable};
use serde_json::json;

/// Serves `router` on a free port; returns the client's base URL.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let address = listener.local_addr().expect("bound");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("mock server runs") });
    format!("http://{address}/api/v1")
}

fn production() -> axum::Router {
    // Verbatim from the public docs (the seeds of `openapi.yaml`'s 401/403 examples).
    let unauthorized =
        json!({"error": {"code": "unauthorized", "message": "Missing or invalid API key."}});
    let forbidden = json!({"error": {"code": "forbidden", "message": "This API key does not have the required permission."}});
    let ours = json!({"error": {"code": "account_not_found", "message": "No account `acc_1` exists in this organization."},
                      "request_id": "req_01HABC7007"});
    axum::Router::new()
        .route(
            "/api/v1/accounts",
            get(move || async move { (StatusCode::UNAUTHORIZED, Json(unauthorized)) }),
        )
        .route(
            "/api/v1/rules",
            get(move || async move { (StatusCode::FORBIDDEN, Json(forbidden)) }),
        )
        .route(
            "/api/v1/accounts/{id}",
            get(move || async move { (StatusCode::NOT_FOUND, Json(ours)) }),
        )
}

#[tokio::test]
async fn errors_without_a_request_id_decode() {
    let base_url = serve(production()).await;
    let client = client_with_api_key(&base_url, "seqk_test").expect("a valid base URL");

    let error = client.list_accounts().send().await.expect_err("401");
    let Error::ErrorResponse(response) = &error else { panic!("not decoded: {error:?}") };
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED.as_u16());
    assert_eq!(response.error.code, "unauthorized");
    assert_eq!(response.error.message, "Missing or invalid API key.");
    assert_eq!(response.request_id, None);
    assert_eq!(error_code(&error), Some("unauthorized"));
    assert!(!is_retryable(&error));

    let error = client.list_rules().send().await.expect_err("403");
    let Error::ErrorResponse(response) = &error else { panic!("not decoded: {error:?}") };
    assert_eq!(response.status(), StatusCode::FORBIDDEN.as_u16());
    assert_eq!(response.error.code, "forbidden");
    assert_eq!(response.error.message, "This API key does not have the required permission.");
    assert_eq!(response.request_id, None);
}

#[tokio::test]
async fn errors_with_a_request_id_keep_it() {
    let base_url = serve(production()).await;
    let client = client_with_api_key(&base_url, "seqk_test").expect("a valid base URL");
    let error = client.get_account().id("acc_1").send().await.expect_err("404");
    let Error::ErrorResponse(response) = &error else { panic!("not decoded: {error:?}") };
    assert_eq!(response.error.code, "account_not_found");
    assert_eq!(response.request_id.as_deref(), Some("req_01HABC7007"));
}
