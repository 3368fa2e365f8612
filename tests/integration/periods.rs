//! The complete set of in-scope periods, every run: absences that began long before the window,
//! and reads that cannot prove they are complete.

use chrono::Duration;

use personio_productive_sync::sim::personio::PersonioQuirks;

use crate::support::{postgres_db, sqlite_db, today, Harness};
use crate::sync::{bookings_of, future_vacation};

/// Two long absences of a matched employee that began long ago and are still going on: 800 days
/// and three years, last changed `changed_days_ago`. Returns their ids.
fn add_long_absences(h: &Harness, changed_days_ago: i64) -> [i64; 2] {
    h.org
        .personio
        .set_clock(Some(chrono::Utc::now() - Duration::days(changed_days_ago)));
    let (_, template) = future_vacation(&h.org);
    let long = |start_days_ago: i64, days: i64| {
        let mut p = template.clone();
        p.start = today() - Duration::days(start_days_ago);
        p.end = p.start + Duration::days(days - 1);
        p.half_day_start = false;
        p.half_day_end = false;
        h.org.personio.add_time_off(p)
    };
    let ids = [long(700, 800), long(900, 3 * 365)];
    h.org.personio.set_clock(None);
    ids
}

fn lookups(h: &Harness) -> u64 {
    h.org
        .personio
        .control()
        .requests
        .get("GET /v1/company/time-offs/{id}")
}

#[tokio::test]
async fn long_absences_are_synced_whole_and_kept_across_runs_until_deleted() {
    for db in [sqlite_db().await, postgres_db().await] {
        let h = Harness::generated(24, 5, db).await;
        let [parental, sick] = add_long_absences(&h, 30);
        h.sync().await;
        h.assert_exact();
        assert!(!bookings_of(&h.org, parental).is_empty());
        assert!(!bookings_of(&h.org, sick).is_empty());
        // Later runs, full ones included, ask only from a year before the window: the long
        // absences are confirmed by id, never taken for deleted.
        for full in [false, true, false, true] {
            h.reset_counters();
            let report = h.try_sync(false, full).await.unwrap();
            assert_eq!(report.counts.deleted, 0, "{}", report.render_counts());
            assert_eq!(
                lookups(&h),
                2,
                "one lookup per long absence unchanged since"
            );
            h.assert_exact();
        }
        // One started long ago but entered only now: the changes read finds it.
        let [late, _] = add_long_absences(&h, 0);
        h.sync().await;
        assert!(!bookings_of(&h.org, late).is_empty());
        h.assert_exact();
        // Deleted in Personio: gone in the next run.
        h.org.personio.delete_time_off(sick);
        let report = h.sync().await;
        assert!(report.counts.deleted > 0);
        assert!(bookings_of(&h.org, sick).is_empty());
        h.assert_exact();
    }
}

#[tokio::test]
async fn a_read_that_cannot_prove_it_is_complete_deletes_nothing() {
    for db in [sqlite_db().await, postgres_db().await] {
        // More than one page of time-offs (200 a page).
        let h = Harness::generated(60, 6, db).await;
        assert!(h.org.personio.time_offs().len() > 250);
        h.sync().await;
        let before = h.org.productive.bookings();
        let lies = [
            PersonioQuirks {
                drop_page: Some(2),
                ..PersonioQuirks::default()
            },
            PersonioQuirks {
                ignore_page_number: true,
                ..PersonioQuirks::default()
            },
        ];
        for quirks in lies {
            h.org.personio.set_quirks(quirks.clone());
            let err = h.try_sync(false, false).await.unwrap_err();
            assert!(
                format!("{:#}", anyhow::Error::new(err)).contains("incomplete read"),
                "{quirks:?}"
            );
            assert_eq!(h.org.productive.bookings(), before, "{quirks:?}");
        }
        // Metadata that is missing, or that claims fewer pages than there are, does not cut the
        // read short: it ends on the first short page.
        for quirks in [
            PersonioQuirks {
                omit_metadata: true,
                ..PersonioQuirks::default()
            },
            PersonioQuirks {
                claim_total_pages: Some(1),
                ..PersonioQuirks::default()
            },
        ] {
            h.org.personio.set_quirks(quirks.clone());
            let report = h.try_sync(false, true).await.unwrap();
            assert_eq!(
                report.counts.deleted,
                0,
                "{quirks:?}: {}",
                report.render_counts()
            );
            assert_eq!(h.org.productive.bookings(), before, "{quirks:?}");
        }
        h.org.personio.set_quirks(PersonioQuirks::default());
        h.assert_exact();
    }
}
