//! The store's integration tests, in one binary (link time matters on CI's two cores). Every test
//! runs against SQLite and against PostgreSQL; the PostgreSQL variants run when
//! `SEQUENCE_TEST_POSTGRES_URL` is set and otherwise print why they are skipped.
//!
//! - `conformance`: organizations, keys, accounts, idempotency, reservations, postings and
//!   transfers behave identically on both backends.
//! - `rules`: rules, executions, scheduled-occurrence claims and rule-transfer counting.

mod conformance;
mod rules;
