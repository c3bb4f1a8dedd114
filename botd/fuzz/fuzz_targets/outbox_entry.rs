//! Outbox files read back from disk (damaged by a crash, a full disk or a person): decoding
//! never panics, never allocates what the file does not hold, and whatever decodes encodes
//! back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secura_botd::outbox::entry::{decode, decode_progress, encode, encode_progress};

fuzz_target!(|data: &[u8]| {
    if let Ok((meta, photos)) = decode(data) {
        assert_eq!(encode(&meta, &photos).as_deref(), Ok(data));
    }
    if let Ok(progress) = decode_progress(data) {
        assert_eq!(encode_progress(&progress).as_deref(), Ok(data));
    }
});
