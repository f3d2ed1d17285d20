//! The web server: routing, the worker threads, and the mapping of answers to status codes.

mod api;
mod assets;
pub mod auth;
pub mod route;

use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use log::{debug, info, warn};
use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

use crate::archive::{ArchiveHandle, GraphError, Subject};
use crate::collector::Published;
use crate::config::HttpConfig;
use crate::stats::{self, Stats};
use route::Route;

/// Everything a request handler reads.
pub struct Context {
    pub archive: ArchiveHandle,
    pub published: Arc<Published>,
    pub stats: Arc<Stats>,
    pub step: Duration,
}

/// Built inert; [`Http::start`] binds and starts the worker threads.
pub struct Http {
    listen: SocketAddr,
    threads: usize,
    ctx: Arc<Context>,
}

/// A running server; [`HttpServer::stop`] ends it.
pub struct HttpServer {
    server: Arc<Server>,
    workers: Vec<JoinHandle<()>>,
}

impl Http {
    pub fn new(cfg: &HttpConfig, ctx: Context) -> Http {
        Http { listen: cfg.listen, threads: cfg.threads, ctx: Arc::new(ctx) }
    }

    pub fn start(self) -> std::io::Result<HttpServer> {
        let server = Server::http(self.listen)
            .map_err(|e| std::io::Error::other(format!("cannot listen on http {}: {e}", self.listen)))?;
        let addr = server.server_addr().to_ip().unwrap_or(self.listen);
        let server = Arc::new(server);
        let mut workers = Vec::new();
        for i in 0..self.threads {
            let server = server.clone();
            let ctx = self.ctx.clone();
            workers.push(std::thread::Builder::new().name(format!("http-{i}")).spawn(move || {
                while let Ok(req) = server.recv() {
                    handle(&ctx, req);
                }
            })?);
        }
        info!("http: serving on http://{addr}/");
        Ok(HttpServer { server, workers })
    }
}

impl HttpServer {
    pub fn stop(self) {
        for _ in &self.workers {
            self.server.unblock();
        }
        for w in self.workers {
            let _ = w.join();
        }
    }
}

/// A reply before it meets the socket.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Body,
    pub cache_seconds: u64,
}

pub enum Body {
    Static(&'static [u8]),
    Owned(Vec<u8>),
    Shared(Arc<Vec<u8>>),
}

impl Body {
    fn bytes(&self) -> &[u8] {
        match self {
            Body::Static(b) => b,
            Body::Owned(v) => v,
            Body::Shared(v) => v,
        }
    }
}

impl Reply {
    pub fn ok(content_type: &'static str, body: Body) -> Reply {
        Reply { status: 200, content_type, body, cache_seconds: 0 }
    }

    pub fn error(status: u16, message: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: Body::Owned(format!("{status} {message}\n").into_bytes()),
            cache_seconds: 0,
        }
    }
}

fn handle(ctx: &Context, req: Request) {
    let is_get = matches!(req.method(), Method::Get | Method::Head);
    let reply = if is_get {
        match route::parse(req.url()) {
            Ok(r) => answer(ctx, r),
            Err(e) => Reply::error(e.status(), &e.to_string()),
        }
    } else {
        Reply::error(405, "method not allowed")
    };
    let class = match reply.status {
        200..=299 => &ctx.stats.http_2xx,
        400..=499 => &ctx.stats.http_4xx,
        _ => &ctx.stats.http_5xx,
    };
    stats::inc(class);
    debug!("http: {} {} -> {}", req.method(), req.url(), reply.status);
    let status = reply.status;
    let mut resp = Response::new(
        StatusCode(status),
        vec![header("Content-Type", reply.content_type)],
        Cursor::new(reply.body.bytes().to_vec()),
        Some(reply.body.bytes().len()),
        None,
    );
    let cache = if reply.cache_seconds > 0 { format!("max-age={}", reply.cache_seconds) } else { "no-cache".into() };
    resp.add_header(header("Cache-Control", &cache));
    if status == 405 {
        resp.add_header(header("Allow", "GET, HEAD"));
    }
    if let Err(e) = req.respond(resp) {
        debug!("http: client went away: {e}");
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header is valid")
}

fn answer(ctx: &Context, r: Route) -> Reply {
    match r {
        Route::Asset(name) => match assets::get(name) {
            Some((ct, body)) => Reply::ok(ct, Body::Static(body)),
            None => Reply::error(404, "not found"),
        },
        Route::Hosts => api::hosts(ctx),
        Route::Interfaces => api::interfaces(ctx),
        Route::Exporters => api::exporters(ctx),
        Route::Status => api::status(ctx),
        Route::Metrics => {
            Reply::ok("text/plain; version=0.0.4; charset=utf-8", Body::Owned(ctx.stats.render().into_bytes()))
        }
        Route::HostGraph { host, look } => graph(ctx, Subject::Host(host), look),
        Route::InterfaceGraph { iface, look } => graph(ctx, Subject::Interface(iface), look),
    }
}

fn graph(ctx: &Context, subject: Subject, look: crate::rrd::graph::Look) -> Reply {
    match ctx.archive.graph(subject, look) {
        Ok(img) => Reply {
            status: 200,
            content_type: look.format.content_type(),
            body: Body::Shared(img),
            cache_seconds: ctx.step.as_secs(),
        },
        Err(GraphError::NotFound) => Reply::error(404, "no archive for that host or interface yet"),
        Err(GraphError::Unavailable) => Reply::error(503, "the archive is busy, try again"),
        Err(GraphError::Failed(e)) => {
            warn!("http: graph failed: {e}");
            Reply::error(500, "graph failed")
        }
    }
}
