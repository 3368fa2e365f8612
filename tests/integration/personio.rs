//! Personio client against its simulator, fixtures and wiremock failure paths.

use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use personio_productive_sync::config::PersonioSettings;
use personio_productive_sync::domain::model::{
    AbsencePeriod, AbsenceUnit, PeriodStatus, SourceIds,
};
use personio_productive_sync::http::{ApiError, RetryPolicy};
use personio_productive_sync::personio::wire::ListEnvelope;
use personio_productive_sync::personio::{AbsenceSource, PersonioClient, TimeOffQuery};
use personio_productive_sync::sim::personio::{
    PersonioQuirks, PersonioSim, SimEmployee, SimHourlyAbsence, SimTimeOff, SimTimeOffType,
};
use personio_productive_sync::sim::SimServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CLIENT_ID: &str = "sim-client";
const SECRET: &str = "s3cr3t-never-shown-4711";

fn settings(base: &str, timeout: &str) -> PersonioSettings {
    serde_json::from_value(serde_json::json!({
        "base_url": base,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "app_id": "PERSONIO_PRODUCTIVE_SYNC",
        "timeout": timeout,
        "requests_per_minute": 100_000,
    }))
    .unwrap()
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_rate_limit_wait: Duration::from_secs(2),
    }
}

fn client(base: &str) -> PersonioClient {
    PersonioClient::new(&settings(base, "5s"), fast_retry()).unwrap()
}

/// A running simulator with `quirks` and a client pointed at it; keep the server alive.
async fn setup_with(quirks: PersonioQuirks) -> (PersonioSim, SimServer, PersonioClient) {
    let sim = PersonioSim::new(CLIENT_ID, SECRET);
    sim.set_quirks(quirks);
    let server = sim.start().await.unwrap();
    let client = client(&server.url());
    (sim, server, client)
}

async fn setup() -> (PersonioSim, SimServer, PersonioClient) {
    setup_with(PersonioQuirks::default()).await
}

/// Seeds a vacation type, then Anna in Berlin: (Anna's id, the type's id).
fn anna_and_vacation(sim: &PersonioSim) -> (i64, i64) {
    let vac = sim.add_time_off_type(vacation());
    let anna = sim.add_employee(SimEmployee::new("Anna", "Berg", "anna@example.com"));
    (anna, vac)
}

/// A token from the simulator's auth endpoint, asked for the way the client does not.
async fn raw_auth(http: &reqwest::Client, server: &SimServer) -> reqwest::Response {
    http.post(format!("{}/v1/auth", server.url()))
        .json(&serde_json::json!({"client_id": CLIENT_ID, "client_secret": SECRET}))
        .send()
        .await
        .unwrap()
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/personio/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn vacation() -> SimTimeOffType {
    SimTimeOffType {
        name: "Vacation".into(),
        category: Some("paid_vacation".into()),
        unit: AbsenceUnit::Day,
    }
}

fn period(employee_id: i64, type_id: i64, start: NaiveDate, end: NaiveDate) -> SimTimeOff {
    SimTimeOff {
        employee_id,
        type_id,
        start,
        end,
        half_day_start: false,
        half_day_end: false,
        status: "approved".into(),
        comment: None,
    }
}

fn window(from: NaiveDate, to: NaiveDate) -> TimeOffQuery {
    TimeOffQuery {
        from,
        to,
        updated_from: None,
        reach_back: None,
    }
}

fn by_id(items: &[AbsencePeriod], id: i64) -> &AbsencePeriod {
    items
        .iter()
        .find(|p| p.id == id)
        .unwrap_or_else(|| panic!("period {id} missing"))
}

/// Every quirk of v1 time-offs at once, read through the client.
#[tokio::test]
async fn contract_time_offs_survive_every_quirk() {
    let (sim, _server, client) = setup_with(PersonioQuirks {
        duplicate_across_pages: true,
        envelope_numbers_as_strings: true,
        ..PersonioQuirks::default()
    })
    .await;
    let (berlin, vac) = anna_and_vacation(&sim);
    let mut kiwi = SimEmployee::new("Kiri", "Tane", "kiri@example.com");
    kiwi.tz = chrono_tz::Pacific::Auckland;
    let auckland = sim.add_employee(kiwi);
    let no_email = sim.add_employee(SimEmployee::new("Hidden", "Mail", ""));

    // Across the DST change of 2024-03-31: written +01:00 at the start, +02:00 at the end.
    let dst = sim.add_time_off(period(berlin, vac, d(2024, 3, 29), d(2024, 4, 2)));
    // Single afternoon; the flags go out as 0/1.
    let afternoon = sim.add_time_off(SimTimeOff {
        half_day_end: true,
        ..period(berlin, vac, d(2024, 4, 10), d(2024, 4, 10))
    });
    // Auckland midnight (+12:00) is the previous day in UTC.
    let kiwi_day = sim.add_time_off(SimTimeOff {
        half_day_start: true,
        ..period(auckland, vac, d(2024, 4, 15), d(2024, 4, 16))
    });
    let pending = sim.add_time_off(SimTimeOff {
        status: "pending".into(),
        ..period(berlin, vac, d(2024, 4, 20), d(2024, 4, 22))
    });
    // Overlaps the end of the window: a contained-only filter would hide it.
    let straddling = sim.add_time_off(period(auckland, vac, d(2024, 4, 29), d(2024, 5, 3)));
    let outside = sim.add_time_off(period(berlin, vac, d(2024, 5, 10), d(2024, 5, 12)));
    let rejected = sim.add_time_off(period(no_email, vac, d(2024, 4, 5), d(2024, 4, 5)));
    // Enough rows for three pages of 200, so page boundaries (and their duplicates) are crossed.
    let bulk: Vec<i64> = (0..420)
        .map(|i| {
            let day = d(2024, 4, 1) + chrono::Days::new(i % 28);
            sim.add_time_off(period(berlin, vac, day, day))
        })
        .collect();

    let got = client
        .time_offs(&window(d(2024, 3, 31), d(2024, 4, 30)))
        .await
        .unwrap();

    let ids: Vec<i64> = got.items.iter().map(|p| p.id).collect();
    let unique: std::collections::HashSet<i64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "duplicates across pages were kept");
    assert_eq!(got.items.len(), 5 + bulk.len());
    assert!(bulk.iter().all(|id| unique.contains(id)));
    assert!(!unique.contains(&outside));
    assert_eq!(got.rejected.len(), 1);
    assert_eq!(
        got.rejected[0].id.as_deref(),
        Some(rejected.to_string().as_str())
    );
    assert!(
        got.rejected[0].reason.contains("email"),
        "{:?}",
        got.rejected
    );

    let p = by_id(&got.items, dst);
    assert_eq!((p.start, p.end), (d(2024, 3, 29), d(2024, 4, 2)));
    assert_eq!(p.email, "anna@example.com");
    assert_eq!((p.employee_id, p.type_id), (berlin, vac));
    assert_eq!(p.type_name, "Vacation");
    assert_eq!(p.status, PeriodStatus::Approved);
    let p = by_id(&got.items, afternoon);
    assert_eq!((p.half_day_start, p.half_day_end), (false, true));
    let p = by_id(&got.items, kiwi_day);
    assert_eq!((p.start, p.end), (d(2024, 4, 15), d(2024, 4, 16)));
    assert_eq!((p.half_day_start, p.half_day_end), (true, false));
    assert_eq!(by_id(&got.items, pending).status, PeriodStatus::Pending);
    assert_eq!(by_id(&got.items, straddling).end, d(2024, 5, 3));

    // 427 rows in the widened window at 200 a page, starting at page 1.
    assert_eq!(sim.control().requests.get("GET /v1/company/time-offs"), 3);
    assert_eq!(sim.control().requests.get("POST /v1/auth"), 1);
}

/// What the simulator itself writes, read raw: offsets per date, 0/1 flags, 1-based page numbers
/// with 0 meaning 1, and string envelope numbers.
#[tokio::test]
async fn simulator_writes_personio_shapes() {
    let (sim, server, _client) = setup_with(PersonioQuirks {
        envelope_numbers_as_strings: true,
        ..PersonioQuirks::default()
    })
    .await;
    let (anna, vac) = anna_and_vacation(&sim);
    let id = sim.add_time_off(SimTimeOff {
        half_day_start: true,
        ..period(anna, vac, d(2024, 3, 29), d(2024, 4, 2))
    });
    let http = reqwest::Client::new();
    let token = raw_auth(&http, &server)
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap()["data"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(token.starts_with("papi-"));
    let page = |offset: &'static str| {
        let http = http.clone();
        let url = format!(
            "{}/v1/company/time-offs?offset={offset}&limit=1",
            server.url()
        );
        let token = token.clone();
        async move {
            let response = http.get(url).bearer_auth(&token).send().await.unwrap();
            let echoed = response.headers()["authorization"]
                .to_str()
                .unwrap()
                .to_string();
            assert_eq!(echoed, format!("Bearer {token}"));
            response.json::<serde_json::Value>().await.unwrap()
        }
    };
    let zero = page("0").await;
    let one = page("1").await;
    assert_eq!(zero["data"], one["data"]);
    assert_eq!(one["metadata"]["current_page"], 1);
    assert_eq!(one["limit"], "1");
    let a = &one["data"][0]["attributes"];
    assert_eq!(a["id"], id);
    assert_eq!(a["start_date"], "2024-03-29T00:00:00+01:00");
    assert_eq!(a["end_date"], "2024-04-02T00:00:00+02:00");
    assert_eq!(a["half_day_start"], 1);
    assert_eq!(a["half_day_end"], 0);
    assert_eq!(page("2").await["data"], serde_json::json!([]));
}

#[tokio::test]
async fn contained_filter_is_widened_then_filtered_locally() {
    let (sim, _server, client) = setup().await;
    let (anna, vac) = anna_and_vacation(&sim);
    // 2023-12-30..2024-01-10 is the reported case: hidden from a 2024 query by the live API.
    let new_year = sim.add_time_off(period(anna, vac, d(2023, 12, 30), d(2024, 1, 10)));
    let before = sim.add_time_off(period(anna, vac, d(2023, 12, 1), d(2023, 12, 29)));
    let got = client
        .time_offs(&window(d(2024, 1, 1), d(2024, 12, 31)))
        .await
        .unwrap();
    let ids: Vec<i64> = got.items.iter().map(|p| p.id).collect();
    assert_eq!(ids, vec![new_year]);
    assert_ne!(new_year, before);
}

#[tokio::test]
async fn updated_from_returns_only_recent_changes() {
    let (sim, _server, client) = setup().await;
    let (anna, vac) = anna_and_vacation(&sim);
    let at = |s: &str| Some(s.parse::<chrono::DateTime<chrono::Utc>>().unwrap());
    sim.set_clock(at("2024-01-10T12:00:00Z"));
    let old = sim.add_time_off(period(anna, vac, d(2024, 2, 1), d(2024, 2, 2)));
    let edited = sim.add_time_off(period(anna, vac, d(2024, 2, 5), d(2024, 2, 6)));
    sim.set_clock(at("2024-01-20T08:00:00Z"));
    sim.update_time_off(edited, |p| p.end = d(2024, 2, 7));
    let new = sim.add_time_off(period(anna, vac, d(2024, 2, 9), d(2024, 2, 9)));
    let got = client
        .time_offs(&TimeOffQuery {
            updated_from: Some(d(2024, 1, 20)),
            reach_back: None,
            ..window(d(2024, 1, 1), d(2024, 3, 31))
        })
        .await
        .unwrap();
    let mut ids: Vec<i64> = got.items.iter().map(|p| p.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![edited, new]);
    assert!(!ids.contains(&old));
    assert_eq!(by_id(&got.items, edited).end, d(2024, 2, 7));
}

#[tokio::test]
async fn reauthenticates_once_after_tokens_are_invalidated() {
    let (sim, _server, client) = setup().await;
    sim.add_time_off_type(vacation());
    client.absence_types().await.unwrap();
    client.absence_types().await.unwrap();
    assert_eq!(
        sim.control().requests.get("POST /v1/auth"),
        1,
        "token reused"
    );
    sim.invalidate_tokens();
    let types = client.absence_types().await.unwrap();
    assert_eq!(types.items.len(), 1);
    assert_eq!(sim.control().requests.get("POST /v1/auth"), 2);
    // Two good reads, then the 401 and its single retry.
    assert_eq!(
        sim.control().requests.get("GET /v1/company/time-off-types"),
        4
    );
}

#[tokio::test]
async fn short_lived_tokens_are_renewed_before_use() {
    let (sim, _server, client) = setup_with(PersonioQuirks {
        token_lifetime_secs: 1,
        ..PersonioQuirks::default()
    })
    .await;
    client.absence_types().await.unwrap();
    // The client and the simulator both read tokio's clock: moving it past the one-second
    // lifetime expires the token at once.
    tokio::time::pause();
    tokio::time::advance(Duration::from_millis(1100)).await;
    tokio::time::resume();
    client.absence_types().await.unwrap();
    assert_eq!(sim.control().requests.get("POST /v1/auth"), 2);
    assert_eq!(
        sim.control().requests.get("GET /v1/company/time-off-types"),
        2,
        "renewed up front, not after a 401"
    );
}

#[tokio::test]
async fn simulator_enforces_auth_limits_and_routes() {
    let (sim, server, _client) = setup().await;
    let (anna, vac) = anna_and_vacation(&sim);
    let gone = sim.add_time_off(period(anna, vac, d(2024, 1, 1), d(2024, 1, 1)));
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", server.url());
    let status = |r: reqwest::Response| r.status().as_u16();

    let query_creds = http
        .post(url(&format!(
            "/v1/auth?client_id={CLIENT_ID}&client_secret={SECRET}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(status(query_creds), 403);
    let form = http
        .post(url("/v1/auth"))
        .form(&[("client_id", CLIENT_ID), ("client_secret", SECRET)])
        .send()
        .await
        .unwrap();
    let token = form.json::<serde_json::Value>().await.unwrap()["data"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let get = |p: String, t: Option<&str>| {
        let mut r = http.get(url(&p));
        if let Some(t) = t {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(
        status(get("/v1/company/time-offs".into(), None).await.unwrap()),
        401
    );
    assert_eq!(
        status(
            get("/v1/company/time-offs".into(), Some("papi-forged"))
                .await
                .unwrap()
        ),
        403
    );
    let too_big = get("/v1/company/time-offs?limit=201".into(), Some(&token))
        .await
        .unwrap();
    assert_eq!(status(too_big), 400);
    let too_many = get("/v1/company/employees?limit=101".into(), Some(&token))
        .await
        .unwrap();
    assert_eq!(status(too_many), 400);
    assert_eq!(
        status(get("/v1/nowhere".into(), Some(&token)).await.unwrap()),
        404
    );
    let found = get(format!("/v1/company/time-offs/{gone}"), Some(&token))
        .await
        .unwrap();
    assert_eq!(status(found), 200);
    sim.delete_time_off(gone);
    let missing = get(format!("/v1/company/time-offs/{gone}"), Some(&token))
        .await
        .unwrap();
    assert_eq!(status(missing), 404);

    let mut wrong = settings(&server.url(), "5s");
    wrong.client_secret = "not-it".into();
    let wrong = PersonioClient::new(&wrong, fast_retry()).unwrap();
    assert_wrong_credentials(&wrong.absence_types().await.unwrap_err());
}

#[tokio::test]
async fn simulator_rate_limits_answer_429_without_retry_after() {
    let (_sim, server, _client) = setup().await;
    let http = reqwest::Client::new();
    let mut last = None;
    for _ in 0..61 {
        last = Some(raw_auth(&http, &server).await);
    }
    let last = last.unwrap();
    assert_eq!(last.status().as_u16(), 429);
    assert!(last.headers().get("retry-after").is_none());
    let body: serde_json::Value = last.json().await.unwrap();
    assert_eq!(body["success"], false);
}

#[tokio::test]
async fn hourly_absences_use_local_breakdown_dates() {
    let (sim, _server, client) = setup().await;
    let doctor = sim.add_time_off_type(SimTimeOffType {
        name: "Doctor".into(),
        category: None,
        unit: AbsenceUnit::Hour,
    });
    let anna = sim.add_employee(SimEmployee::new("Anna", "Berg", "anna@example.com"));
    let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    // 00:30 Berlin is the previous day in UTC.
    let id = sim.add_hourly_absence(SimHourlyAbsence {
        employee_id: anna,
        type_id: doctor,
        start: at("2024-06-03 00:30"),
        end: at("2024-06-03 03:00"),
        status: "approved".into(),
        comment: None,
    });
    let got = client
        .hourly_absences(&window(d(2024, 6, 1), d(2024, 6, 30)))
        .await
        .unwrap();
    assert_eq!(got.items.len(), 1);
    let a = &got.items[0];
    assert_eq!(a.id, id);
    assert_eq!((a.start, a.end), (d(2024, 6, 3), Some(d(2024, 6, 3))));
    assert_eq!(
        (a.email.as_str(), a.type_name.as_str()),
        ("anna@example.com", "Doctor")
    );
    let types = client.absence_types().await.unwrap();
    assert_eq!(types.items[0].unit, AbsenceUnit::Hour);
    sim.rename_time_off_type(doctor, "Doctor's visit");
    assert_eq!(
        client.absence_types().await.unwrap().items[0].name,
        "Doctor's visit"
    );
}

/// A 2,000-person organisation with ten periods each comes back exactly.
#[tokio::test]
async fn reads_a_large_organisation_exactly() {
    let (sim, _server, client) = setup().await;
    let types = [
        sim.add_time_off_type(vacation()),
        sim.add_time_off_type(SimTimeOffType {
            name: "Sick".into(),
            category: Some("sick_leave".into()),
            unit: AbsenceUnit::Day,
        }),
    ];
    let zones = [
        chrono_tz::Europe::Berlin,
        chrono_tz::Europe::London,
        chrono_tz::America::New_York,
    ];
    let mut expected = Vec::new();
    for n in 0..2000i64 {
        let email = format!("person{n}@example.com");
        let mut e = SimEmployee::new("P", &n.to_string(), &email);
        e.tz = zones[n as usize % zones.len()];
        let employee_id = sim.add_employee(e);
        for k in 0..10i64 {
            let start = d(2024, 1, 1) + chrono::Days::new(((n * 7 + k * 31) % 360) as u64);
            let end = start + chrono::Days::new((k % 3) as u64);
            let p = SimTimeOff {
                half_day_start: k % 4 == 1,
                half_day_end: k % 5 == 2,
                status: if k == 9 {
                    "pending".into()
                } else {
                    "approved".into()
                },
                ..period(employee_id, types[(k % 2) as usize], start, end)
            };
            let id = sim.add_time_off(p.clone());
            expected.push(AbsencePeriod {
                id,
                ids: SourceIds {
                    v1: Some(id),
                    v2: None,
                },
                employee_id,
                email: email.clone(),
                type_id: p.type_id,
                type_name: if k % 2 == 0 { "Vacation" } else { "Sick" }.into(),
                status: if k == 9 {
                    PeriodStatus::Pending
                } else {
                    PeriodStatus::Approved
                },
                start: p.start,
                end: p.end,
                half_day_start: p.half_day_start,
                half_day_end: p.half_day_end,
            });
        }
    }
    let mut got = client
        .time_offs(&window(d(2024, 1, 1), d(2024, 12, 31)))
        .await
        .unwrap();
    assert!(got.rejected.is_empty());
    got.items.sort_by_key(|p| p.id);
    assert_eq!(got.items.len(), 20_000);
    assert_eq!(got.items, expected);
}

// --- fixtures shaped like real responses ---------------------------------------------------

async fn mock_with_auth() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/auth"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("auth-official.json"), "application/json"),
        )
        .mount(&server)
        .await;
    server
}

async fn serve(server: &MockServer, route: &str, body: String) {
    Mock::given(method("GET"))
        .and(path(route))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(server)
        .await;
}

#[test]
fn fixtures_parse_with_the_wire_types() {
    for name in [
        "time-offs-giantswarm.json",
        "time-offs-official.json",
        "time-off-types-official.json",
        "absence-periods-official.json",
        "employees-official.json",
    ] {
        let envelope: ListEnvelope = serde_json::from_str(&fixture(name)).unwrap();
        assert!(!envelope.data.is_empty(), "{name}");
    }
    let official: ListEnvelope = serde_json::from_str(&fixture("time-offs-official.json")).unwrap();
    let meta = official.metadata.unwrap();
    assert_eq!(
        (meta.total_elements, meta.current_page, meta.total_pages),
        (Some(1), Some(1), Some(1)),
        "read despite the documented \"0,\" offset typo"
    );
}

#[tokio::test]
async fn real_shaped_time_offs_load_and_bad_records_are_rejected() {
    let server = mock_with_auth().await;
    serve(
        &server,
        "/v1/company/time-offs",
        fixture("time-offs-giantswarm.json"),
    )
    .await;
    let got = client(&server.uri())
        .time_offs(&window(d(2022, 11, 1), d(2022, 12, 31)))
        .await
        .unwrap();
    assert_eq!(
        got.items,
        vec![AbsencePeriod {
            id: 125682393,
            ids: SourceIds {
                v1: Some(125682393),
                v2: None,
            },
            employee_id: 6205887,
            email: "gonzo@giantswarm.io".into(),
            type_id: 155627,
            type_name: "Vacation".into(),
            status: PeriodStatus::Approved,
            start: d(2022, 12, 1),
            end: d(2022, 12, 1),
            half_day_start: false,
            half_day_end: true,
        }]
    );
    assert_eq!(got.rejected.len(), 1);
    assert_eq!(got.rejected[0].id.as_deref(), Some("125682394"));
    assert!(
        got.rejected[0].reason.contains("not a date"),
        "{}",
        got.rejected[0].reason
    );
}

#[tokio::test]
async fn official_examples_load() {
    let server = mock_with_auth().await;
    serve(
        &server,
        "/v1/company/time-offs",
        fixture("time-offs-official.json"),
    )
    .await;
    serve(
        &server,
        "/v1/company/time-off-types",
        fixture("time-off-types-official.json"),
    )
    .await;
    serve(
        &server,
        "/v1/company/absence-periods",
        fixture("absence-periods-official.json"),
    )
    .await;
    let client = client(&server.uri());

    let got = client
        .time_offs(&window(d(2017, 12, 1), d(2017, 12, 31)))
        .await
        .unwrap();
    assert_eq!(got.items.len(), 1);
    assert_eq!(
        (got.items[0].start, got.items[0].end),
        (d(2017, 12, 27), d(2017, 12, 29))
    );

    let types = client.absence_types().await.unwrap();
    let units: Vec<(i64, AbsenceUnit)> = types.items.iter().map(|t| (t.id, t.unit)).collect();
    assert_eq!(
        units,
        vec![(1234, AbsenceUnit::Day), (1235, AbsenceUnit::Hour)]
    );
    assert_eq!(types.items[0].category.as_deref(), Some("paid_vacation"));

    let hourly = client
        .hourly_absences(&window(d(2022, 6, 1), d(2022, 6, 30)))
        .await
        .unwrap();
    assert_eq!(hourly.items.len(), 1);
    // UTC start 2022-05-31T22:00Z is 1 June in Berlin; the breakdowns say so.
    assert_eq!(
        (hourly.items[0].start, hourly.items[0].end),
        (d(2022, 6, 1), Some(d(2022, 6, 2)))
    );
}

#[tokio::test]
async fn sends_credentials_in_the_body_and_both_update_filters() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/auth"))
        .and(wiremock::matchers::body_json(serde_json::json!({
            "client_id": CLIENT_ID, "client_secret": SECRET,
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("auth-official.json"), "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    // The changes since a day carry no dates (a long absence edited years after it began);
    // a whole read asks from a year before the window to ten years after it.
    Mock::given(method("GET"))
        .and(path("/v1/company/time-offs"))
        .and(query_param("updated_from", "2024-03-09"))
        .and(query_param("updated_since", "2024-03-09"))
        .and(wiremock::matchers::query_param_is_missing("start_date"))
        .and(wiremock::matchers::query_param_is_missing("end_date"))
        .and(query_param("offset", "1"))
        .and(query_param("limit", "200"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("time-offs-official.json"), "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/company/time-offs"))
        .and(wiremock::matchers::query_param_is_missing("updated_from"))
        .and(query_param("start_date", "2023-02-28"))
        .and(query_param("end_date", "2034-05-07"))
        .and(query_param("offset", "1"))
        .and(query_param("limit", "200"))
        .and(wiremock::matchers::header(
            "authorization",
            "Bearer papi-OUYVj9QdFixtureToken",
        ))
        .and(wiremock::matchers::header(
            "x-personio-app-id",
            "PERSONIO_PRODUCTIVE_SYNC",
        ))
        .and(wiremock::matchers::header("accept", "application/json"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("time-offs-official.json"), "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server.uri());
    let whole = TimeOffQuery::window(d(2024, 2, 29), d(2024, 4, 29));
    client.time_offs(&whole).await.unwrap();
    let changes = TimeOffQuery {
        updated_from: Some(d(2024, 3, 10)),
        ..whole
    };
    client.time_offs(&changes).await.unwrap();
    for request in server.received_requests().await.unwrap() {
        let query = request.url.query().unwrap_or_default();
        assert!(
            !query.contains(SECRET) && !query.contains("client_id"),
            "{query}"
        );
    }
}

// --- failure paths ---------------------------------------------------------------------------

fn assert_secret_free(err: &ApiError) {
    assert!(!err.to_string().contains(SECRET), "{err}");
    assert!(!format!("{err:?}").contains(SECRET), "{err:?}");
}

/// Personio's answer to a bad credential, as the client reports it.
fn assert_wrong_credentials(err: &ApiError) {
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.to_string(), "personio: HTTP 401: Wrong credentials");
    assert_secret_free(err);
}

#[tokio::test]
async fn timeout_is_reported_as_such() {
    let server = mock_with_auth().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let client = PersonioClient::new(&settings(&server.uri(), "200ms"), fast_retry()).unwrap();
    let err = client.absence_types().await.unwrap_err();
    assert!(matches!(err, ApiError::Transport { .. }), "{err:?}");
    let source = std::error::Error::source(&err)
        .and_then(|s| s.downcast_ref::<reqwest::Error>())
        .unwrap();
    assert!(source.is_timeout(), "{source:?}");
    assert!(err.is_transient());
    assert_secret_free(&err);
    assert!(!format!("{client:?}").contains(SECRET));
}

async fn fails_once_then_succeeds(first: ResponseTemplate) {
    let server = mock_with_auth().await;
    Mock::given(method("GET"))
        .and(path("/v1/company/time-off-types"))
        .respond_with(first)
        .up_to_n_times(1)
        .mount(&server)
        .await;
    serve(
        &server,
        "/v1/company/time-off-types",
        fixture("time-off-types-official.json"),
    )
    .await;
    let types = client(&server.uri()).absence_types().await.unwrap();
    assert_eq!(types.items.len(), 2);
    let gets = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "GET")
        .count();
    assert_eq!(gets, 2);
}

#[tokio::test]
async fn rate_limit_without_retry_after_waits_and_succeeds() {
    let started = std::time::Instant::now();
    fails_once_then_succeeds(ResponseTemplate::new(429).set_body_json(
        serde_json::json!({"success": false, "error": {"code": 429, "message": "Too many requests"}}),
    ))
    .await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waits at least 1 s"
    );
}

#[tokio::test]
async fn server_error_is_retried() {
    fails_once_then_succeeds(ResponseTemplate::new(500).set_body_json(
        serde_json::json!({"success": false, "error": {"code": 0, "message": "Something went wrong"}}),
    ))
    .await;
}

#[tokio::test]
async fn dropped_connection_is_retried() {
    // A raw server: the first GET loses its connection, everything else is answered.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = tokio::spawn(async move {
        let mut dropped = false;
        let mut gets = 0;
        while gets < 2 {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let n = socket.read(&mut buf).await.unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            if request.starts_with("GET") {
                gets += 1;
                if !dropped {
                    dropped = true;
                    drop(socket);
                    continue;
                }
            }
            let body = if request.starts_with("POST") {
                fixture("auth-official.json")
            } else {
                fixture("time-off-types-official.json")
            };
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(reply.as_bytes()).await.unwrap();
        }
    });
    let types = client(&base).absence_types().await.unwrap();
    assert_eq!(types.items.len(), 2);
    served.await.unwrap();
}

#[tokio::test]
async fn malformed_json_is_a_decode_error() {
    let server = mock_with_auth().await;
    serve(
        &server,
        "/v1/company/time-off-types",
        r#"{"success": true, "data": ["#.into(),
    )
    .await;
    let err = client(&server.uri()).absence_types().await.unwrap_err();
    assert!(
        matches!(err, ApiError::Decode { status: 200, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("personio: unreadable response (HTTP 200)"),
        "{err}"
    );
    assert_secret_free(&err);
}

#[tokio::test]
async fn html_error_page_names_the_status() {
    let server = mock_with_auth().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(502).set_body_raw(
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
            "text/html",
        ))
        .mount(&server)
        .await;
    let err = client(&server.uri()).absence_types().await.unwrap_err();
    assert_eq!(err.status(), Some(502));
    let text = err.to_string();
    assert!(
        text.contains("HTTP 502") && text.contains("Bad Gateway"),
        "{text}"
    );
    assert_secret_free(&err);
}

#[tokio::test]
async fn auth_failure_never_shows_the_secret() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/auth"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            serde_json::json!({"success": false, "error": {"code": 401, "message": "Wrong credentials"}}),
        ))
        .mount(&server)
        .await;
    let client = client(&server.uri());
    let err = client
        .time_offs(&window(d(2024, 1, 1), d(2024, 1, 31)))
        .await
        .unwrap_err();
    assert_wrong_credentials(&err);
    assert!(!format!("{client:?}").contains(SECRET));
}
