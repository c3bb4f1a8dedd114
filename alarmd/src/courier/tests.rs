//! The courier against a Bot1 on a private bus that refuses as botd does.
use super::*;
use crate::inbox::{Input, Receiver};
use secura_bus::names::Service;
use secura_bus::types::MessageKind;
use secura_testbed::{TestBus, eventually};
use std::sync::{Arc, Mutex};

const WAIT: Duration = Duration::from_secs(20);

/// What the test bot took, in order: (text, photo count).
type Log = Arc<Mutex<Vec<(String, usize)>>>;
/// The kind and `reply_to` of each message taken, in the same order.
type Kinds = Arc<Mutex<Vec<(String, u64)>>>;

/// botd's refusals, as the real one gives them: texts over Telegram's limits are
/// `InvalidArgument`; `busy_notices` makes every text that is not an alert fail for now.
struct Bot {
    log: Log,
    kinds: Kinds,
    busy_notices: bool,
    poison: Option<String>,
}

#[zbus::interface(name = "org.securapicam.Bot1")]
impl Bot {
    async fn post(
        &self,
        kind: String,
        text: String,
        photos: Vec<zbus::OwnedFd>,
        reply_to: u64,
    ) -> Result<u64, secura_bus::Error> {
        let max = if photos.is_empty() {
            MAX_TEXT
        } else {
            MAX_CAPTION
        };
        if text.chars().count() > max {
            return Err(secura_bus::Error::InvalidArgument("too long".into()));
        }
        if self.poison.as_deref().is_some_and(|p| text.contains(p)) {
            return Err(secura_bus::Error::InvalidArgument("not this one".into()));
        }
        if self.busy_notices && photos.is_empty() && kind != "alert" {
            return Err(secura_bus::Error::Busy("the outbox is full".into()));
        }
        let mut l = self.log.lock().unwrap();
        l.push((text, photos.len()));
        self.kinds.lock().unwrap().push((kind, reply_to));
        Ok(l.len() as u64)
    }
}

struct Setup {
    _bus: TestBus,
    _botd: zbus::Connection,
    log: Log,
    kinds: Kinds,
    photos: Photos,
    courier: Courier,
    rx: Receiver,
}

async fn setup(busy_notices: bool, poison: Option<&str>) -> Setup {
    let bus = TestBus::start().unwrap();
    let log = Log::default();
    let kinds = Kinds::default();
    let bot = Bot {
        log: log.clone(),
        kinds: kinds.clone(),
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
        kinds,
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
    s.courier.alert(
        MessageKind::Alert,
        1,
        text::alert_caption(1),
        0,
        AlertPhotos::Captured,
    );
    s.courier
        .notice(MessageKind::Notice, "Disarmed by uid:1000.".into());
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
    s.courier.notice(
        MessageKind::Trouble,
        format!("Trouble: camera: {}.", "x".repeat(4200)),
    );
    s.photos.begin(2);
    s.photos.finish(2, Ok(vec![photo()]));
    s.courier.alert(
        MessageKind::Alert,
        2,
        "y".repeat(2000),
        0,
        AlertPhotos::Captured,
    );
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
    s.courier.notice(MessageKind::Notice, "poison".into());
    s.courier.notice(MessageKind::Notice, "after".into());
    s.courier.alert(
        MessageKind::Alert,
        3,
        text::alert_caption(3),
        0,
        AlertPhotos::KeptOnPi,
    );
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
    s.courier.notice(MessageKind::Notice, "held".into());
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.photos.begin(4);
    s.photos.finish(4, Ok(vec![photo()]));
    s.courier.alert(
        MessageKind::Alert,
        4,
        text::alert_caption(4),
        0,
        AlertPhotos::Captured,
    );
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

#[tokio::test]
async fn a_follow_up_replies_to_its_alert_and_evidence_and_troubles_keep_their_kind() {
    let s = setup(false, None).await;
    s.photos.begin(5);
    s.photos.finish(5, Ok(vec![photo(), photo()]));
    s.courier.alert(
        MessageKind::Alert,
        5,
        text::alert_caption(5),
        0,
        AlertPhotos::Captured,
    );
    assert!(eventually(WAIT, || async { taken(&s.log).len() == 1 }).await);
    s.photos.begin(5);
    s.photos.finish(5, Ok(vec![photo(), photo(), photo()]));
    s.courier.alert(
        MessageKind::FollowUp,
        5,
        text::FOLLOW_UP.into(),
        0,
        AlertPhotos::Captured,
    );
    s.photos.begin(6);
    s.photos.finish(6, Ok(vec![photo()]));
    s.courier.alert(
        MessageKind::Evidence,
        6,
        text::arrival_caption("Alice", true, 6),
        0,
        AlertPhotos::Captured,
    );
    s.courier
        .notice(MessageKind::Trouble, "Trouble: camd is not running.".into());
    assert!(eventually(WAIT, || async { taken(&s.log).len() == 4 }).await);
    let got = taken(&s.log);
    let kinds = s.kinds.lock().unwrap().clone();
    // The alert was outbox id 1 here: the follow-up replies to it, with its own photos.
    assert_eq!(kinds[0], ("alert".to_string(), 0));
    assert_eq!(kinds[1], ("followup".to_string(), 1));
    assert!(got[1].0.starts_with("More motion at "), "{got:?}");
    assert_eq!(got[1].1, 3);
    assert_eq!(kinds[2], ("evidence".to_string(), 0));
    assert!(got[2].0.starts_with("Alice's phone answered"), "{got:?}");
    assert_eq!(kinds[3], ("trouble".to_string(), 0));
}

#[tokio::test]
async fn a_follow_up_whose_photos_joined_the_alert_sends_nothing() {
    let s = setup(false, None).await;
    s.photos.begin(7);
    s.photos.finish(7, Ok(vec![photo()]));
    s.courier.alert(
        MessageKind::Alert,
        7,
        text::alert_caption(7),
        0,
        AlertPhotos::Captured,
    );
    s.courier.alert(
        MessageKind::FollowUp,
        7,
        text::FOLLOW_UP.into(),
        0,
        AlertPhotos::Captured,
    );
    s.courier.notice(MessageKind::Notice, "after".into());
    assert!(eventually(WAIT, || async { taken(&s.log).len() == 2 }).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = taken(&s.log);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].0, "after");
}
