//! The domain core of sequence: money, identifiers, permissions, the double-entry ledger, debit
//! cards and the rules engine.
//!
//! Everything here is pure: no HTTP, no SQL, no clock reads, no randomness except identifier
//! generation (webhook retry jitter is passed in). Storage and transport live in `sequence-store` and `sequence-server`; they call into
//! this crate to decide *what* should happen, then make it durable. Keeping the decisions pure is
//! what lets the rules engine and the ledger checks be tested as tables of cases.

pub mod cards;
pub mod clock;
pub mod ids;
pub mod ledger;
pub mod money;
pub mod permissions;
pub mod rules;
pub mod webhooks;
