//! The MQTT broker as a trouble: mqttd's `Nodes1.Connected` false → "the MQTT broker is
//! unreachable (<broker>)", cleared when it reconnects or mqttd leaves the bus (no mqttd, no
//! MQTT: `[mqtt]` is optional, so its absence is never a trouble).

use crate::inbox::Inbox;
use crate::machine::{Event, TroubleKey};
use futures_util::StreamExt;
use secura_bus::names;
use secura_bus::proxies::Nodes1Proxy;
use tracing::{info, warn};

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
    let mut last = read(&conn).await;
    if last.is_some() {
        report(&inbox, last.clone()).await;
    }
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
        };
        if now != last {
            match &now {
                Some(t) => warn!(trouble = %t, "MQTT"),
                None => info!("the MQTT broker is reachable again (or mqttd stopped)"),
            }
            report(&inbox, now.clone()).await;
            last = now;
        }
    }
}
