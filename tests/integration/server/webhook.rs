//! `POST /webhooks/personio` on the listener, served in-process so the test holds the other end
//! of the scheduler's control channel: its own token (with or without `Bearer `, never
//! `http.token`), its bounds, the envelope, both payload spellings, a full queue, and the
//! receiver being off without a webhook token.

use std::sync::Arc;

use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use personio_productive_sync::daemon::Control;
use personio_productive_sync::server::{Metrics, Server, Shared};

use crate::support::{sqlite_db, TestDb};

pub(super) const HOOK_TOKEN: &str = "hook-token-3f9a1c";
const LISTENER_TOKEN: &str = "listener-token-not-for-webhooks";

/// The listener with `personio.webhook_token` (when given) and an `http.token` beside it.
pub(super) struct Receiver {
    pub(super) server: Server,
    pub(super) controls: mpsc::Receiver<Control>,
    pub(super) metrics: Arc<Metrics>,
    _db: TestDb,
}

impl Receiver {
    pub(super) async fn start(webhook_token: Option<&str>, queue: usize) -> Self {
        let db = sqlite_db().await;
        let metrics = Arc::new(Metrics::new());
        let (tx, controls) = mpsc::channel(queue);
        let shared = Shared {
            store: db.store.clone(),
            metrics: metrics.clone(),
            controls: tx,
            token: Some(SecretString::from(LISTENER_TOKEN)),
            webhook_token: webhook_token.map(SecretString::from),
        };
        let server = Server::start("127.0.0.1:0".parse().unwrap(), shared)
            .await
            .unwrap();
        Self {
            server,
            controls,
            metrics,
            _db: db,
        }
    }

    pub(super) fn url(&self) -> String {
        format!("http://{}/webhooks/personio", self.server.local_addr())
    }

    async fn post(&self, authorization: Option<&str>, body: impl Into<reqwest::Body>) -> u16 {
        let mut request = reqwest::Client::new()
            .post(self.url())
            .header("content-type", "application/json")
            .body(body);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.send().await.unwrap().status().as_u16()
    }

    /// The ids of every `PeriodsChanged` the scheduler has been sent so far.
    pub(super) fn changed(&mut self) -> Vec<String> {
        let mut ids = Vec::new();
        while let Ok(control) = self.controls.try_recv() {
            match control {
                Control::PeriodsChanged(changed) => ids.extend(changed),
                other => panic!("unexpected control {other:?}"),
            }
        }
        ids
    }

    fn counted(&self, outcome: &str) -> u64 {
        let text = self.metrics.render();
        let line = format!("pps_webhook_deliveries_total{{outcome=\"{outcome}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&line))
            .map_or(0, |n| n.trim().parse().unwrap())
    }
}

fn delivery(event: &str, payload: Value) -> String {
    json!({
        "company_id": "123456",
        "event_name": event,
        "occurred_at": "2026-06-01T10:00:00Z",
        "payload": payload,
        "meta": {},
    })
    .to_string()
}

fn created(id: &str) -> String {
    delivery(
        "absence-period.created",
        json!({ "absence_period": { "id": id } }),
    )
}

#[tokio::test]
async fn only_the_webhook_token_is_taken_with_or_without_bearer() {
    let mut hook = Receiver::start(Some(HOOK_TOKEN), 8).await;
    let bearer = format!("Bearer {HOOK_TOKEN}");
    let listener = format!("Bearer {LISTENER_TOKEN}");
    for refused in [
        None,
        Some("wrong"),
        Some("Bearer wrong"),
        Some(&listener[..]),
        Some(&HOOK_TOKEN[..HOOK_TOKEN.len() - 1]),
        Some(&format!("{HOOK_TOKEN}x")[..]),
    ] {
        assert_eq!(hook.post(refused, created("p-0")).await, 401, "{refused:?}");
    }
    assert!(hook.changed().is_empty());
    assert_eq!(hook.post(Some(HOOK_TOKEN), created("p-1")).await, 202);
    assert_eq!(hook.post(Some(&bearer), created("p-2")).await, 202);
    assert_eq!(hook.changed(), ["p-1", "p-2"]);
    assert_eq!(hook.counted("unauthorized"), 6);
    assert_eq!(hook.counted("accepted"), 2);
    // The listener's own token still guards the rest.
    let status = reqwest::Client::new()
        .post(format!("http://{}/sync", hook.server.local_addr()))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
    hook.server.stop().await;
}

#[tokio::test]
async fn bodies_are_bounded_and_must_be_the_envelope() {
    let mut hook = Receiver::start(Some(HOOK_TOKEN), 8).await;
    let token = Some(HOOK_TOKEN);
    // Padding in `meta` makes an otherwise valid delivery of 64 KiB + 1.
    let mut big = json!({
        "company_id": "1", "event_name": "absence-period.created",
        "occurred_at": "2026-06-01T10:00:00Z",
        "payload": { "absence_period": { "id": "p-big" } }, "meta": { "pad": "" },
    });
    let size = big.to_string().len();
    big["meta"]["pad"] = json!("x".repeat(64 * 1024 + 1 - size));
    assert_eq!(big.to_string().len(), 64 * 1024 + 1);
    assert_eq!(hook.post(token, big.to_string()).await, 413);
    // Exactly the limit is taken.
    big["meta"]["pad"] = json!("x".repeat(64 * 1024 - size));
    assert_eq!(hook.post(token, big.to_string()).await, 202);
    assert_eq!(hook.changed(), ["p-big"]);

    assert_eq!(hook.post(token, "{not json").await, 400);
    assert_eq!(hook.post(token, "[]").await, 400);
    let no_event = json!({"company_id": "1", "occurred_at": "2026-06-01T10:00:00Z", "payload": {}});
    assert_eq!(hook.post(token, no_event.to_string()).await, 400);
    for payload in [
        json!({}),
        json!({ "absence_period": {} }),
        json!({ "absence_period": { "id": "" } }),
        json!({ "person": { "id": "p-3" } }),
    ] {
        let body = delivery("absence-period.deleted", payload.clone());
        assert_eq!(hook.post(token, body).await, 400, "{payload}");
    }
    // Events about anything but absences are acknowledged and dropped.
    for event in ["person.updated", "attendance-period.created", "ping"] {
        let body = delivery(event, json!({ "person": { "id": "7" } }));
        let status = hook.post(token, body).await;
        assert!((200..300).contains(&status), "{event}: {status}");
    }
    assert!(hook.changed().is_empty());
    assert_eq!(hook.counted("too_large"), 1);
    assert_eq!(hook.counted("bad_request"), 7);
    assert_eq!(hook.counted("ignored"), 3);
    hook.server.stop().await;
}

#[tokio::test]
async fn every_absence_event_in_both_spellings_reaches_the_scheduler() {
    let mut hook = Receiver::start(Some(HOOK_TOKEN), 16).await;
    let events = [
        "absence-period.created",
        "absence-period.updated.timerange",
        "absence-period.updated.status",
        "absence-period.deleted",
    ];
    let mut expected = Vec::new();
    for (i, event) in events.iter().enumerate() {
        for key in ["absence_period", "absence-period"] {
            let id = format!("{key}-{i}");
            let body = delivery(event, json!({ key: { "id": id } }));
            assert_eq!(
                hook.post(Some(HOOK_TOKEN), body).await,
                202,
                "{event} {key}"
            );
            expected.push(id);
        }
    }
    assert_eq!(hook.changed(), expected);
    hook.server.stop().await;
}

#[tokio::test]
async fn a_full_queue_still_acknowledges_at_once() {
    // Nobody reads the queue: the second delivery finds it full.
    let mut hook = Receiver::start(Some(HOOK_TOKEN), 1).await;
    assert_eq!(hook.post(Some(HOOK_TOKEN), created("p-1")).await, 202);
    assert_eq!(hook.post(Some(HOOK_TOKEN), created("p-2")).await, 202);
    assert_eq!(hook.counted("accepted"), 1);
    assert_eq!(hook.counted("queue_full"), 1);
    assert_eq!(hook.changed(), ["p-1"]);
    hook.server.stop().await;
}

#[tokio::test]
async fn the_receiver_is_off_without_a_webhook_token() {
    let mut hook = Receiver::start(None, 8).await;
    assert_eq!(hook.post(Some(HOOK_TOKEN), created("p-1")).await, 404);
    assert_eq!(hook.post(None, created("p-1")).await, 404);
    assert!(hook.changed().is_empty());
    assert_eq!(hook.counted("off"), 2);
    hook.server.stop().await;
}
