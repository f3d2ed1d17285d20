//! The benchmark traffic: NetFlow v5, v9 and IPFIX datagrams of 30 records each, from 200 local
//! hosts talking to many remote ones across 4 interfaces. Shared by the sender (`blast.rs`) and the
//! in-process bench (`benches/decode.rs`) so both measure the same bytes.

pub const RECORDS: usize = 30;

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

pub fn build(version: u16, i: usize, seq: u32) -> Vec<u8> {
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

pub fn template(version: u16) -> Vec<u8> {
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
