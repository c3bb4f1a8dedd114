//! The service-manager side every daemon shares: readiness and watchdog notifications to
//! systemd (no-ops when not started by it), and the termination signals.

use std::time::Duration;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Tell systemd the daemon is ready; call it once the bus name is owned.
pub fn notify_ready() {
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!(error = %e, "cannot notify systemd of readiness");
    }
}

/// With `WatchdogSec=` set, send `WATCHDOG=1` at half the period, forever; returns at once
/// when systemd asked for no watchdog. Run it on the daemon's runtime, so a wedged runtime
/// stops the pings and systemd restarts the daemon.
pub async fn watchdog_loop() {
    let Some(period) = sd_notify::watchdog_enabled() else {
        return;
    };
    let every = (period / 2).max(Duration::from_millis(100));
    tracing::debug!(?every, "systemd watchdog enabled");
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]) {
            tracing::warn!(error = %e, "cannot ping the systemd watchdog");
        }
    }
}

/// [`watchdog_loop`] as a task of the current runtime.
pub fn spawn_watchdog() {
    tokio::spawn(watchdog_loop());
}

/// SIGTERM and SIGINT, caught from the moment they are installed.
#[derive(Debug)]
pub struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    /// Install the handlers (before telling systemd the daemon is ready).
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves with the signal's name when one arrives.
    pub async fn wait(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
