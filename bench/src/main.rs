//! `secura-bench` (`make bench`): the figures of the README — sniffer pipeline throughput
//! against a bare libpcap read, alert, presence and MQTT latency across the release daemons,
//! their idle footprint, and the install size — printed as a table (min / median / p99 / max
//! over repeated runs, with the machine) and written to `target/bench/results.md`.
//!
//! Figures are measured here and only here: tests never assert timings.

mod alert;
mod capgen;
mod footprint;
mod machine;
mod mqtt;
mod presence;
mod procfs;
mod report;
mod size;
mod snapshot;
mod stats;
mod system;
mod throughput;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use report::{Row, Section};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// A part of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    /// Sniffer pipeline throughput.
    Sniffer,
    /// Idle footprint of the five daemons.
    Footprint,
    /// Alert latency.
    Alert,
    /// Presence latency (root).
    Presence,
    /// Alarm state → MQTT state topic latency (needs mosquitto).
    Mqtt,
    /// Install size.
    Size,
}

/// Measure Secura-Pi-Cam. Build first: `cargo build --release -p secura-bench` and the
/// daemons (`make bench` does both, and the arm64 package).
#[derive(Debug, Parser)]
#[command(name = "secura-bench", version)]
struct Args {
    /// Where the Markdown table is written.
    #[arg(long, default_value = "target/bench/results.md")]
    out: PathBuf,
    /// Scratch directory (the generated capture goes here).
    #[arg(long, default_value = "target/bench")]
    work: PathBuf,
    /// Cargo target directory holding the release daemons and target/debian (default: the
    /// one this binary was built into).
    #[arg(long)]
    target_dir: Option<PathBuf>,
    /// Frames in the generated capture.
    #[arg(long, default_value_t = 1_000_000)]
    frames: usize,
    /// Rounds of the throughput benchmark.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Motion events for the alert latency.
    #[arg(long, default_value_t = 200)]
    events: usize,
    /// Alarm state changes for the MQTT latency.
    #[arg(long, default_value_t = 200)]
    changes: usize,
    /// Phone arrivals for the presence latency.
    #[arg(long, default_value_t = 25)]
    arrivals: usize,
    /// Idle windows for the footprint.
    #[arg(long, default_value_t = 6)]
    windows: usize,
    /// Snapshots timed with the camera off (disarmed).
    #[arg(long, default_value_t = 50)]
    snapshots: usize,
    /// Length of one idle window, seconds.
    #[arg(long, default_value_t = 10)]
    window_secs: u64,
    /// Run only these parts (comma-separated); all by default.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Part>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("secura-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The release directory's parent: `target/release/secura-bench` → `target`.
fn default_target_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    exe.parent()
        .and_then(|d| d.parent())
        .map(PathBuf::from)
        .context("cannot tell the target directory from this binary's path")
}

/// Everything; `Ok(false)` when a part failed (its row says why).
fn run(args: &Args) -> Result<bool> {
    let want = |p: Part| args.only.is_empty() || args.only.contains(&p);
    let target = match &args.target_dir {
        Some(t) => t.clone(),
        None => default_target_dir()?,
    };
    std::fs::create_dir_all(&args.work)
        .with_context(|| format!("creating {}", args.work.display()))?;
    let machine = machine::Machine::describe();
    let load_start = machine::load_average();
    eprintln!("secura-bench on {}", machine.line());
    let mut sections = Vec::new();
    let mut ok = true;
    let mut failed = |title: &str, e: anyhow::Error| {
        eprintln!("secura-bench: {title}: {e:#}");
        ok = false;
        let mut s = Section::new(title);
        let first = format!("{e:#}")
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        s.rows.push(Row::skipped(title, format!("failed: {first}")));
        s
    };

    if want(Part::Sniffer) {
        eprintln!(
            "sniffer throughput ({} frames, {} rounds)",
            args.frames, args.rounds
        );
        let opts = throughput::Options {
            frames: args.frames,
            rounds: args.rounds,
        };
        sections.push(
            throughput::run(&args.work, opts)
                .unwrap_or_else(|e| failed("Sniffer pipeline throughput", e)),
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if want(Part::Footprint) || want(Part::Alert) {
        let window = Duration::from_secs(args.window_secs.max(1));
        let got = rt.block_on(daemons(
            args,
            want(Part::Footprint),
            want(Part::Alert),
            window,
        ));
        match got {
            Ok(mut s) => sections.append(&mut s),
            Err(e) => sections.push(failed("Footprint and alert latency", e)),
        }
    }
    if want(Part::Presence) {
        eprintln!("presence latency ({} arrivals)", args.arrivals);
        sections.push(
            rt.block_on(presence::run(args.arrivals))
                .unwrap_or_else(|e| failed("Presence latency", e)),
        );
    }
    if want(Part::Mqtt) {
        eprintln!("MQTT latency ({} state changes)", args.changes);
        sections.push(
            rt.block_on(mqtt::run(&args.work, args.changes))
                .unwrap_or_else(|e| failed("MQTT latency", e)),
        );
    }
    if want(Part::Size) {
        sections.push(size::run(&target).unwrap_or_else(|e| failed("Install size", e)));
    }
    let text = report::render(&machine, (&load_start, &machine::load_average()), &sections);
    println!("{text}");
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &text).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("written to {}", args.out.display());
    Ok(ok)
}

/// The five daemons: the idle footprint first, then the alerts on the same processes.
async fn daemons(
    args: &Args,
    footprint: bool,
    alerts: bool,
    window: Duration,
) -> Result<Vec<Section>> {
    eprintln!("starting the five release daemons on a private bus");
    let sys = system::System::start().await?;
    let pids = sys.pids();
    let mut out = Vec::new();
    if footprint {
        eprintln!("idle footprint ({} × {} s)", args.windows, window.as_secs());
        // Let start-up work (first notices, the camera's ring filling) finish first.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (mut sec, _) =
            footprint::idle(&pids, args.windows, window, footprint::Idle::Disarmed).await?;
        sec.notes.push(format!(
            "Disarmed, as after start: the camera is off (`always_on = false`). sensord, camd \
             and botd run with their simulated hardware; the sniffer is {}.",
            sys.sniffer_mode
        ));
        out.push(sec);
        eprintln!("snapshots with the camera off ({})", args.snapshots);
        out.push(snapshot::run(&sys, args.snapshots).await?);
    }
    let mut baseline = None;
    if footprint || alerts {
        sys.arm().await?;
    }
    if footprint {
        eprintln!(
            "armed footprint ({} × {} s)",
            args.windows,
            window.as_secs()
        );
        // The ring fills for pre_trigger (2 s) after the camera turns on.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (mut sec, b) =
            footprint::idle(&pids, args.windows, window, footprint::Idle::Armed).await?;
        sec.notes.push(
            "Armed by hand: camd captures the simulated camera at 1280×720, fps 2, for its \
             pre-trigger ring; every other daemon should stay asleep."
                .to_string(),
        );
        out.push(sec);
        baseline = Some(b);
    }
    if alerts {
        eprintln!("alert latency ({} events)", args.events);
        let mut sec = alert::run(&sys, args.events, baseline).await?;
        sec.rows.extend(footprint::rss_rows(
            &pids,
            &format!("{} alerts", args.events),
        )?);
        out.push(sec);
    }
    Ok(out)
}
