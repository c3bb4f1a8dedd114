//! Ethernet II frames (with 802.1Q tags), ARP for IPv4 over Ethernet (RFC 826), and just
//! enough IPv4/UDP/DHCP (RFC 2131/2132) to learn which address a phone uses.

use super::{MacAddr, ParseError, Reader};
use std::net::Ipv4Addr;

/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;

/// ARP operation: request.
pub const ARP_REQUEST: u16 = 1;
/// ARP operation: reply.
pub const ARP_REPLY: u16 = 2;

/// An Ethernet frame's addresses and what the sniffer understood of its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Destination.
    pub dst: MacAddr,
    /// Source: the station that sent the frame.
    pub src: MacAddr,
    /// EtherType after any VLAN tags.
    pub ethertype: u16,
    /// The payload, when it is one the sniffer reads.
    pub payload: Payload,
}

/// What a frame carries, as far as presence is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// ARP.
    Arp(Arp),
    /// A DHCP (or BOOTP) message from a client, with the address it holds.
    Dhcp {
        /// The client's hardware address (`chaddr`).
        client: MacAddr,
        /// The address the client holds, when the message says: `ciaddr`, else the requested
        /// address (option 50), of a DHCPREQUEST or DHCPINFORM, and `ciaddr` of a BOOTP
        /// request. A DISCOVER's requested address is only a wish (the client holds no lease),
        /// a DECLINE's and a RELEASE's are given up: `None`.
        ip: Option<Ipv4Addr>,
    },
    /// A payload the frame announces but that cannot be read (ARP that is not IPv4 over
    /// Ethernet or is cut short, a third VLAN tag): counted malformed, yet the Ethernet source
    /// is intact and the frame is still a sighting.
    Unreadable(ParseError),
    /// Anything else (or an IPv4 payload too short to read: the frame still counts).
    Other,
}

/// An ARP packet for IPv4 over Ethernet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    /// [`ARP_REQUEST`] or [`ARP_REPLY`] (others are kept as they are).
    pub op: u16,
    /// Sender hardware address.
    pub sha: MacAddr,
    /// Sender protocol address (0.0.0.0 in an address probe).
    pub spa: Ipv4Addr,
    /// Target hardware address.
    pub tha: MacAddr,
    /// Target protocol address.
    pub tpa: Ipv4Addr,
}

/// Parse an Ethernet frame.
pub fn parse(frame: &[u8]) -> Result<Frame, ParseError> {
    let mut r = Reader::new(frame);
    let dst = r.mac().ok_or(ParseError::Truncated("Ethernet header"))?;
    let src = r.mac().ok_or(ParseError::Truncated("Ethernet header"))?;
    let mut ethertype = r.u16_be().ok_or(ParseError::Truncated("Ethernet header"))?;
    let mut tags = 0;
    let mut unreadable = None;
    while ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
        tags += 1;
        if tags > 2 {
            unreadable = Some(ParseError::Invalid("more than two VLAN tags"));
            break;
        }
        match r.skip(2).and_then(|_| r.u16_be()) {
            Some(t) => ethertype = t,
            None => {
                unreadable = Some(ParseError::Truncated("VLAN tag"));
                break;
            }
        }
    }
    let payload = match (unreadable, ethertype) {
        (Some(e), _) => Payload::Unreadable(e),
        (None, ETHERTYPE_ARP) => match parse_arp(r.rest()) {
            Ok(a) => Payload::Arp(a),
            Err(e) => Payload::Unreadable(e),
        },
        (None, ETHERTYPE_IPV4) => parse_dhcp(r.rest()).unwrap_or(Payload::Other),
        _ => Payload::Other,
    };
    Ok(Frame {
        dst,
        src,
        ethertype,
        payload,
    })
}

/// Parse an ARP packet (the Ethernet payload).
pub fn parse_arp(data: &[u8]) -> Result<Arp, ParseError> {
    let mut r = Reader::new(data);
    let t = ParseError::Truncated("ARP packet");
    let htype = r.u16_be().ok_or(t)?;
    let ptype = r.u16_be().ok_or(t)?;
    let hlen = r.u8().ok_or(t)?;
    let plen = r.u8().ok_or(t)?;
    if htype != 1 || ptype != ETHERTYPE_IPV4 || hlen != 6 || plen != 4 {
        return Err(ParseError::Invalid("ARP is not IPv4 over Ethernet"));
    }
    Ok(Arp {
        op: r.u16_be().ok_or(t)?,
        sha: r.mac().ok_or(t)?,
        spa: r.ipv4().ok_or(t)?,
        tha: r.mac().ok_or(t)?,
        tpa: r.ipv4().ok_or(t)?,
    })
}

/// A DHCP client message inside an IPv4 packet; `None` for anything else.
fn parse_dhcp(ip: &[u8]) -> Option<Payload> {
    let mut r = Reader::new(ip);
    let vihl = r.u8()?;
    if vihl >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(vihl & 0x0f) * 4;
    r.skip(5)?; // tos, total length, identification
    let frag = r.u16_be()?;
    r.skip(1)?; // ttl
    let proto = r.u8()?;
    if proto != 17 || frag & 0x1fff != 0 || ihl < 20 {
        return None;
    }
    let mut r = Reader::new(ip.get(ihl..)?);
    let sport = r.u16_be()?;
    let dport = r.u16_be()?;
    if sport != 68 || dport != 67 {
        return None;
    }
    r.skip(4)?; // length, checksum
    let mut b = r.clone();
    let op = b.u8()?;
    let htype = b.u8()?;
    let hlen = b.u8()?;
    if op != 1 || htype != 1 || hlen != 6 {
        return None;
    }
    b.skip(1 + 4 + 2 + 2)?; // hops, xid, secs, flags
    let ciaddr = b.ipv4()?;
    b.skip(4 + 4 + 4)?; // yiaddr, siaddr, giaddr
    let client = b.mac()?;
    b.skip(10 + 64 + 128)?; // chaddr padding, sname, file
    let ciaddr = Some(ciaddr).filter(|a| !a.is_unspecified());
    // Without the magic cookie (or its options), a BOOTP request.
    let options = match b.bytes(4) {
        Some([99, 130, 83, 99]) => dhcp_options(b.rest()),
        _ => DhcpOptions::default(),
    };
    let ip = match options.message_type {
        None => ciaddr,
        Some(DHCPREQUEST | DHCPINFORM) => ciaddr.or(options.requested),
        Some(_) => None,
    };
    Some(Payload::Dhcp { client, ip })
}

/// DHCP message type (option 53): a client asks for an offered or held address.
const DHCPREQUEST: u8 = 3;
/// DHCP message type: a client with an address configured by other means asks for options.
const DHCPINFORM: u8 = 8;

/// The DHCP options the sniffer reads.
#[derive(Debug, Default, Clone, Copy)]
struct DhcpOptions {
    /// Option 53.
    message_type: Option<u8>,
    /// Option 50, when not 0.0.0.0.
    requested: Option<Ipv4Addr>,
}

/// Options 53 (message type) and 50 (requested IP address), up to the end option or the
/// first option cut short.
fn dhcp_options(options: &[u8]) -> DhcpOptions {
    let mut out = DhcpOptions::default();
    let mut r = Reader::new(options);
    loop {
        let Some(code) = r.u8() else { return out };
        match code {
            0 => continue,
            255 => return out,
            code => {
                let Some(value) = r.u8().and_then(|len| r.bytes(usize::from(len))) else {
                    return out;
                };
                match (code, value) {
                    (53, [t]) => out.message_type = Some(*t),
                    (50, [a, b, c, d]) => {
                        out.requested =
                            Some(Ipv4Addr::new(*a, *b, *c, *d)).filter(|a| !a.is_unspecified());
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Build an Ethernet frame carrying an ARP packet.
pub fn build_arp(eth_dst: MacAddr, eth_src: MacAddr, arp: &Arp) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend(eth_dst.0);
    f.extend(eth_src.0);
    f.extend(ETHERTYPE_ARP.to_be_bytes());
    f.extend(1u16.to_be_bytes());
    f.extend(ETHERTYPE_IPV4.to_be_bytes());
    f.extend([6, 4]);
    f.extend(arp.op.to_be_bytes());
    f.extend(arp.sha.0);
    f.extend(arp.spa.octets());
    f.extend(arp.tha.0);
    f.extend(arp.tpa.octets());
    // Pad to the 60-byte minimum (the NIC adds the FCS).
    f.resize(60, 0);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHONE: MacAddr = MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
    const PI: MacAddr = MacAddr([0xb8, 0x27, 0xeb, 1, 2, 3]);

    #[test]
    fn arp_round_trips_through_build_and_parse() {
        let arp = Arp {
            op: ARP_REPLY,
            sha: PHONE,
            spa: Ipv4Addr::new(192, 168, 1, 23),
            tha: PI,
            tpa: Ipv4Addr::new(192, 168, 1, 2),
        };
        let f = parse(&build_arp(PI, PHONE, &arp)).unwrap();
        assert_eq!(f.src, PHONE);
        assert_eq!(f.payload, Payload::Arp(arp));
    }

    #[test]
    fn vlan_tagged_arp_is_read_through_the_tag() {
        let arp = Arp {
            op: ARP_REQUEST,
            sha: PHONE,
            spa: Ipv4Addr::new(10, 0, 0, 5),
            tha: MacAddr([0; 6]),
            tpa: Ipv4Addr::new(10, 0, 0, 1),
        };
        let plain = build_arp(PI, PHONE, &arp);
        let mut tagged = plain[..12].to_vec();
        tagged.extend([0x81, 0x00, 0x00, 0x05]);
        tagged.extend(&plain[12..]);
        assert_eq!(parse(&tagged).unwrap().payload, Payload::Arp(arp));
    }

    #[test]
    fn truncated_arp_is_an_error_not_a_panic() {
        let f = build_arp(
            PI,
            PHONE,
            &Arp {
                op: ARP_REPLY,
                sha: PHONE,
                spa: Ipv4Addr::new(1, 2, 3, 4),
                tha: PI,
                tpa: Ipv4Addr::new(1, 2, 3, 5),
            },
        );
        for n in 0..14 {
            assert!(parse(&f[..n]).is_err(), "prefix {n} parsed");
        }
        // The Ethernet header is whole: the source stands, the ARP is unreadable.
        for n in 14..42 {
            let frame = parse(&f[..n]).unwrap();
            assert_eq!(frame.src, PHONE);
            assert_eq!(
                frame.payload,
                Payload::Unreadable(ParseError::Truncated("ARP packet")),
                "prefix {n}"
            );
        }
        assert!(matches!(parse(&f[..42]).unwrap().payload, Payload::Arp(_)));
    }
}
