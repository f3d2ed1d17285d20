//! `/api/doctor` against the real daemon: each situation made with real datagrams sent to its UDP
//! socket, one daemon per situation (local = 192.168.0.0/16 and fd00::/8, the test default).

mod common;

use std::time::{Duration, Instant};

use common::{ipfix, set, template, v5, Daemon, Extra, Flow};
use serde_json::Value;

fn findings(d: &Daemon) -> Vec<Value> {
    match d.json("/api/doctor") {
        Value::Array(v) => v,
        other => panic!("not an array: {other}"),
    }
}

fn codes(d: &Daemon) -> Vec<String> {
    findings(d).iter().map(|f| f["code"].as_str().unwrap().to_string()).collect()
}

/// Poll until a finding of `code` is reported; that finding.
fn wait_finding(d: &Daemon, code: &str) -> Value {
    let t = Instant::now();
    loop {
        let all = findings(d);
        if let Some(f) = all.iter().find(|f| f["code"] == code) {
            return f.clone();
        }
        assert!(t.elapsed() < Duration::from_secs(30), "no {code} finding; got {all:#?}\nlog:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn flow<'a>(src: &'a str, dst: &'a str, bytes: u32) -> Flow<'a> {
    Flow { src, dst, bytes, times: None }
}

/// Every finding has the documented shape, and they come most severe first.
fn well_formed(all: &[Value]) {
    let rank = |s: &str| ["error", "warning", "info"].iter().position(|x| *x == s).unwrap();
    let mut last = 0;
    for f in all {
        for key in ["code", "message", "detail"] {
            assert!(f[key].as_str().is_some_and(|s| !s.is_empty()), "{key} in {f}");
        }
        let r = rank(f["severity"].as_str().unwrap());
        assert!(r >= last, "not most severe first: {all:#?}");
        last = r;
        assert!(f["data"].is_object(), "{f}");
    }
}

#[test]
fn nothing_sent_names_the_port_and_recipes() {
    let d = Daemon::start("");
    let f = wait_finding(&d, "no_datagrams");
    assert_eq!(f["severity"], "error");
    let port = d.udp.port();
    assert_eq!(f["data"]["ports"], serde_json::json!([port]));
    // Listening on 127.0.0.1 only: that is the address to send to.
    assert_eq!(f["data"]["addresses"], serde_json::json!(["127.0.0.1"]));
    let detail = f["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("dst-address=127.0.0.1 port={port} version=9")), "{detail}");
    assert!(detail.contains(&format!("softflowd -i br-lan -n 127.0.0.1:{port} -v 9")), "{detail}");
    assert!(detail.contains("firewall"), "{detail}");
    well_formed(&findings(&d));
    let metrics = String::from_utf8(d.get("/metrics").body).unwrap();
    assert!(metrics.contains("flowpi_doctor_findings{code=\"no_datagrams\"} 1"), "{metrics}");
    assert!(metrics.contains("flowpi_doctor_findings{code=\"udp_drops\"} 0"), "{metrics}");
}

#[test]
fn data_without_its_template_is_named() {
    let d = Daemon::start("");
    // Template 256 (IPv4 src, dst, bytes, packets) is never sent; two data sets of it are.
    let mut rec = vec![192, 168, 1, 10, 8, 8, 8, 8];
    rec.extend(1500u32.to_be_bytes());
    rec.extend(2u32.to_be_bytes());
    d.send(&ipfix(7, &[set(256, &rec)]));
    d.send(&ipfix(7, &[set(256, &rec)]));
    let f = wait_finding(&d, "no_template");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["data"]["exporter"], "127.0.0.1");
    assert_eq!(f["data"]["version"], 10);
    assert_eq!(f["data"]["domain"], 7);
    assert_eq!(f["data"]["template_ids"], serde_json::json!([256]));
    assert!(f["message"].as_str().unwrap().contains("IPFIX"));
    assert!(!codes(&d).contains(&"no_datagrams".to_string()));
    // The template comes: the held data decodes and the finding goes.
    let tmpl = template(256, &[(8, 4), (12, 4), (1, 4), (2, 4)]);
    d.send(&ipfix(7, &[set(2, &tmpl)]));
    d.wait_for("the finding to clear", |d| !codes(d).contains(&"no_template".to_string()));
}

#[test]
fn records_outside_network_local_suggest_the_prefix() {
    let d = Daemon::start("");
    let mut flows = Vec::new();
    let names: Vec<(String, String)> =
        (0..12).map(|i| (format!("10.9.8.{}", 10 + i % 4), format!("203.0.113.{}", 1 + i % 6))).collect();
    for (i, (a, b)) in names.iter().enumerate() {
        flows.push(if i % 2 == 0 { flow(a, b, 1000) } else { flow(b, a, 3000) });
    }
    d.send(&v5(&flows, 0));
    let f = wait_finding(&d, "no_local_hosts");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["data"]["prefixes"][0]["prefix"], "10.9.8.0/24");
    assert_eq!(f["data"]["prefixes"][0]["bytes"], 6 * 1000 + 6 * 3000);
    assert_eq!(f["data"]["suggested"], serde_json::json!(["10.9.8.0/24"]));
    let line = "local = [\"192.168.0.0/16\", \"fd00::/8\", \"10.9.8.0/24\"]";
    assert_eq!(f["data"]["line"], line);
    assert!(f["detail"].as_str().unwrap().contains(line));
    let all = codes(&d);
    assert!(!all.contains(&"wan_side_export".to_string()), "{all:?}");
    assert!(!all.contains(&"ipv6_not_local".to_string()), "{all:?}");
}

#[test]
fn global_ipv6_without_a_global_local_prefix() {
    let d = Daemon::start("");
    // IPFIX: sourceIPv6Address, destinationIPv6Address, octetDeltaCount, packetDeltaCount.
    let tmpl = template(300, &[(27, 16), (28, 16), (1, 8), (2, 8)]);
    let mut data = Vec::new();
    for (i, (src, dst)) in
        [("2001:db8:5:7::10", "2606:4700::1111"), ("2a00:1450::200e", "2001:db8:5:7::11")].iter().enumerate()
    {
        data.extend(src.parse::<std::net::Ipv6Addr>().unwrap().octets());
        data.extend(dst.parse::<std::net::Ipv6Addr>().unwrap().octets());
        data.extend((1000u64 * (i as u64 + 1)).to_be_bytes());
        data.extend(3u64.to_be_bytes());
    }
    d.send(&ipfix(1, &[set(2, &tmpl), set(300, &data)]));
    let f = wait_finding(&d, "ipv6_not_local");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["data"]["records"], 2);
    assert_eq!(f["data"]["bytes"], 3000);
    assert_eq!(f["data"]["suggested"], serde_json::json!(["2001:db8:5:7::/64"]));
    assert_eq!(f["data"]["wider"], "2001:db8:5::/56");
    assert_eq!(f["data"]["line"], "local = [\"192.168.0.0/16\", \"fd00::/8\", \"2001:db8:5:7::/64\"]");
}

#[test]
fn one_address_on_every_record_is_the_wan_side() {
    let d = Daemon::start("");
    let remotes: Vec<String> = (1..=24).map(|i| format!("203.0.113.{i}")).collect();
    let flows: Vec<Flow> = remotes
        .iter()
        .enumerate()
        .map(|(i, r)| if i % 2 == 0 { flow("198.51.100.7", r, 500) } else { flow(r, "198.51.100.7", 5000) })
        .collect();
    d.send(&v5(&flows, 0));
    let f = wait_finding(&d, "wan_side_export");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["data"]["address"], "198.51.100.7");
    assert!(f["message"].as_str().unwrap().contains("198.51.100.7"));
    assert!(f["detail"].as_str().unwrap().contains("LAN"));
    // The LAN advice does not offer the WAN address's prefix.
    let lan = wait_finding(&d, "no_local_hosts");
    assert_ne!(lan["data"]["suggested"], serde_json::json!(["198.51.100.0/24"]));
}

#[test]
fn a_healthy_export_has_no_error_but_the_sampling_note() {
    let d = Daemon::start("");
    d.send(&v5(&[flow("192.168.1.10", "8.8.8.8", 1000), flow("8.8.8.8", "192.168.1.10", 9000)], 0));
    d.send(&v5(&[flow("192.168.1.11", "1.1.1.1", 500)], 2));
    let f = wait_finding(&d, "sampling");
    assert_eq!(f["severity"], "info");
    assert_eq!(f["data"]["exporter"], "127.0.0.1");
    assert_eq!(f["data"]["announced"], false);
    d.wait_for("both datagrams", |d| d.metric("flowpi_records_total") == 3);
    let all = findings(&d);
    well_formed(&all);
    let left: Vec<&Value> = all.iter().filter(|f| f["code"] != "sampling").collect();
    assert!(left.is_empty(), "{left:#?}");
}

#[test]
fn sequence_gaps_and_silence_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let extra = Extra { http: "auth = \"none\"", sections: "[doctor]\nsilent_after = \"2s\"\n", ..Extra::default() };
    let d = Daemon::start_full(tmp.path(), extra, &[]);
    // v5 counts flows: 2 flows at 0, then 2 at 100 -> 98 lost.
    d.send(&v5(&[flow("192.168.1.10", "8.8.8.8", 100), flow("192.168.1.10", "8.8.4.4", 100)], 0));
    d.send(&v5(&[flow("192.168.1.10", "8.8.8.8", 100), flow("192.168.1.10", "8.8.4.4", 100)], 100));
    let f = wait_finding(&d, "sequence_loss");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["data"]["exporter"], "127.0.0.1");
    assert_eq!(f["data"]["lost"], 98);
    assert_eq!(f["data"]["unit"], "records");
    assert!(f["message"].as_str().unwrap().contains('%'));
    // Heard, then nothing for doctor.silent_after.
    let f = wait_finding(&d, "exporter_silent");
    assert_eq!(f["data"]["exporter"], "127.0.0.1");
    assert!(f["data"]["silent_seconds"].as_u64().unwrap() >= 2);
    // Heard again: no longer silent.
    d.send(&v5(&[flow("192.168.1.10", "8.8.8.8", 100)], 102));
    d.wait_for("the silence to end", |d| !codes(d).contains(&"exporter_silent".to_string()));
}

#[test]
fn a_new_exporter_kept_out_of_a_full_table_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let extra = Extra { collector: "max_exporters = 1", http: "auth = \"none\"", ..Extra::default() };
    let d = Daemon::start_full(tmp.path(), extra, &[]);
    // The table's one place: a v5 exporter whose sequence numbers (flows) continue.
    d.send(&v5(&[flow("192.168.1.10", "8.8.8.8", 100)], 0));
    d.send(&v5(&[flow("192.168.1.10", "8.8.8.8", 100)], 1));
    d.wait_for("both datagrams", |d| d.metric("flowpi_records_total") == 2);
    // Another sender: no place for it. Its datagrams were dropped, counted, and said nothing.
    let other = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
    for seq in 0..3 {
        other.send_to(&v5(&[flow("192.168.1.20", "8.8.8.8", 100)], seq), d.udp).unwrap();
    }
    let f = wait_finding(&d, "domain_limit");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["data"]["exporter"], "127.0.0.2");
    assert_eq!(f["data"]["reason"], "exporters");
    assert_eq!(f["data"]["limit"], 1);
    d.wait_for("the three refusals", |d| {
        findings(d).iter().any(|f| f["code"] == "domain_limit" && f["data"]["datagrams"] == 3)
    });
    assert!(f["detail"].as_str().unwrap().contains("allow = [\"127.0.0.2\"]"), "{f}");
    well_formed(&findings(&d));
    let metrics = String::from_utf8(d.get("/metrics").body).unwrap();
    assert!(metrics.contains("flowpi_doctor_findings{code=\"domain_limit\"} 1"), "{metrics}");
    assert!(metrics.contains("flowpi_denied_datagrams_total{reason=\"domain_limit\"} 3"), "{metrics}");
}
