//! What every daemon's `main` shares: the common options (DESIGN §6), where state lives, the
//! refusal to run as root, and logging to the journal (or to stdout with `--debug`).

use std::path::PathBuf;

/// sysexits.h EX_NOPERM: refused to run as root.
pub const EX_NOPERM: u8 = 77;

/// Catch SIGTERM (systemd stop) and SIGINT (Ctrl-C) from now on; the future resolves when
/// one arrives. Call it inside the runtime and before owning the bus name, so that a stop
/// right after start-up is a clean stop rather than the signal's default action.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    let installed = crate::systemd::Signals::install();
    async move {
        match installed {
            Ok(mut signals) => {
                let name = signals.wait().await;
                tracing::info!(signal = name, "stopping");
            }
            // Without handlers the default action (exit) still stops the daemon.
            Err(_) => std::future::pending::<()>().await,
        }
    }
}

/// Options every daemon takes.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Configuration file.
    #[arg(long, value_name = "PATH", default_value = crate::config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Use the simulated backend and serve org.securapicam.Simulator1.
    #[arg(long)]
    pub sim: bool,
    /// Run even as root (for the demo; the units use dedicated users).
    #[arg(long)]
    pub allow_root: bool,
    /// Log at debug level to stdout instead of the journal.
    #[arg(short, long)]
    pub debug: bool,
    /// Validate the configuration, print the effective section and exit (0, or 78 if invalid).
    #[arg(long)]
    pub check_config: bool,
}

/// The daemon's state directory: `$STATE_DIRECTORY` (systemd's `StateDirectory=`; the first
/// of a colon-separated list), else `/var/lib/secura-<daemon>`.
pub fn state_dir(daemon: &str) -> PathBuf {
    match std::env::var_os("STATE_DIRECTORY") {
        Some(v) if !v.is_empty() => {
            let s = v.to_string_lossy().into_owned();
            PathBuf::from(s.split(':').next().unwrap_or(&s))
        }
        _ => PathBuf::from(format!("/var/lib/secura-{daemon}")),
    }
}

/// `Err` with a message when running as root without `--allow-root`.
pub fn refuse_root(daemon: &str, allow_root: bool) -> Result<(), String> {
    if nix::unistd::geteuid().is_root() && !allow_root {
        return Err(format!(
            "secura-{daemon} refuses to run as root: run it as the secura-{daemon} user (as \
             its systemd unit does), or pass --allow-root for a demo"
        ));
    }
    Ok(())
}

/// Send logs to the journal when it is there (as under systemd), else to stderr; `debug`
/// sends everything from debug level up to stdout. `RUST_LOG` overrides the level.
pub fn init_logging(daemon: &str, debug: bool) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;

    let default = if debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    if debug {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stdout)
            .try_init();
        return;
    }
    let under_journal =
        std::env::var_os("JOURNAL_STREAM").is_some() || std::env::var_os("INVOCATION_ID").is_some();
    if under_journal && let Ok(layer) = tracing_journald::layer() {
        let layer = layer.with_syslog_identifier(format!("secura-{daemon}"));
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(layer)
            .try_init();
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_dir_defaults_per_daemon() {
        // Only meaningful when not started by systemd with a state directory.
        if std::env::var_os("STATE_DIRECTORY").is_none() {
            assert_eq!(state_dir("alarmd"), PathBuf::from("/var/lib/secura-alarmd"));
        }
    }
}
