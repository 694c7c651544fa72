//! Load benchmark: `GET /api/v1/accounts` (10 accounts, an all-scopes key) on the release
//! `sequence-server` binary over SQLite, next to bare axum serving the same JSON from memory and
//! Prism mocking the same spec, with req/s, p50/p99, the p99 at half the server's peak rate, and
//! the server's RSS under load.
//!
//! ```text
//! cargo xtask bench            # builds the release server, then runs this with --bench
//! SEQUENCE_SERVER_BIN=target/release/sequence-server cargo bench -p sequence-server --bench accounts
//! ```
//!
//! The load generator is in this process (reqwest, `BENCH_CLIENTS` keep-alive connections,
//! default 32): a closed loop for `BENCH_SECONDS` seconds (default 5) gives the peak rate, then an
//! open loop at a fixed rate (half the peak) gives the latency a user meets below saturation;
//! its latencies are measured from each request's scheduled send time, so a stalled server is
//! not hidden by the generator waiting for it. The server under test runs in its own process
//! (`SEQUENCE_SERVER_BIN`, `serve --demo` on a temporary SQLite file), so its RSS
//! (`/proc/<pid>/status` VmHWM/VmRSS) is its own. Bare axum runs inside this process. Prism runs
//! when `target/bench-tools/bin/prism` (or `PRISM_BIN`) exists; otherwise the row says
//! "skipped". Without `SEQUENCE_SERVER_BIN` the server row is skipped too.
//!
//! This is a plain binary (`harness = false`), not a timed test: `cargo test --benches` runs it
//! without `--bench`, which makes it a smoke run (one second per row, bare axum only).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A measured row: requests answered, wall time and their latencies.
struct Measurement {
    elapsed: Duration,
    latencies: Vec<Duration>,
    failures: usize,
}

impl Measurement {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        if sorted.is_empty() {
            return f64::NAN;
        }
        let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[index].as_secs_f64() * 1e3
    }
}

/// What a run does.
#[derive(Clone, Copy)]
struct Config {
    clients: usize,
    duration: Duration,
    /// The status an answered request has (anything else counts as an error).
    expect: u16,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Closed loop: `clients` tasks, each sending the next request when the last one is answered.
async fn closed_loop(url: &str, key: &str, config: Config) -> Measurement {
    let client = reqwest::Client::builder().pool_max_idle_per_host(config.clients).build().unwrap();
    let (url, key) = (Arc::<str>::from(url), Arc::<str>::from(format!("ApiKey {key}")));
    let started = Instant::now();
    let deadline = started + config.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..config.clients {
        let (client, url, key) = (client.clone(), Arc::clone(&url), Arc::clone(&key));
        tasks.spawn(async move {
            let (mut latencies, mut failures) = (Vec::new(), 0);
            while Instant::now() < deadline {
                let sent = Instant::now();
                match client.get(&*url).header("Authorization", &*key).send().await {
                    Ok(response) if response.status().as_u16() == config.expect => {
                        let _ = response.bytes().await;
                        latencies.push(sent.elapsed());
                    }
                    _ => failures += 1,
                }
            }
            (latencies, failures)
        });
    }
    let mut measurement = Measurement { elapsed: Duration::ZERO, latencies: vec![], failures: 0 };
    for (latencies, failures) in tasks.join_all().await {
        measurement.latencies.extend(latencies);
        measurement.failures += failures;
    }
    measurement.elapsed = started.elapsed();
    measurement
}

/// Open loop at `rate` requests/s spread over `clients` tasks; latency from the scheduled time.
async fn fixed_rate(url: &str, key: &str, config: Config, rate: f64) -> Measurement {
    let client = reqwest::Client::builder().pool_max_idle_per_host(config.clients).build().unwrap();
    let (url, key) = (Arc::<str>::from(url), Arc::<str>::from(format!("ApiKey {key}")));
    let interval = Duration::from_secs_f64(config.clients as f64 / rate.max(1.0));
    let started = Instant::now();
    let total = (rate * config.duration.as_secs_f64() / config.clients as f64).ceil() as u32;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..config.clients {
        let (client, url, key) = (client.clone(), Arc::clone(&url), Arc::clone(&key));
        let offset = interval.mul_f64(task as f64 / config.clients as f64);
        tasks.spawn(async move {
            let (mut latencies, mut failures) = (Vec::new(), 0);
            for n in 0..total {
                let scheduled = started + offset + interval * n;
                tokio::time::sleep_until(scheduled.into()).await;
                match client.get(&*url).header("Authorization", &*key).send().await {
                    Ok(response) if response.status().as_u16() == config.expect => {
                        let _ = response.bytes().await;
                        latencies.push(scheduled.elapsed());
                    }
                    _ => failures += 1,
                }
            }
            (latencies, failures)
        });
    }
    let mut measurement = Measurement { elapsed: Duration::ZERO, latencies: vec![], failures: 0 };
    for (latencies, failures) in tasks.join_all().await {
        measurement.latencies.extend(latencies);
        measurement.failures += failures;
    }
    measurement.elapsed = started.elapsed();
    measurement
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn wait_until_listening(port: u16) -> bool {
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// VmHWM and VmRSS of `pid`, in MB.
fn rss_mb(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find(|l| l.starts_with(name)).and_then(|l| {
            l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()).map(|kb| kb / 1024.0)
        })
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

fn print_row(
    name: &str,
    closed: &Measurement,
    half: Option<&Measurement>,
    rss: Option<(f64, f64)>,
) {
    let half = half.map_or_else(|| "-".to_owned(), |m| format!("{:.2}", m.percentile(0.99)));
    let rss = rss.map_or_else(|| "-".to_owned(), |(hwm, rss)| format!("{hwm:.1}/{rss:.1}"));
    println!(
        "{name:<16} {:>10.0} {:>8.2} {:>8.2} {:>14} {:>7} {:>16}",
        closed.rate(),
        closed.percentile(0.50),
        closed.percentile(0.99),
        half,
        closed.failures,
        rss
    );
}

/// Measures one target: closed loop, then (when `half` is set) an open loop at half its peak.
async fn measure(
    url: &str,
    key: &str,
    config: Config,
    half: bool,
) -> (Measurement, Option<Measurement>) {
    // A short warm-up so connections and caches exist before measuring.
    closed_loop(url, key, Config { duration: Duration::from_millis(500), ..config }).await;
    let closed = closed_loop(url, key, config).await;
    let open =
        if half { Some(fixed_rate(url, key, config, closed.rate() / 2.0).await) } else { None };
    (closed, open)
}

/// The same request with a key that lacks `LIST_ACCOUNTS`: every answer is a `403` that the
/// server hands to the audit log's background queue. Prints the row, then how many of the
/// denials the audit log holds afterwards (recording is off the request path; a full queue
/// drops entries and counts them).
async fn denied_row(
    binary: &PathBuf,
    dir: &std::path::Path,
    base: &str,
    key: &str,
    config: Config,
) {
    let client = reqwest::Client::new();
    let organization: serde_json::Value = client
        .get(format!("{base}/sandbox/organization"))
        .header("Authorization", format!("ApiKey {key}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let org = organization["data"]["id"].as_str().unwrap().to_owned();
    let database = format!("sqlite://{}", dir.join("bench.db").display());
    let minted = Command::new(binary)
        .args(["--database", &database, "keys", "create", "--org", &org, "--name", "bench-denied"])
        .args(["--permissions", r#"[{"scope":"READ_ACCOUNTS","resources":["*"]}]"#])
        .stderr(Stdio::null())
        .output()
        .await
        .unwrap();
    let denied_key = String::from_utf8(minted.stdout).unwrap().trim().to_owned();
    let config = Config { expect: 403, ..config };
    // No separate warm-up (the server is warm from the row above), so every denial is counted.
    let url = format!("{base}/accounts");
    let closed = closed_loop(&url, &denied_key, config).await;
    let half = fixed_rate(&url, &denied_key, config, closed.rate() / 2.0).await;
    let half = Some(half);
    print_row("  403, audited", &closed, half.as_ref(), None);
    // Wait until the writer has drained the queue (the count stops moving), then count what it
    // wrote and what the server says it dropped because the queue was full.
    let store = sequence_store::Store::connect(&database).await.unwrap();
    let drained = Instant::now();
    let mut recorded = -1;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_logs WHERE outcome = 'denied'")
                .fetch_one(store.pool())
                .await
                .unwrap();
        if now == recorded || drained.elapsed() > Duration::from_secs(60) {
            break;
        }
        recorded = now;
    }
    let metrics =
        client.get(base.replace("/api/v1", "/metrics")).send().await.unwrap().text().await.unwrap();
    let dropped = metrics
        .lines()
        .find(|l| l.starts_with("sequence_audit_dropped_total"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or("0")
        .to_owned();
    let answered = closed.latencies.len() + half.as_ref().map_or(0, |m| m.latencies.len());
    let failed = closed.failures + half.as_ref().map_or(0, |m| m.failures);
    println!(
        "{:<16} {answered} denials answered ({failed} other answers): {recorded} recorded in the \
         audit log, {dropped} dropped (queue full), drained {:.1} s after the load",
        "",
        drained.elapsed().as_secs_f64()
    );
}

/// Starts the release server on a temporary SQLite file; returns it, its port and the demo key.
async fn start_server(binary: &PathBuf, dir: &std::path::Path) -> Option<(Child, u16, String)> {
    let port = free_port();
    let mut child = Command::new(binary)
        .arg("--database")
        .arg(format!("sqlite://{}", dir.join("bench.db").display()))
        // Limiting off: the benchmark measures throughput, not the 100/min default.
        .args(["serve", "--demo", "--rate-limit", "0", "--bind", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let mut lines = BufReader::new(child.stdout.take()?).lines();
    let key = lines.next_line().await.ok()??.trim().to_owned();
    wait_until_listening(port).await.then_some((child, port, key))
}

/// Makes the demo organization hold exactly `wanted` accounts (adding pods); returns the list body.
async fn ten_accounts(base: &str, key: &str, wanted: usize) -> axum::body::Bytes {
    let client = reqwest::Client::new();
    let list = || async {
        client
            .get(format!("{base}/accounts"))
            .header("Authorization", format!("ApiKey {key}"))
            .send()
            .await
            .expect("the server answers")
            .bytes()
            .await
            .unwrap()
    };
    let body: serde_json::Value = serde_json::from_slice(&list().await).unwrap();
    let have = body["data"].as_array().map_or(0, Vec::len);
    for n in have..wanted {
        let response = client
            .post(format!("{base}/accounts/pods"))
            .header("Authorization", format!("ApiKey {key}"))
            .json(&serde_json::json!({"nickname": format!("Bench pod {n}")}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "creating a pod: {}", response.status());
    }
    list().await
}

fn main() {
    let measuring = std::env::args().any(|arg| arg == "--bench");
    let config = Config {
        clients: env_usize("BENCH_CLIENTS", 32),
        duration: Duration::from_secs(
            env_usize("BENCH_SECONDS", if measuring { 5 } else { 1 }) as u64
        ),
        expect: 200,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        println!(
            "GET /api/v1/accounts: {} keep-alive clients, {} s closed loop, then {} s at half the peak ({} core(s))",
            config.clients,
            config.duration.as_secs(),
            config.duration.as_secs(),
            std::thread::available_parallelism().map_or(1, usize::from)
        );
        println!(
            "{:<16} {:>10} {:>8} {:>8} {:>14} {:>7} {:>16}",
            "target", "req/s", "p50 ms", "p99 ms", "p99@half ms", "errors", "RSS hwm/now MB"
        );
        let dir = tempfile::tempdir().unwrap();
        let server_bin = std::env::var_os("SEQUENCE_SERVER_BIN").map(PathBuf::from);
        let mut body = None;
        match server_bin.filter(|_| measuring) {
            None => println!("{:<16} skipped: SEQUENCE_SERVER_BIN is not set (cargo xtask bench sets it)", "sequence-server"),
            Some(binary) => match start_server(&binary, dir.path()).await {
                None => println!("{:<16} skipped: {} did not start", "sequence-server", binary.display()),
                Some((child, port, key)) => {
                    let base = format!("http://127.0.0.1:{port}/api/v1");
                    body = Some(ten_accounts(&base, &key, 10).await);
                    let (closed, half) = measure(&format!("{base}/accounts"), &key, config, true).await;
                    let rss = child.id().and_then(rss_mb);
                    print_row("sequence-server", &closed, half.as_ref(), rss);
                    denied_row(&binary, dir.path(), &base, &key, config).await;
                    drop(child);
                }
            },
        }

        // Bare axum: the same JSON bytes from memory.
        let body = body.unwrap_or_else(|| axum::body::Bytes::from_static(br#"{"data":[]}"#));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let bare = format!("http://{}/api/v1/accounts", listener.local_addr().unwrap());
        let app = axum::Router::new().route(
            "/api/v1/accounts",
            axum::routing::get(move || {
                let body = body.clone();
                async move { ([(http::header::CONTENT_TYPE, "application/json")], body) }
            }),
        );
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let (closed, half) = measure(&bare, "unused", config, measuring).await;
        print_row("bare axum", &closed, half.as_ref(), None);
        server.abort();

        // Prism mocking openapi.yaml.
        let prism = std::env::var_os("PRISM_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/bench-tools/bin/prism"));
        if !measuring {
            println!("{:<16} skipped: smoke run", "prism");
        } else if !prism.exists() {
            println!("{:<16} skipped: prism not installed ({})", "prism", prism.display());
        } else {
            let port = free_port();
            let child = Command::new(&prism)
                .args(["mock", "-p", &port.to_string(), "-h", "127.0.0.1"])
                .arg(root.join("openapi.yaml"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn();
            match child {
                Ok(child) if wait_until_listening(port).await => {
                    // Prism serves the spec's paths without the `servers` prefix.
                    let url = format!("http://127.0.0.1:{port}/accounts");
                    let (closed, half) = measure(&url, "sk_bench", config, true).await;
                    let rss = child.id().and_then(rss_mb);
                    print_row("prism", &closed, half.as_ref(), rss);
                }
                _ => println!("{:<16} skipped: prism did not start", "prism"),
            }
        }
    });
}
