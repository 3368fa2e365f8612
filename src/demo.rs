//! The one-command demo: both simulators in-process on loopback with a generated organisation, a
//! full sync with a report, then three changes in Personio and a second run showing exactly them.
//! The organisation has one employee whose Personio email carries a `+tag` (the report shows the
//! suggested override), and the demo's type rules map one type onto another event and exclude one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{Duration, NaiveDate, Utc};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use crate::app;
use crate::config::Settings;
use crate::config::TypeSettings;
use crate::domain::type_rules::TypeRef;
use crate::sim::generate::{self, Counterpart, Org, OrgSpec};
use crate::sim::personio::{SimEmployee, SimTimeOff};
use crate::sim::productive::SimPerson;
use crate::sim::SimServer;
use crate::sync::Trigger;
use crate::sync::{RunOptions, RunReport, Syncer};

const EMPLOYEES: usize = 50;
const PERIODS_PER_EMPLOYEE: usize = 6;
/// The simulated Productive allows this many times its real request counts, and the daemon's
/// budget grows alike, so the demo takes seconds while still being paced like production.
const RATE_SCALE: u32 = 10;
/// The demo's `[sync.types]`: who plans need not see sick leave as such, nor unpaid leave at all.
const MAPPED: (&str, &str) = ("Sick leave", "Absence");
const EXCLUDED: &str = "Unpaid leave";
/// An employee whose Personio email has a `+tag` her Productive account lacks.
const TAGGED: (&str, &str) = ("ann.tagged+hr@example.com", "ann.tagged@example.com");

/// What the demo did, for callers that check it (the report text is what it printed).
pub struct Demo {
    pub first: RunReport,
    pub second: RunReport,
    pub report: String,
}

pub async fn run(settings: &Settings, state: Option<SecretString>) -> anyhow::Result<ExitCode> {
    let progress = std::io::stderr().is_terminal();
    let demo = demo(settings, state.as_ref(), |line| {
        if progress {
            eprintln!("demo: {line}");
        }
    })
    .await?;
    print!("{}", demo.report);
    Ok(ExitCode::SUCCESS)
}

/// Runs the demo; `progress` hears about each long phase as it starts. The state goes to `state`
/// when given, else to a temporary database: never to the configured `database.url`, which may
/// well be production's (simulated periods, journal and cursors there would make it skip its
/// next full read and later delete simulator ids in the real Productive).
pub async fn demo(
    settings: &Settings,
    state: Option<&SecretString>,
    progress: impl Fn(&str),
) -> anyhow::Result<Demo> {
    let today = Utc::now().with_timezone(&settings.timezone()?).date_naive();
    progress("generating an organisation and starting the simulators");
    let org = generate::generate(&OrgSpec::new(EMPLOYEES, PERIODS_PER_EMPLOYEE, today));
    add_tagged_employee(&org, today);
    org.productive.set_rate_limit_scale(f64::from(RATE_SCALE));
    let personio_server = org.personio.start().await?;
    let productive_server = org.productive.start().await?;

    // Held until the demo ends: the temporary database lives in it.
    let temp = tempfile::tempdir().context("creating a temporary directory for the demo state")?;
    let state_url = match state {
        Some(url) => url.clone(),
        None => SecretString::from(format!(
            "sqlite://{}",
            temp.path().join("demo-state.db").display()
        )),
    };
    let settings = demo_settings(settings, &personio_server, &productive_server, state_url)?;
    let store = app::open_store(&settings).await?;
    let syncer = app::build_syncer(&settings, store.clone())?;

    let mut report = String::new();
    let _ = writeln!(
        report,
        "Simulated organisation: {} Personio employees with {} absence periods; {} Productive people.",
        org.personio.employees().len(),
        org.personio.time_offs().len(),
        org.productive.people().len(),
    );
    let _ = writeln!(
        report,
        "Personio at {}, Productive at {}/api/v2 (rate limits ×{RATE_SCALE}); state in {}.\n",
        personio_server.url(),
        productive_server.url(),
        match state {
            Some(_) => "the database given with --state",
            None => "a temporary SQLite database",
        }
    );
    let _ = writeln!(
        report,
        "Type rules: {:?} booked on the event {:?}; {EXCLUDED:?} excluded.\n",
        MAPPED.0, MAPPED.1
    );

    progress("first sync (full)");
    // Full even when a store given with --state remembers a recent reconcile.
    let first = sync(&syncer, &org, &mut report, "First sync (full)").await?;
    suggestions(&store, &mut report).await?;

    let changes = change_personio(&org, &first, today)?;
    let _ = writeln!(report, "== Changes made in Personio ==");
    for line in &changes {
        let _ = writeln!(report, "  {line}");
    }
    let _ = writeln!(report);

    progress("second sync");
    // Personio does not report deleted periods; only a full read notices that one is gone.
    let second = sync(
        &syncer,
        &org,
        &mut report,
        "Second sync (full read, as only that sees a deletion in Personio)",
    )
    .await?;
    store.close().await;
    Ok(Demo {
        first,
        second,
        report,
    })
}

/// The user's settings pointed at the simulators, with the generator's credentials.
fn demo_settings(
    user: &Settings,
    personio: &SimServer,
    productive: &SimServer,
    state: SecretString,
) -> anyhow::Result<Settings> {
    let mut s = user.clone();
    s.personio.base_url = personio.url().parse()?;
    s.personio.client_id = generate::CLIENT_ID.into();
    s.personio.client_secret = SecretString::from(generate::CLIENT_SECRET);
    s.productive.base_url = format!("{}/api/v2", productive.url()).parse()?;
    s.productive.api_token = SecretString::from(generate::API_TOKEN);
    s.productive.organization_id = generate::ORGANIZATION_ID.into();
    s.productive.requests_per_10s *= RATE_SCALE;
    s.productive.requests_per_30min *= RATE_SCALE;
    s.database.url = state;
    s.sync.types = TypeSettings {
        exclude: vec![TypeRef::Text(EXCLUDED.into())],
        map: BTreeMap::from([(MAPPED.0.to_string(), MAPPED.1.to_string())]),
    };
    Ok(s)
}

/// Ann, whose absences the first sync cannot book: no Productive person has her Personio email,
/// and the report suggests the override that would match her.
fn add_tagged_employee(org: &Org, today: NaiveDate) {
    let employee_id = org
        .personio
        .add_employee(SimEmployee::new("Ann", "Tagged", TAGGED.0));
    org.productive
        .add_person(SimPerson::new("Ann", "Tagged", Some(TAGGED.1)));
    let start = today + Duration::days(10);
    org.personio.add_time_off(SimTimeOff {
        employee_id,
        type_id: org.types.vacation,
        start,
        end: start + Duration::days(1),
        half_day_start: false,
        half_day_end: false,
        status: "approved".into(),
        comment: None,
    });
}

/// The likely matches `status` shows for employees the run could not match, one per employee.
async fn suggestions(store: &crate::store::Store, report: &mut String) -> anyhow::Result<()> {
    let mut by_email = BTreeMap::new();
    for issue in store.issues().await? {
        if let (Some(email), Some(s)) = (issue.email, issue.suggestion) {
            by_email.entry(email).or_insert(s);
        }
    }
    if by_email.is_empty() {
        return Ok(());
    }
    let _ = writeln!(
        report,
        "Suggested matches (as `status` shows them; never applied alone):"
    );
    for (email, s) in by_email {
        let _ = writeln!(report, "  {email}: {}", s.text);
        if let Some(line) = s.config_line {
            let _ = writeln!(report, "    add under [sync.email_overrides]: {line}");
        }
    }
    let _ = writeln!(report);
    Ok(())
}

/// One full run, rendered into `report` with its requests per simulator.
async fn sync(
    syncer: &Syncer,
    org: &Org,
    report: &mut String,
    title: &str,
) -> anyhow::Result<RunReport> {
    org.personio.control().requests.reset();
    org.productive.control().requests.reset();
    let options = RunOptions {
        trigger: Trigger::Manual,
        dry_run: false,
        force_full: true,
        allow_mass_delete: false,
        named: Vec::new(),
    };
    let run = syncer
        .run(options, CancellationToken::new())
        .await
        .context("demo sync run failed")?;
    let _ = writeln!(report, "== {title} ==\nWritten, per person:");
    report.push_str(&indent(&run.render_plan()));
    if !run.plan.creates.is_empty() {
        let _ = writeln!(report, "Created, per Productive event:");
        report.push_str(&indent(&per_event(&run)));
    }
    if !run.skipped.is_empty() {
        let _ = writeln!(report, "Skipped, by reason:");
        report.push_str(&indent(&run.render_skipped()));
    }
    if !run.failed.is_empty() {
        let _ = writeln!(
            report,
            "Failed writes (retried every run until fixed in Productive):"
        );
        report.push_str(&run.render_failed());
    }
    let productive = &org.productive.control().requests;
    let _ = writeln!(
        report,
        "{}\nRequests: Personio {}, Productive {} ({} writes)\n",
        run.render_counts(),
        org.personio.control().requests.total(),
        productive.total(),
        productive.writes(),
    );
    Ok(run)
}

/// How many bookings the run created on each event (where the type rules show).
fn per_event(run: &RunReport) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for c in run
        .plan
        .creates
        .iter()
        .filter(|c| !run.failed.contains_key(&c.key))
    {
        *counts.entry(run.events.name(c.shape.event)).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(event, n)| format!("{event}: {n}\n"))
        .collect()
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

/// Moves one synced vacation day, deletes another and adds a new one, each for a different
/// person, and describes what it did. It picks single future full days booked as one booking so
/// that each change is exactly one write.
fn change_personio(org: &Org, first: &RunReport, today: NaiveDate) -> anyhow::Result<Vec<String>> {
    let mut parts: HashMap<i64, usize> = HashMap::new();
    for c in &first.plan.creates {
        *parts.entry(c.key.period_id).or_default() += 1;
    }
    let written: HashSet<i64> = first
        .plan
        .creates
        .iter()
        .filter(|c| !first.failed.contains_key(&c.key))
        .map(|c| c.key.period_id)
        .collect();
    let employees: HashMap<i64, &generate::GeneratedEmployee> =
        org.employees.iter().map(|e| (e.personio_id, e)).collect();
    let mut seen_employees = HashSet::new();
    let picks: Vec<(i64, SimTimeOff)> = org
        .personio
        .time_offs()
        .into_iter()
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .filter(|(id, p)| {
            parts.get(id) == Some(&1)
                && written.contains(id)
                && p.type_id == org.types.vacation
                && p.start == p.end
                && !p.half_day_start
                && !p.half_day_end
                && p.start > today
                && matches!(
                    employees.get(&p.employee_id).map(|e| e.counterpart),
                    Some(Counterpart::Matched(_))
                )
        })
        .filter(|(_, p)| seen_employees.insert(p.employee_id))
        .take(3)
        .collect();
    let [(moved_id, moved), (deleted_id, deleted), (_, template)] = picks.as_slice() else {
        anyhow::bail!("the generated organisation has too few single vacation days to change");
    };
    let email = |p: &SimTimeOff| employees[&p.employee_id].email.clone();
    // Two and four weeks keep the weekday and the phase of two-week rotations: same capacity.
    let moved_to = moved.start + Duration::days(14);
    org.personio.update_time_off(*moved_id, |p| {
        p.start = moved_to;
        p.end = moved_to;
    });
    org.personio.delete_time_off(*deleted_id);
    let added = SimTimeOff {
        start: template.start + Duration::days(28),
        end: template.end + Duration::days(28),
        ..template.clone()
    };
    let added_start = added.start;
    let added_id = org.personio.add_time_off(added);
    Ok(vec![
        format!(
            "moved:   absence {moved_id} of {} from {} to {moved_to}",
            email(moved),
            moved.start
        ),
        format!(
            "deleted: absence {deleted_id} of {} on {}",
            email(deleted),
            deleted.start
        ),
        format!(
            "added:   absence {added_id} of {} on {added_start}",
            email(template)
        ),
    ])
}
