//! What an archive holds: data sources, round-robin archives, and file names.
//!
//! Every archive has four ABSOLUTE data sources (bytes and packets each way; ABSOLUTE because we
//! write the count since the previous update, so rrdtool stores a per-second rate) and four tiers
//! of rows. Rows are fixed at creation, so a file's size never changes.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::views::{AppName, HostId, IfaceId, Subject};

/// (seconds a row should cover, seconds the tier should span). The first tier keeps every step
/// for two days, but with short steps only for [`FIRST_TIER_MIN_SPAN`] (at least 2880 rows), so a
/// 1 s step does not make 11 MB files.
const TIERS: [(u64, u64); 4] = [
    (0, 2 * 86_400),          // one step per row
    (300, 14 * 86_400),       // 5 min for 2 weeks
    (3_600, 92 * 86_400),     // 1 h for 3 months
    (86_400, 1_826 * 86_400), // 1 day for 5 years
];
/// The hour graph must come from single-step rows whatever the step: rrdtool draws a graph from the
/// finest archive that covers the whole period, so this tier spans an hour and a bit.
const FIRST_TIER_MIN_SPAN: u64 = 3_900;
const FIRST_TIER_MIN_ROWS: u64 = 2_880;

/// One round-robin archive: steps per row and rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    pub steps: u64,
    pub rows: u64,
}

/// The tiers for `step`; tiers whose row would be no coarser than the one before are merged.
pub fn tiers(step: u64) -> Vec<Tier> {
    let mut out: Vec<Tier> = Vec::new();
    for (i, (row_secs, span)) in TIERS.iter().enumerate() {
        let steps = if i == 0 { 1 } else { ((row_secs + step / 2) / step).max(1) };
        let mut rows = span.div_ceil(steps * step).max(1);
        if i == 0 {
            rows = rows.min(FIRST_TIER_MIN_ROWS.max(FIRST_TIER_MIN_SPAN.div_ceil(step)));
        }
        match out.last_mut() {
            Some(last) if last.steps >= steps => last.rows = last.rows.max(rows),
            _ => out.push(Tier { steps, rows }),
        }
    }
    out
}

/// Seconds in a row of the coarsest archive.
pub fn coarsest_row(step: u64) -> u64 {
    tiers(step).last().map_or(step, |t| t.steps * step)
}

/// The data sources' heartbeat in new files, seconds.
pub fn create_args_heartbeat(step: u64) -> u64 {
    coarsest_row(step).max(3 * step).max(2)
}

/// Arguments after `create FILE --step S --start T`.
pub fn create_args(ds: &[&str; 4], step: u64) -> Vec<String> {
    // flowpi writes every step, 0 when nothing was counted, so an update never covers time it
    // knows nothing of; a long heartbeat lets one update of 0 cover a quiet stretch (up to a
    // coarsest row) instead of one update per step.
    let heartbeat = create_args_heartbeat(step);
    let mut args: Vec<String> = ds.iter().map(|n| format!("DS:{n}:ABSOLUTE:{heartbeat}:0:U")).collect();
    for t in tiers(step) {
        args.push(format!("RRA:AVERAGE:0.5:{}:{}", t.steps, t.rows));
        // MAX of single-step rows equals AVERAGE; keep it only where rows consolidate.
        if t.steps > 1 {
            args.push(format!("RRA:MAX:0.5:{}:{}", t.steps, t.rows));
        }
    }
    args
}

/// `hosts/192.168.1.10.rrd`, `hosts/fd00-1--10.rrd` (':' is rrdtool's argument separator, and
/// '-' never occurs in an IPv6 address, so the name maps back one to one), `hosts/other.rrd`,
/// `interfaces/192.168.1.1_3.rrd`, `interfaces/other.rrd`, `applications/web.rrd`.
pub fn path(dir: &Path, s: &Subject) -> PathBuf {
    let name = match s {
        Subject::Host(HostId::Ip(ip)) => ip_name(ip),
        Subject::Interface(IfaceId::If { exporter, ifindex }) => format!("{}_{ifindex}", ip_name(exporter)),
        Subject::Host(HostId::Other) | Subject::Interface(IfaceId::Other) => "other".to_string(),
        Subject::Application(a) => a.to_string(),
    };
    dir.join(s.dir()).join(format!("{name}.rrd"))
}

/// The archive a file in `hosts`, `interfaces` or `applications` belongs to, from its name (the
/// reverse of [`path`]); `None` for any other file.
pub fn subject_of(sub: &str, file: &str) -> Option<Subject> {
    let name = file.strip_suffix(".rrd")?;
    let ip = |s: &str| s.replace('-', ":").parse::<IpAddr>().ok();
    match (sub, name) {
        ("hosts", "other") => Some(Subject::Host(HostId::Other)),
        ("hosts", n) => Some(Subject::Host(HostId::Ip(ip(n)?))),
        ("interfaces", "other") => Some(Subject::Interface(IfaceId::Other)),
        ("interfaces", n) => {
            let (exporter, ifindex) = n.rsplit_once('_')?;
            Some(Subject::Interface(IfaceId::If { exporter: ip(exporter)?, ifindex: ifindex.parse().ok()? }))
        }
        ("applications", n) => Some(Subject::Application(AppName::new(n)?)),
        _ => None,
    }
}

fn ip_name(ip: &IpAddr) -> String {
    ip.to_string().replace(':', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_for_common_steps() {
        assert_eq!(
            tiers(60),
            vec![
                Tier { steps: 1, rows: 2880 },
                Tier { steps: 5, rows: 4032 },
                Tier { steps: 60, rows: 2208 },
                Tier { steps: 1440, rows: 1826 }
            ]
        );
        let one = tiers(1);
        assert_eq!(one[0], Tier { steps: 1, rows: 3900 });
        assert_eq!(tiers(2)[0], Tier { steps: 1, rows: 2880 });
        assert_eq!(one[1], Tier { steps: 300, rows: 4032 });
        // A step of an hour folds the 5-minute and hourly tiers into the first.
        assert_eq!(tiers(3600), vec![Tier { steps: 1, rows: 2208 }, Tier { steps: 24, rows: 1826 }]);
        // Odd steps round to the nearest whole number of steps per row.
        assert_eq!(tiers(7)[1].steps, 43);
    }

    #[test]
    fn paths() {
        let d = Path::new("/a");
        let v6 = Subject::Host(HostId::Ip("fd00:1::10".parse().unwrap()));
        assert_eq!(path(d, &v6), PathBuf::from("/a/hosts/fd00-1--10.rrd"));
        assert_eq!(path(d, &Subject::Host(HostId::Other)), PathBuf::from("/a/hosts/other.rrd"));
        let i = Subject::Interface(IfaceId::If { exporter: "10.0.0.1".parse().unwrap(), ifindex: 7 });
        assert_eq!(path(d, &i), PathBuf::from("/a/interfaces/10.0.0.1_7.rrd"));
        let web = Subject::Application(AppName::new("web").unwrap());
        assert_eq!(path(d, &web), PathBuf::from("/a/applications/web.rrd"));
        for s in [v6, Subject::Host(HostId::Other), i, Subject::Interface(IfaceId::Other), web] {
            let p = path(d, &s);
            let sub = p.parent().unwrap().file_name().unwrap().to_str().unwrap();
            assert_eq!(subject_of(sub, p.file_name().unwrap().to_str().unwrap()), Some(s));
        }
        assert_eq!(subject_of("hosts", "x.rrd.broken-5"), None);
        assert_eq!(subject_of("applications", "Web.rrd"), None);
    }
}
