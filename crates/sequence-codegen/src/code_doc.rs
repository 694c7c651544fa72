//! Generates `openapi()`: the API as the compiled contract crate sees it, built with utoipa's
//! builders from the same operation model the router and `OPERATIONS` are generated from.
//!
//! Why: the freshness check proves the generated files match what the spec generates; this
//! document lets a test (`sequence-server`'s `tests/api/code_doc.rs`) compare what the *compiled*
//! code serves with the `openapi.yaml` the server ships, so a spec edited without regenerating, or
//! a route table that disagrees with the spec, fails `cargo test` with a readable difference.
//!
//! It carries each operation's method, path, `operationId`, tag, parameters (name, location,
//! required, schema with its constraints), request body (schema reference, required) and responses (status, body schema
//! reference), and every component schema. Each wire type typify made gets an
//! `impl utoipa::PartialSchema + ToSchema` (emitted here rather than through typify's
//! `with_derive`, because utoipa's derive would see Rust types, not the spec's constraints)
//! carrying types, formats, bounds, lengths, patterns, enums, nullability (3.1 spelling:
//! `[T, "null"]`, or `oneOf` with `null` around a composition), required properties, items and
//! `additionalProperties`. Descriptions, examples and defaults are not emitted: they are prose
//! and samples, and would double the generated file for nothing the comparison needs.

use std::collections::BTreeSet;

use openapiv3::{
    AdditionalProperties, IntegerFormat, NumberFormat, OpenAPI, ReferenceOr, Schema, SchemaKind,
    StringFormat, Type, VariantOrUnknownOrEmpty,
};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::model::{Api, ParamLocation};

pub(crate) fn openapi_fn(
    api: &Api,
    title: &str,
    version: &str,
    components: TokenStream,
) -> TokenStream {
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
            let schema = schema_expr(&p.schema);
            quote! {
                .parameter(
                    ParameterBuilder::new()
                        .name(#name)
                        .parameter_in(ParameterIn::#location)
                        .required(Required::#required)
                        .schema(Some({
                            use utoipa::openapi::schema::*;
                            use utoipa::openapi::RefOr;
                            #schema
                        }))
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
        // Each operation is built in a function of its own: one builder expression for the
        // whole API puts every operation's temporaries in `openapi()`'s stack frame, which in a
        // debug build outgrows a test thread's stack as operations are added.
        paths.push(quote! {
            .path(#path, {
                fn operation() -> PathItem {
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
                    )
                }
                operation()
            })
        });
    }
    quote! {
        /// The API as this compiled crate sees it (generated from the same model as [`router`]
        /// and [`OPERATIONS`]): each operation's method, path, `operationId`, tag, parameters,
        /// request body and responses, and every component schema (the wire types'
        /// `ToSchema`), built with utoipa's builders. A test compares it with `openapi.yaml`.
        pub fn openapi() -> utoipa::openapi::OpenApi {
            use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
            use utoipa::openapi::request_body::RequestBodyBuilder;
            use utoipa::openapi::response::ResponseBuilder;
            use utoipa::openapi::{ContentBuilder, Info, OpenApiBuilder, PathsBuilder, Ref, Required};
            fn json(schema: &str) -> utoipa::openapi::Content {
                ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build()
            }
            let paths = PathsBuilder::new() #(#paths)* .build();
            OpenApiBuilder::new()
                .info(Info::new(#title, #version))
                .paths(paths)
                .components(Some(#components))
                .build()
        }
    }
}

/// `impl utoipa::PartialSchema + ToSchema` for every component schema typify made a wire type
/// of, and the `components` expression of `openapi()` (every component schema, by name).
pub(crate) fn component_schemas(
    openapi: &OpenAPI,
    type_names: &BTreeSet<String>,
) -> (Vec<TokenStream>, TokenStream) {
    let mut impls = Vec::new();
    let mut entries = Vec::new();
    let schemas = openapi.components.as_ref().map(|c| &c.schemas);
    for (name, schema) in schemas.into_iter().flatten() {
        let body = schema_expr(schema);
        let type_name = heck::ToPascalCase::to_pascal_case(name.as_str());
        if type_name == *name && type_names.contains(name) {
            let ident = format_ident!("{}", name);
            let doc =
                format!("`#/components/schemas/{name}` with its constraints, as utoipa sees it.");
            impls.push(quote! {
                #[doc = #doc]
                impl utoipa::PartialSchema for types::#ident {
                    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                        use utoipa::openapi::schema::*;
                        use utoipa::openapi::RefOr;
                        #body
                    }
                }
                impl utoipa::ToSchema for types::#ident {
                    fn name() -> std::borrow::Cow<'static, str> {
                        std::borrow::Cow::Borrowed(#name)
                    }
                }
            });
            entries
                .push(quote!(.schema(#name, <types::#ident as utoipa::PartialSchema>::schema())));
        } else {
            // In a function of its own, for the stack's sake (see the operations above).
            entries.push(quote!(.schema(#name, {
                fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                    use utoipa::openapi::schema::*;
                    use utoipa::openapi::RefOr;
                    #body
                }
                schema()
            })));
        }
    }
    (impls, quote!(utoipa::openapi::schema::ComponentsBuilder::new() #(#entries)* .build()))
}

fn ref_expr(reference: &str) -> TokenStream {
    let name = reference.rsplit('/').next().unwrap_or(reference);
    quote!(RefOr::<Schema>::Ref(Ref::from_schema_name(#name)))
}

fn boxed_expr(schema: &ReferenceOr<Box<Schema>>) -> TokenStream {
    match schema {
        ReferenceOr::Reference { reference } => ref_expr(reference),
        ReferenceOr::Item(schema) => item_expr(schema),
    }
}

/// An expression of type `RefOr<Schema>` (names from `utoipa::openapi::schema` in scope).
fn schema_expr(schema: &ReferenceOr<Schema>) -> TokenStream {
    match schema {
        ReferenceOr::Reference { reference } => ref_expr(reference),
        ReferenceOr::Item(schema) => item_expr(schema),
    }
}

fn opt_usize(value: Option<usize>) -> TokenStream {
    match value {
        Some(v) => quote!(Some(#v)),
        None => quote!(None::<usize>),
    }
}

fn format_expr<T>(
    format: &VariantOrUnknownOrEmpty<T>,
    known: impl Fn(&T) -> &'static str,
) -> TokenStream {
    match format {
        VariantOrUnknownOrEmpty::Item(item) => {
            let f = known(item);
            quote!(.format(Some(SchemaFormat::Custom(#f.to_owned()))))
        }
        VariantOrUnknownOrEmpty::Unknown(f) => {
            quote!(.format(Some(SchemaFormat::Custom(#f.to_owned()))))
        }
        VariantOrUnknownOrEmpty::Empty => quote!(),
    }
}

/// 3.1 spelling: a nullable type is `[type, "null"]`.
fn type_expr(ty: TokenStream, nullable: bool) -> TokenStream {
    if nullable {
        quote!(.schema_type(SchemaType::from_iter([Type::#ty, Type::Null])))
    } else {
        quote!(.schema_type(Type::#ty))
    }
}

/// Minimum/maximum in 3.1 form: an exclusive bound is `exclusiveMinimum: n`.
fn bounds<N: quote::ToTokens>(
    minimum: Option<N>,
    exclusive_minimum: bool,
    maximum: Option<N>,
    exclusive_maximum: bool,
    number: impl Fn(&N) -> TokenStream,
) -> TokenStream {
    let mut out = quote!();
    if let Some(min) = &minimum {
        let n = number(min);
        out.extend(if exclusive_minimum {
            quote!(.exclusive_minimum(Some(#n)))
        } else {
            quote!(.minimum(Some(#n)))
        });
    }
    if let Some(max) = &maximum {
        let n = number(max);
        out.extend(if exclusive_maximum {
            quote!(.exclusive_maximum(Some(#n)))
        } else {
            quote!(.maximum(Some(#n)))
        });
    }
    out
}

fn enum_expr<T>(values: &[Option<T>], literal: impl Fn(&T) -> TokenStream) -> TokenStream {
    if values.is_empty() {
        return quote!();
    }
    let values = values.iter().map(|v| match v {
        Some(v) => {
            let v = literal(v);
            quote!(serde_json::Value::from(#v))
        }
        None => quote!(serde_json::Value::Null),
    });
    quote!(.enum_values(Some([#(#values),*])))
}

fn item_expr(schema: &Schema) -> TokenStream {
    let nullable = schema.schema_data.nullable;
    let object = match &schema.schema_kind {
        SchemaKind::Type(Type::String(s)) => {
            let ty = type_expr(quote!(String), nullable);
            let format = format_expr(&s.format, |f| match f {
                StringFormat::Date => "date",
                StringFormat::DateTime => "date-time",
                StringFormat::Password => "password",
                StringFormat::Byte => "byte",
                StringFormat::Binary => "binary",
            });
            let min = opt_usize(s.min_length);
            let max = opt_usize(s.max_length);
            let pattern = match &s.pattern {
                Some(p) => quote!(.pattern(Some(#p))),
                None => quote!(),
            };
            let values = enum_expr(&s.enumeration, |v| quote!(#v));
            quote!(ObjectBuilder::new() #ty #format .min_length(#min) .max_length(#max) #pattern #values)
        }
        SchemaKind::Type(Type::Integer(i)) => {
            let ty = type_expr(quote!(Integer), nullable);
            let format = format_expr(&i.format, |f| match f {
                IntegerFormat::Int32 => "int32",
                IntegerFormat::Int64 => "int64",
            });
            let bounds = bounds(
                i.minimum,
                i.exclusive_minimum,
                i.maximum,
                i.exclusive_maximum,
                |n| quote!(utoipa::Number::Int(#n as isize)),
            );
            let multiple =
                i.multiple_of.map(|m| quote!(.multiple_of(Some(utoipa::Number::Int(#m as isize)))));
            let values = enum_expr(&i.enumeration, |v| quote!(#v));
            quote!(ObjectBuilder::new() #ty #format #bounds #multiple #values)
        }
        SchemaKind::Type(Type::Number(n)) => {
            let ty = type_expr(quote!(Number), nullable);
            let format = format_expr(&n.format, |f| match f {
                NumberFormat::Float => "float",
                NumberFormat::Double => "double",
            });
            let bounds = bounds(
                n.minimum,
                n.exclusive_minimum,
                n.maximum,
                n.exclusive_maximum,
                |v| quote!(utoipa::Number::Float(#v)),
            );
            let multiple =
                n.multiple_of.map(|m| quote!(.multiple_of(Some(utoipa::Number::Float(#m)))));
            let values = enum_expr(&n.enumeration, |v| quote!(#v));
            quote!(ObjectBuilder::new() #ty #format #bounds #multiple #values)
        }
        SchemaKind::Type(Type::Boolean(b)) => {
            let ty = type_expr(quote!(Boolean), nullable);
            let values = enum_expr(&b.enumeration, |v| quote!(#v));
            quote!(ObjectBuilder::new() #ty #values)
        }
        SchemaKind::Type(Type::Object(o)) => {
            let ty = type_expr(quote!(Object), nullable);
            let properties = o.properties.iter().map(|(name, schema)| {
                let schema = boxed_expr(schema);
                quote!(.property(#name, #schema))
            });
            let required = o.required.iter().map(|name| quote!(.required(#name)));
            let additional = match &o.additional_properties {
                None => quote!(),
                Some(AdditionalProperties::Any(any)) => {
                    quote!(.additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(#any))))
                }
                Some(AdditionalProperties::Schema(schema)) => {
                    let schema = schema_expr(schema);
                    quote!(.additional_properties(Some(AdditionalProperties::<Schema>::RefOr(#schema))))
                }
            };
            let min = opt_usize(o.min_properties);
            let max = opt_usize(o.max_properties);
            quote!(ObjectBuilder::new() #ty #(#properties)* #(#required)* #additional .min_properties(#min) .max_properties(#max))
        }
        SchemaKind::Type(Type::Array(a)) => {
            let ty = type_expr(quote!(Array), nullable);
            let items = match &a.items {
                Some(items) => {
                    let items = boxed_expr(items);
                    quote!(.items(ArrayItems::RefOrSchema(Box::new(#items))))
                }
                None => quote!(),
            };
            let min = opt_usize(a.min_items);
            let max = opt_usize(a.max_items);
            let unique = a.unique_items;
            return quote!(RefOr::<Schema>::from(
                ArrayBuilder::new() #ty #items .min_items(#min) .max_items(#max) .unique_items(#unique)
            ));
        }
        SchemaKind::AllOf { all_of }
        | SchemaKind::OneOf { one_of: all_of }
        | SchemaKind::AnyOf { any_of: all_of } => {
            let items = all_of.iter().map(|s| {
                let s = schema_expr(s);
                quote!(.item(#s))
            });
            let builder = match &schema.schema_kind {
                SchemaKind::AllOf { .. } => quote!(AllOfBuilder),
                SchemaKind::OneOf { .. } => quote!(OneOfBuilder),
                _ => quote!(AnyOfBuilder),
            };
            let composed = quote!(RefOr::<Schema>::from(#builder::new() #(#items)*));
            // 3.1 spelling of a nullable composition: one of `null` and the composition.
            return if nullable {
                quote!(RefOr::<Schema>::from(
                    OneOfBuilder::new()
                        .item(ObjectBuilder::new().schema_type(Type::Null))
                        .item(#composed)
                ))
            } else {
                composed
            };
        }
        // Not used by the specs this generator serves; an unconstrained schema keeps the
        // comparison honest (it shows as a difference).
        SchemaKind::Not { .. } | SchemaKind::Any(_) => {
            quote!(ObjectBuilder::new().schema_type(SchemaType::AnyValue))
        }
    };
    quote!(RefOr::<Schema>::from(#object))
}
