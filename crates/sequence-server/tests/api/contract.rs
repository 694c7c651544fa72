//! Drift between the spec and the code: the generated route table must serve exactly the spec's
//! operations, and the error catalogue is snapshotted so a change to either shows in review.

use std::collections::BTreeSet;

use sequence_api::runtime::OperationInfo;
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
        .map(|OperationInfo { operation_id, method, path, tag, success_status, error_statuses, secured }| {
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
