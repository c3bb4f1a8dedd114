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

    s.ask_for(OWNER, "/disable", |t| {
        t == "Done: disable → the system is disabled."
    })
    .await;
    assert_eq!(alarm.state().await.unwrap(), "disabled");
    let history = alarm.history(5).await.unwrap();
    assert!(
        history.iter().any(|h| h.actor.starts_with("telegram:111")),
        "{history:?}"
    );

    s.ask_for(OWNER, "/enable", |t| {
        t == "Done: enable → the system is disarmed."
    })
    .await;
    s.ask_for(OWNER, "/arm", |t| {
        t.starts_with("Done: arm → the system is arm")
    })
    .await;
    wait_state(&alarm, "armed").await;
    s.ask_for(OWNER, "/status", |t| t.starts_with("State: armed since"))
        .await;
    s.ask_for(OWNER, "/history 20", |t| {
        t.contains("command") && t.contains("telegram:111")
    })
    .await;

    // /photo goes through Alarm1.Snapshot to the camera.
    let before = s.tg.sent_to(OWNER).len();
    s.tg.send_text(OWNER, "/photo");
    let sent = s.wait_sent(OWNER, before + 1).await;
    let photo = sent[before..]
        .iter()
        .find(|c| c.method == "sendPhoto")
        .expect("a photo");
    common::decode(&photo.photos[0]);

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
        notices
            .iter()
            .any(|t| t.to_lowercase().contains("disabled") && !t.starts_with("Done")),
        "{notices:?}"
    );

    // The alert's Disarm button works like /disarm.
    s.tg.press_button(OWNER, "disarm");
    wait_state(&alarm, "disarmed").await;
}
