//! Pixels: an RGB buffer, flips, YUYV (V4L2's common raw format) to RGB, and JPEG in and out.

/// Why a picture could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The encoder refused the picture.
    #[error("JPEG encoding failed: {0}")]
    Encode(String),
    /// A JPEG from the camera could not be decoded.
    #[error("the camera sent a JPEG that does not decode: {0}")]
    Decode(String),
    /// A raw frame is smaller than its format and size say.
    #[error("raw frame of {got} bytes is short of the {want} bytes of a {width}x{height} frame")]
    Short {
        /// Bytes received.
        got: usize,
        /// Bytes expected.
        want: usize,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
    /// Sizes beyond what JPEG can hold.
    #[error("{0}x{1} is too large for a JPEG")]
    TooLarge(u32, u32),
}

/// An 8-bit RGB picture, rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes.
    pub data: Vec<u8>,
}

impl Rgb {
    /// A black picture.
    pub fn new(width: u32, height: u32) -> Self {
        Rgb {
            width,
            height,
            data: vec![0; width as usize * height as usize * 3],
        }
    }

    /// Set pixel (x, y); outside the picture nothing happens.
    pub fn put(&mut self, x: u32, y: u32, rgb: [u8; 3]) {
        if x >= self.width || y >= self.height {
            return;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        if let Some(px) = self.data.get_mut(i..i + 3) {
            px.copy_from_slice(&rgb);
        }
    }

    /// Pixel (x, y), black outside the picture.
    pub fn get(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        match self.data.get(i..i + 3) {
            Some([r, g, b]) if x < self.width => [*r, *g, *b],
            _ => [0, 0, 0],
        }
    }

    /// Mirror top-bottom (`vflip`) and/or left-right (`hflip`); both is a 180° rotation.
    pub fn flip(&mut self, vflip: bool, hflip: bool) {
        let row = self.width as usize * 3;
        if row == 0 {
            return;
        }
        if hflip {
            for line in self.data.chunks_exact_mut(row) {
                let pixels = line.len() / 3;
                for x in 0..pixels / 2 {
                    let (a, b) = (x * 3, (pixels - 1 - x) * 3);
                    for c in 0..3 {
                        line.swap(a + c, b + c);
                    }
                }
            }
        }
        if vflip {
            let rows = self.data.len() / row;
            for y in 0..rows / 2 {
                let (top, bottom) = self.data.split_at_mut((rows - 1 - y) * row);
                if let (Some(t), Some(b)) =
                    (top.get_mut(y * row..(y + 1) * row), bottom.get_mut(..row))
                {
                    t.swap_with_slice(b);
                }
            }
        }
    }
}

/// Convert packed YUYV 4:2:2 (BT.601, limited range) to RGB.
pub fn yuyv_to_rgb(src: &[u8], width: u32, height: u32) -> Result<Rgb, ImageError> {
    let want = width as usize * height as usize * 2;
    if src.len() < want || !width.is_multiple_of(2) {
        return Err(ImageError::Short {
            got: src.len(),
            want,
            width,
            height,
        });
    }
    let mut out = Vec::with_capacity(want / 2 * 3);
    for quad in src.chunks_exact(4).take(want / 4) {
        let &[y0, u, y1, v] = quad else { continue };
        for y in [y0, y1] {
            out.extend_from_slice(&ycbcr(y, u, v));
        }
    }
    Ok(Rgb {
        width,
        height,
        data: out,
    })
}

fn ycbcr(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = i32::from(y) - 16;
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [
        clamp(298 * c + 409 * e),
        clamp(298 * c - 100 * d - 208 * e),
        clamp(298 * c + 516 * d),
    ]
}

/// Encode `img` as a baseline JPEG of `quality` (1–100).
pub fn encode(img: &Rgb, quality: u8) -> Result<Vec<u8>, ImageError> {
    let (Ok(w), Ok(h)) = (u16::try_from(img.width), u16::try_from(img.height)) else {
        return Err(ImageError::TooLarge(img.width, img.height));
    };
    let mut out = Vec::with_capacity(img.data.len() / 8);
    jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100))
        .encode(&img.data, w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| ImageError::Encode(e.to_string()))?;
    Ok(out)
}

/// Decode a camera JPEG (including MJPEG frames without Huffman tables) into RGB.
pub fn decode(jpeg: &[u8]) -> Result<Rgb, ImageError> {
    let mut d = jpeg_decoder::Decoder::new(jpeg);
    let pixels = d.decode().map_err(|e| ImageError::Decode(e.to_string()))?;
    let info = d
        .info()
        .ok_or_else(|| ImageError::Decode("no image header".into()))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    let data = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => pixels,
        jpeg_decoder::PixelFormat::L8 => pixels.iter().flat_map(|&l| [l, l, l]).collect(),
        other => {
            return Err(ImageError::Decode(format!(
                "unsupported pixel format {other:?}"
            )));
        }
    };
    if data.len() != width as usize * height as usize * 3 {
        return Err(ImageError::Decode(
            "pixel data does not match the size".into(),
        ));
    }
    Ok(Rgb {
        width,
        height,
        data,
    })
}

/// Whether a JPEG carries its Huffman tables (`DHT`) before its scan. Many UVC webcams send
/// MJPEG frames without them, relying on the standard tables; such frames play in a video
/// player but not everywhere a photo is shown, so they are re-encoded.
pub fn has_huffman_tables(jpeg: &[u8]) -> bool {
    let mut p = 2;
    while let (Some(&0xFF), Some(&m)) = (jpeg.get(p), jpeg.get(p + 1)) {
        match m {
            0xC4 => return true,
            0xDA | 0xD9 => return false,
            0xFF => p += 1,
            0x01 | 0xD0..=0xD7 => p += 2,
            _ => {
                let (Some(&hi), Some(&lo)) = (jpeg.get(p + 2), jpeg.get(p + 3)) else {
                    return false;
                };
                p += 2 + usize::from(u16::from_be_bytes([hi, lo]));
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(w: u32, h: u32) -> Rgb {
        let mut img = Rgb::new(w, h);
        img.put(0, 0, [255, 0, 0]);
        img
    }

    #[test]
    fn flips_move_the_top_left_pixel_to_the_right_corner() {
        let mut v = marked(4, 3);
        v.flip(true, false);
        assert_eq!(v.get(0, 2), [255, 0, 0]);
        let mut h = marked(4, 3);
        h.flip(false, true);
        assert_eq!(h.get(3, 0), [255, 0, 0]);
        let mut both = marked(5, 3);
        both.flip(true, true);
        assert_eq!(both.get(4, 2), [255, 0, 0]);
        assert_eq!(both.get(0, 0), [0, 0, 0]);
    }

    #[test]
    fn yuyv_grey_white_and_black_convert_to_rgb() {
        let src = [235, 128, 16, 128, 126, 128, 126, 128];
        let img = yuyv_to_rgb(&src, 2, 2).unwrap();
        assert_eq!(img.get(0, 0), [255, 255, 255]);
        assert_eq!(img.get(1, 0), [0, 0, 0]);
        let g = img.get(0, 1);
        assert!(g.iter().all(|&c| (120..=135).contains(&c)), "{g:?}");
        assert!(yuyv_to_rgb(&src[..6], 2, 2).is_err());
    }

    #[test]
    fn encoded_jpeg_decodes_to_the_same_size_with_tables() {
        let img = marked(64, 48);
        let jpeg = encode(&img, 80).unwrap();
        assert!(has_huffman_tables(&jpeg));
        let back = decode(&jpeg).unwrap();
        assert_eq!((back.width, back.height), (64, 48));
        assert!(decode(&jpeg[..jpeg.len() / 2]).is_err() || decode(b"nope").is_err());
        assert!(!has_huffman_tables(&[0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02]));
    }
}
