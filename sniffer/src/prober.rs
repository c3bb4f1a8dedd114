//! The active ARP prober: is the phone really there?
//!
//! Every request goes **unicast to the phone's MAC**, so only that device's network stack sees
//! it, and only a reply whose sender MAC is the phone's counts. The last known address is asked
//! first; if that goes unanswered the whole subnet is swept (rate-limited, at most a /24), so a
//! phone that moved to a new DHCP lease is still found.

use crate::capture::{self, CaptureError};
use crate::filter;
use crate::netif::{Lan, NetifError};
use crate::parse::{MacAddr, ether};
use futures_util::StreamExt;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::Ipv4Addr;
use std::pin::Pin;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{debug, warn};

/// Time between two requests of a sweep: 500 per second, gentle on a home network.
const SEND_INTERVAL: Duration = Duration::from_millis(2);
/// How long an answer from the last known address is awaited before sweeping.
const KNOWN_IP_GRACE: Duration = Duration::from_millis(200);

/// One device to probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Its MAC.
    pub mac: MacAddr,
    /// Where it was last seen, asked first.
    pub last_ip: Option<Ipv4Addr>,
}

/// Why a probe could not be made (distinct from "made and unanswered").
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The LAN interface is not usable.
    #[error(transparent)]
    Interface(#[from] NetifError),
    /// The capture could not be opened.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// Not one request could be sent (the link is down or gone).
    #[error("{iface} refused all {errors} ARP requests (is the link up?)")]
    Send {
        /// The interface.
        iface: String,
        /// How many were refused.
        errors: u32,
    },
}

/// The answers of one probe: for each target, the address it answered from.
pub type Answers = Vec<(MacAddr, Option<Ipv4Addr>)>;

/// A future returned by [`ArpProber::probe`].
pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = Result<Answers, ProbeError>> + Send + 'a>>;

/// Asks devices whether they are on the LAN.
pub trait ArpProber: Send + Sync + std::fmt::Debug {
    /// Probe every target for at most `timeout`; the answers in the order of `targets`.
    fn probe(&self, targets: Vec<Target>, timeout: Duration) -> ProbeFuture<'_>;
}

/// ARP over a libpcap handle on the LAN interface.
#[derive(Debug, Clone)]
pub struct PcapProber {
    iface: String,
}

impl PcapProber {
    /// A prober on `iface`.
    pub fn new(iface: &str) -> PcapProber {
        PcapProber {
            iface: iface.to_string(),
        }
    }
}

impl ArpProber for PcapProber {
    fn probe(&self, targets: Vec<Target>, timeout: Duration) -> ProbeFuture<'_> {
        Box::pin(probe_on(&self.iface, targets, timeout))
    }
}

fn request(lan: &Lan, to: MacAddr, ip: Ipv4Addr) -> Vec<u8> {
    ether::build_arp(
        to,
        lan.mac,
        &ether::Arp {
            op: ether::ARP_REQUEST,
            sha: lan.mac,
            spa: lan.ip,
            tha: to,
            tpa: ip,
        },
    )
}

/// Reads the ARP packet of each frame the prober's filter passes, with the Ethernet source.
#[derive(Debug, Clone, Copy)]
struct ArpReplies;

impl pcap::PacketCodec for ArpReplies {
    type Item = Option<(MacAddr, ether::Arp)>;

    fn decode(&mut self, packet: pcap::Packet<'_>) -> Self::Item {
        let f = ether::parse(packet.data).ok()?;
        match f.payload {
            ether::Payload::Arp(arp) => Some((f.src, arp)),
            _ => None,
        }
    }
}

async fn probe_on(
    iface: &str,
    targets: Vec<Target>,
    timeout: Duration,
) -> Result<Answers, ProbeError> {
    let deadline = Instant::now() + timeout;
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let lan = Lan::of(iface)?;
    let macs: Vec<MacAddr> = targets.iter().map(|t| t.mac).collect();
    let filter = |_| filter::arp_replies(lan.mac, &macs);
    let (mut stream, _) = capture::open_live(iface, filter, |_| ArpReplies)?;

    let mut queue: VecDeque<(MacAddr, Ipv4Addr)> = targets
        .iter()
        .filter_map(|t| t.last_ip.map(|ip| (t.mac, ip)))
        .collect();
    let (sweep, capped) = lan.sweep();
    if capped {
        warn!(interface = iface, prefix = lan.prefix, own = %lan.ip,
            "subnet larger than a /24: sweeping only the /24 around our own address");
    }
    let mut swept = false;
    // With no address to ask first, there is nothing to wait for before sweeping.
    let grace = if queue.is_empty() {
        Duration::ZERO
    } else {
        KNOWN_IP_GRACE.min(timeout / 2)
    };
    let sweep_at = Instant::now() + grace;
    let mut answers: HashMap<MacAddr, Ipv4Addr> = HashMap::new();
    let mut next_send = Instant::now();

    let (mut sent, mut send_errors) = (0u32, 0u32);
    let wanted: std::collections::HashSet<MacAddr> = macs.iter().copied().collect();
    loop {
        if answers.len() >= wanted.len() {
            break;
        }
        if queue.is_empty() && !swept && Instant::now() >= sweep_at {
            swept = true;
            for ip in &sweep {
                for t in targets.iter().filter(|t| Some(*ip) != t.last_ip) {
                    queue.push_back((t.mac, *ip));
                }
            }
            debug!(
                interface = iface,
                requests = queue.len(),
                "sweeping the subnet"
            );
        }
        let wake = if queue.is_empty() && !swept {
            sweep_at
        } else {
            next_send
        };
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => break,
            () = tokio::time::sleep_until(wake), if !queue.is_empty() || !swept => {
                while let Some((mac, ip)) = queue.pop_front() {
                    if answers.contains_key(&mac) {
                        continue;
                    }
                    // A request the link refuses (carrier lost) is a request nobody answers.
                    match stream.capture_mut().sendpacket(request(&lan, mac, ip)) {
                        Ok(()) => sent += 1,
                        Err(e) => {
                            send_errors += 1;
                            if send_errors == 1 {
                                warn!(interface = iface, error = %e, "cannot send ARP requests");
                            }
                        }
                    }
                    next_send = Instant::now() + SEND_INTERVAL;
                    break;
                }
            }
            frame = stream.next() => {
                let Some(Ok(frame)) = frame else {
                    // A read error ends the probe with what it has; the deadline would anyway.
                    break;
                };
                let Some((src, arp)) = frame else { continue };
                if arp.op != ether::ARP_REPLY || arp.sha != src || !macs.contains(&arp.sha) {
                    continue;
                }
                note_answer(&mut answers, arp.sha, arp.spa);
            }
        }
    }
    debug!(
        interface = iface,
        sent,
        send_errors,
        answered = answers.len(),
        "probe done"
    );
    if sent == 0 && send_errors > 0 {
        return Err(ProbeError::Send {
            iface: iface.into(),
            errors: send_errors,
        });
    }
    Ok(targets
        .iter()
        .map(|t| (t.mac, answers.get(&t.mac).copied()))
        .collect())
}

/// Record that `mac` answered from `ip`, warning when it already answered from another
/// address or another device answered from the same one.
fn note_answer(answers: &mut HashMap<MacAddr, Ipv4Addr>, mac: MacAddr, ip: Ipv4Addr) {
    if let Some(other) = answers
        .iter()
        .find(|(m, a)| **m != mac && **a == ip)
        .map(|(m, _)| *m)
    {
        warn!(ip = %ip, first = %other, second = %mac,
            "two devices answered ARP for one address: possible spoofing");
    }
    match answers.get(&mac) {
        Some(first) if *first != ip => {
            warn!(device = %mac, first = %first, second = %ip,
                "one device answered ARP from two addresses: possible spoofing");
        }
        Some(_) => {}
        None => {
            debug!(device = %mac, ip = %ip, "ARP answer");
            answers.insert(mac, ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_goes_unicast_to_the_device_and_names_us() {
        let lan = Lan {
            mac: MacAddr([0xb8, 0x27, 0xeb, 1, 2, 3]),
            ip: Ipv4Addr::new(192, 168, 1, 2),
            prefix: 24,
        };
        let phone = MacAddr([0xa4, 0x5e, 0x60, 1, 2, 3]);
        let f = ether::parse(&request(&lan, phone, Ipv4Addr::new(192, 168, 1, 23))).unwrap();
        assert_eq!(f.dst, phone);
        let ether::Payload::Arp(arp) = f.payload else {
            panic!("not ARP")
        };
        assert_eq!(arp.op, ether::ARP_REQUEST);
        assert_eq!((arp.sha, arp.spa), (lan.mac, lan.ip));
        assert_eq!(arp.tpa, Ipv4Addr::new(192, 168, 1, 23));
    }

    #[test]
    fn the_first_answer_counts_and_a_second_address_does_not_replace_it() {
        let mut answers = HashMap::new();
        let phone = MacAddr([0xa4, 0x5e, 0x60, 1, 2, 3]);
        note_answer(&mut answers, phone, Ipv4Addr::new(10, 0, 0, 5));
        note_answer(&mut answers, phone, Ipv4Addr::new(10, 0, 0, 6));
        assert_eq!(answers.get(&phone), Some(&Ipv4Addr::new(10, 0, 0, 5)));
    }
}
