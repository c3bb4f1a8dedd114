//! A `getUpdates` answer as the Bot API (or anything pretending to be it) might send it, taken
//! apart update by update, and any text read as a command: neither may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secura_botd::commands::parse;
use secura_botd::poller::salvage;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse(text, Some("secura_bot"));
    let _ = parse(text, None);
    if let Some(items) = salvage(text) {
        assert!(!items.is_empty());
    }
});
