//! Every response the API tests see is checked against `openapi.yaml`: its status must be one the
//! operation declares, its body must validate against that response's schema, and every header
//! the response declares as required (`X-Request-ID`) must be present and valid. A mismatch fails
//! the test that caused it, naming the operation, the status and the JSON pointer of the
//! violation.
//!
//! Why: the freshness check proves the generated code matches the spec, not that the server does
//! what the spec says. A wrong id prefix, a field outside its schema or a missing header would
//! otherwise pass every behavioural test (only schemathesis, sampling in CI, could see it).
//!
//! Where it runs:
//! - in-process requests: [`crate::harness::send_to`] (and so every `TestApp` helper) checks each
//!   response in the test's own task and panics there;
//! - routers served on a socket: [`checked`] wraps the router in a middleware that records
//!   violations, and the test (or its guard) calls [`Violations::assert_none`];
//! - the real binary: [`proxy`] puts a checking reverse proxy in front of it.
//!
//! How: the request is matched to its operation by method and path template with `matchit` (the
//! matcher axum's router uses) over the generated route table (`sequence_api::server::OPERATIONS`).
//! The spec's component schemas are translated from OpenAPI 3.0.3 to JSON Schema 2020-12 and
//! compiled once with the `jsonschema` crate:
//! - `$ref: '#/components/schemas/X'` → `#/$defs/X` (siblings of `$ref` are ignored, as 3.0 says);
//! - `nullable: true` → `null` added to `type` (and to `enum`), or `anyOf [schema, null]` around
//!   an `allOf` wrapper;
//! - `format: int32` / `int64` → the type's bounds; `date-time` and `date` are validated, other
//!   formats are annotations;
//! - annotations (`description`, `example`, `x-…`, …) are dropped; any other keyword this module
//!   does not know stops the suite, so a new construct in the spec is translated deliberately;
//! - **objects are closed**: an object schema with `properties` and no `additionalProperties`
//!   gets `additionalProperties: false`, as the generated request validators treat it. The server
//!   must not send fields the spec does not describe.
//!
//! Responses outside `/api/v1` (docs, health) are skipped. Answers that come from the transport
//! rather than an operation (unknown route `404`, `405`, `408`: the spec's decision 22 declares
//! them nowhere per operation) must still be the error envelope with `X-Request-ID`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, LazyLock, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use jsonschema::Validator;
use sequence_api::runtime::OperationInfo;
use sequence_api::server::{BASE_PATH, OPERATIONS};
use serde_json::{Map, Value, json};

/// The spec, indexed for checking; built once per test binary.
static SPEC: LazyLock<SpecIndex> = LazyLock::new(|| {
    let spec: Value =
        serde_saphyr::from_str(sequence_server::docs::OPENAPI_YAML).expect("openapi.yaml parses");
    SpecIndex::new(&spec)
});

/// Checks one response. `Ok` when it matches the spec or lies outside `/api/v1`; otherwise the
/// violations, one per line, naming the operation, the status and where the violation is.
pub fn check(
    method: &str,
    path: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    SPEC.check(method, path, status, headers, body)
}

/// Panics with the violations if the response does not match the spec (for in-process requests:
/// the panic is in the test's own task).
#[track_caller]
pub fn assert_matches_spec(
    method: &str,
    path: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) {
    if let Err(violations) = check(method, path, status, headers, body) {
        panic!("{violations}");
    }
}

/// Checks a webhook request the server sent for `event` (`transfer.created`, …) against its
/// `x-webhooks` entry: the required headers and the body schema (closed objects, as for
/// responses).
pub fn check_webhook(event: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let Some(spec) = SPEC.webhooks.get(event) else {
        return Err(format!("x-webhooks declares no `{event}`"));
    };
    let violations = spec.violations(headers, body);
    if violations.is_empty() {
        return Ok(());
    }
    let mut message = format!("webhook does not match openapi.yaml's x-webhooks `{event}`:");
    for violation in violations {
        let _ = write!(message, "\n  - {violation}");
    }
    let _ = write!(message, "\n  body: {}", excerpt(body));
    Err(message)
}

/// One operation's declared responses.
struct Operation {
    info: &'static OperationInfo,
    responses: BTreeMap<u16, ResponseSpec>,
}

/// One declared response: its required headers and, if it has content, its body schema.
#[derive(Clone)]
struct ResponseSpec {
    headers: Vec<HeaderSpec>,
    /// `None`: the response has no content (`204`), so the body must be empty.
    body: Option<Arc<Validator>>,
}

#[derive(Clone)]
struct HeaderSpec {
    name: String,
    required: bool,
    /// The schema is an integer's: the value must be decimal digits.
    integer: bool,
    schema: Arc<Validator>,
}

struct SpecIndex {
    /// Path template (relative to the base path) → method → operation.
    routes: matchit::Router<BTreeMap<&'static str, Operation>>,
    /// What a transport answer (unknown route, 405, 408) must look like: the error envelope.
    transport: ResponseSpec,
    /// The requests the server sends as webhooks (`x-webhooks`), by event name: the required
    /// headers and the body schema.
    webhooks: BTreeMap<String, ResponseSpec>,
}

/// What a response is checked against.
enum Expected<'a> {
    /// An operation's declared responses.
    Operation(&'a Operation),
    /// No operation matched: the router answers `status` itself.
    Transport { status: u16, why: &'static str },
}

impl SpecIndex {
    fn new(spec: &Value) -> SpecIndex {
        let mut compiler = Compiler::new(spec);
        let mut by_template: BTreeMap<&'static str, BTreeMap<&'static str, Operation>> =
            BTreeMap::new();
        for info in OPERATIONS.iter() {
            let item = &spec["paths"][info.path][info.method.to_ascii_lowercase()];
            assert!(
                item.is_object(),
                "the route table's {} {} ({}) is not in openapi.yaml",
                info.method,
                info.path,
                info.operation_id
            );
            let responses = item["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{} declares no responses", info.operation_id))
                .iter()
                .map(|(status, response)| {
                    let status: u16 = status.parse().unwrap_or_else(|_| {
                        panic!("{}: response key {status:?} is not a status", info.operation_id)
                    });
                    (status, compiler.response(response))
                })
                .collect();
            by_template
                .entry(info.path)
                .or_default()
                .insert(info.method, Operation { info, responses });
        }
        let mut routes = matchit::Router::new();
        for (template, methods) in by_template {
            routes.insert(template, methods).expect("the route table's templates are distinct");
        }
        let transport = ResponseSpec {
            headers: vec![
                compiler
                    .header("X-Request-ID", &json!({"$ref": "#/components/headers/XRequestId"})),
            ],
            body: Some(compiler.schema(&json!({"$ref": "#/components/schemas/ErrorResponse"}))),
        };
        let webhooks = spec["x-webhooks"]
            .as_object()
            .expect("x-webhooks")
            .values()
            .map(|item| {
                let post = &item["post"];
                let json = &post["requestBody"]["content"]["application/json"]["schema"];
                // Indexed by the event type the body's one-value `event` enum names.
                let envelope = compiler.resolve(json);
                let event = envelope["properties"]["event"]["enum"][0]
                    .as_str()
                    .expect("each webhook body names its event")
                    .to_owned();
                let headers = post["parameters"]
                    .as_array()
                    .expect("the webhook headers")
                    .iter()
                    .map(|p| {
                        assert_eq!(p["in"], "header", "{event}: webhook parameters are headers");
                        compiler.header(p["name"].as_str().expect("a name"), p)
                    })
                    .collect();
                (event, ResponseSpec { headers, body: Some(compiler.schema(json)) })
            })
            .collect();
        SpecIndex { routes, transport, webhooks }
    }

    fn check(
        &self,
        method: &str,
        path: &str,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), String> {
        let Some(relative) = path.strip_prefix(BASE_PATH) else { return Ok(()) };
        if !(relative.is_empty() || relative.starts_with('/')) {
            return Ok(());
        }
        let expected = match self.routes.at(relative) {
            Ok(matched) => match matched.value.get(method) {
                Some(operation) => Expected::Operation(operation),
                None => {
                    Expected::Transport { status: 405, why: "the path exists with other methods" }
                }
            },
            Err(_) => Expected::Transport { status: 404, why: "no operation has this path" },
        };
        let status_code = status.as_u16();
        let (name, response) = match &expected {
            Expected::Operation(operation) => {
                let info = operation.info;
                let name = format!("`{}` ({} {})", info.operation_id, info.method, info.path);
                match operation.responses.get(&status_code) {
                    Some(response) => (name, response),
                    // 408 comes from the timeout layer, for any operation (decision 22).
                    None if status_code == 408 => (name, &self.transport),
                    None => {
                        let declared: Vec<_> = operation.responses.keys().collect();
                        return Err(format!(
                            "response does not match openapi.yaml: {name} answered {status_code}, \
                             which it does not declare (declared: {declared:?})\n  body: {}",
                            excerpt(body)
                        ));
                    }
                }
            }
            Expected::Transport { status: expected_status, why } => {
                let name = format!("{method} {path} ({why})");
                if status_code != *expected_status && status_code != 408 {
                    return Err(format!(
                        "response does not match openapi.yaml: {name} answered {status_code}; \
                         outside any operation only {expected_status} (or 408) is possible\n  \
                         body: {}",
                        excerpt(body)
                    ));
                }
                (name, &self.transport)
            }
        };
        let violations = response.violations(headers, body);
        if violations.is_empty() {
            return Ok(());
        }
        let mut message =
            format!("response does not match openapi.yaml: {name} answered {status_code}:");
        for violation in violations {
            let _ = write!(message, "\n  - {violation}");
        }
        let _ = write!(message, "\n  body: {}", excerpt(body));
        Err(message)
    }
}

impl ResponseSpec {
    fn violations(&self, headers: &HeaderMap, body: &[u8]) -> Vec<String> {
        let mut found = Vec::new();
        for spec in &self.headers {
            match headers.get(spec.name.as_str()) {
                None if spec.required => {
                    found.push(format!("header `{}` is required but missing", spec.name))
                }
                None => {}
                Some(value) => match value.to_str() {
                    Err(_) => found.push(format!("header `{}` is not visible ASCII", spec.name)),
                    Ok(text) => {
                        // `style: simple`: an integer header is its decimal digits, nothing else.
                        let instance = match spec.integer {
                            true => text
                                .parse::<i64>()
                                .ok()
                                .filter(|n| n.to_string() == text)
                                .map_or_else(|| Value::String(text.to_owned()), Value::from),
                            false => Value::String(text.to_owned()),
                        };
                        for error in spec.schema.iter_errors(&instance) {
                            found.push(format!("header `{}`: {error}", spec.name));
                        }
                    }
                },
            }
        }
        match &self.body {
            None if body.is_empty() => {}
            None => found.push("the response declares no content, but it has a body".to_owned()),
            Some(schema) => {
                let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
                if !content_type.is_some_and(|v| v.starts_with("application/json")) {
                    found.push(format!(
                        "Content-Type is {content_type:?}, the response declares application/json"
                    ));
                }
                match serde_json::from_slice::<Value>(body) {
                    Err(error) => found.push(format!("the body is not JSON: {error}")),
                    Ok(instance) => {
                        for error in schema.iter_errors(&instance) {
                            found.push(format!(
                                "body at `{}` (schema `{}`): {error}",
                                pointer(&error.instance_path().to_string()),
                                error.schema_path()
                            ));
                        }
                    }
                }
            }
        }
        found
    }
}

/// A JSON pointer for messages: the root is `/`, not the empty string.
fn pointer(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

/// The body, shortened for a failure message.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(2_000) {
        Some((end, _)) => format!("{}… ({} bytes)", &text[..end], body.len()),
        None => text.into_owned(),
    }
}

/// Compiles the spec's response schemas, once per distinct schema.
struct Compiler<'a> {
    spec: &'a Value,
    /// `components.schemas`, translated: the `$defs` of every compiled schema.
    defs: Value,
    cache: BTreeMap<String, Arc<Validator>>,
}

impl<'a> Compiler<'a> {
    fn new(spec: &'a Value) -> Compiler<'a> {
        let schemas = spec["components"]["schemas"].as_object().expect("components.schemas");
        let defs = schemas
            .iter()
            .map(|(name, schema)| {
                (name.clone(), translate(schema, &format!("#/components/schemas/{name}")))
            })
            .collect::<Map<_, _>>();
        Compiler { spec, defs: Value::Object(defs), cache: BTreeMap::new() }
    }

    /// Follows a `$ref` into `components` (responses, headers).
    fn resolve<'v>(&self, value: &'v Value) -> &'v Value
    where
        'a: 'v,
    {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let pointer = reference.strip_prefix('#').expect("only local references");
                self.spec.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {reference}"))
            }
            None => value,
        }
    }

    fn response(&mut self, response: &Value) -> ResponseSpec {
        let response = self.resolve(response);
        let headers = response["headers"]
            .as_object()
            .map(|headers| headers.iter().map(|(name, h)| self.header(name, h)).collect())
            .unwrap_or_default();
        let body = match response.get("content") {
            None => None,
            Some(content) => {
                let json = &content["application/json"];
                assert!(
                    json.is_object() && content.as_object().is_some_and(|c| c.len() == 1),
                    "only application/json content is supported, got {content}"
                );
                Some(self.schema(&json["schema"]))
            }
        };
        ResponseSpec { headers, body }
    }

    fn header(&mut self, name: &str, header: &Value) -> HeaderSpec {
        let header = self.resolve(header);
        HeaderSpec {
            name: name.to_ascii_lowercase(),
            required: header["required"].as_bool().unwrap_or(false),
            integer: header["schema"]["type"] == "integer",
            schema: self.schema(&header["schema"]),
        }
    }

    fn schema(&mut self, schema: &Value) -> Arc<Validator> {
        let translated = translate(schema, "response");
        let key = translated.to_string();
        if let Some(validator) = self.cache.get(&key) {
            return validator.clone();
        }
        let mut root = match translated {
            Value::Object(map) => map,
            other => panic!("a schema must be an object, got {other}"),
        };
        root.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
        root.insert("$defs".into(), self.defs.clone());
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .should_ignore_unknown_formats(true)
            .build(&Value::Object(root))
            .unwrap_or_else(|error| panic!("schema {key} does not compile: {error}"));
        let validator = Arc::new(validator);
        self.cache.insert(key, validator.clone());
        validator
    }
}

/// JSON Schema keywords that mean the same in OpenAPI 3.0.3 and are carried over as they are.
const KEPT: &[&str] = &[
    "type",
    "enum",
    "format",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "required",
];

/// OpenAPI annotations with no effect on validation.
const DROPPED: &[&str] =
    &["description", "example", "title", "default", "deprecated", "externalDocs"];

/// One OpenAPI 3.0.3 schema object as a JSON Schema 2020-12 schema (see the module docs). `at` is
/// where the schema is, for the panic on a keyword this module does not know.
fn translate(schema: &Value, at: &str) -> Value {
    let Some(object) = schema.as_object() else {
        panic!("{at}: a schema must be an object, got {schema}");
    };
    if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{at}: unsupported $ref {reference}"));
        return json!({"$ref": format!("#/$defs/{name}")});
    }
    let mut out = Map::new();
    for (key, value) in object {
        let here = format!("{at}/{key}");
        match key.as_str() {
            k if KEPT.contains(&k) => {
                out.insert(key.clone(), value.clone());
            }
            k if DROPPED.contains(&k) || k.starts_with("x-") || k == "nullable" => {}
            "properties" => {
                let properties = value.as_object().expect("properties is an object");
                let translated = properties
                    .iter()
                    .map(|(name, s)| (name.clone(), translate(s, &format!("{here}/{name}"))))
                    .collect();
                out.insert(key.clone(), Value::Object(translated));
            }
            "items" | "not" => {
                out.insert(key.clone(), translate(value, &here));
            }
            "additionalProperties" => {
                let translated = match value {
                    Value::Bool(_) => value.clone(),
                    _ => translate(value, &here),
                };
                out.insert(key.clone(), translated);
            }
            "allOf" | "oneOf" | "anyOf" => {
                let branches = value.as_array().expect("a list of schemas");
                let translated = branches
                    .iter()
                    .enumerate()
                    .map(|(i, s)| translate(s, &format!("{here}/{i}")))
                    .collect();
                out.insert(key.clone(), Value::Array(translated));
            }
            "exclusiveMinimum" | "exclusiveMaximum" => {
                // 3.0: a boolean modifying `minimum`/`maximum`; 2020-12: the bound itself.
                let bound = if key == "exclusiveMinimum" { "minimum" } else { "maximum" };
                if value == &Value::Bool(true) {
                    let limit = object
                        .get(bound)
                        .unwrap_or_else(|| panic!("{here}: exclusive without `{bound}`"));
                    out.insert(key.clone(), limit.clone());
                }
            }
            other => panic!(
                "{here}: spec_check does not know the schema keyword `{other}`; teach \
                 `translate` what it means before the spec uses it"
            ),
        }
    }
    if out.contains_key("exclusiveMinimum") {
        out.remove("minimum");
    }
    if out.contains_key("exclusiveMaximum") {
        out.remove("maximum");
    }
    // Integer formats are bounds; the other formats only apply to strings.
    let bounds = match out.get("format").and_then(Value::as_str) {
        Some("int32") => Some((json!(i32::MIN), json!(i32::MAX))),
        Some("int64") => Some((json!(i64::MIN), json!(i64::MAX))),
        _ => None,
    };
    if let Some((min, max)) = bounds {
        out.remove("format");
        if !out.contains_key("minimum") && !out.contains_key("exclusiveMinimum") {
            out.insert("minimum".into(), min);
        }
        if !out.contains_key("maximum") && !out.contains_key("exclusiveMaximum") {
            out.insert("maximum".into(), max);
        }
    }
    // Closed objects: the server sends only what the spec describes.
    if out.get("type") == Some(&json!("object"))
        && out.contains_key("properties")
        && !out.contains_key("additionalProperties")
    {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    if object.get("nullable") == Some(&Value::Bool(true)) {
        return nullable(out);
    }
    Value::Object(out)
}

/// `schema` or `null`.
fn nullable(mut schema: Map<String, Value>) -> Value {
    let composed = ["allOf", "oneOf", "anyOf", "not"].iter().any(|k| schema.contains_key(*k));
    match schema.get("type").cloned() {
        Some(Value::String(single)) if !composed => {
            schema.insert("type".into(), json!([single, "null"]));
            if let Some(Value::Array(values)) = schema.get_mut("enum")
                && !values.contains(&Value::Null)
            {
                values.push(Value::Null);
            }
            Value::Object(schema)
        }
        _ => json!({"anyOf": [Value::Object(schema), {"type": "null"}]}),
    }
}

/// Violations recorded by a [`checked`] router, for tests that serve it on a socket (where a
/// panic in the connection task would not reach the test).
#[derive(Clone, Default)]
pub struct Violations(Arc<Mutex<Vec<String>>>);

impl Violations {
    fn record(&self, violation: String) {
        eprintln!("{violation}");
        self.0.lock().expect("not poisoned").push(violation);
    }

    /// Panics with every violation recorded so far.
    #[track_caller]
    pub fn assert_none(&self) {
        let violations = std::mem::take(&mut *self.0.lock().expect("not poisoned"));
        if !violations.is_empty() {
            panic!(
                "{} response(s) did not match openapi.yaml:\n{}",
                violations.len(),
                violations.join("\n")
            );
        }
    }
}

/// `router` with every response checked against the spec; violations go to the returned
/// [`Violations`].
pub fn checked(router: Router) -> (Router, Violations) {
    let violations = Violations::default();
    let router =
        router.layer(axum::middleware::from_fn_with_state(violations.clone(), check_middleware));
    (router, violations)
}

async fn check_middleware(
    State(violations): State<Violations>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("the response body");
    if let Err(violation) = check(&method, &path, parts.status, &parts.headers, &bytes) {
        violations.record(violation);
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A checking reverse proxy in front of a server running elsewhere (the real binary).
pub struct Proxy {
    /// The proxy's origin, `http://127.0.0.1:PORT`: use it instead of the upstream's.
    pub origin: String,
    /// What the proxy saw that did not match the spec.
    pub violations: Violations,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a [`Proxy`] forwarding every request to `upstream` (an origin, `http://host:port`).
pub async fn proxy(upstream: &str) -> Proxy {
    let client = reqwest::Client::new();
    let upstream = upstream.trim_end_matches('/').to_owned();
    let forwarder = Router::new().fallback(move |request: Request| {
        let (client, upstream) = (client.clone(), upstream.clone());
        async move { forward(&client, &upstream, request).await }
    });
    let (router, violations) = checked(forwarder);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a free port");
    let origin = format!("http://{}", listener.local_addr().expect("local address"));
    let task = tokio::spawn(async move { axum::serve(listener, router).await });
    Proxy { origin, violations, task }
}

async fn forward(client: &reqwest::Client, upstream: &str, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.expect("the request body");
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut outgoing = client.request(parts.method, format!("{upstream}{target}")).body(body);
    for (name, value) in &parts.headers {
        // reqwest sets these for the upstream connection itself.
        if name != header::HOST && name != header::CONTENT_LENGTH {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = outgoing.send().await.expect("the upstream server answers");
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != header::TRANSFER_ENCODING && name != header::CONNECTION {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.expect("the upstream body");
    response.body(Body::from(bytes)).expect("a response")
}

/// The checker itself: each kind of mismatch is caught and named.
mod tests {
    use axum::http::HeaderValue;
    use serde_json::json;

    use super::*;

    fn headers(request_id: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(id) = request_id {
            headers.insert("x-request-id", HeaderValue::from_str(id).unwrap());
        }
        headers
    }

    fn account() -> Value {
        json!({
            "request_id": "req_1",
            "data": {
                "id": "acc_01HGHI7890", "name": "Emergency Fund", "type": "pod",
                "description": null, "external_account_type": null,
                "beneficiary_name": "Test Org", "institution_name": null,
                "can_be_source": true, "can_be_destination": true,
                "routing_number": null, "bank_account_number": null,
                "balance": {
                    "balance_in_cents": 0, "available_balance_in_cents": 0,
                    "last_statement_balance_in_cents": null, "next_payment_minimum_in_cents": null,
                    "next_payment_due_date": null,
                    "balance_last_updated_at": "2024-01-20T11:00:00Z"
                },
                "created_at": "2024-01-20T11:00:00Z", "updated_at": "2024-01-20T11:00:00Z"
            }
        })
    }

    fn get_account(status: u16, request_id: Option<&str>, body: &Value) -> Result<(), String> {
        check(
            "GET",
            "/api/v1/accounts/acc_01HGHI7890",
            StatusCode::from_u16(status).unwrap(),
            &headers(request_id),
            body.to_string().as_bytes(),
        )
    }

    #[test]
    fn a_response_as_declared_passes() {
        get_account(200, Some("req_1"), &account()).unwrap();
    }

    #[test]
    fn a_body_that_breaks_its_schema_is_named_by_operation_status_and_pointer() {
        let mut body = account();
        body["data"]["balance"]["balance_in_cents"] = json!("12");
        body["data"]["type"] = json!("checking");
        let error = get_account(200, Some("req_1"), &body).unwrap_err();
        assert!(error.contains("`getAccount` (GET /accounts/{id}) answered 200"), "{error}");
        assert!(error.contains("body at `/data/balance/balance_in_cents`"), "{error}");
        assert!(error.contains("body at `/data/type`"), "{error}");
    }

    #[test]
    fn a_field_outside_the_schema_is_a_violation() {
        let mut body = account();
        body["data"]["balance"]["overdraft_in_cents"] = json!(5);
        let error = get_account(200, Some("req_1"), &body).unwrap_err();
        assert!(error.contains("body at `/data/balance`"), "{error}");
        assert!(error.contains("overdraft_in_cents"), "{error}");
    }

    #[test]
    fn null_where_the_schema_is_not_nullable_is_a_violation() {
        let mut body = account();
        body["data"]["name"] = Value::Null;
        let error = get_account(200, Some("req_1"), &body).unwrap_err();
        assert!(error.contains("body at `/data/name`"), "{error}");
    }

    /// The spec's `pattern`s (decision 23) make the validator see what `type: string` cannot: an
    /// id of the wrong kind, an account number sent unmasked. A minted id and a masked number
    /// pass.
    #[test]
    fn a_wrong_id_prefix_and_an_unmasked_number_are_violations() {
        let mut body = account();
        body["data"]["id"] = json!(sequence_core::ids::AccountId::generate().as_str());
        body["data"]["routing_number"] = json!("••••0021");
        body["data"]["bank_account_number"] = json!("••••6789");
        get_account(200, Some("req_1"), &body).unwrap();

        let mut wrong_prefix = body.clone();
        wrong_prefix["data"]["id"] = json!(sequence_core::ids::TransferId::generate().as_str());
        let error = get_account(200, Some("req_1"), &wrong_prefix).unwrap_err();
        assert!(error.contains("body at `/data/id`"), "{error}");
        assert!(error.contains("^acc_"), "{error}");

        let mut unmasked = body;
        unmasked["data"]["routing_number"] = json!("021000021");
        unmasked["data"]["bank_account_number"] = json!("000123456789");
        let error = get_account(200, Some("req_1"), &unmasked).unwrap_err();
        assert!(error.contains("body at `/data/routing_number`"), "{error}");
        assert!(error.contains("body at `/data/bank_account_number`"), "{error}");
    }

    #[test]
    fn an_undeclared_status_is_a_violation() {
        let body =
            json!({"error": {"code": "account_not_empty", "message": "x"}, "request_id": "r"});
        let error = get_account(409, Some("r"), &body).unwrap_err();
        assert!(error.contains("`getAccount` (GET /accounts/{id}) answered 409"), "{error}");
        assert!(error.contains("does not declare"), "{error}");
    }

    #[test]
    fn a_missing_declared_header_is_a_violation() {
        let error = get_account(200, None, &account()).unwrap_err();
        assert!(error.contains("header `x-request-id` is required but missing"), "{error}");
    }

    #[test]
    fn a_body_on_a_response_without_content_is_a_violation() {
        let error = check(
            "DELETE",
            "/api/v1/accounts/acc_1",
            StatusCode::NO_CONTENT,
            &headers(Some("r")),
            b"{}",
        )
        .unwrap_err();
        assert!(error.contains("`deleteAccount`"), "{error}");
        assert!(error.contains("declares no content"), "{error}");
    }

    #[test]
    fn transport_answers_are_the_error_envelope_and_other_paths_are_skipped() {
        let envelope = json!({"error": {"code": "not_found", "message": "x"}, "request_id": "r"});
        let body = envelope.to_string();
        check("GET", "/api/v1/nope", StatusCode::NOT_FOUND, &headers(Some("r")), body.as_bytes())
            .unwrap();
        check(
            "PATCH",
            "/api/v1/accounts",
            StatusCode::METHOD_NOT_ALLOWED,
            &headers(Some("r")),
            body.as_bytes(),
        )
        .unwrap();
        let error =
            check("GET", "/api/v1/nope", StatusCode::OK, &headers(Some("r")), b"[]").unwrap_err();
        assert!(error.contains("only 404"), "{error}");
        check("GET", "/health", StatusCode::OK, &HeaderMap::new(), b"anything").unwrap();
        check("GET", "/docs/", StatusCode::OK, &HeaderMap::new(), b"<html>").unwrap();
    }

    /// The whole in-process path: a handler answering a body that breaks its schema fails the
    /// test that sent the request, in that test's task.
    #[tokio::test]
    async fn send_to_fails_the_test_that_got_a_mismatching_response() {
        let broken = Router::new().route(
            "/api/v1/accounts/{id}",
            axum::routing::get(|| async {
                let mut body = account();
                body["data"]["id"] = json!(42);
                ([("x-request-id", "req_1")], axum::Json(body))
            }),
        );
        let request = crate::harness::request("GET", "/api/v1/accounts/acc_1", None, None, &[]);
        let outcome = tokio::spawn(crate::harness::send_to(broken, request)).await;
        let panic = outcome.expect_err("the mismatch fails the task").into_panic();
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        assert!(message.contains("`getAccount`"), "{message}");
        assert!(message.contains("body at `/data/id`"), "{message}");
    }

    /// The served path: the middleware records the mismatch for `assert_none`.
    #[tokio::test]
    async fn a_checked_router_records_what_it_serves_wrongly() {
        let broken = Router::new().route(
            "/api/v1/accounts",
            axum::routing::get(|| async {
                ([("x-request-id", "req_1")], axum::Json(json!({"data": []})))
            }),
        );
        let (router, violations) = checked(broken);
        let request = crate::harness::request("GET", "/api/v1/accounts", None, None, &[]);
        let response = tower::ServiceExt::oneshot(router, request).await.unwrap();
        assert_eq!(response.status(), 200);
        let recorded = violations.0.lock().unwrap().clone();
        assert_eq!(recorded.len(), 1, "{recorded:?}");
        assert!(recorded[0].contains("`listAccounts`"), "{}", recorded[0]);
        assert!(recorded[0].contains("request_id"), "{}", recorded[0]);
        violations.0.lock().unwrap().clear();
        violations.assert_none();
    }
}
