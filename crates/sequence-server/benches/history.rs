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
//! 2. bulk-loads history **through the store** (`sequence_store::transfers::insert`, 5,000 rows
//!    per transaction, no HTTP): `N` live transfers of the listed account ("Savings"), on both
//!    sides in turn (from and to the other pods, from the income source, to the card), one in
//!    eight created in the same millisecond as its predecessor (ties on `created_at`), mostly
//!    `complete` with some `cancelled` and `error`; plus `N / 4` transfers between other accounts
//!    and `N / 10` simulations of the listed account, which a live listing must skip. On
//!    PostgreSQL it then runs `ANALYZE`, as autovacuum would after such a load (SQLite never
//!    gathers statistics in production, so it gets none here either);
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

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use rand::{Rng, SeedableRng};
use sequence_core::ids::{AccountId, OrgId, TransferId};
use sequence_core::ledger::{
    AccountKind, TransferDirection, TransferErrorCode, TransferOrigin, TransferStatus,
};
use sequence_core::money::Cents;
use sequence_server::AppState;
use sequence_store::test_support::{TestBackend, TestDatabase};
use sequence_store::transfers::{self, TransferRecord};
use sequence_store::{Backend, Store, accounts};
use serde_json::Value;

/// What one run does.
#[derive(Clone, Debug)]
struct Config {
    histories: Vec<usize>,
    samples: usize,
}

/// Rows per bulk-load transaction.
const BATCH: usize = 5_000;
/// Which page is "deep".
const DEEP_PAGE: usize = 50;
/// The API's default page size.
const PAGE_SIZE: usize = 20;

fn main() {
    let measuring = std::env::args().any(|arg| arg == "--bench");
    let config = if measuring {
        Config {
            histories: std::env::var("BENCH_HISTORY")
                .map(|list| {
                    list.split(',')
                        .map(|n| {
                            n.trim().parse().unwrap_or_else(|_| {
                                panic!("BENCH_HISTORY must list sizes, not {list:?}")
                            })
                        })
                        .collect()
                })
                .unwrap_or_else(|_| vec![1_000, 100_000]),
            samples: std::env::var("BENCH_SAMPLES")
                .map(|n| n.parse().expect("BENCH_SAMPLES must be a positive integer"))
                .unwrap_or(100),
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
                let percentile = |p: f64| {
                    let index = ((latencies.len() as f64 * p).ceil() as usize)
                        .clamp(1, latencies.len())
                        - 1;
                    latencies[index].as_secs_f64() * 1e3
                };
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

/// The accounts the history moves between.
struct Accounts {
    listed: AccountId,
    pods: Vec<AccountId>,
    income: AccountId,
    card: AccountId,
}

/// One measurement; `None` when the backend is not configured.
async fn run(backend: TestBackend, history: usize, samples: usize) -> Option<Run> {
    let database = TestDatabase::create(backend).await?;
    let store = Store::connect(database.url()).await.expect("connecting to the database");
    let now = Utc::now();
    let seed = sequence_server::demo::seed(&store, now).await.expect("seeding an organization");
    let accounts = demo_accounts(&store, &seed.org_id).await;
    let started = Instant::now();
    let org_rows = load_history(&store, &seed.org_id, &accounts, history, now).await;
    if store.backend() == Backend::Postgres {
        sqlx::query("ANALYZE").execute(store.pool()).await.expect("ANALYZE");
    }
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

async fn demo_accounts(store: &Store, org: &OrgId) -> Accounts {
    let mut conn = store.pool().acquire().await.expect("a connection");
    let all = accounts::list(&mut conn, org, None).await.expect("the demo accounts");
    let named = |name: &str| {
        all.iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("the demo has no account {name:?}"))
            .id
            .clone()
    };
    Accounts {
        listed: named("Savings"),
        pods: vec![named("Emergency Fund"), named("Taxes")],
        income: named("Chase Checking ••4567"),
        card: all
            .iter()
            .find(|a| matches!(a.kind, AccountKind::External(_)))
            .expect("the demo card")
            .id
            .clone(),
    }
}

/// Inserts the history described in the module docs, oldest first, ending before `now`.
/// Returns how many transfers the organization then has from this load.
async fn load_history(
    store: &Store,
    org: &OrgId,
    accounts: &Accounts,
    history: usize,
    now: DateTime<Utc>,
) -> usize {
    let noise = history / 4;
    let simulations = history / 10;
    let total = history + noise + simulations;
    let mut rng = rand::rngs::StdRng::seed_from_u64(history as u64);
    // Which rows are noise and which are simulations, spread evenly through time.
    let mut kinds: Vec<u8> = std::iter::repeat_n(0, history)
        .chain(std::iter::repeat_n(1, noise))
        .chain(std::iter::repeat_n(2, simulations))
        .collect();
    for i in (1..kinds.len()).rev() {
        kinds.swap(i, rng.random_range(0..=i));
    }
    let start = now - TimeDelta::milliseconds(i64::try_from(total).unwrap() * 1_000 + 60_000);
    let mut created = start;
    let mut tx = store.begin().await.expect("begin");
    for (n, kind) in kinds.into_iter().enumerate() {
        if n % 8 != 7 {
            created += TimeDelta::milliseconds(rng.random_range(1..2_000));
        }
        let pod = &accounts.pods[n % accounts.pods.len()];
        let (source, destination, direction) = match (kind, n % 4) {
            (1, _) => (Some(&accounts.income), Some(pod), TransferDirection::Internal),
            (_, 0) => (Some(&accounts.listed), Some(pod), TransferDirection::Internal),
            (_, 1) => (Some(pod), Some(&accounts.listed), TransferDirection::Internal),
            (_, 2) => (Some(&accounts.income), Some(&accounts.listed), TransferDirection::Internal),
            _ => (Some(&accounts.listed), Some(&accounts.card), TransferDirection::MoneyOut),
        };
        let status = match rng.random_range(0..20) {
            0 => TransferStatus::Cancelled,
            1 => TransferStatus::Error,
            _ => TransferStatus::Complete,
        };
        let record = TransferRecord {
            id: TransferId::generate(),
            org_id: org.clone(),
            source: source.cloned(),
            destination: destination.cloned(),
            amount: Cents::new(rng.random_range(100..100_000)),
            direction,
            origin: TransferOrigin::User,
            status,
            error_code: (status == TransferStatus::Error)
                .then_some(TransferErrorCode::InsufficientFunds),
            description: None,
            simulation: kind == 2,
            reserved: Cents::ZERO,
            rule_id: None,
            rule_execution_id: None,
            processing_started_at: Some(created),
            next_step_at: None,
            created_at: created,
            updated_at: created,
            completed_at: (status == TransferStatus::Complete).then_some(created),
        };
        transfers::insert(&mut tx, &record).await.expect("inserting a transfer");
        if n % BATCH == BATCH - 1 {
            tx.commit().await.expect("commit");
            tx = store.begin().await.expect("begin");
        }
    }
    tx.commit().await.expect("commit");
    total
}
