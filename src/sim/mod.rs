//! In-process simulators of the Personio and Productive APIs, for tests, the demo and the
//! benchmark. They reproduce the real APIs' envelopes, quirks, limits and error bodies (see the
//! reference notes), plus knobs to inject latency and failures.

pub mod generate;
pub mod personio;
pub mod productive;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use rand::Rng;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Failure and latency injection, changeable while the simulator runs.
#[derive(Debug, Clone, Default)]
pub struct FaultSettings {
    /// Added to every request.
    pub latency: Duration,
    /// Share of requests answered 500 without doing anything.
    pub error_rate: f64,
    /// Share of requests answered 429 without doing anything.
    pub rate_limit_rate: f64,
    /// Share of requests whose connection drops before they are handled.
    pub drop_rate: f64,
    /// Share of writes that are carried out but whose answer is lost (the connection drops).
    pub lose_write_answer_rate: f64,
    /// When set, only requests whose route contains this are faulted (latency still applies).
    pub only_routes_containing: Option<String>,
}

/// Counts requests by method and route template (e.g. `GET /api/v2/bookings`).
#[derive(Debug, Default)]
pub struct RequestCounter {
    counts: Mutex<BTreeMap<String, u64>>,
}

impl RequestCounter {
    pub fn record(&self, method: &str, route: &str) {
        *self
            .counts
            .lock()
            .unwrap()
            .entry(format!("{method} {route}"))
            .or_default() += 1;
    }

    /// Requests for one `METHOD /route` key.
    pub fn get(&self, key: &str) -> u64 {
        self.counts.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().unwrap().clone()
    }

    pub fn total(&self) -> u64 {
        self.counts.lock().unwrap().values().sum()
    }

    /// Requests whose method is not GET.
    pub fn writes(&self) -> u64 {
        self.counts
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| !k.starts_with("GET "))
            .map(|(_, v)| v)
            .sum()
    }

    pub fn reset(&self) {
        self.counts.lock().unwrap().clear();
    }
}

/// The shared part of a simulator's state that the fault middleware needs.
#[derive(Debug, Default)]
pub struct SimControl {
    pub faults: Mutex<FaultSettings>,
    pub requests: RequestCounter,
}

impl SimControl {
    pub fn set_faults(&self, faults: FaultSettings) {
        *self.faults.lock().unwrap() = faults;
    }
}

/// Which error envelope a simulator speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `{"success": false, "error": {"code": 500, "message": "..."}}`
    PersonioV1,
    /// `{"errors": [{"status": "500", "title": "...", "detail": "..."}]}`
    JsonApi,
    /// `application/problem+json`
    /// `{"personio_trace_id", "timestamp", "errors": [{"title", "detail", "type", "_meta"}]}`
    PersonioV2,
}

/// An error response in the simulator's envelope.
pub fn error_response(flavor: Flavor, status: StatusCode, title: &str, detail: &str) -> Response {
    let body = match flavor {
        Flavor::PersonioV1 => serde_json::json!({
            "success": false,
            "error": { "code": status.as_u16(), "message": detail },
        }),
        Flavor::JsonApi => serde_json::json!({
            "errors": [{ "status": status.as_u16().to_string(), "title": title, "detail": detail }],
        }),
        Flavor::PersonioV2 => {
            let code = match status.as_u16() {
                400 => "commonbad_request",
                401 => "commonunauthorized",
                403 => "commonforbidden",
                404 => "commonnot_found",
                429 => "commontoo_many_requests",
                _ => "commoninternal_error",
            };
            let mut response = (
                status,
                axum::Json(serde_json::json!({
                    "personio_trace_id": uuid::Uuid::new_v4().to_string(),
                    "timestamp": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    "errors": [{
                        "title": title,
                        "detail": detail,
                        "type": format!("https://developer.personio.de/v2.0/page/public-api-error-codes#{code}"),
                        "_meta": {},
                    }],
                })),
            )
                .into_response();
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            );
            return response;
        }
    };
    (status, axum::Json(body)).into_response()
}

/// A response whose connection breaks: the headers go out, then the body fails, so the client
/// sees the request fail in transit.
pub fn dropped_connection() -> Response {
    let stream = futures::stream::once(async {
        Err::<bytes::Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated dropped connection",
        ))
    });
    let mut response = Response::new(Body::from_stream(stream));
    response
        .headers_mut()
        .insert("content-length", HeaderValue::from_static("1024"));
    response
}

/// Middleware: counts the request, then applies the configured latency and faults.
pub async fn faults_middleware(
    State((control, flavor)): State<(Arc<SimControl>, Flavor)>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| request.uri().path().to_string());
    let method = request.method().clone();
    control.requests.record(method.as_str(), &route);
    let faults = control.faults.lock().unwrap().clone();
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    let targeted = faults
        .only_routes_containing
        .as_deref()
        .is_none_or(|part| route.contains(part));
    let roll = |rate: f64| targeted && rate > 0.0 && rand::thread_rng().gen_bool(rate.min(1.0));
    if roll(faults.drop_rate) {
        return dropped_connection();
    }
    if roll(faults.error_rate) {
        return error_response(
            flavor,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Server Error",
            "An error occured on the server",
        );
    }
    if roll(faults.rate_limit_rate) {
        let mut response = error_response(
            flavor,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            "Rate limit reached. Try again later",
        );
        // Personio v2 sends neither a reset nor a Retry-After.
        if flavor != Flavor::PersonioV2 {
            response
                .headers_mut()
                .insert("x-ratelimit-reset", HeaderValue::from_static("1"));
        }
        return response;
    }
    let is_write = method != axum::http::Method::GET;
    let response = next.run(request).await;
    if is_write && response.status().is_success() && roll(faults.lose_write_answer_rate) {
        return dropped_connection();
    }
    response
}

/// A sliding-window limit the simulators enforce (they answer 429 instead of waiting).
#[derive(Debug)]
pub struct SlidingLimit {
    limit: usize,
    period: Duration,
    hits: Mutex<VecDeque<Instant>>,
}

impl SlidingLimit {
    pub fn new(limit: usize, period: Duration) -> Self {
        Self {
            limit,
            period,
            hits: Mutex::new(VecDeque::new()),
        }
    }

    /// Counts a request, or says how long until the window has room again.
    pub fn check(&self) -> Result<(), Duration> {
        let now = Instant::now();
        let mut hits = self.hits.lock().unwrap();
        while hits
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.period)
        {
            hits.pop_front();
        }
        if hits.len() >= self.limit {
            return Err(hits[0] + self.period - now);
        }
        hits.push_back(now);
        Ok(())
    }
}

/// A simulator listening on loopback. Dropping the handle stops it.
#[derive(Debug)]
pub struct SimServer {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
}

impl SimServer {
    /// Serves `router` on an ephemeral loopback port.
    pub async fn start(router: Router) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
        });
        Ok(Self { addr, shutdown })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
