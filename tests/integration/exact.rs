//! Exact within one run and never destructive: faults healed inside the run, the mass-deletion
//! guard, bookings rejected in Productive, copied markers and the write order of a first sync.

use std::collections::BTreeSet;
use std::time::Duration as StdDuration;

use chrono::Duration;
use tokio_util::sync::CancellationToken;

use personio_productive_sync::sim::productive::SimBooking;
use personio_productive_sync::sim::FaultSettings;
use personio_productive_sync::sync::{RunOptions, Trigger};

use crate::support::{eventually, postgres_db, sqlite_db, synced_absence, today, Harness};
use crate::sync::{bookings_of, failed_writes, future_vacation, small_on_postgres};

fn booking_ids(h: &Harness) -> BTreeSet<i64> {
    h.org
        .productive
        .bookings()
        .iter()
        .map(|(id, _)| *id)
        .collect()
}

async fn run(h: &Harness, allow_mass_delete: bool) -> personio_productive_sync::sync::RunReport {
    let options = options(allow_mass_delete);
    h.syncer
        .run(options, CancellationToken::new())
        .await
        .unwrap()
}

fn options(allow_mass_delete: bool) -> RunOptions {
    RunOptions {
        trigger: Trigger::Manual,
        dry_run: false,
        force_full: false,
        allow_mass_delete,
        named: Vec::new(),
    }
}

/// About 15 % of requests fail: 5xx, 429s, drops before the request is handled and, on
/// Productive, writes carried out whose answer is lost.
fn fault_mix(h: &Harness) {
    h.org.productive.control().set_faults(FaultSettings {
        error_rate: 0.05,
        rate_limit_rate: 0.02,
        drop_rate: 0.04,
        lose_write_answer_rate: 0.04,
        ..FaultSettings::default()
    });
    h.org.personio.control().set_faults(FaultSettings {
        error_rate: 0.07,
        rate_limit_rate: 0.02,
        drop_rate: 0.06,
        ..FaultSettings::default()
    });
}

#[tokio::test]
async fn with_fifteen_percent_faults_the_first_run_that_exits_0_leaves_productive_exact() {
    for db in [sqlite_db().await, postgres_db().await] {
        let h = Harness::generated(24, 5, db).await;
        fault_mix(&h);
        let mut outcomes = Vec::new();
        loop {
            assert!(outcomes.len() < 8, "no clean run in 8: {outcomes:?}");
            match h.try_sync(false, false).await {
                Ok(report) if report.exit_code() == 0 => break,
                Ok(report) => {
                    assert!(
                        report.counts.failed_transient > 0,
                        "{}",
                        report.render_counts()
                    );
                    outcomes.push(format!("partial: {}", report.render_counts()));
                }
                Err(e) => {
                    assert!(e.is_transient(), "{e:?}");
                    outcomes.push(format!("failed: {e}"));
                }
            }
        }
        h.assert_exact();
    }
}

#[tokio::test]
async fn a_mass_deletion_is_held_until_allowed_while_creates_go_on() {
    for db in [sqlite_db().await, postgres_db().await] {
        let h = Harness::generated(24, 5, db).await;
        h.sync().await;
        let owned = h.db.store.journal().await.unwrap().len();
        // A credential that suddenly sees only part of the company looks like this.
        let periods = h.org.personio.time_offs();
        let gone: Vec<i64> = periods
            .iter()
            .filter(|(id, _)| !bookings_of(&h.org, *id).is_empty())
            .map(|(id, _)| *id)
            .step_by(2)
            .collect();
        for id in &gone {
            h.org.personio.delete_time_off(*id);
        }
        let (template_id, template) = future_vacation(&h.org);
        let mut added = template.clone();
        added.start = template.start + Duration::days(100);
        added.end = added.start;
        let added = h.org.personio.add_time_off(added);
        assert_ne!(added, template_id);
        let before = booking_ids(&h);

        let held = run(&h, false).await;
        assert_eq!(held.exit_code(), 4);
        let hold = held.counts.mass_delete_held.expect("held");
        assert!(
            hold.would_delete > 10 && hold.would_delete * 5 > hold.owned,
            "{hold:?}"
        );
        assert_eq!(hold.owned, owned);
        assert_eq!(held.counts.deleted, 0);
        let after = booking_ids(&h);
        assert!(before.is_subset(&after), "nothing was deleted");
        assert!(!bookings_of(&h.org, added).is_empty(), "creates go on");
        let runs = h.db.store.recent_runs(1).await.unwrap();
        assert_eq!(
            runs[0].counts.as_ref().unwrap().mass_delete_held,
            Some(hold)
        );

        // The daemon's next run holds again; an operator lets one run through.
        let again = h.sync().await;
        assert_eq!(again.exit_code(), 4);
        let allowed = run(&h, true).await;
        assert_eq!(allowed.exit_code(), 0, "{}", allowed.render_counts());
        assert_eq!(allowed.counts.mass_delete_held, None);
        assert!(gone.iter().all(|id| bookings_of(&h.org, *id).is_empty()));
        h.assert_exact();
    }
}

#[tokio::test]
async fn a_booking_rejected_in_productive_is_never_approved_counted_or_recreated() {
    for db in [sqlite_db().await, postgres_db().await] {
        let h = Harness::generated(24, 5, db).await;
        // Approvals fail for good at first, so the bookings stay pending...
        h.org.productive.set_may_approve(false);
        h.sync().await;
        let steps = h.org.productive.approval_statuses();
        let (_, step) = steps
            .first()
            .expect("the generator gives some people an approval policy");
        let booking_id = step.booking_id;
        // ... and an approver rejects one of them.
        h.org.productive.reject_booking(booking_id);
        h.org.productive.set_may_approve(true);
        let rejected_booking = h
            .org
            .productive
            .bookings()
            .into_iter()
            .find(|(id, _)| *id == booking_id);
        let (_, rejected_booking) = rejected_booking.unwrap();

        let others = steps
            .iter()
            .filter(|(_, a)| a.booking_id != booking_id)
            .count();
        for (run, full) in [false, true, false].into_iter().enumerate() {
            let report = h.try_sync(false, full).await.unwrap();
            assert_eq!(report.exit_code(), 0, "{}", report.render_counts());
            assert_eq!(report.counts.created, 0, "{}", report.render_counts());
            let others_pending = if run == 0 { others } else { 0 };
            assert_eq!(
                report.counts.approved,
                others_pending,
                "{}",
                report.render_counts()
            );
            let now = h
                .org
                .productive
                .bookings()
                .into_iter()
                .find(|(id, _)| *id == booking_id);
            assert_eq!(
                now.map(|(_, b)| b),
                Some(rejected_booking.clone()),
                "left exactly as it is"
            );
            let steps = h.org.productive.approval_statuses();
            let own: Vec<_> = steps
                .iter()
                .filter(|(_, a)| a.booking_id == booking_id)
                .collect();
            assert!(own
                .iter()
                .all(|(_, a)| a.approved_at.is_none() && a.rejected_at.is_some()));
            let journal = h.db.store.journal().await.unwrap();
            let entry = journal
                .iter()
                .find(|e| e.booking_id == Some(booking_id))
                .unwrap();
            assert!(entry.rejected && !entry.approved, "{entry:?}");
            let issues = failed_writes(&h).await;
            assert!(
                issues.iter().any(|i| i
                    .reason
                    .contains(&format!("rejected booking {booking_id} in Productive"))),
                "{issues:#?}"
            );
            // Every other pending booking got approved.
            assert!(steps
                .iter()
                .filter(|(_, a)| a.booking_id != booking_id)
                .all(|(_, a)| a.approved_at.is_some()));
        }
    }
}

#[tokio::test]
async fn a_hand_made_booking_with_a_copied_marker_is_left_exactly_as_it_is() {
    for db in [sqlite_db().await, postgres_db().await] {
        let h = Harness::generated(24, 5, db).await;
        h.sync().await;
        let (period_id, _) = future_vacation(&h.org);
        let (_, synced) = bookings_of(&h.org, period_id).remove(0);
        let marker = synced.note.clone().unwrap();
        assert!(synced_absence(&marker).is_some());
        // One copy with other dates, one identical to the sync's own booking.
        let moved = SimBooking {
            started_on: synced.started_on + Duration::days(30),
            ended_on: synced.ended_on + Duration::days(30),
            ..synced.clone()
        };
        let copies = [
            h.org.productive.add_booking(moved),
            h.org.productive.add_booking(synced.clone()),
        ];
        let before = h.org.productive.bookings();
        for full in [true, false, true] {
            h.reset_counters();
            let report = h.try_sync(false, full).await.unwrap();
            assert_eq!(h.productive_writes(), 0, "{}", report.render_counts());
            assert_eq!(report.counts.adopted, 0);
            assert_eq!(h.org.productive.bookings(), before);
        }
        assert!(copies.iter().all(|id| before.iter().any(|(b, _)| b == id)));
    }
}

#[tokio::test]
async fn a_first_sync_stopped_part_way_has_booked_the_near_future_first() {
    for db in [sqlite_db().await, postgres_db().await] {
        let h = Harness::generated(60, 6, db).await;
        let soon = today() + Duration::days(28);
        let near: usize = h
            .org
            .personio
            .time_offs()
            .iter()
            .filter(|(_, p)| p.status == "approved" && p.end >= today() && p.start <= soon)
            .count();
        const STOP_AFTER: u64 = 5;
        assert!(
            near > 3 * STOP_AFTER as usize,
            "the organisation has {near} near absences"
        );
        let cancel = CancellationToken::new();
        let watch = async {
            let deadline = std::time::Instant::now() + StdDuration::from_secs(60);
            let creates = async || {
                let n = h
                    .org
                    .productive
                    .control()
                    .requests
                    .get("POST /api/v2/bookings");
                (n >= STOP_AFTER).then_some(n)
            };
            let seen = eventually(deadline, StdDuration::from_millis(1), creates).await;
            cancel.cancel();
            seen.expect("the first sync starts creating bookings");
        };
        let (report, ()) = tokio::join!(h.syncer.run(options(false), cancel.clone()), watch);
        let report = report.unwrap();
        assert!(report.interrupted);
        assert_eq!(report.exit_code(), 3, "an interrupted run is partial");
        let created: Vec<SimBooking> = h
            .org
            .productive
            .bookings()
            .into_iter()
            .filter(|(_, b)| b.note.as_deref().and_then(synced_absence).is_some())
            .map(|(_, b)| b)
            .collect();
        assert!(
            !created.is_empty() && created.len() < near,
            "{} of {near}",
            created.len()
        );
        for b in &created {
            assert!(
                b.ended_on >= today() && b.started_on <= soon,
                "{b:?} was written before all of the next four weeks"
            );
        }
        // The next run finishes the rest.
        assert_eq!(h.sync().await.exit_code(), 0);
        h.assert_exact();
    }
}

#[tokio::test]
async fn an_archived_event_is_reported_not_replaced_and_its_bookings_stay() {
    for db in [sqlite_db().await, postgres_db().await] {
        let h = Harness::generated(24, 5, db).await;
        h.sync().await;
        let (period_id, _) = future_vacation(&h.org);
        let (_, booking) = bookings_of(&h.org, period_id).remove(0);
        let event_id = booking.event_id.unwrap();
        h.org
            .productive
            .update_event(event_id, |e| e.archived = true);
        let events = h.org.productive.events().len();
        let before = h.org.productive.bookings();
        for full in [false, true] {
            h.reset_counters();
            let report = h.try_sync(false, full).await.unwrap();
            assert_eq!(h.productive_writes(), 0, "{}", report.render_counts());
            assert_eq!(h.org.productive.events().len(), events, "no new event");
            assert_eq!(h.org.productive.bookings(), before);
            let issues = h.db.store.issues().await.unwrap();
            assert!(
                issues.iter().any(|i| i.source == "types"
                    && i.reason
                        .contains(&format!("event {event_id} is archived or deleted"))),
                "{issues:#?}"
            );
        }
    }
}

#[tokio::test]
async fn a_refused_update_waits_for_a_change_or_the_full_reconcile_like_a_refused_create() {
    for db in [sqlite_db().await, postgres_db().await] {
        let h = Harness::generated(24, 5, db).await;
        h.sync().await;
        let (period_id, _) = future_vacation(&h.org);
        // Moved onto the limited event, which Productive refuses without an allowance.
        let special = h.org.types.special;
        h.org
            .personio
            .update_time_off(period_id, |p| p.type_id = special);
        let patches = |h: &Harness| {
            h.org
                .productive
                .control()
                .requests
                .get("PATCH /api/v2/bookings/{id}")
        };
        h.reset_counters();
        let refused = h.sync().await;
        assert!(patches(&h) >= 1, "{}", refused.render_counts());
        assert_eq!(refused.exit_code(), 0, "a refusal is reported, not partial");
        let journal = h.db.store.journal().await.unwrap();
        let entry = journal
            .iter()
            .find(|e| e.key.period_id == period_id)
            .unwrap();
        assert!(entry.booking_id.is_some(), "still owned: {entry:?}");
        for (full, expected) in [(false, 0), (true, 1), (false, 0)] {
            h.reset_counters();
            let report = h.try_sync(false, full).await.unwrap();
            assert_eq!(
                patches(&h),
                expected,
                "full={full}: {}",
                report.render_counts()
            );
            let issues = failed_writes(&h).await;
            assert!(
                issues.iter().any(
                    |i| i.personio_id.as_deref() == Some(&*period_id.to_string())
                        && i.reason.contains("has no allowance")
                ),
                "{issues:#?}"
            );
        }
        // Back on vacation: the update goes through.
        let vacation = h.org.types.vacation;
        h.org
            .personio
            .update_time_off(period_id, |p| p.type_id = vacation);
        assert_eq!(h.sync().await.exit_code(), 0);
        assert!(failed_writes(&h)
            .await
            .iter()
            .all(|i| i.personio_id.as_deref() != Some(&*period_id.to_string())));
        h.assert_exact();
    }
}

#[tokio::test]
async fn a_long_write_phase_reports_its_progress_while_it_runs() {
    let h = small_on_postgres().await;
    // More writes in flight than the store has connections (4): recording progress must not
    // wait in the loop that drives them, or they would hold every connection unpolled.
    let syncer = h.syncer_with(|s| {
        s.progress_every = StdDuration::ZERO;
        s.write_concurrency = 16;
    });
    let live = syncer.progress();
    let watch = async {
        let deadline = std::time::Instant::now() + StdDuration::from_secs(60);
        let store = &h.db.store;
        let seen = eventually(deadline, StdDuration::from_millis(5), async || {
            let run = store.recent_runs(1).await.ok()?.pop()?;
            let p = run
                .progress
                .filter(|p| p.done > 0 && run.outcome == "running")?;
            Some((p, live.get()))
        })
        .await;
        seen.expect("a running run records its progress")
    };
    let (report, (stored, in_memory)) =
        tokio::join!(syncer.run(options(false), CancellationToken::new()), watch);
    let report = report.unwrap();
    // Starved of connections, writes would fail on the pool's timeout and the run with them.
    assert_eq!(report.exit_code(), 0, "{}", report.render_counts());
    let writes = (report.counts.created + report.counts.approved) as u64;
    assert!(
        stored.done <= stored.total && stored.total <= writes,
        "{stored:?}"
    );
    assert!(in_memory.is_some_and(|p| p.done >= stored.done && p.total == stored.total));
    assert_eq!(live.get(), None, "nothing is writing any more");
}

#[tokio::test]
async fn a_short_read_of_productive_bookings_recreates_nothing() {
    for db in [sqlite_db().await, postgres_db().await] {
        // More than one page of bookings (200 a page) on the sync's events.
        let h = Harness::generated(60, 6, db).await;
        h.sync().await;
        let before = h.org.productive.bookings();
        assert!(before.len() > 250, "{} bookings", before.len());
        h.org.productive.set_drop_page(Some(2));
        let err = h.try_sync(false, true).await.unwrap_err();
        let chain = format!("{:#}", anyhow::Error::new(err));
        assert!(chain.contains("incomplete read of /bookings"), "{chain}");
        assert_eq!(
            h.org.productive.bookings(),
            before,
            "nothing taken for deleted"
        );
        h.org.productive.set_drop_page(None);
        assert_eq!(h.try_sync(false, true).await.unwrap().exit_code(), 0);
        h.assert_exact();
    }
}
