//! Shared server state: the store, the clock and the switches a deployment chooses.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sequence_core::clock::{Clock, org_now};
use sequence_store::Store;

/// Everything a request handler needs. Cheap to clone (all `Arc`s inside).
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Real time. Organizations see it shifted by their sandbox clock offset.
    pub clock: Arc<dyn Clock>,
    /// Whether `/api/v1/sandbox/*` is served (`serve --sandbox`, implied by `--demo`).
    pub sandbox: bool,
}

impl AppState {
    /// State over `store` with the system clock.
    pub fn new(store: Store, sandbox: bool) -> AppState {
        AppState { store, clock: Arc::new(sequence_core::clock::SystemClock), sandbox }
    }

    /// Real time now, at the millisecond precision timestamps are stored with (so a response
    /// shows exactly what a later read returns).
    pub fn now(&self) -> DateTime<Utc> {
        truncate_to_millis(self.clock.now())
    }

    /// An organization's time now, given its sandbox clock offset (millisecond precision).
    pub fn org_now(&self, offset_seconds: i64) -> DateTime<Utc> {
        truncate_to_millis(org_now(self.clock.as_ref(), offset_seconds))
    }
}

fn truncate_to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    sequence_store::from_millis(sequence_store::to_millis(at))
}

/// The implementation of every generated trait: a handle to the shared state.
#[derive(Clone)]
pub struct Server {
    pub(crate) state: AppState,
}

impl Server {
    /// Wraps the state.
    pub fn new(state: AppState) -> Server {
        Server { state }
    }
}
