//! Applying the plan: journaled writes (intent before, outcome after), with bounded concurrency,
//! stopping at the next safe point once cancelled.

use std::collections::HashMap;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::domain::bookings::key_from_note;
use crate::domain::{Booking, BookingDraft, BookingKey};
use crate::domain::{JournalEntry, JournalState};
use crate::store::Issue;
use crate::telemetry::error_chain;

use super::desired::DesiredBooking;
use super::error::{is_ambiguous, SyncError};
use super::issues::{FailedWrite, Issues};
use super::plan::Plan;
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

enum Action<'a> {
    Create(&'a DesiredBooking),
    Update(&'a JournalEntry, &'a DesiredBooking),
    Delete(&'a JournalEntry),
    DeleteDuplicate(&'a Booking),
    Approve(&'a JournalEntry),
}

impl Syncer {
    /// Applies the plan with bounded concurrency; stops starting new writes once cancelled.
    /// Moves the counts and returns the issues of failed writes, by booking.
    pub(super) async fn apply(
        &self,
        plan: &Plan,
        duplicates: &[Booking],
        issues: &Issues<'_>,
        names: &HashMap<i64, String>,
        counts: &mut Counts,
        cancel: &CancellationToken,
    ) -> Vec<(BookingKey, Issue)> {
        let mut actions = duplicates
            .iter()
            .map(Action::DeleteDuplicate)
            .chain(plan.deletes.iter().map(Action::Delete))
            .chain(plan.updates.iter().map(|(e, d)| Action::Update(e, d)))
            .chain(plan.creates.iter().map(Action::Create))
            .chain(plan.approvals.iter().map(Action::Approve));
        let mut in_flight = futures::stream::FuturesUnordered::new();
        let mut failed = Vec::new();
        loop {
            while in_flight.len() < self.settings.write_concurrency.max(1) && !cancel.is_cancelled()
            {
                match actions.next() {
                    Some(action) => in_flight.push(self.apply_one(action)),
                    None => break,
                }
            }
            let Some(result) = in_flight.next().await else {
                break;
            };
            let wrote = match result {
                Ok(wrote) => wrote,
                Err(e) => {
                    let key = e.failed.key;
                    let ambiguous =
                        matches!(&e.failed.error, SyncError::Productive(api) if is_ambiguous(api));
                    let mut issue = issues.write_failure(e.failed, names);
                    if ambiguous {
                        issue.reason =
                            format!("outcome unknown, resolved next run: {}", issue.reason);
                    }
                    counts.failed += 1;
                    failed.push((key, issue));
                    e.wrote
                }
            };
            for w in wrote {
                *match w {
                    Wrote::Created => &mut counts.created,
                    Wrote::Updated => &mut counts.updated,
                    Wrote::Deleted => &mut counts.deleted,
                    Wrote::Approved => &mut counts.approved,
                } += 1;
            }
        }
        failed
    }

    async fn apply_one(&self, action: Action<'_>) -> Result<Vec<Wrote>, WriteError> {
        match action {
            Action::Create(want) => self.create(want).await,
            Action::Update(entry, want) => self.update(entry, want).await,
            Action::Delete(entry) => self.delete(entry).await,
            Action::DeleteDuplicate(b) => self.delete_duplicate(b).await,
            Action::Approve(entry) => self.approve(entry).await,
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
        tracing::info!(action, personio_id = want.key.period_id, part = want.key.part, email = %want.email, start = %want.shape.start, end = %want.shape.end, minutes = want.shape.minutes, booking_id = entry.booking_id, "booking written");
        if approved {
            return Ok(vec![wrote]);
        }
        match self.approve(&entry).await {
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
            Err(api) => Err(WriteError::wanted(want, SyncError::Productive(api))),
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
            tracing::info!(action = "delete", personio_id = entry.key.period_id, part = entry.key.part, start = %entry.shape.start, end = %entry.shape.end, booking_id, "booking deleted");
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
            let dates = (b.started_on, b.ended_on);
            WriteError::from(FailedWrite::new(
                key,
                b.person_id,
                None,
                dates,
                SyncError::Productive(e),
            ))
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
        let approved = JournalEntry {
            approved: true,
            ..entry.clone()
        };
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
