//! The Personio simulator's webhooks: the management API and its deliveries, received by a
//! recording endpoint of the test's own (so the oracle is not the daemon's receiver), then once
//! end to end into the daemon's receiver.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use chrono::NaiveDate;
use serde_json::{json, Value};

use personio_productive_sync::domain::AbsenceUnit;
use personio_productive_sync::sim::personio::{
    PersonioSim, SimEmployee, SimHourlyAbsence, SimTimeOff, SimTimeOffType, WebhookQuirks,
};
use personio_productive_sync::sim::SimServer;

use super::webhook::{Receiver, HOOK_TOKEN};

const ALL_EVENTS: [&str; 4] = [
    "absence-period.created",
    "absence-period.updated.timerange",
    "absence-period.updated.status",
    "absence-period.deleted",
];

/// A delivery as the recording endpoint saw it: `Authorization` and the body.
type Seen = (Option<String>, Value);

/// An endpoint that records what it receives and answers the scripted statuses (then 200).
struct Recorder {
    server: SimServer,
    seen: Arc<Mutex<Vec<Seen>>>,
    answers: Arc<Mutex<VecDeque<u16>>>,
}

#[derive(Clone)]
struct RecorderState {
    seen: Arc<Mutex<Vec<Seen>>>,
    answers: Arc<Mutex<VecDeque<u16>>>,
}

async fn record(
    State(state): State<RecorderState>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> StatusCode {
    let auth = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string());
    state.seen.lock().unwrap().push((auth, body));
    let answer = state.answers.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(answer).unwrap()
}

impl Recorder {
    async fn start() -> Self {
        let state = RecorderState {
            seen: Arc::default(),
            answers: Arc::default(),
        };
        let router = Router::new()
            .route("/hook", post(record))
            .with_state(state.clone());
        Self {
            server: SimServer::start(router).await.unwrap(),
            seen: state.seen,
            answers: state.answers,
        }
    }

    fn url(&self) -> String {
        format!("{}/hook", self.server.url())
    }

    fn answer(&self, statuses: &[u16]) {
        self.answers.lock().unwrap().extend(statuses);
    }

    fn seen(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    /// (event, period id) of what arrived, taking the id under either payload key.
    fn events(&self) -> Vec<(String, String)> {
        self.seen()
            .iter()
            .map(|(_, body)| (body["event_name"].as_str().unwrap().to_string(), id(body)))
            .collect()
    }
}

fn id(body: &Value) -> String {
    let payload = &body["payload"];
    let period = payload
        .get("absence_period")
        .or_else(|| payload.get("absence-period"))
        .unwrap();
    period["id"].as_str().unwrap().to_string()
}

/// The simulator with one employee and a vacation type, served, and a token for it.
struct Personio {
    sim: PersonioSim,
    server: SimServer,
    http: reqwest::Client,
    token: String,
    employee: i64,
    vacation: i64,
}

impl Personio {
    async fn start() -> Self {
        let sim = PersonioSim::new("hook-client", "hook-secret");
        let employee = sim.add_employee(SimEmployee::new("Ada", "Hook", "ada@example.com"));
        let vacation = sim.add_time_off_type(SimTimeOffType {
            name: "Vacation".into(),
            category: None,
            unit: AbsenceUnit::Day,
        });
        sim.set_webhook_quirks(WebhookQuirks {
            retry_delay: Duration::from_millis(1),
            ..WebhookQuirks::default()
        });
        let server = sim.start().await.unwrap();
        let http = reqwest::Client::new();
        let auth: Value = http
            .post(format!("{}/v1/auth", server.url()))
            .form(&[
                ("client_id", "hook-client"),
                ("client_secret", "hook-secret"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = auth["data"]["token"].as_str().unwrap().to_string();
        Self {
            sim,
            server,
            http,
            token,
            employee,
            vacation,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.server.url()))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Subscribes `url` to every absence event with the TOKEN scheme; the webhook's id.
    async fn subscribe(&self, url: &str, token: &str, status: Option<&str>) -> String {
        let mut body = json!({
            "url": url, "description": "test", "auth_type": "TOKEN", "token": token,
            "enabled_events": ALL_EVENTS,
        });
        if let Some(status) = status {
            body["status"] = json!(status);
        }
        let (code, created) = self
            .call(reqwest::Method::POST, "/v2/webhooks", Some(body))
            .await;
        assert_eq!(code, 201, "{created}");
        created["_data"]["id"].as_str().unwrap().to_string()
    }

    fn vacation(&self, day: u32) -> SimTimeOff {
        let date = NaiveDate::from_ymd_opt(2026, 6, day).unwrap();
        SimTimeOff {
            employee_id: self.employee,
            type_id: self.vacation,
            start: date,
            end: date,
            half_day_start: false,
            half_day_end: false,
            status: "approved".into(),
            comment: None,
        }
    }

    /// The v2 id of a time-off, as the v1 API shows it.
    async fn id_v2(&self, id: i64) -> String {
        let (code, body) = self
            .call(
                reqwest::Method::GET,
                &format!("/v1/company/time-offs/{id}"),
                None,
            )
            .await;
        assert_eq!(code, 200, "{body}");
        body["data"]["attributes"]["id_v2"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

#[tokio::test]
async fn a_subscription_delivers_only_once_enabled_and_with_the_exact_token() {
    let personio = Personio::start().await;
    let hook = Recorder::start().await;
    let webhook = personio.subscribe(&hook.url(), "tok-exact 42", None).await;
    let (_, read) = personio
        .call(
            reqwest::Method::GET,
            &format!("/v2/webhooks/{webhook}"),
            None,
        )
        .await;
    assert_eq!(read["status"], "DISABLED");
    assert_eq!(read["auth_type"], "TOKEN");
    assert!(read.get("token").is_none(), "the token is never echoed");
    personio.sim.add_time_off(personio.vacation(1));
    personio.sim.webhooks_idle().await;
    assert!(hook.seen().is_empty());
    assert!(personio.sim.webhook_deliveries().is_empty());

    let (code, patched) = personio
        .call(
            reqwest::Method::PATCH,
            &format!("/v2/webhooks/{webhook}"),
            Some(json!({ "status": "ENABLED" })),
        )
        .await;
    assert_eq!(
        (code, &patched["_data"]["status"]),
        (200, &json!("ENABLED"))
    );
    let period = personio.sim.add_time_off(personio.vacation(2));
    personio
        .sim
        .update_time_off(period, |p| p.end = p.end.succ_opt().unwrap());
    personio
        .sim
        .update_time_off(period, |p| p.status = "pending".into());
    // A comment is not a time range: Personio fires nothing.
    personio
        .sim
        .update_time_off(period, |p| p.comment = Some("x".into()));
    personio.sim.delete_time_off(period);
    let hourly = personio.sim.add_hourly_absence(SimHourlyAbsence {
        employee_id: personio.employee,
        type_id: personio.vacation,
        start: NaiveDate::from_ymd_opt(2026, 6, 3)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap(),
        end: NaiveDate::from_ymd_opt(2026, 6, 3)
            .unwrap()
            .and_hms_opt(11, 0, 0)
            .unwrap(),
        status: "approved".into(),
        comment: None,
    });
    personio.sim.webhooks_idle().await;
    let seen = hook.seen();
    // That this is the period's v2 id is checked against the v1 API in the next test.
    let v2 = id(&seen[0].1);
    let events: Vec<(&str, String)> = seen
        .iter()
        .map(|(_, b)| (b["event_name"].as_str().unwrap(), id(b)))
        .collect();
    assert_eq!(
        events,
        [
            ("absence-period.created", v2.clone()),
            ("absence-period.updated.timerange", v2.clone()),
            ("absence-period.updated.status", v2.clone()),
            ("absence-period.deleted", v2.clone()),
            ("absence-period.created", hourly),
        ]
    );
    for (auth, body) in &seen {
        assert_eq!(auth.as_deref(), Some("tok-exact 42"));
        assert!(body["payload"].get("absence_period").is_some(), "{body}");
        assert!(body["company_id"].is_string() && body["occurred_at"].is_string());
        assert_eq!(body["meta"], json!({}));
    }
    let log = personio.sim.webhook_deliveries();
    assert_eq!(log.len(), 5);
    assert!(log
        .iter()
        .all(|d| d.attempts == 1 && d.last_status == Some(200) && d.webhook_id == webhook));
}

#[tokio::test]
async fn the_period_id_is_the_v2_id_of_the_v1_api() {
    let personio = Personio::start().await;
    let hook = Recorder::start().await;
    personio.subscribe(&hook.url(), "t", Some("ENABLED")).await;
    let id = personio.sim.add_time_off(personio.vacation(4));
    personio.sim.webhooks_idle().await;
    let expected = personio.id_v2(id).await;
    assert_eq!(
        hook.events(),
        [("absence-period.created".to_string(), expected)]
    );
}

#[tokio::test]
async fn server_errors_and_refused_connections_are_retried_client_errors_and_501_are_not() {
    let personio = Personio::start().await;
    let hook = Recorder::start().await;
    personio.subscribe(&hook.url(), "t", Some("ENABLED")).await;
    let cases: [(&[u16], u32, u16); 5] = [
        (&[500, 503, 502], 4, 200),
        (&[400], 1, 400),
        (&[404], 1, 404),
        (&[501], 1, 501),
        // The first attempt's two requests, then six attempts of two: 14 in all.
        (&[500; 14], 14, 500),
    ];
    for (answers, attempts, last) in cases {
        hook.answer(answers);
        personio.sim.add_time_off(personio.vacation(5));
        personio.sim.webhooks_idle().await;
        let delivery = personio.sim.webhook_deliveries().pop().unwrap();
        assert_eq!(
            (delivery.attempts, delivery.last_status),
            (attempts, Some(last)),
            "{answers:?}"
        );
        assert_eq!(hook.seen().len(), attempts as usize, "{answers:?}");
    }
    // Nobody listening: no answer, retried like a timeout.
    personio
        .subscribe("http://127.0.0.1:9/closed", "t", Some("ENABLED"))
        .await;
    personio.sim.add_time_off(personio.vacation(6));
    personio.sim.webhooks_idle().await;
    let refused = personio
        .sim
        .webhook_deliveries()
        .into_iter()
        .find(|d| d.last_status.is_none())
        .unwrap();
    assert_eq!(refused.attempts, 14);
}

#[tokio::test]
async fn quirks_duplicate_reorder_rename_and_fire_spuriously() {
    let personio = Personio::start().await;
    let hook = Recorder::start().await;
    personio.subscribe(&hook.url(), "t", Some("ENABLED")).await;
    let fast = WebhookQuirks {
        retry_delay: Duration::from_millis(1),
        ..WebhookQuirks::default()
    };
    let created = |ids: &[String]| -> Vec<(String, String)> {
        ids.iter()
            .map(|id| ("absence-period.created".to_string(), id.clone()))
            .collect()
    };

    personio.sim.set_webhook_quirks(WebhookQuirks {
        duplicate: true,
        ..fast.clone()
    });
    let a = personio.sim.add_time_off(personio.vacation(8));
    personio.sim.webhooks_idle().await;
    let a = personio.id_v2(a).await;
    assert_eq!(hook.events(), created(&[a.clone(), a]));

    personio.sim.set_webhook_quirks(WebhookQuirks {
        reorder: Some(3),
        ..fast.clone()
    });
    let mut ids = Vec::new();
    for day in 9..12 {
        ids.push(personio.sim.add_time_off(personio.vacation(day)));
    }
    personio.sim.webhooks_idle().await;
    let mut v2 = Vec::new();
    for id in &ids {
        v2.push(personio.id_v2(*id).await);
    }
    v2.reverse();
    assert_eq!(hook.events(), created(&v2));
    // Held events go out in order once reordering is switched off.
    let held = personio.sim.add_time_off(personio.vacation(12));
    personio.sim.set_webhook_quirks(fast.clone());
    personio.sim.webhooks_idle().await;
    assert_eq!(hook.events(), created(&[personio.id_v2(held).await]));

    personio.sim.set_webhook_quirks(WebhookQuirks {
        hyphen_key: true,
        spurious_timerange: true,
        ..fast
    });
    personio
        .sim
        .update_time_off(held, |p| p.comment = Some("no range change".into()));
    personio.sim.webhooks_idle().await;
    let seen = hook.seen();
    assert_eq!(seen.len(), 1);
    let body = &seen[0].1;
    assert_eq!(body["event_name"], "absence-period.updated.timerange");
    assert!(body["payload"].get("absence_period").is_none(), "{body}");
    assert_eq!(
        body["payload"]["absence-period"]["id"],
        json!(personio.id_v2(held).await)
    );
}

#[tokio::test]
async fn management_needs_a_token_and_checks_bodies() {
    let personio = Personio::start().await;
    let url = format!("{}/v2/webhooks", personio.server.url());
    let anonymous = personio.http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = anonymous.json().await.unwrap();
    assert!(problem["personio_trace_id"].is_string());
    assert!(problem["errors"][0]["title"].is_string());

    let hook = "http://127.0.0.1:1/hook";
    for bad in [
        json!({ "description": "no url", "token": "t", "enabled_events": ALL_EVENTS }),
        json!({ "url": hook, "description": "d", "token": "t", "enabled_events": [] }),
        json!({ "url": hook, "description": "d", "enabled_events": ALL_EVENTS }),
        json!({ "url": hook, "description": "d", "token": "t", "status": "ON", "enabled_events": ALL_EVENTS }),
        json!({ "url": hook, "description": "d", "auth_type": "CUSTOM",
                "custom_headers": { "Content-Type": "x" }, "enabled_events": ALL_EVENTS }),
    ] {
        let (code, body) = personio
            .call(reqwest::Method::POST, "/v2/webhooks", Some(bad.clone()))
            .await;
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(body["errors"][0]["detail"].is_string());
    }
    let first = personio.subscribe(hook, "t", None).await;
    let second = personio.subscribe(hook, "t", Some("ENABLED")).await;
    let (code, list) = personio
        .call(reqwest::Method::GET, "/v2/webhooks", None)
        .await;
    assert_eq!(code, 200);
    let ids: Vec<&str> = list["_data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&first.as_str()) && ids.contains(&second.as_str()));
    assert!(list["_meta"]["links"]["self"]["href"].is_string());
    let path = format!("/v2/webhooks/{first}");
    let (code, _) = personio.call(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(code, 204);
    let (code, missing) = personio.call(reqwest::Method::GET, &path, None).await;
    assert_eq!(code, 404);
    assert!(missing["errors"][0]["title"].is_string());
    let (code, _) = personio
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"status": "ENABLED"})),
        )
        .await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn deliveries_reach_the_daemon_receiver_in_either_spelling() {
    let personio = Personio::start().await;
    let mut receiver = Receiver::start(Some(HOOK_TOKEN), 16).await;
    personio
        .subscribe(&receiver.url(), HOOK_TOKEN, Some("ENABLED"))
        .await;
    let first = personio.sim.add_time_off(personio.vacation(15));
    personio.sim.set_webhook_quirks(WebhookQuirks {
        hyphen_key: true,
        ..WebhookQuirks::default()
    });
    let second = personio.sim.add_time_off(personio.vacation(16));
    personio.sim.webhooks_idle().await;
    assert_eq!(
        receiver.changed(),
        [personio.id_v2(first).await, personio.id_v2(second).await]
    );
    let log = personio.sim.webhook_deliveries();
    assert!(log.iter().all(|d| d.last_status == Some(202)), "{log:?}");
    receiver.server.stop().await;
}
