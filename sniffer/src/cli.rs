//! The command line: the daemon (no subcommand) and `scan`/`replay`/`probe`, with the order
//! that matters for privilege — capabilities are reduced before the async runtime starts any
//! thread — and the exit codes (0, 1, 2 for an unanswered probe, 78 for a bad configuration).

use crate::{commands, daemon, privilege};
use clap::{Parser, Subcommand};
use secura_bus::cli::{CommonArgs, refuse_root};
use secura_bus::config::{self, ConfigError, Document, MacAddr, PresenceConfig, Skip};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Presence of the owners' phones: passive sniffing and the ARP prober
/// (org.securapicam.Presence1). Needs CAP_NET_RAW (the unit grants it; or
/// `setcap cap_net_raw+ep secura-sniffer`).
#[derive(Debug, Parser)]
#[command(name = "secura-sniffer", version)]
pub struct Cli {
    /// The options every daemon takes.
    #[command(flatten)]
    pub common: CommonArgs,
    /// A one-shot command instead of the daemon.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The one-shot commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the MACs heard on an interface: frames, RSSI, private or not (find your phone).
    Scan {
        /// Interface to listen on (LAN or monitor mode).
        #[arg(long)]
        interface: String,
        /// How long to listen.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// Print the sightings a capture file produces, one JSON object per line.
    Replay {
        /// A pcap file (Ethernet, or 802.11 with or without radiotap).
        file: PathBuf,
        /// Device MACs to look for (default: the devices of the configuration file).
        #[arg(long = "mac", value_name = "MAC", value_parser = mac_arg)]
        macs: Vec<MacAddr>,
        /// Decode every frame, not only those the kernel filter would pass (reports malformed
        /// frames of every station).
        #[arg(long)]
        unfiltered: bool,
    },
    /// Send one ARP probe to each MAC; exit 0 when all answer, 2 when some do not.
    Probe {
        /// The LAN interface.
        #[arg(long)]
        interface: String,
        /// How long to wait for answers.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        timeout: Duration,
        /// The devices to probe.
        #[arg(required = true, value_name = "MAC", value_parser = mac_arg)]
        macs: Vec<MacAddr>,
    },
}

fn mac_arg(s: &str) -> Result<MacAddr, String> {
    MacAddr::parse(s).ok_or_else(|| format!("{s:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"))
}

/// Why the program stops with an error.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The configuration is wrong (exit 78).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Running as root without `--allow-root`.
    #[error("{0}")]
    Root(String),
    /// Capabilities are missing or cannot be dropped.
    #[error(transparent)]
    Privilege(#[from] privilege::PrivilegeError),
    /// A one-shot command failed.
    #[error(transparent)]
    Command(#[from] commands::CommandError),
    /// The daemon failed.
    #[error(transparent)]
    Daemon(#[from] daemon::DaemonError),
    /// Nothing to look for in a replay.
    #[error("no devices to look for: pass --mac or configure [[presence.devices]]")]
    NoDevices,
    /// The async runtime or the output failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        source: std::io::Error,
    },
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Config(_) => ExitCode::from(config::EX_CONFIG),
            _ => ExitCode::FAILURE,
        }
    }
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> CliError {
    move |source| CliError::Io { what, source }
}

type SnifferDoc = Document<Skip, PresenceConfig>;

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(io("starting the async runtime"))
}

/// Run what `cli` asks for.
pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        None => run_daemon(&cli.common),
        Some(Command::Scan { interface, seconds }) => {
            privilege::keep_only(&[privilege::NEEDED])?;
            let scan = commands::scan(&interface, Duration::from_secs(seconds));
            let (seen, counters) = runtime()?.block_on(scan)?;
            commands::print_scan(&mut std::io::stdout().lock(), &seen, &counters)
                .map_err(io("writing the scan"))?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Replay {
            file,
            macs,
            unfiltered,
        }) => run_replay(&cli.common, &file, &macs, unfiltered),
        Some(Command::Probe {
            interface,
            timeout,
            macs,
        }) => {
            privilege::keep_only(&[privilege::NEEDED])?;
            let answers = runtime()?.block_on(commands::probe(&interface, &macs, timeout))?;
            let mut out = std::io::stdout().lock();
            let mut all = true;
            for (mac, ip) in answers {
                let line = match ip {
                    Some(ip) => format!("{mac} answered from {ip}"),
                    None => {
                        all = false;
                        let t = humantime::format_duration(timeout);
                        format!("{mac} did not answer within {t}")
                    }
                };
                writeln!(out, "{line}").map_err(io("writing the answers"))?;
            }
            Ok(if all {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
    }
}

fn run_replay(
    common: &CommonArgs,
    file: &std::path::Path,
    macs: &[MacAddr],
    unfiltered: bool,
) -> Result<ExitCode, CliError> {
    privilege::keep_only(&[])?;
    let (devices, interval) = if macs.is_empty() {
        let doc: SnifferDoc = config::load(&common.config)?;
        (
            doc.presence.devices,
            doc.presence.sighting_interval.micros(),
        )
    } else {
        let devices = macs
            .iter()
            .map(|mac| config::DeviceConfig {
                name: mac.to_string(),
                mac: *mac,
            })
            .collect();
        (
            devices,
            PresenceConfig::default().sighting_interval.micros(),
        )
    };
    if devices.is_empty() {
        return Err(CliError::NoDevices);
    }
    let mut out = std::io::stdout().lock();
    let summary = commands::replay_to(&mut out, file, &devices, interval, unfiltered)?;
    out.flush().map_err(io("writing the sightings"))?;
    if let Some(cut) = &summary.cut {
        eprintln!(
            "warning: {} ends in a record cut short ({cut})",
            file.display()
        );
    }
    let c = summary.counters;
    eprintln!(
        "{} frames, {} malformed, {} from the devices, {} sightings",
        c.frames, c.malformed, c.matched, summary.sightings
    );
    Ok(ExitCode::SUCCESS)
}

fn run_daemon(common: &CommonArgs) -> Result<ExitCode, CliError> {
    let doc: SnifferDoc = config::load(&common.config)?;
    let cfg = doc.presence;
    if common.check_config {
        #[derive(serde::Serialize)]
        struct Effective<'a> {
            presence: &'a PresenceConfig,
        }
        let text = toml::to_string(&Effective { presence: &cfg }).map_err(|e| CliError::Io {
            what: "printing the configuration",
            source: std::io::Error::other(e),
        })?;
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    refuse_root("sniffer", common.allow_root).map_err(CliError::Root)?;
    for w in cfg.warnings() {
        tracing::warn!("{w}");
    }
    // Before any thread exists, so that every thread starts with the reduced set.
    let keep: &[_] = if common.sim {
        &[]
    } else {
        &[privilege::NEEDED]
    };
    privilege::keep_only(keep)?;
    tracing::info!(capabilities = ?privilege::effective(), "privileges dropped");
    // The signal handlers are installed inside the runtime, before the name is owned.
    runtime()?.block_on(async {
        daemon::run(cfg, common.sim, secura_bus::cli::shutdown_signal()).await
    })?;
    Ok(ExitCode::SUCCESS)
}
