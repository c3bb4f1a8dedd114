//! secura-mqttd: arguments, logging, configuration, secrets; the rest is in the library.

use clap::Parser;
use secura_bus::{cli, config};
use secura_mqttd::{Config, SetupError};
use std::process::ExitCode;

/// The Secura-Pi-Cam MQTT bridge: Home Assistant discovery and commands.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    common: cli::CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::init_logging("mqttd", args.common.debug);
    let doc: Config = match config::load(&args.common.config) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("secura-mqttd: {e}");
            tracing::error!(error = %e, "invalid configuration");
            return ExitCode::from(config::EX_CONFIG);
        }
    };
    let Some(mqtt) = doc.mqtt.clone() else {
        // Not an error: the package installs mqttd everywhere, MQTT is opt-in.
        println!("secura-mqttd: no [mqtt] section in the configuration: MQTT is off");
        tracing::info!("no [mqtt] section in the configuration: MQTT is off, exiting");
        // Ready, then done: a Type=notify unit ends inactive rather than failed.
        secura_bus::systemd::notify_ready();
        return ExitCode::SUCCESS;
    };
    if args.common.check_config {
        return match secura_mqttd::effective(&mqtt) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("secura-mqttd: {e}");
                ExitCode::from(config::EX_CONFIG)
            }
        };
    }
    if let Err(msg) = cli::refuse_root("mqttd", args.common.allow_root) {
        eprintln!("secura-mqttd: {msg}");
        return ExitCode::from(cli::EX_NOPERM);
    }
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(std::path::PathBuf::from);
    let opts = match secura_mqttd::options(&doc, mqtt, credentials.as_deref()) {
        Ok(o) => o,
        Err(SetupError::Config(e)) => {
            eprintln!("secura-mqttd: {e}");
            tracing::error!(error = %e, "invalid configuration");
            return ExitCode::from(config::EX_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("secura-mqttd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let run = async { secura_mqttd::run(opts, cli::shutdown_signal()).await };
    match runtime.block_on(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("secura-mqttd: {e:#}");
            tracing::error!(error = format!("{e:#}"), "stopped");
            ExitCode::FAILURE
        }
    }
}
