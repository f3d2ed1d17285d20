//! Benchmark sender: prebuilt NetFlow v5, v9 or IPFIX datagrams (30 records each) sent to one
//! address with sendmmsg in batches, paced to a target record rate.
//! `cargo run --release --example blast -- ADDR VERSION RECORDS_PER_SEC SECONDS [--distinct]`
//! Prints "sent DATAGRAMS RECORDS SECONDS CPU_SECONDS REMOTES LOCALS": what was sent, over how
//! long, the sender's own CPU time (user + system), and how many distinct remote addresses and
//! local hosts the records carried.
//!
//! Without `--distinct` the traffic is `traffic.rs`'s: 200 local hosts and 16384 remotes,
//! repeating. With `--distinct` every record gets a new remote address, walking 32.0.0.0/12
//! (1,048,576 addresses) before any repeats, and the local hosts cycle over 4096 addresses of
//! 192.168.16.0/20: a flood of new peers and hosts, to see what memory the collector holds for
//! them.

use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

#[path = "traffic.rs"]
mod traffic;

use traffic::{address_offset, build, flow, template, RECORDS};

const DISTINCT: usize = 512;
const BATCH: usize = 64;

/// The flood's addresses: remotes from 32.0.0.0/12, local hosts from 192.168.16.0/20.
const FLOOD_REMOTE_BASE: u32 = 0x2000_0000;
const FLOOD_REMOTE_BITS: u32 = 20;
const FLOOD_LOCAL_BASE: u32 = 0xc0a8_1000;
const FLOOD_LOCALS: u64 = 4096;

fn main() {
    let mut a: Vec<String> = std::env::args().skip(1).collect();
    let distinct = a.iter().any(|x| x == "--distinct");
    a.retain(|x| x != "--distinct");
    if a.len() != 4 {
        eprintln!("usage: blast ADDR VERSION RECORDS_PER_SEC SECONDS [--distinct]");
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
    let mut dgrams: Vec<Vec<u8>> = (0..DISTINCT).map(|i| build(version, i, i as u32)).collect();
    // Which end of each record is the local host, so the flood can rewrite addresses in place
    // and keep each record's direction, ports and interfaces.
    let local_is_src: Vec<[bool; RECORDS]> =
        (0..DISTINCT).map(|i| std::array::from_fn(|j| flow(i, j).local_is_src)).collect();
    let offsets: [usize; RECORDS] = std::array::from_fn(|j| address_offset(version, j));
    let mut iov: Vec<libc::iovec> = Vec::with_capacity(BATCH);
    let mut hdrs: Vec<libc::mmsghdr> = Vec::with_capacity(BATCH);
    let per_batch = (BATCH * RECORDS) as f64;
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        // Pace: batch k is due at k * per_batch / rate seconds.
        let due = Duration::from_secs_f64((sent as f64 / BATCH as f64) * per_batch / rate);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            if wait > Duration::from_micros(50) {
                std::thread::sleep(wait);
            }
        }
        let next = (sent % DISTINCT as u64) as usize;
        if distinct {
            // Rewriting the addresses of the next batch costs a few stores per record, far
            // less than the send; a prebuilt ring covering 2^20 remotes would take ~35 MB and
            // miss the cache on every datagram. The kernel copies the data during sendmmsg, so
            // the buffers are free to change after it returns (datagrams it did not take are
            // rewritten again, with the same numbers, next time).
            for k in 0..BATCH {
                let slot = (next + k) % DISTINCT;
                let first = (sent + k as u64) * RECORDS as u64;
                let d = &mut dgrams[slot];
                for j in 0..RECORDS {
                    let r = first + j as u64;
                    // An odd multiplier permutes 0..2^20, so consecutive records land far apart
                    // in the /12 and all of it is covered before an address repeats.
                    let remote = FLOOD_REMOTE_BASE + (r.wrapping_mul(0x9_e3b1) & ((1 << FLOOD_REMOTE_BITS) - 1)) as u32;
                    let local = FLOOD_LOCAL_BASE + (r % FLOOD_LOCALS) as u32;
                    let (s, t) = if local_is_src[slot][j] { (local, remote) } else { (remote, local) };
                    let o = offsets[j];
                    d[o..o + 4].copy_from_slice(&s.to_be_bytes());
                    d[o + 4..o + 8].copy_from_slice(&t.to_be_bytes());
                }
            }
        }
        iov.clear();
        hdrs.clear();
        for k in 0..BATCH {
            let d = &dgrams[(next + k) % DISTINCT];
            iov.push(libc::iovec { iov_base: d.as_ptr() as *mut _, iov_len: d.len() });
        }
        for v in iov.iter_mut() {
            // SAFETY: zeroed msghdr with one iovec that outlives the call.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_iov = v as *mut libc::iovec;
            h.msg_hdr.msg_iovlen = 1;
            hdrs.push(h);
        }
        // SAFETY: hdrs points at BATCH valid headers.
        let n = unsafe { libc::sendmmsg(sock.as_raw_fd(), hdrs.as_mut_ptr(), BATCH as u32, 0) };
        if n > 0 {
            sent += n as u64;
        }
    }
    let el = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let records = sent * RECORDS as u64;
    let (remotes, locals) = if distinct {
        (records.min(1 << FLOOD_REMOTE_BITS), records.min(FLOOD_LOCALS))
    } else {
        let (mut r, mut l) = (HashSet::new(), HashSet::new());
        for i in 0..(sent as usize).min(DISTINCT) {
            for j in 0..RECORDS {
                let f = flow(i, j);
                r.insert(f.remote);
                l.insert(f.local);
            }
        }
        (r.len() as u64, l.len() as u64)
    };
    println!("sent {sent} {records} {el:.3} {cpu:.3} {remotes} {locals}");
}

/// This process's user + system CPU time so far, in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}
