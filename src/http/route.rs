//! URL -> route, as a pure function so every malformed path is a tested 4xx, never a panic.

use std::fmt;
use std::net::IpAddr;

use crate::rrd::graph::{self, Format, Look, Period};
use crate::views::{AppName, HostId, IfaceId, Subject};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Asset(&'static str),
    /// A list sorted by bytes, cut to `limit` rows, over a window when one is asked for.
    List {
        list: List,
        q: ListQuery,
    },
    /// One local host with its applications and peers.
    Host(IpAddr, ListQuery),
    /// An archive's rows over a window.
    Series {
        subject: Subject,
        q: ListQuery,
    },
    Exporters,
    Status,
    /// What is wrong with the flow export, most severe first.
    Doctor,
    Metrics,
    /// A graph of one archive; `q` holds its window (from, to or period) when one is given.
    Graph {
        subject: Subject,
        look: Look,
        q: ListQuery,
    },
    /// The stacked graph of the `n` busiest local hosts (and the WAN interface).
    Overview {
        look: Look,
        q: ListQuery,
        n: usize,
    },
    /// What that graph draws, as JSON.
    OverviewApi {
        q: ListQuery,
        n: usize,
    },
    Login,
    Logout,
}

impl Route {
    /// The methods a route answers; everything else is 405. Only the login form posts, and
    /// logging out is a POST so another site cannot log a user out with a link.
    pub fn methods(&self) -> &'static [hyper::Method] {
        use hyper::Method;
        match self {
            Route::Login => &[Method::GET, Method::HEAD, Method::POST],
            Route::Logout => &[Method::POST],
            _ => &[Method::GET, Method::HEAD],
        }
    }

    /// Served without credentials: the login page and what it needs to look right.
    pub fn is_public(&self) -> bool {
        matches!(self, Route::Login | Route::Asset("style.css") | Route::Asset("favicon.svg"))
    }

    /// A page a person opens: without credentials it leads to the login form instead of a 401.
    pub fn is_page(&self) -> bool {
        matches!(self, Route::Asset("index.html"))
    }
}

/// The JSON lists sorted by bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Hosts,
    Interfaces,
    Applications,
    Conversations,
    Ports,
}

impl List {
    pub fn name(self) -> &'static str {
        match self {
            List::Hosts => "hosts",
            List::Interfaces => "interfaces",
            List::Applications => "applications",
            List::Conversations => "conversations",
            List::Ports => "ports",
        }
    }
}

/// A list's parameters: `limit`, the window (`from`/`to` as given: they are read in the
/// configured zone by the handler, or `period`) and `format=csv`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub limit: Option<usize>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub period: Option<crate::calendar::Period>,
    pub csv: bool,
    /// `None`: received plus sent (since-start interfaces keep their exporter and ifIndex order).
    pub sort: Option<Sort>,
}

/// What a list is sorted by, largest first: received plus sent (in plus out), or one of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    #[default]
    Total,
    Rx,
    Tx,
    /// By the "now" rate (what arrived during the last step), in plus out.
    Now,
}

impl ListQuery {
    pub fn windowed(&self) -> bool {
        self.from.is_some() || self.to.is_some() || self.period.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    NotFound,
    BadRequest(String),
}

impl RouteError {
    pub fn status(&self) -> u16 {
        match self {
            RouteError::NotFound => 404,
            RouteError::BadRequest(_) => 400,
        }
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::NotFound => f.write_str("not found"),
            RouteError::BadRequest(m) => write!(f, "bad request: {m}"),
        }
    }
}

fn bad(m: impl Into<String>) -> RouteError {
    RouteError::BadRequest(m.into())
}

/// Parse a request target such as `/graph/host/192.168.1.10/day.png?width=800`.
pub fn parse(url: &str) -> Result<Route, RouteError> {
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, q),
        None => (url, ""),
    };
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    match segs.as_slice() {
        [""] | ["index.html"] => Ok(Route::Asset("index.html")),
        ["app.js"] => Ok(Route::Asset("app.js")),
        ["style.css"] => Ok(Route::Asset("style.css")),
        ["favicon.svg"] => Ok(Route::Asset("favicon.svg")),
        ["login"] => Ok(Route::Login),
        ["logout"] => Ok(Route::Logout),
        ["api", "hosts"] => list(List::Hosts, query),
        ["api", "hosts", host] => Ok(Route::Host(ip(host)?, list_query(query)?)),
        ["api", "applications"] => list(List::Applications, query),
        ["api", "conversations"] => list(List::Conversations, query),
        ["api", "ports"] => list(List::Ports, query),
        ["api", "interfaces"] => list(List::Interfaces, query),
        ["api", "series", rest @ ..] => match subject(rest) {
            Some(subject) => Ok(Route::Series { subject: subject?, q: series_query(query)? }),
            None => Err(bad(
                "expected /api/series/host/{ip}, /api/series/interface/{exporter}/{ifindex} or /api/series/application/{name}",
            )),
        },
        ["api", "overview"] => {
            let mut n = graph::OVERVIEW_HOSTS;
            let q = params(query, false, "from, to, period or n", |k, v| overview_n(k, v, &mut n))?;
            Ok(Route::OverviewApi { q, n })
        }
        ["api", "exporters"] => Ok(Route::Exporters),
        ["api", "status"] => Ok(Route::Status),
        ["api", "doctor"] => Ok(Route::Doctor),
        ["metrics"] => Ok(Route::Metrics),
        ["graph", "overview", file] => {
            let (look, q, n) = look(file, query, true)?;
            Ok(Route::Overview { look, q, n })
        }
        ["graph", rest @ .., file] if subject(rest).is_some() => {
            let subject = subject(rest).expect("checked")?;
            let (look, q, _) = look(file, query, false)?;
            Ok(Route::Graph { subject, look, q })
        }
        ["graph", ..] => Err(bad(
            "expected /graph/host/{ip}/{span}.{png|svg}, /graph/interface/{exporter}/{ifindex}/{span}.{png|svg}, /graph/application/{name}/{span}.{png|svg} or /graph/overview/{span}.{png|svg}",
        )),
        _ => Err(RouteError::NotFound),
    }
}

/// What a graph or series is about, from the path segments after `/graph/` or `/api/series/`:
/// `host/{ip|other}`, `interface/other`, `interface/{exporter}/{ifindex}`, `application/{name}`.
/// `None` when the segments name no kind at all.
fn subject(parts: &[&str]) -> Option<Result<Subject, RouteError>> {
    Some(match parts {
        ["host", "other"] => Ok(Subject::Host(HostId::Other)),
        ["host", host] => ip(host).map(|ip| Subject::Host(HostId::Ip(ip))),
        ["interface", "other"] => Ok(Subject::Interface(IfaceId::Other)),
        ["interface", exporter, ifindex] => ip(exporter).and_then(|exporter| {
            let ifindex: u32 = ifindex.parse().map_err(|_| bad(format!("ifindex {ifindex:?} is not a number")))?;
            Ok(Subject::Interface(IfaceId::If { exporter, ifindex }))
        }),
        ["application", name] => AppName::new(name)
            .map(Subject::Application)
            .ok_or_else(|| bad(format!("{name:?} is not an application name"))),
        _ => return None,
    })
}

fn list(list: List, query: &str) -> Result<Route, RouteError> {
    Ok(Route::List { list, q: list_query(query)? })
}

/// A series takes a window, nothing else.
fn series_query(query: &str) -> Result<ListQuery, RouteError> {
    params(query, false, "from, to or period", |_, _| Ok(false))
}

/// `limit=N` (1 to 100000), `from`, `to`, `period=NAME`, `sort`, `format=json|csv`.
fn list_query(query: &str) -> Result<ListQuery, RouteError> {
    params(query, true, "limit, sort, from, to, period or format", |_, _| Ok(false))
}

/// A window (`from`, `to`, `period=NAME`), a list's `limit`, `sort` and `format` when `list`,
/// and the caller's own parameters through `extra` (`Ok(true)`: taken); anything else is a
/// mistake worth telling (a misspelt `form=` silently ignored would answer the wrong question),
/// and the message lists the `expected` ones.
fn params(
    query: &str,
    list: bool,
    expected: &str,
    mut extra: impl FnMut(&str, &str) -> Result<bool, RouteError>,
) -> Result<ListQuery, RouteError> {
    let mut q = ListQuery::default();
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let v = unescape(v).ok_or_else(|| bad(format!("{k}: {v:?} is not percent-encoded UTF-8")))?;
        match k {
            "limit" if list => match v.parse::<usize>() {
                Ok(n) if (1..=100_000).contains(&n) => q.limit = Some(n),
                _ => return Err(bad(format!("limit={v:?} must be a number from 1 to 100000"))),
            },
            "from" => q.from = Some(v),
            "to" => q.to = Some(v),
            "period" => {
                q.period = Some(crate::calendar::Period::parse(&v).ok_or_else(|| {
                    let names: Vec<&str> = crate::calendar::Period::ALL.iter().map(|p| p.name()).collect();
                    bad(format!("period={v:?} is not one of {}", names.join(", ")))
                })?)
            }
            "sort" if list => {
                q.sort = Some(match v.as_str() {
                    "total" => Sort::Total,
                    "rx" | "in" => Sort::Rx,
                    "tx" | "out" => Sort::Tx,
                    "now" => Sort::Now,
                    _ => return Err(bad(format!("sort={v:?} is not total, rx (in), tx (out) or now"))),
                })
            }
            "format" if list => match v.as_str() {
                "json" => q.csv = false,
                "csv" => q.csv = true,
                _ => return Err(bad(format!("format={v:?} is not json or csv"))),
            },
            _ if extra(k, &v)? => {}
            _ => return Err(bad(format!("unknown parameter {k:?}: expected {expected}"))),
        }
    }
    if q.period.is_some() && (q.from.is_some() || q.to.is_some()) {
        return Err(bad("give period or from/to, not both"));
    }
    Ok(q)
}

/// Percent-decoding of a query value (`+` is a space, as forms send it).
fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn ip(s: &str) -> Result<IpAddr, RouteError> {
    // Browsers may send IPv6 colons percent-encoded.
    let decoded = s.replace("%3A", ":").replace("%3a", ":");
    decoded.parse::<IpAddr>().map(crate::net::normalize).map_err(|_| bad(format!("{s:?} is not an IP address")))
}

/// The overview's `n`: how many hosts it stacks.
fn overview_n(k: &str, v: &str, n: &mut usize) -> Result<bool, RouteError> {
    if k != "n" {
        return Ok(false);
    }
    let most = graph::OVERVIEW_MAX_HOSTS;
    match v.parse::<usize>() {
        Ok(x) if (1..=most).contains(&x) => *n = x,
        _ => return Err(bad(format!("n={v:?} must be a number from 1 to {most}"))),
    }
    Ok(true)
}

/// A graph's file name (`{span}.{png|svg}`) and parameters: `width`, `height`, a window (`from`,
/// `to` or `period`, as the API takes them), the page's cache-busting `t`, and the overview's `n`.
fn look(file: &str, query: &str, overview: bool) -> Result<(Look, ListQuery, usize), RouteError> {
    let (period, ext) = file.rsplit_once('.').ok_or_else(|| bad(format!("{file:?}: expected {{span}}.png or .svg")))?;
    let period = Period::parse(period)
        .ok_or_else(|| bad(format!("span {period:?} is not one of hour, day, week, month, year")))?;
    let format = Format::parse(ext).ok_or_else(|| bad(format!("format {ext:?} is not png or svg")))?;
    let mut width = graph::DEFAULT_WIDTH;
    let mut height = graph::DEFAULT_HEIGHT;
    let mut n = graph::OVERVIEW_HOSTS;
    let expected =
        if overview { "from, to, period, n, width, height or t" } else { "from, to, period, width, height or t" };
    let q = params(query, false, expected, |k, v| {
        let (slot, (lo, hi)) = match k {
            "width" => (&mut width, graph::WIDTH_RANGE),
            "height" => (&mut height, graph::HEIGHT_RANGE),
            // The page's cache-busting stamp.
            "t" => return Ok(true),
            _ if overview => return overview_n(k, v, &mut n),
            _ => return Ok(false),
        };
        match v.parse::<u32>() {
            Ok(x) if (lo..=hi).contains(&x) => *slot = x,
            _ => return Err(bad(format!("{k}={v:?} must be a number from {lo} to {hi}"))),
        }
        Ok(true)
    })?;
    Ok((Look { period, format, width, height, window: graph::Window::Last }, q, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(parse("/"), Ok(Route::Asset("index.html")));
        assert_eq!(parse("/api/hosts"), Ok(Route::List { list: List::Hosts, q: ListQuery::default() }));
        let q = ListQuery { limit: Some(5), ..Default::default() };
        assert_eq!(parse("/api/ports?limit=5"), Ok(Route::List { list: List::Ports, q }));
        let Ok(Route::List { q, .. }) =
            parse("/api/hosts?from=2024-04-10T12%3A00%3A00%2B02%3A00&to=1712743200&format=csv")
        else {
            panic!()
        };
        assert_eq!(
            (q.from.as_deref(), q.to.as_deref(), q.csv),
            (Some("2024-04-10T12:00:00+02:00"), Some("1712743200"), true)
        );
        let Ok(Route::List { q, .. }) = parse("/api/interfaces?period=last_cycle&sort=in") else { panic!() };
        assert_eq!((q.period, q.sort), (Some(crate::calendar::Period::LastCycle), Some(Sort::Rx)));
        assert_eq!(parse("/api/hosts/fd00%3A%3A1"), Ok(Route::Host("fd00::1".parse().unwrap(), ListQuery::default())));
        let Ok(Route::Series { subject, .. }) = parse("/api/series/interface/10.0.0.1/3?period=today") else {
            panic!()
        };
        assert_eq!(subject, Subject::Interface(IfaceId::If { exporter: "10.0.0.1".parse().unwrap(), ifindex: 3 }));
        let Ok(Route::Graph { subject, .. }) = parse("/graph/application/p2p/week.png") else { panic!() };
        assert_eq!(subject, Subject::Application(AppName::new("p2p").unwrap()));
        assert_eq!(parse("/metrics"), Ok(Route::Metrics));
        assert_eq!(parse("/api/doctor"), Ok(Route::Doctor));
        let Ok(Route::Graph { subject, look, q }) = parse("/graph/host/192.168.1.10/day.png?width=800&height=300&t=5")
        else {
            panic!()
        };
        assert_eq!(subject, Subject::Host(HostId::Ip("192.168.1.10".parse().unwrap())));
        let window = graph::Window::Last;
        assert_eq!(look, Look { period: Period::Day, format: Format::Png, width: 800, height: 300, window });
        assert!(!q.windowed());
        let Ok(Route::Graph { q, .. }) = parse("/graph/host/192.168.1.10/day.png?period=cycle") else { panic!() };
        assert_eq!(q.period, Some(crate::calendar::Period::Cycle));
        let Ok(Route::Graph { q, .. }) = parse("/graph/application/web/week.svg?from=2024-04-10&to=1712743200") else {
            panic!()
        };
        assert_eq!((q.from.as_deref(), q.to.as_deref()), (Some("2024-04-10"), Some("1712743200")));
        let Ok(Route::Overview { look, q, n }) = parse("/graph/overview/month.svg?period=month&n=2&width=900") else {
            panic!()
        };
        assert_eq!(
            (look.period, look.format, look.width, q.period, n),
            (Period::Month, Format::Svg, 900, Some(crate::calendar::Period::Month), 2)
        );
        let Ok(Route::Overview { n, .. }) = parse("/graph/overview/day.png") else { panic!() };
        assert_eq!(n, graph::OVERVIEW_HOSTS);
        let Ok(Route::OverviewApi { q, n }) = parse("/api/overview?from=1&to=2&n=12") else { panic!() };
        assert_eq!((q.from.as_deref(), n), (Some("1"), 12));
        let Ok(Route::Graph { subject, .. }) = parse("/graph/host/fd00%3A1%3A%3A10/week.svg") else { panic!() };
        assert_eq!(subject, Subject::Host(HostId::Ip("fd00:1::10".parse().unwrap())));
        let Ok(Route::Graph { subject, look, .. }) = parse("/graph/interface/10.0.0.1/3/year.svg") else { panic!() };
        let iface = IfaceId::If { exporter: "10.0.0.1".parse().unwrap(), ifindex: 3 };
        assert_eq!(subject, Subject::Interface(iface));
        assert_eq!(look.format, Format::Svg);
    }

    #[test]
    fn malformed_is_4xx() {
        for (url, status) in [
            ("/nope", 404),
            ("/api/hosts/1", 400),
            ("/api/hosts/1/x", 404),
            ("/api/hosts?limit=0", 400),
            ("/api/ports?limit=x", 400),
            ("/api/hosts?x=1", 400),
            ("/api/hosts?form=1", 400),
            ("/api/hosts?period=fortnight", 400),
            ("/api/hosts?period=today&from=1", 400),
            ("/api/hosts?format=xml", 400),
            ("/api/hosts?sort=name", 400),
            ("/api/hosts?from=%zz", 400),
            ("/api/series/host/1.2.3.4?limit=3", 400),
            ("/api/series/disk/x", 400),
            ("/graph/application/../day.png", 400),
            ("/graph/application/Web/day.png", 400),
            ("/graph/host/999.1.1.1/day.png", 400),
            ("/graph/host/192.168.1.1/decade.png", 400),
            ("/graph/host/192.168.1.1/day.gif", 400),
            ("/graph/host/192.168.1.1/day", 400),
            ("/graph/host/192.168.1.1/day.png?width=5", 400),
            ("/graph/host/192.168.1.1/day.png?height=abc", 400),
            ("/graph/host/192.168.1.1/day.png?x=1", 400),
            ("/graph/host/192.168.1.1/day.png?n=2", 400),
            ("/graph/host/192.168.1.1/day.png?limit=2", 400),
            ("/graph/host/192.168.1.1/day.png?period=fortnight", 400),
            ("/graph/host/192.168.1.1/day.png?period=today&from=1", 400),
            ("/graph/overview/day.png?n=0", 400),
            ("/graph/overview/day.png?n=13", 400),
            ("/graph/overview/decade.png", 400),
            ("/graph/overview/x/day.png", 400),
            ("/api/overview?n=99", 400),
            ("/api/overview?limit=3", 400),
            ("/api/overview?period=soon", 400),
            ("/graph/interface/10.0.0.1/x/day.png", 400),
            ("/graph/interface/10.0.0.1/99999999999/day.png", 400),
            ("/graph/", 400),
            ("/graph/host", 400),
            ("", 404),
            ("//", 404),
        ] {
            assert_eq!(parse(url).map_err(|e| e.status()).err(), Some(status), "{url}");
        }
    }
}
