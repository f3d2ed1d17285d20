//! The doctor: what is wrong with the router's flow export, in plain words, for `/api/doctor`.
//! [`diagnose`] is a pure function from a snapshot of facts ([`Facts`]) to findings; the facts
//! come from the counters, the published snapshot, the config and two reads of the system
//! ([`device_addresses`], [`udp_drops`]) that the HTTP handler makes. The collector side feeds
//! one bounded table, [`Unattributed`], with the records no local host was found in.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use crate::decode::exporter::{ExporterView, Refusal, RefusedView};
use crate::decode::rejects::{Foreign, Rejected};
use crate::decode::{DecodeError, FlowRecord};
use crate::net::IpNet;
use crate::topk::TopK;
use crate::views::interfaces::WanBy;
use crate::views::overlap::OverlapSummary;
use crate::views::{AddrKey, Counts, IfaceId};

/// Every finding's code, in the order `/metrics` lists them.
pub const CODES: [&str; 16] = [
    "no_datagrams",
    "not_netflow",
    "no_template",
    "decode_errors",
    "no_local_hosts",
    "ipv6_not_local",
    "wan_side_export",
    "exporter_silent",
    "udp_drops",
    "sequence_loss",
    "sampling",
    "domain_limit",
    "duplicate_export",
    "no_wan",
    "double_nat",
    "ingress_and_egress",
];

/// Two exporters report the same flows when at least this share of the sampled flows of the one
/// with fewer met a twin from the other (and at least [`DUPLICATE_MIN_FLOWS`]): a router and an
/// access point on one path report nearly all, two routers side by side none.
pub const DUPLICATE_SHARE: f64 = 0.2;
pub const DUPLICATE_MIN_FLOWS: u64 = 10;

/// An exporter's interfaces (ifIndex 0 aside) carried at least this much before the doctor says
/// the internet line is unknown.
pub const NO_WAN_MIN_BYTES: u64 = 1 << 20;

/// Data without its template counts as a current problem while some came this recently. A live
/// router's flow cache expires within minutes (active timeouts are 1 to 30 minutes), so data for
/// a template keeps coming; when it has stopped for this long, so has the problem.
pub const NO_TEMPLATE_RECENT: Duration = Duration::from_secs(10 * 60);

/// One address on one side of at least this share of the remote-only bytes is a router exporting
/// on its WAN side: LAN hosts each have a share; after NAT they all become the WAN address.
pub const WAN_SHARE: f64 = 0.8;

/// Fewer remote-only records than this say too little to name a WAN address (a single flow
/// always has one address on every record).
pub const WAN_MIN_RECORDS: u64 = 10;

/// A WAN address talks to the whole Internet: with fewer other addresses than this in the
/// records, one address on all of them is a few conversations (a TV and its streaming server),
/// not a router's WAN side.
pub const WAN_MIN_PEERS: usize = 5;

/// Sequence loss below this share is not reported: a datagram lost now and then (a Wi-Fi hiccup)
/// costs little; a tenth of a percent sustained is worth looking into.
pub const LOSS_MIN_SHARE: f64 = 0.001;

/// A refusal of a new exporter is reported while the last one was this recent: a flood or a
/// router kept out shows again within seconds; one long over is history.
pub const REFUSED_RECENT: Duration = Duration::from_secs(10 * 60);
/// Undecodable datagrams are a current problem while some came this recently: an exporter that
/// sends them does so with every export (each minute at least); a stray one an hour ago is past.
pub const REJECT_RECENT: Duration = Duration::from_secs(3600);

/// Prefixes listed in a finding: enough to see the pattern, short enough to read.
const SHOW_PREFIXES: usize = 5;

/// Addresses the summary carries: enough that the busiest IPv4 one is among them when IPv6
/// addresses are busier.
const SHOW_ADDRESSES: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    // Declared most severe first: findings sort by this.
    Error,
    Warning,
    Info,
}

/// One thing the doctor found.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub severity: Severity,
    /// One plain sentence.
    pub message: String,
    /// What to do, plain text, possibly several lines.
    pub detail: String,
    /// Machine-readable specifics; `exporter` (an address) when the finding is about one.
    pub data: Value,
}

/// The environment variable the SD image's unit sets (image/overlay, flowpi.service.d): flowpi's
/// configuration is the card's, and advice says to change it there.
pub const IMAGE_ENV: &str = "FLOWPI_IMAGE";

/// Where the user changes flowpi's configuration, as advice says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigPlace {
    /// The SD image: flowpi.toml on the card's FLOWPI-BOOT partition, checked and copied over
    /// /etc/flowpi.toml at every boot (an edit of that copy is lost at the next boot).
    Card,
    /// The file flowpi was started with.
    File(PathBuf),
    /// No file: flowpi runs on its built-in defaults; this is where it looks for one.
    Defaults(PathBuf),
}

impl ConfigPlace {
    /// From how flowpi was started: the image's environment first, else the config's source.
    pub fn of(image: bool, source: &crate::config::Source) -> ConfigPlace {
        match source {
            _ if image => ConfigPlace::Card,
            crate::config::Source::File(p) => ConfigPlace::File(p.clone()),
            crate::config::Source::Defaults => ConfigPlace::Defaults(crate::config::DEFAULT_PATH.into()),
        }
    }

    /// "in FILE", completing "set … ".
    fn file(&self) -> String {
        match self {
            ConfigPlace::Card => {
                "in flowpi.toml on the card's FLOWPI-BOOT partition (shut the Pi down and put the card in a computer)"
                    .into()
            }
            ConfigPlace::File(p) => format!("in {}", p.display()),
            ConfigPlace::Defaults(p) => {
                format!("in {} (flowpi runs on its built-in defaults: create the file)", p.display())
            }
        }
    }

    /// How the change takes effect.
    fn apply(&self) -> &'static str {
        match self {
            ConfigPlace::Card => "then put the card back and start the Pi: at boot the file is checked and applied (mistakes are written to flowpi-config-errors.txt on the card, and the old settings stay).",
            ConfigPlace::File(_) | ConfigPlace::Defaults(_) => "then restart flowpi (sudo systemctl restart flowpi).",
        }
    }
}

/// What the doctor needs from the config.
#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: Vec<SocketAddr>,
    pub local: Vec<IpNet>,
    /// network.learn
    pub learn: bool,
    pub receive_buffer: usize,
    pub silent_after: Duration,
    /// Exporters with `devices = false`.
    pub interfaces_only: Vec<IpAddr>,
    pub config: ConfigPlace,
}

impl Settings {
    pub fn new(cfg: &crate::config::Config, config: ConfigPlace) -> Settings {
        Settings {
            listen: cfg.collector.listen.clone(),
            local: cfg.network.local.nets().to_vec(),
            learn: cfg.network.learn,
            receive_buffer: cfg.collector.receive_buffer,
            silent_after: cfg.doctor.silent_after,
            interfaces_only: cfg.exporters.iter().filter(|(_, o)| !o.devices).map(|(ip, _)| *ip).collect(),
            config,
        }
    }

    /// The ports of collector.listen, each once.
    pub fn ports(&self) -> Vec<u16> {
        ports(&self.listen)
    }
}

/// What the doctor looks at.
pub struct Facts<'a> {
    pub now: Instant,
    pub uptime: Duration,
    pub datagrams: u64,
    /// Flow records decoded, and those of them with no local host.
    pub records: u64,
    pub remote_only_records: u64,
    pub exporters: &'a [ExporterView],
    /// Per sender, what could not be decoded.
    pub rejected: &'a [Rejected],
    pub remote: &'a RemoteSummary,
    /// network.local, and the networks learned.
    pub local: &'a [IpNet],
    /// network.learn: global IPv6 /64s behind the internet line become local by themselves.
    pub learn: bool,
    /// collector.listen
    pub listen: &'a [SocketAddr],
    /// This device's addresses (all of them: [`diagnose`] chooses).
    pub device_addresses: &'a [IpAddr],
    /// Receive-queue drops of flowpi's UDP sockets; `None` when /proc could not say.
    pub udp_drops: Option<u64>,
    /// collector.receive_buffer, and what the kernel granted.
    pub receive_buffer: usize,
    pub receive_buffer_granted: u64,
    /// doctor.silent_after
    pub silent_after: Duration,
    /// Addresses whose new exporter keys had no place in the table.
    pub refused: &'a [RefusedView],
    /// The interfaces, the ones taken as the internet line, and the exporters' sampled flows.
    pub interfaces: &'a [(IfaceId, Counts)],
    pub wan: &'a [((IpAddr, u32), WanBy)],
    pub overlap: &'a OverlapSummary,
    /// Exporters with `devices = false` (their duplicates are handled).
    pub interfaces_only: &'a [IpAddr],
    /// Records attributed through double NAT, and egress records not counted as duplicates.
    pub double_nat_records: u64,
    pub egress_duplicates: u64,
    /// Where advice says to change the configuration.
    pub config: &'a ConfigPlace,
}

/// The findings, most severe first (in [`CODES`] order within a severity).
pub fn diagnose(f: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    no_datagrams(f, &mut out);
    not_netflow(f, &mut out);
    no_template(f, &mut out);
    decode_errors(f, &mut out);
    let wan = wan_address(f);
    no_local_hosts(f, wan, &mut out);
    ipv6_not_local(f, &mut out);
    if let Some((addr, share)) = wan {
        out.push(wan_side_export(f, addr, share));
    }
    exporter_silent(f, &mut out);
    domain_limit(f, &mut out);
    duplicate_export(f, &mut out);
    no_wan(f, &mut out);
    double_nat(f, &mut out);
    ingress_and_egress(f, &mut out);
    udp_drops_finding(f, &mut out);
    sequence_loss(f, &mut out);
    sampling(f, &mut out);
    out.sort_by_key(|x| x.severity);
    out
}

fn finding(code: &'static str, severity: Severity, message: String, detail: String, data: Value) -> Finding {
    Finding { code, severity, message, detail, data }
}

// ---- 1. nothing arrives ----

/// The ports of collector.listen, each once.
fn ports(listen: &[SocketAddr]) -> Vec<u16> {
    let mut p: Vec<u16> = listen.iter().map(|a| a.port()).collect();
    p.sort_unstable();
    p.dedup();
    p
}

/// Addresses a router can send to: those flowpi listens on when they are specific, else this
/// device's addresses of the families it listens on. Loopback and IPv6 link-local ones only when
/// there is nothing else (a router cannot reach them); IPv4 first.
pub fn reachable_addresses(device: &[IpAddr], listen: &[SocketAddr]) -> Vec<IpAddr> {
    let specific: Vec<IpAddr> = listen.iter().map(|a| a.ip()).filter(|ip| !ip.is_unspecified()).collect();
    let (v4, v6) = (
        listen.iter().any(|a| a.ip() == IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        listen.iter().any(|a| a.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
    );
    let mut all: Vec<IpAddr> =
        device.iter().copied().filter(|ip| (ip.is_ipv4() && v4) || (ip.is_ipv6() && v6)).collect();
    all.extend(specific);
    all.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    all.dedup();
    let unreachable = |ip: &IpAddr| match ip {
        IpAddr::V4(a) => a.is_loopback(),
        IpAddr::V6(a) => a.is_loopback() || (a.segments()[0] & 0xffc0) == 0xfe80,
    };
    let good: Vec<IpAddr> = all.iter().copied().filter(|ip| !unreachable(ip)).collect();
    if good.is_empty() {
        all
    } else {
        good
    }
}

fn no_datagrams(f: &Facts, out: &mut Vec<Finding>) {
    if f.datagrams > 0 {
        return;
    }
    let ports = ports(f.listen);
    let addrs = reachable_addresses(f.device_addresses, f.listen);
    let addr = addrs.first().map_or("THIS_DEVICE".to_string(), |a| a.to_string());
    let port = ports.first().copied().unwrap_or(2055);
    let list = |v: &[String]| if v.is_empty() { "(none found)".to_string() } else { v.join(", ") };
    let addr_list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    let port_list: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
    let mut d = String::new();
    let _ = writeln!(
        d,
        "flowpi listens on UDP port {} and has received nothing in the {} since it started.",
        list(&port_list),
        human_duration(f.uptime)
    );
    let _ = writeln!(
        d,
        "Point the router's flow export (NetFlow v9 or IPFIX) at one of this device's addresses: {}.",
        list(&addr_list)
    );
    let _ = writeln!(d);
    let _ = writeln!(d, "MikroTik (RouterOS terminal):");
    let _ = writeln!(d, "  /ip traffic-flow set enabled=yes interfaces=all");
    let _ = writeln!(d, "  /ip traffic-flow target add dst-address={addr} port={port} version=9");
    let _ = writeln!(d, "OpenWrt (opkg install softflowd):");
    let _ = writeln!(d, "  softflowd -i br-lan -n {addr}:{port} -v 9");
    let _ = writeln!(d, "DD-WRT: Services > Services > Rflow/MACupd: enable Rflow, Server IP {addr}, Port {port}, interface LAN & WLAN.");
    let _ = writeln!(d, "Cisco IOS:");
    let _ = writeln!(d, "  ip flow-export destination {addr} {port}");
    let _ = writeln!(d, "  ip flow-export version 9");
    let _ = writeln!(d, "  (and `ip flow ingress` on the LAN interface)");
    let _ = writeln!(d, "pfSense: System > Package Manager: install softflowd; Services > softflowd: interface LAN, destination {addr}:{port}, NetFlow version 9.");
    let _ = writeln!(d);
    let _ = write!(
        d,
        "If the router is already set up, a firewall on this device may block the port: allow UDP {} in (e.g. `sudo ufw allow {port}/udp`, or the nftables/iptables rules), and check that the router can reach {addr}.",
        list(&port_list)
    );
    out.push(finding(
        "no_datagrams",
        Severity::Error,
        "No flow export has arrived since flowpi started.".into(),
        d,
        json!({ "addresses": addr_list, "ports": ports }),
    ));
}

// ---- 2. data without its template ----

fn version_name(v: u16) -> String {
    match v {
        9 => "NetFlow v9".into(),
        10 => "IPFIX".into(),
        v => format!("NetFlow v{v}"),
    }
}

fn exporter_label(addr: IpAddr, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("{addr} ({n})"),
        None => addr.to_string(),
    }
}

fn no_template(f: &Facts, out: &mut Vec<Finding>) {
    for e in f.exporters {
        let m = &e.missing;
        let (Some(first), Some(last)) = (m.first, m.last) else { continue };
        if m.ids.is_empty() || f.now.saturating_duration_since(last) > NO_TEMPLATE_RECENT {
            continue;
        }
        let waiting = f.now.saturating_duration_since(first);
        let who = exporter_label(e.key.addr, e.name.as_deref());
        let ids: Vec<String> = m.ids.iter().map(|i| i.to_string()).collect();
        let nothing = e.records == 0;
        let message = if nothing {
            format!(
                "{who} sends {} data but no template for it yet, so none of its flows can be read (waiting {}).",
                version_name(e.key.version),
                human_duration(waiting)
            )
        } else {
            format!(
                "{who} sends {} data for template {} that it has not described yet; those flows wait (for {}).",
                version_name(e.key.version),
                ids.join(", "),
                human_duration(waiting)
            )
        };
        let mut d = String::new();
        let _ = writeln!(
            d,
            "{} data sets of template {} from {} (observation domain / source id {}) arrived since {} ago without their template. They are held (collector.pending_timeout) and counted as soon as the template comes.",
            m.sets,
            ids.join(", "),
            e.key.addr,
            e.key.domain,
            human_duration(waiting)
        );
        let _ = writeln!(d, "Routers resend templates every few minutes or packets; after a restart of flowpi or the router this clears by itself. To make it quicker, or if it lasts:");
        let _ =
            writeln!(d, "  MikroTik: /ip traffic-flow target set [find] v9-template-refresh=20 v9-template-timeout=1m");
        let _ =
            writeln!(d, "  softflowd: resends templates every few packets by itself; restarting it sends them at once");
        let _ = writeln!(
            d,
            "  Cisco IOS: ip flow-export template refresh-rate 20 / ip flow-export template timeout-rate 1"
        );
        let _ = write!(d, "If it never clears, the router may send its templates elsewhere (another collector or port), or this is a version flowpi and the router disagree on.");
        out.push(finding(
            "no_template",
            if nothing { Severity::Error } else { Severity::Warning },
            message,
            d,
            json!({
                "exporter": e.key.addr.to_string(),
                "name": e.name,
                "version": e.key.version,
                "domain": e.key.domain,
                "template_ids": m.ids,
                "sets": m.sets,
                "waiting_seconds": waiting.as_secs(),
                "records_decoded": e.records,
            }),
        ));
    }
}

// ---- 2b. datagrams flowpi cannot read ----

/// Datagrams from `addr` that decoded (every version and domain it exports under).
fn decoded_datagrams(f: &Facts, addr: IpAddr) -> u64 {
    f.exporters.iter().filter(|e| e.key.addr == addr).map(|e| e.datagrams).sum()
}

fn recent(f: &Facts, r: &Rejected) -> bool {
    f.now.saturating_duration_since(r.last) <= REJECT_RECENT
}

fn not_netflow(f: &Facts, out: &mut Vec<Finding>) {
    let port = ports(f.listen).first().copied().unwrap_or(2055);
    let addrs = reachable_addresses(f.device_addresses, f.listen);
    let me = addrs.first().map_or("THIS_DEVICE".to_string(), |a| a.to_string());
    for r in f.rejected.iter().filter(|r| recent(f, r)) {
        let Some(kind) = r.foreign.filter(|_| r.foreign_datagrams > 0) else { continue };
        let decoded = decoded_datagrams(f, r.sender);
        let name = kind.name();
        let mut d = String::new();
        let _ = write!(
            d,
            "{} datagrams from {} since {} ago are {name}",
            r.foreign_datagrams,
            r.sender,
            human_duration(f.now.saturating_duration_since(r.first))
        );
        let agent = match kind {
            Foreign::SFlow { agent, .. } => {
                let _ = write!(d, " (agent address {agent})");
                Some(agent)
            }
            _ => None,
        };
        let _ = writeln!(d, ". flowpi reads NetFlow v1, v5, v7, v9 and IPFIX only: none of this traffic is counted.");
        match kind {
            Foreign::SFlow { .. } => {
                let _ = writeln!(d, "If the router can export NetFlow or IPFIX too, switch its export to NetFlow v9 or IPFIX, to {me} port {port}, and its sFlow off (or to another collector).");
                let _ = writeln!(d, "  MikroTik: /ip traffic-flow set enabled=yes; /ip traffic-flow target add dst-address={me} port={port} version=9");
                let _ = writeln!(
                    d,
                    "  OpenWrt: softflowd -i br-lan -n {me}:{port} -v 9 (instead of hsflowd/pmacct's sfprobe)"
                );
                let _ = write!(d, "If it sends sFlow only (many switches do), convert it: point the sFlow at UDP port 6343 of this device and run sflowtool there, which forwards NetFlow v5: sflowtool -p 6343 -c 127.0.0.1 -d {port}. sFlow samples packets, so the totals are then estimates (see the sampling finding).");
            }
            Foreign::NetflowV8 => {
                let _ = write!(d, "NetFlow v8 is the router's own aggregation (per AS, prefix or port): it names no single hosts. Set the export to version 9 (Cisco IOS: ip flow-export version 9) or 5, to {me} port {port}.");
            }
            Foreign::NetflowV6 => {
                let _ = write!(
                    d,
                    "Set the export to version 9 or 5 (Cisco IOS: ip flow-export version 9), to {me} port {port}."
                );
            }
            Foreign::Syslog => {
                let _ = write!(d, "These are the router's log messages, sent to flowpi's flow port. Send the router's syslog elsewhere (another port or host), and its flow export (NetFlow v9 or IPFIX) here.");
            }
        }
        out.push(finding(
            "not_netflow",
            if decoded == 0 { Severity::Error } else { Severity::Warning },
            format!("{} sends {name} to flowpi's NetFlow port; flowpi does not decode it.", r.sender),
            d,
            json!({
                "exporter": r.sender.to_string(),
                "protocol": name,
                "agent": agent.map(|a| a.to_string()),
                "datagrams": r.foreign_datagrams,
                "decoded_datagrams": decoded,
            }),
        ));
    }
}

/// Why datagrams of an error kind are dropped, most likely first.
fn likely_cause(kind: DecodeError, version: Option<u16>) -> String {
    match kind {
        DecodeError::Short => "they are shorter than any NetFlow/IPFIX header: something other than a flow exporter sends to this port (a scan, a keep-alive), or they are cut on the way.".into(),
        DecodeError::UnknownVersion => match version {
            Some(v) => format!("their version field reads {v}, which is no NetFlow (1, 5, 7, 9) or IPFIX (10) version flowpi knows: another program or device sends to this port, or the router exports a format flowpi does not read. Check what the router sends here, and that only its flow export is pointed at this port."),
            None => "their version is none flowpi reads.".into(),
        },
        DecodeError::Truncated => "they are shorter than their header says: datagrams cut on the way (a tunnel or VPN with a small MTU, a router whose export is larger than its link allows), or an exporter that writes a wrong length. Lower the router's export packet size if it has one, or export over a plain link.".into(),
        DecodeError::BadCount => "their header (v1, v5, v7) promises more records than the version allows and the length does not match: the exporter writes a wrong count. Switching the export to NetFlow v9 or IPFIX avoids it.".into(),
        DecodeError::BadSet => "a NetFlow v9/IPFIX set in them has an impossible length; the sets before it are read, those after it lost. This is the exporter's bug (update its firmware), or datagrams damaged on the way.".into(),
    }
}

fn decode_errors(f: &Facts, out: &mut Vec<Finding>) {
    for r in f.rejected.iter().filter(|r| recent(f, r)) {
        let bad = r.datagrams().saturating_sub(r.foreign_datagrams);
        if bad == 0 {
            continue;
        }
        let decoded = decoded_datagrams(f, r.sender);
        // A bad set's datagram was read up to the bad set, and counts among the decoded ones.
        let whole = bad - r.kinds[DecodeError::BadSet as usize];
        let share = bad as f64 / (whole + decoded).max(1) as f64;
        if share < LOSS_MIN_SHARE {
            continue;
        }
        let main = DecodeError::ALL.iter().copied().max_by_key(|k| r.kinds[*k as usize]).unwrap_or(DecodeError::Short);
        let kinds: BTreeMap<&str, u64> = DecodeError::ALL
            .iter()
            .filter(|k| r.kinds[**k as usize] > 0)
            .map(|k| (k.name(), r.kinds[*k as usize]))
            .collect();
        let pct = format_pct(share.min(1.0));
        let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let d = format!(
            "Of the datagrams from {} since {} ago, {bad} could not be read ({}), besides {decoded} that were: the traffic in them is missing from every total.\nLikely cause: {}",
            r.sender,
            human_duration(f.now.saturating_duration_since(r.first)),
            list.join(", "),
            likely_cause(main, r.version)
        );
        out.push(finding(
            "decode_errors",
            if decoded == 0 { Severity::Error } else { Severity::Warning },
            format!("{pct} of the datagrams from {} could not be read ({}).", r.sender, main.name()),
            d,
            json!({
                "exporter": r.sender.to_string(),
                "datagrams": bad,
                "decoded_datagrams": decoded,
                "share": share.min(1.0),
                "kinds": kinds,
                "cause": main.name(),
                "version": r.version,
            }),
        ));
    }
}

// ---- 3, 4, 5. records without a local host ----

/// The records no local host was found in, as the doctor needs them: bounded heavy-hitter
/// tables of their /24 and /64 prefixes and of their addresses, and a few totals. Fed once per
/// such record by the views; records with a local host never reach it.
pub struct Unattributed {
    prefixes: TopK<AddrKey>,
    addresses: TopK<AddrKey>,
    records: u64,
    bytes: u64,
    v6_global_records: u64,
    v6_global_bytes: u64,
    v4_records: u64,
    v4_bytes: u64,
    private_v4_bytes: u64,
    nat_records: u64,
}

/// An IPv4 address's /24 or an IPv6 address's /64, as a key.
#[inline]
fn prefix_key(a: AddrKey) -> AddrKey {
    if a.v4().is_some() {
        AddrKey(a.0 & !0xff)
    } else {
        AddrKey(a.0 & !u128::from(u64::MAX))
    }
}

/// 2000::/3, the IPv6 addresses the Internet routes (IPv4-mapped keys are in ::ffff:0:0/96).
#[inline]
fn global_v6(a: AddrKey) -> bool {
    a.0 >> 125 == 1
}

impl Unattributed {
    /// Tables of `max` rows each (doctor.max_prefixes).
    pub fn new(max: usize) -> Self {
        Unattributed {
            prefixes: TopK::new(max),
            addresses: TopK::new(max),
            records: 0,
            bytes: 0,
            v6_global_records: 0,
            v6_global_bytes: 0,
            v4_records: 0,
            v4_bytes: 0,
            private_v4_bytes: 0,
            nat_records: 0,
        }
    }

    /// One record with no local host, its exported addresses as keys. Out of line: the views'
    /// per-record path stays as small as it was for records with a local host.
    #[inline(never)]
    pub fn add(&mut self, r: &FlowRecord, src: Option<AddrKey>, dst: Option<AddrKey>) {
        let bytes = r.bytes.saturating_add(r.rev_bytes);
        self.records += 1;
        self.bytes = self.bytes.saturating_add(bytes);
        if r.nat_src.is_some() || r.nat_dst.is_some() {
            self.nat_records += 1;
        }
        let (mut v6, mut v4, mut private) = (false, false, false);
        for a in [src, dst].into_iter().flatten() {
            self.prefixes.add(prefix_key(a), bytes, 0);
            self.addresses.add(a, bytes, 0);
            v6 |= global_v6(a);
            if let Some(a) = a.v4() {
                v4 = true;
                private |= is_private(IpAddr::V4(Ipv4Addr::from(a)));
            }
        }
        if v6 {
            self.v6_global_records += 1;
            self.v6_global_bytes = self.v6_global_bytes.saturating_add(bytes);
        }
        if v4 {
            self.v4_records += 1;
            self.v4_bytes = self.v4_bytes.saturating_add(bytes);
            if private {
                self.private_v4_bytes = self.private_v4_bytes.saturating_add(bytes);
            }
        }
    }

    /// Rows dropped from the tables for newcomers (flowpi_doctor_evictions_total).
    pub fn evictions(&self) -> u64 {
        self.prefixes.evictions() + self.addresses.evictions()
    }

    pub fn summary(&self) -> RemoteSummary {
        let net = |k: AddrKey| {
            let ip = IpAddr::from(k);
            let len = if ip.is_ipv4() { 24 } else { 64 };
            format!("{ip}/{len}").parse::<IpNet>().expect("a masked address")
        };
        RemoteSummary {
            prefixes: self.prefixes.top(self.prefixes.capacity()).iter().map(|e| (net(e.key), e.observed())).collect(),
            addresses: self.addresses.top(SHOW_ADDRESSES).iter().map(|e| (IpAddr::from(e.key), e.observed())).collect(),
            addresses_seen: self.addresses.len(),
            records: self.records,
            bytes: self.bytes,
            v6_global_records: self.v6_global_records,
            v6_global_bytes: self.v6_global_bytes,
            v4_records: self.v4_records,
            v4_bytes: self.v4_bytes,
            private_v4_bytes: self.private_v4_bytes,
            nat_records: self.nat_records,
            exact: self.prefixes.exact() && self.addresses.exact(),
        }
    }
}

/// [`Unattributed`] copied out for the HTTP side (published with the snapshot).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteSummary {
    /// /24s and /64s by bytes (either side of a record), busiest first.
    pub prefixes: Vec<(IpNet, u64)>,
    /// The busiest addresses, bytes of the records they are on.
    pub addresses: Vec<(IpAddr, u64)>,
    /// Addresses in the table (all seen while `exact`).
    pub addresses_seen: usize,
    pub records: u64,
    pub bytes: u64,
    /// Of them, with a global IPv6 address (2000::/3) on either side.
    pub v6_global_records: u64,
    pub v6_global_bytes: u64,
    /// Of them, with IPv4 addresses, and of those with a private or link-local one on either side.
    pub v4_records: u64,
    pub v4_bytes: u64,
    pub private_v4_bytes: u64,
    /// Of them, with post-NAT addresses (none of them local).
    pub nat_records: u64,
    /// False once a table dropped a row: bytes are then lower bounds.
    pub exact: bool,
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_private() || a.is_link_local(),
        IpAddr::V6(a) => (a.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// The `local = [...]` line with `add` after what network.local has.
fn local_line(local: &[IpNet], add: &[String]) -> String {
    let mut all: Vec<String> = local.iter().map(|n| format!("\"{n}\"")).collect();
    all.extend(add.iter().map(|n| format!("\"{n}\"")));
    format!("local = [{}]", all.join(", "))
}

fn prefix_rows(p: &[&(IpNet, u64)]) -> Value {
    Value::Array(p.iter().map(|(n, b)| json!({ "prefix": n.to_string(), "bytes": b })).collect())
}

fn prefix_lines(d: &mut String, p: &[&(IpNet, u64)]) {
    for (n, b) in p {
        let _ = writeln!(d, "  {n:<24} {}", human_bytes(*b));
    }
}

fn no_local_hosts(f: &Facts, wan: Option<(IpAddr, f64)>, out: &mut Vec<Finding>) {
    // The table is published once a second, the counters at once: wait for the table, so the
    // finding never comes without its prefixes.
    if f.records == 0 || f.remote_only_records < f.records || f.remote.records == 0 {
        return;
    }
    let wan_net = wan.map(|(a, _)| prefix_of(a));
    let busiest: Vec<&(IpNet, u64)> = f.remote.prefixes.iter().take(SHOW_PREFIXES).collect();
    // What to add: a private prefix only (RFC 1918, link-local, IPv6 ULA): a LAN. A public one is
    // as likely a server's as the user's, and listing a server's network would count it as a
    // device. This device's own prefix first (it sits on the LAN), else the busiest; never the
    // WAN address's, which adding would not help.
    let candidates: Vec<IpNet> =
        f.remote.prefixes.iter().map(|(n, _)| *n).filter(|n| Some(*n) != wan_net && is_private(n.addr())).collect();
    let mine = candidates.iter().find(|n| f.device_addresses.iter().any(|a| n.contains(*a)));
    let suggest: Option<IpNet> = mine.or(candidates.first()).copied();
    let add: Vec<String> = suggest.iter().map(|n| n.to_string()).collect();
    let line = local_line(f.local, &add);
    let nets: Vec<String> = f.local.iter().map(|n| n.to_string()).collect();
    let mut d = String::new();
    let _ = writeln!(
        d,
        "All {} flow records had neither address in network.local ({}), so no host is counted: only interfaces are.",
        f.records,
        if nets.is_empty() { "empty".to_string() } else { nets.join(", ") }
    );
    let _ = writeln!(d, "The busiest prefixes in those records:");
    prefix_lines(&mut d, &busiest);
    if suggest.is_some() {
        let _ = writeln!(d, "If your network is among them, set {} under [network]:", f.config.file());
        let _ = writeln!(d, "  {line}");
        let _ = write!(d, "{}", f.config.apply());
    } else {
        let _ = write!(d, "None of them is a private network (192.168.0.0/16, 10.0.0.0/8, 172.16.0.0/12, fd00::/8), so none is suggested: public addresses are mostly the Internet's. If your network does use public addresses, add its prefix to network.local {}; {}", f.config.file(), f.config.apply());
    }
    if let Some((a, _)) = wan {
        let _ = write!(d, "\nMost of these records carry {a}, likely the router's WAN address: see wan_side_export.");
    }
    out.push(finding(
        "no_local_hosts",
        Severity::Error,
        "Flow records arrive, but none has an address of your network (network.local).".into(),
        d.trim_end().to_string(),
        json!({
            "records": f.records,
            "local": nets,
            "prefixes": prefix_rows(&busiest),
            "suggested": add,
            "line": suggest.map(|_| line),
            "exact": f.remote.exact,
        }),
    ));
}

fn prefix_of(a: IpAddr) -> IpNet {
    let len = if a.is_ipv4() { 24 } else { 64 };
    format!("{a}/{len}").parse().expect("an address and a length")
}

/// 2000::/3 holds the whole prefix.
fn global_v6_net(n: &IpNet) -> bool {
    match n.addr() {
        IpAddr::V6(a) => n.prefix() >= 3 && a.segments()[0] & 0xe000 == 0x2000,
        IpAddr::V4(_) => false,
    }
}

fn ipv6_not_local(f: &Facts, out: &mut Vec<Finding>) {
    if f.remote.v6_global_records == 0 || f.local.iter().any(global_v6_net) {
        return;
    }
    let busiest: Vec<&(IpNet, u64)> =
        f.remote.prefixes.iter().filter(|(n, _)| global_v6_net(n)).take(SHOW_PREFIXES).collect();
    // The LAN's /64 is on every record of a LAN host, a server's only on its own: suggest this
    // device's /64 when it is among them, else the one /64 on most of the bytes. Two on most (one
    // laptop, one server) cannot be told apart: none is suggested rather than a server's.
    let global: Vec<&(IpNet, u64)> = f.remote.prefixes.iter().filter(|(n, _)| global_v6_net(n)).collect();
    let mine = global.iter().find(|(n, _)| f.device_addresses.iter().any(|a| n.contains(*a)));
    let most: Vec<&&(IpNet, u64)> =
        global.iter().filter(|(_, b)| *b as f64 >= WAN_SHARE * f.remote.v6_global_bytes as f64).collect();
    let top = match (mine, most.as_slice()) {
        (Some((n, _)), _) => Some(*n),
        (None, [one]) => Some(one.0),
        _ => None,
    };
    let add: Vec<String> = top.iter().map(|n| n.to_string()).collect();
    let line = local_line(f.local, &add);
    let wider = top.map(|n| {
        let IpAddr::V6(a) = n.addr() else { unreachable!("an IPv6 prefix") };
        let bits = u128::from(a) & !((1u128 << 72) - 1);
        format!("{}/56", Ipv6Addr::from(bits))
    });
    let mut d = String::new();
    let _ = writeln!(
        d,
        "{} records ({}) of global IPv6 traffic (2000::/3) had no local host, and network.local lists no global IPv6 prefix, so that traffic is counted for no host.",
        f.remote.v6_global_records,
        human_bytes(f.remote.v6_global_bytes)
    );
    if f.learn {
        let _ = writeln!(
            d,
            "flowpi learns the LAN's /64s by itself once it knows the internet line (network.learn): from records that cross it, between the line and another known interface. {}",
            if f.wan.is_empty() {
                "No line is known yet (see the internet line finding)."
            } else {
                "None of these records crossed it: the exporter sends no interfaces (ifIndex 0), or not for IPv6."
            }
        );
    }
    let _ = writeln!(d, "Your ISP gives your router a global IPv6 prefix; the busiest /64s seen:");
    prefix_lines(&mut d, &busiest);
    if let Some(w) = &wider {
        let _ = writeln!(d, "Add your LAN's /64 {} under [network]:", f.config.file());
        let _ = writeln!(d, "  {line}");
        let _ = writeln!(d, "{}", f.config.apply());
        let _ = write!(
            d,
            "Home ISPs usually delegate a /56 (here perhaps {w}); listing the delegated prefix covers every LAN the router numbers from it. The prefix can change when the router reconnects; check the router's IPv6 status page."
        );
    } else {
        let _ = write!(d, "Which of them is your LAN's cannot be told from these records (a server's /64 is as busy). The router's IPv6 status page shows the prefix it gives the LAN: add that to network.local {}; {}", f.config.file(), f.config.apply());
    }
    out.push(finding(
        "ipv6_not_local",
        Severity::Warning,
        format!(
            "{} records of global IPv6 traffic were counted for no host: network.local has no global IPv6 prefix.",
            f.remote.v6_global_records
        ),
        d.trim_end().to_string(),
        json!({
            "records": f.remote.v6_global_records,
            "bytes": f.remote.v6_global_bytes,
            "prefixes": prefix_rows(&busiest),
            "suggested": add,
            "wider": wider,
            "line": top.map(|_| line),
        }),
    ));
}

/// The public IPv4 address on one side of at least [`WAN_SHARE`] of the IPv4 remote-only bytes,
/// when those records carry no post-NAT addresses and its other sides are many public addresses:
/// what a router exporting after NAT shows. Not an IPv6 address (IPv6 has no NAT: a global
/// address on every record is a host whose /64 network.local lacks), nor one of a few
/// conversations (a TV and its streaming server), nor records of private hosts (a LAN missing
/// from network.local, which no_local_hosts covers).
fn wan_address(f: &Facts) -> Option<(IpAddr, f64)> {
    let r = f.remote;
    if r.v4_records < WAN_MIN_RECORDS || r.v4_bytes == 0 || r.nat_records > 0 {
        return None;
    }
    if r.private_v4_bytes as f64 > (1.0 - WAN_SHARE) * r.v4_bytes as f64 || r.addresses_seen <= WAN_MIN_PEERS {
        return None;
    }
    let (addr, bytes) = *r.addresses.iter().find(|(a, _)| a.is_ipv4())?;
    let share = (bytes as f64 / r.v4_bytes as f64).min(1.0);
    (share >= WAN_SHARE && !is_private(addr)).then_some((addr, share))
}

fn wan_side_export(f: &Facts, addr: IpAddr, share: f64) -> Finding {
    let pct = (share * 100.0).round().min(100.0);
    let mut d = String::new();
    let _ = writeln!(
        d,
        "{addr} is on one side of {pct}% of the bytes in records without a local host, and the records carry no post-NAT addresses."
    );
    let _ = writeln!(d, "This is what a router sends when it exports on its WAN (Internet) interface after NAT: every LAN host has become {addr}, so flowpi cannot tell them apart.");
    let _ = writeln!(d, "Fix it on the router, either way:");
    let _ = writeln!(d, "  export on the LAN or bridge interface instead (MikroTik: /ip traffic-flow set interfaces=bridge; softflowd: -i br-lan);");
    let _ = writeln!(d, "  or include the post-NAT addresses (NAT events / postNAT fields, IPFIX 225-228) in the export; flowpi then finds the LAN host behind {addr}.");
    let _ = write!(
        d,
        "If {addr} is in fact a host of your network, add its prefix to network.local {} instead; {}",
        f.config.file(),
        f.config.apply()
    );
    finding(
        "wan_side_export",
        Severity::Warning,
        format!(
            "The router seems to export on its WAN side: most traffic is to or from {addr}, with no LAN host visible."
        ),
        d,
        json!({ "address": addr.to_string(), "share": share, "records": f.remote.v4_records, "bytes": f.remote.v4_bytes }),
    )
}

// ---- 6. an exporter went quiet ----

fn exporter_silent(f: &Facts, out: &mut Vec<Finding>) {
    // One router may export under several keys (versions, domains): it is silent when all are.
    let mut last: BTreeMap<IpAddr, (Instant, Option<&str>)> = BTreeMap::new();
    for e in f.exporters {
        let Some(h) = e.heard else { continue };
        let entry = last.entry(e.key.addr).or_insert((h, e.name.as_deref()));
        entry.0 = entry.0.max(h);
    }
    for (addr, (heard, name)) in last {
        let silent = f.now.saturating_duration_since(heard);
        if silent < f.silent_after {
            continue;
        }
        let who = exporter_label(addr, name);
        let d = format!(
            "Nothing has come from {addr} for {} (doctor.silent_after is {}). The router may have restarted without its export settings, changed its address, or lost the link to this device; check its flow export (traffic-flow, softflowd) is still enabled and pointed here.",
            human_duration(silent),
            human_duration(f.silent_after)
        );
        out.push(finding(
            "exporter_silent",
            Severity::Warning,
            format!("Exporter {who} has sent nothing for {}.", human_duration(silent)),
            d,
            json!({ "exporter": addr.to_string(), "name": name, "silent_seconds": silent.as_secs() }),
        ));
    }
}

// ---- 6b. a new exporter had no place ----

fn domain_limit(f: &Facts, out: &mut Vec<Finding>) {
    for r in f.refused {
        if f.now.saturating_duration_since(r.last) > REFUSED_RECENT {
            continue;
        }
        let addr = r.key.addr;
        let since = human_duration(f.now.saturating_duration_since(r.first));
        let what = format!(
            "{} (observation domain / source id {}) was refused {} datagrams in the last {since}",
            version_name(r.key.version),
            r.key.domain,
            r.datagrams
        );
        let (message, d) = match r.why {
            Refusal::Domains => (
                format!("A new observation domain from {addr} has no place: the address already has {} that carry data.", r.limit),
                format!(
                    "{what}: {addr} already holds collector.max_domains_per_exporter = {} observation domains whose data came with continuing sequence numbers, and none of them is idle. A router uses 1 to 4; a router that numbers its domains anew gets in once the old ones have been silent for 30 minutes.\nIf {addr} is your router and it really exports under more domains, raise collector.max_domains_per_exporter {} ({}). Otherwise someone sends NetFlow in its name: its datagrams are dropped and counted (flowpi_denied_datagrams_total{{reason=\"domain_limit\"}}).",
                    r.limit,
                    f.config.file(),
                    f.config.apply()
                ),
            ),
            Refusal::Table => (
                format!("Exporter {addr} has no place: the exporter table is full of exporters that carry data."),
                format!(
                    "{what}: the exporter table (collector.max_exporters = {}) is full of exporters whose data came with continuing sequence numbers, none idle for 30 minutes.\nIf {addr} is your router, list your routers in collector.allow (e.g. allow = [\"{addr}\"]) so other senders are dropped before they take places, or raise collector.max_exporters; see /api/exporters for who holds them.",
                    r.limit
                ),
            ),
        };
        out.push(finding(
            "domain_limit",
            Severity::Warning,
            message,
            d,
            json!({
                "exporter": addr.to_string(),
                "version": r.key.version,
                "domain": r.key.domain,
                "datagrams": r.datagrams,
                "reason": match r.why { Refusal::Domains => "domains", Refusal::Table => "exporters" },
                "limit": r.limit,
            }),
        ));
    }
}

// ---- 7. the kernel dropped datagrams ----

fn udp_drops_finding(f: &Facts, out: &mut Vec<Finding>) {
    let Some(drops) = f.udp_drops.filter(|d| *d > 0) else { return };
    let want = f.receive_buffer.max(16 << 20);
    let d = format!(
        "The kernel dropped {drops} datagrams for flowpi's UDP sockets because their receive buffer was full (routers send bursts when their flow caches expire). flowpi asks for collector.receive_buffer = {} bytes and was granted {} (capped by net.core.rmem_max).\nRaise the cap and the buffer:\n  sudo sysctl -w net.core.rmem_max={want}\n  echo 'net.core.rmem_max = {want}' | sudo tee /etc/sysctl.d/90-flowpi.conf\nand set collector.receive_buffer = {want} {}; {}",
        f.receive_buffer,
        f.receive_buffer_granted,
        f.config.file(),
        f.config.apply()
    );
    out.push(finding(
        "udp_drops",
        Severity::Warning,
        format!("The kernel dropped {drops} export datagrams before flowpi could read them."),
        d,
        json!({ "drops": drops, "receive_buffer": f.receive_buffer, "granted": f.receive_buffer_granted }),
    ));
}

// ---- 8. sequence numbers show loss ----

fn sequence_loss(f: &Facts, out: &mut Vec<Finding>) {
    for e in f.exporters {
        if e.lost == 0 {
            continue;
        }
        // v9 counts datagrams; v5, v7 and IPFIX count records.
        let (unit, got) = if e.key.version == 9 { ("datagrams", e.datagrams) } else { ("records", e.records) };
        let share = e.lost as f64 / (e.lost + got) as f64;
        if share < LOSS_MIN_SHARE {
            continue;
        }
        let who = exporter_label(e.key.addr, e.name.as_deref());
        let pct = format_pct(share);
        let d = format!(
            "By its sequence numbers, {} {unit} from {} never arrived ({pct} of what it sent); traffic in them is missing from every total.\nLikely causes: a lossy link between the router and this device (Wi-Fi: use a cable), the kernel dropping datagrams here (see udp_drops, collector.receive_buffer), or the router's CPU too busy to export everything.",
            e.lost, e.key.addr
        );
        out.push(finding(
            "sequence_loss",
            Severity::Warning,
            format!("{pct} of the export from {who} was lost on the way."),
            d,
            json!({
                "exporter": e.key.addr.to_string(),
                "name": e.name,
                "version": e.key.version,
                "domain": e.key.domain,
                "lost": e.lost,
                "unit": unit,
                "share": share,
            }),
        ));
    }
}

// ---- 9. sampling ----

/// Two exporters on one path: every device's traffic counts twice until one of them counts for
/// its interfaces only.
fn duplicate_export(f: &Facts, out: &mut Vec<Finding>) {
    let sampled = |ip: IpAddr| f.overlap.sampled.iter().find(|(a, _)| *a == ip).map_or(0, |(_, n)| *n);
    for &(a, b, both) in &f.overlap.pairs {
        if f.interfaces_only.contains(&a) || f.interfaces_only.contains(&b) {
            continue;
        }
        let fewer = sampled(a).min(sampled(b)).max(1);
        let share = both.min(fewer) as f64 / fewer as f64;
        if both < DUPLICATE_MIN_FLOWS || share < DUPLICATE_SHARE {
            continue;
        }
        // The one with fewer flows sees a part of what the other sees (an access point behind
        // the router): it is the one to count for its interfaces only.
        let (keep, quiet) = if sampled(a) >= sampled(b) { (a, b) } else { (b, a) };
        let name = |ip: IpAddr| {
            exporter_label(ip, f.exporters.iter().find(|e| e.key.addr == ip).and_then(|e| e.name.as_deref()))
        };
        out.push(finding(
            "duplicate_export",
            Severity::Warning,
            format!(
                "Exporters {} and {} report the same flows ({} of a sample): every device's traffic counts twice.",
                name(keep),
                name(quiet),
                format_pct(share)
            ),
            format!(
                "Two exporters on one path (a router and an access point, or two routers in a row) each report the traffic that passes both. Keep one for the devices: set\n[[exporter]]\naddress = \"{quiet}\"\ndevices = false\n{}; {}\n{quiet} then counts for its own interfaces only. Or turn its NetFlow export off.",
                f.config.file(),
                f.config.apply()
            ),
            json!({ "exporter": quiet.to_string(), "other": keep.to_string(), "share": share, "sampled_twice": both }),
        ));
    }
}

/// An exporter with busy interfaces and no internet line: the line's figures cannot be shown.
fn no_wan(f: &Facts, out: &mut Vec<Finding>) {
    let mut by: Vec<(IpAddr, u64, Vec<u32>)> = Vec::new();
    for (id, c) in f.interfaces {
        let IfaceId::If { exporter, ifindex } = *id else { continue };
        if ifindex == 0 {
            continue;
        }
        let bytes = c.in_bytes.saturating_add(c.out_bytes);
        match by.iter_mut().find(|(e, _, _)| *e == exporter) {
            Some(row) => {
                row.1 = row.1.saturating_add(bytes);
                row.2.push(ifindex);
            }
            None => by.push((exporter, bytes, vec![ifindex])),
        }
    }
    for (exporter, bytes, ifs) in by {
        if bytes < NO_WAN_MIN_BYTES || f.wan.iter().any(|((e, _), _)| *e == exporter) {
            continue;
        }
        let list: Vec<String> = ifs.iter().map(u32::to_string).collect();
        out.push(finding(
            "no_wan",
            Severity::Info,
            format!("flowpi cannot tell which interface of {exporter} is the internet line: the line's figures are not shown."),
            format!(
                "No interface of {exporter} carries (nearly) only traffic to and from the rest of the world, and none is named like a WAN. If one is the line (interfaces seen: {}), set\n[[exporter]]\naddress = \"{exporter}\"\nwan = [IFINDEX]\n{}; {}",
                list.join(", "),
                f.config.file(),
                f.config.apply()
            ),
            json!({ "exporter": exporter.to_string(), "interfaces": ifs }),
        ));
    }
}

fn double_nat(f: &Facts, out: &mut Vec<Finding>) {
    if f.double_nat_records == 0 {
        return;
    }
    out.push(finding(
        "double_nat",
        Severity::Info,
        "Double NAT: the router's outside address is itself a local address (the router sits behind another router).".to_string(),
        format!(
            "{} records named a local address that only stands for the devices behind the router (its NAT fields name them); flowpi counts those devices, not the router's outside address. Nothing to do, unless you did not expect a second router: traffic between the two routers' networks passes NAT twice.",
            f.double_nat_records
        ),
        json!({ "records": f.double_nat_records }),
    ));
}

fn ingress_and_egress(f: &Facts, out: &mut Vec<Finding>) {
    if f.egress_duplicates == 0 {
        return;
    }
    out.push(finding(
        "ingress_and_egress",
        Severity::Info,
        "A router exports flows both entering and leaving its interfaces: flowpi counts each flow once.".to_string(),
        format!(
            "{} egress records were the same flows as ingress records of the same router (flowDirection, as with `ip flow ingress` and `ip flow egress` on every interface) and were not counted again. Exporting ingress only would halve the router's export.",
            f.egress_duplicates
        ),
        json!({ "records": f.egress_duplicates }),
    ));
}

fn sampling(f: &Facts, out: &mut Vec<Finding>) {
    let mut seen = HashSet::new();
    for e in f.exporters {
        if e.heard.is_none() || !seen.insert((e.key.addr, e.sampling, e.samplers)) {
            continue;
        }
        let who = exporter_label(e.key.addr, e.name.as_deref());
        let announced = e.sampling > 1 || e.samplers > 0;
        let (message, d) = if e.sampling_configured {
            (
                format!("Exporter {who}: totals are multiplied by {} (exporter.sampling_rate in the config).", e.sampling),
                format!("The config sets a sampling rate of 1 in {} for {}; it replaces whatever the router announces. If the router does not sample, remove sampling_rate or the totals are {} times too high.", e.sampling, e.key.addr, e.sampling),
            )
        } else if announced {
            (
                format!("Exporter {who} samples: its totals are scaled up by the rate it announces (1 in {}).", e.sampling),
                format!("The router announced sampling ({} sampler rates, default 1 in {}); flowpi multiplies bytes and packets by it, so totals are estimates. Short flows may be missed altogether.", e.samplers, e.sampling),
            )
        } else {
            (
                format!("Exporter {who} announced no sampling: its totals are taken as unsampled."),
                format!("A router that samples without announcing it (in the v5 header or v9/IPFIX options data) makes every total too low by its sampling factor; if {} samples 1 in N, set sampling_rate = N in its [[exporter]] section {}; {}", e.key.addr, f.config.file(), f.config.apply()),
            )
        };
        out.push(finding(
            "sampling",
            Severity::Info,
            message,
            d,
            json!({
                "exporter": e.key.addr.to_string(),
                "name": e.name,
                "sampling_rate": e.sampling,
                "samplers": e.samplers,
                "announced": announced,
                "configured": e.sampling_configured,
            }),
        ));
    }
}

// ---- words ----

fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let plural = |n: u64, unit: &str| if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") };
    match s {
        0..=119 => plural(s, "second"),
        120..=7199 => plural(s / 60, "minute"),
        7200..=172_799 => plural(s / 3600, "hour"),
        _ => plural(s / 86_400, "day"),
    }
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if b < 1000 {
        return format!("{b} B");
    }
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{v:.1} {}", UNITS[i - 1])
}

fn format_pct(share: f64) -> String {
    let p = share * 100.0;
    if p >= 10.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

// ---- what the handler reads from the system ----

/// This device's interface addresses (`getifaddrs`), every family and scope; empty when the
/// call fails.
pub fn device_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list that stays valid until freeifaddrs; each entry's address
    // is read only as the family it declares.
    unsafe {
        if libc::getifaddrs(&mut ifap) != 0 {
            return out;
        }
        let mut p = ifap;
        while !p.is_null() {
            let ifa = &*p;
            if !ifa.ifa_addr.is_null() {
                match i32::from((*ifa.ifa_addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                        out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                        out.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            p = ifa.ifa_next;
        }
        libc::freeifaddrs(ifap);
    }
    out.sort();
    out.dedup();
    out
}

/// Receive-queue drops of this process's UDP sockets bound to one of `ports`: the sockets are
/// found by inode (`/proc/self/fd/*` -> `socket:[INODE]`) in `/proc/net/udp` and `udp6`. `None`
/// when none was found there (no /proc, another network namespace).
pub fn udp_drops(ports: &[u16]) -> Option<u64> {
    let mut inodes = HashSet::new();
    for entry in std::fs::read_dir("/proc/self/fd").ok()?.flatten() {
        if let Ok(target) = std::fs::read_link(entry.path()) {
            let t = target.to_string_lossy();
            if let Some(n) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                if let Ok(n) = n.parse::<u64>() {
                    inodes.insert(n);
                }
            }
        }
    }
    let mut found = None;
    for file in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        for s in parse_proc_udp(&text) {
            if inodes.contains(&s.inode) && ports.contains(&s.port) {
                *found.get_or_insert(0) += s.drops;
            }
        }
    }
    found
}

/// One socket line of /proc/net/udp{,6}.
#[derive(Debug, PartialEq, Eq)]
pub struct ProcUdp {
    pub port: u16,
    pub inode: u64,
    pub drops: u64,
}

/// The socket lines of /proc/net/udp or udp6 (`sl local_address rem_address st tx:rx tr:tm
/// retrnsmt uid timeout inode ref pointer drops`); malformed lines are skipped.
pub fn parse_proc_udp(text: &str) -> Vec<ProcUdp> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let port = u16::from_str_radix(f.get(1)?.rsplit_once(':')?.1, 16).ok()?;
            Some(ProcUdp { port, inode: f.get(9)?.parse().ok()?, drops: f.get(12)?.parse().ok()? })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::exporter::MissingTemplates;
    use crate::decode::ExporterKey;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn exporter(addr: &str, version: u16) -> ExporterView {
        ExporterView {
            key: ExporterKey { addr: ip(addr), version, domain: 0 },
            name: None,
            templates: 1,
            sampling: 1,
            samplers: 0,
            lost: 0,
            datagrams: 100,
            records: 1000,
            heard: None,
            missing: MissingTemplates::default(),
            sampling_configured: false,
        }
    }

    /// A healthy start: datagrams and records with local hosts, one exporter heard just now.
    struct World {
        now: Instant,
        exporters: Vec<ExporterView>,
        rejected: Vec<Rejected>,
        remote: RemoteSummary,
        local: Vec<IpNet>,
        listen: Vec<SocketAddr>,
        device: Vec<IpAddr>,
        datagrams: u64,
        records: u64,
        remote_only: u64,
        drops: Option<u64>,
        refused: Vec<RefusedView>,
        interfaces: Vec<(IfaceId, Counts)>,
        wan: Vec<((IpAddr, u32), WanBy)>,
        overlap: OverlapSummary,
        interfaces_only: Vec<IpAddr>,
        double_nat: u64,
        egress_duplicates: u64,
        config: ConfigPlace,
    }

    impl World {
        fn new() -> World {
            let now = Instant::now() + Duration::from_secs(3600);
            let mut e = exporter("192.168.1.1", 9);
            e.heard = Some(now);
            World {
                now,
                exporters: vec![e],
                rejected: Vec::new(),
                remote: RemoteSummary::default(),
                local: vec![net("192.168.1.0/24")],
                listen: vec!["0.0.0.0:2055".parse().unwrap()],
                device: vec![ip("127.0.0.1"), ip("192.168.1.5"), ip("::1"), ip("fe80::1"), ip("2001:db8::5")],
                datagrams: 100,
                records: 1000,
                remote_only: 10,
                drops: Some(0),
                refused: Vec::new(),
                interfaces: Vec::new(),
                wan: Vec::new(),
                overlap: OverlapSummary::default(),
                interfaces_only: Vec::new(),
                double_nat: 0,
                egress_duplicates: 0,
                config: ConfigPlace::File("/etc/flowpi.toml".into()),
            }
        }

        fn run(&self) -> Vec<Finding> {
            diagnose(&Facts {
                now: self.now,
                uptime: Duration::from_secs(600),
                datagrams: self.datagrams,
                records: self.records,
                remote_only_records: self.remote_only,
                exporters: &self.exporters,
                rejected: &self.rejected,
                remote: &self.remote,
                local: &self.local,
                learn: true,
                listen: &self.listen,
                device_addresses: &self.device,
                udp_drops: self.drops,
                receive_buffer: 8 << 20,
                receive_buffer_granted: 425_984,
                silent_after: Duration::from_secs(300),
                refused: &self.refused,
                interfaces: &self.interfaces,
                wan: &self.wan,
                overlap: &self.overlap,
                interfaces_only: &self.interfaces_only,
                double_nat_records: self.double_nat,
                egress_duplicates: self.egress_duplicates,
                config: &self.config,
            })
        }

        fn codes(&self) -> Vec<&'static str> {
            self.run().iter().map(|f| f.code).collect()
        }

        fn get(&self, code: &str) -> Finding {
            self.run().into_iter().find(|f| f.code == code).unwrap_or_else(|| panic!("no {code}"))
        }
    }

    #[test]
    fn healthy_export_has_only_the_sampling_note() {
        assert_eq!(World::new().codes(), vec!["sampling"]);
    }

    #[test]
    fn no_datagrams_names_addresses_ports_and_recipes() {
        let mut w = World::new();
        w.datagrams = 0;
        w.records = 0;
        w.exporters.clear();
        w.listen.push("[::]:9995".parse().unwrap());
        let f = w.get("no_datagrams");
        assert_eq!(f.severity, Severity::Error);
        // Loopback and link-local left out; IPv4 first.
        assert_eq!(f.data["addresses"], json!(["192.168.1.5", "2001:db8::5"]));
        assert_eq!(f.data["ports"], json!([2055, 9995]));
        for s in [
            "/ip traffic-flow target add dst-address=192.168.1.5 port=2055 version=9",
            "softflowd -i br-lan -n 192.168.1.5:2055 -v 9",
            "Rflow",
            "ip flow-export destination 192.168.1.5 2055",
            "ip flow-export version 9",
            "pfSense",
            "firewall",
        ] {
            assert!(f.detail.contains(s), "{s} in {}", f.detail);
        }
        assert!(!World::new().codes().contains(&"no_datagrams"));
    }

    #[test]
    fn addresses_follow_the_listen_families_and_fall_back_to_loopback() {
        let dev = [ip("127.0.0.1"), ip("10.0.0.2"), ip("2001:db8::2")];
        assert_eq!(reachable_addresses(&dev, &["0.0.0.0:2055".parse().unwrap()]), vec![ip("10.0.0.2")]);
        assert_eq!(reachable_addresses(&dev, &["[::]:2055".parse().unwrap()]), vec![ip("2001:db8::2")]);
        assert_eq!(reachable_addresses(&dev, &["10.0.0.2:2055".parse().unwrap()]), vec![ip("10.0.0.2")]);
        assert_eq!(reachable_addresses(&[ip("127.0.0.1")], &["0.0.0.0:1".parse().unwrap()]), vec![ip("127.0.0.1")]);
    }

    #[test]
    fn no_template_while_data_waits_and_nothing_decodes() {
        let mut w = World::new();
        let first = w.now - Duration::from_secs(180);
        w.exporters[0].records = 0;
        w.exporters[0].missing =
            MissingTemplates { ids: vec![256, 257], sets: 12, first: Some(first), last: Some(w.now) };
        let f = w.get("no_template");
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(f.data["exporter"], "192.168.1.1");
        assert_eq!(f.data["template_ids"], json!([256, 257]));
        assert_eq!(f.data["waiting_seconds"], 180);
        assert!(f.message.contains("3 minutes") && f.message.contains("NetFlow v9"), "{}", f.message);
        assert!(f.detail.contains("v9-template-refresh") && f.detail.contains("refresh-rate"));
        // Some of its records decode: a warning.
        w.exporters[0].records = 10;
        assert_eq!(w.get("no_template").severity, Severity::Warning);
        // The data stopped long ago: no finding.
        w.exporters[0].missing.last = Some(w.now - NO_TEMPLATE_RECENT - Duration::from_secs(1));
        assert!(!w.codes().contains(&"no_template"));
        // The template came: ids empty.
        w.exporters[0].missing = MissingTemplates::default();
        assert!(!w.codes().contains(&"no_template"));
    }

    /// Records between the given addresses (bytes each), through the collector's table.
    fn remote_of(records: &[(&str, &str, u64)], nat: bool) -> RemoteSummary {
        let mut t = Unattributed::new(64);
        for (s, d, b) in records {
            let r = FlowRecord {
                src: Some(ip(s)),
                dst: Some(ip(d)),
                bytes: *b,
                nat_src: nat.then(|| ip("198.18.0.1")),
                ..FlowRecord::default()
            };
            t.add(&r, r.src.map(AddrKey::from), r.dst.map(AddrKey::from));
        }
        t.summary()
    }

    #[test]
    fn no_local_hosts_names_the_lan_prefix_and_the_line() {
        let mut w = World::new();
        let recs: Vec<(String, String, u64)> =
            (0..20).map(|i| (format!("10.9.8.{}", i % 4 + 2), format!("203.0.113.{}", i % 5 + 1), 1000)).collect();
        let recs: Vec<(&str, &str, u64)> = recs.iter().map(|(a, b, n)| (a.as_str(), b.as_str(), *n)).collect();
        w.remote = remote_of(&recs, false);
        w.remote_only = 20;
        w.records = 20;
        let f = w.get("no_local_hosts");
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(f.data["prefixes"][0], json!({"prefix": "10.9.8.0/24", "bytes": 20_000}));
        assert_eq!(f.data["suggested"], json!(["10.9.8.0/24"]));
        assert_eq!(f.data["line"], "local = [\"192.168.1.0/24\", \"10.9.8.0/24\"]");
        assert!(f.detail.contains("[network]") && f.detail.contains("/etc/flowpi.toml"));
        // Many hosts: no single address dominates.
        assert!(!w.codes().contains(&"wan_side_export"));
        // One record with a local host: not all are remote.
        w.records = 21;
        assert!(!w.codes().contains(&"no_local_hosts"));
    }

    #[test]
    fn ipv6_not_local_without_a_global_prefix() {
        let mut w = World::new();
        w.remote = remote_of(
            &[
                ("2001:db8:1:2::10", "2606:4700::1111", 5000),
                ("2001:db8:1:2::11", "2a00:1450::200e", 3000),
                ("fd00::5", "fd00::6", 100),
            ],
            false,
        );
        w.local.push(net("fd00::/8"));
        let f = w.get("ipv6_not_local");
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(f.data["records"], 2);
        assert_eq!(f.data["bytes"], 8000);
        assert_eq!(f.data["suggested"], json!(["2001:db8:1:2::/64"]));
        assert_eq!(f.data["wider"], "2001:db8:1::/56");
        assert_eq!(f.data["line"], "local = [\"192.168.1.0/24\", \"fd00::/8\", \"2001:db8:1:2::/64\"]");
        // A global prefix in network.local: nothing to say.
        w.local.push(net("2001:db8:1::/56"));
        assert!(!w.codes().contains(&"ipv6_not_local"));
    }

    #[test]
    fn wan_side_export_names_the_address_without_nat_fields() {
        let mut w = World::new();
        let recs: Vec<(String, u64)> = (0..30).map(|i| (format!("203.0.113.{}", i + 1), 1000)).collect();
        let recs: Vec<(&str, &str, u64)> = recs
            .iter()
            .enumerate()
            .map(
                |(i, (r, b))| {
                    if i % 2 == 0 {
                        ("198.51.100.7", r.as_str(), *b)
                    } else {
                        (r.as_str(), "198.51.100.7", *b)
                    }
                },
            )
            .collect();
        w.remote = remote_of(&recs, false);
        w.records = 30;
        w.remote_only = 30;
        let f = w.get("wan_side_export");
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(f.data["address"], "198.51.100.7");
        assert!(f.message.contains("198.51.100.7"));
        // The LAN advice does not suggest the WAN address's prefix.
        let lan = w.get("no_local_hosts");
        assert_ne!(lan.data["suggested"], json!(["198.51.100.0/24"]));
        assert!(lan.detail.contains("wan_side_export"));
        // Post-NAT fields present: the router does say who is behind it.
        w.remote = remote_of(&recs, true);
        assert!(!w.codes().contains(&"wan_side_export"));
        // Too few records to tell.
        w.remote = remote_of(&recs[..WAN_MIN_RECORDS as usize - 1], false);
        assert!(!w.codes().contains(&"wan_side_export"));
    }

    /// `n` records of `bytes` each from `a` to the addresses `peer(i)`.
    fn spokes(a: &str, peer: impl Fn(usize) -> String, n: usize, bytes: u64) -> RemoteSummary {
        let peers: Vec<String> = (0..n).map(peer).collect();
        let recs: Vec<(&str, &str, u64)> = peers.iter().map(|p| (a, p.as_str(), bytes)).collect();
        remote_of(&recs, false)
    }

    #[test]
    fn wan_side_export_never_from_ipv6_or_a_few_conversations() {
        let mut w = World::new();
        w.records = 30;
        w.remote_only = 30;
        // A laptop's global IPv6 address on every record, talking to 30 servers: IPv6 has no NAT.
        w.remote = spokes("2001:db8:1:2::10", |i| format!("2606:4700:{}::1", i + 1), 30, 1000);
        assert!(!w.codes().contains(&"wan_side_export"), "{:?}", w.codes());
        assert_eq!(w.get("ipv6_not_local").data["suggested"], json!(["2001:db8:1:2::/64"]));
        // A TV outside network.local streaming from one server: a conversation of two.
        w.remote = spokes("10.20.30.40", |_| "45.57.3.3".into(), 30, 1_000_000);
        assert!(!w.codes().contains(&"wan_side_export"), "{:?}", w.codes());
        let lan = w.get("no_local_hosts");
        assert_eq!(lan.data["suggested"], json!(["10.20.30.0/24"]));
        assert!(!lan.detail.contains("WAN"), "{}", lan.detail);
        // The TV's other conversations do not make it a WAN address: it is a private host.
        w.remote = spokes("10.20.30.40", |i| format!("45.57.3.{}", i + 1), 30, 1_000_000);
        assert!(!w.codes().contains(&"wan_side_export"), "{:?}", w.codes());
        // Two public addresses only: one server and one client.
        w.remote = spokes("198.51.100.20", |_| "203.0.113.9".into(), 30, 1000);
        assert!(!w.codes().contains(&"wan_side_export"), "{:?}", w.codes());
    }

    #[test]
    fn no_local_hosts_never_suggests_a_public_network() {
        let mut w = World::new();
        w.records = 30;
        w.remote_only = 30;
        // Public addresses on both sides, none on most records: nothing private to suggest.
        let recs: Vec<(String, String)> =
            (0..30).map(|i| (format!("198.51.100.{}", i % 3 + 1), format!("203.0.113.{}", i % 7 + 1))).collect();
        let recs: Vec<(&str, &str, u64)> = recs.iter().map(|(a, b)| (a.as_str(), b.as_str(), 1000)).collect();
        w.remote = remote_of(&recs, false);
        let f = w.get("no_local_hosts");
        assert_eq!((f.data["suggested"].clone(), f.data["line"].clone()), (json!([]), Value::Null));
        assert!(
            f.detail.contains("None of them is a private network") && !f.detail.contains("local = ["),
            "{}",
            f.detail
        );
        // Two private networks: the one this device is on, though the other is busier.
        let mut recs = vec![("172.16.5.9", "203.0.113.1", 9000); 10];
        recs.extend(vec![("192.168.1.77", "203.0.113.2", 1000); 10]);
        w.local = vec![net("10.0.0.0/8")];
        w.remote = remote_of(&recs, false);
        assert_eq!(w.get("no_local_hosts").data["suggested"], json!(["192.168.1.0/24"]));
        w.device = vec![ip("10.9.9.9")];
        assert_eq!(w.get("no_local_hosts").data["suggested"], json!(["172.16.5.0/24"]));
        // IPv6: a laptop and a single server are equally busy; only this device's /64 tells.
        w.remote = remote_of(&[("2001:db8:1:2::10", "2a00:1450::200e", 5000)], false);
        let f = w.get("ipv6_not_local");
        assert_eq!((f.data["suggested"].clone(), f.data["line"].clone()), (json!([]), Value::Null));
        w.device = vec![ip("2001:db8:1:2::5")];
        assert_eq!(w.get("ipv6_not_local").data["suggested"], json!(["2001:db8:1:2::/64"]));
    }

    #[test]
    fn advice_fits_where_flowpi_runs() {
        let mut w = World::new();
        w.records = 20;
        w.remote_only = 20;
        w.remote = spokes("10.9.8.7", |i| format!("203.0.113.{}", i + 1), 20, 1000);
        w.drops = Some(5);
        w.exporters[0].sampling = 1;
        let details = |w: &World| -> Vec<String> {
            ["no_local_hosts", "udp_drops", "sampling"].iter().map(|c| w.get(c).detail).collect()
        };
        // Elsewhere: the file flowpi was started with, and a restart.
        w.config = ConfigPlace::File("/srv/flowpi/flowpi.toml".into());
        for d in details(&w) {
            assert!(d.contains("in /srv/flowpi/flowpi.toml") && d.contains("restart flowpi"), "{d}");
        }
        // On the SD image: the card's file and a reboot; /etc/flowpi.toml is overwritten at boot.
        w.config = ConfigPlace::Card;
        for d in details(&w) {
            assert!(d.contains("flowpi.toml on the card's FLOWPI-BOOT partition") && d.contains("start the Pi"), "{d}");
            assert!(!d.contains("/etc/flowpi.toml") && !d.contains("systemctl restart"), "{d}");
        }
        // No file: where flowpi would read one.
        w.config = ConfigPlace::Defaults("/etc/flowpi.toml".into());
        assert!(w.get("no_local_hosts").detail.contains("in /etc/flowpi.toml (flowpi runs on its built-in defaults"));
        assert_eq!(ConfigPlace::of(true, &crate::config::Source::Defaults), ConfigPlace::Card);
        assert_eq!(
            ConfigPlace::of(false, &crate::config::Source::File("/x.toml".into())),
            ConfigPlace::File("/x.toml".into())
        );
    }

    #[test]
    fn exporter_silent_after_the_configured_time() {
        let mut w = World::new();
        w.exporters[0].name = Some("gw".into());
        w.exporters[0].heard = Some(w.now - Duration::from_secs(420));
        let f = w.get("exporter_silent");
        assert_eq!(f.data["exporter"], "192.168.1.1");
        assert_eq!(f.data["silent_seconds"], 420);
        assert!(f.message.contains("192.168.1.1 (gw)") && f.message.contains("7 minutes"), "{}", f.message);
        // Another key of the same router still talks: not silent.
        let mut other = exporter("192.168.1.1", 10);
        other.heard = Some(w.now);
        w.exporters.push(other);
        assert!(!w.codes().contains(&"exporter_silent"));
        // Restored from disk and never heard: not "heard before".
        w.exporters = vec![exporter("192.168.1.1", 9)];
        assert!(!w.codes().contains(&"exporter_silent"));
    }

    #[test]
    fn domain_limit_names_the_refused_address_while_recent() {
        let mut w = World::new();
        let key = ExporterKey { addr: ip("192.168.1.1"), version: 10, domain: 7 };
        let first = w.now - Duration::from_secs(120);
        w.refused = vec![RefusedView { key, why: Refusal::Table, limit: 64, datagrams: 50, first, last: w.now }];
        let f = w.get("domain_limit");
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(f.data["exporter"], "192.168.1.1");
        assert_eq!((f.data["reason"].clone(), f.data["datagrams"].clone()), (json!("exporters"), json!(50)));
        assert!(f.message.contains("192.168.1.1"), "{}", f.message);
        assert!(f.detail.contains("allow = [\"192.168.1.1\"]") && f.detail.contains("2 minutes"), "{}", f.detail);
        w.refused[0].why = Refusal::Domains;
        w.refused[0].limit = 8;
        assert!(w.get("domain_limit").detail.contains("max_domains_per_exporter = 8"));
        w.refused[0].last = w.now - REFUSED_RECENT - Duration::from_secs(1);
        assert!(!w.codes().contains(&"domain_limit"));
    }

    #[test]
    fn udp_drops_only_when_some() {
        let mut w = World::new();
        w.drops = Some(37);
        let f = w.get("udp_drops");
        assert_eq!(f.data["drops"], 37);
        assert!(f.detail.contains("net.core.rmem_max") && f.detail.contains("collector.receive_buffer"));
        w.drops = None;
        assert!(!w.codes().contains(&"udp_drops"));
    }

    #[test]
    fn proc_net_udp_lines() {
        let text = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  123: 00000000:0807 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n\
  124: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 99 2 0000000000000000 0\n\
  garbage\n";
        assert_eq!(
            parse_proc_udp(text),
            vec![ProcUdp { port: 2055, inode: 4242, drops: 17 }, ProcUdp { port: 53, inode: 99, drops: 0 }]
        );
    }

    #[test]
    fn sequence_loss_with_its_share() {
        let mut w = World::new();
        w.exporters[0].lost = 25;
        w.exporters[0].datagrams = 75;
        let f = w.get("sequence_loss");
        assert_eq!(f.data["unit"], "datagrams");
        assert_eq!(f.data["share"], 0.25);
        assert!(f.message.contains("25%") && f.detail.contains("Wi-Fi"));
        // Below the threshold: noise.
        w.exporters[0].lost = 1;
        w.exporters[0].datagrams = 10_000;
        assert!(!w.codes().contains(&"sequence_loss"));
    }

    #[test]
    fn sampling_says_what_totals_mean() {
        let mut w = World::new();
        let f = w.get("sampling");
        assert_eq!((f.severity, f.data["announced"].clone()), (Severity::Info, json!(false)));
        assert!(f.message.contains("unsampled"));
        w.exporters[0].sampling = 100;
        let f = w.get("sampling");
        assert_eq!((f.data["sampling_rate"].clone(), f.data["announced"].clone()), (json!(100), json!(true)));
        assert!(f.message.contains("1 in 100"));
        w.exporters[0].sampling_configured = true;
        assert!(w.get("sampling").message.contains("exporter.sampling_rate"));
    }

    #[test]
    fn the_line_the_same_flows_twice_double_nat_and_egress() {
        let mut w = World::new();
        let (router, ap) = (ip("192.168.1.1"), ip("192.168.1.2"));
        let c = |b: u64| Counts { in_bytes: b, out_bytes: b, ..Counts::default() };
        let iface = |e: IpAddr, i: u32, b: u64| (IfaceId::If { exporter: e, ifindex: i }, c(b));
        // Busy interfaces, no line: said, with the interfaces; ifIndex 0 and a quiet exporter not.
        w.interfaces = vec![iface(router, 1, 1 << 20), iface(router, 2, 1 << 20), iface(ap, 0, 1 << 30)];
        assert_eq!(w.codes().iter().filter(|c| **c == "no_wan").count(), 1);
        assert_eq!(w.get("no_wan").data["interfaces"], json!([1, 2]));
        w.wan = vec![((router, 1), WanBy::Traffic)];
        assert!(!w.codes().contains(&"no_wan"));
        // The access point reports most of what the router reports.
        w.overlap = OverlapSummary { sampled: vec![(router, 400), (ap, 100)], pairs: vec![(router, ap, 90)] };
        let d = w.get("duplicate_export");
        assert_eq!(d.data["exporter"], "192.168.1.2", "the one seeing less counts for its interfaces only");
        assert!(d.detail.contains("devices = false"), "{}", d.detail);
        w.interfaces_only = vec![ap];
        assert!(!w.codes().contains(&"duplicate_export"), "the config already says");
        w.interfaces_only.clear();
        w.overlap.pairs = vec![(router, ap, 5)];
        assert!(!w.codes().contains(&"duplicate_export"), "too few to tell");
        // Counted facts, said once each.
        w.double_nat = 12;
        w.egress_duplicates = 7;
        assert_eq!(w.get("double_nat").data["records"], 12);
        assert_eq!(w.get("ingress_and_egress").data["records"], 7);
    }

    #[test]
    fn most_severe_first() {
        let mut w = World::new();
        w.drops = Some(1);
        w.datagrams = 0;
        let sev: Vec<Severity> = w.run().iter().map(|f| f.severity).collect();
        let mut sorted = sev.clone();
        sorted.sort();
        assert_eq!(sev, sorted);
        assert_eq!(sev.first(), Some(&Severity::Error));
    }

    #[test]
    fn the_table_is_bounded_and_counts_evictions() {
        let mut t = Unattributed::new(4);
        for i in 0..100u32 {
            let r = FlowRecord {
                src: Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + (i << 8)))),
                dst: None,
                bytes: 10,
                ..FlowRecord::default()
            };
            t.add(&r, r.src.map(AddrKey::from), None);
        }
        let s = t.summary();
        assert!(s.prefixes.len() <= 4 && !s.exact);
        assert!(t.evictions() > 0);
        assert_eq!((s.records, s.bytes), (100, 1000));
    }

    /// Rows of the decoder's table after `datagrams` from their senders, at `at`.
    fn rejected_of(datagrams: &[(&str, DecodeError, &[u8])], at: Instant) -> Vec<Rejected> {
        let mut t = crate::decode::rejects::Rejects::new(8);
        for (from, e, d) in datagrams {
            t.add(ip(from), *e, d, at);
        }
        t.rows()
    }

    /// An sFlow v5 header (version, address type IPv4, agent, sub-agent, sequence, uptime,
    /// samples).
    const SFLOW: &[u8] = &[0, 0, 0, 5, 0, 0, 0, 1, 10, 0, 0, 254, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 1, 0, 0, 0, 0, 0];

    #[test]
    fn sflow_on_the_netflow_port_says_what_to_do() {
        let mut w = World::new();
        w.rejected = rejected_of(&[("192.168.1.2", DecodeError::UnknownVersion, SFLOW); 3], w.now);
        let f = w.get("not_netflow");
        assert_eq!(f.severity, Severity::Error, "nothing from 192.168.1.2 decodes");
        assert_eq!(
            (f.data["exporter"].as_str(), f.data["protocol"].as_str(), f.data["agent"].as_str()),
            (Some("192.168.1.2"), Some("sFlow v5"), Some("10.0.0.254"))
        );
        assert_eq!(f.data["datagrams"], 3);
        for s in ["does not decode", "sflowtool -p 6343 -c 127.0.0.1 -d 2055", "version=9", "192.168.1.5"] {
            assert!(f.message.contains(s) || f.detail.contains(s), "{s} in {f:?}");
        }
        // Counted apart from decode losses.
        assert!(!w.codes().contains(&"decode_errors"));
        // From an exporter whose NetFlow does decode: a warning.
        w.rejected = rejected_of(&[("192.168.1.1", DecodeError::UnknownVersion, SFLOW)], w.now);
        assert_eq!(w.get("not_netflow").severity, Severity::Warning);
        // Long past: nothing to say.
        w.rejected = rejected_of(&[("192.168.1.2", DecodeError::UnknownVersion, SFLOW)], w.now - REJECT_RECENT * 2);
        assert!(!w.codes().contains(&"not_netflow"));
    }

    #[test]
    fn decode_losses_name_the_exporter_and_the_likely_cause() {
        let mut w = World::new();
        let cut: &[u8] = &[0, 5, 0, 2, 0, 0, 0, 0];
        w.rejected = rejected_of(&[("192.168.1.1", DecodeError::Truncated, cut); 25], w.now);
        let f = w.get("decode_errors");
        assert_eq!(f.severity, Severity::Warning, "some of its datagrams decode");
        assert_eq!(f.data["exporter"], "192.168.1.1");
        assert_eq!((f.data["datagrams"].clone(), f.data["decoded_datagrams"].clone()), (json!(25), json!(100)));
        assert_eq!(f.data["share"], 0.2);
        assert_eq!(f.data["cause"], "truncated");
        assert!(f.message.contains("20%") && f.detail.contains("MTU"), "{f:?}");
        // An unknown version: its number, and that something else sends here.
        w.rejected = rejected_of(&[("192.168.1.9", DecodeError::UnknownVersion, &[0, 42, 0, 1])], w.now);
        let f = w.get("decode_errors");
        assert_eq!((f.severity, f.data["version"].clone()), (Severity::Error, json!(42)));
        assert!(f.detail.contains("reads 42"), "{}", f.detail);
        // One in ten thousand: noise.
        w.exporters[0].datagrams = 10_000;
        w.rejected = rejected_of(&[("192.168.1.1", DecodeError::Truncated, cut)], w.now);
        assert!(!w.codes().contains(&"decode_errors"));
    }

    #[test]
    fn words() {
        assert_eq!(human_duration(Duration::from_secs(45)), "45 seconds");
        assert_eq!(human_duration(Duration::from_secs(600)), "10 minutes");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
    }
}
