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

/// Totals since start, copied out of the tables: handed to the archive thread every step and
/// published for the HTTP API.
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

/// Owned by the collector task; nothing else touches it.
pub struct Aggregator {
    local: LocalNets,
    hosts: Table<AddrKey>,
    interfaces: Table<IfKey>,
    /// The last exporter's key: a datagram's records all come from one exporter.
    exporter: Option<(IpAddr, AddrKey)>,
    stats: Arc<Stats>,
}

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

/// A table that takes new keys until it holds `max`, then counts into `other`.
struct Table<K> {
    index: HashMap<K, u32, FxBuild>,
    rows: Vec<(K, Counts)>,
    other: Counts,
    max: usize,
    /// Row indexes; `u32::MAX` (never a row) when empty.
    cache: Box<[u32; CACHE]>,
}

impl<K: Hash + Eq + Copy + CacheSlot> Table<K> {
    fn new(max: usize) -> Self {
        // Sized once: the table never holds more than `max` keys, so it never reallocates.
        Table {
            index: HashMap::with_capacity_and_hasher(max, FxBuild::default()),
            rows: Vec::with_capacity(max),
            other: Counts::default(),
            max,
            cache: Box::new([u32::MAX; CACHE]),
        }
    }

    /// The row for `key`; `overflow` counts a key that did not fit, `size` tracks the row count.
    #[inline(always)]
    fn row(&mut self, key: K, overflow: &AtomicU64, size: &AtomicU64) -> &mut Counts {
        let slot = key.slot() % CACHE;
        let cached = self.cache[slot] as usize;
        let i = match self.rows.get(cached) {
            Some((k, _)) if *k == key => cached,
            _ => match self.lookup(key, size) {
                Some(i) => {
                    self.cache[slot] = i;
                    i as usize
                }
                None => {
                    stats::inc(overflow);
                    return &mut self.other;
                }
            },
        };
        &mut self.rows[i].1
    }

    /// The row index of `key`, added if there is room.
    #[inline(never)]
    fn lookup(&mut self, key: K, size: &AtomicU64) -> Option<u32> {
        let n = self.rows.len();
        if n < self.max {
            return Some(match self.index.entry(key) {
                Entry::Occupied(o) => *o.get(),
                Entry::Vacant(v) => {
                    self.rows.push((key, Counts::default()));
                    stats::set(size, (n + 1) as u64);
                    *v.insert(n as u32)
                }
            });
        }
        self.index.get(&key).copied()
    }
}

impl Aggregator {
    pub fn new(local: LocalNets, max_hosts: usize, max_interfaces: usize, stats: Arc<Stats>) -> Self {
        Aggregator {
            local,
            hosts: Table::new(max_hosts),
            interfaces: Table::new(max_interfaces),
            exporter: None,
            stats,
        }
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
        let (src, dst) = (r.src.map(AddrKey::from), r.dst.map(AddrKey::from));
        let src_local = src.filter(|a| self.is_local(*a));
        let dst_local = dst.filter(|a| self.is_local(*a));
        self.count(ex, src_local, dst_local, r.input_if, r.output_if, r.bytes, r.packets);
        if r.rev_bytes != 0 || r.rev_packets != 0 {
            // The reverse direction of a bidirectional record: dst -> src, entering on the output
            // interface and leaving on the input one.
            self.count(ex, dst_local, src_local, r.output_if, r.input_if, r.rev_bytes, r.rev_packets);
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
    ) {
        let st = &*self.stats;
        // A flow between two local hosts counts for both.
        if let Some(a) = src {
            self.hosts.row(a, &st.host_overflow_records, &st.hosts).add_out(bytes, packets);
        }
        if let Some(a) = dst {
            self.hosts.row(a, &st.host_overflow_records, &st.hosts).add_in(bytes, packets);
        }
        if src.is_none() && dst.is_none() {
            stats::inc(&st.remote_only_records);
        }
        let (overflow, size) = (&st.interface_overflow_records, &st.interfaces);
        self.interfaces.row(IfKey(ex, input_if), overflow, size).add_in(bytes, packets);
        self.interfaces.row(IfKey(ex, output_if), overflow, size).add_out(bytes, packets);
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut hosts: Vec<(HostId, Counts)> =
            self.hosts.rows.iter().map(|(ip, c)| (HostId::Ip((*ip).into()), *c)).collect();
        if !self.hosts.other.is_zero() {
            hosts.push((HostId::Other, self.hosts.other));
        }
        hosts.sort_by_key(|(id, _)| *id);
        let mut interfaces: Vec<(IfaceId, Counts)> = self
            .interfaces
            .rows
            .iter()
            .map(|(IfKey(exporter, ifindex), c)| (IfaceId::If { exporter: (*exporter).into(), ifindex: *ifindex }, *c))
            .collect();
        if !self.interfaces.other.is_zero() {
            interfaces.push((IfaceId::Other, self.interfaces.other));
        }
        interfaces.sort_by_key(|(id, _)| *id);
        Snapshot { hosts, interfaces, ..Snapshot::default() }
    }
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
        (Aggregator::new(local, max_hosts, max_if, stats.clone()), stats)
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

    #[test]
    fn capacity_does_not_grow_with_remote_addresses() {
        let (mut a, _) = agg(4, 4);
        let cap = (a.hosts.index.capacity(), a.interfaces.index.capacity(), a.hosts.rows.capacity());
        let ex: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..100_000u32 {
            let remote = std::net::Ipv4Addr::from(0x0100_0000 + i).to_string();
            a.add(ex, &rec(&remote, "192.168.1.2", 1, 1, i % 3, 0));
        }
        assert_eq!((a.hosts.index.capacity(), a.interfaces.index.capacity(), a.hosts.rows.capacity()), cap);
        assert_eq!(a.hosts.rows.len(), 1);
    }
}
