//! Generates `openapi()`: the API as the compiled contract crate sees it, built with utoipa's
//! builders from the same operation model the router and `OPERATIONS` are generated from.
//!
//! Why: the freshness check proves the generated files match what the spec generates; this
//! document lets a test (`sequence-server`'s `tests/api/code_doc.rs`) compare what the *compiled*
//! code serves with the `openapi.yaml` the server ships, so a spec edited without regenerating, or
//! a route table that disagrees with the spec, fails `cargo test` with a readable difference.
//!
//! Today it carries each operation's method, path, `operationId`, tag, parameters (name, location,
//! required), request body (schema reference, required) and responses (status, body schema
//! reference). Component schemas (`utoipa::ToSchema` with their constraints) are not emitted yet.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::model::{Api, ParamLocation};

pub(crate) fn openapi_fn(api: &Api, title: &str, version: &str) -> TokenStream {
    let mut paths = Vec::new();
    for op in &api.operations {
        let method = format_ident!("{}", heck::ToPascalCase::to_pascal_case(op.method.as_str()));
        let id = &op.id;
        let tag = &op.tag;
        let path = &op.path;
        let params = op.params.iter().map(|p| {
            let name = &p.name;
            let location = match p.location {
                ParamLocation::Path => quote!(Path),
                ParamLocation::Query => quote!(Query),
                ParamLocation::Header => quote!(Header),
            };
            let required = if p.required { quote!(True) } else { quote!(False) };
            quote! {
                .parameter(
                    ParameterBuilder::new()
                        .name(#name)
                        .parameter_in(ParameterIn::#location)
                        .required(Required::#required)
                        .build(),
                )
            }
        });
        let body = op.body.as_ref().map(|b| {
            let schema = &b.schema;
            let required = if b.required { quote!(True) } else { quote!(False) };
            quote! {
                .request_body(Some(
                    RequestBodyBuilder::new()
                        .content("application/json", json(#schema))
                        .required(Some(Required::#required))
                        .build(),
                ))
            }
        });
        let success_status = op.success_status.to_string();
        let success = match &op.success_schema {
            Some(schema) => quote! {
                .response(#success_status, ResponseBuilder::new().content("application/json", json(#schema)).build())
            },
            None => quote!(.response(#success_status, ResponseBuilder::new().build())),
        };
        let error_schema = &api.error_schema;
        let errors = op.error_statuses.iter().map(|status| {
            let status = status.to_string();
            quote! {
                .response(#status, ResponseBuilder::new().content("application/json", json(#error_schema)).build())
            }
        });
        paths.push(quote! {
            .path(
                #path,
                PathItem::new(
                    HttpMethod::#method,
                    OperationBuilder::new()
                        .operation_id(Some(#id))
                        .tag(#tag)
                        #(#params)*
                        #body
                        #success
                        #(#errors)*
                        .build(),
                ),
            )
        });
    }
    quote! {
        /// The API as this compiled crate sees it (generated from the same model as [`router`]
        /// and [`OPERATIONS`]): each operation's method, path, `operationId`, tag, parameters,
        /// request body and responses, built with utoipa's builders. A test compares it with
        /// `openapi.yaml`. Component schemas are not included yet.
        pub fn openapi() -> utoipa::openapi::OpenApi {
            use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
            use utoipa::openapi::request_body::RequestBodyBuilder;
            use utoipa::openapi::response::ResponseBuilder;
            use utoipa::openapi::{ContentBuilder, Info, OpenApiBuilder, PathsBuilder, Ref, Required};
            fn json(schema: &str) -> utoipa::openapi::Content {
                ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build()
            }
            let paths = PathsBuilder::new() #(#paths)* .build();
            OpenApiBuilder::new().info(Info::new(#title, #version)).paths(paths).build()
        }
    }
}
