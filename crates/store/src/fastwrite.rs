//! The issuance write on SQLite, without sqlx: group commit on a thread of its own that runs
//! every statement of a batch in place.
//!
//! Through sqlx each statement of the group writer was a round trip to the connection's worker
//! thread; under load every one of those wake-ups waited for a core, and the batch, a chain of
//! them, bounded issuance while a third of the CPU stayed idle. Here one thread takes a batch,
//! runs each issuance in its own savepoint with prepared statements, commits once (durably:
//! `synchronous = FULL`) and only then answers every caller. A write that fails is rolled
//! back to its savepoint alone.
//!
//! It holds the store's writer lock for the batch, like every other writer of the process.
//! Backends without it (PostgreSQL, issue 10) run the same write through `write_grouped`:
//! `Store::write_issued` is the one place that chooses.

use crate::cas::{ADD_ISSUED_COUNT, CA_COLUMNS};
use crate::certificates::{certificate_conflict, insert_certificate_sql};
use crate::fastread::ca_row;
use crate::tx::{INSERT_IDEMPOTENCY, INSERT_TAG};
use crate::{CaRecord, CertRecord, Result, Store, StoreError};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};
use std::path::Path;
use std::sync::{Arc, LazyLock, mpsc};
use std::time::Duration;
use tokio::sync::{Mutex, oneshot};

static FIND_CA: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {CA_COLUMNS} FROM cas WHERE account_id = $1 AND identifier = $2"));
static INSERT_CERTIFICATE: LazyLock<String> = LazyLock::new(insert_certificate_sql);

/// Most issuances in one transaction, as for `write_grouped`.
const MAX_BATCH: usize = 128;

/// One issuance to store: the certificate, its sealed key, tags and ClientToken.
#[derive(Debug, Clone)]
pub struct IssuedWrite {
    pub record: CertRecord,
    /// The issuing CA, whose quota the certificate takes.
    pub ca_identifier: String,
    pub key_pkcs8_der: Option<Vec<u8>>,
    pub tag_resource_type: &'static str,
    pub tags: Vec<(String, String)>,
    /// `(action, ClientToken)`.
    pub idempotency: Option<(&'static str, String)>,
}

/// The write with its key already sealed (sealing needs no lock; it is done by the caller).
struct Sealed {
    w: IssuedWrite,
    key_sealed: Option<Vec<u8>>,
}

/// Decides, on the CA row as it is inside the transaction, whether the issuance may go on.
/// `Fn`: a batch that must be replayed with savepoints asks again.
type Check = Box<dyn Fn(Option<&CaRecord>) -> std::result::Result<(), Refusal> + Send>;
/// A refusal of the check, handed back untouched.
type Refusal = Box<dyn std::any::Any + Send>;
type Answer = oneshot::Sender<Result<std::result::Result<(), Refusal>>>;

struct Job {
    write: Sealed,
    check: Check,
    answer: Answer,
}

#[derive(Clone)]
pub(crate) struct IssuedWriter(mpsc::Sender<Job>);

impl std::fmt::Debug for IssuedWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IssuedWriter")
    }
}

impl IssuedWriter {
    /// Opens the writer's connection on `path` (already migrated, WAL) and starts its thread;
    /// the thread ends when the last `Store` is dropped.
    pub(crate) fn start(path: &Path, writer: Arc<Mutex<()>>) -> Result<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        // the same settings as the sqlx connections: every acknowledged commit survives power loss
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(16);
        let (send, recv) = mpsc::channel();
        std::thread::Builder::new()
            .name("opencas-issued".into())
            .spawn(move || run(conn, recv, writer))
            .map_err(|e| StoreError::Batch(format!("cannot start the issuance writer: {e}")))?;
        Ok(Self(send))
    }
}

impl Store {
    /// Stores one issued certificate in a transaction shared with concurrent issuances, after
    /// `check` accepted the issuing CA as the transaction sees it, and takes one unit of the
    /// CA's quota (`Conflict("quota")` when none is left). Answers once the transaction is
    /// durable. `check`'s refusal comes back as `Ok(Err(refusal))` with nothing written.
    pub async fn write_issued<E: Send + 'static>(
        &self,
        w: IssuedWrite,
        check: impl Fn(Option<&CaRecord>) -> std::result::Result<(), E> + Send + 'static,
    ) -> Result<std::result::Result<(), E>> {
        let Some(writer) = &self.issued else {
            return self.write_issued_through_any(w, check).await;
        };
        let key_sealed = w.key_pkcs8_der.as_deref().map(|k| {
            self.keys.seal(
                &crate::certificates::key_record(w.record.account_id, &w.record.identifier),
                k,
            )
        });
        let (answer, answered) = oneshot::channel();
        let check: Check = Box::new(move |ca| check(ca).map_err(|e| Box::new(e) as Refusal));
        let job = Job {
            write: Sealed { w, key_sealed },
            check,
            answer,
        };
        writer
            .0
            .send(job)
            .map_err(|_| StoreError::Batch("the store is closed".into()))?;
        let outcome = answered
            .await
            .map_err(|_| StoreError::Batch("the write batch was abandoned".into()))??;
        Ok(outcome.map_err(|refusal| *refusal.downcast::<E>().expect("a refusal of the caller's type")))
    }

    async fn write_issued_through_any<E: Send + 'static>(
        &self,
        w: IssuedWrite,
        check: impl FnOnce(Option<&CaRecord>) -> std::result::Result<(), E> + Send + 'static,
    ) -> Result<std::result::Result<(), E>> {
        self.write_grouped(move |tx| {
            Box::pin(async move {
                let account = w.record.account_id;
                let current = tx.find_ca(account, &w.ca_identifier).await?;
                if let Err(refused) = check(current.as_ref()) {
                    return Ok(Err(refused));
                }
                tx.add_ca_issued_count(account, &w.ca_identifier, 1).await?;
                tx.insert_certificate(&w.record, w.key_pkcs8_der.as_deref()).await?;
                tx.add_tags(account, w.tag_resource_type, &w.record.identifier, &w.tags)
                    .await?;
                if let Some((action, token)) = &w.idempotency {
                    tx.record_idempotency(account, action, token, &w.record.identifier, w.record.created_at)
                        .await?;
                }
                Ok(Ok(()))
            })
        })
        .await
    }
}

fn run(conn: Connection, queue: mpsc::Receiver<Job>, writer: Arc<Mutex<()>>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH
            && let Ok(next) = queue.try_recv()
        {
            batch.push(next);
        }
        // a plain thread outside any runtime may block on the async lock
        let _writer = writer.blocking_lock();
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "the issuance writer could not begin a transaction");
            continue; // dropping the jobs answers their callers with "abandoned"
        }
        let (outcomes, poisoned) = match without_savepoints(&conn, &batch) {
            Ok(Some(outcomes)) => (outcomes, false),
            Ok(None) => with_savepoints(&conn, &batch),
            Err(e) => {
                tracing::error!(error = %e, "the issuance writer could not begin the replay of a batch");
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                continue; // rolled back; dropping the jobs answers their callers with "abandoned"
            }
        };
        let outcomes: Vec<_> = batch.into_iter().map(|job| job.answer).zip(outcomes).collect();
        let committed = if poisoned {
            Err("a write of the batch could not be isolated; the batch was rolled back".to_owned())
        } else {
            conn.execute_batch("COMMIT").map_err(|e| e.to_string())
        };
        if let Err(e) = &committed {
            tracing::error!(error = %e, writers = outcomes.len(), "issuance group commit failed");
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
        for (answer, outcome) in outcomes {
            let _ = answer.send(match &committed {
                Ok(()) => outcome,
                Err(e) => Err(StoreError::Batch(e.clone())),
            });
        }
    }
}

type Outcome = Result<std::result::Result<(), Refusal>>;

/// The common case first: every write of the batch in the open transaction, no savepoints.
/// A savepoint per write made the FTS5 search index flush a new segment per certificate on
/// every RELEASE (and merge them again), which was about a fifth of this thread's CPU;
/// without them it flushes once, at the commit. A refusal of the check or of the quota
/// changes nothing, so it needs no rollback. If a write fails after it changed something
/// (a uniqueness conflict, an I/O error), everything is rolled back and `Ok(None)` says to
/// replay the batch with a savepoint per write in a new transaction; `Err` that none could
/// be begun (nothing is left open then).
fn without_savepoints(conn: &Connection, batch: &[Job]) -> rusqlite::Result<Option<Vec<Outcome>>> {
    let mut outcomes = Vec::with_capacity(batch.len());
    for job in batch {
        match write_one(conn, &job.write, &job.check) {
            Ok(outcome) => outcomes.push(Ok(outcome)),
            Err(StoreError::Conflict("quota")) => outcomes.push(Err(StoreError::Conflict("quota"))),
            Err(_) => {
                if !conn.is_autocommit() {
                    conn.execute_batch("ROLLBACK")?;
                }
                // never replay in autocommit: each RELEASE would then commit on its own
                conn.execute_batch("BEGIN IMMEDIATE")?;
                return Ok(None);
            }
        }
    }
    Ok(Some(outcomes))
}

/// Every write in its own savepoint, so that one failure rolls back that write alone; the
/// flag says whether a savepoint could not be closed (then the transaction must not commit).
fn with_savepoints(conn: &Connection, batch: &[Job]) -> (Vec<Outcome>, bool) {
    let mut poisoned = false;
    let outcomes = batch
        .iter()
        .map(|job| {
            let (outcome, isolated) = in_savepoint(conn, &job.write, &job.check);
            poisoned |= !isolated;
            outcome
        })
        .collect();
    (outcomes, poisoned)
}

/// Runs one write in its own savepoint; the flag says whether the savepoint could be closed
/// (if not, the transaction must not commit).
fn in_savepoint(conn: &Connection, write: &Sealed, check: &Check) -> (Outcome, bool) {
    if let Err(e) = conn.execute_batch("SAVEPOINT issued") {
        return (Err(e.into()), false);
    }
    let outcome = write_one(conn, write, check);
    let mut closed = Ok(());
    if !matches!(outcome, Ok(Ok(()))) {
        closed = conn.execute_batch("ROLLBACK TO issued");
    }
    if closed.is_ok() {
        closed = conn.execute_batch("RELEASE issued");
    }
    match closed {
        Ok(()) => (outcome, true),
        Err(e) => (Err(e.into()), false),
    }
}

fn write_one(conn: &Connection, s: &Sealed, check: &Check) -> Result<std::result::Result<(), Refusal>> {
    let w = &s.w;
    let c = &w.record;
    let account = c.account_id;
    let current = conn
        .prepare_cached(&FIND_CA)?
        .query_row(params![account, w.ca_identifier], ca_row)
        .optional()?;
    if let Err(refused) = check(current.as_ref()) {
        return Ok(Err(refused));
    }
    let taken = conn
        .prepare_cached(ADD_ISSUED_COUNT)?
        .execute(params![1i64, account, w.ca_identifier])?;
    if taken == 0 {
        return Err(StoreError::Conflict("quota"));
    }
    conn.prepare_cached(&INSERT_CERTIFICATE)?
        .query_row(
            params![
                c.account_id,
                c.identifier,
                c.name,
                c.source_type,
                c.cert_type,
                c.certificate_type,
                c.status,
                c.issuer_identifier,
                c.custom_identifier,
                c.common_name,
                c.sans,
                c.subject_dn,
                c.issuer,
                c.organization,
                c.organization_unit,
                c.country,
                c.province,
                c.city,
                c.algorithm,
                c.key_algorithm,
                c.key_size,
                c.sign_algorithm,
                c.serial_no,
                c.fingerprint_md5,
                c.fingerprint_sha1,
                c.fingerprint_sha256,
                c.not_before,
                c.not_after,
                c.days,
                c.warehouse_id,
                c.resource_group_id,
                c.has_private_key as i64,
                c.cert_der,
                c.chain_pem,
                c.revoked_at,
                c.revoke_reason,
                c.created_at,
                s.key_sealed,
            ],
            |r| r.get::<_, i64>(0),
        )
        .map_err(|e| conflict(e, certificate_conflict))?;
    for (key, value) in &w.tags {
        conn.prepare_cached(INSERT_TAG)?
            .execute(params![account, w.tag_resource_type, c.identifier, key, value])
            .map_err(|e| conflict(e, |_| "tag"))?;
    }
    if let Some((action, token)) = &w.idempotency {
        conn.prepare_cached(INSERT_IDEMPOTENCY)?
            .execute(params![account, action, token, c.identifier, c.created_at])
            .map_err(|e| conflict(e, |_| "idempotency token"))?;
    }
    Ok(Ok(()))
}

/// A uniqueness violation as `Conflict(what)`, as the sqlx path reports it.
fn conflict(e: rusqlite::Error, what: impl FnOnce(&str) -> &'static str) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, message)
            if f.code == ErrorCode::ConstraintViolation
                && matches!(
                    f.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
        {
            StoreError::Conflict(what(message.as_deref().unwrap_or("")))
        }
        _ => StoreError::Read(e),
    }
}

#[cfg(test)]
#[path = "fastwrite_tests.rs"]
mod tests;
