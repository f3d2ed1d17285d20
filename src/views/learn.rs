//! Local networks learned from the traffic: a global IPv6 /64 whose addresses are on the LAN side
//! of a known internet line is local (IPv6 has no NAT, so a home's devices use global addresses
//! that no default `network.local` can name). Bounded (`network.max_learned`), kept across
//! restarts in the collector's state file.

use std::net::{IpAddr, Ipv6Addr};

use super::{interfaces::WanBy, AddrKey};
use crate::decode::FlowRecord;
use crate::net::{IpNet, LocalNets};

/// A learned network and when it was learned (Unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LearnedNet {
    pub net: IpNet,
    pub since: i64,
}

pub struct Learn {
    on: bool,
    max: usize,
    configured: Vec<IpNet>,
    /// Oldest first: the first to go when a new one needs room.
    nets: Vec<LearnedNet>,
    /// The internet line's interfaces, (exporter, ifIndex), sorted: as the last snapshot found
    /// them, and as the config names them (known before any snapshot has a row to look at).
    wan: Vec<(AddrKey, u32)>,
    configured_wan: Vec<(AddrKey, u32)>,
    changed: bool,
    pub evictions: u64,
}

impl Learn {
    pub fn new(configured: &[IpNet], on: bool, max: usize) -> Learn {
        Learn {
            on: on && max > 0,
            max,
            configured: configured.to_vec(),
            nets: Vec::new(),
            wan: Vec::new(),
            configured_wan: Vec::new(),
            changed: false,
            evictions: 0,
        }
    }

    /// The interfaces the views found to be the internet line (config, traffic or name).
    pub fn set_wan(&mut self, wan: &[((IpAddr, u32), WanBy)]) {
        self.wan.clear();
        self.wan.extend(wan.iter().map(|((e, i), _)| (AddrKey::from(*e), *i)));
        self.wan.sort_unstable();
    }

    /// `[[exporter]] wan`.
    pub fn set_configured_wan(&mut self, wan: &[(IpAddr, u32)]) {
        self.configured_wan = wan.iter().map(|(e, i)| (AddrKey::from(*e), *i)).collect();
        self.configured_wan.sort_unstable();
    }

    /// Whether a record without a local host may teach anything: learning is on and a line known.
    #[inline]
    pub fn watching(&self) -> bool {
        self.on && !(self.wan.is_empty() && self.configured_wan.is_empty())
    }

    fn is_wan(&self, ex: AddrKey, ifindex: u32) -> bool {
        ifindex != 0
            && (self.wan.binary_search(&(ex, ifindex)).is_ok()
                || self.configured_wan.binary_search(&(ex, ifindex)).is_ok())
    }

    /// A record of `ex` without a local host: if it crossed the line, its end on the LAN side is
    /// a device's, and a global IPv6 address there makes its /64 local. True when that is new.
    /// Only between the line and another known interface: a flow from one WAN interface to
    /// another, or with an interface unknown (0), says nothing of what is behind the router.
    pub fn consider(&mut self, ex: AddrKey, r: &FlowRecord, now_s: i64) -> bool {
        let (wan_in, wan_out) = (self.is_wan(ex, r.input_if), self.is_wan(ex, r.output_if));
        let lan_side = match (wan_in, wan_out) {
            (true, false) if r.output_if != 0 => r.dst,
            (false, true) if r.input_if != 0 => r.src,
            _ => return false,
        };
        let Some(IpAddr::V6(a)) = lan_side.map(crate::net::normalize) else { return false };
        // Global unicast (2000::/3) only: link-local, ULA and multicast are not a LAN's prefix to learn.
        if a.segments()[0] & 0xe000 != 0x2000 {
            return false;
        }
        let net = slash64(a);
        if self.nets.iter().any(|n| n.net == net) || self.configured.iter().any(|c| c.contains(IpAddr::V6(a))) {
            return false;
        }
        self.add(LearnedNet { net, since: now_s });
        true
    }

    fn add(&mut self, n: LearnedNet) {
        if self.nets.len() >= self.max {
            self.nets.remove(0);
            self.evictions += 1;
        }
        self.nets.push(n);
        self.changed = true;
    }

    /// `network.local` and what was learned, for attribution.
    pub fn local(&self) -> LocalNets {
        LocalNets::new(self.configured.iter().copied().chain(self.nets.iter().map(|n| n.net)).collect())
    }

    pub fn nets(&self) -> &[LearnedNet] {
        &self.nets
    }

    /// Whether the list changed since the last call (it is then worth saving).
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// As saved: "PREFIX SINCE" per network, oldest first.
    pub fn save(&self) -> Vec<String> {
        self.nets.iter().map(|n| format!("{} {}", n.net, n.since)).collect()
    }

    /// What a state file held; entries that are not a global IPv6 /64 are refused (the file can be
    /// edited), as are those past the bound. The number refused.
    pub fn restore(&mut self, saved: &[String]) -> usize {
        // Learning off (network.learn = false): what was learned before does not count.
        if !self.on {
            return 0;
        }
        let mut refused = 0;
        for line in saved {
            let mut parts = line.split_whitespace();
            let net = parts.next().and_then(|p| p.parse::<IpNet>().ok());
            let since = parts.next().and_then(|s| s.parse::<i64>().ok());
            match (net, since) {
                (Some(net), Some(since))
                    if net.prefix() == 64
                        && matches!(net.addr(), IpAddr::V6(a) if a.segments()[0] & 0xe000 == 0x2000)
                        && !self.nets.iter().any(|n| n.net == net)
                        && self.nets.len() < self.max =>
                {
                    self.nets.push(LearnedNet { net, since })
                }
                _ => refused += 1,
            }
        }
        refused
    }
}

fn slash64(a: Ipv6Addr) -> IpNet {
    format!("{a}/64").parse().expect("an IPv6 address with /64 is a network")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(src: &str, dst: &str, input_if: u32, output_if: u32) -> FlowRecord {
        FlowRecord {
            src: Some(src.parse().unwrap()),
            dst: Some(dst.parse().unwrap()),
            input_if,
            output_if,
            ..FlowRecord::default()
        }
    }

    #[test]
    fn the_lan_side_of_the_line_is_learned_once_and_bounded() {
        let router: IpAddr = "192.168.1.1".parse().unwrap();
        let ex = AddrKey::from(router);
        let mut l = Learn::new(&["192.168.0.0/16".parse().unwrap()], true, 2);
        let download = rec("2a00:1450:4001::5", "2001:db8:1:2::20", 1, 2);
        assert!(!l.watching(), "no line known: nothing to learn from");
        l.set_wan(&[((router, 1), WanBy::Config)]);
        assert!(l.consider(ex, &download, 100));
        assert!(!l.consider(ex, &download, 101), "known already");
        assert!(l.local().contains("2001:db8:1:2::77".parse().unwrap()));
        assert!(!l.local().contains("2001:db8:1:3::77".parse().unwrap()));
        // An upload leaving by the line teaches its source's /64.
        assert!(l.consider(ex, &rec("2001:db8:1:3::9", "2a00:1450:4001::5", 2, 1), 102));
        // Nothing from flows that did not cross from the line to a known interface, from another
        // exporter's interface 1, or to a non-global address.
        for (r, e) in [
            (rec("2a00::5", "2001:db8:9::1", 1, 0), ex),
            (rec("2a00::5", "2001:db8:9::1", 3, 2), ex),
            (rec("2a00::5", "2001:db8:9::1", 1, 1), ex),
            (rec("2a00::5", "2001:db8:9::1", 1, 2), AddrKey::from("192.168.1.2".parse::<IpAddr>().unwrap())),
            (rec("2a00::5", "fd00::1", 1, 2), ex),
            (rec("2a00::5", "fe80::1", 1, 2), ex),
            (rec("203.0.113.5", "198.51.100.7", 1, 2), ex),
        ] {
            assert!(!l.consider(e, &r, 103), "{r:?}");
        }
        // A third pushes out the first learned.
        assert!(l.consider(ex, &rec("2a00::5", "2001:db8:1:4::1", 1, 2), 104));
        assert_eq!(l.evictions, 1);
        let saved = l.save();
        assert_eq!(saved, ["2001:db8:1:3::/64 102", "2001:db8:1:4::/64 104"]);
        let mut again = Learn::new(&[], true, 2);
        let refused = again.restore(&[
            saved[0].clone(),
            "fd00::/64 1".into(),
            "2001:db8::/48 1".into(),
            "junk".into(),
            saved[1].clone(),
            "2001:db8:1:5::/64 5".into(),
        ]);
        assert_eq!(refused, 4);
        assert_eq!(again.save(), saved);
    }
}
