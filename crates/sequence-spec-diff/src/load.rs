//! Loading a spec for comparison.
//!
//! Both sides of a diff usually come from git (`git show <ref>:openapi.yaml`),
//! so loading takes a string instead of a path. Two things are checked here,
//! not during the diff, so that a bad document fails loudly before any report
//! is produced:
//!
//! * **Duplicate keys.** serde-saphyr rejects them by default. With other YAML
//!   crates a duplicated path or property silently replaces its twin, and the
//!   diff would then report a change nobody made.
//! * **Dangling `$ref`s.** A reference to a component that does not exist would
//!   otherwise surface as an "unresolvable reference" entry in the middle of a
//!   review; a typo in the spec is better reported as a load error.
//!
//! Only OpenAPI 3.0.x is accepted because `openapiv3` models 3.0. A 3.1
//! document often parses "successfully" while losing information (for example
//! `type: [string, "null"]`), so the version is checked explicitly rather than
//! trusting the parse.

use openapiv3::OpenAPI;
use serde_json::Value;

/// Why a document could not be loaded for comparison.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The text is not YAML/JSON, has duplicate keys, or does not match the
    /// OpenAPI 3.0 structure. The source error has the location.
    #[error("the document is not a valid OpenAPI 3.0 document")]
    Parse(#[source] serde_saphyr::Error),

    /// The document declares a version this crate cannot model.
    #[error("OpenAPI version {found} is not supported; only 3.0.x documents can be compared")]
    UnsupportedVersion {
        /// The declared version, e.g. `3.1.0` or `Swagger 2.0`.
        found: String,
    },

    /// A local `$ref` points at nothing in the document.
    #[error("`$ref: {reference}` does not point to anything in the document")]
    UnresolvedReference {
        /// The reference as written.
        reference: String,
    },

    /// A `$ref` points into another file or URL.
    #[error("`$ref: {reference}` refers to another document; bundle the spec into one file first")]
    ExternalReference {
        /// The reference as written.
        reference: String,
    },

    /// The parsed document could not be converted to JSON for the reference
    /// check. This only happens for values JSON cannot represent.
    #[error("the document could not be converted to JSON to check its references")]
    Json(#[source] serde_json::Error),
}

/// Parses an OpenAPI 3.0.x document given as YAML or JSON.
///
/// JSON is valid YAML, so both go through serde-saphyr and get the same
/// duplicate-key check.
///
/// # Errors
///
/// See [`LoadError`]: unparsable text, duplicate keys, a version other than
/// 3.0.x, or a `$ref` that does not resolve within the document.
pub fn load(yaml_or_json: &str) -> Result<OpenAPI, LoadError> {
    let options = serde_saphyr::options! {
        // `yes`/`no`/`on`/`off` stay strings. Enum values and examples are
        // untyped (`serde_json::Value`) in openapiv3, so YAML 1.1 booleans
        // would otherwise turn an enum value `NO` (Norway) into `false`.
        strict_booleans: true,
    };
    let spec: OpenAPI = match serde_saphyr::from_str_with_options(yaml_or_json, options.clone()) {
        Ok(spec) => spec,
        Err(error) => {
            // A 3.1 or Swagger 2 document usually fails the typed parse; say
            // why instead of showing a confusing structural error.
            if let Some(found) = declared_version(yaml_or_json, options)
                && !is_supported(&found)
            {
                return Err(LoadError::UnsupportedVersion { found });
            }
            return Err(LoadError::Parse(error));
        }
    };
    if !is_supported(&spec.openapi) {
        return Err(LoadError::UnsupportedVersion { found: spec.openapi });
    }
    let json = serde_json::to_value(&spec).map_err(LoadError::Json)?;
    check_references(&json, &json, Context::Node)?;
    Ok(spec)
}

fn is_supported(version: &str) -> bool {
    version.starts_with("3.0.") || version == "3.0"
}

/// Reads `openapi:` (or `swagger:`) from a document that failed the typed parse.
fn declared_version(text: &str, options: serde_saphyr::Options) -> Option<String> {
    let Ok(Value::Object(root)) = serde_saphyr::from_str_with_options::<Value>(text, options)
    else {
        return None;
    };
    let as_text = |value: &Value| match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    if let Some(version) = root.get("openapi") {
        return Some(as_text(version));
    }
    root.get("swagger").map(|version| format!("Swagger {}", as_text(version)))
}

/// What the object being walked is, as far as the reference check cares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    /// A spec object: its keys are keywords, and `$ref` is a reference.
    Node,
    /// A map whose keys are user-chosen names (`properties`, `paths`,
    /// `responses`, ...). A property called `example` is not an example.
    Names,
    /// A map of Example objects, whose `value` is free-form data.
    Examples,
    /// One Example object.
    Example,
}

/// Keywords whose values are user data, not spec objects; a `$ref` key inside
/// an example payload is not a reference.
const FREE_FORM: &[&str] = &["example", "default", "enum"];

/// Keywords whose values are maps keyed by user-chosen names.
const NAME_MAPS: &[&str] = &[
    "properties",
    "paths",
    "responses",
    "schemas",
    "parameters",
    "requestBodies",
    "headers",
    "securitySchemes",
    "links",
    "callbacks",
    "content",
    "encoding",
    "variables",
    "mapping",
];

fn check_references(root: &Value, value: &Value, context: Context) -> Result<(), LoadError> {
    match value {
        Value::Array(items) => {
            for item in items {
                check_references(root, item, Context::Node)?;
            }
        }
        Value::Object(map) => {
            for (key, child) in map {
                let child_context = match context {
                    Context::Names => Context::Node,
                    Context::Examples => Context::Example,
                    Context::Example if key == "value" => continue,
                    Context::Node | Context::Example => {
                        if key == "$ref" {
                            if let Value::String(reference) = child {
                                resolve_pointer(root, reference)?;
                            }
                            continue;
                        }
                        if key.starts_with("x-") || FREE_FORM.contains(&key.as_str()) {
                            continue;
                        }
                        if key == "examples" {
                            Context::Examples
                        } else if NAME_MAPS.contains(&key.as_str()) {
                            Context::Names
                        } else {
                            Context::Node
                        }
                    }
                };
                check_references(root, child, child_context)?;
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
    Ok(())
}

fn resolve_pointer(root: &Value, reference: &str) -> Result<(), LoadError> {
    let Some(pointer) = reference.strip_prefix('#') else {
        return Err(LoadError::ExternalReference { reference: reference.to_owned() });
    };
    match root.pointer(pointer) {
        Some(_) => Ok(()),
        None => Err(LoadError::UnresolvedReference { reference: reference.to_owned() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "openapi: 3.0.3\ninfo: {title: T, version: '1'}\npaths: {}\n";

    #[test]
    fn loads_yaml_and_json_alike() {
        let from_yaml = load(MINIMAL).unwrap();
        let from_json =
            load(r#"{"openapi": "3.0.3", "info": {"title": "T", "version": "1"}, "paths": {}}"#)
                .unwrap();
        assert_eq!(from_yaml, from_json);
    }

    #[test]
    fn rejects_duplicate_paths() {
        let text = "openapi: 3.0.3\ninfo: {title: T, version: '1'}\npaths:\n  /a: {}\n  /a: {}\n";
        let error = load(text).unwrap_err();
        assert!(matches!(error, LoadError::Parse(_)), "{error:?}");
        let source = std::error::Error::source(&error).unwrap().to_string();
        assert!(source.contains("duplicate"), "{source}");
    }

    #[test]
    fn rejects_other_versions_with_a_clear_error() {
        let text = "openapi: 3.1.0\ninfo: {title: T, version: '1'}\npaths: {}\n";
        assert!(matches!(
            load(text),
            Err(LoadError::UnsupportedVersion { found }) if found == "3.1.0"
        ));
        // A 3.1-only construct makes the typed parse fail; the version still wins.
        let text = "openapi: 3.1.0\ninfo: {title: T, version: '1'}\npaths: {}\n\
                    components: {schemas: {A: {type: [string, 'null']}}}\n";
        assert!(matches!(load(text), Err(LoadError::UnsupportedVersion { .. })));
        let text = "swagger: '2.0'\ninfo: {title: T, version: '1'}\npaths: {}\n";
        assert!(matches!(
            load(text),
            Err(LoadError::UnsupportedVersion { found }) if found == "Swagger 2.0"
        ));
    }

    #[test]
    fn rejects_dangling_and_external_references() {
        let dangling = format!(
            "{MINIMAL}components:\n  schemas:\n    A:\n      type: object\n      properties:\n        \
             b: {{$ref: '#/components/schemas/Missing'}}\n"
        );
        assert!(matches!(
            load(&dangling),
            Err(LoadError::UnresolvedReference { reference }) if reference == "#/components/schemas/Missing"
        ));
        let external =
            format!("{MINIMAL}components:\n  schemas:\n    A: {{$ref: 'other.yaml#/A'}}\n");
        assert!(matches!(load(&external), Err(LoadError::ExternalReference { .. })));
    }

    #[test]
    fn ignores_ref_keys_inside_examples_and_extensions() {
        let text = format!(
            "{MINIMAL}components:\n  schemas:\n    A:\n      type: object\n      \
             example: {{$ref: nowhere}}\n      x-note: {{$ref: nowhere}}\n      properties:\n        \
             example: {{$ref: '#/components/schemas/A'}}\n"
        );
        load(&text).unwrap();
    }

    #[test]
    fn keeps_norway_a_string() {
        let text = format!(
            "{MINIMAL}components:\n  schemas:\n    Country: {{type: string, enum: [SE, NO]}}\n"
        );
        let spec = load(&text).unwrap();
        let schema = spec.components.unwrap().schemas["Country"].as_item().unwrap().clone();
        let openapiv3::SchemaKind::Type(openapiv3::Type::String(string)) = schema.schema_kind
        else {
            panic!("`NO` was not read as a string: {schema:?}");
        };
        assert_eq!(string.enumeration, [Some("SE".to_owned()), Some("NO".to_owned())]);
    }
}
