//! Hostile senders against the real binary on loopback: a flood of observation domains beside a
//! real exporter, senders outside collector.allow, a tampered exporters.json, and held data past
//! collector.pending_bytes. Each must be refused and counted while the real exporter loses nothing.

mod common;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use flowpi::decode::legacy::encode;
use flowpi::decode::FlowRecord;

/// flowpi with lines of our own in [collector], open (no login), a 1 s step and a temporary
/// archive; `prepare` may put files into the archive directory first.
struct Flowpi {
    d: Daemon,
    dir: tempfile::TempDir,
    collector: String,
    archive: String,
}

impl std::ops::Deref for Flowpi {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.d
    }
}

impl Flowpi {
    fn start(collector: &str) -> Flowpi {
        Flowpi::start_with(collector, |_| {})
    }

    fn start_with(collector: &str, prepare: impl FnOnce(&Path)) -> Flowpi {
        Flowpi::start_full(collector, "", prepare)
    }

    /// With lines of our own in [archive] too.
    fn start_full(collector: &str, archive: &str, prepare: impl FnOnce(&Path)) -> Flowpi {
        let dir = tempfile::tempdir().unwrap();
        let archive_dir = dir.path().join("archive");
        std::fs::create_dir_all(&archive_dir).unwrap();
        prepare(&archive_dir);
        let extra = Extra { collector, archive, http: "auth = \"none\"", ..Extra::default() };
        let d = Daemon::start_full(dir.path(), extra, &[]);
        Flowpi { d, dir, collector: collector.to_string(), archive: archive.to_string() }
    }

    /// Stop (SIGTERM: the state is saved) and start again on the same archive and config lines.
    fn restart(mut self) -> Flowpi {
        assert_eq!(self.d.stop(), 0);
        let extra =
            Extra { collector: &self.collector, archive: &self.archive, http: "auth = \"none\"", ..Extra::default() };
        let d = Daemon::start_full(self.dir.path(), extra, &[]);
        Flowpi { d, dir: self.dir, collector: self.collector, archive: self.archive }
    }

    /// Wait until flowpi has taken `sent` datagrams off its socket: senders pace themselves with
    /// this, so a test never depends on the kernel's socket buffer.
    fn sync(&self, sent: u64) {
        self.wait_for(&format!("{sent} datagrams received"), |d| d.metric("flowpi_datagrams_total") == sent);
    }

    /// Wait until a counter reads `want` (it may still be moving: flowpi counts a datagram as
    /// received before it decodes it); fail showing what it reads.
    fn expect(&self, name: &str, want: u64) {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if self.metric(name) == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(self.metric(name), want, "{name}");
    }
}

/// /api/hosts as ip -> (tx_bytes, rx_bytes): what these tests send is mostly from local hosts.
fn hosts(d: &Daemon) -> BTreeMap<String, (u64, u64)> {
    d.hosts().into_iter().map(|(ip, (rx, tx, _, _))| (ip, (tx, rx))).collect()
}

/// A UDP socket on a loopback address (Linux routes all of 127/8 to lo, so each is a separate
/// sender as far as flowpi can tell).
fn sender(ip: &str) -> UdpSocket {
    UdpSocket::bind((ip, 0)).unwrap()
}

/// A NetFlow v9 datagram: header (version 9, count, sysUptime, unix secs, sequence, source id)
/// and flowsets.
fn v9(source_id: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend(9u16.to_be_bytes()); // version
    d.extend((sets.len() as u16).to_be_bytes()); // count
    d.extend(60_000u32.to_be_bytes()); // sysUptime, ms
    d.extend(1_700_000_000u32.to_be_bytes()); // unix secs
    d.extend(0u32.to_be_bytes()); // package sequence
    d.extend(source_id.to_be_bytes()); // source id
    for s in sets {
        d.extend(s);
    }
    d
}

/// Template record 256: IPv4 src (8/4), dst (12/4), octets (1/4), packets (2/4). In an IPFIX
/// template set (id 2) or a v9 template flowset (id 0), as `set_id` says.
fn template_set(set_id: u16) -> Vec<u8> {
    set(set_id, &template(256, &[(8, 4), (12, 4), (1, 4), (2, 4)]))
}

/// Data set 256 with one 16-byte record per (src host, bytes): 192.168.`net`.`host` to 8.8.8.8,
/// 1 packet.
fn data_set(net: u8, records: &[(u8, u32)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (host, bytes) in records {
        b.extend([192, 168, net, *host, 8, 8, 8, 8]); // src, dst
        b.extend(bytes.to_be_bytes()); // octets
        b.extend(1u32.to_be_bytes()); // packets
    }
    set(256, &b)
}

#[test]
fn a_domain_flood_takes_nothing_from_a_real_exporter() {
    let f = Flowpi::start(""); // defaults: 64 exporters, 8 domains per address
    let router = sender("127.0.0.1");
    let flood_same = sender("127.0.0.1"); // the router's own address, another port
    let flood_other = sender("127.0.0.2");
    let (sent, mut want, mut seq) = (std::cell::Cell::new(0u64), 0u64, 0u32);
    let send = |s: &UdpSocket, d: &[u8]| {
        s.send_to(d, f.udp).unwrap();
        sent.set(sent.get() + 1);
    };
    // The real exporter: IPFIX, observation domain 1, template and data in its first message,
    // one record per message, sequence numbers that continue.
    let mut from_router = |sets: &[Vec<u8>]| {
        send(&router, &ipfix_seq(1, seq, sets));
        seq += 1;
    };
    from_router(&[template_set(2), data_set(1, &[(10, 1_000)])]);
    want += 1_000;
    for round in 0..4u32 {
        // Between two of the router's messages, 64 domains from another address, each with its
        // template and a 100-byte record from 192.168.2.2 ...
        for domain in 1_000..1_064 {
            send(&flood_other, &ipfix(domain, &[template_set(2), data_set(2, &[(2, 100)])]));
        }
        let bytes = 1_100 + round;
        from_router(&[data_set(1, &[(10, bytes)])]);
        want += u64::from(bytes);
        // ... and 64 from the router's own address (192.168.2.1's records).
        for domain in 2_000..2_064 {
            send(&flood_same, &ipfix(domain, &[template_set(2), data_set(2, &[(1, 100)])]));
        }
        let bytes = 1_200 + round;
        from_router(&[data_set(1, &[(10, bytes)])]);
        want += u64::from(bytes);
        f.sync(sent.get());
    }
    // Then one domain each from 98 more addresses (192.168.2.3's records): the table of 64 fills,
    // and the flood's domains make way for the rest, never the router's.
    for i in 3..=100 {
        send(&sender(&format!("127.0.0.{i}")), &ipfix(7, &[template_set(2), data_set(2, &[(3, 100)])]));
        if i % 10 == 0 {
            from_router(&[data_set(1, &[(10, 1_300 + i)])]);
            want += u64::from(1_300 + i);
            f.sync(sent.get());
        }
    }
    f.sync(sent.get());
    // The router's every record, exactly. Each flood domain is heard once per round, so none
    // shows sequence numbers that continue: each newcomer takes the place of one of them (at an
    // address's 8 places, then the table's 64), and every message of the floods decodes.
    let want_hosts = BTreeMap::from([
        ("192.168.1.10".to_string(), (want, 0)),
        ("192.168.2.1".to_string(), (64 * 4 * 100, 0)),
        ("192.168.2.2".to_string(), (64 * 4 * 100, 0)),
        ("192.168.2.3".to_string(), (98 * 100, 0)),
    ]);
    f.wait_for("totals published", |d| hosts(d) == want_hosts);
    f.expect("flowpi_denied_datagrams_total{reason=\"domain_limit\"}", 0);
    f.expect("flowpi_exporters", 64);
    // First round: 64 - 8 at 127.0.0.2 and 64 - 7 beside the router's domain; then 64 each per
    // round; then 98 - 48 single-domain addresses past the table's 64.
    f.expect("flowpi_exporter_evictions_total", 56 + 57 + 3 * 2 * 64 + 50);
    // Had the router's domain been pushed out, its data would have waited for a template.
    f.expect("flowpi_missing_template_sets_total", 0);
    f.expect("flowpi_denied_datagrams_total{reason=\"not_allowed\"}", 0);
}

#[test]
fn senders_outside_the_allow_list_are_dropped_and_counted() {
    let f = Flowpi::start("allow = [\"127.0.0.1\"]");
    let rec = |src: &str, bytes: u64| FlowRecord {
        src: Some(src.parse().unwrap()),
        dst: Some("8.8.8.8".parse().unwrap()),
        bytes,
        packets: 1,
        ..FlowRecord::default()
    };
    let (router, stranger) = (sender("127.0.0.1"), sender("127.0.0.2"));
    for i in 0..20u32 {
        stranger.send_to(&encode(&[rec("192.168.5.5", 999_999)], i, 0, 0), f.udp).unwrap();
        // The stranger's templates must not reach the state either.
        stranger.send_to(&v9(0, &[template_set(0), data_set(5, &[(6, 999_999)])]), f.udp).unwrap();
    }
    router.send_to(&encode(&[rec("192.168.1.1", 1_234)], 0, 0, 0), f.udp).unwrap();
    f.sync(41);
    f.expect("flowpi_denied_datagrams_total{reason=\"not_allowed\"}", 40);
    f.expect("flowpi_records_total", 1);
    f.wait_for("the router's total", |d| hosts(d) == BTreeMap::from([("192.168.1.1".to_string(), (1_234, 0))]));
    let exporters: serde_json::Value =
        serde_json::from_slice(&try_get(f.http, "/api/exporters").unwrap().body).unwrap();
    assert_eq!(exporters.as_array().unwrap().len(), 1, "{exporters}");
    assert_eq!(exporters[0]["address"], "127.0.0.1", "{exporters}");
}

#[test]
fn a_tampered_state_file_is_refused_with_one_warning() {
    // The exporter 127.0.0.1 (v9, source id 0) as saved, with three entries no wire would give:
    // a sampling rate of 2^60 (the wire refuses above 1:1,000,000), a sampler at the same rate,
    // and a template of 200 fields (collector.max_fields_per_template is 128). Template 256 is
    // sound and is kept.
    let flow = serde_json::json!({"id": 256, "scope_fields": 0, "options": false,
                                  "fields": [[8, 4, 0], [12, 4, 0], [1, 4, 0], [2, 4, 0]]});
    let wide = serde_json::json!({"id": 257, "scope_fields": 0, "options": false, "fields": vec![[1, 4, 0]; 200]});
    let state = serde_json::json!({"format": 1, "exporters": [{
        "key": {"addr": "127.0.0.1", "version": 9, "domain": 0},
        "templates": [flow, wide],
        "samplers": [[1, 1u64 << 60]],
        "default_sampling": 1u64 << 60,
        "if_names": [[1, "wan"]]
    }]});
    let f = Flowpi::start_with("", |archive| {
        std::fs::write(archive.join("exporters.json"), serde_json::to_vec(&state).unwrap()).unwrap()
    });
    // The collector reads the file as it starts, which may be after the web server answers.
    f.wait_for("the state file read", |d| d.log().contains("refused"));
    let log = f.log();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("exporters.json") && l.contains("refused")).collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(warnings[0].contains("refused 3 entries") && warnings[0].contains("WARN"), "{log}");
    f.expect("flowpi_state_rejected_total", 3);
    // Data alone (no template in the datagram): the restored template reads it, at rate 1.
    sender("127.0.0.1").send_to(&v9(0, &[data_set(1, &[(20, 1_000)])]), f.udp).unwrap();
    f.wait_for("the flow", |d| hosts(d) == BTreeMap::from([("192.168.1.20".to_string(), (1_000, 0))]));
    f.expect("flowpi_missing_template_sets_total", 0);
    // The state is written back without the refused entries.
    f.wait_for("state rewritten", |_| {
        let text = std::fs::read_to_string(f.dir.path().join("archive/exporters.json")).unwrap();
        !text.contains(&(1u64 << 60).to_string()) && text.contains("\"wan\"")
    });
}

#[test]
fn an_unreadable_state_file_is_a_warning_and_an_empty_start() {
    let f = Flowpi::start_with("", |archive| {
        std::fs::write(archive.join("exporters.json"), b"{\"format\": 1, \"exporters\": [{\"key\": 17").unwrap()
    });
    f.wait_for("the state file read", |d| d.log().contains("no saved state"));
    let log = f.log();
    assert!(
        log.lines().any(|l| l.contains("WARN") && l.contains("exporters.json") && l.contains("no saved state")),
        "{log}"
    );
    f.expect("flowpi_state_rejected_total", 1);
    f.expect("flowpi_exporters", 0);
    // Still collecting.
    sender("127.0.0.1").send_to(&v9(0, &[template_set(0), data_set(1, &[(21, 500)])]), f.udp).unwrap();
    f.wait_for("the flow", |d| hosts(d) == BTreeMap::from([("192.168.1.21".to_string(), (500, 0))]));
}

#[test]
fn held_data_is_bounded_in_bytes() {
    // 200 000 bytes of held data at most, where the 256 sets allowed could hold 15 MB.
    let f = Flowpi::start("pending_bytes = 200000");
    let s = sender("127.0.0.1");
    let rss_before = f.proc_status("VmRSS:");
    // 300 v9 datagrams, each one data set of 3 750 records of 100 bytes for template 256, which
    // has not come yet: 60 000 bytes held per set. Datagram i's records are all from 192.168.3.(i
    // mod 256), so the totals show which sets were kept.
    let big = |i: u64| v9(0, &[data_set(3, &vec![(i as u8, 100); 3_750])]);
    assert_eq!(big(1).len(), 20 + 4 + 60_000);
    for i in 1..=300u64 {
        s.send_to(&big(i), f.udp).unwrap();
        if i % 4 == 0 {
            f.sync(i);
        }
    }
    f.sync(300);
    // Three sets fit: each new one past them pushed the oldest out.
    f.expect("flowpi_pending_bytes", 180_000);
    f.expect("flowpi_pending_sets", 3);
    f.expect("flowpi_pending_bytes_overflow_total", 297);
    f.expect("flowpi_missing_template_sets_total", 300);
    let grown = f.proc_status("VmRSS:").saturating_sub(rss_before);
    // The 256 sets unbounded would hold 15 MB. Under qemu-user the RSS also grows by the
    // emulator's translation of the code this runs for the first time (9.1 MB on aarch64).
    let exe = std::fs::read_link(format!("/proc/{}/exe", f.d.child.id())).unwrap_or_default();
    let bound = if exe.to_string_lossy().contains("qemu") { 12 } else { 8 } * 1024;
    assert!(grown < bound, "RSS grew by {grown} kB holding data sets");
    // The template comes: the three newest sets (298, 299 and 300) decode, and nothing is held
    // any more.
    s.send_to(&v9(0, &[template_set(0)]), f.udp).unwrap();
    f.sync(301);
    f.expect("flowpi_records_total", 3 * 3_750);
    f.expect("flowpi_pending_bytes", 0);
    f.expect("flowpi_pending_sets", 0);
    let want: BTreeMap<String, (u64, u64)> =
        [42u8, 43, 44].iter().map(|h| (format!("192.168.3.{h}"), (3_750 * 100, 0))).collect();
    f.wait_for("the newest sets' totals", |d| hosts(d) == want);
}

#[test]
fn a_template_flood_rewrites_the_state_file_at_most_once_a_minute() {
    let f = Flowpi::start("");
    let state = f.archive().join("exporters.json");
    // Four seconds of new exporters, each with its template: the state changes every second.
    let mut sent = 0;
    for i in 2..=41u32 {
        let s = sender(&format!("127.0.0.{i}"));
        s.send_to(&ipfix(i, &[template_set(2), data_set(9, &[(1, 100)])]), f.udp).unwrap();
        sent += 1;
        f.sync(sent);
        std::thread::sleep(Duration::from_millis(100));
    }
    f.expect("flowpi_exporters", 40);
    // Written once, when the first template came; the next write waits a minute (or the stop).
    f.expect("flowpi_state_saves_total", 1);
    let written = std::fs::metadata(&state).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(f.metric("flowpi_state_saves_total"), 1);
    assert_eq!(std::fs::metadata(&state).unwrap().modified().unwrap(), written);
    // A stop saves what changed since, so a restart knows every template.
    let mut f = f;
    assert_eq!(f.d.stop(), 0);
    let saved = std::fs::read_to_string(&state).unwrap();
    assert_eq!(saved.matches("\"templates\"").count(), 40, "every exporter's templates saved at stop");
}

/// Start flowpi with `prepare` putting something that is not a file where exporters.json goes:
/// it must say so, start with no saved state, and count what a router sends.
fn a_state_file_that_is_not_a_file(prepare: impl FnOnce(&Path), what: &str) {
    let f = Flowpi::start_with("", prepare);
    // The collector reads the state as it starts, which may be after the web server answers:
    // with a plain open and read it waited forever (a FIFO) or filled the memory (/dev/zero)
    // there, while HTTP went on answering.
    f.wait_for("the refusal logged", |d| d.log().contains("refusing"));
    let log = f.log();
    let line = log.lines().find(|l| l.contains("refusing")).unwrap();
    assert!(
        line.contains("WARN")
            && line.contains("exporters.json")
            && line.contains(what)
            && line.contains("no saved state"),
        "{log}"
    );
    f.expect("flowpi_state_rejected_total", 1);
    sender("127.0.0.1").send_to(&v9(0, &[template_set(0), data_set(1, &[(22, 700)])]), f.udp).unwrap();
    f.wait_for("the flow", |d| hosts(d) == BTreeMap::from([("192.168.1.22".to_string(), (700, 0))]));
    // /dev/zero read whole would take gigabytes. Under qemu-user the RSS also holds the emulator's
    // translated code (66.6 MB on aarch64), so the bound there is wider, still far below that.
    let exe = std::fs::read_link(format!("/proc/{}/exe", f.d.child.id())).unwrap_or_default();
    let bound = if exe.to_string_lossy().contains("qemu") { 160 } else { 64 } * 1024;
    assert!(f.proc_status("VmRSS:") < bound, "RSS {} kB", f.proc_status("VmRSS:"));
    // At stop the state is saved as a regular file in its place.
    let mut f = f;
    assert_eq!(f.d.stop(), 0);
    let state = f.dir.path().join("archive/exporters.json");
    assert!(std::fs::symlink_metadata(&state).unwrap().file_type().is_file());
}

#[test]
fn a_fifo_as_the_state_file_is_refused() {
    a_state_file_that_is_not_a_file(
        |archive| {
            let c = std::ffi::CString::new(archive.join("exporters.json").to_str().unwrap()).unwrap();
            // SAFETY: a NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        },
        "not a regular file (a FIFO)",
    );
}

#[test]
fn a_symlink_to_dev_zero_as_the_state_file_is_refused() {
    a_state_file_that_is_not_a_file(
        |archive| std::os::unix::fs::symlink("/dev/zero", archive.join("exporters.json")).unwrap(),
        "not a regular file (a character device)",
    );
}

/// An IPFIX message with its sequence number (the data records sent before it in this domain,
/// RFC 7011 §3.1): what a real router sends.
fn ipfix_seq(domain: u32, seq: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let mut d = ipfix(domain, sets);
    d[8..12].copy_from_slice(&seq.to_be_bytes());
    d
}

/// A router (IPFIX, observation domain 1, one 192.168.1.10 record per message, sequence numbers
/// that continue) against a hostile neighbour who fills the exporter table first with template-only
/// messages: 8 addresses × 8 observation domains, or with `allow` (only the router's address gets
/// in) 8 other domains from the router's own, spoofed, address. Between two of the router's
/// messages, 8 more template-only messages of new domains. With `restart`, the router is first heard
/// alone, flowpi is restarted (its state saved and restored), and the neighbour speaks first after
/// the restart. The router's bytes after the flood began, as counted and as sent.
fn router_against_a_template_flood(allow: bool, restart: bool) -> (u64, u64) {
    let mut f = Flowpi::start(if allow { "allow = [\"127.0.0.1\"]" } else { "" });
    let router = sender("127.0.0.1");
    let attackers: Vec<UdpSocket> =
        if allow { vec![sender("127.0.0.1")] } else { (2..=9).map(|i| sender(&format!("127.0.0.{i}"))).collect() };
    let (mut sent, mut seq) = (0u64, 0u32);
    if restart {
        for i in 0..5u32 {
            let sets =
                if i == 0 { vec![template_set(2), data_set(1, &[(10, 500)])] } else { vec![data_set(1, &[(10, 500)])] };
            router.send_to(&ipfix_seq(1, seq, &sets), f.udp).unwrap();
            seq += 1;
            sent += 1;
        }
        f.sync(sent);
        f.wait_for("the router's flows", |d| hosts(d).get("192.168.1.10") == Some(&(2_500, 0)));
        f = f.restart();
        sent = 0;
    }
    let mut domain = 100u32;
    let mut flood = |f: &Flowpi, sent: &mut u64, per_address: u32| {
        for a in &attackers {
            for _ in 0..per_address {
                a.send_to(&ipfix(domain, &[template_set(2)]), f.udp).unwrap();
                domain += 1;
                *sent += 1;
            }
        }
    };
    // The table is full before the router is heard (again).
    flood(&f, &mut sent, 8);
    f.sync(sent);
    let mut want = 0u64;
    for i in 0..50u32 {
        let bytes = 1_000 + i;
        // After a restart the router sends data only: its template was restored.
        let sets = if i == 0 && !restart {
            vec![template_set(2), data_set(1, &[(10, bytes)])]
        } else {
            vec![data_set(1, &[(10, bytes)])]
        };
        router.send_to(&ipfix_seq(1, seq, &sets), f.udp).unwrap();
        seq += 1;
        sent += 1;
        want += u64::from(bytes);
        flood(&f, &mut sent, if allow { 8 } else { 1 });
        f.sync(sent);
    }
    f.wait_for_secs("the router's records counted", 5, |d| d.metric("flowpi_datagrams_total") == sent);
    std::thread::sleep(Duration::from_millis(1_500)); // the totals are published once a second
    let got = hosts(&f).get("192.168.1.10").map_or(0, |h| h.0);
    // Had the router been pushed out, its data would have waited for a template.
    if got == want {
        f.expect("flowpi_missing_template_sets_total", 0);
    }
    let denied = f.metric("flowpi_denied_datagrams_total{reason=\"domain_limit\"}");
    eprintln!(
        "allow {allow}, restart {restart}: router {got} of {want} bytes, {denied} datagrams denied (domain_limit)"
    );
    (got, want)
}

#[test]
fn a_template_flood_sent_first_takes_nothing_from_the_router() {
    let (got, want) = router_against_a_template_flood(false, false);
    assert_eq!(got, want);
}

#[test]
fn a_template_flood_after_a_restart_takes_nothing_from_the_restored_router() {
    let (got, want) = router_against_a_template_flood(false, true);
    assert_eq!(got, want);
}

#[test]
fn a_template_flood_spoofing_the_allowed_router_takes_nothing_from_it() {
    let (got, want) = router_against_a_template_flood(true, false);
    assert_eq!(got, want);
}

#[test]
fn a_template_flood_spoofing_the_allowed_router_after_a_restart_takes_nothing_from_it() {
    let (got, want) = router_against_a_template_flood(true, true);
    assert_eq!(got, want);
}

/// 64 exporters (127.0.0.2 to .65, IPFIX domain 1) that look like routers (template and flows
/// with continuing sequence numbers, on interfaces 1 and 2) and churn their state every round:
/// 1,024 interface names of 64 bytes in options data, and 64 templates of 128 fields, each with a
/// data record, all different from the last round's. Datagrams of at most 1,400 bytes, as a
/// router's. What it costs: the peak RSS (kB), the size of exporters.json as saved at stop, the
/// bytes flowpi counted writing it while it ran, and the log.
fn exporter_state_churn(collector: &str, archive: &str, rounds: u32) -> Churn {
    let f = Flowpi::start_full(collector, archive, |_| {});
    let exporters: Vec<UdpSocket> = (2..=65).map(|i| sender(&format!("127.0.0.{i}"))).collect();
    let mut seq = vec![0u32; exporters.len()];
    // Flow template 256: src, dst, octets, packets, ingressInterface, egressInterface.
    let flows = set(2, &template(256, &[(8, 4), (12, 4), (1, 4), (2, 4), (10, 4), (14, 4)]));
    let mut flow = vec![192, 168, 7, 1, 8, 8, 8, 8];
    for v in [100u32, 1, 1, 2] {
        flow.extend(v.to_be_bytes()); // octets, packets, input, output
    }
    // Options template 257: scope ingressInterface (10/4), interfaceName (82/64).
    let mut opt = Vec::new();
    for v in [257u16, 2, 1, 10, 4, 82, 64] {
        opt.extend(v.to_be_bytes()); // id, field count, scope count, (element, length) x 2
    }
    let opt = set(3, &opt);
    let (mut sent, mut peak) = (0u64, 0u64);
    for round in 0..rounds {
        for (x, s) in exporters.iter().enumerate() {
            // Each message numbered as RFC 7011 says: the data records sent before it.
            let mut send = |sets: &[Vec<u8>], records: u32| {
                let d = ipfix_seq(1, seq[x], sets);
                assert!(d.len() <= 1_400, "{}", d.len());
                s.send_to(&d, f.udp).unwrap();
                sent += 1;
                seq[x] += records;
            };
            send(&[flows.clone(), set(256, &flow)], 1);
            // Interface names, 20 a message, new ones every round.
            for first in (1..=1_024u32).step_by(20) {
                let mut names = Vec::new();
                let last = (first + 19).min(1_024);
                for ifindex in first..=last {
                    names.extend(ifindex.to_be_bytes());
                    let mut name = format!("r{round}-if{ifindex}-").into_bytes();
                    name.resize(64, b'x');
                    names.extend(name);
                }
                send(&[opt.clone(), set(257, &names)], last - first + 1);
            }
            // 64 templates of 128 fields (4 that count, 124 one-byte fields of elements flowpi
            // does not read, one of them new each round), two a message, each with a record.
            for id in (300..364u16).step_by(2) {
                let (mut tmpls, mut data) = (Vec::new(), Vec::new());
                for id in [id, id + 1] {
                    let mut fields = vec![(8, 4), (12, 4), (1, 4), (2, 4)];
                    fields.extend((0..124u16).map(|i| (if i == 0 { 1_000 + round as u16 } else { 2_000 + i }, 1)));
                    tmpls.extend(template(id, &fields));
                    let mut rec = vec![192, 168, 7, 1, 8, 8, 8, 8, 0, 0, 0, 1, 0, 0, 0, 1];
                    rec.resize(16 + 124, 0);
                    data.push(set(id, &rec));
                }
                let mut sets = vec![set(2, &tmpls)];
                sets.extend(data);
                send(&sets, 2);
            }
            f.sync(sent);
        }
        peak = peak.max(f.proc_status("VmRSS:"));
    }
    f.sync(sent);
    // The peak, including what was not sampled.
    peak = peak.max(f.proc_status("VmHWM:"));
    let written = f.metric("flowpi_state_write_bytes_total");
    let mut f = f;
    assert_eq!(f.d.stop(), 0);
    let size = std::fs::metadata(f.dir.path().join("archive/exporters.json")).map_or(0, |m| m.len());
    Churn { rss_kb: peak, size, written, log: f.log() }
}

struct Churn {
    rss_kb: u64,
    size: u64,
    written: u64,
    log: String,
}

impl Churn {
    /// What a day of it would cost the card: a save a minute at most, of at most this size in
    /// whole 4 KiB pages, within collector.state_write_budget (4 MiB a day).
    fn per_day(&self) -> u64 {
        (1_440 * self.size.div_ceil(4_096) * 4_096).min(4 << 20)
    }

    fn check(&self, step: &str) {
        eprintln!(
            "step {step}: peak RSS {} kB, exporters.json {} bytes, {} bytes written while running, at most {} a day",
            self.rss_kb,
            self.size,
            self.written,
            self.per_day()
        );
        // Under qemu-user (the cross tests) the RSS is the emulator's too (about 80 MB): the bound
        // is the native binary's.
        if cfg!(target_arch = "x86_64") {
            assert!(self.rss_kb <= 24 * 1024, "peak RSS {} kB", self.rss_kb);
        }
        // 64 exporters within collector.max_template_bytes_per_exporter (templates counted by
        // their memory, so on a 32-bit build more of them fit: 472 kB on x86_64, 542 kB on armv7)
        // and the names of the interfaces flows are on; before the bounds, 49.6 MB.
        assert!(self.size <= 768 << 10, "exporters.json is {} bytes", self.size);
        // At most half the day's budget at once (see collector.state_write_budget).
        assert!(self.written <= 2 << 20, "{} bytes written", self.written);
    }
}

#[test]
fn exporter_state_churn_at_the_default_step() {
    exporter_state_churn("", "step = \"60s\"", 4).check("60 s");
}

#[test]
fn exporter_state_churn_at_a_1_s_step() {
    exporter_state_churn("", "", 4).check("1 s");
}

#[test]
fn exporters_json_never_costs_the_card_more_than_its_budget() {
    // 64 KiB a day: at most 32 KiB at once, where the churn's state is over 300 KiB.
    let c = exporter_state_churn("state_write_budget = 65536", "", 1);
    assert!(c.written <= 32 << 10, "{} bytes written", c.written);
    assert!(c.size <= 32 << 10, "exporters.json is {} bytes", c.size);
    assert!(
        c.log.lines().any(|l| l.contains("WARN") && l.contains("not saving") && l.contains("state_write_budget")),
        "{}",
        c.log
    );
}
