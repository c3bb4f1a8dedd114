//! Splitting an MJPEG byte stream (the stdout of `rpicam-vid --codec mjpeg -o -`) into JPEG
//! frames.
//!
//! The stream is untrusted bytes that arrive in arbitrary pieces, so the splitter walks the
//! JPEG marker structure instead of searching for `FF D9`: it skips segments by their length
//! (an EXIF thumbnail holds its own `FF D8 … FF D9`), scans entropy-coded data for the next
//! real marker (`FF 00` stuffing and `RSTn` are data), and only an `EOI` at marker level ends a
//! frame. Bytes outside any frame are counted and dropped; a frame that breaks the structure,
//! grows past the size limit or is cut off by a new `SOI` is dropped and the splitter resyncs
//! on the next `SOI`. It never indexes out of bounds and never panics.

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Looking for `FF D8`; `buf` holds no frame.
    Seek,
    /// A frame starts at `buf[0]`; a marker is expected at this offset.
    Marker(usize),
    /// Inside entropy-coded data, scanned up to this offset.
    Entropy(usize),
}

/// Incremental MJPEG splitter.
#[derive(Debug)]
pub struct Splitter {
    buf: Vec<u8>,
    state: State,
    max_frame: usize,
    garbage: u64,
    dropped: u64,
}

impl Splitter {
    /// A splitter that drops frames larger than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Splitter {
            buf: Vec::new(),
            state: State::Seek,
            max_frame,
            garbage: 0,
            dropped: 0,
        }
    }

    /// Append bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes dropped so far outside any frame.
    pub fn garbage(&self) -> u64 {
        self.garbage
    }

    /// Frames dropped so far as broken, oversized or truncated.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The stream ended: drop a partial frame, if any. Returns whether one was dropped.
    pub fn finish(&mut self) -> bool {
        let partial = self.state != State::Seek;
        if partial {
            self.dropped += 1;
        } else {
            self.garbage += self.buf.len() as u64;
        }
        self.buf.clear();
        self.state = State::Seek;
        partial
    }

    /// The next complete frame, if the bytes pushed so far hold one.
    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.state {
                State::Seek => {
                    let found = self.buf.windows(2).position(|w| w == [0xFF, SOI]);
                    match found {
                        Some(i) => {
                            self.garbage += i as u64;
                            self.buf.drain(..i);
                            self.state = State::Marker(2);
                        }
                        None => {
                            let keep = usize::from(self.buf.last() == Some(&0xFF));
                            let drop = self.buf.len() - keep;
                            self.garbage += drop as u64;
                            self.buf.drain(..drop);
                            return None;
                        }
                    }
                }
                State::Marker(p) => {
                    let (Some(&ff), Some(&m)) = (self.buf.get(p), self.buf.get(p + 1)) else {
                        return self.wait();
                    };
                    if ff != 0xFF {
                        self.broken();
                        continue;
                    }
                    match m {
                        0xFF => self.state = State::Marker(p + 1),
                        EOI => {
                            let frame: Vec<u8> = self.buf.drain(..p + 2).collect();
                            self.state = State::Seek;
                            return Some(frame);
                        }
                        SOI => {
                            // A new frame began before this one ended.
                            self.dropped += 1;
                            self.buf.drain(..p);
                            self.state = State::Marker(2);
                        }
                        0x01 | 0xD0..=0xD7 => self.state = State::Marker(p + 2),
                        _ => {
                            let (Some(&hi), Some(&lo)) = (self.buf.get(p + 2), self.buf.get(p + 3))
                            else {
                                return self.wait();
                            };
                            let len = usize::from(u16::from_be_bytes([hi, lo]));
                            if len < 2 {
                                self.broken();
                                continue;
                            }
                            let next = p + 2 + len;
                            self.state = if m == SOS {
                                State::Entropy(next)
                            } else {
                                State::Marker(next)
                            };
                        }
                    }
                }
                State::Entropy(p) => {
                    let rest = self.buf.get(p..).unwrap_or(&[]);
                    let Some(i) = rest.iter().position(|&b| b == 0xFF).map(|i| p + i) else {
                        self.state = State::Entropy(p.max(self.buf.len()));
                        return self.wait();
                    };
                    let Some(&next) = self.buf.get(i + 1) else {
                        self.state = State::Entropy(i);
                        return self.wait();
                    };
                    self.state = match next {
                        0x00 | 0xD0..=0xD7 => State::Entropy(i + 2),
                        0xFF => State::Entropy(i + 1),
                        _ => State::Marker(i),
                    };
                }
            }
        }
    }

    /// More bytes are needed; drop the frame if it is already too large.
    fn wait(&mut self) -> Option<Vec<u8>> {
        if self.buf.len() > self.max_frame {
            self.dropped += 1;
            self.buf.clear();
            self.state = State::Seek;
        }
        None
    }

    /// The frame at `buf[0]` is malformed: drop its `SOI` and resync on the next one.
    fn broken(&mut self) {
        self.dropped += 1;
        self.buf.drain(..2.min(self.buf.len()));
        self.state = State::Seek;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small, structurally complete JPEG: SOI, an APP0-like segment, SOS with entropy data
    /// holding stuffed `FF 00` and an `RST0`, EOI. `tag` makes frames distinguishable.
    fn frame(tag: u8) -> Vec<u8> {
        let mut f = vec![0xFF, 0xD8];
        f.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x05, b'J', b'F', tag]);
        f.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x04, 0x01, 0x02]);
        f.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, tag]);
        f.extend_from_slice(&[0xFF, 0xD9]);
        f
    }

    fn split_in_pieces(stream: &[u8], piece: usize) -> (Vec<Vec<u8>>, Splitter) {
        let mut s = Splitter::new(1 << 20);
        let mut out = Vec::new();
        for chunk in stream.chunks(piece) {
            s.push(chunk);
            while let Some(f) = s.next_frame() {
                out.push(f);
            }
        }
        (out, s)
    }

    #[test]
    fn frames_split_across_reads_come_out_whole_at_every_split_point() {
        let stream: Vec<u8> = [frame(1), frame(2), frame(3)].concat();
        for piece in 1..=stream.len() {
            let (out, s) = split_in_pieces(&stream, piece);
            assert_eq!(
                out,
                vec![frame(1), frame(2), frame(3)],
                "piece size {piece}"
            );
            assert_eq!(s.garbage(), 0);
            assert_eq!(s.dropped(), 0);
        }
    }

    #[test]
    fn garbage_between_frames_is_dropped_and_counted() {
        let noise = [0x00, 0xFF, 0x12, 0xFF, 0xFF, 0xD9, 0x77];
        let stream: Vec<u8> = [&noise[..], &frame(1), &noise, &frame(2), &noise].concat();
        for piece in [1, 3, 7, 64] {
            let (out, s) = split_in_pieces(&stream, piece);
            assert_eq!(out, vec![frame(1), frame(2)], "piece size {piece}");
            assert!(s.garbage() >= 14, "{}", s.garbage());
        }
    }

    #[test]
    fn a_truncated_last_frame_is_dropped_at_the_end_of_the_stream() {
        let last = frame(3);
        let stream: Vec<u8> = [&frame(1)[..], &frame(2), &last[..last.len() - 3]].concat();
        let (out, mut s) = split_in_pieces(&stream, 5);
        assert_eq!(out, vec![frame(1), frame(2)]);
        assert!(s.finish());
        assert_eq!(s.dropped(), 1);
        assert!(s.next_frame().is_none());
    }

    #[test]
    fn a_frame_cut_off_by_a_new_soi_is_dropped_and_the_next_one_kept() {
        let cut = frame(1);
        let stream: Vec<u8> = [&cut[..cut.len() - 4], &frame(2)[..]].concat();
        let (out, s) = split_in_pieces(&stream, 4);
        assert_eq!(out, vec![frame(2)]);
        assert_eq!(s.dropped(), 1);
    }

    #[test]
    fn an_eoi_inside_a_segment_does_not_end_the_frame() {
        // An APP1 segment carrying a thumbnail with its own SOI/EOI.
        let mut f = vec![
            0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x08, 0xFF, 0xD8, 0x01, 0x02, 0xFF, 0xD9,
        ];
        f.extend_from_slice(&frame(9)[2..]);
        let (out, _) = split_in_pieces(&f, 3);
        assert_eq!(out, vec![f]);
    }

    #[test]
    fn an_oversized_frame_is_dropped_and_the_splitter_recovers() {
        let mut big = vec![0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02];
        big.extend(std::iter::repeat_n(0x11, 5000));
        let stream: Vec<u8> = [&big[..], &frame(4)].concat();
        let mut s = Splitter::new(1000);
        let mut out = Vec::new();
        for chunk in stream.chunks(100) {
            s.push(chunk);
            while let Some(f) = s.next_frame() {
                out.push(f);
            }
        }
        assert_eq!(out, vec![frame(4)]);
        assert!(s.dropped() >= 1);
    }

    #[test]
    fn malformed_segment_structure_never_panics() {
        let inputs: [&[u8]; 5] = [
            &[0xFF, 0xD8, 0x00],
            &[0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x00],
            &[0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x01, 0xFF, 0xD9],
            &[0xFF, 0xD8, 0xFF, 0xDA, 0xFF, 0xFF, 0xFF],
            &[0xFF],
        ];
        for input in inputs {
            let (out, _) = split_in_pieces(input, 1);
            assert!(out.is_empty());
        }
    }

    #[test]
    fn random_streams_never_panic_and_yield_only_framed_jpegs() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..200 {
            let mut stream = Vec::new();
            for _ in 0..(next() % 12) {
                match next() % 4 {
                    0 => stream.extend_from_slice(&frame((next() % 256) as u8)),
                    // Marker-heavy noise is the hard case.
                    1 => stream.extend(
                        (0..next() % 40)
                            .map(|_| [0xFF, 0xD8, 0xD9, 0xDA, 0x00][(next() % 5) as usize]),
                    ),
                    _ => stream.extend((0..next() % 64).map(|_| next() as u8)),
                }
            }
            let piece = 1 + (next() % 17) as usize;
            let mut s = Splitter::new(4096);
            for chunk in stream.chunks(piece) {
                s.push(chunk);
                while let Some(f) = s.next_frame() {
                    assert!(f.starts_with(&[0xFF, 0xD8]), "round {round}");
                    assert!(f.ends_with(&[0xFF, 0xD9]), "round {round}");
                }
            }
            s.finish();
        }
    }
}
