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

/// What time a graph covers: the last `Look::period` up to now (the URL's span), a named period
/// of the calendar (`period=today`), or `[from, to)` as the URL gave it (`from=&to=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    Last,
    Named(crate::calendar::Period),
    Between { from: i64, to: i64 },
}

/// The look of one graph, independent of which file it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Look {
    pub period: Period,
    pub format: Format,
    pub width: u32,
    pub height: u32,
    pub window: Window,
}

/// Hosts the overview stacks by default and at most (each a DEF and two areas; more would not
/// tell apart by colour).
pub const OVERVIEW_HOSTS: usize = 8;
pub const OVERVIEW_MAX_HOSTS: usize = 12;

/// The overview's colours, in the order hosts are ranked: Okabe-Ito's colour-blind-safe set
/// first (without its yellow and sky blue, too pale on white), then Paul Tol's darker tones;
/// each at least 3:1 against white (WCAG AA for graphics). Near-black is left to the WAN line.
pub const PALETTE: [&str; OVERVIEW_MAX_HOSTS] = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#332288", "#997700", "#882255", "#6699cc", "#117733", "#ee6677",
    "#666633", "#aa4499",
];
/// The WAN interface's line on the overview.
pub const WAN_COLOUR: &str = "#222222";

/// The row width (seconds) of the archive rrdtool draws `[start, end)` from, `now` being the
/// file's last update: among the archives that still hold `start`, the one whose row is closest
/// to a pixel's width (as `rrd_fetch` picks); when none does, the one reaching furthest back.
pub fn row_seconds(step: u64, start: i64, end: i64, now: i64, width: u32) -> u64 {
    let pixel = ((end - start).max(1) as u64) / u64::from(width.max(1));
    let tiers: Vec<(u64, u64)> =
        crate::rrd::schema::tiers(step).iter().map(|t| (t.steps * step, t.rows * t.steps * step)).collect();
    tiers
        .iter()
        .filter(|(_, span)| now - *span as i64 <= start)
        .min_by_key(|(w, _)| w.abs_diff(pixel))
        .or(tiers.last())
        .map_or(step, |(w, _)| *w)
}

/// The seconds each drawn point covers: whole rows, at least a pixel's width. rrdtool merges
/// rows to the pixel width itself and leaves out a last group it cannot fill, which hid a burst
/// in the newest row; a graph given this as `--step`, and ending on a multiple of it, draws its
/// last row. The plot is narrower than the image (axis and margins, up to about 110 pixels, or
/// half a narrow one): a point must not be finer than its pixel, or rrdtool's own width wins.
pub fn draw_step(row: u64, seconds: i64, width: u32) -> u64 {
    let plot = u64::from(width.saturating_sub(110).max(width / 2).max(1));
    let pixel = (seconds.max(1) as u64).div_ceil(plot);
    row.max(1) * pixel.div_ceil(row.max(1)).max(1)
}

/// The time axis for a window of `seconds` drawn `width` pixels wide: rrdtool's `--x-grid`
/// (grid, major grid, labels, label placement, strftime format) with dates, never week numbers.
/// A narrow image takes the next coarser labels so they do not overlap.
pub fn x_grid(seconds: i64, width: u32) -> &'static str {
    const GRIDS: [(i64, &str); 10] = [
        (40 * 60, "MINUTE:1:MINUTE:5:MINUTE:5:0:%H:%M"),
        (2 * 3_600, "MINUTE:5:MINUTE:15:MINUTE:15:0:%H:%M"),
        (6 * 3_600, "MINUTE:15:HOUR:1:HOUR:1:0:%H:%M"),
        (36 * 3_600, "HOUR:1:HOUR:6:HOUR:3:0:%H:%M"),
        (10 * 86_400, "HOUR:6:DAY:1:DAY:1:0:%a %d %b"),
        (45 * 86_400, "DAY:1:WEEK:1:WEEK:1:0:%d %b"),
        (100 * 86_400, "WEEK:1:MONTH:1:WEEK:2:0:%d %b"),
        (400 * 86_400, "MONTH:1:MONTH:3:MONTH:2:0:%b %Y"),
        (1_200 * 86_400, "MONTH:3:YEAR:1:MONTH:6:0:%b %Y"),
        (i64::MAX, "MONTH:6:YEAR:1:YEAR:1:0:%Y"),
    ];
    let mut i = GRIDS.iter().position(|(most, _)| seconds <= *most).unwrap_or(GRIDS.len() - 1);
    if width < 400 {
        i = (i + 1).min(GRIDS.len() - 1);
    }
    GRIDS[i].1
}

/// The unit a graph's axis counts bits per second in, for its largest value: (bits/s per unit,
/// name). The axis then carries plain numbers and the label says the unit.
pub fn bits_unit(peak_bps: f64) -> (f64, &'static str) {
    const UNITS: [(f64, &str); 5] =
        [(1e12, "Tbit/s"), (1e9, "Gbit/s"), (1e6, "Mbit/s"), (1e3, "kbit/s"), (1.0, "bit/s")];
    UNITS.into_iter().find(|(u, _)| peak_bps.is_finite() && peak_bps >= *u).unwrap_or((1.0, "bit/s"))
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

/// Bits per second as the legend shows them: "3.6 Mbit/s".
pub fn si_bits(b: f64) -> String {
    let units = ["", "k", "M", "G", "T"];
    let mut v = if b.is_finite() { b.max(0.0) } else { 0.0 };
    let mut i = 0;
    while v >= 999.95 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{v:.1} {}bit/s", units[i])
}

/// What the legend prints beside the series (in, out), computed from the archive's rows: bytes
/// in the window, the average and the peak in bits/s (the peak from the MAX archive where rows
/// consolidate steps), and the 95th percentile in bits/s of the rows known by now (`None`: too
/// few of them).
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub totals: [f64; 2],
    pub avg: [f64; 2],
    pub max: [f64; 2],
    pub p95: [Option<f64>; 2],
}

/// Where a graph sits in time: `[start, end)`, the row width of the archive it is drawn from,
/// the archive's step (rows wider than a step consolidate, and have a MAX archive beside), and
/// the seconds each drawn point covers ([`draw_step`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub start: i64,
    pub end: i64,
    pub row: u64,
    pub step: u64,
    pub draw: u64,
}

impl Frame {
    pub fn consolidated(&self) -> bool {
        self.row > self.step
    }
}

/// Escape a path for a DEF: ':' separates rrdtool's DEF fields.
fn def_path(p: &Path) -> String {
    p.display().to_string().replace('\\', "\\\\").replace(':', "\\:")
}

/// Text rrdtool prints as given: ':' separates its fields.
fn text(s: &str) -> String {
    s.replace('\\', "\\\\").replace(':', "\\:")
}

/// A number for an RPN expression (Display never uses an exponent, which the parser may refuse).
fn rpn(v: f64) -> String {
    format!("{v}")
}

/// The options every graph shares: format, window, size, axes and colours.
fn common(look: &Look, frame: &Frame, title: &str, unit: &str) -> Vec<String> {
    let fmt = match look.format {
        Format::Png => "PNG",
        Format::Svg => "SVG",
    };
    [
        "--imgformat",
        fmt,
        "--start",
        &frame.start.to_string(),
        "--end",
        &frame.end.to_string(),
        "--step",
        &frame.draw.max(1).to_string(),
        "--width",
        &look.width.to_string(),
        "--height",
        &look.height.to_string(),
        // The whole image is exactly width x height, as the URL asked.
        "--full-size-mode",
        "--title",
        title,
        "--vertical-label",
        unit,
        // Values are scaled to `unit` before drawing: the axis shows them without a prefix.
        "--units-exponent",
        "0",
        "--base",
        "1000",
        "--x-grid",
        x_grid(frame.end - frame.start, look.width),
        "--slope-mode",
        "--disable-rrdtool-tag",
        "--color",
        "BACK#ffffff",
        "--color",
        "SHADEA#ffffff",
        "--color",
        "SHADEB#ffffff",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// How long a row is, in words: "5 min", "1 h", "1 day".
fn duration_words(s: u64) -> String {
    match s {
        s if s % 86_400 == 0 => format!("{} day{}", s / 86_400, if s == 86_400 { "" } else { "s" }),
        s if s % 3_600 == 0 => format!("{} h", s / 3_600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// rrdtool graph arguments: bits per second, the "in" direction up and "out" mirrored below zero,
/// with average, peak and total of each in the legend. `series` names the file's in/out byte
/// sources and their legend. Where rows consolidate steps, the MAX archive's peak of each row is
/// drawn lighter behind the average, so a short burst stays visible.
pub fn args(
    file: &Path,
    title: &str,
    series: [(&str, &str); 2],
    look: &Look,
    frame: &Frame,
    figures: &Figures,
    zone: &str,
) -> Vec<String> {
    let [(ind, inl), (outd, outl)] = series;
    let Figures { totals, avg, max, p95 } = *figures;
    let peak = [max[0], max[1], p95[0].unwrap_or(0.0), p95[1].unwrap_or(0.0)]
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let (div, unit) = bits_unit(peak);
    let f = def_path(file);
    let row = frame.row;
    let mut a = common(look, frame, title, unit);
    a.push(format!("DEF:in={f}:{ind}:AVERAGE:step={row}"));
    a.push(format!("DEF:out={f}:{outd}:AVERAGE:step={row}"));
    a.push(format!("CDEF:inb=in,{},*", rpn(8.0 / div)));
    a.push(format!("CDEF:outneg=out,{},*", rpn(-8.0 / div)));
    // The busiest step of each drawn point: from the MAX archive where rows consolidate steps,
    // else the largest of the single steps rrdtool merges into the point.
    let peak_def = if frame.consolidated() { Some("MAX") } else { (frame.draw > row).then_some("AVERAGE") };
    if let Some(cf) = peak_def {
        a.push(format!("DEF:inmax={f}:{ind}:{cf}:step={row}:reduce=MAX"));
        a.push(format!("DEF:outmax={f}:{outd}:{cf}:step={row}:reduce=MAX"));
        a.push(format!("CDEF:inmaxb=inmax,{},*", rpn(8.0 / div)));
        a.push(format!("CDEF:outmaxneg=outmax,{},*", rpn(-8.0 / div)));
        a.push("AREA:inmaxb#a6c8e4".into());
        a.push("AREA:outmaxneg#f8c99a".into());
    }
    // The figures are ours, not rrdtool's VDEFs: rrdtool consolidates rows to pixel width first,
    // which can drop or double a short burst; ours are read from the archive's own rows.
    for (k, (vname, colour, label)) in [("inb", "#1f6fae", inl), ("outneg", "#c25e00", outl)].into_iter().enumerate() {
        a.push(format!("AREA:{vname}{colour}:{}", text(&format!("{label:<9}"))));
        a.push(format!(
            "COMMENT:{}\\n",
            text(&format!("avg {:>12}   max {:>12}   total {}", si_bits(avg[k]), si_bits(max[k]), si_bytes(totals[k])))
        ));
    }
    a.push("HRULE:0#555555".into());
    // The 95th percentile of the same rows, as a rule with its value (the "in" series above the
    // axis, the "out" series mirrored below it).
    for (k, (v, colour, label)) in [(p95[0], "#1a4d75", inl), (p95[1], "#a8560f", outl)].into_iter().enumerate() {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            let at = if k == 0 { v } else { -v } / div;
            a.push(format!(
                "HRULE:{}{colour}:{}\\l:dashes",
                rpn(at),
                text(&format!("95th percentile {label} {}", si_bits(v)))
            ));
        }
    }
    if p95.iter().any(Option::is_none) {
        let words =
            format!("95th percentile: \u{2014} (fewer than {} rows known so far)", crate::rrd::MIN_PERCENTILE_ROWS);
        a.push(format!("COMMENT:{}\\l", text(&words)));
    }
    if peak_def.is_some() {
        let words =
            format!("Light: the busiest {} within each {}", duration_words(frame.step), duration_words(frame.draw));
        a.push(format!("COMMENT:{}\\l", text(&words)));
    }
    // Times on the axis are in the configured zone (the process's TZ); say which.
    a.push(format!("COMMENT:Times in {}\\r", text(zone)));
    a
}

/// One series of the overview: an archive, its two byte sources (in or received, out or sent),
/// its legend and colour.
#[derive(Debug, Clone, Copy)]
pub struct Band<'a> {
    pub file: &'a Path,
    pub ds: [&'a str; 2],
    pub label: &'a str,
    pub colour: &'a str,
}

/// The overview's arguments: the hosts' received bits/s stacked above the axis and their sent
/// bits/s stacked below it, in order, each in its colour, on one scale; the WAN interface's in
/// (download) and out (upload) as dark lines on the same scale. `peak_bps` is the largest value
/// drawn (the stacks' or the WAN's), which picks the axis unit.
pub fn overview_args(
    hosts: &[Band],
    wan: Option<&Band>,
    look: &Look,
    frame: &Frame,
    peak_bps: f64,
    title: &str,
    zone: &str,
) -> Vec<String> {
    let (div, unit) = bits_unit(peak_bps);
    let (up, down) = (rpn(8.0 / div), rpn(-8.0 / div));
    let row = frame.row;
    let mut a = common(look, frame, title, unit);
    for (k, b) in hosts.iter().chain(wan).enumerate() {
        let f = def_path(b.file);
        for (d, ds) in ["i", "o"].into_iter().zip(b.ds) {
            a.push(format!("DEF:s{k}{d}={f}:{ds}:AVERAGE:step={row}"));
        }
        // An unknown row of one host would cut a hole through every stack above it: it counts 0.
        a.push(format!("CDEF:s{k}r=s{k}i,UN,0,s{k}i,IF,{up},*"));
        a.push(format!("CDEF:s{k}s=s{k}o,UN,0,s{k}o,IF,{down},*"));
    }
    // Sent first, below the axis, without legend; then received above it, each host's legend
    // once. The first of each side starts at the axis; the others stack on it.
    for (k, b) in hosts.iter().enumerate() {
        a.push(format!("AREA:s{k}s{}{}", b.colour, if k == 0 { "" } else { "::STACK" }));
    }
    // The hosts' legends flow on as many lines as they need; the WAN's and the notes start lines
    // of their own.
    for (k, b) in hosts.iter().enumerate() {
        let end = if k + 1 == hosts.len() { "\\l" } else { "" };
        a.push(format!("AREA:s{k}r{}:{}{end}{}", b.colour, text(b.label), if k == 0 { "" } else { ":STACK" }));
    }
    if let Some(w) = wan {
        let k = hosts.len();
        a.push(format!("LINE2:s{k}r{}:{}", w.colour, text(&format!("{} download", w.label))));
        a.push(format!("LINE2:s{k}s{}:{}\\l:dashes", w.colour, text(&format!("{} upload", w.label))));
    }
    if hosts.is_empty() && wan.is_none() {
        a.push("COMMENT:No local host has traffic in this window\\l".into());
    }
    a.push("HRULE:0#555555".into());
    a.push("COMMENT:Received above the axis, sent below\\l".into());
    a.push(format!("COMMENT:Times in {}\\r", text(zone)));
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(period: Period, width: u32) -> Look {
        Look { period, format: Format::Png, width, height: 200, window: Window::Last }
    }

    fn figures() -> Figures {
        Figures { totals: [1.0, 2.0], avg: [1_000.0, 0.0], max: [94_600_000.0, 8.0], p95: [Some(3_600_000.0), None] }
    }

    #[test]
    fn graphs_name_their_zone_and_mark_the_95th_percentile() {
        let frame = Frame { start: 0, end: 86_400, row: 60, step: 60, draw: 180 };
        let series = [("rx_bytes", "Received"), ("tx_bytes", "Sent")];
        let a = args(Path::new("/a/b.rrd"), "t", series, &look(Period::Day, 600), &frame, &figures(), "Europe/Berlin");
        // Drawn in Mbit/s (the peak is 94.6 Mbit/s): the rule sits at 3.6 on that axis.
        assert!(a.contains(&"HRULE:3.6#1a4d75:95th percentile Received 3.6 Mbit/s\\l:dashes".to_string()), "{a:?}");
        // No rule for a series with too few known rows, and the legend says why rather than 0.
        assert!(!a.iter().any(|x| x.contains("percentile Sent")));
        assert!(
            a.contains(&"COMMENT:95th percentile\\: \u{2014} (fewer than 20 rows known so far)\\l".to_string()),
            "{a:?}"
        );
        assert_eq!(a.last().map(String::as_str), Some("COMMENT:Times in Europe/Berlin\\r"));
    }

    #[test]
    fn units_are_bits_per_second_with_their_prefix_and_bytes_for_totals() {
        assert_eq!(bits_unit(94_600_000.0), (1e6, "Mbit/s"));
        assert_eq!(bits_unit(999.0), (1.0, "bit/s"));
        assert_eq!(bits_unit(1_500.0), (1e3, "kbit/s"));
        assert_eq!(bits_unit(2.5e9), (1e9, "Gbit/s"));
        assert_eq!(bits_unit(0.0), (1.0, "bit/s"));
        assert_eq!(bits_unit(f64::NAN), (1.0, "bit/s"));
        assert_eq!(si_bits(94_600_000.0), "94.6 Mbit/s");
        assert_eq!(si_bits(12.0), "12.0 bit/s");
        assert_eq!(si_bits(f64::NAN), "0.0 bit/s");
        assert_eq!(si_bytes(2_000_000.0), "   2.0 MB");
        assert_eq!(si_bytes(1_500.0), "   1.5 kB");
        let frame = Frame { start: 0, end: 604_800, row: 300, step: 1, draw: 1200 };
        let a = args(
            Path::new("/f.rrd"),
            "t",
            [("rx_bytes", "Received"), ("tx_bytes", "Sent")],
            &look(Period::Week, 600),
            &frame,
            &figures(),
            "UTC",
        );
        let label = a.iter().position(|x| x == "--vertical-label").unwrap();
        assert_eq!(a[label + 1], "Mbit/s");
        let e = a.iter().position(|x| x == "--units-exponent").unwrap();
        assert_eq!(a[e + 1], "0");
        assert!(a.contains(&"CDEF:inb=in,0.000008,*".to_string()), "{a:?}");
        let legend = a.iter().find(|x| x.starts_with("COMMENT:avg") && x.contains("94.6 Mbit/s")).unwrap();
        assert!(legend.contains("max  94.6 Mbit/s") && legend.contains("total    1.0 B"), "{legend}");
        assert!(!a.iter().any(|x| x.contains("b/s") && !x.contains("bit/s")), "{a:?}");
    }

    #[test]
    fn peaks_come_from_the_max_archive_where_rows_consolidate() {
        let series = [("in_bytes", "In"), ("out_bytes", "Out")];
        // A point per step: nothing merged, nothing to show beside the average.
        let single = Frame { start: 0, end: 300, row: 1, step: 1, draw: 1 };
        let a = args(Path::new("/a:b.rrd"), "t", series, &look(Period::Hour, 600), &single, &figures(), "UTC");
        assert!(a.contains(&"DEF:in=/a\\:b.rrd:in_bytes:AVERAGE:step=1".to_string()), "{a:?}");
        assert!(!a.iter().any(|x| x.contains("inmax")), "{a:?}");
        // Steps merged into points by rrdtool: their largest, from the same rows.
        let merged = Frame { start: 0, end: 3_600, row: 1, step: 1, draw: 8 };
        let a = args(Path::new("/f.rrd"), "t", series, &look(Period::Hour, 600), &merged, &figures(), "UTC");
        assert!(a.contains(&"DEF:inmax=/f.rrd:in_bytes:AVERAGE:step=1:reduce=MAX".to_string()), "{a:?}");
        assert!(!a.iter().any(|x| x.contains(":MAX:")), "no MAX archive for single steps: {a:?}");
        assert!(a.contains(&"COMMENT:Light\\: the busiest 1 s within each 8 s\\l".to_string()), "{a:?}");
        let coarse = Frame { start: 0, end: 31 * 86_400, row: 3_600, step: 1, draw: 7_200 };
        let a = args(Path::new("/f.rrd"), "t", series, &look(Period::Month, 600), &coarse, &figures(), "UTC");
        for def in [
            "DEF:inmax=/f.rrd:in_bytes:MAX:step=3600:reduce=MAX",
            "DEF:outmax=/f.rrd:out_bytes:MAX:step=3600:reduce=MAX",
            "DEF:in=/f.rrd:in_bytes:AVERAGE:step=3600",
        ] {
            assert!(a.contains(&def.to_string()), "{def}: {a:?}");
        }
        // The peak is drawn first, behind the average.
        let peak = a.iter().position(|x| x.starts_with("AREA:inmaxb")).unwrap();
        let avg = a.iter().position(|x| x.starts_with("AREA:inb")).unwrap();
        assert!(peak < avg);
        assert!(a.contains(&"COMMENT:Light\\: the busiest 1 s within each 2 h\\l".to_string()), "{a:?}");
    }

    #[test]
    fn time_axes_show_dates_chosen_by_the_window() {
        assert_eq!(x_grid(3_600, 600), "MINUTE:5:MINUTE:15:MINUTE:15:0:%H:%M");
        assert_eq!(x_grid(25 * 60, 600), "MINUTE:1:MINUTE:5:MINUTE:5:0:%H:%M");
        assert_eq!(x_grid(86_400, 600), "HOUR:1:HOUR:6:HOUR:3:0:%H:%M");
        // A 25-hour day (DST) is still a day.
        assert_eq!(x_grid(25 * 3_600, 600), "HOUR:1:HOUR:6:HOUR:3:0:%H:%M");
        assert_eq!(x_grid(7 * 86_400, 600), "HOUR:6:DAY:1:DAY:1:0:%a %d %b");
        assert_eq!(x_grid(31 * 86_400, 600), "DAY:1:WEEK:1:WEEK:1:0:%d %b");
        assert_eq!(x_grid(365 * 86_400, 600), "MONTH:1:MONTH:3:MONTH:2:0:%b %Y");
        // Narrow: the next coarser labels.
        assert_eq!(x_grid(86_400, 300), "HOUR:6:DAY:1:DAY:1:0:%a %d %b");
        for s in [60, 3_600, 86_400, 7 * 86_400, 31 * 86_400, 365 * 86_400, 50 * 365 * 86_400] {
            assert!(!x_grid(s, 600).contains("%V") && !x_grid(s, 600).contains("%W"), "no week numbers");
        }
        let frame = Frame { start: 0, end: 7 * 86_400, row: 300, step: 60, draw: 1_200 };
        let a = args(
            Path::new("/f.rrd"),
            "t",
            [("a", "A"), ("b", "B")],
            &look(Period::Week, 600),
            &frame,
            &figures(),
            "UTC",
        );
        let g = a.iter().position(|x| x == "--x-grid").unwrap();
        assert_eq!(a[g + 1], "HOUR:6:DAY:1:DAY:1:0:%a %d %b");
        assert_eq!((a[a.iter().position(|x| x == "--start").unwrap() + 1].as_str()), "0");
    }

    #[test]
    fn drawn_points_are_whole_rows_no_finer_than_a_pixel() {
        // A week 600 pixels wide (a plot of 490): 1235 s a pixel, 5-minute rows: 5 rows a point.
        assert_eq!(draw_step(300, 7 * 86_400, 600), 1_500);
        // An hour of single steps: 8 s a point.
        assert_eq!(draw_step(1, 3_600, 600), 8);
        // Rows wider than a pixel stay rows.
        assert_eq!(draw_step(86_400, 365 * 86_400, 3_000), 86_400);
        // A narrow image: half of it is plot.
        assert_eq!(draw_step(60, 86_400, 200), 900);
    }

    #[test]
    fn the_archive_a_window_is_drawn_from() {
        // 60 s steps: a day graph from single steps (2 days kept), a week from 5-minute rows, a
        // month from hourly rows, a year from daily rows.
        let now = 100 * 86_400;
        assert_eq!(row_seconds(60, now - 86_400, now, now, 600), 60);
        assert_eq!(row_seconds(60, now - 7 * 86_400, now, now, 600), 300);
        assert_eq!(row_seconds(60, now - 31 * 86_400, now, now, 600), 3_600);
        assert_eq!(row_seconds(60, now - 365 * 86_400, now, now, 600), 86_400);
        // An hour three weeks ago: only the hourly rows still hold it.
        assert_eq!(row_seconds(60, now - 21 * 86_400, now - 21 * 86_400 + 3_600, now, 600), 3_600);
        // Older than anything kept: the archive reaching furthest back.
        assert_eq!(row_seconds(60, 0, 3_600, 10_000 * 86_400, 600), 86_400);
    }

    #[test]
    fn the_overview_stacks_received_above_and_sent_below_with_the_wan_as_lines() {
        let files = [Path::new("/h/a.rrd"), Path::new("/h/b.rrd"), Path::new("/i/w.rrd")];
        let hosts = [
            Band { file: files[0], ds: ["rx_bytes", "tx_bytes"], label: "192.168.1.10", colour: PALETTE[0] },
            Band { file: files[1], ds: ["rx_bytes", "tx_bytes"], label: "fd00::1", colour: PALETTE[1] },
        ];
        let wan = Band { file: files[2], ds: ["in_bytes", "out_bytes"], label: "wan", colour: WAN_COLOUR };
        let frame = Frame { start: 0, end: 86_400, row: 300, step: 1, draw: 1200 };
        let a = overview_args(&hosts, Some(&wan), &look(Period::Day, 600), &frame, 50e6, "t", "UTC");
        let want = [
            "DEF:s0i=/h/a.rrd:rx_bytes:AVERAGE:step=300",
            "CDEF:s0r=s0i,UN,0,s0i,IF,0.000008,*",
            "CDEF:s1s=s1o,UN,0,s1o,IF,-0.000008,*",
            "DEF:s2o=/i/w.rrd:out_bytes:AVERAGE:step=300",
            "AREA:s0s#0072b2",
            "AREA:s1s#d55e00::STACK",
            "AREA:s0r#0072b2:192.168.1.10",
            "AREA:s1r#d55e00:fd00\\:\\:1\\l:STACK",
            "LINE2:s2r#222222:wan download",
            "LINE2:s2s#222222:wan upload\\l:dashes",
        ];
        let mut at = 0;
        for w in want {
            let i = a.iter().position(|x| x == w).unwrap_or_else(|| panic!("{w}: {a:?}"));
            assert!(i >= at || w.starts_with("DEF") || w.starts_with("CDEF"), "{w} out of order: {a:?}");
            at = at.max(i);
        }
        assert_eq!(a[a.iter().position(|x| x == "--vertical-label").unwrap() + 1], "Mbit/s");
        // Nothing to draw is still a graph.
        let a = overview_args(&[], None, &look(Period::Day, 600), &frame, 0.0, "t", "UTC");
        assert!(a.iter().any(|x| x.starts_with("COMMENT:No local host")));
    }

    #[test]
    fn the_palette_is_distinct_and_readable_on_white() {
        let lum = |h: &str| -> f64 {
            let c = |i: usize| {
                let v = f64::from(u8::from_str_radix(&h[i..i + 2], 16).unwrap()) / 255.0;
                if v <= 0.03928 {
                    v / 12.92
                } else {
                    ((v + 0.055) / 1.055).powf(2.4)
                }
            };
            0.2126 * c(1) + 0.7152 * c(3) + 0.0722 * c(5)
        };
        for (i, c) in PALETTE.iter().enumerate() {
            let contrast = 1.05 / (lum(c) + 0.05);
            assert!(contrast >= 3.0, "{c}: {contrast:.2}:1 against white");
            assert!(!PALETTE[..i].contains(c), "{c} twice");
            assert_ne!(*c, WAN_COLOUR);
        }
    }
}
