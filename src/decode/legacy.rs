//! NetFlow v1, v5 and v7: fixed headers and fixed 48/48/52-byte records (Cisco's export formats).
//! The three share the record's first 36 bytes; they differ in header length, record length, the
//! record limit, where the TCP flags sit, and whether the header carries a sequence and sampling.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use super::exporter::{ExporterKey, SeqUnit, Store};
use super::{be16, be32, DecodeError, Decoded, FlowRecord};
use crate::stats;

/// The shape of one fixed-record version.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub version: u16,
    pub header_len: usize,
    pub record_len: usize,
    /// Cisco's limit per datagram (v1 24, v5 30, v7 28: what fits a 1500-byte MTU). A header
    /// above it is read only when the datagram's length is exactly that many records ([`header`]).
    pub max_records: usize,
    tcp_flags_at: usize,
    /// v5 and v7 count flows in the header (offset 16); v1 has no sequence.
    pub has_sequence: bool,
}

pub const V1: Layout =
    Layout { version: 1, header_len: 16, record_len: 48, max_records: 24, tcp_flags_at: 40, has_sequence: false };
pub const V5: Layout =
    Layout { version: 5, header_len: 24, record_len: 48, max_records: 30, tcp_flags_at: 37, has_sequence: true };
pub const V7: Layout =
    Layout { version: 7, header_len: 24, record_len: 52, max_records: 28, tcp_flags_at: 37, has_sequence: true };

pub const HEADER_LEN: usize = 24;
pub const RECORD_LEN: usize = 48;
pub const MAX_RECORDS: usize = 30;

/// The sampling multiplier from a v5 header's `sampling_interval`: the top two bits are the mode,
/// the low 14 bits the interval; 0 and 1 both mean "every packet".
pub fn sampling_interval(field: u16) -> u64 {
    u64::from(field & 0x3fff).max(1)
}

/// What the header says, once the datagram is known to be whole.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub count: usize,
    pub uptime_ms: u32,
    pub unix_secs: u32,
    pub sequence: u32,
    /// v5: engine type and id, the nearest thing to a source id.
    pub engine: u16,
    /// v5: the header's sampling interval (1 when unsampled).
    pub sampling: u64,
    /// More records than the version's limit, read because the length is exact for them.
    pub lenient: bool,
}

/// Check the datagram is whole and read its header. Nothing is emitted for a malformed datagram.
pub fn header(l: &Layout, data: &[u8]) -> Result<Header, DecodeError> {
    if data.len() < l.header_len {
        return Err(DecodeError::Short);
    }
    let count = usize::from(be16(data, 2));
    // A header with no records is odd but harmless (tshark reads it too): an empty datagram.
    // Above the limit, a datagram exactly as long as its records is what the exporter meant:
    // softflowd sends v1 with 29 records where Cisco's v1 stops at 24, and tshark reads them. A
    // count that does not match the length is a broken header, and nothing of it is believed.
    let lenient = count > l.max_records;
    if lenient && data.len() != l.header_len + count * l.record_len {
        return Err(DecodeError::BadCount);
    }
    // Trailing bytes past the last record are tolerated (some exporters pad to a word boundary);
    // too few bytes for the promised records drops the whole datagram.
    if data.len() < l.header_len + count * l.record_len {
        return Err(DecodeError::Truncated);
    }
    let v5 = l.version == 5;
    Ok(Header {
        count,
        uptime_ms: be32(data, 4),
        unix_secs: be32(data, 8),
        sequence: if l.has_sequence { be32(data, 16) } else { 0 },
        engine: if v5 { be16(data, 20) } else { 0 },
        sampling: if v5 { sampling_interval(be16(data, 22)) } else { 1 },
        lenient,
    })
}

/// Decode one datagram of layout `l` from `from`, keeping what the store keeps for it.
pub(super) fn decode(
    store: &mut Store,
    l: &Layout,
    from: IpAddr,
    data: &[u8],
    now: Instant,
    sink: &mut impl FnMut(&FlowRecord),
) -> Result<Decoded, DecodeError> {
    let h = header(l, data)?;
    let rate = store.override_rate(from).unwrap_or(h.sampling);
    let key = ExporterKey { addr: from, version: l.version, domain: u32::from(h.engine) };
    // These records would decode without state, but a refused key is refused for every
    // version alike: one rule, and the counter means what it says.
    let Some(e) = store.exporter(key, now) else {
        return Ok(Decoded { version: l.version, records: 0, error: None });
    };
    e.datagrams += 1;
    e.records += h.count as u64;
    if !l.has_sequence && e.carried {
        // v1 has no sequence number to continue: a second datagram with records is as near as
        // it comes.
        e.confirmed = true;
    }
    e.carried |= h.count > 0;
    if rate > 1 {
        e.default_sampling = Some(rate);
    }
    if l.has_sequence {
        // v5/v7 sequence numbers count flows.
        store.sequence(key, h.sequence, h.count as u32, SeqUnit::Records);
    }
    if h.lenient {
        stats::inc(&store.stats.lenient_datagrams);
    }
    records(l, &h, data, rate, sink);
    Ok(Decoded { version: l.version, records: h.count, error: None })
}

/// Emit the records of a datagram `header` accepted, counts multiplied by `rate`.
pub fn records(l: &Layout, h: &Header, data: &[u8], rate: u64, sink: &mut impl FnMut(&FlowRecord)) {
    let body = &data[l.header_len..l.header_len + h.count * l.record_len];
    // sysUptime-relative times to Unix milliseconds.
    let boot_ms = i64::from(h.unix_secs) * 1000 - i64::from(h.uptime_ms);
    for r in body.chunks_exact(l.record_len) {
        let rec = FlowRecord {
            src: Some(IpAddr::V4(Ipv4Addr::from(be32(r, 0)))),
            dst: Some(IpAddr::V4(Ipv4Addr::from(be32(r, 4)))),
            input_if: u32::from(be16(r, 12)),
            output_if: u32::from(be16(r, 14)),
            packets: u64::from(be32(r, 16)) * rate,
            bytes: u64::from(be32(r, 20)) * rate,
            start_ms: (boot_ms + i64::from(be32(r, 24))).max(0) as u64,
            end_ms: (boot_ms + i64::from(be32(r, 28))).max(0) as u64,
            export_ms: u64::from(h.unix_secs) * 1000,
            src_port: be16(r, 32),
            dst_port: be16(r, 34),
            tcp_flags: r[l.tcp_flags_at],
            protocol: r[38],
            sampling: rate as u32,
            ..FlowRecord::default()
        };
        sink(&rec);
    }
}

/// Build a v5 datagram (for tests, the demo sender and benchmarks).
pub fn encode(records: &[FlowRecord], sequence: u32, unix_secs: u32, sampling: u16) -> Vec<u8> {
    assert!(!records.is_empty() && records.len() <= MAX_RECORDS);
    let mut out = Vec::with_capacity(HEADER_LEN + records.len() * RECORD_LEN);
    out.extend_from_slice(&5u16.to_be_bytes());
    out.extend_from_slice(&(records.len() as u16).to_be_bytes());
    out.extend_from_slice(&1_000u32.to_be_bytes()); // sysUptime, ms
    out.extend_from_slice(&unix_secs.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes()); // unix_nsecs
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(&[0, 0]); // engine type, id
    out.extend_from_slice(&sampling.to_be_bytes());
    for r in records {
        let v4 = |a: Option<IpAddr>| match a {
            Some(IpAddr::V4(a)) => a.octets(),
            None => [0; 4],
            Some(IpAddr::V6(_)) => panic!("v5 carries IPv4 only"),
        };
        out.extend_from_slice(&v4(r.src));
        out.extend_from_slice(&v4(r.dst));
        out.extend_from_slice(&[0; 4]); // nexthop
        out.extend_from_slice(&(r.input_if as u16).to_be_bytes());
        out.extend_from_slice(&(r.output_if as u16).to_be_bytes());
        out.extend_from_slice(&(r.packets as u32).to_be_bytes());
        out.extend_from_slice(&(r.bytes as u32).to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes()); // First
        out.extend_from_slice(&900u32.to_be_bytes()); // Last
        out.extend_from_slice(&r.src_port.to_be_bytes());
        out.extend_from_slice(&r.dst_port.to_be_bytes());
        out.extend_from_slice(&[0, r.tcp_flags, r.protocol, 0]); // pad1, flags, proto, tos
        out.extend_from_slice(&[0; 8]); // src_as, dst_as, masks, pad2
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One v5 datagram, one record, annotated field by field.
    const ONE: [u8; 72] = [
        0x00, 0x05, // version 5
        0x00, 0x01, // count 1
        0x00, 0x00, 0x10, 0x00, // sysUptime 4096 ms
        0x65, 0x00, 0x00, 0x00, // unix_secs
        0x00, 0x00, 0x00, 0x00, // unix_nsecs
        0x00, 0x00, 0x00, 0x07, // flow_sequence 7
        0x00, 0x00, // engine type, engine id
        0x40, 0x0a, // sampling: mode 1 (top bits 01), interval 10
        // record
        192, 168, 1, 10, // srcaddr
        8, 8, 8, 8, // dstaddr
        192, 168, 1, 1, // nexthop
        0x00, 0x02, // input ifIndex 2
        0x00, 0x03, // output ifIndex 3
        0x00, 0x00, 0x00, 0x05, // dPkts 5
        0x00, 0x00, 0x01, 0xf4, // dOctets 500
        0x00, 0x00, 0x0f, 0x00, // First
        0x00, 0x00, 0x0f, 0xf0, // Last
        0xc3, 0x50, // srcport 50000
        0x00, 0x35, // dstport 53
        0x00, // pad1
        0x12, // tcp_flags SYN|ACK
        0x11, // protocol UDP (17)
        0x00, // tos
        0x00, 0x00, 0x00, 0x00, // src_as, dst_as
        24, 0, // src_mask, dst_mask
        0x00, 0x00, // pad2
    ];

    fn collect(data: &[u8]) -> (Result<usize, DecodeError>, Vec<FlowRecord>) {
        let mut v = Vec::new();
        let r = header(&V5, data).map(|h| {
            records(&V5, &h, data, h.sampling, &mut |r: &FlowRecord| v.push(*r));
            h.count
        });
        (r, v)
    }

    #[test]
    fn decodes_annotated_record_with_sampling() {
        let (r, recs) = collect(&ONE);
        assert_eq!(r, Ok(1));
        assert_eq!(
            recs,
            vec![FlowRecord {
                src: Some("192.168.1.10".parse().unwrap()),
                dst: Some("8.8.8.8".parse().unwrap()),
                bytes: 5000,
                packets: 50,
                input_if: 2,
                output_if: 3,
                protocol: 17,
                src_port: 50000,
                dst_port: 53,
                tcp_flags: 0x12,
                start_ms: 0x6500_0000 * 1000 - 4096 + 0x0f00,
                end_ms: 0x6500_0000 * 1000 - 4096 + 0x0ff0,
                export_ms: 0x6500_0000 * 1000,
                sampling: 10,
                ..FlowRecord::default()
            }]
        );
    }

    #[test]
    fn rejects_malformed_without_emitting() {
        assert_eq!(collect(&ONE[..23]).0, Err(DecodeError::Short));
        assert_eq!(collect(&ONE[..71]), (Err(DecodeError::Truncated), vec![]));
        let mut zero = ONE;
        zero[3] = 0;
        assert_eq!(collect(&zero), (Ok(0), vec![]));
        let mut many = ONE;
        many[3] = 31;
        assert_eq!(collect(&many).0, Err(DecodeError::BadCount));
        // Says 2 records, holds one: nothing is counted.
        let mut two = ONE;
        two[3] = 2;
        assert_eq!(collect(&two), (Err(DecodeError::Truncated), vec![]));
    }

    /// A v1 datagram of `n` records, each 48 bytes as v1 lays them out.
    fn v1(n: u16) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend(1u16.to_be_bytes()); // version 1
        d.extend(n.to_be_bytes()); // count
        d.extend(4_096u32.to_be_bytes()); // sysUptime, ms
        d.extend(0x6500_0000u32.to_be_bytes()); // unix_secs
        d.extend(0u32.to_be_bytes()); // unix_nsecs (v1 has no sequence, engine or sampling)
        for i in 0..n {
            d.extend([192, 168, 1, 10]); // srcaddr
            d.extend([8, 8, 8, 8]); // dstaddr
            d.extend([192, 168, 1, 1]); // nexthop
            d.extend(2u16.to_be_bytes()); // input ifIndex
            d.extend(3u16.to_be_bytes()); // output ifIndex
            d.extend(1u32.to_be_bytes()); // dPkts
            d.extend((100 + u32::from(i)).to_be_bytes()); // dOctets
            d.extend(0x0f00u32.to_be_bytes()); // First
            d.extend(0x0ff0u32.to_be_bytes()); // Last
            d.extend(50_000u16.to_be_bytes()); // srcport
            d.extend(53u16.to_be_bytes()); // dstport
            d.extend([0, 0]); // pad1
            d.extend([17, 0, 0x12]); // protocol UDP, tos, tcp_flags (v1 keeps them at 40)
            d.extend([0; 7]); // pad2, reserved
        }
        d
    }

    #[test]
    fn v1_over_its_limit_is_read_when_the_length_is_exact() {
        let read = |d: &[u8]| {
            let mut v = Vec::new();
            header(&V1, d).map(|h| {
                records(&V1, &h, d, 1, &mut |r: &FlowRecord| v.push(*r));
                (h.count, h.lenient, v.iter().map(|r| r.bytes).sum::<u64>(), v[0].tcp_flags)
            })
        };
        assert_eq!(read(&v1(24)), Ok((24, false, (100..124).sum(), 0x12)));
        // softflowd's 29 records: Cisco's v1 stops at 24, the length says 29.
        assert_eq!(read(&v1(29)), Ok((29, true, (100..129).sum(), 0x12)));
        // Over the limit and the length does not match the count: the header is not believed.
        let mut padded = v1(29);
        padded.extend([0; 4]);
        assert_eq!(read(&padded), Err(DecodeError::BadCount));
        let mut short = v1(29);
        short.truncate(short.len() - 48);
        assert_eq!(read(&short), Err(DecodeError::BadCount));
    }

    #[test]
    fn padding_after_records_is_accepted() {
        let mut padded = ONE.to_vec();
        padded.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(collect(&padded).0, Ok(1));
    }

    #[test]
    fn encode_roundtrips() {
        let (_, recs) = collect(&ONE);
        let mut unsampled = recs[0];
        unsampled.bytes = 500;
        unsampled.packets = 5;
        unsampled.sampling = 1;
        let bytes = encode(&[unsampled, unsampled], 1, 0, 0);
        let (r, back) = collect(&bytes);
        assert_eq!(r.unwrap(), 2);
        assert_eq!((back[1].src, back[1].bytes, back[1].packets, back[1].input_if), (unsampled.src, 500, 5, 2));
    }

    #[test]
    fn sampling_field() {
        assert_eq!(sampling_interval(0), 1);
        assert_eq!(sampling_interval(1), 1);
        assert_eq!(sampling_interval(0x4000 | 100), 100);
        assert_eq!(sampling_interval(0x0809), 2057);
    }
}
