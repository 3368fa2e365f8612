//! Shared test helpers: fresh databases on both backends.

use secrecy::SecretString;

use personio_productive_sync::store::Store;

/// The PostgreSQL server tests use; override with `TEST_POSTGRES_URL` (a server URL without a
/// database name).
fn postgres_server() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A database a test owns alone; dropped with the value.
pub struct TestDb {
    pub url: SecretString,
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = SecretString::from(format!(
        "sqlite://{}",
        dir.path().join("state.db").display()
    ));
    let store = Store::connect(&url, 4).await.unwrap();
    store.migrate().await.unwrap();
    TestDb {
        url,
        store,
        _dir: Some(dir),
    }
}

/// A fresh PostgreSQL database. Fails loudly (never skips) when no server answers.
pub async fn postgres_db() -> TestDb {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let server = postgres_server();
    let admin_url = format!("{server}/postgres");
    let mut admin = sqlx::AnyConnection::connect(&admin_url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is required for this test and is not reachable at {server} ({e}). \
             Start it (e.g. `pg_ctlcluster 15 main start`, as .ci/run does) or set TEST_POSTGRES_URL."
        )
    });
    let name = format!("pps_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = SecretString::from(format!("{server}/{name}"));
    let store = Store::connect(&url, 4).await.unwrap();
    store.migrate().await.unwrap();
    TestDb {
        url,
        store,
        _dir: None,
    }
}

/// Both backends, for contract tests.
pub async fn all_dbs() -> Vec<(&'static str, TestDb)> {
    vec![
        ("sqlite", sqlite_db().await),
        ("postgres", postgres_db().await),
    ]
}
