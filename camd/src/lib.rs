//! secura-camd: the camera (DESIGN §2–§3).
//!
//! A [`source::FrameSource`] (V4L2, `rpicam-vid` or generated frames) runs on a capture thread
//! ([`capture`]) at a low rate into a pre-trigger [`ring`] buffer while the camera is active
//! (`SetActive`, which alarmd calls while the alarm is arming, armed or verifying, or
//! `[camera] always_on`); otherwise the device is closed and opened only for a request. `org.securapicam.Camera1`
//! ([`service`]) answers `CaptureEvent` with the ring's frames plus a burst ([`events`]), as
//! sealed memfds, and keeps them under the event in [`storage`], pruned by age and size.

pub mod capture;
pub mod events;
pub mod image;
pub mod mjpeg;
pub mod ring;
pub mod service;
pub mod source;
pub mod storage;

use secura_bus::config::{CameraBackend, CameraConfig, Document, Skip};
use secura_bus::names::{CAMERA_NAME, CAMERA_PATH, Service};
use secura_kit::{Context, Exit, Tasks};
use source::{FrameSource, Settings};
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often stored photos are pruned besides after every event.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Why the daemon stopped.
#[derive(Debug, thiserror::Error)]
pub enum CamdError {
    /// The event store cannot be created.
    #[error("event storage: {0}")]
    Storage(#[from] storage::StoreError),
    /// The bus refused the connection, the object or the name.
    #[error("cannot serve {CAMERA_NAME} on the system bus: {0}")]
    Bus(#[from] zbus::Error),
    /// The capture thread could not be started.
    #[error("cannot start: {0}")]
    Start(std::io::Error),
    /// A task that runs for the daemon's whole life ended.
    #[error(transparent)]
    Task(#[from] secura_kit::tasks::TaskEnded),
}

impl From<CamdError> for Exit {
    fn from(e: CamdError) -> Exit {
        match e {
            CamdError::Storage(_) => Exit::CantCreate,
            CamdError::Bus(_) | CamdError::Start(_) | CamdError::Task(_) => Exit::Failure,
        }
    }
}

/// The sections camd reads.
pub type Config = Document<Skip, Skip, Skip, CameraConfig>;

/// camd, ready to run.
#[derive(Debug)]
pub struct Camd {
    config: CameraConfig,
}

impl secura_kit::Daemon for Camd {
    const SERVICE: Service = Service::Camera;
    const EXITS: &'static [Exit] = &[
        Exit::Done,
        Exit::Failure,
        Exit::CantCreate,
        Exit::NoPermission,
        Exit::Config,
    ];
    const SIM: bool = true;
    const WORKERS: usize = 2;
    const ABOUT: &'static str =
        "The camera of Secura-Pi-Cam (org.securapicam.Camera on the system bus).";
    type Config = Config;
    type Error = CamdError;

    fn effective(config: &Config) -> Result<String, toml::ser::Error> {
        secura_kit::daemon::section("camera", &config.camera)
    }

    fn prepare(config: Config, _: &Context) -> Result<Camd, CamdError> {
        Ok(Camd {
            config: config.camera,
        })
    }

    async fn run(
        self,
        ctx: Context,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), CamdError> {
        run(&self.config, ctx.sim, &ctx.state_dir, shutdown).await
    }
}

/// The capture settings of a configuration.
pub fn settings(config: &CameraConfig) -> Settings {
    Settings {
        width: config.width.get(),
        height: config.height.get(),
        fps: config.fps.get(),
        quality: config.quality.get(),
        vflip: config.vflip,
        hflip: config.hflip,
    }
}

type MakeSource = Box<dyn FnOnce() -> Box<dyn FrameSource> + Send>;

fn make_source(
    config: &CameraConfig,
    sim: bool,
    fault: &Arc<Mutex<String>>,
    open: &Arc<AtomicBool>,
) -> (&'static str, String, MakeSource) {
    let s = settings(config);
    let backend = if sim {
        CameraBackend::Sim
    } else {
        config.backend
    };
    match backend {
        CameraBackend::Sim => {
            let fault = Arc::clone(fault);
            let open = Arc::clone(open);
            let make: MakeSource =
                Box::new(move || Box::new(source::sim::SimSource::new(s, fault, open)));
            ("sim", "simulated camera".into(), make)
        }
        CameraBackend::V4l2 => {
            let device = config.device.clone();
            let name = device.display().to_string();
            let make: MakeSource =
                Box::new(move || Box::new(source::v4l2::V4l2Source::new(device, s)));
            ("v4l2", name, make)
        }
        CameraBackend::Rpicam => {
            let make: MakeSource = Box::new(move || Box::new(source::rpicam::RpicamSource::new(s)));
            ("rpicam", "rpicam-vid".into(), make)
        }
    }
}

/// Serve the camera until `shutdown` resolves, keeping event photos under `state_dir`.
pub async fn run(
    config: &CameraConfig,
    sim: bool,
    state_dir: &std::path::Path,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CamdError> {
    let store = storage::Store::open(state_dir, config.retention.micros(), config.max_storage.0)?;
    let partials = store.remove_partials();
    let pruned = store.prune(secura_bus::types::now_micros())?;
    tracing::info!(dir = %state_dir.display(), partials, expired = pruned.expired, over_size = pruned.over_size, "event storage ready");

    let mut tasks = Tasks::new();
    let fault = Arc::new(Mutex::new(String::new()));
    let open = Arc::new(AtomicBool::new(false));
    let (backend, device, make) = make_source(config, sim, &fault, &open);
    let s = settings(config);
    let shared = Arc::new(capture::Shared::new(ring::Ring::new(
        config.pre_trigger.get(),
        s.fps,
    )));
    let start = capture::Health {
        healthy: false,
        fault: "starting".into(),
        resolution: (s.width, s.height),
    };
    let (health_tx, health_rx) = tokio::sync::watch::channel(start.clone());
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let demand = Arc::new(capture::Demand::new(config.always_on));
    capture::spawn_thread(make, tx, Arc::clone(&demand)).map_err(CamdError::Start)?;
    let stall = (5 * s.period()).max(Duration::from_secs(10));
    tasks.spawn(
        "capture pump",
        capture::pump(rx, Arc::clone(&shared), health_tx, stall, device.clone()),
    );

    let timing = events::EventTiming {
        pre_trigger: config.pre_trigger.get(),
        burst_count: config.burst_count.get(),
        burst_interval: config.burst_interval.get(),
        period: s.period(),
    };
    let core = Arc::new(events::Core::new(
        shared,
        health_rx.clone(),
        store.clone(),
        timing,
        Arc::clone(&demand),
    ));
    let mut builder = zbus::connection::Builder::system().serve_at(
        CAMERA_PATH,
        service::Camera::new(core, backend, start, demand),
    );
    if sim {
        builder = builder.serve_at(CAMERA_PATH, service::Simulator::new(fault, open));
    }
    let conn = builder.name(CAMERA_NAME).build().await?;
    let iface = conn
        .object_server()
        .interface::<_, service::Camera>(CAMERA_PATH)
        .await?;
    tasks.spawn("health publisher", service::follow_health(health_rx, iface));
    tasks.spawn("photo pruning", prune_periodically(store));
    tasks.spawn("watchdog", secura_kit::systemd::watchdog());
    tracing::info!(backend, device = %device, width = s.width, height = s.height, fps = s.fps, sim, always_on = config.always_on, "serving {CAMERA_NAME}");
    secura_kit::systemd::notify_ready();
    tasks.run_until(shutdown).await?;
    Ok(())
}

async fn prune_periodically(store: storage::Store) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    tick.tick().await;
    loop {
        tick.tick().await;
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.prune(secura_bus::types::now_micros())).await {
            Ok(Ok(p)) if p.expired + p.over_size > 0 => {
                tracing::info!(
                    expired = p.expired,
                    over_size = p.over_size,
                    "old photos pruned"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "pruning event photos failed"),
            Err(e) => tracing::error!(error = %e, "pruning event photos failed"),
        }
    }
}
