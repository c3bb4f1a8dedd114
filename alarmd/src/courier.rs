//! The courier: hands notices and alerts to botd, holding them while botd is away (botd's
//! own outbox makes them durable once accepted).
//!
//! It owns each alert from the moment the machine decides it: it waits for the event's
//! photos itself, so nothing queued later can overtake the alert, and alerts go before any
//! notice still held. Texts are cut to Telegram's limits before they are sent; a message botd
//! refuses as malformed is never retried (that would block every later one): an album becomes
//! a text alert, a notice is dropped with a log line and a trouble.

use crate::clock;
use crate::inbox::Inbox;
use crate::machine::{AlertPhotos, Event, PhotoProblem, TroubleKey, text};
use crate::photos::Photos;
use secura_bus::proxies::Bot1Proxy;
use secura_bus::types::{MessageKind, Micros};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{error, info, warn};
use zbus::OwnedFd;

/// Messages held for botd while it is away; beyond that the oldest notices are dropped
/// (logged), alerts only when nothing but alerts is held.
pub const MAX_HELD: usize = 500;
/// How long an alert waits for its photos.
pub const PHOTO_TIMEOUT: Duration = Duration::from_secs(30);
/// One delivery attempt may take this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Telegram's limit for a message text, in characters.
pub const MAX_TEXT: usize = 4096;
/// Telegram's limit for a photo caption, in characters.
pub const MAX_CAPTION: usize = 1024;
/// Outbox ids of this many recent alerts are kept, for their follow-ups to reply to.
const ALERT_IDS_KEPT: usize = 64;

/// What the core hands over.
#[derive(Debug)]
enum Letter {
    Notice(MessageKind, String),
    Alert {
        kind: MessageKind,
        event: u64,
        caption: String,
        at: Micros,
        photos: AlertPhotos,
    },
}

/// A message ready for botd.
#[derive(Debug)]
enum Ready {
    Text(String),
    Album(String, Vec<OwnedFd>),
}

/// A held message of `kind`; `event` is set for alerts, follow-ups and evidence.
#[derive(Debug)]
struct Held {
    kind: MessageKind,
    msg: Ready,
    event: Option<u64>,
}

/// Hands messages to botd, alerts first, each kind in order.
#[derive(Debug, Clone)]
pub struct Courier {
    tx: mpsc::UnboundedSender<Letter>,
}

impl Courier {
    /// Start delivering through `bot`, taking alert photos from `photos`; botd's acceptance
    /// of an alert and its refusals are reported to `inbox`.
    pub fn start(bot: Bot1Proxy<'static>, photos: Photos, inbox: Inbox) -> Courier {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(deliver(bot, photos, rx, inbox));
        Courier { tx }
    }

    /// Queue a text of `kind` (notice, trouble, resolved).
    pub fn notice(&self, kind: MessageKind, text: String) {
        self.queue(Letter::Notice(kind, text));
    }

    /// Queue the photos of `event` as `kind`: its alert, a follow-up (sent as a reply to the
    /// alert) or evidence.
    pub fn alert(
        &self,
        kind: MessageKind,
        event: u64,
        caption: String,
        at: Micros,
        photos: AlertPhotos,
    ) {
        self.queue(Letter::Alert {
            kind,
            event,
            caption,
            at,
            photos,
        });
    }

    fn queue(&self, l: Letter) {
        if self.tx.send(l).is_err() {
            error!("the courier has stopped; a message to the owners is lost");
        }
    }
}

/// `s` cut to at most `max` characters, marked as cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Why botd did not take a message.
#[derive(Debug)]
enum Refused {
    /// botd is away, busy or failing: try again.
    ForNow(String),
    /// botd will never take this message.
    ForGood(String),
}

async fn attempt(
    bot: &Bot1Proxy<'static>,
    kind: MessageKind,
    m: &Ready,
    reply_to: u64,
) -> Result<u64, Refused> {
    let kind = kind.as_str();
    let call = async {
        match m {
            Ready::Text(text) => {
                bot.post(kind, &shorten(text, MAX_TEXT), Vec::new(), reply_to)
                    .await
            }
            Ready::Album(caption, fds) => {
                let copies = fds
                    .iter()
                    .map(|fd| {
                        std::os::fd::AsFd::as_fd(fd)
                            .try_clone_to_owned()
                            .map(OwnedFd::from)
                    })
                    .collect::<std::io::Result<Vec<_>>>()
                    .map_err(|e| zbus::Error::Failure(format!("cannot copy a photo fd: {e}")))?;
                bot.post(kind, &shorten(caption, MAX_CAPTION), copies, reply_to)
                    .await
            }
        }
    };
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(id)) => Ok(id),
        Ok(Err(e)) => match secura_bus::Error::from(e) {
            secura_bus::Error::InvalidArgument(why) => Err(Refused::ForGood(why)),
            other => Err(Refused::ForNow(other.message())),
        },
        Err(_) => Err(Refused::ForNow(format!(
            "botd did not answer within {CALL_TIMEOUT:?}"
        ))),
    }
}

/// The alert's message: its photos (waited for here) or, without any, the text. `None` for a
/// follow-up with nothing to show (its photos went out with the alert).
async fn compose(conn: &zbus::Connection, photos: &Photos, letter: Letter) -> Option<Held> {
    Some(match letter {
        Letter::Notice(kind, t) => Held {
            kind,
            msg: Ready::Text(t),
            event: None,
        },
        Letter::Alert {
            kind,
            event,
            caption,
            photos: AlertPhotos::KeptOnPi,
            ..
        } => Held {
            kind,
            msg: Ready::Text(text::resent_alert(&caption, event)),
            event: Some(event),
        },
        Letter::Alert {
            kind,
            event,
            caption,
            at,
            photos: AlertPhotos::Captured,
        } => {
            let (fds, problems) = photos.wait(event, PHOTO_TIMEOUT).await;
            if kind == MessageKind::FollowUp
                && fds.is_empty()
                && problems.iter().all(|p| *p == PhotoProblem::BeforeRestart)
            {
                // The capture finished in time to join the alert's own album.
                info!(event, "follow-up photos went out with the alert");
                return None;
            }
            let message = text::alert_message(&caption, at, event, fds.len(), &problems);
            if kind == MessageKind::Alert {
                // Alarm1.Alerted and LastAlert (mqttd shows them to Home Assistant).
                crate::alerts::announce(conn, event, at, &message, fds.first()).await;
            }
            let msg = if fds.is_empty() {
                warn!(event, kind = kind.as_str(), "photos missing");
                Ready::Text(message)
            } else {
                info!(event, kind = kind.as_str(), photos = fds.len(), "photos");
                Ready::Album(message, fds)
            };
            Held {
                kind,
                msg,
                event: Some(event),
            }
        }
    })
}

/// What is waiting: alerts (each waiting for its photos when it reaches the front) go
/// before notices.
#[derive(Debug, Default)]
struct Queue {
    alerts: VecDeque<Letter>,
    notices: VecDeque<Letter>,
}

impl Queue {
    fn push(&mut self, l: Letter) {
        match l {
            Letter::Alert { .. } => self.alerts.push_back(l),
            Letter::Notice(..) => self.notices.push_back(l),
        }
        if self.alerts.len() + self.notices.len() > MAX_HELD {
            if self.notices.pop_front().is_none() {
                self.alerts.pop_front();
            }
            error!("botd has been away too long: dropped the oldest held message");
        }
    }

    fn pop(&mut self) -> Option<Letter> {
        self.alerts.pop_front().or_else(|| self.notices.pop_front())
    }
}

async fn deliver(
    bot: Bot1Proxy<'static>,
    photos: Photos,
    mut rx: mpsc::UnboundedReceiver<Letter>,
    inbox: Inbox,
) {
    let mut queue = Queue::default();
    // The message being delivered, composed; it stays first until botd takes it or refuses
    // it for good.
    let mut current: Option<Held> = None;
    let mut owners = match bot.inner().receive_owner_changed().await {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(error = %e, "cannot follow botd's name; retrying on a timer only");
            None
        }
    };
    let mut backoff = secura_kit::Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    // The text of the open "refused" trouble: cleared once a later message gets through.
    let mut refusal: Option<String> = None;
    // Outbox ids of recent alerts by event, for their follow-ups to reply to.
    let mut alert_ids: BTreeMap<u64, u64> = BTreeMap::new();
    loop {
        while let Ok(l) = rx.try_recv() {
            queue.push(l);
        }
        let held = match current.take() {
            Some(h) => h,
            None => match queue.pop() {
                Some(l) => match compose(bot.inner().connection(), &photos, l).await {
                    Some(h) => h,
                    None => continue,
                },
                None => match rx.recv().await {
                    Some(l) => {
                        queue.push(l);
                        continue;
                    }
                    None => return,
                },
            },
        };
        let reply_to = match (held.kind, held.event) {
            (MessageKind::FollowUp, Some(event)) => alert_ids.get(&event).copied().unwrap_or(0),
            _ => 0,
        };
        match attempt(&bot, held.kind, &held.msg, reply_to).await {
            Ok(id) => {
                info!(outbox_id = id, kind = held.kind.as_str(), "handed to botd");
                if let Some(event) = held.event
                    && held.kind != MessageKind::FollowUp
                {
                    inbox.event(Event::AlertHanded { event }).await;
                }
                if let (MessageKind::Alert, Some(event)) = (held.kind, held.event) {
                    alert_ids.insert(event, id);
                    while alert_ids.len() > ALERT_IDS_KEPT {
                        alert_ids.pop_first();
                    }
                }
                let own_notice = matches!(&held.msg, Ready::Text(t)
                    if refusal.as_ref().is_some_and(|r| t.contains(r.as_str())));
                if refusal.is_some() && !own_notice {
                    refusal = None;
                    inbox
                        .event(Event::Trouble {
                            key: TroubleKey::Delivery,
                            text: None,
                        })
                        .await;
                }
                backoff.reset();
                continue;
            }
            Err(Refused::ForGood(why)) => {
                current = refused_for_good(held, &why, &inbox, &mut refusal).await;
                continue;
            }
            Err(Refused::ForNow(why)) => {
                warn!(error = %why, "botd did not take a message; holding it");
                current = Some(held);
            }
        }
        // Wait for botd to come back, a timer, or more messages to hold.
        let sleep = tokio::time::sleep_until(clock::instant_in(backoff.next_delay()));
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
                l = rx.recv() => match l {
                    Some(l) => {
                        let alert = matches!(l, Letter::Alert { .. });
                        queue.push(l);
                        // A new alert must not wait behind a notice botd keeps refusing.
                        if alert && current.as_ref().is_some_and(|h| h.event.is_none()) {
                            if let Some(h) = current.take() {
                                queue.notices.push_front(Letter::Notice(h.kind, match h.msg {
                                    Ready::Text(t) => t,
                                    Ready::Album(t, _) => t,
                                }));
                            }
                            break;
                        }
                    }
                    None => return,
                },
            }
        }
    }
}

/// botd will never take `held`: an album goes again as text (the alert must arrive), a text
/// is dropped and reported.
async fn refused_for_good(
    held: Held,
    why: &str,
    inbox: &Inbox,
    refusal: &mut Option<String>,
) -> Option<Held> {
    match held.msg {
        Ready::Album(caption, _) => {
            error!(error = %why, "botd refused the alert's photos; sending it as text");
            Some(Held {
                kind: held.kind,
                msg: Ready::Text(text::photos_refused(&caption, why)),
                event: held.event,
            })
        }
        Ready::Text(t) => {
            error!(error = %why, text = %shorten(&t, 200), "botd refused a message for good; dropped");
            if let Some(event) = held.event {
                // Nothing more can be done for it; do not resend it after a restart.
                inbox.event(Event::AlertHanded { event }).await;
            }
            let trouble = text::message_refused(why);
            *refusal = Some(trouble.clone());
            inbox
                .event(Event::Trouble {
                    key: TroubleKey::Delivery,
                    text: Some(trouble),
                })
                .await;
            None
        }
    }
}

#[cfg(test)]
mod tests;
