//! Benchmark: how long a page of `GET /transfers?account_id=…` takes as the account's history
//! grows, on SQLite and on PostgreSQL.
//!
//! ```text
//! cargo bench -p sequence-server --bench history
//! SEQUENCE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p sequence-server --bench history
//! BENCH_HISTORY=1000,100000,1000000 BENCH_SAMPLES=200 cargo bench -p sequence-server --bench history
//! ```
//!
//! A list page should cost the same whatever the size of the history behind it (issue 9: every
//! list is an index range scan in the order returned, with the cursor as the range start). This
//! program measures that: for each backend and each history size `N` (`BENCH_HISTORY`, default
//! 1,000 and 100,000) it
//!
//! 1. seeds the demo organization on a fresh database (a temporary SQLite file; a throwaway
//!    PostgreSQL database when `SEQUENCE_TEST_POSTGRES_URL` is set, otherwise PostgreSQL is
//!    skipped with a note);
//! 2. bulk-loads history **through the store** (`support::load_history`, shared with the
//!    `transfers` bench: 5,000 rows per transaction, no HTTP): `N` live transfers of the listed
//!    account ("Savings"), on both sides in turn, plus `N / 4` transfers between other accounts
//!    and `N / 10` simulations of the listed account, which a live listing must skip (see
//!    `support/mod.rs`). On PostgreSQL it then runs `ANALYZE`, as autovacuum would after such a
//!    load;
//! 3. starts the server in-process on a free local port (no settlement worker) and times, one
//!    request at a time, `BENCH_SAMPLES` (default 100, after 5 warm-up requests) requests for the
//!    first page and for the 50th page (`first` = 20, the default; the 50th page's cursor is
//!    found by walking the 49 pages before it) of `GET /transfers?account_id=<Savings>`, and
//!    prints p50 and p99.
//!
//! This is a plain binary (`harness = false`), not a timed test: `cargo test` does not build it,
//! and `cargo test --benches` runs it without `--bench`, which makes it a quick smoke run
//! (SQLite, 1,000 transfers, 3 samples) instead of a measurement. Nothing asserts a timing.
//!
//! # Recorded figures
//!
//! Release build, `BENCH_SAMPLES=200`, on a 2-core VM that was also running other engineers'
//! builds (load average 6 to 8), PostgreSQL 15 on the same machine. "Before" is the listing of
//! migration 0004 (an `OR` of the two sides, catch-all `IS NULL OR` filters), "after" the
//! history-flat listing of migration 0005; the two binaries ran back to back, twice each. p50 /
//! p99 in milliseconds, the range over the two runs (a single figure when both agreed):
//!
//! | backend    | history | page | before p50  | before p99 | after p50  | after p99  |
//! |------------|---------|------|-------------|------------|------------|------------|
//! | SQLite     | 1k      | 1    | 2.0 – 3.6   | 12 – 25    | 1.3 – 1.4  | 6.3 – 6.6  |
//! | SQLite     | 1k      | 50   | 2.3 – 2.4   | 12 – 57    | 1.3        | 6.5 – 8.2  |
//! | SQLite     | 100k    | 1    | 294 – 324   | 481 – 667  | 1.4 – 1.7  | 6.5 – 9.1  |
//! | SQLite     | 100k    | 50   | 311 – 315   | 503 – 598  | 2.0 – 2.6  | 12         |
//! | PostgreSQL | 1k      | 1    | 2.6 – 3.3   | 14 – 15    | 3.0 – 6.6  | 21 – 105   |
//! | PostgreSQL | 1k      | 50   | 4.3 – 4.5   | 13 – 16    | 2.5 – 7.1  | 17 – 19    |
//! | PostgreSQL | 100k    | 1    | 88 – 102    | 156 – 322  | 2.1 – 2.4  | 10 – 19    |
//! | PostgreSQL | 100k    | 50   | 91 – 111    | 138 – 381  | 2.1 – 3.5  | 7 – 16     |
//!
//! Before, a page read and sorted every transfer of the account (SQLite: of the organization),
//! so it grew with the history; after, it reads about one page per branch from the cursor on and
//! costs the same at 100k as at 1k. At 1k both are a few milliseconds, within this machine's
//! noise (its p99s are the other builds').
//!
//! With `BENCH_HISTORY=1000,1000000` (after only; loading a million transfers took 89 s on SQLite
//! and 343 s on PostgreSQL): SQLite p50 1.34 / 1.32 ms (first / 50th page) at 1k and 1.27 / 1.27
//! ms at 1M; PostgreSQL 5.6 / 2.8 ms at 1k and 4.6 / 6.2 ms at 1M.

mod support;

use std::time::{Duration, Instant};

use chrono::Utc;
use sequence_server::AppState;
use sequence_store::Store;
use sequence_store::test_support::{TestBackend, TestDatabase};
use serde_json::Value;
use support::{demo_accounts, env_list, env_usize, load_history_and_analyze, percentile_ms};

/// What one run does.
#[derive(Clone, Debug)]
struct Config {
    histories: Vec<usize>,
    samples: usize,
}

/// Which page is "deep".
const DEEP_PAGE: usize = 50;
/// The API's default page size.
const PAGE_SIZE: usize = 20;

fn main() {
    let measuring = std::env::args().any(|arg| arg == "--bench");
    let config = if measuring {
        Config {
            histories: env_list("BENCH_HISTORY").unwrap_or_else(|| vec![1_000, 100_000]),
            samples: env_usize("BENCH_SAMPLES").unwrap_or(100),
        }
    } else {
        Config { histories: vec![1_000], samples: 3 }
    };
    assert!(config.samples > 0, "{config:?}");
    for n in &config.histories {
        assert!(*n >= DEEP_PAGE * PAGE_SIZE, "a history of {n} has no page {DEEP_PAGE}");
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!(
        "GET /transfers?account_id=… (first={PAGE_SIZE}): p50/p99 of {} sequential requests ({} core(s))",
        config.samples,
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    println!(
        "{:<10} {:>9} {:>9} {:>10} {:>6} {:>9} {:>9}",
        "backend", "history", "org rows", "load s", "page", "p50 ms", "p99 ms"
    );
    let backends: &[TestBackend] =
        if measuring { &TestBackend::ALL } else { &[TestBackend::Sqlite] };
    for backend in backends {
        let name = match backend {
            TestBackend::Sqlite => "sqlite",
            TestBackend::Postgres => "postgres",
        };
        for history in &config.histories {
            let Some(run) = runtime.block_on(run(*backend, *history, config.samples)) else {
                println!(
                    "{name:<10} skipped: {} is not set",
                    sequence_store::test_support::POSTGRES_URL_VAR
                );
                break;
            };
            for (page, mut latencies) in [(1, run.first_page), (DEEP_PAGE, run.deep_page)] {
                latencies.sort();
                let percentile = |p: f64| percentile_ms(&latencies, p);
                println!(
                    "{name:<10} {history:>9} {:>9} {:>10.1} {page:>6} {:>9.2} {:>9.2}",
                    run.org_rows,
                    run.load.as_secs_f64(),
                    percentile(0.50),
                    percentile(0.99),
                );
            }
        }
    }
}

/// What one (backend, history) run measured.
struct Run {
    org_rows: usize,
    load: Duration,
    first_page: Vec<Duration>,
    deep_page: Vec<Duration>,
}

/// One measurement; `None` when the backend is not configured.
async fn run(backend: TestBackend, history: usize, samples: usize) -> Option<Run> {
    let database = TestDatabase::create(backend).await?;
    let store = Store::connect(database.url()).await.expect("connecting to the database");
    let now = Utc::now();
    let seed = sequence_server::demo::seed(&store, now).await.expect("seeding an organization");
    let accounts = demo_accounts(&store, &seed.org_id).await;
    let started = Instant::now();
    let org_rows = load_history_and_analyze(&store, &seed.org_id, &accounts, history, now).await;
    let load = started.elapsed();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let base = format!("http://{}/api/v1", listener.local_addr().unwrap());
    let app = sequence_server::app(AppState::new(store.clone(), true));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let get = |after: Option<String>| {
        let mut request = client
            .get(format!("{base}/transfers"))
            .header("Authorization", format!("ApiKey {}", seed.api_key))
            .query(&[("account_id", accounts.listed.as_str())]);
        if let Some(after) = after {
            request = request.query(&[("after", after)]);
        }
        async move {
            let response = request.send().await.expect("the server answers");
            let status = response.status();
            let body: Value = response.json().await.expect("a JSON body");
            assert!(status.is_success(), "{status}: {body}");
            assert_eq!(body["data"].as_array().map(Vec::len), Some(PAGE_SIZE), "a full page");
            body["page_info"]["end_cursor"].as_str().map(str::to_owned)
        }
    };
    let mut cursor = None;
    for _ in 1..DEEP_PAGE {
        cursor = Some(get(cursor).await.expect("a next page"));
    }
    let timed = |after: Option<String>| {
        let get = &get;
        async move {
            for _ in 0..5 {
                get(after.clone()).await;
            }
            let mut latencies = Vec::with_capacity(samples);
            for _ in 0..samples {
                let sent = Instant::now();
                get(after.clone()).await;
                latencies.push(sent.elapsed());
            }
            latencies
        }
    };
    let first_page = timed(None).await;
    let deep_page = timed(cursor).await;
    server.abort();
    store.close().await;
    drop(database);
    Some(Run { org_rows, load, first_page, deep_page })
}
