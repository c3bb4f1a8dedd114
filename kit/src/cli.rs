//! The options every daemon takes (global, so they may stand before or after a subcommand),
//! where its state lives, and the refusal to run as root.

use std::path::PathBuf;

/// Options every daemon takes.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Configuration file.
    #[arg(long, global = true, value_name = "PATH", default_value = secura_bus::config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Run even as root (for the demo; the units use dedicated users).
    #[arg(long, global = true)]
    pub allow_root: bool,
    /// Log at debug level to stdout instead of the journal.
    #[arg(short, long, global = true)]
    pub debug: bool,
    /// Validate the whole configuration file, print this daemon's effective sections and exit
    /// (0, or 78 if anything in the file is wrong).
    #[arg(long, global = true)]
    pub check_config: bool,
}

/// `--sim`, offered by the daemons that have simulated hardware.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct SimArgs {
    /// Use the simulated backend and serve org.securapicam.Simulator1 (demo and tests).
    #[arg(long, global = true)]
    pub sim: bool,
}

/// The daemon's state directory: `$STATE_DIRECTORY` (systemd's `StateDirectory=`; the first
/// of a colon-separated list), else `/var/lib/secura-<daemon>`.
pub fn state_dir(short: &str) -> PathBuf {
    match std::env::var_os("STATE_DIRECTORY") {
        Some(v) if !v.is_empty() => {
            let s = v.to_string_lossy().into_owned();
            PathBuf::from(s.split(':').next().unwrap_or(&s))
        }
        _ => PathBuf::from(format!("/var/lib/secura-{short}")),
    }
}

/// Whether any of the real and effective user and group ids is root's (a set-uid or set-gid
/// root binary counts as root too).
pub fn is_root() -> bool {
    use nix::unistd::{getegid, geteuid, getgid, getuid};
    getuid().is_root() || geteuid().is_root() || getgid().as_raw() == 0 || getegid().as_raw() == 0
}

/// `Err` with a message when running as root without `--allow-root`.
pub fn refuse_root(binary: &str, allow_root: bool) -> Result<(), String> {
    if is_root() && !allow_root {
        return Err(format!(
            "refuses to run as root: run it as the {binary} user (as its systemd unit \
             does), or pass --allow-root for a demo"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Args {
        #[command(flatten)]
        common: CommonArgs,
        #[command(subcommand)]
        command: Option<Cmd>,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Cmd {
        Replay { file: PathBuf },
    }

    #[test]
    fn common_options_may_follow_a_subcommand() {
        let a =
            Args::try_parse_from(["x", "replay", "f.pcap", "--config", "c.toml", "-d"]).unwrap();
        assert_eq!(a.common.config, PathBuf::from("c.toml"));
        assert!(a.common.debug);
        let b = Args::try_parse_from(["x", "--config", "c.toml", "replay", "f.pcap"]).unwrap();
        assert_eq!(b.common.config, PathBuf::from("c.toml"));
        assert!(matches!(b.command, Some(Cmd::Replay { .. })));
    }

    #[test]
    fn state_dir_defaults_per_daemon() {
        if std::env::var_os("STATE_DIRECTORY").is_none() {
            assert_eq!(state_dir("alarmd"), PathBuf::from("/var/lib/secura-alarmd"));
        }
    }
}
