//! The decoder's state store, driven by hand-built datagrams (each field annotated): options data
//! (sampling per sampler, interface names), IPFIX withdrawal, sequence loss, bounds, overrides.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowpi::decode::{Decoder, ExporterOverride, FlowRecord, Limits};
use flowpi::stats::{self, Stats};

fn be16(v: u16) -> [u8; 2] {
    v.to_be_bytes()
}
fn be32(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

/// A NetFlow v9 datagram: header (version 9, count, sysUptime, unix secs, sequence, source id)
/// followed by the given flowsets.
fn v9(seq: u32, source_id: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend(be16(9)); // version
    d.extend(be16(sets.len() as u16)); // count
    d.extend(be32(60_000)); // sysUptime, ms
    d.extend(be32(1_700_000_000)); // unix secs
    d.extend(be32(seq)); // package sequence
    d.extend(be32(source_id)); // source id
    for s in sets {
        d.extend(s);
    }
    d
}

/// An IPFIX message: header (version 10, length, export time, sequence, domain) and sets.
fn ipfix(seq: u32, domain: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = sets.concat();
    let mut d = Vec::new();
    d.extend(be16(10)); // version
    d.extend(be16(16 + body.len() as u16)); // message length
    d.extend(be32(1_700_000_000)); // export time
    d.extend(be32(seq)); // sequence: data records sent before this message
    d.extend(be32(domain)); // observation domain
    d.extend(body);
    d
}

/// A set: id, length, contents (padded to 4 bytes as exporters do).
fn set(id: u16, body: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    while b.len() % 4 != 0 {
        b.push(0);
    }
    let mut s = Vec::new();
    s.extend(be16(id));
    s.extend(be16(4 + b.len() as u16));
    s.extend(b);
    s
}

/// A template record: id, field count, then (type, length) pairs.
fn template(id: u16, fields: &[(u16, u16)]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend(be16(id));
    t.extend(be16(fields.len() as u16));
    for (ty, len) in fields {
        t.extend(be16(*ty));
        t.extend(be16(*len));
    }
    t
}

/// Data template 256: IPv4 src (8), dst (12), bytes (1), packets (2), input (10), output (14),
/// sampler id (48).
const FLOW: &[(u16, u16)] = &[(8, 4), (12, 4), (1, 4), (2, 4), (10, 2), (14, 2), (48, 1)];

fn flow(src: [u8; 4], dst: [u8; 4], bytes: u32, packets: u32, input: u16, output: u16, sampler: u8) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend(src);
    r.extend(dst);
    r.extend(be32(bytes));
    r.extend(be32(packets));
    r.extend(be16(input));
    r.extend(be16(output));
    r.push(sampler);
    r
}

struct Harness {
    dec: Decoder,
    stats: Arc<Stats>,
    from: IpAddr,
    t: Instant,
}

impl Harness {
    fn new(limits: Limits, overrides: HashMap<IpAddr, ExporterOverride>) -> Harness {
        let stats = Arc::new(Stats::default());
        Harness {
            dec: Decoder::new(limits, overrides, stats.clone()),
            stats,
            from: "192.0.2.1".parse().unwrap(),
            t: Instant::now(),
        }
    }

    fn feed(&mut self, d: &[u8]) -> Vec<FlowRecord> {
        let mut out = Vec::new();
        let r = self.dec.decode(self.from, d, self.t, &mut |r| out.push(*r)).unwrap();
        assert_eq!(r.error, None);
        out
    }
}

#[test]
fn v9_options_give_sampling_per_sampler_and_interface_names() {
    let mut h = Harness::new(Limits::default(), HashMap::new());
    // Options template 300 (v9 flowset 1): scope length 4 (one scope field: type 2 "Interface",
    // length 4), options length 12: sampler id (48/1), sampler random interval (50/4),
    // interface name (82/7 bytes fixed here; IPFIX would use 65535).
    let mut opt = Vec::new();
    opt.extend(be16(300)); // template id
    opt.extend(be16(4)); // scope length, bytes
    opt.extend(be16(12)); // options length, bytes
    opt.extend([0, 2, 0, 4]); // scope: Interface, 4 bytes
    opt.extend([0, 48, 0, 1, 0, 50, 0, 4, 0, 82, 0, 7]);
    // Two options records: interface 1 "ether1" uses sampler 1 at 1:100; interface 2 "wlan0"
    // uses sampler 2 at 1:1000.
    let mut od = Vec::new();
    od.extend(be32(1));
    od.push(1);
    od.extend(be32(100));
    od.extend(b"ether1\0");
    od.extend(be32(2));
    od.push(2);
    od.extend(be32(1000));
    od.extend(b"wlan0\0\0");
    let sets = vec![set(0, &template(256, FLOW)), set(1, &opt), set(300, &od)];
    assert!(h.feed(&v9(1, 7, &sets)).is_empty());
    let data =
        [flow([192, 168, 1, 2], [8, 8, 8, 8], 500, 5, 1, 2, 1), flow([8, 8, 4, 4], [192, 168, 1, 3], 70, 1, 2, 1, 2)]
            .concat();
    let recs = h.feed(&v9(2, 7, &[set(256, &data)]));
    assert_eq!(recs.len(), 2);
    assert_eq!((recs[0].bytes, recs[0].packets, recs[0].sampling), (50_000, 500, 100));
    assert_eq!((recs[1].bytes, recs[1].packets, recs[1].sampling), (70_000, 1000, 1000));
    let from = h.from;
    assert_eq!(h.dec.interface_names(), vec![((from, 1), "ether1".to_string()), ((from, 2), "wlan0".to_string())]);
    assert_eq!(stats::get(&h.stats.options_records), 2);
    // Saved and restored, the same data decodes the same way in a new decoder.
    let saved = serde_json::to_string(&h.dec.save(|_, _| true)).unwrap();
    let mut h2 = Harness::new(Limits::default(), HashMap::new());
    h2.dec.restore(serde_json::from_str(&saved).unwrap(), std::time::Instant::now());
    let again = h2.feed(&v9(3, 7, &[set(256, &data)]));
    assert_eq!(again, recs);
}

#[test]
fn config_override_names_and_sampling_win() {
    let mut o = ExporterOverride { name: Some("edge".into()), sampling_rate: Some(4), ..Default::default() };
    o.interfaces.insert(1, "wan".into());
    let mut h = Harness::new(Limits::default(), HashMap::from([("192.0.2.1".parse().unwrap(), o)]));
    let data = flow([192, 168, 1, 2], [1, 1, 1, 1], 10, 1, 1, 0, 0);
    let recs = h.feed(&v9(1, 0, &[set(0, &template(256, FLOW)), set(256, &data)]));
    assert_eq!((recs[0].bytes, recs[0].sampling), (40, 4));
    assert_eq!(h.dec.interface_names(), vec![((h.from, 1), "wan".to_string())]);
    assert_eq!(h.dec.exporter_name(h.from), Some("edge"));
}

#[test]
fn ipfix_withdrawal_variable_length_and_sequence_loss() {
    let mut h = Harness::new(Limits::default(), HashMap::new());
    // Template 400: src (8/4), dst (12/4), bytes (1/8: a 64-bit counter), interface name
    // (82/65535: variable length).
    let t = template(400, &[(8, 4), (12, 4), (1, 8), (82, 65535)]);
    let mut rec = Vec::new();
    rec.extend([10, 0, 0, 1, 10, 0, 0, 2]);
    rec.extend(5_000_000_000u64.to_be_bytes()); // more than 32 bits
    rec.push(3); // short length form
    rec.extend(b"wan");
    let recs = h.feed(&ipfix(0, 1, &[set(2, &t), set(400, &rec)]));
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].bytes, 5_000_000_000);
    // Sequence: 1 record sent so far; the next message says 4, so 3 were lost.
    h.feed(&ipfix(4, 1, &[set(400, &rec)]));
    assert_eq!(stats::get(&h.stats.lost_records), 3);
    // In order: nothing lost.
    h.feed(&ipfix(5, 1, &[set(400, &rec)]));
    assert_eq!(stats::get(&h.stats.lost_records), 3);
    // Withdraw template 400 (field count 0): its data is now held, not decoded.
    let mut w = Vec::new();
    w.extend(be16(400));
    w.extend(be16(0));
    assert!(h.feed(&ipfix(6, 1, &[set(2, &w), set(400, &rec)])).is_empty());
    assert_eq!(stats::get(&h.stats.templates_withdrawn), 1);
    assert_eq!(stats::get(&h.stats.pending_sets), 1);
    // The template comes back: the held set decodes.
    let recs = h.feed(&ipfix(7, 1, &[set(2, &t)]));
    assert_eq!(recs.len(), 1);
    assert_eq!(stats::get(&h.stats.pending_decoded), 1);
}

#[test]
fn v9_sequence_counts_lost_datagrams_wrap_safe() {
    let mut h = Harness::new(Limits::default(), HashMap::new());
    let tmpl = set(0, &template(256, FLOW));
    h.feed(&v9(u32::MAX - 1, 0, std::slice::from_ref(&tmpl)));
    h.feed(&v9(u32::MAX, 0, std::slice::from_ref(&tmpl)));
    h.feed(&v9(2, 0, std::slice::from_ref(&tmpl))); // 0 and 1 missing, across the wrap
    assert_eq!(stats::get(&h.stats.lost_datagrams), 2);
    h.feed(&v9(2, 0, std::slice::from_ref(&tmpl))); // a duplicate is not loss
    h.feed(&v9(1_000_000_000, 0, &[tmpl])); // a jump is an exporter restart, not loss
    assert_eq!(stats::get(&h.stats.lost_datagrams), 2);
}

#[test]
fn bounds_hold_and_are_counted() {
    let limits = Limits {
        max_exporters: 2,
        max_templates_per_exporter: 2,
        max_fields_per_template: 8,
        pending_sets: 2,
        pending_timeout: Duration::from_secs(10),
        ..Limits::default()
    };
    let mut h = Harness::new(limits, HashMap::new());
    // Three templates for a table of two: one no data came for makes way for the third ...
    let rec = || set(256, &flow([192, 168, 1, 2], [8, 8, 8, 8], 100, 1, 1, 2, 0));
    let sets: Vec<Vec<u8>> = (256..259).map(|id| set(0, &template(id, FLOW))).collect();
    h.feed(&v9(0, 0, &[sets[0].clone(), rec(), sets[1].clone(), sets[2].clone()]));
    assert_eq!(stats::get(&h.stats.template_evictions), 1);
    assert_eq!(stats::get(&h.stats.template_limit_drops), 0);
    // ... but once data came for both, a new one is refused.
    let rec258 = || set(258, &flow([192, 168, 1, 2], [8, 8, 8, 8], 100, 1, 1, 2, 0));
    h.feed(&v9(0, 0, &[rec258(), set(0, &template(259, FLOW))]));
    assert_eq!(stats::get(&h.stats.template_limit_drops), 1);
    // A template with more fields than allowed.
    let many: Vec<(u16, u16)> = (0..9).map(|i| (100 + i, 1)).collect();
    h.feed(&v9(2, 0, &[set(0, &template(300, &many))]));
    assert_eq!(stats::get(&h.stats.template_errors), 1);
    // Three held sets for a buffer of two: the oldest goes.
    for seq in 3..6 {
        h.feed(&v9(seq, 0, &[set(999, &[0; 20])]));
    }
    assert_eq!(stats::get(&h.stats.pending_sets), 2);
    assert_eq!(stats::get(&h.stats.pending_overflow), 1);
    // Held sets expire.
    h.t += Duration::from_secs(11);
    h.dec.expire(h.t);
    assert_eq!((stats::get(&h.stats.pending_sets), stats::get(&h.stats.pending_expired)), (0, 2));
    // Two exporters whose data comes with continuing sequence numbers (v9 counts datagrams) ...
    let data = || set(256, &flow([192, 168, 1, 2], [8, 8, 8, 8], 100, 1, 1, 2, 0));
    h.feed(&v9(6, 0, &[data()]));
    h.feed(&v9(7, 0, &[data()]));
    h.feed(&v9(1, 1, &[set(0, &template(256, FLOW)), data()]));
    h.feed(&v9(2, 1, &[data()]));
    // ... and a third (source id) for a table of two is refused: no live router is forgotten for
    // a newcomer ...
    h.feed(&v9(1, 2, &[]));
    assert_eq!(stats::get(&h.stats.exporter_evictions), 0);
    assert_eq!(stats::get(&h.stats.denied_domain_limit), 1);
    // ... but once the least recently heard has been silent for 30 minutes, it makes way.
    h.t += Duration::from_secs(30 * 60);
    h.feed(&v9(3, 1, &[]));
    h.feed(&v9(1, 2, &[]));
    assert_eq!(stats::get(&h.stats.exporter_evictions), 1);
    assert_eq!(h.dec.exporters().len(), 2);
}
