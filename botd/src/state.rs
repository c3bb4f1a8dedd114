//! What the bus interface, the poller and the sender share: the outbox, the users, the pairing
//! codes and the status behind the `Bot1` properties. File work runs on the blocking pool.

use crate::error::BotError;
use crate::outbox::{Dropped, NewMessage, Outbox};
use crate::pairing::Pairing;
use crate::users::Users;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Notify, watch};

/// The values behind the `Bot1` properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    /// Whether the Bot API answered the last request.
    pub connected: bool,
    /// Messages waiting.
    pub outbox: u32,
    /// Authorized users.
    pub users: u32,
    /// Time of the last confirmed delivery, 0 if none.
    pub last_delivery: u64,
}

/// Settings from `[telegram]` that the running parts need.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Commands older than this (µs) are not executed.
    pub max_command_age: u64,
    /// Shown in the drop notice.
    pub outbox_max_age: std::time::Duration,
    /// `[camera] always_on`, for `/status`.
    pub camera_always_on: bool,
}

/// The shared state of a running botd.
#[derive(Debug)]
pub struct Shared {
    outbox: Mutex<Outbox>,
    users: Mutex<Users>,
    pairing: Mutex<Pairing>,
    status: watch::Sender<Status>,
    /// Since when alarmd is off the bus (µs since the epoch), 0 while it is on it.
    alarm_down_since: AtomicU64,
    /// Woken when a message is queued.
    pub wake: Notify,
    /// Settings.
    pub settings: Settings,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these half-changed in a way that matters
    // more than stopping would: every change to disk is atomic.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// Share `outbox`, `users` and `pairing`.
    pub fn new(outbox: Outbox, users: Users, pairing: Pairing, settings: Settings) -> Arc<Shared> {
        let status = Status {
            connected: false,
            outbox: u32::try_from(outbox.len()).unwrap_or(u32::MAX),
            users: u32::try_from(users.count()).unwrap_or(u32::MAX),
            last_delivery: 0,
        };
        Arc::new(Shared {
            outbox: Mutex::new(outbox),
            users: Mutex::new(users),
            pairing: Mutex::new(pairing),
            status: watch::Sender::new(status),
            alarm_down_since: AtomicU64::new(0),
            wake: Notify::new(),
            settings,
        })
    }

    /// The outbox (hold it only on the blocking pool).
    pub fn outbox(&self) -> MutexGuard<'_, Outbox> {
        lock(&self.outbox)
    }

    /// The users.
    pub fn users(&self) -> MutexGuard<'_, Users> {
        lock(&self.users)
    }

    /// The pairing codes.
    pub fn pairing(&self) -> MutexGuard<'_, Pairing> {
        lock(&self.pairing)
    }

    /// The status now.
    pub fn status(&self) -> Status {
        *self.status.borrow()
    }

    /// Since when alarmd is off the bus (µs since the epoch), if it is.
    pub fn alarm_down_since(&self) -> Option<u64> {
        Some(self.alarm_down_since.load(Ordering::Relaxed)).filter(|&t| t != 0)
    }

    /// Record that alarmd left the bus at `since`, or (`None`) is on it.
    pub fn set_alarm_down_since(&self, since: Option<u64>) {
        self.alarm_down_since
            .store(since.map_or(0, |t| t.max(1)), Ordering::Relaxed);
    }

    /// Follow status changes.
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    /// Change the status; watchers see it only if something changed.
    pub fn update_status(&self, f: impl FnOnce(&mut Status)) {
        self.status.send_if_modified(|s| {
            let before = *s;
            f(s);
            *s != before
        });
    }

    /// Refresh the outbox and user counts.
    pub fn refresh_counts(&self) {
        let outbox = u32::try_from(self.outbox().len()).unwrap_or(u32::MAX);
        let users = u32::try_from(self.users().count()).unwrap_or(u32::MAX);
        self.update_status(|s| {
            s.outbox = outbox;
            s.users = users;
        });
    }

    /// Queue `msg` durably for `recipients` (every authorized user when `None`) and return its
    /// id. Messages dropped to make room are logged and announced.
    pub async fn enqueue(
        self: &Arc<Self>,
        msg: NewMessage,
        recipients: Option<Vec<i64>>,
    ) -> Result<u64, BotError> {
        let me = Arc::clone(self);
        let id = tokio::task::spawn_blocking(move || me.enqueue_blocking(msg, recipients))
            .await
            .map_err(|e| BotError::Invalid(format!("the outbox writer failed: {e}")))??;
        self.refresh_counts();
        self.wake.notify_one();
        Ok(id)
    }

    fn enqueue_blocking(
        &self,
        msg: NewMessage,
        recipients: Option<Vec<i64>>,
    ) -> Result<u64, BotError> {
        let recipients = recipients.unwrap_or_else(|| self.users().all());
        if recipients.is_empty() {
            return Err(BotError::NoRecipients);
        }
        let now = secura_bus::types::now_micros();
        let mut outbox = self.outbox();
        let (id, dropped) = outbox.enqueue(msg, recipients.clone(), now)?;
        if !dropped.is_empty() {
            let notice = self.drop_notice(&dropped);
            outbox.enqueue(NewMessage::trouble(notice), recipients, now)?;
        }
        Ok(id)
    }

    /// Log each dropped message and say in one text what was lost.
    pub fn drop_notice(&self, dropped: &[Dropped]) -> String {
        for d in dropped {
            tracing::warn!(
                id = d.id,
                queued_at = d.created,
                reason = d.reason,
                "dropped an undelivered message"
            );
        }
        let by_age = dropped
            .iter()
            .filter(|d| d.reason == "outbox_max_age")
            .count();
        let by_size = dropped.len() - by_age;
        let mut parts = Vec::new();
        if by_age > 0 {
            parts.push(format!(
                "{by_age} older than {} (outbox_max_age)",
                humantime::format_duration(self.settings.outbox_max_age)
            ));
        }
        if by_size > 0 {
            parts.push(format!("{by_size} to stay within outbox_max_bytes"));
        }
        format!(
            "Undelivered messages were dropped: {}. Telegram could not be reached in time.",
            parts.join(", ")
        )
    }
}
