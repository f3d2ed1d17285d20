//! The decoder and its one state store: per exporter (address, version, source id / observation
//! domain — not the UDP port, which changes when a router restarts) the templates, sampling rates,
//! interface names and sequence numbers, all bounded; plus the small buffer of data sets that
//! arrived before their template. The state can be saved and restored across restarts.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::legacy::{self, Layout};
use super::netflow;
use super::template::{Template, TemplateSpec};
use super::{DecodeError, Decoded, FlowRecord};
use crate::fxhash::FxBuild;
use crate::net::normalize;
use crate::stats::{self, Stats};

/// The bounds of the store (each a config key under [collector]).
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_exporters: usize,
    pub max_templates_per_exporter: usize,
    pub max_fields_per_template: usize,
    /// Data sets held while their template is missing.
    pub pending_sets: usize,
    /// Bytes of data held in those sets, so a few large sets cannot take the budget of many.
    pub pending_bytes: usize,
    pub pending_timeout: Duration,
    /// Source ids / observation domains kept per sending address, so one address cycling domains
    /// cannot fill the exporter table.
    pub max_domains_per_exporter: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_exporters: 64,
            max_templates_per_exporter: 64,
            max_fields_per_template: 128,
            pending_sets: 256,
            pending_bytes: 4 << 20,
            pending_timeout: Duration::from_secs(1800),
            max_domains_per_exporter: 8,
        }
    }
}

/// Samplers and interface names per exporter are small tables; past these sizes new ones are ignored.
const MAX_SAMPLERS: usize = 64;
const MAX_IF_NAMES: usize = 1024;
const MAX_NAME_BYTES: usize = 64;

/// What the config says about one exporter address.
#[derive(Clone, Debug, Default)]
pub struct ExporterOverride {
    pub name: Option<String>,
    pub sampling_rate: Option<u32>,
    pub interfaces: HashMap<u32, String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExporterKey {
    pub addr: IpAddr,
    pub version: u16,
    /// v9 source id, IPFIX observation domain, v5 engine type/id; 0 otherwise.
    pub domain: u32,
}

#[derive(Debug, Default)]
pub(super) struct Exporter {
    pub templates: HashMap<u16, Template, FxBuild>,
    pub samplers: HashMap<u64, u64>,
    pub default_sampling: Option<u64>,
    pub if_names: HashMap<u32, String>,
    pub next_sequence: Option<u32>,
    pub lost: u64,
    pub datagrams: u64,
    pub records: u64,
    last_seen: u64,
}

/// Where sequence loss is counted.
#[derive(Clone, Copy)]
pub(super) enum SeqUnit {
    Datagrams,
    Records,
}

/// A data set waiting for its template.
pub(super) struct Pending {
    pub key: ExporterKey,
    pub template_id: u16,
    pub ctx: netflow::Ctx,
    pub data: Vec<u8>,
    pub at: Instant,
}

pub struct Decoder {
    pub(super) limits: Limits,
    pub(super) exporters: HashMap<ExporterKey, Exporter, FxBuild>,
    pub(super) pending: VecDeque<Pending>,
    overrides: HashMap<IpAddr, ExporterOverride, FxBuild>,
    pub(super) stats: Arc<Stats>,
    /// Bumped per datagram; the least recently seen exporter is evicted when the table is full.
    tick: u64,
    /// Templates, samplers or names changed since the state was last saved.
    dirty: bool,
}

impl Decoder {
    pub fn new(limits: Limits, overrides: HashMap<IpAddr, ExporterOverride>, stats: Arc<Stats>) -> Decoder {
        Decoder {
            exporters: HashMap::with_capacity_and_hasher(limits.max_exporters, FxBuild::default()),
            pending: VecDeque::with_capacity(limits.pending_sets),
            limits,
            overrides: overrides.into_iter().collect(),
            stats,
            tick: 0,
            dirty: false,
        }
    }

    /// Decode one datagram from `from`, handing each flow record to `sink`.
    pub fn decode(
        &mut self,
        from: IpAddr,
        data: &[u8],
        now: Instant,
        sink: &mut impl FnMut(&FlowRecord),
    ) -> Result<Decoded, DecodeError> {
        if data.len() < 4 {
            return Err(DecodeError::Short);
        }
        self.tick += 1;
        self.expire(now);
        let from = normalize(from);
        match u16::from_be_bytes([data[0], data[1]]) {
            1 => self.fixed(&legacy::V1, from, data, sink),
            5 => self.fixed(&legacy::V5, from, data, sink),
            7 => self.fixed(&legacy::V7, from, data, sink),
            9 => netflow::decode(self, from, 9, data, now, sink),
            10 => netflow::decode(self, from, 10, data, now, sink),
            _ => Err(DecodeError::UnknownVersion),
        }
    }

    fn fixed(
        &mut self,
        l: &Layout,
        from: IpAddr,
        data: &[u8],
        sink: &mut impl FnMut(&FlowRecord),
    ) -> Result<Decoded, DecodeError> {
        let h = legacy::header(l, data)?;
        let rate = self.override_rate(from).unwrap_or(h.sampling);
        let key = ExporterKey { addr: from, version: l.version, domain: u32::from(h.engine) };
        if let Some(e) = self.exporter(key) {
            e.datagrams += 1;
            e.records += h.count as u64;
            if rate > 1 {
                e.default_sampling = Some(rate);
            }
        }
        if l.has_sequence {
            // v5/v7 sequence numbers count flows.
            self.sequence(key, h.sequence, h.count as u32, SeqUnit::Records);
        }
        legacy::records(l, &h, data, rate, sink);
        Ok(Decoded { version: l.version, records: h.count, error: None })
    }

    /// The exporter's state, created on first sight; `None` only if it cannot be made room for.
    pub(super) fn exporter(&mut self, key: ExporterKey) -> Option<&mut Exporter> {
        if !self.exporters.contains_key(&key) {
            if self.limits.max_exporters == 0 {
                return None;
            }
            if self.exporters.len() >= self.limits.max_exporters {
                // Evict the exporter heard from least recently: a router that went away.
                let oldest = self.exporters.iter().min_by_key(|(_, e)| e.last_seen).map(|(k, _)| *k);
                if let Some(k) = oldest {
                    self.exporters.remove(&k);
                    self.pending.retain(|p| p.key != k);
                    stats::inc(&self.stats.exporter_evictions);
                    self.dirty = true;
                }
            }
            self.exporters.insert(key, Exporter::default());
            stats::set(&self.stats.exporters, self.exporters.len() as u64);
        }
        let tick = self.tick;
        let e = self.exporters.get_mut(&key)?;
        e.last_seen = tick;
        Some(e)
    }

    /// Compare a datagram's sequence number with the one expected; count the gap as lost.
    /// `advance` is what this datagram adds (1 datagram, or its records).
    pub(super) fn sequence(&mut self, key: ExporterKey, seq: u32, advance: u32, unit: SeqUnit) {
        let stats = self.stats.clone();
        let Some(e) = self.exporters.get_mut(&key) else { return };
        if let Some(expected) = e.next_sequence {
            // Wrap-safe: the distance ahead, modulo 2^32. A small step ahead is loss; a step back
            // (reordering, a duplicate) or a jump of over a million (an exporter restart) is not.
            let gap = seq.wrapping_sub(expected);
            if gap > 0 && gap < 1 << 20 {
                e.lost += u64::from(gap);
                match unit {
                    SeqUnit::Datagrams => stats::add(&stats.lost_datagrams, u64::from(gap)),
                    SeqUnit::Records => stats::add(&stats.lost_records, u64::from(gap)),
                }
            }
        }
        e.next_sequence = Some(seq.wrapping_add(advance));
    }

    /// Forget the sequence when this datagram's advance cannot be known (records without template).
    pub(super) fn sequence_unknown(&mut self, key: ExporterKey) {
        if let Some(e) = self.exporters.get_mut(&key) {
            e.next_sequence = None;
        }
    }

    pub(super) fn override_rate(&self, addr: IpAddr) -> Option<u64> {
        self.overrides.get(&addr).and_then(|o| o.sampling_rate).map(u64::from)
    }

    pub(super) fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// Drop held sets older than the timeout.
    pub fn expire(&mut self, now: Instant) {
        while let Some(p) = self.pending.front() {
            if now.duration_since(p.at) < self.limits.pending_timeout {
                break;
            }
            self.pending.pop_front();
            stats::inc(&self.stats.pending_expired);
        }
        stats::set(&self.stats.pending_sets, self.pending.len() as u64);
    }

    /// Record a sampler's rate (options data); `None` sets the exporter's default.
    /// (Takes the exporter's fields, not the exporter, so a template can stay borrowed meanwhile.)
    pub(super) fn set_sampling(
        samplers: &mut HashMap<u64, u64>,
        default: &mut Option<u64>,
        sampler: Option<u64>,
        rate: u64,
    ) -> bool {
        match sampler {
            Some(id) => {
                if samplers.get(&id) == Some(&rate) || (samplers.len() >= MAX_SAMPLERS && !samplers.contains_key(&id)) {
                    return false;
                }
                samplers.insert(id, rate);
            }
            None => {
                if *default == Some(rate) {
                    return false;
                }
                *default = Some(rate);
            }
        }
        true
    }

    pub(super) fn set_if_name(if_names: &mut HashMap<u32, String>, ifindex: u32, raw: &[u8]) -> bool {
        let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len()).min(MAX_NAME_BYTES);
        let name = String::from_utf8_lossy(&raw[..end]).trim().to_string();
        if name.is_empty() || if_names.get(&ifindex) == Some(&name) {
            return false;
        }
        if if_names.len() >= MAX_IF_NAMES && !if_names.contains_key(&ifindex) {
            return false;
        }
        if_names.insert(ifindex, name);
        true
    }

    /// Interface names: the config's first, then what exporters sent in options data.
    pub fn interface_names(&self) -> Vec<((IpAddr, u32), String)> {
        let mut names: HashMap<(IpAddr, u32), String> = HashMap::new();
        for (k, e) in &self.exporters {
            for (i, n) in &e.if_names {
                names.entry((k.addr, *i)).or_insert_with(|| n.clone());
            }
        }
        for (addr, o) in &self.overrides {
            for (i, n) in &o.interfaces {
                names.insert((*addr, *i), n.clone());
            }
        }
        let mut v: Vec<_> = names.into_iter().collect();
        v.sort();
        v
    }

    /// One row per exporter for the API.
    pub fn exporters(&self) -> Vec<ExporterView> {
        let mut v: Vec<ExporterView> = self
            .exporters
            .iter()
            .map(|(k, e)| ExporterView {
                key: *k,
                name: self.overrides.get(&k.addr).and_then(|o| o.name.clone()),
                templates: e.templates.len(),
                sampling: self.override_rate(k.addr).or(e.default_sampling).unwrap_or(1),
                samplers: e.samplers.len(),
                lost: e.lost,
                datagrams: e.datagrams,
                records: e.records,
            })
            .collect();
        v.sort_by_key(|x| x.key);
        v
    }

    /// Exporter names from the config, for graph titles and the API.
    pub fn exporter_name(&self, addr: IpAddr) -> Option<&str> {
        self.overrides.get(&addr).and_then(|o| o.name.as_deref())
    }

    /// True once, after templates, samplers or names changed.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// The state worth keeping across a restart.
    pub fn save(&self) -> SavedState {
        let mut exporters: Vec<SavedExporter> = self
            .exporters
            .iter()
            .filter(|(_, e)| {
                !e.templates.is_empty()
                    || !e.samplers.is_empty()
                    || e.default_sampling.is_some()
                    || !e.if_names.is_empty()
            })
            .map(|(k, e)| {
                let mut templates: Vec<TemplateSpec> = e.templates.values().map(|t| t.spec.clone()).collect();
                templates.sort_by_key(|t| t.id);
                SavedExporter {
                    key: *k,
                    templates,
                    samplers: e.samplers.iter().map(|(a, b)| (*a, *b)).collect(),
                    default_sampling: e.default_sampling,
                    if_names: e.if_names.iter().map(|(a, b)| (*a, b.clone())).collect(),
                }
            })
            .collect();
        exporters.sort_by_key(|e| e.key);
        SavedState { format: 1, exporters }
    }

    /// Load saved state; entries beyond today's limits, or templates that no longer compile, are
    /// dropped. Returns how many templates were restored.
    pub fn restore(&mut self, s: SavedState) -> usize {
        let mut n = 0;
        for se in s.exporters {
            let max_t = self.limits.max_templates_per_exporter;
            let max_f = self.limits.max_fields_per_template;
            let Some(e) = self.exporter(se.key) else { continue };
            for spec in se.templates.into_iter().take(max_t) {
                if let Ok(t) = Template::compile(spec, se.key.version, max_f) {
                    e.templates.insert(t.spec.id, t);
                    n += 1;
                }
            }
            e.samplers.extend(se.samplers.into_iter().take(MAX_SAMPLERS));
            e.default_sampling = se.default_sampling;
            e.if_names.extend(se.if_names.into_iter().take(MAX_IF_NAMES));
        }
        self.dirty = false;
        n
    }
}

/// An exporter as the API shows it.
#[derive(Debug, Clone)]
pub struct ExporterView {
    pub key: ExporterKey,
    pub name: Option<String>,
    pub templates: usize,
    pub sampling: u64,
    pub samplers: usize,
    pub lost: u64,
    pub datagrams: u64,
    pub records: u64,
}

/// What is persisted under archive.dir (JSON).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct SavedState {
    pub format: u32,
    pub exporters: Vec<SavedExporter>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct SavedExporter {
    pub key: ExporterKey,
    pub templates: Vec<TemplateSpec>,
    pub samplers: Vec<(u64, u64)>,
    pub default_sampling: Option<u64>,
    pub if_names: Vec<(u32, String)>,
}
