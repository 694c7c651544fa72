//! One module per tag, each implementing its generated trait on [`crate::state::Server`].
//!
//! Handlers only translate HTTP. Every handler has the same shape, in the order the spec
//! documents: the generated router has already authenticated (401), validated input (400) and
//! enforced the operation's `x-required-scope` (403: the scope, and the id of a path parameter or
//! required filter, through `ApiSecurity::authorize` in [`crate::auth`]); the handler calls one
//! use case of `sequence_app` — reads on a pooled connection, writes through
//! [`Server::mutate`](crate::state::Server) in one transaction with the idempotency protocol,
//! fingerprinted from the operation the request context names — and converts the result to wire
//! types with [`crate::convert`] and `rule_wire`. No decision about money or rules is made here.
//!
//! The only permission checks left below the router are the ones the spec declares as such
//! (`checked-by`): `createTransfer`'s `MANUAL_TRANSFER` pair and `max_amount` (this handler, it
//! needs the amount), and the resources found by a lookup — a transfer's accounts
//! (`getTransfer`), an execution's rule (`getRuleExecution`) and a card's pod (`getCard`,
//! `listCardTransactions`) — in the application layer.

mod accounts;
mod audit_logs;
mod cards;
mod rule_executions;
mod rule_wire;
mod rules;
mod sandbox;
mod transfers;
mod webhooks;

use sequence_store::{PooledConnection, StoreError};

use crate::error::ApiError;
use crate::state::Server;

impl Server {
    /// A pooled connection for a read-only use case.
    pub(crate) async fn read_connection(&self) -> Result<PooledConnection, ApiError> {
        Ok(self.app.store.pool().acquire().await.map_err(StoreError::from)?)
    }
}
