//! SQLite's WAL checkpoints, run off the writer.
//!
//! In WAL mode every commit appends to the `-wal` file, and a checkpoint copies those pages back
//! into the database file and syncs both. By default the connection whose commit takes the log
//! past 1,000 pages runs the checkpoint itself, inside that commit: on the server that is the one
//! writer, so every request queued behind it waited for the copy and the two `fsync`s. Measured
//! on the benchmark machine under `createTransfer` load, the writer's CPU spent 16-18 % of its
//! time in I/O wait, blocked in those writes and syncs (BENCHMARKS.md).
//!
//! A [`Checkpointer`] runs `PRAGMA wal_checkpoint(PASSIVE)` on a connection and thread of its own
//! every [`INTERVAL`]. A passive checkpoint never waits for the writer or for readers: it copies
//! what no reader still needs, and the writer starts the log over once everything was copied.
//! The writer keeps its own automatic checkpoint at a much larger threshold
//! ([`WRITER_AUTOCHECKPOINT`]), a safety net that bounds the log should this thread fall
//! behind or fail (a failure is logged once, with its recovery).

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::local::from_rusqlite;
use crate::{StoreError, StoreResult};

/// How often the log is checkpointed.
pub(crate) const INTERVAL: Duration = Duration::from_millis(50);

/// The writer's own automatic checkpoint threshold, in pages: ten times SQLite's default, reached
/// only if the [`Checkpointer`] falls behind.
pub(crate) const WRITER_AUTOCHECKPOINT: &str = "PRAGMA wal_autocheckpoint = 10000";

/// A running checkpoint thread; dropping it stops the thread.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing the SQLite database at `path`, which must exist and be in WAL mode.
    pub(crate) fn start(path: PathBuf) -> StoreResult<Checkpointer> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(from_rusqlite)?;
        // As the store's connections sync: the log before a checkpoint, the file after it.
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(from_rusqlite)?;
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sequence-checkpoint".to_owned())
            .spawn(move || run(&conn, &stopped))
            .map_err(|e| StoreError::Config(format!("starting the checkpoint thread: {e}")))?;
        Ok(Checkpointer { _stop: stop })
    }
}

/// Checkpoints every [`INTERVAL`] until the [`Checkpointer`] is dropped.
fn run(conn: &Connection, stopped: &mpsc::Receiver<()>) {
    let mut failing = false;
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
        let outcome = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        match (outcome, failing) {
            (Ok(_), true) => {
                failing = false;
                tracing::info!("WAL checkpoints work again");
            }
            (Err(error), false) => {
                failing = true;
                tracing::warn!(%error, "a WAL checkpoint failed; the writer's own checkpoints bound the log until they work again");
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_the_log_into_the_database_file_while_a_writer_holds_it_open() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("test.db");
        let writer = Connection::open(&path).expect("a database");
        writer.pragma_update(None, "journal_mode", "WAL").expect("WAL");
        writer.pragma_update(None, "wal_autocheckpoint", 0).expect("no automatic checkpoints");
        writer.execute_batch("CREATE TABLE t (v BLOB); BEGIN;").expect("a table");
        for _ in 0..100 {
            writer.execute("INSERT INTO t VALUES (zeroblob(4000))", []).expect("an insert");
        }
        writer.execute_batch("COMMIT").expect("a commit");
        // The rows are in the log only: the database file has not grown.
        let file_size = || std::fs::metadata(&path).map_or(0, |m| m.len());
        assert!(file_size() < 100_000, "no checkpoint yet: {} bytes", file_size());

        let _checkpointer = Checkpointer::start(path.clone()).expect("started");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while file_size() < 400_000 && std::time::Instant::now() < deadline {
            std::thread::sleep(INTERVAL);
        }
        assert!(file_size() >= 400_000, "the log was copied: {} bytes", file_size());
    }
}
