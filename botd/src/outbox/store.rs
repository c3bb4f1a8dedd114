//! The durable outbox (DESIGN §7): one file per message in `<state>/outbox/`, written and
//! fsynced before its id is returned, progress per recipient beside it, removed once every
//! recipient has it. Entries too old or beyond the byte budget are dropped, oldest first.
//!
//! "Too old" is measured in time spent queued, not by the wall clock: a Pi has no RTC and its
//! clock may step by hours or days when SNTP answers, which must not throw away alerts
//! waiting for Telegram. The outbox keeps its own clock of monotonic time, saved in
//! `queued-at` with each entry's reading at enqueue; time while botd is not running is not
//! counted (a message is then kept longer, never dropped early).

use super::entry::{self, Body, Meta};
use crate::error::BotError;
use secura_bus::types::MessageKind;
use secura_kit::fs::{replace, sync_dir, write_atomic};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The outbox directory under the state directory.
pub const DIR: &str = "outbox";
const NEXT_ID: &str = "next-id";
const QUEUED_AT: &str = "queued-at";
/// The Telegram message each recipient got first for recent outbox ids (`ID USER MESSAGE`).
const ANCHORS: &str = "anchors";
/// How often the queue clock is saved while messages wait.
const SAVE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Monotonic time spent running with an outbox, µs, carried across restarts.
#[derive(Debug)]
struct QueueClock {
    base: u64,
    since: std::time::Instant,
    saved: std::time::Instant,
}

impl QueueClock {
    fn now(&self) -> u64 {
        let run = u64::try_from(self.since.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.base.saturating_add(run)
    }
}

/// A message handed to the outbox.
#[derive(Debug, Clone)]
pub enum NewMessage {
    /// `Notify(text)`: a notice.
    Text(String),
    /// `Alert(caption, photos)`: an alert.
    Album {
        /// The caption.
        caption: String,
        /// JPEG bytes of each photo.
        photos: Vec<Vec<u8>>,
    },
    /// A text with the look of an alert but without its buttons (botd's own alarm: alarmd
    /// is not running, so the buttons could not work).
    Warning(String),
    /// `Post(kind, text, photos, reply_to)`; alerts carry the buttons.
    Post {
        /// Its kind.
        kind: MessageKind,
        /// The text (the caption when there are photos).
        text: String,
        /// JPEG bytes of each photo (may be none).
        photos: Vec<Vec<u8>>,
        /// The outbox id of the message it replies to, 0 for none.
        reply_to: u64,
    },
}

impl NewMessage {
    /// A text with the look of a trouble (botd's own: messages it had to drop).
    pub fn trouble(text: String) -> NewMessage {
        NewMessage::Post {
            kind: MessageKind::Trouble,
            text,
            photos: Vec::new(),
            reply_to: 0,
        }
    }
}

/// How many sent messages are remembered for replies (`reply_to`, the buttons under an
/// album): far more than a cooldown window's worth.
pub const ANCHORS_KEPT: usize = 256;

/// A message that left the outbox without being delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Its outbox id.
    pub id: u64,
    /// When it was queued.
    pub created: u64,
    /// Why it was dropped.
    pub reason: &'static str,
}

/// A message loaded for delivery.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Its metadata.
    pub meta: Meta,
    /// Its photos.
    pub photos: Vec<Vec<u8>>,
    /// Parts already confirmed, per recipient.
    pub progress: HashMap<i64, u32>,
}

#[derive(Debug, Clone, Copy)]
struct Info {
    created: u64,
    size: u64,
    /// The queue clock when it was queued.
    queued: u64,
}

/// The outbox on disk and its index in memory.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    index: BTreeMap<u64, Info>,
    next_id: u64,
    bytes: u64,
    max_age: u64,
    max_bytes: u64,
    clock: QueueClock,
    /// (outbox id, user) → the first Telegram message that user got of it.
    anchors: BTreeMap<(u64, i64), i32>,
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if !self.index.is_empty() {
            let _ = self.save_queue_times();
        }
    }
}

fn msg_name(id: u64) -> String {
    format!("{id:020}.msg")
}
fn sent_name(id: u64) -> String {
    format!("{id:020}.sent")
}

impl Outbox {
    /// Open (creating) the outbox in `state_dir`, with entries older than `max_age` µs or
    /// beyond `max_bytes` to be dropped. Damaged entries are removed with an error in the log.
    pub fn open(state_dir: &Path, max_age: u64, max_bytes: u64) -> Result<Outbox, BotError> {
        let dir = state_dir.join(DIR);
        std::fs::create_dir_all(&dir).map_err(BotError::io("creating the outbox", &dir))?;
        let (clock_base, queued_at) = read_queue_times(&dir.join(QUEUED_AT));
        let started = std::time::Instant::now();
        let mut ob = Outbox {
            dir,
            index: BTreeMap::new(),
            next_id: 1,
            bytes: 0,
            max_age,
            max_bytes,
            clock: QueueClock {
                base: clock_base,
                since: started,
                saved: started,
            },
            anchors: BTreeMap::new(),
        };
        let listing =
            std::fs::read_dir(&ob.dir).map_err(BotError::io("listing the outbox", &ob.dir))?;
        let mut sent_files = Vec::new();
        for item in listing {
            let item = item.map_err(BotError::io("listing the outbox", &ob.dir))?;
            let name = item.file_name().to_string_lossy().into_owned();
            let path = item.path();
            if name.starts_with('.') && name.ends_with(".tmp") {
                // A write that never completed: its id was never returned.
                let _ = std::fs::remove_file(&path);
            } else if let Some(id) = name
                .strip_suffix(".msg")
                .and_then(|s| s.parse::<u64>().ok())
            {
                match read_meta(&path) {
                    Ok((meta, size)) if meta.id == id => {
                        ob.bytes += size;
                        ob.index.insert(
                            id,
                            Info {
                                created: meta.created,
                                size,
                                // An entry of an older version starts ageing now.
                                queued: queued_at
                                    .get(&id)
                                    .copied()
                                    .unwrap_or(clock_base)
                                    .min(clock_base),
                            },
                        );
                    }
                    Ok(_) => ob.discard(&path, "its id does not match its name"),
                    Err(e) => ob.discard(&path, &e),
                }
            } else if let Some(id) = name
                .strip_suffix(".sent")
                .and_then(|s| s.parse::<u64>().ok())
            {
                sent_files.push((id, path));
            }
        }
        for (id, path) in sent_files {
            if !ob.index.contains_key(&id) {
                let _ = std::fs::remove_file(path);
            }
        }
        let stored = std::fs::read_to_string(ob.dir.join(NEXT_ID))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(1);
        let after_last = ob
            .index
            .keys()
            .next_back()
            .map_or(1, |id| id.saturating_add(1));
        ob.next_id = stored.max(after_last).max(1);
        ob.anchors = read_anchors(&ob.dir.join(ANCHORS));
        Ok(ob)
    }

    fn discard(&self, path: &Path, why: &str) {
        tracing::error!(file = %path.display(), reason = why, "removing a damaged outbox entry");
        let _ = std::fs::remove_file(path);
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The oldest message's id.
    pub fn head(&self) -> Option<u64> {
        self.index.keys().next().copied()
    }

    /// Write `msg` for `recipients` durably and return its id, with what had to be dropped to
    /// make room. A message that alone is over the budget is refused.
    pub fn enqueue(
        &mut self,
        msg: NewMessage,
        recipients: Vec<i64>,
        now: u64,
    ) -> Result<(u64, Vec<Dropped>), BotError> {
        let id = self.next_id;
        let (kind, text, photos, reply_to, buttons) = match msg {
            NewMessage::Text(text) => (MessageKind::Notice, text, Vec::new(), 0, false),
            NewMessage::Album { caption, photos } => (MessageKind::Alert, caption, photos, 0, true),
            NewMessage::Warning(text) => (MessageKind::Alert, text, Vec::new(), 0, false),
            NewMessage::Post {
                kind,
                text,
                photos,
                reply_to,
            } => (kind, text, photos, reply_to, kind == MessageKind::Alert),
        };
        let body = if photos.is_empty() {
            Body::Text { text }
        } else {
            Body::Album {
                caption: text,
                photo_lens: photos.iter().map(|p| p.len() as u64).collect(),
            }
        };
        let meta = Meta {
            id,
            created: now,
            kind,
            reply_to,
            buttons,
            body,
            recipients,
        };
        let bytes = entry::encode(&meta, &photos).map_err(BotError::Invalid)?;
        let size = bytes.len() as u64;
        if size > self.max_bytes {
            return Err(BotError::Full(format!(
                "a message of {size} bytes is larger than outbox_max_bytes ({} bytes)",
                self.max_bytes
            )));
        }
        let mut dropped = Vec::new();
        while self.bytes + size > self.max_bytes {
            let Some((old, info)) = self.index.first_key_value().map(|(k, v)| (*k, *v)) else {
                break;
            };
            self.remove(old)?;
            dropped.push(Dropped {
                id: old,
                created: info.created,
                reason: "outbox_max_bytes",
            });
        }
        // Three files replaced (each fsync'd) and the directory synced once, before the id is
        // returned: the entry, the counter and the queue times are all durable together.
        let path = self.dir.join(msg_name(id));
        replace(&path, &bytes).map_err(BotError::io("writing the outbox entry", &path))?;
        self.next_id = id.saturating_add(1);
        let next = self.dir.join(NEXT_ID);
        replace(&next, self.next_id.to_string().as_bytes())
            .map_err(BotError::io("writing the outbox counter", &next))?;
        self.index.insert(
            id,
            Info {
                created: now,
                size,
                queued: self.clock.now(),
            },
        );
        self.bytes += size;
        self.write_queue_times()?;
        sync_dir(&self.dir).map_err(BotError::io("syncing the outbox", &self.dir))?;
        Ok((id, dropped))
    }

    /// Load message `id` with its progress; `None` if it has left the outbox meanwhile.
    pub fn load(&self, id: u64) -> Result<Option<Pending>, BotError> {
        if !self.index.contains_key(&id) {
            return Ok(None);
        }
        let path = self.dir.join(msg_name(id));
        let bytes =
            std::fs::read(&path).map_err(BotError::io("reading the outbox entry", &path))?;
        let (meta, photos) = entry::decode(&bytes).map_err(|message| BotError::Corrupt {
            path: path.clone(),
            message,
        })?;
        let sent = self.dir.join(sent_name(id));
        let progress = match std::fs::read(&sent) {
            Ok(b) => entry::decode_progress(&b)
                .map_err(|message| BotError::Corrupt {
                    path: sent.clone(),
                    message,
                })?
                .into_iter()
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(BotError::io("reading outbox progress", &sent)(e)),
        };
        Ok(Some(Pending {
            meta,
            photos,
            progress,
        }))
    }

    /// Record durably that `user` has been sent `parts` parts of message `id`.
    pub fn record(&mut self, id: u64, progress: &HashMap<i64, u32>) -> Result<(), BotError> {
        if !self.index.contains_key(&id) {
            return Ok(());
        }
        let mut list: Vec<(i64, u32)> = progress.iter().map(|(u, p)| (*u, *p)).collect();
        list.sort_unstable();
        let bytes = entry::encode_progress(&list).map_err(BotError::Invalid)?;
        let path = self.dir.join(sent_name(id));
        write_atomic(&path, &bytes).map_err(BotError::io("writing outbox progress", &path))
    }

    /// Remove message `id` (delivered, given up, or dropped).
    pub fn remove(&mut self, id: u64) -> Result<(), BotError> {
        let Some(info) = self.index.remove(&id) else {
            return Ok(());
        };
        self.bytes = self.bytes.saturating_sub(info.size);
        let path = self.dir.join(msg_name(id));
        std::fs::remove_file(&path).map_err(BotError::io("removing the outbox entry", &path))?;
        let _ = std::fs::remove_file(self.dir.join(sent_name(id)));
        sync_dir(&self.dir).map_err(BotError::io("syncing the outbox", &self.dir))
    }

    /// How long message `id` has been queued, µs (time botd ran with it in the outbox).
    pub fn queued_for(&self, id: u64) -> Option<u64> {
        let now = self.clock.now();
        self.index.get(&id).map(|i| now.saturating_sub(i.queued))
    }

    /// Drop every message queued for more than `outbox_max_age`, whatever the wall clock says.
    pub fn expire(&mut self) -> Result<Vec<Dropped>, BotError> {
        let now = self.clock.now();
        let old: Vec<(u64, Info)> = self
            .index
            .iter()
            .filter(|(_, i)| now.saturating_sub(i.queued) > self.max_age)
            .map(|(k, v)| (*k, *v))
            .collect();
        if old.is_empty() && !self.index.is_empty() && self.clock.saved.elapsed() >= SAVE_EVERY {
            self.save_queue_times()?;
        }
        let mut dropped = Vec::new();
        for (id, info) in old {
            self.remove(id)?;
            dropped.push(Dropped {
                id,
                created: info.created,
                reason: "outbox_max_age",
            });
        }
        Ok(dropped)
    }
}

impl Outbox {
    /// The first Telegram message `user` got of outbox message `id`, if it is remembered.
    pub fn anchor(&self, id: u64, user: i64) -> Option<i32> {
        self.anchors.get(&(id, user)).copied()
    }

    /// Remember durably that `user` got outbox message `id` as Telegram message `message`
    /// (its first one), forgetting the oldest beyond [`ANCHORS_KEPT`] ids.
    pub fn set_anchor(&mut self, id: u64, user: i64, message: i32) -> Result<(), BotError> {
        self.anchors.insert((id, user), message);
        let ids: std::collections::BTreeSet<u64> = self.anchors.keys().map(|k| k.0).collect();
        if let Some(&keep_from) = ids.iter().rev().nth(ANCHORS_KEPT - 1) {
            self.anchors.retain(|k, _| k.0 >= keep_from);
        }
        let mut text = String::new();
        for ((id, user), message) in &self.anchors {
            text.push_str(&format!("{id} {user} {message}\n"));
        }
        let path = self.dir.join(ANCHORS);
        write_atomic(&path, text.as_bytes())
            .map_err(BotError::io("writing the outbox anchors", &path))
    }

    /// Save the queue clock and each entry's reading at enqueue.
    fn save_queue_times(&mut self) -> Result<(), BotError> {
        self.write_queue_times()?;
        sync_dir(&self.dir).map_err(BotError::io("syncing the outbox", &self.dir))
    }

    /// [`Outbox::save_queue_times`] without syncing the directory (the caller does).
    fn write_queue_times(&mut self) -> Result<(), BotError> {
        let mut text = format!("clock {}\n", self.clock.now());
        for (id, info) in &self.index {
            text.push_str(&format!("{id} {}\n", info.queued));
        }
        let path = self.dir.join(QUEUED_AT);
        replace(&path, text.as_bytes())
            .map_err(BotError::io("writing the outbox queue times", &path))?;
        self.clock.saved = std::time::Instant::now();
        Ok(())
    }
}

/// The saved queue clock and readings (`clock N`, then `ID N` lines); anything unreadable
/// counts as absent, so a damaged file only makes messages wait longer.
fn read_queue_times(path: &Path) -> (u64, HashMap<u64, u64>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut clock = 0;
    let mut at = HashMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match (
            words.next(),
            words.next().and_then(|n| n.parse::<u64>().ok()),
        ) {
            (Some("clock"), Some(n)) => clock = n,
            (Some(id), Some(n)) => {
                if let Ok(id) = id.parse::<u64>() {
                    at.insert(id, n);
                }
            }
            _ => {}
        }
    }
    (clock, at)
}

/// The saved anchors; unreadable lines are skipped (a lost anchor only makes a message
/// arrive without its reply link).
fn read_anchors(path: &Path) -> BTreeMap<(u64, i64), i32> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut w = line.split_whitespace();
            let id = w.next()?.parse().ok()?;
            let user = w.next()?.parse().ok()?;
            let message = w.next()?.parse().ok()?;
            Some(((id, user), message))
        })
        .collect()
}

/// Read only the metadata of an entry file and check its length; returns the size.
fn read_meta(path: &Path) -> Result<(Meta, u64), String> {
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let size = f.metadata().map_err(|e| e.to_string())?.len();
    let mut prefix = Vec::new();
    let cap = entry::MAX_META + entry::MAGIC.len() as u64 + 4;
    (&mut f)
        .take(cap)
        .read_to_end(&mut prefix)
        .map_err(|e| e.to_string())?;
    let (meta, photos_at) = entry::decode_meta(&prefix)?;
    if entry::expected_len(&meta, photos_at) != Some(size) {
        return Err(format!(
            "the file has {size} bytes, not what its metadata promises"
        ));
    }
    Ok((meta, size))
}

#[cfg(test)]
mod tests;
