//! `sequence-server`: the Sequence API over HTTP.
//!
//! The generated contract (`sequence-api`) does routing, authentication hand-off and input
//! validation; this crate implements its traits. Handlers are thin: check permissions, open one
//! database transaction, call the store and the domain core, convert the result to wire types.
//!
//! - [`cli`]: the command line (`serve`, `orgs`, `keys`).
//! - [`app`]: builds the axum application (generated router + middleware + docs).
//! - [`auth`]: API-key format, hashing and the authentication hook.
//! - [`error`]: [`error::ApiError`], the one place where domain errors meet HTTP statuses.
//! - [`handlers`]: one module per tag, each implementing its generated trait.

pub mod app;
pub mod auth;
pub mod cli;
pub mod convert;
pub mod demo;
pub mod docs;
pub mod error;
pub mod handlers;
pub mod idempotency;
pub mod middleware;
mod server_main;
pub mod state;

pub use app::app;
pub use state::AppState;
