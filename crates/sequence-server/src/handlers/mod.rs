//! One module per tag, each implementing its generated trait on [`crate::state::Server`].
//!
//! Every handler follows the same shape, in the order the spec documents: the generated router
//! has already authenticated (401) and validated input (400); the handler checks the key's
//! permission (403), then runs the use case — reads directly, writes through
//! [`Server::mutate`](crate::state::Server) in one transaction with the idempotency protocol —
//! and converts records to wire types with [`crate::convert`].

mod accounts;
mod cards;
mod ledger;
mod rule_engine;
mod rule_executions;
mod rule_hooks;
mod rule_wire;
mod rules;
mod sandbox;
mod transfers;

pub(crate) use accounts::new_account;
pub use ledger::run_worker;
