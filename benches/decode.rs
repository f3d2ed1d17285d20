//! Decode + aggregate throughput without sockets: the per-record cost of the collector's hot path.
//! `cargo bench --bench decode` prints records per second for v5, v9 and IPFIX, first for the
//! ingest benchmark's own traffic (what `scripts/bench-ingest.sh` sends), then for softflowd's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flowpi::decode::{Decoder, Limits};
use flowpi::net::LocalNets;
use flowpi::stats::Stats;
use flowpi::views::{Bounds, Views};

#[path = "tools/traffic.rs"]
mod traffic;

fn main() {
    // `cargo bench --bench decode -- [SECONDS] [NAME_FILTER]`
    // (cargo adds `--bench`; flags are not ours.)
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let secs: f64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(2.0);
    let filter = args.get(1).cloned().unwrap_or_default();
    for version in [5u16, 9, 10] {
        // The template first, then 512 distinct data datagrams, as the sender sends them.
        let mut dgrams = if version == 5 { vec![] } else { vec![traffic::template(version)] };
        dgrams.extend((0..512).map(|i| traffic::build(version, i, i as u32)));
        let name = format!("bench v{version}");
        if name.contains(&filter) {
            run(&name, &dgrams, secs);
        }
    }
    for (name, file) in [
        ("softflowd v5", "tests/data/softflowd_v5_synth.pcap"),
        ("softflowd v9", "tests/data/softflowd_v9_synth.pcap"),
        ("softflowd ipfix", "tests/data/softflowd_v10_synth.pcap"),
    ] {
        if !name.contains(&filter) {
            continue;
        }
        let data = std::fs::read(file).expect("run from the project root");
        let dgrams: Vec<Vec<u8>> = flowpi::pcap::udp_payloads(&data).unwrap().into_iter().map(|d| d.payload).collect();
        run(name, &dgrams, secs);
    }
}

fn run(name: &str, dgrams: &[Vec<u8>], secs: f64) {
    let noagg = std::env::var_os("NOAGG").is_some();
    {
        let stats = Arc::new(Stats::default());
        let mut dec = Decoder::new(Limits::default(), Default::default(), stats.clone());
        let local = LocalNets::new(vec!["192.168.0.0/16".parse().unwrap(), "fd00::/8".parse().unwrap()]);
        let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
        let bounds = Bounds {
            peers_per_host: env("PEERS", 32),
            conversations: env("CONVERSATIONS", 2048),
            ports: env("PORTS", 1024),
            ..Bounds::default()
        };
        let mut agg = Views::with_bounds(local, &bounds, 31, std::time::Duration::from_secs(60), stats);
        let from = "192.0.2.1".parse().unwrap();
        let now = Instant::now();
        // Learn the templates once, then time data alone, as from a router that resends its
        // templates only now and then.
        for d in dgrams {
            dec.decode(from, d, now, &mut |_| {}).unwrap();
        }
        let dgrams: Vec<Vec<u8>> = dgrams.iter().map(|d| data_only(d)).filter(|d| d.len() > 20).collect();
        let (mut records, start) = (0u64, Instant::now());
        while start.elapsed() < Duration::from_secs_f64(secs) {
            for _ in 0..1000 {
                for d in &dgrams {
                    let r = if noagg {
                        dec.decode(from, d, now, &mut |_| {}).unwrap()
                    } else {
                        dec.decode(from, d, now, &mut |r| agg.add(from, r)).unwrap()
                    };
                    records += r.records as u64;
                }
            }
        }
        let rate = records as f64 / start.elapsed().as_secs_f64();
        println!("{name:16} {:>8.2} M records/s ({records} records)", rate / 1e6);
    }
}

/// A v9/IPFIX datagram without its template sets (v5 unchanged).
fn data_only(d: &[u8]) -> Vec<u8> {
    let version = u16::from_be_bytes([d[0], d[1]]);
    let hdr = match version {
        9 => 20,
        10 => 16,
        _ => return d.to_vec(),
    };
    let mut out = d[..hdr].to_vec();
    let mut at = hdr;
    while at + 4 <= d.len() {
        let id = u16::from_be_bytes([d[at], d[at + 1]]);
        let len = usize::from(u16::from_be_bytes([d[at + 2], d[at + 3]]));
        if len < 4 || at + len > d.len() {
            break;
        }
        if id >= 256 {
            out.extend_from_slice(&d[at..at + len]);
        }
        at += len;
    }
    if version == 10 {
        let len = out.len() as u16;
        out[2..4].copy_from_slice(&len.to_be_bytes());
    }
    out
}
