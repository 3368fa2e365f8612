//! Simulated Personio v1 API: auth with stable `papi-` tokens, time-off types, day-unit
//! time-offs (page-number paging, 0/1 flags, local offsets, fully-contained window filter),
//! hourly absence-periods, employees (record paging), v1 error envelopes and rate limits.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::{error_response, faults_middleware, Flavor, SimControl, SimServer, SlidingLimit};
use crate::domain::model::AbsenceUnit;

/// A seeded employee.
#[derive(Debug, Clone)]
pub struct SimEmployee {
    /// `None` lets the simulator pick the next id.
    pub id: Option<i64>,
    pub first_name: String,
    pub last_name: String,
    /// Empty models an email attribute that is not whitelisted for the credential.
    pub email: String,
    pub status: String,
    /// Gives the UTC offsets written into this employee's absence dates.
    pub tz: Tz,
    pub weekly_hours: f64,
}

impl SimEmployee {
    /// An active full-time employee in Berlin.
    pub fn new(first_name: &str, last_name: &str, email: &str) -> Self {
        Self {
            id: None,
            first_name: first_name.into(),
            last_name: last_name.into(),
            email: email.into(),
            status: "active".into(),
            tz: chrono_tz::Europe::Berlin,
            weekly_hours: 40.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SimTimeOffType {
    pub name: String,
    pub category: Option<String>,
    pub unit: AbsenceUnit,
}

/// A day-unit absence period (v1 `time-offs`).
#[derive(Debug, Clone)]
pub struct SimTimeOff {
    pub employee_id: i64,
    pub type_id: i64,
    pub start: NaiveDate,
    /// Inclusive.
    pub end: NaiveDate,
    pub half_day_start: bool,
    pub half_day_end: bool,
    /// `approved` or `pending`.
    pub status: String,
    pub comment: Option<String>,
}

/// An hour-unit absence period (v1 `absence-periods`), in the employee's local time.
#[derive(Debug, Clone)]
pub struct SimHourlyAbsence {
    pub employee_id: i64,
    pub type_id: i64,
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    pub status: String,
    pub comment: Option<String>,
}

/// Reported misbehaviours of the real API, switchable per test.
#[derive(Debug, Clone)]
pub struct PersonioQuirks {
    /// Repeat the last record of time-offs page N at the start of page N+1.
    pub duplicate_across_pages: bool,
    /// Write `offset` and `limit` in list envelopes as strings.
    pub envelope_numbers_as_strings: bool,
    /// Time-offs window filter returns only periods fully inside it (as reported live); `false`
    /// returns every overlapping period.
    pub contained_window_filter: bool,
    /// `expires_in` of issued tokens, in seconds.
    pub token_lifetime_secs: u64,
    /// Multiplies every rate-limit window (0.01 turns a minute into 0.6 s).
    pub rate_limit_scale: f64,
}

impl Default for PersonioQuirks {
    fn default() -> Self {
        Self {
            duplicate_across_pages: false,
            envelope_numbers_as_strings: false,
            contained_window_filter: true,
            token_lifetime_secs: 86_400,
            rate_limit_scale: 1.0,
        }
    }
}

#[derive(Debug, Clone)]
struct StoredTimeOff {
    period: SimTimeOff,
    id_v2: uuid::Uuid,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct StoredHourly {
    absence: SimHourlyAbsence,
    created_at: DateTime<Utc>,
}

#[derive(Debug)]
struct Token {
    value: String,
    expires_at: Instant,
}

#[derive(Debug)]
struct State_ {
    employees: BTreeMap<i64, SimEmployee>,
    types: BTreeMap<i64, SimTimeOffType>,
    time_offs: BTreeMap<i64, StoredTimeOff>,
    hourly: BTreeMap<String, StoredHourly>,
    next_id: i64,
    quirks: PersonioQuirks,
    /// Fixed "now" for created_at/updated_at, so tests can steer `updated_from`.
    clock: Option<DateTime<Utc>>,
    token: Option<Token>,
    /// Tokens once valid: they earn a 401 (renew), unknown ones a 403.
    retired: HashSet<String>,
}

#[derive(Debug)]
struct Limits {
    auth: SlidingLimit,
    employees: SlidingLimit,
    all: SlidingLimit,
}

impl Limits {
    fn new(scale: f64) -> Self {
        let minute = Duration::from_secs(60).mul_f64(scale.max(0.0));
        Self {
            auth: SlidingLimit::new(60, minute),
            employees: SlidingLimit::new(300, minute),
            all: SlidingLimit::new(2000, minute),
        }
    }
}

#[derive(Debug)]
struct Inner {
    control: Arc<SimControl>,
    client_id: String,
    client_secret: String,
    state: Mutex<State_>,
    limits: Mutex<Arc<Limits>>,
}

/// The simulator; cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct PersonioSim {
    inner: Arc<Inner>,
}

type Reply = Result<Response, Fail>;

/// An error answer (boxed: responses are large and travel through `?` a lot).
#[derive(Debug)]
struct Fail(Box<Response>);

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        *self.0
    }
}

const TIME_OFFS_MAX_LIMIT: usize = 200;
const EMPLOYEES_MAX_LIMIT: usize = 100;
const EMPLOYEES_DEFAULT_LIMIT: usize = 50;

impl PersonioSim {
    pub fn new(client_id: &str, client_secret: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                control: Arc::new(SimControl::default()),
                client_id: client_id.into(),
                client_secret: client_secret.into(),
                state: Mutex::new(State_ {
                    employees: BTreeMap::new(),
                    types: BTreeMap::new(),
                    time_offs: BTreeMap::new(),
                    hourly: BTreeMap::new(),
                    next_id: 1000,
                    quirks: PersonioQuirks::default(),
                    clock: None,
                    token: None,
                    retired: HashSet::new(),
                }),
                limits: Mutex::new(Arc::new(Limits::new(1.0))),
            }),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/auth", post(auth))
            .route("/v1/company/time-off-types", get(time_off_types))
            .route("/v1/company/time-offs", get(time_offs))
            .route("/v1/company/time-offs/{id}", get(time_off))
            .route("/v1/company/absence-periods", get(absence_periods))
            .route("/v1/company/employees", get(employees))
            .route_layer(axum::middleware::from_fn_with_state(
                (self.inner.control.clone(), Flavor::PersonioV1),
                faults_middleware,
            ))
            .fallback(|| async {
                error_response(
                    Flavor::PersonioV1,
                    StatusCode::NOT_FOUND,
                    "Not Found",
                    "The requested resource was not found.",
                )
            })
            .with_state(self.clone())
    }

    pub async fn start(&self) -> std::io::Result<SimServer> {
        SimServer::start(self.router()).await
    }

    pub fn control(&self) -> &SimControl {
        &self.inner.control
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State_> {
        self.inner.state.lock().unwrap()
    }

    pub fn add_employee(&self, e: SimEmployee) -> i64 {
        let mut state = self.state();
        let id = e.id.unwrap_or_else(|| next_id(&mut state));
        state.next_id = state.next_id.max(id + 1);
        state
            .employees
            .insert(id, SimEmployee { id: Some(id), ..e });
        id
    }

    pub fn add_time_off_type(&self, t: SimTimeOffType) -> i64 {
        let mut state = self.state();
        let id = next_id(&mut state);
        state.types.insert(id, t);
        id
    }

    pub fn rename_time_off_type(&self, id: i64, name: &str) {
        if let Some(t) = self.state().types.get_mut(&id) {
            t.name = name.into();
        }
    }

    pub fn add_time_off(&self, p: SimTimeOff) -> i64 {
        let mut state = self.state();
        let id = next_id(&mut state);
        let now = now(&state);
        state.time_offs.insert(
            id,
            StoredTimeOff {
                period: p,
                id_v2: uuid::Uuid::new_v4(),
                created_at: now,
                updated_at: now,
            },
        );
        id
    }

    pub fn update_time_off(&self, id: i64, f: impl FnOnce(&mut SimTimeOff)) {
        let mut state = self.state();
        let now = now(&state);
        if let Some(stored) = state.time_offs.get_mut(&id) {
            f(&mut stored.period);
            stored.updated_at = now;
        }
    }

    /// Deleted and rejected periods alike simply vanish in Personio.
    pub fn delete_time_off(&self, id: i64) {
        self.state().time_offs.remove(&id);
    }

    pub fn add_hourly_absence(&self, a: SimHourlyAbsence) -> String {
        let mut state = self.state();
        let id = uuid::Uuid::new_v4().to_string();
        let created_at = now(&state);
        state.hourly.insert(
            id.clone(),
            StoredHourly {
                absence: a,
                created_at,
            },
        );
        id
    }

    /// The next call with a token issued so far gets a 401.
    pub fn invalidate_tokens(&self) {
        let mut state = self.state();
        if let Some(token) = state.token.take() {
            state.retired.insert(token.value);
        }
    }

    pub fn set_quirks(&self, q: PersonioQuirks) {
        *self.inner.limits.lock().unwrap() = Arc::new(Limits::new(q.rate_limit_scale));
        self.state().quirks = q;
    }

    /// The seeded employees, by id (for assertions and generators).
    pub fn employees(&self) -> Vec<(i64, SimEmployee)> {
        self.state()
            .employees
            .iter()
            .map(|(id, e)| (*id, e.clone()))
            .collect()
    }

    pub fn time_off_types(&self) -> Vec<(i64, SimTimeOffType)> {
        self.state()
            .types
            .iter()
            .map(|(id, t)| (*id, t.clone()))
            .collect()
    }

    /// Every day-unit period currently in Personio, by id.
    pub fn time_offs(&self) -> Vec<(i64, SimTimeOff)> {
        self.state()
            .time_offs
            .iter()
            .map(|(id, t)| (*id, t.period.clone()))
            .collect()
    }

    /// Every hour-unit absence currently in Personio, by id.
    pub fn hourly_absences(&self) -> Vec<(String, SimHourlyAbsence)> {
        self.state()
            .hourly
            .iter()
            .map(|(id, a)| (id.clone(), a.absence.clone()))
            .collect()
    }

    /// Fixes the time written into created_at/updated_at of later changes (`None`: real time).
    pub fn set_clock(&self, now: Option<DateTime<Utc>>) {
        self.state().clock = now;
    }

    fn limits(&self) -> Arc<Limits> {
        self.inner.limits.lock().unwrap().clone()
    }

    /// The per-IP budget, then an endpoint's own.
    fn rate_limit(&self, endpoint: Option<&SlidingLimit>) -> Result<(), Fail> {
        let limits = self.limits();
        let over = limits.all.check().is_err() || endpoint.is_some_and(|l| l.check().is_err());
        if over {
            // Personio sends no Retry-After.
            return Err(v1_error(StatusCode::TOO_MANY_REQUESTS, "Too many requests"));
        }
        Ok(())
    }

    /// Checks the bearer token like §7.1: missing → 401, known but stale → 401, unknown → 403.
    fn authorize(&self, headers: &HeaderMap) -> Result<String, Fail> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| v1_error(StatusCode::UNAUTHORIZED, "Authorization is not provided"))?;
        let mut state = self.state();
        if let Some(token) = state.token.as_ref().filter(|t| t.value == bearer) {
            if Instant::now() < token.expires_at {
                return Ok(bearer.to_string());
            }
            let stale = state.token.take().unwrap().value;
            state.retired.insert(stale);
        }
        if state.retired.contains(bearer) {
            return Err(v1_error(StatusCode::UNAUTHORIZED, "The token has expired"));
        }
        Err(v1_error(
            StatusCode::FORBIDDEN,
            "Provided authorization is not valid",
        ))
    }
}

fn next_id(state: &mut State_) -> i64 {
    let id = state.next_id;
    state.next_id += 1;
    id
}

fn now(state: &State_) -> DateTime<Utc> {
    state.clock.unwrap_or_else(Utc::now)
}

fn v1_error(status: StatusCode, message: &str) -> Fail {
    Fail(Box::new(error_response(
        Flavor::PersonioV1,
        status,
        "",
        message,
    )))
}

/// The answer of a v1 endpoint that echoes the (stable) token like Personio does.
fn with_token(body: Value, token: &str) -> Response {
    let mut response = Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) {
        response.headers_mut().insert(header::AUTHORIZATION, value);
    }
    response
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn int_param(query: &[(String, String)], name: &str, default: i64) -> Result<i64, Fail> {
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
fn date_param(query: &[(String, String)], name: &str) -> Result<Option<NaiveDate>, Fail> {
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

fn employee_filter(query: &[(String, String)]) -> Option<HashSet<i64>> {
    let ids: HashSet<i64> = query
        .iter()
        .filter(|(k, _)| k == "employees[]" || k == "employees")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    (!ids.is_empty()).then_some(ids)
}

fn number(value: i64, as_string: bool) -> Value {
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

fn attr(label: &str, value: Value, kind: &str, universal_id: &str) -> Value {
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

fn time_off_json(state: &State_, id: i64, stored: &StoredTimeOff) -> Value {
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
            "id_v2": stored.id_v2.to_string(),
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

/// Reads the credentials from a JSON or form body.
fn credentials(headers: &HeaderMap, body: &[u8]) -> Option<(String, String)> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let pairs: Vec<(String, String)> = if is_json {
        let json: Value = serde_json::from_slice(body).ok()?;
        ["client_id", "client_secret"]
            .iter()
            .filter_map(|k| Some((k.to_string(), json.get(*k)?.as_str()?.to_string())))
            .collect()
    } else {
        url::form_urlencoded::parse(body).into_owned().collect()
    };
    let find = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    Some((find("client_id")?, find("client_secret")?))
}

async fn auth(
    State(sim): State<PersonioSim>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let limits = sim.limits();
    sim.rate_limit(Some(&limits.auth))?;
    if param(&query, "client_id").is_some() || param(&query, "client_secret").is_some() {
        return Err(v1_error(
            StatusCode::FORBIDDEN,
            "Passing credentials in the query string is no longer supported.",
        ));
    }
    let valid = credentials(&headers, &body)
        .is_some_and(|(id, secret)| id == sim.inner.client_id && secret == sim.inner.client_secret);
    if !valid {
        return Err(v1_error(StatusCode::UNAUTHORIZED, "Wrong credentials"));
    }
    let mut state = sim.state();
    let lifetime = state.quirks.token_lifetime_secs;
    let live = state
        .token
        .as_ref()
        .is_some_and(|t| Instant::now() < t.expires_at);
    if !live {
        if let Some(old) = state.token.take() {
            state.retired.insert(old.value);
        }
        state.token = Some(Token {
            value: format!("papi-{}", uuid::Uuid::new_v4().simple()),
            expires_at: Instant::now() + Duration::from_secs(lifetime),
        });
    }
    let token = state
        .token
        .as_ref()
        .map(|t| t.value.clone())
        .unwrap_or_default();
    Ok(Json(json!({
        "success": true,
        "data": { "token": token, "expires_in": lifetime, "scope": "employees:read absences:read" }
    }))
    .into_response())
}

async fn time_off_types(
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

/// Page-number paging of time-offs and absence-periods: `offset` is 1-based, 0 means 1.
/// Only the requested page is rendered: large seeded organisations stay fast.
fn page_numbered<T>(
    query: &[(String, String)],
    quirks: &PersonioQuirks,
    records: &[T],
    render: impl Fn(&T) -> Value,
) -> Result<Value, Fail> {
    let limit = int_param(query, "limit", TIME_OFFS_MAX_LIMIT as i64)?;
    if !(1..=TIME_OFFS_MAX_LIMIT as i64).contains(&limit) {
        return Err(v1_error(
            StatusCode::BAD_REQUEST,
            "The limit parameter must be between 1 and 200.",
        ));
    }
    let limit = limit as usize;
    let page = int_param(query, "offset", 1)?.max(1) as usize;
    let total = records.len();
    let start = (page - 1).saturating_mul(limit).min(total);
    let mut data: Vec<Value> = records[start..(start + limit).min(total)]
        .iter()
        .map(&render)
        .collect();
    if quirks.duplicate_across_pages && start > 0 && !data.is_empty() {
        data.insert(0, render(&records[start - 1]));
    }
    let strings = quirks.envelope_numbers_as_strings;
    Ok(json!({
        "success": true,
        "metadata": {
            "total_elements": total,
            "current_page": page,
            "total_pages": total.div_ceil(limit),
        },
        "data": data,
        "offset": number(page as i64 - 1, strings),
        "limit": number(limit as i64, strings),
    }))
}

async fn time_offs(
    State(sim): State<PersonioSim>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Reply {
    sim.rate_limit(None)?;
    let token = sim.authorize(&headers)?;
    let from = date_param(&query, "start_date")?;
    let to = date_param(&query, "end_date")?;
    // Renamed upstream; both spellings work.
    let updated = match date_param(&query, "updated_since")? {
        Some(d) => Some(d),
        None => date_param(&query, "updated_from")?,
    };
    let employees = employee_filter(&query);
    let state = sim.state();
    let contained = state.quirks.contained_window_filter;
    let records: Vec<(&i64, &StoredTimeOff)> = state
        .time_offs
        .iter()
        .filter(|(_, s)| {
            let p = &s.period;
            let in_window = if contained {
                from.is_none_or(|f| p.start >= f) && to.is_none_or(|t| p.end <= t)
            } else {
                from.is_none_or(|f| p.end >= f) && to.is_none_or(|t| p.start <= t)
            };
            in_window
                && updated.is_none_or(|u| s.updated_at.date_naive() >= u)
                && employees
                    .as_ref()
                    .is_none_or(|e| e.contains(&p.employee_id))
        })
        .collect();
    let body = page_numbered(&query, &state.quirks, &records, |(id, s)| {
        time_off_json(&state, **id, s)
    })?;
    Ok(with_token(body, &token))
}

async fn time_off(
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

fn hourly_json(state: &State_, id: &str, stored: &StoredHourly) -> Value {
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
                    "id": uuid::Uuid::from_u64_pair(0, a.type_id as u64).to_string(),
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

async fn absence_periods(
    State(sim): State<PersonioSim>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Reply {
    sim.rate_limit(None)?;
    let token = sim.authorize(&headers)?;
    let from = date_param(&query, "start_date")?;
    let to = date_param(&query, "end_date")?;
    let updated = date_param(&query, "updated_from")?;
    let employees = employee_filter(&query);
    let state = sim.state();
    // This endpoint documents (and does) intersection with the window.
    let records: Vec<(&String, &StoredHourly)> = state
        .hourly
        .iter()
        .filter(|(_, s)| {
            let a = &s.absence;
            from.is_none_or(|f| a.end.date() >= f)
                && to.is_none_or(|t| a.start.date() <= t)
                && updated.is_none_or(|u| s.created_at.date_naive() >= u)
                && employees
                    .as_ref()
                    .is_none_or(|e| e.contains(&a.employee_id))
        })
        .collect();
    let body = page_numbered(&query, &state.quirks, &records, |(id, s)| {
        hourly_json(&state, id, s)
    })?;
    Ok(with_token(body, &token))
}

async fn employees(
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
