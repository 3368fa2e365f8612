//! What a run did, for the run record, logs, `sync --dry-run` and the demo.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use chrono::NaiveDate;

use super::desired::Skip;
use super::events::{EventMap, EventRef};
use super::plan::Plan;
use crate::domain::{BookingKey, Counts};
use crate::store::Issue;

#[derive(Debug, Clone)]
pub struct RunReport {
    pub run_id: String,
    /// A full reconcile (rather than an incremental read).
    pub full: bool,
    pub dry_run: bool,
    /// Stopped early by a shutdown; the rest is written next run.
    pub interrupted: bool,
    pub counts: Counts,
    pub plan: Plan,
    pub skipped: Vec<Skip>,
    /// Writes of this run that failed (or whose outcome is unknown), by the booking they were for.
    pub failed: BTreeMap<BookingKey, Issue>,
    /// Productive person id → email (or name), for rendering.
    pub names: HashMap<i64, String>,
    /// The types' events and their names, for rendering moves between events.
    pub events: EventMap,
    pub elapsed: std::time::Duration,
}

/// "8h", "6.5h", "3h53m".
pub fn hours(minutes: i64) -> String {
    if minutes % 60 == 0 {
        format!("{}h", minutes / 60)
    } else if minutes % 30 == 0 {
        format!("{:.1}h", minutes as f64 / 60.0)
    } else {
        format!("{}h{:02}m", minutes / 60, minutes % 60)
    }
}

fn dates(start: NaiveDate, end: NaiveDate) -> String {
    if start == end {
        start.to_string()
    } else {
        format!("{start}..{end}")
    }
}

/// `sync` exits with this when a run still had transient failures when it gave up (partial).
pub const EXIT_PARTIAL: u8 = 3;
/// `sync` exits with this when the mass-deletion guard held this run's deletions.
pub const EXIT_MASS_DELETE_HELD: u8 = 4;

impl RunReport {
    /// The outcome the run record keeps: `interrupted` (a stop came first), `partial` (some
    /// records failed or deletions were held) or `succeeded`.
    pub fn outcome(&self) -> &'static str {
        let c = &self.counts;
        if self.interrupted {
            "interrupted"
        } else if c.failed > 0 || c.mass_delete_held.is_some() {
            "partial"
        } else {
            "succeeded"
        }
    }

    /// The exit code of `sync` for this run: a held mass deletion outranks transient failures;
    /// records Productive refuses for good are reported and do not change it.
    pub fn exit_code(&self) -> u8 {
        if self.counts.mass_delete_held.is_some() {
            EXIT_MASS_DELETE_HELD
        } else if self.counts.failed_transient > 0 || self.interrupted {
            EXIT_PARTIAL
        } else {
            0
        }
    }

    /// The plan per person: `+` create, `~` update, `-` delete, `✓` approve. After a real run
    /// this is what was written: failed writes are left out (see [`RunReport::render_failed`]).
    pub fn render_plan(&self) -> String {
        let done = |key: &BookingKey| !self.failed.contains_key(key);
        let mut lines: BTreeMap<String, Vec<(NaiveDate, String)>> = BTreeMap::new();
        let name = |id: i64| {
            self.names
                .get(&id)
                .cloned()
                .unwrap_or_else(|| format!("person {id}"))
        };
        for c in self.plan.creates.iter().filter(|c| done(&c.key)) {
            lines.entry(name(c.shape.person_id)).or_default().push((
                c.shape.start,
                format!(
                    "+ create {:<23} {:>6}/day  absence {}",
                    dates(c.shape.start, c.shape.end),
                    hours(c.shape.minutes),
                    c.key.period_id
                ),
            ));
        }
        for (was, c) in self.plan.updates.iter().filter(|(_, c)| done(&c.key)) {
            let was_on = EventRef::Id(was.shape.event);
            // A type rule moved it: say where from and to.
            let moved = match was_on == c.shape.event {
                true => String::new(),
                false => format!(
                    ", moves from {} to {}",
                    self.events.name(was_on),
                    self.events.name(c.shape.event)
                ),
            };
            lines.entry(name(c.shape.person_id)).or_default().push((
                c.shape.start,
                format!(
                    "~ update {:<23} {:>6}/day  absence {} (was {} {}/day{moved})",
                    dates(c.shape.start, c.shape.end),
                    hours(c.shape.minutes),
                    c.key.period_id,
                    dates(was.shape.start, was.shape.end),
                    hours(was.shape.minutes)
                ),
            ));
        }
        for d in self.plan.deletes.iter().filter(|d| done(&d.key)) {
            lines.entry(name(d.shape.person_id)).or_default().push((
                d.shape.start,
                format!(
                    "- delete {:<23} {:>6}/day  absence {}",
                    dates(d.shape.start, d.shape.end),
                    hours(d.shape.minutes),
                    d.key.period_id
                ),
            ));
        }
        for a in self.plan.approvals.iter().filter(|a| done(&a.key)) {
            lines.entry(name(a.shape.person_id)).or_default().push((
                a.shape.start,
                format!(
                    "✓ approve {:<22} absence {}",
                    dates(a.shape.start, a.shape.end),
                    a.key.period_id
                ),
            ));
        }
        let mut out = String::new();
        for (person, mut items) in lines {
            items.sort();
            let _ = writeln!(out, "{person}");
            for (_, line) in items {
                let _ = writeln!(out, "  {line}");
            }
        }
        if out.is_empty() {
            out.push_str("nothing to change\n");
        }
        out
    }

    /// Skipped records grouped by reason.
    pub fn render_skipped(&self) -> String {
        let mut by_reason: BTreeMap<&str, Vec<&Skip>> = BTreeMap::new();
        for s in &self.skipped {
            by_reason.entry(&s.reason).or_default().push(s);
        }
        let mut out = String::new();
        for (reason, skips) in by_reason {
            let _ = writeln!(out, "{reason} ({})", skips.len());
            for s in skips {
                let _ = writeln!(
                    out,
                    "  {} {} (Personio {})",
                    s.email,
                    s.dates(),
                    s.personio_id
                );
            }
        }
        out
    }

    /// Failed writes, one line each with the API's reason.
    pub fn render_failed(&self) -> String {
        let mut out = String::new();
        for issue in self.failed.values() {
            let _ = writeln!(
                out,
                "  {} {} (Personio {}): {}",
                issue.email.as_deref().unwrap_or("-"),
                issue.dates.as_deref().unwrap_or("-"),
                issue.personio_id.as_deref().unwrap_or("-"),
                issue.reason
            );
        }
        out
    }

    pub fn render_counts(&self) -> String {
        let c = &self.counts;
        let mut out = format!(
            "{} run{}: {} created, {} updated, {} deleted, {} unchanged, {} approved, {} skipped, {} failed",
            if self.full { "full" } else { "incremental" },
            if self.dry_run { " (dry run)" } else { "" },
            c.created,
            c.updated,
            c.deleted,
            c.unchanged,
            c.approved,
            c.skipped_total(),
            c.failed
        );
        if self.dry_run {
            let _ = write!(
                out,
                "; would create {}, update {}, delete {}",
                c.planned_creates, c.planned_updates, c.planned_deletes
            );
        }
        if c.adopted + c.drift_repaired + c.events_created + c.events_renamed > 0 {
            let _ = write!(
                out,
                "; {} adopted, {} drift repaired, {} events created, {} renamed",
                c.adopted, c.drift_repaired, c.events_created, c.events_renamed
            );
        }
        if self.interrupted {
            out.push_str("; interrupted by shutdown");
        }
        let _ = write!(out, " in {:.1}s", self.elapsed.as_secs_f64());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_hours() {
        assert_eq!(hours(480), "8h");
        assert_eq!(hours(390), "6.5h");
        assert_eq!(hours(233), "3h53m");
    }
}
