//! Throwaway databases for tests (feature `test-support`; never enabled in production builds).
//!
//! Every test gets its own database so tests run in parallel without seeing each other's rows:
//! a SQLite file in a temporary directory, or a fresh PostgreSQL database created through the
//! maintenance connection named by `SEQUENCE_TEST_POSTGRES_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`, which CI sets). The PostgreSQL database is
//! dropped when the [`TestDatabase`] is dropped (also when the test panics); if the process is
//! killed first, the `seq_test_…` database is left behind for CI to discard with its container.
//!
//! Without that variable a PostgreSQL test skips: it prints why and returns early, which
//! `cargo test` reports as passed. So that a skip cannot pass for a run where PostgreSQL is
//! expected, two more variables (both set by `.ci/run` once PostgreSQL is usable):
//! - [`REQUIRE_POSTGRES_VAR`] (`SEQUENCE_TEST_REQUIRE_POSTGRES=1`): a PostgreSQL test that cannot
//!   get a database fails (panics) instead of skipping.
//! - [`POSTGRES_LOG_VAR`] (`SEQUENCE_TEST_POSTGRES_LOG=<file>`): each PostgreSQL database created
//!   appends a line (`<test>\t<database>`) to the file, so the run can say how many tests ran
//!   against PostgreSQL (every test creates one database).

use std::io::Write;
use std::path::{Path, PathBuf};

use sqlx::{Connection, Executor};

/// The variable naming the PostgreSQL server tests may create databases on.
pub const POSTGRES_URL_VAR: &str = "SEQUENCE_TEST_POSTGRES_URL";

/// The variable that, set to `1`, makes a PostgreSQL test fail rather than skip when it cannot get
/// a database (any value other than empty, `0` or `false` counts as set).
pub const REQUIRE_POSTGRES_VAR: &str = "SEQUENCE_TEST_REQUIRE_POSTGRES";

/// The variable naming a file that every PostgreSQL test database created is logged to, one line
/// each.
pub const POSTGRES_LOG_VAR: &str = "SEQUENCE_TEST_POSTGRES_LOG";

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
    /// Each PostgreSQL database created is logged to [`POSTGRES_LOG_VAR`]'s file, if set.
    ///
    /// # Panics
    /// If the database cannot be created: a configured PostgreSQL that does not answer is a
    /// failure, not a skip. Also when [`POSTGRES_URL_VAR`] is not set but [`REQUIRE_POSTGRES_VAR`]
    /// is: PostgreSQL is expected, so a test that cannot use it must not pass.
    pub async fn create(backend: TestBackend) -> Option<TestDatabase> {
        TestDatabase::create_with(backend, &PostgresSettings::from_env()).await
    }

    /// [`TestDatabase::create`] with the PostgreSQL settings given rather than read from the
    /// environment.
    async fn create_with(
        backend: TestBackend,
        settings: &PostgresSettings,
    ) -> Option<TestDatabase> {
        match backend {
            TestBackend::Sqlite => {
                let dir = tempfile::tempdir().expect("creating a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                Some(TestDatabase { url, backend, kind: Kind::Sqlite(dir) })
            }
            TestBackend::Postgres => {
                let maintenance_url =
                    match postgres_decision(settings.url.as_deref(), settings.require) {
                        PostgresDecision::Use(url) => url,
                        PostgresDecision::Skip(note) => {
                            eprintln!("{note}");
                            return None;
                        }
                        PostgresDecision::Fail(message) => panic!("{message}"),
                    };
                let name = create_postgres_database(&maintenance_url)
                    .await
                    .unwrap_or_else(|message| panic!("{message}"));
                if let Some(log) = &settings.log {
                    log_postgres_database(log, &current_test_name(), &name)
                        .unwrap_or_else(|message| panic!("{message}"));
                }
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

/// Whether [`REQUIRE_POSTGRES_VAR`] is set (to anything but empty, `0` or `false`).
pub fn postgres_required() -> bool {
    is_set(std::env::var(REQUIRE_POSTGRES_VAR).ok().as_deref())
}

fn is_set(value: Option<&str>) -> bool {
    match value.map(str::trim) {
        None | Some("" | "0") => false,
        Some(value) => !value.eq_ignore_ascii_case("false"),
    }
}

/// The environment's say on PostgreSQL tests: [`POSTGRES_URL_VAR`], [`REQUIRE_POSTGRES_VAR`]
/// and [`POSTGRES_LOG_VAR`].
#[derive(Debug, Clone)]
struct PostgresSettings {
    /// [`POSTGRES_URL_VAR`], if set and not empty.
    url: Option<String>,
    /// Whether [`REQUIRE_POSTGRES_VAR`] is set.
    require: bool,
    /// [`POSTGRES_LOG_VAR`], if set and not empty.
    log: Option<PathBuf>,
}

impl PostgresSettings {
    fn from_env() -> PostgresSettings {
        PostgresSettings {
            url: postgres_url(),
            require: postgres_required(),
            log: std::env::var_os(POSTGRES_LOG_VAR)
                .filter(|path| !path.is_empty())
                .map(PathBuf::from),
        }
    }
}

/// What a PostgreSQL test does about its database.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PostgresDecision {
    /// Print this note to stderr and return early (`cargo test` reports the test as passed).
    Skip(String),
    /// Panic with this message: PostgreSQL is required but not configured.
    Fail(String),
    /// Create a database through this maintenance URL.
    Use(String),
}

/// What a PostgreSQL test does given the maintenance URL (`None` or blank when unset) and whether
/// PostgreSQL is required.
fn postgres_decision(url: Option<&str>, require: bool) -> PostgresDecision {
    match url.filter(|url| !url.trim().is_empty()) {
        Some(url) => PostgresDecision::Use(url.to_owned()),
        None if require => PostgresDecision::Fail(format!(
            "{REQUIRE_POSTGRES_VAR} is set, so this PostgreSQL test must run, but \
             {POSTGRES_URL_VAR} is not set (point it at a PostgreSQL server, e.g. \
             postgres://postgres@127.0.0.1:5432/postgres, or unset \
             {REQUIRE_POSTGRES_VAR} to let PostgreSQL tests skip)"
        )),
        None => PostgresDecision::Skip(format!("skipping: {POSTGRES_URL_VAR} is not set")),
    }
}

/// Creates a fresh `seq_test_…` database through `maintenance_url` and returns its name; the
/// error says what failed (a server that does not answer is an error, never a skip).
async fn create_postgres_database(maintenance_url: &str) -> Result<String, String> {
    let name = format!("seq_test_{}", ulid::Ulid::new().to_string().to_lowercase());
    let mut conn = sqlx::PgConnection::connect(maintenance_url)
        .await
        .map_err(|e| format!("connecting to {POSTGRES_URL_VAR} ({maintenance_url}): {e}"))?;
    // The name is generated above from [a-z0-9_] only, so interpolating it is safe.
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .map_err(|e| format!("creating test database {name}: {e}"))?;
    let _ = conn.close().await;
    Ok(name)
}

/// The running test's name: its thread's (libtest names each test's thread after it).
fn current_test_name() -> String {
    std::thread::current().name().unwrap_or("(unnamed thread)").to_owned()
}

/// Appends `<test>\t<database>` to the file at `log` ([`POSTGRES_LOG_VAR`]'s), creating it if
/// need be. One `write` of one short line to a file opened for appending, so lines from tests
/// running in parallel do not interleave.
fn log_postgres_database(log: &Path, test: &str, database: &str) -> Result<(), String> {
    let line = format!("{test}\t{database}\n");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .and_then(|mut file| file.write_all(line.as_bytes()))
        .map_err(|e| format!("appending to {POSTGRES_LOG_VAR} ({}): {e}", log.display()))
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
    use super::*;

    #[test]
    fn replaces_the_database_and_keeps_the_query() {
        assert_eq!(with_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(with_database("postgres://u@h:5432", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
    }

    #[test]
    fn the_require_flag_is_set_by_anything_but_empty_zero_or_false() {
        for unset in [None, Some(""), Some("0"), Some(" 0 "), Some("false"), Some("FALSE")] {
            assert!(!is_set(unset), "{unset:?}");
        }
        for set in [Some("1"), Some("true"), Some("yes")] {
            assert!(is_set(set), "{set:?}");
        }
    }

    #[test]
    fn without_the_require_flag_a_missing_url_skips_with_a_note() {
        for url in [None, Some(""), Some("  ")] {
            assert_eq!(
                postgres_decision(url, false),
                PostgresDecision::Skip("skipping: SEQUENCE_TEST_POSTGRES_URL is not set".into()),
                "{url:?}"
            );
        }
    }

    #[test]
    fn with_the_require_flag_a_missing_url_fails_instead_of_skipping() {
        for url in [None, Some(""), Some("  ")] {
            let PostgresDecision::Fail(message) = postgres_decision(url, true) else {
                panic!("{url:?} with the require flag must fail, not skip or connect");
            };
            assert!(
                message.starts_with(
                    "SEQUENCE_TEST_REQUIRE_POSTGRES is set, so this PostgreSQL test must run, \
                     but SEQUENCE_TEST_POSTGRES_URL is not set"
                ),
                "{message}"
            );
        }
    }

    #[test]
    fn a_set_url_is_used_whether_or_not_required() {
        let url = "postgres://postgres@127.0.0.1:5432/postgres";
        for require in [false, true] {
            assert_eq!(
                postgres_decision(Some(url), require),
                PostgresDecision::Use(url.into()),
                "require: {require}"
            );
        }
    }

    /// `create` panics with this error (so does `create_with`, whatever the require flag says).
    #[test]
    fn an_unreachable_server_is_an_error() {
        // Port 1 on the loopback interface: nothing listens there, the connection is refused.
        let url = "postgres://postgres@127.0.0.1:1/postgres";
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let error =
            runtime.block_on(create_postgres_database(url)).expect_err("nothing listens on port 1");
        assert!(
            error.starts_with(&format!("connecting to SEQUENCE_TEST_POSTGRES_URL ({url}): ")),
            "{error}"
        );
    }

    #[test]
    fn the_log_gets_one_appended_line_per_database() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = dir.path().join("postgres-tests.log");
        log_postgres_database(&log, "a::test", "seq_test_1").expect("creating the log");
        log_postgres_database(&log, "b::test", "seq_test_2").expect("appending to the log");
        assert_eq!(
            std::fs::read_to_string(&log).expect("the log"),
            "a::test\tseq_test_1\nb::test\tseq_test_2\n"
        );
    }

    #[test]
    fn an_unwritable_log_is_an_error_naming_the_variable() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        // A directory cannot be opened for appending.
        let error = log_postgres_database(dir.path(), "a::test", "seq_test_1")
            .expect_err("a directory is not a log file");
        assert!(error.starts_with("appending to SEQUENCE_TEST_POSTGRES_LOG ("), "{error}");
    }

    #[test]
    fn the_test_name_is_the_thread_name() {
        assert_eq!(current_test_name(), "test_support::tests::the_test_name_is_the_thread_name");
    }

    /// Without a URL (and without the require flag) `create_with` skips and logs nothing.
    #[test]
    fn a_skipped_postgres_test_creates_and_logs_nothing() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = dir.path().join("postgres-tests.log");
        let settings = PostgresSettings { url: None, require: false, log: Some(log.clone()) };
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let database =
            runtime.block_on(TestDatabase::create_with(TestBackend::Postgres, &settings));
        assert!(database.is_none(), "{database:?}");
        assert!(!log.exists(), "nothing to log");
    }

    /// Against the configured server: each database `create_with` makes is logged, named after
    /// the test. Skips (like every PostgreSQL test) when no server is configured.
    #[test]
    fn each_postgres_database_created_is_logged() {
        let env = PostgresSettings::from_env();
        let url = match postgres_decision(env.url.as_deref(), env.require) {
            PostgresDecision::Use(url) => url,
            PostgresDecision::Skip(note) => {
                eprintln!("{note}");
                return;
            }
            PostgresDecision::Fail(message) => panic!("{message}"),
        };
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = dir.path().join("postgres-tests.log");
        let settings = PostgresSettings { url: Some(url), require: true, log: Some(log.clone()) };
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let urls: Vec<String> = runtime.block_on(async {
            let first = TestDatabase::create_with(TestBackend::Postgres, &settings).await;
            let second = TestDatabase::create_with(TestBackend::Postgres, &settings).await;
            [first, second]
                .into_iter()
                .map(|database| database.expect("a configured server").url().to_owned())
                .collect()
        });
        let logged = std::fs::read_to_string(&log).expect("the log");
        let lines: Vec<&str> = logged.lines().collect();
        assert_eq!(lines.len(), 2, "one line per database created: {logged:?}");
        for (line, url) in lines.iter().zip(&urls) {
            let (test, database) = line.split_once('\t').expect("<test>\t<database>");
            assert_eq!(test, "test_support::tests::each_postgres_database_created_is_logged");
            assert!(database.starts_with("seq_test_"), "{logged:?}");
            assert!(url.contains(&format!("/{database}")), "{url} for {logged:?}");
        }
    }
}
