//! The sync at scale: the real binary (`sync`, as a child process so its peak memory is its own)
//! against both simulators in this process, with 30 ms latency per request and the real rate
//! limits scaled so that a run fits in minutes. For each organisation size it measures the first
//! full sync, a steady-state run with no change, and a run after 1% of the periods changed, and
//! prints every figure beside its lower bound. Results go to docs/benchmarks.{json,md}.
//!
//! `cargo bench --bench sync`; `BENCH_SIZES=100,1000` picks sizes (default 100,1000,5000),
//! `BENCH_APIS` the Personio APIs read through (default `v1,v2`),
//! `BENCH_RATE_SCALE` the factor on Productive's request-count limits (default 40),
//! `BENCH_STORES` the state stores to run on (default `sqlite,postgres`; PostgreSQL at
//! `BENCH_POSTGRES_URL`, default the local server, in a fresh database per size),
//! `BENCH_WRAP` a command to run the binary under (`valgrind --tool=massif
//! --massif-out-file=massif.%p` for a heap profile of each run; peak RSS is then the profiler's).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use chrono::{Months, NaiveDate, Utc};
use serde_json::{json, Value};

use personio_productive_sync::domain::bookings::key_from_note;
use personio_productive_sync::sim::generate::{self, Org, OrgSpec};
use personio_productive_sync::sim::{FaultSettings, SimServer};

const LATENCY: Duration = Duration::from_millis(30);
const PERIODS_PER_EMPLOYEE: usize = 10;
const PAGE: u64 = 200;
/// Productive's real limits (per token and per organisation) and their windows.
const TOKEN_LIMIT: f64 = 100.0;
const TOKEN_PERIOD: Duration = Duration::from_secs(10);
const ORG_LIMIT: f64 = 4000.0;
const ORG_PERIOD: Duration = Duration::from_secs(30 * 60);
/// Writes in flight: enough to keep the budget busy at 30 ms per request.
const WRITE_CONCURRENCY: u32 = 16;

fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "100,1000,5000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("BENCH_SIZES: comma-separated numbers")
        })
        .collect();
    let scale: f64 = std::env::var("BENCH_RATE_SCALE")
        .map(|s| s.parse().expect("BENCH_RATE_SCALE: a number"))
        .unwrap_or(40.0);
    let stores: Vec<String> = std::env::var("BENCH_STORES")
        .unwrap_or_else(|_| "sqlite,postgres".into())
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let apis: Vec<String> = std::env::var("BENCH_APIS")
        .unwrap_or_else(|_| "v1,v2".into())
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut results = Vec::new();
    for store in &stores {
        for &employees in &sizes {
            for api in &apis {
                eprintln!("bench: {employees} employees on {store} through Personio {api}");
                results.push(runtime.block_on(bench_org(employees, scale, store, api)));
            }
        }
    }
    let budget = Budget::new(scale);
    let doc = json!({
        "machine": machine(),
        "latency_ms": LATENCY.as_millis() as u64,
        "rate_limit_scale": scale,
        "budget": {
            "productive_requests_per_10s": budget.per_10s,
            "productive_requests_per_30min": budget.per_30min,
            "note": "the daemon's budget is half of Productive's scaled limits, as in the defaults",
        },
        "write_concurrency": WRITE_CONCURRENCY,
        "periods_per_employee": PERIODS_PER_EMPLOYEE,
        "results": results,
    });
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    std::fs::create_dir_all(&root).expect("docs/");
    std::fs::write(
        root.join("benchmarks.json"),
        serde_json::to_string_pretty(&doc).expect("json") + "\n",
    )
    .expect("writing docs/benchmarks.json");
    let table = markdown(&doc);
    // The hand-written analysis below the table survives a re-run (and then needs a re-read).
    let md = root.join("benchmarks.md");
    let analysis = std::fs::read_to_string(&md)
        .ok()
        .and_then(|old| old.find("\n## Analysis").map(|at| old[at..].to_string()))
        .unwrap_or_default();
    std::fs::write(&md, format!("{table}{analysis}")).expect("writing docs/benchmarks.md");
    println!("{table}");
}

/// The daemon's Productive budget: half of the scaled limits, like the shipped defaults.
struct Budget {
    per_10s: u64,
    per_30min: u64,
}

impl Budget {
    fn new(scale: f64) -> Self {
        Self {
            per_10s: (TOKEN_LIMIT * scale / 2.0) as u64,
            per_30min: (ORG_LIMIT * scale / 2.0) as u64,
        }
    }

    /// The least time `n` requests take under both sliding windows: the first window's worth
    /// goes at once, each further one waits a whole period.
    fn min_time(&self, n: u64) -> Duration {
        let wait = |limit: u64, period: Duration| period * (n.saturating_sub(1) / limit) as u32;
        wait(self.per_10s, TOKEN_PERIOD).max(wait(self.per_30min, ORG_PERIOD))
    }
}

/// A sync booking as Productive holds it (person, event, dates, minutes per day), for counting
/// the writes a run needed at least.
type Held = BTreeMap<i64, (i64, Option<i64>, NaiveDate, NaiveDate, Option<i64>)>;

fn held(org: &Org) -> Held {
    org.productive
        .bookings()
        .into_iter()
        .filter(|(_, b)| b.note.as_deref().and_then(key_from_note).is_some())
        .map(|(id, b)| {
            (
                id,
                (b.person_id, b.event_id, b.started_on, b.ended_on, b.time),
            )
        })
        .collect()
}

/// The fewest Productive writes turning `before` into `after`: one per booking created, changed
/// or deleted, plus one approval (and the read of its approval step, which the booking does not
/// carry) per booking created for a person with an approval policy (only creation makes a
/// booking pending). Returns (writes, approvals).
fn needed_writes(org: &Org, before: &Held, after: &Held) -> (u64, u64) {
    let approval: HashSet<i64> = org
        .productive
        .people()
        .into_iter()
        .filter(|(_, p)| p.has_approval_policy)
        .map(|(id, _)| id)
        .collect();
    let mut writes = 0;
    let mut approvals = 0;
    for (id, now) in after {
        if before.get(id) != Some(now) {
            writes += 1;
            approvals += u64::from(!before.contains_key(id) && approval.contains(&now.0));
        }
    }
    writes += before.keys().filter(|id| !after.contains_key(id)).count() as u64;
    (writes + approvals, approvals)
}

fn pages(records: u64) -> u64 {
    records.div_ceil(PAGE).max(1)
}

/// Pages a read needs to prove it complete without trusting metadata: it ends on a short page.
fn proof_pages(records: u64) -> u64 {
    records / PAGE + 1
}

/// Counts the simulator's 429 answers (the request counter runs before the limit check).
async fn count_429(State(n): State<Arc<AtomicU64>>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status() == StatusCode::TOO_MANY_REQUESTS {
        n.fetch_add(1, Ordering::Relaxed);
    }
    response
}

struct Sims {
    org: Org,
    personio: SimServer,
    productive: SimServer,
    throttled: Arc<AtomicU64>,
    /// Where the child's report goes.
    report: std::path::PathBuf,
    /// The Personio API the child reads through.
    api: String,
}

/// A fresh state store of the given kind and a folder for the child's reports.
async fn fresh_store(kind: &str, employees: usize, dir: &std::path::Path) -> String {
    match kind {
        "sqlite" => format!("sqlite://{}", dir.join("state.db").display()),
        "postgres" => {
            use sqlx::Connection;
            let server = std::env::var("BENCH_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let name = format!(
                "pps_bench_{employees}_{}_{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis())
            );
            let mut admin = sqlx::postgres::PgConnection::connect(&server)
                .await
                .expect("BENCH_POSTGRES_URL: PostgreSQL reachable");
            for sql in [
                format!("DROP DATABASE IF EXISTS {name}"),
                format!("CREATE DATABASE {name}"),
            ] {
                sqlx::query(&sql).execute(&mut admin).await.expect(&sql);
            }
            let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
            format!("{base}/{name}")
        }
        other => panic!("BENCH_STORES: unknown store {other:?} (sqlite or postgres)"),
    }
}

async fn bench_org(employees: usize, scale: f64, store: &str, api: &str) -> Value {
    let today = Utc::now().date_naive();
    let org = generate::generate(&OrgSpec::new(employees, PERIODS_PER_EMPLOYEE, today));
    // The generator stamps every record "updated today"; age them so that an incremental read
    // sees what changed since, as it would in production, rather than the whole organisation.
    org.personio
        .set_clock(Some(Utc::now() - chrono::Duration::days(30)));
    for (id, _) in org.personio.time_offs() {
        org.personio.update_time_off(id, |_| {});
    }
    org.personio.set_clock(None);
    org.productive.set_rate_limit_scale(scale);
    let faults = FaultSettings {
        latency: LATENCY,
        ..FaultSettings::default()
    };
    org.productive.control().set_faults(faults.clone());
    org.personio.control().set_faults(faults);
    let throttled = Arc::new(AtomicU64::new(0));
    let layer = || middleware::from_fn_with_state(throttled.clone(), count_429);
    let sims = Sims {
        personio: SimServer::start(org.personio.router().layer(layer()))
            .await
            .expect("personio sim"),
        productive: SimServer::start(org.productive.router().layer(layer()))
            .await
            .expect("productive sim"),
        org,
        throttled,
        report: Default::default(),
        api: api.to_string(),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let db = fresh_store(store, employees, dir.path()).await;
    let sims = Sims {
        report: dir.path().join("report.out"),
        ..sims
    };
    let budget = Budget::new(scale);

    let first = measure(&sims, &db, &budget, "first full sync", None).await;
    let steady = measure(&sims, &db, &budget, "steady state, no change", Some(0)).await;
    // 1% of the periods move by a week (an incremental read picks them up).
    let changed: Vec<i64> = sims
        .org
        .personio
        .time_offs()
        .into_iter()
        .map(|(id, _)| id)
        .step_by(100)
        .collect();
    for id in &changed {
        sims.org.personio.update_time_off(*id, |p| {
            p.start += chrono::Duration::days(7);
            p.end += chrono::Duration::days(7);
        });
    }
    let after_change = measure(
        &sims,
        &db,
        &budget,
        "after 1% of periods changed",
        Some(changed.len() as u64),
    )
    .await;
    json!({
        "store": store,
        "api": api,
        "employees": employees,
        "productive_people": sims.org.productive.people().len(),
        "time_offs": sims.org.personio.time_offs().len(),
        "periods_changed": changed.len(),
        "runs": [first, steady, after_change],
    })
}

/// One `sync` of the real binary against the simulators, with its figures and lower bounds.
/// `changed` is how many Personio periods changed since the last run (all of them for the
/// first, full, run).
async fn measure(
    sims: &Sims,
    db: &str,
    budget: &Budget,
    name: &str,
    changed: Option<u64>,
) -> Value {
    let full = changed.is_none();
    eprintln!("bench:   {name}");
    let org = &sims.org;
    org.personio.control().requests.reset();
    org.productive.control().requests.reset();
    sims.throttled.store(0, Ordering::Relaxed);
    let before = held(org);
    let bookings_in_window = {
        let start = Utc::now()
            .date_naive()
            .checked_sub_months(Months::new(3))
            .expect("date");
        before.values().filter(|b| b.3 >= start).count() as u64
    };

    // The report goes to a file: a pipe nobody drains until exit would block a large report.
    let report_path = &sims.report;
    let report_file = std::fs::File::create(report_path).expect("report file");
    // Warnings and errors go to a file too, so that a failed run says why.
    let log_path = report_path.with_extension("log");
    let log_file = std::fs::File::create(&log_path).expect("log file");
    let started = Instant::now();
    let wrap = std::env::var("BENCH_WRAP").unwrap_or_default();
    let mut words: Vec<String> = wrap.split_whitespace().map(String::from).collect();
    words.push(env!("CARGO_BIN_EXE_personio-productive-sync").into());
    let mut child = tokio::process::Command::new(&words[0])
        .args(&words[1..])
        .arg("sync")
        .envs(child_env(sims, db, budget))
        .env("RUST_LOG", "warn")
        // As the container image runs it (see Dockerfile): fewer malloc arenas, less RSS.
        .env("MALLOC_ARENA_MAX", "2")
        .stdout(report_file)
        .stderr(log_file)
        .spawn()
        .expect("starting the sync binary");
    let pid = child.id().expect("child pid");
    let mut peak_kb = 0;
    let status = loop {
        // VmHWM is the process's own high-water mark, so polling only has to catch it before exit.
        if let Some(kb) = vm_hwm_kb(pid) {
            peak_kb = peak_kb.max(kb);
        }
        tokio::select! {
            status = child.wait() => break status.expect("waiting for the sync"),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    };
    let wall = started.elapsed();
    let stdout = std::fs::read_to_string(report_path).unwrap_or_default();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(20).collect();
    assert!(
        status.success(),
        "sync exited with {status}: {stdout}\n{}",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );

    let after = held(org);
    let (writes_needed, approvals) = needed_writes(org, &before, &after);
    let productive = org.productive.control().requests.snapshot();
    let personio = org.personio.control().requests.snapshot();
    let productive_writes = org.productive.control().requests.writes();
    let productive_reads = org.productive.control().requests.total() - productive_writes;
    let people = org.productive.people().len() as u64;
    let events = org.productive.events().len() as u64;
    // Reads every run needs: events and people (capacity changes are only visible there), the
    // approval steps to approve, and on full runs the bookings on the sync's events.
    let reads_needed = pages(events)
        + pages(people)
        + approvals
        + if full { pages(bookings_in_window) } else { 0 };
    // Personio: a token, the types, and the complete set of in-scope periods: a whole read of
    // the window (the first reaches ten years back), the changes since the last run, and one
    // lookup per cached period the whole read could not have returned; on full reads the
    // hour-unit absences. A read ends on a short page, which proves it complete.
    let window_start = Utc::now()
        .date_naive()
        .checked_sub_months(Months::new(3))
        .expect("date");
    let reach_back = if full {
        window_start
            .checked_sub_months(Months::new(120))
            .expect("date")
    } else {
        window_start - chrono::Days::new(366)
    };
    let periods = org.personio.time_offs();
    let whole = periods
        .iter()
        .filter(|(_, p)| p.start >= reach_back)
        .count() as u64;
    let long = periods
        .iter()
        .filter(|(_, p)| p.start < reach_back && p.end >= window_start)
        .count() as u64;
    let changes = changed.map_or(0, proof_pages);
    let types = org.personio.time_off_types().len() as u64;
    let hourly = org.personio.hourly_absences().len() as u64;
    let personio_needed = match sims.api.as_str() {
        "v2" => v2_bound(org, window_start, changed),
        _ => {
            1 + pages(types)
                + proof_pages(whole)
                + changes
                + long
                + if full { proof_pages(hourly) } else { 0 }
        }
    };
    let productive_total = productive_reads + productive_writes;
    let productive_needed = reads_needed + writes_needed;
    let time_bound = budget.min_time(productive_needed);
    let ratio = |a: f64, b: f64| if b > 0.0 { Some(a / b) } else { None };
    json!({
        "run": name,
        "summary": stdout.lines().last().unwrap_or_default(),
        "wall_s": wall.as_secs_f64(),
        "time_bound_s": time_bound.as_secs_f64(),
        "time_ratio": ratio(wall.as_secs_f64(), time_bound.as_secs_f64()),
        "peak_rss_mb": peak_kb as f64 / 1024.0,
        "responses_429": sims.throttled.load(Ordering::Relaxed),
        "productive": {
            "requests": productive,
            "reads": productive_reads,
            "reads_bound": reads_needed,
            "reads_ratio": ratio(productive_reads as f64, reads_needed as f64),
            "writes": productive_writes,
            "writes_bound": writes_needed,
            "writes_ratio": ratio(productive_writes as f64, writes_needed as f64),
            "total": productive_total,
            "total_bound": productive_needed,
        },
        "personio": {
            "requests": personio,
            "total": org.personio.control().requests.total(),
            "total_bound": personio_needed,
        },
    })
}

/// Personio v2's fewest requests: a token, the types (pages of 100), the day-unit periods
/// overlapping the window (pages of 100; v2 filters by overlap, so no reach-back and no lookups),
/// the changes since the last run, the emails of the persons the periods name (pages of 50),
/// one breakdown to learn the end convention (each `sync` is a new process), and on full runs the
/// hour-unit periods.
fn v2_bound(org: &Org, window_start: NaiveDate, changed: Option<u64>) -> u64 {
    let v2_pages = |n: u64, size: u64| n.div_ceil(size).max(1);
    let types = org.personio.time_off_types();
    let day_types: HashSet<i64> = types
        .iter()
        .filter(|(_, t)| t.unit == personio_productive_sync::domain::AbsenceUnit::Day)
        .map(|(id, _)| *id)
        .collect();
    let periods: Vec<_> = org
        .personio
        .time_offs()
        .into_iter()
        .filter(|(_, p)| day_types.contains(&p.type_id) && p.end >= window_start)
        .collect();
    let persons: HashSet<i64> = periods.iter().map(|(_, p)| p.employee_id).collect();
    let full = changed.is_none();
    let hourly = org.personio.hourly_absences().len() as u64;
    1 + v2_pages(types.len() as u64, 100)
        + v2_pages(periods.len() as u64, 100)
        + changed.map_or(0, |n| v2_pages(n, 100))
        + v2_pages(persons.len() as u64, 50)
        + 1
        + if full { v2_pages(hourly, 100) } else { 0 }
}

fn child_env(sims: &Sims, db: &str, budget: &Budget) -> Vec<(String, String)> {
    [
        ("PPS__PERSONIO__API", sims.api.clone()),
        ("PPS__PERSONIO__BASE_URL", sims.personio.url()),
        ("PPS__PERSONIO__CLIENT_ID", generate::CLIENT_ID.into()),
        (
            "PPS__PERSONIO__CLIENT_SECRET",
            generate::CLIENT_SECRET.into(),
        ),
        (
            "PPS__PRODUCTIVE__BASE_URL",
            format!("{}/api/v2", sims.productive.url()),
        ),
        ("PPS__PRODUCTIVE__API_TOKEN", generate::API_TOKEN.into()),
        (
            "PPS__PRODUCTIVE__ORGANIZATION_ID",
            generate::ORGANIZATION_ID.into(),
        ),
        (
            "PPS__PRODUCTIVE__REQUESTS_PER_10S",
            budget.per_10s.to_string(),
        ),
        (
            "PPS__PRODUCTIVE__REQUESTS_PER_30MIN",
            budget.per_30min.to_string(),
        ),
        (
            "PPS__PRODUCTIVE__WRITE_CONCURRENCY",
            WRITE_CONCURRENCY.to_string(),
        ),
        ("PPS__DATABASE__URL", db.into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    json!({
        "nproc": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu": cpu,
        "memory_gb": (mem_kb as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
    })
}

fn markdown(doc: &Value) -> String {
    let f = |v: &Value| v.as_f64().map_or("–".into(), |x| format!("{x:.2}"));
    let m = &doc["machine"];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Benchmark results\n\nGenerated by `cargo bench --bench sync`. Machine: {} cores ({}), {} GB.\n\
         Latency {} ms per request on both simulators; Productive's limits ×{} (the daemon's budget \
         is half of them: {} per 10 s, {} per 30 min); write concurrency {}; about {} periods per \
         employee. Bounds: the fewest requests the APIs allow (pages of 200, one write per changed \
         booking plus approvals) and the least time the budget allows for them.\n",
        m["nproc"],
        m["cpu"].as_str().unwrap_or_default(),
        m["memory_gb"],
        doc["latency_ms"],
        doc["rate_limit_scale"],
        doc["budget"]["productive_requests_per_10s"],
        doc["budget"]["productive_requests_per_30min"],
        doc["write_concurrency"],
        doc["periods_per_employee"],
    );
    let _ = writeln!(
        out,
        "| store | Personio API | employees | run | wall s | bound s | ×bound | Productive reads (bound, ×) | Productive writes (bound, ×) | Personio requests (bound) | 429s | peak RSS MB |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in doc["results"].as_array().into_iter().flatten() {
        for run in r["runs"].as_array().into_iter().flatten() {
            let p = &run["productive"];
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} ({}, {}) | {} ({}, {}) | {} ({}) | {} | {:.1} |",
                r["store"].as_str().unwrap_or("sqlite"),
                r["api"].as_str().unwrap_or("v1"),
                r["employees"],
                run["run"].as_str().unwrap_or_default(),
                f(&run["wall_s"]),
                f(&run["time_bound_s"]),
                f(&run["time_ratio"]),
                p["reads"],
                p["reads_bound"],
                f(&p["reads_ratio"]),
                p["writes"],
                p["writes_bound"],
                f(&p["writes_ratio"]),
                run["personio"]["total"],
                run["personio"]["total_bound"],
                run["responses_429"],
                run["peak_rss_mb"].as_f64().unwrap_or(0.0),
            );
        }
    }
    out
}
