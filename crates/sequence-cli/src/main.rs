//! The `sequence` binary: parse the command line, run it, print, exit. Everything else lives in
//! the library (`src/lib.rs`) so it can be tested without a process.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // clap prints --help/--version and exits 0, or prints a usage error and exits 2.
    let cli = sequence_cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // `webhooks listen` runs until Ctrl-C and prints as it goes, instead of printing at the end.
    if let sequence_cli::cli::Command::Webhooks(sequence_cli::cli::WebhooksCommand::Listen(args)) =
        &cli.command
    {
        return ExitCode::from(runtime.block_on(sequence_cli::listen_to_stdout(&cli, args)));
    }
    let outcome = runtime.block_on(sequence_cli::run_cli(&cli));
    // Ignore write errors such as a closed pipe (`sequence transfers list … | head`).
    let _ = std::io::stdout().write_all(outcome.stdout.as_bytes());
    let _ = std::io::stderr().write_all(outcome.stderr.as_bytes());
    ExitCode::from(outcome.exit_code)
}
