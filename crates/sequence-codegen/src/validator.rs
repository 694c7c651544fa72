//! Generates input validators from schemas.
//!
//! typify's types already enforce enums, string patterns/lengths (through validated newtypes) and
//! `additionalProperties: false` when they deserialize, but they ignore numeric bounds and item
//! counts, their error messages do not name the field, and they accept unknown fields in nested
//! objects whose schema is shared with responses. The validators also treat every request object
//! as closed unless its schema explicitly allows additional properties. So the generated router first checks
//! the raw JSON value against the schema with these generated functions, which report the first
//! violation with its field path (`steps[0].actions[1].percentage_value: must be at most 100`), and
//! only then deserializes into the typed struct.

use std::collections::BTreeMap;

use heck::ToSnakeCase;
use openapiv3::{OpenAPI, ReferenceOr, Schema, SchemaKind, Type};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::model::ref_name;

/// Accumulates generated code: one function per component schema, and one static per pattern.
#[derive(Default)]
pub(crate) struct ValidatorGen {
    patterns: BTreeMap<String, usize>,
}

impl ValidatorGen {
    /// The function that validates component `name`.
    pub(crate) fn fn_ident(name: &str) -> proc_macro2::Ident {
        format_ident!("validate_{}", name.to_snake_case())
    }

    /// `pub fn validate_<name>(value, path)` for a component schema.
    pub(crate) fn component_fn(
        &mut self,
        name: &str,
        schema: &ReferenceOr<Schema>,
    ) -> Result<TokenStream, String> {
        let ident = Self::fn_ident(name);
        let body = self.check(schema, &quote!(value), &quote!(path))?;
        let doc = format!(
            "Checks a JSON value against the `{name}` schema; reports the first violation."
        );
        Ok(quote! {
            #[doc = #doc]
            pub fn #ident(value: &::serde_json::Value, path: &str) -> ::std::result::Result<(), Violation> {
                #body
                Ok(())
            }
        })
    }

    /// Regex statics for every pattern seen so far.
    pub(crate) fn pattern_statics(&self) -> TokenStream {
        let statics = self.patterns.iter().map(|(pattern, index)| {
            let ident = format_ident!("PATTERN_{}", index);
            quote! {
                static #ident: ::std::sync::LazyLock<::regress::Regex> = ::std::sync::LazyLock::new(|| {
                    ::regress::Regex::new(#pattern).expect("the generator checked that this pattern compiles")
                });
            }
        });
        quote!(#(#statics)*)
    }

    /// Statements checking `value` (an expression of type `&serde_json::Value`) against `schema`,
    /// with `path` (an expression of type `&str`) naming the location. They `return Err` early.
    pub(crate) fn check(
        &mut self,
        schema: &ReferenceOr<Schema>,
        value: &TokenStream,
        path: &TokenStream,
    ) -> Result<TokenStream, String> {
        let schema = match schema {
            ReferenceOr::Reference { reference } => {
                let name = ref_name(reference)
                    .ok_or_else(|| format!("unsupported reference {reference}"))?;
                let ident = Self::fn_ident(name);
                return Ok(quote!(#ident(#value, #path)?;));
            }
            ReferenceOr::Item(schema) => schema,
        };
        let inner = self.check_kind(schema, value, path)?;
        if schema.schema_data.nullable {
            Ok(quote! { if !#value.is_null() { #inner } })
        } else {
            Ok(quote! { runtime::reject_null(#value, #path)?; #inner })
        }
    }

    fn boxed_check(
        &mut self,
        schema: &ReferenceOr<Box<Schema>>,
        value: &TokenStream,
        path: &TokenStream,
    ) -> Result<TokenStream, String> {
        let unboxed = match schema {
            ReferenceOr::Reference { reference } => {
                ReferenceOr::Reference { reference: reference.clone() }
            }
            ReferenceOr::Item(b) => ReferenceOr::Item((**b).clone()),
        };
        self.check(&unboxed, value, path)
    }

    fn check_kind(
        &mut self,
        schema: &Schema,
        value: &TokenStream,
        path: &TokenStream,
    ) -> Result<TokenStream, String> {
        Ok(match &schema.schema_kind {
            SchemaKind::Type(Type::String(s)) => {
                let mut checks = Vec::new();
                let values: Vec<&String> = s.enumeration.iter().flatten().collect();
                if !values.is_empty() {
                    checks.push(quote!(runtime::check_enum(text, &[#(#values),*], #path)?;));
                }
                if s.min_length.is_some() || s.max_length.is_some() {
                    let min = option_tokens(s.min_length.map(|v| v as u64));
                    let max = option_tokens(s.max_length.map(|v| v as u64));
                    checks.push(quote!(runtime::check_length(text, #min, #max, #path)?;));
                }
                if let Some(pattern) = &s.pattern {
                    regress::Regex::new(pattern)
                        .map_err(|e| format!("pattern {pattern:?} does not compile: {e}"))?;
                    let next = self.patterns.len();
                    let index = *self.patterns.entry(pattern.clone()).or_insert(next);
                    let ident = format_ident!("PATTERN_{}", index);
                    checks.push(quote!(runtime::check_pattern(text, &#ident, #pattern, #path)?;));
                }
                match &s.format {
                    openapiv3::VariantOrUnknownOrEmpty::Item(openapiv3::StringFormat::DateTime) => {
                        checks.push(quote!(runtime::check_date_time(text, #path)?;));
                    }
                    openapiv3::VariantOrUnknownOrEmpty::Item(openapiv3::StringFormat::Date) => {
                        checks.push(quote!(runtime::check_date(text, #path)?;));
                    }
                    _ => {}
                }
                if checks.is_empty() {
                    quote!(runtime::expect_str(#value, #path)?;)
                } else {
                    quote! { let text = runtime::expect_str(#value, #path)?; #(#checks)* }
                }
            }
            SchemaKind::Type(Type::Integer(i)) => {
                let min = option_tokens(i.minimum);
                let max = option_tokens(i.maximum);
                let (emin, emax) = (i.exclusive_minimum, i.exclusive_maximum);
                if i.minimum.is_none() && i.maximum.is_none() {
                    quote!(runtime::expect_i64(#value, #path)?;)
                } else {
                    quote! {
                        let number = runtime::expect_i64(#value, #path)?;
                        runtime::check_i64_range(number, #min, #emin, #max, #emax, #path)?;
                    }
                }
            }
            SchemaKind::Type(Type::Number(n)) => {
                let min = option_tokens(n.minimum);
                let max = option_tokens(n.maximum);
                let (emin, emax) = (n.exclusive_minimum, n.exclusive_maximum);
                if n.minimum.is_none() && n.maximum.is_none() {
                    quote!(runtime::expect_f64(#value, #path)?;)
                } else {
                    quote! {
                        let number = runtime::expect_f64(#value, #path)?;
                        runtime::check_f64_range(number, #min, #emin, #max, #emax, #path)?;
                    }
                }
            }
            SchemaKind::Type(Type::Boolean(_)) => quote!(runtime::expect_bool(#value, #path)?;),
            SchemaKind::Type(Type::Array(a)) => {
                let counts = if a.min_items.is_some() || a.max_items.is_some() {
                    let min = option_tokens(a.min_items.map(|v| v as u64));
                    let max = option_tokens(a.max_items.map(|v| v as u64));
                    quote!(runtime::check_items(items.len(), #min, #max, #path)?;)
                } else {
                    quote!()
                };
                let item_check = match &a.items {
                    Some(items) => self.boxed_check(items, &quote!(item), &quote!(item_path))?,
                    None => quote!(),
                };
                let loop_ = if item_check.is_empty() {
                    quote!()
                } else {
                    quote! {
                        for (index, item) in items.iter().enumerate() {
                            let item_path = &runtime::index_path(#path, index);
                            #item_check
                        }
                    }
                };
                quote! { let items = runtime::expect_array(#value, #path)?; #counts #loop_ }
            }
            SchemaKind::Type(Type::Object(o)) => {
                let known: Vec<&String> = o.properties.keys().collect();
                // Request objects are closed unless they explicitly allow more properties: a typo
                // in a nested field of a money-moving request must not be silently dropped. (The
                // spec cannot say `additionalProperties: false` on schemas shared with responses,
                // because typify would then make clients reject fields the server adds later.)
                let unknown = match &o.additional_properties {
                    None | Some(openapiv3::AdditionalProperties::Any(false)) => {
                        quote!(runtime::reject_unknown_fields(object, &[#(#known),*], #path)?;)
                    }
                    Some(openapiv3::AdditionalProperties::Any(true)) => quote!(),
                    // A map: every value that is not a declared property follows the schema.
                    Some(openapiv3::AdditionalProperties::Schema(schema)) => {
                        let check = self.check(schema, &quote!(entry), &quote!(entry_path))?;
                        let declared: &[&String] = &known;
                        let entries = if declared.is_empty() {
                            quote!(object.iter())
                        } else {
                            quote!(object.iter().filter(|(key, _)| ![#(#known),*].contains(&key.as_str())))
                        };
                        quote! {
                            for (key, entry) in #entries {
                                let entry_path = &runtime::field_path(#path, key);
                                #check
                            }
                        }
                    }
                };
                let required = &o.required;
                let required = if required.is_empty() {
                    quote!()
                } else {
                    quote!(runtime::require_fields(object, &[#(#required),*], #path)?;)
                };
                let mut fields = Vec::new();
                for (name, property) in &o.properties {
                    let check = self.boxed_check(property, &quote!(field), &quote!(field_path))?;
                    fields.push(quote! {
                        if let Some(field) = object.get(#name) {
                            let field_path = &runtime::field_path(#path, #name);
                            #check
                        }
                    });
                }
                quote! { let object = runtime::expect_object(#value, #path)?; #unknown #required #(#fields)* }
            }
            SchemaKind::AllOf { all_of } => {
                let mut checks = Vec::new();
                for s in all_of {
                    checks.push(self.check(s, value, path)?);
                }
                quote!(#(#checks)*)
            }
            SchemaKind::OneOf { .. } | SchemaKind::AnyOf { .. } | SchemaKind::Not { .. } => {
                return Err("oneOf/anyOf/not are not supported in request schemas".into());
            }
            SchemaKind::Any(_) => quote!(),
        })
    }
}

fn option_tokens<T: quote::ToTokens>(value: Option<T>) -> TokenStream {
    match value {
        Some(v) => quote!(::std::option::Option::Some(#v)),
        None => quote!(::std::option::Option::None),
    }
}

/// The kind of scalar a parameter's raw string must be converted to before validation.
pub(crate) fn scalar_kind(api: &OpenAPI, schema: &ReferenceOr<Schema>) -> TokenStream {
    match crate::model::resolve(api, schema).map(|s| &s.schema_kind) {
        Some(SchemaKind::Type(Type::Integer(_))) => quote!(runtime::Scalar::Integer),
        Some(SchemaKind::Type(Type::Number(_))) => quote!(runtime::Scalar::Number),
        Some(SchemaKind::Type(Type::Boolean(_))) => quote!(runtime::Scalar::Boolean),
        _ => quote!(runtime::Scalar::String),
    }
}
