//! End-to-end latency through Personio's webhooks: the real daemon (`run`, API v2, subscribed
//! at start) against both simulators with 30 ms latency per request; each change is made in the
//! simulated Personio and timed until the simulated Productive shows it. Prints the median and
//! the 95th percentile for moved periods and for deletions, and writes
//! docs/webhook-latency.json.
//!
//! `cargo bench --bench webhook`; `BENCH_CHANGES` changes of each kind (default 50),
//! `BENCH_EMPLOYEES` the organisation's size (default 1000: enough future absences for the changes).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use serde_json::json;

use personio_productive_sync::domain::bookings::key_from_note;
use personio_productive_sync::domain::key_for_v2;
use personio_productive_sync::sim::generate::{self, Org, OrgSpec};
use personio_productive_sync::sim::FaultSettings;

const LATENCY: Duration = Duration::from_millis(30);
const POLL: Duration = Duration::from_millis(5);
const TOKEN: &str = "bench-webhook-token-0123456789";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// First days of the sync's bookings, by the period key their note names.
fn booked(org: &Org) -> BTreeMap<i64, Vec<NaiveDate>> {
    let mut out: BTreeMap<i64, Vec<NaiveDate>> = BTreeMap::new();
    for (_, b) in org.productive.bookings() {
        if let Some(key) = b.note.as_deref().and_then(key_from_note) {
            out.entry(key.period_id).or_default().push(b.started_on);
        }
    }
    out
}

async fn until(what: &str, probe: impl Fn() -> bool) -> Duration {
    let started = Instant::now();
    while !probe() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{what} not seen within 120 s"
        );
        tokio::time::sleep(POLL).await;
    }
    started.elapsed()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(mut samples: Vec<f64>) -> serde_json::Value {
    samples.sort_by(f64::total_cmp);
    json!({
        "n": samples.len(),
        "median_s": percentile(&samples, 50.0),
        "p95_s": percentile(&samples, 95.0),
        "max_s": samples.last(),
    })
}

fn main() {
    let changes = env_number("BENCH_CHANGES", 50);
    let employees = env_number("BENCH_EMPLOYEES", 1000);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let doc = runtime.block_on(measure(employees, changes));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/webhook-latency.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&doc).expect("json") + "\n",
    )
    .expect("writing docs/webhook-latency.json");
    println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
}

async fn measure(employees: usize, changes: usize) -> serde_json::Value {
    let today = Utc::now().date_naive();
    let org = generate::generate(&OrgSpec::new(employees, 10, today));
    let faults = FaultSettings {
        latency: LATENCY,
        ..FaultSettings::default()
    };
    // Latency, not rate limits, is measured here: both are lifted on both sides.
    org.productive.set_rate_limit_scale(0.0);
    org.productive.control().set_faults(faults.clone());
    org.personio.control().set_faults(faults);
    let personio = org.personio.start().await.expect("personio sim");
    let productive = org.productive.start().await.expect("productive sim");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("state.db").display());
    let env = [
        ("PPS__PERSONIO__API", "v2".to_string()),
        ("PPS__PERSONIO__BASE_URL", personio.url()),
        ("PPS__PERSONIO__CLIENT_ID", generate::CLIENT_ID.into()),
        (
            "PPS__PERSONIO__CLIENT_SECRET",
            generate::CLIENT_SECRET.into(),
        ),
        ("PPS__PERSONIO__WEBHOOK_TOKEN", TOKEN.into()),
        (
            "PPS__PERSONIO__WEBHOOK_URL",
            format!("http://127.0.0.1:{port}/webhooks/personio"),
        ),
        ("PPS__PERSONIO__WEBHOOK_SUBSCRIBE", "true".into()),
        ("PPS__HTTP__LISTEN", format!("127.0.0.1:{port}")),
        (
            "PPS__PRODUCTIVE__BASE_URL",
            format!("{}/api/v2", productive.url()),
        ),
        ("PPS__PRODUCTIVE__API_TOKEN", generate::API_TOKEN.into()),
        (
            "PPS__PRODUCTIVE__ORGANIZATION_ID",
            generate::ORGANIZATION_ID.into(),
        ),
        ("PPS__DATABASE__URL", db),
        ("PPS__SYNC__INTERVAL", "1h".into()),
        ("PPS__PRODUCTIVE__REQUESTS_PER_10S", "1000000".into()),
        ("PPS__PRODUCTIVE__REQUESTS_PER_30MIN", "1000000".into()),
        ("PPS__PRODUCTIVE__WRITE_CONCURRENCY", "16".into()),
        ("PPS__PERSONIO__REQUESTS_PER_MINUTE", "1000000".into()),
    ];
    let log = std::fs::File::create(dir.path().join("daemon.log")).expect("log file");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_personio-productive-sync"))
        .arg("run")
        .env_clear()
        .envs(env)
        .env("RUST_LOG", "warn")
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("starting the daemon");

    // The startup run is over once the sync's bookings are there and stay (a bench, not a test).
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = booked(&org).len();
        if now == last && now > 0 {
            break;
        }
        last = now;
    }
    // Periods ahead of today with bookings.
    let before = booked(&org);
    let candidates: Vec<(i64, i64)> = org
        .personio
        .time_offs()
        .into_iter()
        .filter(|(_, p)| p.status == "approved" && p.start > today)
        .filter_map(|(id, _)| {
            let key = key_for_v2(&org.personio.time_off_v2_id(id)?);
            before.contains_key(&key).then_some((id, key))
        })
        .collect();
    assert!(
        candidates.len() >= 2 * changes,
        "{} candidate periods for {} changes",
        candidates.len(),
        2 * changes
    );
    let (moves, deletions) = candidates.split_at(changes);
    let mut moved = Vec::new();
    for &(id, key) in moves {
        org.personio.update_time_off(id, |p| {
            p.start += chrono::Duration::days(7);
            p.end += chrono::Duration::days(7);
        });
        // Seen once its bookings moved (a week later, they cannot stay where they were).
        let took = until("a moved period", || {
            booked(&org).get(&key) != before.get(&key)
        })
        .await;
        moved.push(took.as_secs_f64());
    }
    let mut deleted = Vec::new();
    for &(id, key) in &deletions[..changes] {
        org.personio.delete_time_off(id);
        let took = until("a deletion", || !booked(&org).contains_key(&key)).await;
        deleted.push(took.as_secs_f64());
    }
    let _ = child.kill().await;
    json!({
        "employees": employees,
        "latency_ms_per_request": LATENCY.as_millis() as u64,
        "moved": summary(moved),
        "deleted": summary(deleted),
    })
}
