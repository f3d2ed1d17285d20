//! Datagrams the decoder dropped, per sender: how many of each error kind and what they look like
//! when they are not NetFlow at all (sFlow, NetFlow v8, syslog), for the doctor. The counters say
//! that datagrams are lost; this says whose, and why. Bounded by doctor.max_senders: a sender
//! new to a full table takes the row of the one heard from longest ago.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use super::{be16, be32, DecodeError};

/// doctor.max_senders when the config does not say.
pub const DEFAULT_MAX_SENDERS: usize = 16;

/// A protocol recognised in a datagram flowpi does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Foreign {
    /// sFlow (versions 2, 4 and 5 share the header's first fields), with the agent address the
    /// header names (often not the address the datagram came from).
    SFlow { version: u8, agent: IpAddr },
    /// NetFlow v8, Cisco's router-side aggregation: no addresses of single hosts.
    NetflowV8,
    /// NetFlow v6: v5 with encapsulation fields, a few Cisco routers' export.
    NetflowV6,
    /// A syslog message (`<PRI>` first, RFC 3164 and 5424): the router's log aimed at this port.
    Syslog,
}

impl Foreign {
    pub fn name(self) -> String {
        match self {
            Foreign::SFlow { version, .. } => format!("sFlow v{version}"),
            Foreign::NetflowV8 => "NetFlow v8".into(),
            Foreign::NetflowV6 => "NetFlow v6".into(),
            Foreign::Syslog => "syslog".into(),
        }
    }
}

/// What a datagram flowpi cannot decode looks like, from its first bytes.
pub fn recognise(data: &[u8]) -> Option<Foreign> {
    if data.len() >= 4 {
        match be16(data, 0) {
            8 => return Some(Foreign::NetflowV8),
            6 => return Some(Foreign::NetflowV6),
            _ => {}
        }
    }
    if let Some(f) = sflow(data) {
        return Some(f);
    }
    // `<` one to three digits `>`: a syslog priority.
    let digits = data.iter().skip(1).take_while(|b| b.is_ascii_digit()).count();
    (data.first() == Some(&b'<') && (1..=3).contains(&digits) && data.get(1 + digits) == Some(&b'>'))
        .then_some(Foreign::Syslog)
}

/// The sFlow header (sFlow v5 spec, "sample_datagram_v5"; v2 and v4 lack the sub-agent id):
/// version (32 bits), agent address type (1 IPv4, 2 IPv6), the agent address, [sub-agent id,]
/// sequence number, uptime, number of samples. A NetFlow version field reads 0 here, so nothing
/// flowpi decodes can match.
fn sflow(data: &[u8]) -> Option<Foreign> {
    if data.len() < 8 {
        return None;
    }
    let version = be32(data, 0);
    if !matches!(version, 2 | 4 | 5) {
        return None;
    }
    let (agent, addr_len) = match be32(data, 4) {
        1 if data.len() >= 12 => (IpAddr::V4(Ipv4Addr::from(be32(data, 8))), 4),
        2 if data.len() >= 24 => {
            let b: [u8; 16] = data[8..24].try_into().ok()?;
            (IpAddr::V6(Ipv6Addr::from(b)), 16)
        }
        _ => return None,
    };
    let header = 8 + addr_len + if version == 5 { 16 } else { 12 };
    (data.len() >= header).then_some(Foreign::SFlow { version: version as u8, agent })
}

/// One sender's dropped datagrams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub sender: IpAddr,
    /// Datagrams with an error (all of them dropped, except `bad_set`, where the sets before the
    /// bad one were read), by [`DecodeError`] kind, and their bytes.
    pub kinds: [u64; DecodeError::KINDS],
    pub bytes: u64,
    /// The last foreign protocol recognised, and how many datagrams were recognised as one.
    pub foreign: Option<Foreign>,
    pub foreign_datagrams: u64,
    /// The version field (first two bytes) of the last datagram of an unknown version.
    pub version: Option<u16>,
    pub first: Instant,
    pub last: Instant,
}

impl Rejected {
    pub fn datagrams(&self) -> u64 {
        self.kinds.iter().sum()
    }
}

/// The table, owned by the decoder.
pub struct Rejects {
    max: usize,
    rows: HashMap<IpAddr, Rejected>,
    evictions: u64,
}

impl Rejects {
    pub fn new(max: usize) -> Rejects {
        Rejects { max: max.max(1), rows: HashMap::new(), evictions: 0 }
    }

    /// A datagram from `sender` that ended in `e`. Off the hot path: only errors come here.
    #[inline(never)]
    pub fn add(&mut self, sender: IpAddr, e: DecodeError, data: &[u8], now: Instant) {
        if !self.rows.contains_key(&sender) && self.rows.len() >= self.max {
            if let Some(oldest) = self.rows.values().min_by_key(|r| r.last).map(|r| r.sender) {
                self.rows.remove(&oldest);
                self.evictions += 1;
            }
        }
        let r = self.rows.entry(sender).or_insert_with(|| Rejected {
            sender,
            kinds: [0; DecodeError::KINDS],
            bytes: 0,
            foreign: None,
            foreign_datagrams: 0,
            version: None,
            first: now,
            last: now,
        });
        r.kinds[e as usize] += 1;
        r.bytes = r.bytes.saturating_add(data.len() as u64);
        r.last = now;
        if matches!(e, DecodeError::UnknownVersion | DecodeError::Short) {
            if let Some(f) = recognise(data) {
                r.foreign = Some(f);
                r.foreign_datagrams += 1;
            }
        }
        if e == DecodeError::UnknownVersion {
            r.version = Some(be16(data, 0));
        }
    }

    /// Rows given to a new sender (flowpi_doctor_senders_evicted_total).
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Every row, most datagrams first.
    pub fn rows(&self) -> Vec<Rejected> {
        let mut v: Vec<Rejected> = self.rows.values().cloned().collect();
        v.sort_by_key(|r| (std::cmp::Reverse(r.datagrams()), r.sender));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An sFlow v5 header: version, agent address type and address, sub-agent id, sequence,
    /// uptime, number of samples.
    fn sflow5(agent: [u8; 4]) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend(5u32.to_be_bytes()); // version 5
        d.extend(1u32.to_be_bytes()); // address type: IPv4
        d.extend(agent); // agent address
        d.extend(0u32.to_be_bytes()); // sub-agent id
        d.extend(17u32.to_be_bytes()); // sequence number
        d.extend(60_000u32.to_be_bytes()); // uptime, ms
        d.extend(0u32.to_be_bytes()); // samples
        d
    }

    #[test]
    fn recognises_what_is_not_netflow() {
        let agent: IpAddr = "10.0.0.254".parse().unwrap();
        assert_eq!(recognise(&sflow5([10, 0, 0, 254])), Some(Foreign::SFlow { version: 5, agent }));
        // Cut inside the header: not believed.
        assert_eq!(recognise(&sflow5([10, 0, 0, 254])[..27]), None);
        let mut v6 = vec![0, 0, 0, 5, 0, 0, 0, 2];
        v6.extend([0x20, 0x01, 0x0d, 0xb8].iter().chain(&[0; 12]));
        v6.extend([0; 16]);
        assert!(matches!(recognise(&v6), Some(Foreign::SFlow { version: 5, agent: IpAddr::V6(_) })));
        assert_eq!(recognise(&[0, 8, 0, 3, 0, 0, 0, 0]), Some(Foreign::NetflowV8));
        assert_eq!(recognise(b"<134>Jan  1 00:00:00 router: link up"), Some(Foreign::Syslog));
        assert_eq!(recognise(b"<1345>x"), None);
        assert_eq!(recognise(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(recognise(&[0, 42, 0, 1, 0, 0, 0, 0]), None);
    }

    #[test]
    fn rows_per_sender_bounded_oldest_out() {
        let t = Instant::now();
        let mut r = Rejects::new(2);
        let a: IpAddr = "192.168.1.1".parse().unwrap();
        let b: IpAddr = "192.168.1.2".parse().unwrap();
        let c: IpAddr = "192.168.1.3".parse().unwrap();
        r.add(a, DecodeError::UnknownVersion, &sflow5([1, 2, 3, 4]), t);
        r.add(a, DecodeError::Truncated, &[0, 5, 0, 2], t);
        r.add(b, DecodeError::UnknownVersion, &[0, 42, 0, 0], t + std::time::Duration::from_secs(1));
        let rows = r.rows();
        assert_eq!(rows[0].sender, a);
        assert_eq!((rows[0].datagrams(), rows[0].foreign_datagrams, rows[0].version), (2, 1, Some(0)));
        assert_eq!(rows[1].version, Some(42));
        // A third sender: the one heard from longest ago makes way.
        r.add(c, DecodeError::Short, &[1], t + std::time::Duration::from_secs(2));
        assert_eq!(r.evictions(), 1);
        let senders: Vec<IpAddr> = r.rows().iter().map(|x| x.sender).collect();
        assert_eq!(senders.len(), 2);
        assert!(!senders.contains(&a));
    }
}
