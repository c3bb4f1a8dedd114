//! Monitor-mode frames: radiotap, then 802.11, through the daemon's own pipeline, plus the
//! two parsers on their own (bare 802.11 captures have no radiotap header). The frame is
//! decoded as captured whole and as cut by the snap length, for every station and for the
//! stations it names as configured devices: what the daemon reports is a subset of what
//! `scan` sees, with the same signal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secura_sniffer::parse::{dot11, radiotap};
use secura_sniffer::pipeline::{LinkType, Pipeline, Wanted, decode};

fuzz_target!(|data: &[u8]| {
    if let Ok(rt) = radiotap::parse(data) {
        // The header length the parser reports never points past the data.
        assert!(rt.len <= data.len());
        assert_eq!(radiotap::header_len(data), Ok(rt.len));
    }
    if let Ok(h) = dot11::parse(data) {
        assert!(h.len <= data.len());
    }
    let wire = u32::try_from(data.len()).unwrap_or(u32::MAX);
    for link in [LinkType::Radiotap, LinkType::Dot11] {
        let every = decode(link, data);
        let _ = Pipeline::new(link, Wanted::Every).decode(data, wire.saturating_add(64));
        let named = every.stations.iter().map(|h| h.mac).collect();
        let devices = Pipeline::new(link, Wanted::Devices(named)).decode(data, wire);
        for h in devices.stations {
            assert!(every.stations.iter().any(|e| *e == h), "{h:?} not in {every:?}");
        }
    }
});
