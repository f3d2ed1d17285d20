//! Devices: the device each local address belongs to, so that every view counts a device once
//! whatever addresses it uses. Its `[[host]]` entry decides (addresses, prefixes, MAC), else the
//! MAC address the exports carried with it, else the address is a device of its own.
//!
//! A device known by a MAC the config does not name goes by the MAC's link-local address
//! ([`crate::net::mac_key`]): the same at every start, so nothing is stored. IPv6 privacy
//! addresses join their device through its MAC (or a `[[host]]` prefix); without either each is
//! a device of its own, in the bounded host table like any other address.

use std::collections::HashMap;
use std::net::IpAddr;

use super::AddrKey;
use crate::config::DeviceConfig;
use crate::fxhash::FxBuild;

/// More IPv4 addresses than this behind one MAC is a router (another router's LAN behind it,
/// or a bridge), not a device: its addresses count each on their own again. A device that changes
/// its DHCP lease a few times stays one.
pub const MAX_V4_PER_MAC: u16 = 4;

/// Addresses listed as a device's members at most.
const MEMBERS_SHOWN: usize = 16;

/// What an address is a member of.
#[derive(Clone, Copy, Debug)]
struct Member {
    key: AddrKey,
    /// The MAC it was seen with; 0 for a member by configuration.
    mac: u64,
    /// Wall ms it was last counted.
    seen: i64,
}

#[derive(Default, Clone, Copy)]
struct Mac {
    /// IPv4 members at present.
    v4: u16,
    router: bool,
}

pub struct Devices {
    /// Configured addresses and prefixes (network, mask, device), MACs.
    fixed: HashMap<AddrKey, AddrKey, FxBuild>,
    prefixes: Vec<(u128, u128, AddrKey)>,
    fixed_macs: HashMap<u64, AddrKey, FxBuild>,
    /// Configured devices' addresses, for the members list.
    configured: Vec<(AddrKey, Vec<AddrKey>)>,
    /// Addresses seen as members of a device other than themselves (`max` at most).
    members: HashMap<AddrKey, Member, FxBuild>,
    macs: HashMap<u64, Mac, FxBuild>,
    max: usize,
    /// Anything to look up: false until the config or an export gives a device of several
    /// addresses, so a home without either pays nothing per record.
    on: bool,
    pub evictions: u64,
    pub routers: u64,
}

impl Devices {
    pub fn new(config: &[DeviceConfig], max: usize) -> Devices {
        let mut d = Devices {
            fixed: HashMap::default(),
            prefixes: Vec::new(),
            fixed_macs: HashMap::default(),
            configured: Vec::new(),
            members: HashMap::default(),
            macs: HashMap::default(),
            max,
            on: false,
            evictions: 0,
            routers: 0,
        };
        for dev in config {
            let key = AddrKey::from(dev.key);
            for a in &dev.addresses {
                d.fixed.insert(AddrKey::from(*a), key);
            }
            for p in &dev.prefixes {
                let net = AddrKey::from(p.addr()).0;
                let bits = u32::from(p.prefix()) + if p.addr().is_ipv4() { 96 } else { 0 };
                d.prefixes.push((net, u128::MAX.checked_shl(128 - bits).unwrap_or(0), key));
            }
            if let Some(m) = dev.mac {
                d.fixed_macs.insert(m, key);
            }
            d.configured.push((key, dev.addresses.iter().map(|a| AddrKey::from(*a)).collect()));
        }
        d.on = !d.fixed.is_empty() || !d.prefixes.is_empty() || !d.fixed_macs.is_empty();
        d
    }

    /// Whether any address may count for a device other than itself ([`Devices::key`] is
    /// then worth asking).
    #[inline(always)]
    pub fn on(&self) -> bool {
        self.on
    }

    /// The device a local address counts for (the address itself while nothing is [`on`]:
    /// callers ask `on` first, once per record).
    ///
    /// [`on`]: Devices::on
    #[inline]
    pub fn key(&mut self, a: AddrKey, now_ms: i64) -> AddrKey {
        if let Some(m) = self.members.get_mut(&a) {
            m.seen = now_ms;
            return m.key;
        }
        self.first_sight(a, now_ms)
    }

    #[cold]
    #[inline(never)]
    fn first_sight(&mut self, a: AddrKey, now_ms: i64) -> AddrKey {
        match self.configured_key(a) {
            Some(k) => {
                self.insert(a, Member { key: k, mac: 0, seen: now_ms });
                k
            }
            None => a,
        }
    }

    /// The device the config puts `a` in.
    fn configured_key(&self, a: AddrKey) -> Option<AddrKey> {
        self.fixed
            .get(&a)
            .copied()
            .or_else(|| self.prefixes.iter().find(|(net, mask, _)| a.0 & mask == *net).map(|p| p.2))
    }

    /// `a` was seen with `mac` (a local address, as the record's own, not through NAT).
    #[inline]
    pub fn learn(&mut self, a: AddrKey, mac: u64, now_ms: i64) {
        if mac == 0 {
            return;
        }
        match self.members.get(&a) {
            // The config's members stay where it puts them, whatever MAC they show (a VM, a
            // bridge).
            Some(m) if m.mac == mac || m.mac == 0 => {}
            _ => self.learn_new(a, mac, now_ms),
        }
    }

    #[cold]
    #[inline(never)]
    fn learn_new(&mut self, a: AddrKey, mac: u64, now_ms: i64) {
        self.on = true;
        if let Some(key) = self.configured_key(a) {
            if !self.members.contains_key(&a) {
                self.insert(a, Member { key, mac: 0, seen: now_ms });
            }
            return;
        }
        if let Some(old) = self.members.remove(&a) {
            self.forget(a, old);
        }
        let info = self.macs.entry(mac).or_default();
        if a.v4().is_some() {
            info.v4 = info.v4.saturating_add(1);
        }
        let router = info.router || info.v4 > MAX_V4_PER_MAC;
        if router && !info.router {
            info.router = true;
            self.routers += 1;
            // Its addresses so far go back to being their own.
            for (addr, m) in self.members.iter_mut() {
                if m.mac == mac && !self.fixed_macs.contains_key(&mac) {
                    m.key = *addr;
                }
            }
        }
        let key = match self.fixed_macs.get(&mac) {
            Some(k) => *k,
            None if router => a,
            None => AddrKey::from(crate::net::mac_key(mac)),
        };
        self.insert(a, Member { key, mac, seen: now_ms });
    }

    fn insert(&mut self, a: AddrKey, m: Member) {
        if self.members.len() >= self.max {
            if self.max == 0 {
                return;
            }
            self.evict();
        }
        self.members.insert(a, m);
    }

    /// Room for newcomers: the eighth of the members seen least recently go (one pass for many
    /// insertions). An evicted address joins again at its next record.
    #[cold]
    fn evict(&mut self) {
        let mut seen: Vec<i64> = self.members.values().map(|m| m.seen).collect();
        let n = (seen.len() / 8).max(1);
        let (_, cut, _) = seen.select_nth_unstable(n - 1);
        let cut = *cut;
        let mut gone = Vec::new();
        self.members.retain(|a, m| {
            let keep = m.seen > cut || gone.len() >= n;
            if !keep {
                gone.push((*a, *m));
            }
            keep
        });
        self.evictions += gone.len() as u64;
        for (a, m) in gone {
            self.forget(a, m);
        }
    }

    fn forget(&mut self, a: AddrKey, m: Member) {
        if a.v4().is_some() {
            if let Some(info) = self.macs.get_mut(&m.mac) {
                info.v4 = info.v4.saturating_sub(1);
            }
        }
    }

    pub fn members(&self) -> usize {
        self.members.len()
    }

    /// Per device with several addresses, its addresses (configured ones first, then those seen,
    /// most recent first) and its MAC, for the API.
    pub fn publish(&self) -> Vec<(IpAddr, DeviceMembers)> {
        let mut by: HashMap<AddrKey, DeviceMembers> = HashMap::new();
        for (key, addrs) in &self.configured {
            let e = by.entry(*key).or_default();
            e.addresses.extend(addrs.iter().map(|a| ((*a).into(), i64::MAX)));
        }
        for (a, m) in &self.members {
            if m.key == *a {
                continue;
            }
            let e = by.entry(m.key).or_default();
            if m.mac != 0 {
                e.mac = Some(m.mac);
            }
            let ip: IpAddr = (*a).into();
            if !e.addresses.iter().any(|(x, _)| *x == ip) {
                e.addresses.push((ip, m.seen));
            }
        }
        for (mac, key) in &self.fixed_macs {
            by.entry(*key).or_default().mac = Some(*mac);
        }
        let mut out: Vec<(IpAddr, DeviceMembers)> = by
            .into_iter()
            .map(|(k, mut d)| {
                d.addresses.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                d.addresses.truncate(MEMBERS_SHOWN);
                (k.into(), d)
            })
            .collect();
        out.sort_by_key(|(k, _)| *k);
        out
    }
}

/// A device's addresses (with when each was last counted, Unix ms; `i64::MAX` for configured
/// ones) and its MAC.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceMembers {
    pub addresses: Vec<(IpAddr, i64)>,
    pub mac: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> AddrKey {
        AddrKey::from(s.parse::<IpAddr>().unwrap())
    }

    #[test]
    fn configured_addresses_prefixes_and_macs_are_one_device() {
        let cfg = [DeviceConfig {
            key: "192.168.1.10".parse().unwrap(),
            name: "Laptop".into(),
            addresses: vec!["192.168.1.10".parse().unwrap(), "fd00::10".parse().unwrap()],
            prefixes: vec!["2001:db8:1:2::/64".parse().unwrap()],
            mac: Some(0x001a_2b3c_4d5e),
        }];
        let mut d = Devices::new(&cfg, 16);
        let laptop = k("192.168.1.10");
        for a in ["192.168.1.10", "fd00::10", "2001:db8:1:2::1", "2001:db8:1:2:a:b:c:d"] {
            assert_eq!(d.key(k(a), 1), laptop, "{a}");
        }
        assert_eq!(d.key(k("2001:db8:1:3::1"), 1), k("2001:db8:1:3::1"));
        // Its MAC brings in an address the config does not list.
        d.learn(k("192.168.1.99"), 0x001a_2b3c_4d5e, 2);
        assert_eq!(d.key(k("192.168.1.99"), 2), laptop);
        let members = d.publish();
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].1.mac, Some(0x001a_2b3c_4d5e));
        let addrs: Vec<String> = members[0].1.addresses.iter().map(|a| a.0.to_string()).collect();
        assert_eq!(addrs[..2], ["192.168.1.10", "fd00::10"]);
        assert!(addrs.contains(&"192.168.1.99".to_string()) && addrs.contains(&"2001:db8:1:2::1".to_string()));
    }

    #[test]
    fn a_mac_gathers_its_addresses_until_it_looks_like_a_router() {
        let mut d = Devices::new(&[], 64);
        let phone = 0x0200_0000_0001;
        assert_eq!(d.key(k("192.168.1.20"), 1), k("192.168.1.20"), "nothing known: the address itself");
        let key = AddrKey::from(crate::net::mac_key(phone));
        for a in ["192.168.1.20", "2001:db8::aaaa", "2001:db8::bbbb"] {
            d.learn(k(a), phone, 1);
            assert_eq!(d.key(k(a), 1), key, "{a}");
        }
        // A second router's MAC: its LAN's IPv4 addresses go back to being their own.
        let router = 0x0200_0000_00ff;
        for i in 1..=MAX_V4_PER_MAC + 1 {
            d.learn(k(&format!("10.0.0.{i}")), router, 1);
        }
        assert_eq!(d.routers, 1);
        for i in 1..=MAX_V4_PER_MAC + 1 {
            let a = k(&format!("10.0.0.{i}"));
            assert_eq!(d.key(a, 1), a);
        }
        assert_eq!(d.key(k("192.168.1.20"), 1), key, "the phone stays one device");
    }

    #[test]
    fn the_member_table_is_bounded_and_keeps_the_recent() {
        let mut d = Devices::new(&[], 64);
        for i in 0..1000u32 {
            let a = AddrKey::from(IpAddr::V6(std::net::Ipv6Addr::from(0x2001_0db8u128 << 96 | u128::from(i))));
            d.learn(a, 0x0200_0000_0000 | u64::from(i % 7), i64::from(i));
            assert!(d.members() <= 64);
        }
        assert!(d.evictions >= 1000 - 64);
        let last = AddrKey::from(IpAddr::V6(std::net::Ipv6Addr::from(0x2001_0db8u128 << 96 | 999)));
        assert_eq!(d.key(last, 1000), AddrKey::from(crate::net::mac_key(0x0200_0000_0000 | (999 % 7))));
    }
}
