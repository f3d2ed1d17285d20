//! End to end: the real binary on loopback with a 1 s step and a temporary archive. NetFlow v5 with
//! known totals goes in; the API, the RRD files (read by stock rrdtool), the graphs and the counters
//! must show exactly that.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use flowpi::decode::legacy::encode;
use flowpi::decode::FlowRecord;
use serde_json::{json, Value};

fn rec(src: &str, dst: &str, bytes: u64, packets: u64, input_if: u32, output_if: u32) -> FlowRecord {
    FlowRecord {
        src: Some(src.parse().unwrap()),
        dst: Some(dst.parse().unwrap()),
        bytes,
        packets,
        input_if,
        output_if,
        protocol: 6,
        src_port: 40000,
        dst_port: 443,
        tcp_flags: 0x1b,
        ..FlowRecord::default()
    }
}

/// The rows without what changes from step to step (the "now" rates and last seen), which
/// `now_is_what_arrived_during_the_last_step` checks.
fn settled(mut v: Value) -> Value {
    for r in v.as_array_mut().unwrap() {
        let o = r.as_object_mut().unwrap();
        for k in ["now_rx_bps", "now_tx_bps", "now_in_bps", "now_out_bps", "last_seen"] {
            o.remove(k);
        }
    }
    v
}

/// Rows keyed by the first field, so the comparison does not depend on order.
fn by_key(v: &Value, key: &str) -> BTreeMap<String, Value> {
    v.as_array().unwrap().iter().map(|r| (r[key].to_string(), r.clone())).collect()
}

/// What the test sends: 3 datagrams, one of them sampled 1-in-10.
fn traffic() -> Vec<Vec<u8>> {
    vec![
        encode(
            &[
                rec("192.168.1.10", "203.0.113.5", 1_000, 10, 2, 1),
                rec("203.0.113.5", "192.168.1.10", 50_000, 40, 1, 2),
                rec("192.168.1.11", "198.51.100.7", 300, 3, 2, 1),
            ],
            1,
            0,
            0,
        ),
        // A local-to-local flow counts for both hosts.
        encode(&[rec("192.168.1.10", "192.168.1.11", 700, 7, 2, 2)], 4, 0, 0),
        // Sampling 1-in-10 (mode 01 in the top bits): counts are multiplied.
        encode(&[rec("198.51.100.7", "192.168.1.11", 123, 2, 1, 2)], 5, 0, 0x4000 | 10),
    ]
}

/// Samples of `family` keyed by the named labels' values, one sample per key.
fn keyed(text: &str, family: &str, keys: &[&str]) -> BTreeMap<Vec<String>, f64> {
    let mut out = BTreeMap::new();
    for (labels, v) in samples(text, family) {
        assert_eq!(labels.len(), keys.len(), "{family} labels {labels:?}");
        let key: Vec<String> = keys.iter().map(|k| labels.get(*k).cloned().unwrap_or_else(|| panic!("{k}"))).collect();
        assert!(out.insert(key, v).is_none(), "{family}: a sample twice");
    }
    out
}

/// `/metrics` per host, interface and application says what the API says: the same rows (the
/// `other` rows included) and the same numbers. The process and build figures are there.
fn metrics_match_the_api(d: &Daemon) {
    let text = String::from_utf8(d.get("/metrics").body).unwrap();
    // (API list, family subject, API fields and the labels they become, API counts in then out,
    // the family's directions)
    type List<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], [&'a str; 4], [&'a str; 2]);
    let host_counts = ["rx_bytes", "tx_bytes", "rx_packets", "tx_packets"];
    let lists: [List; 3] = [
        ("/api/hosts", "host", &[("ip", "host"), ("name", "name")], host_counts, ["rx", "tx"]),
        (
            "/api/interfaces",
            "interface",
            &[("exporter", "exporter"), ("ifindex", "ifindex"), ("name", "name")],
            ["in_bytes", "out_bytes", "in_packets", "out_packets"],
            ["in", "out"],
        ),
        ("/api/applications", "application", &[("name", "application")], host_counts, ["rx", "tx"]),
    ];
    for (path, subject, fields, counts, dirs) in lists {
        let rows = d.json(path);
        let rows = rows.as_array().unwrap();
        assert!(!rows.is_empty(), "{path}");
        let labels: Vec<&str> = fields.iter().map(|(_, l)| *l).chain(["direction"]).collect();
        for (unit, at) in [("bytes", 0), ("packets", 2)] {
            let family = format!("flowpi_{subject}_{unit}_total");
            let mut want = BTreeMap::new();
            for r in rows {
                for (i, dir) in dirs.iter().enumerate() {
                    // The API's null (the overflow interface, an unnamed one) is an empty label.
                    let mut key: Vec<String> = fields
                        .iter()
                        .map(|(f, _)| match &r[*f] {
                            Value::Null => String::new(),
                            Value::String(s) => s.clone(),
                            v => v.to_string(),
                        })
                        .collect();
                    key.push(dir.to_string());
                    want.insert(key, r[counts[at + i]].as_u64().unwrap() as f64);
                }
            }
            assert_eq!(keyed(&text, &family, &labels), want, "{family} against {path}\n{text}");
        }
    }
    let rss = samples(&text, "process_resident_memory_bytes");
    assert_eq!(rss.len(), 1, "{text}");
    let vm_rss = d.proc_status("VmRSS:") as f64 * 1024.0;
    assert!(rss[0].1 > vm_rss / 4.0 && rss[0].1 < vm_rss * 4.0, "RSS {} against /proc's {vm_rss}", rss[0].1);
    for family in ["process_virtual_memory_bytes", "process_cpu_seconds_total", "process_open_fds", "process_max_fds"] {
        assert_eq!(samples(&text, family).len(), 1, "{family}");
    }
    let start = samples(&text, "process_start_time_seconds")[0].1;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!(start <= now + 1.0 && start > now - 600.0, "started at {start}, now {now}");
    let build = samples(&text, "flowpi_build_info");
    assert_eq!(build.len(), 1);
    assert_eq!(build[0].0["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(build[0].0["target"], std::env::consts::ARCH);
    assert_eq!(build[0].1, 1.0);
    // Every family is announced once.
    for family in ["flowpi_host_bytes_total", "flowpi_interface_packets_total", "flowpi_build_info", "process_open_fds"]
    {
        assert_eq!(text.matches(&format!("# TYPE {family} ")).count(), 1, "{family}");
        assert_eq!(text.matches(&format!("# HELP {family} ")).count(), 1, "{family}");
    }
}

#[test]
fn v5_totals_archives_graphs_and_counters() {
    let mut d = Daemon::start("");
    for dg in traffic() {
        d.send(&dg);
    }
    d.wait_for("5 records", |d| d.metric("flowpi_records_total") == 5);
    d.wait_for("hosts published", |d| d.json("/api/hosts").as_array().unwrap().len() == 2);

    // Exact totals per host, busiest first.
    let hosts = settled(d.json("/api/hosts"));
    assert_eq!(
        hosts,
        json!([
            {"ip": "192.168.1.10", "name": null, "rx_bytes": 50_000, "tx_bytes": 1_700, "rx_packets": 40, "tx_packets": 17},
            {"ip": "192.168.1.11", "name": null, "rx_bytes": 1_930, "tx_bytes": 300, "rx_packets": 27, "tx_packets": 3},
        ])
    );
    // Per (exporter, ifIndex): in = the flow's input interface, out = its output interface.
    let ifs = by_key(&settled(d.json("/api/interfaces")), "ifindex");
    assert_eq!(ifs.len(), 2);
    assert_eq!(
        ifs["1"],
        json!({"exporter": "127.0.0.1", "ifindex": 1, "wan": false, "name": null, "in_bytes": 51_230, "out_bytes": 1_300, "in_packets": 60, "out_packets": 13})
    );
    assert_eq!(
        ifs["2"],
        json!({"exporter": "127.0.0.1", "ifindex": 2, "wan": false, "name": null, "in_bytes": 2_000, "out_bytes": 51_930, "in_packets": 20, "out_packets": 67})
    );

    metrics_match_the_api(&d);

    // Archives: created, read by stock rrdtool, holding the rates that add up to the totals.
    let h10 = d.archive().join("hosts/192.168.1.10.rrd");
    let if1 = d.archive().join("interfaces/127.0.0.1_1.rrd");
    d.wait_for("archives written", |d| {
        d.metric("flowpi_archive_steps_pending") == 0 && d.metric("flowpi_archive_updates_total") >= 4
    });
    let info = rrdtool(&["info", h10.to_str().unwrap()]);
    assert!(info.contains("step = 1\n"), "{info}");
    for ds in ["rx_bytes", "tx_bytes", "rx_packets", "tx_packets"] {
        assert!(info.contains(&format!("ds[{ds}].type = \"ABSOLUTE\"")), "{ds} in {info}");
    }
    let size = std::fs::metadata(&h10).unwrap().len();
    std::thread::sleep(Duration::from_secs(2));
    let sums = fetch_totals(&h10, 60);
    assert_eq!(sums.len(), 4);
    for (got, want) in sums.iter().zip([50_000.0, 1_700.0, 40.0, 17.0]) {
        assert!((got - want).abs() < 1e-6 * want + 1e-9, "rrdtool fetch sums {sums:?}, want {want}");
    }
    let sums = fetch_totals(&if1, 60);
    assert!((sums[0] - 51_230.0).abs() < 0.05 && (sums[1] - 1_300.0).abs() < 0.05, "{sums:?}");
    assert_eq!(std::fs::metadata(&h10).unwrap().len(), size, "an archive's size never changes");

    // Graphs: real PNG and SVG of the requested size.
    let png = d.get("/graph/host/192.168.1.10/hour.png?width=640&height=240");
    assert_eq!(png.status, 200, "{}", String::from_utf8_lossy(&png.body));
    assert!(png.headers.contains("image/png"));
    assert_eq!(png_size(&png.body), Some((640, 240)));
    let svg = d.get("/graph/interface/127.0.0.1/2/day.svg?width=500&height=180");
    assert_eq!(svg.status, 200);
    assert!(svg.headers.contains("image/svg+xml"));
    assert_eq!(svg_size(&svg.body), Some((500, 180)));
    for p in ["hour", "day", "week", "month", "year"] {
        let r = d.get(&format!("/graph/host/192.168.1.11/{p}.png"));
        assert_eq!(png_size(&r.body), Some((600, 200)), "{p}");
    }
    // Cached for one step: the same request twice renders once.
    let rendered = d.metric("flowpi_graphs_rendered_total");
    let a = d.get("/graph/host/192.168.1.10/week.png?width=300&height=100");
    let b = d.get("/graph/host/192.168.1.10/week.png?width=300&height=100");
    assert_eq!(a.body, b.body);
    assert_eq!(d.metric("flowpi_graphs_rendered_total"), rendered + 1);
    assert!(d.metric("flowpi_graph_cache_hits_total") >= 1);

    // Counters.
    assert_eq!(d.metric("flowpi_datagrams_total"), 3);
    let bytes: usize = traffic().iter().map(|d| d.len()).sum();
    assert_eq!(d.metric("flowpi_datagram_bytes_total"), bytes as u64);
    assert_eq!(d.metric("flowpi_hosts"), 2);
    assert_eq!(d.metric("flowpi_interfaces"), 2);
    // Two hosts, two interfaces, and the applications their traffic named.
    let apps = std::fs::read_dir(d.archive().join("applications")).unwrap().count() as u64;
    assert!(apps >= 1);
    assert_eq!(d.metric("flowpi_archive_creates_total"), 4 + apps);
    assert_eq!(d.metric("flowpi_archive_update_errors_total"), 0);
    assert!(d.metric("flowpi_http_requests_total{code=\"2xx\"}") >= 10);

    // SIGTERM: exit 0, the steps not yet written kept in the journal.
    assert_eq!(d.stop(), 0, "{}", d.log());
    let log = d.log();
    assert!(log.contains("archive: stopped;"), "{log}");
}

#[test]
fn garbage_is_counted_and_loses_nothing() {
    let d = Daemon::start("");
    let good = encode(&[rec("192.168.7.7", "8.8.8.8", 4_242, 3, 1, 2)], 1, 0, 0);
    d.send(&good);
    let mut too_many = good.clone();
    too_many[3] = 31; // count above v5's 30
    let mut says_two = good.clone();
    says_two[3] = 2; // holds one record
    let garbage: Vec<(Vec<u8>, &str)> = vec![
        (vec![], "short"),
        (vec![0, 5], "short"),
        (good[..20].to_vec(), "short"),
        (good[..70].to_vec(), "truncated"),
        (says_two, "truncated"),
        (too_many, "bad_count"),
        (vec![0, 42, 0, 1, 0, 0, 0, 0], "unknown_version"),
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), "unknown_version"),
        (vec![0xff; 1500], "unknown_version"),
    ];
    let mut want: BTreeMap<&str, u64> = BTreeMap::new();
    for (g, kind) in &garbage {
        d.send(g);
        *want.entry(kind).or_default() += 1;
    }
    // A burst of random datagrams, some starting like v5.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..500 {
        let len = (i * 37) % 1600;
        let mut dg: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        if i % 2 == 0 && len >= 4 {
            dg[0] = 0;
            dg[1] = 5;
            dg[2] = 0;
            dg[3] = 31 + (i % 200) as u8; // count always out of range
        } else if len >= 2 {
            dg[0] = 0;
            dg[1] = 200;
        }
        // The kind follows from the length and first bytes alone.
        let kind = match (len, i % 2) {
            (0..=3, _) => "short",
            (4..=23, 0) => "short",
            (_, 0) => "bad_count",
            _ => "unknown_version",
        };
        *want.entry(kind).or_default() += 1;
        d.send(&dg);
    }
    let total_bad = garbage.len() as u64 + 500;
    d.wait_for("all datagrams", |d| d.metric("flowpi_datagrams_total") == 1 + total_bad);
    let sum: u64 = ["short", "truncated", "bad_count", "unknown_version"]
        .iter()
        .map(|k| d.metric(&format!("flowpi_decode_errors_total{{kind=\"{k}\"}}")))
        .sum();
    assert_eq!(sum, total_bad);
    for (kind, n) in &want {
        assert_eq!(d.metric(&format!("flowpi_decode_errors_total{{kind=\"{kind}\"}}")), *n, "{kind}");
    }
    assert_eq!(d.metric("flowpi_records_total"), 1);
    // Still serving, with exactly the good datagram's totals.
    d.wait_for("host published", |d| d.json("/api/hosts").as_array().unwrap().len() == 1);
    assert_eq!(
        settled(d.json("/api/hosts")),
        json!([{"ip": "192.168.7.7", "name": null, "rx_bytes": 0, "tx_bytes": 4_242, "rx_packets": 0, "tx_packets": 3}])
    );
    let log = d.log();
    assert!(
        log.contains("record count out of range; 0 records kept"),
        "a rate-limited warning names the problem: {log}"
    );
}

#[test]
fn http_errors_are_4xx() {
    let d = Daemon::start("");
    for (path, status) in [
        ("/nope", 404),
        ("/graph/host/192.168.1.300/day.png", 400),
        ("/graph/host/192.168.1.1/fortnight.png", 400),
        ("/graph/host/192.168.1.1/day.jpg", 400),
        ("/graph/host/192.168.1.1/day.png?width=99999", 400),
        ("/graph/interface/10.0.0.1/eth0/day.png", 400),
        // Well-formed, but no archive for it.
        ("/graph/host/192.168.1.1/day.png", 404),
        ("/graph/interface/10.0.0.1/4/day.svg", 404),
        ("/%ff%00/../../etc/passwd", 404),
    ] {
        assert_eq!(d.get(path).status, status, "{path}");
    }
    let r = request(d.http, "POST", "/api/hosts").unwrap();
    assert_eq!(r.status, 405);
    assert!(r.headers.to_ascii_lowercase().contains("allow: get, head"), "{}", r.headers);
    assert_eq!(request(d.http, "DELETE", "/").unwrap().status, 405);
    let head = request(d.http, "HEAD", "/").unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    let page = d.get("/");
    assert_eq!(page.status, 200);
    assert!(page.headers.contains("text/html"));
    assert!(d.get("/app.js").status == 200 && d.get("/style.css").status == 200);
    assert_eq!(d.metric("flowpi_http_requests_total{code=\"4xx\"}"), 11);
}

#[test]
fn overflow_row_and_restart_continue_the_same_files() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = Daemon::start_in(tmp.path(), "max_hosts = 2\nmax_interfaces = 1");
    let recs: Vec<FlowRecord> =
        (1..=5).map(|i| rec(&format!("192.168.3.{i}"), "9.9.9.9", 100 * i, i, i as u32, 0)).collect();
    d.send(&encode(&recs, 1, 0, 0));
    d.wait_for("overflow counted", |d| d.metric("flowpi_host_overflow_records_total") == 3);
    d.wait_for("other published", |d| d.json("/api/hosts").as_array().unwrap().len() == 3);
    let hosts = by_key(&d.json("/api/hosts"), "ip");
    assert_eq!(hosts["\"other\""]["tx_bytes"], 300 + 400 + 500);
    let sent: u64 = hosts.values().map(|h| h["tx_bytes"].as_u64().unwrap()).sum();
    assert_eq!(sent, 1_500, "nothing lost past max_hosts");
    let ifs = d.json("/api/interfaces");
    let ifs_in: u64 = ifs.as_array().unwrap().iter().map(|r| r["in_bytes"].as_u64().unwrap()).sum();
    assert_eq!(ifs_in, 1_500);
    assert_eq!(ifs.as_array().unwrap().len(), 2, "one interface and the other row: {ifs}");
    metrics_match_the_api(&d);
    d.wait_for("other archive", |d| d.archive().join("hosts/other.rrd").exists());
    assert_eq!(d.get("/graph/host/other/day.png").status, 200, "{}", d.log());
    assert_eq!(d.get("/graph/interface/other/day.png").status, 200, "{}", d.log());
    assert_eq!(d.stop(), 0);

    let file = tmp.path().join("archive/hosts/192.168.3.1.rrd");
    let last = |f: &std::path::Path| rrdtool(&["last", f.to_str().unwrap()]).trim().parse::<i64>().unwrap();
    let (size, before) = (std::fs::metadata(&file).unwrap().len(), last(&file));
    std::thread::sleep(Duration::from_millis(1100));
    let d = Daemon::start_in(tmp.path(), "max_hosts = 2\nmax_interfaces = 1");
    d.send(&encode(&[rec("192.168.3.1", "9.9.9.9", 77, 1, 1, 0)], 2, 0, 0));
    d.wait_for("both runs' bytes in the same file", |_| {
        last(&file) > before && (fetch_totals(&file, 120)[1] - 177.0).abs() < 0.05
    });
    assert_eq!(std::fs::metadata(&file).unwrap().len(), size);
    assert!(!d.log().contains("cannot create"), "{}", d.log());
}

/// Does stock rrdtool read `file` (without failing the test when it does not)?
fn readable(file: &std::path::Path) -> bool {
    let tool = std::env::var("FLOWPI_TEST_RRDTOOL").unwrap_or_else(|_| "rrdtool".into());
    std::process::Command::new(tool).arg("last").arg(file).output().is_ok_and(|o| o.status.success())
}

#[test]
fn a_broken_archive_is_set_aside_and_recreated() {
    let tmp = tempfile::tempdir().unwrap();
    let hosts = tmp.path().join("archive/hosts");
    let file = hosts.join("192.168.7.1.rrd");
    let aside = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&hosts)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with("192.168.7.1.rrd.broken-"))
            .collect();
        v.sort();
        v
    };
    let mut d = Daemon::start_in(tmp.path(), "");
    d.send(&encode(&[rec("192.168.7.1", "9.9.9.9", 100, 1, 1, 0)], 1, 0, 0));
    d.wait_for("the archive", |_| file.exists());
    assert_eq!(d.stop(), 0);
    // A card that filled up mid-write leaves a truncated file: librrd refuses it for good.
    std::fs::OpenOptions::new().write(true).open(&file).unwrap().set_len(100).unwrap();
    let d = Daemon::start_in(tmp.path(), "");
    d.send(&encode(&[rec("192.168.7.1", "9.9.9.9", 200, 1, 1, 0)], 2, 0, 0));
    d.wait_for("set aside", |d| d.metric("flowpi_archive_broken_total") == 1);
    assert_eq!(aside().len(), 1, "kept as NAME.rrd.broken-TIME");
    // The journal still had the first run's last steps: they go into the new file too.
    d.wait_for("the new file written", |d| {
        d.metric("flowpi_archive_steps_pending") == 0
            && readable(&file)
            && fetch_totals(&file, 120).get(1).is_some_and(|t| *t >= 200.0)
    });
    // Broken while flowpi runs: found at the next update, set aside, recreated.
    std::fs::write(&file, b"not an rrd file").unwrap();
    d.send(&encode(&[rec("192.168.7.1", "9.9.9.9", 300, 1, 1, 0)], 3, 0, 0));
    d.wait_for("set aside again", |d| d.metric("flowpi_archive_broken_total") == 2);
    // The 300 B counted while the file was broken land in the new one.
    d.wait_for("the 300 B", |_| {
        readable(&file) && fetch_totals(&file, 120).get(1).is_some_and(|t| (*t - 300.0).abs() < 0.5)
    });
    let log = d.log();
    assert_eq!(log.matches("is unreadable").count(), 2, "logged once per broken file:\n{log}");
    assert_eq!(d.metric("flowpi_archive_update_errors_total"), 0);
}

#[test]
fn now_is_what_arrived_during_the_last_step_and_the_wan_is_listed_first() {
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start_full(
        tmp.path(),
        Extra {
            http: "auth = \"none\"",
            sections: "[[exporter]]\naddress = \"127.0.0.1\"\ninterfaces = { 1 = \"lan\", 7 = \"WAN-fiber\" }",
            ..Extra::default()
        },
        &[],
    );
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    // A big LAN-side flow and a small one through the WAN (ifIndex 7).
    d.send(&encode(
        &[rec("203.0.113.5", "192.168.1.10", 90_000, 60, 1, 1), rec("203.0.113.5", "192.168.1.11", 1_000, 2, 7, 1)],
        1,
        0,
        0,
    ));
    // The step's hand-over takes exactly that datagram: 90 kB in a 1 s step is 720 kbit/s.
    d.wait_for("now", |d| d.json("/api/hosts?sort=now")[0]["now_rx_bps"].as_f64() == Some(720_000.0));
    let hosts = d.json("/api/hosts?sort=now");
    assert_eq!(hosts[0]["ip"], "192.168.1.10");
    assert_eq!(hosts[1]["now_rx_bps"].as_f64(), Some(8_000.0));
    assert_eq!(hosts[0]["now_tx_bps"].as_f64(), Some(0.0));
    let seen = hosts[0]["last_seen"].as_i64().unwrap();
    assert!(seen >= before - 1 && seen <= before + 30, "last seen {seen}, sent at {before}");
    // The WAN first although the LAN interface carried more; then busiest first.
    let ifs = d.json("/api/interfaces");
    let order: Vec<(u64, bool)> =
        ifs.as_array().unwrap().iter().map(|r| (r["ifindex"].as_u64().unwrap(), r["wan"].as_bool().unwrap())).collect();
    assert_eq!(order, vec![(7, true), (1, false)], "{ifs}");
    // Nothing arrives in the next steps: now falls back to 0, last seen stays.
    d.wait_for("now back to 0", |d| d.json("/api/hosts?sort=now")[0]["now_rx_bps"].as_f64() == Some(0.0));
    let h = d.json("/api/hosts/192.168.1.10");
    assert_eq!(h["last_seen"].as_i64(), Some(seen), "{h}");
    assert_eq!(h["now_rx_bps"].as_f64(), Some(0.0));
}
