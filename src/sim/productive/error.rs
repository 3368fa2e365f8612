//! Error answers in Productive's JSON:API envelope.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::sim::{error_response, Flavor};

/// An error answer for `?` in handlers; boxed because a `Response` is large.
pub(super) struct Reject(Box<Response>);

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        *self.0
    }
}

pub(super) fn api_error(
    status: StatusCode,
    title: &str,
    detail: &str,
    code: Option<&str>,
    pointer: Option<&str>,
) -> Reject {
    let mut error =
        json!({ "status": status.as_u16().to_string(), "title": title, "detail": detail });
    if let Some(code) = code {
        error["code"] = json!(code);
    }
    if let Some(pointer) = pointer {
        error["source"] = json!({ "pointer": pointer });
    }
    Reject(Box::new(
        (status, Json(json!({ "errors": [error] }))).into_response(),
    ))
}

pub(super) fn invalid(pointer: &str, detail: &str) -> Reject {
    api_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid Attribute",
        detail,
        None,
        Some(pointer),
    )
}

pub(super) fn not_found() -> Reject {
    Reject(Box::new(error_response(
        Flavor::JsonApi,
        StatusCode::NOT_FOUND,
        "Record Not Found",
        "The requested record was not found",
    )))
}

pub(super) fn bad_request(title: &str, detail: &str, code: Option<&str>) -> Reject {
    api_error(StatusCode::BAD_REQUEST, title, detail, code, None)
}

pub(super) fn unsupported_value(name: &str, raw: &str) -> Reject {
    bad_request(
        "Unsupported Filter Value",
        &format!("Value '{raw}' is not supported for filter '{name}'"),
        None,
    )
}
