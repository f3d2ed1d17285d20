//! systemd's notify protocol, spoken to a real datagram socket the test owns: READY=1 once the
//! sockets are bound, STATUS= with live counts, WATCHDOG=1 while the parts are alive, STOPPING=1.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::Daemon;

#[test]
fn ready_status_watchdog_stopping() {
    let tmp = tempfile::tempdir().unwrap();
    let sock_path = tmp.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut d = Daemon::start_env(
        tmp.path(),
        "",
        &[("NOTIFY_SOCKET", sock_path.to_str().unwrap()), ("WATCHDOG_USEC", "3000000"), ("WATCHDOG_PID", "self")],
    );
    let mut messages = Vec::new();
    let mut buf = [0u8; 4096];
    let mut read_until = |want: &str, messages: &mut Vec<String>| {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(15) {
            if let Ok(n) = sock.recv(&mut buf) {
                messages.push(String::from_utf8_lossy(&buf[..n]).to_string());
                if messages.last().unwrap().lines().any(|l| l == want) {
                    return;
                }
            }
        }
        panic!("no {want} in {messages:?}");
    };
    read_until("READY=1", &mut messages);
    // A v5 datagram so STATUS has something to say.
    d.send(&flowpi::decode::legacy::encode(
        &[flowpi::decode::FlowRecord {
            src: Some("192.168.1.2".parse().unwrap()),
            dst: Some("1.1.1.1".parse().unwrap()),
            bytes: 10,
            packets: 1,
            input_if: 1,
            output_if: 2,
            protocol: 17,
            src_port: 1,
            dst_port: 53,
            tcp_flags: 0,
            ..Default::default()
        }],
        0,
        0,
        0,
    ));
    read_until("WATCHDOG=1", &mut messages);
    let status = messages.iter().rev().flat_map(|m| m.lines()).find(|l| l.starts_with("STATUS=")).unwrap();
    assert!(status.contains("1 hosts") && status.contains("1 records"), "{status}");
    assert_eq!(d.stop(), 0);
    read_until("STOPPING=1", &mut messages);
}
