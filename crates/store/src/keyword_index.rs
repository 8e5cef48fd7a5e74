//! The first search of a broad keyword, answered from memory.
//!
//! A keyword whose trigrams are all common (`keyword::Lookup::Phrase`) matches a large part of
//! the account, and FTS5 answers it by merging the posting lists of every trigram and then
//! probing the id index once per match: hundreds of milliseconds at a million rows, paid once
//! per keyword before `keyword_cache` can keep the result. Here each large account's live
//! rows are kept in process as one contiguous buffer of their folded searchable text (name,
//! CN, SANs, folded exactly as `keyword_fold` folds, one NUL after each column) with the byte
//! offset where each row starts and its id. Once an account has `SORT_FROM` rows, the sorted
//! suffixes of its text are kept too (`keyword_suffixes`): any keyword is then two binary
//! searches and one sequential read of its matches (~0.5 ms for 166,667 matching rows of a
//! million, ~10 µs for one), so a sorted account answers rare keywords here as well, faster
//! than FTS5's posting lists. Rows appended after the sort, and every row of a smaller
//! account, are found by a `memchr::memmem` pass over their text (SIMD, at memory speed:
//! ~3.5 ms over a million rows), each hit mapped to its row. A NUL ends every column, so a
//! needle without one cannot match across columns (a needle with one is left to FTS5), and
//! the result is what the phrase query returns.
//!
//! Per row the buffer keeps only the columns not contained in another of the row's columns
//! (a match in the CN is a match in SANs that hold it): for names like the bench's
//! (`host<n>.<word>.example.com`, SANs `host…,www.host…`) that is the SANs alone, 66 bytes
//! with its NUL, plus 12 bytes of offset and id: 78 MB per million rows, and 6 bytes per
//! byte of text for the sorted suffixes: 474 MB in all. `MAX_BYTES` bounds all
//! accounts together; the least recently used go first, and an account too large alone is
//! not indexed (its searches take FTS5, as before).
//!
//! The buffer is exact at a snapshot described much as `keyword_cache`'s entries are: the
//! account's counter of `certificate_text_versions` (moved by triggers only when a name, CN,
//! SANs, `deleted_at`, account or id changes, or on an insert below the highest id: a
//! revocation leaves the buffer current), the global counter of `certificate_list_versions`
//! (a delete for good) and the highest certificate id. A search compares them with its own
//! snapshot's:
//!
//! - same counters: rows up to the kept highest id are exactly those kept. A search whose
//!   snapshot has a lower highest id scans the rows up to its own; one with a higher id
//!   first appends the rows above (SQLite hands out ids in commit order, so they are exactly
//!   the inserts since), read in its own snapshot;
//! - a newer account counter, the same global one (a rename, a soft delete, a move between
//!   accounts since): the search patches the buffer. `certificate_text_changes`, written by
//!   the same triggers, names the row each move of the counter was for (the last 4,096 per
//!   account); those rows are re-read in the search's snapshot, marked dead in the buffer
//!   (its text stays as read, so the suffixes sorted over it stay valid) and their new text,
//!   if they are still live rows of the account, kept beside it in `patched`, scanned too.
//!   No rebuild: a rename costs a search a few row reads instead of 2–3 s of a core and
//!   FTS5 meanwhile;
//! - a newer global counter (a delete for good), more than `MAX_PATCH` changes, or changes
//!   pruned from the log: the buffer is stale. The search goes to FTS5 and asks for a
//!   rebuild, made on a thread of its own over a connection of its own, one at a time in the
//!   process and not within `REST` times the last one's duration after it, while searches
//!   keep being answered through FTS5;
//! - older counters (a snapshot taken before the buffer's, or patched past by a newer search
//!   meanwhile): `Answer::Older`. The search drops its snapshot for a fresh one, a few
//!   times, before FTS5 answers in it (`keyword::search_blocking`): with renames or deletes
//!   every few searches, concurrent searches would otherwise keep landing on FTS5.
//!
//! A build reads the account's live rows in one read transaction: 2.2–2.9 s of one core at a
//! million bench rows (2 s of it reading a 4 KB page per row, the rest folding), longer when
//! the cores are busy with searches. Which accounts are indexed: those with
//! `BUILD_AT_START_FROM` live rows or more when the store opens, and any for which a broad
//! search found `BUILD_FROM` matches or more through FTS5.

use crate::Result;
use crate::keyword_buffer::{Buffer, fold, row_text};
use crate::keyword_matches::Matches;
use crate::keyword_suffixes::Suffixes;
use rusqlite::{Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// Bytes kept over all accounts' buffers (the text, 4 bytes of offset and 8 of id per row,
/// and 6 bytes per byte of text once sorted): a sorted account of about two million bench
/// rows, or several smaller ones.
const MAX_BYTES: usize = 1 << 30;
/// A broad search through FTS5 with this many matches asks for its account's buffer.
const BUILD_FROM: usize = 1_000;
/// New rows appended one search at a time at most; past that a rebuild is asked for.
const MAX_APPEND: i64 = 50_000;
/// Accounts with this many live rows or more are indexed when the store opens.
const BUILD_AT_START_FROM: i64 = 100_000;
/// Most text changes one search patches into a buffer (the triggers keep the last 4,096 of
/// each account); past that, or with more than `MAX_PATCHED` rows patched in all, a rebuild
/// is asked for.
const MAX_PATCH: i64 = 2_000;
const MAX_PATCHED: usize = 100_000;
/// Buffers of this many rows or more get their suffixes sorted (`keyword_suffixes`): 6 more
/// bytes per byte of text, for searches that no longer pass over the whole text. Below it a
/// pass costs little (~35 µs at 10,000 rows), and so does the sort (~20 ms).
const SORT_FROM: usize = 10_000;
/// After a build, none starts for this many times its duration: builds take at most a
/// fifth of one core even if every search finds the buffer stale (a rename or delete between
/// any two searches), and searches go through FTS5 meanwhile.
const REST: u32 = 4;
/// An account found too large for `MAX_BYTES` is not tried again before this.
const REFUSED_FOR: Duration = Duration::from_secs(600);

/// The bounds above, lower in tests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_bytes: usize,
    pub build_from: usize,
    pub max_append: i64,
    pub build_at_start_from: i64,
    pub max_patch: i64,
    pub sort_from: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: MAX_BYTES,
            build_from: BUILD_FROM,
            max_append: MAX_APPEND,
            build_at_start_from: BUILD_AT_START_FROM,
            max_patch: MAX_PATCH,
            sort_from: SORT_FROM,
        }
    }
}

/// The account's text version, the global list version and the highest certificate id, in
/// `conn`'s snapshot.
pub(crate) fn state(conn: &Connection, account_id: i64) -> Result<((i64, i64), i64)> {
    crate::keyword_cache::versions_and_max_id(conn, "certificate_text_versions", account_id)
}

#[derive(Debug, Default)]
struct Slot {
    buffer: Option<Arc<RwLock<Buffer>>>,
    bytes: usize,
    used: u64,
    refused_at: Option<Instant>,
    /// When sorting its suffixes was last refused (no room, or a row too long).
    sort_refused_at: Option<Instant>,
}

#[derive(Debug, Default)]
struct Slots {
    accounts: HashMap<i64, Slot>,
    bytes: usize,
    tick: u64,
    /// Whether a build runs: one at a time.
    building: bool,
    /// No build starts before this: `REST` times the last one's duration after it.
    rest_until: Option<Instant>,
}

#[derive(Debug, Default)]
pub(crate) struct KeywordIndex {
    /// The database, opened by builds; `None` in tests that build by hand.
    path: Option<PathBuf>,
    limits: Limits,
    slots: Mutex<Slots>,
    #[cfg(test)]
    builds: std::sync::atomic::AtomicUsize,
}

/// What a search found in the index.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    Ids(Matches),
    /// No buffer, or one not current: search through FTS5.
    NotHere,
    /// The buffer is past this snapshot (patched by a newer one meanwhile): a search in a
    /// fresh snapshot finds it current.
    Older,
}

impl KeywordIndex {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path: Some(path),
            ..Default::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The ids (ascending) of `account_id`'s live rows whose name, CN or SANs hold `keyword`
    /// once folded, in the snapshot of `conn` (inside a read transaction), when the
    /// account's buffer is current for it.
    pub(crate) fn matching_ids(self: &Arc<Self>, conn: &Connection, account_id: i64, keyword: &str) -> Result<Answer> {
        let needle = fold(keyword);
        if needle.is_empty() || needle.contains('\0') {
            return Ok(Answer::NotHere);
        }
        let buffer = {
            let mut s = self.lock();
            s.tick += 1;
            let tick = s.tick;
            match s.accounts.get_mut(&account_id).and_then(|a| {
                a.used = tick;
                a.buffer.clone()
            }) {
                Some(b) => b,
                None => return Ok(Answer::NotHere),
            }
        };
        let (version, high) = state(conn, account_id)?;
        let (kept_version, kept_high) = {
            let b = buffer.read().unwrap_or_else(PoisonError::into_inner);
            (b.version, b.high)
        };
        let mut kept = kept_version;
        while kept != version && !self.patch(&buffer, conn, account_id, kept, version)? {
            let now = buffer.read().unwrap_or_else(PoisonError::into_inner).version;
            if now.0 > version.0 || now.1 > version.1 {
                return Ok(Answer::Older);
            }
            if now == kept {
                self.want(account_id);
                return Ok(Answer::NotHere);
            }
            // another search patched it part of the way meanwhile: on from there
            kept = now;
        }
        if high > kept_high && !self.append(&buffer, conn, account_id, version, high)? {
            self.want(account_id);
            return Ok(Answer::NotHere);
        }
        let b = buffer.read().unwrap_or_else(PoisonError::into_inner);
        if b.version != version {
            // patched past this snapshot meanwhile by a newer one
            return Ok(Answer::Older);
        }
        let ids = b.scan(needle.as_bytes(), high);
        let sort = b.wants_sort(self.limits.sort_from);
        drop(b);
        if sort {
            self.want_sort(account_id);
        }
        Ok(Answer::Ids(ids))
    }

    /// Whether `account_id`'s buffer is kept with its suffixes sorted: then any keyword of
    /// it is looked up in microseconds, rare or not.
    pub(crate) fn sorted(&self, account_id: i64) -> bool {
        let buffer = self.lock().accounts.get(&account_id).and_then(|a| a.buffer.clone());
        buffer.is_some_and(|b| b.read().unwrap_or_else(PoisonError::into_inner).suffixes.is_some())
    }

    /// Brings `buffer` from text version `from` to `to` (`conn`'s snapshot) by re-reading
    /// the rows the changes between were for; false when it cannot: a delete for good or an
    /// id changed since (the global counter moved), too many changes, or changes no longer
    /// logged.
    fn patch(
        &self,
        buffer: &Arc<RwLock<Buffer>>,
        conn: &Connection,
        account_id: i64,
        from: (i64, i64),
        to: (i64, i64),
    ) -> Result<bool> {
        if to.1 != from.1 || to.0 <= from.0 || to.0 - from.0 > self.limits.max_patch {
            return Ok(false);
        }
        let mut changed: Vec<i64> = conn
            .prepare_cached(
                "SELECT cert_id FROM certificate_text_changes \
                 WHERE account_id = ?1 AND version > ?2 AND version <= ?3",
            )?
            .query_map((account_id, from.0, to.0), |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if changed.len() as i64 != to.0 - from.0 {
            // pruned from the log, or written before it existed
            return Ok(false);
        }
        changed.sort_unstable();
        changed.dedup();
        // read outside the write lock: scans go on meanwhile
        let mut read = conn.prepare_cached(
            "SELECT name, common_name, sans FROM certificates \
             WHERE id = ?1 AND account_id = ?2 AND deleted_at IS NULL",
        )?;
        let mut rows = Vec::with_capacity(changed.len());
        for id in changed {
            let text = read
                .query_row((id, account_id), |r| {
                    let column = |i| r.get_ref(i).map(|v| v.as_str().unwrap_or("").to_owned());
                    let mut text = Vec::new();
                    row_text([&column(0)?, &column(1)?, &column(2)?], &mut text);
                    Ok(text)
                })
                .optional()?;
            rows.push((id, text));
        }
        let mut b = buffer.write().unwrap_or_else(PoisonError::into_inner);
        if b.version != from {
            // another search patched it meanwhile
            return Ok(b.version == to);
        }
        // Rows above the kept highest id are left to `append`, which reads them afresh; the
        // snapshot that appended the kept ones is no newer than this one.
        let high = b.high;
        if b.patched.len() + rows.len() > MAX_PATCHED {
            return Ok(false);
        }
        for (id, text) in rows.into_iter().filter(|(id, _)| *id <= high) {
            b.forget(id);
            if let Some(text) = text {
                b.patch_in(id, text);
            }
        }
        b.version = to;
        let bytes = b.bytes();
        drop(b);
        self.settle(account_id, buffer, bytes);
        Ok(true)
    }

    /// Brings `buffer` up to `high` (at `version`, `conn`'s snapshot's) with the rows
    /// inserted since; false when there are too many to append.
    fn append(
        &self,
        buffer: &Arc<RwLock<Buffer>>,
        conn: &Connection,
        account_id: i64,
        version: (i64, i64),
        high: i64,
    ) -> Result<bool> {
        // read outside the write lock: scans go on meanwhile
        let after = buffer.read().unwrap_or_else(PoisonError::into_inner).high;
        let mut new = Buffer::default();
        if !new.read_rows(conn, account_id, after, self.limits.max_append, self.limits.max_bytes)? {
            return Ok(false);
        }
        let mut b = buffer.write().unwrap_or_else(PoisonError::into_inner);
        if b.high >= high || b.version != version {
            // another search appended meanwhile, or patched the buffer past this snapshot
            // (the caller sees that)
            return Ok(true);
        }
        for (i, &id) in new.ids.iter().enumerate() {
            if id > b.high {
                let start = new.starts[i] as usize;
                let end = new.starts.get(i + 1).map_or(new.text.len(), |&e| e as usize);
                let base = b.text.len() as u32;
                b.text.extend_from_slice(&new.text[start..end]);
                b.push_row(id, base);
            }
        }
        b.high = high;
        let bytes = b.bytes();
        drop(b);
        self.settle(account_id, buffer, bytes);
        Ok(true)
    }

    /// Asks for a build of `account_id`'s buffer after a broad search through FTS5 found
    /// `matches`.
    pub(crate) fn broad_search_found(self: &Arc<Self>, account_id: i64, matches: usize) {
        if matches >= self.limits.build_from {
            self.want(account_id);
        }
    }

    /// Whether the refusal `when` gives of `account_id`'s slot was within `REFUSED_FOR`.
    fn refused_lately(&self, account_id: i64, when: impl Fn(&Slot) -> Option<Instant>) -> bool {
        let s = self.lock();
        let at = s.accounts.get(&account_id).and_then(when);
        at.is_some_and(|at| at.elapsed() < REFUSED_FOR)
    }

    /// Starts a build of `account_id`'s buffer on a thread of its own, unless one runs, the
    /// account was refused lately, or there is no database to open.
    fn want(self: &Arc<Self>, account_id: i64) {
        if !self.refused_lately(account_id, |a| a.refused_at) {
            self.spawn(move |me, conn| me.build(conn, account_id));
        }
    }

    /// Sorts `account_id`'s suffixes on a thread of its own (as `want` builds), unless
    /// refused lately for want of room.
    fn want_sort(self: &Arc<Self>, account_id: i64) {
        if !self.refused_lately(account_id, |a| a.sort_refused_at) {
            self.spawn(move |me, _| {
                me.sort(account_id);
                Ok(())
            });
        }
    }

    /// Sorts the suffixes of `account_id`'s buffer as it is now and attaches them, if the
    /// buffer with them fits within `max_bytes` (evicting others as needed). The text is
    /// copied out first (a few milliseconds): searches, patches and appends go on while the
    /// sort takes seconds.
    pub(crate) fn sort(&self, account_id: i64) {
        let t = Instant::now();
        let Some(buffer) = self.lock().accounts.get(&account_id).and_then(|a| a.buffer.clone()) else {
            return;
        };
        let (text, starts, ids, old) = {
            let b = buffer.read().unwrap_or_else(PoisonError::into_inner);
            if !b.wants_sort(self.limits.sort_from) {
                return;
            }
            let old = b.suffixes.as_ref().map_or(0, |s| s.bytes());
            let ids: Arc<[i64]> = b.ids.as_slice().into();
            (b.text.clone(), b.starts.clone(), ids, old)
        };
        let fits = {
            let mut s = self.lock();
            // others are evicted to make room, least recently used first, as for a build
            let own = s.accounts.get(&account_id).map_or(0, |a| a.bytes);
            let fits = own - old + Suffixes::bytes_for(text.len(), ids.len()) <= self.limits.max_bytes;
            if let Some(a) = s.accounts.get_mut(&account_id).filter(|_| !fits) {
                a.sort_refused_at = Some(Instant::now());
            }
            fits
        };
        if !fits {
            tracing::info!(
                account_id,
                "keyword index: the account's suffixes do not fit, searches scan its text"
            );
            return;
        }
        let Some(sorted) = Suffixes::build(&text, &starts, ids) else {
            tracing::info!(
                account_id,
                "keyword index: a row too long to sort the suffixes, searches scan the text"
            );
            if let Some(a) = self.lock().accounts.get_mut(&account_id) {
                a.sort_refused_at = Some(Instant::now());
            }
            return;
        };
        let rows = sorted.rows();
        let mut b = buffer.write().unwrap_or_else(PoisonError::into_inner);
        // the text is only ever appended to: the part sorted is still the buffer's
        b.suffixes = Some(Arc::new(sorted));
        let bytes = b.bytes();
        drop(b);
        self.settle(account_id, &buffer, bytes);
        tracing::info!(
            account_id,
            rows,
            bytes,
            ms = t.elapsed().as_millis() as u64,
            "keyword index: suffixes sorted"
        );
    }

    /// Builds the buffers of the accounts with `BUILD_AT_START_FROM` live rows or more,
    /// largest first, on a thread of its own: a server that restarts does not make its first
    /// broad searches wait for FTS5.
    pub(crate) fn build_large_accounts(self: &Arc<Self>) {
        self.spawn(|me, conn| {
            let mut stmt = conn.prepare(
                "SELECT account_id FROM certificates WHERE deleted_at IS NULL \
                 GROUP BY account_id HAVING COUNT(*) >= ?1 ORDER BY COUNT(*) DESC",
            )?;
            let large = stmt
                .query_map([me.limits.build_at_start_from], |r| r.get::<_, i64>(0))?
                .collect::<rusqlite::Result<Vec<i64>>>()?;
            for account_id in large {
                me.build(conn, account_id)?;
            }
            Ok(())
        });
    }

    /// Runs `work` on a thread of its own over a connection of its own, unless a build runs
    /// (one at a time: each reads a whole account) or there is no database to open.
    fn spawn(self: &Arc<Self>, work: impl FnOnce(&Self, &Connection) -> Result<()> + Send + 'static) {
        let Some(path) = self.path.clone() else {
            return;
        };
        {
            let mut s = self.lock();
            if s.building || s.rest_until.is_some_and(|t| Instant::now() < t) {
                return;
            }
            s.building = true;
        }
        let me = Arc::clone(self);
        let run = move || {
            let t = Instant::now();
            let out = crate::fastread::open_reader(&path)
                .map_err(Into::into)
                .and_then(|conn| work(&me, &conn));
            if let Err(e) = out {
                tracing::warn!(error = %e, "keyword index build failed");
            }
            let mut s = me.lock();
            s.building = false;
            s.rest_until = Some(Instant::now() + t.elapsed() * REST);
        };
        if let Err(e) = std::thread::Builder::new().name("keyword-index".into()).spawn(run) {
            tracing::warn!(error = %e, "keyword index: no build thread");
            self.lock().building = false;
        }
    }

    /// Builds `account_id`'s buffer from `conn`'s snapshot and keeps it, unless a newer one
    /// is kept or it does not fit.
    pub(crate) fn build(&self, conn: &Connection, account_id: i64) -> Result<()> {
        #[cfg(test)]
        self.builds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = Instant::now();
        let tx = conn.unchecked_transaction()?;
        let (version, high) = state(&tx, account_id)?;
        let mut b = Buffer {
            version,
            high,
            ..Default::default()
        };
        let fits = b.read_rows(&tx, account_id, 0, i64::MAX - 1, self.limits.max_bytes)?;
        tx.commit()?;
        if !fits {
            let mut s = self.lock();
            let bytes = s.accounts.get(&account_id).map_or(0, |a| a.bytes);
            s.bytes -= bytes;
            s.accounts.insert(
                account_id,
                Slot {
                    refused_at: Some(Instant::now()),
                    ..Default::default()
                },
            );
            tracing::info!(account_id, "keyword index: account too large, searches stay on FTS5");
            return Ok(());
        }
        b.text.shrink_to_fit();
        b.starts.shrink_to_fit();
        b.ids.shrink_to_fit();
        b.dead.shrink_to_fit();
        let (rows, bytes) = (b.rows(), b.bytes());
        let mut s = self.lock();
        let kept = s.accounts.get(&account_id).and_then(|a| a.buffer.clone());
        if let Some(k) = kept {
            let k = k.read().unwrap_or_else(PoisonError::into_inner);
            // the counters only grow: a build from an older snapshot is not kept
            if k.version.0 > version.0 || k.version.1 > version.1 || (k.version == version && k.high >= high) {
                return Ok(());
            }
        }
        s.tick += 1;
        let tick = s.tick;
        let old = s.accounts.insert(
            account_id,
            Slot {
                buffer: Some(Arc::new(RwLock::new(b))),
                bytes,
                used: tick,
                ..Default::default()
            },
        );
        s.bytes = s.bytes - old.map_or(0, |o| o.bytes) + bytes;
        Self::evict(&mut s, self.limits.max_bytes, account_id);
        tracing::info!(
            account_id,
            rows,
            bytes,
            ms = t.elapsed().as_millis() as u64,
            "keyword index built"
        );
        drop(s);
        self.sort(account_id);
        Ok(())
    }

    /// Records that `buffer` of `account_id` now takes `bytes`, evicting others if over.
    fn settle(&self, account_id: i64, buffer: &Arc<RwLock<Buffer>>, bytes: usize) {
        let mut s = self.lock();
        let Some(a) = s
            .accounts
            .get_mut(&account_id)
            .filter(|a| a.buffer.as_ref().is_some_and(|b| Arc::ptr_eq(b, buffer)))
        else {
            return;
        };
        let before = std::mem::replace(&mut a.bytes, bytes);
        s.bytes = s.bytes - before + bytes;
        Self::evict(&mut s, self.limits.max_bytes, account_id);
    }

    /// Drops the least recently used buffers while over `max_bytes`, `keep`'s last.
    fn evict(s: &mut Slots, max_bytes: usize, keep: i64) {
        while s.bytes > max_bytes {
            let victim = s
                .accounts
                .iter()
                .filter(|(_, a)| a.buffer.is_some())
                .min_by_key(|(id, a)| (**id == keep, a.used))
                .map(|(&id, _)| id);
            let Some(id) = victim else { break };
            if let Some(a) = s.accounts.remove(&id) {
                s.bytes -= a.bytes;
            }
        }
    }

    /// Buffers kept and their bytes, for tests.
    #[cfg(test)]
    pub(crate) fn size(&self) -> (usize, usize) {
        let s = self.lock();
        (s.accounts.values().filter(|a| a.buffer.is_some()).count(), s.bytes)
    }

    #[cfg(test)]
    pub(crate) fn builds(&self) -> usize {
        self.builds.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(crate) fn building(&self) -> bool {
        self.lock().building
    }
}

#[cfg(test)]
#[path = "keyword_index_tests.rs"]
mod tests;
