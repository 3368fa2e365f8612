//! Hour-unit absences (`sync.hourly_absences`): the hours each takes on each day, capped so that
//! a day never carries more than its capacity from the sync (day-unit bookings first, then the
//! hour absences in date order). Pure; the read is in [`super::read`].

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;

use crate::domain::bookings::{expand, note_for, split_where, Segment};
use crate::domain::capacity::capacity_minutes;
use crate::domain::matching::PeopleIndex;
use crate::domain::window::Window;
use crate::domain::{key_for_v2, BookingKey, BookingShape, HourlyAbsence, PeriodStatus, Person};

use super::desired::{Desired, DesiredBooking, Skip};
use super::events::{EventMap, Unbooked};
use crate::domain::type_rules::EXCLUDED;

/// The reason hour-unit absences are reported while `sync.hourly_absences` is off.
pub const NOT_SYNCED: &str = "measured in hours; hour-unit absences are not synced";

/// The sync's key for an hour-unit absence: both API versions name it by the same UUID.
pub fn hourly_key(a: &HourlyAbsence) -> i64 {
    key_for_v2(&a.id)
}

/// Adds the bookings of approved hour-unit absences to `out` (which holds the day-unit ones),
/// and reports those that cannot be booked. Their `type_id` is the type's key by now.
pub fn add_hourly(
    out: &mut Desired,
    absences: &[HourlyAbsence],
    people: &PeopleIndex,
    events: &EventMap,
    window: &Window,
) {
    let mut sorted: Vec<&HourlyAbsence> = absences.iter().collect();
    sorted.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
    let mut used = DayUse::default();
    for a in sorted {
        let key = hourly_key(a);
        let skip = |reason: String| Skip {
            personio_id: a.id.clone(),
            email: a.email.clone(),
            start: a.start,
            end: a.end,
            reason,
        };
        if !window.covers(a.end.unwrap_or(a.start).max(a.start)) {
            out.keep.insert(key);
            continue;
        }
        let event = a
            .type_id
            .map_or(Err(Unbooked::NoEvent), |t| events.lookup(t));
        if event == Err(Unbooked::Excluded) {
            out.skipped.push(skip(EXCLUDED.into()));
            continue;
        }
        if a.status != PeriodStatus::Approved {
            let status = match &a.status {
                PeriodStatus::Pending => "pending",
                PeriodStatus::Other(s) => s.as_str(),
                PeriodStatus::Approved => unreachable!(),
            };
            out.skipped
                .push(skip(format!("not approved in Personio (status {status})")));
            continue;
        }
        let Ok(event) = event else {
            out.keep.insert(key);
            out.skipped.push(skip(format!(
                "absence type {:?} has no Productive event",
                a.type_name
            )));
            continue;
        };
        let person = match people.find(&a.email) {
            Ok(person) => person,
            Err(problem) => {
                out.keep.insert(key);
                out.skipped.push(skip(problem.to_string()));
                continue;
            }
        };
        let minutes = match &a.minutes {
            Ok(minutes) => minutes,
            Err(reason) => {
                // The absence exists; what it was booked as stays until its hours are known.
                out.keep.insert(key);
                out.skipped
                    .push(skip(format!("cannot be booked exactly: {reason}")));
                continue;
            }
        };
        let booked = used.take(out, person, minutes);
        let segments = split_where(&booked, |d| capacity_minutes(&person.availabilities, d) > 0);
        if segments.is_empty() {
            let works = minutes
                .iter()
                .any(|(d, _)| capacity_minutes(&person.availabilities, *d) > 0);
            out.skipped.push(skip(match works {
                true => "no working capacity left in Productive on these dates (day absences or \
                         earlier hour absences take it all)"
                    .into(),
                false => "no working capacity in Productive on these dates".into(),
            }));
            continue;
        }
        push(out, key, person.id, event, a, &segments);
    }
}

fn push(
    out: &mut Desired,
    period_id: i64,
    person_id: i64,
    event: super::events::EventRef,
    a: &HourlyAbsence,
    segments: &[Segment],
) {
    for (part, segment) in segments.iter().enumerate() {
        let key = BookingKey {
            period_id,
            part: part as i64,
        };
        let booking = DesiredBooking {
            key,
            shape: BookingShape {
                person_id,
                event,
                start: segment.start,
                end: segment.end,
                minutes: segment.minutes,
            },
            note: note_for(key, segments.len()),
            email: a.email.clone(),
        };
        out.bookings.insert(key, booking);
    }
}

/// The minutes the sync already books per person and day.
#[derive(Default)]
struct DayUse {
    /// Filled from the day-unit bookings the first time a person is seen.
    by_person: HashMap<i64, BTreeMap<NaiveDate, i64>>,
}

impl DayUse {
    /// What an absence can take of each day: its minutes, at most the capacity left.
    fn take(
        &mut self,
        out: &Desired,
        person: &Person,
        minutes: &[(NaiveDate, i64)],
    ) -> Vec<(NaiveDate, i64)> {
        let used = self
            .by_person
            .entry(person.id)
            .or_insert_with(|| day_bookings(out, person));
        minutes
            .iter()
            .map(|&(date, wanted)| {
                let taken = used.entry(date).or_insert(0);
                let left = (capacity_minutes(&person.availabilities, date) - *taken).max(0);
                let booked = wanted.clamp(0, left);
                *taken += booked;
                (date, booked)
            })
            .collect()
    }
}

/// The minutes per day of the bookings already desired for `person`.
fn day_bookings(out: &Desired, person: &Person) -> BTreeMap<NaiveDate, i64> {
    let mut days = BTreeMap::new();
    let segments = out
        .bookings
        .values()
        .filter(|b| b.shape.person_id == person.id)
        .map(|b| Segment {
            start: b.shape.start,
            end: b.shape.end,
            minutes: b.shape.minutes,
        });
    for (date, minutes) in expand(&segments.collect::<Vec<_>>(), &person.availabilities) {
        *days.entry(date).or_insert(0) += minutes;
    }
    days
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AvailabilityPeriod, Person};
    use crate::sync::events::EventRef;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn absence(id: &str, minutes: Result<Vec<(&str, i64)>, &str>) -> HourlyAbsence {
        let minutes = minutes
            .map(|days| {
                days.into_iter()
                    .map(|(day, m)| (d(day), m))
                    .collect::<Vec<_>>()
            })
            .map_err(String::from);
        let start = match &minutes {
            Ok(days) => days.first().map_or(d("2026-12-07"), |(day, _)| *day),
            Err(_) => d("2026-12-07"),
        };
        HourlyAbsence {
            id: id.into(),
            email: "ada@x.io".into(),
            type_id: Some(20),
            type_name: "Doctor".into(),
            status: PeriodStatus::Approved,
            start,
            end: Some(start),
            minutes,
        }
    }

    fn people() -> PeopleIndex {
        let ada = Person {
            id: 1,
            email: Some("ada@x.io".into()),
            first_name: "Ada".into(),
            last_name: "L".into(),
            active: true,
            availabilities: vec![AvailabilityPeriod {
                start: d("2020-01-01"),
                end: None,
                hours: vec![8.0, 8.0, 8.0, 8.0, 8.0, 0.0, 0.0],
            }],
        };
        PeopleIndex::new(vec![ada], &Default::default())
    }

    /// A day-unit booking of 300 minutes on Monday 2026-12-07 already in the desired state.
    fn with_day_booking() -> Desired {
        let key = BookingKey {
            period_id: 1,
            part: 0,
        };
        let mut out = Desired::default();
        out.bookings.insert(
            key,
            DesiredBooking {
                key,
                shape: BookingShape {
                    person_id: 1,
                    event: EventRef::Id(500),
                    start: d("2026-12-07"),
                    end: d("2026-12-07"),
                    minutes: 300,
                },
                note: note_for(key, 1),
                email: "ada@x.io".into(),
            },
        );
        out
    }

    fn booked(out: &Desired, a: &str) -> Vec<(NaiveDate, NaiveDate, i64)> {
        let key = key_for_v2(a);
        out.bookings
            .values()
            .filter(|b| b.key.period_id == key)
            .map(|b| (b.shape.start, b.shape.end, b.shape.minutes))
            .collect()
    }

    #[test]
    fn hours_fill_what_day_absences_and_earlier_hours_leave_of_a_day() {
        let mut out = with_day_booking();
        let events = EventMap::of([(20, EventRef::Id(600))]);
        let window = Window::from_today(d("2026-12-01"), 3);
        let absences = vec![
            // Later in the list but the same day: the capacity goes in id order.
            absence("b", Ok(vec![("2026-12-07", 120)])),
            absence("a", Ok(vec![("2026-12-07", 120)])),
            // Monday to Wednesday, Tuesday free: two bookings, not one across Tuesday.
            absence("c", Ok(vec![("2026-12-14", 60), ("2026-12-16", 60)])),
            // Saturday: nothing to take.
            absence("d", Ok(vec![("2026-12-12", 60)])),
            absence("e", Err("spans several days without a per-day breakdown")),
        ];
        add_hourly(&mut out, &absences, &people(), &events, &window);
        let monday = d("2026-12-07");
        assert_eq!(booked(&out, "a"), vec![(monday, monday, 120)]);
        assert_eq!(
            booked(&out, "b"),
            vec![(monday, monday, 60)],
            "480 - 300 - 120"
        );
        assert_eq!(
            booked(&out, "c"),
            vec![
                (d("2026-12-14"), d("2026-12-14"), 60),
                (d("2026-12-16"), d("2026-12-16"), 60)
            ]
        );
        assert!(booked(&out, "d").is_empty());
        // A day with capacity that earlier absences fill says so.
        let mut full = with_day_booking();
        let whole_day = vec![
            absence("f", Ok(vec![("2026-12-07", 240)])),
            absence("g", Ok(vec![("2026-12-07", 60)])),
        ];
        add_hourly(&mut full, &whole_day, &people(), &events, &window);
        assert_eq!(booked(&full, "f"), vec![(monday, monday, 180)]);
        assert!(
            full.skipped[0].personio_id == "g"
                && full.skipped[0]
                    .reason
                    .starts_with("no working capacity left")
        );
        let reasons: BTreeMap<&str, &str> = out
            .skipped
            .iter()
            .map(|s| (s.personio_id.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert_eq!(
            reasons["d"],
            "no working capacity in Productive on these dates"
        );
        assert_eq!(
            reasons["e"],
            "cannot be booked exactly: spans several days without a per-day breakdown"
        );
        // What cannot be known keeps what it has; a day with no room does not.
        assert!(out.keep.contains(&key_for_v2("e")) && !out.keep.contains(&key_for_v2("d")));
    }
}
