//! Benchmark filler: host archives as flowpi makes them, full of weeks of made-up traffic, for
//! timing queries over the archives (scripts/bench-window.sh).
//! `cargo run --release --example fill -- DIR [HOSTS] [DAYS] [STEP]` (defaults 256, 35, 60)
//!
//! Writes `DIR/hosts/10.0.X.Y.rrd` for HOSTS hosts (10.0.0.1-250, 10.0.1.1-250, …) with the
//! daemon's layout: the same data sources and archives, created on a boundary of the coarsest row,
//! every step written, the last one ending at the current step boundary, so the files read as if
//! flowpi had run the whole time. The traffic is made up but shaped like a home network's: a
//! daily cycle (quiet at night, busiest in the evening), a heavy host in every 64, most hosts
//! switched off for some night hours (zeros), noise and the odd burst of a download. The same
//! arguments give the same counts (a fixed-seed generator per host); only the times move.
//! Prints the time filling took and the last step's time.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use flowpi::rrd::{schema, Rrd};
use flowpi::views::{HostId, Subject};

/// Values per rrd_update call: one call per value would parse the file's header every time.
const BATCH: usize = 1000;
/// Addresses .1 to .250 of each /24, so none is a network or broadcast address.
const PER_NET: usize = 250;

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.is_empty() || a.len() > 4 || a[0].starts_with('-') {
        eprintln!("usage: fill DIR [HOSTS] [DAYS] [STEP]   (defaults 256 hosts, 35 days, 60 s)");
        std::process::exit(2);
    }
    let dir = PathBuf::from(&a[0]);
    let arg = |i: usize, default: u64, what: &str| -> u64 {
        a.get(i).map_or(default, |s| s.parse().unwrap_or_else(|_| fail(&format!("{what}: not a number: {s}"))))
    };
    let hosts = arg(1, 256, "HOSTS") as usize;
    let days = arg(2, 35, "DAYS");
    let step = arg(3, 60, "STEP");
    if hosts == 0 || hosts > PER_NET * 256 || days == 0 || step == 0 {
        fail(&format!("HOSTS must be 1-{}, DAYS and STEP at least 1", PER_NET * 256));
    }
    let rrd = Rrd::claim().expect("the librrd handle");
    std::fs::create_dir_all(dir.join("hosts")).unwrap_or_else(|e| fail(&format!("{}: {e}", dir.display())));

    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let step_i = step as i64;
    let coarse = schema::coarsest_row(step) as i64;
    // The last complete step ends at `end`; as in the daemon's Worker::create, the file starts on
    // the coarsest row's boundary at or before the first step, and step n is written at (n+1)·step.
    let end = now.div_euclid(step_i) * step_i;
    let start = (end - days as i64 * 86_400).div_euclid(coarse) * coarse;
    let steps = ((end - start) / step_i) as usize;

    let t = Instant::now();
    let mut values: Vec<String> = Vec::with_capacity(BATCH);
    let (mut total_rx, mut total_tx) = (0u64, 0u64);
    for i in 0..hosts {
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, (i / PER_NET) as u8, (i % PER_NET + 1) as u8));
        let subject = Subject::Host(HostId::Ip(ip));
        let path = schema::path(&dir, &subject);
        rrd.create(&path, step, start, &schema::create_args(subject.ds(), step))
            .unwrap_or_else(|e| fail(&format!("create {}: {e}", path.display())));
        let mut host = Host::new(i);
        for n in 1..=steps {
            let at = start + n as i64 * step_i;
            let c = host.step(at - step_i, step);
            total_rx += c[0];
            total_tx += c[1];
            values.push(format!("{at}:{}:{}:{}:{}", c[0], c[1], c[2], c[3]));
            if values.len() == BATCH || n == steps {
                rrd.update(&path, &values).unwrap_or_else(|e| fail(&format!("update {}: {e}", path.display())));
                values.clear();
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "filled {hosts} hosts x {steps} steps of {step} s ({:.1} days, {} to {end}) in {secs:.1} s \
         ({:.2} us per value); {:.1} GB received, {:.1} GB sent in all",
        steps as f64 * step as f64 / 86_400.0,
        start + step_i,
        secs * 1e6 / (hosts * steps) as f64,
        total_rx as f64 / 1e9,
        total_tx as f64 / 1e9,
    );
}

fn fail(msg: &str) -> ! {
    eprintln!("fill: {msg}");
    std::process::exit(2);
}

/// One host's made-up traffic: its own level, upload share and night, drawn once from its seed.
struct Host {
    rng: u64,
    /// Received bytes per second at the evening peak.
    peak: f64,
    /// Sent bytes per received byte.
    upload: f64,
    /// Hours of the day (UTC) when the host is off and counts nothing; `None`: never off.
    off: Option<(u32, u32)>,
    /// Chance per step of a burst (a download, an update, a backup).
    burst: f64,
}

impl Host {
    fn new(i: usize) -> Host {
        let mut h = Host { rng: 0x9e37_79b9_7f4a_7c15 ^ (i as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9), ..Host::ZERO };
        let heavy = i % 64 == 0;
        // Log-uniform levels at the evening peak: 1 to 50 kB/s for most (some 20 GB a month on
        // average), 0.5 to 2 MB/s (some 1 TB a month) for the heavy ones.
        h.peak = if heavy { 5e5 * 4f64.powf(h.unit()) } else { 1e3 * 50f64.powf(h.unit()) };
        // Most hosts mostly download; one in eight (a camera, a backup box) mostly uploads.
        h.upload = if i % 8 == 5 { 1.5 + 1.5 * h.unit() } else { 0.05 + 0.25 * h.unit() };
        // Three hosts in four are off some hours a night: from 23-2 h to 5-8 h.
        if h.unit() < 0.75 {
            let from = (23 + (h.unit() * 4.0) as u32) % 24;
            h.off = Some((from, 5 + (h.unit() * 4.0) as u32));
        }
        h.burst = if heavy { 0.01 } else { 0.002 };
        h
    }

    const ZERO: Host = Host { rng: 0, peak: 0.0, upload: 0.0, off: None, burst: 0.0 };

    /// Counts of the step starting at `at`: received and sent bytes, received and sent packets.
    fn step(&mut self, at: i64, step: u64) -> [u64; 4] {
        let hour = (at.rem_euclid(86_400) / 3_600) as u32;
        let off = self
            .off
            .is_some_and(|(from, to)| if from > to { hour >= from || hour < to } else { hour >= from && hour < to });
        // Draw every step whether on or off, so a host's numbers do not depend on its night.
        let (noise, burst) = (self.unit(), self.unit());
        if off {
            return [0; 4];
        }
        // The daily cycle: a trickle at night, a working day, the evening peak.
        let shape = match hour {
            0..=1 => 0.3,
            2..=6 => 0.05,
            7..=8 => 0.3,
            9..=17 => 0.5,
            18 => 0.8,
            19..=22 => 1.0,
            _ => 0.6,
        };
        // Noise of a factor of two either way, and a burst of 20 times now and then.
        let mut rate = self.peak * shape * 2f64.powf(2.0 * noise - 1.0);
        if burst < self.burst {
            rate *= 20.0;
        }
        let rx = (rate * step as f64) as u64;
        let tx = (rate * self.upload * step as f64) as u64;
        // Full-size packets the way the data flows, acknowledgements (one for two) the other way.
        let (rx_packets, tx_packets) = if self.upload < 1.0 {
            let p = rx.div_ceil(1_400);
            (p, (tx / 1_400).max(p / 2))
        } else {
            let p = tx.div_ceil(1_400);
            ((rx / 1_400).max(p / 2), p)
        };
        [rx, tx, rx_packets, tx_packets]
    }

    /// A uniform number in [0, 1) (splitmix64).
    fn unit(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}
