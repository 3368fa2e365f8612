//! The order of the writes. A first sync of a large organisation takes hours at Productive's
//! real limits, so the writes go in order of urgency: today to four weeks ahead first, then the
//! rest of the future, then the past. A run stopped part-way leaves the near future done. Pure.

use chrono::{Days, NaiveDate};

use crate::domain::JournalEntry;

use super::desired::DesiredBooking;
use super::plan::Plan;

/// "The near future" of the write order, in days from today.
const NEAR_FUTURE_DAYS: u64 = 28;

pub(super) enum Action<'a> {
    Create(&'a DesiredBooking),
    Update(&'a JournalEntry, &'a DesiredBooking),
    Delete(&'a JournalEntry),
    Approve(&'a JournalEntry),
}

impl Action<'_> {
    /// The days a write touches: an update the days it leaves and the days it books.
    fn dates(&self) -> (NaiveDate, NaiveDate) {
        match self {
            Self::Create(want) => want.shape.days(),
            Self::Update(entry, want) => (
                entry.shape.start.min(want.shape.start),
                entry.shape.end.max(want.shape.end),
            ),
            Self::Delete(entry) | Self::Approve(entry) => entry.shape.days(),
        }
    }

    /// Within one urgency: deletes first (they free the days a create may need), approvals last.
    fn rank(&self) -> u8 {
        match self {
            Self::Delete(_) => 0,
            Self::Update(..) => 1,
            Self::Create(_) => 2,
            Self::Approve(_) => 3,
        }
    }
}

/// How soon a write matters: today to four weeks ahead (0), later (1), past (2).
fn urgency((start, end): (NaiveDate, NaiveDate), today: NaiveDate) -> u8 {
    let soon = today + Days::new(NEAR_FUTURE_DAYS);
    if end >= today && start <= soon {
        0
    } else if start > soon {
        1
    } else {
        2
    }
}

/// The plan's writes, most urgent first.
pub(super) fn in_order_of_urgency(plan: &Plan, today: NaiveDate) -> Vec<Action<'_>> {
    let mut actions: Vec<Action<'_>> = plan
        .deletes
        .iter()
        .map(Action::Delete)
        .chain(plan.updates.iter().map(|(e, d)| Action::Update(e, d)))
        .chain(plan.creates.iter().map(Action::Create))
        .chain(plan.approvals.iter().map(Action::Approve))
        .collect();
    actions.sort_by_key(|a| (urgency(a.dates(), today), a.rank()));
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BookingKey, BookingShape, JournalState};
    use crate::sync::EventRef;

    fn d(days_from_today: i64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 2).unwrap() + chrono::Duration::days(days_from_today)
    }

    fn want(period_id: i64, start: i64, end: i64) -> DesiredBooking {
        DesiredBooking {
            key: BookingKey { period_id, part: 0 },
            shape: BookingShape {
                person_id: 1,
                event: EventRef::Id(1),
                start: d(start),
                end: d(end),
                minutes: 480,
            },
            note: String::new(),
            email: String::new(),
        }
    }

    fn entry(w: &DesiredBooking) -> JournalEntry {
        JournalEntry {
            key: w.key,
            shape: w.shape.with_event(1),
            note: String::new(),
            booking_id: Some(w.key.period_id),
            state: JournalState::Synced,
            approved: true,
            rejected: false,
            error: None,
        }
    }

    fn order(plan: &Plan) -> Vec<(char, i64)> {
        in_order_of_urgency(plan, d(0))
            .iter()
            .map(|a| match a {
                Action::Create(w) => ('c', w.key.period_id),
                Action::Update(_, w) => ('u', w.key.period_id),
                Action::Delete(e) => ('d', e.key.period_id),
                Action::Approve(e) => ('a', e.key.period_id),
            })
            .collect()
    }

    #[test]
    fn the_next_four_weeks_first_then_the_later_future_then_the_past() {
        let plan = Plan {
            creates: vec![
                want(1, -40, -30), // past
                want(2, 60, 61),   // later future
                want(3, 27, 30),   // begins within four weeks
                want(4, -5, 2),    // runs through today
            ],
            // An update that moves a booking from the past into next week is urgent.
            updates: vec![(entry(&want(5, -50, -49)), want(5, 6, 7))],
            deletes: vec![entry(&want(6, 10, 11)), entry(&want(7, 100, 101))],
            approvals: vec![entry(&want(8, 1, 1))],
            ..Plan::default()
        };
        assert_eq!(
            order(&plan),
            vec![
                ('d', 6),
                ('u', 5),
                ('c', 3),
                ('c', 4),
                ('a', 8),
                ('d', 7),
                ('c', 2),
                ('c', 1)
            ]
        );
    }
}
