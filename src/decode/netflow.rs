//! NetFlow v9 (RFC 3954) and IPFIX (RFC 7011): message header, the walk over sets, templates and
//! options templates (with IPFIX withdrawal), data sets read through compiled templates, options
//! data (sampling rates, interface names), and data held until its template arrives. State lives
//! in the [`Store`] the caller passes in.

use std::net::IpAddr;
use std::time::Instant;

use super::exporter::{set_sampling, ExporterKey, NameFate, Pending, SeqUnit, Store, TemplateFate};
use super::fields::Field;
use super::template::{Ctx, TemplateSpec, Values};
use super::{be16, be32, DecodeError, Decoded, FlowRecord};
use crate::stats;

const V9_HEADER: usize = 20;
const IPFIX_HEADER: usize = 16;

pub(super) fn decode(
    d: &mut Store,
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
        // No place for a new key (counted by the store): the datagram cannot be decoded without
        // state, and the state is what is refused.
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
        e.carried |= out.flows > 0;
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
    /// Where records are read into, kept across the message's sets: a set then costs no
    /// clearing unless its template differs from the last one's (see `Template::read`).
    values: Values,
}

#[allow(clippy::too_many_arguments)]
fn templates(
    d: &mut Store,
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

fn withdraw(d: &mut Store, key: ExporterKey, id: u16, options: bool) {
    let gone = d.withdraw(key, id, options);
    stats::add(&d.stats.templates_withdrawn, gone as u64);
}

fn add_template(
    d: &mut Store,
    key: ExporterKey,
    spec: TemplateSpec,
    now: Instant,
    sink: &mut impl FnMut(&FlowRecord),
    out: &mut Outcome,
) {
    let id = spec.id;
    let fate = d.put_template(key, spec, now);
    stats::inc(match fate {
        TemplateFate::Refreshed => &d.stats.template_refreshes,
        TemplateFate::Invalid => &d.stats.template_errors,
        TemplateFate::TableFull => &d.stats.template_limit_drops,
        TemplateFate::Stored { .. } => &d.stats.templates_received,
    });
    let TemplateFate::Stored { evicted } = fate else { return };
    stats::add(&d.stats.template_evictions, evicted as u64);
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
    d: &mut Store,
    key: ExporterKey,
    id: u16,
    ctx: Ctx,
    body: &[u8],
    now: Instant,
    sink: &mut impl FnMut(&FlowRecord),
    out: &mut Outcome,
) {
    let override_rate = d.override_rate(key.addr);
    let max_name_bytes = d.limits.max_interface_name_bytes_per_exporter;
    let stats = d.stats.clone();
    let Some(e) = d.exporters.get_mut(&key) else { return };
    let Some(t) = e.templates.get(&id) else {
        // Not received yet (a restart of the router or of a collector without saved state):
        // hold the set a while. This is routine, not an error.
        out.unknown_records = true;
        stats::inc(&stats.missing_template_sets);
        e.missing.note(id, now);
        d.hold(Pending { key, template_id: id, ctx, data: body.to_vec(), at: now });
        return;
    };
    let (options, first_use, before) = (t.spec.options, !t.used, out.data_records);
    // The rate for records that name no sampler and state no rate of their own (or all records,
    // when the config sets one).
    let set_rate = override_rate.or(e.default_sampling).unwrap_or(1).max(1);
    let v = &mut out.values;
    let mut at = 0usize;
    let mut changed = false;
    // Records until what is left is shorter than the shortest record: that is padding.
    while body.len() - at >= t.min_len {
        let Some(n) = t.read(&body[at..], v) else {
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
                changed |= set_sampling(&mut e.samplers, &mut e.default_sampling, v.sampler(), rate);
            }
            let input_if = v.int(Field::InputIf) as u32;
            let ifindex = v.get(Field::ScopeInterface).map(|i| i as u32).or((input_if != 0).then_some(input_if));
            if let Some(i) = ifindex {
                if let Some((a, b)) = v.if_name.or(v.if_desc) {
                    match e.if_names.set(i, &rec[a..b], max_name_bytes) {
                        NameFate::Set => changed = true,
                        NameFate::Refused => stats::inc(&stats.interface_name_drops),
                        NameFate::Unchanged => {}
                    }
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
        let rec = t.flow(v, ctx, rate);
        out.flows += 1;
        sink(&rec);
    }
    if first_use && out.data_records > before {
        // Data came for it: from now on it is worth saving.
        changed |= e.templates.mark_used(id);
    }
    if changed {
        d.mark_dirty();
    }
}
