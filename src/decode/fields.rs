//! The information elements flowpi reads, each declared once in the table below (NetFlow v9 field
//! types, RFC 3954 §8; IPFIX IANA elements, RFC 7012; RFC 5103 reverse elements): its id, the
//! lengths it may have, and what it feeds. Everything else is skipped.
//!
//! From the table come the [`Field`] a compiled template step holds, [`lookup`], the integer
//! value slots of a record (one per integer element, numbered by its `Field`), and the code that
//! copies plain values into a [`FlowRecord`]. Elements that are chosen among (byte and packet
//! counts, flow times) say which choice they take part in; `template.rs` makes the choice once per
//! template. Adding an element that feeds something already fed is one row.

use super::FlowRecord;

/// Where an element's id is defined. IPFIX marks enterprise elements with the high bit of the id
/// and a Private Enterprise Number (RFC 7011 §3.2); v9 has IANA-numbered types only, plus the
/// scope types of its options templates, which are a numbering of their own (RFC 3954 §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Id {
    Iana(u16),
    Enterprise(u32, u16),
    V9Scope(u16),
}

impl Id {
    /// An element as a template states it (enterprise number 0 for IANA elements).
    pub fn of(id: u16, enterprise: u32) -> Id {
        if enterprise == 0 {
            Id::Iana(id)
        } else {
            Id::Enterprise(enterprise, id)
        }
    }
}

/// RFC 5103 §6.1: reverse elements are the forward element's id under this number.
pub const REVERSE_PEN: u32 = 29305;

/// The direction of a byte or packet count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Forward,
    Reverse,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Octets,
    Packets,
}

/// Which kind of count: a template's flows take the first kind, in this order, whose forward
/// count it carries, and the reverse counts of that same kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Delta,
    /// Used when no delta count is present.
    Total,
    /// Used when neither delta nor total counts are present (v9 OUT_BYTES/OUT_PKTS).
    Post,
    /// Cisco ASA NSEL initiator/responder counts: what is left when nothing else is there.
    Nsel,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Delta, Kind::Total, Kind::Post, Kind::Nsel];
}

/// The end of a flow a time element gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    Start,
    End,
}

/// How a time element counts (see `template::to_ms`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// Milliseconds of the exporter's sysUptime.
    Uptime,
    Sec,
    Ms,
    /// NTP timestamps (RFC 7011 §6.1.10); the fraction is read to the millisecond either way.
    NtpUs,
    NtpNs,
    /// Microseconds before the export time.
    DeltaUs,
}

/// Where an address element goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addr {
    Src,
    Dst,
    NatSrc,
    NatDst,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// What an integer element feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// A byte or packet count, chosen among the template's counts.
    Count(Dir, Unit, Kind),
    /// A flow time; the template's first element for each edge is the one taken.
    Time(Edge, Form),
    /// Copied as is to the [`FlowRecord`] field the table names.
    Record,
    /// A sampling rate or sampler id: a template with one carries the rate in its records.
    Sampling,
    /// Read by name from options data (the interface an options record describes).
    Options,
}

/// The table. Integer elements first (their `Field` numbers are their value slots), then addresses
/// and strings. Each row: `Field: id => what it feeds`. Integers take 1 to 8 bytes (reduced-size
/// encoding, RFC 7011 §6.2), addresses exactly 4 or 16, strings any length, variable included. A
/// length the element cannot have makes the field a skip, so a strange template never makes us
/// misread an address or a count.
macro_rules! elements {
    (
        integers { $( $(#[$idoc:meta])* $int:ident : $ikey:pat => $feed:ident $( ( $($arg:tt)* ) )? , )* }
        addresses { $( $(#[$adoc:meta])* $addr:ident : $akey:pat => $dest:ident ( $fam:ident ) , )* }
        strings { $( $(#[$sdoc:meta])* $text:ident : $skey:pat , )* }
    ) => {
        /// What a template field feeds: one variant per element in the table, and `Skip`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u8)]
        pub enum Field {
            $( $(#[$idoc])* $int, )*
            $( $(#[$adoc])* $addr, )*
            $( $(#[$sdoc])* $text, )*
            Skip,
        }

        /// The integer elements, in slot order.
        pub const INTEGERS: &[Field] = &[$(Field::$int),*];

        /// The field for an element with the length a template gives it.
        pub fn lookup(key: Id, len: u16) -> Field {
            use Id::*;
            let int = (1..=8).contains(&len);
            match key {
                $( $ikey if int => Field::$int, )*
                $( $akey if len == family_len(Family::$fam) => Field::$addr, )*
                $( $skey => Field::$text, )*
                _ => Field::Skip,
            }
        }

        impl Field {
            /// What an integer element feeds (`None` for addresses, strings and skips).
            pub fn feed(self) -> Option<Feed> {
                match self {
                    $( Field::$int => Some(feed!($feed $( ( $($arg)* ) )?)), )*
                    _ => None,
                }
            }

            /// Where an address element goes.
            pub fn addr(self) -> Option<(Addr, Family)> {
                match self {
                    $( Field::$addr => Some((Addr::$dest, Family::$fam)), )*
                    _ => None,
                }
            }

            pub fn is_text(self) -> bool {
                matches!(self, $( Field::$text )|*)
            }
        }

        /// Copy the values that go to the record as they are. `int` is a value, 0 when the
        /// template lacks it; `get` the same, `None` when lacking.
        #[inline(always)]
        pub fn copy_to_record(r: &mut FlowRecord, int: impl Fn(Field) -> u64, get: impl Fn(Field) -> Option<u64>) {
            $( to_record!(r, int, get, $int, $feed $( ( $($arg)* ) )?); )*
        }

        /// The record fields copied, for the test that no two elements write one.
        #[cfg(test)]
        const RECORD_TARGETS: &[&str] = &[$( record_target!($feed $( ( $($arg)* ) )?) ),*];
    };
}

/// A row's feed as a [`Feed`].
macro_rules! feed {
    (Count($dir:ident, $unit:ident, $kind:ident)) => {
        Feed::Count(Dir::$dir, Unit::$unit, Kind::$kind)
    };
    (Time($edge:ident, $form:ident)) => {
        Feed::Time(Edge::$edge, Form::$form)
    };
    (Record($($x:tt)*)) => {
        Feed::Record
    };
    (RecordIf($($x:tt)*)) => {
        Feed::Record
    };
    ($other:ident) => {
        Feed::$other
    };
}

/// The statement copying a `Record` row's value; nothing for other rows. `RecordIf` is for an
/// optional record field, `None` when the template lacks the element.
macro_rules! to_record {
    ($r:ident, $int:ident, $get:ident, $name:ident, Record($field:ident as $t:ty)) => {
        $r.$field = $int(Field::$name) as $t
    };
    ($r:ident, $int:ident, $get:ident, $name:ident, RecordIf($field:ident as $t:ty)) => {
        $r.$field = $get(Field::$name).map(|x| x as $t)
    };
    ($r:ident, $int:ident, $get:ident, $name:ident, $($other:tt)*) => {
        ()
    };
}

#[cfg(test)]
macro_rules! record_target {
    (Record($field:ident as $t:ty)) => {
        stringify!($field)
    };
    (RecordIf($field:ident as $t:ty)) => {
        stringify!($field)
    };
    ($($other:tt)*) => {
        ""
    };
}

elements! {
    integers {
        /// octetDeltaCount (1) / v9 IN_BYTES
        Bytes: Iana(1) => Count(Forward, Octets, Delta),
        /// packetDeltaCount (2) / v9 IN_PKTS
        Packets: Iana(2) => Count(Forward, Packets, Delta),
        /// reverseOctetDeltaCount (RFC 5103; softflowd -b)
        RevBytes: Enterprise(REVERSE_PEN, 1) => Count(Reverse, Octets, Delta),
        RevPackets: Enterprise(REVERSE_PEN, 2) => Count(Reverse, Packets, Delta),
        /// octetTotalCount (85)
        TotalBytes: Iana(85) => Count(Forward, Octets, Total),
        /// packetTotalCount (86)
        TotalPackets: Iana(86) => Count(Forward, Packets, Total),
        RevTotalBytes: Enterprise(REVERSE_PEN, 85) => Count(Reverse, Octets, Total),
        RevTotalPackets: Enterprise(REVERSE_PEN, 86) => Count(Reverse, Packets, Total),
        /// postOctetDeltaCount (23; v9 OUT_BYTES)
        PostBytes: Iana(23) => Count(Forward, Octets, Post),
        /// postPacketDeltaCount (24; v9 OUT_PKTS)
        PostPackets: Iana(24) => Count(Forward, Packets, Post),
        /// initiatorOctets (231; Cisco ASA NSEL forward bytes)
        InitiatorBytes: Iana(231) => Count(Forward, Octets, Nsel),
        /// initiatorPackets (298)
        InitiatorPackets: Iana(298) => Count(Forward, Packets, Nsel),
        /// responderOctets (232; the reverse direction)
        ResponderBytes: Iana(232) => Count(Reverse, Octets, Nsel),
        /// responderPackets (299)
        ResponderPackets: Iana(299) => Count(Reverse, Packets, Nsel),
        InputIf: Iana(10) => Record(input_if as u32),
        OutputIf: Iana(14) => Record(output_if as u32),
        Protocol: Iana(4) => Record(protocol as u8),
        SrcPort: Iana(7) => Record(src_port as u16),
        DstPort: Iana(11) => Record(dst_port as u16),
        TcpFlags: Iana(6) => Record(tcp_flags as u8),
        /// flowDirection (61): 0 ingress, 1 egress
        Direction: Iana(61) => RecordIf(direction as u8),
        /// postNAPTSourceTransportPort (227), postNAPTDestinationTransportPort (228)
        NatSrcPort: Iana(227) => Record(nat_src_port as u16),
        NatDstPort: Iana(228) => Record(nat_dst_port as u16),
        /// sourceMacAddress (56), destinationMacAddress (80), postDestinationMacAddress (57):
        /// six bytes, read as an integer (what groups a device's addresses)
        SrcMac: Iana(56) => Record(src_mac as u64),
        DstMac: Iana(80) => Record(dst_mac as u64),
        PostDstMac: Iana(57) => Record(post_dst_mac as u64),
        /// v9 FIRST_SWITCHED / LAST_SWITCHED (22/21): sysUptime milliseconds
        StartUptime: Iana(22) => Time(Start, Uptime),
        EndUptime: Iana(21) => Time(End, Uptime),
        /// flowStartSeconds / flowEndSeconds (150/151)
        StartSec: Iana(150) => Time(Start, Sec),
        EndSec: Iana(151) => Time(End, Sec),
        /// flowStartMilliseconds / flowEndMilliseconds (152/153)
        StartMs: Iana(152) => Time(Start, Ms),
        EndMs: Iana(153) => Time(End, Ms),
        /// flowStartMicroseconds / flowEndMicroseconds (154/155), NTP format
        StartUs: Iana(154) => Time(Start, NtpUs),
        EndUs: Iana(155) => Time(End, NtpUs),
        /// flowStartNanoseconds / flowEndNanoseconds (156/157), NTP format
        StartNs: Iana(156) => Time(Start, NtpNs),
        EndNs: Iana(157) => Time(End, NtpNs),
        /// flowStartDeltaMicroseconds / flowEndDeltaMicroseconds (158/159): before export time
        StartDeltaUs: Iana(158) => Time(Start, DeltaUs),
        EndDeltaUs: Iana(159) => Time(End, DeltaUs),
        /// samplingInterval (34)
        SamplingInterval: Iana(34) => Sampling,
        /// samplerId (48; v9 FLOW_SAMPLER_ID)
        SamplerId: Iana(48) => Sampling,
        /// samplerRandomInterval (50; v9 FLOW_SAMPLER_RANDOM_INTERVAL)
        SamplerRandomInterval: Iana(50) => Sampling,
        /// selectorId (302)
        SelectorId: Iana(302) => Sampling,
        /// samplingPacketInterval (305)
        SamplingPacketInterval: Iana(305) => Sampling,
        /// samplingPacketSpace (306)
        SamplingPacketSpace: Iana(306) => Sampling,
        /// v9 options scope "Interface" (scope type 2): the ifIndex the options record describes
        ScopeInterface: V9Scope(2) => Options,
    }
    addresses {
        SrcV4: Iana(8) => Src(V4),
        DstV4: Iana(12) => Dst(V4),
        SrcV6: Iana(27) => Src(V6),
        DstV6: Iana(28) => Dst(V6),
        /// postNATSourceIPv4Address (225), postNATDestinationIPv4Address (226)
        NatSrcV4: Iana(225) => NatSrc(V4),
        NatDstV4: Iana(226) => NatDst(V4),
        /// postNATSourceIPv6Address (281), postNATDestinationIPv6Address (282)
        NatSrcV6: Iana(281) => NatSrc(V6),
        NatDstV6: Iana(282) => NatDst(V6),
    }
    strings {
        /// interfaceName (82) / interfaceDescription (83)
        IfName: Iana(82),
        IfDesc: Iana(83),
    }
}

/// The value slots of a record are bits of a `u64`.
pub const INTS: usize = INTEGERS.len();
const _: () = assert!(INTS <= 64, "Values::present is a u64: one bit per integer element");

const fn family_len(f: Family) -> u16 {
    match f {
        Family::V4 => 4,
        Family::V6 => 16,
    }
}

impl Field {
    /// The value slot of an integer element.
    #[inline]
    pub fn slot(self) -> Option<usize> {
        let i = self as usize;
        (i < INTS).then_some(i)
    }

    /// Its bit in `Values::present` (integer elements only).
    #[inline]
    pub fn bit(self) -> u64 {
        debug_assert!(self.slot().is_some());
        1 << (self as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_slots_are_the_integer_rows() {
        for (i, f) in INTEGERS.iter().enumerate() {
            assert_eq!(f.slot(), Some(i));
            assert!(f.feed().is_some() && f.addr().is_none() && !f.is_text());
        }
        assert_eq!(Field::SrcV4.slot(), None);
        assert_eq!(Field::Skip.slot(), None);
    }

    #[test]
    fn no_record_field_is_written_twice() {
        let mut seen: Vec<&str> = RECORD_TARGETS.iter().copied().filter(|t| !t.is_empty()).collect();
        let n = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), n, "two rows copy into one record field: {RECORD_TARGETS:?}");
    }

    #[test]
    fn each_kind_of_count_has_both_forward_units() {
        for k in Kind::ALL {
            for u in [Unit::Octets, Unit::Packets] {
                let n = INTEGERS.iter().filter(|f| f.feed() == Some(Feed::Count(Dir::Forward, u, k))).count();
                assert_eq!(n, 1, "{k:?} {u:?}");
            }
        }
    }

    #[test]
    fn lengths_and_enterprise_numbers_are_part_of_the_lookup() {
        assert_eq!(lookup(Id::Iana(8), 4), Field::SrcV4);
        assert_eq!(lookup(Id::Iana(8), 3), Field::Skip);
        assert_eq!(lookup(Id::Iana(1), 8), Field::Bytes);
        assert_eq!(lookup(Id::Iana(1), 9), Field::Skip);
        assert_eq!(lookup(Id::Iana(82), 0xffff), Field::IfName);
        assert_eq!(lookup(Id::Iana(1), 0xffff), Field::Skip);
        assert_eq!(lookup(Id::of(1, REVERSE_PEN), 4), Field::RevBytes);
        assert_eq!(lookup(Id::of(86, REVERSE_PEN), 8), Field::RevTotalPackets);
        // An impossible length for a reverse count is a skip like any other.
        assert_eq!(lookup(Id::of(2, REVERSE_PEN), 12), Field::Skip);
        // Another enterprise's element 1 is not octetDeltaCount.
        assert_eq!(lookup(Id::of(1, 9), 4), Field::Skip);
        assert_eq!(lookup(Id::of(1, 0), 4), Field::Bytes);
        // v9 scope type 2 is Interface; IANA element 2 is packetDeltaCount.
        assert_eq!(lookup(Id::V9Scope(2), 4), Field::ScopeInterface);
        assert_eq!(lookup(Id::V9Scope(1), 4), Field::Skip);
    }
}
