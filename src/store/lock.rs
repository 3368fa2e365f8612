//! The single-runner lock: one sync at a time per database, and a runner that dies, however it
//! dies (SIGKILL, OOM), never keeps it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sqlx::Connection;
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::{Backend, Store, StoreError};

/// Advisory-lock key for "a sync run is in progress" (any constant shared by all replicas).
const RUN_LOCK_KEY: i64 = 0x5050_5350_5953;

/// How runs exclude each other on one database.
#[derive(Debug, Clone)]
pub(super) enum Scheme {
    /// PostgreSQL: a session advisory lock on a dedicated connection, released when that
    /// connection closes, even if this process dies.
    Advisory,
    /// SQLite on a file: an OS lock on this file beside the database, which the kernel releases
    /// when the holder dies.
    File(PathBuf),
    /// In-memory SQLite exists in this store only (through sqlx `Any` every connection opens a
    /// database of its own, so two stores never share one): a mutex the store's clones share.
    InProcess(Arc<Mutex<()>>),
}

impl Scheme {
    pub(super) fn for_database(backend: Backend, url: &str) -> Self {
        match backend {
            Backend::Postgres => Self::Advisory,
            Backend::Sqlite => match sqlite_file(url) {
                Some(db) => {
                    let mut name = db.into_os_string();
                    name.push(".run-lock");
                    Self::File(name.into())
                }
                None => Self::InProcess(Arc::default()),
            },
        }
    }
}

/// Held while a sync runs; release it explicitly.
#[derive(Debug)]
pub struct RunLock(Held);

#[derive(Debug)]
enum Held {
    Advisory(sqlx::AnyConnection),
    /// Unlocked when dropped, or by the kernel if the process dies.
    File {
        _file: std::fs::File,
    },
    /// Freed when dropped.
    InProcess {
        _guard: OwnedMutexGuard<()>,
    },
}

impl Store {
    /// Takes the run lock unless another runner holds it.
    pub async fn try_lock(&self) -> Result<Option<RunLock>, StoreError> {
        let held = match &self.run_lock {
            Scheme::Advisory => {
                let mut conn = self.pool.acquire().await?.detach();
                let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(RUN_LOCK_KEY)
                    .fetch_one(&mut conn)
                    .await?;
                if !taken {
                    conn.close().await?;
                    return Ok(None);
                }
                Held::Advisory(conn)
            }
            Scheme::File(path) => match try_lock_file(path)? {
                Some(file) => Held::File { _file: file },
                None => return Ok(None),
            },
            Scheme::InProcess(mutex) => match mutex.clone().try_lock_owned() {
                Ok(guard) => Held::InProcess { _guard: guard },
                Err(_) => return Ok(None),
            },
        };
        Ok(Some(RunLock(held)))
    }
}

impl RunLock {
    pub async fn release(self) -> Result<(), StoreError> {
        if let Held::Advisory(mut conn) = self.0 {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(RUN_LOCK_KEY)
                .execute(&mut conn)
                .await?;
            conn.close().await?;
        }
        // A file or in-process lock is released by being dropped.
        Ok(())
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
