//! The bus objects: `org.securapicam.Sensor1` (always) and `org.securapicam.Simulator1` (with
//! `--sim` only), and the [`Publisher`] through which the core changes what they show.

use crate::input::sim::SimControl;
use secura_bus::Error;
use zbus::object_server::{InterfaceRef, SignalEmitter};

/// The state `Sensor1` shows.
#[derive(Debug)]
pub struct Sensor {
    active: bool,
    last_motion: u64,
    backend: &'static str,
    healthy: bool,
    fault: String,
}

impl Sensor {
    /// A sensor with backend `backend`, not yet known to work.
    pub fn new(backend: &'static str) -> Self {
        Sensor {
            active: false,
            last_motion: 0,
            backend,
            healthy: false,
            fault: "starting".into(),
        }
    }
}

#[zbus::interface(name = "org.securapicam.Sensor1")]
impl Sensor {
    /// Whether the PIR output is (debounced) high now.
    #[zbus(property)]
    fn active(&self) -> bool {
        self.active
    }

    /// The last debounced rising edge (µs since the epoch), 0 if none.
    #[zbus(property)]
    fn last_motion(&self) -> u64 {
        self.last_motion
    }

    /// `gpio` or `sim`.
    #[zbus(property(emits_changed_signal = "const"))]
    fn backend(&self) -> String {
        self.backend.to_string()
    }

    /// False while the input cannot be read.
    #[zbus(property)]
    fn healthy(&self) -> bool {
        self.healthy
    }

    /// What is wrong, empty when healthy.
    #[zbus(property)]
    fn fault(&self) -> String {
        self.fault.clone()
    }

    /// Debounced rising edge.
    #[zbus(signal)]
    async fn motion(emitter: &SignalEmitter<'_>, at: u64) -> zbus::Result<()>;

    /// Debounced falling edge.
    #[zbus(signal)]
    async fn motion_ended(emitter: &SignalEmitter<'_>, at: u64) -> zbus::Result<()>;
}

/// Changes the served [`Sensor`] and emits its signals.
#[derive(Clone)]
pub struct Publisher {
    iface: InterfaceRef<Sensor>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Publisher {
    /// Publish through the object served at `iface`.
    pub fn new(iface: InterfaceRef<Sensor>) -> Self {
        Publisher { iface }
    }

    /// `Motion(at)`, then `Active` and `LastMotion`.
    pub async fn motion(&self, at: u64) -> zbus::Result<()> {
        let emitter = self.iface.signal_emitter();
        Sensor::motion(emitter, at).await?;
        let mut s = self.iface.get_mut().await;
        s.last_motion = at;
        s.last_motion_changed(emitter).await?;
        if !s.active {
            s.active = true;
            s.active_changed(emitter).await?;
        }
        Ok(())
    }

    /// `MotionEnded(at)`, then `Active`.
    pub async fn motion_ended(&self, at: u64) -> zbus::Result<()> {
        let emitter = self.iface.signal_emitter();
        Sensor::motion_ended(emitter, at).await?;
        self.set_active(false).await
    }

    /// `Active` without a signal (the level settled at the end of the warm-up).
    pub async fn set_active(&self, active: bool) -> zbus::Result<()> {
        let mut s = self.iface.get_mut().await;
        if s.active != active {
            s.active = active;
            s.active_changed(self.iface.signal_emitter()).await?;
        }
        Ok(())
    }

    /// `Healthy` and `Fault`: `fault` empty means healthy.
    pub async fn set_fault(&self, fault: &str) -> zbus::Result<()> {
        let emitter = self.iface.signal_emitter();
        let mut s = self.iface.get_mut().await;
        let healthy = fault.is_empty();
        if s.fault != fault {
            s.fault = fault.to_string();
            s.fault_changed(emitter).await?;
        }
        if s.healthy != healthy {
            s.healthy = healthy;
            s.healthy_changed(emitter).await?;
        }
        Ok(())
    }
}

/// `org.securapicam.Simulator1` on sensord: drives the simulated PIR.
#[derive(Debug)]
pub struct Simulator {
    control: SimControl,
}

impl Simulator {
    /// The simulator driving `control`.
    pub fn new(control: SimControl) -> Self {
        Simulator { control }
    }
}

#[zbus::interface(name = "org.securapicam.Simulator1")]
impl Simulator {
    /// A rising edge on the simulated PIR.
    fn motion(&self) -> Result<(), Error> {
        tracing::info!("simulated PIR output rises");
        self.control
            .set_level(true)
            .map_err(|e| Error::Hardware(e.to_string()))
    }

    /// The simulated PIR output falls.
    fn motion_ended(&self) -> Result<(), Error> {
        tracing::info!("simulated PIR output falls");
        self.control
            .set_level(false)
            .map_err(|e| Error::Hardware(e.to_string()))
    }

    /// A non-empty `fault` breaks the sensor with that text; an empty one repairs it.
    fn set_fault(&self, fault: &str) {
        tracing::info!(fault, "simulated sensor fault set");
        self.control.set_fault(fault);
    }
}
