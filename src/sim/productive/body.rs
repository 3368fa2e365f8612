//! Write bodies: JSON:API `data.attributes` and `data.relationships`, read leniently the way
//! the live API does (numbers may come as strings).

use axum::body::Bytes;
use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::error::{bad_request, invalid, Reject};

pub(super) struct Body {
    attributes: Map<String, Value>,
    relationships: Value,
}

pub(super) fn parse_body(bytes: &Bytes) -> Result<Body, Reject> {
    if bytes.is_empty() {
        return Ok(Body {
            attributes: Map::new(),
            relationships: Value::Null,
        });
    }
    let doc: Value = serde_json::from_slice(bytes)
        .map_err(|_| bad_request("Bad Request", "The request body is not valid JSON", None))?;
    Ok(Body {
        attributes: doc
            .pointer("/data/attributes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        relationships: doc
            .pointer("/data/relationships")
            .cloned()
            .unwrap_or(Value::Null),
    })
}

impl Body {
    pub(super) fn int(&self, name: &str) -> Result<Option<i64>, Reject> {
        match self.attributes.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(Value::Number(n)) => n.as_i64().map(Some),
            Some(Value::String(s)) => s.trim().parse().ok().map(Some),
            Some(_) => None,
        }
        .ok_or_else(|| invalid(&format!("data/attributes/{name}"), "is not a number"))
    }

    pub(super) fn date(&self, name: &str) -> Result<Option<NaiveDate>, Reject> {
        match self.attributes.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| invalid(&format!("data/attributes/{name}"), "is not a date")),
            Some(_) => Err(invalid(&format!("data/attributes/{name}"), "is not a date")),
        }
    }

    pub(super) fn text(&self, name: &str) -> Option<Option<String>> {
        match self.attributes.get(name)? {
            Value::Null => Some(None),
            Value::String(s) => Some(Some(s.clone())),
            other => Some(Some(other.to_string())),
        }
    }

    pub(super) fn flag(&self, name: &str) -> Option<bool> {
        self.attributes.get(name)?.as_bool()
    }

    /// `relationships.<name>.data.id`.
    pub(super) fn related(&self, name: &str) -> Option<i64> {
        match self.relationships.pointer(&format!("/{name}/data/id"))? {
            Value::String(s) => s.parse().ok(),
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }
}
