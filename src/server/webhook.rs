//! `POST /webhooks/personio`: Personio's absence webhooks (API v2). Personio cannot send the
//! listener's `http.token`, so this route has its own: `personio.webhook_token`, the exact value
//! set as the subscription's `token`, which Personio sends verbatim in `Authorization`. Without
//! one configured the receiver is off (404).
//!
//! Personio counts a delivery as failed unless it is acknowledged with a 2xx within 3 s, so the
//! receiver only parses the envelope, hands the period id to the scheduler without waiting, and
//! answers 202. Deliveries are dataless (ids only) and may come twice or out of order: the run
//! they trigger re-reads the period, which makes them idempotent.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::mpsc::error::TrySendError;

use super::{line, Shared};
use crate::daemon::Control;

pub(super) const PATH: &str = "/webhooks/personio";

/// A delivery is a small envelope of ids; this bounds what an unauthenticated sender can make
/// the listener buffer.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The absence events Personio delivers (reference §5.2).
const ABSENCE_EVENTS: [&str; 4] = [
    "absence-period.created",
    "absence-period.updated.timerange",
    "absence-period.updated.status",
    "absence-period.deleted",
];

/// The receiver's route, with its own body limit (the rest of the listener takes no bodies).
pub(super) fn router() -> Router<Shared> {
    Router::new()
        .route(PATH, post(receive))
        // Enforced when the handler reads the body, after the token check, so refusals are
        // counted and an unauthenticated sender gets its 401 first.
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The envelope of every Personio webhook (reference §5.3).
#[derive(Debug, Deserialize)]
struct Envelope {
    /// Documented as a string; a number is taken too (it is only logged).
    company_id: Value,
    event_name: String,
    occurred_at: String,
    payload: Value,
    // `meta` (optional) carries nothing the sync needs.
}

async fn receive(State(shared): State<Shared>, request: Request) -> Response {
    let Some(token) = &shared.webhook_token else {
        shared.metrics.webhook_delivery("off");
        return line(
            StatusCode::NOT_FOUND,
            "the Personio webhook receiver is off: set personio.webhook_token to turn it on",
        );
    };
    if !authorized(request.headers(), token) {
        shared.metrics.webhook_delivery("unauthorized");
        tracing::warn!(
            path = PATH,
            "a webhook delivery with a missing or wrong token was refused"
        );
        return line(
            StatusCode::UNAUTHORIZED,
            "Authorization must carry personio.webhook_token",
        );
    }
    // Read only once the sender is known: the body limit still applies (413).
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            shared
                .metrics
                .webhook_delivery(if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "too_large"
                } else {
                    "bad_request"
                });
            return line(status, rejection.body_text());
        }
    };
    let envelope: Envelope = match serde_json::from_slice(&body) {
        Ok(envelope) => envelope,
        Err(err) => {
            shared.metrics.webhook_delivery("bad_request");
            return line(
                StatusCode::BAD_REQUEST,
                format!("not a Personio webhook envelope: {err}"),
            );
        }
    };
    let event = envelope.event_name.as_str();
    if !ABSENCE_EVENTS.contains(&event) {
        shared.metrics.webhook_delivery("ignored");
        tracing::debug!(event, "ignored a webhook event that is not about absences");
        return line(StatusCode::OK, format!("ignored: {event}"));
    }
    let Some(id) = period_id(&envelope.payload) else {
        shared.metrics.webhook_delivery("bad_request");
        return line(
            StatusCode::BAD_REQUEST,
            format!("{event} without payload.absence_period.id"),
        );
    };
    tracing::info!(event, period = %id, company = %envelope.company_id, occurred_at = envelope.occurred_at, "absence webhook received");
    hand_over(&shared, id)
}

/// Tells the scheduler without waiting for it: Personio wants its answer within 3 s.
fn hand_over(shared: &Shared, id: String) -> Response {
    match shared.controls.try_send(Control::PeriodsChanged(vec![id])) {
        Ok(()) => {
            shared.metrics.webhook_delivery("accepted");
            line(StatusCode::ACCEPTED, "accepted")
        }
        // The queue holds runs to come, and the scheduled runs read every period anyway.
        Err(TrySendError::Full(_)) => {
            shared.metrics.webhook_delivery("queue_full");
            tracing::info!("the scheduler's queue is full; a queued run will see this change");
            line(StatusCode::ACCEPTED, "accepted (a run is already queued)")
        }
        // Not a 2xx: Personio retries, and the next process gets the delivery.
        Err(TrySendError::Closed(_)) => {
            shared.metrics.webhook_delivery("stopping");
            line(StatusCode::SERVICE_UNAVAILABLE, "the scheduler is stopping")
        }
    }
}

/// The period's v2 id. Personio sends `absence_period`; its documentation says
/// `absence-period` (api-docs issue 210): both are read.
fn period_id(payload: &Value) -> Option<String> {
    let period = payload
        .get("absence_period")
        .or_else(|| payload.get("absence-period"))?;
    let id = match period.get("id")? {
        Value::String(id) => id.trim().to_string(),
        Value::Number(id) => id.to_string(),
        _ => return None,
    };
    (!id.is_empty()).then_some(id)
}

/// Personio sends the subscription's token exactly as set (no scheme added), so the value is
/// taken with or without `Bearer `, on either side.
fn authorized(headers: &HeaderMap, token: &SecretString) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    same_secret(bare(given), bare(token.expose_secret()))
}

fn bare(value: &str) -> &str {
    let value = value.trim();
    match value.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => value[7..].trim_start(),
        _ => value,
    }
}

/// Compares digests in constant time, so neither the token's bytes nor its length can be
/// learnt from how long a refusal takes.
fn same_secret(given: &str, expected: &str) -> bool {
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    given.ct_eq(&expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_token_is_taken_with_or_without_a_bearer_scheme() {
        assert_eq!(bare("Bearer abc"), "abc");
        assert_eq!(bare("bearer  abc "), "abc");
        assert_eq!(bare("abc"), "abc");
        assert_eq!(bare("Bearerabc"), "Bearerabc");
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("ab", "abc"));
        assert!(!same_secret("", "abc"));
    }

    #[test]
    fn both_payload_spellings_carry_the_id() {
        let id = |payload: Value| period_id(&payload);
        assert_eq!(
            id(json!({"absence_period": {"id": "a-1"}})).as_deref(),
            Some("a-1")
        );
        assert_eq!(
            id(json!({"absence-period": {"id": "a-2"}})).as_deref(),
            Some("a-2")
        );
        assert_eq!(
            id(json!({"absence_period": {"id": 7}})).as_deref(),
            Some("7")
        );
        assert_eq!(id(json!({"absence_period": {"id": " "}})), None);
        assert_eq!(id(json!({"absence_period": {}})), None);
        assert_eq!(id(json!({"person": {"id": "p"}})), None);
    }
}
