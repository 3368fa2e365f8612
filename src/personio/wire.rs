//! Serde shapes of Personio v1 responses. Deliberately lenient: real responses differ from the
//! documentation (integer half-day flags, numbers as strings, missing blocks), and one odd record
//! must not fail a whole page, so records are decoded one by one from raw JSON values.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::Value;

use crate::http::{json_text, ErrorBody};

/// A list response: `{"success", "metadata", "data": [...], "offset", "limit"}`. The envelope's
/// `offset` and `limit` only echo the request, so they are not read.
#[derive(Debug, Deserialize)]
pub struct ListEnvelope {
    /// Raw records, decoded one at a time so a bad one can be rejected alone.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub data: Vec<Value>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// A single-record response: `{"success", "data": {...}}`; the record is decoded on its own so
/// that a bad one is reported, not fatal.
#[derive(Debug, Deserialize)]
pub struct Single {
    pub data: Value,
}

#[derive(Debug, Default, Deserialize)]
pub struct Metadata {
    #[serde(default, deserialize_with = "lenient_opt_i64")]
    pub total_elements: Option<i64>,
    /// 1-based for time-offs and absence-periods, 0-based for employees.
    #[serde(default, deserialize_with = "lenient_opt_i64")]
    pub current_page: Option<i64>,
    #[serde(default, deserialize_with = "lenient_opt_i64")]
    pub total_pages: Option<i64>,
}

/// `{"success": true, "data": {"token", "expires_in", "scope"}}`.
#[derive(Debug, Deserialize)]
pub struct AuthEnvelope {
    pub data: AuthData,
}

#[derive(Debug, Deserialize)]
pub struct AuthData {
    pub token: String,
    #[serde(default, deserialize_with = "lenient_opt_i64")]
    pub expires_in: Option<i64>,
}

/// Assumed when a token comes without a lifetime, and the most any lifetime is believed.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// How long after it was issued a token is renewed: a little before it expires, so that it does
/// not expire between check and use. A missing, zero or negative `expires_in` counts as a day; a
/// huge one is clamped to a day, so adding it to an `Instant` cannot overflow.
pub fn token_renewal(expires_in: Option<i64>) -> Duration {
    let lifetime = expires_in
        .filter(|s| *s > 0)
        .map_or(MAX_TOKEN_LIFETIME, |s| {
            Duration::from_secs(s.unsigned_abs()).min(MAX_TOKEN_LIFETIME)
        });
    lifetime - (lifetime / 10).min(Duration::from_secs(60))
}

/// `{"type": "...", "attributes": {...}}`, the wrapper around every v1 object.
#[derive(Debug, Deserialize)]
pub struct Item<A> {
    pub attributes: A,
}

/// An employee attribute object: `{"label", "value", "type", "universal_id"}`.
#[derive(Debug, Deserialize)]
pub struct Attr<T> {
    pub value: T,
}

#[derive(Debug, Deserialize)]
pub struct TimeOffType {
    #[serde(deserialize_with = "lenient_i64")]
    pub id: i64,
    pub name: String,
    /// The API v2 id (a UUID); absent from older payloads.
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub id_v2: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    /// Missing in older responses, which only listed day types.
    #[serde(default)]
    pub unit: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct TimeOffTypeRef {
    #[serde(deserialize_with = "lenient_i64")]
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
}

/// The four attributes embedded in time-offs and absence-periods (whitelisting may drop email).
#[derive(Debug, Deserialize)]
pub struct EmployeeRef {
    pub id: Attr<LenientI64>,
    #[serde(default)]
    pub email: Option<Attr<Option<String>>>,
    /// Kept loose (any JSON): a name only feeds match suggestions and never rejects a record.
    #[serde(default)]
    pub first_name: Option<Value>,
    #[serde(default)]
    pub last_name: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct TimeOff {
    #[serde(deserialize_with = "lenient_i64")]
    pub id: i64,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub id_v2: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    pub start_date: String,
    pub end_date: String,
    #[serde(default)]
    pub half_day_start: FlexBool,
    #[serde(default)]
    pub half_day_end: FlexBool,
    pub time_off_type: Item<TimeOffTypeRef>,
    pub employee: Item<EmployeeRef>,
}

#[derive(Debug, Deserialize)]
pub struct AbsenceTypeRef {
    #[serde(default)]
    pub name: Option<String>,
    /// The v1 time-off type's number (the type's own `id` here is its v2 UUID).
    #[serde(default, deserialize_with = "lenient_opt_i64")]
    pub time_off_type_id: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct Breakdown {
    pub date: NaiveDate,
    /// Minutes; a number or numeric text, fractions rounded.
    #[serde(default, deserialize_with = "lenient_opt_minutes")]
    pub effective_duration: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct HourlyPeriod {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    pub start: DateTime<Utc>,
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub breakdowns: Vec<Breakdown>,
    pub absence_type: Item<AbsenceTypeRef>,
    pub employee: Item<EmployeeRef>,
}

/// A boolean Personio may send as `true`, `1`, `"true"` or `"1"` (and `null` for false).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FlexBool(pub bool);

impl<'de> Deserialize<'de> for FlexBool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let flag = match &value {
            Value::Null => Some(false),
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_i64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Some(true),
                "false" | "0" | "" => Some(false),
                _ => None,
            },
            _ => None,
        };
        flag.map(FlexBool)
            .ok_or_else(|| de::Error::custom(format!("not a boolean flag: {value}")))
    }
}

/// An integer Personio may send as a number or a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LenientI64(pub i64);

impl<'de> Deserialize<'de> for LenientI64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        as_i64(&value)
            .map(LenientI64)
            .ok_or_else(|| de::Error::custom(format!("not an integer: {value}")))
    }
}

fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|x| x.fract() == 0.0).map(|x| x as i64)),
        // The official example even writes a number as `"0,"`.
        Value::String(s) => s.trim().trim_end_matches(',').trim().parse().ok(),
        _ => None,
    }
}

fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    LenientI64::deserialize(d).map(|v| v.0)
}

pub(crate) fn lenient_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    // Envelope numbers only steer paging, so an unreadable one is treated as absent.
    Ok(as_i64(&Value::deserialize(d)?))
}

/// A number of minutes, or nothing when the field holds anything else (or a negative amount).
fn lenient_opt_minutes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let minutes = match Value::deserialize(d)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    Ok(minutes
        .filter(|m| m.is_finite() && (0.0..1e9).contains(m))
        .map(|m| m.round() as i64))
}

/// A text id, or nothing when the field holds anything else (it only helps find a record).
fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    })
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// The calendar date of a v1 local date-time (`2022-12-01T00:00:00+02:00`, `...+0100`, or a plain
/// date) exactly as written: converting to UTC would move local midnights to the previous day.
pub fn local_date(raw: &str) -> Result<NaiveDate, String> {
    let raw = raw.trim();
    let date_part = raw.split(['T', ' ']).next().unwrap_or(raw);
    NaiveDate::parse_from_str(date_part, "%Y-%m-%d").map_err(|_| format!("unreadable date {raw:?}"))
}

/// The record's id as written, for reporting a record that failed to decode.
pub fn raw_id(record: &Value) -> Option<String> {
    let id = record.get("attributes")?.get("id")?;
    let id = id.get("value").unwrap_or(id);
    match id {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The v1 error envelope, `{"success": false, "error": {"code", "message"}}` (`error` may also be
/// a plain string), or a bare `{"message"}`. `error.code` is often 0, so it is not kept.
pub fn describe_error(json: &Value) -> Option<ErrorBody> {
    let error = json.get("error");
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(json_text)
        .or_else(|| error.and_then(json_text))
        .or_else(|| json.get("message").and_then(json_text))?;
    Some(ErrorBody {
        code: None,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_v1_errors() {
        let body = br#"{"success":false,"error":{"code":0,"message":"Time-off type not found."}}"#;
        let err = crate::http::status_error(
            "personio",
            describe_error,
            reqwest::StatusCode::NOT_FOUND,
            body,
        );
        assert_eq!(
            err.to_string(),
            "personio: HTTP 404: Time-off type not found."
        );
        assert!(!err.is_transient());
    }

    #[test]
    fn flags_accept_every_spelling() {
        for (raw, expected) in [
            ("0", false),
            ("1", true),
            ("true", true),
            ("false", false),
            ("\"true\"", true),
            ("\"false\"", false),
            ("\"1\"", true),
            ("\"0\"", false),
            ("null", false),
        ] {
            let flag: FlexBool = serde_json::from_str(raw).unwrap();
            assert_eq!(flag.0, expected, "{raw}");
        }
        assert!(serde_json::from_str::<FlexBool>("2").is_err());
        assert!(serde_json::from_str::<FlexBool>("\"yes please\"").is_err());
    }

    #[test]
    fn dates_are_read_as_written() {
        let d = |s| local_date(s).unwrap();
        let expected = NaiveDate::from_ymd_opt(2022, 12, 1).unwrap();
        assert_eq!(d("2022-12-01T00:00:00+02:00"), expected);
        assert_eq!(d("2022-12-01T00:00:00+0100"), expected);
        assert_eq!(d("2022-12-01"), expected);
        assert!(local_date("01.12.2022").is_err());
    }

    #[test]
    fn envelope_numbers_may_be_strings() {
        let env: ListEnvelope = serde_json::from_str(
            r#"{"success":true,"data":null,"offset":"0,","limit":"200","metadata":{"total_elements":"0,","current_page":"2","total_pages":3}}"#,
        )
        .unwrap();
        assert!(env.data.is_empty());
        let meta = env.metadata.unwrap();
        assert_eq!(meta.total_elements, Some(0));
        assert_eq!((meta.current_page, meta.total_pages), (Some(2), Some(3)));
    }

    #[test]
    fn token_lifetimes_are_clamped() {
        let day = MAX_TOKEN_LIFETIME;
        assert_eq!(token_renewal(Some(86400)), day - Duration::from_secs(60));
        assert_eq!(token_renewal(Some(100)), Duration::from_secs(90));
        for odd in [None, Some(0), Some(-5), Some(i64::MIN), Some(i64::MAX)] {
            assert_eq!(token_renewal(odd), day - Duration::from_secs(60), "{odd:?}");
        }
    }

    mod properties {
        use proptest::prelude::*;
        use serde_json::{json, Value};

        use super::super::*;
        use crate::http::arb;

        fn time_off() -> Value {
            json!({"type": "TimeOffPeriod", "attributes": {
                "id": 1, "status": "approved",
                "start_date": "2022-12-01T00:00:00+01:00", "end_date": "2022-12-02",
                "half_day_start": 0, "half_day_end": "1",
                "time_off_type": {"type": "TimeOffType", "attributes": {"id": "5", "name": "Vacation"}},
                "employee": {"type": "Employee", "attributes": {
                    "id": {"label": "ID", "value": 7},
                    "email": {"label": "Email", "value": "a@example.test"}}}}})
        }

        fn hourly() -> Value {
            json!({"type": "AbsencePeriod", "attributes": {
                "id": "abc", "status": "approved",
                "start": "2022-12-01T09:00:00Z", "end": "2022-12-01T11:00:00Z",
                "breakdowns": [{"date": "2022-12-01"}],
                "absence_type": {"type": "AbsenceType", "attributes": {"name": "Doctor"}},
                "employee": {"type": "Employee", "attributes": {"id": {"value": "7"}}}}})
        }

        fn employee() -> Value {
            json!({"type": "Employee", "attributes": {
                "id": {"value": 7}, "email": {"value": "a@example.test"},
                "status": {"value": "active"}}})
        }

        fn envelope() -> Value {
            json!({"success": true, "data": [employee()], "offset": "0,", "limit": 200,
                "metadata": {"total_elements": 1, "current_page": 1, "total_pages": 1}})
        }

        /// Decodes `record` as everything a Personio record or envelope may be read as, and
        /// runs every helper over what decodes: an error is fine, a panic is not.
        fn decode_everything(record: &Value) {
            if let Ok(item) = serde_json::from_value::<Item<TimeOff>>(record.clone()) {
                drop(local_date(&item.attributes.start_date));
                drop(local_date(&item.attributes.end_date));
            }
            drop(serde_json::from_value::<Item<HourlyPeriod>>(record.clone()));
            drop(serde_json::from_value::<Item<TimeOffType>>(record.clone()));
            drop(serde_json::from_value::<ListEnvelope>(record.clone()));
            if let Ok(auth) = serde_json::from_value::<AuthEnvelope>(record.clone()) {
                let renewal = token_renewal(auth.data.expires_in);
                assert!(renewal <= MAX_TOKEN_LIFETIME);
                let _ = tokio::time::Instant::now() + renewal;
            }
            drop(raw_id(record));
            drop(describe_error(record));
        }

        proptest! {
            #[test]
            fn any_json_decodes_or_fails_cleanly(value in arb::json()) {
                decode_everything(&value);
            }

            #[test]
            fn any_mutated_record_decodes_or_fails_cleanly(
                value in prop_oneof![
                    arb::mutated(&time_off()),
                    arb::mutated(&hourly()),
                    arb::mutated(&employee()),
                    arb::mutated(&envelope()),
                    arb::mutated(&json!({"success": true, "data": {"token": "t", "expires_in": 86400}})),
                ]
            ) {
                decode_everything(&value);
            }

            #[test]
            fn any_date_text_reads_or_fails_cleanly(raw in "\\PC{0,40}") {
                drop(local_date(&raw));
            }

            #[test]
            fn any_token_lifetime_is_clamped(expires_in in any::<Option<i64>>()) {
                let renewal = token_renewal(expires_in);
                prop_assert!(renewal <= MAX_TOKEN_LIFETIME);
                if let Some(secs) = expires_in.filter(|s| *s > 0) {
                    prop_assert!(renewal < Duration::from_secs(secs.unsigned_abs()));
                }
            }
        }
    }
}
