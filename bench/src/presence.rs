//! Presence latency (root): a phone in a network namespace comes home — its first frame on
//! the LAN, timestamped by the kernel on the Pi's side of the link — until alarmd's `State`
//! is `disarmed`: the sniffer's capture and `Sighting`, alarmd's ARP probe through the
//! sniffer, the phone's ARP answer, the transition. Between cycles the phone goes quiet (no
//! traffic, no ARP answers) and alarmd arms itself again after `away_after`.

use crate::report::{Row, Section};
use crate::stats::Summary;
use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use secura_bus::names;
use secura_bus::proxies::Alarm1Proxy;
use secura_testbed::fakes::{FakeBot, FakeCamera};
use secura_testbed::netns::{self, Phone};
use secura_testbed::{Daemon, TestBus};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use zbus::proxy::CacheProperties;

const PHONE_MAC: &str = "a4:5e:60:be:0c:02";
/// Longest a cycle's arming or disarming may take before the run is given up.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

fn sh(phone: &Phone, script: &str) -> Result<()> {
    let out = phone.exec(&["sh", "-c", script])?;
    if !out.status.success() {
        bail!(
            "in the phone's namespace, {script:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The phone is away: no IPv6 chatter (router solicitations, MLD) and no ARP answers.
pub fn quiet(phone: &Phone) -> Result<()> {
    sh(
        phone,
        "for f in /proc/sys/net/ipv6/conf/*/disable_ipv6; do echo 1 > $f; done; \
         for f in /proc/sys/net/ipv4/conf/*/arp_ignore; do echo 8 > $f; done",
    )
}

fn answer_arp(phone: &Phone) -> Result<()> {
    sh(
        phone,
        "for f in /proc/sys/net/ipv4/conf/*/arp_ignore; do echo 0 > $f; done",
    )
}

/// Wait for the first frame from `mac` on `iface`; its kernel timestamp, µs since the epoch.
/// The capture is open when this returns the waiting closure, so nothing sent after it is
/// missed.
fn first_frame_watch(iface: &str, mac: &str) -> Result<impl FnOnce() -> Result<u64> + use<>> {
    let mut cap = pcap::Capture::from_device(iface)?
        .immediate_mode(true)
        .snaplen(64)
        .timeout(100)
        .open()
        .with_context(|| format!("capturing on {iface}"))?;
    cap.filter(&format!("ether src {mac}"), true)?;
    Ok(move || {
        let deadline = std::time::Instant::now() + STEP_TIMEOUT;
        loop {
            match cap.next_packet() {
                Ok(p) => {
                    let s = u64::try_from(p.header.ts.tv_sec).unwrap_or(0);
                    let us = u64::try_from(p.header.ts.tv_usec).unwrap_or(0);
                    return Ok(s * 1_000_000 + us);
                }
                Err(pcap::Error::TimeoutExpired) if std::time::Instant::now() < deadline => {}
                Err(e) => return Err(e).context("waiting for the phone's first frame"),
            }
        }
    })
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Run `cycles` arrivals, or say why this machine cannot.
pub async fn run(cycles: usize) -> Result<Section> {
    let mut sec = Section::new("Presence latency");
    let metric = "phone's first frame → State = disarmed";
    if let Some(why) = netns::unavailable() {
        sec.rows.push(Row::skipped(metric, why));
        return Ok(sec);
    }
    let phone = Phone::create(PHONE_MAC, 23).context("creating the phone namespace")?;
    quiet(&phone)?;
    let bus = TestBus::start()?;
    let cfg = bus.dir().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[alarm]\naway_after = \"1s\"\nprobe_attempts = 1\nstartup_grace = \"1h\"\n\
             [presence]\nlan_interface = \"{}\"\nsighting_interval = \"1s\"\n\
             probe_timeout = \"300ms\"\n[[presence.devices]]\nname = \"Alice\"\nmac = \"{}\"\n",
            phone.host_interface(),
            phone.mac()
        ),
    )?;
    let cfg = cfg.display().to_string();
    let args = ["--config", cfg.as_str()];
    let sniffer = Daemon::spawn(&bus, "secura-sniffer", &args, &bus.dir().join("sniffer"))?;
    bus.wait_for_name(names::PRESENCE_NAME, STEP_TIMEOUT)
        .await
        .with_context(|| sniffer.log())?;
    let _camera = FakeCamera::start(&bus).await?;
    let _bot = FakeBot::start(&bus).await?;
    let alarmd = Daemon::spawn(&bus, "secura-alarmd", &args, &bus.dir().join("alarmd"))?;
    bus.wait_for_name(names::ALARM_NAME, STEP_TIMEOUT)
        .await
        .with_context(|| alarmd.log())?;
    let conn = bus.connect().await?;
    let alarm = Alarm1Proxy::builder(&conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await?;
    let mut changes = alarm.receive_state_transition().await?;
    let logs = || {
        format!(
            "--- alarmd ---\n{}\n--- sniffer ---\n{}",
            alarmd.log(),
            sniffer.log()
        )
    };

    let mut latencies = Vec::with_capacity(cycles);
    for i in 0..cycles {
        // Away: alarmd arms itself once the phone is silent and unanswered.
        let armed = secura_testbed::eventually(STEP_TIMEOUT, || async {
            alarm.state().await.is_ok_and(|s| s == "armed")
        })
        .await;
        if !armed {
            bail!("cycle {}: the alarm never armed\n{}", i + 1, logs());
        }
        let watch = first_frame_watch(phone.host_interface(), phone.mac())?;
        let first = tokio::task::spawn_blocking(watch);
        answer_arp(&phone)?;
        // One datagram to the Pi's side (bash's /dev/udp): the phone's kernel ARPs first.
        let script = format!("echo home > /dev/udp/{}/9", phone.host_ip());
        let out = phone.exec(&["bash", "-c", &script])?;
        if !out.status.success() {
            bail!(
                "the phone could not send: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let disarmed_at = tokio::time::timeout(STEP_TIMEOUT, async {
            while let Some(sig) = changes.next().await {
                let at = now_micros();
                if sig.args().is_ok_and(|a| a.new == "disarmed") {
                    return Some(at);
                }
            }
            None
        })
        .await;
        let Ok(Some(disarmed_at)) = disarmed_at else {
            bail!(
                "cycle {}: the phone came back but the alarm did not disarm\n{}",
                i + 1,
                logs()
            );
        };
        let frame_at = first.await.context("the capture thread")??;
        latencies.push(disarmed_at.saturating_sub(frame_at) as f64 / 1000.0);
        quiet(&phone)?;
        if (i + 1) % 10 == 0 {
            eprintln!("  {} arrivals", i + 1);
        }
    }
    let s = Summary::of(&latencies).context("no arrivals measured")?;
    sec.rows.push(Row::measured(metric, "ms", s));
    sec.notes.push(format!(
        "{cycles} arrivals of a phone in a network namespace (a veth pair; its kernel answers \
         ARP) to the release sniffer capturing on the other end and the release alarmd \
         (camera and bot faked in-process). Start: the kernel timestamp of the phone's first \
         frame, captured on the Pi's side; end: the StateChanged signal to disarmed, received \
         by the benchmark. Between arrivals the phone is silent and ignores ARP until alarmd \
         re-arms (away_after = \"1s\", probe_attempts = 1, probe_timeout = \"300ms\", \
         sighting_interval = \"1s\"). No goal is set for this figure."
    ));
    Ok(sec)
}
