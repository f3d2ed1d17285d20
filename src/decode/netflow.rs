//! NetFlow v9 (RFC 3954) and IPFIX (RFC 7011): message header, the walk over sets, templates and
//! options templates (with IPFIX withdrawal), data sets read through compiled templates, options
//! data (sampling rates, interface names), and data held until its template arrives.

use std::net::IpAddr;
use std::time::Instant;

use super::exporter::{Decoder, ExporterKey, Pending, SeqUnit, TemplateFate};
use super::fields::Field;
use super::template::{Counters, Int, TemplateSpec, Values};
use super::{be16, be32, DecodeError, Decoded, FlowRecord};
use crate::stats;

/// What a data set needs from its message header to turn times into Unix milliseconds.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ctx {
    /// v9 sysUptime, milliseconds.
    pub uptime_ms: u32,
    /// v9 unix_secs / IPFIX export time.
    pub export_secs: u32,
}

const V9_HEADER: usize = 20;
const IPFIX_HEADER: usize = 16;
/// NTP era offset: seconds from 1900 to 1970 (RFC 7011 §6.1.10).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

pub(super) fn decode(
    d: &mut Decoder,
    from: IpAddr,
    version: u16,
    data: &[u8],
    now: Instant,
    sink: &mut impl FnMut(&FlowRecord),
) -> Result<Decoded, DecodeError> {
    let (hdr, end) = if version == 9 {
        if data.len() < V9_HEADER {
            return Err(DecodeError::Short);
        }
        (V9_HEADER, data.len())
    } else {
        if data.len() < IPFIX_HEADER {
            return Err(DecodeError::Short);
        }
        let len = usize::from(be16(data, 2));
        if len < IPFIX_HEADER {
            return Err(DecodeError::BadSet);
        }
        if len > data.len() {
            return Err(DecodeError::Truncated);
        }
        (IPFIX_HEADER, len)
    };
    let (ctx, seq, domain) = if version == 9 {
        (Ctx { uptime_ms: be32(data, 4), export_secs: be32(data, 8) }, be32(data, 12), be32(data, 16))
    } else {
        (Ctx { uptime_ms: 0, export_secs: be32(data, 4) }, be32(data, 8), be32(data, 12))
    };
    let key = ExporterKey { addr: from, version, domain };
    if d.exporter(key, now).is_none() {
        // A new domain past collector.max_domains_per_exporter, or a table of live routers: the
        // datagram cannot be decoded without state, and the state is what is refused.
        stats::inc(&d.stats.denied_domain_limit);
        return Ok(Decoded { version, records: 0, error: None });
    }
    let mut out = Outcome::default();
    let mut at = hdr;
    let mut error = None;
    while at + 4 <= end {
        let set_id = be16(data, at);
        let len = usize::from(be16(data, at + 2));
        if len == 0 && data[at..end].iter().all(|b| *b == 0) {
            // Zeros to the end: some exporters (Palo Alto, Cisco ACI) pad the datagram.
            break;
        }
        if len < 4 || at + len > end {
            // The sets before this one were whole and are kept; the rest cannot be located.
            error = Some(DecodeError::BadSet);
            out.unknown_records = true;
            break;
        }
        let body = &data[at + 4..at + len];
        match (version, set_id) {
            (9, 0) | (10, 2) => templates(d, key, body, false, now, sink, &mut out),
            (9, 1) | (10, 3) => templates(d, key, body, true, now, sink, &mut out),
            (_, id) if id >= 256 => data_set(d, key, id, ctx, body, now, sink, &mut out),
            _ => stats::inc(&d.stats.unknown_sets),
        }
        at += len;
    }
    if let Some(e) = d.exporters.get_mut(&key) {
        e.datagrams += 1;
        e.records += out.flows as u64;
    }
    if out.unknown_records {
        d.sequence_unknown(key);
    } else if version == 9 {
        // v9 counts export packets (RFC 3954 §5.1).
        d.sequence(key, seq, 1, SeqUnit::Datagrams);
    } else {
        // IPFIX counts data records, options data included (RFC 7011 §3.1).
        d.sequence(key, seq, out.data_records as u32, SeqUnit::Records);
    }
    Ok(Decoded { version, records: out.flows, error })
}

#[derive(Default)]
struct Outcome {
    /// Flow records emitted.
    flows: usize,
    /// Data records of any kind read in this message's own sets.
    data_records: usize,
    /// A set could not be read (no template yet): its record count is unknown.
    unknown_records: bool,
}

#[allow(clippy::too_many_arguments)]
fn templates(
    d: &mut Decoder,
    key: ExporterKey,
    body: &[u8],
    options: bool,
    now: Instant,
    sink: &mut impl FnMut(&FlowRecord),
    out: &mut Outcome,
) {
    let v9 = key.version == 9;
    let mut at = 0usize;
    // Each record: id, then v9 (count) or (scope length, options length) in bytes; IPFIX (count)
    // or (count, scope count) in fields. Fewer than 4 bytes left is padding.
    while at + 4 <= body.len() {
        let id = be16(body, at);
        let (nfields, nscope, mut p) = if !options {
            (usize::from(be16(body, at + 2)), 0usize, at + 4)
        } else if v9 {
            if at + 6 > body.len() {
                break;
            }
            let scope_len = usize::from(be16(body, at + 2));
            let opt_len = usize::from(be16(body, at + 4));
            ((scope_len + opt_len) / 4, scope_len / 4, at + 6)
        } else {
            let n = usize::from(be16(body, at + 2));
            if n == 0 {
                (0, 0, at + 4)
            } else {
                if at + 6 > body.len() {
                    stats::inc(&d.stats.template_errors);
                    return;
                }
                (n, usize::from(be16(body, at + 4)), at + 6)
            }
        };
        if nfields == 0 {
            if v9 {
                // v9 has no withdrawal: a zero count here is padding.
                break;
            }
            withdraw(d, key, id, options);
            at = p;
            continue;
        }
        if id < 256 || nfields > d.limits.max_fields_per_template.max(1) * 4 {
            stats::inc(&d.stats.template_errors);
            return;
        }
        let mut fields = Vec::with_capacity(nfields);
        for _ in 0..nfields {
            if p + 4 > body.len() {
                stats::inc(&d.stats.template_errors);
                return;
            }
            let raw = be16(body, p);
            let len = be16(body, p + 2);
            p += 4;
            let (fid, ent) = if !v9 && raw & 0x8000 != 0 {
                if p + 4 > body.len() {
                    stats::inc(&d.stats.template_errors);
                    return;
                }
                let e = be32(body, p);
                p += 4;
                (raw & 0x7fff, e)
            } else {
                (raw, 0)
            };
            fields.push((fid, len, ent));
        }
        if v9 && options {
            // v9 options: scope length and option length are bytes and the set may be padded
            // after the record (RFC 3954 §6.1).
            p = p.min(body.len());
        }
        at = p;
        let spec = TemplateSpec { id, scope_fields: nscope as u16, options, fields };
        add_template(d, key, spec, now, sink, out);
    }
}

fn withdraw(d: &mut Decoder, key: ExporterKey, id: u16, options: bool) {
    let stats = d.stats.clone();
    let Some(e) = d.exporters.get_mut(&key) else { return };
    let before = e.templates.len();
    if id == 2 || id == 3 {
        // Withdraw all (data or options) templates (RFC 7011 §8.1).
        e.templates.retain(|_, t| t.spec.options != options);
    } else {
        e.templates.remove(&id);
    }
    let gone = before - e.templates.len();
    if gone > 0 {
        stats::add(&stats.templates_withdrawn, gone as u64);
        d.mark_dirty();
    }
}

fn add_template(
    d: &mut Decoder,
    key: ExporterKey,
    spec: TemplateSpec,
    now: Instant,
    sink: &mut impl FnMut(&FlowRecord),
    out: &mut Outcome,
) {
    let id = spec.id;
    let Some(e) = d.exporters.get_mut(&key) else { return };
    let fate = Decoder::put_template(e, spec, key.version, &d.limits);
    stats::inc(match fate {
        TemplateFate::Refreshed => &d.stats.template_refreshes,
        TemplateFate::Invalid => &d.stats.template_errors,
        TemplateFate::TableFull => &d.stats.template_limit_drops,
        TemplateFate::Stored => &d.stats.templates_received,
    });
    if fate != TemplateFate::Stored {
        return;
    }
    d.mark_dirty();
    // Decode what waited for this template, oldest first.
    for p in d.take_held(key, id) {
        stats::inc(&d.stats.pending_decoded);
        let mut o = Outcome::default();
        data_set(d, key, id, p.ctx, &p.data, now, sink, &mut o);
        out.flows += o.flows;
    }
}

#[allow(clippy::too_many_arguments)]
fn data_set(
    d: &mut Decoder,
    key: ExporterKey,
    id: u16,
    ctx: Ctx,
    body: &[u8],
    now: Instant,
    sink: &mut impl FnMut(&FlowRecord),
    out: &mut Outcome,
) {
    let override_rate = d.override_rate(key.addr);
    let stats = d.stats.clone();
    let Some(e) = d.exporters.get_mut(&key) else { return };
    let Some(t) = e.templates.get(&id) else {
        // Not received yet (a restart of the router or of a collector without saved state):
        // hold the set a while. This is routine, not an error.
        out.unknown_records = true;
        stats::inc(&stats.missing_template_sets);
        d.hold(Pending { key, template_id: id, ctx, data: body.to_vec(), at: now });
        return;
    };
    let options = t.spec.options;
    // The rate for records that name no sampler and state no rate of their own (or all records,
    // when the config sets one).
    let set_rate = override_rate.or(e.default_sampling).unwrap_or(1).max(1);
    let mut v = Values::default();
    let mut at = 0usize;
    let mut changed = false;
    // Records until what is left is shorter than the shortest record: that is padding.
    while body.len() - at >= t.min_len {
        let Some(n) = t.read(&body[at..], &mut v) else {
            stats::inc(&stats.malformed_records);
            break;
        };
        let rec = &body[at..at + n];
        at += n;
        out.data_records += 1;
        if !t.useful {
            // Nothing we read (counted for the IPFIX sequence only): known, deliberately skipped.
            continue;
        }
        if options {
            stats::inc(&stats.options_records);
            if let Some(rate) = v.sampling_rate() {
                changed |= Decoder::set_sampling(&mut e.samplers, &mut e.default_sampling, v.sampler(), rate);
            }
            let input_if = v.int(Int::InputIf) as u32;
            let ifindex = v.get(Int::ScopeIf).map(|i| i as u32).or((input_if != 0).then_some(input_if));
            if let Some(i) = ifindex {
                if let Some((a, b)) = v.if_name.or(v.if_desc) {
                    changed |= Decoder::set_if_name(&mut e.if_names, i, &rec[a..b]);
                }
            }
            continue;
        }
        // Sampling: the config's override, the record's own, its sampler's, the exporter's default.
        let rate = match override_rate {
            None if t.samples => v
                .sampling_rate()
                .or_else(|| v.sampler().and_then(|s| e.samplers.get(&s).copied()))
                .map_or(set_rate, |r| r.max(1)),
            _ => set_rate,
        };
        let rec = flow(&v, t.counters, ctx, rate);
        out.flows += 1;
        sink(&rec);
    }
    if changed {
        d.mark_dirty();
    }
}

fn flow(v: &Values, c: Counters, ctx: Ctx, rate: u64) -> FlowRecord {
    let (bytes, packets) = (v.int(c.bytes), v.int(c.packets));
    let (rev_bytes, rev_packets) = c.reverse.map_or((0, 0), |(b, p)| (v.int(b), v.int(p)));
    let n = |x: u64| x.saturating_mul(rate);
    FlowRecord {
        src: v.src,
        dst: v.dst,
        bytes: n(bytes),
        packets: n(packets),
        rev_bytes: n(rev_bytes),
        rev_packets: n(rev_packets),
        input_if: v.int(Int::InputIf) as u32,
        output_if: v.int(Int::OutputIf) as u32,
        protocol: v.int(Int::Protocol) as u8,
        src_port: v.int(Int::SrcPort) as u16,
        dst_port: v.int(Int::DstPort) as u16,
        tcp_flags: v.int(Int::TcpFlags) as u8,
        direction: v.get(Int::Direction).map(|d| d as u8),
        start_ms: v.get(Int::Start).map_or(0, |x| to_ms((v.start_form, x), ctx)),
        end_ms: v.get(Int::End).map_or(0, |x| to_ms((v.end_form, x), ctx)),
        export_ms: u64::from(ctx.export_secs) * 1000,
        nat_src: v.nat_src,
        nat_dst: v.nat_dst,
        nat_src_port: v.int(Int::NatSrcPort) as u16,
        nat_dst_port: v.int(Int::NatDstPort) as u16,
        sampling: rate.min(u64::from(u32::MAX)) as u32,
    }
}

/// A flow time field to Unix milliseconds (0 when it cannot be placed, saturating when absurd).
fn to_ms((f, x): (Field, u64), ctx: Ctx) -> u64 {
    // Export time in ms fits easily in i64 (u32 seconds x 1000); so does everything it meets.
    let export_ms = i64::from(ctx.export_secs) * 1000;
    let from_i64 = |ms: i64| ms.max(0) as u64;
    match f {
        // sysUptime-relative (v9): the exporter booted at export time minus its uptime.
        Field::StartUptime | Field::EndUptime => from_i64(export_ms - i64::from(ctx.uptime_ms) + i64::from(x as u32)),
        Field::StartSec | Field::EndSec => x.saturating_mul(1000),
        Field::StartMs | Field::EndMs => x,
        Field::StartUs | Field::EndUs | Field::StartNs | Field::EndNs => {
            // NTP timestamp: seconds since 1900 in the high 32 bits, a binary fraction below.
            let secs = (x >> 32).saturating_sub(NTP_UNIX_OFFSET);
            secs * 1000 + (((x & 0xffff_ffff) * 1000) >> 32)
        }
        Field::StartDeltaUs | Field::EndDeltaUs => from_i64(export_ms - (x / 1000).min(i64::MAX as u64) as i64),
        _ => 0,
    }
}

#[cfg(test)]
pub(super) mod tests {
    //! Hand-built v9 and IPFIX datagrams (each field annotated), shared with the exporter tests.

    use std::collections::HashMap;
    use std::net::IpAddr;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use crate::decode::{Decoder, FlowRecord, Limits};
    use crate::stats::{self, Stats};

    /// A NetFlow v9 datagram: header (version 9, count, sysUptime, unix secs, sequence, source
    /// id) followed by the given flowsets.
    pub(in crate::decode) fn v9(seq: u32, source_id: u32, sets: &[Vec<u8>]) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend(9u16.to_be_bytes()); // version
        d.extend((sets.len() as u16).to_be_bytes()); // count
        d.extend(60_000u32.to_be_bytes()); // sysUptime, ms
        d.extend(1_700_000_000u32.to_be_bytes()); // unix secs
        d.extend(seq.to_be_bytes()); // package sequence
        d.extend(source_id.to_be_bytes()); // source id
        for s in sets {
            d.extend(s);
        }
        d
    }

    /// An IPFIX message: header (version 10, length, export time, sequence, domain) and sets.
    pub(in crate::decode) fn ipfix(seq: u32, domain: u32, sets: &[Vec<u8>]) -> Vec<u8> {
        let body = sets.concat();
        let mut d = Vec::new();
        d.extend(10u16.to_be_bytes()); // version
        d.extend((16 + body.len() as u16).to_be_bytes()); // message length
        d.extend(1_700_000_000u32.to_be_bytes()); // export time
        d.extend(seq.to_be_bytes()); // sequence
        d.extend(domain.to_be_bytes()); // observation domain
        d.extend(body);
        d
    }

    /// A set: id, length, contents.
    pub(in crate::decode) fn set(id: u16, body: &[u8]) -> Vec<u8> {
        let mut s = Vec::new();
        s.extend(id.to_be_bytes());
        s.extend((4 + body.len() as u16).to_be_bytes());
        s.extend(body);
        s
    }

    /// A template record: id, field count, then (type, length) pairs.
    pub(in crate::decode) fn template(id: u16, fields: &[(u16, u16)]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend(id.to_be_bytes());
        t.extend((fields.len() as u16).to_be_bytes());
        for (ty, len) in fields {
            t.extend(ty.to_be_bytes());
            t.extend(len.to_be_bytes());
        }
        t
    }

    /// Data template fields: IPv4 src (8/4), dst (12/4), bytes (1/4), packets (2/4).
    pub(in crate::decode) const FLOW: &[(u16, u16)] = &[(8, 4), (12, 4), (1, 4), (2, 4)];

    /// One 16-byte record of [`FLOW`]: 192.168.1.`host` to 8.8.8.8, `bytes` bytes in 1 packet.
    pub(in crate::decode) fn flow(host: u8, bytes: u32) -> Vec<u8> {
        let mut r = vec![192, 168, 1, host, 8, 8, 8, 8]; // src, dst
        r.extend(bytes.to_be_bytes()); // octets
        r.extend(1u32.to_be_bytes()); // packets
        r
    }

    pub(in crate::decode) struct Harness {
        pub dec: Decoder,
        pub stats: Arc<Stats>,
        pub t: Instant,
    }

    impl Harness {
        pub fn new(limits: Limits) -> Harness {
            let stats = Arc::new(Stats::default());
            Harness { dec: Decoder::new(limits, HashMap::new(), stats.clone()), stats, t: Instant::now() }
        }

        /// Decode one datagram from `from`; the bytes of the records it gave.
        pub fn feed(&mut self, from: &str, d: &[u8]) -> u64 {
            let from: IpAddr = from.parse().unwrap();
            let mut bytes = 0;
            self.dec.decode(from, d, self.t, &mut |r: &FlowRecord| bytes += r.bytes).unwrap();
            bytes
        }

        pub fn get(&self, c: impl Fn(&Stats) -> &std::sync::atomic::AtomicU64) -> u64 {
            stats::get(c(&self.stats))
        }
    }

    const ROUTER: &str = "192.0.2.1";
    const FLOODER: &str = "192.0.2.66";

    #[test]
    fn a_flood_of_domains_takes_nothing_from_a_router() {
        let mut h = Harness::new(Limits::default());
        let tmpl = set(2, &template(256, FLOW));
        let mut want = 0;
        let mut got = h.feed(ROUTER, &ipfix(0, 1, std::slice::from_ref(&tmpl)));
        for round in 0..3u32 {
            // Between two of the router's datagrams, 64 observation domains with templates from
            // another address, then as many from the router's own address (another UDP port, or
            // spoofed: the port is not part of the key).
            for flooder in [FLOODER, ROUTER] {
                for domain in 100..164 {
                    h.feed(flooder, &ipfix(0, domain, &[tmpl.clone(), set(256, &flow(9, 1_000_000))]));
                }
                let bytes = 1000 + round;
                want += u64::from(bytes);
                got += h.feed(ROUTER, &ipfix(0, 1, &[set(256, &flow(2, bytes))]));
            }
        }
        assert_eq!(got, want, "the router's every record, exactly");
        // Each address holds 8 domains (the router's own is one of its 8); the rest were refused
        // on every datagram, and nothing was evicted.
        assert_eq!(h.dec.exporters().len(), 16);
        assert_eq!(h.get(|s| &s.denied_domain_limit), 3 * ((64 - 8) + (64 - 7)));
        assert_eq!(h.get(|s| &s.exporter_evictions), 0);
        // Evicting the least recently heard domain instead would have let the router's own
        // address push its domain 1 out: its data would be held, waiting for a template.
        assert_eq!(h.get(|s| &s.missing_template_sets), 0);
    }

    #[test]
    fn a_renumbered_router_gets_in_once_its_old_domains_fall_silent() {
        let mut h = Harness::new(Limits { max_domains_per_exporter: 2, ..Limits::default() });
        let data = |d| v9(0, d, &[set(0, &template(256, FLOW)), set(256, &flow(2, 100))]);
        assert_eq!(h.feed(ROUTER, &data(1)), 100);
        assert_eq!(h.feed(ROUTER, &data(2)), 100);
        // A third source id while both are live: refused, its records with it.
        assert_eq!(h.feed(ROUTER, &data(3)), 0);
        assert_eq!(h.get(|s| &s.denied_domain_limit), 1);
        // Half an hour later, source id 2 has fallen silent while 1 went on: 2 makes way.
        h.t += Duration::from_secs(20 * 60);
        h.feed(ROUTER, &data(1));
        h.t += Duration::from_secs(10 * 60);
        assert_eq!(h.feed(ROUTER, &data(3)), 100);
        assert_eq!(h.get(|s| &s.exporter_evictions), 1);
        let domains: Vec<u32> = h.dec.exporters().iter().map(|e| e.key.domain).collect();
        assert_eq!(domains, vec![1, 3]);
    }

    #[test]
    fn a_full_table_of_live_exporters_refuses_newcomers() {
        let mut h = Harness::new(Limits { max_exporters: 4, ..Limits::default() });
        let data = || ipfix(0, 0, &[set(2, &template(256, FLOW)), set(256, &flow(2, 100))]);
        for i in 1..=4 {
            assert_eq!(h.feed(&format!("192.0.2.{i}"), &data()), 100);
        }
        // Every one was heard just now: newcomers are refused (the second without a scan, after
        // the first found the table live), and no live router is forgotten.
        assert_eq!(h.feed("198.51.100.1", &data()), 0);
        h.t += Duration::from_secs(29 * 60);
        for i in 1..=3 {
            h.feed(&format!("192.0.2.{i}"), &data());
        }
        assert_eq!(h.feed("198.51.100.2", &data()), 0);
        assert_eq!((h.get(|s| &s.denied_domain_limit), h.get(|s| &s.exporter_evictions)), (2, 0));
        // Past the window 192.0.2.4 has been silent for 30 minutes: it makes way, and only it.
        h.t += Duration::from_secs(60);
        assert_eq!(h.feed("198.51.100.2", &data()), 100);
        assert_eq!((h.get(|s| &s.denied_domain_limit), h.get(|s| &s.exporter_evictions)), (2, 1));
        let addrs: Vec<String> = h.dec.exporters().iter().map(|e| e.key.addr.to_string()).collect();
        assert_eq!(addrs, ["192.0.2.1", "192.0.2.2", "192.0.2.3", "198.51.100.2"]);
        assert_eq!(h.get(|s| &s.exporters), 4);
    }

    #[test]
    fn the_recent_window_is_at_least_the_pending_timeout() {
        let hour = Duration::from_secs(3600);
        let mut h = Harness::new(Limits { max_exporters: 1, pending_timeout: hour, ..Limits::default() });
        h.feed(ROUTER, &v9(0, 0, &[set(256, &flow(2, 100))]));
        // 45 minutes on, the router's set is still held for its template: it is not idle.
        h.t += Duration::from_secs(45 * 60);
        h.feed(FLOODER, &v9(0, 0, &[]));
        assert_eq!((h.get(|s| &s.denied_domain_limit), h.get(|s| &s.pending_sets)), (1, 1));
        h.t += Duration::from_secs(15 * 60);
        h.feed(FLOODER, &v9(0, 0, &[]));
        assert_eq!(h.get(|s| &s.exporter_evictions), 1);
        // The held set expired first (the window is at least pending_timeout), so eviction
        // found nothing to drop.
        assert_eq!((h.get(|s| &s.pending_expired), h.get(|s| &s.pending_evicted)), (1, 0));
    }

    #[test]
    fn held_sets_are_bounded_in_bytes_oldest_first() {
        let mut h = Harness::new(Limits { pending_sets: 10, pending_bytes: 100, ..Limits::default() });
        // Data set 256 before its template: 2 records (32 bytes) each, bytes 1..=3 per set.
        let held = |n: u32| set(256, &[flow(2, n), flow(3, n)].concat());
        for n in 1..=3 {
            h.feed(ROUTER, &v9(n, 0, &[held(n)]));
        }
        // 3 x 32 = 96 bytes fit in 100.
        assert_eq!((h.get(|s| &s.pending_sets), h.get(|s| &s.pending_bytes)), (3, 96));
        // A fourth set makes the oldest go.
        h.feed(ROUTER, &v9(4, 0, &[held(4)]));
        assert_eq!((h.get(|s| &s.pending_sets), h.get(|s| &s.pending_bytes)), (3, 96));
        assert_eq!(h.get(|s| &s.pending_bytes_overflow), 1);
        // A set larger than the whole budget (7 records, 112 bytes) is refused, and takes nothing.
        h.feed(ROUTER, &v9(5, 0, &[set(256, &flow(4, 1000).repeat(7))]));
        assert_eq!((h.get(|s| &s.pending_sets), h.get(|s| &s.pending_bytes)), (3, 96));
        assert_eq!(h.get(|s| &s.pending_bytes_overflow), 2);
        // The template comes: the three newest sets decode (2 x (2 + 3 + 4) bytes); the gauge
        // is back to zero.
        assert_eq!(h.feed(ROUTER, &v9(6, 0, &[set(0, &template(256, FLOW))])), 18);
        assert_eq!((h.get(|s| &s.pending_sets), h.get(|s| &s.pending_bytes)), (0, 0));
        // Held for a missing template 999, then expired: the gauge follows.
        h.feed(ROUTER, &v9(7, 0, &[set(999, &[0; 40])]));
        assert_eq!(h.get(|s| &s.pending_bytes), 40);
        h.t += Limits::default().pending_timeout;
        h.dec.expire(h.t);
        assert_eq!((h.get(|s| &s.pending_sets), h.get(|s| &s.pending_bytes)), (0, 0));
    }

    #[test]
    fn the_set_count_bound_keeps_the_byte_gauge_exact() {
        let mut h = Harness::new(Limits { pending_sets: 2, ..Limits::default() });
        for (seq, len) in [(1, 8), (2, 12), (3, 20)] {
            h.feed(ROUTER, &v9(seq, 0, &[set(999, &vec![0; len])]));
        }
        // The 8-byte set made way for the 20-byte one.
        assert_eq!((h.get(|s| &s.pending_overflow), h.get(|s| &s.pending_bytes)), (1, 32));
    }
}
