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
pub mod cas;
pub mod certificates;
pub mod csrs;
mod fastread;
mod fastwrite;
mod group;
pub mod jobs;
pub mod listing;
pub mod orders;
pub mod revocation;
pub mod sealing;
pub mod search;
pub mod tags;
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
pub use audit::{AuditEntry, AuditFilter, AuditRecord, ChainCheck};
pub use cas::{CaFilter, CaLogRow, CaRecord, NewCa};
pub use certificates::{CertFilter, CertRecord};
pub use csrs::{CsrFilter, CsrRow, NewCsr};
pub use fastwrite::IssuedWrite;
pub use group::BoxFuture;
pub use jobs::{JobOutcome, JobRecord};
pub use listing::{OrderFilter, Page};
pub use orders::{ChallengeRecord, DvOrder, PackageRecord};
pub use revocation::{RevocationVersion, RevokedSerial, SerialStatus, StoredCrlMeta};
pub use search::{CertPage, CertQuery, Window};
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
}

pub type Result<T> = std::result::Result<T, StoreError>;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The handle every layer above holds; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// Seals access-key secrets.
    secrets: Sealer,
    /// Seals private keys of CAs, certificates and CSRs.
    keys: Sealer,
    /// One writer at a time (see `Store::begin`).
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    group: group::GroupQueue,
    /// Point reads without sqlx's worker-thread hop; `None` on backends without one.
    fast: Option<std::sync::Arc<fastread::Readers>>,
    /// The issuance writer without sqlx; `None` on backends without one.
    issued: Option<fastwrite::IssuedWriter>,
    /// Appends audit records to their hash chain (see `audit`).
    audit: audit::AuditAppender,
}

impl Store {
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
            .connect_with(options)
            .await?;
        SQLITE_MIGRATIONS.run(&pool).await?;
        let keys = Sealer::new(master, "private-key");
        let writer = std::sync::Arc::default();
        let fast = Some(std::sync::Arc::new(fastread::Readers::open(path)?));
        let issued = Some(fastwrite::IssuedWriter::start(path, std::sync::Arc::clone(&writer))?);
        Ok(Self {
            group: group::GroupQueue::start(pool.clone(), keys.clone(), std::sync::Arc::clone(&writer)),
            audit: audit::AuditAppender::start_sqlite(path, std::sync::Arc::clone(&writer))?,
            pool,
            secrets: Sealer::new(master, "access-key-secret"),
            keys,
            writer,
            fast,
            issued,
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Waits for in-flight queries, checkpoints and closes every connection.
    pub async fn close(&self) {
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await;
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
