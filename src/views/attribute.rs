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
    /// By an address from its NAT fields (the exported one was the router's outside address).
    Nat,
    /// As `Nat`, where the outside address was itself local: the router's WAN address inside
    /// another router's network (double NAT).
    DoubleNat,
    /// No local host at all.
    Remote,
}

/// The local sender and receiver of `r`'s forward direction, whose exported addresses are
/// `src` and `dst`.
///
/// A local source sent it and a local destination received it (both, between two local hosts).
/// With NAT fields, the inside address decides: a source is translated on its way out, so its
/// exported (pre-NAT) address is the inside one, and the post-NAT one only when the exported one
/// is not local; a destination is translated on its way in, so its post-NAT address is the
/// inside one when local. A router exporting on its WAN side reports a download as remote -> WAN
/// address with the LAN host in postNATDestinationIPv4Address; behind an ISP box that WAN address
/// is itself local (double NAT), and still only stands for the LAN host.
#[inline(always)]
pub fn attribute(
    r: &FlowRecord,
    src: Option<AddrKey>,
    dst: Option<AddrKey>,
    local: &LocalNets,
) -> (Option<AddrKey>, Option<AddrKey>, How) {
    let (sender, receiver) = (src.filter(|a| is_local(local, a)), dst.filter(|a| is_local(local, a)));
    if r.nat_src.is_none() && r.nat_dst.is_none() {
        let how = if sender.is_some() || receiver.is_some() { How::Direct } else { How::Remote };
        return (sender, receiver, how);
    }
    behind_nat(r, src, dst, sender, receiver, local)
}

#[inline(always)]
fn is_local(local: &LocalNets, a: &AddrKey) -> bool {
    match a.v4() {
        Some(v4) => local.contains_v4(v4),
        None => local.contains_v6(a.0),
    }
}

/// [`attribute`] for a record with NAT fields (rarer: kept off the common path).
#[cold]
#[inline(never)]
fn behind_nat(
    r: &FlowRecord,
    src: Option<AddrKey>,
    dst: Option<AddrKey>,
    sender: Option<AddrKey>,
    receiver: Option<AddrKey>,
    local: &LocalNets,
) -> (Option<AddrKey>, Option<AddrKey>, How) {
    let is_local = |a: &AddrKey| is_local(local, a);
    let nat_src = r.nat_src.map(AddrKey::from).filter(|a| Some(*a) != src && is_local(a));
    let nat_dst = r.nat_dst.map(AddrKey::from).filter(|a| Some(*a) != dst && is_local(a));
    let (inside_sender, inside_receiver) = (sender.or(nat_src), nat_dst.or(receiver));
    let how = if inside_sender.is_none() && inside_receiver.is_none() {
        How::Remote
    } else if inside_receiver != receiver && receiver.is_some() {
        How::DoubleNat
    } else if inside_sender != sender || inside_receiver != receiver {
        How::Nat
    } else {
        How::Direct
    };
    (inside_sender, inside_receiver, how)
}
