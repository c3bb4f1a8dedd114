//! The command line: the daemon (no subcommand, run by the kit as [`Sniffer`]) and
//! `scan`/`replay`/`probe`, with the order that matters for privilege — capabilities are
//! reduced before the async runtime starts any thread — and the exit codes (0, 1, 2 for an
//! unanswered probe, 77 without CAP_NET_RAW or as root, 78 for a bad configuration).

use crate::{commands, daemon, privilege};
use clap::{Parser, Subcommand};
use secura_bus::config::{self, ConfigError, Document, MacAddr, PresenceConfig, Skip};
use secura_bus::names::Service;
use secura_kit::cli::{CommonArgs, SimArgs};
use secura_kit::{Context, Exit};
use std::future::Future;
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
    /// `--sim`.
    #[command(flatten)]
    pub sim: SimArgs,
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

impl From<CliError> for Exit {
    fn from(e: CliError) -> Exit {
        match e {
            CliError::Config(_) => Exit::Config,
            // Without CAP_NET_RAW, or unable to shed the others: a restart cannot fix either.
            CliError::Privilege(_) => Exit::NoPermission,
            CliError::Command(_)
            | CliError::Daemon(_)
            | CliError::NoDevices
            | CliError::Io { .. } => Exit::Failure,
        }
    }
}

/// The presence daemon, its capabilities already reduced.
#[derive(Debug)]
pub struct Sniffer {
    config: PresenceConfig,
}

impl secura_kit::Daemon for Sniffer {
    const SERVICE: Service = Service::Presence;
    const EXITS: &'static [Exit] = &[Exit::Done, Exit::Failure, Exit::NoPermission, Exit::Config];
    const SIM: bool = true;
    const WORKERS: usize = 2;
    const ABOUT: &'static str = "Presence of the owners' phones: passive sniffing and the ARP \
                                 prober (org.securapicam.Presence1).";
    type Config = SnifferDoc;
    type Error = CliError;

    fn effective(config: &SnifferDoc) -> Result<String, toml::ser::Error> {
        secura_kit::daemon::section("presence", &config.presence)
    }

    fn prepare(config: SnifferDoc, ctx: &Context) -> Result<Sniffer, CliError> {
        let cfg = config.presence;
        for w in cfg.warnings() {
            tracing::warn!("{w}");
        }
        // Before any thread exists, so that every thread starts with the reduced set.
        let keep: &[_] = if ctx.sim { &[] } else { &[privilege::NEEDED] };
        privilege::keep_only(keep)?;
        tracing::info!(capabilities = ?privilege::effective(), "privileges dropped");
        Ok(Sniffer { config: cfg })
    }

    async fn run(
        self,
        ctx: Context,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), CliError> {
        Ok(daemon::run(self.config, ctx.sim, shutdown).await?)
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

/// Run what `cli` asks for: the daemon, or a one-shot command.
pub fn run(cli: Cli) -> ExitCode {
    let Some(command) = cli.command else {
        return secura_kit::daemon::serve::<Sniffer>(&cli.common, cli.sim.sim);
    };
    secura_kit::log::init(cli.common.debug);
    secura_kit::daemon::finish(
        Service::Presence.binary(),
        run_command(&cli.common, command),
    )
}

/// A one-shot command.
fn run_command(common: &CommonArgs, command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Scan { interface, seconds } => {
            privilege::keep_only(&[privilege::NEEDED])?;
            let scan = commands::scan(&interface, Duration::from_secs(seconds));
            let (seen, counters) = runtime()?.block_on(scan)?;
            commands::print_scan(&mut std::io::stdout().lock(), &seen, &counters)
                .map_err(io("writing the scan"))?;
            Ok(Exit::Done.into())
        }
        Command::Replay {
            file,
            macs,
            unfiltered,
        } => run_replay(common, &file, &macs, unfiltered),
        Command::Probe {
            interface,
            timeout,
            macs,
        } => {
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
            // 2, like ping(8): the command worked, some device did not answer.
            Ok(if all {
                Exit::Done.into()
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
    Ok(Exit::Done.into())
}
