//! Reading absences: paging (relative, absolute, foreign, repeated, empty pages), the query sent,
//! the email join in batches, the end calibration, lookups by id and 429s without Retry-After.

use std::time::Duration;

use chrono::NaiveDate;
use personio_productive_sync::domain::model::{AbsenceUnit, PeriodStatus, SourceIds};
use personio_productive_sync::http::ApiError;
use personio_productive_sync::personio::{AbsenceSource, Lookup, TimeOffQuery};
use serde_json::json;

use super::*;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn june() -> TimeOffQuery {
    TimeOffQuery::window(d("2026-06-01"), d("2026-06-30"))
}

/// Three pages of periods: the first links relatively, the second absolutely.
#[tokio::test]
async fn pages_follow_relative_and_absolute_links_and_send_overlap_filters() {
    let server = Scripted::start(|seen| match seen.path.as_str() {
        "/v2/absence-types" => Some(types_page()),
        "/v2/persons" => Some(persons_echo(seen)),
        "/v2/absence-periods" => Some(match seen.param("cursor") {
            None => page(
                vec![vacation(
                    "a",
                    "1",
                    "2026-06-10T00:00:00",
                    Some("2026-06-10T00:00:00"),
                )],
                Some("/v2/absence-periods?cursor=c2&limit=100".into()),
            ),
            Some("c2") => page(
                vec![vacation(
                    "b",
                    "2",
                    "2026-05-20T00:00:00",
                    Some("2026-06-02T00:00:00.000"),
                )],
                Some(format!(
                    "{}/v2/absence-periods?cursor=c3&limit=100",
                    seen.base
                )),
            ),
            Some(_) => page(vec![vacation("c", "3", "2026-06-29T00:00:00Z", None)], None),
        }),
        _ => None,
    })
    .await;
    let client = server.client();
    let got = client.time_offs(&june()).await.unwrap();
    assert!(got.rejected.is_empty(), "{:?}", got.rejected);
    let by_v2 = |id: &str| {
        got.items
            .iter()
            .find(|p| p.ids.v2.as_deref() == Some(id))
            .unwrap_or_else(|| panic!("{id} missing"))
    };
    assert_eq!(got.items.len(), 3);
    assert_eq!(
        (by_v2("a").start, by_v2("a").end),
        (d("2026-06-10"), d("2026-06-10"))
    );
    assert_eq!(by_v2("a").email, "1@example.com");
    assert_eq!(by_v2("a").employee_id, 1);
    assert_eq!(by_v2("a").type_name, "Paid vacation");
    assert_eq!(by_v2("a").status, PeriodStatus::Approved);
    // Open-ended: it ends with the read.
    assert_eq!(by_v2("c").end, d("2026-06-30"));
    let lists = server.to("/v2/absence-periods");
    let cursors: Vec<_> = lists.iter().map(|s| s.param("cursor")).collect();
    assert_eq!(cursors, [None, Some("c2"), Some("c3")]);
    let first = &lists[0];
    assert_eq!(first.param("limit"), Some("100"));
    // Only the day type is asked for.
    assert_eq!(first.param("absence_type.id"), Some(VACATION));
    assert_eq!(
        first.param("ends_at.date_time.gte"),
        Some("2026-06-01T00:00:00")
    );
    assert_eq!(
        first.param("starts_from.date_time.lte"),
        Some("2026-06-30T23:59:59")
    );
    assert_eq!(first.param("updated_at.gte"), None);
    for seen in server
        .requests()
        .iter()
        .filter(|s| s.path != "/v2/auth/token")
    {
        assert_eq!(
            seen.headers["authorization"].to_str().unwrap(),
            "Bearer papi-1",
            "{}",
            seen.path
        );
    }
    assert_eq!(server.to("/v2/auth/token").len(), 1);
}

#[tokio::test]
async fn a_changes_read_filters_by_update_time_only() {
    let server = Scripted::start(|seen| match seen.path.as_str() {
        "/v2/absence-types" => Some(types_page()),
        "/v2/absence-periods" => Some(page(vec![], None)),
        _ => None,
    })
    .await;
    let query = TimeOffQuery {
        updated_from: Some(d("2026-06-15")),
        ..june()
    };
    server.client().time_offs(&query).await.unwrap();
    let list = &server.to("/v2/absence-periods")[0];
    assert_eq!(list.param("updated_at.gte"), Some("2026-06-14T00:00:00Z"));
    assert_eq!(list.param("ends_at.date_time.gte"), None);
    assert_eq!(list.param("starts_from.date_time.lte"), None);
}

#[tokio::test]
async fn a_link_to_another_host_is_refused() {
    let server = Scripted::start(|seen| match seen.path.as_str() {
        "/v2/absence-types" => Some(page(
            vec![json!({"id": VACATION, "name": "V", "unit": "DAY"})],
            Some("http://elsewhere.example.test/v2/absence-types?cursor=c2".into()),
        )),
        _ => None,
    })
    .await;
    let err = server.client().absence_types().await.unwrap_err();
    assert!(matches!(err, ApiError::ForeignLink { .. }), "{err}");
    assert_eq!(server.to("/v2/absence-types").len(), 1);
}

/// The second page sends the read back to a cursor it already gave (under another spelling of
/// the link): the read fails instead of ending short or looping.
#[tokio::test]
async fn a_repeated_cursor_fails_the_read() {
    let server = Scripted::start(|seen| match seen.path.as_str() {
        "/v2/absence-types" => Some(match seen.param("cursor") {
            None => page(
                vec![json!({"id": "t1", "name": "A", "unit": "DAY"})],
                Some("/v2/absence-types?cursor=c2".into()),
            ),
            _ => page(
                vec![json!({"id": "t2", "name": "B", "unit": "DAY"})],
                Some(format!(
                    "{}/v2/absence-types?limit=100&cursor=c2",
                    seen.base
                )),
            ),
        }),
        _ => None,
    })
    .await;
    let err = server.client().absence_types().await.unwrap_err();
    assert!(err.to_string().contains("incomplete read"), "{err}");
    assert!(!err.is_transient());
    assert_eq!(server.to("/v2/absence-types").len(), 2);
}

#[tokio::test]
async fn an_empty_page_with_a_next_link_does_not_end_the_read() {
    let server = Scripted::start(|seen| match seen.path.as_str() {
        "/v2/absence-types" => Some(match seen.param("cursor") {
            None => page(
                vec![json!({"id": "t1", "name": "A", "unit": "DAY"})],
                Some("/v2/absence-types?cursor=c2".into()),
            ),
            Some("c2") => page(vec![], Some("/v2/absence-types?cursor=c3".into())),
            _ => page(vec![json!({"id": "t2", "name": "B", "unit": "WEEK"})], None),
        }),
        _ => None,
    })
    .await;
    let got = server.client().absence_types().await.unwrap();
    assert_eq!(got.items.len(), 1);
    assert_eq!(got.items[0].unit, AbsenceUnit::Day);
    assert_eq!(got.items[0].ids.v2.as_deref(), Some("t1"));
    // The unknown unit (on the page after the empty one) is reported, not fatal.
    assert_eq!(got.rejected.len(), 1);
    assert!(got.rejected[0].reason.contains("WEEK"));
    assert_eq!(server.to("/v2/absence-types").len(), 3);
}

/// Personio's 429 carries no Retry-After; the client waits at least a second before trying again.
#[tokio::test]
async fn a_429_without_retry_after_waits_a_second() {
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let calls = counter.clone();
    let server = Scripted::start(move |seen| match seen.path.as_str() {
        "/v2/absence-types" => {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Some(if n == 0 {
                json_reply(429, json!({"errors": [{"title": "Too Many Requests"}]}))
            } else {
                types_page()
            })
        }
        _ => None,
    })
    .await;
    let got = server.client().absence_types().await.unwrap();
    assert_eq!(got.items.len(), 2);
    let tries = server.to("/v2/absence-types");
    assert_eq!(tries.len(), 2);
    let gap = tries[1].at.duration_since(tries[0].at);
    assert!(gap >= Duration::from_secs(1), "retried after {gap:?}");
}

/// 120 periods of 120 people: their emails come in three requests of at most 50 ids, and a
/// second read within minutes asks for none.
#[tokio::test]
async fn persons_are_read_in_batches_of_fifty_and_kept() {
    let server = Scripted::start(|seen| match seen.path.as_str() {
        "/v2/absence-types" => Some(types_page()),
        "/v2/persons" => {
            let ids = seen.param("id").unwrap_or_default().to_string();
            // Person 7 exists without a readable email; person 8 is unknown.
            let persons = ids
                .split(',')
                .filter(|id| *id != "8")
                .map(|id| {
                    person(
                        id,
                        (id != "7").then(|| format!("{id}@example.com")).as_deref(),
                    )
                })
                .collect();
            Some(page(persons, None))
        }
        "/v2/absence-periods" => Some(page(
            (1..=120)
                .map(|n| {
                    vacation(
                        &format!("p{n}"),
                        &n.to_string(),
                        "2026-06-03T00:00:00",
                        Some("2026-06-03T00:00:00"),
                    )
                })
                .collect(),
            None,
        )),
        _ => None,
    })
    .await;
    let client = server.client();
    let got = client.time_offs(&june()).await.unwrap();
    assert_eq!(got.items.len(), 118);
    let reason_of = |id: &str| {
        got.rejected
            .iter()
            .find(|r| r.id.as_deref() == Some(id))
            .map(|r| r.reason.clone())
    };
    assert_eq!(
        reason_of("p7").as_deref(),
        Some("no employee email (is the email attribute whitelisted?)")
    );
    assert!(reason_of("p8").unwrap().contains("not found"));
    let batches = server.to("/v2/persons");
    let mut sizes: Vec<usize> = batches
        .iter()
        .map(|s| s.param("id").unwrap().split(',').count())
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [20, 50, 50]);
    assert!(batches.iter().all(|s| s.param("limit") == Some("50")));
    let mut asked: Vec<u32> = batches
        .iter()
        .flat_map(|s| {
            s.param("id")
                .unwrap()
                .split(',')
                .map(|id| id.parse().unwrap())
        })
        .collect();
    asked.sort_unstable();
    assert_eq!(asked, (1..=120).collect::<Vec<u32>>());
    client.time_offs(&june()).await.unwrap();
    // Unknown person 8 is asked for again; everyone else comes from the cache.
    let again = server.to("/v2/persons");
    assert_eq!(again.len(), 4);
    assert_eq!(again[3].param("id"), Some("8"));
}

/// A period from Monday 8 June written to end at Friday midnight: the breakdown decides whether
/// Friday is in it, once per client.
#[tokio::test]
async fn the_end_convention_is_learnt_from_one_breakdown() {
    for (last_listed, expected_end) in [("2026-06-11", "2026-06-11"), ("2026-06-12", "2026-06-12")]
    {
        let server = Scripted::start(move |seen| match seen.path.as_str() {
            "/v2/absence-types" => Some(types_page()),
            "/v2/persons" => Some(persons_echo(seen)),
            "/v2/absence-periods" => Some(page(
                vec![
                    vacation(
                        "long",
                        "1",
                        "2026-06-08T00:00:00",
                        Some("2026-06-12T00:00:00"),
                    ),
                    vacation(
                        "other",
                        "2",
                        "2026-06-15T00:00:00",
                        Some("2026-06-17T00:00:00"),
                    ),
                ],
                None,
            )),
            "/v2/absence-periods/long/breakdowns" => {
                let days: Vec<_> = [
                    "2026-06-08",
                    "2026-06-09",
                    "2026-06-10",
                    "2026-06-11",
                    "2026-06-12",
                ]
                .into_iter()
                .filter(|day| *day <= last_listed)
                .map(|day| json!({"date": day, "effective_duration": {"unit": "DAY", "value": 1}}))
                .collect();
                Some(page(days, None))
            }
            _ => None,
        })
        .await;
        let client = server.client();
        let got = client.time_offs(&june()).await.unwrap();
        let end_of = |id: &str| {
            got.items
                .iter()
                .find(|p| p.ids.v2.as_deref() == Some(id))
                .map(|p| p.end)
                .unwrap()
        };
        assert_eq!(
            end_of("long"),
            d(expected_end),
            "breakdown to {last_listed}"
        );
        // The same convention for the other period, learnt from the first.
        let other_end = if expected_end == "2026-06-11" {
            "2026-06-16"
        } else {
            "2026-06-17"
        };
        assert_eq!(end_of("other"), d(other_end));
        let breakdowns = server.to("/v2/absence-periods/long/breakdowns");
        assert_eq!(breakdowns.len(), 1);
        assert_eq!(breakdowns[0].param("limit"), Some("28"));
        client.time_offs(&june()).await.unwrap();
        assert_eq!(
            server
                .requests()
                .iter()
                .filter(|s| s.path.ends_with("/breakdowns"))
                .count(),
            1
        );
    }
}

#[tokio::test]
async fn lookups_by_id() {
    let server = Scripted::start(|seen| match seen.path.as_str() {
        "/v2/absence-types" => Some(types_page()),
        "/v2/persons" => Some(persons_echo(seen)),
        "/v2/absence-periods/here" => Some(json_reply(
            200,
            vacation(
                "here",
                "4",
                "2026-06-10T00:00:00",
                Some("2026-06-10T00:00:00"),
            ),
        )),
        "/v2/absence-periods/broken" => Some(json_reply(200, json!({"id": "broken"}))),
        _ => None,
    })
    .await;
    let client = server.client();
    let v2 = |id: &str| SourceIds {
        v1: None,
        v2: Some(id.into()),
    };
    match client.time_off(&v2("here")).await.unwrap() {
        Lookup::Found(p) => {
            assert_eq!(
                (p.start, p.end, p.email.as_str()),
                (d("2026-06-10"), d("2026-06-10"), "4@example.com")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.time_off(&v2("gone")).await.unwrap(), Lookup::Gone);
    assert!(matches!(
        client.time_off(&v2("broken")).await.unwrap(),
        Lookup::Unreadable(r) if r.id.as_deref() == Some("broken")
    ));
    let v1_only = SourceIds {
        v1: Some(12),
        v2: None,
    };
    assert!(matches!(
        client.time_off(&v1_only).await.unwrap(),
        Lookup::Unreadable(r) if r.reason.contains("v2 id")
    ));
}

#[tokio::test]
async fn hourly_absences_read_the_hour_types() {
    let server = Scripted::start(|seen| match seen.path.as_str() {
        "/v2/absence-types" => Some(types_page()),
        "/v2/persons" => Some(persons_echo(seen)),
        "/v2/absence-periods" => Some(page(
            vec![json!({
                "id": "h1", "person": {"id": "5"}, "absence_type": {"id": DOCTOR},
                "starts_from": {"date_time": "2026-06-04T14:00:00"},
                "ends_at": {"date_time": "2026-06-04T16:00:00"},
                "approval": {"status": "APPROVED"}})],
            None,
        )),
        _ => None,
    })
    .await;
    let got = server.client().hourly_absences(&june()).await.unwrap();
    assert_eq!(got.items.len(), 1);
    let a = &got.items[0];
    assert_eq!(
        (a.id.as_str(), a.email.as_str(), a.type_name.as_str()),
        ("h1", "5@example.com", "Doctor")
    );
    assert_eq!((a.start, a.end), (d("2026-06-04"), Some(d("2026-06-04"))));
    assert_eq!(
        server.to("/v2/absence-periods")[0].param("absence_type.id"),
        Some(DOCTOR)
    );
}
