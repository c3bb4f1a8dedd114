//! secura-sensord: arguments, logging, configuration, then the library's `run`.

use clap::Parser;
use secura_bus::cli::{CommonArgs, EX_NOPERM, init_logging, refuse_root};
use secura_bus::config::{self, Document, EX_CONFIG, SensorConfig, Skip};
use std::process::ExitCode;

/// The PIR motion sensor of Secura-Pi-Cam (org.securapicam.Sensor on the system bus).
#[derive(Debug, Parser)]
#[command(name = "secura-sensord", version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(serde::Serialize)]
struct Effective<'a> {
    sensor: &'a SensorConfig,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging("sensord", args.common.debug);
    let doc: Document<Skip, Skip, SensorConfig> = match config::load(&args.common.config) {
        Ok(doc) => doc,
        Err(e) => {
            eprintln!("secura-sensord: {e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    if args.common.check_config {
        return match toml::to_string(&Effective {
            sensor: &doc.sensor,
        }) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("secura-sensord: cannot print the configuration: {e}");
                ExitCode::from(EX_CONFIG)
            }
        };
    }
    // After --check-config, so an operator may validate the file as root.
    if let Err(message) = refuse_root("sensord", args.common.allow_root) {
        eprintln!("secura-sensord: {message}");
        return ExitCode::from(EX_NOPERM);
    }
    match run(&doc.sensor, args.common.sim) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, e)) => {
            // stderr reaches the journal under systemd, and the person at a terminal otherwise.
            eprintln!("secura-sensord: {e:#}");
            ExitCode::from(code)
        }
    }
}

fn run(config: &SensorConfig, sim: bool) -> Result<(), (u8, anyhow::Error)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            (
                1,
                anyhow::Error::new(e).context("cannot start the async runtime"),
            )
        })?;
    runtime
        .block_on(secura_sensord::run(config, sim))
        .map_err(|e| (e.exit_code(), anyhow::Error::new(e)))
}
