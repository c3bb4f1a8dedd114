//! `#[proxy]` traits of every interface (DESIGN §3), used by clients and by servers' tests.
//!
//! Each proxy defaults to the daemon's well-known name and path; signal streams created from
//! them follow the current owner of that name, so a signal from anyone else is never seen.

use crate::types::{AlarmDevice, HistoryEntry, PresenceDevice, ProbeAnswer};
use zbus::{OwnedFd, proxy};

/// `org.securapicam.Alarm1`, served by alarmd.
#[proxy(
    interface = "org.securapicam.Alarm1",
    default_service = "org.securapicam.Alarm",
    default_path = "/org/securapicam/Alarm"
)]
pub trait Alarm1 {
    /// Arm by hand: `arming` for `exit_delay`, then `armed` until `Disarm()`.
    fn arm(&self) -> zbus::Result<()>;
    /// Disarm; automatic arming resumes once everyone is away again.
    fn disarm(&self) -> zbus::Result<()>;
    /// Leave `disabled`.
    fn enable(&self) -> zbus::Result<()>;
    /// Switch the system off until `Enable()`; survives restarts.
    fn disable(&self) -> zbus::Result<()>;
    /// One of `arm|disarm|enable|disable` on behalf of `actor`, `<kind>:<id>[:<name>]` (e.g.
    /// `telegram:12345:Alice`); for botd, which relays its users' commands and must have them
    /// recorded as theirs. A command that would change nothing fails, saying so.
    fn command_as(&self, command: &str, actor: &str) -> zbus::Result<()>;
    /// A JPEG taken now, as a sealed memfd.
    fn snapshot(&self) -> zbus::Result<OwnedFd>;
    /// `Snapshot()` on behalf of `actor` (as in `CommandAs`), recorded as theirs.
    fn snapshot_as(&self, actor: &str) -> zbus::Result<OwnedFd>;
    /// The newest `limit` history entries, newest first.
    fn history(&self, limit: u32) -> zbus::Result<Vec<HistoryEntry>>;

    /// `disabled|disarmed|arming|armed|verifying`
    #[zbus(property)]
    fn state(&self) -> zbus::Result<String>;
    /// Whether any owner's device is taken to be at home.
    #[zbus(property)]
    fn home(&self) -> zbus::Result<bool>;
    /// Owners' devices: (name, mac, present, last_seen).
    #[zbus(property)]
    fn devices(&self) -> zbus::Result<Vec<AlarmDevice>>;
    /// When `State` last changed.
    #[zbus(property)]
    fn last_change(&self) -> zbus::Result<u64>;
    /// Why `State` last changed.
    #[zbus(property)]
    fn last_reason(&self) -> zbus::Result<String>;
    /// What is wrong right now, for a person.
    #[zbus(property)]
    fn troubles(&self) -> zbus::Result<Vec<String>>;

    /// Every transition of `State` (`StateChanged`; named apart in Rust from the `State`
    /// property's change stream).
    #[zbus(signal, name = "StateChanged")]
    fn state_transition(&self, old: &str, new: &str, reason: &str) -> zbus::Result<()>;

    /// The last alert: (event, time, caption, its first photo as a sealed memfd);
    /// `NotAvailable` when there has been none since alarmd started or it had no photo.
    fn last_alert(&self) -> zbus::Result<(u64, u64, String, OwnedFd)>;

    /// An alert went out to the owners (as botd's `Alert`, or as text without photos).
    #[zbus(signal)]
    fn alerted(&self, event: u64, at: u64, caption: &str) -> zbus::Result<()>;
}

/// `org.securapicam.Presence1`, served by the sniffer.
#[proxy(
    interface = "org.securapicam.Presence1",
    default_service = "org.securapicam.Presence",
    default_path = "/org/securapicam/Presence"
)]
pub trait Presence1 {
    /// Active ARP probe of each MAC; waits at most `timeout_ms`.
    fn probe(&self, macs: &[&str], timeout_ms: u32) -> zbus::Result<Vec<ProbeAnswer>>;

    /// Configured devices with their last sighting.
    #[zbus(property)]
    fn devices(&self) -> zbus::Result<Vec<PresenceDevice>>;
    /// Capture sources in use, e.g. `monitor:mon0`, `lan:wlan0`.
    #[zbus(property)]
    fn sources(&self) -> zbus::Result<Vec<String>>;

    /// A configured device was heard, at most once per `sighting_interval` per (mac, source).
    #[zbus(signal)]
    fn sighting(&self, mac: &str, source: &str, at: u64) -> zbus::Result<()>;
}

/// `org.securapicam.Sensor1`, served by sensord.
#[proxy(
    interface = "org.securapicam.Sensor1",
    default_service = "org.securapicam.Sensor",
    default_path = "/org/securapicam/Sensor"
)]
pub trait Sensor1 {
    /// Whether the PIR output is high now.
    #[zbus(property)]
    fn active(&self) -> zbus::Result<bool>;
    /// The last debounced rising edge, 0 if none.
    #[zbus(property)]
    fn last_motion(&self) -> zbus::Result<u64>;
    /// `gpio` or `sim`.
    #[zbus(property)]
    fn backend(&self) -> zbus::Result<String>;
    /// False while the input cannot be read.
    #[zbus(property)]
    fn healthy(&self) -> zbus::Result<bool>;
    /// What is wrong, empty when healthy.
    #[zbus(property)]
    fn fault(&self) -> zbus::Result<String>;

    /// Debounced rising edge.
    #[zbus(signal)]
    fn motion(&self, at: u64) -> zbus::Result<()>;
    /// Debounced falling edge.
    #[zbus(signal)]
    fn motion_ended(&self, at: u64) -> zbus::Result<()>;
}

/// `org.securapicam.Camera1`, served by camd.
#[proxy(
    interface = "org.securapicam.Camera1",
    default_service = "org.securapicam.Camera",
    default_path = "/org/securapicam/Camera"
)]
pub trait Camera1 {
    /// Pre-trigger frames plus a burst, each a sealed memfd with its capture time; the frames
    /// are also stored under `event_id`.
    fn capture_event(&self, event_id: u64) -> zbus::Result<Vec<(OwnedFd, u64)>>;
    /// One JPEG now, with its capture time.
    fn snapshot(&self) -> zbus::Result<(OwnedFd, u64)>;
    /// Capture continuously into the pre-trigger ring (true) or keep the camera closed
    /// between requests (false); alarmd and root only.
    fn set_active(&self, active: bool) -> zbus::Result<()>;

    /// Whether the camera captures continuously (active, or `always_on`).
    #[zbus(property)]
    fn active(&self) -> zbus::Result<bool>;
    /// `v4l2`, `rpicam` or `sim`.
    #[zbus(property)]
    fn backend(&self) -> zbus::Result<String>;
    /// False while no frames arrive.
    #[zbus(property)]
    fn healthy(&self) -> zbus::Result<bool>;
    /// What is wrong, empty when healthy.
    #[zbus(property)]
    fn fault(&self) -> zbus::Result<String>;
    /// Width and height of the frames.
    #[zbus(property)]
    fn resolution(&self) -> zbus::Result<(u32, u32)>;
}

/// `org.securapicam.Bot1`, served by botd.
#[proxy(
    interface = "org.securapicam.Bot1",
    default_service = "org.securapicam.Bot",
    default_path = "/org/securapicam/Bot"
)]
pub trait Bot1 {
    /// Queue a text message to every authorized user; returns its outbox id once it is on disk.
    fn notify(&self, text: &str) -> zbus::Result<u64>;
    /// Queue one album with `caption` to every authorized user; returns its outbox id once on
    /// disk.
    fn alert(&self, caption: &str, photos: Vec<OwnedFd>) -> zbus::Result<u64>;
    /// Queue a message of `kind` (`alert`, `followup`, `trouble`, `resolved`, `notice`,
    /// `evidence`) with `text` (the caption when there are photos) and `photos` (may be
    /// empty) to every authorized user, as a reply to the earlier outbox message `reply_to`
    /// (0: none); returns its outbox id once it is on disk.
    fn post(
        &self,
        kind: &str,
        text: &str,
        photos: Vec<OwnedFd>,
        reply_to: u64,
    ) -> zbus::Result<u64>;
    /// A one-time pairing code for `/start CODE` and when it expires.
    fn create_pairing_code(&self) -> zbus::Result<(String, u64)>;

    /// Whether the Bot API answered the last request.
    #[zbus(property)]
    fn connected(&self) -> zbus::Result<bool>;
    /// Messages waiting in the outbox.
    #[zbus(property)]
    fn outbox(&self) -> zbus::Result<u32>;
    /// Authorized users.
    #[zbus(property)]
    fn users(&self) -> zbus::Result<u32>;
    /// Time of the last confirmed delivery, 0 if none.
    #[zbus(property)]
    fn last_delivery(&self) -> zbus::Result<u64>;
}

/// `org.securapicam.Simulator1`: served in `--sim` mode only, beside the daemon's interface.
/// A daemon implements the members that make sense for it; the others answer `UnknownMethod`.
#[proxy(interface = "org.securapicam.Simulator1")]
pub trait Simulator1 {
    /// sensord: a rising edge on the simulated PIR.
    fn motion(&self) -> zbus::Result<()>;
    /// sensord: the simulated PIR output falls.
    fn motion_ended(&self) -> zbus::Result<()>;
    /// sniffer: the phone with `mac` is at home (sends frames, answers ARP).
    fn phone_arrives(&self, mac: &str) -> zbus::Result<()>;
    /// sniffer: the phone with `mac` has gone (silent, no ARP answers).
    fn phone_leaves(&self, mac: &str) -> zbus::Result<()>;
    /// Hardware fault injection: a non-empty text breaks the device with that fault, empty
    /// repairs it.
    fn set_fault(&self, fault: &str) -> zbus::Result<()>;
    /// camd: whether the simulated camera device is open now.
    #[zbus(property(emits_changed_signal = "false"))]
    fn camera_open(&self) -> zbus::Result<bool>;
}

pub use nodes::Nodes1Proxy;

/// Nodes1 in a module of its own: its signals share names (and so generated types) with
/// Sensor1's and Presence1's.
pub mod nodes {
    use zbus::OwnedFd;
    use zbus::proxy;

    /// `org.securapicam.Nodes1`, served by mqttd (DESIGN §10): the MQTT link and the other Pis.
    #[proxy(
        interface = "org.securapicam.Nodes1",
        default_service = "org.securapicam.Nodes",
        default_path = "/org/securapicam/Nodes"
    )]
    pub trait Nodes1 {
        /// Whether mqttd is connected to the broker now.
        #[zbus(property)]
        fn connected(&self) -> zbus::Result<bool>;
        /// The broker, as configured (`mqtts://host:8883`), without credentials.
        #[zbus(property)]
        fn broker(&self) -> zbus::Result<String>;
        /// The nodes the hub accepts: (name, online, has sensor, has camera, last seen).
        #[zbus(property)]
        fn nodes(&self) -> zbus::Result<Vec<(String, bool, bool, bool, u64)>>;
        /// What is wrong with an online node's sensor or camera: (node, "camera: …").
        #[zbus(property)]
        fn faults(&self) -> zbus::Result<Vec<(String, String)>>;
        /// The photos of alarm event `event_id` from `node`'s camera, oldest first.
        fn capture_event(&self, node: &str, event_id: u64) -> zbus::Result<Vec<(OwnedFd, u64)>>;
        /// One photo from `node`'s camera now.
        fn snapshot(&self, node: &str) -> zbus::Result<(OwnedFd, u64)>;

        /// Motion reported by a node.
        #[zbus(signal)]
        fn motion(&self, node: &str, at: u64) -> zbus::Result<()>;
        /// A sighting reported by a node's sniffer (`source` names the node).
        #[zbus(signal)]
        fn sighting(&self, mac: &str, source: &str, at: u64) -> zbus::Result<()>;
    }
}
