//! Load benchmark: `createTransfer` over HTTP at 1, 8 and 32 clients, next to a raw
//! single-connection loop doing the same writes (the storage limit), on SQLite and PostgreSQL,
//! on a database that already holds a large history, while the settlement worker runs.
//!
//! ```text
//! cargo xtask bench --only transfers
//! SEQUENCE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p sequence-server --bench transfers
//! BENCH_CLIENTS=32 BENCH_HISTORY=1000 BENCH_WARMUP_SECONDS=0 cargo bench -p sequence-server --bench transfers
//! ```
//!
//! For each backend (a temporary SQLite file; a throwaway PostgreSQL database when
//! `SEQUENCE_TEST_POSTGRES_URL` is set, otherwise PostgreSQL is skipped with a note) it
//!
//! 1. seeds the demo organization and bulk-loads `BENCH_HISTORY` (default 100,000) transfers of
//!    history through the store (`support::load_history`, shared with the `history` bench);
//! 2. starts the application in-process on a free local port **with the background worker**
//!    (`AppState::spawn_worker`, one pass a second, as `serve` runs it), funds `BENCH_PODS`
//!    (default 10) pods through sandbox deposits;
//! 3. warms up for `BENCH_WARMUP_SECONDS` (default 35) at 8 clients, unmeasured. An internal
//!    transfer completes 30 s after it is accepted, so from then on the worker is settling
//!    transfers (a status change, ledger postings and events each) while the rows are measured;
//!    every row prints how many transfers settled while it ran;
//! 4. for each client count in `BENCH_CLIENTS` (default 1,8,32) sends `BENCH_TRANSFERS`
//!    (default 200 per client, between 1,000 and 5,000) `createTransfer` requests between random
//!    pods, each with its own `Idempotency-Key` (as a careful integrator sends them), and prints
//!    accepted transfers per second and p50/p99/max latency. Every request must be accepted
//!    (`201`, `processing`);
//! 5. stops the server and the worker and runs the **raw loop**: one connection of its own
//!    (sqlx's `AnyConnection`, the driver the store uses, SQLite in WAL mode with
//!    `synchronous = NORMAL` as the store sets it), no pool, no HTTP, no queue, one transaction
//!    per transfer holding the writes a `createTransfer` with an idempotency key must make, as
//!    the store's own statements: the idempotency claim (one upsert), the conditional
//!    reservation on the source (`UPDATE … WHERE balance - reserved >= amount`), the transfer's
//!    `INSERT`, the idempotency response's `UPDATE` and the audit entry's `INSERT`. That is the
//!    storage limit the server is compared with ("vs raw"). On SQLite the same loop runs a second
//!    time from a writer lane (`sequence_store::lane`: its task and the connection's thread on one
//!    CPU), as the server drives its writer; "vs raw 1 CPU" compares with that faster limit.
//!
//! This is a plain binary (`harness = false`), not a timed test: `cargo test` does not build
//! it, and `cargo test --benches` runs it without `--bench`, which makes it a quick smoke run
//! (SQLite, 1,000 transfers of history, 50 transfers per row, no warm-up) instead of a
//! measurement. Nothing asserts a timing. Figures are recorded in `BENCHMARKS.md`.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::{Rng, SeedableRng};
use sequence_core::ids::{AccountId, ApiKeyId, AuditEntryId, OrgId, TransferId};
use sequence_core::ledger::{TransferDirection, TransferOrigin, TransferStatus};
use sequence_core::money::Cents;
use sequence_server::AppState;
use sequence_store::audit::{self, AuditEntry, Outcome};
use sequence_store::test_support::{TestBackend, TestDatabase};
use sequence_store::transfers::{self, TransferRecord};
use sequence_store::{Backend, Store, idempotency, ledger};
use serde_json::{Value, json};
use sqlx::{Connection, Executor};
use support::{demo_accounts, env_list, env_usize, load_history_and_analyze, percentile_ms};

/// What one run does.
#[derive(Clone, Debug)]
struct Config {
    /// Requests per row; `None`: 200 per client, between 1,000 and 5,000.
    transfers: Option<usize>,
    clients: Vec<usize>,
    history: usize,
    pods: usize,
    warmup: Duration,
}

impl Config {
    fn transfers_for(&self, clients: usize) -> usize {
        self.transfers.unwrap_or((clients * 200).clamp(1_000, 5_000))
    }
}

/// One measured row.
struct Row {
    what: String,
    transfers: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// Transfers the worker completed while the row ran (`None` for the raw loop: no worker).
    settled: Option<i64>,
}

fn main() {
    let measuring = std::env::args().any(|arg| arg == "--bench");
    let config = if measuring {
        Config {
            transfers: env_usize("BENCH_TRANSFERS"),
            clients: env_list("BENCH_CLIENTS").unwrap_or_else(|| vec![1, 8, 32]),
            history: env_usize("BENCH_HISTORY").unwrap_or(100_000),
            pods: env_usize("BENCH_PODS").unwrap_or(10),
            warmup: Duration::from_secs(env_usize("BENCH_WARMUP_SECONDS").unwrap_or(35) as u64),
        }
    } else {
        Config {
            transfers: Some(50),
            clients: vec![1, 4],
            history: 1_000,
            pods: 3,
            warmup: Duration::ZERO,
        }
    };
    assert!(
        config.transfers != Some(0)
            && config.pods >= 2
            && !config.clients.is_empty()
            && !config.clients.contains(&0),
        "{config:?}"
    );
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!(
        "createTransfer over HTTP vs a raw single-connection loop: {} transfers of history, {} pods, \
         {} s warm-up, the worker running ({} core(s))",
        config.history,
        config.pods,
        config.warmup.as_secs(),
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    let backends: &[TestBackend] =
        if measuring { &TestBackend::ALL } else { &[TestBackend::Sqlite] };
    for backend in backends {
        let name = match backend {
            TestBackend::Sqlite => "sqlite",
            TestBackend::Postgres => "postgres",
        };
        let Some((load, rows)) = runtime.block_on(run(*backend, &config)) else {
            println!(
                "{name:<10} skipped: {} is not set",
                sequence_store::test_support::POSTGRES_URL_VAR
            );
            continue;
        };
        println!("{name}: history loaded in {:.1} s", load.as_secs_f64());
        println!(
            "{:<10} {:<16} {:>9} {:>11} {:>8} {:>8} {:>8} {:>8} {:>10} {:>13}",
            "backend",
            "what",
            "transfers",
            "accepted/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "settled",
            "vs raw",
            "vs raw 1 CPU"
        );
        let rate_of = |what: &str| rows.iter().find(|r| r.what == what).map_or(f64::NAN, Row::rate);
        let (raw_rate, one_cpu_rate) = (rate_of(RAW), rate_of(RAW_ONE_CPU));
        for row in &rows {
            let mut latencies = row.latencies.clone();
            latencies.sort();
            let percentile = |p: f64| percentile_ms(&latencies, p);
            println!(
                "{name:<10} {:<16} {:>9} {:>11.1} {:>8.2} {:>8.2} {:>8.2} {:>8} {:>9.2}x {:>13}",
                row.what,
                row.transfers,
                row.rate(),
                percentile(0.50),
                percentile(0.99),
                percentile(1.0),
                row.settled.map_or_else(|| "-".to_owned(), |n| n.to_string()),
                row.rate() / raw_rate,
                // PostgreSQL has no writer lane, so no such loop.
                if one_cpu_rate.is_nan() {
                    "-".to_owned()
                } else {
                    format!("{:.2}x", row.rate() / one_cpu_rate)
                },
            );
        }
    }
}

impl Row {
    fn rate(&self) -> f64 {
        self.transfers as f64 / self.elapsed.as_secs_f64()
    }
}

/// Every row on `backend` (the server's, then the raw loop's) and how long the history took to
/// load; `None` when the backend is not configured.
async fn run(backend: TestBackend, config: &Config) -> Option<(Duration, Vec<Row>)> {
    let database = TestDatabase::create(backend).await?;
    let store = Store::connect(database.url()).await.expect("connecting to the database");
    let now = Utc::now();
    let seed = sequence_server::demo::seed(&store, now).await.expect("seeding an organization");
    let accounts = demo_accounts(&store, &seed.org_id).await;
    let started = Instant::now();
    load_history_and_analyze(&store, &seed.org_id, &accounts, config.history, now).await;
    let load = started.elapsed();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let base = format!("http://{}/api/v1", listener.local_addr().unwrap());
    let state = AppState::new(store.clone(), true);
    let worker = state.spawn_worker(Duration::from_secs(1));
    let app = sequence_server::app(state);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let max_clients = config.clients.iter().copied().max().unwrap_or(1).max(8);
    let client = reqwest::Client::builder().pool_max_idle_per_host(max_clients).build().unwrap();
    let key = Arc::new(seed.api_key);
    let post = {
        let (client, base, key) = (client.clone(), base.clone(), Arc::clone(&key));
        move |path: &str, body: Value| {
            let request = client
                .post(format!("{base}{path}"))
                .header("Authorization", format!("ApiKey {key}"))
                .header("Idempotency-Key", ulid::Ulid::new().to_string())
                .json(&body);
            async move {
                let response = request.send().await.expect("the server answers");
                let status = response.status();
                let body: Value = response.json().await.expect("a JSON body");
                assert!(status.is_success(), "{status}: {body}");
                body
            }
        }
    };
    let mut pods = Vec::new();
    for n in 0..config.pods {
        let pod = post("/accounts/pods", json!({"nickname": format!("Pod {n}")})).await;
        let id = pod["data"]["id"].as_str().unwrap().to_owned();
        post("/sandbox/deposits", json!({"account_id": id, "amount_in_cents": 10_000_000_000_i64}))
            .await;
        pods.push(id);
    }
    let pods = Arc::new(pods);

    let load_with = |clients: usize, limit: Limit| {
        let (post, pods) = (post.clone(), Arc::clone(&pods));
        async move {
            let next = Arc::new(AtomicUsize::new(0));
            let mut tasks = tokio::task::JoinSet::new();
            for worker in 0..clients {
                let (post, pods, next) = (post.clone(), Arc::clone(&pods), Arc::clone(&next));
                tasks.spawn(async move {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(worker as u64);
                    let mut latencies = Vec::new();
                    while limit.more(next.fetch_add(1, Ordering::Relaxed)) {
                        let (source, destination) = pick_pair(&mut rng, pods.len());
                        let body = json!({
                            "source_account_id": pods[source],
                            "destination_account_id": pods[destination],
                            "amount_in_cents": rng.random_range(100..=10_000),
                        });
                        let sent = Instant::now();
                        let transfer = post("/transfers", body).await;
                        latencies.push(sent.elapsed());
                        assert_eq!(
                            transfer["data"]["status"], "processing",
                            "accepted: {transfer}"
                        );
                    }
                    latencies
                });
            }
            tasks.join_all().await.into_iter().flatten().collect::<Vec<Duration>>()
        }
    };
    if !config.warmup.is_zero() {
        load_with(8, Limit::Until(Instant::now() + config.warmup)).await;
    }
    let mut rows = Vec::new();
    for &clients in &config.clients {
        let count = config.transfers_for(clients);
        let settled_before = completed(&store, &seed.org_id).await;
        let started = Instant::now();
        let latencies = load_with(clients, Limit::Count(count)).await;
        let elapsed = started.elapsed();
        assert_eq!(latencies.len(), count);
        let settled = completed(&store, &seed.org_id).await - settled_before;
        let what = format!("server, {clients:>2} cl.");
        rows.push(Row { what, transfers: count, elapsed, latencies, settled: Some(settled) });
    }
    server.abort();
    worker.abort();
    let _ = server.await;
    let _ = worker.await;

    let pods: Vec<AccountId> = pods.iter().map(AccountId::from_raw).collect();
    let count = config.transfers_for(config.clients.iter().copied().max().unwrap_or(1));
    rows.push(raw_loop(&store, database.url(), &seed.org_id, &pods, count).await);
    if store.backend() == Backend::Sqlite {
        // The same loop driven from one CPU, as the server drives its SQLite writer.
        let lane = sequence_store::lane::WriterLane::start().expect("a lane");
        let (store, url) = (store.clone(), database.url().to_owned());
        let org = seed.org_id.clone();
        let pinned = lane.run(async move { raw_loop(&store, &url, &org, &pods, count).await });
        let mut row = pinned.await.expect("the lane ran the loop");
        row.what = RAW_ONE_CPU.to_owned();
        rows.push(row);
    }
    store.close().await;
    drop(database);
    Some((load, rows))
}

/// How long a load runs.
#[derive(Clone, Copy)]
enum Limit {
    /// This many requests in all.
    Count(usize),
    /// Until this instant.
    Until(Instant),
}

impl Limit {
    /// Whether the `sent`-th request (counting from 0) is sent.
    fn more(self, sent: usize) -> bool {
        match self {
            Limit::Count(count) => sent < count,
            Limit::Until(deadline) => Instant::now() < deadline,
        }
    }
}

/// Two different pods.
fn pick_pair(rng: &mut impl Rng, pods: usize) -> (usize, usize) {
    let source = rng.random_range(0..pods);
    (source, (source + rng.random_range(1..pods)) % pods)
}

/// Transfers of `org` the worker has completed so far (history included).
async fn completed(store: &Store, org: &OrgId) -> i64 {
    let mut conn = store.read().await.expect("a connection");
    let row =
        sqlx::query("SELECT COUNT(*) FROM transfers WHERE org_id = $1 AND status = 'complete'")
            .bind(org.as_str())
            .fetch_one(&mut *conn)
            .await
            .expect("counting completed transfers");
    sqlx::Row::try_get(&row, 0).expect("a count")
}

/// The raw loop's row.
const RAW: &str = "raw loop, 1 conn";
/// The raw loop's row when it runs on a writer lane (SQLite).
const RAW_ONE_CPU: &str = "raw loop, 1 CPU";

/// The storage limit (see the module docs): `count` transfers between random `pods`, one
/// transaction each, sequentially on one connection of its own.
async fn raw_loop(store: &Store, url: &str, org: &OrgId, pods: &[AccountId], count: usize) -> Row {
    let mut conn = sqlx::AnyConnection::connect(url).await.expect("a raw connection");
    let begin = match store.backend() {
        Backend::Sqlite => {
            conn.execute("PRAGMA synchronous = NORMAL").await.expect("synchronous = NORMAL");
            conn.execute("PRAGMA foreign_keys = ON").await.expect("foreign keys");
            "BEGIN IMMEDIATE"
        }
        Backend::Postgres => "BEGIN",
    };
    let key_id = ApiKeyId::from_raw("key_raw_loop");
    let mut rng = rand::rngs::StdRng::seed_from_u64(u64::MAX);
    let mut latencies = Vec::with_capacity(count);
    let started = Instant::now();
    for _ in 0..count {
        let (source, destination) = pick_pair(&mut rng, pods.len());
        let (source, destination) = (&pods[source], &pods[destination]);
        let amount = Cents::new(rng.random_range(100..=10_000));
        let sent = Instant::now();
        let now = Utc::now();
        let now_ms = now.timestamp_millis();
        let idempotency_key = ulid::Ulid::new().to_string();
        let mut tx = conn.begin_with(begin).await.expect("begin");
        let claim = idempotency::claim(&mut tx, org, &idempotency_key, "fingerprint", now_ms)
            .await
            .expect("claiming the idempotency key");
        assert!(matches!(claim, idempotency::Claim::Acquired));
        assert!(ledger::reserve(&mut tx, org, source, amount).await.expect("reserving"));
        let transfer = TransferRecord {
            id: TransferId::generate(),
            org_id: org.clone(),
            source: Some(source.clone()),
            destination: Some(destination.clone()),
            amount,
            direction: TransferDirection::Internal,
            origin: TransferOrigin::User,
            status: TransferStatus::Processing,
            error_code: None,
            description: None,
            simulation: false,
            reserved: amount,
            rule_id: None,
            rule_execution_id: None,
            processing_started_at: Some(now),
            next_step_at: Some(now),
            created_at: now,
            updated_at: now,
            completed_at: None,
        };
        transfers::insert(&mut tx, &transfer).await.expect("inserting the transfer");
        let body = format!("{{\"data\":{{\"id\":\"{}\"}}}}", transfer.id);
        idempotency::complete(&mut tx, org, &idempotency_key, 201, &body)
            .await
            .expect("recording the response");
        let entry = AuditEntry {
            id: AuditEntryId::generate(),
            org_id: org.clone(),
            created_at: now,
            api_key_id: key_id.clone(),
            operation_id: "createTransfer".to_owned(),
            method: "POST".to_owned(),
            path: "/transfers".to_owned(),
            resource_ids: vec![transfer.id.to_string()],
            outcome: Outcome::Success,
            status: 201,
            error_code: None,
            request_id: format!("req_{}", ulid::Ulid::new()),
            called_reason: None,
        };
        audit::insert(&mut tx, &entry).await.expect("recording the audit entry");
        tx.commit().await.expect("commit");
        latencies.push(sent.elapsed());
    }
    let elapsed = started.elapsed();
    conn.close().await.expect("closing the raw connection");
    Row { what: RAW.to_owned(), transfers: count, elapsed, latencies, settled: None }
}
