//! `sequence-server keys schema`: the JSON Schema of the `--permissions` document (derived with
//! `schemars` in `sequence_core::permissions`), printed for editors and scripts without a
//! database. Its scopes, and the kind of resources each takes, must be exactly what the spec
//! declares (`x-scopes` of the `ApiKeyAuth` security scheme; the scope table of its description in
//! a spec from before `x-scopes`), and every operation's required scope (`x-required-scope`, or
//! the `**Scope:**` its description names) must be one of them: the key document and the API
//! cannot disagree on what a scope is called or what it limits.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

/// Runs `sequence-server keys schema` in an empty directory (so a stray database could not be
/// created unnoticed) and parses what it prints.
fn printed_schema() -> Value {
    let directory = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_sequence-server"))
        .args(["keys", "schema"])
        .env_remove("SEQUENCE_DATABASE_URL")
        .current_dir(directory.path())
        .output()
        .expect("running sequence-server keys schema");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let leftovers: Vec<_> = std::fs::read_dir(directory.path()).unwrap().collect();
    assert!(leftovers.is_empty(), "keys schema needs no database: {leftovers:?}");
    serde_json::from_slice(&output.stdout).expect("keys schema prints JSON")
}

fn spec() -> Value {
    serde_saphyr::from_str(sequence_server::docs::OPENAPI_YAML).expect("spec parses")
}

/// The spec's scopes and the kind of resources each takes (`none`, `ids`, `pairs`): its
/// machine-readable `x-scopes`, or, in a spec from before `x-scopes`, the scope table of the
/// `ApiKeyAuth` description (`| SCOPE | none / … IDs or * / list of { source, target, … } |`).
fn spec_scopes(spec: &Value) -> BTreeMap<String, String> {
    let scheme = &spec["components"]["securitySchemes"]["ApiKeyAuth"];
    if let Some(declared) = scheme["x-scopes"].as_array() {
        return declared
            .iter()
            .map(|entry| {
                let scope = entry["scope"].as_str().expect("x-scopes[].scope").to_owned();
                let resources =
                    entry["resources"].as_str().expect("x-scopes[].resources").to_owned();
                (scope, resources)
            })
            .collect();
    }
    let description = scheme["description"].as_str().expect("ApiKeyAuth has a description");
    let table: BTreeMap<String, String> = description
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (scope, resources) = (*cells.get(1)?, *cells.get(2)?);
            if scope.is_empty() || !scope.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                return None;
            }
            let kind = match resources {
                "none" => "none",
                r if r.ends_with("IDs or *") => "ids",
                r if r.starts_with("list of { source, target") => "pairs",
                other => panic!("{scope}: unknown resources {other:?} in the scope table"),
            };
            Some((scope.to_owned(), kind.to_owned()))
        })
        .collect();
    assert!(!table.is_empty(), "the ApiKeyAuth description has a scope table");
    table
}

/// Each operation's required scope: its `x-required-scope`, or, in a spec from before those
/// declarations, the scope its description names (`**Scope:** `NAME``).
fn required_scope(operation: &Value) -> Option<String> {
    if let Some(scope) = operation["x-required-scope"]["scope"].as_str() {
        return Some(scope.to_owned());
    }
    let description = operation["description"].as_str()?;
    let rest = &description[description.find("**Scope:** `")? + "**Scope:** `".len()..];
    Some(rest[..rest.find('`')?].to_owned())
}

/// The schema's scopes and the kind of resources it requires of each, read from the
/// `PermissionEntry` rules (`if scope in […] then resources …`).
fn schema_scopes(schema: &Value) -> BTreeMap<String, String> {
    let definitions = &schema["definitions"];
    let mut scopes = BTreeMap::new();
    for rule in definitions["PermissionEntry"]["allOf"].as_array().expect("per-scope rules") {
        let resources = &rule["then"]["properties"]["resources"];
        let kind = if resources["type"] == "null" {
            "none"
        } else if resources["$ref"].as_str().is_some_and(|r| r.ends_with("Ids")) {
            "ids"
        } else if resources["items"]["$ref"] == "#/definitions/TransferPair" {
            "pairs"
        } else {
            panic!("an unknown kind of resources: {resources}")
        };
        for scope in rule["if"]["properties"]["scope"]["enum"].as_array().expect("scopes") {
            let previous = scopes.insert(scope.as_str().unwrap().to_owned(), kind.to_owned());
            assert!(previous.is_none(), "{scope} has one rule");
        }
    }
    // The `Scope` definition (derived from the enum) names the same scopes.
    let mut named = Vec::new();
    collect_enum_values(&definitions["Scope"], &mut named);
    named.sort();
    assert_eq!(named, scopes.keys().cloned().collect::<Vec<_>>(), "every scope has a rule");
    scopes
}

fn collect_enum_values(schema: &Value, into: &mut Vec<String>) {
    if let Some(values) = schema["enum"].as_array() {
        into.extend(values.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    for key in ["oneOf", "anyOf"] {
        for branch in schema[key].as_array().into_iter().flatten() {
            collect_enum_values(branch, into);
        }
    }
}

#[test]
fn keys_schema_prints_the_permissions_schema_whose_scopes_are_the_specs() {
    let schema = printed_schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(schema["title"], "Sequence API-key permissions");
    assert_eq!(schema_scopes(&schema), spec_scopes(&spec()));
}

#[test]
fn every_required_scope_in_the_spec_is_one_the_keys_schema_allows() {
    let allowed = schema_scopes(&printed_schema());
    let spec = spec();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let scope = required_scope(operation)
                .unwrap_or_else(|| panic!("{method} {path} declares no scope"));
            assert!(allowed.contains_key(&scope), "{method} {path} requires unknown scope {scope}");
            checked += 1;
        }
    }
    assert_eq!(checked, sequence_api::server::OPERATIONS.len(), "every operation was checked");
}

/// The README's example and the keys `serve --demo` mints validate against what is printed, and
/// a typo does not.
#[test]
fn documents_validate_against_the_printed_schema() {
    let validator = jsonschema::draft7::new(&printed_schema()).expect("the schema compiles");
    let readme = serde_json::json!([
        {"scope": "LIST_ACCOUNTS"},
        {"scope": "READ_ACCOUNTS", "resources": ["*"]},
        {"scope": "MANUAL_TRANSFER", "resources": [{"source": "*", "target": "*", "max_amount": 50000}]}
    ]);
    assert!(validator.is_valid(&readme));
    let demo = sequence_core::permissions::Permissions::all_scopes().to_json();
    assert!(validator.is_valid(&serde_json::from_str(&demo).unwrap()));
    let typo = serde_json::json!([{"scope": "READ_ACCOUNTS", "resource": ["*"]}]);
    assert!(!validator.is_valid(&typo));
}

/// The prose a reader sees (the description's scope table, each operation's `**Scope:**`) says
/// what the declarations (`x-scopes`, `x-required-scope`) say; this also tests the fallbacks
/// above on the current spec.
#[test]
fn the_scope_prose_agrees_with_the_declarations() {
    let spec = spec();
    let mut prose = spec.clone();
    prose["components"]["securitySchemes"]["ApiKeyAuth"]
        .as_object_mut()
        .unwrap()
        .remove("x-scopes");
    for item in prose["paths"].as_object_mut().unwrap().values_mut() {
        for operation in item.as_object_mut().unwrap().values_mut() {
            operation.as_object_mut().unwrap().remove("x-required-scope");
        }
    }
    assert_eq!(spec_scopes(&prose), spec_scopes(&spec), "the scope table");
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            assert_eq!(
                required_scope(&prose["paths"][path][method]),
                required_scope(operation),
                "{method} {path}: its **Scope:** line"
            );
        }
    }
}
