//! The state store: runs, type mappings, the Personio period cache, the booking journal, record
//! issues and cursors. PostgreSQL in production, SQLite as the embedded default, behind one type
//! (sqlx `Any`) with the same portable SQL and the same embedded migrations.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use futures::TryStreamExt;
use secrecy::{ExposeSecret, SecretString};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Connection, Executor, Row};

pub use crate::domain::BookingKey;
use crate::domain::{AbsencePeriod, PeriodStatus};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Advisory-lock key for "a sync run is in progress" (any constant shared by all replicas).
const RUN_LOCK_KEY: i64 = 0x5050_5350_5953;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored value is unreadable: {0}")]
    Corrupt(String),
    #[error("run lock file")]
    LockFile(#[from] std::io::Error),
}

impl StoreError {
    /// Connection trouble is worth retrying; anything else needs an operator.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Database(
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
            )
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite on a file: the file locked while a sync runs.
    lock_file: Option<PathBuf>,
}

/// One sync run as recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunRecord {
    pub id: String,
    pub trigger: String,
    pub dry_run: bool,
    pub full_read: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `running`, `succeeded`, `partial` (some records failed), `failed`.
    pub outcome: String,
    pub counts: Option<serde_json::Value>,
    pub error: Option<String>,
}

impl RunRecord {
    /// How long a finished run took.
    pub fn duration_secs(&self) -> Option<f64> {
        self.finished_at
            .map(|f| (f - self.started_at).num_milliseconds() as f64 / 1000.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeMapping {
    pub personio_type_id: i64,
    pub event_id: i64,
    pub personio_name: String,
    pub created_by_sync: bool,
}

/// Where a journaled write stands. Anything but `Synced` means a write was started and its
/// outcome is not known to have been recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JournalState {
    Creating,
    Synced,
    Updating,
    Deleting,
    /// Productive refused the create (a 4xx): nothing exists, the reason is kept.
    Refused,
}

impl JournalState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Synced => "synced",
            Self::Updating => "updating",
            Self::Deleting => "deleting",
            Self::Refused => "refused",
        }
    }
}

impl FromStr for JournalState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "creating" => Self::Creating,
            "synced" => Self::Synced,
            "updating" => Self::Updating,
            "deleting" => Self::Deleting,
            "refused" => Self::Refused,
            other => return Err(StoreError::Corrupt(format!("journal state {other:?}"))),
        })
    }
}

/// A booking the sync owns (or is about to), as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub key: BookingKey,
    pub person_id: i64,
    pub event_id: i64,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub minutes: i64,
    pub note: String,
    pub booking_id: Option<i64>,
    pub state: JournalState,
    /// False while Productive holds the booking pending approval.
    pub approved: bool,
    /// Why Productive refused it (state `Refused`).
    pub error: Option<String>,
}

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
    pub run_id: String,
    /// When this issue was first seen (kept across runs while it persists).
    pub since: DateTime<Utc>,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_ts(raw: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {raw:?}: {e}")))
}

fn parse_date(raw: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|e| StoreError::Corrupt(format!("date {raw:?}: {e}")))
}

fn status_str(status: &PeriodStatus) -> &str {
    match status {
        PeriodStatus::Approved => "approved",
        PeriodStatus::Pending => "pending",
        PeriodStatus::Other(s) => s,
    }
}

impl Store {
    /// Connects (creating an SQLite file if needed). Does not migrate.
    pub async fn connect(url: &SecretString, max_connections: u32) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let raw = url.expose_secret();
        let backend = if raw.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let url = match backend {
            Backend::Sqlite if !raw.contains("mode=") => {
                let sep = if raw.contains('?') { '&' } else { '?' };
                format!("{raw}{sep}mode=rwc")
            }
            _ => raw.to_string(),
        };
        let options = AnyPoolOptions::new().max_connections(max_connections.max(1));
        let options = match backend {
            Backend::Sqlite => options.after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL lets `status` read while a run writes; the timeout rides out short locks.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    // Safe against process crashes in WAL mode; a write lost to a power cut is
                    // recovered through the booking markers.
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    // Each run reads the state once, in order: 1 MiB of page cache per
                    // connection instead of 2 keeps the daemon small without costing reads.
                    conn.execute("PRAGMA cache_size = -1024").await?;
                    Ok(())
                })
            }),
            Backend::Postgres => options,
        };
        let pool = options.connect(&url).await?;
        let lock_file = match backend {
            Backend::Sqlite => sqlite_file(raw).map(|db| {
                let mut name = db.into_os_string();
                name.push(".run-lock");
                PathBuf::from(name)
            }),
            Backend::Postgres => None,
        };
        Ok(Self {
            pool,
            backend,
            lock_file,
        })
    }

    /// Applies the embedded migrations. On PostgreSQL sqlx holds an advisory lock meanwhile, so
    /// replicas starting together apply them once.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- runs -------------------------------------------------------------------------------

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
        counts: &serde_json::Value,
        error: Option<&str>,
        finished_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sync_runs SET full_read = $1, outcome = $2, counts = $3, error = $4, finished_at = $5 WHERE id = $6",
        )
        .bind(full_read as i64)
        .bind(outcome)
        .bind(counts.to_string())
        .bind(error)
        .bind(ts(finished_at))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest runs first.
    pub async fn recent_runs(&self, limit: i64) -> Result<Vec<RunRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, trigger, dry_run, full_read, started_at, finished_at, outcome, counts, error
             FROM sync_runs ORDER BY started_at DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_from_row).collect()
    }

    // ---- type mappings ----------------------------------------------------------------------

    pub async fn mappings(&self) -> Result<Vec<TypeMapping>, StoreError> {
        let rows = sqlx::query(
            "SELECT personio_type_id, event_id, personio_name, created_by_sync FROM type_mappings ORDER BY personio_type_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TypeMapping {
                    personio_type_id: r.try_get(0)?,
                    event_id: r.try_get(1)?,
                    personio_name: r.try_get(2)?,
                    created_by_sync: r.try_get::<i64, _>(3)? != 0,
                })
            })
            .collect()
    }

    pub async fn put_mapping(&self, m: &TypeMapping) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO type_mappings (personio_type_id, event_id, personio_name, created_by_sync)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (personio_type_id) DO UPDATE SET event_id = excluded.event_id,
                 personio_name = excluded.personio_name, created_by_sync = excluded.created_by_sync",
        )
        .bind(m.personio_type_id)
        .bind(m.event_id)
        .bind(&m.personio_name)
        .bind(m.created_by_sync as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // ---- Personio period cache --------------------------------------------------------------

    pub async fn periods(&self) -> Result<Vec<AbsencePeriod>, StoreError> {
        let query = sqlx::query(
            "SELECT id, employee_id, email, type_id, type_name, status, start_date, end_date, half_day_start, half_day_end
             FROM personio_periods ORDER BY id",
        );
        self.collect_rows(query, period_from_row).await
    }

    /// Maps rows as they stream in: tens of thousands of raw rows are never held at once.
    async fn collect_rows<'q, T>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        map: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut rows = query.fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await? {
            out.push(map(&row)?);
        }
        // Growth by doubling leaves up to half the buffer unused, and these are the big reads.
        out.shrink_to_fit();
        Ok(out)
    }

    /// Writes changed periods and forgets vanished ones, in one transaction.
    pub async fn update_periods<'p>(
        &self,
        upserts: impl IntoIterator<Item = &'p AbsencePeriod>,
        removals: &[i64],
    ) -> Result<(), StoreError> {
        let mut upserts = upserts.into_iter().peekable();
        if upserts.peek().is_none() && removals.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for p in upserts {
            sqlx::query(
                "INSERT INTO personio_periods (id, employee_id, email, type_id, type_name, status, start_date, end_date, half_day_start, half_day_end)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (id) DO UPDATE SET employee_id = excluded.employee_id, email = excluded.email,
                     type_id = excluded.type_id, type_name = excluded.type_name, status = excluded.status,
                     start_date = excluded.start_date, end_date = excluded.end_date,
                     half_day_start = excluded.half_day_start, half_day_end = excluded.half_day_end",
            )
            .bind(p.id)
            .bind(p.employee_id)
            .bind(&p.email)
            .bind(p.type_id)
            .bind(&p.type_name)
            .bind(status_str(&p.status))
            .bind(p.start.to_string())
            .bind(p.end.to_string())
            .bind(p.half_day_start as i64)
            .bind(p.half_day_end as i64)
            .execute(&mut *tx)
            .await?;
        }
        for id in removals {
            sqlx::query("DELETE FROM personio_periods WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // ---- booking journal --------------------------------------------------------------------

    pub async fn journal(&self) -> Result<Vec<JournalEntry>, StoreError> {
        let query = sqlx::query(
            "SELECT period_id, part, person_id, event_id, start_date, end_date, minutes, note, booking_id, state, approved, error
             FROM synced_bookings ORDER BY period_id, part",
        );
        self.collect_rows(query, journal_from_row).await
    }

    /// Records an intent or an outcome for one owned booking.
    pub async fn put_journal(&self, e: &JournalEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO synced_bookings (period_id, part, person_id, event_id, start_date, end_date, minutes, note, booking_id, state, approved, updated_at, error)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (period_id, part) DO UPDATE SET person_id = excluded.person_id,
                 event_id = excluded.event_id, start_date = excluded.start_date, end_date = excluded.end_date,
                 minutes = excluded.minutes, note = excluded.note, booking_id = excluded.booking_id,
                 state = excluded.state, approved = excluded.approved, updated_at = excluded.updated_at,
                 error = excluded.error",
        )
        .bind(e.key.period_id)
        .bind(e.key.part)
        .bind(e.person_id)
        .bind(e.event_id)
        .bind(e.start.to_string())
        .bind(e.end.to_string())
        .bind(e.minutes)
        .bind(&e.note)
        .bind(e.booking_id)
        .bind(e.state.as_str())
        .bind(e.approved as i64)
        .bind(ts(Utc::now()))
        .bind(&e.error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn remove_journal(&self, key: BookingKey) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM synced_bookings WHERE period_id = $1 AND part = $2")
            .bind(key.period_id)
            .bind(key.part)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- issues -----------------------------------------------------------------------------

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
            sqlx::query(
                "INSERT INTO record_issues (key, source, kind, personio_id, email, dates, reason, run_id, since)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (key) DO UPDATE SET source = excluded.source, kind = excluded.kind,
                     personio_id = excluded.personio_id, email = excluded.email, dates = excluded.dates,
                     reason = excluded.reason, run_id = excluded.run_id",
            )
            .bind(&i.key)
            .bind(&i.source)
            .bind(&i.kind)
            .bind(&i.personio_id)
            .bind(&i.email)
            .bind(&i.dates)
            .bind(&i.reason)
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
        let rows = sqlx::query(
            "SELECT key, source, kind, personio_id, email, dates, reason, run_id, since
             FROM record_issues ORDER BY kind, email, key",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Issue {
                    key: r.try_get(0)?,
                    source: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    personio_id: r.try_get(3)?,
                    email: r.try_get(4)?,
                    dates: r.try_get(5)?,
                    reason: r.try_get(6)?,
                    run_id: r.try_get(7)?,
                    since: parse_ts(&r.try_get::<String, _>(8)?)?,
                })
            })
            .collect()
    }

    // ---- cursors ----------------------------------------------------------------------------

    pub async fn cursor(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM cursors WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    pub async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cursors (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // ---- the single-runner lock -------------------------------------------------------------

    /// Takes the run lock unless another runner holds it. On PostgreSQL this is a session
    /// advisory lock on a dedicated connection (released when the connection closes, even if
    /// this process dies). On SQLite it is an OS lock on a file beside the database, which the
    /// kernel releases when the holder dies however it dies (SIGKILL, OOM), plus a lease row that
    /// expires after `lease` and is renewed every third of it while held. A runner holding the
    /// file lock takes over any lease, which can only be a dead holder's: without that, every
    /// crash would lock the next runs out for one `lease`. Only an in-memory database, which
    /// has no file, relies on the lease alone.
    pub async fn try_lock(
        &self,
        holder: &str,
        lease: chrono::Duration,
    ) -> Result<Option<RunLock>, StoreError> {
        match self.backend {
            Backend::Postgres => {
                let mut conn = self.pool.acquire().await?.detach();
                let row = sqlx::query("SELECT pg_try_advisory_lock($1)")
                    .bind(RUN_LOCK_KEY)
                    .fetch_one(&mut conn)
                    .await?;
                if row.try_get::<bool, _>(0)? {
                    Ok(Some(RunLock::Advisory(conn)))
                } else {
                    conn.close().await?;
                    Ok(None)
                }
            }
            Backend::Sqlite => {
                let file = match &self.lock_file {
                    Some(path) => match try_lock_file(path)? {
                        Some(file) => Some(file),
                        None => return Ok(None),
                    },
                    None => None,
                };
                let now = Utc::now();
                let taken = sqlx::query(
                    "INSERT INTO run_lease (name, holder, expires_at) VALUES ('sync', $1, $2)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                     WHERE run_lease.expires_at < $3 OR run_lease.holder = excluded.holder OR $4 = 1",
                )
                .bind(holder)
                .bind(ts(now + lease))
                .bind(ts(now))
                .bind(i64::from(file.is_some()))
                .execute(&self.pool)
                .await?
                .rows_affected();
                if taken != 1 {
                    return Ok(None);
                }
                let renewal = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(renew_lease(
                    self.pool.clone(),
                    holder.to_string(),
                    lease,
                )));
                Ok(Some(RunLock::Lease {
                    pool: self.pool.clone(),
                    holder: holder.to_string(),
                    renewal,
                    _file: file,
                }))
            }
        }
    }
}

/// Held while a sync runs; release it explicitly.
#[derive(Debug)]
pub enum RunLock {
    Advisory(sqlx::AnyConnection),
    Lease {
        pool: AnyPool,
        holder: String,
        /// Dropping the lock (or the process) ends the renewals.
        renewal: tokio_util::task::AbortOnDropHandle<()>,
        /// Unlocked when dropped (after the row is deleted), or by the kernel if the process dies.
        _file: Option<std::fs::File>,
    },
}

impl RunLock {
    pub async fn release(self) -> Result<(), StoreError> {
        match self {
            Self::Advisory(mut conn) => {
                sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(RUN_LOCK_KEY)
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
            }
            Self::Lease {
                pool,
                holder,
                renewal,
                ..
            } => {
                drop(renewal);
                sqlx::query("DELETE FROM run_lease WHERE name = 'sync' AND holder = $1")
                    .bind(holder)
                    .execute(&pool)
                    .await?;
            }
        }
        Ok(())
    }
}

/// Keeps a lease alive while its holder runs.
async fn renew_lease(pool: AnyPool, holder: String, lease: chrono::Duration) {
    let every = (lease / 3)
        .to_std()
        .unwrap_or(std::time::Duration::from_secs(10));
    loop {
        tokio::time::sleep(every).await;
        let renewed =
            sqlx::query("UPDATE run_lease SET expires_at = $1 WHERE name = 'sync' AND holder = $2")
                .bind(ts(Utc::now() + lease))
                .bind(&holder)
                .execute(&pool)
                .await;
        if let Err(e) = renewed {
            tracing::warn!(error = %e, "could not renew the run lease");
        }
    }
}

/// The database file of an SQLite URL (`sqlite://path`, `sqlite:path`, with or without query);
/// `None` for an in-memory database.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = path.is_empty() || path == ":memory:" || query.contains("mode=memory");
    (!in_memory).then(|| PathBuf::from(path))
}

/// Takes an exclusive lock (`flock` on Unix) on `path` (created if missing) without waiting:
/// the file while locked, `None` if another open file holds it.
fn try_lock_file(path: &Path) -> std::io::Result<Option<std::fs::File>> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

fn run_from_row(r: &AnyRow) -> Result<RunRecord, StoreError> {
    let counts: Option<String> = r.try_get(7)?;
    Ok(RunRecord {
        id: r.try_get(0)?,
        trigger: r.try_get(1)?,
        dry_run: r.try_get::<i64, _>(2)? != 0,
        full_read: r.try_get::<i64, _>(3)? != 0,
        started_at: parse_ts(&r.try_get::<String, _>(4)?)?,
        finished_at: r
            .try_get::<Option<String>, _>(5)?
            .map(|t| parse_ts(&t))
            .transpose()?,
        outcome: r.try_get(6)?,
        counts: counts
            .map(|c| serde_json::from_str(&c))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("run counts: {e}")))?,
        error: r.try_get(8)?,
    })
}

fn period_from_row(r: &AnyRow) -> Result<AbsencePeriod, StoreError> {
    Ok(AbsencePeriod {
        id: r.try_get(0)?,
        employee_id: r.try_get(1)?,
        email: r.try_get(2)?,
        type_id: r.try_get(3)?,
        type_name: r.try_get(4)?,
        status: PeriodStatus::parse(&r.try_get::<String, _>(5)?),
        start: parse_date(&r.try_get::<String, _>(6)?)?,
        end: parse_date(&r.try_get::<String, _>(7)?)?,
        half_day_start: r.try_get::<i64, _>(8)? != 0,
        half_day_end: r.try_get::<i64, _>(9)? != 0,
    })
}

fn journal_from_row(r: &AnyRow) -> Result<JournalEntry, StoreError> {
    Ok(JournalEntry {
        key: BookingKey {
            period_id: r.try_get(0)?,
            part: r.try_get(1)?,
        },
        person_id: r.try_get(2)?,
        event_id: r.try_get(3)?,
        start: parse_date(&r.try_get::<String, _>(4)?)?,
        end: parse_date(&r.try_get::<String, _>(5)?)?,
        minutes: r.try_get(6)?,
        note: r.try_get(7)?,
        booking_id: r.try_get(8)?,
        state: r.try_get::<String, _>(9)?.parse()?,
        approved: r.try_get::<i64, _>(10)? != 0,
        error: r.try_get(11)?,
    })
}
