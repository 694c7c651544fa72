//! The operation model the server generator works from: every operation of the spec with its
//! parameters, body, responses and security, resolved (no `$ref` left to chase) and checked
//! against the conventions in the crate docs.

use std::collections::{BTreeMap, BTreeSet};

use heck::{ToPascalCase, ToSnakeCase};
use openapiv3::{
    OpenAPI, Parameter, ParameterSchemaOrContent, ReferenceOr, RequestBody, Response, Schema,
    SecurityScheme, StatusCode,
};

use crate::scopes::{self, RequiredScope, ScopeInfo};
use crate::{Error, Spec};

/// The whole API as the server generator sees it.
pub(crate) struct Api {
    pub(crate) operations: Vec<Operation>,
    /// Tags in spec order, with their descriptions.
    pub(crate) tags: Vec<(String, Option<String>)>,
    /// The one security scheme (name, header name), if any operation is secured.
    pub(crate) security: Option<SecuritySchemeInfo>,
    /// The shared error schema's component name.
    pub(crate) error_schema: String,
    /// Component name of the error envelope's `error` object.
    pub(crate) error_detail_schema: String,
    /// Whether the envelope's `request_id` is required (a `String`) or optional (an `Option`).
    pub(crate) error_request_id_required: bool,
    /// The error catalogue from `x-error-codes`.
    pub(crate) error_codes: Vec<ErrorCodeInfo>,
    /// `servers[0].url` when it is a path (e.g. `/api/v1`): where the server mounts the router.
    pub(crate) base_path: String,
    /// Component schemas reachable from request bodies and parameters: they get validators.
    pub(crate) validated_schemas: BTreeSet<String>,
    /// The scope catalogue (`x-scopes`), empty when no operation is secured.
    pub(crate) scopes: Vec<ScopeInfo>,
}

pub(crate) struct SecuritySchemeInfo {
    pub(crate) name: String,
    pub(crate) header: String,
    pub(crate) description: Option<String>,
}

pub(crate) struct ErrorCodeInfo {
    pub(crate) code: String,
    pub(crate) status: u16,
    pub(crate) description: String,
}

pub(crate) struct Operation {
    pub(crate) id: String,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) tag: String,
    pub(crate) summary: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) params: Vec<Param>,
    pub(crate) body: Option<Body>,
    pub(crate) success_status: u16,
    /// Component name of the success body, if the success response has one.
    pub(crate) success_schema: Option<String>,
    pub(crate) error_statuses: Vec<u16>,
    pub(crate) secured: bool,
    /// `x-required-scope` (`None` for an unsecured operation).
    pub(crate) required_scope: Option<RequiredScope>,
    /// `x-not-implemented: true`: the trait method gets a default body answering 501.
    pub(crate) not_implemented: bool,
}

impl Operation {
    pub(crate) fn snake(&self) -> String {
        self.id.to_snake_case()
    }
    pub(crate) fn pascal(&self) -> String {
        self.id.to_pascal_case()
    }
    pub(crate) fn location(&self) -> String {
        format!("{} {}", self.method.to_uppercase(), self.path)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ParamLocation {
    Path,
    Query,
    Header,
}

pub(crate) struct Param {
    pub(crate) name: String,
    pub(crate) location: ParamLocation,
    pub(crate) required: bool,
    pub(crate) description: Option<String>,
    pub(crate) schema: ReferenceOr<Schema>,
    /// Name of the typify type progenitor made for this parameter, if it made one.
    pub(crate) type_name: Option<String>,
}

impl Param {
    pub(crate) fn field(&self) -> String {
        let snake = self.name.to_snake_case();
        if syn::parse_str::<syn::Ident>(&snake).is_ok() { snake } else { format!("{snake}_") }
    }
}

pub(crate) struct Body {
    pub(crate) schema: String,
    pub(crate) required: bool,
}

impl Api {
    pub(crate) fn from_spec(spec: &Spec, type_names: &BTreeSet<String>) -> Result<Api, Error> {
        let api = spec.api();
        let unsupported = |location: &str, message: String| Error::Unsupported {
            location: location.to_owned(),
            message,
        };

        let catalogue =
            scopes::catalogue(api).map_err(|m| unsupported("components.securitySchemes", m))?;
        let mut operations = Vec::new();
        let mut error_schemas = BTreeSet::new();
        for (path, item) in api.paths.iter() {
            let item = item
                .as_item()
                .ok_or_else(|| unsupported(path, "`$ref` path items are not supported".into()))?;
            for (method, op) in item.iter() {
                let location = format!("{} {}", method.to_uppercase(), path);
                let id = op
                    .operation_id
                    .clone()
                    .ok_or_else(|| unsupported(&location, "missing operationId".into()))?;
                let tag = match op.tags.as_slice() {
                    [tag] => tag.clone(),
                    _ => return Err(unsupported(&location, "needs exactly one tag".into())),
                };

                // Path-level parameters first, then operation-level ones override by (name, in).
                let mut params: BTreeMap<(ParamLocation, String), Param> = BTreeMap::new();
                for p in item.parameters.iter().chain(&op.parameters) {
                    let param = resolve_param(api, p, &id, type_names)
                        .map_err(|m| unsupported(&location, m))?;
                    params.insert((param.location, param.name.to_lowercase()), param);
                }

                let body = match &op.request_body {
                    None => None,
                    Some(body) => {
                        Some(resolve_body(api, body).map_err(|m| unsupported(&location, m))?)
                    }
                };

                let mut success = Vec::new();
                let mut error_statuses = Vec::new();
                for (status, response) in &op.responses.responses {
                    let StatusCode::Code(code) = status else {
                        return Err(unsupported(
                            &location,
                            "status ranges are not supported".into(),
                        ));
                    };
                    let schema =
                        response_schema(api, response).map_err(|m| unsupported(&location, m))?;
                    if *code < 400 {
                        success.push((*code, schema));
                    } else {
                        let schema = schema.ok_or_else(|| {
                            unsupported(
                                &location,
                                format!("error response {code} has no JSON body"),
                            )
                        })?;
                        error_schemas.insert(schema);
                        error_statuses.push(*code);
                    }
                }
                if op.responses.default.is_some() {
                    return Err(unsupported(
                        &location,
                        "`default` responses are not supported; list status codes".into(),
                    ));
                }
                let (success_status, success_schema) = match success.as_slice() {
                    [one] => one.clone(),
                    _ => {
                        return Err(unsupported(
                            &location,
                            "needs exactly one success (1xx-3xx) response".into(),
                        ));
                    }
                };
                let secured = !op
                    .security
                    .as_ref()
                    .or(api.security.as_ref())
                    .is_none_or(|reqs| reqs.is_empty() || reqs.iter().all(|r| r.is_empty()));

                let required_scope =
                    scopes::required_scope(api, catalogue.as_deref(), item, op, secured)
                        .map_err(|m| unsupported(&location, m))?;
                let not_implemented =
                    scopes::not_implemented(op).map_err(|m| unsupported(&location, m))?;
                if required_scope.is_some() && !error_statuses.contains(&403) {
                    return Err(unsupported(&location, "requires a scope but lacks 403".into()));
                }
                if not_implemented && !error_statuses.contains(&501) {
                    return Err(unsupported(
                        &location,
                        "is marked `x-not-implemented` but lacks 501".into(),
                    ));
                }

                operations.push(Operation {
                    id,
                    method: method.to_owned(),
                    path: path.clone(),
                    tag,
                    summary: op.summary.clone(),
                    description: op.description.clone(),
                    params: params.into_values().collect(),
                    body,
                    success_status,
                    success_schema,
                    error_statuses,
                    secured,
                    required_scope,
                    not_implemented,
                });
            }
        }

        let mut seen = BTreeSet::new();
        for op in &operations {
            if !seen.insert(op.id.to_snake_case()) {
                return Err(unsupported(
                    &op.location(),
                    format!("operationId `{}` is not unique", op.id),
                ));
            }
        }

        let error_schema = match error_schemas.len() {
            0 => {
                return Err(unsupported(
                    "responses",
                    "no operation declares an error response".into(),
                ));
            }
            1 => error_schemas.into_iter().next().unwrap_or_default(),
            _ => {
                return Err(unsupported(
                    "responses",
                    format!("every error response must share one schema, found {error_schemas:?}"),
                ));
            }
        };
        let (error_detail_schema, error_codes, error_request_id_required) =
            error_catalogue(api, &error_schema).map_err(|m| unsupported(&error_schema, m))?;

        let security = if operations.iter().any(|o| o.secured) {
            Some(security_scheme(api).map_err(|m| unsupported("components.securitySchemes", m))?)
        } else {
            None
        };

        let mut tags: Vec<(String, Option<String>)> =
            api.tags.iter().map(|t| (t.name.clone(), t.description.clone())).collect();
        for op in &operations {
            if !tags.iter().any(|(name, _)| name == &op.tag) {
                tags.push((op.tag.clone(), None));
            }
        }
        // A trait per tag that has operations to serve: a tag used only outside `paths` (the
        // `Webhooks` tag of `x-webhooks`, requests the server sends) gets none.
        tags.retain(|(name, _)| operations.iter().any(|op| &op.tag == name));

        let base_path = api
            .servers
            .first()
            .map(|s| s.url.clone())
            .filter(|url| url.starts_with('/'))
            .map(|url| url.trim_end_matches('/').to_owned())
            .unwrap_or_default();

        let mut validated_schemas = BTreeSet::new();
        for op in &operations {
            if let Some(body) = &op.body {
                collect_refs_named(api, &body.schema, &mut validated_schemas);
            }
            for param in &op.params {
                collect_refs(api, &param.schema, &mut validated_schemas);
            }
        }

        Ok(Api {
            operations,
            tags,
            security,
            error_schema,
            error_detail_schema,
            error_request_id_required,
            error_codes,
            base_path,
            validated_schemas,
            scopes: catalogue.unwrap_or_default(),
        })
    }
}

pub(crate) fn ref_name(reference: &str) -> Option<&str> {
    reference.strip_prefix("#/components/schemas/")
}

pub(crate) fn schema_by_name<'a>(api: &'a OpenAPI, name: &str) -> Option<&'a ReferenceOr<Schema>> {
    api.components.as_ref()?.schemas.get(name)
}

/// Follows `$ref`s until a schema is found.
pub(crate) fn resolve<'a>(
    api: &'a OpenAPI,
    mut schema: &'a ReferenceOr<Schema>,
) -> Option<&'a Schema> {
    for _ in 0..32 {
        match schema {
            ReferenceOr::Item(s) => return Some(s),
            ReferenceOr::Reference { reference } => {
                schema = schema_by_name(api, ref_name(reference)?)?
            }
        }
    }
    None
}

fn resolve_param(
    api: &OpenAPI,
    param: &ReferenceOr<Parameter>,
    operation_id: &str,
    type_names: &BTreeSet<String>,
) -> Result<Param, String> {
    let param = match param {
        ReferenceOr::Item(p) => p,
        ReferenceOr::Reference { reference } => {
            let name = reference
                .strip_prefix("#/components/parameters/")
                .ok_or_else(|| format!("unsupported parameter reference {reference}"))?;
            api.components
                .as_ref()
                .and_then(|c| c.parameters.get(name))
                .and_then(|p| p.as_item())
                .ok_or_else(|| format!("unknown parameter {reference}"))?
        }
    };
    let (data, location) = match param {
        Parameter::Path { parameter_data, .. } => (parameter_data, ParamLocation::Path),
        Parameter::Query { parameter_data, .. } => (parameter_data, ParamLocation::Query),
        Parameter::Header { parameter_data, .. } => (parameter_data, ParamLocation::Header),
        Parameter::Cookie { parameter_data, .. } => {
            return Err(format!("cookie parameter `{}` is not supported", parameter_data.name));
        }
    };
    let ParameterSchemaOrContent::Schema(schema) = &data.format else {
        return Err(format!("parameter `{}` must use `schema`, not `content`", data.name));
    };
    if let Some(resolved) = resolve(api, schema)
        && matches!(
            resolved.schema_kind,
            openapiv3::SchemaKind::Type(openapiv3::Type::Array(_))
                | openapiv3::SchemaKind::Type(openapiv3::Type::Object(_))
        )
    {
        return Err(format!(
            "parameter `{}`: array and object parameters are not supported",
            data.name
        ));
    }
    // progenitor names the type of an inline parameter schema "<operationId>-<name>" in
    // PascalCase; a `$ref` keeps its component's name. Look the name up rather than guess.
    let inline_name = format!("{operation_id}-{}", data.name).to_pascal_case();
    let type_name = match schema {
        ReferenceOr::Reference { reference } => ref_name(reference).map(str::to_owned),
        ReferenceOr::Item(_) => Some(inline_name),
    }
    .filter(|name| type_names.contains(name));
    Ok(Param {
        name: data.name.clone(),
        location,
        required: data.required || location == ParamLocation::Path,
        description: data.description.clone(),
        schema: schema.clone(),
        type_name,
    })
}

fn resolve_body(api: &OpenAPI, body: &ReferenceOr<RequestBody>) -> Result<Body, String> {
    let body = match body {
        ReferenceOr::Item(b) => b,
        ReferenceOr::Reference { reference } => {
            let name = reference.strip_prefix("#/components/requestBodies/").unwrap_or_default();
            api.components
                .as_ref()
                .and_then(|c| c.request_bodies.get(name))
                .and_then(|b| b.as_item())
                .ok_or_else(|| format!("unknown request body {reference}"))?
        }
    };
    if body.content.len() != 1 {
        return Err("a request body needs exactly one content type".into());
    }
    let media =
        body.content.get("application/json").ok_or("request bodies must be application/json")?;
    let schema = match &media.schema {
        Some(ReferenceOr::Reference { reference }) => ref_name(reference).map(str::to_owned),
        _ => None,
    }
    .ok_or("a request body schema must be a `$ref` to a component schema")?;
    Ok(Body { schema, required: body.required })
}

fn response_schema(
    api: &OpenAPI,
    response: &ReferenceOr<Response>,
) -> Result<Option<String>, String> {
    let response = match response {
        ReferenceOr::Item(r) => r,
        ReferenceOr::Reference { reference } => {
            let name = reference.strip_prefix("#/components/responses/").unwrap_or_default();
            api.components
                .as_ref()
                .and_then(|c| c.responses.get(name))
                .and_then(|r| r.as_item())
                .ok_or_else(|| format!("unknown response {reference}"))?
        }
    };
    if response.content.is_empty() {
        return Ok(None);
    }
    let media =
        response.content.get("application/json").ok_or("responses must be application/json")?;
    match &media.schema {
        Some(ReferenceOr::Reference { reference }) => Ok(ref_name(reference).map(str::to_owned)),
        _ => Err("a response schema must be a `$ref` to a component schema".into()),
    }
}

fn security_scheme(api: &OpenAPI) -> Result<SecuritySchemeInfo, String> {
    let schemes =
        api.components.as_ref().map(|c| &c.security_schemes).ok_or("no security schemes")?;
    let mut found = None;
    for (name, scheme) in schemes {
        let scheme = scheme.as_item().ok_or("security scheme references are not supported")?;
        match scheme {
            SecurityScheme::APIKey {
                location: openapiv3::APIKeyLocation::Header,
                name: header,
                description,
                ..
            } => {
                if found.is_some() {
                    return Err("only one security scheme is supported".into());
                }
                found = Some(SecuritySchemeInfo {
                    name: name.clone(),
                    header: header.clone(),
                    description: description.clone(),
                });
            }
            _ => {
                return Err(format!(
                    "security scheme `{name}`: only apiKey-in-header is supported"
                ));
            }
        }
    }
    found.ok_or_else(|| "operations are secured but no apiKey scheme is defined".into())
}

/// Reads `x-error-codes` from the error envelope's `error.code` property and checks the envelope's
/// shape, which generated code constructs directly. `request_id` may be required or optional
/// (the server always fills it; an optional one lets clients decode errors that lack it).
fn error_catalogue(
    api: &OpenAPI,
    error_schema: &str,
) -> Result<(String, Vec<ErrorCodeInfo>, bool), String> {
    let shape =
        "the error schema must be {error: {code: string, message: string}, request_id: string}";
    let envelope = schema_by_name(api, error_schema).and_then(|s| resolve(api, s)).ok_or(shape)?;
    let openapiv3::SchemaKind::Type(openapiv3::Type::Object(envelope)) = &envelope.schema_kind
    else {
        return Err(shape.into());
    };
    if !envelope.properties.contains_key("request_id") {
        return Err(shape.into());
    }
    let detail_name = match envelope.properties.get("error") {
        Some(ReferenceOr::Reference { reference }) => ref_name(reference).ok_or(shape)?,
        _ => return Err(format!("{shape}, with `error` a `$ref` to a component schema")),
    };
    let detail = schema_by_name(api, detail_name).and_then(|s| resolve(api, s)).ok_or(shape)?;
    let openapiv3::SchemaKind::Type(openapiv3::Type::Object(detail)) = &detail.schema_kind else {
        return Err(shape.into());
    };
    if !detail.properties.contains_key("message") {
        return Err(shape.into());
    }
    let code = detail.properties.get("code").and_then(|c| c.as_item()).ok_or(shape)?;
    let list = code
        .schema_data
        .extensions
        .get("x-error-codes")
        .and_then(|v| v.as_array())
        .ok_or("`error.code` needs an `x-error-codes` list of {code, status, description}")?;
    let mut codes = Vec::new();
    for (index, entry) in list.iter().enumerate() {
        let field =
            |name: &str| entry.get(name).ok_or(format!("x-error-codes[{index}] lacks `{name}`"));
        let code = field("code")?
            .as_str()
            .ok_or(format!("x-error-codes[{index}].code must be a string"))?;
        let status = field("status")?
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .filter(|s| (400..600).contains(s))
            .ok_or(format!("x-error-codes[{index}].status must be a 4xx/5xx status"))?;
        let description = field("description")?
            .as_str()
            .ok_or(format!("x-error-codes[{index}].description must be a string"))?;
        if codes.iter().any(|c: &ErrorCodeInfo| c.code == code) {
            return Err(format!("x-error-codes lists `{code}` twice"));
        }
        codes.push(ErrorCodeInfo {
            code: code.to_owned(),
            status,
            description: description.to_owned(),
        });
    }
    let request_id_required = envelope.required.iter().any(|r| r == "request_id");
    Ok((detail_name.to_owned(), codes, request_id_required))
}

fn collect_refs_named(api: &OpenAPI, name: &str, out: &mut BTreeSet<String>) {
    if !out.insert(name.to_owned()) {
        return;
    }
    if let Some(schema) = schema_by_name(api, name) {
        collect_refs(api, schema, out);
    }
}

/// Every component schema reachable from `schema`.
pub(crate) fn collect_refs(
    api: &OpenAPI,
    schema: &ReferenceOr<Schema>,
    out: &mut BTreeSet<String>,
) {
    use openapiv3::{SchemaKind, Type};
    let schema = match schema {
        ReferenceOr::Reference { reference } => {
            if let Some(name) = ref_name(reference) {
                collect_refs_named(api, name, out);
            }
            return;
        }
        ReferenceOr::Item(s) => s,
    };
    let boxed = |s: &ReferenceOr<Box<Schema>>| match s {
        ReferenceOr::Reference { reference } => {
            ReferenceOr::Reference { reference: reference.clone() }
        }
        ReferenceOr::Item(b) => ReferenceOr::Item((**b).clone()),
    };
    match &schema.schema_kind {
        SchemaKind::Type(Type::Object(o)) => {
            for p in o.properties.values() {
                collect_refs(api, &boxed(p), out);
            }
            if let Some(openapiv3::AdditionalProperties::Schema(s)) = &o.additional_properties {
                collect_refs(api, s, out);
            }
        }
        SchemaKind::Type(Type::Array(a)) => {
            if let Some(items) = &a.items {
                collect_refs(api, &boxed(items), out);
            }
        }
        SchemaKind::AllOf { all_of: list }
        | SchemaKind::OneOf { one_of: list }
        | SchemaKind::AnyOf { any_of: list } => {
            for s in list {
                collect_refs(api, s, out);
            }
        }
        _ => {}
    }
}
