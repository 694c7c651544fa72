//! Repository rules that are cheap to check and easy to forget, run as ordinary `#[test]`s so that
//! `cargo test` enforces them (rust-analyzer's "every invariant is a test").

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Every tracked Rust file below `dir`, generated code excluded.
    fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(name.as_str(), "target" | "node_modules" | "generated" | ".git") {
                    rust_files(&path, into);
                }
            } else if name.ends_with(".rs") && name != "generated.rs" {
                into.push(path);
            }
        }
    }

    fn sources() -> Vec<PathBuf> {
        let root = crate::project_root();
        let mut files = Vec::new();
        rust_files(&root.join("crates"), &mut files);
        rust_files(&root.join("xtask"), &mut files);
        files.sort();
        assert!(files.len() > 20, "found the sources");
        files
    }

    /// Every hand-written Rust file opens with `//!` docs saying what it is for and why.
    #[test]
    fn every_file_starts_with_module_docs() {
        let missing: Vec<String> = sources()
            .into_iter()
            .filter(|path| !std::fs::read_to_string(path).unwrap_or_default().starts_with("//!"))
            .map(|path| path.display().to_string())
            .collect();
        assert!(
            missing.is_empty(),
            "files without a leading `//!` doc comment:\n{}",
            missing.join("\n")
        );
    }

    /// Whether `text` has an attribute that ignores a test or expects it to panic, in any form:
    /// `ignore` bare or with a reason, `should_panic` bare or with `expected`, spaced out or not
    /// (see the test below).
    /// (The patterns are split with `concat!` so that this file does not ban itself.)
    fn ignores_or_expects_a_panic(text: &str) -> bool {
        let banned = [concat!("#[", "ignore"), concat!("#[", "should_panic")];
        let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        banned.iter().any(|b| squeezed.contains(b))
    }

    #[test]
    fn every_form_of_the_banned_attributes_is_caught() {
        let hash = "#";
        for attribute in [
            "[ignore]",
            "[ignore = \"needs a server\"]",
            "[ignore=\"x\"]",
            "[ ignore ]",
            "[should_panic]",
            "[should_panic(expected = \"boom\")]",
        ] {
            let text =
                format!("#[cfg(test)]\nmod tests {{\n    {hash}{attribute}\n    fn t() {{}}\n}}\n");
            assert!(ignores_or_expects_a_panic(&text), "{text}");
        }
        for fine in ["#[test]\nfn ignore() {}", "let ignored = 1; // should_panic", "#[cfg(test)]"]
        {
            assert!(!ignores_or_expects_a_panic(fine), "{fine}");
        }
    }

    /// Tests assert the behaviour they expect; none is skipped or expected to panic.
    #[test]
    fn no_ignored_or_should_panic_tests() {
        let offenders: Vec<String> = sources()
            .into_iter()
            .filter(|path| {
                ignores_or_expects_a_panic(&std::fs::read_to_string(path).unwrap_or_default())
            })
            .map(|path| path.display().to_string())
            .collect();
        assert!(
            offenders.is_empty(),
            "ignored or should_panic tests in:\n{}",
            offenders.join("\n")
        );
    }

    /// Every crate opts into the workspace lints.
    #[test]
    fn every_crate_uses_the_workspace_lints() {
        let root = crate::project_root();
        let mut manifests: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
            .expect("crates/")
            .flatten()
            .map(|e| e.path().join("Cargo.toml"))
            .filter(|p| p.exists())
            .collect();
        manifests.push(root.join("xtask/Cargo.toml"));
        let missing: Vec<String> = manifests
            .into_iter()
            .filter(|p| {
                let text = std::fs::read_to_string(p).unwrap_or_default();
                !text.contains("[lints]\nworkspace = true")
            })
            .map(|p| p.display().to_string())
            .collect();
        assert!(
            missing.is_empty(),
            "crates without `[lints] workspace = true`:\n{}",
            missing.join("\n")
        );
    }
}
