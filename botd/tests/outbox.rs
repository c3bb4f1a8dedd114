//! The durable outbox through outages: the stand-in down, answering 500 and 429, botd killed
//! mid-delivery and restarted; every alert arrives once, in order, photos intact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{OWNER, Setup, jpeg};
use secura_testbed::telegram::{Call, Mode};
use std::time::Duration;

const ALERTS: usize = 50;

fn photos_of(i: usize) -> Vec<Vec<u8>> {
    let w = 16 + u16::try_from(i).unwrap();
    let n = if i.is_multiple_of(3) { 1 } else { 2 };
    (0..n)
        .map(|k| jpeg(w, 16 + k, u8::try_from(i).unwrap()))
        .collect()
}

fn memfds(photos: &[Vec<u8>]) -> Vec<zbus::OwnedFd> {
    photos
        .iter()
        .map(|p| secura_bus::fd::sealed_memfd("photo", p).unwrap().into())
        .collect()
}

fn alert_calls(calls: &[Call]) -> Vec<Call> {
    calls
        .iter()
        .filter(|c| c.method == "sendPhoto" || c.method == "sendMediaGroup")
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_alerts_survive_outage_sigkill_and_429_and_arrive_once_in_order() {
    let mut s = Setup::start().await;
    let (_c, bot) = s.bot1().await;
    s.tg.set_mode(Mode::Error500);
    let mut ids = Vec::new();
    for i in 0..ALERTS {
        ids.push(
            bot.alert(&format!("alert {i}"), memfds(&photos_of(i)))
                .await
                .unwrap(),
        );
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(bot.outbox().await.unwrap(), 50);

    // Refused connections for a while, then service.
    s.tg.go_down();
    let disconnected = secura_testbed::eventually(Duration::from_secs(20), || async {
        !bot.connected().await.unwrap()
    })
    .await;
    assert!(
        disconnected,
        "Connected stayed true while the Bot API was down"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    s.tg.come_up().await.unwrap();
    s.tg.set_mode(Mode::Up);
    let some = secura_testbed::eventually(Duration::from_secs(60), || async {
        alert_calls(&s.tg.sent_to(OWNER)).len() >= 15
    })
    .await;
    assert!(some, "no delivery after recovery:\n{}", s.botd.log());

    // Kill botd while a send is in flight (held, so the stand-in never confirms it).
    s.tg.set_mode(Mode::Hold);
    let held = secura_testbed::eventually(Duration::from_secs(30), || async {
        s.tg.held().iter().any(|m| m.starts_with("send"))
    })
    .await;
    assert!(held, "no send was held");
    s.botd.kill_hard();
    s.tg.set_mode(Mode::TooMany(2));
    let delivered_before_restart = alert_calls(&s.tg.sent_to(OWNER)).len();
    assert!(delivered_before_restart < ALERTS);
    s.botd.restart().unwrap();
    s.bus
        .wait_for_name(secura_bus::names::BOT_NAME, Duration::from_secs(20))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        alert_calls(&s.tg.sent_to(OWNER)).len(),
        delivered_before_restart,
        "429 was not honoured"
    );
    s.tg.set_mode(Mode::Up);

    let all = secura_testbed::eventually(Duration::from_secs(90), || async {
        alert_calls(&s.tg.sent_to(OWNER)).len() >= ALERTS
    })
    .await;
    assert!(
        all,
        "only {} alerts arrived:\n{}",
        alert_calls(&s.tg.sent_to(OWNER)).len(),
        s.botd.log()
    );
    let (_c2, bot) = s.bot1().await;
    let drained = secura_testbed::eventually(Duration::from_secs(30), || async {
        bot.outbox().await.unwrap_or(1) == 0
    })
    .await;
    assert!(drained);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let sent = s.tg.sent_to(OWNER);
    let alerts = alert_calls(&sent);
    assert_eq!(alerts.len(), ALERTS, "each alert exactly once");
    for (i, call) in alerts.iter().enumerate() {
        assert_eq!(
            call.text.as_deref(),
            Some(format!("🚨 alert {i}").as_str()),
            "order"
        );
        let want = photos_of(i);
        assert_eq!(call.photos, want, "alert {i}: photos changed on the way");
        for (k, p) in call.photos.iter().enumerate() {
            assert_eq!(
                common::decode(p),
                (
                    16 + u16::try_from(i).unwrap(),
                    16 + u16::try_from(k).unwrap()
                )
            );
        }
        let single = want.len() == 1;
        assert_eq!(
            call.method,
            if single {
                "sendPhoto"
            } else {
                "sendMediaGroup"
            }
        );
        if single {
            assert_eq!(call.buttons(), ["disarm", "disable", "photo"]);
        }
    }
    // Every album is followed by exactly one message with the buttons.
    let button_msgs = sent
        .iter()
        .filter(|c| c.method == "sendMessage" && c.buttons().len() == 3)
        .count();
    assert_eq!(
        button_msgs,
        (0..ALERTS).filter(|i| !i.is_multiple_of(3)).count()
    );
    assert!(bot.last_delivery().await.unwrap() > 0);
    assert!(bot.connected().await.unwrap());
    let secret = common::TOKEN.split(':').nth(1).unwrap();
    assert!(!s.botd.log().contains(secret), "the token is in the log");
    eprintln!(
        "requests that arrived: sendPhoto {}, sendMediaGroup {}, sendMessage {}; answered: {}",
        s.tg.attempts("sendPhoto"),
        s.tg.attempts("sendMediaGroup"),
        s.tg.attempts("sendMessage"),
        sent.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_older_than_outbox_max_age_are_dropped_with_a_notice() {
    let s = Setup::start_with("outbox_max_age = \"2s\"\n").await;
    // alarmd on the bus, or botd would rightly queue "the alarm is not running" too.
    let (_alarm, _) = common::fake_alarm::serve(&s.bus, "disarmed").await;
    let (_c, bot) = s.bot1().await;
    s.tg.set_mode(Mode::Error500);
    bot.notify("this one is too old by the time Telegram is back")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    s.tg.set_mode(Mode::Up);
    let sent = s.wait_sent(OWNER, 1).await;
    let text = sent[0].text.clone().unwrap();
    assert!(
        text.contains("Undelivered messages were dropped: 1 older than 2s"),
        "{text}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        s.tg.sent_to(OWNER).len(),
        1,
        "the old message itself never goes out"
    );
    assert!(s.botd.log().contains("dropped an undelivered message"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_who_blocked_the_bot_does_not_hold_up_the_others() {
    let s = Setup::start_with("allowed_users = [111, 112]\n").await;
    s.tg.block_user(112);
    let (_c, bot) = s.bot1().await;
    bot.notify("first").await.unwrap();
    bot.notify("second").await.unwrap();
    let sent = s.wait_sent(OWNER, 2).await;
    let texts: Vec<_> = sent.iter().map(|c| c.text.clone().unwrap()).collect();
    assert_eq!(texts, ["first", "second"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_removed_from_the_allowlist_gets_nothing_still_queued() {
    let mut s = Setup::start_with("allowed_users = [111, 112]\n").await;
    let (_c, bot) = s.bot1().await;
    s.tg.set_mode(Mode::Error500);
    bot.notify("queued for both").await.unwrap();
    s.botd.kill_hard();
    let text = common::config_text(&s.tg.url(), "allowed_users = [111]\n");
    std::fs::write(&s.config, text).unwrap();
    s.botd.restart().unwrap();
    s.bus
        .wait_for_name(secura_bus::names::BOT_NAME, Duration::from_secs(20))
        .await
        .unwrap();
    s.tg.set_mode(Mode::Up);
    let sent = s.wait_sent(OWNER, 1).await;
    assert_eq!(sent[0].text.as_deref(), Some("queued for both"));
    let (_c, bot) = s.bot1().await;
    let drained = secura_testbed::eventually(Duration::from_secs(20), || async {
        bot.outbox().await.unwrap_or(1) == 0
    })
    .await;
    assert!(drained);
    assert!(s.tg.sent_to(112).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_byte_budget_drops_the_oldest_alert_with_a_notice() {
    let s = Setup::start_with("outbox_max_bytes = \"64KiB\"\n").await;
    let (_c, bot) = s.bot1().await;
    s.tg.set_mode(Mode::Error500);
    let mut big = vec![0xff, 0xd8, 0xff, 0xe0];
    big.resize(30_000, 0);
    for i in 0..3 {
        bot.alert(&format!("big {i}"), memfds(std::slice::from_ref(&big)))
            .await
            .unwrap();
    }
    // Two alerts and the notice fit; the first alert was dropped to make room.
    assert_eq!(bot.outbox().await.unwrap(), 3);
    s.tg.set_mode(Mode::Up);
    let sent = s.wait_sent(OWNER, 3).await;
    let texts: Vec<_> = sent.iter().map(|c| c.text.clone().unwrap()).collect();
    assert_eq!(texts[0], "🚨 big 1");
    assert_eq!(texts[1], "🚨 big 2");
    assert!(
        texts[2].contains("1 to stay within outbox_max_bytes"),
        "{texts:?}"
    );
    assert!(s.botd.log().contains("dropped an undelivered message"));
}
