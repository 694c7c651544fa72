//! Drift between the spec and the code: the generated route table must serve exactly the spec's
//! operations, and the error catalogue, the permission table (`x-required-scope`) and the list of
//! `x-not-implemented` operations are snapshotted so a change to any of them shows in review.

use std::collections::BTreeSet;

use sequence_api::runtime::{CheckedBy, OperationInfo, ResourceSource};
use sequence_api::server::{ErrorCode, OPERATIONS};

fn spec() -> serde_json::Value {
    serde_saphyr::from_str(sequence_server::docs::OPENAPI_YAML).expect("spec parses")
}

#[test]
fn route_table_matches_the_spec_operations() {
    let spec = spec();
    let mut from_spec = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                from_spec.insert((
                    method.to_uppercase(),
                    path.clone(),
                    op["operationId"].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    let generated: BTreeSet<_> = OPERATIONS
        .iter()
        .map(|o| (o.method.to_owned(), o.path.to_owned(), o.operation_id.to_owned()))
        .collect();
    assert_eq!(generated, from_spec);

    let table: Vec<String> = OPERATIONS
        .iter()
        .map(|OperationInfo { operation_id, method, path, tag, success_status, error_statuses, secured, .. }| {
            format!(
                "{method:<6} {path:<36} {operation_id:<30} {tag:<16} {success_status} {error_statuses:?}{}",
                if *secured { "" } else { " (public)" }
            )
        })
        .collect();
    insta::assert_snapshot!("route_table", table.join("\n"));
}

#[test]
fn error_catalogue() {
    let rows: Vec<String> = ErrorCode::ALL
        .iter()
        .map(|c| format!("{:<32} {}  {}", c.as_str(), c.status().as_u16(), c.description()))
        .collect();
    insta::assert_snapshot!("error_catalogue", rows.join("\n"));
}

/// Every operation's declared scope and where its resource comes from: a review of this snapshot
/// is a review of who may call what.
#[test]
fn permission_table() {
    let by = |checked_by: &CheckedBy| match checked_by {
        CheckedBy::Handler => "checked by the handler",
        CheckedBy::Application => "checked by the application layer",
    };
    let rows: Vec<String> = OPERATIONS
        .iter()
        .map(|op| {
            let required = op.required_scope.expect("every operation of this API is secured");
            let resource = match &required.resource {
                ResourceSource::None => "-".to_owned(),
                ResourceSource::Path(name) => format!("path parameter `{name}`"),
                ResourceSource::Query(name) => format!("query parameter `{name}`"),
                ResourceSource::Body(name) => format!("body field `{name}`"),
                ResourceSource::TransferPair { source, destination, amount, checked_by } => {
                    format!("pair `{source}` → `{destination}`, `{amount}` ({})", by(checked_by))
                }
                ResourceSource::Loaded { what, checked_by } => {
                    format!("{what} ({})", by(checked_by))
                }
            };
            format!("{:<30} {:<22} {resource}", op.operation_id, required.scope)
        })
        .collect();
    insta::assert_snapshot!("permission_table", rows.join("\n"));
}

/// The operations the spec marks `x-not-implemented`: the only ones whose trait methods have a
/// default (answering 501). None today (the Cards operations were the last); adding one shows up
/// here in review, and each really answers 501.
#[tokio::test]
async fn not_implemented_operations_are_listed_and_answer_501() {
    let listed: Vec<String> = OPERATIONS
        .iter()
        .filter(|op| op.not_implemented)
        .map(|op| format!("{} {} ({})", op.method, op.path, op.operation_id))
        .collect();
    insta::assert_snapshot!("not_implemented_operations", listed.join("\n"));

    let app = crate::harness::TestApp::new().await;
    let (_, admin) = app.org_with_admin_key().await;
    let pod = app.create_pod(&admin, "Cards").await;
    for op in OPERATIONS.iter().filter(|op| op.not_implemented) {
        let path = op.path.replace("{id}", "card_01HNOTIMPLEMENTED000000000");
        let query = match op.required_scope.map(|r| r.resource) {
            Some(ResourceSource::Query(name)) => format!("?{name}={pod}"),
            _ => String::new(),
        };
        let response = app
            .send(crate::harness::request(
                op.method,
                &format!("/api/v1{path}{query}"),
                Some(&admin),
                None,
                &[],
            ))
            .await;
        crate::harness::assert_error(&response, 501, "not_implemented");
    }
}

/// The public docs' `unauthorized` and `forbidden` bodies, verbatim: the spec's examples are
/// exactly them, and this server answers exactly them plus its `request_id`.
#[tokio::test]
async fn documented_401_and_403_bodies_appear_verbatim() {
    let unauthorized = serde_json::json!({"error": {"code": "unauthorized", "message": "Missing or invalid API key."}});
    let forbidden = serde_json::json!({"error": {"code": "forbidden", "message": "This API key does not have the required permission."}});
    let spec = spec();
    let example = |name: &str| {
        spec["components"]["responses"][name]["content"]["application/json"]["example"].clone()
    };
    assert_eq!(example("Unauthorized"), unauthorized);
    assert_eq!(example("Forbidden"), forbidden);

    let app = crate::harness::TestApp::new().await;
    let (org, _) = app.org_with_admin_key().await;
    let nothing = app.key(&org, "[]").await;
    for (response, documented) in [
        (app.get("/api/v1/accounts", None).await, unauthorized),
        (app.get("/api/v1/accounts", Some(&nothing)).await, forbidden),
    ] {
        let mut body = response.body.clone();
        let request_id = body.as_object_mut().unwrap().remove("request_id");
        assert!(request_id.is_some_and(|id| id.is_string()), "{}", response.raw);
        assert_eq!(body, documented);
    }
}

/// Every list example's `page_info.end_cursor` is a cursor this server could have returned for
/// that page (the last item's `created_at` and id), and the list's `after` parameter shows it.
#[test]
fn cursor_examples_are_valid_for_their_endpoints() {
    let spec = spec();
    let mut checked = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let example = &op["responses"]["200"]["content"]["application/json"]["example"];
            let Some(cursor) = example["page_info"]["end_cursor"].as_str() else { continue };
            let id = op["operationId"].as_str().unwrap();
            let decoded = sequence_server::convert::cursor::decode(cursor)
                .unwrap_or_else(|| panic!("{id}: {cursor} is not a cursor"));
            let last = example["data"].as_array().and_then(|d| d.last()).expect("a page");
            let created_at =
                chrono::DateTime::parse_from_rfc3339(last["created_at"].as_str().unwrap()).unwrap();
            assert_eq!(decoded.id, last["id"].as_str().unwrap(), "{method} {path}");
            assert_eq!(decoded.created_at_ms, created_at.timestamp_millis(), "{method} {path}");
            let after = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p["$ref"].as_str())
                .filter_map(|r| r.strip_prefix("#/components/parameters/"))
                .map(|name| &spec["components"]["parameters"][name])
                .find(|p| p["name"] == "after")
                .unwrap_or_else(|| panic!("{id} has an `after` parameter"));
            assert_eq!(after["example"], cursor, "{id}: the `after` example is its end_cursor");
            checked.push(id.to_owned());
        }
    }
    checked.sort();
    assert_eq!(
        checked,
        [
            "listAuditLogs",
            "listCardTransactions",
            "listRuleExecutions",
            "listSandboxWebhookDeliveries",
            "listTransfers"
        ]
    );
}
