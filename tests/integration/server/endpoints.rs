//! The endpoints against a daemon that ran against the simulators, and against a store a
//! previous daemon left a held mass deletion in.

use personio_productive_sync::sim::FaultSettings;

use super::*;
use crate::support::{postgres_db, sqlite_db};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_serves_probes_metrics_status_and_runs_on_request() {
    let h = Harness::generated(40, 4, postgres_db().await).await;
    let env = env(&h, &[("PPS__HTTP__TOKEN", TOKEN)]);
    let daemon = Daemon::start(&env).await;
    let api = Client::new(&daemon.base);
    assert!(
        !daemon.log_text().contains("no http.token"),
        "a loopback listener with a token needs no warning"
    );

    // The probes need no token; everything else does, and says so in one line.
    for path in ["/livez", "/readyz"] {
        let answer = api.send("GET", path, None, "").await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        one_line(&answer);
    }
    for (method, path) in [
        ("GET", "/metrics"),
        ("GET", "/status"),
        ("GET", "/status.json"),
        ("POST", "/sync"),
    ] {
        for token in [None, Some("wrong-token")] {
            let answer = api.send(method, path, token, "").await;
            assert_eq!(answer.status, 401, "{method} {path} with {token:?}");
            one_line(&answer);
        }
    }
    // Bad requests: a 4xx with its reason, never a crash.
    for (method, path, body, status) in [
        ("GET", "/nothing-here", "", 404),
        ("DELETE", "/sync", "", 405),
        ("GET", "/sync", "", 405),
        ("POST", "/sync", &"x".repeat(64 * 1024) as &str, 413),
    ] {
        let answer = api.send(method, path, Some(TOKEN), body).await;
        assert_eq!(answer.status, status, "{method} {path}: {}", answer.body);
        assert!(!answer.body.trim().is_empty(), "{method} {path}: no reason");
    }

    // The startup run, as /status.json shows it and as `status --json` prints it.
    let status = api.finished_runs(1).await;
    let run = &status["runs"][0];
    assert_eq!(run["trigger"], "startup");
    assert_eq!(run["outcome"], "partial", "{status:#}");
    let cli = Command::new(BIN)
        .args(["status", "--json"])
        .env_clear()
        .envs(env.iter().cloned())
        .output()
        .await
        .unwrap();
    let cli: Value = serde_json::from_slice(&cli.stdout).expect("status --json");
    assert_eq!(cli, status, "/status.json differs from status --json");

    // The metrics say what the simulators and the status say, counted independently.
    let m = api.metrics().await;
    let synced = h
        .org
        .productive
        .bookings()
        .into_iter()
        .filter(|(_, b)| {
            b.note
                .as_deref()
                .is_some_and(|n| n.starts_with("Synced from Personio"))
        })
        .count();
    assert!(synced > 0);
    assert_eq!(m.value("pps_sync_bookings_owned", &[]), synced as f64);
    assert_eq!(
        m.value("pps_sync_last_run_records", &[("result", "created")]),
        run["counts"]["created"].as_f64().unwrap()
    );
    assert_eq!(
        m.value("pps_sync_last_run_records", &[("result", "failed")]),
        run["counts"]["failed"].as_f64().unwrap()
    );
    let no_person = status["issues"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["reason"] == "no Productive person with this email")
        .count();
    assert!(no_person > 0, "the generated org has unmatched people");
    assert_eq!(
        m.value(
            "pps_sync_last_run_skipped_records",
            &[("reason", "no_person")]
        ),
        no_person as f64
    );
    assert_eq!(
        m.value("pps_sync_runs_total", &[("outcome", "partial")]),
        1.0
    );
    assert_eq!(m.sum("pps_sync_runs_total", &[]), 1.0);
    assert_eq!(m.value("pps_sync_mass_delete_held", &[]), 0.0);
    assert_eq!(m.value("pps_sync_running", &[]), 0.0);
    assert_eq!(
        m.value("pps_build_info", &[("version", env!("CARGO_PKG_VERSION"))]),
        1.0
    );
    assert_eq!(m.value("pps_sync_run_duration_seconds_count", &[]), 1.0);
    let finished = chrono::DateTime::parse_from_rfc3339(run["finished_at"].as_str().unwrap())
        .unwrap()
        .timestamp() as f64;
    let last = m.value("pps_sync_last_run_timestamp_seconds", &[]);
    assert!((last - finished).abs() < 5.0, "{last} vs {finished}");
    assert_eq!(
        m.value("pps_sync_last_success_timestamp_seconds", &[]),
        last
    );
    // Every booking the sync made is one created request (and no other API wrote).
    let created = m.value(
        "pps_api_requests_total",
        &[("api", "productive"), ("method", "POST"), ("status", "201")],
    );
    assert!(
        created >= synced as f64,
        "{created} creates for {synced} bookings"
    );
    let personio_reads = m.sum(
        "pps_api_requests_total",
        &[("api", "personio"), ("method", "GET")],
    );
    assert!(personio_reads > 0.0);
    assert!(m
        .values("pps_api_requests_total", &[("api", "personio")])
        .iter()
        .all(|v| *v > 0.0));

    // The container's health check asks /livez.
    let addr = daemon.base.trim_start_matches("http://").to_string();
    let probe = healthcheck(&env, &addr).await;
    assert!(probe.status.success(), "{probe:?}");

    // POST /sync starts exactly one run; the counters move.
    let answer = api.send("POST", "/sync", Some(TOKEN), "").await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    one_line(&answer);
    let status = api.finished_runs(2).await;
    assert_eq!(status["runs"][0]["trigger"], "signal");
    assert_eq!(status["runs"][0]["counts"]["created"], 0);
    let m2 = api.metrics().await;
    assert_eq!(m2.sum("pps_sync_runs_total", &[]), 2.0);
    assert!(
        m2.sum("pps_api_requests_total", &[("api", "personio")])
            > m.sum("pps_api_requests_total", &[("api", "personio")])
    );
    assert_eq!(
        m2.value("pps_sync_last_run_records", &[("result", "created")]),
        0.0
    );

    // A run that fails turns /readyz 503; the daemon stays alive.
    h.org.personio.control().set_faults(FaultSettings {
        error_rate: 1.0,
        ..Default::default()
    });
    assert_eq!(api.send("POST", "/sync", Some(TOKEN), "").await.status, 202);
    let status = api.finished_runs(3).await;
    assert_eq!(status["runs"][0]["outcome"], "failed", "{status:#}");
    let ready = api.send("GET", "/readyz", None, "").await;
    assert_eq!(ready.status, 503);
    one_line(&ready);
    assert!(
        ready.body.starts_with("the last run failed"),
        "{}",
        ready.body
    );
    assert_eq!(api.send("GET", "/livez", None, "").await.status, 200);
    let m3 = api.metrics().await;
    assert_eq!(
        m3.value("pps_sync_runs_total", &[("outcome", "failed")]),
        1.0
    );
    assert_eq!(
        m3.value("pps_sync_last_success_timestamp_seconds", &[]),
        m2.value("pps_sync_last_success_timestamp_seconds", &[])
    );
    assert!(
        m3.sum(
            "pps_api_requests_total",
            &[("api", "personio"), ("status", "500")]
        ) > 0.0
    );
    // Exactly the three runs asked for: no follow-up was queued behind any of them.
    let triggers: Vec<&str> = status["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["trigger"].as_str().unwrap())
        .collect();
    assert_eq!(triggers, ["signal", "signal", "startup"]);

    // The database goes away: /readyz says so, /livez does not care.
    let name =
        h.db.url
            .expose_secret()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
    h.db.store.close().await;
    drop_database(&name).await;
    let ready = api.send("GET", "/readyz", None, "").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    one_line(&ready);
    assert!(
        ready.body.contains("state store is unreachable"),
        "{}",
        ready.body
    );
    assert_eq!(api.send("GET", "/livez", None, "").await.status, 200);
    assert_eq!(api.get("/status.json").await.status, 503);

    for body in api.seen.lock().unwrap().iter() {
        for secret in [generate::CLIENT_SECRET, generate::API_TOKEN, TOKEN] {
            assert!(
                !body.contains(secret),
                "a response carried a secret: {body}"
            );
        }
    }
    assert_eq!(daemon.stop().await, Some(0));
    // Stopped with the daemon: the health check now fails.
    let probe = healthcheck(&env, &addr).await;
    assert_eq!(probe.status.code(), Some(1), "{probe:?}");
    assert!(String::from_utf8_lossy(&probe.stdout).starts_with("unhealthy"));
}

// ---- a held mass deletion ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_mass_deletion_is_not_ready_is_on_the_page_and_survives_a_restart_in_the_metrics() {
    use personio_productive_sync::domain::{Counts, MassDeleteHold};
    use personio_productive_sync::server::{Metrics, Server, Shared};

    let db = sqlite_db().await;
    // What a daemon before this one recorded: a run whose deletions the guard held.
    let at = chrono::Utc::now();
    db.store
        .begin_run("r1", "schedule", false, at)
        .await
        .unwrap();
    let counts = Counts {
        unchanged: 60,
        mass_delete_held: Some(MassDeleteHold {
            would_delete: 40,
            owned: 100,
        }),
        ..Counts::default()
    };
    db.store
        .finish_run("r1", false, "partial", Some(&counts), None, at)
        .await
        .unwrap();
    let (controls, _scheduler) = tokio::sync::mpsc::channel(1);
    let shared = Shared {
        store: db.store.clone(),
        metrics: Arc::new(Metrics::new()),
        controls,
        token: None,
        webhook_token: None,
    };
    let server = Server::start("127.0.0.1:0".parse().unwrap(), shared)
        .await
        .unwrap();
    let api = Client::new(&format!("http://{}", server.local_addr()));

    let ready = api.send("GET", "/readyz", None, "").await;
    assert_eq!(ready.status, 503);
    one_line(&ready);
    assert!(
        ready.body.starts_with("mass deletion held") && ready.body.contains("--allow-mass-delete"),
        "{}",
        ready.body
    );
    let m = api.metrics().await;
    assert_eq!(m.value("pps_sync_mass_delete_held", &[]), 1.0);
    assert_eq!(
        m.value("pps_sync_last_run_records", &[("result", "unchanged")]),
        60.0
    );
    assert_eq!(
        m.value("pps_sync_last_success_timestamp_seconds", &[]),
        (at.timestamp_millis() as f64 / 1000.0)
    );
    let page = api.get("/status").await;
    assert_eq!(page.status, 200);
    let hold = Dom(&page.body).element("section", "id=\"hold\"");
    assert!(
        hold.contains("would have deleted 40 of the 100")
            && hold.contains("<code>personio-productive-sync sync --allow-mass-delete</code>"),
        "{hold}"
    );
    server.stop().await;
}
