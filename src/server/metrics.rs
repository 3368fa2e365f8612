//! The daemon's Prometheus metrics (OpenMetrics text, names prefixed `pps_`): runs as they
//! finish, every API request as the shared HTTP core sends it, and the build. docs/operations.md
//! lists them with their meaning.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use reqwest::{Method, StatusCode};

use super::advice;
use crate::domain::Counts;
use crate::domain::WriteProgress;
use crate::http::RequestObserver;
use crate::store::RunRecord;
use crate::sync::{RunReport, SyncError};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    api: &'static str,
    method: String,
    /// The HTTP status, or `error` when no response came (connection refused, timeout).
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    api: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

type Seconds = Gauge<f64, AtomicU64>;

pub struct Metrics {
    registry: Registry,
    runs: Family<OutcomeLabels, Counter>,
    run_duration: Histogram,
    running: Gauge,
    writes_done: Gauge,
    writes_planned: Gauge,
    last_run: Seconds,
    last_success: Seconds,
    records: Family<ResultLabels, Gauge>,
    skipped: Family<ReasonLabels, Gauge>,
    bookings_owned: Gauge,
    mass_delete_held: Gauge,
    requests: Family<RequestLabels, Counter>,
    rate_limit_wait: Family<ApiLabels, Counter<f64, AtomicU64>>,
    webhook_deliveries: Family<OutcomeLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("pps");
        let runs = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "sync_runs",
            "Sync runs finished by this process, by outcome (succeeded, partial, interrupted, failed, locked)",
            runs.clone(),
        );
        // 1 s to 9 h: a first sync of a large organisation runs for hours.
        let run_duration = Histogram::new(exponential_buckets(1.0, 2.0, 16));
        registry.register_with_unit(
            "sync_run_duration",
            "How long sync runs took",
            Unit::Seconds,
            run_duration.clone(),
        );
        let running = Gauge::default();
        registry.register(
            "sync_running",
            "1 while a sync run is in progress",
            running.clone(),
        );
        let writes_done = Gauge::default();
        registry.register(
            "sync_writes_done",
            "Writes the running run's write phase has finished (0 when none is writing)",
            writes_done.clone(),
        );
        let writes_planned = Gauge::default();
        registry.register(
            "sync_writes_planned",
            "Writes the running run's write phase has to do (0 when none is writing)",
            writes_planned.clone(),
        );
        let last_run = Seconds::default();
        registry.register_with_unit(
            "sync_last_run_timestamp",
            "When the last run finished (Unix time)",
            Unit::Seconds,
            last_run.clone(),
        );
        let last_success = Seconds::default();
        registry.register_with_unit(
            "sync_last_success_timestamp",
            "When the last run that read and wrote everything it could finished (outcome succeeded or partial; Unix time)",
            Unit::Seconds,
            last_success.clone(),
        );
        let records = Family::<ResultLabels, Gauge>::default();
        registry.register(
            "sync_last_run_records",
            "Records of the last completed run by result (created, updated, deleted, unchanged, approved, skipped, failed)",
            records.clone(),
        );
        let skipped = Family::<ReasonLabels, Gauge>::default();
        registry.register(
            "sync_last_run_skipped_records",
            "Records the last completed run skipped, by reason (see docs/operations.md)",
            skipped.clone(),
        );
        let bookings_owned = Gauge::default();
        registry.register(
            "sync_bookings_owned",
            "Productive bookings the sync owns (its journal)",
            bookings_owned.clone(),
        );
        let mass_delete_held = Gauge::default();
        registry.register(
            "sync_mass_delete_held",
            "1 while the mass-deletion guard holds back the last run's deletions",
            mass_delete_held.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "api_requests",
            "HTTP requests sent to Personio and Productive (every attempt), by API, method and status",
            requests.clone(),
        );
        let rate_limit_wait = Family::<ApiLabels, Counter<f64, AtomicU64>>::default();
        registry.register_with_unit(
            "api_rate_limit_wait",
            "Time spent waiting for a rate budget (the configured one or the API's 429) before sending",
            Unit::Seconds,
            rate_limit_wait.clone(),
        );
        let webhook_deliveries = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Personio webhook deliveries received, by outcome (accepted, queue_full, ignored, unauthorized, bad_request, too_large, off, stopping)",
            webhook_deliveries.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "The running version (always 1)", build);
        Self {
            registry,
            runs,
            run_duration,
            running,
            writes_done,
            writes_planned,
            last_run,
            last_success,
            records,
            skipped,
            bookings_owned,
            mass_delete_held,
            requests,
            rate_limit_wait,
            webhook_deliveries,
        }
    }

    /// The text a scrape gets.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// What the store knows from before this process: the last runs' times, records and hold,
    /// and the bookings owned, so a restarted daemon does not look like one that never synced.
    pub fn seed(&self, runs: &[RunRecord], owned: i64) {
        let finished = |r: &&RunRecord| !r.dry_run && r.finished_at.is_some();
        let real: Vec<&RunRecord> = runs.iter().filter(finished).collect();
        if let Some(run) = real.first() {
            set_time(&self.last_run, run.finished_at);
        }
        if let Some(run) = real.iter().find(|r| succeeded(&r.outcome)) {
            set_time(&self.last_success, run.finished_at);
        }
        // Failed runs have no counts: the newest that has them holds the records and the hold
        // (as `status` shows it).
        if let Some(counts) = real.iter().find_map(|r| r.counts.as_ref()) {
            self.set_counts(counts);
        }
        self.bookings_owned.set(owned);
    }

    pub fn run_started(&self) {
        self.running.set(1);
    }

    /// The write phase's progress of the running run (`None`: not writing).
    pub fn set_progress(&self, progress: Option<WriteProgress>) {
        let (done, total) = progress.map_or((0, 0), |p| (p.done, p.total));
        self.writes_done.set(done as i64);
        self.writes_planned.set(total as i64);
    }

    /// A run as the daemon saw it end.
    pub fn run_finished(&self, result: &Result<RunReport, SyncError>, took: Duration) {
        self.running.set(0);
        let outcome = match result {
            Ok(report) => report.outcome(),
            Err(SyncError::Locked) => "locked",
            Err(_) => "failed",
        };
        self.runs.get_or_create(&OutcomeLabels { outcome }).inc();
        if outcome == "locked" {
            // Another replica ran; this one learned nothing about the data.
            return;
        }
        self.run_duration.observe(took.as_secs_f64());
        let now = Some(Utc::now());
        set_time(&self.last_run, now);
        let Ok(report) = result else {
            return;
        };
        if succeeded(outcome) {
            set_time(&self.last_success, now);
        }
        self.set_counts(&report.counts);
    }

    /// The last completed run's records, and its hold.
    fn set_counts(&self, c: &Counts) {
        for (result, n) in [
            ("created", c.created),
            ("updated", c.updated),
            ("deleted", c.deleted),
            ("unchanged", c.unchanged),
            ("approved", c.approved),
            ("skipped", c.skipped_total()),
            ("failed", c.failed),
        ] {
            self.records
                .get_or_create(&ResultLabels { result })
                .set(n as i64);
        }
        let mut by_reason: BTreeMap<&'static str, usize> = BTreeMap::new();
        for (reason, n) in &c.skipped {
            *by_reason.entry(advice::for_skip(reason).code).or_default() += n;
        }
        self.skipped.clear();
        for (reason, n) in by_reason {
            self.skipped
                .get_or_create(&ReasonLabels { reason })
                .set(n as i64);
        }
        self.mass_delete_held
            .set(c.mass_delete_held.is_some() as i64);
    }

    /// A delivery to `POST /webhooks/personio` and what became of it.
    pub fn webhook_delivery(&self, outcome: &'static str) {
        self.webhook_deliveries
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub fn set_bookings_owned(&self, owned: i64) {
        self.bookings_owned.set(owned);
    }
}

fn succeeded(outcome: &str) -> bool {
    matches!(outcome, "succeeded" | "partial")
}

fn set_time(gauge: &Seconds, at: Option<DateTime<Utc>>) {
    if let Some(at) = at {
        gauge.set(at.timestamp_millis() as f64 / 1000.0);
    }
}

impl RequestObserver for Metrics {
    fn attempt(&self, api: &'static str, method: &Method, status: Option<StatusCode>) {
        let labels = RequestLabels {
            api,
            method: method.as_str().to_string(),
            status: status.map_or_else(|| "error".to_string(), |s| s.as_u16().to_string()),
        };
        self.requests.get_or_create(&labels).inc();
    }

    fn rate_limit_wait(&self, api: &'static str, waited: Duration) {
        if !waited.is_zero() {
            self.rate_limit_wait
                .get_or_create(&ApiLabels { api })
                .inc_by(waited.as_secs_f64());
        }
    }
}
