//! Parsers of captured frames — untrusted input from the air and the LAN.
//!
//! [`radiotap`] and [`dot11`] read monitor-mode captures, [`ether`] reads Ethernet frames with
//! ARP and DHCP. None of them indexes or unwraps: every read goes through [`Reader`], which
//! answers `None` past the end, and every failure is a [`ParseError`] the caller counts.

pub mod dot11;
pub mod ether;
pub mod radiotap;

pub use secura_bus::config::MacAddr;

/// Why a frame could not be read. Counted and skipped by the pipeline, never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The frame ends before a field it announces.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// A field holds a value the format does not allow.
    #[error("invalid: {0}")]
    Invalid(&'static str),
}

/// A cursor over a byte slice that never panics.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `data`.
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The bytes not yet consumed.
    pub fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    /// Skip `n` bytes.
    pub fn skip(&mut self, n: usize) -> Option<()> {
        self.bytes(n).map(|_| ())
    }

    /// Skip to the next multiple of `align` (counted from the start of the slice).
    pub fn align(&mut self, align: usize) -> Option<()> {
        let rem = self.pos.checked_rem(align)?;
        if rem != 0 {
            self.skip(align - rem)?;
        }
        Some(())
    }

    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.bytes(1)?.first().copied()
    }

    /// A little-endian `u16`.
    pub fn u16_le(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.bytes(2)?.try_into().ok()?))
    }

    /// A big-endian (network order) `u16`.
    pub fn u16_be(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.bytes(2)?.try_into().ok()?))
    }

    /// A little-endian `u32`.
    pub fn u32_le(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }

    /// A MAC address.
    pub fn mac(&mut self) -> Option<MacAddr> {
        Some(MacAddr(self.bytes(6)?.try_into().ok()?))
    }

    /// An IPv4 address in network order.
    pub fn ipv4(&mut self) -> Option<std::net::Ipv4Addr> {
        let b: [u8; 4] = self.bytes(4)?.try_into().ok()?;
        Some(std::net::Ipv4Addr::from(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_answers_none_past_the_end() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16_le(), Some(0x0201));
        assert_eq!(r.u16_le(), None);
        assert_eq!(r.u8(), Some(3));
        assert_eq!(r.u8(), None);
        assert_eq!(r.bytes(usize::MAX), None);
    }

    #[test]
    fn align_counts_from_the_start() {
        let mut r = Reader::new(&[0; 16]);
        r.skip(3).unwrap();
        r.align(8).unwrap();
        assert_eq!(r.pos(), 8);
        r.align(8).unwrap();
        assert_eq!(r.pos(), 8);
        let mut short = Reader::new(&[0; 5]);
        short.skip(3).unwrap();
        assert_eq!(short.align(8), None);
    }
}
