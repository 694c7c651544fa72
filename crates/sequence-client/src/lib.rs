//! Client.
#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, missing_docs, unused_imports, unused_qualifications)]
mod generated;
pub use generated::*;
