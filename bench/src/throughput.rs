//! Sniffer throughput: a generated monitor-mode capture read by a bare libpcap loop, and
//! through the sniffer's own pipeline (`secura_sniffer::commands::replay`: radiotap and
//! 802.11 parsing, matching against the configured phones, the tracker and its throttle),
//! with every frame decoded and with the daemon's BPF filter. Rounds alternate the three so
//! a noisy neighbour hurts all of them alike.

use crate::capgen::{self, Spec};
use crate::report::{Goal, Row, Section};
use crate::stats::Summary;
use anyhow::{Context, Result, bail};
use secura_bus::config::DeviceConfig;
use secura_sniffer::commands;
use secura_sniffer::parse::MacAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// The phones configured in the benchmark.
const PHONES: [[u8; 6]; 3] = [
    [0xa4, 0x5e, 0x60, 0x12, 0x34, 0x56],
    [0xf0, 0x18, 0x98, 0x01, 0x02, 0x03],
    [0x3a, 0x71, 0x0c, 0xaa, 0xbb, 0xcc],
];
/// The daemon's default `sighting_interval`, µs.
const SIGHTING_INTERVAL: u64 = 30_000_000;
/// Goal: the pipeline takes at most this many times as long as the bare read.
const GOAL_RATIO: f64 = 1.3;

/// How the benchmark runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Frames in the capture.
    pub frames: usize,
    /// Rounds of (bare, unfiltered pipeline, filtered pipeline).
    pub rounds: usize,
}

/// Read `path` with libpcap and nothing else; frames read.
fn bare_read(path: &Path) -> Result<u64> {
    let mut cap =
        pcap::Capture::from_file(path).with_context(|| format!("opening {}", path.display()))?;
    let mut frames = 0u64;
    let mut bytes = 0usize;
    loop {
        match cap.next_packet() {
            Ok(p) => {
                frames += 1;
                bytes = bytes.wrapping_add(std::hint::black_box(p.data).len());
            }
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
    std::hint::black_box(bytes);
    Ok(frames)
}

/// Run `path` through the sniffer's pipeline; frames read and sightings produced.
fn pipeline(path: &Path, devices: &[DeviceConfig], unfiltered: bool) -> Result<(u64, usize)> {
    let (sightings, counters) = commands::replay(path, devices, SIGHTING_INTERVAL, unfiltered)
        .with_context(|| format!("replaying {}", path.display()))?;
    Ok((counters.frames, sightings.len()))
}

fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, Duration)> {
    let start = Instant::now();
    let out = f()?;
    Ok((out, start.elapsed()))
}

/// Generate the capture in `work` and measure.
pub fn run(work: &Path, opts: Options) -> Result<Section> {
    let mut sec = Section::new("Sniffer pipeline throughput");
    let path = work.join("monitor-capture.pcap");
    let spec = Spec {
        frames: opts.frames,
        phones: PHONES.to_vec(),
        stations: 40,
        access_points: 4,
        seed: 0x5ec0_7a1c,
    };
    let (made, gen_time) = timed(|| {
        capgen::write(&path, &spec).with_context(|| format!("writing {}", path.display()))
    })?;
    eprintln!(
        "  generated {} frames ({} MiB) in {:.1}s",
        made.frames,
        made.bytes >> 20,
        gen_time.as_secs_f64()
    );
    let devices: Vec<DeviceConfig> = PHONES
        .iter()
        .enumerate()
        .map(|(i, m)| DeviceConfig {
            name: format!("phone{}", i + 1),
            mac: MacAddr(*m),
        })
        .collect();
    // Warm the page cache so the first round does not pay for the disk.
    bare_read(&path)?;

    let (mut bare, mut full, mut filtered, mut ratio, mut ratio_filtered) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut sightings = 0;
    for round in 0..opts.rounds.max(1) {
        let (n_bare, t_bare) = timed(|| bare_read(&path))?;
        let ((n_full, s_full), t_full) = timed(|| pipeline(&path, &devices, true))?;
        let ((n_filt, _), t_filt) = timed(|| pipeline(&path, &devices, false))?;
        if n_bare != made.frames || n_full != made.frames {
            bail!(
                "round {round}: read {n_bare} frames bare and {n_full} through the pipeline, \
                 wrote {}",
                made.frames
            );
        }
        let rate = |n: u64, t: Duration| n as f64 / t.as_secs_f64();
        bare.push(rate(n_bare, t_bare));
        full.push(rate(n_full, t_full));
        filtered.push(rate(made.frames, t_filt));
        ratio.push(t_full.as_secs_f64() / t_bare.as_secs_f64());
        ratio_filtered.push(t_filt.as_secs_f64() / t_bare.as_secs_f64());
        sightings = s_full;
        eprintln!(
            "  round {}: bare {:.0} ms, pipeline {:.0} ms, filtered {:.0} ms ({n_filt} frames kept)",
            round + 1,
            t_bare.as_secs_f64() * 1e3,
            t_full.as_secs_f64() * 1e3,
            t_filt.as_secs_f64() * 1e3
        );
    }
    // 233 MiB for a million frames: not worth keeping, it is regenerated in a second.
    if let Err(e) = std::fs::remove_file(&path) {
        eprintln!("  cannot remove {}: {e}", path.display());
    }
    let sum = |v: &[f64]| Summary::of(v).context("no rounds measured");
    sec.rows.push(Row::measured(
        "bare libpcap read loop",
        "frames/s",
        sum(&bare)?,
    ));
    sec.rows.push(Row::measured(
        "sniffer pipeline, every frame parsed and matched",
        "frames/s",
        sum(&full)?,
    ));
    sec.rows.push(Row::measured(
        "sniffer pipeline behind the daemon's BPF filter",
        "frames/s",
        sum(&filtered)?,
    ));
    let r = sum(&ratio)?;
    sec.rows.push(
        Row::measured("pipeline time ÷ bare read time (every frame)", "×", r).with_goal(Goal::new(
            format!("≤ {GOAL_RATIO}×"),
            r.median <= GOAL_RATIO,
        )),
    );
    sec.rows.push(Row::measured(
        "pipeline time ÷ bare read time (BPF filter)",
        "×",
        sum(&ratio_filtered)?,
    ));
    sec.notes.push(format!(
        "A generated radiotap/802.11 capture of {} frames ({} MiB, frames cut at the daemon's \
         snap length of {} bytes): beacons, probe requests and responses, QoS data both ways, \
         null frames, RTS/CTS/ACK/block ack, 0.5% with a bad FCS or truncated; {} frames name \
         one of the {} configured phones, which yield {} sightings at the default 30 s \
         throttle. Rounds: {}; the ratio's verdict uses its median.",
        made.frames,
        made.bytes >> 20,
        capgen::SNAPLEN,
        made.from_phones,
        PHONES.len(),
        sightings,
        opts.rounds.max(1)
    ));
    sec.notes.push(
        "\"Every frame\" is `secura-sniffer replay --unfiltered`: each frame is parsed and \
         matched, the worst case. The daemon itself installs a kernel BPF filter built from the \
         configured MACs, so on a live interface only the phones' frames reach user space; \
         replaying a file, libpcap runs that filter in user space, which is the third row."
            .into(),
    );
    Ok(sec)
}
