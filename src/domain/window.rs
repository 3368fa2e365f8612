//! Which periods are in scope: approved, and ending no earlier than `lookback_months` before
//! today (local date in the configured time zone). Periods that started earlier still count.

use chrono::{DateTime, Months, NaiveDate, TimeZone, Utc};

/// How far ahead the sync looks for absences (Personio needs an end date for its filter).
pub const HORIZON_YEARS: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub today: NaiveDate,
    /// The earliest end date in scope.
    pub start: NaiveDate,
    /// The latest date the sync asks Personio about.
    pub horizon: NaiveDate,
}

impl Window {
    pub fn new<Tz: TimeZone>(now: DateTime<Utc>, tz: &Tz, lookback_months: u32) -> Self {
        let today = now.with_timezone(tz).date_naive();
        Self::from_today(today, lookback_months)
    }

    pub fn from_today(today: NaiveDate, lookback_months: u32) -> Self {
        // checked_sub_months clamps to the month's last day (May 31 - 3 months = Feb 28/29).
        let start = today
            .checked_sub_months(Months::new(lookback_months))
            .unwrap_or(NaiveDate::MIN);
        let horizon = today
            .checked_add_months(Months::new(12 * HORIZON_YEARS))
            .unwrap_or(NaiveDate::MAX);
        Self {
            today,
            start,
            horizon,
        }
    }

    /// Ends inside the window (the window is open towards the future).
    pub fn covers(&self, end: NaiveDate) -> bool {
        end >= self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn today_is_the_local_date_in_the_configured_zone() {
        // 23:30 UTC on Nov 25 is already Nov 26 in Berlin and still Nov 25 in New York.
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 23, 30, 0).unwrap();
        assert_eq!(
            Window::new(now, &chrono_tz::Europe::Berlin, 3).today,
            d("2026-11-26")
        );
        assert_eq!(
            Window::new(now, &chrono_tz::America::New_York, 3).today,
            d("2026-11-25")
        );
    }

    #[test]
    fn lookback_counts_calendar_months_and_clamps() {
        assert_eq!(
            Window::from_today(d("2026-11-26"), 3).start,
            d("2026-08-26")
        );
        assert_eq!(
            Window::from_today(d("2026-05-31"), 3).start,
            d("2026-02-28")
        );
        assert_eq!(
            Window::from_today(d("2026-11-26"), 0).start,
            d("2026-11-26")
        );
    }

    #[test]
    fn covers_periods_ending_in_the_window() {
        let w = Window::from_today(d("2026-11-26"), 3);
        assert!(
            w.covers(d("2026-08-26")),
            "ends on the first day of the window"
        );
        assert!(
            !w.covers(d("2026-08-25")),
            "ended the day before the window"
        );
        assert!(w.covers(d("2030-01-01")));
    }
}
