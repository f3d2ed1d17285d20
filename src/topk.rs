//! Bounded heavy-hitter tables (weighted Space-Saving): a host's top remote peers, the top
//! conversations, the top ports, each in memory fixed at construction however many keys the
//! network shows.
//!
//! # Algorithm
//! Space-Saving (Metwally, Agrawal and El Abbadi, "Efficient Computation of Frequent and Top-k
//! Elements in Data Streams", ICDT 2005), weighted. The table monitors at most `k` keys, each with a
//! counter. An add of weight `w = rx + tx` for a monitored key adds to its counter; for a new key
//! while there is room, it takes a fresh counter; when the table is full, the new key takes over the
//! smallest counter `m` and counts on from `m + w`. That replacement is an *eviction*.
//!
//! # What an entry says
//! Let `N` be [`TopK::total`] (all weight added since construction or the last [`TopK::clear`])
//! and `k` the capacity. For a key, `true_rx`, `true_tx` and `true = true_rx + true_tx` are the sums
//! of everything added for it over the same period. An [`Entry`] holds:
//! - `rx`, `tx`: what was added for the key since it last entered the table (exact for that time);
//! - `error`: the counter it took over when it entered, 0 if it entered while there was room.
//!
//! For every monitored key:
//! - `rx <= true_rx <= rx + error`, `tx <= true_tx <= tx + error`, and so
//!   `rx + tx <= true <= rx + tx + error`: the observed part is a lower bound, adding the error an
//!   upper bound;
//! - `error <= min_count() <= N / k`, with [`TopK::min_count`] the smallest counter.
//!
//! For every key *not* monitored, `true <= min_count()`, so any key with `true > min_count()`, in
//! particular any key with `true > N / k`, is in the table.
//!
//! While the number of distinct keys added is at most `k` nothing is evicted: [`TopK::exact`] is
//! true, every error is 0 and `rx`, `tx` are the exact sums.
//!
//! Why these hold: the counters sum to `N` once the table is full (each add raises exactly one
//! counter by its weight), so the smallest is at most `N / k`, and it never decreases. A key
//! outside the table had its last counter evicted as the smallest (or never had one), and what it
//! received since then was at most what the smallest counter gained; hence the key's whole true
//! total before it (re-)enters is at most the smallest counter at that moment, which becomes its
//! `error`.
//!
//! # Arithmetic
//! Counters saturate at `u64::MAX` rather than wrap: a wrapped counter would look like the
//! smallest and be evicted first, while a saturated one stays on top and reads as "at least this
//! much". The bounds above hold while `N < u64::MAX` (some 18 EB, which no link reaches).
//!
//! An add of weight 0 changes nothing: it carries no traffic and must not evict a key that does.
//!
//! # Memory
//! Everything is allocated by [`TopK::new`]: the slots (one per key: the key, three `u64` and a
//! `u32`; 48 bytes for a `u128` key, 64 for a pair of them, 32 for `(u8, u16)`) and an index of
//! `u32` positions, at least twice the capacity so probes stay short (8 to 16 bytes per key).
//! [`TopK::memory`] reports the total; it does not change after construction.

use std::fmt;
use std::hash::{BuildHasher, Hash};

use crate::fxhash::FxBuild;

/// An index position that holds no key.
const EMPTY: u32 = u32::MAX;

/// A monitored key, as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<K> {
    pub key: K,
    /// Received since the key entered the table; at most the true value.
    pub rx: u64,
    /// Sent since the key entered the table; at most the true value.
    pub tx: u64,
    /// The counter inherited on entry: the most `rx`, `tx` and `rx + tx` can each fall short of
    /// the true value. 0 for a key that entered while there was room.
    pub error: u64,
}

impl<K> Entry<K> {
    /// `rx + tx`: a lower bound of the key's true total, exact when `error` is 0.
    pub fn observed(&self) -> u64 {
        self.rx.saturating_add(self.tx)
    }

    /// `rx + tx + error`: Space-Saving's counter, an upper bound of the key's true total.
    pub fn upper(&self) -> u64 {
        self.observed().saturating_add(self.error)
    }
}

/// A monitored key, inside the table. Flat rather than an `Entry` plus `at`: a nested `Entry<u128>`
/// is already padded to 48 bytes, and `at` would cost 16 more instead of filling that padding.
#[derive(Clone, Copy)]
struct Slot<K> {
    key: K,
    rx: u64,
    tx: u64,
    error: u64,
    /// This key's position in `index`, so a move in the heap updates the index without hashing.
    at: u32,
}

impl<K: Copy> Slot<K> {
    #[inline]
    fn count(&self) -> u64 {
        self.rx.saturating_add(self.tx).saturating_add(self.error)
    }

    fn entry(&self) -> Entry<K> {
        Entry { key: self.key, rx: self.rx, tx: self.tx, error: self.error }
    }
}

/// A top-k table; see the module documentation for what its entries guarantee.
///
/// Keys are hashed with `S`, FxHash by default. Remote addresses are chosen by whoever sends the
/// traffic, and a crafted set of them could share one run of the index; a run can never be longer
/// than the index (two to four times the capacity), which bounds what such a set costs per add.
/// [`TopK::with_hasher`] takes a keyed hasher (`std::collections::hash_map::RandomState`) where
/// that bound is too loose.
pub struct TopK<K, S = FxBuild> {
    /// A min-heap on the counter, so the key to evict is `slots[0]`. Created with room for the
    /// capacity and never pushed past it, so it never reallocates.
    slots: Vec<Slot<K>>,
    /// Open addressing with linear probing: a key's position in `slots`, or `EMPTY`. A power of
    /// two at least twice the capacity, so at most half full and every probe meets an `EMPTY`.
    index: Box<[u32]>,
    /// `64 - log2(index.len())`: a key's home position is its hash's top bits.
    shift: u32,
    cap: usize,
    total: u64,
    evictions: u64,
    exact: bool,
    hasher: S,
}

impl<K: Copy + Eq + Hash> TopK<K> {
    /// A table for up to `capacity` keys, allocated in full now. Capacity 0 makes every add a
    /// no-op.
    pub fn new(capacity: usize) -> Self {
        Self::with_hasher(capacity, FxBuild::default())
    }
}

impl<K: Copy + Eq + Hash, S: BuildHasher> TopK<K, S> {
    /// As [`TopK::new`], hashing keys with `hasher`.
    pub fn with_hasher(capacity: usize, hasher: S) -> Self {
        // Positions are u32 with `EMPTY` kept aside, and the index is up to four times the capacity.
        assert!(capacity <= (u32::MAX / 4) as usize, "top-k capacity {capacity} too large");
        let len = if capacity == 0 { 0 } else { (2 * capacity).next_power_of_two() };
        TopK {
            slots: Vec::with_capacity(capacity),
            index: vec![EMPTY; len].into_boxed_slice(),
            shift: if len < 2 { 63 } else { 64 - len.trailing_zeros() },
            cap: capacity,
            total: 0,
            evictions: 0,
            exact: true,
            hasher,
        }
    }

    /// Counts `rx + tx` for `key`: `rx` and `tx` are its two directions, kept apart.
    pub fn add(&mut self, key: K, rx: u64, tx: u64) {
        let w = rx.saturating_add(tx);
        if w == 0 || self.cap == 0 {
            return;
        }
        self.total = self.total.saturating_add(w);
        match self.find(&key) {
            Ok(i) => {
                let p = self.index[i] as usize;
                let s = &mut self.slots[p];
                s.rx = s.rx.saturating_add(rx);
                s.tx = s.tx.saturating_add(tx);
                // The counter only grew, so in a min-heap it can only move down.
                self.sift_down(p);
            }
            Err(i) if self.slots.len() < self.cap => {
                let p = self.slots.len();
                self.slots.push(Slot { key, rx, tx, error: 0, at: i as u32 });
                self.index[i] = p as u32;
                self.sift_up(p);
            }
            Err(_) => {
                // Full: the new key takes over the smallest counter, which becomes its error.
                let old = self.slots[0];
                self.unindex(old.at as usize);
                // Removing the old key may have shifted the run the new key's probe ended in.
                let i = self.vacant(&key);
                self.index[i] = 0;
                self.slots[0] = Slot { key, rx, tx, error: old.count(), at: i as u32 };
                self.sift_down(0);
                self.evictions = self.evictions.saturating_add(1);
                self.exact = false;
            }
        }
    }

    /// The entry for `key`, if it is monitored.
    pub fn get(&self, key: &K) -> Option<Entry<K>> {
        if self.cap == 0 {
            return None;
        }
        self.find(key).ok().map(|i| self.slots[self.index[i] as usize].entry())
    }

    /// Every monitored key, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = Entry<K>> + '_ {
        self.slots.iter().map(Slot::entry)
    }

    /// The `n` entries with the largest `rx + tx`, largest first; equal totals in key order.
    ///
    /// Ranked by the observed total, not the upper bound: a key that just took over a counter
    /// carries that counter as error, and ranking on it would put each newcomer above keys that
    /// have shown more traffic.
    pub fn top(&self, n: usize) -> Vec<Entry<K>>
    where
        K: Ord,
    {
        let order = |a: &Entry<K>, b: &Entry<K>| b.observed().cmp(&a.observed()).then_with(|| a.key.cmp(&b.key));
        if n == 0 {
            return Vec::new();
        }
        let mut v: Vec<Entry<K>> = self.iter().collect();
        if n < v.len() {
            v.select_nth_unstable_by(n - 1, order);
            v.truncate(n);
        }
        // Keys are distinct, so the order is total and an unstable sort is deterministic.
        v.sort_unstable_by(order);
        v
    }

    /// Keys monitored.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Keys the table can monitor, as given to [`TopK::new`].
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// All weight added since construction or the last [`TopK::clear`] (`N`), saturating.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Times a new key took over another's counter, since construction: [`TopK::clear`] does not
    /// reset it, so it can be exported as a counter that never goes back.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// True while nothing was evicted since construction or the last [`TopK::clear`]: every
    /// error is 0 and every key added is monitored with its exact `rx` and `tx`.
    pub fn exact(&self) -> bool {
        self.exact
    }

    /// The smallest counter once the table is full, 0 before: an upper bound of every entry's
    /// error and of the true total of every key not monitored; never more than `total() / k`.
    pub fn min_count(&self) -> u64 {
        if self.slots.len() < self.cap {
            0
        } else {
            self.slots.first().map_or(0, Slot::count)
        }
    }

    /// Forgets every key and the total; keeps the memory and the eviction count.
    pub fn clear(&mut self) {
        self.slots.clear();
        self.index.fill(EMPTY);
        self.total = 0;
        self.exact = true;
    }

    /// Bytes this table holds, itself included. Fixed at construction.
    pub fn memory(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.slots.capacity() * std::mem::size_of::<Slot<K>>()
            + self.index.len() * std::mem::size_of::<u32>()
    }

    #[inline]
    fn home(&self, key: &K) -> usize {
        (self.hasher.hash_one(key) >> self.shift) as usize
    }

    /// `Ok(index position of key)`, or `Err(the empty position where it would go)`. Only with
    /// capacity > 0; ends because the index is never more than half full.
    #[inline]
    fn find(&self, key: &K) -> Result<usize, usize> {
        let mask = self.index.len() - 1;
        let mut i = self.home(key);
        loop {
            let p = self.index[i];
            if p == EMPTY {
                return Err(i);
            }
            if self.slots[p as usize].key == *key {
                return Ok(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// The empty position where `key`, known to be absent, goes.
    fn vacant(&self, key: &K) -> usize {
        let mask = self.index.len() - 1;
        let mut i = self.home(key);
        while self.index[i] != EMPTY {
            i = (i + 1) & mask;
        }
        i
    }

    /// Empties index position `gap` by backward shift (Knuth's algorithm R) rather than leaving a
    /// tombstone: millions of keys pass through a table, and tombstones would fill the index until
    /// every miss walked all of it.
    fn unindex(&mut self, mut gap: usize) {
        let mask = self.index.len() - 1;
        let mut j = gap;
        loop {
            j = (j + 1) & mask;
            let p = self.index[j];
            if p == EMPTY {
                break;
            }
            let home = self.home(&self.slots[p as usize].key);
            // The key at j may fill the gap only if its home is not after the gap (cyclically,
            // within this run); otherwise a probe from its home would meet the gap first.
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(gap) & mask) {
                self.index[gap] = p;
                self.slots[p as usize].at = gap as u32;
                gap = j;
            }
        }
        self.index[gap] = EMPTY;
    }

    fn sift_down(&mut self, mut p: usize) {
        let n = self.slots.len();
        let s = self.slots[p];
        let c = s.count();
        loop {
            let l = 2 * p + 1;
            if l >= n {
                break;
            }
            let mut m = l;
            let mut mc = self.slots[l].count();
            if l + 1 < n {
                let rc = self.slots[l + 1].count();
                if rc < mc {
                    m = l + 1;
                    mc = rc;
                }
            }
            if mc >= c {
                break;
            }
            self.slots[p] = self.slots[m];
            self.index[self.slots[p].at as usize] = p as u32;
            p = m;
        }
        self.slots[p] = s;
        self.index[s.at as usize] = p as u32;
    }

    fn sift_up(&mut self, mut p: usize) {
        let s = self.slots[p];
        let c = s.count();
        while p > 0 {
            let q = (p - 1) / 2;
            if self.slots[q].count() <= c {
                break;
            }
            self.slots[p] = self.slots[q];
            self.index[self.slots[p].at as usize] = p as u32;
            p = q;
        }
        self.slots[p] = s;
        self.index[s.at as usize] = p as u32;
    }
}

impl<K, S> fmt::Debug for TopK<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopK")
            .field("len", &self.slots.len())
            .field("capacity", &self.cap)
            .field("total", &self.total)
            .field("evictions", &self.evictions)
            .field("exact", &self.exact)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::mem::size_of;

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

        /// Uniform in [0, 1).
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }

        /// A flow-sized weight split at random between the two directions.
        fn flow(&mut self) -> (u64, u64) {
            let w = 64 + self.below(1437);
            let rx = self.below(w + 1);
            (rx, w - rx)
        }
    }

    /// Exact sums per key: (rx, tx).
    type Exact<K> = HashMap<K, (u64, u64)>;

    fn add_both<K: Copy + Eq + Hash>(t: &mut TopK<K>, exact: &mut Exact<K>, key: K, rx: u64, tx: u64) {
        t.add(key, rx, tx);
        let e = exact.entry(key).or_default();
        e.0 += rx;
        e.1 += tx;
    }

    /// The internal invariants: heap order, index and slots pointing at each other, every key
    /// reachable from its home, the counters summing to the total once full.
    fn check_structure<K: Copy + Eq + Hash + fmt::Debug>(t: &TopK<K>) {
        let n = t.slots.len();
        assert!(n <= t.cap);
        assert!(t.index.len() >= 2 * t.cap && t.index.len().is_power_of_two(), "index at most half full");
        for p in 1..n {
            assert!(t.slots[(p - 1) / 2].count() <= t.slots[p].count(), "heap order at {p}");
        }
        let mask = t.index.len() - 1;
        let mut used = 0;
        for (i, &p) in t.index.iter().enumerate() {
            if p == EMPTY {
                continue;
            }
            used += 1;
            assert_eq!(t.slots[p as usize].at as usize, i, "slot {p} does not point back at {i}");
            // No empty position between the key's home and where it sits.
            let mut j = t.home(&t.slots[p as usize].key);
            while j != i {
                assert_ne!(t.index[j], EMPTY, "key at {i} unreachable from its home");
                j = (j + 1) & mask;
            }
        }
        assert_eq!(used, n);
        for s in &t.slots {
            assert_eq!(t.index[s.at as usize] as usize, t.slots.iter().position(|x| x.key == s.key).unwrap());
        }
        if n == t.cap && t.total < u64::MAX {
            assert_eq!(t.slots.iter().map(Slot::count).sum::<u64>(), t.total, "counters sum to N");
        }
    }

    /// The module's promises, against exact sums; returns the largest overestimate seen
    /// (upper bound minus true total).
    fn check_bounds<K: Copy + Eq + Hash + fmt::Debug>(t: &TopK<K>, exact: &Exact<K>) -> u64 {
        let n: u64 = exact.values().map(|(r, x)| r + x).sum();
        assert_eq!(t.total(), n);
        let min = t.min_count();
        assert!(t.cap == 0 || min <= n / t.cap as u64, "min {min} > N/k");
        let mut over = 0;
        for e in t.iter() {
            let (rx, tx) = exact[&e.key];
            assert!(e.rx <= rx && rx <= e.rx + e.error, "{e:?} rx, true {rx}");
            assert!(e.tx <= tx && tx <= e.tx + e.error, "{e:?} tx, true {tx}");
            assert!(e.observed() <= rx + tx && rx + tx <= e.upper(), "{e:?} total, true {}", rx + tx);
            assert!(e.error <= min, "{e:?} error above min {min}");
            if t.exact() {
                assert_eq!((e.rx, e.tx, e.error), (rx, tx, 0));
            }
            over = over.max(e.upper() - (rx + tx));
        }
        for (k, (rx, tx)) in exact {
            if rx + tx > min {
                assert!(t.get(k).is_some(), "{k:?} with {} > min {min} missing", rx + tx);
            }
        }
        over
    }

    // Per-entry sizes on 64-bit targets (and 32-bit ARM, where u64 and u128 align to 8, the
    // padding works out the same):
    //   Slot<u128> (a peer)                    48 bytes (16 key + 24 counters + 4 `at` + 4 pad)
    //   Slot<(u128, u128)> (a conversation)    64 bytes
    //   Slot<(u8, u16)> (a port)               32 bytes
    //   Slot<u32>                              32 bytes
    // plus 8 to 16 bytes of index per key. TopK<u128> itself is 72 bytes on 64-bit targets, so a
    // host's k = 32 peers cost 72 + 32 * 48 + 64 * 4 = 1864 bytes, 466 KiB for 256 hosts.
    #[test]
    fn sizes() {
        assert_eq!(size_of::<Slot<u128>>(), 48);
        assert_eq!(size_of::<Slot<(u128, u128)>>(), 64);
        assert_eq!(size_of::<Slot<(u8, u16)>>(), 32);
        assert_eq!(size_of::<Slot<u32>>(), 32);
        let t = TopK::<u128>::new(32);
        assert_eq!(t.memory(), size_of::<TopK<u128>>() + 32 * 48 + 64 * 4);
        assert!(size_of::<TopK<u128>>() <= 72, "{}", size_of::<TopK<u128>>());
        assert_eq!(TopK::<(u128, u128)>::new(2048).memory(), size_of::<TopK<(u128, u128)>>() + 2048 * 64 + 4096 * 4);
    }

    #[test]
    fn exact_while_keys_fit() {
        // Ports: exactly k distinct keys, then fewer than k, in random order.
        for (k, distinct) in [(1024usize, 1024usize), (1024, 700), (1, 1)] {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ distinct as u64);
            let keys: Vec<(u8, u16)> =
                (0..distinct).map(|i| (if i % 3 == 0 { 17 } else { 6 }, (i * 37 % 65536) as u16)).collect();
            let mut t = TopK::new(k);
            let mut exact = Exact::new();
            for _ in 0..200_000 {
                let key = keys[rng.below(distinct as u64) as usize];
                let (rx, tx) = rng.flow();
                add_both(&mut t, &mut exact, key, rx, tx);
            }
            check_structure(&t);
            assert_eq!(check_bounds(&t, &exact), 0);
            assert!(t.exact());
            assert_eq!(t.evictions(), 0);
            assert_eq!(t.len(), distinct);
            assert_eq!(t.min_count(), if distinct == k { t.slots[0].count() } else { 0 });
            for (key, &(rx, tx)) in &exact {
                assert_eq!(t.get(key), Some(Entry { key: *key, rx, tx, error: 0 }));
            }
            let mut want: Vec<_> = exact.iter().map(|(k, (r, x))| (r + x, *k)).collect();
            want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let got: Vec<_> = t.top(distinct).iter().map(|e| (e.observed(), e.key)).collect();
            assert_eq!(got, want);
        }
    }

    /// A million distinct remote addresses, every one seen at least once, under a Zipf-like
    /// (s = 1) stream of heavier traffic; k = 1024.
    #[test]
    fn skewed_stream_keeps_heavy_hitters() {
        const DISTINCT: u64 = 1_000_000;
        const K: usize = 1024;
        // An IPv6 address per rank; the odd multiplier is a bijection, so ranks stay distinct.
        let key = |r: u64| (0x2001_0db8u128 << 96) | u128::from(r.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut t = TopK::new(K);
        let (mem, slots_cap, index_len) = (t.memory(), t.slots.capacity(), t.index.len());
        let mut exact = Exact::with_capacity(DISTINCT as usize);
        let ln = (DISTINCT as f64).ln();
        for r in 0..DISTINCT {
            let (rx, tx) = rng.flow();
            add_both(&mut t, &mut exact, key(r), rx, tx);
            for _ in 0..2 {
                // Log-uniform x in [1, DISTINCT): rank r has probability ln((r+2)/(r+1)) / ln(DISTINCT).
                let z = ((rng.unit() * ln).exp() as u64 - 1).min(DISTINCT - 1);
                let (rx, tx) = rng.flow();
                add_both(&mut t, &mut exact, key(z), rx, tx);
            }
        }
        assert_eq!(exact.len() as u64, DISTINCT);
        let n = t.total();
        let bound = n / K as u64;
        let over = check_bounds(&t, &exact);
        check_structure(&t);
        assert!(!t.exact());
        assert!(t.evictions() > 0);
        assert_eq!(t.len(), K);
        let max_error = t.iter().map(|e| e.error).max().unwrap();
        assert!(max_error <= t.min_count() && t.min_count() <= bound);
        let heavy: Vec<_> = exact.iter().filter(|(_, (r, x))| r + x > bound).collect();
        assert!(heavy.len() >= 10, "stream not skewed enough: {} keys above N/k", heavy.len());
        for (k, _) in &heavy {
            assert!(t.get(k).is_some());
        }
        let mut want: Vec<_> = exact.iter().map(|(k, (r, x))| (r + x, *k)).collect();
        want.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let got: Vec<_> = t.top(10).iter().map(|e| e.key).collect();
        assert_eq!(got, want[..10].iter().map(|w| w.1).collect::<Vec<_>>());
        assert_eq!((t.memory(), t.slots.capacity(), t.index.len()), (mem, slots_cap, index_len));
        eprintln!(
            "N {n}, N/k {bound}, min_count {}, max error {max_error}, max overestimate {over}, \
             {} keys above N/k, evictions {}, 10th/11th true {}/{}",
            t.min_count(),
            heavy.len(),
            t.evictions(),
            want[9].0,
            want[10].0
        );
    }

    /// Small tables under heavy churn, structure checked after every add: exercises eviction and
    /// the index's backward shift far more than the large streams do.
    #[test]
    fn churn_keeps_structure_and_bounds() {
        for (k, distinct, seed) in [(1usize, 5u64, 1u64), (7, 200, 2), (32, 300, 3), (33, 40, 4)] {
            let mut rng = Rng(0x1234_5678_9abc_def0 ^ seed);
            let mut t = TopK::new(k);
            let mut exact = Exact::new();
            for i in 0..20_000 {
                // Squaring a uniform draw skews towards small keys.
                let u = rng.unit();
                let key = ((u * u * distinct as f64) as u64) as u32;
                let (rx, tx) = rng.flow();
                add_both(&mut t, &mut exact, key, rx, tx);
                check_structure(&t);
                if i % 97 == 0 {
                    check_bounds(&t, &exact);
                }
                if i == 12_345 {
                    t.clear();
                    exact.clear();
                    check_structure(&t);
                }
            }
            check_bounds(&t, &exact);
        }
    }

    #[test]
    fn evictions_and_inherited_error() {
        let mut t = TopK::<u32>::new(2);
        t.add(1, 4, 1);
        t.add(2, 3, 0);
        assert!(t.exact());
        assert_eq!(t.min_count(), 3);
        // Key 3 takes over key 2's counter (the smaller, 3).
        t.add(3, 0, 1);
        assert_eq!(t.evictions(), 1);
        assert!(!t.exact());
        assert_eq!(t.get(&2), None);
        assert_eq!(t.get(&3), Some(Entry { key: 3, rx: 0, tx: 1, error: 3 }));
        assert_eq!(t.get(&1), Some(Entry { key: 1, rx: 4, tx: 1, error: 0 }));
        // Key 3's counter is 4, key 1's 5: key 2 comes back in place of key 3.
        t.add(2, 2, 0);
        assert_eq!(t.evictions(), 2);
        assert_eq!(t.get(&2), Some(Entry { key: 2, rx: 2, tx: 0, error: 4 }));
        assert_eq!(t.total(), 11);
        // Ranked by what was observed: key 1 (5) above key 2 (2), though key 2's counter is 6.
        assert_eq!(t.top(5).iter().map(|e| e.key).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(t.top(1).iter().map(|e| e.key).collect::<Vec<_>>(), [1]);
        assert!(t.top(0).is_empty());

        let mem = t.memory();
        t.clear();
        assert_eq!((t.len(), t.total(), t.min_count(), t.exact()), (0, 0, 0, true));
        assert_eq!(t.evictions(), 2, "a counter the daemon exports never goes back");
        assert_eq!(t.memory(), mem);
        assert_eq!(t.get(&1), None);
        t.add(9, 1, 1);
        assert_eq!(t.get(&9), Some(Entry { key: 9, rx: 1, tx: 1, error: 0 }));
        check_structure(&t);
    }

    #[test]
    fn ties_rank_by_key() {
        let mut t = TopK::<u32>::new(8);
        for k in [5, 3, 9, 1] {
            t.add(k, 10, 0);
        }
        t.add(7, 0, 20);
        assert_eq!(t.top(8).iter().map(|e| e.key).collect::<Vec<_>>(), [7, 1, 3, 5, 9]);
        assert_eq!(t.top(3).iter().map(|e| e.key).collect::<Vec<_>>(), [7, 1, 3]);
    }

    #[test]
    fn capacity_zero_is_disabled() {
        let mut t = TopK::<u128>::new(0);
        t.add(1, 100, 100);
        assert_eq!((t.len(), t.total(), t.evictions(), t.min_count()), (0, 0, 0, 0));
        assert!(t.is_empty() && t.exact());
        assert_eq!(t.get(&1), None);
        assert!(t.top(10).is_empty());
        t.clear();
        assert_eq!(t.memory(), size_of::<TopK<u128>>());
    }

    #[test]
    fn zero_weight_changes_nothing() {
        let mut t = TopK::<u32>::new(1);
        t.add(1, 0, 0);
        assert!(t.is_empty());
        t.add(1, 5, 0);
        t.add(2, 0, 0);
        assert_eq!(t.get(&1), Some(Entry { key: 1, rx: 5, tx: 0, error: 0 }));
        assert_eq!(t.evictions(), 0);
    }

    #[test]
    fn counters_saturate() {
        let mut t = TopK::<u32>::new(2);
        t.add(1, u64::MAX, 1);
        t.add(1, u64::MAX, 1);
        assert_eq!(t.get(&1), Some(Entry { key: 1, rx: u64::MAX, tx: 2, error: 0 }));
        assert_eq!(t.total(), u64::MAX);
        assert_eq!(t.get(&1).unwrap().upper(), u64::MAX);
        // A saturated counter stays the largest: the newcomer evicts key 2, not key 1.
        t.add(2, 5, 0);
        t.add(3, 1, 0);
        assert!(t.get(&1).is_some() && t.get(&2).is_none());
        assert_eq!(t.get(&3).unwrap().error, 5);
    }
}
