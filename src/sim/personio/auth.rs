//! `/v1/auth` and bearer-token checks: one live token at a time, stale ones remembered.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::render::{param, v1_error, Fail, Reply};
use super::PersonioSim;

/// The one live token; Personio hands out the same one until it expires.
#[derive(Debug)]
pub(super) struct Token {
    pub(super) value: String,
    expires_at: Instant,
}

impl PersonioSim {
    /// The next call with a token issued so far gets a 401.
    pub fn invalidate_tokens(&self) {
        let mut state = self.state();
        if let Some(token) = state.token.take() {
            state.retired.insert(token.value);
        }
    }

    /// Checks the bearer token like §7.1: missing → 401, known but stale → 401, unknown → 403.
    pub(super) fn authorize(&self, headers: &HeaderMap) -> Result<String, Fail> {
        let bearer = bearer(headers)
            .ok_or_else(|| v1_error(StatusCode::UNAUTHORIZED, "Authorization is not provided"))?;
        match self.check_token(bearer) {
            TokenCheck::Live => Ok(bearer.to_string()),
            TokenCheck::Stale => Err(v1_error(StatusCode::UNAUTHORIZED, "The token has expired")),
            TokenCheck::Unknown => Err(v1_error(
                StatusCode::FORBIDDEN,
                "Provided authorization is not valid",
            )),
        }
    }

    /// Where a bearer token stands; v1 and v2 share the one token of the credential.
    pub(super) fn check_token(&self, bearer: &str) -> TokenCheck {
        let mut state = self.state();
        if let Some(token) = state.token.as_ref().filter(|t| t.value == bearer) {
            if Instant::now() < token.expires_at {
                return TokenCheck::Live;
            }
            if let Some(stale) = state.token.take() {
                state.retired.insert(stale.value);
            }
        }
        if state.retired.contains(bearer) {
            TokenCheck::Stale
        } else {
            TokenCheck::Unknown
        }
    }

    /// The credential's live token (minted when there is none) and its remaining lifetime.
    pub(super) fn issue_token(&self) -> (String, Duration) {
        let mut state = self.state();
        let lifetime = Duration::from_secs(state.quirks.token_lifetime_secs);
        let now = Instant::now();
        if let Some(t) = state.token.as_ref().filter(|t| now < t.expires_at) {
            return (t.value.clone(), t.expires_at - now);
        }
        if let Some(old) = state.token.take() {
            state.retired.insert(old.value);
        }
        let value = format!("papi-{}", uuid::Uuid::new_v4().simple());
        state.token = Some(Token {
            value: value.clone(),
            expires_at: now + lifetime,
        });
        (value, lifetime)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenCheck {
    Live,
    /// Issued once, expired or invalidated since.
    Stale,
    Unknown,
}

/// The non-empty token of an `Authorization: Bearer` header.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Reads the credentials from a JSON or form body.
fn credentials(headers: &HeaderMap, body: &[u8]) -> Option<(String, String)> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let pairs: Vec<(String, String)> = if is_json {
        let json: Value = serde_json::from_slice(body).ok()?;
        ["client_id", "client_secret"]
            .iter()
            .filter_map(|k| Some((k.to_string(), json.get(*k)?.as_str()?.to_string())))
            .collect()
    } else {
        url::form_urlencoded::parse(body).into_owned().collect()
    };
    let find = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    Some((find("client_id")?, find("client_secret")?))
}

pub(super) async fn auth(
    State(sim): State<PersonioSim>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let limits = sim.limits();
    sim.rate_limit(Some(&limits.auth))?;
    if param(&query, "client_id").is_some() || param(&query, "client_secret").is_some() {
        return Err(v1_error(
            StatusCode::FORBIDDEN,
            "Passing credentials in the query string is no longer supported.",
        ));
    }
    let valid = credentials(&headers, &body)
        .is_some_and(|(id, secret)| id == sim.inner.client_id && secret == sim.inner.client_secret);
    if !valid {
        return Err(v1_error(StatusCode::UNAUTHORIZED, "Wrong credentials"));
    }
    let lifetime = sim.state().quirks.token_lifetime_secs;
    let (token, _) = sim.issue_token();
    Ok(Json(json!({
        "success": true,
        "data": { "token": token, "expires_in": lifetime, "scope": "employees:read absences:read" }
    }))
    .into_response())
}
