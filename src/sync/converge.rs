//! Converging on the desired state within one run: resolve the journal, plan, hold a mass
//! deletion, apply; then, while writes failed transiently, resolve and apply again for just those
//! bookings, with backoff, bounded in rounds and time. Each round first resolves the journal
//! against Productive, so an ambiguous write is looked up before it is ever sent again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::bookings::key_from_note;
use crate::domain::{Booking, BookingKey, Counts};
use crate::store::Issue;

use super::apply::{recorded_failure, Failure};
use super::desired::{Desired, DesiredBooking};
use super::error::SyncError;
use super::events::EventMap;
use super::guard::hold_mass_deletes;
use super::issues::{FailedWrite, Issues};
use super::plan::{plan, Plan};
use super::run::{aged_out, read_from, Syncer};

/// How often and how long a run retries writes that failed transiently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteRetries {
    /// Rounds after the first.
    pub rounds: u32,
    /// Wait before the first retry round; doubles each round.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for WriteRetries {
    fn default() -> Self {
        Self {
            rounds: 4,
            first_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// What the rounds of one run did.
pub(super) struct Converged {
    /// The first round's plan (what `--dry-run` shows).
    pub plan: Plan,
    /// Failures still standing, by booking.
    pub failed: BTreeMap<BookingKey, Failure>,
    pub interrupted: bool,
}

/// What a round needs that stays the same across rounds.
pub(super) struct Inputs<'a> {
    pub known: &'a HashSet<i64>,
    pub events: &'a EventMap,
    pub names: &'a HashMap<i64, String>,
    pub issues: &'a Issues<'a>,
    pub full: bool,
    pub dry: bool,
    pub allow_mass_delete: bool,
}

impl Syncer {
    pub(super) async fn converge(
        &self,
        input: Inputs<'_>,
        want: &mut Desired,
        window: &crate::domain::window::Window,
        counts: &mut Counts,
        cancel: &CancellationToken,
    ) -> Result<Converged, SyncError> {
        let mut failed: BTreeMap<BookingKey, Failure> = BTreeMap::new();
        let mut first_plan = None;
        let mut retry: Option<HashSet<BookingKey>> = None;
        let mut backoff = self.settings.write_retries.first_backoff;
        for round in 0..=self.settings.write_retries.rounds {
            if let Some(keys) = &retry {
                tracing::info!(
                    round,
                    writes = keys.len(),
                    backoff_ms = backoff.as_millis() as u64,
                    "retrying writes that failed transiently"
                );
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = cancel.cancelled() => break,
                }
                backoff = (backoff * 2).min(self.settings.write_retries.max_backoff);
            }
            // Only the first round reads bookings back and retries refusals; later rounds only
            // finish what failed in the round before.
            let full = input.full && round == 0;
            let journal = self.store.journal().await?;
            // In place: a copy of the desired state is what a large organisation pays for.
            want.keep.extend(aged_out(&journal, input.known, window));
            let read_from = full.then(|| read_from(want, &journal, window));
            let resolved = self
                .resolve(journal, input.events, read_from, input.dry, counts)
                .await?;
            let mut plan = plan(want, &resolved.journal, full);
            if let Some(keys) = &retry {
                plan.retain(|key| keys.contains(&key));
            }
            if !input.allow_mass_delete {
                if let Some(held) =
                    hold_mass_deletes(&mut plan, &resolved.journal, self.settings.mass_delete)
                {
                    self.log_hold(held);
                    counts.mass_delete_held = Some(held);
                }
            }
            if round == 0 {
                counts.unchanged = plan.unchanged;
                let refused = plan.refused.iter().map(|e| {
                    let reason = e.error.clone().unwrap_or_default();
                    (e, SyncError::Refused(reason))
                });
                let rejected = plan.rejected.iter().map(|e| {
                    let id = e.booking_id.unwrap_or_default();
                    (e, SyncError::Rejected(id))
                });
                for (entry, error) in refused.chain(rejected) {
                    let mut f = recorded_failure(entry, error);
                    f.email = want.bookings.get(&entry.key).map(|w| w.email.clone());
                    let issue = input.issues.write_failure(f, input.names);
                    failed.insert(entry.key, Failure::permanent(issue));
                }
            }
            for (held, booking_id) in hold_unowned(&mut plan, &resolved.unowned) {
                let reason = unowned_reason(booking_id);
                if !input.dry {
                    self.record_refusal(&held, &reason).await?;
                }
                let f = FailedWrite::new(
                    held.key,
                    held.shape.person_id,
                    Some(held.email.clone()),
                    held.shape.days(),
                    SyncError::Refused(reason),
                );
                let issue = input.issues.write_failure(f, input.names);
                failed.insert(held.key, Failure::permanent(issue));
            }
            if input.dry {
                counts.planned_creates = plan.creates.len();
                counts.planned_updates = plan.updates.len();
                counts.planned_deletes = plan.deletes.len();
                first_plan = Some(plan);
                break;
            }
            let attempted = plan.keys();
            let round_failed = self
                .apply(
                    &plan,
                    input.issues,
                    input.names,
                    counts,
                    window.today,
                    cancel,
                )
                .await?;
            failed.retain(|key, _| !attempted.contains(key));
            failed.extend(round_failed);
            first_plan.get_or_insert(plan);
            let transient: HashSet<BookingKey> = failed
                .iter()
                .filter(|(_, f)| f.transient)
                .map(|(k, _)| *k)
                .collect();
            if transient.is_empty() || cancel.is_cancelled() {
                break;
            }
            retry = Some(transient);
        }
        // Added to what earlier phases counted (an event that could not be created).
        counts.failed += failed.len();
        counts.failed_transient += failed.values().filter(|f| f.transient).count();
        Ok(Converged {
            plan: first_plan.unwrap_or_default(),
            failed,
            interrupted: cancel.is_cancelled(),
        })
    }

    fn log_hold(&self, held: crate::domain::MassDeleteHold) {
        tracing::error!(
            would_delete = held.would_delete,
            owned = held.owned,
            share = self.settings.mass_delete.share,
            min = self.settings.mass_delete.min,
            "mass deletion held: this run would delete more of the synced bookings than \
             sync.mass_delete_share allows, so it deletes none (creates and updates go on); \
             check that the Personio credential still sees everyone, then run \
             `sync --allow-mass-delete` once"
        );
    }
}

/// Takes out of `plan` the creates of absences for which Productive already holds a booking
/// with this sync's marker that the sync does not own, so that none is booked twice.
fn hold_unowned(plan: &mut Plan, unowned: &[Booking]) -> Vec<(DesiredBooking, i64)> {
    let found: HashMap<BookingKey, i64> = unowned
        .iter()
        .filter_map(|b| Some((b.note.as_deref().and_then(key_from_note)?, b.id)))
        .collect();
    let (held, creates) = std::mem::take(&mut plan.creates)
        .into_iter()
        .partition::<Vec<_>, _>(|w| found.contains_key(&w.key));
    plan.creates = creates;
    held.into_iter()
        .map(|w| {
            let id = found[&w.key];
            (w, id)
        })
        .collect()
}

fn unowned_reason(booking_id: i64) -> String {
    format!(
        "Productive already holds booking {booking_id} with this absence's marker, and this \
         sync's state does not record creating it, so the absence is not booked a second time. \
         If the state store was lost or replaced, restore it; if booking {booking_id} was made \
         by hand, delete it or take the marker out of its note"
    )
}

/// Issues of the failures, for the store.
pub(super) fn failure_issues(failed: &BTreeMap<BookingKey, Failure>) -> Vec<Issue> {
    failed.values().map(|f| f.issue.clone()).collect()
}
