//! The error of an API call, and the generic part of reading an error reply: each client knows
//! its own API's error envelope and hands the core a [`DescribeError`] for it.

use reqwest::StatusCode;
use serde_json::Value;

/// Errors of a call to one of the upstream APIs. Messages carry the HTTP status and the API's own
/// error text, never a credential.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{api}: could not reach the server")]
    Connect {
        api: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("{api}: request failed in transit (it may have reached the server)")]
    Transport {
        api: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("{api}: HTTP {status}: {message}")]
    Status {
        api: &'static str,
        status: u16,
        /// The API's machine-readable error code, e.g. `entitlements_required`.
        code: Option<String>,
        message: String,
    },
    #[error("{api}: unreadable response (HTTP {status}): {detail}")]
    Decode {
        api: &'static str,
        status: u16,
        detail: String,
    },
    #[error("{api}: refusing to follow a link off the configured host: {link}")]
    ForeignLink { api: &'static str, link: String },
    #[error("{api}: {message}")]
    Protocol { api: &'static str, message: String },
}

impl ApiError {
    /// Worth trying again later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Transport { .. } => true,
            Self::Status { status, .. } => *status == 429 || *status == 408 || *status >= 500,
            // A garbled body is usually a proxy or a deploy in progress upstream.
            Self::Decode { .. } => true,
            Self::ForeignLink { .. } | Self::Protocol { .. } => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } | Self::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// What an API's error body says: its message and, when it has one, a machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    pub code: Option<String>,
    pub message: String,
}

/// Reads one API's error envelope from a JSON error body; `None` when the body is not in that
/// shape.
pub type DescribeError = fn(&Value) -> Option<ErrorBody>;

/// Builds the error for a non-2xx reply: from the API's own envelope when `describe` reads one,
/// else from the status and the start of the body (an HTML error page, say).
pub fn status_error(
    api: &'static str,
    describe: DescribeError,
    status: StatusCode,
    body: &[u8],
) -> ApiError {
    let described = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|json| describe(&json));
    let (code, message) = match described {
        Some(ErrorBody { code, message }) => (code, message),
        None => {
            let reason = status.canonical_reason().unwrap_or("error");
            let message = if body.is_empty() {
                reason.to_string()
            } else {
                format!("{reason} (non-JSON body: {:?})", snippet(body))
            };
            (None, message)
        }
    };
    ApiError::Status {
        api,
        status: status.as_u16(),
        code,
        message,
    }
}

/// A JSON member as text: a non-empty string, or a number.
pub fn json_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The start of a body, for error messages.
pub(super) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(160).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_html_error_pages() {
        let body = b"<html>\n<body><h1>502 Bad Gateway</h1></body></html>";
        let err = status_error("productive", |_| None, StatusCode::BAD_GATEWAY, body);
        assert!(err.is_transient());
        assert!(err
            .to_string()
            .contains("Bad Gateway (non-JSON body: \"<html> <body><h1>502"));
    }
}
