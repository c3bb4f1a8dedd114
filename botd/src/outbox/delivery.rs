//! The sender: delivers the outbox in order, one message to every recipient before the next,
//! recording each confirmed part before sending the following one, so nothing confirmed is
//! sent again after a crash. Failures back off with jitter; a 429 waits its `retry_after`.

use super::entry::{Body, album_groups};
use super::look;
use super::store::Pending;
use crate::api::{Api, Failure, backoff, classify, jitter};
use crate::error::BotError;
use crate::state::Shared;
use std::sync::Arc;
use std::time::Duration;
use teloxide::payloads::{SendMediaGroupSetters, SendMessageSetters, SendPhotoSetters};
use teloxide::prelude::Requester;
use teloxide::types::{
    ChatId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, InputMedia, InputMediaPhoto,
    MessageId, ParseMode, ReplyParameters,
};

/// Callback data of the alert buttons.
pub const BUTTONS: [(&str, &str); 3] = [
    ("Disarm", "disarm"),
    ("Disable", "disable"),
    ("Photo", "photo"),
];

/// The text of the message that carries an album's buttons (as a reply to the album).
pub const BUTTONS_TEXT: &str = "What now? (alert above)";

/// The inline keyboard under an alert.
pub fn alert_buttons() -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([BUTTONS
        .iter()
        .map(|(label, data)| InlineKeyboardButton::callback(*label, *data))
        .collect::<Vec<_>>()])
}

/// Run until the task is dropped.
pub async fn run(api: Api, shared: Arc<Shared>) {
    let mut backoff = backoff();
    loop {
        expire(&shared).await;
        let head = shared.outbox().head();
        let Some(id) = head else {
            // Nothing queued, so nothing can expire: sleep until something is (the permit of
            // `notify_one` is kept, so a message queued since `head` is not missed).
            shared.wake.notified().await;
            continue;
        };
        let loaded = blocking(&shared, move |s| s.outbox().load(id)).await;
        let pending = match loaded {
            Ok(Some(p)) => p,
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(id, error = %e, "removing an outbox entry that cannot be read");
                let _ = blocking(&shared, move |s| s.outbox().remove(id)).await;
                shared.refresh_counts();
                continue;
            }
        };
        match deliver(&api, &shared, pending).await {
            Ok(()) => {
                backoff.reset();
                if let Err(e) = blocking(&shared, move |s| s.outbox().remove(id)).await {
                    tracing::error!(id, error = %e, "cannot remove a delivered message");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                let now = secura_bus::types::now_micros();
                shared.update_status(|s| s.last_delivery = now);
                shared.refresh_counts();
                tracing::debug!(id, "delivered");
            }
            Err(DeliveryError::Retry { after, why }) => {
                let delay = match after {
                    Some(d) => d + jitter(Duration::ZERO, d / 10 + Duration::from_millis(100)),
                    None => backoff.next_delay(),
                };
                tracing::warn!(id, reason = %api.scrub(&why), retry_in = ?delay, "delivery failed; will retry");
                tokio::time::sleep(delay).await;
            }
            Err(DeliveryError::Disk(e)) => {
                tracing::error!(id, error = %e, "cannot record delivery progress");
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}

async fn expire(shared: &Arc<Shared>) {
    let dropped = blocking(shared, move |s| s.outbox().expire()).await;
    match dropped {
        Ok(d) if !d.is_empty() => {
            let notice = shared.drop_notice(&d);
            if let Err(e) = shared
                .enqueue(super::NewMessage::trouble(notice), None)
                .await
            {
                tracing::warn!(error = %e, "cannot queue the notice about dropped messages");
            }
            shared.refresh_counts();
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "cannot expire old outbox messages"),
    }
}

async fn blocking<T: Send + 'static>(
    shared: &Arc<Shared>,
    f: impl FnOnce(&Shared) -> Result<T, BotError> + Send + 'static,
) -> Result<T, BotError> {
    let s = Arc::clone(shared);
    tokio::task::spawn_blocking(move || f(&s))
        .await
        .map_err(|e| BotError::Invalid(format!("outbox task failed: {e}")))?
}

enum DeliveryError {
    Retry {
        after: Option<Duration>,
        why: String,
    },
    Disk(BotError),
}

async fn deliver(api: &Api, shared: &Arc<Shared>, mut p: Pending) -> Result<(), DeliveryError> {
    let parts = p.meta.parts();
    let id = p.meta.id;
    for user in p.meta.recipients.clone() {
        let mut done = p.progress.get(&user).copied().unwrap_or(0);
        if done < parts && !shared.users().is_authorized(user) {
            // Removed from allowed_users since the message was queued.
            tracing::info!(
                id,
                user,
                "not delivering to a user who is no longer authorized"
            );
            done = parts;
        }
        while done < parts {
            match send_part(api, shared, user, &p, done).await {
                Ok(message) => {
                    shared.update_status(|s| s.connected = true);
                    if done == 0 {
                        // Kept before the progress: the buttons under an album and later
                        // replies need it, also after a crash.
                        blocking(shared, move |s| s.outbox().set_anchor(id, user, message))
                            .await
                            .map_err(DeliveryError::Disk)?;
                    }
                    done += 1;
                }
                Err(e) => match classify(&e) {
                    Failure::Retry {
                        after,
                        reachable,
                        why,
                    } => {
                        shared.update_status(|s| s.connected = reachable);
                        return Err(DeliveryError::Retry { after, why });
                    }
                    Failure::Permanent(why) => {
                        shared.update_status(|s| s.connected = true);
                        tracing::warn!(id, user, reason = %why, "Telegram refused the message for this user; giving up on it");
                        done = parts;
                    }
                },
            }
            p.progress.insert(user, done);
            let progress = p.progress.clone();
            blocking(shared, move |s| s.outbox().record(id, &progress))
                .await
                .map_err(DeliveryError::Disk)?;
        }
    }
    Ok(())
}

/// Reply to Telegram message `to` (if it was deleted, send all the same).
fn reply(to: i32) -> ReplyParameters {
    ReplyParameters::new(MessageId(to)).allow_sending_without_reply()
}

/// Send part `part` of `p` to `user`; the id of the Telegram message it starts with.
async fn send_part(
    api: &Api,
    shared: &Shared,
    user: i64,
    p: &Pending,
    part: u32,
) -> Result<i32, teloxide::RequestError> {
    let bot = api.bot();
    let chat = ChatId(user);
    let kind = p.meta.kind;
    let silent = kind.silent();
    let buttons = p.meta.buttons;
    // Only the first part replies to the earlier message; the buttons under an album reply
    // to the album.
    let reply_to = if part == 0 && p.meta.reply_to != 0 {
        shared.outbox().anchor(p.meta.reply_to, user)
    } else {
        None
    };
    let sent = match &p.meta.body {
        Body::Text { text } => {
            let mut req = bot
                .send_message(chat, look::render(kind, text, look::TEXT_MAX))
                .parse_mode(ParseMode::Html)
                .disable_notification(silent);
            if let Some(to) = reply_to {
                req = req.reply_parameters(reply(to));
            }
            if buttons {
                req = req.reply_markup(alert_buttons());
            }
            req.await?.id.0
        }
        Body::Album { caption, .. } if p.photos.len() <= 1 => {
            let photo = p.photos.first().cloned().unwrap_or_default();
            let mut req = bot
                .send_photo(
                    chat,
                    InputFile::memory(photo).file_name(format!("{}-1.jpg", p.meta.id)),
                )
                .caption(look::render(kind, caption, look::CAPTION_MAX))
                .parse_mode(ParseMode::Html)
                .protect_content(true)
                .disable_notification(silent);
            if let Some(to) = reply_to {
                req = req.reply_parameters(reply(to));
            }
            if buttons {
                req = req.reply_markup(alert_buttons());
            }
            req.await?.id.0
        }
        Body::Album { caption, .. } => {
            let groups = album_groups(p.photos.len());
            let index = usize::try_from(part).unwrap_or(usize::MAX);
            match groups.get(index) {
                Some(range) => {
                    let media: Vec<InputMedia> = p
                        .photos
                        .get(range.clone())
                        .unwrap_or_default()
                        .iter()
                        .enumerate()
                        .map(|(i, bytes)| {
                            let n = range.start + i + 1;
                            let file = InputFile::memory(bytes.clone())
                                .file_name(format!("{}-{n}.jpg", p.meta.id));
                            let mut m = InputMediaPhoto::new(file);
                            if n == 1 {
                                m = m
                                    .caption(look::render(kind, caption, look::CAPTION_MAX))
                                    .parse_mode(ParseMode::Html);
                            }
                            InputMedia::Photo(m)
                        })
                        .collect();
                    let mut req = bot
                        .send_media_group(chat, media)
                        .protect_content(true)
                        .disable_notification(silent);
                    if let Some(to) = reply_to {
                        req = req.reply_parameters(reply(to));
                    }
                    let messages = req.await?;
                    messages.first().map_or(0, |m| m.id.0)
                }
                None => {
                    // The album already rang; its buttons follow quietly, as a reply to it.
                    let album = shared.outbox().anchor(p.meta.id, user);
                    let mut req = bot
                        .send_message(chat, BUTTONS_TEXT)
                        .disable_notification(true)
                        .reply_markup(alert_buttons());
                    if let Some(to) = album {
                        req = req.reply_parameters(reply(to));
                    }
                    req.await?.id.0
                }
            }
        }
    };
    Ok(sent)
}
