//! The `main` of every daemon: options, logging, configuration (`--check-config`), the refusal
//! to run as root, the runtime, the stop signals, and the exit code — in that order, once.
//!
//! A daemon implements [`Daemon`] in its library; its `main.rs` is `secura_kit::daemon::main::<X>()`.

use crate::cli::{CommonArgs, SimArgs, refuse_root, state_dir};
use crate::exit::Exit;
use crate::systemd::Signals;
use secura_bus::config::{self, Validate};
use secura_bus::names::Service;
use serde::Deserialize;
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

/// What the kit needs to know of a daemon.
pub trait Daemon: Sized {
    /// Which daemon this is.
    const SERVICE: Service;
    /// Every code it can exit with; its unit's `RestartPreventExitStatus=` must list exactly
    /// those of them that [`Exit::no_restart`] (a test checks).
    const EXITS: &'static [Exit];
    /// Whether it takes `--sim`.
    const SIM: bool;
    /// Worker threads of its runtime; 0 for a single-threaded one.
    const WORKERS: usize = 0;
    /// One line for `--help`.
    const ABOUT: &'static str;

    /// The sections of the configuration file it reads.
    type Config: for<'de> Deserialize<'de> + Validate;
    /// Why it stops with an error, and so with which exit code.
    type Error: std::error::Error + Into<Exit>;

    /// Its sections as `--check-config` prints them (TOML).
    fn effective(config: &Self::Config) -> Result<String, toml::ser::Error>;

    /// What must happen while this is the only thread, before the runtime exists (drop
    /// capabilities, read secrets, log warnings about the configuration).
    fn prepare(config: Self::Config, ctx: &Context) -> Result<Self, Self::Error>;

    /// Serve until `shutdown` resolves (SIGTERM or SIGINT); called inside the runtime, with
    /// the signal handlers already installed.
    fn run(
        self,
        ctx: Context,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = Result<(), Self::Error>>;
}

/// What every daemon is started with.
#[derive(Debug, Clone)]
pub struct Context {
    /// `--sim`: simulated hardware and `Simulator1`.
    pub sim: bool,
    /// `-d`: debug logging to stdout.
    pub debug: bool,
    /// Where it keeps its files.
    pub state_dir: PathBuf,
    /// The configuration file.
    pub config_path: PathBuf,
}

/// Parse the options (`--sim` only where [`Daemon::SIM`]) and serve. The whole `main`.
pub fn main<D: Daemon>() -> ExitCode {
    use clap::{Args, FromArgMatches};
    let service = D::SERVICE;
    let mut cmd = clap::Command::new(service.binary())
        .version(env!("CARGO_PKG_VERSION"))
        .about(D::ABOUT);
    cmd = CommonArgs::augment_args(cmd);
    if D::SIM {
        cmd = SimArgs::augment_args(cmd);
    }
    let matches = cmd.get_matches();
    let common = match CommonArgs::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let sim = D::SIM && SimArgs::from_arg_matches(&matches).is_ok_and(|s| s.sim);
    serve::<D>(&common, sim)
}

/// Everything after the options: for daemons with commands of their own (the sniffer's
/// `scan`, `replay`, `probe`), which parse their options themselves.
pub fn serve<D: Daemon>(common: &CommonArgs, sim: bool) -> ExitCode {
    let binary = D::SERVICE.binary();
    crate::log::init(common.debug);
    if common.check_config {
        return check_config::<D>(common).into();
    }
    let config: D::Config = match config::load(&common.config) {
        Ok(c) => c,
        Err(e) => return fail(binary, &e, Exit::Config),
    };
    if let Err(message) = refuse_root(binary, common.allow_root) {
        return fail(binary, &message, Exit::NoPermission);
    }
    let ctx = Context {
        sim,
        debug: common.debug,
        state_dir: state_dir(D::SERVICE.short()),
        config_path: common.config.clone(),
    };
    let daemon = match D::prepare(config, &ctx) {
        Ok(d) => d,
        Err(e) => return failed::<D>(e),
    };
    let runtime = if D::WORKERS == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(D::WORKERS)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            return fail(
                binary,
                &format!("cannot start the runtime: {e}"),
                Exit::Failure,
            );
        }
    };
    let result = runtime.block_on(async {
        // Before the name is owned, so that a stop right after start-up is a clean one.
        let signals = match Signals::install() {
            Ok(s) => s,
            Err(e) => return Err(Err(format!("cannot install the signal handlers: {e}"))),
        };
        daemon.run(ctx, signals.shutdown()).await.map_err(Ok)
    });
    match result {
        Ok(()) => Exit::Done.into(),
        Err(Ok(e)) => failed::<D>(e),
        Err(Err(message)) => fail(binary, &message, Exit::Failure),
    }
}

/// `--check-config`: the whole file (every section, so a typo anywhere is caught) and what it
/// names (token file, interfaces, devices: [`cross_check`]), then this daemon's sections
/// printed. Warnings go to stderr and leave the exit code 0; a problem exits 78.
///
/// [`cross_check`]: secura_bus::config::checks::cross_check
fn check_config<D: Daemon>(common: &CommonArgs) -> Exit {
    use secura_bus::config::checks::{Host, Severity, cross_check};
    let binary = D::SERVICE.binary();
    let whole = match config::load::<config::Whole>(&common.config) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{binary}: {e}");
            return Exit::Config;
        }
    };
    let found = cross_check(&whole, &Host::this());
    for f in &found {
        let level = match f.severity {
            Severity::Problem => "problem",
            Severity::Warning => "warning",
        };
        eprintln!("{binary}: {}: {level}: {}", common.config.display(), f.text);
    }
    let problems = found
        .iter()
        .filter(|f| f.severity == Severity::Problem)
        .count();
    if problems > 0 {
        eprintln!(
            "{binary}: {}: {problems} problem(s) to fix before the system can run",
            common.config.display()
        );
        return Exit::Config;
    }
    let mine: D::Config = match config::load(&common.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{binary}: {e}");
            return Exit::Config;
        }
    };
    match D::effective(&mine) {
        Ok(text) => {
            print!("{text}");
            Exit::Done
        }
        Err(e) => {
            eprintln!("{binary}: cannot print the configuration: {e}");
            Exit::Config
        }
    }
}

/// One section as `--check-config` prints it: `[name]` and its keys.
pub fn section<T: serde::Serialize>(name: &str, value: &T) -> Result<String, toml::ser::Error> {
    let mut table = toml::Table::new();
    table.insert(name.to_string(), toml::Value::try_from(value)?);
    toml::to_string(&table)
}

/// A daemon's error: its whole chain on stderr (the journal under systemd, the person at a
/// terminal otherwise) and in the log, then its exit code.
fn failed<D: Daemon>(e: D::Error) -> ExitCode {
    let text = chain(&e);
    tracing::error!("stopped: {text}");
    eprintln!("{}: {text}", D::SERVICE.binary());
    let exit: Exit = e.into();
    exit.into()
}

fn fail(binary: &str, message: &dyn std::fmt::Display, exit: Exit) -> ExitCode {
    eprintln!("{binary}: {message}");
    exit.into()
}

/// `error: cause: cause`, skipping a cause whose text the message already ends with.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// The exit code of a one-shot command: `Ok(code)`, or its error on stderr with its code.
pub fn finish<T, E>(binary: &str, result: Result<T, E>) -> ExitCode
where
    T: Into<ExitCode>,
    E: std::error::Error + Into<Exit>,
{
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            eprintln!("{binary}: {}", chain(&e));
            let exit: Exit = e.into();
            exit.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::chain;

    #[derive(Debug, thiserror::Error)]
    #[error("reading the state file")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_names_every_cause_once() {
        let e = Outer(std::io::Error::other("disk full"));
        assert_eq!(chain(&e), "reading the state file: disk full");
    }
}
