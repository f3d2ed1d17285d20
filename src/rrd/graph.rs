//! What a graph request is and the rrdtool graph arguments that draw it.

use std::path::Path;

/// The time span a graph covers, named as in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Period {
    pub const ALL: [Period; 5] = [Period::Hour, Period::Day, Period::Week, Period::Month, Period::Year];

    pub fn parse(s: &str) -> Option<Period> {
        Period::ALL.into_iter().find(|p| p.name() == s)
    }

    pub fn name(self) -> &'static str {
        match self {
            Period::Hour => "hour",
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
            Period::Year => "year",
        }
    }

    pub fn seconds(self) -> u64 {
        match self {
            Period::Hour => 3_600,
            Period::Day => 86_400,
            Period::Week => 7 * 86_400,
            Period::Month => 31 * 86_400,
            Period::Year => 365 * 86_400,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Png,
    Svg,
}

impl Format {
    pub fn parse(ext: &str) -> Option<Format> {
        match ext {
            "png" => Some(Format::Png),
            "svg" => Some(Format::Svg),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Svg => "image/svg+xml",
        }
    }
}

pub const DEFAULT_WIDTH: u32 = 600;
pub const DEFAULT_HEIGHT: u32 = 200;
pub const WIDTH_RANGE: (u32, u32) = (200, 3000);
pub const HEIGHT_RANGE: (u32, u32) = (100, 2000);

/// The look of one graph, independent of which file it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Look {
    pub period: Period,
    pub format: Format,
    pub width: u32,
    pub height: u32,
}

/// The row width (seconds) of the archive rrdtool draws a graph from: among the archives that
/// cover the whole period, the one whose row is closest to a pixel's width (as `rrd_fetch` picks).
pub fn row_seconds(step: u64, look: &Look) -> u64 {
    let period = look.period.seconds();
    let pixel = period / u64::from(look.width.max(1));
    crate::rrd::schema::tiers(step)
        .iter()
        .map(|t| (t.steps * step, t.rows * t.steps * step))
        .filter(|(_, span)| *span >= period)
        .min_by_key(|(w, _)| w.abs_diff(pixel))
        .map_or(step, |(w, _)| w)
}

/// Bytes as the legend shows them: "  2.0 MB" (powers of 1000, like the axis).
pub fn si_bytes(b: f64) -> String {
    let units = ["", "k", "M", "G", "T", "P"];
    let mut v = b.max(0.0);
    let mut i = 0;
    while v >= 999.95 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{v:6.1} {}B", units[i])
}

/// Bits per second as the legend shows them: "  3.6 Mb/s".
pub fn si_bits(b: f64) -> String {
    let units = ["", "k", "M", "G", "T"];
    let mut v = b.max(0.0);
    let mut i = 0;
    while v >= 999.95 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{v:.1} {}b/s", units[i])
}

/// What the legend prints beside the series, computed from the archive's rows (in, out): bytes
/// in the window and the 95th percentile in bits/s (NaN: no row known).
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub totals: [f64; 2],
    pub p95: [f64; 2],
}

/// Escape a path for a DEF: ':' separates rrdtool's DEF fields.
fn def_path(p: &Path) -> String {
    p.display().to_string().replace('\\', "\\\\").replace(':', "\\:")
}

/// rrdtool graph arguments: bits per second, the "in" direction up and "out" mirrored below zero,
/// with average, peak and total of each in the legend. `ds` names the file's in/out byte sources.
pub fn args(file: &Path, title: &str, series: [(&str, &str); 2], look: &Look, end: i64, figures: &Figures, zone: &str) -> Vec<String> {
    let ds = [series[0].0, series[1].0];
    let labels = [series[0].1, series[1].1];
    let Figures { totals, p95 } = *figures;
    let f = def_path(file);
    let fmt = match look.format {
        Format::Png => "PNG",
        Format::Svg => "SVG",
    };
    let [ind, outd] = ds;
    let [inl, outl] = labels;
    let mut a: Vec<String> = vec![
        "--imgformat".into(),
        fmt.into(),
        "--start".into(),
        format!("end-{}", look.period.seconds()),
        "--end".into(),
        end.to_string(),
        "--width".into(),
        look.width.to_string(),
        "--height".into(),
        look.height.to_string(),
        // The whole image is exactly width x height, as the URL asked.
        "--full-size-mode".into(),
        "--title".into(),
        title.into(),
        "--vertical-label".into(),
        "bits/s".into(),
        "--base".into(),
        "1000".into(),
        "--slope-mode".into(),
        "--disable-rrdtool-tag".into(),
        "--color".into(),
        "BACK#ffffff".into(),
        "--color".into(),
        "SHADEA#ffffff".into(),
        "--color".into(),
        "SHADEB#ffffff".into(),
    ];
    for s in [
        format!("DEF:in={f}:{ind}:AVERAGE"),
        format!("DEF:out={f}:{outd}:AVERAGE"),
        "CDEF:inb=in,8,*".into(),
        "CDEF:outb=out,8,*".into(),
        "CDEF:outneg=outb,-1,*".into(),
        // Unknown intervals count as zero in the legend, so a new host reads 0, not nan. The
        // totals are not rrdtool's: it consolidates rows to pixel width first, which can drop or
        // double a short burst; they are summed from the archive's own rows (`totals`).
        "CDEF:inz=in,UN,0,in,IF".into(),
        "CDEF:outz=out,UN,0,out,IF".into(),
        "CDEF:inbz=inz,8,*".into(),
        "CDEF:outbz=outz,8,*".into(),
        "VDEF:inavg=inbz,AVERAGE".into(),
        "VDEF:inmax=inbz,MAXIMUM".into(),
        "VDEF:outavg=outbz,AVERAGE".into(),
        "VDEF:outmax=outbz,MAXIMUM".into(),
        format!("AREA:inb#2b7bb9:{inl:<9}"),
        "GPRINT:inavg:avg %6.1lf %sb/s".into(),
        "GPRINT:inmax:max %6.1lf %sb/s".into(),
        format!("COMMENT:total {}\\n", si_bytes(totals[0])),
        format!("AREA:outneg#f0932b:{outl:<9}"),
        "GPRINT:outavg:avg %6.1lf %sb/s".into(),
        "GPRINT:outmax:max %6.1lf %sb/s".into(),
        format!("COMMENT:total {}\\n", si_bytes(totals[1])),
        "HRULE:0#555555".into(),
    ] {
        a.push(s);
    }
    // The 95th percentile of the same rows, as a rule with its value (the "in" series above the
    // axis, the "out" series mirrored below it).
    for (k, (v, colour, label)) in [(p95[0], "#1a4d75", inl), (p95[1], "#a8560f", outl)].into_iter().enumerate() {
        if v.is_finite() {
            let at = if k == 0 { v } else { -v };
            a.push(format!("HRULE:{at}{colour}:95th percentile {label} {}\\l:dashes", si_bits(v)));
        }
    }
    // Times on the axis are in the configured zone (the process's TZ); say which.
    a.push(format!("COMMENT:Times in {}\\r", zone.replace(':', "\\:")));
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphs_name_their_zone_and_mark_the_95th_percentile() {
        let look = Look { period: Period::Day, format: Format::Png, width: 600, height: 200 };
        let figures = Figures { totals: [1.0, 2.0], p95: [3_600_000.0, f64::NAN] };
        let series = [("rx_bytes", "Received"), ("tx_bytes", "Sent")];
        let a = args(Path::new("/a/b.rrd"), "t", series, &look, 86_400, &figures, "Europe/Berlin");
        assert!(a.contains(&"HRULE:3600000#1a4d75:95th percentile Received 3.6 Mb/s\\l:dashes".to_string()), "{a:?}");
        // No rule for a series without a known row.
        assert!(!a.iter().any(|x| x.contains("percentile Sent")));
        assert_eq!(a.last().map(String::as_str), Some("COMMENT:Times in Europe/Berlin\\r"));
    }
}
