//! The interfaces view: bytes and packets per (exporter, ifIndex) and step, archived; in is the
//! flow's input interface, out its output. It also learns which interfaces are the internet line:
//! those whose far side is the rest of the world.

use super::table::Table;
use super::{split, Clock, Counts, IfKey, IfaceId, Place, Recent, Snapshot, Subject};
use crate::stats::Stats;
use crate::views::attribute::Flow;

pub struct Interfaces {
    table: Table<IfKey>,
    /// Per row (rows are never given away), since start: what the interface's far side says.
    far: Vec<FarSide>,
}

/// Bytes of a local host's flows through an interface since start, and of those the bytes
/// whose address on the interface's far side is not local: a flow entering from a remote source,
/// or leaving for a remote destination. A WAN interface's far side is the rest of the world; a
/// LAN interface's is the local hosts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FarSide {
    pub hosted: u64,
    pub remote: u64,
}

/// Bytes a far side needs before it says anything (a few page loads through the line).
const FAR_SIDE_MIN_BYTES: u64 = 64 << 10;

impl FarSide {
    /// The far side is the world: at least 90 % of the local hosts' bytes through it.
    pub fn is_world(&self) -> bool {
        self.remote >= FAR_SIDE_MIN_BYTES && self.remote as u128 * 10 >= self.hosted as u128 * 9
    }
}

/// Why an interface is taken as the internet line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WanBy {
    /// `[[exporter]] wan = [...]`.
    Config,
    /// Its far side is the rest of the world ([`FarSide::is_world`]).
    Traffic,
    /// Its name says so ([`is_wan`]), and the traffic shows none of the exporter's interfaces as the
    /// line (yet).
    Name,
}

impl WanBy {
    pub fn as_str(self) -> &'static str {
        match self {
            WanBy::Config => "config",
            WanBy::Traffic => "traffic",
            WanBy::Name => "name",
        }
    }
}

/// Which of one exporter's interfaces (`rows`: ifIndex, name, far side) are the internet line.
/// The config decides when it lists them; else the traffic (every interface whose far side is
/// the world); else, while the traffic shows none, the names. ifIndex 0 is "unknown" in NetFlow
/// (softflowd, v5 without SNMP indexes): never the line.
pub fn line_of(configured: Option<&[u32]>, rows: &[(u32, Option<&str>, FarSide)]) -> Vec<(u32, WanBy)> {
    if let Some(list) = configured {
        return rows.iter().filter(|r| list.contains(&r.0)).map(|r| (r.0, WanBy::Config)).collect();
    }
    let known = rows.iter().filter(|r| r.0 != 0);
    let by_traffic: Vec<(u32, WanBy)> =
        known.clone().filter(|r| r.2.is_world()).map(|r| (r.0, WanBy::Traffic)).collect();
    if !by_traffic.is_empty() {
        return by_traffic;
    }
    known.filter(|r| r.1.is_some_and(is_wan)).map(|r| (r.0, WanBy::Name)).collect()
}

impl Interfaces {
    pub fn new(max: usize, open: usize) -> Interfaces {
        Interfaces { table: Table::new(max, open, None), far: vec![FarSide::default(); max + 1] }
    }

    #[inline]
    pub fn add(&mut self, f: &Flow, place: Place, parts: &[(usize, u64)], st: &Stats) {
        let (overflow, size, reused) = (&st.interface_overflow_records, &st.interfaces, &st.host_rows_reused);
        let i = self.table.row(IfKey(f.ex, f.input_if), overflow, size, reused).index();
        let o = self.table.row(IfKey(f.ex, f.output_if), overflow, size, reused).index();
        if f.has_host() {
            // Without branches (which way a flow goes is as good as random per record), and each
            // row indexed once: i and o may be the same row.
            let b = f.bytes;
            let w = |world: bool| b * u64::from(world);
            let x = &mut self.far[i];
            x.hosted = x.hosted.wrapping_add(b);
            x.remote = x.remote.wrapping_add(w(f.sender.is_none() & f.src.is_some()));
            let y = &mut self.far[o];
            y.hosted = y.hosted.wrapping_add(b);
            y.remote = y.remote.wrapping_add(w(f.receiver.is_none() & f.dst.is_some()));
        }
        match place {
            Place::One(slot) => {
                self.table.bucket(i, slot).add_in(f.bytes, f.packets);
                self.table.bucket(o, slot).add_out(f.bytes, f.packets);
            }
            Place::Spread => split(parts, f.bytes, f.packets, |s, b, p| {
                self.table.bucket(i, s).add_in(b, p);
                self.table.bucket(o, s).add_out(b, p);
            }),
        }
    }

    pub fn drain(&mut self, clock: &Clock, out: &mut Vec<(Subject, i64, Counts)>) {
        self.table.drain(clock, |k, step, c| {
            let id = k.map_or(IfaceId::Other, |IfKey(ex, ifindex)| IfaceId::If { exporter: ex.into(), ifindex });
            out.push((Subject::Interface(id), step, c));
        });
    }

    #[cfg(test)]
    pub fn capacity(&self) -> (usize, usize) {
        self.table.capacity()
    }

    pub fn publish(&self, s: &mut Snapshot) {
        let t = &self.table;
        let recent = |i: usize| Recent::of(t.recent(i), s.step_ms);
        let mut rows: Vec<(IfaceId, Counts, Recent, FarSide)> = t
            .keys
            .iter()
            .enumerate()
            .map(|(i, IfKey(ex, ifindex))| {
                (IfaceId::If { exporter: (*ex).into(), ifindex: *ifindex }, t.total(i), recent(i), self.far[i])
            })
            .collect();
        let other = t.total(t.max);
        if !other.is_zero() {
            rows.push((IfaceId::Other, other, recent(t.max), FarSide::default()));
        }
        rows.sort_by_key(|(id, _, _, _)| *id);
        s.interface_recent = rows.iter().map(|r| r.2).collect();
        s.interface_far = rows.iter().map(|r| r.3).collect();
        s.interfaces = rows.into_iter().map(|(id, c, _, _)| (id, c)).collect();
    }
}

/// Is an interface with this name the link to the Internet? ("wan", "wan0", "WAN2",
/// "internet", "pppoe-wan", "uplink1", MikroTik's "ether1-wan"; names come from the config or the
/// router's options data.) A word of the name starting with "wan" counts, not "swan".
pub fn is_wan(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    n.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w.starts_with("wan"))
        || ["internet", "pppoe", "uplink"].iter().any(|w| n.contains(w))
}

#[cfg(test)]
mod tests {
    use super::is_wan;

    #[test]
    fn wan_names() {
        for n in [
            "wan",
            "WAN",
            "wan0",
            "Wan2",
            "pppoe-wan",
            "PPPoE0",
            "Internet",
            "my internet",
            "uplink",
            "UPLINK-1",
            "ether1-wan",
            "sfp-sfpplus1 (WAN)",
        ] {
            assert!(is_wan(n), "{n}");
        }
        for n in ["lan", "wlan0", "eth0", "swan", "guest wifi", "ether2-lan", "bridge", ""] {
            assert!(!is_wan(n), "{n}");
        }
    }

    #[test]
    fn the_line_by_config_then_traffic_then_name() {
        use super::{line_of, FarSide, WanBy};
        let world = FarSide { hosted: 1 << 20, remote: 1 << 20 };
        let lan = FarSide { hosted: 1 << 20, remote: 0 };
        let little = FarSide { hosted: 1000, remote: 1000 };
        let rows = [(1, Some("ether1"), world), (2, Some("bridge"), lan), (3, Some("ether3-wan"), lan)];
        assert_eq!(line_of(Some(&[2]), &rows), vec![(2, WanBy::Config)]);
        assert_eq!(line_of(None, &rows), vec![(1, WanBy::Traffic)], "the traffic wins over a name");
        assert_eq!(line_of(None, &[(0, None, world)]), vec![], "ifIndex 0 is unknown");
        let quiet = [(1, Some("ether1-wan"), little), (2, Some("ether2"), little)];
        assert_eq!(line_of(None, &quiet), vec![(1, WanBy::Name)]);
        // A router on a stick (one interface both ways) is not the line.
        assert_eq!(line_of(None, &[(1, None, FarSide { hosted: 2 << 20, remote: 1 << 20 })]), vec![]);
    }
}
