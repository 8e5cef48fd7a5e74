//! The ids a keyword search found, as `keyword_cache` keeps them and a page is cut from them.
//!
//! A broad keyword of a large account matches up to every row: a million ids, 8 MB written,
//! page-faulted and kept per keyword, where the sorted suffixes of the account's text found
//! them as a bitset of 125 KB. So the matches among the sorted rows stay that bitset, beside
//! the sorted rows' ids (shared by every search: `Suffixes::ids`), and only the other matches
//! (rows appended after the sort, rows changed since, later inserts) are a list of ids. A page
//! walks both from the top.

use crate::search::Window;
use std::iter::Peekable;
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub(crate) struct Matches {
    sorted: Option<SortedHits>,
    /// The other matching ids, ascending; none of them among `sorted`'s.
    rest: Vec<i64>,
}

#[derive(Debug, Clone)]
struct SortedHits {
    /// The sorted rows' ids, ascending.
    ids: Arc<[i64]>,
    /// A bit per sorted row: set when it matches.
    hits: Vec<u64>,
    count: usize,
}

impl From<Vec<i64>> for Matches {
    fn from(rest: Vec<i64>) -> Self {
        Self { sorted: None, rest }
    }
}

impl PartialEq for Matches {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.to_vec() == other.to_vec()
    }
}

impl Eq for Matches {}

impl Matches {
    /// The rows of `ids` whose bit is set in `hits` (bits past `ids` ignored), and
    /// `rest`, ascending, holding none of them.
    pub(crate) fn new(ids: Arc<[i64]>, mut hits: Vec<u64>, rest: Vec<i64>) -> Self {
        hits.resize(ids.len().div_ceil(64), 0);
        if let Some(last) = hits.last_mut()
            && !ids.len().is_multiple_of(64)
        {
            *last &= (1u64 << (ids.len() % 64)) - 1;
        }
        let count = hits.iter().map(|h| h.count_ones() as usize).sum();
        Self {
            sorted: Some(SortedHits { ids, hits, count }),
            rest,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.sorted.as_ref().map_or(0, |s| s.count) + self.rest.len()
    }

    /// What keeping it takes, in ids (8 bytes).
    pub(crate) fn weight(&self) -> usize {
        self.sorted.as_ref().map_or(0, |s| s.hits.len()) + self.rest.len()
    }

    /// Adds ids above every one held, ascending.
    pub(crate) fn extend(&mut self, above: Vec<i64>) {
        self.rest.extend(above);
    }

    /// Every id, ascending.
    pub(crate) fn to_vec(&self) -> Vec<i64> {
        let mut all: Vec<i64> = self.below(None).collect();
        all.reverse();
        all
    }

    /// The ids below `before` (all without it), newest first.
    fn below(&self, before: Option<i64>) -> impl Iterator<Item = i64> + '_ {
        let under = |ids: &[i64]| before.map_or(ids.len(), |b| ids.partition_point(|&id| id < b));
        let sorted = self.sorted.as_ref().map(|s| Bits::below(s, under(&s.ids)));
        Merged {
            sorted: sorted.into_iter().flatten().peekable(),
            rest: self.rest[..under(&self.rest)].iter().rev().copied().peekable(),
        }
    }

    /// The ids of `window`, newest first, and for a keyset window the id to continue below
    /// when more follow.
    pub(crate) fn window(&self, window: Window) -> (Vec<i64>, Option<i64>) {
        match window {
            Window::Offset(p) => {
                let (skip, take) = (p.offset.max(0) as usize, p.limit.max(0) as usize);
                (self.below(None).skip(skip).take(take).collect(), None)
            }
            Window::Keyset { before_id, limit } => {
                let limit = limit.max(0) as usize;
                let mut below = self.below(before_id);
                let page: Vec<i64> = below.by_ref().take(limit).collect();
                let next = if below.next().is_some() {
                    page.last().copied()
                } else {
                    None
                };
                (page, next)
            }
        }
    }
}

/// The set bits of `SortedHits` from a row down, as ids.
struct Bits<'a> {
    of: &'a SortedHits,
    word: usize,
    left: u64,
}

impl<'a> Bits<'a> {
    /// From row `under - 1` down.
    fn below(of: &'a SortedHits, under: usize) -> Self {
        if under == 0 {
            return Self { of, word: 0, left: 0 };
        }
        let word = (under - 1) / 64;
        let keep = (under - 1) % 64;
        let mask = if keep == 63 { u64::MAX } else { (1u64 << (keep + 1)) - 1 };
        Self {
            of,
            word,
            left: of.hits[word] & mask,
        }
    }
}

impl Iterator for Bits<'_> {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        while self.left == 0 {
            if self.word == 0 {
                return None;
            }
            self.word -= 1;
            self.left = self.of.hits[self.word];
        }
        let bit = 63 - self.left.leading_zeros() as usize;
        self.left &= !(1u64 << bit);
        Some(self.of.ids[self.word * 64 + bit])
    }
}

/// Two descending id streams as one.
struct Merged<A: Iterator<Item = i64>, B: Iterator<Item = i64>> {
    sorted: Peekable<A>,
    rest: Peekable<B>,
}

impl<A: Iterator<Item = i64>, B: Iterator<Item = i64>> Iterator for Merged<A, B> {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        match (self.sorted.peek(), self.rest.peek()) {
            (Some(a), Some(b)) if a > b => self.sorted.next(),
            (Some(_), None) => self.sorted.next(),
            _ => self.rest.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::Page;

    /// Matches of the ids 10, 20, … 1,300 (130 sorted rows) where `pick` says, and `rest`.
    fn sample(pick: impl Fn(usize) -> bool, rest: Vec<i64>) -> (Matches, Vec<i64>) {
        let ids: Vec<i64> = (1..=130).map(|i| i * 10).collect();
        let mut hits = vec![0u64; 3];
        for r in (0..130).filter(|&r| pick(r)) {
            hits[r / 64] |= 1 << (r % 64);
        }
        let mut all: Vec<i64> = (0..130).filter(|&r| pick(r)).map(|r| ids[r]).collect();
        all.extend(&rest);
        all.sort_unstable();
        (Matches::new(ids.into(), hits, rest), all)
    }

    /// What a page of `all` (ascending) is, as the list of ids did it.
    fn expected(all: &[i64], window: Window) -> (Vec<i64>, Option<i64>) {
        match window {
            Window::Offset(p) => (
                all.iter()
                    .rev()
                    .skip(p.offset as usize)
                    .take(p.limit as usize)
                    .copied()
                    .collect(),
                None,
            ),
            Window::Keyset { before_id, limit } => {
                let below = &all[..before_id.map_or(all.len(), |b| all.partition_point(|&id| id < b))];
                let page: Vec<i64> = below.iter().rev().take(limit as usize).copied().collect();
                let next = if below.len() > limit as usize {
                    page.last().copied()
                } else {
                    None
                };
                (page, next)
            }
        }
    }

    #[test]
    fn pages_are_those_of_the_list_of_ids() {
        let cases: Vec<(Matches, Vec<i64>)> = vec![
            sample(|r| r % 3 == 0, vec![15, 16, 641, 1_295, 2_000, 2_001]),
            sample(|_| true, vec![]),
            sample(|_| false, vec![5, 7]),
            sample(|r| r == 63 || r == 64 || r == 127 || r == 129, vec![1]),
            (Matches::from(vec![3, 4, 9]), vec![3, 4, 9]),
            (Matches::default(), vec![]),
        ];
        for (m, all) in &cases {
            assert_eq!(m.len(), all.len());
            assert_eq!(&m.to_vec(), all);
            for offset in [0, 1, 5, 40, 63, 64, 65, 200] {
                for limit in [0, 1, 7, 50, 500] {
                    let w = Window::Offset(Page { offset, limit });
                    assert_eq!(m.window(w), expected(all, w), "{w:?}");
                }
            }
            let mut befores: Vec<Option<i64>> = vec![None, Some(0), Some(1), Some(i64::MAX)];
            befores.extend(all.iter().map(|&id| Some(id)));
            befores.extend(all.iter().map(|&id| Some(id + 1)));
            for before_id in befores {
                for limit in [0, 1, 3, 50] {
                    let w = Window::Keyset { before_id, limit };
                    assert_eq!(m.window(w), expected(all, w), "{w:?}");
                }
            }
        }
    }

    #[test]
    fn ids_added_above_come_first() {
        let (mut m, mut all) = sample(|r| r % 2 == 1, vec![2_000]);
        m.extend(vec![3_000, 3_001]);
        all.extend([3_000, 3_001]);
        assert_eq!(m.to_vec(), all);
        assert_eq!(
            m.window(Window::Keyset {
                before_id: None,
                limit: 2
            })
            .0,
            vec![3_001, 3_000]
        );
        let weight = m.weight();
        assert_eq!(weight, 3 + 3);
    }

    #[test]
    fn bits_past_the_sorted_rows_are_dropped() {
        let ids: Arc<[i64]> = (1..=70).collect::<Vec<i64>>().into();
        let m = Matches::new(ids, vec![u64::MAX, u64::MAX, u64::MAX], vec![]);
        assert_eq!(m.len(), 70);
        assert_eq!(m.to_vec(), (1..=70).collect::<Vec<i64>>());
    }
}
