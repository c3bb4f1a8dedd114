//! Frames that re-encode only what changed. The simulated camera's picture is a still
//! background with a counter and a clock drawn on it; encoding all of it twice a second was
//! the bench's hot spot, not the daemon. So the background is encoded once with a restart
//! marker after every row of MCUs, which makes each row's entropy-coded data independent
//! (the DC predictors restart), and a frame re-encodes only the band of rows holding the
//! overlay and splices it between the cached rows. The result is an ordinary baseline JPEG.
//!
//! Splicing is byte-exact only if the band is encoded with the very tables of the background:
//! [`Splicer::new`] proves that by re-encoding the first row alone and comparing, and declines
//! (the caller then encodes whole frames) when it does not hold or the height is not a whole
//! number of MCU rows.

use crate::image::{ImageError, Rgb};

/// Rows of pixels in one MCU row (4:2:0 sampling).
pub const MCU_ROWS: u32 = 16;

/// The background, encoded and cut into its MCU rows.
#[derive(Debug)]
pub struct Splicer {
    /// Everything up to and including the start-of-scan segment.
    header: Vec<u8>,
    /// Each MCU row's entropy-coded bytes, without its restart marker.
    rows: Vec<Vec<u8>>,
    width: u32,
    quality: u8,
}

impl Splicer {
    /// Encode `background` for splicing; `None` when splicing cannot be exact for it.
    pub fn new(background: &Rgb, quality: u8) -> Result<Option<Splicer>, ImageError> {
        if background.height == 0 || !background.height.is_multiple_of(MCU_ROWS) {
            return Ok(None);
        }
        let (header, rows) = match split(&encode_rows(background, quality)?) {
            Some(parts) => parts,
            None => return Ok(None),
        };
        if rows.len() != (background.height / MCU_ROWS) as usize {
            return Ok(None);
        }
        let splicer = Splicer {
            header,
            rows,
            width: background.width,
            quality,
        };
        // The first row encoded on its own must be the cached first row to the byte.
        let first = band(background, 0, 1);
        let (band_header, band_rows) = match split(&encode_rows(&first, quality)?) {
            Some(parts) => parts,
            None => return Ok(None),
        };
        let same_tables = tables(&band_header) == tables(&splicer.header);
        if !same_tables || band_rows.first() != splicer.rows.first() {
            return Ok(None);
        }
        Ok(Some(splicer))
    }

    /// MCU rows in the picture.
    pub fn row_count(&self) -> u32 {
        self.rows.len() as u32
    }

    /// The background with `overlay` (a band `MCU_ROWS × n` pixels high and as wide as the
    /// background) in place of the MCU rows from `first_row`.
    pub fn frame(&self, first_row: u32, overlay: &Rgb) -> Result<Vec<u8>, ImageError> {
        let encoded = encode_rows(overlay, self.quality)?;
        let fresh = match split(&encoded) {
            Some((_, rows)) if overlay.width == self.width => rows,
            _ => return Err(ImageError::Encode("the overlay band did not split".into())),
        };
        let first = first_row as usize;
        let mut out = Vec::with_capacity(
            self.header.len() + self.rows.iter().map(Vec::len).sum::<usize>() + 2 * self.rows.len(),
        );
        out.extend_from_slice(&self.header);
        for (i, cached) in self.rows.iter().enumerate() {
            let row = i
                .checked_sub(first)
                .and_then(|j| fresh.get(j))
                .unwrap_or(cached);
            out.extend_from_slice(row);
            if i + 1 < self.rows.len() {
                out.extend_from_slice(&[0xFF, 0xD0 + (i % 8) as u8]);
            }
        }
        out.extend_from_slice(&[0xFF, 0xD9]);
        Ok(out)
    }
}

/// Rows `first .. first + n` (in MCU rows) of `img`, as a picture of their own.
pub fn band(img: &Rgb, first: u32, n: u32) -> Rgb {
    let row_bytes = img.width as usize * 3;
    let start = (first * MCU_ROWS) as usize * row_bytes;
    let end = ((first + n) * MCU_ROWS) as usize * row_bytes;
    let data = img
        .data
        .get(start..end.min(img.data.len()))
        .unwrap_or_default()
        .to_vec();
    Rgb {
        width: img.width,
        height: (data.len() / row_bytes.max(1)) as u32,
        data,
    }
}

/// Baseline JPEG, 4:2:0, a restart marker after every MCU row.
fn encode_rows(img: &Rgb, quality: u8) -> Result<Vec<u8>, ImageError> {
    let (Ok(w), Ok(h)) = (u16::try_from(img.width), u16::try_from(img.height)) else {
        return Err(ImageError::TooLarge(img.width, img.height));
    };
    let per_row = u16::try_from(img.width.div_ceil(MCU_ROWS))
        .map_err(|_| ImageError::TooLarge(img.width, img.height))?;
    let mut out = Vec::with_capacity(img.data.len() / 8);
    let mut enc = jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100));
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    enc.set_restart_interval(per_row);
    enc.encode(&img.data, w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| ImageError::Encode(e.to_string()))?;
    Ok(out)
}

/// A JPEG cut into its header (through the start-of-scan segment) and the entropy-coded data
/// between restart markers; `None` for anything else than one scan ending in EOI.
fn split(jpeg: &[u8]) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
    let mut pos = 2; // after SOI
    let scan = loop {
        let (&ff, &marker) = (jpeg.get(pos)?, jpeg.get(pos + 1)?);
        if ff != 0xFF {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([
            *jpeg.get(pos + 2)?,
            *jpeg.get(pos + 3)?,
        ]));
        pos += 2 + len;
        if marker == 0xDA {
            break pos;
        }
    };
    let header = jpeg.get(..scan)?.to_vec();
    let mut rows = Vec::new();
    let (mut start, mut i) = (scan, scan);
    loop {
        if *jpeg.get(i)? != 0xFF {
            i += 1;
            continue;
        }
        match *jpeg.get(i + 1)? {
            0x00 => i += 2,
            0xD0..=0xD7 => {
                rows.push(jpeg.get(start..i)?.to_vec());
                i += 2;
                start = i;
            }
            0xD9 => {
                rows.push(jpeg.get(start..i)?.to_vec());
                return Some((header, rows));
            }
            _ => return None,
        }
    }
}

/// The header's segments other than the frame header (whose height differs between a band
/// and the whole picture): the tables a splice must share.
fn tables(header: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut pos = 2;
    while let (Some(&0xFF), Some(&marker)) = (header.get(pos), header.get(pos + 1)) {
        let Some(len) = header
            .get(pos + 2)
            .zip(header.get(pos + 3))
            .map(|(hi, lo)| usize::from(u16::from_be_bytes([*hi, *lo])))
        else {
            break;
        };
        if marker != 0xC0
            && let Some(seg) = header.get(pos..pos + 2 + len)
        {
            out.push(seg);
        }
        pos += 2 + len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::decode;

    fn gradient(w: u32, h: u32) -> Rgb {
        let mut img = Rgb::new(w, h);
        for y in 0..h {
            for x in 0..w {
                img.put(x, y, [(x % 256) as u8, (y % 256) as u8, 90]);
            }
        }
        img
    }

    #[test]
    fn a_spliced_frame_decodes_to_the_background_with_the_band_replaced() {
        let bg = gradient(320, 240);
        let splicer = Splicer::new(&bg, 85).unwrap().expect("splicing works here");
        assert_eq!(splicer.row_count(), 15);
        let mut overlay = band(&bg, 6, 2);
        for y in 0..overlay.height {
            for x in 100..140 {
                overlay.put(x, y, [255, 255, 0]);
            }
        }
        let jpeg = splicer.frame(6, &overlay).unwrap();
        let img = decode(&jpeg).unwrap();
        assert_eq!((img.width, img.height), (320, 240));
        // Inside the band: yellow; outside it: the background, as encoded once.
        let [r, g, b] = img.get(120, 6 * 16 + 8);
        assert!(r > 200 && g > 200 && b < 80, "{:?}", [r, g, b]);
        let whole = decode(&encode_rows(&bg, 85).unwrap()).unwrap();
        assert_eq!(img.get(120, 40), whole.get(120, 40));
        assert_eq!(img.get(120, 200), whole.get(120, 200));
    }

    #[test]
    fn a_height_that_is_not_whole_mcu_rows_is_declined() {
        assert!(Splicer::new(&gradient(64, 40), 85).unwrap().is_none());
    }

    #[test]
    fn split_refuses_what_is_not_one_scan() {
        assert!(split(b"\xFF\xD8\xFF").is_none());
        assert!(split(&[]).is_none());
    }
}
