//! Work handed to other daemons: [`Photos`] collects each event's capture results until its
//! alert goes out, and the [`Courier`] delivers notices and alerts to botd in order, holding
//! them while botd is away (botd's own outbox makes them durable once accepted).

use secura_bus::proxies::Bot1Proxy;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};
use tracing::{error, info, warn};
use zbus::OwnedFd;

/// Telegram albums hold at most ten photos.
pub const MAX_ALBUM: usize = 10;
/// Messages held for botd while it is away; beyond that the oldest are dropped (logged).
pub const MAX_HELD: usize = 500;
/// The reason [`Photos::wait`] gives for an event it never saw captured (alarmd restarted
/// between the capture and the alert).
pub const NOT_IN_MEMORY: &str = "the photos were taken before alarmd restarted";
/// Capture results nobody waits for are forgotten after this.
const FORGET_AFTER: Duration = Duration::from_secs(600);

#[derive(Debug, Default)]
struct Entry {
    pending: usize,
    fds: Vec<OwnedFd>,
    errors: Vec<String>,
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
            m.retain(|_, e| e.pending > 0 || e.since.is_none_or(|s| s.elapsed() < FORGET_AFTER));
            let e = m.entry(event).or_default();
            e.pending += 1;
            e.since = Some(Instant::now());
        });
    }

    /// A capture for `event` has finished.
    pub fn finish(&self, event: u64, result: Result<Vec<OwnedFd>, String>) {
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
    /// (at most [`MAX_ALBUM`]) and the errors met.
    pub async fn wait(&self, event: u64, timeout: Duration) -> (Vec<OwnedFd>, Vec<String>) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let done = self.with(|m| match m.get(&event) {
                None => Some((Vec::new(), vec![NOT_IN_MEMORY.into()])),
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
                errors.push(format!("the camera did not answer within {timeout:?}"));
                fds.truncate(MAX_ALBUM);
                return (fds, errors);
            }
        }
    }
}

/// A message for the owners.
#[derive(Debug)]
pub enum Outgoing {
    /// `Bot1.Notify(text)`
    Notify(String),
    /// `Bot1.Alert(caption, photos)`
    Alert(String, Vec<OwnedFd>),
}

/// Hands messages to botd one at a time, in order.
#[derive(Debug, Clone)]
pub struct Courier {
    tx: mpsc::UnboundedSender<(Outgoing, Option<u64>)>,
}

/// One delivery attempt may take this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

impl Courier {
    /// Start delivering through `bot`; `handed(event)` is called once botd's outbox has
    /// accepted the alert of `event`.
    pub fn start(bot: Bot1Proxy<'static>, handed: impl Fn(u64) + Send + 'static) -> Courier {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(deliver(bot, rx, handed));
        Courier { tx }
    }

    /// Queue a notice.
    pub fn send(&self, m: Outgoing) {
        self.queue(m, None);
    }

    /// Queue the alert of `event` (as an album, or as text when it has no photos).
    pub fn send_alert(&self, m: Outgoing, event: u64) {
        self.queue(m, Some(event));
    }

    fn queue(&self, m: Outgoing, event: Option<u64>) {
        if self.tx.send((m, event)).is_err() {
            error!("the courier has stopped; a message to the owners is lost");
        }
    }
}

async fn attempt(bot: &Bot1Proxy<'static>, m: &Outgoing) -> Result<u64, String> {
    let call = async {
        match m {
            Outgoing::Notify(text) => bot.notify(text).await,
            Outgoing::Alert(caption, fds) => {
                let copies = fds
                    .iter()
                    .map(|fd| {
                        std::os::fd::AsFd::as_fd(fd)
                            .try_clone_to_owned()
                            .map(OwnedFd::from)
                    })
                    .collect::<std::io::Result<Vec<_>>>()
                    .map_err(|e| zbus::Error::Failure(format!("cannot copy a photo fd: {e}")))?;
                bot.alert(caption, copies).await
            }
        }
    };
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(id)) => Ok(id),
        Ok(Err(e)) => Err(secura_bus::Error::from(e).message()),
        Err(_) => Err(format!("botd did not answer within {CALL_TIMEOUT:?}")),
    }
}

async fn deliver(
    bot: Bot1Proxy<'static>,
    mut rx: mpsc::UnboundedReceiver<(Outgoing, Option<u64>)>,
    handed: impl Fn(u64),
) {
    let mut held: VecDeque<(Outgoing, Option<u64>)> = VecDeque::new();
    let mut owners = match bot.inner().receive_owner_changed().await {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(error = %e, "cannot follow botd's name; retrying on a timer only");
            None
        }
    };
    let mut backoff = Duration::from_millis(500);
    loop {
        let Some(front) = held.front() else {
            match rx.recv().await {
                Some(m) => held.push_back(m),
                None => return,
            }
            continue;
        };
        match attempt(&bot, &front.0).await {
            Ok(id) => {
                info!(outbox_id = id, "handed to botd");
                if let Some((_, Some(event))) = held.pop_front() {
                    handed(event);
                }
                backoff = Duration::from_millis(500);
                continue;
            }
            Err(e) => {
                warn!(error = %e, held = held.len(), "botd did not take a message; holding it")
            }
        }
        // Wait for botd to come back, a timer, or more messages to hold.
        let sleep = tokio::time::sleep(backoff);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                Some(_) = async {
                    match owners.as_mut() {
                        Some(s) => futures_util::StreamExt::next(s).await,
                        None => std::future::pending().await,
                    }
                } => break,
                m = rx.recv() => match m {
                    Some(m) => {
                        held.push_back(m);
                        if held.len() > MAX_HELD {
                            held.pop_front();
                            error!("botd has been away too long: dropped the oldest held message");
                        }
                    }
                    None => return,
                },
            }
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
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
        p.finish(1, Err("burst failed".into()));
        let (fds, errors) = waiter.await.unwrap();
        assert_eq!(fds.len(), 2);
        assert_eq!(errors, vec!["burst failed".to_string()]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_camera_gives_up_after_the_timeout_with_a_reason() {
        let p = Photos::default();
        p.begin(7);
        let (fds, errors) = p.wait(7, Duration::from_secs(30)).await;
        assert!(fds.is_empty());
        assert!(errors[0].contains("did not answer"));
    }

    #[tokio::test]
    async fn an_event_captured_before_a_restart_says_where_its_photos_are() {
        let (fds, errors) = Photos::default().wait(9, Duration::from_secs(1)).await;
        assert!(fds.is_empty());
        assert_eq!(errors, vec![NOT_IN_MEMORY.to_string()]);
    }

    #[tokio::test]
    async fn albums_are_capped_at_ten() {
        let p = Photos::default();
        p.begin(2);
        p.finish(2, Ok((0..14).map(|_| fd()).collect()));
        assert_eq!(p.wait(2, Duration::from_secs(1)).await.0.len(), MAX_ALBUM);
    }
}
