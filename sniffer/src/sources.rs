//! The frame sources of the daemon, each a task feeding [`Observation`]s to the sighting loop:
//! live captures on the LAN and monitor interfaces (reopened when the kernel says the interface
//! came back, or with backoff after other failures, as Wi-Fi interfaces go away), and the
//! simulated phones of `--sim`.

use crate::capture::{self, Decoding};
use crate::filter;
use crate::links::{self, LinkEvents};
use crate::parse::MacAddr;
use crate::pipeline::{Counters, Heard, Wanted};
use crate::service::Shared;
use crate::sim::{self, SimWorld};
use futures_util::StreamExt;
use secura_bus::types::now_micros;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// How long a failed capture waits before reopening, at most.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Counters are logged this often at debug level.
const STATS_EVERY: u64 = 10_000;

/// A station heard by a source.
#[derive(Debug, Clone)]
pub struct Observation {
    /// What was heard.
    pub heard: Heard,
    /// `lan:IF`, `monitor:IF` or `sim` (shared: an observation costs no allocation).
    pub source: Arc<str>,
    /// When, µs since the epoch.
    pub at: u64,
}

/// Which kind of interface a live source captures on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The LAN interface (Ethernet framing).
    Lan,
    /// A monitor-mode interface (802.11).
    Monitor,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Lan => "lan",
            Kind::Monitor => "monitor",
        }
    }
}

/// Capture on `iface` until the channel closes, reopening after failures. The source is listed
/// in `Sources` while its capture is open; `changed` is told when the list changes.
pub async fn live(
    iface: String,
    kind: Kind,
    macs: Vec<MacAddr>,
    shared: Shared,
    tx: mpsc::Sender<Observation>,
    changed: mpsc::Sender<()>,
) {
    let source: Arc<str> = format!("{}:{iface}", kind.prefix()).into();
    // Subscribed before the interface is first looked at, so no change is missed.
    let mut events = LinkEvents::open()
        .inspect_err(|e| {
            warn!(source = %source, error = %e, every = ?links::FALLBACK_CHECK,
                "cannot subscribe to link events; checking the interface periodically instead");
        })
        .ok();
    let mut backoff = Duration::from_secs(1);
    loop {
        let wanted = Wanted::Devices(macs.clone());
        let filter = |link| filter::for_devices(link, &macs);
        match capture::open_live(&iface, filter, |link| Decoding::new(link, wanted)) {
            Ok((mut stream, link)) => {
                if link.source_kind() != kind.prefix() {
                    warn!(interface = %iface, link = ?link, configured_as = kind.prefix(),
                        "the interface's link type does not match its role; reading it anyway");
                }
                info!(source = %source, link = ?link, "capturing");
                backoff = Duration::from_secs(1);
                if shared.set_source(&source, true) {
                    let _ = changed.try_send(());
                }
                let mut counters = Counters::default();
                let index = ifindex(&iface);
                loop {
                    let item = tokio::select! {
                        item = stream.next() => item,
                        () = links::wait_for_change(&mut events, &iface, index) => {
                            // A socket bound to a deleted interface never hears again, and
                            // says nothing: notice a re-created (or vanished) interface here.
                            if ifindex(&iface) != index {
                                warn!(source = %source, "the interface vanished or was re-created");
                                break;
                            }
                            continue;
                        }
                    };
                    let frame = match item {
                        Some(Ok(f)) => f,
                        Some(Err(e)) => {
                            warn!(source = %source, error = %e, "capture failed");
                            break;
                        }
                        None => break,
                    };
                    counters.count(&frame.decoded);
                    if counters.frames % STATS_EVERY == 0 {
                        debug!(source = %source, frames = counters.frames,
                            malformed = counters.malformed, "capture counters");
                    }
                    for h in frame.decoded.stations {
                        let obs = Observation {
                            heard: h,
                            source: source.clone(),
                            at: frame.at,
                        };
                        if tx.send(obs).await.is_err() {
                            return;
                        }
                    }
                }
                if shared.set_source(&source, false) {
                    let _ = changed.try_send(());
                }
            }
            Err(e) => warn!(source = %source, error = %e, retry_in = ?backoff, "cannot capture"),
        }
        if tx.is_closed() {
            return;
        }
        wait_to_reopen(&mut events, &iface, backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Wait before reopening `iface`: while it does not exist, until the kernel says it appeared
/// (no wake-up meanwhile, however long it stays away); otherwise `backoff`, or less if the
/// link changes (it came up, or was re-created).
async fn wait_to_reopen(events: &mut Option<LinkEvents>, iface: &str, backoff: Duration) {
    if events.is_some() && ifindex(iface).is_none() {
        while events.is_some() && ifindex(iface).is_none() {
            links::wait_for_change(events, iface, None).await;
        }
        if ifindex(iface).is_some() {
            return;
        }
    }
    let index = ifindex(iface);
    tokio::select! {
        () = tokio::time::sleep(backoff) => {}
        () = links::wait_for_change(events, iface, index) => {}
    }
}

/// The kernel's index of `iface`, `None` when it does not exist.
fn ifindex(iface: &str) -> Option<u32> {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/ifindex"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// The simulated phones: every phone at home is heard every [`sim::FRAME_PERIOD`].
pub async fn simulated(
    world: SimWorld,
    shared: Shared,
    tx: mpsc::Sender<Observation>,
    changed: mpsc::Sender<()>,
) {
    if shared.set_source(sim::SOURCE, true) {
        let _ = changed.try_send(());
    }
    let source: Arc<str> = sim::SOURCE.into();
    let mut tick = tokio::time::interval(sim::FRAME_PERIOD);
    loop {
        tick.tick().await;
        for (mac, ip) in world.home() {
            let obs = Observation {
                heard: Heard {
                    mac,
                    rssi: Some(-55),
                    ip: Some(ip),
                },
                source: source.clone(),
                at: now_micros(),
            };
            if tx.send(obs).await.is_err() {
                return;
            }
        }
    }
}
