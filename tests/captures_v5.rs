//! Golden tests: every NetFlow v5 capture in ../shared/captures decoded by flowpi must agree with
//! tshark (an independent decoder) record for record and address by address, with nfdump on
//! totals, and with the truth files of the generated captures exactly.
//!
//! Sampling policy: flowpi multiplies bytes and packets by the header's sampling interval, as
//! nfdump does; tshark reports raw values, so its figures are multiplied by the file's interval.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::captures;
use flowpi::decode::{DecodeError, Decoder, FlowRecord, Limits};
use serde_json::Value;

#[derive(Default, Debug, PartialEq)]
struct Decoded {
    records: u64,
    errors: Vec<DecodeError>,
    sampling: Vec<u64>,
    per_src: BTreeMap<String, (u64, u64)>,
    per_dst: BTreeMap<String, (u64, u64)>,
    bytes: u64,
    packets: u64,
}

fn decode_file(path: &Path) -> Decoded {
    let data = std::fs::read(path).unwrap();
    let dgrams: Vec<Vec<u8>> = if flowpi::pcap::is_pcap(&data) {
        flowpi::pcap::udp_payloads(&data).unwrap().into_iter().map(|d| d.payload).collect()
    } else {
        flowpi::pcap::split_raw(&data).into_iter().map(|d| d.to_vec()).collect()
    };
    let mut out = Decoded::default();
    let mut dec = Decoder::new(Limits::default(), Default::default(), Default::default());
    let from: std::net::IpAddr = "192.0.2.1".parse().unwrap();
    for d in dgrams {
        if d.len() >= 24 {
            out.sampling.push(flowpi::decode::legacy::sampling_interval(u16::from_be_bytes([d[22], d[23]])));
        }
        let mut recs: Vec<FlowRecord> = Vec::new();
        match dec.decode(from, &d, std::time::Instant::now(), &mut |r| recs.push(*r)) {
            Ok(info) => assert_eq!(info.records, recs.len()),
            Err(e) => out.errors.push(e),
        }
        for r in recs {
            out.records += 1;
            out.bytes += r.bytes;
            out.packets += r.packets;
            let s = out.per_src.entry(r.src.to_string()).or_default();
            s.0 += r.bytes;
            s.1 += r.packets;
            let t = out.per_dst.entry(r.dst.to_string()).or_default();
            t.0 += r.bytes;
            t.1 += r.packets;
        }
    }
    out
}

fn per_addr(v: &Value, mult: u64) -> BTreeMap<String, (u64, u64)> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, x)| (k.clone(), (x["bytes"].as_u64().unwrap() * mult, x["packets"].as_u64().unwrap() * mult)))
        .collect()
}

/// Captures flowpi decodes differently from tshark, and why.
const DIFFERS_FROM_TSHARK: &[(&str, &str)] = &[
    (
        "derived/logstash-codec-netflow/nf5_invalid01.pcap",
        "header count is 55582 (Cisco's v5 maximum is 30) in a 1464-byte datagram; tshark ignores the \
         count and reads 30 records, nfdump and nfacctd drop the datagram, logstash's own test calls it invalid",
    ),
    (
        "derived/logstash-codec-netflow/nf5_invalid02.pcap",
        "header count is 163 (maximum 30); same as invalid01: two of three peers drop it",
    ),
];

/// Every capture tshark saw as NetFlow v5 only.
fn v5_files() -> Vec<String> {
    let summary = std::fs::read_to_string(captures().join("expected/TSHARK_SUMMARY.tsv")).unwrap();
    summary
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let versions = cols.get(3)?;
            let v5_only = versions.strip_prefix("v5x").is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()));
            v5_only.then(|| cols[0].trim_start_matches("captures/").to_string())
        })
        .collect()
}

#[test]
fn every_v5_capture_agrees_with_tshark_and_nfdump() {
    let files = v5_files();
    assert!(files.len() >= 15, "expected the v5 captures, found {files:?}");
    let peers = std::fs::read_to_string(captures().join("expected/PEER_REPLAY_COMPARE.tsv")).unwrap();
    let mut checked_peer = 0;
    for f in &files {
        let got = decode_file(&captures().join(f));
        let tshark: Value = serde_json::from_str(
            &std::fs::read_to_string(captures().join("expected/tshark").join(format!("{}.json", f.replace('/', "__"))))
                .unwrap(),
        )
        .unwrap();
        if let Some((_, why)) = DIFFERS_FROM_TSHARK.iter().find(|(name, _)| name == f) {
            // Dropped whole, as nfdump and nfacctd do; see the reason in the table.
            assert_eq!((got.records, got.errors.as_slice()), (0, [DecodeError::BadCount].as_slice()), "{f}: {why}");
            continue;
        }
        if tshark["malformed"].as_u64().unwrap() > 0 {
            // tshark flags it malformed; flowpi must drop it whole, counting why.
            assert_eq!(got.records, 0, "{f}");
            // (netflow_parser's "incomplete packet" is 8 bytes: shorter than a v5 header.)
            assert!(matches!(got.errors.as_slice(), [DecodeError::Short | DecodeError::Truncated]), "{f}: {:?}", got.errors);
            continue;
        }
        assert!(got.errors.is_empty(), "{f}: {:?}", got.errors);
        assert_eq!(got.records, tshark["data_records"].as_u64().unwrap(), "{f}: records");
        let rate = got.sampling[0];
        assert!(got.sampling.iter().all(|r| *r == rate), "{f}: mixed sampling {:?}", got.sampling);
        assert_eq!(got.per_src, per_addr(&tshark["per_src"], rate), "{f}: per source");
        assert_eq!(got.per_dst, per_addr(&tshark["per_dst"], rate), "{f}: per destination");
        // nfdump multiplies by the sampling interval as flowpi does: totals must match it exactly.
        if let Some(row) = peers.lines().find(|l| l.split('\t').next() == Some(f.as_str())) {
            let c: Vec<&str> = row.split('\t').collect();
            assert_eq!(got.records.to_string(), c[4], "{f}: nfdump flows");
            assert_eq!(got.bytes.to_string(), c[5], "{f}: nfdump bytes");
            assert_eq!(got.packets.to_string(), c[6], "{f}: nfdump packets");
            checked_peer += 1;
        }
    }
    assert!(checked_peer >= 5, "nfdump comparison ran for {checked_peer} files");
}

#[test]
fn sampled_header_is_multiplied_like_nfdump() {
    // netflow_parser's v5 vector carries sampling interval 2057 in its header.
    let got = decode_file(&captures().join("derived/hexsrc/netflow_parser__tests__it_parses_v5_packet.pcap"));
    assert_eq!(got.sampling, vec![2057]);
    assert_eq!((got.bytes, got.packets), (66_051 * 2057, 101_124_105 * 2057));
}

#[test]
fn raw_dat_files_split_and_decode() {
    // 12 back-to-back export messages in one file, 30 records in all.
    let got = decode_file(&captures().join("graylog-plugin-netflow/netflow-v5-1.dat"));
    assert_eq!((got.records, got.errors.len()), (30, 0));
    let got = decode_file(&captures().join("logstash-codec-netflow/netflow5_test_microtik.dat"));
    assert_eq!(got.records, 30);
}

/// Traffic whose totals are known exactly, exported by real exporters.
fn truth_per_addr(truth: &Value) -> (BTreeMap<String, (u64, u64)>, BTreeMap<String, (u64, u64)>) {
    let flows = truth.get("flows").unwrap_or(truth).as_array().unwrap();
    let (mut src, mut dst) = (BTreeMap::new(), BTreeMap::new());
    for f in flows.iter().filter(|f| !f["ipv6"].as_bool().unwrap_or(false)) {
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
fn generated_exports_match_their_truth_exactly() {
    for (capture, truth) in [
        ("generated/softflowd_v5_synth.pcap", "generated/synth_traffic.truth.json"),
        ("generated/fprobe_v5_lo_udp.pcap", "generated/fprobe_v5_lo_udp.truth.json"),
    ] {
        let got = decode_file(&captures().join(capture));
        let truth: Value = serde_json::from_str(&std::fs::read_to_string(captures().join(truth)).unwrap()).unwrap();
        let (src, dst) = truth_per_addr(&truth);
        assert_eq!(got.per_src, src, "{capture}");
        assert_eq!(got.per_dst, dst, "{capture}");
    }
}

#[test]
fn project_copy_of_the_sample_is_the_shared_one() {
    // tests/data holds the generated captures (no third-party content) for the demo and browser test.
    let ours = std::fs::read("tests/data/softflowd_v5_synth.pcap").unwrap();
    let shared = std::fs::read(captures().join("generated/softflowd_v5_synth.pcap")).unwrap();
    assert_eq!(ours, shared);
}
