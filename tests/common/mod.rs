//! Test helpers: a real flowpi process on loopback with a temporary archive, a minimal HTTP client,
//! image size readers, and the shared captures folder.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_flowpi");

/// `../shared/captures` beside the project; tests that need it fail (not skip) when it is missing.
pub fn captures() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/captures");
    assert!(p.is_dir(), "the shared captures folder {} is missing", p.display());
    p
}

pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Lines a test adds to the config's sections (the helper writes each section once: TOML cannot
/// reopen one), and whole sections of its own (`sections`, written last, each with its header).
#[derive(Default, Clone, Copy)]
pub struct Extra<'a> {
    pub collector: &'a str,
    pub network: &'a str,
    pub archive: &'a str,
    pub http: &'a str,
    pub sections: &'a str,
}

pub struct Daemon {
    pub child: Child,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub udp: SocketAddr,
    pub http: SocketAddr,
    _tmp: Option<tempfile::TempDir>,
}

impl Daemon {
    /// Start flowpi with a 1 s step on fresh loopback ports, with `extra` appended to the config
    /// (sections other than those written here).
    pub fn start(extra_archive: &str) -> Daemon {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut d = Daemon::start_in(&dir, extra_archive);
        d._tmp = Some(tmp);
        d
    }

    pub fn start_in(dir: &Path, extra_archive: &str) -> Daemon {
        Daemon::start_env(dir, extra_archive, &[])
    }

    pub fn start_env(dir: &Path, extra_archive: &str, env: &[(&str, &str)]) -> Daemon {
        Daemon::start_full(dir, Extra { archive: extra_archive, http: "auth = \"none\"", ..Extra::default() }, env)
    }

    /// As `start_env`, with lines of the test's own in the sections written here.
    pub fn start_full(dir: &Path, extra: Extra, env: &[(&str, &str)]) -> Daemon {
        // A port found free can be taken by another test before flowpi binds it: then flowpi
        // stops with "in use" and is started again on other ports.
        for attempt in 1.. {
            let mut d = Daemon::spawn(dir, extra, env);
            match d.wait_ready() {
                Ok(()) => return d,
                Err(e) if attempt < 3 && e.contains("in use") => continue,
                Err(e) => panic!("flowpi did not start: {e}"),
            }
        }
        unreachable!()
    }

    fn spawn(dir: &Path, extra: Extra, env: &[(&str, &str)]) -> Daemon {
        let Extra { collector, network, archive: extra_archive, http: http_extra, sections } = extra;
        let udp: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
        let http: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
        let config = dir.join("flowpi.toml");
        // No lookups unless a test asks for them: answers must not depend on the machine's resolver.
        let sections = if sections.contains("[names]") {
            sections.to_string()
        } else {
            format!("{sections}\n[names]\nreverse_dns = false\n")
        };
        // Short enough that a test sees files written within seconds; a test may set its own.
        let mut extra_archive = extra_archive.to_string();
        for (key, value) in
            [("step", "\"1s\""), ("spread", "\"2s\""), ("flush", "\"2s\""), ("journal_interval", "\"1s\"")]
        {
            if !extra_archive.lines().any(|l| {
                l.trim_start().starts_with(&format!("{key} ")) || l.trim_start().starts_with(&format!("{key}="))
            }) {
                extra_archive.push_str(&format!("\n{key} = {value}"));
            }
        }
        std::fs::write(
            &config,
            format!(
                "[collector]\nlisten = [\"{udp}\"]\n{collector}\n[network]\nlocal = [\"192.168.0.0/16\", \"fd00::/8\"]\n{network}\n[archive]\ndir = \"{}\"\n{extra_archive}\n[http]\nlisten = \"{http}\"\n{http_extra}\n[log]\nlevel = \"debug\"\n{sections}\n",
                dir.join("archive").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("flowpi.log")).unwrap();
        // WATCHDOG_PID=self: systemd names the watched PID; `exec` keeps the shell's PID for flowpi.
        let mut cmd = if env.contains(&("WATCHDOG_PID", "self")) {
            let mut c = Command::new("sh");
            c.args(["-c", "WATCHDOG_PID=$$ exec \"$0\" \"$@\"", BIN]);
            c
        } else {
            Command::new(BIN)
        };
        let child = cmd
            .arg("--config")
            .arg(&config)
            .envs(env.iter().copied().filter(|(k, _)| *k != "WATCHDOG_PID"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Daemon { child, dir: dir.to_path_buf(), config, udp, http, _tmp: None }
    }

    /// Until /api/status answers; a minute while the process lives (a loaded machine starts it
    /// slowly), at once if it ends. The error tells which, with the log and the process state.
    fn wait_ready(&mut self) -> Result<(), String> {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(60) {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("it ended ({status}); log:\n{}", self.log()));
            }
            if let Ok(r) = probe(self.http, "/api/status") {
                if r.status == 200 || r.status == 401 {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let state = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let state: Vec<&str> = state.lines().filter(|l| l.starts_with("State:") || l.starts_with("Threads:")).collect();
        Err(format!("no answer on {} within 60 s ({}); log:\n{}", self.http, state.join(", "), self.log()))
    }

    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.join("flowpi.log")).unwrap_or_default()).into_owned()
    }

    pub fn archive(&self) -> PathBuf {
        self.dir.join("archive")
    }

    pub fn send(&self, datagram: &[u8]) {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.send_to(datagram, self.udp).unwrap();
    }

    pub fn get(&self, path: &str) -> HttpReply {
        try_get(self.http, path).unwrap()
    }

    pub fn json(&self, path: &str) -> serde_json::Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "{path}");
        serde_json::from_slice(&r.body).unwrap()
    }

    /// Poll until `f` holds for the metric text (the collector publishes once a second).
    pub fn wait_for(&self, what: &str, f: impl FnMut(&Daemon) -> bool) {
        self.wait_for_secs(what, 15, f)
    }

    pub fn wait_for_secs(&self, what: &str, secs: u64, mut f: impl FnMut(&Daemon) -> bool) {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(secs) {
            if f(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("timed out waiting for {what}; log:\n{}", self.log());
    }

    pub fn metric(&self, name: &str) -> u64 {
        let text = String::from_utf8(self.get("/metrics").body).unwrap();
        metric_value(&text, name).unwrap_or_else(|| panic!("metric {name} missing from\n{text}"))
    }

    /// /api/hosts as ip -> (rx_bytes, tx_bytes, rx_packets, tx_packets).
    pub fn hosts(&self) -> std::collections::BTreeMap<String, (u64, u64, u64, u64)> {
        self.json("/api/hosts")
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                let n = |k: &str| h[k].as_u64().unwrap();
                (
                    h["ip"].as_str().unwrap().to_string(),
                    (n("rx_bytes"), n("tx_bytes"), n("rx_packets"), n("tx_packets")),
                )
            })
            .collect()
    }

    /// A figure from the daemon's /proc/PID/status (`"VmRSS:"` in kB, `"Threads:"`).
    pub fn proc_status(&self, key: &str) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = s.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("{key} not in status"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// SIGKILL and wait: no chance to write anything more.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn stop(&mut self) -> i32 {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            assert!(t.elapsed() < Duration::from_secs(15), "flowpi did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Poll `got` until it equals `want` (the collector publishes once a second), then assert it, so a
/// timeout shows the difference.
pub fn settle<T: PartialEq + std::fmt::Debug>(d: &Daemon, what: &str, want: &T, got: impl Fn(&Daemon) -> T) {
    let t = Instant::now();
    loop {
        let now = got(d);
        if now == *want || t.elapsed() > Duration::from_secs(15) {
            assert_eq!(now, *want, "{what}; log:\n{}", d.log());
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn metric_value(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

/// Every sample of the family `name` in Prometheus text: its labels (unescaped) and value. A
/// sample line that does not read as NAME{LABELS} VALUE fails the test.
pub fn samples(text: &str, name: &str) -> Vec<(std::collections::BTreeMap<String, String>, f64)> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else { continue };
        let (labels, value) = if let Some(inner) = rest.strip_prefix('{') {
            let mut labels = std::collections::BTreeMap::new();
            let mut chars = inner.chars();
            while !chars.as_str().starts_with('}') {
                let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                let key = key.trim_start_matches(',').to_string();
                assert_eq!(chars.next(), Some('"'), "{line}");
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some(c @ ('\\' | '"')) => value.push(c),
                            other => panic!("bad escape {other:?} in {line}"),
                        },
                        Some('"') => break,
                        Some(c) => value.push(c),
                        None => panic!("unterminated label value in {line}"),
                    }
                }
                labels.insert(key, value);
                assert!(matches!(chars.clone().next(), Some(',' | '}')), "bad label list in {line}");
            }
            chars.next(); // the closing brace
            (labels, chars.as_str())
        } else if rest.starts_with(' ') {
            (Default::default(), rest)
        } else {
            continue; // a longer name sharing the prefix
        };
        let value = value.strip_prefix(' ').and_then(|v| v.trim().parse().ok());
        out.push((labels, value.unwrap_or_else(|| panic!("no value in {line}"))));
    }
    out
}

#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: String,
    pub body: Vec<u8>,
}

/// A GET that gives up after 2 s: for waiting on a daemon that may not be the one asked.
fn probe(addr: SocketAddr, path: &str) -> std::io::Result<HttpReply> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let head = String::from_utf8_lossy(&raw);
    let status =
        head.split(' ').nth(1).and_then(|v| v.parse().ok()).ok_or_else(|| std::io::Error::other("no status"))?;
    Ok(HttpReply { status, headers: String::new(), body: Vec::new() })
}

pub fn try_get(addr: SocketAddr, path: &str) -> std::io::Result<HttpReply> {
    request(addr, "GET", path)
}

pub fn request(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<HttpReply> {
    raw_request(
        addr,
        &format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
    )
}

/// A GET with extra header lines (each "Name: value").
pub fn get_with(addr: SocketAddr, path: &str, headers: &[&str]) -> std::io::Result<HttpReply> {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    raw_request(addr, &req)
}

/// Send `req` as written, read the whole reply (the request should ask for Connection: close).
pub fn raw_request(addr: SocketAddr, req: &str) -> std::io::Result<HttpReply> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| std::io::Error::other("no header end"))?;
    let headers = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = headers.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut body = raw[split + 4..].to_vec();
    if headers.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Ok(HttpReply { status, headers, body })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else { return out };
        let n = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap_or(0);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 2 + n + 2..];
    }
}

/// Width and height from a PNG's IHDR chunk, after checking the signature.
pub fn png_size(b: &[u8]) -> Option<(u32, u32)> {
    if b.len() < 24 || &b[..8] != b"\x89PNG\r\n\x1a\n" || &b[12..16] != b"IHDR" {
        return None;
    }
    Some((u32::from_be_bytes(b[16..20].try_into().unwrap()), u32::from_be_bytes(b[20..24].try_into().unwrap())))
}

/// Width and height of an SVG's root element (rrdtool writes them in points).
pub fn svg_size(b: &[u8]) -> Option<(u32, u32)> {
    let text = std::str::from_utf8(b).ok()?;
    let root = &text[text.find("<svg")?..];
    let root = &root[..root.find('>')?];
    let attr = |name: &str| -> Option<u32> {
        let v = &root[root.find(&format!(" {name}=\""))? + name.len() + 3..];
        let v = &v[..v.find('"')?];
        v.trim_end_matches("pt").trim_end_matches("px").parse::<f64>().ok().map(|f| f.round() as u32)
    };
    if !text.trim_end().ends_with("</svg>") {
        return None;
    }
    Some((attr("width")?, attr("height")?))
}

/// Run the stock rrdtool.
pub fn rrdtool(args: &[&str]) -> String {
    // Cross tests (scripts/cross-test.sh) name the target's own rrdtool: RRD files written by a
    // 32-bit librrd are not readable by the 64-bit one.
    let tool = std::env::var("FLOWPI_TEST_RRDTOOL").unwrap_or_else(|_| "rrdtool".into());
    let mut out = Command::new(&tool).args(args).output().expect("rrdtool is installed (scripts/setup.sh)");
    // flowpi may be writing the file this moment (librrd locks it while it does): try again.
    for _ in 0..50 {
        if out.status.success() || !String::from_utf8_lossy(&out.stderr).contains("could not lock") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        out = Command::new(&tool).args(args).output().expect("rrdtool is installed (scripts/setup.sh)");
    }
    assert!(out.status.success(), "rrdtool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Sum over time of each data source in `rrdtool fetch` output, times the step: the bytes and
/// packets the file holds for that window.
pub fn fetch_totals(file: &Path, seconds: u64) -> Vec<f64> {
    let out =
        rrdtool(&["fetch", file.to_str().unwrap(), "AVERAGE", "-r", "1", "-s", &format!("-{seconds}"), "-e", "now"]);
    let mut lines = out.lines();
    let n = lines.next().unwrap().split_whitespace().count();
    let mut sums = vec![0.0; n];
    for l in lines {
        let Some((_, vals)) = l.split_once(':') else { continue };
        for (i, v) in vals.split_whitespace().enumerate() {
            if let Ok(x) = v.parse::<f64>() {
                if x.is_finite() {
                    sums[i] += x;
                }
            }
        }
    }
    sums
}

/// Run Debian's softflowd over the capture `pcap` (`-r`), exporting to `to` with `args` besides
/// (`-v 10 -b`, ...), tracking IPv6 too except for v5, until it has exported everything and exited. In -r mode
/// softflowd only gets on while its control socket is poked, so this pokes it.
pub fn run_softflowd(pcap: &str, args: &[&str], to: SocketAddr) {
    let tmp = tempfile::tempdir().unwrap();
    // v5 cannot carry IPv6: only the other versions track it.
    let v5 = args.windows(2).any(|w| w == ["-v", "5"]);
    let mut child = Command::new("softflowd")
        .args(["-r", pcap, "-n", &to.to_string(), "-d"])
        .args(if v5 { &[][..] } else { &["-6"][..] })
        .args(args)
        .arg("-c")
        .arg(tmp.path().join("ctl"))
        .arg("-p")
        .arg(tmp.path().join("pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("softflowd is installed (scripts/setup.sh)");
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success(), "softflowd {args:?} exited with {st}");
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "softflowd {args:?} did not finish");
        let _ = Command::new("softflowctl")
            .arg("-c")
            .arg(tmp.path().join("ctl"))
            .arg("statistics")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An IPFIX message: header (version 10, length, export time, sequence 0, observation domain)
/// and sets.
pub fn ipfix(domain: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let body = sets.concat();
    let mut d = Vec::new();
    d.extend(10u16.to_be_bytes()); // version
    d.extend((16 + body.len() as u16).to_be_bytes()); // message length
    d.extend(1_700_000_000u32.to_be_bytes()); // export time
    d.extend(0u32.to_be_bytes()); // sequence
    d.extend(domain.to_be_bytes()); // observation domain
    d.extend(body);
    d
}

/// A set (or v9 flowset): id, length, contents.
pub fn set(id: u16, body: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend(id.to_be_bytes());
    s.extend((4 + body.len() as u16).to_be_bytes());
    s.extend(body);
    s
}

/// A template record: id, field count, (element, length) pairs.
pub fn template(id: u16, fields: &[(u16, u16)]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend(id.to_be_bytes());
    t.extend((fields.len() as u16).to_be_bytes());
    for (ty, len) in fields {
        t.extend(ty.to_be_bytes());
        t.extend(len.to_be_bytes());
    }
    t
}

/// One v5 flow: bytes from `src` to `dst`, that ended `age_ms` before the export and lasted
/// `dur_ms` (`None`: a datagram without times, unix_secs 0).
pub struct Flow<'a> {
    pub src: &'a str,
    pub dst: &'a str,
    pub bytes: u32,
    pub times: Option<(u32, u32)>,
}

pub fn v5(flows: &[Flow], seq: u32) -> Vec<u8> {
    const UPTIME: u32 = 200_000_000;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as u32;
    let timed = flows.iter().any(|f| f.times.is_some());
    let mut out = Vec::new();
    for v in [5u16, flows.len() as u16] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    for v in [UPTIME, if timed { now } else { 0 }, 0, seq] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    for f in flows {
        let (age, dur) = f.times.unwrap_or((UPTIME, 0));
        let last = UPTIME - age;
        let first = last - dur;
        for a in [f.src, f.dst, "0.0.0.0"] {
            out.extend_from_slice(&a.parse::<std::net::Ipv4Addr>().unwrap().octets());
        }
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&2u16.to_be_bytes());
        for v in [1 + f.bytes / 1000, f.bytes, first, last] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(&[0, 1, 0, 2, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }
    out
}

/// libfaketime for this target, if installed (scripts/setup.sh installs it).
pub fn faketime() -> Option<std::path::PathBuf> {
    if !cfg!(target_arch = "x86_64") {
        eprintln!("skipped: libfaketime is preloaded on x86_64 only");
        return None;
    }
    let p = std::path::PathBuf::from("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1");
    assert!(p.exists(), "libfaketime is missing: run scripts/setup.sh");
    Some(p)
}

/// Stop a daemon that ran under libfaketime and remove the shared memory libfaketime made for
/// it (named after its PID; libfaketime leaves it behind).
pub fn stop_faked(mut d: Daemon) {
    let pid = d.child.id();
    assert_eq!(d.stop(), 0, "{}", d.log());
    for name in [format!("faketime_shm_{pid}"), format!("sem.faketime_sem_{pid}")] {
        let _ = std::fs::remove_file(std::path::Path::new("/dev/shm").join(name));
    }
}

/// `ip -> (rx, tx)` of a windowed hosts answer.
pub fn rows(v: &serde_json::Value) -> std::collections::BTreeMap<String, (u64, u64)> {
    v["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("not a windowed answer: {v}"))
        .iter()
        .map(|r| {
            (r["ip"].as_str().unwrap().to_string(), (r["rx_bytes"].as_u64().unwrap(), r["tx_bytes"].as_u64().unwrap()))
        })
        .collect()
}

/// A v5 flow without times: it counts in the step it arrives in.
pub fn flow(src: &'static str, dst: &'static str, bytes: u32) -> Flow<'static> {
    Flow { src, dst, bytes, times: None }
}

/// A zone where it is about noon now, so "today" does not roll over during the test (Etc/GMT
/// zones have inverted signs: Etc/GMT-5 is UTC+5).
pub fn noon_zone() -> String {
    let hour = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 / 3600
        % 24) as i32;
    let off = (12 - hour).clamp(-12, 14);
    match off {
        0 => "UTC".into(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}
