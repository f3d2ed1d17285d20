//! Benchmark sender: prebuilt NetFlow v5, v9 or IPFIX datagrams (30 records each) sent to one
//! address with sendmmsg in batches, paced to a target record rate.
//! `cargo run --release --example blast -- ADDR VERSION RECORDS_PER_SEC SECONDS`
//! Prints "sent DATAGRAMS RECORDS SECONDS".

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

const RECORDS: usize = 30;
const DISTINCT: usize = 512;
const BATCH: usize = 64;

fn v9_template(version: u16) -> Vec<(u16, u16)> {
    let _ = version;
    // src, dst, bytes, packets, input, output, proto, sport, dport, tcp flags, first, last
    vec![(8, 4), (12, 4), (1, 4), (2, 4), (10, 2), (14, 2), (4, 1), (7, 2), (11, 2), (6, 1), (22, 4), (21, 4)]
}

fn record(i: usize, j: usize) -> ([u8; 4], [u8; 4], u32, u32, u16, u16) {
    // 200 local hosts talking to many remote ones, across 4 interfaces.
    let local = [192, 168, (i % 4) as u8, (j * 7 % 200) as u8 + 1];
    let remote = [(20 + i % 180) as u8, (j * 13 % 250) as u8, (i / 7 % 250) as u8, (j + 1) as u8];
    let (src, dst) = if (i + j) % 2 == 0 { (local, remote) } else { (remote, local) };
    (src, dst, 1000 + (j as u32) * 10, 1 + (j as u32 % 5), (i % 4 + 1) as u16, (j % 4 + 1) as u16)
}

fn build(version: u16, i: usize, seq: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(1500);
    match version {
        5 => {
            b.extend_from_slice(&[0, 5, 0, RECORDS as u8]);
            b.extend_from_slice(&[0, 0, 0x10, 0, 0x65, 0, 0, 0, 0, 0, 0, 0]);
            b.extend_from_slice(&(seq * RECORDS as u32).to_be_bytes());
            b.extend_from_slice(&[0, 0, 0, 0]);
            for j in 0..RECORDS {
                let (s, d, bytes, pkts, inp, out) = record(i, j);
                b.extend_from_slice(&s);
                b.extend_from_slice(&d);
                b.extend_from_slice(&[0; 4]);
                b.extend_from_slice(&inp.to_be_bytes());
                b.extend_from_slice(&out.to_be_bytes());
                b.extend_from_slice(&pkts.to_be_bytes());
                b.extend_from_slice(&bytes.to_be_bytes());
                b.extend_from_slice(&[0, 0, 0x0f, 0, 0, 0, 0x0f, 0xf0]);
                b.extend_from_slice(&[0x9c, 0x40, 0x01, 0xbb, 0, 0x18, 6, 0]);
                b.extend_from_slice(&[0; 8]);
            }
        }
        _ => {
            let ipfix = version == 10;
            if ipfix {
                b.extend_from_slice(&[0, 10, 0, 0, 0x65, 0, 0, 0]);
                b.extend_from_slice(&(seq * RECORDS as u32).to_be_bytes());
                b.extend_from_slice(&[0, 0, 0, 1]);
            } else {
                b.extend_from_slice(&[0, 9, 0, RECORDS as u8, 0, 0, 0x10, 0, 0x65, 0, 0, 0]);
                b.extend_from_slice(&seq.to_be_bytes());
                b.extend_from_slice(&[0, 0, 0, 1]);
            }
            let set_at = b.len();
            b.extend_from_slice(&[1, 0, 0, 0]); // data set 256, length patched below
            for j in 0..RECORDS {
                let (s, d, bytes, pkts, inp, out) = record(i, j);
                b.extend_from_slice(&s);
                b.extend_from_slice(&d);
                b.extend_from_slice(&bytes.to_be_bytes());
                b.extend_from_slice(&pkts.to_be_bytes());
                b.extend_from_slice(&inp.to_be_bytes());
                b.extend_from_slice(&out.to_be_bytes());
                b.extend_from_slice(&[6, 0x9c, 0x40, 0x01, 0xbb, 0x18]);
                b.extend_from_slice(&[0, 0, 0x0f, 0, 0, 0, 0x0f, 0xf0]);
            }
            let set_len = (b.len() - set_at) as u16;
            b[set_at + 2..set_at + 4].copy_from_slice(&set_len.to_be_bytes());
            if ipfix {
                let len = b.len() as u16;
                b[2..4].copy_from_slice(&len.to_be_bytes());
            }
        }
    }
    b
}

fn template(version: u16) -> Vec<u8> {
    let fields = v9_template(version);
    let mut set = vec![0, if version == 10 { 2 } else { 0 }, 0, 0, 1, 0];
    set.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    for (id, len) in &fields {
        set.extend_from_slice(&id.to_be_bytes());
        set.extend_from_slice(&len.to_be_bytes());
    }
    let l = set.len() as u16;
    set[2..4].copy_from_slice(&l.to_be_bytes());
    let mut b = if version == 10 {
        vec![0, 10, 0, 0, 0x65, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    } else {
        vec![0, 9, 0, 1, 0, 0, 0x10, 0, 0x65, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    };
    b.extend_from_slice(&set);
    if version == 10 {
        let len = b.len() as u16;
        b[2..4].copy_from_slice(&len.to_be_bytes());
    }
    b
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() != 4 {
        eprintln!("usage: blast ADDR VERSION RECORDS_PER_SEC SECONDS");
        std::process::exit(2);
    }
    let to: SocketAddr = a[0].parse().expect("ADDR");
    let version: u16 = a[1].parse().expect("VERSION");
    let rate: f64 = a[2].parse().expect("RATE");
    let secs: f64 = a[3].parse().expect("SECONDS");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(to).unwrap();
    let _ = socket2::SockRef::from(&sock).set_send_buffer_size(8 << 20);
    if version != 5 {
        for _ in 0..3 {
            sock.send(&template(version)).unwrap();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Distinct datagrams, built before the clock starts; sequence numbers are per datagram slot
    // (the receiver's loss count is not what is measured here).
    let dgrams: Vec<Vec<u8>> = (0..DISTINCT).map(|i| build(version, i, i as u32)).collect();
    let mut iov: Vec<libc::iovec> = Vec::with_capacity(BATCH);
    let mut hdrs: Vec<libc::mmsghdr> = Vec::with_capacity(BATCH);
    let per_batch = (BATCH * RECORDS) as f64;
    let start = Instant::now();
    let (mut sent, mut next) = (0u64, 0usize);
    while start.elapsed().as_secs_f64() < secs {
        // Pace: batch k is due at k * per_batch / rate seconds.
        let due = Duration::from_secs_f64((sent as f64 / BATCH as f64) * per_batch / rate);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            if wait > Duration::from_micros(50) {
                std::thread::sleep(wait);
            }
        }
        iov.clear();
        hdrs.clear();
        for k in 0..BATCH {
            let d = &dgrams[(next + k) % DISTINCT];
            iov.push(libc::iovec { iov_base: d.as_ptr() as *mut _, iov_len: d.len() });
        }
        for k in 0..BATCH {
            // SAFETY: zeroed msghdr with one iovec that outlives the call.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_iov = &mut iov[k] as *mut libc::iovec;
            h.msg_hdr.msg_iovlen = 1;
            hdrs.push(h);
        }
        // SAFETY: hdrs points at BATCH valid headers.
        let n = unsafe { libc::sendmmsg(sock.as_raw_fd(), hdrs.as_mut_ptr(), BATCH as u32, 0) };
        if n > 0 {
            sent += n as u64;
            next = (next + n as usize) % DISTINCT;
        }
    }
    let el = start.elapsed().as_secs_f64();
    println!("sent {sent} {} {el:.3}", sent * RECORDS as u64);
}
