//! The collector: UDP sockets, decode, aggregate, and the step timer that snapshots the tables for
//! the archive thread. One task owns all of it, so the tables need no lock and a datagram costs no
//! allocation; the kernel's socket buffer (collector.receive_buffer) is the only queue, drained a
//! batch per system call.

use std::future::poll_fn;
use std::hash::Hasher;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::time::MissedTickBehavior;

use crate::archive::{ArchiveHandle, Stamp};
use crate::config::Config;
use crate::decode::exporter::SavedState;
use crate::decode::{DecodeError, Decoder};
use crate::net::IpNet;
use crate::ratelimit::RateLimit;
use crate::recv::Batch;
use crate::stats::{self, Stats};
use crate::views::{wall_ms, Snapshot, Views};

/// The latest totals, for the HTTP API. Replaced whole once a second.
pub struct Published {
    pub started: Instant,
    snapshot: RwLock<Arc<Snapshot>>,
}

impl Published {
    pub fn new() -> Self {
        Published { started: Instant::now(), snapshot: RwLock::new(Arc::new(Snapshot::default())) }
    }

    pub fn get(&self) -> Arc<Snapshot> {
        self.snapshot.read().map(|s| s.clone()).unwrap_or_default()
    }

    fn set(&self, s: Arc<Snapshot>) {
        if let Ok(mut g) = self.snapshot.write() {
            *g = s;
        }
    }
}

impl Default for Published {
    fn default() -> Self {
        Self::new()
    }
}

/// Under archive.dir: what the decoder learnt from exporters (templates, samplers, names).
pub const STATE_FILE: &str = "exporters.json";

/// collector.state_write_budget's default: exporters.json may cost the card 4 MiB a day. A router's
/// state is a few kB (one 4 KiB page a save, only when it changes). Exporters that change their
/// templates and names every second save what collector.max_template_bytes and the names of
/// interfaces seen in flows allow, under 1 MB, so a few times a day: against the 22 MB a day the
/// archives cost at 64 hosts, where such churn cost 10 to 84 GB a day before.
pub const STATE_WRITE_BUDGET: u64 = 4 << 20;

/// A card writes whole pages: a 300-byte file costs 4 KiB.
const PAGE: u64 = 4096;

/// Batches taken from the sockets before the timers are looked at again.
const ROUNDS: usize = 16;
/// exporters.json is rewritten at most this often, whatever arrives (a template flood would
/// otherwise rewrite it every second), and at stop.
const STATE_SAVE_EVERY: Duration = Duration::from_secs(60);

/// The card writes exporters.json may cost: a bucket holding at most half a day's budget and
/// filled at half a day's budget a day. Any 24 hours then write at most what it held plus what
/// came in, one budget, however the saves fall; a quiet day fills it for a burst of changes.
/// Counted per run: a restart starts it full (restarts are systemd's to limit).
struct WriteBudget {
    per_day: u64,
    /// Bytes that may be written now, and when that was reckoned.
    tokens: f64,
    at: Option<Instant>,
}

impl WriteBudget {
    fn new(per_day: u64) -> WriteBudget {
        WriteBudget { per_day, tokens: (per_day / 2) as f64, at: None }
    }

    /// The largest save that can ever be made.
    fn capacity(&self) -> u64 {
        self.per_day / 2
    }

    /// Take `bytes` if they are there.
    fn take(&mut self, bytes: u64, now: Instant) -> bool {
        let cap = self.capacity() as f64;
        if let Some(at) = self.at {
            self.tokens = (self.tokens + now.duration_since(at).as_secs_f64() * cap / 86_400.0).min(cap);
        }
        self.at = Some(now);
        if bytes as f64 > self.tokens {
            return false;
        }
        self.tokens -= bytes as f64;
        true
    }
}

/// What a save of exporters.json came to.
#[derive(Debug, PartialEq, Eq)]
enum Save {
    Written,
    /// The same bytes as the file holds: nothing written.
    Unchanged,
    /// Not now: collector.state_write_budget is spent, or the write failed.
    Later,
}

pub struct Collector {
    listen: Vec<SocketAddr>,
    receive_buffer: usize,
    /// collector.allow: senders whose datagrams are decoded; empty = every sender.
    allow: Vec<IpNet>,
    /// `[[exporter]] wan`: the interfaces each exporter's config names as the internet line.
    wan: std::collections::HashMap<std::net::IpAddr, Vec<u32>>,
    step: Duration,
    agg: Views,
    decoder: Decoder,
    /// Templates, sampling rates and interface names, kept across restarts.
    state_file: PathBuf,
    budget: WriteBudget,
    /// A hash of what the file holds, so an unchanged state is not written again.
    state_hash: Option<u64>,
    /// A save larger than the budget could ever allow was reported.
    too_large_told: bool,
    archive: ArchiveHandle,
    published: Arc<Published>,
    stats: Arc<Stats>,
    alive: Arc<AtomicU64>,
    limits: [RateLimit; DecodeError::KINDS],
}

impl Collector {
    pub fn new(
        cfg: &Config,
        stats: Arc<Stats>,
        archive: ArchiveHandle,
        published: Arc<Published>,
        alive: Arc<AtomicU64>,
    ) -> Collector {
        let mut agg = Views::new(
            cfg.network.local.clone(),
            crate::views::Applications::new(&cfg.views.applications),
            &cfg.bounds(),
            cfg.archive.open_steps(),
            cfg.archive.step,
            stats.clone(),
        );
        let interfaces_only: Vec<std::net::IpAddr> =
            cfg.exporters.iter().filter(|(_, o)| !o.devices).map(|(ip, _)| *ip).collect();
        agg.set_interfaces_only(&interfaces_only);
        agg.set_devices(&cfg.names.devices, cfg.views.device_addresses);
        agg.set_learning(cfg.network.learn, cfg.network.max_learned);
        // The configured line is known before the first record (the traffic's only after a
        // snapshot has looked): what crosses it is learned from the first datagram on.
        let configured: Vec<_> =
            cfg.exporters.iter().flat_map(|(ip, o)| o.wan.iter().flatten().map(|i| (*ip, *i))).collect();
        agg.set_configured_wan(&configured);
        let decoder = Decoder::new(cfg.collector.limits.clone(), cfg.exporters.clone(), stats.clone())
            .with_max_senders(cfg.doctor.max_senders);
        Collector {
            listen: cfg.collector.listen.clone(),
            receive_buffer: cfg.collector.receive_buffer,
            allow: cfg.collector.allow.clone(),
            wan: cfg.exporters.iter().filter_map(|(ip, o)| o.wan.clone().map(|w| (*ip, w))).collect(),
            step: cfg.archive.step,
            agg,
            decoder,
            state_file: cfg.archive.dir.join(STATE_FILE),
            budget: WriteBudget::new(cfg.collector.state_write_budget),
            state_hash: None,
            too_large_told: false,
            archive,
            published,
            stats,
            alive,
            limits: std::array::from_fn(|_| RateLimit::new(Duration::from_secs(10))),
        }
    }

    /// Bind every listen address; the first failure is fatal (a collector that silently misses a
    /// configured port would be worse).
    pub fn bind(&self) -> std::io::Result<Vec<StdUdpSocket>> {
        let mut granted_min = usize::MAX;
        let mut out = Vec::new();
        for addr in &self.listen {
            let s = Socket::new(Domain::for_address(*addr), Type::DGRAM, Some(Protocol::UDP))?;
            if addr.is_ipv6() {
                // So "[::]:2055" and "0.0.0.0:2055" can both be listed.
                s.set_only_v6(true)?;
            }
            if self.receive_buffer > 0 {
                // Routers send bursts at each flow-cache expiry; the kernel caps the request at
                // net.core.rmem_max, so log what was granted.
                if let Err(e) = s.set_recv_buffer_size(self.receive_buffer) {
                    warn!("collector: SO_RCVBUF {} on {addr}: {e}", self.receive_buffer);
                }
            }
            s.bind(&(*addr).into())
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot bind UDP {addr}: {e}")))?;
            s.set_nonblocking(true)?;
            let granted = s.recv_buffer_size().unwrap_or(0);
            granted_min = granted_min.min(granted);
            let local = s.local_addr().ok().and_then(|a| a.as_socket()).unwrap_or(*addr);
            info!(
                "collector: listening on udp {local} (receive buffer {granted} bytes, asked {})",
                self.receive_buffer
            );
            out.push(s.into());
        }
        stats::set(&self.stats.socket_rcvbuf_bytes, granted_min as u64);
        Ok(out)
    }

    /// Receive until `shutdown` resolves, then hand the final totals to the archive thread.
    pub async fn run(mut self, sockets: Vec<StdUdpSocket>, shutdown: impl std::future::Future<Output = ()>) {
        let sockets: Vec<UdpSocket> = match sockets.into_iter().map(UdpSocket::from_std).collect() {
            Ok(s) => s,
            Err(e) => {
                warn!("collector: cannot register sockets: {e}");
                return;
            }
        };
        self.load_state();
        tokio::pin!(shutdown);
        let mut batch = Batch::new();
        let step_ms = self.step.as_millis() as i64;
        // Steps end on wall-clock boundaries (multiples of the step since the epoch), the same for
        // every run, so a file's rows line up with the steps counted.
        self.agg.rotate(wall_ms());
        let boundary = tokio::time::sleep(until_boundary(step_ms));
        tokio::pin!(boundary);
        let mut publish = tokio::time::interval(Duration::from_secs(1).min(self.step));
        publish.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The wall clock against the monotonic one, to see the wall clock jump.
        let mut clock_ref = (wall_ms(), Instant::now());
        let jump_ms = step_ms.max(5_000);
        let mut state_dirty = false;
        let mut state_saved: Option<Instant> = None;
        let mut next = 0usize;
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = &mut boundary => {
                    if !self.hand_over() {
                        break;
                    }
                    boundary.as_mut().reset(tokio::time::Instant::now() + until_boundary(step_ms));
                }
                _ = publish.tick() => {
                    let (wall, mono) = (wall_ms(), Instant::now());
                    let drift = wall - (clock_ref.0 + mono.duration_since(clock_ref.1).as_millis() as i64);
                    clock_ref = (wall, mono);
                    if drift.abs() > jump_ms {
                        // Handed over at once, so the archive sees the jump (it compares the
                        // two clocks at every hand-over) before any step of the new time.
                        warn!("collector: the wall clock jumped {:+}s", drift / 1000);
                        if !self.hand_over() {
                            break;
                        }
                        boundary.as_mut().reset(tokio::time::Instant::now() + until_boundary(step_ms));
                    }
                    self.decoder.expire(mono);
                    state_dirty |= self.decoder.take_dirty() | self.agg.learned_changed();
                    if state_dirty && state_saved.is_none_or(|t| t.elapsed() >= STATE_SAVE_EVERY) {
                        // Put off: tried again a minute on.
                        state_dirty = self.save_state(mono) == Save::Later;
                        state_saved = Some(mono);
                    }
                    let (templates, names) = self.decoder.state_bytes();
                    stats::set(&self.stats.template_bytes, templates as u64);
                    stats::set(&self.stats.interface_name_bytes, names as u64);
                    let snap = self.snapshot();
                    self.agg.set_wan(&snap.wan);
                    self.published.set(Arc::new(snap));
                    stats::inc(&self.alive);
                }
                r = ready_any(&sockets, &mut next) => {
                    if let Err(e) = r {
                        self.receive_error(e);
                    }
                    // Drain what is queued, a batch per call, before the timers are looked at again.
                    for _ in 0..ROUNDS {
                        let mut got = 0;
                        for sock in &sockets {
                            match batch.recv(sock) {
                                Ok(n) => {
                                    got += n;
                                    // One clock reading per batch: it ages held data sets and
                                    // places flows in time.
                                    let now = Instant::now();
                                    self.agg.set_now(wall_ms());
                                    for i in 0..n {
                                        if let (data, Some(from)) = batch.get(i) {
                                            self.handle(data, from, now);
                                        }
                                    }
                                }
                                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                                Err(e) => self.receive_error(e),
                            }
                        }
                        if got == 0 {
                            break;
                        }
                    }
                }
            }
        }
        self.save_state(Instant::now());
        info!(
            "collector: stopping after {} datagrams, {} records",
            stats::get(&self.stats.datagrams),
            stats::get(&self.stats.records)
        );
        let at = Stamp::now();
        let counts = self.agg.rotate(at.wall_ms);
        let snap = Arc::new(self.snapshot());
        self.published.set(snap.clone());
        self.archive.shutdown(counts, at, snap);
    }

    /// Hand the counts per step to the archive thread and start counting the wall clock's step.
    /// False when the archive thread has stopped.
    fn hand_over(&mut self) -> bool {
        // One reading of both clocks: the step rotated to and the stamp the archive checks it by.
        let at = Stamp::now();
        let counts = self.agg.rotate(at.wall_ms);
        let snap = Arc::new(self.snapshot());
        self.published.set(snap.clone());
        stats::inc(&self.stats.snapshots);
        if !self.archive.step(counts, at, snap) {
            warn!("collector: the archive thread has stopped");
            return false;
        }
        true
    }

    fn handle(&mut self, data: &[u8], from: SocketAddr, now: Instant) {
        // This task is the only writer of these three, once per datagram.
        stats::add_single_writer(&self.stats.datagrams, 1);
        stats::add_single_writer(&self.stats.datagram_bytes, data.len() as u64);
        let exporter = from.ip();
        // Before any state is touched: a sender outside the list costs one counter. Without a
        // list this is a single branch per datagram.
        if !self.allow.is_empty() && !self.allow.iter().any(|n| n.contains(exporter)) {
            stats::add_single_writer(&self.stats.denied_not_allowed, 1);
            return;
        }
        let agg = &mut self.agg;
        let (records, error) = match self.decoder.decode(exporter, data, now, &mut |r| agg.add(exporter, r)) {
            Ok(d) => (d.records, d.error),
            Err(e) => (0, Some(e)),
        };
        stats::add_single_writer(&self.stats.records, records as u64);
        if let Some(e) = error {
            self.stats.decode_error(e);
            if let Some(held) = self.limits[e as usize].check() {
                let version = if data.len() >= 2 { u16::from_be_bytes([data[0], data[1]]) } else { 0 };
                warn!(
                    "collector: {} byte datagram (version {version}) from {from}: {e}; {records} records kept ({held} more such since the last message)",
                    data.len()
                );
            }
        }
    }

    /// The tables plus what the decoder knows about names, for the API and the archive thread.
    fn snapshot(&self) -> Snapshot {
        let mut s = self.agg.snapshot();
        // The names of the interfaces with rows (and the config's): all the API, /metrics and
        // graph titles ask for, where exporters may send a thousand names each. Cleaned here,
        // where the page, API, CSV, /metrics and graph titles all take them from.
        s.interface_names = self
            .decoder
            .interface_names_of(&interface_ids(&s))
            .into_iter()
            .filter_map(|(k, n)| crate::text::clean_name(&n).map(|n| (k, n)))
            .collect();
        s.find_wan(&self.wan);
        s.exporters = self.decoder.exporters();
        s.rejected = self.decoder.rejected();
        for e in &mut s.exporters {
            e.name = e.name.take().and_then(|n| crate::text::clean_name(&n));
        }
        s.refused = self.decoder.refused();
        s
    }

    fn load_state(&mut self) {
        // Nothing larger is ever written (see `save_state`); a floor for a budget set to nothing.
        let max = self.budget.capacity().max(1 << 20);
        let bytes = match crate::file::read_regular(&self.state_file, max) {
            Ok(b) => b,
            Err(e) if e.not_found() => return,
            Err(e) => {
                // Counted as one refused entry, as an unreadable file is.
                stats::inc(&self.stats.state_rejected);
                warn!("collector: refusing {}: {e}; starting with no saved state", self.state_file.display());
                return;
            }
        };
        match serde_json::from_slice::<SavedState>(&bytes) {
            Ok(mut s) => {
                self.state_hash = Some(hash(&bytes));
                let learned = std::mem::take(&mut s.learned_networks);
                let refused = self.agg.restore_learned(&learned);
                if refused > 0 {
                    stats::add(&self.stats.state_rejected, refused as u64);
                }
                let r = self.decoder.restore(s, Instant::now());
                info!(
                    "collector: restored {} templates of {} exporters from {}",
                    r.templates,
                    r.exporters,
                    self.state_file.display()
                );
                // One line for the file, not one per entry: a tampered file could hold millions.
                if r.rejected > 0 {
                    warn!(
                        "collector: {}: refused {} entries outside the collector's bounds (edited, or saved under other limits); the rest restored",
                        self.state_file.display(),
                        r.rejected
                    );
                }
            }
            Err(e) => {
                // Counted as one refused entry: the whole file. Flowpi starts with empty state.
                stats::inc(&self.stats.state_rejected);
                warn!(
                    "collector: ignoring {} (not a state file flowpi can read: {e}); starting with no saved state",
                    self.state_file.display()
                )
            }
        }
    }

    /// Write the decoder's state (what is worth keeping: see `Decoder::save`) if it changed and
    /// collector.state_write_budget allows, atomically (temporary file, synced, then renamed), so
    /// a power cut never leaves half a file. The temporary file is made afresh (O_EXCL): whatever
    /// has that name, a FIFO or a symlink, is removed rather than opened, which could block or
    /// write elsewhere.
    fn save_state(&mut self, now: Instant) -> Save {
        let rows = interface_ids(&self.published.get());
        let mut state = self.decoder.save(|addr, i| rows.binary_search(&(addr, i)).is_ok());
        state.learned_networks = self.agg.save_learned();
        // Serialised twice, to a hash and then to the file, rather than held whole in memory.
        let mut probe = HashWriter::default();
        if let Err(e) = serde_json::to_writer(&mut probe, &state) {
            stats::inc(&self.stats.state_save_errors);
            warn!("collector: cannot save {}: {e}", self.state_file.display());
            return Save::Later;
        }
        let (h, len) = (probe.hash.finish(), probe.len);
        if self.state_hash == Some(h) {
            return Save::Unchanged;
        }
        let pages = len.div_ceil(PAGE).max(1) * PAGE;
        if pages > self.budget.capacity() {
            stats::inc(&self.stats.state_saves_deferred);
            if !std::mem::replace(&mut self.too_large_told, true) {
                warn!(
                    "collector: not saving {}: {len} bytes is more than collector.state_write_budget ({} a day) allows at once; raise it",
                    self.state_file.display(),
                    self.budget.per_day
                );
            }
            return Save::Later;
        }
        if !self.budget.take(pages, now) {
            stats::inc(&self.stats.state_saves_deferred);
            debug!("collector: saving {} put off: collector.state_write_budget spent", self.state_file.display());
            return Save::Later;
        }
        let tmp = self.state_file.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            match std::fs::remove_file(&tmp) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            let f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            let mut w = std::io::BufWriter::new(f);
            serde_json::to_writer(&mut w, &state)?;
            w.flush()?;
            w.get_ref().sync_all()?;
            std::fs::rename(&tmp, &self.state_file)
        };
        match write() {
            Ok(()) => {
                stats::inc(&self.stats.state_saves);
                stats::add(&self.stats.state_write_bytes, pages);
                stats::set(&self.stats.state_file_bytes, len);
                self.state_hash = Some(h);
                Save::Written
            }
            Err(e) => {
                stats::inc(&self.stats.state_save_errors);
                warn!("collector: cannot save {}: {e}", self.state_file.display());
                Save::Later
            }
        }
    }

    fn receive_error(&mut self, e: std::io::Error) {
        stats::inc(&self.stats.receive_errors);
        debug!("collector: receive error: {e}");
    }
}

/// The interfaces with rows in a snapshot, sorted.
fn interface_ids(s: &Snapshot) -> Vec<(std::net::IpAddr, u32)> {
    let mut ids: Vec<_> = s
        .interfaces
        .iter()
        .filter_map(|(id, _)| match id {
            crate::views::IfaceId::If { exporter, ifindex } => Some((*exporter, *ifindex)),
            crate::views::IfaceId::Other => None,
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// What a serialisation would write: its hash and length, nothing kept.
#[derive(Default)]
struct HashWriter {
    hash: std::hash::DefaultHasher,
    len: u64,
}

impl std::io::Write for HashWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        // SipHash takes its input as a stream: the same bytes give the same hash however they
        // are cut, as `hash` below takes them whole.
        self.hash.write(b);
        self.len += b.len() as u64;
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    h.write(bytes);
    h.finish()
}

/// Time until the wall clock reaches the next multiple of the step (a little after, so the step
/// has surely begun).
fn until_boundary(step_ms: i64) -> Duration {
    let left = step_ms - wall_ms().rem_euclid(step_ms);
    Duration::from_millis(left as u64 + 5)
}

/// Wait until any socket has something to read, starting after the one served last so none starves.
async fn ready_any(sockets: &[UdpSocket], next: &mut usize) -> std::io::Result<()> {
    poll_fn(|cx| {
        let n = sockets.len();
        for k in 0..n {
            let i = (*next + k) % n;
            if let Poll::Ready(r) = sockets[i].poll_recv_ready(cx) {
                *next = i + 1;
                return Poll::Ready(r);
            }
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_of_pieces_is_the_hash_of_the_whole() {
        use std::io::Write;
        let mut w = HashWriter::default();
        w.write_all(b"{\"format\":1,").unwrap();
        w.write_all(b"\"exporters\":[]}").unwrap();
        assert_eq!((w.hash.finish(), w.len), (hash(b"{\"format\":1,\"exporters\":[]}"), 27));
    }

    #[test]
    fn the_write_budget_holds_over_any_day() {
        // 1 MiB a day: 512 KiB at once, then 512 KiB a day.
        let mut b = WriteBudget::new(1 << 20);
        let t = Instant::now();
        assert_eq!(b.capacity(), 512 << 10);
        assert!(b.take(512 << 10, t));
        assert!(!b.take(PAGE, t));
        // Half a day later a quarter of a budget has come in.
        let half = t + Duration::from_secs(43_200);
        assert!(b.take(256 << 10, half));
        assert!(!b.take(PAGE, half));
        // A save every minute for a day takes no more than what came in: the day's writes, the
        // first included, stay within the budget.
        let mut written = (512 << 10) + (256 << 10);
        for m in 1..=720 {
            if b.take(PAGE, half + Duration::from_secs(60 * m)) {
                written += PAGE;
            }
        }
        assert!(written <= 1 << 20, "{written}");
        assert!(written >= (1 << 20) - 2 * PAGE, "{written}");
        // It never holds more than half a day's budget.
        let later = half + Duration::from_secs(30 * 86_400);
        assert!(!b.take((512 << 10) + PAGE, later));
        assert!(b.take(512 << 10, later));
    }
}
