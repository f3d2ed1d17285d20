//! Developer tool: write every UDP payload of the given captures to DIR, one file each (a seed
//! corpus for the fuzzer). The first byte of each file picks the exporter, as the fuzz target reads it.
//! `cargo run --example corpus -- DIR FILE.pcap...`

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, files) = args.split_first().expect("usage: corpus DIR FILE...");
    std::fs::create_dir_all(dir).unwrap();
    let mut n = 0;
    for f in files {
        let Ok(data) = std::fs::read(f) else { continue };
        let Ok(dgrams) = flowpi::pcap::udp_payloads(&data) else { continue };
        for d in dgrams {
            let mut out = vec![(n % 4) as u8];
            out.extend_from_slice(&d.payload);
            std::fs::write(format!("{dir}/seed-{n:05}"), out).unwrap();
            n += 1;
        }
    }
    println!("{n} seeds in {dir}");
}
