//! Plain data the clients convert wire responses into. No I/O, no serde wire quirks.

use chrono::NaiveDate;

/// How a Personio absence type is measured; only day-unit absences are synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AbsenceUnit {
    Day,
    Hour,
}

/// How Personio names a record: API v1 numbers periods and types, v2 gives them UUIDs (and v1
/// payloads carry the v2 id as `id_v2`). Either may be unknown to the API a record came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SourceIds {
    pub v1: Option<i64>,
    pub v2: Option<String>,
}

/// A Personio absence (time-off) type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbsenceType {
    /// The sync's key for it (see [`crate::domain::identity`]).
    pub id: i64,
    pub ids: SourceIds,
    pub name: String,
    /// Personio's category (`paid_vacation`, `unpaid_vacation`, `offsite_work`, ...), if any.
    pub category: Option<String>,
    pub unit: AbsenceUnit,
}

/// Personio's approval state of a period. Rejected periods are deleted by Personio, so they never
/// appear here; anything not approved is not synced.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeriodStatus {
    Approved,
    Pending,
    Other(String),
}

impl PeriodStatus {
    pub fn parse(raw: &str) -> Self {
        match raw.trim().to_ascii_lowercase().as_str() {
            "approved" => Self::Approved,
            "pending" | "requested" => Self::Pending,
            other => Self::Other(other.to_string()),
        }
    }
}

/// A day-unit Personio absence period (v1 `time-offs`, v2 day-unit `absence-periods`). Dates are the local dates as written by
/// Personio, inclusive at both ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbsencePeriod {
    /// The sync's key for it (see [`crate::domain::identity`]).
    pub id: i64,
    pub ids: SourceIds,
    pub employee_id: i64,
    pub email: String,
    pub type_id: i64,
    pub type_name: String,
    pub status: PeriodStatus,
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// Multi-day: the first day is the second half only. Single day: the morning.
    pub half_day_start: bool,
    /// Multi-day: the last day is the first half only. Single day: the afternoon.
    pub half_day_end: bool,
    /// The employee's name when the read carries it: only for match suggestions.
    pub name: Option<EmployeeName>,
}

/// A Personio employee's name as given with their periods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmployeeName {
    pub first: String,
    pub last: String,
}

/// An hour-unit Personio absence period (v1 `absence-periods`, v2 hour-unit `absence-periods`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourlyAbsence {
    /// Personio's id (a UUID in both API versions).
    pub id: String,
    pub email: String,
    /// The type's id as the source gave it (as [`AbsenceType::id`] before keying), if known.
    pub type_id: Option<i64>,
    pub type_name: String,
    pub status: PeriodStatus,
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
    /// The minutes it takes on each local day, or why that cannot be known exactly.
    pub minutes: Result<Vec<(NaiveDate, i64)>, String>,
}

/// One span of a Productive person's working pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct AvailabilityPeriod {
    pub start: NaiveDate,
    /// Inclusive; `None` is open-ended.
    pub end: Option<NaiveDate>,
    /// Hours per weekday, Monday first: 7 entries, or 14 for a two-week rotation.
    pub hours: Vec<f64>,
}

/// A Productive person.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub id: i64,
    pub email: Option<String>,
    pub first_name: String,
    pub last_name: String,
    /// False when deactivated.
    pub active: bool,
    pub availabilities: Vec<AvailabilityPeriod>,
}

/// What kind of absence a Productive event books.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    TimeOff,
    RemoteWork,
}

/// A Productive event (absence category).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: i64,
    pub name: String,
    pub kind: EventKind,
    pub paid: bool,
    /// Limited events need an entitlement (allowance) before bookings can be made.
    pub limited: bool,
    pub archived: bool,
}

/// The attributes of an event the sync creates or renames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDraft {
    pub name: String,
    pub kind: EventKind,
    pub paid: bool,
}

/// A Productive booking (only the parts the sync reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub id: i64,
    pub person_id: i64,
    /// `None` for budget (service) bookings.
    pub event_id: Option<i64>,
    pub started_on: NaiveDate,
    pub ended_on: NaiveDate,
    /// Minutes per day (booking method 1).
    pub minutes_per_day: Option<i64>,
    pub note: Option<String>,
    pub approved: bool,
    pub rejected: bool,
    pub canceled: bool,
}

/// What an absence booking says: whose, which event, which days and how many minutes each day.
/// `E` is how the event is known: its Productive id, or (before a new event exists) a reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BookingShape<E = i64> {
    pub person_id: i64,
    pub event: E,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub minutes: i64,
}

impl<E> BookingShape<E> {
    /// The first and last day.
    pub fn days(&self) -> (NaiveDate, NaiveDate) {
        (self.start, self.end)
    }

    /// The same booking with its event known another way.
    pub fn with_event<F>(self, event: F) -> BookingShape<F> {
        BookingShape {
            person_id: self.person_id,
            event,
            start: self.start,
            end: self.end,
            minutes: self.minutes,
        }
    }
}

/// An absence booking as the sync writes it: one number of minutes for every day in the range.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BookingDraft {
    pub shape: BookingShape,
    pub note: String,
}

/// One approval step on a Productive booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalStep {
    pub id: i64,
    /// The booking it belongs to, when the answer says (`None`: not to be acted on).
    pub booking_id: Option<i64>,
    pub approved: bool,
    pub rejected: bool,
}

/// A record the reader could not turn into a domain value: reported, never fatal for the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRecord {
    /// The record's id as the API gave it, if it could be read at all.
    pub id: Option<String>,
    pub reason: String,
}

/// What a paged read returns: the good records and the ones that could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched<T> {
    pub items: Vec<T>,
    pub rejected: Vec<RejectedRecord>,
}

impl<T> Default for Fetched<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            rejected: Vec::new(),
        }
    }
}

/// Identifies one booking the sync owns: the Personio period and which part of it (a period
/// becomes several bookings when its days need different minutes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BookingKey {
    pub period_id: i64,
    pub part: i64,
}
