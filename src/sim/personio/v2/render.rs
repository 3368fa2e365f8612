//! The JSON v2 writes for absence periods: half days as FIRST_HALF / SECOND_HALF boundaries,
//! day-unit ends at the exclusive next midnight, local wall times without offset, and the
//! daily breakdowns; plus the problem+json error.

use axum::http::StatusCode;
use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde_json::{json, Value};

use super::PersonioV2Quirks;
use crate::sim::personio::render::Fail;
use crate::sim::personio::{SimHourlyAbsence, SimTimeOff, State_, StoredHourly, StoredTimeOff};
use crate::sim::{error_response, Flavor};

/// A v2 error in `application/problem+json`.
pub(in crate::sim::personio) fn v2_error(status: StatusCode, title: &str, detail: &str) -> Fail {
    Fail(Box::new(error_response(
        Flavor::PersonioV2,
        status,
        title,
        detail,
    )))
}

pub(super) fn not_found() -> Fail {
    v2_error(
        StatusCode::NOT_FOUND,
        "Resource not found",
        "There is no resource for the specified id.",
    )
}

/// Which half of its day a boundary of a day-unit period lies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Half {
    First,
    Second,
}

impl Half {
    fn wire(self) -> &'static str {
        match self {
            Self::First => "FIRST_HALF",
            Self::Second => "SECOND_HALF",
        }
    }
}

/// The boundary halves of a v1 day-unit period. A full boundary reads FIRST_HALF at the start
/// and SECOND_HALF at the end; v1's half-day flags move them to midday. On a single day the
/// flags name the half taken: `half_day_start` the morning, `half_day_end` the afternoon (both:
/// the morning, as Personio refuses such a period anyway).
pub(super) fn halves(p: &SimTimeOff) -> (Half, Half) {
    if p.start == p.end {
        return match (p.half_day_start, p.half_day_end) {
            (true, _) => (Half::First, Half::First),
            (false, true) => (Half::Second, Half::Second),
            (false, false) => (Half::First, Half::Second),
        };
    }
    let start = if p.half_day_start {
        Half::Second
    } else {
        Half::First
    };
    let end = if p.half_day_end {
        Half::First
    } else {
        Half::Second
    };
    (start, end)
}

/// The date `ends_at` of a day-unit period names: the next day (exclusive), or with
/// `inclusive_end` the last day itself.
pub(super) fn end_date(last: NaiveDate, inclusive_end: bool) -> NaiveDate {
    if inclusive_end {
        last
    } else {
        last + Days::new(1)
    }
}

/// How much of each calendar day a day-unit period takes: 1, or 0.5 on a half day.
pub(super) fn day_breakdown(p: &SimTimeOff) -> Vec<(NaiveDate, f64)> {
    let single_half = p.start == p.end && (p.half_day_start || p.half_day_end);
    p.start
        .iter_days()
        .take_while(|d| *d <= p.end)
        .map(|d| {
            let half =
                single_half || (d == p.start && p.half_day_start) || (d == p.end && p.half_day_end);
            (d, if half { 0.5 } else { 1.0 })
        })
        .collect()
}

/// The hours an hour-unit absence takes on each calendar day it touches.
pub(super) fn hour_breakdown(a: &SimHourlyAbsence) -> Vec<(NaiveDate, f64)> {
    a.start
        .date()
        .iter_days()
        .take_while(|d| *d <= a.end.date())
        .map(|d| {
            let from = a.start.max(d.and_time(NaiveTime::MIN));
            let until = a.end.min((d + Days::new(1)).and_time(NaiveTime::MIN));
            (d, (until - from).num_minutes() as f64 / 60.0)
        })
        .filter(|(_, hours)| *hours > 0.0)
        .collect()
}

/// A JSON number, whole values without a fraction (`1`, `0.5`), as Personio writes them.
pub(super) fn amount(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

fn local(at: NaiveDateTime, quirks: &PersonioV2Quirks) -> String {
    let z = if quirks.stray_z { "Z" } else { "" };
    format!("{}{z}", at.format("%Y-%m-%dT%H:%M:%S"))
}

pub(super) fn zulu(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn midnight(date: NaiveDate) -> NaiveDateTime {
    date.and_time(NaiveTime::MIN)
}

/// The fields both kinds of period share.
struct Common<'a> {
    id: String,
    employee_id: i64,
    type_id: i64,
    status: &'a str,
    comment: Option<&'a str>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn period_json(state: &State_, c: Common<'_>, starts_from: Value, ends_at: Value) -> Value {
    let tz = state
        .employees
        .get(&c.employee_id)
        .map_or(chrono_tz::UTC, |e| e.tz);
    json!({
        "id": c.id,
        "person": { "id": c.employee_id.to_string() },
        "absence_type": { "id": super::type_uuid(c.type_id).to_string() },
        "starts_from": starts_from,
        "ends_at": ends_at,
        "timezone_id": tz.name(),
        "comment": c.comment,
        "approval": { "status": c.status.to_uppercase() },
        "created_at": zulu(c.created_at),
        "updated_at": zulu(c.updated_at),
    })
}

pub(super) fn time_off_json(state: &State_, id: i64, stored: &StoredTimeOff) -> Value {
    let p = &stored.period;
    let quirks = &state.v2.quirks;
    let (start, end) = halves(p);
    let ends = end_date(p.end, quirks.inclusive_end);
    let common = Common {
        id: super::time_off_uuid(id).to_string(),
        employee_id: p.employee_id,
        type_id: p.type_id,
        status: &p.status,
        comment: p.comment.as_deref(),
        created_at: stored.created_at,
        updated_at: stored.updated_at,
    };
    period_json(
        state,
        common,
        json!({ "date_time": local(midnight(p.start), quirks), "type": start.wire() }),
        json!({ "date_time": local(midnight(ends), quirks), "type": end.wire() }),
    )
}

pub(super) fn hourly_json(state: &State_, id: &str, stored: &StoredHourly) -> Value {
    let a = &stored.absence;
    let quirks = &state.v2.quirks;
    let common = Common {
        id: id.to_string(),
        employee_id: a.employee_id,
        type_id: a.type_id,
        status: &a.status,
        comment: a.comment.as_deref(),
        created_at: stored.created_at,
        updated_at: stored.created_at,
    };
    period_json(
        state,
        common,
        json!({ "date_time": local(a.start, quirks) }),
        json!({ "date_time": local(a.end, quirks) }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, day).unwrap()
    }

    fn period(start: u32, end: u32, half_start: bool, half_end: bool) -> SimTimeOff {
        SimTimeOff {
            employee_id: 1,
            type_id: 2,
            start: d(start),
            end: d(end),
            half_day_start: half_start,
            half_day_end: half_end,
            status: "approved".into(),
            comment: None,
        }
    }

    #[test]
    fn multi_day_halves_move_the_boundaries_to_midday() {
        use Half::{First, Second};
        assert_eq!(halves(&period(10, 12, false, false)), (First, Second));
        assert_eq!(halves(&period(10, 12, true, false)), (Second, Second));
        assert_eq!(halves(&period(10, 12, false, true)), (First, First));
        assert_eq!(halves(&period(10, 12, true, true)), (Second, First));
    }

    #[test]
    fn a_single_half_day_names_its_half() {
        use Half::{First, Second};
        assert_eq!(halves(&period(10, 10, false, false)), (First, Second));
        assert_eq!(halves(&period(10, 10, true, false)), (First, First));
        assert_eq!(halves(&period(10, 10, false, true)), (Second, Second));
    }

    #[test]
    fn the_end_is_the_next_midnight_unless_inclusive() {
        assert_eq!(end_date(d(12), false), d(13));
        assert_eq!(
            end_date(d(30), false),
            NaiveDate::from_ymd_opt(2026, 7, 1).unwrap()
        );
        assert_eq!(end_date(d(12), true), d(12));
    }

    #[test]
    fn breakdowns_count_each_calendar_day_and_halves() {
        assert_eq!(
            day_breakdown(&period(10, 12, true, true)),
            vec![(d(10), 0.5), (d(11), 1.0), (d(12), 0.5)]
        );
        assert_eq!(
            day_breakdown(&period(10, 10, false, true)),
            vec![(d(10), 0.5)]
        );
        assert_eq!(
            day_breakdown(&period(10, 10, false, false)),
            vec![(d(10), 1.0)]
        );
        let at = |day, h, m| d(day).and_hms_opt(h, m, 0).unwrap();
        let overnight = SimHourlyAbsence {
            employee_id: 1,
            type_id: 2,
            start: at(10, 22, 30),
            end: at(11, 2, 0),
            status: "approved".into(),
            comment: None,
        };
        assert_eq!(hour_breakdown(&overnight), vec![(d(10), 1.5), (d(11), 2.0)]);
    }

    #[test]
    fn whole_amounts_have_no_fraction() {
        assert_eq!(amount(1.0).to_string(), "1");
        assert_eq!(amount(0.5).to_string(), "0.5");
    }
}
