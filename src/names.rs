//! Names of local hosts: `[[host]]` from the config, else a reverse lookup done by one resolver
//! thread and cached (bounded, with expiry); a request only ever reads the cache.
//!
//! Only local hosts are looked up (addresses in network.local, asked for by the hosts table or
//! the answers listing it), never remote peers: asking the resolver, often the ISP's or a public
//! one, about every peer would tell it who on this network talks to whom.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::{debug, info};

use crate::collector::Published;
use crate::config::{NamesConfig, Resolver};
use crate::net::LocalNets;
use crate::stats::{self, Stats};
use crate::views::HostId;

/// How often the published hosts are looked over for names not cached yet, so that names are
/// there before anyone asks.
const SWEEP: Duration = Duration::from_secs(10);

/// A name as DNS allows it in text (RFC 1035: 255 bytes on the wire, 253 as text).
pub const MAX_NAME: usize = 253;

/// Names of local hosts. Cheap to clone; [`Names::get`] never waits for a lookup.
#[derive(Clone)]
pub struct Names {
    inner: Arc<Inner>,
}

struct Inner {
    fixed: HashMap<IpAddr, Arc<str>>,
    local: LocalNets,
    reverse: bool,
    resolver: Resolver,
    ttl: Duration,
    negative_ttl: Duration,
    max: usize,
    timeout: Duration,
    state: Mutex<State>,
    wake: Condvar,
    stats: Arc<Stats>,
}

#[derive(Default)]
struct State {
    cache: HashMap<IpAddr, Entry>,
    /// Waiting for the resolver thread, oldest first.
    queue: VecDeque<IpAddr>,
    /// In `queue` or being looked up: asked for once however often it is wanted.
    pending: HashSet<IpAddr>,
    stop: bool,
}

struct Entry {
    /// `None`: no name (or the lookup failed), kept for names.negative_ttl.
    name: Option<Arc<str>>,
    added: Instant,
    expires: Instant,
}

/// What one lookup gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Name(String),
    /// The resolver says there is none (NXDOMAIN, no PTR record).
    NoName,
    Timeout,
    Error(String),
}

/// The resolver thread; [`ResolverThread::stop`] ends it.
pub struct ResolverThread {
    names: Names,
    thread: JoinHandle<()>,
}

impl Names {
    /// Built inert: [`Names::spawn`] starts the resolver thread.
    pub fn new(cfg: &NamesConfig, local: &LocalNets, stats: Arc<Stats>) -> Names {
        // Every host name shown (page, API, CSV, /metrics, graph titles) comes out of `get`: the
        // config's are cleaned here, the resolver's in `clean_name`.
        let fixed = cfg
            .hosts
            .iter()
            .filter_map(|(ip, n)| crate::text::clean_name(n).map(|n| (*ip, Arc::from(n.as_str()))))
            .collect();
        Names {
            inner: Arc::new(Inner {
                fixed,
                local: local.clone(),
                reverse: cfg.reverse_dns,
                resolver: cfg.resolver.clone(),
                ttl: cfg.ttl,
                negative_ttl: cfg.negative_ttl,
                max: cfg.max,
                timeout: cfg.timeout,
                state: Mutex::new(State::default()),
                wake: Condvar::new(),
                stats,
            }),
        }
    }

    /// The host's name, if known now: the config's, else a cached answer. A local host not in the
    /// cache (or whose answer is past its time) is queued for the resolver thread; a name past
    /// its ttl is still given while it is looked up again, so names do not blink out every hour.
    pub fn get(&self, ip: IpAddr) -> Option<Arc<str>> {
        self.get_at(ip, Instant::now())
    }

    fn get_at(&self, ip: IpAddr, now: Instant) -> Option<Arc<str>> {
        let ip = crate::net::normalize(ip);
        if let Some(n) = self.inner.fixed.get(&ip) {
            return Some(n.clone());
        }
        if !self.inner.reverse || !self.inner.local.contains(ip) {
            return None;
        }
        let mut st = self.lock();
        self.want(&mut st, ip, now)
    }

    /// Start the resolver thread (none when names.reverse_dns is off). `published` is looked over
    /// every few seconds for hosts not cached yet.
    pub fn spawn(&self, published: Arc<Published>) -> std::io::Result<Option<ResolverThread>> {
        if !self.inner.reverse {
            return Ok(None);
        }
        let names = self.clone();
        let what = match &self.inner.resolver {
            Resolver::System => "the system resolver".to_string(),
            Resolver::Dns(a) => format!("DNS server {a}"),
        };
        info!("names: reverse lookups of local hosts through {what}");
        let thread = std::thread::Builder::new().name("names".into()).spawn(move || names.run(&published))?;
        Ok(Some(ResolverThread { names: self.clone(), thread }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached answer for `ip`; queues it when there is none or it has expired.
    fn want(&self, st: &mut State, ip: IpAddr, now: Instant) -> Option<Arc<str>> {
        let (name, fresh) = match st.cache.get(&ip) {
            Some(e) => (e.name.clone(), now < e.expires),
            None => (None, false),
        };
        if !fresh && !st.pending.contains(&ip) {
            // The queue never holds more than the cache could keep.
            if st.queue.len() >= self.inner.max {
                stats::inc(&self.inner.stats.name_queue_dropped);
            } else {
                st.queue.push_back(ip);
                st.pending.insert(ip);
                self.inner.wake.notify_one();
            }
        }
        name
    }

    /// Keep what a lookup of `ip` gave, and count it.
    fn store(&self, ip: IpAddr, outcome: &Outcome, now: Instant) {
        let s = &self.inner.stats;
        stats::inc(&s.name_lookups);
        let (name, ttl) = match outcome {
            Outcome::Name(n) => (Some(Arc::from(n.as_str())), self.inner.ttl),
            Outcome::NoName => (None, self.inner.negative_ttl),
            Outcome::Timeout => (None, self.inner.negative_ttl),
            Outcome::Error(_) => (None, self.inner.negative_ttl),
        };
        match outcome {
            Outcome::Name(_) => {}
            Outcome::NoName => stats::inc(&s.name_failures_no_name),
            Outcome::Timeout => stats::inc(&s.name_failures_timeout),
            Outcome::Error(_) => stats::inc(&s.name_failures_error),
        }
        let mut st = self.lock();
        st.pending.remove(&ip);
        if !st.cache.contains_key(&ip) && st.cache.len() >= self.inner.max {
            let oldest = st.cache.iter().min_by_key(|(_, e)| e.added).map(|(ip, _)| *ip);
            if let Some(old) = oldest {
                st.cache.remove(&old);
                stats::inc(&s.name_cache_evictions);
            }
        }
        st.cache.insert(ip, Entry { name, added: now, expires: now + ttl });
        stats::set(&s.name_cache_entries, st.cache.len() as u64);
    }

    fn run(&self, published: &Published) {
        let mut next_sweep = Instant::now();
        loop {
            let ip = {
                let mut st = self.lock();
                loop {
                    if st.stop {
                        return;
                    }
                    let now = Instant::now();
                    if now >= next_sweep {
                        break None;
                    }
                    if let Some(ip) = st.queue.pop_front() {
                        break Some(ip);
                    }
                    st = self.inner.wake.wait_timeout(st, next_sweep - now).map_or_else(|p| p.into_inner().0, |r| r.0);
                }
            };
            match ip {
                None => {
                    self.sweep(published);
                    next_sweep = Instant::now() + SWEEP;
                }
                Some(ip) => {
                    let outcome = self.lookup(ip);
                    debug!("names: {ip}: {outcome:?}");
                    self.store(ip, &outcome, Instant::now());
                }
            }
        }
    }

    /// Queue the published hosts that have neither a config name nor a fresh answer.
    fn sweep(&self, published: &Published) {
        let snap = published.get();
        let now = Instant::now();
        let mut st = self.lock();
        for (id, _) in &snap.hosts {
            if let HostId::Ip(ip) = id {
                if !self.inner.fixed.contains_key(ip) && self.inner.local.contains(*ip) {
                    self.want(&mut st, *ip, now);
                }
            }
        }
    }

    fn lookup(&self, ip: IpAddr) -> Outcome {
        match self.inner.resolver {
            // getnameinfo takes no timeout: it runs here, one at a time, and requests see the
            // address without a name meanwhile.
            Resolver::System => system_lookup(ip),
            Resolver::Dns(server) => dns_lookup(server, ip, self.inner.timeout),
        }
    }
}

impl ResolverThread {
    /// Ask the thread to end. It is not waited for: it may be inside getnameinfo, which ends when
    /// the system resolver gives up, and nothing it holds needs saving.
    pub fn stop(self) {
        self.names.lock().stop = true;
        self.names.inner.wake.notify_all();
        drop(self.thread);
    }
}

/// A name as a resolver gave it, made safe to show: the final dot taken off, and refused when
/// empty, longer than a DNS name can be, not UTF-8 or holding control characters or bidi controls
/// (`text`): no real host name has them, so such an answer is no name rather than a cleaned one.
pub fn clean_name(raw: &[u8]) -> Option<String> {
    let raw = raw.strip_suffix(b".").unwrap_or(raw);
    if raw.is_empty() || raw.len() > MAX_NAME {
        return None;
    }
    let s = std::str::from_utf8(raw).ok()?;
    crate::text::is_clean(s).then(|| s.to_string())
}

/// libc's getnameinfo with NI_NAMEREQD: /etc/hosts, mDNS and DNS as nsswitch.conf orders them.
pub fn system_lookup(ip: IpAddr) -> Outcome {
    let addr = socket2::SockAddr::from(SocketAddr::new(ip, 0));
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: addr is a valid sockaddr of addr.len() bytes; host is a buffer of host.len() bytes
    // that getnameinfo NUL-terminates on success; no service is asked for.
    let rc = unsafe {
        libc::getnameinfo(
            addr.as_ptr().cast(),
            addr.len(),
            host.as_mut_ptr(),
            host.len() as _,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    match rc {
        0 => {
            // SAFETY: NUL-terminated by getnameinfo within the buffer.
            let c = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
            match clean_name(c.to_bytes()) {
                Some(n) => Outcome::Name(n),
                None => Outcome::Error("the resolver gave a name that cannot be shown".into()),
            }
        }
        libc::EAI_NONAME => Outcome::NoName,
        libc::EAI_AGAIN => Outcome::Timeout,
        rc => {
            // SAFETY: gai_strerror returns a static string for any code.
            let msg = unsafe { std::ffi::CStr::from_ptr(libc::gai_strerror(rc)) };
            Outcome::Error(msg.to_string_lossy().into_owned())
        }
    }
}

// ---- a minimal DNS client: one PTR question over UDP (RFC 1035) ----

const TYPE_PTR: u16 = 12;
const TYPE_CNAME: u16 = 5;
const CLASS_IN: u16 = 1;
/// Answer records looked at at most; a PTR answer has one or two.
const MAX_RECORDS: usize = 32;

/// `13.1.168.192.in-addr.arpa` for 192.168.1.13; IPv6 as 32 nibbles under `ip6.arpa` (RFC 3596).
pub fn reverse_name(ip: IpAddr) -> String {
    match crate::net::normalize(ip) {
        IpAddr::V4(a) => {
            let o = a.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(a) => {
            let mut s = String::with_capacity(72);
            for b in a.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

/// A query for `qname`'s PTR record, recursion desired.
pub fn query(id: u16, qname: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(12 + qname.len() + 6);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // one question
    for label in qname.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&TYPE_PTR.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    q
}

/// Why an answer was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    /// Not the answer to our question (another id or question): wait for the right one.
    NotOurs,
    /// Ours, but unusable.
    Bad(String),
}

/// The name in a reply to [`query`]`(id, qname)`: `Ok(None)` when there is none (NXDOMAIN, or
/// no PTR record).
pub fn parse_answer(msg: &[u8], id: u16, qname: &str) -> Result<Option<String>, Rejected> {
    let bad = |m: &str| Rejected::Bad(m.to_string());
    let u16_at = |p: usize| msg.get(p..p + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    if msg.len() < 12 {
        return Err(Rejected::NotOurs);
    }
    let flags = u16_at(2).unwrap_or(0);
    // A query (QR clear) or another id is not our answer, whoever sent it.
    if u16_at(0) != Some(id) || flags & 0x8000 == 0 || (flags >> 11) & 0xf != 0 {
        return Err(Rejected::NotOurs);
    }
    let (qd, an) = (u16_at(4).unwrap_or(0), u16_at(6).unwrap_or(0));
    if qd != 1 {
        return Err(Rejected::NotOurs);
    }
    let (qn, mut pos) = read_name(msg, 12).ok_or(Rejected::NotOurs)?;
    if !qn.eq_ignore_ascii_case(qname) || u16_at(pos) != Some(TYPE_PTR) || u16_at(pos + 2) != Some(CLASS_IN) {
        return Err(Rejected::NotOurs);
    }
    pos += 4;
    if flags & 0x0200 != 0 {
        return Err(bad("truncated answer"));
    }
    match flags & 0xf {
        0 => {}
        3 => return Ok(None),
        rcode => return Err(Rejected::Bad(format!("rcode {rcode}"))),
    }
    // (owner, type, name in the record's data)
    let mut records: Vec<(String, u16, Result<String, String>)> = Vec::new();
    for _ in 0..usize::from(an).min(MAX_RECORDS) {
        let (owner, p) = read_name(msg, pos).ok_or_else(|| bad("malformed record name"))?;
        let (ty, class) = (u16_at(p).ok_or_else(|| bad("cut short"))?, u16_at(p + 2).ok_or_else(|| bad("cut short"))?);
        let len = usize::from(u16_at(p + 8).ok_or_else(|| bad("cut short"))?);
        let data = p + 10;
        if data + len > msg.len() {
            return Err(bad("record data cut short"));
        }
        pos = data + len;
        if class != CLASS_IN || (ty != TYPE_PTR && ty != TYPE_CNAME) {
            continue;
        }
        let target = match read_name(msg, data) {
            Some((n, end)) if end <= data + len => Ok(n),
            _ => Err("malformed name in record data".to_string()),
        };
        records.push((owner, ty, target));
    }
    // Classless delegation (RFC 2317) answers with a CNAME to the PTR record's real place.
    let mut owners = vec![qname.to_ascii_lowercase()];
    for _ in 0..8 {
        let more: Vec<String> = records
            .iter()
            .filter(|(o, ty, _)| *ty == TYPE_CNAME && owners.contains(&o.to_ascii_lowercase()))
            .filter_map(|(_, _, t)| t.as_ref().ok().map(|t| t.to_ascii_lowercase()))
            .filter(|t| !owners.contains(t))
            .collect();
        if more.is_empty() {
            break;
        }
        owners.extend(more);
    }
    let ptr = records.iter().find(|(o, ty, _)| *ty == TYPE_PTR && owners.contains(&o.to_ascii_lowercase()));
    match ptr {
        None => Ok(None),
        Some((_, _, Ok(name))) => clean_name(name.as_bytes()).map(Some).ok_or_else(|| bad("name cannot be shown")),
        Some((_, _, Err(e))) => Err(Rejected::Bad(e.clone())),
    }
}

/// The name at `pos` as text (labels joined by dots, no final dot) and where what follows it
/// starts. Compression pointers must point before the place they jump from (each jump goes
/// further back), so a loop cannot be built; labels holding dots or control bytes are refused
/// (a shown name must say what it is), as are names longer than DNS allows.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut out: Vec<u8> = Vec::new();
    let mut after = None;
    let mut floor = pos;
    loop {
        let len = usize::from(*msg.get(pos)?);
        match len & 0xc0 {
            0 if len == 0 => {
                let s = String::from_utf8(out).ok()?;
                return Some((s, after.unwrap_or(pos + 1)));
            }
            0 => {
                let label = msg.get(pos + 1..pos + 1 + len)?;
                if label.iter().any(|&b| b < 0x20 || b == 0x7f || b == b'.') {
                    return None;
                }
                if !out.is_empty() {
                    out.push(b'.');
                }
                out.extend_from_slice(label);
                if out.len() > MAX_NAME {
                    return None;
                }
                pos += 1 + len;
            }
            0xc0 => {
                let target = ((len & 0x3f) << 8) | usize::from(*msg.get(pos + 1)?);
                if target >= floor {
                    return None;
                }
                after.get_or_insert(pos + 2);
                floor = target;
                pos = target;
            }
            // 0x40 and 0x80: label types RFC 6891 retired.
            _ => return None,
        }
    }
}

/// Ask `server` for `ip`'s PTR record, waiting at most `timeout`. Replies that are not the
/// answer to this query (another id or question) are ignored; the connected socket already
/// takes datagrams from `server` only.
pub fn dns_lookup(server: SocketAddr, ip: IpAddr, timeout: Duration) -> Outcome {
    let qname = reverse_name(ip);
    let mut id = [0u8; 2];
    if let Err(e) = getrandom::getrandom(&mut id) {
        return Outcome::Error(format!("random query id: {e}"));
    }
    let id = u16::from_be_bytes(id);
    let bind: SocketAddr =
        if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
    let sock = match UdpSocket::bind(bind).and_then(|s| s.connect(server).map(|()| s)) {
        Ok(s) => s,
        Err(e) => return Outcome::Error(format!("socket: {e}")),
    };
    if let Err(e) = sock.send(&query(id, &qname)) {
        return Outcome::Error(format!("send to {server}: {e}"));
    }
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 1500];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Outcome::Timeout;
        }
        if let Err(e) = sock.set_read_timeout(Some(left)) {
            return Outcome::Error(format!("socket: {e}"));
        }
        match sock.recv(&mut buf) {
            Ok(n) => match parse_answer(&buf[..n], id, &qname) {
                Ok(Some(name)) => return Outcome::Name(name),
                Ok(None) => return Outcome::NoName,
                Err(Rejected::NotOurs) => continue,
                Err(Rejected::Bad(m)) => return Outcome::Error(m),
            },
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Outcome::Timeout
            }
            Err(e) => return Outcome::Error(format!("{server}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::IpNet;

    fn cfg(max: usize) -> NamesConfig {
        let mut hosts = std::collections::BTreeMap::new();
        hosts.insert(ip("192.168.1.10"), "Living-room TV".to_string());
        NamesConfig {
            hosts,
            devices: Vec::new(),
            reverse_dns: true,
            resolver: Resolver::System,
            ttl: Duration::from_secs(3600),
            negative_ttl: Duration::from_secs(600),
            max,
            timeout: Duration::from_secs(2),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn names(max: usize) -> (Names, Arc<Stats>) {
        let stats = Arc::new(Stats::default());
        let local = LocalNets::new(vec!["192.168.0.0/16".parse::<IpNet>().unwrap(), "fd00::/8".parse().unwrap()]);
        (Names::new(&cfg(max), &local, stats.clone()), stats)
    }

    fn queued(n: &Names) -> Vec<IpAddr> {
        n.lock().queue.iter().copied().collect()
    }

    #[test]
    fn config_names_come_first_and_only_local_hosts_are_queued() {
        let (n, _) = names(16);
        assert_eq!(n.get(ip("192.168.1.10")).as_deref(), Some("Living-room TV"));
        // A v4-mapped address is the same host.
        assert_eq!(n.get(ip("::ffff:192.168.1.10")).as_deref(), Some("Living-room TV"));
        assert_eq!(n.get(ip("8.8.8.8")), None);
        assert_eq!(n.get(ip("2001:db8::1")), None);
        assert!(queued(&n).is_empty(), "neither a named host nor a remote address is looked up");

        let mut c = cfg(16);
        c.reverse_dns = false;
        let off = Names::new(&c, &LocalNets::new(vec!["192.168.0.0/16".parse().unwrap()]), Arc::new(Stats::default()));
        assert_eq!(off.get(ip("192.168.1.10")).as_deref(), Some("Living-room TV"));
        assert_eq!(off.get(ip("192.168.1.11")), None);
        assert!(queued(&off).is_empty());
    }

    #[test]
    fn misses_are_queued_once_and_a_full_queue_drops_and_counts() {
        let (n, stats) = names(16);
        for _ in 0..3 {
            assert_eq!(n.get(ip("192.168.1.11")), None);
        }
        assert_eq!(queued(&n), vec![ip("192.168.1.11")]);
        // Taken by the resolver thread, it is still pending until its answer is stored.
        let taken = n.lock().queue.pop_front().unwrap();
        assert_eq!(n.get(taken), None);
        assert!(queued(&n).is_empty());
        for i in 0..20 {
            n.get(ip(&format!("192.168.2.{i}")));
        }
        assert_eq!(queued(&n).len(), 16);
        assert_eq!(stats::get(&stats.name_queue_dropped), 4);
    }

    #[test]
    fn answers_expire_and_are_asked_again() {
        let (n, stats) = names(16);
        let t0 = Instant::now();
        let (a, b) = (ip("192.168.1.11"), ip("192.168.1.12"));
        n.get_at(a, t0);
        n.get_at(b, t0);
        n.lock().queue.clear();
        n.store(a, &Outcome::Name("laptop.lan".into()), t0);
        n.store(b, &Outcome::NoName, t0);
        assert_eq!(n.get_at(a, t0 + Duration::from_secs(3599)).as_deref(), Some("laptop.lan"));
        assert_eq!(n.get_at(b, t0 + Duration::from_secs(599)), None);
        assert!(queued(&n).is_empty(), "fresh answers, also 'no name', are not asked again");
        // Past negative_ttl the no-name is asked again; past ttl the name too, and is shown
        // meanwhile.
        assert_eq!(n.get_at(b, t0 + Duration::from_secs(600)), None);
        assert_eq!(queued(&n), vec![b]);
        assert_eq!(n.get_at(a, t0 + Duration::from_secs(3600)).as_deref(), Some("laptop.lan"));
        assert_eq!(queued(&n), vec![b, a]);
        // The new answer replaces the old one.
        n.store(a, &Outcome::NoName, t0 + Duration::from_secs(3601));
        assert_eq!(n.get_at(a, t0 + Duration::from_secs(3602)), None);
        assert_eq!(stats::get(&stats.name_lookups), 3);
        assert_eq!(stats::get(&stats.name_failures_no_name), 2);
        assert_eq!(stats::get(&stats.name_cache_entries), 2);
    }

    #[test]
    fn the_cache_is_bounded_and_drops_the_oldest() {
        let (n, stats) = names(16);
        let t0 = Instant::now();
        for i in 0..16u64 {
            n.store(ip(&format!("192.168.3.{i}")), &Outcome::Name(format!("h{i}")), t0 + Duration::from_secs(i));
        }
        assert_eq!(stats::get(&stats.name_cache_evictions), 0);
        // Storing a cached address again takes no room.
        n.store(ip("192.168.3.5"), &Outcome::Name("h5".into()), t0 + Duration::from_secs(20));
        assert_eq!(stats::get(&stats.name_cache_evictions), 0);
        n.store(ip("192.168.3.100"), &Outcome::Timeout, t0 + Duration::from_secs(21));
        n.store(ip("192.168.3.101"), &Outcome::Error("x".into()), t0 + Duration::from_secs(22));
        assert_eq!(stats::get(&stats.name_cache_evictions), 2);
        assert_eq!(stats::get(&stats.name_cache_entries), 16);
        let st = n.lock();
        assert_eq!(st.cache.len(), 16);
        assert!(!st.cache.contains_key(&ip("192.168.3.0")) && !st.cache.contains_key(&ip("192.168.3.1")));
        assert!(st.cache.contains_key(&ip("192.168.3.5")) && st.cache.contains_key(&ip("192.168.3.2")));
        drop(st);
        assert_eq!(stats::get(&stats.name_failures_timeout), 1);
        assert_eq!(stats::get(&stats.name_failures_error), 1);
    }

    #[test]
    fn reverse_names() {
        assert_eq!(reverse_name(ip("192.168.1.13")), "13.1.168.192.in-addr.arpa");
        assert_eq!(reverse_name(ip("::ffff:10.0.0.1")), "1.0.0.10.in-addr.arpa");
        assert_eq!(
            reverse_name(ip("2001:db8::567:89ab")),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
    }

    #[test]
    fn query_encoding() {
        let q = query(0xbeef, "13.1.168.192.in-addr.arpa");
        let mut want = vec![0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(b"\x0213\x011\x03168\x03192\x07in-addr\x04arpa\x00");
        want.extend_from_slice(&[0, 12, 0, 1]);
        assert_eq!(q, want);
    }

    const Q: &str = "11.1.168.192.in-addr.arpa";

    /// An answer to query(id, Q): flags, then records (owner as given, type, rdata).
    fn answer(id: u16, flags: u16, records: &[(&[u8], u16, Vec<u8>)]) -> Vec<u8> {
        let mut m = query(id, Q);
        m[2..4].copy_from_slice(&flags.to_be_bytes());
        m[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
        for (owner, ty, data) in records {
            m.extend_from_slice(owner);
            m.extend_from_slice(&ty.to_be_bytes());
            m.extend_from_slice(&[0, 1, 0, 0, 0x0e, 0x10]); // IN, ttl 3600
            m.extend_from_slice(&(data.len() as u16).to_be_bytes());
            m.extend_from_slice(data);
        }
        m
    }

    /// A name in wire form.
    fn wire(name: &str) -> Vec<u8> {
        let mut w = Vec::new();
        for l in name.split('.').filter(|l| !l.is_empty()) {
            w.push(l.len() as u8);
            w.extend_from_slice(l.as_bytes());
        }
        w.push(0);
        w
    }

    /// 0xc00c: a pointer to the question's name.
    const AT_Q: &[u8] = &[0xc0, 0x0c];

    #[test]
    fn answers_are_read() {
        let ok = answer(7, 0x8180, &[(AT_Q, TYPE_PTR, wire("laptop.lan."))]);
        assert_eq!(parse_answer(&ok, 7, Q), Ok(Some("laptop.lan".into())));
        // The question's name in another case is still ours (0x20 mixing).
        assert_eq!(parse_answer(&ok, 7, &Q.to_uppercase()), Ok(Some("laptop.lan".into())));
        // NXDOMAIN, and an answer without a PTR record (an A record, a PTR of another name).
        assert_eq!(parse_answer(&answer(7, 0x8183, &[]), 7, Q), Ok(None));
        assert_eq!(parse_answer(&answer(7, 0x8180, &[(AT_Q, 1, vec![192, 168, 1, 11])]), 7, Q), Ok(None));
        let other = wire("12.1.168.192.in-addr.arpa");
        assert_eq!(parse_answer(&answer(7, 0x8180, &[(&other, TYPE_PTR, wire("x.lan"))]), 7, Q), Ok(None));
        // RFC 2317: a CNAME to where the PTR record is, and the PTR there; the name may be compressed.
        let delegated = wire("11.0-25.1.168.192.in-addr.arpa");
        let m = answer(7, 0x8180, &[(AT_Q, TYPE_CNAME, delegated.clone()), (&delegated, TYPE_PTR, wire("nas.home"))]);
        assert_eq!(parse_answer(&m, 7, Q), Ok(Some("nas.home".into())));
        // mDNS-style names and UTF-8 are kept as the resolver gave them.
        let m = answer(7, 0x8180, &[(AT_Q, TYPE_PTR, wire("Björns-iPhone.local"))]);
        assert_eq!(parse_answer(&m, 7, Q), Ok(Some("Björns-iPhone.local".into())));
    }

    #[test]
    fn hostile_answers_are_refused() {
        let ok = answer(7, 0x8180, &[(AT_Q, TYPE_PTR, wire("laptop.lan"))]);
        // Another id, a query, another question: not ours, keep waiting.
        assert_eq!(parse_answer(&ok, 8, Q), Err(Rejected::NotOurs));
        let mut q = ok.clone();
        q[2] &= 0x7f;
        assert_eq!(parse_answer(&q, 7, Q), Err(Rejected::NotOurs));
        assert_eq!(parse_answer(&ok, 7, "12.1.168.192.in-addr.arpa"), Err(Rejected::NotOurs));
        // Cut anywhere: never a name, never a panic.
        for n in 0..ok.len() {
            assert!(!matches!(parse_answer(&ok[..n], 7, Q), Ok(Some(_))), "cut at {n}");
        }
        // Truncated (TC), server failure, refused.
        for flags in [0x8380, 0x8182, 0x8185] {
            assert!(matches!(parse_answer(&answer(7, flags, &[]), 7, Q), Err(Rejected::Bad(_))), "{flags:x}");
        }
        let bad = |data: Vec<u8>| parse_answer(&answer(7, 0x8180, &[(AT_Q, TYPE_PTR, data)]), 7, Q);
        // Compression loops: a pointer to itself, forward, and two pointing at each other.
        let at = ok.len() - wire("laptop.lan").len();
        let own = [0xc0 | (at >> 8) as u8, at as u8];
        assert!(matches!(bad(own.to_vec()), Err(Rejected::Bad(_))));
        let fwd = at + 2;
        assert!(matches!(bad(vec![0xc0 | (fwd >> 8) as u8, fwd as u8, 0]), Err(Rejected::Bad(_))));
        let mut pair = vec![1, b'a', 0xc0 | ((at + 4) >> 8) as u8, (at + 4) as u8];
        pair.extend_from_slice(&[0xc0 | (at >> 8) as u8, at as u8]);
        assert!(matches!(bad(pair), Err(Rejected::Bad(_))));
        // Names that cannot be shown: control bytes, a dot inside a label, too long, the root,
        // a retired label type, a name running out of its record.
        assert!(matches!(bad(b"\x05ev\x1bil\x03lan\x00".to_vec()), Err(Rejected::Bad(_))));
        assert!(matches!(bad(b"\x03a.b\x03lan\x00".to_vec()), Err(Rejected::Bad(_))));
        let long = format!("{}.lan", vec!["a".repeat(63); 4].join("."));
        assert!(matches!(bad(wire(&long)), Err(Rejected::Bad(_))));
        assert!(matches!(bad(vec![0]), Err(Rejected::Bad(_))));
        assert!(matches!(bad(vec![0x40, 0]), Err(Rejected::Bad(_))));
        let mut m = answer(7, 0x8180, &[(AT_Q, TYPE_PTR, wire("laptop.lan"))]);
        let len_at = m.len() - wire("laptop.lan").len() - 2;
        m[len_at + 1] = 3; // the record says its data is 3 bytes: the name runs past them
        m.truncate(len_at + 2 + 3);
        assert!(matches!(parse_answer(&m, 7, Q), Err(Rejected::Bad(_))));
        // A record count far beyond what is there.
        let mut m = ok.clone();
        m[6..8].copy_from_slice(&[0xff, 0xff]);
        assert!(matches!(parse_answer(&m, 7, Q), Err(Rejected::Bad(_))));
        // Every byte changed to every value: never a panic.
        for i in 0..ok.len() {
            for v in [0u8, 1, 0x3f, 0x40, 0xc0, 0xff] {
                let mut m = ok.clone();
                m[i] = v;
                let _ = parse_answer(&m, 7, Q);
            }
        }
    }

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean_name(b"laptop.lan.").as_deref(), Some("laptop.lan"));
        assert_eq!(clean_name(b"tv.local").as_deref(), Some("tv.local"));
        assert_eq!(clean_name(b"."), None);
        assert_eq!(clean_name(b""), None);
        assert_eq!(clean_name(b"a\nb"), None);
        assert_eq!(clean_name(b"a\x1b[31mb"), None);
        assert_eq!(clean_name("tv\u{202E}nal.".as_bytes()), None, "a bidi override");
        assert_eq!(clean_name(b"\xff\xfe"), None);
        assert_eq!(clean_name("a".repeat(254).as_bytes()), None);
    }

    /// A reply made from the query.
    type Reply = Box<dyn Fn(&[u8]) -> Vec<u8> + Send>;

    /// A DNS server on loopback answering with `replies` in turn.
    fn stub(replies: Vec<Reply>) -> SocketAddr {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = s.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let Ok((n, from)) = s.recv_from(&mut buf) else { return };
            for r in &replies {
                let _ = s.send_to(&r(&buf[..n]), from);
            }
        });
        addr
    }

    #[test]
    fn dns_lookups_wait_for_their_answer_and_time_out() {
        let reply = |id_delta: u16| {
            Box::new(move |q: &[u8]| {
                let id = u16::from_be_bytes([q[0], q[1]]).wrapping_add(id_delta);
                let mut m = answer(id, 0x8180, &[(AT_Q, TYPE_PTR, wire("laptop.lan."))]);
                // The question as asked.
                m.splice(12..12 + Q.len() + 2 + 4, q[12..].iter().copied());
                m
            }) as Reply
        };
        // A spoofed reply with another id first: ignored, the right one taken.
        let server = stub(vec![reply(1), reply(0)]);
        assert_eq!(dns_lookup(server, ip("192.168.1.11"), Duration::from_secs(5)), Outcome::Name("laptop.lan".into()));
        let server = stub(vec![reply(1)]);
        assert_eq!(dns_lookup(server, ip("192.168.1.11"), Duration::from_millis(300)), Outcome::Timeout);
    }

    #[test]
    fn the_system_resolver_reads_etc_hosts() {
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        let listed = hosts.lines().any(|l| {
            let mut f = l.split('#').next().unwrap_or("").split_whitespace();
            f.next() == Some("127.0.0.1") && f.next() == Some("localhost")
        });
        if !listed {
            eprintln!("skipped: /etc/hosts does not name 127.0.0.1 localhost first");
            return;
        }
        assert_eq!(system_lookup(ip("127.0.0.1")), Outcome::Name("localhost".into()));
    }
}
