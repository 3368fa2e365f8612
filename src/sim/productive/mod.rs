//! Simulated Productive API (`/api/v2`): people, events, bookings and approval statuses, with the
//! live API's quirks as recorded in the reference notes (§13): stub relationships unless included,
//! availabilities as a JSON string, flat `*_id` booking writes, computed `total_time`, approval
//! policies, entitlement errors, 415/401/403 handling and the two request-count limits.

mod approvals;
mod body;
mod bookings;
mod error;
mod events;
mod gate;
mod model;
mod people;
mod query;
mod render;
mod resource;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::middleware;
use axum::routing::{get, patch};
use axum::Router;

use super::{faults_middleware, Flavor, SimControl, SimServer};
use approvals::Approvals;
use bookings::Bookings;
use events::Events;
use gate::{gatekeeper, Limits};
use model::{compute_totals, Db};
pub use model::{SimApproval, SimBooking, SimEvent, SimPerson};
use people::People;
use resource::{get_one, list};

#[derive(Debug)]
struct Inner {
    token: String,
    organization_id: String,
    control: Arc<SimControl>,
    db: Mutex<Db>,
    revoked: AtomicBool,
    accept_relationships: AtomicBool,
    may_approve: AtomicBool,
    may_book_others: AtomicBool,
    /// List pages with this number come back without their records.
    drop_page: std::sync::atomic::AtomicUsize,
    limits: Mutex<Option<Arc<Limits>>>,
}

/// The simulator. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct ProductiveSim {
    inner: Arc<Inner>,
}

impl ProductiveSim {
    pub fn new(api_token: &str, organization_id: &str) -> Self {
        let sim = Self {
            inner: Arc::new(Inner {
                token: api_token.to_string(),
                organization_id: organization_id.to_string(),
                control: Arc::new(SimControl::default()),
                db: Mutex::new(Db {
                    org: organization_id.trim().parse().unwrap_or(0),
                    next_id: 100_000,
                    ..Db::default()
                }),
                revoked: AtomicBool::new(false),
                accept_relationships: AtomicBool::new(false),
                may_approve: AtomicBool::new(true),
                may_book_others: AtomicBool::new(true),
                drop_page: std::sync::atomic::AtomicUsize::new(0),
                limits: Mutex::new(None),
            }),
        };
        sim.set_rate_limit_scale(1.0);
        sim
    }

    pub fn router(&self) -> Router {
        let api = Router::new()
            .route("/people", get(list::<People>))
            .route("/people/{id}", get(get_one::<People>))
            .route("/events", get(list::<Events>).post(events::create))
            .route(
                "/events/{id}",
                get(get_one::<Events>)
                    .patch(events::update)
                    .delete(events::delete),
            )
            .route("/events/{id}/archive", patch(events::archive))
            .route("/events/{id}/restore", patch(events::restore))
            .route("/bookings", get(list::<Bookings>).post(bookings::create))
            .route(
                "/bookings/{id}",
                get(get_one::<Bookings>)
                    .patch(bookings::update)
                    .delete(bookings::delete),
            )
            .route("/approval_statuses", get(list::<Approvals>))
            .route("/approval_statuses/{id}", get(get_one::<Approvals>))
            .route("/approval_statuses/{id}/approve", patch(approvals::approve))
            .layer(middleware::from_fn_with_state(self.clone(), gatekeeper))
            .with_state(self.clone());
        Router::new()
            .nest("/api/v2", api)
            .layer(middleware::from_fn_with_state(
                (self.inner.control.clone(), Flavor::JsonApi),
                faults_middleware,
            ))
    }

    pub async fn start(&self) -> std::io::Result<SimServer> {
        SimServer::start(self.router()).await
    }

    pub fn control(&self) -> &SimControl {
        &self.inner.control
    }

    fn db(&self) -> MutexGuard<'_, Db> {
        self.inner.db.lock().unwrap()
    }

    pub fn add_person(&self, person: SimPerson) -> i64 {
        let mut db = self.db();
        let id = db.id();
        db.people.insert(id, person);
        id
    }

    pub fn update_person(&self, id: i64, f: impl FnOnce(&mut SimPerson)) {
        f(self
            .db()
            .people
            .get_mut(&id)
            .expect("no such simulated person"));
    }

    pub fn people(&self) -> Vec<(i64, SimPerson)> {
        self.db()
            .people
            .iter()
            .map(|(id, p)| (*id, p.clone()))
            .collect()
    }

    pub fn add_event(&self, event: SimEvent) -> i64 {
        let mut db = self.db();
        let id = db.id();
        db.events.insert(id, event);
        id
    }

    /// Changes an event as someone in Productive's UI would (archiving it, say).
    pub fn update_event(&self, id: i64, f: impl FnOnce(&mut SimEvent)) {
        if let Some(e) = self.db().events.get_mut(&id) {
            f(e);
        }
    }

    pub fn events(&self) -> Vec<(i64, SimEvent)> {
        self.db()
            .events
            .iter()
            .map(|(id, e)| (*id, e.clone()))
            .collect()
    }

    /// Stores a hand-made booking as is (no validation, no approval flow); totals are computed
    /// from the person's availability like the server does.
    pub fn add_booking(&self, mut booking: SimBooking) -> i64 {
        let mut db = self.db();
        let person_id = booking.person_id;
        compute_totals(&mut booking, db.people.get(&person_id));
        let id = db.id();
        db.bookings.insert(id, booking);
        id
    }

    pub fn bookings(&self) -> Vec<(i64, SimBooking)> {
        self.db()
            .bookings
            .iter()
            .map(|(id, b)| (*id, b.clone()))
            .collect()
    }

    /// Simulates a human edit in Productive.
    pub fn update_booking(&self, id: i64, f: impl FnOnce(&mut SimBooking)) {
        let mut db = self.db();
        let Db {
            people, bookings, ..
        } = &mut *db;
        let booking = bookings.get_mut(&id).expect("no such simulated booking");
        f(booking);
        compute_totals(booking, people.get(&booking.person_id));
    }

    pub fn remove_booking(&self, id: i64) {
        let mut db = self.db();
        db.bookings.remove(&id);
        db.approvals.retain(|_, a| a.booking_id != id);
    }

    pub fn approval_statuses(&self) -> Vec<(i64, SimApproval)> {
        self.db()
            .approvals
            .iter()
            .map(|(id, a)| (*id, a.clone()))
            .collect()
    }

    /// An approver rejects the booking: its open steps and the booking itself become rejected.
    pub fn reject_booking(&self, booking_id: i64) {
        let mut db = self.db();
        for a in db.approvals.values_mut() {
            if a.booking_id == booking_id && a.approved_at.is_none() {
                a.rejected_at = Some(model::now());
            }
        }
        if let Some(b) = db.bookings.get_mut(&booking_id) {
            b.rejected = true;
        }
    }

    /// From now on every request is answered 401 `invalid_auth_token`.
    pub fn revoke_token(&self) {
        self.inner.revoked.store(true, Ordering::SeqCst);
    }

    /// Whether the token's user may approve (which roles may is not documented): when not,
    /// approving answers 403 and changes nothing.
    pub fn set_may_approve(&self, may: bool) {
        self.inner.may_approve.store(may, Ordering::SeqCst);
    }

    /// Whether the token's user may manage other people's bookings: when not, every booking
    /// write answers 403 before its body is looked at.
    pub fn set_may_book_others(&self, may: bool) {
        self.inner.may_book_others.store(may, Ordering::SeqCst);
    }

    /// From now on list pages with this number (1-based; `None`: none) come back without their
    /// records, links and meta unchanged: a short read the client must notice.
    pub fn set_drop_page(&self, page: Option<usize>) {
        self.inner
            .drop_page
            .store(page.unwrap_or(0), Ordering::SeqCst);
    }

    /// Accept the JSON:API relationships form on booking writes (the live API answered 422 to it
    /// for one team; other clients use it).
    pub fn set_accept_relationships(&self, accept: bool) {
        self.inner
            .accept_relationships
            .store(accept, Ordering::SeqCst);
    }

    /// Multiplies both request-count limits (100 per 10 s per token, 4,000 per 30 min per
    /// organisation) by `scale`, e.g. 0.05 for 5 per 10 s in a test. A scale that is not a
    /// positive finite number (0, infinity) turns the limits off. Resets the windows.
    pub fn set_rate_limit_scale(&self, scale: f64) {
        *self.inner.limits.lock().unwrap() = Limits::scaled(scale).map(Arc::new);
    }
}
