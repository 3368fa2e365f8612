//! A Productive person's working minutes on a date, from their availabilities.

use chrono::{Datelike, NaiveDate};

use super::AvailabilityPeriod;

/// Minutes of work scheduled on `date`; 0 when no availability period covers it. Where periods
/// overlap the latest-starting one wins. A 14-entry pattern alternates weeks, counted from the
/// week in which its period starts.
pub fn capacity_minutes(availabilities: &[AvailabilityPeriod], date: NaiveDate) -> i64 {
    let Some(period) = availabilities
        .iter()
        .filter(|a| a.start <= date && a.end.is_none_or(|end| date <= end))
        .max_by_key(|a| a.start)
    else {
        return 0;
    };
    let weekday = date.weekday().num_days_from_monday() as usize;
    let slot = if period.hours.len() == 14 {
        let week_of =
            |d: NaiveDate| d - chrono::Duration::days(d.weekday().num_days_from_monday() as i64);
        let weeks = (week_of(date) - week_of(period.start)).num_days() / 7;
        (weeks.rem_euclid(2) as usize) * 7 + weekday
    } else {
        weekday
    };
    let hours = period.hours.get(slot).copied().unwrap_or(0.0);
    if hours.is_finite() && hours > 0.0 {
        (hours * 60.0).round() as i64
    } else {
        0
    }
}

/// Half of a day's minutes, rounding a half minute up.
pub fn half(minutes: i64) -> i64 {
    (minutes + 1) / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn period(start: &str, end: Option<&str>, hours: &[f64]) -> AvailabilityPeriod {
        AvailabilityPeriod {
            start: d(start),
            end: end.map(d),
            hours: hours.to_vec(),
        }
    }

    #[test]
    fn weekly_pattern_is_monday_first() {
        let a = [period(
            "2025-01-01",
            None,
            &[8.0, 8.0, 8.0, 8.0, 6.5, 0.0, 0.0],
        )];
        assert_eq!(capacity_minutes(&a, d("2026-11-23")), 480, "Monday");
        assert_eq!(capacity_minutes(&a, d("2026-11-27")), 390, "Friday 6.5 h");
        assert_eq!(capacity_minutes(&a, d("2026-11-28")), 0, "Saturday");
        assert_eq!(
            capacity_minutes(&a, d("2024-12-31")),
            0,
            "before the first period"
        );
    }

    #[test]
    fn two_week_rotation_alternates_from_the_period_start() {
        // Starts on Wednesday 2026-01-07: that week is week A, the next week B.
        let a = [period(
            "2026-01-07",
            None,
            &[
                8.0, 8.0, 8.0, 8.0, 8.0, 0.0, 0.0, 4.0, 4.0, 4.0, 4.0, 0.0, 0.0, 0.0,
            ],
        )];
        assert_eq!(capacity_minutes(&a, d("2026-01-09")), 480, "Friday week A");
        assert_eq!(capacity_minutes(&a, d("2026-01-12")), 240, "Monday week B");
        assert_eq!(capacity_minutes(&a, d("2026-01-16")), 0, "Friday week B");
        assert_eq!(
            capacity_minutes(&a, d("2026-01-19")),
            480,
            "Monday week A again"
        );
    }

    #[test]
    fn the_period_covering_the_date_wins_and_later_starts_override() {
        let a = [
            period("2025-01-01", Some("2026-06-30"), &[8.0; 7]),
            period("2026-07-01", None, &[4.0; 7]),
            period("2026-09-01", Some("2026-09-30"), &[2.0; 7]),
        ];
        assert_eq!(capacity_minutes(&a, d("2026-06-30")), 480);
        assert_eq!(capacity_minutes(&a, d("2026-07-01")), 240);
        assert_eq!(capacity_minutes(&a, d("2026-09-15")), 120);
        assert_eq!(capacity_minutes(&a, d("2026-10-01")), 240);
    }

    #[test]
    fn halves_round_up() {
        assert_eq!(half(480), 240);
        assert_eq!(half(465), 233);
        assert_eq!(half(0), 0);
    }
}
