//! The archive's journal on the card: the steps held in RAM and the day totals that changed,
//! appended every `archive.journal_interval` and synced, so a power cut loses at most that much.
//! Replayed at start.
//!
//! Files are `journal/NNNNNNNN.fpj` segments of blocks. A block is `FPJ1`, the payload's length and
//! CRC-32 (little endian), then the payload: (archive, step, counts) entries in varints, grouped by
//! archive, then (marked by a byte 0xd1) the day totals in the same form with a local day number
//! for the step. A later entry for the same archive and step (or day) replaces an earlier one (entries carry the
//! step's value so far, not an addition), so a segment that starts with every entry still held
//! makes all older segments redundant: they are then deleted. A block cut short by a power cut
//! or damaged on the card fails its length or CRC and is skipped: the replay picks up again at
//! the next block marker, so one bad block costs only what it held.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use crate::views::{AppName, Counts, HostId, IfaceId, Subject};

const MAGIC: &[u8; 4] = b"FPJ1";
const HEADER: usize = 12;
/// A block longer than this is damage, not data (a full table of 65,536 archives is far less).
const MAX_BLOCK: usize = 256 << 20;
/// A segment longer than this is not read (a new one starts once one holds twice the full table;
/// 64 hosts make a few hundred kB).
const MAX_SEGMENT: u64 = 64 << 20;
/// A new segment (starting with the whole table) once the current one has grown by this much
/// beyond twice the last full table: rewriting the table costs about as much as it saves.
const MIN_SEGMENT: u64 = 256 << 10;

/// One (archive, step) value.
pub type Entry = (Subject, i64, Counts);

/// What a replay found.
#[derive(Default, Debug)]
pub struct Replay {
    /// In file order: apply each, later ones replacing earlier ones.
    pub entries: Vec<Entry>,
    /// Day totals (archive, local day, counts so far), in file order, later replacing earlier.
    pub days: Vec<Entry>,
    pub blocks: u64,
    pub bad_blocks: u64,
}

pub struct Journal {
    dir: PathBuf,
    seq: u64,
    file: Option<File>,
    /// Bytes in the current segment, and in the full table it began with.
    written: u64,
    base: u64,
}

impl Journal {
    /// Read every segment under `dir` (created if missing). Nothing is written yet.
    pub fn open(dir: &Path) -> io::Result<(Journal, Replay)> {
        fs::create_dir_all(dir)?;
        let mut replay = Replay::default();
        let segs = segments(dir)?;
        for (_, path) in &segs {
            // Only a regular file of a believable size: a FIFO or a link to /dev/zero put in its
            // place must not hang or swell the start. Such a segment counts as one bad block.
            match crate::file::read_regular(path, MAX_SEGMENT) {
                Ok(data) => read_blocks(&data, &mut replay),
                Err(e) if e.not_found() => {}
                Err(crate::file::ReadError::Io(e)) => return Err(e),
                Err(_) => replay.bad_blocks += 1,
            }
        }
        let seq = segs.last().map_or(0, |(n, _)| *n);
        Ok((Journal { dir: dir.to_path_buf(), seq, file: None, written: u64::MAX, base: 0 }, replay))
    }

    /// Append steps and day totals as one block and sync it. Returns the bytes written.
    pub fn append(&mut self, entries: &[Entry], days: &[Entry]) -> io::Result<u64> {
        if entries.is_empty() && days.is_empty() {
            return Ok(0);
        }
        let block = encode(entries, days);
        let file = match &mut self.file {
            Some(f) => f,
            None => {
                // Appending to the last segment of an earlier run: fine, blocks are self-contained.
                let path = self.dir.join(seg_name(self.seq.max(1)));
                self.seq = self.seq.max(1);
                let f = OpenOptions::new().create(true).append(true).open(&path)?;
                self.written = f.metadata()?.len();
                sync_dir(&self.dir)?;
                self.file.insert(f)
            }
        };
        file.write_all(&block)?;
        file.sync_data()?;
        self.written += block.len() as u64;
        Ok(block.len() as u64)
    }

    /// True when the current segment has grown enough that starting a new one is worth it.
    pub fn wants_new_segment(&self) -> bool {
        self.written > MIN_SEGMENT.max(2 * self.base)
    }

    /// Start a new segment holding `all` (every entry still held) and every day total, then
    /// delete the older ones.
    pub fn new_segment(&mut self, all: &[Entry], days: &[Entry]) -> io::Result<u64> {
        let seq = self.seq + 1;
        let path = self.dir.join(seg_name(seq));
        let block = encode(all, days);
        let mut f = OpenOptions::new().create(true).write(true).truncate(true).open(&path)?;
        f.write_all(&block)?;
        f.sync_data()?;
        sync_dir(&self.dir)?;
        // Only now are the older segments redundant.
        for (n, p) in segments(&self.dir)? {
            if n < seq {
                fs::remove_file(p)?;
            }
        }
        sync_dir(&self.dir)?;
        self.seq = seq;
        self.file = Some(OpenOptions::new().append(true).open(&path)?);
        self.written = block.len() as u64;
        self.base = block.len() as u64;
        Ok(block.len() as u64)
    }
}

fn seg_name(seq: u64) -> String {
    format!("{seq:08}.fpj")
}

fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(n) = name.to_str().and_then(|s| s.strip_suffix(".fpj")).and_then(|s| s.parse::<u64>().ok()) else {
            continue;
        };
        out.push((n, e.path()));
    }
    out.sort();
    Ok(out)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn read_blocks(mut data: &[u8], replay: &mut Replay) {
    while !data.is_empty() {
        match read_block(data, replay) {
            Some(len) => {
                replay.blocks += 1;
                data = &data[len..];
            }
            None => {
                replay.bad_blocks += 1;
                // Resynchronise on the next marker: a false one inside a payload fails its CRC
                // and is skipped the same way.
                match data[1..].windows(MAGIC.len()).position(|w| w == MAGIC) {
                    Some(i) => data = &data[1 + i..],
                    None => return,
                }
            }
        }
    }
}

/// Decode the block at the start of `data` into `replay`; its length, or `None` (and nothing
/// taken) when it is torn, damaged or not ours.
fn read_block(data: &[u8], replay: &mut Replay) -> Option<usize> {
    if data.len() < HEADER || &data[..4] != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(data[4..8].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(data[8..12].try_into().unwrap());
    if len > MAX_BLOCK || data.len() < HEADER + len {
        return None;
    }
    let payload = &data[HEADER..HEADER + len];
    if crc32(payload) != crc {
        return None;
    }
    let before = (replay.entries.len(), replay.days.len());
    if decode(payload, &mut replay.entries, &mut replay.days).is_none() {
        // Passed its CRC yet does not parse: written by something else. Take none of it.
        replay.entries.truncate(before.0);
        replay.days.truncate(before.1);
        return None;
    }
    Some(HEADER + len)
}

/// Marks the day totals' groups after the steps' in a block (blocks of older versions end
/// after the steps).
const DAYS: u8 = 0xd1;

/// A block: step entries grouped by archive (they usually come sorted that way already), then,
/// if any, the day totals in the same form (the "step" being a local day number).
pub fn encode(entries: &[Entry], days: &[Entry]) -> Vec<u8> {
    let mut p = Vec::with_capacity((entries.len() + days.len()) * 12 + 16);
    put_groups(&mut p, entries);
    if !days.is_empty() {
        p.push(DAYS);
        put_groups(&mut p, days);
    }
    let mut out = Vec::with_capacity(HEADER + p.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(p.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32(&p).to_le_bytes());
    out.extend_from_slice(&p);
    out
}

fn put_groups(p: &mut Vec<u8>, entries: &[Entry]) {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by_key(|e| (e.0, e.1));
    let mut i = 0;
    let groups = sorted.chunk_by(|a, b| a.0 == b.0).count();
    varint(p, groups as u64);
    while i < sorted.len() {
        let subject = sorted[i].0;
        let n = sorted[i..].iter().take_while(|e| e.0 == subject).count();
        put_subject(p, &subject);
        varint(p, n as u64);
        let mut prev = 0i64;
        for e in &sorted[i..i + n] {
            varint(p, zigzag(e.1.wrapping_sub(prev)));
            prev = e.1;
            let c = &e.2;
            for v in [c.in_bytes, c.out_bytes, c.in_packets, c.out_packets] {
                varint(p, v);
            }
        }
        i += n;
    }
}

fn decode(p: &[u8], out: &mut Vec<Entry>, days: &mut Vec<Entry>) -> Option<()> {
    let mut r = Reader { p, at: 0 };
    read_groups(&mut r, out)?;
    if r.p.get(r.at) == Some(&DAYS) {
        r.at += 1;
        read_groups(&mut r, days)?;
    }
    (r.at == p.len()).then_some(())
}

fn read_groups(r: &mut Reader, out: &mut Vec<Entry>) -> Option<()> {
    let groups = r.varint()?;
    for _ in 0..groups {
        let subject = r.subject()?;
        let n = r.varint()?;
        let mut step = 0i64;
        for _ in 0..n {
            step = step.wrapping_add(unzigzag(r.varint()?));
            let c = Counts {
                in_bytes: r.varint()?,
                out_bytes: r.varint()?,
                in_packets: r.varint()?,
                out_packets: r.varint()?,
            };
            out.push((subject, step, c));
        }
    }
    Some(())
}

fn put_subject(p: &mut Vec<u8>, s: &Subject) {
    fn addr(p: &mut Vec<u8>, tag4: u8, ip: &IpAddr) {
        match ip {
            IpAddr::V4(a) => {
                p.push(tag4);
                p.extend_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                p.push(tag4 + 1);
                p.extend_from_slice(&a.octets());
            }
        }
    }
    match s {
        Subject::Host(HostId::Ip(ip)) => addr(p, 0, ip),
        Subject::Host(HostId::Other) => p.push(2),
        Subject::Interface(IfaceId::If { exporter, ifindex }) => {
            addr(p, 3, exporter);
            varint(p, u64::from(*ifindex));
        }
        Subject::Interface(IfaceId::Other) => p.push(5),
        Subject::Application(a) => {
            p.push(6);
            p.push(a.as_bytes().len() as u8);
            p.extend_from_slice(a.as_bytes());
        }
    }
}

struct Reader<'a> {
    p: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        let b = self.p.get(self.at..self.at + N)?.try_into().ok()?;
        self.at += N;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.p.get(self.at)?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn addr(&mut self, v6: bool) -> Option<IpAddr> {
        Some(if v6 {
            IpAddr::V6(Ipv6Addr::from(self.bytes::<16>()?))
        } else {
            IpAddr::V4(Ipv4Addr::from(self.bytes::<4>()?))
        })
    }

    fn subject(&mut self) -> Option<Subject> {
        let tag = *self.p.get(self.at)?;
        self.at += 1;
        Some(match tag {
            0 | 1 => Subject::Host(HostId::Ip(self.addr(tag == 1)?)),
            2 => Subject::Host(HostId::Other),
            3 | 4 => {
                let exporter = self.addr(tag == 4)?;
                let ifindex = u32::try_from(self.varint()?).ok()?;
                Subject::Interface(IfaceId::If { exporter, ifindex })
            }
            5 => Subject::Interface(IfaceId::Other),
            6 => {
                let len = *self.p.get(self.at)? as usize;
                let name = self.p.get(self.at + 1..self.at + 1 + len)?;
                self.at += 1 + len;
                Subject::Application(AppName::new(std::str::from_utf8(name).ok()?)?)
            }
            _ => return None,
        })
    }
}

fn varint(p: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        p.push(v as u8 | 0x80);
        v >>= 7;
    }
    p.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

/// CRC-32 (IEEE, as zlib), eight bytes per step ("slicing-by-8"): the history checks every slot
/// a query reads (a month is some 15 MB), which bit by bit would take most of a second on a Pi.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    // Table k: the CRC of a byte followed by k zero bytes. A `static`, not a `const`, so that it
    // is not copied at each use.
    static T: [[u32; 256]; 8] = {
        let mut t = [[0u32; 256]; 8];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { (c >> 1) ^ 0xedb8_8320 } else { c >> 1 };
                k += 1;
            }
            t[0][i] = c;
            i += 1;
        }
        let mut k = 1;
        while k < 8 {
            let mut i = 0;
            while i < 256 {
                let p = t[k - 1][i];
                t[k][i] = (p >> 8) ^ t[0][(p & 0xff) as usize];
                i += 1;
            }
            k += 1;
        }
        t
    };
    let mut c = !0u32;
    let mut chunks = data.chunks_exact(8);
    for b in &mut chunks {
        let x = c ^ u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        c = T[7][(x & 0xff) as usize]
            ^ T[6][((x >> 8) & 0xff) as usize]
            ^ T[5][((x >> 16) & 0xff) as usize]
            ^ T[4][(x >> 24) as usize]
            ^ T[3][b[4] as usize]
            ^ T[2][b[5] as usize]
            ^ T[1][b[6] as usize]
            ^ T[0][b[7] as usize];
    }
    for &b in chunks.remainder() {
        c = T[0][((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<Entry> {
        let h = Subject::Host(HostId::Ip("192.168.1.10".parse().unwrap()));
        let h6 = Subject::Host(HostId::Ip("fd00::1".parse().unwrap()));
        let i = Subject::Interface(IfaceId::If { exporter: "10.0.0.1".parse().unwrap(), ifindex: 70_000 });
        let c = |n: u64| Counts { in_bytes: n, out_bytes: n * 3, in_packets: 1, out_packets: u64::MAX };
        vec![
            (h, 29_000_000, c(1500)),
            (i, 29_000_001, c(7)),
            (h, 28_999_990, c(0)),
            (h6, -5, c(1)),
            (Subject::Host(HostId::Other), 1, c(2)),
            (Subject::Application(AppName::new("p2p").unwrap()), 3, c(9)),
            (Subject::Interface(IfaceId::Other), 2, c(3)),
        ]
    }

    #[test]
    fn blocks_round_trip() {
        let e = entries();
        let mut r = Replay::default();
        read_blocks(&encode(&e, &[]), &mut r);
        let mut want = e.clone();
        want.sort_by_key(|e| (e.0, e.1));
        assert_eq!(r.entries, want);
        assert_eq!((r.blocks, r.bad_blocks), (1, 0));
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn a_damaged_block_costs_only_itself() {
        let e = entries();
        let blocks = [encode(&e[..2], &[]), encode(&e[2..4], &e[..1]), encode(&e[4..], &[])];
        let whole = blocks.concat();
        // Any one byte of the middle block flipped (header or payload): the first and last
        // blocks are still read.
        for at in blocks[0].len()..blocks[0].len() + blocks[1].len() {
            let mut bad = whole.clone();
            bad[at] ^= 0x10;
            let mut r = Replay::default();
            read_blocks(&bad, &mut r);
            assert_eq!((r.blocks, r.bad_blocks), (2, 1), "byte {at}");
            let mut want = [&e[..2], &e[4..]].concat();
            want.sort_by_key(|e| (e.0, e.1));
            let mut got = r.entries.clone();
            got.sort_by_key(|e| (e.0, e.1));
            assert_eq!(got, want, "byte {at}");
            assert!(r.days.is_empty(), "byte {at}");
        }
        // A block torn by a power cut, then blocks appended by the next run.
        let torn = [&blocks[0][..], &blocks[1][..blocks[1].len() / 2], &blocks[2][..]].concat();
        let mut r = Replay::default();
        read_blocks(&torn, &mut r);
        assert_eq!((r.blocks, r.bad_blocks, r.entries.len()), (2, 1, 5));
    }

    #[test]
    fn a_torn_or_damaged_block_ends_the_segment_and_keeps_what_came_before() {
        let e = entries();
        let one = encode(&e[..2], &[]);
        let two = encode(&e[2..], &[]);
        let whole = [one.clone(), two.clone()].concat();
        for cut in 1..two.len() {
            let mut r = Replay::default();
            read_blocks(&whole[..one.len() + cut], &mut r);
            assert_eq!((r.entries.len(), r.bad_blocks), (2, 1), "cut at {cut}");
        }
        let mut flipped = whole.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let mut r = Replay::default();
        read_blocks(&flipped, &mut r);
        assert_eq!((r.entries.len(), r.bad_blocks), (2, 1));
    }

    #[test]
    fn segments_append_replace_and_replay_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let e = entries();
        let (mut j, r) = Journal::open(dir.path()).unwrap();
        assert!(r.entries.is_empty());
        j.append(&e[..3], &[]).unwrap();
        j.append(&e[3..], &e[..2]).unwrap();
        let (_, r) = Journal::open(dir.path()).unwrap();
        let sorted = |mut v: Vec<Entry>| {
            v.sort_by_key(|(s, step, _)| (*s, *step));
            v
        };
        assert_eq!(sorted(r.entries), sorted(e.clone()));
        assert_eq!(sorted(r.days), sorted(e[..2].to_vec()));
        // A new segment with the table as it stands makes the older one redundant.
        let (mut j, _) = Journal::open(dir.path()).unwrap();
        j.new_segment(&e[..1], &e[2..3]).unwrap();
        j.append(&e[1..2], &[]).unwrap();
        assert_eq!(segments(dir.path()).unwrap().len(), 1);
        let (_, r) = Journal::open(dir.path()).unwrap();
        assert_eq!(r.entries, vec![e[0], e[1]]);
        assert_eq!(r.days, vec![e[2]]);
        // Day totals alone make a block too.
        let (mut j, _) = Journal::open(dir.path()).unwrap();
        assert!(j.append(&[], &e[3..4]).unwrap() > 0);
        let (_, r) = Journal::open(dir.path()).unwrap();
        assert_eq!(r.days, vec![e[2], e[3]]);
    }
}
