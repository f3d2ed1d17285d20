//! Open HTTP connections: the bounded registry (at the cap a newcomer closes the longest-idle
//! connection), the socket wrapper that notices reads and stalled writes, and the per-connection
//! timeouts (headers, keep-alive idle, a write that makes no progress).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

use crate::stats::{self, Stats};

/// A write that moves no byte for this long closes the connection: a client that pipelines
/// requests and never reads would otherwise hold its task and buffers forever.
pub const WRITE_STALL: Duration = Duration::from_secs(30);

/// Milliseconds since the server started: cheap to keep in atomics.
#[derive(Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    fn new() -> Clock {
        Clock(Instant::now())
    }
    pub fn ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64 + 1 // 0 means "not set" below
    }
}

/// What one connection is doing, shared by its socket wrapper, its request handler, the
/// supervisor and the registry.
pub struct ConnState {
    clock: Clock,
    /// Requests inside the handler.
    busy: AtomicU32,
    /// When the first byte of a request that has not reached the handler arrived (0: none).
    read_started: AtomicU64,
    /// When a write last found the socket full and has not progressed since (0: not stalled).
    write_stalled: AtomicU64,
    /// The last sign of use: accepted, a request answered, bytes written.
    last_active: AtomicU64,
    /// Requests answered; before the first the connection gets only the header timeout.
    served: AtomicU64,
    kill: Notify,
    killed: AtomicBool,
}

impl ConnState {
    fn new(clock: Clock) -> ConnState {
        ConnState {
            clock,
            busy: AtomicU32::new(0),
            read_started: AtomicU64::new(0),
            write_stalled: AtomicU64::new(0),
            last_active: AtomicU64::new(clock.ms()),
            served: AtomicU64::new(0),
            kill: Notify::new(),
            killed: AtomicBool::new(false),
        }
    }

    /// The handler took a request.
    pub fn begin(&self) {
        self.busy.fetch_add(1, Ordering::Relaxed);
        self.read_started.store(0, Ordering::Relaxed);
    }

    /// The handler finished a request (its reply is now hyper's to write).
    pub fn end(&self) {
        self.busy.fetch_sub(1, Ordering::Relaxed);
        self.served.fetch_add(1, Ordering::Relaxed);
        // Bytes read while the handler ran (a login form's body) belong to that request.
        self.read_started.store(0, Ordering::Relaxed);
        self.last_active.store(self.clock.ms(), Ordering::Relaxed);
    }

    /// Idle: no request in the handler and no reply stuck on the way out. Only idle connections
    /// may be closed to make room.
    fn idle(&self) -> bool {
        self.busy.load(Ordering::Relaxed) == 0 && self.write_stalled.load(Ordering::Relaxed) == 0
    }

    pub fn close(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.kill.notify_one();
    }

    /// Resolves when the registry or a timeout wants this connection closed.
    pub async fn closed(&self) {
        self.kill.notified().await
    }

    /// Why this connection should close now, if it should.
    fn overdue(&self, header_timeout: Duration, idle_timeout: Duration) -> Option<&'static str> {
        let now = self.clock.ms();
        let since = |t: u64| Duration::from_millis(now.saturating_sub(t));
        let stalled = self.write_stalled.load(Ordering::Relaxed);
        if stalled != 0 {
            return (since(stalled) >= WRITE_STALL).then_some("reply not read");
        }
        if self.busy.load(Ordering::Relaxed) > 0 {
            return None; // the handler bounds its own time (graph timeout)
        }
        let started = self.read_started.load(Ordering::Relaxed);
        if started != 0 {
            return (since(started) >= header_timeout).then_some("headers too slow");
        }
        let limit = if self.served.load(Ordering::Relaxed) == 0 { header_timeout } else { idle_timeout };
        (since(self.last_active.load(Ordering::Relaxed)) >= limit).then_some("idle")
    }
}

/// Watch one connection: resolves (with a reason) when a timeout passed.
pub async fn supervise(state: &ConnState, header_timeout: Duration, idle_timeout: Duration) -> &'static str {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(why) = state.overdue(header_timeout, idle_timeout) {
            return why;
        }
    }
}

/// The open connections, bounded by `http.max_connections`.
pub struct Registry {
    max: usize,
    clock: Clock,
    stats: Arc<Stats>,
    conns: Mutex<Vec<(u64, Arc<ConnState>)>>,
    next_id: AtomicU64,
}

/// A connection's place in the registry; dropping it frees the place.
pub struct Slot {
    id: u64,
    pub state: Arc<ConnState>,
    registry: Arc<Registry>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut conns = self.registry.conns.lock().expect("registry");
        if let Some(i) = conns.iter().position(|(id, _)| *id == self.id) {
            conns.swap_remove(i);
        }
        stats::set(&self.registry.stats.http_connections, conns.len() as u64);
    }
}

impl Registry {
    pub fn new(max: usize, stats: Arc<Stats>) -> Arc<Registry> {
        Arc::new(Registry {
            max,
            clock: Clock::new(),
            stats,
            conns: Mutex::new(Vec::with_capacity(max)),
            next_id: AtomicU64::new(0),
        })
    }

    /// A place for a new connection. When full, the longest-idle connection is told to close and
    /// gives its place up now; when none is idle (every one is mid-request), the newcomer is
    /// refused: busy connections end by themselves within the timeouts.
    pub fn admit(self: &Arc<Registry>) -> Option<Slot> {
        let mut conns = self.conns.lock().expect("registry");
        if conns.len() >= self.max {
            let victim = conns
                .iter()
                .enumerate()
                .filter(|(_, (_, s))| s.idle() && !s.killed.load(Ordering::Relaxed))
                .min_by_key(|(_, (_, s))| s.last_active.load(Ordering::Relaxed))
                .map(|(i, _)| i);
            match victim {
                Some(i) => {
                    let (_, s) = conns.swap_remove(i);
                    s.close();
                    stats::inc(&self.stats.http_connections_evicted);
                }
                None => {
                    stats::inc(&self.stats.http_connections_refused);
                    return None;
                }
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnState::new(self.clock));
        conns.push((id, state.clone()));
        stats::set(&self.stats.http_connections, conns.len() as u64);
        stats::inc(&self.stats.http_connections_accepted);
        Some(Slot { id, state, registry: self.clone() })
    }
}

/// A socket that tells its [`ConnState`] when request bytes arrive and when writes stall.
pub struct Watched<S> {
    inner: S,
    state: Arc<ConnState>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, state: Arc<ConnState>) -> Self {
        Watched { inner, state }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let s = &self.state;
            if s.busy.load(Ordering::Relaxed) == 0 && s.read_started.load(Ordering::Relaxed) == 0 {
                s.read_started.store(s.clock.ms(), Ordering::Relaxed);
            }
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> Watched<S> {
    fn note<T>(&self, r: &Poll<io::Result<T>>, progressed: bool) {
        let s = &self.state;
        match r {
            Poll::Pending if s.write_stalled.load(Ordering::Relaxed) == 0 => {
                s.write_stalled.store(s.clock.ms(), Ordering::Relaxed);
            }
            Poll::Ready(Ok(_)) if progressed => {
                s.write_stalled.store(0, Ordering::Relaxed);
                s.last_active.store(s.clock.ms(), Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        let progressed = matches!(r, Poll::Ready(Ok(n)) if n > 0);
        self.note(&r, progressed);
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        let progressed = matches!(r, Poll::Ready(Ok(n)) if n > 0);
        self.note(&r, progressed);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    // Not a sign of progress: hyper flushes whenever its task is polled (the supervisor's tick
    // polls it too), and a TCP flush moves no byte.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_registry_evicts_the_longest_idle_and_refuses_when_all_are_busy() {
        let stats = Arc::new(Stats::default());
        let r = Registry::new(2, stats.clone());
        let a = r.admit().unwrap();
        std::thread::sleep(Duration::from_millis(3));
        let b = r.admit().unwrap();
        let c = r.admit().expect("room made");
        assert!(a.state.killed.load(Ordering::Relaxed), "the longest idle (a) goes");
        assert!(!b.state.killed.load(Ordering::Relaxed));
        assert_eq!(stats::get(&stats.http_connections_evicted), 1);
        b.state.begin();
        c.state.begin();
        assert!(r.admit().is_none(), "every connection busy: refused");
        assert_eq!(stats::get(&stats.http_connections_refused), 1);
        drop(a);
        assert_eq!(stats::get(&stats.http_connections), 2, "a had given its place up already");
        drop(b);
        assert_eq!(stats::get(&stats.http_connections), 1);
    }

    #[test]
    fn timeouts() {
        let s = ConnState::new(Clock::new());
        let (h, i) = (Duration::from_millis(30), Duration::from_millis(80));
        assert_eq!(s.overdue(h, i), None);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(s.overdue(h, i), Some("idle"), "no request within the header timeout");
        s.begin();
        assert_eq!(s.overdue(h, i), None, "in the handler");
        s.end();
        assert_eq!(s.overdue(h, i), None, "keep-alive gets the idle timeout");
        s.read_started.store(s.clock.ms(), Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(s.overdue(h, i), Some("headers too slow"));
        s.write_stalled.store(s.clock.ms(), Ordering::Relaxed);
        assert_eq!(s.overdue(h, i), None, "a stalled write gets WRITE_STALL");
    }
}
