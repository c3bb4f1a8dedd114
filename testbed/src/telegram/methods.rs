//! Reading a Bot API request (JSON or multipart, as teloxide sends them) and answering each
//! method the way Telegram does, including its validation errors.

use super::shapes::{self, BOT_ID};
use super::{Call, State};
use axum::body::Body;
use axum::extract::{FromRequest, Multipart};
use axum::http::{Request, StatusCode, header};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Largest request body taken (Telegram takes 10 MB photos, ten per album).
pub const MAX_BODY: usize = 128 << 20;

/// A request's parameters and uploaded files.
#[derive(Debug, Default)]
pub struct Params {
    /// Plain parameters (multipart text fields that hold JSON are parsed).
    pub fields: Map<String, Value>,
    /// Uploaded files by field name.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Params {
    /// A parameter as text (numbers are written out).
    pub fn str(&self, key: &str) -> Option<String> {
        match self.fields.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// An uploaded file given in field `key`, directly or as `attach://<part>`.
    pub fn file(&self, key: &str) -> Option<&Vec<u8>> {
        self.files.get(key).or_else(|| {
            let name = self.fields.get(key)?.as_str()?.strip_prefix("attach://")?;
            self.files.get(name)
        })
    }

    /// A parameter as an integer (numbers or numeric text).
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.fields.get(key)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// Read the parameters of `req`, whatever encoding teloxide chose.
pub async fn read(req: Request<Body>) -> Result<Params, String> {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut p = Params::default();
    if ctype.starts_with("multipart/form-data") {
        let mut mp = Multipart::from_request(req, &())
            .await
            .map_err(|e| e.to_string())?;
        while let Some(field) = mp.next_field().await.map_err(|e| e.to_string())? {
            let name = field.name().unwrap_or("").to_string();
            let is_file = field.file_name().is_some();
            let bytes = field.bytes().await.map_err(|e| e.to_string())?;
            if is_file {
                p.files.insert(name, bytes.to_vec());
            } else {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let v = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
                p.fields.insert(name, v);
            }
        }
        return Ok(p);
    }
    let body = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|e| e.to_string())?;
    if body.is_empty() {
        return Ok(p);
    }
    match serde_json::from_slice::<Value>(&body).map_err(|e| e.to_string())? {
        Value::Object(m) => p.fields = m,
        _ => return Err("the body is not a JSON object".into()),
    }
    Ok(p)
}

/// Methods the stand-in knows, spelled as in the Bot API documentation.
const KNOWN: &[&str] = &[
    "getMe",
    "getUpdates",
    "sendMessage",
    "sendPhoto",
    "sendMediaGroup",
    "setMyCommands",
    "deleteMyCommands",
    "deleteWebhook",
    "answerCallbackQuery",
    "editMessageReplyMarkup",
    "editMessageText",
];

/// The documented spelling of `method` (matched without regard to case), else as given.
pub fn canonical(method: &str) -> &str {
    KNOWN
        .iter()
        .find(|k| k.eq_ignore_ascii_case(method))
        .copied()
        .unwrap_or(method)
}

fn bad(description: &str) -> (StatusCode, Value) {
    (
        StatusCode::BAD_REQUEST,
        shapes::error(400, description, None),
    )
}

/// Answer every method but `getUpdates` (which waits, see the server).
pub fn answer(state: &mut State, method: &str, p: Params) -> (StatusCode, Value) {
    match method {
        "getMe" => (StatusCode::OK, shapes::ok(shapes::me())),
        "answerCallbackQuery"
            if p.str("callback_query_id")
                .is_some_and(|id| state.stale_callbacks.contains(&id)) =>
        {
            bad("Bad Request: query is too old and response timeout expired or query ID is invalid")
        }
        "setMyCommands" | "deleteMyCommands" | "deleteWebhook" | "answerCallbackQuery" => {
            state.record(Call::new(method, &p, None, None, Vec::new()));
            (StatusCode::OK, shapes::ok(json!(true)))
        }
        "sendMessage" | "sendPhoto" | "sendMediaGroup" => send(state, method, p),
        "editMessageReplyMarkup" | "editMessageText" => edit(state, method, p),
        _ => (StatusCode::NOT_FOUND, shapes::error(404, "Not Found", None)),
    }
}

/// `text` as the user sees it: HTML parsed when `parse_mode` says so (Telegram's limits
/// count the parsed text).
fn shown(p: &Params, text: &str) -> Result<String, String> {
    match p.str("parse_mode").as_deref() {
        None => Ok(text.to_string()),
        Some("HTML") => super::html::parse(text),
        Some(other) => Err(format!("Bad Request: unsupported parse_mode {other:?}")),
    }
}

fn edit(state: &mut State, method: &str, p: Params) -> (StatusCode, Value) {
    let Some(chat) = p.int("chat_id") else {
        return bad("Bad Request: chat_id is empty");
    };
    let Some(message) = p.int("message_id") else {
        return bad("Bad Request: message identifier is not specified");
    };
    let text = match p.str("text") {
        Some(t) => match shown(&p, &t) {
            Ok(t) => Some(t),
            Err(e) => return bad(&e),
        },
        None if method == "editMessageText" => return bad("Bad Request: message text is empty"),
        None => None,
    };
    let mut call = Call::new(method, &p, Some(chat), text.clone(), Vec::new());
    call.message_id = Some(message);
    state.record(call);
    (
        StatusCode::OK,
        shapes::ok(shapes::bot_message(message, chat, text.as_deref())),
    )
}

fn send(state: &mut State, method: &str, p: Params) -> (StatusCode, Value) {
    let Some(chat) = p.int("chat_id") else {
        return bad("Bad Request: chat_id is empty");
    };
    if chat <= 0 || chat == BOT_ID {
        return bad("Bad Request: chat not found");
    }
    if state.blocked.contains(&chat) {
        return (
            StatusCode::FORBIDDEN,
            shapes::error(403, "Forbidden: bot was blocked by the user", None),
        );
    }
    match method {
        "sendMessage" => {
            let text = match shown(&p, &p.str("text").unwrap_or_default()) {
                Ok(t) => t,
                Err(e) => return bad(&e),
            };
            if text.trim().is_empty() {
                return bad("Bad Request: message text is empty");
            }
            if text.encode_utf16().count() > 4096 {
                return bad("Bad Request: message is too long");
            }
            let id = state.next_message_id();
            let mut call = Call::new(method, &p, Some(chat), Some(text.clone()), Vec::new());
            call.message_id = Some(id);
            state.record(call);
            (
                StatusCode::OK,
                shapes::ok(shapes::bot_message(id, chat, Some(&text))),
            )
        }
        "sendPhoto" => {
            let Some(photo) = p.file("photo").cloned() else {
                return bad("Bad Request: there is no photo in the request");
            };
            let caption = match p.str("caption").map(|c| shown(&p, &c)).transpose() {
                Ok(c) => c,
                Err(e) => return bad(&e),
            };
            if caption
                .as_ref()
                .is_some_and(|c| c.encode_utf16().count() > 1024)
            {
                return bad("Bad Request: message caption is too long");
            }
            let id = state.next_message_id();
            let size = photo.len();
            let mut call = Call::new(method, &p, Some(chat), caption.clone(), vec![photo]);
            call.message_id = Some(id);
            state.record(call);
            (
                StatusCode::OK,
                shapes::ok(shapes::photo_message(
                    id,
                    chat,
                    size,
                    caption.as_deref(),
                    None,
                )),
            )
        }
        _ => media_group(state, p, chat),
    }
}

fn media_group(state: &mut State, p: Params, chat: i64) -> (StatusCode, Value) {
    let Some(items) = p.fields.get("media").and_then(Value::as_array).cloned() else {
        return bad("Bad Request: media is empty");
    };
    if !(2..=10).contains(&items.len()) {
        return bad("Bad Request: media must include 2-10 items");
    }
    let mut photos = Vec::new();
    let mut caption = None;
    for item in &items {
        if item.get("type").and_then(Value::as_str) != Some("photo") {
            return bad("Bad Request: unsupported media type in the album");
        }
        let reference = item.get("media").and_then(Value::as_str).unwrap_or("");
        let Some(bytes) = reference
            .strip_prefix("attach://")
            .and_then(|n| p.files.get(n))
        else {
            return bad("Bad Request: wrong file identifier/HTTP URL specified");
        };
        if caption.is_none()
            && let Some(c) = item.get("caption").and_then(Value::as_str)
        {
            let shown = match item.get("parse_mode").and_then(Value::as_str) {
                None => Ok(c.to_string()),
                Some("HTML") => super::html::parse(c),
                Some(other) => Err(format!("Bad Request: unsupported parse_mode {other:?}")),
            };
            match shown {
                Ok(s) if s.encode_utf16().count() > 1024 => {
                    return bad("Bad Request: message caption is too long");
                }
                Ok(s) => caption = Some(s),
                Err(e) => return bad(&e),
            }
        }
        photos.push(bytes.clone());
    }
    let group = format!("{}", 13_000_000 + state.next_message_id());
    let first = state.next_message + 1;
    let answer: Vec<Value> = photos
        .iter()
        .enumerate()
        .map(|(i, ph)| {
            let id = state.next_message_id();
            let c = if i == 0 { caption.as_deref() } else { None };
            shapes::photo_message(id, chat, ph.len(), c, Some(&group))
        })
        .collect();
    let mut call = Call::new("sendMediaGroup", &p, Some(chat), caption, photos);
    call.message_id = Some(first);
    state.record(call);
    (StatusCode::OK, shapes::ok(Value::Array(answer)))
}
