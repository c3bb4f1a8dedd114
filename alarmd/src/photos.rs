//! [`Photos`] collects each event's capture results until its alert goes out.

use crate::clock;
use crate::machine::PhotoProblem;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use zbus::OwnedFd;

/// Telegram albums hold at most ten photos.
pub const MAX_ALBUM: usize = 10;
/// Capture results nobody waits for are forgotten after this.
const FORGET_AFTER: Duration = Duration::from_secs(600);

#[derive(Debug, Default)]
struct Entry {
    pending: usize,
    fds: Vec<OwnedFd>,
    errors: Vec<PhotoProblem>,
    since: Option<Instant>,
}

/// Capture results by event.
#[derive(Debug, Clone, Default)]
pub struct Photos {
    inner: Arc<Mutex<HashMap<u64, Entry>>>,
    changed: Arc<Notify>,
}

impl Photos {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<u64, Entry>) -> R) -> R {
        match self.inner.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// A capture for `event` has started.
    pub fn begin(&self, event: u64) {
        self.with(|m| {
            let now = clock::steady();
            m.retain(|_, e| {
                e.pending > 0 || e.since.is_none_or(|s| now.duration_since(s) < FORGET_AFTER)
            });
            let e = m.entry(event).or_default();
            e.pending += 1;
            e.since = Some(now);
        });
    }

    /// A capture for `event` has finished.
    pub fn finish(&self, event: u64, result: Result<Vec<OwnedFd>, PhotoProblem>) {
        self.with(|m| {
            let e = m.entry(event).or_default();
            e.pending = e.pending.saturating_sub(1);
            match result {
                Ok(fds) => e.fds.extend(fds),
                Err(why) => e.errors.push(why),
            }
        });
        self.changed.notify_waiters();
    }

    /// Wait (at most `timeout`) until no capture of `event` is running, then take its photos
    /// (at most [`MAX_ALBUM`]) and the problems met. An event this run never captured gives
    /// [`PhotoProblem::BeforeRestart`].
    pub async fn wait(&self, event: u64, timeout: Duration) -> (Vec<OwnedFd>, Vec<PhotoProblem>) {
        let deadline = clock::instant_in(timeout);
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let done = self.with(|m| match m.get(&event) {
                None => Some((Vec::new(), vec![PhotoProblem::BeforeRestart])),
                Some(e) if e.pending == 0 => m.remove(&event).map(|e| (e.fds, e.errors)),
                Some(_) => None,
            });
            if let Some((mut fds, errors)) = done {
                fds.truncate(MAX_ALBUM);
                return (fds, errors);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let (mut fds, mut errors) = self.with(|m| {
                    m.remove(&event)
                        .map(|e| (e.fds, e.errors))
                        .unwrap_or_default()
                });
                errors.push(PhotoProblem::NoAnswer(timeout));
                fds.truncate(MAX_ALBUM);
                return (fds, errors);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fd() -> OwnedFd {
        OwnedFd::from(secura_bus::fd::sealed_memfd("t", b"x").unwrap())
    }

    #[tokio::test]
    async fn alert_waits_for_every_capture_of_its_event() {
        let p = Photos::default();
        p.begin(1);
        p.begin(1);
        let q = p.clone();
        let waiter = tokio::spawn(async move { q.wait(1, Duration::from_secs(5)).await });
        p.finish(1, Ok(vec![fd(), fd()]));
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        p.finish(1, Err(PhotoProblem::Failed("burst failed".into())));
        let (fds, errors) = waiter.await.unwrap();
        assert_eq!(fds.len(), 2);
        assert_eq!(errors, vec![PhotoProblem::Failed("burst failed".into())]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_camera_gives_up_after_the_timeout_with_a_reason() {
        let p = Photos::default();
        p.begin(7);
        let (fds, errors) = p.wait(7, Duration::from_secs(30)).await;
        assert!(fds.is_empty());
        assert_eq!(
            errors,
            vec![PhotoProblem::NoAnswer(Duration::from_secs(30))]
        );
    }

    #[tokio::test]
    async fn an_event_captured_before_a_restart_says_where_its_photos_are() {
        let (fds, errors) = Photos::default().wait(9, Duration::from_secs(1)).await;
        assert!(fds.is_empty());
        assert_eq!(errors, vec![PhotoProblem::BeforeRestart]);
    }

    #[tokio::test]
    async fn albums_are_capped_at_ten() {
        let p = Photos::default();
        p.begin(2);
        p.finish(2, Ok((0..14).map(|_| fd()).collect()));
        assert_eq!(p.wait(2, Duration::from_secs(1)).await.0.len(), MAX_ALBUM);
    }
}
