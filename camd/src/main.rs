//! secura-camd: arguments, logging, configuration, then the library's `run`.

use clap::Parser;
use secura_bus::cli::{CommonArgs, EX_NOPERM, init_logging, refuse_root};
use secura_bus::config::{self, CameraConfig, Document, EX_CONFIG, Skip};
use std::process::ExitCode;

/// The camera of Secura-Pi-Cam (org.securapicam.Camera on the system bus).
#[derive(Debug, Parser)]
#[command(name = "secura-camd", version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(serde::Serialize)]
struct Effective<'a> {
    camera: &'a CameraConfig,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging("camd", args.common.debug);
    let doc: Document<Skip, Skip, Skip, CameraConfig> = match config::load(&args.common.config) {
        Ok(doc) => doc,
        Err(e) => {
            eprintln!("secura-camd: {e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    if args.common.check_config {
        return match toml::to_string(&Effective {
            camera: &doc.camera,
        }) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("secura-camd: cannot print the configuration: {e}");
                ExitCode::from(EX_CONFIG)
            }
        };
    }
    // After --check-config, so an operator may validate the file as root.
    if let Err(message) = refuse_root("camd", args.common.allow_root) {
        eprintln!("secura-camd: {message}");
        return ExitCode::from(EX_NOPERM);
    }
    match run(&doc.camera, args.common.sim) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, e)) => {
            // stderr reaches the journal under systemd, and the person at a terminal otherwise.
            eprintln!("secura-camd: {e:#}");
            ExitCode::from(code)
        }
    }
}

fn run(config: &CameraConfig, sim: bool) -> Result<(), (u8, anyhow::Error)> {
    let state_dir = secura_bus::cli::state_dir("camd");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            (
                1,
                anyhow::Error::new(e).context("cannot start the async runtime"),
            )
        })?;
    runtime
        .block_on(secura_camd::run(config, sim, &state_dir))
        .map_err(|e| (e.exit_code(), anyhow::Error::new(e)))
}
