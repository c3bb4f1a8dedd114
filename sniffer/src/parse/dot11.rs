//! The 802.11 MAC header: frame control, the to/from-DS bits, and what addresses 1–4 mean
//! for each frame type (IEEE 802.11-2020 §9.2–9.3).
//!
//! The sniffer wants the **transmitter** (address 2 in every frame that has one) and, for data
//! frames, the original **source** — the same station, except in frames an access point
//! relays (from-DS: address 3) or a mesh/WDS hop forwards (address 4).

use super::{MacAddr, ParseError, Reader};

/// The frame's type, with the subtypes the sniffer tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Management; `subtype` 4 is a probe request, 8 a beacon.
    Management {
        /// The management subtype.
        subtype: u8,
    },
    /// Control (RTS, ACK, block ack…).
    Control {
        /// The control subtype.
        subtype: u8,
    },
    /// Data, QoS data, null and QoS null.
    Data {
        /// QoS subtypes (8–15) carry a QoS control field.
        qos: bool,
        /// Null subtypes carry no payload (power-save signalling).
        null: bool,
    },
    /// Type 3 (extension, e.g. DMG beacons).
    Extension,
}

impl Kind {
    /// Whether this is a probe request (phones send them with random addresses while scanning).
    pub fn is_probe_request(&self) -> bool {
        matches!(self, Kind::Management { subtype: 4 })
    }

    /// Whether a frame of this kind is evidence that its transmitter is at home: not a probe
    /// request (anyone in radio range can send one naming any address, and phones scan with
    /// random ones), not a control frame (no body, no sequence number, nothing an access
    /// point acknowledged: trivially forged from the street).
    pub fn is_presence(&self) -> bool {
        !self.is_probe_request() && !matches!(self, Kind::Control { .. })
    }
}

/// The TA of a control frame with its group bit cleared: a VHT/HE transmitter signalling its
/// bandwidth sets that bit in the TA of RTS, block ack and NDP announcement frames
/// (IEEE 802.11-2020 §9.3.1.1), though the station's address is an individual one.
fn individual(ta: MacAddr) -> MacAddr {
    let mut b = ta.0;
    b[0] &= !0x01;
    MacAddr(b)
}

/// The addresses of one 802.11 frame, with their roles resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Frame type.
    pub kind: Kind,
    /// To-DS bit: a station sends to its access point.
    pub to_ds: bool,
    /// From-DS bit: an access point sends to a station.
    pub from_ds: bool,
    /// Protected (encrypted) frame body.
    pub protected: bool,
    /// Address 1: receiver.
    pub receiver: MacAddr,
    /// Address 2: the radio that transmitted this frame; `None` for ACK/CTS.
    pub transmitter: Option<MacAddr>,
    /// For data frames, the station that originated the payload.
    pub source: Option<MacAddr>,
    /// Header length: the body starts here.
    pub len: usize,
}

/// Parse the 802.11 header at the start of `frame` (FCS already removed or not: it is after).
pub fn parse(frame: &[u8]) -> Result<Header, ParseError> {
    let mut r = Reader::new(frame);
    let fc0 = r
        .u8()
        .ok_or(ParseError::Truncated("802.11 frame control"))?;
    let fc1 = r
        .u8()
        .ok_or(ParseError::Truncated("802.11 frame control"))?;
    if fc0 & 0x03 != 0 {
        return Err(ParseError::Invalid("802.11 protocol version is not 0"));
    }
    let ftype = (fc0 >> 2) & 0x03;
    let subtype = fc0 >> 4;
    let to_ds = fc1 & 0x01 != 0;
    let from_ds = fc1 & 0x02 != 0;
    let protected = fc1 & 0x40 != 0;
    r.skip(2).ok_or(ParseError::Truncated("802.11 duration"))?;
    let receiver = r.mac().ok_or(ParseError::Truncated("802.11 address 1"))?;

    let kind = match ftype {
        0 => Kind::Management { subtype },
        1 => Kind::Control { subtype },
        2 => Kind::Data {
            qos: subtype & 0x08 != 0,
            null: subtype & 0x04 != 0,
        },
        _ => Kind::Extension,
    };
    let mut header = Header {
        kind,
        to_ds,
        from_ds,
        protected,
        receiver,
        transmitter: None,
        source: None,
        len: r.pos(),
    };
    match kind {
        Kind::Control { subtype } => {
            // HE trigger, RTS, PS-Poll, block ack (request), beamforming poll, NDP
            // announcement, CF-End name their transmitter; CTS, ACK and the control wrapper
            // do not.
            if matches!(subtype, 2 | 4 | 5 | 8 | 9 | 10 | 11 | 14 | 15) {
                let ta = r.mac().ok_or(ParseError::Truncated("802.11 TA"))?;
                header.transmitter = Some(individual(ta));
                header.len = r.pos();
            }
        }
        Kind::Management { .. } => {
            let sa = r.mac().ok_or(ParseError::Truncated("802.11 address 2"))?;
            r.skip(6 + 2)
                .ok_or(ParseError::Truncated("802.11 BSSID/sequence"))?;
            header.transmitter = Some(sa);
            header.source = Some(sa);
            header.len = r.pos();
        }
        Kind::Data { qos, .. } => {
            let a2 = r.mac().ok_or(ParseError::Truncated("802.11 address 2"))?;
            let a3 = r.mac().ok_or(ParseError::Truncated("802.11 address 3"))?;
            r.skip(2)
                .ok_or(ParseError::Truncated("802.11 sequence control"))?;
            header.transmitter = Some(a2);
            header.source = Some(match (to_ds, from_ds) {
                (false, false) | (true, false) => a2,
                (false, true) => a3,
                (true, true) => r.mac().ok_or(ParseError::Truncated("802.11 address 4"))?,
            });
            if qos {
                r.skip(2)
                    .ok_or(ParseError::Truncated("802.11 QoS control"))?;
            }
            header.len = r.pos();
        }
        Kind::Extension => {}
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 6] = [0x02, 0, 0, 0, 0, 0xaa];
    const B: [u8; 6] = [0x02, 0, 0, 0, 0, 0xbb];
    const C: [u8; 6] = [0x02, 0, 0, 0, 0, 0xcc];
    const D: [u8; 6] = [0x02, 0, 0, 0, 0, 0xdd];

    fn data(fc0: u8, fc1: u8, addrs: &[[u8; 6]]) -> Vec<u8> {
        let mut f = vec![fc0, fc1, 0, 0];
        for (i, a) in addrs.iter().enumerate() {
            f.extend(a);
            if i == 2 {
                f.extend([0, 0]);
            }
        }
        f
    }

    #[test]
    fn plain_data_between_stations_is_sent_by_address_2() {
        let h = parse(&data(0x08, 0x00, &[A, B, C])).unwrap();
        assert_eq!(h.transmitter, Some(MacAddr(B)));
        assert_eq!(h.source, Some(MacAddr(B)));
        assert_eq!(h.len, 24);
    }

    #[test]
    fn relayed_frame_names_its_source_in_address_3() {
        let h = parse(&data(0x08, 0x02, &[A, B, C])).unwrap();
        assert_eq!(h.transmitter, Some(MacAddr(B)));
        assert_eq!(h.source, Some(MacAddr(C)));
    }

    #[test]
    fn wds_frame_names_its_source_in_address_4() {
        let mut f = data(0x88, 0x03, &[A, B, C, D]);
        f.extend([0, 0]); // QoS control after address 4
        let h = parse(&f).unwrap();
        assert_eq!(
            h.kind,
            Kind::Data {
                qos: true,
                null: false
            }
        );
        assert_eq!(h.source, Some(MacAddr(D)));
        assert_eq!(h.len, 32);
        assert!(parse(&data(0x88, 0x03, &[A, B, C])).is_err());
    }

    #[test]
    fn ack_has_no_transmitter() {
        let mut f = vec![0xd4, 0, 0, 0];
        f.extend(A);
        let h = parse(&f).unwrap();
        assert_eq!(h.transmitter, None);
    }

    #[test]
    fn an_he_trigger_frame_names_its_transmitter() {
        // Control subtype 2 (trigger), then RA, TA and the common info field.
        let mut f = vec![0x24, 0, 0, 0];
        f.extend(A);
        f.extend(B);
        f.extend([0; 8]);
        let h = parse(&f).unwrap();
        assert_eq!(h.kind, Kind::Control { subtype: 2 });
        assert_eq!(h.transmitter, Some(MacAddr(B)));
        assert_eq!(h.len, 16);
    }

    #[test]
    fn a_bandwidth_signalling_ta_is_the_station_s_individual_address() {
        // A VHT RTS: the TA's group bit set to signal the bandwidth.
        let mut signalling = B;
        signalling[0] |= 0x01;
        let mut f = vec![0xb4, 0, 0, 0];
        f.extend(A);
        f.extend(signalling);
        let h = parse(&f).unwrap();
        assert_eq!(h.transmitter, Some(MacAddr(B)));
        // Management and data frames keep address 2 as it is.
        let h = parse(&data(0x08, 0x00, &[A, signalling, C])).unwrap();
        assert_eq!(h.transmitter, Some(MacAddr(signalling)));
    }

    #[test]
    fn probe_requests_and_control_frames_are_not_presence() {
        assert!(!Kind::Management { subtype: 4 }.is_presence());
        assert!(!Kind::Control { subtype: 11 }.is_presence());
        assert!(Kind::Management { subtype: 0 }.is_presence());
        assert!(
            Kind::Data {
                qos: false,
                null: true
            }
            .is_presence()
        );
    }

    #[test]
    fn every_prefix_of_a_frame_fails_cleanly() {
        let f = data(0x88, 0x03, &[A, B, C, D]);
        for n in 0..f.len() + 2 {
            let _ = parse(f.get(..n).unwrap_or(&f));
        }
        assert!(parse(&f[..23]).is_err());
    }
}
