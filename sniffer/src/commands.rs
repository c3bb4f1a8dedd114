//! The one-shot commands for users: `scan` (which MACs are around, to find the phone's),
//! `replay` (the sightings a capture file produces, through the daemon's pipeline) and
//! `probe` (one ARP probe from the command line).

use crate::capture::{self, CaptureError};
use crate::filter;
use crate::parse::MacAddr;
use crate::pipeline::{Counters, Pipeline, Wanted};
use crate::prober::{ArpProber, PcapProber, ProbeError, Target};
use crate::tracker::Tracker;
use futures_util::StreamExt;
use secura_bus::config::DeviceConfig;
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The capture could not be opened.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// Reading the capture failed midway.
    #[error("reading {what}: {source}")]
    Read {
        /// The interface or file.
        what: String,
        /// libpcap's error.
        source: pcap::Error,
    },
    /// The probe could not be made.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// Writing the output failed.
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
}

/// One station in a `scan`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// Frames it transmitted.
    pub frames: u64,
    /// The last signal strength reported, in dBm.
    pub rssi: Option<i8>,
    /// The strongest signal reported.
    pub best_rssi: Option<i8>,
    /// Its IPv4 address, if a frame revealed it.
    pub ip: Option<Ipv4Addr>,
}

/// Capture everything on `iface` for `duration` and tally the stations heard.
pub async fn scan(
    iface: &str,
    duration: Duration,
) -> Result<(HashMap<MacAddr, Seen>, Counters), CommandError> {
    let (mut stream, _) = capture::open_live(
        iface,
        |_| String::new(),
        |link| capture::Decoding::new(link, Wanted::Every),
    )?;
    let mut seen: HashMap<MacAddr, Seen> = HashMap::new();
    let mut counters = Counters::default();
    let deadline = tokio::time::Instant::now() + duration;
    loop {
        let item = match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) | Ok(None) => break,
            Ok(Some(item)) => item,
        };
        let frame = item.map_err(|source| CommandError::Read {
            what: format!("interface {iface}"),
            source,
        })?;
        counters.count(&frame.decoded);
        for h in frame.decoded.stations {
            if h.mac.is_multicast() {
                continue;
            }
            let s = seen.entry(h.mac).or_default();
            s.frames += 1;
            if h.rssi.is_some() {
                s.rssi = h.rssi;
                s.best_rssi = s.best_rssi.max(h.rssi);
            }
            s.ip = h.ip.or(s.ip);
        }
    }
    Ok((seen, counters))
}

/// Print a scan as a table, busiest station first.
pub fn print_scan(
    out: &mut impl Write,
    seen: &HashMap<MacAddr, Seen>,
    counters: &Counters,
) -> std::io::Result<()> {
    let mut rows: Vec<_> = seen.iter().collect();
    rows.sort_by(|a, b| b.1.frames.cmp(&a.1.frames).then(a.0.cmp(b.0)));
    writeln!(
        out,
        "{:<17}  {:>7}  {:>9}  {:>9}  {:<15}  address",
        "mac", "frames", "rssi dBm", "best dBm", "ip"
    )?;
    for (mac, s) in rows {
        let dbm = |v: Option<i8>| v.map(|x| x.to_string()).unwrap_or_else(|| "-".into());
        let kind = if mac.is_locally_administered() {
            "private (locally administered)"
        } else {
            "global (vendor-assigned)"
        };
        let ip = s.ip.map(|i| i.to_string()).unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "{mac}  {:>7}  {:>9}  {:>9}  {ip:<15}  {kind}",
            s.frames,
            dbm(s.rssi),
            dbm(s.best_rssi)
        )?;
    }
    writeln!(
        out,
        "{} frames, {} malformed, {} stations",
        counters.frames,
        counters.malformed,
        seen.len()
    )
}

/// One line of `replay` output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplaySighting {
    /// The device.
    pub mac: String,
    /// `lan:FILE` or `monitor:FILE`.
    pub source: String,
    /// Capture time, µs since the epoch.
    pub at: u64,
    /// Signal strength in dBm, when the capture has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rssi: Option<i8>,
    /// The device's IPv4 address, when known by then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

/// How a replay ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// What the frames read went through.
    pub counters: Counters,
    /// Sightings produced.
    pub sightings: u64,
    /// The capture ends in a record cut short (what a killed `tcpdump` leaves): libpcap's
    /// words. Every complete record before it was read.
    pub cut: Option<String>,
}

/// Whether libpcap's read error `e` says the file ends inside a record.
fn is_cut_record(e: &pcap::Error) -> bool {
    matches!(e, pcap::Error::PcapError(text) if text.contains("truncated"))
}

/// Run capture file `path` through the daemon's pipeline: the BPF filter (unless
/// `unfiltered`), the parsers, the tracker and its throttle of `interval` µs, handing each
/// sighting to `each` as it comes. A file whose last record is cut short is read up to it and
/// ends normally, with [`ReplaySummary::cut`] saying so.
pub fn replay_each(
    path: &Path,
    devices: &[DeviceConfig],
    interval: u64,
    unfiltered: bool,
    mut each: impl FnMut(ReplaySighting) -> Result<(), CommandError>,
) -> Result<ReplaySummary, CommandError> {
    let mut tracker = Tracker::new(devices, interval);
    let macs = tracker.macs();
    let (mut cap, link) = capture::open_file(path, |link| {
        if unfiltered {
            String::new()
        } else {
            filter::for_devices(link, &macs)
        }
    })?;
    let pipeline = Pipeline::new(link, Wanted::Devices(macs));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let source = format!("{}:{name}", link.source_kind());
    let mut summary = ReplaySummary::default();
    loop {
        let packet = match cap.next_packet() {
            Ok(p) => p,
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) if is_cut_record(&e) => {
                summary.cut = Some(e.to_string());
                break;
            }
            Err(source) => {
                return Err(CommandError::Read {
                    what: format!("file {}", path.display()),
                    source,
                });
            }
        };
        let at = capture::micros(packet.header);
        let decoded = pipeline.decode(packet.data, packet.header.len);
        summary.counters.count(&decoded);
        for h in decoded.stations {
            summary.counters.matched += 1;
            if let Some(ip) = h.ip {
                tracker.learn_ip(h.mac, ip, at);
            }
            if tracker.heard(h.mac, &source, at) {
                summary.sightings += 1;
                each(ReplaySighting {
                    mac: h.mac.to_string(),
                    source: source.clone(),
                    at,
                    rssi: h.rssi,
                    ip: tracker.ip_of(&h.mac).map(|i| i.to_string()),
                })?;
            }
        }
    }
    Ok(summary)
}

/// [`replay_each`], the sightings collected in order, with the counters.
pub fn replay(
    path: &Path,
    devices: &[DeviceConfig],
    interval: u64,
    unfiltered: bool,
) -> Result<(Vec<ReplaySighting>, Counters), CommandError> {
    let mut out = Vec::new();
    let summary = replay_each(path, devices, interval, unfiltered, |s| {
        out.push(s);
        Ok(())
    })?;
    Ok((out, summary.counters))
}

/// `replay` as the command line runs it: each sighting printed to `out` as one JSON line as
/// soon as it is found (a capture cut short still shows everything before the cut).
pub fn replay_to(
    out: &mut impl Write,
    path: &Path,
    devices: &[DeviceConfig],
    interval: u64,
    unfiltered: bool,
) -> Result<ReplaySummary, CommandError> {
    replay_each(path, devices, interval, unfiltered, |s| {
        serde_json::to_writer(&mut *out, &s).map_err(std::io::Error::other)?;
        writeln!(out)?;
        Ok(())
    })
}

/// Probe `macs` once on `iface`; the answers in order.
pub async fn probe(
    iface: &str,
    macs: &[MacAddr],
    timeout: Duration,
) -> Result<Vec<(MacAddr, Option<Ipv4Addr>)>, CommandError> {
    let targets = macs
        .iter()
        .map(|m| Target {
            mac: *m,
            last_ip: None,
        })
        .collect();
    Ok(PcapProber::new(iface).probe(targets, timeout).await?)
}
