//! The payloads between a node and the hub (DESIGN §10), as JSON. Everything from the broker is
//! untrusted: a payload that is too big or does not parse is dropped (and counted by the
//! caller), never acted on.

use serde::{Deserialize, Serialize};

/// The largest JSON payload accepted on the node topics (photos are raw bytes, not JSON).
pub const MAX_JSON: usize = 4096;

/// `motion`: a debounced rising edge of the node's PIR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Motion {
    /// When, in µs since the epoch (the node's clock).
    pub at: u64,
}

/// `sighting`: one of the owners' phones heard by the node's sniffer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sighting {
    /// The phone's MAC (`aa:bb:cc:dd:ee:ff`).
    pub mac: String,
    /// Where it was heard, named by the node (`garage/lan:wlan0`).
    pub source: String,
    /// When, in µs since the epoch.
    pub at: u64,
}

/// One part's health: healthy, or the fault in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartHealth {
    /// Working.
    pub healthy: bool,
    /// What is wrong ("" when healthy).
    #[serde(default)]
    pub fault: String,
}

/// `health` (retained): the node's sensor and camera; `None` = that daemon is not running on
/// the node (not installed there, or stopped).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// sensord.
    pub sensor: Option<PartHealth>,
    /// camd.
    pub camera: Option<PartHealth>,
}

/// `capture/request`: take the photos of alarm event `event` (or, with `snapshot`, one photo
/// now; `event` is then the hub's own request number) and answer on `capture/<event>/…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureRequest {
    /// The alarm event id (or the snapshot's request number).
    pub event: u64,
    /// The hub's node name (for the node's log).
    pub reply: String,
    /// One photo now instead of the event's burst.
    #[serde(default)]
    pub snapshot: bool,
}

/// `capture/<id>/done`: how many photos were published before it, or why there are none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureDone {
    /// Photos published on `capture/<id>/0 … count-1`.
    pub count: usize,
    /// Why the capture failed ("" when it did not).
    #[serde(default)]
    pub error: String,
    /// When each photo was taken (µs since the epoch), in order.
    #[serde(default)]
    pub at: Vec<u64>,
}

/// Parse a JSON payload of the node topics, refusing oversized ones.
pub fn parse<T: for<'de> Deserialize<'de>>(payload: &[u8]) -> Option<T> {
    if payload.len() > MAX_JSON {
        return None;
    }
    serde_json::from_slice(payload).ok()
}

/// The JSON bytes of `v`.
pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail; an empty payload would be dropped anyway.
    serde_json::to_vec(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_bad_ones_are_refused() {
        let m = Motion { at: 42 };
        assert_eq!(parse::<Motion>(&encode(&m)), Some(m));
        let h = Health {
            sensor: Some(PartHealth {
                healthy: false,
                fault: "no edge for a day".into(),
            }),
            camera: None,
        };
        assert_eq!(parse::<Health>(&encode(&h)), Some(h));
        let r: CaptureRequest = parse(br#"{"event": 7, "reply": "hall"}"#).unwrap();
        assert!(!r.snapshot);
        assert_eq!(parse::<Motion>(b"{\"at\": -1}"), None);
        assert_eq!(parse::<Motion>(b"{\"at\": 1, \"x\": 2}"), None);
        assert_eq!(parse::<Motion>(b"not json"), None);
        let big = format!("{{\"at\": 1{}}}", " ".repeat(MAX_JSON));
        assert_eq!(parse::<Motion>(big.as_bytes()), None);
    }
}
