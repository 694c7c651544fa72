//! `cargo xtask simulate`: runs the deterministic simulator (`crates/sequence-sim`) over a range
//! of seeds on SQLite, PostgreSQL or both, and exits non-zero on a violation (after printing its
//! minimal reproduction).
//!
//! xtask only builds the command line: it runs `cargo run -p sequence-sim` (a debug build by
//! default, because the simulator spends its time in the databases and a debug build of it costs
//! seconds where a release build costs minutes; `--release` for long runs), so xtask itself keeps
//! no dependency on the application crates.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::Context;

/// The simulator's flags that xtask knows; anything after `--` is passed on as is.
pub(crate) struct Simulate {
    pub seed: Option<u64>,
    pub seeds: u64,
    pub ops: u64,
    pub backend: String,
    pub release: bool,
    pub extra: Vec<String>,
}

/// `cargo`'s arguments for `simulate`.
fn cargo_args(simulate: &Simulate) -> Vec<String> {
    let mut args: Vec<String> = vec!["run".into(), "--quiet".into()];
    if simulate.release {
        args.push("--release".into());
    }
    args.extend(["--package".into(), "sequence-sim".into(), "--".into()]);
    if let Some(seed) = simulate.seed {
        args.extend(["--seed".into(), seed.to_string()]);
    }
    args.extend([
        "--seeds".into(),
        simulate.seeds.to_string(),
        "--ops".into(),
        simulate.ops.to_string(),
        "--backend".into(),
        simulate.backend.clone(),
    ]);
    args.extend(simulate.extra.iter().cloned());
    args
}

pub(crate) fn run(root: &Path, simulate: &Simulate) -> anyhow::Result<ExitCode> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(cargo_args(simulate))
        .status()
        .context("running cargo run -p sequence-sim")?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_the_flags_on_to_the_simulator() {
        let simulate = Simulate {
            seed: Some(7),
            seeds: 3,
            ops: 500,
            backend: "both".into(),
            release: true,
            extra: vec!["--verbose".into()],
        };
        assert_eq!(
            cargo_args(&simulate).join(" "),
            "run --quiet --release --package sequence-sim -- --seed 7 --seeds 3 --ops 500 --backend both --verbose"
        );
        let simulate = Simulate { seed: None, release: false, extra: vec![], ..simulate };
        assert_eq!(
            cargo_args(&simulate).join(" "),
            "run --quiet --package sequence-sim -- --seeds 3 --ops 500 --backend both"
        );
    }
}
