//! Fuzz target: one decoder (and one aggregator) kept across inputs, so template-then-data
//! sequences, withdrawals, held sets and evictions are explored, not just single datagrams.
//! The first input byte picks one of four exporter addresses; the rest is the datagram.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use flowpi::views::{Bounds, Views};
use flowpi::decode::{Decoder, Limits};
use flowpi::net::LocalNets;
use flowpi::stats::Stats;
use libfuzzer_sys::fuzz_target;

struct State {
    decoder: Decoder,
    agg: Views,
    start: Instant,
    n: u64,
}

fn state() -> &'static Mutex<State> {
    static S: OnceLock<Mutex<State>> = OnceLock::new();
    S.get_or_init(|| {
        let stats = Arc::new(Stats::default());
        // Small bounds so that eviction and overflow paths run often.
        let limits = Limits {
            max_exporters: 3,
            max_templates_per_exporter: 8,
            max_fields_per_template: 64,
            pending_sets: 4,
            pending_bytes: 4096,
            pending_timeout: Duration::from_secs(5),
            max_domains_per_exporter: 2,
            max_template_bytes_per_exporter: 8192,
            max_template_bytes: 32 << 10,
            max_interface_name_bytes_per_exporter: 2048,
        };
        let local = LocalNets::new(vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()]);
        Mutex::new(State {
            decoder: Decoder::new(limits, Default::default(), stats.clone()),
            agg: Views::with_bounds(local, &Bounds { max_hosts: 16, max_interfaces: 16, ..Bounds::default() }, 31, Duration::from_secs(60), stats),
            start: Instant::now(),
            n: 0,
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&who, dgram)) = data.split_first() else { return };
    let mut s = state().lock().unwrap();
    let s = &mut *s;
    s.n += 1;
    // A clock that moves a second per input, so held sets expire during a run.
    let now = s.start + Duration::from_secs(s.n);
    let from = IpAddr::V4(Ipv4Addr::new(192, 0, 2, who & 3));
    let agg = &mut s.agg;
    let mut records = 0usize;
    if let Ok(d) = s.decoder.decode(from, dgram, now, &mut |r| {
        assert!(r.sampling >= 1);
        agg.add(from, r);
        records += 1;
    }) {
        assert_eq!(d.records, records);
    }
    // State stays bounded whatever comes in.
    let snap = s.agg.snapshot();
    assert!(snap.hosts.len() <= 17 && snap.interfaces.len() <= 17);
    assert!(s.decoder.exporters().len() <= 3);
    if s.n % 512 == 0 {
        // Whatever state the inputs built can be saved (serialising it each time would dominate).
        let _ = serde_json::to_string(&s.decoder.save(|_, _| true));
    }
});
