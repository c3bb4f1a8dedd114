//! botd with the real alarmd on a private bus (fakes only for the camera, the sniffer and the
//! sensor): Telegram commands change and read the real alarm, alarmd's notices and alerts come
//! back to Telegram through botd's outbox.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{OWNER, STRANGER, Setup};
use secura_bus::proxies::Alarm1Proxy;
use secura_testbed::Daemon;
use secura_testbed::fakes::{FakeCamera, FakePresence, FakeSensor};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

async fn alarmd(s: &Setup) -> (Daemon, Alarm1Proxy<'static>) {
    let cfg = s.bus.dir().join("alarm.toml");
    std::fs::write(
        &cfg,
        "[alarm]\naway_after = \"1h\"\nexit_delay = \"1s\"\nverify = \"1s\"\nstartup_grace = \"0s\"\n\
         [presence]\nprobe_timeout = \"300ms\"\n",
    )
    .unwrap();
    let d = Daemon::spawn(
        &s.bus,
        "secura-alarmd",
        &["--config", cfg.to_str().unwrap(), "-d"],
        &s.bus.dir().join("alarm-state"),
    )
    .unwrap();
    s.bus
        .wait_for_name(secura_bus::names::ALARM_NAME, WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let conn = s.bus.connect().await.unwrap();
    let proxy = Alarm1Proxy::builder(&conn)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap();
    (d, proxy)
}

/// Send `text` as the owner; the one message that answers it (troubles aside), checked to
/// be the only one by a `/help` sent after it.
async fn one_reply(s: &Setup, text: &str) -> String {
    let before = s.tg.sent_to(OWNER).len();
    s.tg.send_text(OWNER, text);
    s.wait_sent(OWNER, before + 1).await;
    s.ask_for(OWNER, "/help", |t| t.contains("/photo")).await;
    let replies: Vec<String> = s.tg.sent_to(OWNER)[before..]
        .iter()
        .map(|c| c.text.clone().unwrap_or_default())
        .filter(|t| !t.starts_with("Trouble") && !t.starts_with("Resolved"))
        .collect();
    assert_eq!(
        replies.len(),
        2,
        "one answer to {text:?}, then /help's: {replies:?}"
    );
    replies[0].clone()
}

async fn wait_state(alarm: &Alarm1Proxy<'_>, want: &str) {
    let ok = secura_testbed::eventually(WAIT, || async {
        alarm.state().await.unwrap_or_default() == want
    })
    .await;
    assert!(ok, "state is {:?}, not {want}", alarm.state().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn telegram_commands_drive_the_real_alarmd_and_its_alerts_come_back() {
    let s = Setup::start().await;
    let _camera = FakeCamera::start(&s.bus).await.unwrap();
    let _presence = FakePresence::start(&s.bus).await.unwrap();
    let sensor = FakeSensor::start(&s.bus).await.unwrap();
    let (alarmd, alarm) = alarmd(&s).await;
    let start = alarm.state().await.unwrap();
    assert_ne!(start, "disabled", "{}", alarmd.log());

    // A stranger's /disable changes nothing.
    let id = s.tg.send_text(STRANGER, "/disable");
    s.handled(id).await;
    assert_eq!(alarm.state().await.unwrap(), start);

    // One reply per command: alarmd's notice, naming the user by first name.
    let notice = one_reply(&s, "/disable").await;
    assert_eq!(
        notice,
        "Disabled — by Heidi: nothing will arm the system until /enable."
    );
    assert_eq!(alarm.state().await.unwrap(), "disabled");
    let history = alarm.history(5).await.unwrap();
    assert!(
        history
            .iter()
            .any(|h| h.actor.starts_with("Heidi (telegram:111 via uid:")),
        "{history:?}"
    );
    // A command that changes nothing gets one plain answer, and nobody else is told.
    let already = one_reply(&s, "/disable").await;
    assert_eq!(already, "Nothing changed: the system is already disabled.");
    assert_eq!(
        one_reply(&s, "/enable").await,
        "Enabled — by Heidi: watching for presence."
    );
    let arming = one_reply(&s, "/arm").await;
    assert!(
        arming.starts_with("Arming — by Heidi: armed in 1s"),
        "{arming}"
    );
    wait_state(&alarm, "armed").await;
    s.ask_for(OWNER, "/status", |t| t.starts_with("State: armed since"))
        .await;
    let history = s
        .ask_for(OWNER, "/history 20", |t| t.contains("command: arm"))
        .await;
    assert!(history.contains("command: arm — by Heidi"), "{history}");
    assert!(!history.contains("telegram:"), "{history}");

    // /photo goes through Alarm1.Snapshot to the camera.
    let before = s.tg.sent_to(OWNER).len();
    s.tg.send_text(OWNER, "/photo");
    let sent = s.wait_sent(OWNER, before + 1).await;
    let photo = sent[before..]
        .iter()
        .find(|c| c.method == "sendPhoto")
        .expect("a photo");
    common::decode(&photo.photos[0]);
    // …recorded as the Telegram user (Alarm1.SnapshotAs).
    let history = alarm.history(5).await.unwrap();
    assert!(
        history
            .iter()
            .any(|h| h.text == "snapshot taken"
                && h.actor.starts_with("Heidi (telegram:111 via uid:")),
        "{history:?}"
    );

    // Motion while armed: alarmd's alert arrives as an album through botd's outbox.
    sensor.motion().await.unwrap();
    let ok = secura_testbed::eventually(WAIT, || async {
        s.tg.sent_to(OWNER)
            .iter()
            .any(|c| c.method == "sendMediaGroup" || (c.method == "sendPhoto" && c.text.is_some()))
    })
    .await;
    assert!(ok, "no alert arrived:\n{}\n{}", alarmd.log(), s.botd.log());
    let album =
        s.tg.sent_to(OWNER)
            .into_iter()
            .find(|c| c.method == "sendMediaGroup" || (c.method == "sendPhoto" && c.text.is_some()))
            .unwrap();
    assert!(!album.photos.is_empty());
    for p in &album.photos {
        common::decode(p);
    }
    // alarmd's notices of the state changes came through the outbox too.
    let notices: Vec<String> =
        s.tg.sent_to(OWNER)
            .iter()
            .filter_map(|c| c.text.clone())
            .collect();
    assert!(
        notices.iter().any(|t| t.starts_with("Disabled — by Heidi")),
        "{notices:?}"
    );

    // The alert's Disarm button works like /disarm.
    s.tg.press_button(OWNER, "disarm");
    wait_state(&alarm, "disarmed").await;
}
