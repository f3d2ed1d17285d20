//! Applications by port: the class list (`[applications]`, protocol.list syntax), the lookup that
//! names a flow's application once per record, and the name type archives and URLs use.

use std::fmt;

/// An application's name: 1 to 23 of `a-z 0-9 _ -`, so it is safe as a file name and a URL
/// segment. Fixed size and `Copy`, so an archive key carries its own name and a journal or a file
/// written under one config still means the same application under the next.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppName {
    len: u8,
    bytes: [u8; AppName::MAX],
}

impl AppName {
    pub const MAX: usize = 23;

    pub fn new(s: &str) -> Option<AppName> {
        let ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-';
        if s.is_empty() || s.len() > Self::MAX || !s.bytes().all(ok) {
            return None;
        }
        let mut bytes = [0u8; Self::MAX];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Some(AppName { len: s.len() as u8, bytes })
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII goes in (checked by `new`).
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppName({})", self.as_str())
    }
}

/// TCP and UDP flows in no class.
pub const OTHER: &str = "other";

const TCP: u8 = 6;
const UDP: u8 = 17;

/// IP protocols other than TCP and UDP are their own application, named here; the rest are
/// `ip-N`.
fn protocol_name(p: u8) -> Option<&'static str> {
    Some(match p {
        1 => "icmp",
        2 => "igmp",
        4 => "ipip",
        41 => "ipv6-in-ip",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "icmpv6",
        89 => "ospf",
        103 => "pim",
        112 => "vrrp",
        115 => "l2tp",
        132 => "sctp",
        _ => return None,
    })
}

/// The name of an IP protocol, for ports rows and other-protocol applications.
pub fn protocol_label(p: u8) -> String {
    match p {
        TCP => "tcp".into(),
        UDP => "udp".into(),
        _ => protocol_name(p).map_or_else(|| format!("ip-{p}"), str::to_string),
    }
}

/// One configured class: its name and its ports as written (for messages and the API).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Class {
    pub name: AppName,
    pub ports: String,
}

/// Which ports a class holds, for TCP and UDP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec {
    pub lo: u16,
    pub hi: u16,
    pub tcp: bool,
    pub udp: bool,
}

/// Parse `80/tcp|443|6881-6999|53/udp`.
pub fn parse_ports(s: &str) -> Result<Vec<PortSpec>, String> {
    let mut out = Vec::new();
    for part in s.split('|') {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("{s:?}: an empty entry between '|'"));
        }
        let (range, proto) = match part.split_once('/') {
            Some((r, p)) => (r, Some(p)),
            None => (part, None),
        };
        let (tcp, udp) = match proto {
            None => (true, true),
            Some("tcp") => (true, false),
            Some("udp") => (false, true),
            Some(p) => return Err(format!("{part:?}: protocol {p:?} is not tcp or udp")),
        };
        let port = |p: &str| -> Result<u16, String> {
            p.trim().parse::<u16>().map_err(|_| format!("{part:?}: {p:?} is not a port (0-65535)"))
        };
        let (lo, hi) = match range.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => {
                let p = port(range)?;
                (p, p)
            }
        };
        if lo > hi {
            return Err(format!("{part:?}: the range runs backwards"));
        }
        out.push(PortSpec { lo, hi, tcp, udp });
    }
    Ok(out)
}

/// Most classes a config may list: a class index fits the lookup's byte with room to spare.
pub const MAX_CLASSES: usize = 200;
/// IP protocols other than TCP and UDP get an application each as they are first seen, up to
/// this many; later ones count under `other` (a flood of odd protocol numbers cannot grow the
/// tables).
pub const PROTOCOL_SLOTS: usize = 16;

/// The default classes, for today's home traffic. `etc/flowpi.toml` lists the same, commented.
pub const DEFAULT: &[(&str, &str)] = &[
    // HTTP and HTTPS, QUIC (HTTP/3) on 443/udp, common proxies and alternates.
    ("web", "80/tcp|443|8080/tcp|8443/tcp|3128/tcp"),
    ("dns", "53|5353/udp"),
    // DNS over TLS and over QUIC.
    ("dot", "853"),
    ("ntp", "123/udp"),
    ("mail", "25/tcp|465/tcp|587/tcp|110/tcp|995/tcp|143/tcp|993/tcp"),
    ("ssh", "22/tcp"),
    // OpenVPN, WireGuard, IPsec IKE and NAT-T, L2TP, PPTP.
    ("vpn", "1194|51820/udp|500/udp|4500/udp|1701/udp|1723/tcp"),
    // RDP, VNC, TeamViewer.
    ("remote", "3389|5900-5903/tcp|5938"),
    // SMB, AFP, NFS: the LAN's file servers.
    ("files", "139/tcp|445/tcp|548/tcp|2049"),
    // RTSP, RTMP, Chromecast, AirPlay.
    ("streaming", "554|1935/tcp|8008-8009/tcp|7000/tcp"),
    // SIP, STUN/TURN (calls and video meetings), Zoom, Teams media.
    ("calls", "5060-5061|3478-3481/udp|8801-8810/udp"),
    // Xbox Live, PlayStation Network, Steam, Minecraft.
    ("games", "3074|3478-3480/tcp|27000-27050/udp|27015-27030/tcp|25565/tcp"),
    // Apple push, XMPP, MQTT (phones' notifications and the smart home).
    ("push", "5223/tcp|5222/tcp|1883/tcp|8883/tcp"),
    ("p2p", "6881-6999|6969"),
];

/// The classes in order, and per port the first class that lists it.
pub struct Applications {
    names: Vec<AppName>,
    /// Per port, the class index + 1 (0: none), for TCP and for UDP.
    tcp: Box<[u8; 65536]>,
    udp: Box<[u8; 65536]>,
    /// Per port, one bit: listed by some class (TCP, UDP). 8 KiB each, so the common case, an
    /// ephemeral port no class lists, is answered from L1 instead of a miss in the 64 KiB tables.
    tcp_listed: Box<[u64; 1024]>,
    udp_listed: Box<[u64; 1024]>,
    /// Per IP protocol, its application id once seen (`u16::MAX` until then).
    proto: [u16; 256],
    protos_used: usize,
}

/// An application's index: classes first, then `other`, then IP protocols as they are seen.
pub type AppId = u16;

impl Applications {
    /// `classes` in the config's order; names already checked (unique, not `other`).
    pub fn new(classes: &[(AppName, Vec<PortSpec>)]) -> Applications {
        let mut tcp = Box::new([0u8; 65536]);
        let mut udp = Box::new([0u8; 65536]);
        let mut names = Vec::with_capacity(classes.len() + 1 + PROTOCOL_SLOTS);
        for (i, (name, specs)) in classes.iter().enumerate().take(MAX_CLASSES) {
            names.push(*name);
            for s in specs {
                for p in s.lo..=s.hi {
                    // The first class that lists a port keeps it.
                    if s.tcp && tcp[p as usize] == 0 {
                        tcp[p as usize] = i as u8 + 1;
                    }
                    if s.udp && udp[p as usize] == 0 {
                        udp[p as usize] = i as u8 + 1;
                    }
                }
            }
        }
        names.push(AppName::new(OTHER).expect("valid name"));
        let bits = |t: &[u8; 65536]| {
            let mut b = Box::new([0u64; 1024]);
            for (p, &c) in t.iter().enumerate() {
                if c != 0 {
                    b[p / 64] |= 1 << (p % 64);
                }
            }
            b
        };
        let (tcp_listed, udp_listed) = (bits(&tcp), bits(&udp));
        Applications { names, tcp, udp, tcp_listed, udp_listed, proto: [u16::MAX; 256], protos_used: 0 }
    }

    /// The default list.
    pub fn default_classes() -> Vec<(AppName, Vec<PortSpec>)> {
        DEFAULT
            .iter()
            .map(|(n, p)| (AppName::new(n).expect("valid name"), parse_ports(p).expect("valid ports")))
            .collect()
    }

    /// Every application id there can be: the tables are sized for this once.
    pub fn capacity(&self) -> usize {
        self.names.len() + PROTOCOL_SLOTS - self.protos_used
    }

    pub fn other(&self) -> AppId {
        (self.classes()) as AppId
    }

    fn classes(&self) -> usize {
        self.names.len() - 1 - self.protos_used
    }

    pub fn name(&self, id: AppId) -> AppName {
        self.names[id as usize]
    }

    /// The flow's application and the port that names it (the lower port when neither is
    /// listed; 0 for protocols without ports).
    #[inline]
    pub fn classify(&mut self, protocol: u8, src_port: u16, dst_port: u16) -> (AppId, u16) {
        let (table, listed) = match protocol {
            TCP => (&self.tcp, &self.tcp_listed),
            UDP => (&self.udp, &self.udp_listed),
            _ => return (self.protocol(protocol), 0),
        };
        let class = |p: u16| {
            if listed[p as usize / 64] & (1 << (p % 64)) == 0 {
                0
            } else {
                table[p as usize]
            }
        };
        let (a, b) = (class(src_port), class(dst_port));
        let (lo_port, hi_port, lo_cls, hi_cls) =
            if src_port <= dst_port { (src_port, dst_port, a, b) } else { (dst_port, src_port, b, a) };
        if lo_cls != 0 {
            (AppId::from(lo_cls - 1), lo_port)
        } else if hi_cls != 0 {
            (AppId::from(hi_cls - 1), hi_port)
        } else {
            (self.other(), lo_port)
        }
    }

    #[cold]
    fn protocol(&mut self, p: u8) -> AppId {
        let id = self.proto[p as usize];
        if id != u16::MAX {
            return id;
        }
        if self.protos_used >= PROTOCOL_SLOTS {
            return self.other();
        }
        let name = protocol_name(p).map_or_else(|| format!("ip-{p}"), str::to_string);
        let id = self.names.len() as AppId;
        self.names.push(AppName::new(&name).expect("protocol names are valid"));
        self.protos_used += 1;
        self.proto[p as usize] = id;
        id
    }

    /// The application a port row names: its port's class, else `other`.
    pub fn port_name(&self, protocol: u8, port: u16) -> AppName {
        let c = match protocol {
            TCP => self.tcp[port as usize],
            UDP => self.udp[port as usize],
            _ => 0,
        };
        if c == 0 {
            self.name(self.other())
        } else {
            self.name(AppId::from(c - 1))
        }
    }

    /// Ids handed out so far (classes, `other`, protocols seen).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apps(list: &[(&str, &str)]) -> Applications {
        let c: Vec<_> = list.iter().map(|(n, p)| (AppName::new(n).unwrap(), parse_ports(p).unwrap())).collect();
        Applications::new(&c)
    }

    fn name(a: &mut Applications, proto: u8, s: u16, d: u16) -> (String, u16) {
        let (id, port) = a.classify(proto, s, d);
        (a.name(id).to_string(), port)
    }

    #[test]
    fn ports_ranges_and_protocols() {
        let mut a = apps(&[("web", "80/tcp|443"), ("bt", "6881-6999|6969"), ("dns", "53/udp")]);
        assert_eq!(name(&mut a, 6, 51000, 443), ("web".into(), 443));
        assert_eq!(name(&mut a, 17, 443, 51000), ("web".into(), 443));
        assert_eq!(name(&mut a, 17, 80, 51000), ("other".into(), 80));
        assert_eq!(name(&mut a, 6, 6900, 40000), ("bt".into(), 6900));
        assert_eq!(name(&mut a, 6, 53, 40000), ("other".into(), 53));
        assert_eq!(name(&mut a, 17, 40000, 53), ("dns".into(), 53));
        // Both listed: the lower port decides.
        assert_eq!(name(&mut a, 6, 6881, 443), ("web".into(), 443));
        assert_eq!(name(&mut a, 1, 0, 0), ("icmp".into(), 0));
        assert_eq!(name(&mut a, 58, 0, 0), ("icmpv6".into(), 0));
        assert_eq!(name(&mut a, 253, 0, 0), ("ip-253".into(), 0));
        assert_eq!(a.classify(1, 0, 0), a.classify(1, 9, 9));
    }

    #[test]
    fn first_class_keeps_a_port() {
        let mut a = apps(&[("one", "1000-2000"), ("two", "1500/tcp|3000")]);
        assert_eq!(name(&mut a, 6, 1500, 60000).0, "one");
        assert_eq!(name(&mut a, 6, 3000, 60000).0, "two");
    }

    #[test]
    fn protocol_slots_are_bounded() {
        let mut a = apps(&[]);
        let cap = a.capacity();
        for p in 0..=255u8 {
            if p != 6 && p != 17 {
                let (id, _) = a.classify(p, 0, 0);
                assert!((id as usize) < cap);
            }
        }
        assert_eq!(a.len(), cap);
        assert_eq!(name(&mut a, 200, 0, 0).0, "other");
    }

    #[test]
    fn port_syntax_errors() {
        assert!(parse_ports("80/sctp").unwrap_err().contains("not tcp or udp"));
        assert!(parse_ports("70000").unwrap_err().contains("not a port"));
        assert!(parse_ports("90-80").unwrap_err().contains("backwards"));
        assert!(parse_ports("80||81").unwrap_err().contains("empty"));
        assert_eq!(parse_ports(" 80 / tcp ").unwrap_err(), "\"80 / tcp\": protocol \" tcp\" is not tcp or udp");
        assert!(AppName::new("Web").is_none() && AppName::new("../x").is_none() && AppName::new("").is_none());
        assert!(AppName::new(&"a".repeat(24)).is_none());
        for (n, p) in DEFAULT {
            assert!(AppName::new(n).is_some() && parse_ports(p).is_ok(), "{n}");
        }
    }
}

/// The applications view: bytes and packets received and sent by local hosts per application
/// and step, archived as `applications/<name>.rrd`.
pub struct AppView {
    table: super::table::Table<AppKey>,
    // The table's counters; an application row always fits (the table holds every id).
    size: std::sync::atomic::AtomicU64,
    none: std::sync::atomic::AtomicU64,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppKey(AppId);

impl super::table::CacheSlot for AppKey {
    #[inline]
    fn slot(&self) -> usize {
        self.0 as usize
    }
}

impl AppView {
    pub fn new(napps: usize, open: usize) -> AppView {
        AppView {
            table: super::table::Table::new(napps, open, None),
            size: Default::default(),
            none: Default::default(),
        }
    }

    #[inline]
    pub fn add(&mut self, f: &super::attribute::Flow, place: super::Place, parts: &[(usize, u64)]) {
        let i = self.table.row(AppKey(f.app), &self.none, &self.size, &self.none).index();
        let (rx, tx) = (f.receiver.is_some(), f.sender.is_some());
        let t = &mut self.table;
        let mut put = |s: usize, b: u64, p: u64| {
            let c = t.bucket(i, s);
            if rx {
                c.add_in(b, p);
            }
            if tx {
                c.add_out(b, p);
            }
        };
        match place {
            super::Place::One(slot) => put(slot, f.bytes, f.packets),
            super::Place::Spread => super::split(parts, f.bytes, f.packets, put),
        }
    }

    pub fn drain(
        &mut self,
        clock: &super::Clock,
        apps: &Applications,
        out: &mut Vec<(super::Subject, i64, super::Counts)>,
    ) {
        self.table.drain(clock, |k, step, c| {
            if let Some(AppKey(id)) = k {
                out.push((super::Subject::Application(apps.name(id)), step, c));
            }
        });
    }

    pub fn publish(&self, apps: &Applications, s: &mut super::Snapshot) {
        let t = &self.table;
        s.applications = t
            .keys
            .iter()
            .enumerate()
            .map(|(i, AppKey(id))| (apps.name(*id), t.total(i)))
            .filter(|(_, c)| !c.is_zero())
            .collect();
    }
}
