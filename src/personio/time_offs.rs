//! The absence source: types, day-unit time-offs and hourly absence periods, with conversion of
//! lenient wire records into domain values.

use chrono::{Days, NaiveDate};
use serde_json::Value;

use super::client::PersonioClient;
use super::wire;
use crate::domain::model::{
    AbsencePeriod, AbsenceType, AbsenceUnit, Fetched, HourlyAbsence, PeriodStatus, RejectedRecord,
};
use crate::http::ApiError;

/// Largest page the time-off-types endpoint accepts.
const TYPES_LIMIT: usize = 200;
/// The v1 time-offs filter may only return periods fully inside the window, so the request
/// window is widened by a year each side and the result filtered locally.
const WINDOW_WIDENING: Days = Days::new(366);

/// Periods overlapping [from, to] (inclusive local dates); with updated_from, only those
/// created/changed since that date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeOffQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub updated_from: Option<NaiveDate>,
}

/// Where absences come from; the seam for a later API v2 source.
#[async_trait::async_trait]
pub trait AbsenceSource: Send + Sync {
    async fn absence_types(&self) -> Result<Fetched<AbsenceType>, ApiError>;
    async fn time_offs(&self, query: &TimeOffQuery) -> Result<Fetched<AbsencePeriod>, ApiError>;
    async fn hourly_absences(
        &self,
        query: &TimeOffQuery,
    ) -> Result<Fetched<HourlyAbsence>, ApiError>;
}

#[async_trait::async_trait]
impl AbsenceSource for PersonioClient {
    async fn absence_types(&self) -> Result<Fetched<AbsenceType>, ApiError> {
        self.record_offset_pages("/v1/company/time-off-types", TYPES_LIMIT, absence_type)
            .await
    }

    async fn time_offs(&self, query: &TimeOffQuery) -> Result<Fetched<AbsencePeriod>, ApiError> {
        let mut params = vec![
            ("start_date", (query.from - WINDOW_WIDENING).to_string()),
            ("end_date", (query.to + WINDOW_WIDENING).to_string()),
        ];
        if let Some(since) = query.updated_from {
            // One day of overlap covers changes late on the previous run's day in any zone;
            // the parameter was renamed, so both spellings are sent.
            let since = (since - Days::new(1)).to_string();
            params.push(("updated_from", since.clone()));
            params.push(("updated_since", since));
        }
        let mut fetched = self
            .read_numbered_pages("/v1/company/time-offs", &params, time_off)
            .await?;
        fetched
            .items
            .retain(|p| p.start <= query.to && p.end >= query.from);
        Ok(fetched)
    }

    async fn hourly_absences(
        &self,
        query: &TimeOffQuery,
    ) -> Result<Fetched<HourlyAbsence>, ApiError> {
        let mut params = vec![
            ("start_date", query.from.to_string()),
            ("end_date", query.to.to_string()),
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

fn absence_type(record: Value) -> Result<AbsenceType, RejectedRecord> {
    let (id, t) = decode::<wire::TimeOffType>(record)?;
    let unit = match t.unit.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("day") | Some("days") => AbsenceUnit::Day,
        Some("hour") | Some("hours") => AbsenceUnit::Hour,
        Some(other) => return Err(rejected(&id, format!("unknown unit {other:?}"))),
    };
    Ok(AbsenceType {
        id: t.id,
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
    let email = email_of(&id, t.employee.attributes.email)?;
    // Only approved periods are booked: a period without a status is not assumed approved.
    let status = t
        .status
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| rejected(&id, "no status".to_string()))?;
    let period = AbsencePeriod {
        id: t.id,
        employee_id: t.employee.attributes.id.value.0,
        email,
        type_id: t.time_off_type.attributes.id,
        type_name: t.time_off_type.attributes.name.unwrap_or_default(),
        status: PeriodStatus::parse(status),
        start,
        end,
        half_day_start: t.half_day_start.0,
        half_day_end: t.half_day_end.0,
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
        id: a.id,
        email,
        type_name: a.absence_type.attributes.name.unwrap_or_default(),
        status: PeriodStatus::parse(a.status.as_deref().unwrap_or("approved")),
        start,
        end,
    };
    Ok(absence)
}
