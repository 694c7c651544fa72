//! Spec lint: the conventions the generator relies on, plus mistakes a parser would let through.
//!
//! Run by a `#[test]` over the project's `openapi.yaml` (see `xtask`) and by
//! `cargo xtask codegen`. Each finding names its location in the spec:
//! - keys the OpenAPI model silently drops (typos such as `requried`), see [`Spec::dropped_keys`];
//! - operations without an `operationId`, with a duplicate one, or without exactly one declared tag;
//! - operations without error responses, error responses not using the shared error schema,
//!   secured operations that do not declare 401;
//! - permissions ([`crate::scopes`]): an operation without `x-required-scope`, a scope missing
//!   from the `x-scopes` catalogue, a resource that does not fit its scope or names a parameter or
//!   body field the operation lacks (or does not require), a scoped operation without 403, and an
//!   `x-not-implemented` operation without 501;
//! - examples (media-type and schema-level) that do not validate against their schema.

use std::collections::BTreeSet;

use openapiv3::{OpenAPI, ReferenceOr, Schema, SchemaKind, StatusCode, Type};
use serde_json::Value;

use crate::model::{ref_name, resolve};
use crate::{Spec, scopes};

/// One problem found in the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Where (e.g. `POST /transfers` or `/components/schemas/Transfer/requried`).
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Lints `spec`; an empty result means it is clean.
pub fn lint(spec: &Spec) -> Vec<Finding> {
    let api = spec.api();
    let mut findings = Vec::new();
    let mut push = |location: String, message: String| findings.push(Finding { location, message });

    for key in spec.dropped_keys() {
        push(key, "not an OpenAPI 3.0 key here: the parser drops it (typo?)".to_owned());
    }

    let catalogue = match scopes::catalogue(api) {
        Ok(catalogue) => catalogue,
        Err(message) => {
            push("components.securitySchemes".to_owned(), message);
            None
        }
    };
    let declared_tags: BTreeSet<&str> = api.tags.iter().map(|t| t.name.as_str()).collect();
    let mut ids = BTreeSet::new();
    let mut error_schemas = BTreeSet::new();
    for (path, item) in api.paths.iter() {
        let Some(item) = item.as_item() else {
            push(path.clone(), "`$ref` path items are not supported".to_owned());
            continue;
        };
        for (method, op) in item.iter() {
            let location = format!("{} {}", method.to_uppercase(), path);
            match &op.operation_id {
                None => push(location.clone(), "missing operationId".to_owned()),
                Some(id) if !ids.insert(id.clone()) => {
                    push(location.clone(), format!("duplicate operationId `{id}`"))
                }
                Some(_) => {}
            }
            match op.tags.as_slice() {
                [tag] if declared_tags.contains(tag.as_str()) => {}
                [tag] => push(
                    location.clone(),
                    format!("tag `{tag}` is not declared in the top-level `tags`"),
                ),
                _ => {
                    push(location.clone(), format!("needs exactly one tag, has {}", op.tags.len()))
                }
            }
            if op.summary.as_deref().is_none_or(str::is_empty) {
                push(location.clone(), "missing summary".to_owned());
            }
            let mut has_error = false;
            let mut has_401 = false;
            for (status, response) in &op.responses.responses {
                let StatusCode::Code(code) = status else { continue };
                if *code >= 400 {
                    has_error = true;
                    has_401 |= *code == 401;
                    match response_schema_name(api, response) {
                        Some(name) => {
                            error_schemas.insert(name);
                        }
                        None => push(
                            location.clone(),
                            format!("error response {code} must use the shared error schema"),
                        ),
                    }
                }
            }
            if op.responses.default.is_some() {
                push(
                    location.clone(),
                    "`default` responses are not allowed; list status codes".to_owned(),
                );
            }
            if !has_error {
                push(location.clone(), "declares no error response".to_owned());
            }
            let secured = op
                .security
                .as_ref()
                .or(api.security.as_ref())
                .is_some_and(|reqs| reqs.iter().any(|r| !r.is_empty()));
            if secured && !has_401 {
                push(location.clone(), "is secured but does not declare 401".to_owned());
            }
            let declares =
                |status: u16| op.responses.responses.contains_key(&StatusCode::Code(status));
            match scopes::required_scope(api, catalogue.as_deref(), item, op, secured) {
                Err(message) => push(location.clone(), message),
                Ok(Some(_)) if !declares(403) => push(
                    location.clone(),
                    "requires a scope but does not declare 403 (the answer when the key lacks it)"
                        .to_owned(),
                ),
                Ok(_) => {}
            }
            match scopes::not_implemented(op) {
                Err(message) => push(location.clone(), message),
                Ok(true) if !declares(501) => push(
                    location.clone(),
                    "is marked `x-not-implemented` but does not declare 501".to_owned(),
                ),
                Ok(_) => {}
            }
            for (status, response) in &op.responses.responses {
                if let Some(response) = resolve_response(api, response) {
                    for (media_type, media) in &response.content {
                        if let (Some(example), Some(schema)) = (&media.example, &media.schema) {
                            for problem in validate(api, schema, example, "") {
                                push(
                                    format!("{location} › {status} {media_type} example"),
                                    problem,
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    if error_schemas.len() > 1 {
        push(
            "responses".to_owned(),
            format!("error responses use several schemas: {error_schemas:?}"),
        );
    }
    if let Some(components) = &api.components {
        for (name, schema) in &components.schemas {
            if let ReferenceOr::Item(schema) = schema {
                check_schema_examples(
                    api,
                    schema,
                    &format!("/components/schemas/{name}"),
                    &mut findings,
                );
            }
        }
    }
    findings
}

fn resolve_response<'a>(
    api: &'a OpenAPI,
    response: &'a ReferenceOr<openapiv3::Response>,
) -> Option<&'a openapiv3::Response> {
    match response {
        ReferenceOr::Item(r) => Some(r),
        ReferenceOr::Reference { reference } => {
            let name = reference.strip_prefix("#/components/responses/")?;
            api.components.as_ref()?.responses.get(name)?.as_item()
        }
    }
}

fn response_schema_name(
    api: &OpenAPI,
    response: &ReferenceOr<openapiv3::Response>,
) -> Option<String> {
    let media = resolve_response(api, response)?.content.get("application/json")?;
    match media.schema.as_ref()? {
        ReferenceOr::Reference { reference } => ref_name(reference).map(str::to_owned),
        ReferenceOr::Item(_) => None,
    }
}

fn check_schema_examples(
    api: &OpenAPI,
    schema: &Schema,
    location: &str,
    findings: &mut Vec<Finding>,
) {
    if let Some(example) = &schema.schema_data.example {
        for problem in validate(api, &ReferenceOr::Item(schema.clone()), example, "") {
            findings.push(Finding { location: format!("{location}/example"), message: problem });
        }
    }
    if let SchemaKind::Type(Type::Object(object)) = &schema.schema_kind {
        for (name, property) in &object.properties {
            if let ReferenceOr::Item(property) = property {
                check_schema_examples(
                    api,
                    property,
                    &format!("{location}/properties/{name}"),
                    findings,
                );
            }
        }
    }
}

fn unbox(schema: &ReferenceOr<Box<Schema>>) -> ReferenceOr<Schema> {
    match schema {
        ReferenceOr::Reference { reference } => {
            ReferenceOr::Reference { reference: reference.clone() }
        }
        ReferenceOr::Item(b) => ReferenceOr::Item((**b).clone()),
    }
}

fn at(path: &str) -> String {
    if path.is_empty() { "(root)".to_owned() } else { path.to_owned() }
}

/// Checks `value` against `schema`, returning every violation found (an interpreter, used for
/// examples; the generated server validators are compiled from the same rules).
pub fn validate(
    api: &OpenAPI,
    schema: &ReferenceOr<Schema>,
    value: &Value,
    path: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    validate_into(api, schema, value, path, &mut problems, 0);
    problems
}

fn validate_into(
    api: &OpenAPI,
    schema: &ReferenceOr<Schema>,
    value: &Value,
    path: &str,
    out: &mut Vec<String>,
    depth: usize,
) {
    if depth > 64 {
        out.push(format!("{}: schema nesting too deep", at(path)));
        return;
    }
    let Some(schema) = resolve(api, schema) else {
        out.push(format!("{}: unresolvable schema reference", at(path)));
        return;
    };
    if value.is_null() {
        if !schema.schema_data.nullable && !matches!(schema.schema_kind, SchemaKind::Any(_)) {
            out.push(format!("{}: null but the schema is not nullable", at(path)));
        }
        return;
    }
    match &schema.schema_kind {
        SchemaKind::Type(Type::String(s)) => {
            let Some(text) = value.as_str() else {
                out.push(format!("{}: expected a string", at(path)));
                return;
            };
            let allowed: Vec<&String> = s.enumeration.iter().flatten().collect();
            if !allowed.is_empty() && !allowed.iter().any(|a| *a == text) {
                out.push(format!("{}: {text:?} is not one of {allowed:?}", at(path)));
            }
            let len = text.chars().count();
            if s.min_length.is_some_and(|min| len < min)
                || s.max_length.is_some_and(|max| len > max)
            {
                out.push(format!(
                    "{}: length {len} outside {:?}..{:?}",
                    at(path),
                    s.min_length,
                    s.max_length
                ));
            }
            if let Some(pattern) = &s.pattern {
                match regress::Regex::new(pattern) {
                    Ok(re) if re.find(text).is_none() => {
                        out.push(format!("{}: {text:?} does not match {pattern}", at(path)))
                    }
                    Ok(_) => {}
                    Err(e) => {
                        out.push(format!("{}: pattern {pattern:?} does not compile: {e}", at(path)))
                    }
                }
            }
            use openapiv3::{StringFormat, VariantOrUnknownOrEmpty};
            match &s.format {
                VariantOrUnknownOrEmpty::Item(StringFormat::DateTime)
                    if chrono::DateTime::parse_from_rfc3339(text).is_err() =>
                {
                    out.push(format!("{}: {text:?} is not an RFC 3339 date-time", at(path)));
                }
                VariantOrUnknownOrEmpty::Item(StringFormat::Date)
                    if chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_err() =>
                {
                    out.push(format!("{}: {text:?} is not a YYYY-MM-DD date", at(path)));
                }
                _ => {}
            }
        }
        SchemaKind::Type(Type::Integer(i)) => match value.as_i64() {
            None => out.push(format!("{}: expected an integer", at(path))),
            Some(n) => {
                let low =
                    i.minimum.is_some_and(|m| if i.exclusive_minimum { n <= m } else { n < m });
                let high =
                    i.maximum.is_some_and(|m| if i.exclusive_maximum { n >= m } else { n > m });
                if low || high {
                    out.push(format!("{}: {n} outside {:?}..{:?}", at(path), i.minimum, i.maximum));
                }
            }
        },
        SchemaKind::Type(Type::Number(num)) => match value.as_f64() {
            None => out.push(format!("{}: expected a number", at(path))),
            Some(n) => {
                if num.minimum.is_some_and(|m| n < m) || num.maximum.is_some_and(|m| n > m) {
                    out.push(format!(
                        "{}: {n} outside {:?}..{:?}",
                        at(path),
                        num.minimum,
                        num.maximum
                    ));
                }
            }
        },
        SchemaKind::Type(Type::Boolean(_)) => {
            if !value.is_boolean() {
                out.push(format!("{}: expected a boolean", at(path)));
            }
        }
        SchemaKind::Type(Type::Array(a)) => {
            let Some(items) = value.as_array() else {
                out.push(format!("{}: expected an array", at(path)));
                return;
            };
            if a.min_items.is_some_and(|m| items.len() < m)
                || a.max_items.is_some_and(|m| items.len() > m)
            {
                out.push(format!(
                    "{}: {} items outside {:?}..{:?}",
                    at(path),
                    items.len(),
                    a.min_items,
                    a.max_items
                ));
            }
            if let Some(item_schema) = &a.items {
                let item_schema = unbox(item_schema);
                for (index, item) in items.iter().enumerate() {
                    validate_into(
                        api,
                        &item_schema,
                        item,
                        &format!("{path}[{index}]"),
                        out,
                        depth + 1,
                    );
                }
            }
        }
        SchemaKind::Type(Type::Object(o)) => {
            let Some(map) = value.as_object() else {
                out.push(format!("{}: expected an object", at(path)));
                return;
            };
            for required in &o.required {
                if !map.contains_key(required) {
                    out.push(format!("{}: missing required field `{required}`", at(path)));
                }
            }
            for (key, field) in map {
                let field_path =
                    if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                match o.properties.get(key) {
                    Some(property) => {
                        validate_into(api, &unbox(property), field, &field_path, out, depth + 1)
                    }
                    None => match &o.additional_properties {
                        Some(openapiv3::AdditionalProperties::Any(false)) => {
                            out.push(format!("{}: unknown field `{key}`", at(path)));
                        }
                        Some(openapiv3::AdditionalProperties::Schema(s)) => {
                            validate_into(api, s, field, &field_path, out, depth + 1);
                        }
                        _ => {}
                    },
                }
            }
        }
        SchemaKind::AllOf { all_of } => {
            for s in all_of {
                validate_into(api, s, value, path, out, depth + 1);
            }
        }
        SchemaKind::OneOf { one_of } => {
            let matching =
                one_of.iter().filter(|s| validate(api, s, value, path).is_empty()).count();
            if matching != 1 {
                out.push(format!(
                    "{}: matches {matching} of the oneOf alternatives, not exactly one",
                    at(path)
                ));
            }
        }
        SchemaKind::AnyOf { any_of } => {
            if !any_of.iter().any(|s| validate(api, s, value, path).is_empty()) {
                out.push(format!("{}: matches none of the anyOf alternatives", at(path)));
            }
        }
        SchemaKind::Not { .. } | SchemaKind::Any(_) => {}
    }
}
