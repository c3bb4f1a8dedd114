//! Always-on capture: a thread drives the [`FrameSource`] (opening it again with backoff
//! after every failure), and an async pump files its frames into the ring buffer and turns
//! failures and stalls into the camera's health.

use crate::ring::{Frame, Ring};
use crate::source::FrameSource;
use std::sync::{Arc, Mutex, PoisonError};
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

/// Start the capture thread; the source is made on the thread (V4L2 handles stay there).
pub fn spawn_thread<F>(make: F, tx: mpsc::Sender<Msg>) -> std::io::Result<()>
where
    F: FnOnce() -> Box<dyn FrameSource> + Send + 'static,
{
    std::thread::Builder::new()
        .name("capture".into())
        .spawn(move || {
            let mut source = make();
            run_thread(source.as_mut(), &tx);
            source.close();
        })
        .map(|_| ())
}

fn run_thread(source: &mut dyn FrameSource, tx: &mpsc::Sender<Msg>) {
    let mut backoff = secura_kit::Backoff::new(FIRST_RETRY, MAX_RETRY);
    loop {
        let failure = match source.open() {
            Ok(size) => {
                if tx.blocking_send(Msg::Opened(size)).is_err() {
                    return;
                }
                loop {
                    match source.next_frame() {
                        Ok(jpeg) => {
                            backoff.reset();
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
                        Err(e) => break e,
                    }
                }
            }
            Err(e) => e,
        };
        source.close();
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
                    tracing::debug!(device = %device, width = size.0, height = size.1, "camera opened");
                    health.send_if_modified(|h| {
                        let changed = h.resolution != size;
                        h.resolution = size;
                        changed
                    });
                }
                Some(Msg::Failed(why)) => {
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
            () = tokio::time::sleep_until(last_frame + stall), if healthy => {
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
