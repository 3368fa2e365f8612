//! The v2 client against small scripted servers (until the v2 simulator lands): each test answers
//! the routes it cares about and the server records every request with its arrival instant.

mod auth;
mod reads;
mod webhooks;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use personio_productive_sync::config::PersonioSettings;
use personio_productive_sync::http::RetryPolicy;
use personio_productive_sync::personio::PersonioV2Client;
use personio_productive_sync::sim::SimServer;
use serde_json::{json, Value};

pub const CLIENT_ID: &str = "v2-client";
pub const SECRET: &str = "v2-s3cr3t-never-shown";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: String,
    pub at: Instant,
    /// The server's own base URL, for absolute links.
    pub base: String,
}

impl Seen {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

type Script = dyn Fn(&Seen) -> Option<Response> + Send + Sync;

struct Inner {
    script: Box<Script>,
    log: Mutex<Vec<Seen>>,
    base: OnceLock<String>,
}

/// A server answering with `script`; what it leaves unanswered (`None`) gets the default: a
/// token `papi-<n>` (n counting mints) from `POST /v2/auth/token`, 404 elsewhere.
pub struct Scripted {
    _server: SimServer,
    inner: Arc<Inner>,
    pub base: String,
}

impl Scripted {
    pub async fn start(script: impl Fn(&Seen) -> Option<Response> + Send + Sync + 'static) -> Self {
        let inner = Arc::new(Inner {
            script: Box::new(script),
            log: Mutex::new(Vec::new()),
            base: OnceLock::new(),
        });
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        let server = SimServer::start(router).await.unwrap();
        let base = server.url();
        inner.base.set(base.clone()).unwrap();
        Self {
            _server: server,
            inner,
            base,
        }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.inner.log.lock().unwrap().clone()
    }

    /// The requests to `path` (any method).
    pub fn to(&self, path: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| s.path == path)
            .collect()
    }

    pub fn client(&self) -> PersonioV2Client {
        PersonioV2Client::new(&settings(&self.base), fast_retry()).unwrap()
    }
}

async fn handle(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let query = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
        base: inner.base.get().cloned().unwrap_or_default(),
    };
    let mints = {
        let mut log = inner.log.lock().unwrap();
        log.push(seen.clone());
        log.iter().filter(|s| s.path == "/v2/auth/token").count()
    };
    if let Some(response) = (inner.script)(&seen) {
        return response;
    }
    if seen.path == "/v2/auth/token" {
        return json_reply(
            200,
            json!({"access_token": format!("papi-{mints}"), "token_type": "Bearer",
                "expires_in": 86400, "scope": "personio:absences:read personio:persons:read"}),
        );
    }
    json_reply(
        404,
        json!({"errors": [{"title": "Not Found", "detail": format!("no route {}", seen.path)}]}),
    )
}

pub fn json_reply(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap();
    let content_type = if status.is_success() {
        "application/json"
    } else {
        "application/problem+json"
    };
    (status, [("content-type", content_type)], body.to_string()).into_response()
}

/// A list page; `next` is the link as the server writes it.
pub fn page(data: Vec<Value>, next: Option<String>) -> Response {
    let mut links = json!({"self": {"href": "/v2/x"}});
    if let Some(next) = next {
        links["next"] = json!({ "href": next });
    }
    json_reply(200, json!({"_data": data, "_meta": {"links": links}}))
}

pub fn settings(base: &str) -> PersonioSettings {
    serde_json::from_value(json!({
        "api": "v2",
        "base_url": base,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "app_id": "PERSONIO_PRODUCTIVE_SYNC",
        "timeout": "5s",
        "requests_per_minute": 100_000,
    }))
    .unwrap()
}

pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_rate_limit_wait: Duration::from_secs(2),
    }
}

pub const VACATION: &str = "ef02a5fa-8bf0-43d9-9b93-6ddd496e42b9";
pub const DOCTOR: &str = "abc6fa09-d8fe-4de0-be03-f0a1d48df766";

/// One day type and one hour type.
pub fn types_page() -> Response {
    page(
        vec![
            json!({"id": VACATION, "name": "Paid vacation", "category": "paid_vacation", "unit": "DAY"}),
            json!({"id": DOCTOR, "name": "Doctor", "category": "other", "unit": "hour"}),
        ],
        None,
    )
}

/// An approved day-unit vacation of person `person` from `start` to `end` (date-times as sent).
pub fn vacation(id: &str, person: &str, start: &str, end: Option<&str>) -> Value {
    json!({
        "id": id, "person": {"id": person}, "absence_type": {"id": VACATION},
        "starts_from": {"date_time": start, "type": "FIRST_HALF"},
        "ends_at": end.map(|e| json!({"date_time": e, "type": "SECOND_HALF"})),
        "timezone_id": "Europe/Berlin", "comment": null,
        "approval": {"status": "APPROVED"},
        "created_at": "2026-05-02T09:14:11Z", "updated_at": "2026-05-03T07:00:02Z",
    })
}

pub fn person(id: &str, email: Option<&str>) -> Value {
    let mut p = json!({"id": id, "first_name": "P", "last_name": id});
    if let Some(email) = email {
        p["email"] = json!(email);
    }
    p
}

/// Answers `/v2/persons?id=...` with every id asked for, each with `<id>@example.com`.
pub fn persons_echo(seen: &Seen) -> Response {
    let ids = seen.param("id").unwrap_or_default();
    let persons = ids
        .split(',')
        .filter(|id| !id.is_empty())
        .map(|id| person(id, Some(&format!("{id}@example.com"))))
        .collect();
    page(persons, None)
}
