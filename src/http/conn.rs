//! Open HTTP connections: the bounded registry (at the cap a newcomer closes a connection that has
//! not logged in, else the longest-idle one; each client address holds a bounded share), the
//! socket wrapper that notices reads and stalled writes, and the per-connection timeouts (headers,
//! keep-alive idle, a write that makes no progress).

use std::io;
use std::net::IpAddr;
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

/// Time a new connection has to bring its first request before it counts as having had its chance
/// (see [`ConnState::eviction_rank`]): a browser sends its request with the connection.
pub const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

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
    /// The peer's address (IPv4-mapped IPv6 as IPv4), for the per-client share.
    client: IpAddr,
    /// A request on this connection presented valid credentials (or logged in). Until then the
    /// connection is anyone's, and the first to go when the registry is full, even mid-request.
    authed: AtomicBool,
    /// Requests inside the handler.
    busy: AtomicU32,
    /// When the first byte of a request that has not reached the handler arrived (0: none).
    read_started: AtomicU64,
    /// When a write last found the socket full and has not progressed since (0: not stalled).
    write_stalled: AtomicU64,
    /// When the connection was accepted.
    accepted: u64,
    /// The last sign of use: accepted, a request answered, bytes written.
    last_active: AtomicU64,
    /// Requests answered; before the first the connection gets only the header timeout.
    served: AtomicU64,
    kill: Notify,
    killed: AtomicBool,
}

impl ConnState {
    fn new(clock: Clock, client: IpAddr) -> ConnState {
        ConnState {
            clock,
            client,
            authed: AtomicBool::new(false),
            busy: AtomicU32::new(0),
            read_started: AtomicU64::new(0),
            write_stalled: AtomicU64::new(0),
            accepted: clock.ms(),
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

    /// A request on this connection proved who sent it.
    pub fn authenticated(&self) {
        self.authed.store(true, Ordering::Relaxed);
    }

    /// Idle: no request in the handler and no reply stuck on the way out.
    fn idle(&self) -> bool {
        self.busy.load(Ordering::Relaxed) == 0 && self.write_stalled.load(Ordering::Relaxed) == 0
    }

    /// Which connection goes first to make room (lowest first), or `None` when it may not be
    /// closed. A connection that never proved itself may be closed even mid-request: otherwise
    /// anyone could hold every place with requests that wait (a login form whose body never
    /// comes). Those that had their chance go first (a request without credentials, or
    /// [`FIRST_REQUEST_GRACE`] gone by), so that a flood of them, however fast it renews itself,
    /// closes its own rather than a browser's connection that has just opened; then the newest
    /// ones, the quietest first. A logged-in connection goes only when idle, after all of those.
    fn eviction_rank(&self) -> Option<(u8, u64)> {
        let since = self.last_active.load(Ordering::Relaxed);
        if self.authed.load(Ordering::Relaxed) {
            return self.idle().then_some((2, since));
        }
        let tried = self.busy.load(Ordering::Relaxed) > 0
            || self.served.load(Ordering::Relaxed) > 0
            || self.write_stalled.load(Ordering::Relaxed) != 0
            || self.clock.ms().saturating_sub(self.accepted) >= FIRST_REQUEST_GRACE.as_millis() as u64;
        Some((if tried { 0 } else { 1 }, since))
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

/// The open connections, bounded by `http.max_connections`, at most
/// `http.max_connections_per_client` of them from one address.
pub struct Registry {
    max: usize,
    max_per_client: usize,
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
    pub fn new(max: usize, max_per_client: usize, stats: Arc<Stats>) -> Arc<Registry> {
        Arc::new(Registry {
            max,
            max_per_client,
            clock: Clock::new(),
            stats,
            conns: Mutex::new(Vec::with_capacity(max)),
            next_id: AtomicU64::new(0),
        })
    }

    /// A place for a new connection from `client`. A client at its share gives up one of its own
    /// connections (one that has not logged in, else its longest idle); when the registry is full,
    /// a connection that has not logged in goes, else the longest idle. When none may go (every
    /// one is logged in and mid-request), the newcomer is refused: busy connections end by
    /// themselves within the timeouts.
    ///
    /// The share is per address, IPv6 included: every device on a home LAN has addresses in the
    /// same /64, so a share per /64 would let a guest's phone take the owner's. A guest with many
    /// addresses gets many shares, but its connections never log in, so they are the first to go.
    ///
    /// `proves` tells, when room must be made, whether the newcomer's first request carries
    /// credentials: such a newcomer counts as logged in from the start.
    pub fn admit(self: &Arc<Registry>, client: IpAddr, proves: impl FnOnce() -> bool) -> Option<Slot> {
        let client = crate::net::normalize(client);
        let mut conns = self.conns.lock().expect("registry");
        let victim = |conns: &Vec<(u64, Arc<ConnState>)>, of: Option<IpAddr>| {
            conns
                .iter()
                .enumerate()
                .filter(|(_, (_, s))| of.is_none_or(|c| s.client == c))
                .filter_map(|(i, (_, s))| s.eviction_rank().map(|r| (r, i)))
                .min()
                .map(|((rank, _), i)| (i, rank == 2))
        };
        let own = conns.iter().filter(|(_, s)| s.client == client).count();
        let make_room = if own >= self.max_per_client {
            stats::inc(&self.stats.http_connections_client_limit);
            Some(victim(&conns, Some(client)))
        } else if conns.len() >= self.max {
            Some(victim(&conns, None))
        } else {
            None
        };
        let authed = make_room.is_some() && proves();
        match make_room {
            None => {}
            Some(Some((i, was_authed))) => {
                let (_, s) = conns.swap_remove(i);
                s.close();
                stats::inc(if was_authed {
                    &self.stats.http_connections_evicted
                } else {
                    &self.stats.http_connections_evicted_unauthenticated
                });
            }
            Some(None) => {
                stats::inc(&self.stats.http_connections_refused);
                return None;
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnState::new(self.clock, client));
        if authed {
            state.authenticated();
        }
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

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    impl Registry {
        fn admit_(self: &Arc<Registry>, client: IpAddr) -> Option<Slot> {
            self.admit(client, || false)
        }
    }

    #[test]
    fn full_registry_evicts_the_longest_idle_and_refuses_when_all_are_busy() {
        let stats = Arc::new(Stats::default());
        let r = Registry::new(2, 2, stats.clone());
        let a = r.admit_(ip("192.168.1.2")).unwrap();
        std::thread::sleep(Duration::from_millis(3));
        let b = r.admit_(ip("192.168.1.3")).unwrap();
        a.state.authenticated();
        b.state.authenticated();
        let c = r.admit_(ip("192.168.1.4")).expect("room made");
        assert!(a.state.killed.load(Ordering::Relaxed), "the longest idle (a) goes");
        assert!(!b.state.killed.load(Ordering::Relaxed));
        assert_eq!(stats::get(&stats.http_connections_evicted), 1);
        c.state.authenticated();
        b.state.begin();
        c.state.begin();
        assert!(r.admit_(ip("192.168.1.5")).is_none(), "every connection busy: refused");
        assert_eq!(stats::get(&stats.http_connections_refused), 1);
        drop(a);
        assert_eq!(stats::get(&stats.http_connections), 2, "a had given its place up already");
        drop(b);
        assert_eq!(stats::get(&stats.http_connections), 1);
    }

    #[test]
    fn connections_that_never_logged_in_go_first_even_mid_request() {
        let stats = Arc::new(Stats::default());
        let r = Registry::new(3, 3, stats.clone());
        let browser = r.admit_(ip("192.168.1.2")).unwrap();
        browser.state.authenticated(); // idle the longest, but logged in
        std::thread::sleep(Duration::from_millis(3));
        let pinner = r.admit_(ip("192.168.1.66")).unwrap();
        pinner.state.begin(); // waiting for a login body
        std::thread::sleep(Duration::from_millis(3));
        let newer = r.admit_(ip("192.168.1.67")).unwrap();
        newer.state.begin();
        let _next = r.admit_(ip("192.168.1.68")).expect("room made");
        assert!(pinner.state.killed.load(Ordering::Relaxed), "the oldest not logged in goes, busy or not");
        assert!(!newer.state.killed.load(Ordering::Relaxed) && !browser.state.killed.load(Ordering::Relaxed));
        assert_eq!(stats::get(&stats.http_connections_evicted_unauthenticated), 1);
        assert_eq!(stats::get(&stats.http_connections_evicted), 0);
        // A newcomer whose first request shows credentials is kept from the start: the flood of
        // newer ones closes its own.
        let shown = r.admit(ip("192.168.1.3"), || true).unwrap();
        for _ in 0..4 {
            let _ = r.admit_(ip("192.168.1.69"));
        }
        assert!(!shown.state.killed.load(Ordering::Relaxed) && !browser.state.killed.load(Ordering::Relaxed));
        assert!(newer.state.killed.load(Ordering::Relaxed));
    }

    #[test]
    fn a_client_at_its_share_gives_up_its_own() {
        let stats = Arc::new(Stats::default());
        let r = Registry::new(8, 2, stats.clone());
        let other = r.admit_(ip("192.168.1.2")).unwrap();
        let a = r.admit_(ip("::ffff:192.168.1.66")).unwrap();
        std::thread::sleep(Duration::from_millis(3));
        let b = r.admit_(ip("192.168.1.66")).unwrap();
        let _c = r.admit_(ip("192.168.1.66")).expect("its own oldest made room");
        assert!(a.state.killed.load(Ordering::Relaxed), "one client, however written");
        assert!(!b.state.killed.load(Ordering::Relaxed) && !other.state.killed.load(Ordering::Relaxed));
        assert_eq!(stats::get(&stats.http_connections_client_limit), 1);
        // IPv6 addresses are clients of their own, /64 or not.
        let _d = r.admit_(ip("fd00::1")).unwrap();
        let _e = r.admit_(ip("fd00::2")).unwrap();
        let _f = r.admit_(ip("fd00::3")).unwrap();
        assert_eq!(stats::get(&stats.http_connections_client_limit), 1);
    }

    #[test]
    fn timeouts() {
        let s = ConnState::new(Clock::new(), ip("192.168.1.2"));
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
