//! Hand-written support for the generated server code: request context, input parsing and the
//! error values the generated router answers with.
//!
//! Everything here is spec-agnostic; what is specific to the spec (parameter names, schemas, the
//! error catalogue) is generated into [`crate::server`].

use std::borrow::Cow;
use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::RawPathParams;
use axum::extract::rejection::{BytesRejection, RawPathParamsRejection};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use serde_json::{Map, Value};

/// What every operation receives besides its parameters.
#[derive(Debug, Clone)]
pub struct RequestContext<P> {
    /// The request id, echoed in the `X-Request-ID` header and the `request_id` body field.
    pub request_id: String,
    /// Who is calling, as resolved by the security hook (`()` for unsecured operations), and
    /// already authorized for the operation's declared scope.
    pub principal: P,
    /// The operation being served: its row of the generated route table (method, path template,
    /// `operationId`, required scope). Handlers derive idempotency fingerprints and log fields
    /// from it instead of retyping them.
    pub operation: &'static OperationInfo,
    /// The request's path relative to the base path, with the percent-decoded path parameters
    /// substituted into [`OperationInfo::path`] (`/rules/rule_01…`): the same string for the same
    /// resource however the client encoded it.
    pub path: String,
    /// The request's extensions: what the server's middleware attached to the request before
    /// the generated router ran (e.g. the server's per-call audit context), for the server's own
    /// use. Generated code never reads it beyond [`RequestId`].
    pub extensions: Extensions,
}

/// [`OperationInfo::path`] with each `{name}` replaced by the decoded path parameter `name`.
pub fn concrete_path(template: &str, params: &PathParams) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else { break };
        let name = &rest[open + 1..open + close];
        out.push_str(params.get(name).unwrap_or_default());
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// The request id chosen for a request, stored in its extensions by the server's request-id
/// middleware. It is the client's `X-Request-ID` when that is acceptable, otherwise a fresh one.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The request id of a request: the [`RequestId`] extension, else a fresh `req_<ULID>`.
pub fn request_id(extensions: &Extensions, _headers: &HeaderMap) -> String {
    match extensions.get::<RequestId>() {
        Some(RequestId(id)) => id.clone(),
        None => format!("req_{}", ulid::Ulid::new()),
    }
}

/// An error answered with the spec's error envelope: status, catalogue code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// HTTP status.
    pub status: StatusCode,
    /// Catalogue code (`error.code`).
    pub code: &'static str,
    /// Human-readable message (`error.message`).
    pub message: String,
}

/// Implemented by every generated response enum: maps an error status to its declared variant,
/// or gives the body back when the operation does not declare that status.
pub trait FromError<E>: Sized {
    /// The variant for `status`, or `Err(body)` if the spec does not declare it.
    fn from_error(status: StatusCode, body: E) -> Result<Self, E>;
}

/// Implemented by every generated response enum so that idempotent replays can store a success
/// response and later rebuild it. Serializing the rebuilt value yields the stored bytes again
/// (serde_json's output is deterministic for a given value), so replays are byte for byte.
pub trait Replayable: Sized {
    /// The status and JSON body of a success response (`None` for error responses).
    fn success_json(&self) -> Option<(StatusCode, String)>;
    /// Rebuilds a success response from what [`Replayable::success_json`] produced.
    fn from_success_json(status: StatusCode, body: &str) -> Option<Self>;
}

/// One row of the generated route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationInfo {
    /// `operationId`.
    pub operation_id: &'static str,
    /// Upper-case HTTP method.
    pub method: &'static str,
    /// Path template relative to the base path.
    pub path: &'static str,
    /// The operation's tag (its trait).
    pub tag: &'static str,
    /// The success status.
    pub success_status: u16,
    /// Declared error statuses.
    pub error_statuses: &'static [u16],
    /// Whether the operation requires authentication.
    pub secured: bool,
    /// `x-required-scope`: the scope the generated router checks before the operation runs, and
    /// where its resource comes from. `None` only for unsecured operations.
    pub required_scope: Option<RequiredScope>,
    /// `x-not-implemented: true`: the operation's trait method answers `501` by default.
    pub not_implemented: bool,
    /// The component schema of the request body, if the operation takes one.
    pub request_body: Option<&'static str>,
}

/// An operation's `x-required-scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequiredScope {
    /// The scope's name (one of the generated `Scope` catalogue).
    pub scope: &'static str,
    /// Where the id the scope's resources are matched against comes from.
    pub resource: ResourceSource,
}

/// What kind of `resources` a scope takes (`x-scopes[].resources`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeResources {
    /// None: holding the scope is the whole check.
    None,
    /// A list of ids, or `*`.
    Ids,
    /// `{source, target, max_amount?}` pairs.
    Pairs,
}

/// Where an operation's resource comes from, and so who checks it.
///
/// `Path`, `Query` and `Body` are visible in the request: the generated router passes the id to
/// the security hook's `authorize` before the operation runs. `TransferPair` and `Loaded` are not
/// (they need the amount, or data the operation loads): the router checks the scope only, and the
/// declaration names who checks the resource ([`CheckedBy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceSource {
    /// The scope takes no resources.
    None,
    /// A path parameter.
    Path(&'static str),
    /// A required query parameter.
    Query(&'static str),
    /// A required top-level string field of the JSON body.
    Body(&'static str),
    /// A transfer's source and destination body fields, matched against pairs whose
    /// `max_amount` applies to the `amount` field.
    TransferPair {
        /// Body field of the source account id.
        source: &'static str,
        /// Body field of the destination account id.
        destination: &'static str,
        /// Body field of the amount.
        amount: &'static str,
        /// Who checks the pair.
        checked_by: CheckedBy,
    },
    /// A resource the operation loads first (e.g. a transfer's accounts), described in words.
    Loaded {
        /// What the resource is.
        what: &'static str,
        /// Who checks it.
        checked_by: CheckedBy,
    },
}

/// Who checks a resource the generated router cannot see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckedBy {
    /// The operation's handler.
    Handler,
    /// The application layer the handler calls.
    Application,
}

/// Where a piece of input came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A path parameter.
    Path,
    /// A query parameter.
    Query,
    /// A header.
    Header,
    /// The JSON body.
    Body,
}

impl Location {
    fn describe(self, name: &str) -> String {
        match self {
            Location::Path => format!("path parameter `{name}`"),
            Location::Query => format!("query parameter `{name}`"),
            Location::Header => format!("header `{name}`"),
            Location::Body if name.is_empty() => "request body".to_owned(),
            Location::Body => format!("`{name}`"),
        }
    }
}

/// A value that breaks its schema: where (a field path such as `steps[0].actions[1].type`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Field path within the body, or the parameter name.
    pub path: String,
    /// What is wrong, e.g. `must be at least 100`.
    pub message: String,
}

impl Violation {
    fn new(path: &str, message: impl Into<String>) -> Violation {
        Violation { path: path.to_owned(), message: message.into() }
    }
}

/// Why a request's input was refused before reaching the implementation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// A value breaks its schema.
    #[error("invalid {}: {}", .0.describe(&.1.path), .1.message)]
    Invalid(Location, Violation),
    /// A required parameter is absent.
    #[error("missing required {}", .0.describe(.1))]
    Missing(Location, &'static str),
    /// A required body is absent.
    #[error("the request body is required (a JSON object)")]
    MissingBody,
    /// The body is not JSON.
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// An object in the JSON body names the same key twice. JSON parsers disagree on which
    /// occurrence wins, so such a body is refused rather than read one way.
    #[error("duplicate key `{key}` {}in the request body", at_path(.path))]
    DuplicateKey {
        /// The repeated key.
        key: String,
        /// The path of the object holding it (`steps[0].actions[1]`; empty at the top level).
        path: String,
    },
    /// A body was sent to an operation that takes none.
    #[error("this operation takes no request body")]
    UnexpectedBody,
    /// Content-Type is not `application/json`.
    #[error("the request body must be sent as `Content-Type: application/json`")]
    UnsupportedMediaType,
    /// The body is larger than the server accepts.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// The body could not be read.
    #[error("the request body could not be read: {0}")]
    UnreadableBody(String),
    /// The query string is not `application/x-www-form-urlencoded`.
    #[error("the query string is malformed: {0}")]
    MalformedQuery(String),
    /// A query parameter the operation does not define.
    #[error("unknown query parameter `{name}`; this operation accepts: {accepted}")]
    UnknownQueryParameter {
        /// The unexpected name.
        name: String,
        /// The accepted names, comma separated.
        accepted: String,
    },
    /// A parameter given more than once.
    #[error("{} is given more than once", .0.describe(.1))]
    Repeated(Location, String),
    /// Path parameters that are not valid UTF-8 once percent-decoded.
    #[error("the path is malformed: {0}")]
    MalformedPath(String),
}

/// `at `path` ` (with a trailing space), or nothing for the top level.
fn at_path(path: &str) -> String {
    if path.is_empty() { String::new() } else { format!("at `{path}` ") }
}

impl InputError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            InputError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            InputError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// Decoded path parameters.
pub struct PathParams(Vec<(String, String)>);

impl PathParams {
    /// Wraps axum's raw path parameters.
    pub fn new(
        raw: Result<RawPathParams, RawPathParamsRejection>,
    ) -> Result<PathParams, InputError> {
        let raw = raw.map_err(|e| InputError::MalformedPath(e.body_text()))?;
        Ok(PathParams(raw.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()))
    }

    /// The value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Decoded query parameters, restricted to the names an operation accepts.
pub struct QueryParams(BTreeMap<String, String>);

impl QueryParams {
    /// Parses `query`, rejecting unknown and repeated parameters.
    pub fn parse(query: Option<&str>, accepted: &[&str]) -> Result<QueryParams, InputError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
            .map_err(|e| InputError::MalformedQuery(e.to_string()))?;
        let mut map = BTreeMap::new();
        for (name, value) in pairs {
            if !accepted.contains(&name.as_str()) {
                let accepted =
                    if accepted.is_empty() { "none".to_owned() } else { accepted.join(", ") };
                return Err(InputError::UnknownQueryParameter { name, accepted });
            }
            if map.contains_key(&name) {
                return Err(InputError::Repeated(Location::Query, name));
            }
            map.insert(name, value);
        }
        Ok(QueryParams(map))
    }

    /// The value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// The value of header `name`, if present. Non-ASCII values are a violation.
pub fn header<'a>(
    headers: &'a HeaderMap,
    name: &'static str,
) -> Result<Option<&'a str>, InputError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(InputError::Repeated(Location::Header, name.to_owned()));
    }
    value.to_str().map(Some).map_err(|_| {
        InputError::Invalid(Location::Header, Violation::new(name, "must be visible ASCII"))
    })
}

/// The scalar type a parameter's raw string is converted to before validation.
#[derive(Debug, Clone, Copy)]
pub enum Scalar {
    /// Kept as a string.
    String,
    /// A base-10 `i64`.
    Integer,
    /// A finite number.
    Number,
    /// `true` or `false`.
    Boolean,
}

/// Converts a parameter's raw string into a JSON value of the declared scalar type.
pub fn scalar(
    raw: &str,
    kind: Scalar,
    location: Location,
    name: &str,
) -> Result<Value, InputError> {
    let invalid = |message: &str| InputError::Invalid(location, Violation::new(name, message));
    Ok(match kind {
        Scalar::String => Value::String(raw.to_owned()),
        Scalar::Integer => {
            Value::from(raw.parse::<i64>().map_err(|_| invalid("must be an integer"))?)
        }
        Scalar::Number => {
            let number = raw.parse::<f64>().ok().and_then(serde_json::Number::from_f64);
            Value::Number(number.ok_or_else(|| invalid("must be a number"))?)
        }
        Scalar::Boolean => match raw {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(invalid("must be `true` or `false`")),
        },
    })
}

/// Parses one parameter: converts its raw string to the declared scalar, runs the generated
/// schema `check` on it, then deserializes it into its typed form.
pub fn param<T: serde::de::DeserializeOwned>(
    raw: &str,
    kind: Scalar,
    location: Location,
    name: &str,
    check: impl FnOnce(&Value) -> Result<(), Violation>,
) -> Result<T, InputError> {
    let value = scalar(raw, kind, location, name)?;
    check(&value).map_err(|violation| InputError::Invalid(location, violation))?;
    typed(value, location, name)
}

/// Deserializes an already validated value into its typed form. A failure here means the
/// validators and the types disagree; it is still answered as invalid input, naming the field.
pub fn typed<T: serde::de::DeserializeOwned>(
    value: Value,
    location: Location,
    name: &str,
) -> Result<T, InputError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = match (name.is_empty(), inner == ".") {
            (_, true) => name.to_owned(),
            (true, false) => inner,
            (false, false) => format!("{name}.{inner}"),
        };
        InputError::Invalid(location, Violation::new(&path, e.into_inner().to_string()))
    })
}

/// Reads a JSON body: `None` when there is none, an error when it is not JSON or not declared as
/// such.
pub fn json_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Option<Value>, InputError> {
    let bytes = read_body(body)?;
    if bytes.is_empty() {
        return Ok(None);
    }
    let content_type =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(InputError::UnsupportedMediaType);
    }
    parse_json(&bytes).map(Some)
}

/// Parses a JSON document into the same [`Value`] as `serde_json::from_slice` would, except that
/// an object naming the same key twice, at any depth, is refused with
/// [`InputError::DuplicateKey`] instead of keeping the last occurrence.
pub fn parse_json(bytes: &[u8]) -> Result<Value, InputError> {
    use serde::de::DeserializeSeed;

    let duplicate = std::cell::Cell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = UniqueKeys { path: JsonPath::Root, duplicate: &duplicate }
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    parsed.map_err(|error| match duplicate.take() {
        Some((key, path)) => InputError::DuplicateKey { key, path },
        None => InputError::MalformedJson(error.to_string()),
    })
}

/// Where a value sits in the document being parsed, rendered (as the validators write paths)
/// only when a duplicate key is found.
#[derive(Clone, Copy)]
enum JsonPath<'a> {
    Root,
    Key(&'a JsonPath<'a>, &'a str),
    Index(&'a JsonPath<'a>, usize),
}

impl JsonPath<'_> {
    fn render(&self) -> String {
        match self {
            JsonPath::Root => String::new(),
            JsonPath::Key(parent, key) => field_path(&parent.render(), key),
            JsonPath::Index(parent, index) => index_path(&parent.render(), *index),
        }
    }
}

/// Builds a [`Value`] exactly as serde_json's own `Value` visitor does, refusing repeated keys.
/// The duplicate (key, object path) is recorded in `duplicate`, since the error that carries it
/// out of serde_json is only text.
struct UniqueKeys<'a> {
    path: JsonPath<'a>,
    duplicate: &'a std::cell::Cell<Option<(String, String)>>,
}

impl<'de> serde::de::DeserializeSeed<'de> for UniqueKeys<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for UniqueKeys<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        serde::de::DeserializeSeed::deserialize(self, deserializer)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let path = JsonPath::Index(&self.path, items.len());
            match seq.next_element_seed(UniqueKeys { path, duplicate: self.duplicate })? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                let message = format!("duplicate key `{key}`");
                self.duplicate.set(Some((key, self.path.render())));
                return Err(serde::de::Error::custom(message));
            }
            let path = JsonPath::Key(&self.path, &key);
            let value = access.next_value_seed(UniqueKeys { path, duplicate: self.duplicate })?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// Refuses a body on an operation that takes none.
pub fn no_body(body: Result<Bytes, BytesRejection>) -> Result<(), InputError> {
    if read_body(body)?.is_empty() { Ok(()) } else { Err(InputError::UnexpectedBody) }
}

fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, InputError> {
    body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => InputError::PayloadTooLarge,
        _ => InputError::UnreadableBody(rejection.body_text()),
    })
}

// ----- validation primitives called by the generated validators -----

/// `parent.field`, or `field` at the root.
pub fn field_path(parent: &str, field: &str) -> String {
    if parent.is_empty() { field.to_owned() } else { format!("{parent}.{field}") }
}

/// `parent[index]`.
pub fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

fn at(path: &str) -> &str {
    path
}

/// Refuses `null` where the schema is not nullable.
pub fn reject_null(value: &Value, path: &str) -> Result<(), Violation> {
    if value.is_null() { Err(Violation::new(at(path), "must not be null")) } else { Ok(()) }
}

/// The value as an object.
pub fn expect_object<'a>(
    value: &'a Value,
    path: &str,
) -> Result<&'a Map<String, Value>, Violation> {
    value
        .as_object()
        .ok_or_else(|| Violation::new(path, format!("must be a JSON object, not {}", kind(value))))
}

/// The value as an array.
pub fn expect_array<'a>(value: &'a Value, path: &str) -> Result<&'a Vec<Value>, Violation> {
    value
        .as_array()
        .ok_or_else(|| Violation::new(path, format!("must be an array, not {}", kind(value))))
}

/// The value as a string. Every string the generated validators look at (body fields, path and
/// query parameters) passes through here, so this is also where the NUL character (U+0000) is
/// refused: PostgreSQL cannot store it in `text`, and the spec rejects it everywhere (not only on
/// PostgreSQL) so that both backends answer alike.
pub fn expect_str<'a>(value: &'a Value, path: &str) -> Result<&'a str, Violation> {
    let text = value
        .as_str()
        .ok_or_else(|| Violation::new(path, format!("must be a string, not {}", kind(value))))?;
    if text.contains('\0') {
        return Err(Violation::new(path, "must not contain the NUL character (U+0000)"));
    }
    Ok(text)
}

/// The value as an `i64`.
pub fn expect_i64(value: &Value, path: &str) -> Result<i64, Violation> {
    value.as_i64().ok_or_else(|| match value {
        Value::Number(_) => {
            Violation::new(path, "must be an integer within the 64-bit signed range")
        }
        other => Violation::new(path, format!("must be an integer, not {}", kind(other))),
    })
}

/// The value as an `f64`.
pub fn expect_f64(value: &Value, path: &str) -> Result<f64, Violation> {
    value
        .as_f64()
        .ok_or_else(|| Violation::new(path, format!("must be a number, not {}", kind(value))))
}

/// The value as a boolean.
pub fn expect_bool(value: &Value, path: &str) -> Result<bool, Violation> {
    value
        .as_bool()
        .ok_or_else(|| Violation::new(path, format!("must be a boolean, not {}", kind(value))))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The string is one of `allowed`.
pub fn check_enum(text: &str, allowed: &[&str], path: &str) -> Result<(), Violation> {
    if allowed.contains(&text) {
        Ok(())
    } else {
        let list = allowed.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ");
        Err(Violation::new(path, format!("must be one of {list}, not `{text}`")))
    }
}

/// The string's length in characters is within bounds.
pub fn check_length(
    text: &str,
    min: Option<u64>,
    max: Option<u64>,
    path: &str,
) -> Result<(), Violation> {
    let len = text.chars().count() as u64;
    if let Some(min) = min.filter(|min| len < *min) {
        let unit = if min == 1 { "character" } else { "characters" };
        return Err(Violation::new(path, format!("must be at least {min} {unit} long")));
    }
    if let Some(max) = max.filter(|max| len > *max) {
        return Err(Violation::new(path, format!("must be at most {max} characters long")));
    }
    Ok(())
}

/// The string matches `regex` (whose source is `pattern`).
pub fn check_pattern(
    text: &str,
    regex: &regress::Regex,
    pattern: &str,
    path: &str,
) -> Result<(), Violation> {
    if regex.find(text).is_some() {
        Ok(())
    } else {
        Err(Violation::new(path, format!("must match the pattern `{pattern}`")))
    }
}

/// The string is an RFC 3339 date-time.
pub fn check_date_time(text: &str, path: &str) -> Result<(), Violation> {
    chrono::DateTime::parse_from_rfc3339(text).map(|_| ()).map_err(|_| {
        Violation::new(path, "must be an RFC 3339 date-time such as `2024-04-23T09:15:00Z`")
    })
}

/// The string is a `YYYY-MM-DD` date.
pub fn check_date(text: &str, path: &str) -> Result<(), Violation> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|_| ())
        .map_err(|_| Violation::new(path, "must be a date such as `2024-05-15`"))
}

/// The integer is within bounds.
pub fn check_i64_range(
    n: i64,
    min: Option<i64>,
    min_exclusive: bool,
    max: Option<i64>,
    max_exclusive: bool,
    path: &str,
) -> Result<(), Violation> {
    if let Some(min) = min {
        if min_exclusive && n <= min {
            return Err(Violation::new(path, format!("must be greater than {min}")));
        }
        if n < min {
            return Err(Violation::new(path, format!("must be at least {min}")));
        }
    }
    if let Some(max) = max {
        if max_exclusive && n >= max {
            return Err(Violation::new(path, format!("must be less than {max}")));
        }
        if n > max {
            return Err(Violation::new(path, format!("must be at most {max}")));
        }
    }
    Ok(())
}

/// The number is within bounds.
pub fn check_f64_range(
    n: f64,
    min: Option<f64>,
    min_exclusive: bool,
    max: Option<f64>,
    max_exclusive: bool,
    path: &str,
) -> Result<(), Violation> {
    if let Some(min) = min
        && (n < min || (min_exclusive && n <= min))
    {
        return Err(Violation::new(path, format!("must be at least {min}")));
    }
    if let Some(max) = max
        && (n > max || (max_exclusive && n >= max))
    {
        return Err(Violation::new(path, format!("must be at most {max}")));
    }
    Ok(())
}

/// The array's length is within bounds.
pub fn check_items(
    len: usize,
    min: Option<u64>,
    max: Option<u64>,
    path: &str,
) -> Result<(), Violation> {
    let len = len as u64;
    if let Some(min) = min.filter(|min| len < *min) {
        let unit = if min == 1 { "item" } else { "items" };
        return Err(Violation::new(path, format!("must have at least {min} {unit}")));
    }
    if let Some(max) = max.filter(|max| len > *max) {
        return Err(Violation::new(path, format!("must have at most {max} items")));
    }
    Ok(())
}

/// Every field in `required` is present.
pub fn require_fields(
    object: &Map<String, Value>,
    required: &[&str],
    path: &str,
) -> Result<(), Violation> {
    match required.iter().find(|name| !object.contains_key(**name)) {
        Some(missing) => Err(Violation::new(&field_path(path, missing), "is required")),
        None => Ok(()),
    }
}

/// No field outside `known` is present.
pub fn reject_unknown_fields(
    object: &Map<String, Value>,
    known: &[&str],
    path: &str,
) -> Result<(), Violation> {
    match object.keys().find(|key| !known.contains(&key.as_str())) {
        Some(unknown) => {
            let list: Cow<'_, str> = known.join(", ").into();
            Err(Violation::new(
                &field_path(path, unknown),
                format!("is not a known field (expected one of: {list})"),
            ))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn expect_str_refuses_the_nul_character() {
        assert_eq!(expect_str(&json!("Emergency Fund"), "nickname"), Ok("Emergency Fund"));
        let violation = expect_str(&json!("a\u{0}b"), "nickname").unwrap_err();
        assert_eq!(violation.path, "nickname");
        assert_eq!(violation.message, "must not contain the NUL character (U+0000)");
        let error = InputError::Invalid(Location::Query, violation);
        assert_eq!(
            error.to_string(),
            "invalid query parameter `nickname`: must not contain the NUL character (U+0000)"
        );
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    }

    fn json_request(body: &str) -> Result<Option<Value>, InputError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        json_body(&headers, Ok(Bytes::from(body.to_owned())))
    }

    #[test]
    fn a_duplicate_top_level_key_is_refused_not_last_one_wins() {
        let body = r#"{"source_account_id": "acc_a", "amount_in_cents": 100,
                       "destination_account_id": "acc_b", "amount_in_cents": 50000000}"#;
        let error = json_request(body).unwrap_err();
        assert_eq!(
            error,
            InputError::DuplicateKey { key: "amount_in_cents".into(), path: String::new() }
        );
        assert_eq!(error.to_string(), "duplicate key `amount_in_cents` in the request body");
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_duplicate_nested_key_is_refused_with_its_path() {
        let body = r#"{"steps": [{"actions": [{"type": "FIXED"},
                                              {"type": "FIXED", "amount_in_cents": 1, "type": "PERCENTAGE"}]}]}"#;
        let error = json_request(body).unwrap_err();
        assert_eq!(
            error,
            InputError::DuplicateKey { key: "type".into(), path: "steps[0].actions[1]".into() }
        );
        assert_eq!(
            error.to_string(),
            "duplicate key `type` at `steps[0].actions[1]` in the request body"
        );
        let nested_object = parse_json(br#"{"trigger": {"a": 1, "b": {"c": 1, "c": 2}}}"#);
        assert_eq!(
            nested_object,
            Err(InputError::DuplicateKey { key: "c".into(), path: "trigger.b".into() })
        );
        let in_array = parse_json(br#"[{}, [{"x": 1, "x": 1}]]"#);
        assert_eq!(
            in_array,
            Err(InputError::DuplicateKey { key: "x".into(), path: "[1][0]".into() })
        );
    }

    #[test]
    fn keys_are_compared_after_unescaping() {
        assert_eq!(
            parse_json(br#"{"type": 1, "typ\u0065": 2}"#),
            Err(InputError::DuplicateKey { key: "type".into(), path: String::new() })
        );
    }

    #[test]
    fn the_same_key_in_different_objects_is_fine() {
        let body = r#"{"a": {"type": 1}, "b": {"type": 2}, "c": [{"type": 3}, {"type": 4}]}"#;
        assert_eq!(
            json_request(body),
            Ok(Some(json!({"a": {"type": 1}, "b": {"type": 2}, "c": [{"type": 3}, {"type": 4}]})))
        );
    }

    #[test]
    fn parsing_gives_the_same_value_as_serde_json() {
        let documents = [
            "0",
            "-0",
            "-0.0",
            "1.5e3",
            "0.1",
            "9007199254740993",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "123456789012345678901234567890",
            "1e308",
            "5e-324",
            "true",
            "null",
            r#""caf\u00e9 \ud83d\ude00 \"q\"""#,
            r#"{"amount_in_cents": 18446744073709551615, "n": -1, "f": 2.5, "z": [], "o": {}}"#,
            r#"  [1, "two", [3.0, {"four": null}], false]  "#,
        ];
        for document in documents {
            let expected: Value = serde_json::from_slice(document.as_bytes()).unwrap();
            let parsed = parse_json(document.as_bytes()).unwrap();
            assert_eq!(parsed, expected, "{document}");
            assert_eq!(parsed.to_string(), expected.to_string(), "{document}");
        }
    }

    #[test]
    fn malformed_json_is_still_malformed_json() {
        for document in ["{nope", "{\"a\": 1} trailing", "[1,]", "1e400", "", "{\"a\": 1,}"] {
            let expected = serde_json::from_slice::<Value>(document.as_bytes()).unwrap_err();
            assert_eq!(
                parse_json(document.as_bytes()),
                Err(InputError::MalformedJson(expected.to_string())),
                "{document}"
            );
        }
    }
}
