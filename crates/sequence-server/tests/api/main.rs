//! The server's integration tests: one binary (link time matters on CI's two cores).
//!
//! - `harness`: a fresh database per test, helpers to create organizations and keys, and two ways
//!   to drive the app: in-process (`tower::ServiceExt::oneshot`) and over a real socket.
//! - `contract`: the route table and error catalogue against the spec (insta snapshots).
//! - `auth`: 401 and 403 answers.
//! - `accounts`, `validation`: behaviour of the implemented operations and input validation.
//! - `e2e`: the real server on a free port, driven through the generated client.
//! - `demo`: restarting `serve --demo` revokes the key the previous start printed.

mod accounts;
mod auth;
mod concurrency;
mod contract;
mod demo;
mod e2e;
mod harness;
mod money_core;
mod newcomer;
mod observability;
mod permissions;
mod rule_executions;
mod rules;
mod transfers;
mod validation;
