//! The courier against a Bot1 on a private bus that refuses as botd does.
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
    OwnedFd::from(secura_bus::fd::sealed_memfd("p", &secura_testbed::fakes::jpeg(8, 8, 1)).unwrap())
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
    while let Ok(Some(input)) = tokio::time::timeout(Duration::from_secs(2), s.rx.recv()).await {
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
