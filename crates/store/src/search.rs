//! ListCert's reads: every filter of both API versions, in two page styles over one order.
//!
//! Certificates are listed newest first by `id`, which the database hands out in increasing
//! order and never changes. Page numbers (`CurrentPage`/`ShowSize`) skip rows; a `NextToken`
//! is the last id seen and the next page starts strictly below it, so certificates added
//! meanwhile (all with larger ids) never shift or repeat what a token walk returns.

use crate::listing::{Arg, Page, Where, bind_all};
use crate::{Backend, Result, Store};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::sync::Arc;

#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
pub struct CertQuery {
    pub keyword: Option<String>,
    pub warehouse_id: Option<i64>,
    pub status: Option<String>,
    pub source_type: Option<String>,
    pub cert_type: Option<String>,
    /// `certificate_type IN (…)`: SERVER, CLIENT, CUSTOM for issued certificates.
    pub certificate_types: Vec<String>,
    pub identifiers: Vec<String>,
    pub issuer_identifier: Option<String>,
    /// Validity began at or before this instant (ms).
    pub not_before_until: Option<i64>,
    /// Validity lasts until this instant (ms) or later.
    pub not_after_from: Option<i64>,
}

/// Which slice of the ordered result to return.
#[derive(Debug, Clone, Copy)]
pub enum Window {
    Offset(Page),
    /// Rows with an id below `before_id` (all when `None`), at most `limit`.
    Keyset {
        before_id: Option<i64>,
        limit: i64,
    },
}

/// A certificate as the lists (ListCert of both versions) show it: the columns they read,
/// without the fingerprints, place names, DER and chain of a whole `CertRecord`. A page of 50
/// whole rows took ~1,500 strings to read, a sixth of a first-time broad search's CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertListRow {
    pub id: i64,
    pub identifier: String,
    pub name: String,
    pub source_type: String,
    pub cert_type: String,
    pub certificate_type: Option<String>,
    pub status: String,
    pub custom_identifier: Option<String>,
    pub common_name: String,
    pub sans: String,
    pub subject_dn: String,
    pub issuer: String,
    pub organization: Option<String>,
    pub organization_unit: Option<String>,
    pub algorithm: String,
    pub sign_algorithm: String,
    pub serial_no: String,
    pub not_before: i64,
    pub not_after: i64,
    pub warehouse_id: Option<i64>,
    pub has_private_key: bool,
}

/// The columns of a `CertListRow`, in its order (`fastread::cert_list_row` reads them by
/// position).
pub(crate) const CERT_LIST_COLUMNS: &str = "id, identifier, name, source_type, cert_type, \
    certificate_type, status, custom_identifier, common_name, sans, subject_dn, issuer, organization, \
    organization_unit, algorithm, sign_algorithm, serial_no, not_before, not_after, warehouse_id, \
    has_private_key";

/// For tests that compare a list's row with the whole row.
#[cfg(test)]
impl From<crate::CertRecord> for CertListRow {
    fn from(r: crate::CertRecord) -> Self {
        Self {
            id: r.id,
            identifier: r.identifier,
            name: r.name,
            source_type: r.source_type,
            cert_type: r.cert_type,
            certificate_type: r.certificate_type,
            status: r.status,
            custom_identifier: r.custom_identifier,
            common_name: r.common_name,
            sans: r.sans,
            subject_dn: r.subject_dn,
            issuer: r.issuer,
            organization: r.organization,
            organization_unit: r.organization_unit,
            algorithm: r.algorithm,
            sign_algorithm: r.sign_algorithm,
            serial_no: r.serial_no,
            not_before: r.not_before,
            not_after: r.not_after,
            warehouse_id: r.warehouse_id,
            has_private_key: r.has_private_key,
        }
    }
}

fn cert_list_row(r: &AnyRow) -> std::result::Result<CertListRow, sqlx::Error> {
    Ok(CertListRow {
        id: r.try_get("id")?,
        identifier: r.try_get("identifier")?,
        name: r.try_get("name")?,
        source_type: r.try_get("source_type")?,
        cert_type: r.try_get("cert_type")?,
        certificate_type: r.try_get("certificate_type")?,
        status: r.try_get("status")?,
        custom_identifier: r.try_get("custom_identifier")?,
        common_name: r.try_get("common_name")?,
        sans: r.try_get("sans")?,
        subject_dn: r.try_get("subject_dn")?,
        issuer: r.try_get("issuer")?,
        organization: r.try_get("organization")?,
        organization_unit: r.try_get("organization_unit")?,
        algorithm: r.try_get("algorithm")?,
        sign_algorithm: r.try_get("sign_algorithm")?,
        serial_no: r.try_get("serial_no")?,
        not_before: r.try_get("not_before")?,
        not_after: r.try_get("not_after")?,
        warehouse_id: r.try_get("warehouse_id")?,
        has_private_key: r.try_get::<i64, _>("has_private_key")? != 0,
    })
}

#[derive(Debug)]
pub struct CertPage {
    pub rows: Vec<CertListRow>,
    /// Matching rows in all, whatever the window.
    pub total: i64,
    /// For a keyset window: the id to continue below, when more rows follow.
    pub next_before: Option<i64>,
}

impl CertQuery {
    fn filter(&self, backend: Backend, account_id: i64) -> Where {
        let mut w = self.filter_without_keyword(account_id);
        w.cert_keyword(backend, self.keyword.as_deref());
        w
    }

    /// Every condition but the keyword's.
    pub(crate) fn filter_without_keyword(&self, account_id: i64) -> Where {
        let mut w = Where::for_account(account_id);
        w.is_null("deleted_at");
        w.cmp_int("warehouse_id", "=", self.warehouse_id);
        w.eq_text("status", self.status.as_deref());
        w.eq_text("source_type", self.source_type.as_deref());
        w.eq_text("cert_type", self.cert_type.as_deref());
        w.in_text("certificate_type", &self.certificate_types);
        w.in_text("identifier", &self.identifiers);
        w.eq_text("issuer_identifier", self.issuer_identifier.as_deref());
        w.cmp_int("not_before", "<=", self.not_before_until);
        w.cmp_int("not_after", ">=", self.not_after_from);
        w
    }
}

impl Store {
    pub async fn search_certificates(&self, account_id: i64, q: &CertQuery, window: Window) -> Result<CertPage> {
        if let (Some(fast), Some(k)) = (&self.fast, q.keyword.as_deref())
            && k.chars().count() >= 3
            && !k.contains('\0')
        {
            return crate::keyword::search(Arc::clone(fast), account_id, q.clone(), k.to_owned(), window).await;
        }
        let w = q.filter(self.backend, account_id);
        let cond = w.sql();
        let n = w.args.len();
        let (before, limit, offset) = match window {
            Window::Offset(page) => (i64::MAX, page.limit, page.offset),
            // one row more than asked tells whether another page follows
            Window::Keyset { before_id, limit } => (before_id.unwrap_or(i64::MAX), limit + 1, 0),
        };
        let (p_before, p_limit, p_offset) = (n + 1, n + 2, n + 3);
        // A keyword search evaluates the index match once: the matching ids are kept for
        // both the page and the total. Without a keyword the total is an index count and
        // the page stops after its rows.
        let (sql, counted) = if q.keyword.as_deref().is_some_and(|k| !k.is_empty()) {
            (
                format!(
                    "WITH hits AS MATERIALIZED (SELECT id FROM certificates WHERE {cond}) \
                     SELECT {CERT_LIST_COLUMNS}, (SELECT COUNT(*) FROM hits) AS total_n FROM certificates \
                     WHERE id IN (SELECT id FROM hits WHERE id < ${p_before} ORDER BY id DESC \
                     LIMIT ${p_limit} OFFSET ${p_offset}) ORDER BY id DESC"
                ),
                true,
            )
        } else {
            (
                format!(
                    "SELECT {CERT_LIST_COLUMNS} FROM certificates WHERE {cond} AND id < ${p_before} \
                     ORDER BY id DESC LIMIT ${p_limit} OFFSET ${p_offset}"
                ),
                false,
            )
        };
        let mut args = w.args;
        args.extend([Arg::Int(before), Arg::Int(limit), Arg::Int(offset)]);
        let found = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &args)
            .fetch_all(&self.pool)
            .await?;
        let total = match found.first() {
            Some(r) if counted => r.try_get("total_n")?,
            // no row to carry the total (or no keyword): count separately
            _ => {
                let count_sql = format!("SELECT COUNT(*) AS n FROM certificates WHERE {cond}");
                bind_all(sqlx::query(sqlx::AssertSqlSafe(count_sql)), &args[..n])
                    .fetch_one(&self.pool)
                    .await?
                    .try_get("n")?
            }
        };
        let mut rows: Vec<CertListRow> = found.iter().map(cert_list_row).collect::<std::result::Result<_, _>>()?;
        let next_before = match window {
            Window::Keyset { limit, .. } if rows.len() as i64 > limit => {
                rows.truncate(limit as usize);
                rows.last().map(|r| r.id)
            }
            _ => None,
        };
        Ok(CertPage {
            rows,
            total,
            next_before,
        })
    }

    /// The query plan the database picks for a search, for tests that pin the index use.
    /// On PostgreSQL the plan is that of the keyword clause alone with sequential scans
    /// discouraged: a test table is so small that a scan would win, and the question is
    /// whether the trigram indexes can serve the clause at all.
    #[cfg(test)]
    pub(crate) async fn search_plan(&self, account_id: i64, q: &CertQuery) -> Result<String> {
        let (w, explain, column, tail) = match self.backend {
            Backend::Sqlite => (
                q.filter(self.backend, account_id),
                "EXPLAIN QUERY PLAN",
                "detail",
                " ORDER BY id DESC LIMIT 50",
            ),
            Backend::Postgres => {
                let mut w = Where::none();
                w.cert_keyword(self.backend, q.keyword.as_deref());
                (w, "EXPLAIN", "QUERY PLAN", "")
            }
        };
        let sql = format!("{explain} SELECT id FROM certificates WHERE {}{tail}", w.sql());
        let mut conn = self.pool.acquire().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SET enable_seqscan = off").execute(&mut *conn).await?;
        }
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &w.args)
            .fetch_all(&mut *conn)
            .await;
        if self.backend == Backend::Postgres {
            sqlx::query("RESET enable_seqscan").execute(&mut *conn).await?;
        }
        let lines: Vec<String> = rows?
            .iter()
            .map(|r| r.try_get::<String, _>(column))
            .collect::<std::result::Result<_, _>>()?;
        Ok(lines.join("\n"))
    }
}

#[cfg(test)]
#[path = "search_tests.rs"]
pub(crate) mod tests;
