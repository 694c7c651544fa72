//! The server's integration tests: one binary (link time matters on CI's two cores).
//!
//! - `harness`: a fresh database per test, helpers to create organizations and keys, and two ways
//!   to drive the app: in-process (`tower::ServiceExt::oneshot`) and over a real socket.
//! - `contract`: the route table and error catalogue against the spec (insta snapshots).
//! - `auth`: 401 and 403 answers.
//! - `code_doc`: the contract crate's own utoipa document of the API against `openapi.yaml`, and
//!   every route mounted under `/api/v1` against that document.
//! - `accounts`, `validation`: behaviour of the implemented operations and input validation.
//! - `cards`: the sandbox's card issuer and network and the Cards operations (purchases against
//!   the available balance, refunds bounded by their purchase, `READ_CARDS`, races on one pod).
//! - `spec_check`: every response any test sees is checked against the operation's declared
//!   responses in `openapi.yaml` (status, body schema, required headers); a mismatch fails the
//!   test that caused it.
//! - `e2e`: the real server on a free port, driven through the generated client.
//! - `demo`: restarting `serve --demo` revokes the key the previous start printed.
//! - `keys_schema`: `sequence-server keys schema` prints the permissions document's JSON Schema,
//!   whose scopes are the spec's.
//! - `error_statuses`: every error status an operation can produce is declared for it.
//! - `limits`, `audit_log`: per-key rate limiting and the audit log.
//! - `webhooks`: events delivered to real HTTP receivers (signatures, retries, order, replicas,
//!   tenant isolation, the 24-hour give-up, `sequence webhooks listen`).

mod accounts;
mod audit_log;
mod auth;
mod cards;
mod code_doc;
mod concurrency;
mod contract;
mod demo;
mod e2e;
mod error_statuses;
mod harness;
mod keys_schema;
mod limits;
mod money_core;
mod newcomer;
mod observability;
mod permissions;
mod rule_executions;
mod rules;
mod spec_check;
mod transfers;
mod validation;
mod webhooks;
