//! The collector: UDP sockets, decode, aggregate, and the step timer that snapshots the tables for
//! the archive thread. One task owns all of it, so the tables need no lock and a datagram costs no
//! allocation; the kernel's socket buffer (collector.receive_buffer) is the only queue, drained a
//! batch per system call.

use std::future::poll_fn;
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

/// Batches taken from the sockets before the timers are looked at again.
const ROUNDS: usize = 16;
/// exporters.json is rewritten at most this often, whatever arrives (a template flood would
/// otherwise rewrite it every second), and at stop.
const STATE_SAVE_EVERY: Duration = Duration::from_secs(60);

pub struct Collector {
    listen: Vec<SocketAddr>,
    receive_buffer: usize,
    /// collector.allow: senders whose datagrams are decoded; empty = every sender.
    allow: Vec<IpNet>,
    step: Duration,
    agg: Views,
    decoder: Decoder,
    /// Templates, sampling rates and interface names, kept across restarts.
    state_file: PathBuf,
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
        let agg = Views::new(
            cfg.network.local.clone(),
            crate::views::Applications::new(&cfg.views.applications),
            &cfg.bounds(),
            cfg.archive.open_steps(),
            cfg.archive.step,
            stats.clone(),
        );
        let decoder = Decoder::new(cfg.collector.limits.clone(), cfg.exporters.clone(), stats.clone())
            .with_max_senders(cfg.doctor.max_senders);
        Collector {
            listen: cfg.collector.listen.clone(),
            receive_buffer: cfg.collector.receive_buffer,
            allow: cfg.collector.allow.clone(),
            step: cfg.archive.step,
            agg,
            decoder,
            state_file: cfg.archive.dir.join(STATE_FILE),
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
                    state_dirty |= self.decoder.take_dirty();
                    if state_dirty && state_saved.is_none_or(|t| t.elapsed() >= STATE_SAVE_EVERY) {
                        self.save_state();
                        state_dirty = false;
                        state_saved = Some(mono);
                    }
                    self.published.set(Arc::new(self.snapshot()));
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
        self.save_state();
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
        // Interface names come from exporters' options data (and the config): cleaned here, where
        // the page, API, CSV, /metrics and graph titles all take them from.
        s.interface_names = self
            .decoder
            .interface_names()
            .into_iter()
            .filter_map(|(k, n)| crate::text::clean_name(&n).map(|n| (k, n)))
            .collect();
        s.exporters = self.decoder.exporters();
        s.rejected = self.decoder.rejected();
        for e in &mut s.exporters {
            e.name = e.name.take().and_then(|n| crate::text::clean_name(&n));
        }
        s
    }

    fn load_state(&mut self) {
        let text = match std::fs::read_to_string(&self.state_file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                warn!("collector: cannot read {}: {e}", self.state_file.display());
                return;
            }
        };
        match serde_json::from_str::<SavedState>(&text) {
            Ok(s) => {
                let r = self.decoder.restore(s);
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

    /// Write the decoder's state atomically (temporary file, then rename), so a power cut never
    /// leaves half a file.
    fn save_state(&mut self) {
        let tmp = self.state_file.with_extension("json.tmp");
        let result = serde_json::to_vec_pretty(&self.decoder.save())
            .map_err(std::io::Error::other)
            .and_then(|b| std::fs::write(&tmp, b))
            .and_then(|_| std::fs::rename(&tmp, &self.state_file));
        match result {
            Ok(()) => stats::inc(&self.stats.state_saves),
            Err(e) => {
                stats::inc(&self.stats.state_save_errors);
                warn!("collector: cannot save {}: {e}", self.state_file.display());
            }
        }
    }

    fn receive_error(&mut self, e: std::io::Error) {
        stats::inc(&self.stats.receive_errors);
        debug!("collector: receive error: {e}");
    }
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
