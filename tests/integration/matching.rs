//! People whose emails differ between the systems, end to end: an override given in the
//! environment books them, `status --json` suggests the override for a likely match without
//! booking anything on it, and every kind of suggestion comes through both Personio APIs.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as Days;
use secrecy::ExposeSecret;
use serde_json::Value;

use personio_productive_sync::config::Settings;
use personio_productive_sync::http::RetryPolicy;
use personio_productive_sync::personio::PersonioClient;
use personio_productive_sync::productive::ProductiveClient;
use personio_productive_sync::sim::generate::{self, Org, OrgSpec};
use personio_productive_sync::sim::personio::{SimEmployee, SimTimeOff};
use personio_productive_sync::sim::productive::SimPerson;
use personio_productive_sync::sync::Syncer;

use crate::process::{child_env, Proc};
use crate::support::{
    engine_settings, full_run, sim_env, sqlite_db, synced_absence, today, Harness,
};

/// A generated organisation plus one employee whose Personio email is `personio_email` and
/// whose Productive account is `productive_email` (another name, so only the email can tie
/// them), with one approved week of vacation. Returns the period and the person.
fn with_mismatched_employee(org: &Org, personio_email: &str, productive_email: &str) -> (i64, i64) {
    let (period, people) = with_employee(
        org,
        ("Ann", "Personio", personio_email),
        &[("Ann", "Productive", productive_email)],
    );
    (period, people[0])
}

/// The people the bookings the sync made for `period` are on.
fn booked_on(org: &Org, period: i64) -> BTreeSet<i64> {
    org.productive
        .bookings()
        .into_iter()
        .filter(|(_, b)| {
            b.note.as_deref().and_then(synced_absence).map(|(id, _)| id) == Some(period)
        })
        .map(|(_, b)| b.person_id)
        .collect()
}

#[tokio::test]
async fn an_override_from_the_environment_books_a_mismatched_employee() {
    let org = generate::generate(&OrgSpec::new(12, 3, today()));
    let (period, person) =
        with_mismatched_employee(&org, "ann.old@example.com", "ann.new@example.com");
    let h = Harness::new(org, sqlite_db().await).await;
    h.sync().await;
    assert_eq!(
        booked_on(&h.org, period),
        BTreeSet::new(),
        "no match without the override"
    );

    // Loaded the way the binary loads it: the variable beside the other `PPS__` ones.
    let mut env = sim_env(
        &h.personio_server,
        &h.productive_server,
        h.db.url.expose_secret(),
    );
    env.push((
        "PPS__SYNC__EMAIL_OVERRIDES".into(),
        " Ann.Old@Example.com = ann.new@example.com ,nobody@example.com=no.one@example.com".into(),
    ));
    let settings = Settings::load_from(None, env).unwrap();
    let retry = RetryPolicy::default();
    let syncer = Syncer::new(
        engine_settings(&settings),
        h.db.store.clone(),
        Arc::new(PersonioClient::new(&settings.personio, retry).unwrap()),
        ProductiveClient::new(&settings.productive, retry).unwrap(),
    );
    syncer
        .run(full_run(), tokio_util::sync::CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(booked_on(&h.org, period), BTreeSet::from([person]));
    let issues = h.db.store.issues().await.unwrap();
    assert!(
        !issues
            .iter()
            .any(|i| i.personio_id.as_deref() == Some(&period.to_string())),
        "{issues:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_suggests_the_override_for_a_plus_address_and_books_nothing_on_it() {
    let org = generate::generate(&OrgSpec::new(24, 4, today()));
    let (period, person) = with_mismatched_employee(&org, "ann+hr@example.com", "ann@example.com");
    let h = Harness::new(org, sqlite_db().await).await;
    h.sync().await;
    assert_eq!(booked_on(&h.org, period), BTreeSet::new());

    let env = child_env(&h, &[]);
    let out = Proc::spawn(&env, &["status", "--json"])
        .finish(Duration::from_secs(60))
        .await;
    assert!(out.status.success(), "{}", out.stderr.join("\n"));
    let status: Value = serde_json::from_str(&out.stdout.join("\n")).expect("status --json");
    let suggested: Vec<&Value> = status["issues"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| !i["suggestion"].is_null())
        .collect();
    // The generated organisation's other unmatched people have no likely match; its emails that
    // differ only in case or surrounding blanks are matched, so they need none.
    assert_eq!(suggested.len(), 1, "{status:#}");
    let issue = suggested[0];
    assert_eq!(issue["personio_id"], period.to_string());
    assert_eq!(issue["reason"], "no Productive person with this email");
    let suggestion = &issue["suggestion"];
    assert_eq!(suggestion["kind"], "plus_address");
    assert_eq!(suggestion["person_id"], person);
    assert_eq!(
        suggestion["config_line"],
        r#""ann+hr@example.com" = "ann@example.com""#
    );
    assert_eq!(
        suggestion["env"],
        r#"PPS__SYNC__EMAIL_OVERRIDES="ann+hr@example.com=ann@example.com""#
    );

    let text = Proc::spawn(&env, &["status"])
        .finish(Duration::from_secs(60))
        .await
        .stdout
        .join("\n");
    assert!(
        text.contains(r#"ann+hr@example.com: Likely Productive person"#)
            && text.contains(r#"`"ann+hr@example.com" = "ann@example.com"`"#),
        "{text}"
    );
}

/// First name, last name, email.
type Who<'a> = (&'a str, &'a str, &'a str);

/// An employee in Personio and the Productive accounts that could be theirs, with one approved
/// week of vacation in Personio. Returns the period and the Productive people.
fn with_employee(org: &Org, personio: Who, productive: &[Who]) -> (i64, Vec<i64>) {
    let (first, last, email) = personio;
    let employee = org
        .personio
        .add_employee(SimEmployee::new(first, last, email));
    let people = productive
        .iter()
        .map(|(first, last, email)| {
            org.productive
                .add_person(SimPerson::new(first, last, Some(email)))
        })
        .collect();
    let start = today() + Days::days(14);
    let period = org.personio.add_time_off(SimTimeOff {
        employee_id: employee,
        type_id: org.types.vacation,
        start,
        end: start + Days::days(4),
        half_day_start: false,
        half_day_end: false,
        status: "approved".into(),
        comment: None,
    });
    (period, people)
}

#[tokio::test]
async fn each_kind_of_suggestion_comes_through_both_apis_and_books_nothing() {
    use personio_productive_sync::config::PersonioApi;
    use personio_productive_sync::domain::suggest::SuggestionKind;
    for api in [PersonioApi::V1, PersonioApi::V2] {
        let org = generate::generate(&OrgSpec::new(12, 3, today()));
        // Names differ where the email should be what ties them, so only one rule fits each;
        // generated Productive people use example.com.
        let cases: [(Who, &[Who]); 4] = [
            (
                ("Pia", "Plus", "pia+hr@example.com"),
                &[("Pia", "Other", "pia@example.com")],
            ),
            (
                ("Otto", "Domain", "otto.d@example.de"),
                &[("Otto", "Else", "otto.d@example.com")],
            ),
            (
                ("Sam", "Namesake", "sam@private.example"),
                &[("Sam", "Namesake", "s.namesake@example.com")],
            ),
            (
                ("Dua", "Twice", "dua@example.com"),
                &[
                    ("Dua", "Twice", "dua@example.com"),
                    ("Dua", "Twice", "DUA@example.com"),
                ],
            ),
        ];
        let guessed: Vec<i64> = cases
            .iter()
            .flat_map(|(employee, people)| with_employee(&org, *employee, people).1)
            .collect();
        let h = Harness::new(org, sqlite_db().await).await;
        h.syncer_on(api)
            .run(full_run(), tokio_util::sync::CancellationToken::new())
            .await
            .unwrap();
        let mut found: Vec<(String, SuggestionKind, Option<String>, usize)> =
            h.db.store
                .issues()
                .await
                .unwrap()
                .into_iter()
                .filter_map(|i| {
                    let s = i.suggestion?;
                    Some((i.email?, s.kind, s.config_line, s.deactivate.len()))
                })
                .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found.dedup_by(|a, b| a.0 == b.0);
        let line = |from: &str, to: &str| Some(format!("\"{from}\" = \"{to}\""));
        assert_eq!(
            found,
            vec![
                ("dua@example.com".into(), SuggestionKind::Duplicate, None, 1),
                (
                    "otto.d@example.de".into(),
                    SuggestionKind::OtherDomain,
                    line("otto.d@example.de", "otto.d@example.com"),
                    0
                ),
                (
                    "pia+hr@example.com".into(),
                    SuggestionKind::PlusAddress,
                    line("pia+hr@example.com", "pia@example.com"),
                    0
                ),
                (
                    "sam@private.example".into(),
                    SuggestionKind::SameName,
                    line("sam@private.example", "s.namesake@example.com"),
                    0
                ),
            ],
            "{api:?}"
        );
        let on_a_guess: Vec<i64> = h
            .org
            .productive
            .bookings()
            .into_iter()
            .filter(|(_, b)| b.note.as_deref().and_then(synced_absence).is_some())
            .filter(|(_, b)| guessed.contains(&b.person_id))
            .map(|(id, _)| id)
            .collect();
        assert_eq!(on_a_guess, Vec::<i64>::new(), "{api:?}: booked on a guess");
    }
}
