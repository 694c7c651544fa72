//! Reads on SQLite run on the caller's own thread, through `rusqlite`, for the hot read path.
//!
//! sqlx runs each SQLite connection on a thread of its own: every statement is a message to that
//! thread and every row a message back. For a small indexed read such as `listAccounts` the
//! profile put about a third of the server's CPU in those hand-offs (context switches and
//! wake-ups) and under 3 % in SQLite itself (BENCHMARKS.md, "Profile of GET /accounts"). A
//! [`LocalReaders`] keeps read-only connections to the same file and runs a read to completion
//! on the thread that asks, without awaiting anything.
//!
//! Why it is safe to run on an async worker thread: only short, index-bounded reads use it (one
//! organization's accounts, one account), which take tens of microseconds; in WAL mode a reader
//! never waits for the writer. Each read is its own autocommit statement, so it sees everything
//! committed before it started, as a read through the pool does. Connections are opened
//! read-only (`SQLITE_OPEN_READ_ONLY`), so nothing here can write.
//!
//! An in-memory database lives in its one sqlx connection and cannot be opened again, so it has
//! no local readers ([`LocalReaders::open`] returns `None`); PostgreSQL has none either. Callers
//! go through [`crate::Store::read_here`], which says when to fall back to the pool.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sqlx::any::AnyRow;

use crate::{StoreError, StoreResult};

/// How long a local read waits if SQLite reports the database busy (a WAL recovery or a
/// checkpoint restarting the log; ordinary writes never block a WAL reader).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection (the hot reads are a handful of fixed texts).
const STATEMENT_CACHE: usize = 32;

/// Read-only connections to one SQLite file, handed to one caller at a time.
#[derive(Debug)]
pub(crate) struct LocalReaders {
    path: PathBuf,
    /// Idle connections. A read takes one (or opens one) and puts it back; since a read never
    /// yields, at most one per thread running reads is ever in use, so the list stays as small
    /// as the runtime's worker count.
    idle: Mutex<Vec<Connection>>,
}

impl LocalReaders {
    /// Local readers for the SQLite database at `url`, or `None` if it is an in-memory database,
    /// which only its own connection can see.
    pub(crate) fn open(url: &str) -> StoreResult<Option<LocalReaders>> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Ok(None);
        }
        let options: sqlx::sqlite::SqliteConnectOptions =
            url.parse().map_err(StoreError::from_sqlx)?;
        let readers =
            LocalReaders { path: options.get_filename().to_owned(), idle: Mutex::new(Vec::new()) };
        // Open one now, so a bad path fails at start-up rather than on the first read.
        let first = readers.connect()?;
        readers.put_back(first);
        Ok(Some(readers))
    }

    /// The database file.
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Runs `read` on an idle connection (opening one if none is idle) on this thread.
    pub(crate) fn run<T>(
        &self,
        read: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let taken = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        let conn = match taken {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = read(&conn);
        self.put_back(conn);
        result
    }

    fn put_back(&self, conn: Connection) {
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(conn);
    }

    fn connect(&self) -> StoreResult<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(from_rusqlite)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(from_rusqlite)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }
}

/// A rusqlite failure as a store error: `SQLITE_BUSY` after the timeout is worth a retry, as it
/// is through sqlx; anything else is a database error.
pub(crate) fn from_rusqlite(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Retry
        }
        _ => StoreError::Database(sqlx::Error::Protocol(format!("sqlite (local read): {error}"))),
    }
}

/// A result row, read by column index, from either driver: lets one row mapping serve the pool's
/// rows and the local readers' rows.
pub(crate) trait Columns {
    /// A `TEXT NOT NULL` column.
    fn text(&self, index: usize) -> StoreResult<String>;
    /// A nullable `TEXT` column.
    fn text_opt(&self, index: usize) -> StoreResult<Option<String>>;
    /// An `INTEGER NOT NULL` (`BIGINT`) column.
    fn int(&self, index: usize) -> StoreResult<i64>;
    /// A nullable `INTEGER` (`BIGINT`) column.
    fn int_opt(&self, index: usize) -> StoreResult<Option<i64>>;
}

impl Columns for AnyRow {
    fn text(&self, index: usize) -> StoreResult<String> {
        Ok(sqlx::Row::try_get(self, index)?)
    }
    fn text_opt(&self, index: usize) -> StoreResult<Option<String>> {
        Ok(sqlx::Row::try_get(self, index)?)
    }
    fn int(&self, index: usize) -> StoreResult<i64> {
        Ok(sqlx::Row::try_get(self, index)?)
    }
    fn int_opt(&self, index: usize) -> StoreResult<Option<i64>> {
        Ok(sqlx::Row::try_get(self, index)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, index: usize) -> StoreResult<String> {
        self.get(index).map_err(from_rusqlite)
    }
    fn text_opt(&self, index: usize) -> StoreResult<Option<String>> {
        self.get(index).map_err(from_rusqlite)
    }
    fn int(&self, index: usize) -> StoreResult<i64> {
        self.get(index).map_err(from_rusqlite)
    }
    fn int_opt(&self, index: usize) -> StoreResult<Option<i64>> {
        self.get(index).map_err(from_rusqlite)
    }
}
