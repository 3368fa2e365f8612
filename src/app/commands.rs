//! The command handlers behind the CLI's subcommands (the demo's is in `crate::demo`).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::{build_observed_syncer, build_syncer, open_store, start_listener, ScheduledSyncs};
use crate::config::Settings;
use crate::daemon::{self, Exit, Schedule};
use crate::http::RetryPolicy;
use crate::personio::{AbsenceSource, PersonioClient};
use crate::productive::ProductiveClient;
use crate::server::Metrics;
use crate::store::Store;
use crate::sync::{RunOptions, SyncError};

/// Exit code when another replica is mid-run (EX_TEMPFAIL).
const EXIT_LOCKED: u8 = 75;

pub async fn run_daemon(settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = open_store(settings).await?;
    let metrics = Arc::new(Metrics::new());
    let syncer = Arc::new(ScheduledSyncs {
        syncer: build_observed_syncer(settings, store.clone(), Some(metrics.clone()))?,
        metrics: metrics.clone(),
    });
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let server = start_listener(settings, &store, metrics, tx.clone()).await?;
    daemon::forward_signals(tx).context("installing signal handlers")?;
    tracing::info!(
        interval_secs = settings.sync.interval.as_secs(),
        backend = ?store.backend(),
        "daemon started"
    );
    let exit = daemon::run(
        syncer,
        Schedule {
            interval: settings.sync.interval,
            shutdown_deadline: settings.sync.shutdown_deadline,
        },
        rx,
    )
    .await;
    if let Some(server) = server {
        server.stop().await;
    }
    store.close().await;
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
    let result = syncer.run(options, cancel).await;
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
        Err(err) => Err(anyhow::Error::new(err).context("sync run failed")),
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
        println!("{}", super::status::render_json(&runs, &issues)?);
    } else {
        print!("{}", super::status::render_text(&runs, &issues));
    }
    Ok(ExitCode::SUCCESS)
}

/// Verifies, read-only, that every dependency answers with the configured credentials.
pub async fn check(settings: &Settings) -> anyhow::Result<ExitCode> {
    settings.require_api_credentials()?;
    let mut failed = false;
    let mut report = |what: &str, outcome: anyhow::Result<String>| match outcome {
        Ok(detail) => println!("ok    {what}: {detail}"),
        Err(err) => {
            failed = true;
            println!("FAIL  {what}: {err:#}");
        }
    };
    let store = open_store(settings).await;
    report(
        "database",
        store
            .as_ref()
            .map(|s| format!("{:?}, migrations applied", s.backend()))
            .map_err(|e| anyhow::anyhow!("{e:#}")),
    );
    let personio = PersonioClient::new(&settings.personio, RetryPolicy::default())?;
    report(
        "personio",
        personio
            .absence_types()
            .await
            .map(|t| format!("authenticated; {} absence types", t.items.len()))
            .map_err(Into::into),
    );
    let productive = ProductiveClient::new(&settings.productive, RetryPolicy::default())?;
    report(
        "productive",
        productive
            .events()
            .await
            .map(|e| format!("authenticated; {} events", e.items.len()))
            .map_err(Into::into),
    );
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
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
