//! Receiving many datagrams per system call (Linux recvmmsg) into a fixed set of buffers: at
//! 100 000+ datagrams a second the per-call cost, not decoding, is what limits a collector.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Datagrams per call.
pub const BATCH: usize = 32;
/// A slot holds the largest UDP payload, so nothing is ever cut short.
const SLOT: usize = 65_536;

/// Buffers and headers for one recvmmsg call; allocated once (BATCH x 64 KiB), reused forever.
pub struct Batch {
    bufs: Vec<u8>,
    iov: Vec<libc::iovec>,
    addrs: Vec<libc::sockaddr_storage>,
    hdrs: Vec<libc::mmsghdr>,
    len: usize,
}

// SAFETY: the raw pointers in `iov` and `hdrs` point into this struct's own heap buffers.
unsafe impl Send for Batch {}

impl Batch {
    pub fn new() -> Batch {
        let mut b = Batch {
            bufs: vec![0u8; BATCH * SLOT],
            iov: Vec::with_capacity(BATCH),
            // SAFETY: all-zero is a valid sockaddr_storage and mmsghdr.
            addrs: vec![unsafe { std::mem::zeroed() }; BATCH],
            hdrs: Vec::with_capacity(BATCH),
            len: 0,
        };
        for i in 0..BATCH {
            b.iov.push(libc::iovec { iov_base: b.bufs[i * SLOT..].as_mut_ptr().cast(), iov_len: SLOT });
        }
        for i in 0..BATCH {
            // SAFETY: zeroed header, then pointed at this slot's iovec and address. The Vecs are
            // never resized, so the pointers stay valid for the life of the Batch.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_iov = &mut b.iov[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_name = (&mut b.addrs[i] as *mut libc::sockaddr_storage).cast();
            b.hdrs.push(h);
        }
        b
    }

    /// Receive what is queued on `sock` (up to BATCH), without waiting. `WouldBlock` when empty.
    pub fn recv(&mut self, sock: &UdpSocket) -> io::Result<usize> {
        self.len = 0;
        for h in &mut self.hdrs {
            h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_len = 0;
        }
        let fd = sock.as_raw_fd();
        let hdrs = self.hdrs.as_mut_ptr();
        let n = sock.try_io(Interest::READABLE, || {
            // SAFETY: BATCH valid headers whose buffers outlive the call.
            let n =
                unsafe { libc::recvmmsg(fd, hdrs, BATCH as libc::c_uint, libc::MSG_DONTWAIT, std::ptr::null_mut()) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        })?;
        self.len = n;
        Ok(n)
    }

    /// Datagram `i` of the last receive and who sent it.
    pub fn get(&self, i: usize) -> (&[u8], Option<SocketAddr>) {
        let len = (self.hdrs[i].msg_len as usize).min(SLOT);
        (&self.bufs[i * SLOT..i * SLOT + len], to_addr(&self.addrs[i]))
    }
}

impl Default for Batch {
    fn default() -> Self {
        Self::new()
    }
}

fn to_addr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match s.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this is a sockaddr_in6.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(ip, u16::from_be(a.sin6_port), a.sin6_flowinfo, a.sin6_scope_id)))
        }
        _ => None,
    }
}
