//! The configuration file (DESIGN §6): one TOML file with a section per daemon.
//!
//! Each section is a `deny_unknown_fields` struct whose `Default` holds the documented defaults
//! (the only place they are written); values are validated while they are read, so an error
//! carries the file, line and key. A daemon loads a [`Document`] typed with the sections it uses
//! and [`Skip`] for the others, so a typo in another daemon's section is not its problem, while
//! an unknown section name is everyone's.

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default configuration path.
pub const DEFAULT_PATH: &str = "/etc/secura-pi-cam/config.toml";

/// A section this daemon does not read; only its presence is checked.
pub type Skip = serde::de::IgnoredAny;

/// The whole file, with the sections a daemon reads typed and the others [`Skip`]ped.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document<A = Skip, P = Skip, S = Skip, C = Skip, T = Skip, M = Skip> {
    /// `[alarm]`
    #[serde(default)]
    pub alarm: A,
    /// `[presence]`
    #[serde(default)]
    pub presence: P,
    /// `[sensor]`
    #[serde(default)]
    pub sensor: S,
    /// `[camera]`
    #[serde(default)]
    pub camera: C,
    /// `[telegram]`
    #[serde(default)]
    pub telegram: T,
    /// `[mqtt]` (absent = no MQTT; mqttd reads it as `Option<MqttConfig>`)
    #[serde(default)]
    pub mqtt: M,
}

/// The whole file with every section typed: what `--check-config` validates, whichever
/// daemon is asked, so that a typo anywhere is caught.
pub type Whole = Document<
    AlarmConfig,
    PresenceConfig,
    SensorConfig,
    CameraConfig,
    TelegramConfig,
    Option<MqttConfig>,
>;

/// What went wrong with the configuration, with where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read the configuration: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A value or key is wrong.
    #[error("{path}:{line}:{column}: {key}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The key (or section header) on that line.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// A rule across several keys is broken.
    #[error("{path}: {key}: {message}")]
    Rule {
        /// The file.
        path: PathBuf,
        /// The key, as `section.key`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

/// Read and validate the configuration file at `path` into the document type `D`.
pub fn load<D: for<'de> Deserialize<'de> + Validate>(path: &Path) -> Result<D, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parse and validate configuration `text`, naming `path` in errors.
pub fn parse<D: for<'de> Deserialize<'de> + Validate>(
    path: &Path,
    text: &str,
) -> Result<D, ConfigError> {
    let doc: D = toml::from_str(text).map_err(|e| located(path, text, &e))?;
    doc.validate().map_err(|(key, message)| ConfigError::Rule {
        path: path.to_path_buf(),
        key,
        message,
    })?;
    Ok(doc)
}

fn located(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let start = e.span().map(|s| s.start).unwrap_or(0).min(text.len());
    let before = text.get(..start).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before.len() - line_start + 1;
    let line_text = text
        .get(line_start..)
        .unwrap_or("")
        .lines()
        .next()
        .unwrap_or("");
    let key = match line_text.split_once('=') {
        Some((k, _)) => k.trim().trim_matches('"').to_string(),
        None => line_text.trim().to_string(),
    };
    ConfigError::Invalid {
        path: path.to_path_buf(),
        line,
        column,
        key,
        message: e.message().trim().to_string(),
    }
}

/// Checks that span several keys, run after the file is read. Errors are `(key, message)`.
pub trait Validate {
    /// Check the rules; `Err((key, message))` on the first broken one.
    fn validate(&self) -> Result<(), (String, String)> {
        Ok(())
    }
}

impl Validate for Skip {}

impl<V: Validate> Validate for Option<V> {
    fn validate(&self) -> Result<(), (String, String)> {
        self.as_ref().map_or(Ok(()), Validate::validate)
    }
}

impl<A: Validate, P: Validate, S: Validate, C: Validate, T: Validate, M: Validate> Validate
    for Document<A, P, S, C, T, M>
{
    fn validate(&self) -> Result<(), (String, String)> {
        self.alarm.validate()?;
        self.presence.validate()?;
        self.sensor.validate()?;
        self.camera.validate()?;
        self.telegram.validate()?;
        self.mqtt.validate()
    }
}

/// A duration written as `"10m"`, `"30s"`, `"500ms"`, `"1h 30m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub Duration);

impl Dur {
    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }
    /// In microseconds, the bus's unit.
    pub fn micros(self) -> u64 {
        u64::try_from(self.0.as_micros()).unwrap_or(u64::MAX)
    }
    const fn secs(s: u64) -> Dur {
        Dur(Duration::from_secs(s))
    }
    const fn millis(ms: u64) -> Dur {
        Dur(Duration::from_millis(ms))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(s.trim()).map(Dur).map_err(|e| {
            D::Error::custom(format!(
                "{s:?} is not a duration ({e}); write it like \"10m\", \"30s\" or \"500ms\""
            ))
        })
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

/// A size written as `"1GiB"`, `"256MiB"`, `"500 kB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.trim()
            .parse::<bytesize::ByteSize>()
            .map(|b| Size(b.as_u64()))
            .map_err(|e| {
                D::Error::custom(format!(
                    "{s:?} is not a size ({e}); write it like \"1GiB\" or \"256MiB\""
                ))
            })
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&bytesize::ByteSize(self.0).display().iec().to_string())
    }
}

/// A MAC address, `aa:bb:cc:dd:ee:ff` (also accepted with `-` and in capitals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// Parse `aa:bb:cc:dd:ee:ff` or `AA-BB-CC-DD-EE-FF`.
    pub fn parse(s: &str) -> Option<MacAddr> {
        let mut out = [0u8; 6];
        let mut parts = s.trim().split([':', '-']);
        for byte in &mut out {
            let p = parts.next()?;
            if p.len() != 2 {
                return None;
            }
            *byte = u8::from_str_radix(p, 16).ok()?;
        }
        parts.next().is_none().then_some(MacAddr(out))
    }

    /// Set on per-network "private" Wi-Fi addresses and other locally administered ones.
    pub fn is_locally_administered(&self) -> bool {
        self.0[0] & 0x02 != 0
    }

    /// Group (multicast/broadcast) addresses never identify a phone.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let mac = MacAddr::parse(&s).ok_or_else(|| {
            D::Error::custom(format!(
                "{s:?} is not a MAC address; write it like \"aa:bb:cc:dd:ee:ff\""
            ))
        })?;
        if mac.is_multicast() {
            return Err(D::Error::custom(format!(
                "{s} is a group (multicast) address, which no phone sends from"
            )));
        }
        Ok(mac)
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

macro_rules! bounded {
    ($(#[$m:meta])* $name:ident, $t:ty, $lo:expr, $hi:expr, $what:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub $t);
        impl $name {
            /// The value.
            pub fn get(self) -> $t {
                self.0
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = i64::deserialize(d)?;
                <$t>::try_from(v)
                    .ok()
                    .filter(|x| ($lo..=$hi).contains(x))
                    .map($name)
                    .ok_or_else(|| {
                        D::Error::custom(format!(
                            "{v} is out of range: {} must be from {} to {}",
                            $what, $lo, $hi
                        ))
                    })
            }
        }
    };
}

bounded!(
    /// ARP probe attempts before deciding nobody is home.
    Attempts, u32, 1, 20, "probe_attempts"
);
bounded!(
    /// A BCM GPIO number.
    Pin, u8, 0, 27, "a BCM pin number"
);
bounded!(
    /// Frame width or height in pixels.
    Pixels, u32, 16, 8192, "a width or height"
);
bounded!(
    /// Frames per second of the always-on capture.
    Fps, u32, 1, 30, "fps"
);
bounded!(
    /// Photos in the burst after a trigger.
    Burst, u32, 0, 30, "burst_count"
);
bounded!(
    /// JPEG quality.
    Quality, u8, 1, 100, "quality"
);

/// What confirms an arrival before automatic disarming.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DisarmRequires {
    /// An ARP answer from the device (default; radio evidence alone can be spoofed).
    #[default]
    Arp,
    /// A sighting alone, like the original project. Anyone who knows a phone's MAC can
    /// transmit from it and disarm the system.
    Sighting,
}

/// `[alarm]`: alarmd's state machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlarmConfig {
    /// Nobody sighted this long → probe, then arm.
    pub away_after: Dur,
    /// ARP probe attempts before arming.
    pub probe_attempts: Attempts,
    /// Delay after a manual `Arm()`.
    pub exit_delay: Dur,
    /// Time for a returning phone to answer ARP after motion.
    pub verify: Dur,
    /// Motion within this of the last alert joins that event.
    pub alert_cooldown: Dur,
    /// What confirms an arrival.
    pub disarm_requires: DisarmRequires,
    /// After alarmd starts, daemons not yet on the bus are not reported missing for this long
    /// (they start together at boot).
    pub startup_grace: Dur,
}

impl Default for AlarmConfig {
    fn default() -> Self {
        AlarmConfig {
            away_after: Dur::secs(600),
            probe_attempts: Attempts(3),
            exit_delay: Dur::secs(30),
            verify: Dur::secs(10),
            alert_cooldown: Dur::secs(60),
            disarm_requires: DisarmRequires::Arp,
            startup_grace: Dur::secs(15),
        }
    }
}

impl Validate for AlarmConfig {}

/// One owner's phone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// How notices name it.
    pub name: String,
    /// Its address on the home network.
    pub mac: MacAddr,
}

/// `[presence]`: the sniffer (alarmd reads its `devices` too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PresenceConfig {
    /// ARP probes and LAN sniffing.
    pub lan_interface: String,
    /// 802.11 monitor-mode interface; empty = none.
    pub monitor_interface: String,
    /// At most one `Sighting` per (mac, source) this often.
    pub sighting_interval: Dur,
    /// How long one probe waits for answers.
    pub probe_timeout: Dur,
    /// The owners' phones.
    pub devices: Vec<DeviceConfig>,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        PresenceConfig {
            lan_interface: "wlan0".into(),
            monitor_interface: String::new(),
            sighting_interval: Dur::secs(30),
            probe_timeout: Dur::secs(2),
            devices: Vec::new(),
        }
    }
}

impl PresenceConfig {
    /// Advice to log at start-up: locally administered (private) addresses.
    pub fn warnings(&self) -> Vec<String> {
        self.devices
            .iter()
            .filter(|d| d.mac.is_locally_administered())
            .map(|d| {
                format!(
                    "device {:?} has a locally administered MAC {}: phones use a private \
                     address per Wi-Fi network (iOS 14+, Android 10+); use the one the phone \
                     shows for the home network, or turn off private addressing for it",
                    d.name, d.mac
                )
            })
            .collect()
    }
}

impl Validate for PresenceConfig {
    fn validate(&self) -> Result<(), (String, String)> {
        if self.lan_interface.trim().is_empty() {
            return Err((
                "presence.lan_interface".into(),
                "must name the LAN interface used for ARP probes, e.g. \"wlan0\"".into(),
            ));
        }
        for (i, d) in self.devices.iter().enumerate() {
            if d.name.trim().is_empty() {
                return Err((
                    format!("presence.devices[{i}].name"),
                    "must not be empty".into(),
                ));
            }
            if let Some(j) = self.devices.iter().take(i).position(|e| e.mac == d.mac) {
                return Err((
                    format!("presence.devices[{i}].mac"),
                    format!("{} is also devices[{j}]", d.mac),
                ));
            }
        }
        if self.probe_timeout.get().is_zero() {
            return Err(("presence.probe_timeout".into(), "must be above 0".into()));
        }
        Ok(())
    }
}

/// Which motion input sensord uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SensorBackend {
    /// A GPIO pin of the Raspberry Pi.
    Gpio,
    /// Simulated edges (`Simulator1`).
    Sim,
}

/// GPIO input bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pull {
    /// Pull-up.
    Up,
    /// Pull-down.
    Down,
    /// Floating (the module drives the line).
    None,
}

/// `[sensor]`: sensord.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SensorConfig {
    /// `gpio` or `sim`.
    pub backend: SensorBackend,
    /// BCM pin number.
    pub pin: Pin,
    /// Input bias.
    pub pull: Pull,
    /// Edges closer than this are chatter.
    pub debounce: Dur,
    /// Edges are ignored this long after start (the PIR settles).
    pub warmup: Dur,
}

impl Default for SensorConfig {
    fn default() -> Self {
        SensorConfig {
            backend: SensorBackend::Gpio,
            pin: Pin(14),
            pull: Pull::Down,
            debounce: Dur::millis(50),
            warmup: Dur::secs(30),
        }
    }
}

impl Validate for SensorConfig {}

/// Which camera camd uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraBackend {
    /// A V4L2 device (USB webcams).
    V4l2,
    /// `rpicam-vid` (CSI camera modules on current Raspberry Pi OS).
    Rpicam,
    /// Generated frames.
    Sim,
}

/// `[camera]`: camd.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CameraConfig {
    /// `v4l2`, `rpicam` or `sim`.
    pub backend: CameraBackend,
    /// V4L2 device node.
    pub device: PathBuf,
    /// Frame width.
    pub width: Pixels,
    /// Frame height.
    pub height: Pixels,
    /// Always-on capture rate.
    pub fps: Fps,
    /// Frames kept from before a trigger.
    pub pre_trigger: Dur,
    /// Photos after a trigger.
    pub burst_count: Burst,
    /// Time between burst photos.
    pub burst_interval: Dur,
    /// JPEG quality.
    pub quality: Quality,
    /// Flip vertically.
    pub vflip: bool,
    /// Flip horizontally.
    pub hflip: bool,
    /// Event photos older than this are deleted.
    pub retention: Dur,
    /// Event photos beyond this many bytes are deleted, oldest first.
    pub max_storage: Size,
    /// Keep capturing while the alarm is disarmed (false: the camera runs only while alarmd
    /// has it active).
    pub always_on: bool,
}

impl Default for CameraConfig {
    fn default() -> Self {
        CameraConfig {
            backend: CameraBackend::V4l2,
            device: PathBuf::from("/dev/video0"),
            width: Pixels(1280),
            height: Pixels(720),
            fps: Fps(2),
            pre_trigger: Dur::secs(2),
            burst_count: Burst(4),
            burst_interval: Dur::millis(500),
            quality: Quality(85),
            vflip: false,
            hflip: false,
            retention: Dur::secs(30 * 24 * 3600),
            max_storage: Size(1 << 30),
            always_on: false,
        }
    }
}

impl Validate for CameraConfig {
    fn validate(&self) -> Result<(), (String, String)> {
        if self.max_storage.0 < (1 << 20) {
            return Err((
                "camera.max_storage".into(),
                "must be at least 1MiB to hold one event".into(),
            ));
        }
        Ok(())
    }
}

/// `[telegram]`: botd.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelegramConfig {
    /// Telegram user ids allowed to use the bot.
    pub allowed_users: Vec<i64>,
    /// Where the bot token is read from when systemd gives no credential.
    pub token_file: PathBuf,
    /// Bot API base URL.
    pub api_url: String,
    /// Commands older than this are not executed.
    pub max_command_age: Dur,
    /// Undelivered messages older than this are dropped.
    pub outbox_max_age: Dur,
    /// The outbox never holds more than this.
    pub outbox_max_bytes: Size,
}

impl fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("allowed_users", &self.allowed_users)
            .field("token_file", &self.token_file)
            .field("api_url", &self.api_url)
            .field("max_command_age", &self.max_command_age)
            .field("outbox_max_age", &self.outbox_max_age)
            .field("outbox_max_bytes", &self.outbox_max_bytes)
            .finish()
    }
}

impl Default for TelegramConfig {
    fn default() -> Self {
        TelegramConfig {
            allowed_users: Vec::new(),
            token_file: PathBuf::from("/etc/secura-pi-cam/telegram-token"),
            api_url: "https://api.telegram.org".into(),
            max_command_age: Dur::secs(120),
            outbox_max_age: Dur::secs(24 * 3600),
            outbox_max_bytes: Size(256 << 20),
        }
    }
}

impl Validate for TelegramConfig {
    fn validate(&self) -> Result<(), (String, String)> {
        if let Some(rest) = self.api_url.strip_prefix("http://") {
            // The token is in every request's path: only a stand-in on this machine may
            // be spoken to in the clear.
            if !is_loopback_authority(rest) {
                return Err((
                    "telegram.api_url".into(),
                    format!(
                        "{:?}: http:// is allowed only for this machine (localhost, 127.0.0.1, \
                         [::1]): the bot token travels in every request; use https://",
                        self.api_url
                    ),
                ));
            }
        } else if !self.api_url.starts_with("https://") {
            return Err((
                "telegram.api_url".into(),
                format!(
                    "{:?} must start with https:// (or http:// for a stand-in on this machine)",
                    self.api_url
                ),
            ));
        }
        if let Some(bad) = self.allowed_users.iter().find(|u| **u <= 0) {
            return Err((
                "telegram.allowed_users".into(),
                format!(
                    "{bad} is not a Telegram user id (user ids are positive; groups are not allowed)"
                ),
            ));
        }
        Ok(())
    }
}

/// Whether the authority at the start of `rest` (what follows `http://`) names this machine:
/// `localhost`, an address in 127.0.0.0/8 or `[::1]`, with or without a port.
fn is_loopback_authority(rest: &str) -> bool {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // Credentials before '@' would hide the real host from a careless reader: refuse them.
    if authority.contains('@') {
        return false;
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, port)) if port.is_empty() || port.starts_with(':') => h,
            _ => return false,
        }
    } else {
        authority.split(':').next().unwrap_or("")
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

pub mod checks;
mod mqtt;
pub use mqtt::{Broker, MqttConfig, Role, valid_node_name};

#[cfg(test)]
mod tests;
