//! `POST /v2/auth/token` (OAuth2 client credentials, form-encoded only) and the v2 bearer and
//! scope checks. The token is the credential's one token, shared with `/v1/auth`, so that
//! invalidating tokens retires it for both versions.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::render::{v2_error, zulu};
use super::SCOPE_PERSONS_READ;
use crate::sim::personio::auth::{bearer, TokenCheck};
use crate::sim::personio::render::Fail;
use crate::sim::personio::PersonioSim;

const ERROR_URI: &str = "https://developer.personio.de/reference/errors#credentials.oauth2";

/// An OAuth2 token error (`OAuth2TokenErrorResponse`).
fn oauth_error(status: StatusCode, error: &str, description: &str, meta: Value) -> Response {
    let mut response = (
        status,
        Json(json!({
            "timestamp": zulu(chrono::Utc::now()),
            "trace_id": uuid::Uuid::new_v4().to_string(),
            "error": error,
            "error_description": description,
            "error_uri": format!("{ERROR_URI}.{error}"),
            "meta": meta,
        })),
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

pub(super) async fn token(
    State(sim): State<PersonioSim>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(fail) = sim.limits().v2.token.check() {
        return fail.into_response();
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The content type of the request must be \"application/x-www-form-urlencoded\".",
            json!({}),
        );
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let missing: Vec<&str> = ["grant_type", "client_id", "client_secret"]
        .into_iter()
        .filter(|k| field(k).is_none())
        .collect();
    if !missing.is_empty() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request has missing or invalid required parameters.",
            json!({ "missing_parameters": missing }),
        );
    }
    if field("grant_type") != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "At the moment, only client_credentials grant type is supported.",
            json!({}),
        );
    }
    let valid = field("client_id") == Some(sim.inner.client_id.as_str())
        && field("client_secret") == Some(sim.inner.client_secret.as_str());
    if !valid {
        // Documented as a 400; clients in the field see a 401.
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed.",
            json!({}),
        );
    }
    let granted = sim.state().v2.scopes.clone();
    let requested: Vec<&str> = field("scope")
        .map(|s| s.split_whitespace().collect())
        .unwrap_or_default();
    let unknown: Vec<&&str> = requested
        .iter()
        .filter(|s| !granted.iter().any(|g| g == **s))
        .collect();
    if !unknown.is_empty() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "The requested scope is invalid, unknown, or exceeds the scope granted to the client.",
            json!({ "invalid_scopes": unknown }),
        );
    }
    let (token, remaining) = sim.issue_token();
    // The credential holds one token: its scopes are the credential's, whatever was asked.
    Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": remaining.as_secs_f64().ceil() as u64,
        "scope": granted.join(" "),
    }))
    .into_response()
}

impl PersonioSim {
    /// Checks a v2 request's bearer token and that the credential holds `scope`: a missing,
    /// stale or unknown token → 401; a missing scope → 403 "Insufficient access scope", but
    /// 401 "Unauthorized Request" for persons, as seen live.
    pub(in crate::sim::personio) fn authorize_v2(
        &self,
        headers: &HeaderMap,
        scope: &str,
    ) -> Result<(), Fail> {
        let unauthorized = || {
            v2_error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized Request",
                "The access token is missing, expired or invalid.",
            )
        };
        let token = bearer(headers).ok_or_else(unauthorized)?;
        if self.check_token(token) != TokenCheck::Live {
            return Err(unauthorized());
        }
        if self.state().v2.scopes.iter().any(|s| s == scope) {
            return Ok(());
        }
        if scope == SCOPE_PERSONS_READ {
            return Err(unauthorized());
        }
        Err(v2_error(
            StatusCode::FORBIDDEN,
            "Insufficient access scope",
            "Client scope insufficient to access resource",
        ))
    }
}
