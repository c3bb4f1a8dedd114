//! The sniffer's per-frame work allocates nothing: a counting global allocator watches the
//! pipeline (address match, radiotap, 802.11, Ethernet/ARP/DHCP) and the tracker (address
//! learning, the sighting throttle) over 10,000 frames, matching and not. Its own test binary:
//! the allocator is global.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
// A global allocator is an unsafe trait; this one only counts and forwards to the system's.
#![allow(unsafe_code)]

mod frames;

use frames::*;
use secura_bus::config::{DeviceConfig, MacAddr};
use secura_sniffer::pipeline::{Counters, LinkType, Pipeline, Wanted};
use secura_sniffer::tracker::Tracker;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts the allocations made by a thread while its `COUNTING` flag is set.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const PHONE: [u8; 6] = [0xa4, 0x5e, 0x60, 0x12, 0x34, 0x56];
const PHONE2: [u8; 6] = [0x3a, 0x01, 0x02, 0x03, 0x04, 0x05];
const AP: [u8; 6] = [0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e];
const OTHER: [u8; 6] = [0x58, 0x11, 0x22, 0x33, 0x44, 0x55];

/// Monitor-mode and LAN frames, from the phones and from others.
fn mix() -> Vec<(LinkType, Vec<u8>)> {
    let ip = Ipv4Addr::new(192, 168, 1, 23);
    let mut unreadable_arp = arp(1, PHONE, ip, [0; 6], Ipv4Addr::new(192, 168, 1, 1));
    unreadable_arp[1] = 6;
    vec![
        // Not the phones': a beacon-like management frame, data, a probe request, an ACK.
        (
            LinkType::Radiotap,
            cat(
                &rt_extended(-70, [-71, -72]),
                &management(0x80, BROADCAST, AP, AP),
            ),
        ),
        (
            LinkType::Radiotap,
            cat(
                &rt_simple(0, -60),
                &data(0x88, 0x41, &[AP, OTHER, AP], &[1, 2, 3]),
            ),
        ),
        (
            LinkType::Radiotap,
            cat(&rt_simple(0, -60), &probe_request(OTHER)),
        ),
        (LinkType::Radiotap, cat(&rt_simple(0, -60), &ack(OTHER))),
        // The phones': null data with extended radiotap, relayed data, a vendor namespace,
        // an FCS at the end, and a probe request that is not presence.
        (
            LinkType::Radiotap,
            cat(&rt_extended(-50, [-49, -52]), &null_data(AP, PHONE)),
        ),
        (
            LinkType::Radiotap,
            cat(
                &rt_simple(0, -40),
                &data(0x08, 0x02, &[BROADCAST, AP, PHONE2], &[]),
            ),
        ),
        (
            LinkType::Radiotap,
            cat(&rt_vendor(-47), &null_data(AP, PHONE2)),
        ),
        (
            LinkType::Radiotap,
            cat(
                &rt_simple(0x10, -55),
                &cat(&null_data(AP, PHONE), &[1, 2, 3, 4]),
            ),
        ),
        (
            LinkType::Radiotap,
            cat(&rt_simple(0, -60), &probe_request(PHONE)),
        ),
        // LAN: ARP and DHCP from the phones, unreadable ARP, mDNS from someone else.
        (
            LinkType::Ethernet,
            ethernet(BROADCAST, PHONE, 0x0806, &arp(1, PHONE, ip, [0; 6], ip)),
        ),
        (
            LinkType::Ethernet,
            ethernet(
                BROADCAST,
                PHONE2,
                0x0800,
                &dhcp_request(PHONE2, Ipv4Addr::new(192, 168, 1, 24)),
            ),
        ),
        (
            LinkType::Ethernet,
            ethernet(BROADCAST, PHONE, 0x0806, &unreadable_arp),
        ),
        (
            LinkType::Ethernet,
            ethernet(
                [0x01, 0, 0x5e, 0, 0, 0xfb],
                OTHER,
                0x0800,
                &udp(ip, Ipv4Addr::new(224, 0, 0, 251), 5353, 5353, &[0; 12]),
            ),
        ),
    ]
}

#[test]
fn the_pipeline_and_the_tracker_allocate_nothing_per_frame() {
    let devices: Vec<DeviceConfig> = [("Alice", PHONE), ("Bob", PHONE2)]
        .map(|(name, m)| DeviceConfig {
            name: name.into(),
            mac: MacAddr(m),
        })
        .to_vec();
    let mut tracker = Tracker::new(&devices, 30_000_000);
    let wanted = Wanted::Devices(tracker.macs());
    let monitor = Pipeline::new(LinkType::Radiotap, wanted.clone());
    let lan = Pipeline::new(LinkType::Ethernet, wanted);
    let mix = mix();
    let sources = ["monitor:mon0", "lan:wlan0"];
    let mut counters = Counters::default();
    let mut sightings = 0u64;
    let frame = |i: u64, counters: &mut Counters, tracker: &mut Tracker| -> u64 {
        let (link, data) = &mix[usize::try_from(i).unwrap() % mix.len()];
        let (pipeline, source) = match link {
            LinkType::Ethernet => (&lan, sources[1]),
            _ => (&monitor, sources[0]),
        };
        let at = 1_700_000_000_000_000 + i * 10_000;
        let decoded = pipeline.decode(data, u32::try_from(data.len()).unwrap());
        counters.count(&decoded);
        let mut out = 0;
        for h in decoded.stations {
            counters.matched += 1;
            if let Some(ip) = h.ip {
                tracker.learn_ip(h.mac, ip, at);
            }
            if tracker.heard(h.mac, source, at) {
                out += 1;
            }
        }
        out
    };
    // One round first: the throttle's table gets its (device, source) entries.
    let n = u64::try_from(mix.len()).unwrap();
    for i in 0..n {
        sightings += frame(i, &mut counters, &mut tracker);
    }

    COUNTING.with(|c| c.set(true));
    for i in n..n + 10_000 {
        sightings += frame(i, &mut counters, &mut tracker);
    }
    COUNTING.with(|c| c.set(false));

    assert_eq!(ALLOCATIONS.load(Ordering::Relaxed), 0);
    // The frames did go through: matched, malformed, sightings every 30 s of capture time.
    assert_eq!(counters.frames, n + 10_000);
    assert!(counters.matched > 5_000, "{counters:?}");
    assert!(counters.malformed > 500, "{counters:?}");
    assert!(sightings >= 4 * 4, "{sightings} sightings");
    assert_eq!(
        tracker.ip_of(&MacAddr(PHONE2)),
        Some(Ipv4Addr::new(192, 168, 1, 24))
    );
}
