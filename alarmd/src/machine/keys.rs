//! Small closed sets the machine names things by: history kinds and trouble sources.

use secura_bus::config::MacAddr;
use secura_bus::names::Service;
use std::fmt;

/// The kind of an event-history row (the `s kind` of `History()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An owner's command (and snapshots).
    Command,
    /// A transition of `State`.
    State,
    /// Presence evidence that changed nothing.
    Presence,
    /// Motion while armed.
    Motion,
    /// An alert sent or withheld.
    Alert,
    /// A trouble raised or resolved.
    Trouble,
}

impl Kind {
    /// The spelling in the history.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Command => "command",
            Kind::State => "state",
            Kind::Presence => "presence",
            Kind::Motion => "motion",
            Kind::Alert => "alert",
            Kind::Trouble => "trouble",
        }
    }
}

/// Where a trouble comes from; one open trouble per key.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(into = "String", try_from = "String")]
pub enum TroubleKey {
    /// A daemon alarmd depends on is not on the bus.
    Missing(Service),
    /// camd reports a fault.
    Camera,
    /// sensord reports a fault.
    Sensor,
    /// The sniffer cannot probe.
    PresenceProbe,
    /// The state file could not be read at start.
    StateFile,
    /// The state could not be saved (a full or failing disk); over at the next save.
    StateUnsaved,
    /// The event history could not be opened or written.
    History,
    /// botd refused a message for good.
    Delivery,
    /// mqttd cannot reach the MQTT broker.
    Mqtt,
    /// A device is heard on the radio or LAN but never answers ARP.
    Unanswered(MacAddr),
    /// Another Pi of the home (a node) is offline or its sensor or camera is not working.
    Node(NodeName),
}

/// A node's name (`[mqtt] node_name`: 1–64 of `A-Z a-z 0-9 _ -`), held inline so trouble keys
/// stay `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeName {
    len: u8,
    bytes: [u8; 64],
}

impl NodeName {
    /// `name` if it is a valid node name.
    pub fn parse(name: &str) -> Option<NodeName> {
        if !secura_bus::config::valid_node_name(name) {
            return None;
        }
        let mut bytes = [0u8; 64];
        bytes
            .get_mut(..name.len())?
            .copy_from_slice(name.as_bytes());
        Some(NodeName {
            len: u8::try_from(name.len()).ok()?,
            bytes,
        })
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        let b = self.bytes.get(..usize::from(self.len)).unwrap_or_default();
        std::str::from_utf8(b).unwrap_or_default()
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for TroubleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TroubleKey::Missing(s) => f.write_str(s.short()),
            TroubleKey::Camera => f.write_str("camera"),
            TroubleKey::Sensor => f.write_str("sensor"),
            TroubleKey::PresenceProbe => f.write_str("presence-probe"),
            TroubleKey::StateFile => f.write_str("state-file"),
            TroubleKey::StateUnsaved => f.write_str("state-unsaved"),
            TroubleKey::History => f.write_str("history"),
            TroubleKey::Delivery => f.write_str("delivery"),
            TroubleKey::Mqtt => f.write_str("mqtt"),
            TroubleKey::Unanswered(mac) => write!(f, "unanswered:{mac}"),
            TroubleKey::Node(n) => write!(f, "node:{n}"),
        }
    }
}

impl From<TroubleKey> for String {
    fn from(k: TroubleKey) -> String {
        k.to_string()
    }
}

impl TryFrom<String> for TroubleKey {
    type Error = String;

    fn try_from(s: String) -> Result<TroubleKey, String> {
        let key = match s.as_str() {
            "camera" => TroubleKey::Camera,
            "sensor" => TroubleKey::Sensor,
            "presence-probe" => TroubleKey::PresenceProbe,
            "state-file" => TroubleKey::StateFile,
            "state-unsaved" => TroubleKey::StateUnsaved,
            "history" => TroubleKey::History,
            "delivery" => TroubleKey::Delivery,
            "mqtt" => TroubleKey::Mqtt,
            other if other.starts_with("node:") => TroubleKey::Node(
                NodeName::parse(other.trim_start_matches("node:"))
                    .ok_or_else(|| format!("bad trouble key {s:?}"))?,
            ),
            other => match other.strip_prefix("unanswered:") {
                Some(mac) => TroubleKey::Unanswered(
                    MacAddr::parse(mac).ok_or_else(|| format!("bad trouble key {s:?}"))?,
                ),
                None => TroubleKey::Missing(
                    Service::from_short(other).ok_or_else(|| format!("unknown trouble {s:?}"))?,
                ),
            },
        };
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trouble_keys_round_trip_through_their_spelling() {
        let mut keys = vec![
            TroubleKey::Camera,
            TroubleKey::Sensor,
            TroubleKey::PresenceProbe,
            TroubleKey::StateFile,
            TroubleKey::StateUnsaved,
            TroubleKey::History,
            TroubleKey::Delivery,
            TroubleKey::Mqtt,
            TroubleKey::Unanswered(MacAddr([0xa4, 0, 0, 0, 0, 1])),
            TroubleKey::Node(NodeName::parse("garage").unwrap()),
        ];
        keys.extend(Service::ALL.map(TroubleKey::Missing));
        for k in keys {
            assert_eq!(TroubleKey::try_from(k.to_string()), Ok(k));
        }
        // The spellings of state files written before the keys were typed.
        assert_eq!(
            TroubleKey::try_from("camd".to_string()),
            Ok(TroubleKey::Missing(Service::Camera))
        );
    }
}
