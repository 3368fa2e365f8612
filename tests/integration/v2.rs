//! Personio API v2 as the source: the same Productive state as through v1, switching APIs
//! without a duplicate or a write, and targeted runs of periods a webhook named.

use std::collections::BTreeMap;

use tokio_util::sync::CancellationToken;

use personio_productive_sync::config::PersonioApi;
use personio_productive_sync::domain::key_for_v2;
use personio_productive_sync::sim::generate::{generate, Org, OrgSpec};
use personio_productive_sync::sync::{RunOptions, RunReport, Trigger};

use crate::support::{actual_days, postgres_db, sqlite_db, synced_absence, today, Harness};

/// Every booking the sync made, as Productive shows it: (person, event name, first day, last
/// day, minutes a day), counted.
fn synced_bookings(org: &Org) -> BTreeMap<(i64, String, String, String, i64), usize> {
    let events: BTreeMap<i64, _> = org.productive.events().into_iter().collect();
    let mut out = BTreeMap::new();
    for (_, b) in org.productive.bookings() {
        if b.note.as_deref().and_then(synced_absence).is_none() {
            continue;
        }
        let event = events[&b.event_id.unwrap()].name.to_lowercase();
        let key = (
            b.person_id,
            event,
            b.started_on.to_string(),
            b.ended_on.to_string(),
            b.time.unwrap_or_default(),
        );
        *out.entry(key).or_default() += 1;
    }
    out
}

async fn run_on(h: &Harness, api: PersonioApi, named: Vec<String>) -> RunReport {
    let options = RunOptions {
        trigger: Trigger::Manual,
        dry_run: false,
        force_full: false,
        allow_mass_delete: false,
        named,
    };
    h.syncer_on(api)
        .run(options, CancellationToken::new())
        .await
        .expect("sync run")
}

fn writes(report: &RunReport) -> usize {
    let c = &report.counts;
    c.created + c.updated + c.deleted
}

#[tokio::test]
async fn v1_and_v2_make_the_same_productive_state_booking_by_booking() {
    // The generator covers half days, part-timers and rotations, pending, out-of-window, long
    // and hourly absences, unmatched and deactivated people.
    let spec = OrgSpec::new(150, 10, today());
    let through_v1 = Harness::new(generate(&spec), sqlite_db().await).await;
    let through_v2 = Harness::new(generate(&spec), sqlite_db().await).await;
    run_on(&through_v1, PersonioApi::V1, Vec::new()).await;
    let report = run_on(&through_v2, PersonioApi::V2, Vec::new()).await;
    assert!(report.counts.created > 500, "{:?}", report.counts);
    let v2_reads = |h: &Harness| {
        h.org
            .personio
            .control()
            .requests
            .get("GET /v2/absence-periods")
    };
    let v1_reads = |h: &Harness| {
        h.org
            .personio
            .control()
            .requests
            .get("GET /v1/company/time-offs")
    };
    assert!(v2_reads(&through_v2) > 0 && v1_reads(&through_v2) == 0);
    assert!(v1_reads(&through_v1) > 0 && v2_reads(&through_v1) == 0);
    through_v1.assert_exact();
    through_v2.assert_exact();
    assert_eq!(actual_days(&through_v1.org), actual_days(&through_v2.org));
    assert_eq!(
        synced_bookings(&through_v1.org),
        synced_bookings(&through_v2.org)
    );
    // A second v2 run on the unchanged organisation writes nothing.
    through_v2.reset_counters();
    let again = run_on(&through_v2, PersonioApi::V2, Vec::new()).await;
    assert_eq!(writes(&again), 0, "{:?}", again.counts);
    assert_eq!(through_v2.productive_writes(), 0);
}

async fn switching_makes_no_write(h: Harness) {
    run_on(&h, PersonioApi::V1, Vec::new()).await;
    let before = synced_bookings(&h.org);
    for api in [PersonioApi::V2, PersonioApi::V1, PersonioApi::V2] {
        h.reset_counters();
        let report = run_on(&h, api, Vec::new()).await;
        assert_eq!(
            writes(&report),
            0,
            "after switching to {api:?}: {:?}",
            report.counts
        );
        assert_eq!(h.productive_writes(), 0, "after switching to {api:?}");
    }
    assert_eq!(synced_bookings(&h.org), before);
    h.assert_exact();
}

#[tokio::test]
async fn switching_v1_v2_v1_on_an_unchanged_organisation_makes_zero_writes_sqlite() {
    switching_makes_no_write(Harness::generated(60, 8, sqlite_db().await).await).await;
}

#[tokio::test]
async fn switching_v1_v2_v1_on_an_unchanged_organisation_makes_zero_writes_postgres() {
    switching_makes_no_write(Harness::generated(60, 8, postgres_db().await).await).await;
}

#[tokio::test]
async fn an_installation_synced_before_v2_ids_were_kept_switches_without_a_duplicate() {
    let h = Harness::generated(60, 8, sqlite_db().await).await;
    run_on(&h, PersonioApi::V1, Vec::new()).await;
    // What a database of the previous version holds: no v2 ids anywhere.
    use secrecy::ExposeSecret;
    use sqlx::Connection;
    let mut db = sqlx::SqliteConnection::connect(h.db.url.expose_secret())
        .await
        .unwrap();
    for statement in [
        "DELETE FROM personio_ids",
        "UPDATE personio_periods SET v2_id = NULL",
    ] {
        sqlx::query(statement).execute(&mut db).await.unwrap();
    }
    db.close().await.unwrap();
    let before = synced_bookings(&h.org);
    h.reset_counters();
    let report = run_on(&h, PersonioApi::V2, Vec::new()).await;
    assert_eq!(writes(&report), 0, "{:?}", report.counts);
    assert_eq!(synced_bookings(&h.org), before);
    h.assert_exact();
}

/// The periods (by key) the sync's bookings belong to, with their first days.
fn booked_periods(org: &Org) -> BTreeMap<i64, Vec<chrono::NaiveDate>> {
    let mut out: BTreeMap<i64, Vec<chrono::NaiveDate>> = BTreeMap::new();
    for (_, b) in org.productive.bookings() {
        if let Some((period, _)) = b.note.as_deref().and_then(synced_absence) {
            out.entry(period).or_default().push(b.started_on);
        }
    }
    out
}

#[tokio::test]
async fn a_targeted_run_follows_the_named_periods_only() {
    let h = Harness::generated(40, 8, sqlite_db().await).await;
    run_on(&h, PersonioApi::V2, Vec::new()).await;
    h.assert_exact();
    // Three future approved periods with bookings (a fresh v2 installation keys them by their
    // derived keys): one deleted, one moved, one deleted but not named.
    let booked = booked_periods(&h.org);
    let picked: Vec<(i64, String, i64, chrono::NaiveDate)> = h
        .org
        .personio
        .time_offs()
        .into_iter()
        .filter(|(_, p)| p.status == "approved" && p.start > today() && p.start == p.end)
        .filter_map(|(id, p)| {
            let v2 = h.org.personio.time_off_v2_id(id)?;
            let key = key_for_v2(&v2);
            booked.contains_key(&key).then_some((id, v2, key, p.start))
        })
        .take(3)
        .collect();
    let [gone, moved, unnamed] = picked.as_slice() else {
        panic!("the generated organisation has fewer than three future booked one-day periods");
    };
    h.org.personio.delete_time_off(gone.0);
    h.org.personio.update_time_off(moved.0, |p| {
        p.start += chrono::Duration::days(7);
        p.end += chrono::Duration::days(7);
    });
    h.org.personio.delete_time_off(unnamed.0);
    // Duplicate and differently spelt deliveries of one period change nothing more.
    let named = vec![gone.1.clone(), moved.1.clone(), gone.1.to_uppercase()];
    let report = run_on(&h, PersonioApi::V2, named).await;
    assert!(!report.full);
    let after = booked_periods(&h.org);
    assert!(
        !after.contains_key(&gone.2),
        "the deleted period lost its bookings"
    );
    assert!(
        after[&moved.2]
            .iter()
            .all(|d| *d >= moved.3 + chrono::Days::new(7)),
        "the moved period's bookings moved: {:?}",
        after[&moved.2]
    );
    assert_eq!(
        after.get(&unnamed.2),
        booked.get(&unnamed.2),
        "a period no webhook named waits for the next normal run"
    );
    // Which catches up.
    run_on(&h, PersonioApi::V2, Vec::new()).await;
    assert!(!booked_periods(&h.org).contains_key(&unnamed.2));
    h.assert_exact();
}

/// A loopback port nobody listens on (yet).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A future one-day period with a booking, by its sim id and key.
fn a_booked_future_period(h: &Harness, skip: usize) -> (i64, i64) {
    let booked = booked_periods(&h.org);
    h.org
        .personio
        .time_offs()
        .into_iter()
        .filter(|(_, p)| p.status == "approved" && p.start > today())
        .filter_map(|(id, _)| {
            let key = key_for_v2(&h.org.personio.time_off_v2_id(id)?);
            booked.contains_key(&key).then_some((id, key))
        })
        .nth(skip)
        .expect("a booked future period")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_subscribes_once_and_follows_a_deletion_within_seconds_of_the_webhook() {
    use crate::process::{child_env, is_summary, Proc};
    use std::time::{Duration, Instant};

    let h = Harness::generated(20, 6, sqlite_db().await).await;
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let url = format!("http://127.0.0.1:{port}/webhooks/personio");
    let env = child_env(
        &h,
        &[
            ("PPS__PERSONIO__API", "v2"),
            ("PPS__HTTP__LISTEN", &listen),
            ("PPS__PERSONIO__WEBHOOK_TOKEN", "hook-secret-4711"),
            ("PPS__PERSONIO__WEBHOOK_URL", &url),
            ("PPS__PERSONIO__WEBHOOK_SUBSCRIBE", "true"),
            ("PPS__SYNC__INTERVAL", "1h"),
        ],
    );
    let wait = Duration::from_secs(60);
    let gone = |key: i64| {
        let org = &h.org;
        async move || (!booked_periods(org).contains_key(&key)).then_some(())
    };
    for (round, skip) in [(1, 0), (2, 1)] {
        let daemon = Proc::spawn(&env, &["run"]);
        daemon
            .wait_for_log(wait, |v| is_summary(v, "startup"))
            .await;
        let (id, key) = a_booked_future_period(&h, skip);
        h.org.personio.delete_time_off(id);
        let deadline = Instant::now() + Duration::from_secs(30);
        let followed = crate::support::eventually(deadline, Duration::from_millis(20), gone(key));
        assert!(
            followed.await.is_some(),
            "round {round}: the deletion was not followed"
        );
        // Through a targeted run, not the hourly one.
        daemon
            .wait_for_log(wait, |v| is_summary(v, "webhook"))
            .await;
        crate::process::send_signal(daemon.pid(), "TERM").await;
        let out = daemon.finish(Duration::from_secs(10)).await;
        assert_eq!(out.status.code(), Some(0), "{}", out.stderr.join("\n"));
        assert!(!out.stderr.iter().any(|l| l.contains("hook-secret-4711")));
    }
    // One subscription across both starts: each deletion was delivered once, to the same one.
    h.org.personio.webhooks_idle().await;
    let deliveries = h.org.personio.webhook_deliveries();
    let deleted: Vec<_> = deliveries
        .iter()
        .filter(|d| d.event == "absence-period.deleted")
        .collect();
    assert_eq!(deleted.len(), 2, "{deliveries:?}");
    assert_eq!(deleted[0].webhook_id, deleted[1].webhook_id);
    h.assert_exact();
}

#[tokio::test]
async fn v2_answers_in_every_reported_shape_give_the_same_bookings() {
    use personio_productive_sync::sim::personio::PersonioV2Quirks;
    let h = Harness::generated(40, 8, sqlite_db().await).await;
    h.org.personio.set_v2_quirks(PersonioV2Quirks {
        inclusive_end: true,
        relative_next_links: true,
        empty_page_with_next: Some(2),
        stray_z: true,
        ..Default::default()
    });
    let report = run_on(&h, PersonioApi::V2, Vec::new()).await;
    assert!(report.counts.created > 50, "{:?}", report.counts);
    h.assert_exact();
}

#[tokio::test]
async fn a_silently_short_v2_page_deletes_nothing() {
    use personio_productive_sync::sim::personio::PersonioV2Quirks;
    let h = Harness::generated(60, 8, sqlite_db().await).await;
    run_on(&h, PersonioApi::V2, Vec::new()).await;
    let before = synced_bookings(&h.org);
    // The first page lacks its last record and says nothing: the period is looked up by id.
    h.org.personio.set_v2_quirks(PersonioV2Quirks {
        drop_page: Some(1),
        ..Default::default()
    });
    h.reset_counters();
    let report = run_on(&h, PersonioApi::V2, Vec::new()).await;
    assert_eq!(writes(&report), 0, "{:?}", report.counts);
    assert_eq!(synced_bookings(&h.org), before);
    assert!(
        h.org
            .personio
            .control()
            .requests
            .get("GET /v2/absence-periods/{id}")
            >= 1,
        "the missing period was looked up"
    );
    // A looping cursor fails the read instead of passing for a complete one.
    h.org.personio.set_v2_quirks(PersonioV2Quirks {
        repeat_cursor: Some(1),
        ..Default::default()
    });
    assert!(h
        .syncer_on(PersonioApi::V2)
        .run(
            RunOptions {
                trigger: Trigger::Manual,
                dry_run: false,
                force_full: false,
                allow_mass_delete: false,
                named: Vec::new(),
            },
            CancellationToken::new(),
        )
        .await
        .is_err());
    assert_eq!(synced_bookings(&h.org), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_missing_v2_scopes_and_the_state_of_the_subscription() {
    let h = Harness::generated(3, 1, sqlite_db().await).await;
    let v2 = [
        ("PPS__PERSONIO__API", "v2"),
        (
            "PPS__PERSONIO__WEBHOOK_URL",
            "https://sync.example.com/webhooks/personio",
        ),
    ];
    let (code, text) = crate::process::check(&h, &v2, &[]).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("ok    personio v2 scopes"), "{text}");
    assert!(text.contains("ok    personio periods"), "{text}");
    // Nobody subscribed yet: a warning that says how.
    assert!(
        text.lines()
            .any(|l| l.starts_with("WARN  personio webhook subscription")
                && l.contains("webhook_subscribe")),
        "{text}"
    );
    h.org
        .personio
        .set_v2_scopes(vec!["personio:absences:read".into()]);
    let (code, text) = crate::process::check(&h, &v2, &[]).await;
    assert_ne!(code, Some(0), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL  personio v2 scopes")
                && l.contains("personio:persons:read")
                && l.contains("personio:webhooks:write")),
        "{text}"
    );
}
