//! The code's own view of the API against the spec: `sequence_api::server::openapi()` (a utoipa
//! document the generator builds from the same model as the router and `OPERATIONS`) is
//! normalised together with the `openapi.yaml` the server ships, and the differences are an insta
//! snapshot that must stay empty. So editing the spec without regenerating fails here, with the
//! operation and field named, not only in the freshness check. A second test walks the real
//! axum router: any route mounted under the base path that the document lacks fails it.
//!
//! What is compared, per `METHOD path`: `operationId`, tags, parameters (name, `in`, `required`,
//! schema with its constraints),
//! the request body (`required`, its schema's component name) and every response (status and its
//! body's component name). Dropped on both sides because the code-side document does not carry
//! them: descriptions, summaries, examples, response headers, security requirements and `x-`
//! extensions (the route table snapshots in `contract.rs` cover scopes). And every component
//! schema with its constraints (types, formats, min/max, lengths, patterns, enums, nullable,
//! required, properties, items, `additionalProperties`), which the generated `ToSchema` impls
//! carry; descriptions, titles, examples and defaults are not generated (utoipa could carry them;
//! they are prose and samples, not the contract's constraints) and are dropped from the spec side.
//!
//! Normalisation: `$ref`s to `components/parameters|requestBodies|responses` are resolved, an
//! operation's body schema is reduced to its component name, and an `allOf` holding one `$ref`
//! counts as that `$ref` (3.0.3's way of putting siblings next to a reference); schemas are
//! brought to 3.0.3's spelling by [`canonical`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::harness::TestApp;
use sequence_api::server::{BASE_PATH, OPERATIONS, openapi};

fn spec() -> Value {
    serde_saphyr::from_str(sequence_server::docs::OPENAPI_YAML).expect("spec parses")
}

fn code_document() -> Value {
    serde_json::to_value(openapi()).expect("the code-side document serializes")
}

/// Follows a local `$ref` (`#/components/...`) until a non-reference value.
fn resolve<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    while let Some(Value::String(reference)) = value.get("$ref") {
        let pointer = reference.strip_prefix('#').expect("only local references");
        value = doc.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {reference}"));
    }
    value
}

/// A body schema as its component name; `allOf: [$ref]` counts as the `$ref`.
fn schema_name(schema: &Value) -> Value {
    if let Some(Value::String(reference)) = schema.get("$ref") {
        return json!(reference.rsplit('/').next());
    }
    if let Some(Value::Array(all)) = schema.get("allOf")
        && let [one] = all.as_slice()
    {
        return schema_name(one);
    }
    json!("<inline schema>")
}

fn json_body(doc: &Value, holder: &Value) -> Value {
    match resolve(doc, holder).pointer("/content/application~1json/schema") {
        Some(schema) => schema_name(schema),
        // Not `null`: a missing response must differ from one without a body.
        None => json!("<no body>"),
    }
}

/// Every operation of `doc` keyed by `METHOD path`, reduced to what both documents carry.
fn normalise(doc: &Value) -> BTreeMap<String, Value> {
    let mut operations = BTreeMap::new();
    let Some(paths) = doc["paths"].as_object() else { return operations };
    for (path, item) in paths {
        let item = resolve(doc, item);
        let shared = item.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
        for method in ["get", "put", "post", "delete", "options", "head", "patch", "trace"] {
            let Some(op) = item.get(method) else { continue };
            let mut params = BTreeMap::new();
            let own = op.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
            for param in shared.iter().chain(&own) {
                let param = resolve(doc, param);
                let name = param["name"].as_str().expect("parameter name");
                let location = param["in"].as_str().expect("parameter location");
                let required = param.get("required").and_then(Value::as_bool).unwrap_or(false);
                params.insert(
                    (location.to_owned(), name.to_lowercase()),
                    json!({
                        "name": name,
                        "in": location,
                        "required": required,
                        "schema": canonical(&param["schema"]),
                    }),
                );
            }
            let body = op.get("requestBody").map(|body| {
                json!({
                    "required": resolve(doc, body).get("required").and_then(Value::as_bool).unwrap_or(false),
                    "schema": json_body(doc, body),
                })
            });
            let responses: BTreeMap<String, Value> = op["responses"]
                .as_object()
                .map(|r| {
                    r.iter()
                        .map(|(status, response)| (status.clone(), json_body(doc, response)))
                        .collect()
                })
                .unwrap_or_default();
            operations.insert(
                format!("{} {path}", method.to_uppercase()),
                json!({
                    "operationId": op["operationId"],
                    "tags": op["tags"],
                    "parameters": params.into_values().collect::<Vec<_>>(),
                    "requestBody": body,
                    "responses": responses,
                }),
            );
        }
    }
    operations
}

/// One line per difference: an operation only one side has, or a field whose values differ.
fn differences(spec: &BTreeMap<String, Value>, code: &BTreeMap<String, Value>) -> Vec<String> {
    let keys: BTreeSet<&String> = spec.keys().chain(code.keys()).collect();
    let mut out = Vec::new();
    for key in keys {
        match (spec.get(key), code.get(key)) {
            (Some(_), None) => {
                out.push(format!("{key}: in openapi.yaml, not in the compiled code"))
            }
            (None, Some(_)) => {
                out.push(format!("{key}: in the compiled code, not in openapi.yaml"))
            }
            (Some(s), Some(c)) => schema_differences(s, c, &format!("{key} #"), &mut out),
            (None, None) => unreachable!("a key comes from one side"),
        }
    }
    out
}

/// A schema in one spelling: 3.0.3's. Drops what the code-side document does not carry
/// (descriptions, titles, examples, defaults, `x-` extensions), turns 3.1's `type: [T, "null"]`
/// into `type: T, nullable: true` and `oneOf: [{type: null}, S]` into `S` with `nullable: true`
/// (a bare `$ref` then wrapped in `allOf`, as 3.0.3 must), unwraps an `allOf` of one schema with
/// no siblings left, drops `nullable: false`, and compares every number as a float.
fn canonical(schema: &Value) -> Value {
    match schema {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Object(map) => {
            if let Some(Value::Array(one_of)) = map.get("oneOf")
                && let [null, inner] = one_of.as_slice()
                && *null == json!({"type": "null"})
            {
                let mut inner = canonical(inner);
                if inner.get("$ref").is_some() {
                    inner = json!({"allOf": [inner]});
                }
                inner["nullable"] = json!(true);
                return inner;
            }
            let mut out = serde_json::Map::new();
            for (key, value) in map {
                match key.as_str() {
                    "description" | "title" | "example" | "examples" | "default" => {}
                    k if k.starts_with("x-") => {}
                    "nullable" if *value == json!(false) => {}
                    "type" if value.is_array() => {
                        let types = value.as_array().unwrap();
                        let real: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
                        if let [one] = real.as_slice() {
                            out.insert(key.clone(), (*one).clone());
                        } else {
                            out.insert(key.clone(), json!(real));
                        }
                        if real.len() < types.len() {
                            out.insert("nullable".into(), json!(true));
                        }
                    }
                    "properties" => {
                        let properties = value.as_object().expect("properties is an object");
                        out.insert(
                            key.clone(),
                            properties.iter().map(|(k, v)| (k.clone(), canonical(v))).collect(),
                        );
                    }
                    _ => {
                        out.insert(key.clone(), canonical(value));
                    }
                }
            }
            if out.len() == 1
                && let Some(Value::Array(all)) = out.get("allOf")
                && let [one] = all.as_slice()
            {
                return one.clone();
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// The places (JSON pointers) where two canonical schemas differ.
fn schema_differences(spec: &Value, code: &Value, at: &str, out: &mut Vec<String>) {
    match (spec, code) {
        (Value::Object(s), Value::Object(c)) => {
            let keys: BTreeSet<&String> = s.keys().chain(c.keys()).collect();
            for key in keys {
                let (s, c) =
                    (s.get(key).unwrap_or(&Value::Null), c.get(key).unwrap_or(&Value::Null));
                schema_differences(s, c, &format!("{at}/{key}"), out);
            }
        }
        (Value::Array(s), Value::Array(c)) if s.len() == c.len() => {
            for (i, (s, c)) in s.iter().zip(c).enumerate() {
                schema_differences(s, c, &format!("{at}/{i}"), out);
            }
        }
        _ if spec != code => out.push(format!("{at}: openapi.yaml {spec} vs code {code}")),
        _ => {}
    }
}

/// Every component schema, canonical, and where the two documents' differ.
fn component_differences(spec: &Value, code: &Value) -> Vec<String> {
    let mut out = Vec::new();
    schema_differences(
        &canonical(&spec["components"]["schemas"]),
        &canonical(&code["components"]["schemas"]),
        "#/components/schemas",
        &mut out,
    );
    out
}

#[test]
fn the_compiled_code_describes_the_spec_operations() {
    let code = normalise(&code_document());
    assert_eq!(code.len(), OPERATIONS.len(), "one code-side operation per route-table row");
    let schemas = |doc: &Value| doc["components"]["schemas"].as_object().map_or(0, |s| s.len());
    assert!(schemas(&spec()) > 0);
    assert_eq!(schemas(&code_document()), schemas(&spec()), "one code-side schema per component");
    let mut found = differences(&normalise(&spec()), &code);
    found.extend(component_differences(&spec(), &code_document()));
    insta::assert_yaml_snapshot!("code_doc_differences", found);
}

#[test]
fn the_comparison_sees_a_changed_constraint() {
    // A constraint changed on the spec side only (what an edit without `cargo xtask codegen`
    // looks like) is named by its pointer.
    let mut spec = spec();
    let schemas = spec["components"]["schemas"].as_object_mut().unwrap();
    let (name, schema) = schemas
        .iter_mut()
        .find(|(_, s)| s.get("maxLength").is_some())
        .expect("a schema with maxLength");
    let name = name.clone();
    schema["maxLength"] = json!(schema["maxLength"].as_u64().unwrap() + 1);
    let found = component_differences(&spec, &code_document());
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with(&format!("#/components/schemas/{name}/maxLength: ")),
        "{found:#?}"
    );
}

#[test]
fn the_comparison_sees_a_changed_operation() {
    // The comparison itself must be able to fail: a spec whose first operation lost a
    // response and gained a parameter differs from the code in exactly those fields.
    let mut spec = spec();
    let first = &OPERATIONS[0];
    let op = &mut spec["paths"][first.path][first.method.to_lowercase()];
    op["responses"].as_object_mut().unwrap().remove(&first.success_status.to_string());
    op["parameters"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "extra", "in": "query", "schema": {"type": "string"}}));
    let found = differences(&normalise(&spec), &normalise(&code_document()));
    let key = format!("{} {}", first.method, first.path);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].starts_with(&format!("{key} #/parameters: ")), "{found:#?}");
    assert!(
        found[1].starts_with(&format!("{key} #/responses/{}: ", first.success_status)),
        "{found:#?}"
    );
}

/// The paths of every route `router` serves. axum has no route listing; its `Debug` output
/// names each route's path (`RouteId(n): "/path"`), nested routers included with their prefix.
fn mounted_paths(router: &axum::Router) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    let mut paths = BTreeSet::new();
    let mut rest = debug.as_str();
    while let Some(at) = rest.find("RouteId(") {
        rest = &rest[at..];
        let Some(open) = rest.find(": \"") else { break };
        let after = &rest[open + 3..];
        let close = after.find('"').expect("a closing quote");
        paths.insert(after[..close].to_owned());
        rest = &after[close..];
    }
    paths
}

fn undeclared_routes(routes: &BTreeSet<String>, document: &Value) -> Vec<String> {
    let paths = document["paths"].as_object().expect("paths");
    routes
        .iter()
        .filter(|r| *r == BASE_PATH || r.starts_with(&format!("{BASE_PATH}/")))
        .filter(|r| !paths.contains_key(&r[BASE_PATH.len()..]))
        .cloned()
        .collect()
}

#[tokio::test]
async fn every_route_under_the_base_path_is_in_the_code_document() {
    let app = TestApp::new().await;
    let routes = mounted_paths(&app.router());
    // The walk works: it finds the routes outside the API and every route-table path.
    assert!(routes.contains("/health"), "walking the router found {routes:?}");
    for op in OPERATIONS {
        assert!(routes.contains(&format!("{BASE_PATH}{}", op.path)), "{} is not mounted", op.path);
    }
    let document = code_document();
    assert_eq!(undeclared_routes(&routes, &document), Vec::<String>::new());

    // And it catches a route mounted under the base path that the document lacks.
    let extra =
        app.router().route(&format!("{BASE_PATH}/undeclared"), axum::routing::get(|| async { "" }));
    assert_eq!(
        undeclared_routes(&mounted_paths(&extra), &document),
        [format!("{BASE_PATH}/undeclared")]
    );
}
