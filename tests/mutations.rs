//! Thousands of random and mutated datagrams through one decoder and aggregator (the long run is
//! scripts/fuzz.sh): no panic, the record count reported equals the records emitted, and the
//! state stays within its bounds.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use flowpi::decode::{Decoder, Limits};
use flowpi::net::LocalNets;
use flowpi::stats::{self, Stats};
use flowpi::views::{Bounds, Views};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for f in [
        "generated/softflowd_v9_synth.pcap",
        "generated/softflowd_v10_synth.pcap",
        "generated/softflowd_v5_synth.pcap",
        "generated/fprobe_v1_lo_udp.pcap",
        "generated/fprobe_v7_lo_udp.pcap",
        "derived/akvorado/multiplesamplingrates.pcap",
        "derived/logstash-codec-netflow/ipfix_mikrotik.pcap",
        "derived/logstash-codec-netflow/nf9_h3c_varstring.pcap",
        "derived/logstash-codec-netflow/ipfix_yaf.pcap",
        "graylog-plugin-netflow/nprobe-netflow9-3.pcap",
    ] {
        let data = std::fs::read(common::captures().join(f)).unwrap();
        out.extend(flowpi::pcap::udp_payloads(&data).unwrap().into_iter().map(|d| d.payload));
    }
    assert!(out.len() > 50);
    out
}

#[test]
fn random_and_mutated_datagrams() {
    let seeds = seeds();
    let stats = Arc::new(Stats::default());
    let limits = Limits {
        max_exporters: 3,
        max_templates_per_exporter: 8,
        max_fields_per_template: 64,
        pending_sets: 4,
        pending_bytes: 4096,
        pending_timeout: Duration::from_secs(3),
        max_domains_per_exporter: 2,
        max_template_bytes_per_exporter: 16 << 10,
        max_template_bytes: 32 << 10,
        max_interface_name_bytes_per_exporter: 4096,
    };
    let mut dec = Decoder::new(limits, Default::default(), stats.clone());
    let local = LocalNets::new(vec!["192.168.0.0/16".parse().unwrap(), "10.0.0.0/8".parse().unwrap()]);
    let mut agg = Views::with_bounds(
        local,
        &Bounds { max_hosts: 8, max_interfaces: 8, ..Bounds::default() },
        31,
        std::time::Duration::from_secs(60),
        stats.clone(),
    );
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let start = Instant::now();
    let mut decoded = 0;
    for i in 0..6000u64 {
        let mut d = seeds[rng.below(seeds.len())].clone();
        match rng.below(6) {
            0 => {
                // bit flips
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(d.len());
                    d[at] ^= 1 << rng.below(8);
                }
            }
            1 => d.truncate(rng.below(d.len() + 1)),
            // a random 16-bit field (versions, counts, set ids, lengths) to a random value
            2 if d.len() > 2 => {
                let at = rng.below(d.len() - 1);
                let v = rng.next() as u16;
                d[at..at + 2].copy_from_slice(&v.to_be_bytes());
            }
            2 => {}
            3 => {
                // splice two datagrams
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(d.len());
                d.truncate(cut);
                d.extend_from_slice(&other[rng.below(other.len())..]);
            }
            4 => d = (0..rng.below(1500)).map(|_| rng.next() as u8).collect(),
            _ => {} // unchanged: templates keep arriving, so later data can decode
        }
        let from = std::net::IpAddr::from([192, 0, 2, (rng.below(5)) as u8]);
        let now = start + Duration::from_secs(i / 10);
        let mut emitted = 0;
        if let Ok(info) = dec.decode(from, &d, now, &mut |r| {
            assert!(r.sampling >= 1);
            agg.add(from, r);
            emitted += 1;
        }) {
            assert_eq!(info.records, emitted);
            decoded += emitted;
        }
    }
    assert!(decoded > 1000, "the unchanged and lightly mutated datagrams still decode ({decoded})");
    assert!(dec.exporters().len() <= 3);
    assert!(stats::get(&stats.pending_sets) <= 4);
    let snap = agg.snapshot();
    assert!(snap.hosts.len() <= 9 && snap.interfaces.len() <= 9);
    // Five senders, all live (the run spans 10 minutes), for a table of three: mutated sequence
    // numbers rarely continue, so newcomers mostly take the places of exporters not confirmed
    // (counted), and are refused only when confirmed ones hold them.
    let (evicted, denied) = (stats::get(&stats.exporter_evictions), stats::get(&stats.denied_domain_limit));
    assert!(evicted > 0, "five exporters through a table of three ({evicted} evicted, {denied} denied)");
}
