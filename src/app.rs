//! Builds the parts inert, starts them in order, and shuts them down in order on SIGTERM/SIGINT.

use std::sync::Arc;

use log::{info, warn};

use crate::archive::Archive;
use crate::collector::{Collector, Published};
use crate::config::Config;
use crate::http::auth::{self, Guard};
use crate::http::{Context, Http};
use crate::names::Names;
use crate::stats::Stats;
use crate::systemd::{self, Liveness, Watchdog};

/// A start-up failure: what failed, for the log and the exit code.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail(what: &str) -> impl FnOnce(std::io::Error) -> StartError + '_ {
    move |e| StartError(format!("{what}: {e}"))
}

/// Run until SIGTERM or SIGINT. `config` is where the user changes the configuration, for the
/// doctor's advice.
pub fn run(cfg: Config, config: crate::doctor::ConfigPlace) -> Result<(), StartError> {
    let stats = Arc::new(Stats::default());
    let live = Liveness::default();
    let published = Arc::new(Published::new());

    // The password first: at first start it is made here and the user must be told where.
    match auth::init_password(&cfg).map_err(fail("password"))? {
        auth::Init::Generated { password, file } => warn!(
            "no password configured: generated the web page password {password} (user flowpi); it is also in {}. Change it with: flowpi set-password",
            file.display()
        ),
        auth::Init::Disabled => warn!("http.auth = \"none\": anyone who can reach the web port sees all traffic"),
        auth::Init::FromConfig | auth::Init::FromFile => {}
    }
    let guard = Guard::load(&cfg, stats.clone()).map_err(StartError)?;

    // Build everything first; nothing below touches the network or the disk.
    let names = Names::new(&cfg.names, &cfg.network.local, stats.clone());
    let (archive, archive_handle) =
        Archive::new(&cfg.archive, &cfg.calendar, &cfg.history, names.clone(), stats.clone(), live.archive.clone());
    let collector =
        Collector::new(&cfg, stats.clone(), archive_handle.clone(), published.clone(), live.collector.clone());
    let http = Http::new(
        &cfg.http,
        Context {
            archive: archive_handle,
            published: published.clone(),
            names: names.clone(),
            stats: stats.clone(),
            step: cfg.archive.step,
            guard,
            calendar: cfg.calendar.clone(),
            doctor: crate::doctor::Settings::new(&cfg, config),
        },
        live.http.clone(),
    );

    // Start: sockets, then the archive thread, then the web server.
    let sockets = collector.bind().map_err(fail("collector"))?;
    let archive_thread = archive.spawn().map_err(fail("archive"))?;
    let resolver = names.spawn(published).map_err(fail("names"))?;
    let server = http.start().map_err(fail("http"))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(fail("runtime"))?;
    let watchdog = Watchdog::spawn(live, stats.clone()).map_err(fail("watchdog"))?;
    systemd::ready(&format!("collecting on {} UDP socket(s)", sockets.len()));
    info!("flowpi {} running: {}", env!("CARGO_PKG_VERSION"), cfg.summary());

    runtime.block_on(collector.run(sockets, shutdown_signal()));

    // The collector handed its final totals to the archive thread; wait for them to be written.
    systemd::stopping();
    let _ = archive_thread.join();
    server.stop();
    if let Some(r) = resolver {
        r.stop();
    }
    watchdog.stop();
    info!("flowpi stopped: {}", systemd::status_line(&stats));
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    let mut int = match signal(SignalKind::interrupt()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received"),
        _ = int.recv() => info!("SIGINT received"),
    }
}
