//! Answers over time on the real binary with a 1 s step: today's totals survive SIGTERM and
//! SIGKILL (within a journal interval) where the since-start list does not; top hosts of a past
//! window are exactly the traffic sent in it; the 95th percentile equals rrdtool's PERCENT on the
//! same file and window; CSV holds the same rows as JSON; conversations over a window survive a
//! restart through the top-k history; malformed windows are a 400.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A zone where it is about noon now, so "today" does not roll over during the test (Etc/GMT
/// zones have inverted signs: Etc/GMT-5 is UTC+5).
fn noon_zone() -> String {
    let hour = (now() / 3600 % 24) as i32;
    let off = (12 - hour).clamp(-12, 14);
    match off {
        0 => "UTC".into(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

fn start(dir: &Path, archive: &str, zone: &str) -> Daemon {
    let sections = format!("[time]\nzone = \"{zone}\"\n");
    let extra = Extra { archive, http: "auth = \"none\"", sections: &sections, ..Extra::default() };
    Daemon::start_full(dir, extra, &[])
}

/// `ip -> (rx, tx)` of a windowed hosts answer.
fn rows(v: &serde_json::Value) -> BTreeMap<String, (u64, u64)> {
    v["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("not a windowed answer: {v}"))
        .iter()
        .map(|r| (r["ip"].as_str().unwrap().to_string(), (r["rx_bytes"].as_u64().unwrap(), r["tx_bytes"].as_u64().unwrap())))
        .collect()
}

fn flow(src: &'static str, dst: &'static str, bytes: u32) -> Flow<'static> {
    Flow { src, dst, bytes, times: None }
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
    assert_eq!(today["zone"], zone.as_str());
    assert_eq!(d.stop(), 0);

    let mut d = start(tmp.path(), conf, &zone);
    assert_eq!(d.json("/api/hosts"), serde_json::json!([]), "since start is empty after a restart");
    assert_eq!(rows(&d.json("/api/hosts?period=today")), want, "today after SIGTERM");
    assert_eq!(rows(&d.json("/api/hosts?period=month")), want);
    assert_eq!(rows(&d.json("/api/hosts?period=yesterday")), BTreeMap::new());

    // More, journaled within the interval, then SIGKILL.
    d.send(&v5(&[flow("192.168.7.1", "198.51.100.1", 100_000)], 2));
    let writes = d.metric("flowpi_journal_writes_total");
    d.wait_for("counted and journaled", |d| {
        rows(&d.json("/api/hosts?period=today")).get("192.168.7.1") == Some(&(0, 500_000))
            && d.metric("flowpi_journal_writes_total") > writes
    });
    // A journal write after the count holds it (a second more for one just in progress).
    std::thread::sleep(Duration::from_millis(1500));
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
fn past_windows_rank_exactly_the_traffic_sent_in_them_and_p95_is_rrdtools() {
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
        d.send(&v5(&[flow("192.168.9.1", "198.51.100.7", 100_000 * (i + 1)), flow("192.168.9.2", "198.51.100.7", 1_000)], seq));
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
    let sent_b = BTreeMap::from([("192.168.9.2".to_string(), (0, 2_700_000)), ("192.168.9.3".to_string(), (0, 15_000))]);
    d.wait_for("every byte counted", |d| d.hosts().values().map(|h| h.1).sum::<u64>() == 2_100_000 + 6_000 + 2_700_000 + 15_000);
    // Wait until window A is in the files (flush every 2 s), so rrdtool reads what flowpi read.
    let file = tmp.path().join("archive/hosts/192.168.9.1.rrd");
    d.wait_for("window A written", |_| rrdtool(&["last", file.to_str().unwrap()]).trim().parse::<i64>().unwrap() >= a1);

    let wa = d.json(&format!("/api/hosts?from={a0}&to={a1}"));
    let wb = d.json(&format!("/api/hosts?from={b0}&to={b1}"));
    assert_eq!(rows(&wa), sent_a, "{wa}");
    assert_eq!(rows(&wb), sent_b, "{wb}");
    assert_eq!(wa["rows"][0]["ip"], "192.168.9.1", "busiest first");
    assert_eq!(wb["rows"][0]["ip"], "192.168.9.2");
    assert_eq!((wa["from_unix"].as_i64(), wa["to_unix"].as_i64(), wa["resolution"].as_u64()), (Some(a0), Some(a1), Some(1)));
    // Times in the configured zone's words give the same answer.
    let iso = |t: i64| {
        let out = std::process::Command::new("date").args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%dT%H:%M:%SZ"]).output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(rows(&d.json(&format!("/api/hosts?from={}&to={}", iso(a0), iso(a1)))), sent_a);

    // The 95th percentile against rrdtool graph's PERCENT over the same rows.
    let def = format!("DEF:v={}:tx_bytes:AVERAGE:step=1", file.display());
    let printed = rrdtool(&[
        "graph", "/dev/null", "--start", &a0.to_string(), "--end", &a1.to_string(), "--step", "1", "--width", "1000",
        &def, "CDEF:b=v,8,*", "VDEF:p=b,95,PERCENT", "PRINT:p:%.3lf",
    ]);
    let theirs: f64 = printed.lines().last().unwrap().trim().parse().unwrap_or_else(|_| panic!("{printed}"));
    let ours = wa["rows"][0]["p95_tx_bps"].as_f64().unwrap();
    assert!(theirs > 0.0 && (ours - theirs).abs() < 0.01, "flowpi {ours} vs rrdtool {theirs}");

    // The series of one host: its rows, in bits/s.
    let s = d.json(&format!("/api/series/host/192.168.9.1?from={a0}&to={a1}"));
    assert_eq!(s["step"], 1);
    let bits: f64 = s["points"].as_array().unwrap().iter().map(|p| p[2].as_f64().unwrap_or(0.0)).sum();
    assert!((bits / 8.0 - 2_100_000.0).abs() < 1.0, "{s}");

    // CSV: the same rows as the JSON.
    let r = d.get(&format!("/api/hosts?from={a0}&to={a1}&format=csv"));
    assert_eq!(r.status, 200);
    assert!(r.headers.to_ascii_lowercase().contains("content-disposition: attachment; filename=\"flowpi-hosts.csv\""), "{}", r.headers);
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
    // Since start only the second; over today both, through the slot written at the stop.
    let v = d.json("/api/conversations?period=today");
    assert_eq!(v["source"], "top-k history");
    let c = &v["rows"][0];
    assert_eq!((c["host"].as_str(), c["peer"].as_str(), c["tx_bytes"].as_u64(), c["error"].as_u64()),
        (Some("192.168.5.5"), Some("203.0.113.50"), Some(300_000), Some(0)), "{v}");
    let h = d.json("/api/hosts/192.168.5.5?period=today");
    assert_eq!(h["tx_bytes"], 300_000, "{h}");
    assert_eq!(h["peers"][0]["tx_bytes"], 300_000, "{h}");
    let p = d.json("/api/ports?period=today");
    assert_eq!(p["rows"].as_array().unwrap().iter().map(|r| r["tx_bytes"].as_u64().unwrap()).sum::<u64>(), 300_000, "{p}");

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
}
