//! alarmd's life as the owners must know it: alarmd gone from the bus for longer than
//! [`GRACE`] is a loud notice to every owner, its return another. A dead alarm that looks
//! alive is the worst failure a home-security system can have; alarmd cannot announce its own
//! death, so botd does. A restart by systemd (`RestartSec=2s`) is shorter than [`GRACE`] and
//! stays quiet. The notices go through the outbox like every other message, so they survive a
//! Telegram outage and a restart of botd.

use crate::outbox::NewMessage;
use crate::report;
use crate::state::Shared;
use futures_util::StreamExt;
use secura_bus::names::ALARM_NAME;
use secura_bus::types::{MessageKind, now_micros};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long alarmd may be away from the bus before the owners are told. Longer than a
/// restart by systemd (2 s plus start-up), well below the 10 s an owner may wait to learn it.
pub const GRACE: Duration = Duration::from_secs(5);

/// The notice that alarmd is gone (sent with the alert look, which adds the 🚨).
pub fn not_running_words(since: u64) -> String {
    format!(
        "The alarm is not running since {} — the system is NOT watching your home.",
        report::when(since, now_micros())
    )
}

/// `/status`'s answer while alarmd is gone.
pub fn not_running_text(since: u64) -> String {
    format!("🚨 {}", not_running_words(since))
}

/// The notice that alarmd is back after [`not_running_words`] (sent with the resolved
/// look, which adds the ✅).
pub const RUNNING_AGAIN: &str = "The alarm is running again.";

/// Follow alarmd's bus name until the connection closes.
pub async fn run(conn: zbus::Connection, shared: Arc<Shared>) {
    if let Err(e) = follow(&conn, &shared).await {
        tracing::error!(error = %e, "cannot follow alarmd on the bus");
    }
}

async fn follow(conn: &zbus::Connection, shared: &Arc<Shared>) -> zbus::Result<()> {
    let dbus = zbus::fdo::DBusProxy::new(conn).await?;
    // Subscribed before the first look, so no change falls between the two.
    let mut changes = dbus
        .receive_name_owner_changed_with_args(&[(0, ALARM_NAME)])
        .await?;
    let present = dbus.name_has_owner(ALARM_NAME.try_into()?).await?;
    // When alarmd left (µs since the epoch, and as an instant for the grace), and whether
    // the owners were told.
    let mut gone: Option<(u64, Instant)> = None;
    let mut announced = false;
    if !present {
        tracing::warn!("alarmd is not on the bus");
        gone = Some((now_micros(), Instant::now()));
        shared.set_alarm_down_since(gone.map(|g| g.0));
    }
    loop {
        let deadline = gone.filter(|_| !announced).map(|(_, at)| at + GRACE);
        tokio::select! {
            signal = changes.next() => {
                let Some(signal) = signal else { return Ok(()) };
                let args = signal.args()?;
                if args.new_owner().is_none() {
                    if gone.is_none() {
                        tracing::warn!("alarmd left the bus");
                        gone = Some((now_micros(), Instant::now()));
                        shared.set_alarm_down_since(gone.map(|g| g.0));
                    }
                } else {
                    let away = gone.map(|(_, at)| at.elapsed());
                    tracing::info!(away = ?away, "alarmd is on the bus");
                    if announced {
                        tell(shared, resolved(RUNNING_AGAIN.to_string())).await;
                    }
                    gone = None;
                    announced = false;
                    shared.set_alarm_down_since(None);
                }
            }
            () = sleep_until(deadline), if deadline.is_some() => {
                if let Some((since, _)) = gone {
                    tracing::error!(since, "alarmd has been gone for {GRACE:?}: telling the owners");
                    tell(shared, NewMessage::Warning(not_running_words(since))).await;
                }
                announced = true;
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// `text` with the look of a resolved trouble.
fn resolved(text: String) -> NewMessage {
    NewMessage::Post {
        kind: MessageKind::Resolved,
        text,
        photos: Vec::new(),
        reply_to: 0,
    }
}

/// Queue `msg`: alarmd gone is an alert (the house is not watched; no buttons, they could
/// not work), its return a resolved trouble.
async fn tell(shared: &Arc<Shared>, msg: NewMessage) {
    if let Err(e) = shared.enqueue(msg, None).await {
        tracing::error!(error = %e, "cannot queue the notice about alarmd");
    }
}
