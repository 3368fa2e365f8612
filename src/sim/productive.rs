//! Simulated Productive API (`/api/v2`): people, events, bookings and approval statuses, with the
//! live API's quirks as recorded in the reference notes (§13): stub relationships unless included,
//! availabilities as a JSON string, flat `*_id` booking writes, computed `total_time`, approval
//! policies, entitlement errors, 415/401/403 handling and the two request-count limits.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use chrono::{Datelike, FixedOffset, NaiveDate, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::{error_response, faults_middleware, Flavor, SimControl, SimServer, SlidingLimit};
use crate::domain::{AvailabilityPeriod, EventKind};

/// The holiday-calendar id Productive puts fourth in every availability tuple.
const CALENDAR_ID: i64 = 44853;
const MAX_PAGE_SIZE: usize = 200;
const DEFAULT_PAGE_SIZE: usize = 30;
/// Productive's request-count limits.
const TOKEN_LIMIT: f64 = 100.0;
const TOKEN_PERIOD: Duration = Duration::from_secs(10);
const ORG_LIMIT: f64 = 4000.0;
const ORG_PERIOD: Duration = Duration::from_secs(30 * 60);
/// Shown as `deactivated_at` / `archived_at`; the exact moment never matters to a client.
const PAST_TIMESTAMP: &str = "2025-01-23T16:55:42.994+01:00";

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
    pub note: Option<String>,
}

#[derive(Debug, Default)]
struct Db {
    /// Rendered as the always-linked `organization` relationship.
    org: i64,
    next_id: i64,
    people: BTreeMap<i64, SimPerson>,
    events: BTreeMap<i64, SimEvent>,
    bookings: BTreeMap<i64, SimBooking>,
    approvals: BTreeMap<i64, SimApproval>,
}

impl Db {
    fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }
}

#[derive(Debug)]
struct Limits {
    token: SlidingLimit,
    org: SlidingLimit,
    /// The per-token limit as reported in the 429 body.
    reported: usize,
}

#[derive(Debug)]
struct Inner {
    token: String,
    organization_id: String,
    control: Arc<SimControl>,
    db: Mutex<Db>,
    revoked: AtomicBool,
    accept_relationships: AtomicBool,
    may_approve: AtomicBool,
    limits: Mutex<Option<Arc<Limits>>>,
}

/// The simulator. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct ProductiveSim {
    inner: Arc<Inner>,
}

impl ProductiveSim {
    pub fn new(api_token: &str, organization_id: &str) -> Self {
        let sim = Self {
            inner: Arc::new(Inner {
                token: api_token.to_string(),
                organization_id: organization_id.to_string(),
                control: Arc::new(SimControl::default()),
                db: Mutex::new(Db {
                    org: organization_id.trim().parse().unwrap_or(0),
                    next_id: 100_000,
                    ..Db::default()
                }),
                revoked: AtomicBool::new(false),
                accept_relationships: AtomicBool::new(false),
                may_approve: AtomicBool::new(true),
                limits: Mutex::new(None),
            }),
        };
        sim.set_rate_limit_scale(1.0);
        sim
    }

    pub fn router(&self) -> Router {
        let api = Router::new()
            .route("/people", get(list_people))
            .route("/people/{id}", get(get_person))
            .route("/events", get(list_events).post(create_event))
            .route(
                "/events/{id}",
                get(get_event).patch(update_event).delete(delete_event),
            )
            .route("/events/{id}/archive", patch(archive_event))
            .route("/events/{id}/restore", patch(restore_event))
            .route("/bookings", get(list_bookings).post(create_booking))
            .route(
                "/bookings/{id}",
                get(get_booking)
                    .patch(update_booking)
                    .delete(delete_booking),
            )
            .route("/approval_statuses", get(list_approvals))
            .route("/approval_statuses/{id}", get(get_approval))
            .route("/approval_statuses/{id}/approve", patch(approve))
            .layer(middleware::from_fn_with_state(self.clone(), gatekeeper))
            .with_state(self.clone());
        Router::new()
            .nest("/api/v2", api)
            .layer(middleware::from_fn_with_state(
                (self.inner.control.clone(), Flavor::JsonApi),
                faults_middleware,
            ))
    }

    pub async fn start(&self) -> std::io::Result<SimServer> {
        SimServer::start(self.router()).await
    }

    pub fn control(&self) -> &SimControl {
        &self.inner.control
    }

    fn db(&self) -> MutexGuard<'_, Db> {
        self.inner.db.lock().unwrap()
    }

    pub fn add_person(&self, person: SimPerson) -> i64 {
        let mut db = self.db();
        let id = db.id();
        db.people.insert(id, person);
        id
    }

    pub fn update_person(&self, id: i64, f: impl FnOnce(&mut SimPerson)) {
        f(self
            .db()
            .people
            .get_mut(&id)
            .expect("no such simulated person"));
    }

    pub fn people(&self) -> Vec<(i64, SimPerson)> {
        self.db()
            .people
            .iter()
            .map(|(id, p)| (*id, p.clone()))
            .collect()
    }

    pub fn add_event(&self, event: SimEvent) -> i64 {
        let mut db = self.db();
        let id = db.id();
        db.events.insert(id, event);
        id
    }

    pub fn events(&self) -> Vec<(i64, SimEvent)> {
        self.db()
            .events
            .iter()
            .map(|(id, e)| (*id, e.clone()))
            .collect()
    }

    /// Stores a hand-made booking as is (no validation, no approval flow); totals are computed
    /// from the person's availability like the server does.
    pub fn add_booking(&self, mut booking: SimBooking) -> i64 {
        let mut db = self.db();
        let person_id = booking.person_id;
        compute_totals(&mut booking, db.people.get(&person_id));
        let id = db.id();
        db.bookings.insert(id, booking);
        id
    }

    pub fn bookings(&self) -> Vec<(i64, SimBooking)> {
        self.db()
            .bookings
            .iter()
            .map(|(id, b)| (*id, b.clone()))
            .collect()
    }

    /// Simulates a human edit in Productive.
    pub fn update_booking(&self, id: i64, f: impl FnOnce(&mut SimBooking)) {
        let mut db = self.db();
        let Db {
            people, bookings, ..
        } = &mut *db;
        let booking = bookings.get_mut(&id).expect("no such simulated booking");
        f(booking);
        compute_totals(booking, people.get(&booking.person_id));
    }

    pub fn remove_booking(&self, id: i64) {
        let mut db = self.db();
        db.bookings.remove(&id);
        db.approvals.retain(|_, a| a.booking_id != id);
    }

    pub fn approval_statuses(&self) -> Vec<(i64, SimApproval)> {
        self.db()
            .approvals
            .iter()
            .map(|(id, a)| (*id, a.clone()))
            .collect()
    }

    /// From now on every request is answered 401 `invalid_auth_token`.
    pub fn revoke_token(&self) {
        self.inner.revoked.store(true, Ordering::SeqCst);
    }

    /// Whether the token's user may approve (which roles may is not documented): when not,
    /// approving answers 403 and changes nothing.
    pub fn set_may_approve(&self, may: bool) {
        self.inner.may_approve.store(may, Ordering::SeqCst);
    }

    /// Accept the JSON:API relationships form on booking writes (the live API answered 422 to it
    /// for one team; other clients use it).
    pub fn set_accept_relationships(&self, accept: bool) {
        self.inner
            .accept_relationships
            .store(accept, Ordering::SeqCst);
    }

    /// Multiplies both request-count limits (100 per 10 s per token, 4,000 per 30 min per
    /// organisation) by `scale`, e.g. 0.05 for 5 per 10 s in a test. A scale that is not a
    /// positive finite number (0, infinity) turns the limits off. Resets the windows.
    pub fn set_rate_limit_scale(&self, scale: f64) {
        let limits = (scale.is_finite() && scale > 0.0).then(|| {
            let token = (TOKEN_LIMIT * scale).ceil().max(1.0) as usize;
            let org = (ORG_LIMIT * scale).ceil().max(1.0) as usize;
            Arc::new(Limits {
                token: SlidingLimit::new(token, TOKEN_PERIOD),
                org: SlidingLimit::new(org, ORG_PERIOD),
                reported: token,
            })
        });
        *self.inner.limits.lock().unwrap() = limits;
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// An error answer for `?` in handlers; boxed because a `Response` is large.
struct Reject(Box<Response>);

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        *self.0
    }
}

fn api_error(
    status: StatusCode,
    title: &str,
    detail: &str,
    code: Option<&str>,
    pointer: Option<&str>,
) -> Reject {
    let mut error =
        json!({ "status": status.as_u16().to_string(), "title": title, "detail": detail });
    if let Some(code) = code {
        error["code"] = json!(code);
    }
    if let Some(pointer) = pointer {
        error["source"] = json!({ "pointer": pointer });
    }
    Reject(Box::new(
        (status, Json(json!({ "errors": [error] }))).into_response(),
    ))
}

fn invalid(pointer: &str, detail: &str) -> Reject {
    api_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid Attribute",
        detail,
        None,
        Some(pointer),
    )
}

fn not_found() -> Reject {
    Reject(Box::new(error_response(
        Flavor::JsonApi,
        StatusCode::NOT_FOUND,
        "Record Not Found",
        "The requested record was not found",
    )))
}

fn bad_request(title: &str, detail: &str, code: Option<&str>) -> Reject {
    api_error(StatusCode::BAD_REQUEST, title, detail, code, None)
}

// ---------------------------------------------------------------------------------------------
// Authentication, organisation, limits, content negotiation

async fn gatekeeper(State(sim): State<ProductiveSim>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let inner = &sim.inner;
    let token_ok = !inner.revoked.load(Ordering::SeqCst)
        && headers
            .get("x-auth-token")
            .is_some_and(|t| t.as_bytes() == inner.token.as_bytes());
    if !token_ok {
        return api_error(
            StatusCode::UNAUTHORIZED,
            "Unauthenticated",
            "You are not authenticated",
            Some("invalid_auth_token"),
            None,
        )
        .into_response();
    }
    let org_ok = headers
        .get("x-organization-id")
        .is_some_and(|o| o.as_bytes() == inner.organization_id.as_bytes());
    if !org_ok {
        return api_error(
            StatusCode::FORBIDDEN,
            "Access Denied",
            "You are not authorized to access this resource",
            Some("access_denied"),
            None,
        )
        .into_response();
    }
    let limits = inner.limits.lock().unwrap().clone();
    if let Some(limits) = limits {
        if let Err(wait) = limits.token.check().and_then(|()| limits.org.check()) {
            let body = json!({ "errors": [{
                "status": 429,
                "title": "Too many requests",
                "detail": "Rate limit reached. Try again later",
                "limit": limits.reported,
            }]});
            let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            response
                .headers_mut()
                .insert("x-ratelimit-reset", HeaderValue::from(seconds));
            return response;
        }
    }
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|l| l.to_str().ok()?.parse::<u64>().ok())
            .is_some_and(|l| l > 0);
    let json_api = headers
        .get(header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .is_some_and(|c| c.trim().starts_with("application/vnd.api+json"));
    if has_body && !json_api {
        return error_response(
            Flavor::JsonApi,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            "Unsupported content type",
        );
    }
    next.run(request).await
}

// ---------------------------------------------------------------------------------------------
// Query strings: filters, includes, sorts, pages

struct ListQuery {
    pairs: Vec<(String, String)>,
    page: usize,
    size: usize,
    filters: BTreeMap<String, String>,
    includes: HashSet<String>,
    sort: Option<(String, bool)>,
}

/// What an endpoint understands.
struct Accepts {
    filters: &'static [&'static str],
    includes: &'static [&'static str],
    sorts: &'static [&'static str],
}

fn parse_query(raw: Option<&str>, accepts: &Accepts) -> Result<ListQuery, Reject> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let mut query = ListQuery {
        pairs: pairs.clone(),
        page: 1,
        size: DEFAULT_PAGE_SIZE,
        filters: BTreeMap::new(),
        includes: HashSet::new(),
        sort: None,
    };
    let page_value = |key: &str, value: &str| {
        value
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                bad_request(
                    "Invalid Page",
                    &format!("{key} must be a positive integer"),
                    None,
                )
            })
    };
    for (key, value) in pairs {
        if key == "page[number]" {
            query.page = page_value(&key, &value)?;
        } else if key == "page[size]" {
            query.size = page_value(&key, &value)?.min(MAX_PAGE_SIZE);
        } else if key == "include" {
            for include in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if !accepts.includes.contains(&include) {
                    return Err(bad_request(
                        "Unsupported Include",
                        &format!("Include '{include}' is not supported on this endpoint"),
                        None,
                    ));
                }
                query.includes.insert(include.to_string());
            }
        } else if key == "sort" {
            let (field, descending) = match value.strip_prefix('-') {
                Some(field) => (field.to_string(), true),
                None => (value.clone(), false),
            };
            if !accepts.sorts.contains(&field.as_str()) {
                return Err(bad_request(
                    "Unsupported Sort",
                    &format!("Sort by '{field}' is not supported on this endpoint"),
                    None,
                ));
            }
            query.sort = Some((field, descending));
        } else if let Some(rest) = key.strip_prefix("filter[") {
            // `filter[name]` and `filter[name][eq]`; other operators are not simulated.
            let name = rest
                .strip_suffix("][eq]")
                .or_else(|| rest.strip_suffix(']'))
                .filter(|n| !n.contains('['))
                .unwrap_or(rest);
            if !accepts.filters.contains(&name) {
                return Err(bad_request(
                    "Unsupported Filter",
                    &format!("Filter '{name}' is not supported on this endpoint"),
                    Some("unsupported_filter"),
                ));
            }
            query.filters.insert(name.to_string(), value);
        }
    }
    Ok(query)
}

impl ListQuery {
    /// A filter's comma list of ids.
    fn ids(&self, name: &str) -> Result<Option<HashSet<i64>>, Reject> {
        let Some(raw) = self.filters.get(name) else {
            return Ok(None);
        };
        raw.split(',')
            .map(|s| s.trim().parse::<i64>())
            .collect::<Result<HashSet<_>, _>>()
            .map(Some)
            .map_err(|_| unsupported_value(name, raw))
    }

    fn date(&self, name: &str) -> Result<Option<NaiveDate>, Reject> {
        self.filters
            .get(name)
            .map(|raw| {
                NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| unsupported_value(name, raw))
            })
            .transpose()
    }

    fn includes(&self, name: &str) -> bool {
        self.includes.contains(name)
    }

    /// The collection response for `ids` (already filtered and sorted): the requested page,
    /// `meta`, absolute `links` on the host the request came to, and deduplicated `included`.
    fn page<F>(&self, host: &str, path: &str, ids: &[i64], mut render: F) -> Response
    where
        F: FnMut(i64, &mut Included) -> Value,
    {
        let total = ids.len();
        let total_pages = total.div_ceil(self.size);
        let start = (self.page - 1).saturating_mul(self.size).min(total);
        let end = (start + self.size).min(total);
        let mut included = Included::default();
        let data: Vec<Value> = ids[start..end]
            .iter()
            .map(|id| render(*id, &mut included))
            .collect();
        let link = |page: usize| {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in self.pairs.iter().filter(|(k, _)| k != "page[number]") {
                query.append_pair(k, v);
            }
            query.append_pair("page[number]", &page.to_string());
            format!("http://{host}/api/v2/{path}?{}", query.finish())
        };
        let mut links = Map::new();
        links.insert("first".into(), json!(link(1)));
        links.insert("last".into(), json!(link(total_pages.max(1))));
        if self.page < total_pages {
            links.insert("next".into(), json!(link(self.page + 1)));
        }
        if self.page > 1 {
            links.insert("prev".into(), json!(link(self.page - 1)));
        }
        let mut body = json!({
            "data": data,
            "meta": {
                "current_page": self.page,
                "total_pages": total_pages,
                "total_count": total,
                "page_size": self.size,
                "max_page_size": MAX_PAGE_SIZE,
            },
            "links": links,
        });
        if !included.items.is_empty() {
            body["included"] = Value::Array(included.items);
        }
        Json(body).into_response()
    }
}

fn unsupported_value(name: &str, raw: &str) -> Reject {
    bad_request(
        "Unsupported Filter Value",
        &format!("Value '{raw}' is not supported for filter '{name}'"),
        None,
    )
}

/// Top-level `included`, each resource once.
#[derive(Default)]
struct Included {
    seen: HashSet<(&'static str, i64)>,
    items: Vec<Value>,
}

impl Included {
    fn add(&mut self, kind: &'static str, id: i64, render: impl FnOnce() -> Value) {
        if self.seen.insert((kind, id)) {
            self.items.push(render());
        }
    }
}

fn single(data: Value, included: Included, status: StatusCode) -> Response {
    let mut body = json!({ "data": data, "meta": {} });
    if !included.items.is_empty() {
        body["included"] = Value::Array(included.items);
    }
    (status, Json(body)).into_response()
}

fn host(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string()
}

fn path_id(raw: &str) -> Result<i64, Reject> {
    raw.parse().map_err(|_| not_found())
}

// ---------------------------------------------------------------------------------------------
// Rendering

fn now() -> String {
    let offset = FixedOffset::east_opt(3600).expect("valid offset");
    Utc::now()
        .with_timezone(&offset)
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

fn linkage(kind: &str, id: i64) -> Value {
    json!({ "data": { "type": kind, "id": id.to_string() } })
}

fn stub() -> Value {
    json!({ "meta": { "included": false } })
}

fn hours_json(hours: f64) -> Value {
    if hours.fract() == 0.0 {
        json!(hours as i64)
    } else {
        json!(hours)
    }
}

fn render_person(org: i64, id: i64, p: &SimPerson) -> Value {
    let periods: Vec<Value> = p
        .availabilities
        .iter()
        .map(|a| {
            let hours: Vec<Value> = a.hours.iter().copied().map(hours_json).collect();
            json!([
                a.start.to_string(),
                a.end.map(|e| e.to_string()),
                hours,
                CALENDAR_ID
            ])
        })
        .collect();
    let availabilities = if p.availabilities_as_string {
        json!(Value::Array(periods).to_string())
    } else {
        Value::Array(periods)
    };
    json!({
        "id": id.to_string(),
        "type": "people",
        "attributes": {
            "first_name": p.first_name,
            "last_name": p.last_name,
            "email": p.email,
            "deactivated_at": (!p.active).then_some(PAST_TIMESTAMP),
            "archived_at": null,
            "placeholder": p.email.is_none(),
            "is_user": p.email.is_some(),
            "hrm_type_id": p.email.is_some().then_some(1),
            "availabilities": availabilities,
            "custom_fields": null,
        },
        "relationships": {
            "organization": linkage("organizations", org),
            "manager": stub(),
            "company": stub(),
            "approval_policy_assignment": stub(),
            "holiday_calendar": stub(),
        }
    })
}

fn render_event(org: i64, id: i64, e: &SimEvent) -> Value {
    json!({
        "id": id.to_string(),
        "type": "events",
        "attributes": {
            "name": e.name,
            "event_type_id": if e.paid { 1 } else { 2 },
            "limitation_type_id": e.limitation_type_id,
            "absence_type": match e.kind {
                EventKind::TimeOff => "time_off",
                EventKind::RemoteWork => "remote_work",
            },
            "half_day_bookings": e.half_day_bookings,
            "archived_at": e.archived.then_some(PAST_TIMESTAMP),
            "icon_id": "icon-airplane",
            "color_id": "4",
            "description": null,
            "sync_personal_integrations": false,
        },
        "relationships": {
            "organization": linkage("organizations", org),
        }
    })
}

fn render_approval(
    db: &Db,
    id: i64,
    a: &SimApproval,
    query: &ListQuery,
    inc: &mut Included,
) -> Value {
    let booking = if query.includes("booking") {
        if let Some(b) = db.bookings.get(&a.booking_id) {
            inc.add("bookings", a.booking_id, || {
                render_booking(
                    db,
                    a.booking_id,
                    b,
                    &ListQuery::none(),
                    &mut Included::default(),
                )
            });
        }
        linkage("bookings", a.booking_id)
    } else {
        stub()
    };
    json!({
        "id": id.to_string(),
        "type": "approval_statuses",
        "attributes": {
            "note": a.note,
            "approved_at": a.approved_at,
            "rejected_at": null,
            "target_type": "booking",
            "approver_group_key": format!("group-0-0-{}", a.booking_id),
        },
        "relationships": {
            "booking": booking,
            "approver": stub(),
            "actual_approver": stub(),
        }
    })
}

impl ListQuery {
    fn none() -> Self {
        Self {
            pairs: Vec::new(),
            page: 1,
            size: DEFAULT_PAGE_SIZE,
            filters: BTreeMap::new(),
            includes: HashSet::new(),
            sort: None,
        }
    }
}

fn render_booking(
    db: &Db,
    id: i64,
    b: &SimBooking,
    query: &ListQuery,
    inc: &mut Included,
) -> Value {
    let person = if query.includes("person") {
        if let Some(p) = db.people.get(&b.person_id) {
            inc.add("people", b.person_id, || {
                render_person(db.org, b.person_id, p)
            });
        }
        linkage("people", b.person_id)
    } else {
        stub()
    };
    let event = if query.includes("event") {
        match b.event_id {
            Some(event_id) => {
                if let Some(e) = db.events.get(&event_id) {
                    inc.add("events", event_id, || render_event(db.org, event_id, e));
                }
                linkage("events", event_id)
            }
            None => json!({ "data": null }),
        }
    } else {
        stub()
    };
    let service = if query.includes("service") {
        match b.service_id {
            Some(service_id) => {
                inc.add("services", service_id, || {
                    json!({ "id": service_id.to_string(), "type": "services",
                            "attributes": { "name": format!("Service {service_id}") } })
                });
                linkage("services", service_id)
            }
            None => json!({ "data": null }),
        }
    } else {
        stub()
    };
    let approvals: Vec<(i64, &SimApproval)> = db
        .approvals
        .iter()
        .filter(|(_, a)| a.booking_id == id)
        .map(|(aid, a)| (*aid, a))
        .collect();
    let approval_statuses = if query.includes("approval_statuses") {
        for (aid, a) in &approvals {
            inc.add("approval_statuses", *aid, || {
                render_approval(db, *aid, a, &ListQuery::none(), &mut Included::default())
            });
        }
        json!({ "data": approvals.iter().map(|(aid, _)| json!({"type": "approval_statuses", "id": aid.to_string()})).collect::<Vec<_>>() })
    } else {
        stub()
    };
    json!({
        "id": id.to_string(),
        "type": "bookings",
        "attributes": {
            "hours": b.hours,
            "time": b.time,
            "started_on": b.started_on.to_string(),
            "ended_on": b.ended_on.to_string(),
            "note": b.note,
            "total_time": b.total_time,
            "total_working_days": b.total_working_days,
            "percentage": b.percentage,
            "created_at": b.created_at,
            "updated_at": b.created_at,
            "people_custom_fields": {},
            "approved": b.approved,
            "approved_at": b.approved.then(|| b.created_at.clone()),
            "rejected": b.rejected,
            "rejected_reason": null,
            "rejected_at": null,
            "canceled": b.canceled,
            "canceled_at": null,
            "booking_method_id": b.booking_method_id,
            "autotracking": false,
            "draft": false,
            "custom_fields": null,
            "external_id": null,
            "last_activity_at": b.created_at,
            "stage_type": if b.event_id.is_some() { Value::Null } else { json!(2) },
        },
        "relationships": {
            "organization": linkage("organizations", db.org),
            "person": person,
            "event": event,
            "service": service,
            "approval_statuses": approval_statuses,
            "creator": stub(),
            "updater": stub(),
            "approver": stub(),
            "rejecter": stub(),
            "canceler": stub(),
            "origin": stub(),
            "attachments": stub(),
        }
    })
}

// ---------------------------------------------------------------------------------------------
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

fn compute_totals(booking: &mut SimBooking, person: Option<&SimPerson>) {
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

// ---------------------------------------------------------------------------------------------
// Request bodies

struct Body {
    attributes: Map<String, Value>,
    relationships: Value,
}

fn parse_body(bytes: &Bytes) -> Result<Body, Reject> {
    if bytes.is_empty() {
        return Ok(Body {
            attributes: Map::new(),
            relationships: Value::Null,
        });
    }
    let doc: Value = serde_json::from_slice(bytes)
        .map_err(|_| bad_request("Bad Request", "The request body is not valid JSON", None))?;
    Ok(Body {
        attributes: doc
            .pointer("/data/attributes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        relationships: doc
            .pointer("/data/relationships")
            .cloned()
            .unwrap_or(Value::Null),
    })
}

impl Body {
    fn int(&self, name: &str) -> Result<Option<i64>, Reject> {
        match self.attributes.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(Value::Number(n)) => n.as_i64().map(Some),
            Some(Value::String(s)) => s.trim().parse().ok().map(Some),
            Some(_) => None,
        }
        .ok_or_else(|| invalid(&format!("data/attributes/{name}"), "is not a number"))
    }

    fn date(&self, name: &str) -> Result<Option<NaiveDate>, Reject> {
        match self.attributes.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| invalid(&format!("data/attributes/{name}"), "is not a date")),
            Some(_) => Err(invalid(&format!("data/attributes/{name}"), "is not a date")),
        }
    }

    fn text(&self, name: &str) -> Option<Option<String>> {
        match self.attributes.get(name)? {
            Value::Null => Some(None),
            Value::String(s) => Some(Some(s.clone())),
            other => Some(Some(other.to_string())),
        }
    }

    fn flag(&self, name: &str) -> Option<bool> {
        self.attributes.get(name)?.as_bool()
    }

    /// `relationships.<name>.data.id`.
    fn related(&self, name: &str) -> Option<i64> {
        match self.relationships.pointer(&format!("/{name}/data/id"))? {
            Value::String(s) => s.parse().ok(),
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// People

const PEOPLE: Accepts = Accepts {
    filters: &["id", "status", "email"],
    includes: &[],
    sorts: &["id"],
};

async fn list_people(
    State(sim): State<ProductiveSim>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, Reject> {
    let query = parse_query(raw.as_deref(), &PEOPLE)?;
    let ids = query.ids("id")?;
    let active = match query.filters.get("status").map(String::as_str) {
        None => None,
        Some("1") => Some(true),
        Some("2") => Some(false),
        Some(other) => return Err(unsupported_value("status", other)),
    };
    let email = query.filters.get("email").map(|e| e.to_lowercase());
    let db = sim.db();
    let mut matching: Vec<i64> = db
        .people
        .iter()
        .filter(|(id, p)| {
            ids.as_ref().is_none_or(|ids| ids.contains(id))
                && active.is_none_or(|a| p.active == a)
                && email
                    .as_ref()
                    .is_none_or(|e| p.email.as_ref().is_some_and(|pe| pe.to_lowercase() == *e))
        })
        .map(|(id, _)| *id)
        .collect();
    if query
        .sort
        .as_ref()
        .is_some_and(|(_, descending)| *descending)
    {
        matching.reverse();
    }
    Ok(query.page(&host(&headers), "people", &matching, |id, _| {
        render_person(db.org, id, &db.people[&id])
    }))
}

async fn get_person(
    State(sim): State<ProductiveSim>,
    Path(id): Path<String>,
) -> Result<Response, Reject> {
    let id = path_id(&id)?;
    let db = sim.db();
    let person = db.people.get(&id).ok_or_else(not_found)?;
    Ok(single(
        render_person(db.org, id, person),
        Included::default(),
        StatusCode::OK,
    ))
}

// ---------------------------------------------------------------------------------------------
// Events

const EVENTS: Accepts = Accepts {
    filters: &["id", "status", "name", "absence_type"],
    includes: &[],
    sorts: &["id", "name"],
};

async fn list_events(
    State(sim): State<ProductiveSim>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, Reject> {
    let query = parse_query(raw.as_deref(), &EVENTS)?;
    let ids = query.ids("id")?;
    let archived = match query.filters.get("status").map(String::as_str) {
        None => None,
        Some("1") => Some(false),
        Some("2") => Some(true),
        Some(other) => return Err(unsupported_value("status", other)),
    };
    let name = query.filters.get("name");
    let absence_type = query.filters.get("absence_type");
    let db = sim.db();
    let mut matching: Vec<(i64, &SimEvent)> = db
        .events
        .iter()
        .filter(|(id, e)| {
            ids.as_ref().is_none_or(|ids| ids.contains(id))
                && archived.is_none_or(|a| e.archived == a)
                && name.is_none_or(|n| e.name == *n)
                && absence_type.is_none_or(|t| absence_type_name(e.kind) == t)
        })
        .map(|(id, e)| (*id, e))
        .collect();
    if let Some((field, descending)) = &query.sort {
        if field == "name" {
            matching.sort_by(|a, b| a.1.name.cmp(&b.1.name).then(a.0.cmp(&b.0)));
        }
        if *descending {
            matching.reverse();
        }
    }
    let ids: Vec<i64> = matching.iter().map(|(id, _)| *id).collect();
    Ok(query.page(&host(&headers), "events", &ids, |id, _| {
        render_event(db.org, id, &db.events[&id])
    }))
}

fn absence_type_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::TimeOff => "time_off",
        EventKind::RemoteWork => "remote_work",
    }
}

async fn get_event(
    State(sim): State<ProductiveSim>,
    Path(id): Path<String>,
) -> Result<Response, Reject> {
    let id = path_id(&id)?;
    let db = sim.db();
    let event = db.events.get(&id).ok_or_else(not_found)?;
    Ok(single(
        render_event(db.org, id, event),
        Included::default(),
        StatusCode::OK,
    ))
}

/// Applies an event create/update body; `creating` makes the required attributes required.
fn write_event(mut event: SimEvent, body: &Body, creating: bool) -> Result<SimEvent, Reject> {
    if let Some(name) = body.text("name") {
        event.name = name.unwrap_or_default();
    }
    if event.name.trim().is_empty() {
        return Err(invalid("data/attributes/name", "can't be blank"));
    }
    match body.int("event_type_id")? {
        Some(1) => event.paid = true,
        Some(2) => event.paid = false,
        Some(_) => {
            return Err(invalid(
                "data/attributes/event_type_id",
                "is not included in the list",
            ))
        }
        None if creating => return Err(invalid("data/attributes/event_type_id", "can't be blank")),
        None => {}
    }
    match body.int("limitation_type_id")? {
        Some(id @ 2..=4) => event.limitation_type_id = id,
        Some(_) => {
            return Err(invalid(
                "data/attributes/limitation_type_id",
                "is not included in the list",
            ))
        }
        None if creating => {
            return Err(invalid(
                "data/attributes/limitation_type_id",
                "can't be blank",
            ))
        }
        None => {}
    }
    match body.text("absence_type").flatten().as_deref() {
        None => {}
        Some("time_off") => event.kind = EventKind::TimeOff,
        Some("remote_work") => event.kind = EventKind::RemoteWork,
        Some(_) => {
            return Err(invalid(
                "data/attributes/absence_type",
                "is not included in the list",
            ))
        }
    }
    if let Some(half) = body.flag("half_day_bookings") {
        event.half_day_bookings = half;
    }
    if event.kind == EventKind::RemoteWork && event.paid {
        return Err(invalid(
            "data/attributes/event_type_id",
            "must be unpaid for remote work absence",
        ));
    }
    Ok(event)
}

async fn create_event(State(sim): State<ProductiveSim>, bytes: Bytes) -> Result<Response, Reject> {
    let body = parse_body(&bytes)?;
    let blank = SimEvent {
        name: String::new(),
        paid: false,
        kind: EventKind::TimeOff,
        limitation_type_id: 4,
        half_day_bookings: false,
        archived: false,
    };
    let event = write_event(blank, &body, true)?;
    let mut db = sim.db();
    let id = db.id();
    let data = render_event(db.org, id, &event);
    db.events.insert(id, event);
    Ok(single(data, Included::default(), StatusCode::CREATED))
}

async fn update_event(
    State(sim): State<ProductiveSim>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, Reject> {
    let id = path_id(&id)?;
    let body = parse_body(&bytes)?;
    let mut db = sim.db();
    let current = db.events.get(&id).ok_or_else(not_found)?.clone();
    let event = write_event(current, &body, false)?;
    let data = render_event(db.org, id, &event);
    db.events.insert(id, event);
    Ok(single(data, Included::default(), StatusCode::OK))
}

fn set_archived(sim: &ProductiveSim, id: &str, archived: bool) -> Result<Response, Reject> {
    let id = path_id(id)?;
    let mut db = sim.db();
    let org = db.org;
    let event = db.events.get_mut(&id).ok_or_else(not_found)?;
    event.archived = archived;
    Ok(single(
        render_event(org, id, event),
        Included::default(),
        StatusCode::OK,
    ))
}

async fn archive_event(
    State(sim): State<ProductiveSim>,
    Path(id): Path<String>,
) -> Result<Response, Reject> {
    set_archived(&sim, &id, true)
}

async fn restore_event(
    State(sim): State<ProductiveSim>,
    Path(id): Path<String>,
) -> Result<Response, Reject> {
    set_archived(&sim, &id, false)
}

async fn delete_event(
    State(sim): State<ProductiveSim>,
    Path(id): Path<String>,
) -> Result<Response, Reject> {
    let id = path_id(&id)?;
    let mut db = sim.db();
    let event = db.events.get(&id).ok_or_else(not_found)?;
    if !event.archived {
        return Err(api_error(
            StatusCode::CONFLICT,
            "Conflict",
            "Record must be archived before it can be deleted",
            Some("record_not_archived"),
            None,
        ));
    }
    db.events.remove(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------------------------------------
// Bookings

const BOOKINGS: Accepts = Accepts {
    // `booking_type` is documented but inert on the live API: accepted and ignored here too.
    filters: &[
        "id",
        "person_id",
        "event_id",
        "after",
        "before",
        "booking_type",
    ],
    includes: &["person", "event", "service", "approval_statuses"],
    sorts: &["id", "started_on"],
};

async fn list_bookings(
    State(sim): State<ProductiveSim>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, Reject> {
    let query = parse_query(raw.as_deref(), &BOOKINGS)?;
    let ids = query.ids("id")?;
    let people = query.ids("person_id")?;
    let events = query.ids("event_id")?;
    let after = query.date("after")?;
    let before = query.date("before")?;
    let db = sim.db();
    let mut matching: Vec<(i64, &SimBooking)> = db
        .bookings
        .iter()
        .filter(|(id, b)| {
            ids.as_ref().is_none_or(|ids| ids.contains(id))
                && people.as_ref().is_none_or(|p| p.contains(&b.person_id))
                && events
                    .as_ref()
                    .is_none_or(|e| b.event_id.is_some_and(|id| e.contains(&id)))
                // Overlap, not containment: a long booking shows up in a short window.
                && after.is_none_or(|after| b.ended_on >= after)
                && before.is_none_or(|before| b.started_on <= before)
        })
        .map(|(id, b)| (*id, b))
        .collect();
    if let Some((field, descending)) = &query.sort {
        if field == "started_on" {
            matching.sort_by_key(|(id, b)| (b.started_on, *id));
        }
        if *descending {
            matching.reverse();
        }
    }
    let ids: Vec<i64> = matching.iter().map(|(id, _)| *id).collect();
    Ok(
        query.page(&host(&headers), "bookings", &ids, |id, included| {
            render_booking(&db, id, &db.bookings[&id], &query, included)
        }),
    )
}

async fn get_booking(
    State(sim): State<ProductiveSim>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Reject> {
    let id = path_id(&id)?;
    let query = parse_query(raw.as_deref(), &BOOKINGS)?;
    let db = sim.db();
    let booking = db.bookings.get(&id).ok_or_else(not_found)?;
    let mut included = Included::default();
    let data = render_booking(&db, id, booking, &query, &mut included);
    Ok(single(data, included, StatusCode::OK))
}

/// Validates a booking create/update body (flat `*_id` attributes) against the current data.
fn write_booking(
    sim: &ProductiveSim,
    db: &Db,
    existing: Option<&SimBooking>,
    body: &Body,
) -> Result<SimBooking, Reject> {
    let relationships = sim.inner.accept_relationships.load(Ordering::SeqCst);
    let related = |name: &str| relationships.then(|| body.related(name)).flatten();
    // Without the knob the relationships form leaves `person_id` blank, which is how the live
    // API's 422 on `data/attributes/person` for that form comes about.
    let person_id = body
        .int("person_id")?
        .or_else(|| related("person"))
        .or(existing.map(|b| b.person_id))
        .ok_or_else(|| invalid("data/attributes/person", "can't be blank"))?;
    let started_on = body
        .date("started_on")?
        .or(existing.map(|b| b.started_on))
        .ok_or_else(|| invalid("data/attributes/started_on", "can't be blank"))?;
    let ended_on = body
        .date("ended_on")?
        .or(existing.map(|b| b.ended_on))
        .ok_or_else(|| invalid("data/attributes/ended_on", "can't be blank"))?;
    if ended_on < started_on {
        return Err(invalid(
            "data/attributes/ended_on",
            "must be on or after the start date",
        ));
    }
    let person = db
        .people
        .get(&person_id)
        .ok_or_else(|| invalid("data/attributes/person", "not found"))?;
    if !person.active {
        return Err(invalid("data/attributes/person", "is deactivated"));
    }
    let event_id = body
        .int("event_id")?
        .or_else(|| related("event"))
        .or(existing.and_then(|b| b.event_id));
    let service_id = body
        .int("service_id")?
        .or_else(|| related("service"))
        .or(existing.and_then(|b| b.service_id));
    match event_id {
        Some(event_id) => {
            let event = db
                .events
                .get(&event_id)
                .ok_or_else(|| invalid("data/attributes/event", "not found"))?;
            if event.archived {
                return Err(invalid("data/attributes/event", "is archived"));
            }
            if matches!(event.limitation_type_id, 2 | 3) {
                return Err(api_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid Attribute",
                    "has no allowance for this person",
                    Some("entitlements_required"),
                    Some("data/attributes/event"),
                ));
            }
        }
        None if service_id.is_none() => {
            return Err(invalid("data/attributes/event", "can't be blank"));
        }
        None => {}
    }
    let method = body
        .int("booking_method_id")?
        .or(existing.map(|b| b.booking_method_id))
        .unwrap_or(1);
    let hours = body.int("hours")?;
    let mut booking = SimBooking {
        person_id,
        event_id,
        service_id,
        started_on,
        ended_on,
        booking_method_id: method,
        time: None,
        hours: None,
        percentage: None,
        total_time: 0,
        total_working_days: 0,
        note: body
            .text("note")
            .unwrap_or_else(|| existing.map_or(Some(String::new()), |b| b.note.clone())),
        approved: existing.is_some_and(|b| b.approved),
        rejected: existing.is_some_and(|b| b.rejected),
        canceled: existing.is_some_and(|b| b.canceled),
        created_at: existing.map_or_else(now, |b| b.created_at.clone()),
    };
    match method {
        1 => {
            let time = body
                .int("time")?
                .or(hours.map(|h| h * 60))
                .or(existing.and_then(|b| b.time))
                .ok_or_else(|| invalid("data/attributes/time", "can't be blank"))?;
            if time <= 0 {
                return Err(invalid("data/attributes/time", "must be greater than 0"));
            }
            booking.time = Some(time);
            booking.hours = hours;
        }
        2 => {
            booking.percentage = Some(
                body.int("percentage")?
                    .or(existing.and_then(|b| b.percentage))
                    .ok_or_else(|| invalid("data/attributes/percentage", "can't be blank"))?,
            );
        }
        3 => {
            booking.time = Some(0);
            booking.total_time = body
                .int("total_time")?
                .or(existing.map(|b| b.total_time))
                .ok_or_else(|| invalid("data/attributes/total_time", "can't be blank"))?;
        }
        _ => {
            return Err(invalid(
                "data/attributes/booking_method_id",
                "is not included in the list",
            ))
        }
    }
    compute_totals(&mut booking, Some(person));
    Ok(booking)
}

async fn create_booking(
    State(sim): State<ProductiveSim>,
    RawQuery(raw): RawQuery,
    bytes: Bytes,
) -> Result<Response, Reject> {
    let query = parse_query(raw.as_deref(), &BOOKINGS)?;
    let body = parse_body(&bytes)?;
    let mut db = sim.db();
    let mut booking = write_booking(&sim, &db, None, &body)?;
    let id = db.id();
    // Absences of people with an approval policy wait for approval; everyone else's are
    // approved on creation.
    let pending = booking.event_id.is_some() && db.people[&booking.person_id].has_approval_policy;
    booking.approved = !pending;
    if pending {
        let approval_id = db.id();
        db.approvals.insert(
            approval_id,
            SimApproval {
                booking_id: id,
                approved_at: None,
                note: None,
            },
        );
    }
    db.bookings.insert(id, booking);
    let mut included = Included::default();
    let data = render_booking(&db, id, &db.bookings[&id], &query, &mut included);
    Ok(single(data, included, StatusCode::CREATED))
}

async fn update_booking(
    State(sim): State<ProductiveSim>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    bytes: Bytes,
) -> Result<Response, Reject> {
    let id = path_id(&id)?;
    let query = parse_query(raw.as_deref(), &BOOKINGS)?;
    let body = parse_body(&bytes)?;
    let mut db = sim.db();
    let current = db.bookings.get(&id).ok_or_else(not_found)?;
    let booking = write_booking(&sim, &db, Some(current), &body)?;
    db.bookings.insert(id, booking);
    let mut included = Included::default();
    let data = render_booking(&db, id, &db.bookings[&id], &query, &mut included);
    Ok(single(data, included, StatusCode::OK))
}

async fn delete_booking(
    State(sim): State<ProductiveSim>,
    Path(id): Path<String>,
) -> Result<Response, Reject> {
    let id = path_id(&id)?;
    let mut db = sim.db();
    db.bookings.remove(&id).ok_or_else(not_found)?;
    db.approvals.retain(|_, a| a.booking_id != id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------------------------------------
// Approval statuses

const APPROVALS: Accepts = Accepts {
    filters: &["id", "booking_id"],
    includes: &["booking"],
    sorts: &["id"],
};

async fn list_approvals(
    State(sim): State<ProductiveSim>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, Reject> {
    let query = parse_query(raw.as_deref(), &APPROVALS)?;
    let ids = query.ids("id")?;
    let bookings = query.ids("booking_id")?;
    let db = sim.db();
    let mut matching: Vec<i64> = db
        .approvals
        .iter()
        .filter(|(id, a)| {
            ids.as_ref().is_none_or(|ids| ids.contains(id))
                && bookings.as_ref().is_none_or(|b| b.contains(&a.booking_id))
        })
        .map(|(id, _)| *id)
        .collect();
    if query
        .sort
        .as_ref()
        .is_some_and(|(_, descending)| *descending)
    {
        matching.reverse();
    }
    Ok(query.page(
        &host(&headers),
        "approval_statuses",
        &matching,
        |id, included| render_approval(&db, id, &db.approvals[&id], &query, included),
    ))
}

async fn get_approval(
    State(sim): State<ProductiveSim>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Reject> {
    let id = path_id(&id)?;
    let query = parse_query(raw.as_deref(), &APPROVALS)?;
    let db = sim.db();
    let approval = db.approvals.get(&id).ok_or_else(not_found)?;
    let mut included = Included::default();
    let data = render_approval(&db, id, approval, &query, &mut included);
    Ok(single(data, included, StatusCode::OK))
}

/// Approves one step; the booking becomes approved once every one of its steps is.
async fn approve(
    State(sim): State<ProductiveSim>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, Reject> {
    let id = path_id(&id)?;
    let body = parse_body(&bytes)?;
    let mut db = sim.db();
    let approval = db.approvals.get_mut(&id).ok_or_else(not_found)?;
    if !sim.inner.may_approve.load(Ordering::SeqCst) {
        return Err(api_error(
            StatusCode::FORBIDDEN,
            "Access Denied",
            "You are not authorized to approve this request",
            Some("access_denied"),
            None,
        ));
    }
    let at = now();
    approval.approved_at = Some(at);
    approval.note = body.text("note").flatten();
    let booking_id = approval.booking_id;
    let all_approved = db
        .approvals
        .values()
        .filter(|a| a.booking_id == booking_id)
        .all(|a| a.approved_at.is_some());
    if all_approved {
        if let Some(booking) = db.bookings.get_mut(&booking_id) {
            booking.approved = true;
        }
    }
    let mut included = Included::default();
    let data = render_approval(
        &db,
        id,
        &db.approvals[&id],
        &ListQuery::none(),
        &mut included,
    );
    Ok(single(data, included, StatusCode::OK))
}
