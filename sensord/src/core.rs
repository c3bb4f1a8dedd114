//! The daemon's loop: it owns the input and the debouncer, turns their results into the
//! `Sensor1` state, and opens the input again with backoff whenever it fails.

use crate::debounce::{Debouncer, Output};
use crate::input::{InputError, InputEvent, MotionInput, Opened};
use crate::service::Publisher;
use secura_bus::types::now_micros;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// Timing of the filter.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Levels must hold this long.
    pub debounce: Duration,
    /// Edges are ignored this long after start.
    pub warmup: Duration,
}

/// Run until the future is dropped. `first` is the result of the first `open()`, made before
/// the daemon took its bus name (so a permanent failure could end the process there).
pub async fn run(
    mut input: Box<dyn MotionInput>,
    first: Result<Opened, InputError>,
    timing: Timing,
    out: Publisher,
) {
    let start = Instant::now();
    let mono = move |t: Instant| t.saturating_duration_since(start);
    let mut events: Option<mpsc::Receiver<InputEvent>> = None;
    let mut retry_at: Option<Instant> = None;
    let mut backoff = secura_kit::Backoff::new(FIRST_RETRY, MAX_RETRY);
    let initial = match first {
        Ok(opened) => {
            events = Some(opened.events);
            publish_fault(&out, "").await;
            opened.level
        }
        Err(e) => {
            fail(&out, &e.to_string()).await;
            retry_at = Some(start + backoff.next_delay());
            false
        }
    };
    let mut deb = Debouncer::new(timing.debounce, timing.warmup, initial, Duration::ZERO);
    if !timing.warmup.is_zero() {
        tracing::info!(warmup = ?timing.warmup, "PIR warming up: edges are ignored until it settles");
    }

    loop {
        let decide_at = deb.deadline().map(|d| start + d);
        tokio::select! {
            event = next(&mut events) => match event {
                Some(InputEvent::Level { high }) => {
                    let now = mono(Instant::now());
                    if deb.warming_up(now) {
                        let left = timing.warmup.saturating_sub(now);
                        tracing::info!(high, left = ?left, "PIR edge ignored: still warming up");
                    } else {
                        tracing::debug!(high, "PIR edge");
                    }
                    deb.edge(high, now);
                }
                other => {
                    let why = match other {
                        Some(InputEvent::Failed(why)) => why,
                        _ => "the input stopped reporting".to_string(),
                    };
                    events = None;
                    fail(&out, &why).await;
                    backoff.reset();
                    retry_at = Some(Instant::now() + backoff.next_delay());
                }
            },
            () = sleep_until(decide_at) => {
                while let Some(decided) = deb.poll(mono(Instant::now())) {
                    publish(&out, decided, mono(Instant::now())).await;
                }
            }
            () = sleep_until(retry_at) => match input.open() {
                Ok(opened) => {
                    tracing::info!(backend = input.backend(), "motion input works again");
                    deb.edge(opened.level, mono(Instant::now()));
                    events = Some(opened.events);
                    retry_at = None;
                    backoff.reset();
                    publish_fault(&out, "").await;
                }
                Err(e) => {
                    fail(&out, &e.to_string()).await;
                    retry_at = Some(Instant::now() + backoff.next_delay());
                }
            },
        }
    }
}

async fn next(events: &mut Option<mpsc::Receiver<InputEvent>>) -> Option<InputEvent> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The wall-clock time of monotonic instant `at`, seen from monotonic `now`.
fn wall(at: Duration, now: Duration) -> u64 {
    let ago = u64::try_from(now.saturating_sub(at).as_micros()).unwrap_or(u64::MAX);
    now_micros().saturating_sub(ago)
}

async fn publish(out: &Publisher, decided: Output, now: Duration) {
    let result = match decided {
        Output::Baseline { high } => {
            tracing::info!(active = high, "PIR warm-up over");
            out.set_active(high).await
        }
        Output::Rose { at } => {
            let at = wall(at, now);
            tracing::info!(at, "motion");
            out.motion(at).await
        }
        Output::Fell { at } => {
            let at = wall(at, now);
            tracing::info!(at, "motion ended");
            out.motion_ended(at).await
        }
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "cannot publish on the bus");
    }
}

async fn fail(out: &Publisher, why: &str) {
    tracing::warn!(fault = why, "motion input is not working; retrying");
    publish_fault(out, why).await;
}

async fn publish_fault(out: &Publisher, fault: &str) {
    if let Err(e) = out.set_fault(fault).await {
        tracing::error!(error = %e, "cannot publish on the bus");
    }
}
