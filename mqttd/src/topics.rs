//! The topics of one Pi (DESIGN §10): everything under `secura/<node>/`, and the Home
//! Assistant discovery topics under `discovery_prefix`.

/// The topics of the Pi named `node`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// `node_name` (or the host name).
    pub node: String,
    /// `discovery_prefix`.
    pub prefix: String,
}

impl Topics {
    /// Topics of `node` with discovery under `prefix`.
    pub fn new(node: &str, prefix: &str) -> Topics {
        Topics {
            node: node.to_string(),
            prefix: prefix.to_string(),
        }
    }

    fn own(&self, rest: &str) -> String {
        format!("secura/{}/{rest}", self.node)
    }

    /// `online` / `offline`, retained; the last will.
    pub fn status(&self) -> String {
        self.own("status")
    }
    /// The alarm panel's state (`disarmed`, `armed_away`, …), retained.
    pub fn alarm_state(&self) -> String {
        self.own("alarm/state")
    }
    /// The alarm panel's attributes (`reason`, `changed_by`, `troubles`), retained.
    pub fn alarm_attributes(&self) -> String {
        self.own("alarm/attributes")
    }
    /// Home Assistant's `ARM_AWAY` / `DISARM`.
    pub fn alarm_set(&self) -> String {
        self.own("alarm/set")
    }
    /// Presence auto-arm `ON` (enabled) / `OFF` (disabled), retained.
    pub fn autoarm_state(&self) -> String {
        self.own("autoarm/state")
    }
    /// Home Assistant's `ON` / `OFF` for the auto-arm switch.
    pub fn autoarm_set(&self) -> String {
        self.own("autoarm/set")
    }
    /// The PIR: `ON` / `OFF`, retained.
    pub fn motion_state(&self) -> String {
        self.own("motion/state")
    }
    /// The "Last alert" image: raw JPEG bytes, retained.
    pub fn image(&self) -> String {
        self.own("image")
    }
    /// The "Take photo" button.
    pub fn photo_press(&self) -> String {
        self.own("photo/press")
    }
    /// `{"count", "text", "troubles"}`, retained.
    pub fn troubles(&self) -> String {
        self.own("troubles")
    }
    /// A phone's `home` / `not_home`, retained.
    pub fn phone_state(&self, mac: &str) -> String {
        self.own(&format!("phone/{}/state", phone_id(mac)))
    }
    /// Node → hub: `{"at": µs}` on each debounced rising edge of the node's PIR.
    pub fn node_motion(&self) -> String {
        self.own("motion")
    }
    /// Node → hub: `{"mac", "source", "at"}` from the node's sniffer.
    pub fn node_sighting(&self) -> String {
        self.own("sighting")
    }
    /// Node → hub: the node's sensor and camera health, retained.
    pub fn node_health(&self) -> String {
        self.own("health")
    }
    /// Hub → node: `{"event", "reply", "snapshot"}`.
    pub fn capture_request(&self) -> String {
        self.own("capture/request")
    }
    /// Node → hub: photo `n` (from 0) of capture `id`, the raw JPEG bytes.
    pub fn capture_photo(&self, id: u64, n: usize) -> String {
        self.own(&format!("capture/{id}/{n}"))
    }
    /// Node → hub: capture `id` is complete: `{"count", "error", "at"}`.
    pub fn capture_done(&self, id: u64) -> String {
        self.own(&format!("capture/{id}/done"))
    }
    /// Every capture answer of this node (the hub subscribes to it).
    pub fn capture_filter(&self) -> String {
        self.own("capture/+/+")
    }
    /// What Home Assistant publishes when it (re)starts.
    pub fn homeassistant_status(&self) -> String {
        format!("{}/status", self.prefix)
    }
    /// `<prefix>/<component>/<node>/<object>/config`.
    pub fn discovery(&self, component: &str, object: &str) -> String {
        format!("{}/{component}/{}/{object}/config", self.prefix, self.node)
    }
    /// Every discovery topic of this Pi (for finding ones no longer wanted).
    pub fn discovery_filter(&self) -> String {
        format!("{}/+/{}/+/config", self.prefix, self.node)
    }
}

/// A phone's id in topics and unique ids: its MAC in lower-case hex without separators.
pub fn phone_id(mac: &str) -> String {
    mac.chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_live_under_the_node_and_the_discovery_prefix() {
        let t = Topics::new("hall", "homeassistant");
        assert_eq!(t.status(), "secura/hall/status");
        assert_eq!(
            t.discovery("alarm_control_panel", "alarm"),
            "homeassistant/alarm_control_panel/hall/alarm/config"
        );
        assert_eq!(
            t.phone_state("A4:5E:60:00:00:01"),
            "secura/hall/phone/a45e60000001/state"
        );
        assert_eq!(t.homeassistant_status(), "homeassistant/status");
    }

    #[test]
    fn node_topics_follow_the_design() {
        let t = Topics::new("garage", "homeassistant");
        assert_eq!(t.node_motion(), "secura/garage/motion");
        assert_eq!(t.node_sighting(), "secura/garage/sighting");
        assert_eq!(t.node_health(), "secura/garage/health");
        assert_eq!(t.capture_request(), "secura/garage/capture/request");
        assert_eq!(t.capture_photo(7, 0), "secura/garage/capture/7/0");
        assert_eq!(t.capture_done(7), "secura/garage/capture/7/done");
        assert_eq!(t.capture_filter(), "secura/garage/capture/+/+");
    }
}
