//! `org.securapicam.Nodes1` (DESIGN §3): the link's state for alarmd and operators —
//! `Connected` (alarmd turns `false` into the trouble "the MQTT broker is unreachable"),
//! `Broker`; on the hub also the other Pis: `Nodes` and `Faults`, their `Motion` and
//! `Sighting` signals, and `CaptureEvent`/`Snapshot`, which fetch a node's photos over MQTT
//! and hand them over as sealed memfds.

use crate::remote::{CaptureError, Remote};
use secura_bus::Error;
use std::sync::{Arc, RwLock};
use zbus::OwnedFd;
use zbus::interface;
use zbus::object_server::SignalEmitter;

/// What the properties show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkView {
    /// Connected to the broker.
    pub connected: bool,
    /// The broker as shown to people.
    pub broker: String,
}

/// The served object.
#[derive(Debug, Clone)]
pub struct NodesService {
    pub(crate) view: Arc<RwLock<LinkView>>,
    /// The other Pis (none on a node, or on a hub without `[mqtt] nodes`).
    pub(crate) remote: Arc<Remote>,
}

fn to_bus(e: CaptureError) -> Error {
    match e {
        CaptureError::Unknown(_) => Error::InvalidArgument(e.to_string()),
        _ => Error::NotAvailable(e.to_string()),
    }
}

fn memfd(name: &str, jpeg: &[u8], at: u64) -> Result<(OwnedFd, u64), Error> {
    let fd = secura_bus::fd::sealed_memfd(name, jpeg)
        .map_err(|e| Error::NotAvailable(format!("cannot create a memfd for the photo: {e}")))?;
    Ok((OwnedFd::from(fd), at))
}

impl NodesService {
    pub(crate) fn read(&self) -> LinkView {
        match self.view.read() {
            Ok(v) => v.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

#[interface(name = "org.securapicam.Nodes1")]
impl NodesService {
    /// Whether mqttd is connected to the broker now.
    #[zbus(property)]
    async fn connected(&self) -> bool {
        self.read().connected
    }

    /// The broker, as configured (`mqtts://host:8883`), without credentials.
    #[zbus(property)]
    async fn broker(&self) -> String {
        self.read().broker
    }

    /// The nodes the hub accepts: (name, online, has sensor, has camera, last seen).
    #[zbus(property)]
    async fn nodes(&self) -> Vec<(String, bool, bool, bool, u64)> {
        self.remote.view()
    }

    /// What is wrong with an online node's sensor or camera: (node, "camera: …").
    #[zbus(property)]
    async fn faults(&self) -> Vec<(String, String)> {
        self.remote.faults()
    }

    /// The photos of alarm event `event_id` from `node`'s camera, each a sealed memfd with its
    /// capture time (µs since the epoch), oldest first. `NotAvailable` when the node is
    /// offline, the broker unreachable or the node does not answer within 20 s.
    #[zbus(out_args("photos"))]
    async fn capture_event(&self, node: &str, event_id: u64) -> Result<Vec<(OwnedFd, u64)>, Error> {
        let photos = self
            .remote
            .capture(node, Some(event_id))
            .await
            .map_err(to_bus)?;
        tracing::info!(
            node,
            event_id,
            photos = photos.len(),
            "a node's event photos"
        );
        photos
            .iter()
            .enumerate()
            .map(|(i, (jpeg, at))| memfd(&format!("secura-{node}-event-{event_id}-{i}"), jpeg, *at))
            .collect()
    }

    /// One photo from `node`'s camera now (a sealed memfd) and its capture time.
    #[zbus(out_args("photo", "at"))]
    async fn snapshot(&self, node: &str) -> Result<(OwnedFd, u64), Error> {
        let photos = self.remote.capture(node, None).await.map_err(to_bus)?;
        let (jpeg, at) = photos
            .first()
            .ok_or_else(|| Error::NotAvailable(format!("node {node} sent no photo")))?;
        memfd(&format!("secura-{node}-snapshot"), jpeg, *at)
    }

    /// Motion reported by a node.
    #[zbus(signal)]
    pub(crate) async fn motion(
        emitter: &SignalEmitter<'_>,
        node: &str,
        at: u64,
    ) -> zbus::Result<()>;

    /// A sighting reported by a node's sniffer (`source` names the node).
    #[zbus(signal)]
    pub(crate) async fn sighting(
        emitter: &SignalEmitter<'_>,
        mac: &str,
        source: &str,
        at: u64,
    ) -> zbus::Result<()>;
}

/// Note the broker link going up or down in `view` and tell the bus (`Connected`).
pub async fn announce_connected(conn: &zbus::Connection, view: &RwLock<LinkView>, up: bool) {
    match view.write() {
        Ok(mut v) => v.connected = up,
        Err(p) => p.into_inner().connected = up,
    }
    if let Ok(iface) = conn
        .object_server()
        .interface::<_, NodesService>(secura_bus::names::NODES_PATH)
        .await
    {
        let s = iface.get().await;
        if let Err(e) = s.connected_changed(iface.signal_emitter()).await {
            tracing::warn!(error = %e, "cannot emit PropertiesChanged for Connected");
        }
    }
}
