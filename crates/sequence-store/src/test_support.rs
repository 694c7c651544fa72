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
        match backend {
            TestBackend::Sqlite => {
                let dir = tempfile::tempdir().expect("creating a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                Some(TestDatabase { url, backend, kind: Kind::Sqlite(dir) })
            }
            TestBackend::Postgres => {
                let Some(maintenance_url) = postgres_url() else {
                    if postgres_required() {
                        panic!(
                            "{REQUIRE_POSTGRES_VAR} is set, so this PostgreSQL test must run, but \
                             {POSTGRES_URL_VAR} is not set (point it at a PostgreSQL server, e.g. \
                             postgres://postgres@127.0.0.1:5432/postgres, or unset \
                             {REQUIRE_POSTGRES_VAR} to let PostgreSQL tests skip)"
                        );
                    }
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
                log_postgres_database(&name);
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

/// Appends `<test>\t<database>` to [`POSTGRES_LOG_VAR`]'s file, if set. The test's name is its
/// thread's (libtest names each test's thread after it). One `write` of one short line to a file
/// opened for appending, so lines from tests running in parallel do not interleave.
fn log_postgres_database(database: &str) {
    let Some(path) = std::env::var_os(POSTGRES_LOG_VAR).filter(|path| !path.is_empty()) else {
        return;
    };
    let thread = std::thread::current();
    let line = format!("{}\t{database}\n", thread.name().unwrap_or("(unnamed thread)"));
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(line.as_bytes()))
        .unwrap_or_else(|e| {
            panic!("appending to {POSTGRES_LOG_VAR} ({}): {e}", path.to_string_lossy())
        });
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
    use std::process::{Command, Output};

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

    const CHILD: &str = "test_support::tests::child_asks_for_a_postgres_database";

    /// Not a test of its own: the tests below run it in a child process (this test binary again)
    /// with the environment they choose, and judge its exit status and output.
    #[test]
    #[ignore = "run in a child process by the tests of SEQUENCE_TEST_REQUIRE_POSTGRES and SEQUENCE_TEST_POSTGRES_LOG"]
    fn child_asks_for_a_postgres_database() {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            match TestDatabase::create(TestBackend::Postgres).await {
                Some(database) => println!("child: created {}", database.url()),
                None => println!("child: skipped"),
            }
        });
    }

    /// Runs [`child_asks_for_a_postgres_database`] with only `vars` of this module's variables set.
    fn child(vars: &[(&str, &str)]) -> Output {
        let mut command = Command::new(std::env::current_exe().expect("the test binary"));
        command.args([CHILD, "--exact", "--include-ignored", "--nocapture"]);
        for var in [POSTGRES_URL_VAR, REQUIRE_POSTGRES_VAR, POSTGRES_LOG_VAR] {
            command.env_remove(var);
        }
        command.envs(vars.iter().copied());
        let output = command.output().expect("running the child test");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("1 passed") || stdout.contains("1 failed"), "{stdout}");
        output
    }

    fn text(output: &Output) -> String {
        format!(
            "status: {}\nstdout:\n{}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }

    #[test]
    fn without_the_require_flag_a_missing_url_skips_with_a_note() {
        let output = child(&[]);
        assert!(output.status.success(), "{}", text(&output));
        assert!(text(&output).contains("child: skipped"), "{}", text(&output));
        assert!(
            text(&output).contains("skipping: SEQUENCE_TEST_POSTGRES_URL is not set"),
            "{}",
            text(&output)
        );
    }

    #[test]
    fn with_the_require_flag_a_missing_url_fails_instead_of_skipping() {
        for url in [None, Some("")] {
            let mut vars = vec![(REQUIRE_POSTGRES_VAR, "1")];
            vars.extend(url.map(|url| (POSTGRES_URL_VAR, url)));
            let output = child(&vars);
            assert!(!output.status.success(), "{}", text(&output));
            assert!(!text(&output).contains("child: skipped"), "{}", text(&output));
            assert!(
                text(&output).contains(
                    "SEQUENCE_TEST_REQUIRE_POSTGRES is set, so this PostgreSQL test must run, \
                     but SEQUENCE_TEST_POSTGRES_URL is not set"
                ),
                "{}",
                text(&output)
            );
        }
    }

    #[test]
    fn with_the_require_flag_an_unreachable_server_fails() {
        // Port 1 on the loopback interface: nothing listens there, the connection is refused.
        let url = "postgres://postgres@127.0.0.1:1/postgres";
        let output = child(&[(REQUIRE_POSTGRES_VAR, "1"), (POSTGRES_URL_VAR, url)]);
        assert!(!output.status.success(), "{}", text(&output));
        assert!(
            text(&output).contains("connecting to SEQUENCE_TEST_POSTGRES_URL"),
            "{}",
            text(&output)
        );
    }

    #[test]
    fn each_postgres_database_created_is_logged() {
        let Some(url) = postgres_url() else {
            assert!(
                !postgres_required(),
                "{REQUIRE_POSTGRES_VAR} is set but {POSTGRES_URL_VAR} is not"
            );
            eprintln!("skipping: {POSTGRES_URL_VAR} is not set");
            return;
        };
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = dir.path().join("postgres-tests.log");
        let log_path = log.to_str().expect("a UTF-8 path");
        let output = child(&[(POSTGRES_URL_VAR, &url), (POSTGRES_LOG_VAR, log_path)]);
        assert!(output.status.success(), "{}", text(&output));
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = logged.lines().collect();
        assert_eq!(lines.len(), 1, "one line per database created: {logged:?}");
        let (test, database) = lines[0].split_once('\t').expect("<test>\t<database>");
        assert!(database.starts_with("seq_test_"), "{logged:?}");
        assert!(text(&output).contains(&format!("/{database}")), "{logged:?}\n{}", text(&output));
        assert_eq!(test, CHILD, "named after the test's thread");
    }
}
