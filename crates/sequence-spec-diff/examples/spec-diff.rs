//! Compares two spec files and prints the Markdown report.
//!
//! `cargo xtask spec-diff <git-ref>` is the usual entry point; this example
//! works on two files directly, so the library can be tried (and compared
//! with other tools, see `compare-with-redocly.sh`) without git:
//!
//! ```sh
//! cargo run -q -p sequence-spec-diff --example spec-diff -- old.yaml new.yaml
//! ```
//!
//! Exit status: 0 without breaking changes, 1 with, 2 on usage or load errors.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [old_path, new_path] = args.as_slice() else {
        eprintln!("usage: spec-diff <old.yaml> <new.yaml>");
        return ExitCode::from(2);
    };
    let load = |path: &str| -> Result<openapiv3::OpenAPI, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        sequence_spec_diff::load(&text).map_err(|e| {
            let mut message = format!("{path}: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(&format!("\n  caused by: {cause}"));
                source = cause.source();
            }
            message
        })
    };
    let (old, new) = match (load(old_path), load(new_path)) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(error), _) | (_, Err(error)) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let report = sequence_spec_diff::diff(&old, &new);
    print!("{}", report.to_markdown());
    if report.has_breaking() { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
