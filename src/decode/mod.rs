//! Export datagram decoding: the flow record every decoder emits, the error kinds, and the
//! dispatch on the version field. Decoders are pure: bytes in, records to a sink, no I/O, no logs.

pub mod v5;

use std::net::IpAddr;

/// One flow as the aggregator needs it. `Copy`, no heap: decoders hand out a reference per record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Already multiplied by the sampling interval.
    pub bytes: u64,
    pub packets: u64,
    pub input_if: u32,
    pub output_if: u32,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub tcp_flags: u8,
}

/// Why a datagram was dropped. Each kind is a counter (`flowpi_decode_errors_total{kind=…}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the smallest header of any version.
    Short = 0,
    /// A version we do not decode (yet).
    UnknownVersion = 1,
    /// The header promises more records than the datagram holds.
    Truncated = 2,
    /// The record count is above the version's maximum.
    BadCount = 3,
}

impl DecodeError {
    pub const KINDS: usize = 4;
    pub const ALL: [DecodeError; Self::KINDS] =
        [DecodeError::Short, DecodeError::UnknownVersion, DecodeError::Truncated, DecodeError::BadCount];

    pub fn name(self) -> &'static str {
        match self {
            DecodeError::Short => "short",
            DecodeError::UnknownVersion => "unknown_version",
            DecodeError::Truncated => "truncated",
            DecodeError::BadCount => "bad_count",
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DecodeError::Short => "datagram shorter than any export header",
            DecodeError::UnknownVersion => "unsupported export version",
            DecodeError::Truncated => "datagram shorter than its record count says",
            DecodeError::BadCount => "record count out of range",
        })
    }
}

/// What a decoded datagram was, for counters and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub version: u16,
    pub records: usize,
}

/// Decode one export datagram, handing each record to `sink`. Either every record of the datagram
/// reaches the sink or none does: a datagram is validated whole before the first record is emitted,
/// so a malformed one never leaves a partial total behind.
pub fn decode(data: &[u8], sink: &mut impl FnMut(&FlowRecord)) -> Result<Decoded, DecodeError> {
    if data.len() < 4 {
        return Err(DecodeError::Short);
    }
    match u16::from_be_bytes([data[0], data[1]]) {
        5 => v5::decode(data, sink),
        _ => Err(DecodeError::UnknownVersion),
    }
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
