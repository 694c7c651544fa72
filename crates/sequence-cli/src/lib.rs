//! `sequence`: a command-line client for the Sequence money-automation API.
//!
//! Built only on [`sequence_client`] (the generated client): it never links server crates.
//! The binary (`src/main.rs`) is a thin shell over [`run`] and [`run_cli`], which return the
//! exit code and the text for stdout and stderr instead of printing, so tests can drive every
//! command in-process (or run the `sequence` binary against a live server).
//!
//! - [`cli`]: the clap command line (commands, flags, help and examples).
//! - [`commands`]: one function per command, returning its stdout text.
//! - [`render`]: tables, money and timestamps (pure, snapshot-tested).
//! - [`amount`] and [`duration`]: exact parsing of `--amount` dollars and `advance` durations.
//! - [`enums`]: the generated enums as flag values (`--status`, `--type`, …), help per variant.
//! - [`error`]: error messages and exit codes (0 ok, 1 API error, 2 usage, 3 connection).
//!
//! `sequence webhooks listen` runs until Ctrl-C and streams its output ([`listen_to_stdout`]);
//! tests drive it through `commands::webhooks::listen` with their own writer and stop signal.

pub mod amount;
pub mod cli;
pub mod commands;
pub mod duration;
pub mod enums;
pub mod error;
pub mod render;

use std::ffi::OsString;

use clap::Parser;

pub use cli::Cli;
pub use error::CliError;

/// The result of one invocation: what to print and how to exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Process exit code (0, 1, 2 or 3; see [`error`]).
    pub exit_code: u8,
    /// Text for stdout.
    pub stdout: String,
    /// Text for stderr.
    pub stderr: String,
}

/// Parses `args` (including the program name) and runs the command.
///
/// `--help` and `--version` succeed with their text on stdout; argument errors exit with 2 and
/// clap's message on stderr.
pub async fn run<I, T>(args: I) -> Outcome
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match Cli::try_parse_from(args) {
        Ok(cli) => run_cli(&cli).await,
        Err(error) => {
            let text = error.render().to_string();
            let exit_code = u8::try_from(error.exit_code()).unwrap_or(error::EXIT_USAGE);
            if exit_code == 0 {
                Outcome { exit_code, stdout: text, stderr: String::new() }
            } else {
                Outcome { exit_code, stdout: String::new(), stderr: text }
            }
        }
    }
}

/// Runs an already parsed command line.
pub async fn run_cli(cli: &Cli) -> Outcome {
    match commands::execute(cli).await {
        Ok(stdout) => Outcome { exit_code: 0, stdout, stderr: String::new() },
        Err(error) => {
            Outcome { exit_code: error.exit_code(), stdout: String::new(), stderr: error.render() }
        }
    }
}

/// Runs `sequence webhooks listen`, printing to stdout as attempts happen, until Ctrl-C; returns
/// the exit code (errors are printed to stderr).
pub async fn listen_to_stdout(cli: &Cli, args: &cli::ListenArgs) -> u8 {
    let result = async {
        let ctx = commands::Ctx::from_cli(cli)?;
        let mut stdout = std::io::stdout();
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        commands::webhooks::listen(&ctx, args, &mut stdout, stop).await
    }
    .await;
    match result {
        Ok(()) => 0,
        Err(error) => {
            eprint!("{}", error.render());
            error.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_api_key_is_a_usage_error() {
        let cli = Cli::try_parse_from(["sequence", "accounts", "list"]).unwrap();
        let cli = Cli { api_key: None, ..cli };
        let outcome = run_cli(&cli).await;
        assert_eq!(outcome.exit_code, 2);
        assert!(
            outcome
                .stderr
                .starts_with("error: no API key: pass --api-key KEY or set SEQUENCE_API_KEY\n")
        );
    }

    #[tokio::test]
    async fn bad_base_url_is_a_usage_error() {
        let outcome =
            run(["sequence", "--api-key", "k", "--base-url", "localhost:8080", "accounts", "list"])
                .await;
        assert_eq!(outcome.exit_code, 2);
        assert!(
            outcome.stderr.starts_with("error: --base-url: invalid base URL"),
            "{}",
            outcome.stderr
        );
    }

    #[tokio::test]
    async fn connection_refused_exits_3_with_a_hint() {
        // Port 9 (discard) on localhost is closed on any sane test machine.
        let outcome = run([
            "sequence",
            "--api-key",
            "k",
            "--base-url",
            "http://127.0.0.1:9/api/v1",
            "accounts",
            "list",
        ])
        .await;
        assert_eq!(outcome.exit_code, 3, "{}", outcome.stderr);
        assert!(
            outcome.stderr.starts_with("error: could not connect to http://127.0.0.1:9/api/v1")
        );
        assert!(outcome.stderr.contains("hint: is the server running? start it with `cargo run -p sequence-server -- serve --demo`"));
    }

    #[tokio::test]
    async fn help_and_usage_errors() {
        let outcome = run(["sequence", "--help"]).await;
        assert_eq!(outcome.exit_code, 0);
        assert!(outcome.stdout.contains("Exit codes"));
        let outcome = run(["sequence", "transfers", "create", "--from", "a"]).await;
        assert_eq!(outcome.exit_code, 2);
        assert!(outcome.stderr.contains("--to"));
    }
}
