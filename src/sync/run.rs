//! One sync run: the run lock, the span and the run record around a short list of phases:
//! events → people → periods → desired → journal resolved → plan → applied → recorded.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::domain::identity::Identities;
use crate::domain::matching::PeopleIndex;
use crate::domain::window::Window;
use crate::domain::JournalEntry;
use crate::domain::{AbsencePeriod, HourlyAbsence};
use crate::personio::{AbsenceSource, TimeOffQuery};
use crate::productive::ProductiveClient;
use crate::store::{Issue, Store, StoreError};
use crate::telemetry::error_chain;

use super::converge::{failure_issues, Inputs, WriteRetries};
use super::desired::{desired, Desired};
use super::error::SyncError;
use super::events::EventMap;
use super::guard::MassDeleteGuard;
use super::hourly::add_hourly;
use super::issues::{IssueSets, Issues};
use super::progress::LiveProgress;
use super::report::RunReport;
use crate::domain::Counts;

/// Why a run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Startup,
    Schedule,
    Signal,
    /// `sync` on the command line, the demo, tests.
    Manual,
    /// A Personio webhook named changed periods.
    Webhook,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Startup => "startup",
            Self::Schedule => "schedule",
            Self::Signal => "signal",
            Self::Manual => "manual",
            Self::Webhook => "webhook",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub trigger: Trigger,
    pub dry_run: bool,
    /// Read everything and reconcile even if the last full reconcile is recent.
    pub force_full: bool,
    /// Lets this run make deletions the mass-deletion guard would hold back.
    pub allow_mass_delete: bool,
    /// When not empty, a targeted run: only these periods (API v2 ids a webhook named) are
    /// re-read, the others stand as cached, and the cursors stay where they are.
    pub named: Vec<String>,
}

/// What the engine needs of the configuration.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub tz: chrono_tz::Tz,
    pub lookback_months: u32,
    pub full_reconcile_interval: std::time::Duration,
    pub email_overrides: BTreeMap<String, String>,
    /// Books hour-unit absences (`sync.hourly_absences`).
    pub hourly_absences: bool,
    /// `[sync.types]`: excluded types and types booked on another event.
    pub type_rules: crate::domain::type_rules::TypeRules,
    pub write_concurrency: usize,
    pub mass_delete: MassDeleteGuard,
    pub write_retries: WriteRetries,
    /// How often the write phase reports its progress.
    pub progress_every: std::time::Duration,
}

pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub struct Syncer {
    pub(super) settings: EngineSettings,
    pub(super) store: Store,
    pub(super) personio: Arc<dyn AbsenceSource>,
    pub(super) productive: ProductiveClient,
    pub(super) progress: LiveProgress,
    clock: Clock,
}

/// What every phase of one run knows.
struct RunContext<'a> {
    now: DateTime<Utc>,
    window: Window,
    full: bool,
    dry: bool,
    issues: Issues<'a>,
}

impl Syncer {
    pub fn new(
        settings: EngineSettings,
        store: Store,
        personio: Arc<dyn AbsenceSource>,
        productive: ProductiveClient,
    ) -> Self {
        Self {
            settings,
            store,
            personio,
            productive,
            progress: LiveProgress::default(),
            clock: Arc::new(Utc::now),
        }
    }

    /// Replaces the wall clock (tests pin "today").
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The write progress of the run in progress, if one is writing.
    pub fn progress(&self) -> LiveProgress {
        self.progress.clone()
    }

    /// Runs one sync under the run lock and records it.
    pub async fn run(
        &self,
        options: RunOptions,
        cancel: CancellationToken,
    ) -> Result<RunReport, SyncError> {
        let run_id = uuid::Uuid::new_v4().to_string();
        let span = tracing::info_span!("sync_run", run_id = %run_id, trigger = options.trigger.as_str(), dry_run = options.dry_run);
        async {
            let Some(lock) = self.store.try_lock().await.map_err(unrecorded)? else {
                tracing::info!(
                    "another sync is running (run lock held elsewhere); skipping this run"
                );
                return Err(SyncError::Locked);
            };
            self.store
                .begin_run(
                    &run_id,
                    options.trigger.as_str(),
                    options.dry_run,
                    (self.clock)(),
                )
                .await
                .map_err(unrecorded)?;
            let clock = Instant::now();
            let result = self.execute(&run_id, options, &cancel).await;
            let recorded = self.record_run(&run_id, &result, clock).await;
            let released = lock.release().await;
            let mut report = result?;
            // The run itself went through; only its record or the lock release did not.
            recorded.map_err(unrecorded_outcome)?;
            released.map_err(|e| unrecorded_outcome(e.into()))?;
            report.elapsed = clock.elapsed();
            Ok(report)
        }
        .instrument(span)
        .await
    }

    async fn record_run(
        &self,
        run_id: &str,
        result: &Result<RunReport, SyncError>,
        clock: Instant,
    ) -> Result<(), SyncError> {
        let finished = (self.clock)();
        match result {
            Ok(report) => {
                let c = &report.counts;
                let outcome = report.outcome();
                tracing::info!(
                    outcome,
                    full = report.full,
                    created = c.created,
                    updated = c.updated,
                    deleted = c.deleted,
                    unchanged = c.unchanged,
                    approved = c.approved,
                    skipped = c.skipped_total(),
                    failed = c.failed,
                    elapsed_ms = clock.elapsed().as_millis() as u64,
                    "sync run finished"
                );
                self.store
                    .finish_run(run_id, report.full, outcome, Some(c), None, finished)
                    .await?;
            }
            Err(err) => {
                let chain = error_chain(err);
                tracing::error!(error = %chain, transient = err.is_transient(), "sync run failed");
                self.store
                    .finish_run(run_id, false, "failed", None, Some(&chain), finished)
                    .await?;
            }
        }
        Ok(())
    }

    async fn execute(
        &self,
        run_id: &str,
        options: RunOptions,
        cancel: &CancellationToken,
    ) -> Result<RunReport, SyncError> {
        let now = (self.clock)();
        let run = RunContext {
            now,
            window: Window::new(now, &self.settings.tz, self.settings.lookback_months),
            full: options.named.is_empty()
                && (options.force_full || self.full_reconcile_due(now).await?),
            dry: options.dry_run,
            issues: Issues { run_id, now },
        };
        let mut counts = Counts::default();
        let mut issues = IssueSets::new();

        let mut ids = Identities::new(self.store.source_ids().await?);
        let mut types = self
            .personio
            .absence_types()
            .await
            .map_err(SyncError::Personio)?;
        let earlier: Vec<(i64, String)> = (self.store.mappings().await?)
            .into_iter()
            .map(|m| (m.personio_type_id, m.personio_name))
            .collect();
        ids.types(&mut types.items, &earlier);
        let events = self
            .productive
            .events()
            .await
            .map_err(SyncError::Productive)?;
        let (events, type_issues) = self
            .map_events(
                &types.items,
                &events.items,
                run.dry,
                &mut counts,
                &run.issues,
            )
            .await?;
        let type_issues = run
            .issues
            .unreadable("types", &types.rejected)
            .into_iter()
            .chain(type_issues);
        issues.insert("types", type_issues.collect());

        let people = self.read_people(&run.issues).await?;
        issues.insert("people", people.issues);
        let periods = match options.named.as_slice() {
            [] => {
                self.read_periods(&run.window, run.dry, &run.issues, &mut ids)
                    .await?
            }
            named => {
                self.read_named_periods(named, &run.window, run.dry, &run.issues, &mut ids)
                    .await?
            }
        };
        issues.insert("periods", periods.issues);
        // Not cached: read on every run when booked, else on full runs to be reported.
        let mut hourly = match run.full || self.settings.hourly_absences {
            true => {
                let query = TimeOffQuery::window(run.window.start, run.window.horizon);
                let read = self.read_hourly(&query, &types.items, &ids, run.dry, &run.issues);
                Some(read.await?)
            }
            false => None,
        };
        let mut hourly_absences = Vec::new();
        if let Some(h) = hourly.as_mut() {
            hourly_absences = std::mem::take(&mut h.absences);
        }
        let (mut want, known) = desire(
            periods.items,
            hourly_absences,
            people.index,
            &events,
            &run.window,
        );
        if let Some(h) = &hourly {
            want.keep.extend(&h.keep);
        }

        let hourly_skips = hourly.as_ref().map_or(&[][..], |h| &h.skips);
        for skip in want.skipped.iter().chain(hourly_skips) {
            run.issues.log_skip(skip, &mut counts);
        }
        let input = Inputs {
            known: &known,
            events: &events,
            names: &people.names,
            issues: &run.issues,
            full: run.full,
            dry: run.dry,
            allow_mass_delete: options.allow_mass_delete,
        };
        let converged = self
            .converge(input, &mut want, &run.window, &mut counts, cancel)
            .await?;
        if !run.dry {
            issues.insert("writes", failure_issues(&converged.failed));
            if let Some(h) = &hourly {
                issues.insert("hourly", h.issues.clone());
            }
            let skips = run
                .issues
                .skips_suggesting("periods", &want.skipped, &want.suggestions);
            let skips = skips.chain(run.issues.skips("hourly", hourly_skips));
            // A targeted run saw only some periods: it adds what it found but clears nothing the
            // last whole read recorded about the others.
            let kept = match options.named.is_empty() {
                true => None,
                false => Some("periods"),
            };
            self.record_issues(run_id, issues, skips, kept).await?;
            if !converged.interrupted && options.named.is_empty() {
                self.advance_cursors(&run.window, run.now, run.full, periods.complete)
                    .await?;
            }
        }
        Ok(RunReport {
            run_id: run_id.to_string(),
            full: run.full,
            dry_run: run.dry,
            interrupted: converged.interrupted,
            counts,
            plan: converged.plan,
            skipped: [want.skipped, hourly.map(|h| h.skips).unwrap_or_default()].concat(),
            failed: converged
                .failed
                .into_iter()
                .map(|(key, f)| (key, f.issue))
                .collect(),
            names: people.names,
            events,
            elapsed: std::time::Duration::ZERO,
        })
    }

    /// Replaces the stored issues of every source this run looked at. Skips become issue records
    /// only on their way into the store (a second copy is what a large organisation pays for).
    async fn record_issues(
        &self,
        run_id: &str,
        issues: IssueSets,
        skips: impl Iterator<Item = Issue> + Send,
        kept: Option<&str>,
    ) -> Result<(), SyncError> {
        let sources: Vec<&str> = issues
            .keys()
            .copied()
            .filter(|s| Some(*s) != kept)
            .collect();
        let all = issues.into_values().flatten().chain(skips);
        Ok(self.store.replace_issues(run_id, &sources, all).await?)
    }
}

/// The desired state and the ids of the known periods. Takes the periods and the people index so
/// that they are freed before the journal comes in (memory peaks are what a large organisation
/// pays for).
fn desire(
    periods: Vec<AbsencePeriod>,
    hourly: Vec<HourlyAbsence>,
    people: PeopleIndex,
    events: &EventMap,
    window: &Window,
) -> (Desired, HashSet<i64>) {
    let known = periods.iter().map(|p| p.id).collect();
    let mut want = desired(&periods, &people, events, window);
    drop(periods);
    add_hourly(&mut want, &hourly, &people, events, window);
    (want, known)
}

/// Periods booked earlier and no longer in the cache that ended before the window: left alone
/// (only a deleted period loses its bookings).
pub(super) fn aged_out<'a>(
    journal: &'a [JournalEntry],
    known: &'a HashSet<i64>,
    window: &'a Window,
) -> impl Iterator<Item = i64> + 'a {
    journal
        .iter()
        .filter(|e| !known.contains(&e.key.period_id) && !window.covers(e.shape.end))
        .map(|e| e.key.period_id)
}

/// Where a full run reads bookings back from: early parts of a period that ends inside the window
/// may start long before it.
pub(super) fn read_from(want: &Desired, journal: &[JournalEntry], window: &Window) -> NaiveDate {
    want.bookings
        .values()
        .map(|b| b.shape.start)
        .chain(journal.iter().map(|e| e.shape.start))
        .fold(window.start, NaiveDate::min)
}

/// A failure before the run has a record: nothing will record it, so it is logged here.
/// A run whose writes went through but whose outcome could not be recorded: said once, loudly.
fn unrecorded_outcome(err: SyncError) -> SyncError {
    tracing::error!(error = %error_chain(&err), "sync run finished but recording it failed");
    err
}

fn unrecorded(err: StoreError) -> SyncError {
    let err = SyncError::from(err);
    tracing::error!(error = %error_chain(&err), transient = err.is_transient(), "sync run failed");
    err
}
