//! The `sequence-server` binary: parses the command line and hands over to the library.
//! Everything testable lives in `lib.rs`'s modules; this file only wires the process.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's allocator: allocation and freeing were about 12 % of the server's
/// CPU on the hot read path, spread over its worker threads (BENCHMARKS.md). Only the binary
/// chooses it; the library, its tests and the benches' in-process servers use the default.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
