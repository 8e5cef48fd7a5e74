//! The issuance write on SQLite, without sqlx: the statements of a batch of issuances, run in
//! place by the one SQLite writer thread (`sqlite_writer`) inside its durable transaction.
//!
//! Through sqlx each statement of the group writer was a round trip to the connection's worker
//! thread; under load every one of those wake-ups waited for a core, and the batch, a chain of
//! them, bounded issuance while a third of the CPU stayed idle. Here the writer thread runs the
//! batch with prepared statements and answers every caller only after its commit (durably:
//! `synchronous = FULL`). A write that fails is rolled back alone (see `write_jobs`).
//!
//! Backends without that thread (PostgreSQL, issue 10) run the same write through
//! `write_grouped`: `Store::write_issued` is the one place that chooses.

use crate::cas::{ADD_ISSUED_COUNT, CA_COLUMNS};
use crate::certificates::{certificate_conflict, insert_certificate_sql};
use crate::fastread::ca_row;
use crate::sqlite_writer::Work;
use crate::tx::{INSERT_IDEMPOTENCY, INSERT_TAG};
use crate::{AuditEntry, CaRecord, CertRecord, EffectRecords, Result, Store, StoreError};
use rusqlite::{Connection, ErrorCode, OptionalExtension, ToSql, params, params_from_iter};
use std::sync::LazyLock;
use tokio::sync::oneshot;

static FIND_CA: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {CA_COLUMNS} FROM cas WHERE account_id = $1 AND identifier = $2"));
static INSERT_CERTIFICATE: LazyLock<String> = LazyLock::new(|| insert_certificate_sql().replace(" RETURNING id", ""));
/// `INSERT_CERTIFICATES[k]` inserts `2^k` rows.
static INSERT_CERTIFICATES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let single = INSERT_CERTIFICATE.as_str();
    let head = &single[..single.find(" VALUES ").expect("an INSERT ... VALUES")];
    assert_eq!(
        single.matches('$').count(),
        CERTIFICATE_COLUMNS,
        "one bind per certificate column"
    );
    (0..=MAX_ROWS_PER_INSERT.trailing_zeros() as usize)
        .map(|k| {
            let rows: Vec<String> = (0..1 << k)
                .map(|r| {
                    let cols: Vec<String> = (1..=CERTIFICATE_COLUMNS)
                        .map(|c| format!("${}", r * CERTIFICATE_COLUMNS + c))
                        .collect();
                    format!("({})", cols.join(", "))
                })
                .collect();
            format!("{head} VALUES {}", rows.join(", "))
        })
        .collect()
});
/// Values per certificate row (38 binds: 128 rows stay far under SQLite's 32,766).
const CERTIFICATE_COLUMNS: usize = 38;
/// Rows of the largest certificate INSERT, a power of two.
const MAX_ROWS_PER_INSERT: usize = 128;

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
    /// The call's audit records, written in the same transaction when the certificate is
    /// (only where `Store::records_effects`).
    pub records: Option<EffectRecords>,
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

pub(crate) struct Job {
    write: Sealed,
    check: Check,
    answer: Answer,
}

impl Job {
    pub(crate) fn answer(self, outcome: Outcome) {
        let _ = self.answer.send(outcome);
    }

    /// A job carrying its call's records whose caller has gone (cut off by the request
    /// timeout): it is not written, since the wire layer records the call and the 408 the
    /// caller heard, and the records would tell of a second outcome.
    pub(crate) fn abandoned_with_records(&self) -> bool {
        self.write.w.records.is_some() && self.answer.is_closed()
    }

    /// The records to append if the write succeeded.
    pub(crate) fn records(&self) -> Option<[&AuditEntry; 2]> {
        self.write.w.records.as_ref().map(|r| [&r.call, &r.result])
    }

    /// Tells whoever waits on the records that they are durable.
    pub(crate) fn mark_recorded(&self) {
        if let Some(r) = &self.write.w.records {
            r.written.store(true, std::sync::atomic::Ordering::Release);
        }
    }

    /// A job whose check accepts any CA that exists, answered on the returned receiver.
    #[cfg(test)]
    pub(crate) fn accepting(w: IssuedWrite) -> (Self, oneshot::Receiver<Outcome>) {
        let (answer, answered) = oneshot::channel();
        let check: Check = Box::new(|ca| ca.map(|_| ()).ok_or_else(|| Box::new("no CA") as Refusal));
        let write = Sealed { w, key_sealed: None };
        (Self { write, check, answer }, answered)
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
            if w.records.is_some() {
                // the caller asked `records_effects` first: this is a bug, refused before any write
                return Err(StoreError::Batch("effect records need the SQLite writer".into()));
            }
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
        if !writer.send(Work::Issue(job)) {
            return Err(StoreError::Batch("the store is closed".into()));
        }
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

/// Runs `batch` in the writer's transaction, which must hold nothing yet, and says how each
/// write went; the flag says whether a write could not be isolated (then the transaction must
/// not commit). `Err`: the batch could not be run (the caller rolls the transaction back).
pub(crate) fn write_jobs(conn: &Connection, batch: &[Job]) -> rusqlite::Result<(Vec<Outcome>, bool)> {
    Ok(match without_savepoints(conn, batch)? {
        Some(outcomes) => (outcomes, false),
        None => with_savepoints(conn, batch),
    })
}

pub(crate) type Outcome = Result<std::result::Result<(), Refusal>>;

/// The common case first: every write of the batch in the open transaction, no savepoints.
/// A savepoint per write made the FTS5 search index flush a new segment per certificate on
/// every RELEASE (and merge them again), which was about a fifth of this thread's CPU;
/// without them, and with the certificate rows inserted together at the end, it flushes
/// about once per batch. A refusal of the check or of the quota
/// changes nothing, so it needs no rollback. If a write fails after it changed something
/// (a uniqueness conflict, an I/O error), the transaction is rolled back and begun again, and
/// `Ok(None)` says to replay the batch with a savepoint per write. (A savepoint around the
/// whole batch would instead copy every page the batch touches to the statement journal.)
fn without_savepoints(conn: &Connection, batch: &[Job]) -> rusqlite::Result<Option<Vec<Outcome>>> {
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut rows = Vec::with_capacity(batch.len());
    for job in batch {
        match write_one(conn, &job.write, &job.check, false) {
            Ok(Ok(())) => {
                rows.push(&job.write);
                outcomes.push(Ok(Ok(())));
            }
            Ok(Err(refused)) => outcomes.push(Ok(Err(refused))),
            Err(StoreError::Conflict("quota")) => outcomes.push(Err(StoreError::Conflict("quota"))),
            Err(_) => return begin_again(conn),
        }
    }
    // last, so that no statement after them flushes the search index again
    if insert_certificates(conn, &rows).is_err() {
        return begin_again(conn);
    }
    Ok(Some(outcomes))
}

/// Rolls the transaction back and begins another for the replay with savepoints.
fn begin_again(conn: &Connection) -> rusqlite::Result<Option<Vec<Outcome>>> {
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK")?;
    }
    // never replay in autocommit: each RELEASE would then commit on its own
    conn.execute_batch("BEGIN IMMEDIATE")?;
    Ok(None)
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
    let outcome = write_one(conn, write, check, true);
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

/// The statements of one write; its certificate row only if `insert_now` (else the caller
/// inserts it with others, see `insert_certificates`).
fn write_one(
    conn: &Connection,
    s: &Sealed,
    check: &Check,
    insert_now: bool,
) -> Result<std::result::Result<(), Refusal>> {
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
    if insert_now {
        conn.prepare_cached(&INSERT_CERTIFICATE)?
            .execute(params_from_iter(certificate_params(s)))
            .map_err(|e| conflict(e, certificate_conflict))?;
    }
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

/// The certificate row's values, in the order of `insert_certificate_sql`'s columns.
fn certificate_params(s: &Sealed) -> [&dyn ToSql; CERTIFICATE_COLUMNS] {
    let c = &s.w.record;
    [
        &c.account_id,
        &c.identifier,
        &c.name,
        &c.source_type,
        &c.cert_type,
        &c.certificate_type,
        &c.status,
        &c.issuer_identifier,
        &c.custom_identifier,
        &c.common_name,
        &c.sans,
        &c.subject_dn,
        &c.issuer,
        &c.organization,
        &c.organization_unit,
        &c.country,
        &c.province,
        &c.city,
        &c.algorithm,
        &c.key_algorithm,
        &c.key_size,
        &c.sign_algorithm,
        &c.serial_no,
        &c.fingerprint_md5,
        &c.fingerprint_sha1,
        &c.fingerprint_sha256,
        &c.not_before,
        &c.not_after,
        &c.days,
        &c.warehouse_id,
        &c.resource_group_id,
        &c.has_private_key,
        &c.cert_der,
        &c.chain_pem,
        &c.revoked_at,
        &c.revoke_reason,
        &c.created_at,
        &s.key_sealed,
    ]
}

/// Inserts the certificate rows of `rows` with as few statements as the cached sizes allow
/// (at most one per power of two). The `AFTER INSERT` trigger that feeds the FTS5 search
/// index makes SQLite open a statement savepoint for every INSERT, and FTS5 flushes its
/// pending index data to a new segment at each; one statement for many rows flushes once.
fn insert_certificates(conn: &Connection, rows: &[&Sealed]) -> rusqlite::Result<()> {
    let mut rest = rows;
    while !rest.is_empty() {
        let size = rest.len().min(MAX_ROWS_PER_INSERT);
        let size = 1 << (usize::BITS - 1 - size.leading_zeros()); // the largest power of two <= it
        let (chunk, tail) = rest.split_at(size);
        let values: Vec<&dyn ToSql> = chunk.iter().flat_map(|s| certificate_params(s)).collect();
        conn.prepare_cached(&INSERT_CERTIFICATES[size.trailing_zeros() as usize])?
            .execute(params_from_iter(values))?;
        rest = tail;
    }
    Ok(())
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
pub(crate) mod tests;
