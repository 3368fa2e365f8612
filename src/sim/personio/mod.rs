//! Simulated Personio v1 API: auth with stable `papi-` tokens, time-off types, day-unit
//! time-offs (page-number paging, 0/1 flags, local offsets, fully-contained window filter),
//! hourly absence-periods, employees (record paging), v1 error envelopes and rate limits; and,
//! on the same state, the v2 read side (`v2/`), so one organisation shows through both.

mod auth;
mod handlers;
mod quirks;
mod render;
mod v2;
mod webhooks;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;

use super::{error_response, faults_middleware, Flavor, SimControl, SimServer};
use crate::domain::model::AbsenceUnit;
use auth::Token;
use quirks::Limits;
pub use quirks::PersonioQuirks;
pub use v2::PersonioV2Quirks;
pub use webhooks::{Delivery, WebhookQuirks};

/// A seeded employee.
#[derive(Debug, Clone)]
pub struct SimEmployee {
    /// `None` lets the simulator pick the next id.
    pub id: Option<i64>,
    pub first_name: String,
    pub last_name: String,
    /// Empty models an email attribute that is not whitelisted for the credential.
    pub email: String,
    pub status: String,
    /// Gives the UTC offsets written into this employee's absence dates.
    pub tz: Tz,
    pub weekly_hours: f64,
}

impl SimEmployee {
    /// An active full-time employee in Berlin.
    pub fn new(first_name: &str, last_name: &str, email: &str) -> Self {
        Self {
            id: None,
            first_name: first_name.into(),
            last_name: last_name.into(),
            email: email.into(),
            status: "active".into(),
            tz: chrono_tz::Europe::Berlin,
            weekly_hours: 40.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SimTimeOffType {
    pub name: String,
    pub category: Option<String>,
    pub unit: AbsenceUnit,
}

/// A day-unit absence period (v1 `time-offs`).
#[derive(Debug, Clone)]
pub struct SimTimeOff {
    pub employee_id: i64,
    pub type_id: i64,
    pub start: NaiveDate,
    /// Inclusive.
    pub end: NaiveDate,
    pub half_day_start: bool,
    pub half_day_end: bool,
    /// `approved` or `pending`.
    pub status: String,
    pub comment: Option<String>,
}

/// An hour-unit absence period (v1 `absence-periods`), in the employee's local time.
#[derive(Debug, Clone)]
pub struct SimHourlyAbsence {
    pub employee_id: i64,
    pub type_id: i64,
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    pub status: String,
    pub comment: Option<String>,
}

#[derive(Debug, Clone)]
struct StoredTimeOff {
    period: SimTimeOff,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct StoredHourly {
    absence: SimHourlyAbsence,
    created_at: DateTime<Utc>,
}

#[derive(Debug)]
struct State_ {
    employees: BTreeMap<i64, SimEmployee>,
    /// When each employee was first added: the v2 persons' created_at/updated_at.
    employees_added: BTreeMap<i64, DateTime<Utc>>,
    types: BTreeMap<i64, SimTimeOffType>,
    time_offs: BTreeMap<i64, StoredTimeOff>,
    hourly: BTreeMap<String, StoredHourly>,
    next_id: i64,
    quirks: PersonioQuirks,
    /// Fixed "now" for created_at/updated_at, so tests can steer `updated_from`.
    clock: Option<DateTime<Utc>>,
    token: Option<Token>,
    /// Tokens once valid: they earn a 401 (renew), unknown ones a 403.
    retired: HashSet<String>,
    v2: v2::V2State,
}

#[derive(Debug)]
struct Inner {
    control: Arc<SimControl>,
    client_id: String,
    client_secret: String,
    state: Mutex<State_>,
    limits: Mutex<Arc<Limits>>,
    webhooks: webhooks::Outbox,
}

/// The simulator; cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct PersonioSim {
    inner: Arc<Inner>,
}

impl PersonioSim {
    pub fn new(client_id: &str, client_secret: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                control: Arc::new(SimControl::default()),
                client_id: client_id.into(),
                client_secret: client_secret.into(),
                state: Mutex::new(State_ {
                    employees: BTreeMap::new(),
                    employees_added: BTreeMap::new(),
                    types: BTreeMap::new(),
                    time_offs: BTreeMap::new(),
                    hourly: BTreeMap::new(),
                    next_id: 1000,
                    quirks: PersonioQuirks::default(),
                    clock: None,
                    token: None,
                    retired: HashSet::new(),
                    v2: v2::V2State::default(),
                }),
                limits: Mutex::new(Arc::new(Limits::new(1.0))),
                webhooks: webhooks::Outbox::default(),
            }),
        }
    }

    pub fn router(&self) -> Router {
        let v1 = Router::new()
            .route("/v1/auth", post(auth::auth))
            .route("/v1/company/time-off-types", get(handlers::time_off_types))
            .route("/v1/company/time-offs", get(handlers::time_offs))
            .route("/v1/company/time-offs/{id}", get(handlers::time_off))
            .route(
                "/v1/company/absence-periods",
                get(handlers::absence_periods),
            )
            .route("/v1/company/employees", get(handlers::employees))
            .merge(webhooks::routes())
            .route_layer(axum::middleware::from_fn_with_state(
                (self.inner.control.clone(), Flavor::PersonioV1),
                faults_middleware,
            ));
        // Every /v2 route (webhooks included: merge them inside `v2::routes`) answers faults in
        // the v2 envelope.
        let v2 = v2::routes(self).route_layer(axum::middleware::from_fn_with_state(
            (self.inner.control.clone(), Flavor::PersonioV2),
            faults_middleware,
        ));
        v1.merge(v2)
            .fallback(|request: Request| async move {
                let flavor = if request.uri().path().starts_with("/v2/") {
                    Flavor::PersonioV2
                } else {
                    Flavor::PersonioV1
                };
                error_response(
                    flavor,
                    StatusCode::NOT_FOUND,
                    "Not Found",
                    "The requested resource was not found.",
                )
            })
            .with_state(self.clone())
    }

    pub async fn start(&self) -> std::io::Result<SimServer> {
        SimServer::start(self.router()).await
    }

    pub fn control(&self) -> &SimControl {
        &self.inner.control
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State_> {
        self.inner.state.lock().unwrap()
    }

    pub fn add_employee(&self, e: SimEmployee) -> i64 {
        let mut state = self.state();
        let id = e.id.unwrap_or_else(|| next_id(&mut state));
        state.next_id = state.next_id.max(id + 1);
        let added = now(&state);
        state.employees_added.entry(id).or_insert(added);
        state
            .employees
            .insert(id, SimEmployee { id: Some(id), ..e });
        id
    }

    pub fn add_time_off_type(&self, t: SimTimeOffType) -> i64 {
        let mut state = self.state();
        let id = next_id(&mut state);
        state.types.insert(id, t);
        id
    }

    pub fn rename_time_off_type(&self, id: i64, name: &str) {
        if let Some(t) = self.state().types.get_mut(&id) {
            t.name = name.into();
        }
    }

    pub fn add_time_off(&self, p: SimTimeOff) -> i64 {
        let mut state = self.state();
        let id = next_id(&mut state);
        let now = now(&state);
        state.time_offs.insert(
            id,
            StoredTimeOff {
                period: p,
                created_at: now,
                updated_at: now,
            },
        );
        let id_v2 = v2::time_off_uuid(id).to_string();
        self.absence_changed(id_v2, webhooks::Change::Created);
        id
    }

    pub fn update_time_off(&self, id: i64, f: impl FnOnce(&mut SimTimeOff)) {
        let mut state = self.state();
        let now = now(&state);
        if let Some(stored) = state.time_offs.get_mut(&id) {
            let before = stored.period.clone();
            f(&mut stored.period);
            stored.updated_at = now;
            let change = webhooks::Change::updated(&before, &stored.period);
            self.absence_changed(v2::time_off_uuid(id).to_string(), change);
        }
    }

    /// Deleted and rejected periods alike simply vanish in Personio.
    pub fn delete_time_off(&self, id: i64) {
        if self.state().time_offs.remove(&id).is_some() {
            self.absence_changed(v2::time_off_uuid(id).to_string(), webhooks::Change::Deleted);
        }
    }

    pub fn add_hourly_absence(&self, a: SimHourlyAbsence) -> String {
        let mut state = self.state();
        let id = uuid::Uuid::new_v4().to_string();
        let created_at = now(&state);
        state.hourly.insert(
            id.clone(),
            StoredHourly {
                absence: a,
                created_at,
            },
        );
        self.absence_changed(id.clone(), webhooks::Change::Created);
        id
    }

    pub fn delete_hourly_absence(&self, id: &str) {
        if self.state().hourly.remove(id).is_some() {
            self.absence_changed(id.to_string(), webhooks::Change::Deleted);
        }
    }

    /// The seeded employees, by id (for assertions and generators).
    pub fn employees(&self) -> Vec<(i64, SimEmployee)> {
        self.state()
            .employees
            .iter()
            .map(|(id, e)| (*id, e.clone()))
            .collect()
    }

    pub fn time_off_types(&self) -> Vec<(i64, SimTimeOffType)> {
        self.state()
            .types
            .iter()
            .map(|(id, t)| (*id, t.clone()))
            .collect()
    }

    /// Every day-unit period currently in Personio, by id.
    pub fn time_offs(&self) -> Vec<(i64, SimTimeOff)> {
        self.state()
            .time_offs
            .iter()
            .map(|(id, t)| (*id, t.period.clone()))
            .collect()
    }

    /// Every hour-unit absence currently in Personio, by id.
    pub fn hourly_absences(&self) -> Vec<(String, SimHourlyAbsence)> {
        self.state()
            .hourly
            .iter()
            .map(|(id, a)| (id.clone(), a.absence.clone()))
            .collect()
    }

    /// Fixes the time written into created_at/updated_at of later changes (`None`: real time).
    pub fn set_clock(&self, now: Option<DateTime<Utc>>) {
        self.state().clock = now;
    }
}

fn next_id(state: &mut State_) -> i64 {
    let id = state.next_id;
    state.next_id += 1;
    id
}

fn now(state: &State_) -> DateTime<Utc> {
    state.clock.unwrap_or_else(Utc::now)
}
