//! Load benchmark: accepted transfers per second, over HTTP, on SQLite and on PostgreSQL.
//!
//! ```text
//! cargo bench -p sequence-server --bench transfers
//! SEQUENCE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p sequence-server --bench transfers
//! ```
//!
//! For each backend it starts the application on a free local port over a fresh database (a
//! temporary SQLite file; a throwaway PostgreSQL database when `SEQUENCE_TEST_POSTGRES_URL` is
//! set, otherwise PostgreSQL is skipped with a note), funds `BENCH_PODS` pods through sandbox
//! deposits, then fires `BENCH_TRANSFERS` `createTransfer` requests between random pods from
//! `BENCH_CONCURRENCY` concurrent HTTP clients and prints the accepted transfers per second and
//! the p50/p99/max latency. Every request must be accepted (`201`, status `processing`): the
//! pods hold far more than the transfers move. The settlement worker is not running, so the
//! figure is the acceptance path alone (authentication, validation, permission, one transaction
//! with an atomic reservation and an insert).
//!
//! This is a plain binary (`harness = false`), not a timed test: `cargo test` does not build
//! it, and `cargo test --benches` runs it without `--bench`, which makes it a quick smoke run
//! (SQLite, 50 transfers) instead of a measurement.
//!
//! # Recorded figures
//!
//! Release build, defaults (5000 transfers, 32 clients, 10 pods), the load generator and the
//! server in one process on a 2-core VM that was also running other builds (load average about
//! 4), PostgreSQL 15 on the same machine; three consecutive runs:
//!
//! | backend    | accepted/s   | p50 ms      | p99 ms     | max ms       |
//! |------------|--------------|-------------|------------|--------------|
//! | SQLite     | 2140 – 2260  | 9.9 – 10.2  | 71 – 93    | 540 – 1040   |
//! | PostgreSQL | 1100 – 1160  | 20.4 – 20.9 | 84 – 96    | 125 – 245    |
//!
//! SQLite is faster here (no network round trips; one writer, `BEGIN IMMEDIATE`), but its
//! worst requests wait in SQLite's busy handler; PostgreSQL's tail is tighter and it is the
//! backend that scales to several server replicas.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use sequence_server::AppState;
use sequence_store::Store;
use sequence_store::test_support::{TestBackend, TestDatabase};
use serde_json::{Value, json};

/// What one run does.
#[derive(Clone, Copy, Debug)]
struct Config {
    transfers: usize,
    concurrency: usize,
    pods: usize,
}

/// What one run measured.
struct Measurement {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a positive integer, not {value:?}")),
        Err(_) => default,
    }
}

fn main() {
    let measuring = std::env::args().any(|arg| arg == "--bench");
    let config = if measuring {
        Config {
            transfers: env_usize("BENCH_TRANSFERS", 5_000),
            concurrency: env_usize("BENCH_CONCURRENCY", 32),
            pods: env_usize("BENCH_PODS", 10),
        }
    } else {
        Config { transfers: 50, concurrency: 8, pods: 3 }
    };
    assert!(config.transfers > 0 && config.concurrency > 0 && config.pods >= 2, "{config:?}");
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!(
        "createTransfer over HTTP: {} transfers, {} concurrent clients, {} pods ({} core(s))",
        config.transfers,
        config.concurrency,
        config.pods,
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    println!(
        "{:<10} {:>10} {:>10} {:>14} {:>9} {:>9} {:>9}",
        "backend", "transfers", "seconds", "accepted/s", "p50 ms", "p99 ms", "max ms"
    );
    let backends: &[TestBackend] =
        if measuring { &TestBackend::ALL } else { &[TestBackend::Sqlite] };
    for backend in backends {
        let name = match backend {
            TestBackend::Sqlite => "sqlite",
            TestBackend::Postgres => "postgres",
        };
        let Some(measurement) = runtime.block_on(run(*backend, config)) else {
            println!(
                "{name:<10} skipped: {} is not set",
                sequence_store::test_support::POSTGRES_URL_VAR
            );
            continue;
        };
        let mut latencies = measurement.latencies;
        latencies.sort();
        let percentile = |p: f64| {
            let index =
                ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
            latencies[index].as_secs_f64() * 1e3
        };
        let seconds = measurement.elapsed.as_secs_f64();
        println!(
            "{name:<10} {:>10} {:>10.2} {:>14.1} {:>9.2} {:>9.2} {:>9.2}",
            latencies.len(),
            seconds,
            latencies.len() as f64 / seconds,
            percentile(0.50),
            percentile(0.99),
            percentile(1.0),
        );
    }
}

/// One measurement on `backend`; `None` when it is not configured.
async fn run(backend: TestBackend, config: Config) -> Option<Measurement> {
    let database = TestDatabase::create(backend).await?;
    let store = Store::connect(database.url()).await.expect("connecting to the database");
    let seed = sequence_server::demo::seed(&store, chrono::Utc::now())
        .await
        .expect("seeding an organization");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let base = format!("http://{}/api/v1", listener.local_addr().unwrap());
    let app = sequence_server::app(AppState::new(store.clone(), true));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client =
        reqwest::Client::builder().pool_max_idle_per_host(config.concurrency).build().unwrap();
    let key = Arc::new(seed.api_key);
    let post = {
        let (client, base, key) = (client.clone(), base.clone(), Arc::clone(&key));
        move |path: &str, body: Value| {
            let request = client
                .post(format!("{base}{path}"))
                .header("Authorization", format!("ApiKey {key}"))
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

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for worker in 0..config.concurrency {
        let (post, pods, next) = (post.clone(), Arc::clone(&pods), Arc::clone(&next));
        clients.spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(worker as u64);
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < config.transfers {
                let source = rng.random_range(0..pods.len());
                let destination = (source + rng.random_range(1..pods.len())) % pods.len();
                let body = json!({
                    "source_account_id": pods[source],
                    "destination_account_id": pods[destination],
                    "amount_in_cents": rng.random_range(100..=10_000),
                });
                let sent = Instant::now();
                let transfer = post("/transfers", body).await;
                latencies.push(sent.elapsed());
                assert_eq!(transfer["data"]["status"], "processing", "accepted: {transfer}");
            }
            latencies
        });
    }
    let latencies: Vec<Duration> = clients.join_all().await.into_iter().flatten().collect();
    let elapsed = started.elapsed();
    assert_eq!(latencies.len(), config.transfers);
    server.abort();
    store.close().await;
    drop(database);
    Some(Measurement { elapsed, latencies })
}
