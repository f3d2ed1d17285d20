//! Process-wide counters (atomics) and their Prometheus text exposition.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::decode::DecodeError;

/// Every counter the daemon keeps. Counters only grow; gauges are marked as such in `render`.
#[derive(Default)]
pub struct Stats {
    pub datagrams: AtomicU64,
    pub datagram_bytes: AtomicU64,
    pub records: AtomicU64,
    pub decode_errors: [AtomicU64; DecodeError::KINDS],
    /// v1/v5/v7 datagrams with more records than their version allows, read because their length
    /// is exact for the count (softflowd's v1).
    pub lenient_datagrams: AtomicU64,
    pub receive_errors: AtomicU64,
    pub socket_rcvbuf_bytes: AtomicU64,

    pub exporters: AtomicU64,
    pub exporter_evictions: AtomicU64,
    pub lost_datagrams: AtomicU64,
    pub lost_records: AtomicU64,
    pub templates_received: AtomicU64,
    pub template_refreshes: AtomicU64,
    pub templates_withdrawn: AtomicU64,
    pub template_errors: AtomicU64,
    pub template_limit_drops: AtomicU64,
    pub options_records: AtomicU64,
    pub missing_template_sets: AtomicU64,
    pub pending_sets: AtomicU64,
    pub pending_decoded: AtomicU64,
    pub pending_expired: AtomicU64,
    pub pending_overflow: AtomicU64,
    pub unknown_sets: AtomicU64,
    pub malformed_records: AtomicU64,
    pub state_saves: AtomicU64,
    pub state_save_errors: AtomicU64,
    /// Datagrams from a sender outside collector.allow, dropped before decoding.
    pub denied_not_allowed: AtomicU64,
    /// Datagrams for a new exporter (address, version, domain) refused: its address's
    /// collector.max_domains_per_exporter places, or collector.max_exporters, held by live
    /// exporters with continuing sequence numbers.
    pub denied_domain_limit: AtomicU64,
    /// Held data sets dropped with an exporter that was evicted.
    pub pending_evicted: AtomicU64,
    /// Held data sets dropped because collector.pending_bytes was reached.
    pub pending_bytes_overflow: AtomicU64,
    /// Bytes held in data sets waiting for their template (gauge).
    pub pending_bytes: AtomicU64,
    /// Saved exporter state refused on load (out of bounds, as if it had come on the wire).
    pub state_rejected: AtomicU64,
    /// Templates no data came for, dropped to make room for a new one of the same exporter.
    pub template_evictions: AtomicU64,
    /// Interface names from options data not kept: past 1,024 or
    /// collector.max_interface_name_bytes_per_exporter.
    pub interface_name_drops: AtomicU64,
    /// Memory the exporters' templates and interface names take (gauges).
    pub template_bytes: AtomicU64,
    pub interface_name_bytes: AtomicU64,
    /// exporters.json: bytes written (in whole 4 KiB pages), saves put off by
    /// collector.state_write_budget, and the size of the last one written (gauge).
    pub state_write_bytes: AtomicU64,
    pub state_saves_deferred: AtomicU64,
    pub state_file_bytes: AtomicU64,

    pub hosts: AtomicU64,
    pub interfaces: AtomicU64,
    pub host_overflow_records: AtomicU64,
    pub interface_overflow_records: AtomicU64,
    pub remote_only_records: AtomicU64,
    /// Records whose local host was found only in their NAT addresses.
    pub nat_attributed_records: AtomicU64,
    /// Of those, records whose outside address was itself local (double NAT).
    pub double_nat_records: AtomicU64,
    /// The recent steps' top-k deltas in RAM (history.recent): rows and steps held, and steps
    /// dropped for history.recent_rows before their time.
    pub recent_rows: AtomicU64,
    pub recent_steps: AtomicU64,
    pub recent_steps_dropped: AtomicU64,
    /// Networks learned as local behind the internet line, and those dropped for newer ones
    /// (network.max_learned).
    pub learned_networks: AtomicU64,
    pub learned_network_evictions: AtomicU64,
    /// Addresses remembered as members of a device, those dropped for newcomers
    /// (devices.max_addresses), and MACs judged a router's (too many IPv4 addresses behind them).
    pub device_addresses: AtomicU64,
    pub device_address_evictions: AtomicU64,
    pub device_router_macs: AtomicU64,
    /// Egress records (flowDirection 1) whose flow was reported entering too: not counted.
    pub egress_duplicate_records: AtomicU64,
    /// Rows the doctor's tables of records without a local host dropped for newcomers.
    pub doctor_evictions: AtomicU64,
    /// Senders of undecodable datagrams the doctor's table forgot for newcomers.
    pub doctor_senders_evicted: AtomicU64,
    /// Host rows given to a new host after archive.host_idle without traffic.
    pub host_rows_reused: AtomicU64,
    /// Rows the heavy-hitter tables dropped to make room (their counts then carry an error bound),
    /// and the rows they hold (gauges).
    pub peers_evictions: AtomicU64,
    pub ports_evictions: AtomicU64,
    pub peers: AtomicU64,
    pub ports: AtomicU64,
    pub snapshots: AtomicU64,
    /// Records counted in the current step: no flow times, or times not believed (end before
    /// start, longer than a day, later than the export). Records divided over several steps, and
    /// records that began before the oldest open step (that part counted in that step).
    pub records_without_time: AtomicU64,
    pub records_bad_time: AtomicU64,
    pub records_spread: AtomicU64,
    pub records_before_window: AtomicU64,

    pub archive_creates: AtomicU64,
    pub archive_updates: AtomicU64,
    pub archive_update_errors: AtomicU64,
    pub archive_create_errors: AtomicU64,
    pub archive_illegal_time: AtomicU64,
    /// Unreadable archive files set aside (renamed NAME.rrd.broken-TIME) and recreated.
    pub archive_broken: AtomicU64,
    /// Host archives removed after archive.retention without traffic.
    pub archive_files_expired: AtomicU64,
    /// Host archives removed to keep within archive.max_disk_mb, and new ones not made because
    /// nothing could be; the archive files' bytes.
    pub archive_files_evicted: AtomicU64,
    pub archive_creates_refused: AtomicU64,
    pub archive_disk_bytes: AtomicU64,
    /// Hosts, interfaces and applications with day totals (history.max_totals bounds it).
    pub period_rows: AtomicU64,
    pub period_rows_folded: AtomicU64,
    /// Window queries answered from the archives, and archives that could not be read for one.
    pub window_queries: AtomicU64,
    pub window_errors: AtomicU64,
    /// Top-k history: slots written, bytes, slots found torn or damaged.
    pub history_writes: AtomicU64,
    pub history_bytes: AtomicU64,
    pub history_bad_slots: AtomicU64,
    pub history_errors: AtomicU64,
    /// Steps written into RRD files (rows of the finest archive).
    pub archive_steps_written: AtomicU64,
    /// (archive, step) entries held in RAM, not yet in their RRD file (gauge).
    pub archive_steps_pending: AtomicU64,
    /// Steps whose counts went into a later step: the file already held that time (the clock
    /// went back, or flows arrived for steps already written).
    pub archive_steps_late: AtomicU64,
    /// Steps dropped unwritten: their file could not be written for longer than allowed.
    pub archive_steps_dropped: AtomicU64,
    pub journal_writes: AtomicU64,
    pub journal_bytes: AtomicU64,
    pub journal_errors: AtomicU64,
    /// Journal blocks skipped at start: cut short by a power cut, or damaged.
    pub journal_bad_blocks: AtomicU64,
    /// Wall-clock jumps seen (more than a step away from the monotonic clock).
    pub clock_jumps_forward: AtomicU64,
    pub clock_jumps_backward: AtomicU64,
    pub graphs_rendered: AtomicU64,
    pub graph_cache_hits: AtomicU64,
    pub graph_errors: AtomicU64,

    pub http_2xx: AtomicU64,
    pub http_4xx: AtomicU64,
    pub http_5xx: AtomicU64,
    /// Open HTTP connections (gauge) and what happened to connections.
    pub http_connections: AtomicU64,
    pub http_connections_accepted: AtomicU64,
    pub http_connections_evicted: AtomicU64,
    /// Connections that had not logged in, closed to make room (even mid-request).
    pub http_connections_evicted_unauthenticated: AtomicU64,
    /// Newcomers from a client already holding http.max_connections_per_client.
    pub http_connections_client_limit: AtomicU64,
    pub http_connections_refused: AtomicU64,
    pub http_timeouts: AtomicU64,
    pub http_accept_errors: AtomicU64,
    /// Logins: successes, wrong passwords, attempts refused by the rate limit.
    pub login_ok: AtomicU64,
    pub login_failed: AtomicU64,
    pub login_limited: AtomicU64,
    /// Login forms whose body did not arrive within LOGIN_BODY_TIMEOUT.
    pub login_incomplete: AtomicU64,
    /// Login rate-limit table: entries forgotten early to stay bounded, and new IPv6 addresses of
    /// a /64 with many failing ones that got no free failures.
    pub login_limiter_evicted: AtomicU64,
    pub login_limiter_prefix_crowded: AtomicU64,
    /// Wrong bearer tokens (they count against the same rate limit as passwords).
    pub token_failed: AtomicU64,
    /// Sessions ended by logging out, and the times a full list of them made a new session key
    /// (ending every session).
    pub sessions_revoked: AtomicU64,
    pub sessions_all_ended: AtomicU64,
    /// Requests refused for a `Host:` header that is not ours (DNS rebinding).
    pub http_bad_host: AtomicU64,
    /// Requests refused for missing or wrong credentials.
    pub http_unauthorized: AtomicU64,
    /// Login and logout forms refused for coming from another site (or `Origin: null`).
    pub http_cross_site: AtomicU64,

    /// Reverse lookups of local hosts done, and those that gave no name, by reason.
    pub name_lookups: AtomicU64,
    pub name_failures_no_name: AtomicU64,
    pub name_failures_timeout: AtomicU64,
    pub name_failures_error: AtomicU64,
    /// Answers cached (gauge; names.max bounds it), dropped for room, and lookups not queued
    /// because the queue was full.
    pub name_cache_entries: AtomicU64,
    pub name_cache_evictions: AtomicU64,
    pub name_queue_dropped: AtomicU64,
}

pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// `add` for a counter only one thread ever writes (the collector's per-datagram counters): a
/// plain load and store, without the locked read-modify-write that `fetch_add` costs.
#[inline]
pub fn add_single_writer(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

pub fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

pub fn set(c: &AtomicU64, v: u64) {
    c.store(v, Ordering::Relaxed);
}

impl Stats {
    pub fn decode_error(&self, e: DecodeError) {
        inc(&self.decode_errors[e as usize]);
    }

    pub fn decode_errors_total(&self) -> u64 {
        self.decode_errors.iter().map(get).sum()
    }

    /// Prometheus text format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP flowpi_{name} {help}\n# TYPE flowpi_{name} {kind}");
            for (labels, v) in samples {
                let _ = writeln!(out, "flowpi_{name}{labels} {v}");
            }
        };
        metric("datagrams_total", "counter", "UDP datagrams received.", &[("", get(&self.datagrams))]);
        metric("datagram_bytes_total", "counter", "UDP payload bytes received.", &[("", get(&self.datagram_bytes))]);
        metric("records_total", "counter", "Flow records decoded.", &[("", get(&self.records))]);
        let kinds: Vec<(String, u64)> = DecodeError::ALL
            .iter()
            .map(|k| (format!("{{kind=\"{}\"}}", k.name()), get(&self.decode_errors[*k as usize])))
            .collect();
        let kinds: Vec<(&str, u64)> = kinds.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        metric("decode_errors_total", "counter", "Datagrams dropped as malformed, by kind.", &kinds);
        metric(
            "lenient_datagrams_total",
            "counter",
            "v1/v5/v7 datagrams with more records than their version's limit (24, 30, 28), read because their length is exact for that count.",
            &[("", get(&self.lenient_datagrams))],
        );
        metric("receive_errors_total", "counter", "Socket receive errors.", &[("", get(&self.receive_errors))]);
        metric(
            "socket_receive_buffer_bytes",
            "gauge",
            "SO_RCVBUF the kernel granted (smallest over sockets).",
            &[("", get(&self.socket_rcvbuf_bytes))],
        );
        metric(
            "exporters",
            "gauge",
            "Exporters (address, version, source id) with state; collector.max_exporters bounds it.",
            &[("", get(&self.exporters))],
        );
        metric(
            "exporter_evictions_total",
            "counter",
            "Exporters forgotten to make room (least recently heard first).",
            &[("", get(&self.exporter_evictions))],
        );
        metric(
            "lost_datagrams_total",
            "counter",
            "NetFlow v9 export datagrams missing by sequence number.",
            &[("", get(&self.lost_datagrams))],
        );
        metric(
            "lost_records_total",
            "counter",
            "v5/v7/IPFIX records missing by sequence number.",
            &[("", get(&self.lost_records))],
        );
        metric(
            "templates_received_total",
            "counter",
            "Templates added or changed.",
            &[("", get(&self.templates_received))],
        );
        metric(
            "template_refreshes_total",
            "counter",
            "Templates received again unchanged.",
            &[("", get(&self.template_refreshes))],
        );
        metric(
            "templates_withdrawn_total",
            "counter",
            "IPFIX templates withdrawn by their exporter.",
            &[("", get(&self.templates_withdrawn))],
        );
        metric(
            "template_errors_total",
            "counter",
            "Templates that could not be read or compiled.",
            &[("", get(&self.template_errors))],
        );
        metric(
            "template_limit_drops_total",
            "counter",
            "New templates refused by collector.max_templates_per_exporter or max_template_bytes_per_exporter.",
            &[("", get(&self.template_limit_drops))],
        );
        metric(
            "options_records_total",
            "counter",
            "Options data records read (sampling, interface names).",
            &[("", get(&self.options_records))],
        );
        metric(
            "missing_template_sets_total",
            "counter",
            "Data sets that arrived before their template (held for later).",
            &[("", get(&self.missing_template_sets))],
        );
        metric(
            "pending_sets",
            "gauge",
            "Data sets held waiting for their template; collector.pending_sets bounds it.",
            &[("", get(&self.pending_sets))],
        );
        metric(
            "pending_decoded_total",
            "counter",
            "Held data sets decoded once their template arrived.",
            &[("", get(&self.pending_decoded))],
        );
        metric(
            "pending_expired_total",
            "counter",
            "Held data sets dropped after collector.pending_timeout.",
            &[("", get(&self.pending_expired))],
        );
        metric(
            "pending_overflow_total",
            "counter",
            "Held data sets dropped because the buffer was full.",
            &[("", get(&self.pending_overflow))],
        );
        metric(
            "unknown_sets_total",
            "counter",
            "Sets with a reserved set id, skipped.",
            &[("", get(&self.unknown_sets))],
        );
        metric(
            "malformed_records_total",
            "counter",
            "Data sets cut short by a record that runs past its set.",
            &[("", get(&self.malformed_records))],
        );
        metric(
            "state_saves_total",
            "counter",
            "Template and sampling state written to archive.dir.",
            &[("", get(&self.state_saves))],
        );
        metric(
            "state_save_errors_total",
            "counter",
            "Failed writes of the template state.",
            &[("", get(&self.state_save_errors))],
        );
        metric(
            "denied_datagrams_total",
            "counter",
            "Datagrams dropped before decoding, by reason: not_allowed (outside collector.allow), domain_limit (a new exporter with no place: its address's collector.max_domains_per_exporter, or collector.max_exporters, held by live exporters with continuing sequence numbers).",
            &[
                ("{reason=\"not_allowed\"}", get(&self.denied_not_allowed)),
                ("{reason=\"domain_limit\"}", get(&self.denied_domain_limit)),
            ],
        );
        metric(
            "pending_evicted_total",
            "counter",
            "Held data sets dropped because their exporter was evicted.",
            &[("", get(&self.pending_evicted))],
        );
        metric(
            "pending_bytes_overflow_total",
            "counter",
            "Held data sets dropped because collector.pending_bytes was reached.",
            &[("", get(&self.pending_bytes_overflow))],
        );
        metric(
            "pending_bytes",
            "gauge",
            "Bytes held in data sets waiting for their template; collector.pending_bytes bounds it.",
            &[("", get(&self.pending_bytes))],
        );
        metric(
            "state_rejected_total",
            "counter",
            "Saved exporter state entries refused on load as out of bounds.",
            &[("", get(&self.state_rejected))],
        );
        metric(
            "template_evictions_total",
            "counter",
            "Templates no data came for, dropped to make room for another of the same exporter (collector.max_templates_per_exporter, max_template_bytes_per_exporter).",
            &[("", get(&self.template_evictions))],
        );
        metric(
            "interface_name_drops_total",
            "counter",
            "Interface names from options data not kept: past 1024 per exporter or collector.max_interface_name_bytes_per_exporter.",
            &[("", get(&self.interface_name_drops))],
        );
        metric(
            "template_bytes",
            "gauge",
            "Memory the exporters' templates take (estimated); collector.max_template_bytes_per_exporter bounds each exporter's.",
            &[("", get(&self.template_bytes))],
        );
        metric(
            "interface_name_bytes",
            "gauge",
            "Memory the exporters' interface names take; collector.max_interface_name_bytes_per_exporter bounds each exporter's.",
            &[("", get(&self.interface_name_bytes))],
        );
        metric(
            "state_write_bytes_total",
            "counter",
            "Bytes written to exporters.json, in whole 4 KiB pages; collector.state_write_budget bounds them per day.",
            &[("", get(&self.state_write_bytes))],
        );
        metric(
            "state_saves_deferred_total",
            "counter",
            "Saves of exporters.json put off because collector.state_write_budget was spent.",
            &[("", get(&self.state_saves_deferred))],
        );
        metric(
            "state_file_bytes",
            "gauge",
            "Size of exporters.json as last written.",
            &[("", get(&self.state_file_bytes))],
        );
        metric("hosts", "gauge", "Local hosts with their own row and archive.", &[("", get(&self.hosts))]);
        metric(
            "interfaces",
            "gauge",
            "(exporter, ifIndex) pairs with their own row and archive.",
            &[("", get(&self.interfaces))],
        );
        metric(
            "recent_rows",
            "gauge",
            "Top-k rows of the recent steps held in RAM (history.recent_rows bounds them).",
            &[("", get(&self.recent_rows))],
        );
        metric(
            "recent_steps",
            "gauge",
            "Recent steps whose top-k deltas are in RAM: windows within them are answered to the step.",
            &[("", get(&self.recent_steps))],
        );
        metric(
            "recent_steps_dropped_total",
            "counter",
            "Recent steps dropped before history.recent was up because history.recent_rows was reached.",
            &[("", get(&self.recent_steps_dropped))],
        );
        metric(
            "learned_networks",
            "gauge",
            "Global IPv6 /64s learned as local: seen on the LAN side of the internet line (network.learn).",
            &[("", get(&self.learned_networks))],
        );
        metric(
            "learned_network_evictions_total",
            "counter",
            "Learned networks dropped, the oldest first, for newer ones (network.max_learned).",
            &[("", get(&self.learned_network_evictions))],
        );
        metric(
            "device_addresses",
            "gauge",
            "Addresses remembered as members of a device (its [[host]] entry or its MAC).",
            &[("", get(&self.device_addresses))],
        );
        metric(
            "device_address_evictions_total",
            "counter",
            "Device members forgotten for newcomers because devices.max_addresses was reached (they join again at their next record).",
            &[("", get(&self.device_address_evictions))],
        );
        metric(
            "device_router_macs_total",
            "counter",
            "MAC addresses seen with too many IPv4 addresses to be one device (a router's): their addresses count on their own.",
            &[("", get(&self.device_router_macs))],
        );
        metric(
            "host_overflow_records_total",
            "counter",
            "Record sides counted into the 'other' host row because archive.max_hosts was reached.",
            &[("", get(&self.host_overflow_records))],
        );
        metric(
            "interface_overflow_records_total",
            "counter",
            "Record sides counted into the 'other' interface row because archive.max_interfaces was reached.",
            &[("", get(&self.interface_overflow_records))],
        );
        metric(
            "remote_only_records_total",
            "counter",
            "Records with neither address in network.local.",
            &[("", get(&self.remote_only_records))],
        );
        metric(
            "nat_attributed_records_total",
            "counter",
            "Records whose local host came from their NAT addresses (IPFIX 225-228, 281-282): the exported address was the router's outside one.",
            &[("", get(&self.nat_attributed_records))],
        );
        metric(
            "double_nat_records_total",
            "counter",
            "Records attributed by their NAT addresses although the outside address was itself local: the router's WAN address inside another router's network (double NAT).",
            &[("", get(&self.double_nat_records))],
        );
        metric(
            "egress_duplicate_records_total",
            "counter",
            "Egress records (flowDirection 1) not counted because their exporter reports ingress at their input interface: the same flows, seen leaving.",
            &[("", get(&self.egress_duplicate_records))],
        );
        metric(
            "doctor_evictions_total",
            "counter",
            "Rows the doctor's tables of prefixes and addresses in records without a local host dropped for newcomers (doctor.max_prefixes); their bytes are then lower bounds.",
            &[("", get(&self.doctor_evictions))],
        );
        metric(
            "doctor_senders_evicted_total",
            "counter",
            "Senders of datagrams flowpi could not decode that the doctor's table (doctor.max_senders) forgot to make room for another.",
            &[("", get(&self.doctor_senders_evicted))],
        );
        metric(
            "host_rows_reused_total",
            "counter",
            "Host rows given to a new host after archive.host_idle without traffic (the old host's archive stays).",
            &[("", get(&self.host_rows_reused))],
        );
        metric(
            "topk_evictions_total",
            "counter",
            "Rows a heavy-hitter table dropped for a new key: from then on its counts carry an error bound.",
            &[("{view=\"peers\"}", get(&self.peers_evictions)), ("{view=\"ports\"}", get(&self.ports_evictions))],
        );
        metric(
            "topk_rows",
            "gauge",
            "Rows the heavy-hitter tables hold: every host's peers (peers.max_per_host each), and ports (ports.max).",
            &[("{view=\"peers\"}", get(&self.peers)), ("{view=\"ports\"}", get(&self.ports))],
        );
        metric(
            "snapshots_total",
            "counter",
            "Step snapshots handed to the archive thread.",
            &[("", get(&self.snapshots))],
        );
        metric(
            "record_times_total",
            "counter",
            "Records by how their flow times were used: none or not believed (counted in the current step), spread over several steps, begun before the oldest open step.",
            &[
                ("{kind=\"none\"}", get(&self.records_without_time)),
                ("{kind=\"not_believed\"}", get(&self.records_bad_time)),
                ("{kind=\"spread\"}", get(&self.records_spread)),
                ("{kind=\"before_window\"}", get(&self.records_before_window)),
            ],
        );
        metric("archive_creates_total", "counter", "RRD files created.", &[("", get(&self.archive_creates))]);
        metric(
            "archive_steps_written_total",
            "counter",
            "Steps written into RRD files.",
            &[("", get(&self.archive_steps_written))],
        );
        metric(
            "archive_steps_pending",
            "gauge",
            "(archive, step) entries held in RAM and the journal, not yet in their RRD file.",
            &[("", get(&self.archive_steps_pending))],
        );
        metric(
            "archive_steps_late_total",
            "counter",
            "Steps whose counts went into the first step after their file's last update (clock went back).",
            &[("", get(&self.archive_steps_late))],
        );
        metric(
            "archive_steps_dropped_total",
            "counter",
            "Steps dropped because their file could not be written for too long.",
            &[("", get(&self.archive_steps_dropped))],
        );
        metric("journal_writes_total", "counter", "Journal appends (each synced).", &[("", get(&self.journal_writes))]);
        metric("journal_bytes_total", "counter", "Bytes appended to the journal.", &[("", get(&self.journal_bytes))]);
        metric("journal_errors_total", "counter", "Journal writes that failed.", &[("", get(&self.journal_errors))]);
        metric(
            "journal_bad_blocks_total",
            "counter",
            "Journal blocks skipped at start (cut short by a power cut, or damaged).",
            &[("", get(&self.journal_bad_blocks))],
        );
        metric(
            "clock_jumps_total",
            "counter",
            "Wall-clock jumps of more than a step.",
            &[
                ("{direction=\"forward\"}", get(&self.clock_jumps_forward)),
                ("{direction=\"backward\"}", get(&self.clock_jumps_backward)),
            ],
        );
        metric(
            "archive_create_errors_total",
            "counter",
            "RRD files that could not be created.",
            &[("", get(&self.archive_create_errors))],
        );
        metric("archive_updates_total", "counter", "RRD updates written.", &[("", get(&self.archive_updates))]);
        metric(
            "archive_update_errors_total",
            "counter",
            "RRD updates librrd refused.",
            &[("", get(&self.archive_update_errors))],
        );
        metric(
            "archive_broken_total",
            "counter",
            "Unreadable archive files (truncated, overwritten) renamed to NAME.rrd.broken-TIME and recreated.",
            &[("", get(&self.archive_broken))],
        );
        metric(
            "archive_files_expired_total",
            "counter",
            "Host archives removed after archive.retention without traffic.",
            &[("", get(&self.archive_files_expired))],
        );
        metric(
            "archive_files_evicted_total",
            "counter",
            "Host archives removed to keep the archive files within archive.max_disk_mb, the longest idle first.",
            &[("", get(&self.archive_files_evicted))],
        );
        metric(
            "archive_creates_refused_total",
            "counter",
            "New host archives not made because the archive files were at archive.max_disk_mb and every host file was busy; the host's steps then wait, and are dropped like those of a file that cannot be written.",
            &[("", get(&self.archive_creates_refused))],
        );
        metric(
            "archive_disk_bytes",
            "gauge",
            "Bytes of the archive files (hosts, interfaces, applications) on the card.",
            &[("", get(&self.archive_disk_bytes))],
        );
        metric(
            "period_rows",
            "gauge",
            "Hosts, interfaces and applications with day totals; history.max_totals bounds it.",
            &[("", get(&self.period_rows))],
        );
        metric(
            "period_rows_folded_total",
            "counter",
            "Day-total additions counted into `other` because history.max_totals was reached.",
            &[("", get(&self.period_rows_folded))],
        );
        metric(
            "window_queries_total",
            "counter",
            "Window queries answered from the archives.",
            &[("", get(&self.window_queries))],
        );
        metric(
            "window_errors_total",
            "counter",
            "Archives a window query could not read (left out of the answer).",
            &[("", get(&self.window_errors))],
        );
        metric("history_writes_total", "counter", "Top-k history slots written.", &[("", get(&self.history_writes))]);
        metric(
            "history_bytes_total",
            "counter",
            "Bytes written to the top-k history file.",
            &[("", get(&self.history_bytes))],
        );
        metric(
            "history_errors_total",
            "counter",
            "Top-k history slots that could not be written (the hour's conversations and ports are lost).",
            &[("", get(&self.history_errors))],
        );
        metric(
            "history_bad_slots_total",
            "counter",
            "Top-k history slots found torn or damaged (read as empty).",
            &[("", get(&self.history_bad_slots))],
        );
        metric(
            "archive_illegal_time_total",
            "counter",
            "Updates deferred because the clock did not move past the file's last update.",
            &[("", get(&self.archive_illegal_time))],
        );
        metric("graphs_rendered_total", "counter", "Graphs rendered by librrd.", &[("", get(&self.graphs_rendered))]);
        metric(
            "graph_cache_hits_total",
            "counter",
            "Graphs served from the one-step cache.",
            &[("", get(&self.graph_cache_hits))],
        );
        metric("graph_errors_total", "counter", "Graphs librrd failed to render.", &[("", get(&self.graph_errors))]);
        metric(
            "http_requests_total",
            "counter",
            "HTTP requests by status class.",
            &[
                ("{code=\"2xx\"}", get(&self.http_2xx)),
                ("{code=\"4xx\"}", get(&self.http_4xx)),
                ("{code=\"5xx\"}", get(&self.http_5xx)),
            ],
        );
        metric(
            "http_connections",
            "gauge",
            "Open HTTP connections; http.max_connections bounds it.",
            &[("", get(&self.http_connections))],
        );
        metric(
            "http_connections_total",
            "counter",
            "HTTP connections by what became of them.",
            &[
                ("{event=\"accepted\"}", get(&self.http_connections_accepted)),
                ("{event=\"evicted_idle\"}", get(&self.http_connections_evicted)),
                ("{event=\"evicted_unauthenticated\"}", get(&self.http_connections_evicted_unauthenticated)),
                ("{event=\"client_limit\"}", get(&self.http_connections_client_limit)),
                ("{event=\"refused_full\"}", get(&self.http_connections_refused)),
                ("{event=\"timed_out\"}", get(&self.http_timeouts)),
            ],
        );
        metric(
            "http_accept_errors_total",
            "counter",
            "accept() failures (out of file descriptors, ...).",
            &[("", get(&self.http_accept_errors))],
        );
        metric(
            "logins_total",
            "counter",
            "Login attempts by outcome.",
            &[
                ("{outcome=\"ok\"}", get(&self.login_ok)),
                ("{outcome=\"wrong\"}", get(&self.login_failed)),
                ("{outcome=\"rate_limited\"}", get(&self.login_limited)),
                ("{outcome=\"incomplete\"}", get(&self.login_incomplete)),
                ("{outcome=\"wrong_token\"}", get(&self.token_failed)),
            ],
        );
        metric(
            "login_limiter_total",
            "counter",
            "Login rate-limit table: entries forgotten early to keep it bounded (4096 addresses, 64 per IPv6 /64), and new addresses of a /64 with many failing ones given no free failures (prefix_crowded).",
            &[
                ("{event=\"evicted\"}", get(&self.login_limiter_evicted)),
                ("{event=\"prefix_crowded\"}", get(&self.login_limiter_prefix_crowded)),
            ],
        );
        metric(
            "sessions_total",
            "counter",
            "Sessions ended at logout (revoked, kept across restarts), and times the list of them was full and a new session key ended every session (all_ended).",
            &[
                ("{event=\"revoked\"}", get(&self.sessions_revoked)),
                ("{event=\"all_ended\"}", get(&self.sessions_all_ended)),
            ],
        );
        metric(
            "http_refused_total",
            "counter",
            "Requests refused before routing, by reason.",
            &[
                ("{reason=\"host\"}", get(&self.http_bad_host)),
                ("{reason=\"unauthorized\"}", get(&self.http_unauthorized)),
                ("{reason=\"cross_site\"}", get(&self.http_cross_site)),
            ],
        );
        metric(
            "name_lookups_total",
            "counter",
            "Reverse lookups of local hosts' names.",
            &[("", get(&self.name_lookups))],
        );
        metric(
            "name_lookup_failures_total",
            "counter",
            "Reverse lookups that gave no name, by reason.",
            &[
                ("{reason=\"no_name\"}", get(&self.name_failures_no_name)),
                ("{reason=\"timeout\"}", get(&self.name_failures_timeout)),
                ("{reason=\"error\"}", get(&self.name_failures_error)),
            ],
        );
        metric(
            "name_cache_entries",
            "gauge",
            "Lookup answers cached (names and no-names); names.max bounds it.",
            &[("", get(&self.name_cache_entries))],
        );
        metric(
            "name_cache_evictions_total",
            "counter",
            "Cached answers dropped (oldest first) to make room.",
            &[("", get(&self.name_cache_evictions))],
        );
        metric(
            "name_queue_dropped_total",
            "counter",
            "Lookups not queued because the queue (names.max) was full.",
            &[("", get(&self.name_queue_dropped))],
        );
        out
    }
}
