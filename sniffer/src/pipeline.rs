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

/// The stations one frame proves present — the transmitter, and for a relayed 802.11 data
/// frame also the station that originated it — kept inline: decoding allocates nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stations([Option<Heard>; 2]);

impl Stations {
    fn push(&mut self, h: Heard) {
        if let Some(slot) = self.0.iter_mut().find(|s| s.is_none()) {
            *slot = Some(h);
        }
    }

    /// The stations, transmitter first.
    pub fn iter(&self) -> impl Iterator<Item = &Heard> {
        self.0.iter().flatten()
    }

    /// Whether the frame named no station of interest.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    /// How many stations.
    pub fn len(&self) -> usize {
        self.iter().count()
    }
}

impl IntoIterator for Stations {
    type Item = Heard;
    type IntoIter = std::iter::Flatten<std::array::IntoIter<Option<Heard>, 2>>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter().flatten()
    }
}

/// What one frame gave: the stations it proves present and, when part of it could not be
/// read, why. Both can be there at once: an Ethernet frame whose ARP payload is unreadable
/// still comes from its source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decoded {
    /// The stations heard.
    pub stations: Stations,
    /// Why (part of) the frame could not be read; the frame counts as malformed.
    pub problem: Option<ParseError>,
}

impl Decoded {
    fn failed(e: ParseError) -> Decoded {
        Decoded {
            stations: Stations::default(),
            problem: Some(e),
        }
    }
}

/// Which stations a [`Pipeline`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// `scan`'s survey: every station named by any frame, probe requests and control frames
    /// included — it shows what is on the air.
    Every,
    /// Presence: only these devices, and only from frames that count as presence (not probe
    /// requests, not control frames: see [`dot11::Kind::is_presence`]).
    Devices(Vec<MacAddr>),
}

/// From captured bytes to the stations they prove present, for one link type.
///
/// The order is what keeps it cheap: the addresses are read first (the Ethernet source; the
/// 802.11 header behind the radiotap length) and compared with the wanted MACs; only a
/// matching frame has its radiotap fields walked (signal, FCS flags) and its ARP/DHCP payload
/// read. Nothing is allocated per frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    link: LinkType,
    wanted: Wanted,
}

impl Pipeline {
    /// A pipeline for captures of `link`, reporting `wanted`.
    pub fn new(link: LinkType, wanted: Wanted) -> Pipeline {
        Pipeline { link, wanted }
    }

    /// The link type it reads.
    pub fn link(&self) -> LinkType {
        self.link
    }

    fn wants(&self, mac: &MacAddr) -> bool {
        match &self.wanted {
            Wanted::Every => true,
            Wanted::Devices(macs) => macs.contains(mac),
        }
    }

    /// Decode one frame: `data` as captured, `wire_len` its length on the wire (the pcap
    /// record's `len`; more than `data.len()` when the snap length cut it).
    pub fn decode(&self, data: &[u8], wire_len: u32) -> Decoded {
        // Captured whole: `len` is not above `caplen`.
        let whole = usize::try_from(wire_len).is_ok_and(|len| len <= data.len());
        match self.link {
            LinkType::Ethernet => self.ethernet(data),
            LinkType::Radiotap => self.radiotap(data, whole),
            LinkType::Dot11 => match dot11::parse(data) {
                Ok(h) => Decoded {
                    stations: self.dot11_stations(&h, None),
                    problem: None,
                },
                Err(e) => Decoded::failed(e),
            },
        }
    }

    fn radiotap(&self, data: &[u8], whole: bool) -> Decoded {
        let frame = match radiotap::header_len(data) {
            Ok(len) => data.get(len..).unwrap_or(&[]),
            Err(e) => return Decoded::failed(e),
        };
        let h = match dot11::parse(frame) {
            Ok(h) => h,
            Err(e) => return Decoded::failed(e),
        };
        if self.dot11_stations(&h, None).is_empty() {
            return Decoded::default();
        }
        // A frame that matters: now the radiotap fields.
        let rt = match radiotap::parse(data) {
            Ok(rt) => rt,
            Err(e) => return Decoded::failed(e),
        };
        if rt.bad_fcs() {
            return Decoded::failed(ParseError::Invalid("frame failed its FCS check"));
        }
        // The FCS is there only when the frame was captured whole; a frame cut by the snap
        // length lost it (and its header is all there is).
        if rt.fcs_at_end() && whole && frame.len().checked_sub(4).is_none_or(|n| h.len > n) {
            return Decoded::failed(ParseError::Truncated("802.11 header before the FCS"));
        }
        Decoded {
            stations: self.dot11_stations(&h, rt.signal_dbm),
            problem: None,
        }
    }

    fn dot11_stations(&self, h: &dot11::Header, rssi: Option<i8>) -> Stations {
        let mut out = Stations::default();
        if matches!(self.wanted, Wanted::Devices(_)) && !h.kind.is_presence() {
            return out;
        }
        if let Some(ta) = h.transmitter.filter(|ta| self.wants(ta)) {
            out.push(Heard {
                mac: ta,
                rssi,
                ip: None,
            });
        }
        // A frame an access point relays proves its originator is associated, but the signal
        // measured is the access point's.
        if let Some(sa) = h
            .source
            .filter(|sa| Some(*sa) != h.transmitter && self.wants(sa))
        {
            out.push(Heard {
                mac: sa,
                rssi: None,
                ip: None,
            });
        }
        out
    }

    fn ethernet(&self, data: &[u8]) -> Decoded {
        // The source first: a frame from anyone else is not read further.
        let src = match data.get(6..12).and_then(|b| <[u8; 6]>::try_from(b).ok()) {
            Some(b) => MacAddr(b),
            None => return Decoded::failed(ParseError::Truncated("Ethernet header")),
        };
        if !self.wants(&src) {
            return match data.len() {
                0..14 => Decoded::failed(ParseError::Truncated("Ethernet header")),
                _ => Decoded::default(),
            };
        }
        let f = match ether::parse(data) {
            Ok(f) => f,
            Err(e) => return Decoded::failed(e),
        };
        let (ip, problem) = match f.payload {
            ether::Payload::Arp(a) if a.sha == f.src && !a.spa.is_unspecified() => {
                (Some(a.spa), None)
            }
            ether::Payload::Dhcp { client, ip } if client == f.src => (ip, None),
            ether::Payload::Unreadable(e) => (None, Some(e)),
            _ => (None, None),
        };
        let mut stations = Stations::default();
        stations.push(Heard {
            mac: f.src,
            rssi: None,
            ip,
        });
        Decoded { stations, problem }
    }
}

/// Every station a frame of `link` names, the frame captured whole: [`Wanted::Every`].
pub fn decode(link: LinkType, data: &[u8]) -> Decoded {
    let wire_len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    Pipeline::new(link, Wanted::Every).decode(data, wire_len)
}

/// What a capture has been through, for logs and the `scan` summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames read.
    pub frames: u64,
    /// Frames that could not be (wholly) parsed (truncated, invalid, failed FCS).
    pub malformed: u64,
    /// Frames from a configured device.
    pub matched: u64,
}

impl Counters {
    /// Count one frame's outcome.
    pub fn count(&mut self, decoded: &Decoded) {
        self.frames += 1;
        if decoded.problem.is_some() {
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
        assert!(decode(LinkType::Radiotap, &f).problem.is_some());
        f[8] = 0;
        let heard = decode(LinkType::Radiotap, &f);
        assert_eq!(heard.problem, None);
        assert_eq!(
            heard.stations.iter().next().map(|h| h.mac),
            Some(MacAddr([0x02, 1, 2, 3, 4, 5]))
        );
    }

    #[test]
    fn link_types_round_trip() {
        for l in [LinkType::Ethernet, LinkType::Radiotap, LinkType::Dot11] {
            assert_eq!(LinkType::from_dlt(l.dlt()), Some(l));
        }
        assert_eq!(LinkType::from_dlt(113), None);
    }
}
