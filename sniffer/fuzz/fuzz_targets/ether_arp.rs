//! LAN frames: Ethernet with VLAN tags, ARP, IPv4/UDP/DHCP, through the daemon's own pipeline
//! (for every station and for the frame's own source as a configured device: the same
//! answer), plus the ARP parser alone and a build/parse round trip of whatever ARP it accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secura_sniffer::parse::ether;
use secura_sniffer::pipeline::{LinkType, Pipeline, Wanted, decode};

fuzz_target!(|data: &[u8]| {
    let every = decode(LinkType::Ethernet, data);
    assert!(every.stations.len() <= 1);
    if let Ok(f) = ether::parse(data) {
        let devices = Pipeline::new(LinkType::Ethernet, Wanted::Devices(vec![f.src]));
        let wire = u32::try_from(data.len()).unwrap_or(u32::MAX);
        assert_eq!(devices.decode(data, wire), every);
    }
    if let Ok(arp) = ether::parse_arp(data) {
        let frame = ether::build_arp(arp.tha, arp.sha, &arp);
        let back = ether::parse(&frame).map(|f| f.payload);
        assert_eq!(back, Ok(ether::Payload::Arp(arp)));
    }
});
