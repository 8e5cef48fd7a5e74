//! The audit appender on SQLite: a thread with its own connection that runs each batch in
//! place, as `fastwrite` does for issuance, instead of one wake-up of sqlx's worker thread per
//! statement (every state-changing request waits on this appender twice).
//!
//! Durability. Each batch is split in two transactions. Its `call` records commit first with
//! `synchronous = NORMAL` (no fsync of their own), so the calls waiting on them start at once.
//! That is enough: a `call` record must be on disk before its call's *effect* is, and in WAL
//! mode it is, because the effect commits later, in the same WAL, with `synchronous = FULL`,
//! whose fsync covers every frame before it, and recovery never keeps a frame whose
//! predecessors were lost (frame checksums are cumulative). Its `result` and `auth` records
//! then commit with `synchronous = FULL` before their callers are answered. So no answer and
//! no effect can outlive the record that tells of it; what a power cut can lose is the `call`
//! record of a call that had neither taken effect nor been answered.

use crate::audit::{AuditAppender, AuditEntry, COLUMNS, GENESIS, Waiter, drop_abandoned_outcomes, links};
use crate::{Result, StoreError};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::Duration;
use tokio::sync::Mutex;

const MAX_BATCH: usize = 256;

impl AuditAppender {
    /// Opens the appender's connection on `path` (already migrated, WAL) and starts its
    /// thread; the thread ends when the last `Store` is dropped.
    pub(crate) fn start_sqlite(path: &Path, writer: Arc<Mutex<()>>) -> Result<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let (send, recv) = mpsc::channel();
        std::thread::Builder::new()
            .name("opencas-audit".into())
            .spawn(move || run(conn, recv, writer))
            .map_err(|e| StoreError::Batch(format!("cannot start the audit appender: {e}")))?;
        Ok(Self::Sqlite(send))
    }
}

fn run(conn: Connection, queue: mpsc::Receiver<(AuditEntry, Waiter)>, writer: Arc<Mutex<()>>) {
    let mut full = true;
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH
            && let Ok(next) = queue.try_recv()
        {
            batch.push(next);
        }
        // `call` records first, in a transaction of their own that needs no fsync, so that
        // the calls waiting on them start at once; then the rest, durably.
        let (calls, others): (Vec<_>, Vec<_>) = batch.into_iter().partition(|(e, _)| e.kind == "call");
        for (part, durable) in [(calls, false), (others, true)] {
            if !part.is_empty() {
                commit_part(&conn, &writer, &mut full, part, durable);
            }
        }
    }
}

fn commit_part(
    conn: &Connection,
    writer: &Mutex<()>,
    full: &mut bool,
    mut part: Vec<(AuditEntry, Waiter)>,
    durable: bool,
) {
    // a plain thread outside any runtime may block on the async lock
    let writer = writer.blocking_lock();
    if durable != *full {
        let mode = if durable { "FULL" } else { "NORMAL" };
        match conn.execute_batch(&format!("PRAGMA synchronous = {mode}")) {
            Ok(()) => *full = durable,
            Err(e) => tracing::error!(error = %e, "audit appender: cannot set synchronous"),
        }
    }
    let began = if durable && !*full {
        Err("the batch cannot be made durable".to_owned())
    } else {
        // may wait up to the busy timeout for another process's write
        conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| e.to_string())
    };
    // after the wait: a request cut off meanwhile has its outcome recorded by the wire layer
    drop_abandoned_outcomes(&mut part);
    let (entries, waiters): (Vec<_>, Vec<_>) = part.into_iter().unzip();
    let outcome = began.and_then(|()| append(conn, &entries).map_err(|e| e.to_string()));
    drop(writer);
    if let Err(e) = &outcome {
        tracing::error!(error = %e, records = entries.len(), "audit append failed");
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    for (i, waiter) in waiters.into_iter().enumerate() {
        let _ = waiter.send(match &outcome {
            Ok(first) => Ok(first + i as i64),
            Err(e) => Err(e.clone()),
        });
    }
}

/// Appends `entries` inside the transaction the caller began, and commits.
fn append(conn: &Connection, entries: &[AuditEntry]) -> Result<i64> {
    let head: Option<(i64, String)> = conn
        .prepare_cached("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (seq, prev) = head.unwrap_or((0, GENESIS.to_owned()));
    let sql = format!(
        "INSERT INTO audit_log ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    );
    let mut insert = conn.prepare_cached(&sql)?;
    for (e, (seq, prev_hash, hash)) in entries.iter().zip(links(seq, prev, entries)) {
        insert.execute(params![
            seq,
            e.at_ms,
            e.kind,
            e.account_id,
            e.access_key_id,
            e.action,
            e.version,
            e.request_id,
            e.source,
            e.params,
            e.resources,
            e.status,
            e.code,
            prev_hash,
            hash
        ])?;
    }
    drop(insert);
    conn.execute_batch("COMMIT")?;
    Ok(seq + 1)
}
