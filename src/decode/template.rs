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

/// How a fixed-length record is read: its integers grouped by width, each group a plain loop
/// with no per-field dispatch; a lone IPv4 source and destination read directly; the rest
/// (dual-stack addresses, post-NAT addresses, strings) in template order through
/// [`Values::set`]. Skipped fields are simply absent. Offsets are from the record's start.
#[derive(Clone, Debug, Default)]
struct Plan {
    int1: Vec<(u32, Int)>,
    int2: Vec<(u32, Int)>,
    int4: Vec<(u32, Int)>,
    int8: Vec<(u32, Int)>,
    /// Reduced-size integers of 3, 5, 6 or 7 bytes.
    int_n: Vec<(u32, u16, Int)>,
    src_v4: Option<u32>,
    dst_v4: Option<u32>,
    other: Vec<(u32, u16, Field)>,
}

/// A compiled template.
#[derive(Clone, Debug)]
pub struct Template {
    pub spec: TemplateSpec,
    steps: Vec<Step>,
    /// For fixed-length templates, the fields read and where they are.
    plan: Plan,
    /// The integer slots a record fills, and the flow time forms they hold (a compiled template
    /// has at most one field per slot).
    present: u32,
    start_form: Field,
    end_form: Field,
    /// Which byte and packet counts a flow takes, forward and reverse (see [`Counters`]).
    pub counters: Counters,
    /// The records carry a sampling rate or sampler id of their own (else the exporter's applies).
    pub samples: bool,
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

/// What a data set needs from its message header to turn times into Unix milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    /// v9 sysUptime, milliseconds.
    pub uptime_ms: u32,
    /// v9 unix_secs / IPFIX export time.
    pub export_secs: u32,
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
        let (mut start_form, mut end_form, mut present) = (Field::Skip, Field::Skip, 0u32);
        for (f, slot) in merged.iter().filter_map(|s| Some((s.field, int_slot(s.field)?))) {
            present |= slot.bit();
            match slot {
                Int::Start => start_form = f,
                Int::End => end_form = f,
                _ => {}
            }
        }
        let mut plan = Plan::default();
        if fixed.is_some() {
            let count = |fs: &[Field]| merged.iter().filter(|s| fs.contains(&s.field)).count();
            let one_src = count(&[Field::SrcV4, Field::SrcV6]) == 1;
            let one_dst = count(&[Field::DstV4, Field::DstV6]) == 1;
            let mut off = 0u32;
            for s in &merged {
                match (int_slot(s.field), s.len) {
                    _ if s.field == Field::Skip => {}
                    (Some(slot), 1) => plan.int1.push((off, slot)),
                    (Some(slot), 2) => plan.int2.push((off, slot)),
                    (Some(slot), 4) => plan.int4.push((off, slot)),
                    (Some(slot), 8) => plan.int8.push((off, slot)),
                    (Some(slot), len) => plan.int_n.push((off, len, slot)),
                    (None, _) if s.field == Field::SrcV4 && one_src => plan.src_v4 = Some(off),
                    (None, _) if s.field == Field::DstV4 && one_dst => plan.dst_v4 = Some(off),
                    (None, len) => plan.other.push((off, len, s.field)),
                }
                off += u32::from(s.len);
            }
        }
        Ok(Template {
            spec,
            steps: merged,
            plan,
            present,
            start_form,
            end_form,
            counters: Counters::choose(present),
            samples: present
                & (Int::SamplingInterval.bit()
                    | Int::SamplerRandomInterval.bit()
                    | Int::SamplingPacketInterval.bit()
                    | Int::SamplerId.bit()
                    | Int::SelectorId.bit())
                != 0,
            fixed_len: fixed,
            min_len,
            useful,
        })
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
        v.start_form = self.start_form;
        v.end_form = self.end_form;
        if v.present != self.present {
            // Values last held another template's record (or none): absent slots must read 0.
            v.ints = [0; INTS];
            v.present = self.present;
        }
        match self.fixed_len {
            Some(n) => Some(self.read_fixed(data.get(..n)?, v)),
            None => self.read_steps(data, v),
        }
    }

    /// A fixed-length record, `rec` exactly that long, through the plan.
    fn read_fixed(&self, rec: &[u8], v: &mut Values) -> usize {
        let p = &self.plan;
        let at = |off: u32, len: usize| &rec[off as usize..off as usize + len];
        for &(off, slot) in &p.int4 {
            v.ints[slot as usize] = u64::from(u32::from_be_bytes(at(off, 4).try_into().expect("4 bytes")));
        }
        for &(off, slot) in &p.int2 {
            v.ints[slot as usize] = u64::from(u16::from_be_bytes(at(off, 2).try_into().expect("2 bytes")));
        }
        for &(off, slot) in &p.int1 {
            v.ints[slot as usize] = u64::from(rec[off as usize]);
        }
        for &(off, slot) in &p.int8 {
            v.ints[slot as usize] = u64::from_be_bytes(at(off, 8).try_into().expect("8 bytes"));
        }
        for &(off, len, slot) in &p.int_n {
            v.ints[slot as usize] = uint(at(off, usize::from(len)));
        }
        if let Some(off) = p.src_v4 {
            v.src = Some(v4(at(off, 4)));
        }
        if let Some(off) = p.dst_v4 {
            v.dst = Some(v4(at(off, 4)));
        }
        for &(off, len, field) in &p.other {
            v.set(field, at(off, usize::from(len)), off as usize);
        }
        rec.len()
    }

    /// Any record, field by field (the only way for variable-length ones).
    fn read_steps(&self, data: &[u8], v: &mut Values) -> Option<usize> {
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

/// The byte and packet counts a template's flows take, in order of preference: delta (1/2), total
/// (85/86), post (23/24), then Cisco NSEL initiator/responder (231/298 forward, 232/299 reverse).
/// Which of them a template has is known when it is compiled, so the choice is made once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counters {
    pub bytes: Int,
    pub packets: Int,
    /// The reverse direction (NSEL responder counts), if the template reports one.
    pub reverse: Option<(Int, Int)>,
}

impl Counters {
    fn choose(present: u32) -> Counters {
        let has = |a: Int, b: Int| present & (a.bit() | b.bit()) != 0;
        let fwd = |bytes, packets| Counters { bytes, packets, reverse: None };
        if has(Int::Bytes, Int::Packets) {
            fwd(Int::Bytes, Int::Packets)
        } else if has(Int::TotalBytes, Int::TotalPackets) {
            fwd(Int::TotalBytes, Int::TotalPackets)
        } else if has(Int::PostBytes, Int::PostPackets) {
            fwd(Int::PostBytes, Int::PostPackets)
        } else {
            Counters {
                bytes: Int::InitiatorBytes,
                packets: Int::InitiatorPackets,
                reverse: Some((Int::ResponderBytes, Int::ResponderPackets)),
            }
        }
    }
}

/// Which value a field writes, for the one-field-per-value rule at compile time.
fn value_slot(f: Field) -> Option<u8> {
    use Field::*;
    match f {
        Skip => None,
        SrcV4 | SrcV6 => Some(100),
        DstV4 | DstV6 => Some(101),
        NatSrcV4 | NatSrcV6 => Some(102),
        NatDstV4 | NatDstV6 => Some(103),
        IfName => Some(104),
        IfDesc => Some(105),
        f => int_slot(f).map(|s| s as u8),
    }
}

/// The integer values a record can carry; each is a slot in [`Values`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Int {
    Bytes,
    Packets,
    TotalBytes,
    TotalPackets,
    PostBytes,
    PostPackets,
    InitiatorBytes,
    ResponderBytes,
    InitiatorPackets,
    ResponderPackets,
    InputIf,
    OutputIf,
    Protocol,
    SrcPort,
    DstPort,
    TcpFlags,
    Direction,
    /// Flow start and end in whichever form the template has ([`Values::start_form`]).
    Start,
    End,
    SamplingInterval,
    SamplerId,
    SamplerRandomInterval,
    SelectorId,
    SamplingPacketInterval,
    SamplingPacketSpace,
    ScopeIf,
    NatSrcPort,
    NatDstPort,
}

const INTS: usize = Int::NatDstPort as usize + 1;

impl Int {
    fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// The integer slot a field fills (`None` for addresses, strings and skips).
fn int_slot(f: Field) -> Option<Int> {
    use Field::*;
    Some(match f {
        Skip | SrcV4 | DstV4 | SrcV6 | DstV6 | NatSrcV4 | NatDstV4 | NatSrcV6 | NatDstV6 | IfName | IfDesc => {
            return None
        }
        Bytes => Int::Bytes,
        Packets => Int::Packets,
        TotalBytes => Int::TotalBytes,
        TotalPackets => Int::TotalPackets,
        PostBytes => Int::PostBytes,
        PostPackets => Int::PostPackets,
        InitiatorBytes => Int::InitiatorBytes,
        ResponderBytes => Int::ResponderBytes,
        InitiatorPackets => Int::InitiatorPackets,
        ResponderPackets => Int::ResponderPackets,
        InputIf => Int::InputIf,
        OutputIf => Int::OutputIf,
        ScopeInterface => Int::ScopeIf,
        Protocol => Int::Protocol,
        SrcPort => Int::SrcPort,
        DstPort => Int::DstPort,
        NatSrcPort => Int::NatSrcPort,
        NatDstPort => Int::NatDstPort,
        TcpFlags => Int::TcpFlags,
        Direction => Int::Direction,
        StartUptime | StartSec | StartMs | StartUs | StartNs | StartDeltaUs => Int::Start,
        EndUptime | EndSec | EndMs | EndUs | EndNs | EndDeltaUs => Int::End,
        SamplingInterval => Int::SamplingInterval,
        SamplerId => Int::SamplerId,
        SamplerRandomInterval => Int::SamplerRandomInterval,
        SelectorId => Int::SelectorId,
        SamplingPacketInterval => Int::SamplingPacketInterval,
        SamplingPacketSpace => Int::SamplingPacketSpace,
    })
}

/// What one record said, before sampling and time conversion. Integers sit in slots with a bit
/// each saying whether the template has them; strings are byte ranges into the record.
#[derive(Clone, Copy, Debug)]
pub struct Values {
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub nat_src: Option<IpAddr>,
    pub nat_dst: Option<IpAddr>,
    pub if_name: Option<(usize, usize)>,
    pub if_desc: Option<(usize, usize)>,
    ints: [u64; INTS],
    present: u32,
    /// The forms of [`Int::Start`] and [`Int::End`] (a `Field::Start*`/`End*`, or `Skip`).
    pub start_form: Field,
    pub end_form: Field,
}

impl Default for Values {
    fn default() -> Self {
        Values {
            src: None,
            dst: None,
            nat_src: None,
            nat_dst: None,
            if_name: None,
            if_desc: None,
            ints: [0; INTS],
            present: 0,
            start_form: Field::Skip,
            end_form: Field::Skip,
        }
    }
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
            IfName => self.if_name = Some((at, at + b.len())),
            IfDesc => self.if_desc = Some((at, at + b.len())),
            f => {
                if let Some(slot) = int_slot(f) {
                    self.put(slot, uint(b));
                }
            }
        }
    }

    /// Set an integer value.
    pub fn put(&mut self, slot: Int, x: u64) {
        self.ints[slot as usize] = x;
        self.present |= slot.bit();
    }

    /// An integer value, if the record has it.
    #[inline]
    pub fn get(&self, slot: Int) -> Option<u64> {
        (self.present & slot.bit() != 0).then_some(self.ints[slot as usize])
    }

    /// An integer value, 0 when absent.
    #[inline]
    pub fn int(&self, slot: Int) -> u64 {
        // Slots the template lacks are kept at 0 (see `Template::read`).
        self.ints[slot as usize]
    }

    /// The sampling rate an options (or data) record states, if any: v9 34/50, IPFIX 34, or
    /// 305/306 (RFC 5476: `interval` packets selected out of every `interval + space`). A rate of
    /// 0 or above [`MAX_SAMPLING_RATE`] is not believed: multiplying by it would wreck the totals.
    pub fn sampling_rate(&self) -> Option<u64> {
        let rate = match (self.get(Int::SamplingPacketInterval), self.get(Int::SamplingPacketSpace)) {
            (Some(i), Some(s)) if i > 0 => Some(i.saturating_add(s) / i),
            _ => self.get(Int::SamplingInterval).or(self.get(Int::SamplerRandomInterval)),
        };
        rate.filter(|r| (1..=MAX_SAMPLING_RATE).contains(r))
    }

    /// The sampler a record names (v9 48 / IPFIX 302).
    pub fn sampler(&self) -> Option<u64> {
        self.get(Int::SamplerId).or(self.get(Int::SelectorId))
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
        assert_eq!(v.get(Int::Bytes), Some(1 << 32));
        assert_eq!(v.get(Int::Packets), Some(7));
        assert_eq!(v.get(Int::InputIf), Some(3));
        assert_eq!(v.get(Int::OutputIf), None);
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
        assert_eq!(v.get(Int::Bytes), Some(100));
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
        assert_eq!((v.if_name, v.get(Int::Bytes)), (None, Some(7)));
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
        let with = |xs: &[(Int, u64)]| {
            let mut v = Values::default();
            for &(slot, x) in xs {
                v.put(slot, x);
            }
            v
        };
        let v = with(&[(Int::SamplingPacketInterval, 1), (Int::SamplingPacketSpace, 99)]);
        assert_eq!(v.sampling_rate(), Some(100));
        assert_eq!(with(&[(Int::SamplerRandomInterval, 512)]).sampling_rate(), Some(512));
        assert_eq!(Values::default().sampling_rate(), None);
        // Found by the fuzzer: interval + space overflowed.
        let v = with(&[(Int::SamplingPacketInterval, 1), (Int::SamplingPacketSpace, u64::MAX)]);
        assert_eq!(v.sampling_rate(), None);
        assert_eq!(with(&[(Int::SamplingInterval, 0)]).sampling_rate(), None);
    }

    #[test]
    fn plan_reads_what_the_field_walk_reads() {
        // Random fixed-length templates over the elements we read (every legal width, repeats,
        // dual-stack addresses, unknown elements) and random records: the compiled plan and the
        // field-by-field walk must agree on every value.
        let ids = [
            1u16, 2, 4, 6, 7, 8, 10, 11, 12, 14, 21, 22, 23, 24, 27, 28, 34, 48, 61, 82, 85, 86, 152, 153, 225, 231,
            232, 305, 306, 999,
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for round in 0..2000 {
            let nfields = 1 + rnd(14) as usize;
            let fields: Vec<(u16, u16)> = (0..nfields)
                .map(|_| {
                    let id = ids[rnd(ids.len() as u64) as usize];
                    let len = match id {
                        8 | 12 | 225 => 4,
                        27 | 28 => 16,
                        82 => 1 + rnd(8) as u16,
                        _ => 1 + rnd(8) as u16,
                    };
                    (id, len)
                })
                .collect();
            let t = Template::compile(spec(&fields), if round % 2 == 0 { 9 } else { 10 }, 64).unwrap();
            let n = t.fixed_len.unwrap();
            let rec: Vec<u8> = (0..n).map(|_| if rnd(4) == 0 { 0 } else { rnd(256) as u8 }).collect();
            let (mut a, mut b) = (Values::default(), Values::default());
            assert_eq!(t.read(&rec, &mut a), Some(n));
            (b.start_form, b.end_form) = (t.start_form, t.end_form);
            assert_eq!(t.read_steps(&rec, &mut b), Some(n));
            let show = |v: &Values| {
                format!(
                    "{:?} {:?} {:?} {:?} {:?} {:?} {:?}",
                    v.src, v.dst, v.nat_src, v.if_name, v.ints, v.start_form, v.end_form
                )
            };
            assert_eq!(show(&a), show(&b), "template {fields:?}");
            assert_eq!(a.present, t.present);
        }
    }

    #[test]
    fn fixed_and_variable_paths_read_alike() {
        // Every integer width, a time form, addresses: read once as a fixed template and once
        // with a variable-length field in front (the step-by-step path).
        let fields = [(8, 4), (27, 16), (1, 8), (2, 3), (4, 1), (7, 2), (10, 4), (152, 8), (153, 6), (999, 5)];
        let fixed = Template::compile(spec(&fields), 10, 64).unwrap();
        let mut with_var = vec![(82, VARLEN)];
        with_var.extend_from_slice(&fields);
        let var = Template::compile(spec(&with_var), 10, 64).unwrap();
        assert!(fixed.fixed_len.is_some() && var.fixed_len.is_none());
        let rec: Vec<u8> = (1..=fixed.fixed_len.unwrap() as u8).collect();
        let mut varrec = vec![0u8];
        varrec.extend_from_slice(&rec);
        let (mut a, mut b) = (Values::default(), Values::default());
        assert_eq!(fixed.read(&rec, &mut a), Some(rec.len()));
        assert_eq!(var.read(&varrec, &mut b), Some(varrec.len()));
        assert_eq!((a.src, a.dst), (b.src, b.dst));
        assert_eq!(a.present, b.present);
        assert_eq!(a.ints, b.ints);
        assert_eq!((a.start_form, a.end_form), (Field::StartMs, Field::EndMs));
        assert_eq!((b.start_form, b.end_form), (Field::StartMs, Field::EndMs));
        assert_eq!(a.get(Int::Packets), Some(0x1d_1e1f));
        assert_eq!(a.get(Int::Protocol), Some(0x20));
        assert_eq!(a.get(Int::End), Some(0x2f30_3132_3334));
    }
}
