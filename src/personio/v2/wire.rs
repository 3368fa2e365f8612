//! Serde shapes of Personio v2 responses. Lenient like the v1 ones: ids may come as numbers or
//! strings, optional blocks may be missing or null, and records are decoded one at a time from
//! raw JSON so that one odd record is rejected alone instead of failing its page.

use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::Value;

use crate::http::{json_text, ErrorBody};
use crate::personio::wire::lenient_opt_i64;

/// A list page: `{"_data": [...], "_meta": {"links": {"self": {"href"}, "next": {"href"}}}}`.
#[derive(Debug, Deserialize)]
pub struct Page {
    /// Required: a body without it is not a page, and reading it as empty would shorten the read.
    #[serde(rename = "_data", deserialize_with = "null_as_empty")]
    pub data: Vec<Value>,
    #[serde(rename = "_meta", default)]
    meta: Option<Value>,
}

impl Page {
    /// The next page's link, when the page names one.
    pub fn next_href(&self) -> Option<String> {
        let next = self.meta.as_ref()?.get("links")?.get("next")?;
        // Seen as `{"href": "..."}`; a bare string is read the same way.
        let href = next.get("href").unwrap_or(next).as_str()?.trim();
        (!href.is_empty()).then(|| href.to_string())
    }
}

/// `POST /v2/auth/token`'s answer.
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default, deserialize_with = "lenient_opt_i64")]
    pub expires_in: Option<i64>,
    /// Space-delimited scopes granted.
    #[serde(default)]
    pub scope: Option<String>,
}

/// `{"id": "..."}` (person, absence type); numeric ids are read as their text.
#[derive(Debug, Deserialize)]
pub struct Ref {
    #[serde(deserialize_with = "id_text")]
    pub id: String,
}

/// A period's start or end: local wall time and which half of the day it falls on.
#[derive(Debug, Deserialize)]
pub struct Boundary {
    pub date_time: String,
    /// `FIRST_HALF` | `SECOND_HALF`; absent on hour-unit periods.
    #[serde(default, rename = "type")]
    pub half: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Approval {
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Period {
    #[serde(deserialize_with = "id_text")]
    pub id: String,
    pub person: Ref,
    pub absence_type: Ref,
    pub starts_from: Boundary,
    /// `null` while a period (a long sick leave, say) has no end yet.
    #[serde(default)]
    pub ends_at: Option<Boundary>,
    #[serde(default)]
    pub approval: Option<Approval>,
}

#[derive(Debug, Deserialize)]
pub struct AbsenceType {
    #[serde(deserialize_with = "id_text")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Person {
    #[serde(deserialize_with = "id_text")]
    pub id: String,
    /// Left out without notice when the credential may not read it.
    #[serde(default)]
    pub email: Option<String>,
    /// Only for match suggestions; either may be missing.
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
}

/// One day of a period's breakdown.
#[derive(Debug, Deserialize)]
pub struct Breakdown {
    pub date: String,
    #[serde(default)]
    pub effective_duration: Option<Amount>,
}

/// How much a day takes: `{"unit": "HOUR", "value": 1.5}` (`DAY` for day-unit periods).
#[derive(Debug, Deserialize)]
pub struct Amount {
    #[serde(default)]
    pub unit: Option<String>,
    /// A number, or numeric text.
    #[serde(default)]
    pub value: Option<Value>,
}

impl Amount {
    /// The minutes it stands for, when it is a time (not a share of a day).
    pub fn minutes(&self) -> Option<i64> {
        let value = match self.value.as_ref()? {
            Value::Number(n) => n.as_f64()?,
            Value::String(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        let unit = self.unit.as_deref()?.trim().to_ascii_uppercase();
        let minutes = match unit.trim_end_matches('S') {
            "HOUR" => value * 60.0,
            "MINUTE" => value,
            _ => return None,
        };
        (minutes.is_finite() && (0.0..1e9).contains(&minutes)).then(|| minutes.round() as i64)
    }
}

#[derive(Debug, Deserialize)]
pub struct Webhook {
    #[serde(deserialize_with = "id_text")]
    pub id: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub auth_type: Option<String>,
    /// Only compared when the listing shows it.
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub enabled_events: Vec<String>,
}

/// The id of a created resource: `{"_data": {"id"}}` or `{"id"}`.
pub fn created_id(body: &Value) -> Option<String> {
    body.get("_data")
        .and_then(|d| d.get("id"))
        .or_else(|| body.get("id"))
        .and_then(json_text)
}

/// A record's id as written, for reporting a record that failed to decode.
pub fn raw_id(record: &Value) -> Option<String> {
    record.get("id").and_then(json_text)
}

/// A single resource: the bare object, or (defensively) wrapped in `_data`.
pub fn unwrap_single(body: Value) -> Value {
    match body {
        Value::Object(mut map) if map.get("_data").is_some_and(Value::is_object) => {
            map.remove("_data").unwrap_or_default()
        }
        other => other,
    }
}

/// The v2 error bodies: resources answer `{"errors": [{"title", "detail", "type"}]}`, the token
/// endpoint `{"error", "error_description"}` (OAuth2).
pub fn describe_error(json: &Value) -> Option<ErrorBody> {
    if let Some(errors) = json.get("errors").and_then(Value::as_array) {
        let texts: Vec<String> = errors
            .iter()
            .filter_map(|e| {
                let title = e.get("title").and_then(json_text);
                let detail = e.get("detail").and_then(json_text);
                match (title, detail) {
                    (Some(t), Some(d)) => Some(format!("{t}: {d}")),
                    (one, other) => one.or(other),
                }
            })
            .collect();
        if !texts.is_empty() {
            let code = errors
                .first()
                .and_then(|e| e.get("title"))
                .and_then(json_text);
            return Some(ErrorBody {
                code,
                message: texts.join("; "),
            });
        }
    }
    let code = json.get("error").and_then(json_text);
    let description = json.get("error_description").and_then(json_text);
    let message = match (&code, description) {
        (Some(c), Some(d)) => format!("{c}: {d}"),
        (Some(c), None) => c.clone(),
        (None, Some(d)) => d,
        (None, None) => return None,
    };
    Some(ErrorBody { code, message })
}

fn id_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let value = Value::deserialize(d)?;
    json_text(&value).ok_or_else(|| de::Error::custom(format!("not an id: {value}")))
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn describes_both_error_bodies() {
        let forbidden = json!({"personio_trace_id": "t", "errors": [{
            "title": "Insufficient access scope",
            "detail": "Client scope insufficient to access resource", "_meta": {}}]});
        let described = describe_error(&forbidden).unwrap();
        assert_eq!(
            described.message,
            "Insufficient access scope: Client scope insufficient to access resource"
        );
        assert_eq!(described.code.as_deref(), Some("Insufficient access scope"));
        let oauth = json!({"error": "invalid_client", "error_description": "Bad credentials."});
        assert_eq!(
            describe_error(&oauth).unwrap().message,
            "invalid_client: Bad credentials."
        );
        assert!(describe_error(&json!({"errors": []})).is_none());
        assert!(describe_error(&json!({"message": "x"})).is_none());
    }

    #[test]
    fn pages_name_their_next_link() {
        let page: Page = serde_json::from_value(json!({"_data": [],
            "_meta": {"links": {"self": {"href": "/v2/x"}, "next": {"href": " /v2/x?cursor=c "}}}}))
        .unwrap();
        assert_eq!(page.next_href().as_deref(), Some("/v2/x?cursor=c"));
        let last: Page = serde_json::from_value(
            json!({"_data": null, "_meta": {"links": {"next": {"href": ""}}}}),
        )
        .unwrap();
        assert!(last.data.is_empty() && last.next_href().is_none());
        assert!(serde_json::from_value::<Page>(json!({"data": []})).is_err());
    }

    #[test]
    fn created_ids_come_wrapped_or_bare() {
        assert_eq!(
            created_id(&json!({"_data": {"id": "w1"}})).as_deref(),
            Some("w1")
        );
        assert_eq!(created_id(&json!({"id": 7})).as_deref(), Some("7"));
        assert_eq!(created_id(&json!({})), None);
        assert_eq!(
            unwrap_single(json!({"_data": {"id": "p"}})),
            json!({"id": "p"})
        );
        assert_eq!(unwrap_single(json!({"id": "p"})), json!({"id": "p"}));
    }
}
