//! `sequence-store`: the durable side of sequence, over SQLite (the embedded default) or
//! PostgreSQL (for several stateless server replicas on one database).
//!
//! One SQL implementation serves both backends through sqlx's `Any` driver: the dialects differ
//! only in migrations (each backend has its own directory) and in how a write transaction begins
//! (`BEGIN IMMEDIATE` on SQLite takes the write lock up front). Money-moving statements are
//! conditional `UPDATE`s (e.g. "reserve 500 cents if the available balance is at least 500")
//! whose row count says whether they won, which is atomic on both backends and safe with several
//! replicas; where a decision rests on several reads (a rule's cap usage, an account's emptiness)
//! the caller first takes a row lock (`accounts::lock_live`, `rules::lock`: `FOR [NO KEY] UPDATE`
//! on PostgreSQL, the write transaction itself on SQLite).
//!
//! Modules are repositories of plain functions taking `&mut AnyConnection`, so a use case of
//! `sequence-app` composes several of them inside one transaction ([`Store::begin`]). The hot
//! reads outside a transaction (`accounts::list_committed`, `accounts::find_committed`) take the
//! [`Store`] instead: on a SQLite file they run on the caller's thread through read-only
//! `rusqlite` connections (`local`), with the same SQL text and the same row mapping.

pub mod accounts;
pub mod audit;
pub mod cards;
mod checkpoint;
mod error;
pub mod idempotency;
pub mod keys;
pub mod lane;
pub mod ledger;
mod local;
pub mod orgs;
pub mod rules;
pub mod statement;
#[cfg(feature = "test-support")]
pub mod test_support;
mod time;
pub mod transfers;
pub mod webhooks;

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub use error::{StoreError, StoreResult};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
pub use sqlx::{Any, AnyConnection, Transaction};
/// A connection borrowed from the pool, for reads outside a transaction.
pub type PooledConnection = sqlx::pool::PoolConnection<Any>;
use sqlx::{AnyPool, Executor};
pub use time::{from_millis, to_millis};

/// A transaction on either backend.
pub type Tx = Transaction<'static, Any>;

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite: one file, one writer at a time.
    Sqlite,
    /// PostgreSQL: many writers, many server replicas.
    Postgres,
}

/// The connection pools plus the backend they talk to.
///
/// On SQLite, writes go through **one** connection (`writer`, a pool of size one): transactions
/// queue for it in-process, in arrival order, instead of several connections each taking
/// `BEGIN IMMEDIATE` and spinning in SQLite's busy handler (which made throughput fall and tail
/// latency climb as clients were added). That connection is opened on the writer's lane
/// ([`lane`]), and work handed to [`Store::on_writer_lane`] drives it from the same CPU. Reads go
/// through `readers`, which WAL lets proceed while the writer commits. On PostgreSQL both are
/// the same pool: many writers are fine there.
#[derive(Debug, Clone)]
pub struct Store {
    readers: AnyPool,
    writer: AnyPool,
    backend: Backend,
    /// Short reads on the caller's thread, for a SQLite file ([`Store::read_here`]).
    local: Option<Arc<local::LocalReaders>>,
    /// SQLite's writer lane ([`lane`]); `None` on PostgreSQL.
    lane: Option<Arc<lane::WriterLane>>,
    /// Checkpoints a SQLite file's log off the writer (`checkpoint`); `None` on PostgreSQL and
    /// for an in-memory database.
    _checkpointer: Option<Arc<checkpoint::Checkpointer>>,
}

/// The histogram of connection waits (seconds), by pool (`reader`, `writer`).
pub const ACQUIRE_METRIC: &str = "sequence_db_acquire_seconds";

/// Read connections on SQLite.
const SQLITE_READERS: u32 = 8;
/// Connections on PostgreSQL (per server replica).
const POSTGRES_CONNECTIONS: u32 = 16;
/// How long a request may wait for a connection (the writer, on SQLite) before it fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Connects to `url` (`sqlite://path.db`, `sqlite::memory:`, `postgres://…`), creating a
    /// SQLite file if it does not exist, and applies pending migrations.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Config(format!(
                "unsupported database URL `{url}`: use sqlite://FILE or postgres://…"
            )));
        };
        let url = match backend {
            // Create the file on first use; the documented default is "just run it".
            Backend::Sqlite if !url.contains("mode=") && !url.contains(":memory:") => {
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url).map_err(StoreError::from_sqlx)?;
        let (readers, writer, lane) = match backend {
            Backend::Sqlite => {
                // An in-memory database lives in its one connection: readers and writer share it.
                let in_memory = url.contains(":memory:");
                // Opened from the lane, so the connection's own thread shares the lane's CPU. It
                // is never closed for age or idleness: a replacement opened from another thread
                // would not.
                let lane = Arc::new(lane::WriterLane::start()?);
                let writer_options = options.clone();
                let writer = lane
                    .run(async move {
                        sqlite_pool(1)
                            .after_connect(|conn, _| {
                                Box::pin(async move {
                                    configure_sqlite(conn).await?;
                                    // Checkpoints run on their own thread (`checkpoint`); the
                                    // writer's are a safety net at a larger threshold.
                                    conn.execute(checkpoint::WRITER_AUTOCHECKPOINT).await?;
                                    Ok(())
                                })
                            })
                            .max_lifetime(None)
                            .idle_timeout(None)
                            .connect_with(writer_options)
                            .await
                    })
                    .await
                    .map_err(|stopped| StoreError::Config(stopped.to_string()))?;
                let writer = writer.map_err(StoreError::from_sqlx)?;
                let readers = if in_memory {
                    writer.clone()
                } else {
                    // Every reader is opened here, now, and never replaced for age or idleness:
                    // sqlx opens a connection (and starts its thread) in the task that needs
                    // it, and one opened by work on the writer's lane would inherit the lane's
                    // CPU, crowding the writer and the reads alike.
                    let readers = sqlite_pool(SQLITE_READERS)
                        .min_connections(SQLITE_READERS)
                        .max_lifetime(None)
                        .idle_timeout(None)
                        .connect_with(options)
                        .await;
                    readers.map_err(StoreError::from_sqlx)?
                };
                (readers, writer, Some(lane))
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(POSTGRES_CONNECTIONS)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                (pool.clone(), pool, None)
            }
        };
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&writer)
            .await
            .map_err(|e| StoreError::Config(format!("migrating the database: {e}")))?;
        // After the migrations, so the file exists and has its tables.
        let local = match backend {
            Backend::Sqlite => local::LocalReaders::open(&url)?.map(Arc::new),
            Backend::Postgres => None,
        };
        let _checkpointer = match &local {
            Some(local) => {
                Some(Arc::new(checkpoint::Checkpointer::start(local.path().to_owned())?))
            }
            None => None,
        };
        Ok(Store { readers, writer, backend, local, lane, _checkpointer })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The read pool, for read-only queries outside a transaction.
    pub fn pool(&self) -> &AnyPool {
        &self.readers
    }

    /// A read connection, recording how long it took to get one
    /// (`sequence_db_acquire_seconds{pool="reader"}`).
    pub async fn read(&self) -> StoreResult<PooledConnection> {
        let started = std::time::Instant::now();
        let conn = self.readers.acquire().await.map_err(StoreError::from_sqlx);
        metrics::histogram!(ACQUIRE_METRIC, "pool" => "reader").record(started.elapsed());
        conn
    }

    /// Whether short reads run on the caller's thread ([`Store::read_here`]): on a SQLite file,
    /// not on PostgreSQL or an in-memory database.
    pub fn reads_on_caller_thread(&self) -> bool {
        self.local.is_some()
    }

    /// Runs a short, index-bounded read to completion on this thread when the store can (a SQLite
    /// file: see [`local`]); `None` when it cannot (PostgreSQL, in-memory SQLite), and the caller
    /// reads through the pool instead ([`Store::read`]).
    pub(crate) fn read_here<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> StoreResult<T>,
    ) -> Option<StoreResult<T>> {
        self.local.as_ref().map(|local| local.run(read))
    }

    /// Runs `work` where this store's writes are cheapest and waits for it: on SQLite, on the
    /// writer's lane ([`lane`]), next to the writer connection's thread; on PostgreSQL, right
    /// here. Dropping the returned future cancels `work` (a transaction it holds rolls back), as
    /// if it had run on the caller's task; a panic in `work` resumes in the caller. Fails only
    /// when the store is shutting down.
    pub async fn on_writer_lane<F>(&self, work: F) -> Result<F::Output, lane::LaneStopped>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.lane {
            Some(lane) => lane.run(work).await,
            None => Ok(work.await),
        }
    }

    /// Starts long-running background `work` (the settlement worker) where this store's writes
    /// are cheapest (see [`Store::on_writer_lane`]): on the SQLite writer's lane, or as a task of
    /// the caller's runtime on PostgreSQL.
    pub fn spawn_on_writer_lane<F>(&self, work: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.lane {
            Some(lane) => lane.spawn(work),
            None => tokio::spawn(work),
        }
    }

    /// The CPU the SQLite writer's lane is pinned to (`None` on PostgreSQL, or where pinning is
    /// not possible).
    pub fn writer_cpu(&self) -> Option<usize> {
        self.lane.as_ref().and_then(|lane| lane.cpu())
    }

    /// Begins a transaction that will write (on SQLite, on the one writer connection: it waits
    /// for the transaction before it to finish). On SQLite it also takes the database's write
    /// lock immediately (`BEGIN IMMEDIATE`), so balance checks made inside it cannot be
    /// invalidated by a writer in another process (the `keys` commands, say).
    ///
    /// Never begin a second transaction while holding one: on SQLite it would wait for itself.
    pub async fn begin(&self) -> StoreResult<Tx> {
        let started = std::time::Instant::now();
        let tx = match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.writer.begin().await,
        };
        // On SQLite this is the time spent queueing for the one writer.
        metrics::histogram!(ACQUIRE_METRIC, "pool" => "writer").record(started.elapsed());
        tx.map_err(StoreError::from_sqlx)
    }

    /// Closes the pools, waiting for connections to be returned.
    pub async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}

/// A SQLite pool of `size` connections, each set up by [`configure_sqlite`].
fn sqlite_pool(size: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(|conn, _| Box::pin(configure_sqlite(conn)))
}

/// Every SQLite connection: WAL mode, a busy timeout, foreign keys on, `synchronous = NORMAL`.
async fn configure_sqlite(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    // WAL lets readers proceed while the writer commits. The busy timeout covers writers in
    // other processes (the in-process writer is a single connection).
    conn.execute("PRAGMA journal_mode = WAL").await?;
    conn.execute("PRAGMA busy_timeout = 10000").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    conn.execute("PRAGMA synchronous = NORMAL").await?;
    Ok(())
}

/// Whether the database answers a trivial query.
pub async fn ping(conn: &mut AnyConnection) -> bool {
    sqlx::query("SELECT 1").execute(conn).await.is_ok()
}
