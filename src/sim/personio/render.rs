//! Request parameters, v1 error envelopes, and the JSON Personio writes: local offsets per date,
//! 0/1 flags, attribute objects, and page-number paging.

use std::collections::HashSet;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

use super::{PersonioQuirks, SimEmployee, State_, StoredHourly, StoredTimeOff};
use crate::sim::{error_response, Flavor};

/// Largest page of time-offs and absence-periods.
const NUMBERED_MAX_LIMIT: usize = 200;

pub(super) type Reply = Result<Response, Fail>;

/// An error answer (boxed: responses are large and travel through `?` a lot).
#[derive(Debug)]
pub(super) struct Fail(pub(super) Box<Response>);

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        *self.0
    }
}

pub(super) fn v1_error(status: StatusCode, message: &str) -> Fail {
    Fail(Box::new(error_response(
        Flavor::PersonioV1,
        status,
        "",
        message,
    )))
}

/// The answer of a v1 endpoint that echoes the (stable) token like Personio does.
pub(super) fn with_token(body: Value, token: &str) -> Response {
    let mut response = Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) {
        response.headers_mut().insert(header::AUTHORIZATION, value);
    }
    response
}

pub(super) fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub(super) fn int_param(query: &[(String, String)], name: &str, default: i64) -> Result<i64, Fail> {
    match param(query, name) {
        None => Ok(default),
        Some(raw) => raw.parse().map_err(|_| {
            v1_error(
                StatusCode::BAD_REQUEST,
                &format!("The {name} parameter is invalid."),
            )
        }),
    }
}

/// A date query parameter; date-times are cut to their date.
pub(super) fn date_param(
    query: &[(String, String)],
    name: &str,
) -> Result<Option<NaiveDate>, Fail> {
    param(query, name)
        .map(|raw| {
            NaiveDate::parse_from_str(raw.get(..10).unwrap_or(raw), "%Y-%m-%d").map_err(|_| {
                v1_error(
                    StatusCode::BAD_REQUEST,
                    &format!("The {name} parameter must be a date (YYYY-MM-DD)."),
                )
            })
        })
        .transpose()
}

pub(super) fn employee_filter(query: &[(String, String)]) -> Option<HashSet<i64>> {
    let ids: HashSet<i64> = query
        .iter()
        .filter(|(k, _)| k == "employees[]" || k == "employees")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    (!ids.is_empty()).then_some(ids)
}

pub(super) fn number(value: i64, as_string: bool) -> Value {
    if as_string {
        json!(value.to_string())
    } else {
        json!(value)
    }
}

/// Local midnight of `date` in `tz`, written with the offset in force on that date.
fn local_midnight(date: NaiveDate, tz: Tz) -> String {
    let offset = tz
        .offset_from_local_datetime(&date.and_time(NaiveTime::MIN))
        .earliest()
        .map_or_else(|| tz.offset_from_utc_date(&date).fix(), |o| o.fix());
    format!("{date}T00:00:00{}", offset_string(offset.local_minus_utc()))
}

fn offset_string(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

fn local_timestamp(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

pub(super) fn attr(label: &str, value: Value, kind: &str, universal_id: &str) -> Value {
    json!({ "label": label, "value": value, "type": kind, "universal_id": universal_id })
}

fn employee_ref(id: i64, e: Option<&SimEmployee>) -> Value {
    let text = |f: fn(&SimEmployee) -> &str| e.map_or(String::new(), |e| f(e).to_string());
    json!({
        "type": "Employee",
        "attributes": {
            "id": attr("ID", json!(id), "integer", "id"),
            "first_name": attr("First name", json!(text(|e| &e.first_name)), "standard", "first_name"),
            "last_name": attr("Last name", json!(text(|e| &e.last_name)), "standard", "last_name"),
            "email": attr("Email", json!(text(|e| &e.email)), "standard", "email"),
        }
    })
}

pub(super) fn time_off_json(state: &State_, id: i64, stored: &StoredTimeOff) -> Value {
    let p = &stored.period;
    let employee = state.employees.get(&p.employee_id);
    let tz = employee.map_or(chrono_tz::UTC, |e| e.tz);
    let kind = state.types.get(&p.type_id);
    // Working days only, halves counted, like Personio's days_count.
    let mut days: f64 = p
        .start
        .iter_days()
        .take_while(|d| *d <= p.end)
        .filter(|d| chrono::Datelike::weekday(d).number_from_monday() <= 5)
        .count() as f64;
    days -= 0.5 * (u8::from(p.half_day_start) + u8::from(p.half_day_end)) as f64;
    json!({
        "type": "TimeOffPeriod",
        "attributes": {
            "id": id,
            "id_v2": super::v2::time_off_uuid(id).to_string(),
            "status": p.status,
            "comment": p.comment.clone().unwrap_or_default(),
            "start_date": local_midnight(p.start, tz),
            "end_date": local_midnight(p.end, tz),
            "days_count": days.max(0.0),
            // Documented as booleans, sent as integers.
            "half_day_start": u8::from(p.half_day_start),
            "half_day_end": u8::from(p.half_day_end),
            "time_off_type": {
                "type": "TimeOffType",
                "attributes": {
                    "id": p.type_id,
                    "name": kind.map_or("", |k| k.name.as_str()),
                    "category": kind.and_then(|k| k.category.clone()),
                }
            },
            "employee": employee_ref(p.employee_id, employee),
            "created_by": "API",
            "certificate": { "status": "not-required" },
            "created_at": local_timestamp(stored.created_at, tz),
            "updated_at": local_timestamp(stored.updated_at, tz),
        }
    })
}

/// Page-number paging of time-offs and absence-periods: `offset` is 1-based, 0 means 1.
/// Only the requested page is rendered: large seeded organisations stay fast.
pub(super) fn page_numbered<T>(
    query: &[(String, String)],
    quirks: &PersonioQuirks,
    records: &[T],
    render: impl Fn(&T) -> Value,
) -> Result<Value, Fail> {
    let limit = int_param(query, "limit", NUMBERED_MAX_LIMIT as i64)?;
    if !(1..=NUMBERED_MAX_LIMIT as i64).contains(&limit) {
        return Err(v1_error(
            StatusCode::BAD_REQUEST,
            "The limit parameter must be between 1 and 200.",
        ));
    }
    let limit = limit as usize;
    let page = int_param(query, "offset", 1)?.max(1) as usize;
    let served = if quirks.ignore_page_number { 1 } else { page };
    let total = records.len();
    let start = (served - 1).saturating_mul(limit).min(total);
    let mut data: Vec<Value> = records[start..(start + limit).min(total)]
        .iter()
        .map(&render)
        .collect();
    if quirks.duplicate_across_pages && start > 0 && !data.is_empty() {
        data.insert(0, render(&records[start - 1]));
    }
    if quirks.drop_page == Some(page) {
        data.clear();
    }
    let (total_elements, total_pages) = match quirks.claim_total_pages {
        Some(pages) => (total.min(pages * limit), pages),
        None => (total, total.div_ceil(limit)),
    };
    let metadata = (!quirks.omit_metadata).then(|| {
        json!({
            "total_elements": total_elements,
            "current_page": page,
            "total_pages": total_pages,
        })
    });
    let strings = quirks.envelope_numbers_as_strings;
    Ok(json!({
        "success": true,
        "metadata": metadata,
        "data": data,
        "offset": number(page as i64 - 1, strings),
        "limit": number(limit as i64, strings),
    }))
}

pub(super) fn hourly_json(state: &State_, id: &str, stored: &StoredHourly) -> Value {
    let a = &stored.absence;
    let employee = state.employees.get(&a.employee_id);
    let tz = employee.map_or(chrono_tz::UTC, |e| e.tz);
    let utc = |local: NaiveDateTime| {
        tz.from_local_datetime(&local)
            .earliest()
            .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
    };
    let (start, end) = (utc(a.start), utc(a.end));
    let breakdowns: Vec<Value> = a
        .start
        .date()
        .iter_days()
        .take_while(|d| *d <= a.end.date())
        .filter(|_| !state.quirks.hourly_without_breakdowns)
        .map(|d| {
            let from = a.start.max(d.and_time(NaiveTime::MIN));
            let until = a
                .end
                .min((d + chrono::Days::new(1)).and_time(NaiveTime::MIN));
            json!({ "date": d.to_string(), "effective_duration": (until - from).num_minutes() })
        })
        .collect();
    let zulu = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    json!({
        "type": "AbsencePeriod",
        "attributes": {
            "id": id,
            "measurement_unit": "hour",
            "effective_duration": (a.end - a.start).num_minutes(),
            "employee": employee_ref(a.employee_id, employee),
            "absence_type": {
                "type": "AbsenceType",
                "attributes": {
                    // The type's v2 id, as for v2 absence periods.
                    "id": super::v2::type_uuid(a.type_id).to_string(),
                    "name": state.types.get(&a.type_id).map_or("", |t| t.name.as_str()),
                    "time_off_type_id": a.type_id,
                }
            },
            "certificate": { "status": "not-required" },
            "start": zulu(start),
            "end": zulu(end),
            "half_day_start": false,
            "half_day_end": false,
            "comment": a.comment.clone().unwrap_or_default(),
            "origin": "api",
            "status": a.status,
            "created_by": a.employee_id,
            "created_at": zulu(stored.created_at),
            "updated_at": zulu(stored.created_at),
            "approved_at": zulu(stored.created_at),
            "breakdowns": breakdowns,
        }
    })
}
