//! One account's searchable text as `keyword_index` keeps it: the rows' folded columns in
//! one buffer, each row's start and id, the rows changed since (dead in the buffer, their new
//! text beside it), and the sorted suffixes of the rows read before the last sort. A search
//! looks the sorted rows up and passes over the rest (`Buffer::scan`).

use crate::Result;
use crate::keyword_fold::fold_char;
use crate::keyword_matches::Matches;
use crate::keyword_suffixes::Suffixes;
use memchr::memmem::Finder;
use rusqlite::Connection;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Rows appended after the sorted ones that a search passes over before the suffixes are
/// sorted again: this many, or an eighth of the sorted rows if more.
const SORT_AGAIN_AFTER: usize = 20_000;
/// What `bytes` counts for a patched row besides its text: its id and its share of the map.
const PATCHED_ROW_BYTES: usize = 48;

/// One account's live rows, exact at `version` and `high`.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    /// The account's text version and the global list version.
    pub(crate) version: (i64, i64),
    /// The highest certificate id of the database.
    pub(crate) high: i64,
    /// Row ids, ascending.
    pub(crate) ids: Vec<i64>,
    /// Where each row's text starts in `text`.
    pub(crate) starts: Vec<u32>,
    /// Every row's folded columns, each followed by a NUL, as read. Never changed, only
    /// appended to: `suffixes` covers a prefix of it.
    pub(crate) text: Vec<u8>,
    /// A bit per row: set for a row changed since the build, whose text here is no longer
    /// its own (its new text, if it is still a live row of the account, is in `patched`).
    pub(crate) dead: Vec<u64>,
    /// The sorted suffixes of the text of the first rows, once sorted (`KeywordIndex::sort`).
    pub(crate) suffixes: Option<Arc<Suffixes>>,
    /// Rows re-read after a change since the build, by id: their folded columns as in `text`.
    pub(crate) patched: BTreeMap<i64, Vec<u8>>,
    /// What `patched` takes, as `bytes` counts it: kept as it changes, since `bytes` runs on
    /// every append.
    pub(crate) patched_bytes: usize,
}

impl Buffer {
    pub(crate) fn bytes(&self) -> usize {
        self.text.capacity()
            + self.starts.capacity() * 4
            + self.ids.capacity() * 8
            + self.dead.capacity() * 8
            + self.suffixes.as_ref().map_or(0, |s| s.bytes())
            + self.patched_bytes
    }

    /// `bytes` without the spare capacity: what the limit is checked against while reading.
    pub(crate) fn used(&self) -> usize {
        self.text.len() + self.ids.len() * 12
    }

    pub(crate) fn rows(&self) -> usize {
        self.ids.len()
    }

    /// Whether its suffixes are worth sorting (again): enough rows, and none sorted yet or
    /// many appended since.
    pub(crate) fn wants_sort(&self, sort_from: usize) -> bool {
        match &self.suffixes {
            None => self.rows() >= sort_from,
            Some(s) => self.rows() - s.rows() > SORT_AGAIN_AFTER.max(s.rows() / 8),
        }
    }

    /// Appends a row (its id above every kept one); false when the text would pass 4 GiB.
    pub(crate) fn push(&mut self, id: i64, columns: [&str; 3]) -> bool {
        let Ok(start) = u32::try_from(self.text.len()) else {
            return false;
        };
        row_text(columns, &mut self.text);
        self.push_row(id, start);
        true
    }

    /// Records a row whose text starts at `start` (the text already appended).
    pub(crate) fn push_row(&mut self, id: i64, start: u32) {
        self.starts.push(start);
        self.ids.push(id);
        self.dead.resize(self.ids.len().div_ceil(64), 0);
    }

    /// Takes row `id`'s text as it is kept now out of the searches: its row marked dead,
    /// dropped from `patched`.
    pub(crate) fn forget(&mut self, id: i64) {
        if let Ok(row) = self.ids.binary_search(&id) {
            self.dead[row >> 6] |= 1 << (row & 63);
        }
        if let Some(old) = self.patched.remove(&id) {
            self.patched_bytes -= old.capacity() + PATCHED_ROW_BYTES;
        }
    }

    /// Keeps `text` as row `id`'s, beside `text`; the row's old text is already forgotten.
    pub(crate) fn patch_in(&mut self, id: i64, text: Vec<u8>) {
        self.patched_bytes += text.capacity() + PATCHED_ROW_BYTES;
        self.patched.insert(id, text);
    }

    /// Reads the live rows of `account_id` with an id above `after` in `conn`'s snapshot
    /// into the buffer, at most `max_rows` (more: `Ok(false)`, the buffer part filled) and
    /// while it stays within `max_bytes` (`Ok(false)` too).
    pub(crate) fn read_rows(
        &mut self,
        conn: &Connection,
        account_id: i64,
        after: i64,
        max_rows: i64,
        max_bytes: usize,
    ) -> Result<bool> {
        let mut stmt = conn.prepare_cached(
            "SELECT id, name, common_name, sans FROM certificates \
             WHERE account_id = ?1 AND deleted_at IS NULL AND id > ?2 ORDER BY id LIMIT ?3",
        )?;
        let mut rows = stmt.query((account_id, after, max_rows.saturating_add(1)))?;
        let mut seen = 0i64;
        while let Some(r) = rows.next()? {
            seen += 1;
            let text = |i| r.get_ref(i).map(|v| v.as_str().unwrap_or(""));
            if seen > max_rows || !self.push(r.get(0)?, [text(1)?, text(2)?, text(3)?]) || self.used() > max_bytes {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The ids of the rows up to id `high` whose text holds `needle`.
    pub(crate) fn scan(&self, needle: &[u8], high: i64) -> Matches {
        let rows = self.ids.partition_point(|&id| id <= high);
        let mut hits = vec![0u64; rows.div_ceil(64)];
        let sorted = match &self.suffixes {
            Some(s) => {
                s.mark(&self.text, &self.starts, needle, rows, &mut hits);
                s.rows().min(rows)
            }
            None => 0,
        };
        let finder = Finder::new(needle);
        self.mark_scanned(&finder, sorted..rows, &mut hits);
        for (h, &d) in hits.iter_mut().zip(&self.dead) {
            *h &= !d;
        }
        // The sorted rows' matches stay bits (a broad keyword's are up to a million ids);
        // those of the rows passed over and of the patched ones become ids.
        let mut rest = Vec::new();
        for (i, &h) in hits.iter().enumerate().skip(sorted / 64) {
            let mut h = if i == sorted / 64 {
                h & !((1u64 << (sorted % 64)) - 1)
            } else {
                h
            };
            while h != 0 {
                rest.push(self.ids[i << 6 | h.trailing_zeros() as usize]);
                h &= h - 1;
            }
        }
        let patched = self
            .patched
            .range(..=high)
            .filter(|(_, text)| finder.find(text).is_some());
        let before = rest.len();
        rest.extend(patched.map(|(&id, _)| id));
        if rest.len() > before {
            // a patched row is dead in `text`: the lists never share an id
            rest.sort_unstable();
        }
        match &self.suffixes {
            Some(s) => Matches::new(s.ids(), hits, rest),
            None => Matches::from(rest),
        }
    }

    /// Marks in `hits` the rows of `rows` whose text holds `finder`'s needle, one pass over
    /// their text.
    pub(crate) fn mark_scanned(&self, finder: &Finder<'_>, rows: std::ops::Range<usize>, hits: &mut [u64]) {
        let Some(&from) = self.starts.get(rows.start) else {
            return;
        };
        let end = self.starts.get(rows.end).map_or(self.text.len(), |&s| s as usize);
        let hay = &self.text[..end];
        let (mut pos, mut row) = (from as usize, rows.start);
        while let Some(i) = finder.find(&hay[pos..]) {
            row = row_of(&self.starts[..rows.end], row, pos + i);
            hits[row >> 6] |= 1 << (row & 63);
            // the row matches: on to the next one
            row += 1;
            match self.starts.get(row) {
                Some(&s) if row < rows.end => pos = s as usize,
                _ => break,
            }
        }
    }
}

/// Appends a row's searchable text to `out`: its columns folded, each followed by a NUL,
/// leaving out a column inside another (an equal one: inside the first of them), which
/// adds no match.
pub(crate) fn row_text(columns: [&str; 3], out: &mut Vec<u8>) {
    let folded = columns.map(fold);
    for (i, c) in folded.iter().enumerate() {
        let inside = folded
            .iter()
            .enumerate()
            .any(|(j, o)| j != i && o.contains(c.as_str()) && (o.len() > c.len() || j < i));
        if !inside {
            out.extend_from_slice(c.as_bytes());
            out.push(0);
        }
    }
}

/// `text` folded as the tokenizer folds it, as UTF-8.
pub(crate) fn fold(text: &str) -> String {
    if text.is_ascii() {
        // the common case, a byte at a time
        return text.to_ascii_lowercase();
    }
    text.chars().map(fold_char).collect()
}

/// The last row at or after `from` that starts at or before `at`: galloping, since the next
/// match is usually a few rows on.
fn row_of(starts: &[u32], from: usize, at: usize) -> usize {
    let at = at as u32;
    let mut step = 1;
    let mut lo = from;
    while lo + step < starts.len() && starts[lo + step] <= at {
        lo += step;
        step *= 2;
    }
    let hi = (lo + step).min(starts.len());
    lo + starts[lo..hi].partition_point(|&s| s <= at) - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn suffixes_are_sorted_again_once_many_rows_were_appended() {
        let mut b = Buffer::default();
        let push = |b: &mut Buffer, n: usize| {
            for _ in 0..n {
                let id = b.ids.last().map_or(1, |i| i + 1);
                assert!(b.push(id, ["a.example", "", "www.a.example"]));
            }
        };
        push(&mut b, 10);
        assert!(!b.wants_sort(11));
        assert!(b.wants_sort(10));
        b.suffixes = Some(Arc::new(
            Suffixes::build(&b.text, &b.starts, b.ids.clone().into()).unwrap(),
        ));
        assert!(!b.wants_sort(10));
        push(&mut b, SORT_AGAIN_AFTER);
        assert!(!b.wants_sort(10), "no more than SORT_AGAIN_AFTER appended");
        push(&mut b, 1);
        assert!(b.wants_sort(10));
        // appended rows are scanned, the sorted ones looked up: all found once
        assert_eq!(b.scan(b"a.exa", i64::MAX).len(), 10 + SORT_AGAIN_AFTER + 1);
        assert_eq!(b.scan(b"a.exa", 10).len(), 10);
    }

    /// The scan's cost at a million rows shaped like the bench's, and the buffer's size:
    /// `cargo test --release -p opencas-store keyword_buffer -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn scan_cost_at_a_million_rows() {
        const WORDS: [&str; 6] = ["alphas", "bravos", "charly", "deltas", "echoes", "foxtrt"];
        let t = Instant::now();
        let mut b = Buffer::default();
        for n in 0..1_000_000i64 {
            let host = format!("host{n:07}.{}.example.com", WORDS[(n % 6) as usize]);
            let sans = format!("{host},www.{host}");
            assert!(b.push(n + 1, [&host, &host, &sans]));
        }
        b.text.shrink_to_fit();
        b.starts.shrink_to_fit();
        b.ids.shrink_to_fit();
        println!(
            "built in {:?} (no database read): {} rows, {} bytes ({} of text)",
            t.elapsed(),
            b.rows(),
            b.bytes(),
            b.text.len()
        );
        scan_costs(&b, "scanned");
        let t = Instant::now();
        b.suffixes = Some(Arc::new(
            Suffixes::build(&b.text, &b.starts, b.ids.clone().into()).unwrap(),
        ));
        println!("suffixes sorted in {:?}: {} bytes in all", t.elapsed(), b.bytes());
        scan_costs(&b, "sorted");
    }

    fn scan_costs(b: &Buffer, what: &str) {
        println!("{what}:");
        for k in [
            "cdef.exa",
            "charly.example",
            "rly.example.co",
            "example",
            "host0555557",
            "0555557",
            "zzzz",
        ] {
            let mut times = Vec::new();
            let mut found = 0;
            for _ in 0..20 {
                let t = Instant::now();
                found = b.scan(k.as_bytes(), i64::MAX).len();
                times.push(t.elapsed());
            }
            times.sort();
            println!(
                "{k:>16}: {found:>7} matches, median {:?}, max {:?}",
                times[10], times[19]
            );
        }
    }
}
