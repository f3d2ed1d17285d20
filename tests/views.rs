//! Views end to end: applications, one host's applications and peers, conversations and ports from
//! known traffic (tests/data/views_traffic.pcap, made by tests/tools/known_traffic.py) exported by
//! softflowd as bidirectional IPFIX and as NetFlow v9, with the default and a custom
//! [applications] list; NAT-translated IPFIX records attributed through their post-NAT fields; and
//! application graphs.

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;

use common::*;
use serde_json::Value;

const PCAP: &str = "tests/data/views_traffic.pcap";
const TRUTH: &str = "tests/data/views_traffic.truth.json";

/// The classes the default list has at least, in protocol.list syntax: the fixture's ports fall
/// into these or into none.
const DEFAULT_APPS: &str = r#"
web = "80/tcp|443|8080/tcp|8443/tcp|3128/tcp"
dns = "53"
ssh = "22/tcp"
ntp = "123/udp"
p2p = "6881-6999|6969"
"#;

/// One direction of one exchange in the known traffic.
#[derive(Debug, Clone)]
struct Flow {
    exchange: String,
    src: String,
    dst: String,
    proto: String,
    sport: u16,
    dport: u16,
    bytes: u64,
    packets: u64,
}

fn truth() -> Vec<Flow> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(TRUTH).unwrap()).unwrap();
    v["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            let n = |k: &str| f[k].as_u64().unwrap();
            Flow {
                exchange: s("exchange"),
                src: s("src"),
                dst: s("dst"),
                proto: s("proto"),
                sport: n("sport") as u16,
                dport: n("dport") as u16,
                bytes: n("bytes"),
                packets: n("packets"),
            }
        })
        .collect()
}

/// network.local as tests/common writes it: 192.168.0.0/16 and fd00::/8.
fn local(a: &str) -> bool {
    match a.parse::<IpAddr>().unwrap() {
        IpAddr::V4(v4) => v4.octets()[..2] == [192, 168],
        IpAddr::V6(v6) => v6.octets()[0] == 0xfd,
    }
}

/// An application list: classes in file order, each with its (low, high, protocol) port ranges,
/// protocol None for both TCP and UDP.
type Classes = Vec<(String, Vec<(u16, u16, Option<String>)>)>;

/// Parse `name = "ports"` lines (ports and ranges `lo-hi` separated by `|`, each optionally
/// `/tcp` or `/udp`).
fn classes(list: &str) -> Classes {
    list.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('['))
        .map(|l| {
            let (name, ports) = l.split_once('=').unwrap();
            let ranges = ports
                .trim()
                .trim_matches('"')
                .split('|')
                .map(|p| {
                    let (range, proto) = match p.split_once('/') {
                        Some((r, pr)) => (r, Some(pr.to_string())),
                        None => (p, None),
                    };
                    let (lo, hi) = range.split_once('-').unwrap_or((range, range));
                    (lo.parse().unwrap(), hi.parse().unwrap(), proto)
                })
                .collect();
            (name.trim().to_string(), ranges)
        })
        .collect()
}

/// A flow's application and the port that goes with it in /api/ports: the class of the lower
/// listed port (the first class in the list that has it), else `other` and the lower port; other
/// IP protocols count under their name and have no port.
fn application(list: &Classes, f: &Flow) -> (String, Option<u16>) {
    if f.proto != "tcp" && f.proto != "udp" {
        return (f.proto.clone(), None);
    }
    let (lo, hi) = (f.sport.min(f.dport), f.sport.max(f.dport));
    for port in [lo, hi] {
        for (name, ranges) in list {
            if ranges.iter().any(|(a, b, p)| (*a..=*b).contains(&port) && p.as_ref().is_none_or(|p| *p == f.proto)) {
                return (name.clone(), Some(port));
            }
        }
    }
    ("other".into(), Some(lo))
}

/// rx, tx bytes and rx, tx packets.
type Counts = [u64; 4];

/// Add a flow direction to `row` as seen by a host that sent it (`sent`) or received it.
fn add(row: &mut Counts, f: &Flow, sent: bool) {
    let i = usize::from(sent);
    row[i] += f.bytes;
    row[2 + i] += f.packets;
}

/// Everything the views should show for `flows` under the application list `list`.
#[derive(Debug, Default)]
struct Expected {
    hosts: BTreeMap<String, Counts>,
    applications: BTreeMap<String, Counts>,
    /// host -> application -> counts
    host_apps: BTreeMap<String, BTreeMap<String, Counts>>,
    /// host -> peer -> counts
    host_peers: BTreeMap<String, BTreeMap<String, Counts>>,
    /// (protocol, port, application) -> counts
    ports: BTreeMap<(String, u64, String), Counts>,
}

fn expected(flows: &[Flow], list: &Classes) -> Expected {
    let mut e = Expected::default();
    for f in flows {
        let (app, port) = application(list, f);
        // A flow between two local hosts counts for both: sent by one, received by the other.
        for (host, peer, sent) in [(&f.src, &f.dst, true), (&f.dst, &f.src, false)] {
            if !local(host) {
                continue;
            }
            add(e.hosts.entry(host.clone()).or_default(), f, sent);
            add(e.applications.entry(app.clone()).or_default(), f, sent);
            add(e.host_apps.entry(host.clone()).or_default().entry(app.clone()).or_default(), f, sent);
            add(e.host_peers.entry(host.clone()).or_default().entry(peer.clone()).or_default(), f, sent);
            if let Some(port) = port {
                add(e.ports.entry((f.proto.clone(), u64::from(port), app.clone())).or_default(), f, sent);
            }
        }
    }
    e
}

/// Bytes only: rx, tx.
fn bytes<K: Ord + Clone>(m: &BTreeMap<K, Counts>) -> BTreeMap<K, [u64; 2]> {
    m.iter().map(|(k, c)| (k.clone(), [c[0], c[1]])).collect()
}

fn n(row: &Value, key: &str) -> u64 {
    row[key].as_u64().unwrap_or_else(|| panic!("{key} missing or not a number in {row}"))
}

/// A JSON list as key -> counts (`packets`: rx_packets and tx_packets too, else zeros there),
/// after checking it is sorted by rx_bytes + tx_bytes, busiest first.
fn rows<K: Ord>(list: &Value, key: impl Fn(&Value) -> K, packets: bool) -> BTreeMap<K, Counts> {
    let list = list.as_array().unwrap_or_else(|| panic!("not a list: {list}"));
    let totals: Vec<u64> = list.iter().map(|r| n(r, "rx_bytes") + n(r, "tx_bytes")).collect();
    assert!(totals.windows(2).all(|w| w[0] >= w[1]), "not busiest first: {list:?}");
    let map: BTreeMap<K, Counts> = list
        .iter()
        .map(|r| {
            let p = |k| if packets { n(r, k) } else { 0 };
            (key(r), [n(r, "rx_bytes"), n(r, "tx_bytes"), p("rx_packets"), p("tx_packets")])
        })
        .collect();
    assert_eq!(map.len(), list.len(), "a key listed twice in {list:?}");
    map
}

fn s(row: &Value, key: &str) -> String {
    row[key].as_str().unwrap_or_else(|| panic!("{key} missing or not a string in {row}")).to_string()
}

/// `path?limit=1` is the first row of `path` alone.
fn limit_one(d: &Daemon, path: &str) {
    let all = d.json(path);
    let one = d.json(&format!("{path}?limit=1"));
    assert_eq!(one.as_array().unwrap().len(), 1, "{path}?limit=1: {one}");
    assert_eq!(one[0], all[0], "{path}?limit=1");
}

fn applications(d: &Daemon) -> BTreeMap<String, Counts> {
    rows(&d.json("/api/applications"), |r| s(r, "name"), true)
}

fn conversations(d: &Daemon) -> BTreeMap<(String, String), [u64; 2]> {
    bytes(&rows(&d.json("/api/conversations"), |r| (s(r, "host"), s(r, "peer")), false))
}

fn ports(d: &Daemon) -> BTreeMap<(String, u64, String), [u64; 2]> {
    bytes(&rows(&d.json("/api/ports"), |r| (s(r, "protocol"), n(r, "port"), s(r, "application")), false))
}

/// /api/hosts/{ip}: totals, applications (name -> rx, tx bytes) and peers (ip -> rx, tx bytes).
#[allow(clippy::type_complexity)]
fn host(d: &Daemon, ip: &str) -> (Counts, BTreeMap<String, [u64; 2]>, BTreeMap<String, [u64; 2]>) {
    let h = d.json(&format!("/api/hosts/{ip}"));
    assert_eq!(h["ip"], ip, "{h}");
    let totals = [n(&h, "rx_bytes"), n(&h, "tx_bytes"), n(&h, "rx_packets"), n(&h, "tx_packets")];
    let apps = bytes(&rows(&h["applications"], |r| s(r, "name"), false));
    let peers = bytes(&rows(&h["peers"], |r| s(r, "ip"), false));
    (totals, apps, peers)
}

/// (local host, peer) -> rx, tx bytes: every host's peers.
fn want_conversations(want: &Expected) -> BTreeMap<(String, String), [u64; 2]> {
    want.host_peers
        .iter()
        .flat_map(|(h, peers)| peers.iter().map(move |(p, c)| ((h.clone(), p.clone()), [c[0], c[1]])))
        .collect()
}

/// Every view against the expectation, once /api/hosts has the known totals.
fn check_views(d: &Daemon, want: &Expected) {
    let hosts: BTreeMap<String, (u64, u64, u64, u64)> =
        want.hosts.iter().map(|(k, c)| (k.clone(), (c[0], c[1], c[2], c[3]))).collect();
    settle(d, "/api/hosts", &hosts, |d| d.hosts());
    settle(d, "/api/applications", &want.applications, applications);
    for (ip, totals) in &want.hosts {
        let detail = (*totals, bytes(&want.host_apps[ip]), bytes(&want.host_peers[ip]));
        settle(d, &format!("/api/hosts/{ip}"), &detail, |d| host(d, ip));
    }
    settle(d, "/api/conversations", &want_conversations(want), conversations);
    settle(d, "/api/ports", &bytes(&want.ports), ports);
    for path in ["/api/applications", "/api/conversations", "/api/ports"] {
        limit_one(d, path);
    }
}

/// The same views over a window (`query`) that holds all the traffic: hosts and applications
/// from their archives (with the steps still in RAM), conversations, ports and each host's
/// applications and peers from the top-k history (the hour still in RAM).
fn check_window(d: &Daemon, want: &Expected, query: &str) {
    // The archive has a step's counts once the collector hands the step over (each second),
    // which can come a moment after the since-start totals show them.
    let path = format!("/api/hosts?{query}");
    settle(d, &path, &want.hosts, |d| rows(&d.json(&path)["rows"], |r| s(r, "ip"), true));
    let apps = rows(&d.json(&format!("/api/applications?{query}"))["rows"], |r| s(r, "name"), true);
    assert_eq!(apps, want.applications, "/api/applications?{query}");
    let convs = rows(&d.json(&format!("/api/conversations?{query}"))["rows"], |r| (s(r, "host"), s(r, "peer")), false);
    assert_eq!(bytes(&convs), want_conversations(want), "/api/conversations?{query}");
    let ports = rows(
        &d.json(&format!("/api/ports?{query}"))["rows"],
        |r| (s(r, "protocol"), n(r, "port"), s(r, "application")),
        false,
    );
    assert_eq!(bytes(&ports), bytes(&want.ports), "/api/ports?{query}");
    for (ip, totals) in &want.hosts {
        let h = d.json(&format!("/api/hosts/{ip}?{query}"));
        assert_eq!([n(&h, "rx_bytes"), n(&h, "tx_bytes"), n(&h, "rx_packets"), n(&h, "tx_packets")], *totals, "{h}");
        assert_eq!(bytes(&rows(&h["applications"], |r| s(r, "name"), false)), bytes(&want.host_apps[ip]), "{h}");
        assert_eq!(bytes(&rows(&h["peers"], |r| s(r, "ip"), false)), bytes(&want.host_peers[ip]), "{h}");
    }
}

/// The sum over an exchange's two directions as the local end sees it: rx, tx bytes.
fn exchange(flows: &[Flow], name: &str) -> [u64; 2] {
    let mut out = [0; 2];
    for f in flows.iter().filter(|f| f.exchange == name) {
        if local(&f.src) {
            out[1] += f.bytes;
        }
        if local(&f.dst) {
            out[0] += f.bytes;
        }
    }
    assert!(out != [0, 0], "no exchange {name} in the truth");
    out
}

/// The known traffic through softflowd (`args`) into a daemon with the default application list.
fn default_list_views(args: &[&str]) {
    let flows = truth();
    let want = expected(&flows, &classes(DEFAULT_APPS));
    let d = Daemon::start("");
    let t0 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 60;
    run_softflowd(PCAP, args, d.udp);
    check_views(&d, &want);
    check_window(&d, &want, &format!("from={t0}"));

    // What the expectation rests on, said once by hand: one row per application in the fixture;
    // 192.168.1.10 has four peers, one of them local; the flow between two local hosts counts
    // for both; the proxy exchange (ports 3128 and 6881) is web, the lower port deciding.
    let apps = applications(&d);
    assert_eq!(
        apps.keys().map(String::as_str).collect::<Vec<_>>(),
        ["dns", "icmp", "ntp", "other", "p2p", "ssh", "web"]
    );
    let web: [u64; 2] = ["web", "quic", "web6", "proxy"].iter().fold([0, 0], |a, x| {
        let e = exchange(&flows, x);
        [a[0] + e[0], a[1] + e[1]]
    });
    assert_eq!(apps["web"][..2], web);
    assert_eq!(apps["other"][..2], exchange(&flows, "other"));
    let lan = exchange(&flows, "lan-ssh"); // [rx, tx] of the pair: each is both
    assert_eq!(apps["ssh"][..2], [exchange(&flows, "ssh")[0] + lan[0], exchange(&flows, "ssh")[1] + lan[1]]);
    let (_, _, peers) = host(&d, "192.168.1.10");
    assert_eq!(
        peers.keys().map(String::as_str).collect::<Vec<_>>(),
        ["192.168.1.12", "198.51.100.7", "203.0.113.5", "203.0.113.77"]
    );
    let p = ports(&d);
    assert!(p.contains_key(&("tcp".into(), 3128, "web".into())), "{p:?}");
    assert!(p.contains_key(&("udp".into(), 5555, "other".into())), "{p:?}");
    assert!(p.contains_key(&("udp".into(), 443, "web".into())), "{p:?}");

    // Unknown host, remote peer, not an address.
    assert_eq!(d.get("/api/hosts/192.168.1.99").status, 404);
    assert_eq!(d.get("/api/hosts/203.0.113.5").status, 404);
    assert_eq!(d.get("/api/hosts/not-an-ip").status, 400);
    assert_eq!(d.metric("flowpi_decode_errors_total{kind=\"bad_set\"}"), 0);
}

#[test]
fn bidirectional_ipfix_gives_exact_views() {
    default_list_views(&["-v", "10", "-b"]);
}

#[test]
fn netflow_v9_gives_exact_views() {
    default_list_views(&["-v", "9"]);
}

#[test]
fn a_custom_application_list_replaces_the_default() {
    // `shadow` repeats 5555/udp after `mine`: the first class in the file wins.
    let list = "[applications]\nmine = \"5555/udp\"\nweb = \"443/tcp\"\nshadow = \"5555|22/tcp\"\n";
    let flows = truth();
    let want = expected(&flows, &classes(list));
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start_full(tmp.path(), Extra { http: "auth = \"none\"", sections: list, ..Extra::default() }, &[]);
    run_softflowd(PCAP, &["-v", "10", "-b"], d.udp);
    check_views(&d, &want);

    let apps = applications(&d);
    assert_eq!(apps.keys().map(String::as_str).collect::<Vec<_>>(), ["icmp", "mine", "other", "shadow", "web"]);
    assert_eq!(apps["mine"][..2], exchange(&flows, "other"));
    assert_eq!(apps["icmp"][..2], exchange(&flows, "ping"));
    assert_eq!(apps["web"][..2], {
        let (a, b) = (exchange(&flows, "web"), exchange(&flows, "web6"));
        [a[0] + b[0], a[1] + b[1]]
    });
    // QUIC (443/udp), DNS, NTP, BitTorrent and the proxy fall into other.
    let other = ["quic", "dns", "ntp", "p2p", "proxy"].iter().fold([0, 0], |a, x| {
        let e = exchange(&flows, x);
        [a[0] + e[0], a[1] + e[1]]
    });
    assert_eq!(apps["other"][..2], other);
    let p = ports(&d);
    assert!(p.contains_key(&("udp".into(), 443, "other".into())), "{p:?}");
    assert!(p.contains_key(&("udp".into(), 5555, "mine".into())), "{p:?}");
}

/// As a MikroTik router exports them: sourceIPv4Address (8), destinationIPv4Address (12),
/// sourceTransportPort (7), destinationTransportPort (11), protocolIdentifier (4),
/// octetDeltaCount (1), packetDeltaCount (2), postNATSourceIPv4Address (225),
/// postNATDestinationIPv4Address (226), postNAPTSourceTransportPort (227),
/// postNAPTDestinationTransportPort (228).
const NAT_FIELDS: &[(u16, u16)] =
    &[(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 4), (2, 4), (225, 4), (226, 4), (227, 2), (228, 2)];
/// The same without the NAT fields.
const PLAIN_FIELDS: &[(u16, u16)] = &[(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 4), (2, 4)];

fn v4(a: &str) -> [u8; 4] {
    a.parse::<std::net::Ipv4Addr>().unwrap().octets()
}

/// One record of NAT_FIELDS (with `nat` Some) or PLAIN_FIELDS.
#[allow(clippy::too_many_arguments)]
fn record(
    src: &str,
    dst: &str,
    sport: u16,
    dport: u16,
    bytes: u32,
    packets: u32,
    nat: Option<(&str, &str, u16, u16)>,
) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend(v4(src));
    r.extend(v4(dst));
    r.extend(sport.to_be_bytes());
    r.extend(dport.to_be_bytes());
    r.push(6); // TCP
    r.extend(bytes.to_be_bytes());
    r.extend(packets.to_be_bytes());
    if let Some((nsrc, ndst, nsport, ndport)) = nat {
        r.extend(v4(nsrc));
        r.extend(v4(ndst));
        r.extend(nsport.to_be_bytes());
        r.extend(ndport.to_be_bytes());
    }
    r
}

#[test]
fn post_nat_fields_find_the_host_behind_the_router() {
    let d = Daemon::start("");
    let templates = set(2, &[template(256, NAT_FIELDS), template(257, PLAIN_FIELDS)].concat());
    // Seen on the WAN side: to the router's address 198.51.100.2, translated to 192.168.1.50.
    let download = record(
        "203.0.113.5",
        "198.51.100.2",
        443,
        51000,
        5_000_000,
        3_500,
        Some(("203.0.113.5", "192.168.1.50", 443, 51000)),
    );
    // Seen on the LAN side: from 192.168.1.50, translated to the router's address.
    let upload = record(
        "192.168.1.50",
        "203.0.113.5",
        51000,
        443,
        700_000,
        2_100,
        Some(("198.51.100.2", "203.0.113.5", 51000, 443)),
    );
    // Transit between two remote addresses: nobody's.
    let transit = record("203.0.113.9", "198.51.100.77", 40000, 80, 123_456, 100, None);
    d.send(&ipfix(1, &[templates, set(256, &[download, upload].concat()), set(257, &transit)]));

    let want: BTreeMap<String, (u64, u64, u64, u64)> =
        [("192.168.1.50".to_string(), (5_000_000, 700_000, 3_500, 2_100))].into();
    settle(&d, "/api/hosts", &want, |d| d.hosts());
    settle(&d, "records", &3, |d| d.metric("flowpi_records_total"));
    // Only the download needed the NAT fields; the transit record is remote-only.
    assert_eq!(d.metric("flowpi_nat_attributed_records_total"), 1);
    assert_eq!(d.metric("flowpi_remote_only_records_total"), 1);

    let (totals, apps, peers) = host(&d, "192.168.1.50");
    assert_eq!(totals, [5_000_000, 700_000, 3_500, 2_100]);
    assert_eq!(peers, [("203.0.113.5".to_string(), [5_000_000, 700_000])].into());
    assert_eq!(apps, [("web".to_string(), [5_000_000, 700_000])].into());
    settle(
        &d,
        "/api/conversations",
        &[(("192.168.1.50".into(), "203.0.113.5".into()), [5_000_000, 700_000])].into(),
        conversations,
    );
    settle(&d, "/api/ports", &[(("tcp".into(), 443, "web".into()), [5_000_000, 700_000])].into(), ports);
    // Neither the router's WAN address nor the transit pair is anyone's host.
    assert_eq!(d.get("/api/hosts/198.51.100.2").status, 404);
    assert_eq!(d.get("/api/hosts/203.0.113.9").status, 404);
}

#[test]
fn application_graphs_are_drawn_from_their_archives() {
    let flows = truth();
    let want = expected(&flows, &classes(DEFAULT_APPS));
    let d = Daemon::start("");
    run_softflowd(PCAP, &["-v", "10", "-b"], d.udp);
    settle(&d, "/api/applications", &want.applications, applications);

    // The archive comes to hold the web traffic: its rx and tx bytes among its sources' sums.
    let web = d.archive().join("applications/web.rrd");
    let w = want.applications["web"];
    let holds = |v: u64, sums: &[f64]| sums.iter().any(|s| (s - v as f64).abs() <= 1e-6 * v as f64);
    d.wait_for("applications/web.rrd to hold the web traffic", |_| {
        web.exists() && {
            let sums = fetch_totals(&web, 120);
            holds(w[0], &sums) && holds(w[1], &sums)
        }
    });

    let png = d.get("/graph/application/web/day.png");
    assert_eq!(png.status, 200, "{}", String::from_utf8_lossy(&png.body));
    // A PNG of the size host graphs have by default.
    let host_png = d.get("/graph/host/192.168.1.10/day.png");
    assert_eq!(host_png.status, 200);
    assert_eq!(png_size(&png.body), png_size(&host_png.body));
    assert!(png_size(&png.body).is_some(), "not a PNG");
    let svg = d.get("/graph/application/icmp/hour.svg?width=500&height=180");
    assert_eq!(svg.status, 200, "{}", String::from_utf8_lossy(&svg.body));
    assert_eq!(svg_size(&svg.body), Some((500, 180)));
    for (path, status) in [
        ("/graph/application/nosuchapp/day.png", 404),
        ("/graph/application/../day.png", 400),
        ("/graph/application/..%2Fx/day.png", 400),
        ("/graph/application/web/fortnight.png", 400),
        ("/graph/application/web/day.jpg", 400),
    ] {
        assert_eq!(d.get(path).status, status, "{path}");
    }
}

#[test]
fn double_nat_credits_the_device_behind_both_routers() {
    // Behind an ISP box: the router's WAN address 192.168.1.2 is inside network.local
    // (192.168.0.0/16) too; the LAN is 192.168.88.0/24. The router exports on its WAN side.
    let d = Daemon::start("");
    let templates = set(2, &template(256, NAT_FIELDS));
    let download = record(
        "203.0.113.5",
        "192.168.1.2",
        443,
        51000,
        7_500_000,
        5_000,
        Some(("203.0.113.5", "192.168.88.10", 443, 51000)),
    );
    let upload = record(
        "192.168.88.10",
        "203.0.113.5",
        51000,
        443,
        300_000,
        900,
        Some(("192.168.1.2", "203.0.113.5", 40001, 443)),
    );
    d.send(&ipfix(1, &[templates, set(256, &[download, upload].concat())]));
    let want: BTreeMap<String, (u64, u64, u64, u64)> =
        [("192.168.88.10".to_string(), (7_500_000, 300_000, 5_000, 900))].into();
    settle(&d, "/api/hosts", &want, |d| d.hosts());
    assert_eq!(d.get("/api/hosts/192.168.1.2").status, 404, "the WAN address only stands for the LAN host");
    assert_eq!(d.metric("flowpi_nat_attributed_records_total"), 1);
    assert_eq!(d.metric("flowpi_double_nat_records_total"), 1);
    assert!(doctor_codes(&d).contains(&"double_nat".to_string()));
    let (_, _, peers) = host(&d, "192.168.88.10");
    assert_eq!(peers, [("203.0.113.5".to_string(), [7_500_000, 300_000])].into());
}

/// sourceIPv4Address (8), destinationIPv4Address (12), ingressInterface (10),
/// egressInterface (14), octetDeltaCount (1), packetDeltaCount (2), flowDirection (61).
const DIRECTION_FIELDS: &[(u16, u16)] = &[(8, 4), (12, 4), (10, 4), (14, 4), (1, 4), (2, 4), (61, 1)];

/// One record of DIRECTION_FIELDS.
fn directed(src: &str, dst: &str, input: u32, output: u32, bytes: u32, packets: u32, direction: u8) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend(v4(src));
    r.extend(v4(dst));
    r.extend(input.to_be_bytes());
    r.extend(output.to_be_bytes());
    r.extend(bytes.to_be_bytes());
    r.extend(packets.to_be_bytes());
    r.push(direction);
    r
}

/// `ifindex -> (in, out)` bytes of the interfaces list.
fn interface_bytes(d: &Daemon) -> BTreeMap<u64, (u64, u64)> {
    d.json("/api/interfaces")
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| {
            Some((r["ifindex"].as_u64()?, (r["in_bytes"].as_u64().unwrap(), r["out_bytes"].as_u64().unwrap())))
        })
        .collect()
}

#[test]
fn ingress_and_egress_records_of_one_flow_count_once() {
    // A router exporting at both interfaces in both directions: each flow arrives twice, as it
    // entered (ingress, flowDirection 0) and as it left (egress, 1), with the same interfaces.
    let d = Daemon::start("");
    let download = |dir| directed("203.0.113.5", "192.168.15.10", 1, 2, 1_000_000, 700, dir);
    let upload = |dir| directed("192.168.15.10", "203.0.113.5", 2, 1, 200_000, 300, dir);
    let data = [download(0), upload(0), download(1), upload(1)].concat();
    d.send(&ipfix(1, &[set(2, &template(256, DIRECTION_FIELDS)), set(256, &data)]));
    let want: BTreeMap<String, (u64, u64, u64, u64)> =
        [("192.168.15.10".to_string(), (1_000_000, 200_000, 700, 300))].into();
    settle(&d, "/api/hosts", &want, |d| d.hosts());
    settle(&d, "/api/interfaces", &[(1, (1_000_000, 200_000)), (2, (200_000, 1_000_000))].into(), interface_bytes);
    assert_eq!(d.metric("flowpi_egress_duplicate_records_total"), 2);
    assert!(doctor_codes(&d).contains(&"ingress_and_egress".to_string()));
    // Egress records from another source id of the same router are twins of its ingress ones
    // too (not counted); an exporter heard sending egress records only has them counted.
    let only_egress = directed("203.0.113.5", "192.168.15.11", 1, 3, 50_000, 40, 1);
    let datagram = |domain| ipfix(domain, &[set(2, &template(256, DIRECTION_FIELDS)), set(256, &only_egress)]);
    d.send(&datagram(2));
    let other_router = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
    other_router.send_to(&datagram(1), d.udp).unwrap();
    d.wait_for("the egress-only exporter counted", |d| d.hosts().get("192.168.15.11").is_some_and(|h| h.0 == 50_000));
    assert_eq!(d.metric("flowpi_egress_duplicate_records_total"), 3);
}

/// sourceIPv4Address (8), destinationIPv4Address (12), ingressInterface (10),
/// egressInterface (14), octetDeltaCount (1), packetDeltaCount (2).
const IF_FIELDS: &[(u16, u16)] = &[(8, 4), (12, 4), (10, 4), (14, 4), (1, 4), (2, 4)];

/// One record of IF_FIELDS.
fn routed(src: &str, dst: &str, input: u32, output: u32, bytes: u32) -> Vec<u8> {
    let mut r = directed(src, dst, input, output, bytes, bytes / 1000 + 1, 0);
    r.pop(); // no flowDirection
    r
}

/// Per ifIndex, why the interfaces list takes it as the line (`wan_by`), if it does.
type WanByIf = BTreeMap<u64, Option<String>>;

/// `ifindex -> (wan_by)` of the interfaces list, and the WANs /api/status names.
fn wan_of(d: &Daemon) -> (WanByIf, Vec<(u64, String)>) {
    let ifs = d.json("/api/interfaces");
    let rows = ifs
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| Some((r["ifindex"].as_u64()?, r["wan_by"].as_str().map(str::to_string))))
        .collect();
    let status = d.json("/api/status");
    let wan = status["wan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["ifindex"].as_u64().unwrap(), w["by"].as_str().unwrap().to_string()))
        .collect();
    (rows, wan)
}

#[test]
fn the_internet_line_is_learned_from_the_traffic_or_set_in_the_config() {
    // A MikroTik-like router whose WAN is plain "ether1" (ifIndex 7): downloads enter there for
    // the bridge (2), uploads leave there, and a 600 kB copy goes between two LAN ports (2 -> 3).
    let traffic = [
        routed("203.0.113.5", "192.168.16.10", 7, 2, 900_000),
        routed("192.168.16.10", "203.0.113.5", 2, 7, 100_000),
        routed("192.168.16.10", "192.168.16.11", 2, 3, 600_000),
    ]
    .concat();
    let names =
        "[[exporter]]\naddress = \"127.0.0.1\"\ninterfaces = { 7 = \"ether1\", 2 = \"bridge\", 3 = \"ether3\" }\n";
    let start = |sections: &str| {
        let tmp = tempfile::tempdir().unwrap();
        let d = Daemon::start_full(tmp.path(), Extra { http: "auth = \"none\"", sections, ..Extra::default() }, &[]);
        (d, tmp)
    };
    let (learned, _tmp) = start(names);
    learned.send(&ipfix(1, &[set(2, &template(256, IF_FIELDS)), set(256, &traffic)]));
    let want = ([(2, None), (3, None), (7, Some("traffic".to_string()))].into(), vec![(7, "traffic".to_string())]);
    settle(&learned, "the line learned", &want, wan_of);
    // The line carried the download and the upload, not the LAN copy.
    assert_eq!(interface_bytes(&learned)[&7], (900_000, 100_000));

    // The config says which: only that one, whatever the traffic says.
    let set_wan = format!("{names}wan = [3]\n");
    let (configured, _tmp) = start(&set_wan);
    configured.send(&ipfix(1, &[set(2, &template(256, IF_FIELDS)), set(256, &traffic)]));
    let want = ([(2, None), (3, Some("config".to_string())), (7, None)].into(), vec![(3, "config".to_string())]);
    settle(&configured, "the configured line", &want, wan_of);

    // Before the traffic says anything, a name like MikroTik's "ether1-wan" does.
    let named = "[[exporter]]\naddress = \"127.0.0.1\"\ninterfaces = { 1 = \"ether1-wan\", 2 = \"bridge\" }\n";
    let (by_name, _tmp) = start(named);
    let little = routed("203.0.113.5", "192.168.16.10", 1, 2, 5_000);
    by_name.send(&ipfix(1, &[set(2, &template(256, IF_FIELDS)), set(256, &little)]));
    let want = ([(1, Some("name".to_string())), (2, None)].into(), vec![(1, "name".to_string())]);
    settle(&by_name, "the line by its name", &want, wan_of);
}

#[test]
fn two_exporters_on_one_path_count_once_with_one_line_of_config() {
    // A router (127.0.0.1) and an access point (127.0.0.2) both export the same 300 flows.
    let flows: Vec<Vec<u8>> = (0..300u16)
        .map(|i| record("203.0.113.5", "192.168.17.10", 443, 40000 + i, 10_000 + u32::from(i), 10, None))
        .collect();
    let send = |d: &Daemon| {
        let ap = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
        for chunk in flows.chunks(30) {
            let data = ipfix(1, &[set(2, &template(257, PLAIN_FIELDS)), set(257, &chunk.concat())]);
            d.send(&data);
            ap.send_to(&data, d.udp).unwrap();
        }
    };
    let once: u64 = (0..300u64).map(|i| 10_000 + i).sum();
    let rx = |d: &Daemon| d.hosts().get("192.168.17.10").map_or(0, |h| h.0);
    // Without the config line every byte counts twice.
    let d = Daemon::start("");
    send(&d);
    settle(&d, "counted twice", &(2 * once), rx);
    // The doctor sees the same flows from both and names the line of config.
    let dup = d.json("/api/doctor");
    let f = dup.as_array().unwrap().iter().find(|f| f["code"] == "duplicate_export").unwrap_or_else(|| panic!("{dup}"));
    assert!(f["data"]["exporter"].is_string() && f["detail"].as_str().unwrap().contains("devices = false"), "{f}");
    // With it, once; the access point's interfaces still count its traffic.
    let tmp = tempfile::tempdir().unwrap();
    let sections = "[[exporter]]\naddress = \"127.0.0.2\"\nname = \"access point\"\ndevices = false\n";
    let d = Daemon::start_full(tmp.path(), Extra { http: "auth = \"none\"", sections, ..Extra::default() }, &[]);
    send(&d);
    settle(&d, "counted once", &once, rx);
    assert!(!doctor_codes(&d).contains(&"duplicate_export".to_string()), "the config says already");
    let ifs = d.json("/api/interfaces");
    let ap_in: u64 = ifs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["exporter"] == "127.0.0.2")
        .map(|r| r["in_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(ap_in, once, "{ifs}");
}

/// The codes /api/doctor reports now.
fn doctor_codes(d: &Daemon) -> Vec<String> {
    d.json("/api/doctor").as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap().to_string()).collect()
}
