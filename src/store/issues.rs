//! The records runs skipped or could not write, with reasons.

use chrono::{DateTime, Utc};

use super::{parse_ts, ts, Store, StoreError};
use crate::domain::suggest::Suggestion;

/// A record the sync skipped or could not write, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Issue {
    pub key: String,
    /// What produced it: `periods`, `hourly`, `types`, `writes`.
    pub source: String,
    /// `skipped` or `failed`.
    pub kind: String,
    pub personio_id: Option<String>,
    pub email: Option<String>,
    pub dates: Option<String>,
    pub reason: String,
    /// A likely Productive match, for a record skipped for want of one; never acted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<Suggestion>,
    pub run_id: String,
    /// When this issue was first seen (kept across runs while it persists).
    pub since: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct IssueRow {
    key: String,
    source: String,
    kind: String,
    personio_id: Option<String>,
    email: Option<String>,
    dates: Option<String>,
    reason: String,
    suggestion: Option<String>,
    run_id: String,
    since: String,
}

impl TryFrom<IssueRow> for Issue {
    type Error = StoreError;
    fn try_from(r: IssueRow) -> Result<Self, StoreError> {
        let suggestion = r
            .suggestion
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("issue {}: suggestion: {e}", r.key)))?;
        Ok(Self {
            key: r.key,
            source: r.source,
            kind: r.kind,
            personio_id: r.personio_id,
            email: r.email,
            dates: r.dates,
            reason: r.reason,
            suggestion,
            run_id: r.run_id,
            since: parse_ts(&r.since)?,
        })
    }
}

impl Store {
    /// Makes `issues` the current issues of `sources` for run `run_id`: an issue seen before
    /// keeps its first-seen time, one not seen again goes. Streams: a large organisation's
    /// skip list is never held twice.
    pub async fn replace_issues(
        &self,
        run_id: &str,
        sources: &[&str],
        issues: impl IntoIterator<Item = Issue>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for i in issues {
            let suggestion = i
                .suggestion
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("issue {}: suggestion: {e}", i.key)))?;
            sqlx::query(
                "INSERT INTO record_issues (key, source, kind, personio_id, email, dates, reason, suggestion, run_id, since)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (key) DO UPDATE SET source = excluded.source, kind = excluded.kind,
                     personio_id = excluded.personio_id, email = excluded.email, dates = excluded.dates,
                     reason = excluded.reason, suggestion = excluded.suggestion, run_id = excluded.run_id",
            )
            .bind(&i.key)
            .bind(&i.source)
            .bind(&i.kind)
            .bind(&i.personio_id)
            .bind(&i.email)
            .bind(&i.dates)
            .bind(&i.reason)
            .bind(suggestion)
            .bind(run_id)
            .bind(ts(i.since))
            .execute(&mut *tx)
            .await?;
        }
        for source in sources {
            sqlx::query("DELETE FROM record_issues WHERE source = $1 AND run_id <> $2")
                .bind(*source)
                .bind(run_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn issues(&self) -> Result<Vec<Issue>, StoreError> {
        self.fetch_as(sqlx::query_as::<_, IssueRow>(
            "SELECT key, source, kind, personio_id, email, dates, reason, suggestion, run_id, since
             FROM record_issues ORDER BY kind, email, key",
        ))
        .await
    }
}
