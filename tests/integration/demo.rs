//! The `demo` command's report: the first run's bookings, skips and counts, then exactly the
//! three changes it made in Personio.

use personio_productive_sync::config::Settings;
use personio_productive_sync::demo;

#[tokio::test]
async fn the_demo_reports_the_first_sync_and_exactly_the_three_changes() {
    // The default database.url: the demo must use a temporary store and need no credentials.
    let settings = Settings::load_from(None, std::iter::empty()).unwrap();
    let phases = std::sync::Mutex::new(Vec::new());
    let demo = demo::demo(&settings, |p| phases.lock().unwrap().push(p.to_string()))
        .await
        .unwrap();
    let report = &demo.report;
    assert!(phases.lock().unwrap().len() >= 3, "{phases:?}");

    let first = &demo.first;
    assert!(first.full);
    assert!(first.counts.created > 200, "{}", first.render_counts());
    assert!(report.contains(&format!("full run: {} created", first.counts.created)));
    // Every skip reason is shown with its count.
    assert!(!first.skipped.is_empty());
    for (reason, n) in &first.counts.skipped {
        assert!(
            report.contains(&format!("{reason} ({n})")),
            "{reason}\n{report}"
        );
    }
    assert!(report.contains("measured in hours"), "{report}");

    let second = &demo.second;
    assert_eq!(
        (
            second.counts.created,
            second.counts.updated,
            second.counts.deleted
        ),
        (1, 1, 1),
        "{}",
        second.render_counts()
    );
    let (_, second_section) = report.split_once("== Second sync").unwrap();
    let written = second.render_plan();
    assert_eq!(written.matches("+ create").count(), 1, "{written}");
    assert_eq!(written.matches("~ update").count(), 1, "{written}");
    assert_eq!(written.matches("- delete").count(), 1, "{written}");
    for line in written.lines() {
        assert!(second_section.contains(line), "{line}\n{second_section}");
    }
    // The moved absence is the one the report says it moved, and so on.
    let (_, changes) = report.split_once("== Changes made in Personio ==").unwrap();
    for (verb, action) in [
        ("moved:", "~ update"),
        ("deleted:", "- delete"),
        ("added:", "+ create"),
    ] {
        let id = changes
            .lines()
            .find_map(|l| l.trim().strip_prefix(verb))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap();
        let line = written.lines().find(|l| l.contains(action)).unwrap();
        assert!(
            line.ends_with(&format!("absence {id}")) || line.contains(&format!("absence {id} ")),
            "{line} vs {id}"
        );
    }
    assert!(
        report.contains("full run: 1 created, 1 updated, 1 deleted"),
        "{report}"
    );
}
