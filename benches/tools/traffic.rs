//! The benchmark traffic: NetFlow v5, v9 and IPFIX datagrams of 30 records each, 200 local hosts
//! in 192.168.0.0/16 talking both ways with 16384 remote ones over a mix of services, through a
//! router with 3 LAN interfaces and a WAN one. Shared by the sender (`blast.rs`) and the
//! in-process bench (`benches/decode.rs`) so both measure the same bytes.

pub const RECORDS: usize = 30;

/// Local hosts and remote addresses of the default traffic.
pub const LOCAL_HOSTS: u32 = 200;
pub const REMOTES: u32 = 16384;
/// Remote addresses start here (33.0.0.0: public, outside every default local network).
pub const REMOTE_BASE: u32 = 0x2100_0000;
/// The WAN interface; 1 to 3 are LAN interfaces.
const WAN: u16 = 4;

fn v9_template(version: u16) -> Vec<(u16, u16)> {
    let _ = version;
    // src, dst, bytes, packets, input, output, proto, sport, dport, tcp flags, first, last
    vec![(8, 4), (12, 4), (1, 4), (2, 4), (10, 2), (14, 2), (4, 1), (7, 2), (11, 2), (6, 1), (22, 4), (21, 4)]
}

/// Bytes of one data record and where the first one starts, per version (v9 and IPFIX follow
/// the template above).
const V5_HEADER: usize = 24;
const V5_RECORD: usize = 48;
const V9_FIRST: usize = 20 + 4;
const IPFIX_FIRST: usize = 16 + 4;
const TEMPLATE_RECORD: usize = 34;

/// Offset of record `j`'s source address in a datagram from `build`; its destination follows.
#[allow(dead_code)] // only the sender patches addresses
pub fn address_offset(version: u16, j: usize) -> usize {
    match version {
        5 => V5_HEADER + j * V5_RECORD,
        9 => V9_FIRST + j * TEMPLATE_RECORD,
        _ => IPFIX_FIRST + j * TEMPLATE_RECORD,
    }
}

/// One flow as the router saw it, seen from the local side.
pub struct Flow {
    pub local: [u8; 4],
    pub remote: [u8; 4],
    pub local_port: u16,
    pub remote_port: u16,
    pub proto: u8,
    pub tcp_flags: u8,
    /// Local host to remote (upload, requests) or the other way (replies, inbound connections).
    pub local_is_src: bool,
    pub bytes: u32,
    pub packets: u32,
    pub input: u16,
    pub output: u16,
}

impl Flow {
    fn ends(&self) -> ([u8; 4], [u8; 4], u16, u16) {
        if self.local_is_src {
            (self.local, self.remote, self.local_port, self.remote_port)
        } else {
            (self.remote, self.local, self.remote_port, self.local_port)
        }
    }
}

/// splitmix64: every (datagram, record) slot gets its own well-mixed bits, deterministically.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Record `j` of datagram `i`. Services in rough home-network shares: HTTPS over TCP and QUIC,
/// HTTP, DNS, SSH (half of it inbound), BitTorrent on 6881, NTP, and high-port to high-port
/// (games, calls); each either way, so requests and replies both appear.
pub fn flow(i: usize, j: usize) -> Flow {
    const TCP: u8 = 6;
    const UDP: u8 = 17;
    let h = mix((i * RECORDS + j) as u64);
    let ephemeral = 32768 + ((h >> 8) % 28232) as u16;
    let high = 1024 + ((h >> 24) % 64511) as u16;
    // (protocol, local port, remote port)
    let (proto, local_port, remote_port) = match h % 100 {
        0..=29 => (TCP, ephemeral, 443),
        30..=44 => (UDP, ephemeral, 443),
        45..=54 => (TCP, ephemeral, 80),
        55..=69 => (UDP, ephemeral, 53),
        70..=72 => (TCP, ephemeral, 22),
        73..=74 => (TCP, 22, ephemeral),
        75..=79 => (TCP, 6881, high),
        80..=84 => (UDP, 6881, high),
        85..=89 => (UDP, 123, 123),
        _ => (if h & (1 << 40) == 0 { UDP } else { TCP }, ephemeral, high),
    };
    let local_is_src = (h >> 7) & 1 == 0;
    let k = ((h >> 32) % u64::from(LOCAL_HOSTS)) as u8;
    let local = [192, 168, k % 4, k / 4 + 1];
    let remote = (REMOTE_BASE + ((h >> 44) % u64::from(REMOTES)) as u32 * 61).to_be_bytes();
    let packets = 1 + ((h >> 16) % 40) as u32;
    // Downloads come back in full-size packets; requests, DNS and NTP are small.
    let size = if !local_is_src && matches!(remote_port, 443 | 80) { 1400 } else { 60 + ((h >> 12) % 200) as u32 };
    let lan = 1 + ((h >> 56) % 3) as u16;
    let (input, output) = if local_is_src { (lan, WAN) } else { (WAN, lan) };
    Flow {
        local,
        remote,
        local_port,
        remote_port,
        proto,
        tcp_flags: if proto == TCP { 0x1b } else { 0 },
        local_is_src,
        bytes: packets * size,
        packets,
        input,
        output,
    }
}

pub fn build(version: u16, i: usize, seq: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(1500);
    match version {
        5 => {
            b.extend_from_slice(&[0, 5, 0, RECORDS as u8]);
            b.extend_from_slice(&[0, 0, 0x10, 0, 0x65, 0, 0, 0, 0, 0, 0, 0]);
            b.extend_from_slice(&(seq * RECORDS as u32).to_be_bytes());
            b.extend_from_slice(&[0, 0, 0, 0]);
            for j in 0..RECORDS {
                let f = flow(i, j);
                let (s, d, sport, dport) = f.ends();
                debug_assert_eq!(b.len(), address_offset(5, j));
                b.extend_from_slice(&s);
                b.extend_from_slice(&d);
                b.extend_from_slice(&[0; 4]);
                b.extend_from_slice(&f.input.to_be_bytes());
                b.extend_from_slice(&f.output.to_be_bytes());
                b.extend_from_slice(&f.packets.to_be_bytes());
                b.extend_from_slice(&f.bytes.to_be_bytes());
                b.extend_from_slice(&[0, 0, 0x0f, 0, 0, 0, 0x0f, 0xf0]);
                b.extend_from_slice(&sport.to_be_bytes());
                b.extend_from_slice(&dport.to_be_bytes());
                b.extend_from_slice(&[0, f.tcp_flags, f.proto, 0]);
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
                let f = flow(i, j);
                let (s, d, sport, dport) = f.ends();
                debug_assert_eq!(b.len(), address_offset(version, j));
                b.extend_from_slice(&s);
                b.extend_from_slice(&d);
                b.extend_from_slice(&f.bytes.to_be_bytes());
                b.extend_from_slice(&f.packets.to_be_bytes());
                b.extend_from_slice(&f.input.to_be_bytes());
                b.extend_from_slice(&f.output.to_be_bytes());
                b.push(f.proto);
                b.extend_from_slice(&sport.to_be_bytes());
                b.extend_from_slice(&dport.to_be_bytes());
                b.push(f.tcp_flags);
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

pub fn template(version: u16) -> Vec<u8> {
    let fields = v9_template(version);
    debug_assert_eq!(fields.iter().map(|f| usize::from(f.1)).sum::<usize>(), TEMPLATE_RECORD);
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
