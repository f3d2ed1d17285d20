//! Views of the traffic: each record is attributed once (`attribute`), placed in time once, then
//! fanned out to the views (hosts, interfaces, applications, conversations and ports), each of
//! which owns a bounded table. What does not fit a table is counted into an `other` row or
//! ranked out of a heavy-hitter table with its error bound, so no byte is lost unseen.

pub mod applications;
pub mod attribute;
pub mod devices;
pub mod hosts;
pub mod interfaces;
pub mod learn;
pub mod overlap;
pub mod table;
pub mod talkers;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use crate::decode::FlowRecord;
use crate::net::{normalize, LocalNets};
use crate::stats::{self, Stats};
pub use applications::{AppId, AppName, Applications};
use attribute::{attribute, Flow, How};

/// Bytes and packets in each direction. For a host "in" is received (the host is the destination)
/// and "out" is sent; for an interface "in" is the flow's input interface and "out" its output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub in_packets: u64,
    pub out_packets: u64,
}

impl Counts {
    pub fn add_in(&mut self, bytes: u64, packets: u64) {
        self.in_bytes = self.in_bytes.wrapping_add(bytes);
        self.in_packets = self.in_packets.wrapping_add(packets);
    }

    pub fn add_out(&mut self, bytes: u64, packets: u64) {
        self.out_bytes = self.out_bytes.wrapping_add(bytes);
        self.out_packets = self.out_packets.wrapping_add(packets);
    }

    pub fn add(&mut self, o: &Counts) {
        self.in_bytes = self.in_bytes.wrapping_add(o.in_bytes);
        self.out_bytes = self.out_bytes.wrapping_add(o.out_bytes);
        self.in_packets = self.in_packets.wrapping_add(o.in_packets);
        self.out_packets = self.out_packets.wrapping_add(o.out_packets);
    }

    /// Take back what [`Counts::add`] added (never below zero).
    pub fn sub(&mut self, o: &Counts) {
        self.in_bytes = self.in_bytes.saturating_sub(o.in_bytes);
        self.out_bytes = self.out_bytes.saturating_sub(o.out_bytes);
        self.in_packets = self.in_packets.saturating_sub(o.in_packets);
        self.out_packets = self.out_packets.saturating_sub(o.out_packets);
    }

    pub fn is_zero(&self) -> bool {
        *self == Counts::default()
    }

    /// `self - earlier`, for totals that only grow (wrapping, like the counters themselves).
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            in_bytes: self.in_bytes.wrapping_sub(earlier.in_bytes),
            out_bytes: self.out_bytes.wrapping_sub(earlier.out_bytes),
            in_packets: self.in_packets.wrapping_sub(earlier.in_packets),
            out_packets: self.out_packets.wrapping_sub(earlier.out_packets),
        }
    }
}

/// A row of the host table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostId {
    Ip(IpAddr),
    /// Local hosts beyond `archive.max_hosts`, together.
    Other,
}

/// A row of the interface table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IfaceId {
    If {
        exporter: IpAddr,
        ifindex: u32,
    },
    /// Interfaces beyond `archive.max_interfaces`, together.
    Other,
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostId::Ip(ip) => write!(f, "{ip}"),
            HostId::Other => f.write_str("other"),
        }
    }
}

impl fmt::Display for IfaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IfaceId::If { exporter, ifindex } => write!(f, "{exporter} if{ifindex}"),
            IfaceId::Other => f.write_str("other"),
        }
    }
}

/// What an archive is about: a local host, a router interface or an application. Everything an
/// archive kind differs in (directory, data sources, legend, journal tag) is said here, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    Host(HostId),
    Interface(IfaceId),
    Application(AppName),
}

impl Subject {
    /// Every kind's directory under archive.dir.
    pub const DIRS: [&'static str; 3] = ["hosts", "interfaces", "applications"];

    /// The directory under archive.dir.
    pub fn dir(&self) -> &'static str {
        match self {
            Subject::Host(_) => "hosts",
            Subject::Interface(_) => "interfaces",
            Subject::Application(_) => "applications",
        }
    }

    /// Data source names, in [`Counts`] field order.
    pub fn ds(&self) -> &'static [&'static str; 4] {
        match self {
            Subject::Interface(_) => &["in_bytes", "out_bytes", "in_packets", "out_packets"],
            // Hosts and applications: received and sent by local hosts.
            _ => &["rx_bytes", "tx_bytes", "rx_packets", "tx_packets"],
        }
    }

    /// The graph legend for the two byte series.
    pub fn legend(&self) -> [&'static str; 2] {
        match self {
            Subject::Interface(_) => ["In", "Out"],
            _ => ["Received", "Sent"],
        }
    }
}

/// A local host's detail: bytes per application and its top remote peers, since start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostDetail {
    /// (application, received, sent), only those with traffic.
    pub apps: Vec<(AppName, u64, u64)>,
    pub peers: Vec<Talk>,
    /// False once the peers table had to drop a peer: counts then carry an error bound.
    pub peers_exact: bool,
}

/// A heavy-hitter row: a local host and a peer (a conversation), or a peer of a host (then `host`
/// is that host). `rx`/`tx` are what was seen since the row entered the table; the true total
/// is at most `error` more (0 while the table never had to drop a row).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Talk {
    pub host: IpAddr,
    pub peer: IpAddr,
    pub rx: u64,
    pub tx: u64,
    pub error: u64,
}

/// A port row: protocol, port and the application it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRow {
    pub protocol: u8,
    pub port: u16,
    pub app: AppName,
    pub rx: u64,
    pub tx: u64,
    pub error: u64,
}

/// Totals since start, copied out of the tables: published for the HTTP API.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub hosts: Vec<(HostId, Counts)>,
    /// Parallel to `hosts`.
    pub host_details: Vec<HostDetail>,
    /// Parallel to `hosts`: what arrived during the last step and when each was last seen.
    pub host_recent: Vec<Recent>,
    pub interfaces: Vec<(IfaceId, Counts)>,
    /// Parallel to `interfaces`.
    pub interface_recent: Vec<Recent>,
    /// Parallel to `interfaces`: what each one's far side says of the internet line.
    pub interface_far: Vec<interfaces::FarSide>,
    /// The interfaces taken as the internet line, and why (see [`interfaces::line_of`]), sorted.
    pub wan: Vec<((IpAddr, u32), interfaces::WanBy)>,
    /// The step the collector counts in, ms (0 before the first snapshot).
    pub step_ms: i64,
    /// Received (in) and sent (out) by local hosts, per application with traffic.
    pub applications: Vec<(AppName, Counts)>,
    pub conversations: Vec<Talk>,
    pub conversations_exact: bool,
    pub ports: Vec<PortRow>,
    pub ports_exact: bool,
    /// Interface names (config, then options data), sorted, for the API and graph titles.
    pub interface_names: Vec<((IpAddr, u32), String)>,
    /// Exporters and their state, for the API.
    pub exporters: Vec<crate::decode::exporter::ExporterView>,
    /// Addresses whose new exporter keys had no place in the table, for the doctor.
    pub refused: Vec<crate::decode::exporter::RefusedView>,
    /// The records without a local host, for the doctor.
    pub remote: crate::doctor::RemoteSummary,
    /// Flows two exporters both reported, for the doctor.
    pub overlap: overlap::OverlapSummary,
    /// Per sender, the datagrams that could not be decoded, for the doctor.
    pub rejected: Vec<crate::decode::rejects::Rejected>,
    /// Devices of several addresses (by the address they go by, sorted): their addresses and MAC.
    pub devices: Vec<(IpAddr, devices::DeviceMembers)>,
    /// Networks learned as local (network.learn), oldest first.
    pub learned: Vec<learn::LearnedNet>,
}

/// A row's recent activity: the counts the last hand-over took (what arrived during the last
/// step, whatever steps the flows were for) and the start of the last step it counted in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recent {
    pub now: Counts,
    /// Unix ms; `None` for the `other` rows.
    pub last_seen_ms: Option<i64>,
}

impl Recent {
    fn of((now, last): (Counts, Option<i64>), step_ms: i64) -> Recent {
        Recent { now, last_seen_ms: last.map(|s| s * step_ms) }
    }

    /// The "now" rate, bits/s in and out.
    pub fn bps(&self, step_ms: i64) -> [f64; 2] {
        let secs = step_ms.max(1) as f64 / 1000.0;
        [self.now.in_bytes as f64 * 8.0 / secs, self.now.out_bytes as f64 * 8.0 / secs]
    }
}

/// The entry of `recent` parallel to `id`'s row in `rows` (sorted by id).
fn recent_of<K: Ord>(rows: &[(K, Counts)], recent: &[Recent], id: &K) -> Recent {
    rows.binary_search_by(|(k, _)| k.cmp(id)).ok().and_then(|i| recent.get(i)).copied().unwrap_or_default()
}

impl Snapshot {
    /// The addresses and MAC of a device that goes by `key` (none for a device of one address).
    pub fn members_of(&self, key: IpAddr) -> Option<&devices::DeviceMembers> {
        self.devices.binary_search_by_key(&key, |(k, _)| *k).ok().map(|i| &self.devices[i].1)
    }

    /// A device's name by `name` (config, lookup): its own, else that of the first of its
    /// addresses with one (a device known by its MAC goes by an address nobody looks up).
    pub fn device_name<N>(&self, ip: IpAddr, name: impl Fn(IpAddr) -> Option<N>) -> Option<N> {
        let members = self.members_of(ip).map_or(&[][..], |d| &d.addresses[..]);
        std::iter::once(ip).chain(members.iter().map(|a| a.0)).find_map(name)
    }

    /// The device `ip` is a member of, when it has no row of its own: a device's page, series and
    /// graphs are found by any of its addresses.
    pub fn device_of(&self, ip: IpAddr) -> IpAddr {
        if self.host(ip).is_some() {
            return ip;
        }
        let ip = crate::net::normalize(ip);
        self.devices.iter().find(|(_, d)| d.addresses.iter().any(|(a, _)| *a == ip)).map_or(ip, |(k, _)| *k)
    }

    /// A host row's recent activity (nothing for a host without a row).
    pub fn host_recent_of(&self, id: &HostId) -> Recent {
        recent_of(&self.hosts, &self.host_recent, id)
    }

    /// An interface row's recent activity.
    pub fn interface_recent_of(&self, id: &IfaceId) -> Recent {
        recent_of(&self.interfaces, &self.interface_recent, id)
    }

    /// Why the interface is the internet line, if it is (see [`interfaces::line_of`]).
    pub fn wan_by(&self, exporter: IpAddr, ifindex: u32) -> Option<interfaces::WanBy> {
        self.wan.binary_search_by(|(k, _)| k.cmp(&(exporter, ifindex))).ok().map(|i| self.wan[i].1)
    }

    /// Decide which interfaces are the internet line, from `configured` (`[[exporter]] wan`),
    /// each interface's far side and its name (so names must be in already).
    pub fn find_wan(&mut self, configured: &std::collections::HashMap<IpAddr, Vec<u32>>) {
        let mut wan = Vec::new();
        // Rows are sorted by exporter, then ifIndex: one group per exporter.
        let mut i = 0;
        while i < self.interfaces.len() {
            let IfaceId::If { exporter, .. } = self.interfaces[i].0 else {
                i += 1;
                continue;
            };
            let mut rows = Vec::new();
            while let Some((IfaceId::If { exporter: e, ifindex }, _)) = self.interfaces.get(i) {
                if *e != exporter {
                    break;
                }
                let far = self.interface_far.get(i).copied().unwrap_or_default();
                rows.push((*ifindex, self.interface_name(exporter, *ifindex), far));
                i += 1;
            }
            let line = interfaces::line_of(configured.get(&exporter).map(Vec::as_slice), &rows);
            wan.extend(line.into_iter().map(|(ifindex, by)| ((exporter, ifindex), by)));
        }
        wan.sort_by_key(|(k, _)| *k);
        self.wan = wan;
    }

    pub fn interface_name(&self, exporter: IpAddr, ifindex: u32) -> Option<&str> {
        self.interface_names
            .binary_search_by(|(k, _)| k.cmp(&(exporter, ifindex)))
            .ok()
            .map(|i| self.interface_names[i].1.as_str())
    }

    pub fn exporter_name(&self, exporter: IpAddr) -> Option<&str> {
        self.exporters.iter().find(|e| e.key.addr == exporter).and_then(|e| e.name.as_deref())
    }

    /// A local host's row and detail.
    pub fn host(&self, ip: IpAddr) -> Option<(&Counts, &HostDetail)> {
        let i = self.hosts.binary_search_by(|(id, _)| id.cmp(&HostId::Ip(ip))).ok()?;
        Some((&self.hosts[i].1, self.host_details.get(i)?))
    }
}

/// What was counted per step since the previous hand-over, for the archive thread. Steps are
/// numbered from the Unix epoch (`step index × step` is the step's start, wall clock).
#[derive(Clone, Debug, Default)]
pub struct StepCounts {
    /// Additions, not totals: the archive adds them to what it holds for that step.
    pub added: Vec<(Subject, i64, Counts)>,
    /// The step now being counted.
    pub current: i64,
    /// The oldest step still open for late flows; older steps are final.
    pub open_from: i64,
}

/// The bounds of the views, from the config.
#[derive(Clone, Debug)]
pub struct Bounds {
    pub max_hosts: usize,
    pub max_interfaces: usize,
    /// Steps a host row must be idle before a new host may take it.
    pub host_idle_steps: i64,
    pub peers_per_host: usize,
    pub conversations: usize,
    pub ports: usize,
    /// Rows of the doctor's tables of records without a local host (doctor.max_prefixes).
    pub doctor_prefixes: usize,
    /// Addresses whose device is remembered (devices.max_addresses).
    pub device_addresses: usize,
}

impl Default for Bounds {
    /// The config's defaults at a 60 s step.
    fn default() -> Bounds {
        Bounds {
            max_hosts: 256,
            max_interfaces: 64,
            host_idle_steps: 7 * 1440,
            peers_per_host: 32,
            conversations: 2048,
            ports: 1024,
            doctor_prefixes: 64,
            device_addresses: 4096,
        }
    }
}

/// Owned by the collector task; nothing else touches it.
pub struct Views {
    local: LocalNets,
    /// Global IPv6 /64s learned as local from the traffic through the internet line.
    learn: learn::Learn,
    apps: Applications,
    /// Which device each local address counts for.
    devices: devices::Devices,
    hosts: hosts::Hosts,
    interfaces: interfaces::Interfaces,
    applications: applications::AppView,
    talkers: talkers::Talkers,
    /// Records without a local host, for the doctor (fed by those records only).
    unattributed: crate::doctor::Unattributed,
    /// The last exporter's key, and whether it counts for devices: a datagram's records all come
    /// from one exporter.
    exporter: Option<(IpAddr, AddrKey, bool)>,
    /// Exporters that count for their interfaces only (`[[exporter]] devices = false`).
    interfaces_only: Vec<AddrKey>,
    /// A sample of each exporter's flows, to see two report the same ones.
    overlap: overlap::Overlap,
    clock: Clock,
    /// A record's share per open step, reused (no allocation per record).
    parts: Vec<(usize, u64)>,
    nat_records: u64,
    double_nat_records: u64,
    /// (exporter, input interface) of ingress records (flowDirection 0), and when one was last
    /// seen: egress records with that input interface are the same flows again.
    ingress: Vec<(AddrKey, u32, i64)>,
    egress_duplicates: u64,
    stats: Arc<Stats>,
}

/// The step being counted and the window of open steps. Each row has one bucket per open step,
/// indexed by `step mod open` (the window never holds two steps with the same slot).
pub struct Clock {
    step_ms: i64,
    /// Open steps: the current one and those before it that late flows can still reach.
    open: usize,
    /// The current step's index.
    pub cur: i64,
    cur_slot: usize,
    /// Where the current step begins, wall clock ms.
    cur_start_ms: i64,
    /// Wall clock (ms) of the batch being decoded.
    now_ms: i64,
    // Counted here and published at each hand-over: a shared counter per record would cost.
    no_time: u64,
    bad_time: u64,
    spread: u64,
    before_window: u64,
}

impl Clock {
    fn slot(&self, step: i64) -> usize {
        step.rem_euclid(self.open as i64) as usize
    }

    fn oldest(&self) -> i64 {
        self.cur - (self.open as i64 - 1)
    }

    /// The step a slot holds in the current window.
    pub fn step_of(&self, slot: usize) -> i64 {
        self.cur - (self.cur - slot as i64).rem_euclid(self.open as i64)
    }
}

/// Interfaces whose ingress records are followed at most (as many as the interfaces view holds
/// by default, many times over), and how long they make egress records duplicates.
const MAX_INGRESS_POINTS: usize = 1024;
const INGRESS_MEMORY_MS: i64 = 3_600_000;

/// Longer than this a flow's times are not believed (exporters' active timeouts are minutes to
/// an hour).
const MAX_FLOW_MS: i64 = 86_400_000;

/// An address as one integer, so a table lookup hashes two words instead of walking `IpAddr`'s
/// enum and byte arrays. IPv4 sits in the IPv4-mapped range, so an IPv4-mapped IPv6 address
/// (from a dual-stack socket) is the same key as the IPv4 address it carries.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Default)]
pub struct AddrKey(pub u128);

const V4_MAPPED: u128 = 0xffff_0000_0000;

impl AddrKey {
    pub fn v4(self) -> Option<u32> {
        (self.0 >> 32 == V4_MAPPED >> 32).then_some(self.0 as u32)
    }
}

impl From<IpAddr> for AddrKey {
    #[inline]
    fn from(ip: IpAddr) -> Self {
        AddrKey(match ip {
            IpAddr::V4(a) => V4_MAPPED | u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        })
    }
}

impl From<AddrKey> for IpAddr {
    fn from(k: AddrKey) -> Self {
        normalize(IpAddr::V6(std::net::Ipv6Addr::from(k.0)))
    }
}

/// An interface row: the exporter and its ifIndex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IfKey(pub AddrKey, pub u32);

impl table::CacheSlot for AddrKey {
    #[inline]
    fn slot(&self) -> usize {
        // The address's low bits: the hosts of a /22 each get a slot of their own.
        self.0 as usize
    }
}

impl table::CacheSlot for IfKey {
    #[inline]
    fn slot(&self) -> usize {
        self.1 as usize
    }
}

/// A row and the slot its counts go to.
#[derive(Clone, Copy)]
pub enum Place {
    One(usize),
    /// Divided over the parts given beside it.
    Spread,
}

/// Divide `bytes` and `packets` over `parts` (slot, weight): each part gets its share rounded
/// down against the running sum, so the parts add up to exactly the record's counts.
pub fn split(parts: &[(usize, u64)], bytes: u64, packets: u64, mut put: impl FnMut(usize, u64, u64)) {
    let total: u64 = parts.iter().map(|p| p.1).sum();
    let (mut acc, mut b_done, mut p_done) = (0u64, 0u64, 0u64);
    for &(slot, w) in parts {
        acc += w;
        let b = (u128::from(bytes) * u128::from(acc) / u128::from(total)) as u64;
        let p = (u128::from(packets) * u128::from(acc) / u128::from(total)) as u64;
        put(slot, b - b_done, p - p_done);
        (b_done, p_done) = (b, p);
    }
}

impl Views {
    /// Views with the default application list, for tools and tests.
    pub fn with_bounds(
        local: LocalNets,
        bounds: &Bounds,
        open_steps: usize,
        step: std::time::Duration,
        stats: Arc<Stats>,
    ) -> Self {
        let apps = Applications::new(&Applications::default_classes());
        Views::new(local, apps, bounds, open_steps, step, stats)
    }

    pub fn new(
        local: LocalNets,
        apps: Applications,
        bounds: &Bounds,
        open_steps: usize,
        step: std::time::Duration,
        stats: Arc<Stats>,
    ) -> Self {
        let open = open_steps.max(1);
        let step_ms = (step.as_millis() as i64).max(1);
        let now_ms = wall_ms();
        let cur = now_ms.div_euclid(step_ms);
        let mut clock = Clock {
            step_ms,
            open,
            cur,
            cur_slot: 0,
            cur_start_ms: cur * step_ms,
            now_ms,
            no_time: 0,
            bad_time: 0,
            spread: 0,
            before_window: 0,
        };
        clock.cur_slot = clock.slot(cur);
        let napps = apps.capacity();
        Views {
            learn: learn::Learn::new(local.nets(), true, 16),
            local,
            devices: devices::Devices::new(&[], bounds.device_addresses),
            hosts: hosts::Hosts::new(bounds, napps, open),
            interfaces: interfaces::Interfaces::new(bounds.max_interfaces, open),
            applications: applications::AppView::new(napps, open),
            talkers: talkers::Talkers::new(bounds.ports),
            unattributed: crate::doctor::Unattributed::new(bounds.doctor_prefixes),
            interfaces_only: Vec::new(),
            overlap: overlap::Overlap::default(),
            apps,
            exporter: None,
            clock,
            parts: Vec::with_capacity(open + 1),
            nat_records: 0,
            double_nat_records: 0,
            ingress: Vec::new(),
            egress_duplicates: 0,
            stats,
        }
    }

    /// The wall clock for the records that follow (once per receive batch).
    #[inline]
    pub fn set_now(&mut self, now_ms: i64) {
        self.clock.now_ms = now_ms;
    }

    /// The step the wall clock `now_ms` falls in.
    pub fn step_at(&self, now_ms: i64) -> i64 {
        now_ms.div_euclid(self.clock.step_ms)
    }

    pub fn current_step(&self) -> i64 {
        self.clock.cur
    }

    /// Hand over every bucket (what was added per step since the last call) and move the window
    /// so that `now_ms`'s step is current. The clock may have moved any way: a jump just empties
    /// every bucket first, so no slot is read as another step.
    pub fn rotate(&mut self, now_ms: i64) -> StepCounts {
        let mut added = Vec::new();
        let clock = &self.clock;
        self.hosts.drain(clock, &mut added);
        self.interfaces.drain(clock, &mut added);
        self.applications.drain(clock, &self.apps, &mut added);
        let st = &*self.stats;
        stats::set(&st.records_without_time, self.clock.no_time);
        stats::set(&st.records_bad_time, self.clock.bad_time);
        stats::set(&st.records_spread, self.clock.spread);
        stats::set(&st.records_before_window, self.clock.before_window);
        stats::set(&st.nat_attributed_records, self.nat_records);
        stats::set(&st.double_nat_records, self.double_nat_records);
        stats::set(&st.egress_duplicate_records, self.egress_duplicates);

        self.clock.now_ms = now_ms;
        self.clock.cur = now_ms.div_euclid(self.clock.step_ms);
        self.clock.cur_slot = self.clock.slot(self.clock.cur);
        self.clock.cur_start_ms = self.clock.cur * self.clock.step_ms;
        self.hosts.settle(self.clock.cur);
        StepCounts { added, current: self.clock.cur, open_from: self.clock.oldest() }
    }

    /// Count one record seen by `exporter`.
    #[inline]
    pub fn add(&mut self, exporter: IpAddr, r: &FlowRecord) {
        let (ex, devices) = match self.exporter {
            Some((ip, k, devices)) if ip == exporter => (k, devices),
            _ => {
                let k = AddrKey::from(exporter);
                let devices = !self.interfaces_only.contains(&k);
                self.exporter = Some((exporter, k, devices));
                self.overlap.exporter(k);
                (k, devices)
            }
        };
        if r.direction.is_some() && self.egress_duplicate(ex, r) {
            self.egress_duplicates += 1;
            return;
        }
        let place = self.place(r);
        let (src, dst) = (r.src.map(AddrKey::from), r.dst.map(AddrKey::from));
        let (mut sender, mut receiver, mut how) = attribute(r, src, dst, &self.local);
        if how == How::Remote && self.learn.watching() && self.learn.consider(ex, r, self.clock.now_ms / 1000) {
            self.learned();
            (sender, receiver, how) = attribute(r, src, dst, &self.local);
        }
        if how == How::Direct && (r.src_mac | r.dst_mac | r.post_dst_mac) != 0 {
            self.learn_macs(r, sender, receiver);
        }
        if self.devices.on() {
            let now = self.clock.now_ms;
            sender = sender.map(|a| self.devices.key(a, now));
            receiver = receiver.map(|a| self.devices.key(a, now));
        }
        let (app, port) = match how {
            How::Remote => {
                stats::inc(&self.stats.remote_only_records);
                self.unattributed.add(r, src, dst);
                // Counted for interfaces only: no application is asked for.
                (self.apps.other(), 0)
            }
            How::Nat => {
                self.nat_records += 1;
                self.apps.classify(r.protocol, r.src_port, r.dst_port)
            }
            How::DoubleNat => {
                self.nat_records += 1;
                self.double_nat_records += 1;
                self.apps.classify(r.protocol, r.src_port, r.dst_port)
            }
            How::Direct => self.apps.classify(r.protocol, r.src_port, r.dst_port),
        };
        let f = Flow {
            ex,
            src,
            dst,
            sender,
            receiver,
            input_if: r.input_if,
            output_if: r.output_if,
            bytes: r.bytes,
            packets: r.packets,
            protocol: r.protocol,
            app,
            port,
        };
        if self.overlap.watching() && f.has_host() {
            self.overlap.add(ex, src, dst, (r.src_port, r.dst_port), r.protocol, self.clock.now_ms);
        }
        self.count(&f, place, devices);
        if r.rev_bytes != 0 || r.rev_packets != 0 {
            self.count(&f.reversed(r.rev_bytes, r.rev_packets), place, devices);
        }
    }

    /// network.learn and network.max_learned.
    pub fn set_learning(&mut self, on: bool, max: usize) {
        self.learn = learn::Learn::new(self.local.nets(), on, max);
    }

    /// The internet line as the last snapshot found it: what `network.learn` learns behind.
    pub fn set_wan(&mut self, wan: &[((IpAddr, u32), interfaces::WanBy)]) {
        self.learn.set_wan(wan);
    }

    /// `[[exporter]] wan`, known before the first snapshot.
    pub fn set_configured_wan(&mut self, wan: &[(IpAddr, u32)]) {
        self.learn.set_configured_wan(wan);
    }

    /// A network was learned: attribution takes it from this record on.
    #[cold]
    fn learned(&mut self) {
        self.take_learned();
        if let Some(n) = self.learn.nets().last() {
            log::info!("network: {} learned as local (seen behind the internet line)", n.net);
        }
    }

    /// The local networks are the config's and what was learned (or restored).
    fn take_learned(&mut self) {
        self.local = self.learn.local();
        stats::set(&self.stats.learned_networks, self.learn.nets().len() as u64);
        stats::set(&self.stats.learned_network_evictions, self.learn.evictions);
    }

    /// The learned networks as saved in the collector's state file.
    pub fn save_learned(&self) -> Vec<String> {
        self.learn.save()
    }

    /// Whether the learned networks changed since the last call.
    pub fn learned_changed(&mut self) -> bool {
        self.learn.take_changed()
    }

    /// Learned networks from the state file; the number refused.
    pub fn restore_learned(&mut self, saved: &[String]) -> usize {
        let refused = self.learn.restore(saved);
        self.take_learned();
        refused
    }

    /// The `[[host]]` entries: their addresses, prefixes and MACs are one device each.
    pub fn set_devices(&mut self, config: &[crate::config::DeviceConfig], max: usize) {
        self.devices = devices::Devices::new(config, max);
    }

    /// Exporters whose records count for their interfaces only, not for devices (another
    /// exporter on the same path reports the same flows).
    pub fn set_interfaces_only(&mut self, exporters: &[IpAddr]) {
        self.interfaces_only = exporters.iter().map(|ip| AddrKey::from(*ip)).collect();
        self.exporter = None;
    }

    /// The MACs a record carries, as the devices of its local ends. The source MAC is the
    /// sender's where the packets entered; the receiver's is the destination MAC where they left
    /// (postDestinationMacAddress, or destinationMacAddress of an egress record): a destination MAC
    /// as they entered is the router's own for anything routed.
    #[cold]
    #[inline(never)]
    fn learn_macs(&mut self, r: &FlowRecord, sender: Option<AddrKey>, receiver: Option<AddrKey>) {
        let now = self.clock.now_ms;
        if let Some(a) = sender {
            self.devices.learn(a, r.src_mac, now);
        }
        let out_mac = if r.post_dst_mac != 0 {
            r.post_dst_mac
        } else if r.direction == Some(1) {
            r.dst_mac
        } else {
            0
        };
        if let Some(a) = receiver {
            self.devices.learn(a, out_mac, now);
        }
    }

    /// Is this an egress record of a flow the exporter also reported on its way in? flowDirection
    /// tells at which end of the observation point a flow was seen: a router exporting ingress
    /// and egress at every interface (Cisco's `ip flow ingress` + `ip flow egress`) reports a flow
    /// entering on A and leaving on B twice, as ingress at A and egress at B, both with input A and
    /// output B. So an egress record whose input interface the exporter observes ingress at (it
    /// sent ingress records with that input interface within the last hour) was counted already.
    /// Ingress and egress at one observation point (softflowd on one interface: the two halves
    /// of a conversation) are different packets; ifIndex 0 (unknown) never matches.
    #[cold]
    #[inline(never)]
    fn egress_duplicate(&mut self, ex: AddrKey, r: &FlowRecord) -> bool {
        if r.input_if == 0 {
            return false;
        }
        let now = self.clock.now_ms;
        let at = self.ingress.iter().position(|(k, i, _)| *k == ex && *i == r.input_if);
        match (r.direction, at) {
            (Some(0), Some(at)) => self.ingress[at].2 = now,
            (Some(0), None) if self.ingress.len() < MAX_INGRESS_POINTS => self.ingress.push((ex, r.input_if, now)),
            (Some(1), Some(at)) => return now.saturating_sub(self.ingress[at].2) < INGRESS_MEMORY_MS,
            // Past the bound (more interfaces than the table keeps) everything counts.
            _ => {}
        }
        false
    }

    /// One direction into every view (into the interfaces alone when `devices` is false).
    #[inline]
    fn count(&mut self, f: &Flow, place: Place, devices: bool) {
        let st = &*self.stats;
        self.interfaces.add(f, place, &self.parts, st);
        if devices && f.has_host() {
            self.hosts.add(f, place, &self.parts, st);
            self.applications.add(f, place, &self.parts);
            self.talkers.add(f);
        }
    }

    /// Which open steps a record's counts belong to. Its times are taken as ages before the
    /// export time (so an exporter's clock need not agree with ours), laid on our clock.
    #[inline(always)]
    pub fn place(&mut self, r: &FlowRecord) -> Place {
        let c = &self.clock;
        let (end, export) = (r.end_ms as i64, r.export_ms as i64);
        if end != 0 && export != 0 {
            let start = if r.start_ms == 0 { end } else { r.start_ms as i64 };
            let (dur, age) = (end - start, export - end);
            // The common case, compares only: believable times, the whole flow in this step.
            if (0..=MAX_FLOW_MS).contains(&dur) && age >= -c.step_ms && c.now_ms - age.max(0) - dur >= c.cur_start_ms {
                return Place::One(c.cur_slot);
            }
        }
        self.place_slow(r)
    }

    #[cold]
    #[inline(never)]
    fn place_slow(&mut self, r: &FlowRecord) -> Place {
        let c = &mut self.clock;
        let (end, export) = (r.end_ms as i64, r.export_ms as i64);
        if end == 0 || export == 0 {
            c.no_time += 1;
            return Place::One(c.cur_slot);
        }
        let start = if r.start_ms == 0 { end } else { r.start_ms as i64 };
        if end < start || end - start > MAX_FLOW_MS || end > export + c.step_ms {
            c.bad_time += 1;
            return Place::One(c.cur_slot);
        }
        let end_at = (c.now_ms - (export - end)).min(c.now_ms);
        let start_at = end_at - (end - start);
        if start_at >= c.cur_start_ms {
            return Place::One(c.cur_slot);
        }
        let s_end = end_at.div_euclid(c.step_ms).min(c.cur);
        let s_start = start_at.div_euclid(c.step_ms).min(s_end);
        let oldest = c.oldest();
        if s_end < oldest {
            c.before_window += 1;
            return Place::One(c.slot(oldest));
        }
        if s_start == s_end || end_at == start_at {
            return Place::One(c.slot(s_end));
        }
        // Divided by overlap; what lies before the window goes to its oldest step.
        self.parts.clear();
        let first = s_start.max(oldest);
        if s_start < oldest {
            c.before_window += 1;
        }
        c.spread += 1;
        for s in first..=s_end {
            let lo = if s == first { start_at } else { s * c.step_ms };
            let hi = end_at.min((s + 1) * c.step_ms);
            if hi > lo {
                self.parts.push((c.slot(s), (hi - lo) as u64));
            }
        }
        match self.parts.len() {
            0 => Place::One(c.slot(s_end)),
            1 => Place::One(self.parts[0].0),
            _ => Place::Spread,
        }
    }

    /// The totals for the API, and the heavy-hitter tables' counters (published with them, once
    /// a second, rather than per record).
    pub fn snapshot(&self) -> Snapshot {
        let st = &*self.stats;
        stats::set(&st.nat_attributed_records, self.nat_records);
        stats::set(&st.double_nat_records, self.double_nat_records);
        stats::set(&st.egress_duplicate_records, self.egress_duplicates);
        self.talkers.publish_stats(st);
        self.hosts.publish_stats(st);
        stats::set(&st.doctor_evictions, self.unattributed.evictions());
        stats::set(&st.device_addresses, self.devices.members() as u64);
        stats::set(&st.device_address_evictions, self.devices.evictions);
        stats::set(&st.device_router_macs, self.devices.routers);
        let mut s = Snapshot {
            devices: self.devices.publish(),
            learned: self.learn.nets().to_vec(),
            step_ms: self.clock.step_ms,
            remote: self.unattributed.summary(),
            overlap: self.overlap.summary(),
            ..Snapshot::default()
        };
        self.hosts.publish(&self.apps, &mut s);
        self.interfaces.publish(&mut s);
        self.applications.publish(&self.apps, &mut s);
        self.talkers.publish(&self.apps, &mut s);
        s
    }
}

/// The wall clock in Unix milliseconds.
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(src: &str, dst: &str, bytes: u64, packets: u64, i: u32, o: u32) -> FlowRecord {
        FlowRecord {
            src: Some(src.parse().unwrap()),
            dst: Some(dst.parse().unwrap()),
            bytes,
            packets,
            input_if: i,
            output_if: o,
            protocol: 6,
            src_port: 1,
            dst_port: 2,
            ..FlowRecord::default()
        }
    }

    fn agg(max_hosts: usize, max_if: usize) -> (Views, Arc<Stats>) {
        let stats = Arc::new(Stats::default());
        let local = LocalNets::new(vec!["192.168.0.0/16".parse().unwrap(), "fd00::/8".parse().unwrap()]);
        let b = Bounds { max_hosts, max_interfaces: max_if, host_idle_steps: 3, ..Bounds::default() };
        (Views::with_bounds(local, &b, 31, std::time::Duration::from_secs(60), stats.clone()), stats)
    }

    #[test]
    fn directions_and_local_to_local() {
        let (mut a, stats) = agg(10, 10);
        let ex: IpAddr = "192.168.1.1".parse().unwrap();
        a.add(ex, &rec("192.168.1.10", "8.8.8.8", 100, 1, 2, 1));
        a.add(ex, &rec("8.8.8.8", "192.168.1.10", 1000, 2, 1, 2));
        a.add(ex, &rec("192.168.1.10", "192.168.1.11", 50, 1, 2, 2));
        a.add(ex, &rec("1.1.1.1", "8.8.8.8", 7, 1, 1, 1));
        let s = a.snapshot();
        let h10 = Counts { in_bytes: 1000, out_bytes: 150, in_packets: 2, out_packets: 2 };
        let h11 = Counts { in_bytes: 50, out_bytes: 0, in_packets: 1, out_packets: 0 };
        assert_eq!(
            s.hosts,
            vec![
                (HostId::Ip("192.168.1.10".parse().unwrap()), h10),
                (HostId::Ip("192.168.1.11".parse().unwrap()), h11)
            ]
        );
        let if1 = Counts { in_bytes: 1007, out_bytes: 107, in_packets: 3, out_packets: 2 };
        let if2 = Counts { in_bytes: 150, out_bytes: 1050, in_packets: 2, out_packets: 3 };
        assert_eq!(
            s.interfaces,
            vec![(IfaceId::If { exporter: ex, ifindex: 1 }, if1), (IfaceId::If { exporter: ex, ifindex: 2 }, if2)]
        );
        assert_eq!(stats::get(&stats.remote_only_records), 1);
    }

    #[test]
    fn reverse_counts_flow_back() {
        let (mut a, _) = agg(10, 10);
        let ex: IpAddr = "192.168.1.1".parse().unwrap();
        let mut r = rec("192.168.1.10", "8.8.8.8", 100, 1, 2, 1);
        r.rev_bytes = 5000;
        r.rev_packets = 4;
        a.add(ex, &r);
        let s = a.snapshot();
        assert_eq!(s.hosts[0].1, Counts { in_bytes: 5000, out_bytes: 100, in_packets: 4, out_packets: 1 });
        let if1 = Counts { in_bytes: 5000, out_bytes: 100, in_packets: 4, out_packets: 1 };
        assert_eq!(s.interfaces[0], (IfaceId::If { exporter: ex, ifindex: 1 }, if1));
    }

    #[test]
    fn overflow_goes_to_other_and_loses_nothing() {
        let (mut a, stats) = agg(2, 1);
        let ex: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..100u32 {
            a.add(ex, &rec(&format!("192.168.0.{}", i % 50), "8.8.8.8", 10, 1, i, 0));
        }
        let s = a.snapshot();
        assert_eq!(s.hosts.len(), 3);
        assert_eq!(s.hosts.last().unwrap().0, HostId::Other);
        let sent: u64 = s.hosts.iter().map(|(_, c)| c.out_bytes).sum();
        assert_eq!(sent, 1000);
        assert_eq!(stats::get(&stats.host_overflow_records), 96);
        let ifin: u64 = s.interfaces.iter().map(|(_, c)| c.in_bytes).sum();
        let ifout: u64 = s.interfaces.iter().map(|(_, c)| c.out_bytes).sum();
        assert_eq!((ifin, ifout), (1000, 1000));
        assert_eq!(s.interfaces.len(), 2);
        assert_eq!(stats::get(&stats.hosts), 2);
    }

    /// Steps of 60 s, 31 open; the clock at 10 s into step 1000.
    fn timed() -> (Views, Arc<Stats>, IpAddr) {
        let (mut a, stats) = agg(10, 10);
        a.rotate(1000 * 60_000 + 10_000);
        (a, stats, "192.168.1.1".parse().unwrap())
    }

    /// A record that ended `age` ms before an export and lasted `dur` ms.
    fn flow(bytes: u64, age: u64, dur: u64) -> FlowRecord {
        let export = 1_700_000_000_000u64;
        FlowRecord {
            export_ms: export,
            end_ms: export - age,
            start_ms: export - age - dur,
            ..rec("192.168.1.10", "8.8.8.8", bytes, 7, 1, 2)
        }
    }

    /// The host's bytes sent per step, as handed over.
    fn sent_per_step(a: &mut Views, now: i64) -> Vec<(i64, u64)> {
        let mut v: Vec<(i64, u64)> = a
            .rotate(now)
            .added
            .into_iter()
            .filter(|(s, _, _)| matches!(s, Subject::Host(_)))
            .map(|(_, step, c)| (step, c.out_bytes))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn flows_are_spread_over_their_steps_exactly() {
        let (mut a, stats, ex) = timed();
        // 10 s in this step, 2 whole steps before it, 20 s of the one before: 1000 B over 150 s.
        a.add(ex, &flow(1000, 0, 150_000));
        // Entirely in the current step: no division.
        a.add(ex, &flow(5, 1000, 2000));
        let now = 1000 * 60_000 + 10_000;
        let steps = sent_per_step(&mut a, now);
        assert_eq!(steps, vec![(997, 133), (998, 400), (999, 400), (1000, 67 + 5)]);
        assert_eq!(stats::get(&stats.records_spread), 1);
        // Totals never change: the API sees the same 1005 B.
        assert_eq!(a.snapshot().hosts[0].1.out_bytes, 1005);
    }

    #[test]
    fn what_began_before_the_window_lands_in_its_oldest_step() {
        let (mut a, stats, ex) = timed();
        // Two hours long, ending now: 31 open steps (970..=1000); the 89.2 minutes before step 970
        // go into step 970 with its own minute.
        a.add(ex, &flow(7_200_000, 0, 7_200_000));
        let steps = sent_per_step(&mut a, 1000 * 60_000 + 10_000);
        assert_eq!(steps.first().unwrap().0, 970);
        assert_eq!(steps.iter().map(|s| s.1).sum::<u64>(), 7_200_000);
        assert_eq!(steps[0].1, 7_200_000 - 30 * 60_000 - 10_000 + 60_000);
        assert_eq!(steps[1].1, 60_000);
        assert_eq!(stats::get(&stats.records_before_window), 1);
        // Ended before the window: all of it in the oldest step.
        a.add(ex, &flow(9, 3_600_000, 1000));
        assert_eq!(sent_per_step(&mut a, 1000 * 60_000 + 10_000), vec![(970, 9)]);
    }

    #[test]
    fn records_without_believable_times_count_now() {
        let (mut a, stats, ex) = timed();
        a.add(ex, &rec("192.168.1.10", "8.8.8.8", 1, 1, 1, 2)); // no times
        let mut r = flow(2, 0, 1000);
        r.start_ms = r.end_ms + 1; // ends before it starts
        a.add(ex, &r);
        a.add(ex, &flow(4, 0, 2 * 86_400_000)); // two days long
        let mut r = flow(8, 0, 0);
        r.end_ms += 3_600_000; // an hour after its own export
        r.start_ms = r.end_ms;
        a.add(ex, &r);
        assert_eq!(sent_per_step(&mut a, 1000 * 60_000 + 10_000), vec![(1000, 15)]);
        assert_eq!((stats::get(&stats.records_without_time), stats::get(&stats.records_bad_time)), (1, 3));
    }

    #[test]
    fn a_clock_jump_hands_over_every_bucket_with_its_step() {
        let (mut a, _, ex) = timed();
        a.add(ex, &flow(100, 0, 0));
        // A day forward: the bucket of step 1000 is handed over as step 1000, not relabelled.
        let c = a.rotate(1000 * 60_000 + 86_400_000);
        assert_eq!(c.current, 1000 + 1440);
        assert!(c.added.iter().all(|(_, s, _)| *s == 1000));
        a.add(ex, &flow(1, 0, 0));
        // And back.
        let c = a.rotate(1000 * 60_000 + 20_000);
        assert!(c.added.iter().all(|(_, s, _)| *s == 2440));
        assert_eq!((c.current, c.open_from), (1000, 970));
    }

    #[test]
    fn capacity_does_not_grow_with_remote_addresses() {
        let (mut a, _) = agg(4, 4);
        let cap = (a.hosts.capacity(), a.interfaces.capacity());
        let ex: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..100_000u32 {
            let remote = std::net::Ipv4Addr::from(0x0100_0000 + i).to_string();
            a.add(ex, &rec(&remote, "192.168.1.2", 1, 1, i % 3, 0));
        }
        assert_eq!((a.hosts.capacity(), a.interfaces.capacity()), cap);
        assert_eq!(a.snapshot().hosts.len(), 1);
    }

    #[test]
    fn nat_fields_find_the_host_behind_the_router() {
        let (mut a, stats) = agg(10, 10);
        let ex: IpAddr = "198.51.100.2".parse().unwrap();
        // WAN side: remote -> WAN address, the LAN host only post-NAT.
        let mut down = rec("203.0.113.5", "198.51.100.2", 5_000_000, 4000, 1, 2);
        down.nat_dst = Some("192.168.1.50".parse().unwrap());
        a.add(ex, &down);
        let mut up = rec("198.51.100.2", "203.0.113.5", 700_000, 600, 2, 1);
        up.nat_src = Some("192.168.1.50".parse().unwrap());
        a.add(ex, &up);
        // NAT fields that are not local change nothing.
        let mut far = rec("203.0.113.5", "198.51.100.2", 9, 1, 1, 2);
        far.nat_dst = Some("198.51.100.9".parse().unwrap());
        a.add(ex, &far);
        let s = a.snapshot();
        assert_eq!(s.hosts.len(), 1);
        assert_eq!(
            s.hosts[0].1,
            Counts { in_bytes: 5_000_000, out_bytes: 700_000, in_packets: 4000, out_packets: 600 }
        );
        assert_eq!(s.host_details[0].peers.len(), 1);
        assert_eq!(s.host_details[0].peers[0].peer, "203.0.113.5".parse::<IpAddr>().unwrap());
        a.rotate(wall_ms());
        assert_eq!(stats::get(&stats.nat_attributed_records), 2);
        assert_eq!(stats::get(&stats.remote_only_records), 1);
    }

    #[test]
    fn applications_ports_and_peers() {
        let (mut a, _) = agg(10, 10);
        let ex: IpAddr = "192.168.1.1".parse().unwrap();
        let mut web = rec("192.168.1.10", "8.8.8.8", 100, 1, 1, 2);
        (web.src_port, web.dst_port, web.rev_bytes, web.rev_packets) = (50000, 443, 9000, 7);
        a.add(ex, &web);
        let mut dns = rec("192.168.1.10", "1.1.1.1", 60, 1, 1, 2);
        (dns.protocol, dns.src_port, dns.dst_port) = (17, 40000, 53);
        a.add(ex, &dns);
        let mut ping = rec("192.168.1.11", "192.168.1.10", 84, 1, 1, 2);
        ping.protocol = 1;
        (ping.src_port, ping.dst_port) = (0, 0);
        a.add(ex, &ping);
        // Remote-only traffic is no application's.
        a.add(ex, &rec("8.8.8.8", "1.1.1.1", 5, 1, 1, 2));
        let s = a.snapshot();
        let apps: Vec<(String, u64, u64)> =
            s.applications.iter().map(|(n, c)| (n.to_string(), c.in_bytes, c.out_bytes)).collect();
        assert_eq!(apps, vec![("web".into(), 9000, 100), ("dns".into(), 0, 60), ("icmp".into(), 84, 84)]);
        let (_, d) = s.host("192.168.1.10".parse().unwrap()).unwrap();
        let happs: Vec<(String, u64, u64)> = d.apps.iter().map(|(n, rx, tx)| (n.to_string(), *rx, *tx)).collect();
        assert_eq!(happs, vec![("web".into(), 9000, 100), ("dns".into(), 0, 60), ("icmp".into(), 84, 0)]);
        let peers: Vec<(String, u64, u64)> = d.peers.iter().map(|p| (p.peer.to_string(), p.rx, p.tx)).collect();
        assert_eq!(
            peers,
            vec![("8.8.8.8".into(), 9000, 100), ("192.168.1.11".into(), 84, 0), ("1.1.1.1".into(), 0, 60)]
        );
        let ports: Vec<(u8, u16, String, u64, u64)> =
            s.ports.iter().map(|p| (p.protocol, p.port, p.app.to_string(), p.rx, p.tx)).collect();
        assert_eq!(ports, vec![(6, 443, "web".into(), 9000, 100), (17, 53, "dns".into(), 0, 60)]);
        assert_eq!(s.conversations.len(), 4);
        assert!(s.conversations_exact && s.ports_exact && d.peers_exact);
    }

    #[test]
    fn idle_host_rows_go_to_new_hosts() {
        // Two rows; a row idle for 3 steps may be taken.
        let (mut a, stats) = agg(2, 10);
        let ex: IpAddr = "192.168.1.1".parse().unwrap();
        let t0 = 1000 * 60_000;
        a.rotate(t0);
        a.add(ex, &rec("192.168.1.10", "8.8.8.8", 1, 1, 1, 2));
        a.add(ex, &rec("192.168.1.11", "8.8.8.8", 1, 1, 1, 2));
        a.rotate(t0 + 60_000);
        // .11 stays busy, .10 goes quiet.
        for k in 2..6 {
            a.add(ex, &rec("192.168.1.11", "8.8.8.8", 1, 1, 1, 2));
            // Not idle long enough yet: the newcomer goes to `other`.
            if k == 2 {
                a.add(ex, &rec("192.168.1.12", "8.8.8.8", 5, 1, 1, 2));
            }
            a.rotate(t0 + k * 60_000);
        }
        assert_eq!(stats::get(&stats.host_rows_reused), 0);
        a.add(ex, &rec("192.168.1.12", "8.8.8.8", 7, 1, 1, 2));
        let c = a.rotate(t0 + 6 * 60_000);
        assert_eq!(stats::get(&stats.host_rows_reused), 1);
        let ids: Vec<String> = a.snapshot().hosts.iter().map(|(h, _)| h.to_string()).collect();
        assert_eq!(ids, vec!["192.168.1.11", "192.168.1.12", "other"]);
        // The newcomer's own row, its own archive; what it sent before is in `other`.
        let twelve = Subject::Host(HostId::Ip("192.168.1.12".parse().unwrap()));
        assert!(c.added.iter().any(|(s, _, c)| *s == twelve && c.out_bytes == 7));
        assert_eq!(a.snapshot().hosts[1].1.out_bytes, 7);
        assert_eq!(a.snapshot().hosts[2].1.out_bytes, 5);
    }
}
