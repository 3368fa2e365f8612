//! The daemon's HTTP listener end to end: the real binary (`run`) against the simulators, asked
//! over loopback. Probes, the token, `/metrics` read by a Prometheus text parser, `/status.json`
//! against `status --json`, `POST /sync` starting exactly one run, `/readyz` turning 503 when a
//! run fails and when the database goes away, `healthcheck`; and `/status` rendered by a real
//! headless Chromium, whose screenshot is docs/status-page.png. Personio's webhooks: the receiver
//! in-process, and the simulator's subscriptions and deliveries.

mod browser;
mod endpoints;
mod webhook;
mod webhook_sim;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use personio_productive_sync::sim::generate;

use crate::support::{eventually, sim_env, Harness};

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

    async fn metrics(&self) -> Scrape {
        let answer = self.get("/metrics").await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let lines = answer.body.lines().map(|l| Ok(l.to_string()));
        Scrape(prometheus_parse::Scrape::parse(lines).expect("/metrics parses"))
    }
}

/// A parsed scrape.
struct Scrape(prometheus_parse::Scrape);

impl Scrape {
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
