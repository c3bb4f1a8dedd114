//! Parser tests on captures written by the test: every capture goes through the same pipeline
//! as the daemon (libpcap reading the file, the kernel-filter program, the parsers, the
//! throttle), so the filter text is exercised too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod frames;

use frames::*;
use secura_bus::config::{DeviceConfig, MacAddr};
use secura_sniffer::commands::{ReplaySighting, replay};
use secura_sniffer::pipeline::{LinkType, decode};
use std::net::Ipv4Addr;

const PHONE: [u8; 6] = [0xa4, 0x5e, 0x60, 0x12, 0x34, 0x56];
const PHONE2: [u8; 6] = [0x3a, 0x01, 0x02, 0x03, 0x04, 0x05]; // locally administered
const AP: [u8; 6] = [0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e];
const ROUTER: [u8; 6] = [0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x01];
const OTHER: [u8; 6] = [0x58, 0x11, 0x22, 0x33, 0x44, 0x55];
const MESH: [u8; 6] = [0x00, 0x1a, 0x2b, 0x00, 0x00, 0x77];

fn devices() -> Vec<DeviceConfig> {
    vec![
        DeviceConfig {
            name: "Alice".into(),
            mac: MacAddr(PHONE),
        },
        DeviceConfig {
            name: "Bob".into(),
            mac: MacAddr(PHONE2),
        },
    ]
}

fn run(
    dlt: u32,
    frames: &[Vec<u8>],
    interval: u64,
    unfiltered: bool,
) -> (Vec<ReplaySighting>, secura_sniffer::pipeline::Counters) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.pcap");
    let timed: Vec<(u64, Vec<u8>)> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            (
                1_700_000_000_000_000 + u64::try_from(i).unwrap() * 1_000_000,
                f.clone(),
            )
        })
        .collect();
    write_pcap(&path, dlt, &timed);
    replay(&path, &devices(), interval, unfiltered).unwrap()
}

fn summary(s: &[ReplaySighting]) -> Vec<(String, Option<i8>)> {
    s.iter().map(|s| (s.mac.clone(), s.rssi)).collect()
}

fn mac(m: [u8; 6]) -> String {
    MacAddr(m).to_string()
}

#[test]
fn frames_the_phone_transmits_are_sightings_with_their_rssi() {
    let frames = vec![
        cat(&rt_simple(0, -61), &probe_request(PHONE)),
        // to-DS data, null and QoS null (power-save signalling) from the phone to its AP.
        cat(
            &rt_simple(0, -62),
            &data(0x08, 0x01, &[AP, PHONE, ROUTER], &[0xaa, 0xaa, 3]),
        ),
        cat(&rt_simple(0, -63), &data(0x48, 0x11, &[AP, PHONE, AP], &[])),
        cat(&rt_simple(0, -64), &data(0xc8, 0x11, &[AP, PHONE, AP], &[])),
        // QoS data, protected body, ad-hoc (no DS bits).
        cat(
            &rt_simple(0, -65),
            &data(0x88, 0x40, &[OTHER, PHONE, AP], &[1, 2, 3, 4]),
        ),
        // RTS from the phone.
        cat(&rt_simple(0, -66), &rts(AP, PHONE)),
    ];
    let (s, counters) = run(DLT_RADIOTAP, &frames, 0, false);
    let expected: Vec<_> = (61..=66).map(|n| (mac(PHONE), Some(-n))).collect();
    assert_eq!(summary(&s), expected);
    assert_eq!(counters.malformed, 0);
    assert!(s.iter().all(|x| x.source == "monitor:test.pcap"));
}

#[test]
fn relayed_frames_name_the_phone_as_source_without_its_rssi() {
    let frames = vec![
        // from-DS: the AP relays the phone's broadcast.
        cat(
            &rt_simple(0, -40),
            &data(0x08, 0x02, &[BROADCAST, AP, PHONE], &[]),
        ),
        // to-DS and from-DS (WDS/mesh): address 4 is the source.
        cat(
            &rt_simple(0, -41),
            &data(0x88, 0x03, &[AP, MESH, OTHER, PHONE], &[]),
        ),
    ];
    let (s, _) = run(DLT_RADIOTAP, &frames, 0, false);
    assert_eq!(summary(&s), vec![(mac(PHONE), None), (mac(PHONE), None)]);
}

#[test]
fn frames_sent_to_the_phone_are_not_sightings() {
    let frames = vec![
        cat(
            &rt_simple(0, -50),
            &data(0x08, 0x02, &[PHONE, AP, ROUTER], &[]),
        ),
        cat(&rt_simple(0, -50), &ack(PHONE)),
        cat(&rt_simple(0, -50), &rts(PHONE, AP)),
        cat(
            &rt_simple(0, -50),
            &data(0x08, 0x01, &[AP, OTHER, PHONE], &[]),
        ),
    ];
    let (s, counters) = run(DLT_RADIOTAP, &frames, 0, true);
    assert!(s.is_empty(), "{s:?}");
    assert_eq!(counters.frames, 4);
}

#[test]
fn extended_bitmaps_and_vendor_namespaces_still_give_the_signal() {
    let frames = vec![
        cat(&rt_extended(-42, [-40, -45]), &probe_request(PHONE)),
        cat(&rt_vendor(-47), &probe_request(PHONE2)),
    ];
    let (s, counters) = run(DLT_RADIOTAP, &frames, 0, false);
    assert_eq!(
        summary(&s),
        vec![(mac(PHONE), Some(-42)), (mac(PHONE2), Some(-47))]
    );
    assert_eq!(counters.malformed, 0);
}

#[test]
fn the_fcs_at_the_end_is_stripped_and_bad_fcs_frames_are_dropped() {
    let fcs_flag = 0x10;
    let with_fcs = cat(
        &data(0x48, 0x11, &[AP, PHONE, AP], &[]),
        &[0xde, 0xad, 0xbe, 0xef],
    );
    let frames = vec![
        cat(&rt_simple(fcs_flag, -55), &with_fcs),
        // Claims an FCS but is 4 bytes short of a header once it is removed.
        cat(
            &rt_simple(fcs_flag, -55),
            &data(0x48, 0x11, &[AP, PHONE, AP], &[]),
        ),
        // Failed its FCS check: the addresses cannot be trusted.
        cat(&rt_simple(fcs_flag | 0x40, -55), &with_fcs),
    ];
    let (s, counters) = run(DLT_RADIOTAP, &frames, 0, true);
    assert_eq!(summary(&s), vec![(mac(PHONE), Some(-55))]);
    assert_eq!(counters.malformed, 2);
}

#[test]
fn malformed_and_truncated_frames_are_counted_and_skipped() {
    let good = cat(&rt_simple(0, -60), &probe_request(PHONE));
    let frames = vec![
        good[..3].to_vec(),                                    // radiotap header cut short
        good[..12].to_vec(),                                   // 802.11 frame control only
        good[..20].to_vec(),                                   // address 2 cut
        cat(&[1, 0, 8, 0, 0, 0, 0, 0], &probe_request(PHONE)), // radiotap version 1
        cat(&[0, 0, 200, 0, 0, 0, 0, 0], &probe_request(PHONE)), // length past the end
        cat(&rt_simple(0, -60), &[0x41, 0x00]),                // 802.11 protocol version 1
        good.clone(),
    ];
    let (s, counters) = run(DLT_RADIOTAP, &frames, 0, true);
    assert_eq!(summary(&s), vec![(mac(PHONE), Some(-60))]);
    assert_eq!(counters.frames, 7);
    assert_eq!(counters.malformed, 6);
}

#[test]
fn bare_802_11_without_radiotap_is_read_too() {
    let (s, _) = run(DLT_IEEE802_11, &[probe_request(PHONE)], 0, false);
    assert_eq!(summary(&s), vec![(mac(PHONE), None)]);
}

#[test]
fn lan_frames_from_the_phone_are_sightings_and_reveal_its_address() {
    let phone_ip = Ipv4Addr::new(192, 168, 1, 23);
    let frames = vec![
        // mDNS from the phone: a sighting, no address learned (not ARP/DHCP).
        ethernet(
            [0x01, 0, 0x5e, 0, 0, 0xfb],
            PHONE,
            0x0800,
            &udp(
                phone_ip,
                Ipv4Addr::new(224, 0, 0, 251),
                5353,
                5353,
                &[0; 12],
            ),
        ),
        // ARP request from the phone: its address.
        ethernet(
            BROADCAST,
            PHONE,
            0x0806,
            &arp(1, PHONE, phone_ip, [0; 6], Ipv4Addr::new(192, 168, 1, 1)),
        ),
        // DHCPREQUEST from the second phone asking for .24.
        ethernet(
            BROADCAST,
            PHONE2,
            0x0800,
            &dhcp_request(PHONE2, Ipv4Addr::new(192, 168, 1, 24)),
        ),
        // The router's ARP about the phone is not the phone's frame.
        ethernet(
            BROADCAST,
            ROUTER,
            0x0806,
            &arp(1, ROUTER, Ipv4Addr::new(192, 168, 1, 1), [0; 6], phone_ip),
        ),
        // An ARP probe (sender address 0.0.0.0) reveals nothing.
        ethernet(
            BROADCAST,
            PHONE2,
            0x0806,
            &arp(
                1,
                PHONE2,
                Ipv4Addr::UNSPECIFIED,
                [0; 6],
                Ipv4Addr::new(192, 168, 1, 99),
            ),
        ),
    ];
    let (s, counters) = run(DLT_EN10MB, &frames, 0, false);
    let got: Vec<_> = s.iter().map(|s| (s.mac.clone(), s.ip.clone())).collect();
    assert_eq!(
        got,
        vec![
            (mac(PHONE), None),
            (mac(PHONE), Some("192.168.1.23".into())),
            (mac(PHONE2), Some("192.168.1.24".into())),
            (mac(PHONE2), Some("192.168.1.24".into())),
        ]
    );
    // The kernel filter kept the router's frame away from user space.
    assert_eq!(counters.frames, 4);
    assert!(
        s.iter()
            .all(|x| x.source == "lan:test.pcap" && x.rssi.is_none())
    );
}

#[test]
fn sightings_are_throttled_per_interval() {
    // One frame a second for 70 s, a 30 s interval: sightings at 0, 30 and 60 s.
    let frames: Vec<_> = (0..70)
        .map(|_| cat(&rt_simple(0, -50), &probe_request(PHONE)))
        .collect();
    let (s, counters) = run(DLT_RADIOTAP, &frames, 30_000_000, false);
    let t0 = 1_700_000_000_000_000;
    assert_eq!(
        s.iter().map(|x| x.at - t0).collect::<Vec<_>>(),
        vec![0, 30_000_000, 60_000_000]
    );
    assert_eq!(counters.matched, 70);
}

/// Every frame the tests build, with its link type.
fn corpus() -> Vec<(LinkType, Vec<u8>)> {
    let mut v = vec![
        (
            LinkType::Radiotap,
            cat(&rt_extended(-42, [-40, -45]), &probe_request(PHONE)),
        ),
        (
            LinkType::Radiotap,
            cat(
                &rt_vendor(-47),
                &data(0x88, 0x03, &[AP, MESH, OTHER, PHONE], &[1]),
            ),
        ),
        (
            LinkType::Radiotap,
            cat(&rt_simple(0x10, -1), &cat(&rts(AP, PHONE), &[0; 4])),
        ),
        (LinkType::Dot11, data(0xc8, 0x11, &[AP, PHONE, AP], &[])),
        (
            LinkType::Ethernet,
            ethernet(
                BROADCAST,
                PHONE2,
                0x0800,
                &dhcp_request(PHONE2, Ipv4Addr::new(10, 0, 0, 9)),
            ),
        ),
        (
            LinkType::Ethernet,
            ethernet(
                BROADCAST,
                PHONE,
                0x0806,
                &arp(
                    2,
                    PHONE,
                    Ipv4Addr::new(10, 0, 0, 2),
                    AP,
                    Ipv4Addr::new(10, 0, 0, 1),
                ),
            ),
        ),
    ];
    let mut tagged = ethernet(BROADCAST, PHONE, 0x8100, &[0, 7]);
    tagged.extend(0x0806u16.to_be_bytes());
    tagged.extend(arp(
        1,
        PHONE,
        Ipv4Addr::new(10, 0, 0, 2),
        [0; 6],
        Ipv4Addr::new(10, 0, 0, 1),
    ));
    v.push((LinkType::Ethernet, tagged));
    v
}

#[test]
fn every_truncation_of_every_frame_is_an_error_or_a_result_never_a_panic() {
    for (link, frame) in corpus() {
        assert!(decode(link, &frame).is_ok(), "{link:?} {frame:02x?}");
        for n in 0..frame.len() {
            let _ = decode(link, &frame[..n]);
        }
    }
}

#[test]
fn random_corruption_never_panics() {
    // A fixed xorshift sequence: reproducible, no extra dependency.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let corpus = corpus();
    for _ in 0..50_000 {
        let (link, frame) = &corpus[usize::try_from(next() % corpus.len() as u64).unwrap()];
        let mut f = frame.clone();
        for _ in 0..=(next() % 4) {
            let i = usize::try_from(next() % f.len() as u64).unwrap();
            f[i] = u8::try_from(next() & 0xff).unwrap();
        }
        let _ = decode(*link, &f);
    }
}
