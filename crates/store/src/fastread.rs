//! Point reads of the request path on SQLite, without sqlx.
//!
//! sqlx runs every SQLite statement on its connection's worker thread and hands the rows back
//! over a channel: two thread hand-offs (futex wake-ups, context switches) per statement, plus
//! a conversion of every value into `AnyValue`. For a lookup by an indexed key that costs more
//! than the lookup. These readers run the statement on the calling thread instead, on a small
//! pool of connections of their own. WAL mode lets them read beside the writer: a reader sees
//! every transaction committed before its statement began, so a caller that was answered after
//! a commit reads its own write.
//!
//! Only statements that touch a bounded number of rows through an index belong here: they run
//! on an async worker thread, which nothing else can use meanwhile (tens of microseconds, like
//! the in-place ECDSA signatures). Scans, searches and exports stay on the sqlx pool, except
//! the CRL's read of every revoked row (`Store::fold_revoked`, `Store::revoked_by_issuer`) and
//! ListCert's keyword search (`keyword`), which use these connections from a blocking thread.
//!
//! PostgreSQL (issue 10) has no such reader: `Store::fast` is `None` there and every method
//! that uses it falls back to the same SQL through the `Any` pool. This module is the one
//! place a backend-specific read path lives.

use crate::{CaRecord, CertRecord, CertState, Result};
use rusqlite::types::FromSql;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Idle connections kept: as many as threads that read at once (two async workers, a few
/// blocking tasks); more are opened on demand and closed after use.
const MAX_IDLE: usize = 8;

pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// How common each keyword trigram is (`keyword`), shared by every reader.
    trigrams: crate::keyword::TrigramCounts,
    /// Broad keyword results (`keyword_cache`), shared by every reader.
    results: crate::keyword_cache::ResultCache,
    /// Keyword searches running at once: one per core. A broad one takes milliseconds of
    /// CPU; sixteen sharing two cores all finish late (a heavy one latest), where in turn
    /// each waits only for those ahead of it.
    searches: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A read-only connection to the database at `path`, as the readers use.
pub(crate) fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    // read-write only because a WAL reader may have to create the shared-memory index;
    // this connection never writes
    conn.pragma_update(None, "query_only", true)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl Readers {
    /// Readers of the database at `path`, which must already exist and be in WAL mode.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let readers = Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            trigrams: Default::default(),
            results: crate::keyword_cache::ResultCache::new(path),
            searches: tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, usize::from)),
        };
        // fail at start-up, not on the first request, if the file cannot be read
        let first = readers.connect()?;
        readers.put_back(first);
        readers.results.build_large_accounts();
        Ok(readers)
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        open_reader(&self.path)
    }

    fn put_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// Runs `f` on an idle connection (opening one if none is idle).
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        self.with_result(|c| Ok(f(c)?))
    }

    /// Like `with`, for work that fails with the store's own errors too.
    pub(crate) fn with_result<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match idle {
            Some(c) => c,
            None => self.connect()?,
        };
        let out = f(&conn);
        self.put_back(conn);
        out
    }

    pub(crate) fn trigram_counts(&self) -> &crate::keyword::TrigramCounts {
        &self.trigrams
    }

    pub(crate) fn results(&self) -> &crate::keyword_cache::ResultCache {
        &self.results
    }

    /// A turn to run a keyword search (`searches`).
    pub(crate) async fn search_turn(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.searches.acquire().await.expect("the semaphore is never closed")
    }

    /// The one row `sql` selects with `params`, decoded by `decode`; statements are prepared
    /// once per connection and cached.
    pub(crate) fn optional<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        decode: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>> {
        self.with(|c| c.prepare_cached(sql)?.query_row(params, decode).optional())
    }

    pub(crate) fn all<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        decode: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        self.with(|c| c.prepare_cached(sql)?.query_map(params, decode)?.collect())
    }

    /// Hands every row `sql` selects to `visit`, in turn, without collecting them: a
    /// million-row read then costs no allocation per row.
    pub(crate) fn each(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        mut visit: impl FnMut(&Row<'_>) -> rusqlite::Result<()>,
    ) -> Result<()> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(sql)?;
            let mut rows = stmt.query(params)?;
            while let Some(row) = rows.next()? {
                visit(row)?;
            }
            Ok(())
        })
    }
}

/// Reads a row's columns in the order its SELECT lists them (`CERT_COLUMNS`, `CA_COLUMNS`),
/// by position: a lookup by name scans the column names for every field. Unit tests check
/// each name as well.
struct Cols<'r, 's> {
    row: &'r Row<'s>,
    next: Cell<usize>,
}

impl<'r, 's> Cols<'r, 's> {
    fn new(row: &'r Row<'s>) -> Self {
        Self {
            row,
            next: Cell::new(0),
        }
    }

    fn get<T: FromSql>(&self, name: &str) -> rusqlite::Result<T> {
        let i = self.next.replace(self.next.get() + 1);
        if cfg!(test) {
            assert_eq!(self.row.as_ref().column_name(i)?, name, "column {i}");
        }
        self.row.get(i)
    }
}

pub(crate) fn cert_row(r: &Row<'_>) -> rusqlite::Result<CertRecord> {
    let c = Cols::new(r);
    Ok(CertRecord {
        id: c.get("id")?,
        account_id: c.get("account_id")?,
        identifier: c.get("identifier")?,
        name: c.get("name")?,
        source_type: c.get("source_type")?,
        cert_type: c.get("cert_type")?,
        certificate_type: c.get("certificate_type")?,
        status: c.get("status")?,
        issuer_identifier: c.get("issuer_identifier")?,
        custom_identifier: c.get("custom_identifier")?,
        common_name: c.get("common_name")?,
        sans: c.get("sans")?,
        subject_dn: c.get("subject_dn")?,
        issuer: c.get("issuer")?,
        organization: c.get("organization")?,
        organization_unit: c.get("organization_unit")?,
        country: c.get("country")?,
        province: c.get("province")?,
        city: c.get("city")?,
        algorithm: c.get("algorithm")?,
        key_algorithm: c.get("key_algorithm")?,
        key_size: c.get("key_size")?,
        sign_algorithm: c.get("sign_algorithm")?,
        serial_no: c.get("serial_no")?,
        fingerprint_md5: c.get("fingerprint_md5")?,
        fingerprint_sha1: c.get("fingerprint_sha1")?,
        fingerprint_sha256: c.get("fingerprint_sha256")?,
        not_before: c.get("not_before")?,
        not_after: c.get("not_after")?,
        days: c.get("days")?,
        warehouse_id: c.get("warehouse_id")?,
        resource_group_id: c.get("resource_group_id")?,
        has_private_key: c.get::<i64>("has_private_key")? != 0,
        cert_der: c.get("cert_der")?,
        chain_pem: c.get("chain_pem")?,
        revoked_at: c.get("revoked_at")?,
        revoke_reason: c.get("revoke_reason")?,
        created_at: c.get("created_at")?,
    })
}

pub(crate) fn cert_list_row(r: &Row<'_>) -> rusqlite::Result<crate::CertListRow> {
    let c = Cols::new(r);
    Ok(crate::CertListRow {
        id: c.get("id")?,
        identifier: c.get("identifier")?,
        name: c.get("name")?,
        source_type: c.get("source_type")?,
        cert_type: c.get("cert_type")?,
        certificate_type: c.get("certificate_type")?,
        status: c.get("status")?,
        custom_identifier: c.get("custom_identifier")?,
        common_name: c.get("common_name")?,
        sans: c.get("sans")?,
        subject_dn: c.get("subject_dn")?,
        issuer: c.get("issuer")?,
        organization: c.get("organization")?,
        organization_unit: c.get("organization_unit")?,
        algorithm: c.get("algorithm")?,
        sign_algorithm: c.get("sign_algorithm")?,
        serial_no: c.get("serial_no")?,
        not_before: c.get("not_before")?,
        not_after: c.get("not_after")?,
        warehouse_id: c.get("warehouse_id")?,
        has_private_key: c.get::<i64>("has_private_key")? != 0,
    })
}

pub(crate) fn cert_state_row(r: &Row<'_>) -> rusqlite::Result<CertState> {
    let c = Cols::new(r);
    Ok(CertState {
        identifier: c.get("identifier")?,
        status: c.get("status")?,
        warehouse_id: c.get("warehouse_id")?,
        not_after: c.get("not_after")?,
        revoked_at: c.get("revoked_at")?,
    })
}

pub(crate) fn ca_row(r: &Row<'_>) -> rusqlite::Result<CaRecord> {
    let c = Cols::new(r);
    Ok(CaRecord {
        id: c.get("id")?,
        account_id: c.get("account_id")?,
        identifier: c.get("identifier")?,
        parent_identifier: c.get("parent_identifier")?,
        issuer_identifier: c.get("issuer_identifier")?,
        certificate_type: c.get("certificate_type")?,
        issuer_type: c.get("issuer_type")?,
        status: c.get("status")?,
        alias: c.get("alias")?,
        common_name: c.get("common_name")?,
        organization: c.get("organization")?,
        organization_unit: c.get("organization_unit")?,
        locality: c.get("locality")?,
        state: c.get("state")?,
        country_code: c.get("country_code")?,
        subject_dn: c.get("subject_dn")?,
        algorithm: c.get("algorithm")?,
        key_algorithm: c.get("key_algorithm")?,
        key_size: c.get("key_size")?,
        sign_algorithm: c.get("sign_algorithm")?,
        sm2_id: c.get("sm2_id")?,
        serial_number: c.get("serial_number")?,
        not_before: c.get("not_before")?,
        not_after: c.get("not_after")?,
        years: c.get("years")?,
        path_len: c.get("path_len")?,
        ext_key_usages: c.get("ext_key_usages")?,
        cert_max_time_days: c.get("cert_max_time_days")?,
        enable_crl: c.get::<i64>("enable_crl")? != 0,
        crl_day: c.get("crl_day")?,
        md5: c.get("md5")?,
        sha256: c.get("sha256")?,
        cert_der: c.get("cert_der")?,
        chain_pem: c.get("chain_pem")?,
        cert_total_count: c.get("cert_total_count")?,
        cert_issued_count: c.get("cert_issued_count")?,
        resource_group_id: c.get("resource_group_id")?,
        status_changed_at: c.get("status_changed_at")?,
        created_at: c.get("created_at")?,
    })
}

#[cfg(test)]
#[path = "fastread_tests.rs"]
mod tests;
