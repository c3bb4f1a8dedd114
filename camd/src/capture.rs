//! Capture on demand: a thread drives the [`FrameSource`] while someone wants frames (the
//! camera is active, `always_on` is set, or a request is being served while it is inactive;
//! see [`Demand`]) and keeps it closed otherwise. After every failure it opens it again with
//! backoff. An async pump files the frames into the ring buffer, empties the ring when the
//! camera closes, and turns failures and stalls into the camera's health.
//!
//! At start the camera is opened until it has delivered one frame even when inactive, so the
//! health the bus shows is true from the start (a missing device is reported, and retried,
//! until it works once).

use crate::ring::{Frame, Ring};
use crate::source::FrameSource;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(10);

/// What the capture thread reports.
#[derive(Debug)]
pub enum Msg {
    /// The source opened and will deliver frames of this size.
    Opened((u32, u32)),
    /// A frame, with its capture times.
    Frame {
        /// The JPEG.
        jpeg: Vec<u8>,
        /// µs since the epoch.
        at: u64,
        /// Monotonic.
        mono: Instant,
    },
    /// The source failed (to open, or while capturing).
    Failed(String),
    /// The source was closed because nobody wants frames.
    Closed,
}

/// Who wants frames now: `SetActive`, `always_on`, and requests served while inactive.
#[derive(Debug)]
pub struct Demand {
    wants: Mutex<Wants>,
    changed: Condvar,
}

#[derive(Debug)]
struct Wants {
    always_on: bool,
    active: bool,
    holds: usize,
}

impl Wants {
    fn any(&self) -> bool {
        self.always_on || self.active || self.holds > 0
    }
}

impl Demand {
    /// Nobody wants frames yet, unless `always_on`.
    pub fn new(always_on: bool) -> Self {
        Demand {
            wants: Mutex::new(Wants {
                always_on,
                active: false,
                holds: 0,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Wants> {
        self.wants.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Set what alarmd asked for; whether [`Demand::is_active`] changed.
    pub fn set_active(&self, active: bool) -> bool {
        let mut w = self.lock();
        let before = w.always_on || w.active;
        w.active = active;
        let after = w.always_on || w.active;
        drop(w);
        self.changed.notify_all();
        before != after
    }

    /// Whether the camera captures continuously (active, or `always_on`).
    pub fn is_active(&self) -> bool {
        let w = self.lock();
        w.always_on || w.active
    }

    /// Keep the camera open until the returned guard is dropped.
    pub fn hold(self: &Arc<Self>) -> Hold {
        self.lock().holds += 1;
        self.changed.notify_all();
        Hold(Arc::clone(self))
    }

    fn wanted(&self) -> bool {
        self.lock().any()
    }

    fn wait_until_wanted(&self) {
        let mut w = self.lock();
        while !w.any() {
            w = self.changed.wait(w).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Frames are wanted while this lives (a request served while the camera is inactive).
#[derive(Debug)]
pub struct Hold(Arc<Demand>);

impl Drop for Hold {
    fn drop(&mut self) {
        let mut w = self.0.lock();
        w.holds = w.holds.saturating_sub(1);
        drop(w);
        self.0.changed.notify_all();
    }
}

/// The camera's state as the bus shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Frames are arriving.
    pub healthy: bool,
    /// Why not, empty when healthy.
    pub fault: String,
    /// Size of the frames.
    pub resolution: (u32, u32),
}

/// The frames, shared by the pump (writer) and the request handlers (readers).
#[derive(Debug)]
pub struct Shared {
    /// The pre-trigger ring.
    pub ring: Mutex<Ring>,
    /// The sequence number of the newest frame; changes wake waiters.
    pub latest: watch::Sender<u64>,
}

impl Shared {
    /// An empty ring.
    pub fn new(ring: Ring) -> Self {
        Shared {
            ring: Mutex::new(ring),
            latest: watch::Sender::new(0),
        }
    }

    /// Run `f` on the ring.
    pub fn with_ring<T>(&self, f: impl FnOnce(&mut Ring) -> T) -> T {
        f(&mut self.ring.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Start the capture thread, capturing while `demand` wants frames; the source is made on
/// the thread (V4L2 handles stay there).
pub fn spawn_thread<F>(make: F, tx: mpsc::Sender<Msg>, demand: Arc<Demand>) -> std::io::Result<()>
where
    F: FnOnce() -> Box<dyn FrameSource> + Send + 'static,
{
    std::thread::Builder::new()
        .name("capture".into())
        .spawn(move || {
            let mut source = make();
            run_thread(source.as_mut(), &tx, &demand);
            source.close();
        })
        .map(|_| ())
}

fn run_thread(source: &mut dyn FrameSource, tx: &mpsc::Sender<Msg>, demand: &Demand) {
    let mut backoff = secura_kit::Backoff::new(FIRST_RETRY, MAX_RETRY);
    // Until the camera has delivered once, it is opened (and retried) even when not wanted.
    let mut proven = false;
    loop {
        if proven {
            demand.wait_until_wanted();
        }
        let failure = match source.open() {
            Ok(size) => {
                if tx.blocking_send(Msg::Opened(size)).is_err() {
                    return;
                }
                loop {
                    if proven && !demand.wanted() {
                        break None;
                    }
                    match source.next_frame() {
                        Ok(jpeg) => {
                            backoff.reset();
                            proven = true;
                            let at = secura_bus::types::now_micros();
                            let msg = Msg::Frame {
                                jpeg,
                                at,
                                mono: Instant::now(),
                            };
                            if tx.blocking_send(msg).is_err() {
                                return;
                            }
                        }
                        Err(e) => break Some(e),
                    }
                }
            }
            Err(e) => Some(e),
        };
        source.close();
        let Some(failure) = failure else {
            if tx.blocking_send(Msg::Closed).is_err() {
                return;
            }
            continue;
        };
        let delay = backoff.next_delay();
        tracing::debug!(error = %failure, retry_in = ?delay, "camera failed; opening it again");
        // The text stays the same across retries, so `Fault` changes only when the cause does.
        if tx.blocking_send(Msg::Failed(failure.to_string())).is_err() {
            return;
        }
        std::thread::sleep(delay);
    }
}

/// File frames into `shared` and keep `health` current until the thread ends. A healthy camera
/// that delivers nothing for `stall` becomes unhealthy (a wedged device or child).
pub async fn pump(
    mut rx: mpsc::Receiver<Msg>,
    shared: Arc<Shared>,
    health: watch::Sender<Health>,
    stall: Duration,
    device: String,
) {
    let mut seq = 0u64;
    let mut last_frame = tokio::time::Instant::now();
    let mut open = false;
    loop {
        let healthy = health.borrow().healthy;
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Frame { jpeg, at, mono }) => {
                    seq += 1;
                    let frame = Frame { seq, at, mono, jpeg: Arc::from(jpeg.into_boxed_slice()) };
                    shared.with_ring(|r| r.push(frame));
                    shared.latest.send_replace(seq);
                    last_frame = tokio::time::Instant::now();
                    if !healthy {
                        tracing::info!(device = %device, "camera delivers frames");
                        health.send_modify(|h| {
                            h.healthy = true;
                            h.fault.clear();
                        });
                    }
                }
                Some(Msg::Opened(size)) => {
                    open = true;
                    last_frame = tokio::time::Instant::now();
                    tracing::debug!(device = %device, width = size.0, height = size.1, "camera opened");
                    health.send_if_modified(|h| {
                        let changed = h.resolution != size;
                        h.resolution = size;
                        changed
                    });
                }
                Some(Msg::Closed) => {
                    open = false;
                    shared.with_ring(Ring::clear);
                    tracing::debug!(device = %device, "camera closed: inactive, no frames kept");
                }
                Some(Msg::Failed(why)) => {
                    open = false;
                    if health.borrow().fault != why {
                        tracing::warn!(device = %device, fault = %why, "camera is not working; retrying");
                    }
                    set_fault(&health, why);
                }
                None => {
                    set_fault(&health, "the capture thread stopped".into());
                    return;
                }
            },
            () = tokio::time::sleep_until(last_frame + stall), if healthy && open => {
                let why = format!("no frames from {device} for {}s", stall.as_secs());
                tracing::warn!(device = %device, "camera stalled");
                set_fault(&health, why);
            }
        }
    }
}

fn set_fault(health: &watch::Sender<Health>, why: String) {
    health.send_if_modified(|h| {
        let changed = h.healthy || h.fault != why;
        h.healthy = false;
        h.fault = why;
        changed
    });
}
