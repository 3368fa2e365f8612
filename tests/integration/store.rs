//! One contract for both state-store backends: SQLite (embedded) and PostgreSQL (real server).

use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use secrecy::SecretString;

use personio_productive_sync::domain::{
    AbsencePeriod, BookingShape, Counts, EmployeeName, JournalEntry, JournalState, PeriodStatus,
    SourceIds,
};
use personio_productive_sync::store::{BookingKey, Issue, RunLock, Store, TypeMapping};

use crate::support::{all_dbs, eventually, postgres_db};

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn period(id: i64, status: PeriodStatus) -> AbsencePeriod {
    AbsencePeriod {
        id,
        ids: SourceIds {
            v1: Some(id),
            v2: Some(format!("uuid-{id}")),
        },
        employee_id: 7,
        email: "Ada@Example.com".into(),
        type_id: 3,
        type_name: "Vacation".into(),
        status,
        start: date("2026-12-01"),
        end: date("2026-12-03"),
        half_day_start: true,
        half_day_end: false,
        name: Some(EmployeeName {
            first: "Ada".into(),
            last: "Lovelace".into(),
        }),
    }
}

/// Runs `check` against a fresh database on each backend.
async fn on_each_backend(check: impl AsyncFn(&'static str, &Store)) {
    for (backend, db) in all_dbs().await {
        check(backend, &db.store).await;
    }
}

/// A second connection pool on the same database stands in for a second replica.
async fn replica(url: &SecretString) -> Store {
    Store::connect(url, 2).await.unwrap()
}

#[tokio::test]
async fn migrations_are_idempotent() {
    for (backend, db) in all_dbs().await {
        db.store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        let again = replica(&db.url).await;
        again
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
    }
}

#[tokio::test]
async fn migrations_are_safe_when_replicas_start_together() {
    let db = postgres_db().await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = db.url.clone();
        tasks.push(tokio::spawn(
            async move { replica(&url).await.migrate().await },
        ));
    }
    for task in tasks {
        task.await
            .unwrap()
            .expect("concurrent migrate must succeed");
    }
}

#[tokio::test]
async fn runs_are_recorded_and_listed_newest_first() {
    on_each_backend(async |backend, s| {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap();
        let three_created = Counts {
            created: 3,
            ..Counts::default()
        };
        s.begin_run("run-1", "startup", false, t0).await.unwrap();
        s.finish_run(
            "run-1",
            true,
            "succeeded",
            Some(&three_created),
            None,
            t0 + Duration::seconds(5),
        )
        .await
        .unwrap();
        s.begin_run("run-2", "signal", true, t0 + Duration::hours(1))
            .await
            .unwrap();
        let runs = s.recent_runs(10).await.unwrap();
        assert_eq!(runs.len(), 2, "{backend}");
        assert_eq!(runs[0].id, "run-2", "{backend}");
        assert_eq!(runs[0].outcome, "running");
        assert!(runs[0].dry_run && runs[0].finished_at.is_none());
        assert_eq!(runs[1].outcome, "succeeded");
        assert!(runs[1].full_read);
        assert_eq!(runs[1].counts, Some(three_created.clone()));
        assert_eq!(runs[1].finished_at, Some(t0 + Duration::seconds(5)));
        s.finish_run(
            "run-2",
            false,
            "failed",
            None,
            Some("personio: HTTP 500"),
            t0 + Duration::hours(2),
        )
        .await
        .unwrap();
        let runs = s.recent_runs(1).await.unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(
            runs[0].error.as_deref(),
            Some("personio: HTTP 500"),
            "{backend}"
        );
    })
    .await;
}

#[tokio::test]
async fn mappings_round_trip_and_update() {
    on_each_backend(async |backend, s| {
        let mut m = TypeMapping {
            personio_type_id: 5,
            event_id: 90,
            personio_name: "Vacation".into(),
            created_by_sync: true,
            mapped_to: None,
        };
        s.put_mapping(&m).await.unwrap();
        m.personio_name = "Holiday".into();
        m.mapped_to = Some("Time off".into());
        s.put_mapping(&m).await.unwrap();
        s.put_mapping(&TypeMapping {
            personio_type_id: 1,
            event_id: 91,
            personio_name: "Sick".into(),
            created_by_sync: false,
            mapped_to: None,
        })
        .await
        .unwrap();
        let all = s.mappings().await.unwrap();
        assert_eq!(all.len(), 2, "{backend}");
        assert_eq!(all[0].personio_type_id, 1);
        assert!(!all[0].created_by_sync);
        assert_eq!(all[0].mapped_to, None);
        assert_eq!(
            all[1], m,
            "{backend}: a mapping's target is kept and updated"
        );
    })
    .await;
}

#[tokio::test]
async fn period_cache_upserts_and_removes() {
    on_each_backend(async |backend, s| {
        s.update_periods(
            &[
                period(1, PeriodStatus::Approved),
                period(2, PeriodStatus::Pending),
            ],
            &[],
        )
        .await
        .unwrap();
        let mut changed = period(1, PeriodStatus::Approved);
        changed.end = date("2026-12-10");
        // A read that carries no name keeps none.
        let nameless = AbsencePeriod {
            name: None,
            ..period(3, PeriodStatus::Approved)
        };
        s.update_periods(&[changed.clone(), nameless.clone()], &[2])
            .await
            .unwrap();
        let all = s.periods().await.unwrap();
        assert_eq!(all, vec![changed, nameless], "{backend}");
    })
    .await;
}

#[tokio::test]
async fn journal_records_intent_then_outcome() {
    on_each_backend(async |backend, s| {
        let mut e = JournalEntry {
            key: BookingKey {
                period_id: 10,
                part: 0,
            },
            shape: BookingShape {
                person_id: 4,
                event: 9,
                start: date("2026-12-01"),
                end: date("2026-12-01"),
                minutes: 240,
            },
            note: "Synced from Personio · absence 10".into(),
            booking_id: None,
            state: JournalState::Creating,
            approved: true,
            rejected: false,
            error: None,
        };
        s.put_journal(&e).await.unwrap();
        assert_eq!(s.journal().await.unwrap(), vec![e.clone()], "{backend}");
        e.booking_id = Some(777);
        e.state = JournalState::Synced;
        e.approved = false;
        s.put_journal(&e).await.unwrap();
        let second = JournalEntry {
            key: BookingKey {
                period_id: 10,
                part: 1,
            },
            state: JournalState::Refused,
            booking_id: None,
            error: Some("productive: HTTP 422: has no allowance".into()),
            ..e.clone()
        };
        s.put_journal(&second).await.unwrap();
        assert_eq!(
            s.journal().await.unwrap(),
            vec![e.clone(), second.clone()],
            "{backend}"
        );
        s.remove_journal(second.key).await.unwrap();
        assert_eq!(s.journal().await.unwrap(), vec![e], "{backend}");
    })
    .await;
}

#[tokio::test]
async fn issues_are_replaced_per_source_and_keep_first_seen() {
    on_each_backend(async |backend, s| {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let issue = |key: &str, source: &str, since| Issue {
            key: key.into(),
            source: source.into(),
            kind: "skipped".into(),
            personio_id: Some("1".into()),
            email: Some("x@example.com".into()),
            dates: Some("2026-12-01..2026-12-02".into()),
            reason: "no Productive person with this email".into(),
            suggestion: None,
            run_id: "r".into(),
            since,
        };
        s.replace_issues(
            "run-1",
            &["periods", "hourly"],
            [issue("a", "periods", t0), issue("h", "hourly", t0)],
        )
        .await
        .unwrap();
        // Next run: "a" persists (its first-seen time stays), "b" is new, hourly untouched.
        let later = t0 + Duration::days(1);
        s.replace_issues(
            "run-2",
            &["periods"],
            [issue("a", "periods", later), issue("b", "periods", later)],
        )
        .await
        .unwrap();
        let all = s.issues().await.unwrap();
        let keys: Vec<_> = all
            .iter()
            .map(|i| (i.key.as_str(), i.since, i.run_id.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("a", t0, "run-2"),
                ("b", later, "run-2"),
                ("h", t0, "run-1")
            ],
            "{backend}"
        );
        // A run that no longer sees "a" drops it; a source without issues is emptied.
        s.replace_issues(
            "run-3",
            &["periods", "hourly"],
            [issue("b", "periods", later)],
        )
        .await
        .unwrap();
        let keys: Vec<_> = s
            .issues()
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.key)
            .collect();
        assert_eq!(keys, vec!["b"], "{backend}");
    })
    .await;
}

#[tokio::test]
async fn cursors_round_trip() {
    on_each_backend(async |backend, s| {
        assert_eq!(s.cursor("last_full").await.unwrap(), None, "{backend}");
        s.set_cursor("last_full", "2026-11-26").await.unwrap();
        s.set_cursor("last_full", "2026-11-27").await.unwrap();
        assert_eq!(
            s.cursor("last_full").await.unwrap().as_deref(),
            Some("2026-11-27")
        );
    })
    .await;
}

/// Every way runs exclude each other: an advisory lock (PostgreSQL), a file lock (SQLite on a
/// file), an in-process lock (SQLite in memory, which only the store's clones share).
async fn for_each_lock_scheme(check: impl AsyncFn(&'static str, &Store, &Store)) {
    for (backend, db) in all_dbs().await {
        check(backend, &db.store, &replica(&db.url).await).await;
    }
    let memory = Store::connect(&SecretString::from("sqlite::memory:"), 1)
        .await
        .unwrap();
    check("sqlite in memory", &memory, &memory.clone()).await;
}

async fn assert_refused(store: &Store, scheme: &str) {
    assert!(
        store.try_lock().await.unwrap().is_none(),
        "{scheme}: a second runner must be refused"
    );
}

/// Takes the lock, trying until `patience` has passed (once if it is zero).
async fn lock_within(store: &Store, patience: StdDuration, scheme: &str) -> RunLock {
    eventually(
        Instant::now() + patience,
        StdDuration::from_millis(20),
        async || store.try_lock().await.unwrap(),
    )
    .await
    .unwrap_or_else(|| panic!("{scheme}: the lock is still held after {patience:?}"))
}

#[tokio::test]
async fn only_one_runner_holds_the_lock() {
    for_each_lock_scheme(async |scheme, store, replica| {
        let first = lock_within(store, StdDuration::ZERO, scheme).await;
        assert_refused(replica, scheme).await;
        first.release().await.unwrap();
        let second = lock_within(replica, StdDuration::ZERO, scheme).await;
        second.release().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_dead_runner_does_not_hold_the_lock_forever() {
    for_each_lock_scheme(async |scheme, store, replica| {
        let held = lock_within(store, StdDuration::ZERO, scheme).await;
        assert_refused(replica, scheme).await;
        // Dies without releasing it: the connection, the file or the guard just goes. The
        // server frees a PostgreSQL session lock once it notices the connection is gone.
        drop(held);
        let next = lock_within(replica, StdDuration::from_secs(10), scheme).await;
        next.release().await.unwrap();
    })
    .await;
}
