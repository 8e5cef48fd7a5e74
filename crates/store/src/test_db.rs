//! The database a store test runs on: a SQLite file in a temporary directory, or, when
//! `OPENCAS_TEST_POSTGRES_URL` names a PostgreSQL server, a fresh database created there for
//! the test alone (and dropped after it), so the same test bodies cover both backends.

use crate::sealing::MasterKey;
use crate::{Location, Store};
use sqlx::Executor;
use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, ConnectOptions};
use std::str::FromStr;

pub(crate) const POSTGRES_URL_ENV: &str = "OPENCAS_TEST_POSTGRES_URL";

pub(crate) struct TestDb {
    pub store: Store,
    /// The SQLite file's directory (also present on PostgreSQL, for tests that want files).
    pub dir: tempfile::TempDir,
    /// (server URL, database name) to drop afterwards.
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub async fn new() -> Self {
        Self::with_master(&MasterKey::from_hex(&"33".repeat(32)).unwrap()).await
    }

    pub async fn with_master(master: &MasterKey) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let Some(server) = std::env::var(POSTGRES_URL_ENV).ok().filter(|u| !u.is_empty()) else {
            let store = Store::open(Location::SqliteFile(&dir.path().join("db.sqlite")), master)
                .await
                .unwrap();
            return Self {
                store,
                dir,
                postgres: None,
            };
        };
        let name = format!("opencas_test_{}", hex::encode(rand::random::<[u8; 8]>()));
        admin(&server)
            .await
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        let store = Store::open(Location::Url(&with_database(&server, &name)), master)
            .await
            .unwrap();
        Self {
            store,
            dir,
            postgres: Some((server, name)),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its
        // own does the cleanup. FORCE ends the store's pooled connections.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let _ = admin(&server)
                    .await
                    .execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .await;
            });
        })
        .join();
    }
}

async fn admin(server: &str) -> AnyConnection {
    sqlx::any::install_default_drivers();
    AnyConnectOptions::from_str(server).unwrap().connect().await.unwrap()
}

/// `server` with its database path replaced by `name` (query parameters kept).
pub(crate) fn with_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut url = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

#[test]
fn database_names_replace_the_url_path() {
    assert_eq!(with_database("postgres://u@h:5/postgres", "t"), "postgres://u@h:5/t");
    assert_eq!(with_database("postgres://u@h:5", "t"), "postgres://u@h:5/t");
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=disable", "t"),
        "postgres://u:p@h/t?sslmode=disable"
    );
}

impl std::ops::Deref for TestDb {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}
