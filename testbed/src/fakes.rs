//! In-process fake services of Presence1, Camera1, Bot1 and Sensor1, built on the `bus/`
//! contract, for testing a daemon without the others. Each fake owns its name on its own
//! connection, records what it was asked, and leaves the bus when stopped (as a crashed
//! daemon would).

use anyhow::Result;
use secura_bus::names;
use secura_bus::types::{PresenceDevice, ProbeAnswer, now_micros};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use zbus::object_server::SignalEmitter;
use zbus::{Connection, interface};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn serve<I: zbus::object_server::Interface>(
    bus: &crate::TestBus,
    path: &str,
    name: &str,
    iface: I,
) -> Result<Connection> {
    let conn = zbus::connection::Builder::address(bus.address())
        .serve_at(path, iface)
        .name(name)
        .build()
        .await?;
    Ok(conn)
}

/// A small valid JPEG of `w`×`h` pixels whose grey level is `shade`.
pub fn jpeg(w: u16, h: u16, shade: u8) -> Vec<u8> {
    let pixels = vec![shade; usize::from(w) * usize::from(h) * 3];
    let mut out = Vec::new();
    let enc = jpeg_encoder::Encoder::new(&mut out, 80);
    enc.encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
        .expect("encoding a JPEG in memory");
    out
}

// ---------------------------------------------------------------- Presence1

/// What the fake sniffer knows and was asked.
#[derive(Debug, Default)]
pub struct PresenceState {
    /// Phones at home (they answer ARP) and their IPs.
    pub home: HashMap<String, String>,
    /// Every `Probe` call's MACs.
    pub probes: Vec<Vec<String>>,
}

#[derive(Debug)]
struct PresenceIface(Arc<Mutex<PresenceState>>);

#[interface(name = "org.securapicam.Presence1")]
impl PresenceIface {
    async fn probe(&self, macs: Vec<String>, _timeout_ms: u32) -> Vec<ProbeAnswer> {
        let mut s = lock(&self.0);
        s.probes.push(macs.clone());
        macs.into_iter()
            .map(|mac| match s.home.get(&mac) {
                Some(ip) => ProbeAnswer {
                    mac,
                    answered: true,
                    ip: ip.clone(),
                },
                None => ProbeAnswer {
                    mac,
                    answered: false,
                    ip: String::new(),
                },
            })
            .collect()
    }
    #[zbus(property)]
    async fn devices(&self) -> Vec<PresenceDevice> {
        Vec::new()
    }
    #[zbus(property)]
    async fn sources(&self) -> Vec<String> {
        vec!["fake".into()]
    }
    #[zbus(signal)]
    async fn sighting(e: &SignalEmitter<'_>, mac: &str, source: &str, at: u64) -> zbus::Result<()>;
}

/// A fake `org.securapicam.Presence`.
#[derive(Debug)]
pub struct FakePresence {
    conn: Connection,
    /// Shared state.
    pub state: Arc<Mutex<PresenceState>>,
}

impl FakePresence {
    /// Own the name on `bus`.
    pub async fn start(bus: &crate::TestBus) -> Result<FakePresence> {
        let state = Arc::new(Mutex::new(PresenceState::default()));
        let conn = serve(
            bus,
            names::PRESENCE_PATH,
            names::PRESENCE_NAME,
            PresenceIface(state.clone()),
        )
        .await?;
        Ok(FakePresence { conn, state })
    }

    /// A `Sighting` of `mac` (radio evidence only; ARP answers depend on [`Self::arrive`]).
    pub async fn sight(&self, mac: &str) -> Result<()> {
        let iface = self
            .conn
            .object_server()
            .interface::<_, PresenceIface>(names::PRESENCE_PATH)
            .await?;
        PresenceIface::sighting(iface.signal_emitter(), mac, "lan:fake0", now_micros()).await?;
        Ok(())
    }

    /// The phone is home: it answers ARP from `ip`, and is sighted.
    pub async fn arrive(&self, mac: &str, ip: &str) -> Result<()> {
        lock(&self.state).home.insert(mac.into(), ip.into());
        self.sight(mac).await
    }

    /// The phone has gone.
    pub fn leave(&self, mac: &str) {
        lock(&self.state).home.remove(mac);
    }

    /// How many probes were made.
    pub fn probe_count(&self) -> usize {
        lock(&self.state).probes.len()
    }

    /// Leave the bus.
    pub async fn stop(self) {
        let _ = self.conn.close().await;
    }
}

// ---------------------------------------------------------------- Camera1

/// What the fake camera was asked.
#[derive(Debug, Default)]
pub struct CameraState {
    /// Event ids of `CaptureEvent` calls.
    pub events: Vec<u64>,
    /// When set, every call fails with `Error.Hardware` and this text.
    pub broken: Option<String>,
}

#[derive(Debug)]
struct CameraIface(Arc<Mutex<CameraState>>);

fn sealed(shade: u8) -> Result<zbus::OwnedFd, secura_bus::Error> {
    secura_bus::fd::sealed_memfd("fake-frame", &jpeg(64, 48, shade))
        .map(zbus::OwnedFd::from)
        .map_err(|e| secura_bus::Error::Hardware(e.to_string()))
}

#[interface(name = "org.securapicam.Camera1")]
impl CameraIface {
    async fn capture_event(
        &self,
        event_id: u64,
    ) -> Result<Vec<(zbus::OwnedFd, u64)>, secura_bus::Error> {
        {
            let mut s = lock(&self.0);
            if let Some(b) = &s.broken {
                return Err(secura_bus::Error::Hardware(b.clone()));
            }
            s.events.push(event_id);
        }
        (0..3u8)
            .map(|i| Ok((sealed(40 * i)?, now_micros())))
            .collect()
    }
    async fn snapshot(&self) -> Result<(zbus::OwnedFd, u64), secura_bus::Error> {
        if let Some(b) = &lock(&self.0).broken {
            return Err(secura_bus::Error::Hardware(b.clone()));
        }
        Ok((sealed(128)?, now_micros()))
    }
    #[zbus(property)]
    async fn backend(&self) -> String {
        "fake".into()
    }
    #[zbus(property)]
    async fn healthy(&self) -> bool {
        lock(&self.0).broken.is_none()
    }
    #[zbus(property)]
    async fn fault(&self) -> String {
        lock(&self.0).broken.clone().unwrap_or_default()
    }
    #[zbus(property)]
    async fn resolution(&self) -> (u32, u32) {
        (64, 48)
    }
}

/// A fake `org.securapicam.Camera` returning three 64×48 JPEGs per event.
#[derive(Debug)]
pub struct FakeCamera {
    conn: Connection,
    /// Shared state.
    pub state: Arc<Mutex<CameraState>>,
}

impl FakeCamera {
    /// Own the name on `bus`.
    pub async fn start(bus: &crate::TestBus) -> Result<FakeCamera> {
        let state = Arc::new(Mutex::new(CameraState::default()));
        let conn = serve(
            bus,
            names::CAMERA_PATH,
            names::CAMERA_NAME,
            CameraIface(state.clone()),
        )
        .await?;
        Ok(FakeCamera { conn, state })
    }

    /// Break (`Some(fault)`) or repair (`None`) the camera, announcing `Healthy`/`Fault`.
    pub async fn set_broken(&self, fault: Option<&str>) -> Result<()> {
        lock(&self.state).broken = fault.map(str::to_string);
        let iface = self
            .conn
            .object_server()
            .interface::<_, CameraIface>(names::CAMERA_PATH)
            .await?;
        let g = iface.get().await;
        g.healthy_changed(iface.signal_emitter()).await?;
        g.fault_changed(iface.signal_emitter()).await?;
        Ok(())
    }

    /// Events captured so far.
    pub fn events(&self) -> Vec<u64> {
        lock(&self.state).events.clone()
    }

    /// Leave the bus.
    pub async fn stop(self) {
        let _ = self.conn.close().await;
    }
}

// ---------------------------------------------------------------- Bot1

/// One message the fake bot accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The text or caption.
    pub text: String,
    /// The photos' bytes (empty for a notice).
    pub photos: Vec<Vec<u8>>,
    /// Its kind (`Post`'s; `notice` for `Notify`, `alert` for `Alert`).
    pub kind: String,
    /// The outbox id it replies to (0: none).
    pub reply_to: u64,
}

#[derive(Debug)]
struct BotIface(Arc<Mutex<Vec<Sent>>>);

#[interface(name = "org.securapicam.Bot1")]
impl BotIface {
    async fn notify(&self, text: String) -> u64 {
        let mut s = lock(&self.0);
        s.push(Sent {
            text,
            photos: Vec::new(),
            kind: "notice".into(),
            reply_to: 0,
        });
        s.len() as u64
    }
    async fn alert(
        &self,
        caption: String,
        photos: Vec<zbus::OwnedFd>,
    ) -> Result<u64, secura_bus::Error> {
        self.post("alert".into(), caption, photos, 0).await
    }
    async fn post(
        &self,
        kind: String,
        text: String,
        photos: Vec<zbus::OwnedFd>,
        reply_to: u64,
    ) -> Result<u64, secura_bus::Error> {
        let mut bytes = Vec::new();
        for fd in &photos {
            let b = secura_bus::fd::read_all(&std::os::fd::AsFd::as_fd(fd), 16 << 20)
                .map_err(|e| secura_bus::Error::InvalidArgument(e.to_string()))?;
            bytes.push(b);
        }
        let mut s = lock(&self.0);
        s.push(Sent {
            text,
            photos: bytes,
            kind,
            reply_to,
        });
        Ok(s.len() as u64)
    }
    async fn create_pairing_code(&self) -> (String, u64) {
        ("000000".into(), now_micros())
    }
    #[zbus(property)]
    async fn connected(&self) -> bool {
        true
    }
    #[zbus(property)]
    async fn outbox(&self) -> u32 {
        0
    }
    #[zbus(property)]
    async fn users(&self) -> u32 {
        1
    }
    #[zbus(property)]
    async fn last_delivery(&self) -> u64 {
        0
    }
}

/// A fake `org.securapicam.Bot` that records every notice and alert.
#[derive(Debug)]
pub struct FakeBot {
    conn: Connection,
    /// What it was given, in order.
    pub sent: Arc<Mutex<Vec<Sent>>>,
}

impl FakeBot {
    /// Own the name on `bus`.
    pub async fn start(bus: &crate::TestBus) -> Result<FakeBot> {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let conn = serve(
            bus,
            names::BOT_PATH,
            names::BOT_NAME,
            BotIface(sent.clone()),
        )
        .await?;
        Ok(FakeBot { conn, sent })
    }

    /// A copy of what was sent so far.
    pub fn sent(&self) -> Vec<Sent> {
        lock(&self.sent).clone()
    }

    /// Whether any message so far contains `needle`.
    pub fn has(&self, needle: &str) -> bool {
        lock(&self.sent).iter().any(|s| s.text.contains(needle))
    }

    /// Leave the bus.
    pub async fn stop(self) {
        let _ = self.conn.close().await;
    }
}

// ---------------------------------------------------------------- Sensor1

#[derive(Debug)]
struct SensorIface {
    healthy: bool,
}

#[interface(name = "org.securapicam.Sensor1")]
impl SensorIface {
    #[zbus(property)]
    async fn active(&self) -> bool {
        false
    }
    #[zbus(property)]
    async fn last_motion(&self) -> u64 {
        0
    }
    #[zbus(property)]
    async fn backend(&self) -> String {
        "fake".into()
    }
    #[zbus(property)]
    async fn healthy(&self) -> bool {
        self.healthy
    }
    #[zbus(property)]
    async fn fault(&self) -> String {
        String::new()
    }
    #[zbus(signal)]
    async fn motion(e: &SignalEmitter<'_>, at: u64) -> zbus::Result<()>;
    #[zbus(signal)]
    async fn motion_ended(e: &SignalEmitter<'_>, at: u64) -> zbus::Result<()>;
}

/// A fake `org.securapicam.Sensor`.
#[derive(Debug)]
pub struct FakeSensor {
    conn: Connection,
}

impl FakeSensor {
    /// Own the name on `bus`.
    pub async fn start(bus: &crate::TestBus) -> Result<FakeSensor> {
        Self::start_with_health(bus, true).await
    }

    /// Own the name, reporting `Healthy` = `healthy` and no `Fault` text (a sensord that is
    /// unhealthy without saying why, when `false`).
    pub async fn start_with_health(bus: &crate::TestBus, healthy: bool) -> Result<FakeSensor> {
        let iface = SensorIface { healthy };
        let conn = serve(bus, names::SENSOR_PATH, names::SENSOR_NAME, iface).await?;
        Ok(FakeSensor { conn })
    }

    /// Emit `Motion`.
    pub async fn motion(&self) -> Result<()> {
        let iface = self
            .conn
            .object_server()
            .interface::<_, SensorIface>(names::SENSOR_PATH)
            .await?;
        SensorIface::motion(iface.signal_emitter(), now_micros()).await?;
        Ok(())
    }

    /// Leave the bus.
    pub async fn stop(self) {
        let _ = self.conn.close().await;
    }
}

/// Emit a `Sensor1.Motion` signal from a connection that does not own the sensor's name, as
/// an impostor would.
pub async fn impostor_motion(bus: &crate::TestBus) -> Result<()> {
    let conn = bus.connect().await?;
    conn.emit_signal(
        None::<&str>,
        names::SENSOR_PATH,
        names::SENSOR_IFACE,
        "Motion",
        &(now_micros(),),
    )
    .await?;
    Ok(())
}

/// All four fakes at once.
#[derive(Debug)]
pub struct Fakes {
    /// Presence1
    pub presence: FakePresence,
    /// Camera1
    pub camera: FakeCamera,
    /// Bot1
    pub bot: FakeBot,
    /// Sensor1
    pub sensor: FakeSensor,
}

impl Fakes {
    /// Start every fake on `bus`.
    pub async fn start(bus: &crate::TestBus) -> Result<Fakes> {
        Ok(Fakes {
            presence: FakePresence::start(bus).await?,
            camera: FakeCamera::start(bus).await?,
            bot: FakeBot::start(bus).await?,
            sensor: FakeSensor::start(bus).await?,
        })
    }
}
