//! One sync run: read both sides, bring events in line, resolve the journal against Productive,
//! plan, apply with journaled writes, record the run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::daemon::{SyncRunner, Trigger};
use crate::domain::bookings::key_from_note;
use crate::domain::matching::PeopleIndex;
use crate::domain::window::Window;
use crate::domain::{
    AbsencePeriod, AbsenceType, Booking, BookingDraft, BookingKey, Event, EventDraft, EventKind,
    PeriodStatus, RejectedRecord,
};
use crate::http::ApiError;
use crate::personio::{AbsenceSource, TimeOffQuery};
use crate::productive::{BookingFilter, ProductiveClient};
use crate::store::{Issue, JournalEntry, JournalState, Store, StoreError, TypeMapping};
use crate::telemetry::error_chain;

use super::desired::{desired, DesiredBooking, Skip};
use super::plan::{plan, Plan};
use super::report::{Counts, RunReport};

const CURSOR_LAST_FULL: &str = "last_full_reconcile";
const CURSOR_UPDATED_FROM: &str = "personio_updated_from";
/// The event id a type mapping holds while the event's create is in flight.
const EVENT_BEING_CREATED: i64 = 0;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("reading Personio failed")]
    Personio(#[source] ApiError),
    #[error("talking to Productive failed")]
    Productive(#[source] ApiError),
    #[error("state store failed")]
    Store(#[from] StoreError),
    #[error("another sync holds the run lock")]
    Locked,
    #[error("Productive refused it earlier and nothing changed since (tried again at the next full reconcile): {0}")]
    Refused(String),
}

impl SyncError {
    /// Likely to pass on a later run without anyone acting.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Personio(e) | Self::Productive(e) => e.is_transient(),
            Self::Store(e) => e.is_transient(),
            Self::Locked => true,
            Self::Refused(_) => false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub trigger: Trigger,
    pub dry_run: bool,
    /// Read everything and reconcile even if the last full reconcile is recent.
    pub force_full: bool,
}

#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub tz: chrono_tz::Tz,
    pub lookback_months: u32,
    pub full_reconcile_interval: std::time::Duration,
    pub email_overrides: BTreeMap<String, String>,
    pub write_concurrency: usize,
}

pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub struct Syncer {
    settings: SyncSettings,
    store: Store,
    personio: Arc<dyn AbsenceSource>,
    productive: ProductiveClient,
    clock: Clock,
}

/// One write Productive carried out.
#[derive(Debug, Clone, Copy)]
enum Wrote {
    Created,
    Updated,
    Deleted,
    Approved,
}

/// What one action did, folded into the run's counts: its writes (a create can be followed by
/// its approval) and, when it failed or its answer was lost (the next run resolves that), the
/// issue, after whatever it wrote before.
struct Outcome {
    wrote: Vec<Wrote>,
    failed: Option<(BookingKey, Box<Issue>)>,
}

impl Syncer {
    pub fn new(
        settings: SyncSettings,
        store: Store,
        personio: Arc<dyn AbsenceSource>,
        productive: ProductiveClient,
    ) -> Self {
        Self {
            settings,
            store,
            personio,
            productive,
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

    /// Runs one sync under the run lock and records it.
    pub async fn run(
        &self,
        options: RunOptions,
        cancel: CancellationToken,
    ) -> Result<RunReport, SyncError> {
        let run_id = uuid::Uuid::new_v4().to_string();
        let span = tracing::info_span!("sync_run", run_id = %run_id, trigger = options.trigger.as_str(), dry_run = options.dry_run);
        async {
            let Some(lock) = self.store.try_lock().await? else {
                tracing::info!("another sync is running (run lock held elsewhere); skipping this run");
                return Err(SyncError::Locked);
            };
            let started = (self.clock)();
            self.store
                .begin_run(&run_id, options.trigger.as_str(), options.dry_run, started)
                .await?;
            let clock = Instant::now();
            let result = self.execute(&run_id, options, &cancel).await;
            let finished = (self.clock)();
            let recorded = match &result {
                Ok(report) => {
                    let outcome = if report.counts.failed > 0 { "partial" } else { "succeeded" };
                    let counts = serde_json::to_value(&report.counts).unwrap_or_default();
                    tracing::info!(
                        outcome,
                        full = report.full,
                        created = report.counts.created,
                        updated = report.counts.updated,
                        deleted = report.counts.deleted,
                        unchanged = report.counts.unchanged,
                        approved = report.counts.approved,
                        skipped = report.counts.skipped_total(),
                        failed = report.counts.failed,
                        elapsed_ms = clock.elapsed().as_millis() as u64,
                        "sync run finished"
                    );
                    self.store
                        .finish_run(&run_id, report.full, outcome, &counts, None, finished)
                        .await
                }
                Err(err) => {
                    let chain = error_chain(err);
                    tracing::error!(error = %chain, transient = err.is_transient(), "sync run failed");
                    self.store
                        .finish_run(&run_id, false, "failed", &serde_json::json!({}), Some(&chain), finished)
                        .await
                }
            };
            let released = lock.release().await;
            let mut report = result?;
            recorded?;
            released?;
            report.elapsed = clock.elapsed();
            Ok(report)
        }
        .instrument(span)
        .await
    }

    async fn execute(
        &self,
        run_id: &str,
        options: RunOptions,
        cancel: &CancellationToken,
    ) -> Result<RunReport, SyncError> {
        let now = (self.clock)();
        let window = Window::new(now, &self.settings.tz, self.settings.lookback_months);
        let full = options.force_full || self.full_reconcile_due(now).await?;
        let dry = options.dry_run;
        let mut counts = Counts::default();
        let mut issues: BTreeMap<&'static str, Vec<Issue>> = BTreeMap::new();
        let issues_of = Issues { run_id, now };

        // Absence types → events.
        let types = self
            .personio
            .absence_types()
            .await
            .map_err(SyncError::Personio)?;
        let mut type_issues = issues_of.unreadable("types", &types.rejected);
        let events = self
            .productive
            .events()
            .await
            .map_err(SyncError::Productive)?;
        let events_by_type = self
            .ensure_events(
                &types.items,
                &events.items,
                dry,
                &mut counts,
                &mut type_issues,
                &issues_of,
            )
            .await?;
        issues.insert("types", type_issues);

        // People.
        let people = self
            .productive
            .people()
            .await
            .map_err(SyncError::Productive)?;
        issues.insert("people", issues_of.unreadable("people", &people.rejected));
        let names: HashMap<i64, String> = people
            .items
            .iter()
            .map(|p| {
                (
                    p.id,
                    p.email
                        .as_deref()
                        .map(|e| e.trim().to_string())
                        .unwrap_or_else(|| format!("{} {}", p.first_name, p.last_name)),
                )
            })
            .collect();
        let index = PeopleIndex::new(people.items, &self.settings.email_overrides);

        // Periods: a full read replaces the cache, an incremental one patches it.
        let cached = self.store.periods().await?;
        let query = TimeOffQuery {
            from: window.start,
            to: window.horizon,
            updated_from: if full {
                None
            } else {
                self.updated_from().await?
            },
        };
        let read = self
            .personio
            .time_offs(&query)
            .await
            .map_err(SyncError::Personio)?;
        // A period Personio sent but we could not read is not gone: keep what we know of it. If
        // a broken record has no readable id, nothing can be concluded from its absence.
        let unreadable: Option<HashSet<i64>> = read
            .rejected
            .iter()
            .map(|r| r.id.as_deref().and_then(|id| id.parse().ok()))
            .collect();
        let (periods, changed, removals) = merge_periods(
            cached,
            read.items,
            if full { unreadable.as_ref() } else { None },
        );
        let period_issues = issues_of.unreadable("periods", &read.rejected);
        if !dry {
            self.store
                .update_periods(only(&periods, &changed), &removals)
                .await?;
        }
        drop(changed);

        let mut want = desired(&periods, &index, &events_by_type, &window);
        // What is left of the inputs is their ids: the big collections go before the journal
        // comes in (memory peaks are what a large organisation pays for).
        let known: HashSet<i64> = periods.iter().map(|p| p.id).collect();
        drop(periods);
        drop(index);
        let journal = self.store.journal().await?;
        // A booked period no longer in the cache either ended before the window (left alone) or
        // was deleted; only the latter loses its bookings.
        for entry in journal
            .iter()
            .filter(|e| !known.contains(&e.key.period_id) && !window.covers(e.end))
        {
            want.keep.insert(entry.key.period_id);
        }
        for skip in &want.skipped {
            issues_of.log_skip(skip, &mut counts);
        }
        issues.insert("periods", period_issues);

        // Hour-unit absences are skipped too, and belong in the report with the rest.
        let mut hourly_skips = Vec::new();
        if full {
            let hourly = self
                .personio
                .hourly_absences(&query)
                .await
                .map_err(SyncError::Personio)?;
            let hourly_issues = issues_of.unreadable("hourly", &hourly.rejected);
            for a in hourly
                .items
                .iter()
                .filter(|a| a.status == PeriodStatus::Approved)
            {
                let skip = Skip {
                    personio_id: a.id.clone(),
                    email: a.email.clone(),
                    start: a.start,
                    end: a.end,
                    reason: "measured in hours; hour-unit absences are not synced".into(),
                };
                issues_of.log_skip(&skip, &mut counts);
                hourly_skips.push(skip);
            }
            issues.insert("hourly", hourly_issues);
        }

        // The journal, resolved against what Productive holds.
        let owned_events: Vec<i64> = events_by_type
            .values()
            .copied()
            .filter(|id| *id > 0)
            .collect();
        let (journal, duplicates) = if full {
            // Early parts of a period that ends inside the window may start long before it.
            let read_from = want
                .bookings
                .values()
                .map(|b| b.start)
                .chain(journal.iter().map(|e| e.start))
                .fold(window.start, NaiveDate::min);
            self.reconcile(journal, &owned_events, read_from, dry, &mut counts)
                .await?
        } else {
            (
                self.resolve_creates(journal, dry, &mut counts).await?,
                Vec::new(),
            )
        };

        let plan = plan(&want, &journal, full);
        counts.unchanged = plan.unchanged;

        // Refusals that still stand stay reported without another try.
        let mut failed_writes: BTreeMap<BookingKey, Issue> = plan
            .refused
            .iter()
            .map(|entry| {
                let mut failed = WriteError::recorded(
                    entry,
                    SyncError::Refused(entry.error.clone().unwrap_or_default()),
                );
                failed.email = want.bookings.get(&entry.key).map(|w| w.email.clone());
                (entry.key, issues_of.write_failure(failed, &names))
            })
            .collect();
        counts.failed += failed_writes.len();
        let mut interrupted = false;
        if dry {
            counts.planned_creates = plan.creates.len();
            counts.planned_updates = plan.updates.len();
            counts.planned_deletes = plan.deletes.len() + duplicates.len();
        } else {
            for outcome in self
                .apply(&plan, &duplicates, &issues_of, &names, cancel)
                .await
            {
                for wrote in outcome.wrote {
                    match wrote {
                        Wrote::Created => counts.created += 1,
                        Wrote::Updated => counts.updated += 1,
                        Wrote::Deleted => counts.deleted += 1,
                        Wrote::Approved => counts.approved += 1,
                    }
                }
                if let Some((key, issue)) = outcome.failed {
                    counts.failed += 1;
                    failed_writes.insert(key, *issue);
                }
            }
            interrupted = cancel.is_cancelled();
            issues.insert("writes", failed_writes.values().cloned().collect());
            let sources: Vec<&str> = issues.keys().copied().collect();
            // Skips become issue records only on their way into the store.
            let skips = issues_of
                .skips("periods", &want.skipped)
                .chain(issues_of.skips("hourly", &hourly_skips));
            let all = issues.into_values().flatten().chain(skips);
            self.store.replace_issues(run_id, &sources, all).await?;
            // Cursors move only once the run has written everything it planned.
            if !interrupted {
                let today = window.today.to_string();
                if read.rejected.is_empty() {
                    self.store.set_cursor(CURSOR_UPDATED_FROM, &today).await?;
                }
                if full {
                    self.store
                        .set_cursor(CURSOR_LAST_FULL, &now.to_rfc3339())
                        .await?;
                }
            }
        }
        Ok(RunReport {
            run_id: run_id.to_string(),
            full,
            dry_run: dry,
            interrupted,
            counts,
            plan,
            skipped: want.skipped.into_iter().chain(hourly_skips).collect(),
            failed: failed_writes,
            names,
            elapsed: std::time::Duration::ZERO,
        })
    }

    async fn full_reconcile_due(&self, now: DateTime<Utc>) -> Result<bool, SyncError> {
        let Some(last) = self.store.cursor(CURSOR_LAST_FULL).await? else {
            return Ok(true);
        };
        let Ok(last) = DateTime::parse_from_rfc3339(&last) else {
            return Ok(true);
        };
        let since = (now - last.with_timezone(&Utc))
            .to_std()
            .unwrap_or_default();
        Ok(since >= self.settings.full_reconcile_interval)
    }

    /// The `updated_from` date for an incremental read: the day of the last read, one day back
    /// for overlap (Personio filters by date and its clock is not ours).
    async fn updated_from(&self) -> Result<Option<NaiveDate>, SyncError> {
        Ok(self
            .store
            .cursor(CURSOR_UPDATED_FROM)
            .await?
            .and_then(|d| d.parse::<NaiveDate>().ok())
            .and_then(|d| d.pred_opt()))
    }

    /// Creates the event for a type, recording the intent first so that an event whose create
    /// answer is lost is still known as the sync's own (renamed with its type) next run.
    async fn create_event(&self, t: &AbsenceType) -> Result<Result<Event, ApiError>, SyncError> {
        self.store
            .put_mapping(&TypeMapping {
                personio_type_id: t.id,
                event_id: EVENT_BEING_CREATED,
                personio_name: t.name.clone(),
                created_by_sync: true,
            })
            .await?;
        Ok(self.productive.create_event(&event_draft(t)).await)
    }

    /// Maps every absence type to an event: the recorded one, else an active event of the same
    /// name (any case), else a new one. Renames events the sync created when the type is renamed.
    #[allow(clippy::too_many_arguments)]
    async fn ensure_events(
        &self,
        types: &[AbsenceType],
        events: &[Event],
        dry: bool,
        counts: &mut Counts,
        issues: &mut Vec<Issue>,
        issues_of: &Issues<'_>,
    ) -> Result<HashMap<i64, i64>, SyncError> {
        let mappings: HashMap<i64, TypeMapping> = self
            .store
            .mappings()
            .await?
            .into_iter()
            .map(|m| (m.personio_type_id, m))
            .collect();
        let active: HashMap<i64, &Event> = events
            .iter()
            .filter(|e| !e.archived)
            .map(|e| (e.id, e))
            .collect();
        let type_failure = |t: &AbsenceType, what: String, e: &ApiError| {
            let reason = format!("{what}: {}", error_chain(e));
            issues_of.failed("types", Some(t.id.to_string()), None, None, reason)
        };
        let mut out = HashMap::new();
        for t in types {
            let recorded = mappings.get(&t.id).and_then(|m| {
                if active.contains_key(&m.event_id) {
                    return Some(m.clone());
                }
                // A create whose answer was lost: the event carries the name it was created with.
                let created = (m.event_id == EVENT_BEING_CREATED)
                    .then(|| named(&active, &m.personio_name))
                    .flatten()?;
                Some(TypeMapping {
                    event_id: created.id,
                    ..m.clone()
                })
            });
            let mapping = match recorded.as_ref() {
                Some(m) if m.personio_name == t.name => m.clone(),
                Some(m) if !m.created_by_sync => TypeMapping {
                    personio_name: t.name.clone(),
                    ..m.clone()
                },
                Some(m) => {
                    tracing::info!(personio_type_id = t.id, event_id = m.event_id, from = %m.personio_name, to = %t.name, "renaming event");
                    if !dry {
                        if let Err(e) = self.productive.rename_event(m.event_id, &t.name).await {
                            issues.push(type_failure(
                                t,
                                format!("renaming event {} failed", m.event_id),
                                &e,
                            ));
                            out.insert(t.id, m.event_id);
                            continue;
                        }
                    }
                    counts.events_renamed += 1;
                    TypeMapping {
                        personio_name: t.name.clone(),
                        ..m.clone()
                    }
                }
                None => {
                    match named(&active, &t.name) {
                        Some(e) => TypeMapping {
                            personio_type_id: t.id,
                            event_id: e.id,
                            personio_name: t.name.clone(),
                            created_by_sync: false,
                        },
                        None if dry => {
                            counts.events_created += 1;
                            // A stand-in id so the dry run can still plan this type's bookings.
                            out.insert(t.id, -t.id);
                            continue;
                        }
                        None => match self.create_event(t).await? {
                            Ok(e) => {
                                tracing::info!(personio_type_id = t.id, event_id = e.id, name = %t.name, "created event");
                                counts.events_created += 1;
                                TypeMapping {
                                    personio_type_id: t.id,
                                    event_id: e.id,
                                    personio_name: t.name.clone(),
                                    created_by_sync: true,
                                }
                            }
                            Err(e) => {
                                issues.push(type_failure(
                                    t,
                                    format!("creating event {:?} failed", t.name),
                                    &e,
                                ));
                                continue;
                            }
                        },
                    }
                }
            };
            if !dry && mappings.get(&t.id) != Some(&mapping) {
                self.store.put_mapping(&mapping).await?;
            }
            out.insert(t.id, mapping.event_id);
        }
        Ok(out)
    }

    /// Full reconcile: reads every booking on the sync's events in the window and brings the
    /// journal in line with it: adopts marked bookings from interrupted creates (or a lost
    /// store), forgets bookings deleted by hand so they are created again, and takes edited
    /// values so the plan puts them back. Also returns surplus marked bookings (duplicates).
    async fn reconcile(
        &self,
        mut journal: Vec<JournalEntry>,
        owned_events: &[i64],
        read_from: NaiveDate,
        dry: bool,
        counts: &mut Counts,
    ) -> Result<(Vec<JournalEntry>, Vec<Booking>), SyncError> {
        let actual = if owned_events.is_empty() {
            Vec::new()
        } else {
            let filter = BookingFilter {
                event_ids: owned_events.to_vec(),
                after: Some(read_from),
                ..Default::default()
            };
            self.productive
                .bookings(&filter)
                .await
                .map_err(SyncError::Productive)?
                .items
        };
        let by_id: HashMap<i64, &Booking> = actual.iter().map(|b| (b.id, b)).collect();
        let mut claimed: HashSet<i64> = journal
            .iter()
            .filter_map(|e| e.booking_id)
            .filter(|id| by_id.contains_key(id))
            .collect();
        let mut marked: BTreeMap<BookingKey, Vec<&Booking>> = BTreeMap::new();
        for b in &actual {
            if let Some(key) = b.note.as_deref().and_then(key_from_note) {
                marked.entry(key).or_default().push(b);
            }
        }
        let unclaimed_marked = |key: BookingKey, claimed: &mut HashSet<i64>| -> Option<&Booking> {
            let b = *marked
                .get(&key)?
                .iter()
                .find(|b| !claimed.contains(&b.id))?;
            claimed.insert(b.id);
            Some(b)
        };

        // Resolved in place: a second copy of the journal is what a large organisation pays for.
        let mut finished_deletes = HashSet::new();
        for entry in journal.iter_mut() {
            let recorded = entry.clone();
            let current = entry.booking_id.and_then(|id| by_id.get(&id).copied());
            // Bookings ending before `read_from` were not read: nothing is known about them.
            let was_read = entry.end >= read_from;
            match (entry.state, current) {
                (JournalState::Deleting, None) if was_read => {
                    if !dry {
                        self.store.remove_journal(entry.key).await?;
                    }
                    finished_deletes.insert(entry.key);
                    continue;
                }
                (JournalState::Deleting, _) => {}
                (JournalState::Refused, _) => {}
                (JournalState::Creating, _) => {
                    if let Some(b) = unclaimed_marked(entry.key, &mut claimed) {
                        counts.adopted += 1;
                        adopt(entry, b);
                    }
                }
                (state, Some(b)) => {
                    adopt(entry, b);
                    if state == JournalState::Synced && *entry != recorded {
                        tracing::warn!(
                            personio_id = entry.key.period_id,
                            part = entry.key.part,
                            booking_id = b.id,
                            "owned booking was edited in Productive; restoring it"
                        );
                        counts.drift_repaired += 1;
                    }
                    // An interrupted update stays planned as an update.
                    entry.state = state;
                }
                (_, None) if !was_read => {}
                (_, None) => match unclaimed_marked(entry.key, &mut claimed) {
                    Some(b) => adopt(entry, b),
                    None => {
                        tracing::warn!(personio_id = entry.key.period_id, part = entry.key.part, booking_id = ?entry.booking_id, "owned booking was deleted in Productive; creating it again");
                        counts.drift_repaired += 1;
                        entry.booking_id = None;
                        entry.state = JournalState::Creating;
                    }
                },
            }
            // Only what Productive taught us is written back (a reconcile of an unchanged
            // organisation writes nothing).
            if !dry && entry.state == JournalState::Synced && *entry != recorded {
                self.store.put_journal(entry).await?;
            }
        }
        journal.retain(|e| !finished_deletes.contains(&e.key));
        let mut resolved = journal;

        // Marked bookings the journal does not know: adopt one per key; more are duplicates.
        let mut known: HashSet<BookingKey> = resolved.iter().map(|e| e.key).collect();
        let mut duplicates = Vec::new();
        for b in actual.iter().filter(|b| !claimed.contains(&b.id)) {
            let Some(key) = b.note.as_deref().and_then(key_from_note) else {
                continue;
            };
            if !known.insert(key) {
                duplicates.push(b.clone());
                continue;
            }
            let mut entry = JournalEntry {
                key,
                person_id: b.person_id,
                event_id: b.event_id.unwrap_or_default(),
                start: b.started_on,
                end: b.ended_on,
                minutes: 0,
                note: String::new(),
                booking_id: None,
                state: JournalState::Synced,
                approved: b.approved,
                error: None,
            };
            adopt(&mut entry, b);
            counts.adopted += 1;
            if !dry {
                self.store.put_journal(&entry).await?;
            }
            resolved.push(entry);
        }
        Ok((resolved, duplicates))
    }

    /// Incremental runs: look up bookings whose creation was interrupted, by their marker.
    async fn resolve_creates(
        &self,
        mut journal: Vec<JournalEntry>,
        dry: bool,
        counts: &mut Counts,
    ) -> Result<Vec<JournalEntry>, SyncError> {
        for entry in journal.iter_mut() {
            if entry.state == JournalState::Creating {
                if let Some(b) = self.find_marked(entry).await? {
                    counts.adopted += 1;
                    adopt(entry, &b);
                    if !dry {
                        self.store.put_journal(entry).await?;
                    }
                }
            }
        }
        Ok(journal)
    }

    async fn find_marked(&self, entry: &JournalEntry) -> Result<Option<Booking>, SyncError> {
        let filter = BookingFilter {
            person_ids: vec![entry.person_id],
            after: Some(entry.start),
            before: Some(entry.end),
            ..Default::default()
        };
        let found = self
            .productive
            .bookings(&filter)
            .await
            .map_err(SyncError::Productive)?;
        Ok(found
            .items
            .into_iter()
            .find(|b| b.note.as_deref().and_then(key_from_note) == Some(entry.key)))
    }

    /// Applies the plan with bounded concurrency; stops starting new writes once cancelled.
    async fn apply(
        &self,
        plan: &Plan,
        duplicates: &[Booking],
        issues_of: &Issues<'_>,
        emails: &HashMap<i64, String>,
        cancel: &CancellationToken,
    ) -> Vec<Outcome> {
        let actions = duplicates
            .iter()
            .map(Action::DeleteDuplicate)
            .chain(plan.deletes.iter().map(Action::Delete))
            .chain(plan.updates.iter().map(|(e, d)| Action::Update(e, d)))
            .chain(plan.creates.iter().map(Action::Create))
            .chain(plan.approvals.iter().map(Action::Approve));
        let mut actions = actions;
        let mut in_flight = futures::stream::FuturesUnordered::new();
        let mut outcomes = Vec::new();
        loop {
            while in_flight.len() < self.settings.write_concurrency.max(1) && !cancel.is_cancelled()
            {
                match actions.next() {
                    Some(action) => in_flight.push(self.apply_one(action, issues_of, emails)),
                    None => break,
                }
            }
            match in_flight.next().await {
                Some(outcome) => outcomes.push(outcome),
                None => break,
            }
        }
        outcomes
    }

    async fn apply_one(
        &self,
        action: Action<'_>,
        issues_of: &Issues<'_>,
        emails: &HashMap<i64, String>,
    ) -> Outcome {
        let result = match action {
            Action::Create(want) => self.create(want).await,
            Action::Update(entry, want) => self.update(entry, want).await,
            Action::Delete(entry) => self.delete(entry).await,
            Action::DeleteDuplicate(b) => self.delete_duplicate(b).await,
            Action::Approve(entry) => self.approve(entry).await,
        };
        let mut failed = match result {
            Ok(wrote) => {
                return Outcome {
                    wrote,
                    failed: None,
                }
            }
            Err(e) => e,
        };
        let key = failed.key;
        let wrote = std::mem::take(&mut failed.wrote);
        let ambiguous = matches!(&failed.error, SyncError::Productive(api) if is_ambiguous(api));
        let mut issue = issues_of.write_failure(failed, emails);
        if ambiguous {
            issue.reason = format!("outcome unknown, resolved next run: {}", issue.reason);
        }
        Outcome {
            wrote,
            failed: Some((key, Box::new(issue))),
        }
    }

    async fn create(&self, want: &DesiredBooking) -> Result<Vec<Wrote>, WriteError> {
        let ctx = |error| WriteError::wanted(want, error);
        let mut entry = JournalEntry {
            key: want.key,
            person_id: want.person_id,
            event_id: want.event_id,
            start: want.start,
            end: want.end,
            minutes: want.minutes,
            note: want.note.clone(),
            booking_id: None,
            state: JournalState::Creating,
            approved: true,
            error: None,
        };
        self.store
            .put_journal(&entry)
            .await
            .map_err(|e| ctx(e.into()))?;
        match self.productive.create_booking(&draft(want)).await {
            Ok(booking) => {
                entry.booking_id = Some(booking.id);
                entry.state = JournalState::Synced;
                entry.approved = booking.approved;
                self.store
                    .put_journal(&entry)
                    .await
                    .map_err(|e| ctx(e.into()))?;
                tracing::info!(action = "create", personio_id = want.key.period_id, part = want.key.part, email = %want.email, start = %want.start, end = %want.end, minutes = want.minutes, booking_id = booking.id, "booking written");
                if !booking.approved {
                    return self
                        .approve(&entry)
                        .await
                        .map(|approved| [vec![Wrote::Created], approved].concat())
                        .map_err(|e| e.of(want).after(Wrote::Created));
                }
                Ok(vec![Wrote::Created])
            }
            Err(api) if is_ambiguous(&api) => Err(ctx(SyncError::Productive(api))),
            Err(api) => {
                // Definitely not created: keep why, so the same create is not sent again until
                // the absence changes or the next full reconcile.
                entry.state = JournalState::Refused;
                entry.error = Some(api.to_string());
                self.store
                    .put_journal(&entry)
                    .await
                    .map_err(|e| ctx(e.into()))?;
                Err(ctx(SyncError::Productive(api)))
            }
        }
    }

    async fn update(
        &self,
        entry: &JournalEntry,
        want: &DesiredBooking,
    ) -> Result<Vec<Wrote>, WriteError> {
        let ctx = |error| WriteError::wanted(want, error);
        let Some(booking_id) = entry.booking_id else {
            return self.create(want).await;
        };
        let mut next = JournalEntry {
            person_id: want.person_id,
            event_id: want.event_id,
            start: want.start,
            end: want.end,
            minutes: want.minutes,
            note: want.note.clone(),
            state: JournalState::Updating,
            ..entry.clone()
        };
        self.store
            .put_journal(&next)
            .await
            .map_err(|e| ctx(e.into()))?;
        match self
            .productive
            .update_booking(booking_id, &draft(want))
            .await
        {
            Ok(booking) => {
                next.state = JournalState::Synced;
                next.approved = booking.approved;
                self.store
                    .put_journal(&next)
                    .await
                    .map_err(|e| ctx(e.into()))?;
                tracing::info!(action = "update", personio_id = want.key.period_id, part = want.key.part, email = %want.email, start = %want.start, end = %want.end, minutes = want.minutes, booking_id, "booking written");
                if !booking.approved {
                    return self
                        .approve(&next)
                        .await
                        .map(|approved| [vec![Wrote::Updated], approved].concat())
                        .map_err(|e| e.of(want).after(Wrote::Updated));
                }
                Ok(vec![Wrote::Updated])
            }
            Err(api) if api.status() == Some(404) => {
                tracing::warn!(
                    booking_id,
                    "owned booking is gone from Productive; creating it again"
                );
                self.create(want).await
            }
            Err(api) => Err(ctx(SyncError::Productive(api))),
        }
    }

    async fn delete(&self, entry: &JournalEntry) -> Result<Vec<Wrote>, WriteError> {
        let ctx = |error| WriteError::recorded(entry, error);
        // An interrupted create of a booking no longer wanted: delete it if it exists. (A
        // refused one never existed.)
        let booking_id = match entry.booking_id {
            Some(id) => Some(id),
            None if entry.state == JournalState::Refused => None,
            None => self.find_marked(entry).await.map_err(ctx)?.map(|b| b.id),
        };
        if let Some(booking_id) = booking_id {
            let intent = JournalEntry {
                state: JournalState::Deleting,
                booking_id: Some(booking_id),
                ..entry.clone()
            };
            self.store
                .put_journal(&intent)
                .await
                .map_err(|e| ctx(e.into()))?;
            self.productive
                .delete_booking(booking_id)
                .await
                .map_err(|e| ctx(SyncError::Productive(e)))?;
            tracing::info!(action = "delete", personio_id = entry.key.period_id, part = entry.key.part, start = %entry.start, end = %entry.end, booking_id, "booking deleted");
        }
        self.store
            .remove_journal(entry.key)
            .await
            .map_err(|e| ctx(e.into()))?;
        Ok(vec![Wrote::Deleted])
    }

    /// Deletes a second booking marked for a key the journal already owns (left by a write whose
    /// answer was lost before the journal existed, say). The owned one is untouched.
    async fn delete_duplicate(&self, b: &Booking) -> Result<Vec<Wrote>, WriteError> {
        let key = b
            .note
            .as_deref()
            .and_then(key_from_note)
            .unwrap_or(BookingKey {
                period_id: 0,
                part: 0,
            });
        self.productive.delete_booking(b.id).await.map_err(|e| {
            WriteError::new(
                key,
                b.person_id,
                None,
                b.started_on,
                b.ended_on,
                SyncError::Productive(e),
            )
        })?;
        tracing::info!(
            action = "delete_duplicate",
            personio_id = key.period_id,
            part = key.part,
            booking_id = b.id,
            "duplicate booking deleted"
        );
        Ok(vec![Wrote::Deleted])
    }

    /// Approves a booking Productive holds pending (Personio already approved the absence).
    async fn approve(&self, entry: &JournalEntry) -> Result<Vec<Wrote>, WriteError> {
        let ctx = |error| WriteError::recorded(entry, error);
        let booking_id = entry.booking_id.unwrap_or_default();
        let steps = self
            .productive
            .approval_statuses(booking_id)
            .await
            .map_err(|e| ctx(SyncError::Productive(e)))?;
        for step in steps.iter().filter(|s| !s.approved && !s.rejected) {
            self.productive
                .approve(step.id, "Approved in Personio")
                .await
                .map_err(|e| ctx(SyncError::Productive(e)))?;
        }
        let mut approved = entry.clone();
        approved.approved = true;
        self.store
            .put_journal(&approved)
            .await
            .map_err(|e| ctx(e.into()))?;
        tracing::info!(
            action = "approve",
            personio_id = entry.key.period_id,
            part = entry.key.part,
            booking_id,
            "booking approved"
        );
        Ok(vec![Wrote::Approved])
    }
}

impl SyncRunner for Syncer {
    fn run(
        &self,
        trigger: Trigger,
        cancel: CancellationToken,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            // Failures are logged and recorded by `Syncer::run`; the daemon carries on.
            let _ = Syncer::run(
                self,
                RunOptions {
                    trigger,
                    dry_run: false,
                    force_full: false,
                },
                cancel,
            )
            .await;
        })
    }
}

enum Action<'a> {
    Create(&'a DesiredBooking),
    Update(&'a JournalEntry, &'a DesiredBooking),
    Delete(&'a JournalEntry),
    DeleteDuplicate(&'a Booking),
    Approve(&'a JournalEntry),
}

/// A write that failed, with the record it was for.
struct WriteError {
    key: BookingKey,
    /// What the action wrote before this failure (a create whose approval failed).
    wrote: Vec<Wrote>,
    person_id: i64,
    email: Option<String>,
    dates: String,
    error: SyncError,
}

impl WriteError {
    fn new(
        key: BookingKey,
        person_id: i64,
        email: Option<String>,
        start: NaiveDate,
        end: NaiveDate,
        error: SyncError,
    ) -> Self {
        let dates = if start == end {
            start.to_string()
        } else {
            format!("{start}..{end}")
        };
        Self {
            key,
            wrote: Vec::new(),
            person_id,
            email,
            dates,
            error,
        }
    }

    fn wanted(want: &DesiredBooking, error: SyncError) -> Self {
        Self::new(
            want.key,
            want.person_id,
            Some(want.email.clone()),
            want.start,
            want.end,
            error,
        )
    }

    fn after(self, wrote: Wrote) -> Self {
        Self {
            wrote: vec![wrote],
            ..self
        }
    }

    /// Names the absence the failed write was for by its Personio email.
    fn of(self, want: &DesiredBooking) -> Self {
        Self {
            email: Some(want.email.clone()),
            ..self
        }
    }

    fn recorded(entry: &JournalEntry, error: SyncError) -> Self {
        Self::new(
            entry.key,
            entry.person_id,
            None,
            entry.start,
            entry.end,
            error,
        )
    }
}

/// A write whose request may have reached Productive although no answer came back.
fn is_ambiguous(error: &ApiError) -> bool {
    matches!(error, ApiError::Transport { .. } | ApiError::Decode { .. })
        || error.status().is_some_and(|s| s >= 500)
}

fn draft(want: &DesiredBooking) -> BookingDraft {
    BookingDraft {
        person_id: want.person_id,
        event_id: want.event_id,
        started_on: want.start,
        ended_on: want.end,
        minutes_per_day: want.minutes,
        note: want.note.clone(),
    }
}

/// Takes Productive's current values into a journal entry.
fn adopt(entry: &mut JournalEntry, b: &Booking) {
    entry.booking_id = Some(b.id);
    entry.person_id = b.person_id;
    entry.event_id = b.event_id.unwrap_or(entry.event_id);
    entry.start = b.started_on;
    entry.end = b.ended_on;
    entry.minutes = b.minutes_per_day.unwrap_or_default();
    entry.note = b.note.clone().unwrap_or_default();
    entry.approved = b.approved;
    entry.state = JournalState::Synced;
    entry.error = None;
}

/// The event a Personio type becomes: unpaid for unpaid categories, remote work (always unpaid)
/// for offsite work, otherwise paid time off.
pub fn event_draft(t: &AbsenceType) -> EventDraft {
    let category = t.category.as_deref().unwrap_or_default();
    let kind = if category == "offsite_work" {
        EventKind::RemoteWork
    } else {
        EventKind::TimeOff
    };
    let unpaid = kind == EventKind::RemoteWork
        || category.starts_with("unpaid")
        || category == "unexcused_absence";
    EventDraft {
        name: t.name.clone(),
        kind,
        paid: !unpaid,
    }
}

/// Merges a read into the cached periods. A full read (`full_except` holds the ids of records it
/// could not read) is the whole truth: what it lacks is gone. An incremental read (`None`) only
/// brings changes. Returns the merged set, the ids of the periods that changed (by id, not
/// copies: on a first sync that is all of them) and the ids of those gone.
fn merge_periods(
    cached: Vec<AbsencePeriod>,
    read: Vec<AbsencePeriod>,
    full_except: Option<&HashSet<i64>>,
) -> (Vec<AbsencePeriod>, HashSet<i64>, Vec<i64>) {
    let mut merged: BTreeMap<i64, AbsencePeriod> = cached.into_iter().map(|p| (p.id, p)).collect();
    let seen: HashSet<i64> = read.iter().map(|p| p.id).collect();
    let removals: Vec<i64> = match full_except {
        Some(unreadable) => merged
            .keys()
            .copied()
            .filter(|id| !seen.contains(id) && !unreadable.contains(id))
            .collect(),
        None => Vec::new(),
    };
    for id in &removals {
        merged.remove(id);
    }
    let mut changed = HashSet::new();
    for p in read {
        if merged.get(&p.id) != Some(&p) {
            changed.insert(p.id);
            merged.insert(p.id, p);
        }
    }
    (merged.into_values().collect(), changed, removals)
}

/// The oldest active event with this name, compared as people read names (any case, trimmed).
fn named<'e>(active: &HashMap<i64, &'e Event>, name: &str) -> Option<&'e Event> {
    active
        .values()
        .copied()
        .filter(|e| e.name.trim().eq_ignore_ascii_case(name.trim()))
        .min_by_key(|e| e.id)
}

/// The periods with the given ids.
fn only<'a>(
    periods: &'a [AbsencePeriod],
    ids: &'a HashSet<i64>,
) -> impl Iterator<Item = &'a AbsencePeriod> + Send + 'a {
    periods.iter().filter(|p| ids.contains(&p.id))
}

/// Builds the issue records of one run.
struct Issues<'a> {
    run_id: &'a str,
    now: DateTime<Utc>,
}

impl Issues<'_> {
    fn make(
        &self,
        source: &str,
        kind: &str,
        id: Option<String>,
        email: Option<String>,
        dates: Option<String>,
        reason: String,
    ) -> Issue {
        Issue {
            // Dates tell apart the parts of one period.
            key: format!(
                "{source}:{}:{}",
                id.clone().unwrap_or_else(|| reason.clone()),
                dates.clone().unwrap_or_default()
            ),
            source: source.to_string(),
            kind: kind.to_string(),
            personio_id: id,
            email,
            dates,
            reason,
            run_id: self.run_id.to_string(),
            since: self.now,
        }
    }

    fn failed(
        &self,
        source: &str,
        id: Option<String>,
        email: Option<String>,
        dates: Option<String>,
        reason: String,
    ) -> Issue {
        self.make(source, "failed", id, email, dates, reason)
    }

    /// Logs a failed write and turns it into its issue record. A write that knows no Personio
    /// email (a delete, an approval) names the person by their Productive email.
    fn write_failure(&self, failed: WriteError, emails: &HashMap<i64, String>) -> Issue {
        let reason = error_chain(&failed.error);
        let email = failed
            .email
            .or_else(|| emails.get(&failed.person_id).cloned());
        tracing::warn!(personio_id = failed.key.period_id, part = failed.key.part, email = email.as_deref().unwrap_or("-"), dates = %failed.dates, error = %reason, "write failed");
        self.make(
            "writes",
            "failed",
            Some(failed.key.period_id.to_string()),
            email,
            Some(failed.dates),
            reason,
        )
    }

    fn unreadable(&self, source: &str, records: &[RejectedRecord]) -> Vec<Issue> {
        records
            .iter()
            .map(|r| {
                self.failed(
                    source,
                    r.id.clone(),
                    None,
                    None,
                    format!("unreadable record: {}", r.reason),
                )
            })
            .collect()
    }

    /// Logs a skipped record and counts it by reason.
    fn log_skip(&self, skip: &Skip, counts: &mut Counts) {
        tracing::info!(personio_id = %skip.personio_id, email = %skip.email, dates = %skip.dates(), reason = %skip.reason, "skipped");
        *counts.skipped.entry(skip.reason.clone()).or_default() += 1;
    }

    /// The issue records of skipped records.
    fn skips<'s>(
        &'s self,
        source: &'s str,
        skips: &'s [Skip],
    ) -> impl Iterator<Item = Issue> + Send + 's {
        skips.iter().map(move |skip| self.skip(source, skip))
    }

    fn skip(&self, source: &str, skip: &Skip) -> Issue {
        self.make(
            source,
            "skipped",
            Some(skip.personio_id.clone()),
            Some(skip.email.clone()),
            Some(skip.dates()),
            skip.reason.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(id: i64, end: &str) -> AbsencePeriod {
        AbsencePeriod {
            id,
            employee_id: 1,
            email: "a@b.c".into(),
            type_id: 1,
            type_name: "V".into(),
            status: PeriodStatus::Approved,
            start: "2026-12-01".parse().unwrap(),
            end: end.parse().unwrap(),
            half_day_start: false,
            half_day_end: false,
        }
    }

    #[test]
    fn full_reads_replace_the_cache_and_incremental_reads_patch_it() {
        let cached = vec![period(1, "2026-12-01"), period(2, "2026-12-02")];
        let (merged, changed, removals) = merge_periods(
            cached.clone(),
            vec![period(2, "2026-12-03")],
            Some(&HashSet::new()),
        );
        assert_eq!(merged, vec![period(2, "2026-12-03")]);
        assert_eq!(changed, HashSet::from([2]));
        assert_eq!(removals, vec![1]);
        let (merged, _, removals) =
            merge_periods(cached.clone(), vec![], Some(&HashSet::from([1])));
        assert_eq!(
            removals,
            vec![2],
            "an unreadable record is not taken for deleted"
        );
        assert_eq!(merged, vec![period(1, "2026-12-01")]);
        let (merged, changed, removals) = merge_periods(
            cached,
            vec![period(3, "2026-12-05"), period(1, "2026-12-01")],
            None,
        );
        assert_eq!(
            merged.iter().map(|p| p.id).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(
            changed,
            HashSet::from([3]),
            "unchanged periods are not rewritten"
        );
        assert!(removals.is_empty());
    }

    #[test]
    fn event_kinds_follow_personio_categories() {
        use crate::domain::AbsenceUnit;
        let t = |category: &str| AbsenceType {
            id: 1,
            name: "X".into(),
            category: Some(category.into()),
            unit: AbsenceUnit::Day,
        };
        assert_eq!(
            event_draft(&t("paid_vacation")),
            EventDraft {
                name: "X".into(),
                kind: EventKind::TimeOff,
                paid: true
            }
        );
        assert_eq!(
            event_draft(&t("unpaid_vacation")),
            EventDraft {
                name: "X".into(),
                kind: EventKind::TimeOff,
                paid: false
            }
        );
        assert_eq!(
            event_draft(&t("offsite_work")),
            EventDraft {
                name: "X".into(),
                kind: EventKind::RemoteWork,
                paid: false
            }
        );
        assert!(
            event_draft(&AbsenceType {
                category: None,
                ..t("")
            })
            .paid
        );
    }
}
