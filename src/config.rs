//! Configuration: TOML read into a tree that keeps every value's position, taken from it into raw
//! structs (unknown keys and wrong types noted), then validated into typed values, reporting every
//! problem at once with its key and file line.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::Unexpected;
use toml::Spanned;

use crate::decode::{ExporterOverride, Limits};
use crate::net::{IpNet, LocalNets};

pub const DEFAULT_PATH: &str = "/etc/flowpi.toml";

/// A configuration file is a few KiB; anything past this is the wrong file.
pub const MAX_SIZE: u64 = 1 << 20;

/// The validated configuration the daemon runs on.
#[derive(Clone, Debug)]
pub struct Config {
    pub collector: CollectorConfig,
    /// `[[exporter]]` entries: names, sampling overrides and interface names per router address.
    pub exporters: HashMap<IpAddr, ExporterOverride>,
    pub network: NetworkConfig,
    pub archive: ArchiveConfig,
    pub views: ViewsConfig,
    pub http: HttpConfig,
    pub log: LogConfig,
    /// `[time]`: the zone, week start and billing day periods are counted in.
    pub calendar: crate::calendar::Calendar,
    pub history: HistoryConfig,
    pub doctor: DoctorConfig,
    /// `[[host]]` and `[names]`: what local hosts are called.
    pub names: NamesConfig,
    /// What is valid but likely not meant (a `[[host]]` outside network.local, an `[applications]`
    /// that leaves out shipped classes): `check-config` and the start-up log say so.
    pub warnings: Vec<Problem>,
}

/// `[[host]]` entries at most: a home network has tens of devices; a file with more is a mistake
/// (or generated, and then this says so rather than filling the memory).
pub const MAX_HOST_ENTRIES: usize = 4096;

/// Characters of a `[[host]]` name at most (as `[[exporter]]` names).
pub const MAX_NAME_CHARS: usize = 64;

/// A device from `[[host]]`: what is it, and the address its row, archive and page go by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    /// Its first address; else, for one given by its MAC only, the MAC's link-local address
    /// ([`crate::net::mac_key`]); else its first prefix's network address.
    pub key: IpAddr,
    pub name: String,
    pub addresses: Vec<IpAddr>,
    /// Every address inside belongs to it (its IPv6 /64, with each day's privacy address).
    pub prefixes: Vec<IpNet>,
    pub mac: Option<u64>,
}

/// `[[host]]` and `[names]`.
#[derive(Clone, Debug)]
pub struct NamesConfig {
    /// Names from `[[host]]`, one per address (a device with several addresses has each, and the
    /// address it goes by).
    pub hosts: std::collections::BTreeMap<IpAddr, String>,
    /// The `[[host]]` entries as devices.
    pub devices: Vec<DeviceConfig>,
    /// Ask the resolver for local hosts without a `[[host]]` name.
    pub reverse_dns: bool,
    pub resolver: Resolver,
    /// How long an answer (a name) is kept, and how long "no name" is.
    pub ttl: Duration,
    pub negative_ttl: Duration,
    /// Cache entries at most; also the lookup queue's bound.
    pub max: usize,
    /// Time one lookup of the DNS resolver may take.
    pub timeout: Duration,
}

/// Who answers reverse lookups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolver {
    /// libc's getnameinfo: /etc/hosts, mDNS (libnss-mdns) and DNS, as nsswitch.conf says.
    System,
    /// This DNS server, asked directly for PTR records.
    Dns(SocketAddr),
}

/// `[doctor]`: the bounds and times of the export diagnosis (`/api/doctor`).
#[derive(Clone, Debug)]
pub struct DoctorConfig {
    /// An exporter heard before and silent this long is reported.
    pub silent_after: Duration,
    /// Rows of the tables of prefixes and addresses seen in records without a local host.
    pub max_prefixes: usize,
    /// Senders whose undecodable datagrams are kept apart (what they look like, why dropped).
    pub max_senders: usize,
}

/// `[history]`: what is kept to answer questions over time beyond the archives.
#[derive(Clone, Debug)]
pub struct HistoryConfig {
    /// Days of hourly top-k snapshots (conversations, ports) kept in their ring file.
    pub top_days: u64,
    /// Rows of each list kept per snapshot.
    pub top_rows: usize,
    /// Hosts, interfaces and applications with day totals at most; more fold into `other`.
    pub max_totals: usize,
    /// How long each step's top-k deltas stay in RAM (windows within it are answered to the
    /// step), and the rows they may hold together.
    pub recent: Duration,
    pub recent_rows: usize,
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
    /// Bytes exporters.json may cost the card a day (whole 4 KiB pages).
    pub state_write_budget: u64,
}

#[derive(Clone, Debug)]
pub struct NetworkConfig {
    pub local: LocalNets,
    /// Learn global IPv6 /64s on the LAN side of the internet line as local (network.learn).
    pub learn: bool,
    pub max_learned: usize,
}

#[derive(Clone, Debug)]
pub struct ArchiveConfig {
    pub dir: PathBuf,
    pub step: Duration,
    pub max_hosts: usize,
    pub max_interfaces: usize,
    /// How far back a late flow's bytes can still land in the step they belong to.
    pub spread: Duration,
    /// How often the steps held in RAM are appended to the journal on the card (the most a power
    /// cut can lose).
    pub journal_interval: Duration,
    /// How often each RRD file is written (all its new steps in one update), spread over this time.
    pub flush: Duration,
    /// A host row idle this long may be given to a new host when the table is full.
    pub host_idle: Duration,
    /// Host archives without traffic for this long are removed.
    pub retention: Duration,
    /// Bytes the archive files may take on the card: beyond it the oldest idle host files go.
    pub max_disk: u64,
}

/// The views beyond hosts and interfaces: applications and the heavy-hitter tables' bounds.
#[derive(Clone, Debug)]
pub struct ViewsConfig {
    /// `[applications]` in file order, else the default list.
    pub applications: Vec<(crate::views::AppName, Vec<crate::views::applications::PortSpec>)>,
    pub peers_per_host: usize,
    pub conversations: usize,
    pub ports: usize,
    /// Addresses whose device (MAC) is remembered at most.
    pub device_addresses: usize,
}

impl Config {
    /// The views' bounds, in steps where they are times.
    pub fn bounds(&self) -> crate::views::Bounds {
        crate::views::Bounds {
            max_hosts: self.archive.max_hosts,
            max_interfaces: self.archive.max_interfaces,
            host_idle_steps: (self.archive.host_idle.as_secs() / self.archive.step.as_secs()).max(1) as i64,
            peers_per_host: self.views.peers_per_host,
            device_addresses: self.views.device_addresses,
            conversations: self.views.conversations,
            ports: self.views.ports,
            doctor_prefixes: self.doctor.max_prefixes,
        }
    }
}

/// Steps the aggregator keeps open at most, whatever archive.spread asks (memory: rows × this ×
/// 32 bytes): with short steps the spread window is cut to this many steps.
pub const MAX_OPEN_STEPS: u64 = 240;

/// Steps a file goes unwritten at most, whatever archive.flush asks: a day at the default 60 s
/// step; with shorter steps files are written more often, so RAM stays bounded.
pub const MAX_FLUSH_STEPS: u64 = 1440;

impl ArchiveConfig {
    /// Steps open for late flows: the current one and those within archive.spread before it.
    pub fn open_steps(&self) -> usize {
        (self.spread.as_secs().div_ceil(self.step.as_secs()) + 1).min(MAX_OPEN_STEPS) as usize
    }

    /// Steps between two writes of a file: archive.flush, but never more than
    /// [`MAX_FLUSH_STEPS`] (RAM holds that many steps per archive until written).
    pub fn flush_steps(&self) -> u64 {
        (self.flush.as_secs() / self.step.as_secs()).clamp(1, MAX_FLUSH_STEPS)
    }
}

#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Worker threads of the HTTP runtime (connections are tasks, not threads).
    pub threads: usize,
    /// Open connections at most; at the cap a new one closes one that has not logged in, else
    /// the longest-idle one.
    pub max_connections: usize,
    /// Open connections from one client address at most (its own go first to make room).
    pub max_connections_per_client: usize,
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

// Filled by `Validator::read` from the document tree; the keys it asks for are the known keys.

#[derive(Default)]
struct Raw {
    collector: RawCollector,
    network: RawNetwork,
    archive: RawArchive,
    http: RawHttp,
    log: RawLog,
    exporter: Vec<RawExporter>,
    /// `[applications]` in file order, and where the section starts; `None` when it is absent.
    applications: Option<(usize, Vec<RawClass>)>,
    peers_max_per_host: Option<Spanned<i64>>,
    devices_max_addresses: Option<Spanned<i64>>,
    conversations_max: Option<Spanned<i64>>,
    ports_max: Option<Spanned<i64>>,
    time_zone: Option<Spanned<String>>,
    time_week_start: Option<Spanned<String>>,
    time_billing_day: Option<Spanned<i64>>,
    history_top_days: Option<Spanned<i64>>,
    history_top_rows: Option<Spanned<i64>>,
    history_max_totals: Option<Spanned<i64>>,
    history_recent: Option<Spanned<String>>,
    history_recent_rows: Option<Spanned<i64>>,
    doctor_silent_after: Option<Spanned<String>>,
    doctor_max_prefixes: Option<Spanned<i64>>,
    doctor_max_senders: Option<Spanned<i64>>,
    /// `[[host]]` entries, and where the nth one past the bound starts.
    host: Vec<RawHost>,
    host_over: Option<usize>,
    names: RawNames,
}

struct RawHost {
    /// One address or a list of them (addresses and prefixes).
    address: Option<Spanned<Vec<Spanned<String>>>>,
    mac: Option<Spanned<String>>,
    name: Spanned<String>,
}

#[derive(Default)]
struct RawNames {
    reverse_dns: Option<Spanned<bool>>,
    resolver: Option<Spanned<String>>,
    ttl: Option<Spanned<String>>,
    negative_ttl: Option<Spanned<String>>,
    max: Option<Spanned<i64>>,
    timeout: Option<Spanned<String>>,
}

/// An `[applications]` entry: its name, where it is, and its ports when they are a string.
type RawClass = (String, usize, Option<Spanned<String>>);

struct RawExporter {
    address: Spanned<String>,
    name: Option<Spanned<String>>,
    sampling_rate: Option<Spanned<i64>>,
    interfaces: Option<Spanned<HashMap<String, Spanned<String>>>>,
    wan: Option<Spanned<Vec<Spanned<i64>>>>,
    devices: Option<Spanned<bool>>,
}

#[derive(Default)]
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
    max_template_bytes_per_exporter: Option<Spanned<i64>>,
    max_template_bytes: Option<Spanned<i64>>,
    max_interface_name_bytes_per_exporter: Option<Spanned<i64>>,
    state_write_budget: Option<Spanned<i64>>,
    allow: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Default)]
struct RawNetwork {
    local: Option<Spanned<Vec<Spanned<String>>>>,
    learn: Option<Spanned<bool>>,
    max_learned: Option<Spanned<i64>>,
}

#[derive(Default)]
struct RawArchive {
    dir: Option<Spanned<String>>,
    step: Option<Spanned<String>>,
    max_hosts: Option<Spanned<i64>>,
    max_interfaces: Option<Spanned<i64>>,
    spread: Option<Spanned<String>>,
    journal_interval: Option<Spanned<String>>,
    flush: Option<Spanned<String>>,
    host_idle: Option<Spanned<String>>,
    retention: Option<Spanned<String>>,
    max_disk_mb: Option<Spanned<i64>>,
}

#[derive(Default)]
struct RawHttp {
    listen: Option<Spanned<String>>,
    threads: Option<Spanned<i64>>,
    max_connections: Option<Spanned<i64>>,
    max_connections_per_client: Option<Spanned<i64>>,
    header_timeout: Option<Spanned<String>>,
    idle_timeout: Option<Spanned<String>>,
    auth: Option<Spanned<String>>,
    password_hash: Option<Spanned<String>>,
    tokens: Option<Spanned<Vec<Spanned<String>>>>,
    hosts: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Default)]
struct RawLog {
    level: Option<Spanned<String>>,
}

// ---- document stage: the TOML tree with a position for every value ----

/// One TOML value and the bytes it covers. serde into the `Raw` structs directly would stop at the
/// first unknown key or wrong type; this tree cannot fail to build once the syntax is right, so
/// every such problem can be found by walking it.
struct Node {
    span: Range<usize>,
    kind: Kind,
}

enum Kind {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime(String),
    Array(Vec<Node>),
    /// In file order.
    Table(Vec<(String, Node)>),
}

/// toml_edit (the parser under `toml`) keeps every key's and value's bytes; tables made by a
/// dotted key (`http.listen = ...`) have none of their own and take their first key's.
fn node_of_item(item: &toml_edit::Item, at: Range<usize>) -> Node {
    use toml_edit::Item;
    match item {
        Item::Value(v) => node_of_value(v, at),
        Item::Table(t) => {
            let entries = t.iter().map(|(k, i)| (k.to_string(), node_of_item(i, key_span(t.key(k), &at)))).collect();
            table_node(t.span(), entries, at)
        }
        Item::ArrayOfTables(a) => {
            let items = a
                .iter()
                .map(|t| {
                    let entries =
                        t.iter().map(|(k, i)| (k.to_string(), node_of_item(i, key_span(t.key(k), &at)))).collect();
                    table_node(t.span(), entries, at.clone())
                })
                .collect();
            Node { span: a.span().unwrap_or(at), kind: Kind::Array(items) }
        }
        Item::None => Node { span: at, kind: Kind::Table(Vec::new()) },
    }
}

fn node_of_value(v: &toml_edit::Value, at: Range<usize>) -> Node {
    use toml_edit::Value;
    let span = v.span().unwrap_or(at);
    let kind = match v {
        Value::String(s) => Kind::String(s.value().clone()),
        Value::Integer(i) => Kind::Integer(*i.value()),
        Value::Float(f) => Kind::Float(*f.value()),
        Value::Boolean(b) => Kind::Boolean(*b.value()),
        Value::Datetime(d) => Kind::Datetime(d.value().to_string()),
        Value::Array(a) => Kind::Array(a.iter().map(|i| node_of_value(i, span.clone())).collect()),
        Value::InlineTable(t) => {
            Kind::Table(t.iter().map(|(k, i)| (k.to_string(), node_of_value(i, key_span(t.key(k), &span)))).collect())
        }
    };
    Node { span, kind }
}

/// Where a key is, else where its table is.
fn key_span(key: Option<&toml_edit::Key>, at: &Range<usize>) -> Range<usize> {
    key.and_then(toml_edit::Key::span).unwrap_or_else(|| at.clone())
}

fn table_node(span: Option<Range<usize>>, entries: Vec<(String, Node)>, at: Range<usize>) -> Node {
    let span = span.or_else(|| entries.first().map(|(_, n)| n.span.clone())).unwrap_or(at);
    Node { span, kind: Kind::Table(entries) }
}

impl Node {
    /// What the file has here, in serde's words (`string "many"`, ``integer `5` ``), as in messages
    /// toml itself gives.
    fn found(&self) -> String {
        match &self.kind {
            Kind::String(s) => Unexpected::Str(s).to_string(),
            Kind::Integer(i) => Unexpected::Signed(*i).to_string(),
            Kind::Float(f) => Unexpected::Float(*f).to_string(),
            Kind::Boolean(b) => Unexpected::Bool(*b).to_string(),
            Kind::Datetime(d) => format!("date-time {d}"),
            Kind::Array(_) => "list".to_string(),
            Kind::Table(_) => "table".to_string(),
        }
    }
}

/// A table being read into a raw struct: keys are taken out by name, and what nobody took is unknown.
struct Table {
    /// Dotted name for messages: "" for the document, "http", "exporter".
    name: &'static str,
    entries: Vec<(String, Node)>,
    /// Every key asked for, present or not, in the order asked: the known keys.
    known: Vec<&'static str>,
}

impl Table {
    fn new(name: &'static str, entries: Vec<(String, Node)>) -> Table {
        Table { name, entries, known: Vec::new() }
    }

    fn take(&mut self, key: &'static str) -> Option<Node> {
        self.known.push(key);
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(i).1)
    }

    fn dotted(&self, key: &str) -> String {
        if self.name.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.name)
        }
    }
}

/// A raw field type a node can become.
trait FromNode: Sized {
    /// `None` after reporting why not.
    fn from_node(n: Node, key: &str, v: &mut Validator) -> Option<Self>;
}

impl FromNode for Spanned<String> {
    fn from_node(n: Node, key: &str, v: &mut Validator) -> Option<Self> {
        match n.kind {
            Kind::String(s) => Some(Spanned::new(n.span, s)),
            _ => v.wrong_type(key, &n, "a string"),
        }
    }
}

impl FromNode for Spanned<i64> {
    fn from_node(n: Node, key: &str, v: &mut Validator) -> Option<Self> {
        match n.kind {
            Kind::Integer(i) => Some(Spanned::new(n.span, i)),
            _ => v.wrong_type(key, &n, "a whole number"),
        }
    }
}

impl FromNode for Spanned<bool> {
    fn from_node(n: Node, key: &str, v: &mut Validator) -> Option<Self> {
        match n.kind {
            Kind::Boolean(b) => Some(Spanned::new(n.span, b)),
            _ => v.wrong_type(key, &n, "true or false"),
        }
    }
}

/// A string or a list of strings (`address = "a"` or `address = ["a", "b"]`), as a list.
struct OneOrMany(Spanned<Vec<Spanned<String>>>);

impl FromNode for OneOrMany {
    fn from_node(n: Node, key: &str, v: &mut Validator) -> Option<Self> {
        match n.kind {
            Kind::String(s) => Some(OneOrMany(Spanned::new(n.span.clone(), vec![Spanned::new(n.span, s)]))),
            Kind::Array(_) => FromNode::from_node(n, key, v).map(OneOrMany),
            _ => v.wrong_type(key, &n, "a string or a list of strings"),
        }
    }
}

/// What a list of these is called in an error message.
trait Listed {
    const LIST: &'static str;
}

impl Listed for String {
    const LIST: &'static str = "a list of strings";
}

impl Listed for i64 {
    const LIST: &'static str = "a list of whole numbers";
}

impl<T: Listed> FromNode for Spanned<Vec<Spanned<T>>>
where
    Spanned<T>: FromNode,
{
    fn from_node(n: Node, key: &str, v: &mut Validator) -> Option<Self> {
        let Kind::Array(items) = n.kind else { return v.wrong_type(key, &n, T::LIST) };
        let total = items.len();
        let list: Vec<Spanned<T>> = items.into_iter().filter_map(|i| FromNode::from_node(i, key, v)).collect();
        // The good items are still checked; a list with none left is left out, or "must not be
        // empty" would be said of a list the file does not have.
        if list.is_empty() && total > 0 {
            return None;
        }
        Some(Spanned::new(n.span, list))
    }
}

impl FromNode for Spanned<HashMap<String, Spanned<String>>> {
    fn from_node(n: Node, key: &str, v: &mut Validator) -> Option<Self> {
        let Kind::Table(entries) = n.kind else { return v.wrong_type(key, &n, "a table (e.g. { 1 = \"wan\" })") };
        let map = entries.into_iter().filter_map(|(k, i)| FromNode::from_node(i, key, v).map(|s| (k, s))).collect();
        Some(Spanned::new(n.span, map))
    }
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
        let source = path.display().to_string();
        let fail = |line: Option<usize>, message: String| ConfigError {
            source: source.clone(),
            problems: vec![Problem { line, key: String::new(), message }],
        };
        // Regular files only, read without blocking: a FIFO named by mistake would otherwise hang
        // check-config and the start, and /dev/zero or a log file would fill the memory.
        let bytes = match crate::file::read_regular(&path, MAX_SIZE) {
            Ok(b) => b,
            Err(e) if !explicit && e.not_found() => return Ok((Config::defaults(), Source::Defaults)),
            Err(crate::file::ReadError::TooLarge(_)) => {
                return Err(fail(None, "larger than 1 MiB: not a flowpi configuration (that is a few KiB)".into()))
            }
            Err(e) => return Err(fail(None, format!("cannot read: {e}"))),
        };
        let text = String::from_utf8(bytes).map_err(|e| {
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = 1 + good.iter().filter(|&&b| b == b'\n').count();
            fail(Some(line), "not UTF-8 text (a TOML file must be UTF-8)".into())
        })?;
        let cfg = Config::parse(&text, &source)?;
        Ok((cfg, Source::File(path)))
    }

    pub fn defaults() -> Config {
        Config::parse("", "defaults").expect("built-in defaults are valid")
    }

    /// Parse and validate TOML text; `source` names it in messages.
    pub fn parse(text: &str, source: &str) -> Result<Config, ConfigError> {
        let lines = LineIndex::new(text);
        // Only a syntax error stops here: the tree takes any well-formed TOML.
        let doc = toml_edit::ImDocument::parse(text).map(|d| node_of_item(d.as_item(), 0..0)).map_err(|e| {
            let at = e.span().map(|s| s.start);
            ConfigError {
                source: source.to_string(),
                problems: vec![Problem {
                    line: at.map(|o| lines.line(o)),
                    key: at.map(|o| key_at(text, o)).unwrap_or_default(),
                    message: e.message().trim().replace('\n', ": "),
                }],
            }
        })?;
        let mut v = Validator { lines: &lines, problems: Vec::new(), warnings: Vec::new() };
        let raw = v.read(doc);
        let mut cfg = v.validate(raw);
        // In file order, whatever order the checks ran in.
        v.problems.sort_by_key(|p| p.line);
        v.warnings.sort_by_key(|p| p.line);
        if v.problems.is_empty() {
            cfg.warnings = v.warnings;
            Ok(cfg)
        } else {
            Err(ConfigError { source: source.to_string(), problems: v.problems })
        }
    }

    /// The warnings as `check-config` prints them: `SOURCE:LINE: warning: KEY: MESSAGE`.
    pub fn warning_lines(&self, source: &str) -> Vec<String> {
        self.warnings
            .iter()
            .map(|p| match p.line {
                Some(l) => format!("{source}:{l}: warning: {}: {}", p.key, p.message),
                None => format!("{source}: warning: {}: {}", p.key, p.message),
            })
            .collect()
    }

    /// One line for `check-config` and the start-up log.
    pub fn summary(&self) -> String {
        let listen: Vec<String> = self.collector.listen.iter().map(|a| a.to_string()).collect();
        format!(
            "collector {} -> archive {} every {}s (max {} hosts, {} interfaces), {} local networks, {} named exporters, {} named hosts, http {} ({}), time zone {}",
            listen.join(","),
            self.archive.dir.display(),
            self.archive.step.as_secs(),
            self.archive.max_hosts,
            self.archive.max_interfaces,
            self.network.local.nets().len(),
            self.exporters.len(),
            self.names.hosts.len(),
            self.http.listen,
            match self.http.auth {
                Auth::Password { .. } => "password login",
                Auth::None => "no login",
            },
            self.calendar.zone_name(),
        )
    }
}

/// The dotted key a syntax error at `offset` is about: the `[section]` above it and the key on its
/// line (toml's messages name neither).
fn key_at(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    // `[section]` and `[[array-of-tables]]` both name the section.
    let header = |l: &str| {
        let l = l.trim();
        l.starts_with('[').then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
    };
    if header(line).is_some() {
        // An unfinished value above is reported at the next header, which is not what is wrong.
        return String::new();
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
    warnings: Vec<Problem>,
}

impl Validator<'_> {
    fn problem<T>(&mut self, key: &str, at: &Spanned<T>, message: String) {
        self.problem_at(key, at.span().start, message);
    }

    fn problem_at(&mut self, key: &str, offset: usize, message: String) {
        self.problems.push(Problem { line: Some(self.lines.line(offset)), key: key.to_string(), message });
    }

    fn warning_at(&mut self, key: &str, offset: usize, message: String) {
        self.warnings.push(Problem { line: Some(self.lines.line(offset)), key: key.to_string(), message });
    }

    fn wrong_type<T>(&mut self, key: &str, n: &Node, expected: &str) -> Option<T> {
        self.problem_at(key, n.span.start, format!("invalid type: {}, expected {expected}", n.found()));
        None
    }

    /// Take `key` out of `t` as the raw type asked for.
    fn get<T: FromNode>(&mut self, t: &mut Table, key: &'static str) -> Option<T> {
        let n = t.take(key)?;
        T::from_node(n, &t.dotted(key), self)
    }

    /// A node that must be a table, as a [`Table`] named `name` (empty when it is not one).
    fn table(&mut self, name: &'static str, n: Option<Node>, expected: &str) -> Table {
        match n {
            None => Table::new(name, Vec::new()),
            Some(Node { kind: Kind::Table(entries), .. }) => Table::new(name, entries),
            Some(n) => {
                self.wrong_type::<()>(name, &n, expected);
                Table::new(name, Vec::new())
            }
        }
    }

    /// Report what nobody asked `t` for, naming what it knows, in serde's words.
    fn unknown(&mut self, t: Table) {
        let known: Vec<String> = t.known.iter().map(|k| format!("`{k}`")).collect();
        let expected = match known.as_slice() {
            [] => "there are no keys".to_string(),
            [one] => format!("expected {one}"),
            [a, b] => format!("expected {a} or {b}"),
            _ => format!("expected one of {}", known.join(", ")),
        };
        for (k, n) in &t.entries {
            self.problem_at(&t.dotted(k), n.span.start, format!("unknown key `{k}`, {expected}"));
        }
    }

    /// The raw stage: the document into the `Raw` structs. The keys asked for here are the only list
    /// of known keys; each is taken as the type its `Raw` field has.
    fn read(&mut self, doc: Node) -> Raw {
        let mut root = self.table("", Some(doc), "a table");
        let mut t = self.section(&mut root, "collector");
        let collector = RawCollector {
            listen: self.get(&mut t, "listen"),
            receive_buffer: self.get(&mut t, "receive_buffer"),
            max_exporters: self.get(&mut t, "max_exporters"),
            max_templates_per_exporter: self.get(&mut t, "max_templates_per_exporter"),
            max_fields_per_template: self.get(&mut t, "max_fields_per_template"),
            pending_sets: self.get(&mut t, "pending_sets"),
            pending_bytes: self.get(&mut t, "pending_bytes"),
            pending_timeout: self.get(&mut t, "pending_timeout"),
            max_domains_per_exporter: self.get(&mut t, "max_domains_per_exporter"),
            max_template_bytes_per_exporter: self.get(&mut t, "max_template_bytes_per_exporter"),
            max_template_bytes: self.get(&mut t, "max_template_bytes"),
            max_interface_name_bytes_per_exporter: self.get(&mut t, "max_interface_name_bytes_per_exporter"),
            state_write_budget: self.get(&mut t, "state_write_budget"),
            allow: self.get(&mut t, "allow"),
        };
        self.unknown(t);
        let mut t = self.section(&mut root, "network");
        let network = RawNetwork {
            local: self.get(&mut t, "local"),
            learn: self.get(&mut t, "learn"),
            max_learned: self.get(&mut t, "max_learned"),
        };
        self.unknown(t);
        let mut t = self.section(&mut root, "archive");
        let archive = RawArchive {
            dir: self.get(&mut t, "dir"),
            step: self.get(&mut t, "step"),
            max_hosts: self.get(&mut t, "max_hosts"),
            max_interfaces: self.get(&mut t, "max_interfaces"),
            spread: self.get(&mut t, "spread"),
            journal_interval: self.get(&mut t, "journal_interval"),
            flush: self.get(&mut t, "flush"),
            host_idle: self.get(&mut t, "host_idle"),
            retention: self.get(&mut t, "retention"),
            max_disk_mb: self.get(&mut t, "max_disk_mb"),
        };
        self.unknown(t);
        let mut t = self.section(&mut root, "http");
        let http = RawHttp {
            listen: self.get(&mut t, "listen"),
            threads: self.get(&mut t, "threads"),
            max_connections: self.get(&mut t, "max_connections"),
            max_connections_per_client: self.get(&mut t, "max_connections_per_client"),
            header_timeout: self.get(&mut t, "header_timeout"),
            idle_timeout: self.get(&mut t, "idle_timeout"),
            auth: self.get(&mut t, "auth"),
            password_hash: self.get(&mut t, "password_hash"),
            tokens: self.get(&mut t, "tokens"),
            hosts: self.get(&mut t, "hosts"),
        };
        self.unknown(t);
        let mut t = self.section(&mut root, "log");
        let log = RawLog { level: self.get(&mut t, "level") };
        self.unknown(t);
        let mut t = self.section(&mut root, "peers");
        let peers_max_per_host = self.get(&mut t, "max_per_host");
        self.unknown(t);
        let mut t = self.section(&mut root, "devices");
        let devices_max_addresses = self.get(&mut t, "max_addresses");
        self.unknown(t);
        let mut t = self.section(&mut root, "conversations");
        let conversations_max = self.get(&mut t, "max");
        self.unknown(t);
        let mut t = self.section(&mut root, "ports");
        let ports_max = self.get(&mut t, "max");
        self.unknown(t);
        let mut t = self.section(&mut root, "time");
        let (time_zone, time_week_start, time_billing_day) =
            (self.get(&mut t, "zone"), self.get(&mut t, "week_start"), self.get(&mut t, "billing_day"));
        self.unknown(t);
        let mut t = self.section(&mut root, "history");
        let (history_top_days, history_top_rows, history_max_totals) =
            (self.get(&mut t, "top_days"), self.get(&mut t, "top_rows"), self.get(&mut t, "max_totals"));
        let (history_recent, history_recent_rows) = (self.get(&mut t, "recent"), self.get(&mut t, "recent_rows"));
        self.unknown(t);
        let mut t = self.section(&mut root, "doctor");
        let (doctor_silent_after, doctor_max_prefixes, doctor_max_senders) =
            (self.get(&mut t, "silent_after"), self.get(&mut t, "max_prefixes"), self.get(&mut t, "max_senders"));
        self.unknown(t);
        let mut t = self.section(&mut root, "names");
        let names = RawNames {
            reverse_dns: self.get(&mut t, "reverse_dns"),
            resolver: self.get(&mut t, "resolver"),
            ttl: self.get(&mut t, "ttl"),
            negative_ttl: self.get(&mut t, "negative_ttl"),
            max: self.get(&mut t, "max"),
            timeout: self.get(&mut t, "timeout"),
        };
        self.unknown(t);
        // Every key of [applications] is a class name: nothing there is unknown.
        let applications = root.take("applications").map(|n| {
            let section = n.span.start;
            let t = self.table("applications", Some(n), "a table ([applications])");
            let classes = t
                .entries
                .into_iter()
                .map(|(k, n)| {
                    let at = n.span.start;
                    let key = format!("applications.{k}");
                    (k, at, FromNode::from_node(n, &key, self))
                })
                .collect();
            (section, classes)
        });
        let exporter = match root.take("exporter") {
            None => Vec::new(),
            Some(Node { kind: Kind::Array(items), .. }) => items.into_iter().filter_map(|n| self.exporter(n)).collect(),
            Some(n) => self.wrong_type("exporter", &n, "a list of tables (write [[exporter]])").unwrap_or_default(),
        };
        let (host, host_over) = match root.take("host") {
            None => (Vec::new(), None),
            Some(Node { kind: Kind::Array(items), .. }) => {
                // Past the bound only where the list goes over is reported, not each entry.
                let over = items.get(MAX_HOST_ENTRIES).map(|n| n.span.start);
                (items.into_iter().take(MAX_HOST_ENTRIES).filter_map(|n| self.host(n)).collect(), over)
            }
            Some(n) => (self.wrong_type("host", &n, "a list of tables (write [[host]])").unwrap_or_default(), None),
        };
        self.unknown(root);
        Raw {
            host,
            host_over,
            names,
            collector,
            network,
            archive,
            http,
            log,
            exporter,
            applications,
            peers_max_per_host,
            devices_max_addresses,
            conversations_max,
            ports_max,
            time_zone,
            time_week_start,
            time_billing_day,
            history_top_days,
            history_top_rows,
            history_max_totals,
            history_recent,
            history_recent_rows,
            doctor_silent_after,
            doctor_max_prefixes,
            doctor_max_senders,
        }
    }

    fn section(&mut self, root: &mut Table, name: &'static str) -> Table {
        let n = root.take(name);
        self.table(name, n, &format!("a table ([{name}])"))
    }

    fn exporter(&mut self, n: Node) -> Option<RawExporter> {
        let Kind::Table(entries) = n.kind else { return self.wrong_type("exporter", &n, "a table") };
        let mut t = Table::new("exporter", entries);
        let has_address = t.entries.iter().any(|(k, _)| k == "address");
        let e = (
            self.get(&mut t, "address"),
            self.get(&mut t, "name"),
            self.get(&mut t, "sampling_rate"),
            self.get(&mut t, "interfaces"),
            self.get(&mut t, "wan"),
            self.get(&mut t, "devices"),
        );
        self.unknown(t);
        if !has_address {
            self.problem_at("exporter", n.span.start, "missing key `address`".into());
        }
        let (Some(address), name, sampling_rate, interfaces, wan, devices) = e else { return None };
        Some(RawExporter { address, name, sampling_rate, interfaces, wan, devices })
    }

    fn host(&mut self, n: Node) -> Option<RawHost> {
        let Kind::Table(entries) = n.kind else { return self.wrong_type("host", &n, "a table") };
        let mut t = Table::new("host", entries);
        let has = |k: &str| t.entries.iter().any(|(e, _)| e == k);
        let (has_address, has_mac, has_name) = (has("address"), has("mac"), has("name"));
        let address: Option<OneOrMany> = self.get(&mut t, "address");
        let mac: Option<Spanned<String>> = self.get(&mut t, "mac");
        let name: Option<Spanned<String>> = self.get(&mut t, "name");
        self.unknown(t);
        if !has_name {
            self.problem_at("host", n.span.start, "missing key `name`".into());
        }
        if !has_address && !has_mac {
            self.problem_at("host", n.span.start, "missing key `address` (or `mac`)".into());
        }
        if (has_address && address.is_none()) || (has_mac && mac.is_none()) {
            return None;
        }
        Some(RawHost { address: address.map(|a| a.0), mac, name: name? })
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

    /// `[applications]`: each key a class name, each value its ports in protocol.list syntax.
    #[allow(clippy::type_complexity)]
    fn applications(
        &mut self,
        raw: Option<(usize, Vec<RawClass>)>,
    ) -> Vec<(crate::views::AppName, Vec<crate::views::applications::PortSpec>)> {
        use crate::views::applications::{parse_ports, Applications, MAX_CLASSES, OTHER};
        use crate::views::AppName;
        let Some((section, raw)) = raw else { return Applications::default_classes() };
        // The section replaces the whole shipped list: classes it leaves out are no longer
        // counted apart, which a file written for one addition did not mean.
        let left_out: Vec<String> = Applications::default_classes()
            .into_iter()
            .map(|(n, _)| n.to_string())
            .filter(|n| !raw.iter().any(|(k, _, _)| k == n))
            .collect();
        if !left_out.is_empty() {
            let msg = format!(
                "this section replaces the shipped list of applications, and leaves out {}: their traffic now counts as `other` (or under a class here that lists its ports). To add to the list, keep the shipped entries (etc/flowpi.toml lists them) and add yours.",
                left_out.join(", ")
            );
            self.warning_at("applications", section, msg);
        }
        if raw.len() > MAX_CLASSES {
            let at = raw[MAX_CLASSES].1;
            self.problem_at("applications", at, format!("at most {MAX_CLASSES} applications"));
        }
        let mut out = Vec::new();
        for (name, at, ports) in raw.into_iter().take(MAX_CLASSES) {
            let key = format!("applications.{name}");
            let n = match AppName::new(&name) {
                Some(n) if name != OTHER => Some(n),
                Some(_) => {
                    self.problem_at(&key, at, "\"other\" is where unlisted ports go; choose another name".into());
                    None
                }
                None => {
                    let m = format!("{name:?} is not a name: 1 to {} of a-z, 0-9, '_', '-'", AppName::MAX);
                    self.problem_at(&key, at, m);
                    None
                }
            };
            let Some(ports) = ports else { continue };
            match parse_ports(ports.get_ref()) {
                Ok(p) => {
                    if let Some(n) = n {
                        out.push((n, p));
                    }
                }
                Err(m) => self.problem(&key, &ports, m),
            }
        }
        out
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
            max_template_bytes_per_exporter: self.int(
                "collector.max_template_bytes_per_exporter",
                rc.max_template_bytes_per_exporter,
                d.max_template_bytes_per_exporter as i64,
                4096, // a template of a few fields
                64 << 20,
            ) as usize,
            max_template_bytes: self.int(
                "collector.max_template_bytes",
                rc.max_template_bytes,
                d.max_template_bytes as i64,
                4096,
                1 << 30,
            ) as usize,
            max_interface_name_bytes_per_exporter: self.int(
                "collector.max_interface_name_bytes_per_exporter",
                rc.max_interface_name_bytes_per_exporter,
                d.max_interface_name_bytes_per_exporter as i64,
                0,
                16 << 20,
            ) as usize,
        };
        let state_write_budget = self.int(
            "collector.state_write_budget",
            rc.state_write_budget,
            crate::collector::STATE_WRITE_BUDGET as i64,
            0,
            1 << 30,
        ) as u64;
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
        let learn = raw.network.learn.is_none_or(|b| *b.get_ref());
        let max_learned = self.int("network.max_learned", raw.network.max_learned, 16, 1, 256) as usize;

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
        let spread = self.duration("archive.spread", raw.archive.spread, Duration::from_secs(1800), 0, 86_400);
        let journal_interval =
            self.duration("archive.journal_interval", raw.archive.journal_interval, Duration::from_secs(300), 1, 3600);
        let flush = self.duration("archive.flush", raw.archive.flush, Duration::from_secs(86_400), 1, 7 * 86_400);
        let host_idle = self.duration(
            "archive.host_idle",
            raw.archive.host_idle,
            Duration::from_secs(7 * 86_400),
            1,
            3650 * 86_400,
        );
        let retention = self.duration(
            "archive.retention",
            raw.archive.retention,
            Duration::from_secs(400 * 86_400),
            86_400,
            36_500 * 86_400,
        );
        let max_disk = self.int("archive.max_disk_mb", raw.archive.max_disk_mb, 2048, 16, 1 << 20) as u64 * (1 << 20);

        // views
        let applications = self.applications(raw.applications);
        let views = ViewsConfig {
            applications,
            peers_per_host: self.int("peers.max_per_host", raw.peers_max_per_host, 32, 0, 1024) as usize,
            conversations: self.int("conversations.max", raw.conversations_max, 2048, 0, 1_000_000) as usize,
            ports: self.int("ports.max", raw.ports_max, 1024, 0, 131_072) as usize,
            device_addresses: self.int("devices.max_addresses", raw.devices_max_addresses, 4096, 0, 1 << 20) as usize,
        };

        // http
        let rh = raw.http;
        let http_listen = match rh.listen {
            None => SocketAddr::from(([0, 0, 0, 0], 3000)),
            Some(s) => self.addr("http.listen", &s).unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 3000))),
        };
        let threads = self.int("http.threads", rh.threads, 1, 1, 16) as usize;
        let max_connections = self.int("http.max_connections", rh.max_connections, 64, 2, 4096) as usize;
        let per_client_at = rh.max_connections_per_client.clone();
        let max_connections_per_client =
            self.int("http.max_connections_per_client", rh.max_connections_per_client, 16, 1, 4096) as usize;
        // The default (16) under a small max_connections is simply the whole; a value written is checked.
        if let Some(at) = per_client_at.filter(|_| max_connections_per_client > max_connections) {
            let msg = format!("{max_connections_per_client} is more than http.max_connections ({max_connections})");
            self.problem("http.max_connections_per_client", &at, msg);
        }
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

        // time
        let (tz, zone_name) = match &raw.time_zone {
            Some(z) => match crate::calendar::zone(Some(z.get_ref())) {
                Ok(v) => v,
                Err(msg) => {
                    self.problem("time.zone", z, msg);
                    (jiff::tz::TimeZone::UTC, "UTC".into())
                }
            },
            None => crate::calendar::zone(None).unwrap_or((jiff::tz::TimeZone::UTC, "UTC".into())),
        };
        let week_start = match &raw.time_week_start {
            None => jiff::civil::Weekday::Monday,
            Some(w) => crate::calendar::weekday(w.get_ref()).unwrap_or_else(|| {
                self.problem("time.week_start", w, format!("{:?} is not a weekday (e.g. \"monday\")", w.get_ref()));
                jiff::civil::Weekday::Monday
            }),
        };
        let billing_day = self.int("time.billing_day", raw.time_billing_day, 1, 1, 28) as i8;
        let calendar = crate::calendar::Calendar::new(tz, zone_name, week_start, billing_day);
        let history = HistoryConfig {
            top_days: self.int("history.top_days", raw.history_top_days, 31, 1, 400) as u64,
            top_rows: self.int("history.top_rows", raw.history_top_rows, 200, 10, 10_000) as usize,
            max_totals: self.int("history.max_totals", raw.history_max_totals, 1024, 16, 65_536) as usize,
            recent: self.duration("history.recent", raw.history_recent, Duration::from_secs(7200), 0, 86_400),
            recent_rows: self.int("history.recent_rows", raw.history_recent_rows, 16_384, 0, 1 << 20) as usize,
        };
        let doctor = DoctorConfig {
            silent_after: self.duration(
                "doctor.silent_after",
                raw.doctor_silent_after,
                Duration::from_secs(300),
                1,
                7 * 86_400,
            ),
            max_prefixes: self.int("doctor.max_prefixes", raw.doctor_max_prefixes, 64, 1, 4096) as usize,
            max_senders: self.int(
                "doctor.max_senders",
                raw.doctor_max_senders,
                crate::decode::rejects::DEFAULT_MAX_SENDERS as i64,
                1,
                4096,
            ) as usize,
        };

        let names = self.names(raw.host, raw.host_over, raw.names, &local);

        Config {
            names,
            warnings: Vec::new(),
            calendar,
            history,
            doctor,
            collector: CollectorConfig { listen, receive_buffer, limits, allow, state_write_budget },
            exporters,
            network: NetworkConfig { local: LocalNets::new(local), learn, max_learned },
            archive: ArchiveConfig {
                dir,
                step,
                max_hosts,
                max_interfaces,
                spread,
                journal_interval,
                flush,
                host_idle,
                retention,
                max_disk,
            },
            views,
            http: HttpConfig {
                listen: http_listen,
                threads,
                max_connections,
                max_connections_per_client: max_connections_per_client.min(max_connections),
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
            if let Some(list) = e.wan {
                let mut wan = Vec::new();
                for i in list.get_ref() {
                    match u32::try_from(*i.get_ref()) {
                        Ok(ifindex) => wan.push(ifindex),
                        Err(_) => self.problem("exporter.wan", i, format!("{} is not an ifIndex", i.get_ref())),
                    }
                }
                o.wan = Some(wan);
            }
            if let Some(d) = e.devices {
                o.devices = *d.get_ref();
            }
            out.insert(addr, o);
        }
        out
    }
}

impl Validator<'_> {
    fn names(&mut self, hosts: Vec<RawHost>, over: Option<usize>, raw: RawNames, local: &[IpNet]) -> NamesConfig {
        if let Some(at) = over {
            self.problem_at("host", at, format!("at most {MAX_HOST_ENTRIES} [[host]] entries"));
        }
        let mut named = std::collections::BTreeMap::new();
        let mut devices: Vec<DeviceConfig> = Vec::new();
        let mut macs = std::collections::HashSet::new();
        let mut claimed: Vec<IpNet> = Vec::new();
        for h in hosts {
            let name = h.name.get_ref().trim();
            let name_ok = if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
                self.problem("host.name", &h.name, format!("must be 1 to {MAX_NAME_CHARS} characters"));
                false
            } else if name.chars().any(char::is_control) {
                self.problem("host.name", &h.name, format!("{:?} has control characters", h.name.get_ref()));
                false
            } else {
                true
            };
            let mac = h.mac.as_ref().and_then(|m| match crate::net::parse_mac(m.get_ref()) {
                Some(v) if macs.insert(v) => Some(v),
                Some(_) => {
                    self.problem("host.mac", m, format!("{} has two [[host]] entries", m.get_ref().trim()));
                    None
                }
                None => {
                    self.problem(
                        "host.mac",
                        m,
                        format!("{:?} is not a MAC address (e.g. \"00:1a:2b:3c:4d:5e\")", m.get_ref()),
                    );
                    None
                }
            });
            let list = h.address.as_ref().map_or(&[][..], |a| a.get_ref().as_slice());
            if let Some(a) = h.address.as_ref().filter(|a| a.get_ref().is_empty()) {
                self.problem("host.address", a, "must list at least one address".into());
            }
            let (mut addresses, mut prefixes) = (Vec::new(), Vec::new());
            for a in list {
                let text = a.get_ref().trim();
                let net = if text.contains('/') {
                    match text.parse::<IpNet>() {
                        Ok(n) if n.prefix() < if n.addr().is_ipv4() { 16 } else { 48 } => {
                            let msg = format!("{text}: a device's prefix must be at least /16 (IPv4) or /48 (IPv6)");
                            self.problem("host.address", a, msg);
                            continue;
                        }
                        Ok(n) => n,
                        Err(e) => {
                            self.problem("host.address", a, e);
                            continue;
                        }
                    }
                } else {
                    match text.parse::<IpAddr>() {
                        Ok(ip) => {
                            crate::net::normalize(ip).to_string().parse::<IpNet>().expect("an address is a network")
                        }
                        Err(_) => {
                            let msg = format!("{:?} is not an IP address or prefix", a.get_ref());
                            self.problem("host.address", a, msg);
                            continue;
                        }
                    }
                };
                let single = net.prefix() == if net.addr().is_ipv4() { 32 } else { 128 };
                if let Some(other) = claimed.iter().find(|c| c.contains(net.addr()) || net.contains(c.addr())) {
                    let msg = if single && other.prefix() == net.prefix() {
                        format!("{} has two [[host]] names", net.addr())
                    } else {
                        let this = if single { net.addr().to_string() } else { net.to_string() };
                        format!("{this} overlaps {other} of another [[host]] entry (or of this one)")
                    };
                    self.problem("host.address", a, msg);
                    continue;
                }
                claimed.push(net);
                // Only hosts of network.local are counted, so only they are ever named.
                if !local.iter().any(|n| n.contains(net.addr())) {
                    let msg = format!(
                        "{net} is outside network.local, so flowpi counts no traffic for it and this name is never shown; add its network to network.local if it is one of yours",
                        net = if single { net.addr().to_string() } else { net.to_string() }
                    );
                    self.warning_at("host.address", a.span().start, msg);
                }
                if single {
                    addresses.push(net.addr());
                } else {
                    prefixes.push(net);
                }
            }
            let key =
                addresses.first().copied().or(mac.map(crate::net::mac_key)).or(prefixes.first().map(|p| p.addr()));
            // A bad name still claims its addresses: a second entry for one is reported too.
            let (Some(key), true) = (key, name_ok) else { continue };
            for a in addresses.iter().chain([&key]) {
                named.insert(*a, name.to_string());
            }
            devices.push(DeviceConfig { key, name: name.to_string(), addresses, prefixes, mac });
        }
        let hosts = named;
        let resolver = match &raw.resolver {
            None => Resolver::System,
            Some(s) if s.get_ref() == "system" => Resolver::System,
            Some(s) => match s.get_ref().parse::<SocketAddr>() {
                Ok(a) => Resolver::Dns(a),
                Err(_) => {
                    let msg = format!(
                        "{:?} is neither \"system\" nor a DNS server's address with its port (e.g. \"192.168.1.1:53\")",
                        s.get_ref()
                    );
                    self.problem("names.resolver", s, msg);
                    Resolver::System
                }
            },
        };
        NamesConfig {
            hosts,
            devices,
            reverse_dns: raw.reverse_dns.is_none_or(|b| *b.get_ref()),
            resolver,
            ttl: self.duration("names.ttl", raw.ttl, Duration::from_secs(3600), 1, 30 * 86_400),
            negative_ttl: self.duration("names.negative_ttl", raw.negative_ttl, Duration::from_secs(600), 1, 86_400),
            max: self.int("names.max", raw.max, 1024, 16, 65_536) as usize,
            timeout: self.duration("names.timeout", raw.timeout, Duration::from_secs(2), 1, 60),
        }
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
        assert_eq!(
            (c.doctor.silent_after, c.doctor.max_prefixes, c.doctor.max_senders),
            (Duration::from_secs(300), 64, 16)
        );
        assert_eq!(c.bounds().doctor_prefixes, 64);
        assert_eq!(c.archive.max_interfaces, 64);
        assert_eq!(
            (c.archive.spread, c.archive.journal_interval, c.archive.flush),
            (Duration::from_secs(1800), Duration::from_secs(300), Duration::from_secs(86_400))
        );
        assert_eq!((c.archive.open_steps(), c.archive.flush_steps()), (31, 1440));
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

    fn lines_and_keys(e: &ConfigError) -> Vec<(Option<usize>, &str)> {
        e.problems.iter().map(|p| (p.line, p.key.as_str())).collect()
    }

    #[test]
    fn positions_come_through() {
        // Every value keeps its line, also inside tables made by dotted keys.
        let e = Config::parse("\n[log]\n\nlevel = 3\n", "t.toml").unwrap_err();
        assert_eq!(lines_and_keys(&e), vec![(Some(4), "log.level")]);
        // Dotted keys make tables that have no position of their own.
        let c = Config::parse(
            "http.listen = \"127.0.0.1:8080\"\n[[exporter]]\naddress = \"10.0.0.1\"\ninterfaces.7 = \"wan\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.http.listen, "127.0.0.1:8080".parse::<SocketAddr>().unwrap());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(c.exporters[&ip].interfaces.get(&7).map(String::as_str), Some("wan"));
        let e = Config::parse("\n\nhttp.listn = \"x\"\n", "t.toml").unwrap_err();
        assert_eq!(lines_and_keys(&e), vec![(Some(3), "http.listn")]);
        // A client's share of the connections cannot be more than all of them.
        let e = Config::parse("[http]\nmax_connections = 8\nmax_connections_per_client = 9\n", "t.toml").unwrap_err();
        assert_eq!(lines_and_keys(&e), vec![(Some(3), "http.max_connections_per_client")]);
        let c = Config::parse("[http]\nmax_connections = 8\n", "t.toml").unwrap();
        assert_eq!((c.http.max_connections, c.http.max_connections_per_client), (8, 8));
        let e = Config::parse("[archive]\ndir = 2024-05-01T10:00:00Z\n", "t.toml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.toml:2: archive.dir: invalid type: date-time 2024-05-01T10:00:00Z, expected a string"
        );
    }

    #[test]
    fn every_unknown_key_and_wrong_type_at_once() {
        let text = "[collector]\nlisten = \"0.0.0.0:2055\"\nmax_exporter = 3\nallow = [1, \"nope\"]\n\
                    [collector.extra]\nx = 1\n[archive]\nmax_hosts = 1.5\n[[exporter]]\nsampling = 2\n[graphs]\n";
        let e = Config::parse(text, "t.toml").unwrap_err();
        assert_eq!(
            lines_and_keys(&e),
            vec![
                (Some(2), "collector.listen"),
                (Some(3), "collector.max_exporter"),
                (Some(4), "collector.allow"),
                (Some(4), "collector.allow"),
                (Some(5), "collector.extra"),
                (Some(8), "archive.max_hosts"),
                (Some(9), "exporter"),
                (Some(10), "exporter.sampling"),
                (Some(11), "graphs"),
            ],
            "{e}"
        );
        let msgs: Vec<&str> = e.problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(msgs[0], "invalid type: string \"0.0.0.0:2055\", expected a list of strings");
        assert_eq!(msgs[2], "invalid type: integer `1`, expected a string");
        assert!(msgs[3].contains("\"nope\" is not an IP network"), "{e}");
        assert_eq!(msgs[5], "invalid type: floating point `1.5`, expected a whole number");
        assert_eq!(msgs[6], "missing key `address`");
        // A syntax error leaves no document to walk: it is the one problem.
        let e = Config::parse("[archive]\nmax_host = 3\nstep = \n", "t.toml").unwrap_err();
        assert_eq!(e.problems.len(), 1, "{e}");
        assert_eq!(lines_and_keys(&e), vec![(Some(3), "archive.step")]);
    }

    #[test]
    fn hosts_and_names() {
        let c = Config::defaults();
        assert!(c.names.hosts.is_empty() && c.names.reverse_dns);
        assert_eq!(c.names.resolver, Resolver::System);
        assert_eq!((c.names.ttl, c.names.negative_ttl), (Duration::from_secs(3600), Duration::from_secs(600)));
        assert_eq!((c.names.max, c.names.timeout), (1024, Duration::from_secs(2)));
        let text = "[[host]]\naddress = \"192.168.1.13\"\nname = \" Living-room TV \"\n\
                    [[host]]\naddress = [\"192.168.1.20\", \"fd00::20\", \"::ffff:192.168.1.21\"]\nname = \"NAS\"\n\
                    [names]\nreverse_dns = false\nresolver = \"192.168.1.1:53\"\nttl = \"2h\"\nnegative_ttl = \"1m\"\nmax = 64\ntimeout = \"5s\"\n";
        let c = Config::parse(text, "t").unwrap();
        let name = |a: &str| c.names.hosts.get(&a.parse::<IpAddr>().unwrap()).map(String::as_str);
        assert_eq!(name("192.168.1.13"), Some("Living-room TV"));
        assert_eq!(
            (name("192.168.1.20"), name("fd00::20"), name("192.168.1.21")),
            (Some("NAS"), Some("NAS"), Some("NAS"))
        );
        assert!(!c.names.reverse_dns);
        assert_eq!(c.names.resolver, Resolver::Dns("192.168.1.1:53".parse().unwrap()));
        assert_eq!((c.names.ttl, c.names.negative_ttl), (Duration::from_secs(7200), Duration::from_secs(60)));
        assert_eq!((c.names.max, c.names.timeout), (64, Duration::from_secs(5)));
    }

    #[test]
    fn bad_hosts_and_names_are_all_reported() {
        let text = "[[host]]\naddress = \"192.168.1.300\"\nname = \"x\"\n\
                    [[host]]\naddress = [\"192.168.1.13\", \"192.168.1.13\"]\nname = \"\"\n\
                    [[host]]\naddress = \"192.168.1.14\"\nname = \"tab\\there\"\n\
                    [[host]]\naddress = \"192.168.1.15\"\nname = \"" .to_string() + &"x".repeat(65) + "\"\n\
                    [[host]]\naddress = []\nname = \"none\"\n\
                    [[host]]\nname = \"nowhere\"\nmac = \"x\"\n\
                    [[host]]\naddress = 5\nname = \"n\"\n\
                    [names]\nreverse_dns = \"yes\"\nresolver = \"router.lan\"\nttl = \"0s\"\nnegative_ttl = \"2d\"\nmax = 1\ntimeout = \"2m\"\n";
        let e = Config::parse(&text, "t").unwrap_err();
        assert_eq!(
            lines_and_keys(&e),
            vec![
                (Some(2), "host.address"),
                (Some(5), "host.address"),
                (Some(6), "host.name"),
                (Some(9), "host.name"),
                (Some(12), "host.name"),
                (Some(14), "host.address"),
                (Some(18), "host.mac"),
                (Some(20), "host.address"),
                (Some(23), "names.reverse_dns"),
                (Some(24), "names.resolver"),
                (Some(25), "names.ttl"),
                (Some(26), "names.negative_ttl"),
                (Some(27), "names.max"),
                (Some(28), "names.timeout"),
            ],
            "{e}"
        );
        let msgs: Vec<&str> = e.problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(msgs[0], "\"192.168.1.300\" is not an IP address or prefix");
        assert_eq!(msgs[1], "192.168.1.13 has two [[host]] names");
        assert_eq!(msgs[2], "must be 1 to 64 characters");
        assert_eq!(msgs[3], "\"tab\\there\" has control characters");
        assert_eq!(msgs[5], "must list at least one address");
        assert_eq!(msgs[6], "\"x\" is not a MAC address (e.g. \"00:1a:2b:3c:4d:5e\")");
        assert_eq!(msgs[7], "invalid type: integer `5`, expected a string or a list of strings");
        // Two entries naming one address are a mistake wherever they are.
        let e = Config::parse(
            "[[host]]\naddress = \"fd00::1\"\nname = \"a\"\n[[host]]\naddress = \"fd00:0::1\"\nname = \"b\"\n",
            "t",
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "t:5: host.address: fd00::1 has two [[host]] names");
    }

    #[test]
    fn host_entries_are_bounded() {
        let mut text = String::new();
        for i in 0..=MAX_HOST_ENTRIES {
            text.push_str(&format!("[[host]]\naddress = \"10.{}.{}.1\"\nname = \"h{i}\"\n", i / 256, i % 256));
        }
        let e = Config::parse(&text, "t").unwrap_err();
        assert_eq!(e.problems.len(), 1, "{e}");
        assert_eq!(e.problems[0].line, Some(3 * MAX_HOST_ENTRIES + 1));
        assert_eq!(e.problems[0].message, "at most 4096 [[host]] entries");
        let text: String = text.lines().take(3 * MAX_HOST_ENTRIES).map(|l| format!("{l}\n")).collect();
        assert_eq!(Config::parse(&text, "t").unwrap().names.hosts.len(), MAX_HOST_ENTRIES);
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
