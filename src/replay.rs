//! `flowpi replay`: send the export datagrams of capture files to a collector, like nfdump's
//! nfreplay. Used by the demo, the end-to-end tests and by people checking a router's export.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ReplayArgs {
    pub files: Vec<PathBuf>,
    pub to: SocketAddr,
    /// Datagrams per second; 0 sends as fast as the socket takes them.
    pub rate: u64,
    /// Send the whole set this many times.
    pub repeat: u64,
    /// Only payloads sent to this UDP port (pcap input).
    pub port: Option<u16>,
}

/// Load every datagram of every file, in order.
pub fn load(files: &[PathBuf], port: Option<u16>) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for f in files {
        let data = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
        if crate::pcap::is_pcap(&data) {
            let dgrams = crate::pcap::udp_payloads(&data).map_err(|e| format!("{}: {e}", f.display()))?;
            out.extend(dgrams.into_iter().filter(|d| port.is_none_or(|p| d.dst.port() == p)).map(|d| d.payload));
        } else {
            out.extend(crate::pcap::split_raw(&data).into_iter().map(|d| d.to_vec()));
        }
    }
    Ok(out)
}

/// Send; returns the number of datagrams sent.
pub fn run(args: &ReplayArgs) -> Result<u64, String> {
    let dgrams = load(&args.files, args.port)?;
    if dgrams.is_empty() {
        return Err("no datagrams found in the input".into());
    }
    let bind: SocketAddr = if args.to.is_ipv4() { "0.0.0.0:0".parse().unwrap() } else { "[::]:0".parse().unwrap() };
    let sock = UdpSocket::bind(bind).map_err(|e| format!("bind: {e}"))?;
    let gap = 1_000_000_000u64.checked_div(args.rate).map_or(Duration::ZERO, Duration::from_nanos);
    let start = Instant::now();
    let mut sent = 0u64;
    for _ in 0..args.repeat.max(1) {
        for d in &dgrams {
            if !gap.is_zero() {
                let due = start + Duration::from_nanos(gap.as_nanos() as u64 * sent);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
            sock.send_to(d, args.to).map_err(|e| format!("send to {}: {e}", args.to))?;
            sent += 1;
        }
    }
    Ok(sent)
}
