//! A generated monitor-mode capture for the sniffer benchmark: a classic pcap file of
//! radiotap + 802.11 frames with the mix a busy home Wi-Fi channel shows — beacons, probe
//! requests with random addresses, probe responses, (QoS) data both ways, null frames, RTS,
//! CTS, ACK, block acks, a few frames with a bad FCS and a few truncated ones — among which a
//! few configured phones transmit. Deterministic for a given seed; frames are cut at the
//! daemon's snap length as a live capture would cut them.

use std::io::{self, BufWriter, Write};
use std::path::Path;

/// The daemon's snap length (sniffer/src/capture.rs): longer frames are cut here.
pub const SNAPLEN: usize = 512;
/// pcap `DLT_IEEE802_11_RADIO`.
const DLT_RADIOTAP: u32 = 127;

/// The kinds of frame in the mix, with their share in thousandths.
const MIX: &[(Kind, u32)] = &[
    (Kind::Beacon, 150),
    (Kind::ProbeRequest, 60),
    (Kind::ProbeResponse, 30),
    (Kind::DataToAp, 300),
    (Kind::DataFromAp, 200),
    (Kind::Null, 40),
    (Kind::QosNull, 30),
    (Kind::Rts, 40),
    (Kind::Cts, 40),
    (Kind::Ack, 80),
    (Kind::BlockAck, 25),
    (Kind::BadFcs, 3),
    (Kind::Truncated, 2),
];

/// A kind of generated frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An access point's beacon.
    Beacon,
    /// A scanning station's probe request, from a random (locally administered) address.
    ProbeRequest,
    /// An access point's answer to a probe.
    ProbeResponse,
    /// Protected QoS data from a station to its access point.
    DataToAp,
    /// Protected QoS data relayed by the access point (source in address 3).
    DataFromAp,
    /// A null frame (power-save signalling).
    Null,
    /// A QoS null frame.
    QosNull,
    /// Request to send.
    Rts,
    /// Clear to send (no transmitter address).
    Cts,
    /// Acknowledgement (no transmitter address).
    Ack,
    /// Block acknowledgement.
    BlockAck,
    /// A data frame the driver flags as failing its FCS check.
    BadFcs,
    /// A frame cut inside its 802.11 header.
    Truncated,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Number of frames.
    pub frames: usize,
    /// The configured phones; they are among the stations.
    pub phones: Vec<[u8; 6]>,
    /// Other stations associated with the access points.
    pub stations: usize,
    /// Access points.
    pub access_points: usize,
    /// Seed of the generator.
    pub seed: u64,
}

/// What was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Generated {
    /// Frames written.
    pub frames: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// Frames transmitted (address 2) or originated (address 3 of relayed data) by a phone.
    pub from_phones: u64,
}

/// A small deterministic generator (xorshift64*): the same seed gives the same capture.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        let i = usize::try_from(self.below(items.len() as u64)).ok()?;
        items.get(i)
    }
    fn mac(&mut self, oui: [u8; 3]) -> [u8; 6] {
        let b = self.next().to_le_bytes();
        [oui[0], oui[1], oui[2], b[0], b[1], b[2]]
    }
}

/// Write the capture described by `spec` to `path`.
pub fn write(path: &Path, spec: &Spec) -> io::Result<Generated> {
    let mut rng = Rng(spec.seed | 1);
    let aps: Vec<[u8; 6]> = (0..spec.access_points.max(1))
        .map(|_| rng.mac([0x3c, 0x84, 0x6a]))
        .collect();
    let mut stations: Vec<[u8; 6]> = (0..spec.stations)
        .map(|_| rng.mac([0x8c, 0x85, 0x90]))
        .collect();
    stations.extend(&spec.phones);
    let total: u32 = MIX.iter().map(|(_, w)| w).sum();

    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    write_header(&mut out)?;
    let mut made = Generated {
        bytes: 24,
        ..Generated::default()
    };
    let mut at: u64 = 1_798_761_600_000_000; // 2027-01-01, µs
    let mut frame = Vec::with_capacity(2048);
    for seq in 0..spec.frames {
        let mut roll = u32::try_from(rng.below(u64::from(total))).unwrap_or(0);
        let kind = MIX
            .iter()
            .find(|(_, w)| {
                if roll < *w {
                    true
                } else {
                    roll -= w;
                    false
                }
            })
            .map_or(Kind::Ack, |(k, _)| *k);
        let ap = *rng.pick(&aps).unwrap_or(&[0; 6]);
        let sta = *rng.pick(&stations).unwrap_or(&[0; 6]);
        frame.clear();
        let fcs = rng.below(4) == 0;
        radiotap(&mut frame, &mut rng, fcs, kind == Kind::BadFcs);
        let orig = build(&mut frame, &mut rng, kind, ap, sta, seq);
        if fcs {
            frame.extend(rng.next().to_le_bytes().get(..4).unwrap_or(&[0; 4]));
        }
        let full_len = frame.len() + orig;
        let kept = frame.len().min(SNAPLEN);
        if spec.phones.contains(&sta) && kind_names_station(kind) {
            made.from_phones += 1;
        }
        at += 20 + rng.below(160);
        write_record(&mut out, at, frame.get(..kept).unwrap_or(&frame), full_len)?;
        made.frames += 1;
        made.bytes += 16 + kept as u64;
    }
    out.flush()?;
    Ok(made)
}

/// Whether a frame of `kind` built for station `sta` names it as transmitter or source.
fn kind_names_station(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::DataToAp | Kind::DataFromAp | Kind::Null | Kind::QosNull | Kind::Rts | Kind::BlockAck
    )
}

fn write_header(out: &mut impl Write) -> io::Result<()> {
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&0i32.to_le_bytes())?;
    out.write_all(&0u32.to_le_bytes())?;
    out.write_all(&(SNAPLEN as u32).to_le_bytes())?;
    out.write_all(&DLT_RADIOTAP.to_le_bytes())
}

fn write_record(out: &mut impl Write, at: u64, data: &[u8], orig_len: usize) -> io::Result<()> {
    let secs = u32::try_from(at / 1_000_000).unwrap_or(u32::MAX);
    let usecs = u32::try_from(at % 1_000_000).unwrap_or(0);
    out.write_all(&secs.to_le_bytes())?;
    out.write_all(&usecs.to_le_bytes())?;
    out.write_all(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_le_bytes())?;
    out.write_all(&u32::try_from(orig_len).unwrap_or(u32::MAX).to_le_bytes())?;
    out.write_all(data)
}

/// A radiotap header: half the frames with the short layout many drivers use (flags, rate,
/// channel, signal, RX flags), half with iwlwifi's three namespaces (TSFT aligned to 8, a
/// combined signal, then one per antenna).
fn radiotap(f: &mut Vec<u8>, rng: &mut Rng, fcs: bool, bad_fcs: bool) {
    let flags = (u8::from(fcs) * 0x10) | (u8::from(bad_fcs) * 0x40);
    let signal = (-30 - i8::try_from(rng.below(60)).unwrap_or(0)).to_le_bytes();
    let chan = [0x6c, 0x09, 0xa0, 0x00]; // 2412 MHz, 2 GHz | CCK
    if rng.below(2) == 0 {
        let present: u32 = 1 << 1 | 1 << 2 | 1 << 3 | 1 << 5 | 1 << 14;
        f.extend([0, 0, 18, 0]);
        f.extend(present.to_le_bytes());
        f.extend([flags, 0x0c]);
        f.extend(chan);
        f.extend(signal);
        f.push(0); // pad to 2
        f.extend([0, 0]);
    } else {
        let (ext, ns) = (1u32 << 31, 1u32 << 29);
        let w0: u32 = 1 | 1 << 1 | 1 << 2 | 1 << 3 | 1 << 5 | 1 << 14 | ns | ext;
        let w1: u32 = 1 << 5 | 1 << 11 | ns | ext;
        let w2: u32 = 1 << 5 | 1 << 11;
        f.extend([0, 0, 38, 0]);
        for w in [w0, w1, w2] {
            f.extend(w.to_le_bytes());
        }
        f.extend(rng.next().to_le_bytes()); // TSFT at 16
        f.extend([flags, 0x0c]);
        f.extend(chan);
        f.extend(signal);
        f.push(0);
        f.extend([0, 0]); // RX flags at 32
        f.extend([signal[0], 0, signal[0], 1]);
    }
}

const BROADCAST: [u8; 6] = [0xff; 6];

/// Append the 802.11 frame of `kind`; returns how many bytes of body were left out (the
/// frame's original length beyond what is built here).
fn build(
    f: &mut Vec<u8>,
    rng: &mut Rng,
    kind: Kind,
    ap: [u8; 6],
    sta: [u8; 6],
    seq: usize,
) -> usize {
    let sc = u16::try_from((seq << 4) & 0xfff0)
        .unwrap_or(0)
        .to_le_bytes();
    let header = |f: &mut Vec<u8>, fc: [u8; 2], a1: [u8; 6], a2: [u8; 6], a3: [u8; 6]| {
        f.extend(fc);
        f.extend([0x3a, 0x01]);
        f.extend(a1);
        f.extend(a2);
        f.extend(a3);
        f.extend(sc);
    };
    match kind {
        Kind::Beacon | Kind::ProbeResponse => {
            let (fc, a1) = if kind == Kind::Beacon {
                ([0x80, 0], BROADCAST)
            } else {
                ([0x50, 0], sta)
            };
            header(f, fc, a1, ap, ap);
            f.extend(rng.next().to_le_bytes()); // timestamp
            f.extend([0x64, 0x00, 0x11, 0x04]); // interval, capabilities
            let ssid = b"HomeNetwork-5G";
            f.extend([0, ssid.len() as u8]);
            f.extend(ssid);
            f.extend([1, 8, 0x82, 0x84, 0x8b, 0x96, 0x0c, 0x12, 0x18, 0x24]);
            f.extend([3, 1, 6]);
            f.extend([5, 4, 0, 1, 0, 0]);
            f.extend([0x30, 20]); // RSN
            f.extend([1; 20]);
            f.extend([0x2d, 26]); // HT capabilities
            f.extend([0; 26]);
            f.extend([0x3d, 22]); // HT operation
            f.extend([0; 22]);
            f.extend([0xdd, 24, 0x00, 0x50, 0xf2, 0x02]); // WMM
            f.extend([0; 20]);
            0
        }
        Kind::ProbeRequest => {
            let random = rng.mac([0xda, 0xa1, 0x19]);
            header(f, [0x40, 0], BROADCAST, random, BROADCAST);
            f.extend([0, 0]);
            f.extend([1, 8, 0x02, 0x04, 0x0b, 0x16, 0x0c, 0x12, 0x18, 0x24]);
            f.extend([0x2d, 26]);
            f.extend([0; 26]);
            f.extend([0x7f, 8, 0, 0, 0x0a, 0x02, 0, 0, 0, 0x40]);
            0
        }
        Kind::DataToAp | Kind::DataFromAp | Kind::BadFcs => {
            let (fc1, a1, a2, a3) = if kind == Kind::DataFromAp {
                (0x42, BROADCAST, ap, sta)
            } else {
                (0x41, ap, sta, rng.mac([0x00, 0x11, 0x32]))
            };
            header(f, [0x88, fc1], a1, a2, a3);
            f.extend([0, 0]); // QoS control
            f.extend(rng.next().to_le_bytes()); // CCMP header
            let body = if rng.below(2) == 0 {
                40 + rng.below(160)
            } else {
                600 + rng.below(900)
            };
            let body = usize::try_from(body).unwrap_or(0);
            let kept = body.min(SNAPLEN);
            f.resize(f.len() + kept, 0xa5);
            body - kept
        }
        Kind::Null | Kind::QosNull => {
            let fc0 = if kind == Kind::Null { 0x48 } else { 0xc8 };
            header(f, [fc0, 0x11], ap, sta, ap);
            if kind == Kind::QosNull {
                f.extend([0, 0]);
            }
            0
        }
        Kind::Rts | Kind::BlockAck => {
            let fc0 = if kind == Kind::Rts { 0xb4 } else { 0x94 };
            f.extend([fc0, 0, 0x3a, 0x01]);
            f.extend(ap);
            f.extend(sta);
            if kind == Kind::BlockAck {
                f.extend([0x05, 0x00, 0x10, 0x00]);
                f.extend([0xff; 8]);
            }
            0
        }
        Kind::Cts | Kind::Ack => {
            let fc0 = if kind == Kind::Cts { 0xc4 } else { 0xd4 };
            f.extend([fc0, 0, 0, 0]);
            f.extend(sta);
            0
        }
        Kind::Truncated => {
            f.extend([0x88, 0x41, 0x3a, 0x01]);
            f.extend(ap.get(..3).unwrap_or(&[]));
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secura_sniffer::parse::MacAddr;
    use secura_sniffer::pipeline::{self, LinkType};

    const PHONE: [u8; 6] = [0xa4, 0x5e, 0x60, 0x12, 0x34, 0x56];

    #[test]
    fn every_frame_decodes_as_the_sniffer_reads_it_except_the_broken_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.pcap");
        let spec = Spec {
            frames: 20_000,
            phones: vec![PHONE],
            stations: 10,
            access_points: 2,
            seed: 7,
        };
        let made = write(&path, &spec).unwrap();
        assert_eq!(made.frames, 20_000);
        assert_eq!(made.bytes, std::fs::metadata(&path).unwrap().len());
        let mut cap = pcap::Capture::from_file(&path).unwrap();
        let (mut n, mut bad, mut phone) = (0u64, 0u64, 0u64);
        while let Ok(p) = cap.next_packet() {
            n += 1;
            assert!(p.data.len() <= SNAPLEN);
            let d = pipeline::decode(LinkType::Radiotap, p.data);
            if d.problem.is_some() {
                bad += 1;
            } else if d.stations.iter().any(|h| h.mac == MacAddr(PHONE)) {
                phone += 1;
            }
        }
        assert_eq!(n, 20_000);
        // About 0.5% are broken on purpose (bad FCS, truncated).
        assert!(bad > 20 && bad < 250, "{bad} malformed");
        assert_eq!(phone, made.from_phones);
        assert!(phone > 100, "{phone} frames from the phone");
    }

    #[test]
    fn the_same_seed_gives_the_same_capture() {
        let dir = tempfile::tempdir().unwrap();
        let spec = Spec {
            frames: 500,
            phones: vec![PHONE],
            stations: 5,
            access_points: 1,
            seed: 42,
        };
        write(&dir.path().join("a"), &spec).unwrap();
        write(&dir.path().join("b"), &spec).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("a")).unwrap(),
            std::fs::read(dir.path().join("b")).unwrap()
        );
    }
}
