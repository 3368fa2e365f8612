//! The desired state: which bookings Productive should hold for the known Personio periods, and
//! which periods are skipped (with the reason). Pure.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;

use crate::domain::bookings::{day_minutes, note_for, split};
use crate::domain::matching::{normalize_email, MatchProblem, PeopleIndex};
use crate::domain::suggest::{Suggester, Suggestion};
use crate::domain::window::Window;
use crate::domain::{AbsencePeriod, BookingKey, BookingShape, PeriodStatus};

use super::events::{EventMap, EventRef, Unbooked};
use crate::domain::type_rules::EXCLUDED;

/// A booking the sync wants Productive to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredBooking {
    pub key: BookingKey,
    pub shape: BookingShape<EventRef>,
    pub note: String,
    /// For reports and logs.
    pub email: String,
}

/// A Personio record the sync does not book, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub personio_id: String,
    pub email: String,
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
    pub reason: String,
}

impl Skip {
    pub fn dates(&self) -> String {
        match self.end {
            Some(end) if end != self.start => format!("{}..{end}", self.start),
            _ => self.start.to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub bookings: BTreeMap<BookingKey, DesiredBooking>,
    /// Periods whose recorded bookings stay as they are: aged out of the window, or skipped for a
    /// reason that says nothing about whether the absence still exists.
    pub keep: BTreeSet<i64>,
    pub skipped: Vec<Skip>,
    /// Likely matches for the periods skipped for want of one Productive person, by period id.
    pub suggestions: BTreeMap<i64, Suggestion>,
}

/// Computes the desired bookings for every known period.
pub fn desired(
    periods: &[AbsencePeriod],
    people: &PeopleIndex,
    events: &EventMap,
    window: &Window,
) -> Desired {
    let mut out = Desired::default();
    // Collected first and built in one go: a map built from sorted input has full nodes, one
    // grown by inserting in key order half-empty ones (twice the memory at 5,000 employees).
    let mut bookings = Vec::new();
    // Built only when someone is unmatched; one suggestion per employee email.
    let mut suggester: Option<Suggester> = None;
    let mut suggested: HashMap<String, Option<Suggestion>> = HashMap::new();
    for period in periods {
        let skip = |reason: String| Skip {
            personio_id: period.id.to_string(),
            email: period.email.clone(),
            start: period.start,
            end: Some(period.end),
            reason,
        };
        if !window.covers(period.end) {
            out.keep.insert(period.id);
            continue;
        }
        let event = events.lookup(period.type_id);
        if event == Err(Unbooked::Excluded) {
            // Its bookings, if any, go: the operator wants this type out of Productive.
            out.skipped.push(skip(EXCLUDED.into()));
            continue;
        }
        if period.status != PeriodStatus::Approved {
            // Its bookings, if any, go: Personio no longer says the person is away.
            let status = match &period.status {
                PeriodStatus::Pending => "pending",
                PeriodStatus::Other(s) => s.as_str(),
                PeriodStatus::Approved => unreachable!(),
            };
            out.skipped
                .push(skip(format!("not approved in Personio (status {status})")));
            continue;
        }
        let Ok(event) = event else {
            out.keep.insert(period.id);
            out.skipped.push(skip(format!(
                "absence type {} ({}) has no Productive event",
                period.type_id, period.type_name
            )));
            continue;
        };
        let person = match people.find(&period.email) {
            Ok(person) => person,
            Err(problem) => {
                if matches!(problem, MatchProblem::NoPerson | MatchProblem::Ambiguous(_)) {
                    let suggester =
                        suggester.get_or_insert_with(|| Suggester::new(people.people()));
                    let suggestion = suggested
                        .entry(normalize_email(&period.email))
                        .or_insert_with(|| {
                            suggester.suggest(
                                &period.email,
                                period.name.as_ref(),
                                &people.target(&period.email),
                            )
                        });
                    if let Some(suggestion) = suggestion {
                        out.suggestions.insert(period.id, suggestion.clone());
                    }
                }
                out.keep.insert(period.id);
                out.skipped.push(skip(problem.to_string()));
                continue;
            }
        };
        let segments = split(&day_minutes(period, &person.availabilities));
        if segments.is_empty() {
            out.skipped.push(skip(
                "no working capacity in Productive on these dates".into(),
            ));
            continue;
        }
        let parts = segments.len();
        for (part, segment) in segments.into_iter().enumerate() {
            let key = BookingKey {
                period_id: period.id,
                part: part as i64,
            };
            bookings.push((
                key,
                DesiredBooking {
                    key,
                    shape: BookingShape {
                        person_id: person.id,
                        event,
                        start: segment.start,
                        end: segment.end,
                        minutes: segment.minutes,
                    },
                    note: note_for(key, parts),
                    email: period.email.clone(),
                },
            ));
        }
    }
    out.bookings = bookings.into_iter().collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AvailabilityPeriod, Person};

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn period(id: i64, email: &str, start: &str, end: &str) -> AbsencePeriod {
        AbsencePeriod {
            id,
            ids: Default::default(),
            employee_id: 1,
            email: email.into(),
            type_id: 10,
            type_name: "Vacation".into(),
            status: PeriodStatus::Approved,
            start: d(start),
            end: d(end),
            half_day_start: false,
            half_day_end: false,
            name: None,
        }
    }

    fn people() -> PeopleIndex {
        let person = |id, email: &str, active| Person {
            id,
            email: Some(email.into()),
            first_name: "A".into(),
            last_name: "B".into(),
            active,
            availabilities: vec![AvailabilityPeriod {
                start: d("2020-01-01"),
                end: None,
                hours: vec![8.0, 8.0, 8.0, 8.0, 8.0, 0.0, 0.0],
            }],
        };
        PeopleIndex::new(
            vec![person(1, "ada@x.io", true), person(2, "old@x.io", false)],
            &Default::default(),
        )
    }

    #[test]
    fn books_matched_approved_periods_and_reports_the_rest() {
        let window = Window::from_today(d("2026-11-26"), 3);
        let events = EventMap::of([(10, EventRef::Id(500))]);
        let mut pending = period(3, "ada@x.io", "2026-12-07", "2026-12-07");
        pending.status = PeriodStatus::Pending;
        let mut unknown_type = period(5, "ada@x.io", "2026-12-09", "2026-12-09");
        unknown_type.type_id = 99;
        let periods = vec![
            period(1, "ADA@x.io", "2026-11-30", "2026-12-02"),
            period(2, "nobody@x.io", "2026-11-30", "2026-11-30"),
            pending,
            period(4, "old@x.io", "2026-11-30", "2026-11-30"),
            unknown_type,
            period(6, "ada@x.io", "2026-05-01", "2026-05-04"),
            period(7, "ada@x.io", "2026-12-05", "2026-12-06"),
        ];
        let out = desired(&periods, &people(), &events, &window);
        assert_eq!(out.bookings.len(), 1);
        let b = &out.bookings[&BookingKey {
            period_id: 1,
            part: 0,
        }];
        assert_eq!(
            (b.shape.person_id, b.shape.event, b.shape.minutes),
            (1, EventRef::Id(500), 480)
        );
        assert_eq!(
            (b.shape.start, b.shape.end),
            (d("2026-11-30"), d("2026-12-02"))
        );
        assert_eq!(b.note, "Synced from Personio · absence 1");
        let reasons: Vec<(&str, &str)> = out
            .skipped
            .iter()
            .map(|s| (s.personio_id.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                ("2", "no Productive person with this email"),
                ("3", "not approved in Personio (status pending)"),
                ("4", "the Productive person with this email is deactivated"),
                ("5", "absence type 99 (Vacation) has no Productive event"),
                ("7", "no working capacity in Productive on these dates"),
            ]
        );
        // Aged-out and skipped-for-lack-of-a-match periods keep what they have; pending and
        // zero-capacity ones do not.
        assert_eq!(out.keep, BTreeSet::from([2, 4, 5, 6]));
        assert!(out.suggestions.is_empty(), "nobody there looks like anyone");
    }

    #[test]
    fn an_excluded_type_books_nothing_and_keeps_nothing_but_what_aged_out() {
        let window = Window::from_today(d("2026-11-26"), 3);
        let mut events = EventMap::of([(10, EventRef::Id(500))]);
        events.excluded.insert(10);
        let mut pending = period(3, "ada@x.io", "2026-12-07", "2026-12-07");
        pending.status = PeriodStatus::Pending;
        let periods = vec![
            period(1, "ada@x.io", "2026-11-30", "2026-12-02"),
            period(2, "nobody@x.io", "2026-11-30", "2026-11-30"),
            pending,
            period(6, "ada@x.io", "2026-05-01", "2026-05-04"),
        ];
        let out = desired(&periods, &people(), &events, &window);
        assert!(out.bookings.is_empty());
        let reasons: Vec<(&str, &str)> = out
            .skipped
            .iter()
            .map(|s| (s.personio_id.as_str(), s.reason.as_str()))
            .collect();
        let excluded = "type excluded by configuration";
        assert_eq!(
            reasons,
            vec![("1", excluded), ("2", excluded), ("3", excluded)]
        );
        assert_eq!(
            out.keep,
            BTreeSet::from([6]),
            "only the aged-out period keeps"
        );
        assert!(out.suggestions.is_empty(), "no match is looked for");
    }

    #[test]
    fn an_unmatched_period_carries_its_likely_match_and_books_nothing() {
        let window = Window::from_today(d("2026-11-26"), 3);
        let events = EventMap::of([(10, EventRef::Id(500))]);
        let periods = vec![
            period(1, "ada+hr@x.io", "2026-11-30", "2026-11-30"),
            period(2, "ADA+hr@x.io ", "2026-12-01", "2026-12-01"),
            period(3, " Ada@X.io", "2026-12-02", "2026-12-02"),
        ];
        let out = desired(&periods, &people(), &events, &window);
        assert_eq!(
            out.bookings.keys().map(|k| k.period_id).collect::<Vec<_>>(),
            vec![3],
            "another case and blanks still match; a likely match does not"
        );
        assert_eq!(
            out.suggestions.keys().copied().collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(
            out.suggestions[&2].config_line.as_deref(),
            Some(r#""ada+hr@x.io" = "ada@x.io""#)
        );
    }
}
