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
use crate::machine::{AlertPhotos, Event, TroubleKey, text};
use crate::photos::Photos;
use secura_bus::proxies::Bot1Proxy;
use secura_bus::types::Micros;
use std::collections::VecDeque;
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

/// What the core hands over.
#[derive(Debug)]
enum Letter {
    Notice(String),
    Alert {
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

/// A held message; `event` is set for alerts.
#[derive(Debug)]
struct Held {
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

    /// Queue a notice.
    pub fn notice(&self, text: String) {
        self.queue(Letter::Notice(text));
    }

    /// Queue the alert of `event`.
    pub fn alert(&self, event: u64, caption: String, at: Micros, photos: AlertPhotos) {
        self.queue(Letter::Alert {
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

async fn attempt(bot: &Bot1Proxy<'static>, m: &Ready) -> Result<u64, Refused> {
    let call = async {
        match m {
            Ready::Text(text) => bot.notify(&shorten(text, MAX_TEXT)).await,
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
                bot.alert(&shorten(caption, MAX_CAPTION), copies).await
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

/// The alert's message: its photos (waited for here) or, without any, the text.
async fn compose(photos: &Photos, letter: Letter) -> Held {
    match letter {
        Letter::Notice(t) => Held {
            msg: Ready::Text(t),
            event: None,
        },
        Letter::Alert {
            event,
            caption,
            photos: AlertPhotos::KeptOnPi,
            ..
        } => Held {
            msg: Ready::Text(text::resent_alert(&caption, event)),
            event: Some(event),
        },
        Letter::Alert {
            event,
            caption,
            at,
            photos: AlertPhotos::Captured,
        } => {
            let (fds, problems) = photos.wait(event, PHOTO_TIMEOUT).await;
            let message = text::alert_message(&caption, at, event, fds.len(), &problems);
            let msg = if fds.is_empty() {
                warn!(event, "alert without photos");
                Ready::Text(message)
            } else {
                info!(event, photos = fds.len(), "alert");
                Ready::Album(message, fds)
            };
            Held {
                msg,
                event: Some(event),
            }
        }
    }
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
            Letter::Notice(_) => self.notices.push_back(l),
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
    let mut backoff = Duration::from_millis(500);
    // The text of the open "refused" trouble: cleared once a later message gets through.
    let mut refusal: Option<String> = None;
    loop {
        while let Ok(l) = rx.try_recv() {
            queue.push(l);
        }
        let held = match current.take() {
            Some(h) => h,
            None => match queue.pop() {
                Some(l) => compose(&photos, l).await,
                None => match rx.recv().await {
                    Some(l) => {
                        queue.push(l);
                        continue;
                    }
                    None => return,
                },
            },
        };
        match attempt(&bot, &held.msg).await {
            Ok(id) => {
                info!(outbox_id = id, "handed to botd");
                if let Some(event) = held.event {
                    inbox.event(Event::AlertHanded { event }).await;
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
                backoff = Duration::from_millis(500);
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
        let sleep = tokio::time::sleep_until(clock::instant_in(backoff));
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
                                queue.notices.push_front(Letter::Notice(match h.msg {
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
        backoff = (backoff * 2).min(Duration::from_secs(30));
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
mod tests {
    use super::*;
    use crate::inbox::{Input, Receiver};
    use secura_bus::names::Service;
    use secura_testbed::{TestBus, eventually};
    use std::sync::{Arc, Mutex};

    const WAIT: Duration = Duration::from_secs(20);

    /// What the test bot took, in order: (text, photo count).
    type Log = Arc<Mutex<Vec<(String, usize)>>>;

    /// botd's refusals, as the real one gives them: texts over Telegram's limits are
    /// `InvalidArgument`; `busy_notices` makes every notice fail for now.
    struct Bot {
        log: Log,
        busy_notices: bool,
        poison: Option<String>,
    }

    #[zbus::interface(name = "org.securapicam.Bot1")]
    impl Bot {
        async fn notify(&self, text: String) -> Result<u64, secura_bus::Error> {
            if text.chars().count() > MAX_TEXT {
                return Err(secura_bus::Error::InvalidArgument("too long".into()));
            }
            if self.poison.as_deref().is_some_and(|p| text.contains(p)) {
                return Err(secura_bus::Error::InvalidArgument("not this one".into()));
            }
            if self.busy_notices {
                return Err(secura_bus::Error::Busy("the outbox is full".into()));
            }
            let mut l = self.log.lock().unwrap();
            l.push((text, 0));
            Ok(l.len() as u64)
        }

        async fn alert(
            &self,
            caption: String,
            photos: Vec<zbus::OwnedFd>,
        ) -> Result<u64, secura_bus::Error> {
            if caption.chars().count() > MAX_CAPTION {
                return Err(secura_bus::Error::InvalidArgument("too long".into()));
            }
            let mut l = self.log.lock().unwrap();
            l.push((caption, photos.len()));
            Ok(l.len() as u64)
        }
    }

    struct Setup {
        _bus: TestBus,
        _botd: zbus::Connection,
        log: Log,
        photos: Photos,
        courier: Courier,
        rx: Receiver,
    }

    async fn setup(busy_notices: bool, poison: Option<&str>) -> Setup {
        let bus = TestBus::start().unwrap();
        let log = Log::default();
        let bot = Bot {
            log: log.clone(),
            busy_notices,
            poison: poison.map(String::from),
        };
        let botd = zbus::connection::Builder::address(bus.address())
            .serve_at(Service::Bot.path(), bot)
            .name(Service::Bot.bus_name())
            .build()
            .await
            .unwrap();
        let conn = bus.connect().await.unwrap();
        let proxy = Bot1Proxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .unwrap();
        let photos = Photos::default();
        let (inbox, rx) = Inbox::new();
        let courier = Courier::start(proxy, photos.clone(), inbox);
        Setup {
            _bus: bus,
            _botd: botd,
            log,
            photos,
            courier,
            rx,
        }
    }

    fn photo() -> OwnedFd {
        OwnedFd::from(
            secura_bus::fd::sealed_memfd("p", &secura_testbed::fakes::jpeg(8, 8, 1)).unwrap(),
        )
    }

    fn taken(log: &Log) -> Vec<(String, usize)> {
        log.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn a_notice_queued_after_an_alert_is_delivered_after_it() {
        let s = setup(false, None).await;
        s.photos.begin(1);
        s.courier
            .alert(1, text::alert_caption(1), 0, AlertPhotos::Captured);
        s.courier.notice("Disarmed by uid:1000.".into());
        // The photos come later than the notice was queued.
        tokio::time::sleep(Duration::from_millis(300)).await;
        s.photos.finish(1, Ok(vec![photo(), photo()]));
        assert!(eventually(WAIT, || async { taken(&s.log).len() == 2 }).await);
        let got = taken(&s.log);
        assert!(
            got[0]
                .0
                .starts_with("Motion detected while armed (event 1)"),
            "{got:?}"
        );
        assert_eq!(got[0].1, 2);
        assert_eq!(got[1].0, "Disarmed by uid:1000.");
    }

    #[tokio::test]
    async fn texts_are_cut_to_telegram_limits_before_they_are_sent() {
        let s = setup(false, None).await;
        s.courier
            .notice(format!("Trouble: camera: {}.", "x".repeat(4200)));
        s.photos.begin(2);
        s.photos.finish(2, Ok(vec![photo()]));
        s.courier
            .alert(2, "y".repeat(2000), 0, AlertPhotos::Captured);
        assert!(eventually(WAIT, || async { taken(&s.log).len() == 2 }).await);
        let got = taken(&s.log);
        assert!(
            got.iter()
                .any(|(t, n)| *n == 0 && t.chars().count() == MAX_TEXT && t.ends_with('…'))
        );
        assert!(
            got.iter()
                .any(|(t, n)| *n == 1 && t.chars().count() == MAX_CAPTION)
        );
    }

    #[tokio::test]
    async fn a_refused_message_is_dropped_with_a_trouble_and_never_blocks_later_ones() {
        let mut s = setup(false, Some("poison")).await;
        s.courier.notice("poison".into());
        s.courier.notice("after".into());
        s.courier
            .alert(3, text::alert_caption(3), 0, AlertPhotos::KeptOnPi);
        assert!(eventually(WAIT, || async { taken(&s.log).len() == 2 }).await);
        let got = taken(&s.log);
        assert!(
            got[0]
                .0
                .starts_with("Motion detected while armed (event 3)"),
            "{got:?}"
        );
        assert_eq!(got[1].0, "after");
        let mut raised = false;
        let mut cleared = false;
        while let Ok(Some(input)) = tokio::time::timeout(Duration::from_secs(2), s.rx.recv()).await
        {
            match input {
                Input::Event(Event::Trouble {
                    key: TroubleKey::Delivery,
                    text: Some(t),
                }) => {
                    assert!(t.contains("not this one"), "{t}");
                    raised = true;
                }
                Input::Event(Event::Trouble {
                    key: TroubleKey::Delivery,
                    text: None,
                }) => cleared = true,
                _ => {}
            }
        }
        assert!(raised, "the refusal is a trouble");
        assert!(cleared, "and it clears once later messages get through");
    }

    #[tokio::test]
    async fn alerts_never_wait_behind_notices_botd_does_not_take() {
        let s = setup(true, None).await;
        s.courier.notice("held".into());
        tokio::time::sleep(Duration::from_millis(200)).await;
        s.photos.begin(4);
        s.photos.finish(4, Ok(vec![photo()]));
        s.courier
            .alert(4, text::alert_caption(4), 0, AlertPhotos::Captured);
        assert!(eventually(WAIT, || async { !taken(&s.log).is_empty() }).await);
        let got = taken(&s.log);
        assert!(
            got[0]
                .0
                .starts_with("Motion detected while armed (event 4)"),
            "{got:?}"
        );
        assert_eq!(got[0].1, 1);
    }
}
