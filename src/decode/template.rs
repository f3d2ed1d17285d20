//! Templates (NetFlow v9 and IPFIX) compiled into a plan: one step per field saying what it feeds
//! and how long it is. Reading a record walks the plan over the bytes into [`Values`]; a flow
//! record is then made from the values the template chose. Nothing is allocated per record.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::fields::{self, Addr, Dir, Edge, Family, Feed, Field, Form, Id, Kind, Unit, INTEGERS};
use super::FlowRecord;

/// The largest sampling rate taken from an exporter (1 in a million); the config allows the same.
pub const MAX_SAMPLING_RATE: u64 = 1_000_000;

/// IPFIX variable-length marker (RFC 7011 §7).
pub const VARLEN: u16 = 0xffff;

/// NTP era offset: seconds from 1900 to 1970 (RFC 7011 §6.1.10).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Value slots in [`Values`]: one per `Field` variant, though only integer elements use theirs,
/// so that indexing by a `Field` needs no bounds check.
const SLOTS: usize = Field::Skip as usize + 1;

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
    int1: Vec<(u32, Field)>,
    int2: Vec<(u32, Field)>,
    int4: Vec<(u32, Field)>,
    int8: Vec<(u32, Field)>,
    /// Reduced-size integers of 3, 5, 6 or 7 bytes.
    int_n: Vec<(u32, u16, Field)>,
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
    /// The integer elements a record carries (a compiled template has each at most once).
    present: u64,
    /// The flow's start and end: the template's first time element for each, and its form.
    start: Option<(Field, Form)>,
    end: Option<(Field, Form)>,
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
    /// A data record was read through it: only such templates are saved across a restart, and
    /// the others make way first when the exporter's templates are at their bound.
    pub used: bool,
    /// What it takes in memory, for collector.max_template_bytes_per_exporter.
    cost: usize,
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
        let mut seen: Vec<u16> = Vec::new();
        let mut fixed = Some(0usize);
        let mut min_len = 0usize;
        for (i, &(id, len, enterprise)) in spec.fields.iter().enumerate() {
            // 65535 is IPFIX's variable-length marker; H3C sends it in NetFlow v9 too, and no fixed
            // v9 field can be that long, so it means the same in both (only strings accept it).
            let varlen = len == VARLEN;
            let is_scope = spec.options && i < usize::from(spec.scope_fields);
            let key = if is_scope && version == 9 { Id::V9Scope(id) } else { Id::of(id, enterprise) };
            // A zero-length field carries nothing (IPFIX allows it; some v9 exporters send it too).
            let field = if len == 0 { Field::Skip } else { fields::lookup(key, len) };
            // When a template repeats an element, the first occurrence counts (as tshark and
            // nfdump read it): later ones become skips. Addresses are settled per record instead.
            let field = match value_key(field) {
                Some(k) if seen.contains(&k) => Field::Skip,
                Some(k) => {
                    seen.push(k);
                    field
                }
                None => field,
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
        let (mut start, mut end, mut present, mut samples) = (None, None, 0u64, false);
        for f in merged.iter().map(|s| s.field).filter(|f| f.slot().is_some()) {
            present |= f.bit();
            match f.feed() {
                Some(Feed::Time(Edge::Start, form)) => start = start.or(Some((f, form))),
                Some(Feed::Time(Edge::End, form)) => end = end.or(Some((f, form))),
                Some(Feed::Sampling) => samples = true,
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
                let f = s.field;
                match (f.slot(), s.len) {
                    _ if f == Field::Skip => {}
                    (Some(_), 1) => plan.int1.push((off, f)),
                    (Some(_), 2) => plan.int2.push((off, f)),
                    (Some(_), 4) => plan.int4.push((off, f)),
                    (Some(_), 8) => plan.int8.push((off, f)),
                    (Some(_), len) => plan.int_n.push((off, len, f)),
                    (None, _) if f == Field::SrcV4 && one_src => plan.src_v4 = Some(off),
                    (None, _) if f == Field::DstV4 && one_dst => plan.dst_v4 = Some(off),
                    (None, len) => plan.other.push((off, len, f)),
                }
                off += u32::from(s.len);
            }
        }
        // What a template from the wire makes flowpi keep: its allocations as the allocator
        // rounds them, and its slot in the exporter's map (a hash table about 60% full).
        let vecs = [
            spec.fields.len() * std::mem::size_of::<(u16, u16, u32)>(),
            merged.len() * std::mem::size_of::<Step>(),
            plan.int1.len() * std::mem::size_of::<(u32, Field)>(),
            plan.int2.len() * std::mem::size_of::<(u32, Field)>(),
            plan.int4.len() * std::mem::size_of::<(u32, Field)>(),
            plan.int8.len() * std::mem::size_of::<(u32, Field)>(),
            plan.int_n.len() * std::mem::size_of::<(u32, u16, Field)>(),
            plan.other.len() * std::mem::size_of::<(u32, u16, Field)>(),
        ];
        let cost =
            map_slot(std::mem::size_of::<(u16, Template)>()) + vecs.iter().map(|b| heap_block(*b)).sum::<usize>();
        Ok(Template {
            spec,
            steps: merged,
            plan,
            present,
            start,
            end,
            counters: Counters::choose(present),
            samples,
            fixed_len: fixed,
            min_len,
            useful,
            used: false,
            cost,
        })
    }

    /// Bytes of memory it takes (an estimate made when it was compiled).
    pub fn cost(&self) -> usize {
        self.cost
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
        if v.present != self.present {
            // Values last held another template's record: slots this one lacks must read 0. Only
            // slots with their bit set were ever written, so only those need clearing.
            let mut stale = v.present & !self.present;
            while stale != 0 {
                v.ints[stale.trailing_zeros() as usize] = 0;
                stale &= stale - 1;
            }
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
        for &(off, f) in &p.int4 {
            v.ints[f as usize] = u64::from(u32::from_be_bytes(at(off, 4).try_into().expect("4 bytes")));
        }
        for &(off, f) in &p.int2 {
            v.ints[f as usize] = u64::from(u16::from_be_bytes(at(off, 2).try_into().expect("2 bytes")));
        }
        for &(off, f) in &p.int1 {
            v.ints[f as usize] = u64::from(rec[off as usize]);
        }
        for &(off, f) in &p.int8 {
            v.ints[f as usize] = u64::from_be_bytes(at(off, 8).try_into().expect("8 bytes"));
        }
        for &(off, len, f) in &p.int_n {
            v.ints[f as usize] = uint(at(off, usize::from(len)));
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

    /// The flow record of a data record read through this template, counts multiplied by `rate`.
    #[inline]
    pub fn flow(&self, v: &Values, ctx: Ctx, rate: u64) -> FlowRecord {
        let c = self.counters;
        let n = |x: u64| x.saturating_mul(rate);
        let (rev_bytes, rev_packets) = c.reverse.map_or((0, 0), |(b, p)| (v.int(b), v.int(p)));
        let time = |t: Option<(Field, Form)>| t.map_or(0, |(f, form)| to_ms(form, v.int(f), ctx));
        let mut r = FlowRecord {
            src: v.src,
            dst: v.dst,
            bytes: n(v.int(c.bytes)),
            packets: n(v.int(c.packets)),
            rev_bytes: n(rev_bytes),
            rev_packets: n(rev_packets),
            start_ms: time(self.start),
            end_ms: time(self.end),
            export_ms: u64::from(ctx.export_secs) * 1000,
            nat_src: v.nat_src,
            nat_dst: v.nat_dst,
            sampling: rate.min(u64::from(u32::MAX)) as u32,
            ..FlowRecord::default()
        };
        fields::copy_to_record(&mut r, |f| v.int(f), |f| v.get(f));
        r
    }
}

/// The byte and packet counts a template's flows take: the first kind of count ([`Kind`]: delta,
/// total, post, NSEL initiator) whose forward bytes or packets the template has, and the reverse
/// counts of that same kind (RFC 5103 reverse elements, NSEL responder counts) if it has them.
/// Which of them a template has is known when it is compiled, so the choice is made once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counters {
    pub bytes: Field,
    pub packets: Field,
    /// The reverse direction, if the template reports one.
    pub reverse: Option<(Field, Field)>,
}

impl Counters {
    fn choose(present: u64) -> Counters {
        let find = |dir, unit, kind| INTEGERS.iter().copied().find(|f| f.feed() == Some(Feed::Count(dir, unit, kind)));
        let has = |f: Option<Field>| f.is_some_and(|f| present & f.bit() != 0);
        let kind = Kind::ALL
            .into_iter()
            .find(|&k| has(find(Dir::Forward, Unit::Octets, k)) || has(find(Dir::Forward, Unit::Packets, k)))
            .unwrap_or(Kind::Nsel);
        // Every kind has both forward counts (a test of the table says so).
        let forward = |unit| find(Dir::Forward, unit, kind).unwrap_or(Field::Skip);
        let (rb, rp) = (find(Dir::Reverse, Unit::Octets, kind), find(Dir::Reverse, Unit::Packets, kind));
        let reverse = match (rb, rp) {
            (Some(b), Some(p)) if has(rb) || has(rp) => Some((b, p)),
            _ => None,
        };
        Counters { bytes: forward(Unit::Octets), packets: forward(Unit::Packets), reverse }
    }
}

/// What a field writes, for the one-field-per-value rule at compile time (`None`: no rule).
fn value_key(f: Field) -> Option<u16> {
    match f.addr() {
        // Source and destination are settled per record (see `Values::set`).
        Some((Addr::Src | Addr::Dst, _)) => None,
        // IPv4 and IPv6 post-NAT addresses fill one value.
        Some((a, _)) => Some(0x100 + a as u16),
        None => (f != Field::Skip).then_some(f as u16),
    }
}

/// What one record said, before sampling and time conversion. Integers sit in slots (by `Field`)
/// with a bit each saying whether the template has them; strings are byte ranges into the record.
#[derive(Clone, Copy, Debug)]
pub struct Values {
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub nat_src: Option<IpAddr>,
    pub nat_dst: Option<IpAddr>,
    pub if_name: Option<(usize, usize)>,
    pub if_desc: Option<(usize, usize)>,
    ints: [u64; SLOTS],
    present: u64,
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
            ints: [0; SLOTS],
            present: 0,
        }
    }
}

impl Values {
    /// Store one field's bytes; `at` is where they start in the record (for strings).
    fn set(&mut self, f: Field, b: &[u8], at: usize) {
        fn address(slot: &mut Option<IpAddr>, v: IpAddr) {
            if slot.is_none_or(|a| a.is_unspecified() && !v.is_unspecified()) {
                *slot = Some(v);
            }
        }
        if f.slot().is_some() {
            self.put(f, uint(b));
        } else if let Some((dest, family)) = f.addr() {
            let a = match family {
                Family::V4 => v4(b),
                Family::V6 => v6(b),
            };
            match dest {
                // Templates that carry both IPv4 and IPv6 addresses leave the unused family zero:
                // the first address that is set wins, an all-zero one only when nothing else is set.
                Addr::Src => address(&mut self.src, a),
                Addr::Dst => address(&mut self.dst, a),
                Addr::NatSrc => self.nat_src = Some(a),
                Addr::NatDst => self.nat_dst = Some(a),
            }
        } else if f == Field::IfName {
            self.if_name = Some((at, at + b.len()));
        } else if f == Field::IfDesc {
            self.if_desc = Some((at, at + b.len()));
        }
    }

    /// Set an integer value.
    pub fn put(&mut self, f: Field, x: u64) {
        if f.slot().is_some() {
            self.ints[f as usize] = x;
            self.present |= f.bit();
        }
    }

    /// An integer value, if the record has it.
    #[inline]
    pub fn get(&self, f: Field) -> Option<u64> {
        (f.slot().is_some() && self.present & f.bit() != 0).then_some(self.ints[f as usize])
    }

    /// An integer value, 0 when absent.
    #[inline]
    pub fn int(&self, f: Field) -> u64 {
        // Slots the template lacks are kept at 0 (see `Template::read`), and those of fields
        // that are not integers are never written.
        self.ints[f as usize]
    }

    /// The sampling rate an options (or data) record states, if any: v9 34/50, IPFIX 34, or
    /// 305/306 (RFC 5476: `interval` packets selected out of every `interval + space`). A rate of
    /// 0 or above [`MAX_SAMPLING_RATE`] is not believed: multiplying by it would wreck the totals.
    pub fn sampling_rate(&self) -> Option<u64> {
        let rate = match (self.get(Field::SamplingPacketInterval), self.get(Field::SamplingPacketSpace)) {
            (Some(i), Some(s)) if i > 0 => Some(i.saturating_add(s) / i),
            _ => self.get(Field::SamplingInterval).or(self.get(Field::SamplerRandomInterval)),
        };
        rate.filter(|r| (1..=MAX_SAMPLING_RATE).contains(r))
    }

    /// The sampler a record names (v9 48 / IPFIX 302).
    pub fn sampler(&self) -> Option<u64> {
        self.get(Field::SamplerId).or(self.get(Field::SelectorId))
    }
}

/// What an allocation of `n` bytes takes from the heap: glibc adds an 8-byte header and rounds
/// to 16, 32 at least; nothing for an empty Vec.
pub fn heap_block(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (n + 8).div_ceil(16).max(2) * 16
    }
}

/// What an entry of `n` bytes takes in a hash map: the entry and its control byte, in a table
/// between 44% and 87% full (the capacity doubles), so about 60% on average.
pub fn map_slot(n: usize) -> usize {
    (n + 1) * 5 / 3
}

/// A flow time to Unix milliseconds (0 when it cannot be placed, saturating when absurd).
fn to_ms(form: Form, x: u64, ctx: Ctx) -> u64 {
    // Export time in ms fits easily in i64 (u32 seconds x 1000); so does everything it meets.
    let export_ms = i64::from(ctx.export_secs) * 1000;
    let from_i64 = |ms: i64| ms.max(0) as u64;
    match form {
        // sysUptime-relative (v9): the exporter booted at export time minus its uptime.
        Form::Uptime => from_i64(export_ms - i64::from(ctx.uptime_ms) + i64::from(x as u32)),
        Form::Sec => x.saturating_mul(1000),
        Form::Ms => x,
        Form::NtpUs | Form::NtpNs => {
            // NTP timestamp: seconds since 1900 in the high 32 bits, a binary fraction below.
            let secs = (x >> 32).saturating_sub(NTP_UNIX_OFFSET);
            secs * 1000 + (((x & 0xffff_ffff) * 1000) >> 32)
        }
        Form::DeltaUs => from_i64(export_ms - (x / 1000).min(i64::MAX as u64) as i64),
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
        assert_eq!(v.get(Field::Bytes), Some(1 << 32));
        assert_eq!(v.get(Field::Packets), Some(7));
        assert_eq!(v.get(Field::InputIf), Some(3));
        assert_eq!(v.get(Field::OutputIf), None);
        assert_eq!(t.read(&rec[..24], &mut v), None);
    }

    #[test]
    fn values_reused_for_another_template_read_its_absent_fields_as_zero() {
        // input 10/2, bytes 1/4, then a template of bytes 1/4 and packets 2/4 into the same values.
        let a = Template::compile(spec(&[(10, 2), (1, 4)]), 10, 64).unwrap();
        let b = Template::compile(spec(&[(1, 4), (2, 4)]), 10, 64).unwrap();
        let mut v = Values::default();
        assert_eq!(a.read(&[0, 7, 0, 0, 0, 9], &mut v), Some(6));
        assert_eq!(b.read(&[0, 0, 0, 5, 0, 0, 0, 1], &mut v), Some(8));
        assert_eq!((v.get(Field::InputIf), v.int(Field::InputIf)), (None, 0));
        assert_eq!((v.int(Field::Bytes), v.int(Field::Packets)), (5, 1));
        assert_eq!(a.read(&[0, 7, 0, 0, 0, 9], &mut v), Some(6));
        assert_eq!((v.get(Field::Packets), v.int(Field::Packets)), (None, 0));
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
        assert_eq!(v.get(Field::Bytes), Some(100));
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
        assert_eq!((v.if_name, v.get(Field::Bytes)), (None, Some(7)));
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
        let with = |xs: &[(Field, u64)]| {
            let mut v = Values::default();
            for &(slot, x) in xs {
                v.put(slot, x);
            }
            v
        };
        let v = with(&[(Field::SamplingPacketInterval, 1), (Field::SamplingPacketSpace, 99)]);
        assert_eq!(v.sampling_rate(), Some(100));
        assert_eq!(with(&[(Field::SamplerRandomInterval, 512)]).sampling_rate(), Some(512));
        assert_eq!(Values::default().sampling_rate(), None);
        // Found by the fuzzer: interval + space overflowed.
        let v = with(&[(Field::SamplingPacketInterval, 1), (Field::SamplingPacketSpace, u64::MAX)]);
        assert_eq!(v.sampling_rate(), None);
        assert_eq!(with(&[(Field::SamplingInterval, 0)]).sampling_rate(), None);
    }

    #[test]
    fn plan_reads_what_the_field_walk_reads() {
        // Random fixed-length templates over the elements we read (every legal width, repeats,
        // dual-stack addresses, unknown elements) and random records: the compiled plan and the
        // field-by-field walk must agree on every value.
        let mut ids: Vec<(u16, u32)> = [
            1u16, 2, 4, 6, 7, 8, 10, 11, 12, 14, 21, 22, 23, 24, 27, 28, 34, 48, 61, 82, 85, 86, 152, 153, 225, 231,
            232, 305, 306, 999,
        ]
        .iter()
        .map(|&id| (id, 0))
        .collect();
        // RFC 5103 reverse counts, a reverse element we do not read, another enterprise's 1.
        ids.extend([(1, 29305), (2, 29305), (85, 29305), (86, 29305), (5, 29305), (1, 9)]);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for round in 0..2000 {
            let nfields = 1 + rnd(14) as usize;
            let fields: Vec<(u16, u16, u32)> = (0..nfields)
                .map(|_| {
                    let (id, pen) = ids[rnd(ids.len() as u64) as usize];
                    let len = match (id, pen) {
                        (8 | 12 | 225, 0) => 4,
                        (27 | 28, 0) => 16,
                        _ => 1 + rnd(8) as u16,
                    };
                    (id, len, pen)
                })
                .collect();
            let spec = TemplateSpec { id: 256, scope_fields: 0, options: false, fields: fields.clone() };
            let t = Template::compile(spec, if round % 2 == 0 { 9 } else { 10 }, 64).unwrap();
            let n = t.fixed_len.unwrap();
            let rec: Vec<u8> = (0..n).map(|_| if rnd(4) == 0 { 0 } else { rnd(256) as u8 }).collect();
            let (mut a, mut b) = (Values::default(), Values::default());
            assert_eq!(t.read(&rec, &mut a), Some(n));
            assert_eq!(t.read_steps(&rec, &mut b), Some(n));
            let show = |v: &Values| format!("{:?} {:?} {:?} {:?} {:?}", v.src, v.dst, v.nat_src, v.if_name, v.ints);
            assert_eq!(show(&a), show(&b), "template {fields:?}");
            assert_eq!(a.present, t.present);
            let ctx = Ctx { uptime_ms: 60_000, export_secs: 1_700_000_000 };
            assert_eq!(t.flow(&a, ctx, 3), t.flow(&b, ctx, 3), "template {fields:?}");
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
        assert_eq!((fixed.start, fixed.end), (Some((Field::StartMs, Form::Ms)), Some((Field::EndMs, Form::Ms))));
        assert_eq!((var.start, var.end), (fixed.start, fixed.end));
        assert_eq!(a.get(Field::Packets), Some(0x1d_1e1f));
        assert_eq!(a.get(Field::Protocol), Some(0x20));
        assert_eq!(a.get(Field::EndMs), Some(0x2f30_3132_3334));
    }
}
