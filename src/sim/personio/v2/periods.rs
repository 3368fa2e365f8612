//! `/v2/absence-periods`: day-unit time-offs and hour-unit absences in one list, ordered by
//! their v2 id; the filters (id lists, date ranges matching overlapping periods, updated_at),
//! one period by id, and its daily breakdowns.

use std::collections::HashSet;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{Days, NaiveDate, NaiveDateTime, NaiveTime};
use serde_json::{json, Value};

use super::paging::{page, query_pairs, PageRequest};
use super::render::{
    amount, day_breakdown, hour_breakdown, hourly_json, not_found, time_off_json, v2_error,
};
use super::SCOPE_ABSENCES_READ;
use crate::sim::personio::render::Fail;
use crate::sim::personio::{PersonioSim, State_, StoredHourly, StoredTimeOff};

const PERIODS_PAGE: (usize, usize) = (100, 100);
const BREAKDOWNS_PAGE: (usize, usize) = (28, 28);

type Reply = Result<Response, Fail>;

/// A period of either unit, as the list sees it.
#[derive(Debug, Clone, Copy)]
enum Period<'a> {
    Day(i64, &'a StoredTimeOff),
    Hour(&'a str, &'a StoredHourly),
}

impl Period<'_> {
    fn id(&self) -> String {
        match self {
            Self::Day(id, _) => super::time_off_uuid(*id).to_string(),
            Self::Hour(id, _) => id.to_string(),
        }
    }

    fn render(&self, state: &State_) -> Value {
        match self {
            Self::Day(id, stored) => time_off_json(state, *id, stored),
            Self::Hour(id, stored) => hourly_json(state, id, stored),
        }
    }

    /// Whether the filter keeps it: the time filters see the real local extent, half-open.
    fn kept_by(&self, filter: &Filter) -> bool {
        let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN);
        let (employee, type_id, extent, updated) = match self {
            Self::Day(_, s) => {
                let p = &s.period;
                let extent = (midnight(p.start), midnight(p.end + Days::new(1)));
                (p.employee_id, p.type_id, extent, s.updated_at)
            }
            Self::Hour(_, s) => {
                let a = &s.absence;
                (a.employee_id, a.type_id, (a.start, a.end), s.created_at)
            }
        };
        filter.keeps(&Candidate {
            id: &self.id(),
            person: &employee.to_string(),
            type_id: &super::type_uuid(type_id).to_string(),
            extent,
            updated: updated.naive_utc(),
        })
    }
}

fn find<'a>(state: &'a State_, id: &'a str) -> Option<Period<'a>> {
    if let Some(v1) = super::v1_id(super::KIND_TIME_OFF, id) {
        if let Some(stored) = state.time_offs.get(&v1) {
            return Some(Period::Day(v1, stored));
        }
    }
    state
        .hourly
        .get_key_value(id)
        .map(|(k, stored)| Period::Hour(k.as_str(), stored))
}

/// What a filter compares.
#[derive(Debug)]
struct Candidate<'a> {
    id: &'a str,
    person: &'a str,
    type_id: &'a str,
    /// Local start and (exclusive) end.
    extent: (NaiveDateTime, NaiveDateTime),
    updated: NaiveDateTime,
}

/// The list filters, ANDed.
#[derive(Debug, Default)]
struct Filter {
    ids: Option<HashSet<String>>,
    persons: Option<HashSet<String>>,
    types: Option<HashSet<String>>,
    /// The range the date filters span (either key's `gte` / `lte`): overlapping periods match.
    from: Option<NaiveDateTime>,
    until: Option<NaiveDateTime>,
    updated_from: Option<NaiveDateTime>,
    updated_until: Option<NaiveDateTime>,
}

impl Filter {
    fn parse(query: &[(String, String)]) -> Result<Self, Fail> {
        let time = |name: &str| -> Result<Option<NaiveDateTime>, Fail> {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| parse_date_time(v).ok_or_else(invalid_parameters))
                .transpose()
        };
        /// Of two optional bounds, the one `pick` prefers.
        fn bound(
            a: Option<NaiveDateTime>,
            b: Option<NaiveDateTime>,
            pick: fn(NaiveDateTime, NaiveDateTime) -> NaiveDateTime,
        ) -> Option<NaiveDateTime> {
            match (a, b) {
                (Some(a), Some(b)) => Some(pick(a, b)),
                (a, b) => a.or(b),
            }
        }
        Ok(Self {
            ids: id_list(query, "id"),
            persons: id_list(query, "person.id"),
            types: id_list(query, "absence_type.id"),
            from: bound(
                time("starts_from.date_time.gte")?,
                time("ends_at.date_time.gte")?,
                NaiveDateTime::max,
            ),
            until: bound(
                time("starts_from.date_time.lte")?,
                time("ends_at.date_time.lte")?,
                NaiveDateTime::min,
            ),
            updated_from: time("updated_at.gte")?,
            updated_until: time("updated_at.lte")?,
        })
    }

    fn keeps(&self, c: &Candidate<'_>) -> bool {
        let listed =
            |set: &Option<HashSet<String>>, v: &str| set.as_ref().is_none_or(|s| s.contains(v));
        let (start, end) = c.extent;
        listed(&self.ids, c.id)
            && listed(&self.persons, c.person)
            && listed(&self.types, c.type_id)
            && self.from.is_none_or(|f| end > f)
            && self.until.is_none_or(|u| start <= u)
            && self.updated_from.is_none_or(|f| c.updated >= f)
            && self.updated_until.is_none_or(|u| c.updated <= u)
    }
}

/// Every value of `name`, comma lists and repeated keys alike.
pub(super) fn id_list(query: &[(String, String)], name: &str) -> Option<HashSet<String>> {
    let values: HashSet<String> = query
        .iter()
        .filter(|(k, _)| k == name)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
        .collect();
    (!values.is_empty()).then_some(values)
}

/// `YYYY-MM-DDTHH:MM:SS`, with or without a fraction and a `Z` (clients send both).
fn parse_date_time(raw: &str) -> Option<NaiveDateTime> {
    let naive = raw.strip_suffix('Z').unwrap_or(raw);
    NaiveDateTime::parse_from_str(naive, "%Y-%m-%dT%H:%M:%S%.f").ok()
}

pub(super) fn invalid_parameters() -> Fail {
    v2_error(
        StatusCode::BAD_REQUEST,
        "Bad Request",
        "Provided request parameters are invalid.",
    )
}

pub(super) async fn list(State(sim): State<PersonioSim>, uri: Uri, headers: HeaderMap) -> Reply {
    sim.authorize_v2(&headers, SCOPE_ABSENCES_READ)?;
    let query = query_pairs(&uri);
    let filter = Filter::parse(&query)?;
    let state = sim.state();
    let quirks = &state.v2.quirks;
    let request = PageRequest::parse(
        &uri,
        &headers,
        &query,
        PERIODS_PAGE,
        quirks.relative_next_links,
    )?;
    let mut records: Vec<(String, Period<'_>)> = state
        .time_offs
        .iter()
        .map(|(id, s)| Period::Day(*id, s))
        .chain(state.hourly.iter().map(|(id, s)| Period::Hour(id, s)))
        .filter(|p| p.kept_by(&filter))
        .map(|p| (p.id(), p))
        .collect();
    records.sort_by(|a, b| a.0.cmp(&b.0));
    let body = page(&request, quirks, &records, |p| p.render(&state))?;
    Ok(Json(body).into_response())
}

pub(super) async fn one(
    State(sim): State<PersonioSim>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Reply {
    sim.authorize_v2(&headers, SCOPE_ABSENCES_READ)?;
    let state = sim.state();
    let period = find(&state, &id).ok_or_else(not_found)?;
    Ok(Json(period.render(&state)).into_response())
}

pub(super) async fn breakdowns(
    State(sim): State<PersonioSim>,
    Path(id): Path<String>,
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
        BREAKDOWNS_PAGE,
        quirks.relative_next_links,
    )?;
    let (unit, days) = match find(&state, &id).ok_or_else(not_found)? {
        Period::Day(_, s) => ("DAY", day_breakdown(&s.period)),
        Period::Hour(_, s) => ("HOUR", hour_breakdown(&s.absence)),
    };
    let days: Vec<(NaiveDate, (NaiveDate, f64))> = days.into_iter().map(|d| (d.0, d)).collect();
    let body = page(&request, quirks, &days, |(date, value)| {
        json!({
            "date": date.to_string(),
            "effective_duration": { "unit": unit, "value": amount(*value) },
        })
    })?;
    Ok(Json(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: u32, hour: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 6, day)
            .unwrap()
            .and_hms_opt(hour, 0, 0)
            .unwrap()
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// June 10-12 as a day-unit period: midnight of the 10th to midnight of the 13th.
    fn june_10_to_12() -> Candidate<'static> {
        Candidate {
            id: "a",
            person: "7",
            type_id: "t",
            extent: (at(10, 0), at(13, 0)),
            updated: at(1, 9),
        }
    }

    fn keeps(pairs: &[(&str, &str)]) -> bool {
        Filter::parse(&q(pairs)).unwrap().keeps(&june_10_to_12())
    }

    #[test]
    fn date_ranges_match_overlapping_periods() {
        assert!(keeps(&[]));
        // A window inside the period, or over either edge, overlaps it.
        assert!(keeps(&[
            ("starts_from.date_time.gte", "2026-06-11T00:00:00"),
            ("ends_at.date_time.lte", "2026-06-11T23:59:59")
        ]));
        assert!(keeps(&[(
            "starts_from.date_time.gte",
            "2026-06-12T00:00:00Z"
        )]));
        assert!(keeps(&[(
            "ends_at.date_time.lte",
            "2026-06-10T00:00:00.000"
        )]));
        // The end is exclusive: a window from the 13th does not touch it; one before the 10th neither.
        assert!(!keeps(&[(
            "starts_from.date_time.gte",
            "2026-06-13T00:00:00"
        )]));
        assert!(!keeps(&[(
            "starts_from.date_time.lte",
            "2026-06-09T23:59:59"
        )]));
        // Both keys of a side narrow the range.
        assert!(!keeps(&[
            ("ends_at.date_time.gte", "2026-06-01T00:00:00"),
            ("starts_from.date_time.gte", "2026-06-20T00:00:00")
        ]));
    }

    #[test]
    fn lists_and_the_other_filters_are_anded() {
        assert!(keeps(&[("person.id", "3,7"), ("absence_type.id", "t")]));
        assert!(keeps(&[("person.id", "3"), ("person.id", "7")]));
        assert!(!keeps(&[("person.id", "7"), ("id", "b,c")]));
        assert!(keeps(&[
            ("updated_at.gte", "2026-06-01T09:00:00Z"),
            ("updated_at.lte", "2026-06-01T09:00:00")
        ]));
        assert!(!keeps(&[("updated_at.gte", "2026-06-01T09:00:01Z")]));
    }

    #[test]
    fn malformed_date_times_are_refused() {
        for bad in ["2026-06-01", "2026-06-01T09:00:00+02:00", "yesterday"] {
            assert!(
                Filter::parse(&q(&[("updated_at.gte", bad)])).is_err(),
                "{bad}"
            );
        }
    }
}
