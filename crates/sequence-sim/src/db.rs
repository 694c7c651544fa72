//! Throwaway databases, one per simulated run, so that runs (and the shrinker's re-runs) never
//! see each other's rows: a SQLite file in a temporary directory, or a fresh PostgreSQL database
//! created through a maintenance connection and dropped when the run ends.
//!
//! (`sequence_store::test_support` does the same for tests, but takes its PostgreSQL server from
//! an environment variable only; the simulator takes it as a flag.)

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use sequence_store::test_support::with_database;
use sqlx::{Connection, Executor};

/// The backends a run can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Backend {
    /// A SQLite file: one writer at a time.
    Sqlite,
    /// PostgreSQL: concurrent writers, row locks, READ COMMITTED.
    Postgres,
}

impl Backend {
    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A database that exists until [`SimDatabase::discard`].
pub struct SimDatabase {
    url: String,
    kind: Kind,
}

enum Kind {
    Sqlite(
        #[allow(dead_code, reason = "held for its Drop, which deletes the file")] tempfile::TempDir,
    ),
    Postgres {
        maintenance_url: String,
        name: String,
    },
}

static NEXT: AtomicU64 = AtomicU64::new(0);

impl SimDatabase {
    /// A fresh, empty database. `maintenance_url` names the PostgreSQL server (any database on
    /// it; the new one is created next to it).
    pub async fn create(
        backend: Backend,
        maintenance_url: &str,
        seed: u64,
    ) -> anyhow::Result<SimDatabase> {
        match backend {
            Backend::Sqlite => {
                // In memory when the machine has a tmpfs: the simulator writes a lot, and
                // durability across a power cut is not what it tests.
                let shm = std::path::Path::new("/dev/shm");
                let mut builder = tempfile::Builder::new();
                builder.prefix("sequence-sim-");
                let dir =
                    if shm.is_dir() { builder.tempdir_in(shm)? } else { builder.tempdir()? };
                let url = format!("sqlite://{}", dir.path().join("sim.db").display());
                Ok(SimDatabase { url, kind: Kind::Sqlite(dir) })
            }
            Backend::Postgres => {
                // [a-z0-9_] only, so interpolating the name into SQL is safe.
                let name = format!(
                    "sequence_sim_{seed}_{}_{}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed)
                );
                let mut conn = sqlx::PgConnection::connect(maintenance_url)
                    .await
                    .with_context(|| format!("connecting to {maintenance_url}"))?;
                conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .with_context(|| format!("creating database {name}"))?;
                let _ = conn.close().await;
                let url = with_database(maintenance_url, &name);
                Ok(SimDatabase {
                    url,
                    kind: Kind::Postgres { maintenance_url: maintenance_url.to_owned(), name },
                })
            }
        }
    }

    /// The URL to give `Store::connect`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Removes the database (the caller has closed its pools first).
    pub async fn discard(self) {
        if let Kind::Postgres { maintenance_url, name } = &self.kind {
            let dropped = async {
                let mut conn = sqlx::PgConnection::connect(maintenance_url).await?;
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await?;
                conn.close().await
            };
            if let Err(error) = dropped.await {
                eprintln!("note: could not drop simulation database {name}: {error}");
            }
        }
    }
}
