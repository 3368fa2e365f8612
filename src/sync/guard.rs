//! The mass-deletion guard. A read that silently saw only part of Personio (a credential that
//! suddenly sees one department, a paginator that stopped early) looks exactly like mass
//! deletion, so a run that would delete much of what the sync owns deletes none of it until an
//! operator lets it. Pure.

use crate::domain::{JournalEntry, JournalState, MassDeleteHold};

use super::plan::Plan;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MassDeleteGuard {
    /// Deleting more than this share of the owned bookings...
    pub share: f64,
    /// ...and more than this many is held back.
    pub min: usize,
}

/// Takes the deletions of Productive bookings out of `plan` when they trip the guard (creates and
/// updates go on; journal clean-ups of refused creates, which delete nothing in Productive, stay).
pub fn hold_mass_deletes(
    plan: &mut Plan,
    journal: &[JournalEntry],
    guard: MassDeleteGuard,
) -> Option<MassDeleteHold> {
    // A refused create never made a booking; an interrupted one may have.
    let deletes_booking =
        |e: &JournalEntry| e.booking_id.is_some() || e.state == JournalState::Creating;
    let owned = journal.iter().filter(|e| deletes_booking(e)).count();
    let would_delete = plan.deletes.iter().filter(|e| deletes_booking(e)).count();
    let too_many = would_delete > guard.min && would_delete as f64 > guard.share * owned as f64;
    if !too_many {
        return None;
    }
    plan.deletes.retain(|e| !deletes_booking(e));
    Some(MassDeleteHold {
        would_delete,
        owned,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BookingKey, BookingShape};
    use chrono::NaiveDate;

    fn entry(period_id: i64, state: JournalState) -> JournalEntry {
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        JournalEntry {
            key: BookingKey { period_id, part: 0 },
            shape: BookingShape {
                person_id: 1,
                event: 1,
                start: day,
                end: day,
                minutes: 480,
            },
            note: String::new(),
            booking_id: (state != JournalState::Refused).then_some(period_id),
            state,
            approved: true,
            rejected: false,
            error: None,
        }
    }

    const GUARD: MassDeleteGuard = MassDeleteGuard {
        share: 0.2,
        min: 10,
    };

    /// A journal of `owned` synced entries and one refused, and a plan deleting the first `n`.
    fn case(owned: i64, n: i64) -> (Vec<JournalEntry>, Plan) {
        let mut journal: Vec<_> = (0..owned).map(|i| entry(i, JournalState::Synced)).collect();
        journal.push(entry(-1, JournalState::Refused));
        let plan = Plan {
            deletes: journal[..n as usize]
                .iter()
                .cloned()
                .chain([entry(-1, JournalState::Refused)])
                .collect(),
            ..Plan::default()
        };
        (journal, plan)
    }

    #[test]
    fn holds_only_above_both_the_share_and_the_minimum() {
        // 11 of 100 owned: above the minimum, below the share.
        let (journal, mut plan) = case(100, 11);
        assert_eq!(hold_mass_deletes(&mut plan, &journal, GUARD), None);
        assert_eq!(plan.deletes.len(), 12);
        // 10 of 20: above the share, not above the minimum.
        let (journal, mut plan) = case(20, 10);
        assert_eq!(hold_mass_deletes(&mut plan, &journal, GUARD), None);
        // 21 of 100: above both.
        let (journal, mut plan) = case(100, 21);
        assert_eq!(
            hold_mass_deletes(&mut plan, &journal, GUARD),
            Some(MassDeleteHold {
                would_delete: 21,
                owned: 100
            })
        );
        assert_eq!(
            plan.deletes,
            vec![entry(-1, JournalState::Refused)],
            "a refused create's clean-up deletes nothing in Productive and goes on"
        );
    }
}
