//! Hour-unit absences (`sync.hourly_absences`), end to end through both Personio APIs: booked as
//! the hours they take on each day, never above a day's capacity together with day absences,
//! not booked by default, and unbooked when they go.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration as Days, NaiveDate, NaiveDateTime, NaiveTime};
use tokio_util::sync::CancellationToken;

use personio_productive_sync::config::PersonioApi;
use personio_productive_sync::sim::generate::{self, OrgSpec};
use personio_productive_sync::sim::personio::{
    PersonioQuirks, PersonioV2Quirks, SimEmployee, SimHourlyAbsence, SimTimeOff,
};
use personio_productive_sync::sim::productive::SimPerson;
use personio_productive_sync::sync::{RunOptions, RunReport, Trigger};

use crate::support::{actual_days, all_dbs, sqlite_db, today, Harness, TestDb};

const APIS: [PersonioApi; 2] = [PersonioApi::V1, PersonioApi::V2];

/// One employee's absences, written so that the expected bookings can be read off by hand: an
/// 8-hour Monday-to-Friday person in a week well ahead.
struct Hanna {
    person: i64,
    monday: NaiveDate,
    /// The hour absences, by what they test.
    capped: String,
    overnight: String,
    /// The three that are booked (capped, Tuesday's, overnight).
    booked: Vec<String>,
}

fn at(day: NaiveDate, h: u32, m: u32) -> NaiveDateTime {
    day.and_time(NaiveTime::from_hms_opt(h, m, 0).unwrap())
}

async fn harness() -> (Harness, Hanna) {
    harness_on(sqlite_db().await).await
}

async fn harness_on(db: TestDb) -> (Harness, Hanna) {
    // Generated colleagues have hour absences of their own; only Hanna's days are compared.
    let org = generate::generate(&OrgSpec::new(6, 2, today()));
    let employee =
        org.personio
            .add_employee(SimEmployee::new("Hanna", "Stunden", "hanna@example.com"));
    let person = org.productive.add_person(SimPerson::new(
        "Hanna",
        "Stunden",
        Some("hanna@example.com"),
    ));
    let next_monday = today() + Days::days(7 - i64::from(today().weekday().num_days_from_monday()));
    let monday = next_monday + Days::days(7);
    let day = |n: i64| monday + Days::days(n);
    let (vacation, overtime) = (org.types.vacation, org.types.overtime);
    let time_off = |start: NaiveDate, half_day_start: bool| SimTimeOff {
        employee_id: employee,
        type_id: vacation,
        start,
        end: start,
        half_day_start,
        half_day_end: false,
        status: "approved".into(),
        comment: None,
    };
    let hours = |start: NaiveDateTime, end: NaiveDateTime, status: &str| SimHourlyAbsence {
        employee_id: employee,
        type_id: overtime,
        start,
        end,
        status: status.into(),
        comment: None,
    };
    // Monday: the morning off as a half day (4 h), then 6 h of overtime: 4 h are left for it.
    org.personio.add_time_off(time_off(day(0), true));
    let capped =
        org.personio
            .add_hourly_absence(hours(at(day(0), 10, 0), at(day(0), 16, 0), "approved"));
    // Tuesday: 2.5 h.
    let tuesday =
        org.personio
            .add_hourly_absence(hours(at(day(1), 9, 0), at(day(1), 11, 30), "approved"));
    // Wednesday night to Thursday: 2 h on each day.
    let overnight =
        org.personio
            .add_hourly_absence(hours(at(day(2), 22, 0), at(day(3), 2, 0), "approved"));
    // Friday: a whole day off leaves nothing for an hour absence.
    org.personio.add_time_off(time_off(day(4), false));
    org.personio
        .add_hourly_absence(hours(at(day(4), 9, 0), at(day(4), 11, 0), "approved"));
    // Saturday: no capacity. Next Monday: pending, so not booked.
    org.personio
        .add_hourly_absence(hours(at(day(5), 10, 0), at(day(5), 12, 0), "approved"));
    org.personio
        .add_hourly_absence(hours(at(day(7), 9, 0), at(day(7), 10, 0), "pending"));
    let h = Harness::new(org, db).await;
    let hanna = Hanna {
        person,
        monday,
        booked: vec![capped.clone(), tuesday, overnight.clone()],
        capped,
        overnight,
    };
    (h, hanna)
}

/// Hanna's days as Productive holds them: date → (event, minutes) booked by the sync.
fn hanna_days(h: &Harness, hanna: &Hanna) -> BTreeMap<NaiveDate, Vec<(String, i64)>> {
    actual_days(&h.org)
        .into_iter()
        .filter(|((person, _), _)| *person == hanna.person)
        .map(|((_, day), booked)| (day, booked))
        .collect()
}

/// What the fixture above must become, worked out by hand.
fn expected(hanna: &Hanna, with_hours: bool) -> BTreeMap<NaiveDate, Vec<(String, i64)>> {
    let day = |n: i64| hanna.monday + Days::days(n);
    let vacation = |m: i64| ("paid vacation".to_string(), m);
    let hours = |m: i64| ("overtime compensation".to_string(), m);
    let mut out = BTreeMap::from([(day(0), vec![vacation(240)]), (day(4), vec![vacation(480)])]);
    if with_hours {
        out.get_mut(&day(0)).unwrap().push(hours(240));
        out.insert(day(1), vec![hours(150)]);
        out.insert(day(2), vec![hours(120)]);
        out.insert(day(3), vec![hours(120)]);
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

async fn run(h: &Harness, api: PersonioApi, hourly: bool) -> RunReport {
    run_named(h, api, hourly, Vec::new()).await
}

/// A full run, or with `named` a targeted one (as a webhook starts).
async fn run_named(h: &Harness, api: PersonioApi, hourly: bool, named: Vec<String>) -> RunReport {
    let options = RunOptions {
        trigger: Trigger::Manual,
        dry_run: false,
        force_full: named.is_empty(),
        allow_mass_delete: false,
        named,
    };
    h.syncer_on_with(api, |s| s.hourly_absences = hourly)
        .run(options, CancellationToken::new())
        .await
        .expect("sync run")
}

fn reasons(report: &RunReport, id: &str) -> Vec<String> {
    report
        .skipped
        .iter()
        .filter(|s| s.personio_id == id)
        .map(|s| s.reason.clone())
        .collect()
}

#[tokio::test]
async fn hour_absences_are_booked_as_their_hours_and_never_above_capacity() {
    for api in APIS {
        let (h, hanna) = harness().await;
        let report = run(&h, api, true).await;
        let days = hanna_days(&h, &hanna);
        assert_eq!(days, expected(&hanna, true), "{api:?}");
        for (day, booked) in &days {
            let total: i64 = booked.iter().map(|(_, m)| m).sum();
            assert!(total <= 480, "{api:?}: {day} carries {total} minutes");
        }
        let friday = report
            .skipped
            .iter()
            .find(|s| s.email == "hanna@example.com" && s.start == hanna.monday + Days::days(4))
            .expect("Friday's hour absence is reported");
        assert!(
            friday.reason.contains("no working capacity left"),
            "{api:?}: {friday:?}"
        );
        // Nothing changed: nothing is written again.
        h.reset_counters();
        let again = run(&h, api, true).await;
        let c = &again.counts;
        assert_eq!((c.created, c.updated, c.deleted), (0, 0, 0), "{api:?}");
        assert_eq!(c.drift_repaired, 0, "{api:?}");
        assert_eq!(h.productive_writes(), 0, "{api:?}");

        // A deleted hour absence loses its bookings in the next run; the rest stay.
        h.org.personio.delete_hourly_absence(&hanna.overnight);
        run(&h, api, true).await;
        let mut want = expected(&hanna, true);
        want.remove(&(hanna.monday + Days::days(2)));
        want.remove(&(hanna.monday + Days::days(3)));
        assert_eq!(hanna_days(&h, &hanna), want, "{api:?}");

        // Turned off: the hour bookings go, the day bookings stay.
        let off = run(&h, api, false).await;
        assert_eq!(hanna_days(&h, &hanna), expected(&hanna, false), "{api:?}");
        assert!(
            reasons(&off, &hanna.capped)
                .iter()
                .any(|r| r.contains("not synced")),
            "{api:?}: {:?}",
            reasons(&off, &hanna.capped)
        );
    }
}

#[tokio::test]
async fn hour_absences_are_not_booked_by_default() {
    let (h, hanna) = harness().await;
    let report = h.sync_full().await;
    assert_eq!(hanna_days(&h, &hanna), expected(&hanna, false));
    assert_eq!(
        reasons(&report, &hanna.capped),
        vec!["measured in hours; hour-unit absences are not synced".to_string()]
    );
}

#[tokio::test]
async fn an_hour_absence_without_a_per_day_breakdown_is_reported_not_guessed() {
    let (h, hanna) = harness().await;
    h.org.personio.set_quirks(PersonioQuirks {
        rate_limit_scale: 0.0,
        hourly_without_breakdowns: true,
        ..Default::default()
    });
    let report = run(&h, PersonioApi::V1, true).await;
    assert_eq!(hanna_days(&h, &hanna), expected(&hanna, false));
    let reasons = reasons(&report, &hanna.overnight);
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("cannot be booked exactly")),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn an_hour_absence_missing_from_a_short_v2_page_keeps_its_bookings() {
    for (store, db) in all_dbs().await {
        missing_from_a_short_page(store, db).await;
    }
}

async fn missing_from_a_short_page(store: &str, db: TestDb) {
    let (h, hanna) = harness_on(db).await;
    // Only Hanna's booked hour absences remain, so the one a short page drops is booked.
    for (id, _) in h.org.personio.hourly_absences() {
        if !hanna.booked.contains(&id) {
            h.org.personio.delete_hourly_absence(&id);
        }
    }
    run(&h, PersonioApi::V2, true).await;
    let before = hanna_days(&h, &hanna);
    assert_eq!(before, expected(&hanna, true));
    // Every first page silently lacks its last record: the hour absence missing from the read
    // is looked up by id, found, and stays booked (day periods the same way).
    h.org.personio.set_v2_quirks(PersonioV2Quirks {
        drop_page: Some(1),
        ..Default::default()
    });
    let report = run(&h, PersonioApi::V2, true).await;
    let c = &report.counts;
    assert_eq!(
        (c.created, c.updated, c.deleted),
        (0, 0, 0),
        "{store}: {c:?}"
    );
    assert_eq!(hanna_days(&h, &hanna), before, "{store}");
}

#[tokio::test]
async fn a_webhook_naming_an_hour_absence_books_it_in_the_targeted_run() {
    let (h, hanna) = harness().await;
    run(&h, PersonioApi::V2, true).await;
    let employee = h
        .org
        .personio
        .employees()
        .into_iter()
        .find(|(_, e)| e.email == "hanna@example.com")
        .map(|(id, _)| id)
        .unwrap();
    let thursday = hanna.monday + Days::days(10);
    let added = h.org.personio.add_hourly_absence(SimHourlyAbsence {
        employee_id: employee,
        type_id: h.org.types.overtime,
        start: at(thursday, 13, 0),
        end: at(thursday, 14, 45),
        status: "approved".into(),
        comment: None,
    });
    let report = run_named(&h, PersonioApi::V2, true, vec![added.clone()]).await;
    assert_eq!(report.counts.created, 1, "{:?}", report.counts);
    let mut want = expected(&hanna, true);
    want.insert(thursday, vec![("overtime compensation".to_string(), 105)]);
    assert_eq!(hanna_days(&h, &hanna), want);
    let issues = h.db.store.issues().await.unwrap();
    assert!(
        issues
            .iter()
            .all(|i| i.personio_id.as_deref() != Some(added.as_str())),
        "an hour absence named by a webhook is no unreadable day period: {issues:?}"
    );
}
