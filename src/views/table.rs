//! The archived table every view with graphs is built on: rows of fixed capacity, a bucket per
//! open step per row, an `other` row for what does not fit, and (for hosts) rows that idle rows
//! give up to newcomers.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::AtomicU64;

use super::{Clock, Counts};
use crate::fxhash::FxBuild;
use crate::stats;

/// Where a key sits in a table's cache of recent rows (any value; the table reduces it).
pub trait CacheSlot {
    fn slot(&self) -> usize;
}

/// Rows remembered per table, direct-mapped by [`CacheSlot::slot`]: the hosts of a home network
/// (up to a /22) and a router's interfaces each get a slot of their own, so a lookup is one
/// comparison instead of a hash probe. A slot holds a row index (4 KiB a table); the row holds
/// its key, and the table stays the source of truth.
const CACHE: usize = 1024;

/// What a lookup found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Row {
    /// A row the key already had, or a new one.
    Fits(usize),
    /// A row an idle key gave up; the caller clears what it keeps per row.
    Reused(usize),
    /// No room: the `other` row.
    Other(usize),
}

impl Row {
    #[inline(always)]
    pub fn index(self) -> usize {
        match self {
            Row::Fits(i) | Row::Reused(i) | Row::Other(i) => i,
        }
    }
}

/// A table that takes new keys until it holds `max`, then counts into the `other` row (index
/// `max`), unless a row has been idle for `idle` steps: that row is given to the new key. Each row
/// has a bucket per open step, plus what earlier steps handed over.
pub struct Table<K> {
    index: HashMap<K, u32, FxBuild>,
    pub keys: Vec<K>,
    /// Per row (and `other` last): counts already handed over to the archive.
    base: Vec<Counts>,
    /// Slot-major: slot `k` of every row is `buckets[k * (max + 1) ..][..max + 1]`, so the rows'
    /// current buckets sit side by side, as dense as a plain table.
    buckets: Vec<Counts>,
    open: usize,
    pub max: usize,
    /// Row indexes; `u32::MAX` (never a row) when empty.
    cache: Box<[u32; CACHE]>,
    /// Per row, the last step it counted anything in.
    last: Vec<i64>,
    /// Per row (and `other` last): what the last hand-over took from it, whatever steps it was
    /// for: the "now" of the lists (what arrived during the last step).
    recent: Vec<Counts>,
    /// Steps a row must have been idle before it is given away; `None`: never.
    idle: Option<i64>,
    /// Rows idle long enough, found at each hand-over (most idle last).
    free: Vec<u32>,
    cur: i64,
}

impl<K: Hash + Eq + Copy + CacheSlot> Table<K> {
    pub fn new(max: usize, open: usize, idle: Option<i64>) -> Self {
        // Sized once: the table never holds more than `max` keys, so it never reallocates.
        Table {
            index: HashMap::with_capacity_and_hasher(max, FxBuild::default()),
            keys: Vec::with_capacity(max),
            base: vec![Counts::default(); max + 1],
            buckets: vec![Counts::default(); (max + 1) * open],
            open,
            max,
            cache: Box::new([u32::MAX; CACHE]),
            last: Vec::with_capacity(max),
            recent: vec![Counts::default(); max + 1],
            idle,
            free: Vec::new(),
            cur: 0,
        }
    }

    /// The row of `key`; `overflow` counts a key that did not fit, `size` tracks the row count,
    /// `reused` counts rows given to a new key.
    #[inline(always)]
    pub fn row(&mut self, key: K, overflow: &AtomicU64, size: &AtomicU64, reused: &AtomicU64) -> Row {
        let slot = key.slot() % CACHE;
        let cached = self.cache[slot] as usize;
        match self.keys.get(cached) {
            Some(k) if *k == key => Row::Fits(cached),
            _ => {
                let r = self.lookup(key, size, reused);
                match r {
                    Row::Fits(i) | Row::Reused(i) => self.cache[slot] = i as u32,
                    Row::Other(_) => stats::inc(overflow),
                }
                r
            }
        }
    }

    #[inline(always)]
    pub fn bucket(&mut self, row: usize, slot: usize) -> &mut Counts {
        &mut self.buckets[slot * (self.max + 1) + row]
    }

    /// The row index of `key`, added if there is room or an idle row to take.
    #[inline(never)]
    fn lookup(&mut self, key: K, size: &AtomicU64, reused: &AtomicU64) -> Row {
        let n = self.keys.len();
        if n < self.max {
            return Row::Fits(match self.index.entry(key) {
                Entry::Occupied(o) => *o.get() as usize,
                Entry::Vacant(v) => {
                    self.keys.push(key);
                    self.last.push(self.cur);
                    stats::set(size, (n + 1) as u64);
                    *v.insert(n as u32) as usize
                }
            });
        }
        if let Some(i) = self.index.get(&key) {
            return Row::Fits(*i as usize);
        }
        // A row idle since before the last hand-over's cut is still idle unless it counted since.
        while let Some(i) = self.free.pop() {
            let i = i as usize;
            if self.last[i] != self.cur && self.is_empty(i) {
                self.index.remove(&self.keys[i]);
                self.keys[i] = key;
                self.index.insert(key, i as u32);
                self.base[i] = Counts::default();
                self.recent[i] = Counts::default();
                self.last[i] = self.cur;
                stats::inc(reused);
                return Row::Reused(i);
            }
        }
        Row::Other(self.max)
    }

    fn is_empty(&self, i: usize) -> bool {
        self.buckets.iter().skip(i).step_by(self.max + 1).all(Counts::is_zero)
    }

    /// Row `i`'s total since it was given its key.
    pub fn total(&self, i: usize) -> Counts {
        let mut t = self.base[i];
        for c in self.buckets.iter().skip(i).step_by(self.max + 1) {
            t.add(c);
        }
        t
    }

    /// Row `i`'s counts taken by the last hand-over, and the last step it counted in (`None`
    /// for the `other` row).
    pub fn recent(&self, i: usize) -> (Counts, Option<i64>) {
        (self.recent[i], self.last.get(i).copied().filter(|_| i < self.max))
    }

    /// Hand over every row's buckets (non-zero ones, with their step) and empty them, then find
    /// the rows idle long enough to be given away.
    pub fn drain(&mut self, clock: &Clock, mut out: impl FnMut(Option<K>, i64, Counts)) {
        for i in (0..self.keys.len()).chain(std::iter::once(self.max)) {
            let mut any = false;
            self.recent[i] = Counts::default();
            for slot in 0..self.open {
                let c = std::mem::take(self.bucket(i, slot));
                if !c.is_zero() {
                    any = true;
                    self.base[i].add(&c);
                    self.recent[i].add(&c);
                    out(self.keys.get(i).copied().filter(|_| i < self.max), clock.step_of(slot), c);
                }
            }
            if any && i < self.max {
                self.last[i] = clock.cur;
            }
        }
    }

    /// After a hand-over to `cur`: note the step, and list the rows idle for `idle` steps.
    pub fn settle(&mut self, cur: i64) {
        self.cur = cur;
        let Some(idle) = self.idle else { return };
        self.free.clear();
        if self.keys.len() < self.max {
            return;
        }
        let mut idle_rows: Vec<(i64, u32)> =
            (0..self.keys.len()).filter(|&i| cur - self.last[i] >= idle).map(|i| (self.last[i], i as u32)).collect();
        // Most idle handed out first (popped from the end).
        idle_rows.sort_by(|a, b| b.cmp(a));
        self.free.extend(idle_rows.into_iter().map(|(_, i)| i));
    }

    #[cfg(test)]
    pub fn capacity(&self) -> (usize, usize) {
        (self.index.capacity(), self.keys.capacity())
    }
}
