//! Windows shorter than the history's hourly slots say what they cover: within the recent steps
//! in RAM a device's peers and applications, conversations and ports are those of the window to
//! the step; older windows are widened to whole hours and say so (`complete: false`, the bounds
//! read, a note). Real datagrams, a real daemon with a 1 s step.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Sleep until the wall clock's second is past `t`.
fn until(t: i64) {
    while now() <= t {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn peers(v: &serde_json::Value) -> Vec<(String, u64)> {
    v["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["ip"].as_str().unwrap().to_string(), p["tx_bytes"].as_u64().unwrap()))
        .collect()
}

fn conversations(v: &serde_json::Value) -> Vec<(String, u64)> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["peer"].as_str().unwrap().to_string(), p["tx_bytes"].as_u64().unwrap()))
        .collect()
}

#[test]
fn sub_hour_windows_hold_only_their_own_traffic_or_say_what_they_cover() {
    let started = now();
    let d = Daemon::start("");
    // A: to one peer; then a quiet stretch; then B: to another.
    d.send(&v5(&[flow("192.168.1.10", "203.0.113.5", 1_000_000)], 0));
    d.wait_for("A counted", |d| d.hosts().get("192.168.1.10").is_some_and(|h| h.1 == 1_000_000));
    let quiet_from = now() + 1;
    until(quiet_from + 2);
    let quiet_to = now();
    until(quiet_to);
    d.send(&v5(&[flow("192.168.1.10", "198.51.100.7", 500_000)], 1));
    d.wait_for("B counted", |d| d.hosts().get("192.168.1.10").is_some_and(|h| h.1 == 1_500_000));
    // From the quiet stretch on: B alone, exactly, to the step (once its step is handed over).
    let path = format!("/api/hosts/192.168.1.10?from={quiet_from}");
    d.wait_for("B's step in the window", |d| {
        let h = d.json(&path);
        h["tx_bytes"].as_u64() == Some(500_000) && !peers(&h).is_empty()
    });
    let h = d.json(&path);
    assert_eq!(h["tx_bytes"].as_u64(), Some(500_000), "{h}");
    assert_eq!(peers(&h), [("198.51.100.7".to_string(), 500_000)], "{h}");
    assert_eq!(h["peers_exact"], true, "{h}");
    assert_eq!(h["complete"], true, "{h}");
    assert_eq!(h["peers_from_unix"].as_i64(), Some(quiet_from), "{h}");
    let c = d.json(&format!("/api/conversations?from={quiet_from}"));
    assert_eq!(conversations(&c), [("198.51.100.7".to_string(), 500_000)], "{c}");
    assert_eq!((c["complete"].as_bool(), c["resolution"].as_u64()), (Some(true), Some(1)), "{c}");

    // The quiet stretch: nothing at all, and sure of it.
    let c = d.json(&format!("/api/conversations?from={quiet_from}&to={quiet_to}"));
    assert_eq!(conversations(&c), [], "{c}");
    assert_eq!(c["complete"], true, "{c}");
    assert_eq!((c["from_unix"].as_i64(), c["to_unix"].as_i64()), (Some(quiet_from), Some(quiet_to)), "{c}");

    // Since before the daemon started (older than the steps in RAM): whole hours, and said.
    let from = started - 60;
    let c = d.json(&format!("/api/conversations?from={from}"));
    let mut rows = conversations(&c);
    rows.sort();
    assert_eq!(rows, [("198.51.100.7".to_string(), 500_000), ("203.0.113.5".to_string(), 1_000_000)], "{c}");
    assert_eq!(c["complete"], false, "{c}");
    assert!(c["from_unix"].as_i64().unwrap() <= from && c["from_unix"].as_i64().unwrap() % 3600 == 0, "{c}");
    assert!(c["note"].as_str().unwrap().contains("not just the window asked"), "{c}");
    let h = d.json(&format!("/api/hosts/192.168.1.10?from={from}"));
    assert_eq!(h["complete"], false, "{h}");
    assert_eq!(h["peers_exact"], false, "{h}");
}
