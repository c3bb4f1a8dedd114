//! `org.securapicam.Presence1` (DESIGN §3) and, in `--sim` mode only, the sniffer's members of
//! `org.securapicam.Simulator1`. Methods stay thin: validate, hand the work to the prober or
//! the simulated world, answer.

use crate::parse::MacAddr;
use crate::prober::{ArpProber, Target};
use crate::sim::SimWorld;
use crate::tracker::Tracker;
use secura_bus::Error;
use secura_bus::types::{PresenceDevice, ProbeAnswer, now_micros};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tracing::{info, warn};
use zbus::interface;
use zbus::object_server::SignalEmitter;

/// A single `Probe` may name at most this many devices.
pub const MAX_PROBE_MACS: usize = 32;
/// A single `Probe` waits at most this long.
pub const MAX_PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// Probes that run at once: each opens a capture on the LAN interface and may sweep a /24.
pub const MAX_RUNNING_PROBES: usize = 2;
/// Probes that may wait for one of those to finish; a `Probe` beyond them is refused with
/// `Busy` at once, so a flood of calls costs neither memory nor capture handles.
pub const MAX_WAITING_PROBES: usize = 4;

/// The bound on concurrent probes: [`MAX_RUNNING_PROBES`] run, [`MAX_WAITING_PROBES`] wait
/// in line (in arrival order), the rest are refused.
#[derive(Debug)]
struct ProbeGate {
    running: tokio::sync::Semaphore,
    /// Probes running or waiting.
    admitted: std::sync::atomic::AtomicUsize,
}

/// A probe's place: running or in line. Leaving (by finishing, or by the call being dropped)
/// frees it.
struct Admitted<'a>(&'a ProbeGate);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0
            .admitted
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl ProbeGate {
    fn new() -> ProbeGate {
        ProbeGate {
            running: tokio::sync::Semaphore::new(MAX_RUNNING_PROBES),
            admitted: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// A place for one more probe, or `Busy`.
    fn admit(&self) -> Result<Admitted<'_>, Error> {
        let limit = MAX_RUNNING_PROBES + MAX_WAITING_PROBES;
        let before = self
            .admitted
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let place = Admitted(self);
        if before >= limit {
            return Err(Error::Busy(format!(
                "{limit} probes are already running or waiting; try again when they are done"
            )));
        }
        Ok(place)
    }
}

/// State shared by the interface, the capture tasks and the sighting loop.
#[derive(Debug, Clone)]
pub struct Shared {
    tracker: Arc<Mutex<Tracker>>,
    sources: Arc<Mutex<Vec<String>>>,
}

impl Shared {
    /// Share `tracker`, with no sources running yet.
    pub fn new(tracker: Tracker) -> Shared {
        Shared {
            tracker: Arc::new(Mutex::new(tracker)),
            sources: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Run `f` on the tracker.
    pub fn tracker<T>(&self, f: impl FnOnce(&mut Tracker) -> T) -> T {
        f(&mut self.tracker.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Mark `source` as running (`true`) or stopped; true when the list changed.
    pub fn set_source(&self, source: &str, running: bool) -> bool {
        let mut s = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        let present = s.iter().any(|x| x == source);
        match (running, present) {
            (true, false) => {
                s.push(source.to_string());
                s.sort();
                true
            }
            (false, true) => {
                s.retain(|x| x != source);
                true
            }
            _ => false,
        }
    }

    fn sources(&self) -> Vec<String> {
        self.sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The object served at `/org/securapicam/Presence`.
#[derive(Debug)]
pub struct Presence {
    shared: Shared,
    prober: Arc<dyn ArpProber>,
    default_timeout: Duration,
    gate: ProbeGate,
}

impl Presence {
    /// Serve `shared`, probing with `prober`; `default_timeout` (`probe_timeout`) applies when
    /// a caller passes 0.
    pub fn new(shared: Shared, prober: Arc<dyn ArpProber>, default_timeout: Duration) -> Presence {
        Presence {
            shared,
            prober,
            default_timeout,
            gate: ProbeGate::new(),
        }
    }
}

fn parse_mac(s: &str) -> Result<MacAddr, Error> {
    match MacAddr::parse(s) {
        Some(m) if !m.is_multicast() => Ok(m),
        Some(_) => Err(Error::InvalidArgument(format!(
            "{s} is a group address; a phone has a unicast MAC"
        ))),
        None => Err(Error::InvalidArgument(format!(
            "{s:?} is not a MAC address; write it like aa:bb:cc:dd:ee:ff"
        ))),
    }
}

#[interface(name = "org.securapicam.Presence1")]
impl Presence {
    /// Active ARP probe of each MAC, waiting at most `timeout_ms` (0: the configured
    /// `probe_timeout`). Each answer is (mac, answered, ip); only a reply whose sender MAC is
    /// the device's counts.
    // (Not in the doc comment, which is the checked-in introspection XML:) at most
    // MAX_RUNNING_PROBES run at once and MAX_WAITING_PROBES wait for them (the timeout starts
    // when a probe runs); any more are refused with `Busy`.
    async fn probe(
        &self,
        macs: Vec<String>,
        timeout_ms: u32,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<Vec<ProbeAnswer>, Error> {
        if macs.len() > MAX_PROBE_MACS {
            return Err(Error::InvalidArgument(format!(
                "{} MACs in one probe; at most {MAX_PROBE_MACS}",
                macs.len()
            )));
        }
        let timeout = match timeout_ms {
            0 => self.default_timeout,
            ms => Duration::from_millis(u64::from(ms)),
        };
        if timeout > MAX_PROBE_TIMEOUT {
            return Err(Error::InvalidArgument(format!(
                "timeout_ms {timeout_ms} is above the limit of {} ms",
                MAX_PROBE_TIMEOUT.as_millis()
            )));
        }
        let parsed = macs
            .iter()
            .map(|m| parse_mac(m))
            .collect::<Result<Vec<_>, _>>()?;
        let _place = self.gate.admit()?;
        let _running =
            self.gate.running.acquire().await.map_err(|_| {
                Error::NotAvailable("the sniffer is stopping: no more probes".into())
            })?;
        let targets: Vec<Target> = self.shared.tracker(|t| {
            parsed
                .iter()
                .map(|mac| Target {
                    mac: *mac,
                    last_ip: t.ip_of(mac),
                })
                .collect()
        });
        let answers = self.prober.probe(targets, timeout).await.map_err(|e| {
            warn!(error = %e, "ARP probe failed");
            Error::NotAvailable(format!("cannot probe: {e}"))
        })?;
        let now = now_micros();
        let mut changed = false;
        self.shared.tracker(|t| {
            for (mac, ip) in &answers {
                if let Some(ip) = ip {
                    changed |= t.is_configured(mac);
                    t.answered_from(*mac, *ip, now);
                }
            }
        });
        for (mac, ip) in &answers {
            match ip {
                Some(ip) => info!(device = %mac, ip = %ip, "probe answered"),
                None => info!(device = %mac, timeout_ms = timeout.as_millis(), "probe unanswered"),
            }
        }
        if changed && let Err(e) = self.devices_changed(&emitter).await {
            warn!(error = %e, "cannot signal the Devices change");
        }
        Ok(answers
            .into_iter()
            .map(|(mac, ip)| ProbeAnswer {
                mac: mac.to_string(),
                answered: ip.is_some(),
                ip: ip.map(|i| i.to_string()).unwrap_or_default(),
            })
            .collect())
    }

    /// The configured devices with their last sighting or ARP answer (µs since the epoch, 0 if
    /// never). Changes are signalled together with each `Sighting`, so at most once per
    /// `sighting_interval` per device and source.
    #[zbus(property)]
    fn devices(&self) -> Vec<PresenceDevice> {
        self.shared.tracker(|t| t.snapshot())
    }

    /// The capture sources running now: `lan:IF`, `monitor:IF`, or `sim`.
    #[zbus(property)]
    fn sources(&self) -> Vec<String> {
        self.shared.sources()
    }

    /// A configured device was heard by `source` at `at`; at most once per `sighting_interval`
    /// per (mac, source).
    #[zbus(signal)]
    pub async fn sighting(
        emitter: &SignalEmitter<'_>,
        mac: &str,
        source: &str,
        at: u64,
    ) -> zbus::Result<()>;
}

/// The sniffer's part of `org.securapicam.Simulator1`, served only with `--sim`.
#[derive(Debug)]
pub struct Simulator {
    world: SimWorld,
}

impl Simulator {
    /// Script `world`.
    pub fn new(world: SimWorld) -> Simulator {
        Simulator { world }
    }
}

#[interface(name = "org.securapicam.Simulator1")]
impl Simulator {
    /// The phone with `mac` comes home: it transmits and answers ARP.
    fn phone_arrives(&self, mac: &str) -> Result<(), Error> {
        let mac = parse_mac(mac)?;
        let ip = self.world.arrive(mac);
        info!(device = %mac, ip = %ip, "simulated phone arrives");
        Ok(())
    }

    /// The phone with `mac` leaves: silent, no ARP answers.
    fn phone_leaves(&self, mac: &str) -> Result<(), Error> {
        let mac = parse_mac(mac)?;
        self.world.leave(mac);
        info!(device = %mac, "simulated phone leaves");
        Ok(())
    }
}
