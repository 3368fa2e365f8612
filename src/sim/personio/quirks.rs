//! Switchable misbehaviours of the real API, and its rate limits.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;

use super::render::{v1_error, Fail};
use super::PersonioSim;
use crate::sim::SlidingLimit;

/// Reported misbehaviours of the real API, switchable per test.
#[derive(Debug, Clone)]
pub struct PersonioQuirks {
    /// Repeat the last record of time-offs page N at the start of page N+1.
    pub duplicate_across_pages: bool,
    /// Write `offset` and `limit` in list envelopes as strings.
    pub envelope_numbers_as_strings: bool,
    /// Time-offs window filter returns only periods fully inside it (as reported live); `false`
    /// returns every overlapping period.
    pub contained_window_filter: bool,
    /// `expires_in` of issued tokens, in seconds.
    pub token_lifetime_secs: u64,
    /// Multiplies every rate-limit window (0.01 turns a minute into 0.6 s).
    pub rate_limit_scale: f64,
    /// Page-numbered lists answer this page (1-based) with no records, metadata unchanged.
    pub drop_page: Option<usize>,
    /// Page-numbered lists carry no `metadata`.
    pub omit_metadata: bool,
    /// Page-numbered lists' metadata claims there are only this many pages (and as many records
    /// as fill them).
    pub claim_total_pages: Option<usize>,
    /// Page-numbered lists answer page 1 whatever page is asked for.
    pub ignore_page_number: bool,
    /// Hour-unit absence periods come without their per-day `breakdowns`.
    pub hourly_without_breakdowns: bool,
}

impl Default for PersonioQuirks {
    fn default() -> Self {
        Self {
            duplicate_across_pages: false,
            envelope_numbers_as_strings: false,
            contained_window_filter: true,
            token_lifetime_secs: 86_400,
            rate_limit_scale: 1.0,
            drop_page: None,
            omit_metadata: false,
            claim_total_pages: None,
            ignore_page_number: false,
            hourly_without_breakdowns: false,
        }
    }
}

/// Personio's budgets per minute: auth, employees, and every request together.
#[derive(Debug)]
pub(super) struct Limits {
    pub(super) auth: SlidingLimit,
    pub(super) employees: SlidingLimit,
    pub(super) all: SlidingLimit,
    /// The v2 token endpoint and per-endpoint token buckets (v2 has no overall budget).
    pub(super) v2: super::v2::V2Limits,
}

impl Limits {
    pub(super) fn new(scale: f64) -> Self {
        let minute = Duration::from_secs(60).mul_f64(scale.max(0.0));
        Self {
            auth: SlidingLimit::new(60, minute),
            employees: SlidingLimit::new(300, minute),
            all: SlidingLimit::new(2000, minute),
            v2: super::v2::V2Limits::new(scale),
        }
    }
}

impl PersonioSim {
    pub fn set_quirks(&self, q: PersonioQuirks) {
        *self.inner.limits.lock().unwrap() = Arc::new(Limits::new(q.rate_limit_scale));
        self.state().quirks = q;
    }

    pub(super) fn limits(&self) -> Arc<Limits> {
        self.inner.limits.lock().unwrap().clone()
    }

    /// The per-IP budget, then an endpoint's own.
    pub(super) fn rate_limit(&self, endpoint: Option<&SlidingLimit>) -> Result<(), Fail> {
        let limits = self.limits();
        let over = limits.all.check().is_err() || endpoint.is_some_and(|l| l.check().is_err());
        if over {
            // Personio sends no Retry-After.
            return Err(v1_error(StatusCode::TOO_MANY_REQUESTS, "Too many requests"));
        }
        Ok(())
    }
}
