//! The archives against stock rrdtool, on the real binary with a 1 s step: exact sums in every
//! archive for new hosts, long flows spread over their steps, graphs current while the card's file
//! is not written, nothing lost on SIGTERM, readable files and a replayed journal after SIGKILL,
//! and clock jumps. Tests that move the clock run flowpi under libfaketime (x86_64 only: the
//! cross builds run under qemu, where the host's libfaketime cannot be preloaded).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// (row width, sum over rows × width) of each data source, from `rrdtool fetch` at resolution
/// `res` between two times; asserts rrdtool answered from an archive of that resolution.
fn sums_at(file: &Path, res: i64, start: i64, end: i64) -> Vec<f64> {
    let out = rrdtool(&[
        "fetch",
        file.to_str().unwrap(),
        "AVERAGE",
        "-r",
        &res.to_string(),
        "-s",
        &start.to_string(),
        "-e",
        &end.to_string(),
    ]);
    let mut lines = out.lines();
    let n = lines.next().unwrap().split_whitespace().count();
    let mut sums = vec![0.0; n];
    let mut times = Vec::new();
    for l in lines {
        let Some((t, vals)) = l.split_once(':') else { continue };
        times.push(t.trim().parse::<i64>().unwrap());
        for (i, v) in vals.split_whitespace().enumerate() {
            if let Ok(x) = v.parse::<f64>() {
                if x.is_finite() {
                    sums[i] += x * res as f64;
                }
            }
        }
    }
    assert!(times.len() >= 2 && times[1] - times[0] == res, "fetch -r {res} answered with rows {times:?}");
    sums
}

fn host_file(d: &Daemon, ip: &str) -> PathBuf {
    d.archive().join(format!("hosts/{ip}.rrd"))
}

#[test]
fn new_hosts_are_exact_in_every_archive() {
    let Some(lib) = faketime() else { return };
    // Eight seconds before midnight: every archive's row (1 s, 5 min, 1 h, 1 day) ends at
    // midnight, so a few seconds after it every row holding the traffic is complete.
    let midnight: i64 = 1_909_008_000; // 2030-06-30T00:00:00Z
    let start = "@2030-06-29 23:59:52";
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start_env(tmp.path(), "", &[("LD_PRELOAD", lib.to_str().unwrap()), ("FAKETIME", start)]);
    // Two hosts receive exactly 3,000,000 B each, over several steps, with and without flow times
    // (a 2.5 s flow is spread over the steps it lasted).
    let flows = |b: u32, times| {
        [
            Flow { src: "198.51.100.1", dst: "192.168.5.1", bytes: b, times },
            Flow { src: "198.51.100.1", dst: "192.168.5.2", bytes: b, times },
        ]
    };
    d.send(&v5(&flows(1_000_000, None), 1));
    std::thread::sleep(Duration::from_millis(1200));
    d.send(&v5(&flows(1_500_000, Some((200, 2500))), 2));
    std::thread::sleep(Duration::from_millis(1200));
    d.send(&v5(&flows(500_000, None), 3));
    d.wait_for("totals", |d| d.hosts().get("192.168.5.1").is_some_and(|h| h.0 == 3_000_000));
    // After midnight, the rows are complete and written.
    d.wait_for("files written past midnight", |d| {
        d.metric("flowpi_archive_steps_pending") == 0
            && ["192.168.5.1", "192.168.5.2"].iter().all(|h| {
                let f = host_file(d, h);
                f.exists() && rrdtool(&["last", f.to_str().unwrap()]).trim().parse::<i64>().unwrap() >= midnight
            })
    });
    for h in ["192.168.5.1", "192.168.5.2"] {
        let file = host_file(&d, h);
        for (res, from, to) in [
            (1, midnight - 600, midnight),
            (300, midnight - 86_400, midnight),
            (3600, midnight - 86_400, midnight),
            (86_400, midnight - 3 * 86_400, midnight),
        ] {
            let rx = sums_at(&file, res, from, to)[0];
            assert!(
                (rx - 3_000_000.0).abs() <= 0.005 * 3_000_000.0,
                "{h}: the {res} s rows hold {rx} B, not 3,000,000"
            );
        }
    }
    assert_eq!(d.metric("flowpi_record_times_total{kind=\"spread\"}"), 2);
    assert_eq!(d.metric("flowpi_record_times_total{kind=\"none\"}"), 4);
    stop_faked(d);
}

#[test]
fn a_long_flow_is_spread_over_its_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start_in(tmp.path(), "spread = \"30s\"");
    // 10 s of traffic that ended 1 s ago, exported now: 10,000 B a second.
    d.send(&v5(&[Flow { src: "192.168.6.1", dst: "203.0.113.9", bytes: 100_000, times: Some((1000, 10_000)) }], 1));
    let sent = now();
    d.wait_for("counted", |d| d.hosts().get("192.168.6.1").is_some_and(|h| h.1 == 100_000));
    let file = host_file(&d, "192.168.6.1");
    // The file is made at the hand-over after the counts, which may come after the API shows them.
    d.wait_for_secs("written", 40, |_| {
        file.exists()
            && rrdtool(&["last", file.to_str().unwrap()]).trim().parse::<i64>().unwrap() > sent
            && d.metric("flowpi_archive_steps_pending") == 0
    });
    let out = rrdtool(&[
        "fetch",
        file.to_str().unwrap(),
        "AVERAGE",
        "-r",
        "1",
        "-s",
        &(sent - 60).to_string(),
        "-e",
        &(sent + 1).to_string(),
    ]);
    let rows: Vec<f64> = out
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(_, v)| v.split_whitespace().nth(1).unwrap().parse::<f64>().unwrap_or(0.0))
        .filter(|x| x.is_finite() && *x > 0.0)
        .collect();
    let total: f64 = rows.iter().sum();
    assert!((total - 100_000.0).abs() < 1.0, "rows {rows:?}");
    // Ten whole seconds, or nine and two parts, never one spike.
    assert!((10..=11).contains(&rows.len()), "rows {rows:?}");
    assert!(rows.iter().all(|r| *r <= 10_000.0 + 1.0), "rows {rows:?}");
    assert_eq!(d.metric("flowpi_record_times_total{kind=\"spread\"}"), 1);
}

#[test]
fn graphs_show_the_last_step_without_writing_the_card() {
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start_in(tmp.path(), "flush = \"1h\"\njournal_interval = \"1h\"");
    d.send(&v5(&[Flow { src: "203.0.113.9", dst: "192.168.8.1", bytes: 2_000_000, times: None }], 1));
    d.wait_for("counted", |d| d.hosts().get("192.168.8.1").is_some_and(|h| h.0 == 2_000_000));
    let file = host_file(&d, "192.168.8.1");
    d.wait_for("the file", |_| file.exists());
    let before = std::fs::read(&file).unwrap();
    let meta = std::fs::metadata(&file).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    // The legend's totals (also in a header) are what the RAM copy holds: the 2 MB, to the last
    // step, whatever the period's resolution.
    for p in ["hour", "day", "week", "month", "year"] {
        let png = d.get(&format!("/graph/host/192.168.8.1/{p}.png"));
        assert_eq!(png.status, 200);
        assert_eq!(png_size(&png.body), Some((600, 200)));
        assert!(png.headers.to_ascii_lowercase().contains("x-graph-totals: in=2000000, out=0"), "{p}: {}", png.headers);
    }
    // Not a byte written to the card's file for it.
    assert_eq!(std::fs::read(&file).unwrap(), before);
    assert_eq!(std::fs::metadata(&file).unwrap().modified().unwrap(), meta);
    assert_eq!(d.metric("flowpi_archive_updates_total"), 0);
}

#[test]
fn sigterm_loses_nothing_and_sigkill_leaves_readable_files_and_a_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = "flush = \"1h\"\njournal_interval = \"1s\"";
    let mut d = Daemon::start_in(tmp.path(), conf);
    d.send(&v5(&[Flow { src: "203.0.113.9", dst: "192.168.4.1", bytes: 700_000, times: None }], 1));
    d.wait_for("counted", |d| d.hosts().get("192.168.4.1").is_some_and(|h| h.0 == 700_000));
    // Stopped at once: the step is still open, not a byte is in the file yet.
    assert_eq!(d.stop(), 0);
    let file = tmp.path().join("archive/hosts/192.168.4.1.rrd");
    let mut d = Daemon::start_in(tmp.path(), "flush = \"2s\"\njournal_interval = \"1s\"");
    d.wait_for("replayed and written", |d| {
        d.metric("flowpi_archive_steps_pending") == 0 && (fetch_totals(&file, 120)[0] - 700_000.0).abs() < 0.5
    });
    // More traffic, journaled (1 s), then SIGKILL before any file holds it.
    assert_eq!(d.stop(), 0);
    let mut d = Daemon::start_in(tmp.path(), conf);
    d.send(&v5(&[Flow { src: "203.0.113.9", dst: "192.168.4.1", bytes: 300_000, times: None }], 2));
    d.wait_for("journaled", |d| {
        d.hosts().get("192.168.4.1").is_some_and(|h| h.0 == 300_000) && d.metric("flowpi_journal_writes_total") >= 1
    });
    std::thread::sleep(Duration::from_millis(1500));
    d.kill();
    for e in std::fs::read_dir(tmp.path().join("archive/hosts")).unwrap() {
        let p = e.unwrap().path();
        rrdtool(&["info", p.to_str().unwrap()]);
    }
    let d = Daemon::start_in(tmp.path(), "flush = \"2s\"\njournal_interval = \"1s\"");
    d.wait_for("the journal replayed into the file", |d| {
        d.metric("flowpi_archive_steps_pending") == 0 && (fetch_totals(&file, 120)[0] - 1_000_000.0).abs() < 0.5
    });
    assert!(d.log().contains("journal replayed"), "{}", d.log());
}

#[test]
fn a_forward_clock_jump_and_its_correction_keep_the_one_step_archive() {
    let Some(lib) = faketime() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let clock = tmp.path().join("clock");
    std::fs::write(&clock, "+0\n").unwrap();
    let d = Daemon::start_env(
        tmp.path(),
        "",
        &[
            ("LD_PRELOAD", lib.to_str().unwrap()),
            ("FAKETIME_TIMESTAMP_FILE", clock.to_str().unwrap()),
            ("FAKETIME_NO_CACHE", "1"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    );
    let file = host_file(&d, "192.168.2.1");
    let flow = |b| v5(&[Flow { src: "203.0.113.9", dst: "192.168.2.1", bytes: b, times: None }], 1);
    d.send(&flow(1_000));
    d.wait_for("written", |d| {
        d.metric("flowpi_archive_steps_pending") == 0 && file.exists() && fetch_totals(&file, 120)[0] == 1_000.0
    });
    let last = rrdtool(&["last", file.to_str().unwrap()]).trim().parse::<i64>().unwrap();
    // A day ahead for a few seconds, with traffic, then back.
    std::fs::write(&clock, "+1d\n").unwrap();
    d.wait_for("the jump seen", |d| d.metric("flowpi_clock_jumps_total{direction=\"forward\"}") == 1);
    d.send(&flow(2_000));
    d.wait_for("counted", |d| d.hosts().get("192.168.2.1").is_some_and(|h| h.0 == 3_000));
    std::thread::sleep(Duration::from_secs(3));
    std::fs::write(&clock, "+0\n").unwrap();
    d.wait_for("the correction seen", |d| d.metric("flowpi_clock_jumps_total{direction=\"backward\"}") == 1);
    d.send(&flow(4_000));
    d.wait_for("all written", |d| {
        d.metric("flowpi_archive_steps_pending") == 0 && fetch_totals(&file, 120)[0] == 7_000.0
    });
    // Nothing was written a day ahead: the file's last update is now, not tomorrow, and the
    // one-step rows before the jump are still there.
    let after = rrdtool(&["last", file.to_str().unwrap()]).trim().parse::<i64>().unwrap();
    assert!(after > last && after <= now() + 2, "last update {after}, now {}", now());
    assert_eq!(sums_at(&file, 1, last - 60, last)[0], 1_000.0);
    stop_faked(d);
}

#[test]
fn kills_in_the_middle_of_writes_leave_every_file_readable() {
    let tmp = tempfile::tempdir().unwrap();
    // Every file written every second: a kill lands in or near an rrd_update most of the time.
    let conf = "flush = \"1s\"\njournal_interval = \"1s\"";
    for round in 0..6u32 {
        let mut d = Daemon::start_in(tmp.path(), conf);
        let hosts: Vec<String> = (1..=20).map(|h| format!("192.168.3.{h}")).collect();
        let flows: Vec<Flow> =
            hosts.iter().map(|h| Flow { src: "203.0.113.9", dst: h, bytes: 1000, times: None }).collect();
        d.send(&v5(&flows, round));
        std::thread::sleep(Duration::from_millis(700 + 350 * u64::from(round)));
        d.kill();
        for e in std::fs::read_dir(tmp.path().join("archive/hosts")).unwrap() {
            let p = e.unwrap().path();
            // A kill during librrd's create leaves its temporary NAME.rrdXXXXXX (removed at
            // start, below); every archive itself must be readable.
            if p.extension().is_some_and(|x| x == "rrd") {
                rrdtool(&["info", p.to_str().unwrap()]);
            }
        }
    }
    // A last start takes every file and the journal as it finds them, and clears what a kill cut
    // short (one such file made sure of here).
    std::fs::write(tmp.path().join("archive/hosts/192.168.3.99.rrdAb12Cd"), b"cut short").unwrap();
    let d = Daemon::start_in(tmp.path(), conf);
    d.wait_for("settled", |d| d.metric("flowpi_archive_steps_pending") == 0);
    for sub in ["hosts", "interfaces", "applications"] {
        for e in std::fs::read_dir(tmp.path().join("archive").join(sub)).unwrap() {
            let p = e.unwrap().path();
            assert!(p.extension().is_some_and(|x| x == "rrd"), "{} left", p.display());
        }
    }
    assert_eq!(d.metric("flowpi_archive_broken_total"), 0, "{}", d.log());
    assert_eq!(d.metric("flowpi_archive_update_errors_total"), 0, "{}", d.log());
}

/// `rrdtool last` of every archive under the daemon's directory.
fn last_updates(d: &Daemon) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for sub in ["hosts", "interfaces", "applications"] {
        for e in std::fs::read_dir(d.archive().join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "rrd") {
                let last = rrdtool(&["last", p.to_str().unwrap()]).trim().parse::<i64>().unwrap();
                out.push((p.display().to_string(), last));
            }
        }
    }
    out
}

#[test]
fn a_pi_off_for_three_days_writes_every_step_its_journal_held() {
    let Some(lib) = faketime() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // A 60 s flush: the files wait their turn, so at the power cut the journal alone holds the
    // traffic. Noon, then noon three days later.
    let conf = "flush = \"60s\"\njournal_interval = \"1s\"";
    let noon: i64 = 1_908_964_800; // 2030-06-29T12:00:00Z
    let start =
        |at: &str| Daemon::start_env(tmp.path(), conf, &[("LD_PRELOAD", lib.to_str().unwrap()), ("FAKETIME", at)]);
    let mut d = start("@2030-06-29 12:00:00");
    let hosts = ["192.168.11.1", "192.168.11.2", "192.168.11.3"];
    for (seq, bytes) in [(1u32, 400_000u32), (2, 350_000), (3, 250_000)] {
        let flows: Vec<Flow> = hosts.iter().map(|h| flow("203.0.113.9", h, bytes)).collect();
        d.send(&v5(&flows, seq));
        std::thread::sleep(Duration::from_millis(1100));
    }
    d.wait_for("counted", |d| hosts.iter().all(|h| d.hosts().get(*h).is_some_and(|c| c.0 == 1_000_000)));
    // The steps close (2 s spread) and are journaled (every 1 s).
    std::thread::sleep(Duration::from_secs(4));
    let held = d.metric("flowpi_archive_steps_pending");
    assert!(held >= 3, "the files took the steps before the power cut ({held} held): nothing to test");
    // The power cut, and three days off.
    let pid = d.child.id();
    d.kill();
    for name in [format!("faketime_shm_{pid}"), format!("sem.faketime_sem_{pid}")] {
        let _ = std::fs::remove_file(Path::new("/dev/shm").join(name));
    }
    let d = start("@2030-07-02 12:00:00");
    d.wait_for("replayed", |d| d.log().contains("journal replayed"));
    // Several steps later, nothing held was dropped for being three days old.
    let steps = d.metric("flowpi_snapshots_total");
    d.wait_for("three steps", |d| d.metric("flowpi_snapshots_total") >= steps + 3);
    assert_eq!(d.metric("flowpi_archive_steps_dropped_total"), 0, "{}", d.log());
    let pending = d.metric("flowpi_archive_steps_pending");
    eprintln!("steps held at the power cut: {held}; held after the 3-day gap: {pending}");
    // At stop every closed step reaches its file: each host's 1,000,000 B, in the 5-minute rows
    // of three days ago.
    stop_faked(d);
    let log = std::fs::read_to_string(tmp.path().join("flowpi.log")).unwrap();
    let stopped = log.lines().rfind(|l| l.contains("archive: stopped")).unwrap_or_else(|| panic!("{log}"));
    assert!(stopped.ends_with("0 steps kept in the journal"), "{stopped}");
    for h in hosts {
        let rx = sums_at(&host_file_in(tmp.path(), h), 300, noon - 3600, noon + 3600)[0];
        // rrdtool prints rates to 10 significant digits: exact within a byte.
        assert!((rx - 1_000_000.0).abs() < 0.5, "{h}: the 5 min rows around the power cut hold {rx} B");
    }
}

fn host_file_in(dir: &Path, ip: &str) -> PathBuf {
    dir.join(format!("archive/hosts/{ip}.rrd"))
}

#[test]
fn a_corrected_forward_jump_under_steady_traffic_never_writes_the_future() {
    let Some(lib) = faketime() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let clock = tmp.path().join("clock");
    std::fs::write(&clock, "+0\n").unwrap();
    // "Today" in a zone where it is noon: the day does not roll over during the test.
    let sections = format!("[time]\nzone = \"{}\"\n", noon_zone());
    let d = Daemon::start_full(
        tmp.path(),
        Extra { http: "auth = \"none\"", sections: &sections, ..Extra::default() },
        &[
            ("LD_PRELOAD", lib.to_str().unwrap()),
            ("FAKETIME_TIMESTAMP_FILE", clock.to_str().unwrap()),
            ("FAKETIME_NO_CACHE", "1"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    );
    // Steady traffic, 10 datagrams a second, to four hosts, all along.
    let hosts = ["192.168.12.1", "192.168.12.2", "192.168.12.3", "192.168.12.4"];
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let (stop, udp) = (stop.clone(), d.udp);
        std::thread::spawn(move || {
            let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut seq = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let flows: Vec<Flow> = hosts.iter().map(|h| flow("203.0.113.9", h, 1_000)).collect();
                sock.send_to(&v5(&flows, seq), udp).unwrap();
                seq += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            u64::from(seq)
        })
    };
    // A day ahead for a few seconds, then set right; four times, each at another moment of
    // the second (the step hand-over and the once-a-second clock check take turns).
    for round in 0..4u64 {
        std::thread::sleep(Duration::from_millis(1500 + 250 * round));
        std::fs::write(&clock, "+1d\n").unwrap();
        std::thread::sleep(Duration::from_secs(4));
        std::fs::write(&clock, "+0\n").unwrap();
        d.wait_for("the correction seen", |d| {
            d.metric("flowpi_clock_jumps_total{direction=\"backward\"}") == round + 1
        });
    }
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = sender.join().unwrap();
    d.wait_for("all counted", |d| hosts.iter().all(|h| d.hosts().get(*h).is_some_and(|c| c.0 == sent * 1_000)));
    assert_eq!(d.metric("flowpi_clock_jumps_total{direction=\"forward\"}"), 4);
    // No file took a time that had not come, no step was dropped, and every byte is in the
    // files, under today.
    std::thread::sleep(Duration::from_secs(3));
    let t = now();
    let ahead = last_updates(&d).into_iter().map(|(_, last)| last - t).max().unwrap();
    eprintln!("the files' last update, at most {ahead}s after now");
    assert!(ahead <= 1, "a file's last update is {ahead}s ahead of now");
    d.wait_for("all written", |d| d.metric("flowpi_archive_steps_pending") == 0);
    assert_eq!(d.metric("flowpi_archive_steps_dropped_total"), 0);
    let today = rows(&d.json("/api/hosts?period=today"));
    for h in hosts {
        let rx = fetch_totals(&host_file(&d, h), 300)[0];
        assert!((rx - (sent * 1_000) as f64).abs() < 0.5, "{h}: the files hold {rx} B of {}", sent * 1_000);
        assert_eq!(today.get(h).map(|c| c.0), Some(sent * 1_000), "{h} today");
    }
    stop_faked(d);
}

/// Bytes of the `.rrd` files under the archive directory.
fn rrd_bytes(d: &Daemon) -> u64 {
    ["hosts", "interfaces", "applications"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(d.archive().join(sub)).into_iter().flatten().flatten())
        .filter(|e| e.path().extension().is_some_and(|x| x == "rrd"))
        // A file listed may be gone by the time it is looked at: the budget removes files as it runs.
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum()
}

#[test]
fn a_flood_of_new_ipv6_addresses_stays_within_the_disk_budget() {
    let budget: u64 = 16 << 20;
    let d = Daemon::start("max_disk_mb = 16");
    // Every second, four new privacy addresses of one /64 download a little: 120 in all, each of
    // which gets an archive of its own. IPFIX: sourceIPv6Address (27), destinationIPv6Address
    // (28), octetDeltaCount (1), packetDeltaCount (2).
    let fields = [(27, 16), (28, 16), (1, 4), (2, 4)];
    let remote: std::net::Ipv6Addr = "2001:db8::9".parse().unwrap();
    let mut peak = 0;
    for round in 0..30u16 {
        let mut data = Vec::new();
        for i in 0..4u16 {
            let host = std::net::Ipv6Addr::new(0xfd00, 1, 2, 3, round + 1, 0, 0, i + 1);
            data.extend(remote.octets());
            data.extend(host.octets());
            data.extend(10_000u32.to_be_bytes());
            data.extend(10u32.to_be_bytes());
        }
        d.send(&ipfix(1, &[set(2, &template(256, &fields)), set(256, &data)]));
        std::thread::sleep(Duration::from_millis(1000));
        peak = peak.max(rrd_bytes(&d));
    }
    d.wait_for("the last hosts' files", |d| d.metric("flowpi_archive_steps_pending") == 0);
    peak = peak.max(rrd_bytes(&d));
    let (evicted, files) = (d.metric("flowpi_archive_files_evicted_total"), d.metric("flowpi_archive_creates_total"));
    eprintln!(
        "120 new addresses: {files} archives made, {evicted} removed, the files at most {:.1} MiB of a {} MiB budget",
        peak as f64 / 1048576.0,
        budget >> 20
    );
    assert!(peak <= budget, "the archive files took {peak} bytes, over the {budget} budget");
    assert!(evicted > 0, "nothing had to go: the test did not reach the budget");
    assert_eq!(d.metric("flowpi_archive_disk_bytes"), rrd_bytes(&d), "the gauge is what is on disk");
    // The newest addresses have their archives; every byte is still in the since-start list.
    assert!(d.archive().join("hosts/fd00-1-2-3-1e--4.rrd").exists());
    let rx: u64 = d.hosts().values().map(|h| h.0).sum();
    assert_eq!(rx, 120 * 10_000);
}

#[test]
fn fifos_in_the_place_of_archive_files_neither_hang_nor_stop_it() {
    // A journal segment, a host's archive and the counting-since file that are FIFOs (no writer
    // ever comes): each open would wait for good. flowpi starts, counts and writes all the same.
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    for sub in ["journal", "hosts", "interfaces", "applications"] {
        std::fs::create_dir_all(archive.join(sub)).unwrap();
    }
    for f in ["journal/00000001.fpj", "hosts/192.168.31.1.rrd", "counting-since"] {
        let c = std::ffi::CString::new(archive.join(f).to_str().unwrap()).unwrap();
        // SAFETY: a valid C string; mkfifo only makes the node.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {f}");
    }
    let d = Daemon::start_in(tmp.path(), "");
    d.send(&v5(&[flow("203.0.113.9", "192.168.31.1", 5_000)], 1));
    d.wait_for("counted", |d| d.hosts().get("192.168.31.1").is_some_and(|h| h.0 == 5_000));
    let file = host_file(&d, "192.168.31.1");
    d.wait_for("written to a file of its own", |d| {
        d.metric("flowpi_archive_steps_pending") == 0
            && std::fs::metadata(&file).is_ok_and(|m| m.is_file())
            && (fetch_totals(&file, 120)[0] - 5_000.0).abs() < 0.5
    });
    assert_eq!(d.metric("flowpi_archive_broken_total"), 1, "the FIFO was set aside: {}", d.log());
    assert!(d.metric("flowpi_journal_bad_blocks_total") >= 1, "the FIFO segment counts as damage");
}
