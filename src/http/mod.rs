//! The web server: hyper (HTTP/1.1 only) on its own small tokio runtime, connections as tasks
//! bounded by the registry in `conn`, every request checked (method, body, `Host:`, credentials)
//! before it is routed, and replies mapped to status codes.
//!
//! tiny_http, used before, gave each connection a thread with no timeouts and could be aborted by
//! one request (it allocated a declared body length when draining it); see docs/6-page-and-api.md.

mod api;
mod assets;
pub mod auth;
pub mod conn;
pub mod csv;
mod metrics;
pub mod route;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use log::{debug, info, warn};
use tokio::sync::Notify;

use crate::archive::{ArchiveHandle, GraphError, GraphOf};
use crate::collector::Published;
use crate::config::HttpConfig;
use crate::ratelimit::RateLimit;
use crate::stats::{self, Stats};
use crate::views::{HostId, Subject};
use auth::{Access, Guard};
use conn::{ConnState, Registry, Slot, Watched};
use route::Route;

/// Everything a request handler reads.
pub struct Context {
    pub archive: ArchiveHandle,
    pub published: Arc<Published>,
    /// Names of local hosts for the answers listing them (never waits for a lookup).
    pub names: crate::names::Names,
    pub stats: Arc<Stats>,
    pub step: Duration,
    pub guard: Guard,
    pub calendar: crate::calendar::Calendar,
    pub doctor: crate::doctor::Settings,
}

/// Headers past this size are answered 431: a request line and headers of a browser are 1-2 KiB.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The login form's body (`password=...`), the only request body flowpi reads.
const MAX_FORM_BYTES: usize = 1024;
/// Time the login form's body has to arrive once its headers have: at most 1 KiB, sent with them
/// by a browser. A form that waits for its body holds a connection mid-request (counted in
/// `flowpi_logins_total{outcome="incomplete"}` when it runs out).
const LOGIN_BODY_TIMEOUT: Duration = Duration::from_secs(1);
/// Bytes of a newcomer's first request looked at (left in the socket for hyper) for credentials
/// when the registry must make room: a browser's request line, cookie and the headers before it.
const PEEK_BYTES: usize = 4096;
/// Graph renders waiting for the archive thread at once; more wait their turn in tokio's queue.
const BLOCKING_THREADS: usize = 4;

/// Built inert; [`Http::start`] binds and starts the server thread.
pub struct Http {
    cfg: HttpConfig,
    ctx: Arc<Context>,
    alive: Arc<AtomicU64>,
}

/// A running server; [`HttpServer::stop`] ends it.
pub struct HttpServer {
    shutdown: Arc<Notify>,
    thread: JoinHandle<()>,
}

impl Http {
    /// `alive` is bumped once a second by the accept loop: the watchdog's proof that the server
    /// still takes connections.
    pub fn new(cfg: &HttpConfig, ctx: Context, alive: Arc<AtomicU64>) -> Http {
        Http { cfg: cfg.clone(), ctx: Arc::new(ctx), alive }
    }

    pub fn start(self) -> std::io::Result<HttpServer> {
        let listener = std::net::TcpListener::bind(self.cfg.listen)
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on http {}: {e}", self.cfg.listen)))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr().unwrap_or(self.cfg.listen);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.cfg.threads)
            .max_blocking_threads(BLOCKING_THREADS)
            .thread_name("http")
            .enable_all()
            .build()?;
        let shutdown = Arc::new(Notify::new());
        let stop = shutdown.clone();
        let thread = std::thread::Builder::new().name("http-accept".into()).spawn(move || {
            runtime.block_on(self.serve(listener, stop));
            // Graph and password checks in flight are bounded; do not wait on a stuck one.
            runtime.shutdown_timeout(Duration::from_secs(1));
        })?;
        info!("http: serving on http://{addr}/");
        Ok(HttpServer { shutdown, thread })
    }

    async fn serve(self, listener: std::net::TcpListener, shutdown: Arc<Notify>) {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => return warn!("http: cannot use the listening socket: {e}"),
        };
        let registry =
            Registry::new(self.cfg.max_connections, self.cfg.max_connections_per_client, self.ctx.stats.clone());
        let cfg = Arc::new(self.cfg);
        let mut beat = tokio::time::interval(Duration::from_secs(1));
        let mut accept_warn = RateLimit::new(Duration::from_secs(10));
        loop {
            tokio::select! {
                _ = shutdown.notified() => break,
                _ = beat.tick() => stats::inc(&self.alive),
                r = listener.accept() => match r {
                    Ok((stream, peer)) => {
                        // Refused: every connection is mid-request; dropping the stream closes it.
                        let proves = || first_request_proves(&stream, &self.ctx.guard);
                        let Some(slot) = registry.admit(peer.ip(), proves) else { continue };
                        tokio::spawn(connection(stream, peer, slot, self.ctx.clone(), cfg.clone()));
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: count, say so now and then, and
                        // give the kernel a moment instead of spinning.
                        stats::inc(&self.ctx.stats.http_accept_errors);
                        if let Some(held) = accept_warn.check() {
                            warn!("http: accept failed: {e} ({held} more since the last warning)");
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
    }
}

/// Does the request already waiting on a new connection carry credentials that hold? Read without
/// taking the bytes and without waiting: a flood of connections that never log in renews itself
/// faster than the handler reaches a browser's new connection, so a full registry must know whom
/// to keep before a request is read. A request not there yet proves nothing (the connection then
/// gets `conn::FIRST_REQUEST_GRACE`).
fn first_request_proves(stream: &tokio::net::TcpStream, guard: &Guard) -> bool {
    use std::os::fd::AsRawFd;
    let mut buf = [0u8; PEEK_BYTES];
    // SAFETY: recv writes at most buf.len() bytes into buf; MSG_PEEK leaves them in the socket.
    let n = unsafe {
        libc::recv(stream.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_PEEK | libc::MSG_DONTWAIT)
    };
    let Ok(n) = usize::try_from(n) else { return false };
    let (mut cookie, mut authorization) = (None, None);
    for line in buf[..n].split(|b| *b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = std::str::from_utf8(line).ok().and_then(|l| l.split_once(':')) else { continue };
        if name.eq_ignore_ascii_case("cookie") {
            cookie = Some(value.trim());
        } else if name.eq_ignore_ascii_case("authorization") {
            authorization = Some(value.trim());
        }
    }
    guard.proves(cookie, authorization)
}

impl HttpServer {
    pub fn stop(self) {
        self.shutdown.notify_one();
        let _ = self.thread.join();
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    slot: Slot,
    ctx: Arc<Context>,
    cfg: Arc<HttpConfig>,
) {
    let _ = stream.set_nodelay(true);
    let state = slot.state.clone();
    let io = hyper_util::rt::TokioIo::new(Watched::new(stream, state.clone()));
    let client = crate::net::normalize(peer.ip());
    let stats = ctx.stats.clone();
    let service = hyper::service::service_fn(move |req| {
        let (ctx, state) = (ctx.clone(), state.clone());
        async move {
            state.begin();
            let resp = handle(&ctx, client, &state, req).await;
            state.end();
            Ok::<_, Infallible>(resp)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.max_buf_size(MAX_HEADER_BYTES).keep_alive(true).half_close(false);
    let conn = builder.serve_connection(io, service);
    tokio::select! {
        r = conn => if let Err(e) = r { debug!("http: {peer}: {e}") },
        _ = slot.state.closed() => debug!("http: {peer}: closed to make room"),
        why = conn::supervise(&slot.state, cfg.header_timeout, cfg.idle_timeout) => {
            stats::inc(&stats.http_timeouts);
            debug!("http: {peer}: closed ({why})");
        }
    }
}

/// A reply before it meets the socket.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Body,
    pub cache_seconds: u64,
    pub headers: Vec<(header::HeaderName, String)>,
}

pub enum Body {
    Static(&'static [u8]),
    Owned(Vec<u8>),
    Graph(Arc<crate::archive::Graph>),
}

/// A cached graph handed to hyper without a copy.
struct SharedBytes(Arc<crate::archive::Graph>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0.image
    }
}

impl Body {
    fn into_bytes(self) -> Bytes {
        match self {
            Body::Static(b) => Bytes::from_static(b),
            Body::Owned(v) => Bytes::from(v),
            Body::Graph(g) => Bytes::from_owner(SharedBytes(g)),
        }
    }
}

impl Reply {
    pub fn ok(content_type: &'static str, body: Body) -> Reply {
        Reply { status: 200, content_type, body, cache_seconds: 0, headers: Vec::new() }
    }

    pub fn error(status: u16, message: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: Body::Owned(format!("{status} {message}\n").into_bytes()),
            cache_seconds: 0,
            headers: Vec::new(),
        }
    }

    fn redirect(to: &str) -> Reply {
        Reply::error(303, "see other").with(header::LOCATION, to)
    }

    fn with(mut self, name: header::HeaderName, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

async fn handle(ctx: &Context, client: IpAddr, conn: &ConnState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let reply = respond(ctx, client, conn, &parts, body).await;
    let class = match reply.status {
        200..=399 => &ctx.stats.http_2xx,
        400..=499 => &ctx.stats.http_4xx,
        _ => &ctx.stats.http_5xx,
    };
    stats::inc(class);
    debug!("http: {client} {} {} -> {}", parts.method, parts.uri.path(), reply.status);
    to_response(reply)
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let cache =
        if reply.cache_seconds > 0 { format!("private, max-age={}", reply.cache_seconds) } else { "no-store".into() };
    let mut resp = Response::new(Full::new(reply.body.into_bytes()));
    *resp.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_str(&cache).expect("ascii"));
    // The page must not be framed by another site, nor its files sniffed as something else.
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Not no-referrer: under it browsers send `Origin: null` with the page's own form posts (the
    // Fetch standard), which could not be told from a sandboxed frame on another site. Other sites
    // still get no Referer.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.append(name, v);
        }
    }
    resp
}

/// The gate every request passes, in order: `Host:`, route, method, body, credentials. A request
/// whose credentials hold marks its connection as logged in (`conn`), which keeps it open when
/// room is made for others.
async fn respond(ctx: &Context, client: IpAddr, conn: &ConnState, parts: &Parts, body: Incoming) -> Reply {
    let Some(host) = header_str(parts, header::HOST) else { return Reply::error(400, "a Host header is required") };
    if !ctx.guard.host_ok(host) {
        // Another name resolving to this address: a web page using DNS rebinding to read the API.
        stats::inc(&ctx.stats.http_bad_host);
        return Reply::error(421, "this server answers to its own names and addresses only (see http.hosts)");
    }
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let route = match route::parse(target) {
        Ok(r) => r,
        Err(e) => return Reply::error(e.status(), &e.to_string()),
    };
    let allowed = route.methods();
    if !allowed.contains(&parts.method) {
        let list: Vec<&str> = allowed.iter().map(Method::as_str).collect();
        return Reply::error(405, "method not allowed").with(header::ALLOW, list.join(", "));
    }
    let is_form = parts.method == Method::POST && route == Route::Login;
    if has_body(parts) && !is_form {
        // Never read: a body is refused before a byte of it is taken, and the connection closed.
        return Reply::error(413, "flowpi takes no request bodies").with(header::CONNECTION, "close");
    }
    match route {
        Route::Login if parts.method == Method::POST => login(ctx, client, conn, parts, body).await,
        Route::Login if ctx.guard.is_open() => Reply::redirect("/"),
        Route::Login => login_page(200, ""),
        Route::Logout => logout(ctx, parts),
        r if r.is_public() => answer(ctx, r).await,
        r => {
            let (cookie, authorization) = (header_str(parts, header::COOKIE), header_str(parts, header::AUTHORIZATION));
            match ctx.guard.check(client, cookie, authorization).await {
                Access::Granted => {
                    conn.authenticated();
                    answer(ctx, r).await
                }
                Access::Denied => {
                    stats::inc(&ctx.stats.http_unauthorized);
                    if r.is_page() {
                        return Reply::redirect("/login");
                    }
                    let reply = Reply::error(401, "log in first (HTTP Basic, user flowpi, or a token)");
                    // Browsers would pop up their own password dialog on a Basic challenge; the
                    // page handles 401 itself, so only clients without Fetch metadata get one.
                    if parts.headers.contains_key("sec-fetch-mode") {
                        reply.with(header::WWW_AUTHENTICATE, "FormLogin realm=\"flowpi\"")
                    } else {
                        reply.with(header::WWW_AUTHENTICATE, "Basic realm=\"flowpi\", charset=\"UTF-8\"")
                    }
                }
                Access::Limited { retry_after } => Reply::error(429, "too many wrong passwords; wait")
                    .with(header::RETRY_AFTER, retry_after.to_string()),
            }
        }
    }
}

/// `text` as a header value: UTF-8 percent-encoded outside printable ASCII (and `%` itself), as
/// header values are ASCII.
fn header_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (b' '..=b'~').contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A header's value, when it is present and visible ASCII.
fn header_str(parts: &Parts, name: header::HeaderName) -> Option<&str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The declared `Content-Length`, when there is one that reads as a number.
fn content_length(parts: &Parts) -> Option<u64> {
    header_str(parts, header::CONTENT_LENGTH)?.trim().parse().ok()
}

/// Does the request carry a body (a length above zero, unreadable, or chunked)?
fn has_body(parts: &Parts) -> bool {
    parts.headers.contains_key(header::TRANSFER_ENCODING)
        || (parts.headers.contains_key(header::CONTENT_LENGTH) && content_length(parts) != Some(0))
}

/// The login form: `password=...`, at most [`MAX_FORM_BYTES`], read within [`LOGIN_BODY_TIMEOUT`].
async fn login(ctx: &Context, client: IpAddr, conn: &ConnState, parts: &Parts, body: Incoming) -> Reply {
    if ctx.guard.is_open() {
        return Reply::redirect("/");
    }
    // A form posted from another site would spend this address's login attempts (and could log
    // the browser in to a session of the other site's choosing).
    if !same_origin(parts) {
        stats::inc(&ctx.stats.http_cross_site);
        return Reply::error(403, "the login form must be sent from this page");
    }
    // Compared as u64: on 32-bit ARM `as usize` would cut a huge length down to a small one.
    match content_length(parts) {
        Some(n) if n <= MAX_FORM_BYTES as u64 => {}
        Some(_) => {
            return Reply::error(413, "the login form is larger than it can be").with(header::CONNECTION, "close")
        }
        None => return Reply::error(411, "the login form needs a Content-Length").with(header::CONNECTION, "close"),
    }
    let read = tokio::time::timeout(LOGIN_BODY_TIMEOUT, Limited::new(body, MAX_FORM_BYTES).collect()).await;
    let Ok(Ok(collected)) = read else {
        stats::inc(&ctx.stats.login_incomplete);
        return Reply::error(400, "the login form did not arrive").with(header::CONNECTION, "close");
    };
    let form = collected.to_bytes();
    let password = form_value(&form, "password").unwrap_or_default();
    match ctx.guard.verify_password(client, &password).await {
        Access::Granted => {
            conn.authenticated();
            let cookie = ctx.guard.new_session().unwrap_or_default();
            Reply::redirect("/").with(header::SET_COOKIE, cookie)
        }
        Access::Denied => login_page(401, "Wrong password."),
        Access::Limited { retry_after } => {
            login_page(429, &format!("Too many wrong passwords. Try again in {retry_after} s."))
                .with(header::RETRY_AFTER, retry_after.to_string())
        }
    }
}

/// Was this request sent by one of this server's own pages, or by no page at all (a script)?
/// Browsers name the sending page's origin in `Origin` on every POST, `null` for a sandboxed
/// frame, a file or a data URL; and most say `Sec-Fetch-Site`. Scripts send neither, and have no
/// browser's cookies to abuse.
fn same_origin(parts: &Parts) -> bool {
    if let Some(site) = parts.headers.get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return false;
        }
    }
    let Some(origin) = parts.headers.get(header::ORIGIN) else { return true };
    let host = header_str(parts, header::HOST).unwrap_or("");
    origin.to_str().ok().and_then(|o| o.split_once("://")).is_some_and(|(scheme, origin_host)| {
        matches!(scheme, "http" | "https") && !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
    })
}

/// `POST /logout`: the session ends on the server too (a copy of the cookie is worth nothing from
/// now on), and the browser is told to forget it. Only from this server's page: another site's
/// form could otherwise log the user out.
fn logout(ctx: &Context, parts: &Parts) -> Reply {
    if !same_origin(parts) {
        stats::inc(&ctx.stats.http_cross_site);
        return Reply::error(403, "log out from this page");
    }
    if let Some(cookie) = header_str(parts, header::COOKIE) {
        ctx.guard.end_session(cookie);
    }
    Reply::redirect("/login").with(header::SET_COOKIE, auth::clear_cookie())
}

/// The login page with `message` (fixed texts only: nothing from the request is echoed).
fn login_page(status: u16, message: &str) -> Reply {
    let (_, page) = assets::get("login.html").expect("embedded");
    let html = String::from_utf8_lossy(page).replace("<!--MESSAGE-->", message);
    Reply { status, ..Reply::ok("text/html; charset=utf-8", Body::Owned(html.into_bytes())) }
}

/// One field of an `application/x-www-form-urlencoded` body.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let raw = text.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name)?.1;
    let mut out = Vec::with_capacity(raw.len());
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let v = std::str::from_utf8(b.get(i + 1..i + 3)?).ok().and_then(|h| u8::from_str_radix(h, 16).ok())?;
                out.push(v);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

async fn answer(ctx: &Context, r: Route) -> Reply {
    // A device's page, series and graphs answer to any of its addresses.
    let device = |ip| ctx.published.get().device_of(ip);
    let r = match r {
        Route::Host(ip, q) => Route::Host(device(ip), q),
        Route::Series { subject: Subject::Host(HostId::Ip(ip)), q } => {
            Route::Series { subject: Subject::Host(HostId::Ip(device(ip))), q }
        }
        Route::Graph { subject: Subject::Host(HostId::Ip(ip)), look, q } => {
            Route::Graph { subject: Subject::Host(HostId::Ip(device(ip))), look, q }
        }
        r => r,
    };
    match r {
        Route::Asset(name) => match assets::get(name) {
            Some((ct, body)) => Reply::ok(ct, Body::Static(body)),
            None => Reply::error(404, "not found"),
        },
        Route::List { list, q } => api::list(ctx, list, q).await,
        Route::Host(ip, q) => api::host(ctx, ip, q).await,
        Route::Series { subject, q } => api::series(ctx, subject, q).await,
        Route::Exporters => api::exporters(ctx),
        Route::Status => api::status(ctx),
        Route::Doctor => api::doctor(ctx),
        Route::Metrics => {
            Reply::ok("text/plain; version=0.0.4; charset=utf-8", Body::Owned(metrics::render(ctx).into_bytes()))
        }
        Route::Graph { subject, look, q } => graph(ctx, GraphOf::Subject(subject), look, &q).await,
        Route::Overview { look, q, n } => graph(ctx, GraphOf::Overview(n), look, &q).await,
        Route::OverviewApi { q, n } => api::overview(ctx, q, n).await,
        Route::Login | Route::Logout => Reply::error(404, "not found"),
    }
}

async fn graph(ctx: &Context, of: GraphOf, mut look: crate::rrd::graph::Look, q: &route::ListQuery) -> Reply {
    look.window = match api::window(ctx, q) {
        Ok(w) => w,
        Err(m) => return Reply::error(400, &m),
    };
    // The archive thread renders; waiting for it must not hold a runtime worker.
    let archive = ctx.archive.clone();
    let result =
        tokio::task::spawn_blocking(move || archive.graph(of, look)).await.unwrap_or(Err(GraphError::Unavailable));
    match result {
        Ok(g) => {
            let name = header::HeaderName::from_static;
            let mut headers = vec![
                (name("x-graph-zone"), ctx.calendar.zone_name().to_string()),
                (name("x-graph-window"), format!("from={}, to={}", g.window.0, g.window.1)),
            ];
            if let Some(f) = &g.figures {
                headers.push((name("x-graph-totals"), f.totals.clone()));
                headers.push((name("x-graph-avg"), f.avg.clone()));
                headers.push((name("x-graph-max"), f.max.clone()));
                headers.push((name("x-graph-p95"), f.p95.clone()));
                headers.push((name("x-graph-title"), header_text(&f.title)));
            }
            Reply {
                cache_seconds: ctx.step.as_secs(),
                headers,
                ..Reply::ok(look.format.content_type(), Body::Graph(g))
            }
        }
        Err(GraphError::NotFound) => Reply::error(404, "no archive for that host, interface or application yet"),
        Err(GraphError::Unavailable) => Reply::error(503, "the archive is busy, try again"),
        Err(GraphError::Failed(e)) => {
            warn!("http: graph failed: {e}");
            Reply::error(500, "graph failed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_decoded() {
        assert_eq!(form_value(b"user=flowpi&password=a%20b+c%21", "password").as_deref(), Some("a b c!"));
        assert_eq!(form_value(b"password=", "password").as_deref(), Some(""));
        assert_eq!(form_value(b"password=%zz", "password"), None);
        assert_eq!(form_value(b"password=%4", "password"), None);
        assert_eq!(form_value(b"x=1", "password"), None);
    }
}
