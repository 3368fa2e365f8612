//! Productive client against its simulator, fixtures and wiremock failure paths.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::response::IntoResponse;
use chrono::NaiveDate;
use personio_productive_sync::config::{ProductiveSettings, Settings};
use personio_productive_sync::domain::{
    AvailabilityPeriod, BookingDraft, BookingShape, EventDraft, EventKind, Fetched, Person,
    RejectedRecord,
};
use personio_productive_sync::http::{status_error, ApiError, RetryPolicy};
use personio_productive_sync::productive::{wire, BookingFilter, ProductiveClient};
use personio_productive_sync::sim::productive::{ProductiveSim, SimBooking, SimEvent, SimPerson};
use personio_productive_sync::sim::{dropped_connection, SimServer};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "pat-7f3e9c1d-very-secret";
const ORG: &str = "43059";

fn settings(base_url: &str, token: &str, timeout: &str) -> ProductiveSettings {
    let env = [
        ("PPS__PRODUCTIVE__BASE_URL", base_url),
        ("PPS__PRODUCTIVE__API_TOKEN", token),
        ("PPS__PRODUCTIVE__ORGANIZATION_ID", ORG),
        ("PPS__PRODUCTIVE__TIMEOUT", timeout),
        ("PPS__PRODUCTIVE__REQUESTS_PER_10S", "10000"),
        ("PPS__PRODUCTIVE__REQUESTS_PER_30MIN", "100000"),
    ];
    Settings::load_from(
        None,
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )
    .expect("test settings load")
    .productive
}

fn retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_rate_limit_wait: Duration::from_secs(5),
    }
}

fn client_for(base_url: &str) -> ProductiveClient {
    ProductiveClient::new(&settings(base_url, TOKEN, "5s"), retry()).expect("client")
}

struct Setup {
    sim: ProductiveSim,
    server: SimServer,
    client: ProductiveClient,
}

async fn setup() -> Setup {
    let sim = ProductiveSim::new(TOKEN, ORG);
    let server = sim.start().await.expect("simulator starts");
    let client = client_for(&format!("{}/api/v2", server.url()));
    Setup {
        sim,
        server,
        client,
    }
}

impl Setup {
    /// An active person and a vacation event: (person, event), what most booking tests need.
    fn person_and_vacation(&self) -> (i64, i64) {
        let person = self
            .sim
            .add_person(SimPerson::new("A", "B", Some("a@example.com")));
        (person, self.sim.add_event(SimEvent::new("Vacation")))
    }

    /// Seeds an absence booking over [from, to] (`YYYY-MM-DD`).
    fn book(&self, person: i64, event: i64, from: &str, to: &str, minutes: i64) -> i64 {
        self.sim.add_booking(SimBooking::absence(
            person,
            event,
            date(from),
            date(to),
            minutes,
        ))
    }

    /// Creating `draft` must fail with a 422, which is never worth retrying.
    async fn refused_create(&self, draft: BookingDraft) -> ApiError {
        let err = self.client.create_booking(&draft).await.unwrap_err();
        assert_eq!(err.status(), Some(422), "{err}");
        assert!(!err.is_transient());
        err
    }

    /// A raw request to the simulator with the right credentials, for what the client never
    /// sends.
    fn raw(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, format!("{}/api/v2{path}", self.server.url()))
            .header("X-Auth-Token", TOKEN)
            .header("X-Organization-Id", ORG)
    }
}

/// The machine-readable code of a status error, read from the error itself.
fn code(err: &ApiError) -> Option<&str> {
    match err {
        ApiError::Status { code, .. } => code.as_deref(),
        _ => None,
    }
}

/// A client pointed at a wiremock server.
fn mock_client(mock: &MockServer) -> ProductiveClient {
    client_for(&format!("{}/api/v2", mock.uri()))
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn week(hours: &[f64]) -> Vec<AvailabilityPeriod> {
    vec![AvailabilityPeriod {
        start: date("2020-01-06"),
        end: None,
        hours: hours.to_vec(),
    }]
}

fn draft(person_id: i64, event_id: i64, from: &str, to: &str, minutes: i64) -> BookingDraft {
    BookingDraft {
        shape: BookingShape {
            person_id,
            event: event_id,
            start: date(from),
            end: date(to),
            minutes,
        },
        note: "personio:absence_period:42".to_string(),
    }
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/productive/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture exists")
}

// ---------------------------------------------------------------------------------------------
// People

#[tokio::test]
async fn people_read_availabilities_as_string_or_array_with_7_or_14_days() {
    let s = setup().await;
    let two_weeks = [
        8.0, 8.0, 8.0, 8.0, 0.0, 0.0, 0.0, 8.0, 8.0, 8.0, 8.0, 0.0, 0.0, 0.0,
    ];
    let ada = s.sim.add_person(SimPerson {
        availabilities: week(&two_weeks),
        ..SimPerson::new("Ada", "Lovelace", Some("ada@example.com"))
    });
    let grace = s.sim.add_person(SimPerson {
        availabilities: week(&[7.5, 7.5, 7.5, 7.5, 4.0, 0.0, 0.0]),
        availabilities_as_string: false,
        active: false,
        ..SimPerson::new("Grace", "Hopper", Some("grace@example.com"))
    });
    let placeholder = s.sim.add_person(SimPerson::new("Open", "Role", None));

    let mut fetched = s.client.people().await.unwrap();
    fetched.items.sort_by_key(|p| p.id);
    assert!(fetched.rejected.is_empty());
    assert_eq!(
        fetched.items,
        vec![
            Person {
                id: ada,
                email: Some("ada@example.com".into()),
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                active: true,
                availabilities: week(&two_weeks),
            },
            Person {
                id: grace,
                email: Some("grace@example.com".into()),
                first_name: "Grace".into(),
                last_name: "Hopper".into(),
                active: false,
                availabilities: week(&[7.5, 7.5, 7.5, 7.5, 4.0, 0.0, 0.0]),
            },
            Person {
                id: placeholder,
                email: None,
                first_name: "Open".into(),
                last_name: "Role".into(),
                active: true,
                availabilities: SimPerson::new("", "", None).availabilities,
            },
        ]
    );
}

#[tokio::test]
async fn reads_2000_people_and_all_events_back_exactly() {
    let s = setup().await;
    let mut expected = BTreeSet::new();
    for i in 0..2000 {
        let email = format!("person{i}@example.com");
        let id = s.sim.add_person(SimPerson {
            active: i % 7 != 0,
            ..SimPerson::new(&format!("First{i}"), &format!("Last{i}"), Some(&email))
        });
        expected.insert((id, email, i % 7 != 0));
    }
    let vacation = s.sim.add_event(SimEvent::new("Vacation"));
    let remote = s.sim.add_event(SimEvent {
        paid: false,
        kind: EventKind::RemoteWork,
        ..SimEvent::new("Remote")
    });
    let old = s.sim.add_event(SimEvent {
        archived: true,
        limitation_type_id: 2,
        ..SimEvent::new("Old vacation")
    });

    let people = s.client.people().await.unwrap();
    let got: BTreeSet<_> = people
        .items
        .iter()
        .map(|p| (p.id, p.email.clone().unwrap(), p.active))
        .collect();
    assert_eq!(people.items.len(), 2000);
    assert_eq!(got, expected);
    assert_eq!(s.sim.control().requests.get("GET /api/v2/people"), 10);

    let mut events = s.client.events().await.unwrap().items;
    events.sort_by_key(|e| e.id);
    let summary: Vec<_> = events
        .iter()
        .map(|e| (e.id, e.name.as_str(), e.kind, e.paid, e.limited, e.archived))
        .collect();
    assert_eq!(
        summary,
        vec![
            (vacation, "Vacation", EventKind::TimeOff, true, false, false),
            (remote, "Remote", EventKind::RemoteWork, false, false, false),
        ]
    );
    assert!(
        s.sim
            .events()
            .iter()
            .any(|(id, e)| *id == old && e.archived),
        "archived events are not listed"
    );
}

#[tokio::test]
async fn unparseable_availabilities_reject_the_person_not_the_call() {
    let mock = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/people"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("people.json"), "application/vnd.api+json"),
        )
        .mount(&mock)
        .await;
    let client = mock_client(&mock);
    let fetched = client.people().await.unwrap();
    let ids: Vec<i64> = fetched.items.iter().map(|p| p.id).collect();
    assert_eq!(ids, vec![1234567, 1234568, 1234569]);
    assert_eq!(fetched.items[0].availabilities[0].hours.len(), 14);
    assert!(!fetched.items[1].active, "deactivated_at set");
    assert_eq!(fetched.items[1].availabilities[0].hours.len(), 7);
    assert_eq!(fetched.items[2].email, None);
    assert_eq!(fetched.items[2].availabilities[1].hours[0], 6.5);
    assert_eq!(fetched.rejected.len(), 1);
    assert_eq!(fetched.rejected[0].id.as_deref(), Some("1234570"));
    assert!(
        fetched.rejected[0]
            .reason
            .contains("5 working-hour entries"),
        "{}",
        fetched.rejected[0].reason
    );
}

// ---------------------------------------------------------------------------------------------
// Bookings: reads

#[tokio::test]
async fn bookings_over_200_are_read_by_following_links() {
    let s = setup().await;
    let (person, event) = s.person_and_vacation();
    let mut expected = BTreeSet::new();
    for i in 0..450 {
        let day = date("2024-01-01") + chrono::Days::new(i);
        expected.insert(
            s.sim
                .add_booking(SimBooking::absence(person, event, day, day, 480)),
        );
    }
    // Budget bookings have no event and are not the sync's business.
    s.sim.add_booking(SimBooking::service(
        person,
        9,
        date("2024-01-01"),
        date("2024-01-05"),
        480,
    ));
    let fetched = s.client.bookings(&BookingFilter::default()).await.unwrap();
    let got: BTreeSet<i64> = fetched.items.iter().map(|b| b.id).collect();
    assert_eq!(got, expected);
    assert!(fetched
        .items
        .iter()
        .all(|b| b.person_id == person && b.event_id == Some(event)));
    assert_eq!(s.sim.control().requests.get("GET /api/v2/bookings"), 3);
}

#[tokio::test]
async fn booking_date_filters_match_on_overlap() {
    let s = setup().await;
    let (p, e) = s.person_and_vacation();
    let january = s.book(p, e, "2024-01-01", "2024-01-31", 480);
    let february = s.book(p, e, "2024-02-10", "2024-02-12", 480);
    s.book(p, e, "2024-03-01", "2024-03-01", 480);
    let ids = |f: BookingFilter| {
        let client = s.client.clone();
        async move {
            let mut ids: Vec<i64> = client
                .bookings(&f)
                .await
                .unwrap()
                .items
                .iter()
                .map(|b| b.id)
                .collect();
            ids.sort();
            ids
        }
    };
    let one_day = BookingFilter {
        after: Some(date("2024-02-11")),
        before: Some(date("2024-02-11")),
        ..BookingFilter::default()
    };
    assert_eq!(ids(one_day).await, vec![february]);
    let window = BookingFilter {
        after: Some(date("2024-01-15")),
        before: Some(date("2024-02-10")),
        ..BookingFilter::default()
    };
    assert_eq!(ids(window).await, vec![january, february]);
}

#[tokio::test]
async fn long_id_filters_are_chunked_and_combined() {
    let s = setup().await;
    let people: Vec<i64> = (0..3)
        .map(|i| {
            s.sim.add_person(SimPerson::new(
                "P",
                &i.to_string(),
                Some(&format!("{i}@x.test")),
            ))
        })
        .collect();
    let vacation = s.sim.add_event(SimEvent::new("Vacation"));
    let sick = s.sim.add_event(SimEvent::new("Sick"));
    let d = date("2024-05-06");
    let wanted = s
        .sim
        .add_booking(SimBooking::absence(people[0], vacation, d, d, 480));
    let also = s
        .sim
        .add_booking(SimBooking::absence(people[2], vacation, d, d, 480));
    s.sim
        .add_booking(SimBooking::absence(people[1], vacation, d, d, 480));
    s.sim
        .add_booking(SimBooking::absence(people[0], sick, d, d, 480));
    // 250 person ids (most unknown) → 3 chunks of at most 100.
    let mut person_ids: Vec<i64> = (1..=248).collect();
    person_ids.extend([people[0], people[2]]);
    let filter = BookingFilter {
        person_ids,
        event_ids: vec![vacation],
        ..BookingFilter::default()
    };
    let mut got: Vec<i64> = s
        .client
        .bookings(&filter)
        .await
        .unwrap()
        .items
        .iter()
        .map(|b| b.id)
        .collect();
    got.sort();
    assert_eq!(got, vec![wanted, also]);
    assert_eq!(s.sim.control().requests.get("GET /api/v2/bookings"), 3);
}

#[tokio::test]
async fn single_booking_and_missing_booking() {
    let s = setup().await;
    let (p, e) = s.person_and_vacation();
    let id = s.book(p, e, "2024-05-06", "2024-05-07", 240);
    let booking = s.client.booking(id).await.unwrap().expect("exists");
    assert_eq!(booking.person_id, p);
    assert_eq!(booking.event_id, Some(e));
    assert_eq!(booking.minutes_per_day, Some(240));
    assert!(booking.approved);
    assert_eq!(s.client.booking(id + 1000).await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Bookings: writes

#[tokio::test]
async fn create_booking_is_flat_and_the_server_computes_total_time() {
    let s = setup().await;
    let (p, e) = s.person_and_vacation();
    // Monday to Sunday: five working days of four hours.
    let created = s
        .client
        .create_booking(&draft(p, e, "2024-05-06", "2024-05-12", 240))
        .await
        .unwrap();
    assert_eq!(created.person_id, p);
    assert_eq!(created.event_id, Some(e));
    assert_eq!(created.minutes_per_day, Some(240));
    assert!(created.approved);
    assert_eq!(created.note.as_deref(), Some("personio:absence_period:42"));
    let stored = s.sim.bookings();
    assert_eq!(stored.len(), 1);
    let (id, b) = &stored[0];
    assert_eq!(*id, created.id);
    assert_eq!(
        (
            b.booking_method_id,
            b.time,
            b.hours,
            b.total_working_days,
            b.total_time
        ),
        (1, Some(240), Some(4), 5, 1200)
    );
    assert!(s.sim.approval_statuses().is_empty());
}

#[tokio::test]
async fn create_body_uses_flat_attributes_and_never_total_time() {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/bookings"))
        .respond_with(ResponseTemplate::new(201).set_body_raw(
            r#"{"data":{"id":"5","type":"bookings","attributes":{"started_on":"2024-05-06","ended_on":"2024-05-06","booking_method_id":1,"time":225,"approved":true},"relationships":{"person":{"meta":{"included":false}},"event":{"data":{"type":"events","id":"2"}}}}}"#,
            "application/vnd.api+json",
        ))
        .mount(&mock)
        .await;
    let client = mock_client(&mock);
    let created = client
        .create_booking(&draft(1, 2, "2024-05-06", "2024-05-06", 225))
        .await
        .unwrap();
    // The person came back as a stub: the draft's person is used.
    assert_eq!((created.id, created.person_id), (5, 1));
    let requests = mock.received_requests().await.unwrap();
    let request = &requests[0];
    assert_eq!(
        request.headers.get("content-type").unwrap(),
        "application/vnd.api+json"
    );
    assert_eq!(request.headers.get("x-auth-token").unwrap(), TOKEN);
    assert_eq!(request.headers.get("x-organization-id").unwrap(), ORG);
    assert!(request
        .url
        .query()
        .unwrap()
        .contains("include=person%2Cevent"));
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        json!({"data":{"type":"bookings","attributes":{
            "person_id":1,"event_id":2,"started_on":"2024-05-06","ended_on":"2024-05-06",
            "booking_method_id":1,"time":225,"note":"personio:absence_period:42"}}})
    );
}

#[tokio::test]
async fn relationships_form_is_rejected_unless_the_knob_allows_it() {
    let s = setup().await;
    let (p, e) = s.person_and_vacation();
    let body = json!({"data":{"type":"bookings",
        "attributes":{"started_on":"2024-05-06","ended_on":"2024-05-06","booking_method_id":1,"time":480},
        "relationships":{"person":{"data":{"type":"people","id":p.to_string()}},
                         "event":{"data":{"type":"events","id":e.to_string()}}}}});
    let post = || {
        s.raw(reqwest::Method::POST, "/bookings")
            .header("Content-Type", "application/vnd.api+json")
            .body(body.to_string())
            .send()
    };
    let rejected = post().await.unwrap();
    assert_eq!(rejected.status(), 422);
    let errors: Value = rejected.json().await.unwrap();
    assert_eq!(
        errors["errors"][0]["source"]["pointer"],
        "data/attributes/person"
    );
    s.sim.set_accept_relationships(true);
    assert_eq!(post().await.unwrap().status(), 201);
}

#[tokio::test]
async fn update_and_delete_booking() {
    let s = setup().await;
    let (p, e) = s.person_and_vacation();
    let created = s
        .client
        .create_booking(&draft(p, e, "2024-05-06", "2024-05-06", 480))
        .await
        .unwrap();
    let updated = s
        .client
        .update_booking(created.id, &draft(p, e, "2024-05-06", "2024-05-08", 240))
        .await
        .unwrap();
    assert_eq!(updated.ended_on, date("2024-05-08"));
    assert_eq!(updated.minutes_per_day, Some(240));
    let (_, stored) = &s.sim.bookings()[0];
    assert_eq!((stored.total_working_days, stored.total_time), (3, 720));

    s.client.delete_booking(created.id).await.unwrap();
    assert!(s.sim.bookings().is_empty());
    // Already gone is fine.
    s.client.delete_booking(created.id).await.unwrap();
    assert_eq!(
        s.sim.control().requests.get("DELETE /api/v2/bookings/{id}"),
        2
    );
}

#[tokio::test]
async fn booking_for_a_person_with_approval_policy_is_pending_until_approved() {
    let s = setup().await;
    let p = s.sim.add_person(SimPerson {
        has_approval_policy: true,
        ..SimPerson::new("A", "B", Some("a@example.com"))
    });
    let e = s.sim.add_event(SimEvent::new("Vacation"));
    let created = s
        .client
        .create_booking(&draft(p, e, "2024-05-06", "2024-05-06", 480))
        .await
        .unwrap();
    assert!(!created.approved);
    let steps = s.client.approval_statuses(created.id).await.unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].booking_id, Some(created.id));
    assert!(!steps[0].approved && !steps[0].rejected);

    s.client
        .approve(steps[0].id, "synced from Personio")
        .await
        .unwrap();
    assert!(
        s.client
            .booking(created.id)
            .await
            .unwrap()
            .unwrap()
            .approved
    );
    let steps = s.client.approval_statuses(created.id).await.unwrap();
    assert!(steps[0].approved);
    assert_eq!(
        s.sim.approval_statuses()[0].1.note.as_deref(),
        Some("synced from Personio")
    );
}

#[tokio::test]
async fn limited_event_fails_with_entitlements_required() {
    let s = setup().await;
    let p = s
        .sim
        .add_person(SimPerson::new("A", "B", Some("a@example.com")));
    let e = s.sim.add_event(SimEvent {
        limitation_type_id: 2,
        ..SimEvent::new("Vacation")
    });
    let err = s
        .refused_create(draft(p, e, "2024-05-06", "2024-05-06", 480))
        .await;
    assert_eq!(code(&err), Some("entitlements_required"));
    assert!(err.to_string().contains("data/attributes/event"), "{err}");
    assert!(s.sim.bookings().is_empty());
}

#[tokio::test]
async fn deactivated_person_fails_with_422_on_person() {
    let s = setup().await;
    let p = s.sim.add_person(SimPerson {
        active: false,
        ..SimPerson::new("A", "B", Some("a@example.com"))
    });
    let e = s.sim.add_event(SimEvent::new("Vacation"));
    let err = s
        .refused_create(draft(p, e, "2024-05-06", "2024-05-06", 480))
        .await;
    assert_eq!(
        err.to_string(),
        "productive: HTTP 422: Invalid Attribute: is deactivated (data/attributes/person)"
    );
}

#[tokio::test]
async fn end_before_start_fails_with_422() {
    let s = setup().await;
    let (p, e) = s.person_and_vacation();
    let err = s
        .refused_create(draft(p, e, "2024-05-08", "2024-05-06", 480))
        .await;
    assert!(
        err.to_string().contains("data/attributes/ended_on"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Events

#[tokio::test]
async fn events_are_created_unlimited_renamed_and_archived() {
    let s = setup().await;
    let created = s
        .client
        .create_event(&EventDraft {
            name: "Remote (Personio)".into(),
            kind: EventKind::RemoteWork,
            paid: false,
        })
        .await
        .unwrap();
    assert_eq!(
        (
            created.kind,
            created.paid,
            created.limited,
            created.archived
        ),
        (EventKind::RemoteWork, false, false, false)
    );
    let renamed = s
        .client
        .rename_event(created.id, "Remote work")
        .await
        .unwrap();
    assert_eq!(renamed.name, "Remote work");
    let archived = s.client.archive_event(created.id).await.unwrap();
    assert!(archived.archived);
    let stored = s.sim.events();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].1,
        SimEvent {
            name: "Remote work".into(),
            paid: false,
            kind: EventKind::RemoteWork,
            limitation_type_id: 4,
            half_day_bookings: true,
            archived: true,
        }
    );
    assert!(
        s.client.events().await.unwrap().items.is_empty(),
        "archived events are not listed"
    );
}

#[tokio::test]
async fn paid_remote_work_event_is_refused() {
    let s = setup().await;
    let err = s
        .client
        .create_event(&EventDraft {
            name: "Remote".into(),
            kind: EventKind::RemoteWork,
            paid: true,
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422));
    assert!(err
        .to_string()
        .contains("must be unpaid for remote work absence"));
}

#[tokio::test]
async fn deleting_an_active_event_conflicts() {
    let s = setup().await;
    let e = s.sim.add_event(SimEvent::new("Vacation"));
    let delete = || {
        s.raw(reqwest::Method::DELETE, &format!("/events/{e}"))
            .send()
    };
    let conflict = delete().await.unwrap();
    assert_eq!(conflict.status(), 409);
    let body: Value = conflict.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "record_not_archived");
    s.client.archive_event(e).await.unwrap();
    assert_eq!(delete().await.unwrap().status(), 204);
    assert!(s.sim.events().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Protocol rules of the simulator

#[tokio::test]
async fn write_without_json_api_content_type_is_415() {
    let s = setup().await;
    let response = s
        .raw(reqwest::Method::POST, "/events")
        .header("Content-Type", "application/json")
        .body(r#"{"data":{"type":"events","attributes":{"name":"X"}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert!(s.sim.events().is_empty());
}

#[tokio::test]
async fn revoked_token_gives_401_invalid_auth_token() {
    let s = setup().await;
    s.client.people().await.unwrap();
    s.sim.revoke_token();
    let err = s.client.people().await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(code(&err), Some("invalid_auth_token"));
    assert!(!err.is_transient());
    assert!(!err.to_string().contains(TOKEN));
}

#[tokio::test]
async fn wrong_organization_gives_403() {
    let s = setup().await;
    // Not `raw`: that sends the right organization.
    let response = reqwest::Client::new()
        .get(format!("{}/api/v2/people", s.server.url()))
        .header("X-Auth-Token", TOKEN)
        .header("X-Organization-Id", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn unknown_filter_is_400_and_booking_type_is_ignored() {
    let s = setup().await;
    let (p, e) = s.person_and_vacation();
    let d = date("2024-05-06");
    s.sim.add_booking(SimBooking::absence(p, e, d, d, 480));
    s.sim.add_booking(SimBooking::service(p, 9, d, d, 480));
    let get = |query: &'static str| {
        s.raw(reqwest::Method::GET, &format!("/bookings?{query}"))
            .send()
    };
    let bogus = get("filter[bogus_xyz]=1").await.unwrap();
    assert_eq!(bogus.status(), 400);
    let body: Value = bogus.json().await.unwrap();
    assert_eq!(body["errors"][0]["title"], "Unsupported Filter");
    assert_eq!(body["errors"][0]["code"], "unsupported_filter");
    let typed: Value = get("filter[booking_type]=event")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(typed["meta"]["total_count"], 2, "booking_type is inert");
    let include = get("include=userz").await.unwrap();
    assert_eq!(include.status(), 400);
    let page: Value = get("page[size]=500").await.unwrap().json().await.unwrap();
    assert_eq!(page["meta"]["page_size"], 200);
    // Without include the person is a stub; organization is always linked.
    let plain: Value = get("").await.unwrap().json().await.unwrap();
    let rel = &plain["data"][0]["relationships"];
    assert_eq!(rel["person"], json!({"meta":{"included":false}}));
    assert_eq!(rel["organization"]["data"]["id"], ORG);
    assert_eq!(
        plain["data"][0]["id"],
        Value::String(format!("{}", s.sim.bookings()[0].0))
    );
}

#[tokio::test]
async fn simulator_enforces_the_request_count_limit() {
    let s = setup().await;
    s.sim.set_rate_limit_scale(0.03);
    let get = || s.raw(reqwest::Method::GET, "/people").send();
    for _ in 0..3 {
        assert_eq!(get().await.unwrap().status(), 200);
    }
    let limited = get().await.unwrap();
    assert_eq!(limited.status(), 429);
    let reset: u64 = limited.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&reset));
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["errors"][0]["status"], 429);
    assert_eq!(body["errors"][0]["limit"], 3);
    s.sim.set_rate_limit_scale(f64::INFINITY);
    assert_eq!(get().await.unwrap().status(), 200);
}

// ---------------------------------------------------------------------------------------------
// Fixtures shaped like live responses

/// A page's records and rejects, as the client's paging collects them.
fn decode<A: serde::de::DeserializeOwned, T>(
    data: Value,
    convert: impl FnMut(wire::Resource<A>) -> Result<T, String>,
) -> (Vec<T>, Vec<RejectedRecord>) {
    let mut fetched = Fetched::default();
    wire::decode_each(data, convert, &mut fetched).unwrap();
    (fetched.items, fetched.rejected)
}

#[test]
fn fixtures_parse_with_the_wire_types() {
    let doc: wire::Document = serde_json::from_str(&fixture("budget_booking.json")).unwrap();
    let (ok, rejected) = decode(doc.data.clone(), |r| wire::booking(r, None));
    assert!(ok.is_empty(), "no include=person: no person id");
    assert!(rejected[0].reason.contains("include=person"));
    assert_eq!(rejected[0].id.as_deref(), Some("17674294"));
    let (ok, _) = decode(doc.data, |r| wire::booking(r, Some(7)));
    let budget = &ok[0];
    assert_eq!((budget.id, budget.event_id), (17674294, None));
    assert_eq!(budget.minutes_per_day, None, "method 2 is a percentage");

    let doc: wire::Document = serde_json::from_str(&fixture("half_day_booking.json")).unwrap();
    let resource: wire::Resource<wire::BookingAttributes> =
        serde_json::from_value(doc.data).unwrap();
    let half = wire::booking(resource, Some(1234567)).unwrap();
    assert_eq!(half.event_id, Some(181924));
    assert_eq!(half.minutes_per_day, Some(240));
    assert_eq!(
        (half.started_on, half.ended_on),
        (date("2026-01-07"), date("2026-01-07"))
    );
    assert!(half.approved && !half.rejected && !half.canceled);

    let doc: wire::Document = serde_json::from_str(&fixture("people.json")).unwrap();
    let (people, rejected) = decode(doc.data, wire::person);
    assert_eq!(people.len(), 3);
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        people[0].availabilities,
        vec![AvailabilityPeriod {
            start: date("2020-01-01"),
            end: None,
            hours: vec![8.0, 8.0, 8.0, 8.0, 0.0, 0.0, 0.0, 8.0, 8.0, 8.0, 8.0, 0.0, 0.0, 0.0],
        }]
    );
    assert_eq!(people[2].availabilities[0].end, Some(date("2023-12-31")));

    let err = status_error(
        "productive",
        wire::describe_error,
        reqwest::StatusCode::UNPROCESSABLE_ENTITY,
        fixture("entitlement_error.json").as_bytes(),
    );
    assert_eq!(code(&err), Some("entitlements_required"));
}

// ---------------------------------------------------------------------------------------------
// Failure paths (wiremock)

fn people_page(next: Option<&str>) -> Value {
    json!({
        "data": [{"id": "1", "type": "people", "attributes": {"first_name": "A", "last_name": "B",
                  "email": "a@example.com", "deactivated_at": null, "availabilities": "[]"}}],
        "meta": {"current_page": 1, "total_pages": 1, "total_count": 1},
        "links": {"next": next},
    })
}

/// People answered with `first` once, then with a good page.
async fn mock_failing_once(first: ResponseTemplate) -> (MockServer, ProductiveClient) {
    let mock = MockServer::start().await;
    Mock::given(path("/api/v2/people"))
        .respond_with(first)
        .up_to_n_times(1)
        .mount(&mock)
        .await;
    Mock::given(path("/api/v2/people"))
        .respond_with(ResponseTemplate::new(200).set_body_json(people_page(None)))
        .mount(&mock)
        .await;
    let client = mock_client(&mock);
    (mock, client)
}

async fn mock_with(response: ResponseTemplate) -> (MockServer, ProductiveClient) {
    let mock = MockServer::start().await;
    Mock::given(path("/api/v2/people"))
        .respond_with(response)
        .mount(&mock)
        .await;
    let client = mock_client(&mock);
    (mock, client)
}

#[tokio::test]
async fn link_to_a_foreign_host_is_refused() {
    let (_mock, client) = mock_with(ResponseTemplate::new(200).set_body_json(people_page(Some(
        "https://evil.example/api/v2/people?page[number]=2",
    ))))
    .await;
    let err = client.people().await.unwrap_err();
    assert!(matches!(err, ApiError::ForeignLink { .. }), "{err:?}");
}

#[tokio::test]
async fn pagination_that_loops_is_stopped() {
    let mock = MockServer::start().await;
    let same = format!("{}/api/v2/people?page[number]=1&page[size]=200", mock.uri());
    Mock::given(path("/api/v2/people"))
        .respond_with(ResponseTemplate::new(200).set_body_json(people_page(Some(&same))))
        .mount(&mock)
        .await;
    let client = mock_client(&mock);
    let err = client.people().await.unwrap_err();
    assert!(err.to_string().contains("loops"), "{err}");
    assert!(mock.received_requests().await.unwrap().len() <= 3);
}

#[tokio::test]
async fn timeout_is_a_clear_transient_error() {
    let mock = MockServer::start().await;
    Mock::given(path("/api/v2/people"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&mock)
        .await;
    let client = ProductiveClient::new(
        &settings(&format!("{}/api/v2", mock.uri()), TOKEN, "150ms"),
        RetryPolicy {
            max_attempts: 2,
            ..retry()
        },
    )
    .unwrap();
    let err = client.people().await.unwrap_err();
    assert!(matches!(err, ApiError::Transport { .. }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(mock.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn rate_limited_read_waits_for_the_reset_then_succeeds() {
    let (_mock, client) = mock_failing_once(
        ResponseTemplate::new(429)
            .insert_header("X-RateLimit-Reset", "1")
            .set_body_json(json!({"errors":[{"status":429,"title":"Too many requests",
                "detail":"Rate limit reached. Try again later","limit":100}]})),
    )
    .await;
    let started = std::time::Instant::now();
    let people = client.people().await.unwrap();
    assert_eq!(people.items.len(), 1);
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn server_error_on_a_read_is_retried() {
    let (mock, client) = mock_failing_once(ResponseTemplate::new(500).set_body_json(
        json!({"errors":[{"status":500,"title":"Server Error","detail":"An error occured on the server"}]}),
    ))
    .await;
    assert_eq!(client.people().await.unwrap().items[0].id, 1);
    assert_eq!(mock.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn server_error_on_a_write_is_not_retried() {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/bookings"))
        .respond_with(ResponseTemplate::new(500).set_body_json(
            json!({"errors":[{"status":"500","title":"Server Error","detail":"An error occured on the server"}]}),
        ))
        .mount(&mock)
        .await;
    let client = mock_client(&mock);
    let err = client
        .create_booking(&draft(1, 2, "2024-05-06", "2024-05-06", 480))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(
        err.to_string(),
        "productive: HTTP 500: Server Error: An error occured on the server"
    );
    assert_eq!(mock.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn dropped_connection_on_a_read_is_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let router = axum::Router::new().route(
        "/api/v2/people",
        axum::routing::get(move || {
            let seen = seen.clone();
            async move {
                if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                    dropped_connection()
                } else {
                    axum::Json(people_page(None)).into_response()
                }
            }
        }),
    );
    let server = SimServer::start(router).await.unwrap();
    let client = client_for(&format!("{}/api/v2", server.url()));
    assert_eq!(client.people().await.unwrap().items.len(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn malformed_json_is_a_decode_error() {
    let (_mock, client) = mock_with(
        ResponseTemplate::new(200)
            .set_body_raw("{\"data\": [ {\"id\": ", "application/vnd.api+json"),
    )
    .await;
    let err = client.people().await.unwrap_err();
    assert!(
        matches!(err, ApiError::Decode { status: 200, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("unreadable response"), "{err}");
}

#[tokio::test]
async fn html_error_page_is_a_clear_status_error() {
    let (mock, client) = mock_with(ResponseTemplate::new(502).set_body_raw(
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
        "text/html",
    ))
    .await;
    let err = client.people().await.unwrap_err();
    assert_eq!(err.status(), Some(502));
    assert!(
        err.to_string().contains("Bad Gateway (non-JSON body"),
        "{err}"
    );
    // A read: retried up to the policy's attempts.
    assert_eq!(mock.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn no_error_or_debug_output_contains_the_token() {
    let s = setup().await;
    let mut outputs = vec![format!("{:?}", s.client)];
    s.sim.revoke_token();
    let err = s.client.people().await.unwrap_err();
    outputs.push(format!("{err} {err:?}"));
    let (_mock, failing) =
        mock_with(ResponseTemplate::new(200).set_body_raw("nope", "text/plain")).await;
    let err = failing.people().await.unwrap_err();
    outputs.push(format!("{err} {err:?}"));
    let unreachable = client_for("http://127.0.0.1:9/api/v2");
    let err = unreachable.people().await.unwrap_err();
    outputs.push(format!("{err} {err:?}"));
    for output in outputs {
        assert!(!output.contains(TOKEN), "token leaked in {output}");
    }
}

#[tokio::test]
async fn total_time_follows_a_two_week_rotation() {
    let s = setup().await;
    // Period starts Monday 2020-01-06; 2024-01-01 is an even number of weeks later.
    let p = s.sim.add_person(SimPerson {
        availabilities: week(&[
            8.0, 8.0, 8.0, 8.0, 0.0, 0.0, 0.0, 8.0, 8.0, 8.0, 8.0, 8.0, 0.0, 0.0,
        ]),
        ..SimPerson::new("A", "B", Some("a@example.com"))
    });
    let e = s.sim.add_event(SimEvent::new("Vacation"));
    s.client
        .create_booking(&draft(p, e, "2024-01-01", "2024-01-14", 480))
        .await
        .unwrap();
    let (_, stored) = &s.sim.bookings()[0];
    assert_eq!((stored.total_working_days, stored.total_time), (9, 4320));
}
