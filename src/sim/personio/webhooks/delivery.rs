//! The outbox: deliveries go out on one background task, in the order they were queued, each
//! retried the way Personio retries (reference §5.4), and end in a log tests assert on.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, watch};

use super::{Change, Subscription, WebhookQuirks};

/// After the first attempt, up to 6 more with growing delays...
const EXTENDED_ATTEMPTS: u32 = 6;
/// ...each of up to 2 requests in a row: at most 14 requests per delivery.
const FAST_REQUESTS: u32 = 2;
/// The tenant every delivery names.
const COMPANY_ID: &str = "1000";

/// One event delivered to one subscription, once it is delivered or given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub webhook_id: String,
    pub event: String,
    pub period_id: String,
    /// HTTP requests made.
    pub attempts: u32,
    /// The status of the last answer; `None` when none came (timeout, refused connection).
    pub last_status: Option<u16>,
}

/// One event on its way to one subscription.
#[derive(Debug)]
struct Job {
    webhook_id: String,
    url: String,
    headers: Vec<(String, String)>,
    event: &'static str,
    period_id: String,
    body: Value,
    retry_delay: Duration,
    timeout: Duration,
}

#[derive(Debug)]
pub(in crate::sim::personio) struct Outbox {
    hooks: Mutex<Hooks>,
    sink: Arc<Sink>,
}

#[derive(Debug, Default)]
struct Hooks {
    subscriptions: BTreeMap<String, Subscription>,
    quirks: WebhookQuirks,
    /// What the `reorder` quirk holds back.
    held: Vec<Job>,
    /// The worker's queue; `None` until the first delivery.
    queue: Option<mpsc::UnboundedSender<Vec<Job>>>,
}

/// What the worker shares with the simulator.
#[derive(Debug)]
struct Sink {
    client: reqwest::Client,
    log: Mutex<Vec<Delivery>>,
    /// Jobs held, queued or in flight.
    pending: watch::Sender<usize>,
}

impl Default for Outbox {
    fn default() -> Self {
        // Personio does not follow redirects.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            hooks: Mutex::default(),
            sink: Arc::new(Sink {
                client,
                log: Mutex::default(),
                pending: watch::Sender::new(0),
            }),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Outbox {
    pub(super) fn with_subscriptions<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, Subscription>) -> T,
    ) -> T {
        f(&mut lock(&self.hooks).subscriptions)
    }

    pub(super) fn set_quirks(&self, quirks: WebhookQuirks) {
        let mut hooks = lock(&self.hooks);
        let reordering = quirks.reorder.is_some_and(|n| n > 1);
        hooks.quirks = quirks;
        if !reordering && !hooks.held.is_empty() {
            let held = std::mem::take(&mut hooks.held);
            self.enqueue(&mut hooks, held);
        }
    }

    pub(super) fn log(&self) -> Vec<Delivery> {
        lock(&self.sink.log).clone()
    }

    pub(super) async fn idle(&self) {
        let mut pending = self.sink.pending.subscribe();
        // The sender lives in `self`: the wait cannot fail.
        let _ = pending.wait_for(|n| *n == 0).await;
    }

    pub(super) fn emit(&self, period_id: String, change: Change) {
        let mut hooks = lock(&self.hooks);
        if hooks.subscriptions.is_empty() {
            return;
        }
        let quirks = hooks.quirks.clone();
        let occurred_at = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut jobs = Vec::new();
        for event in change.events(quirks.spurious_timerange) {
            let body = body(event, &period_id, &occurred_at, quirks.hyphen_key);
            let subscribed = hooks
                .subscriptions
                .iter()
                .filter(|(_, s)| s.enabled && s.enabled_events.iter().any(|e| e == event));
            for (id, sub) in subscribed {
                for _ in 0..if quirks.duplicate { 2 } else { 1 } {
                    jobs.push(Job {
                        webhook_id: id.clone(),
                        url: sub.url.clone(),
                        headers: sub.auth_headers(),
                        event,
                        period_id: period_id.clone(),
                        body: body.clone(),
                        retry_delay: quirks.retry_delay,
                        timeout: quirks.timeout,
                    });
                }
            }
        }
        if jobs.is_empty() {
            return;
        }
        self.sink.pending.send_modify(|n| *n += jobs.len());
        match quirks.reorder.filter(|n| *n > 1) {
            Some(batch) => {
                hooks.held.extend(jobs);
                if hooks.held.len() >= batch {
                    let mut held = std::mem::take(&mut hooks.held);
                    held.reverse();
                    self.enqueue(&mut hooks, held);
                }
            }
            None => self.enqueue(&mut hooks, jobs),
        }
    }

    fn enqueue(&self, hooks: &mut Hooks, jobs: Vec<Job>) {
        let jobs = match &hooks.queue {
            Some(queue) => match queue.send(jobs) {
                Ok(()) => return,
                Err(mpsc::error::SendError(jobs)) => jobs,
            },
            None => jobs,
        };
        // No worker yet, or the runtime it ran on has ended: start one on this runtime.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                dropped = jobs.len(),
                "simulated webhook deliveries dropped: no async runtime to send them on"
            );
            self.sink
                .pending
                .send_modify(|n| *n = n.saturating_sub(jobs.len()));
            return;
        };
        let (queue, work) = mpsc::unbounded_channel();
        // The receiver is alive: it was just made.
        let _ = queue.send(jobs);
        runtime.spawn(worker(Arc::clone(&self.sink), work));
        hooks.queue = Some(queue);
    }
}

/// The delivered JSON: the envelope of reference §5.3, dataless.
fn body(event: &str, period_id: &str, occurred_at: &str, hyphen_key: bool) -> Value {
    let key = if hyphen_key {
        "absence-period"
    } else {
        "absence_period"
    };
    let mut payload = Map::new();
    payload.insert(key.to_string(), json!({ "id": period_id }));
    json!({
        "company_id": COMPANY_ID,
        "event_name": event,
        "occurred_at": occurred_at,
        "payload": payload,
        "meta": {},
    })
}

async fn worker(sink: Arc<Sink>, mut work: mpsc::UnboundedReceiver<Vec<Job>>) {
    while let Some(jobs) = work.recv().await {
        for job in jobs {
            let delivery = deliver(&sink.client, job).await;
            // Logged before it stops counting as pending, so an idle outbox has a full log.
            lock(&sink.log).push(delivery);
            sink.pending.send_modify(|n| *n = n.saturating_sub(1));
        }
    }
}

async fn deliver(client: &reqwest::Client, job: Job) -> Delivery {
    let mut attempts = 0;
    let mut last_status = None;
    'attempts: for attempt in 0..=EXTENDED_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(job.retry_delay * 2u32.pow(attempt - 1)).await;
        }
        for _ in 0..FAST_REQUESTS {
            attempts += 1;
            let mut request = client.post(&job.url).timeout(job.timeout).json(&job.body);
            for (name, value) in &job.headers {
                request = request.header(name, value);
            }
            last_status = request.send().await.ok().map(|r| r.status());
            // 2xx is delivered; 4xx, 501 and redirects are final; 5xx and no answer are retried.
            if last_status.is_some_and(|s| !s.is_server_error() || s == StatusCode::NOT_IMPLEMENTED)
            {
                break 'attempts;
            }
        }
    }
    Delivery {
        webhook_id: job.webhook_id,
        event: job.event.to_string(),
        period_id: job.period_id,
        attempts,
        last_status: last_status.map(|s| s.as_u16()),
    }
}
