//! What the Productive simulator stores: the public seed types, the database behind the
//! handlers, and the capacity arithmetic the server computes booking totals with.

use std::collections::BTreeMap;

use chrono::{Datelike, FixedOffset, NaiveDate, SecondsFormat, Utc};

use crate::domain::{AvailabilityPeriod, EventKind};

/// A person as the simulator stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimPerson {
    pub first_name: String,
    pub last_name: String,
    /// `None` for placeholders.
    pub email: Option<String>,
    pub active: bool,
    pub availabilities: Vec<AvailabilityPeriod>,
    /// Bookings for people with an approval policy start out pending.
    pub has_approval_policy: bool,
    /// Emit `availabilities` JSON-encoded in a string (live) rather than as a native array.
    pub availabilities_as_string: bool,
}

impl SimPerson {
    /// An active person working 8 h Monday to Friday since 2020, without an approval policy.
    pub fn new(first_name: &str, last_name: &str, email: Option<&str>) -> Self {
        Self {
            first_name: first_name.to_string(),
            last_name: last_name.to_string(),
            email: email.map(str::to_string),
            active: true,
            availabilities: vec![AvailabilityPeriod {
                start: NaiveDate::from_ymd_opt(2020, 1, 1).expect("valid date"),
                end: None,
                hours: vec![8.0, 8.0, 8.0, 8.0, 8.0, 0.0, 0.0],
            }],
            has_approval_policy: false,
            availabilities_as_string: true,
        }
    }
}

/// An event (absence category).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimEvent {
    pub name: String,
    pub paid: bool,
    pub kind: EventKind,
    /// 2 limited by days, 3 limited by hours, 4 unlimited.
    pub limitation_type_id: i64,
    pub half_day_bookings: bool,
    pub archived: bool,
}

impl SimEvent {
    /// A paid, unlimited time-off event.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            paid: true,
            kind: EventKind::TimeOff,
            limitation_type_id: 4,
            half_day_bookings: true,
            archived: false,
        }
    }
}

/// A booking with every attribute the simulator keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimBooking {
    pub person_id: i64,
    /// Absence bookings have an event ...
    pub event_id: Option<i64>,
    /// ... budget bookings a service.
    pub service_id: Option<i64>,
    pub started_on: NaiveDate,
    pub ended_on: NaiveDate,
    pub booking_method_id: i64,
    pub time: Option<i64>,
    pub hours: Option<i64>,
    pub percentage: Option<i64>,
    /// Computed by the server (minutes over the whole booking).
    pub total_time: i64,
    pub total_working_days: i64,
    pub note: Option<String>,
    pub approved: bool,
    pub rejected: bool,
    pub canceled: bool,
    pub created_at: String,
}

impl SimBooking {
    /// An approved per-day absence booking of `minutes` each working day.
    pub fn absence(
        person_id: i64,
        event_id: i64,
        started_on: NaiveDate,
        ended_on: NaiveDate,
        minutes: i64,
    ) -> Self {
        Self {
            person_id,
            event_id: Some(event_id),
            service_id: None,
            started_on,
            ended_on,
            booking_method_id: 1,
            time: Some(minutes),
            hours: None,
            percentage: None,
            total_time: 0,
            total_working_days: 0,
            note: Some(String::new()),
            approved: true,
            rejected: false,
            canceled: false,
            created_at: now(),
        }
    }

    /// A budget booking on a service (no event): never touched by the sync.
    pub fn service(
        person_id: i64,
        service_id: i64,
        started_on: NaiveDate,
        ended_on: NaiveDate,
        minutes: i64,
    ) -> Self {
        Self {
            event_id: None,
            service_id: Some(service_id),
            ..Self::absence(person_id, 0, started_on, ended_on, minutes)
        }
    }
}

/// One approval step of a booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimApproval {
    pub booking_id: i64,
    pub approved_at: Option<String>,
    pub rejected_at: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Default)]
pub(super) struct Db {
    /// Rendered as the always-linked `organization` relationship.
    pub(super) org: i64,
    pub(super) next_id: i64,
    pub(super) people: BTreeMap<i64, SimPerson>,
    pub(super) events: BTreeMap<i64, SimEvent>,
    pub(super) bookings: BTreeMap<i64, SimBooking>,
    pub(super) approvals: BTreeMap<i64, SimApproval>,
}

impl Db {
    pub(super) fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }
}

/// The server's clock as Productive writes timestamps (millisecond RFC 3339, +01:00).
pub(super) fn now() -> String {
    let offset = FixedOffset::east_opt(3600).expect("valid offset");
    Utc::now()
        .with_timezone(&offset)
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

// Capacity: what `total_time` and `total_working_days` are computed from

/// Minutes `person` works on `day`: the period covering the day (the latest start wins), hours by
/// weekday, Monday first; a 14-entry pattern alternates weeks counted from the period's start.
fn capacity_minutes(person: &SimPerson, day: NaiveDate) -> i64 {
    let Some(period) = person
        .availabilities
        .iter()
        .filter(|a| a.start <= day && a.end.is_none_or(|end| day <= end))
        .max_by_key(|a| a.start)
    else {
        return 0;
    };
    let weekday = day.weekday().num_days_from_monday() as usize;
    let index = if period.hours.len() == 14 {
        let first_monday = period.start
            - chrono::Days::new(u64::from(period.start.weekday().num_days_from_monday()));
        let week = (day - first_monday).num_days() / 7;
        (week % 2) as usize * 7 + weekday
    } else {
        weekday
    };
    period
        .hours
        .get(index)
        .map_or(0, |h| (h * 60.0).round() as i64)
}

pub(super) fn compute_totals(booking: &mut SimBooking, person: Option<&SimPerson>) {
    let working: Vec<i64> = booking
        .started_on
        .iter_days()
        .take_while(|d| *d <= booking.ended_on)
        .map(|d| person.map_or(0, |p| capacity_minutes(p, d)))
        .filter(|minutes| *minutes > 0)
        .collect();
    booking.total_working_days = working.len() as i64;
    booking.total_time = match booking.booking_method_id {
        2 => working
            .iter()
            .map(|m| m * booking.percentage.unwrap_or(0) / 100)
            .sum(),
        3 => booking.total_time,
        _ => booking.total_working_days * booking.time.unwrap_or(0),
    };
}
