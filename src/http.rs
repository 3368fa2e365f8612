//! HTTP plumbing shared by both API clients: request pacing under a rate budget, retries with
//! jittered backoff, error classification and host pinning for pagination links.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

/// Errors of a call to one of the upstream APIs. Messages carry the HTTP status and the API's own
/// error text, never a credential.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{api}: could not reach the server: {source}")]
    Connect {
        api: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("{api}: request failed in transit (it may have reached the server): {source}")]
    Transport {
        api: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("{api}: HTTP {status}: {message}")]
    Status {
        api: &'static str,
        status: u16,
        /// The API's machine-readable error code, e.g. `entitlements_required`.
        code: Option<String>,
        message: String,
    },
    #[error("{api}: unreadable response (HTTP {status}): {detail}")]
    Decode {
        api: &'static str,
        status: u16,
        detail: String,
    },
    #[error("{api}: refusing to follow a link off the configured host: {link}")]
    ForeignLink { api: &'static str, link: String },
    #[error("{api}: {message}")]
    Protocol { api: &'static str, message: String },
}

impl ApiError {
    /// Worth trying again later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Transport { .. } => true,
            Self::Status { status, .. } => *status == 429 || *status == 408 || *status >= 500,
            // A garbled body is usually a proxy or a deploy in progress upstream.
            Self::Decode { .. } => true,
            Self::ForeignLink { .. } | Self::Protocol { .. } => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } | Self::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Status { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// Keeps the request rate under several sliding windows at once (e.g. 50 per 10 s and 2,000 per
/// 30 min), so that normal operation never meets a 429.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<PacerState>,
}

#[derive(Debug)]
struct PacerState {
    windows: Vec<Window>,
    paused_until: Option<Instant>,
}

#[derive(Debug)]
struct Window {
    limit: usize,
    period: Duration,
    sent: VecDeque<Instant>,
}

/// One request budget: at most `requests` per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub period: Duration,
}

impl Pacer {
    pub fn new(limits: &[RateLimit]) -> Self {
        let windows = limits
            .iter()
            .filter(|l| l.requests > 0)
            .map(|l| Window {
                limit: l.requests as usize,
                period: l.period,
                sent: VecDeque::new(),
            })
            .collect();
        Self {
            state: Mutex::new(PacerState {
                windows,
                paused_until: None,
            }),
        }
    }

    pub fn unlimited() -> Self {
        Self::new(&[])
    }

    /// Waits until one more request fits every window, then counts it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut state = self.state.lock().await;
                let now = Instant::now();
                let mut ready_at = state.paused_until.filter(|t| *t > now);
                for window in &mut state.windows {
                    while window
                        .sent
                        .front()
                        .is_some_and(|t| now.duration_since(*t) >= window.period)
                    {
                        window.sent.pop_front();
                    }
                    if window.sent.len() >= window.limit {
                        let free_at = window.sent[window.sent.len() - window.limit] + window.period;
                        ready_at = Some(ready_at.map_or(free_at, |r| r.max(free_at)));
                    }
                }
                match ready_at {
                    Some(at) => at - now,
                    None => {
                        for window in &mut state.windows {
                            window.sent.push_back(now);
                        }
                        return;
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Holds every request back for `wait` (the server said its window is exhausted).
    pub async fn pause_for(&self, wait: Duration) {
        let mut state = self.state.lock().await;
        let until = Instant::now() + wait;
        state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
    }
}

/// Jittered exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Longest wait a 429 may ask for before the call gives up (and the run retries later).
    pub max_rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(20),
            max_rate_limit_wait: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// "Full jitter": a uniform wait between half and all of the exponential step.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let capped = exp.min(self.max_delay);
        let millis = capped.as_millis() as u64;
        Duration::from_millis(rand::thread_rng().gen_range(millis / 2..=millis.max(1)))
    }
}

/// Whether a request may be sent twice. Writes are retried only when they provably never reached
/// the server; the sync engine resolves the ambiguous ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    Read,
    Write,
}

/// A successful (2xx) response, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Reply {
    pub fn json<T: serde::de::DeserializeOwned>(&self, api: &'static str) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| ApiError::Decode {
            api,
            status: self.status.as_u16(),
            detail: format!("{e}; body starts with {:?}", snippet(&self.body)),
        })
    }
}

/// The part of a client that every request goes through.
#[derive(Debug, Clone)]
pub struct HttpCore {
    pub api: &'static str,
    pub client: reqwest::Client,
    pub base: Url,
    pub pacer: Arc<Pacer>,
    pub retry: RetryPolicy,
}

impl HttpCore {
    pub fn new(
        api: &'static str,
        base: Url,
        timeout: Duration,
        pacer: Arc<Pacer>,
        retry: RetryPolicy,
    ) -> Result<Self, ApiError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!(
                "personio-productive-sync/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|source| ApiError::Transport { api, source })?;
        Ok(Self {
            api,
            client,
            base,
            pacer,
            retry,
        })
    }

    /// `base` joined with a relative path (the base's own path is kept).
    pub fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let joined = format!(
            "{}/{}",
            url.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        url.set_path(&joined);
        url
    }

    /// Accepts a pagination link only on the configured scheme, host and port.
    pub fn pinned_link(&self, link: &str) -> Result<Url, ApiError> {
        let url = self.base.join(link).map_err(|_| ApiError::ForeignLink {
            api: self.api,
            link: link.to_string(),
        })?;
        if url.origin() == self.base.origin() {
            Ok(url)
        } else {
            Err(ApiError::ForeignLink {
                api: self.api,
                link: link.to_string(),
            })
        }
    }

    /// Sends the request built by `build` (called again for each attempt), pacing it, retrying
    /// what is safe to retry, and turning error statuses into [`ApiError::Status`].
    pub async fn send(
        &self,
        retry: Retry,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Reply, ApiError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.pacer.acquire().await;
            let outcome = build(&self.client).send().await;
            let last = attempt >= self.retry.max_attempts;
            match outcome {
                Err(source) => {
                    // A refused connection never carried the request; anything later might have.
                    let never_sent = source.is_connect();
                    let err = if never_sent {
                        ApiError::Connect {
                            api: self.api,
                            source,
                        }
                    } else {
                        ApiError::Transport {
                            api: self.api,
                            source,
                        }
                    };
                    if last || !(never_sent || retry == Retry::Read) {
                        return Err(err);
                    }
                    tracing::debug!(api = self.api, attempt, error = %err, "retrying after transport error");
                    tokio::time::sleep(self.retry.backoff(attempt)).await;
                }
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let body = match response.bytes().await {
                        Ok(body) => body,
                        Err(source) => {
                            let err = ApiError::Transport {
                                api: self.api,
                                source,
                            };
                            if last || retry == Retry::Write {
                                return Err(err);
                            }
                            tokio::time::sleep(self.retry.backoff(attempt)).await;
                            continue;
                        }
                    };
                    if status.is_success() {
                        return Ok(Reply {
                            status,
                            headers,
                            body,
                        });
                    }
                    let err = status_error(self.api, status, &body);
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        // Rejected before any work was done, so safe to repeat for every method.
                        let wait = rate_limit_wait(&headers).unwrap_or(Duration::from_secs(1));
                        if last || wait > self.retry.max_rate_limit_wait {
                            return Err(err);
                        }
                        tracing::warn!(
                            api = self.api,
                            wait_ms = wait.as_millis() as u64,
                            "rate limited; waiting"
                        );
                        self.pacer.pause_for(wait).await;
                        continue;
                    }
                    if status.is_server_error() && retry == Retry::Read && !last {
                        tracing::debug!(
                            api = self.api,
                            attempt,
                            status = status.as_u16(),
                            "retrying after server error"
                        );
                        tokio::time::sleep(self.retry.backoff(attempt)).await;
                        continue;
                    }
                    return Err(err);
                }
            }
        }
    }
}

/// How long a 429 asks us to wait: `X-RateLimit-Reset` (seconds) or `Retry-After` (seconds).
pub fn rate_limit_wait(headers: &HeaderMap) -> Option<Duration> {
    ["x-ratelimit-reset", "retry-after"]
        .iter()
        .find_map(|name| {
            let raw = headers.get(*name)?.to_str().ok()?.trim();
            raw.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64)
        })
}

/// Builds the error for a non-2xx reply from whichever error envelope the body uses: Personio v1
/// (`{"success":false,"error":{"message","code"}}`), JSON:API / Personio v2 (`{"errors":[...]}`),
/// or anything else (an HTML error page, say).
pub fn status_error(api: &'static str, status: StatusCode, body: &[u8]) -> ApiError {
    let (code, message) = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) => describe_error_json(&json),
        Err(_) => (None, None),
    };
    let message = message.unwrap_or_else(|| {
        let reason = status.canonical_reason().unwrap_or("error");
        if body.is_empty() {
            reason.to_string()
        } else {
            format!("{reason} (non-JSON body: {:?})", snippet(body))
        }
    });
    ApiError::Status {
        api,
        status: status.as_u16(),
        code,
        message,
    }
}

fn describe_error_json(json: &serde_json::Value) -> (Option<String>, Option<String>) {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    if let Some(error) = json.get("error") {
        if let Some(message) = error.get("message").and_then(text) {
            return (None, Some(message));
        }
        if let Some(message) = text(error) {
            return (None, Some(message));
        }
    }
    if let Some(errors) = json.get("errors").and_then(|e| e.as_array()) {
        let code = errors.iter().find_map(|e| e.get("code").and_then(text));
        let parts: Vec<String> = errors
            .iter()
            .map(|e| {
                let title = e.get("title").and_then(text);
                let detail = e.get("detail").and_then(text);
                let pointer = e
                    .get("source")
                    .and_then(|s| s.get("pointer"))
                    .and_then(text);
                let mut line = [title, detail]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(": ");
                if let Some(pointer) = pointer {
                    line.push_str(&format!(" ({pointer})"));
                }
                line
            })
            .filter(|l| !l.is_empty())
            .collect();
        if !parts.is_empty() {
            return (code, Some(parts.join("; ")));
        }
    }
    if let Some(message) = json.get("message").and_then(text) {
        return (None, Some(message));
    }
    (None, None)
}

/// The start of a body, for error messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(160).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_personio_v1_errors() {
        let body = br#"{"success":false,"error":{"code":0,"message":"Time-off type not found."}}"#;
        let err = status_error("personio", StatusCode::NOT_FOUND, body);
        assert_eq!(
            err.to_string(),
            "personio: HTTP 404: Time-off type not found."
        );
        assert!(!err.is_transient());
    }

    #[test]
    fn describes_json_api_errors_with_code_and_pointer() {
        let body = br#"{"errors":[{"status":"422","code":"entitlements_required","title":"Invalid Attribute","detail":"has no allowance for this person","source":{"pointer":"data/attributes/event"}}]}"#;
        let err = status_error("productive", StatusCode::UNPROCESSABLE_ENTITY, body);
        assert_eq!(err.code(), Some("entitlements_required"));
        assert_eq!(
            err.to_string(),
            "productive: HTTP 422: Invalid Attribute: has no allowance for this person (data/attributes/event)"
        );
    }

    #[test]
    fn describes_html_error_pages() {
        let body = b"<html>\n<body><h1>502 Bad Gateway</h1></body></html>";
        let err = status_error("productive", StatusCode::BAD_GATEWAY, body);
        assert!(err.is_transient());
        assert!(err
            .to_string()
            .contains("Bad Gateway (non-JSON body: \"<html> <body><h1>502"));
    }

    #[test]
    fn reads_rate_limit_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("X-RateLimit-Reset", "7".parse().unwrap());
        assert_eq!(rate_limit_wait(&headers), Some(Duration::from_secs(7)));
        let mut headers = HeaderMap::new();
        headers.insert("Retry-After", "2".parse().unwrap());
        assert_eq!(rate_limit_wait(&headers), Some(Duration::from_secs(2)));
        assert_eq!(rate_limit_wait(&HeaderMap::new()), None);
    }

    #[test]
    fn pins_links_to_the_configured_host() {
        let core = HttpCore::new(
            "productive",
            Url::parse("https://api.example.test/api/v2").unwrap(),
            Duration::from_secs(5),
            Arc::new(Pacer::unlimited()),
            RetryPolicy::default(),
        )
        .unwrap();
        assert_eq!(
            core.url("/bookings").as_str(),
            "https://api.example.test/api/v2/bookings"
        );
        assert!(core
            .pinned_link("https://api.example.test/api/v2/bookings?page[number]=2")
            .is_ok());
        assert!(matches!(
            core.pinned_link("https://evil.example.test/api/v2/bookings"),
            Err(ApiError::ForeignLink { .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn pacer_holds_requests_to_every_window() {
        let pacer = Pacer::new(&[
            RateLimit {
                requests: 3,
                period: Duration::from_secs(10),
            },
            RateLimit {
                requests: 5,
                period: Duration::from_secs(60),
            },
        ]);
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..7 {
            pacer.acquire().await;
            at.push((Instant::now() - start).as_secs());
        }
        // 3 at once, 2 more after 10 s (the minute window then holds 5), the rest after 60 s.
        assert_eq!(at, vec![0, 0, 0, 10, 10, 60, 60]);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_rate_limit_wait: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            assert!(policy.backoff(9) <= Duration::from_secs(1));
            assert!(policy.backoff(9) >= Duration::from_millis(500));
        }
    }
}
