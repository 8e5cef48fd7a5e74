//! The sorted suffixes of a keyword index buffer's text, so that a broad keyword costs two
//! binary searches and one sequential read of its matches instead of a pass over the text.
//!
//! A pass over a million bench rows (66 MB) costs ~3.5 ms of a core however few rows match,
//! and half of it goes on the matches: sixteen first-time broad searches at once queue for
//! tens of milliseconds on two cores. Every occurrence of a needle starts a suffix of the text
//! that begins with the needle, and those suffixes are one contiguous range of the sorted
//! ones: two binary searches (~50 probes into the text) find it. Each sorted suffix also
//! names its row, so the range is read in sequence and its rows marked in a bitset (a row
//! holding the needle twice is marked once): ~0.3 ms for 166,667 matching rows, ~20 µs for a
//! keyword found nowhere.
//!
//! A suffix is kept as its row (4 bytes) and its offset in the row's text (2 bytes), not as
//! its position in the text: 6 bytes per byte of text instead of 8 for position and row, at
//! the price of one more read per probe. A row's text of 64 KiB or more does not fit the
//! offset; such a buffer is not sorted and its searches scan it. The sort itself is libsais
//! (Ilya Grebnov's SA-IS, the fastest suffix sorter we know of; one thread, the cores serve
//! requests): ~2.1 s for 66 MB, and ~1 s more to name each suffix's row.
//!
//! The text covered never changes while the suffixes are kept: the buffer marks a changed
//! row dead instead of zeroing its text, and appends after the covered bytes.
//!
//! Marking is bound by its scattered writes (~0.6 ns a suffix): half a first-time broad
//! search's CPU at a million rows. So the rows of each run of `1 << run_shift` consecutive
//! sorted suffixes are also kept as a bitset, made once at build time; a range marks its whole runs
//! by OR-ing their bitsets in (one sequential pass of a row bit each, ~10× cheaper than
//! scattering the run) and scatters only its ragged ends. A run is at least an eighth of the
//! rows long, so its bitset takes at most a byte per suffix it stands for: the bitsets are at
//! most a sixth of the size of the suffixes (63 MB beside 396 MB at a million bench rows).

use libsais::SuffixArrayConstruction;
use std::sync::Arc;

/// Longest row text (bytes) an offset can address.
const MAX_ROW: usize = u16::MAX as usize;

/// The sorted suffixes of `text[..len]`, the text of the buffer's first rows (those of `ids`).
#[derive(Debug)]
pub(crate) struct Suffixes {
    len: usize,
    /// The sorted rows' ids: a search's matches among them are kept as a bitset beside them
    /// (`keyword_matches`).
    ids: Arc<[i64]>,
    /// Each sorted suffix's row.
    row: Vec<u32>,
    /// Each sorted suffix's offset in its row's text.
    offset: Vec<u16>,
    /// log2 of the suffixes in a run (`runs`).
    run_shift: u32,
    /// The rows of each whole run of sorted suffixes, as a bitset of `words` words apiece.
    runs: Vec<u64>,
    words: usize,
}

/// log2 of the suffixes of a run for `rows` rows: the power of two at or above an eighth of
/// the rows (and at least 4,096), so that a run's bitset (`rows` bits) is at most a byte per
/// suffix it stands for. About the length at which a broad keyword's cost is least: longer
/// runs leave longer ends to scatter, shorter ones more bitsets to OR.
fn run_shift_for(rows: usize) -> u32 {
    (rows / 8).max(4096).next_power_of_two().trailing_zeros()
}

impl Suffixes {
    /// What sorting `len` bytes of text of `rows` rows takes.
    pub(crate) fn bytes_for(len: usize, rows: usize) -> usize {
        len * 6 + rows * 8 + (len >> run_shift_for(rows)) * rows.div_ceil(64) * 8
    }

    /// Sorts the suffixes of `text`, whose rows start at `starts` (ascending, the first at
    /// 0) and have the ids `ids`. `None` when a row's text is too long for an offset, the
    /// text for libsais's 32-bit positions, or `ids` not one per row.
    pub(crate) fn build(text: &[u8], starts: &[u32], ids: Arc<[i64]>) -> Option<Self> {
        Self::build_with_runs(text, starts, ids, run_shift_for(starts.len()))
    }

    fn build_with_runs(text: &[u8], starts: &[u32], ids: Arc<[i64]>, run_shift: u32) -> Option<Self> {
        let len = text.len();
        if len >= i32::MAX as usize || starts.len() != ids.len() || starts.first().is_some_and(|&s| s != 0) {
            return None;
        }
        let ends = starts.iter().skip(1).map(|&s| s as usize).chain([len]);
        if starts.iter().zip(ends).any(|(&s, e)| e - s as usize > MAX_ROW) {
            return None;
        }
        let sorted: Vec<i32> = SuffixArrayConstruction::for_text(text)
            .in_owned_buffer()
            .single_threaded()
            .run()
            .ok()?
            .into_vec();
        let rows = RowFinder::new(starts, len);
        let mut offset = Vec::with_capacity(len);
        // the positions become rows in place: no second array of 4 bytes per byte
        let row: Vec<u32> = sorted
            .into_iter()
            .map(|p| {
                let p = p as usize;
                let r = rows.row(p);
                offset.push((p - starts[r] as usize) as u16);
                r as u32
            })
            .collect();
        let words = starts.len().div_ceil(64);
        let mut runs = vec![0u64; (row.len() >> run_shift) * words];
        for (run, bits) in row
            .chunks_exact(1 << run_shift)
            .zip(runs.chunks_exact_mut(words.max(1)))
        {
            for &r in run {
                bits[r as usize >> 6] |= 1 << (r & 63);
            }
        }
        Some(Self {
            len,
            ids,
            row,
            offset,
            run_shift,
            runs,
            words,
        })
    }

    /// Rows covered: the buffer's first `rows()`.
    pub(crate) fn rows(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.row.capacity() * 4 + self.offset.capacity() * 2 + self.ids.len() * 8 + self.runs.capacity() * 8
    }

    pub(crate) fn ids(&self) -> Arc<[i64]> {
        Arc::clone(&self.ids)
    }

    /// Marks in `hits` (bit `r` for row `r`) every covered row below `below` whose text holds
    /// `needle`, which holds no NUL (every row's text ends with one, so such a needle never
    /// runs from one row into the next). `text` and `starts` are the buffer's, of which the
    /// covered part is the one sorted.
    pub(crate) fn mark(&self, text: &[u8], starts: &[u32], needle: &[u8], below: usize, hits: &mut [u64]) {
        debug_assert!(!needle.contains(&0));
        if needle.is_empty() {
            return;
        }
        let text = &text[..self.len];
        let suffix = |k: usize| &text[starts[self.row[k] as usize] as usize + self.offset[k] as usize..];
        let from = first(0, self.row.len(), |k| suffix(k) < needle);
        let to = first(from, self.row.len(), |k| suffix(k).starts_with(needle));
        let scatter = |hits: &mut [u64], part: &[u32]| {
            for &r in part {
                let r = r as usize;
                if r < below {
                    hits[r >> 6] |= 1 << (r & 63);
                }
            }
        };
        // the whole runs within from..to
        let (first_run, end_run) = (from.div_ceil(1 << self.run_shift), to >> self.run_shift);
        if first_run >= end_run {
            scatter(hits, &self.row[from..to]);
            return;
        }
        scatter(hits, &self.row[from..first_run << self.run_shift]);
        scatter(hits, &self.row[end_run << self.run_shift..to]);
        // the words wholly below `below`, then the bits below it of the next one
        let (whole, tail) = (below / 64, (1u64 << (below % 64)) - 1);
        let words = whole.min(self.words).min(hits.len());
        let has_tail = tail != 0 && whole < self.words.min(hits.len());
        for bits in self.runs.chunks_exact(self.words.max(1)).take(end_run).skip(first_run) {
            for (h, b) in hits[..words].iter_mut().zip(bits) {
                *h |= b;
            }
            if has_tail {
                hits[whole] |= bits[whole] & tail;
            }
        }
    }
}

/// The first index in `lo..hi` for which `before` is false, `before` being true up to it.
fn first(mut lo: usize, mut hi: usize, before: impl Fn(usize) -> bool) -> usize {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The row of a text position, through a table of the row at every 64th byte (a 64th of
/// the text's size in rows, where a table of every byte's row would take 4 bytes per byte)
/// and a step or two on from there: rows are ~66 bytes long.
struct RowFinder<'a> {
    starts: &'a [u32],
    at_block: Vec<u32>,
}

const BLOCK: usize = 64;

impl<'a> RowFinder<'a> {
    fn new(starts: &'a [u32], len: usize) -> Self {
        let mut at_block = Vec::with_capacity(len.div_ceil(BLOCK));
        let mut r = 0usize;
        for block in 0..len.div_ceil(BLOCK) {
            let at = block * BLOCK;
            while r + 1 < starts.len() && starts[r + 1] as usize <= at {
                r += 1;
            }
            at_block.push(r as u32);
        }
        Self { starts, at_block }
    }

    fn row(&self, p: usize) -> usize {
        let mut r = self.at_block[p / BLOCK] as usize;
        while r + 1 < self.starts.len() && self.starts[r + 1] as usize <= p {
            r += 1;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of random text over a few letters (so that needles repeat within and across rows).
    fn rows(seed: u64, n: usize) -> (Vec<u8>, Vec<u32>) {
        let mut x = seed;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let (mut text, mut starts) = (Vec::new(), Vec::new());
        for _ in 0..n {
            starts.push(text.len() as u32);
            for _ in 0..(next() % 40) {
                text.push(b"abc.,"[(next() % 5) as usize]);
                if next() % 16 == 0 {
                    // the end of a column
                    text.push(0);
                }
            }
            text.push(0);
        }
        (text, starts)
    }

    fn ids_for(starts: &[u32]) -> Arc<[i64]> {
        (1..=starts.len() as i64).collect::<Vec<i64>>().into()
    }

    fn naive(text: &[u8], starts: &[u32], needle: &[u8], below: usize) -> Vec<usize> {
        (0..below.min(starts.len()))
            .filter(|&r| {
                let end = starts.get(r + 1).map_or(text.len(), |&e| e as usize);
                memchr::memmem::find(&text[starts[r] as usize..end], needle).is_some()
            })
            .collect()
    }

    fn marked(hits: &[u64]) -> Vec<usize> {
        (0..hits.len() * 64)
            .filter(|&r| hits[r >> 6] >> (r & 63) & 1 == 1)
            .collect()
    }

    #[test]
    fn the_marked_rows_are_those_holding_the_needle() {
        for seed in 1..=20 {
            let (text, starts) = rows(seed, 300);
            // runs of 4,096 (the text is shorter: no whole run) down to a single suffix
            let run_shift = [run_shift_for(300), 0, 1, 3, 6, 9][seed as usize % 6];
            let s = Suffixes::build_with_runs(&text, &starts, ids_for(&starts), run_shift).unwrap();
            assert_eq!((s.rows(), s.len), (starts.len(), text.len()));
            let mut needles: Vec<Vec<u8>> = ["a", "ab", "abc", "c.a", ",,", "a.b,c", "zz", "cccccccccc"]
                .map(|n| n.as_bytes().to_vec())
                .to_vec();
            // pieces of the text itself up to a column's end
            for at in (0..text.len().saturating_sub(8)).step_by(37) {
                let piece = text[at..at + 1 + at % 7].split(|&b| b == 0).next().unwrap();
                if !piece.is_empty() {
                    needles.push(piece.to_vec());
                }
            }
            for needle in &needles {
                for below in [starts.len(), starts.len() / 2, starts.len() / 2 + 7, 64, 0] {
                    let mut hits = vec![0u64; starts.len().div_ceil(64)];
                    s.mark(&text, &starts, needle, below, &mut hits);
                    assert_eq!(
                        marked(&hits),
                        naive(&text, &starts, needle, below),
                        "{needle:?} below {below}"
                    );
                }
            }
        }
    }

    #[test]
    fn text_appended_after_the_sorted_part_is_not_searched_by_it() {
        let (mut text, mut starts) = rows(7, 50);
        let s = Suffixes::build(&text, &starts, ids_for(&starts)).unwrap();
        starts.push(text.len() as u32);
        text.extend_from_slice(b"zzzz\0");
        let mut hits = vec![0u64; starts.len().div_ceil(64)];
        s.mark(&text, &starts, b"zz", starts.len(), &mut hits);
        assert!(marked(&hits).is_empty());
    }

    #[test]
    fn rows_too_long_for_an_offset_are_not_sorted() {
        let text = vec![b'a'; MAX_ROW + 2];
        assert!(Suffixes::build(&text, &[0], ids_for(&[0])).is_none());
        assert!(Suffixes::build(&text, &[0, 2], ids_for(&[0, 2])).is_some());
        assert!(Suffixes::build(&[], &[], ids_for(&[])).is_some());
    }

    #[test]
    fn the_row_of_every_position() {
        let (text, starts) = rows(3, 500);
        let f = RowFinder::new(&starts, text.len());
        for r in 0..starts.len() {
            let end = starts.get(r + 1).map_or(text.len(), |&e| e as usize);
            for p in starts[r] as usize..end {
                assert_eq!(f.row(p), r);
            }
        }
    }
}
