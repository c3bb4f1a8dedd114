//! The kernel BPF filters, written in pcap's filter language from the configured MACs, so the
//! kernel hands user space only frames that can matter: on the LAN, frames *from* a phone; in
//! monitor mode, frames whose transmitter (address 2) or relayed source (address 3/4) is one.

use crate::parse::MacAddr;
use crate::pipeline::LinkType;

/// The filter for a capture of `link` that keeps only frames involving `macs`.
///
/// With no MACs it matches nothing (`less 0` is never true), so an empty device list costs
/// nothing instead of waking the daemon for every frame.
pub fn for_devices(link: LinkType, macs: &[MacAddr]) -> String {
    if macs.is_empty() {
        return "less 0".to_string();
    }
    let terms: Vec<String> = match link {
        LinkType::Ethernet => macs.iter().map(|m| format!("ether src {m}")).collect(),
        LinkType::Radiotap | LinkType::Dot11 => macs
            .iter()
            .map(|m| format!("wlan addr2 {m} or wlan addr3 {m} or wlan addr4 {m}"))
            .collect(),
    };
    terms.join(" or ")
}

/// The filter for the prober's capture: ARP replies to `own` from any of `macs`.
pub fn arp_replies(own: MacAddr, macs: &[MacAddr]) -> String {
    let from = macs
        .iter()
        .map(|m| format!("ether src {m}"))
        .collect::<Vec<_>>()
        .join(" or ");
    if from.is_empty() {
        return "less 0".to_string();
    }
    format!("arp and arp[6:2] = 2 and ether dst {own} and ({from})")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHONE: MacAddr = MacAddr([0xa4, 0x5e, 0x60, 0x12, 0x34, 0x56]);

    #[test]
    fn lan_filter_names_each_source() {
        let f = for_devices(LinkType::Ethernet, &[PHONE, MacAddr([2, 0, 0, 0, 0, 1])]);
        assert_eq!(
            f,
            "ether src a4:5e:60:12:34:56 or ether src 02:00:00:00:00:01"
        );
    }

    #[test]
    fn no_devices_matches_nothing() {
        assert_eq!(for_devices(LinkType::Radiotap, &[]), "less 0");
        assert_eq!(arp_replies(PHONE, &[]), "less 0");
    }
}
