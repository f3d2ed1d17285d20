//! Global IPv6 is local once seen behind the internet line (network.learn): a home's IPv6
//! devices count from their first record, what was learned is listed and kept across a restart,
//! and with learning off the doctor says what to add. Real IPFIX over a real socket.

mod common;

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use common::*;

/// The router's line is ifIndex 1, its LAN bridge 2.
const ROUTER: &str = "[[exporter]]\naddress = \"127.0.0.1\"\nwan = [1]\n";

/// sourceIPv6Address, destinationIPv6Address, ingressInterface, egressInterface, octets, packets.
fn templates() -> Vec<u8> {
    set(2, &template(256, &[(27, 16), (28, 16), (10, 4), (14, 4), (1, 8), (2, 8)]))
}

fn record(src: &str, dst: &str, input: u32, output: u32, bytes: u64) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend(src.parse::<Ipv6Addr>().unwrap().octets());
    r.extend(dst.parse::<Ipv6Addr>().unwrap().octets());
    r.extend(input.to_be_bytes());
    r.extend(output.to_be_bytes());
    r.extend(bytes.to_be_bytes());
    r.extend((bytes / 1000).to_be_bytes());
    r
}

fn home() -> Vec<u8> {
    let body = [
        // A download to the laptop enters by the line and leaves to the LAN: its /64 is the LAN's.
        record("2a00:1450:4001::5", "2001:db8:1:2::20", 1, 2, 900_000),
        record("2001:db8:1:2::20", "2a00:1450:4001::5", 2, 1, 70_000),
        record("2a00:1450:4001::5", "2001:db8:1:2::30", 1, 2, 100_000),
        // Seen at the line with no interface behind it: says nothing of the LAN.
        record("2a00:1450:4001::5", "2001:db8:9::1", 1, 0, 5_000),
    ]
    .concat();
    ipfix(1, &[templates(), set(256, &body)])
}

fn learned(d: &Daemon) -> Vec<String> {
    d.json("/api/status")["learned_networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["network"].as_str().unwrap().to_string())
        .collect()
}

fn doctor_codes(d: &Daemon) -> Vec<String> {
    d.json("/api/doctor").as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap().to_string()).collect()
}

fn bytes(d: &Daemon) -> BTreeMap<String, (u64, u64)> {
    d.hosts().into_iter().map(|(ip, (rx, tx, _, _))| (ip, (rx, tx))).collect()
}

#[test]
fn the_lans_ipv6_prefix_is_learned_behind_the_line_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let extra = Extra { http: "auth = \"none\"", sections: ROUTER, ..Extra::default() };
    let mut d = Daemon::start_full(tmp.path(), extra, &[]);
    d.send(&home());
    let want: BTreeMap<String, (u64, u64)> =
        [("2001:db8:1:2::20".to_string(), (900_000, 70_000)), ("2001:db8:1:2::30".to_string(), (100_000, 0))].into();
    d.wait_for("the LAN's devices, from their first record", |d| bytes(d) == want);
    assert_eq!(learned(&d), ["2001:db8:1:2::/64"]);
    assert_eq!(d.metric("flowpi_learned_networks"), 1);
    assert_eq!(d.metric("flowpi_remote_only_records_total"), 1, "only the flow with no interface behind the line");
    assert!(!doctor_codes(&d).contains(&"ipv6_not_local".to_string()), "{:?}", doctor_codes(&d));

    // Kept across a restart: the next record of the LAN counts at once, with no line crossing.
    assert_eq!(d.stop(), 0);
    let mut d = Daemon::start_full(tmp.path(), extra, &[]);
    // Listed with the first snapshot the collector publishes after reading its state.
    d.wait_for("the learned network restored", |d| learned(d) == ["2001:db8:1:2::/64"]);
    let lan_copy = record("2001:db8:1:2::20", "2001:db8:1:2::30", 2, 2, 40_000);
    d.send(&ipfix(1, &[templates(), set(256, &lan_copy)]));
    let want: BTreeMap<String, (u64, u64)> =
        [("2001:db8:1:2::20".to_string(), (0, 40_000)), ("2001:db8:1:2::30".to_string(), (40_000, 0))].into();
    d.wait_for("the LAN copy between two learned addresses", |d| bytes(d) == want);
    assert_eq!(d.stop(), 0);
}

#[test]
fn with_learning_off_nothing_is_learned_and_the_doctor_says_what_to_add() {
    let tmp = tempfile::tempdir().unwrap();
    let extra = Extra { http: "auth = \"none\"", network: "learn = false", sections: ROUTER, ..Extra::default() };
    let d = Daemon::start_full(tmp.path(), extra, &[]);
    d.send(&home());
    d.wait_for("the records", |d| d.metric("flowpi_remote_only_records_total") == 4);
    assert!(learned(&d).is_empty());
    assert!(d.hosts().is_empty());
    d.wait_for("the doctor's finding", |d| doctor_codes(d).contains(&"ipv6_not_local".to_string()));
    let f = d.json("/api/doctor");
    let detail = f.as_array().unwrap().iter().find(|f| f["code"] == "ipv6_not_local").unwrap()["detail"].to_string();
    assert!(detail.contains("2001:db8:1:2::/64"), "{detail}");
}
