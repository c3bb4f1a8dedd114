//! botd against the Bot API stand-in and a fake Alarm1 on a private bus: who is answered, what
//! each command does, and what bad input gets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{OWNER, STRANGER, Setup, fake_alarm};
use secura_testbed::telegram::{ChatKind, shapes::unix_now};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn unknown_user_gets_silence_and_changes_nothing() {
    let s = Setup::start().await;
    let (_alarm, rec) = fake_alarm::serve(&s.bus, "disarmed").await;
    let id = s.tg.send_text(STRANGER, "/disable");
    s.tg.send_text(STRANGER, "/status");
    let last = s.tg.send_text(STRANGER, "hello?");
    s.handled(last).await;
    assert!(s.tg.confirmed(id));
    assert!(s.tg.sent_to(STRANGER).is_empty());
    let r = rec.lock().unwrap();
    assert!(r.commands.is_empty());
    assert_eq!(r.state, "disarmed");
    assert!(s.botd.log().contains("666"), "the stranger's id is logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn group_chats_and_channels_get_silence_even_from_the_owner() {
    let s = Setup::start().await;
    let (_alarm, rec) = fake_alarm::serve(&s.bus, "armed").await;
    s.tg.send_text_in(OWNER, ChatKind::Group(-500), "/disarm", unix_now());
    s.tg.send_text_in(OWNER, ChatKind::Supergroup(-100_123), "/disarm", unix_now());
    let last =
        s.tg.send_text_in(OWNER, ChatKind::Channel(-100_999), "/disarm", unix_now());
    s.handled(last).await;
    let sends: Vec<_> =
        s.tg.calls()
            .into_iter()
            .filter(|c| c.method.starts_with("send"))
            .collect();
    assert!(sends.is_empty(), "{:?}", common::texts(&sends));
    assert!(rec.lock().unwrap().commands.is_empty());
    assert_eq!(rec.lock().unwrap().state, "armed");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_command_acts_through_alarm1_as_the_telegram_user() {
    let s = Setup::start().await;
    let (_alarm, rec) = fake_alarm::serve(&s.bus, "disarmed").await;
    let menu =
        s.tg.calls()
            .into_iter()
            .find(|c| c.method == "setMyCommands")
            .expect("menu registered");
    assert_eq!(menu.params["commands"].as_array().unwrap().len(), 10);

    // A change gets no "done" from botd: alarmd's notice to every owner is the answer.
    s.silent(OWNER, "/disable").await;
    assert_eq!(rec.lock().unwrap().state, "disabled");
    // A refusal is one plain answer in alarmd's words.
    let refused = s.ask(OWNER, "/arm").await;
    assert_eq!(refused, "The system is disabled; /enable it first.");
    s.silent(OWNER, "/enable").await;
    s.silent(OWNER, "/arm").await;
    s.silent(OWNER, "/disarm").await;
    let actors: Vec<_> = rec
        .lock()
        .unwrap()
        .commands
        .iter()
        .map(|(c, a)| format!("{c} {a}"))
        .collect();
    assert_eq!(
        actors,
        [
            "disable telegram:111:Heidi",
            "enable telegram:111:Heidi",
            "arm telegram:111:Heidi",
            "disarm telegram:111:Heidi"
        ]
    );

    let status = s.ask(OWNER, "/status").await;
    for want in [
        "State: disarmed since",
        "Why: nobody seen for 10m",
        "Alice: away, last seen ",
        " (10m ago)",
        "camd is not running",
        "Outbox: 0 waiting",
    ] {
        assert!(status.contains(want), "{want:?} not in {status}");
    }
    let who = s.ask(OWNER, "/who").await;
    assert!(who.contains("Alice: away"), "{who}");
    let history = s.ask(OWNER, "/history 2").await;
    assert_eq!(history.lines().count(), 2, "{history}");
    assert!(history.contains("command: disarm → disarmed"), "{history}");
    let help = s.ask(OWNER, "/help").await;
    assert!(help.contains("/photo") && help.contains("/start"), "{help}");

    let before = s.tg.sent_to(OWNER).len();
    s.tg.send_text(OWNER, "/photo");
    let sent = s.wait_sent(OWNER, before + 1).await;
    assert_eq!(sent[before].method, "sendPhoto");
    assert_eq!(common::decode(&sent[before].photos[0]), (64, 48));
    assert_eq!(rec.lock().unwrap().snapshots, 1);
    // Taken in the Telegram user's name (Alarm1.SnapshotAs).
    assert_eq!(
        rec.lock().unwrap().commands.last().unwrap(),
        &("snapshot".to_string(), "telegram:111:Heidi".to_string())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_without_alarmd_get_a_clear_answer() {
    let s = Setup::start().await;
    let answer = s.ask(OWNER, "/disable").await;
    assert!(
        answer.starts_with("The alarm is not running, so nothing was done."),
        "{answer}"
    );
    assert!(!answer.contains("org."), "a bus name in the chat: {answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn old_commands_are_not_executed_and_the_user_is_told() {
    let s = Setup::start().await;
    let (_alarm, rec) = fake_alarm::serve(&s.bus, "armed").await;
    s.tg.send_text_in(OWNER, ChatKind::Private, "/disarm", unix_now() - 600);
    let sent = s.wait_sent(OWNER, 1).await;
    let text = sent[0].text.clone().unwrap();
    assert!(
        text.starts_with("Not executed: this command was sent 10m"),
        "{text}"
    );
    assert!(rec.lock().unwrap().commands.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_dated_in_the_future_is_not_executed_and_the_user_is_told() {
    let s = Setup::start().await;
    let (_alarm, rec) = fake_alarm::serve(&s.bus, "armed").await;
    // The device's clock is an hour behind Telegram's (or the date was forged).
    s.tg.send_text_in(OWNER, ChatKind::Private, "/disarm", unix_now() + 3600);
    let sent = s.wait_sent(OWNER, 1).await;
    let text = sent[0].text.clone().unwrap();
    assert!(text.starts_with("Not executed: age unknown"), "{text}");
    assert!(text.contains("clock"), "{text}");
    assert!(rec.lock().unwrap().commands.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_commands_are_not_executed() {
    use secura_testbed::telegram::shapes;
    let s = Setup::start().await;
    let (_alarm, rec) = fake_alarm::serve(&s.bus, "armed").await;
    // A stranger's /disable, forwarded by the owner to the bot.
    let mut m = shapes::text_message(90, OWNER, ChatKind::Private, "/disable", unix_now());
    m["forward_origin"] = json!({
        "type": "user",
        "date": unix_now() - 5,
        "sender_user": shapes::user_json(STRANGER),
    });
    s.tg.push(json!({ "message": m }));
    let sent = s.wait_sent(OWNER, 1).await;
    let text = sent[0].text.clone().unwrap();
    assert!(
        text.starts_with("Not executed: that command was forwarded"),
        "{text}"
    );
    assert!(rec.lock().unwrap().commands.is_empty());
    assert_eq!(rec.lock().unwrap().state, "armed");
    // The owner's own command still works.
    s.silent(OWNER, "/disarm").await;
    assert_eq!(rec.lock().unwrap().state, "disarmed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_button_press_without_its_message_is_ignored() {
    use secura_testbed::telegram::shapes;
    let s = Setup::start().await;
    let (_alarm, rec) = fake_alarm::serve(&s.bus, "armed").await;
    let mut q = shapes::callback_query("cb-nomsg", OWNER, 77, "disarm");
    q.as_object_mut().unwrap().remove("message");
    let id = s.tg.push(json!({ "callback_query": q }));
    s.handled(id).await;
    let probe = s.tg.send_text(STRANGER, "/status");
    s.handled(probe).await;
    assert!(rec.lock().unwrap().commands.is_empty());
    assert!(
        s.tg.calls()
            .iter()
            .all(|c| c.method != "answerCallbackQuery")
    );
    assert_eq!(rec.lock().unwrap().state, "armed");
}

#[tokio::test(flavor = "multi_thread")]
async fn update_ids_above_i32_max_are_confirmed_and_run_once() {
    let s = Setup::start().await;
    let (_alarm, _rec) = fake_alarm::serve(&s.bus, "disarmed").await;
    s.tg.number_updates_from(3_000_000_000);
    let first = s.tg.send_text(OWNER, "/status");
    assert!(first > i32::MAX as u64);
    s.handled(first).await;
    // Later polls do not bring it back: one more command, two answers in all.
    let second = s.tg.send_text(OWNER, "/status");
    s.handled(second).await;
    let sent = s.wait_sent(OWNER, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.tg.sent_to(OWNER).len(), 2, "{sent:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pairing_authorizes_the_new_user_once_and_tells_the_existing_ones() {
    let mut s = Setup::start().await;
    let (_alarm, _rec) = fake_alarm::serve(&s.bus, "disarmed").await;
    let (_c, bot) = s.bot1().await;
    assert_eq!(bot.users().await.unwrap(), 1);
    let (code, expires) = bot.create_pairing_code().await.unwrap();
    let ttl = expires - secura_bus::types::now_micros();
    assert!(ttl > 590_000_000 && ttl <= 600_000_000, "{ttl}");

    let paired = s.ask(222, &format!("/start {code}")).await;
    assert!(paired.starts_with("Paired."), "{paired}");
    let notice = s.wait_sent(OWNER, 1).await;
    let notice = notice[0].text.clone().unwrap();
    assert!(
        notice.contains("New Telegram user paired") && notice.contains("id 222"),
        "{notice}"
    );
    assert_eq!(bot.users().await.unwrap(), 2);
    assert!(s.ask(222, "/status").await.starts_with("State: disarmed"));

    // The same code a second time pairs nobody.
    let reuse = s.tg.send_text(333, &format!("/start {code}"));
    let probe = s.tg.send_text(333, "/status");
    s.handled(probe).await;
    assert!(s.tg.confirmed(reuse));
    assert!(s.tg.sent_to(333).is_empty());
    assert_eq!(bot.users().await.unwrap(), 2);

    // The paired user survives a restart.
    let file = std::fs::read_to_string(s.state.join("paired-users")).unwrap();
    assert!(file.lines().any(|l| l.starts_with("222 ")), "{file}");
    s.botd.restart().unwrap();
    s.bus
        .wait_for_name(secura_bus::names::BOT_NAME, Duration::from_secs(20))
        .await
        .unwrap();
    assert!(s.ask(222, "/who").await.contains("Alice"));
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_codes_are_rate_limited_and_never_pair() {
    let s = Setup::start().await;
    let (_c, bot) = s.bot1().await;
    let (code, _) = bot.create_pairing_code().await.unwrap();
    for guess in ["AAAAAAAA", "BBBBBBBB", "CCCCCCCC", "DDDDDDDD", "EEEEEEEE"] {
        s.tg.send_text(444, &format!("/start {guess}"));
    }
    // Locked out: even the right code is not compared now.
    let right = s.tg.send_text(444, &format!("/start {code}"));
    s.handled(right).await;
    assert!(s.tg.sent_to(444).is_empty());
    assert_eq!(bot.users().await.unwrap(), 1);
    assert!(s.botd.log().contains("RateLimited"), "{}", s.botd.log());
    // Someone else can still use the code, which was never spent.
    assert!(
        s.ask(555, &format!("/start {code}"))
            .await
            .starts_with("Paired.")
    );
    // A plain /start or a code from nobody's list gets silence.
    let plain = s.tg.send_text(777, "/start");
    s.handled(plain).await;
    assert!(s.tg.sent_to(777).is_empty());
    // The owner heard of the lock-out.
    let told = s.wait_sent(OWNER, 2).await;
    assert!(
        told.iter().any(|c| c
            .text
            .as_deref()
            .is_some_and(|t| t.contains("user 444") && t.contains("wrong pairing codes"))),
        "{told:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn guessing_accounts_cannot_lock_pairing_for_everyone_and_the_owners_are_told() {
    let s = Setup::start().await;
    let (_c, bot) = s.bot1().await;
    let (old, _) = bot.create_pairing_code().await.unwrap();
    // Four stranger accounts, five wrong codes each: the codes out now are revoked.
    let mut last = 0;
    for user in 900..904 {
        for guess in ["AAAAAAAA", "BBBBBBBB", "CCCCCCCC", "DDDDDDDD", "EEEEEEEE"] {
            last = s.tg.send_text(user, &format!("/start {guess}"));
        }
    }
    s.handled(last).await;
    let told = s.wait_sent(OWNER, 5).await;
    assert!(
        told.iter().any(|c| c.text.as_deref().is_some_and(|t| t
            .contains("20 wrong pairing codes from 4 Telegram accounts")
            && t.contains("revoked"))),
        "{told:?}"
    );
    let revoked = s.tg.send_text(555, &format!("/start {old}"));
    s.handled(revoked).await;
    assert!(s.tg.sent_to(555).is_empty());
    // A code created afterwards works at once.
    let (fresh, _) = bot.create_pairing_code().await.unwrap();
    assert!(
        s.ask(556, &format!("/start {fresh}"))
            .await
            .starts_with("Paired.")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn buttons_are_authorized_like_commands() {
    let s = Setup::start().await;
    let (_alarm, rec) = fake_alarm::serve(&s.bus, "armed").await;
    let id = s.tg.press_button(STRANGER, "disable");
    s.handled(id).await;
    assert!(rec.lock().unwrap().commands.is_empty());
    assert!(
        s.tg.calls()
            .iter()
            .all(|c| c.method != "answerCallbackQuery")
    );

    let id = s.tg.press_button(OWNER, "disarm");
    s.handled(id).await;
    let pressed = secura_testbed::eventually(Duration::from_secs(20), || async {
        !rec.lock().unwrap().commands.is_empty()
    })
    .await;
    assert!(pressed, "{}", s.botd.log());
    assert_eq!(
        rec.lock().unwrap().commands,
        [("disarm".to_string(), "telegram:111:Heidi".to_string())]
    );
    let answered = s.tg.calls();
    let answered = answered
        .iter()
        .find(|c| c.method == "answerCallbackQuery")
        .unwrap();
    assert_eq!(answered.params["text"], "Disarming…");

    // A press Telegram no longer lets us answer (queued while botd was away) is not executed.
    s.tg.press_old_button(OWNER, "disable");
    let sent = s.wait_sent(OWNER, 1).await;
    let text = sent[0].text.clone().unwrap();
    assert!(
        text.starts_with("Not executed: that button press is too old"),
        "{text}"
    );
    assert_eq!(rec.lock().unwrap().commands.len(), 1);
    assert_eq!(rec.lock().unwrap().state, "disarmed");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_updates_huge_texts_and_unknown_commands_never_crash() {
    let s = Setup::start().await;
    let (_alarm, rec) = fake_alarm::serve(&s.bus, "disarmed").await;
    s.tg.push(json!({}));
    s.tg.push(json!({ "message": 5 }));
    s.tg.push(json!({ "message": { "message_id": 1 } }));
    s.tg.push_raw(json!([1, 2, 3]));
    s.tg.push_raw(json!({ "update_id": "x", "message": {} }));
    s.tg.push(json!({ "edited_message": { "message_id": 2, "date": unix_now(), "chat": { "id": OWNER, "type": "private", "first_name": "O" }, "from": { "id": OWNER, "is_bot": false, "first_name": "O" }, "edit_date": unix_now(), "text": "/disable" } }));
    s.tg.push(json!({ "message": { "message_id": 3, "date": unix_now(), "chat": { "id": OWNER, "type": "private", "first_name": "O" }, "from": { "id": OWNER, "is_bot": false, "first_name": "O" }, "location": { "latitude": 48.1, "longitude": 11.5 } } }));
    let answer = s.wait_sent(OWNER, 1).await;
    assert!(
        answer[0]
            .text
            .as_deref()
            .unwrap()
            .starts_with("I only understand commands")
    );

    let unknown = s.ask(OWNER, "/selfdestruct now").await;
    assert_eq!(
        unknown,
        "Unknown command /selfdestruct. /help lists what I understand."
    );
    let huge = s.ask(OWNER, &format!("/{}", "a".repeat(100_000))).await;
    assert!(
        huge.starts_with("Unknown command /aaaa") && huge.len() < 200,
        "{huge}"
    );
    let prose = s.ask(OWNER, &"blah ".repeat(20_000)).await;
    assert!(prose.starts_with("I only understand commands"));
    assert!(
        s.ask(OWNER, "/history 99999")
            .await
            .contains("from 1 to 50")
    );
    // Still alive, nothing changed by any of it.
    assert!(s.ask(OWNER, "/status").await.starts_with("State: disarmed"));
    assert!(rec.lock().unwrap().commands.is_empty());
}
