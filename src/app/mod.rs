//! Wiring configuration, store, clients and engine together for the commands (`commands`), and
//! what `status` prints (`status`).

pub mod commands;
mod status;

use std::sync::Arc;

use anyhow::Context;

use crate::config::Settings;
use crate::http::RetryPolicy;
use crate::personio::PersonioClient;
use crate::productive::ProductiveClient;
use crate::store::Store;
use crate::sync::{EngineSettings, MassDeleteGuard, RunOptions, Syncer, Trigger, WriteRetries};

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
pub struct ScheduledSyncs(pub Syncer);

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
        Box::pin(async move { drop(self.0.run(options, cancel).await) })
    }
}
