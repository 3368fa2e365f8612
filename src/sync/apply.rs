//! Applying the plan: journaled writes (intent before, outcome after), with bounded concurrency,
//! stopping at the next safe point once cancelled.

use std::collections::HashMap;

use chrono::NaiveDate;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::domain::{BookingDraft, BookingKey, WriteProgress};
use crate::domain::{JournalEntry, JournalState};
use crate::store::Issue;
use crate::telemetry::error_chain;

use super::desired::DesiredBooking;
use super::error::{is_ambiguous, SyncError};
use super::issues::{FailedWrite, Issues};
use super::order::{in_order_of_urgency, Action};
use super::plan::Plan;
use super::progress::Tracker;
use super::run::Syncer;
use crate::domain::Counts;

/// One write Productive carried out.
#[derive(Debug, Clone, Copy)]
enum Wrote {
    Created,
    Updated,
    Deleted,
    Approved,
}

/// A failed write and what its action wrote before it (a create whose approval failed).
struct WriteError {
    wrote: Vec<Wrote>,
    failed: FailedWrite,
}

impl WriteError {
    fn wanted(want: &DesiredBooking, error: SyncError) -> Self {
        Self::from(FailedWrite::new(
            want.key,
            want.shape.person_id,
            Some(want.email.clone()),
            (want.shape.start, want.shape.end),
            error,
        ))
    }

    fn recorded(entry: &JournalEntry, error: SyncError) -> Self {
        Self::from(recorded_failure(entry, error))
    }
}

impl From<FailedWrite> for WriteError {
    fn from(failed: FailedWrite) -> Self {
        Self {
            wrote: Vec::new(),
            failed,
        }
    }
}

/// A failure of a write that knows only the journal entry (a delete, an approval, a refusal).
pub(super) fn recorded_failure(entry: &JournalEntry, error: SyncError) -> FailedWrite {
    FailedWrite::new(
        entry.key,
        entry.shape.person_id,
        None,
        (entry.shape.start, entry.shape.end),
        error,
    )
}

/// A write that failed, as reported; a transient one is looked up and tried again.
#[derive(Debug, Clone)]
pub(super) struct Failure {
    pub issue: Issue,
    pub transient: bool,
}

impl Failure {
    pub fn permanent(issue: Issue) -> Self {
        Self {
            issue,
            transient: false,
        }
    }
}

impl Syncer {
    /// Applies the plan with bounded concurrency; stops starting new writes once cancelled.
    /// Moves the counts and returns the issues of failed writes, by booking; fails once the
    /// store is unreachable.
    pub(super) async fn apply(
        &self,
        plan: &Plan,
        issues: &Issues<'_>,
        names: &HashMap<i64, String>,
        counts: &mut Counts,
        today: NaiveDate,
        cancel: &CancellationToken,
    ) -> Result<Vec<(BookingKey, Failure)>, SyncError> {
        let actions = in_order_of_urgency(plan, today);
        let mut tracker = Tracker::new(actions.len() as u64, self.settings.progress_every);
        self.progress.set(Some(tracker.snapshot()));
        let mut actions = actions.into_iter();
        let mut in_flight = futures::stream::FuturesUnordered::new();
        let mut failed = Vec::new();
        let mut store_down = None;
        loop {
            while in_flight.len() < self.settings.write_concurrency.max(1)
                && !cancel.is_cancelled()
                && store_down.is_none()
            {
                match actions.next() {
                    Some(action) => in_flight.push(self.apply_one(action, names)),
                    None => break,
                }
            }
            let Some(result) = in_flight.next().await else {
                break;
            };
            let wrote = match result {
                Ok(wrote) => wrote,
                // The store is unreachable: no further write could record its intent first, and
                // each would wait out the pool's acquire timeout. The writes in flight finish,
                // then the run fails; the next run resolves their journal entries.
                Err(WriteError {
                    wrote,
                    failed:
                        FailedWrite {
                            error: SyncError::Store(e),
                            ..
                        },
                }) if e.is_transient() => {
                    store_down.get_or_insert(e);
                    wrote
                }
                Err(e) => {
                    let key = e.failed.key;
                    let transient = e.failed.error.is_transient()
                        || matches!(&e.failed.error, SyncError::Productive(api) if is_ambiguous(api));
                    let mut issue = issues.write_failure(e.failed, names);
                    if transient {
                        issue.reason = format!("will be tried again: {}", issue.reason);
                    }
                    failed.push((key, Failure { issue, transient }));
                    e.wrote
                }
            };
            let progress = tracker.step();
            self.progress.set(Some(tracker.snapshot()));
            if let Some(p) = progress {
                self.report_progress(issues.run_id, p);
            }
            for w in wrote {
                *match w {
                    Wrote::Created => &mut counts.created,
                    Wrote::Updated => &mut counts.updated,
                    Wrote::Deleted => &mut counts.deleted,
                    Wrote::Approved => &mut counts.approved,
                } += 1;
            }
        }
        self.progress.set(None);
        match store_down {
            Some(e) => Err(SyncError::Store(e)),
            None => Ok(failed),
        }
    }

    fn report_progress(&self, run_id: &str, p: WriteProgress) {
        tracing::info!(
            done = p.done,
            total = p.total,
            per_second = p.per_second(),
            seconds_left = p.seconds_left(),
            "writing"
        );
        // Recorded beside the writes, never awaited in the loop that drives them: while that loop
        // waited, the writes in flight would not be polled and could hold every pooled connection
        // (a deadlock until the pool times out). Progress is for people watching; a store that
        // cannot take it must not stop the writes.
        let (store, run_id) = (self.store.clone(), run_id.to_string());
        tokio::spawn(async move {
            if let Err(e) = store.set_progress(&run_id, &p).await {
                tracing::warn!(error = %error_chain(&e), "recording progress failed");
            }
        });
    }

    async fn apply_one(
        &self,
        action: Action<'_>,
        names: &HashMap<i64, String>,
    ) -> Result<Vec<Wrote>, WriteError> {
        match action {
            Action::Create(want) => self.create(want).await,
            Action::Update(entry, want) => self.update(entry, want).await,
            Action::Delete(entry) => self.delete(entry, email_of(names, entry)).await,
            Action::Approve(entry) => self.approve(entry, email_of(names, entry)).await,
        }
    }

    async fn put(&self, entry: &JournalEntry, want: &DesiredBooking) -> Result<(), WriteError> {
        self.store
            .put_journal(entry)
            .await
            .map_err(|e| WriteError::wanted(want, e.into()))
    }

    /// After a create or update: records the outcome, and approves the booking if Productive
    /// holds it pending. A failed approval still counts what was written.
    async fn written(
        &self,
        mut entry: JournalEntry,
        approved: bool,
        want: &DesiredBooking,
        wrote: Wrote,
    ) -> Result<Vec<Wrote>, WriteError> {
        entry.state = JournalState::Synced;
        entry.approved = approved;
        self.put(&entry, want).await?;
        let action = match wrote {
            Wrote::Created => "create",
            _ => "update",
        };
        log_write(action, &entry, &want.email);
        if approved {
            return Ok(vec![wrote]);
        }
        match self.approve(&entry, &want.email).await {
            Ok(more) => Ok([vec![wrote], more].concat()),
            Err(mut e) => {
                e.wrote = vec![wrote];
                e.failed.email = Some(want.email.clone());
                Err(e)
            }
        }
    }

    async fn create(&self, want: &DesiredBooking) -> Result<Vec<Wrote>, WriteError> {
        let ctx = |error| WriteError::wanted(want, error);
        let draft = draft(want).map_err(ctx)?;
        let mut entry = journaled(want.key, &draft, JournalState::Creating, None);
        self.put(&entry, want).await?;
        match self.productive.create_booking(&draft).await {
            Ok(booking) => {
                entry.booking_id = Some(booking.id);
                self.written(entry, booking.approved, want, Wrote::Created)
                    .await
            }
            // Not created, or not known to be: the next run looks again.
            Err(api) if is_ambiguous(&api) || api.is_transient() => {
                Err(ctx(SyncError::Productive(api)))
            }
            Err(api) => {
                // Refused for good: keep why, so the same create is not sent again until the
                // absence changes or the next full reconcile.
                entry.state = JournalState::Refused;
                entry.error = Some(error_chain(&api));
                self.put(&entry, want).await?;
                Err(ctx(SyncError::Productive(api)))
            }
        }
    }

    async fn update(
        &self,
        entry: &JournalEntry,
        want: &DesiredBooking,
    ) -> Result<Vec<Wrote>, WriteError> {
        let Some(booking_id) = entry.booking_id else {
            return self.create(want).await;
        };
        let draft = draft(want).map_err(|e| WriteError::wanted(want, e))?;
        let next = JournalEntry {
            approved: entry.approved,
            rejected: entry.rejected,
            ..journaled(want.key, &draft, JournalState::Updating, Some(booking_id))
        };
        self.put(&next, want).await?;
        match self.productive.update_booking(booking_id, &draft).await {
            Ok(booking) => {
                self.written(next, booking.approved, want, Wrote::Updated)
                    .await
            }
            Err(api) if api.status() == Some(404) => {
                tracing::warn!(
                    booking_id,
                    "owned booking is gone from Productive; creating it again"
                );
                self.create(want).await
            }
            Err(api) if is_ambiguous(&api) || api.is_transient() => {
                Err(WriteError::wanted(want, SyncError::Productive(api)))
            }
            Err(api) => {
                // Refused for good, like a create: not sent again until the absence changes or
                // the next full reconcile. The booking stays owned (its id is kept).
                let refused = JournalEntry {
                    state: JournalState::Refused,
                    error: Some(error_chain(&api)),
                    ..next
                };
                self.put(&refused, want).await?;
                Err(WriteError::wanted(want, SyncError::Productive(api)))
            }
        }
    }

    async fn delete(&self, entry: &JournalEntry, email: &str) -> Result<Vec<Wrote>, WriteError> {
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
            log_write("delete", &intent, email);
        }
        self.store
            .remove_journal(entry.key)
            .await
            .map_err(|e| ctx(e.into()))?;
        Ok(vec![Wrote::Deleted])
    }

    /// Records that `want` is not to be created until it changes or a full reconcile comes.
    pub(super) async fn record_refusal(
        &self,
        want: &DesiredBooking,
        reason: &str,
    ) -> Result<(), SyncError> {
        let draft = draft(want)?;
        let mut entry = journaled(want.key, &draft, JournalState::Refused, None);
        entry.error = Some(reason.to_string());
        Ok(self.store.put_journal(&entry).await?)
    }

    /// Approves a booking Productive holds pending (Personio already approved the absence).
    async fn approve(&self, entry: &JournalEntry, email: &str) -> Result<Vec<Wrote>, WriteError> {
        let ctx = |error| WriteError::recorded(entry, error);
        let booking_id = entry.booking_id.unwrap_or_default();
        let steps = self
            .productive
            .approval_statuses(booking_id)
            .await
            .map_err(|e| ctx(SyncError::Productive(e)))?;
        // Only the steps of this booking are acted on, whatever else the filter let through.
        let steps: Vec<_> = steps
            .iter()
            .filter(|s| s.booking_id == Some(booking_id))
            .collect();
        if steps.iter().any(|s| s.rejected) {
            let rejected = JournalEntry {
                approved: false,
                rejected: true,
                ..entry.clone()
            };
            self.store
                .put_journal(&rejected)
                .await
                .map_err(|e| ctx(e.into()))?;
            return Err(ctx(SyncError::Rejected(booking_id)));
        }
        for step in steps.iter().filter(|s| !s.approved) {
            self.productive
                .approve(step.id, "Approved in Personio")
                .await
                .map_err(|e| ctx(SyncError::Productive(e)))?;
        }
        let approved = JournalEntry {
            approved: true,
            ..entry.clone()
        };
        self.store
            .put_journal(&approved)
            .await
            .map_err(|e| ctx(e.into()))?;
        log_write("approve", entry, email);
        Ok(vec![Wrote::Approved])
    }
}

/// The one log line of a write Productive carried out.
fn log_write(action: &str, entry: &JournalEntry, email: &str) {
    tracing::info!(
        action,
        personio_id = entry.key.period_id,
        part = entry.key.part,
        email,
        start = %entry.shape.start,
        end = %entry.shape.end,
        minutes = entry.shape.minutes,
        booking_id = entry.booking_id,
        "booking written"
    );
}

/// The email (or name) of a journal entry's person, for logs; "-" when the person is unknown.
fn email_of<'a>(names: &'a HashMap<i64, String>, entry: &JournalEntry) -> &'a str {
    names
        .get(&entry.shape.person_id)
        .map_or("-", String::as_str)
}

/// The journal entry recording a write of `draft`.
fn journaled(
    key: BookingKey,
    draft: &BookingDraft,
    state: JournalState,
    booking_id: Option<i64>,
) -> JournalEntry {
    JournalEntry {
        key,
        shape: draft.shape,
        note: draft.note.clone(),
        booking_id,
        state,
        approved: true,
        rejected: false,
        error: None,
    }
}

/// What Productive is sent for `want`. Only a dry run plans bookings on events still to be
/// created, and a dry run writes nothing.
fn draft(want: &DesiredBooking) -> Result<BookingDraft, SyncError> {
    Ok(BookingDraft {
        shape: want
            .shape
            .with_event(want.shape.event.id().ok_or(SyncError::NoEvent)?),
        note: want.note.clone(),
    })
}
