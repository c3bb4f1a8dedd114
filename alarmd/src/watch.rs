//! What alarmd listens to: `Sensor1.Motion` and `Presence1.Sighting` through proxy signal
//! streams (which follow the current owner of the name, so nobody else's signal counts), the
//! comings and goings of the other daemons, and the health their properties report.

use crate::core::Input;
use crate::machine::Event;
use futures_util::StreamExt;
use secura_bus::names;
use secura_bus::proxies::{Camera1Proxy, Presence1Proxy, Sensor1Proxy};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use zbus::fdo::DBusProxy;
use zbus::names::BusName;

/// The daemons alarmd depends on: (bus name, trouble key, what to call it).
pub const PEERS: [(&str, &str); 4] = [
    (names::PRESENCE_NAME, "sniffer"),
    (names::SENSOR_NAME, "sensord"),
    (names::CAMERA_NAME, "camd"),
    (names::BOT_NAME, "botd"),
];

fn event(tx: &mpsc::Sender<Input>, e: Event) {
    if tx.try_send(Input::Event(e)).is_err() {
        warn!("the core's queue is full; an event was dropped");
    }
}

/// Forward motion from sensord.
pub async fn motion(sensor: Sensor1Proxy<'static>, tx: mpsc::Sender<Input>) {
    let mut stream = match sensor.receive_motion().await {
        Ok(s) => s,
        Err(e) => {
            let _ = tx
                .send(Input::Fatal(format!("cannot listen for motion: {e}")))
                .await;
            return;
        }
    };
    while let Some(sig) = stream.next().await {
        let at = sig.args().map(|a| a.at).unwrap_or(0);
        info!(at, "motion");
        event(&tx, Event::Motion);
    }
    let _ = tx
        .send(Input::Fatal("the motion signal stream ended".into()))
        .await;
}

/// Forward sightings from the sniffer.
pub async fn sightings(presence: Presence1Proxy<'static>, tx: mpsc::Sender<Input>) {
    let mut stream = match presence.receive_sighting().await {
        Ok(s) => s,
        Err(e) => {
            let _ = tx
                .send(Input::Fatal(format!("cannot listen for sightings: {e}")))
                .await;
            return;
        }
    };
    while let Some(sig) = stream.next().await {
        match sig.args() {
            Ok(a) => {
                debug!(mac = a.mac, source = a.source, "sighting");
                event(
                    &tx,
                    Event::Sighting {
                        mac: a.mac.to_string(),
                        source: a.source.to_string(),
                    },
                );
            }
            Err(e) => warn!(error = %e, "malformed Sighting signal ignored"),
        }
    }
    let _ = tx
        .send(Input::Fatal("the sighting signal stream ended".into()))
        .await;
}

/// Raise a trouble while `name` has no owner (after `grace` at start-up), clear it when it
/// returns; for camd and sensord also follow their `Healthy`/`Fault`.
pub async fn supervise(
    conn: zbus::Connection,
    name: &'static str,
    key: &'static str,
    grace: Duration,
    tx: mpsc::Sender<Input>,
) {
    let Ok(dbus) = DBusProxy::new(&conn).await else {
        let _ = tx
            .send(Input::Fatal("cannot talk to the bus daemon".into()))
            .await;
        return;
    };
    let Ok(bus_name) = BusName::try_from(name) else {
        return;
    };
    let mut changes = match dbus
        .receive_name_owner_changed_with_args(&[(0, name)])
        .await
    {
        Ok(s) => s,
        Err(e) => {
            let _ = tx
                .send(Input::Fatal(format!("cannot follow {name}: {e}")))
                .await;
            return;
        }
    };
    let missing = format!("{key} is not running");
    let present = dbus.name_has_owner(bus_name.clone()).await.unwrap_or(false);
    if present {
        health(&conn, key, &tx).await;
    } else {
        // At boot the daemons start together: give them a moment before complaining.
        let sleep = tokio::time::sleep(grace);
        tokio::pin!(sleep);
        let mut appeared = false;
        loop {
            tokio::select! {
                () = &mut sleep => break,
                c = changes.next() => match c {
                    Some(c) => {
                        if c.args().map(|a| a.new_owner.is_some()).unwrap_or(false) {
                            appeared = true;
                            break;
                        }
                    }
                    None => return,
                },
            }
        }
        if appeared {
            health(&conn, key, &tx).await;
        } else if !dbus.name_has_owner(bus_name).await.unwrap_or(false) {
            event(
                &tx,
                Event::Trouble {
                    key: key.into(),
                    text: Some(missing.clone()),
                },
            );
        } else {
            health(&conn, key, &tx).await;
        }
    }
    while let Some(c) = changes.next().await {
        let Ok(args) = c.args() else { continue };
        if args.new_owner.is_some() {
            info!(daemon = key, "back on the bus");
            event(
                &tx,
                Event::Trouble {
                    key: key.into(),
                    text: None,
                },
            );
            health(&conn, key, &tx).await;
        } else {
            warn!(daemon = key, "left the bus");
            event(
                &tx,
                Event::Trouble {
                    key: key.into(),
                    text: Some(missing.clone()),
                },
            );
        }
    }
    let _ = tx.send(Input::Fatal(format!("lost track of {name}"))).await;
}

/// Read the `Healthy`/`Fault` of camd or sensord into a trouble (`camera`/`sensor`).
async fn health(conn: &zbus::Connection, key: &str, tx: &mpsc::Sender<Input>) {
    let (healthy, fault, trouble) = match key {
        "camd" => {
            let Ok(p) = uncached_camera(conn).await else {
                return;
            };
            (p.healthy().await, p.fault().await, "camera")
        }
        "sensord" => {
            let Ok(p) = uncached_sensor(conn).await else {
                return;
            };
            (p.healthy().await, p.fault().await, "sensor")
        }
        _ => return,
    };
    let text = match (healthy, fault) {
        (Ok(true), _) => None,
        (Ok(false), Ok(f)) => Some(format!("{trouble}: {f}")),
        (Ok(false), Err(_)) => Some(format!("{trouble}: not healthy")),
        (Err(e), _) => {
            debug!(error = %e, "cannot read health");
            return;
        }
    };
    event(
        tx,
        Event::Trouble {
            key: trouble.into(),
            text,
        },
    );
}

async fn uncached_camera(conn: &zbus::Connection) -> zbus::Result<Camera1Proxy<'static>> {
    Camera1Proxy::builder(conn)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
}

async fn uncached_sensor(conn: &zbus::Connection) -> zbus::Result<Sensor1Proxy<'static>> {
    Sensor1Proxy::builder(conn)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
}

/// Follow `Healthy`/`Fault` changes of camd (`camera`) or sensord (`sensor`).
pub async fn health_changes(conn: zbus::Connection, key: &'static str, tx: mpsc::Sender<Input>) {
    let (name, path) = if key == "camd" {
        (names::CAMERA_NAME, names::CAMERA_PATH)
    } else {
        (names::SENSOR_NAME, names::SENSOR_PATH)
    };
    let built = zbus::fdo::PropertiesProxy::builder(&conn)
        .destination(name)
        .path(path)
        .build()
        .await;
    let stream = match built {
        Ok(p) => p.receive_properties_changed().await,
        Err(e) => Err(e),
    };
    let mut stream = match stream {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, daemon = key, "cannot follow health changes");
            return;
        }
    };
    while let Some(sig) = stream.next().await {
        let relevant = sig
            .args()
            .map(|a| {
                a.changed_properties().contains_key("Healthy")
                    || a.changed_properties().contains_key("Fault")
            })
            .unwrap_or(false);
        if relevant {
            health(&conn, key, &tx).await;
        }
    }
}
