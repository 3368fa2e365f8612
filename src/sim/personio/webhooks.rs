//! Personio's webhooks (API v2, reference §5): the management API (`/v2/webhooks`) and the
//! deliveries of absence events to the subscribed URLs, with Personio's retry scheme and the
//! reported quirks switchable.
//!
//! Management answers follow the v2 conventions: lists `{"_data": [...], "_meta": {"links":
//! {"self": {"href"}}}}`, `GET /{id}` the bare object, writes `{"_data": {...}}` (POST 201),
//! errors `application/problem+json`. The token is never echoed.

mod delivery;

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::{PersonioSim, SimTimeOff};
pub use delivery::Delivery;
pub(super) use delivery::Outbox;

/// The absence events (reference §5.2).
const CREATED: &str = "absence-period.created";
const TIMERANGE: &str = "absence-period.updated.timerange";
const STATUS: &str = "absence-period.updated.status";
const DELETED: &str = "absence-period.deleted";

/// Header names Personio refuses in `custom_headers` (they must not match or start with these).
const RESERVED_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "content-type",
];

/// Reported behaviours of Personio's deliveries, and the pace of its retries.
#[derive(Debug, Clone)]
pub struct WebhookQuirks {
    /// Send the payload key `absence-period` (as documented) instead of `absence_period` (as
    /// observed, api-docs issue 210).
    pub hyphen_key: bool,
    /// Deliver every event twice.
    pub duplicate: bool,
    /// Hold events until this many are held, then deliver them newest first.
    pub reorder: Option<usize>,
    /// Every update of a day-unit period also fires `updated.timerange`, even when its time
    /// range did not change (a reported forum issue).
    pub spurious_timerange: bool,
    /// The wait before the first extended retry; each next one doubles. Personio spreads its
    /// 6 over up to 3 days; tests use milliseconds.
    pub retry_delay: std::time::Duration,
    /// How long a receiver has to answer one request (Personio: 3 s).
    pub timeout: std::time::Duration,
}

impl Default for WebhookQuirks {
    fn default() -> Self {
        Self {
            hyphen_key: false,
            duplicate: false,
            reorder: None,
            spurious_timerange: false,
            retry_delay: std::time::Duration::from_secs(600),
            timeout: std::time::Duration::from_secs(3),
        }
    }
}

/// What happened to a period, as the mutators report it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Change {
    Created,
    Updated { timerange: bool, status: bool },
    Deleted,
}

impl Change {
    pub(super) fn updated(before: &SimTimeOff, after: &SimTimeOff) -> Self {
        let range = |p: &SimTimeOff| (p.start, p.end, p.half_day_start, p.half_day_end);
        Self::Updated {
            timerange: range(before) != range(after),
            status: before.status != after.status,
        }
    }

    fn events(self, spurious_timerange: bool) -> Vec<&'static str> {
        match self {
            Self::Created => vec![CREATED],
            Self::Deleted => vec![DELETED],
            Self::Updated { timerange, status } => {
                let mut events = Vec::new();
                if timerange || spurious_timerange {
                    events.push(TIMERANGE);
                }
                if status {
                    events.push(STATUS);
                }
                events
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthType {
    None,
    Token,
    Custom,
}

impl AuthType {
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "NONE" => Some(Self::None),
            "TOKEN" => Some(Self::Token),
            "CUSTOM" => Some(Self::Custom),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Token => "TOKEN",
            Self::Custom => "CUSTOM",
        }
    }
}

/// A webhook subscription.
#[derive(Debug, Clone)]
struct Subscription {
    /// An absolute http(s) URL.
    url: String,
    description: String,
    enabled: bool,
    auth_type: AuthType,
    token: Option<String>,
    custom_headers: BTreeMap<String, String>,
    enabled_events: Vec<String>,
    created_at: chrono::DateTime<Utc>,
    updated_at: chrono::DateTime<Utc>,
}

impl Subscription {
    /// The headers a delivery carries for authentication.
    fn auth_headers(&self) -> Vec<(String, String)> {
        match self.auth_type {
            AuthType::None => Vec::new(),
            AuthType::Token => self
                .token
                .iter()
                .map(|t| (header::AUTHORIZATION.to_string(), t.clone()))
                .collect(),
            AuthType::Custom => self
                .custom_headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    fn json(&self, id: &str) -> Value {
        let at = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        json!({
            "id": id,
            "url": self.url,
            "description": self.description,
            "status": if self.enabled { "ENABLED" } else { "DISABLED" },
            "auth_type": self.auth_type.as_str(),
            "custom_headers": self.custom_headers,
            "enabled_events": self.enabled_events,
            "created_at": at(self.created_at),
            "updated_at": at(self.updated_at),
        })
    }
}

impl PersonioSim {
    /// Changes how deliveries behave; turning `reorder` off sends what it held, in order.
    pub fn set_webhook_quirks(&self, quirks: WebhookQuirks) {
        self.inner.webhooks.set_quirks(quirks);
    }

    /// Every finished delivery (delivered or given up), in the order they finished.
    pub fn webhook_deliveries(&self) -> Vec<Delivery> {
        self.inner.webhooks.log()
    }

    /// Returns once no delivery is held, queued or in flight.
    pub async fn webhooks_idle(&self) {
        self.inner.webhooks.idle().await;
    }

    /// Called by every change of a period: queues a delivery of its events to every enabled
    /// subscription that enables them.
    pub(super) fn absence_changed(&self, period_id: String, change: Change) {
        self.inner.webhooks.emit(period_id, change);
    }
}

/// The management routes.
pub(super) fn routes() -> Router<PersonioSim> {
    Router::new()
        .route("/v2/webhooks", get(list).post(create))
        .route("/v2/webhooks/{id}", get(read).patch(update).delete(remove))
}

/// The access a management call needs.
#[derive(Debug, Clone, Copy)]
enum Scope {
    Read,
    Write,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Self::Read => "personio:webhooks:read",
            Self::Write => "personio:webhooks:write",
        }
    }
}

/// The one check every management call makes: the request budget, then a token issued by the
/// simulator's auth (v1 and v2 share one token).
fn authorize(sim: &PersonioSim, headers: &HeaderMap, scope: Scope) -> Result<(), Refused> {
    let meta = json!({ "required_scope": scope.as_str() });
    let refused = |fail: super::render::Fail| {
        let status = fail.into_response().status();
        let (title, detail) = match status {
            StatusCode::TOO_MANY_REQUESTS => ("Too Many Requests", "Rate limit exceeded"),
            StatusCode::FORBIDDEN => ("Forbidden", "Provided authorization is not valid"),
            _ => (
                "Unauthorized Request",
                "The access token is missing or expired",
            ),
        };
        Box::new(problem(status, title, detail, meta.clone()))
    };
    sim.rate_limit(None).map_err(refused)?;
    sim.authorize(headers).map(drop).map_err(refused)
}

/// A refusal, boxed: responses are large and travel through `?`.
type Refused = Box<Response>;

/// A v2 error body (reference §1.3).
fn problem(status: StatusCode, title: &str, detail: &str, meta: Value) -> Response {
    let body = json!({
        "personio_trace_id": uuid::Uuid::new_v4().to_string(),
        "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        "errors": [{
            "title": title,
            "detail": detail,
            "type": "https://developer.personio.de/v2.0/page/public-api-error-codes",
            "_meta": meta,
        }],
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

fn invalid(detail: impl Into<String>) -> Refused {
    Box::new(problem(
        StatusCode::BAD_REQUEST,
        "Bad Request",
        &detail.into(),
        json!({}),
    ))
}

fn not_found(id: &str) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "Resource not found",
        "There is no resource for the specified id.",
        json!({ "id": id }),
    )
}

async fn list(
    State(sim): State<PersonioSim>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = authorize(&sim, &headers, Scope::Read) {
        return *refused;
    }
    let data: Vec<Value> = sim
        .inner
        .webhooks
        .with_subscriptions(|subs| subs.iter().map(|(id, s)| s.json(id)).collect());
    Json(json!({ "_data": data, "_meta": { "links": { "self": { "href": uri.to_string() } } } }))
        .into_response()
}

async fn read(
    State(sim): State<PersonioSim>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = authorize(&sim, &headers, Scope::Read) {
        return *refused;
    }
    let found = sim
        .inner
        .webhooks
        .with_subscriptions(|subs| subs.get(&id).map(|s| s.json(&id)));
    found.map_or_else(|| not_found(&id), |s| Json(s).into_response())
}

async fn create(State(sim): State<PersonioSim>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refused) = authorize(&sim, &headers, Scope::Write) {
        return *refused;
    }
    let fields = match object(&body) {
        Ok(fields) => fields,
        Err(bad) => return *bad,
    };
    let now = Utc::now();
    let mut sub = Subscription {
        url: String::new(),
        description: String::new(),
        // Personio: "Defaults to DISABLED".
        enabled: false,
        auth_type: AuthType::Token,
        token: None,
        custom_headers: BTreeMap::new(),
        enabled_events: Vec::new(),
        created_at: now,
        updated_at: now,
    };
    for required in ["url", "description", "enabled_events"] {
        if !fields.contains_key(required) {
            return *invalid(format!("{required} is required"));
        }
    }
    if let Err(bad) = apply(&mut sub, &fields) {
        return *bad;
    }
    let id = uuid::Uuid::new_v4().to_string();
    let json = sub.json(&id);
    sim.inner.webhooks.with_subscriptions(|subs| {
        subs.insert(id, sub);
    });
    (StatusCode::CREATED, Json(json!({ "_data": json }))).into_response()
}

async fn update(
    State(sim): State<PersonioSim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = authorize(&sim, &headers, Scope::Write) {
        return *refused;
    }
    let fields = match object(&body) {
        Ok(fields) => fields,
        Err(bad) => return *bad,
    };
    sim.inner.webhooks.with_subscriptions(|subs| {
        let Some(stored) = subs.get_mut(&id) else {
            return not_found(&id);
        };
        // Validated on a copy: a refused PATCH changes nothing.
        let mut sub = stored.clone();
        if let Err(bad) = apply(&mut sub, &fields) {
            return *bad;
        }
        sub.updated_at = Utc::now();
        *stored = sub;
        Json(json!({ "_data": stored.json(&id) })).into_response()
    })
}

async fn remove(
    State(sim): State<PersonioSim>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = authorize(&sim, &headers, Scope::Write) {
        return *refused;
    }
    let removed = sim
        .inner
        .webhooks
        .with_subscriptions(|subs| subs.remove(&id));
    match removed {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => not_found(&id),
    }
}

fn object(body: &[u8]) -> Result<Map<String, Value>, Refused> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(invalid("the body must be a JSON object")),
        Err(err) => Err(invalid(format!("the body is not JSON: {err}"))),
    }
}

/// Applies the given fields of a create or update body, checking each like Personio.
fn apply(sub: &mut Subscription, fields: &Map<String, Value>) -> Result<(), Refused> {
    let text = |key: &str| -> Result<Option<String>, Refused> {
        match fields.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(format!("{key} must be a string"))),
        }
    };
    if let Some(raw) = text("url")? {
        let url = url::Url::parse(&raw).map_err(|_| invalid("url must be an absolute URL"))?;
        // Personio asks for HTTPS; plain HTTP is let through so tests can receive on loopback.
        if !matches!(url.scheme(), "https" | "http") {
            return Err(invalid("url should be an HTTPS endpoint"));
        }
        sub.url = url.to_string();
    }
    if let Some(description) = text("description")? {
        sub.description = description;
    }
    if let Some(status) = text("status")? {
        sub.enabled = match status.as_str() {
            "ENABLED" => true,
            "DISABLED" => false,
            _ => return Err(invalid("status must be ENABLED or DISABLED")),
        };
    }
    if let Some(auth) = text("auth_type")? {
        sub.auth_type = AuthType::parse(&auth)
            .ok_or_else(|| invalid("auth_type must be NONE, TOKEN or CUSTOM"))?;
    }
    if let Some(token) = text("token")? {
        sub.token = Some(token);
    }
    if let Some(headers) = fields.get("custom_headers") {
        sub.custom_headers = custom_headers(headers)?;
    }
    if let Some(events) = fields.get("enabled_events") {
        let events: Option<Vec<String>> = events.as_array().and_then(|list| {
            list.iter()
                .map(|e| e.as_str().filter(|e| !e.is_empty()).map(str::to_string))
                .collect()
        });
        sub.enabled_events = events
            .filter(|e| !e.is_empty())
            .ok_or_else(|| invalid("enabled_events must be a non-empty list of event names"))?;
    }
    if sub.auth_type == AuthType::Token && sub.token.as_deref().is_none_or(str::is_empty) {
        return Err(invalid("token is required with auth_type TOKEN"));
    }
    if sub.auth_type == AuthType::Custom && sub.custom_headers.is_empty() {
        return Err(invalid("custom_headers are required with auth_type CUSTOM"));
    }
    Ok(())
}

fn custom_headers(value: &Value) -> Result<BTreeMap<String, String>, Refused> {
    let map = value
        .as_object()
        .ok_or_else(|| invalid("custom_headers must be an object"))?;
    if map.len() > 3 {
        return Err(invalid("custom_headers: at most 3 headers"));
    }
    let mut headers = BTreeMap::new();
    for (name, value) in map {
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.iter().any(|r| lower.starts_with(r)) {
            return Err(invalid(format!("custom_headers: {name} is not allowed")));
        }
        let value = value
            .as_str()
            .ok_or_else(|| invalid("custom_headers values must be strings"))?;
        headers.insert(name.clone(), value.to_string());
    }
    Ok(headers)
}
