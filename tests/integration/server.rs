//! The daemon's HTTP listener end to end: the real binary (`run`) against the simulators, asked
//! over loopback. Probes, the token, `/metrics` read by a Prometheus text parser, `/status.json`
//! against `status --json`, `POST /sync` starting exactly one run, `/readyz` turning 503 when a
//! run fails and when the database goes away, `healthcheck`; and `/status` rendered by a real
//! headless Chromium, whose screenshot is docs/status-page.png.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use personio_productive_sync::sim::generate;
use personio_productive_sync::sim::FaultSettings;

use crate::support::{eventually, postgres_db, sim_env, sqlite_db, Harness};

const BIN: &str = env!("CARGO_BIN_EXE_personio-productive-sync");
const TOKEN: &str = "listener-token-for-tests";

/// The binary's environment: nothing inherited, the simulators, the database, JSON logs and a
/// listener on a port the kernel picks.
fn env(h: &Harness, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = sim_env(
        &h.personio_server,
        &h.productive_server,
        h.db.url.expose_secret(),
    );
    env.retain(|(k, _)| k != "PPS__HTTP__LISTEN");
    for (k, v) in [
        ("PPS__LOG__FORMAT", "json"),
        ("RUST_LOG", "info"),
        ("PPS__HTTP__LISTEN", "127.0.0.1:0"),
        ("PPS__SYNC__INTERVAL", "1h"),
    ]
    .iter()
    .chain(extra)
    {
        env.push((k.to_string(), v.to_string()));
    }
    env
}

/// The daemon, its log lines as they arrive, and where it listens.
struct Daemon {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    base: String,
}

impl Daemon {
    async fn start(env: &[(String, String)]) -> Self {
        let mut child = Command::new(BIN)
            .arg("run")
            .env_clear()
            .envs(env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawning the binary");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        let mut daemon = Self {
            child,
            log,
            base: String::new(),
        };
        let started = daemon
            .wait_for_log(|v| v["fields"]["message"] == "HTTP listener started")
            .await;
        // A wildcard listener is asked on loopback, like every request of these tests.
        let addr = started["fields"]["addr"].as_str().unwrap();
        daemon.base = format!("http://{}", addr.replace("0.0.0.0", "127.0.0.1"));
        daemon
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    async fn wait_for_log(&self, pred: impl Fn(&Value) -> bool) -> Value {
        let found = eventually(
            Instant::now() + Duration::from_secs(60),
            Duration::from_millis(20),
            async || {
                self.log
                    .lock()
                    .unwrap()
                    .iter()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .find(|v| pred(v))
            },
        )
        .await;
        found.unwrap_or_else(|| panic!("no such log line within 60 s:\n{}", self.log_text()))
    }

    /// Stops it with SIGTERM; its exit code.
    async fn stop(mut self) -> Option<i32> {
        let pid = self.child.id().unwrap().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("the daemon did not stop:\n{}", self.log_text()))
            .unwrap();
        let log = self.log_text();
        for secret in [generate::CLIENT_SECRET, generate::API_TOKEN, TOKEN] {
            assert!(!log.contains(secret), "a secret was logged");
        }
        status.code()
    }
}

/// One answer: status and body.
struct Answer {
    status: u16,
    body: String,
}

struct Client {
    http: reqwest::Client,
    base: String,
    /// Every body received, to check for secrets at the end.
    seen: Mutex<Vec<String>>,
}

impl Client {
    fn new(base: &str) -> Self {
        Self {
            // A fresh connection each time: the server closes one after refusing its body.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            base: base.to_string(),
            seen: Mutex::new(Vec::new()),
        }
    }

    async fn send(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .body(body.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the listener answers");
        let answer = Answer {
            status: response.status().as_u16(),
            body: response.text().await.unwrap(),
        };
        self.seen.lock().unwrap().push(answer.body.clone());
        answer
    }

    async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, Some(TOKEN), "").await
    }

    async fn status_json(&self) -> Value {
        let answer = self.get("/status.json").await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        serde_json::from_str(&answer.body).expect("/status.json is JSON")
    }

    /// Waits until `n` runs are recorded and none is running; the status then.
    async fn finished_runs(&self, n: usize) -> Value {
        let found = eventually(
            Instant::now() + Duration::from_secs(90),
            Duration::from_millis(50),
            async || {
                let status = self.status_json().await;
                let runs = status["runs"].as_array().unwrap();
                (runs.len() == n && runs.iter().all(|r| r["outcome"] != "running"))
                    .then_some(status)
            },
        )
        .await;
        found.unwrap_or_else(|| panic!("{n} finished runs never showed in /status.json"))
    }

    async fn metrics(&self) -> Metrics {
        let answer = self.get("/metrics").await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let lines = answer.body.lines().map(|l| Ok(l.to_string()));
        Metrics(prometheus_parse::Scrape::parse(lines).expect("/metrics parses"))
    }
}

/// A parsed scrape.
struct Metrics(prometheus_parse::Scrape);

impl Metrics {
    /// The values of the samples named `name` whose labels include `labels`.
    fn values(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.0
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                ref other => panic!("{name} is not a single value: {other:?}"),
            })
            .collect()
    }

    /// The one sample named `name` with `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.values(name, labels).as_slice() {
            [v] => *v,
            found => panic!("{name}{labels:?}: expected one sample, found {found:?}"),
        }
    }

    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.values(name, labels).iter().sum()
    }
}

fn one_line(answer: &Answer) {
    assert!(
        answer.body.ends_with('\n') && answer.body.trim_end().lines().count() == 1,
        "not one line: {:?}",
        answer.body
    );
}

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

/// `healthcheck` of a daemon listening on `addr`.
async fn healthcheck(env: &[(String, String)], addr: &str) -> std::process::Output {
    Command::new(BIN)
        .arg("healthcheck")
        .env_clear()
        .envs(
            env.iter()
                .filter(|(k, _)| k != "PPS__HTTP__LISTEN")
                .cloned(),
        )
        .env("PPS__HTTP__LISTEN", addr)
        .output()
        .await
        .unwrap()
}

async fn drop_database(name: &str) {
    use sqlx::Connection;
    let server = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let mut admin = sqlx::AnyConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}

// ---- the status page in a browser ----------------------------------------------------------

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

    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/status-page.png");
    let shot_arg = format!("--screenshot={}", shot.display());
    headless(&[&shot_arg, "--window-size=1100,1400"], &url).await;
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{browser:?}"
    );
    assert_eq!(daemon.stop().await, Some(0));
}

/// Just enough of a DOM reader for the rendered page: the element of `tag` whose opening tag
/// holds `attribute`, with its content, matched up to its own closing tag.
struct Dom<'a>(&'a str);

impl<'a> Dom<'a> {
    fn element(&self, tag: &str, attribute: &str) -> &'a str {
        let open = format!("<{tag}");
        let close = format!("</{tag}>");
        let start = self
            .0
            .match_indices(&open)
            .map(|(i, _)| i)
            .find(|&i| self.0[i..].split('>').next().unwrap().contains(attribute))
            .unwrap_or_else(|| panic!("no <{tag} {attribute}> in the rendered page"));
        let mut depth = 0usize;
        let mut at = start + open.len();
        loop {
            let close_at = self.0[at..].find(&close).map(|i| i + at).expect("closed");
            match self.0[at..].find(&open).map(|i| i + at) {
                Some(nested) if nested < close_at => {
                    depth += 1;
                    at = nested + open.len();
                }
                _ if depth == 0 => return &self.0[start..close_at + close.len()],
                _ => {
                    depth -= 1;
                    at = close_at + close.len();
                }
            }
        }
    }
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
