//! Monitor-mode frames: radiotap, then 802.11, through the daemon's own decode path, plus the
//! two parsers on their own (bare 802.11 captures have no radiotap header).
#![no_main]

use libfuzzer_sys::fuzz_target;
use secura_sniffer::parse::{dot11, radiotap};
use secura_sniffer::pipeline::{LinkType, decode};

fuzz_target!(|data: &[u8]| {
    if let Ok(rt) = radiotap::parse(data) {
        // The header length the parser reports never points past the data.
        assert!(rt.len <= data.len());
    }
    if let Ok(h) = dot11::parse(data) {
        assert!(h.len <= data.len());
    }
    let _ = decode(LinkType::Radiotap, data);
    let _ = decode(LinkType::Dot11, data);
});
