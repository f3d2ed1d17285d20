//! IP networks (CIDR prefixes), the "is this address local?" test, and MAC addresses as the
//! link-local address a device is known by.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One CIDR prefix, stored with the host bits cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// The network address (host bits cleared).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, normalize(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => mask_v4(u32::from(ip), self.prefix) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(ip)) => mask_v6(u128::from(ip), self.prefix) == u128::from(net),
            _ => false,
        }
    }
}

fn mask_v4(bits: u32, prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        bits & (u32::MAX << (32 - u32::from(prefix)))
    }
}

fn mask_v6(bits: u128, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        bits & (u128::MAX << (128 - u32::from(prefix)))
    }
}

/// IPv4-mapped IPv6 addresses (from a dual-stack socket) are treated as the IPv4 address they carry,
/// so an exporter or host has one identity whichever socket saw it.
pub fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr_s, prefix_s) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr =
            addr_s.parse().map_err(|_| format!("{s:?} is not an IP network (expected e.g. \"192.168.0.0/16\")"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_s {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("{s:?}: prefix length must be 0..={max}")),
            },
        };
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4(mask_v4(u32::from(a), prefix).into()),
            IpAddr::V6(a) => IpAddr::V6(mask_v6(u128::from(a), prefix).into()),
        };
        Ok(IpNet { addr, prefix })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A MAC address ("aa:bb:cc:dd:ee:ff", '-' also separates) as the 48-bit integer exports carry.
pub fn parse_mac(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.trim().split([':', '-']).collect();
    if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    let mut v = 0u64;
    for p in parts {
        v = v << 8 | u64::from(u8::from_str_radix(p, 16).ok()?);
    }
    (v != 0).then_some(v)
}

pub fn fmt_mac(m: u64) -> String {
    let b = m.to_be_bytes();
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[2], b[3], b[4], b[5], b[6], b[7])
}

/// The address a device known only by its MAC goes by: its modified EUI-64 link-local address
/// (RFC 4291 appendix A), fe80::/64 with the MAC inside. Never routed, so never an exported
/// address of another host, and the same at every start (nothing to store).
pub fn mac_key(m: u64) -> IpAddr {
    let b = m.to_be_bytes();
    let iid = [b[2] ^ 0x02, b[3], b[4], 0xff, 0xfe, b[5], b[6], b[7]];
    IpAddr::V6((0xfe80u128 << 112 | u128::from(u64::from_be_bytes(iid))).into())
}

/// The MAC of a [`mac_key`] address.
pub fn key_mac(ip: IpAddr) -> Option<u64> {
    let IpAddr::V6(a) = ip else { return None };
    let v = u128::from(a);
    if v >> 64 != 0xfe80u128 << 48 || (v >> 24) & 0xffff != 0xfffe {
        return None;
    }
    let iid = (v as u64).to_be_bytes();
    Some(u64::from_be_bytes([0, 0, iid[0] ^ 0x02, iid[1], iid[2], iid[5], iid[6], iid[7]]))
}

/// The set of local networks. A home config lists a handful of prefixes, so a linear scan of
/// pre-masked integers (this runs twice per flow record) beats anything cleverer.
#[derive(Clone, Debug, Default)]
pub struct LocalNets {
    nets: Vec<IpNet>,
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl LocalNets {
    pub fn new(nets: Vec<IpNet>) -> LocalNets {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for n in &nets {
            match n.addr {
                IpAddr::V4(a) => v4.push((u32::from(a), mask_v4(u32::MAX, n.prefix))),
                IpAddr::V6(a) => v6.push((u128::from(a), mask_v6(u128::MAX, n.prefix))),
            }
        }
        LocalNets { nets, v4, v6 }
    }

    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match normalize(ip) {
            IpAddr::V4(a) => self.contains_v4(u32::from(a)),
            IpAddr::V6(a) => self.contains_v6(u128::from(a)),
        }
    }

    #[inline]
    pub fn contains_v4(&self, a: u32) -> bool {
        self.v4.iter().any(|(net, mask)| a & mask == *net)
    }

    /// `a` must not be IPv4-mapped (see [`normalize`]).
    #[inline]
    pub fn contains_v6(&self, a: u128) -> bool {
        self.v6.iter().any(|(net, mask)| a & mask == *net)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_and_their_link_local_keys() {
        let m = parse_mac("00:1A:2b:3c:4d:5e").unwrap();
        assert_eq!(m, 0x001a_2b3c_4d5e);
        assert_eq!(parse_mac("00-1a-2b-3c-4d-5e"), Some(m));
        assert_eq!(fmt_mac(m), "00:1a:2b:3c:4d:5e");
        for bad in
            ["", "00:1a:2b:3c:4d", "00:1a:2b:3c:4d:5e:6f", "00:1a:2b:3c:4d:zz", "0:1a:2b:3c:4d:5e", "00:00:00:00:00:00"]
        {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
        let k = mac_key(m);
        assert_eq!(k.to_string(), "fe80::21a:2bff:fe3c:4d5e");
        assert_eq!(key_mac(k), Some(m));
        assert_eq!(key_mac("fe80::1".parse().unwrap()), None);
        assert_eq!(key_mac("2001:db8::21a:2bff:fe3c:4d5e".parse().unwrap()), None);
    }

    #[test]
    fn parses_and_matches() {
        let n: IpNet = "192.168.1.77/24".parse().unwrap();
        assert_eq!(n.to_string(), "192.168.1.0/24");
        assert!(n.contains("192.168.1.200".parse().unwrap()));
        assert!(!n.contains("192.168.2.1".parse().unwrap()));
        assert!(n.contains("::ffff:192.168.1.3".parse().unwrap()));
        let v6: IpNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd00:1::10".parse().unwrap()));
        assert!(!v6.contains("2001:db8::1".parse().unwrap()));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let host: IpNet = "10.1.2.3".parse().unwrap();
        assert_eq!(host.to_string(), "10.1.2.3/32");
    }

    #[test]
    fn local_nets_match_like_their_prefixes() {
        let l = LocalNets::new(vec![
            "192.168.0.0/16".parse().unwrap(),
            "fd00::/8".parse().unwrap(),
            "0.0.0.0/0".parse().unwrap(),
        ]);
        assert!(l.contains("8.8.8.8".parse().unwrap()));
        assert!(l.contains("fd12::1".parse().unwrap()));
        assert!(!l.contains("2001:db8::1".parse().unwrap()));
        let l = LocalNets::new(vec!["10.1.0.0/16".parse().unwrap()]);
        assert!(l.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!l.contains("10.2.0.1".parse().unwrap()));
        assert!(!LocalNets::default().contains("10.1.0.1".parse().unwrap()));
    }

    #[test]
    fn rejects_bad_networks() {
        assert!("192.168.0.0/33".parse::<IpNet>().is_err());
        assert!("fd00::/129".parse::<IpNet>().is_err());
        assert!("192.168.0/16".parse::<IpNet>().is_err());
        assert!("lan".parse::<IpNet>().is_err());
    }
}
