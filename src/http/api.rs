//! JSON answers: hosts, a host's detail, interfaces, applications, conversations, ports,
//! exporters and status, from the snapshot the collector published.

use serde::Serialize;

use super::{Body, Context, Reply};
use super::route::List;
use crate::views::applications::protocol_label;
use crate::views::{HostId, IfaceId, Talk};
use crate::stats;

#[derive(Serialize)]
struct HostRow {
    ip: String,
    rx_bytes: u64,
    tx_bytes: u64,
    rx_packets: u64,
    tx_packets: u64,
}

#[derive(Serialize)]
struct InterfaceRow {
    exporter: String,
    ifindex: Option<u32>,
    /// From the config's [[exporter]] interfaces, else the exporter's options data.
    name: Option<String>,
    in_bytes: u64,
    out_bytes: u64,
    in_packets: u64,
    out_packets: u64,
}

#[derive(Serialize)]
struct Status {
    version: &'static str,
    uptime_seconds: u64,
    step_seconds: u64,
    hosts: u64,
    interfaces: u64,
    datagrams: u64,
    records: u64,
    decode_errors: u64,
    /// A password protects the page (the page then offers to log out).
    auth: bool,
}

fn json<T: Serialize>(v: &T) -> Reply {
    match serde_json::to_vec(v) {
        Ok(b) => Reply::ok("application/json", Body::Owned(b)),
        Err(_) => Reply::error(500, "serialisation failed"),
    }
}

#[derive(Serialize)]
struct AppRow {
    name: String,
    rx_bytes: u64,
    tx_bytes: u64,
    rx_packets: u64,
    tx_packets: u64,
}

#[derive(Serialize)]
struct HostApp {
    name: String,
    rx_bytes: u64,
    tx_bytes: u64,
}

/// A heavy-hitter row. `error` is how many bytes more the true total may be (0: exact).
#[derive(Serialize)]
struct PeerRow {
    ip: String,
    rx_bytes: u64,
    tx_bytes: u64,
    error: u64,
}

#[derive(Serialize)]
struct HostDetailRow {
    #[serde(flatten)]
    host: HostRow,
    applications: Vec<HostApp>,
    peers: Vec<PeerRow>,
    /// False once more peers were seen than peers.max_per_host keeps: see each peer's error.
    peers_exact: bool,
}

#[derive(Serialize)]
struct ConversationRow {
    host: String,
    peer: String,
    rx_bytes: u64,
    tx_bytes: u64,
    error: u64,
}

#[derive(Serialize)]
struct PortApiRow {
    protocol: String,
    port: u16,
    application: String,
    rx_bytes: u64,
    tx_bytes: u64,
    error: u64,
}

/// Largest total first, then by the rows' own order, cut to `limit`.
fn sorted<T: Serialize>(mut rows: Vec<T>, total: impl Fn(&T) -> u64, limit: usize) -> Reply {
    rows.sort_by_key(|r| std::cmp::Reverse(total(r)));
    rows.truncate(limit);
    json(&rows)
}

fn host_row(id: &HostId, c: &crate::views::Counts) -> HostRow {
    HostRow {
        ip: match id {
            HostId::Ip(ip) => ip.to_string(),
            HostId::Other => "other".into(),
        },
        rx_bytes: c.in_bytes,
        tx_bytes: c.out_bytes,
        rx_packets: c.in_packets,
        tx_packets: c.out_packets,
    }
}

fn peer_row(t: &Talk) -> PeerRow {
    PeerRow { ip: t.peer.to_string(), rx_bytes: t.rx, tx_bytes: t.tx, error: t.error }
}

/// Every list busiest first. The `other` host row (hosts past archive.max_hosts) is listed with
/// ip "other".
pub fn list(ctx: &Context, list: List, limit: usize) -> Reply {
    let snap = ctx.published.get();
    match list {
        List::Hosts => {
            let mut rows: Vec<HostRow> = snap.hosts.iter().map(|(id, c)| host_row(id, c)).collect();
            // Equal totals keep the address order.
            rows.sort_by(|a, b| a.ip.cmp(&b.ip));
            sorted(rows, |r| r.rx_bytes + r.tx_bytes, limit)
        }
        List::Applications => {
            let rows: Vec<AppRow> = snap
                .applications
                .iter()
                .map(|(n, c)| AppRow {
                    name: n.to_string(),
                    rx_bytes: c.in_bytes,
                    tx_bytes: c.out_bytes,
                    rx_packets: c.in_packets,
                    tx_packets: c.out_packets,
                })
                .collect();
            sorted(rows, |r| r.rx_bytes + r.tx_bytes, limit)
        }
        List::Conversations => {
            let rows: Vec<ConversationRow> = snap
                .conversations
                .iter()
                .map(|t| ConversationRow {
                    host: t.host.to_string(),
                    peer: t.peer.to_string(),
                    rx_bytes: t.rx,
                    tx_bytes: t.tx,
                    error: t.error,
                })
                .collect();
            sorted(rows, |r| r.rx_bytes + r.tx_bytes, limit)
        }
        List::Ports => {
            let rows: Vec<PortApiRow> = snap
                .ports
                .iter()
                .map(|p| PortApiRow {
                    protocol: protocol_label(p.protocol),
                    port: p.port,
                    application: p.app.to_string(),
                    rx_bytes: p.rx,
                    tx_bytes: p.tx,
                    error: p.error,
                })
                .collect();
            sorted(rows, |r| r.rx_bytes + r.tx_bytes, limit)
        }
    }
}

/// One local host: its totals, bytes per application and top peers (both busiest first).
pub fn host(ctx: &Context, ip: std::net::IpAddr) -> Reply {
    let snap = ctx.published.get();
    let Some((c, d)) = snap.host(ip) else { return Reply::error(404, "no such local host") };
    let mut applications: Vec<HostApp> =
        d.apps.iter().map(|(n, rx, tx)| HostApp { name: n.to_string(), rx_bytes: *rx, tx_bytes: *tx }).collect();
    applications.sort_by_key(|a| std::cmp::Reverse(a.rx_bytes + a.tx_bytes));
    let mut peers: Vec<PeerRow> = d.peers.iter().map(peer_row).collect();
    peers.sort_by_key(|p| std::cmp::Reverse(p.rx_bytes + p.tx_bytes));
    json(&HostDetailRow { host: host_row(&HostId::Ip(ip), c), applications, peers, peers_exact: d.peers_exact })
}

/// Sorted by exporter and ifIndex; the overflow row has exporter "other" and ifindex null.
pub fn interfaces(ctx: &Context) -> Reply {
    let snap = ctx.published.get();
    let rows: Vec<InterfaceRow> = snap
        .interfaces
        .iter()
        .map(|(id, c)| {
            let (exporter, ifindex, name) = match id {
                IfaceId::If { exporter, ifindex } => {
                    (exporter.to_string(), Some(*ifindex), snap.interface_name(*exporter, *ifindex).map(str::to_string))
                }
                IfaceId::Other => ("other".to_string(), None, None),
            };
            InterfaceRow {
                exporter,
                ifindex,
                name,
                in_bytes: c.in_bytes,
                out_bytes: c.out_bytes,
                in_packets: c.in_packets,
                out_packets: c.out_packets,
            }
        })
        .collect();
    json(&rows)
}

#[derive(Serialize)]
struct ExporterRow {
    address: String,
    name: Option<String>,
    version: u16,
    /// v9 source id, IPFIX observation domain, v5 engine type and id.
    domain: u32,
    templates: usize,
    sampling_rate: u64,
    samplers: usize,
    datagrams: u64,
    records: u64,
    /// By sequence number: datagrams for v9, records for v5/v7/IPFIX.
    lost: u64,
}

pub fn exporters(ctx: &Context) -> Reply {
    let snap = ctx.published.get();
    let rows: Vec<ExporterRow> = snap
        .exporters
        .iter()
        .map(|e| ExporterRow {
            address: e.key.addr.to_string(),
            name: e.name.clone(),
            version: e.key.version,
            domain: e.key.domain,
            templates: e.templates,
            sampling_rate: e.sampling,
            samplers: e.samplers,
            datagrams: e.datagrams,
            records: e.records,
            lost: e.lost,
        })
        .collect();
    json(&rows)
}

pub fn status(ctx: &Context) -> Reply {
    let s = &ctx.stats;
    json(&Status {
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: ctx.published.started.elapsed().as_secs(),
        step_seconds: ctx.step.as_secs(),
        hosts: stats::get(&s.hosts),
        interfaces: stats::get(&s.interfaces),
        datagrams: stats::get(&s.datagrams),
        records: stats::get(&s.records),
        decode_errors: s.decode_errors_total(),
        auth: !ctx.guard.is_open(),
    })
}
