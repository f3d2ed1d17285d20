//! Templates (NetFlow v9 and IPFIX) compiled into a plan: one step per field saying what it feeds
//! and how long it is. Reading a record walks the plan over the bytes; nothing is allocated.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::fields::{self, Field};

/// The largest sampling rate taken from an exporter (1 in a million); the config allows the same.
pub const MAX_SAMPLING_RATE: u64 = 1_000_000;

/// IPFIX variable-length marker (RFC 7011 §7).
pub const VARLEN: u16 = 0xffff;

/// A template as the exporter sent it: what is persisted and compared on refresh.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSpec {
    pub id: u16,
    /// Options templates: how many of the leading fields are scope fields (0 for data templates).
    pub scope_fields: u16,
    pub options: bool,
    /// (element id, length, enterprise number; 0 for IANA)
    pub fields: Vec<(u16, u16, u32)>,
}

#[derive(Clone, Copy, Debug)]
struct Step {
    field: Field,
    len: u16,
}

/// A compiled template.
#[derive(Clone, Debug)]
pub struct Template {
    pub spec: TemplateSpec,
    steps: Vec<Step>,
    /// Record length when no field is variable-length.
    pub fixed_len: Option<usize>,
    /// The shortest a record can be (variable-length fields count their 1-byte length prefix).
    pub min_len: usize,
    /// False when no field is one we read: its data is skipped without counting it as unknown.
    pub useful: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateError {
    /// No fields, a zero-length field, or a record length that cannot be.
    Invalid,
    /// More fields than collector.max_fields_per_template.
    TooManyFields,
}

impl Template {
    pub fn compile(spec: TemplateSpec, version: u16, max_fields: usize) -> Result<Template, TemplateError> {
        if spec.fields.is_empty() {
            return Err(TemplateError::Invalid);
        }
        if spec.fields.len() > max_fields {
            return Err(TemplateError::TooManyFields);
        }
        let mut steps = Vec::with_capacity(spec.fields.len());
        let mut seen: Vec<u8> = Vec::new();
        let mut fixed = Some(0usize);
        let mut min_len = 0usize;
        for (i, &(id, len, enterprise)) in spec.fields.iter().enumerate() {
            // 65535 is IPFIX's variable-length marker; H3C sends it in NetFlow v9 too, and no fixed
            // v9 field can be that long, so it means the same in both.
            let varlen = len == VARLEN;
            let is_scope = spec.options && i < usize::from(spec.scope_fields);
            let field = if len == 0 {
                // A zero-length field carries nothing (IPFIX allows it; some v9 exporters send it too).
                Field::Skip
            } else if enterprise != 0 || varlen && !matches!(fields::lookup(id, 4), Field::IfName | Field::IfDesc) {
                Field::Skip
            } else if is_scope && version == 9 {
                fields::v9_scope(id, len)
            } else {
                fields::lookup(id, len)
            };
            // When a template repeats an element, the first occurrence counts (as tshark and
            // nfdump read it): later ones become skips. Addresses are settled per record instead.
            let field = match value_slot(field) {
                Some(slot) if !matches!(field, Field::SrcV4 | Field::SrcV6 | Field::DstV4 | Field::DstV6) => {
                    if seen.contains(&slot) {
                        Field::Skip
                    } else {
                        seen.push(slot);
                        field
                    }
                }
                _ => field,
            };
            if varlen {
                fixed = None;
                min_len += 1;
            } else {
                fixed = fixed.map(|f| f + usize::from(len));
                min_len += usize::from(len);
            }
            steps.push(Step { field, len });
        }
        // Merge adjacent skips of fixed length: fewer steps to walk per record.
        let mut merged: Vec<Step> = Vec::with_capacity(steps.len());
        for s in steps {
            match merged.last_mut() {
                Some(last)
                    if last.field == Field::Skip
                        && s.field == Field::Skip
                        && last.len != VARLEN
                        && s.len != VARLEN
                        && u32::from(last.len) + u32::from(s.len) < u32::from(VARLEN) =>
                {
                    last.len += s.len
                }
                _ => merged.push(s),
            }
        }
        let useful = merged.iter().any(|s| s.field != Field::Skip);
        if min_len == 0 {
            return Err(TemplateError::Invalid);
        }
        Ok(Template { spec, steps: merged, fixed_len: fixed, min_len, useful })
    }

    /// Read one record at the start of `data`; returns the values and the bytes it took, or None
    /// if the record runs past the end (a variable-length field that lies, or padding).
    ///
    /// `v` is reused across the records of a set: a compiled template writes each value slot at
    /// most once per record (repeats were made skips), so only the addresses, which follow the
    /// "first one that is set" rule, and the variable-length strings need clearing.
    pub fn read(&self, data: &[u8], v: &mut Values) -> Option<usize> {
        v.src = None;
        v.dst = None;
        // Variable-length fields may be empty in one record and not the next: a range left from
        // the previous record must not survive (found by the fuzzer).
        v.if_name = None;
        v.if_desc = None;
        let mut at = 0usize;
        for s in &self.steps {
            let len = if s.len == VARLEN {
                let first = *data.get(at)?;
                at += 1;
                if first == 255 {
                    let l = u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]);
                    at += 2;
                    usize::from(l)
                } else {
                    usize::from(first)
                }
            } else {
                usize::from(s.len)
            };
            let b = data.get(at..at + len)?;
            if s.field != Field::Skip && len > 0 {
                v.set(s.field, b, at);
            }
            at += len;
        }
        Some(at)
    }
}

/// Which value a field writes; fields that share one (the start-time forms, say) share a slot.
fn value_slot(f: Field) -> Option<u8> {
    use Field::*;
    Some(match f {
        Skip => return None,
        SrcV4 | SrcV6 => 0,
        DstV4 | DstV6 => 1,
        NatSrcV4 | NatSrcV6 => 2,
        NatDstV4 | NatDstV6 => 3,
        StartUptime | StartSec | StartMs | StartUs | StartNs | StartDeltaUs => 4,
        EndUptime | EndSec | EndMs | EndUs | EndNs | EndDeltaUs => 5,
        other => 6 + other as u8,
    })
}

/// What one record said, before sampling and time conversion. Strings are byte ranges into the record.
#[derive(Clone, Copy, Debug, Default)]
pub struct Values {
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub bytes: Option<u64>,
    pub packets: Option<u64>,
    pub total_bytes: Option<u64>,
    pub total_packets: Option<u64>,
    pub post_bytes: Option<u64>,
    pub post_packets: Option<u64>,
    pub initiator_bytes: Option<u64>,
    pub responder_bytes: Option<u64>,
    pub initiator_packets: Option<u64>,
    pub responder_packets: Option<u64>,
    pub input_if: u32,
    pub output_if: u32,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub tcp_flags: u8,
    pub direction: Option<u8>,
    pub start: Option<(Field, u64)>,
    pub end: Option<(Field, u64)>,
    pub sampling_interval: Option<u64>,
    pub sampler_id: Option<u64>,
    pub sampler_random_interval: Option<u64>,
    pub selector_id: Option<u64>,
    pub sampling_packet_interval: Option<u64>,
    pub sampling_packet_space: Option<u64>,
    pub if_name: Option<(usize, usize)>,
    pub if_desc: Option<(usize, usize)>,
    pub scope_if: Option<u32>,
    pub nat_src: Option<IpAddr>,
    pub nat_dst: Option<IpAddr>,
    pub nat_src_port: u16,
    pub nat_dst_port: u16,
}

/// Big-endian unsigned integer of 1 to 8 bytes (reduced-size encoding); longer keeps the low 8.
fn uint(b: &[u8]) -> u64 {
    // The common widths directly; the loop is for reduced-size encodings such as 3 or 6 bytes.
    match *b {
        [x] => u64::from(x),
        [a, c] => u64::from(u16::from_be_bytes([a, c])),
        [a, c, d, e] => u64::from(u32::from_be_bytes([a, c, d, e])),
        [a, c, d, e, f, g, h, i] => u64::from_be_bytes([a, c, d, e, f, g, h, i]),
        _ => {
            let b = if b.len() > 8 { &b[b.len() - 8..] } else { b };
            b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x))
        }
    }
}

fn v4(b: &[u8]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
}

fn v6(b: &[u8]) -> IpAddr {
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    IpAddr::V6(Ipv6Addr::from(a))
}

impl Values {
    fn set(&mut self, f: Field, b: &[u8], at: usize) {
        use Field::*;
        fn address(slot: &mut Option<IpAddr>, v: IpAddr) {
            if slot.is_none_or(|a| a.is_unspecified() && !v.is_unspecified()) {
                *slot = Some(v);
            }
        }
        match f {
            Skip => {}
            // Templates that carry both IPv4 and IPv6 addresses leave the unused family zero:
            // the first address that is set wins, an all-zero one only when nothing else is set.
            SrcV4 => address(&mut self.src, v4(b)),
            DstV4 => address(&mut self.dst, v4(b)),
            SrcV6 => address(&mut self.src, v6(b)),
            DstV6 => address(&mut self.dst, v6(b)),
            NatSrcV4 => self.nat_src = Some(v4(b)),
            NatDstV4 => self.nat_dst = Some(v4(b)),
            NatSrcV6 => self.nat_src = Some(v6(b)),
            NatDstV6 => self.nat_dst = Some(v6(b)),
            Bytes => self.bytes = Some(uint(b)),
            Packets => self.packets = Some(uint(b)),
            TotalBytes => self.total_bytes = Some(uint(b)),
            TotalPackets => self.total_packets = Some(uint(b)),
            PostBytes => self.post_bytes = Some(uint(b)),
            PostPackets => self.post_packets = Some(uint(b)),
            InitiatorBytes => self.initiator_bytes = Some(uint(b)),
            ResponderBytes => self.responder_bytes = Some(uint(b)),
            InitiatorPackets => self.initiator_packets = Some(uint(b)),
            ResponderPackets => self.responder_packets = Some(uint(b)),
            InputIf => self.input_if = uint(b) as u32,
            OutputIf => self.output_if = uint(b) as u32,
            ScopeInterface => self.scope_if = Some(uint(b) as u32),
            Protocol => self.protocol = uint(b) as u8,
            SrcPort => self.src_port = uint(b) as u16,
            DstPort => self.dst_port = uint(b) as u16,
            NatSrcPort => self.nat_src_port = uint(b) as u16,
            NatDstPort => self.nat_dst_port = uint(b) as u16,
            TcpFlags => self.tcp_flags = uint(b) as u8,
            Direction => self.direction = Some(uint(b) as u8),
            StartUptime | StartSec | StartMs | StartUs | StartNs | StartDeltaUs => self.start = Some((f, uint(b))),
            EndUptime | EndSec | EndMs | EndUs | EndNs | EndDeltaUs => self.end = Some((f, uint(b))),
            SamplingInterval => self.sampling_interval = Some(uint(b)),
            SamplerId => self.sampler_id = Some(uint(b)),
            SamplerRandomInterval => self.sampler_random_interval = Some(uint(b)),
            SelectorId => self.selector_id = Some(uint(b)),
            SamplingPacketInterval => self.sampling_packet_interval = Some(uint(b)),
            SamplingPacketSpace => self.sampling_packet_space = Some(uint(b)),
            IfName => self.if_name = Some((at, at + b.len())),
            IfDesc => self.if_desc = Some((at, at + b.len())),
        }
    }

    /// The sampling rate an options (or data) record states, if any: v9 34/50, IPFIX 34, or
    /// 305/306 (RFC 5476: `interval` packets selected out of every `interval + space`). A rate of
    /// 0 or above [`MAX_SAMPLING_RATE`] is not believed: multiplying by it would wreck the totals.
    pub fn sampling_rate(&self) -> Option<u64> {
        let rate = match (self.sampling_packet_interval, self.sampling_packet_space) {
            (Some(i), Some(s)) if i > 0 => Some(i.saturating_add(s) / i),
            _ => self.sampling_interval.or(self.sampler_random_interval),
        };
        rate.filter(|r| (1..=MAX_SAMPLING_RATE).contains(r))
    }

    /// The sampler a record names (v9 48 / IPFIX 302).
    pub fn sampler(&self) -> Option<u64> {
        self.sampler_id.or(self.selector_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(fields: &[(u16, u16)]) -> TemplateSpec {
        TemplateSpec {
            id: 256,
            scope_fields: 0,
            options: false,
            fields: fields.iter().map(|&(i, l)| (i, l, 0)).collect(),
        }
    }

    #[test]
    fn compiles_and_reads_fixed_records() {
        // src 8/4, dst 12/4, bytes 1/8, packets 2/4, unknown 999/3, input 10/2
        let t = Template::compile(spec(&[(8, 4), (12, 4), (1, 8), (2, 4), (999, 3), (10, 2)]), 9, 64).unwrap();
        assert_eq!(t.fixed_len, Some(25));
        let rec = [10, 0, 0, 1, 10, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0xaa, 0xbb, 0xcc, 0, 3];
        let mut v = Values::default();
        assert_eq!(t.read(&rec, &mut v), Some(25));
        assert_eq!(v.src, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(v.bytes, Some(1 << 32));
        assert_eq!(v.packets, Some(7));
        assert_eq!(v.input_if, 3);
        assert_eq!(t.read(&rec[..24], &mut v), None);
    }

    #[test]
    fn wrong_length_addresses_are_skipped_and_skips_merge() {
        let t = Template::compile(spec(&[(8, 3), (500, 2), (501, 2)]), 9, 64).unwrap();
        assert!(!t.useful);
        assert_eq!(t.steps.len(), 1);
    }

    #[test]
    fn ipfix_variable_length_and_enterprise() {
        let s = TemplateSpec {
            id: 300,
            scope_fields: 0,
            options: false,
            fields: vec![(82, VARLEN, 0), (1, 4, 0), (1, 4, 9)],
        };
        let t = Template::compile(s, 10, 64).unwrap();
        assert_eq!(t.fixed_len, None);
        // name "eth0" (short form), bytes 100, enterprise field 1 (skipped)
        let rec = [4, b'e', b't', b'h', b'0', 0, 0, 0, 100, 0, 0, 0, 5];
        let mut v = Values::default();
        assert_eq!(t.read(&rec, &mut v), Some(13));
        assert_eq!(v.if_name, Some((1, 5)));
        assert_eq!(v.bytes, Some(100));
        // long form: 255 then a 2-byte length
        let mut long = vec![255, 0, 3, b'w', b'a', b'n'];
        long.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 0]);
        assert_eq!(t.read(&long, &mut v), Some(14));
        assert_eq!(v.if_name, Some((3, 6)));
        // a length that runs past the end
        assert_eq!(t.read(&[200, 1, 2], &mut v), None);
        // An empty name after a long one: no range is left over from the previous record.
        assert_eq!(t.read(&long, &mut v), Some(14));
        let empty = [0, 0, 0, 0, 7, 0, 0, 0, 0];
        assert_eq!(t.read(&empty, &mut v), Some(9));
        assert_eq!((v.if_name, v.bytes), (None, Some(7)));
    }

    #[test]
    fn rejects_bad_templates() {
        assert_eq!(Template::compile(spec(&[]), 9, 64).err(), Some(TemplateError::Invalid));
        // Only zero-length fields: no record length.
        assert_eq!(Template::compile(spec(&[(8, 0)]), 9, 64).err(), Some(TemplateError::Invalid));
        assert_eq!(Template::compile(spec(&[(8, 4), (12, 4)]), 9, 1).err(), Some(TemplateError::TooManyFields));
        // IPFIX: a template of only zero-length fields has no record length.
        assert_eq!(Template::compile(spec(&[(8, 0)]), 10, 64).err(), Some(TemplateError::Invalid));
    }

    #[test]
    fn sampling_from_options_values() {
        let v = Values { sampling_packet_interval: Some(1), sampling_packet_space: Some(99), ..Default::default() };
        assert_eq!(v.sampling_rate(), Some(100));
        let v = Values { sampler_random_interval: Some(512), ..Default::default() };
        assert_eq!(v.sampling_rate(), Some(512));
        assert_eq!(Values::default().sampling_rate(), None);
        // Found by the fuzzer: interval + space overflowed.
        let v =
            Values { sampling_packet_interval: Some(1), sampling_packet_space: Some(u64::MAX), ..Default::default() };
        assert_eq!(v.sampling_rate(), None);
        let v = Values { sampling_interval: Some(0), ..Default::default() };
        assert_eq!(v.sampling_rate(), None);
    }
}
