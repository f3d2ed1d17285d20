//! The archive thread, the only caller of librrd: it holds the counted steps in RAM, journals them
//! to the card every `archive.journal_interval`, writes each RRD file with all of its new steps in
//! one update every `archive.flush` (the files taking turns), and draws graphs from a copy of a
//! file in RAM brought up to the last step, so a graph is current and never writes to the card.
//!
//! Steps are numbered from the Unix epoch; step `s` covers `[s × step, (s + 1) × step)` and is
//! written to its file at time `(s + 1) × step`, so every file row holds exactly one step's counts.
//! The table never holds a step its file already has: counts for such a step (the clock went
//! back) go into the first step after the file's last update, so the journal replays exactly what
//! the files lack.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::Write as _;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};

use crate::calendar::Calendar;
use crate::config::{ArchiveConfig, HistoryConfig};
use crate::history::{Baseline, Geometry, History, HostApp};
use crate::journal::{Entry, Journal};
use crate::names::Names;
use crate::ratelimit::RateLimit;
use crate::rrd::graph::{self, Look};
use crate::rrd::{is_illegal_time, schema, Rrd, RrdError};
use crate::stats::{self, Stats};
use crate::totals::{DayTotals, Periods};
pub use crate::views::Subject;
use crate::views::{Counts, HostId, IfaceId, Snapshot, StepCounts};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    /// No archive exists for that host or interface.
    NotFound,
    /// The archive thread did not answer in time or has stopped.
    Unavailable,
    Failed(String),
}

/// A rendered graph and, for the response headers, the window it covers (Unix seconds) and the
/// figures its legend shows, each `in=…, out=…`: totals (bytes), average, peak and 95th
/// percentile (bits/s; the percentile `none` with too few known rows, the peak `nan` with none).
/// The overview has no figures of its own.
#[derive(Debug)]
pub struct Graph {
    pub image: Vec<u8>,
    pub window: (i64, i64),
    pub figures: Option<GraphFigures>,
}

#[derive(Debug)]
pub struct GraphFigures {
    pub totals: String,
    pub avg: String,
    pub max: String,
    pub p95: String,
    /// What the graph shows ("NAME (IP)", "wan (if 2)"), without the period.
    pub title: String,
}

/// What the overview draws: its window and, in order, the hosts (each drawn in
/// `graph::PALETTE[i]`) and the WAN interface, with their bytes over the window (received, sent;
/// in, out), as `/api/hosts` and `/api/interfaces` count them.
#[derive(Debug, Clone, Default)]
pub struct Overview {
    pub from: i64,
    pub to: i64,
    pub hosts: Vec<(std::net::IpAddr, Counts)>,
    pub wan: Option<Wan>,
}

#[derive(Debug, Clone)]
pub struct Wan {
    pub exporter: std::net::IpAddr,
    pub ifindex: u32,
    pub name: String,
    pub counts: Counts,
}

/// What a graph draws: one archive, or the overview of the `n` busiest hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GraphOf {
    Subject(Subject),
    Overview(usize),
}

type GraphReply = Result<Arc<Graph>, GraphError>;

/// When a step was handed over, on both clocks: the archive compares each with the one before to
/// see the wall clock jump, at the very hand-over that first carries the new time.
#[derive(Clone, Copy, Debug)]
pub struct Stamp {
    pub wall_ms: i64,
    pub mono: Instant,
}

impl Stamp {
    pub fn now() -> Stamp {
        Stamp { wall_ms: crate::views::wall_ms(), mono: Instant::now() }
    }

    /// How far the wall clock moved beyond the monotonic clock since `earlier`, in ms.
    fn jump_since(&self, earlier: &Stamp) -> i64 {
        let mono = self.mono.saturating_duration_since(earlier.mono).as_millis() as i64;
        (self.wall_ms - earlier.wall_ms) - mono
    }
}

enum Request {
    /// A step's counts, rotated at `at`'s wall time.
    Step {
        counts: StepCounts,
        at: Stamp,
        names: Arc<Snapshot>,
    },
    Graph {
        of: GraphOf,
        look: Look,
        reply: SyncSender<GraphReply>,
    },
    /// The last counts, and the last snapshot (for the top-k history's slot written at stop).
    Shutdown {
        counts: StepCounts,
        at: Stamp,
        names: Arc<Snapshot>,
    },
    Query {
        query: Query,
        reply: SyncSender<Result<Answer, String>>,
    },
}

/// A question over a window of time, answered from the files and what RAM holds.
#[derive(Debug, Clone, Copy)]
pub enum Query {
    /// Every archive of a kind (`Subject::dir`) with traffic in `[from, to)`.
    Totals { dir: &'static str, from: i64, to: i64 },
    /// One archive's rows.
    Series { subject: Subject, from: i64, to: i64 },
    /// Conversations and ports from the top-k history (and the hour not yet written).
    Top { from: i64, to: i64 },
    /// What the overview graph of the `n` busiest hosts over the window draws.
    Overview { window: graph::Window, n: usize },
}

/// An archive's traffic over a window: totals and the 95th percentile of the rows known by now
/// (bits/s of the two byte series, as rrdtool's PERCENTNAN computes it on the same rows; see
/// [`Known`]); `None` with fewer than [`crate::rrd::MIN_PERCENTILE_ROWS`] of them.
#[derive(Debug, Clone)]
pub struct WindowRow {
    pub subject: Subject,
    pub counts: Counts,
    pub p95_bps: [Option<f64>; 2],
}

/// The time an archive's rows say something about: from the subject's first counts (a new file's
/// zeros before them are no quiet time, the device was not there) to the last step handed over
/// (the rest of a period is still to come, and the step being counted is not complete). A
/// percentile is taken over the rows within it; quiet rows within it count.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    pub from: i64,
    pub to: i64,
}

impl Known {
    /// Does the row `[t, t + w)` count: some of it after the first counts, all of it done?
    pub fn holds(&self, t: i64, w: i64) -> bool {
        t + w > self.from && t + w <= self.to
    }
}

#[derive(Debug, Clone)]
pub enum Answer {
    Totals(Window),
    Series(Series),
    Top(crate::history::Window),
    Overview(Overview),
}

/// What a window query covered: `[from, to)` aligned to the rows of `resolution` seconds.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub from: i64,
    pub to: i64,
    pub resolution: u64,
    /// Part of the window is older than the coarsest archive keeps.
    pub reaches_past_kept: bool,
    pub rows: Vec<WindowRow>,
}

/// One archive's rows over a window: (row start, bytes/s in, bytes/s out), unknown rows NaN.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub window: Window,
    pub points: Vec<(i64, f64, f64)>,
}

/// How other threads talk to the archive thread. Cheap to clone.
#[derive(Clone)]
pub struct ArchiveHandle {
    tx: SyncSender<Request>,
    periods: Arc<Mutex<Arc<Periods>>>,
}

/// How long an HTTP thread waits for a graph before answering 503.
const GRAPH_TIMEOUT: Duration = Duration::from_secs(20);
/// Requests that may wait for the archive thread; a step's counts block the collector only if
/// this many graphs are queued ahead of them.
const REQUEST_QUEUE: usize = 64;
/// Graphs kept in the cache at most (each a few tens of KB), and their bytes at most: a client
/// asking for the largest graphs must not grow the daemon (128 SVGs of 3000×2000 took 30 MiB).
const GRAPH_CACHE: usize = 128;
const GRAPH_CACHE_BYTES: usize = 2 << 20;
/// After a forward clock jump, steps past the jump are not written to the card for this long: a
/// jump corrected within it (a wrong clock set right) leaves the files as they were.
const JUMP_SETTLE: Duration = Duration::from_secs(15 * 60);
/// At stop, files are written for at most this long; what is left stays in the journal.
const STOP_FLUSH: Duration = Duration::from_secs(10);
/// Steps held for a file that cannot be written, at least (see `drop_stale`).
const KEEP_STEPS: i64 = 360;
/// An archive file is read into RAM for a graph only up to this size (a host's is under 1 MiB).
const MAX_RRD_BYTES: u64 = 64 << 20;
/// The wall clock moving this much more (or less) than the monotonic clock between two
/// hand-overs is a jump, at least (a step's length, if longer): NTP slews smaller errors.
const JUMP_MS: i64 = 5_000;
/// A quiet stretch longer than this many steps (a file last written long ago) is written in one
/// update, and stays unknown, instead of in updates of a heartbeat each.
const MAX_GAP_STEPS: i64 = 100_000;

impl ArchiveHandle {
    /// Hand over a step's counts, rotated at `at`. Blocks only while the request queue is full.
    pub fn step(&self, counts: StepCounts, at: Stamp, names: Arc<Snapshot>) -> bool {
        self.tx.send(Request::Step { counts, at, names }).is_ok()
    }

    pub fn shutdown(&self, counts: StepCounts, at: Stamp, names: Arc<Snapshot>) -> bool {
        self.tx.send(Request::Shutdown { counts, at, names }).is_ok()
    }

    /// The period totals as of the last step (restored from the journal at start).
    pub fn periods(&self) -> Arc<Periods> {
        self.periods.lock().map(|p| p.clone()).unwrap_or_default()
    }

    pub fn query(&self, query: Query) -> Result<Answer, GraphError> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.tx.try_send(Request::Query { query, reply }).map_err(|_| GraphError::Unavailable)?;
        rx.recv_timeout(GRAPH_TIMEOUT).map_err(|_| GraphError::Unavailable)?.map_err(GraphError::Failed)
    }

    pub fn graph(&self, of: GraphOf, look: Look) -> GraphReply {
        let (reply, rx) = mpsc::sync_channel(1);
        self.tx.try_send(Request::Graph { of, look, reply }).map_err(|_| GraphError::Unavailable)?;
        rx.recv_timeout(GRAPH_TIMEOUT).map_err(|_| GraphError::Unavailable)?
    }
}

/// A step held in RAM: its counts so far, and whether the journal has them. 40 bytes: up to
/// 1440 of these per archive wait for the file's turn.
#[derive(Clone, Copy)]
struct Held {
    /// The step's index (steps since the epoch fit 32 bits until 2106, even of 1 s).
    at: u32,
    journaled: bool,
    counts: Counts,
}

impl Held {
    fn new(step: i64, counts: Counts, journaled: bool) -> Held {
        Held { at: step.clamp(0, i64::from(u32::MAX)) as u32, journaled, counts }
    }

    fn step(&self) -> i64 {
        i64::from(self.at)
    }
}

/// A rendered graph and when.
type Cached = (Instant, Arc<Graph>);

/// What is known of an archive's file.
#[derive(Clone, Copy)]
struct FileState {
    /// The first step the file does not hold yet; `None` while there is no file.
    next: Option<i64>,
    /// Steps one update may cover (the file's heartbeat): quiet stretches are written in updates
    /// of this many steps of 0 (files from older versions: 3).
    beat: i64,
}

/// Under archive.dir: when counting began (Unix seconds, one line), written once, so a period's
/// estimate knows how much of it was counted across restarts.
pub const SINCE_FILE: &str = "counting-since";

/// Built inert by [`Archive::new`]; [`Archive::spawn`] starts the thread.
pub struct Archive {
    cfg: ArchiveConfig,
    calendar: Calendar,
    history: HistoryConfig,
    host_names: Names,
    stats: Arc<Stats>,
    alive: Arc<AtomicU64>,
    rx: Receiver<Request>,
    periods: Arc<Mutex<Arc<Periods>>>,
}

impl Archive {
    pub fn new(
        cfg: &ArchiveConfig,
        calendar: &Calendar,
        history: &HistoryConfig,
        host_names: Names,
        stats: Arc<Stats>,
        alive: Arc<AtomicU64>,
    ) -> (Archive, ArchiveHandle) {
        let (tx, rx) = mpsc::sync_channel(REQUEST_QUEUE);
        let periods = Arc::new(Mutex::new(Arc::new(Periods::default())));
        let archive = Archive {
            cfg: cfg.clone(),
            calendar: calendar.clone(),
            history: history.clone(),
            host_names,
            stats,
            alive,
            rx,
            periods: periods.clone(),
        };
        (archive, ArchiveHandle { tx, periods })
    }

    /// Check the archive directory is usable, then start the thread.
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        for sub in Subject::DIRS.iter().chain(&["journal"]) {
            std::fs::create_dir_all(self.cfg.dir.join(sub)).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot create {}: {e}", self.cfg.dir.join(sub).display()))
            })?;
        }
        std::thread::Builder::new().name("archive".into()).spawn(move || self.run())
    }

    fn run(self) {
        let rrd = Rrd::claim().expect("the archive thread is the only librrd user");
        info!("archive: librrd {} writing to {}", rrd.version(), self.cfg.dir.display());
        let step = self.cfg.step.as_secs() as i64;
        let coarse = schema::coarsest_row(step as u64) as i64;
        let started = Stamp::now();
        let now = started.wall_ms.div_euclid(step * 1000);
        let mut w = Worker {
            rrd,
            step,
            coarse,
            stats: self.stats,
            table: HashMap::new(),
            files: HashMap::new(),
            appeared: HashMap::new(),
            since: 0,
            trailing: HashSet::new(),
            held: 0,
            current: now,
            open_from: now - (self.cfg.open_steps() as i64 - 1),
            journal: None,
            next_journal: Instant::now() + self.cfg.journal_interval,
            credit: 0.0,
            hold: None,
            last_stamp: started,
            trusted: started,
            failing: HashMap::new(),
            journal_ok: false,
            disk: 0,
            host_file_bytes: 0,
            room_tried: None,
            cache: HashMap::new(),
            cache_bytes: 0,
            update_errors: RateLimit::new(Duration::from_secs(60)),
            names: Arc::new(Snapshot::default()),
            host_names: self.host_names,
            days: DayTotals::new(self.history.max_totals),
            calendar: self.calendar,
            published: self.periods,
            day_cache: (i64::MIN, 0),
            history: None,
            baseline: Baseline::new(),
            recent: crate::history::Recent::new(
                self.history.recent.as_secs() as i64,
                self.history.recent_rows,
                self.history.top_rows,
            ),
            recent_at: None,
            slot: None,
            history_cfg: self.history,
            cfg: self.cfg,
        };
        w.open_history();
        w.scan();
        stats::set(&w.stats.archive_disk_bytes, w.disk);
        w.replay();
        w.counting_since();
        w.expire();
        w.publish_periods();
        let mut expired_day = w.current * step / 86_400;
        loop {
            stats::inc(&self.alive);
            match self.rx.recv_timeout(Duration::from_secs(1)) {
                Ok(Request::Step { counts, at, names }) => {
                    w.names = names;
                    w.take(counts, at);
                    w.recent_due();
                    w.history_due();
                    w.flush_due();
                    // Old hosts' files are looked for once a day.
                    if w.current * step / 86_400 != expired_day {
                        expired_day = w.current * step / 86_400;
                        w.expire();
                    }
                }
                Ok(Request::Graph { of, look, reply }) => {
                    let _ = reply.try_send(w.graph(of, look));
                }
                Ok(Request::Query { query, reply }) => {
                    let _ = reply.try_send(w.query(query));
                }
                Ok(Request::Shutdown { counts, at, names }) => {
                    w.names = names;
                    w.take(counts, at);
                    // The hour so far, merged with the rest of it after a restart.
                    if let Some(slot) = w.slot {
                        w.record_history(slot);
                    }
                    w.stop();
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            w.journal_due();
        }
    }
}

struct Worker {
    rrd: Rrd,
    cfg: ArchiveConfig,
    /// Seconds per step, and per row of the coarsest archive (a new file starts on its boundary).
    step: i64,
    coarse: i64,
    stats: Arc<Stats>,
    /// Steps not yet in their file, oldest first, per archive.
    table: HashMap<Subject, VecDeque<Held>>,
    files: HashMap<Subject, FileState>,
    /// When each archive's counts begin (see [`Known`]), once looked up.
    appeared: HashMap<Subject, i64>,
    /// When counting began ([`SINCE_FILE`]).
    since: i64,
    /// Files whose last update is not on a row boundary of the coarsest archive: written (zeros
    /// where nothing was counted) until it is, so every archive's last row is complete and stock
    /// rrdtool reads the same totals. Then an idle file is left alone.
    trailing: HashSet<Subject>,
    /// Entries in `table`.
    held: u64,
    /// The step being counted and the oldest step still open, as the collector last said.
    current: i64,
    open_from: i64,
    journal: Option<Journal>,
    next_journal: Instant,
    /// Files owed a write: grows by (archives / flush) per second.
    credit: f64,
    /// After a forward clock jump: write no step after this one until the instant passes.
    hold: Option<(i64, Instant)>,
    /// The last hand-over's time on both clocks, to see the wall clock jump between two.
    last_stamp: Stamp,
    /// The wall clock as last believed (at start, at a hand-over without a jump, when a jump is
    /// accepted), carried forward by the monotonic clock: no step after it is written.
    trusted: Stamp,
    /// Archives whose file refused a write (or could not be made), since when: only their steps
    /// are ever dropped, and only once that has lasted (see `drop_stale`).
    failing: HashMap<Subject, Instant>,
    /// The journal's last write succeeded: files then take only journaled steps, so a power cut
    /// leaves files and day totals agreeing (both or neither have a step).
    journal_ok: bool,
    /// Bytes of the archive files, counted at start and kept up to date; the size of a host's
    /// file (all are the same size at one step); when making room last found none.
    disk: u64,
    host_file_bytes: u64,
    room_tried: Option<Instant>,
    cache: HashMap<(GraphOf, Look), Cached>,
    /// Bytes of the cached graphs.
    cache_bytes: usize,
    update_errors: RateLimit,
    /// The latest snapshot, for exporter and interface names in graph titles.
    names: Arc<Snapshot>,
    /// Local hosts' names for their graph titles.
    host_names: Names,
    /// Per-day totals for the calendar periods, and where they are published.
    days: DayTotals,
    calendar: Calendar,
    published: Arc<Mutex<Arc<Periods>>>,
    /// The last step whose local day was looked up, and that day.
    day_cache: (i64, crate::calendar::Day),
    /// Hourly top-k snapshots of conversations and ports; the snapshot they are deltas from; the
    /// slot being filled.
    history: Option<History>,
    baseline: Baseline,
    /// Each recent step's top-k deltas, and the step of the last hand-over they were taken at.
    recent: crate::history::Recent,
    recent_at: Option<i64>,
    slot: Option<i64>,
    history_cfg: HistoryConfig,
}

impl Worker {
    fn path(&self, s: &Subject) -> PathBuf {
        schema::path(&self.cfg.dir, s)
    }

    /// Find the files whose coarsest row is not complete yet (a stop in the middle of a day).
    fn scan(&mut self) {
        for sub in Subject::DIRS {
            let Ok(dir) = std::fs::read_dir(self.cfg.dir.join(sub)) else { continue };
            for e in dir.flatten() {
                let name = e.file_name();
                let Some(n) = name.to_str() else { continue };
                // librrd creates a file as NAME.rrdXXXXXX and renames it when complete: one left
                // over was cut short by a power cut or a kill, and would only take card space.
                if let Some((base, tail)) = n.split_once(".rrd") {
                    if tail.len() == 6 && schema::subject_of(sub, &format!("{base}.rrd")).is_some() {
                        match std::fs::remove_file(e.path()) {
                            Ok(()) => {
                                info!("archive: removed {}, a file whose creation was cut short", e.path().display())
                            }
                            Err(err) => warn!("archive: cannot remove {}: {err}", e.path().display()),
                        }
                        continue;
                    }
                }
                let Some(subject) = schema::subject_of(sub, n) else { continue };
                let size = e.metadata().map_or(0, |m| m.len());
                self.disk += size;
                if matches!(subject, Subject::Host(_)) {
                    self.host_file_bytes = self.host_file_bytes.max(size);
                }
                if let Some(next) = self.file(subject).next {
                    if (next * self.step).rem_euclid(self.coarse) != 0 {
                        self.trailing.insert(subject);
                    }
                }
            }
        }
    }

    /// Remove the archives of hosts without traffic for archive.retention: their last update
    /// (a file is written until a coarsest row after its last traffic, so at most a day later)
    /// is older than that, and nothing is held for them. Interfaces and applications are few
    /// and kept.
    fn expire(&mut self) {
        let Ok(dir) = std::fs::read_dir(self.cfg.dir.join("hosts")) else { return };
        let retention = self.cfg.retention.as_secs() as i64;
        for e in dir.flatten() {
            let name = e.file_name();
            let Some(subject) = name.to_str().and_then(|n| schema::subject_of("hosts", n)) else { continue };
            let Some(next) = self.file(subject).next else { continue };
            let idle = (self.current - next) * self.step;
            if idle < retention || self.table.get(&subject).is_some_and(|t| !t.is_empty()) {
                continue;
            }
            if self.remove_host_file(subject, &e.path(), &format!("no traffic for {} days", idle / 86_400)) {
                stats::inc(&self.stats.archive_files_expired);
            }
        }
    }

    /// Remove a host's archive file and forget it; false (and a warning) if it cannot be.
    fn remove_host_file(&mut self, subject: Subject, path: &Path, why: &str) -> bool {
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        match std::fs::remove_file(path) {
            Ok(()) => {
                info!("archive: removed {} ({why})", path.display());
                self.disk = self.disk.saturating_sub(size);
                stats::set(&self.stats.archive_disk_bytes, self.disk);
                self.files.remove(&subject);
                self.appeared.remove(&subject);
                self.trailing.remove(&subject);
                self.keep_graphs(|(s, _), _| *s != GraphOf::Subject(subject));
                true
            }
            Err(err) => {
                warn!("archive: cannot remove {}: {err}", path.display());
                false
            }
        }
    }

    /// Room for a new host file within archive.max_disk_mb: the host files that have gone
    /// longest without a write (nothing held for them, not `other`) are removed, down to a
    /// twentieth below the budget so that not every new file lists the directory. The card
    /// never fills from addresses alone (a new IPv6 privacy address each day, a scan). Tried
    /// at most once a minute while it finds nothing to remove. True when there is room.
    fn room_for_a_host_file(&mut self) -> bool {
        let budget = self.cfg.max_disk;
        if self.disk + self.host_file_bytes <= budget {
            return true;
        }
        if self.room_tried.is_some_and(|t| t.elapsed() < Duration::from_secs(60)) {
            return false;
        }
        let mut idle: Vec<(std::time::SystemTime, Subject, PathBuf)> = Vec::new();
        if let Ok(dir) = std::fs::read_dir(self.cfg.dir.join("hosts")) {
            for e in dir.flatten() {
                let name = e.file_name();
                let Some(subject) = name.to_str().and_then(|n| schema::subject_of("hosts", n)) else { continue };
                let held = self.table.get(&subject).is_some_and(|t| !t.is_empty());
                if held || subject == Subject::Host(HostId::Other) {
                    continue;
                }
                if let Ok(modified) = e.metadata().and_then(|m| m.modified()) {
                    idle.push((modified, subject, e.path()));
                }
            }
        }
        idle.sort_by_key(|(t, _, _)| *t);
        let target = budget - budget / 20;
        for (_, subject, path) in idle {
            if self.disk + self.host_file_bytes <= target {
                break;
            }
            if self.remove_host_file(subject, &path, "archive.max_disk_mb reached; the longest idle goes first") {
                stats::inc(&self.stats.archive_files_evicted);
            }
        }
        let room = self.disk + self.host_file_bytes <= budget;
        self.room_tried = (!room).then(Instant::now);
        room
    }

    /// When counting began: as [`SINCE_FILE`] says; without one (a new archive directory, or one
    /// from a version that kept none) the earliest day with totals, else now, written there.
    fn counting_since(&mut self) {
        let path = self.cfg.dir.join(SINCE_FILE);
        let read = crate::file::read_regular(&path, 64).ok();
        if let Some(t) = read.and_then(|b| String::from_utf8(b).ok()).and_then(|s| s.trim().parse::<i64>().ok()) {
            self.since = t;
            return;
        }
        self.since = self.days.first_day().map_or(self.current * self.step, |d| self.calendar.day_start(d));
        // A temporary file renamed over: a power cut leaves the old state or the new, never half.
        let tmp = path.with_extension("tmp");
        let written = std::fs::write(&tmp, format!("{}\n", self.since))
            .and_then(|()| File::open(&tmp).and_then(|f| f.sync_all()))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            warn!(
                "archive: cannot write {}: {e}; the month's estimate may count from the wrong time after a restart",
                path.display()
            );
        }
    }

    /// The last step of the coarsest row that step `s` is in.
    fn row_end(&self, s: i64) -> i64 {
        ((s * self.step).div_euclid(self.coarse) * self.coarse + self.coarse) / self.step - 1
    }

    /// Read the journal: what the files lack is held again; what they have is dropped.
    fn replay(&mut self) {
        let dir = self.cfg.dir.join("journal");
        match Journal::open(&dir) {
            Ok((journal, replay)) => {
                stats::add(&self.stats.journal_bad_blocks, replay.bad_blocks);
                if replay.bad_blocks > 0 {
                    warn!(
                        "archive: {} journal block(s) in {} cut short or damaged (a power cut while writing); the {} before them are kept",
                        replay.bad_blocks,
                        dir.display(),
                        replay.blocks
                    );
                }
                let n = replay.entries.len();
                let mut kept = 0;
                for (subject, step, counts) in replay.entries {
                    let next = self.file(subject).next;
                    if next.is_some_and(|n| step < n) {
                        continue;
                    }
                    let series = self.table.entry(subject).or_default();
                    match series.binary_search_by_key(&step, |h| h.step()) {
                        Ok(i) => series[i].counts = counts,
                        Err(i) => {
                            series.insert(i, Held::new(step, counts, true));
                            self.held += 1;
                            kept += 1;
                        }
                    }
                }
                if n > 0 {
                    info!("archive: journal replayed: {kept} steps not yet in their files (of {n} entries)");
                }
                for (subject, day, counts) in replay.days {
                    self.days.restore(subject, day as crate::calendar::Day, counts);
                }
                let now = self.current * self.step;
                self.days.prune(self.calendar.oldest_needed(now));
                if !self.days.is_empty() {
                    info!("archive: day totals restored for {} hosts, interfaces and applications", self.days.len());
                }
                self.journal = Some(journal);
                self.journal_ok = true;
                // Steps journaled under a clock that was ahead (stopped before it was set right)
                // are now's: no file takes a time that has not come.
                let ahead = self.pull_back();
                if ahead > 0 {
                    warn!("archive: {ahead} journaled steps were ahead of the clock; counted now");
                }
            }
            Err(e) => {
                stats::inc(&self.stats.journal_errors);
                error!(
                    "archive: cannot read the journal in {}: {e}; a power cut will lose what is not yet in the files",
                    dir.display()
                );
            }
        }
        stats::set(&self.stats.archive_steps_pending, self.held);
    }

    /// The file's state, read once (`rrd_last`); an unreadable file is set aside.
    fn file(&mut self, subject: Subject) -> FileState {
        if let Some(f) = self.files.get(&subject) {
            return *f;
        }
        let path = self.path(&subject);
        let mut beat = 1;
        // librrd opens what it is given: a FIFO in a file's place would block this thread for
        // good, a device could be read without end. Only a regular file is an archive.
        let found = match std::fs::metadata(&path) {
            Ok(m) if !m.is_file() => Some(Err(RrdError("not a regular file".into()))),
            Ok(_) => Some(self.rrd.last(&path)),
            Err(_) => None,
        };
        let next = match found {
            Some(Ok(t)) => {
                beat = self.rrd.heartbeat(&path).map_or(1, |b| (b as i64 / self.step).max(1));
                Some(t.div_euclid(self.step))
            }
            Some(Err(e)) => {
                // Unreadable (truncated by a full card, overwritten): it would never take an
                // update again, so it makes way for a new one.
                self.set_aside(&path, &e);
                None
            }
            None => None,
        };
        let f = FileState { next, beat };
        self.files.insert(subject, f);
        f
    }

    /// The rows of `subject` that count for a percentile now ([`Known`]).
    fn known(&mut self, subject: Subject) -> Known {
        Known { from: self.appeared(subject), to: self.current * self.step }
    }

    /// When the subject's counts begin: as its file says (looked up once), else its first step
    /// held in RAM; `i64::MIN` when nothing tells.
    fn appeared(&mut self, subject: Subject) -> i64 {
        if let Some(t) = self.appeared.get(&subject) {
            return *t;
        }
        if self.file(subject).next.is_some() {
            let t = self.appeared_in_file(&self.path(&subject));
            self.appeared.insert(subject, t);
            return t;
        }
        self.table.get(&subject).and_then(|s| s.front()).map_or(i64::MIN, |h| h.step() * self.step)
    }

    /// A file starts on a coarsest row's boundary with zeros up to its first counted step (see
    /// `create`): its counts begin at the first row with any count after that start. The start
    /// is the first known row of the finest archive that still reaches back before the file (its
    /// oldest row unknown); the first count is then looked for from there through ever finer
    /// archives (each holds more recent rows than the coarser ones have consolidated), each
    /// narrowing what the one before found. `i64::MIN` when every archive is full: the file is
    /// older than any window can reach.
    fn appeared_in_file(&self, path: &Path) -> i64 {
        let Ok(last) = self.rrd.last(path) else { return i64::MIN };
        // (row width, the first row it holds, the end of its last complete row): finest first.
        let spans: Vec<(i64, i64, i64)> = schema::tiers(self.step as u64)
            .iter()
            .map(|t| {
                let w = t.steps as i64 * self.step;
                let end = last.div_euclid(w) * w;
                (w, end - t.rows as i64 * w, end)
            })
            .collect();
        // The rows of width `w` in `[from, to)`: (row start, some count in it), `None` for an
        // unknown row.
        let rows = |w: i64, from: i64, to: i64| -> Vec<(i64, Option<bool>)> {
            let Ok(f) = self.rrd.fetch(path, from, to, w as u64) else { return Vec::new() };
            if f.step as i64 != w || f.ds == 0 {
                return Vec::new();
            }
            f.values
                .chunks_exact(f.ds)
                .enumerate()
                .map(|(i, r)| {
                    let known = r.iter().any(|v| v.is_finite());
                    (f.start + i as i64 * w, known.then(|| r.iter().any(|v| *v > 0.0)))
                })
                .filter(|(t, _)| (from..to).contains(t))
                .collect()
        };
        let found = spans.iter().enumerate().find_map(|(k, &(w, oldest, end))| {
            let all = rows(w, oldest, end);
            if !all.first().is_some_and(|(_, r)| r.is_none()) {
                return None;
            }
            all.iter().find(|(_, r)| r.is_some()).map(|(t, _)| (k, *t))
        });
        let Some((k, start)) = found else { return i64::MIN };
        let (mut from, mut counted) = (start, false);
        for &(w, oldest, end) in spans[..=k].iter().rev() {
            if oldest > from || end <= from {
                continue;
            }
            match rows(w, from, end).into_iter().find(|(_, r)| *r == Some(true)) {
                Some((t, _)) => (from, counted) = (t, true),
                // Nothing yet in the rows this archive has: the counts begin after them.
                None if !counted => from = end,
                None => {}
            }
        }
        if counted {
            from
        } else {
            start
        }
    }

    /// The first step the file lacks, creating the file if there is none: a file exists from the
    /// first counts on, so a graph can always start from a copy of it.
    fn ensure_file(&mut self, subject: Subject, first: i64) -> Option<i64> {
        if let Some(n) = self.file(subject).next {
            return Some(n);
        }
        let path = self.path(&subject);
        let host = matches!(subject, Subject::Host(HostId::Ip(_)));
        if host && !self.room_for_a_host_file() {
            stats::inc(&self.stats.archive_creates_refused);
            if let Some(k) = self.update_errors.check() {
                warn!(
                    "archive: not making {}: the archive files are at archive.max_disk_mb and every host file is busy ({k} similar messages suppressed)",
                    path.display()
                );
            }
            return None;
        }
        match self.create(&path, &subject, first) {
            Ok(n) => {
                stats::inc(&self.stats.archive_creates);
                debug!("archive: created {}", path.display());
                let size = std::fs::metadata(&path).map_or(0, |m| m.len());
                self.disk += size;
                if host {
                    self.host_file_bytes = self.host_file_bytes.max(size);
                }
                stats::set(&self.stats.archive_disk_bytes, self.disk);
                let beat = (schema::create_args_heartbeat(self.step as u64) as i64 / self.step).max(1);
                self.files.insert(subject, FileState { next: Some(n), beat });
                self.appeared.insert(subject, first * self.step);
                Some(n)
            }
            Err(e) => {
                stats::inc(&self.stats.archive_create_errors);
                if let Some(k) = self.update_errors.check() {
                    error!("archive: cannot create {}: {e} ({k} similar messages suppressed)", path.display());
                }
                None
            }
        }
    }

    /// Add counts to a step, or to the first step the file lacks if it already has this one;
    /// the step they went to.
    fn add(&mut self, subject: Subject, step: i64, c: &Counts) -> i64 {
        let step = match self.ensure_file(subject, step) {
            Some(n) if step < n => {
                stats::inc(&self.stats.archive_steps_late);
                n
            }
            _ => step,
        };
        let series = self.table.entry(subject).or_default();
        // Usually the newest step or one just before it: search from the back.
        let at = series.iter().rposition(|h| h.step() <= step);
        match at {
            Some(i) if series[i].step() == step => {
                series[i].counts.add(c);
                series[i].journaled = false;
            }
            _ => {
                let i = at.map_or(0, |i| i + 1);
                reserve(series, self.cfg.flush_steps() as usize + self.cfg.open_steps());
                series.insert(i, Held::new(step, *c, false));
                self.held += 1;
            }
        }
        step
    }

    /// Add counts to the archive and to the day totals, in the day of the step the archive put
    /// them in: the periods and the archive's windows then agree, for late counts too.
    fn count(&mut self, subject: Subject, step: i64, c: &Counts) {
        let step = self.add(subject, step, c);
        let day = self.day_of_step(step);
        self.days.add(subject, day, c);
    }

    /// Counts taken out of step `from` go to step `to` (or where `add` puts them), in the day
    /// totals too: the clock went back, or the file is ahead of what was held.
    fn recount(&mut self, subject: Subject, from: i64, to: i64, c: &Counts) {
        let to = self.add(subject, to, c);
        let (was, is) = (self.day_of_step(from), self.day_of_step(to));
        self.days.moved(subject, was, is, c);
    }

    /// Take a hand-over: its counts, and what the two clocks say of the time since the last one.
    fn take(&mut self, counts: StepCounts, at: Stamp) {
        let jump_ms = at.jump_since(&self.last_stamp);
        self.last_stamp = at;
        let jump = if jump_ms.abs() > JUMP_MS.max(self.step * 1000) { jump_ms / 1000 } else { 0 };
        // First what was counted, under the steps it was counted in: after a backward jump some
        // of them are ahead of the new clock, and are moved below with the rest.
        for (subject, step, c) in &counts.added {
            self.count(*subject, *step, c);
        }
        self.current = counts.current;
        self.open_from = counts.open_from;
        if jump < 0 {
            stats::inc(&self.stats.clock_jumps_backward);
            self.trusted = at;
            let moved = self.pull_back();
            if self.hold.take().is_some() {
                info!(
                    "archive: the clock went back {}s after jumping forward; nothing was written past the jump ({moved} steps moved to now)",
                    -jump
                );
            } else {
                warn!("archive: the clock went back {}s; steps already written are not rewritten, new counts go after them", -jump);
            }
        } else if jump > 0 {
            stats::inc(&self.stats.clock_jumps_forward);
            let through = self.hold.map_or(self.trusted_step(), |(t, _)| t);
            self.hold = Some((through, Instant::now() + JUMP_SETTLE));
            warn!(
                "archive: the clock jumped {jump}s forward; steps after it are written to the files only if it stays for {} minutes",
                JUMP_SETTLE.as_secs() / 60
            );
        } else if self.hold.is_none() {
            self.trusted = at;
        }
        stats::set(&self.stats.archive_steps_pending, self.held);
        self.days.prune(self.calendar.oldest_needed(self.trusted_step() * self.step));
        self.publish_periods();
    }

    /// Steps counted ahead of the current one (under a wrong clock, now set right) move to the
    /// current step, in the day totals too: the counts are real, their time was not. Returns
    /// how many moved.
    fn pull_back(&mut self) -> usize {
        let current = self.current;
        let mut moved = Vec::new();
        for (subject, series) in self.table.iter_mut() {
            while series.back().is_some_and(|h| h.step() > current) {
                let h = series.pop_back().expect("checked");
                moved.push((*subject, h.step(), h.counts));
                self.held -= 1;
            }
        }
        self.table.retain(|_, s| !s.is_empty());
        stats::add(&self.stats.archive_steps_late, moved.len() as u64);
        for (subject, step, c) in &moved {
            self.recount(*subject, *step, current, c);
        }
        moved.len()
    }

    /// The step the trusted wall clock is in now.
    fn trusted_step(&self) -> i64 {
        let ms = self.trusted.wall_ms + self.trusted.mono.elapsed().as_millis() as i64;
        ms.div_euclid(self.step * 1000)
    }

    /// The local day a step begins in (a step across midnight counts in the day it began).
    fn day_of_step(&mut self, step: i64) -> crate::calendar::Day {
        if self.day_cache.0 != step {
            self.day_cache = (step, self.calendar.day(step * self.step));
        }
        self.day_cache.1
    }

    fn publish_periods(&mut self) {
        let mut p = self.days.periods(&self.calendar, self.current * self.step);
        p.since = self.since;
        let p = Arc::new(p);
        if let Ok(mut slot) = self.published.lock() {
            *slot = p;
        }
        stats::set(&self.stats.period_rows, self.days.len() as u64);
        stats::set(&self.stats.period_rows_folded, self.days.folded);
    }

    /// The last step that may be written to the card now: closed, and never past the trusted
    /// clock, so no file takes a time that has not come.
    fn flushable_through(&mut self) -> i64 {
        let closed = self.open_from - 1;
        let closed = match self.hold {
            Some((_, until)) if Instant::now() >= until => {
                info!("archive: the clock's forward jump stayed; writing the steps after it");
                self.hold = None;
                self.trusted = Stamp::now();
                closed
            }
            Some((through, _)) => closed.min(through),
            None => closed,
        };
        closed.min(self.trusted_step())
    }

    /// `through`, or less so that the file takes only steps the journal has (while the journal
    /// works): a file never holds what the day totals could lose in a power cut.
    fn journaled_through(&self, subject: &Subject, through: i64) -> i64 {
        if !self.journal_ok {
            return through;
        }
        let series = self.table.get(subject).into_iter().flatten();
        match series.take_while(|h| h.step() <= through).find(|h| !h.journaled) {
            Some(h) => through.min(h.step() - 1),
            None => through,
        }
    }

    /// Write files whose turn has come: each archive with closed steps is written about once per
    /// `archive.flush`, oldest data first, so writes are spread evenly over that time.
    fn flush_due(&mut self) {
        let through = self.flushable_through();
        let due = self.due(through);
        if due.is_empty() {
            self.credit = 0.0;
            return;
        }
        self.credit += due.len() as f64 / self.cfg.flush_steps() as f64;
        self.credit = self.credit.min(due.len() as f64);
        let mut due = due;
        due.sort();
        for (_, subject) in due {
            if self.credit < 1.0 {
                break;
            }
            self.credit -= 1.0;
            self.flush(subject, through);
        }
        self.drop_stale();
    }

    /// Archives with something to write up to `through`, keyed by the oldest step they lack.
    fn due(&self, through: i64) -> Vec<(i64, Subject)> {
        let held =
            self.table.iter().filter_map(|(s, v)| v.front().filter(|h| h.step() <= through).map(|h| (h.step(), *s)));
        let trailing = self
            .trailing
            .iter()
            .filter(|s| self.table.get(s).is_none_or(|v| v.front().is_none_or(|h| h.step() > through)))
            .filter_map(|s| self.files.get(s).and_then(|f| f.next).filter(|n| *n <= through).map(|n| (n, *s)));
        held.chain(trailing).collect()
    }

    /// Steps of archives whose file has refused every write for longer than twice the flush
    /// interval plus the open steps: those older than that many steps (and at least
    /// [`KEEP_STEPS`]) are dropped and counted, so a file that refuses every write cannot make
    /// the table grow. Time is what decides, not step numbers: after a replay, a gap or a clock
    /// jump a file that can be written gets every step it lacks.
    fn drop_stale(&mut self) {
        let keep = 2 * self.cfg.flush_steps() as i64 + self.cfg.open_steps() as i64;
        let patience = Duration::from_secs((keep * self.step) as u64);
        let limit = self.current - keep.max(KEEP_STEPS);
        let mut dropped = 0;
        for (subject, since) in &self.failing {
            if since.elapsed() < patience {
                continue;
            }
            let Some(series) = self.table.get_mut(subject) else { continue };
            while series.front().is_some_and(|h| h.step() < limit) {
                series.pop_front();
                dropped += 1;
            }
        }
        if dropped > 0 {
            self.held -= dropped;
            self.table.retain(|_, s| !s.is_empty());
            stats::add(&self.stats.archive_steps_dropped, dropped);
            warn!("archive: dropped {dropped} steps whose files could not be written for too long");
        }
    }

    /// `rrd_update` values for the steps `from..=through`: what is held, and 0 for the rest, a
    /// quiet stretch in updates of up to `beat` steps each. A quiet stretch longer than
    /// [`MAX_GAP_STEPS`] gets zeros only to the end of its first coarsest row and from the start
    /// of its last (so the rows around what is held stay whole), and one update across the rest,
    /// which then stays unknown.
    fn values(&self, subject: &Subject, from: i64, through: i64, beat: i64) -> Vec<String> {
        let empty = VecDeque::new();
        let series = self.table.get(subject).unwrap_or(&empty);
        let mut held = series.iter().skip_while(|h| h.step() < from).peekable();
        let mut out = Vec::new();
        let zeros = |out: &mut Vec<String>, mut s: i64, to: i64| {
            while s <= to {
                let end = (s + beat.max(1) - 1).min(to);
                out.push(format!("{}:0:0:0:0", (end + 1) * self.step));
                s = end + 1;
            }
        };
        let mut s = from;
        while s <= through {
            match held.peek() {
                Some(h) if h.step() == s => {
                    let c = h.counts;
                    let t = (s + 1) * self.step;
                    out.push(format!("{t}:{}:{}:{}:{}", c.in_bytes, c.out_bytes, c.in_packets, c.out_packets));
                    held.next();
                    s += 1;
                }
                next => {
                    let quiet_to = next.map_or(through, |h| (h.step() - 1).min(through));
                    let last_row = self.row_end(quiet_to) - self.coarse / self.step + 1;
                    if quiet_to - s >= MAX_GAP_STEPS && last_row > self.row_end(s) + 1 {
                        zeros(&mut out, s, self.row_end(s));
                        out.push(format!("{}:0:0:0:0", last_row * self.step));
                        s = last_row;
                    }
                    zeros(&mut out, s, quiet_to);
                    s = quiet_to + 1;
                }
            }
        }
        out
    }

    /// Create `path` for a file whose first held step is `first`: it starts on the boundary of
    /// the coarsest archive's row, so every archive's first row is whole (zeros before `first`)
    /// and holds the step's counts, not an unknown.
    fn create(&self, path: &Path, subject: &Subject, first: i64) -> Result<i64, RrdError> {
        let ds = subject.ds();
        let start = (first * self.step).div_euclid(self.coarse) * self.coarse;
        self.rrd.create(path, self.step as u64, start, &schema::create_args(ds, self.step as u64))?;
        Ok(start / self.step)
    }

    /// Write every held step up to `through` into the subject's file, in one update, and sync it.
    fn flush(&mut self, subject: Subject, through: i64) {
        let path = self.path(&subject);
        let first = self.table.get(&subject).and_then(|s| s.front()).map(|h| h.step());
        let next = match first {
            Some(f) => self.ensure_file(subject, f),
            None => self.file(subject).next,
        };
        let Some(next) = next else {
            self.failing.entry(subject).or_insert_with(Instant::now);
            return;
        };
        let through = self.journaled_through(&subject, through);
        // With nothing held up to `through`, only the coarsest row is completed.
        let through = if first.is_some_and(|f| f <= through) { through } else { through.min(self.row_end(next)) };
        if through < next {
            return;
        }
        let from = next;
        let beat = self.files.get(&subject).map_or(1, |f| f.beat);
        let values = self.values(&subject, from, through, beat);
        match self.rrd.update(&path, &values) {
            Ok(()) => {
                // Synced before the steps leave RAM: the journal may drop them from now on.
                if let Err(e) = File::open(&path).and_then(|f| f.sync_data()) {
                    warn!("archive: cannot sync {}: {e}", path.display());
                }
                stats::inc(&self.stats.archive_updates);
                stats::add(&self.stats.archive_steps_written, (through - from + 1) as u64);
                self.failing.remove(&subject);
                self.files.insert(subject, FileState { next: Some(through + 1), beat });
                if ((through + 1) * self.step).rem_euclid(self.coarse) != 0 {
                    self.trailing.insert(subject);
                } else {
                    self.trailing.remove(&subject);
                }
                if let Some(series) = self.table.get_mut(&subject) {
                    while series.front().is_some_and(|h| h.step() <= through) {
                        series.pop_front();
                        self.held -= 1;
                    }
                    if series.is_empty() {
                        self.table.remove(&subject);
                    }
                }
                stats::set(&self.stats.archive_steps_pending, self.held);
            }
            Err(e) if is_illegal_time(&e) => {
                // The file knows its last update better than we do (another writer): held steps
                // it already covers go after it.
                stats::inc(&self.stats.archive_illegal_time);
                self.files.remove(&subject);
                self.refold(subject);
            }
            Err(e) if self.rrd.last(&path).is_err() => {
                // Broken under us: set it aside; the held steps go into a new file next time.
                self.set_aside(&path, &e);
                self.files.insert(subject, FileState { next: None, beat: 1 });
                self.appeared.remove(&subject);
            }
            Err(e) => {
                self.failing.entry(subject).or_insert_with(Instant::now);
                stats::inc(&self.stats.archive_update_errors);
                if let Some(n) = self.update_errors.check() {
                    warn!("archive: update of {} failed: {e} ({n} similar messages suppressed)", path.display());
                }
            }
        }
    }

    /// Re-add a subject's held steps, so those its file already has move after it.
    fn refold(&mut self, subject: Subject) {
        if let Some(series) = self.table.remove(&subject) {
            self.held -= series.len() as u64;
            for h in series {
                self.recount(subject, h.step(), h.step(), &h.counts);
            }
        }
    }

    /// Append what the journal lacks, when it is due.
    fn journal_due(&mut self) {
        if Instant::now() >= self.next_journal {
            self.next_journal = Instant::now() + self.cfg.journal_interval;
            self.write_journal();
        }
    }

    fn write_journal(&mut self) {
        let Some(journal) = self.journal.as_mut() else { return };
        let mut entries: Vec<Entry> = Vec::new();
        for (subject, series) in &self.table {
            entries.extend(series.iter().filter(|h| !h.journaled).map(|h| (*subject, h.step(), h.counts)));
        }
        let days = self.days.take_dirty();
        let result = if journal.wants_new_segment() {
            let all: Vec<Entry> =
                self.table.iter().flat_map(|(s, v)| v.iter().map(move |h| (*s, h.step(), h.counts))).collect();
            journal.new_segment(&all, &self.days.all())
        } else {
            journal.append(&entries, &days)
        };
        match result {
            Ok(bytes) => {
                self.journal_ok = true;
                if bytes > 0 {
                    stats::inc(&self.stats.journal_writes);
                    stats::add(&self.stats.journal_bytes, bytes);
                }
                for series in self.table.values_mut() {
                    for h in series.iter_mut() {
                        h.journaled = true;
                    }
                }
            }
            Err(e) => {
                // Files then take steps the journal lacks: better in a file than only in RAM.
                self.journal_ok = false;
                self.days.mark_dirty(&days);
                stats::inc(&self.stats.journal_errors);
                if let Some(n) = self.update_errors.check() {
                    warn!("archive: cannot write the journal: {e} ({n} similar messages suppressed)");
                }
            }
        }
    }

    /// At stop: journal what is held, then write the files' closed steps (for a while at most);
    /// what is left stays in the journal.
    fn stop(&mut self) {
        self.write_journal();
        let deadline = Instant::now() + STOP_FLUSH;
        let through = self.flushable_through();
        let mut ready: Vec<Subject> = self
            .table
            .iter()
            .filter(|(_, v)| v.front().is_some_and(|h| h.step() <= through))
            .map(|(s, _)| *s)
            .collect();
        ready.sort();
        let mut written = 0;
        for subject in ready {
            if Instant::now() >= deadline {
                break;
            }
            self.flush(subject, through);
            written += 1;
        }
        info!("archive: stopped; {written} files written, {} steps kept in the journal", self.held);
    }

    /// Rename a broken archive to `NAME.rrd.broken-TIME` (kept for whoever wants to look), counted
    /// and logged once: the file is then created anew.
    fn set_aside(&mut self, path: &Path, e: &RrdError) {
        let now = crate::views::wall_ms() / 1000;
        let mut aside = path.as_os_str().to_owned();
        aside.push(format!(".broken-{now}"));
        match std::fs::rename(path, &aside) {
            Ok(()) => {
                stats::inc(&self.stats.archive_broken);
                warn!(
                    "archive: {} is unreadable ({e}); kept as {} and started anew",
                    path.display(),
                    Path::new(&aside).display()
                );
            }
            Err(re) => {
                stats::inc(&self.stats.archive_update_errors);
                if let Some(n) = self.update_errors.check() {
                    warn!("archive: {} is unreadable ({e}) and cannot be moved aside: {re} ({n} similar messages suppressed)", path.display());
                }
            }
        }
    }

    /// The file as it will be: a copy in RAM (a memfd) of the card's file, or a new one, with
    /// every complete step held in RAM added. The card is only read.
    fn current_copy(&mut self, subject: Subject, through: i64) -> Result<Option<File>, String> {
        let path = self.path(&subject);
        if let Some(first) = self.table.get(&subject).and_then(|s| s.front()).map(|h| h.step()) {
            self.ensure_file(subject, first);
        }
        if !path.exists() {
            return Ok(None);
        }
        let Some(next) = self.file(subject).next else {
            return Err(format!("{} is unreadable", path.display()));
        };
        let copy = memfd().map_err(|e| format!("memfd: {e}"))?;
        let copy_path = PathBuf::from(format!("/proc/self/fd/{}", copy.as_raw_fd()));
        // A regular file of an archive's size only: a link to /dev/zero must not swell the thread.
        let bytes = crate::file::read_regular(&path, MAX_RRD_BYTES).map_err(|e| format!("{}: {e}", path.display()))?;
        (&copy).write_all(&bytes).map_err(|e| format!("memfd: {e}"))?;
        if through >= next {
            let beat = self.files.get(&subject).map_or(1, |f| f.beat);
            let values = self.values(&subject, next, through, beat);
            self.rrd.update(&copy_path, &values).map_err(|e| e.0)?;
        }
        Ok(Some(copy))
    }

    /// A named period's bounds as published with the last step (what the API answers for
    /// `period=`), or the calendar's before the first step.
    fn named_bounds(&self, p: crate::calendar::Period) -> (i64, i64) {
        let published = self.published.lock().map(|p| p.clone()).unwrap_or_default();
        match published.bounds(p) {
            (0, 0) => self.calendar.bounds(p, self.current * self.step),
            b => b,
        }
    }

    /// A named period's totals of one archive, as the API answers them (the day totals).
    fn named_counts(&self, p: crate::calendar::Period, subject: Subject) -> Counts {
        let published = self.published.lock().map(|p| p.clone()).unwrap_or_default();
        let c = published.of(p).find(|(s, _)| **s == subject).map_or_else(Counts::default, |(_, c)| *c);
        c
    }

    /// The window a graph covers and the rows it is drawn from.
    fn frame(&self, look: &Look) -> graph::Frame {
        let step = self.step;
        let now = self.current * step;
        let fixed = match look.window {
            graph::Window::Last => None,
            graph::Window::Named(p) => Some(self.named_bounds(p)),
            graph::Window::Between { from, to } => Some((from, to)),
        };
        let Some((from, to)) = fixed else {
            // The last period ends where the drawn point (whole rows of the archive it is drawn
            // from) holding now ends: with the steps after the last one written as 0 in the
            // copy, that point is complete, so a week or year graph holds the last step too (its
            // axis runs on by at most a point).
            let period = look.period.seconds() as i64;
            let row = graph::row_seconds(step as u64, now - period, now, now, look.width);
            let draw = graph::draw_step(row, period, look.width);
            let d = draw as i64;
            let end = now.div_euclid(d) * d + if now.rem_euclid(d) == 0 { 0 } else { d };
            return graph::Frame { start: end - period, end, row, step: step as u64, draw };
        };
        // Nothing older than the coarsest archive keeps, nor more than a year ahead: a window
        // from year 1 must not ask rrdtool for a row per day since then.
        let kept = schema::tiers(step as u64).last().map_or(0, |t| (t.rows * t.steps) as i64 * step);
        let start = from.max(now - kept - self.coarse);
        let end = to.min(now + 366 * 86_400).max(start + step);
        let row = graph::row_seconds(step as u64, start, end, now, look.width);
        let draw = graph::draw_step(row, end - start, look.width);
        graph::Frame { start, end, row, step: step as u64, draw }
    }

    /// The last step a graph's copy is brought up to: the end of the drawn point the current
    /// step is in, so that point is complete (steps not counted yet are 0 in the copy only).
    fn fill_through(&self, frame: &graph::Frame) -> i64 {
        let (now, row) = (self.current * self.step, frame.draw as i64);
        let fill = now.div_euclid(row) * row + if now.rem_euclid(row) == 0 { 0 } else { row };
        fill / self.step - 1
    }

    /// The window in the title's words.
    fn window_words(&self, look: &Look, frame: &graph::Frame) -> String {
        use crate::calendar::Period as P;
        let short = |t: i64| self.calendar.format(t).chars().take(16).collect::<String>().replace('T', " ");
        match look.window {
            graph::Window::Last => format!("last {}", look.period.name()),
            graph::Window::Named(p) => match p {
                P::Today => "today",
                P::Yesterday => "yesterday",
                P::Week => "this week",
                P::LastWeek => "last week",
                P::Month => "this month",
                P::LastMonth => "last month",
                P::Cycle => "this billing cycle",
                P::LastCycle => "last billing cycle",
            }
            .to_string(),
            graph::Window::Between { .. } => format!("{} to {}", short(frame.start), short(frame.end)),
        }
    }

    fn graph(&mut self, of: GraphOf, look: Look) -> GraphReply {
        let step = self.cfg.step;
        if let Some((at, img)) = self.cache.get(&(of, look)) {
            if at.elapsed() < step {
                stats::inc(&self.stats.graph_cache_hits);
                return Ok(img.clone());
            }
        }
        let frame = self.frame(&look);
        let (image, figures) = match of {
            GraphOf::Subject(subject) => self.graph_subject(subject, &look, &frame)?,
            GraphOf::Overview(n) => (self.graph_overview(n, &look, &frame)?, None),
        };
        trim_heap();
        stats::inc(&self.stats.graphs_rendered);
        let img = Arc::new(Graph { image, window: (frame.start, frame.end), figures });
        let size = img.image.len();
        if self.cache.len() >= GRAPH_CACHE || self.cache_bytes + size > GRAPH_CACHE_BYTES {
            self.keep_graphs(|_, (at, _)| at.elapsed() < step);
            if self.cache.len() >= GRAPH_CACHE || self.cache_bytes + size > GRAPH_CACHE_BYTES {
                self.keep_graphs(|_, _| false);
            }
        }
        if size <= GRAPH_CACHE_BYTES {
            if let Some((_, old)) = self.cache.insert((of, look), (Instant::now(), img.clone())) {
                self.cache_bytes -= old.image.len();
            }
            self.cache_bytes += size;
        }
        Ok(img)
    }

    /// Keep the cached graphs `keep` says yes to.
    fn keep_graphs(&mut self, keep: impl Fn(&(GraphOf, Look), &Cached) -> bool) {
        self.cache.retain(|k, v| keep(k, v));
        self.cache_bytes = self.cache.values().map(|(_, g)| g.image.len()).sum();
    }

    /// A graph failed: counted, logged, and the request told.
    fn graph_failed(&self, what: &str, e: String) -> GraphError {
        stats::inc(&self.stats.graph_errors);
        warn!("archive: graph of {what}: {e}");
        GraphError::Failed(e)
    }

    fn render(&self, args: &[String], what: &str) -> Result<Vec<u8>, GraphError> {
        debug!("archive: graph of {what}: {args:?}");
        self.rrd.graph(args).map(|(image, _)| image).map_err(|RrdError(e)| self.graph_failed(what, e))
    }

    fn graph_subject(
        &mut self,
        subject: Subject,
        look: &Look,
        frame: &graph::Frame,
    ) -> Result<(Vec<u8>, Option<GraphFigures>), GraphError> {
        let copy = match self.current_copy(subject, self.fill_through(frame)) {
            Ok(Some(f)) => f,
            Ok(None) => return Err(GraphError::NotFound),
            Err(e) => return Err(self.graph_failed(&format!("{subject:?}"), e)),
        };
        let copy_path = PathBuf::from(format!("/proc/self/fd/{}", copy.as_raw_fd()));
        let ds = [subject.ds()[0], subject.ds()[1]];
        let labels = subject.legend();
        let title = match subject {
            Subject::Host(HostId::Ip(ip)) => match (self.host_names.get(ip), crate::net::key_mac(ip)) {
                (Some(n), _) => format!("{n} ({ip})"),
                // A device known by its MAC: the link-local address it goes by means nothing to anyone.
                (None, Some(mac)) => format!("Device {}", crate::net::fmt_mac(mac)),
                (None, None) => ip.to_string(),
            },
            Subject::Host(h) => format!("{h}"),
            Subject::Application(a) => format!("{a} (all local hosts)"),
            Subject::Interface(IfaceId::If { exporter, ifindex }) => {
                let router = self.names.exporter_name(exporter).map_or(exporter.to_string(), str::to_string);
                let title = match self.names.interface_name(exporter, ifindex) {
                    Some(n) => format!("{router} {n} (if {ifindex})"),
                    None => format!("{router} interface {ifindex}"),
                };
                title
            }
            Subject::Interface(IfaceId::Other) => "other interfaces".to_string(),
        };
        let subject_title = title;
        let title = format!("{subject_title} \u{2014} {}", self.window_words(look, frame));
        let figures = self
            .figures(subject, look, frame, &copy_path)
            .map_err(|e| self.graph_failed(&format!("{subject:?}"), e))?;
        let series = [(ds[0], labels[0]), (ds[1], labels[1])];
        let args = graph::args(&copy_path, &title, series, look, frame, &figures, self.calendar.zone_name());
        let image = self.render(&args, &format!("{subject:?}"))?;
        let f = |v: [f64; 2]| format!("in={:.0}, out={:.0}", v[0], v[1]);
        let p = |v: Option<f64>| v.map_or("none".to_string(), |x| format!("{x:.0}"));
        let shown = GraphFigures {
            totals: f(figures.totals),
            avg: f(figures.avg),
            max: f(figures.max),
            p95: format!("in={}, out={}", p(figures.p95[0]), p(figures.p95[1])),
            title: subject_title,
        };
        Ok((image, Some(shown)))
    }

    /// The legend's figures. Totals and the 95th percentile: for the last period, summed from the
    /// rows the graph is drawn from; over a window, exactly as the API answers the same window
    /// (a named period's totals are the day totals). The peak: the largest row of the MAX archive
    /// where rows consolidate steps (the average would flatten a burst), else of the steps.
    fn figures(
        &mut self,
        subject: Subject,
        look: &Look,
        frame: &graph::Frame,
        copy: &Path,
    ) -> Result<graph::Figures, String> {
        let row = frame.row as i64;
        let in_frame = |f: &crate::rrd::Fetched| -> Vec<(i64, [f64; 2])> {
            f.values
                .chunks_exact(f.ds.max(1))
                .enumerate()
                .map(|(r, v)| (f.start + r as i64 * f.step as i64, v))
                .filter(|(t, _)| (frame.start..frame.end).contains(t))
                .map(|(t, v)| (t, [v[0], v.get(1).copied().unwrap_or(f64::NAN)]))
                .collect()
        };
        let cf = if frame.consolidated() { crate::rrd::Cf::Max } else { crate::rrd::Cf::Average };
        let peaks = self.rrd.fetch_cf(copy, cf, frame.start, frame.end, frame.row).map_err(|e| e.0)?;
        let mut max = [f64::NAN; 2];
        for (_, r) in in_frame(&peaks) {
            for k in 0..2 {
                if r[k].is_finite() {
                    max[k] = if max[k].is_nan() { r[k] * 8.0 } else { max[k].max(r[k] * 8.0) };
                }
            }
        }
        let now = self.current * self.step;
        let (totals, p95, (from, to)) = match look.window {
            graph::Window::Last => {
                let rows = self.rrd.fetch(copy, frame.start, frame.end, row as u64).map_err(|e| e.0)?;
                let rows = in_frame(&rows);
                let mut sums = [0.0, 0.0];
                for (_, r) in &rows {
                    for k in 0..2 {
                        if r[k].is_finite() {
                            sums[k] += r[k] * row as f64;
                        }
                    }
                }
                // The copy holds 0 for the steps not counted yet: only the rows known by now.
                let known = self.known(subject);
                let bits = |k: usize| {
                    let known_rows = rows.iter().filter(|(t, _)| known.holds(*t, row));
                    crate::rrd::percentile_known(known_rows.map(|(_, r)| r[k] * 8.0), 95.0)
                };
                (sums, [bits(0), bits(1)], (frame.start, frame.end))
            }
            graph::Window::Named(_) | graph::Window::Between { .. } => {
                let (from, to) = match look.window {
                    graph::Window::Named(p) => self.named_bounds(p),
                    graph::Window::Between { from, to } => (from, to),
                    graph::Window::Last => (frame.start, frame.end),
                };
                let (a, b, res, _) = self.window_of(from, to);
                let known = self.known(subject);
                let w = match self.rows(subject, a, b, res)? {
                    Some(values) => window_row(subject, &values, a, res, known),
                    None => WindowRow { subject, counts: Counts::default(), p95_bps: [None; 2] },
                };
                let c = match look.window {
                    graph::Window::Named(p) => self.named_counts(p, subject),
                    _ => w.counts,
                };
                ([c.in_bytes as f64, c.out_bytes as f64], w.p95_bps, (from, to))
            }
        };
        let seconds = (to.min(now) - from).max(1) as f64;
        let avg = [totals[0] * 8.0 / seconds, totals[1] * 8.0 / seconds];
        Ok(graph::Figures { totals, avg, max, p95 })
    }

    /// Is there an archive to draw (a file, or steps held that will make one)?
    fn has_archive(&self, subject: Subject) -> bool {
        self.table.get(&subject).is_some_and(|t| !t.is_empty()) || self.path(&subject).exists()
    }

    /// What the overview of the `n` busiest local hosts over the window draws: the hosts ranked
    /// as `/api/hosts` ranks them for the same window (bytes received plus sent, then address),
    /// those without an archive left out, and the first interface named as the WAN.
    fn overview(&mut self, window: graph::Window, frame: &graph::Frame, n: usize) -> Overview {
        let n = n.clamp(1, graph::OVERVIEW_MAX_HOSTS);
        let (from, to) = match window {
            graph::Window::Last => (frame.start, frame.end),
            graph::Window::Named(p) => self.named_bounds(p),
            graph::Window::Between { from, to } => (from, to),
        };
        let ip_of = |s: &Subject| match s {
            Subject::Host(crate::views::HostId::Ip(ip)) => Some(*ip),
            _ => None,
        };
        let mut hosts: Vec<(std::net::IpAddr, Counts)> = match window {
            graph::Window::Named(p) => {
                let published = self.published.lock().map(|p| p.clone()).unwrap_or_default();
                published.of(p).filter_map(|(s, c)| ip_of(s).map(|ip| (ip, *c))).collect()
            }
            _ => self
                .totals("hosts", from, to)
                .rows
                .iter()
                .filter_map(|r| ip_of(&r.subject).map(|ip| (ip, r.counts)))
                .collect(),
        };
        let total = |c: &Counts| c.in_bytes.saturating_add(c.out_bytes);
        hosts.sort_by(|a, b| total(&b.1).cmp(&total(&a.1)).then_with(|| a.0.to_string().cmp(&b.0.to_string())));
        hosts.retain(|(ip, _)| self.has_archive(Subject::Host(crate::views::HostId::Ip(*ip))));
        hosts.truncate(n);
        let line = self.names.wan.first().map(|(k, _)| *k);
        let wan = match line {
            Some((exporter, ifindex)) => {
                let name = self
                    .names
                    .interface_name(exporter, ifindex)
                    .map_or_else(|| format!("if {ifindex}"), str::to_string);
                let subject = Subject::Interface(IfaceId::If { exporter, ifindex });
                if self.has_archive(subject) {
                    let counts = match window {
                        graph::Window::Named(p) => self.named_counts(p, subject),
                        _ => {
                            let (a, b, res, _) = self.window_of(from, to);
                            match self.rows(subject, a, b, res) {
                                Ok(Some(v)) => window_row(subject, &v, a, res, Known { from: a, to: b }).counts,
                                _ => Counts::default(),
                            }
                        }
                    };
                    Some(Wan { exporter, ifindex, name, counts })
                } else {
                    None
                }
            }
            None => None,
        };
        Overview { from: frame.start, to: frame.end, hosts, wan }
    }

    fn graph_overview(&mut self, n: usize, look: &Look, frame: &graph::Frame) -> Result<Vec<u8>, GraphError> {
        let plan = self.overview(look.window, frame, n);
        let through = self.fill_through(frame);
        // (copy, legend, colour, data sources); an archive that cannot be copied is left out.
        let mut drawn: Vec<(File, String, &'static str, [&'static str; 2])> = Vec::new();
        let wan = plan.wan.as_ref().map(|w| {
            (
                Subject::Interface(IfaceId::If { exporter: w.exporter, ifindex: w.ifindex }),
                w.name.clone(),
                graph::WAN_COLOUR,
            )
        });
        let hosts = plan
            .hosts
            .iter()
            .enumerate()
            .map(|(i, (ip, _))| (Subject::Host(crate::views::HostId::Ip(*ip)), ip.to_string(), graph::PALETTE[i]));
        let mut has_wan = false;
        for (subject, label, colour) in hosts.chain(wan) {
            match self.current_copy(subject, through) {
                Ok(Some(f)) => {
                    has_wan = matches!(subject, Subject::Interface(_));
                    drawn.push((f, label, colour, [subject.ds()[0], subject.ds()[1]]));
                }
                Ok(None) => {}
                Err(e) => {
                    stats::inc(&self.stats.graph_errors);
                    warn!("archive: overview without {subject:?}: {e}");
                }
            }
        }
        let paths: Vec<PathBuf> =
            drawn.iter().map(|(f, ..)| PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()))).collect();
        // The largest value drawn (either stack, or the WAN's lines) picks the axis unit.
        let rows = ((frame.end - frame.start) / frame.row as i64 + 1) as usize;
        let mut stacks = vec![[0.0f64; 2]; rows];
        let mut peak: f64 = 0.0;
        for (i, path) in paths.iter().enumerate() {
            let Ok(f) = self.rrd.fetch(path, frame.start, frame.end, frame.row) else { continue };
            let is_wan = has_wan && i == paths.len() - 1;
            for (r, v) in f.values.chunks_exact(f.ds.max(1)).enumerate() {
                let t = f.start + r as i64 * f.step as i64;
                if !(frame.start..frame.end).contains(&t) || f.ds < 2 {
                    continue;
                }
                let at = ((t - frame.start) / frame.row as i64) as usize;
                for k in 0..2 {
                    let v = if v[k].is_finite() { v[k] * 8.0 } else { 0.0 };
                    if is_wan {
                        peak = peak.max(v);
                    } else if let Some(s) = stacks.get_mut(at) {
                        s[k] += v;
                    }
                }
            }
        }
        peak = stacks.iter().flatten().fold(peak, |m, v| m.max(*v));
        let bands: Vec<graph::Band> = drawn
            .iter()
            .zip(&paths)
            .map(|((_, label, colour, ds), path)| graph::Band { file: path, ds: *ds, label, colour })
            .collect();
        let (host_bands, wan_band) =
            if has_wan { (&bands[..bands.len() - 1], bands.last()) } else { (&bands[..], None) };
        let title = format!("Top {} local hosts \u{2014} {}", host_bands.len(), self.window_words(look, frame));
        let args = graph::overview_args(host_bands, wan_band, look, frame, peak, &title, self.calendar.zone_name());
        self.render(&args, "the overview")
    }

    fn open_history(&mut self) {
        let slot_seconds = self.step.max(3600);
        let geo = Geometry {
            slots: (self.history_cfg.top_days * 86_400).div_ceil(slot_seconds as u64).max(1) as u32,
            conv_rows: self.history_cfg.top_rows as u32,
            port_rows: self.history_cfg.top_rows as u32,
            slot_seconds: slot_seconds as u32,
            app_rows: self.history_cfg.top_rows as u32,
        };
        let path = self.cfg.dir.join("history").join("topk.fph");
        let opened =
            std::fs::create_dir_all(path.parent().expect("has a parent")).and_then(|()| History::open(&path, geo));
        match opened {
            Ok(h) => self.history = Some(h),
            Err(e) => error!(
                "archive: cannot open {}: {e}; conversations and ports over past windows are unavailable",
                path.display()
            ),
        }
    }

    /// What arrived since the last hand-over, as that stretch's top-k deltas in RAM.
    fn recent_due(&mut self) {
        let now = self.current * self.step;
        let start = self.recent_at.replace(now).unwrap_or(now);
        let apps = host_apps(&self.names);
        self.recent.push(start, now, &self.names.conversations, &self.names.ports, &apps);
        let (rows, steps) = self.recent.size();
        stats::set(&self.stats.recent_rows, rows as u64);
        stats::set(&self.stats.recent_steps, steps as u64);
        stats::set(&self.stats.recent_steps_dropped, self.recent.dropped);
    }

    /// At the first step of a new slot window, the one that ended gets its deltas.
    fn history_due(&mut self) {
        let Some(h) = &self.history else { return };
        let now = self.current * self.step;
        let slot = h.slot_start(now);
        match self.slot {
            Some(s) if s != slot => {
                self.record_history(s);
                self.slot = Some(slot);
            }
            Some(_) => {}
            None => self.slot = Some(slot),
        }
    }

    fn record_history(&mut self, slot: i64) {
        let Some(h) = &mut self.history else { return };
        let talks = self.baseline.delta_talks(&self.names.conversations);
        let ports = self.baseline.delta_ports(&self.names.ports);
        let apps = self.baseline.delta_apps(&host_apps(&self.names));
        let bad = h.bad_slots_seen;
        match h.record(slot, &talks, &ports, &apps) {
            Ok(bytes) => {
                stats::inc(&self.stats.history_writes);
                stats::add(&self.stats.history_bytes, bytes);
            }
            Err(e) => {
                stats::inc(&self.stats.history_errors);
                if let Some(n) = self.update_errors.check() {
                    warn!("archive: cannot write the top-k history: {e} ({n} similar messages suppressed)");
                }
            }
        }
        stats::add(&self.stats.history_bad_slots, h.bad_slots_seen - bad);
    }

    fn query(&mut self, q: Query) -> Result<Answer, String> {
        stats::inc(&self.stats.window_queries);
        match q {
            Query::Totals { dir, from, to } => Ok(Answer::Totals(self.totals(dir, from, to))),
            Query::Overview { window, n } => {
                // As the graph of the last day draws it, at the default size, when no window is given.
                let (width, height, format) = (graph::DEFAULT_WIDTH, graph::DEFAULT_HEIGHT, graph::Format::Png);
                let look = Look { period: graph::Period::Day, format, width, height, window };
                let frame = self.frame(&look);
                Ok(Answer::Overview(self.overview(window, &frame, n)))
            }
            Query::Series { subject, from, to } => {
                let (from, to, res, past) = self.window_of(from, to);
                let values = self.rows(subject, from, to, res)?.ok_or_else(|| "no such archive".to_string())?;
                let points = values.iter().enumerate().map(|(i, v)| (from + i as i64 * res, v[0], v[1])).collect();
                let known = self.known(subject);
                let row = window_row(subject, &values, from, res, known);
                let window = Window { from, to, resolution: res as u64, reaches_past_kept: past, rows: vec![row] };
                Ok(Answer::Series(Series { window, points }))
            }
            Query::Top { from, to } => {
                // Within the recent steps: answered to the step, from RAM.
                if let Some(w) = self.recent.query(from, to) {
                    return Ok(Answer::Top(w));
                }
                let h = self.history.as_ref().ok_or_else(|| "the top-k history is unavailable".to_string())?;
                let now = (self.current + 1) * self.step;
                let mut w = h.query_at(now, from, to).map_err(|e| e.to_string())?;
                stats::add(&self.stats.history_bad_slots, w.bad_slots);
                // The slot being filled is not written yet: its deltas so far come from RAM.
                let live = h.slot_start(now - 1);
                if to > live && from < now {
                    let mut b = self.baseline.clone();
                    let talks = b.delta_talks(&self.names.conversations);
                    let ports = b.delta_ports(&self.names.ports);
                    let apps = b.delta_apps(&host_apps(&self.names));
                    w.add_live(&talks, &ports, &apps);
                    if w.slots_read == 0 {
                        w.from = live;
                    }
                    w.slots_read += 1;
                    w.to = w.to.max(h.slot_start(now - 1) + h.geometry().slot_seconds as i64);
                }
                // Whole slots were read: exact only for a window on their boundaries (or running
                // to now, where the live slot ends).
                w.exact_bounds = w.slots_read > 0 && w.from == from && (w.to == to || to >= now);
                Ok(Answer::Top(w))
            }
        }
    }

    /// Every archive of a kind (`Subject::dir`) with traffic in `[from, to)`.
    fn totals(&mut self, dir: &'static str, from: i64, to: i64) -> Window {
        let (from, to, res, past) = self.window_of(from, to);
        let mut subjects: HashSet<Subject> = self.table.keys().filter(|s| s.dir() == dir).copied().collect();
        if let Ok(rd) = std::fs::read_dir(self.cfg.dir.join(dir)) {
            subjects
                .extend(rd.flatten().filter_map(|e| e.file_name().to_str().and_then(|n| schema::subject_of(dir, n))));
        }
        let mut subjects: Vec<Subject> = subjects.into_iter().collect();
        subjects.sort();
        let mut rows = Vec::new();
        for subject in subjects {
            match self.rows(subject, from, to, res) {
                Ok(Some(values)) => {
                    let known = self.known(subject);
                    let row = window_row(subject, &values, from, res, known);
                    if !row.counts.is_zero() {
                        rows.push(row);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    stats::inc(&self.stats.window_errors);
                    if let Some(n) = self.update_errors.check() {
                        warn!("archive: window of {subject:?}: {e} ({n} similar messages suppressed)");
                    }
                }
            }
        }
        Window { from, to, resolution: res as u64, reaches_past_kept: past, rows }
    }

    /// A window aligned to the rows of the finest archive that still holds its start (as
    /// `rrd_fetch` picks): `[from, to)` widened to whole rows, never past the current step's row.
    fn window_of(&self, from: i64, to: i64) -> (i64, i64, i64, bool) {
        let now = (self.current + 1) * self.step;
        let tiers = schema::tiers(self.step as u64);
        let fits = tiers.iter().find(|t| now - (t.rows * t.steps) as i64 * self.step <= from);
        let t = fits.or(tiers.last()).copied().unwrap_or(schema::Tier { steps: 1, rows: 1 });
        let res = t.steps as i64 * self.step;
        // Nothing older than the coarsest archive's span exists: a window reaching further is cut
        // there (and says so), so a request for year 1 cannot make a row per day since then.
        let oldest = now - (t.rows * t.steps) as i64 * self.step - res;
        let to = to.min(now);
        let from = from.max(oldest).min(to);
        let (a, b) =
            (from.div_euclid(res) * res, to.div_euclid(res) * res + if to.rem_euclid(res) == 0 { 0 } else { res });
        (a, b, res, fits.is_none())
    }

    /// The file's rows of `w` seconds starting in `[from, to)`: (row start, the four per-second
    /// averages). An error if librrd answers from an archive of another width.
    fn fetch_rows(&self, path: &Path, from: i64, to: i64, w: i64) -> Result<Vec<(i64, [f64; 4])>, String> {
        let f = self.rrd.fetch(path, from, to, w as u64).map_err(|e| e.0)?;
        if f.step as i64 != w || f.ds < 4 {
            return Err(format!("{} answered rows of {} s, not {w} s", path.display(), f.step));
        }
        Ok(f.values
            .chunks_exact(f.ds)
            .enumerate()
            .map(|(r, v)| (f.start + r as i64 * w, [v[0], v[1], v[2], v[3]]))
            .filter(|(t, _)| (from..to).contains(t))
            .collect())
    }

    /// An archive's rows of `res` seconds over `[from, to)` (aligned): per-second averages of the
    /// four data sources, NaN where unknown. From the file: its rows of that width up to the last
    /// complete one, then its single-step rows, then the steps held in RAM (what the file lacks).
    /// `None` when there is neither file nor anything held.
    fn rows(&mut self, subject: Subject, from: i64, to: i64, res: i64) -> Result<Option<Vec<[f64; 4]>>, String> {
        let n = ((to - from) / res).max(0) as usize;
        let path = self.path(&subject);
        let held = self.table.get(&subject).is_some_and(|t| !t.is_empty());
        let next = if path.exists() { self.file(subject).next } else { None };
        if next.is_none() && !held {
            return Ok(None);
        }
        let mut out = vec![[f64::NAN; 4]; n];
        let file_end = next.map_or(from, |n| n * self.step);
        // Rows of `res` complete in the file.
        let coarse_end = file_end.div_euclid(res) * res;
        let mut sums = vec![[0.0f64; 4]; n];
        let mut known = vec![false; n];
        if next.is_some() && coarse_end > from {
            for (t, v) in self.fetch_rows(&path, from, coarse_end.min(to), res)? {
                out[((t - from) / res) as usize] = v;
            }
        }
        // After the last complete row of `res`, the file's finer rows, each archive up to its
        // own last complete row, down to single steps (each tier spans more than a row of the
        // next coarser one, so it still holds that stretch).
        let widths: Vec<i64> = schema::tiers(self.step as u64).iter().map(|t| t.steps as i64 * self.step).collect();
        let mut done = coarse_end.max(from);
        for w in widths.iter().rev().copied().filter(|w| *w < res) {
            let end = if w == self.step { file_end } else { file_end.div_euclid(w) * w }.min(to);
            if next.is_none() || end <= done {
                continue;
            }
            for (t, v) in self.fetch_rows(&path, done, end, w)? {
                let i = ((t - from) / res) as usize;
                known[i] = true;
                for k in 0..4 {
                    if v[k].is_finite() {
                        sums[i][k] += v[k] * w as f64;
                    }
                }
            }
            done = end;
        }
        // Steps held in RAM, and the rows they fall in.
        let ram_from = file_end.max(from);
        if let Some(series) = self.table.get(&subject) {
            for h in series {
                let t = h.step() * self.step;
                if t >= ram_from && t < to {
                    let i = ((t - from) / res) as usize;
                    let c = h.counts;
                    for (k, v) in [c.in_bytes, c.out_bytes, c.in_packets, c.out_packets].into_iter().enumerate() {
                        sums[i][k] += v as f64;
                    }
                }
            }
        }
        // Rows after the file's last complete one are known: what was not counted was 0.
        let open_from = coarse_end.max(from);
        for i in 0..n {
            let t = from + i as i64 * res;
            if t >= open_from || known[i] {
                for k in 0..4 {
                    out[i][k] = sums[i][k] / res as f64;
                }
            }
        }
        Ok(Some(out))
    }
}

/// Each local host's bytes per application since start, as history rows.
fn host_apps(snap: &Snapshot) -> Vec<HostApp> {
    let mut out = Vec::new();
    for ((id, _), d) in snap.hosts.iter().zip(&snap.host_details) {
        if let crate::views::HostId::Ip(host) = id {
            out.extend(d.apps.iter().map(|(app, rx, tx)| HostApp {
                host: *host,
                app: *app,
                rx: *rx,
                tx: *tx,
                error: 0,
            }));
        }
    }
    out
}

/// An archive's totals (bytes the rows hold, rounded: the file keeps per-second rates) and the
/// 95th percentile of its two byte series in bits/s over the rows `known` holds; `values[i]` is
/// the row starting at `from + i × res`.
fn window_row(subject: Subject, values: &[[f64; 4]], from: i64, res: i64, known: Known) -> WindowRow {
    let mut sums = [0.0f64; 4];
    for v in values {
        for k in 0..4 {
            if v[k].is_finite() {
                sums[k] += v[k] * res as f64;
            }
        }
    }
    let counts = Counts {
        in_bytes: sums[0].round() as u64,
        out_bytes: sums[1].round() as u64,
        in_packets: sums[2].round() as u64,
        out_packets: sums[3].round() as u64,
    };
    let bits = |k: usize| {
        let rows = values.iter().enumerate().filter(|(i, _)| known.holds(from + *i as i64 * res, res));
        crate::rrd::percentile_known(rows.map(|(_, r)| r[k] * 8.0), 95.0)
    };
    WindowRow { subject, counts, p95_bps: [bits(0), bits(1)] }
}

/// Room for one more step, growing by doubling but never past `most` (the steps an archive can
/// hold between two writes), so a busy archive's RAM is what it holds, not twice that.
fn reserve(series: &mut VecDeque<Held>, most: usize) {
    if series.len() == series.capacity() {
        let want = (series.capacity() * 2).max(16).min(most).max(series.len() + 1);
        series.reserve_exact(want - series.len());
    }
}

/// Hand the heap freed by a graph (librrd, cairo and pango allocate a few MB to draw) back to
/// the system, so the resident size stays what the tables need.
fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory at the top of glibc's heaps.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// An anonymous file in RAM, gone when closed.
fn memfd() -> std::io::Result<File> {
    // SAFETY: a valid NUL-terminated name; the returned descriptor is owned by the File.
    let fd = unsafe { libc::memfd_create(c"flowpi-graph".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a new descriptor nobody else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}
