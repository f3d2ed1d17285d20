//! Traffic totals per local host and per (exporter, ifIndex), in tables of fixed capacity; what
//! does not fit is counted into an `other` row so no byte is ever lost.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::decode::FlowRecord;
use crate::fxhash::FxBuild;
use crate::net::{normalize, LocalNets};
use crate::stats::{self, Stats};

/// Bytes and packets in each direction. For a host "in" is received (the host is the destination)
/// and "out" is sent; for an interface "in" is the flow's input interface and "out" its output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub in_packets: u64,
    pub out_packets: u64,
}

impl Counts {
    fn add_in(&mut self, bytes: u64, packets: u64) {
        self.in_bytes = self.in_bytes.wrapping_add(bytes);
        self.in_packets = self.in_packets.wrapping_add(packets);
    }

    fn add_out(&mut self, bytes: u64, packets: u64) {
        self.out_bytes = self.out_bytes.wrapping_add(bytes);
        self.out_packets = self.out_packets.wrapping_add(packets);
    }

    pub fn add(&mut self, o: &Counts) {
        self.in_bytes = self.in_bytes.wrapping_add(o.in_bytes);
        self.out_bytes = self.out_bytes.wrapping_add(o.out_bytes);
        self.in_packets = self.in_packets.wrapping_add(o.in_packets);
        self.out_packets = self.out_packets.wrapping_add(o.out_packets);
    }

    pub fn is_zero(&self) -> bool {
        *self == Counts::default()
    }

    /// `self - earlier`, for totals that only grow (wrapping, like the counters themselves).
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            in_bytes: self.in_bytes.wrapping_sub(earlier.in_bytes),
            out_bytes: self.out_bytes.wrapping_sub(earlier.out_bytes),
            in_packets: self.in_packets.wrapping_sub(earlier.in_packets),
            out_packets: self.out_packets.wrapping_sub(earlier.out_packets),
        }
    }
}

/// A row of the host table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostId {
    Ip(IpAddr),
    /// Local hosts beyond `archive.max_hosts`, together.
    Other,
}

/// A row of the interface table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IfaceId {
    If {
        exporter: IpAddr,
        ifindex: u32,
    },
    /// Interfaces beyond `archive.max_interfaces`, together.
    Other,
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostId::Ip(ip) => write!(f, "{ip}"),
            HostId::Other => f.write_str("other"),
        }
    }
}

impl fmt::Display for IfaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IfaceId::If { exporter, ifindex } => write!(f, "{exporter} if{ifindex}"),
            IfaceId::Other => f.write_str("other"),
        }
    }
}

/// What an archive is about: a local host or a router interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    Host(HostId),
    Interface(IfaceId),
}

/// Totals since start, copied out of the tables: published for the HTTP API.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub hosts: Vec<(HostId, Counts)>,
    pub interfaces: Vec<(IfaceId, Counts)>,
    /// Interface names (config, then options data), sorted, for the API and graph titles.
    pub interface_names: Vec<((IpAddr, u32), String)>,
    /// Exporters and their state, for the API.
    pub exporters: Vec<crate::decode::exporter::ExporterView>,
}

impl Snapshot {
    pub fn interface_name(&self, exporter: IpAddr, ifindex: u32) -> Option<&str> {
        self.interface_names
            .binary_search_by(|(k, _)| k.cmp(&(exporter, ifindex)))
            .ok()
            .map(|i| self.interface_names[i].1.as_str())
    }

    pub fn exporter_name(&self, exporter: IpAddr) -> Option<&str> {
        self.exporters.iter().find(|e| e.key.addr == exporter).and_then(|e| e.name.as_deref())
    }
}

/// What was counted per step since the previous hand-over, for the archive thread. Steps are
/// numbered from the Unix epoch (`step index × step` is the step's start, wall clock).
#[derive(Clone, Debug, Default)]
pub struct StepCounts {
    /// Additions, not totals: the archive adds them to what it holds for that step.
    pub added: Vec<(Subject, i64, Counts)>,
    /// The step now being counted.
    pub current: i64,
    /// The oldest step still open for late flows; older steps are final.
    pub open_from: i64,
}

/// Owned by the collector task; nothing else touches it.
pub struct Aggregator {
    local: LocalNets,
    hosts: Table<AddrKey>,
    interfaces: Table<IfKey>,
    /// The last exporter's key: a datagram's records all come from one exporter.
    exporter: Option<(IpAddr, AddrKey)>,
    clock: Clock,
    /// A record's share per open step, reused (no allocation per record).
    parts: Vec<(usize, u64)>,
    stats: Arc<Stats>,
}

/// The step being counted and the window of open steps. Each row has one bucket per open step,
/// indexed by `step mod open` (the window never holds two steps with the same slot).
struct Clock {
    step_ms: i64,
    /// Open steps: the current one and those before it that late flows can still reach.
    open: usize,
    /// The current step's index.
    cur: i64,
    cur_slot: usize,
    /// Where the current step begins, wall clock ms.
    cur_start_ms: i64,
    /// Wall clock (ms) of the batch being decoded.
    now_ms: i64,
    // Counted here and published at each hand-over: a shared counter per record would cost.
    no_time: u64,
    bad_time: u64,
    spread: u64,
    before_window: u64,
}

impl Clock {
    fn slot(&self, step: i64) -> usize {
        step.rem_euclid(self.open as i64) as usize
    }

    fn oldest(&self) -> i64 {
        self.cur - (self.open as i64 - 1)
    }

    /// The step a slot holds in the current window.
    fn step_of(&self, slot: usize) -> i64 {
        self.cur - (self.cur - slot as i64).rem_euclid(self.open as i64)
    }
}

/// Longer than this a flow's times are not believed (exporters' active timeouts are minutes to
/// an hour).
const MAX_FLOW_MS: i64 = 86_400_000;

/// An address as one integer, so a table lookup hashes two words instead of walking `IpAddr`'s
/// enum and byte arrays. IPv4 sits in the IPv4-mapped range, so an IPv4-mapped IPv6 address
/// (from a dual-stack socket) is the same key as the IPv4 address it carries.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct AddrKey(u128);

const V4_MAPPED: u128 = 0xffff_0000_0000;

impl AddrKey {
    fn v4(self) -> Option<u32> {
        (self.0 >> 32 == V4_MAPPED >> 32).then_some(self.0 as u32)
    }
}

impl From<IpAddr> for AddrKey {
    #[inline]
    fn from(ip: IpAddr) -> Self {
        AddrKey(match ip {
            IpAddr::V4(a) => V4_MAPPED | u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        })
    }
}

impl From<AddrKey> for IpAddr {
    fn from(k: AddrKey) -> Self {
        normalize(IpAddr::V6(std::net::Ipv6Addr::from(k.0)))
    }
}

/// An interface row: the exporter and its ifIndex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct IfKey(AddrKey, u32);

/// Where a key sits in a table's cache of recent rows (any value; the table reduces it).
trait CacheSlot {
    fn slot(&self) -> usize;
}

impl CacheSlot for AddrKey {
    #[inline]
    fn slot(&self) -> usize {
        // The address's low bits: the hosts of a /24, or of a few, each get a slot of their own.
        self.0 as usize
    }
}

impl CacheSlot for IfKey {
    #[inline]
    fn slot(&self) -> usize {
        self.1 as usize
    }
}

/// Rows remembered per table, direct-mapped by [`CacheSlot::slot`]: the hosts of a home network
/// (up to a /22) and a router's interfaces each get a slot of their own, so a lookup is one
/// comparison instead of a hash probe. A slot holds a row index (4 KiB a table); the row holds
/// its key, and the table stays the source of truth.
const CACHE: usize = 1024;

/// A table that takes new keys until it holds `max`, then counts into the `other` row (index
/// `max`). Each row has a bucket per open step, plus what earlier steps handed over.
struct Table<K> {
    index: HashMap<K, u32, FxBuild>,
    keys: Vec<K>,
    /// Per row (and `other` last): counts already handed over to the archive.
    base: Vec<Counts>,
    /// Slot-major: slot `k` of every row is `buckets[k * (max + 1) ..][..max + 1]`, so the rows'
    /// current buckets sit side by side, as dense as a plain table.
    buckets: Vec<Counts>,
    open: usize,
    max: usize,
    /// Row indexes; `u32::MAX` (never a row) when empty.
    cache: Box<[u32; CACHE]>,
}

impl<K: Hash + Eq + Copy + CacheSlot> Table<K> {
    fn new(max: usize, open: usize) -> Self {
        // Sized once: the table never holds more than `max` keys, so it never reallocates.
        Table {
            index: HashMap::with_capacity_and_hasher(max, FxBuild::default()),
            keys: Vec::with_capacity(max),
            base: vec![Counts::default(); max + 1],
            buckets: vec![Counts::default(); (max + 1) * open],
            open,
            max,
            cache: Box::new([u32::MAX; CACHE]),
        }
    }

    /// The row of `key` (the `other` row when it did not fit); `overflow` counts a key that did
    /// not fit, `size` tracks the row count.
    #[inline(always)]
    fn row(&mut self, key: K, overflow: &AtomicU64, size: &AtomicU64) -> usize {
        let slot = key.slot() % CACHE;
        let cached = self.cache[slot] as usize;
        match self.keys.get(cached) {
            Some(k) if *k == key => cached,
            _ => match self.lookup(key, size) {
                Some(i) => {
                    self.cache[slot] = i;
                    i as usize
                }
                None => {
                    stats::inc(overflow);
                    self.max
                }
            },
        }
    }

    #[inline(always)]
    fn bucket(&mut self, row: usize, slot: usize) -> &mut Counts {
        &mut self.buckets[slot * (self.max + 1) + row]
    }

    /// The row index of `key`, added if there is room.
    #[inline(never)]
    fn lookup(&mut self, key: K, size: &AtomicU64) -> Option<u32> {
        let n = self.keys.len();
        if n < self.max {
            return Some(match self.index.entry(key) {
                Entry::Occupied(o) => *o.get(),
                Entry::Vacant(v) => {
                    self.keys.push(key);
                    stats::set(size, (n + 1) as u64);
                    *v.insert(n as u32)
                }
            });
        }
        self.index.get(&key).copied()
    }

    /// Row `i`'s total since start.
    fn total(&self, i: usize) -> Counts {
        let mut t = self.base[i];
        for c in self.buckets.iter().skip(i).step_by(self.max + 1) {
            t.add(c);
        }
        t
    }

    /// Hand over row `i`'s buckets (non-zero ones, with their step) and empty them.
    fn drain(&mut self, i: usize, clock: &Clock, mut out: impl FnMut(i64, Counts)) {
        for slot in 0..self.open {
            let c = std::mem::take(self.bucket(i, slot));
            if !c.is_zero() {
                self.base[i].add(&c);
                out(clock.step_of(slot), c);
            }
        }
    }
}

/// A row and the slot its counts go to.
#[derive(Clone, Copy)]
enum Place {
    One(usize),
    /// Divided over `Aggregator::parts`.
    Spread,
}

impl Aggregator {
    pub fn new(
        local: LocalNets,
        max_hosts: usize,
        max_interfaces: usize,
        open_steps: usize,
        step: std::time::Duration,
        stats: Arc<Stats>,
    ) -> Self {
        let open = open_steps.max(1);
        let step_ms = (step.as_millis() as i64).max(1);
        let now_ms = wall_ms();
        let cur = now_ms.div_euclid(step_ms);
        let mut clock = Clock {
            step_ms,
            open,
            cur,
            cur_slot: 0,
            cur_start_ms: cur * step_ms,
            now_ms,
            no_time: 0,
            bad_time: 0,
            spread: 0,
            before_window: 0,
        };
        clock.cur_slot = clock.slot(cur);
        Aggregator {
            local,
            hosts: Table::new(max_hosts, open),
            interfaces: Table::new(max_interfaces, open),
            exporter: None,
            clock,
            parts: Vec::with_capacity(open + 1),
            stats,
        }
    }

    /// The wall clock for the records that follow (once per receive batch).
    #[inline]
    pub fn set_now(&mut self, now_ms: i64) {
        self.clock.now_ms = now_ms;
    }

    /// The step the wall clock `now_ms` falls in.
    pub fn step_at(&self, now_ms: i64) -> i64 {
        now_ms.div_euclid(self.clock.step_ms)
    }

    pub fn current_step(&self) -> i64 {
        self.clock.cur
    }

    /// Hand over every bucket (what was added per step since the last call) and move the window
    /// so that `now_ms`'s step is current. The clock may have moved any way: a jump just empties
    /// every bucket first, so no slot is read as another step.
    pub fn rotate(&mut self, now_ms: i64) -> StepCounts {
        let mut added = Vec::new();
        let clock = &self.clock;
        for i in 0..self.hosts.keys.len() {
            let id = Subject::Host(HostId::Ip(self.hosts.keys[i].into()));
            self.hosts.drain(i, clock, |s, c| added.push((id, s, c)));
        }
        let other = self.hosts.max;
        self.hosts.drain(other, clock, |s, c| added.push((Subject::Host(HostId::Other), s, c)));
        for i in 0..self.interfaces.keys.len() {
            let IfKey(ex, ifindex) = self.interfaces.keys[i];
            let id = Subject::Interface(IfaceId::If { exporter: ex.into(), ifindex });
            self.interfaces.drain(i, clock, |s, c| added.push((id, s, c)));
        }
        let other = self.interfaces.max;
        self.interfaces.drain(other, clock, |s, c| added.push((Subject::Interface(IfaceId::Other), s, c)));
        let st = &*self.stats;
        stats::set(&st.records_without_time, self.clock.no_time);
        stats::set(&st.records_bad_time, self.clock.bad_time);
        stats::set(&st.records_spread, self.clock.spread);
        stats::set(&st.records_before_window, self.clock.before_window);

        self.clock.now_ms = now_ms;
        self.clock.cur = now_ms.div_euclid(self.clock.step_ms);
        self.clock.cur_slot = self.clock.slot(self.clock.cur);
        self.clock.cur_start_ms = self.clock.cur * self.clock.step_ms;
        StepCounts { added, current: self.clock.cur, open_from: self.clock.oldest() }
    }

    /// Count one record seen by `exporter`.
    #[inline]
    pub fn add(&mut self, exporter: IpAddr, r: &FlowRecord) {
        let ex = match self.exporter {
            Some((ip, k)) if ip == exporter => k,
            _ => {
                let k = AddrKey::from(exporter);
                self.exporter = Some((exporter, k));
                k
            }
        };
        let place = self.place(r);
        let (src, dst) = (r.src.map(AddrKey::from), r.dst.map(AddrKey::from));
        let src_local = src.filter(|a| self.is_local(*a));
        let dst_local = dst.filter(|a| self.is_local(*a));
        self.count(ex, src_local, dst_local, r.input_if, r.output_if, r.bytes, r.packets, place);
        if r.rev_bytes != 0 || r.rev_packets != 0 {
            // The reverse direction of a bidirectional record: dst -> src, entering on the output
            // interface and leaving on the input one.
            self.count(ex, dst_local, src_local, r.output_if, r.input_if, r.rev_bytes, r.rev_packets, place);
        }
    }

    /// Which open steps a record's counts belong to. Its times are taken as ages before the
    /// export time (so an exporter's clock need not agree with ours), laid on our clock.
    #[inline(always)]
    fn place(&mut self, r: &FlowRecord) -> Place {
        let c = &self.clock;
        let (end, export) = (r.end_ms as i64, r.export_ms as i64);
        if end != 0 && export != 0 {
            let start = if r.start_ms == 0 { end } else { r.start_ms as i64 };
            let (dur, age) = (end - start, export - end);
            // The common case, compares only: believable times, the whole flow in this step.
            if (0..=MAX_FLOW_MS).contains(&dur) && age >= -c.step_ms && c.now_ms - age.max(0) - dur >= c.cur_start_ms {
                return Place::One(c.cur_slot);
            }
        }
        self.place_slow(r)
    }

    #[cold]
    #[inline(never)]
    fn place_slow(&mut self, r: &FlowRecord) -> Place {
        let c = &mut self.clock;
        let (end, export) = (r.end_ms as i64, r.export_ms as i64);
        if end == 0 || export == 0 {
            c.no_time += 1;
            return Place::One(c.cur_slot);
        }
        let start = if r.start_ms == 0 { end } else { r.start_ms as i64 };
        if end < start || end - start > MAX_FLOW_MS || end > export + c.step_ms {
            c.bad_time += 1;
            return Place::One(c.cur_slot);
        }
        let end_at = (c.now_ms - (export - end)).min(c.now_ms);
        let start_at = end_at - (end - start);
        if start_at >= c.cur_start_ms {
            return Place::One(c.cur_slot);
        }
        let s_end = end_at.div_euclid(c.step_ms).min(c.cur);
        let s_start = start_at.div_euclid(c.step_ms).min(s_end);
        let oldest = c.oldest();
        if s_end < oldest {
            c.before_window += 1;
            return Place::One(c.slot(oldest));
        }
        if s_start == s_end || end_at == start_at {
            return Place::One(c.slot(s_end));
        }
        // Divided by overlap; what lies before the window goes to its oldest step.
        self.parts.clear();
        let first = s_start.max(oldest);
        if s_start < oldest {
            c.before_window += 1;
        }
        c.spread += 1;
        for s in first..=s_end {
            let lo = if s == first { start_at } else { s * c.step_ms };
            let hi = end_at.min((s + 1) * c.step_ms);
            if hi > lo {
                self.parts.push((c.slot(s), (hi - lo) as u64));
            }
        }
        match self.parts.len() {
            0 => Place::One(c.slot(s_end)),
            1 => Place::One(self.parts[0].0),
            _ => Place::Spread,
        }
    }

    fn is_local(&self, a: AddrKey) -> bool {
        match a.v4() {
            Some(v4) => self.local.contains_v4(v4),
            None => self.local.contains_v6(a.0),
        }
    }

    /// `src` and `dst` are given only when local.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn count(
        &mut self,
        ex: AddrKey,
        src: Option<AddrKey>,
        dst: Option<AddrKey>,
        input_if: u32,
        output_if: u32,
        bytes: u64,
        packets: u64,
        place: Place,
    ) {
        let st = &*self.stats;
        if let Place::One(slot) = place {
            // The common case, straight into the buckets.
            if let Some(a) = src {
                let h = self.hosts.row(a, &st.host_overflow_records, &st.hosts);
                self.hosts.bucket(h, slot).add_out(bytes, packets);
            }
            if let Some(a) = dst {
                let h = self.hosts.row(a, &st.host_overflow_records, &st.hosts);
                self.hosts.bucket(h, slot).add_in(bytes, packets);
            }
            if src.is_none() && dst.is_none() {
                stats::inc(&st.remote_only_records);
            }
            let (overflow, size) = (&st.interface_overflow_records, &st.interfaces);
            let i = self.interfaces.row(IfKey(ex, input_if), overflow, size);
            self.interfaces.bucket(i, slot).add_in(bytes, packets);
            let o = self.interfaces.row(IfKey(ex, output_if), overflow, size);
            self.interfaces.bucket(o, slot).add_out(bytes, packets);
            return;
        }
        // A flow between two local hosts counts for both.
        let hs = src.map(|a| self.hosts.row(a, &st.host_overflow_records, &st.hosts));
        let hd = dst.map(|a| self.hosts.row(a, &st.host_overflow_records, &st.hosts));
        if src.is_none() && dst.is_none() {
            stats::inc(&st.remote_only_records);
        }
        let (overflow, size) = (&st.interface_overflow_records, &st.interfaces);
        let ii = self.interfaces.row(IfKey(ex, input_if), overflow, size);
        let io = self.interfaces.row(IfKey(ex, output_if), overflow, size);
        let mut put = |slot: usize, b: u64, p: u64| {
            if let Some(h) = hs {
                self.hosts.bucket(h, slot).add_out(b, p);
            }
            if let Some(h) = hd {
                self.hosts.bucket(h, slot).add_in(b, p);
            }
            self.interfaces.bucket(ii, slot).add_in(b, p);
            self.interfaces.bucket(io, slot).add_out(b, p);
        };
        match place {
            Place::One(slot) => put(slot, bytes, packets),
            Place::Spread => {
                // Each part gets its share rounded down against the running sum, so the parts
                // add up to exactly the record's counts.
                let total: u64 = self.parts.iter().map(|p| p.1).sum();
                let (mut acc, mut b_done, mut p_done) = (0u64, 0u64, 0u64);
                for &(slot, w) in &self.parts {
                    acc += w;
                    let b = (u128::from(bytes) * u128::from(acc) / u128::from(total)) as u64;
                    let p = (u128::from(packets) * u128::from(acc) / u128::from(total)) as u64;
                    put(slot, b - b_done, p - p_done);
                    (b_done, p_done) = (b, p);
                }
            }
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let h = &self.hosts;
        let mut hosts: Vec<(HostId, Counts)> =
            h.keys.iter().enumerate().map(|(i, ip)| (HostId::Ip((*ip).into()), h.total(i))).collect();
        let other = h.total(h.max);
        if !other.is_zero() {
            hosts.push((HostId::Other, other));
        }
        hosts.sort_by_key(|(id, _)| *id);
        let t = &self.interfaces;
        let mut interfaces: Vec<(IfaceId, Counts)> = t
            .keys
            .iter()
            .enumerate()
            .map(|(i, IfKey(exporter, ifindex))| {
                (IfaceId::If { exporter: (*exporter).into(), ifindex: *ifindex }, t.total(i))
            })
            .collect();
        let other = t.total(t.max);
        if !other.is_zero() {
            interfaces.push((IfaceId::Other, other));
        }
        interfaces.sort_by_key(|(id, _)| *id);
        Snapshot { hosts, interfaces, ..Snapshot::default() }
    }
}

/// The wall clock in Unix milliseconds.
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(src: &str, dst: &str, bytes: u64, packets: u64, i: u32, o: u32) -> FlowRecord {
        FlowRecord {
            src: Some(src.parse().unwrap()),
            dst: Some(dst.parse().unwrap()),
            bytes,
            packets,
            input_if: i,
            output_if: o,
            protocol: 6,
            src_port: 1,
            dst_port: 2,
            ..FlowRecord::default()
        }
    }

    fn agg(max_hosts: usize, max_if: usize) -> (Aggregator, Arc<Stats>) {
        let stats = Arc::new(Stats::default());
        let local = LocalNets::new(vec!["192.168.0.0/16".parse().unwrap(), "fd00::/8".parse().unwrap()]);
        (Aggregator::new(local, max_hosts, max_if, 31, std::time::Duration::from_secs(60), stats.clone()), stats)
    }

    #[test]
    fn directions_and_local_to_local() {
        let (mut a, stats) = agg(10, 10);
        let ex: IpAddr = "192.168.1.1".parse().unwrap();
        a.add(ex, &rec("192.168.1.10", "8.8.8.8", 100, 1, 2, 1));
        a.add(ex, &rec("8.8.8.8", "192.168.1.10", 1000, 2, 1, 2));
        a.add(ex, &rec("192.168.1.10", "192.168.1.11", 50, 1, 2, 2));
        a.add(ex, &rec("1.1.1.1", "8.8.8.8", 7, 1, 1, 1));
        let s = a.snapshot();
        let h10 = Counts { in_bytes: 1000, out_bytes: 150, in_packets: 2, out_packets: 2 };
        let h11 = Counts { in_bytes: 50, out_bytes: 0, in_packets: 1, out_packets: 0 };
        assert_eq!(
            s.hosts,
            vec![
                (HostId::Ip("192.168.1.10".parse().unwrap()), h10),
                (HostId::Ip("192.168.1.11".parse().unwrap()), h11)
            ]
        );
        let if1 = Counts { in_bytes: 1007, out_bytes: 107, in_packets: 3, out_packets: 2 };
        let if2 = Counts { in_bytes: 150, out_bytes: 1050, in_packets: 2, out_packets: 3 };
        assert_eq!(
            s.interfaces,
            vec![(IfaceId::If { exporter: ex, ifindex: 1 }, if1), (IfaceId::If { exporter: ex, ifindex: 2 }, if2)]
        );
        assert_eq!(stats::get(&stats.remote_only_records), 1);
    }

    #[test]
    fn reverse_counts_flow_back() {
        let (mut a, _) = agg(10, 10);
        let ex: IpAddr = "192.168.1.1".parse().unwrap();
        let mut r = rec("192.168.1.10", "8.8.8.8", 100, 1, 2, 1);
        r.rev_bytes = 5000;
        r.rev_packets = 4;
        a.add(ex, &r);
        let s = a.snapshot();
        assert_eq!(s.hosts[0].1, Counts { in_bytes: 5000, out_bytes: 100, in_packets: 4, out_packets: 1 });
        let if1 = Counts { in_bytes: 5000, out_bytes: 100, in_packets: 4, out_packets: 1 };
        assert_eq!(s.interfaces[0], (IfaceId::If { exporter: ex, ifindex: 1 }, if1));
    }

    #[test]
    fn overflow_goes_to_other_and_loses_nothing() {
        let (mut a, stats) = agg(2, 1);
        let ex: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..100u32 {
            a.add(ex, &rec(&format!("192.168.0.{}", i % 50), "8.8.8.8", 10, 1, i, 0));
        }
        let s = a.snapshot();
        assert_eq!(s.hosts.len(), 3);
        assert_eq!(s.hosts.last().unwrap().0, HostId::Other);
        let sent: u64 = s.hosts.iter().map(|(_, c)| c.out_bytes).sum();
        assert_eq!(sent, 1000);
        assert_eq!(stats::get(&stats.host_overflow_records), 96);
        let ifin: u64 = s.interfaces.iter().map(|(_, c)| c.in_bytes).sum();
        let ifout: u64 = s.interfaces.iter().map(|(_, c)| c.out_bytes).sum();
        assert_eq!((ifin, ifout), (1000, 1000));
        assert_eq!(s.interfaces.len(), 2);
        assert_eq!(stats::get(&stats.hosts), 2);
    }

    /// Steps of 60 s, 31 open; the clock at 10 s into step 1000.
    fn timed() -> (Aggregator, Arc<Stats>, IpAddr) {
        let (mut a, stats) = agg(10, 10);
        a.rotate(1000 * 60_000 + 10_000);
        (a, stats, "192.168.1.1".parse().unwrap())
    }

    /// A record that ended `age` ms before an export and lasted `dur` ms.
    fn flow(bytes: u64, age: u64, dur: u64) -> FlowRecord {
        let export = 1_700_000_000_000u64;
        FlowRecord {
            export_ms: export,
            end_ms: export - age,
            start_ms: export - age - dur,
            ..rec("192.168.1.10", "8.8.8.8", bytes, 7, 1, 2)
        }
    }

    /// The host's bytes sent per step, as handed over.
    fn sent_per_step(a: &mut Aggregator, now: i64) -> Vec<(i64, u64)> {
        let mut v: Vec<(i64, u64)> = a
            .rotate(now)
            .added
            .into_iter()
            .filter(|(s, _, _)| matches!(s, Subject::Host(_)))
            .map(|(_, step, c)| (step, c.out_bytes))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn flows_are_spread_over_their_steps_exactly() {
        let (mut a, stats, ex) = timed();
        // 10 s in this step, 2 whole steps before it, 20 s of the one before: 1000 B over 150 s.
        a.add(ex, &flow(1000, 0, 150_000));
        // Entirely in the current step: no division.
        a.add(ex, &flow(5, 1000, 2000));
        let now = 1000 * 60_000 + 10_000;
        let steps = sent_per_step(&mut a, now);
        assert_eq!(steps, vec![(997, 133), (998, 400), (999, 400), (1000, 67 + 5)]);
        assert_eq!(stats::get(&stats.records_spread), 1);
        // Totals never change: the API sees the same 1005 B.
        assert_eq!(a.snapshot().hosts[0].1.out_bytes, 1005);
    }

    #[test]
    fn what_began_before_the_window_lands_in_its_oldest_step() {
        let (mut a, stats, ex) = timed();
        // Two hours long, ending now: 31 open steps (970..=1000); the 89.2 minutes before step 970
        // go into step 970 with its own minute.
        a.add(ex, &flow(7_200_000, 0, 7_200_000));
        let steps = sent_per_step(&mut a, 1000 * 60_000 + 10_000);
        assert_eq!(steps.first().unwrap().0, 970);
        assert_eq!(steps.iter().map(|s| s.1).sum::<u64>(), 7_200_000);
        assert_eq!(steps[0].1, 7_200_000 - 30 * 60_000 - 10_000 + 60_000);
        assert_eq!(steps[1].1, 60_000);
        assert_eq!(stats::get(&stats.records_before_window), 1);
        // Ended before the window: all of it in the oldest step.
        a.add(ex, &flow(9, 3_600_000, 1000));
        assert_eq!(sent_per_step(&mut a, 1000 * 60_000 + 10_000), vec![(970, 9)]);
    }

    #[test]
    fn records_without_believable_times_count_now() {
        let (mut a, stats, ex) = timed();
        a.add(ex, &rec("192.168.1.10", "8.8.8.8", 1, 1, 1, 2)); // no times
        let mut r = flow(2, 0, 1000);
        r.start_ms = r.end_ms + 1; // ends before it starts
        a.add(ex, &r);
        a.add(ex, &flow(4, 0, 2 * 86_400_000)); // two days long
        let mut r = flow(8, 0, 0);
        r.end_ms += 3_600_000; // an hour after its own export
        r.start_ms = r.end_ms;
        a.add(ex, &r);
        assert_eq!(sent_per_step(&mut a, 1000 * 60_000 + 10_000), vec![(1000, 15)]);
        assert_eq!((stats::get(&stats.records_without_time), stats::get(&stats.records_bad_time)), (1, 3));
    }

    #[test]
    fn a_clock_jump_hands_over_every_bucket_with_its_step() {
        let (mut a, _, ex) = timed();
        a.add(ex, &flow(100, 0, 0));
        // A day forward: the bucket of step 1000 is handed over as step 1000, not relabelled.
        let c = a.rotate(1000 * 60_000 + 86_400_000);
        assert_eq!(c.current, 1000 + 1440);
        assert!(c.added.iter().all(|(_, s, _)| *s == 1000));
        a.add(ex, &flow(1, 0, 0));
        // And back.
        let c = a.rotate(1000 * 60_000 + 20_000);
        assert!(c.added.iter().all(|(_, s, _)| *s == 2440));
        assert_eq!((c.current, c.open_from), (1000, 970));
    }

    #[test]
    fn capacity_does_not_grow_with_remote_addresses() {
        let (mut a, _) = agg(4, 4);
        let cap = (a.hosts.index.capacity(), a.interfaces.index.capacity(), a.hosts.keys.capacity());
        let ex: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..100_000u32 {
            let remote = std::net::Ipv4Addr::from(0x0100_0000 + i).to_string();
            a.add(ex, &rec(&remote, "192.168.1.2", 1, 1, i % 3, 0));
        }
        assert_eq!((a.hosts.index.capacity(), a.interfaces.index.capacity(), a.hosts.keys.capacity()), cap);
        assert_eq!(a.hosts.keys.len(), 1);
    }
}
