//! What `status` shows: the last runs and the records currently skipped or failed, as text
//! tables or as JSON (`status --json` and `/status.json` are the same body); shared by the
//! command line and the listener.

use std::fmt::Write;

use comfy_table::{presets::NOTHING, CellAlignment, Table};

use crate::domain::{Counts, MassDeleteHold, WriteProgress};
use crate::store::{Issue, RunRecord};

#[derive(serde::Serialize)]
struct StatusView<'a> {
    /// The newest finished run's hold, if it held back its deletions.
    mass_delete_held: Option<MassDeleteHold>,
    runs: Vec<RunView<'a>>,
    issues: &'a [Issue],
}

/// What the newest finished real run held back: the hold stands until a run deletes.
pub(crate) fn mass_delete_held(runs: &[RunRecord]) -> Option<MassDeleteHold> {
    runs.iter()
        .filter(|r| !r.dry_run)
        .find_map(|r| r.counts.as_ref())
        .and_then(|c| c.mass_delete_held)
}

#[derive(serde::Serialize)]
struct RunView<'a> {
    #[serde(flatten)]
    run: &'a RunRecord,
    duration_secs: Option<f64>,
}

pub(crate) fn render_json(runs: &[RunRecord], issues: &[Issue]) -> serde_json::Result<String> {
    let view = StatusView {
        mass_delete_held: mass_delete_held(runs),
        runs: runs
            .iter()
            .map(|run| RunView {
                run,
                duration_secs: run.duration_secs(),
            })
            .collect(),
        issues,
    };
    serde_json::to_string_pretty(&view)
}

pub fn render_text(runs: &[RunRecord], issues: &[Issue]) -> String {
    let mut out = String::new();
    if let Some(held) = mass_delete_held(runs) {
        let _ = writeln!(
            out,
            "MASS DELETION HELD: the last run would have deleted {} of the {} bookings the sync \
             owns, so it deleted none (creates and updates went on). Check that the Personio \
             credential still sees everyone, then run `sync --allow-mass-delete` once.\n",
            held.would_delete, held.owned
        );
    }
    if runs.is_empty() {
        out.push_str("no sync has run yet\n");
    } else {
        let mut table = table([
            "STARTED (UTC)",
            "TRIGGER",
            "OUTCOME",
            "SECS",
            "COUNTS / ERROR",
        ]);
        if let Some(secs) = table.column_mut(3) {
            secs.set_cell_alignment(CellAlignment::Right);
        }
        for run in runs {
            let secs = run
                .duration_secs()
                .map(|s| format!("{s:.1}"))
                .unwrap_or_else(|| "-".into());
            let detail = match (&run.error, &run.counts) {
                (Some(error), _) => error.clone(),
                (None, Some(counts)) => summarize_counts(counts, run.full_read, run.dry_run),
                (None, None) => run.progress.map(progress_line).unwrap_or_default(),
            };
            table.add_row([
                run.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                run.trigger.clone(),
                run.outcome.clone(),
                secs,
                detail,
            ]);
        }
        let _ = writeln!(out, "{}", table.trim_fmt());
    }
    if issues.is_empty() {
        out.push_str("\nno skipped or failed records\n");
    } else {
        let _ = writeln!(out, "\n{} records skipped or failed:", issues.len());
        let mut table = table(["KIND", "PERSONIO ID", "EMAIL", "DATES", "REASON"]);
        for i in issues {
            table.add_row([
                i.kind.as_str(),
                i.personio_id.as_deref().unwrap_or("-"),
                i.email.as_deref().unwrap_or("-"),
                i.dates.as_deref().unwrap_or("-"),
                i.reason.as_str(),
            ]);
        }
        let _ = writeln!(out, "{}", table.trim_fmt());
        write_suggestions(&mut out, issues);
    }
    out
}

/// The likely matches of the skipped records, once per employee email.
fn write_suggestions(out: &mut String, issues: &[Issue]) {
    let mut seen = std::collections::BTreeSet::new();
    let suggested: Vec<(&str, &str)> = issues
        .iter()
        .filter_map(|i| Some((i.email.as_deref()?, i.suggestion.as_ref()?.text.as_str())))
        .filter(|(email, _)| seen.insert(email.to_lowercase()))
        .collect();
    if suggested.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nlikely matches for people skipped above (nothing is matched on a suggestion alone):"
    );
    for (email, text) in suggested {
        let _ = writeln!(out, "  {email}: {text}");
    }
}

/// Borderless like `ps`: each column as wide as its widest cell, two blanks between columns, and
/// no wrapping, so a long reason stays on its record's line.
fn table(header: [&str; 5]) -> Table {
    let mut table = Table::new();
    table.load_style(NOTHING).set_header(header);
    // The lines start at the first column, not at its padding.
    if let Some(first) = table.column_mut(0) {
        first.set_padding((0, 1));
    }
    table
}

/// "writing 1200/5000, 4.2/s, about 15m left".
pub(crate) fn progress_line(p: WriteProgress) -> String {
    let left = p
        .seconds_left()
        .map(|s| {
            let minutes = (s / 60.0).ceil() as u64;
            match minutes {
                0 | 1 => ", under a minute left".to_string(),
                m if m < 120 => format!(", about {m}m left"),
                m => format!(", about {}h left", m.div_ceil(60)),
            }
        })
        .unwrap_or_default();
    format!(
        "writing {}/{}, {:.1}/s{left}",
        p.done,
        p.total,
        p.per_second()
    )
}

fn summarize_counts(counts: &Counts, full: bool, dry_run: bool) -> String {
    format!(
        "{}{} +{} ~{} -{} ={} skipped {} failed {}",
        if full { "full" } else { "incr" },
        if dry_run { " dry" } else { "" },
        counts.created,
        counts.updated,
        counts.deleted,
        counts.unchanged,
        counts.skipped_total(),
        counts.failed
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn status_shows_runs_and_every_skipped_or_failed_record() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap();
        let runs = vec![
            RunRecord {
                id: "r2".into(),
                trigger: "signal".into(),
                dry_run: false,
                full_read: false,
                started_at: t + chrono::Duration::hours(1),
                finished_at: None,
                outcome: "failed".into(),
                progress: None,
                counts: None,
                error: Some(
                    "reading Personio failed: personio: HTTP 503: Service Unavailable".into(),
                ),
            },
            RunRecord {
                id: "r1".into(),
                trigger: "startup".into(),
                dry_run: false,
                full_read: true,
                started_at: t,
                finished_at: Some(t + chrono::Duration::milliseconds(2500)),
                outcome: "partial".into(),
                progress: None,
                counts: Some(Counts {
                    created: 12,
                    updated: 1,
                    deleted: 2,
                    unchanged: 40,
                    failed: 1,
                    skipped: [("a".to_string(), 2), ("b".to_string(), 1)].into(),
                    ..Counts::default()
                }),
                error: None,
            },
        ];
        let issues = vec![Issue {
            key: "periods:77:2026-12-01".into(),
            source: "periods".into(),
            kind: "skipped".into(),
            personio_id: Some("77".into()),
            email: Some("nobody@example.com".into()),
            dates: Some("2026-12-01..2026-12-03".into()),
            reason: "no Productive person with this email".into(),
            suggestion: None,
            run_id: "r1".into(),
            since: t,
        }];
        let text = render_text(&runs, &issues);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with("2026-11-26 09:00:00  signal   failed"),
            "{text}"
        );
        assert!(
            lines[1].ends_with("HTTP 503: Service Unavailable"),
            "{text}"
        );
        assert!(
            lines[2].contains("partial") && lines[2].contains("2.5"),
            "{text}"
        );
        assert!(
            lines[2].ends_with("full +12 ~1 -2 =40 skipped 3 failed 1"),
            "{text}"
        );
        assert!(text.contains("1 records skipped or failed:"));
        assert!(
            text.contains("skipped  77           nobody@example.com"),
            "{text}"
        );
        assert!(text.contains("no Productive person with this email"));
        assert!(render_text(&[], &[]).starts_with("no sync has run yet"));
        let running = RunRecord {
            outcome: "running".into(),
            finished_at: None,
            counts: None,
            progress: Some(WriteProgress {
                done: 1200,
                total: 5000,
                elapsed_secs: 300.0,
            }),
            ..runs[1].clone()
        };
        let text = render_text(&[running], &[]);
        assert!(
            text.contains("running") && text.contains("writing 1200/5000, 4.0/s, about 16m left"),
            "{text}"
        );
    }

    #[test]
    fn a_held_mass_deletion_heads_the_status_and_its_json() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap();
        let run = |id: &str, dry_run: bool, held: Option<MassDeleteHold>| RunRecord {
            id: id.into(),
            trigger: "schedule".into(),
            dry_run,
            full_read: false,
            started_at: t,
            finished_at: Some(t),
            outcome: "partial".into(),
            progress: None,
            counts: Some(Counts {
                mass_delete_held: held,
                ..Counts::default()
            }),
            error: None,
        };
        let hold = MassDeleteHold {
            would_delete: 40,
            owned: 100,
        };
        // Newest first: a dry run does not lift the hold of the real run before it.
        let runs = [run("r2", true, None), run("r1", false, Some(hold))];
        let text = render_text(&runs, &[]);
        assert!(
            text.starts_with("MASS DELETION HELD: the last run would have deleted 40 of the 100")
                && text.contains("sync --allow-mass-delete"),
            "{text}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render_json(&runs, &[]).unwrap()).unwrap();
        assert_eq!(
            json["mass_delete_held"],
            serde_json::json!({"would_delete": 40, "owned": 100})
        );
        // A later run that deleted lifts it.
        let lifted = [run("r3", false, None), run("r1", false, Some(hold))];
        assert!(!render_text(&lifted, &[]).contains("HELD"));
        let json: serde_json::Value =
            serde_json::from_str(&render_json(&lifted, &[]).unwrap()).unwrap();
        assert_eq!(json["mass_delete_held"], serde_json::Value::Null);
    }

    /// The character column at which `text` first occurs in `line`.
    fn column_of(line: &str, text: &str) -> usize {
        let byte = line
            .find(text)
            .unwrap_or_else(|| panic!("{text:?} not in {line:?}"));
        line[..byte].chars().count()
    }

    #[test]
    fn long_emails_and_reasons_keep_every_column_aligned() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap();
        let issue = |kind: &str, id: &str, email: &str, dates: &str, reason: &str| Issue {
            key: format!("periods:{id}"),
            source: "periods".into(),
            kind: kind.into(),
            personio_id: Some(id.into()),
            email: Some(email.into()),
            dates: Some(dates.into()),
            reason: reason.into(),
            suggestion: None,
            run_id: "r1".into(),
            since: t,
        };
        // Far wider than the 32 characters the email column used to be padded to, with a
        // non-ASCII letter: alignment counts characters, not bytes.
        let rows = [
            [
                "skipped",
                "77",
                "zoë.alexandra.montgomery-fitzgerald@subsidiary.example-holdings.com",
                "2026-12-01..2026-12-03",
                "no Productive person with this email; 2 overrides and 4,812 people checked",
            ],
            [
                "failed",
                "1234",
                "bo@example.com",
                "2026-12-07..2026-12-07",
                "Productive refused the booking: HTTP 422: the event needs an allowance first",
            ],
        ];
        let issues: Vec<Issue> = rows
            .iter()
            .map(|[kind, id, email, dates, reason]| issue(kind, id, email, dates, reason))
            .collect();
        let text = render_text(&[], &issues);
        let lines: Vec<&str> = text.lines().collect();
        let header = lines.iter().position(|l| l.starts_with("KIND")).unwrap();
        // One line per record: nothing wrapped, nothing after the table.
        assert_eq!(lines.len(), header + 1 + rows.len(), "{text}");
        let titles = ["KIND", "PERSONIO ID", "EMAIL", "DATES", "REASON"];
        let starts: Vec<usize> = titles
            .iter()
            .map(|title| column_of(lines[header], title))
            .collect();
        for (line, cells) in lines[header + 1..].iter().zip(&rows) {
            let found: Vec<usize> = cells.iter().map(|cell| column_of(line, cell)).collect();
            assert_eq!(found, starts, "{text}");
            assert!(line.ends_with(cells[4]), "{text}");
        }
        // The columns after the long email start past its end, so it is shown whole.
        assert!(starts[3] > starts[2] + rows[0][2].chars().count(), "{text}");
    }
}
