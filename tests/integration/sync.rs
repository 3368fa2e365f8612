//! End-to-end: the engine against both simulators and a real store.

use crate::support::{assert_exact, expected_days, postgres_db, sqlite_db, Harness};

#[tokio::test]
async fn a_generated_organisation_lands_exactly_and_a_second_run_writes_nothing() {
    for db in [sqlite_db().await, postgres_db().await] {
        let h = Harness::generated(80, 8, db).await;
        let first = h.sync().await;
        assert!(first.full);
        // The only failures: bookings on the limited "Special leave" event, which needs allowances.
        let issues = h.db.store.issues().await.unwrap();
        let failures: Vec<_> = issues.iter().filter(|i| i.kind == "failed").collect();
        assert_eq!(
            failures.len(),
            first.counts.failed,
            "{}",
            first.render_counts()
        );
        assert!(
            failures
                .iter()
                .all(|i| i.reason.contains("has no allowance")),
            "{failures:#?}"
        );
        assert!(first.counts.created > 0);
        assert!(!expected_days(&h.org).is_empty());
        assert_exact(&h.org);

        h.reset_counters();
        let second = h.sync().await;
        assert!(!second.full, "the second run reads incrementally");
        // No write but the retries of the records that failed (a 422 is retried every run).
        assert_eq!(
            h.productive_writes(),
            first.counts.failed as u64,
            "{}",
            second.render_counts()
        );
        assert_eq!(second.counts.failed, first.counts.failed);
        assert_eq!(
            second.counts.created + second.counts.updated + second.counts.deleted,
            0
        );
        assert_eq!(second.counts.unchanged, first.counts.created);
        assert_exact(&h.org);
    }
}
