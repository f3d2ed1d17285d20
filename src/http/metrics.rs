//! The `/metrics` page: the daemon's counters (`Stats::render`), then the traffic per host,
//! interface and application from the published snapshot, build information, and the process
//! figures Prometheus client libraries export (`process_*`, read from /proc/self).
//!
//! Series per subject are bounded by the tables themselves (archive.max_hosts, max_interfaces and
//! the application classes, each plus its `other` row), so a scrape never grows with the network.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use super::Context;
use crate::views::{Counts, HostId, IfaceId, Snapshot};

/// The whole page, Prometheus text format 0.0.4. Called on every scrape (every 15 s or so): one
/// snapshot read, two small /proc files and one directory listing.
pub fn render(ctx: &Context) -> String {
    let mut out = ctx.stats.render();
    subjects(&mut out, &ctx.published.get(), &|ip| ctx.names.get(ip));
    doctor(&mut out, &super::api::doctor_findings(ctx));
    build_info(&mut out, env!("CARGO_PKG_VERSION"), std::env::consts::ARCH);
    process(&mut out);
    out
}

/// One series per doctor code: 1 while it has a finding, else 0.
fn doctor(out: &mut String, findings: &[crate::doctor::Finding]) {
    header(out, "flowpi_doctor_findings", "gauge", "Whether /api/doctor has a finding of this code (1) or not (0).");
    for code in crate::doctor::CODES {
        let on = findings.iter().any(|f| f.code == code);
        let _ = writeln!(out, "flowpi_doctor_findings{} {}", labels(&[("code", code)]), u8::from(on));
    }
}

/// A label value as the exposition format wants it: backslash, double quote and line feed escaped.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `{a="x",b="y"}` from (name, raw value) pairs.
fn labels(pairs: &[(&str, &str)]) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{name}=\"{}\"", escape(value));
    }
    out.push('}');
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A bytes and a packets family over `rows`, each row giving its labels (without direction) and
/// counts. `dirs` names Counts' in and out sides.
fn counts_families<'a>(
    out: &mut String,
    subject: &str,
    what: &str,
    dirs: [&str; 2],
    rows: impl Iterator<Item = (Vec<(&'static str, String)>, &'a Counts)> + Clone,
) {
    for (unit, pick) in [
        ("bytes", (|c: &Counts| (c.in_bytes, c.out_bytes)) as fn(&Counts) -> (u64, u64)),
        ("packets", |c: &Counts| (c.in_packets, c.out_packets)),
    ] {
        let name = format!("flowpi_{subject}_{unit}_total");
        header(out, &name, "counter", &format!("{} {what} since start, as the API lists them.", capital(unit)));
        for (ls, c) in rows.clone() {
            let (a, b) = pick(c);
            for (dir, v) in [(dirs[0], a), (dirs[1], b)] {
                let mut pairs: Vec<(&str, &str)> = ls.iter().map(|(k, v)| (*k, v.as_str())).collect();
                pairs.push(("direction", dir));
                let _ = writeln!(out, "{name}{} {v}", labels(&pairs));
            }
        }
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
}

/// Hosts (rx = received, tx = sent; the overflow row is host="other"), interfaces (in/out as the
/// flow's input and output interface; the overflow row is exporter="other" with ifindex and name
/// empty) and applications (rx/tx by local hosts).
///
/// A host's and an interface's `name` label is always there, empty when no name is known (no
/// [[host]] entry or lookup answer; neither the config nor the exporter named the interface): one
/// label set per family, and PromQL treats an empty label as an absent one.
fn subjects(out: &mut String, snap: &Snapshot, name: &dyn Fn(IpAddr) -> Option<Arc<str>>) {
    let hosts = snap.hosts.iter().map(|(id, c)| {
        let (host, name) = match id {
            HostId::Ip(ip) => (ip.to_string(), snap.device_name(*ip, name).map_or(String::new(), |n| n.to_string())),
            HostId::Other => ("other".into(), String::new()),
        };
        (vec![("host", host), ("name", name)], c)
    });
    counts_families(out, "host", "received (rx) and sent (tx) per local host", ["rx", "tx"], hosts);

    let interfaces = snap.interfaces.iter().map(|(id, c)| {
        let (exporter, ifindex, name) = match id {
            IfaceId::If { exporter, ifindex } => (
                exporter.to_string(),
                ifindex.to_string(),
                snap.interface_name(*exporter, *ifindex).unwrap_or("").to_string(),
            ),
            IfaceId::Other => ("other".into(), String::new(), String::new()),
        };
        (vec![("exporter", exporter), ("ifindex", ifindex), ("name", name)], c)
    });
    counts_families(out, "interface", "in and out per exporter interface", ["in", "out"], interfaces);

    let apps = snap.applications.iter().map(|(n, c)| (vec![("application", n.to_string())], c));
    counts_families(
        out,
        "application",
        "received (rx) and sent (tx) by local hosts per application",
        ["rx", "tx"],
        apps,
    );
}

fn build_info(out: &mut String, version: &str, arch: &str) {
    header(out, "flowpi_build_info", "gauge", "Always 1; the labels say which flowpi this is.");
    let _ = writeln!(out, "flowpi_build_info{} 1", labels(&[("version", version), ("target", arch)]));
}

/// The fields of /proc/self/stat flowpi reports, in the units of the file.
#[derive(Debug, PartialEq)]
struct ProcStat {
    /// Clock ticks in user and kernel mode.
    utime: u64,
    stime: u64,
    /// Clock ticks after boot when the process started.
    starttime: u64,
    vsize_bytes: u64,
    rss_pages: u64,
}

/// proc(5): the command name (field 2) is in parentheses and may itself hold spaces and `)`, so
/// the fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    // Field 3 (state) is index 0 here.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |field: usize| f.get(field - 3)?.parse::<u64>().ok();
    Some(ProcStat { utime: n(14)?, stime: n(15)?, starttime: n(22)?, vsize_bytes: n(23)?, rss_pages: n(24)? })
}

/// `btime` of /proc/stat: boot time, seconds since the epoch.
fn parse_btime(text: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()
}

fn sysconf(name: libc::c_int) -> Option<u64> {
    // SAFETY: sysconf only reads its argument; -1 (error or no limit) is handled.
    let v = unsafe { libc::sysconf(name) };
    (v > 0).then_some(v as u64)
}

/// What the process figures are made of, gathered apart from the text so the text can be tested.
#[derive(Default)]
struct Process {
    stat: Option<ProcStat>,
    clock_ticks: Option<u64>,
    page_size: Option<u64>,
    boot_time: Option<u64>,
    open_fds: Option<u64>,
    max_fds: Option<u64>,
}

fn gather() -> Process {
    let mut stat = std::fs::read_to_string("/proc/self/stat").ok().and_then(|t| parse_stat(&t));
    // Sizes from /proc/self/statm (pages): the same figures, and also true where /proc/self/stat
    // is synthesised with zeros (qemu-user, which the cross tests run under).
    let page_size = sysconf(libc::_SC_PAGESIZE);
    if let (Some(s), Some(m), Some(page)) = (stat.as_mut(), std::fs::read_to_string("/proc/self/statm").ok(), page_size)
    {
        let mut f = m.split_whitespace().map(|v| v.parse::<u64>().ok());
        if let (Some(Some(size)), Some(Some(resident))) = (f.next(), f.next()) {
            s.vsize_bytes = size.saturating_mul(page);
            s.rss_pages = resident;
        }
    }
    // The boot time does not change while flowpi runs: /proc/stat is read once.
    static BOOT: OnceLock<Option<u64>> = OnceLock::new();
    let boot_time = *BOOT.get_or_init(|| std::fs::read_to_string("/proc/stat").ok().and_then(|t| parse_btime(&t)));
    // Counting includes the descriptor the listing itself holds, as the client libraries do.
    let open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as u64);
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we own; on failure the figure is left out.
    let max_fds = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        // rlim_t is 32 bits on armv7: the cast is not idle there.
        #[allow(clippy::unnecessary_cast)]
        Some(lim.rlim_cur as u64)
    } else {
        None
    };
    Process { stat, clock_ticks: sysconf(libc::_SC_CLK_TCK), page_size, boot_time, open_fds, max_fds }
}

fn process(out: &mut String) {
    process_text(out, &gather());
}

/// Each figure that could be read; one that could not is left out rather than reported as 0.
fn process_text(out: &mut String, p: &Process) {
    let mut family = |name: &str, kind: &str, help: &str, value: Option<String>| {
        if let Some(v) = value {
            header(out, name, kind, help);
            let _ = writeln!(out, "{name} {v}");
        }
    };
    let stat = p.stat.as_ref();
    let ticks = p.clock_ticks;
    family(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        stat.zip(ticks).map(|(s, t)| seconds(s.utime.saturating_add(s.stime), t)),
    );
    family("process_open_fds", "gauge", "Number of open file descriptors.", p.open_fds.map(|n| n.to_string()));
    family("process_max_fds", "gauge", "Maximum number of open file descriptors.", p.max_fds.map(|n| n.to_string()));
    family(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        stat.map(|s| s.vsize_bytes.to_string()),
    );
    family(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        stat.zip(p.page_size).map(|(s, page)| s.rss_pages.saturating_mul(page).to_string()),
    );
    family(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        // The boot time is whole seconds (btime), the start within it clock ticks.
        stat.zip(ticks)
            .zip(p.boot_time)
            .map(|((s, t), boot)| format_float(boot as f64 + s.starttime as f64 / t as f64)),
    );
}

/// `ticks / per_second` as decimal seconds.
fn seconds(ticks: u64, per_second: u64) -> String {
    format_float(ticks as f64 / per_second as f64)
}

/// Shortest text that reads back as the same float (Rust's `Display` for f64 does that).
fn format_float(v: f64) -> String {
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::AppName;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape("two\nlines"), "two\\nlines");
        assert_eq!(escape("plain é"), "plain é");
        assert_eq!(labels(&[("name", "wan \"1\""), ("direction", "in")]), r#"{name="wan \"1\"",direction="in"}"#);
    }

    fn c(in_bytes: u64, out_bytes: u64, in_packets: u64, out_packets: u64) -> Counts {
        Counts { in_bytes, out_bytes, in_packets, out_packets }
    }

    #[test]
    fn subjects_are_labelled_and_the_overflow_rows_named_other() {
        let e: std::net::IpAddr = "10.0.0.1".parse().unwrap();
        let snap = Snapshot {
            hosts: vec![
                (HostId::Ip("192.168.1.10".parse().unwrap()), c(50_000, 1_700, 40, 17)),
                (HostId::Other, c(1, 2, 3, 4)),
            ],
            interfaces: vec![
                (IfaceId::If { exporter: e, ifindex: 2 }, c(10, 20, 1, 2)),
                (IfaceId::If { exporter: e, ifindex: 3 }, c(5, 6, 7, 8)),
                (IfaceId::Other, c(0, 9, 0, 1)),
            ],
            interface_names: vec![((e, 2), "wan \"x\"\\\n".into())],
            applications: vec![(AppName::new("web").unwrap(), c(100, 200, 3, 4))],
            ..Snapshot::default()
        };
        let mut out = String::new();
        // A name from a PTR answer may hold what the exposition format escapes.
        let named: IpAddr = "192.168.1.10".parse().unwrap();
        subjects(&mut out, &snap, &|ip| (ip == named).then(|| Arc::from("tv \"living\\room\"")));
        for line in [
            "# TYPE flowpi_host_bytes_total counter",
            "flowpi_host_bytes_total{host=\"192.168.1.10\",name=\"tv \\\"living\\\\room\\\"\",direction=\"rx\"} 50000",
            "flowpi_host_bytes_total{host=\"192.168.1.10\",name=\"tv \\\"living\\\\room\\\"\",direction=\"tx\"} 1700",
            "flowpi_host_bytes_total{host=\"other\",name=\"\",direction=\"tx\"} 2",
            "# TYPE flowpi_host_packets_total counter",
            "flowpi_host_packets_total{host=\"192.168.1.10\",name=\"tv \\\"living\\\\room\\\"\",direction=\"rx\"} 40",
            "flowpi_host_packets_total{host=\"other\",name=\"\",direction=\"tx\"} 4",
            "flowpi_interface_bytes_total{exporter=\"10.0.0.1\",ifindex=\"2\",name=\"wan \\\"x\\\"\\\\\\n\",direction=\"out\"} 20",
            "flowpi_interface_bytes_total{exporter=\"10.0.0.1\",ifindex=\"3\",name=\"\",direction=\"in\"} 5",
            "flowpi_interface_packets_total{exporter=\"other\",ifindex=\"\",name=\"\",direction=\"out\"} 1",
            "# HELP flowpi_application_bytes_total Bytes received (rx) and sent (tx) by local hosts per application since start, as the API lists them.",
            "flowpi_application_bytes_total{application=\"web\",direction=\"rx\"} 100",
            "flowpi_application_packets_total{application=\"web\",direction=\"tx\"} 4",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} missing from\n{out}");
        }
        // Two directions per row, per unit.
        assert_eq!(out.lines().filter(|l| l.starts_with("flowpi_host_")).count(), 2 * 2 * 2);
        assert_eq!(out.lines().filter(|l| l.starts_with("flowpi_interface_")).count(), 3 * 2 * 2);
        // Every sample line parses as NAME{LABELS} VALUE; families are each announced once.
        for l in out.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = l.rsplit_once(' ').unwrap();
            v.parse::<u64>().unwrap_or_else(|_| panic!("{l}"));
            assert!(l.contains("\"}"), "{l}");
        }
        assert_eq!(out.matches("# TYPE ").count(), 6);
    }

    #[test]
    fn no_rows_still_announce_the_families() {
        let mut out = String::new();
        subjects(&mut out, &Snapshot::default(), &|_| None);
        assert_eq!(out.lines().filter(|l| !l.starts_with('#')).count(), 0);
        assert_eq!(out.matches("# HELP ").count(), 6);
    }

    #[test]
    fn build_info_names_version_and_target() {
        let mut out = String::new();
        build_info(&mut out, "0.1.0", "aarch64");
        assert_eq!(
            out,
            "# HELP flowpi_build_info Always 1; the labels say which flowpi this is.\n\
             # TYPE flowpi_build_info gauge\n\
             flowpi_build_info{version=\"0.1.0\",target=\"aarch64\"} 1\n"
        );
    }

    #[test]
    fn proc_stat_is_read_past_an_awkward_command_name() {
        // Fields 3.. of a real line; the name holds a space, parentheses and a `)`.
        let line = "4242 (fl) ow (pi)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 \
                    123456 98304000 2048 18446744073709551615 1 1 0 0 0 0 0 4096 17630 0 0 0 17 2 0 0 0 0 0";
        assert_eq!(
            parse_stat(line),
            Some(ProcStat { utime: 250, stime: 75, starttime: 123456, vsize_bytes: 98_304_000, rss_pages: 2048 })
        );
        assert_eq!(parse_stat("4242 (flowpi) S 1 2 3"), None, "cut short");
        assert_eq!(parse_stat("no parenthesis"), None);
        assert_eq!(parse_stat(""), None);
        assert_eq!(parse_btime("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"), Some(1_700_000_000));
        assert_eq!(parse_btime("cpu 1\n"), None);
    }

    #[test]
    fn process_figures_are_computed_and_unreadable_ones_left_out() {
        let p = Process {
            stat: Some(ProcStat { utime: 250, stime: 75, starttime: 12345, vsize_bytes: 98_304_000, rss_pages: 2048 }),
            clock_ticks: Some(100),
            page_size: Some(4096),
            boot_time: Some(1_700_000_000),
            open_fds: Some(17),
            max_fds: Some(1024),
        };
        let mut out = String::new();
        process_text(&mut out, &p);
        for line in [
            "# TYPE process_cpu_seconds_total counter",
            "process_cpu_seconds_total 3.25",
            "process_open_fds 17",
            "process_max_fds 1024",
            "process_virtual_memory_bytes 98304000",
            "process_resident_memory_bytes 8388608",
            "# TYPE process_start_time_seconds gauge",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} missing from\n{out}");
        }
        let start: f64 =
            out.lines().find_map(|l| l.strip_prefix("process_start_time_seconds ")).unwrap().parse().unwrap();
        assert!((start - 1_700_000_123.45).abs() < 1e-3, "{start}");
        assert_eq!(out.matches("# HELP ").count(), 6);

        // No /proc/self/stat, no clock tick rate: only what does not need them.
        let p = Process { stat: None, open_fds: Some(3), max_fds: None, ..Process::default() };
        let mut out = String::new();
        process_text(&mut out, &p);
        assert_eq!(
            out,
            "# HELP process_open_fds Number of open file descriptors.\n# TYPE process_open_fds gauge\nprocess_open_fds 3\n"
        );
    }

    #[test]
    fn this_process_reports_its_own_figures() {
        let mut out = String::new();
        process(&mut out);
        let value = |name: &str| -> f64 {
            let l = out.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}\n{out}"));
            l[name.len() + 1..].parse().unwrap()
        };
        assert!(value("process_resident_memory_bytes") > 1e5);
        assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        let start = value("process_start_time_seconds");
        assert!(start <= now + 1.0 && start > now - 86_400.0, "{start} vs {now}");
        assert!(value("process_cpu_seconds_total") >= 0.0);
    }
}
