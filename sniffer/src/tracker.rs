//! What the sniffer knows about the configured phones: when each was last heard, the IPv4
//! address it was last seen using, and when a `Sighting` was last sent per (mac, source) — the
//! throttle that keeps a chatty phone from flooding the bus. Times are passed in (µs since the
//! epoch) so replayed captures and tests use their own clock.

use crate::parse::MacAddr;
use secura_bus::config::DeviceConfig;
use secura_bus::types::{Micros, PresenceDevice};
use std::net::Ipv4Addr;
use tracing::{info, warn};

#[derive(Debug, Clone)]
struct Device {
    name: String,
    last_seen: Micros,
    ip: Option<Ipv4Addr>,
    ip_seen: Micros,
    /// The address it last answered an ARP probe from, and when.
    answered_ip: Option<Ipv4Addr>,
    answered_at: Micros,
}

/// Two devices claiming one address, or one device turning up at another: a spoofing signal
/// (or a DHCP renumbering), worth a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// `ip` was `old`'s and is now claimed by `new`.
    IpClaimedByTwo {
        /// The contested address.
        ip: Ipv4Addr,
        /// The device that used it before.
        old: MacAddr,
        /// The device claiming it now.
        new: MacAddr,
    },
    /// `mac` answered ARP from `old` moments ago (within [`ADDRESS_HOLD`]) and now answers from
    /// `new`: two devices with one MAC, or one device claiming two addresses.
    MacAtTwoIps {
        /// The device.
        mac: MacAddr,
        /// The address it used before.
        old: Ipv4Addr,
        /// The address it uses now.
        new: Ipv4Addr,
    },
}

/// A device that changes address sooner than this after using the old one is suspicious; a
/// DHCP renumbering happens while the phone is away or asleep, not within a minute.
pub const ADDRESS_HOLD: Micros = 60_000_000;

/// The state of every configured device.
#[derive(Debug)]
pub struct Tracker {
    devices: Vec<(MacAddr, Device)>,
    interval: Micros,
    /// When a `Sighting` last went out per (mac, source). A handful of entries (devices ×
    /// sources): a list searched without building a key, so a frame costs no allocation.
    last_signal: Vec<(MacAddr, String, Micros)>,
}

impl Tracker {
    /// Track `devices`, letting one `Sighting` per (mac, source) through every `interval` µs.
    pub fn new(devices: &[DeviceConfig], interval: Micros) -> Tracker {
        Tracker {
            devices: devices
                .iter()
                .map(|d| {
                    let dev = Device {
                        name: d.name.clone(),
                        last_seen: 0,
                        ip: None,
                        ip_seen: 0,
                        answered_ip: None,
                        answered_at: 0,
                    };
                    (d.mac, dev)
                })
                .collect(),
            interval,
            last_signal: Vec::new(),
        }
    }

    /// The configured MACs.
    pub fn macs(&self) -> Vec<MacAddr> {
        self.devices.iter().map(|(m, _)| *m).collect()
    }

    /// Whether `mac` is a configured device.
    pub fn is_configured(&self, mac: &MacAddr) -> bool {
        self.device(mac).is_some()
    }

    fn device(&self, mac: &MacAddr) -> Option<&Device> {
        self.devices.iter().find(|(m, _)| m == mac).map(|(_, d)| d)
    }

    fn device_mut(&mut self, mac: &MacAddr) -> Option<&mut Device> {
        self.devices
            .iter_mut()
            .find(|(m, _)| m == mac)
            .map(|(_, d)| d)
    }

    /// A frame from `mac` heard by `source` at `now`; true when a `Sighting` should go out.
    /// Frames from devices that are not configured are ignored (false).
    pub fn heard(&mut self, mac: MacAddr, source: &str, now: Micros) -> bool {
        let Some(dev) = self.device_mut(&mac) else {
            return false;
        };
        dev.last_seen = dev.last_seen.max(now);
        let entry = self
            .last_signal
            .iter_mut()
            .find(|(m, s, _)| *m == mac && s == source);
        match entry {
            Some((_, _, last)) if now.saturating_sub(*last) < self.interval && now >= *last => {
                false
            }
            Some((_, _, last)) => {
                *last = now;
                true
            }
            None => {
                self.last_signal.push((mac, source.to_string(), now));
                true
            }
        }
    }

    /// `mac` uses `ip` at `now`, learned passively (its own ARP, a DHCPREQUEST). Returns the
    /// conflicts this reveals, each also logged as a warning: another device that held `ip`.
    /// A device moving to another address is no conflict here — a NAK and a new lease, or a
    /// link-local fallback, do that in seconds; [`Tracker::answered_from`] judges that.
    pub fn learn_ip(&mut self, mac: MacAddr, ip: Ipv4Addr, now: Micros) -> Vec<Conflict> {
        self.learn(mac, ip, now, false)
    }

    /// `mac` answered an ARP probe from `ip` at `now`: it was there, and uses `ip`. Answering
    /// from another address than a probe moments ago (within [`ADDRESS_HOLD`]) is what an
    /// honest phone does not do — two devices with one MAC — and is a conflict.
    pub fn answered_from(&mut self, mac: MacAddr, ip: Ipv4Addr, now: Micros) -> Vec<Conflict> {
        self.answered(mac, now);
        self.learn(mac, ip, now, true)
    }

    fn learn(&mut self, mac: MacAddr, ip: Ipv4Addr, now: Micros, answer: bool) -> Vec<Conflict> {
        if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
            return Vec::new();
        }
        if !self.is_configured(&mac) {
            return Vec::new();
        }
        let mut conflicts = Vec::new();
        for (other, dev) in self.devices.iter_mut() {
            if *other != mac && dev.ip == Some(ip) {
                warn!(ip = %ip, old = %other, new = %mac,
                    "two devices claim one IPv4 address: a spoofing attempt or a reused lease");
                conflicts.push(Conflict::IpClaimedByTwo {
                    ip,
                    old: *other,
                    new: mac,
                });
                dev.ip = None;
            }
        }
        if let Some(dev) = self.device_mut(&mac) {
            if answer {
                match dev.answered_ip {
                    Some(old)
                        if old != ip && now.saturating_sub(dev.answered_at) < ADDRESS_HOLD =>
                    {
                        warn!(device = %mac, old = %old, new = %ip,
                            "one device answers ARP from two IPv4 addresses: a spoofing signal");
                        conflicts.push(Conflict::MacAtTwoIps { mac, old, new: ip });
                    }
                    _ => {}
                }
                dev.answered_ip = Some(ip);
                dev.answered_at = dev.answered_at.max(now);
            }
            match dev.ip {
                Some(old) if old != ip => {
                    info!(device = %mac, old = %old, new = %ip, "device changed its IPv4 address");
                }
                None => info!(device = %mac, ip = %ip, "learned the device's IPv4 address"),
                _ => {}
            }
            dev.ip = Some(ip);
            dev.ip_seen = dev.ip_seen.max(now);
        }
        conflicts
    }

    /// The IPv4 address `mac` was last seen using.
    pub fn ip_of(&self, mac: &MacAddr) -> Option<Ipv4Addr> {
        self.device(mac).and_then(|d| d.ip)
    }

    /// A probe answer from `mac` at `now`: it was there.
    pub fn answered(&mut self, mac: MacAddr, now: Micros) {
        if let Some(dev) = self.device_mut(&mac) {
            dev.last_seen = dev.last_seen.max(now);
        }
    }

    /// The `Devices` property.
    pub fn snapshot(&self) -> Vec<PresenceDevice> {
        self.devices
            .iter()
            .map(|(mac, d)| PresenceDevice {
                name: d.name.clone(),
                mac: mac.to_string(),
                last_seen: d.last_seen,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: MacAddr = MacAddr([0xa4, 0x5e, 0x60, 1, 2, 3]);
    const BOB: MacAddr = MacAddr([0xa4, 0x5e, 0x60, 4, 5, 6]);

    fn tracker() -> Tracker {
        let devices = [("Alice", ALICE), ("Bob", BOB)].map(|(name, mac)| DeviceConfig {
            name: name.into(),
            mac,
        });
        Tracker::new(&devices, 30_000_000)
    }

    #[test]
    fn sightings_are_throttled_per_mac_and_source() {
        let mut t = tracker();
        assert!(t.heard(ALICE, "lan:wlan0", 1_000_000));
        assert!(!t.heard(ALICE, "lan:wlan0", 2_000_000));
        assert!(t.heard(ALICE, "monitor:mon0", 2_000_000));
        assert!(t.heard(BOB, "lan:wlan0", 2_000_000));
        assert!(t.heard(ALICE, "lan:wlan0", 31_000_000));
        assert_eq!(t.snapshot()[0].last_seen, 31_000_000);
    }

    #[test]
    fn a_clock_stepping_back_does_not_silence_a_device() {
        let mut t = tracker();
        assert!(t.heard(ALICE, "lan:wlan0", 100_000_000));
        assert!(t.heard(ALICE, "lan:wlan0", 5_000_000));
    }

    #[test]
    fn unconfigured_devices_are_ignored() {
        let mut t = tracker();
        assert!(!t.heard(MacAddr([2, 0, 0, 0, 0, 1]), "lan:wlan0", 1));
        assert!(
            t.learn_ip(MacAddr([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(10, 0, 0, 1), 1)
                .is_empty()
        );
    }

    #[test]
    fn two_devices_claiming_one_ip_is_a_conflict() {
        let mut t = tracker();
        let ip = Ipv4Addr::new(192, 168, 1, 23);
        assert!(t.learn_ip(ALICE, ip, 1).is_empty());
        assert_eq!(
            t.learn_ip(BOB, ip, 2),
            vec![Conflict::IpClaimedByTwo {
                ip,
                old: ALICE,
                new: BOB
            }]
        );
        assert_eq!(t.ip_of(&ALICE), None);
        assert_eq!(t.ip_of(&BOB), Some(ip));
    }

    #[test]
    fn one_device_answering_from_two_addresses_within_a_minute_is_a_conflict() {
        let mut t = tracker();
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 6));
        assert!(t.answered_from(ALICE, a, 1_000_000).is_empty());
        assert!(t.answered_from(ALICE, a, 2_000_000).is_empty());
        assert_eq!(
            t.answered_from(ALICE, b, 3_000_000),
            vec![Conflict::MacAtTwoIps {
                mac: ALICE,
                old: a,
                new: b
            }]
        );
        // A new lease after a long absence is no conflict.
        assert!(
            t.answered_from(ALICE, a, 3_000_000 + ADDRESS_HOLD)
                .is_empty()
        );
        assert_eq!(t.ip_of(&ALICE), Some(a));
    }

    #[test]
    fn an_address_learned_passively_may_change_at_once_without_a_spoofing_warning() {
        let mut t = tracker();
        let (old, fallback, lease) = (
            Ipv4Addr::new(192, 168, 1, 23),
            Ipv4Addr::new(169, 254, 7, 9),
            Ipv4Addr::new(192, 168, 1, 40),
        );
        // A DHCPREQUEST for the old address, NAKed; a link-local fallback; a new lease.
        assert!(t.learn_ip(ALICE, old, 1_000_000).is_empty());
        assert!(t.learn_ip(ALICE, fallback, 2_000_000).is_empty());
        assert!(t.learn_ip(ALICE, lease, 3_000_000).is_empty());
        assert_eq!(t.ip_of(&ALICE), Some(lease));
        // A probe answer from the new address is no conflict either: nothing answered before.
        assert!(t.answered_from(ALICE, lease, 4_000_000).is_empty());
    }
}
