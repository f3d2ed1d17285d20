//! JSON and CSV answers: hosts, a host's detail, interfaces, applications, conversations, ports,
//! exporters and status, from the snapshot the collector published (totals since start), or over
//! a window: from the archives, the day totals or the top-k history.

use serde::Serialize;

use super::route::{List, ListQuery, Sort};
use super::{Body, Context, Reply};
use crate::archive::{Answer, GraphError, Query, Window};
use crate::stats;
use crate::views::applications::protocol_label;
use crate::views::{Counts, Subject};
use crate::views::{HostId, IfaceId, Snapshot, Talk};

#[derive(Serialize)]
struct HostRow {
    ip: String,
    /// From [[host]], else the reverse lookup's cached answer (of the first of its addresses that
    /// has one); null while unknown.
    name: Option<String>,
    /// A device of several addresses: its MAC, when known, and its addresses (configured ones
    /// first, then as last seen).
    #[serde(skip_serializing_if = "Option::is_none")]
    mac: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    addresses: Vec<String>,
    rx_bytes: u64,
    tx_bytes: u64,
    rx_packets: u64,
    tx_packets: u64,
    /// What arrived during the last step, as bits/s (0 for a host not in the since-start table).
    now_rx_bps: f64,
    now_tx_bps: f64,
    /// Unix seconds of the start of the last step the host counted in since flowpi started.
    last_seen: Option<i64>,
    /// Over a window: the 95th percentile of the archive's rows known by now, bits/s; null with
    /// too few of them (or while the archive is busy).
    #[serde(skip_serializing_if = "Option::is_none")]
    p95_rx_bps: Option<Option<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p95_tx_bps: Option<Option<f64>>,
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
    /// The internet line (listed first), and why: `config`, `traffic` (its far side is the rest of
    /// the world) or `name` (`wan`, `ether1-wan`, `internet`, …).
    wan: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    wan_by: Option<&'static str>,
    now_in_bps: f64,
    now_out_bps: f64,
    last_seen: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p95_in_bps: Option<Option<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p95_out_bps: Option<Option<f64>>,
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
    /// The zone the periods, graphs and `from`/`to` times are in.
    zone: String,
    /// The interfaces taken as the internet line, and why.
    wan: Vec<WanRow>,
    /// Networks learned as local behind the line (network.learn), oldest first.
    learned_networks: Vec<LearnedRow>,
}

#[derive(Serialize)]
struct LearnedRow {
    network: String,
    /// Unix seconds.
    since: i64,
}

#[derive(Serialize)]
struct WanRow {
    exporter: String,
    ifindex: u32,
    name: Option<String>,
    /// `config`, `traffic` or `name`.
    by: &'static str,
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
    host_name: Option<String>,
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

/// Largest first (received plus sent, or one of them), then by the rows' own order, cut to
/// `limit`. Rows name their bytes `rx_bytes`/`tx_bytes`, interfaces `in_bytes`/`out_bytes`.
fn sorted<T: Serialize>(rows: Vec<T>, sort: Sort, limit: usize) -> serde_json::Value {
    use serde_json::Value;
    let mut v: Vec<Value> = rows.into_iter().filter_map(|r| serde_json::to_value(r).ok()).collect();
    let field = |r: &Value, a: &str, b: &str| r.get(a).or_else(|| r.get(b)).and_then(Value::as_u64).unwrap_or(0);
    let rate = |r: &Value, a: &str, b: &str| r.get(a).or_else(|| r.get(b)).and_then(Value::as_f64).unwrap_or(0.0);
    let key = |r: &Value| match sort {
        Sort::Total => field(r, "rx_bytes", "in_bytes").saturating_add(field(r, "tx_bytes", "out_bytes")),
        Sort::Rx => field(r, "rx_bytes", "in_bytes"),
        Sort::Tx => field(r, "tx_bytes", "out_bytes"),
        // Rates in bits/s; whole bits order them well enough.
        Sort::Now => (rate(r, "now_rx_bps", "now_in_bps") + rate(r, "now_tx_bps", "now_out_bps")) as u64,
    };
    v.sort_by_key(|r| std::cmp::Reverse(key(r)));
    v.truncate(limit);
    Value::Array(v)
}

/// A host's row: its name, and its "now" and last seen from the since-start snapshot.
/// A device's name, as the page shows it (see [`Snapshot::device_name`]).
fn device_name(ctx: &Context, snap: &Snapshot, ip: std::net::IpAddr) -> Option<String> {
    snap.device_name(ip, |a| ctx.names.get(a)).map(|n| n.to_string())
}

fn host_row(ctx: &Context, snap: &Snapshot, id: &HostId, c: &crate::views::Counts) -> HostRow {
    let recent = snap.host_recent_of(id);
    let now = recent.bps(snap.step_ms);
    let device = match id {
        HostId::Ip(ip) => snap.members_of(*ip),
        HostId::Other => None,
    };
    let addresses: Vec<std::net::IpAddr> =
        device.map(|d| d.addresses.iter().map(|a| a.0).collect()).unwrap_or_default();
    let (ip, name) = match id {
        HostId::Ip(ip) => (ip.to_string(), device_name(ctx, snap, *ip)),
        HostId::Other => ("other".into(), None),
    };
    HostRow {
        ip,
        name,
        mac: device.and_then(|d| d.mac).map(crate::net::fmt_mac),
        addresses: addresses.iter().map(|a| a.to_string()).collect(),
        rx_bytes: c.in_bytes,
        tx_bytes: c.out_bytes,
        rx_packets: c.in_packets,
        tx_packets: c.out_packets,
        now_rx_bps: now[0],
        now_tx_bps: now[1],
        last_seen: recent.last_seen_ms.map(|ms| ms / 1000),
        p95_rx_bps: None,
        p95_tx_bps: None,
    }
}

fn peer_row(t: &Talk) -> PeerRow {
    PeerRow { ip: t.peer.to_string(), rx_bytes: t.rx, tx_bytes: t.tx, error: t.error }
}

fn app_row(n: &crate::views::AppName, c: &Counts) -> AppRow {
    AppRow {
        name: n.to_string(),
        rx_bytes: c.in_bytes,
        tx_bytes: c.out_bytes,
        rx_packets: c.in_packets,
        tx_packets: c.out_packets,
    }
}

/// A windowed row's two percentiles: `None` when the archive could not say (busy), else each
/// `None` with too few known rows.
type P95 = Option<[Option<f64>; 2]>;

fn interface_row(snap: &Snapshot, id: &IfaceId, c: &Counts, p95: Option<P95>) -> InterfaceRow {
    let recent = snap.interface_recent_of(id);
    let now = recent.bps(snap.step_ms);
    let (exporter, ifindex, name) = match id {
        IfaceId::If { exporter, ifindex } => {
            (exporter.to_string(), Some(*ifindex), snap.interface_name(*exporter, *ifindex).map(str::to_string))
        }
        IfaceId::Other => ("other".to_string(), None, None),
    };
    let wan_by = match id {
        IfaceId::If { exporter, ifindex } => snap.wan_by(*exporter, *ifindex),
        IfaceId::Other => None,
    };
    InterfaceRow {
        exporter,
        ifindex,
        wan: wan_by.is_some(),
        wan_by: wan_by.map(|b| b.as_str()),
        name,
        now_in_bps: now[0],
        now_out_bps: now[1],
        last_seen: recent.last_seen_ms.map(|ms| ms / 1000),
        in_bytes: c.in_bytes,
        out_bytes: c.out_bytes,
        in_packets: c.in_packets,
        out_packets: c.out_packets,
        p95_in_bps: p95.map(|p| p.and_then(|p| p[0])),
        p95_out_bps: p95.map(|p| p.and_then(|p| p[1])),
    }
}

/// What a windowed answer says about itself, beside its rows.
#[derive(Serialize)]
struct Meta {
    /// The window answered, `[from, to)`, in the configured zone, and as Unix seconds.
    from: String,
    to: String,
    from_unix: i64,
    to_unix: i64,
    zone: String,
    /// Seconds per archive row the totals and percentiles were read at (the window is widened
    /// to whole rows); for `period=` totals, the day totals are exact and this is the
    /// percentiles' row width.
    resolution: u64,
    /// "archives", "day totals" or "top-k history".
    source: &'static str,
    /// For a named period: from when it has counts, its start or when counting began if later;
    /// null when counting began after it. An estimate for the whole period scales from this.
    #[serde(skip_serializing_if = "Option::is_none")]
    data_from: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_from_unix: Option<Option<i64>>,
    /// False when part of the window is older than what is kept, or totals carry an error bound.
    complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(flatten)]
    meta: &'a Meta,
    rows: &'a serde_json::Value,
}

/// JSON (the rows, or the rows in an envelope saying what window they cover) or CSV (the rows;
/// the window in an `X-Flowpi-Window` header).
fn respond(name: &str, rows: serde_json::Value, meta: Option<Meta>, csv: bool) -> Reply {
    if csv {
        let body = match super::csv::encode(&rows) {
            Ok(b) => b,
            Err(e) => return Reply::error(500, &e),
        };
        let mut reply = Reply::ok("text/csv; charset=utf-8", Body::Owned(body))
            .with(hyper::header::CONTENT_DISPOSITION, super::csv::disposition(name));
        if let Some(m) = meta {
            let w = format!(
                "from={}; to={}; resolution={}; source={}; complete={}",
                m.from, m.to, m.resolution, m.source, m.complete
            );
            reply = reply.with(hyper::header::HeaderName::from_static("x-flowpi-window"), w);
        }
        return reply;
    }
    match meta {
        None => json(&rows),
        Some(meta) => json(&Envelope { meta: &meta, rows: &rows }),
    }
}

/// The window a query asks for, `[from, to)` in Unix seconds: a period, or from/to (from
/// defaults to a day before `to`, `to` to now).
fn resolve(ctx: &Context, q: &ListQuery) -> Result<(i64, i64), String> {
    let now = crate::views::wall_ms() / 1000;
    if let Some(p) = q.period {
        return Ok(ctx.calendar.bounds(p, now));
    }
    let to = match &q.to {
        Some(t) => ctx.calendar.parse_time(t).map_err(|e| format!("to: {e}"))?,
        None => now,
    };
    let from = match &q.from {
        Some(f) => ctx.calendar.parse_time(f).map_err(|e| format!("from: {e}"))?,
        None => to - 86_400,
    };
    if from >= to {
        return Err(format!("from ({}) must be before to ({})", ctx.calendar.format(from), ctx.calendar.format(to)));
    }
    Ok((from, to))
}

fn meta(ctx: &Context, w: &Window, source: &'static str, complete: bool, note: Option<String>) -> Meta {
    meta_of(ctx, (w.from, w.to), w.resolution, source, complete, note)
}

fn meta_of(
    ctx: &Context,
    (from, to): (i64, i64),
    resolution: u64,
    source: &'static str,
    complete: bool,
    note: Option<String>,
) -> Meta {
    Meta {
        from: ctx.calendar.format(from),
        to: ctx.calendar.format(to),
        from_unix: from,
        to_unix: to,
        zone: ctx.calendar.zone_name().to_string(),
        resolution,
        source,
        data_from: None,
        data_from_unix: None,
        complete,
        note,
    }
}

/// A graph's window from its parameters: the URL's span up to now when none is given, a named
/// period, or from/to read as the API reads them (so a graph and a list of the same window agree).
pub(super) fn window(ctx: &Context, q: &ListQuery) -> Result<crate::rrd::graph::Window, String> {
    use crate::rrd::graph::Window;
    Ok(match q.period {
        Some(p) => Window::Named(p),
        None if q.windowed() => {
            let (from, to) = resolve(ctx, q)?;
            Window::Between { from, to }
        }
        None => Window::Last,
    })
}

/// What `/graph/overview/…` with the same window and `n` draws: the hosts in order with their
/// colours and bytes, and the WAN interface (none when no interface is named as one). Without a
/// window: the last day, as `/graph/overview/day.png` draws it.
pub async fn overview(ctx: &Context, q: ListQuery, n: usize) -> Reply {
    let window = match window(ctx, &q) {
        Ok(w) => w,
        Err(m) => return Reply::error(400, &m),
    };
    let o = match archive_query(ctx, Query::Overview { window, n }).await {
        Ok(Answer::Overview(o)) => o,
        Ok(_) => return Reply::error(500, "unexpected answer"),
        Err(reply) => return reply,
    };
    #[derive(Serialize)]
    struct Host {
        ip: String,
        name: Option<String>,
        colour: &'static str,
        rx_bytes: u64,
        tx_bytes: u64,
    }
    #[derive(Serialize)]
    struct Wan {
        exporter: String,
        ifindex: u32,
        name: String,
        in_bytes: u64,
        out_bytes: u64,
    }
    #[derive(Serialize)]
    struct Out {
        from: String,
        to: String,
        zone: String,
        hosts: Vec<Host>,
        wan: Option<Wan>,
    }
    let snap = ctx.published.get();
    let hosts = o
        .hosts
        .iter()
        .zip(crate::rrd::graph::PALETTE)
        .map(|((ip, c), colour)| Host {
            ip: ip.to_string(),
            name: device_name(ctx, &snap, *ip),
            colour,
            rx_bytes: c.in_bytes,
            tx_bytes: c.out_bytes,
        })
        .collect();
    let wan = o.wan.map(|w| Wan {
        exporter: w.exporter.to_string(),
        ifindex: w.ifindex,
        name: w.name,
        in_bytes: w.counts.in_bytes,
        out_bytes: w.counts.out_bytes,
    });
    json(&Out {
        from: ctx.calendar.format(o.from),
        to: ctx.calendar.format(o.to),
        zone: ctx.calendar.zone_name().to_string(),
        hosts,
        wan,
    })
}

/// Ask the archive thread without holding a runtime worker.
async fn archive_query(ctx: &Context, q: Query) -> Result<Answer, Reply> {
    let archive = ctx.archive.clone();
    let r = tokio::task::spawn_blocking(move || archive.query(q)).await.unwrap_or(Err(GraphError::Unavailable));
    r.map_err(|e| match e {
        GraphError::NotFound => Reply::error(404, "no such archive"),
        GraphError::Unavailable => Reply::error(503, "the archive is busy; try again"),
        GraphError::Failed(m) if m == "no such archive" => Reply::error(404, &m),
        GraphError::Failed(m) => Reply::error(500, &m),
    })
}

/// Hosts, interfaces or applications over a window: totals and percentiles from the archives;
/// for a named period the totals are the day totals (exact, kept across restarts).
/// `only`: one archive of the kind (a host's detail) instead of all of them.
async fn archived(
    ctx: &Context,
    list: List,
    only: Option<Subject>,
    q: &ListQuery,
) -> Result<(Vec<(Subject, Counts, P95)>, Meta), Reply> {
    let (from, to) = resolve(ctx, q).map_err(|m| Reply::error(400, &m))?;
    let dir = match list {
        List::Hosts => "hosts",
        List::Interfaces => "interfaces",
        _ => "applications",
    };
    let query = match only {
        Some(subject) => Query::Series { subject, from, to },
        None => Query::Totals { dir, from, to },
    };
    let w = match archive_query(ctx, query).await {
        Ok(Answer::Totals(w)) => w,
        Ok(Answer::Series(s)) => s.window,
        Ok(_) => return Err(Reply::error(500, "unexpected answer")),
        // The day totals do not need the archive thread: a busy one costs only the percentiles.
        Err(_) if q.period.is_some() => Window::default(),
        Err(reply) => return Err(reply),
    };
    let mut rows: Vec<(Subject, Counts, P95)> = w.rows.iter().map(|r| (r.subject, r.counts, Some(r.p95_bps))).collect();
    let Some(p) = q.period else {
        let note = w.reaches_past_kept.then(|| "part of the window is older than the archives keep".to_string());
        return Ok((rows, meta(ctx, &w, "archives", !w.reaches_past_kept, note)));
    };
    // A named period: the day totals, which every period's days are kept for.
    let periods = ctx.archive.periods();
    let p95: std::collections::HashMap<Subject, [Option<f64>; 2]> =
        w.rows.iter().map(|r| (r.subject, r.p95_bps)).collect();
    rows = periods
        .of(p)
        .filter(|(s, _)| s.dir() == dir && only.is_none_or(|o| o == **s))
        .map(|(s, c)| (*s, *c, p95.get(s).copied()))
        .collect();
    // Before the first step the published periods are empty: the bounds are the request's.
    let bounds = match periods.bounds(p) {
        (0, 0) => (from, to),
        b => b,
    };
    let mut note = format!(
        "{}: totals per local day in {}; percentiles from the archives' rows",
        p.name(),
        ctx.calendar.zone_name()
    );
    if w.resolution == 0 {
        note.push_str(" (not available now: the archive was busy)");
    }
    let mut m = meta_of(ctx, bounds, w.resolution, "day totals", true, Some(note));
    let data_from = periods.data_from(p);
    m.data_from = Some(data_from.map(|t| ctx.calendar.format(t)));
    m.data_from_unix = Some(data_from);
    Ok((rows, m))
}

/// Every list busiest first. The `other` host row (hosts past archive.max_hosts) is listed with
/// ip "other". Without a window: since flowpi started.
pub async fn list(ctx: &Context, list: List, q: ListQuery) -> Reply {
    let limit = q.limit.unwrap_or(usize::MAX);
    let sort = q.sort.unwrap_or_default();
    let snap = ctx.published.get();
    if !q.windowed() {
        let rows = match list {
            List::Hosts => {
                let mut rows: Vec<HostRow> = snap.hosts.iter().map(|(id, c)| host_row(ctx, &snap, id, c)).collect();
                // Equal totals keep the address order.
                rows.sort_by(|a, b| a.ip.cmp(&b.ip));
                sorted(rows, sort, limit)
            }
            List::Interfaces => {
                let rows: Vec<InterfaceRow> =
                    snap.interfaces.iter().map(|(id, c)| interface_row(&snap, id, c, None)).collect();
                if q.sort.is_some() {
                    sorted(rows, sort, limit)
                } else {
                    wan_first(rows, limit)
                }
            }
            List::Applications => {
                let rows: Vec<AppRow> = snap.applications.iter().map(|(n, c)| app_row(n, c)).collect();
                sorted(rows, sort, limit)
            }
            List::Conversations => {
                let rows: Vec<ConversationRow> =
                    snap.conversations.iter().map(|t| conversation_row(ctx, &snap, t)).collect();
                sorted(rows, sort, limit)
            }
            List::Ports => {
                let rows: Vec<PortApiRow> = snap.ports.iter().map(port_row).collect();
                sorted(rows, sort, limit)
            }
        };
        return respond(list.name(), rows, None, q.csv);
    }
    match list {
        List::Hosts | List::Interfaces | List::Applications => {
            let (rows, meta) = match archived(ctx, list, None, &q).await {
                Ok(v) => v,
                Err(reply) => return reply,
            };
            let value = match list {
                List::Hosts => {
                    let mut out: Vec<HostRow> = rows
                        .iter()
                        .filter_map(|(s, c, p)| match s {
                            Subject::Host(h) => {
                                let mut r = host_row(ctx, &snap, h, c);
                                r.p95_rx_bps = Some(p.and_then(|p| p[0]));
                                r.p95_tx_bps = Some(p.and_then(|p| p[1]));
                                Some(r)
                            }
                            _ => None,
                        })
                        .collect();
                    out.sort_by(|a, b| a.ip.cmp(&b.ip));
                    sorted(out, sort, limit)
                }
                List::Interfaces => {
                    let out: Vec<InterfaceRow> = rows
                        .iter()
                        .filter_map(|(s, c, p)| match s {
                            Subject::Interface(i) => Some(interface_row(&snap, i, c, Some(*p))),
                            _ => None,
                        })
                        .collect();
                    if q.sort.is_some() {
                        sorted(out, sort, limit)
                    } else {
                        wan_first(out, limit)
                    }
                }
                _ => {
                    let out: Vec<AppRow> = rows
                        .iter()
                        .filter_map(|(s, c, _)| match s {
                            Subject::Application(a) => Some(app_row(a, c)),
                            _ => None,
                        })
                        .collect();
                    sorted(out, sort, limit)
                }
            };
            respond(list.name(), value, Some(meta), q.csv)
        }
        List::Conversations | List::Ports => {
            let (from, to) = match resolve(ctx, &q) {
                Ok(v) => v,
                Err(m) => return Reply::error(400, &m),
            };
            let top = match top_query(ctx, from, to).await {
                Ok(t) => t,
                Err(reply) => return reply,
            };
            let value = if list == List::Conversations {
                let snap = ctx.published.get();
                let rows: Vec<ConversationRow> = top.talks.iter().map(|t| conversation_row(ctx, &snap, t)).collect();
                sorted(rows, sort, limit)
            } else {
                let rows: Vec<PortApiRow> = top.ports.iter().map(port_row).collect();
                sorted(rows, sort, limit)
            };
            let meta = top_meta(ctx, &top);
            respond(list.name(), value, Some(meta), q.csv)
        }
    }
}

/// Interfaces as the page lists them: the WAN first, then busiest first.
fn wan_first(mut rows: Vec<InterfaceRow>, limit: usize) -> serde_json::Value {
    rows.sort_by_key(|r| (!r.wan, std::cmp::Reverse(r.in_bytes.saturating_add(r.out_bytes))));
    rows.truncate(limit);
    serde_json::to_value(rows).unwrap_or_default()
}

fn conversation_row(ctx: &Context, snap: &Snapshot, t: &Talk) -> ConversationRow {
    ConversationRow {
        host: t.host.to_string(),
        host_name: device_name(ctx, snap, t.host),
        peer: t.peer.to_string(),
        rx_bytes: t.rx,
        tx_bytes: t.tx,
        error: t.error,
    }
}

fn port_row(p: &crate::views::PortRow) -> PortApiRow {
    PortApiRow {
        protocol: protocol_label(p.protocol),
        port: p.port,
        application: p.app.to_string(),
        rx_bytes: p.rx,
        tx_bytes: p.tx,
        error: p.error,
    }
}

/// One local host: its totals, bytes per application and top peers (both busiest first). Over
/// a window: totals and percentiles from its archive, applications and peers from the top-k
/// history.
pub async fn host(ctx: &Context, ip: std::net::IpAddr, q: ListQuery) -> Reply {
    if q.windowed() {
        let subject = Subject::Host(HostId::Ip(ip));
        let (rows, mut meta) = match archived(ctx, List::Hosts, Some(subject), &q).await {
            Ok(v) => v,
            Err(reply) => return reply,
        };
        let Some((_, c, p)) = rows.iter().find(|(s, _, _)| *s == subject) else {
            return Reply::error(404, "no traffic of this host in the window");
        };
        let mut row = host_row(ctx, &ctx.published.get(), &HostId::Ip(ip), c);
        row.p95_rx_bps = Some(p.and_then(|p| p[0]));
        row.p95_tx_bps = Some(p.and_then(|p| p[1]));
        let (from, to) = (meta.from_unix, meta.to_unix);
        let top = match top_query(ctx, from, to).await {
            Ok(t) => t,
            Err(reply) => return reply,
        };
        let mut peers: Vec<PeerRow> = top.talks.iter().filter(|t| t.host == ip).map(peer_row).collect();
        peers.sort_by_key(|p| std::cmp::Reverse(p.rx_bytes + p.tx_bytes));
        if q.csv {
            return respond("peers", serde_json::to_value(&peers).unwrap_or_default(), Some(meta), true);
        }
        let peers_exact = peers.iter().all(|p| p.error == 0) && !top.reaches_past_kept && top.exact_bounds;
        let mut applications: Vec<HostApp> = top
            .apps
            .iter()
            .filter(|a| a.host == ip)
            .map(|a| HostApp { name: a.app.to_string(), rx_bytes: a.rx, tx_bytes: a.tx })
            .collect();
        applications.sort_by_key(|a| std::cmp::Reverse(a.rx_bytes + a.tx_bytes));
        let extra = if !top.exact_bounds {
            format!("applications and peers: {}", widened(ctx, &top))
        } else if top_resolution(ctx, &top) < 3600 {
            "applications and peers from the recent steps in RAM".to_string()
        } else {
            "applications and peers from the hourly top-k history".to_string()
        };
        meta.note = Some(meta.note.map_or(extra.clone(), |n| format!("{n}; {extra}")));
        meta.complete &= top.exact_bounds;
        #[derive(Serialize)]
        struct Detail<'a> {
            #[serde(flatten)]
            meta: &'a Meta,
            #[serde(flatten)]
            host: HostRow,
            applications: Vec<HostApp>,
            peers: Vec<PeerRow>,
            peers_exact: bool,
            /// What the applications and peers cover (Unix seconds): the window, or wider.
            peers_from_unix: i64,
            peers_to_unix: i64,
        }
        return json(&Detail {
            meta: &meta,
            host: row,
            applications,
            peers,
            peers_exact,
            peers_from_unix: top.from,
            peers_to_unix: top.to,
        });
    }
    let snap = ctx.published.get();
    let Some((c, d)) = snap.host(ip) else { return Reply::error(404, "no such local host") };
    let mut applications: Vec<HostApp> =
        d.apps.iter().map(|(n, rx, tx)| HostApp { name: n.to_string(), rx_bytes: *rx, tx_bytes: *tx }).collect();
    applications.sort_by_key(|a| std::cmp::Reverse(a.rx_bytes + a.tx_bytes));
    let mut peers: Vec<PeerRow> = d.peers.iter().map(peer_row).collect();
    peers.sort_by_key(|p| std::cmp::Reverse(p.rx_bytes + p.tx_bytes));
    if q.csv {
        return respond("peers", serde_json::to_value(&peers).unwrap_or_default(), None, true);
    }
    json(&HostDetailRow {
        host: host_row(ctx, &snap, &HostId::Ip(ip), c),
        applications,
        peers,
        peers_exact: d.peers_exact,
    })
}

/// `{"step", "start", "points": [[time, in_bps, out_bps], …]}` (rx and tx for hosts and
/// applications), from the archive's rows over the window (the last day by default).
pub async fn series(ctx: &Context, subject: Subject, q: ListQuery) -> Reply {
    let (from, to) = match resolve(ctx, &q) {
        Ok(v) => v,
        Err(m) => return Reply::error(400, &m),
    };
    let s = match archive_query(ctx, Query::Series { subject, from, to }).await {
        Ok(Answer::Series(s)) => s,
        Ok(_) => return Reply::error(500, "unexpected answer"),
        Err(reply) => return reply,
    };
    #[derive(Serialize)]
    struct Out<'a> {
        #[serde(flatten)]
        meta: &'a Meta,
        step: u64,
        start: i64,
        /// [row start, bits/s in or received, bits/s out or sent]; null where unknown.
        points: Vec<(i64, Option<f64>, Option<f64>)>,
    }
    let bits = |v: f64| v.is_finite().then_some(v * 8.0);
    let points = s.points.iter().map(|(t, a, b)| (*t, bits(*a), bits(*b))).collect();
    let meta = meta(ctx, &s.window, "archives", !s.window.reaches_past_kept, None);
    json(&Out { meta: &meta, step: s.window.resolution, start: s.window.from, points })
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
    let snap = ctx.published.get();
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
        zone: ctx.calendar.zone_name().to_string(),
        wan: snap
            .wan
            .iter()
            .map(|&((exporter, ifindex), by)| WanRow {
                exporter: exporter.to_string(),
                ifindex,
                name: snap.interface_name(exporter, ifindex).map(str::to_string),
                by: by.as_str(),
            })
            .collect(),
        learned_networks: snap
            .learned
            .iter()
            .map(|n| LearnedRow { network: n.net.to_string(), since: n.since })
            .collect(),
    })
}

/// The doctor's findings now: the counters, the published snapshot, the config, this device's
/// addresses and the kernel's drop counts (reads only; nothing is written).
pub fn doctor_findings(ctx: &Context) -> Vec<crate::doctor::Finding> {
    use crate::doctor;
    let s = &ctx.stats;
    let snap = ctx.published.get();
    let settings = &ctx.doctor;
    let device = doctor::device_addresses();
    // What was learned counts as configured: the finding for global IPv6 then has nothing to say.
    let local: Vec<crate::net::IpNet> =
        settings.local.iter().copied().chain(snap.learned.iter().map(|n| n.net)).collect();
    doctor::diagnose(&doctor::Facts {
        now: std::time::Instant::now(),
        uptime: ctx.published.started.elapsed(),
        datagrams: stats::get(&s.datagrams),
        records: stats::get(&s.records),
        remote_only_records: stats::get(&s.remote_only_records),
        exporters: &snap.exporters,
        rejected: &snap.rejected,
        remote: &snap.remote,
        local: &local,
        learn: settings.learn,
        listen: &settings.listen,
        device_addresses: &device,
        udp_drops: doctor::udp_drops(&settings.ports()),
        receive_buffer: settings.receive_buffer,
        receive_buffer_granted: stats::get(&s.socket_rcvbuf_bytes),
        silent_after: settings.silent_after,
        refused: &snap.refused,
        interfaces: &snap.interfaces,
        wan: &snap.wan,
        overlap: &snap.overlap,
        interfaces_only: &settings.interfaces_only,
        double_nat_records: stats::get(&s.double_nat_records),
        egress_duplicates: stats::get(&s.egress_duplicate_records),
        config: &settings.config,
    })
}

pub fn doctor(ctx: &Context) -> Reply {
    json(&doctor_findings(ctx))
}

/// Conversations and ports over a window, from the top-k history.
async fn top_query(ctx: &Context, from: i64, to: i64) -> Result<crate::history::Window, Reply> {
    match archive_query(ctx, Query::Top { from, to }).await? {
        Answer::Top(w) => Ok(w),
        _ => Err(Reply::error(500, "unexpected answer")),
    }
}

fn top_meta(ctx: &Context, w: &crate::history::Window) -> Meta {
    let exact = w.talks.iter().all(|t| t.error == 0) && w.ports.iter().all(|p| p.error == 0);
    let note = if w.reaches_past_kept {
        Some("part of the window is older than history.top_days keeps".to_string())
    } else if !w.exact_bounds {
        Some(widened(ctx, w))
    } else if !exact {
        Some("heavy hitters: a row's true total is at most `error` bytes more".to_string())
    } else {
        None
    };
    let resolution = top_resolution(ctx, w);
    let source = if resolution < 3600 { "recent steps (RAM)" } else { "top-k history" };
    meta_of(ctx, (w.from, w.to), resolution, source, !w.reaches_past_kept && exact && w.exact_bounds, note)
}

/// Seconds per slot of a top-k answer: the step's for the recent steps in RAM, else the ring's.
fn top_resolution(ctx: &Context, w: &crate::history::Window) -> u64 {
    if w.resolution > 0 {
        w.resolution
    } else {
        ctx.step.as_secs().max(3600)
    }
}

/// What a top-k answer covers when it is not the window asked: never hour data passed off as a
/// shorter window's.
fn widened(ctx: &Context, w: &crate::history::Window) -> String {
    if w.slots_read == 0 {
        return "nothing is known for this window yet (the step is still being counted)".to_string();
    }
    format!(
        "covers {} to {}, not just the window asked: the data there is kept in slots of {} s, and a row may hold traffic outside the window",
        ctx.calendar.format(w.from),
        ctx.calendar.format(w.to),
        top_resolution(ctx, w)
    )
}
