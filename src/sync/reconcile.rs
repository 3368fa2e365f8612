//! Resolving the journal against what Productive holds. [`reconcile`] is pure: from the journal
//! and the bookings read back it computes the resolved journal, the duplicates and the journal
//! writes; [`Syncer::resolve`] is its I/O shell.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;

use crate::domain::bookings::key_from_note;
use crate::domain::{Booking, BookingKey};
use crate::domain::{JournalEntry, JournalState};
use crate::productive::BookingFilter;

use super::error::SyncError;
use super::events::EventMap;
use super::run::Syncer;
use crate::domain::Counts;

/// A change to the stored journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalWrite {
    Put(JournalEntry),
    Remove(BookingKey),
}

/// The journal as Productive shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub journal: Vec<JournalEntry>,
    /// Bookings carrying this sync's marker for an absence the journal holds no booking for: the
    /// sync did not create them (or its state was lost), so they are left alone and the absence
    /// is not booked a second time.
    pub unowned: Vec<Booking>,
    /// What to store so that the journal says what was learnt (nothing for an unchanged
    /// organisation).
    pub writes: Vec<JournalWrite>,
    /// Bookings found by their marker and taken into the journal.
    pub adopted: usize,
    /// Owned bookings edited or deleted in Productive, to be put back by the plan.
    pub drift_repaired: usize,
}

/// Brings the journal in line with `actual`, every booking on the sync's events that ends on or
/// after `read_from`: adopts the booking of an interrupted create (found by its marker, and only
/// when person, event and dates are those of the intent), forgets bookings deleted by hand so they
/// are created again, and takes edited values so the plan puts them back. Only bookings whose id
/// the journal holds are owned: any other marked booking (a copied note, a lost store) is never
/// adopted, changed or deleted; one for an absence without a booking is reported as unowned.
pub fn reconcile(
    mut journal: Vec<JournalEntry>,
    actual: &[Booking],
    read_from: NaiveDate,
) -> Reconciled {
    let by_id: HashMap<i64, &Booking> = actual.iter().map(|b| (b.id, b)).collect();
    let mut claimed: HashSet<i64> = journal
        .iter()
        .filter_map(|e| e.booking_id)
        .filter(|id| by_id.contains_key(id))
        .collect();
    let mut marked: BTreeMap<BookingKey, Vec<&Booking>> = BTreeMap::new();
    for b in actual {
        if let Some(key) = b.note.as_deref().and_then(key_from_note) {
            marked.entry(key).or_default().push(b);
        }
    }
    let take_intent = |entry: &JournalEntry, claimed: &mut HashSet<i64>| {
        let b = *marked
            .get(&entry.key)?
            .iter()
            .find(|b| !claimed.contains(&b.id) && is_intent(entry, b))?;
        claimed.insert(b.id);
        Some(b)
    };
    let mut out = Reconciled::default();
    // Resolved in place: a second copy of the journal is what a large organisation pays for.
    let mut finished_deletes = HashSet::new();
    for entry in journal.iter_mut() {
        let recorded = entry.clone();
        let current = entry.booking_id.and_then(|id| by_id.get(&id).copied());
        // Bookings ending before `read_from` were not read: nothing is known about them.
        let was_read = entry.shape.end >= read_from;
        match (entry.state, current) {
            (JournalState::Deleting, None) if was_read => {
                out.writes.push(JournalWrite::Remove(entry.key));
                finished_deletes.insert(entry.key);
                continue;
            }
            (JournalState::Deleting | JournalState::Refused, _) => {}
            (JournalState::Creating, _) => {
                if let Some(b) = take_intent(entry, &mut claimed) {
                    out.adopted += 1;
                    adopt(entry, b);
                }
            }
            (state, Some(b)) => {
                adopt(entry, b);
                let edited = entry.shape != recorded.shape || entry.note != recorded.note;
                if state == JournalState::Synced && edited {
                    tracing::warn!(
                        personio_id = entry.key.period_id,
                        part = entry.key.part,
                        booking_id = b.id,
                        "owned booking was edited in Productive; restoring it"
                    );
                    out.drift_repaired += 1;
                }
                // An interrupted update stays planned as an update.
                entry.state = state;
            }
            (_, None) if !was_read => {}
            // Gone: the plan creates it again (never by taking over another marked booking).
            (_, None) => {
                if let Some(booking_id) = entry.booking_id.take() {
                    tracing::warn!(
                        personio_id = entry.key.period_id,
                        part = entry.key.part,
                        booking_id,
                        "owned booking was deleted in Productive; creating it again"
                    );
                    out.drift_repaired += 1;
                }
            }
        }
        // Only what Productive taught us is written back (a forgotten booking is not stored:
        // its create journals an intent first).
        if entry.state == JournalState::Synced && entry.booking_id.is_some() && *entry != recorded {
            out.writes.push(JournalWrite::Put(entry.clone()));
        }
    }
    journal.retain(|e| !finished_deletes.contains(&e.key));

    let owned: HashSet<BookingKey> = journal
        .iter()
        .filter(|e| e.booking_id.is_some())
        .map(|e| e.key)
        .collect();
    out.unowned = marked
        .iter()
        .filter(|(key, _)| !owned.contains(key))
        .flat_map(|(_, found)| found.iter().filter(|b| !claimed.contains(&b.id)))
        .map(|b| (*b).clone())
        .collect();
    out.journal = journal;
    out
}

/// Whether a marked booking is the one an interrupted create of `entry` would have made.
fn is_intent(entry: &JournalEntry, b: &Booking) -> bool {
    b.person_id == entry.shape.person_id
        && b.event_id == Some(entry.shape.event)
        && b.started_on == entry.shape.start
        && b.ended_on == entry.shape.end
}

/// Takes Productive's current values into a journal entry.
pub(super) fn adopt(entry: &mut JournalEntry, b: &Booking) {
    entry.booking_id = Some(b.id);
    entry.shape.person_id = b.person_id;
    entry.shape.event = b.event_id.unwrap_or(entry.shape.event);
    entry.shape.start = b.started_on;
    entry.shape.end = b.ended_on;
    entry.shape.minutes = b.minutes_per_day.unwrap_or_default();
    entry.note = b.note.clone().unwrap_or_default();
    entry.approved = b.approved;
    entry.rejected = b.rejected;
    entry.state = JournalState::Synced;
    entry.error = None;
}

impl Syncer {
    /// The journal resolved against Productive. A full run reads every booking on the sync's
    /// events from `read_from` on and reconciles; an incremental run only looks up the bookings
    /// of interrupted creates by their marker.
    pub(super) async fn resolve(
        &self,
        journal: Vec<JournalEntry>,
        events: &EventMap,
        read_from: Option<NaiveDate>,
        dry: bool,
        counts: &mut Counts,
    ) -> Result<Reconciled, SyncError> {
        let mut resolved = match read_from {
            Some(read_from) => {
                let actual = self.owned_bookings(events, &journal, read_from).await?;
                reconcile(journal, &actual, read_from)
            }
            None => self.resolve_creates(journal).await?,
        };
        counts.adopted += resolved.adopted;
        counts.drift_repaired += resolved.drift_repaired;
        let writes = std::mem::take(&mut resolved.writes);
        if !dry {
            for write in writes {
                match write {
                    JournalWrite::Put(entry) => self.store.put_journal(&entry).await?,
                    JournalWrite::Remove(key) => self.store.remove_journal(key).await?,
                }
            }
        }
        Ok(resolved)
    }

    /// Every booking on the types' events and on the events the journal's bookings are on: a
    /// type moved to another event by a rule, or excluded, still has its bookings on the old one,
    /// and not reading them would take them for deleted by hand (and book them again).
    async fn owned_bookings(
        &self,
        events: &EventMap,
        journal: &[JournalEntry],
        read_from: NaiveDate,
    ) -> Result<Vec<Booking>, SyncError> {
        // The client drops repeated ids.
        let mut event_ids = events.existing();
        event_ids.extend(journal.iter().map(|e| e.shape.event));
        if event_ids.is_empty() {
            return Ok(Vec::new());
        }
        let filter = BookingFilter {
            event_ids,
            after: Some(read_from),
            ..Default::default()
        };
        Ok(self
            .productive
            .bookings(&filter)
            .await
            .map_err(SyncError::Productive)?
            .items)
    }

    async fn resolve_creates(
        &self,
        mut journal: Vec<JournalEntry>,
    ) -> Result<Reconciled, SyncError> {
        let mut out = Reconciled::default();
        for entry in journal.iter_mut() {
            if entry.state != JournalState::Creating {
                continue;
            }
            if let Some(b) = self.find_marked(entry).await? {
                if is_intent(entry, &b) {
                    out.adopted += 1;
                    adopt(entry, &b);
                    out.writes.push(JournalWrite::Put(entry.clone()));
                }
            }
        }
        out.journal = journal;
        Ok(out)
    }

    /// The booking Productive holds with this entry's marker, on its person and dates.
    pub(super) async fn find_marked(
        &self,
        entry: &JournalEntry,
    ) -> Result<Option<Booking>, SyncError> {
        let filter = BookingFilter {
            person_ids: vec![entry.shape.person_id],
            after: Some(entry.shape.start),
            before: Some(entry.shape.end),
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::BookingShape;
    use proptest::prelude::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, day).unwrap()
    }

    fn key(period_id: i64) -> BookingKey {
        BookingKey { period_id, part: 0 }
    }

    /// The note the sync writes, spelled out here rather than taken from the code under test.
    fn marker(period_id: i64) -> String {
        format!("Synced from Personio · absence {period_id}")
    }

    fn entry(period_id: i64, state: JournalState, booking_id: Option<i64>) -> JournalEntry {
        JournalEntry {
            key: key(period_id),
            shape: BookingShape {
                person_id: 1,
                event: 7,
                start: d(10),
                end: d(11),
                minutes: 480,
            },
            note: marker(period_id),
            booking_id,
            state,
            approved: true,
            rejected: false,
            error: None,
        }
    }

    fn booking(id: i64, period_id: i64) -> Booking {
        Booking {
            id,
            person_id: 1,
            event_id: Some(7),
            started_on: d(10),
            ended_on: d(11),
            minutes_per_day: Some(480),
            note: Some(marker(period_id)),
            approved: true,
            rejected: false,
            canceled: false,
        }
    }

    #[test]
    fn an_unchanged_organisation_needs_no_journal_write() {
        let journal = vec![entry(1, JournalState::Synced, Some(100))];
        let out = reconcile(journal.clone(), &[booking(100, 1)], d(1));
        assert_eq!(out.journal, journal);
        assert!(out.writes.is_empty() && out.unowned.is_empty());
        assert_eq!((out.adopted, out.drift_repaired), (0, 0));
    }

    #[test]
    fn edited_and_deleted_owned_bookings_are_repaired() {
        let journal = vec![
            entry(1, JournalState::Synced, Some(100)),
            entry(2, JournalState::Synced, Some(200)),
        ];
        let edited = Booking {
            minutes_per_day: Some(240),
            ..booking(100, 1)
        };
        let out = reconcile(journal, &[edited], d(1));
        assert_eq!(out.drift_repaired, 2);
        assert_eq!(out.journal[0].shape.minutes, 240, "the plan puts 480 back");
        assert_eq!(out.journal[1].booking_id, None, "planned as a create");
        assert_eq!(
            out.writes,
            vec![JournalWrite::Put(out.journal[0].clone())],
            "a forgotten booking is not stored as synced"
        );
    }

    #[test]
    fn an_interrupted_create_adopts_only_the_booking_it_would_have_made() {
        let creating = entry(1, JournalState::Creating, None);
        let other_person = Booking {
            person_id: 2,
            ..booking(100, 1)
        };
        let out = reconcile(
            vec![creating.clone()],
            std::slice::from_ref(&other_person),
            d(1),
        );
        assert_eq!(out.journal[0], creating, "a copied marker is not an intent");
        let out = reconcile(vec![creating], &[other_person, booking(101, 1)], d(1));
        assert_eq!(out.journal[0].booking_id, Some(101));
        assert_eq!(out.journal[0].state, JournalState::Synced);
        assert_eq!(out.adopted, 1);
    }

    #[test]
    fn finished_deletes_leave_and_unread_entries_stay() {
        let deleting = entry(1, JournalState::Deleting, Some(100));
        let mut old = entry(2, JournalState::Synced, Some(200));
        old.shape.end = d(2);
        let out = reconcile(vec![deleting, old.clone()], &[], d(5));
        assert_eq!(
            out.journal,
            vec![old],
            "ends before the read: nothing is known"
        );
        assert_eq!(out.writes, vec![JournalWrite::Remove(key(1))]);
    }

    #[test]
    fn marked_bookings_the_journal_does_not_own_are_never_taken() {
        let journal = vec![
            entry(1, JournalState::Synced, Some(100)),
            entry(3, JournalState::Synced, Some(300)),
        ];
        // 101 copies the marker of an owned booking; 102 is marked for an absence the journal
        // never booked (a lost store); 300, the owned booking of absence 3, is gone and a copy
        // of its marker (103) is what remains.
        let actual = [
            booking(100, 1),
            booking(101, 1),
            booking(102, 2),
            booking(103, 3),
        ];
        let out = reconcile(journal.clone(), &actual, d(1));
        assert_eq!(out.journal[0], journal[0]);
        assert_eq!(out.adopted, 0);
        assert_eq!(
            out.journal[1].booking_id, None,
            "a deleted owned booking is created again, not replaced by a copy"
        );
        assert_eq!(out.unowned, vec![booking(102, 2), booking(103, 3)]);
    }

    fn arb_case() -> impl Strategy<Value = (Vec<JournalEntry>, Vec<Booking>)> {
        let state = prop::sample::select(vec![
            JournalState::Creating,
            JournalState::Synced,
            JournalState::Updating,
            JournalState::Deleting,
            JournalState::Refused,
        ]);
        let entries =
            prop::collection::btree_map(0i64..12, (state, prop::option::of(0i64..20)), 0..12);
        let bookings = prop::collection::btree_map(
            0i64..20,
            (prop::option::of(0i64..12), 1i64..3, 9u32..13, any::<bool>()),
            0..20,
        );
        (entries, bookings).prop_map(|(entries, bookings)| {
            let journal = entries
                .into_iter()
                .map(|(p, (state, id))| {
                    let id = (!matches!(state, JournalState::Creating | JournalState::Refused))
                        .then_some(id)
                        .flatten();
                    entry(p, state, id)
                })
                .collect();
            let actual = bookings
                .into_iter()
                .map(|(id, (period, person, start, approved))| Booking {
                    person_id: person,
                    started_on: d(start),
                    note: period.map(marker),
                    approved,
                    ..booking(id, 0)
                })
                .collect();
            (journal, actual)
        })
    }

    proptest! {
        #[test]
        fn reconciling_twice_changes_nothing((journal, actual) in arb_case()) {
            let once = reconcile(journal, &actual, d(1));
            let twice = reconcile(once.journal.clone(), &actual, d(1));
            prop_assert_eq!(&twice.journal, &once.journal);
            prop_assert!(twice.writes.is_empty(), "{:?}", twice.writes);
            prop_assert_eq!(twice.adopted, 0);
        }

        #[test]
        fn an_unrecorded_booking_is_adopted_into_an_intent_only_when_it_matches((journal, actual) in arb_case()) {
            let out = reconcile(journal.clone(), &actual, d(1));
            let recorded_ids: std::collections::HashSet<i64> =
                journal.iter().filter_map(|e| e.booking_id).collect();
            let after: HashMap<BookingKey, &JournalEntry> =
                out.journal.iter().map(|e| (e.key, e)).collect();
            for before in &journal {
                let Some(id) = after.get(&before.key).and_then(|e| e.booking_id) else { continue };
                if before.state != JournalState::Creating || recorded_ids.contains(&id) {
                    continue;
                }
                let b = actual.iter().find(|b| b.id == id).unwrap();
                prop_assert_eq!(b.note.clone(), Some(marker(before.key.period_id)));
                prop_assert_eq!(
                    (b.person_id, b.event_id, b.started_on, b.ended_on),
                    (before.shape.person_id, Some(before.shape.event), before.shape.start, before.shape.end)
                );
            }
        }
    }
}
