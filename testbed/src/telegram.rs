//! A stand-in for the Telegram Bot API (the subset botd uses), for tests and the demo.
//!
//! It answers `getMe`, `getUpdates` (offset, limit, long-poll timeout), `sendMessage`,
//! `sendPhoto` and `sendMediaGroup` (multipart uploads, `parse_mode=HTML` parsed as Telegram
//! does), `setMyCommands`, `answerCallbackQuery`, `editMessageReplyMarkup`,
//! `editMessageText` and `deleteWebhook` with Telegram's JSON shapes; records every request
//! it answered successfully; queues scripted updates; and can be told to go down (connections
//! refused and cut), answer 500, answer 429 with `retry_after`, be slow, or hold requests.
//! Point teloxide at [`StandIn::url`] with `api_url`.

mod html;
mod methods;
pub mod shapes;

pub use shapes::{BOT_ID, BOT_USERNAME, ChatKind};

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State as AxState};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

/// The token `secura-botd --sim` uses when it has none (the demo starts the stand-in with it).
pub const SIM_TOKEN: &str = "1:SIMULATEDxxxxxxxxxxxxxxxxxxxxxxxx";

/// How the stand-in answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Normally.
    Up,
    /// `500 Internal Server Error` to everything.
    Error500,
    /// `429 Too Many Requests` with `retry_after` seconds.
    TooMany(u32),
    /// Normally, after this delay.
    Slow(Duration),
    /// Requests wait (unanswered, unrecorded) until the mode changes, then follow the new one.
    Hold,
}

/// A request the stand-in answered successfully.
#[derive(Debug, Clone)]
pub struct Call {
    /// Order of arrival among recorded calls.
    pub seq: u64,
    /// The method name.
    pub method: String,
    /// The target chat, for the send methods.
    pub chat: Option<i64>,
    /// The text, or the caption (of the first photo of an album), as the user sees it (with
    /// `parse_mode=HTML`, without the tags).
    pub text: Option<String>,
    /// The id of the (first) message it created, for the send methods.
    pub message_id: Option<i64>,
    /// Uploaded photos, in album order.
    pub photos: Vec<Vec<u8>>,
    /// Every parameter as received.
    pub params: serde_json::Map<String, Value>,
    /// When the stand-in had read the whole request (for latency measurements).
    pub received: std::time::Instant,
}

impl Call {
    fn new(
        method: &str,
        p: &methods::Params,
        chat: Option<i64>,
        text: Option<String>,
        photos: Vec<Vec<u8>>,
    ) -> Call {
        Call {
            seq: 0,
            method: method.to_string(),
            chat,
            text,
            message_id: None,
            photos,
            params: p.fields.clone(),
            received: std::time::Instant::now(),
        }
    }

    /// A parameter that may arrive as JSON text (multipart) or as JSON.
    fn json_param(&self, key: &str) -> Value {
        match self.params.get(key) {
            Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
            Some(v) => v.clone(),
            None => Value::Null,
        }
    }

    fn flag(&self, key: &str) -> bool {
        match self.json_param(key) {
            Value::Bool(b) => b,
            Value::String(s) => s == "true",
            _ => false,
        }
    }

    /// `disable_notification`: the phone stays silent.
    pub fn silent(&self) -> bool {
        self.flag("disable_notification")
    }

    /// `protect_content`: the photo cannot be forwarded or saved.
    pub fn protected(&self) -> bool {
        self.flag("protect_content")
    }

    /// `parse_mode`, if given.
    pub fn parse_mode(&self) -> Option<String> {
        self.params
            .get("parse_mode")
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// The message it replies to (`reply_parameters.message_id` or `reply_to_message_id`).
    pub fn reply_to(&self) -> Option<i64> {
        let p = self.json_param("reply_parameters");
        p.get("message_id")
            .and_then(Value::as_i64)
            .or_else(|| self.json_param("reply_to_message_id").as_i64())
    }

    /// The labels of the inline buttons sent with it.
    pub fn button_labels(&self) -> Vec<String> {
        self.keyboard()
            .into_iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str).map(str::to_string))
            .collect()
    }

    fn keyboard(&self) -> Vec<Value> {
        self.json_param("reply_markup")
            .get("inline_keyboard")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
            .cloned()
            .collect()
    }

    /// The callback data of the inline buttons sent with it.
    pub fn buttons(&self) -> Vec<String> {
        let markup = self.json_param("reply_markup");
        markup
            .get("inline_keyboard")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|b| {
                b.get("callback_data")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect()
    }
}

/// The stand-in's state, shared by the server and the test.
#[derive(Debug, Default)]
pub struct State {
    mode: Option<Mode>,
    updates: VecDeque<Value>,
    next_update: u64,
    next_message: i64,
    next_seq: u64,
    calls: Vec<Call>,
    attempts: Vec<String>,
    held: Vec<String>,
    confirmed: i64,
    blocked: BTreeSet<i64>,
    stale_callbacks: BTreeSet<String>,
}

impl State {
    fn next_message_id(&mut self) -> i64 {
        self.next_message += 1;
        self.next_message
    }

    fn record(&mut self, mut call: Call) {
        self.next_seq += 1;
        call.seq = self.next_seq;
        self.calls.push(call);
    }
}

#[derive(Debug)]
struct Inner {
    token: String,
    state: Mutex<State>,
    /// Bumped on every change a waiting request may care about.
    changed: watch::Sender<u64>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    fn poke(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// A running stand-in; stops when dropped.
#[derive(Debug)]
pub struct StandIn {
    inner: Arc<Inner>,
    addr: SocketAddr,
    /// Bumped to cut every connection and stop accepting.
    generation: watch::Sender<u64>,
}

mod server;

impl StandIn {
    /// Start on a free loopback port, accepting requests for `token`.
    pub async fn start(token: &str) -> Result<StandIn> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the stand-in")?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            token: token.to_string(),
            state: Mutex::new(State {
                next_update: 100,
                next_message: 1000,
                ..State::default()
            }),
            changed: watch::Sender::new(0),
        });
        let s = StandIn {
            inner,
            addr,
            generation: watch::Sender::new(0),
        };
        s.spawn(listener);
        Ok(s)
    }

    fn spawn(&self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/{bot}/{method}", axum::routing::any(handle))
            .layer(DefaultBodyLimit::max(methods::MAX_BODY))
            .with_state(Arc::clone(&self.inner));
        tokio::spawn(server::accept(listener, app, self.generation.subscribe()));
    }

    /// The base URL for `api_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answer from now on according to `mode`.
    pub fn set_mode(&self, mode: Mode) {
        self.inner.lock().mode = Some(mode);
        self.inner.poke();
    }

    /// Stop listening and cut every open connection: clients see refused connections.
    pub fn go_down(&self) {
        self.generation.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// Listen again on the same address.
    pub async fn come_up(&self) -> Result<()> {
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    tracing::debug!(error = %e, "rebinding the stand-in");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e).context("rebinding the stand-in"),
            }
        };
        self.spawn(listener);
        Ok(())
    }

    /// Queue an update (`{"message": …}`, `{"callback_query": …}`); returns its `update_id`.
    pub fn push(&self, body: Value) -> u64 {
        let mut st = self.inner.lock();
        st.next_update += 1;
        let id = st.next_update;
        let mut v = body;
        if let Some(o) = v.as_object_mut() {
            o.insert("update_id".into(), json!(id));
        }
        st.updates.push_back(v);
        drop(st);
        self.inner.poke();
        id
    }

    /// Number the next updates from `first` on (Telegram's ids are 64-bit and grow: a bot
    /// can see ones above `i32::MAX`).
    pub fn number_updates_from(&self, first: u64) {
        self.inner.lock().next_update = first.saturating_sub(1);
    }

    /// Queue an element exactly as given (malformed ones included); it takes an update id
    /// slot, so later updates still have higher ids.
    pub fn push_raw(&self, element: Value) -> u64 {
        let mut st = self.inner.lock();
        st.next_update += 1;
        let id = st.next_update;
        st.updates.push_back(element);
        drop(st);
        self.inner.poke();
        id
    }

    /// `text` from `user` in their private chat, sent now.
    pub fn send_text(&self, user: i64, text: &str) -> u64 {
        self.send_text_in(user, ChatKind::Private, text, shapes::unix_now())
    }

    /// `text` from `user` in `chat`, sent at `date` (Unix seconds).
    pub fn send_text_in(&self, user: i64, chat: ChatKind, text: &str, date: i64) -> u64 {
        let mid = self.inner.lock().next_message_id();
        let key = if matches!(chat, ChatKind::Channel(_)) {
            "channel_post"
        } else {
            "message"
        };
        self.push(json!({ key: shapes::text_message(mid, user, chat, text, date) }))
    }

    /// `user` presses the inline button with `data`.
    pub fn press_button(&self, user: i64, data: &str) -> u64 {
        self.press(user, data, false)
    }

    /// `user` pressed the button with `data` long ago (while the bot was away): Telegram no
    /// longer accepts an answer to it.
    pub fn press_old_button(&self, user: i64, data: &str) -> u64 {
        self.press(user, data, true)
    }

    fn press(&self, user: i64, data: &str, stale: bool) -> u64 {
        let mid = self.inner.lock().next_message_id();
        self.press_on(user, mid, shapes::unix_now(), data, stale)
    }

    /// `user` presses the button with `data` under message `message_id` (one the bot sent),
    /// which is dated `date` (Unix seconds).
    pub fn press_button_on(&self, user: i64, message_id: i64, date: i64, data: &str) -> u64 {
        self.press_on(user, message_id, date, data, false)
    }

    fn press_on(&self, user: i64, mid: i64, date: i64, data: &str, stale: bool) -> u64 {
        let mut st = self.inner.lock();
        let n = st.next_message_id();
        let id = format!("cb{n}");
        if stale {
            st.stale_callbacks.insert(id.clone());
        }
        drop(st);
        let mut q = shapes::callback_query(&id, user, mid, data);
        if let Some(m) = q.get_mut("message").and_then(Value::as_object_mut) {
            m.insert("date".into(), json!(date));
        }
        self.push(json!({ "callback_query": q }))
    }

    /// Answer 403 "bot was blocked by the user" to sends to `user`.
    pub fn block_user(&self, user: i64) {
        self.inner.lock().blocked.insert(user);
    }

    /// Every request answered successfully, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().calls.clone()
    }

    /// The messages, photos and albums sent successfully to `chat`.
    pub fn sent_to(&self, chat: i64) -> Vec<Call> {
        self.inner
            .lock()
            .calls
            .iter()
            .filter(|c| c.chat == Some(chat) && c.method.starts_with("send"))
            .cloned()
            .collect()
    }

    /// Wait up to `timeout` for the first call recorded after call `after` (a [`Call::seq`], 0
    /// for all) that `want` accepts. Woken by each recorded call, so a long wait costs nothing
    /// and only the call found is cloned.
    pub async fn next_call(
        &self,
        after: u64,
        timeout: Duration,
        want: impl Fn(&Call) -> bool,
    ) -> Option<Call> {
        let mut changes = self.inner.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = self
                .inner
                .lock()
                .calls
                .iter()
                .find(|c| c.seq > after && want(c))
                .cloned();
            if found.is_some() {
                return found;
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return None;
            }
        }
    }

    /// How many requests for `method` arrived, answered or not.
    pub fn attempts(&self, method: &str) -> usize {
        self.inner
            .lock()
            .attempts
            .iter()
            .filter(|m| *m == method)
            .count()
    }

    /// Methods of the requests being held now ([`Mode::Hold`]).
    pub fn held(&self) -> Vec<String> {
        self.inner.lock().held.clone()
    }

    /// Whether every update up to `id` has been confirmed by a later `getUpdates` offset
    /// (botd has fetched and handled it).
    pub fn confirmed(&self, id: u64) -> bool {
        u64::try_from(self.inner.lock().confirmed).is_ok_and(|c| c > id)
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.go_down();
    }
}

async fn handle(
    AxState(inner): AxState<Arc<Inner>>,
    Path((bot, method)): Path<(String, String)>,
    req: Request<Body>,
) -> Response {
    server::handle(&inner, &bot, &method, req).await
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests;
