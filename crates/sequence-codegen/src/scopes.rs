//! Machine-readable permissions: the scope catalogue (`x-scopes` on the security scheme) and each
//! operation's `x-required-scope`, parsed and checked against the operation they sit on.
//!
//! Scopes used to be prose (`**Scope:**` lines in descriptions), so nothing stopped an operation
//! from forgetting its check. Declaring them lets the lint refuse an operation without one, the
//! generator enforce the declaration before the handler runs, and tests derive the permission
//! matrix from the spec. The lint ([`crate::lint`]) and the generator ([`crate::model`]) both go
//! through [`required_scope`], so they can never disagree about what a declaration means.
//!
//! ```yaml
//! components:
//!   securitySchemes:
//!     ApiKeyAuth:
//!       x-scopes:                       # every scope a key can hold
//!         - {scope: READ_ACCOUNTS, resources: ids, description: …}   # none | ids | pairs
//! paths:
//!   /accounts/{id}:
//!     get:
//!       x-required-scope:
//!         scope: READ_ACCOUNTS
//!         resource: {in: path, name: id}          # path | query | body: checked by generated code
//!   /transfers/{id}:
//!     get:
//!       x-required-scope:
//!         scope: READ_TRANSFERS
//!         resource: {in: loaded, what: …, checked-by: application}
//!   /health:
//!     get:
//!       security: []
//!       x-required-scope: public                  # unsecured operations only
//! ```

use openapiv3::{OpenAPI, Operation, Parameter, PathItem, ReferenceOr, SchemaKind, Type};
use serde_json::Value;

use crate::model::{ref_name, resolve, schema_by_name};

/// The extension on the security scheme listing every scope.
pub(crate) const CATALOGUE_KEY: &str = "x-scopes";
/// The extension on an operation declaring what it requires.
pub(crate) const REQUIRED_KEY: &str = "x-required-scope";
/// The extension on an operation marking it as not implemented yet (answers 501).
pub(crate) const NOT_IMPLEMENTED_KEY: &str = "x-not-implemented";

/// What kind of `resources` a scope takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScopeResources {
    /// All-or-nothing.
    None,
    /// A list of ids, or `*`.
    Ids,
    /// `{source, target, max_amount?}` pairs.
    Pairs,
}

impl ScopeResources {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ScopeResources::None => "none",
            ScopeResources::Ids => "ids",
            ScopeResources::Pairs => "pairs",
        }
    }
}

/// One entry of `x-scopes`.
#[derive(Debug, Clone)]
pub(crate) struct ScopeInfo {
    pub(crate) name: String,
    pub(crate) resources: ScopeResources,
    pub(crate) description: String,
}

/// Who checks a resource that generated code cannot see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckedBy {
    Handler,
    Application,
}

/// Where an operation's resource comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResourceSource {
    /// The scope takes no resources.
    None,
    /// A path parameter (checked by generated code).
    Path(String),
    /// A required query parameter (checked by generated code).
    Query(String),
    /// A required top-level string field of the JSON body (checked by generated code).
    Body(String),
    /// A transfer's source and destination body fields, and the amount a pair's `max_amount`
    /// applies to: checked by the implementation, which has the amount.
    TransferPair { source: String, destination: String, amount: String, checked_by: CheckedBy },
    /// A resource the implementation loads first (a transfer's accounts, an execution's rule).
    Loaded { what: String, checked_by: CheckedBy },
}

/// An operation's `x-required-scope`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequiredScope {
    pub(crate) scope: String,
    pub(crate) resource: ResourceSource,
}

/// The scope catalogue of the API's one `apiKey` scheme. `Ok(None)` when no scheme declares one.
pub(crate) fn catalogue(api: &OpenAPI) -> Result<Option<Vec<ScopeInfo>>, String> {
    let Some(components) = &api.components else { return Ok(None) };
    let mut found = None;
    for (name, scheme) in &components.security_schemes {
        let Some(scheme) = scheme.as_item() else { continue };
        let extensions = match scheme {
            openapiv3::SecurityScheme::APIKey { extensions, .. }
            | openapiv3::SecurityScheme::HTTP { extensions, .. }
            | openapiv3::SecurityScheme::OAuth2 { extensions, .. }
            | openapiv3::SecurityScheme::OpenIDConnect { extensions, .. } => extensions,
        };
        let Some(list) = extensions.get(CATALOGUE_KEY) else { continue };
        if found.is_some() {
            return Err(format!("only one security scheme may declare `{CATALOGUE_KEY}`"));
        }
        found = Some(parse_catalogue(name, list)?);
    }
    Ok(found)
}

fn parse_catalogue(scheme: &str, list: &Value) -> Result<Vec<ScopeInfo>, String> {
    let at = |index: usize| format!("securitySchemes.{scheme}.{CATALOGUE_KEY}[{index}]");
    let items = list
        .as_array()
        .ok_or_else(|| format!("securitySchemes.{scheme}.{CATALOGUE_KEY} must be a list"))?;
    let mut scopes: Vec<ScopeInfo> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let object = item.as_object().ok_or_else(|| format!("{}: must be an object", at(index)))?;
        for key in object.keys() {
            if !["scope", "resources", "description"].contains(&key.as_str()) {
                return Err(format!("{}: unknown key `{key}`", at(index)));
            }
        }
        let name = object
            .get("scope")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
            .ok_or_else(|| format!("{}: `scope` must be an UPPER_SNAKE_CASE string", at(index)))?;
        let resources = match object.get("resources").and_then(Value::as_str) {
            Some("none") => ScopeResources::None,
            Some("ids") => ScopeResources::Ids,
            Some("pairs") => ScopeResources::Pairs,
            _ => {
                return Err(format!("{}: `resources` must be one of none, ids, pairs", at(index)));
            }
        };
        let description = object
            .get("description")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{}: `description` must be a string", at(index)))?;
        if scopes.iter().any(|s| s.name == name) {
            return Err(format!("{}: scope `{name}` is listed twice", at(index)));
        }
        scopes.push(ScopeInfo {
            name: name.to_owned(),
            resources,
            description: description.trim().to_owned(),
        });
    }
    if scopes.is_empty() {
        return Err(format!("securitySchemes.{scheme}.{CATALOGUE_KEY} lists no scope"));
    }
    Ok(scopes)
}

/// Whether the operation is marked `x-not-implemented: true`.
pub(crate) fn not_implemented(op: &Operation) -> Result<bool, String> {
    match op.extensions.get(NOT_IMPLEMENTED_KEY) {
        None => Ok(false),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(_) => Err(format!("`{NOT_IMPLEMENTED_KEY}` must be `true` or `false`")),
    }
}

/// Parses and checks an operation's `x-required-scope` against the catalogue and the operation's
/// own parameters and body. `Ok(None)` for an unsecured operation (declared `public`).
pub(crate) fn required_scope(
    api: &OpenAPI,
    catalogue: Option<&[ScopeInfo]>,
    item: &PathItem,
    op: &Operation,
    secured: bool,
) -> Result<Option<RequiredScope>, String> {
    let declaration = op.extensions.get(REQUIRED_KEY).ok_or_else(|| {
        format!(
            "missing `{REQUIRED_KEY}`: declare the scope the operation needs (or `public` for an \
             unsecured operation)"
        )
    })?;
    if declaration.as_str() == Some("public") {
        return if secured {
            Err(format!("`{REQUIRED_KEY}: public` on a secured operation; name its scope"))
        } else {
            Ok(None)
        };
    }
    if !secured {
        return Err(format!("an unsecured operation declares `{REQUIRED_KEY}: public`"));
    }
    let object = declaration.as_object().ok_or_else(|| {
        format!("`{REQUIRED_KEY}` must be `public` or an object {{scope, resource?}}")
    })?;
    for key in object.keys() {
        if !["scope", "resource"].contains(&key.as_str()) {
            return Err(format!("`{REQUIRED_KEY}`: unknown key `{key}`"));
        }
    }
    let scope = object
        .get("scope")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("`{REQUIRED_KEY}.scope` must be a string"))?;
    let catalogue = catalogue.ok_or_else(|| {
        format!("`{REQUIRED_KEY}` needs the security scheme's `{CATALOGUE_KEY}` catalogue")
    })?;
    let info = catalogue.iter().find(|s| s.name == scope).ok_or_else(|| {
        let known: Vec<&str> = catalogue.iter().map(|s| s.name.as_str()).collect();
        format!("unknown scope `{scope}`; `{CATALOGUE_KEY}` lists {}", known.join(", "))
    })?;
    let resource = match object.get("resource") {
        None => ResourceSource::None,
        Some(resource) => parse_resource(resource)?,
    };
    match (info.resources, &resource) {
        (ScopeResources::None, ResourceSource::None) => {}
        (ScopeResources::None, _) => {
            return Err(format!(
                "scope `{scope}` takes no resources, so it declares no `resource`"
            ));
        }
        (ScopeResources::Ids, ResourceSource::None) => {
            return Err(format!(
                "scope `{scope}` takes ids: declare where the resource comes from (`resource`)"
            ));
        }
        (ScopeResources::Ids, ResourceSource::TransferPair { .. }) => {
            return Err(format!("scope `{scope}` takes ids, not transfer pairs"));
        }
        (ScopeResources::Pairs, ResourceSource::TransferPair { .. }) => {}
        (ScopeResources::Pairs, _) => {
            return Err(format!(
                "scope `{scope}` takes transfer pairs: its resource is `in: transfer-pair`"
            ));
        }
        (ScopeResources::Ids, _) => {}
    }
    check_against_operation(api, item, op, &resource)?;
    Ok(Some(RequiredScope { scope: scope.to_owned(), resource }))
}

fn parse_resource(value: &Value) -> Result<ResourceSource, String> {
    let object =
        value.as_object().ok_or_else(|| format!("`{REQUIRED_KEY}.resource` must be an object"))?;
    let field = |name: &str| -> Result<String, String> {
        object
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| format!("`{REQUIRED_KEY}.resource.{name}` must be a non-empty string"))
    };
    let only = |allowed: &[&str]| -> Result<(), String> {
        match object.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(key) => Err(format!("`{REQUIRED_KEY}.resource`: unexpected key `{key}` here")),
            None => Ok(()),
        }
    };
    let checked_by = || -> Result<CheckedBy, String> {
        match object.get("checked-by").and_then(Value::as_str) {
            Some("handler") => Ok(CheckedBy::Handler),
            Some("application") => Ok(CheckedBy::Application),
            _ => Err(format!(
                "`{REQUIRED_KEY}.resource.checked-by` must be `handler` or `application`: \
                 generated code cannot check this resource, so say who does"
            )),
        }
    };
    match object.get("in").and_then(Value::as_str) {
        Some("path") => only(&["in", "name"]).and(field("name")).map(ResourceSource::Path),
        Some("query") => only(&["in", "name"]).and(field("name")).map(ResourceSource::Query),
        Some("body") => only(&["in", "name"]).and(field("name")).map(ResourceSource::Body),
        Some("transfer-pair") => {
            only(&["in", "source", "destination", "amount", "checked-by"])?;
            Ok(ResourceSource::TransferPair {
                source: field("source")?,
                destination: field("destination")?,
                amount: field("amount")?,
                checked_by: checked_by()?,
            })
        }
        Some("loaded") => {
            only(&["in", "what", "checked-by"])?;
            Ok(ResourceSource::Loaded { what: field("what")?, checked_by: checked_by()? })
        }
        _ => Err(format!(
            "`{REQUIRED_KEY}.resource.in` must be one of path, query, body, transfer-pair, loaded"
        )),
    }
}

/// Checks that the named parameter or body field exists, is required and is a string.
fn check_against_operation(
    api: &OpenAPI,
    item: &PathItem,
    op: &Operation,
    resource: &ResourceSource,
) -> Result<(), String> {
    match resource {
        ResourceSource::None | ResourceSource::Loaded { .. } => Ok(()),
        ResourceSource::Path(name) => parameter(api, item, op, name, true),
        ResourceSource::Query(name) => parameter(api, item, op, name, false),
        ResourceSource::Body(name) => body_field(api, op, name, Some("string")),
        ResourceSource::TransferPair { source, destination, amount, .. } => {
            body_field(api, op, source, Some("string"))?;
            body_field(api, op, destination, Some("string"))?;
            body_field(api, op, amount, Some("integer"))
        }
    }
}

fn parameter(
    api: &OpenAPI,
    item: &PathItem,
    op: &Operation,
    name: &str,
    in_path: bool,
) -> Result<(), String> {
    let where_ = if in_path { "path" } else { "query" };
    for reference in op.parameters.iter().chain(&item.parameters) {
        let parameter = match reference {
            ReferenceOr::Item(p) => p,
            ReferenceOr::Reference { reference } => {
                let Some(found) = reference
                    .strip_prefix("#/components/parameters/")
                    .and_then(|n| api.components.as_ref()?.parameters.get(n))
                    .and_then(ReferenceOr::as_item)
                else {
                    continue;
                };
                found
            }
        };
        let (data, matches) = match parameter {
            Parameter::Path { parameter_data, .. } => (parameter_data, in_path),
            Parameter::Query { parameter_data, .. } => (parameter_data, !in_path),
            _ => continue,
        };
        if !matches || data.name != name {
            continue;
        }
        if !in_path && !data.required {
            return Err(format!(
                "the resource's query parameter `{name}` must be required (a missing filter \
                 would widen the check)"
            ));
        }
        return Ok(());
    }
    Err(format!("the resource names {where_} parameter `{name}`, which the operation lacks"))
}

fn body_field(api: &OpenAPI, op: &Operation, name: &str, ty: Option<&str>) -> Result<(), String> {
    let missing = || format!("the resource names body field `{name}`, which the body lacks");
    let body = match op.request_body.as_ref().ok_or_else(missing)? {
        ReferenceOr::Item(body) => body,
        ReferenceOr::Reference { reference } => reference
            .strip_prefix("#/components/requestBodies/")
            .and_then(|n| api.components.as_ref()?.request_bodies.get(n))
            .and_then(ReferenceOr::as_item)
            .ok_or_else(missing)?,
    };
    if !body.required {
        return Err(format!("body field `{name}` is a resource, so the body must be required"));
    }
    let schema = body
        .content
        .get("application/json")
        .and_then(|media| media.schema.as_ref())
        .and_then(|schema| resolve(api, schema))
        .ok_or_else(missing)?;
    let SchemaKind::Type(Type::Object(object)) = &schema.schema_kind else {
        return Err(missing());
    };
    if !object.required.iter().any(|r| r == name) {
        return Err(format!("body field `{name}` is a resource, so it must be required"));
    }
    let property = object.properties.get(name).ok_or_else(missing)?;
    let property = match property {
        ReferenceOr::Item(boxed) => Some((**boxed).clone()),
        ReferenceOr::Reference { reference } => ref_name(reference)
            .and_then(|n| schema_by_name(api, n))
            .and_then(|s| resolve(api, s))
            .cloned(),
    }
    .ok_or_else(missing)?;
    let actual = match &property.schema_kind {
        SchemaKind::Type(Type::String(_)) => "string",
        SchemaKind::Type(Type::Integer(_)) => "integer",
        _ => "other",
    };
    match ty {
        Some(expected) if expected != actual => {
            Err(format!("body field `{name}` must be of type {expected}"))
        }
        _ => Ok(()),
    }
}
