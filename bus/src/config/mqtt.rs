//! `[mqtt]`: mqttd, the link to an MQTT broker (DESIGN §10). Absent = no MQTT at all.

use super::Validate;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What this Pi is in a home of several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// alarmd's Pi: mirrors the alarm to Home Assistant and consumes the nodes.
    #[default]
    Hub,
    /// A Pi with only sensord and/or camd, reporting to the hub.
    Node,
}

/// `[mqtt]`: mqttd.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// `hub` or `node`.
    pub role: Role,
    /// This Pi's name in topics (`secura/<node>/…`); empty = the host name.
    pub node_name: String,
    /// `mqtt://host[:port]` or `mqtts://host[:port]` (TLS).
    pub broker: String,
    /// Broker user name; empty = connect without credentials.
    pub username: String,
    /// Where the broker password is read from when systemd gives no credential.
    pub password_file: PathBuf,
    /// An extra CA certificate (PEM) trusted for `mqtts://`; empty = the system's roots.
    pub ca_file: PathBuf,
    /// Hub: the node names it accepts.
    pub nodes: Vec<String>,
    /// Hub: publish Home Assistant discovery.
    pub homeassistant: bool,
    /// Topic prefix of Home Assistant discovery.
    pub discovery_prefix: String,
    /// Hub: a file holding the code Home Assistant must send to arm or disarm; empty = none.
    pub code_file: PathBuf,
}

impl std::fmt::Debug for MqttConfig {
    // Written out so that adding a secret-bearing field later is a decision, not an accident.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttConfig")
            .field("role", &self.role)
            .field("node_name", &self.node_name)
            .field("broker", &self.broker)
            .field("username", &self.username)
            .field("password_file", &self.password_file)
            .field("ca_file", &self.ca_file)
            .field("nodes", &self.nodes)
            .field("homeassistant", &self.homeassistant)
            .field("discovery_prefix", &self.discovery_prefix)
            .field("code_file", &self.code_file)
            .finish()
    }
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            role: Role::Hub,
            node_name: String::new(),
            broker: "mqtt://127.0.0.1:1883".into(),
            username: String::new(),
            password_file: PathBuf::from("/etc/secura-pi-cam/mqtt-password"),
            ca_file: PathBuf::new(),
            nodes: Vec::new(),
            homeassistant: true,
            discovery_prefix: "homeassistant".into(),
            code_file: PathBuf::new(),
        }
    }
}

/// Where the broker is, from `broker`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    /// `mqtts://`
    pub tls: bool,
    /// Host name or address.
    pub host: String,
    /// TCP port (1883, or 8883 with TLS, unless given).
    pub port: u16,
}

impl Broker {
    /// Parse `mqtt://host[:port]` / `mqtts://host[:port]`.
    pub fn parse(url: &str) -> Result<Broker, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else {
            return Err(format!(
                "{url:?} must start with mqtt:// or mqtts:// (TLS), e.g. \"mqtt://127.0.0.1:1883\""
            ));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{url:?}: an IPv6 address needs its closing ]"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(format!("{url:?}: unexpected {after:?} after the address")),
            };
            (h, port)
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{url:?}: {p:?} is not a port"))?,
            None => default_port,
        };
        if host.is_empty() || host.contains(['/', '@', '?', '#', ' ']) {
            return Err(format!(
                "{url:?}: expected only a host and a port (credentials go in username and password_file)"
            ));
        }
        Ok(Broker {
            tls,
            host: host.to_string(),
            port,
        })
    }
}

/// Whether `name` can be one topic level and a Home Assistant object id: 1–64 of
/// `A-Z a-z 0-9 _ -`.
pub fn valid_node_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl MqttConfig {
    /// The parsed `broker`.
    pub fn broker(&self) -> Result<Broker, String> {
        Broker::parse(&self.broker)
    }
}

impl Validate for MqttConfig {
    fn validate(&self) -> Result<(), (String, String)> {
        self.broker().map_err(|m| ("mqtt.broker".to_string(), m))?;
        if !self.node_name.is_empty() && !valid_node_name(&self.node_name) {
            return Err((
                "mqtt.node_name".into(),
                format!(
                    "{:?} must be 1-64 letters, digits, '-' or '_' (it is a topic level)",
                    self.node_name
                ),
            ));
        }
        if let Some(bad) = self.nodes.iter().find(|n| !valid_node_name(n)) {
            return Err((
                "mqtt.nodes".into(),
                format!("{bad:?} must be 1-64 letters, digits, '-' or '_'"),
            ));
        }
        if self.discovery_prefix.is_empty()
            || self.discovery_prefix.contains(['+', '#'])
            || self.discovery_prefix.starts_with('/')
            || self.discovery_prefix.ends_with('/')
        {
            return Err((
                "mqtt.discovery_prefix".into(),
                format!(
                    "{:?} must be a topic without wildcards or a leading/trailing '/' (Home Assistant's default is \"homeassistant\")",
                    self.discovery_prefix
                ),
            ));
        }
        if !self.ca_file.as_os_str().is_empty() && !self.broker.starts_with("mqtts://") {
            return Err((
                "mqtt.ca_file".into(),
                "is only used with an mqtts:// broker; set broker = \"mqtts://…\" or leave ca_file empty".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Broker, MqttConfig, Validate, valid_node_name};

    #[test]
    fn broker_urls_parse_with_default_ports() {
        let b = Broker::parse("mqtt://127.0.0.1").unwrap();
        assert_eq!((b.tls, b.host.as_str(), b.port), (false, "127.0.0.1", 1883));
        let b = Broker::parse("mqtts://broker.lan:8884").unwrap();
        assert_eq!((b.tls, b.host.as_str(), b.port), (true, "broker.lan", 8884));
        let b = Broker::parse("mqtts://[::1]").unwrap();
        assert_eq!((b.tls, b.host.as_str(), b.port), (true, "::1", 8883));
        for bad in [
            "tcp://x",
            "mqtt://",
            "mqtt://u:p@host",
            "mqtt://host:0",
            "mqtt://host:99999",
        ] {
            assert!(Broker::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn node_names_are_single_topic_levels() {
        assert!(valid_node_name("garage"));
        assert!(valid_node_name("front-door_2"));
        for bad in ["", "a/b", "a+", "#", "h\u{e4}", &"x".repeat(65)] {
            assert!(!valid_node_name(bad), "{bad}");
        }
    }

    #[test]
    fn ca_file_without_tls_is_refused() {
        let c = MqttConfig {
            ca_file: "/etc/ca.pem".into(),
            ..MqttConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().0, "mqtt.ca_file");
    }
}
