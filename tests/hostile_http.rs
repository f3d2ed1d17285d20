//! The web server against what a hostile neighbour on the LAN can send (the attacks of the
//! hardening issue, each against the real binary at its default settings): the daemon stays alive
//! and counting, a normal client is answered within a second, memory stays bounded, connections
//! holding login forms open do not lock a logged-in browser out; and the login: nothing without
//! credentials, the generated password works, wrong passwords and tokens are rate-limited, a
//! foreign `Host:` and other sites' forms are refused, a logged-out cookie stays refused.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

/// HTTP Basic for user flowpi.
fn basic(password: &str) -> String {
    use std::fmt::Write as _;
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("flowpi:{password}").into_bytes();
    let mut out = String::new();
    for c in input.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    let mut h = String::new();
    let _ = write!(h, "Authorization: Basic {out}");
    h
}

/// A daemon at the default http settings (password login), and its generated password.
fn start(http_extra: &str) -> (Daemon, tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start_full(tmp.path(), Extra { http: http_extra, ..Extra::default() }, &[]);
    let password = std::fs::read_to_string(d.archive().join("initial-password")).unwrap().trim().to_string();
    assert_eq!(password.len(), 19, "{password:?}");
    (d, tmp, password)
}

fn authed(d: &Daemon, password: &str, path: &str) -> HttpReply {
    get_with(d.http, path, &[&basic(password)]).unwrap()
}

fn metric(d: &Daemon, password: &str, name: &str) -> u64 {
    let text = String::from_utf8(authed(d, password, "/metrics").body).unwrap();
    metric_value(&text, name).unwrap_or_else(|| panic!("{name} missing"))
}

/// A normal client's page load: `/` and `/api/status`, both answered within a second (five
/// under qemu-user, where a loaded machine alone can take a second): far less than the header
/// timeout an attack that blocked the server would make it wait.
fn page_answers_quickly(d: &Daemon, password: &str) {
    let t = Instant::now();
    assert_eq!(authed(d, password, "/").status, 200);
    assert_eq!(authed(d, password, "/api/status").status, 200);
    let bound = Duration::from_secs(if cfg!(target_arch = "x86_64") { 1 } else { 5 });
    assert!(t.elapsed() < bound, "page took {:?}", t.elapsed());
}

fn alive(d: &mut Daemon) {
    assert!(d.child.try_wait().unwrap().is_none(), "flowpi died; log:\n{}", d.log());
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Read what the server answers on `s` until it closes or goes quiet.
fn read_answer(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).to_string()
}

/// Raise this process's open-file limit so the test itself can hold a flood of connections.
fn raise_nofile(want: u64) {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain syscalls on a struct we own.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur = r.rlim_max.min(want as libc::rlim_t);
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
    }
}

#[test]
fn a_declared_huge_body_is_refused_unread_and_the_daemon_lives() {
    let (mut d, _tmp, pw) = start("");
    // tiny_http allocated this length when draining the unread body, and the daemon aborted.
    let mut s = connect(d.http);
    write!(s, "GET /api/status HTTP/1.1\r\nHost: localhost\r\n{}\r\nContent-Length: 100000000000\r\n\r\n", basic(&pw))
        .unwrap();
    let answer = read_answer(&mut s);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Chunked bodies too, and on unauthenticated requests.
    let mut s = connect(d.http);
    write!(s, "GET / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\n").unwrap();
    assert!(read_answer(&mut s).starts_with("HTTP/1.1 413"));
    alive(&mut d);
    page_answers_quickly(&d, &pw);
}

#[test]
fn floods_of_idle_connections_slow_readers_and_body_pinners_do_not_lock_a_client_out() {
    raise_nofile(8192);
    let (mut d, _tmp, pw) = start("");
    page_answers_quickly(&d, &pw); // argon2 once; Basic is then cached
    let threads_before = d.proc_status("Threads:");
    // Two requests that declare a body and never send it (pinned both tiny_http workers).
    let mut pinners: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = connect(d.http);
            write!(s, "GET /api/hosts HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n").unwrap();
            s
        })
        .collect();
    // 50 clients that pipeline 200 requests each and never read the answers.
    let mut slow = Vec::new();
    let pipelined = "GET /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n".repeat(200);
    for _ in 0..50 {
        let s = connect(d.http);
        s.set_nonblocking(true).unwrap();
        let _ = (&s).write(pipelined.as_bytes());
        slow.push(s);
    }
    // 500 connections that say nothing.
    let idle: Vec<TcpStream> = (0..500).map(|_| connect(d.http)).collect();
    page_answers_quickly(&d, &pw);
    // And well past the old thread-per-connection limit: a flood of 2,100 connections.
    let flood: Vec<TcpStream> = (0..2100).filter_map(|_| TcpStream::connect(d.http).ok()).collect();
    page_answers_quickly(&d, &pw);
    alive(&mut d);
    // Bounded: open connections never exceed http.max_connections (64); the rest were closed to
    // make room, and the pinners were answered 413 without their body.
    assert!(metric(&d, &pw, "flowpi_http_connections") <= 64);
    let evicted = metric(&d, &pw, "flowpi_http_connections_total{event=\"evicted_idle\"}")
        + metric(&d, &pw, "flowpi_http_connections_total{event=\"evicted_unauthenticated\"}");
    assert!(evicted >= 2000, "{evicted} evicted");
    for p in &mut pinners {
        p.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut b = [0u8; 12];
        let n = p.read(&mut b).unwrap_or(0);
        assert!(n == 0 || b.starts_with(b"HTTP/1.1 413"), "{:?}", String::from_utf8_lossy(&b[..n]));
    }
    // Connections are tasks, not threads.
    let threads_after = d.proc_status("Threads:");
    assert!(threads_after <= threads_before + 4, "threads {threads_before} -> {threads_after}");
    drop((idle, flood, slow));
    page_answers_quickly(&d, &pw);
}

#[test]
fn http2_request_lines_leave_nothing_behind() {
    let (mut d, _tmp, pw) = start("");
    page_answers_quickly(&d, &pw);
    let threads_before = d.proc_status("Threads:");
    let mut conns = Vec::new();
    for _ in 0..300 {
        let mut s = connect(d.http);
        let _ = write!(s, "GET / HTTP/2.0\r\nHost: localhost\r\n\r\n");
        conns.push(s);
    }
    for s in &mut conns {
        let a = read_answer(s);
        assert!(a.is_empty() || a.starts_with("HTTP/1.1 505") || a.starts_with("HTTP/1.1 400"), "{a}");
    }
    alive(&mut d);
    assert!(d.proc_status("Threads:") <= threads_before + 4);
    page_answers_quickly(&d, &pw);
    assert_eq!(metric(&d, &pw, "flowpi_http_connections"), 1, "only the metrics request itself is open");
}

#[test]
fn huge_headers_get_431_and_memory_stays_bounded() {
    let (mut d, _tmp, pw) = start("");
    page_answers_quickly(&d, &pw);
    // 15 KiB of headers is fine, 17 KiB is not.
    let ok = get_with(d.http, "/api/status", &[&basic(&pw), &format!("X-Pad: {}", "a".repeat(15_000))]).unwrap();
    assert_eq!(ok.status, 200);
    let big = get_with(d.http, "/api/status", &[&basic(&pw), &format!("X-Pad: {}", "a".repeat(17_000))]).unwrap();
    assert_eq!(big.status, 431);
    // Three connections each trying to send 150 MB of headers (RSS went to 515 MB before).
    let before = d.proc_status("VmRSS:");
    let addr = d.http;
    let senders: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = connect(addr);
                let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n");
                let line = format!("X-Pad: {}\r\n", "b".repeat(1000));
                let mut sent = 0usize;
                while sent < 150 << 20 {
                    match s.write_all(line.as_bytes()) {
                        Ok(()) => sent += line.len(),
                        Err(_) => break, // the server closed the connection: the point
                    }
                }
                sent
            })
        })
        .collect();
    let mut peak = 0;
    while senders.iter().any(|t| !t.is_finished()) {
        peak = peak.max(d.proc_status("VmRSS:"));
        std::thread::sleep(Duration::from_millis(20));
    }
    for t in senders {
        assert!(t.join().unwrap() < 150 << 20, "the server must close a connection whose headers never end");
    }
    // Each connection may hold 16 KiB of headers; allow slack for allocator growth.
    assert!(peak < before + 8 * 1024, "RSS {before} -> {peak} KiB during the header attack");
    // Under qemu-user (the cross tests) RSS is the emulator's as well; the absolute bound is
    // the native binary's.
    let exe = std::fs::read_link(format!("/proc/{}/exe", d.child.id())).unwrap_or_default();
    if !exe.to_string_lossy().contains("qemu") {
        assert!(peak < 64 * 1024, "RSS {peak} KiB during the header attack");
    }
    alive(&mut d);
    page_answers_quickly(&d, &pw);
}

#[test]
fn slow_headers_and_idle_keepalive_are_closed() {
    let (mut d, _tmp, pw) = start("header_timeout = \"1s\"\nidle_timeout = \"2s\"");
    // Headers a byte at a time (slowloris): closed after the header timeout.
    let mut slow = connect(d.http);
    slow.write_all(b"GET / HTT").unwrap();
    // A keep-alive connection after its request: closed after the idle timeout, not before.
    let mut keep = connect(d.http);
    write!(keep, "GET /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut first = [0u8; 15];
    keep.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200 OK");
    let t = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    slow.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    assert_eq!(slow.read(&mut [0u8; 64]).expect("closed, not just quiet"), 0, "slow headers closed");
    keep.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    let _ = keep.read_to_end(&mut rest);
    let idle_for = t.elapsed();
    assert!(idle_for >= Duration::from_millis(1500) && idle_for < Duration::from_secs(4), "{idle_for:?}");
    assert!(metric(&d, &pw, "flowpi_http_connections_total{event=\"timed_out\"}") >= 2);
    alive(&mut d);
}

#[test]
fn nothing_without_login_and_the_generated_password_works() {
    let (mut d, _tmp, pw) = start("");
    // The page leads to the login form; API, graphs and metrics answer 401.
    let page = d.get("/");
    assert_eq!(page.status, 303);
    assert!(page.headers.to_ascii_lowercase().contains("location: /login"), "{}", page.headers);
    for path in [
        "/api/hosts",
        "/api/interfaces",
        "/api/exporters",
        "/api/status",
        "/api/doctor",
        "/metrics",
        "/app.js",
        "/graph/host/192.168.1.1/day.png",
    ] {
        assert_eq!(d.get(path).status, 401, "{path}");
    }
    let login = d.get("/login");
    assert_eq!(login.status, 200);
    let html = String::from_utf8_lossy(&login.body).to_string();
    assert!(html.contains("type=\"password\""));
    assert!(!html.contains("192.168") && !html.contains(&pw), "the login page reveals nothing");
    // The generated password: by HTTP Basic and by the form, whose cookie then opens everything.
    assert_eq!(authed(&d, &pw, "/api/hosts").status, 200);
    assert_eq!(authed(&d, &pw, "/api/doctor").status, 200);
    assert_eq!(get_with(d.http, "/api/hosts", &[&basic("wrong-password")]).unwrap().status, 401);
    let body = format!("password={pw}");
    let r = raw_request(
        d.http,
        &format!("POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()),
    )
    .unwrap();
    assert_eq!(r.status, 303, "{}", r.headers);
    let cookie_line = r.headers.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).unwrap();
    assert!(cookie_line.contains("HttpOnly") && cookie_line.contains("SameSite=Strict"), "{cookie_line}");
    let cookie = cookie_line.split_once(':').unwrap().1.trim().split(';').next().unwrap().to_string();
    assert_eq!(get_with(d.http, "/", &[&format!("Cookie: {cookie}")]).unwrap().status, 200);
    assert_eq!(get_with(d.http, "/metrics", &[&format!("Cookie: {cookie}")]).unwrap().status, 200);
    // A forged or altered cookie is not a session.
    let last = if cookie.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &cookie[..cookie.len() - 1]);
    assert_eq!(get_with(d.http, "/api/hosts", &[&format!("Cookie: {forged}")]).unwrap().status, 401);
    // The password is in the log once, for the journal.
    assert_eq!(d.log().matches(&pw).count(), 1);
    // After a restart the same password and session still work (kept in archive.dir).
    assert_eq!(d.stop(), 0);
    let d2 = Daemon::start_full(&d.dir, Extra::default(), &[]);
    assert_eq!(get_with(d2.http, "/api/status", &[&format!("Cookie: {cookie}")]).unwrap().status, 200);
    assert!(!d2.log().contains(&pw), "a known password is not logged again");
}

#[test]
fn wrong_passwords_are_rate_limited_and_foreign_hosts_refused() {
    let (d, _tmp, pw) = start("");
    let form = |password: &str| {
        let body = format!("password={password}");
        raw_request(
            d.http,
            &format!(
                "POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
        .unwrap()
        .status
    };
    let statuses: Vec<u16> = (0..6).map(|i| form(&format!("guess-{i}"))).collect();
    assert_eq!(&statuses[..4], &[401, 401, 401, 401]);
    assert!(statuses[4..].contains(&429), "{statuses:?}");
    // Blocked: even the right password waits, so guessing cannot go on.
    assert_eq!(form(&pw), 429);
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(form(&pw), 303, "after the wait the right password works");
    assert!(metric(&d, &pw, "flowpi_logins_total{outcome=\"wrong\"}") >= 5);
    assert!(metric(&d, &pw, "flowpi_logins_total{outcome=\"rate_limited\"}") >= 1);
    // DNS rebinding: a foreign name pointed at the Pi is refused, even with the password.
    let mut s = connect(d.http);
    write!(s, "GET /api/hosts HTTP/1.1\r\nHost: attacker.example\r\n{}\r\nConnection: close\r\n\r\n", basic(&pw))
        .unwrap();
    assert!(read_answer(&mut s).starts_with("HTTP/1.1 421"));
    for host in ["127.0.0.1", "localhost:3000", "flowpi.local", "[::1]:80"] {
        let mut s = connect(d.http);
        write!(s, "GET /login HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
        assert!(read_answer(&mut s).starts_with("HTTP/1.1 200"), "{host}");
    }
    // A login form posted from another site is refused.
    let body = format!("password={pw}");
    let r = raw_request(
        d.http,
        &format!("POST /login HTTP/1.1\r\nHost: localhost\r\nOrigin: http://attacker.example\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()),
    )
    .unwrap();
    assert_eq!(r.status, 403);
}

#[test]
fn tokens_read_and_auth_none_is_explicit() {
    let tmp = tempfile::tempdir().unwrap();
    let token = "prometheus-scrape-token-0123456789";
    let d = Daemon::start_full(tmp.path(), Extra { http: &format!("tokens = [\"{token}\"]"), ..Extra::default() }, &[]);
    assert_eq!(get_with(d.http, "/metrics", &[&format!("Authorization: Bearer {token}")]).unwrap().status, 200);
    assert_eq!(get_with(d.http, "/metrics", &["Authorization: Bearer not-the-token-at-all-000"]).unwrap().status, 401);
    // auth = "none" must be chosen; then no password file is made.
    let open = tempfile::tempdir().unwrap();
    let d2 = Daemon::start_full(open.path(), Extra { http: "auth = \"none\"", ..Extra::default() }, &[]);
    assert_eq!(d2.get("/api/hosts").status, 200);
    assert!(!d2.archive().join("initial-password").exists());
    assert!(d2.log().contains("http.auth = \"none\""));
}

#[test]
fn a_client_that_never_reads_its_answers_is_closed_after_the_write_stall() {
    let (mut d, _tmp, pw) = start("idle_timeout = \"120s\"");
    // Pipelined requests whose answers (about 2 MB) overflow the socket buffers: the server's
    // writes stop making progress.
    let mut s = connect(d.http);
    s.write_all("GET /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n".repeat(400).as_bytes()).unwrap();
    let t = Instant::now();
    while metric(&d, &pw, "flowpi_http_connections_total{event=\"timed_out\"}") == 0 {
        assert!(t.elapsed() < Duration::from_secs(45), "the stalled connection is still open");
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = t.elapsed();
    assert!(after >= Duration::from_secs(29) && after < Duration::from_secs(40), "closed after {after:?}");
    // It was answered up to the stall, then closed: reading now drains and ends.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    assert!(all.starts_with(b"HTTP/1.1 200"));
    alive(&mut d);
}

/// A connection from a chosen loopback address (all of 127/8 is local), so each counts as its own
/// client for the rate limit.
fn connect_from(addr: SocketAddr, from: std::net::Ipv4Addr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    s.connect(&addr.into()).unwrap();
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s
}

#[test]
fn a_flood_of_wrong_passwords_costs_one_argon2_at_a_time_and_gives_the_memory_back() {
    let (mut d, _tmp, pw) = start("max_connections = 256");
    page_answers_quickly(&d, &pw);
    // /metrics once before the baseline too: its first answer runs code (the doctor's checks)
    // that under qemu-user costs translated code in the RSS (10 MB on aarch64), not the flood.
    assert_eq!(metric(&d, &pw, "flowpi_logins_total{outcome=\"wrong\"}"), 0);
    let before = d.proc_status("VmRSS:");
    // 48 wrong passwords at once from 8 clients: each client's first five are checked, the sixth
    // is refused unchecked (attempts count before their check, so concurrency does not help).
    let addr = d.http;
    let clients: Vec<_> = (0..48)
        .map(|i| {
            std::thread::spawn(move || {
                let mut s = connect_from(addr, std::net::Ipv4Addr::new(127, 0, 1, 1 + (i % 8) as u8));
                write!(
                    s,
                    "GET /api/hosts HTTP/1.1\r\nHost: localhost\r\n{}\r\nConnection: close\r\n\r\n",
                    basic(&format!("guess-{i}"))
                )
                .unwrap();
                read_answer(&mut s)
            })
        })
        .collect();
    let mut peak = 0;
    while clients.iter().any(|t| !t.is_finished()) {
        peak = peak.max(d.proc_status("VmRSS:"));
        std::thread::sleep(Duration::from_millis(10));
    }
    let answers: Vec<String> = clients.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(answers.iter().all(|a| a.starts_with("HTTP/1.1 401") || a.starts_with("HTTP/1.1 429")), "{answers:?}");
    assert_eq!(metric(&d, &pw, "flowpi_logins_total{outcome=\"wrong\"}"), 40);
    assert_eq!(metric(&d, &pw, "flowpi_logins_total{outcome=\"rate_limited\"}"), 8);
    // One argon2 run (19 MiB) at a time, and each run's memory handed back when it ends.
    assert!(peak < before + 40 * 1024, "RSS {before} -> peak {peak} KiB");
    let after = d.proc_status("VmRSS:");
    assert!(after < before + 8 * 1024, "RSS {before} -> {after} KiB after the flood");
    alive(&mut d);
    page_answers_quickly(&d, &pw);
}

/// The session cookie (`flowpi_session=...`) the login form sets for `password`.
fn login_cookie(d: &Daemon, password: &str) -> String {
    let body = format!("password={password}");
    let r = raw_request(
        d.http,
        &format!(
            "POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .unwrap();
    assert_eq!(r.status, 303, "{}", r.headers);
    let line = r.headers.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).unwrap();
    line.split_once(':').unwrap().1.trim().split(';').next().unwrap().to_string()
}

/// `n` clients that each open a connection, send `POST /login` declaring a 1000-byte body and
/// send only `password=`, and open the next as soon as the server closes it, from `addresses`
/// loopback addresses; until `stop`. Returns the threads (each gives its connection count).
fn login_pinners(
    addr: SocketAddr,
    n: usize,
    addresses: u8,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<std::thread::JoinHandle<u64>> {
    use std::sync::atomic::Ordering;
    (0..n)
        .map(|i| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let from = std::net::Ipv4Addr::new(127, 0, 2, 1 + (i % addresses as usize) as u8);
                let mut opened = 0;
                while !stop.load(Ordering::Relaxed) {
                    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
                    s.bind(&SocketAddr::from((from, 0)).into()).unwrap();
                    if s.connect_timeout(&addr.into(), Duration::from_secs(2)).is_err() {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                    opened += 1;
                    let mut s: TcpStream = s.into();
                    s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
                    let _ = s
                        .write_all(b"POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\npassword=");
                    // Hold it until the server closes it (or the test ends).
                    let mut buf = [0u8; 512];
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) => break,
                            Ok(_) => {}
                            Err(e)
                                if e.kind() == std::io::ErrorKind::WouldBlock
                                    || e.kind() == std::io::ErrorKind::TimedOut =>
                            {
                                if stop.load(Ordering::Relaxed) {
                                    break;
                                }
                            }
                            Err(_) => break,
                        }
                    }
                }
                opened
            })
        })
        .collect()
}

#[test]
fn login_pinners_do_not_lock_a_logged_in_browser_out() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    raise_nofile(8192);
    let (mut d, _tmp, pw) = start("");
    let cookie = format!("Cookie: {}", login_cookie(&d, &pw));
    // /metrics once before the baseline: its first answer runs code the RSS would count.
    metric(&d, &pw, "flowpi_http_connections");
    let before = d.proc_status("VmRSS:");
    // 64 pinners from one address (the attack as reported), then 256 from 64 addresses (a guest
    // with many addresses, as IPv6 gives every device on the LAN).
    for (n, addresses) in [(64, 1), (256, 64)] {
        let stop = Arc::new(AtomicBool::new(false));
        let pinners = login_pinners(d.http, n, addresses, &stop);
        std::thread::sleep(Duration::from_secs(2));
        // The logged-in browser: a new connection per request, as after its own were closed.
        let (mut ok, mut tried, mut peak) = (0u32, 0u32, 0u64);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            tried += 1;
            let r = raw_request(
                d.http,
                &format!("GET /api/status HTTP/1.1\r\nHost: localhost\r\n{cookie}\r\nConnection: close\r\n\r\n"),
            );
            if r.is_ok_and(|r| r.status == 200) {
                ok += 1;
            }
            peak = peak.max(d.proc_status("VmRSS:"));
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
        let opened: u64 = pinners.into_iter().map(|t| t.join().unwrap()).sum();
        let rate = f64::from(ok) / f64::from(tried);
        eprintln!(
            "{n} login pinners from {addresses} address(es), {opened} connections: {ok}/{tried} of the browser's requests answered ({:.1} %), RSS {before} -> peak {peak} KiB",
            rate * 100.0
        );
        assert!(rate >= 0.95, "{n} pinners: only {ok} of {tried} requests answered");
        let exe = std::fs::read_link(format!("/proc/{}/exe", d.child.id())).unwrap_or_default();
        if !exe.to_string_lossy().contains("qemu") {
            assert!(peak <= 24 * 1024, "RSS {peak} KiB under {n} login pinners");
        }
        alive(&mut d);
    }
    // The one address was held to its share; the rest made room for newcomers.
    assert!(metric(&d, &pw, "flowpi_http_connections_total{event=\"client_limit\"}") > 0);
    assert!(metric(&d, &pw, "flowpi_http_connections_total{event=\"evicted_unauthenticated\"}") > 0);
    page_answers_quickly(&d, &pw);
}

/// A request with extra header lines from a chosen loopback address; the whole answer.
fn request_from(d: &Daemon, from: std::net::Ipv4Addr, head: &str) -> String {
    let mut s = connect_from(d.http, from);
    s.write_all(head.as_bytes()).unwrap();
    read_answer(&mut s)
}

fn status_of(answer: &str) -> u16 {
    answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn logging_out_ends_the_session_also_after_a_restart() {
    let (mut d, _tmp, pw) = start("");
    let cookie = login_cookie(&d, &pw);
    let laptop = login_cookie(&d, &pw);
    let with = |d: &Daemon, c: &str, path: &str| get_with(d.http, path, &[&format!("Cookie: {c}")]).unwrap().status;
    let logout = |d: &Daemon, c: &str, headers: &str| {
        raw_request(
            d.http,
            &format!("POST /logout HTTP/1.1\r\nHost: localhost\r\nCookie: {c}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"),
        )
        .unwrap()
    };
    assert_eq!(with(&d, &cookie, "/api/status"), 200);
    // Another site's form (or a sandboxed frame) cannot log the user out.
    for headers in ["Origin: http://attacker.example\r\n", "Origin: null\r\n", "Sec-Fetch-Site: cross-site\r\n"] {
        assert_eq!(logout(&d, &cookie, headers).status, 403, "{headers}");
    }
    assert_eq!(with(&d, &cookie, "/api/status"), 200);
    assert_eq!(metric(&d, &pw, "flowpi_http_refused_total{reason=\"cross_site\"}"), 3);
    // The page's own form: the cookie is cleared, and a copy of it is worth nothing from now on.
    let r = logout(&d, &cookie, "Origin: http://localhost\r\nSec-Fetch-Site: same-origin\r\n");
    assert_eq!(r.status, 303);
    assert!(r.headers.contains("Max-Age=0"), "{}", r.headers);
    assert_eq!(with(&d, &cookie, "/api/status"), 401);
    assert_eq!(with(&d, &cookie, "/"), 303, "the page leads to the login form again");
    assert_eq!(with(&d, &laptop, "/api/status"), 200, "another device's session lives on");
    assert_eq!(metric(&d, &pw, "flowpi_sessions_total{event=\"revoked\"}"), 1);
    // Kept across a restart, in a file only flowpi's user reads.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.archive().join("session.revoked")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(d.stop(), 0);
    let d2 = Daemon::start_full(&d.dir, Extra::default(), &[]);
    assert_eq!(with(&d2, &cookie, "/api/status"), 401);
    assert_eq!(with(&d2, &laptop, "/api/status"), 200);
}

#[test]
fn login_forms_from_other_sites_and_sandboxed_frames_are_refused() {
    let (d, _tmp, pw) = start("");
    let body = format!("password={pw}");
    let form = |headers: &str| {
        raw_request(
            d.http,
            &format!("POST /login HTTP/1.1\r\nHost: localhost:3000\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()),
        )
        .unwrap()
        .status
    };
    // Any page the visitor opens could otherwise spend this address's login attempts.
    for headers in [
        "Origin: null\r\n",
        "Origin: http://attacker.example\r\n",
        "Origin: http://localhost:3001\r\n",
        "Origin: http://localhost:3000\r\nSec-Fetch-Site: cross-site\r\n",
        "Origin: http://localhost:3000\r\nSec-Fetch-Site: same-site\r\n",
    ] {
        assert_eq!(form(headers), 403, "{headers}");
    }
    assert_eq!(form("Origin: http://localhost:3000\r\nSec-Fetch-Site: same-origin\r\n"), 303);
    assert_eq!(form(""), 303, "a script sends no Origin");
    assert_eq!(metric(&d, &pw, "flowpi_http_refused_total{reason=\"cross_site\"}"), 5);
    assert_eq!(metric(&d, &pw, "flowpi_logins_total{outcome=\"wrong\"}"), 0, "refused before any attempt");
}

#[test]
fn wrong_tokens_are_counted_and_rate_limited() {
    let tmp = tempfile::tempdir().unwrap();
    let token = "prometheus-scrape-token-0123456789";
    let d = Daemon::start_full(tmp.path(), Extra { http: &format!("tokens = [\"{token}\"]"), ..Extra::default() }, &[]);
    let guesser = std::net::Ipv4Addr::new(127, 0, 4, 1);
    let scrape = |from, t: &str| {
        status_of(&request_from(
            &d,
            from,
            &format!(
                "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {t}\r\nConnection: close\r\n\r\n"
            ),
        ))
    };
    let statuses: Vec<u16> = (0..7).map(|i| scrape(guesser, &format!("guess-{i}-of-a-token-000"))).collect();
    assert_eq!(&statuses[..4], &[401, 401, 401, 401]);
    assert!(statuses[4..].contains(&429), "{statuses:?}");
    // Blocked: even the right token waits; another address is not held up.
    assert_eq!(scrape(guesser, token), 429);
    let elsewhere = std::net::Ipv4Addr::new(127, 0, 4, 2);
    let text = request_from(
        &d,
        elsewhere,
        &format!(
            "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(status_of(&text), 200);
    let wrong = metric_value(&text, "flowpi_logins_total{outcome=\"wrong_token\"}").unwrap();
    let limited = metric_value(&text, "flowpi_logins_total{outcome=\"rate_limited\"}").unwrap();
    assert!(wrong >= 5 && limited >= 2, "wrong {wrong}, limited {limited}");
}
