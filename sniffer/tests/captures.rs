//! Parser tests on captures written by the test: every capture goes through the same pipeline
//! as the daemon (libpcap reading the file, the kernel-filter program, the parsers, the
//! throttle), so the filter text is exercised too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod frames;

use frames::*;
use secura_bus::config::{DeviceConfig, MacAddr};
use secura_sniffer::commands::{ReplaySighting, replay, replay_each};
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
        // An association request from the phone to its AP.
        cat(&rt_simple(0, -61), &management(0x00, AP, PHONE, AP)),
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
        // A management action frame from the phone.
        cat(&rt_simple(0, -66), &management(0xd0, AP, PHONE, AP)),
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
        cat(&rt_extended(-42, [-40, -45]), &null_data(AP, PHONE)),
        cat(&rt_vendor(-47), &null_data(AP, PHONE2)),
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
    let good = cat(&rt_simple(0, -60), &null_data(AP, PHONE));
    let frames = vec![
        good[..3].to_vec(),                                    // radiotap header cut short
        good[..12].to_vec(),                                   // 802.11 frame control only
        good[..20].to_vec(),                                   // address 2 cut
        cat(&[1, 0, 8, 0, 0, 0, 0, 0], &null_data(AP, PHONE)), // radiotap version 1
        cat(&[0, 0, 200, 0, 0, 0, 0, 0], &null_data(AP, PHONE)), // length past the end
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
    let (s, _) = run(DLT_IEEE802_11, &[null_data(AP, PHONE)], 0, false);
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
        .map(|_| cat(&rt_simple(0, -50), &null_data(AP, PHONE)))
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

/// Frames the newer tests build, for the fuzz corpus: cut and whole FCS frames, control
/// frames, unreadable ARP, DHCP of every kind.
fn more_frames() -> Vec<(LinkType, Vec<u8>)> {
    let ip = Ipv4Addr::new(192, 168, 1, 23);
    let mut not_ethernet = arp(1, PHONE, ip, [0; 6], Ipv4Addr::new(192, 168, 1, 1));
    not_ethernet[1] = 6;
    let mut three_tags = ethernet(BROADCAST, PHONE, 0x8100, &[0, 7, 0x81, 0, 0, 8, 0x81, 0]);
    three_tags.extend([0, 9, 0x08, 0x06]);
    three_tags.extend(arp(1, PHONE, ip, [0; 6], ip));
    let mut trigger = vec![0x24, 0x00, 0, 0];
    trigger.extend(BROADCAST);
    trigger.extend(AP);
    trigger.extend([0; 8]);
    let mut signalling = PHONE;
    signalling[0] |= 1;
    let dhcp_frame = |t: Option<u8>, ci: Ipv4Addr, req: Option<Ipv4Addr>| {
        ethernet(BROADCAST, PHONE2, 0x0800, &dhcp(PHONE2, t, ci, req))
    };
    let any = Ipv4Addr::UNSPECIFIED;
    vec![
        (
            LinkType::Radiotap,
            cat(
                &rt_simple(0x10, -57),
                &cat(&null_data(AP, PHONE), &[1, 2, 3, 4]),
            ),
        ),
        (
            LinkType::Radiotap,
            cat(&rt_simple(0, -60), &management(0x00, AP, PHONE, AP)),
        ),
        (LinkType::Radiotap, cat(&rt_simple(0, -45), &trigger)),
        (
            LinkType::Radiotap,
            cat(&rt_simple(0, -45), &rts(AP, signalling)),
        ),
        (LinkType::Radiotap, cat(&rt_simple(0, -45), &ack(PHONE))),
        (
            LinkType::Ethernet,
            ethernet(BROADCAST, PHONE, 0x0806, &not_ethernet),
        ),
        (LinkType::Ethernet, three_tags),
        (LinkType::Ethernet, dhcp_frame(Some(1), any, Some(ip))),
        (LinkType::Ethernet, dhcp_frame(Some(8), ip, None)),
        (LinkType::Ethernet, dhcp_frame(None, ip, None)),
    ]
}

/// The fuzz targets' seeds (`sniffer/fuzz/corpus/`) are the test frames: this test fails when
/// they drift apart, and `SECURA_BLESS=1` rewrites them.
#[test]
fn the_committed_fuzz_corpus_is_the_test_frames() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let bless = std::env::var_os("SECURA_BLESS").is_some();
    let mut frames = corpus();
    frames.extend(more_frames());
    let mut expected: Vec<(std::path::PathBuf, Vec<u8>)> = Vec::new();
    for (i, (link, frame)) in frames.into_iter().enumerate() {
        let (target, kind) = match link {
            LinkType::Ethernet => ("ether_arp", "ethernet"),
            LinkType::Radiotap => ("dot11_radiotap", "radiotap"),
            LinkType::Dot11 => ("dot11_radiotap", "dot11"),
        };
        expected.push((root.join(target).join(format!("{i:02}-{kind}")), frame));
    }
    for (path, bytes) in &expected {
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        let committed = std::fs::read(path).unwrap_or_else(|e| {
            panic!("{}: {e} (SECURA_BLESS=1 writes the corpus)", path.display())
        });
        assert_eq!(&committed, bytes, "{} differs", path.display());
    }
    for target in ["ether_arp", "dot11_radiotap"] {
        let on_disk = std::fs::read_dir(root.join(target)).unwrap().count();
        let want = expected
            .iter()
            .filter(|(p, _)| p.parent().is_some_and(|d| d.ends_with(target)))
            .count();
        assert_eq!(on_disk, want, "{target}: files not written by this test");
    }
}

#[test]
fn every_truncation_of_every_frame_is_an_error_or_a_result_never_a_panic() {
    for (link, frame) in corpus() {
        assert_eq!(decode(link, &frame).problem, None, "{link:?} {frame:02x?}");
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

fn write(
    dir: &tempfile::TempDir,
    dlt: u32,
    records: &[(u64, Vec<u8>, u32)],
    tail: &[u8],
) -> std::path::PathBuf {
    let path = dir.path().join("test.pcap");
    write_pcap_records(&path, dlt, records, tail);
    path
}

const T0: u64 = 1_700_000_000_000_000;

fn whole(i: u64, f: Vec<u8>) -> (u64, Vec<u8>, u32) {
    let len = u32::try_from(f.len()).unwrap();
    (T0 + i * 1_000_000, f, len)
}

#[test]
fn a_capture_cut_inside_its_last_record_keeps_every_sighting_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let records = vec![
        whole(0, cat(&rt_simple(0, -50), &null_data(AP, PHONE))),
        whole(1, cat(&rt_simple(0, -51), &null_data(AP, PHONE2))),
    ];
    // What a killed tcpdump leaves: a record announcing 40 bytes, 10 of them written.
    let mut tail = record_header(T0 + 2_000_000, 40, 40);
    tail.extend([0u8; 10]);
    let path = write(&dir, DLT_RADIOTAP, &records, &tail);
    let (s, counters) = replay(&path, &devices(), 0, false).unwrap();
    assert_eq!(
        summary(&s),
        vec![(mac(PHONE), Some(-50)), (mac(PHONE2), Some(-51))]
    );
    assert_eq!(counters.frames, 2);
    let summary = replay_each(&path, &devices(), 0, false, |_| Ok(())).unwrap();
    assert!(summary.cut.is_some(), "{summary:?}");
    assert_eq!(summary.sightings, 2);
    // A capture cut inside a record header too.
    let path = write(&dir, DLT_RADIOTAP, &records, &[0u8; 7]);
    let summary = replay_each(&path, &devices(), 0, false, |_| Ok(())).unwrap();
    assert_eq!((summary.sightings, summary.cut.is_some()), (2, true));
    // A whole capture is not cut.
    let path = write(&dir, DLT_RADIOTAP, &records, &[]);
    let summary = replay_each(&path, &devices(), 0, false, |_| Ok(())).unwrap();
    assert_eq!((summary.sightings, summary.cut), (2, None));
}

#[test]
fn replay_of_a_cut_capture_prints_its_sightings_warns_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let records = vec![whole(0, cat(&rt_simple(0, -50), &null_data(AP, PHONE)))];
    let mut tail = record_header(T0 + 1_000_000, 100, 100);
    tail.extend([0u8; 30]);
    let path = write(&dir, DLT_RADIOTAP, &records, &tail);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_secura-sniffer"))
        .args(["replay", "--mac", &mac(PHONE)])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}\n{stdout}\n{stderr}", out.status);
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let line: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(line["mac"], mac(PHONE));
    assert!(stderr.contains("cut short"), "{stderr}");
    assert!(stderr.contains("1 sightings"), "{stderr}");
}

#[test]
fn the_fcs_is_kept_on_a_frame_the_snap_length_cut() {
    let dir = tempfile::tempdir().unwrap();
    let fcs_flag = 0x10;
    let rt = rt_simple(fcs_flag, -57);
    // Captured: the radiotap header and the 24-byte null-frame header; on the air the
    // frame also had 100 body bytes and its FCS, which the snap length cut away.
    let cut = cat(&rt, &null_data(AP, PHONE));
    let wire = u32::try_from(cut.len() + 100 + 4).unwrap();
    // The same with two bytes of body captured.
    let cut2 = cat(&cut, &[0xaa, 0xbb]);
    let wire2 = wire;
    let records = vec![
        (T0, cut, wire),
        (T0 + 1_000_000, cut2, wire2),
        // Captured whole but 4 bytes short of a header once its FCS is removed: malformed.
        whole(2, cat(&rt, &null_data(AP, PHONE))),
    ];
    let path = write(&dir, DLT_RADIOTAP, &records, &[]);
    let (s, counters) = replay(&path, &devices(), 0, true).unwrap();
    assert_eq!(
        summary(&s),
        vec![(mac(PHONE), Some(-57)), (mac(PHONE), Some(-57))]
    );
    assert_eq!(counters.malformed, 1);
}

#[test]
fn an_unreadable_arp_payload_or_a_third_vlan_tag_is_malformed_yet_a_sighting() {
    let ip = Ipv4Addr::new(192, 168, 1, 23);
    // ARP over IEEE 802 networks (hardware type 6), not IPv4 over Ethernet.
    let mut not_ethernet = arp(1, PHONE, ip, [0; 6], Ipv4Addr::new(192, 168, 1, 1));
    not_ethernet[1] = 6;
    // ARP cut after its operation.
    let cut = arp(1, PHONE2, ip, [0; 6], Ipv4Addr::new(192, 168, 1, 1))[..8].to_vec();
    // Three VLAN tags.
    let mut tagged = ethernet(
        BROADCAST,
        PHONE,
        0x8100,
        &[0, 7, 0x81, 0x00, 0, 8, 0x81, 0x00],
    );
    tagged.extend([0, 9, 0x08, 0x06]);
    tagged.extend(arp(1, PHONE, ip, [0; 6], Ipv4Addr::new(192, 168, 1, 1)));
    let frames = vec![
        ethernet(BROADCAST, PHONE, 0x0806, &not_ethernet),
        ethernet(BROADCAST, PHONE2, 0x0806, &cut),
        tagged,
    ];
    let (s, counters) = run(DLT_EN10MB, &frames, 0, false);
    let got: Vec<_> = s.iter().map(|s| (s.mac.clone(), s.ip.clone())).collect();
    assert_eq!(
        got,
        vec![(mac(PHONE), None), (mac(PHONE2), None), (mac(PHONE), None)]
    );
    assert_eq!(counters.frames, 3);
    assert_eq!(counters.malformed, 3);
}

#[test]
fn addresses_are_learned_from_dhcp_requests_and_bootp_not_from_a_discover_s_wish() {
    let old = Ipv4Addr::new(192, 168, 1, 23);
    let link_local = Ipv4Addr::new(169, 254, 7, 9);
    let any = Ipv4Addr::UNSPECIFIED;
    let ip = |d: u8| Ipv4Addr::new(192, 168, 1, d);
    let from = |m: [u8; 6], payload: Vec<u8>| ethernet(BROADCAST, m, 0x0800, &payload);
    let frames = vec![
        // A link-local fallback client keeps asking for its old address while using another.
        from(PHONE, dhcp(PHONE, Some(1), any, Some(old))),
        ethernet(
            BROADCAST,
            PHONE,
            0x0806,
            &arp(1, PHONE, link_local, [0; 6], Ipv4Addr::new(169, 254, 1, 1)),
        ),
        from(PHONE, dhcp(PHONE, Some(1), any, Some(old))),
        // DECLINE and RELEASE give an address up.
        from(PHONE2, dhcp(PHONE2, Some(4), any, Some(ip(30)))),
        from(PHONE2, dhcp(PHONE2, Some(7), ip(31), None)),
        // REQUEST (option 50), INFORM (ciaddr), BOOTP (ciaddr): the address held.
        from(PHONE2, dhcp(PHONE2, Some(3), any, Some(ip(24)))),
        from(PHONE2, dhcp(PHONE2, Some(8), ip(25), None)),
        from(PHONE2, dhcp(PHONE2, None, ip(26), None)),
        // A renewing REQUEST names its address in ciaddr.
        from(PHONE2, dhcp(PHONE2, Some(3), ip(27), Some(ip(99)))),
    ];
    let (s, counters) = run(DLT_EN10MB, &frames, 0, false);
    let got: Vec<_> = s.iter().map(|s| (s.mac.clone(), s.ip.clone())).collect();
    let some = |a: Ipv4Addr| Some(a.to_string());
    assert_eq!(
        got,
        vec![
            (mac(PHONE), None),
            (mac(PHONE), some(link_local)),
            (mac(PHONE), some(link_local)),
            (mac(PHONE2), None),
            (mac(PHONE2), None),
            (mac(PHONE2), some(ip(24))),
            (mac(PHONE2), some(ip(25))),
            (mac(PHONE2), some(ip(26))),
            (mac(PHONE2), some(ip(27))),
        ]
    );
    assert_eq!(counters.malformed, 0);
}

#[test]
fn probe_requests_and_control_frames_from_the_phone_are_not_presence() {
    // PS-Poll and block ack from the phone, a bandwidth-signalling RTS.
    let mut ps_poll = vec![0xa4, 0x00, 0x01, 0xc0];
    ps_poll.extend(AP);
    ps_poll.extend(PHONE);
    let mut block_ack = vec![0x94, 0x00, 0, 0];
    block_ack.extend(AP);
    block_ack.extend(PHONE);
    block_ack.extend([0x05, 0x00, 0x10, 0x00]);
    let mut signalling = PHONE;
    signalling[0] |= 0x01;
    let frames = vec![
        cat(&rt_simple(0, -60), &probe_request(PHONE)),
        cat(&rt_simple(0, -60), &rts(AP, PHONE)),
        cat(&rt_simple(0, -60), &rts(AP, signalling)),
        cat(&rt_simple(0, -60), &ps_poll),
        cat(&rt_simple(0, -60), &block_ack),
        cat(&rt_simple(0, -61), &null_data(AP, PHONE)),
    ];
    let (s, counters) = run(DLT_RADIOTAP, &frames, 0, true);
    assert_eq!(summary(&s), vec![(mac(PHONE), Some(-61))]);
    assert_eq!((counters.frames, counters.malformed), (6, 0));
    // `scan` still lists who sent them: every transmitter, the TA's signalling bit cleared.
    for f in &frames {
        let d = decode(LinkType::Radiotap, f);
        let macs: Vec<_> = d.stations.iter().map(|h| h.mac).collect();
        assert_eq!(macs, vec![MacAddr(PHONE)], "{f:02x?}");
    }
}

#[test]
fn an_he_trigger_frame_names_its_transmitter_for_scan() {
    let mut trigger = vec![0x24, 0x00, 0, 0];
    trigger.extend(BROADCAST);
    trigger.extend(AP);
    trigger.extend([0; 8]);
    let d = decode(LinkType::Radiotap, &cat(&rt_simple(0, -45), &trigger));
    assert_eq!(d.problem, None);
    let heard: Vec<_> = d.stations.iter().map(|h| (h.mac, h.rssi)).collect();
    assert_eq!(heard, vec![(MacAddr(AP), Some(-45))]);
}
