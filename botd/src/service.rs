//! `org.securapicam.Bot1` (DESIGN §3): thin methods that validate, queue durably and return the
//! outbox id; properties that follow the shared status and announce every change.

use crate::outbox::NewMessage;
use crate::state::{Shared, Status};
use secura_bus::Error;
use secura_bus::types::{MessageKind, now_micros};
use std::os::fd::AsFd;
use std::sync::Arc;
use zbus::interface;
use zbus::object_server::InterfaceRef;

/// Telegram's limit for a message text.
pub const MAX_TEXT_CHARS: usize = 4096;
/// Telegram's limit for a photo caption.
pub const MAX_CAPTION_CHARS: usize = 1024;
/// Telegram's limit for one photo upload.
pub const MAX_PHOTO_BYTES: u64 = 10 << 20;
/// More photos than this in one alert is a caller's mistake.
pub const MAX_PHOTOS: usize = 50;

/// The object served at `/org/securapicam/Bot`.
#[derive(Debug)]
pub struct Bot1 {
    shared: Arc<Shared>,
}

impl Bot1 {
    /// Serve `shared`.
    pub fn new(shared: Arc<Shared>) -> Bot1 {
        Bot1 { shared }
    }
}

fn check_text(what: &str, text: &str, max: usize) -> Result<(), Error> {
    if text.trim().is_empty() && what == "text" {
        return Err(Error::InvalidArgument("the text is empty".into()));
    }
    let n = text.chars().count();
    if n > max {
        return Err(Error::InvalidArgument(format!(
            "the {what} has {n} characters; Telegram takes at most {max}"
        )));
    }
    Ok(())
}

/// The JPEG bytes behind `photos` (at most [`MAX_PHOTOS`], each a JPEG of at most
/// [`MAX_PHOTO_BYTES`]).
fn read_photos(photos: &[zbus::OwnedFd]) -> Result<Vec<Vec<u8>>, Error> {
    if photos.len() > MAX_PHOTOS {
        return Err(Error::InvalidArgument(format!(
            "{} photos in one message; at most {MAX_PHOTOS}",
            photos.len()
        )));
    }
    let mut images = Vec::with_capacity(photos.len());
    for (i, fd) in photos.iter().enumerate() {
        let bytes = secura_bus::fd::read_all(&fd.as_fd(), MAX_PHOTO_BYTES)
            .map_err(|e| Error::InvalidArgument(format!("photo {}: {e}", i + 1)))?;
        if !bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            return Err(Error::InvalidArgument(format!(
                "photo {} is not a JPEG",
                i + 1
            )));
        }
        images.push(bytes);
    }
    Ok(images)
}

#[interface(name = "org.securapicam.Bot1")]
impl Bot1 {
    /// Queue a text to every authorized user; the outbox id once it is on disk.
    async fn notify(&self, text: String) -> Result<u64, Error> {
        check_text("text", &text, MAX_TEXT_CHARS)?;
        let id = self.shared.enqueue(NewMessage::Text(text), None).await?;
        tracing::info!(id, "notice queued");
        Ok(id)
    }

    /// Queue one album with `caption` to every authorized user; the outbox id once on disk.
    async fn alert(&self, caption: String, photos: Vec<zbus::OwnedFd>) -> Result<u64, Error> {
        check_text("caption", &caption, MAX_CAPTION_CHARS)?;
        if photos.is_empty() {
            return Err(Error::InvalidArgument(
                "an alert needs at least one photo".into(),
            ));
        }
        if photos.len() > MAX_PHOTOS {
            return Err(Error::InvalidArgument(format!(
                "{} photos in one alert; at most {MAX_PHOTOS}",
                photos.len()
            )));
        }
        let images = read_photos(&photos)?;
        let n = images.len();
        let id = self
            .shared
            .enqueue(
                NewMessage::Album {
                    caption,
                    photos: images,
                },
                None,
            )
            .await?;
        tracing::info!(id, photos = n, "alert queued");
        Ok(id)
    }

    /// Queue a message of `kind` with `text` (the caption when there are photos) and
    /// `photos` (may be none), replying to the earlier outbox message `reply_to` (0: none);
    /// the outbox id once on disk. An unknown `reply_to` only loses the reply link.
    async fn post(
        &self,
        kind: String,
        text: String,
        photos: Vec<zbus::OwnedFd>,
        reply_to: u64,
    ) -> Result<u64, Error> {
        let Some(kind) = MessageKind::parse(&kind) else {
            let known: Vec<&str> = MessageKind::ALL.iter().map(|k| k.as_str()).collect();
            return Err(Error::InvalidArgument(format!(
                "unknown kind {:?}; one of {}",
                kind.chars().take(32).collect::<String>(),
                known.join(", ")
            )));
        };
        if photos.is_empty() {
            check_text("text", &text, MAX_TEXT_CHARS)?;
        } else {
            check_text("caption", &text, MAX_CAPTION_CHARS)?;
        }
        let images = read_photos(&photos)?;
        let n = images.len();
        let id = self
            .shared
            .enqueue(
                NewMessage::Post {
                    kind,
                    text,
                    photos: images,
                    reply_to,
                },
                None,
            )
            .await?;
        tracing::info!(
            id,
            kind = kind.as_str(),
            photos = n,
            reply_to,
            "message queued"
        );
        Ok(id)
    }

    /// A one-time code for `/start CODE` and when it expires (µs since the epoch).
    async fn create_pairing_code(&self) -> Result<(String, u64), Error> {
        let (code, expires) = self.shared.pairing().create(now_micros())?;
        tracing::info!(expires, "pairing code created");
        Ok((code, expires))
    }

    /// Whether the Bot API answered the last request.
    #[zbus(property)]
    async fn connected(&self) -> bool {
        self.shared.status().connected
    }

    /// Messages waiting in the outbox.
    #[zbus(property)]
    async fn outbox(&self) -> u32 {
        self.shared.status().outbox
    }

    /// Authorized users.
    #[zbus(property)]
    async fn users(&self) -> u32 {
        self.shared.status().users
    }

    /// Time of the last confirmed delivery, 0 if none.
    #[zbus(property)]
    async fn last_delivery(&self) -> u64 {
        self.shared.status().last_delivery
    }
}

/// Emit `PropertiesChanged` for every status field that changes, until the task is dropped.
pub async fn announce(iface: InterfaceRef<Bot1>, shared: Arc<Shared>) {
    let mut rx = shared.subscribe();
    let mut last: Status = *rx.borrow_and_update();
    while rx.changed().await.is_ok() {
        let now: Status = *rx.borrow_and_update();
        let emitter = iface.signal_emitter();
        let bot = iface.get().await;
        let mut results = Vec::new();
        if now.connected != last.connected {
            results.push(bot.connected_changed(emitter).await);
        }
        if now.outbox != last.outbox {
            results.push(bot.outbox_changed(emitter).await);
        }
        if now.users != last.users {
            results.push(bot.users_changed(emitter).await);
        }
        if now.last_delivery != last.last_delivery {
            results.push(bot.last_delivery_changed(emitter).await);
        }
        for r in results {
            if let Err(e) = r {
                tracing::debug!(error = %e, "cannot emit PropertiesChanged");
            }
        }
        last = now;
    }
}
