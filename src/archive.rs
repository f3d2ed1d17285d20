//! The archive thread: the only caller of librrd. It creates and updates one RRD file per host and
//! interface every step, and renders graphs for the HTTP threads (cached for one step).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log::{debug, error, info, warn};

use crate::aggregate::{Counts, HostId, IfaceId, Snapshot};
use crate::config::ArchiveConfig;
use crate::ratelimit::RateLimit;
use crate::rrd::graph::{self, Look};
use crate::rrd::{is_illegal_time, schema, Rrd, RrdError};
use crate::stats::{self, Stats};

/// Which archive a graph reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    Host(HostId),
    Interface(IfaceId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    /// No archive exists for that host or interface.
    NotFound,
    /// The archive thread did not answer in time or has stopped.
    Unavailable,
    Failed(String),
}

type GraphReply = Result<Arc<Vec<u8>>, GraphError>;

enum Request {
    Step { snapshot: Arc<Snapshot> },
    Graph { subject: Subject, look: Look, reply: SyncSender<GraphReply> },
    Shutdown { snapshot: Arc<Snapshot> },
}

/// How other threads talk to the archive thread. Cheap to clone.
#[derive(Clone)]
pub struct ArchiveHandle {
    tx: SyncSender<Request>,
}

/// How long an HTTP thread waits for a graph before answering 503.
const GRAPH_TIMEOUT: Duration = Duration::from_secs(20);
/// Requests that may wait for the archive thread; a step snapshot blocks the collector only if
/// this many graphs are queued ahead of it.
const REQUEST_QUEUE: usize = 64;
/// Graphs kept in the cache at most (each a few tens of KB).
const GRAPH_CACHE: usize = 128;

impl ArchiveHandle {
    /// Hand over a step's totals. Blocks only while the request queue is full.
    pub fn step(&self, snapshot: Arc<Snapshot>) -> bool {
        self.tx.send(Request::Step { snapshot }).is_ok()
    }

    pub fn shutdown(&self, snapshot: Arc<Snapshot>) -> bool {
        self.tx.send(Request::Shutdown { snapshot }).is_ok()
    }

    pub fn graph(&self, subject: Subject, look: Look) -> GraphReply {
        let (reply, rx) = mpsc::sync_channel(1);
        self.tx.try_send(Request::Graph { subject, look, reply }).map_err(|_| GraphError::Unavailable)?;
        rx.recv_timeout(GRAPH_TIMEOUT).map_err(|_| GraphError::Unavailable)?
    }
}

struct FileState {
    path: PathBuf,
    /// Totals already written; the next update writes what has come since.
    written: Counts,
    /// The file's last update time (wall clock, seconds).
    last_update: i64,
}

/// Built inert by [`Archive::new`]; [`Archive::spawn`] starts the thread.
pub struct Archive {
    cfg: ArchiveConfig,
    stats: Arc<Stats>,
    alive: Arc<AtomicU64>,
    rx: Receiver<Request>,
}

impl Archive {
    pub fn new(cfg: &ArchiveConfig, stats: Arc<Stats>, alive: Arc<AtomicU64>) -> (Archive, ArchiveHandle) {
        let (tx, rx) = mpsc::sync_channel(REQUEST_QUEUE);
        (Archive { cfg: cfg.clone(), stats, alive, rx }, ArchiveHandle { tx })
    }

    /// Check the archive directory is usable, then start the thread.
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        for sub in ["hosts", "interfaces"] {
            std::fs::create_dir_all(self.cfg.dir.join(sub)).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot create {}: {e}", self.cfg.dir.join(sub).display()))
            })?;
        }
        std::thread::Builder::new().name("archive".into()).spawn(move || self.run())
    }

    fn run(self) {
        let rrd = Rrd::claim().expect("the archive thread is the only librrd user");
        info!("archive: librrd {} writing to {}", rrd.version(), self.cfg.dir.display());
        let mut w = Worker {
            rrd,
            cfg: self.cfg,
            stats: self.stats,
            files: HashMap::new(),
            cache: HashMap::new(),
            update_errors: RateLimit::new(Duration::from_secs(60)),
            names: Arc::new(Snapshot::default()),
        };
        loop {
            stats::inc(&self.alive);
            match self.rx.recv_timeout(Duration::from_secs(1)) {
                Ok(Request::Step { snapshot }) => {
                    w.write(&snapshot);
                    w.names = snapshot;
                }
                Ok(Request::Graph { subject, look, reply }) => {
                    let _ = reply.try_send(w.graph(subject, look));
                }
                Ok(Request::Shutdown { snapshot }) => {
                    w.final_write(&snapshot);
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

fn wall_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

struct Worker {
    rrd: Rrd,
    cfg: ArchiveConfig,
    stats: Arc<Stats>,
    files: HashMap<Subject, FileState>,
    cache: HashMap<(Subject, Look), (Instant, Arc<Vec<u8>>)>,
    update_errors: RateLimit,
    /// The latest snapshot, for exporter and interface names in graph titles.
    names: Arc<Snapshot>,
}

impl Worker {
    fn step(&self) -> u64 {
        self.cfg.step.as_secs()
    }

    fn path(&self, s: &Subject) -> PathBuf {
        match s {
            Subject::Host(h) => schema::host_path(&self.cfg.dir, h),
            Subject::Interface(i) => schema::interface_path(&self.cfg.dir, i),
        }
    }

    fn write(&mut self, snap: &Snapshot) {
        let now = wall_now();
        let hosts = snap.hosts.iter().map(|(h, c)| (Subject::Host(*h), *c));
        let ifaces = snap.interfaces.iter().map(|(i, c)| (Subject::Interface(*i), *c));
        for (subject, totals) in hosts.chain(ifaces) {
            self.update(subject, totals, now);
        }
    }

    /// The last write at shutdown: wait (at most a second) until the wall clock has passed every
    /// file's last update, so the final counts are not refused as "illegal update time".
    fn final_write(&mut self, snap: &Snapshot) {
        let newest = self.files.values().map(|f| f.last_update).max().unwrap_or(0);
        let deadline = Instant::now() + Duration::from_millis(1100);
        while wall_now() <= newest && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.write(snap);
        info!("archive: final update of {} archives written", self.files.len());
    }

    fn open(&mut self, subject: Subject, now: i64) -> Option<&mut FileState> {
        if !self.files.contains_key(&subject) {
            let path = self.path(&subject);
            let existing = match path.exists().then(|| self.rrd.last(&path)) {
                Some(Ok(t)) => Some(t),
                // Unreadable (truncated by a full card, overwritten): it would never take an update
                // again, so it makes way for a new one.
                Some(Err(e)) => {
                    if !self.set_aside(&path, &e, now) {
                        return None;
                    }
                    None
                }
                None => None,
            };
            let last_update = match existing {
                Some(t) => t,
                None => {
                    let ds = match subject {
                        Subject::Host(_) => &schema::HOST_DS,
                        Subject::Interface(_) => &schema::IFACE_DS,
                    };
                    // Start one step back so the first update covers one step of traffic.
                    let start = now - self.step() as i64;
                    if let Err(e) = self.rrd.create(&path, self.step(), start, &schema::create_args(ds, self.step())) {
                        stats::inc(&self.stats.archive_create_errors);
                        error!("archive: cannot create {}: {e}", path.display());
                        return None;
                    }
                    stats::inc(&self.stats.archive_creates);
                    debug!("archive: created {}", path.display());
                    start
                }
            };
            self.files.insert(subject, FileState { path, written: Counts::default(), last_update });
        }
        self.files.get_mut(&subject)
    }

    /// Rename a broken archive to `NAME.rrd.broken-TIME` (kept for whoever wants to look), counted
    /// and logged once: the file is then created anew. False when it cannot be moved.
    fn set_aside(&mut self, path: &Path, e: &RrdError, now: i64) -> bool {
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
                true
            }
            Err(re) => {
                stats::inc(&self.stats.archive_update_errors);
                if let Some(n) = self.update_errors.check() {
                    warn!("archive: {} is unreadable ({e}) and cannot be moved aside: {re} ({n} similar messages suppressed)", path.display());
                }
                false
            }
        }
    }

    fn update(&mut self, subject: Subject, totals: Counts, now: i64) {
        let stats = self.stats.clone();
        let Some(f) = self.open(subject, now) else { return };
        if now <= f.last_update {
            // Clock stepped back, or two updates within one second: keep the counts for the next.
            stats::inc(&stats.archive_illegal_time);
            return;
        }
        let d = totals.since(&f.written);
        let value = format!("{now}:{}:{}:{}:{}", d.in_bytes, d.out_bytes, d.in_packets, d.out_packets);
        let path = f.path.clone();
        match self.rrd.update(&path, &[value]) {
            Ok(()) => {
                stats::inc(&stats.archive_updates);
                let f = self.files.get_mut(&subject).expect("opened above");
                f.written = totals;
                f.last_update = now;
            }
            Err(e) if is_illegal_time(&e) => {
                stats::inc(&stats.archive_illegal_time);
                // The file knows its last update better than we do (another writer, a clock step).
                let t = self.rrd.last(&path).unwrap_or(now);
                if let Some(f) = self.files.get_mut(&subject) {
                    f.last_update = t;
                }
            }
            Err(e) if self.rrd.last(&path).is_err() => {
                // Broken under us: set it aside and start a new file now. What was counted since
                // the last good update goes into the new file at the next step.
                let written = self.files.remove(&subject).map(|f| f.written).unwrap_or_default();
                if self.set_aside(&path, &e, now) {
                    if let Some(f) = self.open(subject, now) {
                        f.written = written;
                    }
                }
            }
            Err(e) => {
                stats::inc(&stats.archive_update_errors);
                if let Some(n) = self.update_errors.check() {
                    warn!("archive: update of {} failed: {e} ({n} similar messages suppressed)", path.display());
                }
            }
        }
    }

    fn graph(&mut self, subject: Subject, look: Look) -> GraphReply {
        let step = self.cfg.step;
        if let Some((at, img)) = self.cache.get(&(subject, look)) {
            if at.elapsed() < step {
                stats::inc(&self.stats.graph_cache_hits);
                return Ok(img.clone());
            }
        }
        let path = self.path(&subject);
        if !path.exists() {
            return Err(GraphError::NotFound);
        }
        let (title, ds, labels) = match subject {
            Subject::Host(h) => (format!("{h}"), ["rx_bytes", "tx_bytes"], ["Received", "Sent"]),
            Subject::Interface(IfaceId::If { exporter, ifindex }) => {
                let router = self.names.exporter_name(exporter).map_or(exporter.to_string(), str::to_string);
                let title = match self.names.interface_name(exporter, ifindex) {
                    Some(n) => format!("{router} {n} (if {ifindex})"),
                    None => format!("{router} interface {ifindex}"),
                };
                (title, ["in_bytes", "out_bytes"], ["In", "Out"])
            }
            Subject::Interface(IfaceId::Other) => {
                ("other interfaces".to_string(), ["in_bytes", "out_bytes"], ["In", "Out"])
            }
        };
        let title = format!("{title} \u{2014} last {}", look.period.name());
        let args = graph::args(&path, &title, ds, labels, &look);
        match self.rrd.graph(&args) {
            Ok(img) => {
                stats::inc(&self.stats.graphs_rendered);
                let img = Arc::new(img);
                if self.cache.len() >= GRAPH_CACHE {
                    self.cache.retain(|_, (at, _)| at.elapsed() < step);
                    if self.cache.len() >= GRAPH_CACHE {
                        self.cache.clear();
                    }
                }
                self.cache.insert((subject, look), (Instant::now(), img.clone()));
                Ok(img)
            }
            Err(RrdError(e)) => {
                stats::inc(&self.stats.graph_errors);
                warn!("archive: graph of {} failed: {e}", path.display());
                Err(GraphError::Failed(e))
            }
        }
    }
}
