//! Upper bounds the ledger enforces, in one place (TigerStyle: a limit on everything, units last).
//!
//! These mirror the `maximum`s of `openapi.yaml`, so a value that passed request validation never
//! trips them; they exist for callers that do not come through the HTTP layer (rules, the
//! sandbox, tests) and to keep every sum of amounts far from `i64` overflow.

use crate::money::Cents;

/// The largest amount one transfer or deposit may move: $1,000,000,000.00, the `maximum` of
/// `amount_in_cents` in `openapi.yaml`. About 92 million transfers of this size fit in `i64`, so
/// balances overflow only in theory (and then as an error, never silently).
pub const TRANSFER_AMOUNT_MAX: Cents = Cents::new(100_000_000_000);
