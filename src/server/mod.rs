//! The daemon's HTTP listener (`http.listen`): health probes, Prometheus metrics, the status
//! page and its JSON, `POST /sync` and Personio's webhooks. Everything but the probes and the
//! webhooks (which have their own token) sits behind `http.token` when one is set. Bounded: a connection limit, a tiny body limit and a per-request timeout, so a
//! misbehaving client cannot starve the probes of memory or the scheduler of anything.

mod advice;
mod limit;
mod metrics;
mod page;
pub mod probe;
pub mod status;
mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

pub use metrics::Metrics;

use crate::daemon::Control;
use crate::store::{Issue, RunRecord, Store};

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 64;
/// No endpoint but the webhook receiver takes a body; this only bounds what a client may make
/// the server read.
const MAX_BODY_BYTES: usize = 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Runs shown on `/status` and in `/status.json` (as `status` shows by default).
const RUNS_SHOWN: i64 = 10;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr} (http.listen)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// What the handlers share.
#[derive(Clone)]
pub struct Shared {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    /// The scheduler's control channel: `POST /sync` sends what SIGUSR1 sends.
    pub controls: mpsc::Sender<Control>,
    pub token: Option<SecretString>,
    /// `personio.webhook_token`: turns `POST /webhooks/personio` on.
    pub webhook_token: Option<SecretString>,
}

/// The listener, serving until [`Server::stop`].
pub struct Server {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Server {
    /// Binds `addr` (port 0 picks one) and serves in the background.
    pub async fn start(addr: SocketAddr, shared: Shared) -> Result<Self, ServerError> {
        let bind_error = |source| ServerError::Bind { addr, source };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        if !addr.ip().is_loopback() && shared.token.is_none() {
            tracing::warn!(%addr, "the HTTP listener is reachable from other hosts and has no http.token: anyone who can reach it can read the status page and start runs");
        }
        seed_metrics(&shared).await;
        let app = router(shared);
        let stop = CancellationToken::new();
        let shutdown = stop.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(limit::Limited::new(listener, MAX_CONNECTIONS), app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
            if let Err(err) = served {
                tracing::error!(error = %err, "the HTTP listener stopped");
            }
        });
        tracing::info!(%addr, "HTTP listener started");
        Ok(Self { addr, stop, task })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets requests in flight finish (a few seconds at most).
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// A restarted daemon's metrics start from what the store remembers.
async fn seed_metrics(shared: &Shared) {
    let runs = shared.store.recent_runs(RUNS_SHOWN).await;
    let owned = shared.store.owned_bookings().await;
    match (runs, owned) {
        (Ok(runs), Ok(owned)) => shared.metrics.seed(&runs, owned),
        (Err(err), _) | (_, Err(err)) => {
            tracing::warn!(error = %crate::telemetry::error_chain(&err), "could not read the last runs for the metrics")
        }
    }
}

fn router(shared: Shared) -> Router {
    let guarded = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/status", get(status_page))
        .route("/status.json", get(status_json))
        .route("/sync", post(sync_now))
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            require_token,
        ));
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .merge(guarded)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .merge(webhook::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .with_state(shared)
}

/// A one-line plain-text answer.
fn line(status: StatusCode, text: impl std::fmt::Display) -> Response {
    (status, format!("{text}\n")).into_response()
}

async fn not_found() -> Response {
    line(
        StatusCode::NOT_FOUND,
        "not found: the endpoints are GET /livez, /readyz, /metrics, /status, /status.json, POST /sync and POST /webhooks/personio",
    )
}

async fn method_not_allowed() -> Response {
    line(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed: POST /sync starts a run, POST /webhooks/personio takes Personio's webhooks, everything else is GET",
    )
}

async fn require_token(
    State(shared): State<Shared>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = &shared.token else {
        return next.run(request).await;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(given) if same(given.trim().as_bytes(), token.expose_secret().as_bytes()) => {
            next.run(request).await
        }
        Some(_) => line(StatusCode::UNAUTHORIZED, "the bearer token is wrong"),
        None => (
            [(header::WWW_AUTHENTICATE, "Bearer")],
            line(
                StatusCode::UNAUTHORIZED,
                "this endpoint needs the header Authorization: Bearer <http.token>",
            ),
        )
            .into_response(),
    }
}

/// Compares in time independent of where the inputs differ, so the token cannot be guessed a
/// byte at a time.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Alive while the process serves: never depends on the APIs or the store.
async fn livez() -> Response {
    line(StatusCode::OK, "ok")
}

/// Ready when the store answers and the last finished run neither failed nor had its deletions
/// held.
async fn readyz(State(shared): State<Shared>) -> Response {
    let runs = match shared.store.recent_runs(RUNS_SHOWN).await {
        Ok(runs) => runs,
        Err(err) => return store_unreachable(&err),
    };
    let last = runs.iter().find(|r| !r.dry_run && r.outcome != "running");
    if let Some(run) = last.filter(|r| r.outcome == "failed") {
        return line(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the last run failed: {}",
                run.error.as_deref().unwrap_or("no error recorded")
            ),
        );
    }
    if let Some(held) = status::mass_delete_held(&runs) {
        return line(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "mass deletion held: the last run would have deleted {} of {} owned bookings; check the Personio credential, then run `sync --allow-mass-delete`",
                held.would_delete, held.owned
            ),
        );
    }
    line(StatusCode::OK, "ready")
}

/// The cause goes to the log only: a database error may quote its connection settings.
fn store_unreachable(err: &crate::store::StoreError) -> Response {
    tracing::warn!(error = %crate::telemetry::error_chain(err), "the state store did not answer an HTTP request");
    line(
        StatusCode::SERVICE_UNAVAILABLE,
        "the state store is unreachable (the daemon's log has the cause)",
    )
}

async fn metrics_text(State(shared): State<Shared>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.render(),
    )
        .into_response()
}

async fn load(shared: &Shared) -> Result<(Vec<RunRecord>, Vec<Issue>), Response> {
    let runs = shared.store.recent_runs(RUNS_SHOWN).await;
    let issues = shared.store.issues().await;
    match (runs, issues) {
        (Ok(runs), Ok(issues)) => Ok((runs, issues)),
        (Err(err), _) | (_, Err(err)) => Err(store_unreachable(&err)),
    }
}

async fn status_json(State(shared): State<Shared>) -> Response {
    let (runs, issues) = match load(&shared).await {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    match status::render_json(&runs, &issues) {
        Ok(body) => (
            [(header::CONTENT_TYPE, "application/json")],
            format!("{body}\n"),
        )
            .into_response(),
        Err(err) => line(StatusCode::INTERNAL_SERVER_ERROR, err),
    }
}

#[derive(serde::Deserialize)]
struct Search {
    email: Option<String>,
}

async fn status_page(
    State(shared): State<Shared>,
    search: Result<Query<Search>, QueryRejection>,
) -> Response {
    let search = match search {
        Ok(Query(search)) => search,
        Err(rejection) => {
            return line(
                StatusCode::BAD_REQUEST,
                format!("bad query: {}", rejection.body_text()),
            )
        }
    };
    let (runs, issues) = match load(&shared).await {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    let email = search.email.as_deref().map(str::trim).unwrap_or_default();
    Html(page::render(&runs, &issues, email, chrono::Utc::now())).into_response()
}

/// Asks the scheduler for a run, as SIGUSR1 does.
async fn sync_now(State(shared): State<Shared>) -> Response {
    match shared.controls.try_send(Control::SyncNow) {
        Ok(()) => {
            tracing::info!(source = "http", "sync requested");
            line(StatusCode::ACCEPTED, "sync requested")
        }
        // A full queue already holds a request that covers this one.
        Err(mpsc::error::TrySendError::Full(_)) => {
            line(StatusCode::ACCEPTED, "a sync is already requested")
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            line(StatusCode::SERVICE_UNAVAILABLE, "the scheduler is stopping")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"s3cret", b"s3cret"));
        assert!(!same(b"s3cret", b"s3cres"));
        assert!(!same(b"s3cre", b"s3cret"));
        assert!(!same(b"", b"s3cret"));
    }
}
