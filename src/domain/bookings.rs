//! From a Personio period to the Productive bookings that carry it: minutes per day (full and
//! half days from the person's capacity), split into bookings of one number of minutes per day.

use chrono::NaiveDate;

use super::capacity::{capacity_minutes, half};
use super::{AbsencePeriod, AvailabilityPeriod, BookingKey};

/// Which days of a period are half days under Personio v1's flags. On a multi-day period
/// `half_day_start` halves the first day and `half_day_end` the last; on a single day either
/// flag (1/0 morning, 0/1 afternoon; 1/1 is refused by Personio since 2025, read as half too)
/// makes it a half day.
pub fn is_half_day(period: &AbsencePeriod, date: NaiveDate) -> bool {
    if period.start == period.end {
        return period.half_day_start || period.half_day_end;
    }
    (date == period.start && period.half_day_start) || (date == period.end && period.half_day_end)
}

/// Absence minutes for every day of the period (0 where the person has no capacity).
pub fn day_minutes(
    period: &AbsencePeriod,
    availabilities: &[AvailabilityPeriod],
) -> Vec<(NaiveDate, i64)> {
    period
        .start
        .iter_days()
        .take_while(|d| *d <= period.end)
        .map(|date| {
            let capacity = capacity_minutes(availabilities, date);
            let minutes = if is_half_day(period, date) {
                half(capacity)
            } else {
                capacity
            };
            (date, minutes)
        })
        .collect()
}

/// A date range booked with one number of minutes on each working day in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub minutes: i64,
}

/// The fewest segments that reproduce every day's minutes. Days with 0 minutes need no booking:
/// they neither start nor break a segment, so a week off is one booking across the weekend.
pub fn split(days: &[(NaiveDate, i64)]) -> Vec<Segment> {
    split_where(days, |_| false)
}

/// [`split`] for days that need not be consecutive, where a day between two listed ones breaks
/// a segment when `must_stay_free` (a working day the absence does not take: a segment would
/// book it too).
pub fn split_where(
    days: &[(NaiveDate, i64)],
    must_stay_free: impl Fn(NaiveDate) -> bool,
) -> Vec<Segment> {
    let mut segments: Vec<Segment> = Vec::new();
    for &(date, minutes) in days.iter().filter(|(_, m)| *m > 0) {
        let bridges = |last: &Segment| {
            last.end
                .iter_days()
                .skip(1)
                .take_while(|d| *d < date)
                .all(|d| !must_stay_free(d))
        };
        match segments.last_mut() {
            Some(last) if last.minutes == minutes && bridges(last) => last.end = date,
            _ => segments.push(Segment {
                start: date,
                end: date,
                minutes,
            }),
        }
    }
    segments
}

/// What Productive books for segments: `minutes` on each day with capacity in each range.
pub fn expand(
    segments: &[Segment],
    availabilities: &[AvailabilityPeriod],
) -> Vec<(NaiveDate, i64)> {
    segments
        .iter()
        .flat_map(|s| {
            s.start
                .iter_days()
                .take_while(move |d| *d <= s.end)
                .map(move |d| (d, s.minutes))
        })
        .filter(|(d, _)| capacity_minutes(availabilities, *d) > 0)
        .collect()
}

const MARKER: &str = "Synced from Personio · absence ";

/// The note on every booking the sync writes. It names the period and the part, so a booking
/// whose creation was interrupted can be found and adopted instead of created twice. The
/// absence type is left out on purpose: renaming a type must not rewrite every booking.
pub fn note_for(key: BookingKey, parts: usize) -> String {
    if parts > 1 {
        format!("{MARKER}{} · part {}/{parts}", key.period_id, key.part + 1)
    } else {
        format!("{MARKER}{}", key.period_id)
    }
}

/// The key a booking note marks, if it is one of ours.
pub fn key_from_note(note: &str) -> Option<BookingKey> {
    let rest = &note[note.find(MARKER)? + MARKER.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let period_id = digits.parse().ok()?;
    let rest = &rest[digits.len()..];
    let part = match rest.strip_prefix(" · part ") {
        Some(p) => {
            let n: String = p.chars().take_while(char::is_ascii_digit).collect();
            n.parse::<i64>().ok()?.checked_sub(1)?
        }
        None => 0,
    };
    Some(BookingKey { period_id, part })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PeriodStatus;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn full_time() -> Vec<AvailabilityPeriod> {
        vec![AvailabilityPeriod {
            start: d("2020-01-01"),
            end: None,
            hours: vec![8.0, 8.0, 8.0, 8.0, 8.0, 0.0, 0.0],
        }]
    }

    fn period(start: &str, end: &str, half_start: bool, half_end: bool) -> AbsencePeriod {
        AbsencePeriod {
            id: 77,
            ids: Default::default(),
            employee_id: 1,
            email: "a@b.c".into(),
            type_id: 1,
            type_name: "Vacation".into(),
            status: PeriodStatus::Approved,
            start: d(start),
            end: d(end),
            half_day_start: half_start,
            half_day_end: half_end,
            name: None,
        }
    }

    #[test]
    fn single_half_days_book_half_the_capacity() {
        for (s, e) in [(true, false), (false, true), (true, true)] {
            let p = period("2026-12-01", "2026-12-01", s, e);
            assert_eq!(
                day_minutes(&p, &full_time()),
                vec![(d("2026-12-01"), 240)],
                "{s}/{e}"
            );
        }
        let p = period("2026-12-01", "2026-12-01", false, false);
        assert_eq!(day_minutes(&p, &full_time()), vec![(d("2026-12-01"), 480)]);
    }

    #[test]
    fn half_first_and_last_day_split_into_three_bookings() {
        // Tue afternoon .. Fri morning
        let p = period("2026-12-01", "2026-12-04", true, true);
        let segments = split(&day_minutes(&p, &full_time()));
        assert_eq!(
            segments,
            vec![
                Segment {
                    start: d("2026-12-01"),
                    end: d("2026-12-01"),
                    minutes: 240
                },
                Segment {
                    start: d("2026-12-02"),
                    end: d("2026-12-03"),
                    minutes: 480
                },
                Segment {
                    start: d("2026-12-04"),
                    end: d("2026-12-04"),
                    minutes: 240
                },
            ]
        );
    }

    #[test]
    fn weekends_neither_start_nor_break_a_booking() {
        // Saturday to the Sunday a week later: one booking Mon..Fri.
        let p = period("2026-11-28", "2026-12-06", false, false);
        assert_eq!(
            split(&day_minutes(&p, &full_time())),
            vec![Segment {
                start: d("2026-11-30"),
                end: d("2026-12-04"),
                minutes: 480
            }]
        );
        // Two working weeks: still one booking across the weekend.
        let p = period("2026-11-30", "2026-12-11", false, false);
        assert_eq!(split(&day_minutes(&p, &full_time())).len(), 1);
        // Only a weekend: nothing to book.
        let p = period("2026-11-28", "2026-11-29", false, false);
        assert!(split(&day_minutes(&p, &full_time())).is_empty());
    }

    #[test]
    fn part_timers_get_one_booking_per_run_of_equal_days() {
        let part_time = vec![AvailabilityPeriod {
            start: d("2020-01-01"),
            end: None,
            hours: vec![8.0, 8.0, 4.0, 0.0, 8.0, 0.0, 0.0],
        }];
        let p = period("2026-11-30", "2026-12-04", false, false);
        assert_eq!(
            split(&day_minutes(&p, &part_time)),
            vec![
                Segment {
                    start: d("2026-11-30"),
                    end: d("2026-12-01"),
                    minutes: 480
                },
                Segment {
                    start: d("2026-12-02"),
                    end: d("2026-12-02"),
                    minutes: 240
                },
                Segment {
                    start: d("2026-12-04"),
                    end: d("2026-12-04"),
                    minutes: 480
                },
            ]
        );
    }

    #[test]
    fn notes_mark_period_and_part() {
        let key = BookingKey {
            period_id: 123,
            part: 1,
        };
        let note = note_for(key, 3);
        assert_eq!(note, "Synced from Personio · absence 123 · part 2/3");
        assert_eq!(key_from_note(&note), Some(key));
        let single = note_for(
            BookingKey {
                period_id: 9,
                part: 0,
            },
            1,
        );
        assert_eq!(single, "Synced from Personio · absence 9");
        // People may add text around the marker.
        assert_eq!(key_from_note(&format!("{note} (see HR)")), Some(key));
        assert_eq!(
            key_from_note(&single),
            Some(BookingKey {
                period_id: 9,
                part: 0
            })
        );
        assert_eq!(key_from_note("Dentist"), None);
        // People may add text around the marker.
        assert_eq!(key_from_note(&format!("{note} (see HR)")), Some(key));
        assert_eq!(key_from_note("Synced from Personio · absence x"), None);
    }

    fn arb_availability() -> impl Strategy<Value = Vec<AvailabilityPeriod>> {
        (
            prop::collection::vec(prop::sample::select(vec![0.0, 4.0, 6.5, 7.75, 8.0]), 14),
            any::<bool>(),
        )
            .prop_map(|(hours, rotation)| {
                vec![AvailabilityPeriod {
                    start: d("2026-01-07"),
                    end: None,
                    hours: if rotation { hours } else { hours[..7].to_vec() },
                }]
            })
    }

    proptest! {
        #[test]
        fn splitting_preserves_every_days_minutes(
            offset in 0i64..200,
            len in 0i64..40,
            half_start: bool,
            half_end: bool,
            availability in arb_availability(),
        ) {
            let start = d("2026-01-07") + chrono::Duration::days(offset);
            let mut p = period("2026-01-01", "2026-01-01", half_start, half_end);
            p.start = start;
            p.end = start + chrono::Duration::days(len);
            let days = day_minutes(&p, &availability);
            let segments = split(&days);
            let booked = expand(&segments, &availability);
            let wanted: Vec<_> = days.into_iter().filter(|(_, m)| *m > 0).collect();
            prop_assert_eq!(booked, wanted);
            // Adjacent segments always differ, or the split was not minimal.
            for pair in segments.windows(2) {
                prop_assert!(pair[0].minutes != pair[1].minutes);
                prop_assert!(pair[0].end < pair[1].start);
            }
        }

        /// Hours on scattered days: no segment may cover a working day the absence leaves free.
        #[test]
        fn splitting_scattered_hours_books_only_their_days(
            hours in prop::collection::vec(prop::sample::select(vec![0i64, 0, 60, 90, 120]), 0..40),
            availability in arb_availability(),
        ) {
            let first = d("2026-02-02");
            let days: Vec<(NaiveDate, i64)> = hours
                .iter()
                .enumerate()
                .map(|(i, m)| (first + chrono::Duration::days(i as i64), *m))
                .collect();
            let works = |day| crate::domain::capacity::capacity_minutes(&availability, day) > 0;
            let segments = split_where(&days, works);
            let booked = expand(&segments, &availability);
            let wanted: Vec<_> = days.into_iter().filter(|(day, m)| *m > 0 && works(*day)).collect();
            prop_assert_eq!(booked, wanted);
        }
    }
}
