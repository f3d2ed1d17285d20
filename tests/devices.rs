//! Devices, not addresses: a `[[host]]` with several addresses, a MAC from the config and MACs
//! from the exports (IPFIX 56/57) each make one row, one archive and one page, exact to the byte,
//! with real datagrams over a real socket.

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;

use common::*;

const LAPTOP_CONFIG: &str = r#"
[[host]]
name = "Dad's laptop"
address = ["192.168.1.10", "fd00::10"]

[[host]]
name = "TV"
mac = "02:00:00:00:00:13"
"#;

/// src, dst, sport, dport, protocol, octets, packets, sourceMacAddress, postDestinationMacAddress.
fn fields(v6: bool) -> Vec<(u16, u16)> {
    let (s, d, len) = if v6 { (27, 28, 16) } else { (8, 12, 4) };
    vec![(s, len), (d, len), (7, 2), (11, 2), (4, 1), (1, 4), (2, 4), (56, 6), (57, 6)]
}

const GATEWAY_MAC: u64 = 0x0200_0000_00fe;
const TV_MAC: u64 = 0x0200_0000_0013;
const PHONE_MAC: u64 = 0x0200_0000_0020;
const LAPTOP_MAC: u64 = 0x0200_0000_000a;

fn mac(m: u64) -> [u8; 6] {
    m.to_be_bytes()[2..].try_into().unwrap()
}

fn record(src: &str, dst: &str, bytes: u32, src_mac: u64, dst_mac: u64) -> Vec<u8> {
    let (s, d): (IpAddr, IpAddr) = (src.parse().unwrap(), dst.parse().unwrap());
    let mut r = Vec::new();
    for a in [s, d] {
        match a {
            IpAddr::V4(a) => r.extend(a.octets()),
            IpAddr::V6(a) => r.extend(a.octets()),
        }
    }
    r.extend(443u16.to_be_bytes());
    r.extend(50000u16.to_be_bytes());
    r.push(6);
    r.extend(bytes.to_be_bytes());
    r.extend((bytes / 1000).to_be_bytes());
    r.extend(mac(src_mac));
    r.extend(mac(dst_mac));
    r
}

/// The home's traffic: (src, dst, bytes, sourceMac, postDestinationMac).
fn traffic() -> Vec<(&'static str, &'static str, u32, u64, u64)> {
    vec![
        // The laptop, by its two configured addresses (its MAC changes nothing: the config decides).
        ("203.0.113.5", "192.168.1.10", 1_000_000, GATEWAY_MAC, LAPTOP_MAC),
        ("2001:db8::5", "fd00::10", 2_000_000, GATEWAY_MAC, LAPTOP_MAC),
        ("192.168.1.10", "203.0.113.5", 300_000, LAPTOP_MAC, GATEWAY_MAC),
        // The TV, known by its MAC alone: IPv4 and IPv6.
        ("203.0.113.7", "192.168.1.13", 5_000_000, GATEWAY_MAC, TV_MAC),
        ("fd00:1:2:3::13", "2001:db8::7", 100_000, TV_MAC, GATEWAY_MAC),
        // A phone nobody named: its IPv4 and two days' privacy addresses, gathered by its MAC.
        ("192.168.1.20", "203.0.113.9", 50_000, PHONE_MAC, GATEWAY_MAC),
        ("2001:db8::9", "fd00:1:2:3:aaaa::1", 700_000, GATEWAY_MAC, PHONE_MAC),
        ("2001:db8::9", "fd00:1:2:3:bbbb::1", 800_000, GATEWAY_MAC, PHONE_MAC),
        // A host whose exports carry no MAC: a device of its own address.
        ("203.0.113.9", "192.168.1.30", 10_000, 0, 0),
    ]
}

fn send_traffic(d: &Daemon) {
    let templates = set(2, &[template(256, &fields(false)), template(257, &fields(true))].concat());
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for (s, dst, b, sm, dm) in traffic() {
        let r = record(s, dst, b, sm, dm);
        if s.contains(':') {
            v6.extend(r)
        } else {
            v4.extend(r)
        }
    }
    d.send(&ipfix(1, &[templates, set(256, &v4), set(257, &v6)]));
}

fn tv() -> String {
    // The MAC's modified EUI-64 link-local address.
    "fe80::ff:fe00:13".to_string()
}

fn phone() -> String {
    "fe80::ff:fe00:20".to_string()
}

/// ip -> (rx, tx) bytes.
fn want() -> BTreeMap<String, (u64, u64)> {
    [
        ("192.168.1.10".to_string(), (3_000_000, 300_000)),
        (tv(), (5_000_000, 100_000)),
        (phone(), (1_500_000, 50_000)),
        ("192.168.1.30".to_string(), (10_000, 0)),
    ]
    .into()
}

fn byte_rows(v: &serde_json::Value) -> BTreeMap<String, (u64, u64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["ip"].as_str().unwrap().to_string(), (r["rx_bytes"].as_u64().unwrap(), r["tx_bytes"].as_u64().unwrap()))
        })
        .collect()
}

#[test]
fn each_device_is_one_row_one_archive_and_one_page_whatever_its_addresses() {
    let tmp = tempfile::tempdir().unwrap();
    let t0 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 1;
    let d = Daemon::start_full(
        tmp.path(),
        Extra { http: "auth = \"none\"", sections: LAPTOP_CONFIG, ..Extra::default() },
        &[],
    );
    send_traffic(&d);
    settle(&d, "/api/hosts", &want(), |d| byte_rows(&d.json("/api/hosts")));

    let rows = d.json("/api/hosts");
    let row = |ip: &str| rows.as_array().unwrap().iter().find(|r| r["ip"] == ip).unwrap().clone();
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().map_or_else(Vec::new, |a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
    };
    let laptop = row("192.168.1.10");
    assert_eq!(laptop["name"], "Dad's laptop");
    assert_eq!(strings(&laptop["addresses"]), ["192.168.1.10", "fd00::10"]);
    assert!(laptop.get("mac").is_none(), "the config gives the laptop no MAC: {laptop}");
    let tv_row = row(&tv());
    assert_eq!(tv_row["name"], "TV");
    assert_eq!(tv_row["mac"], "02:00:00:00:00:13");
    let mut tv_addrs = strings(&tv_row["addresses"]);
    tv_addrs.sort();
    assert_eq!(tv_addrs, ["192.168.1.13", "fd00:1:2:3::13"]);
    let phone_row = row(&phone());
    assert_eq!(phone_row["mac"], "02:00:00:00:00:20");
    let mut phone_addrs = strings(&phone_row["addresses"]);
    phone_addrs.sort();
    assert_eq!(phone_addrs, ["192.168.1.20", "fd00:1:2:3:aaaa::1", "fd00:1:2:3:bbbb::1"]);
    assert!(row("192.168.1.30").get("addresses").is_none());

    // A device's page answers to any of its addresses, with the whole device's totals.
    for (member, key, rx) in [
        ("fd00::10", "192.168.1.10", 3_000_000),
        ("192.168.1.13", tv().as_str(), 5_000_000),
        ("fd00:1:2:3:bbbb::1", phone().as_str(), 1_500_000),
    ] {
        let page = d.json(&format!("/api/hosts/{member}"));
        assert_eq!((page["ip"].as_str().unwrap(), page["rx_bytes"].as_u64().unwrap()), (key, rx), "{member}");
    }
    assert_eq!(d.get("/api/hosts/fd00:1:2:3:cccc::1").status, 404, "an address never seen is nobody's");
    assert_eq!(d.metric("flowpi_hosts"), 4);
    assert_eq!(d.metric("flowpi_device_router_macs_total"), 0);
    // The Prometheus series are per device, named.
    let text = String::from_utf8(d.get("/metrics").body).unwrap();
    let rx: BTreeMap<String, f64> = samples(&text, "flowpi_host_bytes_total")
        .into_iter()
        .filter(|(l, _)| l["direction"] == "rx")
        .map(|(l, v)| (format!("{} {}", l["host"], l["name"]), v))
        .collect();
    assert_eq!(rx.get("192.168.1.10 Dad's laptop"), Some(&3_000_000.0), "{rx:?}");
    assert_eq!(rx.get(&format!("{} TV", tv())), Some(&5_000_000.0), "{rx:?}");
    assert_eq!(rx.len(), 4, "{rx:?}");

    // Over a window, from the archives: the same rows, and one file per device, none per address.
    let path = format!("/api/hosts?from={t0}");
    settle(&d, &path, &want(), |d| byte_rows(&d.json(&path)["rows"]));
    let page = d.json(&format!("/api/hosts/fd00:1:2:3:aaaa::1?from={t0}"));
    assert_eq!(page["rx_bytes"].as_u64(), Some(1_500_000), "{page}");
    let files = |d: &Daemon| {
        let mut f: Vec<String> = std::fs::read_dir(d.archive().join("hosts"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        f.sort();
        f
    };
    let want_files = ["192.168.1.10.rrd", "192.168.1.30.rrd", "fe80--ff-fe00-13.rrd", "fe80--ff-fe00-20.rrd"];
    // Written at the next flush (archive.flush, 2 s here); the window above reads the steps in RAM too.
    settle(&d, "the device archives", &want_files.map(String::from).to_vec(), files);
    let graph = d.get("/graph/host/fd00:1:2:3:aaaa::1/hour.png");
    assert_eq!(graph.status, 200);
}

#[test]
fn a_routers_mac_does_not_make_its_lan_one_device() {
    // A second router's LAN behind this one: every address arrives with that router's MAC.
    let d = Daemon::start("");
    let inner_router = 0x0200_0000_0099;
    let templates = set(2, &template(256, &fields(false)));
    let hosts: Vec<String> = (1..=6).map(|i| format!("192.168.50.{i}")).collect();
    let body: Vec<u8> = hosts.iter().flat_map(|h| record(h, "203.0.113.5", 1_000, inner_router, GATEWAY_MAC)).collect();
    d.send(&ipfix(1, &[templates, set(256, &body)]));
    d.wait_for("the router's MAC to be told", |d| d.metric("flowpi_device_router_macs_total") == 1);
    d.send(&ipfix(1, &[set(256, &body)]));
    // The first four were gathered under the MAC until it had too many IPv4 addresses for one
    // device (what they counted then stays there); from the fifth on each address is its own.
    let mut want: BTreeMap<String, (u64, u64)> = [("fe80::ff:fe00:99".to_string(), (0, 4_000))].into();
    for (i, h) in hosts.iter().enumerate() {
        want.insert(h.clone(), (0, if i < 4 { 1_000 } else { 2_000 }));
    }
    settle(&d, "/api/hosts", &want, |d| byte_rows(&d.json("/api/hosts")));
}
