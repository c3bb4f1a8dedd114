//! `org.securapicam.Nodes1` (DESIGN §3): the link's state for alarmd and operators —
//! `Connected` (alarmd turns `false` into the trouble "the MQTT broker is unreachable"),
//! `Broker`, and `Nodes`. The node half (signals from other Pis, captures over MQTT) comes
//! with role `node`; the hub serves the interface from the start so alarmd can rely on it.

use std::sync::{Arc, RwLock};
use zbus::interface;
use zbus::object_server::SignalEmitter;

/// What the properties show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkView {
    /// Connected to the broker.
    pub connected: bool,
    /// The broker as shown to people.
    pub broker: String,
    /// (name, online, has sensor, has camera, last seen) of each accepted node.
    pub nodes: Vec<(String, bool, bool, bool, u64)>,
}

/// The served object.
#[derive(Debug, Clone)]
pub struct NodesService {
    pub(crate) view: Arc<RwLock<LinkView>>,
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
        self.read().nodes
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
