//! secura-sensord: the PIR motion sensor (DESIGN §2–§3).
//!
//! A [`input::MotionInput`] backend (GPIO through rppal, or simulated) reports raw levels;
//! [`debounce`] turns them into motion starts and ends; [`core`] publishes them as
//! `org.securapicam.Sensor1` signals and properties ([`service`]) and reopens a failed input
//! with backoff.

pub mod core;
pub mod debounce;
pub mod input;
pub mod service;

use input::{InputError, MotionInput};
use secura_bus::config::{Document, SensorBackend, SensorConfig, Skip};
use secura_bus::names::{SENSOR_NAME, SENSOR_PATH, Service};
use secura_kit::{Context, Exit, Tasks};
use std::future::Future;

/// Why the daemon stopped.
#[derive(Debug, thiserror::Error)]
pub enum SensordError {
    /// The GPIO backend cannot work on this machine.
    #[error("{0}")]
    Unavailable(InputError),
    /// The bus refused the connection, the object or the name.
    #[error("cannot serve {SENSOR_NAME} on the system bus: {0}")]
    Bus(#[from] zbus::Error),
    /// A task that runs for the daemon's whole life ended.
    #[error(transparent)]
    Task(#[from] secura_kit::tasks::TaskEnded),
}

impl From<SensordError> for Exit {
    fn from(e: SensordError) -> Exit {
        match e {
            SensordError::Unavailable(_) => Exit::Unavailable,
            SensordError::Bus(_) | SensordError::Task(_) => Exit::Failure,
        }
    }
}

/// The sections sensord reads.
pub type Config = Document<Skip, Skip, SensorConfig>;

/// sensord, ready to run.
#[derive(Debug)]
pub struct Sensord {
    config: SensorConfig,
}

impl secura_kit::Daemon for Sensord {
    const SERVICE: Service = Service::Sensor;
    const EXITS: &'static [Exit] = &[
        Exit::Done,
        Exit::Failure,
        Exit::Unavailable,
        Exit::NoPermission,
        Exit::Config,
    ];
    const SIM: bool = true;
    const ABOUT: &'static str =
        "The PIR motion sensor of Secura-Pi-Cam (org.securapicam.Sensor on the system bus).";
    type Config = Config;
    type Error = SensordError;

    fn effective(config: &Config) -> Result<String, toml::ser::Error> {
        secura_kit::daemon::section("sensor", &config.sensor)
    }

    fn prepare(config: Config, _: &Context) -> Result<Sensord, SensordError> {
        Ok(Sensord {
            config: config.sensor,
        })
    }

    async fn run(
        self,
        ctx: Context,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), SensordError> {
        run(&self.config, ctx.sim, shutdown).await
    }
}

/// Serve the sensor until `shutdown` resolves. `sim` selects the simulated input and serves
/// `Simulator1`; otherwise the configured backend is used (a `sim` backend then has no
/// simulator: nothing moves).
pub async fn run(
    config: &SensorConfig,
    sim: bool,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SensordError> {
    let mut simulator = None;
    let mut input: Box<dyn MotionInput> = if sim || config.backend == SensorBackend::Sim {
        let s = input::sim::SimInput::new();
        if sim {
            simulator = Some(service::Simulator::new(s.control()));
        }
        Box::new(s)
    } else {
        Box::new(input::gpio::GpioInput::new(config.pin.get(), config.pull))
    };
    let first = match input.open() {
        Err(e) if e.is_permanent() => return Err(SensordError::Unavailable(e)),
        other => other,
    };
    let mut builder = zbus::connection::Builder::system()
        .serve_at(SENSOR_PATH, service::Sensor::new(input.backend()));
    if let Some(s) = simulator {
        builder = builder.serve_at(SENSOR_PATH, s);
    }
    let conn = builder.name(SENSOR_NAME).build().await?;
    let iface = conn
        .object_server()
        .interface::<_, service::Sensor>(SENSOR_PATH)
        .await?;
    tracing::info!(
        backend = input.backend(),
        pin = config.pin.get(),
        sim,
        "serving {SENSOR_NAME}"
    );
    secura_kit::systemd::notify_ready();

    let timing = core::Timing {
        debounce: config.debounce.get(),
        warmup: config.warmup.get(),
    };
    let mut tasks = Tasks::new();
    let publisher = service::Publisher::new(iface);
    tasks.spawn("motion input", core::run(input, first, timing, publisher));
    tasks.spawn("watchdog", secura_kit::systemd::watchdog());
    tasks.run_until(shutdown).await?;
    Ok(())
}
