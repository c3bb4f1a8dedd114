//! secura-botd: arguments, logging, configuration, then the library's `run`.

use anyhow::Context;
use clap::Parser;
use secura_bus::cli::{CommonArgs, init_logging, refuse_root, state_dir};
use secura_bus::config::{self, Document, EX_CONFIG, Skip, TelegramConfig};
use std::process::ExitCode;

/// The Telegram bot of Secura-Pi-Cam.
#[derive(Debug, Parser)]
#[command(name = "secura-botd", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

type Doc = Document<Skip, Skip, Skip, Skip, TelegramConfig>;

fn main() -> ExitCode {
    let args = Args::parse();
    let c = &args.common;
    init_logging("botd", c.debug);
    let doc: Doc = match config::load(&c.config) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    let cfg = doc.telegram;
    if c.check_config {
        return match toml::to_string(&cfg) {
            Ok(text) => {
                println!("[telegram]\n{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cannot print the configuration: {e}");
                ExitCode::from(EX_CONFIG)
            }
        };
    }
    // After --check-config, which validates only and may run as root (e.g. in packaging).
    if let Err(msg) = refuse_root("botd", c.allow_root) {
        eprintln!("{msg}");
        return ExitCode::from(secura_bus::cli::EX_NOPERM);
    }
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(std::path::PathBuf::from);
    let token = match secura_botd::token::load(credentials.as_deref(), &cfg.token_file) {
        Ok(t) => t,
        Err(e) if c.sim => {
            tracing::warn!(error = %e, "--sim without a token: using a placeholder only a stand-in accepts");
            match secura_botd::token::Token::parse(secura_botd::token::SIM_TOKEN) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(1);
                }
            }
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    let opts = secura_botd::Options {
        config: cfg,
        token,
        state_dir: state_dir("botd"),
    };
    match serve(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "secura-botd failed");
            eprintln!("secura-botd: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn serve(opts: secura_botd::Options) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        secura_botd::run(opts, shutdown).await.context("running")
    })
}
