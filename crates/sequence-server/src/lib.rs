//! `sequence-server`: the Sequence API over HTTP.
//!
//! The generated contract (`sequence-api`) does routing, authentication hand-off and input
//! validation; this crate implements its traits. Handlers only translate HTTP: check the key's
//! scope, call one use case of `sequence-app` (in one database transaction, with the idempotency
//! protocol for writes), convert the result to wire types. The use cases and the background
//! worker live in `sequence-app`, which knows nothing of HTTP.
//!
//! - [`cli`]: the command line (`serve`, `orgs`, `keys`).
//! - [`app`]: builds the axum application (generated router + middleware + docs).
//! - [`auth`]: API-key format, hashing and the authentication hook.
//! - [`keyed`]: around every operation: key verification, the per-key rate limit
//!   ([`rate_limit`]) and the audit of denied and failed calls ([`audit`]).
//! - [`error`]: [`error::ApiError`], the one place where application errors meet HTTP statuses.
//! - [`idempotency`]: the `Idempotency-Key` protocol around a use case's transaction.
//! - [`convert`]: records and domain enums to wire types and back.
//! - [`metrics`]: Prometheus metrics at `/metrics`.
//! - [`handlers`]: one module per tag, each implementing its generated trait.

pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod convert;
pub mod demo;
pub mod docs;
pub mod error;
pub mod handlers;
pub mod idempotency;
pub mod keyed;
pub mod metrics;
pub mod middleware;
pub mod rate_limit;
mod server_main;
pub mod state;

pub use app::app;
pub use state::AppState;
