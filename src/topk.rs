//! Bounded heavy-hitter tables: a host's busiest remote peers, the busiest conversations and
//! ports, each in memory fixed at construction however many keys the network shows.
//!
//! # Algorithm
//! Misra–Gries ("Frequent") with batched decrements, as the Apache DataSketches frequent-items
//! sketch does it: the table holds up to `k` keys with a counter each. An add for a key in the
//! table adds to its counter; a new key takes a free row. When all `k` rows are taken, a *purge*
//! first finds `δ`, the `(k/2 + 1)`-th largest counter, subtracts it from every counter and drops
//! the rows that reach 0, so at most `k/2` rows stay; `Δ` (the sum of every purge's `δ`) grows
//! by `δ`. A purge costs O(k) and comes at most once per `k/2` new keys, so every add costs O(1)
//! amortised: no heap to keep sorted, which matters because each record adds to three of these
//! tables and a flood of new remote addresses makes every add a new key. (Space-Saving, with a
//! min-heap, was tried first and cost 60–200 ns per record under that flood.)
//!
//! # What an entry says
//! Let `N` be [`TopK::total`], `k` the capacity, and for a key `true_rx`, `true_tx` and
//! `true = true_rx + true_tx` everything added for it. An [`Entry`] holds:
//! - `rx`, `tx`: what was added for the key since it last entered the table (exact for that time);
//! - `error`: `Δ` when it entered: 0 if it entered before any purge.
//!
//! For every key in the table: `rx <= true_rx <= rx + error`, `tx <= true_tx <= tx + error`,
//! `rx + tx <= true <= rx + tx + error`, and `error <= Δ <= N / (k/2 + 1)`. A key *not* in the
//! table has `true <= Δ`, so every key with `true > Δ` (in particular `true > N / (k/2 + 1)`) is
//! listed. While at most `k` distinct keys were added, nothing was purged: [`TopK::exact`] is
//! true and every entry is exact.
//!
//! Why: a purge lowers each counter by at most `δ` and drops only counters at most `δ`, so a
//! key's counter falls short of its true total by at most `Δ` (absent keys count 0), and a key
//! absent when `Δ` had some value had at most that much before it entered. Each purge removes at
//! least `(k/2 + 1) · δ` from the counters, which never hold more than `N`, so `Δ <= N/(k/2+1)`.
//!
//! # Arithmetic
//! Counts saturate at `u64::MAX` (some 18 EB, which no link reaches) rather than wrap. An add of
//! weight 0 changes nothing.
//!
//! # Memory
//! All allocated by [`TopK::new`]: `k` rows (the key and four `u64`), an index of `u32` at least
//! twice `k` (open addressing, at most half full) and `k` `u64` of scratch for the purge.
//! [`TopK::memory`] says how much; it never changes.

use std::hash::{BuildHasher, Hash};

use crate::fxhash::FxBuild;

/// An index position that holds no key.
const EMPTY: u32 = u32::MAX;

/// A key in the table, as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<K> {
    pub key: K,
    /// Received since the key entered the table; at most the true value.
    pub rx: u64,
    /// Sent since the key entered the table; at most the true value.
    pub tx: u64,
    /// The most `rx`, `tx` and `rx + tx` can each fall short of the true value (0: exact).
    pub error: u64,
}

impl<K> Entry<K> {
    /// `rx + tx`: a lower bound of the key's true total, exact when `error` is 0.
    pub fn observed(&self) -> u64 {
        self.rx.saturating_add(self.tx)
    }

    /// `rx + tx + error`: an upper bound of the key's true total.
    pub fn upper(&self) -> u64 {
        self.observed().saturating_add(self.error)
    }
}

#[derive(Clone, Copy, Default)]
struct Row<K> {
    key: K,
    rx: u64,
    tx: u64,
    error: u64,
    /// The Misra–Gries counter: what was added since entry, less the purges since.
    count: u64,
}

/// Per table: rows taken, Δ, and N.
#[derive(Clone, Copy, Default)]
struct Meta {
    len: u32,
    offset: u64,
    total: u64,
}

/// Many heavy-hitter tables of one capacity in one arena (a host's peers each): table `t`'s rows
/// and index are found by arithmetic from `t`, so an add costs two independent memory reads (the
/// index and the row) rather than a chain of pointers through a table object. Tables are added
/// as needed and never removed; see the module documentation for what their entries guarantee.
///
/// Keys are hashed with FxHash. Remote addresses are chosen by whoever sends the traffic, and a
/// crafted set could share one run of an index; a run is never longer than the index (two to four
/// times `k`), which bounds what such a set costs per add, and purges rebuild the index.
pub struct Tables<K> {
    k: usize,
    /// Index positions per table: a power of two at least `2k`, so at most half full and every
    /// probe meets an `EMPTY`.
    ilen: usize,
    /// `64 - log2(ilen)`: a key's home position is its hash's top bits.
    shift: u32,
    rows: Vec<Row<K>>,
    /// Open addressing with linear probing: a key's row within its table, or `EMPTY`.
    index: Vec<u32>,
    meta: Vec<Meta>,
    evictions: u64,
    scratch: Vec<u64>,
    hasher: FxBuild,
}

impl<K: Copy + Eq + Hash + Default> Tables<K> {
    /// No tables yet, each of capacity `k` (0: every add is a no-op).
    pub fn new(k: usize) -> Self {
        assert!(k <= (u32::MAX / 4) as usize, "top-k capacity {k} too large");
        let ilen = if k == 0 { 0 } else { (2 * k).next_power_of_two() };
        Tables {
            k,
            ilen,
            shift: if ilen < 2 { 63 } else { 64 - ilen.trailing_zeros() },
            rows: Vec::new(),
            index: Vec::new(),
            meta: Vec::new(),
            evictions: 0,
            scratch: Vec::with_capacity(k),
            hasher: FxBuild::default(),
        }
    }

    /// Add a table; its number is the count of tables before.
    pub fn push(&mut self) -> usize {
        self.rows.resize(self.rows.len() + self.k, Row::default());
        self.index.resize(self.index.len() + self.ilen, EMPTY);
        self.meta.push(Meta::default());
        self.meta.len() - 1
    }

    pub fn tables(&self) -> usize {
        self.meta.len()
    }

    /// Counts `rx + tx` for `key` in table `t`: `rx` and `tx` are its two directions, kept apart.
    #[inline]
    pub fn add(&mut self, t: usize, key: K, rx: u64, tx: u64) {
        let w = rx.saturating_add(tx);
        if w == 0 || self.k == 0 {
            return;
        }
        let m = &mut self.meta[t];
        m.total = m.total.saturating_add(w);
        match self.find(t, &key) {
            Ok(p) => {
                let r = &mut self.rows[t * self.k + p];
                r.rx = r.rx.saturating_add(rx);
                r.tx = r.tx.saturating_add(tx);
                r.count = r.count.saturating_add(w);
            }
            Err(mut i) => {
                if self.meta[t].len as usize == self.k {
                    self.purge(t);
                    i = self.vacant(t, &key);
                }
                let m = &mut self.meta[t];
                let p = m.len as usize;
                m.len += 1;
                self.index[t * self.ilen + i] = p as u32;
                self.rows[t * self.k + p] = Row { key, rx, tx, error: m.offset, count: w };
            }
        }
    }

    fn rows_of(&self, t: usize) -> &[Row<K>] {
        &self.rows[t * self.k..][..self.meta[t].len as usize]
    }

    /// Table `t`'s keys, in no particular order.
    pub fn iter(&self, t: usize) -> impl Iterator<Item = Entry<K>> + '_ {
        self.rows_of(t).iter().map(|r| Entry { key: r.key, rx: r.rx, tx: r.tx, error: r.error })
    }

    /// The entry for `key` in table `t`.
    pub fn get(&self, t: usize, key: &K) -> Option<Entry<K>> {
        if self.k == 0 {
            return None;
        }
        let r = &self.rows[t * self.k + self.find(t, key).ok()?];
        Some(Entry { key: r.key, rx: r.rx, tx: r.tx, error: r.error })
    }

    /// Table `t`'s `n` entries with the largest `rx + tx`, largest first; equal totals in key
    /// order. Ranked by what was seen, not the upper bound, so a newcomer's error does not put it
    /// above keys that showed more traffic.
    pub fn top(&self, t: usize, n: usize) -> Vec<Entry<K>>
    where
        K: Ord,
    {
        let order = |a: &Entry<K>, b: &Entry<K>| b.observed().cmp(&a.observed()).then_with(|| a.key.cmp(&b.key));
        if n == 0 {
            return Vec::new();
        }
        let mut v: Vec<Entry<K>> = self.iter(t).collect();
        if n < v.len() {
            v.select_nth_unstable_by(n - 1, order);
            v.truncate(n);
        }
        // Keys are distinct, so the order is total and an unstable sort is deterministic.
        v.sort_unstable_by(order);
        v
    }

    pub fn len(&self, t: usize) -> usize {
        self.meta[t].len as usize
    }

    /// Rows taken in all tables.
    pub fn rows(&self) -> usize {
        self.meta.iter().map(|m| m.len as usize).sum()
    }

    pub fn capacity(&self) -> usize {
        self.k
    }

    /// All weight added to table `t` since it was made or cleared (`N`), saturating.
    pub fn total(&self, t: usize) -> u64 {
        self.meta[t].total
    }

    /// Keys dropped by purges in any table, ever (clearing a table does not reset it, so it can
    /// be exported as a counter that never goes back).
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// True while table `t` has not purged since it was made or cleared: every key added is in
    /// it with its exact `rx` and `tx`.
    pub fn exact(&self, t: usize) -> bool {
        self.meta[t].offset == 0
    }

    /// Table `t`'s Δ: no key outside it has a true total above it, no entry's error exceeds it.
    pub fn bound(&self, t: usize) -> u64 {
        self.meta[t].offset
    }

    /// Empties table `t` (its memory stays).
    pub fn clear(&mut self, t: usize) {
        self.index[t * self.ilen..][..self.ilen].fill(EMPTY);
        self.meta[t] = Meta::default();
    }

    /// Bytes held, the struct included.
    pub fn memory(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.rows.capacity() * std::mem::size_of::<Row<K>>()
            + self.index.capacity() * std::mem::size_of::<u32>()
            + self.meta.capacity() * std::mem::size_of::<Meta>()
            + self.scratch.capacity() * std::mem::size_of::<u64>()
    }

    #[inline]
    fn home(&self, key: &K) -> usize {
        (self.hasher.hash_one(key) >> self.shift) as usize
    }

    /// `Ok(row of key)`, or `Err(the empty index position where it would go)`, within table `t`.
    #[inline]
    fn find(&self, t: usize, key: &K) -> Result<usize, usize> {
        let mask = self.ilen - 1;
        let index = &self.index[t * self.ilen..][..self.ilen];
        let rows = &self.rows[t * self.k..][..self.k];
        let mut i = self.home(key);
        loop {
            let p = index[i];
            if p == EMPTY {
                return Err(i);
            }
            if rows[p as usize].key == *key {
                return Ok(p as usize);
            }
            i = (i + 1) & mask;
        }
    }

    fn vacant(&self, t: usize, key: &K) -> usize {
        let mask = self.ilen - 1;
        let index = &self.index[t * self.ilen..][..self.ilen];
        let mut i = self.home(key);
        while index[i] != EMPTY {
            i = (i + 1) & mask;
        }
        i
    }

    /// Subtract table `t`'s `(k/2 + 1)`-th largest counter from all of its rows, drop what
    /// reaches 0, rebuild its index.
    #[cold]
    #[inline(never)]
    fn purge(&mut self, t: usize) {
        let keep = self.k / 2;
        let n = self.meta[t].len as usize;
        self.scratch.clear();
        self.scratch.extend(self.rows[t * self.k..][..n].iter().map(|r| r.count));
        // The (keep + 1)-th largest is at `n - keep - 1` in ascending order.
        let (_, &mut delta, _) = self.scratch.select_nth_unstable(n - keep - 1);
        let rows = &mut self.rows[t * self.k..][..n];
        // Rows at or below delta reach 0 and go; the others move down only once a row before
        // them went.
        let mut kept = 0;
        for p in 0..n {
            let c = rows[p].count;
            if c > delta {
                rows[p].count = c - delta;
                if kept != p {
                    rows[kept] = rows[p];
                }
                kept += 1;
            }
        }
        self.evictions = self.evictions.saturating_add((n - kept) as u64);
        let m = &mut self.meta[t];
        m.len = kept as u32;
        m.offset = m.offset.saturating_add(delta);
        self.index[t * self.ilen..][..self.ilen].fill(EMPTY);
        for p in 0..kept {
            let i = self.vacant(t, &self.rows[t * self.k + p].key);
            self.index[t * self.ilen + i] = p as u32;
        }
    }
}

/// One heavy-hitter table (the ports view's): [`Tables`] with a single table.
pub struct TopK<K>(Tables<K>);

impl<K: Copy + Eq + Hash + Default> TopK<K> {
    /// A table for up to `capacity` keys, allocated in full now (0: every add is a no-op).
    pub fn new(capacity: usize) -> Self {
        let mut t = Tables::new(capacity);
        t.push();
        TopK(t)
    }

    #[inline]
    pub fn add(&mut self, key: K, rx: u64, tx: u64) {
        self.0.add(0, key, rx, tx)
    }

    pub fn iter(&self) -> impl Iterator<Item = Entry<K>> + '_ {
        self.0.iter(0)
    }

    pub fn get(&self, key: &K) -> Option<Entry<K>> {
        self.0.get(0, key)
    }

    pub fn top(&self, n: usize) -> Vec<Entry<K>>
    where
        K: Ord,
    {
        self.0.top(0, n)
    }

    pub fn len(&self) -> usize {
        self.0.len(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }

    pub fn total(&self) -> u64 {
        self.0.total(0)
    }

    pub fn evictions(&self) -> u64 {
        self.0.evictions()
    }

    pub fn exact(&self) -> bool {
        self.0.exact(0)
    }

    pub fn bound(&self) -> u64 {
        self.0.bound(0)
    }

    pub fn clear(&mut self) {
        self.0.clear(0)
    }

    pub fn memory(&self) -> usize {
        self.0.memory()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// xorshift64: deterministic streams without a crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: u64) -> u64 {
            ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
        }

        /// A flow-sized weight split at random between the two directions.
        fn flow(&mut self) -> (u64, u64) {
            let w = 64 + self.below(1437);
            let rx = self.below(w + 1);
            (rx, w - rx)
        }
    }

    type Exact<K> = HashMap<K, (u64, u64)>;

    fn add_both<K: Copy + Eq + Hash + Default>(t: &mut TopK<K>, exact: &mut Exact<K>, key: K, rx: u64, tx: u64) {
        t.add(key, rx, tx);
        let e = exact.entry(key).or_default();
        e.0 += rx;
        e.1 += tx;
    }

    /// The module's promises against exact sums; returns the largest error seen.
    fn check_bounds<K: Copy + Eq + Hash + Default + std::fmt::Debug>(t: &TopK<K>, exact: &Exact<K>) -> u64 {
        let n: u64 = exact.values().map(|(r, x)| r + x).sum();
        assert_eq!(t.total(), n);
        let delta = t.bound();
        let cap = t.capacity() as u64;
        assert!(cap == 0 || delta <= n / (cap / 2 + 1), "Δ {delta} > N/(k/2+1)");
        let mut worst = 0;
        for e in t.iter() {
            let (rx, tx) = exact[&e.key];
            assert!(e.rx <= rx && rx <= e.rx + e.error, "{e:?} rx, true {rx}");
            assert!(e.tx <= tx && tx <= e.tx + e.error, "{e:?} tx, true {tx}");
            assert!(e.error <= delta);
            if t.exact() {
                assert_eq!((e.rx, e.tx, e.error), (rx, tx, 0));
            }
            worst = worst.max(e.upper() - (rx + tx));
        }
        for (k, (rx, tx)) in exact {
            if rx + tx > delta {
                assert!(t.get(k).is_some(), "{k:?} with {} > Δ {delta} missing", rx + tx);
            }
        }
        // The index finds every row.
        for e in t.iter() {
            assert_eq!(t.get(&e.key), Some(e));
        }
        worst
    }

    #[test]
    fn exact_while_keys_fit() {
        let mut rng = Rng(7);
        let mut t = TopK::<u32>::new(100);
        let mut exact = Exact::new();
        for _ in 0..50_000 {
            let (rx, tx) = rng.flow();
            add_both(&mut t, &mut exact, rng.below(100) as u32, rx, tx);
        }
        assert!(t.exact());
        assert_eq!(t.len(), 100);
        check_bounds(&t, &exact);
        let mut want: Vec<(u64, u32)> = exact.iter().map(|(k, (r, x))| (r + x, *k)).collect();
        want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let got: Vec<(u64, u32)> = t.top(10).iter().map(|e| (e.observed(), e.key)).collect();
        assert_eq!(got, want[..10]);
    }

    #[test]
    fn a_skewed_stream_of_a_million_keys_keeps_its_heavy_hitters() {
        let mut rng = Rng(0x5eed);
        let k = 1024;
        let mut t = TopK::<u128>::new(k);
        let memory = t.memory();
        let mut exact = Exact::new();
        // Half the weight to a power law over 1000 heavy keys, half to a million keys seen about
        // once each (a flood of remote addresses).
        let mut next_cold = 1_000_000u128;
        for i in 0..2_000_000u64 {
            let (rx, tx) = rng.flow();
            let key = if i % 2 == 0 {
                // rank r with weight ~ 1/r: r = 1000^u
                let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
                (1000f64.powf(u) as u128).max(1)
            } else {
                next_cold += 1;
                next_cold
            };
            add_both(&mut t, &mut exact, key, rx, tx);
        }
        assert!(exact.len() > 1_000_000);
        assert!(!t.exact() && t.evictions() > 0);
        let worst = check_bounds(&t, &exact);
        assert!(worst <= t.bound());
        // The true top 10 are the table's top 10.
        let mut want: Vec<(u64, u128)> = exact.iter().map(|(k, (r, x))| (r + x, *k)).collect();
        want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let got: Vec<u128> = t.top(10).iter().map(|e| e.key).collect();
        assert_eq!(got, want[..10].iter().map(|w| w.1).collect::<Vec<_>>());
        assert_eq!(t.memory(), memory, "memory fixed");
        assert!(t.len() <= k);
    }

    #[test]
    fn purges_keep_half_and_count_what_they_drop() {
        let mut t = TopK::<u32>::new(4);
        for (k, w) in [(1, 100), (2, 50), (3, 10), (4, 5)] {
            t.add(k, w, 0);
        }
        assert!(t.exact());
        // Full: a fifth key purges first. δ = the 3rd largest (10): 1 and 2 stay at 90 and 40.
        t.add(5, 0, 7);
        assert_eq!(t.bound(), 10);
        assert_eq!(t.evictions(), 2);
        assert!(!t.exact());
        let got: Vec<(u32, u64, u64, u64)> = t.top(10).iter().map(|e| (e.key, e.rx, e.tx, e.error)).collect();
        assert_eq!(got, vec![(1, 100, 0, 0), (2, 50, 0, 0), (5, 0, 7, 10)]);
        t.clear();
        assert!(t.exact() && t.is_empty() && t.evictions() == 2);
    }

    #[test]
    fn capacity_zero_and_zero_weights() {
        let mut t = TopK::<u32>::new(0);
        t.add(1, 5, 5);
        assert!(t.is_empty() && t.get(&1).is_none() && t.top(5).is_empty());
        let mut t = TopK::<u32>::new(1);
        t.add(1, 0, 0);
        assert!(t.is_empty());
        t.add(1, 3, 0);
        t.add(2, 4, 0);
        assert_eq!(t.len(), 1);
        assert_eq!(t.get(&2).map(|e| (e.rx, e.error)), Some((4, 3)));
    }

    #[test]
    fn counters_saturate() {
        let mut t = TopK::<u32>::new(2);
        t.add(1, u64::MAX - 1, 0);
        t.add(1, 5, 5);
        let e = t.get(&1).unwrap();
        assert_eq!((e.rx, e.tx, e.observed()), (u64::MAX, 5, u64::MAX));
    }

    #[test]
    fn tables_in_one_arena_are_independent() {
        let mut t = Tables::<u32>::new(4);
        let (a, b) = (t.push(), t.push());
        for k in 0..4 {
            t.add(a, k, 10 + u64::from(k), 0);
        }
        // Table b purges; table a is untouched and stays exact.
        for k in 0..9 {
            t.add(b, 100 + k, 0, 1 + u64::from(k));
        }
        assert!(t.exact(a) && !t.exact(b));
        assert_eq!(t.top(a, 1)[0], Entry { key: 3, rx: 13, tx: 0, error: 0 });
        assert!(t.len(b) <= 4 && t.get(b, &108).is_some());
        assert!(t.get(a, &108).is_none() && t.get(b, &3).is_none());
        t.clear(b);
        assert!(t.exact(b) && t.len(b) == 0 && t.len(a) == 4);
        let memory = t.memory();
        t.add(b, 7, 1, 1);
        assert_eq!(t.memory(), memory);
        assert_eq!(t.rows(), 5);
    }
}
