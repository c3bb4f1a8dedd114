//! The alarm state machine (DESIGN §5): pure, with time passed in.
//!
//! [`Machine::step`] applies one [`Event`] at [`Now`] and returns the [`Action`]s the runtime
//! must carry out (notices, probes, captures, alerts, history records); [`Machine::start`]
//! does the same for start-up. It reads no clock and does no I/O, so every row of the
//! transition table is a unit test. Deadlines are kept on the monotonic clock ([`Mono`]);
//! wall-clock times are only recorded. Everything in [`Machine`] except the in-flight probe
//! is persisted after each step, so a restart resumes exactly where it stopped.

use crate::clock::{Mono, Now};
use secura_bus::config::MacAddr;
use secura_bus::types::{Command, MessageKind, Micros};
use secura_bus::{State, config::AlarmConfig, config::DisarmRequires};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

mod keys;
mod start;
mod step;
pub use keys::{Kind, NodeName, TroubleKey};
pub use start::Saved;
pub use step::Outcome;
#[cfg(test)]
mod tests;
pub mod text;

/// After a failed probe (sniffer missing or broken), wait this long before the next one.
pub const PROBE_RETRY: Micros = 30_000_000;

/// The timings and rules of [`AlarmConfig`], in microseconds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// Nobody sighted this long → probe, then arm.
    pub away_after: Micros,
    /// Probe rounds before arming.
    pub probe_attempts: u32,
    /// After a manual arm.
    pub exit_delay: Micros,
    /// Motion while armed automatically: time for a phone to answer.
    pub verify: Micros,
    /// Motion this soon after an alert joins it.
    pub alert_cooldown: Micros,
    /// Whether an arrival needs an ARP answer.
    pub disarm_requires: DisarmRequires,
}

impl From<&AlarmConfig> for Settings {
    fn from(c: &AlarmConfig) -> Self {
        Settings {
            away_after: c.away_after.micros(),
            probe_attempts: c.probe_attempts.get(),
            exit_delay: c.exit_delay.micros(),
            verify: c.verify.micros(),
            alert_cooldown: c.alert_cooldown.micros(),
            disarm_requires: c.disarm_requires,
        }
    }
}

/// Where the machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Mode {
    /// Off until `Enable()`.
    Disabled,
    /// Watching presence; arms itself when everyone is away.
    Disarmed,
    /// Exit delay after a manual arm.
    Arming {
        /// When the system becomes armed.
        until: Mono,
    },
    /// Armed; `manual` arms are left only by `Disarm()`.
    Armed {
        /// Armed by hand (no presence disarm, no verify window).
        manual: bool,
    },
    /// Motion while armed automatically: waiting for a phone to answer.
    Verifying {
        /// When the alert goes out.
        until: Mono,
        /// The event the photos belong to.
        event: u64,
        /// Wall-clock time of the motion, shown in the alert (0 in files written before it
        /// was kept: the alert then shows when it was decided).
        #[serde(default)]
        motion_at: Micros,
    },
}

impl Mode {
    /// The bus spelling of this mode.
    pub fn state(self) -> State {
        match self {
            Mode::Disabled => State::Disabled,
            Mode::Disarmed => State::Disarmed,
            Mode::Arming { .. } => State::Arming,
            Mode::Armed { .. } => State::Armed,
            Mode::Verifying { .. } => State::Verifying,
        }
    }
}

/// An owner's phone as the machine knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Owner-given name.
    pub name: String,
    /// Its address (lower-case on the bus and in the state file).
    pub mac: MacAddr,
    /// Taken to be at home.
    pub present: bool,
    /// Wall-clock time of the last sighting or ARP answer, 0 if never (shown, not timed).
    pub last_seen: Micros,
    /// Monotonic time of its last ARP answer: the away timer runs from it (a sighting alone
    /// never keeps the system disarmed, as radio and LAN frames can be forged).
    #[serde(default)]
    pub answered: Mono,
    /// Last IPv4 address it answered from.
    pub ip: String,
}

/// Why a probe was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// Everyone looks away: confirm before arming (attempt n of `probe_attempts`).
    Away {
        /// 1-based attempt.
        attempt: u32,
    },
    /// A device was sighted while armed automatically: confirm its arrival.
    Arrival {
        /// Where it was sighted, for the history.
        source: String,
    },
    /// Motion while armed automatically: is a returning owner the cause?
    Verify {
        /// 1-based attempt.
        attempt: u32,
    },
}

/// A probe whose answer is awaited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Matches [`Event::ProbeDone`].
    pub id: u64,
    /// Why.
    pub purpose: Purpose,
    /// Whom.
    pub macs: Vec<MacAddr>,
}

/// One device's part of a probe's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Who was asked.
    pub mac: MacAddr,
    /// Whether an ARP reply came from it.
    pub answered: bool,
    /// The address it answered from (empty when it did not).
    pub ip: String,
}

/// Why a probe has no answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeFailure {
    /// The sniffer answered with an error.
    Refused(String),
    /// The sniffer did not answer in time.
    NoAnswer(Duration),
    /// It answered for an address that is not a MAC.
    Malformed(String),
}

/// Why an event has fewer photos than it should.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhotoProblem {
    /// The photos were taken by the previous run of alarmd: camd keeps them, alarmd never
    /// had them in memory.
    BeforeRestart,
    /// camd refused or failed the capture.
    Failed(String),
    /// camd did not answer in time.
    NoAnswer(Duration),
}

/// Everything that happens to the machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An owner's command, with who gave it.
    Command {
        /// What.
        cmd: Command,
        /// Who: `uid:1000`, `telegram:42`.
        actor: String,
    },
    /// Time passed (a deadline from [`Machine::next_deadline`] or any wake-up).
    Tick,
    /// `Presence1.Sighting`.
    Sighting {
        /// The device.
        mac: MacAddr,
        /// `lan:wlan0`, `monitor:mon0`, `sim`.
        source: String,
    },
    /// The answer to [`Action::Probe`].
    ProbeDone {
        /// The probe's id.
        id: u64,
        /// Per-MAC answers, or why there are none.
        outcome: Result<Vec<Answer>, ProbeFailure>,
    },
    /// `Sensor1.Motion`.
    Motion,
    /// botd's outbox accepted the alert of `event` (it is durable there now).
    AlertHanded {
        /// The event.
        event: u64,
    },
    /// A trouble under `key` was raised (`Some(text)`) or cleared (`None`).
    Trouble {
        /// One per source.
        key: TroubleKey,
        /// What is wrong, or `None` when it is over.
        text: Option<String>,
    },
}

/// Whether an alert's photos are still to come from this run's captures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertPhotos {
    /// Wait for the event's captures, then send them as an album.
    Captured,
    /// Decided by the previous run and never handed to botd: send as text, saying where
    /// the photos are kept.
    KeptOnPi,
}

/// A history row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// What kind of event.
    pub kind: Kind,
    /// What happened.
    pub text: String,
    /// Who.
    pub actor: String,
}

/// What the runtime must do after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A message to the owners (`Bot1.Post` of a text): a notice, a trouble or a resolved
    /// trouble.
    Notify(MessageKind, String),
    /// `Presence1.Probe(macs)`; the answer comes back as [`Event::ProbeDone`] with this id.
    Probe {
        /// Correlates the answer.
        id: u64,
        /// Whom to probe.
        macs: Vec<MacAddr>,
    },
    /// `Camera1.CaptureEvent(event)`.
    Capture {
        /// The event the photos belong to.
        event: u64,
    },
    /// `Bot1.Post` of the photos of `event` (or, without any, the text), before any notice:
    /// an alert, its follow-up (a reply to it) or the evidence of a verify window an arrival
    /// ended.
    Alert {
        /// `Alert`, `FollowUp` or `Evidence`.
        kind: MessageKind,
        /// The event.
        event: u64,
        /// Its caption, before the time and any camera trouble are added.
        caption: String,
        /// Wall-clock time of the motion, shown in the caption.
        at: Micros,
        /// Where the photos are.
        photos: AlertPhotos,
    },
    /// An event-history row.
    Record(Row),
    /// `State` changed: emit `StateChanged`, record it.
    StateChanged {
        /// Before.
        old: State,
        /// After.
        new: State,
        /// Why.
        reason: String,
        /// Who caused it.
        actor: String,
    },
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

/// When and on which boot the machine was last saved, so a restart can tell how far its
/// monotonic deadlines are still valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// Both clocks at the save.
    pub now: Now,
    /// The kernel's boot id then.
    pub boot: String,
}

/// The machine's whole state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// Where it is.
    pub mode: Mode,
    /// The owners' phones, in configuration order.
    pub devices: Vec<Device>,
    /// Wall-clock time `mode`'s state last changed.
    pub last_change: Micros,
    /// Why.
    pub last_reason: String,
    /// The away timer never starts before this (start-up, disarm).
    pub presence_epoch: Mono,
    /// Devices absent when the system armed: their answer during verify means "welcome home".
    pub absent_at_arming: Vec<MacAddr>,
    /// Time and event of the last alert (for `alert_cooldown`).
    pub last_alert: Option<(Mono, u64)>,
    /// The alert event whose one follow-up (more motion within `alert_cooldown`) went out.
    #[serde(default)]
    pub followed_up: Option<u64>,
    /// The next event id.
    pub next_event: u64,
    /// What is wrong, by source.
    pub troubles: BTreeMap<TroubleKey, String>,
    /// No away probe before this (after a failed probe).
    pub probe_retry_at: Mono,
    /// Alerts decided but not yet accepted by botd's durable outbox, as (event, caption):
    /// a crash or power cut in between must not lose them.
    #[serde(default)]
    pub unsent_alerts: Vec<(u64, String)>,
    /// Set only by a clean stop, so the next start can tell a crash or power cut.
    #[serde(default)]
    pub clean_stop: bool,
    /// The clocks at the last save; absent in files written before deadlines were monotonic
    /// (their times are wall-clock).
    #[serde(default)]
    pub saved: Option<Stamp>,
    /// The probe in flight (not persisted: after a restart the rules ask again).
    #[serde(skip)]
    pub pending: Option<Pending>,
    /// Devices sighted while a probe was in flight, with where.
    #[serde(skip)]
    pub queued_arrivals: BTreeMap<MacAddr, String>,
    #[serde(skip)]
    next_probe: u64,
    /// From the configuration, not persisted.
    #[serde(skip)]
    pub settings: Settings,
}

impl Machine {
    /// A fresh machine: disarmed, with `devices` (name, mac) never seen.
    pub fn new(settings: Settings, devices: &[(String, MacAddr)], now: Now) -> Machine {
        Machine {
            mode: Mode::Disarmed,
            devices: devices
                .iter()
                .map(|(name, mac)| Device {
                    name: name.clone(),
                    mac: *mac,
                    present: false,
                    last_seen: 0,
                    answered: Mono(0),
                    ip: String::new(),
                })
                .collect(),
            last_change: now.wall,
            last_reason: text::FIRST_START.into(),
            presence_epoch: now.mono,
            absent_at_arming: Vec::new(),
            last_alert: None,
            followed_up: None,
            next_event: 1,
            troubles: BTreeMap::new(),
            probe_retry_at: Mono(0),
            unsent_alerts: Vec::new(),
            clean_stop: false,
            saved: None,
            pending: None,
            queued_arrivals: BTreeMap::new(),
            next_probe: 1,
            settings,
        }
    }

    /// A machine restored from disk, with the device list replaced by the configured one
    /// (what is known of devices still configured is kept), its deadlines carried over to
    /// this boot's monotonic clock, and the away timer restarted.
    pub fn restored(
        mut self,
        settings: Settings,
        devices: &[(String, MacAddr)],
        now: Now,
        boot: &str,
    ) -> Machine {
        self.rebase(now, boot);
        let old = std::mem::take(&mut self.devices);
        let fresh = Machine::new(settings.clone(), devices, now);
        self.settings = settings;
        self.devices = fresh
            .devices
            .into_iter()
            .map(|d| match old.iter().find(|o| o.mac == d.mac) {
                Some(o) => Device {
                    name: d.name,
                    ..o.clone()
                },
                None => d,
            })
            .collect();
        self.absent_at_arming
            .retain(|m| self.devices.iter().any(|d| &d.mac == m));
        // After a restart nobody knows who is home: sightings get `away_after` to arrive before
        // an away probe (which at boot would also race the sniffer's start).
        self.presence_epoch = self.presence_epoch.max(now.mono);
        self.next_probe = 1;
        self
    }

    /// Monotonic readings are only comparable within one boot. Saved on this boot: nothing
    /// to do. Saved on an earlier boot, the wall clock is the only measure of the time in
    /// between; written before monotonic deadlines, the saved times are wall-clock.
    fn rebase(&mut self, now: Now, boot: &str) {
        let delta: i128 = match &self.saved {
            Some(s) if s.boot == boot => return,
            Some(s) => {
                let down = i128::from(now.wall) - i128::from(s.now.wall);
                i128::from(now.mono.0) - i128::from(s.now.mono.0) - down.max(0)
            }
            None => i128::from(now.mono.0) - i128::from(now.wall),
        };
        let shift = |m: &mut Mono| *m = m.shifted(delta);
        match &mut self.mode {
            Mode::Arming { until } | Mode::Verifying { until, .. } => shift(until),
            _ => {}
        }
        shift(&mut self.presence_epoch);
        shift(&mut self.probe_retry_at);
        if let Some((at, _)) = &mut self.last_alert {
            shift(at);
        }
        for d in &mut self.devices {
            shift(&mut d.answered);
        }
    }

    /// The bus `State`.
    pub fn state(&self) -> State {
        self.mode.state()
    }

    /// Whether anyone is taken to be home.
    pub fn home(&self) -> bool {
        self.devices.iter().any(|d| d.present)
    }

    /// When the machine next needs a [`Event::Tick`], if ever.
    pub fn next_deadline(&self) -> Option<Mono> {
        match self.mode {
            Mode::Arming { until } | Mode::Verifying { until, .. } => Some(until),
            Mode::Disarmed if self.pending.is_none() && !self.devices.is_empty() => {
                Some(self.away_at().max(self.probe_retry_at))
            }
            _ => None,
        }
    }

    /// When everyone counts as away: `away_after` past the latest ARP answer (or the epoch).
    fn away_ref(&self) -> Mono {
        self.devices
            .iter()
            .map(|d| d.answered)
            .fold(self.presence_epoch, Mono::max)
    }

    fn away_at(&self) -> Mono {
        self.away_ref().after(self.settings.away_after)
    }
}
