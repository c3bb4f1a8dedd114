//! From a captured frame to what it says about presence: the link type decides the parser,
//! the parser names the station that transmitted the frame (with its RSSI in monitor mode and
//! its IPv4 address when ARP or DHCP reveal it), and the [`Counters`] keep score of what could
//! not be read. The daemon, `scan` and `replay` all go through [`decode`].

use crate::parse::{MacAddr, ParseError, dot11, ether, radiotap};
use std::net::Ipv4Addr;

/// The link types the sniffer reads (pcap `DLT_*` numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// `DLT_EN10MB`: Ethernet, and what a managed-mode Wi-Fi interface delivers.
    Ethernet,
    /// `DLT_IEEE802_11_RADIO`: 802.11 with a radiotap header (monitor mode).
    Radiotap,
    /// `DLT_IEEE802_11`: bare 802.11 (monitor mode without radiotap).
    Dot11,
}

impl LinkType {
    /// The link type of pcap `DLT_*` number `dlt`, if the sniffer reads it.
    pub fn from_dlt(dlt: i32) -> Option<LinkType> {
        match dlt {
            1 => Some(LinkType::Ethernet),
            105 => Some(LinkType::Dot11),
            127 => Some(LinkType::Radiotap),
            _ => None,
        }
    }

    /// The pcap `DLT_*` number.
    pub fn dlt(self) -> i32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::Dot11 => 105,
            LinkType::Radiotap => 127,
        }
    }

    /// `lan` or `monitor`, the prefix of a source's name.
    pub fn source_kind(self) -> &'static str {
        match self {
            LinkType::Ethernet => "lan",
            LinkType::Dot11 | LinkType::Radiotap => "monitor",
        }
    }
}

/// One station heard in one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heard {
    /// The station.
    pub mac: MacAddr,
    /// Signal strength of the frame, when the radio reports it and the station transmitted it.
    pub rssi: Option<i8>,
    /// Its IPv4 address, when this frame reveals it (ARP sender, DHCP client).
    pub ip: Option<Ipv4Addr>,
}

/// The stations a frame proves present: the transmitter, and for a relayed 802.11 data frame
/// also the station that originated it. Empty for frames that name no transmitter.
pub fn decode(link: LinkType, data: &[u8]) -> Result<Vec<Heard>, ParseError> {
    match link {
        LinkType::Ethernet => decode_ethernet(data).map(|h| vec![h]),
        LinkType::Radiotap => {
            let rt = radiotap::parse(data)?;
            if rt.bad_fcs() {
                return Err(ParseError::Invalid("frame failed its FCS check"));
            }
            let frame = data
                .get(rt.len..)
                .ok_or(ParseError::Truncated("frame after radiotap"))?;
            let frame = if rt.fcs_at_end() {
                let keep = frame
                    .len()
                    .checked_sub(4)
                    .ok_or(ParseError::Truncated("FCS"))?;
                frame.get(..keep).ok_or(ParseError::Truncated("FCS"))?
            } else {
                frame
            };
            decode_dot11(frame, rt.signal_dbm)
        }
        LinkType::Dot11 => decode_dot11(data, None),
    }
}

fn decode_ethernet(data: &[u8]) -> Result<Heard, ParseError> {
    let f = ether::parse(data)?;
    let ip = match f.payload {
        ether::Payload::Arp(a) if a.sha == f.src && !a.spa.is_unspecified() => Some(a.spa),
        ether::Payload::Dhcp { client, ip } if client == f.src => ip,
        _ => None,
    };
    Ok(Heard {
        mac: f.src,
        rssi: None,
        ip,
    })
}

fn decode_dot11(frame: &[u8], rssi: Option<i8>) -> Result<Vec<Heard>, ParseError> {
    let h = dot11::parse(frame)?;
    let mut out = Vec::with_capacity(2);
    if let Some(ta) = h.transmitter {
        out.push(Heard {
            mac: ta,
            rssi,
            ip: None,
        });
    }
    // A frame an access point relays proves its originator is associated, but the signal
    // measured is the access point's.
    if let Some(sa) = h.source.filter(|sa| Some(*sa) != h.transmitter) {
        out.push(Heard {
            mac: sa,
            rssi: None,
            ip: None,
        });
    }
    Ok(out)
}

/// What a capture has been through, for logs and the `scan` summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames read.
    pub frames: u64,
    /// Frames that could not be parsed (truncated, invalid, failed FCS).
    pub malformed: u64,
    /// Frames from a configured device.
    pub matched: u64,
}

impl Counters {
    /// Count one frame's outcome.
    pub fn count(&mut self, result: &Result<Vec<Heard>, ParseError>) {
        self.frames += 1;
        if result.is_err() {
            self.malformed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_fcs_frames_are_refused() {
        // radiotap with Flags = bad FCS, then a probe request.
        let mut f = vec![0, 0, 9, 0, 0x02, 0, 0, 0, radiotap::FLAG_BAD_FCS];
        f.extend([0x40, 0, 0, 0]);
        f.extend([0xff; 6]);
        f.extend([0x02, 1, 2, 3, 4, 5]);
        f.extend([0xff; 6]);
        f.extend([0, 0]);
        assert!(decode(LinkType::Radiotap, &f).is_err());
        f[8] = 0;
        let heard = decode(LinkType::Radiotap, &f).unwrap();
        assert_eq!(heard[0].mac, MacAddr([0x02, 1, 2, 3, 4, 5]));
    }

    #[test]
    fn link_types_round_trip() {
        for l in [LinkType::Ethernet, LinkType::Radiotap, LinkType::Dot11] {
            assert_eq!(LinkType::from_dlt(l.dlt()), Some(l));
        }
        assert_eq!(LinkType::from_dlt(113), None);
    }
}
