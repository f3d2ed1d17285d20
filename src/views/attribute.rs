//! Attribution, once per record and before any view: which local host sent a flow and which
//! received it, including behind NAT, and both directions of a bidirectional record.

use super::{AddrKey, AppId};
use crate::decode::FlowRecord;
use crate::net::LocalNets;

/// One direction of a record as every view sees it.
#[derive(Clone, Copy, Debug)]
pub struct Flow {
    /// The exporter that reported it.
    pub ex: AddrKey,
    /// The addresses as exported (the remote end of a host's flow is the other one of these).
    pub src: Option<AddrKey>,
    pub dst: Option<AddrKey>,
    /// The local host that sent it, and the one that received it.
    pub sender: Option<AddrKey>,
    pub receiver: Option<AddrKey>,
    pub input_if: u32,
    pub output_if: u32,
    pub bytes: u64,
    pub packets: u64,
    pub protocol: u8,
    pub app: AppId,
    /// The port that named the application (the lower one when none did; 0 without ports).
    pub port: u16,
}

impl Flow {
    /// The same flow the other way: a bidirectional record's reverse counts, destination to
    /// source, entering on the output interface and leaving on the input one.
    pub fn reversed(&self, bytes: u64, packets: u64) -> Flow {
        Flow {
            src: self.dst,
            dst: self.src,
            sender: self.receiver,
            receiver: self.sender,
            input_if: self.output_if,
            output_if: self.input_if,
            bytes,
            packets,
            ..*self
        }
    }

    /// Whether a local host is in it (flows between two remote addresses count only for
    /// interfaces).
    #[inline]
    pub fn has_host(&self) -> bool {
        self.sender.is_some() || self.receiver.is_some()
    }
}

/// How a record was attributed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// By its own addresses.
    Direct,
    /// By its post-NAT addresses (neither exported address was local).
    Nat,
    /// No local host at all.
    Remote,
}

/// The local sender and receiver of `r`'s forward direction, whose exported addresses are
/// `src` and `dst`.
///
/// A local source sent it and a local destination received it (both, between two local hosts).
/// When neither is local, the post-NAT addresses decide: a router exporting on its WAN side
/// reports a download as remote -> WAN address, with the LAN host only in
/// postNATDestinationIPv4Address; the LAN host received it.
#[inline]
pub fn attribute(
    r: &FlowRecord,
    src: Option<AddrKey>,
    dst: Option<AddrKey>,
    local: &LocalNets,
) -> (Option<AddrKey>, Option<AddrKey>, How) {
    let is_local = |a: &AddrKey| match a.v4() {
        Some(v4) => local.contains_v4(v4),
        None => local.contains_v6(a.0),
    };
    let sender = src.filter(is_local);
    let receiver = dst.filter(is_local);
    if sender.is_some() || receiver.is_some() {
        return (sender, receiver, How::Direct);
    }
    if r.nat_src.is_none() && r.nat_dst.is_none() {
        return (None, None, How::Remote);
    }
    let sender = r.nat_src.map(AddrKey::from).filter(is_local);
    let receiver = r.nat_dst.map(AddrKey::from).filter(is_local);
    if sender.is_some() || receiver.is_some() {
        (sender, receiver, How::Nat)
    } else {
        (None, None, How::Remote)
    }
}
