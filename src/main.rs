use std::process::ExitCode;

use clap::Parser;

use personio_productive_sync::cli::{self, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    cli::run(Cli::parse()).await
}
