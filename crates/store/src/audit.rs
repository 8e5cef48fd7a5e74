//! The audit log: an append-only table whose rows form a hash chain.
//!
//! Every record stores `prev_hash` (the previous record's `hash`, 64 zeros for the first) and
//! `hash = SHA-256(prev_hash || canonical(record))`, so an edited, deleted or reordered row
//! breaks the chain at that row. Appends go through one appender that gathers the records
//! arriving while a commit is under way into the next transaction (group commit) and answers
//! every waiter once that transaction is durable; it reads the chain head inside each
//! transaction rather than trusting memory, so a failed commit or another appender on the
//! same database cannot fork the chain (the primary key on `seq` refuses a second record
//! with the same number).
//!
//! Deleting the newest records is invisible to the chain alone (the rest still verifies):
//! `verify` reports the head so that an operator can compare it with one kept elsewhere.

use crate::tx::Tx;
use crate::{Backend, Result, Store, StoreError};
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Most records one transaction takes.
const MAX_BATCH: usize = 256;
/// Rows per INSERT statement (15 binds each, well under every backend's bind limit).
const ROWS_PER_INSERT: usize = 32;
pub(crate) const COLUMNS: &str = "seq, at_ms, kind, account_id, access_key_id, action, version, request_id, source, \
                       params, resources, status, code, prev_hash, hash";

/// What a record says, before the chain gives it a number and a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Unix milliseconds.
    pub at_ms: i64,
    /// `call` (written before a state-changing call runs), `result` (its outcome, written
    /// before the response is sent) or `auth` (a refused authentication).
    pub kind: String,
    /// The authenticated account; `None` for refused authentication.
    pub account_id: Option<i64>,
    /// The credential presented (access key id, or a bearer token's hash prefix).
    pub access_key_id: Option<String>,
    pub action: String,
    pub version: String,
    pub request_id: String,
    /// The peer address of the connection.
    pub source: String,
    /// The request parameters as a JSON object, secrets already masked.
    pub params: String,
    /// The resources the call named or created, as a JSON object.
    pub resources: String,
    /// HTTP status of the answer; `None` on a `call` record.
    pub status: Option<i64>,
    /// `OK` or the error code; `None` on a `call` record.
    pub code: Option<String>,
}

/// The `call` and `result` records of a call whose only effect is one issuance, written in
/// that issuance's own transaction (only by the SQLite writer: `Store::records_effects`). Both
/// records exist exactly when the effect does, which is what the two separate records of the
/// usual protocol guarantee (no effect the log does not know of) at a third of its round trips.
#[derive(Debug, Clone)]
pub struct EffectRecords {
    pub call: AuditEntry,
    pub result: AuditEntry,
    /// Set once the records and the effect are durable, before the writer answers; read by
    /// whoever must record the call if they were not (a cut-off or a refused call).
    pub written: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: i64,
    pub entry: AuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

/// The canonical serialisation the hash covers: a JSON array in a fixed order, the
/// sequence number included so that moving a record to another position breaks the chain.
pub fn canonical(seq: i64, e: &AuditEntry) -> Vec<u8> {
    let value = (
        seq,
        e.at_ms,
        &e.kind,
        e.account_id,
        &e.access_key_id,
        &e.action,
        &e.version,
        &e.request_id,
        &e.source,
        &e.params,
        &e.resources,
        e.status,
        &e.code,
    );
    serde_json::to_vec(&value).expect("a tuple of strings and integers serialises")
}

/// `hex(SHA-256(prev_hash || canonical))`, `prev_hash` as its 64 hex characters.
pub fn chain_hash(prev_hash: &str, seq: i64, e: &AuditEntry) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(canonical(seq, e));
    hex::encode(h.finalize())
}

/// Which records `audit_list` returns.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Unix milliseconds, inclusive.
    pub since_ms: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub until_ms: Option<i64>,
    pub account_id: Option<i64>,
    pub action: Option<String>,
    pub limit: Option<i64>,
}

/// The outcome of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainCheck {
    /// Every record links to the one before; `head` is the last record's hash.
    Intact { records: i64, head: String },
    /// The first record whose link does not hold, and why.
    Broken { seq: i64, reason: String },
}

pub(crate) type Waiter = oneshot::Sender<std::result::Result<i64, String>>;

/// Leaves out of a batch the outcome records (`result`, `use`) nobody waits for any more: their
/// request was cut off by the timeout, and the wire layer records the outcome the caller did
/// hear (408) in a record of its own. Keeping both would log two outcomes for one call.
pub(crate) fn drop_abandoned_outcomes(batch: &mut Vec<(AuditEntry, Waiter)>) {
    batch.retain(|(entry, waiter)| !(waiter.is_closed() && matches!(entry.kind.as_str(), "result" | "use")));
}

/// The queue in front of the appender; dropping the last `Store` ends it.
#[derive(Debug, Clone)]
pub(crate) enum AuditAppender {
    /// Through sqlx, for any backend.
    Any(mpsc::UnboundedSender<(AuditEntry, Waiter)>),
    /// On SQLite, the one writer thread (see `sqlite_writer`).
    Sqlite(crate::sqlite_writer::Queue),
}

impl AuditAppender {
    pub(crate) fn start(pool: AnyPool, backend: Backend, keys: crate::sealing::Sealer, writer: Arc<Mutex<()>>) -> Self {
        let (send, recv) = mpsc::unbounded_channel();
        // Its own thread and runtime, as for the group writer: every state-changing request
        // waits on it twice, and its wake-ups must not queue behind request tasks.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime for the audit appender");
        std::thread::Builder::new()
            .name("opencas-audit".into())
            .spawn(move || runtime.block_on(run(recv, pool, backend, keys, writer)))
            .expect("spawn the audit appender thread");
        Self::Any(send)
    }
}

impl Store {
    /// Appends one record to the chain and answers with its sequence number once it is
    /// durable. An error means the record is not stored.
    pub async fn audit_append(&self, entry: AuditEntry) -> Result<i64> {
        let (answer, answered) = oneshot::channel();
        let sent = match &self.audit {
            AuditAppender::Any(queue) => queue.send((entry, answer)).is_ok(),
            AuditAppender::Sqlite(queue) => queue.send(crate::sqlite_writer::Work::Audit(entry, answer)),
        };
        if !sent {
            return Err(StoreError::Batch("the audit appender has stopped".into()));
        }
        answered
            .await
            .map_err(|_| StoreError::Batch("the audit batch was abandoned".into()))?
            .map_err(StoreError::Batch)
    }

    /// Records matching `filter`, oldest first.
    pub async fn audit_list(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        // Conditions are added only for the filters given: `$1 IS NULL OR ...` leaves the
        // parameter's type open, which PostgreSQL refuses.
        let mut conditions = Vec::new();
        for (given, cond) in [
            (filter.since_ms.is_some(), "at_ms >="),
            (filter.until_ms.is_some(), "at_ms <"),
            (filter.account_id.is_some(), "account_id ="),
            (filter.action.is_some(), "action ="),
        ] {
            if given {
                conditions.push(format!("{cond} ${}", conditions.len() + 1));
            }
        }
        let where_sql = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_log {where_sql} ORDER BY seq LIMIT ${}",
            conditions.len() + 1
        );
        // only constants and `$N` placeholders are formatted into the statement
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        for v in [filter.since_ms, filter.until_ms, filter.account_id]
            .into_iter()
            .flatten()
        {
            q = q.bind(v);
        }
        if let Some(action) = &filter.action {
            q = q.bind(action.as_str());
        }
        let rows = q.bind(filter.limit.unwrap_or(i64::MAX)).fetch_all(&self.pool).await?;
        rows.iter().map(record).collect()
    }

    /// Walks the whole chain in sequence order and checks every link and hash.
    pub async fn audit_verify(&self) -> Result<ChainCheck> {
        const PAGE: i64 = 1000;
        let sql = format!("SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
        let (mut last_seq, mut last_hash, mut records) = (0i64, GENESIS.to_owned(), 0i64);
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(last_seq)
                .bind(PAGE)
                .fetch_all(&self.pool)
                .await?;
            if rows.is_empty() {
                return Ok(ChainCheck::Intact {
                    records,
                    head: last_hash,
                });
            }
            for row in &rows {
                let r = record(row)?;
                if let Some(reason) = check_link(last_seq, &last_hash, &r) {
                    return Ok(ChainCheck::Broken { seq: r.seq, reason });
                }
                last_seq = r.seq;
                last_hash = r.hash;
                records += 1;
            }
        }
    }
}

/// Why `r` does not follow the record `(prev_seq, prev_hash)`, if it does not.
pub fn check_link(prev_seq: i64, prev_hash: &str, r: &AuditRecord) -> Option<String> {
    if r.seq != prev_seq + 1 {
        return Some(format!(
            "sequence jumps from {prev_seq} to {} (records missing before it)",
            r.seq
        ));
    }
    if r.prev_hash != prev_hash {
        return Some(
            "prev_hash does not match the previous record's hash (a record before it was changed, removed or moved)"
                .into(),
        );
    }
    if chain_hash(&r.prev_hash, r.seq, &r.entry) != r.hash {
        return Some("hash does not match the record's contents (the record was edited)".into());
    }
    None
}

fn record(row: &sqlx::any::AnyRow) -> Result<AuditRecord> {
    Ok(AuditRecord {
        seq: row.try_get("seq")?,
        entry: AuditEntry {
            at_ms: row.try_get("at_ms")?,
            kind: row.try_get("kind")?,
            account_id: row.try_get("account_id")?,
            access_key_id: row.try_get("access_key_id")?,
            action: row.try_get("action")?,
            version: row.try_get("version")?,
            request_id: row.try_get("request_id")?,
            source: row.try_get("source")?,
            params: row.try_get("params")?,
            resources: row.try_get("resources")?,
            status: row.try_get("status")?,
            code: row.try_get("code")?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

async fn run(
    mut queue: mpsc::UnboundedReceiver<(AuditEntry, Waiter)>,
    pool: AnyPool,
    backend: Backend,
    keys: crate::sealing::Sealer,
    writer: Arc<Mutex<()>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        drop_abandoned_outcomes(&mut batch);
        if batch.is_empty() {
            continue;
        }
        let (entries, waiters): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        let outcome = append(&pool, backend, &keys, &writer, &entries).await;
        if let Err(e) = &outcome {
            tracing::error!(error = %e, records = entries.len(), "audit append failed");
        }
        for (i, waiter) in waiters.into_iter().enumerate() {
            let _ = waiter.send(match &outcome {
                Ok(first) => Ok(first + i as i64),
                Err(e) => Err(e.to_string()),
            });
        }
    }
}

/// The `(seq, prev_hash, hash)` of `entries` appended after the record `(seq, hash)`.
pub(crate) fn links<E: std::borrow::Borrow<AuditEntry>>(
    mut seq: i64,
    mut prev: String,
    entries: &[E],
) -> Vec<(i64, String, String)> {
    entries
        .iter()
        .map(|e| {
            seq += 1;
            let hash = chain_hash(&prev, seq, e.borrow());
            (seq, std::mem::replace(&mut prev, hash.clone()), hash)
        })
        .collect()
}

/// Appends `entries` in one transaction; answers the first one's sequence number.
async fn append(
    pool: &AnyPool,
    backend: Backend,
    keys: &crate::sealing::Sealer,
    writer: &Arc<Mutex<()>>,
    entries: &[AuditEntry],
) -> Result<i64> {
    let mut tx = Tx::begin(pool, backend, keys.clone(), writer.clone()).await?;
    if backend == Backend::Postgres {
        // Replicas share one chain: each append holds this lock (released at commit) from
        // reading the head to writing after it, so no two write the same sequence number.
        sqlx::query("SELECT pg_advisory_xact_lock(7358118001)")
            .execute(tx.conn())
            .await?;
    }
    let head = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(tx.conn())
        .await?;
    let (seq, prev) = match head {
        Some(row) => (row.try_get::<i64, _>("seq")?, row.try_get::<String, _>("hash")?),
        None => (0, GENESIS.to_owned()),
    };
    let first = seq + 1;
    let records = links(seq, prev, entries);
    for (chunk, links) in entries.chunks(ROWS_PER_INSERT).zip(records.chunks(ROWS_PER_INSERT)) {
        let placeholders: Vec<String> = (0..chunk.len())
            .map(|r| {
                let cols: Vec<String> = (1..=15).map(|c| format!("${}", r * 15 + c)).collect();
                format!("({})", cols.join(", "))
            })
            .collect();
        let sql = format!("INSERT INTO audit_log ({COLUMNS}) VALUES {}", placeholders.join(", "));
        // only constants and `$N` placeholders are formatted into the statement
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        for (e, (seq, prev_hash, hash)) in chunk.iter().zip(links) {
            q = q
                .bind(*seq)
                .bind(e.at_ms)
                .bind(e.kind.as_str())
                .bind(e.account_id)
                .bind(e.access_key_id.as_deref())
                .bind(e.action.as_str())
                .bind(e.version.as_str())
                .bind(e.request_id.as_str())
                .bind(e.source.as_str())
                .bind(e.params.as_str())
                .bind(e.resources.as_str())
                .bind(e.status)
                .bind(e.code.as_deref())
                .bind(prev_hash.as_str())
                .bind(hash.as_str());
        }
        q.execute(tx.conn()).await?;
    }
    tx.commit().await?;
    Ok(first)
}

#[cfg(test)]
#[path = "audit_tests.rs"]
mod tests;
