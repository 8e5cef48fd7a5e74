//! Broad keyword results kept in process, so that ListCert's exact `TotalCount` costs one pass
//! over the matches per keyword and filter set, not one per page or per repeat.
//!
//! An entry holds every matching id of one (account, folded keyword, other filters), exact at
//! a snapshot described by numbers read in that snapshot: two counters of
//! `certificate_list_versions`, the account's (moved by triggers on any update or delete
//! that could change what a filter selects, and on an insert below the highest id) and the
//! global one (moved when a row is deleted for good or renumbered, after which an insert
//! may take an id seen before), and the highest certificate id of the database. A later
//! search reads the same in its own snapshot:
//!
//! - same counters, same highest id: nothing that could change the result happened; the
//!   entry is the answer;
//! - same counters, higher id: only inserts happened, and SQLite hands out ids in commit
//!   order (one writer; a new row takes the highest id + 1), so the new rows are exactly
//!   those above the entry's id: they are read through the account's id index and checked,
//!   and the matches appended;
//! - anything else (a counter moved, or the snapshot is older than the entry): the search
//!   runs in full and, when its snapshot is not older, replaces the entry.
//!
//! One search per key runs at a time: a burst of requests for a new broad keyword makes one
//! pass, the others wait for it and reuse its result. Results under `KEEP_FROM` matches are
//! not kept: they are cheap to find again through the rarest trigrams.

use crate::Result;
use crate::keyword::{Lookup, TrigramCounts, each_row, matching_ids, plan};
use crate::keyword_fold::{fold, folded_contains};
use crate::keyword_index::{Answer, KeywordIndex};
use crate::keyword_matches::Matches;
use crate::search::CertQuery;
use rusqlite::Connection;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Results with fewer matches are searched again each time.
pub(crate) const KEEP_FROM: usize = 1_000;
/// What all entries keep, in 8-byte words (an id, or 64 sorted rows of a bitset: see
/// `keyword_matches`): 32 MiB.
const MAX_IDS: usize = 4_000_000;
/// Entries kept.
const MAX_ENTRIES: usize = 64;
/// New rows checked one by one at most; past that a full search is no dearer.
const MAX_NEW_ROWS: i64 = 20_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    account_id: i64,
    /// Every filter, the keyword folded as the index folds it (its matches depend on
    /// nothing else).
    query: CertQuery,
}

impl Key {
    fn new(account_id: i64, q: &CertQuery, keyword: &str) -> Self {
        let mut query = q.clone();
        query.keyword = Some(fold(keyword).into_iter().collect());
        Self { account_id, query }
    }
}

#[derive(Debug)]
struct Entry {
    /// The account's and the global list versions the ids are exact for.
    version: (i64, i64),
    /// The highest certificate id then.
    high: i64,
    /// The matching ids.
    ids: Arc<Matches>,
}

type Slot = Arc<Mutex<Option<Entry>>>;

#[derive(Debug)]
struct Held {
    slot: Slot,
    ids: usize,
    used: u64,
}

#[derive(Debug, Default)]
struct Slots {
    held: HashMap<Key, Held>,
    ids: usize,
    tick: u64,
}

/// The bounds above, lower in tests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub keep_from: usize,
    pub max_ids: usize,
    pub max_entries: usize,
    pub max_new_rows: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            keep_from: KEEP_FROM,
            max_ids: MAX_IDS,
            max_entries: MAX_ENTRIES,
            max_new_rows: MAX_NEW_ROWS,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct ResultCache {
    limits: Limits,
    slots: Mutex<Slots>,
    /// Computes the misses of broad keyword-only searches (`keyword_index`).
    index: Arc<KeywordIndex>,
    /// Full searches made, for tests that tell a reuse from a new pass.
    #[cfg(test)]
    full: std::sync::atomic::AtomicUsize,
}

/// The account's and the global list versions and the highest certificate id, in `conn`'s
/// snapshot.
pub(crate) fn state(conn: &Connection, account_id: i64) -> Result<((i64, i64), i64)> {
    versions_and_max_id(conn, "certificate_list_versions", account_id)
}

/// The account's counter in `account_table`, the global list version and the highest
/// certificate id, in `conn`'s snapshot; a missing counter reads 0.
pub(crate) fn versions_and_max_id(
    conn: &Connection,
    account_table: &str,
    account_id: i64,
) -> Result<((i64, i64), i64)> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT (SELECT version FROM {account_table} WHERE account_id = ?1), \
         (SELECT version FROM certificate_list_versions WHERE account_id = -1), \
         (SELECT MAX(id) FROM certificates)"
    ))?;
    Ok(stmt.query_row([account_id], |r| {
        let n = |i| r.get::<_, Option<i64>>(i).map(|v| v.unwrap_or(0));
        Ok(((n(0)?, n(1)?), n(2)?))
    })?)
}

/// The ids above `after` that match `q` (ascending), or `None` when there are more than
/// `MAX_NEW_ROWS` rows to check.
fn new_matches(
    conn: &Connection,
    account_id: i64,
    q: &CertQuery,
    needle: &[char],
    after: i64,
    max_rows: i64,
) -> Result<Option<Vec<i64>>> {
    let mut w = q.filter_without_keyword(account_id);
    w.cmp_int("id", ">", Some(after));
    let sql = format!(
        "SELECT id, name, common_name, sans FROM certificates WHERE {} ORDER BY id LIMIT {}",
        w.sql(),
        max_rows + 1
    );
    let (mut seen, mut ids) = (0i64, Vec::new());
    each_row(conn, &sql, &w.args, |r| {
        seen += 1;
        let hit = [1, 2, 3].into_iter().any(|i| {
            r.get_ref(i)
                .is_ok_and(|v| folded_contains(v.as_str().unwrap_or(""), needle))
        });
        if hit {
            ids.push(r.get(0)?);
        }
        Ok(())
    })?;
    Ok((seen <= max_rows).then_some(ids))
}

impl ResultCache {
    /// A cache whose misses may be computed by an index of the database at `path`.
    pub(crate) fn new(path: &std::path::Path) -> Self {
        Self {
            index: Arc::new(KeywordIndex::new(path.to_owned())),
            ..Default::default()
        }
    }

    /// Indexes the large accounts' text in the background (`keyword_index`).
    pub(crate) fn build_large_accounts(&self) {
        self.index.build_large_accounts();
    }

    #[cfg(test)]
    pub(crate) fn with_limits(limits: Limits) -> Self {
        Self {
            limits,
            ..Default::default()
        }
    }

    #[cfg(test)]
    pub(crate) fn with_index(limits: Limits, index: Arc<KeywordIndex>) -> Self {
        Self {
            limits,
            index,
            ..Default::default()
        }
    }

    /// Every id matching `q`, found without the cache: a broad keyword-only search through
    /// the account's index when it is current, else through FTS5 (which, when broad, asks
    /// for the index to be built). `None` when the index is past this snapshot and `retry`
    /// says a fresh one will be tried: FTS5 would take far longer.
    fn search(
        &self,
        conn: &Connection,
        counts: &TrigramCounts,
        account_id: i64,
        (q, keyword): (&CertQuery, &str),
        retry: bool,
    ) -> Result<Option<Matches>> {
        let keyword_only = *q
            == CertQuery {
                keyword: q.keyword.clone(),
                ..Default::default()
            };
        // A keyword with a rare trigram is found faster through its posting list than by a
        // pass over the text, but not faster than through sorted suffixes.
        let sorted = keyword_only && self.index.sorted(account_id);
        if !sorted && (!keyword_only || !matches!(plan(conn, counts, keyword)?, Lookup::Phrase(_))) {
            return Ok(Some(matching_ids(conn, counts, account_id, q, keyword)?.into()));
        }
        let answer = self.index.matching_ids(conn, account_id, keyword)?;
        match answer {
            Answer::Ids(ids) => return Ok(Some(ids)),
            Answer::Older if retry => return Ok(None),
            Answer::Older | Answer::NotHere => {}
        }
        let ids = matching_ids(conn, counts, account_id, q, keyword)?;
        if answer == Answer::NotHere {
            self.index.broad_search_found(account_id, ids.len());
        }
        Ok(Some(ids.into()))
    }

    /// Every id matching `q` (ascending) in the snapshot of `conn`, which must be inside a
    /// read transaction that has not read anything yet or has read only in this snapshot.
    #[cfg(test)]
    pub(crate) fn matching_ids(
        &self,
        conn: &Connection,
        counts: &TrigramCounts,
        account_id: i64,
        q: &CertQuery,
        keyword: &str,
    ) -> Result<Arc<Matches>> {
        let ids = self.matching_ids_or_retry(conn, counts, account_id, (q, keyword), false)?;
        Ok(ids.expect("no retry asked for"))
    }

    /// As `matching_ids`; with `retry`, `None` when the keyword index is past the snapshot of
    /// `conn`: the caller then tries again in a fresh one.
    pub(crate) fn matching_ids_or_retry(
        &self,
        conn: &Connection,
        counts: &TrigramCounts,
        account_id: i64,
        (q, keyword): (&CertQuery, &str),
        retry: bool,
    ) -> Result<Option<Arc<Matches>>> {
        let key = Key::new(account_id, q, keyword);
        let slot = self.slot(&key);
        let mut entry = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let (version, high) = state(conn, account_id)?;
        if let Some(e) = entry.as_mut()
            && e.version == version
            && e.high <= high
        {
            if e.high == high {
                return Ok(Some(Arc::clone(&e.ids)));
            }
            let needle = fold(keyword);
            if let Some(new) = new_matches(conn, account_id, q, &needle, e.high, self.limits.max_new_rows)? {
                if !new.is_empty() {
                    Arc::make_mut(&mut e.ids).extend(new);
                }
                e.high = high;
                let ids = Arc::clone(&e.ids);
                drop(entry);
                self.settle(&key, &slot, ids.weight());
                return Ok(Some(ids));
            }
        }
        #[cfg(test)]
        self.full.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some(ids) = self.search(conn, counts, account_id, (q, keyword), retry)? else {
            return Ok(None);
        };
        let ids = Arc::new(ids);
        // the counters only grow; with both unchanged, the highest id only grows
        let newer = entry.as_ref().is_none_or(|e| {
            e.version.0 <= version.0 && e.version.1 <= version.1 && (e.version != version || e.high <= high)
        });
        if newer {
            let l = self.limits;
            *entry = (ids.len() >= l.keep_from && ids.weight() <= l.max_ids).then(|| Entry {
                version,
                high,
                ids: Arc::clone(&ids),
            });
        }
        let kept = entry.as_ref().map_or(0, |e| e.ids.weight());
        drop(entry);
        self.settle(&key, &slot, kept);
        Ok(Some(ids))
    }

    /// The slot of `key`, made if missing.
    fn slot(&self, key: &Key) -> Slot {
        let mut s = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        s.tick += 1;
        let tick = s.tick;
        let held = s.held.entry(key.clone()).or_insert_with(|| Held {
            slot: Slot::default(),
            ids: 0,
            used: tick,
        });
        held.used = tick;
        Arc::clone(&held.slot)
    }

    /// Records that `slot` now keeps `ids` ids: drops it when it keeps none, and the least
    /// recently used entries while over the limits.
    fn settle(&self, key: &Key, slot: &Slot, ids: usize) {
        let mut guard = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let s = &mut *guard;
        // an evicted slot may still be in use by a search that fetched it before: its
        // result is not kept
        let Some(held) = s.held.get_mut(key).filter(|h| Arc::ptr_eq(&h.slot, slot)) else {
            return;
        };
        s.ids = s.ids - held.ids + ids;
        held.ids = ids;
        if ids == 0 {
            s.held.remove(key);
            return;
        }
        while s.ids > self.limits.max_ids || s.held.len() > self.limits.max_entries {
            let Some(oldest) = s.held.iter().min_by_key(|(_, h)| h.used).map(|(k, _)| k.clone()) else {
                break;
            };
            if let Some(h) = s.held.remove(&oldest) {
                s.ids -= h.ids;
            }
        }
    }

    /// Entries kept and ids in them, for tests.
    #[cfg(test)]
    pub(crate) fn size(&self) -> (usize, usize) {
        let s = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        (s.held.values().filter(|h| h.ids > 0).count(), s.ids)
    }

    #[cfg(test)]
    pub(crate) fn full_searches(&self) -> usize {
        self.full.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
#[path = "keyword_cache_tests.rs"]
mod tests;
