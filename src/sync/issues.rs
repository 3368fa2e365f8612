//! The issue records of one run: skipped records, unreadable records and failed writes, each with
//! its reason, logged once and stored for `status`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::suggest::Suggestion;
use crate::domain::{BookingKey, RejectedRecord};
use crate::store::Issue;
use crate::telemetry::error_chain;

use super::desired::Skip;
use super::error::SyncError;
use crate::domain::Counts;

/// The issues a run collected so far, by source (`types`, `people`, `periods`, `hourly`,
/// `writes`). A source present here is replaced in the store, even when it has none left.
pub type IssueSets = BTreeMap<&'static str, Vec<Issue>>;

/// A write that failed, with the record it was for.
pub struct FailedWrite {
    pub key: BookingKey,
    pub person_id: i64,
    /// The Personio email when the write knew it (creates, updates).
    pub email: Option<String>,
    pub dates: String,
    pub error: SyncError,
}

impl FailedWrite {
    pub fn new(
        key: BookingKey,
        person_id: i64,
        email: Option<String>,
        (start, end): (NaiveDate, NaiveDate),
        error: SyncError,
    ) -> Self {
        let dates = if start == end {
            start.to_string()
        } else {
            format!("{start}..{end}")
        };
        Self {
            key,
            person_id,
            email,
            dates,
            error,
        }
    }
}

/// Builds the issue records of one run.
pub struct Issues<'a> {
    pub run_id: &'a str,
    pub now: DateTime<Utc>,
}

impl Issues<'_> {
    fn make(
        &self,
        source: &str,
        kind: &str,
        id: Option<String>,
        email: Option<String>,
        dates: Option<String>,
        reason: String,
    ) -> Issue {
        Issue {
            // Dates tell apart the parts of one period.
            key: format!(
                "{source}:{}:{}",
                id.clone().unwrap_or_else(|| reason.clone()),
                dates.clone().unwrap_or_default()
            ),
            source: source.to_string(),
            kind: kind.to_string(),
            personio_id: id,
            email,
            dates,
            reason,
            suggestion: None,
            run_id: self.run_id.to_string(),
            since: self.now,
        }
    }

    pub fn failed(&self, source: &str, id: Option<String>, reason: String) -> Issue {
        self.make(source, "failed", id, None, None, reason)
    }

    /// Logs a failed write and turns it into its issue record. A write that knows no Personio
    /// email (a delete, an approval) names the person by their Productive email.
    pub fn write_failure(&self, failed: FailedWrite, emails: &HashMap<i64, String>) -> Issue {
        let reason = error_chain(&failed.error);
        let email = failed
            .email
            .or_else(|| emails.get(&failed.person_id).cloned());
        tracing::warn!(personio_id = failed.key.period_id, part = failed.key.part, email = email.as_deref().unwrap_or("-"), dates = %failed.dates, error = %reason, "write failed");
        self.make(
            "writes",
            "failed",
            Some(failed.key.period_id.to_string()),
            email,
            Some(failed.dates),
            reason,
        )
    }

    pub fn unreadable(&self, source: &str, records: &[RejectedRecord]) -> Vec<Issue> {
        records
            .iter()
            .map(|r| {
                self.failed(
                    source,
                    r.id.clone(),
                    format!("unreadable record: {}", r.reason),
                )
            })
            .collect()
    }

    /// Logs a skipped record and counts it by reason.
    pub fn log_skip(&self, skip: &Skip, counts: &mut Counts) {
        tracing::info!(personio_id = %skip.personio_id, email = %skip.email, dates = %skip.dates(), reason = %skip.reason, "skipped");
        *counts.skipped.entry(skip.reason.clone()).or_default() += 1;
    }

    /// The issue records of skipped records.
    pub fn skips<'s>(
        &'s self,
        source: &'s str,
        skips: &'s [Skip],
    ) -> impl Iterator<Item = Issue> + Send + 's {
        const NONE: &BTreeMap<i64, Suggestion> = &BTreeMap::new();
        self.skips_suggesting(source, skips, NONE)
    }

    /// The issue records of skipped periods, each with its likely match if there is one
    /// (`suggestions` by period id).
    pub fn skips_suggesting<'s>(
        &'s self,
        source: &'s str,
        skips: &'s [Skip],
        suggestions: &'s BTreeMap<i64, Suggestion>,
    ) -> impl Iterator<Item = Issue> + Send + 's {
        skips.iter().map(move |skip| {
            let suggestion = skip
                .personio_id
                .parse()
                .ok()
                .and_then(|id: i64| suggestions.get(&id));
            Issue {
                suggestion: suggestion.cloned(),
                ..self.skip(source, skip)
            }
        })
    }

    fn skip(&self, source: &str, skip: &Skip) -> Issue {
        self.make(
            source,
            "skipped",
            Some(skip.personio_id.clone()),
            Some(skip.email.clone()),
            Some(skip.dates()),
            skip.reason.clone(),
        )
    }
}
