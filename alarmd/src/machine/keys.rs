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
