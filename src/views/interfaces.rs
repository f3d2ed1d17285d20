//! The interfaces view: bytes and packets per (exporter, ifIndex) and step, archived; in is the
//! flow's input interface, out its output.

use super::table::Table;
use super::{split, Clock, Counts, IfKey, IfaceId, Place, Recent, Snapshot, Subject};
use crate::stats::Stats;
use crate::views::attribute::Flow;

pub struct Interfaces {
    table: Table<IfKey>,
}

impl Interfaces {
    pub fn new(max: usize, open: usize) -> Interfaces {
        Interfaces { table: Table::new(max, open, None) }
    }

    #[inline]
    pub fn add(&mut self, f: &Flow, place: Place, parts: &[(usize, u64)], st: &Stats) {
        let (overflow, size, reused) = (&st.interface_overflow_records, &st.interfaces, &st.host_rows_reused);
        let i = self.table.row(IfKey(f.ex, f.input_if), overflow, size, reused).index();
        let o = self.table.row(IfKey(f.ex, f.output_if), overflow, size, reused).index();
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
        let mut rows: Vec<(IfaceId, Counts, Recent)> = t
            .keys
            .iter()
            .enumerate()
            .map(|(i, IfKey(ex, ifindex))| {
                (IfaceId::If { exporter: (*ex).into(), ifindex: *ifindex }, t.total(i), recent(i))
            })
            .collect();
        let other = t.total(t.max);
        if !other.is_zero() {
            rows.push((IfaceId::Other, other, recent(t.max)));
        }
        rows.sort_by_key(|(id, _, _)| *id);
        s.interface_recent = rows.iter().map(|r| r.2).collect();
        s.interfaces = rows.into_iter().map(|(id, c, _)| (id, c)).collect();
    }
}

/// Is an interface with this name the link to the Internet? ("wan", "wan0", "WAN2",
/// "internet", "pppoe-wan", "uplink1"; names come from the config or the router's options data.)
pub fn is_wan(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    n.starts_with("wan") || ["internet", "pppoe", "uplink"].iter().any(|w| n.contains(w))
}

#[cfg(test)]
mod tests {
    use super::is_wan;

    #[test]
    fn wan_names() {
        for n in ["wan", "WAN", "wan0", "Wan2", "pppoe-wan", "PPPoE0", "Internet", "my internet", "uplink", "UPLINK-1"]
        {
            assert!(is_wan(n), "{n}");
        }
        for n in ["lan", "wlan0", "eth0", "swan", "guest wifi", ""] {
            assert!(!is_wan(n), "{n}");
        }
    }
}
