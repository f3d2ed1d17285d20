//! Reading export datagrams out of files: classic pcap captures (the UDP payloads) and raw `.dat`
//! files of back-to-back export messages (split on each version's length rules).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One UDP payload from a capture, with the addresses it travelled between.
#[derive(Debug, Clone)]
pub struct Datagram {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct PcapError(pub String);

impl std::fmt::Display for PcapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Is this a classic pcap file (either byte order, micro- or nanosecond stamps)?
pub fn is_pcap(data: &[u8]) -> bool {
    matches!(
        data.get(..4),
        Some([0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0xc3, 0xd4] | [0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d])
    )
}

/// Every UDP payload in a classic pcap (link types Ethernet, Linux cooked v1/v2, raw IP, BSD loopback).
/// Packets that are not UDP, or are IP fragments after the first, are skipped.
pub fn udp_payloads(data: &[u8]) -> Result<Vec<Datagram>, PcapError> {
    if data.len() < 24 || !is_pcap(data) {
        return Err(PcapError("not a pcap file (pcapng is not supported; convert with editcap -F pcap)".into()));
    }
    let le = data[0] == 0xd4 || data[0] == 0x4d;
    let u32_at = |b: &[u8], at: usize| {
        let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let linktype = u32_at(data, 20);
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let caplen = u32_at(data, at + 8) as usize;
        let start = at + 16;
        let end = start
            .checked_add(caplen)
            .filter(|e| *e <= data.len())
            .ok_or_else(|| PcapError(format!("truncated packet record at byte {at}")))?;
        let frame = &data[start..end];
        if let Some(ip) = network_layer(linktype, frame) {
            if let Some(d) = udp(ip) {
                out.push(d);
            }
        }
        at = end;
    }
    Ok(out)
}

/// The IP packet inside a link-layer frame.
fn network_layer(linktype: u32, f: &[u8]) -> Option<&[u8]> {
    match linktype {
        1 => {
            // Ethernet, possibly with 802.1Q / QinQ tags.
            let mut off = 12;
            loop {
                let et = u16::from_be_bytes([*f.get(off)?, *f.get(off + 1)?]);
                match et {
                    0x8100 | 0x88a8 => off += 4,
                    0x0800 | 0x86dd => return f.get(off + 2..),
                    _ => return None,
                }
            }
        }
        113 => f.get(16..),    // Linux cooked v1
        276 => f.get(20..),    // Linux cooked v2
        0 | 108 => f.get(4..), // BSD loopback
        101 | 228 | 229 | 12 | 14 => Some(f),
        _ => None,
    }
}

fn udp(ip: &[u8]) -> Option<Datagram> {
    let version = ip.first()? >> 4;
    let (src, dst, payload) = match version {
        4 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
            if *ip.get(9)? != 17 || frag & 0x1fff != 0 || frag & 0x2000 != 0 {
                return None; // not UDP, or fragmented
            }
            let src = IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]));
            let dst = IpAddr::V4(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]));
            (src, dst, ip.get(ihl..total.min(ip.len()))?)
        }
        6 => {
            if *ip.get(6)? != 17 {
                return None; // not UDP, or behind extension headers
            }
            let len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            let src = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(ip.get(8..24)?).ok()?));
            let dst = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(ip.get(24..40)?).ok()?));
            (src, dst, ip.get(40..(40 + len).min(ip.len()))?)
        }
        _ => return None,
    };
    let sport = u16::from_be_bytes([*payload.first()?, *payload.get(1)?]);
    let dport = u16::from_be_bytes([*payload.get(2)?, *payload.get(3)?]);
    let ulen = usize::from(u16::from_be_bytes([*payload.get(4)?, *payload.get(5)?]));
    let body = payload.get(8..ulen.clamp(8, payload.len()))?;
    Some(Datagram { src: SocketAddr::new(src, sport), dst: SocketAddr::new(dst, dport), payload: body.to_vec() })
}

/// Split a file of back-to-back export messages. v1/v5/v7 lengths follow from the record count,
/// IPFIX carries its length; v9 has none, so a v9 message runs to the end of the file. A zero-filled
/// tail (some test files are one datagram padded out) ends the split.
pub fn split_raw(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 4 {
        let version = u16::from_be_bytes([rest[0], rest[1]]);
        let count = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let len = match version {
            1 => 16 + 48 * count,
            5 => 24 + 48 * count,
            7 => 24 + 52 * count,
            10 => count, // IPFIX: the second field is the message length
            9 => rest.len(),
            _ => break,
        };
        if len == 0 || len > rest.len() {
            out.push(rest);
            break;
        }
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_back_to_back_v5() {
        let one = crate::decode::legacy::encode(
            &[crate::decode::FlowRecord {
                src: Some("10.0.0.1".parse().unwrap()),
                dst: Some("10.0.0.2".parse().unwrap()),
                bytes: 1,
                packets: 1,
                input_if: 0,
                output_if: 0,
                protocol: 17,
                src_port: 1,
                dst_port: 2,
                tcp_flags: 0,
                ..Default::default()
            }],
            0,
            0,
            0,
        );
        let mut file = one.clone();
        file.extend_from_slice(&one);
        file.extend_from_slice(&[0; 10]);
        let parts = split_raw(&file);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| *p == one.as_slice()));
    }

    #[test]
    fn rejects_non_pcap() {
        assert!(udp_payloads(b"hello world, this is not a capture").is_err());
    }
}
