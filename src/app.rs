//! The commands: wiring configuration, store, clients and engine together.

use std::fmt::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::daemon::{self, Exit, Schedule, SyncRunner};
use crate::http::RetryPolicy;
use crate::personio::{AbsenceSource, PersonioClient};
use crate::productive::ProductiveClient;
use crate::store::{Issue, RunRecord, Store};
use crate::sync::{EngineSettings, RunOptions, SyncError, Syncer, Trigger};

/// Exit code when another replica is mid-run (EX_TEMPFAIL).
const EXIT_LOCKED: u8 = 75;

pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(&settings.database.url, settings.database.max_connections)
        .await
        .context("connecting to the database (database.url)")?;
    store
        .migrate()
        .await
        .context("applying database migrations")?;
    Ok(store)
}

pub fn sync_settings(settings: &Settings) -> anyhow::Result<EngineSettings> {
    Ok(EngineSettings {
        tz: settings.timezone()?,
        lookback_months: settings.sync.lookback_months,
        full_reconcile_interval: settings.sync.full_reconcile_interval,
        email_overrides: settings.sync.email_overrides.clone(),
        write_concurrency: settings.productive.write_concurrency,
    })
}

/// The engine with real clients built from the settings.
pub fn build_syncer(settings: &Settings, store: Store) -> anyhow::Result<Syncer> {
    settings.require_api_credentials()?;
    let personio = PersonioClient::new(&settings.personio, RetryPolicy::default())?;
    let productive = ProductiveClient::new(&settings.productive, RetryPolicy::default())?;
    Ok(Syncer::new(
        sync_settings(settings)?,
        store,
        Arc::new(personio),
        productive,
    ))
}

/// The daemon's view of the engine: a scheduled run that logs and records its own failure.
struct ScheduledSyncs(Syncer);

impl SyncRunner for ScheduledSyncs {
    fn run(
        &self,
        trigger: Trigger,
        cancel: CancellationToken,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        let options = RunOptions {
            trigger,
            dry_run: false,
            force_full: false,
        };
        // Failures are logged and recorded by `Syncer::run`; the daemon carries on.
        Box::pin(async move { drop(self.0.run(options, cancel).await) })
    }
}

pub async fn run_daemon(settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = open_store(settings).await?;
    let syncer = Arc::new(ScheduledSyncs(build_syncer(settings, store.clone())?));
    let (tx, rx) = tokio::sync::mpsc::channel(8);
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
    store.close().await;
    if exit == Exit::DeadlineExceeded {
        tracing::warn!("exited before the run in progress finished; the next start resumes it");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn sync_once(settings: &Settings, dry_run: bool, full: bool) -> anyhow::Result<ExitCode> {
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
    let options = RunOptions {
        trigger: Trigger::Manual,
        dry_run,
        force_full: full,
    };
    let result = syncer.run(options, cancel).await;
    store.close().await;
    match result {
        Ok(report) => {
            if dry_run {
                print!("{}", report.render_plan());
            }
            if !report.skipped.is_empty() {
                println!("\nskipped:\n{}", report.render_skipped());
            }
            println!("{}", report.render_counts());
            Ok(ExitCode::SUCCESS)
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

#[derive(serde::Serialize)]
struct StatusView<'a> {
    runs: Vec<RunView<'a>>,
    issues: &'a [Issue],
}

#[derive(serde::Serialize)]
struct RunView<'a> {
    #[serde(flatten)]
    run: &'a RunRecord,
    duration_secs: Option<f64>,
}

pub async fn status(settings: &Settings, json: bool, limit: i64) -> anyhow::Result<ExitCode> {
    let store = open_store(settings).await?;
    let runs = store.recent_runs(limit).await?;
    let issues = store.issues().await?;
    store.close().await;
    if json {
        let view = StatusView {
            runs: runs
                .iter()
                .map(|run| RunView {
                    run,
                    duration_secs: run.duration_secs(),
                })
                .collect(),
            issues: &issues,
        };
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        print!("{}", render_status(&runs, &issues));
    }
    Ok(ExitCode::SUCCESS)
}

fn render_status(runs: &[RunRecord], issues: &[Issue]) -> String {
    let mut out = String::new();
    if runs.is_empty() {
        out.push_str("no sync has run yet\n");
    } else {
        let _ = writeln!(
            out,
            "{:<20} {:<9} {:<10} {:>7}  COUNTS / ERROR",
            "STARTED (UTC)", "TRIGGER", "OUTCOME", "SECS"
        );
        for run in runs {
            let secs = run
                .duration_secs()
                .map(|s| format!("{s:.1}"))
                .unwrap_or_else(|| "-".into());
            let detail = match (&run.error, &run.counts) {
                (Some(error), _) => error.clone(),
                (None, Some(counts)) => summarize_counts(counts, run.full_read, run.dry_run),
                (None, None) => String::new(),
            };
            let _ = writeln!(
                out,
                "{:<20} {:<9} {:<10} {:>7}  {}",
                run.started_at.format("%Y-%m-%d %H:%M:%S"),
                run.trigger,
                run.outcome,
                secs,
                detail
            );
        }
    }
    if issues.is_empty() {
        out.push_str("\nno skipped or failed records\n");
    } else {
        let _ = writeln!(out, "\n{} records skipped or failed:", issues.len());
        let _ = writeln!(
            out,
            "{:<8} {:<12} {:<32} {:<23} REASON",
            "KIND", "PERSONIO ID", "EMAIL", "DATES"
        );
        for i in issues {
            let _ = writeln!(
                out,
                "{:<8} {:<12} {:<32} {:<23} {}",
                i.kind,
                i.personio_id.as_deref().unwrap_or("-"),
                i.email.as_deref().unwrap_or("-"),
                i.dates.as_deref().unwrap_or("-"),
                i.reason
            );
        }
    }
    out
}

fn summarize_counts(counts: &serde_json::Value, full: bool, dry_run: bool) -> String {
    let n = |key: &str| counts.get(key).and_then(|v| v.as_u64()).unwrap_or(0);
    let skipped: u64 = counts
        .get("skipped")
        .and_then(|v| v.as_object())
        .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
        .unwrap_or(0);
    format!(
        "{}{} +{} ~{} -{} ={} skipped {} failed {}",
        if full { "full" } else { "incr" },
        if dry_run { " dry" } else { "" },
        n("created"),
        n("updated"),
        n("deleted"),
        n("unchanged"),
        skipped,
        n("failed")
    )
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

/// Healthy when the newest run finished within two intervals (plus a minute of slack), or is
/// running and started less than six hours ago: a stuck or dead scheduler turns it unhealthy.
pub async fn healthcheck(settings: &Settings) -> anyhow::Result<ExitCode> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn status_shows_runs_and_every_skipped_or_failed_record() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap();
        let runs = vec![
            RunRecord {
                id: "r2".into(),
                trigger: "signal".into(),
                dry_run: false,
                full_read: false,
                started_at: t + chrono::Duration::hours(1),
                finished_at: None,
                outcome: "failed".into(),
                counts: None,
                error: Some(
                    "reading Personio failed: personio: HTTP 503: Service Unavailable".into(),
                ),
            },
            RunRecord {
                id: "r1".into(),
                trigger: "startup".into(),
                dry_run: false,
                full_read: true,
                started_at: t,
                finished_at: Some(t + chrono::Duration::milliseconds(2500)),
                outcome: "partial".into(),
                counts: Some(
                    serde_json::json!({"created": 12, "updated": 1, "deleted": 2, "unchanged": 40, "failed": 1, "skipped": {"a": 2, "b": 1}}),
                ),
                error: None,
            },
        ];
        let issues = vec![Issue {
            key: "periods:77:2026-12-01".into(),
            source: "periods".into(),
            kind: "skipped".into(),
            personio_id: Some("77".into()),
            email: Some("nobody@example.com".into()),
            dates: Some("2026-12-01..2026-12-03".into()),
            reason: "no Productive person with this email".into(),
            run_id: "r1".into(),
            since: t,
        }];
        let text = render_status(&runs, &issues);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with("2026-11-26 09:00:00  signal    failed"),
            "{text}"
        );
        assert!(
            lines[1].ends_with("HTTP 503: Service Unavailable"),
            "{text}"
        );
        assert!(
            lines[2].contains("partial") && lines[2].contains("2.5"),
            "{text}"
        );
        assert!(
            lines[2].ends_with("full +12 ~1 -2 =40 skipped 3 failed 1"),
            "{text}"
        );
        assert!(text.contains("1 records skipped or failed:"));
        assert!(
            text.contains("skipped  77           nobody@example.com"),
            "{text}"
        );
        assert!(text.contains("no Productive person with this email"));
        assert!(render_status(&[], &[]).starts_with("no sync has run yet"));
    }
}
