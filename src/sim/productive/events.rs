//! `events` (absence categories): listed, created, edited, archived, restored and deleted, with
//! the validation rules of the live API.

use std::collections::{BTreeMap, HashSet};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::body::{parse_body, Body};
use super::error::{api_error, invalid, not_found, unsupported_value, Reject};
use super::model::{Db, SimEvent};
use super::query::{Accepts, ListQuery};
use super::render::{linkage, single, Included, PAST_TIMESTAMP};
use super::resource::{path_id, Resource};
use super::ProductiveSim;
use crate::domain::EventKind;

pub(super) struct Events;

pub(super) struct EventFilter {
    ids: Option<HashSet<i64>>,
    archived: Option<bool>,
    name: Option<String>,
    absence_type: Option<String>,
}

impl Resource for Events {
    type Item = SimEvent;
    type Filter = EventFilter;
    const PATH: &'static str = "events";
    const ACCEPTS: Accepts = Accepts {
        filters: &["id", "status", "name", "absence_type"],
        includes: &[],
        sorts: &["id", "name"],
    };
    const SINGLE_READS_QUERY: bool = false;

    fn table(db: &Db) -> &BTreeMap<i64, SimEvent> {
        &db.events
    }

    fn filter(query: &ListQuery) -> Result<EventFilter, Reject> {
        let ids = query.ids("id")?;
        let archived = match query.filters.get("status").map(String::as_str) {
            None => None,
            Some("1") => Some(false),
            Some("2") => Some(true),
            Some(other) => return Err(unsupported_value("status", other)),
        };
        Ok(EventFilter {
            ids,
            archived,
            name: query.filters.get("name").cloned(),
            absence_type: query.filters.get("absence_type").cloned(),
        })
    }

    fn keeps(f: &EventFilter, id: i64, e: &SimEvent) -> bool {
        f.ids.as_ref().is_none_or(|ids| ids.contains(&id))
            && f.archived.is_none_or(|a| e.archived == a)
            && f.name.as_ref().is_none_or(|n| e.name == *n)
            && f.absence_type
                .as_ref()
                .is_none_or(|t| absence_type_name(e.kind) == t)
    }

    fn sort(field: &str, matching: &mut [(i64, &SimEvent)]) {
        if field == "name" {
            matching.sort_by(|a, b| a.1.name.cmp(&b.1.name).then(a.0.cmp(&b.0)));
        }
    }

    fn render(db: &Db, id: i64, e: &SimEvent, _: &ListQuery, _: &mut Included) -> Value {
        render_event(db.org, id, e)
    }
}

fn absence_type_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::TimeOff => "time_off",
        EventKind::RemoteWork => "remote_work",
    }
}

pub(super) fn render_event(org: i64, id: i64, e: &SimEvent) -> Value {
    json!({
        "id": id.to_string(),
        "type": "events",
        "attributes": {
            "name": e.name,
            "event_type_id": if e.paid { 1 } else { 2 },
            "limitation_type_id": e.limitation_type_id,
            "absence_type": absence_type_name(e.kind),
            "half_day_bookings": e.half_day_bookings,
            "archived_at": e.archived.then_some(PAST_TIMESTAMP),
            "icon_id": "icon-airplane",
            "color_id": "4",
            "description": null,
            "sync_personal_integrations": false,
        },
        "relationships": {
            "organization": linkage("organizations", org),
        }
    })
}

/// Applies an event create/update body; `creating` makes the required attributes required.
fn write_event(mut event: SimEvent, body: &Body, creating: bool) -> Result<SimEvent, Reject> {
    if let Some(name) = body.text("name") {
        event.name = name.unwrap_or_default();
    }
    if event.name.trim().is_empty() {
        return Err(invalid("data/attributes/name", "can't be blank"));
    }
    match body.int("event_type_id")? {
        Some(1) => event.paid = true,
        Some(2) => event.paid = false,
        Some(_) => {
            return Err(invalid(
                "data/attributes/event_type_id",
                "is not included in the list",
            ))
        }
        None if creating => return Err(invalid("data/attributes/event_type_id", "can't be blank")),
        None => {}
    }
    match body.int("limitation_type_id")? {
        Some(id @ 2..=4) => event.limitation_type_id = id,
        Some(_) => {
            return Err(invalid(
                "data/attributes/limitation_type_id",
                "is not included in the list",
            ))
        }
        None if creating => {
            return Err(invalid(
                "data/attributes/limitation_type_id",
                "can't be blank",
            ))
        }
        None => {}
    }
    match body.text("absence_type").flatten().as_deref() {
        None => {}
        Some("time_off") => event.kind = EventKind::TimeOff,
        Some("remote_work") => event.kind = EventKind::RemoteWork,
        Some(_) => {
            return Err(invalid(
                "data/attributes/absence_type",
                "is not included in the list",
            ))
        }
    }
    if let Some(half) = body.flag("half_day_bookings") {
        event.half_day_bookings = half;
    }
    if event.kind == EventKind::RemoteWork && event.paid {
        return Err(invalid(
            "data/attributes/event_type_id",
            "must be unpaid for remote work absence",
        ));
    }
    Ok(event)
}

pub(super) async fn create(
    State(sim): State<ProductiveSim>,
    bytes: Bytes,
) -> Result<Response, Reject> {
    let body = parse_body(&bytes)?;
    let blank = SimEvent {
        name: String::new(),
        paid: false,
        kind: EventKind::TimeOff,
        limitation_type_id: 4,
        half_day_bookings: false,
        archived: false,
    };
    let event = write_event(blank, &body, true)?;
    let mut db = sim.db();
    let id = db.id();
    let data = render_event(db.org, id, &event);
    db.events.insert(id, event);
    Ok(single(data, Included::default(), StatusCode::CREATED))
}

pub(super) async fn update(
    State(sim): State<ProductiveSim>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, Reject> {
    let id = path_id(&id)?;
    let body = parse_body(&bytes)?;
    let mut db = sim.db();
    let current = db.events.get(&id).ok_or_else(not_found)?.clone();
    let event = write_event(current, &body, false)?;
    let data = render_event(db.org, id, &event);
    db.events.insert(id, event);
    Ok(single(data, Included::default(), StatusCode::OK))
}

fn set_archived(sim: &ProductiveSim, id: &str, archived: bool) -> Result<Response, Reject> {
    let id = path_id(id)?;
    let mut db = sim.db();
    let org = db.org;
    let event = db.events.get_mut(&id).ok_or_else(not_found)?;
    event.archived = archived;
    Ok(single(
        render_event(org, id, event),
        Included::default(),
        StatusCode::OK,
    ))
}

pub(super) async fn archive(
    State(sim): State<ProductiveSim>,
    Path(id): Path<String>,
) -> Result<Response, Reject> {
    set_archived(&sim, &id, true)
}

pub(super) async fn restore(
    State(sim): State<ProductiveSim>,
    Path(id): Path<String>,
) -> Result<Response, Reject> {
    set_archived(&sim, &id, false)
}

pub(super) async fn delete(
    State(sim): State<ProductiveSim>,
    Path(id): Path<String>,
) -> Result<Response, Reject> {
    let id = path_id(&id)?;
    let mut db = sim.db();
    let event = db.events.get(&id).ok_or_else(not_found)?;
    if !event.archived {
        return Err(api_error(
            StatusCode::CONFLICT,
            "Conflict",
            "Record must be archived before it can be deleted",
            Some("record_not_archived"),
            None,
        ));
    }
    db.events.remove(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}
