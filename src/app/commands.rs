//! The command handlers behind the CLI's subcommands (the demo's is in `crate::demo`).

use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{build_syncer, open_store, start_listener, ScheduledSyncs};
use crate::config::Settings;
use crate::daemon::{self, Control, Exit, Schedule};
use crate::http::RetryPolicy;
use crate::personio::PersonioV2Client;
use crate::server::Metrics;
use crate::store::Store;
use crate::sync::{RunOptions, SyncError};
use crate::telemetry::error_chain;

/// Exit code when another replica is mid-run (EX_TEMPFAIL).
const EXIT_LOCKED: u8 = 75;

/// Creates or updates the Personio webhook subscription when the daemon manages it. A failure
/// leaves the daemon on its schedule (webhooks only accelerate), with the reason in the log.
async fn subscribe_webhooks(settings: &Settings) {
    let personio = &settings.personio;
    let (true, Ok(Some(url)), Some(token)) = (
        personio.webhook_subscribe,
        personio.webhook_url(),
        personio.webhook_token.as_ref(),
    ) else {
        return;
    };
    let result = match PersonioV2Client::new(personio, RetryPolicy::default()) {
        Ok(client) => client.ensure_subscription(&url, token).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(outcome) => tracing::info!(?outcome, %url, "Personio webhook subscription in place"),
        Err(e) => tracing::error!(
            error = %error_chain(&e),
            %url,
            "could not set up the Personio webhook subscription; runs stay hourly until it exists (see `check`)"
        ),
    }
}

/// `controls` carries the signals, installed before anything else (see `cli::run`), and the
/// listener's `POST /sync` (through `requests`).
pub async fn run_daemon(
    settings: &Settings,
    requests: mpsc::Sender<Control>,
    controls: mpsc::Receiver<Control>,
) -> anyhow::Result<ExitCode> {
    // Bad configuration stops the start (exit 2); an unreachable store only fails runs.
    settings.require_api_credentials()?;
    let metrics = Arc::new(Metrics::new());
    let server = start_listener(settings, metrics.clone(), requests).await?;
    subscribe_webhooks(settings).await;
    let syncs = Arc::new(ScheduledSyncs::new(settings.clone(), metrics));
    tracing::info!(
        interval_secs = settings.sync.interval.as_secs(),
        "daemon started"
    );
    let exit = daemon::run(
        syncs,
        Schedule {
            interval: settings.sync.interval,
            shutdown_deadline: settings.sync.shutdown_deadline,
            retry_backoff: std::time::Duration::from_secs(60),
            debounce: std::time::Duration::from_millis(1_500),
        },
        controls,
    )
    .await;
    if let Some(server) = server {
        server.stop().await;
    }
    if exit == Exit::DeadlineExceeded {
        tracing::warn!("exited before the run in progress finished; the next start resumes it");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn sync_once(settings: &Settings, options: RunOptions) -> anyhow::Result<ExitCode> {
    let store = open_store(settings).await?;
    let syncer = build_syncer(settings, store.clone())?;
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    // Ctrl-C stops at the next safe point instead of mid-write.
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.cancel();
        }
    });
    let result = syncer.run(options.clone(), cancel).await;
    store.close().await;
    match result {
        Ok(report) => {
            if options.dry_run {
                print!("{}", report.render_plan());
            }
            if !report.skipped.is_empty() {
                println!("\nskipped:\n{}", report.render_skipped());
            }
            println!("{}", report.render_counts());
            Ok(ExitCode::from(report.exit_code()))
        }
        Err(SyncError::Locked) => {
            eprintln!("another sync is running; try again later");
            Ok(ExitCode::from(EXIT_LOCKED))
        }
        // Logged with its cause chain by `Syncer::run` already: once is enough.
        Err(_) => Ok(ExitCode::FAILURE),
    }
}

pub async fn migrate(settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = open_store(settings).await?;
    store.close().await;
    println!("database is up to date");
    Ok(ExitCode::SUCCESS)
}

pub async fn status(settings: &Settings, json: bool, limit: i64) -> anyhow::Result<ExitCode> {
    let store = open_store(settings).await?;
    let runs = store.recent_runs(limit).await?;
    let issues = store.issues().await?;
    store.close().await;
    if json {
        println!("{}", crate::server::status::render_json(&runs, &issues)?);
    } else {
        print!("{}", crate::server::status::render_text(&runs, &issues));
    }
    Ok(ExitCode::SUCCESS)
}

/// With the listener on: healthy when the daemon's `/livez` answers. Without it: healthy when
/// the newest run finished within two intervals (plus a minute of slack), or is running and
/// started less than six hours ago: a stuck or dead scheduler turns it unhealthy.
pub async fn healthcheck(settings: &Settings) -> anyhow::Result<ExitCode> {
    if let Some(listen) = settings.http.listen()? {
        return Ok(match crate::server::probe::livez(listen).await {
            Ok(()) => {
                println!("healthy");
                ExitCode::SUCCESS
            }
            Err(why) => {
                println!("unhealthy: {why}");
                ExitCode::FAILURE
            }
        });
    }
    let store = Store::connect(&settings.database.url, 1).await?;
    let runs = store.recent_runs(1).await?;
    store.close().await;
    let allowed =
        chrono::Duration::from_std(settings.sync.interval * 2)? + chrono::Duration::minutes(1);
    let healthy = match runs.first() {
        None => false,
        Some(run) if run.outcome == "running" => {
            chrono::Utc::now() - run.started_at <= allowed.max(chrono::Duration::hours(6))
        }
        Some(run) => chrono::Utc::now() - run.finished_at.unwrap_or(run.started_at) <= allowed,
    };
    println!(
        "{}",
        if healthy {
            "healthy"
        } else {
            "unhealthy: no recent sync run"
        }
    );
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
