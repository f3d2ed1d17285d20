//! systemd notifications: READY once the sockets are bound, STATUS with live counts, WATCHDOG only
//! while the collector, the archive thread and the web server's accept loop all show signs of
//! life, STOPPING at shutdown.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use log::{debug, warn};
use sd_notify::NotifyState;

use crate::stats::{self, Stats};

/// Heartbeats of the parts the watchdog vouches for: each part bumps its counter at least once a second.
#[derive(Default)]
pub struct Liveness {
    pub collector: Arc<AtomicU64>,
    pub archive: Arc<AtomicU64>,
    pub http: Arc<AtomicU64>,
}

fn notify(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, state) {
        debug!("systemd: notify failed: {e}");
    }
}

pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("stopping: writing final archive updates")]);
}

pub fn status_line(s: &Stats) -> String {
    format!(
        "{} hosts, {} interfaces; {} datagrams, {} records, {} decode errors, {} denied; {} archive updates; {} web connections, {} wrong passwords",
        stats::get(&s.hosts),
        stats::get(&s.interfaces),
        stats::get(&s.datagrams),
        stats::get(&s.records),
        s.decode_errors_total(),
        stats::get(&s.denied_not_allowed) + stats::get(&s.denied_domain_limit),
        stats::get(&s.archive_updates),
        stats::get(&s.http_connections),
        stats::get(&s.login_failed),
    )
}

/// Sends STATUS every few seconds and WATCHDOG=1 when systemd asked for it and every part is alive.
pub struct Watchdog {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Watchdog {
    pub fn spawn(live: Liveness, stats: Arc<Stats>) -> std::io::Result<Watchdog> {
        let mut usec = 0u64;
        let enabled = sd_notify::watchdog_enabled(false, &mut usec);
        // Ping at a third of the timeout; parts beat once a second, so a check period under 2 s
        // could see no beat from a healthy part.
        let period =
            if enabled { Duration::from_micros(usec / 3).max(Duration::from_secs(2)) } else { Duration::from_secs(5) };
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new().name("watchdog".into()).spawn(move || {
            let beats = || [stats::get(&live.collector), stats::get(&live.archive), stats::get(&live.http)];
            let mut last = beats();
            let tick = Duration::from_millis(200);
            let mut waited = Duration::ZERO;
            while !stop2.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                waited += tick;
                if waited < period {
                    continue;
                }
                waited = Duration::ZERO;
                let now = beats();
                let [collector_alive, archive_alive, http_alive] = [0, 1, 2].map(|i| now[i] != last[i]);
                last = now;
                let status = status_line(&stats);
                if enabled && collector_alive && archive_alive && http_alive {
                    notify(&[NotifyState::Watchdog, NotifyState::Status(&status)]);
                } else {
                    if enabled {
                        warn!("watchdog: withholding ping (collector alive: {collector_alive}, archive alive: {archive_alive}, http alive: {http_alive})");
                    }
                    notify(&[NotifyState::Status(&status)]);
                }
            }
        })?;
        Ok(Watchdog { stop, thread })
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}
