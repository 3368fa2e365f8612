//! `people`: read-only; availabilities rendered as the live API does (a JSON string by default).

use std::collections::{BTreeMap, HashSet};

use serde_json::{json, Value};

use super::error::{unsupported_value, Reject};
use super::model::{Db, SimPerson};
use super::query::{Accepts, ListQuery};
use super::render::{linkage, stub, Included, PAST_TIMESTAMP};
use super::resource::Resource;

/// The holiday-calendar id Productive puts fourth in every availability tuple.
const CALENDAR_ID: i64 = 44853;

pub(super) struct People;

pub(super) struct PeopleFilter {
    ids: Option<HashSet<i64>>,
    active: Option<bool>,
    /// Lower-cased.
    email: Option<String>,
}

impl Resource for People {
    type Item = SimPerson;
    type Filter = PeopleFilter;
    const PATH: &'static str = "people";
    const ACCEPTS: Accepts = Accepts {
        filters: &["id", "status", "email"],
        includes: &[],
        sorts: &["id"],
    };
    const SINGLE_READS_QUERY: bool = false;

    fn table(db: &Db) -> &BTreeMap<i64, SimPerson> {
        &db.people
    }

    fn filter(query: &ListQuery) -> Result<PeopleFilter, Reject> {
        let ids = query.ids("id")?;
        let active = match query.filters.get("status").map(String::as_str) {
            None => None,
            Some("1") => Some(true),
            Some("2") => Some(false),
            Some(other) => return Err(unsupported_value("status", other)),
        };
        let email = query.filters.get("email").map(|e| e.to_lowercase());
        Ok(PeopleFilter { ids, active, email })
    }

    fn keeps(f: &PeopleFilter, id: i64, p: &SimPerson) -> bool {
        f.ids.as_ref().is_none_or(|ids| ids.contains(&id))
            && f.active.is_none_or(|a| p.active == a)
            && f.email
                .as_ref()
                .is_none_or(|e| p.email.as_ref().is_some_and(|pe| pe.to_lowercase() == *e))
    }

    fn render(db: &Db, id: i64, p: &SimPerson, _: &ListQuery, _: &mut Included) -> Value {
        render_person(db.org, id, p)
    }
}

fn hours_json(hours: f64) -> Value {
    if hours.fract() == 0.0 {
        json!(hours as i64)
    } else {
        json!(hours)
    }
}

pub(super) fn render_person(org: i64, id: i64, p: &SimPerson) -> Value {
    let periods: Vec<Value> = p
        .availabilities
        .iter()
        .map(|a| {
            let hours: Vec<Value> = a.hours.iter().copied().map(hours_json).collect();
            json!([
                a.start.to_string(),
                a.end.map(|e| e.to_string()),
                hours,
                CALENDAR_ID
            ])
        })
        .collect();
    let availabilities = if p.availabilities_as_string {
        json!(Value::Array(periods).to_string())
    } else {
        Value::Array(periods)
    };
    json!({
        "id": id.to_string(),
        "type": "people",
        "attributes": {
            "first_name": p.first_name,
            "last_name": p.last_name,
            "email": p.email,
            "deactivated_at": (!p.active).then_some(PAST_TIMESTAMP),
            "archived_at": null,
            "placeholder": p.email.is_none(),
            "is_user": p.email.is_some(),
            "hrm_type_id": p.email.is_some().then_some(1),
            "availabilities": availabilities,
            "custom_fields": null,
        },
        "relationships": {
            "organization": linkage("organizations", org),
            "manager": stub(),
            "company": stub(),
            "approval_policy_assignment": stub(),
            "holiday_calendar": stub(),
        }
    })
}
