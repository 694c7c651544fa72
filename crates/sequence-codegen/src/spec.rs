//! Loading `openapi.yaml`: strict YAML, and a guard against keys the OpenAPI model drops.
//!
//! `openapiv3` silently ignores keys it does not know, so a typo such as `requried:` or
//! `nulable:` would parse and quietly change the contract. We therefore keep the raw document
//! next to the typed one and compare them (see [`Spec::dropped_keys`]). serde-saphyr is used
//! because it is the only YAML crate that rejects duplicate keys (a duplicated path would
//! otherwise silently overwrite its twin).

use openapiv3::OpenAPI;
use serde_json::Value;

/// A loaded spec: the typed model plus the raw document it came from.
#[derive(Debug, Clone)]
pub struct Spec {
    api: OpenAPI,
    raw: Value,
    source_name: String,
    sha256: String,
}

/// Why a spec could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not valid YAML, or not shaped like OpenAPI 3.0.
    #[error("{source_name} is not a valid OpenAPI document: {message}")]
    Parse {
        /// File name used in messages.
        source_name: String,
        /// The parser's message (with line and column where available).
        message: String,
    },
    /// An OpenAPI version the toolchain cannot read.
    #[error("{source_name} declares openapi {version}; progenitor reads 3.0.x only")]
    Version {
        /// File name used in messages.
        source_name: String,
        /// The declared version.
        version: String,
    },
}

impl Spec {
    /// Parses `text` (YAML or JSON). `source_name` is used in messages and generated headers.
    pub fn load(text: &str, source_name: &str) -> Result<Spec, LoadError> {
        let parse_error =
            |message: String| LoadError::Parse { source_name: source_name.to_owned(), message };
        let api: OpenAPI = serde_saphyr::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        let raw: Value = serde_saphyr::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        if !api.openapi.starts_with("3.0.") {
            return Err(LoadError::Version {
                source_name: source_name.to_owned(),
                version: api.openapi,
            });
        }
        let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
        Ok(Spec { api, raw, source_name: source_name.to_owned(), sha256 })
    }

    /// The typed model.
    pub fn api(&self) -> &OpenAPI {
        &self.api
    }

    /// SHA-256 of the spec's exact text. Generated files record it, so that any edit to the spec
    /// — even one that changes no generated code, such as an example — makes them stale until
    /// `cargo xtask codegen` runs again.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The name the spec was loaded under (e.g. `openapi.yaml`).
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// JSON-pointer-like paths of keys present in the file but absent from the typed model, i.e.
    /// keys the parser silently dropped. Keys whose value is the OpenAPI default (`false`, an
    /// empty list or map) are not reported, because the model does not serialize defaults.
    pub fn dropped_keys(&self) -> Vec<String> {
        let typed = serde_json::to_value(&self.api).unwrap_or(Value::Null);
        let mut dropped = Vec::new();
        compare(&self.raw, &typed, &mut String::new(), &mut dropped);
        dropped
    }
}

fn compare(raw: &Value, typed: &Value, path: &mut String, dropped: &mut Vec<String>) {
    match (raw, typed) {
        (Value::Object(raw_map), Value::Object(typed_map)) => {
            for (key, raw_value) in raw_map {
                let len = path.len();
                path.push('/');
                path.push_str(&key.replace('~', "~0").replace('/', "~1"));
                match typed_map.get(key) {
                    Some(typed_value) => {
                        // Free-form values (examples, extensions, enums, defaults) are kept
                        // verbatim by the model; only descend into structure.
                        if !is_free_form(key) {
                            compare(raw_value, typed_value, path, dropped);
                        }
                    }
                    None if is_default(raw_value) => {}
                    None => dropped.push(path.clone()),
                }
                path.truncate(len);
            }
        }
        (Value::Array(raw_items), Value::Array(typed_items)) => {
            for (index, (r, t)) in raw_items.iter().zip(typed_items).enumerate() {
                let len = path.len();
                path.push_str(&format!("/{index}"));
                compare(r, t, path, dropped);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

fn is_free_form(key: &str) -> bool {
    matches!(key, "example" | "examples" | "enum" | "default") || key.starts_with("x-")
}

fn is_default(value: &Value) -> bool {
    match value {
        Value::Bool(b) => !b,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Null => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n";

    #[test]
    fn typos_are_reported_as_dropped_keys() {
        let text = format!(
            "{BASE}components:\n  schemas:\n    A:\n      type: object\n      requried: [x]\n      properties:\n        x: {{type: string, nulable: true}}\n"
        );
        let spec = Spec::load(&text, "t.yaml").unwrap();
        assert_eq!(
            spec.dropped_keys(),
            ["/components/schemas/A/properties/x/nulable", "/components/schemas/A/requried"]
        );
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let text = format!(
            "{BASE}components:\n  schemas:\n    A: {{type: string}}\n    A: {{type: integer}}\n"
        );
        let err = Spec::load(&text, "t.yaml").unwrap_err().to_string();
        assert!(err.contains("duplicate"), "{err}");
    }

    #[test]
    fn openapi_3_1_is_refused() {
        let err = Spec::load(&BASE.replace("3.0.3", "3.1.0"), "t.yaml").unwrap_err();
        assert!(matches!(err, LoadError::Version { .. }));
    }
}
