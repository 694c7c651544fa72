//! `sequence-codegen`: turns `openapi.yaml` into Rust.
//!
//! The spec is the reviewed source of truth; everything derived from it is generated here,
//! committed, and checked for freshness by an ordinary `#[test]` (see `xtask`). This crate is a
//! library so that it can be tested on its own with golden snapshots over small fixture specs
//! (`tests/fixtures/`); `cargo xtask codegen` is only the shell that writes files.
//!
//! One progenitor run produces the wire types and the client. The same type space is then reused
//! for the server contract, so the client and the server are generated from exactly the same Rust
//! types without depending on each other:
//!
//! ```text
//! openapi.yaml ─ load (serde-saphyr, rejects duplicate keys; typo guard) ─► openapiv3::OpenAPI
//!   ├─ progenitor (builder interface) ─► sequence-client/src/generated.rs
//!   └─ its `types` module + server.rs ─► sequence-api/src/generated/{types.rs, server.rs}
//! ```
//!
//! # Conventions the generator relies on (enforced by [`lint`])
//! - OpenAPI 3.0.x; every operation has a unique `operationId` and exactly one tag.
//! - One success status per operation; every 4xx/5xx response uses one shared `application/json`
//!   error schema shaped `{error: {code, message}, request_id}`. Its `error.code` property carries
//!   the error catalogue as `x-error-codes: [{code, status, description}]`.
//! - Request and response bodies are `$ref`s to component schemas; at most one security scheme per
//!   operation, of type `apiKey` in a header.
//! - Permissions are declared, not described: the security scheme lists every scope in `x-scopes`
//!   and every operation declares `x-required-scope` (its scope and where its resource comes from,
//!   or `public`); see `src/scopes.rs`. The generated router enforces the declaration before the
//!   operation runs. Operations marked `x-not-implemented: true` are the only ones whose trait
//!   method has a default body (answering 501); every other one must be implemented.
//! - In request bodies, objects are closed: the generated validators refuse properties a schema
//!   does not declare, at every depth, unless the schema sets `additionalProperties` to `true` or
//!   a schema. (Put `additionalProperties: false` only on request-only schemas, where typify also
//!   enforces it; schemas shared with responses stay open for clients, closed for the server.)

mod client;
mod code_doc;
mod format;
pub mod lint;
mod model;
mod scopes;
mod server;
mod spec;
mod validator;

pub use spec::{LoadError, Spec};

/// One generated file: where it goes (relative to the workspace root) and what it contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Path relative to the workspace root, with `/` separators.
    pub path: String,
    /// Full file contents, including the do-not-edit header.
    pub contents: String,
}

/// Where the generated crates live, relative to the workspace root.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Directory of the server-contract crate's generated sources.
    pub server_dir: String,
    /// Path of the client crate's generated source file.
    pub client_file: String,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            server_dir: "crates/sequence-api/src/generated".to_owned(),
            client_file: "crates/sequence-client/src/generated.rs".to_owned(),
        }
    }
}

/// Everything that can go wrong while generating code from a spec that loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// progenitor rejected the spec.
    #[error("progenitor could not generate the client: {0}")]
    Progenitor(String),
    /// The spec breaks a convention the server generator relies on.
    #[error("{location}: {message}")]
    Unsupported {
        /// Where in the spec (e.g. `POST /transfers`).
        location: String,
        /// What is wrong and what to do instead.
        message: String,
    },
    /// Generated tokens did not parse as Rust (a generator bug).
    #[error("generated code for {what} does not parse: {source}")]
    Syntax {
        /// Which file.
        what: &'static str,
        /// The parser's complaint.
        source: syn::Error,
    },
}

/// Generates every file derived from `spec`, using `source_name` (e.g. `openapi.yaml`) in headers.
pub fn generate(spec: &Spec, layout: &Layout) -> Result<Vec<GeneratedFile>, Error> {
    let client = client::generate(spec)?;
    let model = model::Api::from_spec(spec, &client.type_names)?;
    let server = server::generate(&model, spec, &client.type_names)?;
    let header = format::header(spec.source_name(), spec.sha256());
    Ok(vec![
        GeneratedFile {
            path: format!("{}/types.rs", layout.server_dir),
            contents: format::file(&header, "wire types", client.types)?,
        },
        GeneratedFile {
            path: format!("{}/server.rs", layout.server_dir),
            contents: format::file(&header, "server contract", server)?,
        },
        GeneratedFile {
            path: layout.client_file.clone(),
            contents: format::file(&header, "client", client.client)?,
        },
    ])
}
