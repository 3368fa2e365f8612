//! `/v2/absence-types` and `/v2/persons`, listed and by id. A person is a v1 employee under
//! the same id (as a string); an email the credential may not read (empty) is left out.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::paging::{page, query_pairs, PageRequest};
use super::periods::id_list;
use super::render::{not_found, zulu};
use super::{SCOPE_ABSENCES_READ, SCOPE_PERSONS_READ};
use crate::domain::model::AbsenceUnit;
use crate::sim::personio::render::Fail;
use crate::sim::personio::{PersonioSim, SimEmployee, SimTimeOffType, State_};

const TYPES_PAGE: (usize, usize) = (100, 100);
const PERSONS_PAGE: (usize, usize) = (10, 50);

type Reply = Result<Response, Fail>;

fn type_json(id: i64, t: &SimTimeOffType) -> Value {
    json!({
        "id": super::type_uuid(id).to_string(),
        "name": t.name,
        "category": t.category,
        "unit": match t.unit { AbsenceUnit::Day => "DAY", AbsenceUnit::Hour => "HOUR" },
    })
}

pub(super) async fn absence_types(
    State(sim): State<PersonioSim>,
    uri: Uri,
    headers: HeaderMap,
) -> Reply {
    sim.authorize_v2(&headers, SCOPE_ABSENCES_READ)?;
    let query = query_pairs(&uri);
    let state = sim.state();
    let quirks = &state.v2.quirks;
    let request = PageRequest::parse(
        &uri,
        &headers,
        &query,
        TYPES_PAGE,
        quirks.relative_next_links,
    )?;
    let records: Vec<(i64, (i64, &SimTimeOffType))> =
        state.types.iter().map(|(id, t)| (*id, (*id, t))).collect();
    let body = page(&request, quirks, &records, |(id, t)| type_json(*id, t))?;
    Ok(Json(body).into_response())
}

pub(super) async fn absence_type(
    State(sim): State<PersonioSim>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Reply {
    sim.authorize_v2(&headers, SCOPE_ABSENCES_READ)?;
    let state = sim.state();
    let (id, t) = super::v1_id(super::KIND_TYPE, &id)
        .and_then(|id| state.types.get_key_value(&id))
        .ok_or_else(not_found)?;
    Ok(Json(type_json(*id, t)).into_response())
}

fn person_json(state: &State_, id: i64, e: &SimEmployee) -> Value {
    let added = state
        .employees_added
        .get(&id)
        .map_or_else(String::new, |t| zulu(*t));
    // Personio's ACTIVE covers active, onboarding and leave.
    let status = match e.status.as_str() {
        "active" | "onboarding" | "leave" => "ACTIVE",
        _ => "INACTIVE",
    };
    let mut person = json!({
        "id": id.to_string(),
        "first_name": e.first_name,
        "last_name": e.last_name,
        "preferred_name": format!("{} {}", e.first_name, e.last_name),
        "status": status,
        "created_at": added,
        "updated_at": added,
        "employments": [],
    });
    if !e.email.is_empty() {
        person["email"] = json!(e.email);
    }
    person
}

pub(super) async fn persons(State(sim): State<PersonioSim>, uri: Uri, headers: HeaderMap) -> Reply {
    sim.authorize_v2(&headers, SCOPE_PERSONS_READ)?;
    let query = query_pairs(&uri);
    let ids = id_list(&query, "id");
    let emails = id_list(&query, "email").map(|set| {
        set.into_iter()
            .map(|e| e.to_lowercase())
            .collect::<Vec<_>>()
    });
    let state = sim.state();
    let quirks = &state.v2.quirks;
    let request = PageRequest::parse(
        &uri,
        &headers,
        &query,
        PERSONS_PAGE,
        quirks.relative_next_links,
    )?;
    let records: Vec<(i64, (i64, &SimEmployee))> = state
        .employees
        .iter()
        .filter(|(id, _)| ids.as_ref().is_none_or(|s| s.contains(&id.to_string())))
        .filter(|(_, e)| {
            emails
                .as_ref()
                .is_none_or(|m| !e.email.is_empty() && m.contains(&e.email.to_lowercase()))
        })
        .map(|(id, e)| (*id, (*id, e)))
        .collect();
    let body = page(&request, quirks, &records, |(id, e)| {
        person_json(&state, *id, e)
    })?;
    Ok(Json(body).into_response())
}

pub(super) async fn person(
    State(sim): State<PersonioSim>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Reply {
    sim.authorize_v2(&headers, SCOPE_PERSONS_READ)?;
    let state = sim.state();
    let (id, e) = id
        .parse::<i64>()
        .ok()
        .and_then(|id| state.employees.get_key_value(&id))
        .ok_or_else(not_found)?;
    Ok(Json(person_json(&state, *id, e)).into_response())
}
