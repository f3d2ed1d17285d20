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
use super::template::{Int, Template, TemplateError, TemplateSpec, Values};
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

/// An exporter heard within this long is a live router: it is never evicted to make room for a
/// newcomer. Routers resend their templates at least this often (Cisco IOS and MikroTik every 30
/// minutes by default) and their flow caches expire far more often than that, so a router silent
/// for longer has gone (or restarted under a new source id). The window is stretched to
/// collector.pending_timeout when that is longer: an exporter whose data is still held waiting for
/// its template is not idle yet.
const RECENT: Duration = Duration::from_secs(30 * 60);

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
    /// When a datagram last came; `None` for state restored from disk and not heard since.
    heard: Option<Instant>,
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

/// What became of a template offered to an exporter, from the wire or from the saved state.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum TemplateFate {
    /// The same template again (exporters resend theirs every few datagrams).
    Refreshed,
    Stored,
    /// A reserved id, no fields, a zero record length, or more fields than allowed.
    Invalid,
    /// The exporter already has collector.max_templates_per_exporter other templates.
    TableFull,
}

/// What `restore` made of a saved state.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Restored {
    pub exporters: usize,
    pub templates: usize,
    /// Entries (an exporter, a template, a sampling rate, an interface name) refused as out of
    /// bounds; each is also counted in `flowpi_state_rejected_total`.
    pub rejected: usize,
}

pub struct Decoder {
    pub(super) limits: Limits,
    pub(super) exporters: HashMap<ExporterKey, Exporter, FxBuild>,
    /// The keys of each sending address, for collector.max_domains_per_exporter; touched only
    /// when a key is created or removed.
    domains: HashMap<IpAddr, Vec<ExporterKey>, FxBuild>,
    pending: VecDeque<Pending>,
    /// Bytes of data in `pending`, for collector.pending_bytes.
    pending_bytes: usize,
    overrides: HashMap<IpAddr, ExporterOverride, FxBuild>,
    pub(super) stats: Arc<Stats>,
    /// While the exporter table is full of live routers: no exporter can turn idle before this,
    /// so a flood of newcomers is refused without a scan of the table per datagram.
    full_until: Option<Instant>,
    /// Templates, samplers or names changed since the state was last saved.
    dirty: bool,
}

impl Decoder {
    pub fn new(limits: Limits, overrides: HashMap<IpAddr, ExporterOverride>, stats: Arc<Stats>) -> Decoder {
        Decoder {
            exporters: HashMap::with_capacity_and_hasher(limits.max_exporters, FxBuild::default()),
            domains: HashMap::default(),
            pending: VecDeque::with_capacity(limits.pending_sets),
            pending_bytes: 0,
            limits,
            overrides: overrides.into_iter().collect(),
            stats,
            full_until: None,
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
        self.expire(now);
        let from = normalize(from);
        match u16::from_be_bytes([data[0], data[1]]) {
            1 => self.fixed(&legacy::V1, from, data, now, sink),
            5 => self.fixed(&legacy::V5, from, data, now, sink),
            7 => self.fixed(&legacy::V7, from, data, now, sink),
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
        now: Instant,
        sink: &mut impl FnMut(&FlowRecord),
    ) -> Result<Decoded, DecodeError> {
        let h = legacy::header(l, data)?;
        let rate = self.override_rate(from).unwrap_or(h.sampling);
        let key = ExporterKey { addr: from, version: l.version, domain: u32::from(h.engine) };
        // These records would decode without state, but a refused key is refused for every
        // version alike: one rule, and the counter means what it says.
        let Some(e) = self.exporter(key, now) else {
            stats::inc(&self.stats.denied_domain_limit);
            return Ok(Decoded { version: l.version, records: 0, error: None });
        };
        e.datagrams += 1;
        e.records += h.count as u64;
        if rate > 1 {
            e.default_sampling = Some(rate);
        }
        if l.has_sequence {
            // v5/v7 sequence numbers count flows.
            self.sequence(key, h.sequence, h.count as u32, SeqUnit::Records);
        }
        legacy::records(l, &h, data, rate, sink);
        Ok(Decoded { version: l.version, records: h.count, error: None })
    }

    /// The exporter's state, created on first sight; `None` when the key is refused (see
    /// `admit`). The caller counts the refusal.
    #[inline]
    pub(super) fn exporter(&mut self, key: ExporterKey, now: Instant) -> Option<&mut Exporter> {
        if !self.exporters.contains_key(&key) && !self.admit(key, now) {
            return None;
        }
        let e = self.exporters.get_mut(&key)?;
        e.heard = Some(now);
        Some(e)
    }

    /// Make room for a key not seen before, or refuse it. Only new keys come here, so a known
    /// router never pays for this.
    ///
    /// Per sending address, past collector.max_domains_per_exporter, the new domain is refused
    /// unless one of that address's domains has gone idle (that one then makes way). Evicting the
    /// address's least recently heard domain regardless would let a flood cycling domains from a
    /// router's own (spoofed) address push the router's real 1 to 4 domains, and their templates,
    /// out on every cycle; refusing keeps them. Because an idle domain still makes way, a router
    /// that renumbers its domains gets in once the old ones have been silent for the window.
    ///
    /// The whole table (collector.max_exporters) follows the same rule: the least recently heard
    /// exporter makes way only if idle; when every one is live the newcomer is refused rather than
    /// a live router forgotten.
    #[cold]
    fn admit(&mut self, key: ExporterKey, now: Instant) -> bool {
        let window = RECENT.max(self.limits.pending_timeout);
        let idle = |heard: Option<Instant>| heard.is_none_or(|t| now.duration_since(t) >= window);
        let mine = self.domains.get(&key.addr).map_or(&[][..], Vec::as_slice);
        if mine.len() >= self.limits.max_domains_per_exporter {
            let oldest = mine.iter().map(|k| (*k, self.exporters.get(k).and_then(|e| e.heard))).min_by_key(|x| x.1);
            match oldest {
                Some((k, heard)) if idle(heard) => self.evict(k),
                _ => return false,
            }
        }
        if self.exporters.len() >= self.limits.max_exporters {
            if self.limits.max_exporters == 0 || self.full_until.is_some_and(|t| now < t) {
                return false;
            }
            match self.exporters.iter().map(|(k, e)| (*k, e.heard)).min_by_key(|x| x.1) {
                Some((k, heard)) if idle(heard) => self.evict(k),
                oldest => {
                    // Every exporter was heard at or after the oldest, and hearing only moves
                    // forward: none can turn idle before this.
                    self.full_until = oldest.and_then(|(_, heard)| heard).map(|t| t + window);
                    return false;
                }
            }
        }
        self.insert(key, Some(now));
        true
    }

    fn insert(&mut self, key: ExporterKey, heard: Option<Instant>) {
        self.exporters.insert(key, Exporter { heard, ..Exporter::default() });
        self.domains.entry(key.addr).or_default().push(key);
        stats::set(&self.stats.exporters, self.exporters.len() as u64);
    }

    /// Forget an exporter to make room, with the data held for it (its template can no longer
    /// reach it). Through `decode`, the held sets of an idle exporter have already expired, the
    /// window being at least pending_timeout, so `pending_evicted` moving means that changed.
    fn evict(&mut self, key: ExporterKey) {
        self.exporters.remove(&key);
        if let Some(keys) = self.domains.get_mut(&key.addr) {
            keys.retain(|k| *k != key);
            if keys.is_empty() {
                self.domains.remove(&key.addr);
            }
        }
        let (before, mut freed) = (self.pending.len(), 0);
        self.pending.retain(|p| {
            let keep = p.key != key;
            if !keep {
                freed += p.data.len();
            }
            keep
        });
        self.pending_bytes -= freed;
        stats::add(&self.stats.pending_evicted, (before - self.pending.len()) as u64);
        self.held_changed();
        self.full_until = None;
        stats::inc(&self.stats.exporter_evictions);
        stats::set(&self.stats.exporters, self.exporters.len() as u64);
        self.dirty = true;
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

    /// Drop held sets older than the timeout. Called per datagram: the common case, nothing to
    /// drop, is one comparison and writes nothing.
    #[inline]
    pub fn expire(&mut self, now: Instant) {
        if self.pending.front().is_some_and(|p| now.duration_since(p.at) >= self.limits.pending_timeout) {
            self.expire_held(now);
        }
    }

    #[cold]
    fn expire_held(&mut self, now: Instant) {
        while let Some(p) = self.pending.front() {
            if now.duration_since(p.at) < self.limits.pending_timeout {
                break;
            }
            self.drop_oldest();
            stats::inc(&self.stats.pending_expired);
        }
        self.held_changed();
    }

    /// Hold a data set until its template comes. Past collector.pending_sets or pending_bytes the
    /// oldest held sets make way: the exporter whose template is due soonest is one heard just
    /// now, the oldest sets are the likeliest orphans (a router gone, a sender that never sends
    /// templates), and refusing the newest instead would let one burst of junk shut a real
    /// router's data out until the junk expired. A set larger than the whole byte budget is
    /// refused.
    pub(super) fn hold(&mut self, p: Pending) {
        let size = p.data.len();
        if self.limits.pending_sets == 0 {
            stats::inc(&self.stats.pending_overflow);
            return;
        }
        if self.limits.pending_bytes == 0 || size > self.limits.pending_bytes {
            stats::inc(&self.stats.pending_bytes_overflow);
            return;
        }
        if self.pending.len() >= self.limits.pending_sets {
            self.drop_oldest();
            stats::inc(&self.stats.pending_overflow);
        }
        while self.pending_bytes + size > self.limits.pending_bytes {
            self.drop_oldest();
            stats::inc(&self.stats.pending_bytes_overflow);
        }
        self.pending_bytes += size;
        self.pending.push_back(p);
        self.held_changed();
    }

    /// Take out the held sets of one template, oldest first.
    pub(super) fn take_held(&mut self, key: ExporterKey, template_id: u16) -> Vec<Pending> {
        if !self.pending.iter().any(|p| p.key == key && p.template_id == template_id) {
            return Vec::new();
        }
        let (ready, keep): (Vec<Pending>, Vec<Pending>) =
            std::mem::take(&mut self.pending).into_iter().partition(|p| p.key == key && p.template_id == template_id);
        self.pending = keep.into();
        self.pending_bytes -= ready.iter().map(|p| p.data.len()).sum::<usize>();
        self.held_changed();
        ready
    }

    fn drop_oldest(&mut self) {
        if let Some(p) = self.pending.pop_front() {
            self.pending_bytes -= p.data.len();
        }
    }

    fn held_changed(&self) {
        stats::set(&self.stats.pending_sets, self.pending.len() as u64);
        stats::set(&self.stats.pending_bytes, self.pending_bytes as u64);
    }

    /// Offer a template to an exporter: the one path for templates from the wire and from the
    /// saved state, so both meet the same checks and bounds.
    pub(super) fn put_template(e: &mut Exporter, spec: TemplateSpec, version: u16, limits: &Limits) -> TemplateFate {
        // Exporters resend their templates every few datagrams: an unchanged one costs a comparison.
        if e.templates.get(&spec.id).is_some_and(|t| t.spec == spec) {
            return TemplateFate::Refreshed;
        }
        // Ids below 256 are set ids, not templates (RFC 3954 §5.2, RFC 7011 §3.3.2).
        if spec.id < 256 {
            return TemplateFate::Invalid;
        }
        let id = spec.id;
        let t = match Template::compile(spec, version, limits.max_fields_per_template) {
            Ok(t) => t,
            Err(TemplateError::Invalid) | Err(TemplateError::TooManyFields) => return TemplateFate::Invalid,
        };
        if !e.templates.contains_key(&id) && e.templates.len() >= limits.max_templates_per_exporter {
            return TemplateFate::TableFull;
        }
        e.templates.insert(id, t);
        TemplateFate::Stored
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
        let mut name = String::from_utf8_lossy(&raw[..end]).trim().to_string();
        // A cut through a multi-byte character becomes U+FFFD (3 bytes): drop it, so a name is
        // never longer than MAX_NAME_BYTES and a saved one restores.
        while name.len() > MAX_NAME_BYTES {
            name.pop();
        }
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

    /// Load saved state as if it had come on the wire: every entry meets the checks and bounds a
    /// datagram's would, because the file can be edited by whoever can write archive.dir, and it
    /// may have been written under limits since lowered. What fails is refused and counted; the
    /// rest is kept. For a fresh decoder, before the first datagram.
    pub fn restore(&mut self, s: SavedState) -> Restored {
        let mut r = Restored::default();
        let stats = self.stats.clone();
        let refuse = |r: &mut Restored, n: usize| {
            r.rejected += n;
            stats::add(&stats.state_rejected, n as u64);
        };
        for se in s.exporters {
            let key = ExporterKey { addr: normalize(se.key.addr), ..se.key };
            // Only keys `decode` makes: v1 and v7 have no engine field, v5 a 16-bit one.
            let plausible = match key.version {
                1 | 7 => key.domain == 0,
                5 => key.domain <= u32::from(u16::MAX),
                9 | 10 => true,
                _ => false,
            };
            if s.format != 1
                || !plausible
                || self.exporters.contains_key(&key)
                || self.domains.get(&key.addr).map_or(0, Vec::len) >= self.limits.max_domains_per_exporter
                || self.exporters.len() >= self.limits.max_exporters
            {
                refuse(&mut r, 1);
                continue;
            }
            // Restored state is no sign of life: until heard from, the exporter is idle and the
            // first to make way.
            self.insert(key, None);
            r.exporters += 1;
            let Some(e) = self.exporters.get_mut(&key) else { continue };
            if !matches!(key.version, 9 | 10) {
                // Only v9 and IPFIX send templates, samplers and interface names.
                refuse(&mut r, se.templates.len() + se.samplers.len() + se.if_names.len());
            } else {
                for spec in se.templates {
                    match Decoder::put_template(e, spec, key.version, &self.limits) {
                        TemplateFate::Stored => r.templates += 1,
                        TemplateFate::Refreshed => {}
                        TemplateFate::Invalid | TemplateFate::TableFull => refuse(&mut r, 1),
                    }
                }
                // A saved file never repeats an entry, so a repeat is refused like an excess one.
                for (sampler, rate) in se.samplers {
                    let kept = plausible_rate(rate).is_some_and(|rate| {
                        Decoder::set_sampling(&mut e.samplers, &mut e.default_sampling, Some(sampler), rate)
                    });
                    if !kept {
                        refuse(&mut r, 1);
                    }
                }
                for (ifindex, name) in se.if_names {
                    if name.len() > MAX_NAME_BYTES || !Decoder::set_if_name(&mut e.if_names, ifindex, name.as_bytes()) {
                        refuse(&mut r, 1);
                    }
                }
            }
            match se.default_sampling.map(plausible_rate) {
                Some(Some(rate)) => e.default_sampling = Some(rate),
                Some(None) => refuse(&mut r, 1),
                None => {}
            }
        }
        // Write the state back without what was refused.
        self.dirty = r.rejected > 0;
        r
    }
}

/// A saved sampling rate, believed only if an options record stating it would be (the wire's
/// check, [`Values::sampling_rate`], applied to it).
fn plausible_rate(rate: u64) -> Option<u64> {
    let mut v = Values::default();
    v.put(Int::SamplingInterval, rate);
    v.sampling_rate()
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::decode::netflow::tests::{flow, set, template, v9, Harness, FLOW};

    const A: &str = "192.0.2.1";

    /// Template 256 as saved: src (8/4), dst (12/4), bytes (1/4), packets (2/4), IANA.
    fn flow_spec(id: u16) -> serde_json::Value {
        json!({"id": id, "scope_fields": 0, "options": false, "fields": [[8, 4, 0], [12, 4, 0], [1, 4, 0], [2, 4, 0]]})
    }

    fn exporter(addr: &str, version: u16, domain: u32) -> serde_json::Value {
        json!({"key": {"addr": addr, "version": version, "domain": domain},
               "templates": [], "samplers": [], "default_sampling": null, "if_names": []})
    }

    fn restore(h: &mut Harness, exporters: Vec<serde_json::Value>) -> Restored {
        h.dec.restore(serde_json::from_value(json!({"format": 1, "exporters": exporters})).unwrap())
    }

    #[test]
    fn a_tampered_state_is_refused_entry_by_entry() {
        let mut h = Harness::new(Limits::default());
        let mut a = exporter(A, 9, 0);
        a["templates"] = json!([
            flow_spec(256),
            // 200 fields where collector.max_fields_per_template is 128.
            {"id": 257, "scope_fields": 0, "options": false, "fields": vec![[1, 4, 0]; 200]},
            // A set id, not a template id.
            flow_spec(2),
        ]);
        // 2^60, a sane 1:100, and 0.
        a["samplers"] = json!([[1, 1u64 << 60], [2, 100], [3, 0]]);
        a["default_sampling"] = json!(1u64 << 60);
        a["if_names"] = json!([[1, "wan"], [2, "x".repeat(MAX_NAME_BYTES + 1)], [3, ""]]);
        let mut v5 = exporter("192.0.2.4", 5, 3);
        v5["templates"] = json!([flow_spec(256)]);
        v5["default_sampling"] = json!(10);
        let r = restore(
            &mut h,
            vec![
                a,
                exporter(A, 9, 0),               // the same key again
                exporter("192.0.2.2", 42, 0),    // no such version
                exporter("192.0.2.3", 5, 70000), // v5's engine field is 16 bits
                v5,                              // kept, but v5 has no templates
            ],
        );
        assert_eq!(r, Restored { exporters: 2, templates: 1, rejected: 11 });
        assert_eq!(h.get(|s| &s.state_rejected), 11);
        let views = h.dec.exporters();
        assert_eq!((views[0].templates, views[0].samplers, views[0].sampling), (1, 1, 1));
        assert_eq!((views[1].key.version, views[1].templates, views[1].sampling), (5, 0, 10));
        assert_eq!(h.dec.interface_names(), vec![((A.parse().unwrap(), 1), "wan".to_string())]);
        // The finding: a restored 2^60 turned one 1000-byte flow into 1.8e19 bytes.
        assert_eq!(h.feed(A, &v9(1, 0, &[set(256, &flow(2, 1000))])), 1000);
        // What was refused is written back without it.
        assert!(h.dec.take_dirty());
    }

    #[test]
    fn restore_keeps_to_the_table_bounds() {
        let limits = Limits {
            max_exporters: 3,
            max_domains_per_exporter: 2,
            max_templates_per_exporter: 2,
            ..Limits::default()
        };
        let mut h = Harness::new(limits);
        let mut a0 = exporter(A, 9, 0);
        a0["templates"] = json!([flow_spec(256), flow_spec(257), flow_spec(258)]);
        let r = restore(
            &mut h,
            vec![
                a0,                          // its third template is one too many
                exporter(A, 10, 0),          // same address, its second domain
                exporter(A, 9, 1),           // a third domain for A
                exporter("192.0.2.2", 9, 0), // the table's third exporter
                exporter("192.0.2.3", 9, 0), // a fourth
            ],
        );
        assert_eq!(r, Restored { exporters: 3, templates: 2, rejected: 3 });
        assert_eq!(h.get(|s| &s.exporters), 3);
        let keys: Vec<(String, u16, u32)> =
            h.dec.exporters().iter().map(|e| (e.key.addr.to_string(), e.key.version, e.key.domain)).collect();
        assert_eq!(keys, [(A.to_string(), 9, 0), (A.to_string(), 10, 0), ("192.0.2.2".to_string(), 9, 0)]);
    }

    #[test]
    fn a_saved_state_restores_whole() {
        let mut h = Harness::new(Limits::default());
        // Options template 300 (v9 flowset 1): scope length 4 (Interface, 4 bytes), options
        // length 12: sampler id (48/1), sampling interval (34/4), interface name (82/3).
        let mut opt = Vec::new();
        opt.extend(300u16.to_be_bytes()); // template id
        opt.extend(4u16.to_be_bytes()); // scope length, bytes
        opt.extend(12u16.to_be_bytes()); // options length, bytes
        opt.extend([0, 2, 0, 4]); // scope: Interface, 4 bytes
        opt.extend([0, 48, 0, 1, 0, 34, 0, 4, 0, 82, 0, 3]); // sampler id, interval, name
        let mut rec = Vec::new();
        rec.extend(7u32.to_be_bytes()); // ifIndex 7
        rec.push(1); // sampler 1
        rec.extend(64u32.to_be_bytes()); // 1 in 64
        rec.extend(b"lan"); // name
        h.feed(A, &v9(1, 0, &[set(0, &template(256, FLOW)), set(1, &opt), set(300, &rec)]));
        let saved = h.dec.save();
        let mut h2 = Harness::new(Limits::default());
        let r = h2.dec.restore(serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap());
        assert_eq!(r, Restored { exporters: 1, templates: 2, rejected: 0 });
        assert_eq!(h2.dec.save(), saved);
        assert!(!h2.dec.take_dirty());
    }

    #[test]
    fn a_name_cut_through_a_character_still_restores() {
        let mut names = HashMap::new();
        // 63 bytes of 'a' and a 2-byte 'é': the cut at 64 bytes halves the 'é'.
        let raw = [vec![b'a'; 63], "é".as_bytes().to_vec()].concat();
        assert!(Decoder::set_if_name(&mut names, 1, &raw));
        assert_eq!(names[&1], "a".repeat(63));
    }

    #[test]
    fn restored_exporters_make_way_first() {
        let mut h = Harness::new(Limits { max_exporters: 1, ..Limits::default() });
        restore(&mut h, vec![exporter(A, 9, 0)]);
        // Not heard since the restart: idle, so a live newcomer takes its place at once.
        assert_eq!(h.feed("192.0.2.9", &v9(1, 0, &[set(0, &template(256, FLOW)), set(256, &flow(2, 5))])), 5);
        assert_eq!((h.get(|s| &s.exporter_evictions), h.get(|s| &s.denied_domain_limit)), (1, 0));
    }

    #[test]
    fn eviction_drops_and_counts_the_held_data() {
        let mut h = Harness::new(Limits { max_exporters: 1, ..Limits::default() });
        h.feed(A, &v9(1, 0, &[set(256, &flow(2, 5))]));
        assert_eq!((h.get(|s| &s.pending_sets), h.get(|s| &s.pending_bytes)), (1, 16));
        // Straight to the table, past the window, without `decode`'s expiry running first (which
        // through `decode` would have dropped the set already).
        let key = ExporterKey { addr: "192.0.2.9".parse().unwrap(), version: 9, domain: 0 };
        assert!(h.dec.exporter(key, h.t + RECENT).is_some());
        assert_eq!(h.get(|s| &s.pending_evicted), 1);
        assert_eq!((h.get(|s| &s.pending_sets), h.get(|s| &s.pending_bytes)), (0, 0));
    }

    #[test]
    fn v5_engines_count_against_the_domain_bound() {
        let mut h = Harness::new(Limits { max_domains_per_exporter: 8, ..Limits::default() });
        let rec = FlowRecord {
            src: Some("192.168.1.2".parse().unwrap()),
            dst: Some("8.8.8.8".parse().unwrap()),
            bytes: 100,
            packets: 1,
            ..FlowRecord::default()
        };
        let mut got = 0;
        for engine in 0u16..20 {
            let mut d = legacy::encode(&[rec], 0, 0, 0);
            d[20..22].copy_from_slice(&engine.to_be_bytes()); // engine type, engine id
            got += h.feed(A, &d);
        }
        assert_eq!(got, 8 * 100);
        assert_eq!(h.get(|s| &s.denied_domain_limit), 12);
        assert_eq!(h.dec.exporters().len(), 8);
    }
}
