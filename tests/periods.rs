//! Answers over time on the real binary with a 1 s step: today's totals survive SIGTERM and
//! SIGKILL (within a journal interval) where the since-start list does not; top hosts of a past
//! window are exactly the traffic sent in it; the 95th percentile equals rrdtool's PERCENTNAN over
//! the rows known by now (not before the host's first traffic, not the future), also after a
//! restart, and is null with too few of them; a named period says from when it has data (when
//! counting began, kept across restarts); CSV holds the same rows as JSON; conversations over a window survive a
//! restart through the top-k history; malformed windows are a 400; under libfaketime, local
//! midnight in Berlin rolls today, the week, the month and the billing cycle over, also across a
//! restart; graphs say their zone and draw the 95th percentile.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::Value;

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn start(dir: &Path, archive: &str, zone: &str) -> Daemon {
    let sections = format!("[time]\nzone = \"{zone}\"\n");
    let extra = Extra { archive, http: "auth = \"none\"", sections: &sections, ..Extra::default() };
    Daemon::start_full(dir, extra, &[])
}

#[test]
fn today_survives_sigterm_and_sigkill_while_since_start_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let zone = noon_zone();
    // Nothing reaches the files: what survives is the journal's.
    let conf = "flush = \"1h\"\njournal_interval = \"1s\"";
    let mut d = start(tmp.path(), conf, &zone);
    d.send(&v5(&[flow("192.168.7.1", "198.51.100.1", 400_000), flow("198.51.100.1", "192.168.7.2", 30_000)], 1));
    let want = BTreeMap::from([("192.168.7.1".to_string(), (0, 400_000)), ("192.168.7.2".to_string(), (30_000, 0))]);
    d.wait_for("today counted", |d| rows(&d.json("/api/hosts?period=today")) == want);
    let today = d.json("/api/hosts?period=today");
    assert_eq!(today["source"], "day totals");
    // Busiest by bytes first; by received bytes, the downloader first.
    assert_eq!(today["rows"][0]["ip"], "192.168.7.1");
    assert_eq!(d.json("/api/hosts?period=today&sort=rx&limit=1")["rows"][0]["ip"], "192.168.7.2");
    assert_eq!(today["zone"], zone.as_str());
    assert_eq!(d.stop(), 0);

    let mut d = start(tmp.path(), conf, &zone);
    assert_eq!(d.json("/api/hosts"), serde_json::json!([]), "since start is empty after a restart");
    assert_eq!(rows(&d.json("/api/hosts?period=today")), want, "today after SIGTERM");
    assert_eq!(rows(&d.json("/api/hosts?period=month")), want);
    assert_eq!(rows(&d.json("/api/hosts?period=yesterday")), BTreeMap::new());

    // More, journaled within the interval, then SIGKILL.
    d.send(&v5(&[flow("192.168.7.1", "198.51.100.1", 100_000)], 2));
    d.wait_for("counted", |d| rows(&d.json("/api/hosts?period=today")).get("192.168.7.1") == Some(&(0, 500_000)));
    // The archive thread books the day totals, then journals what is new at its next interval
    // (1 s here): a write after the count was seen holds it; none within 10 s means the count was
    // journaled already (nothing else arrives). A fixed 1.5 s wait was too short under qemu.
    let writes = d.metric("flowpi_journal_writes_total");
    let t = std::time::Instant::now();
    while d.metric("flowpi_journal_writes_total") == writes && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    d.kill();
    let d = start(tmp.path(), conf, &zone);
    let mut want = want;
    want.insert("192.168.7.1".into(), (0, 500_000));
    assert_eq!(rows(&d.json("/api/hosts?period=today")), want, "today after SIGKILL");
    // The same from the archives (files and journal), at the finest resolution.
    let t = now();
    let v = d.json(&format!("/api/hosts?from={}&to={}", t - 600, t + 1));
    assert_eq!(v["resolution"], 1);
    assert_eq!(rows(&v), want);
}

#[test]
fn past_windows_rank_exactly_the_traffic_sent_in_them() {
    let tmp = tempfile::tempdir().unwrap();
    let d = start(tmp.path(), "", "UTC");
    // Window A: .1 sends most; window B, later: .2 sends most and .3 appears. Bytes vary per
    // step so the 95th percentile means something.
    // Datagrams go out in the middle of each second: a flow without times counts in the step
    // the collector is in when it arrives, and its step timer may run a few ms behind the clock.
    let a0 = now() + 1;
    while SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() < a0 as u128 * 1000 + 400 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut seq = 1;
    for i in 0..6u32 {
        d.send(&v5(
            &[flow("192.168.9.1", "198.51.100.7", 100_000 * (i + 1)), flow("192.168.9.2", "198.51.100.7", 1_000)],
            seq,
        ));
        seq += 1;
        std::thread::sleep(Duration::from_millis(1000));
    }
    let a1 = now();
    std::thread::sleep(Duration::from_millis(1000));
    let b0 = now();
    for _ in 0..3 {
        d.send(&v5(&[flow("192.168.9.2", "198.51.100.7", 900_000), flow("192.168.9.3", "198.51.100.8", 5_000)], seq));
        seq += 1;
        std::thread::sleep(Duration::from_millis(1000));
    }
    let b1 = now() + 1;
    let sent_a = BTreeMap::from([("192.168.9.1".to_string(), (0, 2_100_000)), ("192.168.9.2".to_string(), (0, 6_000))]);
    let sent_b =
        BTreeMap::from([("192.168.9.2".to_string(), (0, 2_700_000)), ("192.168.9.3".to_string(), (0, 15_000))]);
    d.wait_for("every byte counted", |d| {
        d.hosts().values().map(|h| h.1).sum::<u64>() == 2_100_000 + 6_000 + 2_700_000 + 15_000
    });
    // Wait until window A is in the files (flush every 2 s), so rrdtool reads what flowpi read.
    let file = tmp.path().join("archive/hosts/192.168.9.1.rrd");
    d.wait_for("window A written", |_| rrdtool(&["last", file.to_str().unwrap()]).trim().parse::<i64>().unwrap() >= a1);

    // Window B's last step may reach the archive a moment after the since-start totals.
    d.wait_for("window B handed over", |d| rows(&d.json(&format!("/api/hosts?from={b0}&to={b1}"))) == sent_b);
    let wa = d.json(&format!("/api/hosts?from={a0}&to={a1}"));
    let wb = d.json(&format!("/api/hosts?from={b0}&to={b1}"));
    assert_eq!(rows(&wa), sent_a, "{wa}");
    assert_eq!(rows(&wb), sent_b, "{wb}");
    assert_eq!(wa["rows"][0]["ip"], "192.168.9.1", "busiest first");
    assert_eq!(wb["rows"][0]["ip"], "192.168.9.2");
    assert_eq!(
        (wa["from_unix"].as_i64(), wa["to_unix"].as_i64(), wa["resolution"].as_u64()),
        (Some(a0), Some(a1), Some(1))
    );
    // Two hours back the 1 s archive (65 minutes) no longer holds the start: 5-minute rows, the
    // last one still open in the file and read from its single steps and RAM; the same bytes.
    let both = d.json(&format!("/api/hosts?from={}&to={b1}", a0 - 7200));
    assert_eq!(both["resolution"], 300, "{both}");
    let mut sent = sent_a.clone();
    for (ip, (rx, tx)) in &sent_b {
        let e = sent.entry(ip.clone()).or_default();
        *e = (e.0 + rx, e.1 + tx);
    }
    assert_eq!(rows(&both), sent, "{both}");
    // A hundred days back: day rows, today's still open, read from the hourly, 5-minute and
    // single-step archives in turn.
    let long = d.json(&format!("/api/hosts?from={}&to={b1}", a0 - 100 * 86_400));
    assert_eq!(long["resolution"], 86_400, "{long}");
    assert_eq!(rows(&long), sent, "{long}");
    // Times in the configured zone's words give the same answer.
    let iso = |t: i64| {
        let out = std::process::Command::new("date")
            .args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(rows(&d.json(&format!("/api/hosts?from={}&to={}", iso(a0), iso(a1)))), sent_a);

    // Six rows are too few for a 95th percentile: none, rather than a figure that is the peak.
    assert_eq!(wa["rows"][0]["p95_tx_bps"], serde_json::Value::Null, "{wa}");

    // The series of one host: its rows, in bits/s.
    let s = d.json(&format!("/api/series/host/192.168.9.1?from={a0}&to={a1}"));
    assert_eq!(s["step"], 1);
    let bits: f64 = s["points"].as_array().unwrap().iter().map(|p| p[2].as_f64().unwrap_or(0.0)).sum();
    assert!((bits / 8.0 - 2_100_000.0).abs() < 1.0, "{s}");

    // CSV: the same rows as the JSON.
    let r = d.get(&format!("/api/hosts?from={a0}&to={a1}&format=csv"));
    assert_eq!(r.status, 200);
    assert!(
        r.headers.to_ascii_lowercase().contains("content-disposition: attachment; filename=\"flowpi-hosts.csv\""),
        "{}",
        r.headers
    );
    let text = String::from_utf8(r.body).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let json_rows = wa["rows"].as_array().unwrap();
    let csv_rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(csv_rows.len(), json_rows.len());
    for (c, j) in csv_rows.iter().zip(json_rows) {
        let obj = j.as_object().unwrap();
        assert_eq!(header, obj.keys().map(String::as_str).collect::<Vec<_>>());
        for (k, v) in header.iter().zip(c) {
            let want = match &obj[*k] {
                serde_json::Value::String(s) => s.clone(),
                // null (a host without a name) is an empty cell.
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            assert_eq!(*v, want, "{k}");
        }
    }
}

#[test]
fn conversations_over_a_window_survive_a_restart_and_bad_windows_are_400() {
    let tmp = tempfile::tempdir().unwrap();
    let zone = noon_zone();
    let mut d = start(tmp.path(), "", &zone);
    d.send(&v5(&[flow("192.168.5.5", "203.0.113.50", 250_000)], 1));
    d.wait_for("conversation counted", |d| {
        d.json("/api/conversations").as_array().is_some_and(|a| a.iter().any(|c| c["tx_bytes"] == 250_000))
    });
    assert_eq!(d.stop(), 0);
    let d = start(tmp.path(), "", &zone);
    d.send(&v5(&[flow("192.168.5.5", "203.0.113.50", 50_000)], 2));
    d.wait_for("counted again", |d| {
        d.json("/api/conversations").as_array().is_some_and(|a| a.iter().any(|c| c["tx_bytes"] == 50_000))
    });
    // Since start only the second; over today both, through the slot written at the stop. (The
    // archive sees a step's conversations when the collector hands the step over, each second.)
    d.wait_for("handed over", |d| d.json("/api/conversations?period=today")["rows"][0]["tx_bytes"] == 300_000);
    let v = d.json("/api/conversations?period=today");
    assert_eq!(v["source"], "top-k history");
    let c = &v["rows"][0];
    assert_eq!(
        (c["host"].as_str(), c["peer"].as_str(), c["tx_bytes"].as_u64(), c["error"].as_u64()),
        (Some("192.168.5.5"), Some("203.0.113.50"), Some(300_000), Some(0)),
        "{v}"
    );
    let h = d.json("/api/hosts/192.168.5.5?period=today");
    assert_eq!(h["tx_bytes"], 300_000, "{h}");
    assert_eq!(h["peers"][0]["tx_bytes"], 300_000, "{h}");
    // Its applications too (ports 1 and 2 name none of the defaults: "other").
    assert_eq!(h["applications"], serde_json::json!([{"name": "other", "rx_bytes": 0, "tx_bytes": 300_000}]), "{h}");
    let p = d.json("/api/ports?period=today");
    assert_eq!(
        p["rows"].as_array().unwrap().iter().map(|r| r["tx_bytes"].as_u64().unwrap()).sum::<u64>(),
        300_000,
        "{p}"
    );

    for bad in [
        "/api/hosts?from=yesterday",
        "/api/hosts?from=2024-02-30",
        "/api/hosts?from=10&to=5",
        "/api/hosts?period=today&to=5",
        "/api/hosts?fromm=1",
        "/api/conversations?to=soon",
        "/api/series/host/192.168.5.5?format=csv",
    ] {
        let r = d.get(bad);
        assert_eq!(r.status, 400, "{bad}: {}", String::from_utf8_lossy(&r.body));
    }
    assert_eq!(d.get("/api/series/host/192.168.77.77").status, 404);
    // A window from year 1 is cut to what the archives can hold, and says so.
    let v = d.json("/api/hosts?from=0001-01-01T00:00:00Z");
    assert_eq!(v["complete"], false, "{v}");
    assert!(v["from_unix"].as_i64().unwrap() > now() - 6 * 366 * 86_400, "{v}");
    assert_eq!(v["rows"][0]["tx_bytes"], 300_000, "{v}");

    // Graphs say their zone and draw the 95th percentile of their rows.
    // (rrdtool draws text as glyph paths, so the headers say what the legend says.)
    let g = d.get("/graph/host/192.168.5.5/hour.png");
    assert_eq!(g.status, 200);
    let headers = g.headers.to_ascii_lowercase();
    assert!(headers.contains(&format!("x-graph-zone: {}", zone.to_ascii_lowercase())), "{headers}");
    let p95 = headers.lines().find_map(|l| l.strip_prefix("x-graph-p95: ")).unwrap_or_else(|| panic!("{headers}"));
    // A figure, or `none` while fewer than 20 rows are known: never NaN.
    let out = p95.trim().rsplit("out=").next().unwrap();
    assert!(out == "none" || out.parse::<f64>().is_ok_and(|v| v >= 0.0 && v.is_finite()), "{p95}");
}

#[test]
fn local_midnight_rolls_every_period_over_also_across_a_restart() {
    let Some(lib) = faketime() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // Sunday 30 June 2030, eight seconds before midnight in Berlin (22:00 UTC): the day, the week
    // (starting Monday), the month and the billing cycle (starting on the 1st) all end then.
    let midnight: i64 = 1_909_087_200;
    let sections = "[time]\nzone = \"Europe/Berlin\"\nweek_start = \"monday\"\nbilling_day = 1\n";
    let extra = Extra { http: "auth = \"none\"", sections, ..Extra::default() };
    let faked = |at: &str| {
        [("LD_PRELOAD", lib.to_str().unwrap().to_string()), ("FAKETIME", at.to_string()), ("TZ", "UTC".into())]
    };
    let env = faked("@2030-06-30 21:59:52");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let d = Daemon::start_full(tmp.path(), extra, &env);
    d.send(&v5(&[flow("192.168.6.1", "198.51.100.9", 100_000)], 1));
    d.wait_for("counted before midnight", |d| d.hosts().get("192.168.6.1").is_some_and(|h| h.1 == 100_000));
    d.wait_for("midnight in Berlin", |d| d.json("/api/hosts?period=today")["from_unix"] == midnight);
    d.send(&v5(&[flow("192.168.6.1", "198.51.100.9", 50_000)], 2));
    let tx = |d: &Daemon, p: &str| -> u64 {
        d.json(&format!("/api/hosts?period={p}"))["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["tx_bytes"].as_u64().unwrap())
            .sum()
    };
    d.wait_for("counted after midnight", |d| tx(d, "today") == 50_000);
    let check = |d: &Daemon| {
        for (p, want) in [
            ("today", 50_000),
            ("yesterday", 100_000),
            ("week", 50_000),
            ("last_week", 100_000),
            ("month", 50_000),
            ("last_month", 100_000),
            ("cycle", 50_000),
            ("last_cycle", 100_000),
        ] {
            assert_eq!(tx(d, p), want, "{p}");
        }
        let y = d.json("/api/hosts?period=yesterday");
        assert_eq!(
            (y["from"].as_str(), y["to"].as_str()),
            (Some("2030-06-30T00:00:00+02:00"), Some("2030-07-01T00:00:00+02:00"))
        );
    };
    check(&d);
    stop_faked(d);
    // Started again later that night: the journal brings both days back.
    let env = faked("@2030-06-30 22:10:00");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let d = Daemon::start_full(tmp.path(), Extra { http: "auth = \"none\"", sections, ..Extra::default() }, &env);
    check(&d);
    stop_faked(d);
}

#[test]
fn after_sigkills_today_and_the_archive_agree_to_the_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let zone = noon_zone();
    // Files written every second, the journal every 3 s: kills land between the two.
    let conf = "flush = \"1s\"\njournal_interval = \"3s\"";
    let from = now() - 1;
    let hosts = ["192.168.13.1", "192.168.13.2", "192.168.13.3"];
    let mut seq = 0u32;
    for round in 0..5u64 {
        let mut d = start(tmp.path(), conf, &zone);
        let until = std::time::Instant::now() + Duration::from_millis(2500 + 700 * round);
        while std::time::Instant::now() < until {
            let flows: Vec<Flow> = hosts.iter().map(|h| flow("198.51.100.1", h, 10_000 + seq)).collect();
            d.send(&v5(&flows, seq));
            seq += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
        d.kill();
    }
    let d = start(tmp.path(), conf, &zone);
    d.wait_for("replayed and settled", |d| d.metric("flowpi_snapshots_total") >= 4);
    let today = rows(&d.json("/api/hosts?period=today"));
    let archive = rows(&d.json(&format!("/api/hosts?from={from}&to={}", now() + 1)));
    let sum = |m: &BTreeMap<String, (u64, u64)>| m.values().map(|c| c.0).sum::<u64>();
    eprintln!("after 5 SIGKILLs: today {} B, the archive {} B", sum(&today), sum(&archive));
    assert_eq!(today, archive, "the day totals and the archive disagree after SIGKILLs");
    assert!(sum(&today) > 0);
}

/// rrdtool graph's `VDEF:p=b,95,PERCENTNAN` of a host file's sent bits/s, rows `[from, to)` of 1 s
/// (rrdtool's row stamped t+1 holds flowpi's step t).
fn rrdtool_p95(file: &Path, from: i64, to: i64) -> f64 {
    let def = format!("DEF:v={}:tx_bytes:AVERAGE:step=1", file.display());
    let printed = rrdtool(&[
        "graph",
        "/dev/null",
        "--start",
        &from.to_string(),
        "--end",
        &to.to_string(),
        "--step",
        "1",
        "--width",
        "2000",
        &def,
        "CDEF:b=v,8,*",
        "VDEF:p=b,95,PERCENTNAN",
        "PRINT:p:%.3lf",
    ]);
    printed.lines().last().unwrap().trim().parse().unwrap_or_else(|_| panic!("{printed}"))
}

/// Wait until the file holds every step before `t`.
fn written_up_to(d: &Daemon, file: &Path, t: i64) {
    d.wait_for("the file written", |_| {
        file.exists() && rrdtool(&["last", file.to_str().unwrap()]).trim().parse::<i64>().unwrap() >= t
    });
}

#[test]
fn p95_is_rrdtools_percentnan_over_the_rows_known_by_now() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = start(tmp.path(), "flush = \"1s\"", "UTC");
    // 40 steps from the first datagram: varying bytes, every fifth step quiet (those rows are
    // known zeros and count).
    let first = now() + 1;
    while SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() < first as u128 * 1000 + 400 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut sent = 0u64;
    for i in 0..40u32 {
        if i % 5 != 4 {
            let bytes = 10_000 * ((i * 7) % 11 + 1);
            d.send(&v5(&[flow("192.168.9.1", "198.51.100.7", bytes)], i));
            sent += u64::from(bytes);
        }
        std::thread::sleep(Duration::from_millis(1000));
    }
    d.wait_for("every byte counted", |d| d.hosts().get("192.168.9.1").is_some_and(|h| h.1 == sent));
    let file = tmp.path().join("archive/hosts/192.168.9.1.rrd");
    // The file starts at midnight UTC with zeros up to the host's first step; these ten minutes
    // before it, and the hour to come, are no rows of the host's.
    let window = format!("/api/hosts?from={}&to={}", first - 600, now() + 3600);
    let w = d.json(&window);
    let ours = w["rows"][0]["p95_tx_bps"].as_f64().unwrap_or_else(|| panic!("{w}"));
    // Known: from the first step to the last one handed over (the window ends after the step
    // being counted).
    let (to, res) = (w["to_unix"].as_i64().unwrap(), w["resolution"].as_i64().unwrap());
    assert_eq!(res, 1, "{w}");
    written_up_to(&d, &file, to - 1);
    let theirs = rrdtool_p95(&file, first, to - 1);
    assert!(theirs > 0.0 && (ours - theirs).abs() < 0.01, "flowpi {ours} vs rrdtool PERCENTNAN {theirs}");
    // A graph of the same window says the same in its header.
    let g = d.get(&format!("/graph/host/192.168.9.1/day.png?from={}&to={}", first - 600, now() + 3600));
    let head = g.headers.to_ascii_lowercase();
    let p95 = head.lines().find_map(|l| l.strip_prefix("x-graph-p95: ")).unwrap_or_else(|| panic!("{head}"));
    let out: f64 = p95.trim().rsplit("out=").next().unwrap().parse().unwrap_or_else(|_| panic!("{p95}"));
    assert!((out - ours).abs() <= 1.0, "graph {p95} vs API {ours}");

    // A host seen for a few steps only: too few rows, null (and `none` in the graph's header).
    let t = now();
    d.send(&v5(&[flow("192.168.9.2", "198.51.100.7", 5_000)], 100));
    d.wait_for("the newcomer handed over", |d| {
        rows(&d.json(&format!("/api/hosts?from={}&to={}", t - 60, now() + 60))).contains_key("192.168.9.2")
    });
    let w = d.json(&format!("/api/hosts?from={}&to={}", t - 600, now() + 3600));
    let row = w["rows"].as_array().unwrap().iter().find(|r| r["ip"] == "192.168.9.2").unwrap().clone();
    assert!(w["to_unix"].as_i64().unwrap() - t < 20, "the test ran too slowly to see few rows: {w}");
    assert_eq!((row["p95_tx_bps"].clone(), row["p95_rx_bps"].clone()), (Value::Null, Value::Null), "{w}");
    assert_eq!(row["tx_bytes"], 5_000);
    let g = d.get(&format!("/graph/host/192.168.9.2/hour.png?from={}&to={}", t - 600, now() + 3600));
    assert!(g.headers.to_ascii_lowercase().contains("x-graph-p95: in=none, out=none"), "{}", g.headers);

    // After a restart the host's first step is read back from its file: the same figure for a
    // past window reaching before it.
    assert_eq!(d.stop(), 0);
    let d = start(tmp.path(), "flush = \"1s\"", "UTC");
    let end = first + 45;
    let w = d.json(&format!("/api/hosts?from={}&to={end}", first - 600));
    let row = w["rows"].as_array().unwrap().iter().find(|r| r["ip"] == "192.168.9.1").unwrap().clone();
    let ours = row["p95_tx_bps"].as_f64().unwrap_or_else(|| panic!("{w}"));
    let theirs = rrdtool_p95(&file, first, end);
    assert!((ours - theirs).abs() < 0.01, "after a restart: flowpi {ours} vs rrdtool PERCENTNAN {theirs}");
}

#[test]
fn period_answers_say_from_when_they_have_data_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let zone = noon_zone();
    let t0 = now();
    let mut d = start(tmp.path(), "", &zone);
    d.send(&v5(&[flow("192.168.8.1", "198.51.100.1", 1_000)], 1));
    d.wait_for("today counted", |d| !rows(&d.json("/api/hosts?period=today")).is_empty());
    let month = d.json("/api/hosts?period=month");
    let since = month["data_from_unix"].as_i64().unwrap_or_else(|| panic!("{month}"));
    // Counting began when this archive was first used, in this month.
    assert!(since >= t0 - 1 && since <= now(), "{month}");
    assert!(since > month["from_unix"].as_i64().unwrap());
    assert!(
        month["data_from"].as_str().is_some_and(|s| s.starts_with(&month["from"].as_str().unwrap()[..8])),
        "{month}"
    );
    assert_eq!(d.json("/api/hosts?period=today")["data_from_unix"], since);
    // A period that ended before counting began has no data; a from/to window says nothing.
    let last = d.json("/api/hosts?period=last_month");
    assert_eq!((last.get("data_from_unix"), last.get("data_from")), (Some(&Value::Null), Some(&Value::Null)), "{last}");
    assert!(d.json(&format!("/api/hosts?from={}", now() - 60)).get("data_from_unix").is_none());
    assert_eq!(d.stop(), 0);

    // Started again: counting began then, not now.
    std::thread::sleep(Duration::from_millis(1100));
    let mut d = start(tmp.path(), "", &zone);
    assert_eq!(d.json("/api/hosts?period=month")["data_from_unix"], since);
    assert_eq!(d.stop(), 0);

    // An archive kept without that record (an older version): from the earliest day with totals.
    std::fs::remove_file(tmp.path().join("archive/counting-since")).unwrap();
    let d = start(tmp.path(), "", &zone);
    let today = d.json("/api/hosts?period=today");
    assert_eq!(d.json("/api/hosts?period=month")["data_from_unix"], today["from_unix"], "{today}");
    let kept = std::fs::read_to_string(tmp.path().join("archive/counting-since")).unwrap();
    assert_eq!(kept.trim().parse::<i64>().ok(), today["from_unix"].as_i64());
}
