//! ListCert's `KeyWord` on SQLite, through the direct readers.
//!
//! FTS5 answers a trigram phrase by reading every trigram's posting list across every index
//! segment, so `host0555557` costs what its commonest trigrams cost (`hos` and `ost` are in
//! every row). Here the keyword is looked up by its *rarest* trigrams only: an `AND` of up to
//! three of them gives a small superset of the matches, and each candidate's name, CN and SANs
//! are then checked for the whole keyword in Rust, folded exactly as the tokenizer folds
//! (`keyword_fold`). Results are what the phrase query returns, row for row.
//!
//! How common a trigram is comes from an in-process table, filled by a bounded probe (at most
//! `COMMON + 1` postings read) the first time a trigram is seen and again after `STALE`; a stale
//! count only makes a query slower, never different. A keyword made only of common trigrams
//! (a broad keyword, which matches many rows anyway) is answered by the full phrase, as before.
//!
//! Every matching id is collected (the total must be exact), so a broad keyword costs a pass
//! over its matches. That pass runs on a blocking thread over a direct connection, inside one
//! read transaction, and holds no pooled sqlx connection.

use crate::fastread::{Readers, cert_list_row};
use crate::keyword_fold::{fold, folded_contains};
use crate::listing::{Arg, Where};
use crate::search::{CERT_LIST_COLUMNS, CertListRow, CertPage, CertQuery, Window};
use crate::{Result, StoreError};
use rusqlite::Connection;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A trigram in more rows than this is "common": not worth a posting-list read of its own.
/// It also bounds the candidates a keyword with a rare trigram can produce.
pub(crate) const COMMON: i64 = 10_000;
/// Trigrams of the keyword looked up together.
const LOOKED_UP: usize = 3;
/// How long a trigram's count is believed.
const STALE: Duration = Duration::from_secs(60);
/// Entries kept before the table starts over.
const MAX_ENTRIES: usize = 100_000;

/// Rows per trigram (capped at `common + 1`), by folded trigram.
#[derive(Debug)]
pub(crate) struct TrigramCounts {
    /// `COMMON`, lower in tests.
    common: i64,
    seen: Mutex<HashMap<[char; 3], (i64, Instant)>>,
}

impl Default for TrigramCounts {
    fn default() -> Self {
        Self::with_common(COMMON)
    }
}

impl TrigramCounts {
    pub(crate) fn with_common(common: i64) -> Self {
        Self {
            common,
            seen: Mutex::default(),
        }
    }

    fn get(&self, t: &[char; 3]) -> Option<i64> {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.get(t).filter(|(_, at)| at.elapsed() < STALE).map(|(n, _)| *n)
    }

    pub(crate) fn put(&self, t: [char; 3], n: i64) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= MAX_ENTRIES {
            seen.clear();
        }
        seen.insert(t, (n, Instant::now()));
    }
}

/// An FTS5 string literal: the tokenizer reads it as a phrase of its trigrams, and nothing in
/// it is query syntax.
pub(crate) fn fts_literal(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// How the keyword is looked up in the index.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Candidates from these trigrams (FTS5 literals, rarest first), checked in Rust.
    Rare(Vec<String>),
    /// Every trigram is common: the full phrase, exact as it stands.
    Phrase(String),
}

/// Chooses the lookup for `keyword` (three characters or more), probing trigrams the table
/// does not know yet.
pub(crate) fn plan(conn: &Connection, counts: &TrigramCounts, keyword: &str) -> Result<Lookup> {
    let original: Vec<char> = keyword.chars().collect();
    let folded = fold(keyword);
    let mut rated: Vec<(i64, [char; 3], String)> = Vec::new();
    for i in 0..folded.len().saturating_sub(2) {
        let t = [folded[i], folded[i + 1], folded[i + 2]];
        if rated.iter().any(|r| r.1 == t) {
            continue;
        }
        // the literal keeps the keyword's own characters: the tokenizer folds them itself
        let literal = fts_literal(&original[i..i + 3].iter().collect::<String>());
        let n = match counts.get(&t) {
            Some(n) => n,
            None => {
                let n = probe(conn, &literal, counts.common)?;
                counts.put(t, n);
                n
            }
        };
        rated.push((n, t, literal));
    }
    rated.sort_by_key(|r| r.0);
    if rated.first().is_none_or(|r| r.0 > counts.common) {
        return Ok(Lookup::Phrase(fts_literal(keyword)));
    }
    Ok(Lookup::Rare(
        rated
            .into_iter()
            .filter(|r| r.0 <= counts.common)
            .take(LOOKED_UP)
            .map(|r| r.2)
            .collect(),
    ))
}

/// Rows holding the trigram `literal`, counted up to `common + 1`.
fn probe(conn: &Connection, literal: &str, common: i64) -> Result<i64> {
    let mut stmt = conn.prepare_cached(
        "SELECT COUNT(*) FROM (SELECT rowid FROM certificates_search WHERE certificates_search MATCH ?1 LIMIT ?2)",
    )?;
    Ok(stmt.query_row((literal, common + 1), |r| r.get(0))?)
}

/// Binds `args` to the `$1`… placeholders of `sql` and hands each row to `visit`.
pub(crate) fn each_row(
    conn: &Connection,
    sql: &str,
    args: &[Arg],
    mut visit: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(sql)?;
    for (i, a) in args.iter().enumerate() {
        // a placeholder may be missing from the SQL (none is today), and SQLite numbers
        // named parameters by first appearance: look each one up by name
        let Some(idx) = stmt.parameter_index(&format!("${}", i + 1))? else {
            continue;
        };
        match a {
            Arg::Text(s) => stmt.raw_bind_parameter(idx, s.as_str())?,
            Arg::Int(n) => stmt.raw_bind_parameter(idx, *n)?,
        }
    }
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next()? {
        visit(row)?;
    }
    Ok(())
}

/// The statement that reads `columns` of the rows matching the FTS5 query `fts` and `q`'s
/// other filters. No ORDER BY: with one, SQLite walks the account's whole id index in order
/// and probes the matches, instead of looking the matches up; the ids are sorted afterwards.
pub(crate) fn lookup_sql(q: &CertQuery, account_id: i64, columns: &str, fts: String) -> (String, Vec<Arg>) {
    let mut w: Where = q.filter_without_keyword(account_id);
    let p = w.placeholder(Arg::Text(fts));
    w.push(format!(
        "id IN (SELECT rowid FROM certificates_search WHERE certificates_search MATCH {p})"
    ));
    (format!("SELECT {columns} FROM certificates WHERE {}", w.sql()), w.args)
}

/// Every id matching `q` (with a keyword of three characters or more), ascending.
pub(crate) fn matching_ids(
    conn: &Connection,
    counts: &TrigramCounts,
    account_id: i64,
    q: &CertQuery,
    keyword: &str,
) -> Result<Vec<i64>> {
    let mut ids: Vec<i64> = Vec::new();
    match plan(conn, counts, keyword)? {
        Lookup::Phrase(phrase) => {
            let (sql, args) = lookup_sql(q, account_id, "id", phrase);
            each_row(conn, &sql, &args, |r| {
                ids.push(r.get(0)?);
                Ok(())
            })?;
        }
        Lookup::Rare(trigrams) => {
            let needle = fold(keyword);
            let (sql, args) = lookup_sql(q, account_id, "id, name, common_name, sans", trigrams.join(" AND "));
            each_row(conn, &sql, &args, |r| {
                let hit = [1, 2, 3]
                    .into_iter()
                    .map(|i| r.get_ref(i).map(|v| v.as_str().unwrap_or("")))
                    .any(|text| text.is_ok_and(|t| folded_contains(t, &needle)));
                if hit {
                    ids.push(r.get(0)?);
                }
                Ok(())
            })?;
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Reads the rows whose ids `?2` lists (a JSON array) if they belong to account `?1`, as a
/// list shows them. The CROSS JOIN keeps the list as the outer loop: with `id IN (…)` SQLite
/// walks the account's index instead and tests each id against the list. There is no ORDER
/// BY: SQLite would copy every row into a sorter first; the caller orders the page.
fn rows_sql() -> String {
    format!(
        "SELECT {CERT_LIST_COLUMNS} FROM (SELECT value AS page_id FROM json_each(?2)) AS page \
         CROSS JOIN certificates ON certificates.id = page.page_id \
         WHERE certificates.account_id = ?1"
    )
}

/// The rows of `page` (ids of `account_id`), newest first.
fn rows_of(conn: &Connection, account_id: i64, page: &[i64]) -> Result<Vec<CertListRow>> {
    if page.is_empty() {
        return Ok(Vec::new());
    }
    let list = serde_json::to_string(page).map_err(|e| StoreError::Batch(e.to_string()))?;
    static SQL: LazyLock<String> = LazyLock::new(rows_sql);
    let mut stmt = conn.prepare_cached(&SQL)?;
    let mut rows = Vec::with_capacity(page.len());
    for row in stmt.query_map((account_id, list), cert_list_row)? {
        rows.push(row?);
    }
    rows.sort_unstable_by_key(|r| std::cmp::Reverse(r.id));
    Ok(rows)
}

/// Snapshots a keyword search tries before it lets FTS5 answer in an old one.
const SNAPSHOT_ATTEMPTS: u32 = 4;

/// One page of a keyword search and the total, read in one transaction.
pub(crate) fn search_blocking(
    fast: &Readers,
    account_id: i64,
    q: &CertQuery,
    keyword: &str,
    window: Window,
) -> Result<CertPage> {
    let counts = fast.trigram_counts();
    fast.with_result(|conn| {
        // One snapshot for the ids and the rows of the page. A snapshot the keyword index has
        // moved past (patched by a newer search meanwhile) is dropped for a fresh one, a few
        // times before FTS5 answers in it: FTS5 takes hundreds of milliseconds on a broad
        // keyword of a large account.
        let mut attempts = 0;
        let (tx, ids) = loop {
            attempts += 1;
            let tx = conn.unchecked_transaction()?;
            let retry = attempts < SNAPSHOT_ATTEMPTS;
            match fast
                .results()
                .matching_ids_or_retry(&tx, counts, account_id, (q, keyword), retry)?
            {
                Some(ids) => break (tx, ids),
                None => tx.rollback()?,
            }
        };
        let (page, next_before) = ids.window(window);
        let rows = rows_of(&tx, account_id, &page)?;
        tx.commit()?;
        Ok(CertPage {
            rows,
            total: ids.len() as i64,
            next_before,
        })
    })
}

/// `search_blocking` off the async workers.
pub(crate) async fn search(
    fast: Arc<Readers>,
    account_id: i64,
    q: CertQuery,
    keyword: String,
    window: Window,
) -> Result<CertPage> {
    let turn = Arc::clone(&fast);
    let _turn = turn.search_turn().await;
    tokio::task::spawn_blocking(move || search_blocking(&fast, account_id, &q, &keyword, window))
        .await
        .map_err(|e| StoreError::Batch(format!("keyword search: {e}")))?
}

#[cfg(test)]
#[path = "keyword_tests.rs"]
pub(crate) mod tests;
