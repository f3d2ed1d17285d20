//! Names of local hosts with the real binary: a `[[host]]` name, a name from a stub DNS server
//! asked directly (`names.resolver = "IP:PORT"`), and no name, in the API, the CSV, /metrics and
//! graph titles; the stub must never be asked about a named host or a remote peer. Names with
//! control and bidi characters (config, options data) come out clean.

mod common;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::sync::{Arc, Mutex};

use common::*;
use serde_json::Value;

/// A DNS server on loopback: PTR of 192.168.1.11 is `laptop.lan.`, everything else NXDOMAIN.
/// Returns its address and every question name it was asked.
fn stub_dns() -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf) else { return };
            let q = &buf[..n];
            // The question: labels from offset 12 up to the root, then type and class.
            let mut labels = Vec::new();
            let mut p = 12;
            while p < n && q[p] != 0 {
                let len = q[p] as usize;
                labels.push(String::from_utf8_lossy(&q[p + 1..(p + 1 + len).min(n)]).into_owned());
                p += 1 + len;
            }
            let end = (p + 5).min(n);
            let name = labels.join(".");
            log.lock().unwrap().push(name.clone());
            let mut r = q[..end].to_vec();
            // Header: the same id; QR, RD, RA; one question.
            r[2] = 0x81;
            r[3] = 0x80;
            r[4..12].copy_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
            if name == "11.1.168.192.in-addr.arpa" {
                r[7] = 1;
                r.extend_from_slice(&[0xc0, 0x0c, 0, 12, 0, 1, 0, 0, 0x0e, 0x10]); // PTR IN ttl 3600
                let target = b"\x06laptop\x03lan\x00";
                r.extend_from_slice(&(target.len() as u16).to_be_bytes());
                r.extend_from_slice(target);
            } else {
                r[3] = 0x83; // NXDOMAIN
            }
            let _ = sock.send_to(&r, from);
        }
    });
    (addr, seen)
}

fn row<'a>(rows: &'a Value, key: &str, ip: &str) -> &'a Value {
    rows.as_array().unwrap().iter().find(|r| r[key] == ip).unwrap_or_else(|| panic!("{ip} not in {rows}"))
}

#[test]
fn local_hosts_are_named_from_the_config_and_reverse_dns() {
    let (dns, seen) = stub_dns();
    let sections = format!(
        "[[host]]\naddress = \"192.168.1.10\"\nname = \"Living-room TV\"\n\n[names]\nresolver = \"{dns}\"\ntimeout = \"1s\"\n"
    );
    let tmp = tempfile::tempdir().unwrap();
    let d =
        Daemon::start_full(tmp.path(), Extra { http: "auth = \"none\"", sections: &sections, ..Extra::default() }, &[]);
    let flows = [
        Flow { src: "192.168.1.10", dst: "93.184.216.34", bytes: 5000, times: None },
        Flow { src: "1.1.1.1", dst: "192.168.1.11", bytes: 7000, times: None },
        Flow { src: "192.168.1.12", dst: "8.8.8.8", bytes: 900, times: None },
    ];
    // Sent until the hosts show: the names come while the flows keep arriving.
    let mut seq = 0;
    d.wait_for_secs("names in /api/hosts", 60, |d| {
        d.send(&v5(&flows, seq));
        seq += 3;
        std::thread::sleep(std::time::Duration::from_millis(200));
        let hosts = d.json("/api/hosts");
        let name = |ip: &str| hosts.as_array().unwrap().iter().find(|r| r["ip"] == ip).map(|r| r["name"].clone());
        name("192.168.1.10") == Some(Value::from("Living-room TV"))
            && name("192.168.1.11") == Some(Value::from("laptop.lan"))
            && name("192.168.1.12") == Some(Value::Null)
            && d.metric("flowpi_name_lookup_failures_total{reason=\"no_name\"}") >= 1
    });
    // The field comes right after ip, so the CSV's second column is the name.
    let hosts = d.json("/api/hosts");
    let keys: Vec<&String> = hosts[0].as_object().unwrap().keys().collect();
    assert_eq!(keys[..2], ["ip", "name"]);
    let csv = String::from_utf8(d.get("/api/hosts?format=csv").body).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("ip,name,rx_bytes,"), "{csv}");
    assert!(lines.iter().any(|l| l.starts_with("192.168.1.10,Living-room TV,")), "{csv}");
    assert!(lines.iter().any(|l| l.starts_with("192.168.1.11,laptop.lan,")), "{csv}");
    assert!(lines.iter().any(|l| l.starts_with("192.168.1.12,,")), "{csv}");

    // A host's detail, and conversations with the local host's name.
    assert_eq!(d.json("/api/hosts/192.168.1.11")["name"], "laptop.lan");
    d.wait_for("conversations", |d| d.json("/api/conversations").as_array().unwrap().len() == 3);
    let talks = d.json("/api/conversations");
    assert_eq!(row(&talks, "host", "192.168.1.10")["host_name"], "Living-room TV");
    assert_eq!(row(&talks, "host", "192.168.1.11")["host_name"], "laptop.lan");
    assert_eq!(row(&talks, "host", "192.168.1.12")["host_name"], Value::Null);

    // Over a window, from the archives.
    d.wait_for("today's hosts", |d| d.json("/api/hosts?period=today")["rows"].as_array().unwrap().len() == 3);
    let today = d.json("/api/hosts?period=today");
    assert_eq!(row(&today["rows"], "ip", "192.168.1.10")["name"], "Living-room TV");
    assert_eq!(row(&today["rows"], "ip", "192.168.1.11")["name"], "laptop.lan");
    // And in the overview's legend.
    let overview = d.json("/api/overview?period=today");
    assert_eq!(row(&overview["hosts"], "ip", "192.168.1.10")["name"], "Living-room TV", "{overview}");
    assert_eq!(row(&overview["hosts"], "ip", "192.168.1.12")["name"], Value::Null, "{overview}");

    // /metrics: a name label on every host sample, empty when there is none.
    let text = String::from_utf8(d.get("/metrics").body).unwrap();
    let names: BTreeMap<String, String> = samples(&text, "flowpi_host_bytes_total")
        .into_iter()
        .map(|(l, _)| (l["host"].clone(), l.get("name").cloned().unwrap_or_else(|| panic!("no name label: {l:?}"))))
        .collect();
    assert_eq!(names["192.168.1.10"], "Living-room TV");
    assert_eq!(names["192.168.1.11"], "laptop.lan");
    assert_eq!(names["192.168.1.12"], "");
    assert!(metric_value(&text, "flowpi_name_lookups_total").unwrap() >= 2, "{text}");
    assert!(metric_value(&text, "flowpi_name_cache_entries").unwrap() >= 2, "{text}");
    assert_eq!(metric_value(&text, "flowpi_name_queue_dropped_total"), Some(0));

    // Graph titles: the name, then the address.
    for (ip, title) in
        [("192.168.1.10", "Living-room TV (192.168.1.10)"), ("192.168.1.11", "laptop.lan (192.168.1.11)")]
    {
        let path = format!("/graph/host/{ip}/day.png");
        d.wait_for(&path, |d| d.get(&path).status == 200);
        let r = d.get(&path);
        let header = r.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("x-graph-title").then(|| v.trim().to_string())
        });
        assert_eq!(header.as_deref(), Some(title), "{}", r.headers);
    }

    // Asking about a remote address must not look it up either.
    assert_eq!(d.get("/api/hosts/8.8.8.8").status, 404);
    assert_eq!(d.get("/graph/host/8.8.8.8/day.png").status, 404);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let asked = seen.lock().unwrap().clone();
    assert!(asked.contains(&"11.1.168.192.in-addr.arpa".to_string()), "{asked:?}");
    assert!(asked.contains(&"12.1.168.192.in-addr.arpa".to_string()), "{asked:?}");
    // The named host is never asked about, nor any peer; each answer is cached (no repeats).
    for q in &asked {
        assert!(q == "11.1.168.192.in-addr.arpa" || q == "12.1.168.192.in-addr.arpa", "asked about {q}: {asked:?}");
    }
    assert_eq!(asked.len(), 2, "{asked:?}");
}

/// Does `s` hold a control character or a bidi control (what no shown name may hold)?
fn hostile(s: &str) -> bool {
    s.chars().any(|c| {
        c.is_control()
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
    })
}

/// Every string in a JSON answer.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push(k.clone());
            strings(x, out)
        }),
        _ => {}
    }
}

#[test]
fn names_with_escapes_line_breaks_and_bidi_overrides_come_out_clean() {
    // A [[host]] and an [[exporter]] name with ESC, BEL, CR and bidi controls (a config can be
    // pasted from anywhere), and an interface name with more, as a router's options data would.
    let sections = "[[host]]\naddress = \"192.168.1.10\"\nname = \"tv\\u202Egpj.exe\\r\"\n\n[[exporter]]\naddress = \"127.0.0.1\"\nname = \"edge\\u001B]0;pwned\\u0007\\u2066router\"\n";
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start_full(tmp.path(), Extra { http: "auth = \"none\"", sections, ..Extra::default() }, &[]);
    // IPFIX options template 300: scope ingressInterface (10, 4 bytes), interfaceName (82,
    // variable length); one record naming ifIndex 1.
    let mut opt = Vec::new();
    for v in [300u16, 2, 1, 10, 4, 82, 65535] {
        opt.extend(v.to_be_bytes());
    }
    let name = "wan\x1b[2J\r\u{202E}cafe\u{200F}".as_bytes();
    let mut rec = 1u32.to_be_bytes().to_vec();
    rec.push(name.len() as u8);
    rec.extend(name);
    let mut seq = 0;
    d.wait_for("the names", |d| {
        d.send(&ipfix(1, &[set(3, &opt), set(300, &rec)]));
        d.send(&v5(&[flow("192.168.1.10", "93.184.216.34", 5000)], seq));
        seq += 1;
        std::thread::sleep(std::time::Duration::from_millis(200));
        let ifs = d.json("/api/interfaces");
        let hosts = d.json("/api/hosts");
        ifs.as_array().unwrap().iter().any(|r| r["ifindex"] == 1 && r["name"] == "wan[2Jcafe")
            && hosts.as_array().unwrap().iter().any(|r| r["name"] == "tvgpj.exe")
    });
    let exporters = d.json("/api/exporters");
    assert!(exporters.as_array().unwrap().iter().any(|r| r["name"] == "edge]0;pwnedrouter"), "{exporters}");
    // Nothing of it anywhere: JSON, CSV, /metrics.
    for path in ["/api/interfaces", "/api/hosts", "/api/exporters", "/api/conversations"] {
        let mut all = Vec::new();
        strings(&d.json(path), &mut all);
        assert!(!all.iter().any(|s| hostile(s)), "{path}: {all:?}");
    }
    for path in ["/api/interfaces?format=csv", "/api/hosts?format=csv"] {
        let csv = String::from_utf8(d.get(path).body).unwrap();
        assert!(!hostile(&csv.replace("\r\n", "")), "{path}: {csv:?}");
        assert!(csv.contains("wan[2Jcafe") || csv.contains("tvgpj.exe"), "{path}: {csv}");
    }
    let text = String::from_utf8(d.get("/metrics").body).unwrap();
    assert!(!hostile(&text.replace('\n', "")), "/metrics holds a control or bidi character");
    let ifs = samples(&text, "flowpi_interface_bytes_total");
    assert!(ifs.iter().any(|(l, _)| l["ifindex"] == "1" && l["name"] == "wan[2Jcafe"), "{ifs:?}");
    let hosts = samples(&text, "flowpi_host_bytes_total");
    assert!(hosts.iter().any(|(l, _)| l["name"] == "tvgpj.exe"), "{hosts:?}");
}
