//! Repository automation, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! - `codegen [--check]`: regenerate the server contract and client from `openapi.yaml`, or, with
//!   `--check`, fail (naming each stale file) when the committed code differs from what the spec
//!   generates. The same check runs as an ordinary `#[test]`, so `cargo test` catches stale code.
//! - `lint-spec`: the spec lint on its own.
//! - `spec-diff <git-ref>`: a Markdown review of the API changes between `<git-ref>` and the
//!   working tree's `openapi.yaml`, exiting non-zero on breaking changes unless
//!   `--allow-breaking`.
//! - `simulate [--seed S] [--seeds K] [--ops N] [--backend sqlite|postgres|both] [--release]`:
//!   the deterministic simulator (`crates/sequence-sim`) over seeds S..S+K, exiting non-zero on
//!   a violation after printing its minimal reproduction.
//! - `bench [--only accounts|transfers|history]`: the benchmark harness (`xtask/src/bench.rs`):
//!   builds the release server and prints GET /accounts vs bare axum vs Prism, createTransfer at
//!   1/8/32 clients and list pages at growing history; figures are recorded in BENCHMARKS.md.
//!
//! xtask stays thin: the logic lives in `sequence-codegen` and `sequence-spec-diff`, which are
//! libraries with their own tests.

mod bench;
mod codegen;
mod simulate;
mod spec_diff;
mod tidy;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Repository automation for the sequence workspace")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Regenerate the server contract and the client from openapi.yaml.
    Codegen {
        /// Do not write anything; fail if a generated file is stale.
        #[arg(long)]
        check: bool,
        /// Generate from another spec (e.g. a generator fixture) instead of openapi.yaml.
        #[arg(long, hide = true)]
        spec: Option<PathBuf>,
    },
    /// Lint openapi.yaml (the same lint `codegen` runs first).
    LintSpec,
    /// Review API changes between a git ref and the working tree's openapi.yaml, as Markdown.
    SpecDiff {
        /// The git ref to compare against (e.g. `main`, `HEAD~1`, a tag).
        base: String,
        /// Exit successfully even when there are breaking changes.
        #[arg(long)]
        allow_breaking: bool,
    },
    /// Run the deterministic simulator (crates/sequence-sim) over a range of seeds.
    Simulate {
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
        #[arg(long, default_value = "sqlite", value_parser = ["sqlite", "postgres", "both"])]
        backend: String,
        /// Build the simulator with optimizations (minutes to build; for long runs).
        #[arg(long)]
        release: bool,
        /// More flags for sequence-sim, after `--` (e.g. `-- --verbose --timeout-secs 60`).
        #[arg(last = true)]
        extra: Vec<String>,
    },
    /// Run the benchmark harness (release server vs bare axum vs Prism, createTransfer, history).
    Bench {
        /// Run only this bench: accounts, transfers or history.
        #[arg(long)]
        only: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Codegen { check, spec } => codegen::run(&project_root(), check, spec.as_deref()),
        Command::LintSpec => codegen::lint(&project_root()),
        Command::SpecDiff { base, allow_breaking } => {
            spec_diff::run(&project_root(), &base, allow_breaking)
        }
        Command::Simulate { seed, seeds, ops, backend, release, extra } => simulate::run(
            &project_root(),
            &simulate::Simulate { seed, seeds, ops, backend, release, extra },
        ),
        Command::Bench { only } => bench::run(&project_root(), only.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask's parent directory).
pub(crate) fn project_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map(PathBuf::from).unwrap_or(manifest_dir)
}
