//! `sequence-sim`: runs the simulator over a range of seeds on one or both backends, prints
//! operations per second per backend, and on a violation prints the seed, the step, the
//! invariant, a minimal reproduction (the same seed with the fewest steps that still fail,
//! found by bisection) and the operation log of the last steps. Exits 1 on a violation.
//!
//! Usually run as `cargo xtask simulate …` (see the README); the flags are the same.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use sequence_sim::{Backend, Config, Report, Tally, quiet_panics, run};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backends {
    Sqlite,
    Postgres,
    Both,
}

#[derive(Parser, Debug)]
#[command(
    name = "sequence-sim",
    about = "Deterministic simulation of the Sequence application layer"
)]
struct Args {
    /// The first seed (default: drawn at random and printed).
    #[arg(long)]
    seed: Option<u64>,
    /// How many seeds, from `--seed` on.
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// Steps per seed.
    #[arg(long, default_value_t = 1_000)]
    ops: u64,
    /// Where to run.
    #[arg(long, value_enum, default_value_t = Backends::Sqlite)]
    backend: Backends,
    /// The PostgreSQL server to create throwaway databases on.
    #[arg(
        long,
        env = "SEQUENCE_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Longest a use case or a worker pass may take before it counts as a violation.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
    /// Audit every organization with the expensive checks every this many steps.
    #[arg(long, default_value_t = 50)]
    full_check_every: u64,
    /// Steps of the operation log printed with a violation.
    #[arg(long, default_value_t = 25)]
    log_tail: usize,
    /// Report a violation without shrinking it.
    #[arg(long)]
    no_shrink: bool,
    /// Print each seed's result and the per-operation tallies.
    #[arg(long, short)]
    verbose: bool,
    /// Print each seed's operation log (its last `--log-tail` steps) even when it passes.
    #[arg(long)]
    show_log: bool,
    /// Tokio worker threads (0: a single-threaded runtime).
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    quiet_panics();
    let runtime = match args.threads {
        0 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        threads => {
            tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()
        }
    }
    .expect("a tokio runtime");
    // Panics are caught where the simulator expects them (see `quiet_panics`); one that
    // escapes is the simulator's own bug, printed here with its location.
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(simulate(args))));
    match outcome {
        Ok(Ok(code)) => code,
        Ok(Err(error)) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
        Err(_) => {
            eprintln!("the simulator panicked: {}", sequence_sim::last_panic().unwrap_or_default());
            ExitCode::from(3)
        }
    }
}

async fn simulate(args: Args) -> anyhow::Result<ExitCode> {
    let first = args.seed.unwrap_or_else(rand::random);
    let backends = match args.backend {
        Backends::Sqlite => vec![Backend::Sqlite],
        Backends::Postgres => vec![Backend::Postgres],
        Backends::Both => vec![Backend::Sqlite, Backend::Postgres],
    };
    println!(
        "sequence-sim: seeds {first}..{} ({} seed(s)), {} ops each, on {}",
        first.saturating_add(args.seeds),
        args.seeds,
        args.ops,
        backends.iter().map(|b| b.name()).collect::<Vec<_>>().join(" and ")
    );
    for backend in backends {
        let mut ops = 0;
        let mut busy = Duration::ZERO;
        let mut tallies: BTreeMap<&'static str, Tally> = BTreeMap::new();
        let mut timings: BTreeMap<&'static str, (u64, Duration)> = BTreeMap::new();
        let wall = Instant::now();
        for seed in first..first.saturating_add(args.seeds) {
            let config = config(&args, seed, args.ops, backend);
            let report = run(&config).await?;
            ops += report.ops;
            busy += report.elapsed;
            for (kind, (steps, spent)) in &report.timings {
                let total = timings.entry(kind).or_default();
                total.0 += steps;
                total.1 += *spent;
            }
            for (kind, tally) in &report.tallies {
                let total = tallies.entry(kind).or_default();
                total.ok += tally.ok;
                total.refused += tally.refused;
            }
            if args.verbose {
                println!(
                    "  {} seed {seed}: {} ops in {:.1}s{}",
                    backend.name(),
                    report.ops,
                    report.elapsed.as_secs_f64(),
                    if report.violation.is_some() { " VIOLATION" } else { "" }
                );
            }
            if args.show_log {
                for line in &report.log {
                    println!("    {line}");
                }
            }
            if report.violation.is_some() {
                print_rate(backend, ops, busy, wall.elapsed());
                report_violation(&args, &report).await?;
                return Ok(ExitCode::FAILURE);
            }
        }
        print_rate(backend, ops, busy, wall.elapsed());
        if args.verbose {
            println!("  outcomes per use case:");
            for (kind, tally) in &tallies {
                println!("    {kind:<22} {:>9} ok {:>9} refused", tally.ok, tally.refused);
            }
            println!("  time per step kind:");
            for (kind, (steps, spent)) in &timings {
                println!(
                    "    {kind:<22} {steps:>9} steps {:>8.1}s {:>8.2}ms/step",
                    spent.as_secs_f64(),
                    spent.as_secs_f64() * 1e3 / (*steps).max(1) as f64
                );
            }
        }
    }
    println!("no violation");
    Ok(ExitCode::SUCCESS)
}

fn config(args: &Args, seed: u64, ops: u64, backend: Backend) -> Config {
    Config {
        seed,
        ops,
        backend,
        postgres_url: args.postgres_url.clone(),
        timeout: Duration::from_secs(args.timeout_secs),
        full_check_every: args.full_check_every,
        log_tail: args.log_tail,
    }
}

fn print_rate(backend: Backend, ops: u64, busy: Duration, wall: Duration) {
    let rate = ops as f64 / busy.as_secs_f64().max(1e-9);
    println!(
        "{}: {ops} ops in {:.1}s ({:.1}s wall, with database setup): {rate:.0} ops/s",
        backend.name(),
        busy.as_secs_f64(),
        wall.as_secs_f64()
    );
}

fn print_report(report: &Report) {
    let violation = report.violation.as_ref().expect("a violation");
    println!("  seed:      {}", report.seed);
    println!("  backend:   {}", report.backend.name());
    println!(
        "  step:      {}",
        if violation.step == 0 {
            format!("the final drain and audit (after {} ops)", report.ops)
        } else {
            violation.step.to_string()
        }
    );
    println!("  invariant: {}", violation.invariant);
    println!("  detail:    {}", violation.detail);
    println!("  the last {} steps:", report.log.len());
    for line in &report.log {
        println!("    {line}");
    }
}

fn command(report: &Report, ops: u64) -> String {
    format!(
        "cargo xtask simulate --seed {} --ops {ops} --backend {}",
        report.seed,
        report.backend.name()
    )
}

/// Prints the violation, then shrinks it: the fewest steps of the same seed that still fail.
async fn report_violation(args: &Args, report: &Report) -> anyhow::Result<()> {
    println!("VIOLATION");
    print_report(report);
    println!("  reproduce: {}", command(report, report.ops));
    if args.no_shrink {
        return Ok(());
    }
    let violation = report.violation.as_ref().expect("a violation");
    // A run of n steps carries out the same first n operations, then drains and audits. Find
    // the smallest n that fails, by bisection over [1, failing step].
    let mut high = if violation.step == 0 { report.ops } else { violation.step };
    let mut smallest: Option<Report> = None;
    let mut low = 0;
    println!("shrinking (bisection over the number of steps, {high} at most)…");
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        let attempt = run(&config(args, report.seed, middle, report.backend)).await?;
        let failed = attempt.violation.is_some();
        println!("  {middle} steps: {}", if failed { "fails" } else { "passes" });
        if failed {
            high = middle;
            smallest = Some(attempt);
        } else {
            low = middle;
        }
    }
    let smallest = match smallest {
        Some(attempt) => attempt,
        None => {
            // The bisection never ran `high` itself: confirm it.
            let attempt = run(&config(args, report.seed, high, report.backend)).await?;
            if attempt.violation.is_none() {
                println!(
                    "  {high} steps passed on a re-run (an interleaving that did not repeat); the \
                     original run is the reproduction: {}",
                    command(report, report.ops)
                );
                return Ok(());
            }
            attempt
        }
    };
    println!("MINIMAL REPRODUCTION ({} steps)", smallest.ops);
    print_report(&smallest);
    println!("  reproduce: {}", command(&smallest, smallest.ops));
    Ok(())
}
