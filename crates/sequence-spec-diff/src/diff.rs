//! Operation-level comparison: which operations exist, and for each one its
//! `operationId`, parameters, request body, responses and security.
//!
//! Operations are matched by method and path template with the parameter
//! names blanked out (`/accounts/{id}` and `/accounts/{accountId}` are the
//! same URL to a client). Path parameters are then matched by position, so a
//! rename is reported as a rename rather than as a removed and an added
//! required parameter.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use openapiv3::{
    AnySchema, Content, OpenAPI, Operation, Parameter, ParameterSchemaOrContent, PathItem,
    ReferenceOr, RequestBody, Response, Schema, SchemaData, SchemaKind,
};

use crate::report::{Change, ChangeKind, Endpoint, Report, SEPARATOR, Verdict};
use crate::schema::{Direction, SchemaDiff, SchemaNode};

/// Collects the changes of one operation, turning location segments into
/// the `METHOD /path › segment › segment` form.
pub(crate) struct Sink {
    endpoint: Endpoint,
    changes: Vec<Change>,
}

impl Sink {
    fn new(endpoint: Endpoint) -> Self {
        Self { endpoint, changes: Vec::new() }
    }

    pub(crate) fn emit(
        &mut self,
        path: &[String],
        kind: ChangeKind,
        verdict: Verdict,
        reason: impl Into<String>,
    ) {
        let mut location = self.endpoint.to_string();
        for segment in path {
            // Array items read better glued to their array: `entries[] › amount`.
            if segment != "[]" {
                location.push_str(SEPARATOR);
            }
            location.push_str(segment);
        }
        self.changes.push(Change {
            endpoint: self.endpoint.clone(),
            location,
            kind,
            verdict,
            reason: reason.into(),
        });
    }
}

/// Reference chains longer than this are treated as cycles.
const MAX_HOPS: usize = 32;

fn unescape(name: &str) -> Cow<'_, str> {
    if name.contains('~') {
        Cow::Owned(name.replace("~1", "/").replace("~0", "~"))
    } else {
        Cow::Borrowed(name)
    }
}

/// Follows `reference` (and any chain of references behind it) through the
/// components section named by `prefix`; on failure returns the reference
/// that could not be followed.
pub(crate) fn follow<'a, T>(
    reference: &'a str,
    prefix: &str,
    lookup: impl Fn(&str) -> Option<&'a ReferenceOr<T>>,
) -> Result<&'a T, &'a str> {
    let mut current = reference;
    for _ in 0..MAX_HOPS {
        let name = current.strip_prefix(prefix).ok_or(current)?;
        match lookup(&unescape(name)).ok_or(current)? {
            ReferenceOr::Item(item) => return Ok(item),
            ReferenceOr::Reference { reference } => current = reference,
        }
    }
    Err(current)
}

fn resolve<'a, T>(
    item: &'a ReferenceOr<T>,
    prefix: &str,
    lookup: impl Fn(&str) -> Option<&'a ReferenceOr<T>>,
) -> Result<&'a T, &'a str> {
    match item {
        ReferenceOr::Item(item) => Ok(item),
        ReferenceOr::Reference { reference } => follow(reference, prefix, lookup),
    }
}

/// The schema that stands in for a missing one: it accepts anything.
static ANY_SCHEMA: LazyLock<Schema> = LazyLock::new(|| Schema {
    schema_data: SchemaData::default(),
    schema_kind: SchemaKind::Any(AnySchema::default()),
});

/// One operation in one spec.
struct Op<'a> {
    method: &'static str,
    path: &'a str,
    item: &'a PathItem,
    operation: &'a Operation,
}

impl Op<'_> {
    fn endpoint(&self) -> Endpoint {
        Endpoint {
            method: self.method.to_ascii_uppercase(),
            path: self.path.to_owned(),
            operation_id: self.operation.operation_id.clone(),
        }
    }
}

/// `/accounts/{accountId}` → `/accounts/{}`.
fn normalise_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_parameter = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_parameter = true;
                out.push_str("{}");
            }
            '}' => in_parameter = false,
            _ if in_parameter => {}
            _ => out.push(c),
        }
    }
    out
}

fn template_names(path: &str) -> Vec<&str> {
    path.split('{').skip(1).filter_map(|rest| rest.split_once('}')).map(|(name, _)| name).collect()
}

/// All operations keyed by normalised path and method. If two path
/// templates differ only in parameter names (which OpenAPI forbids) the first
/// one wins.
fn operations(spec: &OpenAPI) -> BTreeMap<(String, &'static str), Op<'_>> {
    let mut operations = BTreeMap::new();
    for (path, item) in spec.paths.iter() {
        // Path items can be `$ref`s to other path items. `load` rejects
        // dangling ones, so an unresolvable one is skipped here.
        let Ok(item) = resolve(item, "#/paths/", |name| spec.paths.paths.get(name)) else {
            continue;
        };
        for (method, operation) in [
            ("get", &item.get),
            ("put", &item.put),
            ("post", &item.post),
            ("delete", &item.delete),
            ("options", &item.options),
            ("head", &item.head),
            ("patch", &item.patch),
            ("trace", &item.trace),
        ] {
            if let Some(operation) = operation {
                operations.entry((normalise_path(path), method)).or_insert(Op {
                    method,
                    path,
                    item,
                    operation,
                });
            }
        }
    }
    operations
}

/// Compares two specs operation by operation.
#[must_use]
pub fn diff(old: &OpenAPI, new: &OpenAPI) -> Report {
    let old_operations = operations(old);
    let new_operations = operations(new);
    let mut changes = Vec::new();
    for (key, old_op) in &old_operations {
        match new_operations.get(key) {
            Some(new_op) => {
                let mut sink = Sink::new(new_op.endpoint());
                OperationDiff { old, new, old_op, new_op, sink: &mut sink }.run();
                changes.append(&mut sink.changes);
            }
            None => {
                let mut sink = Sink::new(old_op.endpoint());
                sink.emit(
                    &[],
                    ChangeKind::OperationRemoved,
                    Verdict::Breaking,
                    "Existing clients that call it will get an error.",
                );
                changes.append(&mut sink.changes);
            }
        }
    }
    for (key, new_op) in &new_operations {
        if !old_operations.contains_key(key) {
            let mut sink = Sink::new(new_op.endpoint());
            sink.emit(
                &[],
                ChangeKind::OperationAdded,
                Verdict::NonBreaking,
                "Existing clients do not call it.",
            );
            changes.append(&mut sink.changes);
        }
    }
    Report::new(new.info.title.clone(), old.info.version.clone(), new.info.version.clone(), changes)
}

/// A parameter after resolving `$ref`s and merging path-level parameters.
struct Param<'a> {
    /// Identity across versions: `in` plus name, or plus position for path
    /// parameters; header names are case-insensitive.
    key: String,
    location: &'static str,
    name: &'a str,
    required: bool,
    schema: Option<SchemaNode<'a>>,
}

impl Param<'_> {
    fn segment(&self) -> String {
        format!("{} parameter {}", self.location, self.name)
    }
}

/// An operation's effective parameters (path-level ones overridden by
/// operation-level ones with the same `in` and name), plus the references
/// that could not be resolved.
fn parameters<'a>(spec: &'a OpenAPI, op: &Op<'a>) -> (Vec<Param<'a>>, Vec<&'a str>) {
    let template = template_names(op.path);
    let mut params: Vec<Param<'a>> = Vec::new();
    let mut unresolved = Vec::new();
    for parameter in op.item.parameters.iter().chain(&op.operation.parameters) {
        let parameter = match resolve(parameter, "#/components/parameters/", |name| {
            spec.components.as_ref()?.parameters.get(name)
        }) {
            Ok(parameter) => parameter,
            Err(reference) => {
                unresolved.push(reference);
                continue;
            }
        };
        let data = parameter.parameter_data_ref();
        let name = data.name.as_str();
        let (location, key) = match parameter {
            Parameter::Path { .. } => (
                "path",
                match template.iter().position(|n| *n == name) {
                    Some(index) => format!("path#{index}"),
                    None => format!("path:{name}"),
                },
            ),
            Parameter::Query { .. } => ("query", format!("query:{name}")),
            Parameter::Header { .. } => ("header", format!("header:{}", name.to_ascii_lowercase())),
            Parameter::Cookie { .. } => ("cookie", format!("cookie:{name}")),
        };
        let schema = match &data.format {
            ParameterSchemaOrContent::Schema(schema) => Some(schema.into()),
            ParameterSchemaOrContent::Content(content) => {
                content.values().next().and_then(|media| media.schema.as_ref()).map(Into::into)
            }
        };
        // Path parameters are required whatever the spec says.
        let required = data.required || location == "path";
        let param = Param { key, location, name, required, schema };
        match params.iter_mut().find(|p| p.key == param.key) {
            Some(existing) => *existing = param,
            None => params.push(param),
        }
    }
    (params, unresolved)
}

/// `(status, response)` in spec order, with `default` last.
fn responses(operation: &Operation) -> Vec<(String, &ReferenceOr<Response>)> {
    let responses = &operation.responses;
    responses
        .responses
        .iter()
        .map(|(status, response)| (status.to_string(), response))
        .chain(responses.default.iter().map(|response| ("default".to_owned(), response)))
        .collect()
}

/// Security requirements as alternatives, each a scheme → scopes map; the
/// empty alternative means "no authentication".
type Alternative = BTreeMap<String, BTreeSet<String>>;

fn security(spec: &OpenAPI, operation: &Operation) -> BTreeSet<Alternative> {
    let requirements = operation.security.as_ref().or(spec.security.as_ref());
    let mut alternatives: BTreeSet<Alternative> = requirements
        .into_iter()
        .flatten()
        .map(|requirement| {
            requirement
                .iter()
                .map(|(scheme, scopes)| (scheme.clone(), scopes.iter().cloned().collect()))
                .collect()
        })
        .collect();
    if alternatives.is_empty() {
        alternatives.insert(Alternative::new());
    }
    alternatives
}

fn render_security(alternatives: &BTreeSet<Alternative>) -> String {
    let render_alternative = |alternative: &Alternative| {
        if alternative.is_empty() {
            return "no authentication".to_owned();
        }
        alternative
            .iter()
            .map(|(scheme, scopes)| {
                if scopes.is_empty() {
                    format!("`{scheme}`")
                } else {
                    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
                    format!("`{scheme} [{}]`", scopes.join(", "))
                }
            })
            .collect::<Vec<_>>()
            .join(" and ")
    };
    alternatives.iter().map(render_alternative).collect::<Vec<_>>().join(" or ")
}

/// Whether a client that satisfies `held` also satisfies `wanted`.
fn satisfies(held: &Alternative, wanted: &Alternative) -> bool {
    wanted
        .iter()
        .all(|(scheme, scopes)| held.get(scheme).is_some_and(|held| scopes.is_subset(held)))
}

fn media_segment(base: &str, media_type: &str) -> String {
    if media_type == "application/json" {
        base.to_owned()
    } else {
        format!("{base} ({media_type})")
    }
}

/// Compares one operation present in both specs.
struct OperationDiff<'a, 's> {
    old: &'a OpenAPI,
    new: &'a OpenAPI,
    old_op: &'s Op<'a>,
    new_op: &'s Op<'a>,
    sink: &'s mut Sink,
}

impl<'a> OperationDiff<'a, '_> {
    fn run(mut self) {
        self.operation_id();
        self.parameters();
        self.request_body();
        self.responses();
        self.security();
    }

    fn unresolved(&mut self, path: &[String], reference: &str) {
        self.sink.emit(
            path,
            ChangeKind::UnresolvedReference { reference: reference.to_owned() },
            Verdict::Breaking,
            "This part cannot be compared, so it needs a manual review.",
        );
    }

    fn schemas(
        &mut self,
        direction: Direction,
        old: SchemaNode<'a>,
        new: SchemaNode<'a>,
        segment: String,
    ) {
        SchemaDiff::new(self.old, self.new, direction, self.sink).compare(
            old,
            new,
            &mut vec![segment],
        );
    }

    fn operation_id(&mut self) {
        let old = &self.old_op.operation.operation_id;
        let new = &self.new_op.operation.operation_id;
        if old != new {
            self.sink.emit(
                &[],
                ChangeKind::OperationIdChanged { old: old.clone(), new: new.clone() },
                Verdict::Breaking,
                "Generated clients name the method after the operationId, so calling code stops compiling when the client is regenerated.",
            );
        }
    }

    fn parameters(&mut self) {
        let (old_params, old_unresolved) = parameters(self.old, self.old_op);
        let (new_params, new_unresolved) = parameters(self.new, self.new_op);
        for reference in new_unresolved.iter().filter(|r| !old_unresolved.contains(r)) {
            self.unresolved(&["parameters".to_owned()], reference);
        }
        for old_param in &old_params {
            let Some(new_param) = new_params.iter().find(|p| p.key == old_param.key) else {
                self.sink.emit(
                    &[old_param.segment()],
                    ChangeKind::ParameterRemoved,
                    Verdict::NonBreaking,
                    "The server ignores parameters it does not declare, so clients that still send it keep working.",
                );
                continue;
            };
            let segment = new_param.segment();
            if old_param.name != new_param.name {
                self.sink.emit(
                    std::slice::from_ref(&segment),
                    ChangeKind::ParameterRenamed {
                        old: old_param.name.to_owned(),
                        new: new_param.name.to_owned(),
                    },
                    Verdict::NonBreaking,
                    "Path parameters are positional, so the URLs clients build are unchanged.",
                );
            }
            match (old_param.required, new_param.required) {
                (false, true) => self.sink.emit(
                    std::slice::from_ref(&segment),
                    ChangeKind::ParameterMadeRequired,
                    Verdict::Breaking,
                    "Clients that omit it will now be rejected.",
                ),
                (true, false) => self.sink.emit(
                    std::slice::from_ref(&segment),
                    ChangeKind::ParameterMadeOptional,
                    Verdict::NonBreaking,
                    "Clients that send it keep working.",
                ),
                _ => {}
            }
            if let (Some(old), Some(new)) = (old_param.schema, new_param.schema) {
                self.schemas(Direction::Request, old, new, segment);
            }
        }
        for new_param in &new_params {
            if old_params.iter().any(|p| p.key == new_param.key) {
                continue;
            }
            let kind = ChangeKind::ParameterAdded { required: new_param.required };
            if new_param.required {
                self.sink.emit(
                    &[new_param.segment()],
                    kind,
                    Verdict::Breaking,
                    "Existing clients do not send it, so their requests will be rejected.",
                );
            } else {
                self.sink.emit(
                    &[new_param.segment()],
                    kind,
                    Verdict::NonBreaking,
                    "Existing clients simply omit it.",
                );
            }
        }
    }

    fn request_body(&mut self) {
        let body = |spec: &'a OpenAPI, op: &Op<'a>| -> Result<Option<&'a RequestBody>, &'a str> {
            op.operation
                .request_body
                .as_ref()
                .map(|body| {
                    resolve(body, "#/components/requestBodies/", |name| {
                        spec.components.as_ref()?.request_bodies.get(name)
                    })
                })
                .transpose()
        };
        let segment = || vec!["request body".to_owned()];
        match (body(self.old, self.old_op), body(self.new, self.new_op)) {
            (Err(old), Err(new)) if old == new => {}
            (Err(reference), _) | (_, Err(reference)) => self.unresolved(&segment(), reference),
            (Ok(None), Ok(None)) => {}
            (Ok(None), Ok(Some(new))) => {
                let kind = ChangeKind::RequestBodyAdded { required: new.required };
                if new.required {
                    self.sink.emit(
                        &segment(),
                        kind,
                        Verdict::Breaking,
                        "Existing clients send no body, so their requests will be rejected.",
                    );
                } else {
                    self.sink.emit(
                        &segment(),
                        kind,
                        Verdict::NonBreaking,
                        "Existing clients simply send no body.",
                    );
                }
            }
            (Ok(Some(_)), Ok(None)) => self.sink.emit(
                &segment(),
                ChangeKind::RequestBodyRemoved,
                Verdict::NonBreaking,
                "The server ignores a body it does not declare, so clients that still send one keep working.",
            ),
            (Ok(Some(old)), Ok(Some(new))) => {
                match (old.required, new.required) {
                    (false, true) => self.sink.emit(
                        &segment(),
                        ChangeKind::RequestBodyMadeRequired,
                        Verdict::Breaking,
                        "Clients that send no body will now be rejected.",
                    ),
                    (true, false) => self.sink.emit(
                        &segment(),
                        ChangeKind::RequestBodyMadeOptional,
                        Verdict::NonBreaking,
                        "Clients that send a body keep working.",
                    ),
                    _ => {}
                }
                self.content(Direction::Request, &old.content, &new.content, "request body");
            }
        }
    }

    fn content(&mut self, direction: Direction, old: &'a Content, new: &'a Content, base: &str) {
        let any: &'static Schema = &ANY_SCHEMA;
        for (media_type, old_media) in old {
            let Some(new_media) = new.get(media_type) else {
                let reason = match direction {
                    Direction::Request => {
                        "Clients that send this media type will be rejected with 415 Unsupported Media Type."
                    }
                    Direction::Response => {
                        "Clients that expect this media type will no longer get it."
                    }
                };
                self.sink.emit(
                    &[base.to_owned()],
                    ChangeKind::MediaTypeRemoved { media_type: media_type.clone() },
                    Verdict::Breaking,
                    reason,
                );
                continue;
            };
            // A missing schema accepts anything; comparing against an empty
            // schema reports it as a type change to/from `any`.
            let old_schema = old_media.schema.as_ref().map_or(SchemaNode::Inline(any), Into::into);
            let new_schema = new_media.schema.as_ref().map_or(SchemaNode::Inline(any), Into::into);
            if old_media.schema.is_some() || new_media.schema.is_some() {
                self.schemas(direction, old_schema, new_schema, media_segment(base, media_type));
            }
        }
        for media_type in new.keys().filter(|media_type| !old.contains_key(*media_type)) {
            let reason = match direction {
                Direction::Request => "Clients can keep sending the media types they use today.",
                Direction::Response => "Clients keep receiving the media types they ask for.",
            };
            self.sink.emit(
                &[base.to_owned()],
                ChangeKind::MediaTypeAdded { media_type: media_type.clone() },
                Verdict::NonBreaking,
                reason,
            );
        }
    }

    fn responses(&mut self) {
        let resolve_response = |spec: &'a OpenAPI, response: &'a ReferenceOr<Response>| {
            resolve(response, "#/components/responses/", |name| {
                spec.components.as_ref()?.responses.get(name)
            })
        };
        let old_responses = responses(self.old_op.operation);
        let new_responses = responses(self.new_op.operation);
        for (status, old_response) in &old_responses {
            let segment = format!("response {status}");
            let Some((_, new_response)) = new_responses.iter().find(|(s, _)| s == status) else {
                self.sink.emit(
                    &[segment],
                    ChangeKind::ResponseRemoved,
                    Verdict::NonBreaking,
                    "The server no longer sends it, so client code handling it just goes unused.",
                );
                continue;
            };
            match (
                resolve_response(self.old, old_response),
                resolve_response(self.new, new_response),
            ) {
                (Ok(old), Ok(new)) => {
                    self.content(Direction::Response, &old.content, &new.content, &segment)
                }
                (Err(old), Err(new)) if old == new => {}
                (Err(reference), _) | (_, Err(reference)) => self.unresolved(&[segment], reference),
            }
        }
        for (status, _) in &new_responses {
            if old_responses.iter().any(|(s, _)| s == status) {
                continue;
            }
            let (verdict, reason) = match status.chars().next() {
                Some('1' | '2' | '3') => (
                    Verdict::Breaking,
                    "Existing clients treat an undocumented success status as an unexpected response.",
                ),
                Some('4' | '5') => (
                    Verdict::NonBreaking,
                    "Clients already have to handle error statuses they do not know.",
                ),
                _ => (
                    Verdict::NonBreaking,
                    "`default` only documents statuses the server could already return.",
                ),
            };
            self.sink.emit(
                &[format!("response {status}")],
                ChangeKind::ResponseAdded,
                verdict,
                reason,
            );
        }
    }

    fn security(&mut self) {
        let old = security(self.old, self.old_op.operation);
        let new = security(self.new, self.new_op.operation);
        if old == new {
            return;
        }
        let kind =
            ChangeKind::SecurityChanged { old: render_security(&old), new: render_security(&new) };
        // Breaking if some way of authenticating that worked before satisfies
        // none of the new alternatives.
        match old.iter().find(|held| !new.iter().any(|wanted| satisfies(held, wanted))) {
            Some(lost) if lost.is_empty() => self.sink.emit(
                &[],
                kind,
                Verdict::Breaking,
                "Clients that send no credentials will now be rejected.",
            ),
            Some(lost) => {
                let lost = render_security(&BTreeSet::from([lost.clone()]));
                self.sink.emit(
                    &[],
                    kind,
                    Verdict::Breaking,
                    format!("Clients that authenticate with {lost} will now be rejected."),
                );
            }
            None => self.sink.emit(
                &[],
                kind,
                Verdict::NonBreaking,
                "Every way clients authenticate today is still accepted.",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-operation spec: `POST /things` with the given request schema,
    /// responses and components, all as YAML flow text.
    fn spec(request: &str, responses: &str, schemas: &str) -> OpenAPI {
        let text = format!(
            "openapi: 3.0.3\ninfo: {{title: T, version: '1'}}\npaths:\n  /things:\n    post:\n      \
             requestBody: {{required: true, content: {{application/json: {{schema: {request}}}}}}}\n      \
             responses: {responses}\ncomponents: {{schemas: {schemas}}}\n"
        );
        crate::load(&text).unwrap_or_else(|e| panic!("{e:?} in\n{text}"))
    }

    /// `(location below the operation, kind code, verdict)` for each change.
    fn changes(old: &OpenAPI, new: &OpenAPI) -> Vec<(String, &'static str, Verdict)> {
        diff(old, new)
            .changes()
            .iter()
            .map(|c| (c.detail().to_owned(), c.kind.code(), c.verdict))
            .collect()
    }

    fn entry(
        location: &str,
        code: &'static str,
        verdict: Verdict,
    ) -> (String, &'static str, Verdict) {
        (location.to_owned(), code, verdict)
    }

    const OK: &str = "{'200': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Thing'}}}}}";
    const REF: &str = "{$ref: '#/components/schemas/Thing'}";

    #[test]
    fn read_only_properties_only_count_in_responses() {
        let old = spec(REF, OK, "{Thing: {type: object, properties: {name: {type: string}}}}");
        let new = spec(
            REF,
            OK,
            "{Thing: {type: object, required: [id], properties: {id: {type: string, readOnly: true}, \
             name: {type: string}}}}",
        );
        // A required readOnly property is not something clients must send.
        assert_eq!(
            changes(&old, &new),
            [entry("response 200 › id", "property-added", Verdict::NonBreaking)]
        );
    }

    #[test]
    fn one_of_variants_follow_the_direction_of_data() {
        let schemas = |variants: &str| {
            format!(
                "{{Thing: {{oneOf: [{variants}]}}, \
                 Card: {{type: object, properties: {{pan: {{type: string}}}}}}, \
                 Bank: {{type: object, properties: {{iban: {{type: string}}}}}}}}"
            )
        };
        let card = "{$ref: '#/components/schemas/Card'}";
        let bank = "{$ref: '#/components/schemas/Bank'}";
        let old = spec(REF, OK, &schemas(card));
        let new = spec(REF, OK, &schemas(&format!("{card}, {bank}")));
        assert_eq!(
            changes(&old, &new),
            [
                entry("request body", "variant-added", Verdict::NonBreaking),
                entry("response 200", "variant-added", Verdict::Breaking),
            ]
        );
    }

    #[test]
    fn new_success_statuses_break_clients_and_new_errors_do_not() {
        let thing = "{Thing: {type: string}}";
        let old = spec(REF, OK, thing);
        let new = spec(
            REF,
            "{'200': {description: ok}, '202': {description: accepted}, '422': {description: invalid}}",
            thing,
        );
        assert_eq!(
            changes(&old, &new),
            [
                entry("response 200", "media-type-removed", Verdict::Breaking),
                entry("response 202", "response-added", Verdict::Breaking),
                entry("response 422", "response-added", Verdict::NonBreaking),
            ]
        );
    }

    #[test]
    fn closing_an_object_breaks_requests_only() {
        let old = spec(REF, OK, "{Thing: {type: object, properties: {a: {type: string}}}}");
        let new = spec(
            REF,
            OK,
            "{Thing: {type: object, additionalProperties: false, properties: {a: {type: string}}}}",
        );
        assert_eq!(
            changes(&old, &new),
            [
                entry("request body", "constraint-tightened", Verdict::Breaking),
                entry("response 200", "constraint-tightened", Verdict::NonBreaking),
            ]
        );
    }

    #[test]
    fn integer_to_number_widens() {
        let old = spec(REF, OK, "{Thing: {type: integer}}");
        let new = spec(REF, OK, "{Thing: {type: number}}");
        assert_eq!(
            changes(&old, &new),
            [
                entry("request body", "type-changed", Verdict::NonBreaking),
                entry("response 200", "type-changed", Verdict::Breaking),
            ]
        );
    }

    #[test]
    fn self_referencing_all_of_terminates() {
        let old = spec(
            REF,
            OK,
            "{Thing: {allOf: [{$ref: '#/components/schemas/Thing'}, {type: object}]}}",
        );
        let new = spec(
            REF,
            OK,
            "{Thing: {allOf: [{$ref: '#/components/schemas/Thing'}, {type: object, properties: {a: {type: string}}}]}}",
        );
        assert_eq!(
            changes(&old, &new),
            [
                entry("request body › a", "property-added", Verdict::NonBreaking),
                entry("response 200 › a", "property-added", Verdict::NonBreaking),
            ]
        );
    }

    #[test]
    fn cycles_of_different_lengths_terminate() {
        // Old: Node.next → Node. New: Node.next → Link, Link.next → Node.
        let old = spec(
            REF,
            OK,
            "{Thing: {$ref: '#/components/schemas/Node'}, \
             Node: {type: object, properties: {next: {$ref: '#/components/schemas/Node'}}}}",
        );
        let new = spec(
            REF,
            OK,
            "{Thing: {$ref: '#/components/schemas/Node'}, \
             Node: {type: object, properties: {next: {$ref: '#/components/schemas/Link'}}}, \
             Link: {type: object, properties: {next: {$ref: '#/components/schemas/Node'}, n: {type: integer}}}}",
        );
        let found = changes(&old, &new);
        assert!(
            found.contains(&entry(
                "response 200 › next › n",
                "property-added",
                Verdict::NonBreaking
            )),
            "{found:?}"
        );
    }

    #[test]
    fn request_body_and_media_types() {
        let text = |body: &str| {
            format!(
                "openapi: 3.0.3\ninfo: {{title: T, version: '1'}}\npaths:\n  /things:\n    put:\n{body}      \
                 responses: {{'204': {{description: done}}}}\n"
            )
        };
        let none = crate::load(&text("")).unwrap();
        let json = crate::load(&text(
            "      requestBody: {required: true, content: {application/json: {schema: {type: object}}}}\n",
        ))
        .unwrap();
        let form = crate::load(&text(
            "      requestBody: {required: true, content: {application/x-www-form-urlencoded: {schema: {type: object}}}}\n",
        ))
        .unwrap();
        assert_eq!(
            changes(&none, &json),
            [entry("request body", "request-body-added", Verdict::Breaking)]
        );
        assert_eq!(
            changes(&json, &none),
            [entry("request body", "request-body-removed", Verdict::NonBreaking)]
        );
        assert_eq!(
            changes(&json, &form),
            [
                entry("request body", "media-type-removed", Verdict::Breaking),
                entry("request body", "media-type-added", Verdict::NonBreaking),
            ]
        );
    }

    #[test]
    fn dangling_references_in_hand_built_models_are_reported() {
        let old = spec(REF, OK, "{Thing: {type: string}}");
        let mut new = old.clone();
        new.components.as_mut().unwrap().schemas.clear();
        assert_eq!(
            changes(&old, &new),
            [
                entry("request body", "unresolved-reference", Verdict::Breaking),
                entry("response 200", "unresolved-reference", Verdict::Breaking),
            ]
        );
        assert!(changes(&new, &new).is_empty());
    }

    #[test]
    fn path_templates() {
        assert_eq!(normalise_path("/accounts/{accountId}/entries/{id}"), "/accounts/{}/entries/{}");
        assert_eq!(template_names("/accounts/{accountId}/entries/{id}"), ["accountId", "id"]);
        assert_eq!(template_names("/health"), Vec::<&str>::new());
    }

    #[test]
    fn security_alternatives() {
        let alternative = |entries: &[(&str, &[&str])]| -> Alternative {
            entries
                .iter()
                .map(|(scheme, scopes)| {
                    ((*scheme).to_owned(), scopes.iter().map(|s| (*s).to_owned()).collect())
                })
                .collect()
        };
        let anonymous = Alternative::new();
        let key = alternative(&[("apiKey", &[])]);
        let write = alternative(&[("oauth2", &["read", "write"])]);
        let read = alternative(&[("oauth2", &["read"])]);
        assert!(satisfies(&key, &anonymous));
        assert!(!satisfies(&anonymous, &key));
        assert!(satisfies(&write, &read));
        assert!(!satisfies(&read, &write));
        assert_eq!(
            render_security(&BTreeSet::from([key, write])),
            "`apiKey` or `oauth2 [read, write]`"
        );
        assert_eq!(render_security(&BTreeSet::from([anonymous])), "no authentication");
    }
}
