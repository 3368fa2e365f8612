//! `check`: read-only, one line per item, each with what to do when it fails. It creates no
//! database file, runs no migration and leaves nothing behind in either API.

mod types;
mod v2;

use std::process::ExitCode;

use chrono::{Days, Utc};
use serde::Serialize;

use crate::config::{PersonioApi, Settings};
use crate::domain::bookings::key_from_note;
use crate::domain::{AbsencePeriod, BookingDraft, BookingShape, Event, Fetched};
use crate::http::{ApiError, RetryPolicy};
use crate::personio::TimeOffQuery;
use crate::productive::{BookingFilter, ProductiveClient};
use crate::store::Store;
use crate::telemetry::error_chain;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Fail,
    Warn,
    /// Could not be tried (something it needs failed, or the answer proved nothing).
    Untested,
}

#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub item: &'static str,
    pub status: Status,
    pub detail: String,
}

impl Item {
    fn new(item: &'static str, status: Status, detail: impl Into<String>) -> Self {
        Self {
            item,
            status,
            detail: detail.into(),
        }
    }
}

/// Runs every check and prints them; exits 1 when one failed.
pub async fn check(settings: &Settings, json: bool) -> anyhow::Result<ExitCode> {
    let items = items(settings).await;
    let failed = items.iter().any(|i| i.status == Status::Fail);
    if json {
        let body = serde_json::json!({ "ok": !failed, "items": items });
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        for i in &items {
            let label = match i.status {
                Status::Ok => "ok   ",
                Status::Fail => "FAIL ",
                Status::Warn => "WARN ",
                Status::Untested => "SKIP ",
            };
            println!("{label} {}: {}", i.item, i.detail);
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn items(settings: &Settings) -> Vec<Item> {
    let mut out = vec![configuration(settings)];
    out.push(database(settings).await);
    if out[0].status == Status::Fail {
        return out;
    }
    let (personio, types) = personio(settings).await;
    out.extend(personio);
    if settings.personio.api == PersonioApi::V2 {
        out.extend(v2::items(&settings.personio).await);
    }
    out.extend(productive(settings, &types).await);
    out
}

fn configuration(settings: &Settings) -> Item {
    match settings.require_api_credentials() {
        Ok(()) => Item::new("configuration", Status::Ok, "loaded; credentials set"),
        Err(e) => Item::new("configuration", Status::Fail, e.to_string()),
    }
}

async fn database(settings: &Settings) -> Item {
    let store = match Store::inspect(&settings.database.url).await {
        Ok(store) => store,
        Err(e) => {
            return Item::new(
                "database",
                Status::Fail,
                format!(
                    "cannot open database.url ({}): check the URL and that the server runs; a \
                     SQLite file that does not exist yet is created by `migrate` or the daemon's \
                     first start",
                    error_chain(&e)
                ),
            )
        }
    };
    let pending = store.pending_migrations().await;
    let backend = store.backend();
    store.close().await;
    if pending > 0 {
        return Item::new(
            "database",
            Status::Fail,
            format!("{backend:?} reachable, {pending} migrations not applied: run `migrate` (the daemon applies them at start)"),
        );
    }
    Item::new(
        "database",
        Status::Ok,
        format!("{backend:?} reachable, migrations applied"),
    )
}

/// The Personio items, and the names of the absence types when they could be read.
async fn personio(settings: &Settings) -> (Vec<Item>, Vec<String>) {
    let client = match super::personio_source(&settings.personio, RetryPolicy::default(), None) {
        Ok(c) => c,
        Err(e) => {
            let item = Item::new("personio", Status::Fail, error_chain(&e));
            return (vec![item], Vec::new());
        }
    };
    let types = match client.absence_types().await {
        Ok(t) => t,
        Err(e) => {
            let auth = Item::new("personio authentication", Status::Fail, personio_fix(&e));
            let skip = |item| Item::new(item, Status::Untested, "needs authentication");
            let items = vec![
                auth,
                skip("personio absence types"),
                skip("personio periods"),
                skip("personio employees"),
            ];
            return (items, Vec::new());
        }
    };
    let mut out = vec![
        Item::new("personio authentication", Status::Ok, "authenticated"),
        types::types_item(&types),
    ];
    // Loading the settings checked the rules' shape; whether they name real types needs these.
    if let Ok(rules) = settings.sync.types.rules() {
        out.extend(types::type_rules_item(&rules, &types.items));
    }
    let today = Utc::now().date_naive();
    let query = TimeOffQuery::window(today, today + Days::new(30));
    match client.time_offs(&query).await {
        Ok(periods) => out.extend(periods_items(&periods)),
        Err(e) => {
            out.push(Item::new(
                "personio periods",
                Status::Fail,
                format!(
                    "{}: give the credential read access to absences (time-offs)",
                    error_chain(&e)
                ),
            ));
            out.push(Item::new(
                "personio employees",
                Status::Untested,
                "needs the periods",
            ));
        }
    }
    (out, types.items.into_iter().map(|t| t.name).collect())
}

fn personio_fix(e: &ApiError) -> String {
    match e.status() {
        Some(401 | 403) => format!(
            "{}: Personio rejected the credential; check personio.client_id and \
             personio.client_secret (Settings → API credentials in Personio)",
            error_chain(e)
        ),
        _ => format!(
            "{}: check personio.base_url and the network",
            error_chain(e)
        ),
    }
}

/// The periods of the next 30 days, and their employees: the sync knows people only through the
/// email each period carries.
fn periods_items(periods: &Fetched<AbsencePeriod>) -> [Item; 2] {
    let count = periods.items.len();
    let periods_item = Item::new(
        "personio periods",
        Status::Ok,
        format!("{count} periods in the next 30 days"),
    );
    let emails: std::collections::HashSet<_> = periods.items.iter().map(|p| &p.email).collect();
    let no_email = periods
        .rejected
        .iter()
        .filter(|r| r.reason.contains("email"))
        .count();
    let employees = if no_email > 0 {
        Item::new(
            "personio employees",
            Status::Fail,
            format!(
                "{no_email} periods come without their employee's email: allow the credential to \
                 read the email attribute (Settings → API credentials → readable attributes)"
            ),
        )
    } else {
        Item::new(
            "personio employees",
            Status::Ok,
            format!(
                "{} employees with an email among those periods",
                emails.len()
            ),
        )
    };
    [periods_item, employees]
}

async fn productive(settings: &Settings, type_names: &[String]) -> Vec<Item> {
    let client = match ProductiveClient::new(&settings.productive, RetryPolicy::default()) {
        Ok(c) => c,
        Err(e) => return vec![Item::new("productive", Status::Fail, error_chain(&e))],
    };
    let people = match client.people().await {
        Ok(p) => p,
        Err(e) => {
            let fix = match e.status() {
                Some(401 | 403) => "Productive rejected the token; check productive.api_token and productive.organization_id",
                _ => "check productive.base_url and the network",
            };
            let skip = |item| Item::new(item, Status::Untested, "needs authentication");
            return vec![
                Item::new(
                    "productive authentication",
                    Status::Fail,
                    format!("{}: {fix}", error_chain(&e)),
                ),
                skip("productive people"),
                skip("productive events"),
                skip("booking for others"),
                skip("productive's own personio integration"),
            ];
        }
    };
    let mut out = vec![
        Item::new("productive authentication", Status::Ok, "authenticated"),
        Item::new(
            "productive people",
            Status::Ok,
            format!(
                "{} people, {} active",
                people.items.len(),
                people.items.iter().filter(|p| p.active).count()
            ),
        ),
    ];
    let events = match client.events().await {
        Ok(e) => e.items,
        Err(e) => {
            out.push(Item::new(
                "productive events",
                Status::Fail,
                format!(
                    "{}: the token's user must be allowed to read absence categories",
                    error_chain(&e)
                ),
            ));
            return out;
        }
    };
    out.push(Item::new(
        "productive events",
        Status::Ok,
        format!("{} events", events.len()),
    ));
    let someone = people.items.iter().find(|p| p.active).map(|p| p.id);
    out.push(booking_permission(&client, someone, events.first()).await);
    out.push(own_integration(&client, &events, type_names).await);
    out
}

/// Asks Productive to book a deliberately invalid absence (it ends before it starts): a token
/// allowed to book for others gets the validation error, one without the permission a 403, and
/// nothing is ever created.
async fn booking_permission(
    client: &ProductiveClient,
    person: Option<i64>,
    event: Option<&Event>,
) -> Item {
    const ITEM: &str = "booking for others";
    let (Some(person_id), Some(event)) = (person, event) else {
        return Item::new(
            ITEM,
            Status::Untested,
            "no active person or no event to try with",
        );
    };
    let today = Utc::now().date_naive();
    let probe = BookingDraft {
        shape: BookingShape {
            person_id,
            event: event.id,
            start: today,
            end: today - Days::new(1),
            minutes: 60,
        },
        note: "personio-productive-sync check: invalid on purpose, never saved".into(),
    };
    match client.create_booking(&probe).await {
        Err(e) if e.status() == Some(422) => Item::new(
            ITEM,
            Status::Ok,
            "allowed (a deliberately invalid booking was refused only for its dates; nothing was created)",
        ),
        Err(e) if e.status() == Some(403) => Item::new(
            ITEM,
            Status::Fail,
            format!(
                "{}: the token's user may not manage other people's bookings; use a token of a \
                 user allowed to manage everyone's absences",
                error_chain(&e)
            ),
        ),
        Err(e) => Item::new(ITEM, Status::Untested, error_chain(&e)),
        // Accepted although invalid: take it back at once.
        Ok(created) => match client.delete_booking(created.id).await {
            Ok(()) => Item::new(ITEM, Status::Ok, "allowed (the probe booking was deleted again)"),
            Err(e) => Item::new(
                ITEM,
                Status::Warn,
                format!(
                    "allowed, but the probe booking {} could not be deleted ({}): delete it by hand",
                    created.id,
                    error_chain(&e)
                ),
            ),
        },
    }
}

/// Productive's own Personio integration books the same absences; both at once book every
/// absence twice. Its bookings carry no sync marker on events named like Personio types.
async fn own_integration(
    client: &ProductiveClient,
    events: &[Event],
    type_names: &[String],
) -> Item {
    const ITEM: &str = "productive's own personio integration";
    let like_a_type = |e: &&Event| {
        type_names
            .iter()
            .any(|t| t.trim().eq_ignore_ascii_case(e.name.trim()))
    };
    let event_ids: Vec<i64> = events.iter().filter(like_a_type).map(|e| e.id).collect();
    if event_ids.is_empty() {
        return Item::new(
            ITEM,
            Status::Ok,
            "no event is named like a Personio type yet",
        );
    }
    let filter = BookingFilter {
        event_ids,
        after: Some(Utc::now().date_naive() - Days::new(90)),
        ..BookingFilter::default()
    };
    match client.bookings(&filter).await {
        Ok(b) => {
            let unmarked = b
                .items
                .iter()
                .filter(|b| b.note.as_deref().and_then(key_from_note).is_none())
                .count();
            if unmarked == 0 {
                Item::new(
                    ITEM,
                    Status::Ok,
                    "no booking on events named like Personio types lacks the sync's marker",
                )
            } else {
                Item::new(
                    ITEM,
                    Status::Warn,
                    format!(
                        "{unmarked} bookings since 90 days ago on events named like Personio \
                         types carry no sync marker: if \
                         Productive's own Personio integration is on, turn it off (Settings → App \
                         marketplace → Personio), or both will book every absence twice; \
                         bookings made by hand are fine"
                    ),
                )
            }
        }
        Err(e) => Item::new(ITEM, Status::Untested, error_chain(&e)),
    }
}
