//! What a request gets: `CaptureEvent` collects the pre-trigger frames and a burst and stores
//! them, `Snapshot` finds a fresh frame. Both wait on the ring, never on the camera itself;
//! while the camera is inactive they hold it open ([`Demand::hold`]) for as long as they need
//! frames.

use crate::capture::{Demand, Health, Shared};
use crate::ring::Frame;
use crate::storage::Store;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};

/// Captures served at the same time; more are refused as busy.
const PARALLEL_CAPTURES: usize = 4;

/// Why no photo could be given.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The camera delivered nothing in time.
    #[error("camera: no frames ({0})")]
    NoFrames(String),
    /// Too many captures in progress.
    #[error("{PARALLEL_CAPTURES} captures are in progress already; try again")]
    Busy,
}

/// Timing of an event capture.
#[derive(Debug, Clone, Copy)]
pub struct EventTiming {
    /// Frames from this long before the request are included.
    pub pre_trigger: Duration,
    /// Photos taken after the request.
    pub burst_count: u32,
    /// Time between burst photos (to the nearest frame).
    pub burst_interval: Duration,
    /// The capture's frame period.
    pub period: Duration,
}

/// Serves capture requests from the shared ring.
#[derive(Debug)]
pub struct Core {
    shared: Arc<Shared>,
    health: watch::Receiver<Health>,
    store: Store,
    timing: EventTiming,
    slots: Semaphore,
    demand: Arc<Demand>,
}

/// Extra wait for the first frame when the camera has to be opened first.
const OPEN_ALLOWANCE: Duration = Duration::from_secs(5);

impl Core {
    /// A core over `shared` storing events in `store`.
    pub fn new(
        shared: Arc<Shared>,
        health: watch::Receiver<Health>,
        store: Store,
        timing: EventTiming,
        demand: Arc<Demand>,
    ) -> Self {
        Core {
            shared,
            health,
            store,
            timing,
            slots: Semaphore::new(PARALLEL_CAPTURES),
            demand,
        }
    }

    fn fault(&self) -> String {
        let h = self.health.borrow();
        if h.fault.is_empty() {
            "none arrived in time".into()
        } else {
            h.fault.clone()
        }
    }

    /// The pre-trigger frames and a burst, stored under `event_id`, oldest first.
    pub async fn capture_event(&self, event_id: u64) -> Result<Vec<Frame>, CaptureError> {
        let _slot = self.slots.try_acquire().map_err(|_| CaptureError::Busy)?;
        let active = self.demand.is_active();
        // Inactive: no ring to draw on; the burst comes from the camera opened for it.
        let _hold = (!active).then(|| self.demand.hold());
        let t = self.timing;
        let now = Instant::now();
        let since = now.checked_sub(t.pre_trigger).unwrap_or(now);
        let mut frames = self.shared.with_ring(|r| r.since(since));
        if active && frames.is_empty() && !self.health.borrow().healthy {
            return Err(CaptureError::NoFrames(self.fault()));
        }
        let mut last_seq = frames
            .last()
            .map_or_else(|| *self.shared.latest.borrow(), |f| f.seq);
        let mut not_before = now;
        // Frames come with jitter: a frame a little early for the interval still counts, or
        // an interval equal to the frame period would take every other frame.
        let slack = (t.period / 2).min(t.burst_interval / 2);
        let wait = t.burst_interval + 2 * t.period + Duration::from_secs(3);
        for taken in 0..t.burst_count {
            let wait = if active || taken > 0 {
                wait
            } else {
                wait + OPEN_ALLOWANCE
            };
            match self.wait_frame(last_seq, not_before, wait).await {
                Some(f) => {
                    last_seq = f.seq;
                    not_before = f.mono + t.burst_interval.saturating_sub(slack);
                    frames.push(f);
                }
                None => {
                    tracing::warn!(event_id, taken, wanted = t.burst_count, fault = %self.fault(), "burst cut short: no frame in time");
                    break;
                }
            }
        }
        if frames.is_empty() {
            return Err(CaptureError::NoFrames(self.fault()));
        }
        self.store_event(event_id, &frames).await;
        Ok(frames)
    }

    /// Write the photos (and prune); a disk problem is logged, never withheld from the caller:
    /// the photos still go out.
    async fn store_event(&self, event_id: u64, frames: &[Frame]) {
        let store = self.store.clone();
        let frames = frames.to_vec();
        let count = frames.len();
        let done = tokio::task::spawn_blocking(move || {
            let saved = store.save(event_id, &frames).map(|p| p.len());
            let pruned = store.prune_after_save(secura_bus::types::now_micros());
            (saved, pruned)
        })
        .await;
        match done {
            Ok((Ok(saved), pruned)) => {
                tracing::info!(event_id, photos = count, saved, "event photos stored");
                match pruned {
                    Ok(p) if p.expired + p.over_size > 0 => {
                        tracing::info!(
                            expired = p.expired,
                            over_size = p.over_size,
                            "old photos pruned"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "pruning event photos failed"),
                }
            }
            Ok((Err(e), _)) => tracing::error!(event_id, error = %e, "storing event photos failed"),
            Err(e) => tracing::error!(event_id, error = %e, "storing event photos failed"),
        }
    }

    /// A frame no older than two frame periods (at least 1 s), waiting for the next one if
    /// the newest is older. While the camera is inactive it is opened for the frame.
    pub async fn snapshot(&self) -> Result<Frame, CaptureError> {
        if self.demand.is_active() {
            return self.fresh_frame(Duration::ZERO).await;
        }
        let _hold = self.demand.hold();
        let started = Instant::now();
        let frame = self.fresh_frame(OPEN_ALLOWANCE).await;
        let took_ms = started.elapsed().as_millis();
        match &frame {
            Ok(_) => tracing::info!(took_ms, "snapshot: camera opened for one frame"),
            Err(e) => tracing::warn!(took_ms, error = %e, "snapshot: camera opened, no frame"),
        }
        frame
    }

    async fn fresh_frame(&self, allowance: Duration) -> Result<Frame, CaptureError> {
        let t = self.timing;
        let fresh = (2 * t.period).max(Duration::from_secs(1));
        let latest = self.shared.with_ring(|r| r.latest());
        if let Some(f) = &latest
            && f.mono.elapsed() <= fresh
        {
            return Ok(f.clone());
        }
        let after = latest.map_or_else(|| *self.shared.latest.borrow(), |f| f.seq);
        self.wait_frame(
            after,
            Instant::now(),
            2 * t.period + Duration::from_secs(5) + allowance,
        )
        .await
        .ok_or_else(|| CaptureError::NoFrames(self.fault()))
    }

    /// The first frame after `after` captured at or after `not_before`, waiting up to `wait`.
    async fn wait_frame(&self, after: u64, not_before: Instant, wait: Duration) -> Option<Frame> {
        let mut rx = self.shared.latest.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(f) = self.shared.with_ring(|r| r.first_after(after, not_before)) {
                return Some(f);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }
}
