//! Personio v1 client: the connection, authenticated GETs, and paging in each endpoint's own
//! style with de-duplication of repeated records.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::ACCEPT;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Mutex;

use super::token::Token;
use super::wire;
use crate::config::PersonioSettings;
use crate::domain::model::{Fetched, RejectedRecord};
use crate::http::{
    ApiError, HttpCore, Pacer, RateLimit, Reply, RequestObserver, Retry, RetryPolicy,
};

pub(super) const API: &str = "personio";
pub(super) const APP_ID_HEADER: &str = "X-Personio-App-ID";
/// Largest page of the page-numbered endpoints.
const NUMBERED_PAGE_LIMIT: usize = 200;
/// Stops a server that never says "last page" from keeping us busy forever.
const MAX_PAGES: usize = 10_000;

#[derive(Debug)]
pub struct PersonioClient {
    pub(super) http: HttpCore,
    pub(super) client_id: String,
    pub(super) client_secret: SecretString,
    pub(super) app_id: String,
    pub(super) token: Mutex<Option<Arc<Token>>>,
}

/// The connection either API version's client sends through: the configured host, timeout and
/// request budget, and that version's error envelope.
pub(super) fn http_core(
    settings: &PersonioSettings,
    retry: RetryPolicy,
    describe: crate::http::DescribeError,
) -> Result<HttpCore, ApiError> {
    let pacer = Pacer::new(&[RateLimit {
        requests: settings.requests_per_minute,
        period: Duration::from_secs(60),
    }]);
    HttpCore::new(
        API,
        describe,
        settings.base_url.clone(),
        settings.timeout,
        Arc::new(pacer),
        retry,
    )
}

impl PersonioClient {
    pub fn new(settings: &PersonioSettings, retry: RetryPolicy) -> Result<Self, ApiError> {
        let http = http_core(settings, retry, wire::describe_error)?;
        Ok(Self {
            http,
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            app_id: settings.app_id.clone(),
            token: Mutex::new(None),
        })
    }

    /// Reports every request to `observer` (the daemon's metrics).
    pub fn observed(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.http.set_observer(observer);
        self
    }

    /// All pages of an endpoint paged by record offset, until a short page or the total count
    /// is reached. (Page numbers in the metadata are 0-based on some endpoints and 1-based on
    /// others, so they are not trusted here.)
    pub(super) async fn record_offset_pages<T>(
        &self,
        path: &str,
        limit: usize,
        convert: fn(Value) -> Result<T, RejectedRecord>,
    ) -> Result<Fetched<T>, ApiError> {
        let mut fetched = Fetched::default();
        let mut seen = HashSet::new();
        let mut offset = 0usize;
        for _ in 0..MAX_PAGES {
            let query = [("limit", limit.to_string()), ("offset", offset.to_string())];
            let page = self.page(path, &query).await?;
            let count = page.data.len();
            for record in page.data {
                collect(&mut fetched, &mut seen, record, convert);
            }
            let total_reached = page
                .metadata
                .and_then(|meta| meta.total_elements)
                .is_some_and(|total| (offset + count) as i64 >= total);
            if count < limit || total_reached {
                return Ok(fetched);
            }
            offset += count;
        }
        Err(endless(offset))
    }

    /// Reads a page-numbered endpoint (time-offs, absence-periods) to its end, de-duplicating
    /// records that repeat across page boundaries. What the sync concludes from a read includes
    /// deletions, so the read must prove it is complete: it ends only on a page shorter than the
    /// page size, and fails when a page repeats what was read, when a page comes back short
    /// while the metadata says more follow, or when fewer records arrived than it announced.
    pub(super) async fn read_numbered_pages<T>(
        &self,
        path: &str,
        query: &[(&str, String)],
        convert: impl Fn(Value) -> Result<T, RejectedRecord>,
    ) -> Result<Fetched<T>, ApiError> {
        let mut fetched = Fetched::default();
        let mut seen = HashSet::new();
        for page_number in 1..=MAX_PAGES {
            let mut params = query.to_vec();
            params.push(("limit", NUMBERED_PAGE_LIMIT.to_string()));
            params.push(("offset", page_number.to_string()));
            let page = self.page(path, &params).await?;
            let count = page.data.len();
            let before = seen.len();
            for record in page.data {
                collect(&mut fetched, &mut seen, record, &convert);
            }
            if count > 0 && seen.len() == before {
                return Err(short_read(format!(
                    "page {page_number} repeated records already read (is the page number ignored?)"
                )));
            }
            if count >= NUMBERED_PAGE_LIMIT {
                continue;
            }
            let meta = page.metadata.unwrap_or_default();
            if let Some(total) = meta.total_pages.filter(|t| *t > page_number as i64) {
                return Err(short_read(format!(
                    "page {page_number} of {total} held only {count} records"
                )));
            }
            let read = (fetched.items.len() + fetched.rejected.len()) as i64;
            if let Some(total) = meta.total_elements.filter(|t| *t > read) {
                return Err(short_read(format!("{read} of {total} records arrived")));
            }
            return Ok(fetched);
        }
        Err(endless(MAX_PAGES))
    }

    /// One page of a list endpoint, with authentication.
    async fn page(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<wire::ListEnvelope, ApiError> {
        self.get(path, query).await?.json(API)
    }

    /// A GET with the bearer token; a 401 means the token went stale, so it is renewed once.
    pub(super) async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Reply, ApiError> {
        let url = self.http.url(path);
        let mut renewed = false;
        loop {
            let token = self.token().await?;
            let result = self
                .http
                .send(Retry::Read, |client| {
                    client
                        .get(url.clone())
                        .query(query)
                        .bearer_auth(token.value.expose_secret())
                        .header(APP_ID_HEADER, &self.app_id)
                        .header(ACCEPT, "application/json")
                })
                .await;
            match result {
                Err(err) if err.status() == Some(401) && !renewed => {
                    tracing::info!(api = API, path, "token rejected; authenticating again");
                    renewed = true;
                    self.forget(&token).await;
                }
                other => return other,
            }
        }
    }
}

/// A read that cannot show it is complete: nothing may be concluded from what it lacks.
fn short_read(message: String) -> ApiError {
    ApiError::Protocol {
        api: API,
        message: format!("incomplete read: {message}"),
    }
}

fn endless(position: usize) -> ApiError {
    ApiError::Protocol {
        api: API,
        message: format!("pagination did not end after {MAX_PAGES} pages (at {position})"),
    }
}

/// Converts one raw record into `fetched`, skipping ids already seen and keeping rejects.
fn collect<T>(
    fetched: &mut Fetched<T>,
    seen: &mut HashSet<String>,
    record: Value,
    convert: impl Fn(Value) -> Result<T, RejectedRecord>,
) {
    if let Some(id) = wire::raw_id(&record) {
        if !seen.insert(id) {
            return;
        }
    }
    match convert(record) {
        Ok(item) => fetched.items.push(item),
        Err(rejected) => {
            tracing::warn!(api = API, id = ?rejected.id, reason = %rejected.reason, "skipping unreadable record");
            fetched.rejected.push(rejected);
        }
    }
}
