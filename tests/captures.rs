//! Golden tests over every NetFlow/IPFIX capture in ../shared/captures: flowpi's decode of each
//! file must agree with tshark (an independent decoder) address by address, and with nfdump on
//! sampled totals, except where the table below says why not.
//!
//! Sampling policy: flowpi multiplies bytes and packets by the sampling rate (v5 header, v9/IPFIX
//! options data, or the config), as nfdump does; tshark reports raw values, so against tshark the
//! raw values (counts divided by the record's rate) are compared.

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Instant;

use common::captures;
use flowpi::decode::{DecodeError, Decoder, FlowRecord, Limits};
use flowpi::stats::Stats;
use serde_json::Value;

#[derive(Default)]
pub struct Decoded {
    pub flows: u64,
    pub unaddressed: u64,
    pub errors: Vec<DecodeError>,
    /// Raw (unsampled) per-address sums, as tshark reports them.
    pub per_src: BTreeMap<String, (u64, u64)>,
    pub per_dst: BTreeMap<String, (u64, u64)>,
    /// Sampled totals, as nfdump reports them.
    pub bytes: u64,
    pub packets: u64,
    pub stats: std::sync::Arc<Stats>,
}

/// Decode every UDP payload sent to one of `ports` (all if empty), in order, with one decoder.
pub fn decode_file(path: &Path, ports: &[u16]) -> Decoded {
    let data = std::fs::read(path).unwrap();
    let dgrams: Vec<(IpAddr, Vec<u8>)> = if flowpi::pcap::is_pcap(&data) {
        flowpi::pcap::udp_payloads(&data)
            .unwrap()
            .into_iter()
            .filter(|d| ports.is_empty() || ports.contains(&d.dst.port()))
            .map(|d| (d.src.ip(), d.payload))
            .collect()
    } else {
        let from: IpAddr = "192.0.2.1".parse().unwrap();
        flowpi::pcap::split_raw(&data).into_iter().map(|d| (from, d.to_vec())).collect()
    };
    let mut out = Decoded::default();
    let mut dec = Decoder::new(Limits::default(), Default::default(), out.stats.clone());
    for (from, d) in dgrams {
        let mut recs: Vec<FlowRecord> = Vec::new();
        match dec.decode(from, &d, Instant::now(), &mut |r| recs.push(*r)) {
            Ok(info) => out.errors.extend(info.error),
            Err(e) => out.errors.push(e),
        }
        for r in recs {
            out.flows += 1;
            out.bytes += r.bytes;
            out.packets += r.packets;
            if r.src.is_none() && r.dst.is_none() {
                // No address fields in the template (layer-2 or MPLS-only exports): tshark leaves
                // these out of its per-address figures too.
                out.unaddressed += 1;
                continue;
            }
            let rate = u64::from(r.sampling.max(1));
            if let Some(src) = r.src {
                let s = out.per_src.entry(src.to_string()).or_default();
                s.0 += r.bytes / rate;
                s.1 += r.packets / rate;
            }
            if let Some(dst) = r.dst {
                let t = out.per_dst.entry(dst.to_string()).or_default();
                t.0 += r.bytes / rate;
                t.1 += r.packets / rate;
            }
        }
    }
    out
}

fn per_addr(v: &Value) -> BTreeMap<String, (u64, u64)> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, x)| (k.clone(), (x["bytes"].as_u64().unwrap(), x["packets"].as_u64().unwrap())))
        .collect()
}

/// The peer whose reading of a capture flowpi matches, where the other one differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    Tshark,
    Nfdump,
}

/// Why flowpi differs on a capture, and which peer (if either) still agrees: that comparison is
/// still made.
struct Why {
    text: &'static str,
    agrees: Option<Peer>,
}

// Why flowpi differs from a peer on some captures. Each is a policy or a peer's limitation,
// checked by hand against the RFC or the vendor's format; flowpi's totals for those files are
// pinned so a change shows.
const HOLD: Why = Why {
    text: "a data set arrives before its template (earlier in the same datagram, or a datagram before); flowpi holds it and decodes it when the template comes, tshark and nfdump drop it",
    agrees: None,
};
const HOLD_NFDUMP: Why = Why {
    text: "a data set arrives before its template; flowpi holds it and decodes it when the template comes, and so does nfdump; tshark drops it",
    agrees: Some(Peer::Nfdump),
};
const SAMPLING: Why = Why {
    text: "the exporter announces its sampling rate in options data and flowpi multiplies by it (tshark agrees on the raw values); nfdump applies only rates it can tie to a sampler id",
    agrees: Some(Peer::Tshark),
};
const NSEL: Why = Why {
    text: "no octetDeltaCount: flowpi counts initiatorOctets/responderOctets (231/232) instead, nfdump reports 0 bytes",
    agrees: Some(Peer::Tshark),
};
const USELESS: Why = Why {
    text: "the one decodable record (template 277) carries only licence counters: nothing flowpi counts, so no flow (tshark and nfdump report a record of 0 bytes)",
    agrees: Some(Peer::Tshark),
};
const V7: Why = Why {
    text: "nfdump reads v5's sampling field in bytes 22-23 of the v7 header, which v7 defines as reserved; flowpi does not multiply v7 records",
    agrees: Some(Peer::Tshark),
};
const IPFIXLEN: Why = Why {
    text: "the IPFIX message length field (RFC 7011 §3.1) is 2 bytes shorter than the datagram and the last set runs past it; flowpi trusts the message length and drops that set, as nfdump and nfacctd do; tshark reads to the end of the datagram",
    agrees: Some(Peer::Nfdump),
};
const DUAL: Why = Why {
    text: "the template carries both IPv4 and IPv6 address fields and leaves the unused family zero; tshark always reports the IPv4 one (0.0.0.0 for IPv6 flows), flowpi the one that is set; totals equal nfdump's",
    agrees: Some(Peer::Nfdump),
};
const IXIA: Why = Why {
    text: "tshark reads no record from Ixia's enterprise-specific template; nfdump and nfacctd read the same flows as flowpi",
    agrees: Some(Peer::Nfdump),
};
const YAF: Why = Why {
    text: "YAF exports packetTotalCount (86) without a delta count: flowpi (and nfdump) count it, tshark reports 0 packets",
    agrees: Some(Peer::Nfdump),
};
const V5COUNT: Why = Why {
    text: "v5 header count above 30 in a 1464-byte datagram; tshark ignores the count and reads 30 records, nfdump and nfacctd drop the datagram, as flowpi does (logstash's own test calls it invalid)",
    agrees: Some(Peer::Nfdump),
};
const H3C: Why = Why {
    text: "tshark stops at H3C's variable-length (65535) string fields in NetFlow v9 and reads one record; nfdump and nfacctd read all 16, as flowpi does",
    agrees: Some(Peer::Nfdump),
};
const INVALID9: Why = Why {
    text: "tshark refuses the datagram (its count field is off); nfdump reads the same 2 flows as flowpi, and flowpi applies the 1-in-100 sampling the exporter's options data announces",
    agrees: None,
};
const REASSIGN: Why = Why {
    text: "template ids are reassigned from options to data templates within the capture; tshark keeps the first meaning (76 options-like records without addresses), nfdump and flowpi the latest (9 flows)",
    agrees: Some(Peer::Nfdump),
};

/// (capture, why flowpi differs from tshark and/or nfdump, flowpi's (flows, bytes, packets))
const DIFFERS: &[(&str, Why, (u64, u64, u64))] = &[
    ("akvorado/netflow__data+templates.pcap", HOLD, (21, 5832900, 6600)),
    ("akvorado/netflow__mpls.pcap", SAMPLING, (2, 9790, 110)),
    ("akvorado/netflow__physicalinterfaces.pcap", SAMPLING, (8, 31111000, 29000)),
    ("derived/akvorado/multiplesamplingrates.pcap", SAMPLING, (12, 32332000, 112000)),
    ("derived/akvorado/samplingrate.pcap", SAMPLING, (6, 7659520, 12288)),
    ("derived/graylog-plugin-netflow/netflow-v9-1.pcap", HOLD_NFDUMP, (6, 6954, 44)),
    (
        "derived/hexsrc/netflow_parser__tests__it_parses_ipfix_mixed_enteprise_and_non_enterprise_fields.pcap",
        NSEL,
        (16, 223649, 1291),
    ),
    ("derived/hexsrc/netflow_parser__tests__it_parses_ipfix_multiple_flow_records.pcap", USELESS, (0, 0, 0)),
    ("derived/hexsrc/netflow_parser__tests__it_parses_v7_packet.pcap", V7, (1, 66051, 101124105)),
    ("derived/hexsrc/python-netflow-v9-softflowd__v9_tpl_mixed.pcap", HOLD, (8, 164207, 208)),
    ("derived/hexsrc/scapy__netflow_uts__NetflowV10_IPFIX_build.pcap", IPFIXLEN, (0, 0, 0)),
    ("derived/hexsrc/scapy__netflow_uts__NetflowV10_IPFIX_dissection_without_padding_GH3101.pcap", IPFIXLEN, (0, 0, 0)),
    ("derived/logstash-codec-netflow/ipfix_ixia_256.pcap", IXIA, (1, 360, 4)),
    ("derived/logstash-codec-netflow/ipfix_ixia_271.pcap", IXIA, (2, 132, 2)),
    ("derived/logstash-codec-netflow/ipfix_procera.pcap", DUAL, (8, 0, 0)),
    ("derived/logstash-codec-netflow/ipfix_yaf.pcap", YAF, (2, 304, 6)),
    ("derived/logstash-codec-netflow/nf5_invalid01.pcap", V5COUNT, (0, 0, 0)),
    ("derived/logstash-codec-netflow/nf5_invalid02.pcap", V5COUNT, (0, 0, 0)),
    ("derived/logstash-codec-netflow/nf9_h3c.pcap", H3C, (16, 8729687, 6113)),
    ("derived/logstash-codec-netflow/nf9_invalid01.pcap", INVALID9, (2, 19400, 200)),
    ("graylog-plugin-netflow/netflow9.pcap", HOLD, (21, 730200, 2300)),
    ("graylog-plugin-netflow/nprobe-netflow9-4.pcap", HOLD, (15, 33915, 74)),
    ("pmacct/106-IPFIXv10-HUAWEI-vrf_name__traffic-00.pcap", DUAL, (3, 284557, 1227)),
    ("pmacct/112-IPFIXv10-CISCO-options-map-reassignment__traffic-00.pcap", REASSIGN, (9, 1197, 19)),
    ("pmacct/400-IPFIXv10-BMP-CISCO-SRv6-multiple-sources__traffic-00.pcap", DUAL, (657, 51607981, 274357)),
    ("pmacct/401-IPFIXv10-BMP-IPv6-CISCO-MPLS-multiple-sources__traffic-00.pcap", DUAL, (748, 58740471, 318954)),
    ("pmacct/401-IPFIXv10-BMP-IPv6-CISCO-MPLS-multiple-sources__traffic-01.pcap", DUAL, (716, 54213467, 294627)),
    ("pmacct/402-IPFIXv10-BMP-IPv6-high-availability__traffic-00.pcap", DUAL, (716, 54213467, 294627)),
    ("pmacct/403-IPFIXv10-BMP-IPv6-CISCO-locrib-peerdown-vrf__traffic-00.pcap", DUAL, (480, 37595573, 208972)),
    ("pmacct/500-IPFIXv10-BGP-CISCO-SRv6__traffic-00.pcap", DUAL, (43, 53644, 558)),
    ("pmacct/501-IPFIXv10-BGP-IPv6-CISCO-MPLS__traffic-00.pcap", DUAL, (74, 5141109, 27813)),
    ("pmacct/502-IPFIXv10-BGP-IPv6-CISCO-SRv6-lcomms__traffic-00.pcap", DUAL, (75, 4989084, 26562)),
];

/// Every capture tshark decoded as NetFlow/IPFIX, with the UDP ports it decoded.
fn netflow_files() -> Vec<(String, Value)> {
    let summary = std::fs::read_to_string(captures().join("expected/TSHARK_SUMMARY.tsv")).unwrap();
    summary
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let versions = cols.get(3)?;
            if !versions.starts_with('v') {
                return None;
            }
            let f = cols[0].trim_start_matches("captures/").to_string();
            let json = captures().join("expected/tshark").join(format!("{}.json", f.replace('/', "__")));
            let v: Value = serde_json::from_str(&std::fs::read_to_string(json).ok()?).ok()?;
            Some((f, v))
        })
        .collect()
}

fn peers() -> BTreeMap<String, (u64, u64, u64)> {
    let text = std::fs::read_to_string(captures().join("expected/PEER_REPLAY_COMPARE.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            Some((c[0].to_string(), (c.get(4)?.parse().ok()?, c.get(5)?.parse().ok()?, c.get(6)?.parse().ok()?)))
        })
        .collect()
}

#[test]
fn every_capture_agrees_with_tshark_and_nfdump_or_says_why() {
    let peers = peers();
    let files = netflow_files();
    assert!(files.len() >= 150, "expected the NetFlow/IPFIX captures, found {}", files.len());
    let (mut vs_tshark, mut vs_nfdump, mut failures) = (0, 0, Vec::new());
    for (f, tshark) in &files {
        let ports: Vec<u16> = tshark["decode_as"].as_object().unwrap().keys().filter_map(|k| k.parse().ok()).collect();
        let got = decode_file(&captures().join(f), &ports);
        let totals = (got.flows, got.bytes, got.packets);
        let tshark_agrees = got.per_src == per_addr(&tshark["per_src"]) && got.per_dst == per_addr(&tshark["per_dst"]);
        let nfdump = peers.get(f);
        let nfdump_agrees = nfdump.is_none_or(|p| *p == totals);
        if let Some((_, why, pinned)) = DIFFERS.iter().find(|(name, _, _)| name == f) {
            if totals != *pinned {
                failures.push(format!("{f}: {totals:?}, pinned {pinned:?} ({})", why.text));
            }
            // The peer the reason names as agreeing must agree, and a reason must still be true:
            // a capture on which both peers now agree is no longer a difference.
            let (want_tshark, want_nfdump) = (why.agrees == Some(Peer::Tshark), why.agrees == Some(Peer::Nfdump));
            if tshark_agrees != want_tshark || (nfdump.is_some() && nfdump_agrees != want_nfdump) {
                failures.push(format!(
                    "{f}: tshark agrees {tshark_agrees}, nfdump {nfdump:?} against {totals:?}, but the reason says {:?} agrees ({})",
                    why.agrees, why.text
                ));
            }
            vs_tshark += usize::from(want_tshark);
            vs_nfdump += usize::from(want_nfdump && nfdump.is_some());
            continue;
        }
        if !tshark_agrees {
            failures.push(format!("{f}: per-address totals differ from tshark's"));
        }
        vs_tshark += 1;
        if let Some(p) = nfdump {
            if !nfdump_agrees {
                failures.push(format!("{f}: (flows, bytes, packets) {totals:?}, nfdump {p:?}"));
            }
            vs_nfdump += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(vs_tshark >= 120 && vs_nfdump >= 60, "compared {vs_tshark} with tshark, {vs_nfdump} with nfdump");
}

#[test]
fn malformed_captures_are_counted_not_fatal() {
    // netflow_parser's "incomplete" v5 packet is 8 bytes: shorter than a v5 header.
    let got =
        decode_file(&captures().join("derived/hexsrc/netflow_parser__tests__it_parses_v5_incomplete_packet.pcap"), &[]);
    assert_eq!((got.flows, got.errors.as_slice()), (0, [DecodeError::Short].as_slice()));
    // A set with an impossible length after two good ones: the good ones are kept.
    let got = decode_file(
        &captures().join("derived/hexsrc/netflow_parser__tests__v9_example_from_integration_test.pcap"),
        &[],
    );
    assert_eq!(got.errors, vec![DecodeError::BadSet]);
    assert_eq!(got.flows, 2);
    // Palo Alto pads its v9 datagrams with zeros after the last flowset: padding, not an error.
    let got = decode_file(&captures().join("derived/logstash-codec-netflow/nf9_paloalto_81.pcap"), &[]);
    assert!(got.errors.is_empty());
    assert_eq!((got.flows, got.bytes), (1, 363));
}

#[test]
fn sampled_v5_header_is_multiplied_like_nfdump() {
    // netflow_parser's v5 vector carries sampling interval 2057 in its header.
    let got = decode_file(&captures().join("derived/hexsrc/netflow_parser__tests__it_parses_v5_packet.pcap"), &[]);
    assert_eq!((got.bytes, got.packets), (66_051 * 2057, 101_124_105 * 2057));
}

#[test]
fn raw_dat_files_split_and_decode() {
    // 12 back-to-back export messages in one file, 30 records in all.
    let got = decode_file(&captures().join("graylog-plugin-netflow/netflow-v5-1.dat"), &[]);
    assert_eq!((got.flows, got.errors.len()), (30, 0));
    let got = decode_file(&captures().join("logstash-codec-netflow/netflow5_test_microtik.dat"), &[]);
    assert_eq!(got.flows, 30);
}

/// Per source and per destination (bytes, packets) from a truth file's flows.
type PerAddr = BTreeMap<String, (u64, u64)>;

fn truth_per_addr(truth: &Value, ipv6: bool) -> (PerAddr, PerAddr) {
    let flows = truth.get("flows").unwrap_or(truth).as_array().unwrap();
    let (mut src, mut dst) = (BTreeMap::new(), BTreeMap::new());
    for f in flows.iter().filter(|f| ipv6 || !f["ipv6"].as_bool().unwrap_or(false)) {
        let (b, p) = (f["bytes"].as_u64().unwrap(), f["packets"].as_u64().unwrap());
        let s: &mut (u64, u64) = src.entry(f["src"].as_str().unwrap().to_string()).or_default();
        s.0 += b;
        s.1 += p;
        let d: &mut (u64, u64) = dst.entry(f["dst"].as_str().unwrap().to_string()).or_default();
        d.0 += b;
        d.1 += p;
    }
    (src, dst)
}

#[test]
fn real_exporters_match_the_known_traffic_exactly() {
    // softflowd exported known traffic as v5 (IPv4 only), v9 and IPFIX; fprobe as v1, v5 and v7.
    for (capture, truth, ipv6) in [
        ("generated/softflowd_v5_synth.pcap", "generated/synth_traffic.truth.json", false),
        ("generated/softflowd_v9_synth.pcap", "generated/synth_traffic.truth.json", true),
        ("generated/softflowd_v10_synth.pcap", "generated/synth_traffic.truth.json", true),
        ("generated/fprobe_v1_lo_udp.pcap", "generated/fprobe_v1_lo_udp.truth.json", false),
        ("generated/fprobe_v5_lo_udp.pcap", "generated/fprobe_v5_lo_udp.truth.json", false),
        ("generated/fprobe_v7_lo_udp.pcap", "generated/fprobe_v7_lo_udp.truth.json", false),
    ] {
        let got = decode_file(&captures().join(capture), &[]);
        let truth: Value = serde_json::from_str(&std::fs::read_to_string(captures().join(truth)).unwrap()).unwrap();
        let (src, dst) = truth_per_addr(&truth, ipv6);
        assert!(got.errors.is_empty(), "{capture}: {:?}", got.errors);
        assert_eq!(got.per_src, src, "{capture}");
        assert_eq!(got.per_dst, dst, "{capture}");
    }
}

#[test]
fn project_copies_of_the_samples_are_the_shared_ones() {
    // tests/data holds the generated captures (no third-party content) for the demo and browser test.
    for f in
        ["softflowd_v5_synth.pcap", "softflowd_v9_synth.pcap", "softflowd_v10_synth.pcap", "synth_traffic.truth.json"]
    {
        let ours = std::fs::read(Path::new("tests/data").join(f)).unwrap();
        assert_eq!(ours, std::fs::read(captures().join("generated").join(f)).unwrap(), "{f}");
    }
}
