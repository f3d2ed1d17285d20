//! Configuration: TOML parsed into a raw struct (unknown keys rejected), then validated into typed
//! values, reporting every problem at once with its key and file line.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use std::collections::HashMap;
use std::net::IpAddr;

use crate::decode::{ExporterOverride, Limits};
use crate::net::{IpNet, LocalNets};

pub const DEFAULT_PATH: &str = "/etc/flowpi.toml";

/// The validated configuration the daemon runs on.
#[derive(Clone, Debug)]
pub struct Config {
    pub collector: CollectorConfig,
    /// `[[exporter]]` entries: names, sampling overrides and interface names per router address.
    pub exporters: HashMap<IpAddr, ExporterOverride>,
    pub network: NetworkConfig,
    pub archive: ArchiveConfig,
    pub http: HttpConfig,
    pub log: LogConfig,
}

#[derive(Clone, Debug)]
pub struct CollectorConfig {
    pub listen: Vec<SocketAddr>,
    /// SO_RCVBUF to ask for; the kernel may grant less (net.core.rmem_max), which is logged.
    pub receive_buffer: usize,
    /// Bounds of the decoder's per-exporter state.
    pub limits: Limits,
    /// Senders whose datagrams are decoded; empty means every sender.
    pub allow: Vec<IpNet>,
}

#[derive(Clone, Debug)]
pub struct NetworkConfig {
    pub local: LocalNets,
}

#[derive(Clone, Debug)]
pub struct ArchiveConfig {
    pub dir: PathBuf,
    pub step: Duration,
    pub max_hosts: usize,
    pub max_interfaces: usize,
}

#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Worker threads of the HTTP runtime (connections are tasks, not threads).
    pub threads: usize,
    /// Open connections at most; at the cap a new one closes the longest-idle one.
    pub max_connections: usize,
    /// Time a client has to send a request's headers.
    pub header_timeout: Duration,
    /// Time an idle keep-alive connection stays open.
    pub idle_timeout: Duration,
    pub auth: Auth,
    /// Host names accepted in `Host:` besides IP literals, localhost and the system host name.
    pub hosts: Vec<String>,
}

/// How the page, API and graphs are protected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// A password (argon2 PHC string here, or generated at first start when `None`) and read-only
    /// tokens for scripts.
    Password { hash: Option<String>, tokens: Vec<String> },
    /// Chosen explicitly: anyone who reaches the port reads everything.
    None,
}

#[derive(Clone, Debug)]
pub struct LogConfig {
    pub level: log::LevelFilter,
}

// ---- raw stage: exactly what the file says, with positions ----

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    collector: RawCollector,
    #[serde(default)]
    network: RawNetwork,
    #[serde(default)]
    archive: RawArchive,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    exporter: Vec<RawExporter>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExporter {
    address: Spanned<String>,
    name: Option<Spanned<String>>,
    sampling_rate: Option<Spanned<i64>>,
    interfaces: Option<Spanned<HashMap<String, Spanned<String>>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCollector {
    listen: Option<Spanned<Vec<Spanned<String>>>>,
    receive_buffer: Option<Spanned<i64>>,
    max_exporters: Option<Spanned<i64>>,
    max_templates_per_exporter: Option<Spanned<i64>>,
    max_fields_per_template: Option<Spanned<i64>>,
    pending_sets: Option<Spanned<i64>>,
    pending_bytes: Option<Spanned<i64>>,
    pending_timeout: Option<Spanned<String>>,
    max_domains_per_exporter: Option<Spanned<i64>>,
    allow: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    local: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawArchive {
    dir: Option<Spanned<String>>,
    step: Option<Spanned<String>>,
    max_hosts: Option<Spanned<i64>>,
    max_interfaces: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: Option<Spanned<String>>,
    threads: Option<Spanned<i64>>,
    max_connections: Option<Spanned<i64>>,
    header_timeout: Option<Spanned<String>>,
    idle_timeout: Option<Spanned<String>>,
    auth: Option<Spanned<String>>,
    password_hash: Option<Spanned<String>>,
    tokens: Option<Spanned<Vec<Spanned<String>>>>,
    hosts: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: Option<Spanned<String>>,
}

// ---- errors ----

/// One problem: where (line, when known) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

/// All problems found in one file.
#[derive(Debug)]
pub struct ConfigError {
    pub source: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match p.line {
                Some(l) => write!(f, "{}:{}: ", self.source, l)?,
                None => write!(f, "{}: ", self.source)?,
            }
            if p.key.is_empty() {
                write!(f, "{}", p.message)?;
            } else {
                write!(f, "{}: {}", p.key, p.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Where a config came from, for messages.
#[derive(Debug, Clone)]
pub enum Source {
    File(PathBuf),
    /// The default path did not exist: the built-in defaults are used.
    Defaults,
}

impl Config {
    /// Load from `path`, or from [`DEFAULT_PATH`] when none is given. A missing default file means
    /// "run on the built-in defaults" (a fresh checkout, a first try); a missing explicit file is an error.
    pub fn load(path: Option<&Path>) -> Result<(Config, Source), ConfigError> {
        let (path, explicit) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_PATH), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let cfg = Config::parse(&text, &path.display().to_string())?;
                Ok((cfg, Source::File(path)))
            }
            Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
                Ok((Config::defaults(), Source::Defaults))
            }
            Err(e) => Err(ConfigError {
                source: path.display().to_string(),
                problems: vec![Problem { line: None, key: String::new(), message: format!("cannot read: {e}") }],
            }),
        }
    }

    pub fn defaults() -> Config {
        Config::parse("", "defaults").expect("built-in defaults are valid")
    }

    /// Parse and validate TOML text; `source` names it in messages.
    pub fn parse(text: &str, source: &str) -> Result<Config, ConfigError> {
        let lines = LineIndex::new(text);
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| s.start);
            ConfigError {
                source: source.to_string(),
                problems: vec![Problem {
                    line: at.map(|o| lines.line(o)),
                    key: at.map(|o| key_at(text, o, e.message())).unwrap_or_default(),
                    message: friendly(e.message()),
                }],
            }
        })?;
        let mut v = Validator { lines: &lines, problems: Vec::new() };
        let cfg = v.validate(raw);
        // In file order, whatever order the checks ran in.
        v.problems.sort_by_key(|p| p.line);
        if v.problems.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigError { source: source.to_string(), problems: v.problems })
        }
    }

    /// One line for `check-config` and the start-up log.
    pub fn summary(&self) -> String {
        let listen: Vec<String> = self.collector.listen.iter().map(|a| a.to_string()).collect();
        format!(
            "collector {} -> archive {} every {}s (max {} hosts, {} interfaces), {} local networks, {} named exporters, http {}",
            listen.join(","),
            self.archive.dir.display(),
            self.archive.step.as_secs(),
            self.archive.max_hosts,
            self.archive.max_interfaces,
            self.network.local.nets().len(),
            self.exporters.len(),
            self.http.listen,
        )
    }
}

/// The dotted key a parse error at `offset` is about: the `[section]` above it and the key on its
/// line (serde's messages name only the field, and type errors not even that).
fn key_at(text: &str, offset: usize, message: &str) -> String {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    // `[section]` and `[[array-of-tables]]` both name the section.
    let header = |l: &str| {
        let l = l.trim();
        l.starts_with('[').then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
    };
    if let Some(h) = header(line) {
        // A syntax error is reported at the next header; only an unknown section is about it.
        return if message.starts_with("unknown field") { h } else { String::new() };
    }
    let section = before[..line_start].lines().rev().find_map(header);
    let key = line.split_once('=').map(|(k, _)| k.trim()).filter(|k| !k.is_empty() && !k.starts_with('#'));
    match (section, key) {
        (Some(s), Some(k)) => format!("{s}.{k}"),
        (None, Some(k)) => k.to_string(),
        (Some(s), None) => s,
        (None, None) => String::new(),
    }
}

/// serde/toml wording, in the words of a config file.
fn friendly(msg: &str) -> String {
    msg.trim()
        .replace('\n', ": ")
        .replace("unknown field", "unknown key")
        .replace("expected i64", "expected a whole number")
        .replace("expected a sequence", "expected a list")
}

/// Byte offset -> 1-based line number.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn line(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

struct Validator<'a> {
    lines: &'a LineIndex,
    problems: Vec<Problem>,
}

impl Validator<'_> {
    fn problem<T>(&mut self, key: &str, at: &Spanned<T>, message: String) {
        self.problems.push(Problem { line: Some(self.lines.line(at.span().start)), key: key.to_string(), message });
    }

    fn int(&mut self, key: &str, v: Option<Spanned<i64>>, default: i64, min: i64, max: i64) -> i64 {
        match v {
            None => default,
            Some(s) if (min..=max).contains(s.get_ref()) => *s.get_ref(),
            Some(s) => {
                let msg = format!("{} is out of range ({min}..={max})", s.get_ref());
                self.problem(key, &s, msg);
                default
            }
        }
    }

    /// A duration key within `min..=max` whole seconds.
    fn duration(&mut self, key: &str, v: Option<Spanned<String>>, default: Duration, min: u64, max: u64) -> Duration {
        let Some(s) = v else { return default };
        match parse_duration(s.get_ref()) {
            Ok(t) if (min..=max).contains(&t.as_secs()) => t,
            Ok(_) => {
                let msg = format!("{:?} must be from \"{}\" to \"{}\"", s.get_ref(), fmt_secs(min), fmt_secs(max));
                self.problem(key, &s, msg);
                default
            }
            Err(msg) => {
                self.problem(key, &s, msg);
                default
            }
        }
    }

    fn auth(
        &mut self,
        mode: Option<Spanned<String>>,
        hash: Option<Spanned<String>>,
        tokens: Option<Spanned<Vec<Spanned<String>>>>,
    ) -> Auth {
        let mut toks = Vec::new();
        for t in tokens.iter().flat_map(|l| l.get_ref()) {
            let v = t.get_ref();
            if v.len() < 16 || v.len() > 128 || !v.bytes().all(|b| b.is_ascii_graphic()) {
                self.problem("http.tokens", t, "a token must be 16 to 128 printable characters without spaces".into());
            } else {
                toks.push(v.clone());
            }
        }
        let hash = match hash {
            Some(h) if h.get_ref().trim().is_empty() => None,
            Some(h) => match crate::http::auth::check_hash(h.get_ref().trim()) {
                Ok(()) => Some(h.get_ref().trim().to_string()),
                Err(msg) => {
                    self.problem("http.password_hash", &h, msg);
                    None
                }
            },
            None => None,
        };
        match mode.as_ref().map(|m| m.get_ref().as_str()) {
            None | Some("password") => Auth::Password { hash, tokens: toks },
            Some("none") => Auth::None,
            Some(other) => {
                let m = mode.as_ref().expect("matched Some");
                self.problem("http.auth", m, format!("{other:?} is not one of \"password\", \"none\""));
                Auth::Password { hash, tokens: toks }
            }
        }
    }

    fn addr(&mut self, key: &str, s: &Spanned<String>) -> Option<SocketAddr> {
        match s.get_ref().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                let msg = format!(
                    "{:?} is not an address with a port (expected e.g. \"0.0.0.0:2055\" or \"[::]:2055\")",
                    s.get_ref()
                );
                self.problem(key, s, msg);
                None
            }
        }
    }

    fn validate(&mut self, raw: Raw) -> Config {
        // collector
        let mut listen = Vec::new();
        let rc = raw.collector;
        match rc.listen {
            None => listen.push(SocketAddr::from(([0, 0, 0, 0], 2055))),
            Some(list) => {
                if list.get_ref().is_empty() {
                    self.problem("collector.listen", &list, "must list at least one address".into());
                }
                for s in list.get_ref() {
                    if let Some(a) = self.addr("collector.listen", s) {
                        if listen.contains(&a) {
                            self.problem("collector.listen", s, format!("{a} is listed twice"));
                        } else {
                            listen.push(a);
                        }
                    }
                }
            }
        }
        let receive_buffer = self.int("collector.receive_buffer", rc.receive_buffer, 8 << 20, 0, 1 << 30) as usize;
        let d = Limits::default();
        let limits = Limits {
            max_exporters: self.int("collector.max_exporters", rc.max_exporters, d.max_exporters as i64, 0, 65_536)
                as usize,
            max_templates_per_exporter: self.int(
                "collector.max_templates_per_exporter",
                rc.max_templates_per_exporter,
                d.max_templates_per_exporter as i64,
                0,
                65_280, // template ids 256..=65535
            ) as usize,
            max_fields_per_template: self.int(
                "collector.max_fields_per_template",
                rc.max_fields_per_template,
                d.max_fields_per_template as i64,
                1,
                16_383, // what fits a 65535-byte set
            ) as usize,
            pending_sets: self.int("collector.pending_sets", rc.pending_sets, d.pending_sets as i64, 0, 65_536)
                as usize,
            pending_bytes: self.int("collector.pending_bytes", rc.pending_bytes, d.pending_bytes as i64, 0, 256 << 20)
                as usize,
            pending_timeout: self.duration(
                "collector.pending_timeout",
                rc.pending_timeout,
                d.pending_timeout,
                0,
                86_400,
            ),
            max_domains_per_exporter: self.int(
                "collector.max_domains_per_exporter",
                rc.max_domains_per_exporter,
                d.max_domains_per_exporter as i64,
                1,
                65_536,
            ) as usize,
        };
        let mut allow = Vec::new();
        if let Some(list) = rc.allow {
            if list.get_ref().is_empty() {
                self.problem(
                    "collector.allow",
                    &list,
                    "an empty list would drop every datagram; leave the key out to accept every sender".into(),
                );
            }
            for s in list.get_ref() {
                match s.get_ref().parse::<IpNet>() {
                    Ok(n) => allow.push(n),
                    Err(msg) => self.problem("collector.allow", s, msg),
                }
            }
        }
        let exporters = self.exporters(raw.exporter);

        // network
        let mut local = Vec::new();
        match raw.network.local {
            None => {
                for n in ["192.168.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "fd00::/8"] {
                    local.push(n.parse::<IpNet>().expect("default network"));
                }
            }
            Some(list) => {
                for s in list.get_ref() {
                    match s.get_ref().parse::<IpNet>() {
                        Ok(n) => local.push(n),
                        Err(msg) => self.problem("network.local", s, msg),
                    }
                }
            }
        }

        // archive
        let dir = match raw.archive.dir {
            None => PathBuf::from("/var/lib/flowpi"),
            Some(s) => {
                if s.get_ref().trim().is_empty() {
                    self.problem("archive.dir", &s, "must not be empty".into());
                }
                PathBuf::from(s.get_ref())
            }
        };
        let step = match raw.archive.step {
            None => Duration::from_secs(60),
            Some(s) => match parse_duration(s.get_ref()) {
                Ok(d) if d.as_secs() >= 1 && d.as_secs() <= 86_400 && d.subsec_nanos() == 0 => d,
                Ok(_) => {
                    let msg = format!("{:?} must be whole seconds from \"1s\" to \"1d\"", s.get_ref());
                    self.problem("archive.step", &s, msg);
                    Duration::from_secs(60)
                }
                Err(msg) => {
                    self.problem("archive.step", &s, msg);
                    Duration::from_secs(60)
                }
            },
        };
        let max_hosts = self.int("archive.max_hosts", raw.archive.max_hosts, 256, 0, 65_536) as usize;
        let max_interfaces = self.int("archive.max_interfaces", raw.archive.max_interfaces, 64, 0, 65_536) as usize;

        // http
        let rh = raw.http;
        let http_listen = match rh.listen {
            None => SocketAddr::from(([0, 0, 0, 0], 3000)),
            Some(s) => self.addr("http.listen", &s).unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 3000))),
        };
        let threads = self.int("http.threads", rh.threads, 1, 1, 16) as usize;
        let max_connections = self.int("http.max_connections", rh.max_connections, 64, 2, 4096) as usize;
        let header_timeout = self.duration("http.header_timeout", rh.header_timeout, Duration::from_secs(10), 1, 300);
        let idle_timeout = self.duration("http.idle_timeout", rh.idle_timeout, Duration::from_secs(30), 1, 3600);
        let auth = self.auth(rh.auth, rh.password_hash, rh.tokens);
        let mut hosts = Vec::new();
        for s in rh.hosts.iter().flat_map(|l| l.get_ref()) {
            let h = s.get_ref().trim().trim_end_matches('.').to_ascii_lowercase();
            let ok = !h.is_empty()
                && h.len() <= 253
                && h.split('.').all(|l| {
                    !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if ok {
                hosts.push(h);
            } else {
                self.problem(
                    "http.hosts",
                    s,
                    format!("{:?} is not a host name (e.g. \"flowpi.home.arpa\")", s.get_ref()),
                );
            }
        }

        // log
        let level = match raw.log.level {
            None => log::LevelFilter::Info,
            Some(s) => match s.get_ref().to_ascii_lowercase().as_str() {
                "off" => log::LevelFilter::Off,
                "error" => log::LevelFilter::Error,
                "warn" | "warning" => log::LevelFilter::Warn,
                "info" => log::LevelFilter::Info,
                "debug" => log::LevelFilter::Debug,
                "trace" => log::LevelFilter::Trace,
                _ => {
                    let msg = format!("{:?} is not one of off, error, warn, info, debug, trace", s.get_ref());
                    self.problem("log.level", &s, msg);
                    log::LevelFilter::Info
                }
            },
        };

        Config {
            collector: CollectorConfig { listen, receive_buffer, limits, allow },
            exporters,
            network: NetworkConfig { local: LocalNets::new(local) },
            archive: ArchiveConfig { dir, step, max_hosts, max_interfaces },
            http: HttpConfig {
                listen: http_listen,
                threads,
                max_connections,
                header_timeout,
                idle_timeout,
                auth,
                hosts,
            },
            log: LogConfig { level },
        }
    }
}

impl Validator<'_> {
    fn exporters(&mut self, raw: Vec<RawExporter>) -> HashMap<IpAddr, ExporterOverride> {
        let mut out = HashMap::new();
        for e in raw {
            let addr = match e.address.get_ref().parse::<IpAddr>() {
                Ok(a) => crate::net::normalize(a),
                Err(_) => {
                    let msg = format!("{:?} is not an IP address", e.address.get_ref());
                    self.problem("exporter.address", &e.address, msg);
                    continue;
                }
            };
            if out.contains_key(&addr) {
                self.problem("exporter.address", &e.address, format!("{addr} has two [[exporter]] entries"));
                continue;
            }
            let mut o = ExporterOverride::default();
            if let Some(n) = e.name {
                if n.get_ref().trim().is_empty() || n.get_ref().len() > 64 {
                    self.problem("exporter.name", &n, "must be 1 to 64 characters".into());
                } else {
                    o.name = Some(n.get_ref().trim().to_string());
                }
            }
            if let Some(r) = e.sampling_rate {
                o.sampling_rate = Some(self.int("exporter.sampling_rate", Some(r), 1, 1, 1_000_000) as u32);
            }
            if let Some(ifs) = e.interfaces {
                for (k, v) in ifs.get_ref() {
                    match k.parse::<u32>() {
                        Ok(i) if !v.get_ref().trim().is_empty() => {
                            o.interfaces.insert(i, v.get_ref().trim().to_string());
                        }
                        Ok(_) => self.problem("exporter.interfaces", v, "an interface name must not be empty".into()),
                        Err(_) => self.problem(
                            "exporter.interfaces",
                            &ifs,
                            format!("{k:?} is not an ifIndex (a whole number)"),
                        ),
                    }
                }
            }
            out.insert(addr, o);
        }
        out
    }
}

/// Whole seconds in the largest unit that divides them, as the config writes durations.
fn fmt_secs(n: u64) -> String {
    match n {
        0 => "0s".into(),
        n if n % 86_400 == 0 => format!("{}d", n / 86_400),
        n if n % 3600 == 0 => format!("{}h", n / 3600),
        n if n % 60 == 0 => format!("{}m", n / 60),
        n => format!("{n}s"),
    }
}

/// "90s", "5m", "1h", "1d" (one number, one unit).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad =
        || format!("{s:?} is not a duration (expected a whole number and a unit: \"60s\", \"5m\", \"1h\", \"1d\")");
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).map(Duration::from_secs).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_values() {
        let c = Config::defaults();
        assert_eq!(c.collector.listen, vec!["0.0.0.0:2055".parse::<SocketAddr>().unwrap()]);
        assert_eq!(c.network.local.nets().len(), 4);
        assert_eq!(c.archive.dir, PathBuf::from("/var/lib/flowpi"));
        assert_eq!(c.archive.step, Duration::from_secs(60));
        assert_eq!(c.archive.max_hosts, 256);
        assert_eq!(c.archive.max_interfaces, 64);
        assert_eq!(c.http.listen, "0.0.0.0:3000".parse::<SocketAddr>().unwrap());
        assert_eq!(c.log.level, log::LevelFilter::Info);
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = "[collector]\nlisten = [\"0.0.0.0:2055\", \"nope\"]\n[archive]\nstep = \"0s\"\nmax_hosts = -1\n[log]\nlevel = \"loud\"\n";
        let e = Config::parse(text, "t.toml").unwrap_err();
        let got: Vec<(Option<usize>, &str)> = e.problems.iter().map(|p| (p.line, p.key.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (Some(2), "collector.listen"),
                (Some(4), "archive.step"),
                (Some(5), "archive.max_hosts"),
                (Some(7), "log.level"),
            ]
        );
        assert!(e.to_string().starts_with("t.toml:2: collector.listen: \"nope\" is not an address"));
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = Config::parse("[archive]\nstep = \"1s\"\nmax_host = 3\n", "t.toml").unwrap_err();
        assert_eq!(e.problems[0].line, Some(3));
        assert_eq!(e.problems[0].key, "archive.max_host");
        assert!(e.problems[0].message.contains("unknown key `max_host`"), "{}", e);
        let e = Config::parse("[archive]\nmax_hosts = \"many\"\n", "t.toml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.toml:2: archive.max_hosts: invalid type: string \"many\", expected a whole number"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("1.5s").is_err());
    }
}
