//! The hosts view: per local host its bytes and packets per step (archived), its bytes per
//! application and its top remote peers; rows idle for `archive.host_idle` go to newcomers.

use super::table::{Row, Table};
use super::{
    split, AddrKey, Applications, Bounds, Clock, Counts, HostDetail, HostId, Place, Recent, Snapshot, Subject, Talk,
};
use crate::stats::{self, Stats};
use crate::topk::Tables;
use crate::views::attribute::Flow;

pub struct Hosts {
    table: Table<AddrKey>,
    napps: usize,
    /// Per row, [received, sent] bytes per application since the row got its host; row-major,
    /// grown a row at a time as rows are taken (at most `max_hosts` rows).
    apps: Vec<[u64; 2]>,
    /// The `other` row's.
    other_apps: Vec<[u64; 2]>,
    /// Per row, its top remote peers: table `i` is row `i`'s.
    peers: Tables<AddrKey>,
    peers_per_host: usize,
    /// Conversations listed at most.
    conversations: usize,
}

impl Hosts {
    pub fn new(b: &Bounds, napps: usize, open: usize) -> Hosts {
        let idle = (b.host_idle_steps > 0).then_some(b.host_idle_steps);
        Hosts {
            table: Table::new(b.max_hosts, open, idle),
            napps,
            apps: Vec::new(),
            other_apps: vec![[0; 2]; napps],
            peers: Tables::new(b.peers_per_host),
            peers_per_host: b.peers_per_host,
            conversations: b.conversations,
        }
    }

    /// The row of a local host, its side tables ready.
    #[inline]
    fn row(&mut self, a: AddrKey, st: &Stats) -> usize {
        let r = self.table.row(a, &st.host_overflow_records, &st.hosts, &st.host_rows_reused);
        let i = r.index();
        match r {
            Row::Fits(i) if i < self.peers.tables() => {}
            Row::Fits(_) => self.grow(),
            Row::Reused(i) => {
                self.apps[i * self.napps..][..self.napps].fill([0; 2]);
                self.peers.clear(i);
            }
            Row::Other(_) => {}
        }
        i
    }

    #[cold]
    fn grow(&mut self) {
        self.apps.resize(self.apps.len() + self.napps, [0; 2]);
        self.peers.push();
    }

    #[inline]
    pub fn add(&mut self, f: &Flow, place: Place, parts: &[(usize, u64)], st: &Stats) {
        if let Some(a) = f.sender {
            self.side(a, f.dst, false, f, place, parts, st);
        }
        if let Some(a) = f.receiver {
            self.side(a, f.src, true, f, place, parts, st);
        }
    }

    /// One local host's side of a flow: it `received` it from `peer`, or sent it there.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn side(
        &mut self,
        host: AddrKey,
        peer: Option<AddrKey>,
        received: bool,
        f: &Flow,
        place: Place,
        parts: &[(usize, u64)],
        st: &Stats,
    ) {
        let i = self.row(host, st);
        let put = |c: &mut Counts, b: u64, p: u64| if received { c.add_in(b, p) } else { c.add_out(b, p) };
        match place {
            Place::One(slot) => put(self.table.bucket(i, slot), f.bytes, f.packets),
            Place::Spread => split(parts, f.bytes, f.packets, |s, b, p| put(self.table.bucket(i, s), b, p)),
        }
        self.app_cell(i, f.app as usize)[usize::from(!received)] += f.bytes;
        if let (Some(peer), true) = (peer, i < self.table.max) {
            let (rx, tx) = if received { (f.bytes, 0) } else { (0, f.bytes) };
            self.peers.add(i, peer, rx, tx);
        }
    }

    #[inline(always)]
    fn app_cell(&mut self, row: usize, app: usize) -> &mut [u64; 2] {
        if row == self.table.max {
            &mut self.other_apps[app]
        } else {
            &mut self.apps[row * self.napps + app]
        }
    }

    pub fn drain(&mut self, clock: &Clock, out: &mut Vec<(Subject, i64, Counts)>) {
        self.table.drain(clock, |k, step, c| {
            let id = k.map_or(HostId::Other, |a| HostId::Ip(a.into()));
            out.push((Subject::Host(id), step, c));
        });
    }

    pub fn settle(&mut self, cur: i64) {
        self.table.settle(cur);
    }

    pub fn publish_stats(&self, st: &Stats) {
        stats::set(&st.peers_evictions, self.peers.evictions());
        stats::set(&st.peers, self.peers.rows() as u64);
    }

    #[cfg(test)]
    pub fn capacity(&self) -> (usize, usize) {
        self.table.capacity()
    }

    pub fn publish(&self, apps: &Applications, s: &mut Snapshot) {
        let t = &self.table;
        let detail = |cells: &[[u64; 2]], peers: Option<(usize, AddrKey)>| HostDetail {
            apps: cells
                .iter()
                .enumerate()
                .filter(|(_, c)| c[0] != 0 || c[1] != 0)
                .map(|(id, c)| (apps.name(id as u16), c[0], c[1]))
                .collect(),
            peers: peers.map_or_else(Vec::new, |(t, host)| {
                self.peers
                    .top(t, self.peers_per_host)
                    .into_iter()
                    .map(|e| Talk { host: host.into(), peer: e.key.into(), rx: e.rx, tx: e.tx, error: e.error })
                    .collect()
            }),
            peers_exact: peers.is_none_or(|(t, _)| self.peers.exact(t)),
        };
        let recent = |i: usize| Recent::of(t.recent(i), s.step_ms);
        let mut rows: Vec<(HostId, Counts, HostDetail, Recent)> = t
            .keys
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let cells = &self.apps[i * self.napps..][..self.napps];
                (HostId::Ip((*a).into()), t.total(i), detail(cells, Some((i, *a))), recent(i))
            })
            .collect();
        let other = t.total(t.max);
        if !other.is_zero() {
            rows.push((HostId::Other, other, detail(&self.other_apps, None), recent(t.max)));
        }
        rows.sort_by_key(|(id, _, _, _)| *id);
        // Conversations: every host's peers, busiest first.
        let mut talks: Vec<Talk> = rows.iter().flat_map(|(_, _, d, _)| d.peers.iter().copied()).collect();
        let order =
            |a: &Talk, b: &Talk| (b.rx + b.tx).cmp(&(a.rx + a.tx)).then((a.host, a.peer).cmp(&(b.host, b.peer)));
        if talks.len() > self.conversations {
            if self.conversations == 0 {
                talks.clear();
            } else {
                talks.select_nth_unstable_by(self.conversations - 1, order);
                talks.truncate(self.conversations);
            }
        }
        talks.sort_unstable_by(order);
        s.conversations = talks;
        s.conversations_exact = rows.iter().all(|(_, _, d, _)| d.peers_exact);
        s.hosts = rows.iter().map(|(id, c, _, _)| (*id, *c)).collect();
        s.host_recent = rows.iter().map(|r| r.3).collect();
        s.host_details = rows.into_iter().map(|(_, _, d, _)| d).collect();
    }
}
