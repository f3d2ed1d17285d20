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
