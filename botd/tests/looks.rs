//! What messages look like in the chat (Telegram HTML, an emoji per kind, sound only for what
//! needs attention, protected photos, the alert buttons, replies), through the real botd and
//! the Bot API stand-in; and an outbox written before kinds existed, sent after the upgrade.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{OWNER, Setup, jpeg};
use secura_testbed::telegram::Call;
use std::time::Duration;

fn memfds(photos: &[Vec<u8>]) -> Vec<zbus::OwnedFd> {
    photos
        .iter()
        .map(|p| secura_bus::fd::sealed_memfd("photo", p).unwrap().into())
        .collect()
}

fn photos(n: u8) -> Vec<Vec<u8>> {
    (0..n).map(|i| jpeg(16, 16, i)).collect()
}

/// The send whose shown text starts with `start`.
async fn sent_starting(s: &Setup, start: &str) -> Call {
    let found = || {
        s.tg.sent_to(OWNER)
            .into_iter()
            .find(|c| c.text.as_deref().is_some_and(|t| t.starts_with(start)))
    };
    let ok =
        secura_testbed::eventually(Duration::from_secs(30), || async { found().is_some() }).await;
    assert!(
        ok,
        "nothing starting with {start:?}: {:?}\n{}",
        common::texts(&s.tg.sent_to(OWNER)),
        s.botd.log()
    );
    found().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_kind_has_its_emoji_sound_and_html() {
    let s = Setup::start().await;
    let (_c, bot) = s.bot1().await;
    let cases = [
        ("alert", "🚨 Camera <failed> & motion", false),
        ("trouble", "⚠️ Trouble: camd is not running.", false),
        ("resolved", "✅ Resolved: camd is not running.", false),
        ("notice", "Armed.", true),
        ("followup", "🚨 more motion", false),
    ];
    for (kind, shown, _) in cases {
        let text = shown
            .split_once(' ')
            .filter(|_| kind != "notice")
            .map_or(shown, |(_, t)| t);
        bot.post(kind, text, Vec::new(), 0).await.unwrap();
    }
    for (kind, shown, silent) in cases {
        let call = sent_starting(&s, shown).await;
        assert_eq!(call.text.as_deref(), Some(shown), "{kind}");
        assert_eq!(call.parse_mode().as_deref(), Some("HTML"), "{kind}");
        assert_eq!(call.silent(), silent, "{kind}: disable_notification");
        // Only an alert carries the buttons, also without photos.
        let buttons = call.buttons();
        if kind == "alert" {
            assert_eq!(buttons, ["disarm", "disable", "photo"], "{kind}");
        } else {
            assert!(buttons.is_empty(), "{kind}: {buttons:?}");
        }
    }
    // The markup was real HTML: the alert's first line is bold, the rest escaped.
    let alert = sent_starting(&s, "🚨 Camera").await;
    assert_eq!(
        alert.params.get("text").and_then(|v| v.as_str()),
        Some("🚨 <b>Camera &lt;failed&gt; &amp; motion</b>")
    );
    // Unknown kinds are refused, naming the known ones.
    let err = bot.post("siren", "x", Vec::new(), 0).await.unwrap_err();
    assert!(err.to_string().contains("alert, followup"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn photos_are_protected_evidence_is_silent_and_an_albums_buttons_reply_to_it() {
    let s = Setup::start().await;
    let (_c, bot) = s.bot1().await;
    let alert = bot
        .post("alert", "Motion detected", memfds(&photos(3)), 0)
        .await
        .unwrap();
    let album = sent_starting(&s, "🚨 Motion detected").await;
    assert_eq!(album.method, "sendMediaGroup");
    assert!(album.protected() && !album.silent(), "{:?}", album.params);
    // An album cannot carry a keyboard: the buttons follow as a quiet reply to it.
    let buttons = sent_starting(&s, "What now?").await;
    assert_eq!(buttons.buttons(), ["disarm", "disable", "photo"]);
    assert_eq!(buttons.reply_to(), album.message_id);
    assert!(buttons.silent());

    // A follow-up replies to the alert's album, rings, and has no buttons of its own.
    bot.post("followup", "more motion", memfds(&photos(2)), alert)
        .await
        .unwrap();
    let more = sent_starting(&s, "🚨 more motion").await;
    assert_eq!(more.reply_to(), album.message_id);
    assert!(more.protected() && !more.silent());
    assert!(
        !s.tg
            .sent_to(OWNER)
            .iter()
            .any(|c| c.seq > more.seq && !c.buttons().is_empty()),
        "a follow-up has no buttons"
    );

    // Evidence: photos, silent, protected; a single photo goes as sendPhoto.
    bot.post("evidence", "Alice's phone answered", memfds(&photos(1)), 0)
        .await
        .unwrap();
    let evidence = sent_starting(&s, "📷 Alice's phone answered").await;
    assert_eq!(evidence.method, "sendPhoto");
    assert!(evidence.protected() && evidence.silent());
    assert!(evidence.buttons().is_empty());
    // The old methods keep working, as a notice and an alert.
    bot.notify("plain notice").await.unwrap();
    let notice = sent_starting(&s, "plain notice").await;
    assert!(notice.silent());
    bot.alert("old alert", memfds(&photos(1))).await.unwrap();
    let old = sent_starting(&s, "🚨 old alert").await;
    assert!(old.protected() && !old.silent());
    assert_eq!(old.buttons(), ["disarm", "disable", "photo"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outbox_written_before_message_kinds_is_sent_after_the_upgrade() {
    let mut s = Setup::start_with("allowed_users = [4242]").await;
    s.botd.kill_hard();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/outbox-v1");
    let outbox = s.state.join("outbox");
    std::fs::create_dir_all(&outbox).unwrap();
    for f in std::fs::read_dir(fixture.join("outbox")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), outbox.join(f.file_name())).unwrap();
    }
    s.botd.restart().unwrap();
    let ok = secura_testbed::eventually(Duration::from_secs(30), || async {
        s.tg.sent_to(4242).len() >= 4
    })
    .await;
    assert!(
        ok,
        "{:?}\n{}",
        common::texts(&s.tg.sent_to(4242)),
        s.botd.log()
    );
    let sent = s.tg.sent_to(4242);
    // The notice, the 3-photo alert with its buttons, the 1-photo alert with buttons.
    assert_eq!(
        sent[0].text.as_deref(),
        Some("Armed: nobody seen for 10m, 3/3 ARP probes unanswered.")
    );
    assert!(sent[0].silent());
    assert_eq!(sent[1].method, "sendMediaGroup");
    assert_eq!(sent[1].photos.len(), 3);
    assert!(
        sent[1]
            .text
            .as_deref()
            .is_some_and(|t| t.starts_with("🚨 Motion detected while armed (event 7)"))
    );
    assert_eq!(sent[2].buttons(), ["disarm", "disable", "photo"]);
    assert_eq!(sent[2].reply_to(), sent[1].message_id);
    assert_eq!(sent[3].method, "sendPhoto");
    assert_eq!(sent[3].buttons(), ["disarm", "disable", "photo"]);
    assert_eq!(sent.len(), 4, "{:?}", common::texts(&sent));
    // New messages get ids after the old ones.
    let (_c, bot) = s.bot1().await;
    assert!(bot.notify("after").await.unwrap() > 3);
}
