//! The daemon: wires the sources, the tracker and the bus object together, tells systemd when
//! it is ready, and runs until its shutdown future resolves.

use crate::prober::{ArpProber, PcapProber};
use crate::service::{Presence, Shared, Simulator};
use crate::sim::SimWorld;
use crate::sources::{self, Kind, Observation};
use crate::tracker::Tracker;
use secura_bus::config::PresenceConfig;
use secura_bus::names::{PRESENCE_NAME, PRESENCE_PATH};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};
use zbus::object_server::InterfaceRef;

/// Why the daemon stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The bus could not be reached or the name not owned.
    #[error("cannot serve {PRESENCE_NAME} on the system bus: {0}")]
    Bus(#[from] zbus::Error),
}

/// Run the sniffer with `cfg` until `shutdown` resolves. `sim` swaps the captures and the
/// prober for scripted phones and serves `Simulator1`.
pub async fn run(
    cfg: PresenceConfig,
    sim: bool,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let tracker = Tracker::new(&cfg.devices, cfg.sighting_interval.micros());
    let macs = tracker.macs();
    let shared = Shared::new(tracker);
    let (tx, mut rx) = mpsc::channel::<Observation>(1024);
    let (changed_tx, mut changed_rx) = mpsc::channel::<()>(8);
    let world = SimWorld::default();
    let prober: Arc<dyn ArpProber> = if sim {
        Arc::new(world.clone())
    } else {
        Arc::new(PcapProber::new(&cfg.lan_interface))
    };

    let mut builder = zbus::connection::Builder::system().serve_at(
        PRESENCE_PATH,
        Presence::new(shared.clone(), prober, cfg.probe_timeout.get()),
    );
    if sim {
        builder = builder.serve_at(PRESENCE_PATH, Simulator::new(world.clone()));
    }
    let conn = builder.name(PRESENCE_NAME).build().await?;
    let iface: InterfaceRef<Presence> = conn.object_server().interface(PRESENCE_PATH).await?;

    let mut tasks = JoinSet::new();
    if sim {
        tasks.spawn(sources::simulated(world, shared.clone(), tx, changed_tx));
    } else {
        let monitor = cfg.monitor_interface.trim().to_string();
        if !monitor.is_empty() {
            tasks.spawn(sources::live(
                monitor,
                Kind::Monitor,
                macs.clone(),
                shared.clone(),
                tx.clone(),
                changed_tx.clone(),
            ));
        }
        tasks.spawn(sources::live(
            cfg.lan_interface.clone(),
            Kind::Lan,
            macs,
            shared.clone(),
            tx,
            changed_tx,
        ));
    }

    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    info!(
        name = PRESENCE_NAME,
        devices = cfg.devices.len(),
        sim,
        "ready"
    );
    let watchdog = sd_notify::watchdog_enabled();
    let mut watchdog_tick = tokio::time::interval(
        watchdog
            .map(|d| d / 2)
            .unwrap_or(std::time::Duration::from_secs(3600)),
    );

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(obs) = rx.recv() => on_observation(&shared, &iface, obs).await,
            Some(()) = changed_rx.recv() => {
                if let Err(e) = iface.get().await.sources_changed(iface.signal_emitter()).await {
                    warn!(error = %e, "cannot signal the Sources change");
                }
            }
            _ = watchdog_tick.tick(), if watchdog.is_some() => {
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            }
        }
    }
    info!("stopping");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    tasks.shutdown().await;
    Ok(())
}

async fn on_observation(shared: &Shared, iface: &InterfaceRef<Presence>, obs: Observation) {
    let Observation { heard, source, at } = obs;
    let emit = shared.tracker(|t| {
        if !t.is_configured(&heard.mac) {
            return false;
        }
        if let Some(ip) = heard.ip {
            t.learn_ip(heard.mac, ip, at);
        }
        t.heard(heard.mac, &source, at)
    });
    if !emit {
        return;
    }
    debug!(device = %heard.mac, source = %source, rssi = ?heard.rssi, "sighting");
    let mac = heard.mac.to_string();
    let emitter = iface.signal_emitter();
    if let Err(e) = Presence::sighting(emitter, &mac, &source, at).await {
        warn!(error = %e, "cannot send a Sighting");
    }
    if let Err(e) = iface.get().await.devices_changed(emitter).await {
        warn!(error = %e, "cannot signal the Devices change");
    }
}
