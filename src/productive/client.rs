//! The Productive client: paged reads and the few writes the sync needs, through [`HttpCore`].

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use url::Url;

use super::wire::{self, Document, Envelope, Resource};
use crate::config::ProductiveSettings;
use crate::domain::{ApprovalStep, Booking, BookingDraft, Event, EventDraft, Fetched, Person};
use crate::http::{
    ApiError, HttpCore, Pacer, RateLimit, Reply, RequestObserver, Retry, RetryPolicy,
};

pub(super) const API: &str = "productive";
const JSON_API: &str = "application/vnd.api+json";
/// Ids per `filter[person_id]` / `filter[event_id]` value, to keep URLs well under server limits.
const IDS_PER_REQUEST: usize = 100;

/// Filters for [`ProductiveClient::bookings`]. Empty id lists mean "any"; `after`/`before` match
/// bookings that overlap the date (the API's semantics).
#[derive(Debug, Clone, Default)]
pub struct BookingFilter {
    pub person_ids: Vec<i64>,
    pub event_ids: Vec<i64>,
    pub after: Option<NaiveDate>,
    pub before: Option<NaiveDate>,
}

#[derive(Debug, Clone)]
pub struct ProductiveClient {
    pub(super) core: HttpCore,
    auth: Arc<Auth>,
}

/// The credentials; the token leaves its `SecretString` only in [`Auth::headers`].
#[derive(Debug)]
struct Auth {
    token: SecretString,
    organization_id: String,
}

impl Auth {
    fn headers(&self) -> Result<HeaderMap, ApiError> {
        let invalid = |what: &str| ApiError::Protocol {
            api: API,
            message: format!("the configured {what} is not a valid HTTP header value"),
        };
        let mut token =
            HeaderValue::from_str(self.token.expose_secret()).map_err(|_| invalid("API token"))?;
        token.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert("X-Auth-Token", token);
        headers.insert(
            "X-Organization-Id",
            HeaderValue::from_str(self.organization_id.trim())
                .map_err(|_| invalid("organization id"))?,
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_API));
        headers.insert(ACCEPT, HeaderValue::from_static(JSON_API));
        Ok(headers)
    }
}

impl ProductiveClient {
    pub fn new(settings: &ProductiveSettings, retry: RetryPolicy) -> Result<Self, ApiError> {
        let pacer = Pacer::new(&[
            RateLimit {
                requests: settings.requests_per_10s,
                period: Duration::from_secs(10),
            },
            RateLimit {
                requests: settings.requests_per_30min,
                period: Duration::from_secs(30 * 60),
            },
        ]);
        let core = HttpCore::new(
            API,
            wire::describe_error,
            settings.base_url.clone(),
            settings.timeout,
            Arc::new(pacer),
            retry,
        )?;
        let auth = Auth {
            token: settings.api_token.clone(),
            organization_id: settings.organization_id.clone(),
        };
        // Fail at construction, not on the first request, if the credentials cannot be sent.
        auth.headers()?;
        Ok(Self {
            core,
            auth: Arc::new(auth),
        })
    }

    /// Reports every request to `observer` (the daemon's metrics).
    pub fn observed(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.core.set_observer(observer);
        self
    }

    /// Every person, deactivated ones included (`active == false`). People whose availabilities
    /// cannot be read are reported in `rejected`.
    pub async fn people(&self) -> Result<Fetched<Person>, ApiError> {
        let mut fetched = Fetched::default();
        self.collection("people", &[], wire::person, &mut fetched)
            .await?;
        Ok(fetched)
    }

    /// Every active event: archived ones are never mapped nor booked on, so they are not read
    /// (one request less on every run).
    pub async fn events(&self) -> Result<Fetched<Event>, ApiError> {
        let mut fetched = Fetched::default();
        let query = [("filter[status]".to_string(), "1".to_string())];
        self.collection("events", &query, wire::event, &mut fetched)
            .await?;
        Ok(fetched)
    }

    pub async fn create_event(&self, draft: &EventDraft) -> Result<Event, ApiError> {
        let body = Envelope::new(
            "events",
            wire::EventWrite {
                name: &draft.name,
                event_type_id: if draft.paid {
                    wire::EVENT_TYPE_PAID
                } else {
                    wire::EVENT_TYPE_UNPAID
                },
                limitation_type_id: wire::LIMITATION_UNLIMITED,
                absence_type: wire::absence_type_name(draft.kind),
                half_day_bookings: true,
            },
        );
        let reply = self
            .write(Method::POST, self.core.url("events"), Some(&body))
            .await?;
        let event = self.single(&reply, wire::event)?;
        tracing::info!(event_id = event.id, name = %event.name, "created Productive event");
        Ok(event)
    }

    pub async fn rename_event(&self, id: i64, name: &str) -> Result<Event, ApiError> {
        let body = Envelope::new("events", wire::EventRename { name });
        let url = self.core.url(&format!("events/{id}"));
        let reply = self.write(Method::PATCH, url, Some(&body)).await?;
        self.single(&reply, wire::event)
    }

    pub async fn archive_event(&self, id: i64) -> Result<Event, ApiError> {
        let url = self.core.url(&format!("events/{id}/archive"));
        let reply = self.write::<()>(Method::PATCH, url, None).await?;
        self.single(&reply, wire::event)
    }

    /// Absence bookings (those with an event) matching `filter`. Service bookings are skipped.
    pub async fn bookings(&self, filter: &BookingFilter) -> Result<Fetched<Booking>, ApiError> {
        let mut base = vec![("include".to_string(), "person,event".to_string())];
        if let Some(after) = filter.after {
            base.push(("filter[after]".to_string(), after.to_string()));
        }
        if let Some(before) = filter.before {
            base.push(("filter[before]".to_string(), before.to_string()));
        }
        let person_chunks = id_chunks(&filter.person_ids);
        let event_chunks = id_chunks(&filter.event_ids);
        let mut fetched = Fetched::default();
        let mut seen = HashSet::new();
        for persons in &person_chunks {
            for events in &event_chunks {
                let mut query = base.clone();
                if let Some(ids) = persons {
                    query.push(("filter[person_id]".to_string(), ids.clone()));
                }
                if let Some(ids) = events {
                    query.push(("filter[event_id]".to_string(), ids.clone()));
                }
                let kept = |r| {
                    let b = wire::booking(r, None)?;
                    // Pages can shift under concurrent writes and repeat a record.
                    Ok((b.event_id.is_some() && seen.insert(b.id)).then_some(b))
                };
                self.collection("bookings", &query, kept, &mut fetched)
                    .await?;
            }
        }
        Ok(fetched)
    }

    /// One booking; `None` when it no longer exists.
    pub async fn booking(&self, id: i64) -> Result<Option<Booking>, ApiError> {
        let mut url = self.core.url(&format!("bookings/{id}"));
        url.query_pairs_mut().append_pair("include", "person,event");
        match self.read(url).await {
            Ok(reply) => self.single(&reply, |r| wire::booking(r, None)).map(Some),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn create_booking(&self, draft: &BookingDraft) -> Result<Booking, ApiError> {
        let body = booking_body(draft);
        let mut url = self.core.url("bookings");
        url.query_pairs_mut().append_pair("include", "person,event");
        let reply = self.write(Method::POST, url, Some(&body)).await?;
        let booking = self.single(&reply, |r| wire::booking(r, Some(draft.shape.person_id)))?;
        tracing::info!(
            booking_id = booking.id,
            person_id = booking.person_id,
            event_id = draft.shape.event,
            started_on = %booking.started_on,
            ended_on = %booking.ended_on,
            approved = booking.approved,
            "created Productive booking"
        );
        Ok(booking)
    }

    pub async fn update_booking(&self, id: i64, draft: &BookingDraft) -> Result<Booking, ApiError> {
        let body = booking_body(draft);
        let mut url = self.core.url(&format!("bookings/{id}"));
        url.query_pairs_mut().append_pair("include", "person,event");
        let reply = self.write(Method::PATCH, url, Some(&body)).await?;
        let booking = self.single(&reply, |r| wire::booking(r, Some(draft.shape.person_id)))?;
        tracing::info!(booking_id = id, "updated Productive booking");
        Ok(booking)
    }

    /// Deletes a booking; one that is already gone counts as deleted.
    pub async fn delete_booking(&self, id: i64) -> Result<(), ApiError> {
        let url = self.core.url(&format!("bookings/{id}"));
        match self.write::<()>(Method::DELETE, url, None).await {
            Ok(_) => {
                tracing::info!(booking_id = id, "deleted Productive booking");
                Ok(())
            }
            Err(e) if e.status() == Some(404) => {
                tracing::debug!(booking_id = id, "booking already gone");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    pub async fn approval_statuses(&self, booking_id: i64) -> Result<Vec<ApprovalStep>, ApiError> {
        // The booking relationship carries an id only when included: it is what shows that a
        // step belongs to this booking.
        let query = [
            ("filter[booking_id]".to_string(), booking_id.to_string()),
            ("include".to_string(), "booking".to_string()),
        ];
        let mut steps = Fetched::default();
        self.collection("approval_statuses", &query, wire::approval_step, &mut steps)
            .await?;
        // An unreadable step would make the booking look approvable when it is not.
        if let Some(bad) = steps.rejected.first() {
            return Err(protocol(format!(
                "approval status {:?} of booking {booking_id}: {}",
                bad.id, bad.reason
            )));
        }
        Ok(steps.items)
    }

    pub async fn approve(&self, approval_status_id: i64, note: &str) -> Result<(), ApiError> {
        let body = Envelope::new("approval_statuses", wire::ApproveNote { note });
        let url = self
            .core
            .url(&format!("approval_statuses/{approval_status_id}/approve"));
        self.write(Method::PATCH, url, Some(&body)).await?;
        tracing::info!(approval_status_id, "approved Productive approval status");
        Ok(())
    }

    pub(super) async fn read(&self, url: Url) -> Result<Reply, ApiError> {
        let headers = self.auth.headers()?;
        self.core
            .send(Retry::Read, |client| {
                client.get(url.clone()).headers(headers.clone())
            })
            .await
    }

    async fn write<B: Serialize>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<Reply, ApiError> {
        let headers = self.auth.headers()?;
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| protocol(format!("cannot encode request body: {e}")))?;
        self.core
            .send(Retry::Write, |client| {
                let request = client
                    .request(method.clone(), url.clone())
                    .headers(headers.clone());
                match &body {
                    Some(body) => request.body(body.clone()),
                    None => request,
                }
            })
            .await
    }

    /// The one resource of a single-resource document.
    fn single<A, T>(
        &self,
        reply: &Reply,
        convert: impl FnOnce(Resource<A>) -> Result<T, String>,
    ) -> Result<T, ApiError>
    where
        A: serde::de::DeserializeOwned,
    {
        let doc: Document = reply.json(API)?;
        let resource: Resource<A> =
            serde_json::from_value(doc.data).map_err(|e| ApiError::Decode {
                api: API,
                status: reply.status.as_u16(),
                detail: e.to_string(),
            })?;
        convert(resource).map_err(protocol)
    }
}

pub(super) fn protocol(message: impl Into<String>) -> ApiError {
    ApiError::Protocol {
        api: API,
        message: message.into(),
    }
}

fn booking_body(draft: &BookingDraft) -> Envelope<wire::BookingWrite<'_>> {
    let shape = &draft.shape;
    let time = shape.minutes;
    Envelope::new(
        "bookings",
        wire::BookingWrite {
            person_id: shape.person_id,
            event_id: shape.event,
            started_on: shape.start,
            ended_on: shape.end,
            booking_method_id: wire::BOOKING_METHOD_PER_DAY,
            time,
            // `hours` is an integer; sending a rounded one next to an exact `time` could
            // contradict it, so it goes only when exact.
            hours: (time % 60 == 0).then_some(time / 60),
            note: &draft.note,
        },
    )
}

/// `None` (no filter) for an empty list, else comma lists of at most [`IDS_PER_REQUEST`] ids.
fn id_chunks(ids: &[i64]) -> Vec<Option<String>> {
    if ids.is_empty() {
        return vec![None];
    }
    let mut unique: Vec<i64> = ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    unique
        .chunks(IDS_PER_REQUEST)
        .map(|chunk| {
            Some(
                chunk
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            )
        })
        .collect()
}
