//! The list and read endpoints: time-off types, time-offs, absence-periods, employees.

use std::collections::HashSet;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::NaiveDate;
use serde_json::{json, Value};

use super::render::{
    attr, date_param, employee_filter, hourly_json, int_param, number, page_numbered, param,
    time_off_json, v1_error, with_token, Fail, Reply,
};
use super::{PersonioSim, SimEmployee, StoredHourly, StoredTimeOff};
use crate::domain::model::AbsenceUnit;

const EMPLOYEES_MAX_LIMIT: usize = 100;
const EMPLOYEES_DEFAULT_LIMIT: usize = 50;

pub(super) async fn time_off_types(
    State(sim): State<PersonioSim>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Reply {
    sim.rate_limit(None)?;
    sim.authorize(&headers)?;
    let limit = int_param(&query, "limit", 200)?.max(1) as usize;
    let offset = int_param(&query, "offset", 0)?.max(0) as usize;
    let state = sim.state();
    let data: Vec<Value> = state
        .types
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(id, t)| {
            json!({
                "type": "TimeOffType",
                "attributes": {
                    "id": id,
                    "id_v2": super::v2::type_uuid(*id).to_string(),
                    "name": t.name,
                    "category": t.category,
                    "unit": match t.unit { AbsenceUnit::Day => "day", AbsenceUnit::Hour => "hour" },
                    "approval_required": true,
                }
            })
        })
        .collect();
    Ok(Json(json!({ "success": true, "data": data })).into_response())
}

/// What time-offs and absence-periods are both asked for, after the rate limit and the token.
struct ListFilter {
    token: String,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    updated: Option<NaiveDate>,
    employees: Option<HashSet<i64>>,
}

impl ListFilter {
    /// Whether a period of these dates, changed on `changed`, of this employee is listed:
    /// `contained` keeps only periods wholly inside the window, otherwise overlapping ones.
    fn keeps(
        &self,
        (start, end): (NaiveDate, NaiveDate),
        changed: NaiveDate,
        employee_id: i64,
        contained: bool,
    ) -> bool {
        let in_window = if contained {
            self.from.is_none_or(|f| start >= f) && self.to.is_none_or(|t| end <= t)
        } else {
            self.from.is_none_or(|f| end >= f) && self.to.is_none_or(|t| start <= t)
        };
        in_window
            && self.updated.is_none_or(|u| changed >= u)
            && self
                .employees
                .as_ref()
                .is_none_or(|e| e.contains(&employee_id))
    }
}

/// `updated_names` are the spellings of the "changed since" filter, the first present winning.
fn list_filter(
    sim: &PersonioSim,
    query: &[(String, String)],
    headers: &HeaderMap,
    updated_names: &[&str],
) -> Result<ListFilter, Fail> {
    sim.rate_limit(None)?;
    let token = sim.authorize(headers)?;
    let from = date_param(query, "start_date")?;
    let to = date_param(query, "end_date")?;
    let mut updated = None;
    for name in updated_names {
        updated = date_param(query, name)?;
        if updated.is_some() {
            break;
        }
    }
    Ok(ListFilter {
        token,
        from,
        to,
        updated,
        employees: employee_filter(query),
    })
}

pub(super) async fn time_offs(
    State(sim): State<PersonioSim>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Reply {
    // Renamed upstream; both spellings work.
    let filter = list_filter(&sim, &query, &headers, &["updated_since", "updated_from"])?;
    let state = sim.state();
    let contained = state.quirks.contained_window_filter;
    let records: Vec<(&i64, &StoredTimeOff)> = state
        .time_offs
        .iter()
        .filter(|(_, s)| {
            let p = &s.period;
            let changed = s.updated_at.date_naive();
            filter.keeps((p.start, p.end), changed, p.employee_id, contained)
        })
        .collect();
    let body = page_numbered(&query, &state.quirks, &records, |(id, s)| {
        time_off_json(&state, **id, s)
    })?;
    Ok(with_token(body, &filter.token))
}

pub(super) async fn time_off(
    State(sim): State<PersonioSim>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Reply {
    sim.rate_limit(None)?;
    let token = sim.authorize(&headers)?;
    let id: i64 = id
        .parse()
        .map_err(|_| v1_error(StatusCode::BAD_REQUEST, "The time-off id is invalid."))?;
    let state = sim.state();
    let stored = state
        .time_offs
        .get(&id)
        .ok_or_else(|| v1_error(StatusCode::NOT_FOUND, "The time-off period was not found."))?;
    let body = json!({ "success": true, "data": time_off_json(&state, id, stored) });
    Ok(with_token(body, &token))
}

pub(super) async fn absence_periods(
    State(sim): State<PersonioSim>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Reply {
    let filter = list_filter(&sim, &query, &headers, &["updated_from"])?;
    let state = sim.state();
    // This endpoint documents (and does) intersection with the window.
    let records: Vec<(&String, &StoredHourly)> = state
        .hourly
        .iter()
        .filter(|(_, s)| {
            let a = &s.absence;
            let days = (a.start.date(), a.end.date());
            filter.keeps(days, s.created_at.date_naive(), a.employee_id, false)
        })
        .collect();
    let body = page_numbered(&query, &state.quirks, &records, |(id, s)| {
        hourly_json(&state, id, s)
    })?;
    Ok(with_token(body, &filter.token))
}

pub(super) async fn employees(
    State(sim): State<PersonioSim>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Reply {
    let limits = sim.limits();
    sim.rate_limit(Some(&limits.employees))?;
    let token = sim.authorize(&headers)?;
    let limit = int_param(&query, "limit", EMPLOYEES_DEFAULT_LIMIT as i64)?;
    if !(1..=EMPLOYEES_MAX_LIMIT as i64).contains(&limit) {
        return Err(v1_error(
            StatusCode::BAD_REQUEST,
            "The limit parameter must be between 1 and 100.",
        ));
    }
    let limit = limit as usize;
    let offset = int_param(&query, "offset", 0)?.max(0) as usize;
    let email = param(&query, "email");
    let state = sim.state();
    let matching: Vec<&SimEmployee> = state
        .employees
        .values()
        .filter(|e| email.is_none_or(|m| e.email.eq_ignore_ascii_case(m)))
        .collect();
    let total = matching.len();
    let data: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|e| {
            json!({
                "type": "Employee",
                "attributes": {
                    "id": attr("ID", json!(e.id), "integer", "id"),
                    "first_name": attr("First name", json!(e.first_name), "standard", "first_name"),
                    "last_name": attr("Last name", json!(e.last_name), "standard", "last_name"),
                    "email": attr("Email", json!(e.email), "standard", "email"),
                    "status": attr("Status", json!(e.status), "standard", "status"),
                    // A string, as in every real response.
                    "weekly_working_hours": attr("Weekly hours", json!(e.weekly_hours.to_string()), "standard", "weekly_working_hours"),
                }
            })
        })
        .collect();
    let strings = state.quirks.envelope_numbers_as_strings;
    let body = json!({
        "success": true,
        "metadata": {
            "total_elements": total,
            "current_page": offset / limit,
            "total_pages": total.div_ceil(limit),
        },
        "offset": number(offset as i64, strings),
        "limit": number(limit as i64, strings),
        "data": data,
    });
    Ok(with_token(body, &token))
}
