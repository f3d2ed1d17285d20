//! `/api/doctor` against the real daemon: each situation made with real datagrams sent to its UDP
//! socket, one daemon per situation (local = 192.168.0.0/16 and fd00::/8, the test default). sFlow
//! from the shared captures is named as such; datagrams that cannot be read are reported per
//! exporter with their likely cause. The WAN-side finding comes neither from IPv6 addresses nor
//! from one device's conversation with one server; no public network is suggested for
//! network.local; advice names where the configuration is changed (the card on the SD image).

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

/// The sFlow captures of the shared folder (MANIFEST.tsv's protocol column): each file's UDP
/// payloads (a `.bin` file is one datagram) and how many sFlow datagrams tshark found in it.
fn sflow_captures() -> Vec<(String, Vec<Vec<u8>>, usize)> {
    let dir = common::captures();
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
    let files: Vec<(String, usize)> = manifest
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let n = cols.get(7)?.split_once(" datagrams")?.0.parse().ok()?;
            cols[5].starts_with("sFlow").then(|| (cols[0].to_string(), n))
        })
        .collect();
    assert!(files.len() >= 10, "the sFlow captures: {files:?}");
    files
        .into_iter()
        .map(|(f, n)| {
            let data = std::fs::read(dir.join(&f)).unwrap();
            if !flowpi::pcap::is_pcap(&data) {
                return (f, vec![data], n);
            }
            let payloads = flowpi::pcap::udp_payloads(&data).unwrap().into_iter().map(|d| d.payload).collect();
            (f, payloads, n)
        })
        .collect()
}

/// An sFlow v5 header's agent address: version (5), address type (1 IPv4, 2 IPv6), address.
fn sflow_agent(d: &[u8]) -> Option<std::net::IpAddr> {
    let word = |at: usize| -> Option<u32> { Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?)) };
    if word(0)? != 5 {
        return None;
    }
    match word(4)? {
        1 => Some(<[u8; 4]>::try_from(d.get(8..12)?).ok()?.into()),
        2 => Some(<[u8; 16]>::try_from(d.get(8..24)?).ok()?.into()),
        _ => None,
    }
}

#[test]
fn every_sflow_capture_is_recognised_as_sflow() {
    use flowpi::decode::rejects::{recognise, Foreign};
    for (file, datagrams, want) in sflow_captures() {
        if file.ends_with("sflow_print-segv.pcap") {
            // tcpdump's crash test: its UDP length says 8 bytes, less than an sFlow header.
            assert_eq!(datagrams.iter().map(Vec::len).collect::<Vec<_>>(), [8]);
            continue;
        }
        // As many as tshark read as sFlow; other datagrams to the sFlow port are not taken for it.
        let found: Vec<&Vec<u8>> =
            datagrams.iter().filter(|d| matches!(recognise(d), Some(Foreign::SFlow { version: 5, .. }))).collect();
        assert_eq!(found.len(), want, "{file}");
        for d in found {
            let agent = sflow_agent(d).unwrap_or_else(|| panic!("{file}: not a v5 header"));
            assert_eq!(recognise(d), Some(Foreign::SFlow { version: 5, agent }), "{file}");
        }
    }
}

#[test]
fn sflow_on_the_netflow_port_is_named_with_what_to_do() {
    let d = Daemon::start("");
    let (file, datagrams, _) = sflow_captures()
        .into_iter()
        .find(|(f, ..)| f.ends_with("sflow-print-v6.pcap"))
        .expect("tcpdump's sFlow capture");
    for dg in &datagrams {
        d.send(dg);
    }
    d.wait_for("every datagram", |d| d.metric("flowpi_datagrams_total") == datagrams.len() as u64);
    let f = wait_finding(&d, "not_netflow");
    assert_eq!(f["severity"], "error", "{file}: nothing from this sender decodes");
    assert_eq!(f["data"]["exporter"], "127.0.0.1");
    assert_eq!(f["data"]["protocol"], "sFlow v5");
    assert_eq!(f["data"]["datagrams"], datagrams.len());
    // The capture's agent has an IPv6 address.
    let agent = sflow_agent(datagrams.last().unwrap()).unwrap();
    assert!(agent.is_ipv6());
    assert_eq!(f["data"]["agent"], agent.to_string());
    let detail = f["detail"].as_str().unwrap();
    let port = d.udp.port();
    assert!(detail.contains(&format!("sflowtool -p 6343 -c 127.0.0.1 -d {port}")), "{detail}");
    assert!(detail.contains("NetFlow v9 or IPFIX"), "{detail}");
    let all = findings(&d);
    well_formed(&all);
    // Not a decode loss of an exporter's NetFlow, and not "nothing arrives".
    let codes: Vec<&str> = all.iter().map(|f| f["code"].as_str().unwrap()).collect();
    assert!(!codes.contains(&"decode_errors") && !codes.contains(&"no_datagrams"), "{codes:?}");
    let metrics = String::from_utf8(d.get("/metrics").body).unwrap();
    assert!(metrics.contains("flowpi_doctor_findings{code=\"not_netflow\"} 1"), "{metrics}");
}

#[test]
fn datagrams_that_cannot_be_read_are_reported_per_exporter() {
    let d = Daemon::start("");
    let good = v5(&[flow("192.168.1.10", "8.8.8.8", 1000)], 0);
    for i in 0..3 {
        d.send(&v5(&[flow("192.168.1.10", "8.8.8.8", 1000)], i));
    }
    // A v5 header promising two records with one in the datagram: cut on the way.
    let mut cut = good.clone();
    cut[3] = 2;
    d.send(&cut);
    let f = wait_finding(&d, "decode_errors");
    assert_eq!(f["severity"], "warning", "the exporter's other datagrams decode");
    assert_eq!(f["data"]["exporter"], "127.0.0.1");
    assert_eq!((f["data"]["datagrams"].as_u64(), f["data"]["decoded_datagrams"].as_u64()), (Some(1), Some(3)));
    assert_eq!(f["data"]["cause"], "truncated");
    assert_eq!(f["data"]["kinds"], serde_json::json!({"truncated": 1}));
    assert!(f["message"].as_str().unwrap().contains("25%"), "{f}");
    assert!(f["detail"].as_str().unwrap().contains("shorter than their header says"), "{f}");
}

/// IPFIX records of (source, destination, bytes) over IPv6: sourceIPv6Address (27),
/// destinationIPv6Address (28), octetDeltaCount (1), packetDeltaCount (2).
fn ipfix_v6(flows: &[(String, String, u64)]) -> Vec<u8> {
    let tmpl = template(300, &[(27, 16), (28, 16), (1, 8), (2, 8)]);
    let mut data = Vec::new();
    for (src, dst, bytes) in flows {
        data.extend(src.parse::<std::net::Ipv6Addr>().unwrap().octets());
        data.extend(dst.parse::<std::net::Ipv6Addr>().unwrap().octets());
        data.extend(bytes.to_be_bytes());
        data.extend(3u64.to_be_bytes());
    }
    ipfix(1, &[set(2, &tmpl), set(300, &data)])
}

#[test]
fn a_laptops_global_ipv6_address_is_no_wan_side() {
    let d = Daemon::start("");
    // One laptop, twelve servers in as many networks: the laptop is on every record.
    let flows: Vec<(String, String, u64)> =
        (1..=12).map(|i| ("2001:db8:5:7::10".to_string(), format!("2606:4700:{i}::1"), 40_000)).collect();
    d.send(&ipfix_v6(&flows));
    let f = wait_finding(&d, "ipv6_not_local");
    assert_eq!(f["data"]["suggested"], serde_json::json!(["2001:db8:5:7::/64"]));
    wait_finding(&d, "no_local_hosts");
    let all = codes(&d);
    assert!(!all.contains(&"wan_side_export".to_string()), "IPv6 has no NAT: {all:?}");
}

#[test]
fn one_device_streaming_from_one_server_is_no_wan_side() {
    let d = Daemon::start("");
    // A TV outside network.local (10.0.0.0/8 is not in the test's list) and its streaming server.
    let flows: Vec<Flow> = (0..12).map(|_| flow("45.57.3.3", "10.20.30.40", 1_400_000)).collect();
    d.send(&v5(&flows, 0));
    let f = wait_finding(&d, "no_local_hosts");
    assert_eq!(f["data"]["suggested"], serde_json::json!(["10.20.30.0/24"]), "{f}");
    let detail = f["detail"].as_str().unwrap();
    assert!(!detail.contains("WAN address"), "the server is not the router's WAN address: {detail}");
    let all = codes(&d);
    assert!(!all.contains(&"wan_side_export".to_string()), "{all:?}");
}

#[test]
fn no_public_network_is_suggested_for_network_local() {
    let d = Daemon::start("");
    // Public addresses on both sides, no single one on most records: servers and clients of
    // the Internet, none of them the user's network as far as the records tell.
    let names: Vec<(String, String)> =
        (0..14).map(|i| (format!("198.51.100.{}", 1 + i % 3), format!("203.0.113.{}", 1 + i % 7))).collect();
    let flows: Vec<Flow> = names.iter().map(|(a, b)| flow(a, b, 9_000)).collect();
    d.send(&v5(&flows, 0));
    let f = wait_finding(&d, "no_local_hosts");
    assert_eq!(f["data"]["suggested"], serde_json::json!([]), "{f}");
    assert_eq!(f["data"]["line"], Value::Null, "{f}");
    assert!(f["detail"].as_str().unwrap().contains("None of them is a private network"), "{f}");
    assert!(!codes(&d).contains(&"wan_side_export".to_string()));
}

/// The no_local_hosts advice of a daemon started with `env`, and its config file.
fn lan_advice(env: &[(&str, &str)]) -> (String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start_full(tmp.path(), Extra { http: "auth = \"none\"", ..Extra::default() }, env);
    let flows: Vec<Flow> = (0..6)
        .map(|i| if i % 2 == 0 { flow("10.9.8.10", "203.0.113.1", 500) } else { flow("203.0.113.2", "10.9.8.11", 700) })
        .collect();
    d.send(&v5(&flows, 0));
    let f = wait_finding(&d, "no_local_hosts");
    assert_eq!(f["data"]["suggested"], serde_json::json!(["10.9.8.0/24"]));
    (f["detail"].as_str().unwrap().to_string(), d.config.display().to_string())
}

#[test]
fn advice_names_the_cards_file_on_the_sd_image_and_the_started_file_elsewhere() {
    // The image's unit says where flowpi runs.
    let unit = std::fs::read_to_string("image/overlay/etc/systemd/system/flowpi.service.d/image.conf").unwrap();
    assert!(unit.lines().any(|l| l == format!("Environment={}=1", flowpi::doctor::IMAGE_ENV)), "{unit}");
    let (card, _) = lan_advice(&[(flowpi::doctor::IMAGE_ENV, "1")]);
    assert!(card.contains("flowpi.toml on the card's FLOWPI-BOOT partition"), "{card}");
    assert!(card.contains("start the Pi"), "{card}");
    assert!(!card.contains("/etc/flowpi.toml") && !card.contains("systemctl"), "overwritten at boot: {card}");
    let (elsewhere, file) = lan_advice(&[]);
    assert!(elsewhere.contains(&format!("set in {file} under [network]")), "{elsewhere}");
    assert!(elsewhere.contains("sudo systemctl restart flowpi"), "{elsewhere}");
}
