//! The real binary as a child process against the simulators (served by this test process on
//! loopback): SIGKILLed at random points many times over, then checked exactly; the daemon's
//! signals and JSON logs; the run lock between processes; `status`. Every process's whole output
//! is checked for secrets.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{Duration as Days, Months};
use futures::FutureExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use personio_productive_sync::domain::JournalState;
use personio_productive_sync::sim::generate::{self, Counterpart, Org};
use personio_productive_sync::sim::personio::SimTimeOff;
use personio_productive_sync::sim::FaultSettings;

use crate::support::{eventually, postgres_db, sim_env, sqlite_db, today, Harness, TestDb};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_personio-productive-sync");

/// The environment a child gets: nothing inherited (a developer's `PPS__`/`RUST_LOG` must not
/// leak in), the simulators, the database and JSON logs.
pub(crate) fn child_env(h: &Harness, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = sim_env(
        &h.personio_server,
        &h.productive_server,
        h.db.url.expose_secret(),
    );
    env.push(("PPS__LOG__FORMAT".into(), "json".into()));
    env.push(("RUST_LOG".into(), "info".into()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// A running binary whose stdout and stderr lines are collected as they arrive.
pub(crate) struct Proc {
    pub(crate) child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

/// A finished process and everything it printed.
pub(crate) struct Output {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: Vec<String>,
    pub(crate) stderr: Vec<String>,
}

fn collect(
    stream: impl AsyncRead + Unpin + Send + 'static,
) -> (Arc<Mutex<Vec<String>>>, JoinHandle<()>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let reader = tokio::spawn(async move {
        let mut stream = BufReader::new(stream).lines();
        while let Ok(Some(line)) = stream.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    (lines, reader)
}

impl Proc {
    pub(crate) fn spawn(env: &[(String, String)], args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(args)
            .env_clear()
            .envs(env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawning the binary");
        let (stdout, out_reader) = collect(child.stdout.take().unwrap());
        let (stderr, err_reader) = collect(child.stderr.take().unwrap());
        Self {
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id().expect("the process is running")
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// The JSON log lines on stderr so far.
    pub(crate) fn logs(&self) -> Vec<Value> {
        let lines = self.stderr.lock().unwrap();
        lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Polls stderr for a JSON log line matching `pred`; panics with the log at the deadline.
    pub(crate) async fn wait_for_log(
        &self,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let found = eventually(
            Instant::now() + within,
            Duration::from_millis(20),
            async || self.logs().into_iter().find(|v| pred(v)),
        )
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "no matching log line within {within:?}; stderr:\n{}",
                self.stderr_text()
            )
        })
    }

    /// Lets the process run until `stop` says so or the deadline passes; its exit status if it
    /// ended by itself first.
    async fn run_until(
        &mut self,
        deadline: Instant,
        stop: impl Fn() -> bool,
    ) -> Option<ExitStatus> {
        // Some(None): `stop` said so while the process still ran.
        let ended = eventually(deadline, Duration::from_millis(2), async || {
            match self.child.try_wait().expect("polling the child") {
                Some(status) => Some(Some(status)),
                None => stop().then_some(None),
            }
        })
        .await;
        ended.flatten()
    }

    /// Waits for the exit (panicking with the log after `within`), drains the output and checks
    /// it for secrets.
    pub(crate) async fn finish(mut self, within: Duration) -> Output {
        let status = match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.expect("waiting for the child"),
            Err(_) => panic!(
                "process did not exit within {within:?}; stderr:\n{}",
                self.stderr_text()
            ),
        };
        for reader in self.readers {
            reader.await.unwrap();
        }
        let output = Output {
            status,
            stdout: std::mem::take(&mut self.stdout.lock().unwrap()),
            stderr: std::mem::take(&mut self.stderr.lock().unwrap()),
        };
        assert_no_secrets(&output);
        output
    }

    /// SIGKILL: no safe point, no cleanup, as a crash or an OOM kill.
    async fn kill(mut self) -> Output {
        self.child.start_kill().expect("killing the child");
        self.finish(Duration::from_secs(10)).await
    }
}

fn assert_no_secrets(output: &Output) {
    for line in output.stdout.iter().chain(&output.stderr) {
        for secret in [generate::CLIENT_SECRET, generate::API_TOKEN] {
            assert!(!line.contains(secret), "a secret was printed: {line}");
        }
    }
}

pub(crate) async fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .await
        .expect("running kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// `sync` to completion; panics with the log unless it exits 0.
async fn sync_to_completion(env: &[(String, String)], args: &[&str]) -> Output {
    // A just-killed predecessor's PostgreSQL lock may take a moment to be freed (exit 75).
    let deadline = Instant::now() + Duration::from_secs(10);
    let out = eventually(deadline, Duration::from_millis(100), async || {
        let out = Proc::spawn(env, args)
            .finish(Duration::from_secs(120))
            .await;
        (out.status.code() != Some(75)).then_some(out)
    })
    .await
    .unwrap_or_else(|| panic!("{args:?}: the run lock was still held after 10 s"));
    assert!(
        out.status.success(),
        "{args:?} exited with {:?}; stderr:\n{}",
        out.status,
        out.stderr.join("\n")
    );
    out
}

pub(crate) fn message(v: &Value) -> &str {
    v["fields"]["message"].as_str().unwrap_or_default()
}

/// The summary line of a run started by `trigger`, carrying the run span's fields.
pub(crate) fn is_summary(v: &Value, trigger: &str) -> bool {
    message(v) == "sync run finished" && v["span"]["trigger"] == trigger
}

// ---- crash safety -------------------------------------------------------------------------------

/// One random change in Personio, so that later kills interrupt updates and deletes too.
fn mutate(org: &Org, rng: &mut StdRng) -> String {
    let offs = org.personio.time_offs();
    let (id, _) = offs[rng.gen_range(0..offs.len())].clone();
    match rng.gen_range(0..4) {
        0 => {
            let shift = Days::days(rng.gen_range(1..15));
            org.personio.update_time_off(id, |p| {
                p.start += shift;
                p.end += shift;
            });
            format!("moved {id}")
        }
        1 => {
            org.personio.delete_time_off(id);
            format!("deleted {id}")
        }
        2 => {
            // A different length or half days change how many parts the period splits into.
            let len = Days::days(rng.gen_range(0..12));
            let half = rng.gen_bool(0.5);
            org.personio.update_time_off(id, |p| {
                p.end = p.start + len;
                p.half_day_start = half;
            });
            format!("resized {id}")
        }
        _ => {
            let employee = &org.employees[rng.gen_range(0..org.employees.len())];
            let start = today() + Days::days(rng.gen_range(-20..200));
            let new = org.personio.add_time_off(SimTimeOff {
                employee_id: employee.personio_id,
                type_id: org.types.vacation,
                start,
                end: start + Days::days(rng.gen_range(0..8)),
                half_day_start: rng.gen_bool(0.3),
                half_day_end: rng.gen_bool(0.3),
                status: "approved".into(),
                comment: None,
            });
            format!("added {new}")
        }
    }
}

/// How long an uninterrupted first sync of the organisation takes with this latency, measured
/// on a copy (same seed) so that kills can be spread over a whole run on this machine.
async fn typical_run(employees: usize, periods: usize, latency: Duration) -> Duration {
    let h = Harness::generated(employees, periods, sqlite_db().await).await;
    h.org.productive.control().set_faults(FaultSettings {
        latency,
        ..Default::default()
    });
    let started = Instant::now();
    sync_to_completion(&child_env(&h, &[]), &["sync"]).await;
    started.elapsed()
}

/// Where a run is cut short: after a share of the last complete run's duration, or after a
/// number of writes (later runs mostly read and write little, so waiting for writes cuts the
/// write phase often enough).
#[derive(Debug, Clone, Copy)]
enum KillAt {
    Elapsed(f64),
    Writes(u64),
}

/// One iteration of the crash test, drawn from the seed before it starts; an attempt that found
/// the killed run's lock still held is retried with the same step, so timing never changes what
/// the seed decides.
#[derive(Debug)]
struct Step {
    lose_answers: bool,
    latency: Duration,
    changes: Vec<String>,
    args: &'static [&'static str],
    kill: KillAt,
}

impl Step {
    /// Every other kill lands anywhere in a run as long as the last complete one, the others
    /// after 1-5 writes.
    fn draw(i: usize, org: &Org, rng: &mut StdRng) -> Self {
        let lose_answers = rng.gen_bool(0.3);
        let latency = Duration::from_millis(rng.gen_range(5..=15));
        let changes = if i > 0 && rng.gen_bool(0.8) {
            (0..rng.gen_range(2..=6))
                .map(|_| mutate(org, rng))
                .collect()
        } else {
            Vec::new()
        };
        let args: &[&str] = if rng.gen_bool(0.25) {
            &["sync", "--full"]
        } else {
            &["sync"]
        };
        let kill = if i.is_multiple_of(2) {
            KillAt::Elapsed(rng.gen_range(0.0..1.0))
        } else {
            KillAt::Writes(rng.gen_range(1..=5))
        };
        Self {
            lose_answers,
            latency,
            changes,
            args,
            kill,
        }
    }
}

/// The crash test's seed: `CRASH_SEED`, or a fresh one. It alone decides every step (faults,
/// changes, arguments, kill points); every failure message names it.
fn crash_seed() -> u64 {
    std::env::var("CRASH_SEED")
        .ok()
        .map(|s| s.parse().expect("CRASH_SEED is a u64"))
        .unwrap_or_else(rand::random)
}

async fn crash_scenario(db: TestDb, iterations: usize) {
    let seed = crash_seed();
    println!("crash test seed {seed} (set CRASH_SEED to replay)");
    // Every assertion below (and in the helpers it calls) fails with the seed in its message.
    if let Err(panic) = AssertUnwindSafe(crash_iterations(db, iterations, seed))
        .catch_unwind()
        .await
    {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        panic!("crash test with seed {seed} failed (CRASH_SEED={seed} replays it): {message}");
    }
}

async fn crash_iterations(db: TestDb, iterations: usize, seed: u64) {
    const EMPLOYEES: usize = 40;
    const PERIODS: usize = 6;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut typical = typical_run(EMPLOYEES, PERIODS, Duration::from_millis(10)).await;
    println!("a first run takes {typical:?}");

    let h = Harness::generated(EMPLOYEES, PERIODS, db).await;
    let env = child_env(&h, &[]);
    assert!(!h.org.hand_made_bookings.is_empty());

    let (mut killed, mut killed_mid_write, mut lock_held) = (0, 0, 0);
    for i in 0..iterations {
        let step = Step::draw(i, &h.org, &mut rng);
        h.org.productive.control().set_faults(FaultSettings {
            latency: step.latency,
            lose_write_answer_rate: if step.lose_answers { 0.2 } else { 0.0 },
            ..Default::default()
        });
        loop {
            assert!(
                lock_held <= iterations,
                "the lock of killed runs stayed held {lock_held} times"
            );
            let started = Instant::now();
            let (deadline, after_writes) = match step.kill {
                KillAt::Elapsed(share) => (started + typical.mul_f64(share), None),
                KillAt::Writes(n) => (started + typical * 4, Some(n)),
            };
            let writes_before = h.productive_writes();
            let mut child = Proc::spawn(&env, step.args);
            let ended = child
                .run_until(deadline, || {
                    after_writes.is_some_and(|n| h.productive_writes() - writes_before >= n)
                })
                .await;
            let elapsed = started.elapsed();
            let writes = h.productive_writes() - writes_before;
            let fate = match ended {
                // PostgreSQL frees a killed client's advisory lock once its backend notices the
                // closed connection, which can take a moment on a loaded machine: the next sync
                // then rightly exits 75 (lock held) and the following one proceeds. Such a run
                // did nothing and does not count as one of the iterations.
                Some(status) if status.code() == Some(75) => {
                    child.finish(Duration::from_secs(5)).await;
                    lock_held += 1;
                    println!(
                        "attempt at iteration {i} found the lock still held after {elapsed:?}"
                    );
                    continue;
                }
                Some(status) => {
                    let out = child.finish(Duration::from_secs(5)).await;
                    assert!(
                        status.success(),
                        "iteration {i}: {:?} exited with {status:?}; stderr:\n{}",
                        step.args,
                        out.stderr.join("\n")
                    );
                    typical = started.elapsed();
                    "completed"
                }
                None => {
                    child.kill().await;
                    killed += 1;
                    if writes > 0 {
                        killed_mid_write += 1;
                    }
                    "killed"
                }
            };
            println!(
                "iteration {i}: {:?} lose_answers={} changes={:?} kill={:?} {fate} after {elapsed:?}, {writes} writes",
                step.args, step.lose_answers, step.changes, step.kill
            );
            break;
        }
    }
    println!("{killed} of {iterations} runs killed, {killed_mid_write} while writing");
    // Otherwise the test proves nothing: most runs must really have been cut short, many while
    // writing.
    assert!(
        killed >= iterations / 2 && killed_mid_write >= iterations / 4,
        "only {killed} of {iterations} runs killed, {killed_mid_write} while writing"
    );

    h.org
        .productive
        .control()
        .set_faults(FaultSettings::default());
    sync_to_completion(&env, &["sync", "--full"]).await;
    h.assert_exact();
    // Every journal entry ends settled on a booking Productive really holds, or refused by it.
    let bookings: BTreeMap<i64, _> = h.org.productive.bookings().into_iter().collect();
    for entry in h.db.store.journal().await.unwrap() {
        if entry.state == JournalState::Refused {
            assert!(
                entry.booking_id.is_none()
                    && entry
                        .error
                        .as_deref()
                        .is_some_and(|e| e.contains("has no allowance")),
                "{entry:?}"
            );
            continue;
        }
        let id = entry.booking_id.expect("a settled entry has a booking");
        assert!(
            bookings.contains_key(&id),
            "journal points at missing booking {id}: {entry:?}"
        );
    }

    // Settled means quiet: the next run writes nothing. The bookings Productive refuses (the
    // limited "Special leave" event needs allowances) stay reported, untried until they change.
    h.reset_counters();
    sync_to_completion(&env, &["sync"]).await;
    let refused =
        h.db.store
            .issues()
            .await
            .unwrap()
            .into_iter()
            .filter(|i| i.kind == "failed")
            .inspect(|i| assert!(i.reason.contains("has no allowance"), "{i:?}"))
            .count();
    assert!(
        refused > 0,
        "the generated organisation has refused bookings"
    );
    assert_eq!(h.productive_writes(), 0);
    let last = &h.db.store.recent_runs(1).await.unwrap()[0];
    let counts = last.counts.as_ref().expect("a finished run has counts");
    let writes = (
        counts.created,
        counts.updated,
        counts.deleted,
        counts.approved,
    );
    assert_eq!(writes, (0, 0, 0, 0), "writes after settling: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_processes_killed_at_random_points_leave_no_duplicate_or_gap_sqlite() {
    crash_scenario(sqlite_db().await, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_processes_killed_at_random_points_leave_no_duplicate_or_gap_postgres() {
    crash_scenario(postgres_db().await, 12).await;
}

// ---- the daemon --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_logs_json_syncs_on_sigusr1_and_exits_0_on_sigterm() {
    let h = Harness::generated(10, 3, sqlite_db().await).await;
    let daemon = Proc::spawn(&child_env(&h, &[("PPS__SYNC__INTERVAL", "1h")]), &["run"]);
    let wait = Duration::from_secs(60);
    let first = daemon
        .wait_for_log(wait, |v| is_summary(v, "startup"))
        .await;
    let first_run = first["span"]["run_id"]
        .as_str()
        .expect("run_id")
        .to_string();
    assert!(first["fields"]["created"].as_u64().unwrap() > 0, "{first}");
    assert_eq!(first["fields"]["full"], true);

    send_signal(daemon.pid(), "USR1").await;
    let second = daemon.wait_for_log(wait, |v| is_summary(v, "signal")).await;
    assert_ne!(second["span"]["run_id"], first_run.as_str());
    assert_eq!(second["fields"]["created"], 0, "{second}");

    send_signal(daemon.pid(), "TERM").await;
    let out = daemon.finish(Duration::from_secs(10)).await;
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr.join("\n"));
    for line in &out.stderr {
        serde_json::from_str::<Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
    }
    assert!(out.stderr.iter().any(|l| l.contains("\"stopped\"")));
    h.assert_exact();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_sharing_a_postgres_database_never_sync_at_once() {
    let h = Harness::generated(30, 6, postgres_db().await).await;
    // Slow enough that the first run is still going while the others try.
    h.org.productive.control().set_faults(FaultSettings {
        latency: Duration::from_millis(40),
        ..Default::default()
    });
    let env = child_env(&h, &[("PPS__SYNC__INTERVAL", "1h")]);
    let mut first = Proc::spawn(&env, &["sync"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    // The run is recorded only once its lock is taken.
    let started = eventually(deadline, Duration::from_millis(20), async || {
        (!h.db.store.recent_runs(1).await.unwrap().is_empty()).then_some(())
    })
    .await;
    assert!(started.is_some(), "the first sync never started");

    let second = Proc::spawn(&env, &["sync"])
        .finish(Duration::from_secs(30))
        .await;
    assert_eq!(
        second.status.code(),
        Some(75),
        "{}",
        second.stderr.join("\n")
    );
    let daemon = Proc::spawn(&env, &["run"]);
    daemon
        .wait_for_log(Duration::from_secs(30), |v| {
            message(v).starts_with("another sync is running") && v["span"]["trigger"] == "startup"
        })
        .await;
    send_signal(daemon.pid(), "TERM").await;
    let stopped = daemon.finish(Duration::from_secs(10)).await;
    assert_eq!(stopped.status.code(), Some(0));
    assert!(
        first.child.try_wait().unwrap().is_none(),
        "the first sync ended before the others tried: the test proved nothing"
    );

    let out = first.finish(Duration::from_secs(120)).await;
    assert!(out.status.success(), "{}", out.stderr.join("\n"));
    let runs = h.db.store.recent_runs(10).await.unwrap();
    assert_eq!(runs.len(), 1, "only the lock holder ran: {runs:?}");
    assert_eq!(runs[0].trigger, "manual");
}

// ---- status -------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_runs_and_skipped_records_as_json_and_as_a_table() {
    let h = Harness::generated(40, 4, sqlite_db().await).await;
    let env = child_env(&h, &[]);
    sync_to_completion(&env, &["sync"]).await;

    let out = sync_to_completion(&env, &["status", "--json"]).await;
    let status: Value = serde_json::from_str(&out.stdout.join("\n")).expect("status --json");
    let runs = status["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{status:#}");
    let marked = h
        .org
        .productive
        .bookings()
        .into_iter()
        .filter(|(id, _)| !h.org.hand_made_bookings.contains(id))
        .count();
    // "partial": the limited "Special leave" event refuses bookings without allowances.
    assert_eq!(runs[0]["outcome"], "partial");
    assert_eq!(runs[0]["counts"]["created"], marked as u64);
    assert!(runs[0]["counts"]["failed"].as_u64().unwrap() > 0);

    // Every approved, in-window period of an employee missing in Productive is reported.
    let window_start = today().checked_sub_months(Months::new(3)).unwrap();
    let missing: BTreeSet<i64> = h
        .org
        .employees
        .iter()
        .filter(|e| e.counterpart == Counterpart::Missing)
        .map(|e| e.personio_id)
        .collect();
    let expected: BTreeSet<String> = h
        .org
        .personio
        .time_offs()
        .into_iter()
        .filter(|(_, p)| {
            missing.contains(&p.employee_id) && p.status == "approved" && p.end >= window_start
        })
        .map(|(id, _)| id.to_string())
        .collect();
    assert!(
        !expected.is_empty(),
        "the generated org has unmatched people"
    );
    let reported: BTreeSet<String> = status["issues"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["reason"] == "no Productive person with this email")
        .map(|i| i["personio_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reported, expected);

    let text = sync_to_completion(&env, &["status"])
        .await
        .stdout
        .join("\n");
    let issues = status["issues"].as_array().unwrap().len();
    assert!(text.contains("STARTED (UTC)"), "{text}");
    assert!(
        text.contains(&format!("{issues} records skipped or failed:")),
        "{text}"
    );
    assert!(
        text.contains("no Productive person with this email"),
        "{text}"
    );
}

/// `check` with `extra` settings: its exit code and stdout.
pub(crate) async fn check(
    h: &Harness,
    extra: &[(&str, &str)],
    args: &[&str],
) -> (Option<i32>, String) {
    let out = Proc::spawn(&child_env(h, extra), &[&["check"], args].concat())
        .finish(Duration::from_secs(30))
        .await;
    assert_no_secrets(&out);
    (out.status.code(), out.stdout.join("\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_what_to_fix_for_each_dependency_and_leaves_nothing_behind() {
    let h = Harness::generated(3, 1, sqlite_db().await).await;
    let bookings = h.org.productive.bookings();
    let (code, text) = check(&h, &[], &[]).await;
    assert_eq!(code, Some(0), "{text}");
    for line in [
        "ok    configuration",
        "ok    database: Sqlite reachable, migrations applied",
        "ok    personio authentication",
        "ok    personio absence types: 7 absence types",
        "ok    personio periods",
        "ok    personio employees",
        "ok    productive authentication",
        "ok    productive events: 4 events",
        "ok    booking for others: allowed",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "{line:?} in\n{text}"
        );
    }
    assert!(
        text.contains("productive's own personio integration"),
        "{text}"
    );
    assert_eq!(
        h.org.productive.bookings(),
        bookings,
        "the probe leaves nothing behind"
    );
    let (code, json) = check(&h, &[], &["--json"]).await;
    assert_eq!(code, Some(0));
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["ok"], true);
    assert!(json["items"].as_array().unwrap().len() >= 10);

    let failures = [
        (
            ("PPS__PERSONIO__CLIENT_SECRET", "wrong-secret"),
            "FAIL  personio authentication",
            "check personio.client_id and personio.client_secret",
        ),
        (
            ("PPS__PRODUCTIVE__API_TOKEN", "wrong-token"),
            "FAIL  productive authentication",
            "check productive.api_token",
        ),
        (
            (
                "PPS__DATABASE__URL",
                "postgres://postgres@127.0.0.1:1/nowhere",
            ),
            "FAIL  database",
            "check the URL and that the server runs",
        ),
    ];
    for ((key, value), line, fix) in failures {
        let (code, text) = check(&h, &[(key, value)], &[]).await;
        assert_eq!(code, Some(1), "{key}: {text}");
        let failed = text.lines().find(|l| l.starts_with(line));
        assert!(failed.is_some_and(|l| l.contains(fix)), "{key}: {text}");
        assert!(
            !text.contains(value) || key == "PPS__DATABASE__URL",
            "{text}"
        );
    }

    h.org.productive.set_may_book_others(false);
    let (code, text) = check(&h, &[], &[]).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL  booking for others")
                && l.contains("may not manage other people's bookings")),
        "{text}"
    );
    h.org.productive.set_may_book_others(true);

    // Read-only for real: no database file is created, and an empty one gets no tables.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let url = format!("sqlite://{}", missing.display());
    let (code, text) = check(&h, &[("PPS__DATABASE__URL", &url)], &[]).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("created by `migrate`"), "{text}");
    assert!(!missing.exists(), "check created {}", missing.display());
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let url = format!("sqlite://{}", empty.display());
    let (code, text) = check(&h, &[("PPS__DATABASE__URL", &url)], &[]).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("migrations not applied: run `migrate`"),
        "{text}"
    );
    assert_eq!(
        std::fs::metadata(&empty).unwrap().len(),
        0,
        "no table was created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_shows_what_the_type_rules_do_and_warns_of_a_rule_that_names_no_type() {
    let h = Harness::generated(2, 1, sqlite_db().await).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.toml");
    std::fs::write(
        &file,
        "[sync.types]\nexclude = [\"sick LEAVE\"]\n[sync.types.map]\n\
         \"Unpaid leave\" = \"Absence\"\n\"Sabatical\" = \"Absence\"\n",
    )
    .unwrap();
    let config = file.to_str().unwrap();
    let (code, text) = check(&h, &[], &["--config", config]).await;
    assert_eq!(code, Some(0), "a warning does not fail the check: {text}");
    let line = text.lines().find(|l| l.starts_with("WARN  type rules"));
    assert_eq!(
        line,
        Some(
            r#"WARN  type rules: excluded: "Sick leave"; mapped: "Unpaid leave" → "Absence"; "Sabatical" name no Personio type (check the spelling or id): they do nothing"#
        ),
        "{text}"
    );
    std::fs::write(&file, "[sync.types]\nexclude = [\"Sick leave\"]\n").unwrap();
    let (_, text) = check(&h, &[], &["--config", config]).await;
    assert!(
        text.lines()
            .any(|l| l == r#"ok    type rules: excluded: "Sick leave"; mapped: none"#),
        "{text}"
    );
    let (_, text) = check(&h, &[], &[]).await;
    assert!(!text.contains("type rules"), "no rules, no line: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_credential_stops_the_start_with_exit_2_and_names_the_key() {
    let h = Harness::generated(1, 1, sqlite_db().await).await;
    let env: Vec<_> = child_env(&h, &[])
        .into_iter()
        .filter(|(k, _)| k != "PPS__PRODUCTIVE__API_TOKEN")
        .collect();
    let out = Proc::spawn(&env, &["sync"])
        .finish(Duration::from_secs(30))
        .await;
    assert_no_secrets(&out);
    assert_eq!(out.status.code(), Some(2));
    let text = out.stderr.join("\n");
    assert!(
        text.contains("productive.api_token") && text.contains("PPS__PRODUCTIVE__API_TOKEN"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_and_every_skipped_record_is_exactly_one_structured_log_line() {
    let h = Harness::generated(12, 4, postgres_db().await).await;
    // Approval steps, so that approvals are logged too, and a deleted period for a delete.
    let out = sync_to_completion(&child_env(&h, &[]), &["sync"]).await;
    let first = h.org.productive.bookings().len();
    let (id, _) = h.org.personio.time_offs().into_iter().next().unwrap();
    h.org.personio.delete_time_off(id);
    let again = sync_to_completion(&child_env(&h, &[]), &["sync"]).await;
    assert!(h.org.productive.bookings().len() <= first);
    for out in [out, again] {
        let lines: Vec<Value> = out
            .stderr
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let summaries: Vec<&Value> = lines.iter().filter(|v| is_summary(v, "manual")).collect();
        assert_eq!(summaries.len(), 1, "one summary line per run");
        let s = &summaries[0]["fields"];
        let writes: Vec<&Value> = lines
            .iter()
            .filter(|v| message(v) == "booking written")
            .collect();
        let counted: u64 = ["created", "updated", "deleted", "approved"]
            .iter()
            .map(|k| s[k].as_u64().unwrap())
            .sum();
        assert_eq!(writes.len() as u64, counted, "one line per write: {s}");
        for w in &writes {
            let f = &w["fields"];
            for key in [
                "action",
                "personio_id",
                "email",
                "start",
                "end",
                "minutes",
                "booking_id",
            ] {
                assert!(!f[key].is_null(), "{key} missing in {w}");
            }
        }
        let skipped = lines.iter().filter(|v| message(v) == "skipped").count() as u64;
        assert_eq!(
            skipped,
            s["skipped"].as_u64().unwrap(),
            "one line per skipped record"
        );
        for action in writes
            .iter()
            .map(|w| w["fields"]["action"].as_str().unwrap())
        {
            assert!(["create", "update", "delete", "approve"].contains(&action));
        }
    }
}
