//! The command line. `main.rs` parses it and calls [`run`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secrecy::SecretString;

use crate::app::commands;
use crate::config::Settings;
use crate::sync::{RunOptions, Trigger};

#[derive(Debug, Parser)]
#[command(
    name = "personio-productive-sync",
    version,
    about = "Keeps Productive.io time off in step with Personio absences"
)]
pub struct Cli {
    /// Configuration file layered over the defaults (environment variables PPS__SECTION__KEY win).
    #[arg(long, global = true, env = "PPS_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: a sync at start, then every `sync.interval`; SIGUSR1 syncs now.
    Run,
    /// One sync run, then exit (0 when the run completed).
    Sync {
        /// Print the plan per person and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Read everything and reconcile, even if the last full reconcile is recent.
        #[arg(long)]
        full: bool,
        /// Make the deletions the mass-deletion guard would hold back (after checking why).
        #[arg(long)]
        allow_mass_delete: bool,
    },
    /// The last runs and the records currently skipped or failed.
    Status {
        #[arg(long)]
        json: bool,
        /// How many runs to show.
        #[arg(long, default_value_t = 10)]
        runs: i64,
    },
    /// Check the configuration, the database and both APIs, saying what to fix (reads only:
    /// creates no database file, runs no migration, leaves nothing behind).
    Check {
        #[arg(long)]
        json: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Exit 0 when the daemon's last run is recent enough (for container health checks).
    Healthcheck,
    /// Run a full sync against simulated Personio and Productive, with a report. Its state goes
    /// to a temporary database, never to `database.url`.
    Demo {
        /// Keep the demo's state in this database instead (it gets simulator ids and bookings:
        /// never point it at a production store).
        #[arg(long, value_name = "URL")]
        state: Option<String>,
    },
}

/// Exit codes: 0 done, 1 the run or command failed, 2 bad configuration, 75 another sync holds
/// the run lock (try again later).
pub async fn run(cli: Cli) -> ExitCode {
    // First of all: SIGUSR1's default action ends the process, so a sync request arriving while
    // the daemon loads its configuration or reaches its store would kill it.
    let (signals, controls) = tokio::sync::mpsc::channel(8);
    // `POST /sync` on the listener sends what SIGUSR1 sends.
    let requests = signals.clone();
    if matches!(cli.command, Command::Run) {
        if let Err(err) = crate::daemon::forward_signals(signals) {
            eprintln!("error: installing signal handlers: {err}");
            return ExitCode::FAILURE;
        }
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    // The demo prints a report on stdout; its per-booking logs would bury it.
    let default_filter = match cli.command {
        Command::Demo { .. } => "error",
        _ => "info",
    };
    crate::telemetry::init(settings.log.format, default_filter);
    let result = match cli.command {
        Command::Run => commands::run_daemon(&settings, requests, controls).await,
        Command::Sync {
            dry_run,
            full,
            allow_mass_delete,
        } => {
            let options = RunOptions {
                trigger: Trigger::Manual,
                dry_run,
                force_full: full,
                allow_mass_delete,
                named: Vec::new(),
            };
            commands::sync_once(&settings, options).await
        }
        Command::Status { json, runs } => commands::status(&settings, json, runs).await,
        Command::Check { json } => crate::app::check::check(&settings, json).await,
        Command::Migrate => commands::migrate(&settings).await,
        Command::Healthcheck => commands::healthcheck(&settings).await,
        Command::Demo { state } => crate::demo::run(&settings, state.map(SecretString::from)).await,
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // A log line like every other, so that JSON logs stay JSON.
            tracing::error!(error = %crate::telemetry::error_chain(err.as_ref()), "command failed");
            if err.downcast_ref::<crate::config::ConfigError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
