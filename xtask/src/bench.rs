//! `cargo xtask bench`: the issue-9 benchmark harness, one command on one machine.
//!
//! xtask only orchestrates (it keeps no dependency on the application crates): it builds the
//! release `sequence-server` binary, then runs the bench programs of `crates/sequence-server`
//! (plain programs that print their figures) with `--bench`:
//!
//! 1. `accounts`: `GET /api/v1/accounts` on the release binary (SQLite) vs bare axum vs Prism
//!    (skipped with a note when `target/bench-tools/bin/prism` is missing), req/s, p50/p99, p99
//!    at half the peak rate, server RSS;
//! 2. `transfers`: `createTransfer` over HTTP at 1, 8 and 32 clients next to a raw
//!    single-connection loop doing the same writes, on 100k transfers of history with the
//!    settlement worker running, SQLite and PostgreSQL;
//! 3. `history`: the first and the 50th page of `GET /transfers` at 1k and 100k transfers.
//!
//! PostgreSQL rows use `SEQUENCE_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`; each bench creates and drops a throwaway
//! database); `--only NAME` runs one of the three.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

/// The benches, in the order they run.
pub(crate) const BENCHES: [&str; 3] = ["accounts", "transfers", "history"];

/// The default PostgreSQL server the PostgreSQL rows use.
const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

fn check(status: std::io::Result<std::process::ExitStatus>, what: &str) -> anyhow::Result<()> {
    let status = status.with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

pub(crate) fn run(root: &Path, only: Option<&str>) -> anyhow::Result<ExitCode> {
    if let Some(name) = only
        && !BENCHES.contains(&name)
    {
        bail!("unknown bench {name:?}; one of {BENCHES:?}");
    }
    let wanted = |name: &str| only.is_none_or(|only| only == name);
    println!("== building the release server (cargo build --release -p sequence-server)");
    check(
        cargo()
            .current_dir(root)
            .args([
                "build",
                "--release",
                "--quiet",
                "-p",
                "sequence-server",
                "--bin",
                "sequence-server",
            ])
            .status(),
        "cargo build --release",
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), std::path::PathBuf::from);
    let server = target.join("release/sequence-server");
    let postgres =
        std::env::var("SEQUENCE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned());
    let bench = |name: &str, envs: &[(&str, String)]| {
        let mut command = cargo();
        command
            .current_dir(root)
            .args(["bench", "--quiet", "-p", "sequence-server", "--bench", name])
            .env("SEQUENCE_SERVER_BIN", &server)
            .env("SEQUENCE_TEST_POSTGRES_URL", &postgres);
        for (key, value) in envs {
            command.env(key, value);
        }
        check(command.status(), &format!("the {name} bench"))
    };
    if wanted("accounts") {
        println!("\n== GET /accounts: sequence-server vs bare axum vs Prism");
        if !root.join("target/bench-tools/bin/prism").exists() {
            println!(
                "(prism not installed; for its row: npm install -g --prefix target/bench-tools @stoplight/prism-cli)"
            );
        }
        bench("accounts", &[])?;
    }
    if wanted("transfers") {
        println!(
            "\n== createTransfer at 1, 8 and 32 clients vs a raw single-connection loop, on 100k transfers, the worker running"
        );
        bench("transfers", &[])?;
    }
    if wanted("history") {
        println!("\n== GET /transfers pages at growing history");
        bench("history", &[])?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_an_unknown_bench_before_building_anything() {
        let error = run(Path::new("/nonexistent"), Some("nope")).unwrap_err();
        assert!(error.to_string().contains("unknown bench"), "{error}");
    }
}
