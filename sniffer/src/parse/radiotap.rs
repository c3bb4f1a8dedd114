//! The radiotap header in front of every 802.11 frame captured in monitor mode
//! (<https://www.radiotap.org>): its length, the chain of `present` bitmaps (extended words,
//! radiotap and vendor namespaces), the Flags field (FCS at the end, bad FCS) and the antenna
//! signal in dBm.
//!
//! Fields are aligned to their natural size relative to the start of the header and appear in
//! bit order; the walk stops at the first field whose size is not known (TLVs, bits beyond the
//! defined ones), which is safe because the header length still says where the frame begins.

use super::{ParseError, Reader};

/// Flags field: the frame ends with its 4-byte FCS.
pub const FLAG_FCS_AT_END: u8 = 0x10;
/// Flags field: the frame failed the FCS check.
pub const FLAG_BAD_FCS: u8 = 0x40;

const BIT_FLAGS: u32 = 1;
const BIT_ANTENNA_SIGNAL: u32 = 5;
const BIT_RADIOTAP_NS: u32 = 29;
const BIT_VENDOR_NS: u32 = 30;
const BIT_EXT: u32 = 31;
/// At most this many `present` words are followed (a real header has a handful).
const MAX_PRESENT_WORDS: usize = 16;

/// What the sniffer needs from a radiotap header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Radiotap {
    /// Total header length: the 802.11 frame starts here.
    pub len: usize,
    /// The Flags field, 0 when absent.
    pub flags: u8,
    /// The first antenna signal (dBm) found: the combined one when the driver gives several.
    pub signal_dbm: Option<i8>,
}

impl Radiotap {
    /// Whether the 802.11 frame ends with its FCS.
    pub fn fcs_at_end(&self) -> bool {
        self.flags & FLAG_FCS_AT_END != 0
    }

    /// Whether the driver reports a failed FCS check (the addresses cannot be trusted).
    pub fn bad_fcs(&self) -> bool {
        self.flags & FLAG_BAD_FCS != 0
    }
}

/// `(alignment, size)` of radiotap field `bit` in the radiotap namespace; `None` when unknown.
fn field_layout(bit: u32) -> Option<(usize, usize)> {
    Some(match bit {
        0 => (8, 8),        // TSFT
        1 | 2 => (1, 1),    // Flags, Rate
        3 => (2, 4),        // Channel
        4 => (1, 2),        // FHSS
        5 | 6 => (1, 1),    // antenna signal / noise (dBm)
        7..=9 => (2, 2),    // lock quality, TX attenuation, dB TX attenuation
        10..=13 => (1, 1),  // dBm TX power, antenna, dB signal, dB noise
        14 | 15 => (2, 2),  // RX flags, TX flags
        16 | 17 => (1, 1),  // RTS retries, data retries
        18 => (4, 8),       // XChannel
        19 => (1, 3),       // MCS
        20 => (4, 8),       // A-MPDU status
        21 => (2, 12),      // VHT
        22 => (8, 12),      // timestamp
        23 | 24 => (2, 12), // HE, HE-MU
        25 => (2, 6),       // HE-MU-other-user
        26 => (1, 1),       // 0-length PSDU
        27 => (2, 4),       // L-SIG
        _ => return None,   // 28 = TLVs, the rest undefined
    })
}

/// The radiotap header's length — where the 802.11 frame starts — read without walking its
/// fields: what the pipeline needs before it knows whether the frame matters.
pub fn header_len(data: &[u8]) -> Result<usize, ParseError> {
    let mut r = Reader::new(data);
    let version = r.u8().ok_or(ParseError::Truncated("radiotap header"))?;
    if version != 0 {
        return Err(ParseError::Invalid("radiotap version is not 0"));
    }
    r.skip(1).ok_or(ParseError::Truncated("radiotap header"))?;
    let len = usize::from(r.u16_le().ok_or(ParseError::Truncated("radiotap header"))?);
    if len < 8 {
        return Err(ParseError::Invalid("radiotap length below 8"));
    }
    if len > data.len() {
        return Err(ParseError::Truncated(
            "radiotap header shorter than its length",
        ));
    }
    Ok(len)
}

/// Parse the radiotap header at the start of `data`.
pub fn parse(data: &[u8]) -> Result<Radiotap, ParseError> {
    let len = header_len(data)?;
    let header = data.get(..len).ok_or(ParseError::Truncated(
        "radiotap header shorter than its length",
    ))?;

    // The present words, kept on the stack: parsing allocates nothing.
    let mut words = [0u32; MAX_PRESENT_WORDS];
    let mut count = 0;
    let mut r = Reader::new(header);
    r.skip(4).ok_or(ParseError::Truncated("radiotap header"))?;
    loop {
        let word = r
            .u32_le()
            .ok_or(ParseError::Truncated("radiotap present bitmaps"))?;
        let slot = words.get_mut(count).ok_or(ParseError::Invalid(
            "radiotap present bitmap chain too long",
        ))?;
        *slot = word;
        count += 1;
        if word & (1 << BIT_EXT) == 0 {
            break;
        }
        if count >= MAX_PRESENT_WORDS {
            return Err(ParseError::Invalid(
                "radiotap present bitmap chain too long",
            ));
        }
    }

    let mut out = Radiotap {
        len,
        ..Radiotap::default()
    };
    // `r` is now at the first field; walk the namespaces in order.
    walk_fields(&mut r, words.get(..count).unwrap_or(&[]), &mut out);
    Ok(out)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Namespace {
    Radiotap,
    Vendor,
}

/// Read the fields the sniffer wants; stops quietly at the first field it cannot size.
fn walk_fields(r: &mut Reader<'_>, words: &[u32], out: &mut Radiotap) {
    let mut ns = Namespace::Radiotap;
    let mut base: u32 = 0;
    let mut first_radiotap_ns = true;
    let mut vendor_header_pending = false;
    for &word in words {
        match ns {
            Namespace::Radiotap => {
                for bit in 0..BIT_RADIOTAP_NS {
                    if word & (1 << bit) == 0 {
                        continue;
                    }
                    let Some((align, size)) = base.checked_add(bit).and_then(field_layout) else {
                        return;
                    };
                    if r.align(align).is_none() {
                        return;
                    }
                    let Some(field) = r.bytes(size) else {
                        return;
                    };
                    match (base + bit, field.first()) {
                        (BIT_FLAGS, Some(&f)) if first_radiotap_ns => out.flags = f,
                        (BIT_ANTENNA_SIGNAL, Some(&s)) if out.signal_dbm.is_none() => {
                            out.signal_dbm = Some(i8::from_ne_bytes([s]));
                        }
                        _ => {}
                    }
                }
            }
            Namespace::Vendor => {
                if vendor_header_pending {
                    // OUI (3), sub-namespace (1), skip length (2), then that many bytes.
                    vendor_header_pending = false;
                    let skip = r.align(2).and_then(|_| r.skip(4)).and_then(|_| r.u16_le());
                    match skip {
                        Some(n) if r.skip(usize::from(n)).is_some() => {}
                        _ => return,
                    }
                }
            }
        }
        if word & (1 << BIT_RADIOTAP_NS) != 0 {
            ns = Namespace::Radiotap;
            base = 0;
            first_radiotap_ns = false;
        } else if word & (1 << BIT_VENDOR_NS) != 0 {
            ns = Namespace::Vendor;
            vendor_header_pending = true;
            base = 0;
        } else {
            base = base.saturating_add(32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_header_has_no_fields() {
        let rt = parse(&[0, 0, 8, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(rt.len, 8);
        assert_eq!(rt.signal_dbm, None);
        assert!(!rt.fcs_at_end());
    }

    #[test]
    fn flags_and_signal_after_an_aligned_tsft() {
        // present: TSFT | Flags | Rate | Channel | antenna signal
        let present: u32 = 1 | 1 << 1 | 1 << 2 | 1 << 3 | 1 << 5;
        let mut h = vec![0, 0, 0, 0];
        h.extend(present.to_le_bytes());
        h.extend([9; 8]); // TSFT at 8
        h.push(FLAG_FCS_AT_END); // flags
        h.push(2); // rate
        h.extend([0x6c, 0x09, 0xa0, 0x00]); // channel at 18 (aligned to 2)
        h.push(0xc4u8); // -60 dBm
        let len = u16::try_from(h.len()).unwrap();
        h.splice(2..4, len.to_le_bytes());
        let rt = parse(&h).unwrap();
        assert!(rt.fcs_at_end());
        assert_eq!(rt.signal_dbm, Some(-60));
    }

    #[test]
    fn version_other_than_zero_is_invalid() {
        assert!(matches!(
            parse(&[1, 0, 8, 0, 0, 0, 0, 0]),
            Err(ParseError::Invalid(_))
        ));
    }

    #[test]
    fn endless_extension_chain_is_refused() {
        let mut h = vec![0, 0, 0, 0];
        for _ in 0..20 {
            h.extend((1u32 << 31).to_le_bytes());
        }
        let len = u16::try_from(h.len()).unwrap();
        h.splice(2..4, len.to_le_bytes());
        assert!(parse(&h).is_err());
    }

    #[test]
    fn unknown_field_stops_the_walk_but_keeps_the_length() {
        // TLV bit (28) before nothing else known: the length still locates the frame.
        let present: u32 = 1 << 28;
        let mut h = vec![0, 0, 16, 0];
        h.extend(present.to_le_bytes());
        h.extend([0; 8]);
        let rt = parse(&h).unwrap();
        assert_eq!(rt.len, 16);
        assert_eq!(rt.signal_dbm, None);
    }
}
