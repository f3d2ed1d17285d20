//! The decoder driven by hand-built v9 and IPFIX datagrams (each field annotated): the bounds of
//! the exporter store (domains, exporters, held sets), saved state, and RFC 5103 reverse counts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::exporter::{Refusal, Restored, MAX_NAME_BYTES, RECENT};
use super::{legacy, Decoder, ExporterKey, FlowRecord, Limits};
use crate::stats::{self, Stats};

/// A NetFlow v9 datagram: header (version 9, count, sysUptime, unix secs, sequence, source
/// id) followed by the given flowsets.
fn v9(seq: u32, source_id: u32, sets: &[Vec<u8>]) -> Vec<u8> {
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
fn ipfix(seq: u32, domain: u32, sets: &[Vec<u8>]) -> Vec<u8> {
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
fn set(id: u16, body: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend(id.to_be_bytes());
    s.extend((4 + body.len() as u16).to_be_bytes());
    s.extend(body);
    s
}

/// A template record: id, field count, then (type, length) pairs.
fn template(id: u16, fields: &[(u16, u16)]) -> Vec<u8> {
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
const FLOW: &[(u16, u16)] = &[(8, 4), (12, 4), (1, 4), (2, 4)];

/// One 16-byte record of [`FLOW`]: 192.168.1.`host` to 8.8.8.8, `bytes` bytes in 1 packet.
fn flow(host: u8, bytes: u32) -> Vec<u8> {
    let mut r = vec![192, 168, 1, host, 8, 8, 8, 8]; // src, dst
    r.extend(bytes.to_be_bytes()); // octets
    r.extend(1u32.to_be_bytes()); // packets
    r
}

/// An IPFIX template record whose fields may be enterprise-specific: id, field count, then
/// (type, length) pairs, the type's high bit and a 4-byte enterprise number where PEN is not 0.
fn ipfix_template(id: u16, fields: &[(u16, u16, u32)]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend(id.to_be_bytes());
    t.extend((fields.len() as u16).to_be_bytes());
    for &(ty, len, pen) in fields {
        if pen == 0 {
            t.extend(ty.to_be_bytes());
            t.extend(len.to_be_bytes());
        } else {
            t.extend((ty | 0x8000).to_be_bytes()); // enterprise bit
            t.extend(len.to_be_bytes());
            t.extend(pen.to_be_bytes());
        }
    }
    t
}

struct Harness {
    dec: Decoder,
    stats: Arc<Stats>,
    t: Instant,
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

    /// Decode one datagram from `from`; the records it gave.
    pub fn records(&mut self, from: &str, d: &[u8]) -> Vec<FlowRecord> {
        let from: IpAddr = from.parse().unwrap();
        let mut out = Vec::new();
        self.dec.decode(from, d, self.t, &mut |r: &FlowRecord| out.push(*r)).unwrap();
        out
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
    // The router's sequence numbers continue (IPFIX counts data records): from its second
    // message on, it holds its place against any newcomer.
    let mut seq = 0;
    let mut got = h.feed(ROUTER, &ipfix(seq, 1, &[tmpl.clone(), set(256, &flow(2, 999))]));
    let mut want = 999;
    seq += 1;
    for round in 0..3u32 {
        // Between two of the router's datagrams, 64 observation domains with templates and
        // data (sequence numbers that never continue) from another address, then as many from
        // the router's own address (another UDP port, or spoofed: the port is not part of the key).
        for flooder in [FLOODER, ROUTER] {
            for domain in 100..164 {
                h.feed(flooder, &ipfix(0, domain, &[tmpl.clone(), set(256, &flow(9, 1_000_000))]));
            }
            let bytes = 1000 + round;
            want += u64::from(bytes);
            got += h.feed(ROUTER, &ipfix(seq, 1, &[set(256, &flow(2, bytes))]));
            seq += 1;
        }
    }
    assert_eq!(got, want, "the router's every record, exactly");
    // Each address holds 8 domains (the router's own is one of its 8). The flood's domains made
    // way for each other: in the first round 64 - 8 from the other address and 64 - 7 from the
    // router's, then all 64 of each in the next two rounds; none was refused.
    assert_eq!(h.dec.exporters().len(), 16);
    assert_eq!(h.get(|s| &s.exporter_evictions), 56 + 57 + 4 * 64);
    assert_eq!(h.get(|s| &s.denied_domain_limit), 0);
    // Evicting the least recently heard domain regardless of standing would have let the
    // router's own address push its domain 1 out: its data would be held, waiting for a template.
    assert_eq!(h.get(|s| &s.missing_template_sets), 0);
}

/// Template 256 and a record of `bytes` from 192.168.1.2, as v9 with source id `domain` and
/// sequence number `seq` (v9 counts datagrams).
fn v9_flow(seq: u32, domain: u32, bytes: u32) -> Vec<u8> {
    v9(seq, domain, &[set(0, &template(256, FLOW)), set(256, &flow(2, bytes))])
}

#[test]
fn a_renumbered_router_gets_in_once_its_old_domains_fall_silent() {
    let mut h = Harness::new(Limits { max_domains_per_exporter: 2, ..Limits::default() });
    for seq in 0..2 {
        assert_eq!(h.feed(ROUTER, &v9_flow(seq, 1, 100)), 100);
        assert_eq!(h.feed(ROUTER, &v9_flow(seq, 2, 100)), 100);
    }
    // A third source id while both are live and confirmed: refused, its records with it.
    assert_eq!(h.feed(ROUTER, &v9_flow(0, 3, 100)), 0);
    assert_eq!(h.get(|s| &s.denied_domain_limit), 1);
    // Half an hour later, source id 2 has fallen silent while 1 went on: 2 makes way.
    h.t += Duration::from_secs(20 * 60);
    h.feed(ROUTER, &v9_flow(2, 1, 100));
    h.t += Duration::from_secs(10 * 60);
    assert_eq!(h.feed(ROUTER, &v9_flow(1, 3, 100)), 100);
    assert_eq!(h.get(|s| &s.exporter_evictions), 1);
    let domains: Vec<u32> = h.dec.exporters().iter().map(|e| e.key.domain).collect();
    assert_eq!(domains, vec![1, 3]);
}

#[test]
fn a_full_table_of_confirmed_exporters_refuses_newcomers() {
    let mut h = Harness::new(Limits { max_exporters: 4, ..Limits::default() });
    // IPFIX sequence numbers count data records: one per message here.
    let data = |seq| ipfix(seq, 0, &[set(2, &template(256, FLOW)), set(256, &flow(2, 100))]);
    for seq in 0..2 {
        for i in 1..=4 {
            assert_eq!(h.feed(&format!("192.0.2.{i}"), &data(seq)), 100);
        }
    }
    // Every one carried data with continuing sequence numbers and was heard just now: newcomers
    // are refused (the second without a scan, after the first found the table so), and no live
    // router is forgotten.
    assert_eq!(h.feed("198.51.100.1", &data(0)), 0);
    h.t += Duration::from_secs(29 * 60);
    for i in 1..=3 {
        h.feed(&format!("192.0.2.{i}"), &data(2));
    }
    assert_eq!(h.feed("198.51.100.2", &data(0)), 0);
    assert_eq!((h.get(|s| &s.denied_domain_limit), h.get(|s| &s.exporter_evictions)), (2, 0));
    // Past the window 192.0.2.4 has been silent for 30 minutes: it makes way, and only it.
    h.t += Duration::from_secs(60);
    assert_eq!(h.feed("198.51.100.2", &data(0)), 100);
    assert_eq!((h.get(|s| &s.denied_domain_limit), h.get(|s| &s.exporter_evictions)), (2, 1));
    let addrs: Vec<String> = h.dec.exporters().iter().map(|e| e.key.addr.to_string()).collect();
    assert_eq!(addrs, ["192.0.2.1", "192.0.2.2", "192.0.2.3", "198.51.100.2"]);
    assert_eq!(h.get(|s| &s.exporters), 4);
    // The doctor hears of both refusals, by address.
    let refused: Vec<(String, u64)> = h.dec.refused().iter().map(|r| (r.key.addr.to_string(), r.datagrams)).collect();
    assert_eq!(refused, [("198.51.100.1".to_string(), 1), ("198.51.100.2".to_string(), 1)]);
}

#[test]
fn the_recent_window_is_at_least_the_pending_timeout() {
    let hour = Duration::from_secs(3600);
    let mut h = Harness::new(Limits { max_exporters: 1, pending_timeout: hour, ..Limits::default() });
    h.feed(ROUTER, &v9_flow(0, 0, 100));
    h.feed(ROUTER, &v9_flow(1, 0, 100));
    // Data for a template that has not come: held.
    h.feed(ROUTER, &v9(2, 0, &[set(257, &flow(2, 100))]));
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

/// A router against a neighbour who filled the table first with `flood` (one message per key,
/// each key sent `repeat` times) from 8 addresses × 8 domains (or 8 domains of the router's own
/// address when `spoof`): the router's bytes, as counted and as sent. Its sequence numbers
/// continue; between two of its messages come 64 more of the flood's, for new keys.
fn router_after_a_flood(flood: impl Fn(u32, u32) -> Vec<u8>, repeat: u32, spoof: bool) -> (u64, u64) {
    let mut h = Harness::new(Limits::default());
    let addrs: Vec<String> =
        if spoof { vec![ROUTER.into()] } else { (1..=8).map(|i| format!("198.51.100.{i}")).collect() };
    let mut domain = 100;
    let mut flood_round = |h: &mut Harness, per_address: u32| {
        for a in &addrs {
            for _ in 0..per_address {
                for r in 0..repeat {
                    h.feed(a, &flood(domain, r));
                }
                domain += 1;
            }
        }
    };
    flood_round(&mut h, 8);
    assert_eq!(h.dec.exporters().len(), addrs.len() * 8);
    let (mut got, mut want) = (0, 0);
    for seq in 0..20u32 {
        let bytes = 1_000 + seq;
        let sets = if seq == 0 {
            vec![set(2, &template(256, FLOW)), set(256, &flow(2, bytes))]
        } else {
            vec![set(256, &flow(2, bytes))]
        };
        got += h.feed(ROUTER, &ipfix(seq, 1, &sets));
        want += u64::from(bytes);
        flood_round(&mut h, 64 / addrs.len() as u32);
    }
    assert_eq!(h.get(|s| &s.missing_template_sets), 0, "the router's template was never lost");
    (got, want)
}

#[test]
fn a_template_only_flood_makes_way_for_the_router() {
    let templates_only = |domain, _| ipfix(0, domain, &[set(2, &template(256, FLOW))]);
    let (got, want) = router_after_a_flood(templates_only, 1, false);
    assert_eq!(got, want);
    // From the router's own (spoofed) address, as with collector.allow.
    let (got, want) = router_after_a_flood(templates_only, 1, true);
    assert_eq!(got, want);
}

#[test]
fn data_with_made_up_sequence_numbers_makes_way_for_the_router() {
    // Templates and data, each key twice with sequence numbers that do not continue.
    let made_up = |domain: u32, r: u32| {
        let seq = domain.wrapping_mul(2_654_435_761).rotate_left(r * 7);
        ipfix(seq, domain, &[set(2, &template(256, FLOW)), set(256, &flow(9, 7))])
    };
    let (got, want) = router_after_a_flood(made_up, 2, false);
    assert_eq!(got, want);
    let (got, want) = router_after_a_flood(made_up, 2, true);
    assert_eq!(got, want);
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

const A: &str = "192.0.2.1";

/// Template 256 as saved: src (8/4), dst (12/4), bytes (1/4), packets (2/4), IANA.
fn flow_spec(id: u16) -> serde_json::Value {
    json!({"id": id, "scope_fields": 0, "options": false, "fields": [[8, 4, 0], [12, 4, 0], [1, 4, 0], [2, 4, 0]]})
}

fn exporter(addr: &str, version: u16, domain: u32) -> serde_json::Value {
    json!({"key": {"addr": addr, "version": version, "domain": domain},
           "templates": [], "samplers": [], "default_sampling": null, "if_names": []})
}

fn restore(h: &mut Harness, exporters: Vec<serde_json::Value>) -> Restored {
    let t = h.t;
    h.dec.restore(serde_json::from_value(json!({"format": 1, "exporters": exporters})).unwrap(), t)
}

#[test]
fn a_tampered_state_is_refused_entry_by_entry() {
    let mut h = Harness::new(Limits::default());
    let mut a = exporter(A, 9, 0);
    a["templates"] = json!([
        flow_spec(256),
        // 200 fields where collector.max_fields_per_template is 128.
        {"id": 257, "scope_fields": 0, "options": false, "fields": vec![[1, 4, 0]; 200]},
        // A set id, not a template id.
        flow_spec(2),
    ]);
    // 2^60, a sane 1:100, and 0.
    a["samplers"] = json!([[1, 1u64 << 60], [2, 100], [3, 0]]);
    a["default_sampling"] = json!(1u64 << 60);
    a["if_names"] = json!([[1, "wan"], [2, "x".repeat(MAX_NAME_BYTES + 1)], [3, ""]]);
    let mut v5 = exporter("192.0.2.4", 5, 3);
    v5["templates"] = json!([flow_spec(256)]);
    v5["default_sampling"] = json!(10);
    let r = restore(
        &mut h,
        vec![
            a,
            exporter(A, 9, 0),               // the same key again
            exporter("192.0.2.2", 42, 0),    // no such version
            exporter("192.0.2.3", 5, 70000), // v5's engine field is 16 bits
            v5,                              // kept, but v5 has no templates
        ],
    );
    assert_eq!(r, Restored { exporters: 2, templates: 1, rejected: 11 });
    assert_eq!(h.get(|s| &s.state_rejected), 11);
    let views = h.dec.exporters();
    assert_eq!((views[0].templates, views[0].samplers, views[0].sampling), (1, 1, 1));
    assert_eq!((views[1].key.version, views[1].templates, views[1].sampling), (5, 0, 10));
    assert_eq!(h.dec.interface_names(), vec![((A.parse().unwrap(), 1), "wan".to_string())]);
    // The finding: a restored 2^60 turned one 1000-byte flow into 1.8e19 bytes.
    assert_eq!(h.feed(A, &v9(1, 0, &[set(256, &flow(2, 1000))])), 1000);
    // What was refused is written back without it.
    assert!(h.dec.take_dirty());
}

#[test]
fn restore_keeps_to_the_table_bounds() {
    let limits =
        Limits { max_exporters: 3, max_domains_per_exporter: 2, max_templates_per_exporter: 2, ..Limits::default() };
    let mut h = Harness::new(limits);
    let mut a0 = exporter(A, 9, 0);
    a0["templates"] = json!([flow_spec(256), flow_spec(257), flow_spec(258)]);
    let r = restore(
        &mut h,
        vec![
            a0,                          // its third template is one too many
            exporter(A, 10, 0),          // same address, its second domain
            exporter(A, 9, 1),           // a third domain for A
            exporter("192.0.2.2", 9, 0), // the table's third exporter
            exporter("192.0.2.3", 9, 0), // a fourth
        ],
    );
    assert_eq!(r, Restored { exporters: 3, templates: 2, rejected: 3 });
    assert_eq!(h.get(|s| &s.exporters), 3);
    let keys: Vec<(String, u16, u32)> =
        h.dec.exporters().iter().map(|e| (e.key.addr.to_string(), e.key.version, e.key.domain)).collect();
    assert_eq!(keys, [(A.to_string(), 9, 0), (A.to_string(), 10, 0), ("192.0.2.2".to_string(), 9, 0)]);
}

#[test]
fn a_saved_state_restores_whole() {
    let mut h = Harness::new(Limits::default());
    // Options template 300 (v9 flowset 1): scope length 4 (Interface, 4 bytes), options
    // length 12: sampler id (48/1), sampling interval (34/4), interface name (82/3).
    let mut opt = Vec::new();
    opt.extend(300u16.to_be_bytes()); // template id
    opt.extend(4u16.to_be_bytes()); // scope length, bytes
    opt.extend(12u16.to_be_bytes()); // options length, bytes
    opt.extend([0, 2, 0, 4]); // scope: Interface, 4 bytes
    opt.extend([0, 48, 0, 1, 0, 34, 0, 4, 0, 82, 0, 3]); // sampler id, interval, name
    let mut rec = Vec::new();
    rec.extend(7u32.to_be_bytes()); // ifIndex 7
    rec.push(1); // sampler 1
    rec.extend(64u32.to_be_bytes()); // 1 in 64
    rec.extend(b"lan"); // name
    h.feed(A, &v9(1, 0, &[set(0, &template(256, FLOW)), set(1, &opt), set(300, &rec)]));
    h.feed(A, &v9(2, 0, &[set(256, &flow(2, 100))]));
    let saved = serde_json::to_string(&h.dec.save(|_, i| i == 7)).unwrap();
    let mut h2 = Harness::new(Limits::default());
    let r = h2.dec.restore(serde_json::from_str(&saved).unwrap(), h2.t);
    assert_eq!(r, Restored { exporters: 1, templates: 2, rejected: 0 });
    assert_eq!(serde_json::to_string(&h2.dec.save(|_, _| false)).unwrap(), saved);
    assert!(saved.contains("\"lan\""), "{saved}");
    assert!(!h2.dec.take_dirty());
}

#[test]
fn only_what_data_came_for_is_saved() {
    let mut h = Harness::new(Limits::default());
    // Options template 300 as v9: scope Interface (4 bytes), interface name (82/8).
    let mut opt = Vec::new();
    for v in [300u16, 4, 4, 2, 4, 82, 8] {
        opt.extend(v.to_be_bytes()); // id, scope length, options length, (type, length) x 2
    }
    let names: Vec<u8> =
        (1..=3u32).flat_map(|i| [i.to_be_bytes().to_vec(), format!("eth{i}\0\0\0\0").into_bytes()].concat()).collect();
    // A neighbour's templates only; a router's templates 256 and 257, names of interfaces 1 to 3,
    // and data for 256.
    h.feed(FLOODER, &v9(0, 0, &[set(0, &template(256, FLOW))]));
    let tmpls = [template(256, FLOW), template(257, &[(8, 4), (12, 4), (1, 8), (2, 8)])].concat();
    h.feed(ROUTER, &v9(0, 0, &[set(0, &tmpls), set(1, &opt), set(300, &names)]));
    h.feed(ROUTER, &v9(1, 0, &[set(256, &flow(2, 100))]));
    // Flows are seen on interface 2 only.
    let s = h.dec.save(|_, i| i == 2);
    assert_eq!(s.exporters.len(), 1, "the neighbour's state costs the card nothing");
    let e = &s.exporters[0];
    assert_eq!(e.key.addr.to_string(), ROUTER);
    assert_eq!(e.templates.iter().map(|t| t.id).collect::<Vec<_>>(), [256, 300]);
    assert_eq!(e.if_names, [(2, "eth2")]);
    assert!(e.confirmed);
    // A name saved once stays saved, though no flow is on it now.
    assert_eq!(h.dec.save(|_, _| false).exporters[0].if_names, [(2, "eth2")]);
}

#[test]
fn the_template_store_is_bounded_in_bytes_and_a_router_keeps_its_own() {
    let wide = |id: u16| {
        let mut f = FLOW.to_vec();
        f.extend((0..124).map(|i| (2_000 + i, 1)));
        template(id, &f)
    };
    // Room for four templates of 128 fields in all (about 1.7 KiB each on a 64-bit machine; the
    // compiled plan's size follows the word size, so it is measured).
    let one = {
        let mut h = Harness::new(Limits::default());
        h.feed(FLOODER, &ipfix(0, 5, &[set(2, &wide(300))]));
        h.dec.state_bytes().0
    };
    assert!(one > 0);
    let limit = 4 * one + one / 2;
    let mut h = Harness::new(Limits { max_template_bytes: limit, ..Limits::default() });
    let rec = |host: u8, bytes: u32| [flow(host, bytes), vec![0; 124]].concat();
    let flood = |ids: std::ops::Range<u16>, seq: u32| {
        let mut sets = vec![set(2, &ids.clone().flat_map(wide).collect::<Vec<u8>>())];
        sets.extend(ids.map(|id| set(id, &rec(9, 1))));
        ipfix(seq, 5, &sets)
    };
    // A neighbour's four templates with data, sequence numbers made up: the store is full.
    h.feed(FLOODER, &flood(300..304, 77));
    h.feed(FLOODER, &flood(300..304, 5));
    assert_eq!(h.dec.exporters()[0].templates, 4);
    // The router's template takes the place of one of the neighbour's; its sequence numbers
    // continue.
    let mut got = h.feed(ROUTER, &ipfix(0, 1, &[set(2, &wide(256)), set(256, &rec(2, 1_000))]));
    got += h.feed(ROUTER, &ipfix(1, 1, &[set(256, &rec(2, 1_001))]));
    assert_eq!(h.get(|s| &s.template_evictions), 1);
    // Another neighbour takes the first one's three other places, but not the router's: its
    // fourth template is refused, then and when offered again.
    h.feed("198.51.100.9", &flood(400..404, 3));
    assert_eq!((h.get(|s| &s.template_evictions), h.get(|s| &s.template_limit_drops)), (4, 1));
    h.feed("198.51.100.9", &flood(400..404, 9));
    assert_eq!((h.get(|s| &s.template_evictions), h.get(|s| &s.template_limit_drops)), (4, 2));
    got += h.feed(ROUTER, &ipfix(2, 1, &[set(256, &rec(2, 1_002))]));
    assert_eq!(got, 3_003);
    assert!(h.dec.state_bytes().0 <= limit, "{:?}", h.dec.state_bytes());
}

#[test]
fn templates_are_bounded_in_bytes_and_unused_ones_make_way() {
    // Room for about five templates of 128 fields (each about 1.4 KiB).
    let mut h = Harness::new(Limits { max_template_bytes_per_exporter: 8 << 10, ..Limits::default() });
    let wide = |id: u16, salt: u16| {
        let mut f = FLOW.to_vec();
        f.extend((0..124).map(|i| (2_000 + i + salt, 1)));
        template(id, &f)
    };
    let rec = [flow(2, 1), vec![0; 124]].concat();
    // Two templates data comes for, then 20 others: each new one takes the place of one no data
    // came for once the bytes are spent; 256 and 257 stay.
    h.feed(ROUTER, &v9(0, 0, &[set(0, &[wide(256, 0), wide(257, 0)].concat()), set(256, &rec), set(257, &rec)]));
    let others: Vec<u8> = (300..320).flat_map(|id| wide(id, 0)).collect();
    h.feed(ROUTER, &v9(1, 0, &[set(0, &others)]));
    let kept = h.dec.exporters()[0].templates as u64;
    assert!((4..=6).contains(&kept), "{kept} templates kept");
    assert_eq!(h.get(|s| &s.template_evictions), 20 - (kept - 2));
    assert_eq!(h.get(|s| &s.template_limit_drops), 0);
    let (bytes, _) = h.dec.state_bytes();
    assert!(bytes <= 8 << 10, "{bytes}");
    assert_eq!(h.feed(ROUTER, &v9(2, 0, &[set(256, &rec), set(257, &rec)])), 2);
    // Data for all that are kept (the last ones offered): then a new template is refused rather
    // than one of them dropped.
    let used: Vec<Vec<u8>> = (300..320).map(|id| set(id, &rec)).collect();
    assert_eq!(h.feed(ROUTER, &v9(3, 0, &used)), kept - 2);
    let evictions = h.get(|s| &s.template_evictions);
    h.feed(ROUTER, &v9(4, 0, &[set(0, &wide(401, 0))]));
    assert_eq!((h.get(|s| &s.template_limit_drops), h.get(|s| &s.template_evictions)), (1, evictions));
    // A template changed in place (same id) fits where the old one was.
    h.feed(ROUTER, &v9(5, 0, &[set(0, &wide(256, 7))]));
    assert_eq!(h.get(|s| &s.template_limit_drops), 1);
    assert_eq!(h.feed(ROUTER, &v9(6, 0, &[set(256, &rec)])), 1);
}

#[test]
fn restored_exporters_keep_their_place_for_a_window() {
    let mut h = Harness::new(Limits { max_exporters: 2, ..Limits::default() });
    let mut confirmed = exporter(A, 9, 0);
    confirmed["templates"] = json!([flow_spec(256)]);
    confirmed["confirmed"] = json!(true);
    // A file written before `confirmed` was saved: the exporter carried data, no more is known.
    let older = exporter("192.0.2.2", 9, 0);
    restore(&mut h, vec![confirmed, older]);
    // A newcomer takes the place of the one not known to be confirmed, not of the router whose
    // sequence numbers continued before the restart, though neither was heard since.
    let newcomer = |seq| v9(seq, 0, &[set(0, &template(256, FLOW)), set(256, &flow(2, 5))]);
    assert_eq!(h.feed("192.0.2.9", &newcomer(0)), 5);
    assert_eq!(h.feed("192.0.2.9", &newcomer(1)), 5);
    assert_eq!((h.get(|s| &s.exporter_evictions), h.get(|s| &s.denied_domain_limit)), (1, 0));
    assert_eq!(h.feed("192.0.2.10", &newcomer(0)), 0);
    assert_eq!(h.get(|s| &s.denied_domain_limit), 1);
    // The router, heard again, decodes with its restored template.
    assert_eq!(h.feed(A, &v9(7, 0, &[set(256, &flow(2, 6))])), 6);
    // Not heard for a window after the restart, restored state is idle and makes way.
    let mut h = Harness::new(Limits { max_exporters: 1, ..Limits::default() });
    let mut confirmed = exporter(A, 9, 0);
    confirmed["confirmed"] = json!(true);
    restore(&mut h, vec![confirmed]);
    h.t += RECENT - Duration::from_secs(1);
    assert_eq!(h.feed("192.0.2.9", &newcomer(0)), 0);
    h.t += Duration::from_secs(1);
    assert_eq!(h.feed("192.0.2.9", &newcomer(0)), 5);
    assert_eq!((h.get(|s| &s.exporter_evictions), h.get(|s| &s.denied_domain_limit)), (1, 1));
}

#[test]
fn eviction_drops_and_counts_the_held_data() {
    let mut h = Harness::new(Limits { max_exporters: 1, ..Limits::default() });
    h.feed(A, &v9(1, 0, &[set(256, &flow(2, 5))]));
    assert_eq!((h.get(|s| &s.pending_sets), h.get(|s| &s.pending_bytes)), (1, 16));
    // Straight to the table, past the window, without `decode`'s expiry running first (which
    // through `decode` would have dropped the set already).
    let key = ExporterKey { addr: "192.0.2.9".parse().unwrap(), version: 9, domain: 0 };
    assert!(h.dec.store.exporter(key, h.t + RECENT).is_some());
    assert_eq!(h.get(|s| &s.pending_evicted), 1);
    assert_eq!((h.get(|s| &s.pending_sets), h.get(|s| &s.pending_bytes)), (0, 0));
}

#[test]
fn v5_engines_count_against_the_domain_bound() {
    let mut h = Harness::new(Limits { max_domains_per_exporter: 8, ..Limits::default() });
    let rec = FlowRecord {
        src: Some("192.168.1.2".parse().unwrap()),
        dst: Some("8.8.8.8".parse().unwrap()),
        bytes: 100,
        packets: 1,
        ..FlowRecord::default()
    };
    let datagram = |engine: u16, seq: u32| {
        let mut d = legacy::encode(&[rec], seq, 0, 0);
        d[20..22].copy_from_slice(&engine.to_be_bytes()); // engine type, engine id
        d
    };
    // 8 engines, each twice with continuing sequence numbers (v5 counts flows): confirmed.
    let mut got = 0;
    for seq in 0..2 {
        for engine in 0u16..8 {
            got += h.feed(A, &datagram(engine, seq));
        }
    }
    // 12 more from the same address find its 8 places held.
    for engine in 8u16..20 {
        got += h.feed(A, &datagram(engine, 0));
    }
    assert_eq!(got, 16 * 100);
    assert_eq!(h.get(|s| &s.denied_domain_limit), 12);
    assert_eq!(h.dec.exporters().len(), 8);
    let r = &h.dec.refused()[0];
    assert_eq!((r.key.version, r.key.domain, r.why, r.limit, r.datagrams), (5, 19, Refusal::Domains, 8, 12));
}

/// RFC 5103 §6.1: reverse elements are the forward ones under Private Enterprise Number 29305.
const REV: u32 = 29305;

#[test]
fn reverse_delta_counts_fill_the_reverse_direction_sampled() {
    let mut h = Harness::new(Limits::default());
    let tmpl = ipfix_template(
        256,
        &[
            (8, 4, 0),   // sourceIPv4Address
            (12, 4, 0),  // destinationIPv4Address
            (1, 4, 0),   // octetDeltaCount
            (2, 4, 0),   // packetDeltaCount
            (1, 4, REV), // reverseOctetDeltaCount
            (2, 4, REV), // reversePacketDeltaCount
            (1, 4, 9),   // element 1 of another enterprise: not a count we know
            (34, 2, 0),  // samplingInterval
        ],
    );
    let mut rec = vec![192, 168, 1, 10, 203, 0, 113, 5]; // src, dst
    rec.extend(540u32.to_be_bytes()); // octets
    rec.extend(6u32.to_be_bytes()); // packets
    rec.extend(3777u32.to_be_bytes()); // reverse octets
    rec.extend(5u32.to_be_bytes()); // reverse packets
    rec.extend(999_999u32.to_be_bytes()); // enterprise 9's element 1
    rec.extend(10u16.to_be_bytes()); // 1 in 10
    let r = h.records(A, &ipfix(0, 0, &[set(2, &tmpl), set(256, &rec)]));
    assert_eq!(r.len(), 1);
    let r = r[0];
    assert_eq!((r.bytes, r.packets, r.rev_bytes, r.rev_packets, r.sampling), (5400, 60, 37770, 50, 10));
}

#[test]
fn reverse_totals_without_deltas_and_impossible_lengths() {
    let mut h = Harness::new(Limits::default());
    // Totals both ways and no delta counts (as YAF exports them).
    let totals = ipfix_template(
        256,
        &[
            (8, 4, 0),    // sourceIPv4Address
            (12, 4, 0),   // destinationIPv4Address
            (85, 8, 0),   // octetTotalCount
            (86, 8, 0),   // packetTotalCount
            (85, 8, REV), // reverseOctetTotalCount
            (86, 8, REV), // reversePacketTotalCount
        ],
    );
    let mut rec = vec![192, 168, 1, 10, 203, 0, 113, 5]; // src, dst
    for x in [132u64, 2, 200, 3] {
        rec.extend(x.to_be_bytes()); // octets, packets, reverse octets, reverse packets
    }
    // A reverse octet count 12 bytes long cannot be: skipped like any such field, and the fields
    // after it still read at their place.
    let odd = ipfix_template(
        257,
        &[
            (1, 12, REV), // reverseOctetDeltaCount, impossible length
            (8, 4, 0),    // sourceIPv4Address
            (12, 4, 0),   // destinationIPv4Address
            (1, 4, 0),    // octetDeltaCount
            (2, 4, 0),    // packetDeltaCount
            (2, 4, REV),  // reversePacketDeltaCount
        ],
    );
    let mut rec2 = vec![0xee; 12]; // the skipped field
    rec2.extend([192, 168, 1, 11, 203, 0, 113, 5]); // src, dst
    for x in [70u32, 1, 4] {
        rec2.extend(x.to_be_bytes()); // octets, packets, reverse packets
    }
    let got = h.records(A, &ipfix(0, 0, &[set(2, &[totals, odd].concat()), set(256, &rec), set(257, &rec2)]));
    let counts: Vec<_> = got.iter().map(|r| (r.src.unwrap(), r.bytes, r.packets, r.rev_bytes, r.rev_packets)).collect();
    let host = |h: &str| h.parse::<IpAddr>().unwrap();
    assert_eq!(counts, [(host("192.168.1.10"), 132, 2, 200, 3), (host("192.168.1.11"), 70, 1, 0, 4)]);
    assert_eq!(h.get(|s| &s.malformed_records), 0);
}

#[test]
fn data_without_its_template_is_accounted_until_the_template_comes() {
    let mut h = Harness::new(Limits::default());
    let tmpl = set(2, &template(256, FLOW));
    h.feed("10.0.0.1", &ipfix(0, 1, &[set(256, &flow(2, 100)), set(300, &flow(3, 100))]));
    h.t += Duration::from_secs(5);
    h.feed("10.0.0.1", &ipfix(0, 1, &[set(256, &flow(2, 100))]));
    let e = &h.dec.exporters()[0];
    assert_eq!((e.missing.ids.clone(), e.missing.sets, e.records), (vec![256, 300], 3, 0));
    let (first, last) = (e.missing.first.unwrap(), e.missing.last.unwrap());
    assert_eq!(last - first, Duration::from_secs(5));
    assert_eq!(e.heard, Some(h.t));
    // 256 comes: its held data decodes; 300 still waits, the account kept.
    assert_eq!(h.feed("10.0.0.1", &ipfix(1, 1, &[tmpl])), 200);
    let e = &h.dec.exporters()[0];
    assert_eq!((e.missing.ids.clone(), e.missing.sets, e.records), (vec![300], 3, 2));
    // 300 comes too: nothing waits, the account starts over.
    h.feed("10.0.0.1", &ipfix(1, 1, &[set(2, &template(300, FLOW))]));
    assert_eq!(h.dec.exporters()[0].missing, Default::default());
}
