//! Shared server state: the application layer's handle, plus the switches a deployment chooses.

use std::sync::Arc;

use sequence_app::App;
use sequence_app::worker::{self, Pass};
use sequence_core::clock::Clock;
use sequence_store::Store;

use crate::auth::KeyCache;

/// Everything a request handler needs. Cheap to clone (all `Arc`s inside).
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Real time. Organizations see it shifted by their sandbox clock offset.
    pub clock: Arc<dyn Clock>,
    /// Whether `/api/v1/sandbox/*` is served (`serve --sandbox`, implied by `--demo`).
    pub sandbox: bool,
    /// Verified API keys (see [`crate::auth`]).
    pub keys: KeyCache,
}

impl AppState {
    /// State over `store` with the system clock.
    pub fn new(store: Store, sandbox: bool) -> AppState {
        AppState {
            store,
            clock: Arc::new(sequence_core::clock::SystemClock),
            sandbox,
            keys: KeyCache::default(),
        }
    }

    /// The application layer over this state's store and clock.
    pub fn app(&self) -> App {
        App::with_clock(self.store.clone(), self.clock.clone())
    }
}

/// The implementation of every generated trait: a handle to the application layer.
#[derive(Clone)]
pub struct Server {
    pub(crate) state: AppState,
    pub(crate) app: App,
}

impl Server {
    /// Wraps the state.
    pub fn new(state: AppState) -> Server {
        let app = state.app();
        Server { state, app }
    }

    /// One pass of the background worker over every organization (see
    /// [`sequence_app::worker`]); exposed for tests that play a replica's worker.
    pub async fn tick(&self) -> Result<Pass, sequence_app::AppError> {
        worker::tick(&self.app).await
    }
}
