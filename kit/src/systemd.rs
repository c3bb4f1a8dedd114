//! The service manager's side: readiness, stopping and watchdog notifications to systemd
//! (no-ops when not started by it), and the stop signals.

use std::time::Duration;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Tell systemd the daemon is ready; call it once the bus name is owned.
pub fn notify_ready() {
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!("cannot tell systemd the daemon is ready: {e}");
    }
}

/// Tell systemd the daemon is stopping (so a slow stop is not taken for a hang).
pub fn notify_stopping() {
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Stopping]) {
        tracing::debug!("cannot tell systemd the daemon is stopping: {e}");
    }
}

/// With `WatchdogSec=` set, send `WATCHDOG=1` at half the period, forever; without one, wait
/// forever. Run it on the daemon's runtime (as a supervised task), so a wedged runtime stops
/// the pings and systemd restarts the daemon.
pub async fn watchdog() {
    let Some(period) = sd_notify::watchdog_enabled() else {
        return std::future::pending().await;
    };
    let every = (period / 2).max(Duration::from_millis(100));
    tracing::debug!(?every, "systemd watchdog enabled");
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]) {
            tracing::warn!("cannot ping the systemd watchdog: {e}");
        }
    }
}

/// SIGTERM and SIGINT, caught from the moment they are installed.
#[derive(Debug)]
pub struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    /// Install the handlers. Do it before owning the bus name, so that a stop right after
    /// start-up is a clean stop rather than the signal's default action.
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

    /// A future that resolves at the first signal, logs it and tells systemd.
    pub async fn shutdown(mut self) {
        let name = self.wait().await;
        tracing::info!("stopping on {name}");
        notify_stopping();
    }
}
