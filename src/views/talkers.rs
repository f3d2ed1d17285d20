//! The conversations and ports views: bounded heavy-hitter tables (see `topk`) of (local host,
//! remote peer) and (protocol, port), bytes received and sent by local hosts, since start.

use super::{AddrKey, Applications, PortRow, Snapshot, Talk};
use crate::stats::{self, Stats};
use crate::topk::TopK;
use crate::views::attribute::Flow;

pub struct Talkers {
    conversations: TopK<(AddrKey, AddrKey)>,
    ports: TopK<(u8, u16)>,
}

impl Talkers {
    pub fn new(conversations: usize, ports: usize) -> Talkers {
        Talkers { conversations: TopK::new(conversations), ports: TopK::new(ports) }
    }

    #[inline]
    pub fn add(&mut self, f: &Flow) {
        if let (Some(h), Some(p)) = (f.sender, f.dst) {
            self.conversations.add((h, p), 0, f.bytes);
        }
        if let (Some(h), Some(p)) = (f.receiver, f.src) {
            self.conversations.add((h, p), f.bytes, 0);
        }
        if f.protocol == 6 || f.protocol == 17 {
            let rx = if f.receiver.is_some() { f.bytes } else { 0 };
            let tx = if f.sender.is_some() { f.bytes } else { 0 };
            self.ports.add((f.protocol, f.port), rx, tx);
        }
    }

    pub fn publish_stats(&self, st: &Stats) {
        stats::set(&st.conversations_evictions, self.conversations.evictions());
        stats::set(&st.ports_evictions, self.ports.evictions());
        stats::set(&st.conversations, self.conversations.len() as u64);
        stats::set(&st.ports, self.ports.len() as u64);
    }

    pub fn publish(&self, apps: &Applications, s: &mut Snapshot) {
        s.conversations = self
            .conversations
            .top(usize::MAX)
            .into_iter()
            .map(|e| Talk { host: e.key.0.into(), peer: e.key.1.into(), rx: e.rx, tx: e.tx, error: e.error })
            .collect();
        s.conversations_exact = self.conversations.exact();
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
