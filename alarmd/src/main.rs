//! secura-alarmd: arguments, logging, configuration; the rest is in the library.

use clap::Parser;
use secura_alarmd::daemon::{self, Config};
use secura_bus::{cli, config};
use std::process::ExitCode;

/// The Secura-Pi-Cam alarm: state machine, history, and the org.securapicam.Alarm1 service.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    common: cli::CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::init_logging("alarmd", args.common.debug);
    let doc: Config = match config::load(&args.common.config) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("secura-alarmd: {e}");
            tracing::error!(error = %e, "invalid configuration");
            return ExitCode::from(config::EX_CONFIG);
        }
    };
    if args.common.check_config {
        return match daemon::effective(&doc) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("secura-alarmd: {e}");
                ExitCode::from(config::EX_CONFIG)
            }
        };
    }
    if let Err(msg) = cli::refuse_root("alarmd", args.common.allow_root) {
        eprintln!("secura-alarmd: {msg}");
        return ExitCode::from(cli::EX_NOPERM);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("secura-alarmd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let state_dir = cli::state_dir("alarmd");
    let run = async { daemon::run(doc, &state_dir, cli::shutdown_signal()).await };
    match runtime.block_on(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("secura-alarmd: {e:#}");
            tracing::error!(error = format!("{e:#}"), "stopped");
            ExitCode::FAILURE
        }
    }
}
