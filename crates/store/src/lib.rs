//! opencas persistence. Only stores and loads: no decisions are made here.
//!
//! One repository per aggregate. SQL is written in the dialect SQLite and PostgreSQL
//! share (`$N` placeholders, `ON CONFLICT`, `RETURNING`) and runs through sqlx's `Any`
//! driver; the DDL lives per backend under `migrations/`.

pub mod accounts;
pub mod acme_accounts;
pub mod assets;
pub mod audit;
mod audit_sqlite;
pub mod backup;
mod ca_cache;
pub mod cas;
pub mod certificates;
pub mod csrs;
mod fastread;
mod fastwrite;
mod group;
pub mod jobs;
mod keyword;
mod keyword_buffer;
mod keyword_cache;
mod keyword_fold;
mod keyword_index;
mod keyword_matches;
mod keyword_suffixes;
pub mod listing;
pub mod nonces;
pub mod orders;
pub mod revocation;
pub mod sealing;
pub mod search;
mod sqlite_writer;
pub mod tags;
#[cfg(test)]
mod test_db;
mod tx;
pub mod uploads;
pub mod warehouses;

use sealing::{MasterKey, Sealer};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

pub use accounts::{AccessKeyRecord, AccountRecord, AccountStatus, NewAccessKey};
pub use assets::{CertClassCounts, CertCounts};
pub use audit::{AuditEntry, AuditFilter, AuditRecord, ChainCheck, EffectRecords};
pub use cas::{CaFilter, CaLogRow, CaRecord, NewCa};
pub use certificates::{CertFilter, CertName, CertRecord, CertState};
pub use csrs::{CsrFilter, CsrRow, NewCsr};
pub use fastwrite::IssuedWrite;
pub use group::BoxFuture;
pub use jobs::{JobOutcome, JobRecord};
pub use listing::{OrderFilter, Page};
pub use orders::{ChallengeRecord, DvOrder, PackageRecord};
pub use revocation::{RevocationVersion, RevokedRow, RevokedSerial, SerialStatus, StoredCrlMeta};
pub use search::{CertListRow, CertPage, CertQuery, Window};
pub use tags::{TagKind, TagRow, TagRowFilter};
pub use tx::Tx;
pub use uploads::EncryptionPair;
pub use warehouses::{NewWarehouse, WarehouseFilter, WarehouseRecord};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("not found")]
    NotFound,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// From the direct SQLite connections (`fastread`, `fastwrite`).
    #[error("database: {0}")]
    Read(#[from] rusqlite::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Seal(#[from] sealing::SealError),
    /// A grouped write's transaction failed as a whole (see `Store::write_grouped`).
    #[error("write batch: {0}")]
    Batch(String),
    #[error("{0}")]
    Unsupported(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

impl StoreError {
    /// What kept the database from writing (or reading) its files, if that is the failure:
    /// a full disk, a read-only file system, an I/O error. The transaction was rolled back.
    pub fn storage_fault(&self) -> Option<&'static str> {
        fn by_code(code: i32) -> Option<&'static str> {
            match code & 0xff {
                13 => Some("the disk is full"),
                8 => Some("the data directory is read-only"),
                10 | 14 => Some("an I/O error on the data directory"),
                _ => None,
            }
        }
        match self {
            Self::Read(rusqlite::Error::SqliteFailure(f, _)) => by_code(f.extended_code),
            Self::Database(sqlx::Error::Database(db)) => db.code().and_then(|c| c.parse().ok()).and_then(by_code),
            // group commits hand their one failure to every writer as text: SQLite's own wording
            Self::Batch(message) => [
                ("database or disk is full", 13),
                ("readonly database", 8),
                ("disk I/O error", 10),
                ("unable to open database file", 14),
            ]
            .iter()
            .find(|(text, _)| message.contains(text))
            .and_then(|(_, code)| by_code(*code)),
            _ => None,
        }
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Which database the store runs on. The SQL is shared; the few statements that differ ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded, one process: the default.
    Sqlite,
    /// Shared by any number of replicas.
    Postgres,
}

/// Where the database is: a SQLite file in the data directory, or a PostgreSQL URL.
#[derive(Clone, Debug)]
pub enum Location<'a> {
    SqliteFile(&'a Path),
    Url(&'a str),
}

/// The handle every layer above holds; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Seals access-key secrets.
    secrets: Sealer,
    /// Seals private keys of CAs, certificates and CSRs.
    keys: Sealer,
    /// One writer at a time (see `Store::begin`).
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    group: group::GroupQueue,
    /// Point reads without sqlx's worker-thread hop; `None` on backends without one.
    fast: Option<std::sync::Arc<fastread::Readers>>,
    /// The SQLite writer thread for issuances (and audit records); `None` on other backends.
    issued: Option<sqlite_writer::Queue>,
    /// Issuing CAs kept in process (`find_issuing_ca`); `None` where replicas share the database.
    ca_cache: Option<std::sync::Arc<ca_cache::CaCache>>,
    /// Appends audit records to their hash chain (see `audit`).
    audit: audit::AuditAppender,
}

impl Store {
    /// Opens and migrates the database at `location`: a `postgres://` (or `postgresql://`)
    /// URL, a `sqlite://` URL, or a SQLite file.
    pub async fn open(location: Location<'_>, master: &MasterKey) -> Result<Self> {
        match location {
            Location::SqliteFile(path) => Self::open_sqlite(path, master).await,
            Location::Url(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Self::open_postgres(url, master).await
            }
            Location::Url(url) => match url.strip_prefix("sqlite://") {
                Some(path) => Self::open_sqlite(Path::new(path.split('?').next().unwrap_or(path)), master).await,
                None => Err(StoreError::Unsupported(format!(
                    "database URL must start with postgres://, postgresql:// or sqlite://, not '{}'",
                    url.split(':').next().unwrap_or(url)
                ))),
            },
        }
    }

    /// Connects to the PostgreSQL database at `url` and migrates it (sqlx takes an advisory
    /// lock for that, so replicas starting together migrate once).
    pub async fn open_postgres(url: &str, master: &MasterKey) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        POSTGRES_MIGRATIONS.run(&pool).await?;
        let keys = Sealer::new(master, "private-key");
        // Writers of one process still queue (as on SQLite) so a replica's transactions never
        // wait on each other's row locks; across replicas the database's locks and
        // constraints decide.
        let writer = std::sync::Arc::default();
        Ok(Self {
            group: group::GroupQueue::start(
                pool.clone(),
                Backend::Postgres,
                keys.clone(),
                std::sync::Arc::clone(&writer),
            ),
            audit: audit::AuditAppender::start(
                pool.clone(),
                Backend::Postgres,
                keys.clone(),
                std::sync::Arc::clone(&writer),
            ),
            pool,
            backend: Backend::Postgres,
            secrets: Sealer::new(master, "access-key-secret"),
            keys,
            writer,
            fast: None,
            issued: None,
            ca_cache: None,
        })
    }

    /// Opens (creating if needed) the embedded SQLite database at `path` and migrates it.
    pub async fn open_sqlite(path: &Path, master: &MasterKey) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    // WAL lets the CLI write while the server runs; FULL sync makes every
                    // acknowledged commit survive power loss.
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                    )
                    .await?;
                    Ok(())
                })
            })
            .after_release(|conn, _meta| {
                Box::pin(async move {
                    // A connection comes back inside a transaction when its Transaction was
                    // dropped (a rollback is queued) or when a COMMIT failed on a full disk or a
                    // read-only file: SQLite then rolls back by itself, the queued ROLLBACK fails
                    // and sqlx keeps counting a transaction that no longer exists, so every later
                    // BEGIN on this connection would fail. Let the queue run, then drop such a
                    // connection instead of pooling it.
                    if !sqlx::Connection::is_in_transaction(conn) {
                        return Ok(true);
                    }
                    sqlx::Connection::ping(conn).await?;
                    Ok(!sqlx::Connection::is_in_transaction(conn))
                })
            })
            .connect_with(options)
            .await?;
        SQLITE_MIGRATIONS.run(&pool).await?;
        let keys = Sealer::new(master, "private-key");
        let writer = std::sync::Arc::default();
        let fast = Some(std::sync::Arc::new(fastread::Readers::open(path)?));
        let issued = sqlite_writer::Queue::start(path, std::sync::Arc::clone(&writer))?;
        Ok(Self {
            group: group::GroupQueue::start(
                pool.clone(),
                Backend::Sqlite,
                keys.clone(),
                std::sync::Arc::clone(&writer),
            ),
            audit: audit::AuditAppender::Sqlite(issued.clone()),
            pool,
            backend: Backend::Sqlite,
            secrets: Sealer::new(master, "access-key-secret"),
            keys,
            writer,
            fast,
            issued: Some(issued),
            ca_cache: Some(std::sync::Arc::default()),
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether `IssuedWrite::records` is written with its issuance (the SQLite writer does);
    /// elsewhere a call is recorded before and after its effect.
    pub fn records_effects(&self) -> bool {
        self.issued.is_some()
    }

    /// Whether other processes may share this database (so in-process state such as the
    /// nonce window cannot see everything).
    pub fn is_shared(&self) -> bool {
        self.backend == Backend::Postgres
    }

    /// The statement that opens a write transaction. SQLite takes its write lock at once so
    /// a transaction that reads first cannot fail to upgrade; PostgreSQL locks rows as they
    /// are written.
    pub(crate) fn begin_sql(backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }

    /// Waits for in-flight queries, checkpoints (SQLite) and closes every connection.
    pub async fn close(&self) {
        if self.backend == Backend::Sqlite {
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await;
        }
        self.pool.close().await;
    }
}

/// Current time as unix milliseconds, the unit every stored timestamp uses.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `NotFound` when a write that names one row by its key touched none (not the caller's, or gone).
pub(crate) fn one_row(done: sqlx::any::AnyQueryResult) -> Result<()> {
    if done.rows_affected() == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Maps a unique-constraint violation to `Conflict(what)`, anything else to `Database`.
pub(crate) fn conflict_or(err: sqlx::Error, what: &'static str) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(err),
    }
}

#[cfg(test)]
mod storage_fault_tests {
    use super::StoreError;

    fn sqlite(code: i32) -> StoreError {
        StoreError::Read(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None))
    }

    #[test]
    fn storage_faults_are_recognised_and_nothing_else() {
        assert_eq!(sqlite(13).storage_fault(), Some("the disk is full"));
        assert_eq!(sqlite(8).storage_fault(), Some("the data directory is read-only"));
        // extended codes: SQLITE_IOERR_WRITE (778), SQLITE_READONLY_DBMOVED (1032)
        assert_eq!(sqlite(778).storage_fault(), Some("an I/O error on the data directory"));
        assert_eq!(sqlite(1032).storage_fault(), Some("the data directory is read-only"));
        assert_eq!(sqlite(19).storage_fault(), None); // a constraint
        assert_eq!(sqlite(5).storage_fault(), None); // busy: a retry, not a storage fault
        let batch = StoreError::Batch("database or disk is full".into());
        assert_eq!(batch.storage_fault(), Some("the disk is full"));
        assert_eq!(StoreError::Batch("the store is closed".into()).storage_fault(), None);
        assert_eq!(StoreError::NotFound.storage_fault(), None);
    }
}
