//! The store's integration tests, in one binary (link time matters on CI's two cores). Every test
//! runs against SQLite and against PostgreSQL; the PostgreSQL variants run when
//! `SEQUENCE_TEST_POSTGRES_URL` is set and otherwise print why they are skipped.
//!
//! - `conformance`: organizations, keys, accounts, idempotency, reservations, postings and
//!   transfers behave identically on both backends.
//! - `rules`: rules, executions, scheduled-occurrence claims and rule-transfer counting.
//! - `cards`: cards and card transactions (migration 0006 keeps the entries it rebuilds, status
//!   changes and refunds are conditional, card movements post like transfers).
//! - `plans`: every query over an organization's history reads index ranges in the order it
//!   returns (`EXPLAIN` on both backends); `listings`: those listings return exactly what a plain
//!   filter and sort of the history does, for every filter combination; `history`: the mixed
//!   history both generate.

mod cards;
mod conformance;
mod history;
mod listings;
mod plans;
mod rules;
