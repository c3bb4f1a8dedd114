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
use secura_bus::config::{SensorBackend, SensorConfig};
use secura_bus::names::{SENSOR_NAME, SENSOR_PATH};

/// sysexits.h EX_UNAVAILABLE: the configured hardware does not exist on this machine.
pub const EX_UNAVAILABLE: u8 = 69;

/// Why the daemon stopped.
#[derive(Debug, thiserror::Error)]
pub enum SensordError {
    /// The GPIO backend cannot work on this machine.
    #[error("{0}")]
    Unavailable(InputError),
    /// The bus refused the connection, the object or the name.
    #[error("cannot serve {SENSOR_NAME} on the system bus: {0}")]
    Bus(#[from] zbus::Error),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

impl SensordError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            SensordError::Unavailable(_) => EX_UNAVAILABLE,
            SensordError::Bus(_) | SensordError::Signals(_) => 1,
        }
    }
}

/// Serve the sensor until SIGTERM/SIGINT. `sim` selects the simulated input and serves
/// `Simulator1`; otherwise the configured backend is used (a `sim` backend then has no
/// simulator: nothing moves).
pub async fn run(config: &SensorConfig, sim: bool) -> Result<(), SensordError> {
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
    let mut signals = secura_bus::systemd::Signals::install().map_err(SensordError::Signals)?;

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
    secura_bus::systemd::notify_ready();
    secura_bus::systemd::spawn_watchdog();

    let timing = core::Timing {
        debounce: config.debounce.get(),
        warmup: config.warmup.get(),
    };
    tokio::select! {
        () = core::run(input, first, timing, service::Publisher::new(iface)) => {}
        sig = signals.wait() => tracing::info!(signal = sig, "stopping"),
    }
    Ok(())
}
