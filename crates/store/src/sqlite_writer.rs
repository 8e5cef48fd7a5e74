//! The one writer thread of the SQLite store for the two writes every state-changing request
//! makes, its audit records and (for issuance) its certificate: one connection, one queue of
//! work items, batches drained from it.
//!
//! Before, the issuance writer and the audit appender were two threads that handed SQLite's
//! single write lock back and forth, three transactions and two fsyncs per request; the lock
//! bounded ECC issuance while a good part of the CPU stayed idle.
//!
//! Durability. A batch is split in two transactions, keeping the records in arrival order.
//! The records up to the last `call` record commit first with `synchronous = NORMAL` (no fsync
//! of their own), and the calls waiting on them start at once. That is enough: a `call` record
//! must be on disk before its call's *effect* is, and in WAL mode it is, because the effect
//! commits later, in the same WAL, with `synchronous = FULL`, whose fsync covers every frame
//! before it, and recovery never keeps a frame whose predecessors were lost (frame checksums
//! are cumulative). The other records of the batch (`result`, `use`, `auth`, `throttled`) and
//! every issuance then commit in one transaction with `synchronous = FULL`, and only then are
//! their callers answered; the outcome records of the first transaction are answered then too
//! (after an explicit fsync of the WAL if the second one wrote nothing). So no answer and no
//! effect can outlive the record that tells of it; what a power cut can lose is the `call`
//! record of a call that had neither taken effect nor been answered.
//!
//! A call whose only effect is one issuance may instead hand its `call` and `result` records
//! to the issuance (`IssuedWrite::records`): they are appended in the durable transaction that
//! writes the certificate, only if it does, so the records and the effect exist together or
//! not at all, and the request makes one round trip to this thread instead of three.
//!
//! The thread holds the store's writer lock while it writes, like every other writer of the
//! process (the sqlx writers of other actions share the database).

use crate::audit::{AuditEntry, Waiter, drop_abandoned_outcomes};
use crate::audit_sqlite::append;
use crate::fastwrite::{Job, write_jobs};
use crate::{Result, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::Duration;
use tokio::sync::Mutex;

/// Most issuances in one transaction, as for `write_grouped`.
const MAX_ISSUED: usize = 128;
/// Most audit records in one batch.
const MAX_RECORDS: usize = 256;

// an item is moved into the queue and out once: a box would cost more than the copy
#[allow(clippy::large_enum_variant)]
pub(crate) enum Work {
    Audit(AuditEntry, Waiter),
    Issue(Job),
}

/// The queue in front of the writer thread; the thread ends when the last sender is dropped.
#[derive(Clone)]
pub(crate) struct Queue(mpsc::Sender<Work>);

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sqlite_writer::Queue")
    }
}

impl Queue {
    /// Opens the writer's connection on `path` (already migrated, WAL) and starts its thread.
    pub(crate) fn start(path: &Path, writer: Arc<Mutex<()>>) -> Result<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        // the same settings as the sqlx connections: every acknowledged commit survives power loss
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        // Statement journals (every INSERT that fires the search trigger has one, and a
        // multi-row INSERT journals every page it touches) in memory rather than spilled to
        // a temporary file written, truncated and closed per statement.
        conn.execute_batch("PRAGMA temp_store = MEMORY;")?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(24);
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let state = Writer {
            conn,
            full: true,
            wal: wal.into(),
        };
        let (send, recv) = mpsc::channel();
        std::thread::Builder::new()
            .name("opencas-sqlite".into())
            .spawn(move || run(state, recv, writer))
            .map_err(|e| StoreError::Batch(format!("cannot start the SQLite writer: {e}")))?;
        Ok(Self(send))
    }

    /// False when the thread has stopped.
    pub(crate) fn send(&self, work: Work) -> bool {
        self.0.send(work).is_ok()
    }
}

struct Writer {
    conn: Connection,
    /// Whether the connection is at `synchronous = FULL`.
    full: bool,
    wal: PathBuf,
}

type Records = Vec<(AuditEntry, Waiter)>;
type Answered = std::result::Result<i64, String>;

fn run(mut w: Writer, queue: mpsc::Receiver<Work>, writer: Arc<Mutex<()>>) {
    while let Ok(first) = queue.recv() {
        let (mut records, mut jobs) = (Vec::new(), Vec::new());
        let mut next = Some(first);
        while let Some(work) = next {
            match work {
                Work::Audit(entry, waiter) => records.push((entry, waiter)),
                Work::Issue(job) => jobs.push(job),
            }
            next = (records.len() < MAX_RECORDS && jobs.len() < MAX_ISSUED)
                .then(|| queue.try_recv().ok())
                .flatten();
        }
        // a plain thread outside any runtime may block on the async lock
        let _writer = writer.blocking_lock();
        w.batch(records, jobs);
    }
}

impl Writer {
    fn batch(&mut self, mut records: Records, jobs: Vec<Job>) {
        let split = records.iter().rposition(|(e, _)| e.kind == "call").map_or(0, |i| i + 1);
        let rest = records.split_off(split);
        let mut deferred = Vec::new();
        if !records.is_empty() {
            // nothing follows to make the outcome records among these durable: commit durably
            let alone = rest.is_empty() && jobs.is_empty();
            let durable = alone && records.iter().any(|(e, _)| e.kind != "call");
            for (is_call, waiter, answer) in self.commit_early(records, durable) {
                if is_call || durable || answer.is_err() {
                    let _ = waiter.send(answer);
                } else {
                    deferred.push((waiter, answer));
                }
            }
        }
        if !rest.is_empty() || !jobs.is_empty() {
            self.commit_durably(rest, jobs, deferred);
        }
    }

    fn set_full(&mut self, full: bool) -> bool {
        if self.full != full {
            let mode = if full { "FULL" } else { "NORMAL" };
            match self.conn.execute_batch(&format!("PRAGMA synchronous = {mode}")) {
                Ok(()) => self.full = full,
                Err(e) => tracing::error!(error = %e, "SQLite writer: cannot set synchronous"),
            }
        }
        self.full == full
    }

    fn rollback(&self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    /// The records up to the last `call`, in a transaction of their own; each answered with its
    /// sequence number or the error, and whether it is a `call` record.
    fn commit_early(&mut self, mut part: Records, durable: bool) -> Vec<(bool, Waiter, Answered)> {
        let set = self.set_full(durable) || !durable;
        let began = if set {
            // may wait up to the busy timeout for another process's write
            self.conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| e.to_string())
        } else {
            Err("the records cannot be made durable".to_owned())
        };
        // after the wait: a request cut off meanwhile has its outcome recorded by the wire layer
        drop_abandoned_outcomes(&mut part);
        let (entries, waiters): (Vec<_>, Vec<_>) = part.into_iter().unzip();
        let outcome = began.and_then(|()| {
            let first = append(&self.conn, &entries).map_err(|e| e.to_string())?;
            self.conn.execute_batch("COMMIT").map_err(|e| e.to_string())?;
            Ok(first)
        });
        if let Err(e) = &outcome {
            tracing::error!(error = %e, records = entries.len(), "audit append failed");
            self.rollback();
        }
        answers(&entries, waiters, &outcome)
            .map(|(entry, waiter, answer)| (entry.kind == "call", waiter, answer))
            .collect()
    }

    /// The other records and the issuances in one durable transaction; answers them and the
    /// `deferred` outcome records of the first transaction once it is durable.
    fn commit_durably(&mut self, mut rest: Records, mut jobs: Vec<Job>, deferred: Vec<(Waiter, Answered)>) {
        let began = if self.set_full(true) {
            self.conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| e.to_string())
        } else {
            Err("the batch cannot be made durable".to_owned())
        };
        // after the wait, as for the records
        drop_abandoned_outcomes(&mut rest);
        jobs.retain(|job| !job.abandoned_with_records());
        let (entries, waiters): (Vec<_>, Vec<_>) = rest.into_iter().unzip();
        let mut appended: std::result::Result<i64, String> = Err(String::new());
        let mut issued = Vec::new();
        let committed = began.and_then(|()| {
            // issuances first: their replay after a failure starts the transaction afresh
            let (outcomes, poisoned) = write_jobs(&self.conn, &jobs).map_err(|e| e.to_string())?;
            if poisoned {
                return Err("a write of the batch could not be isolated; the batch was rolled back".to_owned());
            }
            issued = outcomes;
            // the records of the calls whose effect these issuances are: no savepoint, since
            // an effect must not commit without them
            let effect_records: Vec<&AuditEntry> = jobs
                .iter()
                .zip(&issued)
                .filter(|(_, outcome)| matches!(outcome, Ok(Ok(()))))
                .filter_map(|(job, _)| job.records())
                .flatten()
                .collect();
            if !effect_records.is_empty() {
                append(&self.conn, &effect_records).map_err(|e| e.to_string())?;
            }
            if jobs.is_empty() && !entries.is_empty() {
                // nothing else in the transaction for a failed append to spare (the common
                // case of key uses): no savepoint, the failure rolls the transaction back
                appended = Ok(append(&self.conn, &entries).map_err(|e| e.to_string())?);
            } else if !entries.is_empty() {
                appended = self.append_alone(&entries)?;
            }
            self.conn.execute_batch("COMMIT").map_err(|e| e.to_string())?;
            let wrote = appended.is_ok() || issued.iter().any(|o| matches!(o, Ok(Ok(()))));
            if !deferred.is_empty() && !wrote {
                // the first transaction's frames are in the WAL, not yet synced
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&self.wal)
                    .and_then(|f| f.sync_data())
                    .map_err(|e| format!("cannot sync the write-ahead log: {e}"))?;
            }
            Ok(())
        });
        if let Err(e) = &committed {
            tracing::error!(error = %e, records = entries.len(), writers = jobs.len(), "SQLite group commit failed");
            self.rollback();
            appended = Err(e.clone());
        } else if let Err(e) = &appended
            && !entries.is_empty()
        {
            tracing::error!(error = %e, records = entries.len(), "audit append failed");
        }
        for (waiter, answer) in deferred {
            let _ = waiter.send(committed.clone().and(answer));
        }
        for (_, waiter, answer) in answers(&entries, waiters, &appended) {
            let _ = waiter.send(answer);
        }
        match committed {
            Ok(()) => jobs.into_iter().zip(issued).for_each(|(job, outcome)| {
                if matches!(outcome, Ok(Ok(()))) {
                    job.mark_recorded();
                }
                job.answer(outcome)
            }),
            Err(e) => jobs
                .into_iter()
                .for_each(|job| job.answer(Err(StoreError::Batch(e.clone())))),
        }
    }

    /// Appends `entries` in a savepoint, so that their failure leaves the issuances of the
    /// transaction alone (it copies only the few pages the records touch to the statement
    /// journal). The outer `Err`: the savepoint could not be closed (the transaction
    /// must not commit).
    fn append_alone(&self, entries: &[AuditEntry]) -> std::result::Result<Answered, String> {
        let conn = &self.conn;
        conn.execute_batch("SAVEPOINT audit").map_err(|e| e.to_string())?;
        let appended = append(conn, entries).map_err(|e| e.to_string());
        if appended.is_err() {
            conn.execute_batch("ROLLBACK TO audit").map_err(|e| e.to_string())?;
        }
        conn.execute_batch("RELEASE audit").map_err(|e| e.to_string())?;
        Ok(appended)
    }
}

/// Each record's answer: its sequence number (the first one's plus its place) or the error.
fn answers<'a>(
    entries: &'a [AuditEntry],
    waiters: Vec<Waiter>,
    outcome: &'a Answered,
) -> impl Iterator<Item = (&'a AuditEntry, Waiter, Answered)> + 'a {
    entries
        .iter()
        .zip(waiters)
        .enumerate()
        .map(move |(i, (entry, waiter))| (entry, waiter, outcome.clone().map(|first| first + i as i64)))
}

#[cfg(test)]
#[path = "sqlite_writer_tests.rs"]
mod tests;
