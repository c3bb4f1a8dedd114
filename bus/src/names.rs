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

/// Served beside a daemon's main interface in `--sim` mode only.
pub const SIMULATOR_IFACE: &str = "org.securapicam.Simulator1";

/// Prefix of every error name this project returns.
pub const ERROR_PREFIX: &str = "org.securapicam.Error";
