//! The `sequence-server` binary: parses the command line and hands over to the library.
//! Everything testable lives in `lib.rs`'s modules; this file only wires the process.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = sequence_server::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(sequence_server::cli::run(cli))
}
