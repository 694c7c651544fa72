//! Throwaway databases for tests (feature `test-support`; never enabled in production builds).
//!
//! Every test gets its own database so tests run in parallel without seeing each other's rows:
//! a SQLite file in a temporary directory, or a fresh PostgreSQL database created through the
//! maintenance connection named by `SEQUENCE_TEST_POSTGRES_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`, which CI sets). The PostgreSQL database is
//! dropped when the [`TestDatabase`] is dropped (also when the test panics); if the process is
//! killed first, the `seq_test_…` database is left behind for CI to discard with its container.

use sqlx::{Connection, Executor};

/// The variable naming the PostgreSQL server tests may create databases on.
pub const POSTGRES_URL_VAR: &str = "SEQUENCE_TEST_POSTGRES_URL";

/// Which backend a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the server named by [`POSTGRES_URL_VAR`].
    Postgres,
}

impl TestBackend {
    /// Both backends, SQLite first.
    pub const ALL: [TestBackend; 2] = [TestBackend::Sqlite, TestBackend::Postgres];
}

/// A database that exists for the lifetime of this value.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    backend: TestBackend,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Sqlite(
        #[allow(dead_code, reason = "held for its Drop, which deletes the directory")]
        tempfile::TempDir,
    ),
    Postgres {
        maintenance_url: String,
        name: String,
    },
}

impl TestDatabase {
    /// A fresh, empty database on `backend`. `None` when the backend is PostgreSQL and
    /// [`POSTGRES_URL_VAR`] is not set; the reason is printed to stderr (the test then returns
    /// early, which `cargo test` reports as passed, so the skip is visible only in its output).
    ///
    /// # Panics
    /// If the database cannot be created: a configured PostgreSQL that does not answer is a
    /// failure, not a skip.
    pub async fn create(backend: TestBackend) -> Option<TestDatabase> {
        match backend {
            TestBackend::Sqlite => {
                let dir = tempfile::tempdir().expect("creating a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                Some(TestDatabase { url, backend, kind: Kind::Sqlite(dir) })
            }
            TestBackend::Postgres => {
                let Some(maintenance_url) = postgres_url() else {
                    eprintln!("skipping: {POSTGRES_URL_VAR} is not set");
                    return None;
                };
                let name = format!("seq_test_{}", ulid::Ulid::new().to_string().to_lowercase());
                let mut conn =
                    sqlx::PgConnection::connect(&maintenance_url).await.unwrap_or_else(|e| {
                        panic!("connecting to {POSTGRES_URL_VAR} ({maintenance_url}): {e}")
                    });
                // The name is generated above from [a-z0-9_] only, so interpolating it is safe.
                conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
                let _ = conn.close().await;
                let url = with_database(&maintenance_url, &name);
                Some(TestDatabase { url, backend, kind: Kind::Postgres { maintenance_url, name } })
            }
        }
    }

    /// The URL to hand to `Store::connect`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The backend it lives on.
    pub fn backend(&self) -> TestBackend {
        self.backend
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Kind::Postgres { maintenance_url, name } = &self.kind else { return };
        let (maintenance_url, name) = (maintenance_url.clone(), name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on; a short-lived thread
        // with its own runtime does the cleanup. `WITH (FORCE)` (PostgreSQL 13+) ends the pool's
        // connections that are still open.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let mut conn = sqlx::PgConnection::connect(&maintenance_url).await?;
                let dropped = conn
                    .execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .await;
                if dropped.is_err() {
                    conn.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
                        .await?;
                }
                conn.close().await
            })
        });
        if let Ok(Err(error)) = cleanup.join() {
            eprintln!("note: could not drop a test database (left for CI to discard): {error}");
        }
    }
}

/// [`POSTGRES_URL_VAR`], if set and not empty.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR).ok().filter(|url| !url.trim().is_empty())
}

/// `url` with its database (the path) replaced by `database`, keeping any query string.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_and_keeps_the_query() {
        assert_eq!(with_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(with_database("postgres://u@h:5432", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
    }
}
