//! Test captures built by the tests themselves: a small pcap writer and builders of radiotap,
//! 802.11, Ethernet, ARP and DHCP frames. No binary blobs from outside.

#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::Path;

pub const DLT_EN10MB: u32 = 1;
pub const DLT_IEEE802_11: u32 = 105;
pub const DLT_RADIOTAP: u32 = 127;

pub const BROADCAST: [u8; 6] = [0xff; 6];

/// Write `frames` (time in µs, bytes) as a classic pcap file of link type `dlt`.
pub fn write_pcap(path: &Path, dlt: u32, frames: &[(u64, Vec<u8>)]) {
    let records: Vec<_> = frames
        .iter()
        .map(|(at, data)| (*at, data.clone(), u32::try_from(data.len()).unwrap()))
        .collect();
    write_pcap_records(path, dlt, &records, &[]);
}

/// Write `records` (time in µs, the captured bytes, the frame's length on the wire) as a
/// classic pcap file of link type `dlt`, then the raw bytes `tail` (e.g. a record cut short).
pub fn write_pcap_records(path: &Path, dlt: u32, records: &[(u64, Vec<u8>, u32)], tail: &[u8]) {
    let mut out = Vec::new();
    out.extend(0xa1b2_c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend(0i32.to_le_bytes());
    out.extend(0u32.to_le_bytes());
    out.extend(65535u32.to_le_bytes());
    out.extend(dlt.to_le_bytes());
    for (at, data, wire_len) in records {
        out.extend(record_header(
            *at,
            u32::try_from(data.len()).unwrap(),
            *wire_len,
        ));
        out.extend(data);
    }
    out.extend(tail);
    std::fs::write(path, out).unwrap();
}

/// A pcap record header: time, captured length, length on the wire.
pub fn record_header(at: u64, caplen: u32, wire_len: u32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend(u32::try_from(at / 1_000_000).unwrap().to_le_bytes());
    h.extend(u32::try_from(at % 1_000_000).unwrap().to_le_bytes());
    h.extend(caplen.to_le_bytes());
    h.extend(wire_len.to_le_bytes());
    h
}

fn finish_radiotap(mut h: Vec<u8>) -> Vec<u8> {
    let len = u16::try_from(h.len()).unwrap();
    h[2..4].copy_from_slice(&len.to_le_bytes());
    h
}

/// Radiotap with Flags and antenna signal.
pub fn rt_simple(flags: u8, signal: i8) -> Vec<u8> {
    let present: u32 = 1 << 1 | 1 << 5;
    let mut h = vec![0, 0, 0, 0];
    h.extend(present.to_le_bytes());
    h.push(flags);
    h.extend(signal.to_le_bytes());
    finish_radiotap(h)
}

/// Radiotap as iwlwifi writes it: three present words (extended bitmaps) in three radiotap
/// namespaces: combined signal first, then one per antenna; TSFT aligned to 8.
pub fn rt_extended(combined: i8, antennas: [i8; 2]) -> Vec<u8> {
    let ext = 1u32 << 31;
    let ns = 1u32 << 29;
    let w0: u32 = 1 | 1 << 1 | 1 << 2 | 1 << 3 | 1 << 5 | 1 << 14 | ns | ext;
    let w1: u32 = 1 << 5 | 1 << 11 | ns | ext;
    let w2: u32 = 1 << 5 | 1 << 11;
    let mut h = vec![0, 0, 0, 0];
    for w in [w0, w1, w2] {
        h.extend(w.to_le_bytes());
    }
    assert_eq!(h.len(), 16);
    h.extend(0x1122_3344_5566_7788u64.to_le_bytes()); // TSFT at 16
    h.push(0); // flags
    h.push(12); // rate
    h.extend([0x85, 0x09, 0xc0, 0x00]); // channel 2437 MHz at 26
    h.extend(combined.to_le_bytes()); // 30
    h.push(0); // pad to 32 for RX flags
    h.extend([0, 0]); // RX flags
    h.extend(antennas[0].to_le_bytes());
    h.push(0); // antenna 0
    h.extend(antennas[1].to_le_bytes());
    h.push(1); // antenna 1
    finish_radiotap(h)
}

/// Radiotap with a vendor namespace between the Flags and the antenna signal.
pub fn rt_vendor(signal: i8) -> Vec<u8> {
    let ext = 1u32 << 31;
    let w0: u32 = 1 << 1 | 1 << 30 | ext; // flags, then a vendor namespace
    let w1: u32 = 0x0000_0007 | 1 << 29 | ext; // vendor bits, then radiotap again
    let w2: u32 = 1 << 5; // antenna signal
    let mut h = vec![0, 0, 0, 0];
    for w in [w0, w1, w2] {
        h.extend(w.to_le_bytes());
    }
    h.push(0); // flags at 16
    h.push(0); // align the vendor header to 2
    h.extend([0x00, 0x11, 0x22, 0x01]); // OUI, sub-namespace
    h.extend(5u16.to_le_bytes()); // skip length
    h.extend([0xde, 0xad, 0xbe, 0xef, 0x99]); // vendor data
    h.extend(signal.to_le_bytes());
    finish_radiotap(h)
}

/// A probe request from `sa`.
pub fn probe_request(sa: [u8; 6]) -> Vec<u8> {
    let mut f = vec![0x40, 0x00, 0, 0];
    f.extend(BROADCAST);
    f.extend(sa);
    f.extend(BROADCAST);
    f.extend([0x10, 0x00]);
    f.extend([0, 0]); // wildcard SSID
    f.extend([1, 4, 0x02, 0x04, 0x0b, 0x16]); // supported rates
    f
}

/// A management frame of subtype `fc0 >> 4` from `sa` (association request 0x00, action 0xd0…).
pub fn management(fc0: u8, da: [u8; 6], sa: [u8; 6], bssid: [u8; 6]) -> Vec<u8> {
    let mut f = vec![fc0, 0x00, 0x3a, 0x01];
    f.extend(da);
    f.extend(sa);
    f.extend(bssid);
    f.extend([0x30, 0x00]);
    f.extend([0x11, 0x04, 0x0a, 0x00]); // capability, listen interval
    f
}

/// A null frame (power-save signalling) from the station `sta` to its AP.
pub fn null_data(ap: [u8; 6], sta: [u8; 6]) -> Vec<u8> {
    data(0x48, 0x11, &[ap, sta, ap], &[])
}

/// A data frame with frame control `fc0 fc1` and addresses 1–3 (4 when both DS bits are set);
/// a QoS control field when the subtype is QoS; `body` after the header.
pub fn data(fc0: u8, fc1: u8, addrs: &[[u8; 6]], body: &[u8]) -> Vec<u8> {
    let mut f = vec![fc0, fc1, 0x2c, 0x00];
    for (i, a) in addrs.iter().enumerate() {
        f.extend(a);
        if i == 2 {
            f.extend([0x20, 0x01]);
        }
    }
    if fc0 & 0x80 != 0 {
        f.extend([0x00, 0x00]);
    }
    f.extend(body);
    f
}

/// An ACK to `ra`.
pub fn ack(ra: [u8; 6]) -> Vec<u8> {
    let mut f = vec![0xd4, 0x00, 0, 0];
    f.extend(ra);
    f
}

/// An RTS from `ta` to `ra`.
pub fn rts(ra: [u8; 6], ta: [u8; 6]) -> Vec<u8> {
    let mut f = vec![0xb4, 0x00, 0, 0];
    f.extend(ra);
    f.extend(ta);
    f
}

pub fn cat(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut v = a.to_vec();
    v.extend(b);
    v
}

/// An Ethernet frame.
pub fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend(dst);
    f.extend(src);
    f.extend(ethertype.to_be_bytes());
    f.extend(payload);
    f
}

/// An ARP packet (Ethernet payload).
pub fn arp(op: u16, sha: [u8; 6], spa: Ipv4Addr, tha: [u8; 6], tpa: Ipv4Addr) -> Vec<u8> {
    let mut p = vec![0, 1, 0x08, 0x00, 6, 4];
    p.extend(op.to_be_bytes());
    p.extend(sha);
    p.extend(spa.octets());
    p.extend(tha);
    p.extend(tpa.octets());
    p
}

/// An IPv4/UDP packet (checksums zero: nothing here verifies them).
pub fn udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = u16::try_from(8 + payload.len()).unwrap();
    let total = 20 + udp_len;
    let mut p = vec![0x45, 0];
    p.extend(total.to_be_bytes());
    p.extend([0, 1, 0, 0, 64, 17, 0, 0]);
    p.extend(src.octets());
    p.extend(dst.octets());
    p.extend(sport.to_be_bytes());
    p.extend(dport.to_be_bytes());
    p.extend(udp_len.to_be_bytes());
    p.extend([0, 0]);
    p.extend(payload);
    p
}

/// A DHCPREQUEST from `chaddr` asking for `requested`.
pub fn dhcp_request(chaddr: [u8; 6], requested: Ipv4Addr) -> Vec<u8> {
    let mut d = vec![1, 1, 6, 0];
    d.extend([0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0]);
    d.extend([0; 16]); // ciaddr, yiaddr, siaddr, giaddr
    d.extend(chaddr);
    d.extend([0; 10 + 64 + 128]);
    d.extend([99, 130, 83, 99]);
    d.extend([53, 1, 3]); // DHCPREQUEST
    d.extend([50, 4]);
    d.extend(requested.octets());
    d.push(255);
    udp(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, 68, 67, &d)
}

/// A DHCP/BOOTP client message from `chaddr`: message type (option 53; `None` for BOOTP,
/// which has no options at all), `ciaddr`, and the requested address (option 50).
pub fn dhcp(
    chaddr: [u8; 6],
    message_type: Option<u8>,
    ciaddr: Ipv4Addr,
    requested: Option<Ipv4Addr>,
) -> Vec<u8> {
    let mut d = vec![1, 1, 6, 0];
    d.extend([0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0]);
    d.extend(ciaddr.octets());
    d.extend([0; 12]); // yiaddr, siaddr, giaddr
    d.extend(chaddr);
    d.extend([0; 10 + 64 + 128]);
    match message_type {
        Some(t) => {
            d.extend([99, 130, 83, 99]);
            d.extend([53, 1, t]);
            if let Some(r) = requested {
                d.extend([50, 4]);
                d.extend(r.octets());
            }
            d.push(255);
        }
        None => d.extend([0; 64]), // BOOTP vendor area
    }
    udp(ciaddr, Ipv4Addr::BROADCAST, 68, 67, &d)
}
