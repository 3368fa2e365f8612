//! The absence source: types, day-unit time-offs and hourly absence periods, with conversion of
//! lenient wire records into domain values.

use chrono::{Days, NaiveDate};
use serde_json::Value;

use super::client::{PersonioClient, API};
use super::wire;
use crate::domain::model::{
    AbsencePeriod, AbsenceType, AbsenceUnit, EmployeeName, Fetched, HourlyAbsence, PeriodStatus,
    RejectedRecord, SourceIds,
};
use crate::http::ApiError;

/// Largest page the time-off-types endpoint accepts.
const TYPES_LIMIT: usize = 200;
/// The v1 time-offs filter may return only the periods lying wholly inside the dates it is sent,
/// so a read asks from a year before the window (unless told to reach further back) to ten years
/// after it, and filters locally.
const REACH_BACK: Days = Days::new(366);
const REACH_AHEAD: Days = Days::new(3660);

/// Periods that end on or after `from` and start on or before `to` (inclusive local dates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeOffQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Only those created or changed since this day, whatever their dates.
    pub updated_from: Option<NaiveDate>,
    /// Ask for periods starting on or after this day instead of a year before `from` (a first
    /// read reaches far back for long absences).
    pub reach_back: Option<NaiveDate>,
}

impl TimeOffQuery {
    pub fn window(from: NaiveDate, to: NaiveDate) -> Self {
        Self {
            from,
            to,
            updated_from: None,
            reach_back: None,
        }
    }

    /// The dates sent: periods wholly inside them are returned whichever way Personio filters.
    fn sent(&self) -> (NaiveDate, NaiveDate) {
        let start = self.reach_back.unwrap_or(self.from - REACH_BACK);
        (start, self.to + REACH_AHEAD)
    }

    /// Whether this read, when it is a whole one (no `updated_from`), is sure to return `p` if
    /// it still exists: only then may its absence from the answer be taken for deletion.
    pub fn could_return(&self, p: &AbsencePeriod) -> bool {
        let (start, end) = self.sent();
        self.updated_from.is_none() && p.start >= start && p.end <= end
    }
}

/// What a lookup by id found.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup<T> {
    Found(T),
    /// 404: deleted (Personio deletes rejected requests too).
    Gone,
    Unreadable(RejectedRecord),
}

/// Where absences come from; the seam for a later API v2 source.
#[async_trait::async_trait]
pub trait AbsenceSource: Send + Sync {
    async fn absence_types(&self) -> Result<Fetched<AbsenceType>, ApiError>;
    async fn time_offs(&self, query: &TimeOffQuery) -> Result<Fetched<AbsencePeriod>, ApiError>;
    /// One period by id, to confirm a period no whole read could have returned, or one a webhook
    /// named. Each API looks it up by its own id.
    async fn time_off(&self, ids: &SourceIds) -> Result<Lookup<AbsencePeriod>, ApiError>;
    async fn hourly_absences(
        &self,
        query: &TimeOffQuery,
    ) -> Result<Fetched<HourlyAbsence>, ApiError>;
    /// An hour-unit absence that was booked and is missing from a whole read: `Gone` only when
    /// Personio no longer has it.
    async fn confirm_hourly(&self, id: &str) -> Result<Lookup<HourlyAbsence>, ApiError>;
    /// Whether a whole read by `query` is sure to return `p` if it still exists: only then may
    /// its absence from the answer be taken for deletion.
    fn could_return(&self, query: &TimeOffQuery, p: &AbsencePeriod) -> bool {
        query.could_return(p)
    }
}

#[async_trait::async_trait]
impl AbsenceSource for PersonioClient {
    async fn absence_types(&self) -> Result<Fetched<AbsenceType>, ApiError> {
        self.record_offset_pages("/v1/company/time-off-types", TYPES_LIMIT, absence_type)
            .await
    }

    async fn time_offs(&self, query: &TimeOffQuery) -> Result<Fetched<AbsencePeriod>, ApiError> {
        let mut params = Vec::new();
        match query.updated_from {
            None => {
                let (start, end) = query.sent();
                params.push(("start_date", start.to_string()));
                params.push(("end_date", end.to_string()));
            }
            Some(since) => {
                // Changes of periods of any dates (a long absence edited years after it began).
                // One day of overlap covers changes late on the previous run's day in any zone;
                // the parameter was renamed, so both spellings are sent.
                let since = (since - Days::new(1)).to_string();
                params.push(("updated_from", since.clone()));
                params.push(("updated_since", since));
            }
        }
        let mut fetched = self
            .read_numbered_pages("/v1/company/time-offs", &params, time_off)
            .await?;
        fetched
            .items
            .retain(|p| p.start <= query.to && p.end >= query.from);
        Ok(fetched)
    }

    async fn time_off(&self, ids: &SourceIds) -> Result<Lookup<AbsencePeriod>, ApiError> {
        let Some(id) = ids.v1 else {
            return Ok(Lookup::Unreadable(RejectedRecord {
                id: ids.v2.clone(),
                reason: "known only by its API v2 id, which API v1 cannot look up".into(),
            }));
        };
        let reply = match self.get(&format!("/v1/company/time-offs/{id}"), &[]).await {
            Ok(reply) => reply,
            Err(e) if e.status() == Some(404) => return Ok(Lookup::Gone),
            Err(e) => return Err(e),
        };
        let single: wire::Single = reply.json(API)?;
        Ok(match time_off(single.data) {
            Ok(p) => Lookup::Found(p),
            Err(rejected) => Lookup::Unreadable(rejected),
        })
    }

    async fn hourly_absences(
        &self,
        query: &TimeOffQuery,
    ) -> Result<Fetched<HourlyAbsence>, ApiError> {
        // Filtered on UTC times: a day more on either side returns every absence whose local
        // days touch the query.
        let mut params = vec![
            ("start_date", (query.from - Days::new(1)).to_string()),
            ("end_date", (query.to + Days::new(1)).to_string()),
        ];
        if let Some(since) = query.updated_from {
            // A date-time here, unlike time-offs.
            params.push((
                "updated_from",
                format!("{}T00:00:00Z", since - Days::new(1)),
            ));
        }
        let mut fetched = self
            .read_numbered_pages("/v1/company/absence-periods", &params, hourly)
            .await?;
        fetched
            .items
            .retain(|a| a.start <= query.to && a.end.unwrap_or(a.start) >= query.from);
        Ok(fetched)
    }

    /// A whole v1 read is checked against the totals Personio gives with it, so an absence
    /// missing from one is gone.
    async fn confirm_hourly(&self, _id: &str) -> Result<Lookup<HourlyAbsence>, ApiError> {
        Ok(Lookup::Gone)
    }
}

/// Decodes a record's attributes, or says which record could not be read and why.
fn decode<A: serde::de::DeserializeOwned>(record: Value) -> Result<(String, A), RejectedRecord> {
    let id = wire::raw_id(&record);
    let reject = |reason: String| RejectedRecord {
        id: id.clone(),
        reason,
    };
    let item: wire::Item<A> = serde_json::from_value(record).map_err(|e| reject(e.to_string()))?;
    Ok((id.clone().unwrap_or_default(), item.attributes))
}

fn rejected(id: &str, reason: impl Into<String>) -> RejectedRecord {
    RejectedRecord {
        id: Some(id.to_string()),
        reason: reason.into(),
    }
}

fn email_of(id: &str, email: Option<wire::Attr<Option<String>>>) -> Result<String, RejectedRecord> {
    email
        .and_then(|a| a.value)
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
        .ok_or_else(|| {
            rejected(
                id,
                "no employee email (is the email attribute whitelisted?)",
            )
        })
}

/// The employee's name, when the record carries one as text.
fn name_of(employee: &wire::EmployeeRef) -> Option<EmployeeName> {
    let text = |attr: &Option<Value>| {
        attr.as_ref()
            .and_then(|a| a.get("value"))
            .and_then(Value::as_str)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let (first, last) = (text(&employee.first_name), text(&employee.last_name));
    (!first.is_empty() || !last.is_empty()).then_some(EmployeeName { first, last })
}

fn absence_type(record: Value) -> Result<AbsenceType, RejectedRecord> {
    let (id, t) = decode::<wire::TimeOffType>(record)?;
    let unit = match t.unit.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("day") | Some("days") => AbsenceUnit::Day,
        Some("hour") | Some("hours") => AbsenceUnit::Hour,
        Some(other) => return Err(rejected(&id, format!("unknown unit {other:?}"))),
    };
    Ok(AbsenceType {
        id: t.id,
        ids: SourceIds {
            v1: Some(t.id),
            v2: t.id_v2,
        },
        name: t.name,
        category: t.category.filter(|c| !c.is_empty()),
        unit,
    })
}

fn time_off(record: Value) -> Result<AbsencePeriod, RejectedRecord> {
    let (id, t) = decode::<wire::TimeOff>(record)?;
    let start = wire::local_date(&t.start_date).map_err(|e| rejected(&id, e))?;
    let end = wire::local_date(&t.end_date).map_err(|e| rejected(&id, e))?;
    if end < start {
        return Err(rejected(
            &id,
            format!("ends ({end}) before it starts ({start})"),
        ));
    }
    let name = name_of(&t.employee.attributes);
    let email = email_of(&id, t.employee.attributes.email)?;
    // Only approved periods are booked: a period without a status is not assumed approved.
    let status = t
        .status
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| rejected(&id, "no status".to_string()))?;
    let period = AbsencePeriod {
        id: t.id,
        ids: SourceIds {
            v1: Some(t.id),
            v2: t.id_v2,
        },
        employee_id: t.employee.attributes.id.value.0,
        email,
        type_id: t.time_off_type.attributes.id,
        type_name: t.time_off_type.attributes.name.unwrap_or_default(),
        status: PeriodStatus::parse(status),
        start,
        end,
        half_day_start: t.half_day_start.0,
        half_day_end: t.half_day_end.0,
        name,
    };
    Ok(period)
}

fn hourly(record: Value) -> Result<HourlyAbsence, RejectedRecord> {
    let (id, a) = decode::<wire::HourlyPeriod>(record)?;
    let email = email_of(&id, a.employee.attributes.email)?;
    // Breakdown dates are local; start/end are UTC and may sit on the previous local day.
    let dates = a.breakdowns.iter().map(|b| b.date);
    let (start, end) = match (dates.clone().min(), dates.max()) {
        (Some(first), Some(last)) => (first, Some(last)),
        _ => (a.start.date_naive(), a.end.map(|e| e.date_naive())),
    };
    let absence = HourlyAbsence {
        minutes: breakdown_minutes(&a.breakdowns),
        id: a.id,
        email,
        type_id: a.absence_type.attributes.time_off_type_id,
        type_name: a.absence_type.attributes.name.unwrap_or_default(),
        status: PeriodStatus::parse(a.status.as_deref().unwrap_or("approved")),
        start,
        end,
    };
    Ok(absence)
}

/// Minutes per local day from the breakdowns. Without them the local days are unknown (start and
/// end are UTC and the employee's zone is not given), so nothing can be booked exactly.
fn breakdown_minutes(breakdowns: &[wire::Breakdown]) -> Result<Vec<(NaiveDate, i64)>, String> {
    if breakdowns.is_empty() {
        return Err("Personio gave no per-day breakdown of its hours".into());
    }
    let mut days = std::collections::BTreeMap::new();
    for b in breakdowns {
        let minutes = b
            .effective_duration
            .ok_or_else(|| format!("the breakdown of {} gives no readable duration", b.date))?;
        *days.entry(b.date).or_insert(0) += minutes;
    }
    Ok(days.into_iter().collect())
}
