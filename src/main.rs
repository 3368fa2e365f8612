use std::process::ExitCode;

use clap::Parser;

use personio_productive_sync::cli::{self, Cli};

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(cli::run(Cli::parse()));
    // The command has finished within its deadlines; a task abandoned at a stop (a run stuck
    // on a dead connection, a DNS lookup) must not hold the exit.
    runtime.shutdown_background();
    code
}
