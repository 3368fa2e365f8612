//! `/status` rendered by a real headless Chromium: the run table, a skipped record with its
//! advice, the search box; its screenshot is docs/status-page.png (`PPS_UPDATE_SCREENSHOT=1`
//! refreshes it).

use std::path::{Path, PathBuf};

use super::*;
use crate::support::sqlite_db;

/// Chromium from `CHROMIUM` or the PATH; the test fails (never skips) without it.
fn chromium() -> PathBuf {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return PathBuf::from(path);
    }
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "this test renders /status in a real browser and needs Chromium: install it \
                 with `apt-get install -y chromium` (as .ci/run does) or set CHROMIUM to its path"
            )
        })
}

async fn headless(args: &[&str], url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let profile_arg = format!("--user-data-dir={}", profile.path().display());
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--hide-scrollbars",
                &profile_arg,
            ])
            .args(args)
            .arg(url)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium finished within 60 s")
    .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_renders_in_a_browser_with_runs_advice_and_search() {
    let browser = chromium();
    let h = Harness::generated(40, 4, sqlite_db().await).await;
    // Reachable from other hosts and without a token: said at start.
    let daemon = Daemon::start(&env(&h, &[("PPS__HTTP__LISTEN", "0.0.0.0:0")])).await;
    let warning = daemon
        .wait_for_log(|v| {
            v["level"] == "WARN"
                && v["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("no http.token"))
        })
        .await;
    assert_eq!(
        warning["fields"]["addr"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some("0.0.0.0")
    );
    let api = Client::new(&daemon.base);
    let status = api.finished_runs(1).await;
    let skipped = status["issues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["reason"] == "no Productive person with this email")
        .expect("the generated org has unmatched people")
        .clone();
    let email = skipped["email"].as_str().unwrap();

    let url = format!("{}/status", daemon.base);
    let dom = headless(&["--dump-dom"], &url).await;
    let doc = Dom(&dom);
    let runs = doc.element("table", "id=\"run-table\"");
    assert!(
        runs.contains("startup") && runs.contains("partial"),
        "{runs}"
    );
    let group = doc.element("section", "data-reason=\"no_person\"");
    assert!(group.contains("What to do:"), "{group}");
    assert!(
        group.contains("<code>sync.email_overrides</code>"),
        "{group}"
    );
    assert!(
        group.contains(&format!("<td data-label=\"Email\">{email}</td>")),
        "{group}"
    );
    let search = doc.element("form", "role=\"search\"");
    assert!(search.contains("id=\"search\"") && search.contains("type=\"search\""));

    // Searching by email (the form's GET) keeps that person's records only.
    let query: String = url::form_urlencoded::byte_serialize(email.as_bytes()).collect();
    let found = headless(&["--dump-dom"], &format!("{url}?email={query}")).await;
    let rows: Vec<&str> = found.matches("<tr data-email=").collect();
    assert!(!rows.is_empty());
    assert_eq!(
        found
            .matches(&format!("<tr data-email=\"{}\"", email.to_lowercase()))
            .count(),
        rows.len(),
        "rows of other people are shown"
    );

    // The README's picture is refreshed on request only, so that a test run leaves the checkout
    // as it found it.
    let shots = tempfile::tempdir().unwrap();
    let shot = match std::env::var_os("PPS_UPDATE_SCREENSHOT") {
        Some(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/status-page.png"),
        None => shots.path().join("status-page.png"),
    };
    let shot_arg = format!("--screenshot={}", shot.display());
    headless(&[&shot_arg, "--window-size=1100,1400"], &url).await;
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{browser:?}"
    );
    assert_eq!(daemon.stop().await, Some(0));
}
