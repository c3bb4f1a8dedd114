//! The Bot API's JSON shapes as Telegram sends them: users, chats, messages, updates, and the
//! `{"ok": …}` envelopes of answers and errors.

use serde_json::{Value, json};

/// The bot's own user id in the stand-in.
pub const BOT_ID: i64 = 7_000_000_001;
/// The bot's username in the stand-in.
pub const BOT_USERNAME: &str = "secura_test_bot";

/// Seconds since the epoch, as Telegram dates are.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A successful answer.
pub fn ok(result: Value) -> Value {
    json!({ "ok": true, "result": result })
}

/// An error answer, with `retry_after` for 429.
pub fn error(code: u16, description: &str, retry_after: Option<u32>) -> Value {
    let mut v = json!({ "ok": false, "error_code": code, "description": description });
    if let (Some(s), Some(obj)) = (retry_after, v.as_object_mut()) {
        obj.insert("parameters".into(), json!({ "retry_after": s }));
    }
    v
}

/// The first name of scripted user `id`: a name, not the id in disguise, so tests can tell
/// whether a text names a person or shows an id.
pub fn first_name(id: i64) -> String {
    const NAMES: [&str; 8] = [
        "Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi",
    ];
    let i = usize::try_from(id.rem_euclid(8)).unwrap_or(0);
    NAMES.get(i).copied().unwrap_or("Alice").to_string()
}

/// A human user.
pub fn user_json(id: i64) -> Value {
    json!({
        "id": id,
        "is_bot": false,
        "first_name": first_name(id),
        "username": format!("user{id}"),
        "language_code": "en"
    })
}

/// The bot itself, as `getMe` returns it.
pub fn me() -> Value {
    json!({
        "id": BOT_ID,
        "is_bot": true,
        "first_name": "Secura Test",
        "username": BOT_USERNAME,
        "can_join_groups": false,
        "can_read_all_group_messages": false,
        "supports_inline_queries": false,
        "can_connect_to_business": false,
        "has_main_web_app": false
    })
}

/// Where a scripted message is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatKind {
    /// The user's private chat with the bot (chat id = user id).
    Private,
    /// A group the bot is in.
    Group(i64),
    /// A supergroup (ids start with -100).
    Supergroup(i64),
    /// A channel.
    Channel(i64),
}

/// The `chat` object.
pub fn chat(kind: ChatKind, user: i64) -> Value {
    match kind {
        ChatKind::Private => json!({
            "id": user, "type": "private",
            "first_name": first_name(user), "username": format!("user{user}")
        }),
        ChatKind::Group(id) => json!({ "id": id, "type": "group", "title": "Family" }),
        ChatKind::Supergroup(id) => {
            json!({ "id": id, "type": "supergroup", "title": "Neighbours" })
        }
        ChatKind::Channel(id) => json!({ "id": id, "type": "channel", "title": "News" }),
    }
}

/// A text message from `user` in `kind`, sent at `date`; commands carry their entity.
pub fn text_message(message_id: i64, user: i64, kind: ChatKind, text: &str, date: i64) -> Value {
    let mut m = json!({
        "message_id": message_id,
        "from": user_json(user),
        "chat": chat(kind, user),
        "date": date,
        "text": text
    });
    if text.starts_with('/') {
        let len = text
            .split_whitespace()
            .next()
            .map_or(0, |w| w.encode_utf16().count());
        if let Some(obj) = m.as_object_mut() {
            obj.insert(
                "entities".into(),
                json!([{ "type": "bot_command", "offset": 0, "length": len }]),
            );
        }
    }
    if let (ChatKind::Channel(_), Some(obj)) = (kind, m.as_object_mut()) {
        obj.remove("from");
    }
    m
}

/// A message the bot sent into `chat_id` (what `sendMessage` answers).
pub fn bot_message(message_id: i64, chat_id: i64, text: Option<&str>) -> Value {
    let mut m = json!({
        "message_id": message_id,
        "from": me_as_user(),
        "chat": chat(ChatKind::Private, chat_id),
        "date": unix_now()
    });
    if let (Some(t), Some(obj)) = (text, m.as_object_mut()) {
        obj.insert("text".into(), json!(t));
    }
    m
}

fn me_as_user() -> Value {
    json!({ "id": BOT_ID, "is_bot": true, "first_name": "Secura Test", "username": BOT_USERNAME })
}

/// A photo message the bot sent (what `sendPhoto` answers; one element of `sendMediaGroup`).
pub fn photo_message(
    message_id: i64,
    chat_id: i64,
    size: usize,
    caption: Option<&str>,
    group: Option<&str>,
) -> Value {
    let mut m = bot_message(message_id, chat_id, None);
    if let Some(obj) = m.as_object_mut() {
        obj.insert(
            "photo".into(),
            json!([{
                "file_id": format!("AgACAgQAAxkBAAI{message_id}"),
                "file_unique_id": format!("AQAD{message_id}"),
                "width": 320, "height": 240, "file_size": size
            }]),
        );
        if let Some(c) = caption {
            obj.insert("caption".into(), json!(c));
        }
        if let Some(g) = group {
            obj.insert("media_group_id".into(), json!(g));
        }
    }
    m
}

/// A button press on a message the bot sent.
pub fn callback_query(id: &str, user: i64, message_id: i64, data: &str) -> Value {
    json!({
        "id": id,
        "from": user_json(user),
        "message": bot_message(message_id, user, Some("What now? (alert above)")),
        "chat_instance": "-4242",
        "data": data
    })
}
