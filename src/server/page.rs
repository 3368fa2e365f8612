//! `/status` as one self-contained HTML page (inline style and script, no external asset),
//! readable on a phone (records become cards on a narrow screen): the hold if any, a run in progress, the last runs, and every record
//! skipped or failed grouped by reason with what to do. The email search works without script
//! (a GET form) and filters as one types with it.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::advice::{self, Advice};
use crate::store::{Issue, RunRecord};

const STYLE: &str = "\
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:70rem;padding:0 .8rem 2rem;color:#1d2430}
h1{font-size:1.3rem;margin:.8rem 0 0}h2{font-size:1.1rem;margin:1.4rem 0 .4rem}h3{font-size:1rem;margin:1rem 0 .2rem}
.meta{color:#5a6575;margin:.1rem 0}.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #dde2ea;vertical-align:top}
th{background:#f2f4f8;white-space:nowrap}td.n{text-align:right;font-variant-numeric:tabular-nums}td.d{white-space:nowrap}
.alert{background:#fdecec;border:1px solid #e0a0a0;padding:.6rem .8rem;border-radius:6px}
.info{background:#eef4fd;border:1px solid #a8c2e8;padding:.6rem .8rem;border-radius:6px}
.advice{background:#f6f8e8;border-left:4px solid #b5c24a;padding:.3rem .6rem;margin:.2rem 0 .4rem}
.suggestion{background:#eef4fd;border-left:3px solid #6f96d0;padding:.2rem .4rem;margin:.2rem 0 0}
.failed,.interrupted{color:#a32020;font-weight:600}.partial{color:#8a5a00;font-weight:600}.succeeded{color:#1d6b2f}
code{background:#eef0f4;padding:0 .2rem;border-radius:3px}
@media (max-width:40rem){.group thead{display:none}.group tr{display:block;border-bottom:1px solid #dde2ea;padding:.3rem 0}
.group td{display:block;border:0;padding:.05rem .3rem}.group td::before{content:attr(data-label) ': ';color:#5a6575}}
form{display:flex;gap:.4rem;flex-wrap:wrap;align-items:center;margin:.4rem 0}input{font:inherit;padding:.3rem;min-width:16rem;max-width:100%}";

const SCRIPT: &str = "\
const box=document.getElementById('search');
function filter(){const q=box.value.trim().toLowerCase();let any=false;
for(const g of document.querySelectorAll('section.group')){let shown=0;
for(const r of g.querySelectorAll('tbody tr')){const hit=!q||r.dataset.email.includes(q);r.hidden=!hit;if(hit)shown++;}
g.hidden=shown===0;if(shown)any=true;}
document.getElementById('no-match').hidden=any||!document.querySelector('section.group');}
box.addEventListener('input',filter);filter();";

/// `email` (maybe empty) keeps only the records whose email contains it.
pub fn render(runs: &[RunRecord], issues: &[Issue], email: &str, now: DateTime<Utc>) -> String {
    let mut out = String::with_capacity(16 * 1024);
    out.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    out.push_str("<title>personio-productive-sync status</title>");
    let _ = write!(out, "<style>{STYLE}</style></head><body>");
    let _ = write!(
        out,
        "<header><h1>personio-productive-sync</h1><p class=\"meta\">version {} · as of {} UTC</p></header>",
        env!("CARGO_PKG_VERSION"),
        now.format("%Y-%m-%d %H:%M:%S")
    );
    if let Some(held) = super::status::mass_delete_held(runs) {
        let _ = write!(
            out,
            "<section id=\"hold\" class=\"alert\"><strong>Mass deletion held.</strong> The last run would have deleted {} of the {} bookings the sync owns, so it deleted none (creates and updates went on). Check that the Personio credential still sees everyone, then release it once with <code>personio-productive-sync sync --allow-mass-delete</code>.</section>",
            held.would_delete, held.owned
        );
    }
    if let Some(run) = runs.first().filter(|r| r.outcome == "running") {
        let _ = write!(
            out,
            "<section id=\"running\" class=\"info\">A run ({}) is in progress since {} UTC{}.</section>",
            esc(&run.trigger),
            run.started_at.format("%Y-%m-%d %H:%M:%S"),
            run.progress
                .map(|p| format!(": {}", super::status::progress_line(p)))
                .unwrap_or_default()
        );
    }
    render_runs(&mut out, runs);
    render_issues(&mut out, issues, email);
    let _ = writeln!(out, "<script>{SCRIPT}</script></body></html>");
    out
}

fn render_runs(out: &mut String, runs: &[RunRecord]) {
    out.push_str("<section id=\"runs\"><h2>Last runs</h2>");
    if runs.is_empty() {
        out.push_str("<p>No sync has run yet.</p></section>");
        return;
    }
    out.push_str("<div class=\"scroll\"><table id=\"run-table\"><thead><tr><th>Started (UTC)</th><th>Trigger</th><th>Outcome</th><th>Duration</th><th>Created</th><th>Updated</th><th>Deleted</th><th>Unchanged</th><th>Skipped</th><th>Failed</th></tr></thead><tbody>");
    for run in runs {
        let kind = match (run.dry_run, run.full_read) {
            (true, _) => " (dry run)",
            (false, true) => " (full)",
            (false, false) => "",
        };
        let duration = run
            .duration_secs()
            .map(|s| format!("{s:.1} s"))
            .unwrap_or_else(|| "–".into());
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}{}</td><td class=\"{}\">{}</td><td class=\"n\">{}</td>",
            run.started_at.format("%Y-%m-%d %H:%M:%S"),
            esc(&run.trigger),
            kind,
            esc(&run.outcome),
            esc(&run.outcome),
            duration
        );
        match (&run.error, &run.counts) {
            (Some(error), _) => {
                let _ = write!(out, "<td colspan=\"6\">{}</td>", esc(error));
            }
            (None, Some(c)) => {
                for n in [
                    c.created,
                    c.updated,
                    c.deleted,
                    c.unchanged,
                    c.skipped_total(),
                    c.failed,
                ] {
                    let _ = write!(out, "<td class=\"n\">{n}</td>");
                }
            }
            (None, None) => out.push_str("<td colspan=\"6\"></td>"),
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div></section>");
}

fn render_issues(out: &mut String, issues: &[Issue], email: &str) {
    let needle = email.to_lowercase();
    let shown: Vec<&Issue> = issues
        .iter()
        .filter(|i| needle.is_empty() || email_of(i).contains(&needle))
        .collect();
    let _ = write!(
        out,
        "<section id=\"records\"><h2>Records skipped or failed ({})</h2>",
        issues.len()
    );
    let _ = write!(
        out,
        "<form method=\"get\" action=\"/status\" role=\"search\"><label for=\"search\">Search by email</label><input id=\"search\" type=\"search\" name=\"email\" value=\"{}\" placeholder=\"name@example.com\" autocomplete=\"off\"><button type=\"submit\">Search</button></form>",
        esc(email)
    );
    if issues.is_empty() {
        out.push_str("<p>No record is skipped or failed.</p>");
    }
    // Failures first (they need someone), then skips; each group once, in a fixed order.
    let mut groups: BTreeMap<(bool, &'static str), (Advice, Vec<&Issue>)> = BTreeMap::new();
    for issue in shown.iter().copied() {
        let advice = advice::for_issue(&issue.source, &issue.kind, &issue.reason);
        groups
            .entry((issue.kind != "failed", advice.code))
            .or_insert_with(|| (advice, Vec::new()))
            .1
            .push(issue);
    }
    for ((skipped, code), (advice, records)) in groups {
        let verb = if skipped { "skipped" } else { "failed" };
        let _ = write!(
            out,
            "<section class=\"group\" data-reason=\"{code}\"><h3>{} — {} {verb}</h3><p class=\"advice\"><strong>What to do:</strong> {}</p>",
            esc(advice.title),
            records.len(),
            prose(advice.todo)
        );
        out.push_str("<div class=\"scroll\"><table><thead><tr><th>Email</th><th>Dates</th><th>Personio id</th><th>Reason</th><th>Since (UTC)</th></tr></thead><tbody>");
        for i in records {
            let _ = write!(
                out,
                "<tr data-email=\"{}\"><td data-label=\"Email\">{}</td><td class=\"d\" data-label=\"Dates\">{}</td><td data-label=\"Personio id\">{}</td><td data-label=\"Reason\">{}{}</td><td class=\"d\" data-label=\"Since\">{}</td></tr>",
                esc(&email_of(i)),
                esc(i.email.as_deref().unwrap_or("–")),
                esc(i.dates.as_deref().unwrap_or("–")),
                esc(i.personio_id.as_deref().unwrap_or("–")),
                esc(&i.reason),
                i.suggestion
                    .as_ref()
                    .map(|s| format!(
                        "<p class=\"suggestion\"><strong>Likely match:</strong> {}</p>",
                        prose(&s.text)
                    ))
                    .unwrap_or_default(),
                i.since.format("%Y-%m-%d %H:%M")
            );
        }
        out.push_str("</tbody></table></div></section>");
    }
    let hidden = if shown.is_empty() && !issues.is_empty() {
        ""
    } else {
        " hidden"
    };
    let _ = write!(
        out,
        "<p id=\"no-match\"{hidden}>No record matches this email.</p></section>"
    );
}

fn email_of(issue: &Issue) -> String {
    issue.email.as_deref().unwrap_or_default().to_lowercase()
}

/// HTML-escaped, for text and attribute values alike.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escaped advice with its `backticked` parts as code.
fn prose(text: &str) -> String {
    esc(text)
        .split('`')
        .enumerate()
        .map(|(n, part)| {
            if n % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn issue(kind: &str, email: &str, reason: &str) -> Issue {
        Issue {
            key: format!("periods:{email}"),
            source: "periods".into(),
            kind: kind.into(),
            personio_id: Some("77".into()),
            email: Some(email.into()),
            dates: Some("2026-12-01..2026-12-03".into()),
            reason: reason.into(),
            suggestion: None,
            run_id: "r1".into(),
            since: Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap(),
        }
    }

    #[test]
    fn records_are_grouped_by_reason_escaped_and_filtered_by_email() {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap();
        let issues = [
            issue(
                "skipped",
                "Ann@Example.com",
                "no Productive person with this email",
            ),
            issue(
                "skipped",
                "bo@example.com",
                "no Productive person with this email",
            ),
            issue(
                "skipped",
                "<script>@x",
                "not approved in Personio (status pending)",
            ),
        ];
        let page = render(&[], &issues, "", now);
        assert_eq!(page.matches("<section class=\"group\"").count(), 2);
        assert!(page.contains("No Productive person with this email — 2 skipped"));
        assert!(page.contains("<code>sync.email_overrides</code>"));
        assert!(page.contains("&lt;script&gt;@x") && !page.contains("<script>@x"));
        assert!(page.contains("No sync has run yet"));

        let mut suggested = issues.clone();
        suggested[0].suggestion = Some(crate::domain::suggest::Suggestion {
            kind: crate::domain::suggest::SuggestionKind::PlusAddress,
            person_id: 12,
            productive_email: "ann@example.com".into(),
            deactivate: vec![],
            config_line: Some(r#""ann+hr@example.com" = "ann@example.com""#.into()),
            env: None,
            text: "Likely Productive person 12: add `\"a\" = \"b\"` <here>".into(),
        });
        let page = render(&[], &suggested, "", now);
        assert!(
            page.contains("<strong>Likely match:</strong> Likely Productive person 12: add <code>&quot;a&quot; = &quot;b&quot;</code> &lt;here&gt;</p></td>"),
            "{page}"
        );

        let page = render(&[], &issues, "ann@", now);
        assert_eq!(page.matches("<tr data-email=").count(), 1, "{page}");
        assert!(page.contains("value=\"ann@\""));
        let page = render(&[], &issues, "nobody", now);
        assert!(page.contains("<p id=\"no-match\">"));
    }
}
