//! The ports view: a bounded heavy-hitter table (see `topk`) of (protocol, port), bytes received
//! and sent by local hosts, since start. (Conversations are the hosts' peer tables, merged: see
//! `hosts`.)

use super::{Applications, PortRow, Snapshot};
use crate::stats::{self, Stats};
use crate::topk::TopK;
use crate::views::attribute::Flow;

pub struct Talkers {
    ports: TopK<(u8, u16)>,
}

impl Talkers {
    pub fn new(ports: usize) -> Talkers {
        Talkers { ports: TopK::new(ports) }
    }

    #[inline]
    pub fn add(&mut self, f: &Flow) {
        if f.protocol == 6 || f.protocol == 17 {
            let rx = if f.receiver.is_some() { f.bytes } else { 0 };
            let tx = if f.sender.is_some() { f.bytes } else { 0 };
            self.ports.add((f.protocol, f.port), rx, tx);
        }
    }

    pub fn publish_stats(&self, st: &Stats) {
        stats::set(&st.ports_evictions, self.ports.evictions());
        stats::set(&st.ports, self.ports.len() as u64);
    }

    pub fn publish(&self, apps: &Applications, s: &mut Snapshot) {
        s.ports = self
            .ports
            .top(usize::MAX)
            .into_iter()
            .map(|e| PortRow {
                protocol: e.key.0,
                port: e.key.1,
                app: apps.port_name(e.key.0, e.key.1),
                rx: e.rx,
                tx: e.tx,
                error: e.error,
            })
            .collect();
        s.ports_exact = self.ports.exact();
    }
}
