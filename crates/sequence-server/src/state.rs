//! Shared server state: the application layer's handle, plus the switches a deployment chooses.

use std::sync::Arc;

use sequence_app::App;
use sequence_app::audit::DenialLog;
use sequence_app::worker::{self, Pass};
use sequence_core::clock::Clock;
use sequence_store::Store;

use crate::auth::KeyCache;
use crate::idempotency::InFlightKeys;
use crate::rate_limit::RateLimit;

/// Everything a request handler needs, behind one `Arc`: axum clones the state for every
/// middleware and extractor that takes it, several times per request, so a clone is one atomic
/// increment rather than one per handle inside (the profile showed those shared counters
/// bouncing between the cores).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares (reached through `Deref`).
#[derive(Clone)]
pub struct Shared {
    /// The database.
    pub store: Store,
    /// Real time. Organizations see it shifted by their sandbox clock offset.
    pub clock: Arc<dyn Clock>,
    /// Whether `/api/v1/sandbox/*` is served (`serve --sandbox`, implied by `--demo`).
    pub sandbox: bool,
    /// Verified API keys (see [`crate::auth`]).
    pub keys: KeyCache,
    /// Per-key token buckets (`serve --rate-limit`); `None`: no limit (see [`crate::rate_limit`]).
    pub rate_limit: Option<RateLimit>,
    /// Where denied and failed calls go to be written to the audit log off the request path
    /// (see `sequence_app::audit`).
    pub denials: DenialLog,
    /// Idempotency keys whose request is executing here (see [`crate::idempotency`]).
    pub in_flight_keys: InFlightKeys,
}

impl AppState {
    /// State over `store` with the system clock and no rate limit (`serve` applies the
    /// configured one with [`AppState::with_rate_limit`]). Starts the audit log's writer task,
    /// so it must be called within a tokio runtime.
    pub fn new(store: Store, sandbox: bool) -> AppState {
        let clock: Arc<dyn Clock> = Arc::new(sequence_core::clock::SystemClock);
        let denials = DenialLog::spawn(App::with_clock(store.clone(), clock.clone()));
        AppState(Arc::new(Shared {
            store,
            clock,
            sandbox,
            keys: KeyCache::default(),
            rate_limit: None,
            denials,
            in_flight_keys: InFlightKeys::default(),
        }))
    }

    /// The same state limiting each key to `per_minute` requests per minute (0: no limit).
    pub fn with_rate_limit(mut self, per_minute: u32) -> AppState {
        self.rate_limit = RateLimit::per_minute(per_minute);
        self
    }

    /// Starts the background worker (settlement and scheduled rules, one pass every `interval`)
    /// where the store's writes are cheapest: on SQLite, the writer's lane
    /// (`Store::spawn_on_writer_lane`). Aborting the handle stops it.
    pub fn spawn_worker(&self, interval: std::time::Duration) -> tokio::task::JoinHandle<()> {
        self.store.spawn_on_writer_lane(worker::run(self.app(), interval))
    }

    /// The application layer over this state's store and clock.
    pub fn app(&self) -> App {
        App::with_clock(self.store.clone(), self.clock.clone())
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Changing a field (tests do, before building the app) changes this handle's copy only:
/// copy-on-write, like `with_rate_limit`.
impl std::ops::DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.0)
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
