//! Both clients read a generated 2,000-employee organisation back exactly.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, Months};

use personio_productive_sync::domain::{AbsenceUnit, PeriodStatus};
use personio_productive_sync::personio::{AbsenceSource, TimeOffQuery};
use personio_productive_sync::sim::generate::{generate, OrgSpec};
use personio_productive_sync::sync::SyncError;

use crate::support::{sqlite_db, today, Harness};

#[tokio::test]
async fn a_generated_2000_employee_organisation_reads_back_exactly() {
    let org = generate(&OrgSpec::new(2000, 10, today()));
    let h = Harness::new(org, sqlite_db().await).await;
    let settings = &h.settings;
    let retry = Default::default();
    let personio =
        personio_productive_sync::personio::PersonioClient::new(&settings.personio, retry).unwrap();
    let productive =
        personio_productive_sync::productive::ProductiveClient::new(&settings.productive, retry)
            .unwrap();

    // Personio: every period overlapping the window, exactly as seeded.
    let from = today().checked_sub_months(Months::new(3)).unwrap();
    let to = today() + Duration::days(5 * 365);
    let read = personio
        .time_offs(&TimeOffQuery {
            from,
            to,
            updated_from: None,
            reach_back: None,
        })
        .await
        .map_err(SyncError::Personio)
        .unwrap();
    assert!(read.rejected.is_empty(), "{:?}", read.rejected.first());
    let employees: BTreeMap<i64, _> = h.org.personio.employees().into_iter().collect();
    let want: BTreeMap<i64, _> = h
        .org
        .personio
        .time_offs()
        .into_iter()
        .filter(|(_, p)| p.end >= from && p.start <= to)
        .collect();
    assert!(want.len() > 18_000, "{} periods", want.len());
    assert_eq!(read.items.len(), want.len());
    for got in &read.items {
        let seeded = &want[&got.id];
        assert_eq!(
            (got.start, got.end),
            (seeded.start, seeded.end),
            "period {}",
            got.id
        );
        assert_eq!(
            (got.half_day_start, got.half_day_end),
            (seeded.half_day_start, seeded.half_day_end)
        );
        assert_eq!(got.employee_id, seeded.employee_id);
        assert_eq!(got.email, employees[&seeded.employee_id].email);
        assert_eq!(got.type_id, seeded.type_id);
        let status = if seeded.status == "approved" {
            PeriodStatus::Approved
        } else {
            PeriodStatus::Pending
        };
        assert_eq!(got.status, status);
    }
    let types = personio.absence_types().await.unwrap().items;
    assert_eq!(types.len(), h.org.personio.time_off_types().len());
    assert_eq!(
        types.iter().filter(|t| t.unit == AbsenceUnit::Hour).count(),
        1
    );

    // Productive: every person with email, activity and working pattern; every event.
    let people = productive.people().await.unwrap();
    assert!(people.rejected.is_empty());
    let seeded: BTreeMap<i64, _> = h.org.productive.people().into_iter().collect();
    assert_eq!(people.items.len(), seeded.len());
    for p in &people.items {
        let s = &seeded[&p.id];
        assert_eq!(p.email, s.email);
        assert_eq!(p.active, s.active);
        assert_eq!(p.availabilities, s.availabilities);
    }
    let events: BTreeSet<(i64, String)> = productive
        .events()
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| (e.id, e.name))
        .collect();
    let seeded_events: BTreeSet<(i64, String)> = h
        .org
        .productive
        .events()
        .into_iter()
        .map(|(id, e)| (id, e.name))
        .collect();
    assert_eq!(events, seeded_events);
}
