//! The real server on a free port, driven through the generated client: proves that the client
//! and the server agree on the wire, and (through `spec_check::checked`) that what the server
//! sent is what the spec declares.

use sequence_client::types;

use crate::harness::TestApp;

#[tokio::test]
async fn generated_client_against_the_real_server() {
    let app = TestApp::new().await;
    let (_, key) = app.org_with_admin_key().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    // Every response the client gets is also checked against the spec.
    let (router, violations) = crate::spec_check::checked(sequence_server::app(app.state.clone()));
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let client = sequence_client::client_with_api_key(&format!("http://{address}/api/v1"), &key)
        .expect("client");
    let created = client
        .create_income_source()
        .idempotency_key("e2e-1")
        .body(
            types::CreateIncomeSourceRequest::builder()
                .nickname("Main Payroll")
                .icon(Some("briefcase".try_into().unwrap())),
        )
        .send()
        .await
        .expect("created");
    assert_eq!(created.status(), 201);
    assert_eq!(created.data.name, "Main Payroll");
    assert_eq!(created.data.type_, types::AccountType::IncomeSource);

    let listed = client
        .list_accounts()
        .type_(types::AccountType::IncomeSource)
        .send()
        .await
        .expect("listed");
    assert_eq!(listed.data.len(), 1);
    assert_eq!(listed.data[0].id.as_str(), created.data.id.as_str());

    // A typed error: unknown account.
    let missing = client.get_account().id("acc_nope").send().await.expect_err("404");
    match missing {
        sequence_client::Error::ErrorResponse(response) => {
            assert_eq!(response.status(), 404);
            assert_eq!(response.error.code, "account_not_found");
        }
        other => panic!("expected a typed error, got {other:?}"),
    }

    // A bad key is a typed 401.
    let anonymous =
        sequence_client::client_with_api_key(&format!("http://{address}/api/v1"), "nope").unwrap();
    match anonymous.list_accounts().send().await.expect_err("401") {
        sequence_client::Error::ErrorResponse(response) => {
            assert_eq!(response.error.code, "unauthorized")
        }
        other => panic!("expected a typed error, got {other:?}"),
    }
    server.abort();
    violations.assert_none();
}
