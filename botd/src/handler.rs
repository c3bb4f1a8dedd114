//! One update at a time: who sent it (only authorized users in private chats get an answer),
//! how old it is, and what it asks; commands act through `Alarm1` with the Telegram user as
//! the actor. Everyone else gets silence and a log line with their id.

use crate::api::{Api, Failure, classify};
use crate::commands::{Command, Parsed, help, parse};
use crate::outbox::NewMessage;
use crate::pairing::Redeem;
use crate::report::{self, cut};
use crate::state::Shared;
use secura_bus::proxies::Alarm1Proxy;
use secura_bus::types::now_micros;
use std::os::fd::AsFd;
use std::sync::Arc;
use teloxide::payloads::{
    AnswerCallbackQuerySetters, EditMessageReplyMarkupSetters, SendPhotoSetters,
};
use teloxide::prelude::Requester;
use teloxide::types::{
    CallbackQuery, ChatId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message, Update,
    UpdateKind, User,
};

/// How far ahead of the local clock a message's date may be (Telegram's and the device's
/// clocks are both synchronised, but not to the microsecond).
pub const FUTURE_TOLERANCE: u64 = 30_000_000;

/// Largest snapshot sent for `/photo` (Telegram's limit for photos).
pub const MAX_PHOTO: u64 = 10 << 20;

/// What a command answers.
#[derive(Debug)]
enum Reply {
    Text(String),
    Photo(Vec<u8>),
    /// Nothing from here: alarmd's notice of the change, which every owner gets, is the
    /// answer (one message to the one who asked, not a "done" and then the notice).
    Notice,
}

/// Handles updates for the poller.
#[derive(Debug)]
pub struct Handler {
    api: Api,
    shared: Arc<Shared>,
    alarm: Alarm1Proxy<'static>,
    username: Option<String>,
}

fn user_id(u: &User) -> Option<i64> {
    i64::try_from(u.id.0).ok()
}

impl Handler {
    /// A handler for the bot called `username`.
    pub fn new(
        api: Api,
        shared: Arc<Shared>,
        alarm: Alarm1Proxy<'static>,
        username: Option<String>,
    ) -> Handler {
        Handler {
            api,
            shared,
            alarm,
            username,
        }
    }

    /// Act on one update.
    pub async fn handle(&self, update: Update) {
        let update_id = update.id.0;
        match update.kind {
            UpdateKind::Message(m) => self.on_message(&m).await,
            UpdateKind::CallbackQuery(q) => self.on_callback(&q).await,
            UpdateKind::Error(_) => {
                tracing::warn!(update_id, "ignored an update that cannot be read")
            }
            UpdateKind::ChannelPost(m) | UpdateKind::EditedChannelPost(m) => {
                tracing::info!(update_id, chat = m.chat.id.0, "ignored a channel post")
            }
            _ => tracing::debug!(
                update_id,
                "ignored an update of a kind the bot does not use"
            ),
        }
    }

    async fn on_message(&self, m: &Message) {
        let Some(user) = m.from.as_ref().and_then(user_id) else {
            tracing::info!(chat = m.chat.id.0, "ignored a message without a sender");
            return;
        };
        if !m.chat.is_private() || m.chat.id.0 != user {
            tracing::info!(
                user,
                chat = m.chat.id.0,
                "ignored a message outside a private chat"
            );
            return;
        }
        let authorized = self.shared.users().is_authorized(user);
        if authorized && let Some(from) = m.from.as_ref() {
            self.learn_name(user, &from.first_name).await;
        }
        let sent = u64::try_from(m.date.timestamp())
            .unwrap_or(0)
            .saturating_mul(1_000_000);
        let now = now_micros();
        // A date ahead of the local clock means the clock (or the date) is wrong: the age of
        // the command is unknown, so it is not executed.
        let future = sent > now.saturating_add(FUTURE_TOLERANCE);
        let too_old = now.saturating_sub(sent) > self.shared.settings.max_command_age;
        // A forwarded message is someone else's words: never a command of this user.
        let forwarded = m.forward_origin().is_some() || m.is_automatic_forward();
        let parsed = m.text().map(|t| parse(t, self.username.as_deref()));
        if !authorized {
            match parsed {
                Some(Parsed::Command(Command::Start(Some(code))))
                    if !too_old && !future && !forwarded =>
                {
                    self.pair(user, m.from.as_ref(), &code).await
                }
                _ => tracing::info!(
                    user,
                    too_old,
                    future,
                    forwarded,
                    "ignored a message from an unauthorized user"
                ),
            }
            return;
        }
        let reply = match parsed {
            Some(Parsed::Command(_)) if forwarded => {
                tracing::info!(user, "not executing a forwarded command");
                Reply::Text(
                    "Not executed: that command was forwarded. Forwarded messages are never \
                     executed; send the command yourself."
                        .into(),
                )
            }
            Some(Parsed::Command(_)) if future => {
                tracing::warn!(
                    user,
                    sent_at = sent,
                    now,
                    "a command is dated after the local clock: not executed"
                );
                Reply::Text(format!(
                    "Not executed: age unknown. This command is dated {} ahead of this \
                     device's clock, so the clock is wrong (check its time synchronisation) \
                     and it cannot tell whether the command is recent.",
                    humantime::format_duration(std::time::Duration::from_secs(
                        sent.saturating_sub(now) / 1_000_000
                    ))
                ))
            }
            None => Reply::Text("I only understand commands; /help lists them.".into()),
            Some(Parsed::NotACommand) => {
                Reply::Text("I only understand commands; /help lists them.".into())
            }
            Some(Parsed::Unknown(name)) => Reply::Text(format!(
                "Unknown command /{name}. /help lists what I understand."
            )),
            Some(Parsed::BadArgument(why)) => Reply::Text(why),
            Some(Parsed::Command(_)) if too_old => Reply::Text(format!(
                "Not executed: this command was sent {} and commands older than {} are ignored. Send it again if you still want it.",
                report::ago(now_micros(), sent),
                humantime::format_duration(std::time::Duration::from_micros(
                    self.shared.settings.max_command_age
                )),
            )),
            Some(Parsed::Command(c)) => self.execute(user, &m.from, c).await,
        };
        self.send(user, reply).await;
    }

    async fn on_callback(&self, q: &CallbackQuery) {
        let Some(user) = user_id(&q.from) else { return };
        // A press without its message cannot be placed in a chat: not private for certain.
        let private = q
            .message
            .as_ref()
            .is_some_and(|m| m.chat().is_private() && m.chat().id.0 == user);
        if !private || !self.shared.users().is_authorized(user) {
            tracing::info!(
                user,
                "ignored a button press from an unauthorized user or chat"
            );
            return;
        }
        if q.data.as_deref() == Some(DONE) {
            self.answer_press(q, "Already done.").await;
            return;
        }
        // The button's age is its message's: an alert older than max_command_age (or one
        // Telegram no longer shows the bot) is not acted on from its buttons.
        let sent = q
            .message
            .as_ref()
            .and_then(|m| m.regular_message())
            .and_then(|m| u64::try_from(m.date.timestamp()).ok())
            .unwrap_or(0)
            .saturating_mul(1_000_000);
        let now = now_micros();
        let max_age = self.shared.settings.max_command_age;
        if now.saturating_sub(sent) > max_age {
            tracing::info!(
                user,
                sent_at = sent,
                "not executing a button older than max_command_age"
            );
            let text = format!(
                "Not done: this button is older than {}. Send the command instead (/disarm, \
                 /disable, /photo).",
                humantime::format_duration(std::time::Duration::from_secs(max_age / 1_000_000))
            );
            self.answer_press(q, &text).await;
            return;
        }
        let command = match q.data.as_deref() {
            Some("disarm") => Command::Disarm,
            Some("disable") => Command::Disable,
            Some("photo") => Command::Photo,
            _ => {
                tracing::info!(user, "ignored a button press with unknown data");
                let _ = self
                    .api
                    .bot()
                    .answer_callback_query(q.id.clone())
                    .text("Unknown button")
                    .await;
                return;
            }
        };
        // A button press carries no time. Telegram refuses to answer a press that is more
        // than a few seconds old, so answering first is the age check: a press queued while
        // botd was down is not executed.
        let answered = self
            .api
            .bot()
            .answer_callback_query(q.id.clone())
            .text(format!("{}…", command_label(&command)))
            .await;
        if let Err(e) = answered {
            let why = self.api.scrub(&e.to_string());
            tracing::info!(user, reason = %why, "not executing a button press Telegram will not confirm");
            if matches!(classify(&e), Failure::Permanent(_)) {
                let text = "Not executed: that button press is too old. Press it again or send the command.";
                self.send(user, Reply::Text(text.into())).await;
            }
            return;
        }
        let done = match command {
            Command::Disarm => Some(("disarmed", "Disarmed")),
            Command::Disable => Some(("disabled", "Disabled")),
            _ => None,
        };
        let reply = self.execute(user, &Some(q.from.clone()), command).await;
        self.send(user, reply).await;
        // Once the alarm is where the button asked, the keyboard says so instead of offering
        // it again.
        if let (Some((state, words)), Some(m)) = (done, q.message.as_ref())
            && self.alarm.state().await.is_ok_and(|s| s == state)
        {
            let label = format!("✓ {words} by {}", first_name(&q.from));
            let markup = InlineKeyboardMarkup::new([[InlineKeyboardButton::callback(label, DONE)]]);
            let edited = self
                .api
                .bot()
                .edit_message_reply_markup(m.chat().id, m.id())
                .reply_markup(markup)
                .await;
            if let Err(e) = edited {
                tracing::info!(user, error = %self.api.scrub(&e.to_string()), "cannot mark the buttons done");
            }
        }
    }

    async fn answer_press(&self, q: &CallbackQuery, text: &str) {
        let answered = self
            .api
            .bot()
            .answer_callback_query(q.id.clone())
            .text(text)
            .await;
        if let Err(e) = answered {
            tracing::info!(error = %self.api.scrub(&e.to_string()), "cannot answer a button press");
        }
    }

    /// Keep `first_name` as `user`'s name when it is news (first message, or renamed).
    async fn learn_name(&self, user: i64, first_name: &str) {
        if !self.shared.users().name_is_new(user, first_name) {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let name = first_name.to_string();
        let saved =
            tokio::task::spawn_blocking(move || shared.users().remember_name(user, &name)).await;
        match saved {
            Ok(Ok(())) => tracing::info!(user, "learned a Telegram user's first name"),
            Ok(Err(e)) => tracing::warn!(user, error = %e, "cannot keep a user's first name"),
            Err(e) => tracing::warn!(user, error = %e, "keeping a user's first name failed"),
        }
    }

    /// The actor alarmd records a relayed command under: `telegram:<id>:<first name>`, the
    /// name as the update gave it, else as last kept.
    fn actor(&self, user: i64, from: &Option<User>) -> String {
        let name = from
            .as_ref()
            .and_then(|u| crate::users::clean_name(&u.first_name))
            .or_else(|| self.shared.users().name(user).map(str::to_string));
        match name {
            Some(name) => format!("telegram:{user}:{name}"),
            None => format!("telegram:{user}"),
        }
    }

    async fn pair(&self, user: i64, from: Option<&User>, code: &str) {
        let (outcome, notices) = {
            let mut pairing = self.shared.pairing();
            let outcome = pairing.redeem(user, code, now_micros());
            (outcome, pairing.take_notices())
        };
        for text in notices {
            // Lock-outs and revocations: the owners hear of them.
            if let Err(e) = self.shared.enqueue(NewMessage::Text(text), None).await {
                tracing::warn!(error = %e, "cannot tell the owners about a pairing lock-out");
            }
        }
        if outcome != Redeem::Paired {
            tracing::info!(user, outcome = ?outcome, "pairing attempt refused");
            return;
        }
        let others = self.shared.users().all();
        let shared = Arc::clone(&self.shared);
        let saved =
            tokio::task::spawn_blocking(move || shared.users().add_paired(user, now_micros()))
                .await;
        match saved {
            Ok(Ok(())) => {
                if let Some(u) = from {
                    self.learn_name(user, &u.first_name).await;
                }
            }
            Ok(Err(e)) => {
                tracing::error!(user, error = %e, "cannot persist a paired user");
                self.send(
                    user,
                    Reply::Text(
                        "Pairing failed on the device (see its log); ask for a new code.".into(),
                    ),
                )
                .await;
                return;
            }
            Err(e) => {
                tracing::error!(user, error = %e, "pairing task failed");
                return;
            }
        }
        self.shared.refresh_counts();
        tracing::info!(user, "paired a new Telegram user");
        self.send(
            user,
            Reply::Text(format!(
                "Paired. You will get alerts and notices from now on.\n\n{}",
                help()
            )),
        )
        .await;
        let who = from.map_or_else(|| format!("user {user}"), describe);
        if !others.is_empty() {
            let text = format!("New Telegram user paired: {who}.");
            if let Err(e) = self
                .shared
                .enqueue(NewMessage::Text(text), Some(others))
                .await
            {
                tracing::warn!(error = %e, "cannot tell the other users about the new pairing");
            }
        }
    }

    async fn execute(&self, user: i64, from: &Option<User>, c: Command) -> Reply {
        let actor = self.actor(user, from);
        tracing::info!(user, command = ?c, "command");
        let actor = &actor;
        let change = |cmd: secura_bus::types::Command| async move {
            match self.alarm.command_as(cmd.as_str(), actor).await {
                Ok(()) => Reply::Notice,
                Err(e) => Reply::Text(bus_failure(e)),
            }
        };
        match c {
            Command::Arm => change(secura_bus::types::Command::Arm).await,
            Command::Disarm => change(secura_bus::types::Command::Disarm).await,
            Command::Enable => change(secura_bus::types::Command::Enable).await,
            Command::Disable => change(secura_bus::types::Command::Disable).await,
            Command::Status => match self.shared.alarm_down_since() {
                Some(since) => Reply::Text(crate::watch::not_running_text(since)),
                None => self.status().await,
            },
            Command::Who => match self.alarm.devices().await {
                Ok(d) => Reply::Text(report::who_text(&d, now_micros())),
                Err(e) => Reply::Text(bus_failure(e)),
            },
            Command::History(n) => match self.alarm.history(n).await {
                Ok(h) => Reply::Text(report::history_text(&h, now_micros())),
                Err(e) => Reply::Text(bus_failure(e)),
            },
            Command::Photo => match self.alarm.snapshot_as(actor).await {
                Ok(fd) => match secura_bus::fd::read_all(&fd.as_fd(), MAX_PHOTO) {
                    Ok(bytes) if !bytes.is_empty() => Reply::Photo(bytes),
                    Ok(_) => Reply::Text("The camera returned an empty photo.".into()),
                    Err(e) => Reply::Text(format!("Cannot read the photo: {e}")),
                },
                Err(e) => Reply::Text(bus_failure(e)),
            },
            Command::Help => Reply::Text(help()),
            Command::Start(_) => {
                Reply::Text("You are already paired. /help lists what I understand.".into())
            }
        }
    }

    async fn status(&self) -> Reply {
        match report::read_view(&self.alarm).await {
            Ok(v) => Reply::Text(report::status_text(
                &v,
                self.shared.status().outbox,
                now_micros(),
                self.shared.settings.camera_always_on,
            )),
            Err(e) => Reply::Text(bus_failure(e)),
        }
    }

    async fn send(&self, user: i64, reply: Reply) {
        let bot = self.api.bot();
        let result = match reply {
            Reply::Notice => return,
            Reply::Text(t) => bot.send_message(ChatId(user), cut(t)).await.map(drop),
            Reply::Photo(bytes) => bot
                .send_photo(
                    ChatId(user),
                    InputFile::memory(bytes).file_name("snapshot.jpg"),
                )
                .caption({
                    let now = now_micros();
                    format!("Photo taken {}", report::when(now, now))
                })
                // A photo of the home: Telegram keeps it from being forwarded or saved.
                .protect_content(true)
                .await
                .map(drop),
        };
        if let Err(e) = result {
            tracing::warn!(user, error = %self.api.scrub(&e.to_string()), "cannot send a reply");
        }
    }
}

/// Callback data of the button that marks an alert's buttons done.
pub const DONE: &str = "done";

/// A Telegram user's first name as shown on a button (cut short).
fn first_name(u: &User) -> String {
    u.first_name.chars().take(32).collect()
}

fn command_label(c: &Command) -> &'static str {
    match c {
        Command::Disarm => "Disarming",
        Command::Disable => "Disabling",
        Command::Photo => "Taking a photo",
        _ => "Working",
    }
}

fn describe(u: &User) -> String {
    let mut s = u.full_name().chars().take(64).collect::<String>();
    if let Some(name) = &u.username {
        s.push_str(&format!(
            " (@{})",
            name.chars().take(64).collect::<String>()
        ));
    }
    s.push_str(&format!(", id {}", u.id.0));
    s
}

/// A bus failure in plain words for the user: no D-Bus error or bus names in the chat; the
/// details go to the log.
fn bus_failure(e: zbus::Error) -> String {
    tracing::warn!(error = %e, "a command to alarmd failed");
    match secura_bus::Error::from(e) {
        secura_bus::Error::ZBus(z) => unreachable_words(&z.to_string()),
        other => {
            let message = other.message();
            match internal_words(&message) {
                Some(words) => words,
                // alarmd's own words ("nothing changed: the system is already armed"),
                // as a sentence.
                None => format!("{}.", capital(message.trim_end_matches('.'))),
            }
        }
    }
}

/// alarmd did not answer at all.
fn unreachable_words(detail: &str) -> String {
    if detail.contains("ServiceUnknown") || detail.contains("NameHasNoOwner") {
        "The alarm is not running, so nothing was done. The system is NOT watching your home."
            .into()
    } else {
        "The alarm did not answer. Try again in a moment.".into()
    }
}

/// What an alarmd message that names another daemon's bus name or a D-Bus error means to an
/// owner; `None` for alarmd's own words.
fn internal_words(message: &str) -> Option<String> {
    if !message.contains("org.securapicam") && !message.contains("org.freedesktop") {
        return None;
    }
    let part = [
        (secura_bus::names::CAMERA_NAME, "the camera"),
        (secura_bus::names::PRESENCE_NAME, "the phone watcher"),
        (secura_bus::names::SENSOR_NAME, "the motion sensor"),
        (secura_bus::names::BOT_NAME, "the bot"),
    ]
    .into_iter()
    .find(|(name, _)| message.contains(name))
    .map(|(_, words)| words);
    let unreachable = [
        "ServiceUnknown",
        "NameHasNoOwner",
        "NoReply",
        "Disconnected",
    ]
    .iter()
    .any(|k| message.contains(k));
    Some(match (part, unreachable) {
        (Some(p), true) => format!("{} is not running, so that could not be done.", capital(p)),
        (Some(p), false) => format!(
            "{} could not do it (the details are in the log).",
            capital(p)
        ),
        (None, _) => "That could not be done (the details are in the log).".into(),
    })
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{internal_words, unreachable_words};

    #[test]
    fn a_missing_camera_is_told_in_plain_words() {
        let words = internal_words(
            "org.freedesktop.DBus.Error.ServiceUnknown: The name org.securapicam.Camera was \
             not provided by any .service files",
        )
        .unwrap();
        assert_eq!(
            words,
            "The camera is not running, so that could not be done."
        );
    }

    #[test]
    fn alarmds_own_words_are_kept_and_bus_names_never_reach_the_chat() {
        assert_eq!(internal_words("the system is disabled"), None);
        let odd = internal_words("org.freedesktop.DBus.Error.AccessDenied: no").unwrap();
        assert!(!odd.contains("org."), "{odd}");
        let gone = unreachable_words(
            "org.freedesktop.DBus.Error.ServiceUnknown: The name org.securapicam.Alarm was not \
             provided by any .service files",
        );
        assert!(gone.starts_with("The alarm is not running"), "{gone}");
        assert!(!unreachable_words("timeout").contains("org."));
    }
}
