//! Well-known bus names, object paths and interface names (DESIGN §3).
//!
//! Each daemon owns one name and serves its object at the path spelled like the name.

/// alarmd: the state machine.
pub const ALARM_NAME: &str = "org.securapicam.Alarm";
/// Object path of alarmd's object.
pub const ALARM_PATH: &str = "/org/securapicam/Alarm";
/// The Alarm interface, version 1.
pub const ALARM_IFACE: &str = "org.securapicam.Alarm1";

/// sniffer: presence of the owners' phones.
pub const PRESENCE_NAME: &str = "org.securapicam.Presence";
/// Object path of the sniffer's object.
pub const PRESENCE_PATH: &str = "/org/securapicam/Presence";
/// The Presence interface, version 1.
pub const PRESENCE_IFACE: &str = "org.securapicam.Presence1";

/// sensord: the PIR sensor.
pub const SENSOR_NAME: &str = "org.securapicam.Sensor";
/// Object path of sensord's object.
pub const SENSOR_PATH: &str = "/org/securapicam/Sensor";
/// The Sensor interface, version 1.
pub const SENSOR_IFACE: &str = "org.securapicam.Sensor1";

/// camd: the camera.
pub const CAMERA_NAME: &str = "org.securapicam.Camera";
/// Object path of camd's object.
pub const CAMERA_PATH: &str = "/org/securapicam/Camera";
/// The Camera interface, version 1.
pub const CAMERA_IFACE: &str = "org.securapicam.Camera1";

/// botd: Telegram.
pub const BOT_NAME: &str = "org.securapicam.Bot";
/// Object path of botd's object.
pub const BOT_PATH: &str = "/org/securapicam/Bot";
/// The Bot interface, version 1.
pub const BOT_IFACE: &str = "org.securapicam.Bot1";

/// mqttd: the MQTT link (Home Assistant, other Pis).
pub const NODES_NAME: &str = "org.securapicam.Nodes";
/// Object path of mqttd's object.
pub const NODES_PATH: &str = "/org/securapicam/Nodes";
/// The Nodes interface, version 1.
pub const NODES_IFACE: &str = "org.securapicam.Nodes1";

/// Served beside a daemon's main interface in `--sim` mode only.
pub const SIMULATOR_IFACE: &str = "org.securapicam.Simulator1";

/// Prefix of every error name this project returns.
pub const ERROR_PREFIX: &str = "org.securapicam.Error";

/// One of the daemons, with everything that names it: bus name, object path, main
/// interface, short name (`camd`), binary and unit. Tables of daemons are built from
/// [`Service::ALL`] rather than written out again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// alarmd: the state machine.
    Alarm,
    /// sniffer: presence of the owners' phones.
    Presence,
    /// sensord: the PIR sensor.
    Sensor,
    /// camd: the camera.
    Camera,
    /// botd: Telegram.
    Bot,
    /// mqttd: the MQTT link (Home Assistant, other Pis); optional, off without `[mqtt]`.
    Nodes,
}

impl Service {
    /// Every daemon, alarmd first.
    pub const ALL: [Service; 6] = [
        Service::Alarm,
        Service::Presence,
        Service::Sensor,
        Service::Camera,
        Service::Bot,
        Service::Nodes,
    ];

    /// The well-known bus name it owns.
    pub fn bus_name(self) -> &'static str {
        match self {
            Service::Alarm => ALARM_NAME,
            Service::Presence => PRESENCE_NAME,
            Service::Sensor => SENSOR_NAME,
            Service::Camera => CAMERA_NAME,
            Service::Bot => BOT_NAME,
            Service::Nodes => NODES_NAME,
        }
    }

    /// The path of its object.
    pub fn path(self) -> &'static str {
        match self {
            Service::Alarm => ALARM_PATH,
            Service::Presence => PRESENCE_PATH,
            Service::Sensor => SENSOR_PATH,
            Service::Camera => CAMERA_PATH,
            Service::Bot => BOT_PATH,
            Service::Nodes => NODES_PATH,
        }
    }

    /// Its main interface.
    pub fn interface(self) -> &'static str {
        match self {
            Service::Alarm => ALARM_IFACE,
            Service::Presence => PRESENCE_IFACE,
            Service::Sensor => SENSOR_IFACE,
            Service::Camera => CAMERA_IFACE,
            Service::Bot => BOT_IFACE,
            Service::Nodes => NODES_IFACE,
        }
    }

    /// The short name people and logs use: `alarmd`, `sniffer`, `sensord`, `camd`, `botd`, `mqttd`.
    pub fn short(self) -> &'static str {
        match self {
            Service::Alarm => "alarmd",
            Service::Presence => "sniffer",
            Service::Sensor => "sensord",
            Service::Camera => "camd",
            Service::Bot => "botd",
            Service::Nodes => "mqttd",
        }
    }

    /// The binary, which is also the system user and the unit's name: `secura-camd`.
    pub fn binary(self) -> &'static str {
        match self {
            Service::Alarm => "secura-alarmd",
            Service::Presence => "secura-sniffer",
            Service::Sensor => "secura-sensord",
            Service::Camera => "secura-camd",
            Service::Bot => "secura-botd",
            Service::Nodes => "secura-mqttd",
        }
    }

    /// Whether it serves `org.securapicam.Simulator1` (simulated hardware) with `--sim`.
    pub fn serves_simulator(self) -> bool {
        !matches!(self, Service::Alarm | Service::Bot | Service::Nodes)
    }

    /// The daemon with this short name.
    pub fn from_short(short: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.short() == short)
    }
}

#[cfg(test)]
mod tests {
    use super::Service;

    #[test]
    fn every_service_names_itself_consistently() {
        for s in Service::ALL {
            assert_eq!(s.path(), format!("/{}", s.bus_name().replace('.', "/")));
            assert_eq!(s.interface(), format!("{}1", s.bus_name()));
            assert_eq!(s.binary(), format!("secura-{}", s.short()));
            assert_eq!(Service::from_short(s.short()), Some(s));
        }
    }
}
