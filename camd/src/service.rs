//! The bus objects: `org.securapicam.Camera1` (always) and `org.securapicam.Simulator1` (with
//! `--sim` only). Methods stay thin: they ask the [`Core`] and wrap its frames as sealed
//! memfds. The properties follow the capture's [`Health`] through [`follow_health`].
//! `SetActive` (alarmd and root, by the bus policy) turns the continuous capture on and off.

use crate::capture::{Demand, Health};
use crate::events::{CaptureError, Core};
use crate::ring::Frame;
use secura_bus::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;
use zbus::OwnedFd;
use zbus::object_server::{InterfaceRef, SignalEmitter};

/// The state `Camera1` shows, and the core it asks for photos.
#[derive(Debug)]
pub struct Camera {
    core: Arc<Core>,
    backend: &'static str,
    health: Health,
    demand: Arc<Demand>,
}

impl Camera {
    /// The camera object for `backend`, starting from `health`, capturing while `demand`
    /// wants frames.
    pub fn new(
        core: Arc<Core>,
        backend: &'static str,
        health: Health,
        demand: Arc<Demand>,
    ) -> Self {
        Camera {
            core,
            backend,
            health,
            demand,
        }
    }
}

fn to_bus(e: CaptureError) -> Error {
    match e {
        CaptureError::NoFrames(_) => Error::Hardware(e.to_string()),
        CaptureError::Busy => Error::Busy(e.to_string()),
    }
}

fn memfd(name: &str, frame: &Frame) -> Result<(OwnedFd, u64), Error> {
    let fd = secura_bus::fd::sealed_memfd(name, &frame.jpeg)
        .map_err(|e| Error::NotAvailable(format!("cannot create a memfd for the photo: {e}")))?;
    Ok((OwnedFd::from(fd), frame.at))
}

#[zbus::interface(name = "org.securapicam.Camera1")]
impl Camera {
    /// The pre-trigger frames plus a burst, each a sealed memfd with its capture time (µs since
    /// the epoch), oldest first; also stored under `event_id`.
    #[zbus(out_args("photos"))]
    async fn capture_event(&self, event_id: u64) -> Result<Vec<(OwnedFd, u64)>, Error> {
        let frames = self.core.capture_event(event_id).await.map_err(to_bus)?;
        tracing::info!(event_id, photos = frames.len(), "event captured");
        frames
            .iter()
            .enumerate()
            .map(|(i, f)| memfd(&format!("secura-event-{event_id}-{i}"), f))
            .collect()
    }

    /// One JPEG taken now (a sealed memfd) and its capture time.
    #[zbus(out_args("photo", "at"))]
    async fn snapshot(&self) -> Result<(OwnedFd, u64), Error> {
        let frame = self.core.snapshot().await.map_err(to_bus)?;
        memfd("secura-snapshot", &frame)
    }

    /// Capture continuously into the pre-trigger ring (true) or keep the camera closed
    /// between requests (false). alarmd calls it as the alarm state changes; with
    /// `[camera] always_on` the camera stays active regardless.
    async fn set_active(
        &self,
        active: bool,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> zbus::fdo::Result<()> {
        if self.demand.set_active(active) {
            tracing::info!(active, "camera {}", if active { "on" } else { "off" });
            self.active_changed(&emitter).await?;
        } else {
            tracing::debug!(
                active,
                now = self.demand.is_active(),
                "SetActive: no change"
            );
        }
        Ok(())
    }

    /// Whether the camera captures continuously into the pre-trigger ring (active, or
    /// `always_on`); false: it is closed and opened only for a request.
    #[zbus(property)]
    fn active(&self) -> bool {
        self.demand.is_active()
    }

    /// `v4l2`, `rpicam` or `sim`.
    #[zbus(property(emits_changed_signal = "const"))]
    fn backend(&self) -> String {
        self.backend.to_string()
    }

    /// False while no frames arrive.
    #[zbus(property)]
    fn healthy(&self) -> bool {
        self.health.healthy
    }

    /// What is wrong, empty when healthy.
    #[zbus(property)]
    fn fault(&self) -> String {
        self.health.fault.clone()
    }

    /// Width and height of the frames.
    #[zbus(property)]
    fn resolution(&self) -> (u32, u32) {
        self.health.resolution
    }
}

/// Mirror every change of `health` into the served object's properties.
pub async fn follow_health(mut health: watch::Receiver<Health>, iface: InterfaceRef<Camera>) {
    while health.changed().await.is_ok() {
        let now = health.borrow_and_update().clone();
        let emitter = iface.signal_emitter();
        let mut cam = iface.get_mut().await;
        let old = std::mem::replace(&mut cam.health, now.clone());
        let mut result = Ok(());
        if old.healthy != now.healthy {
            result = result.and(cam.healthy_changed(emitter).await);
        }
        if old.fault != now.fault {
            result = result.and(cam.fault_changed(emitter).await);
        }
        if old.resolution != now.resolution {
            result = result.and(cam.resolution_changed(emitter).await);
        }
        if let Err(e) = result {
            tracing::error!(error = %e, "cannot publish camera health");
        }
    }
}

/// `org.securapicam.Simulator1` on camd: breaks and repairs the simulated camera.
#[derive(Debug)]
pub struct Simulator {
    fault: Arc<Mutex<String>>,
    open: Arc<AtomicBool>,
}

impl Simulator {
    /// The simulator setting `fault`, which the simulated camera reads, and showing `open`,
    /// which it sets.
    pub fn new(fault: Arc<Mutex<String>>, open: Arc<AtomicBool>) -> Self {
        Simulator { fault, open }
    }
}

#[zbus::interface(name = "org.securapicam.Simulator1")]
impl Simulator {
    /// A non-empty `fault` breaks the camera with that text; an empty one repairs it.
    fn set_fault(&self, fault: &str) {
        tracing::info!(fault, "simulated camera fault set");
        *self.fault.lock().unwrap_or_else(PoisonError::into_inner) = fault.trim().to_string();
    }

    /// Whether the simulated camera device is open now (read when asked, never signalled).
    #[zbus(property(emits_changed_signal = "false"))]
    fn camera_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }
}
