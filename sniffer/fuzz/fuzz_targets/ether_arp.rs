//! LAN frames: Ethernet with VLAN tags, ARP, IPv4/UDP/DHCP, through the daemon's own decode
//! path, plus the ARP parser alone and a build/parse round trip of whatever ARP it accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secura_sniffer::parse::ether;
use secura_sniffer::pipeline::{LinkType, decode};

fuzz_target!(|data: &[u8]| {
    let _ = decode(LinkType::Ethernet, data);
    let _ = ether::parse(data);
    if let Ok(arp) = ether::parse_arp(data) {
        let frame = ether::build_arp(arp.tha, arp.sha, &arp);
        let back = ether::parse(&frame).map(|f| f.payload);
        assert_eq!(back, Ok(ether::Payload::Arp(arp)));
    }
});
