//! `cargo xtask spec-diff <git-ref>`: the API review of a pull request.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

use crate::codegen::SPEC;

pub(crate) fn run(root: &Path, base: &str, allow_breaking: bool) -> anyhow::Result<ExitCode> {
    let output = Command::new("git")
        .current_dir(root)
        .args(["show", &format!("{base}:{SPEC}")])
        .output()
        .context("running git")?;
    if !output.status.success() {
        bail!("cannot read {SPEC} at `{base}`: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    let old_text = String::from_utf8(output.stdout).context("the old spec is not UTF-8")?;
    let new_text =
        std::fs::read_to_string(root.join(SPEC)).with_context(|| format!("reading {SPEC}"))?;
    let old = sequence_spec_diff::load(&old_text).with_context(|| format!("{SPEC} at `{base}`"))?;
    let new = sequence_spec_diff::load(&new_text)
        .with_context(|| format!("{SPEC} in the working tree"))?;
    let report = sequence_spec_diff::diff(&old, &new);
    print!("{}", report.to_markdown());
    if report.has_breaking() && !allow_breaking {
        eprintln!("breaking API changes against `{base}` (pass --allow-breaking to accept them)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
