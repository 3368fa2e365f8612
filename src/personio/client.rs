//! Personio v1 client: authentication with token reuse, paging in each endpoint's own style, and
//! conversion of lenient wire records into domain values.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Days, NaiveDate};
use reqwest::header::ACCEPT;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::wire;
use crate::config::PersonioSettings;
use crate::domain::model::{
    AbsencePeriod, AbsenceType, AbsenceUnit, Fetched, HourlyAbsence, PeriodStatus, RejectedRecord,
};
use crate::http::{ApiError, HttpCore, Pacer, RateLimit, Reply, Retry, RetryPolicy};

const API: &str = "personio";
const APP_ID_HEADER: &str = "X-Personio-App-ID";
/// Largest page each endpoint accepts.
const TYPES_LIMIT: usize = 200;
const TIME_OFFS_LIMIT: usize = 200;
const EMPLOYEES_LIMIT: usize = 100;
/// Stops a server that never says "last page" from keeping us busy forever.
const MAX_PAGES: usize = 10_000;
/// The v1 time-offs filter may only return periods fully inside the window, so the request
/// window is widened by a year each side and the result filtered locally.
const WINDOW_WIDENING: Days = Days::new(366);

/// A Personio employee, as far as the sync needs one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Employee {
    pub id: i64,
    pub email: String,
    pub status: Option<String>,
}

/// Periods overlapping [from, to] (inclusive local dates); with updated_from, only those
/// created/changed since that date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeOffQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub updated_from: Option<NaiveDate>,
}

/// Where absences come from; the seam for a later API v2 source.
#[async_trait::async_trait]
pub trait AbsenceSource: Send + Sync {
    async fn absence_types(&self) -> Result<Fetched<AbsenceType>, ApiError>;
    async fn time_offs(&self, query: &TimeOffQuery) -> Result<Fetched<AbsencePeriod>, ApiError>;
    async fn hourly_absences(
        &self,
        query: &TimeOffQuery,
    ) -> Result<Fetched<HourlyAbsence>, ApiError>;
}

#[derive(Debug)]
struct Token {
    value: SecretString,
    renew_at: Instant,
}

#[derive(Debug)]
pub struct PersonioClient {
    http: HttpCore,
    client_id: String,
    client_secret: SecretString,
    app_id: String,
    token: Mutex<Option<Arc<Token>>>,
}

impl PersonioClient {
    pub fn new(settings: &PersonioSettings, retry: RetryPolicy) -> Result<Self, ApiError> {
        let pacer = Pacer::new(&[RateLimit {
            requests: settings.requests_per_minute,
            period: Duration::from_secs(60),
        }]);
        let http = HttpCore::new(
            API,
            wire::describe_error,
            settings.base_url.clone(),
            settings.timeout,
            Arc::new(pacer),
            retry,
        )?;
        Ok(Self {
            http,
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            app_id: settings.app_id.clone(),
            token: Mutex::new(None),
        })
    }

    /// Every employee with a readable id and email (record offset paging, 0-based pages).
    pub async fn employees(&self) -> Result<Fetched<Employee>, ApiError> {
        self.record_offset_pages("/v1/company/employees", EMPLOYEES_LIMIT, employee)
            .await
    }

    /// All pages of an endpoint paged by record offset, until a short page or the total count
    /// is reached. (Page numbers in the metadata are 0-based on some endpoints and 1-based on
    /// others, so they are not trusted here.)
    async fn record_offset_pages<T>(
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

    /// One page of a list endpoint, with authentication.
    async fn page(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<wire::ListEnvelope, ApiError> {
        self.get(path, query).await?.json(API)
    }

    /// A GET with the bearer token; a 401 means the token went stale, so it is renewed once.
    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Reply, ApiError> {
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

    /// The cached token, or a new one when there is none or it is about to expire.
    async fn token(&self) -> Result<Arc<Token>, ApiError> {
        let mut slot = self.token.lock().await;
        if let Some(token) = slot.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(token.clone());
        }
        let token = Arc::new(self.authenticate().await?);
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

    async fn authenticate(&self) -> Result<Token, ApiError> {
        let url = self.http.url("/v1/auth");
        // Credentials go in the JSON body: query strings end up in proxy logs and are refused.
        let reply = self
            .http
            .send(Retry::Read, |client| {
                client
                    .post(url.clone())
                    .header(APP_ID_HEADER, &self.app_id)
                    .header(ACCEPT, "application/json")
                    .json(&serde_json::json!({
                        "client_id": self.client_id,
                        "client_secret": self.client_secret.expose_secret(),
                    }))
            })
            .await?;
        let auth: wire::AuthEnvelope = reply.json(API)?;
        if auth.data.token.trim().is_empty() {
            return Err(ApiError::Protocol {
                api: API,
                message: "authentication succeeded but returned no token".into(),
            });
        }
        let renewal = wire::token_renewal(auth.data.expires_in);
        tracing::debug!(api = API, renew_in_s = renewal.as_secs(), "authenticated");
        Ok(Token {
            value: SecretString::from(auth.data.token),
            renew_at: Instant::now() + renewal,
        })
    }

    /// Reads a page-numbered endpoint (time-offs, absence-periods) to its end, de-duplicating
    /// records that repeat across page boundaries.
    async fn read_numbered_pages<T>(
        &self,
        path: &str,
        query: &[(&str, String)],
        convert: impl Fn(Value) -> Result<T, RejectedRecord>,
    ) -> Result<Fetched<T>, ApiError> {
        let mut fetched = Fetched::default();
        let mut seen = HashSet::new();
        for page_number in 1..=MAX_PAGES {
            let mut params = query.to_vec();
            params.push(("limit", TIME_OFFS_LIMIT.to_string()));
            params.push(("offset", page_number.to_string()));
            let page = self.page(path, &params).await?;
            if page.data.is_empty() {
                return Ok(fetched);
            }
            let before = seen.len();
            let count = page.data.len();
            for record in page.data {
                collect(&mut fetched, &mut seen, record, &convert);
            }
            let meta = page.metadata.unwrap_or_default();
            let done = match (meta.current_page, meta.total_pages) {
                (Some(current), Some(total)) => current >= total,
                _ => count < TIME_OFFS_LIMIT,
            };
            // A page with nothing new means the server ignores the page number.
            if done || seen.len() == before {
                return Ok(fetched);
            }
        }
        Err(endless(MAX_PAGES))
    }
}

#[async_trait::async_trait]
impl AbsenceSource for PersonioClient {
    async fn absence_types(&self) -> Result<Fetched<AbsenceType>, ApiError> {
        self.record_offset_pages("/v1/company/time-off-types", TYPES_LIMIT, absence_type)
            .await
    }

    async fn time_offs(&self, query: &TimeOffQuery) -> Result<Fetched<AbsencePeriod>, ApiError> {
        let mut params = vec![
            ("start_date", (query.from - WINDOW_WIDENING).to_string()),
            ("end_date", (query.to + WINDOW_WIDENING).to_string()),
        ];
        if let Some(since) = query.updated_from {
            // One day of overlap covers changes late on the previous run's day in any zone;
            // the parameter was renamed, so both spellings are sent.
            let since = (since - Days::new(1)).to_string();
            params.push(("updated_from", since.clone()));
            params.push(("updated_since", since));
        }
        let mut fetched = self
            .read_numbered_pages("/v1/company/time-offs", &params, time_off)
            .await?;
        fetched
            .items
            .retain(|p| p.start <= query.to && p.end >= query.from);
        Ok(fetched)
    }

    async fn hourly_absences(
        &self,
        query: &TimeOffQuery,
    ) -> Result<Fetched<HourlyAbsence>, ApiError> {
        let mut params = vec![
            ("start_date", query.from.to_string()),
            ("end_date", query.to.to_string()),
        ];
        if let Some(since) = query.updated_from {
            // A date-time here, unlike time-offs.
            params.push((
                "updated_from",
                format!("{}T00:00:00Z", since - Days::new(1)),
            ));
        }
        let mut fetched = self
            .read_numbered_pages("/v1/company/absence-periods", &params, hourly)
            .await?;
        fetched
            .items
            .retain(|a| a.start <= query.to && a.end.unwrap_or(a.start) >= query.from);
        Ok(fetched)
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

/// Decodes a record's attributes, or says which record could not be read and why.
fn decode<A: serde::de::DeserializeOwned>(record: Value) -> Result<(String, A), RejectedRecord> {
    let id = wire::raw_id(&record);
    let reject = |reason: String| RejectedRecord {
        id: id.clone(),
        reason,
    };
    let item: wire::Item<A> = serde_json::from_value(record).map_err(|e| reject(e.to_string()))?;
    Ok((id.clone().unwrap_or_default(), item.attributes))
}

fn rejected(id: &str, reason: impl Into<String>) -> RejectedRecord {
    RejectedRecord {
        id: Some(id.to_string()),
        reason: reason.into(),
    }
}

fn email_of(id: &str, email: Option<wire::Attr<Option<String>>>) -> Result<String, RejectedRecord> {
    email
        .and_then(|a| a.value)
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
        .ok_or_else(|| {
            rejected(
                id,
                "no employee email (is the email attribute whitelisted?)",
            )
        })
}

fn absence_type(record: Value) -> Result<AbsenceType, RejectedRecord> {
    let (id, t) = decode::<wire::TimeOffType>(record)?;
    let unit = match t.unit.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("day") | Some("days") => AbsenceUnit::Day,
        Some("hour") | Some("hours") => AbsenceUnit::Hour,
        Some(other) => return Err(rejected(&id, format!("unknown unit {other:?}"))),
    };
    Ok(AbsenceType {
        id: t.id,
        name: t.name,
        category: t.category.filter(|c| !c.is_empty()),
        unit,
    })
}

fn time_off(record: Value) -> Result<AbsencePeriod, RejectedRecord> {
    let (id, t) = decode::<wire::TimeOff>(record)?;
    let start = wire::local_date(&t.start_date).map_err(|e| rejected(&id, e))?;
    let end = wire::local_date(&t.end_date).map_err(|e| rejected(&id, e))?;
    if end < start {
        return Err(rejected(
            &id,
            format!("ends ({end}) before it starts ({start})"),
        ));
    }
    let email = email_of(&id, t.employee.attributes.email)?;
    // Only approved periods are booked: a period without a status is not assumed approved.
    let status = t
        .status
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| rejected(&id, "no status".to_string()))?;
    let period = AbsencePeriod {
        id: t.id,
        employee_id: t.employee.attributes.id.value.0,
        email,
        type_id: t.time_off_type.attributes.id,
        type_name: t.time_off_type.attributes.name.unwrap_or_default(),
        status: PeriodStatus::parse(status),
        start,
        end,
        half_day_start: t.half_day_start.0,
        half_day_end: t.half_day_end.0,
    };
    Ok(period)
}

fn hourly(record: Value) -> Result<HourlyAbsence, RejectedRecord> {
    let (id, a) = decode::<wire::HourlyPeriod>(record)?;
    let email = email_of(&id, a.employee.attributes.email)?;
    // Breakdown dates are local; start/end are UTC and may sit on the previous local day.
    let dates = a.breakdowns.iter().map(|b| b.date);
    let (start, end) = match (dates.clone().min(), dates.max()) {
        (Some(first), Some(last)) => (first, Some(last)),
        _ => (a.start.date_naive(), a.end.map(|e| e.date_naive())),
    };
    let absence = HourlyAbsence {
        id: a.id,
        email,
        type_name: a.absence_type.attributes.name.unwrap_or_default(),
        status: PeriodStatus::parse(a.status.as_deref().unwrap_or("approved")),
        start,
        end,
    };
    Ok(absence)
}

fn employee(record: Value) -> Result<Employee, RejectedRecord> {
    let (id, e) = decode::<wire::Employee>(record)?;
    let email = email_of(&id, e.email)?;
    Ok(Employee {
        id: e.id.value.0,
        email,
        status: e.status.and_then(|s| s.value).filter(|s| !s.is_empty()),
    })
}
