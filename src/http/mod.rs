//! HTTP plumbing shared by both API clients: request pacing under a rate budget, retries with
//! jittered backoff, error classification and host pinning for pagination links. The core knows
//! no API's error envelope: each client passes its own [`DescribeError`].

#[cfg(test)]
pub(crate) mod arb;
mod error;
mod pacer;
mod retry;

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use url::Url;

pub use error::{json_text, status_error, ApiError, DescribeError, ErrorBody};
pub use pacer::{Pacer, RateLimit};
pub use retry::RetryPolicy;

use error::snippet;
use retry::{bucket_empty_wait, rate_limit_wait, UNHINTED_RATE_LIMIT_WAIT};

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

/// Told about every attempt a client makes, for metrics.
pub trait RequestObserver: Send + Sync + 'static {
    /// One attempt's answer: its HTTP status, or `None` when no response came.
    fn attempt(&self, api: &'static str, method: &Method, status: Option<StatusCode>);
    /// Time spent waiting for the rate budget (ours or the server's) before an attempt.
    fn rate_limit_wait(&self, api: &'static str, waited: Duration);
}

/// The part of a client that every request goes through.
#[derive(Clone)]
pub struct HttpCore {
    api: &'static str,
    describe_error: DescribeError,
    client: reqwest::Client,
    base: Url,
    pacer: Arc<Pacer>,
    retry: RetryPolicy,
    observer: Option<Arc<dyn RequestObserver>>,
}

impl std::fmt::Debug for HttpCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCore")
            .field("api", &self.api)
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl HttpCore {
    pub fn new(
        api: &'static str,
        describe_error: DescribeError,
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
            describe_error,
            client,
            base,
            pacer,
            retry,
            observer: None,
        })
    }

    pub fn set_observer(&mut self, observer: Arc<dyn RequestObserver>) {
        self.observer = Some(observer);
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
            let waiting = tokio::time::Instant::now();
            self.pacer.acquire().await;
            let request = build(&self.client).build();
            let method = request.as_ref().map(|r| r.method().clone()).ok();
            let outcome = match request {
                Ok(request) => self.client.execute(request).await,
                Err(err) => Err(err),
            };
            if let (Some(observer), Some(method)) = (&self.observer, &method) {
                observer.rate_limit_wait(self.api, waiting.elapsed());
                observer.attempt(self.api, method, outcome.as_ref().ok().map(|r| r.status()));
            }
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
                    tracing::debug!(api = self.api, attempt, error = %crate::telemetry::error_chain(&err), "retrying after transport error");
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
                        if let Some(wait) = bucket_empty_wait(&headers) {
                            self.pacer.pause_for(wait).await;
                        }
                        return Ok(Reply { status, body });
                    }
                    let err = status_error(self.api, self.describe_error, status, &body);
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        // Rejected before any work was done, so safe to repeat for every method.
                        let wait = rate_limit_wait(&headers).unwrap_or(UNHINTED_RATE_LIMIT_WAIT);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_links_to_the_configured_host() {
        let core = HttpCore::new(
            "productive",
            |_| None,
            Url::parse("https://api.example.test/api/v2").unwrap(),
            Duration::from_secs(5),
            Arc::new(Pacer::new(&[])),
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
}
