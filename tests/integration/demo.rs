//! The `demo` command's report: the first run's bookings, skips, a match suggestion, the type
//! rules' effect and counts, then exactly the three changes it made in Personio.

use personio_productive_sync::config::Settings;
use personio_productive_sync::demo;

#[tokio::test]
async fn the_demo_reports_the_first_sync_and_exactly_the_three_changes() {
    // No credentials needed: the demo uses the simulators' and a temporary store.
    let settings = Settings::load_from(None, std::iter::empty()).unwrap();
    let phases = std::sync::Mutex::new(Vec::new());
    let demo = demo::demo(&settings, None, |p| {
        phases.lock().unwrap().push(p.to_string())
    })
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

    // The tagged employee's absence is skipped, with the override that would match her.
    assert!(
        report.contains(r#"add under [sync.email_overrides]: "ann.tagged+hr@example.com" = "ann.tagged@example.com""#),
        "{report}"
    );
    // The type rules: sick leave lands on "Absence", unpaid leave nowhere.
    let on = |event: &str| {
        first
            .plan
            .creates
            .iter()
            .filter(|c| first.events.name(c.shape.event) == format!("{event:?}"))
            .count()
    };
    assert!(on("Absence") > 0, "{report}");
    assert_eq!(
        on("Unpaid leave") + on("SICK LEAVE") + on("Sick leave"),
        0,
        "{report}"
    );
    assert!(
        report.contains(&format!("\"Absence\": {}", on("Absence"))),
        "{report}"
    );
    let excluded = first.counts.skipped.get("type excluded by configuration");
    assert!(
        excluded.is_some_and(|n| *n > 0),
        "{:?}",
        first.counts.skipped
    );

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

// ---- the demo never touches a configured store --------------------------------------------------

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::support::{postgres_db, sqlite_db, Harness};

/// The binary's `demo` with `database.url` set to `db_url` (and nothing else inherited); its
/// stdout, after asserting it exited 0.
async fn demo_process(db_url: &str, args: &[&str]) -> String {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_personio-productive-sync"))
        .arg("demo")
        .args(args)
        .env_clear()
        .env("PPS__DATABASE__URL", db_url)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the demo finishes")
        .expect("spawning the binary");
    assert!(
        out.status.success(),
        "demo exited with {:?}; stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("the report is text")
}

/// Every file in `dir`, byte for byte.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

/// A store that has seen a real sync: runs, journal, cursors, cached periods.
async fn synced(db: crate::support::TestDb) -> Harness {
    let h = Harness::generated(6, 3, db).await;
    h.sync().await;
    assert!(!h.db.store.journal().await.unwrap().is_empty());
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_leaves_a_configured_sqlite_store_byte_for_byte_untouched() {
    let h = synced(sqlite_db().await).await;
    let url = h.db.url.expose_secret().to_string();
    // Closed, so that the WAL is folded into the file and nothing of ours is pending.
    h.db.store.close().await;
    let path = url.strip_prefix("sqlite://").unwrap();
    let dir = Path::new(path).parent().unwrap();
    let before = files(dir);

    let report = demo_process(&url, &[]).await;
    assert!(report.contains("a temporary SQLite database"), "{report}");
    assert_eq!(files(dir), before, "the configured store's files changed");

    // `--state` is the one way to keep the demo's state, and it goes exactly there.
    let kept = tempfile::tempdir().unwrap();
    let state = format!("sqlite://{}", kept.path().join("demo.db").display());
    let report = demo_process(&url, &["--state", &state]).await;
    assert!(
        report.contains("the database given with --state"),
        "{report}"
    );
    assert_eq!(files(dir), before, "the configured store's files changed");
    let store = personio_productive_sync::store::Store::connect(&SecretString::from(state), 1)
        .await
        .unwrap();
    assert_eq!(store.recent_runs(10).await.unwrap().len(), 2);
    store.close().await;
}

/// Every row of every table (migrations' bookkeeping included), as text, in a stable order.
async fn rows(url: &str) -> BTreeMap<String, String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut out = BTreeMap::new();
    for table in tables {
        let text: String = sqlx::query_scalar(&format!(
            "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM \"{table}\" t"
        ))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        out.insert(table, text);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_leaves_a_configured_postgres_store_row_for_row_untouched() {
    let h = synced(postgres_db().await).await;
    let url = h.db.url.expose_secret().to_string();
    let before = rows(&url).await;
    assert!(
        before.get("synced_bookings").is_some_and(|j| !j.is_empty()),
        "{before:?}"
    );

    let report = demo_process(&url, &[]).await;
    assert!(report.contains("a temporary SQLite database"), "{report}");
    assert_eq!(
        rows(&url).await,
        before,
        "the configured store's rows changed"
    );
}
