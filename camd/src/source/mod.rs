//! The camera behind a trait: a V4L2 device ([`v4l2`]), a `rpicam-vid` child process
//! ([`rpicam`]) or generated pictures ([`sim`]). A source is driven from one blocking thread
//! ([`crate::capture`]); it delivers JPEGs at about the configured rate and reports failures,
//! after which it is opened again.

pub mod rpicam;
pub mod silence;
pub mod sim;
pub mod splice;
pub mod v4l2;

use std::time::{Duration, Instant};

/// Why a source failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The device node is missing or cannot be opened.
    #[error("{device}: {message}")]
    Device {
        /// The device (path or program).
        device: String,
        /// What went wrong, with advice.
        message: String,
    },
    /// The capture child process is gone.
    #[error("{program} exited ({status}){detail}")]
    ChildExited {
        /// The program.
        program: String,
        /// Its exit status.
        status: String,
        /// `: <last line it printed>`, or empty.
        detail: String,
    },
    /// A picture could not be converted.
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    /// Broken by `Simulator1.SetFault`.
    #[error("simulated fault: {0}")]
    Simulated(String),
}

/// What the user configured about pictures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Frames per second to deliver.
    pub fps: u32,
    /// JPEG quality where camd encodes (and asked of cameras that encode).
    pub quality: u8,
    /// Mirror top-bottom.
    pub vflip: bool,
    /// Mirror left-right.
    pub hflip: bool,
}

impl Settings {
    /// Time between delivered frames.
    pub fn period(&self) -> Duration {
        Duration::from_secs(1) / self.fps.max(1)
    }
}

/// A camera.
pub trait FrameSource {
    /// `v4l2`, `rpicam` or `sim`, for the `Backend` property.
    fn backend(&self) -> &'static str;
    /// What is being captured from, for messages (`/dev/video0`, `rpicam-vid`).
    fn device(&self) -> String;
    /// Start capturing; the size of the frames it will deliver.
    fn open(&mut self) -> Result<(u32, u32), SourceError>;
    /// Block until the next frame is due and return it as a JPEG.
    fn next_frame(&mut self) -> Result<Vec<u8>, SourceError>;
    /// Stop capturing (also done when dropped).
    fn close(&mut self);
}

/// Passes at most one frame per period of a camera that may deliver more often than asked.
#[derive(Debug, Clone)]
pub struct RateGate {
    min_gap: Duration,
    last: Option<Instant>,
}

impl RateGate {
    /// A gate for `period` between frames (with 10% tolerance for jitter).
    pub fn new(period: Duration) -> Self {
        RateGate {
            min_gap: period.mul_f64(0.9),
            last: None,
        }
    }

    /// Whether a frame arriving at `now` is kept.
    pub fn pass(&mut self, now: Instant) -> bool {
        if self
            .last
            .is_some_and(|l| now.saturating_duration_since(l) < self.min_gap)
        {
            return false;
        }
        self.last = Some(now);
        true
    }

    /// Forget the last frame (after a reopen).
    pub fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_keeps_one_frame_per_period_from_a_faster_camera() {
        let base = Instant::now();
        let mut gate = RateGate::new(Duration::from_millis(500));
        let kept = (0..30u64)
            .filter(|i| gate.pass(base + Duration::from_millis(i * 100)))
            .count();
        assert_eq!(kept, 6);
    }
}
