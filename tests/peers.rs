//! A real exporter as a peer: softflowd (Debian's package) turns a capture of known traffic into
//! NetFlow v5, v9 and IPFIX sent to a running flowpi on loopback, and /api/hosts must equal the
//! known totals exactly. Also: `flowpi replay` of the same exports, template persistence across a
//! restart, and data held until its template arrives. softflowd's NetFlow v1 packs more records
//! into a datagram than Cisco's v1 allows (24): those are read, and counted as lenient.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// Expected /api/hosts rows (ip -> rx_bytes, tx_bytes, rx_packets, tx_packets) for the local
/// hosts of the known traffic; `ipv6` false leaves out the IPv6 flows (v5 cannot carry them).
fn expected_hosts(ipv6: bool, times: u64) -> BTreeMap<String, (u64, u64, u64, u64)> {
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string("tests/data/synth_traffic.truth.json").unwrap()).unwrap();
    let local = |a: &str| a.starts_with("192.168.") || a.starts_with("fd00");
    let mut out: BTreeMap<String, (u64, u64, u64, u64)> = BTreeMap::new();
    for f in truth["flows"].as_array().unwrap() {
        if f["ipv6"].as_bool().unwrap() && !ipv6 {
            continue;
        }
        let (b, p) = (f["bytes"].as_u64().unwrap() * times, f["packets"].as_u64().unwrap() * times);
        let (s, d) = (f["src"].as_str().unwrap(), f["dst"].as_str().unwrap());
        if local(s) {
            let e = out.entry(s.to_string()).or_default();
            e.1 += b;
            e.3 += p;
        }
        if local(d) {
            let e = out.entry(d.to_string()).or_default();
            e.0 += b;
            e.2 += p;
        }
    }
    out
}

fn softflowd(version: &str, to: std::net::SocketAddr) {
    run_softflowd("tests/data/synth_traffic.pcap", &["-v", version], to);
}

#[test]
fn softflowd_v5_v9_ipfix_give_the_known_totals() {
    for (version, ipv6) in [("5", false), ("9", true), ("10", true)] {
        let d = Daemon::start("");
        softflowd(version, d.udp);
        let want = expected_hosts(ipv6, 1);
        d.wait_for(&format!("softflowd v{version} totals"), |d| d.hosts() == want);
        assert_eq!(d.metric("flowpi_decode_errors_total{kind=\"bad_set\"}"), 0);
        let exporters = d.json("/api/exporters");
        assert_eq!(exporters[0]["version"].as_u64().unwrap().to_string(), version, "{exporters}");
    }
}

#[test]
fn replay_tool_sends_captures_to_a_running_daemon() {
    let d = Daemon::start("");
    let out = Command::new(BIN)
        .args(["replay", "tests/data/softflowd_v9_synth.pcap", "tests/data/softflowd_v10_synth.pcap", "--to"])
        .arg(d.udp.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("sent 2 datagrams to {}", d.udp));
    // The same traffic exported twice (v9 and IPFIX, two exporters as far as flowpi can tell).
    d.wait_for("both exports", |d| d.hosts() == expected_hosts(true, 2));
    assert_eq!(d.json("/api/exporters").as_array().unwrap().len(), 2);
}

/// The softflowd v9 export split in two: the template flowset alone, and the datagram without it.
fn split_template(dgram: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut tmpl = dgram[..20].to_vec();
    let mut data = dgram[..20].to_vec();
    let mut at = 20;
    while at + 4 <= dgram.len() {
        let id = u16::from_be_bytes([dgram[at], dgram[at + 1]]);
        let len = usize::from(u16::from_be_bytes([dgram[at + 2], dgram[at + 3]]));
        let set = &dgram[at..at + len];
        if id == 0 {
            tmpl.extend_from_slice(set)
        } else {
            data.extend_from_slice(set)
        }
        at += len;
    }
    (tmpl, data)
}

#[test]
fn templates_survive_a_restart_and_data_waits_for_its_template() {
    let v9 = flowpi::pcap::udp_payloads(&std::fs::read("tests/data/softflowd_v9_synth.pcap").unwrap()).unwrap();
    let (tmpl, data) = split_template(&v9[0].payload);
    let tmp = tempfile::tempdir().unwrap();

    // Data first: held, not lost; decoded once the template comes.
    let mut d = Daemon::start_in(tmp.path(), "");
    d.send(&data);
    d.wait_for("held set", |d| d.metric("flowpi_pending_sets") >= 1);
    assert!(d.hosts().is_empty());
    d.send(&tmpl);
    d.wait_for("held data decoded", |d| d.hosts() == expected_hosts(true, 1));
    assert!(d.metric("flowpi_pending_decoded_total") >= 1);
    assert_eq!(d.stop(), 0);
    let state = std::fs::read_to_string(tmp.path().join("archive/exporters.json")).unwrap();
    assert!(state.contains("\"templates\""), "{state}");

    // After a restart the saved template decodes data at once: nothing is held.
    std::thread::sleep(Duration::from_millis(1100));
    let d = Daemon::start_in(tmp.path(), "");
    d.send(&data);
    d.wait_for("data decoded with the saved template", |d| d.hosts() == expected_hosts(true, 1));
    assert_eq!(d.metric("flowpi_pending_sets"), 0);
    assert_eq!(d.metric("flowpi_missing_template_sets_total"), 0);
    assert!(d.log().contains("restored"), "{}", d.log());
}

/// A classic pcap (Ethernet, IPv4, UDP) of one-way flows: (source, destination, source port,
/// packets, payload bytes each). Every packet within the same second, so softflowd expires all
/// flows at the end of the file; IP checksums are left 0 (softflowd does not check them).
fn udp_pcap(path: &std::path::Path, flows: &[(String, String, u16, u32, u16)]) {
    let mut out = Vec::new();
    // Global header: magic, version 2.4, zone 0, sigfigs 0, snaplen, link type 1 (Ethernet).
    for v in [0xa1b2_c3d4u32.to_le_bytes().to_vec(), 2u16.to_le_bytes().to_vec(), 4u16.to_le_bytes().to_vec()] {
        out.extend(v);
    }
    for v in [0u32, 0, 65_535, 1] {
        out.extend(v.to_le_bytes());
    }
    let mut usec = 0u32;
    for (src, dst, sport, packets, payload) in flows {
        for _ in 0..*packets {
            let mut frame = vec![0u8; 12]; // destination and source MAC
            frame.extend(0x0800u16.to_be_bytes()); // EtherType IPv4
            frame.extend([0x45, 0]); // version 4, IHL 5; TOS
            frame.extend((28 + payload).to_be_bytes()); // total length
            frame.extend([0, 0, 0, 0, 64, 17, 0, 0]); // id, flags/fragment, TTL, UDP, checksum
            frame.extend(src.parse::<std::net::Ipv4Addr>().unwrap().octets());
            frame.extend(dst.parse::<std::net::Ipv4Addr>().unwrap().octets());
            frame.extend(sport.to_be_bytes()); // UDP source port
            frame.extend(5000u16.to_be_bytes()); // destination port
            frame.extend((8 + payload).to_be_bytes()); // UDP length
            frame.extend([0, 0]); // checksum (none)
            frame.extend(std::iter::repeat_n(0x61, usize::from(*payload)));
            // Record header: seconds, microseconds, captured and original length.
            for v in [1_700_000_000u32, usec, frame.len() as u32, frame.len() as u32] {
                out.extend(v.to_le_bytes());
            }
            out.extend(frame);
            usec += 100;
        }
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn softflowd_v1_with_more_records_than_cisco_allows_is_read_exactly() {
    // 70 flows from five local hosts: more than two full datagrams of softflowd's v1.
    let flows: Vec<(String, String, u16, u32, u16)> = (0..70u16)
        .map(|i| {
            (
                format!("192.168.3.{}", 1 + i % 5),
                format!("203.0.113.{}", 1 + i),
                40_000 + i,
                1 + u32::from(i % 3),
                100 + i,
            )
        })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let pcap = tmp.path().join("v1.pcap");
    udp_pcap(&pcap, &flows);
    // What softflowd sends, caught here first, then handed to flowpi unchanged.
    let catch = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    run_softflowd(pcap.to_str().unwrap(), &["-v", "1"], catch.local_addr().unwrap());
    catch.set_nonblocking(true).unwrap();
    let mut sent = Vec::new();
    let mut buf = [0u8; 65_536];
    while let Ok(n) = catch.recv(&mut buf) {
        sent.push(buf[..n].to_vec());
    }
    let count = |d: &[u8]| usize::from(u16::from_be_bytes([d[2], d[3]]));
    assert!(sent.iter().all(|d| d[..2] == [0, 1] && d.len() == 16 + 48 * count(d)), "v1, exact lengths");
    assert_eq!(sent.iter().map(|d| count(d)).sum::<usize>(), flows.len());
    let over = sent.iter().filter(|d| count(d) > 24).count();
    assert!(over >= 2, "softflowd packs more than 24 records: {:?}", sent.iter().map(|d| count(d)).collect::<Vec<_>>());

    let d = Daemon::start("");
    for dg in &sent {
        d.send(dg);
    }
    // softflowd counts IP lengths: 28 bytes of headers per packet besides the payload.
    let mut want: BTreeMap<String, (u64, u64, u64, u64)> = BTreeMap::new();
    for (src, _, _, packets, payload) in &flows {
        let e = want.entry(src.clone()).or_default();
        e.1 += u64::from(*packets) * (28 + u64::from(*payload));
        e.3 += u64::from(*packets);
    }
    d.wait_for("every v1 record", |d| d.hosts() == want);
    assert_eq!(d.metric("flowpi_records_total"), flows.len() as u64);
    assert_eq!(d.metric("flowpi_lenient_datagrams_total"), over as u64);
    let errors: u64 = ["short", "truncated", "bad_count", "unknown_version", "bad_set"]
        .iter()
        .map(|k| d.metric(&format!("flowpi_decode_errors_total{{kind=\"{k}\"}}")))
        .sum();
    assert_eq!(errors, 0);
}
