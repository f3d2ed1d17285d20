//! RFC 5103 bidirectional IPFIX from real exporters: softflowd's `-b` export of known two-way
//! traffic must decode to the known bytes and packets in both directions, and the YAF and
//! ipfixprobe biflows among the shared captures to what tshark reads in them.
//!
//! tests/data/bidir_traffic.pcap and its truth file are made by tests/tools/bidir_capture.py,
//! which also ran Debian's softflowd 1.1.0 (`-r bidir_traffic.pcap -v 10 -b -6`) and stored what
//! it sent as tests/data/softflowd_v10_bidir.pcap.

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Instant;

use flowpi::decode::{Decoder, FlowRecord, Limits};
use flowpi::stats::Stats;
use serde_json::Value;

fn records(path: &Path) -> Vec<FlowRecord> {
    let data = std::fs::read(path).unwrap();
    let stats = std::sync::Arc::new(Stats::default());
    let mut dec = Decoder::new(Limits::default(), Default::default(), stats);
    let mut out = Vec::new();
    for d in flowpi::pcap::udp_payloads(&data).unwrap() {
        let info = dec.decode(d.src.ip(), &d.payload, Instant::now(), &mut |r| out.push(*r)).unwrap();
        assert_eq!(info.error, None, "{}", path.display());
    }
    out
}

/// One direction of a flow: (src, dst, protocol, src port, dst port).
type Way = (IpAddr, IpAddr, u8, u16, u16);

#[test]
fn softflowd_biflows_give_both_directions_exactly() {
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string("tests/data/bidir_traffic.truth.json").unwrap()).unwrap();
    let mut want: BTreeMap<Way, (u64, u64)> = BTreeMap::new();
    for f in truth["flows"].as_array().unwrap() {
        let addr = |k: &str| f[k].as_str().unwrap().parse::<IpAddr>().unwrap();
        let proto = match f["proto"].as_str().unwrap() {
            "tcp" => 6,
            "udp" => 17,
            p => panic!("protocol {p}"),
        };
        let port = |k: &str| f[k].as_u64().unwrap() as u16;
        let way = (addr("src"), addr("dst"), proto, port("sport"), port("dport"));
        want.insert(way, (f["bytes"].as_u64().unwrap(), f["packets"].as_u64().unwrap()));
    }
    let recs = records(Path::new("tests/data/softflowd_v10_bidir.pcap"));
    // One record per conversation: a TCP and a UDP one both ways, an IPv6 UDP one both ways, and
    // a UDP flow that got no answer.
    assert_eq!(recs.len(), 4);
    let mut seen: BTreeMap<Way, (u64, u64)> = BTreeMap::new();
    for r in &recs {
        let (src, dst) = (r.src.unwrap(), r.dst.unwrap());
        let fwd: Way = (src, dst, r.protocol, r.src_port, r.dst_port);
        let rev: Way = (dst, src, r.protocol, r.dst_port, r.src_port);
        assert_eq!(r.sampling, 1);
        // softflowd puts the lower address first, not the side that opened the conversation: the
        // forward direction is whichever the record names first.
        assert_eq!((r.bytes, r.packets), want[&fwd], "forward {fwd:?}");
        assert_eq!((r.rev_bytes, r.rev_packets), want.get(&rev).copied().unwrap_or((0, 0)), "reverse of {fwd:?}");
        seen.insert(fwd, (r.bytes, r.packets));
        if r.rev_packets != 0 {
            seen.insert(rev, (r.rev_bytes, r.rev_packets));
        }
    }
    // Every direction of the known traffic, once.
    assert_eq!(seen, want);
    // Two of them spelled out, so the figures stay readable: the TCP connection.
    let tcp = recs.iter().find(|r| r.protocol == 6).unwrap();
    assert_eq!(tcp.src, Some("192.168.1.10".parse().unwrap()));
    assert_eq!((tcp.bytes, tcp.packets, tcp.rev_bytes, tcp.rev_packets), (540, 6, 3777, 5));
    let unanswered = recs.iter().find(|r| r.dst_port == 514).unwrap();
    assert_eq!((unanswered.bytes, unanswered.packets, unanswered.rev_bytes, unanswered.rev_packets), (474, 3, 0, 0));
}

#[test]
fn other_exporters_biflows_agree_with_tshark() {
    // (capture, records, reverse bytes and packets summed over them as tshark 4.0 reads them).
    // YAF sends total counts (85/86 and their reverse), ipfixprobe delta counts (1/2).
    for (file, n, rev) in [
        ("derived/logstash-codec-netflow/ipfix_yaf.pcap", 2, (292, 4)),
        ("derived/akvorado/ipfixprobe.pcap", 4, (1674, 26)),
    ] {
        let recs = records(&common::captures().join(file));
        assert_eq!(recs.len(), n, "{file}");
        let sum = recs.iter().fold((0, 0), |(b, p), r| (b + r.rev_bytes, p + r.rev_packets));
        assert_eq!(sum, rev, "{file}");
    }
}
