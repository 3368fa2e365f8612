//! The state store: runs, type mappings, the Personio period cache, the booking journal, record
//! issues and cursors, one file each. PostgreSQL in production, SQLite as the embedded default,
//! behind one type (sqlx `Any`) with the same portable SQL and the same embedded migrations.

mod cursors;
mod identities;
mod issues;
mod journal;
mod lock;
mod mappings;
mod periods;
mod runs;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use futures::TryStreamExt;
use secrecy::{ExposeSecret, SecretString};
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::query::QueryAs;
use sqlx::{Any, AnyPool, Executor, FromRow};

pub use crate::domain::BookingKey;
pub use issues::Issue;
pub use lock::RunLock;
pub use mappings::TypeMapping;
pub use runs::RunRecord;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

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
    /// How runs exclude each other on this database.
    run_lock: lock::Scheme,
}

impl Store {
    /// Connects (creating an SQLite file if needed) with sqlx's usual wait for a connection.
    /// Does not migrate.
    pub async fn connect(url: &SecretString, max_connections: u32) -> Result<Self, StoreError> {
        Self::connect_waiting(url, max_connections, Duration::from_secs(30)).await
    }

    /// Like [`Store::connect`]; a statement waits at most `acquire_timeout` for a connection and
    /// then fails transiently, so an unreachable server fails a run instead of stalling it.
    pub async fn connect_waiting(
        url: &SecretString,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let (options, backend, open) = pool_options(url, max_connections, acquire_timeout);
        let pool = options.connect(&open).await?;
        Ok(Self::with_pool(pool, backend, url))
    }

    /// Like [`Store::connect_waiting`], but connects only when a statement first needs it: for
    /// readers that must start while the server is down (the HTTP listener). Does not migrate.
    pub fn connect_lazy(
        url: &SecretString,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let (options, backend, open) = pool_options(url, max_connections, acquire_timeout);
        let pool = options.connect_lazy(&open)?;
        Ok(Self::with_pool(pool, backend, url))
    }

    fn with_pool(pool: AnyPool, backend: Backend, url: &SecretString) -> Self {
        Self {
            pool,
            backend,
            run_lock: lock::Scheme::for_database(backend, url.expose_secret()),
        }
    }

    /// Opens an existing store only to look at it (`check`): a SQLite file that is missing is an
    /// error rather than created, and nothing is written, not even a pragma.
    pub async fn inspect(url: &SecretString) -> Result<Self, StoreError> {
        let raw = url.expose_secret();
        let (backend, url) = open_url(raw, "ro");
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(&url)
            .await?;
        Ok(Self {
            pool,
            backend,
            run_lock: lock::Scheme::for_database(backend, raw),
        })
    }

    /// How many of the embedded migrations the database has not applied (all of them when it
    /// has no migrations table yet).
    pub async fn pending_migrations(&self) -> usize {
        let applied: Vec<(i64,)> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await
                .unwrap_or_default();
        let applied: std::collections::HashSet<i64> = applied.into_iter().map(|(v,)| v).collect();
        MIGRATOR
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .count()
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

    /// Reads rows of `R` and converts each as it streams in: tens of thousands of raw rows are
    /// never held at once.
    async fn fetch_as<'q, R, T>(
        &self,
        query: QueryAs<'q, Any, R, AnyArguments<'q>>,
    ) -> Result<Vec<T>, StoreError>
    where
        R: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
        T: TryFrom<R, Error = StoreError>,
    {
        let mut rows = query.fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await? {
            out.push(T::try_from(row)?);
        }
        // Growth by doubling leaves up to half the buffer unused, and the big reads come here.
        out.shrink_to_fit();
        Ok(out)
    }
}

/// The pool settings for a read-write store, its backend and the URL to open.
fn pool_options(
    url: &SecretString,
    max_connections: u32,
    acquire_timeout: Duration,
) -> (AnyPoolOptions, Backend, String) {
    let (backend, open) = open_url(url.expose_secret(), "rwc");
    let options = AnyPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(acquire_timeout);
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
    (options, backend, open)
}

/// The backend of a database URL, and the URL to open: a SQLite one gets `mode` (`rwc` creates
/// the file, `ro` opens an existing one read-only) unless it names one itself.
fn open_url(raw: &str, sqlite_mode: &str) -> (Backend, String) {
    sqlx::any::install_default_drivers();
    if !raw.starts_with("sqlite:") {
        return (Backend::Postgres, raw.to_string());
    }
    if raw.contains("mode=") {
        return (Backend::Sqlite, raw.to_string());
    }
    let sep = if raw.contains('?') { '&' } else { '?' };
    (Backend::Sqlite, format!("{raw}{sep}mode={sqlite_mode}"))
}

/// Timestamps are stored as RFC 3339 text (portable, and ordered as text).
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
