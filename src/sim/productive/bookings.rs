//! `bookings`: absence bookings (with an event) and budget bookings (with a service), written
//! with flat `*_id` attributes; totals are computed from the person's availability and bookings
//! of people with an approval policy wait for approval.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde_json::{json, Value};

use super::approvals::render_approval;
use super::body::{parse_body, Body};
use super::error::{api_error, invalid, not_found, Reject};
use super::events::render_event;
use super::model::{compute_totals, now, Db, SimApproval, SimBooking};
use super::people::render_person;
use super::query::{parse_query, Accepts, ListQuery};
use super::render::{linkage, single, stub, Included};
use super::resource::{path_id, Resource};
use super::ProductiveSim;

pub(super) struct Bookings;

pub(super) struct BookingFilter {
    ids: Option<HashSet<i64>>,
    people: Option<HashSet<i64>>,
    events: Option<HashSet<i64>>,
    after: Option<NaiveDate>,
    before: Option<NaiveDate>,
}

impl Resource for Bookings {
    type Item = SimBooking;
    type Filter = BookingFilter;
    const PATH: &'static str = "bookings";
    const ACCEPTS: Accepts = Accepts {
        // `booking_type` is documented but inert on the live API: accepted and ignored here too.
        filters: &[
            "id",
            "person_id",
            "event_id",
            "after",
            "before",
            "booking_type",
        ],
        includes: &["person", "event", "service", "approval_statuses"],
        sorts: &["id", "started_on"],
    };
    const SINGLE_READS_QUERY: bool = true;

    fn table(db: &Db) -> &BTreeMap<i64, SimBooking> {
        &db.bookings
    }

    fn filter(query: &ListQuery) -> Result<BookingFilter, Reject> {
        Ok(BookingFilter {
            ids: query.ids("id")?,
            people: query.ids("person_id")?,
            events: query.ids("event_id")?,
            after: query.date("after")?,
            before: query.date("before")?,
        })
    }

    fn keeps(f: &BookingFilter, id: i64, b: &SimBooking) -> bool {
        f.ids.as_ref().is_none_or(|ids| ids.contains(&id))
            && f.people.as_ref().is_none_or(|p| p.contains(&b.person_id))
            && f.events
                .as_ref()
                .is_none_or(|e| b.event_id.is_some_and(|id| e.contains(&id)))
            // Overlap, not containment: a long booking shows up in a short window.
            && f.after.is_none_or(|after| b.ended_on >= after)
            && f.before.is_none_or(|before| b.started_on <= before)
    }

    fn sort(field: &str, matching: &mut [(i64, &SimBooking)]) {
        if field == "started_on" {
            matching.sort_by_key(|(id, b)| (b.started_on, *id));
        }
    }

    fn render(db: &Db, id: i64, b: &SimBooking, query: &ListQuery, inc: &mut Included) -> Value {
        render_booking(db, id, b, query, inc)
    }
}

pub(super) fn render_booking(
    db: &Db,
    id: i64,
    b: &SimBooking,
    query: &ListQuery,
    inc: &mut Included,
) -> Value {
    let person = if query.includes("person") {
        if let Some(p) = db.people.get(&b.person_id) {
            inc.add("people", b.person_id, || {
                render_person(db.org, b.person_id, p)
            });
        }
        linkage("people", b.person_id)
    } else {
        stub()
    };
    let event = if query.includes("event") {
        match b.event_id {
            Some(event_id) => {
                if let Some(e) = db.events.get(&event_id) {
                    inc.add("events", event_id, || render_event(db.org, event_id, e));
                }
                linkage("events", event_id)
            }
            None => json!({ "data": null }),
        }
    } else {
        stub()
    };
    let service = if query.includes("service") {
        match b.service_id {
            Some(service_id) => {
                inc.add("services", service_id, || {
                    json!({ "id": service_id.to_string(), "type": "services",
                            "attributes": { "name": format!("Service {service_id}") } })
                });
                linkage("services", service_id)
            }
            None => json!({ "data": null }),
        }
    } else {
        stub()
    };
    let approvals: Vec<(i64, &SimApproval)> = db
        .approvals
        .iter()
        .filter(|(_, a)| a.booking_id == id)
        .map(|(aid, a)| (*aid, a))
        .collect();
    let approval_statuses = if query.includes("approval_statuses") {
        for (aid, a) in &approvals {
            inc.add("approval_statuses", *aid, || {
                render_approval(db, *aid, a, &ListQuery::none(), &mut Included::default())
            });
        }
        json!({ "data": approvals.iter().map(|(aid, _)| json!({"type": "approval_statuses", "id": aid.to_string()})).collect::<Vec<_>>() })
    } else {
        stub()
    };
    json!({
        "id": id.to_string(),
        "type": "bookings",
        "attributes": {
            "hours": b.hours,
            "time": b.time,
            "started_on": b.started_on.to_string(),
            "ended_on": b.ended_on.to_string(),
            "note": b.note,
            "total_time": b.total_time,
            "total_working_days": b.total_working_days,
            "percentage": b.percentage,
            "created_at": b.created_at,
            "updated_at": b.created_at,
            "people_custom_fields": {},
            "approved": b.approved,
            "approved_at": b.approved.then(|| b.created_at.clone()),
            "rejected": b.rejected,
            "rejected_reason": null,
            "rejected_at": null,
            "canceled": b.canceled,
            "canceled_at": null,
            "booking_method_id": b.booking_method_id,
            "autotracking": false,
            "draft": false,
            "custom_fields": null,
            "external_id": null,
            "last_activity_at": b.created_at,
            "stage_type": if b.event_id.is_some() { Value::Null } else { json!(2) },
        },
        "relationships": {
            "organization": linkage("organizations", db.org),
            "person": person,
            "event": event,
            "service": service,
            "approval_statuses": approval_statuses,
            "creator": stub(),
            "updater": stub(),
            "approver": stub(),
            "rejecter": stub(),
            "canceler": stub(),
            "origin": stub(),
            "attachments": stub(),
        }
    })
}

/// Validates a booking create/update body (flat `*_id` attributes) against the current data.
fn write_booking(
    sim: &ProductiveSim,
    db: &Db,
    existing: Option<&SimBooking>,
    body: &Body,
) -> Result<SimBooking, Reject> {
    if !sim.inner.may_book_others.load(Ordering::SeqCst) {
        return Err(api_error(
            StatusCode::FORBIDDEN,
            "Access Denied",
            "You are not authorized to manage bookings of other people",
            Some("access_denied"),
            None,
        ));
    }
    let relationships = sim.inner.accept_relationships.load(Ordering::SeqCst);
    let related = |name: &str| relationships.then(|| body.related(name)).flatten();
    // Without the knob the relationships form leaves `person_id` blank, which is how the live
    // API's 422 on `data/attributes/person` for that form comes about.
    let person_id = body
        .int("person_id")?
        .or_else(|| related("person"))
        .or(existing.map(|b| b.person_id))
        .ok_or_else(|| invalid("data/attributes/person", "can't be blank"))?;
    let started_on = body
        .date("started_on")?
        .or(existing.map(|b| b.started_on))
        .ok_or_else(|| invalid("data/attributes/started_on", "can't be blank"))?;
    let ended_on = body
        .date("ended_on")?
        .or(existing.map(|b| b.ended_on))
        .ok_or_else(|| invalid("data/attributes/ended_on", "can't be blank"))?;
    if ended_on < started_on {
        return Err(invalid(
            "data/attributes/ended_on",
            "must be on or after the start date",
        ));
    }
    let person = db
        .people
        .get(&person_id)
        .ok_or_else(|| invalid("data/attributes/person", "not found"))?;
    if !person.active {
        return Err(invalid("data/attributes/person", "is deactivated"));
    }
    let event_id = body
        .int("event_id")?
        .or_else(|| related("event"))
        .or(existing.and_then(|b| b.event_id));
    let service_id = body
        .int("service_id")?
        .or_else(|| related("service"))
        .or(existing.and_then(|b| b.service_id));
    match event_id {
        Some(event_id) => {
            let event = db
                .events
                .get(&event_id)
                .ok_or_else(|| invalid("data/attributes/event", "not found"))?;
            if event.archived {
                return Err(invalid("data/attributes/event", "is archived"));
            }
            if matches!(event.limitation_type_id, 2 | 3) {
                return Err(api_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid Attribute",
                    "has no allowance for this person",
                    Some("entitlements_required"),
                    Some("data/attributes/event"),
                ));
            }
        }
        None if service_id.is_none() => {
            return Err(invalid("data/attributes/event", "can't be blank"));
        }
        None => {}
    }
    let method = body
        .int("booking_method_id")?
        .or(existing.map(|b| b.booking_method_id))
        .unwrap_or(1);
    let hours = body.int("hours")?;
    let mut booking = SimBooking {
        person_id,
        event_id,
        service_id,
        started_on,
        ended_on,
        booking_method_id: method,
        time: None,
        hours: None,
        percentage: None,
        total_time: 0,
        total_working_days: 0,
        note: body
            .text("note")
            .unwrap_or_else(|| existing.map_or(Some(String::new()), |b| b.note.clone())),
        approved: existing.is_some_and(|b| b.approved),
        rejected: existing.is_some_and(|b| b.rejected),
        canceled: existing.is_some_and(|b| b.canceled),
        created_at: existing.map_or_else(now, |b| b.created_at.clone()),
    };
    match method {
        1 => {
            let time = body
                .int("time")?
                .or(hours.map(|h| h * 60))
                .or(existing.and_then(|b| b.time))
                .ok_or_else(|| invalid("data/attributes/time", "can't be blank"))?;
            if time <= 0 {
                return Err(invalid("data/attributes/time", "must be greater than 0"));
            }
            booking.time = Some(time);
            booking.hours = hours;
        }
        2 => {
            booking.percentage = Some(
                body.int("percentage")?
                    .or(existing.and_then(|b| b.percentage))
                    .ok_or_else(|| invalid("data/attributes/percentage", "can't be blank"))?,
            );
        }
        3 => {
            booking.time = Some(0);
            booking.total_time = body
                .int("total_time")?
                .or(existing.map(|b| b.total_time))
                .ok_or_else(|| invalid("data/attributes/total_time", "can't be blank"))?;
        }
        _ => {
            return Err(invalid(
                "data/attributes/booking_method_id",
                "is not included in the list",
            ))
        }
    }
    compute_totals(&mut booking, Some(person));
    Ok(booking)
}

pub(super) async fn create(
    State(sim): State<ProductiveSim>,
    RawQuery(raw): RawQuery,
    bytes: Bytes,
) -> Result<Response, Reject> {
    let query = parse_query(raw.as_deref(), &Bookings::ACCEPTS)?;
    let body = parse_body(&bytes)?;
    let mut db = sim.db();
    let mut booking = write_booking(&sim, &db, None, &body)?;
    let id = db.id();
    // Absences of people with an approval policy wait for approval; everyone else's are
    // approved on creation.
    let pending = booking.event_id.is_some() && db.people[&booking.person_id].has_approval_policy;
    booking.approved = !pending;
    if pending {
        let approval_id = db.id();
        db.approvals.insert(
            approval_id,
            SimApproval {
                booking_id: id,
                approved_at: None,
                rejected_at: None,
                note: None,
            },
        );
    }
    db.bookings.insert(id, booking);
    let mut included = Included::default();
    let data = render_booking(&db, id, &db.bookings[&id], &query, &mut included);
    Ok(single(data, included, StatusCode::CREATED))
}

pub(super) async fn update(
    State(sim): State<ProductiveSim>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    bytes: Bytes,
) -> Result<Response, Reject> {
    let id = path_id(&id)?;
    let query = parse_query(raw.as_deref(), &Bookings::ACCEPTS)?;
    let body = parse_body(&bytes)?;
    let mut db = sim.db();
    let current = db.bookings.get(&id).ok_or_else(not_found)?;
    let booking = write_booking(&sim, &db, Some(current), &body)?;
    db.bookings.insert(id, booking);
    let mut included = Included::default();
    let data = render_booking(&db, id, &db.bookings[&id], &query, &mut included);
    Ok(single(data, included, StatusCode::OK))
}

pub(super) async fn delete(
    State(sim): State<ProductiveSim>,
    Path(id): Path<String>,
) -> Result<Response, Reject> {
    let id = path_id(&id)?;
    let mut db = sim.db();
    db.bookings.remove(&id).ok_or_else(not_found)?;
    db.approvals.retain(|_, a| a.booking_id != id);
    Ok(StatusCode::NO_CONTENT.into_response())
}
