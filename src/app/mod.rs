//! Wiring configuration, store, clients, engine and listener together for the commands
//! (`commands`), and what `check` finds (`check`).

pub mod check;
pub mod commands;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::{PersonioApi, PersonioSettings, Settings};
use crate::daemon::RunOutcome;
use crate::http::{ApiError, RequestObserver, RetryPolicy};
use crate::personio::{AbsenceSource, PersonioClient, PersonioV2Client};
use crate::productive::ProductiveClient;
use crate::server::{Metrics, Server, Shared};
use crate::store::Store;
use crate::sync::{
    EngineSettings, MassDeleteGuard, RunOptions, SyncError, Syncer, Trigger, WriteRetries,
};
use crate::telemetry::error_chain;

pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let database = &settings.database;
    let store = Store::connect_waiting(
        &database.url,
        database.max_connections,
        database.acquire_timeout,
    )
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
        hourly_absences: settings.sync.hourly_absences,
        type_rules: settings.sync.types.rules()?,
        write_concurrency: settings.productive.write_concurrency,
        mass_delete: MassDeleteGuard {
            share: settings.sync.mass_delete_share,
            min: settings.sync.mass_delete_min,
        },
        write_retries: WriteRetries::default(),
        progress_every: std::time::Duration::from_secs(30),
    })
}

/// The engine with real clients built from the settings.
pub fn build_syncer(settings: &Settings, store: Store) -> anyhow::Result<Syncer> {
    build_observed_syncer(settings, store, None)
}

/// The engine whose clients report every request to `observer` (the daemon's metrics).
pub fn build_observed_syncer(
    settings: &Settings,
    store: Store,
    observer: Option<Arc<dyn RequestObserver>>,
) -> anyhow::Result<Syncer> {
    settings.require_api_credentials()?;
    let personio = personio_source(&settings.personio, RetryPolicy::default(), observer.clone())?;
    let mut productive = ProductiveClient::new(&settings.productive, RetryPolicy::default())?;
    if let Some(observer) = observer {
        productive = productive.observed(observer);
    }
    Ok(Syncer::new(
        sync_settings(settings)?,
        store,
        personio,
        productive,
    ))
}

/// The absence source `personio.api` names; the engine does not know which API it reads.
pub fn personio_source(
    settings: &PersonioSettings,
    retry: RetryPolicy,
    observer: Option<Arc<dyn RequestObserver>>,
) -> Result<Arc<dyn AbsenceSource>, ApiError> {
    Ok(match settings.api {
        PersonioApi::V1 => {
            let client = PersonioClient::new(settings, retry)?;
            Arc::new(match observer {
                Some(observer) => client.observed(observer),
                None => client,
            })
        }
        PersonioApi::V2 => {
            let client = PersonioV2Client::new(settings, retry)?;
            Arc::new(match observer {
                Some(observer) => client.observed(observer),
                None => client,
            })
        }
    })
}

/// The HTTP listener when `http.listen` is set. Its store connects on first use, so that the
/// listener (and `/livez`) is up even while the store is down.
pub async fn start_listener(
    settings: &Settings,
    metrics: Arc<Metrics>,
    controls: tokio::sync::mpsc::Sender<crate::daemon::Control>,
) -> anyhow::Result<Option<Server>> {
    let Some(addr) = settings.http.listen()? else {
        return Ok(None);
    };
    let database = &settings.database;
    let store = Store::connect_lazy(&database.url, 2, database.acquire_timeout)
        .context("preparing the listener's database pool (database.url)")?;
    let shared = Shared {
        store,
        metrics,
        controls,
        token: settings.http.token.clone(),
        webhook_token: settings.personio.webhook_token.clone(),
    };
    Ok(Some(Server::start(addr, shared).await?))
}

/// The daemon's view of the engine. The store is connected (and migrated) by the first run that
/// reaches it, not at start: a store that is down when the daemon starts, or later, fails those
/// runs with one ERROR line each while the daemon keeps its schedule and its signals. Each run
/// updates the metrics when it ends.
pub struct ScheduledSyncs {
    settings: Settings,
    metrics: Arc<Metrics>,
    syncer: tokio::sync::OnceCell<Syncer>,
}

impl ScheduledSyncs {
    pub fn new(settings: Settings, metrics: Arc<Metrics>) -> Self {
        Self {
            settings,
            metrics,
            syncer: tokio::sync::OnceCell::new(),
        }
    }

    async fn syncer(&self) -> anyhow::Result<&Syncer> {
        self.syncer
            .get_or_try_init(|| async {
                let store = open_store(&self.settings).await?;
                let observer: Arc<dyn RequestObserver> = self.metrics.clone();
                build_observed_syncer(&self.settings, store, Some(observer))
            })
            .await
    }

    async fn run_once(
        &self,
        syncer: &Syncer,
        options: RunOptions,
        cancel: CancellationToken,
    ) -> RunOutcome {
        self.metrics.run_started();
        let started = std::time::Instant::now();
        // The write progress reaches the metrics every second while the run runs.
        let live = syncer.progress();
        let copy_progress = async {
            loop {
                self.metrics.set_progress(live.get());
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        };
        let result = tokio::select! {
            result = syncer.run(options, cancel) => result,
            never = copy_progress => never,
        };
        self.metrics.set_progress(None);
        self.metrics.run_finished(&result, started.elapsed());
        match syncer.store().owned_bookings().await {
            Ok(owned) => self.metrics.set_bookings_owned(owned),
            Err(err) => {
                tracing::warn!(error = %error_chain(&err), "could not count the owned bookings for the metrics")
            }
        }
        match result {
            Ok(report) if report.counts.failed_transient > 0 => RunOutcome::RetrySoon,
            Ok(_) | Err(SyncError::Locked) => RunOutcome::Done,
            Err(_) => RunOutcome::RetrySoon,
        }
    }
}

impl crate::daemon::SyncRunner for ScheduledSyncs {
    fn run(
        &self,
        trigger: Trigger,
        named: Vec<String>,
        cancel: CancellationToken,
    ) -> Pin<Box<dyn Future<Output = RunOutcome> + Send + '_>> {
        let options = RunOptions {
            trigger,
            dry_run: false,
            force_full: false,
            allow_mass_delete: false,
            named,
        };
        Box::pin(async move {
            let syncer = tokio::select! {
                syncer = self.syncer() => syncer,
                () = cancel.cancelled() => return RunOutcome::Done,
            };
            match syncer {
                // Failures of a run are logged (and recorded when the store allows) by
                // `Syncer::run`; the daemon carries on, sooner when work was left undone.
                Ok(syncer) => self.run_once(syncer, options, cancel.clone()).await,
                Err(err) => {
                    let span = tracing::info_span!("sync_run", trigger = trigger.as_str());
                    span.in_scope(|| {
                        tracing::error!(error = %error_chain(err.as_ref()), "sync run failed");
                    });
                    RunOutcome::RetrySoon
                }
            }
        })
    }

    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {
            if let Some(syncer) = self.syncer.get() {
                syncer.store().close().await;
            }
        })
    }
}
