//! Productive's JSON:API wire format, kept apart from the domain types. Decoding is liberal where
//! the live API is known to differ from its docs: ids as strings or numbers, `availabilities` as a
//! JSON-encoded string or a native array, 7- or 14-day patterns, missing or null attributes.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::domain::{
    ApprovalStep, AvailabilityPeriod, Booking, Event, EventKind, Fetched, Person, RejectedRecord,
};
use crate::http::{json_text, ErrorBody};

/// A top-level document. `data` is kept raw so that one bad record cannot fail a whole page.
#[derive(Debug, Deserialize)]
pub struct Document {
    pub data: Value,
    #[serde(default)]
    pub meta: Option<PageMeta>,
    #[serde(default)]
    pub links: Option<Links>,
}

/// Page-based pagination meta; every member optional because cursor pages omit most of them.
#[derive(Debug, Default, Deserialize)]
pub struct PageMeta {
    #[serde(default, deserialize_with = "opt_int")]
    pub current_page: Option<i64>,
    #[serde(default, deserialize_with = "opt_int")]
    pub total_pages: Option<i64>,
    /// Records in the whole collection: what a complete read must have seen.
    #[serde(default, deserialize_with = "opt_int")]
    pub total_count: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Links {
    #[serde(default)]
    pub next: Option<String>,
}

/// One resource object.
#[derive(Debug, Deserialize)]
pub struct Resource<A> {
    #[serde(deserialize_with = "int")]
    pub id: i64,
    pub attributes: A,
    #[serde(default)]
    pub relationships: BTreeMap<String, Relationship>,
}

/// A relationship: linked (`data`), linked-but-empty (`data: null`) or a stub (`meta` only).
#[derive(Debug, Default, Deserialize)]
pub struct Relationship {
    #[serde(default)]
    pub data: Option<Linkage>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Linkage {
    One(ResourceId),
    Many(Vec<ResourceId>),
}

#[derive(Debug, Deserialize)]
pub struct ResourceId {
    #[serde(deserialize_with = "int")]
    pub id: i64,
}

impl<A> Resource<A> {
    /// The id a to-one relationship points at, when it is linked.
    pub fn related_id(&self, name: &str) -> Option<i64> {
        match self.relationships.get(name)?.data.as_ref()? {
            Linkage::One(r) => Some(r.id),
            Linkage::Many(_) => None,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct PersonAttributes {
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub deactivated_at: Option<String>,
    #[serde(default)]
    pub availabilities: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct EventAttributes {
    pub name: String,
    #[serde(default, deserialize_with = "opt_int")]
    pub event_type_id: Option<i64>,
    #[serde(default, deserialize_with = "opt_int")]
    pub limitation_type_id: Option<i64>,
    #[serde(default)]
    pub absence_type: Option<String>,
    #[serde(default)]
    pub archived_at: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct BookingAttributes {
    pub started_on: NaiveDate,
    pub ended_on: NaiveDate,
    #[serde(default, deserialize_with = "opt_int")]
    pub booking_method_id: Option<i64>,
    #[serde(default, deserialize_with = "opt_int")]
    pub time: Option<i64>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub approved: Option<bool>,
    #[serde(default)]
    pub rejected: Option<bool>,
    #[serde(default)]
    pub canceled: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct ApprovalStatusAttributes {
    #[serde(default)]
    pub approved_at: Option<String>,
    #[serde(default)]
    pub rejected_at: Option<String>,
}

/// Request body: `{"data":{"type":..,"attributes":..}}`.
#[derive(Debug, Serialize)]
pub struct Envelope<A> {
    pub data: NewResource<A>,
}

#[derive(Debug, Serialize)]
pub struct NewResource<A> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub attributes: A,
}

impl<A> Envelope<A> {
    pub fn new(kind: &'static str, attributes: A) -> Self {
        Self {
            data: NewResource { kind, attributes },
        }
    }
}

#[derive(Debug, Serialize)]
pub struct EventWrite<'a> {
    pub name: &'a str,
    pub event_type_id: i64,
    pub limitation_type_id: i64,
    pub absence_type: &'static str,
    pub half_day_bookings: bool,
}

#[derive(Debug, Serialize)]
pub struct EventRename<'a> {
    pub name: &'a str,
}

/// Flat `*_id` attributes: the live API rejects the relationships form for bookings.
/// `total_time` is never sent; the API computes it.
#[derive(Debug, Serialize)]
pub struct BookingWrite<'a> {
    pub person_id: i64,
    pub event_id: i64,
    pub started_on: NaiveDate,
    pub ended_on: NaiveDate,
    pub booking_method_id: i64,
    pub time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hours: Option<i64>,
    pub note: &'a str,
}

#[derive(Debug, Serialize)]
pub struct ApproveNote<'a> {
    pub note: &'a str,
}

/// Event type ids.
pub const EVENT_TYPE_PAID: i64 = 1;
pub const EVENT_TYPE_UNPAID: i64 = 2;
/// Limitation type "unlimited": bookings need no entitlement.
pub const LIMITATION_UNLIMITED: i64 = 4;
/// Booking method "hours per day" (`time` minutes each day).
pub const BOOKING_METHOD_PER_DAY: i64 = 1;

pub fn absence_type_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::TimeOff => "time_off",
        EventKind::RemoteWork => "remote_work",
    }
}

/// Adds a collection page's `data` to `into`: the records `convert` keeps, and the ones that
/// could not be decoded with the reason.
pub fn decode_each<A, T, K: Into<Option<T>>>(
    data: Value,
    mut convert: impl FnMut(Resource<A>) -> Result<K, String>,
    into: &mut Fetched<T>,
) -> Result<(), String>
where
    A: serde::de::DeserializeOwned,
{
    let Value::Array(items) = data else {
        return Err("`data` is not an array".to_string());
    };
    for item in items {
        let id = raw_id(&item);
        match serde_json::from_value::<Resource<A>>(item)
            .map_err(|e| e.to_string())
            .and_then(&mut convert)
        {
            Ok(kept) => into.items.extend(kept.into()),
            Err(reason) => into.rejected.push(RejectedRecord { id, reason }),
        }
    }
    Ok(())
}

/// The `id` member of a raw record, for reporting a record that could not be decoded.
fn raw_id(item: &Value) -> Option<String> {
    match item.get("id")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub fn person(r: Resource<PersonAttributes>) -> Result<Person, String> {
    let availabilities = match r.attributes.availabilities {
        None | Some(Value::Null) => Vec::new(),
        Some(raw) => parse_availabilities(raw)?,
    };
    Ok(Person {
        id: r.id,
        email: r.attributes.email.filter(|e| !e.trim().is_empty()),
        first_name: r.attributes.first_name.unwrap_or_default(),
        last_name: r.attributes.last_name.unwrap_or_default(),
        active: r.attributes.deactivated_at.is_none(),
        availabilities,
    })
}

/// `[[started_on, ended_on|null, [7 or 14 hours, Monday first], calendar_id], ...]`, either as
/// a native array or JSON-encoded in a string (the live form).
pub fn parse_availabilities(raw: Value) -> Result<Vec<AvailabilityPeriod>, String> {
    let value = match raw {
        Value::String(text) => serde_json::from_str::<Value>(&text)
            .map_err(|e| format!("availabilities is not valid JSON: {e}"))?,
        other => other,
    };
    let Value::Array(periods) = value else {
        return Err("availabilities is not an array".to_string());
    };
    periods
        .iter()
        .enumerate()
        .map(|(i, p)| parse_period(p).map_err(|e| format!("availabilities[{i}]: {e}")))
        .collect()
}

fn parse_period(period: &Value) -> Result<AvailabilityPeriod, String> {
    let tuple = period.as_array().ok_or("period is not an array")?;
    let date = |v: &Value| -> Result<NaiveDate, String> {
        v.as_str()
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .ok_or_else(|| format!("{v} is not a date"))
    };
    let start = date(tuple.first().ok_or("missing start date")?)?;
    let end = match tuple.get(1) {
        None | Some(Value::Null) => None,
        Some(v) => Some(date(v)?),
    };
    let hours = tuple
        .get(2)
        .and_then(Value::as_array)
        .ok_or("missing working hours")?
        .iter()
        .map(|h| match h {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        })
        // A day has 24 hours; "inf" or 1e300 would turn into nonsense minutes later.
        .map(|h| h.filter(|h| (0.0..=24.0).contains(h)))
        .collect::<Option<Vec<f64>>>()
        .ok_or("working hours are not all numbers from 0 to 24")?;
    if hours.len() != 7 && hours.len() != 14 {
        return Err(format!("{} working-hour entries, not 7 or 14", hours.len()));
    }
    if end.is_some_and(|end| end < start) {
        return Err("period ends before it starts".to_string());
    }
    Ok(AvailabilityPeriod { start, end, hours })
}

pub fn event(r: Resource<EventAttributes>) -> Result<Event, String> {
    let kind = match r.attributes.absence_type.as_deref() {
        // Older events and some fixtures omit it; time off is the API's default.
        None | Some("time_off") => EventKind::TimeOff,
        Some("remote_work") => EventKind::RemoteWork,
        Some(other) => return Err(format!("unknown absence_type {other:?}")),
    };
    Ok(Event {
        id: r.id,
        name: r.attributes.name,
        kind,
        paid: r.attributes.event_type_id == Some(EVENT_TYPE_PAID),
        limited: matches!(r.attributes.limitation_type_id, Some(2 | 3)),
        archived: r.attributes.archived_at.is_some(),
    })
}

/// `fallback_person` covers responses whose `person` relationship is a stub (no include).
pub fn booking(
    r: Resource<BookingAttributes>,
    fallback_person: Option<i64>,
) -> Result<Booking, String> {
    let person_id = r
        .related_id("person")
        .or(fallback_person)
        .ok_or("person relationship has no id (was include=person sent?)")?;
    let a = &r.attributes;
    let per_day = a
        .booking_method_id
        .is_none_or(|m| m == BOOKING_METHOD_PER_DAY);
    Ok(Booking {
        id: r.id,
        person_id,
        event_id: r.related_id("event"),
        started_on: a.started_on,
        ended_on: a.ended_on,
        minutes_per_day: a.time.filter(|_| per_day),
        note: a.note.clone(),
        approved: a.approved.unwrap_or(false),
        rejected: a.rejected.unwrap_or(false),
        canceled: a.canceled.unwrap_or(false),
    })
}

pub fn approval_step(r: Resource<ApprovalStatusAttributes>) -> Result<ApprovalStep, String> {
    Ok(ApprovalStep {
        id: r.id,
        booking_id: r.related_id("booking"),
        approved: r.attributes.approved_at.is_some(),
        rejected: r.attributes.rejected_at.is_some(),
    })
}

/// An integer sent as a number or a numeric string.
fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    opt_int(d)?.ok_or_else(|| D::Error::custom("expected an integer, got null"))
}

fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("{n} is not an integer"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("{s:?} is not an integer"))),
        Some(other) => Err(D::Error::custom(format!("{other} is not an integer"))),
    }
}

/// The JSON:API error document, `{"errors": [{"code", "title", "detail", "source": {"pointer"}}]}`:
/// one line per error, and the first machine-readable code.
pub fn describe_error(json: &Value) -> Option<ErrorBody> {
    let errors = json.get("errors")?.as_array()?;
    let code = errors
        .iter()
        .find_map(|e| e.get("code").and_then(json_text));
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            let title = e.get("title").and_then(json_text);
            let detail = e.get("detail").and_then(json_text);
            let pointer = e
                .get("source")
                .and_then(|s| s.get("pointer"))
                .and_then(json_text);
            let mut line = [title, detail]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            if let Some(pointer) = pointer {
                line.push_str(&format!(" ({pointer})"));
            }
            line
        })
        .filter(|l| !l.is_empty())
        .collect();
    (!parts.is_empty()).then(|| ErrorBody {
        code,
        message: parts.join("; "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ApiError;

    #[test]
    fn describes_errors_with_code_and_pointer() {
        let body = br#"{"errors":[{"status":"422","code":"entitlements_required","title":"Invalid Attribute","detail":"has no allowance for this person","source":{"pointer":"data/attributes/event"}}]}"#;
        let err = crate::http::status_error(
            "productive",
            describe_error,
            reqwest::StatusCode::UNPROCESSABLE_ENTITY,
            body,
        );
        assert!(
            matches!(&err, ApiError::Status { code: Some(code), .. } if code == "entitlements_required"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "productive: HTTP 422: Invalid Attribute: has no allowance for this person (data/attributes/event)"
        );
    }

    mod properties {
        use proptest::prelude::*;
        use serde_json::{json, Value};

        use super::super::*;
        use crate::http::arb;

        fn person_template() -> Value {
            json!({"id": "1", "type": "people", "attributes": {
                "first_name": "A", "last_name": "B", "email": "a@example.test",
                "deactivated_at": null,
                "availabilities": [["2022-01-01", null, [8, 8, 8, 8, 8, 0, 0], 1],
                    ["2023-01-01", "2023-12-31", ["8", 8, 8, 8, 8, 0, 0, 8, 8, 8, 8, 8, 0, 0], 1]]}})
        }

        fn event_template() -> Value {
            json!({"id": 2, "type": "events", "attributes": {
                "name": "Vacation", "event_type_id": 1, "limitation_type_id": "4",
                "absence_type": "time_off", "archived_at": null}})
        }

        fn booking_template() -> Value {
            json!({"id": "3", "type": "bookings", "attributes": {
                "started_on": "2022-12-01", "ended_on": "2022-12-02", "booking_method_id": 2,
                "time": 480, "note": "n", "approved": true, "rejected": false, "canceled": false},
                "relationships": {"person": {"data": {"type": "people", "id": "1"}},
                    "event": {"data": {"type": "events", "id": 2}}}})
        }

        fn approval_step_template() -> Value {
            json!({"id": 4, "type": "approval_statuses",
                "attributes": {"approved_at": "2022-12-01T10:00:00Z", "rejected_at": null},
                "relationships": {"booking": {"data": {"type": "bookings", "id": "3"}}}})
        }

        fn document_template() -> Value {
            json!({"data": [booking_template()], "meta": {"current_page": 1, "total_pages": "2"},
                "links": {"next": "https://api.example.test/api/v2/bookings?page[number]=2"}})
        }

        /// Reads `value` as a page of every resource kind and as a document, and the
        /// availabilities of any person: an error or a rejected record is fine, a panic is not.
        fn decode_everything(value: &Value) {
            let page = Value::Array(vec![value.clone()]);
            drop(decode_each(page.clone(), person, &mut Fetched::default()));
            drop(decode_each(page.clone(), event, &mut Fetched::default()));
            drop(decode_each(
                page.clone(),
                |r| booking(r, Some(1)),
                &mut Fetched::default(),
            ));
            drop(decode_each(page, approval_step, &mut Fetched::default()));
            drop(decode_each(value.clone(), event, &mut Fetched::default()));
            drop(serde_json::from_value::<Document>(value.clone()));
            if let Some(raw) = value.pointer("/attributes/availabilities") {
                drop(parse_availabilities(raw.clone()));
            }
            drop(parse_availabilities(value.clone()));
            drop(describe_error(value));
        }

        proptest! {
            #[test]
            fn any_json_decodes_or_fails_cleanly(value in arb::json()) {
                decode_everything(&value);
            }

            #[test]
            fn any_mutated_record_decodes_or_fails_cleanly(
                value in prop_oneof![
                    arb::mutated(&person_template()),
                    arb::mutated(&event_template()),
                    arb::mutated(&booking_template()),
                    arb::mutated(&approval_step_template()),
                    arb::mutated(&document_template()),
                    arb::mutated(&json!({"errors": [{"code": "c", "title": "t", "detail": "d",
                        "source": {"pointer": "p"}}]})),
                ]
            ) {
                decode_everything(&value);
            }

            /// The live form: availabilities JSON-encoded in a string, hours of any size.
            #[test]
            fn any_working_hours_read_or_fail_cleanly(
                hours in proptest::collection::vec(any::<f64>(), 0..16),
                text in "\\PC{0,10}",
            ) {
                let numbers: Vec<Value> = hours.iter().map(|h| json!(h)).collect();
                let periods = json!([["2022-01-01", null, numbers], ["2022-01-01", null, [text]]]);
                if let Ok(parsed) = parse_availabilities(Value::String(periods.to_string())) {
                    for period in parsed {
                        prop_assert!(period.hours.iter().all(|h| h.is_finite() && (0.0..=24.0).contains(h)));
                    }
                }
            }
        }
    }
}
