//! The pre-trigger ring buffer: the last few seconds of frames, so an alert shows what happened
//! just before the PIR fired and the first photo costs no camera warm-up.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One captured JPEG.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Increases by one per frame for the life of the daemon.
    pub seq: u64,
    /// Capture time, µs since the Unix epoch (the bus's unit).
    pub at: u64,
    /// Capture time on the monotonic clock, for ages and intervals.
    pub mono: Instant,
    /// The JPEG.
    pub jpeg: Arc<[u8]>,
}

/// Frames of the last `keep`, at most `max_len` of them, oldest first.
#[derive(Debug)]
pub struct Ring {
    frames: VecDeque<Frame>,
    keep: Duration,
    max_len: usize,
}

impl Ring {
    /// A ring keeping `keep` worth of frames at `fps` (with one frame of slack).
    pub fn new(keep: Duration, fps: u32) -> Self {
        let per_frame = 1.0 / f64::from(fps.max(1));
        let wanted = (keep.as_secs_f64() / per_frame).ceil() + 1.0;
        // Bounded: a 30 fps, one-minute pre-trigger is still only 1801 frames.
        let max_len = if wanted.is_finite() && wanted >= 1.0 {
            (wanted.min(10_000.0)) as usize
        } else {
            1
        };
        Ring {
            frames: VecDeque::with_capacity(max_len),
            keep,
            max_len,
        }
    }

    /// Add the newest frame, evicting what is too old or too many.
    pub fn push(&mut self, frame: Frame) {
        let newest = frame.mono;
        self.frames.push_back(frame);
        while self.frames.len() > self.max_len {
            self.frames.pop_front();
        }
        while self
            .frames
            .front()
            .is_some_and(|f| newest.saturating_duration_since(f.mono) > self.keep)
        {
            self.frames.pop_front();
        }
    }

    /// Frames captured at or after `since`, oldest first.
    pub fn since(&self, since: Instant) -> Vec<Frame> {
        self.frames
            .iter()
            .filter(|f| f.mono >= since)
            .cloned()
            .collect()
    }

    /// The newest frame.
    pub fn latest(&self) -> Option<Frame> {
        self.frames.back().cloned()
    }

    /// The first frame newer than `seq` captured at or after `not_before`.
    pub fn first_after(&self, seq: u64, not_before: Instant) -> Option<Frame> {
        self.frames
            .iter()
            .find(|f| f.seq > seq && f.mono >= not_before)
            .cloned()
    }

    /// Forget every frame (the camera closed: nothing is kept while it is off).
    pub fn clear(&mut self) {
        self.frames.clear();
    }

    /// Frames held now.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame is held.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u64, base: Instant, ms: u64) -> Frame {
        Frame {
            seq,
            at: 1_000_000 + ms * 1000,
            mono: base + Duration::from_millis(ms),
            jpeg: Arc::from(vec![seq as u8].into_boxed_slice()),
        }
    }

    #[test]
    fn holds_only_the_pre_trigger_window() {
        let base = Instant::now();
        let mut ring = Ring::new(Duration::from_secs(2), 2);
        for i in 0..20 {
            ring.push(frame(i, base, i * 500));
        }
        // 2 s at 2 fps: the newest frame and the four before it (0, 0.5, … 2 s old).
        let seqs: Vec<u64> = ring.since(base).iter().map(|f| f.seq).collect();
        assert_eq!(seqs, vec![15, 16, 17, 18, 19]);
        assert_eq!(ring.latest().map(|f| f.seq), Some(19));
    }

    #[test]
    fn a_gap_in_capture_evicts_frames_older_than_the_window() {
        let base = Instant::now();
        let mut ring = Ring::new(Duration::from_secs(2), 2);
        ring.push(frame(0, base, 0));
        ring.push(frame(1, base, 500));
        ring.push(frame(2, base, 10_000));
        assert_eq!(ring.len(), 1);
    }

    #[test]
    fn length_is_bounded_even_when_frames_come_faster_than_fps() {
        let base = Instant::now();
        let mut ring = Ring::new(Duration::from_secs(2), 2);
        for i in 0..100 {
            ring.push(frame(i, base, i));
        }
        assert_eq!(ring.len(), 5);
    }

    #[test]
    fn since_and_first_after_select_by_time_and_sequence() {
        let base = Instant::now();
        let mut ring = Ring::new(Duration::from_secs(10), 2);
        for i in 0..6 {
            ring.push(frame(i, base, i * 500));
        }
        let recent: Vec<u64> = ring
            .since(base + Duration::from_millis(1500))
            .iter()
            .map(|f| f.seq)
            .collect();
        assert_eq!(recent, vec![3, 4, 5]);
        let next = ring.first_after(1, base + Duration::from_millis(1800));
        assert_eq!(next.map(|f| f.seq), Some(4));
        assert!(ring.first_after(5, base).is_none());
        assert!(Ring::new(Duration::ZERO, 1).is_empty());
    }
}
