//! One row per sync run, for `status` and operators.

use chrono::{DateTime, Utc};

use super::{parse_ts, ts, Store, StoreError};
use crate::domain::{Counts, WriteProgress};

/// One sync run as recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunRecord {
    pub id: String,
    pub trigger: String,
    pub dry_run: bool,
    pub full_read: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `running`, `succeeded`, `partial` (some records failed or deletions were held),
    /// `interrupted` (stopped by a shutdown; the next run goes on), `failed`.
    pub outcome: String,
    /// `None` for a run that failed or is still running.
    pub counts: Option<Counts>,
    /// The write phase's progress, last recorded (while running: at most every 30 s).
    pub progress: Option<WriteProgress>,
    pub error: Option<String>,
}

impl RunRecord {
    /// How long a finished run took.
    pub fn duration_secs(&self) -> Option<f64> {
        self.finished_at
            .map(|f| (f - self.started_at).num_milliseconds() as f64 / 1000.0)
    }
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: String,
    trigger: String,
    dry_run: i64,
    full_read: i64,
    started_at: String,
    finished_at: Option<String>,
    outcome: String,
    counts: Option<String>,
    progress: Option<String>,
    error: Option<String>,
}

impl TryFrom<RunRow> for RunRecord {
    type Error = StoreError;
    fn try_from(r: RunRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            trigger: r.trigger,
            dry_run: r.dry_run != 0,
            full_read: r.full_read != 0,
            started_at: parse_ts(&r.started_at)?,
            finished_at: r.finished_at.as_deref().map(parse_ts).transpose()?,
            outcome: r.outcome,
            counts: r
                .counts
                .map(|c| serde_json::from_str(&c))
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("run counts: {e}")))?,
            // Only informative: an unreadable one is shown as none.
            progress: r.progress.and_then(|p| serde_json::from_str(&p).ok()),
            error: r.error,
        })
    }
}

impl Store {
    /// Records how far a running run's write phase is.
    pub async fn set_progress(&self, id: &str, progress: &WriteProgress) -> Result<(), StoreError> {
        let progress = serde_json::to_string(progress)
            .map_err(|e| StoreError::Corrupt(format!("run progress: {e}")))?;
        sqlx::query("UPDATE sync_runs SET progress = $1 WHERE id = $2")
            .bind(progress)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn begin_run(
        &self,
        id: &str,
        trigger: &str,
        dry_run: bool,
        started_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sync_runs (id, trigger, dry_run, started_at, outcome) VALUES ($1, $2, $3, $4, 'running')",
        )
        .bind(id)
        .bind(trigger)
        .bind(dry_run as i64)
        .bind(ts(started_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn finish_run(
        &self,
        id: &str,
        full_read: bool,
        outcome: &str,
        counts: Option<&Counts>,
        error: Option<&str>,
        finished_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let counts = counts
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("run counts: {e}")))?;
        sqlx::query(
            "UPDATE sync_runs SET full_read = $1, outcome = $2, counts = $3, error = $4, finished_at = $5 WHERE id = $6",
        )
        .bind(full_read as i64)
        .bind(outcome)
        .bind(counts)
        .bind(error)
        .bind(ts(finished_at))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest runs first.
    pub async fn recent_runs(&self, limit: i64) -> Result<Vec<RunRecord>, StoreError> {
        let query = sqlx::query_as::<_, RunRow>(
            "SELECT id, trigger, dry_run, full_read, started_at, finished_at, outcome, counts, progress, error
             FROM sync_runs ORDER BY started_at DESC, id DESC LIMIT $1",
        )
        .bind(limit);
        self.fetch_as(query).await
    }
}
