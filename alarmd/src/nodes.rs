//! The other Pis of the home, as mqttd's `Nodes1` shows them (DESIGN §10): a node's motion is
//! motion, a node's sighting is a sighting (still ARP-confirmed by the hub's own prober before
//! it disarms), and a node that is offline or whose sensor or camera is not working is a
//! trouble of its own ("node garage is offline"). Without mqttd there are no nodes: a hub
//! without `[mqtt]` runs as a single Pi.
//!
//! The signal streams are drained in one loop that awaits nothing but them and short,
//! time-limited reads, so a burst of node reports cannot fill zbus's queue.

use crate::inbox::Inbox;
use crate::machine::{Event, NodeName, TroubleKey};
use futures_util::StreamExt;
use secura_bus::config::MacAddr;
use secura_bus::names;
use secura_bus::proxies::Nodes1Proxy;
use std::collections::BTreeMap;
use std::time::Duration;
use tracing::{info, warn};

/// How long reading mqttd's properties may take.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What is wrong with each known node (`None` = nothing).
type Status = BTreeMap<String, Option<String>>;

/// Read `Nodes` and `Faults` into each node's trouble text.
async fn read(nodes: &Nodes1Proxy<'static>) -> Option<Status> {
    let list = tokio::time::timeout(READ_TIMEOUT, nodes.nodes())
        .await
        .ok()?
        .ok()?;
    let faults = tokio::time::timeout(READ_TIMEOUT, nodes.faults())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    Some(status(&list, &faults))
}

/// Each node's trouble from `Nodes` and `Faults`.
fn status(list: &[(String, bool, bool, bool, u64)], faults: &[(String, String)]) -> Status {
    list.iter()
        .map(|(name, online, ..)| {
            let text = if *online {
                let wrong: Vec<&str> = faults
                    .iter()
                    .filter(|(n, _)| n == name)
                    .map(|(_, f)| f.as_str())
                    .collect();
                (!wrong.is_empty()).then(|| format!("node {name}: {}", wrong.join("; ")))
            } else {
                Some(format!("node {name} is offline"))
            };
            (name.clone(), text)
        })
        .collect()
}

/// Tell the core what changed between `before` and `now`.
async fn report(inbox: &Inbox, before: &Status, now: &Status) -> bool {
    for (name, text) in now {
        if before.get(name) != Some(text) {
            let Some(key) = NodeName::parse(name) else {
                warn!(node = %name, "a node name alarmd cannot keep a trouble for");
                continue;
            };
            let e = Event::Trouble {
                key: TroubleKey::Node(key),
                text: text.clone(),
            };
            if !inbox.event(e).await {
                return false;
            }
        }
    }
    // A node no longer accepted by the hub: its trouble, if any, is over.
    for name in before.keys().filter(|n| !now.contains_key(*n)) {
        if let Some(key) = NodeName::parse(name) {
            let e = Event::Trouble {
                key: TroubleKey::Node(key),
                text: None,
            };
            if !inbox.event(e).await {
                return false;
            }
        }
    }
    true
}

/// Follow mqttd's `Nodes1` for as long as alarmd runs.
pub async fn follow(conn: zbus::Connection, inbox: Inbox) {
    let streams = async {
        let nodes = Nodes1Proxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await?;
        let props = zbus::fdo::PropertiesProxy::builder(&conn)
            .destination(names::NODES_NAME)
            .path(names::NODES_PATH)
            .build()
            .await?;
        let dbus = zbus::fdo::DBusProxy::new(&conn).await?;
        zbus::Result::Ok((
            nodes.receive_motion().await?,
            nodes.receive_sighting().await?,
            props.receive_properties_changed().await?,
            dbus.receive_name_owner_changed_with_args(&[(0, names::NODES_NAME)])
                .await?,
            nodes,
        ))
    };
    let (mut motion, mut sightings, mut changes, mut owners, nodes) = match streams.await {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot follow the other Pis (Nodes1)");
            return;
        }
    };
    let mut known = Status::new();
    if let Some(now) = read(&nodes).await {
        if !report(&inbox, &known, &now).await {
            return;
        }
        known = now;
    }
    loop {
        let now = tokio::select! {
            Some(m) = motion.next() => {
                if let Ok(a) = m.args() {
                    info!(node = a.node, at = a.at, "motion at a node");
                    if !inbox.event(Event::Motion).await {
                        return;
                    }
                }
                continue;
            }
            Some(s) = sightings.next() => {
                if let Ok(a) = s.args() {
                    match MacAddr::parse(a.mac) {
                        Some(mac) => inbox.offer(Event::Sighting {
                            mac,
                            source: a.source.to_string(),
                        }),
                        None => warn!(mac = a.mac, "a node's sighting of a malformed MAC ignored"),
                    }
                }
                continue;
            }
            Some(_) = changes.next() => read(&nodes).await,
            Some(o) = owners.next() => {
                let back = o.args().map(|a| a.new_owner.is_some()).unwrap_or(false);
                if back {
                    read(&nodes).await
                } else {
                    // mqttd stopped: the nodes can no longer reach this alarm.
                    Some(
                        known
                            .keys()
                            .map(|n| (n.clone(), Some(format!("node {n} cannot be reached (secura-mqttd is not running)"))))
                            .collect(),
                    )
                }
            }
            else => return,
        };
        let Some(now) = now else { continue };
        if !report(&inbox, &known, &now).await {
            return;
        }
        known = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_and_faulty_nodes_are_troubles_in_words() {
        let list = vec![
            ("garage".to_string(), false, true, true, 0),
            ("front".to_string(), true, true, true, 5),
            ("back".to_string(), true, true, true, 5),
        ];
        let faults = vec![
            (
                "front".to_string(),
                "camera: /dev/video0 vanished".to_string(),
            ),
            ("front".to_string(), "sensor: not working".to_string()),
        ];
        let s = status(&list, &faults);
        assert_eq!(s["garage"].as_deref(), Some("node garage is offline"));
        assert_eq!(
            s["front"].as_deref(),
            Some("node front: camera: /dev/video0 vanished; sensor: not working")
        );
        assert_eq!(s["back"], None);
    }
}
