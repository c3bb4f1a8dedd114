//! A V4L2 camera (USB webcams) through rscam, without libv4l.
//!
//! MJPEG is taken when the device offers it (the camera compresses; camd only copies), else
//! YUYV, converted and encoded here. The frame interval is the slowest the device offers at or
//! above `fps` and a [`RateGate`] drops the surplus. Flips use the device's controls when it
//! has them and are done in software otherwise. MJPEG frames without Huffman tables (common on
//! UVC webcams) or needing a software flip are re-encoded, so every photo is a complete JPEG.

use super::{FrameSource, RateGate, Settings, SourceError};
use crate::image::{self, decode, encode, has_huffman_tables, yuyv_to_rgb};
use rscam::{IntervalInfo, ResolutionInfo};
use std::path::PathBuf;
use std::time::Instant;

const MJPG: [u8; 4] = *b"MJPG";
const YUYV: [u8; 4] = *b"YUYV";

/// A V4L2 device node.
pub struct V4l2Source {
    device: PathBuf,
    settings: Settings,
    cam: Option<rscam::Camera>,
    format: [u8; 4],
    soft_vflip: bool,
    soft_hflip: bool,
    gate: RateGate,
}

impl std::fmt::Debug for V4l2Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V4l2Source")
            .field("device", &self.device)
            .field("open", &self.cam.is_some())
            .finish_non_exhaustive()
    }
}

impl V4l2Source {
    /// The camera at `device` (e.g. `/dev/video0`).
    pub fn new(device: PathBuf, settings: Settings) -> Self {
        V4l2Source {
            device,
            settings,
            cam: None,
            format: MJPG,
            soft_vflip: false,
            soft_hflip: false,
            gate: RateGate::new(settings.period()),
        }
    }

    fn err(&self, message: impl Into<String>) -> SourceError {
        SourceError::Device {
            device: self.device.display().to_string(),
            message: message.into(),
        }
    }

    fn io_err(&self, doing: &str, e: &std::io::Error) -> SourceError {
        let advice = match e.raw_os_error() {
            Some(2) => ": no such device; is the camera plugged in? (`v4l2-ctl --list-devices`)",
            Some(13) => ": permission denied; the daemon's user must be in the video group",
            Some(19) => ": the camera vanished (unplugged?)",
            Some(16) => ": the camera is busy; another program is using it",
            _ => "",
        };
        self.err(format!("{doing}: {e}{advice}"))
    }
}

/// The frame interval (seconds as numerator/denominator) to ask for: the slowest rate the
/// device offers at or above `fps`, else its fastest.
pub fn choose_interval(info: Option<&IntervalInfo>, fps: u32) -> (u32, u32) {
    let wanted = (1, fps.max(1));
    let rate = |(n, d): (u32, u32)| {
        if n == 0 {
            0.0
        } else {
            f64::from(d) / f64::from(n)
        }
    };
    match info {
        Some(IntervalInfo::Discretes(list)) => {
            let fast_enough = list
                .iter()
                .copied()
                .filter(|&i| rate(i) >= f64::from(fps))
                .min_by(|a, b| rate(*a).total_cmp(&rate(*b)));
            let fastest = list
                .iter()
                .copied()
                .max_by(|a, b| rate(*a).total_cmp(&rate(*b)));
            fast_enough.or(fastest).unwrap_or(wanted)
        }
        Some(IntervalInfo::Stepwise { min, max, .. }) => {
            // `min` is the shortest interval (fastest rate).
            let w = rate(wanted);
            if w > rate(*min) {
                *min
            } else if w < rate(*max) {
                *max
            } else {
                wanted
            }
        }
        None => wanted,
    }
}

fn describe(res: &ResolutionInfo) -> String {
    match res {
        ResolutionInfo::Discretes(list) => list
            .iter()
            .map(|(w, h)| format!("{w}x{h}"))
            .collect::<Vec<_>>()
            .join(", "),
        ResolutionInfo::Stepwise { min, max, .. } => {
            format!("{}x{} to {}x{}", min.0, min.1, max.0, max.1)
        }
    }
}

fn offers(res: &ResolutionInfo, (w, h): (u32, u32)) -> bool {
    match res {
        ResolutionInfo::Discretes(list) => list.contains(&(w, h)),
        ResolutionInfo::Stepwise { min, max, .. } => {
            (min.0..=max.0).contains(&w) && (min.1..=max.1).contains(&h)
        }
    }
}

impl FrameSource for V4l2Source {
    fn backend(&self) -> &'static str {
        "v4l2"
    }

    fn device(&self) -> String {
        self.device.display().to_string()
    }

    fn open(&mut self) -> Result<(u32, u32), SourceError> {
        self.close();
        let path = self
            .device
            .to_str()
            .ok_or_else(|| self.err("the device path is not UTF-8"))?;
        let mut cam = rscam::Camera::new(path).map_err(|e| self.io_err("opening", &e))?;
        let formats: Vec<[u8; 4]> = cam
            .formats()
            .filter_map(Result::ok)
            .map(|f| f.format)
            .collect();
        let format = if formats.contains(&MJPG) {
            MJPG
        } else if formats.contains(&YUYV) {
            YUYV
        } else {
            let names: Vec<String> = formats
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            return Err(self.err(format!(
                "offers neither MJPG nor YUYV (it offers: {}); is this the capture node?",
                if names.is_empty() {
                    "nothing".into()
                } else {
                    names.join(", ")
                }
            )));
        };
        let size = (self.settings.width, self.settings.height);
        if let Ok(res) = cam.resolutions(&format)
            && !offers(&res, size)
        {
            return Err(self.err(format!(
                "does not offer {}x{} in {}; it offers {}: set width and height in [camera]",
                size.0,
                size.1,
                String::from_utf8_lossy(&format),
                describe(&res)
            )));
        }
        let interval = choose_interval(
            cam.intervals(&format, size).ok().as_ref(),
            self.settings.fps,
        );
        self.soft_vflip = self.settings.vflip && cam.set_control(rscam::CID_VFLIP, &true).is_err();
        self.soft_hflip = self.settings.hflip && cam.set_control(rscam::CID_HFLIP, &true).is_err();
        if format == MJPG {
            let q = i32::from(self.settings.quality);
            if cam
                .set_control(rscam::CID_JPEG_COMPRESSION_QUALITY, &q)
                .is_err()
            {
                tracing::debug!(device = %self.device.display(), "camera has no JPEG quality control");
            }
        }
        let config = rscam::Config {
            interval,
            resolution: size,
            format: &format,
            nbuffers: 4,
            ..rscam::Config::default()
        };
        cam.start(&config).map_err(|e| match e {
            rscam::Error::Io(io) => self.io_err("starting capture", &io),
            other => self.err(format!("starting capture: {other}")),
        })?;
        tracing::info!(
            device = %self.device.display(),
            format = %String::from_utf8_lossy(&format),
            width = size.0,
            height = size.1,
            interval = ?interval,
            soft_flip = self.soft_vflip || self.soft_hflip,
            "V4L2 capture started"
        );
        self.format = format;
        self.cam = Some(cam);
        self.gate.reset();
        Ok(size)
    }

    fn next_frame(&mut self) -> Result<Vec<u8>, SourceError> {
        loop {
            let Some(cam) = &self.cam else {
                return Err(self.err("not open"));
            };
            let frame = match cam.capture() {
                Ok(f) => f,
                Err(e) => return Err(self.io_err("capturing", &e)),
            };
            if !self.gate.pass(Instant::now()) {
                continue;
            }
            let (w, h) = frame.resolution;
            let converted = if self.format == MJPG {
                let bytes: &[u8] = &frame;
                if !bytes.starts_with(&[0xFF, 0xD8]) {
                    tracing::debug!(len = bytes.len(), "skipping a corrupt MJPEG frame");
                    continue;
                }
                if !(self.soft_vflip || self.soft_hflip) && has_huffman_tables(bytes) {
                    Ok(bytes.to_vec())
                } else {
                    self.reencode(decode(bytes))
                }
            } else {
                self.reencode(yuyv_to_rgb(&frame, w, h))
            };
            match converted {
                Ok(jpeg) => return Ok(jpeg),
                Err(e) => tracing::debug!(error = %e, "skipping a frame that does not convert"),
            }
        }
    }

    fn close(&mut self) {
        // Dropping the camera stops streaming and closes the device.
        self.cam = None;
    }
}

impl V4l2Source {
    fn reencode(
        &self,
        img: Result<image::Rgb, image::ImageError>,
    ) -> Result<Vec<u8>, image::ImageError> {
        let mut img = img?;
        img.flip(self.soft_vflip, self.soft_hflip);
        encode(&img, self.settings.quality)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_is_the_slowest_offered_rate_at_or_above_fps() {
        let list = IntervalInfo::Discretes(vec![(1, 30), (1, 15), (1, 5), (2, 15)]);
        assert_eq!(choose_interval(Some(&list), 2), (1, 5));
        assert_eq!(choose_interval(Some(&list), 6), (2, 15));
        assert_eq!(choose_interval(Some(&list), 10), (1, 15));
        assert_eq!(choose_interval(Some(&list), 60), (1, 30));
    }

    #[test]
    fn stepwise_intervals_are_clamped_and_unknown_ones_asked_as_is() {
        let step = IntervalInfo::Stepwise {
            min: (1, 30),
            max: (1, 5),
            step: (1, 1),
        };
        assert_eq!(choose_interval(Some(&step), 2), (1, 5));
        assert_eq!(choose_interval(Some(&step), 10), (1, 10));
        assert_eq!(choose_interval(Some(&step), 60), (1, 30));
        assert_eq!(choose_interval(None, 2), (1, 2));
    }

    #[test]
    fn a_missing_device_fails_to_open_with_advice() {
        let settings = Settings {
            width: 640,
            height: 480,
            fps: 2,
            quality: 80,
            vflip: false,
            hflip: false,
        };
        let mut src = V4l2Source::new(PathBuf::from("/nonexistent/video9"), settings);
        let e = src.open().unwrap_err().to_string();
        assert!(e.contains("/nonexistent/video9"), "{e}");
        assert!(e.contains("plugged in"), "{e}");
    }
}
