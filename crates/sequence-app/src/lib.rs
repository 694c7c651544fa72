//! `sequence-app`: the application layer. Every use case of the Sequence API (accept a transfer,
//! settle what is due, deposit, approve, run a rule, advance the sandbox clock, …) lives here as
//! one function over a unit of work: the caller's database transaction, the organization, and a
//! clock reading at stored precision.
//!
//! Layering (see ARCHITECTURE.md):
//! - `sequence-core` decides (pure functions: may this transfer be accepted, what does this rule
//!   move, what status does this execution have);
//! - `sequence-store` remembers (SQL, one function per statement);
//! - this crate composes the two into use cases and owns every read-then-decide, saying which
//!   lock or conditional write makes the decision hold under PostgreSQL's READ COMMITTED;
//! - `sequence-server` only translates HTTP: it checks the key's scope, calls a use case and
//!   converts the result to wire types. Nothing here knows about HTTP, axum or the generated
//!   contract, so the same use cases drive the deterministic simulator (`sequence-sim`).
//!
//! Errors are [`AppError`]; the server maps them to its one `ApiError` in one place.
//!
//! - [`ledger`]: accepting transfers, settlement, postings, deposits, approvals.
//! - [`accounts`], [`transfers`], [`rules`], [`executions`], [`cards`], [`sandbox`]: the use
//!   cases per resource ([`cards`] also plays the sandbox's card issuer and card network).
//! - [`rule_engine`] and [`rule_hooks`]: running a rule, and where the ledger hands over to it.
//! - [`worker`]: the background pass over every organization's due work, tenant by tenant.
//! - [`events`]: webhook events, recorded in the transaction of the change they report;
//!   [`webhooks`]: the endpoints; [`deliverer`]: the background task that sends them.
//! - [`audit`]: the audit log (successful mutations in their transaction, denials off the path).
//! - [`unit_of_work`]: the transaction runner (retries on collisions).

pub mod accounts;
pub mod audit;
pub mod cards;
pub mod deliverer;
mod error;
pub mod events;
pub mod executions;
pub mod ledger;
pub mod rule_engine;
pub mod rule_hooks;
pub mod rules;
pub mod sandbox;
pub mod transfers;
pub mod unit_of_work;
pub mod webhooks;
pub mod worker;

use std::sync::Arc;

use chrono::{DateTime, Utc};
pub use error::{AppError, Resource};
use sequence_core::clock::{Clock, SystemClock, org_now};
use sequence_core::ids::OrgId;
use sequence_store::orgs::{self, Organization};
use sequence_store::{AnyConnection, Store};

/// The application: the store and the clock every use case reads. Cheap to clone.
#[derive(Clone)]
pub struct App {
    /// The database.
    pub store: Store,
    /// Real time. Organizations see it shifted by their sandbox clock offset.
    pub clock: Arc<dyn Clock>,
}

impl App {
    /// The application over `store` with the system clock.
    pub fn new(store: Store) -> App {
        App { store, clock: Arc::new(SystemClock) }
    }

    /// The application over `store` with an injected clock (tests, the simulator).
    pub fn with_clock(store: Store, clock: Arc<dyn Clock>) -> App {
        App { store, clock }
    }

    /// Real time now, at the millisecond precision timestamps are stored with (so what a use
    /// case returns is exactly what a later read gives, and comparisons made in memory agree with
    /// the ones SQL makes).
    pub fn now(&self) -> DateTime<Utc> {
        at_stored_precision(self.clock.now())
    }

    /// An organization's time now, given its sandbox clock offset (stored precision).
    pub fn org_now(&self, offset_seconds: i64) -> DateTime<Utc> {
        at_stored_precision(org_now(self.clock.as_ref(), offset_seconds))
    }

    /// The organization and its time now: the organization part of a unit of work.
    pub async fn organization(
        &self,
        conn: &mut AnyConnection,
        org: &OrgId,
    ) -> Result<(Organization, DateTime<Utc>), AppError> {
        let org = orgs::get(conn, org).await?;
        let now = self.org_now(org.clock_offset_seconds);
        Ok((org, now))
    }
}

/// `at` truncated to the store's precision (milliseconds). Every timestamp that is compared
/// after a round trip through the database passes through here first.
pub fn at_stored_precision(at: DateTime<Utc>) -> DateTime<Utc> {
    sequence_store::from_millis(sequence_store::to_millis(at))
}
