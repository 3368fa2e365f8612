//! The webhook subscription: created once, corrected when it drifts, left alone when it matches.

use std::sync::{Arc, Mutex};

use personio_productive_sync::personio::v2::{SubscriptionOutcome, ABSENCE_EVENTS};
use secrecy::SecretString;
use serde_json::{json, Value};
use url::Url;

use super::*;

const HOOK: &str = "https://sync.example.com/webhooks/personio";

/// A webhook store: the list answers with what is stored (wrapped or bare), POST and PATCH
/// change it.
async fn webhook_server(bare_list: bool) -> (Scripted, Arc<Mutex<Vec<Value>>>) {
    let hooks = Arc::new(Mutex::new(vec![json!({
        "id": "other", "url": "https://other.example.com/hook", "status": "ENABLED",
        "enabled_events": ["person.created"]})]));
    let store = hooks.clone();
    let server = Scripted::start(move |seen| {
        let mut hooks = store.lock().unwrap();
        match (seen.method.as_str(), seen.path.as_str()) {
            ("GET", "/v2/webhooks") => Some(if bare_list {
                json_reply(200, Value::Array(hooks.clone()))
            } else {
                page(hooks.clone(), None)
            }),
            ("POST", "/v2/webhooks") => {
                let mut created: Value = serde_json::from_str(&seen.body).unwrap();
                created["id"] = json!("w1");
                hooks.push(created);
                Some(json_reply(201, json!({"_data": {"id": "w1"}})))
            }
            ("PATCH", path) => {
                let id = path.trim_start_matches("/v2/webhooks/");
                let patch: Value = serde_json::from_str(&seen.body).unwrap();
                let hook = hooks.iter_mut().find(|h| h["id"] == id)?;
                for (k, v) in patch.as_object().unwrap() {
                    hook[k] = v.clone();
                }
                Some(json_reply(200, hook.clone()))
            }
            _ => None,
        }
    })
    .await;
    (server, hooks)
}

fn writes(server: &Scripted) -> Vec<Seen> {
    server
        .requests()
        .into_iter()
        .filter(|s| (s.method == "POST" && s.path != "/v2/auth/token") || s.method == "PATCH")
        .collect()
}

#[tokio::test]
async fn the_subscription_is_created_once_and_then_left_alone() {
    for bare_list in [false, true] {
        let (server, hooks) = webhook_server(bare_list).await;
        let client = server.client();
        let url = Url::parse(HOOK).unwrap();
        let token = SecretString::from("Bearer hook-token-1".to_string());
        assert_eq!(client.subscription(&url).await.unwrap(), None);
        assert_eq!(
            client.ensure_subscription(&url, &token).await.unwrap(),
            SubscriptionOutcome::Created { id: "w1".into() }
        );
        let posted: Value = serde_json::from_str(&writes(&server)[0].body).unwrap();
        assert_eq!(
            posted,
            json!({"url": HOOK, "description": "personio-productive-sync", "status": "ENABLED",
                "auth_type": "TOKEN", "token": "Bearer hook-token-1",
                "enabled_events": ["absence-period.created", "absence-period.updated.timerange",
                    "absence-period.updated.status", "absence-period.deleted"]})
        );
        assert_eq!(
            client.ensure_subscription(&url, &token).await.unwrap(),
            SubscriptionOutcome::Unchanged { id: "w1".into() }
        );
        assert_eq!(writes(&server).len(), 1, "bare list: {bare_list}");
        let sub = client.subscription(&url).await.unwrap().unwrap();
        assert_eq!((sub.id.as_str(), sub.status.as_str()), ("w1", "ENABLED"));
        assert_eq!(sub.events, ABSENCE_EVENTS);
        assert_eq!(hooks.lock().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn a_drifted_subscription_is_patched() {
    let (server, hooks) = webhook_server(false).await;
    hooks.lock().unwrap().push(json!({
        "id": "w9", "url": HOOK, "status": "DISABLED", "auth_type": "TOKEN",
        "enabled_events": ["absence-period.created"]}));
    let client = server.client();
    let url = Url::parse(HOOK).unwrap();
    let token = SecretString::from("t2".to_string());
    assert_eq!(
        client.ensure_subscription(&url, &token).await.unwrap(),
        SubscriptionOutcome::Updated { id: "w9".into() }
    );
    let sent = writes(&server);
    assert_eq!(
        (sent[0].method.as_str(), sent[0].path.as_str()),
        ("PATCH", "/v2/webhooks/w9")
    );
    let sub = client.subscription(&url).await.unwrap().unwrap();
    assert_eq!(sub.status, "ENABLED");
    assert_eq!(sub.events, ABSENCE_EVENTS);
    // A token the listing shows and that differs is corrected too.
    hooks.lock().unwrap()[1]["token"] = json!("old-token");
    assert_eq!(
        client.ensure_subscription(&url, &token).await.unwrap(),
        SubscriptionOutcome::Updated { id: "w9".into() }
    );
    assert_eq!(hooks.lock().unwrap()[1]["token"], "t2");
    assert_eq!(
        client.ensure_subscription(&url, &token).await.unwrap(),
        SubscriptionOutcome::Unchanged { id: "w9".into() }
    );
    assert_eq!(writes(&server).len(), 2);
}
