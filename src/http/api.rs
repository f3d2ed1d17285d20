//! JSON answers: hosts, interfaces and status, from the snapshot the collector published.

use serde::Serialize;

use super::{Body, Context, Reply};
use crate::aggregate::{HostId, IfaceId};
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

/// Busiest first; the `other` row (hosts past archive.max_hosts) is listed with ip "other".
pub fn hosts(ctx: &Context) -> Reply {
    let snap = ctx.published.get();
    let mut rows: Vec<HostRow> = snap
        .hosts
        .iter()
        .map(|(id, c)| HostRow {
            ip: match id {
                HostId::Ip(ip) => ip.to_string(),
                HostId::Other => "other".into(),
            },
            rx_bytes: c.in_bytes,
            tx_bytes: c.out_bytes,
            rx_packets: c.in_packets,
            tx_packets: c.out_packets,
        })
        .collect();
    rows.sort_by(|a, b| (b.rx_bytes + b.tx_bytes).cmp(&(a.rx_bytes + a.tx_bytes)).then(a.ip.cmp(&b.ip)));
    json(&rows)
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
