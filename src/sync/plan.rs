//! The plan: a pure diff of the desired bookings against the journal of bookings the sync owns.

use crate::domain::{BookingKey, JournalEntry, JournalState};

use super::desired::{Desired, DesiredBooking};
use super::events::EventRef;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub creates: Vec<DesiredBooking>,
    pub updates: Vec<(JournalEntry, DesiredBooking)>,
    pub deletes: Vec<JournalEntry>,
    /// Owned bookings that match but still wait for approval in Productive.
    pub approvals: Vec<JournalEntry>,
    /// Creates Productive refused before and that nothing has changed since: not retried until
    /// the absence changes or a full reconcile comes (a 4xx does not pass by itself).
    pub refused: Vec<JournalEntry>,
    /// Owned bookings an approver rejected in Productive: left as they are, reported.
    pub rejected: Vec<JournalEntry>,
    pub unchanged: usize,
}

impl Plan {
    pub fn writes(&self) -> usize {
        self.creates.len() + self.updates.len() + self.deletes.len() + self.approvals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.writes() == 0
    }

    /// The bookings this plan writes.
    pub fn keys(&self) -> std::collections::HashSet<BookingKey> {
        let entries = self.deletes.iter().chain(&self.approvals).map(|e| e.key);
        let wants = self
            .creates
            .iter()
            .chain(self.updates.iter().map(|(_, w)| w));
        entries.chain(wants.map(|w| w.key)).collect()
    }

    /// Keeps only the writes of the bookings `keep` accepts.
    pub fn retain(&mut self, keep: impl Fn(BookingKey) -> bool) {
        self.creates.retain(|w| keep(w.key));
        self.updates.retain(|(_, w)| keep(w.key));
        self.deletes.retain(|e| keep(e.key));
        self.approvals.retain(|e| keep(e.key));
    }
}

/// Whether the recorded booking already is what is wanted.
pub fn matches(entry: &JournalEntry, want: &DesiredBooking) -> bool {
    entry.shape.with_event(EventRef::Id(entry.shape.event)) == want.shape && entry.note == want.note
}

/// Diffs `desired` against `journal`. The journal must be resolved first: entries still in
/// `Creating` have no known booking and are planned as creates. Refused creates are planned again
/// only with `retry_refused` or when what is wanted changed.
pub fn plan(desired: &Desired, journal: &[JournalEntry], retry_refused: bool) -> Plan {
    let mut out = Plan::default();
    let recorded: std::collections::HashMap<_, _> = journal.iter().map(|e| (e.key, e)).collect();
    for want in desired.bookings.values() {
        match recorded.get(&want.key) {
            None => out.creates.push(want.clone()),
            Some(entry)
                if entry.state == JournalState::Refused
                    && !retry_refused
                    && matches(entry, want) =>
            {
                out.refused.push((*entry).clone())
            }
            Some(entry) if entry.state == JournalState::Creating || entry.booking_id.is_none() => {
                out.creates.push(want.clone())
            }
            Some(entry) if entry.state == JournalState::Synced && matches(entry, want) => {
                if entry.rejected {
                    out.rejected.push((*entry).clone());
                } else if entry.approved {
                    out.unchanged += 1;
                } else {
                    out.approvals.push((*entry).clone());
                }
            }
            Some(entry) => out.updates.push(((*entry).clone(), want.clone())),
        }
    }
    for entry in journal {
        if desired.bookings.contains_key(&entry.key) {
            continue;
        }
        // An interrupted delete is finished even if the period is now left alone.
        let kept =
            desired.keep.contains(&entry.key.period_id) && entry.state != JournalState::Deleting;
        if !kept {
            out.deletes.push(entry.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::BookingShape;
    use chrono::NaiveDate;
    use proptest::prelude::*;

    fn want(period_id: i64, part: i64, minutes: i64) -> DesiredBooking {
        let key = BookingKey { period_id, part };
        DesiredBooking {
            key,
            shape: BookingShape {
                person_id: 1,
                event: EventRef::Id(2),
                start: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
                end: NaiveDate::from_ymd_opt(2026, 12, 2).unwrap(),
                minutes,
            },
            note: format!("n{period_id}/{part}"),
            email: "a@b.c".into(),
        }
    }

    fn synced(w: &DesiredBooking, booking_id: i64) -> JournalEntry {
        JournalEntry {
            key: w.key,
            shape: w.shape.with_event(w.shape.event.id().unwrap()),
            note: w.note.clone(),
            booking_id: Some(booking_id),
            state: JournalState::Synced,
            approved: true,
            rejected: false,
            error: None,
        }
    }

    /// What applying the plan leaves in the journal (with every write succeeding).
    fn apply(plan: &Plan, journal: &[JournalEntry]) -> Vec<JournalEntry> {
        let mut next: std::collections::BTreeMap<BookingKey, JournalEntry> =
            journal.iter().map(|e| (e.key, e.clone())).collect();
        for d in &plan.deletes {
            next.remove(&d.key);
        }
        for (i, c) in plan.creates.iter().enumerate() {
            next.insert(c.key, synced(c, 10_000 + i as i64));
        }
        for (e, w) in &plan.updates {
            next.insert(w.key, synced(w, e.booking_id.unwrap_or(1)));
        }
        for a in &plan.approvals {
            next.get_mut(&a.key).unwrap().approved = true;
        }
        next.into_values().collect()
    }

    #[test]
    fn diffs_creates_updates_deletes_and_keeps() {
        let a = want(1, 0, 480);
        let b = want(2, 0, 480);
        let c_old = want(3, 0, 480);
        let c_new = want(3, 0, 240);
        let gone = want(4, 0, 480);
        let aged = want(5, 0, 480);
        let mut desired = Desired::default();
        for w in [&a, &b, &c_new] {
            desired.bookings.insert(w.key, w.clone());
        }
        desired.keep.insert(5);
        let journal = vec![
            synced(&a, 1),
            synced(&c_old, 3),
            synced(&gone, 4),
            synced(&aged, 5),
        ];
        let p = plan(&desired, &journal, false);
        assert_eq!(p.creates, vec![b]);
        assert_eq!(p.updates, vec![(synced(&c_old, 3), c_new)]);
        assert_eq!(p.deletes, vec![synced(&gone, 4)]);
        assert_eq!(p.unchanged, 1);
    }

    #[test]
    fn unfinished_writes_are_planned_again() {
        let a = want(1, 0, 480);
        let b = want(2, 0, 480);
        let mut desired = Desired::default();
        desired.bookings.insert(a.key, a.clone());
        desired.bookings.insert(b.key, b.clone());
        desired.keep.insert(3);
        let updating = JournalEntry {
            state: JournalState::Updating,
            ..synced(&a, 1)
        };
        let creating = JournalEntry {
            state: JournalState::Creating,
            booking_id: None,
            ..synced(&b, 0)
        };
        let deleting = JournalEntry {
            state: JournalState::Deleting,
            ..synced(&want(3, 0, 480), 3)
        };
        let unapproved = JournalEntry {
            approved: false,
            ..synced(&want(4, 0, 60), 4)
        };
        desired.bookings.insert(unapproved.key, want(4, 0, 60));
        let p = plan(
            &desired,
            &[
                updating.clone(),
                creating,
                deleting.clone(),
                unapproved.clone(),
            ],
            false,
        );
        assert_eq!(p.updates, vec![(updating, a)]);
        assert_eq!(p.creates, vec![b]);
        assert_eq!(
            p.deletes,
            vec![deleting],
            "an interrupted delete finishes even for a kept period"
        );
        assert_eq!(p.approvals, vec![unapproved]);
    }

    #[test]
    fn refused_creates_wait_for_a_change_or_a_full_reconcile() {
        let a = want(1, 0, 480);
        let mut desired = Desired::default();
        desired.bookings.insert(a.key, a.clone());
        let refused = JournalEntry {
            state: JournalState::Refused,
            booking_id: None,
            error: Some("HTTP 422: has no allowance".into()),
            ..synced(&a, 0)
        };
        let quiet = plan(&desired, std::slice::from_ref(&refused), false);
        assert!(quiet.is_empty());
        assert_eq!(quiet.refused, vec![refused.clone()]);
        assert_eq!(
            plan(&desired, std::slice::from_ref(&refused), true).creates,
            vec![a.clone()]
        );
        let changed = want(1, 0, 240);
        desired.bookings.insert(changed.key, changed.clone());
        assert_eq!(plan(&desired, &[refused], false).creates, vec![changed]);
    }

    fn arb_case() -> impl Strategy<Value = (Desired, Vec<JournalEntry>)> {
        let booking = (
            0i64..30,
            0i64..3,
            prop::sample::select(vec![120i64, 240, 480]),
        );
        (
            prop::collection::vec(booking.clone(), 0..40),
            prop::collection::vec((booking, 0u8..5, any::<bool>()), 0..40),
            prop::collection::btree_set(0i64..30, 0..10),
        )
            .prop_map(|(wants, entries, keep)| {
                let mut desired = Desired {
                    keep,
                    ..Default::default()
                };
                for (p, part, m) in wants {
                    let w = want(p, part, m);
                    desired.bookings.insert(w.key, w);
                }
                let mut journal: std::collections::BTreeMap<BookingKey, JournalEntry> =
                    Default::default();
                for ((p, part, m), state, approved) in entries {
                    let w = want(p, part, m);
                    let state = [
                        JournalState::Creating,
                        JournalState::Synced,
                        JournalState::Updating,
                        JournalState::Deleting,
                        JournalState::Refused,
                    ][state as usize];
                    let booking_id =
                        (!matches!(state, JournalState::Creating | JournalState::Refused))
                            .then_some(p * 10 + part);
                    journal.insert(
                        w.key,
                        JournalEntry {
                            state,
                            booking_id,
                            approved,
                            ..synced(&w, 0)
                        },
                    );
                }
                (desired, journal.into_values().collect())
            })
    }

    proptest! {
        #[test]
        fn a_plan_applied_and_replanned_is_empty((desired, journal) in arb_case(), retry: bool) {
            let first = plan(&desired, &journal, retry);
            let after = apply(&first, &journal);
            let second = plan(&desired, &after, retry);
            prop_assert!(second.is_empty(), "second plan: {:?}", second);
            prop_assert_eq!(second.unchanged + second.refused.len(), desired.bookings.len());
        }

        #[test]
        fn every_desired_booking_is_planned_exactly_once((desired, journal) in arb_case(), retry: bool) {
            let p = plan(&desired, &journal, retry);
            let planned = p.creates.len() + p.updates.len() + p.approvals.len() + p.refused.len() + p.unchanged;
            prop_assert_eq!(planned, desired.bookings.len());
            for d in &p.deletes {
                prop_assert!(!desired.bookings.contains_key(&d.key));
            }
        }
    }
}
