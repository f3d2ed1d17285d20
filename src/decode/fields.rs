//! The information elements flowpi reads (NetFlow v9 field types, RFC 3954 §8, and IPFIX IANA
//! elements, RFC 7012), and what each becomes in a compiled template. Everything else is skipped.

/// What a template field feeds. Unknown and enterprise-specific fields are `Skip`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Skip,
    SrcV4,
    DstV4,
    SrcV6,
    DstV6,
    /// octetDeltaCount (1) / IN_BYTES
    Bytes,
    /// packetDeltaCount (2) / IN_PKTS
    Packets,
    /// octetTotalCount (85), used when no delta count is present
    TotalBytes,
    /// packetTotalCount (86)
    TotalPackets,
    /// postOctetDeltaCount (23; v9 OUT_BYTES), used when neither 1 nor 85 is present
    PostBytes,
    /// postPacketDeltaCount (24; v9 OUT_PKTS)
    PostPackets,
    /// initiatorOctets (231; Cisco ASA NSEL forward bytes)
    InitiatorBytes,
    /// responderOctets (232; the reverse direction)
    ResponderBytes,
    /// initiatorPackets (298)
    InitiatorPackets,
    /// responderPackets (299)
    ResponderPackets,
    InputIf,
    OutputIf,
    Protocol,
    SrcPort,
    DstPort,
    TcpFlags,
    /// flowDirection (61): 0 ingress, 1 egress
    Direction,
    /// v9 FIRST_SWITCHED / LAST_SWITCHED (22/21): sysUptime milliseconds
    StartUptime,
    EndUptime,
    /// flowStartSeconds / flowEndSeconds (150/151)
    StartSec,
    EndSec,
    /// flowStartMilliseconds / flowEndMilliseconds (152/153)
    StartMs,
    EndMs,
    /// flowStartMicroseconds / flowEndMicroseconds (154/155), NTP format
    StartUs,
    EndUs,
    /// flowStartNanoseconds / flowEndNanoseconds (156/157), NTP format
    StartNs,
    EndNs,
    /// flowStartDeltaMicroseconds / flowEndDeltaMicroseconds (158/159): before export time
    StartDeltaUs,
    EndDeltaUs,
    /// samplingInterval (34)
    SamplingInterval,
    /// samplerId (48; v9 FLOW_SAMPLER_ID)
    SamplerId,
    /// samplerRandomInterval (50; v9 FLOW_SAMPLER_RANDOM_INTERVAL)
    SamplerRandomInterval,
    /// selectorId (302)
    SelectorId,
    /// samplingPacketInterval (305)
    SamplingPacketInterval,
    /// samplingPacketSpace (306)
    SamplingPacketSpace,
    /// interfaceName (82) / interfaceDescription (83)
    IfName,
    IfDesc,
    /// postNATSourceIPv4Address (225), postNATDestinationIPv4Address (226)
    NatSrcV4,
    NatDstV4,
    /// postNATSourceIPv6Address (281), postNATDestinationIPv6Address (282)
    NatSrcV6,
    NatDstV6,
    /// postNAPTSourceTransportPort (227), postNAPTDestinationTransportPort (228)
    NatSrcPort,
    NatDstPort,
    /// v9 options scope "Interface" (scope type 2): the ifIndex the options record describes
    ScopeInterface,
}

/// The field for an element id with its length; a length the element cannot have is a skip, so a
/// strange template never makes us misread an address.
pub fn lookup(id: u16, len: u16) -> Field {
    use Field::*;
    let f = match id {
        1 => Bytes,
        2 => Packets,
        4 => Protocol,
        6 => TcpFlags,
        7 => SrcPort,
        8 => SrcV4,
        10 => InputIf,
        11 => DstPort,
        12 => DstV4,
        14 => OutputIf,
        21 => EndUptime,
        22 => StartUptime,
        23 => PostBytes,
        24 => PostPackets,
        27 => SrcV6,
        28 => DstV6,
        34 => SamplingInterval,
        48 => SamplerId,
        50 => SamplerRandomInterval,
        61 => Direction,
        82 => IfName,
        83 => IfDesc,
        85 => TotalBytes,
        86 => TotalPackets,
        150 => StartSec,
        151 => EndSec,
        152 => StartMs,
        153 => EndMs,
        154 => StartUs,
        155 => EndUs,
        156 => StartNs,
        157 => EndNs,
        158 => StartDeltaUs,
        159 => EndDeltaUs,
        225 => NatSrcV4,
        226 => NatDstV4,
        227 => NatSrcPort,
        228 => NatDstPort,
        231 => InitiatorBytes,
        232 => ResponderBytes,
        281 => NatSrcV6,
        282 => NatDstV6,
        298 => InitiatorPackets,
        299 => ResponderPackets,
        302 => SelectorId,
        305 => SamplingPacketInterval,
        306 => SamplingPacketSpace,
        _ => Skip,
    };
    let ok = match f {
        SrcV4 | DstV4 | NatSrcV4 | NatDstV4 => len == 4,
        SrcV6 | DstV6 | NatSrcV6 | NatDstV6 => len == 16,
        // Strings may be variable length (IPFIX 65535) or fixed.
        IfName | IfDesc => true,
        // Unsigned integers, possibly in reduced-size encoding (RFC 7011 §6.2).
        _ => (1..=8).contains(&len),
    };
    if ok {
        f
    } else {
        Skip
    }
}

/// v9 options template scope types (RFC 3954 §6.1): only "Interface" carries something we use.
pub fn v9_scope(kind: u16, len: u16) -> Field {
    if kind == 2 && (1..=8).contains(&len) {
        Field::ScopeInterface
    } else {
        Field::Skip
    }
}
