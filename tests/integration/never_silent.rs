//! The binary is never silent and never stuck at start-up: signals are handled from the first
//! moment, a run that cannot reach its store says so once with the cause, and a stop while the
//! store hangs exits within the shutdown deadline.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::process::{child_env, message, send_signal, Output, Proc};
use crate::support::{sqlite_db, Harness};

/// SIGUSR1 in the "signals caught" mask of `/proc/<pid>/status` (bit 10, counted from 1).
fn catches_sigusr1(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let mask = status.lines().find_map(|l| l.strip_prefix("SigCgt:"))?;
            u64::from_str_radix(mask.trim(), 16).ok()
        })
        .is_some_and(|mask| mask & (1 << 9) != 0)
}

fn error_lines(out: &Output) -> Vec<Value> {
    out.stderr
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v| v["level"] == "ERROR")
        .collect()
}

/// A PostgreSQL address that accepts connections and never answers: connecting hangs.
async fn silent_postgres() -> (tokio::task::JoinHandle<()>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "postgres://postgres@{}/none",
        listener.local_addr().unwrap()
    );
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (holder, url)
}

/// A PostgreSQL address nothing listens on.
fn closed_postgres() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("postgres://postgres@{addr}/none")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigusr1_during_start_up_never_kills_the_daemon_and_a_stop_meets_the_deadline() {
    let h = Harness::generated(1, 1, sqlite_db().await).await;
    let (_holder, url) = silent_postgres().await;
    let env = child_env(
        &h,
        &[
            ("PPS__DATABASE__URL", &url),
            ("PPS__SYNC__SHUTDOWN_DEADLINE", "2s"),
        ],
    );
    let mut daemon = Proc::spawn(&env, &["run"]);
    let pid = daemon.pid();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !catches_sigusr1(pid) {
        assert!(
            daemon.child.try_wait().unwrap().is_none(),
            "the daemon died before it handled signals"
        );
        assert!(Instant::now() < deadline, "SIGUSR1 is never handled");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // At once, and on through the start-up, which now hangs connecting to the store.
    send_signal(pid, "USR1").await;
    daemon
        .wait_for_log(Duration::from_secs(10), |v| message(v) == "daemon started")
        .await;
    send_signal(pid, "USR1").await;
    daemon
        .wait_for_log(Duration::from_secs(10), |v| {
            message(v) == "sync requested" && v["fields"]["signal"] == "SIGUSR1"
        })
        .await;
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "SIGUSR1 killed it"
    );

    let stop = Instant::now();
    send_signal(pid, "TERM").await;
    let out = daemon.finish(Duration::from_secs(10)).await;
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr.join("\n"));
    // The deadline is 2 s; the rest is process start and exit on a loaded machine.
    assert!(
        stop.elapsed() < Duration::from_secs(4),
        "{:?}",
        stop.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_cannot_reach_the_store_logs_one_error_with_its_cause() {
    let h = Harness::generated(1, 1, sqlite_db().await).await;
    let url = closed_postgres();
    let env = child_env(&h, &[("PPS__DATABASE__URL", &url)]);

    let out = Proc::spawn(&env, &["sync"])
        .finish(Duration::from_secs(60))
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr.join("\n"));
    let errors = error_lines(&out);
    assert_eq!(errors.len(), 1, "{}", out.stderr.join("\n"));
    let cause = errors[0]["fields"]["error"].as_str().unwrap_or_default();
    // sqlx's pool retries until its acquire timeout (30 s) and then reports only that, not the
    // refused connection underneath.
    assert!(
        cause.contains("connecting to the database (database.url): database error"),
        "{cause}"
    );

    // The daemon keeps going: one ERROR per failed run, the start-up's and the schedule's.
    let env = child_env(
        &h,
        &[("PPS__DATABASE__URL", &url), ("PPS__SYNC__INTERVAL", "1s")],
    );
    let daemon = Proc::spawn(&env, &["run"]);
    daemon
        .wait_for_log(Duration::from_secs(120), |v| {
            message(v) == "sync run failed" && v["span"]["trigger"] == "schedule"
        })
        .await;
    send_signal(daemon.pid(), "TERM").await;
    let out = daemon.finish(Duration::from_secs(10)).await;
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr.join("\n"));
    let errors = error_lines(&out);
    assert!(errors.len() >= 2, "{}", out.stderr.join("\n"));
    for e in &errors {
        assert_eq!(message(e), "sync run failed", "{e}");
        let cause = e["fields"]["error"].as_str().unwrap_or_default();
        assert!(cause.contains("database.url"), "{cause}");
    }
    let startup = errors
        .iter()
        .filter(|e| e["span"]["trigger"] == "startup")
        .count();
    assert_eq!(startup, 1, "{}", out.stderr.join("\n"));
}
