//! `cargo xtask codegen [--check]` and the freshness test.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use sequence_codegen::{Layout, Spec, generate, lint};

/// The spec, relative to the workspace root.
pub(crate) const SPEC: &str = "openapi.yaml";

pub(crate) fn load_spec(root: &Path) -> anyhow::Result<Spec> {
    load_spec_from(&root.join(SPEC))
}

fn load_spec_from(path: &Path) -> anyhow::Result<Spec> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| SPEC.to_owned());
    Ok(Spec::load(&text, &name)?)
}

/// Runs the spec lint; fails listing every finding.
pub(crate) fn lint(root: &Path) -> anyhow::Result<ExitCode> {
    let spec = load_spec(root)?;
    let findings = lint::lint(&spec);
    if findings.is_empty() {
        eprintln!("{SPEC}: no lint findings");
        return Ok(ExitCode::SUCCESS);
    }
    for finding in &findings {
        eprintln!("{SPEC}: {finding}");
    }
    bail!("{} lint finding(s) in {SPEC}", findings.len())
}

/// Generates every file; writes stale ones, or (with `check`) fails naming them.
pub(crate) fn run(root: &Path, check: bool, spec: Option<&Path>) -> anyhow::Result<ExitCode> {
    let spec = match spec {
        Some(path) => load_spec_from(path)?,
        None => load_spec(root)?,
    };
    let stale = stale_files(root, &spec, !check)?;
    if check && !stale.is_empty() {
        bail!(
            "generated code is stale: {}\nThe spec changed without regenerating. Run `cargo xtask codegen` and commit the result.",
            stale.join(", ")
        );
    }
    if stale.is_empty() {
        eprintln!("generated code is up to date with {SPEC}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The generated files whose committed contents differ from what the spec generates. With
/// `write`, they are rewritten.
pub(crate) fn stale_files(root: &Path, spec: &Spec, write: bool) -> anyhow::Result<Vec<String>> {
    let findings = lint::lint(spec);
    if !findings.is_empty() {
        let list: Vec<String> = findings.iter().map(ToString::to_string).collect();
        bail!("{SPEC} has lint findings; fix them first:\n  {}", list.join("\n  "));
    }
    let files = generate(spec, &Layout::default())?;
    let mut stale = Vec::new();
    for file in files {
        let path = root.join(&file.path);
        let current = std::fs::read_to_string(&path).unwrap_or_default().replace("\r\n", "\n");
        if current == file.contents {
            continue;
        }
        if write {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&path, &file.contents)
                .with_context(|| format!("writing {}", file.path))?;
            eprintln!("updated {}", file.path);
        }
        stale.push(file.path);
    }
    Ok(stale)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when the committed generated code is not what `openapi.yaml` generates.
    #[test]
    fn generated_code_is_fresh() {
        let root = crate::project_root();
        let spec = load_spec(&root).expect("openapi.yaml loads");
        let stale = stale_files(&root, &spec, false).expect("generation succeeds");
        assert!(
            stale.is_empty(),
            "generated code is stale: {}\nRun `cargo xtask codegen` and commit the result.",
            stale.join(", ")
        );
    }

    /// The spec lint passes on the project's spec.
    #[test]
    fn spec_is_lint_clean() {
        let spec = load_spec(&crate::project_root()).expect("openapi.yaml loads");
        let findings: Vec<String> = lint::lint(&spec).iter().map(ToString::to_string).collect();
        assert!(findings.is_empty(), "openapi.yaml lint findings:\n{}", findings.join("\n"));
    }
}
