//! Shared test helpers: fresh databases on both backends.

use secrecy::SecretString;

use personio_productive_sync::store::Store;

/// The PostgreSQL server tests use; override with `TEST_POSTGRES_URL` (a server URL without a
/// database name).
fn postgres_server() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A database a test owns alone; dropped with the value.
pub struct TestDb {
    pub url: SecretString,
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = SecretString::from(format!(
        "sqlite://{}",
        dir.path().join("state.db").display()
    ));
    let store = Store::connect(&url, 4).await.unwrap();
    store.migrate().await.unwrap();
    TestDb {
        url,
        store,
        _dir: Some(dir),
    }
}

/// A fresh PostgreSQL database. Fails loudly (never skips) when no server answers.
pub async fn postgres_db() -> TestDb {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let server = postgres_server();
    let admin_url = format!("{server}/postgres");
    let mut admin = sqlx::AnyConnection::connect(&admin_url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is required for this test and is not reachable at {server} ({e}). \
             Start it (e.g. `pg_ctlcluster 15 main start`, as .ci/run does) or set TEST_POSTGRES_URL."
        )
    });
    let name = format!("pps_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = SecretString::from(format!("{server}/{name}"));
    let store = Store::connect(&url, 4).await.unwrap();
    store.migrate().await.unwrap();
    TestDb {
        url,
        store,
        _dir: None,
    }
}

/// The PostgreSQL server's address, which a proxy in front of it forwards to.
pub fn postgres_addr() -> std::net::SocketAddr {
    let server = url::Url::parse(&postgres_server()).unwrap();
    let host = server.host_str().unwrap().to_string();
    let port = server.port().unwrap_or(5432);
    std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .unwrap()
        .next()
        .unwrap()
}

impl TestDb {
    /// The same PostgreSQL database reached at `addr` (a proxy in front of the server), on a
    /// pool whose statements fail after `acquire_timeout` without a connection.
    pub async fn through(
        &self,
        addr: std::net::SocketAddr,
        acquire_timeout: std::time::Duration,
    ) -> TestDb {
        use secrecy::ExposeSecret;
        let mut url = url::Url::parse(self.url.expose_secret()).unwrap();
        url.set_ip_host(addr.ip()).unwrap();
        url.set_port(Some(addr.port())).unwrap();
        let url = SecretString::from(url.to_string());
        let store = Store::connect_waiting(&url, 4, acquire_timeout)
            .await
            .unwrap();
        TestDb {
            url,
            store,
            _dir: None,
        }
    }
}

/// Both backends, for contract tests.
pub async fn all_dbs() -> Vec<(&'static str, TestDb)> {
    vec![
        ("sqlite", sqlite_db().await),
        ("postgres", postgres_db().await),
    ]
}

/// Asks `probe` until it answers `Some`, at least once and never after `deadline`, pausing
/// `every` between looks (how often a look is worth its cost); `None` when the deadline passed
/// first. The caller says what was expected when it panics on `None`.
pub async fn eventually<T>(
    deadline: std::time::Instant,
    every: std::time::Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> Option<T> {
    loop {
        if let Some(found) = probe().await {
            return Some(found);
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        tokio::time::sleep(left.min(every)).await;
    }
}

// ---- end-to-end harness: both simulators, a store and the engine --------------------------------

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Datelike, Months, NaiveDate, Utc, Weekday};
use tokio_util::sync::CancellationToken;

use personio_productive_sync::config::Settings;
use personio_productive_sync::domain::{AbsenceUnit, AvailabilityPeriod};
use personio_productive_sync::http::RetryPolicy;
use personio_productive_sync::personio::PersonioClient;
use personio_productive_sync::productive::ProductiveClient;
use personio_productive_sync::sim::generate::{self, Org, OrgSpec};
use personio_productive_sync::sim::productive::SimBooking;
use personio_productive_sync::sim::SimServer;
use personio_productive_sync::sync::Trigger;
use personio_productive_sync::sync::{
    EngineSettings, RunOptions, RunReport, SyncError, Syncer, WriteRetries,
};

pub fn full_run() -> RunOptions {
    RunOptions {
        trigger: Trigger::Manual,
        dry_run: false,
        force_full: true,
        allow_mass_delete: false,
        named: Vec::new(),
    }
}

/// The engine's settings, with in-run retries that wait milliseconds instead of seconds.
pub fn engine_settings(settings: &Settings) -> EngineSettings {
    let mut engine = personio_productive_sync::app::sync_settings(settings).unwrap();
    engine.write_retries = WriteRetries {
        first_backoff: std::time::Duration::from_millis(10),
        max_backoff: std::time::Duration::from_millis(100),
        ..WriteRetries::default()
    };
    engine
}

pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// Settings pointing at the simulators, built the way the binary builds them (env layer).
pub fn sim_settings(personio: &SimServer, productive: &SimServer, db_url: &str) -> Settings {
    Settings::load_from(None, sim_env(personio, productive, db_url)).unwrap()
}

/// The `PPS__` variables that point the binary at the simulators and a database.
pub fn sim_env(
    personio: &SimServer,
    productive: &SimServer,
    db_url: &str,
) -> Vec<(String, String)> {
    [
        ("PPS__PERSONIO__BASE_URL", personio.url()),
        ("PPS__PERSONIO__CLIENT_ID", generate::CLIENT_ID.to_string()),
        (
            "PPS__PERSONIO__CLIENT_SECRET",
            generate::CLIENT_SECRET.to_string(),
        ),
        (
            "PPS__PRODUCTIVE__BASE_URL",
            format!("{}/api/v2", productive.url()),
        ),
        (
            "PPS__PRODUCTIVE__API_TOKEN",
            generate::API_TOKEN.to_string(),
        ),
        (
            "PPS__PRODUCTIVE__ORGANIZATION_ID",
            generate::ORGANIZATION_ID.to_string(),
        ),
        ("PPS__DATABASE__URL", db_url.to_string()),
        // Tests are not about pacing: the simulators' limits are off too.
        ("PPS__PRODUCTIVE__REQUESTS_PER_10S", "1000000".to_string()),
        ("PPS__PRODUCTIVE__REQUESTS_PER_30MIN", "1000000".to_string()),
        ("PPS__PERSONIO__REQUESTS_PER_MINUTE", "1000000".to_string()),
        // Off: daemons of tests running at once would contend for the default port.
        ("PPS__HTTP__LISTEN", String::new()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// An organisation in both simulators, served on loopback, with a store and an engine.
pub struct Harness {
    pub org: Org,
    // Held to keep the simulators serving; their addresses point child processes at them.
    pub personio_server: SimServer,
    pub productive_server: SimServer,
    pub db: TestDb,
    pub syncer: Syncer,
    pub settings: Settings,
    /// The hand-made bookings as they were before any sync, to compare field by field.
    hand_made: BTreeMap<i64, SimBooking>,
}

impl Harness {
    pub async fn new(org: Org, db: TestDb) -> Self {
        org.productive.set_rate_limit_scale(0.0);
        org.personio
            .set_quirks(personio_productive_sync::sim::personio::PersonioQuirks {
                rate_limit_scale: 0.0,
                ..Default::default()
            });
        let personio_server = org.personio.start().await.unwrap();
        let productive_server = org.productive.start().await.unwrap();
        use secrecy::ExposeSecret;
        let settings = sim_settings(&personio_server, &productive_server, db.url.expose_secret());
        let retry = RetryPolicy {
            base_delay: std::time::Duration::from_millis(5),
            ..RetryPolicy::default()
        };
        let syncer = Syncer::new(
            engine_settings(&settings),
            db.store.clone(),
            Arc::new(PersonioClient::new(&settings.personio, retry).unwrap()),
            ProductiveClient::new(&settings.productive, retry).unwrap(),
        );
        let hand_made = hand_made_bookings(&org);
        assert!(
            hand_made.len() == org.hand_made_bookings.len(),
            "every hand-made booking exists before the sync"
        );
        Self {
            hand_made,
            org,
            personio_server,
            productive_server,
            db,
            syncer,
            settings,
        }
    }

    pub async fn generated(employees: usize, periods: usize, db: TestDb) -> Self {
        Self::new(
            generate::generate(&OrgSpec::new(employees, periods, today())),
            db,
        )
        .await
    }

    pub async fn try_sync(&self, dry_run: bool, force_full: bool) -> Result<RunReport, SyncError> {
        let options = RunOptions {
            trigger: Trigger::Manual,
            dry_run,
            force_full,
            allow_mass_delete: false,
            named: Vec::new(),
        };
        self.syncer.run(options, CancellationToken::new()).await
    }

    pub async fn sync(&self) -> RunReport {
        self.try_sync(false, false).await.expect("sync run")
    }

    pub async fn sync_full(&self) -> RunReport {
        self.try_sync(false, true).await.expect("sync run")
    }

    /// Another engine on the same simulators and store, with its settings changed by `tweak`.
    pub fn syncer_with(&self, tweak: impl FnOnce(&mut EngineSettings)) -> Syncer {
        let mut settings = engine_settings(&self.settings);
        tweak(&mut settings);
        let retry = RetryPolicy::default();
        Syncer::new(
            settings,
            self.db.store.clone(),
            Arc::new(PersonioClient::new(&self.settings.personio, retry).unwrap()),
            ProductiveClient::new(&self.settings.productive, retry).unwrap(),
        )
    }

    /// Another engine on the same simulators and store, reading Personio through `api`.
    pub fn syncer_on(&self, api: personio_productive_sync::config::PersonioApi) -> Syncer {
        self.syncer_on_with(api, |_| {})
    }

    /// [`Self::syncer_on`] with the engine's settings changed by `tweak`.
    pub fn syncer_on_with(
        &self,
        api: personio_productive_sync::config::PersonioApi,
        tweak: impl FnOnce(&mut EngineSettings),
    ) -> Syncer {
        let mut personio = self.settings.personio.clone();
        personio.api = api;
        let retry = RetryPolicy {
            base_delay: std::time::Duration::from_millis(5),
            ..RetryPolicy::default()
        };
        let mut settings = engine_settings(&self.settings);
        tweak(&mut settings);
        Syncer::new(
            settings,
            self.db.store.clone(),
            personio_productive_sync::app::personio_source(&personio, retry, None).unwrap(),
            ProductiveClient::new(&self.settings.productive, retry).unwrap(),
        )
    }

    /// Another engine on the same simulators and store whose "now" is `now`.
    pub async fn syncer_with_clock(&self, now: chrono::DateTime<Utc>) -> Syncer {
        let retry = RetryPolicy::default();
        Syncer::new(
            engine_settings(&self.settings),
            self.db.store.clone(),
            Arc::new(PersonioClient::new(&self.settings.personio, retry).unwrap()),
            ProductiveClient::new(&self.settings.productive, retry).unwrap(),
        )
        .with_clock(Arc::new(move || now))
    }

    /// Productive writes (non-GET requests) since the counters were last reset.
    pub fn productive_writes(&self) -> u64 {
        self.org.productive.control().requests.writes()
    }

    pub fn reset_counters(&self) {
        self.org.productive.control().requests.reset();
        self.org.personio.control().requests.reset();
    }
}

/// (person id, date) → every (event name, minutes) booked that day.
pub type DayBook = BTreeMap<(i64, NaiveDate), Vec<(String, i64)>>;

// The oracle below shares no rule with the crate (nothing from `domain`): it reads the
// simulators' own data and applies the rules as the README states them, so a wrong capacity or
// marker rule in the crate cannot agree with itself.

/// A person's working minutes on `day`, read from their Productive availabilities: the period
/// covering the day (the latest-starting one where several do), that weekday's hours (Monday
/// first; a 14-entry pattern is weeks A and B, week A being the one the period starts in).
fn working_minutes(availabilities: &[AvailabilityPeriod], day: NaiveDate) -> i64 {
    let covering = availabilities
        .iter()
        .filter(|a| a.start <= day && a.end.is_none_or(|end| day <= end))
        .max_by_key(|a| a.start);
    let Some(period) = covering else {
        return 0;
    };
    let monday = |d: NaiveDate| d.week(Weekday::Mon).first_day();
    let week_b =
        period.hours.len() == 14 && (monday(day) - monday(period.start)).num_weeks() % 2 == 1;
    let slot = day.weekday().num_days_from_monday() as usize + if week_b { 7 } else { 0 };
    let hours = period.hours.get(slot).copied().unwrap_or(0.0);
    if hours > 0.0 {
        (hours * 60.0).round() as i64
    } else {
        0
    }
}

/// The period (and part) a synced booking's note names: `Synced from Personio · absence <id>`,
/// optionally followed by ` · part <k>/<n>`.
pub fn synced_absence(note: &str) -> Option<(i64, i64)> {
    let rest = note.strip_prefix("Synced from Personio · absence ")?;
    let id_len = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let id = rest[..id_len].parse().ok()?;
    let Some(part) = rest[id_len..].strip_prefix(" · part ") else {
        return Some((id, 1));
    };
    let (k, n) = part.split_once('/')?;
    let n_len = n.find(|c: char| !c.is_ascii_digit()).unwrap_or(n.len());
    let (k, n): (i64, i64) = (k.parse().ok()?, n[..n_len].parse().ok()?);
    (1..=n).contains(&k).then_some((id, k))
}

/// What the rules say Productive should hold, computed straight from both simulators' state
/// (independently of the engine): approved day-unit periods ending in the last 3 months or
/// later, on the one active person with the same email, full days at capacity, half days at
/// half (rounded up), nothing on days without capacity, nothing for limited events.
pub fn expected_days(org: &Org) -> DayBook {
    let window_start = today().checked_sub_months(Months::new(3)).unwrap();
    let people = org.productive.people();
    let events = org.productive.events();
    let types: BTreeMap<i64, _> = org.personio.time_off_types().into_iter().collect();
    let employees: BTreeMap<i64, _> = org.personio.employees().into_iter().collect();
    let mut out = DayBook::new();
    for (_, p) in org.personio.time_offs() {
        let t = &types[&p.type_id];
        if p.status != "approved" || p.end < window_start || t.unit != AbsenceUnit::Day {
            continue;
        }
        let email = employees[&p.employee_id].email.trim().to_lowercase();
        let matches: Vec<_> = people
            .iter()
            .filter(|(_, person)| {
                person.active
                    && person.email.as_deref().map(|e| e.trim().to_lowercase())
                        == Some(email.clone())
            })
            .collect();
        let [(person_id, person)] = matches.as_slice() else {
            continue;
        };
        let event = events
            .iter()
            .find(|(_, e)| !e.archived && e.name.eq_ignore_ascii_case(&t.name))
            .map(|(_, e)| e.clone());
        if event.as_ref().is_some_and(|e| e.limitation_type_id != 4) {
            continue;
        }
        let event_name = event
            .map(|e| e.name)
            .unwrap_or_else(|| t.name.clone())
            .to_lowercase();
        let mut day = p.start;
        while day <= p.end {
            let capacity = working_minutes(&person.availabilities, day);
            let half = if p.start == p.end {
                p.half_day_start || p.half_day_end
            } else {
                (day == p.start && p.half_day_start) || (day == p.end && p.half_day_end)
            };
            let minutes = if half { (capacity + 1) / 2 } else { capacity };
            if minutes > 0 {
                out.entry((*person_id, day))
                    .or_default()
                    .push((event_name.clone(), minutes));
            }
            day = day.succ_opt().unwrap();
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// What Productive holds in bookings the sync made, day by day (days with capacity only, as
/// Productive books them).
pub fn actual_days(org: &Org) -> DayBook {
    let people: BTreeMap<i64, _> = org.productive.people().into_iter().collect();
    let events: BTreeMap<i64, _> = org.productive.events().into_iter().collect();
    let mut out = DayBook::new();
    for (_, b) in org.productive.bookings() {
        if b.note.as_deref().and_then(synced_absence).is_none() {
            continue;
        }
        let name = events[&b.event_id.unwrap()].name.to_lowercase();
        let mut day = b.started_on;
        while day <= b.ended_on {
            if working_minutes(&people[&b.person_id].availabilities, day) > 0 {
                out.entry((b.person_id, day))
                    .or_default()
                    .push((name.clone(), b.time.unwrap()));
            }
            day = day.succ_opt().unwrap();
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// Every hand-made booking (the generator's, by id) with all its fields.
fn hand_made_bookings(org: &Org) -> BTreeMap<i64, SimBooking> {
    org.productive
        .bookings()
        .into_iter()
        .filter(|(id, _)| org.hand_made_bookings.contains(id))
        .collect()
}

impl Harness {
    /// Asserts Productive holds exactly what the rules say, with no duplicate and every sync
    /// booking approved, and the hand-made bookings exactly as they were when the harness was
    /// built, field by field.
    pub fn assert_exact(&self) {
        self.assert_holds(expected_days(&self.org));
    }

    /// [`Self::assert_exact`] against `expected` (the rules' result changed by a test's own
    /// settings).
    pub fn assert_holds(&self, expected: DayBook) {
        let org = &self.org;
        let actual = actual_days(org);
        let missing: Vec<_> = expected
            .iter()
            .filter(|(k, v)| actual.get(k) != Some(v))
            .take(5)
            .collect();
        let extra: Vec<_> = actual
            .iter()
            .filter(|(k, v)| expected.get(k) != Some(v))
            .take(5)
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "expected but not booked: {missing:?}\nbooked but not expected: {extra:?}"
        );
        let mut keys = std::collections::HashSet::new();
        for (id, b) in org.productive.bookings() {
            if let Some(key) = b.note.as_deref().and_then(synced_absence) {
                assert!(keys.insert(key), "duplicate booking {id} for {key:?}");
                assert!(b.approved, "booking {id} is still pending approval");
            }
        }
        let now = hand_made_bookings(org);
        for (id, before) in &self.hand_made {
            assert_eq!(now.get(id), Some(before), "hand-made booking {id} changed");
        }
    }
}
