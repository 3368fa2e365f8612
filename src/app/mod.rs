//! Wiring configuration, store, clients and engine together for the commands (`commands`), and
//! what `status` prints (`status`).

pub mod commands;
pub(crate) mod status;

use std::sync::Arc;

use anyhow::Context;

use crate::config::Settings;
use crate::http::{RequestObserver, RetryPolicy};
use crate::personio::PersonioClient;
use crate::productive::ProductiveClient;
use crate::server::{Metrics, Server, Shared};
use crate::store::Store;
use crate::sync::{EngineSettings, MassDeleteGuard, RunOptions, Syncer, Trigger, WriteRetries};

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
        mass_delete: MassDeleteGuard {
            share: settings.sync.mass_delete_share,
            min: settings.sync.mass_delete_min,
        },
        write_retries: WriteRetries::default(),
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
    let mut personio = PersonioClient::new(&settings.personio, RetryPolicy::default())?;
    let mut productive = ProductiveClient::new(&settings.productive, RetryPolicy::default())?;
    if let Some(observer) = observer {
        personio = personio.observed(Arc::clone(&observer));
        productive = productive.observed(observer);
    }
    Ok(Syncer::new(
        sync_settings(settings)?,
        store,
        Arc::new(personio),
        productive,
    ))
}

/// The HTTP listener when `http.listen` is set.
pub async fn start_listener(
    settings: &Settings,
    store: &Store,
    metrics: Arc<Metrics>,
    controls: tokio::sync::mpsc::Sender<crate::daemon::Control>,
) -> anyhow::Result<Option<Server>> {
    let Some(addr) = settings.http.listen()? else {
        return Ok(None);
    };
    let shared = Shared {
        store: store.clone(),
        metrics,
        controls,
        token: settings.http.token.clone(),
    };
    Ok(Some(Server::start(addr, shared).await?))
}

/// The daemon's view of the engine: a scheduled run that logs and records its own failure, and
/// updates the metrics when it ends.
pub struct ScheduledSyncs {
    pub syncer: Syncer,
    pub metrics: Arc<Metrics>,
}

impl crate::daemon::SyncRunner for ScheduledSyncs {
    fn run(
        &self,
        trigger: Trigger,
        cancel: tokio_util::sync::CancellationToken,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        let options = RunOptions {
            trigger,
            dry_run: false,
            force_full: false,
            allow_mass_delete: false,
        };
        // Failures are logged and recorded by `Syncer::run`; the daemon carries on.
        Box::pin(async move {
            self.metrics.run_started();
            let started = std::time::Instant::now();
            let result = self.syncer.run(options, cancel).await;
            self.metrics.run_finished(&result, started.elapsed());
            match self.syncer.store().owned_bookings().await {
                Ok(owned) => self.metrics.set_bookings_owned(owned),
                Err(err) => {
                    tracing::warn!(error = %crate::telemetry::error_chain(&err), "could not count the owned bookings for the metrics")
                }
            }
        })
    }
}
