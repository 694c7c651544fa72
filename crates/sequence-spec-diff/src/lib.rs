//! Compares two versions of an OpenAPI 3.0 document and says which changes
//! can break existing clients, for review of pull requests that touch
//! `openapi.yaml`.
//!
//! ```no_run
//! # fn main() -> Result<(), sequence_spec_diff::LoadError> {
//! # let (base_text, head_text) = (String::new(), String::new());
//! let old = sequence_spec_diff::load(&base_text)?;
//! let new = sequence_spec_diff::load(&head_text)?;
//! let report = sequence_spec_diff::diff(&old, &new);
//! println!("{}", report.to_markdown());
//! if report.has_breaking() {
//!     std::process::exit(1);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Why a crate of our own
//!
//! The spec is the reviewed source of truth and clients are generated from
//! it, so a reviewer needs to know, per change, whether a client built from
//! the old spec keeps working. General-purpose tools (`redocly diff`, Optic,
//! oasdiff) answer a related question and are compared in `COMPARISON.md`;
//! this crate answers ours, with rules that know how the generated Rust code
//! behaves, and produces a report with one sentence of reasoning per change.
//!
//! # How verdicts are decided
//!
//! Everything follows the direction of the data:
//!
//! * **Requests** (client → server): the server must still accept everything
//!   old clients send. A new required field or parameter, a narrower enum, a
//!   tighter constraint or a different type is breaking; a new optional field,
//!   a wider enum or a looser constraint is not.
//! * **Responses** (server → client): old clients must still understand
//!   everything the server sends. A removed required field, a field becoming
//!   optional or nullable, a different type, or a **wider** enum is breaking:
//!   generated Rust clients decode enums into Rust enums that reject unknown
//!   values. A new field or a narrower enum is not.
//! * **Operations**: a removed operation is breaking, a new one is not. A
//!   renamed `operationId` is breaking because generated clients name their
//!   methods after it.
//!
//! The details are in the `schema` module (schemas) and the `diff` module
//! (operations, parameters, bodies, responses, security).
//!
//! # Not compared
//!
//! Descriptions, examples, tags, `deprecated` and servers (documentation, not
//! contract); response headers, parameter `style`/`explode`, callbacks,
//! links, `discriminator`, and the definitions of security schemes (only
//! which schemes and scopes each operation requires).

mod diff;
mod load;
mod report;
mod schema;

pub use crate::diff::diff;
pub use crate::load::{LoadError, load};
pub use crate::report::{Change, ChangeKind, Endpoint, Report, Verdict};
