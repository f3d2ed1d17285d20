//! Two exporters on one path (a router and an access point, hub and spoke, a second router
//! behind the first): a sample of the flows each exporter reports, to tell when two of them
//! report the same ones, which counts every device's traffic twice. The doctor names the pair
//! and the one-line fix (`devices = false` in one's `[[exporter]]` section).
//!
//! The same flows are sampled at every exporter (one in [`SAMPLE_ONE_IN`] by a hash of the flow's
//! addresses, ports and protocol, either direction), so a flow reported by two exporters meets
//! itself in a small direct-mapped table of recent samples. Until a second exporter is heard
//! nothing is hashed: one exporter cannot overlap with itself, and most homes have one.

use std::hash::Hasher;
use std::net::IpAddr;

use super::AddrKey;
use crate::fxhash::FxHasher;

/// One flow in this many is sampled: 6 % of a flow's records cost a table write.
const SAMPLE_SHIFT: u32 = 4;
pub const SAMPLE_ONE_IN: u64 = 1 << SAMPLE_SHIFT;
/// Recent samples kept (32 bytes each).
const SLOTS: usize = 1024;
/// A flow reported by two exporters this close in time is the same flow seen twice.
const WINDOW_MS: i64 = 600_000;
/// Exporters and pairs of exporters followed at most (a home has one or two routers).
const MAX_EXPORTERS: usize = 64;
const MAX_PAIRS: usize = 64;

#[derive(Clone, Copy, Default)]
struct Sample {
    key: u64,
    ex: AddrKey,
    at_ms: i64,
}

pub struct Overlap {
    slots: Box<[Sample]>,
    /// Flows sampled per exporter.
    sampled: Vec<(AddrKey, u64)>,
    /// Flows sampled from both of a pair (the lower exporter first).
    both: Vec<((AddrKey, AddrKey), u64)>,
    /// The first exporter heard, and whether another one has been since.
    first: Option<AddrKey>,
    several: bool,
}

/// Published with the snapshot, for the doctor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OverlapSummary {
    pub sampled: Vec<(IpAddr, u64)>,
    /// (exporter, exporter, flows sampled from both), most first.
    pub pairs: Vec<(IpAddr, IpAddr, u64)>,
}

impl Default for Overlap {
    fn default() -> Self {
        Overlap {
            slots: vec![Sample::default(); SLOTS].into_boxed_slice(),
            sampled: Vec::new(),
            both: Vec::new(),
            first: None,
            several: false,
        }
    }
}

impl Overlap {
    /// An exporter's records follow (called when the exporter changes, not per record).
    pub fn exporter(&mut self, ex: AddrKey) {
        match self.first {
            None => self.first = Some(ex),
            Some(f) => self.several |= f != ex,
        }
    }

    /// Flows are worth sampling: a second exporter has been heard.
    #[inline(always)]
    pub fn watching(&self) -> bool {
        self.several
    }

    /// Note a flow with a local host, as `ex` reported it.
    #[inline]
    pub fn add(
        &mut self,
        ex: AddrKey,
        src: Option<AddrKey>,
        dst: Option<AddrKey>,
        ports: (u16, u16),
        protocol: u8,
        now_ms: i64,
    ) {
        // Either direction is the same flow: the lower (address, port) first.
        let (a, b) = ((src.unwrap_or_default(), ports.0), (dst.unwrap_or_default(), ports.1));
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let mut h = FxHasher::default();
        h.write_u128(lo.0 .0);
        h.write_u128(hi.0 .0);
        h.write_u32(u32::from(lo.1) << 16 | u32::from(hi.1));
        h.write_u8(protocol);
        let key = h.finish();
        if key >> (64 - SAMPLE_SHIFT) == 0 {
            self.sample(ex, key, now_ms);
        }
    }

    #[cold]
    #[inline(never)]
    fn sample(&mut self, ex: AddrKey, key: u64, now_ms: i64) {
        match self.sampled.iter().position(|(k, _)| *k == ex) {
            Some(i) => self.sampled[i].1 += 1,
            None if self.sampled.len() < MAX_EXPORTERS => self.sampled.push((ex, 1)),
            None => return,
        }
        let slot = &mut self.slots[(key as usize) % SLOTS];
        if slot.key == key && slot.ex != ex && now_ms.saturating_sub(slot.at_ms) < WINDOW_MS {
            let pair = if slot.ex < ex { (slot.ex, ex) } else { (ex, slot.ex) };
            match self.both.iter().position(|(p, _)| *p == pair) {
                Some(i) => self.both[i].1 += 1,
                None if self.both.len() < MAX_PAIRS => self.both.push((pair, 1)),
                None => {}
            }
        }
        *slot = Sample { key, ex, at_ms: now_ms };
    }

    pub fn summary(&self) -> OverlapSummary {
        let mut pairs: Vec<(IpAddr, IpAddr, u64)> =
            self.both.iter().map(|((a, b), n)| (IpAddr::from(*a), IpAddr::from(*b), *n)).collect();
        pairs.sort_by_key(|p| std::cmp::Reverse(p.2));
        OverlapSummary { sampled: self.sampled.iter().map(|(k, n)| (IpAddr::from(*k), *n)).collect(), pairs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> AddrKey {
        AddrKey::from(s.parse::<IpAddr>().unwrap())
    }

    #[test]
    fn the_same_flows_from_two_exporters_meet() {
        let mut o = Overlap::default();
        let (router, ap, other) = (k("192.168.1.1"), k("192.168.1.2"), k("192.168.1.3"));
        o.exporter(router);
        assert!(!o.watching(), "one exporter cannot overlap");
        o.exporter(router);
        assert!(!o.watching());
        o.exporter(ap);
        assert!(o.watching());
        for i in 0..4000u16 {
            let (host, remote) = (Some(k("192.168.1.10")), Some(k("203.0.113.5")));
            // The router reports each flow one way, the access point the other way round.
            o.add(router, host, remote, (40000 + i, 443), 6, 1000);
            o.add(ap, remote, host, (443, 40000 + i), 6, 2000);
            // A third exporter with flows of its own.
            o.add(other, Some(k("192.168.1.11")), remote, (30000 + i, 443), 6, 2000);
        }
        let s = o.summary();
        let sampled = |e: &str| s.sampled.iter().find(|(ip, _)| *ip == e.parse::<IpAddr>().unwrap()).unwrap().1;
        // About one in 16, the same flows at each.
        assert!((150..350).contains(&sampled("192.168.1.1")), "{s:?}");
        assert_eq!(sampled("192.168.1.1"), sampled("192.168.1.2"));
        assert_eq!(s.pairs.len(), 1, "{s:?}");
        let (a, b, n) = s.pairs[0];
        assert_eq!((a.to_string().as_str(), b.to_string().as_str()), ("192.168.1.1", "192.168.1.2"));
        // Nearly every sampled flow met its twin (a later sample may take a slot first).
        assert!(n * 10 >= sampled("192.168.1.2") * 9, "{s:?}");
        // Too far apart in time: not the same flow.
        let mut o = Overlap::default();
        for i in 0..4000u16 {
            o.add(router, Some(k("192.168.1.10")), None, (i, 1), 6, 0);
            o.add(ap, Some(k("192.168.1.10")), None, (i, 1), 6, WINDOW_MS + 1);
        }
        assert!(o.summary().pairs.is_empty());
    }
}
