//! The LAN interface as the prober needs it: its MAC (from sysfs) and its IPv4 address and
//! prefix (from libpcap's device list), looked up at every probe because DHCP may move them.

use crate::parse::MacAddr;
use std::net::{IpAddr, Ipv4Addr};

/// The largest sweep: a /24, 254 hosts. Larger subnets are swept around the Pi's own address.
pub const MAX_SWEEP_PREFIX: u8 = 24;

/// Why the interface cannot be used for probing.
#[derive(Debug, thiserror::Error)]
pub enum NetifError {
    /// sysfs has no usable address for it.
    #[error("cannot read the MAC address of {iface} from {path}: {reason}")]
    Mac {
        /// The interface.
        iface: String,
        /// The sysfs file.
        path: String,
        /// Why.
        reason: String,
    },
    /// libpcap could not list the interfaces.
    #[error("cannot list network interfaces: {0}")]
    List(#[from] pcap::Error),
    /// The interface does not exist or has no IPv4 address.
    #[error("{0} has no IPv4 address (is it up and connected?)")]
    NoIpv4(String),
}

/// The Pi's side of the LAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lan {
    /// Our MAC.
    pub mac: MacAddr,
    /// Our IPv4 address.
    pub ip: Ipv4Addr,
    /// The prefix length of the subnet.
    pub prefix: u8,
}

impl Lan {
    /// Look up interface `iface`.
    pub fn of(iface: &str) -> Result<Lan, NetifError> {
        let path = format!("/sys/class/net/{iface}/address");
        let text = std::fs::read_to_string(&path).map_err(|e| NetifError::Mac {
            iface: iface.into(),
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let mac = MacAddr::parse(text.trim()).ok_or_else(|| NetifError::Mac {
            iface: iface.into(),
            path,
            reason: format!("{:?} is not an Ethernet address", text.trim()),
        })?;
        let device = pcap::Device::list()?
            .into_iter()
            .find(|d| d.name == iface)
            .ok_or_else(|| NetifError::NoIpv4(iface.into()))?;
        device
            .addresses
            .iter()
            .find_map(|a| match (a.addr, a.netmask) {
                (IpAddr::V4(ip), Some(IpAddr::V4(mask))) => Some(Lan {
                    mac,
                    ip,
                    prefix: u8::try_from(u32::from(mask).leading_ones()).unwrap_or(32),
                }),
                (IpAddr::V4(ip), None) => Some(Lan {
                    mac,
                    ip,
                    prefix: 32,
                }),
                _ => None,
            })
            .ok_or_else(|| NetifError::NoIpv4(iface.into()))
    }

    /// The addresses a sweep asks, in order, and whether the subnet was capped to a /24.
    /// Never includes our own address, the network address or the broadcast address.
    pub fn sweep(&self) -> (Vec<Ipv4Addr>, bool) {
        let capped = self.prefix < MAX_SWEEP_PREFIX;
        let prefix = self.prefix.max(MAX_SWEEP_PREFIX);
        if prefix >= 31 {
            return (Vec::new(), capped);
        }
        let host_bits = 32 - u32::from(prefix);
        let mask = u32::MAX.checked_shl(host_bits).unwrap_or(0);
        let net = u32::from(self.ip) & mask;
        let last = net | !mask;
        let own = u32::from(self.ip);
        let hosts = (net + 1..last)
            .filter(|a| *a != own)
            .map(Ipv4Addr::from)
            .collect();
        (hosts, capped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lan(ip: [u8; 4], prefix: u8) -> Lan {
        Lan {
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
            ip: Ipv4Addr::from(ip),
            prefix,
        }
    }

    #[test]
    fn a_slash_24_sweeps_253_other_hosts() {
        let (hosts, capped) = lan([192, 168, 1, 2], 24).sweep();
        assert!(!capped);
        assert_eq!(hosts.len(), 253);
        assert_eq!(hosts.first(), Some(&Ipv4Addr::new(192, 168, 1, 1)));
        assert_eq!(hosts.last(), Some(&Ipv4Addr::new(192, 168, 1, 254)));
        assert!(!hosts.contains(&Ipv4Addr::new(192, 168, 1, 2)));
    }

    #[test]
    fn a_slash_16_is_capped_to_our_slash_24() {
        let (hosts, capped) = lan([10, 1, 7, 9], 16).sweep();
        assert!(capped);
        assert_eq!(hosts.len(), 253);
        assert!(hosts.iter().all(|h| h.octets()[..3] == [10, 1, 7]));
    }

    #[test]
    fn a_point_to_point_link_has_nothing_to_sweep() {
        assert!(lan([10, 0, 0, 1], 32).sweep().0.is_empty());
        assert_eq!(
            lan([10, 0, 0, 1], 30).sweep().0,
            vec![Ipv4Addr::new(10, 0, 0, 2)]
        );
    }
}
