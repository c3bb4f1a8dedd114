//! The hub's view of the other Pis (DESIGN §10): what each accepted node said last (online,
//! sensor and camera health, when it was last heard from), its motion and sightings as they
//! arrive, and the captures the hub asked it for. Only the nodes in `[mqtt] nodes` are
//! subscribed to; anything else under `secura/` never reaches the hub.

use crate::topics::Topics;
use crate::wire::{self, CaptureDone, CaptureRequest, Health};
use rumqttc::{AsyncClient, QoS};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;
use tokio::sync::oneshot;
use tracing::{info, warn};

/// How long a node may take to answer a capture request with all its photos (its burst takes
/// a few seconds; the photos then cross the broker).
pub const CAPTURE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a node may take for one photo now.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most photos one capture may carry (a burst is a handful).
const MAX_PHOTOS: usize = 64;

/// One accepted node as last heard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeState {
    /// Its `status` is `online`.
    pub online: bool,
    /// Its last `health`.
    pub health: Health,
    /// When the hub last heard from it (µs since the epoch; 0 = never).
    pub last_seen: u64,
}

/// What a message from a node means for the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A node's PIR fired: emit `Nodes1.Motion`.
    Motion {
        /// The node.
        node: String,
        /// When (the node's clock).
        at: u64,
    },
    /// A node's sniffer heard a phone: emit `Nodes1.Sighting`.
    Sighting {
        /// The phone.
        mac: String,
        /// `<node>/<its source>`.
        source: String,
        /// When.
        at: u64,
    },
    /// A node's status or health changed: the `Nodes` and `Faults` properties.
    Changed,
    /// Part of a capture arrived; nothing to announce.
    Quiet,
    /// Not understood, too big, or retained where it must not be: counted and dropped.
    Dropped(&'static str),
}

type Photos = Vec<(Vec<u8>, u64)>;

#[derive(Debug)]
struct Pending {
    photos: BTreeMap<usize, Vec<u8>>,
    done: Option<oneshot::Sender<Result<Photos, String>>>,
}

#[derive(Debug, Default)]
struct Inner {
    nodes: BTreeMap<String, NodeState>,
    pending: HashMap<(String, u64), Pending>,
}

/// The hub's nodes, shared by the bridge (messages in) and `Nodes1` (captures out).
#[derive(Debug)]
pub struct Remote {
    /// The hub's own name (sent as `reply`).
    own: String,
    prefix: String,
    inner: Mutex<Inner>,
    client: OnceLock<AsyncClient>,
    next_snapshot: AtomicU64,
}

/// Why a capture from a node failed, in words for alarmd's log and the owners.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// Not in `[mqtt] nodes`.
    #[error("{0} is not one of this hub's nodes ([mqtt] nodes)")]
    Unknown(String),
    /// Its last will said offline, or it never came online.
    #[error("node {0} is offline")]
    Offline(String),
    /// The broker is unreachable or mqttd not yet connected.
    #[error("the MQTT broker is unreachable")]
    NoBroker,
    /// It did not answer in time.
    #[error("node {0} did not send its photos within {1:?}")]
    Timeout(String, Duration),
    /// It answered with an error.
    #[error("node {node}: {why}")]
    Failed {
        /// The node.
        node: String,
        /// What it said.
        why: String,
    },
}

impl Remote {
    /// The hub `own`, accepting `nodes` (its own name and duplicates left out).
    pub fn new(own: &str, prefix: &str, nodes: &[String]) -> Remote {
        let nodes = nodes
            .iter()
            .filter(|n| n.as_str() != own)
            .map(|n| (n.clone(), NodeState::default()))
            .collect();
        Remote {
            own: own.to_string(),
            prefix: prefix.to_string(),
            inner: Mutex::new(Inner {
                nodes,
                pending: HashMap::new(),
            }),
            client: OnceLock::new(),
            // Snapshot request numbers start far above any alarm event id, so the two never
            // share a `capture/<id>/…` topic.
            next_snapshot: AtomicU64::new(1 << 48),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The MQTT client to publish requests with (set once the bridge has one).
    pub fn set_client(&self, client: AsyncClient) {
        let _ = self.client.set(client);
    }

    /// The accepted nodes' names.
    pub fn names(&self) -> Vec<String> {
        self.lock().nodes.keys().cloned().collect()
    }

    /// The topics to subscribe to, at QoS 1 (the broker keeps them for the hub while it is
    /// away: motion published meanwhile still arrives).
    pub fn subscriptions(&self) -> Vec<String> {
        self.names()
            .iter()
            .flat_map(|n| {
                let t = Topics::new(n, &self.prefix);
                [
                    t.status(),
                    t.node_motion(),
                    t.node_sighting(),
                    t.node_health(),
                    t.capture_filter(),
                ]
            })
            .collect()
    }

    /// `Nodes a(sbbbt)`: name, online, has a sensor, has a camera, last seen.
    pub fn view(&self) -> Vec<(String, bool, bool, bool, u64)> {
        self.lock()
            .nodes
            .iter()
            .map(|(n, s)| {
                (
                    n.clone(),
                    s.online,
                    s.health.sensor.is_some(),
                    s.health.camera.is_some(),
                    s.last_seen,
                )
            })
            .collect()
    }

    /// `Faults a(ss)`: (node, what is wrong) for every unhealthy sensor or camera of an
    /// online node.
    pub fn faults(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (n, s) in &self.lock().nodes {
            if !s.online {
                continue;
            }
            for (part, h) in [("sensor", &s.health.sensor), ("camera", &s.health.camera)] {
                if let Some(h) = h.as_ref().filter(|h| !h.healthy) {
                    let why = if h.fault.is_empty() {
                        "not working"
                    } else {
                        &h.fault
                    };
                    out.push((n.clone(), format!("{part}: {why}")));
                }
            }
        }
        out
    }

    /// Whether `topic` is one of an accepted node's (the bridge hands those here).
    pub fn owns(&self, topic: &str) -> bool {
        split(topic).is_some_and(|(node, _)| self.lock().nodes.contains_key(node))
    }

    /// Take in one message from a node.
    pub fn handle(&self, topic: &str, payload: &[u8], retain: bool, now: u64) -> Effect {
        let Some((node, rest)) = split(topic) else {
            return Effect::Dropped("unexpected topic");
        };
        let mut inner = self.lock();
        let Some(state) = inner.nodes.get_mut(node) else {
            return Effect::Dropped("not an accepted node");
        };
        match rest {
            "status" => {
                let online = match payload {
                    b"online" => true,
                    b"offline" => false,
                    _ => return Effect::Dropped("malformed status"),
                };
                let was = state.online;
                state.online = online;
                if online {
                    state.last_seen = now;
                }
                if was != online {
                    info!(node, online, "node status");
                }
                Effect::Changed
            }
            "health" => match wire::parse::<Health>(payload) {
                Some(h) => {
                    state.last_seen = now;
                    state.health = h;
                    Effect::Changed
                }
                None => Effect::Dropped("malformed health"),
            },
            // A retained motion or sighting would be replayed at every reconnect.
            "motion" | "sighting" if retain => Effect::Dropped("retained event"),
            "motion" => match wire::parse::<wire::Motion>(payload) {
                Some(m) => {
                    state.last_seen = now;
                    Effect::Motion {
                        node: node.to_string(),
                        at: m.at,
                    }
                }
                None => Effect::Dropped("malformed motion"),
            },
            "sighting" => match wire::parse::<wire::Sighting>(payload) {
                Some(s) if valid_mac(&s.mac) && s.source.len() <= 128 => {
                    state.last_seen = now;
                    // The source always names the node, whatever the node put there.
                    let own = format!("{node}/");
                    let source = if s.source.starts_with(&own) {
                        s.source
                    } else {
                        format!("{own}{}", s.source)
                    };
                    Effect::Sighting {
                        mac: s.mac.to_ascii_lowercase(),
                        source,
                        at: s.at,
                    }
                }
                _ => Effect::Dropped("malformed sighting"),
            },
            _ => {
                let Some(part) = rest.strip_prefix("capture/") else {
                    return Effect::Dropped("unexpected topic");
                };
                let node = node.to_string();
                capture_part(&mut inner, node, part, payload)
            }
        }
    }

    /// Ask `node` for the photos of alarm event `event` (or one photo now).
    pub async fn capture(
        &self,
        node: &str,
        event: Option<u64>,
    ) -> Result<Vec<(Vec<u8>, u64)>, CaptureError> {
        let (id, snapshot, timeout) = match event {
            Some(e) => (e, false, CAPTURE_TIMEOUT),
            None => (
                self.next_snapshot.fetch_add(1, Ordering::Relaxed),
                true,
                SNAPSHOT_TIMEOUT,
            ),
        };
        let rx = {
            let mut inner = self.lock();
            match inner.nodes.get(node) {
                None => return Err(CaptureError::Unknown(node.to_string())),
                Some(s) if !s.online => return Err(CaptureError::Offline(node.to_string())),
                Some(_) => {}
            }
            let (tx, rx) = oneshot::channel();
            inner.pending.insert(
                (node.to_string(), id),
                Pending {
                    photos: BTreeMap::new(),
                    done: Some(tx),
                },
            );
            rx
        };
        let result = self.request(node, id, snapshot, timeout, rx).await;
        self.lock().pending.remove(&(node.to_string(), id));
        result
    }

    async fn request(
        &self,
        node: &str,
        id: u64,
        snapshot: bool,
        timeout: Duration,
        rx: oneshot::Receiver<Result<Photos, String>>,
    ) -> Result<Photos, CaptureError> {
        let client = self.client.get().ok_or(CaptureError::NoBroker)?;
        let request = CaptureRequest {
            event: id,
            reply: self.own.clone(),
            snapshot,
        };
        let topic = Topics::new(node, &self.prefix).capture_request();
        client
            .publish(topic, QoS::AtLeastOnce, false, wire::encode(&request))
            .await
            .map_err(|_| CaptureError::NoBroker)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(photos))) => Ok(photos),
            Ok(Ok(Err(why))) => Err(CaptureError::Failed {
                node: node.to_string(),
                why,
            }),
            Ok(Err(_)) | Err(_) => {
                warn!(node, id, ?timeout, "no answer to a capture request");
                Err(CaptureError::Timeout(node.to_string(), timeout))
            }
        }
    }
}

/// A `capture/<id>/<n>` photo or `capture/<id>/done` of a capture the hub asked for.
fn capture_part(inner: &mut Inner, node: String, part: &str, payload: &[u8]) -> Effect {
    let Some((id, what)) = part.split_once('/') else {
        return Effect::Dropped("unexpected topic");
    };
    let Ok(id) = id.parse::<u64>() else {
        return Effect::Dropped("unexpected topic");
    };
    let Some(p) = inner.pending.get_mut(&(node, id)) else {
        // Late (after the timeout) or never asked for: nothing waits for it.
        return Effect::Dropped("unrequested capture");
    };
    if what == "done" {
        let Some(done) = wire::parse::<CaptureDone>(payload) else {
            return Effect::Dropped("malformed capture result");
        };
        let result = if !done.error.is_empty() {
            Err(done.error)
        } else if done.count != p.photos.len()
            || (0..done.count).any(|n| !p.photos.contains_key(&n))
        {
            Err(format!(
                "{} of {} photos arrived",
                p.photos.len(),
                done.count
            ))
        } else {
            let photos = std::mem::take(&mut p.photos);
            Ok(photos
                .into_values()
                .enumerate()
                .map(|(i, jpeg)| (jpeg, done.at.get(i).copied().unwrap_or_default()))
                .collect())
        };
        if let Some(tx) = p.done.take() {
            let _ = tx.send(result);
        }
        return Effect::Quiet;
    }
    match what.parse::<usize>() {
        Ok(n) if n < MAX_PHOTOS && !payload.is_empty() => {
            p.photos.insert(n, payload.to_vec());
            Effect::Quiet
        }
        _ => Effect::Dropped("malformed capture photo"),
    }
}

/// `secura/<node>/<rest>` → (node, rest).
fn split(topic: &str) -> Option<(&str, &str)> {
    topic.strip_prefix("secura/")?.split_once('/')
}

fn valid_mac(mac: &str) -> bool {
    mac.len() == 17
        && mac.split(':').count() == 6
        && mac
            .split(':')
            .all(|b| b.len() == 2 && b.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote() -> Remote {
        Remote::new("hall", "homeassistant", &["garage".into(), "hall".into()])
    }

    #[test]
    fn only_the_accepted_nodes_are_subscribed_to_and_owned() {
        let r = remote();
        assert_eq!(r.names(), vec!["garage".to_string()]);
        assert!(
            r.subscriptions()
                .contains(&"secura/garage/motion".to_string())
        );
        assert!(r.owns("secura/garage/motion"));
        assert!(!r.owns("secura/attic/motion"));
        assert!(!r.owns("secura/hall/motion"));
        assert_eq!(
            r.handle("secura/attic/motion", br#"{"at":1}"#, false, 5),
            Effect::Dropped("not an accepted node")
        );
    }

    #[test]
    fn motion_sightings_status_and_health_become_effects_and_view() {
        let r = remote();
        assert_eq!(
            r.handle("secura/garage/status", b"online", true, 10),
            Effect::Changed
        );
        assert_eq!(
            r.handle("secura/garage/motion", br#"{"at":7}"#, false, 11),
            Effect::Motion {
                node: "garage".into(),
                at: 7
            }
        );
        assert_eq!(
            r.handle("secura/garage/motion", br#"{"at":7}"#, true, 11),
            Effect::Dropped("retained event")
        );
        assert_eq!(
            r.handle(
                "secura/garage/sighting",
                br#"{"mac":"A4:5E:60:00:00:01","source":"lan:wlan0","at":9}"#,
                false,
                12
            ),
            Effect::Sighting {
                mac: "a4:5e:60:00:00:01".into(),
                source: "garage/lan:wlan0".into(),
                at: 9
            }
        );
        assert_eq!(
            r.handle(
                "secura/garage/sighting",
                br#"{"mac":"x","source":"s","at":9}"#,
                false,
                12
            ),
            Effect::Dropped("malformed sighting")
        );
        let h = br#"{"sensor":{"healthy":true,"fault":""},"camera":{"healthy":false,"fault":"/dev/video0 vanished"}}"#;
        assert_eq!(
            r.handle("secura/garage/health", h, true, 13),
            Effect::Changed
        );
        assert_eq!(r.view(), vec![("garage".into(), true, true, true, 13)]);
        assert_eq!(
            r.faults(),
            vec![("garage".into(), "camera: /dev/video0 vanished".into())]
        );
        assert_eq!(
            r.handle("secura/garage/status", b"offline", true, 20),
            Effect::Changed
        );
        assert_eq!(r.view(), vec![("garage".into(), false, true, true, 13)]);
        assert!(
            r.faults().is_empty(),
            "an offline node is one trouble, not three"
        );
        assert_eq!(
            r.handle("secura/garage/status", b"maybe", true, 20),
            Effect::Dropped("malformed status")
        );
    }

    #[test]
    fn a_capture_completes_with_its_photos_in_order_or_says_what_is_missing() {
        let mut inner = Inner::default();
        let (tx, mut rx) = oneshot::channel();
        inner.pending.insert(
            ("garage".into(), 7),
            Pending {
                photos: BTreeMap::new(),
                done: Some(tx),
            },
        );
        assert_eq!(
            capture_part(&mut inner, "garage".into(), "7/1", b"B"),
            Effect::Quiet
        );
        assert_eq!(
            capture_part(&mut inner, "garage".into(), "7/0", b"A"),
            Effect::Quiet
        );
        assert_eq!(
            capture_part(&mut inner, "garage".into(), "8/0", b"A"),
            Effect::Dropped("unrequested capture")
        );
        let done = br#"{"count":2,"error":"","at":[100,200]}"#;
        assert_eq!(
            capture_part(&mut inner, "garage".into(), "7/done", done),
            Effect::Quiet
        );
        assert_eq!(
            rx.try_recv().unwrap(),
            Ok(vec![(b"A".to_vec(), 100), (b"B".to_vec(), 200)])
        );

        let (tx, mut rx) = oneshot::channel();
        inner.pending.insert(
            ("garage".into(), 9),
            Pending {
                photos: BTreeMap::new(),
                done: Some(tx),
            },
        );
        assert_eq!(
            capture_part(&mut inner, "garage".into(), "9/0", b"A"),
            Effect::Quiet
        );
        let done = br#"{"count":3,"error":"","at":[]}"#;
        capture_part(&mut inner, "garage".into(), "9/done", done);
        assert_eq!(rx.try_recv().unwrap(), Err("1 of 3 photos arrived".into()));
    }
}
