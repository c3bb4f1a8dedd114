//! Generated pictures for `--sim`: a gradient with a red mark in the top-left corner (so flips
//! are visible), and a frame counter and the local date, time and zone offset drawn along the
//! bottom, so consecutive frames differ. Honours size, rate, quality and flips; `Simulator1.SetFault`
//! breaks it. Only the band holding the counter and clock is encoded per frame
//! ([`super::splice`]); sizes that cannot be spliced are encoded whole.

use super::splice::{MCU_ROWS, Splicer, band};
use super::{FrameSource, Settings, SourceError};
use crate::image::{Rgb, encode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// The generated camera.
#[derive(Debug)]
pub struct SimSource {
    settings: Settings,
    counter: u64,
    next_due: Option<Instant>,
    fault: Arc<Mutex<String>>,
    /// Whether it is open, for `Simulator1.CameraOpen`.
    open: Arc<AtomicBool>,
    /// The unflipped background and its encoded, flipped rows (`None`: encode whole frames).
    spliced: Option<(Rgb, Splicer)>,
}

impl SimSource {
    /// A generated camera with these settings, broken while `fault` is non-empty, setting
    /// `open` while it is open.
    pub fn new(settings: Settings, fault: Arc<Mutex<String>>, open: Arc<AtomicBool>) -> Self {
        SimSource {
            settings,
            counter: 0,
            next_due: None,
            fault,
            open,
            spliced: None,
        }
    }

    /// The frame for `counter` at `secs`, spliced when the size allows it.
    fn picture(&self, counter: u64, secs: u64) -> Result<Vec<u8>, SourceError> {
        let s = &self.settings;
        let Some((bg, splicer)) = &self.spliced else {
            let mut img = compose(s.width, s.height, counter, secs);
            img.flip(s.vflip, s.hflip);
            return Ok(encode(&img, s.quality)?);
        };
        let (y0, h) = overlay_rows(s.height);
        let first = y0 / MCU_ROWS;
        let n = (y0 + h).div_ceil(MCU_ROWS).min(splicer.row_count()) - first;
        let mut strip = band(bg, first, n);
        let scale = scale(s.height);
        text(
            &mut strip,
            &caption(counter, secs),
            2 * scale,
            y0 - first * MCU_ROWS,
            scale,
        );
        strip.flip(s.vflip, s.hflip);
        let at = if s.vflip {
            splicer.row_count() - first - n
        } else {
            first
        };
        Ok(splicer.frame(at, &strip)?)
    }

    fn check(&self) -> Result<(), SourceError> {
        let fault = self.fault.lock().unwrap_or_else(PoisonError::into_inner);
        if fault.is_empty() {
            Ok(())
        } else {
            Err(SourceError::Simulated(fault.clone()))
        }
    }
}

impl FrameSource for SimSource {
    fn backend(&self) -> &'static str {
        "sim"
    }

    fn device(&self) -> String {
        "simulated camera".into()
    }

    fn open(&mut self) -> Result<(u32, u32), SourceError> {
        self.check()?;
        self.next_due = None;
        let s = &self.settings;
        if self.spliced.is_none() {
            let bg = background(s.width, s.height);
            let mut flipped = bg.clone();
            flipped.flip(s.vflip, s.hflip);
            self.spliced = Splicer::new(&flipped, s.quality)?.map(|sp| (bg, sp));
        }
        self.open.store(true, Ordering::SeqCst);
        Ok((s.width, s.height))
    }

    fn next_frame(&mut self) -> Result<Vec<u8>, SourceError> {
        let now = Instant::now();
        let due = self.next_due.unwrap_or(now);
        if due > now {
            std::thread::sleep(due - now);
        }
        self.next_due = Some(due.max(now) + self.settings.period());
        self.check()?;
        self.counter += 1;
        let secs = secura_bus::types::now_micros() / 1_000_000;
        self.picture(self.counter, secs)
    }

    fn close(&mut self) {
        self.open.store(false, Ordering::SeqCst);
    }
}

/// The still part of every frame: a gradient, and a red mark in the top-left corner.
fn background(width: u32, height: u32) -> Rgb {
    let mut img = Rgb::new(width, height);
    for y in 0..height {
        for x in 0..width {
            let r = (x * 255 / width.max(1)) as u8;
            let g = (y * 255 / height.max(1)) as u8;
            img.put(x, y, [r / 2, g / 2, 96]);
        }
    }
    let mark = (width.min(height) / 8).max(2);
    fill(&mut img, 0, 0, mark, mark, [255, 0, 0]);
    img
}

/// The size of a glyph's pixel.
fn scale(height: u32) -> u32 {
    (height / 96).max(1)
}

/// Where the counter and the clock go: first pixel row and height.
fn overlay_rows(height: u32) -> (u32, u32) {
    let scale = scale(height);
    (height.saturating_sub(8 * scale), 5 * scale)
}

/// `000123 2026-12-02 14:02:31 +01:00`: the frame number and the local date, time and zone
/// offset of Unix time `secs`.
fn caption(counter: u64, secs: u64) -> String {
    let stamp = secura_kit::time::stamp(secs.saturating_mul(1_000_000));
    format!("{counter:06} {stamp}")
}

/// Frame number `counter` at Unix time `secs`, unflipped.
fn compose(width: u32, height: u32, counter: u64, secs: u64) -> Rgb {
    let mut img = background(width, height);
    let (y0, _) = overlay_rows(height);
    let scale = scale(height);
    text(&mut img, &caption(counter, secs), 2 * scale, y0, scale);
    img
}

fn fill(img: &mut Rgb, x0: u32, y0: u32, w: u32, h: u32, rgb: [u8; 3]) {
    for y in y0..y0.saturating_add(h).min(img.height) {
        for x in x0..x0.saturating_add(w).min(img.width) {
            img.put(x, y, rgb);
        }
    }
}

/// 3×5 glyphs for digits, ':', '-' and '+', one row per byte, high bit on the left.
fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        ':' => [0b000, 0b010, 0b000, 0b010, 0b000],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        '+' => [0b000, 0b010, 0b111, 0b010, 0b000],
        _ => [0; 5],
    }
}

fn text(img: &mut Rgb, s: &str, x0: u32, y0: u32, scale: u32) {
    let cell = 4 * scale;
    for (i, c) in (0u32..).zip(s.chars()) {
        for (row, bits) in (0u32..).zip(glyph(c)) {
            for col in 0..3u32 {
                if bits & (0b100 >> col) != 0 {
                    let x = x0 + i * cell + col * scale;
                    fill(img, x, y0 + row * scale, scale, scale, [255, 255, 0]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::decode;

    fn settings(vflip: bool, hflip: bool) -> Settings {
        Settings {
            width: 160,
            height: 120,
            fps: 30,
            quality: 90,
            vflip,
            hflip,
        }
    }

    #[test]
    fn consecutive_frames_differ_and_have_the_configured_size() {
        let mut cam = SimSource::new(settings(false, false), Arc::default(), Arc::default());
        assert_eq!(cam.open().unwrap(), (160, 120));
        let a = decode(&cam.next_frame().unwrap()).unwrap();
        let b = decode(&cam.next_frame().unwrap()).unwrap();
        assert_eq!((a.width, a.height), (160, 120));
        assert_ne!(a.data, b.data);
    }

    #[test]
    fn flips_move_the_red_mark_to_the_opposite_corner() {
        let mut cam = SimSource::new(settings(true, true), Arc::default(), Arc::default());
        cam.open().unwrap();
        let img = decode(&cam.next_frame().unwrap()).unwrap();
        let [r, g, b] = img.get(157, 117);
        assert!(r > 200 && g < 60 && b < 60, "{:?}", [r, g, b]);
        let [r, _, _] = img.get(2, 2);
        assert!(r < 200);
    }

    #[test]
    fn spliced_frames_show_the_picture_a_whole_encode_shows() {
        let s = Settings {
            width: 320,
            height: 240,
            fps: 30,
            quality: 85,
            vflip: true,
            hflip: false,
        };
        let mut cam = SimSource::new(s, Arc::default(), Arc::default());
        cam.open().unwrap();
        assert!(cam.spliced.is_some(), "320×240 is whole MCU rows");
        let spliced = decode(&cam.picture(42, 3723).unwrap()).unwrap();
        let mut whole = compose(320, 240, 42, 3723);
        whole.flip(true, false);
        let whole = decode(&encode(&whole, 85).unwrap()).unwrap();
        let mut worst = 0;
        for (a, b) in spliced.data.iter().zip(&whole.data) {
            worst = worst.max(a.abs_diff(*b));
        }
        // Two encodes of one picture differ by rounding, never by content.
        assert!(worst < 40, "largest difference {worst}");
        // The caption (yellow) sits at the top once flipped top-bottom.
        let (y0, h) = overlay_rows(240);
        let row = 240 - (y0 + h / 2);
        let yellow = (0..320).any(|x| {
            let [r, g, b] = spliced.get(x, row);
            r > 200 && g > 200 && b < 100
        });
        assert!(yellow);
    }

    #[test]
    fn the_overlay_carries_date_time_and_zone_and_fits_the_smallest_frame() {
        let c = caption(42, 1_764_680_551);
        let (counter, stamp) = c.split_once(' ').unwrap();
        assert_eq!(counter, "000042");
        // `2026-12-02 14:02:31 +01:00` in whatever zone the system has.
        let parts: Vec<&str> = stamp.split(' ').collect();
        assert_eq!(parts.len(), 3, "{c}");
        assert_eq!(parts[0].len(), 10, "{c}");
        assert!(parts[0].starts_with("2025-12-0"), "{c}");
        assert!(parts[1].ends_with(":31"), "{c}");
        assert!(
            parts[2].starts_with('+') || parts[2].starts_with('-'),
            "{c}"
        );
        assert!(c.chars().all(|ch| glyph(ch) != [0; 5] || ch == ' '), "{c}");
        // Every glyph lands inside a 160-pixel-wide frame.
        let cells = u32::try_from(c.chars().count()).unwrap();
        assert!(2 * scale(120) + cells * 4 * scale(120) <= 160, "{c}");
    }

    #[test]
    fn a_fault_fails_frames_and_opening_until_cleared() {
        let fault = Arc::new(Mutex::new(String::new()));
        let mut cam = SimSource::new(settings(false, false), Arc::clone(&fault), Arc::default());
        cam.open().unwrap();
        *fault.lock().unwrap() = "lens cap".into();
        assert!(matches!(cam.next_frame(), Err(SourceError::Simulated(m)) if m == "lens cap"));
        assert!(cam.open().is_err());
        fault.lock().unwrap().clear();
        assert!(cam.open().is_ok());
    }
}
