//! One module per tag, each implementing its generated trait on [`crate::state::Server`].
//!
//! Handlers only translate HTTP. Every handler has the same shape, in the order the spec
//! documents: the generated router has already authenticated (401) and validated input (400);
//! the handler checks the key's scope (403), calls one use case of `sequence_app` — reads on a
//! pooled connection, writes through [`Server::mutate`](crate::state::Server) in one transaction
//! with the idempotency protocol — and converts the result to wire types with
//! [`crate::convert`] and `rule_wire`. No decision about money or rules is made here.

mod accounts;
mod cards;
mod rule_executions;
mod rule_wire;
mod rules;
mod sandbox;
mod transfers;

use sequence_store::{PooledConnection, StoreError};

use crate::error::ApiError;
use crate::state::Server;

impl Server {
    /// A pooled connection for a read-only use case.
    pub(crate) async fn read_connection(&self) -> Result<PooledConnection, ApiError> {
        Ok(self.app.store.pool().acquire().await.map_err(StoreError::from)?)
    }
}
