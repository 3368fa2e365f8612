//! The gate every request passes before a handler: token, organisation, the two request-count
//! limits, and content negotiation (a body must be JSON:API).

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error::api_error;
use super::ProductiveSim;
use crate::sim::{error_response, Flavor, SlidingLimit};

/// Productive's request-count limits.
const TOKEN_LIMIT: f64 = 100.0;
const TOKEN_PERIOD: Duration = Duration::from_secs(10);
const ORG_LIMIT: f64 = 4000.0;
const ORG_PERIOD: Duration = Duration::from_secs(30 * 60);

#[derive(Debug)]
pub(super) struct Limits {
    token: SlidingLimit,
    org: SlidingLimit,
    /// The per-token limit as reported in the 429 body.
    reported: usize,
}

impl Limits {
    /// Both limits multiplied by `scale`; none for a scale that is not a positive finite number.
    pub(super) fn scaled(scale: f64) -> Option<Self> {
        (scale.is_finite() && scale > 0.0).then(|| {
            let token = (TOKEN_LIMIT * scale).ceil().max(1.0) as usize;
            let org = (ORG_LIMIT * scale).ceil().max(1.0) as usize;
            Self {
                token: SlidingLimit::new(token, TOKEN_PERIOD),
                org: SlidingLimit::new(org, ORG_PERIOD),
                reported: token,
            }
        })
    }
}

pub(super) async fn gatekeeper(
    State(sim): State<ProductiveSim>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let inner = &sim.inner;
    let token_ok = !inner.revoked.load(Ordering::SeqCst)
        && headers
            .get("x-auth-token")
            .is_some_and(|t| t.as_bytes() == inner.token.as_bytes());
    if !token_ok {
        return api_error(
            StatusCode::UNAUTHORIZED,
            "Unauthenticated",
            "You are not authenticated",
            Some("invalid_auth_token"),
            None,
        )
        .into_response();
    }
    let org_ok = headers
        .get("x-organization-id")
        .is_some_and(|o| o.as_bytes() == inner.organization_id.as_bytes());
    if !org_ok {
        return api_error(
            StatusCode::FORBIDDEN,
            "Access Denied",
            "You are not authorized to access this resource",
            Some("access_denied"),
            None,
        )
        .into_response();
    }
    let limits = inner.limits.lock().unwrap().clone();
    if let Some(limits) = limits {
        if let Err(wait) = limits.token.check().and_then(|()| limits.org.check()) {
            let body = json!({ "errors": [{
                "status": 429,
                "title": "Too many requests",
                "detail": "Rate limit reached. Try again later",
                "limit": limits.reported,
            }]});
            let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            response
                .headers_mut()
                .insert("x-ratelimit-reset", HeaderValue::from(seconds));
            return response;
        }
    }
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|l| l.to_str().ok()?.parse::<u64>().ok())
            .is_some_and(|l| l > 0);
    let json_api = headers
        .get(header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .is_some_and(|c| c.trim().starts_with("application/vnd.api+json"));
    if has_body && !json_api {
        return error_response(
            Flavor::JsonApi,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            "Unsupported content type",
        );
    }
    next.run(request).await
}
