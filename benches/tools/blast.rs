//! Benchmark sender: prebuilt NetFlow v5, v9 or IPFIX datagrams (30 records each) sent to one
//! address with sendmmsg in batches, paced to a target record rate.
//! `cargo run --release --example blast -- ADDR VERSION RECORDS_PER_SEC SECONDS`
//! Prints "sent DATAGRAMS RECORDS SECONDS".

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

#[path = "traffic.rs"]
mod traffic;

use traffic::{build, template, RECORDS};

const DISTINCT: usize = 512;
const BATCH: usize = 64;

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
