//! Export datagram decoding: the flow record every decoder emits, the error kinds, and the
//! [`Decoder`] that dispatches on the version field and owns the per-exporter state. Decoding is
//! pure: bytes and a clock in, records to a sink, counters out; no sockets, no logging.
//!
//! Dependencies run one way: `legacy` (v1/v5/v7) and `netflow` (v9/IPFIX) take the state store,
//! `exporter`, by `&mut`; the store compiles templates (`template`, over the element table in
//! `fields`) and knows nothing of the decoders. `rejects` keeps, per sender, what could not be
//! decoded, for the doctor.

pub mod exporter;
pub mod fields;
pub mod legacy;
mod netflow;
pub mod rejects;
pub mod template;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

pub use exporter::{ExporterKey, ExporterOverride, Limits};
use exporter::{ExporterView, RefusedView, Restored, SavedState, SavedView, Store};

use crate::net::normalize;
use crate::stats::{self, Stats};

/// Decodes datagrams of every version, keeping per-exporter state between them.
pub struct Decoder {
    store: Store,
    rejects: rejects::Rejects,
}

impl Decoder {
    pub fn new(limits: Limits, overrides: HashMap<IpAddr, ExporterOverride>, stats: Arc<Stats>) -> Decoder {
        Decoder {
            store: Store::new(limits, overrides, stats),
            rejects: rejects::Rejects::new(rejects::DEFAULT_MAX_SENDERS),
        }
    }

    /// Keep what could not be decoded for at most `max` senders (doctor.max_senders).
    pub fn with_max_senders(mut self, max: usize) -> Decoder {
        self.rejects = rejects::Rejects::new(max);
        self
    }

    /// Decode one datagram from `from`, handing each flow record to `sink`.
    pub fn decode(
        &mut self,
        from: IpAddr,
        data: &[u8],
        now: Instant,
        sink: &mut impl FnMut(&FlowRecord),
    ) -> Result<Decoded, DecodeError> {
        let from = normalize(from);
        let r = if data.len() < 4 {
            Err(DecodeError::Short)
        } else {
            self.store.expire(now);
            let s = &mut self.store;
            match be16(data, 0) {
                1 => legacy::decode(s, &legacy::V1, from, data, now, sink),
                5 => legacy::decode(s, &legacy::V5, from, data, now, sink),
                7 => legacy::decode(s, &legacy::V7, from, data, now, sink),
                v @ (9 | 10) => netflow::decode(s, from, v, data, now, sink),
                _ => Err(DecodeError::UnknownVersion),
            }
        };
        match r {
            Err(e) | Ok(Decoded { error: Some(e), .. }) => {
                self.rejects.add(from, e, data, now);
                stats::set(&self.store.stats.doctor_senders_evicted, self.rejects.evictions());
            }
            Ok(_) => {}
        }
        r
    }

    /// Per sender, what could not be decoded (for the doctor), most first.
    pub fn rejected(&self) -> Vec<rejects::Rejected> {
        self.rejects.rows()
    }

    /// Drop data held for a template longer than collector.pending_timeout.
    #[inline]
    pub fn expire(&mut self, now: Instant) {
        self.store.expire(now)
    }

    /// Interface names: the config's first, then what exporters sent in options data.
    pub fn interface_names(&self) -> Vec<((IpAddr, u32), String)> {
        self.store.interface_names()
    }

    /// Interface names of the interfaces `ids` (sorted) and those the config names.
    pub fn interface_names_of(&self, ids: &[(IpAddr, u32)]) -> Vec<((IpAddr, u32), String)> {
        self.store.interface_names_of(ids)
    }

    /// Memory the exporters' templates and interface names take (bytes, estimated).
    pub fn state_bytes(&self) -> (usize, usize) {
        self.store.state_bytes()
    }

    /// One row per exporter for the API.
    pub fn exporters(&self) -> Vec<ExporterView> {
        self.store.exporters()
    }

    /// Exporter names from the config, for graph titles and the API.
    pub fn exporter_name(&self, addr: IpAddr) -> Option<&str> {
        self.store.exporter_name(addr)
    }

    /// True once, after templates, samplers or names changed.
    pub fn take_dirty(&mut self) -> bool {
        self.store.take_dirty()
    }

    /// The state worth keeping across a restart (see [`exporter`]); `in_flows` says which
    /// interfaces flows are seen on, whose names are kept.
    pub fn save(&mut self, in_flows: impl Fn(IpAddr, u32) -> bool) -> SavedView<'_> {
        self.store.save(in_flows)
    }

    /// Load saved state (see [`exporter`] for the checks it meets). For a fresh decoder, before
    /// the first datagram.
    pub fn restore(&mut self, s: SavedState, now: Instant) -> Restored {
        self.store.restore(s, now)
    }

    /// The addresses whose new keys had no place in the exporter table, for the doctor.
    pub fn refused(&self) -> Vec<RefusedView> {
        self.store.refused()
    }
}

/// One flow as the aggregator needs it. `Copy`, no heap: decoders hand out a reference per record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    /// `None` when the template carries no address (layer-2 or MPLS-only exports).
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    /// Source to destination; already multiplied by the sampling rate.
    pub bytes: u64,
    pub packets: u64,
    /// Destination to source, for exporters that report both directions in one record (Cisco ASA
    /// NSEL responder counts); already multiplied by the sampling rate.
    pub rev_bytes: u64,
    pub rev_packets: u64,
    pub input_if: u32,
    pub output_if: u32,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub tcp_flags: u8,
    /// flowDirection (61): 0 ingress, 1 egress; `None` when not exported.
    pub direction: Option<u8>,
    /// Flow start and end, Unix milliseconds by the exporter's clock (0 when not exported).
    pub start_ms: u64,
    pub end_ms: u64,
    /// When the exporter sent the datagram, Unix milliseconds by its clock: a flow's age is
    /// measured against this, so an exporter whose clock is off still places its flows right.
    pub export_ms: u64,
    /// Post-NAT addresses and ports (IPFIX 225–228, 281–282), when exported.
    pub nat_src: Option<IpAddr>,
    pub nat_dst: Option<IpAddr>,
    pub nat_src_port: u16,
    pub nat_dst_port: u16,
    /// MAC addresses (IPFIX 56, 80, 57) as 48-bit integers, 0 when not exported: the source's as
    /// it entered, the destination's as it entered and as it left the observation point.
    pub src_mac: u64,
    pub dst_mac: u64,
    pub post_dst_mac: u64,
    /// The sampling rate the counts were multiplied by.
    pub sampling: u32,
}

impl Default for FlowRecord {
    fn default() -> Self {
        FlowRecord {
            src: None,
            dst: None,
            bytes: 0,
            packets: 0,
            rev_bytes: 0,
            rev_packets: 0,
            input_if: 0,
            output_if: 0,
            protocol: 0,
            src_port: 0,
            dst_port: 0,
            tcp_flags: 0,
            direction: None,
            start_ms: 0,
            end_ms: 0,
            export_ms: 0,
            nat_src: None,
            nat_dst: None,
            nat_src_port: 0,
            nat_dst_port: 0,
            src_mac: 0,
            dst_mac: 0,
            post_dst_mac: 0,
            sampling: 1,
        }
    }
}

/// Why a whole datagram was dropped. Each kind is a counter (`flowpi_decode_errors_total{kind=…}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the version's header.
    Short = 0,
    /// A version we do not decode.
    UnknownVersion = 1,
    /// The header promises more than the datagram holds (records, or an IPFIX message length).
    Truncated = 2,
    /// The record count is above the version's maximum.
    BadCount = 3,
    /// A v9/IPFIX set shorter than its own header or running past the end of the message (the sets
    /// before it are still decoded).
    BadSet = 4,
}

impl DecodeError {
    pub const KINDS: usize = 5;
    pub const ALL: [DecodeError; Self::KINDS] = [
        DecodeError::Short,
        DecodeError::UnknownVersion,
        DecodeError::Truncated,
        DecodeError::BadCount,
        DecodeError::BadSet,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DecodeError::Short => "short",
            DecodeError::UnknownVersion => "unknown_version",
            DecodeError::Truncated => "truncated",
            DecodeError::BadCount => "bad_count",
            DecodeError::BadSet => "bad_set",
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DecodeError::Short => "datagram shorter than its version's header",
            DecodeError::UnknownVersion => "unsupported export version",
            DecodeError::Truncated => "datagram shorter than its header says",
            DecodeError::BadCount => "record count out of range",
            DecodeError::BadSet => "a flowset's length is impossible",
        })
    }
}

/// What a decoded datagram was, for counters and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub version: u16,
    /// Flow records handed to the sink (including any held sets this datagram's templates released).
    pub records: usize,
    /// A problem after some sets were read (a v9/IPFIX set with an impossible length): what came
    /// before it was decoded, the rest of the datagram was not.
    pub error: Option<DecodeError>,
}

/// Big-endian readers over a slice whose length the caller has checked.
#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
