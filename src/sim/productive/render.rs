//! JSON:API rendering shared by the resources: linkage and stub relationships, the top-level
//! `included` list and the single-resource answer.

use std::collections::HashSet;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// Shown as `deactivated_at` / `archived_at`; the exact moment never matters to a client.
pub(super) const PAST_TIMESTAMP: &str = "2025-01-23T16:55:42.994+01:00";

/// Top-level `included`, each resource once.
#[derive(Default)]
pub(super) struct Included {
    seen: HashSet<(&'static str, i64)>,
    items: Vec<Value>,
}

impl Included {
    pub(super) fn add(&mut self, kind: &'static str, id: i64, render: impl FnOnce() -> Value) {
        if self.seen.insert((kind, id)) {
            self.items.push(render());
        }
    }

    /// Sets `body.included`, unless nothing was included.
    pub(super) fn attach(self, body: &mut Value) {
        if !self.items.is_empty() {
            body["included"] = Value::Array(self.items);
        }
    }
}

pub(super) fn single(data: Value, included: Included, status: StatusCode) -> Response {
    let mut body = json!({ "data": data, "meta": {} });
    included.attach(&mut body);
    (status, Json(body)).into_response()
}

/// The host the request came to, for absolute links.
pub(super) fn host(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string()
}

pub(super) fn linkage(kind: &str, id: i64) -> Value {
    json!({ "data": { "type": kind, "id": id.to_string() } })
}

/// A relationship that was not included: Productive sends no linkage then.
pub(super) fn stub() -> Value {
    json!({ "meta": { "included": false } })
}
