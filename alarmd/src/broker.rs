//! The MQTT broker as a trouble: mqttd's `Nodes1.Connected` false → "the MQTT broker is
//! unreachable (<broker>)", cleared when it reconnects or mqttd leaves the bus (no mqttd, no
//! MQTT: `[mqtt]` is optional, so its absence is never a trouble). A broker out of reach for
//! less than [`GRACE`] is not worth a notice: mqttd coming onto the bus before its first
//! connection, or a broker restart, would otherwise be a "Trouble" and a "Resolved" at once.

use crate::inbox::Inbox;
use crate::machine::{Event, TroubleKey};
use futures_util::StreamExt;
use secura_bus::names;
use secura_bus::proxies::Nodes1Proxy;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

/// How long the broker may be out of reach before it is a trouble.
pub const GRACE: Duration = Duration::from_secs(10);

async fn read(conn: &zbus::Connection) -> Option<String> {
    let p = Nodes1Proxy::builder(conn)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .ok()?;
    if p.connected().await.ok()? {
        return None;
    }
    let broker = p.broker().await.unwrap_or_default();
    Some(format!("the MQTT broker is unreachable ({broker})"))
}

async fn report(inbox: &Inbox, text: Option<String>) {
    let e = Event::Trouble {
        key: TroubleKey::Mqtt,
        text,
    };
    inbox.event(e).await;
}

/// Follow mqttd's `Connected` for as long as alarmd runs.
pub async fn follow(conn: zbus::Connection, inbox: Inbox) {
    let changes = match zbus::fdo::PropertiesProxy::builder(&conn)
        .destination(names::NODES_NAME)
        .path(names::NODES_PATH)
        .build()
        .await
    {
        Ok(p) => p.receive_properties_changed().await.ok(),
        Err(_) => None,
    };
    let owners = match zbus::fdo::DBusProxy::new(&conn).await {
        Ok(d) => d
            .receive_name_owner_changed_with_args(&[(0, names::NODES_NAME)])
            .await
            .ok(),
        Err(_) => None,
    };
    let (Some(mut changes), Some(mut owners)) = (changes, owners) else {
        warn!("cannot follow mqttd's broker connection");
        return;
    };
    // `reported` is what the owners were told; `seen` the latest reading, which becomes a
    // trouble only once it has held for GRACE.
    let mut reported: Option<String> = None;
    let mut seen = read(&conn).await;
    let mut due = seen.as_ref().map(|_| crate::clock::instant_in(GRACE));
    loop {
        let now = tokio::select! {
            c = changes.next() => match c {
                Some(_) => read(&conn).await,
                None => return,
            },
            o = owners.next() => match o {
                Some(o) if o.args().map(|a| a.new_owner.is_some()).unwrap_or(false) => read(&conn).await,
                Some(_) => None,
                None => return,
            },
            () = sleep_until(due) => {
                due = None;
                let now = read(&conn).await;
                if now.is_some() && now != reported {
                    if let Some(t) = &now {
                        warn!(trouble = %t, grace_s = GRACE.as_secs(), "MQTT");
                    }
                    report(&inbox, now.clone()).await;
                    reported = now.clone();
                }
                seen = now;
                continue;
            }
        };
        match (&now, &seen) {
            (Some(_), None) => due = Some(crate::clock::instant_in(GRACE)),
            (None, _) => due = None,
            _ => {}
        }
        if now.is_none() && reported.is_some() {
            info!("the MQTT broker is reachable again (or mqttd stopped)");
            report(&inbox, None).await;
            reported = None;
        } else if now.is_some() && reported.is_some() && now != reported {
            // Still unreachable, but named differently (another broker URL): say so.
            report(&inbox, now.clone()).await;
            reported = now.clone();
        }
        seen = now;
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
