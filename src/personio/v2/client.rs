//! The v2 connection: an OAuth2 client-credentials token (form-encoded, reused until shortly
//! before it expires, minted again once on a 401), authorised requests, and cursor paging that
//! follows `_meta.links.next` and proves every read complete.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use reqwest::header::ACCEPT;
use reqwest::{Method, RequestBuilder};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::periods::TypeInfo;
use super::persons::EmailCache;
use super::source::EndConvention;
use super::wire;
use crate::config::PersonioSettings;
use crate::http::{ApiError, HttpCore, Reply, RequestObserver, Retry, RetryPolicy};
use crate::personio::wire::token_renewal;

pub(super) const API: &str = "personio";
const APP_ID_HEADER: &str = "X-Personio-App-ID";
/// Stops a server whose `next` links never end from keeping us busy forever.
const MAX_PAGES: usize = 10_000;

pub(super) const ABSENCES_READ: &str = "personio:absences:read";
pub(super) const PERSONS_READ: &str = "personio:persons:read";
pub(super) const WEBHOOKS_READ: &str = "personio:webhooks:read";
pub(super) const WEBHOOKS_WRITE: &str = "personio:webhooks:write";

#[derive(Debug)]
pub(super) struct Token {
    value: SecretString,
    scopes: Vec<String>,
    renew_at: Instant,
}

/// Reads absences through Personio's API v2. Holds what a sync needs more than once: the token,
/// the absence types, recently read emails and the learnt end-date convention.
#[derive(Debug)]
pub struct PersonioV2Client {
    http: HttpCore,
    client_id: String,
    client_secret: SecretString,
    app_id: String,
    token: Mutex<Option<Arc<Token>>>,
    /// Absence type id → name and unit, from the last read of the types.
    pub(super) types: Mutex<Option<Arc<HashMap<String, TypeInfo>>>>,
    pub(super) emails: Mutex<EmailCache>,
    pub(super) ends: Mutex<EndConvention>,
    /// The `to` of the last whole read: where a period without an end ends when looked up alone.
    pub(super) open_end: Mutex<Option<chrono::NaiveDate>>,
}

impl PersonioV2Client {
    pub fn new(settings: &PersonioSettings, retry: RetryPolicy) -> Result<Self, ApiError> {
        let http = crate::personio::client::http_core(settings, retry, wire::describe_error)?;
        Ok(Self {
            http,
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            app_id: settings.app_id.clone(),
            token: Mutex::new(None),
            types: Mutex::new(None),
            emails: Mutex::new(EmailCache::default()),
            ends: Mutex::new(EndConvention::default()),
            open_end: Mutex::new(None),
        })
    }

    /// Reports every request to `observer` (the daemon's metrics).
    pub fn observed(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.http.set_observer(observer);
        self
    }

    /// The scopes Personio granted the credential (from the token response), for `check`.
    pub async fn granted_scopes(&self) -> Result<Vec<String>, ApiError> {
        Ok(self.token().await?.scopes.clone())
    }

    pub(super) fn url(&self, path: &str, query: &[(&str, String)]) -> Url {
        let mut url = self.http.url(path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Every record of a cursor-paged list. The read ends when a page names no next page (an
    /// empty page with a next link goes on: Personio has served those mid-list); it fails rather than return a short read when a link leaves the
    /// configured host or leads back to a page already read (a repeated cursor).
    pub(super) async fn read_pages(
        &self,
        first: Url,
        scope: &'static str,
    ) -> Result<Vec<Value>, ApiError> {
        let mut records = Vec::new();
        self.read_pages_each(first, scope, |r| records.push(r))
            .await?;
        Ok(records)
    }

    /// [`Self::read_pages`], handing each record to `each` as its page arrives: a long list is
    /// never held as JSON all at once (a page of JSON takes several times its decoded size).
    pub(super) async fn read_pages_each(
        &self,
        first: Url,
        scope: &'static str,
        mut each: impl FnMut(Value) + Send,
    ) -> Result<(), ApiError> {
        let mut seen_links = HashSet::from([first.to_string()]);
        let mut seen_cursors = HashSet::new();
        let mut url = first;
        for page_number in 1..=MAX_PAGES {
            let page: wire::Page = self.get(url, scope).await?.json(API)?;
            let next_href = page.next_href();
            page.data.into_iter().for_each(&mut each);
            let Some(href) = next_href else {
                return Ok(());
            };
            let next = self.http.pinned_link(&href)?;
            let cursor = next
                .query_pairs()
                .find(|(k, _)| k == "cursor")
                .map(|(_, v)| v.into_owned());
            let repeated_cursor = cursor.is_some_and(|c| !seen_cursors.insert(c));
            if !seen_links.insert(next.to_string()) || repeated_cursor {
                return Err(ApiError::Protocol {
                    api: API,
                    message: format!(
                        "incomplete read: page {page_number} links to a page already read ({href})"
                    ),
                });
            }
            url = next;
        }
        Err(ApiError::Protocol {
            api: API,
            message: format!("pagination did not end after {MAX_PAGES} pages"),
        })
    }

    /// An authorised GET.
    pub(super) async fn get(&self, url: Url, scope: &'static str) -> Result<Reply, ApiError> {
        self.authorized(Retry::Read, scope, |client| client.get(url.clone()))
            .await
    }

    /// An authorised request with a JSON body.
    pub(super) async fn send_json(
        &self,
        method: Method,
        url: Url,
        body: &Value,
        scope: &'static str,
    ) -> Result<Reply, ApiError> {
        // A PATCH sets fields to the values sent, so sending it twice does no harm; a POST does.
        let retry = if method == Method::PATCH {
            Retry::Read
        } else {
            Retry::Write
        };
        self.authorized(retry, scope, |client| {
            client.request(method.clone(), url.clone()).json(body)
        })
        .await
    }

    /// Sends with the bearer token. A 401 means the token went stale (or the credential's scopes
    /// changed, which invalidates it), so it is minted again once; a second 401 is final.
    async fn authorized(
        &self,
        retry: Retry,
        scope: &'static str,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Reply, ApiError> {
        let mut renewed = false;
        loop {
            let token = self.token().await?;
            let result = self
                .http
                .send(retry, |client| {
                    build(client)
                        .bearer_auth(token.value.expose_secret())
                        .header(APP_ID_HEADER, &self.app_id)
                        .header(ACCEPT, "application/json")
                })
                .await;
            match result {
                Err(err) if err.status() == Some(401) && !renewed => {
                    tracing::info!(api = API, "token rejected; minting a new one");
                    renewed = true;
                    self.forget(&token).await;
                }
                Err(ApiError::Status {
                    status: 401,
                    code,
                    message,
                    ..
                }) => {
                    return Err(ApiError::Status {
                        api: API,
                        status: 401,
                        code,
                        message: format!(
                            "Personio rejected a freshly minted access token ({message}); \
                             does the credential have the scope {scope}?"
                        ),
                    })
                }
                Err(ApiError::Status {
                    status: 403,
                    code,
                    message,
                    ..
                }) => {
                    return Err(ApiError::Status {
                        api: API,
                        status: 403,
                        code,
                        message: format!(
                            "{message}; the API credential needs the scope {scope} \
                             (Settings > Integrations > API credentials)"
                        ),
                    })
                }
                other => return other,
            }
        }
    }

    /// The cached token, or a new one when there is none or it is about to expire.
    async fn token(&self) -> Result<Arc<Token>, ApiError> {
        let mut slot = self.token.lock().await;
        if let Some(token) = slot.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(token.clone());
        }
        let token = Arc::new(self.mint().await?);
        *slot = Some(token.clone());
        Ok(token)
    }

    /// Drops `stale` unless another request already replaced it.
    async fn forget(&self, stale: &Arc<Token>) {
        let mut slot = self.token.lock().await;
        if slot.as_ref().is_some_and(|t| Arc::ptr_eq(t, stale)) {
            *slot = None;
        }
    }

    async fn mint(&self) -> Result<Token, ApiError> {
        let url = self.http.url("/v2/auth/token");
        // Form-encoded is the only body the endpoint takes; the credentials go in it, never in
        // the query string (which proxies log) nor as Basic auth.
        let reply = self
            .http
            .send(Retry::Read, |client| {
                client
                    .post(url.clone())
                    .header(APP_ID_HEADER, &self.app_id)
                    .header(ACCEPT, "application/json")
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", self.client_id.as_str()),
                        ("client_secret", self.client_secret.expose_secret()),
                    ])
            })
            .await?;
        let minted: wire::TokenResponse = reply.json(API)?;
        if minted.access_token.trim().is_empty() {
            return Err(ApiError::Protocol {
                api: API,
                message: "the token endpoint answered without an access token".into(),
            });
        }
        let renewal = token_renewal(minted.expires_in);
        tracing::debug!(api = API, renew_in_s = renewal.as_secs(), "token minted");
        Ok(Token {
            value: SecretString::from(minted.access_token),
            scopes: minted
                .scope
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            renew_at: Instant::now() + renewal,
        })
    }
}
