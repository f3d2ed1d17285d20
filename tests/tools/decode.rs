//! Developer tool: decode a capture with flowpi's decoder and print each datagram's outcome, the
//! records, and the state the decoder kept (templates, samplers, names) as JSON.
//! `cargo run --example decode -- FILE.pcap [PORT]`

use std::time::Instant;

use flowpi::decode::{Decoder, Limits};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.first() else {
        eprintln!("usage: decode FILE [PORT]");
        std::process::exit(2);
    };
    let port: Option<u16> = args.get(1).and_then(|p| p.parse().ok());
    let data = std::fs::read(file).expect("read");
    let dgrams = flowpi::pcap::udp_payloads(&data).expect("pcap");
    let stats = std::sync::Arc::new(flowpi::stats::Stats::default());
    let mut dec = Decoder::new(Limits::default(), Default::default(), stats.clone());
    for (i, d) in dgrams.iter().filter(|d| port.is_none_or(|p| d.dst.port() == p)).enumerate() {
        let r = dec.decode(d.src.ip(), &d.payload, Instant::now(), &mut |r| {
            println!(
                "  {:?} -> {:?} bytes {} packets {} rev {}/{} if {}->{} proto {} ports {}->{} sampling {}",
                r.src,
                r.dst,
                r.bytes,
                r.packets,
                r.rev_bytes,
                r.rev_packets,
                r.input_if,
                r.output_if,
                r.protocol,
                r.src_port,
                r.dst_port,
                r.sampling
            )
        });
        println!("datagram {i} from {} ({} bytes): {r:?}", d.src, d.payload.len());
    }
    println!("{}", serde_json::to_string_pretty(&dec.save(|_, _| true)).unwrap());
    print!(
        "{}",
        stats
            .render()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.ends_with(" 0"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
}
