//! The top-k history on the card: per slot window (an hour, say) the busiest conversations
//! and ports, in one fixed-size ring file, so "who talked most between Monday noon and today" has
//! an answer long after the in-memory heavy-hitter tables have moved on or the daemon restarted.
//!
//! # From snapshots to slots
//! The heavy-hitter tables publish totals since each row entered the table. [`Baseline`] turns
//! two such snapshots into what happened in between: a row still there with the same `error` was
//! in the table throughout, so its difference is exact; any other row (new, or back after an
//! eviction) counts what it shows, with its `error`. [`History::record`] adds those deltas into
//! the slot of their window and keeps the busiest rows that fit its budget.
//!
//! # File
//! `FPH1` header block (4096 bytes): magic, version, slots, conversation rows, port rows, slot
//! seconds (u32 LE each), CRC-32 of those. Then `slots` slots, each a whole number of 4096-byte
//! blocks so that a write torn by a power cut can only damage its own slot. Slot `i` holds the
//! window starting at `start` with `(start / slot_seconds) % slots == i`. A slot is:
//!
//! ```text
//! 0  "FPS1"              4  CRC-32 of bytes 8..end of rows
//! 8  start (i64, unix s) 16 conversation rows (u32)   20 port rows (u32)
//! 24 conversation cut    32 port cut (u64 each: the most a key absent from the slot can have had)
//! 40 conversation rows, 57 bytes: flags (bit 0: host is IPv4, bit 1: peer is IPv4),
//!    host and peer (16 bytes each, IPv4 mapped), rx, tx, error (u64 LE)
//!    then port rows, 50 bytes: protocol, port (u16 LE), application (23 bytes, 0-padded),
//!    rx, tx, error (u64 LE)
//! ```
//!
//! The file is made with `set_len`, so slots never written are holes that read as zeros (an
//! empty slot, not a bad one) and creating a month's ring writes nothing to the card. Only the
//! bytes a slot uses are written, once, then `sync_data`.
//!
//! # Errors in a window
//! A slot keeps at most its budget of rows. When a record (or a merge with what the slot already
//! held) leaves rows out, the slot's cut becomes the largest upper bound (`rx + tx + error`) of a
//! row left out: no key absent from the slot had more there. A window's row then has as error its
//! per-slot errors plus the cut of every slot read that lacks it. (What a table counted for a key
//! it then evicted before the next snapshot reaches no slot; the error the key comes back with,
//! if it does, covers it.)

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::hash::Hash;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use log::{info, warn};

use crate::journal::crc32;
use crate::views::{AppName, PortRow, Talk};

const FILE_MAGIC: &[u8; 4] = b"FPH1";
/// 2: slots also hold each host's bytes per application.
const VERSION: u32 = 2;
const SLOT_MAGIC: &[u8; 4] = b"FPS1";
/// The card's page size, and ext4's block: the header and every slot start on one.
const BLOCK: u64 = 4096;
const SLOT_HEADER: usize = 56;
const CONV_ROW: usize = 1 + 16 + 16 + 24;
const PORT_ROW: usize = 1 + 2 + AppName::MAX + 24;
const APP_ROW: usize = 1 + 16 + AppName::MAX + 24;
/// The file header: magic, six u32 fields, CRC-32.
const HEADER: usize = 32;
/// Far above any sensible config, low enough that a slot's length fits in memory and `u32`.
const MAX_ROWS: u32 = 1 << 16;
const MAX_SLOTS: u32 = 1 << 20;

/// The ring's shape. A file made with another shape is set aside, not reinterpreted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub slots: u32,
    pub conv_rows: u32,
    pub port_rows: u32,
    pub slot_seconds: u32,
    /// (host, application) rows: what each local host did per application.
    pub app_rows: u32,
}

impl Geometry {
    fn check(&self) -> io::Result<()> {
        let bad = |what: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, format!("history: {what}")));
        if self.slots == 0 || self.slots > MAX_SLOTS {
            return bad(&format!("slots must be 1 to {MAX_SLOTS}, not {}", self.slots));
        }
        if self.conv_rows > MAX_ROWS || self.port_rows > MAX_ROWS || self.app_rows > MAX_ROWS {
            return bad(&format!("rows per slot must be at most {MAX_ROWS}"));
        }
        if self.slot_seconds == 0 {
            return bad("slot seconds must be at least 1");
        }
        Ok(())
    }

    /// Bytes per slot: header and full rows, rounded up to whole blocks.
    pub fn slot_len(&self) -> u64 {
        let used = SLOT_HEADER as u64
            + u64::from(self.conv_rows) * CONV_ROW as u64
            + u64::from(self.port_rows) * PORT_ROW as u64
            + u64::from(self.app_rows) * APP_ROW as u64;
        used.div_ceil(BLOCK) * BLOCK
    }

    /// The file's length (most of it holes until written).
    pub fn file_len(&self) -> u64 {
        BLOCK + u64::from(self.slots) * self.slot_len()
    }

    fn header(&self) -> [u8; HEADER] {
        let mut h = [0u8; HEADER];
        h[..4].copy_from_slice(FILE_MAGIC);
        let fields = [VERSION, self.slots, self.conv_rows, self.port_rows, self.slot_seconds, self.app_rows];
        for (i, v) in fields.into_iter().enumerate() {
            h[4 + 4 * i..8 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        let crc = crc32(&h[..HEADER - 4]);
        h[HEADER - 4..].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// Start of the window holding `t`; i128 so that no `t` overflows.
    fn align(&self, t: i128) -> i128 {
        let s = i128::from(self.slot_seconds);
        t.div_euclid(s) * s
    }

    fn index(&self, aligned: i128) -> u32 {
        (aligned.div_euclid(i128::from(self.slot_seconds))).rem_euclid(i128::from(self.slots)) as u32
    }
}

/// What the two kinds of row have in common: a key and three counts.
trait Row: Copy {
    type Key: Copy + Eq + Hash + Ord;
    fn key(&self) -> Self::Key;
    fn counts(&self) -> (u64, u64, u64);
    fn with_counts(self, rx: u64, tx: u64, error: u64) -> Self;

    fn observed(&self) -> u64 {
        let (rx, tx, _) = self.counts();
        rx.saturating_add(tx)
    }

    fn upper(&self) -> u64 {
        self.observed().saturating_add(self.counts().2)
    }
}

/// The rows' counts are all `rx`, `tx`, `error`; only the key differs.
macro_rules! row {
    ($t:ident, $key:ty, $($k:ident),+) => {
        impl Row for $t {
            type Key = $key;
            fn key(&self) -> Self::Key {
                ($(self.$k),+)
            }
            fn counts(&self) -> (u64, u64, u64) {
                (self.rx, self.tx, self.error)
            }
            fn with_counts(self, rx: u64, tx: u64, error: u64) -> Self {
                $t { rx, tx, error, ..self }
            }
        }
    };
}

row!(Talk, (IpAddr, IpAddr), host, peer);
row!(PortRow, (u8, u16), protocol, port);
row!(HostApp, (IpAddr, AppName), host, app);

/// A local host's bytes on one application (`error` is always 0: these counters are exact).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostApp {
    pub host: IpAddr,
    pub app: AppName,
    pub rx: u64,
    pub tx: u64,
    pub error: u64,
}

impl Window {
    /// Add rows not in the file (the slot still being filled, from RAM): summed by key, then
    /// busiest first again.
    pub fn add_live(&mut self, talks: &[Talk], ports: &[PortRow], apps: &[HostApp]) {
        add_rows(&mut self.talks, talks);
        add_rows(&mut self.ports, ports);
        add_rows(&mut self.apps, apps);
    }
}

fn add_rows<R: Row>(into: &mut Vec<R>, rows: &[R]) {
    let mut at: HashMap<R::Key, usize> = into.iter().enumerate().map(|(i, r)| (r.key(), i)).collect();
    for r in rows {
        match at.get(&r.key()) {
            Some(&i) => {
                let (a, b, c) = into[i].counts();
                let (x, y, z) = r.counts();
                into[i] = into[i].with_counts(a.saturating_add(x), b.saturating_add(y), c.saturating_add(z));
            }
            None => {
                at.insert(r.key(), into.len());
                into.push(*r);
            }
        }
    }
    sort_busiest(into);
}

/// Busiest first by what was seen (as the tables rank), equal totals in key order so that what a
/// budget keeps does not depend on hash order.
fn sort_busiest<R: Row>(rows: &mut [R]) {
    rows.sort_unstable_by(|a, b| b.observed().cmp(&a.observed()).then_with(|| a.key().cmp(&b.key())));
}

/// The last snapshot's rows, to turn the next one into deltas. Holds exactly one snapshot's rows.
#[derive(Default, Clone)]
pub struct Baseline {
    talks: HashMap<(IpAddr, IpAddr), (u64, u64, u64)>,
    ports: HashMap<(u8, u16), (u64, u64, u64)>,
    apps: HashMap<(IpAddr, AppName), (u64, u64, u64)>,
}

impl Baseline {
    pub fn new() -> Baseline {
        Baseline::default()
    }

    /// What the conversations did since the previous call; `now` becomes the baseline.
    pub fn delta_talks(&mut self, now: &[Talk]) -> Vec<Talk> {
        delta(&mut self.talks, now)
    }

    /// What the ports did since the previous call; `now` becomes the baseline.
    pub fn delta_ports(&mut self, now: &[PortRow]) -> Vec<PortRow> {
        delta(&mut self.ports, now)
    }

    /// What each host did per application since the previous call (a host row given to another
    /// host starts again from 0, which reads as new).
    pub fn delta_apps(&mut self, now: &[HostApp]) -> Vec<HostApp> {
        delta(&mut self.apps, now)
    }
}

fn delta<R: Row>(prev: &mut HashMap<R::Key, (u64, u64, u64)>, now: &[R]) -> Vec<R> {
    let mut next = HashMap::with_capacity(now.len());
    let mut out = Vec::new();
    for r in now {
        let (rx, tx, error) = r.counts();
        // A table lists a key once; a second listing would count its traffic twice.
        if next.insert(r.key(), (rx, tx, error)).is_some() {
            continue;
        }
        let d = match prev.get(&r.key()) {
            // Same error: it never left the table (re-entry always comes with a larger error,
            // since the eviction that dropped it raised the table's bound), so the rise is exact.
            Some(&(prx, ptx, pe)) if pe == error && rx >= prx && tx >= ptx => (rx - prx, tx - ptx, 0),
            _ => (rx, tx, error),
        };
        if d.0 != 0 || d.1 != 0 {
            out.push(r.with_counts(d.0, d.1, d.2));
        }
    }
    *prev = next;
    out
}

/// The rows of one or more slots, summed by key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// Busiest first. `error` includes the cut of every slot read that lacks the key.
    pub talks: Vec<Talk>,
    pub ports: Vec<PortRow>,
    pub apps: Vec<HostApp>,
    /// Slot-aligned extent of the slots found holding data in the range (`from == to`: none).
    pub from: i64,
    pub to: i64,
    /// Slots found holding data for the range (a slot recorded with no traffic counts).
    pub slots_read: usize,
    /// Part of the range is older than the oldest window the ring is sure to hold.
    pub reaches_past_kept: bool,
    /// Slots that failed their check (torn by a power cut) and were read as empty.
    pub bad_slots: u64,
    /// `from..to` is what was asked, not widened to whole slots (nor short of it).
    pub exact_bounds: bool,
    /// Seconds per slot read: the step's (recent steps in RAM) or the ring's (an hour).
    pub resolution: u64,
}

/// The top-k deltas of each recent step, in RAM: windows shorter than the ring's slots (an hour)
/// are answered at the step's resolution rather than the hour's. Bounded by time
/// (`history.recent`) and by rows held (`history.recent_rows`): under churn the oldest steps go
/// first, and what they covered then falls back on the hourly slots.
pub struct Recent {
    span: i64,
    max_rows: usize,
    /// Per list, the rows a step keeps at most (the ring's budget per slot).
    budget: usize,
    steps: std::collections::VecDeque<Step>,
    rows: usize,
    baseline: Baseline,
    /// Steps dropped for the row bound before their time was up.
    pub dropped: u64,
}

/// One step's deltas, `[start, end)`, with the cut of each list (conversations, ports, apps).
struct Step {
    start: i64,
    end: i64,
    talks: Vec<Talk>,
    ports: Vec<PortRow>,
    apps: Vec<HostApp>,
    cuts: [u64; 3],
}

impl Recent {
    pub fn new(span: i64, max_rows: usize, budget: usize) -> Recent {
        Recent {
            span,
            max_rows,
            budget,
            steps: std::collections::VecDeque::new(),
            rows: 0,
            baseline: Baseline::new(),
            dropped: 0,
        }
    }

    /// The tables as handed over at the end of the step `[start, end)`: what changed since the
    /// last hand-over becomes that step's rows.
    pub fn push(&mut self, start: i64, end: i64, talks: &[Talk], ports: &[PortRow], apps: &[HostApp]) {
        let (talks, ports, apps) =
            (self.baseline.delta_talks(talks), self.baseline.delta_ports(ports), self.baseline.delta_apps(apps));
        if self.span == 0 || self.max_rows == 0 {
            return;
        }
        // A gap (a restart, a clock jump) or a step out of order: what came before says nothing
        // of the steps in between, so the run starts again.
        if start >= end || self.steps.back().is_some_and(|b| b.end != start) {
            self.steps.clear();
            self.rows = 0;
            if start >= end {
                return;
            }
        }
        let (talks, conv_cut, _) = merge(&[], 0, &talks, self.budget);
        let (ports, port_cut, _) = merge(&[], 0, &ports, self.budget);
        let (apps, app_cut, _) = merge(&[], 0, &apps, self.budget);
        self.rows += talks.len() + ports.len() + apps.len();
        self.steps.push_back(Step { start, end, talks, ports, apps, cuts: [conv_cut, port_cut, app_cut] });
        while self.steps.front().is_some_and(|f| f.start < end - self.span)
            || (self.rows > self.max_rows && self.steps.len() > 1)
        {
            let f = self.steps.pop_front().expect("not empty");
            if f.start >= end - self.span {
                self.dropped += 1;
            }
            self.rows -= f.talks.len() + f.ports.len() + f.apps.len();
        }
    }

    /// Rows held, and steps.
    pub fn size(&self) -> (usize, usize) {
        (self.rows, self.steps.len())
    }

    /// `[from, to)` from the steps held, when they reach back to `from`: the sums of the steps
    /// overlapping it, bounded by those steps (a window inside one step is widened to it, and
    /// says so: `exact_bounds` false). `None` when the window begins before the oldest step.
    pub fn query(&self, from: i64, to: i64) -> Option<Window> {
        let first = self.steps.front()?;
        if from < first.start || to <= from {
            return None;
        }
        let (mut talks, mut ports, mut apps) = (Acc::default(), Acc::default(), Acc::default());
        let mut w = Window { resolution: (first.end - first.start) as u64, ..Window::default() };
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for st in self.steps.iter().filter(|st| st.end > from && st.start < to) {
            lo = lo.min(st.start);
            hi = hi.max(st.end);
            w.slots_read += 1;
            talks.add(&st.talks, st.cuts[0], st.start);
            ports.add(&st.ports, st.cuts[1], st.start);
            apps.add(&st.apps, st.cuts[2], st.start);
        }
        let last = self.steps.back().expect("not empty").end;
        if w.slots_read == 0 {
            // After the last hand-over: nothing is known yet (the step is still being counted).
            (lo, hi) = (last.min(from), last.min(from));
        }
        w.from = lo;
        w.to = hi;
        // Exact when the steps read are the window: it begins on a step boundary and ends on one
        // or past the last hand-over (the rest is still being counted, and no step holds it).
        w.exact_bounds = lo == from && (hi == to || (to > last && hi == last)) && w.slots_read > 0;
        w.talks = talks.rows();
        w.ports = ports.rows();
        w.apps = apps.rows();
        Some(w)
    }
}

struct Slot {
    start: i64,
    conv_cut: u64,
    port_cut: u64,
    app_cut: u64,
    talks: Vec<Talk>,
    ports: Vec<PortRow>,
    apps: Vec<HostApp>,
}

enum Read {
    Empty,
    Bad,
    Slot(Slot),
}

/// The ring file. Owned by one thread (the archive's); every call is synchronous I/O.
pub struct History {
    file: File,
    geo: Geometry,
    slot_len: u64,
    /// Bytes written to slots since open, and slots written.
    pub bytes_written: u64,
    pub slots_written: u64,
    /// Slots that failed their check, seen by `record` (a query reports its own in the window).
    pub bad_slots_seen: u64,
    /// Rows left out of a slot because it was over its budget.
    pub rows_cut: u64,
    /// The file found at open was set aside (other geometry, or unreadable) and a new one made.
    pub started_anew: bool,
}

impl History {
    /// Open the ring at `path`, making it (and its directory) if missing. A file of another
    /// geometry or with an unreadable header is renamed to `<path>.old` and a new one made.
    pub fn open(path: &Path, geo: Geometry) -> io::Result<History> {
        geo.check()?;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut started_anew = false;
        match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => match read_header(&file)? {
                Some(found) if found == geo => {
                    // A ring cut short (made by hand, or a full disk at creation) grows back.
                    if file.metadata()?.len() != geo.file_len() {
                        file.set_len(geo.file_len())?;
                    }
                    return Ok(History::with(file, geo, false));
                }
                found => {
                    let old = aside(path);
                    match found {
                        Some(f) => warn!(
                            "history {}: made for {} slots of {} s with {} conversation and {} port rows, \
                             now {} slots of {} s with {} and {}; kept as {} and starting anew",
                            path.display(),
                            f.slots,
                            f.slot_seconds,
                            f.conv_rows,
                            f.port_rows,
                            geo.slots,
                            geo.slot_seconds,
                            geo.conv_rows,
                            geo.port_rows,
                            old.display()
                        ),
                        None => warn!(
                            "history {}: header unreadable; kept as {} and starting anew",
                            path.display(),
                            old.display()
                        ),
                    }
                    drop(file);
                    fs::rename(path, &old)?;
                    started_anew = true;
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(path)?;
        // Holes first, header last: a cut before the header lands leaves a file that is set
        // aside at the next start, never one whose header promises slots it does not have.
        file.set_len(geo.file_len())?;
        file.write_all_at(&geo.header(), 0)?;
        file.sync_all()?;
        if let Some(dir) = path.parent() {
            File::open(if dir.as_os_str().is_empty() { Path::new(".") } else { dir })?.sync_all()?;
        }
        info!(
            "history {}: new ring of {} slots of {} s ({} bytes, sparse)",
            path.display(),
            geo.slots,
            geo.slot_seconds,
            geo.file_len()
        );
        Ok(History::with(file, geo, started_anew))
    }

    fn with(file: File, geo: Geometry, started_anew: bool) -> History {
        History {
            file,
            geo,
            slot_len: geo.slot_len(),
            bytes_written: 0,
            slots_written: 0,
            bad_slots_seen: 0,
            rows_cut: 0,
            started_anew,
        }
    }

    pub fn geometry(&self) -> Geometry {
        self.geo
    }

    /// Start of the slot window holding `t`.
    pub fn slot_start(&self, t: i64) -> i64 {
        clamp(self.geo.align(i128::from(t)))
    }

    /// Add deltas into the slot of the window holding `start`: summed with what the slot holds if
    /// it holds that same window (written at a stop, then a restart within the window), replacing
    /// it otherwise. The busiest rows that fit are written in one write and synced. Returns the
    /// bytes written.
    pub fn record(&mut self, start: i64, talks: &[Talk], ports: &[PortRow], apps: &[HostApp]) -> io::Result<u64> {
        let start = self.slot_start(start);
        let idx = self.geo.index(i128::from(start));
        let mut buf = Vec::new();
        let old = match self.read_slot(idx, &mut buf)? {
            Read::Slot(s) if s.start == start => Some(s),
            Read::Bad => {
                self.bad_slots_seen += 1;
                None
            }
            _ => None,
        };
        let old = old.unwrap_or(Slot {
            start,
            conv_cut: 0,
            port_cut: 0,
            app_cut: 0,
            talks: Vec::new(),
            ports: Vec::new(),
            apps: Vec::new(),
        });
        let (talks, conv_cut, cut_t) = merge(&old.talks, old.conv_cut, talks, self.geo.conv_rows as usize);
        let (ports, port_cut, cut_p) = merge(&old.ports, old.port_cut, ports, self.geo.port_rows as usize);
        let (apps, app_cut, cut_a) = merge(&old.apps, old.app_cut, apps, self.geo.app_rows as usize);
        self.rows_cut += (cut_t + cut_p + cut_a) as u64;

        let mut b =
            Vec::with_capacity(SLOT_HEADER + talks.len() * CONV_ROW + ports.len() * PORT_ROW + apps.len() * APP_ROW);
        b.extend_from_slice(SLOT_MAGIC);
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&start.to_le_bytes());
        b.extend_from_slice(&(talks.len() as u32).to_le_bytes());
        b.extend_from_slice(&(ports.len() as u32).to_le_bytes());
        b.extend_from_slice(&conv_cut.to_le_bytes());
        b.extend_from_slice(&port_cut.to_le_bytes());
        b.extend_from_slice(&(apps.len() as u32).to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&app_cut.to_le_bytes());
        for t in &talks {
            b.push(u8::from(t.host.is_ipv4()) | u8::from(t.peer.is_ipv4()) << 1);
            b.extend_from_slice(&v6(t.host).octets());
            b.extend_from_slice(&v6(t.peer).octets());
            for v in [t.rx, t.tx, t.error] {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        for p in &ports {
            b.push(p.protocol);
            b.extend_from_slice(&p.port.to_le_bytes());
            b.extend_from_slice(&name_bytes(&p.app));
            for v in [p.rx, p.tx, p.error] {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        for a in &apps {
            b.push(u8::from(a.host.is_ipv4()));
            b.extend_from_slice(&v6(a.host).octets());
            b.extend_from_slice(&name_bytes(&a.app));
            for v in [a.rx, a.tx, a.error] {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        let crc = crc32(&b[8..]);
        b[4..8].copy_from_slice(&crc.to_le_bytes());
        self.file.write_all_at(&b, self.offset(idx))?;
        self.file.sync_data()?;
        self.bytes_written += b.len() as u64;
        self.slots_written += 1;
        Ok(b.len() as u64)
    }

    /// Rows of every slot whose window overlaps `[from, to)`, summed by key; "kept" judged
    /// against the system clock.
    pub fn query(&self, from: i64, to: i64) -> io::Result<Window> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        self.query_at(now, from, to)
    }

    /// As [`History::query`], with `now` the current time.
    pub fn query_at(&self, now: i64, from: i64, to: i64) -> io::Result<Window> {
        let geo = self.geo;
        let ss = i128::from(geo.slot_seconds);
        let first = geo.align(i128::from(from));
        let mut w = Window {
            from: clamp(first),
            to: clamp(first),
            resolution: u64::from(geo.slot_seconds),
            ..Window::default()
        };
        if to <= from {
            return Ok(w);
        }
        // The window now being filled may not be written yet, so its slot can still hold the
        // window a full ring ago; the one before it is the oldest sure to be kept.
        let kept = geo.align(i128::from(now)) - (i128::from(geo.slots) - 1) * ss;
        w.reaches_past_kept = i128::from(from) < kept;

        let mut talks = Acc::default();
        let mut ports = Acc::default();
        let mut apps = Acc::default();
        let (mut lo, mut hi) = (i128::MAX, i128::MIN);
        let mut buf = Vec::new();
        let mut take = |slot: Slot, w: &mut Window| {
            let s = i128::from(slot.start);
            if s >= i128::from(to) || s + ss <= i128::from(from) {
                return;
            }
            lo = lo.min(s);
            hi = hi.max(s + ss);
            w.slots_read += 1;
            talks.add(&slot.talks, slot.conv_cut, slot.start);
            ports.add(&slot.ports, slot.port_cut, slot.start);
            apps.add(&slot.apps, slot.app_cut, slot.start);
        };
        let wanted = (i128::from(to) - first + ss - 1) / ss;
        if wanted <= i128::from(geo.slots) {
            // Only the slots the range maps to, each still holding that window or not.
            let mut s = first;
            while s < i128::from(to) {
                match self.read_slot(geo.index(s), &mut buf)? {
                    Read::Slot(slot) if i128::from(slot.start) == s => take(slot, &mut w),
                    Read::Bad => w.bad_slots += 1,
                    _ => {}
                }
                s += ss;
            }
        } else {
            for i in 0..geo.slots {
                match self.read_slot(i, &mut buf)? {
                    Read::Slot(slot) => take(slot, &mut w),
                    Read::Bad => w.bad_slots += 1,
                    Read::Empty => {}
                }
            }
        }
        if w.slots_read > 0 {
            w.from = clamp(lo);
            w.to = clamp(hi);
        }
        w.talks = talks.rows();
        w.ports = ports.rows();
        w.apps = apps.rows();
        Ok(w)
    }

    fn offset(&self, idx: u32) -> u64 {
        BLOCK + u64::from(idx) * self.slot_len
    }

    /// Slot `idx`: never written (a hole), failing its check, or its rows. `buf` is scratch.
    fn read_slot(&self, idx: u32, buf: &mut Vec<u8>) -> io::Result<Read> {
        let off = self.offset(idx);
        let mut h = [0u8; SLOT_HEADER];
        match self.file.read_exact_at(&mut h, off) {
            Ok(()) => {}
            // Only if the file was cut short behind our back: that slot is damage.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Read::Bad),
            Err(e) => return Err(e),
        }
        if h[..4] == [0; 4] {
            return Ok(Read::Empty);
        }
        if &h[..4] != SLOT_MAGIC {
            return Ok(Read::Bad);
        }
        let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().unwrap_or_default());
        let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().unwrap_or_default());
        let (nc, np, na) = (u32_at(16), u32_at(20), u32_at(40));
        if nc > self.geo.conv_rows || np > self.geo.port_rows || na > self.geo.app_rows {
            return Ok(Read::Bad);
        }
        let (nc, np, na) = (nc as usize, np as usize, na as usize);
        buf.clear();
        buf.resize(SLOT_HEADER + nc * CONV_ROW + np * PORT_ROW + na * APP_ROW, 0);
        buf[..SLOT_HEADER].copy_from_slice(&h);
        match self.file.read_exact_at(&mut buf[SLOT_HEADER..], off + SLOT_HEADER as u64) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Read::Bad),
            Err(e) => return Err(e),
        }
        if crc32(&buf[8..]) != u32_at(4) {
            return Ok(Read::Bad);
        }
        let mut slot = Slot {
            start: u64_at(8) as i64,
            conv_cut: u64_at(24),
            port_cut: u64_at(32),
            app_cut: u64_at(48),
            talks: Vec::with_capacity(nc),
            ports: Vec::with_capacity(np),
            apps: Vec::with_capacity(na),
        };
        let (conv, rest) = buf[SLOT_HEADER..].split_at(nc * CONV_ROW);
        let (port, app) = rest.split_at(np * PORT_ROW);
        let addr = |b: &[u8], v4: bool| {
            let a = Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap_or_default());
            match a.to_ipv4_mapped() {
                Some(a4) if v4 => IpAddr::V4(a4),
                _ => IpAddr::V6(a),
            }
        };
        for r in conv.chunks_exact(CONV_ROW) {
            let [rx, tx, error] = counts(&r[33..]);
            slot.talks.push(Talk {
                host: addr(&r[1..17], r[0] & 1 != 0),
                peer: addr(&r[17..33], r[0] & 2 != 0),
                rx,
                tx,
                error,
            });
        }
        for r in port.chunks_exact(PORT_ROW) {
            // Passed its CRC yet names no application: written by something else. Take none of it.
            let Some(app) = name_from(&r[3..3 + AppName::MAX]) else { return Ok(Read::Bad) };
            let [rx, tx, error] = counts(&r[3 + AppName::MAX..]);
            slot.ports.push(PortRow { protocol: r[0], port: u16::from_le_bytes([r[1], r[2]]), app, rx, tx, error });
        }
        for r in app.chunks_exact(APP_ROW) {
            let Some(name) = name_from(&r[17..17 + AppName::MAX]) else { return Ok(Read::Bad) };
            let [rx, tx, error] = counts(&r[17 + AppName::MAX..]);
            slot.apps.push(HostApp { host: addr(&r[1..17], r[0] & 1 != 0), app: name, rx, tx, error });
        }
        Ok(Read::Slot(slot))
    }
}

/// An application name, 0-padded to its fixed width.
fn name_bytes(app: &AppName) -> [u8; AppName::MAX] {
    let mut name = [0u8; AppName::MAX];
    name[..app.as_bytes().len()].copy_from_slice(app.as_bytes());
    name
}

fn name_from(b: &[u8]) -> Option<AppName> {
    let len = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    std::str::from_utf8(&b[..len]).ok().and_then(AppName::new)
}

/// The file's geometry, or `None` if it has no valid header.
fn read_header(file: &File) -> io::Result<Option<Geometry>> {
    let mut h = [0u8; HEADER];
    match file.read_exact_at(&mut h, 0) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let v = |i: usize| u32::from_le_bytes(h[4 + 4 * i..8 + 4 * i].try_into().unwrap_or_default());
    if &h[..4] != FILE_MAGIC || v(0) != VERSION || crc32(&h[..HEADER - 4]) != v(6) {
        return Ok(None);
    }
    Ok(Some(Geometry { slots: v(1), conv_rows: v(2), port_rows: v(3), slot_seconds: v(4), app_rows: v(5) }))
}

fn aside(path: &Path) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(".old");
    PathBuf::from(s)
}

fn v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

fn counts(b: &[u8]) -> [u64; 3] {
    let at = |i: usize| b.get(i..i + 8).and_then(|s| s.try_into().ok()).map_or(0, u64::from_le_bytes);
    [at(0), at(8), at(16)]
}

fn clamp(t: i128) -> i64 {
    t.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// A slot's rows plus new deltas, trimmed to `budget`: (rows, cut, rows left out).
///
/// A key new to the slot may have been left out of it before (up to `old_cut`), so its error
/// takes that on; then the larger of `old_cut` and what this trim leaves out bounds every key
/// absent afterwards.
fn merge<R: Row>(old: &[R], old_cut: u64, new: &[R], budget: usize) -> (Vec<R>, u64, usize) {
    let mut by_key: HashMap<R::Key, R> = HashMap::with_capacity(old.len() + new.len());
    for r in old {
        by_key.insert(r.key(), *r);
    }
    for r in new {
        if r.observed() == 0 {
            continue;
        }
        let (rx, tx, e) = r.counts();
        by_key
            .entry(r.key())
            .and_modify(|o| {
                let (orx, otx, oe) = o.counts();
                // The newest row carries the newest application name.
                *o = r.with_counts(orx.saturating_add(rx), otx.saturating_add(tx), oe.saturating_add(e));
            })
            .or_insert_with(|| r.with_counts(rx, tx, e.saturating_add(old_cut)));
    }
    let mut rows: Vec<R> = by_key.into_values().collect();
    sort_busiest(&mut rows);
    let cut_rows = rows.len().saturating_sub(budget);
    let cut = rows.iter().skip(budget).map(Row::upper).fold(old_cut, u64::max);
    rows.truncate(budget);
    (rows, cut, cut_rows)
}

/// Sums over slots, and the sum of every slot's cut. The map only points into `sums`, so that
/// its buckets stay small: a month can hold a hundred thousand keys, and the time goes in cache
/// misses.
struct Acc<R: Row> {
    index: HashMap<R::Key, u32>,
    sums: Vec<Sum<R>>,
    cuts: u64,
}

struct Sum<R> {
    /// The newest slot's row (for its application name), with the sums as its counts.
    row: R,
    newest: i64,
    /// The cuts of the slots that had the key: those cannot hide more of it.
    cuts_present: u64,
}

impl<R: Row> Default for Acc<R> {
    fn default() -> Self {
        Acc { index: HashMap::new(), sums: Vec::new(), cuts: 0 }
    }
}

impl<R: Row> Acc<R> {
    fn add(&mut self, rows: &[R], cut: u64, start: i64) {
        self.cuts = self.cuts.saturating_add(cut);
        for r in rows {
            let next = self.sums.len() as u32;
            let i = *self.index.entry(r.key()).or_insert(next) as usize;
            if i == self.sums.len() {
                self.sums.push(Sum { row: *r, newest: start, cuts_present: cut });
                continue;
            }
            let a = &mut self.sums[i];
            let (rx, tx, e) = r.counts();
            let (srx, stx, se) = a.row.counts();
            let (rx, tx, e) = (srx.saturating_add(rx), stx.saturating_add(tx), se.saturating_add(e));
            a.row = if start >= a.newest { r.with_counts(rx, tx, e) } else { a.row.with_counts(rx, tx, e) };
            a.newest = a.newest.max(start);
            a.cuts_present = a.cuts_present.saturating_add(cut);
        }
    }

    fn rows(self) -> Vec<R> {
        let cuts = self.cuts;
        drop(self.index);
        let mut v: Vec<R> = self
            .sums
            .into_iter()
            .map(|a| {
                let (rx, tx, e) = a.row.counts();
                a.row.with_counts(rx, tx, e.saturating_add(cuts.saturating_sub(a.cuts_present)))
            })
            .collect();
        sort_busiest(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;
    /// Some hour in April 2024.
    const T0: i64 = 1_712_750_400;

    fn geo(slots: u32, conv: u32, port: u32) -> Geometry {
        Geometry { slots, conv_rows: conv, port_rows: port, slot_seconds: H as u32, app_rows: 4 }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn talk(host: &str, peer: &str, rx: u64, tx: u64, error: u64) -> Talk {
        Talk { host: ip(host), peer: ip(peer), rx, tx, error }
    }

    fn port(port: u16, app: &str, rx: u64, tx: u64, error: u64) -> PortRow {
        PortRow { protocol: 6, port, app: AppName::new(app).unwrap(), rx, tx, error }
    }

    fn open(dir: &tempfile::TempDir, g: Geometry) -> History {
        History::open(&dir.path().join("history/topk.fph"), g).unwrap()
    }

    fn find<'a>(w: &'a [Talk], host: &str, peer: &str) -> Option<&'a Talk> {
        w.iter().find(|t| t.host == ip(host) && t.peer == ip(peer))
    }

    /// The CRC the slots use, against the plain bitwise definition, over every alignment.
    #[test]
    fn crc_matches_bitwise() {
        fn bitwise(data: &[u8]) -> u32 {
            let mut c = !0u32;
            for &b in data {
                c ^= u32::from(b);
                for _ in 0..8 {
                    c = if c & 1 != 0 { (c >> 1) ^ 0xedb8_8320 } else { c >> 1 };
                }
            }
            !c
        }
        let data: Vec<u8> = (0u32..300).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for len in 0..data.len() {
            assert_eq!(crc32(&data[len / 3..len]), bitwise(&data[len / 3..len]), "{len}");
        }
    }

    #[test]
    fn delta_exact_and_reentry() {
        let mut b = Baseline::new();
        let d = b.delta_talks(&[talk("10.0.0.1", "1.1.1.1", 100, 10, 0), talk("10.0.0.2", "2.2.2.2", 5, 0, 7)]);
        assert_eq!(d, vec![talk("10.0.0.1", "1.1.1.1", 100, 10, 0), talk("10.0.0.2", "2.2.2.2", 5, 0, 7)]);
        let d = b.delta_talks(&[
            // In the table throughout: exact rise.
            talk("10.0.0.1", "1.1.1.1", 150, 10, 0),
            // Unchanged: omitted.
            talk("10.0.0.2", "2.2.2.2", 5, 0, 7),
        ]);
        assert_eq!(d, vec![talk("10.0.0.1", "1.1.1.1", 50, 0, 0)]);
        // Evicted and back: a new error, counting from zero again (smaller than before).
        let d = b.delta_talks(&[talk("10.0.0.1", "1.1.1.1", 30, 2, 40)]);
        assert_eq!(d, vec![talk("10.0.0.1", "1.1.1.1", 30, 2, 40)]);
        // Back with a new error and counts that happen to be larger: still not a difference.
        let d = b.delta_talks(&[talk("10.0.0.1", "1.1.1.1", 60, 3, 41)]);
        assert_eq!(d, vec![talk("10.0.0.1", "1.1.1.1", 60, 3, 41)]);
        // The baseline is the last snapshot only: 10.0.0.2 was absent from it, so it is new.
        let d = b.delta_talks(&[talk("10.0.0.1", "1.1.1.1", 60, 3, 41), talk("10.0.0.2", "2.2.2.2", 5, 0, 7)]);
        assert_eq!(d, vec![talk("10.0.0.2", "2.2.2.2", 5, 0, 7)]);
        assert_eq!(b.talks.len(), 2);

        let d = b.delta_ports(&[port(443, "https", 10, 20, 0)]);
        assert_eq!(d, vec![port(443, "https", 10, 20, 0)]);
        let d = b.delta_ports(&[port(443, "https", 15, 20, 0), port(22, "ssh", 1, 1, 3)]);
        assert_eq!(d, vec![port(443, "https", 5, 0, 0), port(22, "ssh", 1, 1, 3)]);
        assert_eq!(b.delta_ports(&[]), vec![]);
        assert!(b.ports.is_empty());
    }

    #[test]
    fn slot_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = open(&dir, geo(24, 8, 4));
        let talks = vec![talk("192.168.1.10", "8.8.8.8", 1000, 200, 5), talk("192.168.1.11", "9.9.9.9", 10, 20, 0)];
        let ports = vec![port(443, "https", 500, 50, 0), port(53, "dns", 1, 2, 3)];
        let web = AppName::new("web").unwrap();
        let apps = vec![
            HostApp { host: ip("192.168.1.10"), app: web, rx: 900, tx: 100, error: 0 },
            HostApp { host: ip("fd00::1"), app: AppName::new("dns").unwrap(), rx: 7, tx: 3, error: 0 },
        ];
        let n = h.record(T0 + 17, &talks, &ports, &apps).unwrap();
        assert_eq!(n as usize, SLOT_HEADER + 2 * CONV_ROW + 2 * PORT_ROW + 2 * APP_ROW);
        assert_eq!((h.bytes_written, h.slots_written), (n, 1));
        drop(h);
        let h = open(&dir, geo(24, 8, 4));
        assert!(!h.started_anew);
        let w = h.query_at(T0 + H, T0, T0 + H).unwrap();
        assert_eq!(w.talks, talks);
        assert_eq!(w.ports, ports);
        assert_eq!(w.apps, apps);
        assert_eq!((w.from, w.to, w.slots_read, w.bad_slots, w.reaches_past_kept), (T0, T0 + H, 1, 0, false));
        // A second record of the same hour (after a restart) adds to each host's applications.
        let mut h = open(&dir, geo(24, 8, 4));
        h.record(T0, &[], &[], &apps[..1]).unwrap();
        let w = h.query_at(T0 + H, T0, T0 + H).unwrap();
        assert_eq!(w.apps[0], HostApp { host: ip("192.168.1.10"), app: web, rx: 1800, tx: 200, error: 0 });
        // The neighbouring hours hold nothing.
        let w = h.query_at(T0 + H, T0 + H, T0 + 3 * H).unwrap();
        assert_eq!((w.slots_read, w.talks.len(), w.from, w.to), (0, 0, T0 + H, T0 + H));
    }

    #[test]
    fn merge_same_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = open(&dir, geo(24, 8, 4));
        h.record(
            T0,
            &[talk("10.0.0.1", "1.1.1.1", 100, 10, 0), talk("10.0.0.2", "2.2.2.2", 7, 0, 0)],
            &[port(80, "http", 5, 5, 0)],
            &[],
        )
        .unwrap();
        // Stopped and started again within the hour.
        h.record(
            T0 + 1800,
            &[talk("10.0.0.1", "1.1.1.1", 50, 5, 3), talk("10.0.0.3", "3.3.3.3", 1, 1, 0)],
            &[port(80, "http", 1, 0, 2)],
            &[],
        )
        .unwrap();
        let w = h.query_at(T0 + H, T0, T0 + H).unwrap();
        assert_eq!(w.slots_read, 1);
        assert_eq!(
            w.talks,
            vec![
                talk("10.0.0.1", "1.1.1.1", 150, 15, 3),
                talk("10.0.0.2", "2.2.2.2", 7, 0, 0),
                talk("10.0.0.3", "3.3.3.3", 1, 1, 0)
            ]
        );
        assert_eq!(w.ports, vec![port(80, "http", 6, 5, 2)]);
    }

    #[test]
    fn merge_over_budget_keeps_cut_honest() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = open(&dir, geo(24, 2, 1));
        h.record(
            T0,
            &[
                talk("10.0.0.1", "1.1.1.1", 100, 0, 0),
                talk("10.0.0.2", "2.2.2.2", 50, 0, 0),
                talk("10.0.0.3", "3.3.3.3", 30, 0, 4),
            ],
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(h.rows_cut, 1);
        // 10.0.0.3 was cut (up to 34); it comes back in the merge, so its row may lack that much.
        h.record(T0, &[talk("10.0.0.3", "3.3.3.3", 60, 0, 0)], &[], &[]).unwrap();
        let w = h.query_at(T0 + H, T0, T0 + H).unwrap();
        assert_eq!(w.talks, vec![talk("10.0.0.1", "1.1.1.1", 100, 0, 0), talk("10.0.0.3", "3.3.3.3", 60, 0, 34)]);
        assert!(find(&w.talks, "10.0.0.2", "2.2.2.2").is_none());
        assert_eq!(h.rows_cut, 2);
        // 10.0.0.2 (50) was cut this time: the slot's cut rises to 50 and is the error any key
        // absent from it takes on in a window.
        h.record(T0 + H, &[talk("10.0.0.9", "9.9.9.9", 1, 0, 0)], &[], &[]).unwrap();
        let w = h.query_at(T0 + 2 * H, T0, T0 + 2 * H).unwrap();
        assert_eq!(find(&w.talks, "10.0.0.9", "9.9.9.9"), Some(&talk("10.0.0.9", "9.9.9.9", 1, 0, 50)));
        assert_eq!(find(&w.talks, "10.0.0.1", "1.1.1.1").unwrap().error, 0);
        // A merge that leaves nothing out keeps the cut: what was left out before stays unknown.
        h.record(T0, &[talk("10.0.0.1", "1.1.1.1", 1, 0, 0)], &[], &[]).unwrap();
        let w = h.query_at(T0 + 2 * H, T0, T0 + 2 * H).unwrap();
        assert_eq!(find(&w.talks, "10.0.0.9", "9.9.9.9"), Some(&talk("10.0.0.9", "9.9.9.9", 1, 0, 50)));
        assert_eq!(h.rows_cut, 2);
    }

    #[test]
    fn ring_wrap_overwrites_old_slot() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = open(&dir, geo(4, 4, 4));
        h.record(T0, &[talk("10.0.0.1", "1.1.1.1", 100, 0, 0)], &[], &[]).unwrap();
        h.record(T0 + H, &[talk("10.0.0.2", "2.2.2.2", 5, 0, 0)], &[], &[]).unwrap();
        // Four hours later: same slot as T0, a new window: replaced, not merged.
        h.record(T0 + 4 * H, &[talk("10.0.0.3", "3.3.3.3", 7, 0, 0)], &[], &[]).unwrap();
        let w = h.query_at(T0 + 5 * H, T0, T0 + H).unwrap();
        assert_eq!((w.slots_read, w.talks.len()), (0, 0));
        assert!(w.reaches_past_kept);
        let w = h.query_at(T0 + 5 * H, T0 + 4 * H, T0 + 5 * H).unwrap();
        assert_eq!(w.talks, vec![talk("10.0.0.3", "3.3.3.3", 7, 0, 0)]);
        // A range longer than the ring reads every slot once and keeps those in range.
        let w = h.query_at(T0 + 5 * H, T0 - 100 * H, T0 + 100 * H).unwrap();
        assert_eq!(w.slots_read, 2);
        assert_eq!((w.from, w.to), (T0 + H, T0 + 5 * H));
        assert_eq!(w.talks, vec![talk("10.0.0.3", "3.3.3.3", 7, 0, 0), talk("10.0.0.2", "2.2.2.2", 5, 0, 0)]);
    }

    #[test]
    fn torn_slot_reads_empty_and_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let g = geo(8, 4, 4);
        let mut h = open(&dir, g);
        for i in 0..3 {
            h.record(T0 + i * H, &[talk("10.0.0.1", "1.1.1.1", 10, 0, 0)], &[port(443, "https", 1, 0, 0)], &[])
                .unwrap();
        }
        // Garbage over the middle slot's rows, as a write cut short by a power cut leaves.
        let idx = g.index(i128::from(T0 + H));
        let f = OpenOptions::new().write(true).open(dir.path().join("history/topk.fph")).unwrap();
        f.write_all_at(&[0xa5; 30], h.offset(idx) + SLOT_HEADER as u64 + 10).unwrap();
        let w = h.query_at(T0 + 3 * H, T0, T0 + 3 * H).unwrap();
        assert_eq!((w.slots_read, w.bad_slots), (2, 1));
        assert_eq!(w.talks, vec![talk("10.0.0.1", "1.1.1.1", 20, 0, 0)]);
        assert_eq!(w.ports, vec![port(443, "https", 2, 0, 0)]);
        // Recording over it replaces it (and counts it).
        h.record(T0 + H, &[talk("10.0.0.1", "1.1.1.1", 5, 0, 0)], &[], &[]).unwrap();
        assert_eq!(h.bad_slots_seen, 1);
        let w = h.query_at(T0 + 3 * H, T0, T0 + 3 * H).unwrap();
        assert_eq!((w.slots_read, w.bad_slots), (3, 0));
        // A torn header (magic gone, or counts beyond the budget) is bad too, never a panic.
        f.write_all_at(b"XXXX", h.offset(idx)).unwrap();
        assert_eq!(h.query_at(T0 + 3 * H, T0, T0 + 3 * H).unwrap().bad_slots, 1);
        f.write_all_at(SLOT_MAGIC, h.offset(idx)).unwrap();
        f.write_all_at(&u32::MAX.to_le_bytes(), h.offset(idx) + 16).unwrap();
        assert_eq!(h.query_at(T0 + 3 * H, T0, T0 + 3 * H).unwrap().bad_slots, 1);
    }

    #[test]
    fn geometry_change_renames_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history/topk.fph");
        let mut h = open(&dir, geo(24, 8, 4));
        h.record(T0, &[talk("10.0.0.1", "1.1.1.1", 10, 0, 0)], &[], &[]).unwrap();
        drop(h);
        let h = open(&dir, geo(48, 8, 4));
        assert!(h.started_anew);
        assert_eq!(fs::metadata(&path).unwrap().len(), geo(48, 8, 4).file_len());
        assert_eq!(h.query_at(T0 + H, T0, T0 + H).unwrap().slots_read, 0);
        let old = dir.path().join("history/topk.fph.old");
        assert_eq!(read_header(&File::open(&old).unwrap()).unwrap(), Some(geo(24, 8, 4)));
        drop(h);
        // An unreadable header too.
        fs::write(&path, b"not a ring").unwrap();
        let h = open(&dir, geo(48, 8, 4));
        assert!(h.started_anew);
        assert_eq!(fs::read(&old).unwrap(), b"not a ring");
        drop(h);
        // The same geometry again: kept.
        assert!(!open(&dir, geo(48, 8, 4)).started_anew);
        // A geometry past the limits is refused, not made.
        assert!(History::open(&dir.path().join("x.fph"), geo(0, 8, 4)).is_err());
        assert!(History::open(&dir.path().join("x.fph"), geo(4, MAX_ROWS + 1, 4)).is_err());
    }

    #[test]
    fn window_sums_and_cut_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = open(&dir, geo(24, 2, 1));
        // Hour 0: three conversations for two rows: 10.0.0.3 (20 + 5 error) is cut.
        h.record(
            T0,
            &[
                talk("10.0.0.1", "1.1.1.1", 100, 0, 0),
                talk("10.0.0.2", "2.2.2.2", 50, 0, 0),
                talk("10.0.0.3", "3.3.3.3", 20, 0, 5),
            ],
            &[port(443, "https", 80, 0, 0), port(22, "ssh", 9, 0, 0)],
            &[],
        )
        .unwrap();
        // Hour 1: all fit.
        h.record(
            T0 + H,
            &[talk("10.0.0.3", "3.3.3.3", 70, 0, 0), talk("10.0.0.1", "1.1.1.1", 1, 1, 2)],
            &[port(22, "ssh", 100, 0, 0)],
            &[],
        )
        .unwrap();
        // Hour 2: not recorded (daemon off). Hour 3: nothing but one port.
        h.record(T0 + 3 * H, &[], &[port(443, "https", 1, 0, 0)], &[]).unwrap();
        let w = h.query_at(T0 + 4 * H, T0 + 10, T0 + 4 * H - 10).unwrap();
        assert_eq!((w.from, w.to, w.slots_read), (T0, T0 + 4 * H, 3));
        assert_eq!(
            w.talks,
            vec![
                talk("10.0.0.1", "1.1.1.1", 101, 1, 2),
                // Absent from hour 0, whose cut was 25.
                talk("10.0.0.3", "3.3.3.3", 70, 0, 25),
                talk("10.0.0.2", "2.2.2.2", 50, 0, 0),
            ]
        );
        // ssh was cut from hour 0 (9) and 443 absent from hour 1 (no cut there).
        assert_eq!(w.ports, vec![port(22, "ssh", 100, 0, 9), port(443, "https", 81, 0, 0)]);
        // Only hour 1.
        let w = h.query_at(T0 + 4 * H, T0 + H, T0 + 2 * H).unwrap();
        assert_eq!(w.talks, vec![talk("10.0.0.3", "3.3.3.3", 70, 0, 0), talk("10.0.0.1", "1.1.1.1", 1, 1, 2)]);
        // An empty or reversed range reads nothing.
        assert_eq!(h.query_at(T0, T0 + H, T0 + H).unwrap().slots_read, 0);
        assert_eq!(h.query_at(T0, T0 + H, T0).unwrap().slots_read, 0);
        // Extreme ranges neither overflow nor panic.
        let w = h.query_at(i64::MAX, i64::MIN, i64::MAX).unwrap();
        assert_eq!(w.slots_read, 3);
        assert!(w.reaches_past_kept);
        h.record(i64::MIN, &[], &[], &[]).unwrap();
        h.record(i64::MAX, &[], &[], &[]).unwrap();
    }

    #[test]
    fn reaches_past_kept() {
        let dir = tempfile::tempdir().unwrap();
        let h = open(&dir, geo(24, 2, 1));
        let now = T0 + 30 * 60;
        // The current hour and the 23 before it are sure to be kept.
        let oldest = T0 - 23 * H;
        assert!(!h.query_at(now, oldest, now).unwrap().reaches_past_kept);
        assert!(h.query_at(now, oldest - 1, now).unwrap().reaches_past_kept);
        assert!(h.query_at(now, T0 - 7 * 24 * H, T0).unwrap().reaches_past_kept);
        assert!(!h.query_at(now, T0 - H, T0).unwrap().reaches_past_kept);
    }

    #[test]
    fn addresses_round_trip_as_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = open(&dir, geo(24, 8, 1));
        let talks = vec![
            talk("192.168.1.10", "2001:db8::1", 40, 0, 0),
            talk("fd00::10", "203.0.113.7", 30, 0, 0),
            // An IPv6 address that happens to be IPv4-mapped stays IPv6.
            talk("::ffff:10.0.0.1", "10.0.0.1", 20, 0, 0),
            talk("0.0.0.0", "::", 10, 0, 0),
        ];
        h.record(T0, &talks, &[], &[]).unwrap();
        let w = h.query_at(T0, T0, T0 + H).unwrap();
        assert_eq!(w.talks, talks);
        assert!(w.talks[0].host.is_ipv4() && w.talks[0].peer.is_ipv6());
        assert!(w.talks[1].host.is_ipv6() && w.talks[1].peer.is_ipv4());
        assert!(w.talks[2].host.is_ipv6() && w.talks[2].peer.is_ipv4());
        // Different keys: the mapped IPv6 host and the IPv4 one are not summed together.
        h.record(T0, &[talk("10.0.0.1", "10.0.0.1", 1, 0, 0)], &[], &[]).unwrap();
        assert_eq!(h.query_at(T0, T0, T0 + H).unwrap().talks.len(), 5);
    }

    #[test]
    fn live_rows_add_by_key_and_resort() {
        let mut w = Window { talks: vec![talk("10.0.0.1", "1.1.1.1", 10, 0, 2)], ..Window::default() };
        w.add_live(&[talk("10.0.0.1", "1.1.1.1", 5, 0, 1), talk("10.0.0.2", "2.2.2.2", 20, 0, 0)], &[], &[]);
        assert_eq!(w.talks, vec![talk("10.0.0.2", "2.2.2.2", 20, 0, 0), talk("10.0.0.1", "1.1.1.1", 15, 0, 3)]);
    }
}
