//! The webhook subscription for absence events: created when missing, corrected when its
//! status, token or events differ, left alone when it matches, so that every start may ensure it.

use std::collections::BTreeSet;

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use url::Url;

use super::client::{PersonioV2Client, API, WEBHOOKS_READ, WEBHOOKS_WRITE};
use super::periods::decode;
use super::wire;
use crate::http::ApiError;

/// The events that change which absences exist or when (type and comment changes fire none).
pub const ABSENCE_EVENTS: [&str; 4] = [
    "absence-period.created",
    "absence-period.updated.timerange",
    "absence-period.updated.status",
    "absence-period.deleted",
];
const DESCRIPTION: &str = "personio-productive-sync";

/// Our webhook as Personio lists it, for `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub status: String,
    pub events: Vec<String>,
}

/// What [`PersonioV2Client::ensure_subscription`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionOutcome {
    Created { id: String },
    Updated { id: String },
    Unchanged { id: String },
}

impl PersonioV2Client {
    /// Makes sure Personio delivers the absence events to `url` with `token` in the
    /// `Authorization` header. Idempotent.
    pub async fn ensure_subscription(
        &self,
        url: &Url,
        token: &SecretString,
    ) -> Result<SubscriptionOutcome, ApiError> {
        let Some(existing) = self.ours(url).await? else {
            let body = json!({
                "url": url.as_str(),
                "description": DESCRIPTION,
                // Personio creates webhooks disabled unless told otherwise.
                "status": "ENABLED",
                "auth_type": "TOKEN",
                "token": token.expose_secret(),
                "enabled_events": ABSENCE_EVENTS,
            });
            let reply = self
                .send_json(
                    Method::POST,
                    self.url("/v2/webhooks", &[]),
                    &body,
                    WEBHOOKS_WRITE,
                )
                .await?;
            let id =
                wire::created_id(&reply.json::<Value>(API)?).ok_or_else(|| ApiError::Protocol {
                    api: API,
                    message: "the webhook was created but the answer names no id".into(),
                })?;
            tracing::info!(api = API, id, "webhook subscription created");
            return Ok(SubscriptionOutcome::Created { id });
        };
        if !needs_update(&existing, token) {
            return Ok(SubscriptionOutcome::Unchanged { id: existing.id });
        }
        let body = json!({
            "status": "ENABLED",
            "auth_type": "TOKEN",
            "token": token.expose_secret(),
            "enabled_events": ABSENCE_EVENTS,
        });
        let path = format!("/v2/webhooks/{}", existing.id);
        self.send_json(Method::PATCH, self.url(&path, &[]), &body, WEBHOOKS_WRITE)
            .await?;
        tracing::info!(api = API, id = existing.id, "webhook subscription updated");
        Ok(SubscriptionOutcome::Updated { id: existing.id })
    }

    /// Our webhook (the one delivering to `url`), if there is one.
    pub async fn subscription(&self, url: &Url) -> Result<Option<Subscription>, ApiError> {
        Ok(self.ours(url).await?.map(|w| Subscription {
            id: w.id,
            status: w.status.unwrap_or_default(),
            events: w.enabled_events,
        }))
    }

    async fn ours(&self, url: &Url) -> Result<Option<wire::Webhook>, ApiError> {
        let first = self.url("/v2/webhooks", &[]);
        let reply = self.get(first.clone(), WEBHOOKS_READ).await?;
        // The list is a paged envelope; a bare array is accepted too.
        let records = match reply.json::<Value>(API)? {
            Value::Array(records) => records,
            _ => self.read_pages(first, WEBHOOKS_READ).await?,
        };
        Ok(records
            .into_iter()
            .filter_map(|r| decode::<wire::Webhook>(r).ok())
            .find(|w| w.url.as_deref().is_some_and(|u| same_url(u, url))))
    }
}

fn same_url(listed: &str, ours: &Url) -> bool {
    Url::parse(listed.trim()).is_ok_and(|u| &u == ours)
}

/// Whether the webhook differs from what we ask for. A token the listing does not show cannot
/// be compared and is taken to match.
fn needs_update(w: &wire::Webhook, token: &SecretString) -> bool {
    let enabled = w
        .status
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("ENABLED"));
    let token_auth = w
        .auth_type
        .as_deref()
        .is_none_or(|a| a.eq_ignore_ascii_case("TOKEN"));
    let same_token = w
        .token
        .as_deref()
        .is_none_or(|t| t == token.expose_secret());
    let events: BTreeSet<&str> = w.enabled_events.iter().map(String::as_str).collect();
    let wanted: BTreeSet<&str> = ABSENCE_EVENTS.into_iter().collect();
    !(enabled && token_auth && same_token && events == wanted)
}
