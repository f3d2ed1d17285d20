//! The decoders' one state store: per exporter (address, version, source id / observation
//! domain — not the UDP port, which changes when a router restarts) the templates, sampling rates,
//! interface names and sequence numbers, all bounded; plus the small buffer of data sets that
//! arrived before their template. The state can be saved and restored across restarts. The
//! decoders take the store by `&mut`; it knows nothing of them.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::fields::Field;
use super::template::{heap_block, map_slot, Ctx, Template, TemplateError, TemplateSpec, Values};
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
    /// Memory an exporter's templates may take ([`Template::cost`]): the count bound alone let
    /// 64 templates of 128 fields each per exporter take 6 MB in all.
    pub max_template_bytes_per_exporter: usize,
    /// Memory all exporters' templates may take together.
    pub max_template_bytes: usize,
    /// Memory an exporter's interface names may take (see [`name_cost`]).
    pub max_interface_name_bytes_per_exporter: usize,
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
            // A template of 20 fields takes about 850 bytes, of 60 fields 1,200. A home router
            // sends 2 to 6; the busiest exporter among the shared captures, a Cisco ASA with its
            // NSEL templates, needs 20 to 32 KiB. All of them together: 16 such exporters, or
            // hundreds of home routers. A name of 10 to 20 bytes takes about 90: room for 80 to
            // 90 interfaces each.
            max_template_bytes_per_exporter: 32 << 10,
            max_template_bytes: 512 << 10,
            max_interface_name_bytes_per_exporter: 8 << 10,
        }
    }
}

/// Samplers and interface names per exporter are small tables; past these sizes new ones are ignored
/// (names are bounded in bytes too, and counted).
const MAX_SAMPLERS: usize = 64;
const MAX_IF_NAMES: usize = 1024;
pub(super) const MAX_NAME_BYTES: usize = 64;

/// An exporter heard within this long is a live router: it is never evicted to make room for a
/// newcomer. Routers resend their templates at least this often (Cisco IOS and MikroTik every 30
/// minutes by default) and their flow caches expire far more often than that, so a router silent
/// for longer has gone (or restarted under a new source id). The window is stretched to
/// collector.pending_timeout when that is longer: an exporter whose data is still held waiting for
/// its template is not idle yet.
pub(super) const RECENT: Duration = Duration::from_secs(30 * 60);

/// Addresses remembered in the table of refusals for the doctor: a handful says who is being
/// kept out; a flood from many addresses only replaces the least recent of them.
const MAX_REFUSED: usize = 8;

/// How firmly an exporter holds its place, lowest first: the order in which exporters make way
/// for a newcomer when the table, or their address's domains, are full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Standing {
    /// Neither heard nor restored within the window.
    Idle,
    /// Live, but never carried a flow record: templates only (or data whose template never came).
    Unproven,
    /// Carried flow records, but its sequence numbers have jumped and never continued.
    Jumbled,
    /// Carried flow records, no sequence number to compare yet (a first datagram).
    Unconfirmed,
    /// Carried flow records with continuing sequence numbers: never made to make way while live.
    Confirmed,
}

/// Why a new key was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Its address holds collector.max_domains_per_exporter confirmed live domains.
    Domains,
    /// collector.max_exporters confirmed live exporters hold the table.
    Table,
}

/// An address whose new keys were refused, for the doctor.
#[derive(Clone, Debug)]
pub struct RefusedView {
    /// The last key refused.
    pub key: ExporterKey,
    pub why: Refusal,
    /// The bound that was full (collector.max_domains_per_exporter or max_exporters).
    pub limit: usize,
    pub datagrams: u64,
    pub first: Instant,
    pub last: Instant,
}

/// What the config says about one exporter address.
#[derive(Clone, Debug)]
pub struct ExporterOverride {
    pub name: Option<String>,
    pub sampling_rate: Option<u32>,
    pub interfaces: HashMap<u32, String>,
    /// The interfaces that are the internet line (`wan = [...]`), when the config says.
    pub wan: Option<Vec<u32>>,
    /// Its records count for devices (false: for its interfaces only, `devices = false`).
    pub devices: bool,
}

impl Default for ExporterOverride {
    fn default() -> Self {
        ExporterOverride { name: None, sampling_rate: None, interfaces: HashMap::new(), wan: None, devices: true }
    }
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
    pub templates: Templates,
    pub samplers: HashMap<u64, u64>,
    pub default_sampling: Option<u64>,
    pub if_names: IfNames,
    pub next_sequence: Option<u32>,
    pub lost: u64,
    pub datagrams: u64,
    pub records: u64,
    /// When a datagram last came; `None` for state restored from disk and not heard since.
    heard: Option<Instant>,
    /// When it was last heard, or restored: what idleness is measured from, so restored state
    /// keeps its place for one window (see [`Standing`]).
    seen: Option<Instant>,
    /// Flow records were decoded from it (here, or before a restart).
    pub carried: bool,
    /// It carried flow records and a datagram's sequence number was the one expected after the
    /// previous datagram. A router's sequence numbers continue; a neighbour that sends templates
    /// only, or data with made-up sequence numbers, never gets here.
    pub confirmed: bool,
    /// A datagram's sequence number was not the one expected (made up, or loss).
    jumped: bool,
    /// Data that came before its template, for the doctor.
    pub missing: MissingTemplates,
}

/// Template ids kept per exporter in [`MissingTemplates`]: enough to name what a router sends
/// (one per record layout, IPv4 and IPv6, options), few enough that a sender cycling ids costs
/// nothing.
const MAX_MISSING_IDS: usize = 8;

/// Data sets that came while their template was unknown, since the last time every template
/// asked for had come. Touched only on that path and when a new template is stored, never per
/// record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MissingTemplates {
    /// Template ids whose data came first and that have not come since (at most
    /// [`MAX_MISSING_IDS`], sorted).
    pub ids: Vec<u16>,
    /// Data sets without their template.
    pub sets: u64,
    pub first: Option<Instant>,
    pub last: Option<Instant>,
}

impl MissingTemplates {
    #[cold]
    pub(super) fn note(&mut self, id: u16, now: Instant) {
        if let Err(i) = self.ids.binary_search(&id) {
            if self.ids.len() < MAX_MISSING_IDS {
                self.ids.insert(i, id);
            }
        }
        self.sets += 1;
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// A template came: its data no longer waits. Once none does, the account starts over.
    pub(super) fn arrived(&mut self, id: u16) {
        if let Ok(i) = self.ids.binary_search(&id) {
            self.ids.remove(i);
            if self.ids.is_empty() {
                *self = MissingTemplates::default();
            }
        }
    }
}

/// An exporter's templates, with what they take in memory.
#[derive(Debug, Default)]
pub(super) struct Templates {
    map: HashMap<u16, Template, FxBuild>,
    /// What they take ([`Template::cost`]), and what of it no data came for.
    bytes: usize,
    unused: usize,
}

impl Templates {
    #[inline]
    pub(super) fn get(&self, id: &u16) -> Option<&Template> {
        self.map.get(id)
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Template> {
        self.map.values()
    }

    fn insert(&mut self, id: u16, t: Template) {
        self.remove(id);
        self.bytes += t.cost();
        if !t.used {
            self.unused += t.cost();
        }
        self.map.insert(id, t);
    }

    fn remove(&mut self, id: u16) -> Option<Template> {
        let t = self.map.remove(&id)?;
        self.bytes -= t.cost();
        if !t.used {
            self.unused -= t.cost();
        }
        Some(t)
    }

    /// Data came for template `id`; true the first time.
    pub(super) fn mark_used(&mut self, id: u16) -> bool {
        match self.map.get_mut(&id) {
            Some(t) if !t.used => {
                t.used = true;
                self.unused -= t.cost();
                true
            }
            _ => false,
        }
    }

    /// The template that makes way first: one no data came for, else (unless `unused_only`) any;
    /// the largest.
    fn largest(&self, unused_only: bool) -> Option<(u16, usize)> {
        self.map
            .iter()
            .filter(|(_, t)| !unused_only || !t.used)
            .max_by_key(|(k, t)| (!t.used, t.cost(), std::cmp::Reverse(**k)))
            .map(|(k, t)| (*k, t.cost()))
    }
}

impl Exporter {
    /// Memory its templates and names take.
    pub(super) fn state_bytes(&self) -> (usize, usize) {
        (self.templates.bytes, self.if_names.bytes)
    }
}

/// Interface names from options data, bounded in count and in bytes.
#[derive(Debug, Default)]
pub(super) struct IfNames {
    names: HashMap<u32, IfName, FxBuild>,
    /// What they take ([`name_cost`]).
    bytes: usize,
}

/// What a name of `len` bytes takes: its slot in the map and its allocation.
pub(super) fn name_cost(len: usize) -> usize {
    map_slot(std::mem::size_of::<(u32, IfName)>()) + heap_block(len)
}

#[derive(Debug)]
struct IfName {
    name: Box<str>,
    /// The interface was seen in flows (it had a row in the interfaces view when the state was
    /// saved, or was saved before a restart): only such names are saved.
    in_flows: bool,
}

/// What became of an interface name from options data.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NameFate {
    Unchanged,
    Set,
    /// Past MAX_IF_NAMES or collector.max_interface_name_bytes_per_exporter.
    Refused,
}

impl IfNames {
    /// Set an interface's name from an options record's bytes (NUL-terminated or not, trimmed).
    pub(super) fn set(&mut self, ifindex: u32, raw: &[u8], max_bytes: usize) -> NameFate {
        let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len()).min(MAX_NAME_BYTES);
        let mut name = String::from_utf8_lossy(&raw[..end]).trim().to_string();
        // A cut through a multi-byte character becomes U+FFFD (3 bytes): drop it, so a name is
        // never longer than MAX_NAME_BYTES and a saved one restores.
        while name.len() > MAX_NAME_BYTES {
            name.pop();
        }
        let old = self.names.get(&ifindex);
        if name.is_empty() || old.is_some_and(|o| *o.name == name) {
            return NameFate::Unchanged;
        }
        let freed = old.map_or(0, |o| name_cost(o.name.len()));
        if (old.is_none() && self.names.len() >= MAX_IF_NAMES) || self.bytes - freed + name_cost(name.len()) > max_bytes
        {
            return NameFate::Refused;
        }
        self.bytes = self.bytes - freed + name_cost(name.len());
        let in_flows = old.is_some_and(|o| o.in_flows);
        self.names.insert(ifindex, IfName { name: name.into_boxed_str(), in_flows });
        NameFate::Set
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, &str)> {
        self.names.iter().map(|(i, n)| (*i, &*n.name))
    }
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
    pub ctx: Ctx,
    pub data: Vec<u8>,
    pub at: Instant,
}

/// What became of a template offered to an exporter, from the wire or from the saved state.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum TemplateFate {
    /// The same template again (exporters resend theirs every few datagrams).
    Refreshed,
    /// Stored, after `evicted` templates no data came for made way.
    Stored { evicted: usize },
    /// A reserved id, no fields, a zero record length, or more fields than allowed.
    Invalid,
    /// No room within collector.max_templates_per_exporter and max_template_bytes_per_exporter,
    /// even without the exporter's templates no data came for.
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

/// Everything the decoders remember, bounded by [`Limits`].
pub(super) struct Store {
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
    /// While the exporter table is full of confirmed live routers: none can turn idle before
    /// this, so a flood of newcomers is refused without a scan of the table per datagram.
    full_until: Option<Instant>,
    /// Addresses whose new keys were refused, for the doctor (at most [`MAX_REFUSED`]).
    refused: Vec<RefusedView>,
    /// What all templates take, for collector.max_template_bytes.
    template_bytes: usize,
    /// Templates, samplers or names changed since the state was last saved.
    dirty: bool,
}

impl Store {
    pub(super) fn new(limits: Limits, overrides: HashMap<IpAddr, ExporterOverride>, stats: Arc<Stats>) -> Store {
        Store {
            exporters: HashMap::with_capacity_and_hasher(limits.max_exporters, FxBuild::default()),
            domains: HashMap::default(),
            pending: VecDeque::with_capacity(limits.pending_sets),
            pending_bytes: 0,
            limits,
            overrides: overrides.into_iter().collect(),
            stats,
            full_until: None,
            refused: Vec::new(),
            template_bytes: 0,
            dirty: false,
        }
    }

    /// The exporter's state, created on first sight; `None` when the key is refused (see
    /// `admit`), which is counted and noted for the doctor.
    #[inline]
    pub(super) fn exporter(&mut self, key: ExporterKey, now: Instant) -> Option<&mut Exporter> {
        if !self.exporters.contains_key(&key) {
            if let Err(why) = self.admit(key, now) {
                self.refuse(key, why, now);
                return None;
            }
        }
        let e = self.exporters.get_mut(&key)?;
        e.heard = Some(now);
        e.seen = Some(now);
        Some(e)
    }

    /// How much an exporter's place is worth keeping, from a newcomer's point of view.
    fn standing(&self, e: &Exporter, now: Instant) -> Standing {
        let window = RECENT.max(self.limits.pending_timeout);
        if e.seen.is_none_or(|t| now.duration_since(t) >= window) {
            Standing::Idle
        } else if !e.carried {
            Standing::Unproven
        } else if !e.confirmed && e.jumped {
            Standing::Jumbled
        } else if !e.confirmed {
            Standing::Unconfirmed
        } else {
            Standing::Confirmed
        }
    }

    /// The exporter among `keys` that makes way for a newcomer, if any: the lowest standing below
    /// [`Standing::Confirmed`]; within a standing, one of the address holding the most keys (a
    /// router uses 1 to 4 domains, a flood cycles through many), then the least recently seen.
    fn victim<'a>(&self, keys: impl Iterator<Item = &'a ExporterKey>, now: Instant) -> Option<ExporterKey> {
        keys.filter_map(|k| {
            let e = self.exporters.get(k)?;
            let standing = self.standing(e, now);
            let held = self.domains.get(&k.addr).map_or(0, Vec::len);
            // Idle ones simply least recently seen first.
            let held = if standing == Standing::Idle { 0 } else { held };
            (standing != Standing::Confirmed).then_some(((standing, std::cmp::Reverse(held), e.seen), *k))
        })
        .min_by_key(|x| x.0)
        .map(|x| x.1)
    }

    /// Make room for a key not seen before, or refuse it. Only new keys come here, so a known
    /// router never pays for this.
    ///
    /// A place is taken from the exporter of the lowest [`Standing`]: idle, then one that never
    /// carried flow records (templates only: a neighbour filling the table), then one that did
    /// with sequence numbers that jumped and never continued (made up), then one heard once. A
    /// live exporter that carried data with continuing sequence numbers is never pushed out;
    /// neither is restored state of one, for a window after the restart, so a router whose
    /// datagrams come after a flood's keeps its place and templates. When only such exporters
    /// hold the places, the newcomer is refused.
    ///
    /// Per sending address the places are collector.max_domains_per_exporter, so a flood cycling
    /// domains from a router's own (spoofed) address competes for that address's places only,
    /// and never against the router's confirmed domains. The whole table (collector.max_exporters)
    /// follows the same rule.
    #[cold]
    fn admit(&mut self, key: ExporterKey, now: Instant) -> Result<(), Refusal> {
        let mine = self.domains.get(&key.addr).map_or(&[][..], Vec::as_slice);
        if mine.len() >= self.limits.max_domains_per_exporter {
            match self.victim(mine.iter(), now) {
                Some(k) => self.evict(k),
                None => return Err(Refusal::Domains),
            }
        }
        if self.exporters.len() >= self.limits.max_exporters {
            if self.limits.max_exporters == 0 || self.full_until.is_some_and(|t| now < t) {
                return Err(Refusal::Table);
            }
            match self.victim(self.exporters.keys(), now) {
                Some(k) => self.evict(k),
                None => {
                    // Every exporter is confirmed and live; standing only rises until one falls
                    // idle, and being heard only moves that later: none can make way before this.
                    let window = RECENT.max(self.limits.pending_timeout);
                    self.full_until = self.exporters.values().filter_map(|e| e.seen).min().map(|t| t + window);
                    return Err(Refusal::Table);
                }
            }
        }
        self.insert(key, now);
        Ok(())
    }

    /// Count a refused datagram and note its address for the doctor.
    #[cold]
    fn refuse(&mut self, key: ExporterKey, why: Refusal, now: Instant) {
        stats::inc(&self.stats.denied_domain_limit);
        let limit = match why {
            Refusal::Domains => self.limits.max_domains_per_exporter,
            Refusal::Table => self.limits.max_exporters,
        };
        let fresh = RefusedView { key, why, limit, datagrams: 0, first: now, last: now };
        let i = match self.refused.iter().position(|r| r.key.addr == key.addr) {
            Some(i) => i,
            None if self.refused.len() < MAX_REFUSED => {
                self.refused.push(fresh);
                self.refused.len() - 1
            }
            None => {
                // The least recently refused address makes way: the doctor speaks of what is
                // happening now.
                let i = self.refused.iter().enumerate().min_by_key(|(_, r)| r.last).map_or(0, |(i, _)| i);
                self.refused[i] = fresh;
                i
            }
        };
        let r = &mut self.refused[i];
        r.key = key;
        r.why = why;
        r.limit = limit;
        r.datagrams += 1;
        r.last = now;
    }

    /// The addresses whose new keys were refused, most datagrams first.
    pub fn refused(&self) -> Vec<RefusedView> {
        let mut v = self.refused.clone();
        v.sort_by(|a, b| b.datagrams.cmp(&a.datagrams).then(a.key.cmp(&b.key)));
        v
    }

    fn insert(&mut self, key: ExporterKey, seen: Instant) {
        self.exporters.insert(key, Exporter { seen: Some(seen), ..Exporter::default() });
        self.domains.entry(key.addr).or_default().push(key);
        stats::set(&self.stats.exporters, self.exporters.len() as u64);
    }

    /// Forget an exporter to make room, with the data held for it (its template can no longer
    /// reach it). Through `decode`, the held sets of an idle exporter have already expired, the
    /// window being at least pending_timeout, so `pending_evicted` moving means that changed.
    fn evict(&mut self, key: ExporterKey) {
        if let Some(e) = self.exporters.remove(&key) {
            self.template_bytes -= e.templates.bytes;
        }
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

    /// Offer a template to an exporter: the one path for templates from the wire and from the
    /// saved state, so both meet the same checks and bounds.
    ///
    /// Within the exporter (collector.max_templates_per_exporter, max_template_bytes_per_exporter)
    /// its templates no data came for make way, as a router announces some it has no traffic for
    /// and a neighbour announces nothing else. Within the store (collector.max_template_bytes)
    /// other exporters' templates make way as [`Store::template_spare`] says: never one data came
    /// for from a router heard with data, and never the asker's own (a router's first datagram
    /// announces all its templates before any data). When that would not make room, the new
    /// template is refused, before anything is dropped.
    pub(super) fn put_template(&mut self, key: ExporterKey, spec: TemplateSpec, now: Instant) -> TemplateFate {
        let Some(e) = self.exporters.get(&key) else { return TemplateFate::Invalid };
        // Exporters resend their templates every few datagrams: an unchanged one costs a comparison.
        if e.templates.get(&spec.id).is_some_and(|t| t.spec == spec) {
            return TemplateFate::Refreshed;
        }
        // Ids below 256 are set ids, not templates (RFC 3954 §5.2, RFC 7011 §3.3.2).
        if spec.id < 256 {
            return TemplateFate::Invalid;
        }
        let id = spec.id;
        let t = match Template::compile(spec, key.version, self.limits.max_fields_per_template) {
            Ok(t) => t,
            Err(TemplateError::Invalid) | Err(TemplateError::TooManyFields) => return TemplateFate::Invalid,
        };
        let cost = t.cost();
        let old = e.templates.get(&id).map_or(0, Template::cost);
        // The exporter's own: which of its templates no data came for go, smallest ids first.
        let (mut count, mut bytes) = (e.templates.len() - usize::from(old > 0), e.templates.bytes - old);
        let mut spare: Vec<(u16, usize)> =
            e.templates.map.iter().filter(|(k, t)| **k != id && !t.used).map(|(k, t)| (*k, t.cost())).collect();
        spare.sort_unstable();
        let fits = |count: usize, bytes: usize| {
            count < self.limits.max_templates_per_exporter
                && bytes + cost <= self.limits.max_template_bytes_per_exporter
        };
        let mut own = Vec::new();
        for (k, c) in spare {
            if fits(count, bytes) {
                break;
            }
            own.push(k);
            (count, bytes) = (count - 1, bytes - c);
        }
        if !fits(count, bytes) {
            return TemplateFate::TableFull;
        }
        // The store's: what is left to free, and whether the others can give it.
        let freed_own = e.templates.bytes - old - bytes;
        let total = self.template_bytes - old - freed_own + cost;
        let need = total.saturating_sub(self.limits.max_template_bytes);
        if need > 0 {
            let asker = self.standing(e, now);
            let spare: usize = self
                .exporters
                .iter()
                .filter(|(k, _)| **k != key)
                .filter_map(|(_, o)| self.template_spare(o, asker, now))
                .map(|(_, bytes, _)| bytes)
                .sum();
            if spare < need {
                return TemplateFate::TableFull;
            }
        }
        let mut evicted = own.len();
        let e = self.exporters.get_mut(&key).expect("checked above");
        for k in own {
            e.templates.remove(k);
        }
        self.template_bytes -= freed_own + old;
        let asker = self.standing(&self.exporters[&key], now);
        while self.template_bytes + cost > self.limits.max_template_bytes {
            let victim = self
                .exporters
                .iter()
                .filter(|(k, _)| **k != key)
                .filter_map(|(k, o)| {
                    self.template_spare(o, asker, now)
                        .map(|(rank, bytes, unused_only)| ((rank, std::cmp::Reverse(bytes)), (*k, unused_only)))
                })
                .min_by_key(|x| x.0)
                .map(|x| x.1);
            let Some((victim, unused_only)) = victim else { break };
            let Some(v) = self.exporters.get_mut(&victim) else { break };
            let Some((k, _)) = v.templates.largest(unused_only) else { break };
            if let Some(gone) = v.templates.remove(k) {
                self.template_bytes -= gone.cost();
                evicted += 1;
                self.dirty = true;
            }
        }
        // What was found to spare above was freed.
        debug_assert!(self.template_bytes + cost <= self.limits.max_template_bytes);
        let e = self.exporters.get_mut(&key).expect("checked above");
        e.templates.insert(id, t);
        e.missing.arrived(id);
        self.template_bytes += cost;
        TemplateFate::Stored { evicted }
    }

    /// What another exporter can give up for collector.max_template_bytes when one of `asker`'s
    /// standing needs room: (rank, bytes, only templates no data came for). First any template of
    /// an exporter that never carried flows, or whose sequence numbers never continued, or idle;
    /// then, to an exporter heard with data, templates no data came for of routers heard with
    /// data. Lowest standing first within a rank.
    fn template_spare(&self, e: &Exporter, asker: Standing, now: Instant) -> Option<((u8, Standing), usize, bool)> {
        let standing = self.standing(e, now);
        if standing <= Standing::Jumbled && e.templates.bytes > 0 {
            Some(((0, standing), e.templates.bytes, false))
        } else if standing > Standing::Jumbled && asker >= Standing::Unconfirmed && e.templates.unused > 0 {
            Some(((1, standing), e.templates.unused, true))
        } else {
            None
        }
    }

    /// IPFIX template withdrawal (RFC 7011 §8.1): one template, or all data (or options)
    /// templates for id 2 (3). How many went.
    pub(super) fn withdraw(&mut self, key: ExporterKey, id: u16, options: bool) -> usize {
        let Some(e) = self.exporters.get_mut(&key) else { return 0 };
        let ids: Vec<u16> = if id == 2 || id == 3 {
            e.templates.map.iter().filter(|(_, t)| t.spec.options == options).map(|(k, _)| *k).collect()
        } else {
            vec![id]
        };
        let mut gone = 0;
        for k in ids {
            if let Some(t) = e.templates.remove(k) {
                self.template_bytes -= t.cost();
                gone += 1;
            }
        }
        if gone > 0 {
            self.dirty = true;
        }
        gone
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
            if gap == 0 && e.carried {
                e.confirmed = true;
            }
            e.jumped |= gap != 0;
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

    /// Interface names: the config's first, then what exporters sent in options data.
    pub fn interface_names(&self) -> Vec<((IpAddr, u32), String)> {
        self.names_where(|_, _| true)
    }

    /// As [`Store::interface_names`], of the interfaces `ids` only (sorted, each once) and those
    /// the config names: what the API and graph titles need, however many names exporters sent.
    pub fn interface_names_of(&self, ids: &[(IpAddr, u32)]) -> Vec<((IpAddr, u32), String)> {
        self.names_where(|addr, i| ids.binary_search(&(addr, i)).is_ok())
    }

    fn names_where(&self, wanted: impl Fn(IpAddr, u32) -> bool) -> Vec<((IpAddr, u32), String)> {
        let mut names: HashMap<(IpAddr, u32), String> = HashMap::new();
        for (k, e) in &self.exporters {
            for (i, n) in e.if_names.iter().filter(|(i, _)| wanted(k.addr, *i)) {
                names.entry((k.addr, i)).or_insert_with(|| n.to_string());
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

    /// Memory the exporters' templates and interface names take, for the gauges.
    pub fn state_bytes(&self) -> (usize, usize) {
        (self.template_bytes, self.exporters.values().map(|e| e.state_bytes().1).sum())
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
                heard: e.heard,
                missing: e.missing.clone(),
                sampling_configured: self.override_rate(k.addr).is_some(),
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

    /// The state worth keeping across a restart: of the exporters that carried flow records,
    /// the templates data came for, the sampling rates, and the names of interfaces seen in flows
    /// (`in_flows` says which are now; names saved before stay). What a neighbour's templates or
    /// names cost on the card is then nothing, and a router's state stays a few kB.
    ///
    /// What is returned borrows the store: serialised as it is, a save costs no copy of the
    /// templates.
    pub fn save(&mut self, in_flows: impl Fn(IpAddr, u32) -> bool) -> SavedView<'_> {
        for (k, e) in self.exporters.iter_mut() {
            for (i, n) in e.if_names.names.iter_mut() {
                n.in_flows |= in_flows(k.addr, *i);
            }
        }
        let mut exporters = Vec::new();
        for (k, e) in self.exporters.iter().filter(|(_, e)| e.carried) {
            let mut templates: Vec<&TemplateSpec> = e.templates.values().filter(|t| t.used).map(|t| &t.spec).collect();
            templates.sort_by_key(|t| t.id);
            let mut if_names: Vec<(u32, &str)> =
                e.if_names.names.iter().filter(|(_, n)| n.in_flows).map(|(i, n)| (*i, &*n.name)).collect();
            if_names.sort_unstable();
            let mut samplers: Vec<(u64, u64)> = e.samplers.iter().map(|(a, b)| (*a, *b)).collect();
            samplers.sort_unstable();
            if templates.is_empty() && samplers.is_empty() && e.default_sampling.is_none() && if_names.is_empty() {
                continue;
            }
            exporters.push(SavedExporterView {
                key: *k,
                templates,
                samplers,
                default_sampling: e.default_sampling,
                if_names,
                confirmed: e.confirmed,
            });
        }
        exporters.sort_by_key(|e| e.key);
        SavedView { format: 1, exporters, learned_networks: Vec::new() }
    }

    /// Load saved state as if it had come on the wire: every entry meets the checks and bounds a
    /// datagram's would, because the file can be edited by whoever can write archive.dir, and it
    /// may have been written under limits since lowered. What fails is refused and counted; the
    /// rest is kept. For a fresh decoder, before the first datagram; `now` starts the window
    /// in which restored exporters keep their place without being heard.
    pub fn restore(&mut self, s: SavedState, now: Instant) -> Restored {
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
            // A router restarts its export far less often than flowpi restarts (an upgrade, a
            // power cut): its saved state keeps the standing it had for one window, so a neighbour
            // who speaks first after the restart cannot take its place. Not heard by then, it is
            // idle and the first to make way.
            self.insert(key, now);
            r.exporters += 1;
            let Some(e) = self.exporters.get_mut(&key) else { continue };
            e.carried = true;
            e.confirmed = se.confirmed;
            if !matches!(key.version, 9 | 10) {
                // Only v9 and IPFIX send templates, samplers and interface names.
                refuse(&mut r, se.templates.len() + se.samplers.len() + se.if_names.len());
            } else {
                for spec in se.templates {
                    let id = spec.id;
                    match self.put_template(key, spec, now) {
                        // Saved because data came for it, as data will again.
                        TemplateFate::Stored { .. } => {
                            r.templates += 1;
                            if let Some(e) = self.exporters.get_mut(&key) {
                                e.templates.mark_used(id);
                            }
                        }
                        TemplateFate::Refreshed => {}
                        TemplateFate::Invalid | TemplateFate::TableFull => refuse(&mut r, 1),
                    }
                }
                let Some(e) = self.exporters.get_mut(&key) else { continue };
                // A saved file never repeats an entry, so a repeat is refused like an excess one.
                for (sampler, rate) in se.samplers {
                    let kept = plausible_rate(rate).is_some_and(|rate| {
                        set_sampling(&mut e.samplers, &mut e.default_sampling, Some(sampler), rate)
                    });
                    if !kept {
                        refuse(&mut r, 1);
                    }
                }
                let max = self.limits.max_interface_name_bytes_per_exporter;
                for (ifindex, name) in se.if_names {
                    if name.len() > MAX_NAME_BYTES || e.if_names.set(ifindex, name.as_bytes(), max) != NameFate::Set {
                        refuse(&mut r, 1);
                    } else if let Some(n) = e.if_names.names.get_mut(&ifindex) {
                        n.in_flows = true;
                    }
                }
            }
            match se.default_sampling.map(plausible_rate) {
                Some(Some(rate)) => {
                    if let Some(e) = self.exporters.get_mut(&key) {
                        e.default_sampling = Some(rate);
                    }
                }
                Some(None) => refuse(&mut r, 1),
                None => {}
            }
        }
        // Write the state back without what was refused.
        self.dirty = r.rejected > 0;
        r
    }
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

/// A saved sampling rate, believed only if an options record stating it would be (the wire's
/// check, [`Values::sampling_rate`], applied to it).
fn plausible_rate(rate: u64) -> Option<u64> {
    let mut v = Values::default();
    v.put(Field::SamplingInterval, rate);
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
    /// When it was last heard; `None` when only restored from disk.
    pub heard: Option<Instant>,
    pub missing: MissingTemplates,
    /// The sampling rate is the config's (exporter.sampling_rate), not the exporter's.
    pub sampling_configured: bool,
}

/// What is persisted under archive.dir (JSON).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct SavedState {
    pub format: u32,
    pub exporters: Vec<SavedExporter>,
    /// The views' learned local networks ("PREFIX SINCE"), kept in the collector's one state file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub learned_networks: Vec<String>,
}

/// [`SavedState`] as [`Store::save`] makes it: borrowed from the store, serialised the same.
#[derive(Debug, Serialize)]
pub struct SavedView<'a> {
    pub format: u32,
    pub exporters: Vec<SavedExporterView<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub learned_networks: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct SavedExporterView<'a> {
    pub key: ExporterKey,
    pub templates: Vec<&'a TemplateSpec>,
    pub samplers: Vec<(u64, u64)>,
    pub default_sampling: Option<u64>,
    pub if_names: Vec<(u32, &'a str)>,
    pub confirmed: bool,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct SavedExporter {
    pub key: ExporterKey,
    pub templates: Vec<TemplateSpec>,
    pub samplers: Vec<(u64, u64)>,
    pub default_sampling: Option<u64>,
    pub if_names: Vec<(u32, String)>,
    /// Its sequence numbers continued while it carried data (see [`Standing`]); absent in files
    /// written before it was saved.
    #[serde(default)]
    pub confirmed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_cut_through_a_character_still_restores() {
        let mut names = IfNames::default();
        // 63 bytes of 'a' and a 2-byte 'é': the cut at 64 bytes halves the 'é'.
        let raw = [vec![b'a'; 63], "é".as_bytes().to_vec()].concat();
        assert_eq!(names.set(1, &raw, 1 << 20), NameFate::Set);
        assert_eq!(names.iter().collect::<Vec<_>>(), [(1, "a".repeat(63).as_str())]);
    }

    #[test]
    fn names_are_bounded_in_bytes() {
        let mut names = IfNames::default();
        let max = 3 * name_cost(10);
        for i in 0..3 {
            assert_eq!(names.set(i, b"0123456789", max), NameFate::Set);
        }
        assert_eq!(names.set(3, b"0123456789", max), NameFate::Refused);
        // A shorter name in place of a longer one fits; the same name again changes nothing.
        assert_eq!(names.set(0, b"wan", max), NameFate::Set);
        assert_eq!(names.set(0, b"wan", max), NameFate::Unchanged);
        assert_eq!(names.bytes, 3 * name_cost(10));
        assert_eq!(names.set(3, b"lan", max), NameFate::Refused);
        assert_eq!(names.names.len(), 3);
    }
}
