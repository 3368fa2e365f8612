//! The store cut off mid-run: PostgreSQL reached through a proxy that the test cuts once the sync
//! is writing. The run fails cleanly (a transient error, within a deadline), every booking
//! Productive holds with the sync's marker is known to the journal, and the first run after the
//! store returns ends exact; the daemon logs the failure, keeps running and syncs again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::Duration as Days;

use personio_productive_sync::domain::{JournalEntry, JournalState};
use personio_productive_sync::sim::generate::{Counterpart, Org};
use personio_productive_sync::sim::personio::SimTimeOff;
use personio_productive_sync::sim::FaultSettings;
use personio_productive_sync::sync::{RunReport, SyncError};

use crate::process::{child_env, is_summary, message, send_signal, Proc};
use crate::proxy::Proxy;
use crate::support::{
    eventually, postgres_addr, postgres_db, synced_absence, today, Harness, TestDb,
};

/// How long a statement waits for a connection through the proxy: short, so that a cut fails
/// the run in seconds.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

/// Creates Productive has carried out when the proxy is cut.
const CREATES_BEFORE_CUT: u64 = 5;

/// A harness whose store reaches a fresh PostgreSQL database through a proxy, and the same
/// database reached directly (to read the journal while the proxy is cut).
async fn behind_proxy(employees: usize, periods: usize) -> (Harness, Proxy, TestDb) {
    let direct = postgres_db().await;
    let proxy = Proxy::start(postgres_addr()).await;
    let proxied = direct.through(proxy.addr, ACQUIRE_TIMEOUT).await;
    let h = Harness::generated(employees, periods, proxied).await;
    // Slow enough writes that the run is still writing when the cut lands.
    h.org.productive.control().set_faults(FaultSettings {
        latency: Duration::from_millis(10),
        ..Default::default()
    });
    (h, proxy, direct)
}

fn creates(org: &Org) -> u64 {
    org.productive
        .control()
        .requests
        .get("POST /api/v2/bookings")
}

/// Cuts the proxy once Productive has carried out `CREATES_BEFORE_CUT` more creates than `from`.
async fn cut_after_creates(org: &Org, proxy: &Proxy, from: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let seen = eventually(deadline, Duration::from_millis(1), async || {
        (creates(org) >= from + CREATES_BEFORE_CUT).then_some(())
    })
    .await;
    seen.expect("the run starts creating bookings");
    proxy.cut().await;
}

/// The bookings in Productive that carry the sync's marker, by id, with the period and the
/// part the marker names (counted from 0, as the journal counts them).
fn marked(org: &Org) -> BTreeMap<i64, (i64, i64)> {
    org.productive
        .bookings()
        .into_iter()
        .filter(|(id, _)| !org.hand_made_bookings.contains(id))
        .filter_map(|(id, b)| {
            let (period, part) = b.note.as_deref().and_then(synced_absence)?;
            Some((id, (period, part - 1)))
        })
        .collect()
}

/// Nothing written is forgotten: every marked booking has its journal entry, holding its id, or
/// (a create whose answer the cut lost) the intent recorded before the create was sent, which the
/// next run resolves through the marker.
fn assert_journal_knows(org: &Org, journal: &[JournalEntry]) {
    let entries: BTreeMap<(i64, i64), &JournalEntry> = journal
        .iter()
        .map(|e| ((e.key.period_id, e.key.part), e))
        .collect();
    for (id, key) in marked(org) {
        let entry = entries
            .get(&key)
            .unwrap_or_else(|| panic!("booking {id} for {key:?} is not in the journal"));
        let pending_create = entry.state == JournalState::Creating && entry.booking_id.is_none();
        assert!(
            entry.booking_id == Some(id) || pending_create,
            "booking {id} for {key:?}: {entry:?}"
        );
    }
}

/// Settled: the journal's bookings are exactly the marked bookings in Productive.
async fn assert_journal_settled(org: &Org, db: &TestDb) {
    let journal = db.store.journal().await.unwrap();
    let journaled: BTreeSet<i64> = journal.iter().filter_map(|e| e.booking_id).collect();
    let marked: BTreeSet<i64> = marked(org).into_keys().collect();
    assert_eq!(journaled, marked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_store_is_cut_mid_run_fails_cleanly_and_the_next_one_ends_exact() {
    let (h, proxy, direct) = behind_proxy(24, 5).await;
    let started = Instant::now();
    let (result, cut_at) = tokio::time::timeout(Duration::from_secs(120), async {
        tokio::join!(h.try_sync(false, false), async {
            cut_after_creates(&h.org, &proxy, 0).await;
            Instant::now()
        })
    })
    .await
    .expect("the run ends after the cut instead of hanging");
    let after_cut = cut_at.elapsed();
    println!(
        "cut after {:?}; the run ended {after_cut:?} after the cut: {:?}",
        cut_at - started,
        result.as_ref().err()
    );
    // Whatever is left to write, an outage costs a few acquire timeouts, not one per write.
    assert!(
        after_cut < ACQUIRE_TIMEOUT * 5,
        "the run went on for {after_cut:?} after the cut"
    );
    let error = result.expect_err("a run that lost its store fails");
    assert!(error.is_transient(), "{error:?}");
    assert!(!marked(&h.org).is_empty(), "the run wrote before the cut");
    assert_journal_knows(&h.org, &direct.store.journal().await.unwrap());

    proxy.restore().await;
    // The cut connection's run lock is freed once the server notices it closed.
    let deadline = Instant::now() + Duration::from_secs(10);
    let next = eventually(deadline, Duration::from_millis(100), async || {
        match h.try_sync(false, false).await {
            Err(SyncError::Locked) => None,
            other => Some(other),
        }
    })
    .await
    .expect("the run lock is freed after the cut");
    let report: RunReport = next.expect("the run after the store returned");
    assert_eq!(report.exit_code(), 0, "{}", report.render_counts());
    assert!(report.counts.created > 0, "the cut landed mid-run");
    h.assert_exact();
    assert_journal_settled(&h.org, &direct).await;
}

/// New approved vacations of people who exist in Productive, so that a run has creates to make.
fn add_vacations(org: &Org, n: usize) {
    let matched = org
        .employees
        .iter()
        .filter(|e| matches!(e.counterpart, Counterpart::Matched(_)));
    for (i, employee) in matched.cycle().take(n).enumerate() {
        let start = today() + Days::days(30 + 7 * i as i64);
        org.personio.add_time_off(SimTimeOff {
            employee_id: employee.personio_id,
            type_id: org.types.vacation,
            start,
            end: start + Days::days(2),
            half_day_start: false,
            half_day_end: false,
            status: "approved".into(),
            comment: None,
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_survives_its_store_cut_mid_run_and_syncs_once_it_returns() {
    let (h, proxy, direct) = behind_proxy(10, 3).await;
    let env = child_env(
        &h,
        &[
            ("PPS__SYNC__INTERVAL", "1h"),
            ("PPS__DATABASE__ACQUIRE_TIMEOUT", "1s"),
        ],
    );
    let mut daemon = Proc::spawn(&env, &["run"]);
    let wait = Duration::from_secs(60);
    daemon
        .wait_for_log(wait, |v| is_summary(v, "startup"))
        .await;

    add_vacations(&h.org, 30);
    let before = creates(&h.org);
    send_signal(daemon.pid(), "USR1").await;
    cut_after_creates(&h.org, &proxy, before).await;
    let failed = daemon
        .wait_for_log(wait, |v| {
            message(v) == "sync run failed" && v["span"]["trigger"] == "signal"
        })
        .await;
    assert_eq!(failed["level"], "ERROR", "{failed}");
    assert_eq!(failed["fields"]["transient"], true, "{failed}");
    let errors: Vec<_> = daemon
        .logs()
        .into_iter()
        .filter(|v| v["level"] == "ERROR")
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "one ERROR line for the failed run: {errors:#?}"
    );
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "the daemon exited"
    );
    assert_journal_knows(&h.org, &direct.store.journal().await.unwrap());

    proxy.restore().await;
    send_signal(daemon.pid(), "USR1").await;
    let recovered = daemon.wait_for_log(wait, |v| is_summary(v, "signal")).await;
    assert!(
        recovered["fields"]["created"].as_u64().unwrap() > 0,
        "{recovered}"
    );
    send_signal(daemon.pid(), "TERM").await;
    let out = daemon.finish(Duration::from_secs(10)).await;
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr.join("\n"));
    h.assert_exact();
    assert_journal_settled(&h.org, &direct).await;
}
