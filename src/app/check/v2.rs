//! `check`'s Personio API v2 items: the scopes the credential was granted, and the webhook
//! subscription when one is configured.

use super::{Item, Status};
use crate::config::PersonioSettings;
use crate::http::RetryPolicy;
use crate::personio::v2::ABSENCE_EVENTS;
use crate::personio::PersonioV2Client;
use crate::telemetry::error_chain;

const READ_SCOPES: [&str; 2] = ["personio:absences:read", "personio:persons:read"];
const WEBHOOK_SCOPES: [&str; 2] = ["personio:webhooks:read", "personio:webhooks:write"];

pub(super) async fn items(settings: &PersonioSettings) -> Vec<Item> {
    let client = match PersonioV2Client::new(settings, RetryPolicy::default()) {
        Ok(c) => c,
        Err(e) => {
            return vec![Item::new(
                "personio v2 scopes",
                Status::Fail,
                error_chain(&e),
            )]
        }
    };
    let url = settings.webhook_url().ok().flatten();
    let mut needed: Vec<&str> = READ_SCOPES.to_vec();
    if url.is_some() {
        needed.extend(WEBHOOK_SCOPES);
    }
    let mut out = vec![match client.granted_scopes().await {
        Ok(granted) => scopes_item(&granted, &needed),
        Err(e) => Item::new("personio v2 scopes", Status::Fail, error_chain(&e)),
    }];
    if let Some(url) = url {
        out.push(match client.subscription(&url).await {
            Ok(found) => subscription_item(found, settings.webhook_subscribe),
            Err(e) => Item::new(
                "personio webhook subscription",
                Status::Fail,
                error_chain(&e),
            ),
        });
    }
    out
}

fn scopes_item(granted: &[String], needed: &[&str]) -> Item {
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|s| !granted.iter().any(|g| g == s))
        .collect();
    match missing.as_slice() {
        [] => Item::new(
            "personio v2 scopes",
            Status::Ok,
            format!("granted: {}", needed.join(", ")),
        ),
        missing => Item::new(
            "personio v2 scopes",
            Status::Fail,
            format!(
                "the credential lacks {}: enable them in Personio (Settings > Integrations > API credentials), then restart",
                missing.join(", ")
            ),
        ),
    }
}

fn subscription_item(found: Option<crate::personio::v2::Subscription>, managed: bool) -> Item {
    let name = "personio webhook subscription";
    let Some(s) = found else {
        let fix = match managed {
            true => "none yet for personio.webhook_url: the daemon creates it at start",
            false => "none for personio.webhook_url: create it in Personio or set personio.webhook_subscribe = true",
        };
        return Item::new(name, Status::Warn, fix);
    };
    let missing: Vec<&str> = ABSENCE_EVENTS
        .iter()
        .copied()
        .filter(|e| !s.events.iter().any(|x| x == e))
        .collect();
    if !s.status.eq_ignore_ascii_case("ENABLED") {
        return Item::new(
            name,
            Status::Warn,
            format!(
                "{} is {}: Personio delivers nothing until it is ENABLED",
                s.id, s.status
            ),
        );
    }
    if !missing.is_empty() {
        return Item::new(
            name,
            Status::Warn,
            format!("{} lacks the events {}", s.id, missing.join(", ")),
        );
    }
    Item::new(
        name,
        Status::Ok,
        format!("{} enabled with the four absence events", s.id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::personio::v2::Subscription;

    #[test]
    fn missing_scopes_are_named() {
        let granted = vec!["personio:absences:read".to_string()];
        let item = scopes_item(&granted, &READ_SCOPES);
        assert_eq!(item.status, Status::Fail);
        assert!(
            item.detail.contains("personio:persons:read"),
            "{}",
            item.detail
        );
        assert!(!item.detail.contains("absences:read,"), "{}", item.detail);
        let all: Vec<String> = READ_SCOPES.iter().map(|s| s.to_string()).collect();
        assert_eq!(scopes_item(&all, &READ_SCOPES).status, Status::Ok);
    }

    #[test]
    fn a_subscription_must_be_enabled_with_every_absence_event() {
        let sub = |status: &str, events: &[&str]| Subscription {
            id: "w1".into(),
            status: status.into(),
            events: events.iter().map(|e| e.to_string()).collect(),
        };
        let all = [
            "absence-period.created",
            "absence-period.updated.timerange",
            "absence-period.updated.status",
            "absence-period.deleted",
        ];
        assert_eq!(
            subscription_item(Some(sub("ENABLED", &all)), true).status,
            Status::Ok
        );
        assert_eq!(
            subscription_item(Some(sub("DISABLED", &all)), true).status,
            Status::Warn
        );
        let partial = subscription_item(Some(sub("ENABLED", &all[..3])), true);
        assert!(
            partial.detail.contains("absence-period.deleted"),
            "{}",
            partial.detail
        );
        assert_eq!(subscription_item(None, false).status, Status::Warn);
    }
}
