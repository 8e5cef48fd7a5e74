//! Audit records on SQLite: the statements that extend the chain, run in place by the one SQLite
//! writer thread (`sqlite_writer`), which also decides when they commit and how durably (its
//! module comment gives the durability argument). Other backends append through sqlx (`audit`).

use crate::Result;
use crate::audit::{AuditEntry, COLUMNS, GENESIS, links};
use rusqlite::{Connection, OptionalExtension, params};
use std::borrow::Borrow;
use std::sync::LazyLock;

static INSERT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO audit_log ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    )
});

/// Appends `entries`, in order, inside the transaction the caller holds; answers the first
/// one's sequence number. The head is read inside the transaction, never remembered: a
/// rolled-back append or another process's must not fork the chain.
pub(crate) fn append<E: Borrow<AuditEntry>>(conn: &Connection, entries: &[E]) -> Result<i64> {
    let head: Option<(i64, String)> = conn
        .prepare_cached("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (seq, prev) = head.unwrap_or((0, GENESIS.to_owned()));
    let mut insert = conn.prepare_cached(&INSERT)?;
    for (e, (seq, prev_hash, hash)) in entries.iter().zip(links(seq, prev, entries)) {
        let e = e.borrow();
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
    Ok(seq + 1)
}
