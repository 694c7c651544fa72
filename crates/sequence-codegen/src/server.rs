//! Generates the server contract: per-operation parameter structs and response enums, one trait
//! per tag, the error catalogue, input validators, and an axum router whose handlers authenticate,
//! validate and only then call the trait.
//!
//! Design choices (see ARCHITECTURE.md):
//! - **A request object per operation** (`CreateTransferParams`): adding an optional parameter to
//!   the spec does not change every implementation's signature.
//! - **A response enum per operation** with one variant per declared status: an implementation
//!   cannot answer with a status the spec does not declare, and a new status is a compile error.
//! - **Security is resolved before the trait is called**: the implementor supplies one
//!   `authenticate_*` hook per scheme, and operations receive the authenticated principal in their
//!   `RequestContext`. Handlers never parse credentials.
//! - **Invalid input never reaches the implementation**: it is answered with the spec's error
//!   envelope (status 400/413/415) by generated code.
//! - **Permissions are enforced from the declaration**: after validation, the router calls the
//!   security hook's `authorize` with the operation's `x-required-scope` scope and, when the
//!   resource is a path parameter, a required query filter or a body field, the id as given. An
//!   implementation cannot forget the check, and the spec is the only list of who may call what.
//!   Resources only the implementation can resolve (`transfer-pair`, `loaded`) get the scope check
//!   here and are declared `checked-by` the handler or the application layer.
//! - **The operation is in the context**: `RequestContext::operation` is the operation's row of
//!   `OPERATIONS` (method, path template, `operationId`, scope) and `RequestContext::path` the
//!   concrete path, so implementations never retype them (idempotency fingerprints, logs).
//! - **No silent 501**: trait methods have no default body, so an operation added to the spec
//!   does not compile until it is implemented, except operations the spec marks
//!   `x-not-implemented: true`, which answer `501` by default.

use std::collections::BTreeMap;

use heck::{ToPascalCase, ToSnakeCase};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::model::{Api, Operation, ParamLocation};
use crate::scopes::{CheckedBy, ResourceSource};
use crate::validator::{ValidatorGen, scalar_kind};
use crate::{Error, Spec};

pub(crate) fn generate(
    api: &Api,
    spec: &Spec,
    type_names: &std::collections::BTreeSet<String>,
) -> Result<TokenStream, Error> {
    let openapi = spec.api();
    let mut validators = ValidatorGen::default();
    let unsupported = |location: &str, message: String| Error::Unsupported {
        location: location.to_owned(),
        message,
    };

    let mut schema_fns = Vec::new();
    for name in &api.validated_schemas {
        let schema = crate::model::schema_by_name(openapi, name)
            .ok_or_else(|| unsupported(name, "unknown schema".into()))?;
        schema_fns.push(validators.component_fn(name, schema).map_err(|m| unsupported(name, m))?);
    }

    let mut op_items = Vec::new();
    let answers_501 = api.error_codes.iter().any(|c| c.status == 501);
    for op in &api.operations {
        if op.not_implemented && !answers_501 {
            return Err(unsupported(
                &op.location(),
                "is marked `x-not-implemented` but `x-error-codes` has no 501 code".into(),
            ));
        }
        op_items.push(
            operation_items(api, op, &mut validators, openapi)
                .map_err(|m| unsupported(&op.location(), m))?,
        );
    }
    let pattern_statics = validators.pattern_statics();

    let error_code = error_code_enum(api);
    let error_body = error_body_fn(api);
    let scope_enum = scope_enum(api);
    let security = security_trait(api);
    let traits =
        api.tags.iter().map(|(tag, description)| tag_trait(api, tag, description.as_deref()));
    let router = router_fn(api);
    let operations_table = operations_table(api);
    let (to_schema_impls, components) = crate::code_doc::component_schemas(openapi, type_names);
    let code_doc =
        crate::code_doc::openapi_fn(api, &openapi.info.title, &openapi.info.version, components);
    let base_path = &api.base_path;

    Ok(quote! {
        //! The server contract generated from the spec: wire types live in [`super::types`].
        #![allow(clippy::all, clippy::pedantic, unused_imports, unused_variables, dead_code, missing_docs)]

        use std::future::Future;
        use std::sync::Arc;

        use axum::extract::rejection::{BytesRejection, RawPathParamsRejection};
        use axum::extract::{FromRequest, RawPathParams, Request, State};
        use axum::http::{Extensions, HeaderMap, StatusCode, Uri};
        use axum::response::{IntoResponse, Response};
        use axum::routing::MethodFilter;
        use axum::body::Bytes;

        use super::types;
        use crate::runtime::{self, InputError, Problem, RequestContext, Violation};

        /// Where the router is meant to be mounted: the path of the spec's first server URL.
        pub const BASE_PATH: &str = #base_path;

        #error_code
        #error_body
        #scope_enum
        #security
        #(#traits)*
        #(#op_items)*
        #router
        #operations_table
        #code_doc
        #(#to_schema_impls)*
        #(#schema_fns)*
        #pattern_statics
    })
}

fn doc_lines(parts: &[Option<&str>]) -> TokenStream {
    let text = parts
        .iter()
        .flatten()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    let lines = text.lines().map(|l| format!(" {l}"));
    quote!(#(#[doc = #lines])*)
}

fn status_variant(status: u16) -> proc_macro2::Ident {
    let name = match status {
        200 => "Ok",
        201 => "Created",
        202 => "Accepted",
        204 => "NoContent",
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        408 => "RequestTimeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "PayloadTooLarge",
        415 => "UnsupportedMediaType",
        422 => "UnprocessableEntity",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        501 => "NotImplemented",
        503 => "ServiceUnavailable",
        other => return format_ident!("Status{}", other),
    };
    format_ident!("{}", name)
}

fn type_path(name: &str) -> TokenStream {
    let ident = format_ident!("{}", name);
    quote!(types::#ident)
}

fn error_code_enum(api: &Api) -> TokenStream {
    let variants: Vec<_> =
        api.error_codes.iter().map(|c| format_ident!("{}", c.code.to_pascal_case())).collect();
    let codes: Vec<_> = api.error_codes.iter().map(|c| c.code.as_str()).collect();
    let statuses: Vec<_> = api.error_codes.iter().map(|c| c.status).collect();
    let docs: Vec<_> = api
        .error_codes
        .iter()
        .map(|c| format!(" `{}` ({}): {}", c.code, c.status, c.description))
        .collect();
    let descriptions: Vec<_> = api.error_codes.iter().map(|c| c.description.as_str()).collect();
    quote! {
        /// The error catalogue (`x-error-codes` in the spec): every `error.code` the API can answer.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            #(#[doc = #docs] #variants,)*
        }

        impl ErrorCode {
            /// Every code, in catalogue order.
            pub const ALL: &'static [ErrorCode] = &[#(ErrorCode::#variants),*];

            /// The wire form of the code.
            pub const fn as_str(self) -> &'static str {
                match self { #(ErrorCode::#variants => #codes,)* }
            }

            /// The HTTP status this code is answered with.
            pub fn status(self) -> StatusCode {
                let status = match self { #(ErrorCode::#variants => #statuses,)* };
                StatusCode::from_u16(status).expect("the generator checked that catalogue statuses are valid")
            }

            /// The catalogue's description of the code.
            pub const fn description(self) -> &'static str {
                match self { #(ErrorCode::#variants => #descriptions,)* }
            }

            /// The first catalogue code answered with `status`, if any.
            pub fn for_status(status: StatusCode) -> Option<ErrorCode> {
                Self::ALL.iter().copied().find(|code| code.status() == status)
            }

            /// A [`Problem`] with this code's status.
            pub fn problem(self, message: impl Into<String>) -> Problem {
                Problem { status: self.status(), code: self.as_str(), message: message.into() }
            }
        }

        impl std::fmt::Display for ErrorCode {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    }
}

fn error_body_fn(api: &Api) -> TokenStream {
    let envelope = type_path(&api.error_schema);
    let detail = type_path(&api.error_detail_schema);
    let fallback_400 = api
        .error_codes
        .iter()
        .find(|c| c.status == 400)
        .map(|c| c.code.as_str())
        .unwrap_or("invalid_request");
    let request_id = if api.error_request_id_required {
        quote!(request_id.to_owned())
    } else {
        quote!(Some(request_id.to_owned()))
    };
    quote! {
        /// Builds the spec's error envelope (this server always fills `request_id`).
        pub fn error_body(code: &str, message: impl Into<String>, request_id: &str) -> #envelope {
            #envelope {
                error: #detail { code: code.to_owned(), message: message.into() },
                request_id: #request_id,
            }
        }

        /// Renders a [`Problem`] as the spec's error envelope.
        pub fn render_problem(problem: Problem, request_id: &str) -> Response {
            let status = problem.status;
            (status, axum::Json(error_body(problem.code, problem.message, request_id))).into_response()
        }

        /// Turns invalid input into a [`Problem`] carrying the catalogue code for its status.
        fn input_problem(error: InputError) -> Problem {
            let status = error.status();
            let code = ErrorCode::for_status(status).map(ErrorCode::as_str).unwrap_or(#fallback_400);
            Problem { status, code, message: error.to_string() }
        }
    }
}

fn security_trait(api: &Api) -> TokenStream {
    let Some(scheme) = &api.security else { return quote!() };
    let method = format_ident!("authenticate_{}", scheme.name.to_snake_case());
    let header = &scheme.header;
    let doc = format!(
        " Resolves the `{}` security scheme (`{}` header) into a principal, before any secured\n operation runs. `credential` is `None` when the header is absent; `extensions` are the\n request's, where a layer in front of the router may have left what it already verified.\n Return a [`Problem`] (typically 401) to refuse the request.",
        scheme.name, header
    );
    let scheme_doc = doc_lines(&[scheme.description.as_deref()]);
    quote! {
        /// Authentication for secured operations.
        ///
        #scheme_doc
        pub trait ApiSecurity: Send + Sync + 'static {
            /// What a successful authentication yields; handed to every secured operation.
            type Principal: Send + Sync + 'static;

            #[doc = #doc]
            fn #method(&self, credential: Option<&axum::http::HeaderValue>, extensions: &Extensions) -> impl Future<Output = Result<Self::Principal, Problem>> + Send;

            /// Enforces an operation's `x-required-scope` after its input was validated and before
            /// the operation runs: `scope` is the declared scope, `resource` the id the request
            /// names where the declaration says generated code can see it (a path parameter, a
            /// required query filter or a body field), as given, before any lookup. `None` means
            /// only the scope is checked here; the declaration then says whether the scope takes no
            /// resources or who checks the resource later ([`runtime::ResourceSource`]). Return a
            /// [`Problem`] (403) to refuse the request.
            fn authorize(&self, principal: &Self::Principal, scope: Scope, resource: Option<&str>) -> Result<(), Problem>;
        }
    }
}

fn scope_variant(name: &str) -> proc_macro2::Ident {
    format_ident!("{}", name.to_lowercase().to_pascal_case())
}

fn scope_enum(api: &Api) -> TokenStream {
    if api.scopes.is_empty() {
        return quote!();
    }
    let variants: Vec<_> = api.scopes.iter().map(|s| scope_variant(&s.name)).collect();
    let names: Vec<_> = api.scopes.iter().map(|s| s.name.as_str()).collect();
    let docs: Vec<_> = api
        .scopes
        .iter()
        .map(|s| format!(" `{}` (resources: {}): {}", s.name, s.resources.as_str(), s.description))
        .collect();
    let descriptions: Vec<_> = api.scopes.iter().map(|s| s.description.as_str()).collect();
    let resources: Vec<_> = api
        .scopes
        .iter()
        .map(|s| match s.resources {
            crate::scopes::ScopeResources::None => quote!(runtime::ScopeResources::None),
            crate::scopes::ScopeResources::Ids => quote!(runtime::ScopeResources::Ids),
            crate::scopes::ScopeResources::Pairs => quote!(runtime::ScopeResources::Pairs),
        })
        .collect();
    quote! {
        /// The scope catalogue (`x-scopes` on the security scheme): every scope an API key can hold.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Scope {
            #(#[doc = #docs] #variants,)*
        }

        impl Scope {
            /// Every scope, in catalogue order.
            pub const ALL: &'static [Scope] = &[#(Scope::#variants),*];

            /// The scope's name, as keys and `x-required-scope` spell it.
            pub const fn as_str(self) -> &'static str {
                match self { #(Scope::#variants => #names,)* }
            }

            /// What kind of `resources` the scope takes.
            pub const fn resources(self) -> runtime::ScopeResources {
                match self { #(Scope::#variants => #resources,)* }
            }

            /// The catalogue's description of the scope.
            pub const fn description(self) -> &'static str {
                match self { #(Scope::#variants => #descriptions,)* }
            }

            /// The scope named `name`, if the catalogue has one.
            pub fn from_name(name: &str) -> Option<Scope> {
                Self::ALL.iter().copied().find(|scope| scope.as_str() == name)
            }
        }

        impl std::fmt::Display for Scope {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    }
}

fn tag_trait(api: &Api, tag: &str, description: Option<&str>) -> TokenStream {
    let ops: Vec<&Operation> = api.operations.iter().filter(|o| o.tag == tag).collect();
    let trait_ident = format_ident!("{}Api", tag.to_pascal_case());
    let supertrait = if ops.iter().any(|o| o.secured) {
        quote!(ApiSecurity)
    } else {
        quote!(Send + Sync + 'static)
    };
    let doc = doc_lines(&[Some(&format!("Operations tagged `{tag}`.")), description]);
    let not_implemented = api.error_codes.iter().find(|c| c.status == 501);
    let methods = ops.iter().map(|op| {
        let method = format_ident!("{}", op.snake());
        let params = format_ident!("{}Params", op.pascal());
        let response = format_ident!("{}Response", op.pascal());
        let principal = if op.secured { quote!(Self::Principal) } else { quote!(()) };
        let location = format!("`{}` (`{}`)", op.location(), op.id);
        let doc = doc_lines(&[op.summary.as_deref(), Some(&location), op.description.as_deref()]);
        let default_body = match not_implemented {
            Some(code) if op.not_implemented => {
                let code = &code.code;
                let message = format!("{} is not implemented by this server yet.", op.id);
                quote! {
                    {
                        async move {
                            let _ = params;
                            #response::NotImplemented(error_body(#code, #message, &ctx.request_id))
                        }
                    }
                }
            }
            _ => quote!(;),
        };
        quote! {
            #doc
            fn #method(&self, ctx: RequestContext<#principal>, params: #params) -> impl Future<Output = #response> + Send #default_body
        }
    });
    quote! {
        #doc
        pub trait #trait_ident: #supertrait {
            #(#methods)*
        }
    }
}

fn param_type(
    api: &Api,
    schema: &openapiv3::ReferenceOr<openapiv3::Schema>,
    type_name: Option<&str>,
) -> TokenStream {
    if let Some(name) = type_name {
        return type_path(name);
    }
    let _ = api;
    use openapiv3::{SchemaKind, StringFormat, Type, VariantOrUnknownOrEmpty};
    match schema.as_item().map(|s| &s.schema_kind) {
        Some(SchemaKind::Type(Type::String(s))) => match s.format {
            VariantOrUnknownOrEmpty::Item(StringFormat::DateTime) => {
                quote!(::chrono::DateTime<::chrono::Utc>)
            }
            VariantOrUnknownOrEmpty::Item(StringFormat::Date) => quote!(::chrono::NaiveDate),
            _ => quote!(::std::string::String),
        },
        Some(SchemaKind::Type(Type::Integer(i))) => match &i.format {
            VariantOrUnknownOrEmpty::Item(openapiv3::IntegerFormat::Int32) => quote!(i32),
            _ => quote!(i64),
        },
        Some(SchemaKind::Type(Type::Number(_))) => quote!(f64),
        Some(SchemaKind::Type(Type::Boolean(_))) => quote!(bool),
        _ => quote!(::serde_json::Value),
    }
}

fn operation_items(
    api: &Api,
    op: &Operation,
    validators: &mut ValidatorGen,
    openapi: &openapiv3::OpenAPI,
) -> Result<TokenStream, String> {
    let pascal = op.pascal();
    let params_ident = format_ident!("{}Params", pascal);
    let response_ident = format_ident!("{}Response", pascal);
    let handler_ident = format_ident!("handle_{}", op.snake());
    let parse_ident = format_ident!("parse_{}", op.snake());
    let trait_ident = format_ident!("{}Api", op.tag.to_pascal_case());
    let method_ident = format_ident!("{}", op.snake());

    // --- parameters struct and parsing ---
    let mut fields = Vec::new();
    let mut parse_stmts = Vec::new();
    let mut field_idents = Vec::new();
    let query_names: Vec<&str> = op
        .params
        .iter()
        .filter(|p| p.location == ParamLocation::Query)
        .map(|p| p.name.as_str())
        .collect();
    for param in &op.params {
        let field = format_ident!("{}", param.field());
        field_idents.push(field.clone());
        let ty = param_type(api, &param.schema, param.type_name.as_deref());
        let default = param.schema.as_item().and_then(|s| s.schema_data.default.clone());
        let has_default = default.is_some() && !param.required;
        let field_ty = if param.required || has_default {
            ty.clone()
        } else {
            quote!(::std::option::Option<#ty>)
        };
        let location_word = match param.location {
            ParamLocation::Path => "path",
            ParamLocation::Query => "query",
            ParamLocation::Header => "header",
        };
        let doc = doc_lines(&[
            Some(&format!(
                "`{}` ({} parameter{}).",
                param.name,
                location_word,
                if param.required { ", required" } else { "" }
            )),
            param.description.as_deref(),
        ]);
        fields.push(quote!(#doc pub #field: #field_ty,));

        let name = &param.name;
        let raw = match param.location {
            ParamLocation::Path => quote!(path.get(#name)),
            ParamLocation::Query => quote!(query.get(#name)),
            ParamLocation::Header => quote!(runtime::header(headers, #name)?),
        };
        let location = match param.location {
            ParamLocation::Path => quote!(runtime::Location::Path),
            ParamLocation::Query => quote!(runtime::Location::Query),
            ParamLocation::Header => quote!(runtime::Location::Header),
        };
        let scalar = scalar_kind(openapi, &param.schema);
        let check = validators.check(&param.schema, &quote!(value), &quote!(#name))?;
        // Used inside a `match` arm that binds the parameter's raw string as `raw`.
        let convert = quote! {
            runtime::param::<#ty>(raw, #scalar, #location, #name, |value| { #check Ok(()) })
        };
        let stmt = if param.required {
            quote! {
                let #field: #ty = match #raw {
                    Some(raw) => #convert?,
                    None => return Err(InputError::Missing(#location, #name)),
                };
            }
        } else if let Some(default) = default {
            let default_json = serde_json::to_string(&default).map_err(|e| e.to_string())?;
            quote! {
                let #field: #ty = match #raw {
                    Some(raw) => #convert?,
                    None => runtime::typed(::serde_json::from_str(#default_json).expect("the spec's default is valid JSON"), #location, #name)?,
                };
            }
        } else {
            quote! {
                let #field: ::std::option::Option<#ty> = match #raw {
                    Some(raw) => Some(#convert?),
                    None => None,
                };
            }
        };
        parse_stmts.push(stmt);
    }
    if let Some(body) = &op.body {
        let ty = type_path(&body.schema);
        let validate = ValidatorGen::fn_ident(&body.schema);
        let required = body.required;
        field_idents.push(format_ident!("body"));
        if required {
            fields.push(quote!(/// The JSON request body.
                pub body: #ty,));
            let capture = match op.required_scope.as_ref().map(|r| &r.resource) {
                Some(ResourceSource::Body(name)) => quote! {
                    resource = value.get(#name).and_then(|v| v.as_str()).map(str::to_owned);
                },
                _ => quote!(),
            };
            parse_stmts.push(quote! {
                let body: #ty = {
                    let value = runtime::json_body(headers, body)?.ok_or(InputError::MissingBody)?;
                    #validate(&value, "").map_err(|v| InputError::Invalid(runtime::Location::Body, v))?;
                    #capture
                    runtime::typed(value, runtime::Location::Body, "")?
                };
            });
        } else {
            fields.push(
                quote!(/// The JSON request body (optional: absent when the request has none).
                pub body: ::std::option::Option<#ty>,),
            );
            parse_stmts.push(quote! {
                let body: ::std::option::Option<#ty> = match runtime::json_body(headers, body)? {
                    None => None,
                    Some(value) => {
                        #validate(&value, "").map_err(|v| InputError::Invalid(runtime::Location::Body, v))?;
                        Some(runtime::typed(value, runtime::Location::Body, "")?)
                    }
                };
            });
        }
    } else {
        parse_stmts.push(quote!(runtime::no_body(body)?;));
    }
    let params_doc = format!(" Input of `{}` (`{}`), parsed and validated.", op.id, op.location());

    // --- response enum ---
    let mut variants = Vec::new();
    let mut into_arms = Vec::new();
    let mut status_arms = Vec::new();
    let mut error_arms = Vec::new();
    let success_variant = status_variant(op.success_status);
    let success_status = op.success_status;
    match &op.success_schema {
        Some(schema) => {
            let ty = type_path(schema);
            let doc = format!(" {success_status}: success.");
            variants.push(quote!(#[doc = #doc] #success_variant(#ty),));
            into_arms.push(quote!(Self::#success_variant(body) => (StatusCode::from_u16(#success_status).expect("valid status"), axum::Json(body)).into_response(),));
            status_arms.push(quote!(Self::#success_variant(_) => #success_status,));
        }
        None => {
            let doc = format!(" {success_status}: success, no body.");
            variants.push(quote!(#[doc = #doc] #success_variant,));
            into_arms.push(quote!(Self::#success_variant => StatusCode::from_u16(#success_status).expect("valid status").into_response(),));
            status_arms.push(quote!(Self::#success_variant => #success_status,));
        }
    }
    let error_ty = type_path(&api.error_schema);
    for status in &op.error_statuses {
        let variant = status_variant(*status);
        let doc = format!(" {status}: error.");
        variants.push(quote!(#[doc = #doc] #variant(#error_ty),));
        into_arms.push(quote!(Self::#variant(body) => (StatusCode::from_u16(#status).expect("valid status"), axum::Json(body)).into_response(),));
        status_arms.push(quote!(Self::#variant(_) => #status,));
        error_arms.push(quote!(#status => Ok(Self::#variant(body)),));
    }
    let success_code = quote!(StatusCode::from_u16(#success_status).expect("valid status"));
    let (success_json, from_success_json) = match &op.success_schema {
        Some(_) => (
            quote! {
                match self {
                    Self::#success_variant(body) => ::serde_json::to_string(body).ok().map(|json| (#success_code, json)),
                    _ => None,
                }
            },
            quote! {
                if status.as_u16() != #success_status { return None; }
                ::serde_json::from_str(body).ok().map(Self::#success_variant)
            },
        ),
        None => (
            quote! {
                match self {
                    Self::#success_variant => Some((#success_code, String::new())),
                    _ => None,
                }
            },
            quote! {
                let _ = body;
                (status.as_u16() == #success_status).then_some(Self::#success_variant)
            },
        ),
    };
    let response_doc = format!(
        " Every response `{}` may answer, one variant per status declared in the spec.",
        op.id
    );

    let principal = if op.secured {
        let scheme = api.security.as_ref().ok_or("secured operation without a scheme")?;
        let hook = format_ident!("authenticate_{}", scheme.name.to_snake_case());
        let header = &scheme.header;
        quote! {
            let principal = match api.#hook(headers.get(#header), &extensions).await {
                Ok(principal) => principal,
                Err(problem) => return render_problem(problem, &request_id),
            };
        }
    } else {
        quote!(let principal = ();)
    };
    let _ = &query_names;

    // The resource the generated permission check sees, as given in the request.
    let resource_source = op.required_scope.as_ref().map(|r| &r.resource);
    let resource_decl = match resource_source {
        Some(ResourceSource::Path(name)) => {
            quote!(let resource: Option<String> = path.get(#name).map(str::to_owned);)
        }
        Some(ResourceSource::Query(name)) => {
            quote!(let resource: Option<String> = query.get(#name).map(str::to_owned);)
        }
        Some(ResourceSource::Body(_)) => quote!(let resource: Option<String>;),
        _ => quote!(let resource: Option<String> = None;),
    };
    let template = &op.path;
    let index = api
        .operations
        .iter()
        .position(|o| o.id == op.id)
        .ok_or("operation missing from its own API")?;
    let index_literal = proc_macro2::Literal::usize_unsuffixed(index);
    let authorize = match &op.required_scope {
        Some(required) => {
            let variant = scope_variant(&required.scope);
            quote! {
                if let Err(problem) = api.authorize(&principal, Scope::#variant, resource.as_deref()) {
                    return render_problem(problem, &request_id);
                }
            }
        }
        None => quote!(let _ = resource;),
    };

    Ok(quote! {
        #[doc = #params_doc]
        #[derive(Debug, Clone)]
        pub struct #params_ident {
            #(#fields)*
        }

        #[doc = #response_doc]
        #[derive(Debug)]
        pub enum #response_ident {
            #(#variants)*
        }

        impl #response_ident {
            /// The HTTP status of this response.
            pub fn status(&self) -> StatusCode {
                let status: u16 = match self { #(#status_arms)* };
                StatusCode::from_u16(status).expect("valid status")
            }
        }

        impl IntoResponse for #response_ident {
            fn into_response(self) -> Response {
                match self { #(#into_arms)* }
            }
        }

        impl runtime::Replayable for #response_ident {
            fn success_json(&self) -> Option<(StatusCode, String)> {
                #success_json
            }
            fn from_success_json(status: StatusCode, body: &str) -> Option<Self> {
                #from_success_json
            }
        }

        impl runtime::FromError<#error_ty> for #response_ident {
            fn from_error(status: StatusCode, body: #error_ty) -> Result<Self, #error_ty> {
                match status.as_u16() {
                    #(#error_arms)*
                    _ => Err(body),
                }
            }
        }

        fn #parse_ident(
            uri: &Uri,
            headers: &HeaderMap,
            path: Result<RawPathParams, RawPathParamsRejection>,
            body: Result<Bytes, BytesRejection>,
        ) -> Result<(#params_ident, String, Option<String>), InputError> {
            let path = runtime::PathParams::new(path)?;
            let query = runtime::QueryParams::parse(uri.query(), &[#(#query_names),*])?;
            #resource_decl
            #(#parse_stmts)*
            let concrete_path = runtime::concrete_path(#template, &path);
            Ok((#params_ident { #(#field_idents),* }, concrete_path, resource))
        }

        // The request is taken whole and split, rather than through the `Uri`, `HeaderMap` and
        // `Extensions` extractors, which clone what they extract.
        async fn #handler_ident<A: #trait_ident>(
            State(api): State<Arc<A>>,
            path: Result<RawPathParams, RawPathParamsRejection>,
            request: Request,
        ) -> Response {
            let (axum::http::request::Parts { uri, headers, extensions, .. }, body) = request.into_parts();
            let body = Bytes::from_request(Request::new(body), &()).await;
            let request_id = runtime::request_id(&extensions, &headers);
            #principal
            let (params, path, resource) = match #parse_ident(&uri, &headers, path, body) {
                Ok(parsed) => parsed,
                Err(error) => return render_problem(input_problem(error), &request_id),
            };
            #authorize
            let ctx = RequestContext { request_id, principal, operation: &OPERATIONS[#index_literal], path, extensions };
            api.#method_ident(ctx, params).await.into_response()
        }
    })
}

fn router_fn(api: &Api) -> TokenStream {
    let bounds = api.tags.iter().map(|(tag, _)| format_ident!("{}Api", tag.to_pascal_case()));
    let mut by_path: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
    for op in &api.operations {
        by_path.entry(op.path.as_str()).or_default().push(op);
    }
    let routes = by_path.iter().map(|(path, ops)| {
        let methods = ops.iter().map(|op| {
            let filter = format_ident!("{}", op.method.to_uppercase());
            let handler = format_ident!("handle_{}", op.snake());
            quote!(.on(MethodFilter::#filter, #handler::<A>))
        });
        quote!(.route(#path, axum::routing::MethodRouter::new() #(#methods)*))
    });
    quote! {
        /// The router for every operation, with paths relative to [`BASE_PATH`]. Requests that do
        /// not match a route fall through to the caller's fallback.
        pub fn router<A: #(#bounds)+*, S: Clone + Send + Sync + 'static>(api: Arc<A>) -> axum::Router<S> {
            axum::Router::new()
                #(#routes)*
                .with_state(api)
        }
    }
}

fn operations_table(api: &Api) -> TokenStream {
    let rows = api.operations.iter().map(|op| {
        let id = &op.id;
        let method = op.method.to_uppercase();
        let path = &op.path;
        let tag = &op.tag;
        let success = op.success_status;
        let errors = &op.error_statuses;
        let secured = op.secured;
        let required_scope = match &op.required_scope {
            None => quote!(None),
            Some(required) => {
                let scope = &required.scope;
                let checked_by = |by: &CheckedBy| match by {
                    CheckedBy::Handler => quote!(runtime::CheckedBy::Handler),
                    CheckedBy::Application => quote!(runtime::CheckedBy::Application),
                };
                let resource = match &required.resource {
                    ResourceSource::None => quote!(runtime::ResourceSource::None),
                    ResourceSource::Path(name) => quote!(runtime::ResourceSource::Path(#name)),
                    ResourceSource::Query(name) => quote!(runtime::ResourceSource::Query(#name)),
                    ResourceSource::Body(name) => quote!(runtime::ResourceSource::Body(#name)),
                    ResourceSource::TransferPair { source, destination, amount, checked_by: by } => {
                        let by = checked_by(by);
                        quote!(runtime::ResourceSource::TransferPair {
                            source: #source, destination: #destination, amount: #amount, checked_by: #by
                        })
                    }
                    ResourceSource::Loaded { what, checked_by: by } => {
                        let by = checked_by(by);
                        quote!(runtime::ResourceSource::Loaded { what: #what, checked_by: #by })
                    }
                };
                quote!(Some(runtime::RequiredScope { scope: #scope, resource: #resource }))
            }
        };
        let not_implemented = op.not_implemented;
        let request_body = match &op.body {
            Some(body) => {
                let schema = &body.schema;
                quote!(Some(#schema))
            }
            None => quote!(None),
        };
        quote! {
            runtime::OperationInfo {
                operation_id: #id,
                method: #method,
                path: #path,
                tag: #tag,
                success_status: #success,
                error_statuses: &[#(#errors),*],
                secured: #secured,
                required_scope: #required_scope,
                not_implemented: #not_implemented,
                request_body: #request_body,
            },
        }
    });
    quote! {
        /// Every operation in the spec, in spec order: the route table the router serves. Each
        /// operation receives its own row in [`RequestContext::operation`].
        pub static OPERATIONS: &[runtime::OperationInfo] = &[#(#rows)*];
    }
}
