//! Simulated Personio API v2, read side, on the v1 simulator's state: `POST /v2/auth/token`
//! (the credential's one token, with scopes), absence types, absence periods (day-unit
//! time-offs and hour-unit absences alike) with their daily breakdowns, and persons; cursor
//! paging, `application/problem+json` errors and per-endpoint token buckets.

mod auth;
mod limit;
mod paging;
mod periods;
mod render;
mod resources;

use axum::routing::{get, post, MethodRouter};
use axum::Router;
use uuid::Uuid;

use super::PersonioSim;
pub(super) use limit::{Endpoint, V2Limits};
// For the v2 webhooks beside this module.
#[allow(unused_imports)]
pub(super) use limit::limited;
#[allow(unused_imports)]
pub(super) use paging::{page, PageRequest};
#[allow(unused_imports)]
pub(super) use render::v2_error;

pub const SCOPE_ABSENCES_READ: &str = "personio:absences:read";
pub const SCOPE_PERSONS_READ: &str = "personio:persons:read";
pub const SCOPE_WEBHOOKS_READ: &str = "personio:webhooks:read";
pub const SCOPE_WEBHOOKS_WRITE: &str = "personio:webhooks:write";

/// Reported misbehaviours of the v2 API, switchable per test; all off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonioV2Quirks {
    /// Day-unit `ends_at` is the last day's midnight instead of the next day's (Personio writes
    /// the exclusive next midnight live).
    pub inclusive_end: bool,
    /// `next` links are `/v2/...` instead of absolute URLs.
    pub relative_next_links: bool,
    /// List page N (1-based) first comes back empty, with a `next` link that leads on to it.
    pub empty_page_with_next: Option<usize>,
    /// The `next` link of list page N (1-based) is the page's own link: a loop.
    pub repeat_cursor: Option<usize>,
    /// List page N (1-based) silently lacks its last record; its `next` link skips it.
    pub drop_page: Option<usize>,
    /// Absence periods' `date_time`s carry a stray `Z`.
    pub stray_z: bool,
}

/// The v2 part of the simulator's state.
#[derive(Debug)]
pub(super) struct V2State {
    quirks: PersonioV2Quirks,
    /// The scopes the credential holds.
    scopes: Vec<String>,
}

impl Default for V2State {
    fn default() -> Self {
        Self {
            quirks: PersonioV2Quirks::default(),
            scopes: [
                SCOPE_ABSENCES_READ,
                SCOPE_PERSONS_READ,
                SCOPE_WEBHOOKS_READ,
                SCOPE_WEBHOOKS_WRITE,
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// The v2 routes, each behind its endpoint's token bucket.
pub(super) fn routes(sim: &PersonioSim) -> Router<PersonioSim> {
    let limited = |endpoint, route: MethodRouter<PersonioSim>| limited(sim, endpoint, route);
    Router::new()
        .route("/v2/auth/token", post(auth::token))
        .route(
            "/v2/absence-types",
            limited(Endpoint::AbsenceTypes, get(resources::absence_types)),
        )
        .route(
            "/v2/absence-types/{id}",
            limited(Endpoint::AbsenceTypes, get(resources::absence_type)),
        )
        .route(
            "/v2/absence-periods",
            limited(Endpoint::AbsencePeriods, get(periods::list)),
        )
        .route(
            "/v2/absence-periods/{id}",
            limited(Endpoint::AbsencePeriods, get(periods::one)),
        )
        .route(
            "/v2/absence-periods/{id}/breakdowns",
            limited(Endpoint::Breakdowns, get(periods::breakdowns)),
        )
        .route(
            "/v2/persons",
            limited(Endpoint::Persons, get(resources::persons)),
        )
        .route(
            "/v2/persons/{id}",
            limited(Endpoint::Persons, get(resources::person)),
        )
    // The v2 webhooks (`super::webhooks`) merge in here, wrapped in `Endpoint::Webhooks`.
}

// v2 ids: stable UUIDs derived from the numeric v1 id, so generated organisations stay
// deterministic and a v2 id maps back without an index. The layout is a version-4 UUID whose
// first group marks the simulator, the second the kind, and whose last 62 bits are the id.
const SIM_TAG: u64 = 0x5e3a_7c01;
const KIND_TIME_OFF: u64 = 1;
const KIND_TYPE: u64 = 2;
const VARIANT: u64 = 0x8000_0000_0000_0000;
const ID_BITS: u64 = 0x3fff_ffff_ffff_ffff;

fn v2_uuid(kind: u64, id: i64) -> Uuid {
    Uuid::from_u64_pair(
        (SIM_TAG << 32) | (kind << 16) | 0x4000,
        VARIANT | (id as u64 & ID_BITS),
    )
}

fn v1_id(kind: u64, v2: &str) -> Option<i64> {
    let (high, low) = Uuid::parse_str(v2).ok()?.as_u64_pair();
    (high == (SIM_TAG << 32) | (kind << 16) | 0x4000 && low & !ID_BITS == VARIANT)
        .then_some((low & ID_BITS) as i64)
}

/// The v2 id of the time-off with this v1 id.
pub(super) fn time_off_uuid(id: i64) -> Uuid {
    v2_uuid(KIND_TIME_OFF, id)
}

/// The v2 id of the time-off type with this v1 id.
pub(super) fn type_uuid(id: i64) -> Uuid {
    v2_uuid(KIND_TYPE, id)
}

impl PersonioSim {
    /// The v2 id of an existing time-off (what v1 writes as `id_v2`).
    pub fn time_off_v2_id(&self, id: i64) -> Option<String> {
        self.state()
            .time_offs
            .contains_key(&id)
            .then(|| time_off_uuid(id).to_string())
    }

    /// The v2 id of an existing time-off type.
    pub fn type_v2_id(&self, id: i64) -> Option<String> {
        self.state()
            .types
            .contains_key(&id)
            .then(|| type_uuid(id).to_string())
    }

    /// The v1 id of the time-off with this v2 id, if it exists.
    pub fn time_off_id_for_v2(&self, v2: &str) -> Option<i64> {
        v1_id(KIND_TIME_OFF, v2).filter(|id| self.state().time_offs.contains_key(id))
    }

    /// The v1 id of the time-off type with this v2 id, if it exists.
    pub fn type_id_for_v2(&self, v2: &str) -> Option<i64> {
        v1_id(KIND_TYPE, v2).filter(|id| self.state().types.contains_key(id))
    }

    pub fn set_v2_quirks(&self, q: PersonioV2Quirks) {
        self.state().v2.quirks = q;
    }

    /// The scopes the credential holds (default: absences and persons read, webhooks read and
    /// write). A change retires the live token, as Personio does since scopes can change.
    pub fn set_v2_scopes(&self, scopes: Vec<String>) {
        let changed = {
            let mut state = self.state();
            let changed = state.v2.scopes != scopes;
            state.v2.scopes = scopes;
            changed
        };
        if changed {
            self.invalidate_tokens();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_ids_are_fixed_per_kind_and_id_and_map_back() {
        assert_eq!(
            time_off_uuid(1000).to_string(),
            "5e3a7c01-0001-4000-8000-0000000003e8"
        );
        assert_eq!(
            type_uuid(7).to_string(),
            "5e3a7c01-0002-4000-8000-000000000007"
        );
        assert_eq!(
            v1_id(KIND_TIME_OFF, "5e3a7c01-0001-4000-8000-0000000003e8"),
            Some(1000)
        );
        // A type's id is no time-off's, and foreign UUIDs map to nothing.
        assert_eq!(
            v1_id(KIND_TIME_OFF, "5e3a7c01-0002-4000-8000-000000000007"),
            None
        );
        assert_eq!(
            v1_id(KIND_TYPE, "f8228cda-5615-4e81-8cba-21fa5e996291"),
            None
        );
        assert_eq!(v1_id(KIND_TYPE, "not-a-uuid"), None);
    }
}
