//! Wire types of the interfaces: each struct is a D-Bus struct, its fields in signature order.

use serde::{Deserialize, Serialize};
use zbus::Type;

/// Microseconds since the Unix epoch, the unit of every `t` time on the bus.
pub type Micros = u64;

/// The wall clock now, in [`Micros`] (0 if the clock is before 1970).
pub fn now_micros() -> Micros {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The alarm's state, as the `State` property spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Switched off by an owner: nothing arms it until `Enable()`.
    Disabled,
    /// Someone is home (or was just disarmed).
    Disarmed,
    /// Exit delay after a manual `Arm()`.
    Arming,
    /// Motion raises an alert.
    Armed,
    /// Motion seen while armed: photos taken, deciding whether to alert.
    Verifying,
}

impl State {
    /// The bus spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Disabled => "disabled",
            State::Disarmed => "disarmed",
            State::Arming => "arming",
            State::Armed => "armed",
            State::Verifying => "verifying",
        }
    }

    /// Parse the bus spelling.
    pub fn parse(s: &str) -> Option<State> {
        Some(match s {
            "disabled" => State::Disabled,
            "disarmed" => State::Disarmed,
            "arming" => State::Arming,
            "armed" => State::Armed,
            "verifying" => State::Verifying,
            _ => return None,
        })
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An owner command that changes the alarm's state (`Alarm1.CommandAs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    /// `Arm()`
    Arm,
    /// `Disarm()`
    Disarm,
    /// `Enable()`
    Enable,
    /// `Disable()`
    Disable,
}

impl Command {
    /// The spelling used by `CommandAs` and in the history.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Arm => "arm",
            Command::Disarm => "disarm",
            Command::Enable => "enable",
            Command::Disable => "disable",
        }
    }

    /// Parse the spelling used by `CommandAs`.
    pub fn parse(s: &str) -> Option<Command> {
        Some(match s {
            "arm" => Command::Arm,
            "disarm" => Command::Disarm,
            "enable" => Command::Enable,
            "disable" => Command::Disable,
            _ => return None,
        })
    }
}

/// What a `Bot1.Post` message is; botd gives each kind its look (emoji, sound, buttons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// An intrusion alert: loud, with the Disarm / Disable / Photo buttons.
    Alert,
    /// More photos of an alert's event, as a reply to it: loud, no buttons.
    FollowUp,
    /// Something is wrong (a Trouble): loud.
    Trouble,
    /// A Trouble is over: loud.
    Resolved,
    /// A routine notice (state changes, arming, command results): silent.
    Notice,
    /// Photos kept as evidence though no alarm was raised (an arrival ended `verifying`):
    /// silent.
    Evidence,
}

impl MessageKind {
    /// Every kind, in the order of their outbox encoding.
    pub const ALL: [MessageKind; 6] = [
        MessageKind::Alert,
        MessageKind::FollowUp,
        MessageKind::Trouble,
        MessageKind::Resolved,
        MessageKind::Notice,
        MessageKind::Evidence,
    ];

    /// The spelling used by `Bot1.Post`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Alert => "alert",
            MessageKind::FollowUp => "followup",
            MessageKind::Trouble => "trouble",
            MessageKind::Resolved => "resolved",
            MessageKind::Notice => "notice",
            MessageKind::Evidence => "evidence",
        }
    }

    /// Parse the spelling used by `Bot1.Post`.
    pub fn parse(s: &str) -> Option<MessageKind> {
        MessageKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the owners' phones should stay silent for it.
    pub fn silent(self) -> bool {
        matches!(self, MessageKind::Notice | MessageKind::Evidence)
    }
}

/// `Alarm1.Devices` element, `(ssbt)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct AlarmDevice {
    /// Owner-given name ("Alice").
    pub name: String,
    /// `aa:bb:cc:dd:ee:ff`
    pub mac: String,
    /// Whether the device is taken to be at home.
    pub present: bool,
    /// Last sighting or ARP answer, 0 if never.
    pub last_seen: Micros,
}

/// `Presence1.Devices` element, `(sst)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct PresenceDevice {
    /// Owner-given name.
    pub name: String,
    /// `aa:bb:cc:dd:ee:ff`
    pub mac: String,
    /// Last frame from it, 0 if never.
    pub last_seen: Micros,
}

/// `Presence1.Probe` result element, `(sbs)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct ProbeAnswer {
    /// The MAC that was probed.
    pub mac: String,
    /// Whether an ARP reply came from that MAC.
    pub answered: bool,
    /// The IPv4 address it answered from, empty if unanswered.
    pub ip: String,
}

/// `Alarm1.History` element, `(tsss)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct HistoryEntry {
    /// When it happened.
    pub at: Micros,
    /// What kind of event: `state`, `command`, `motion`, `alert`, `trouble`, `presence`…
    pub kind: String,
    /// What happened, for a person.
    pub text: String,
    /// Who did it: the person's name with the ids beside it (`Alice (telegram:4242 via
    /// uid:110)`, `root (uid:0)`), else an id or a part (`uid:1234`, `system`, `sensor`).
    pub actor: String,
}

/// The name people read for a recorded actor: `Alice` of `Alice (telegram:4242 via uid:110)`,
/// `root` of `root (uid:0)`; an actor without ids in brackets (`uid:1234`, `system`) as it is.
pub fn actor_name(actor: &str) -> &str {
    actor
        .strip_suffix(')')
        .and_then(|a| a.rsplit_once(" ("))
        .map_or(actor, |(name, _)| name)
}

/// Whether a recorded actor is a person named with their ids (not `system`, `sensor`, or a
/// bare id).
pub fn actor_is_named(actor: &str) -> bool {
    actor_name(actor) != actor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_of_an_actor_is_the_person_not_the_ids() {
        assert_eq!(actor_name("Alice (telegram:4242 via uid:110)"), "Alice");
        assert_eq!(
            actor_name("Bob (home) (telegram:7 via uid:0)"),
            "Bob (home)"
        );
        assert_eq!(actor_name("root (uid:0)"), "root");
        assert_eq!(actor_name("telegram:42 (via uid:0)"), "telegram:42");
        assert_eq!(actor_name("uid:1234"), "uid:1234");
        assert!(!actor_is_named("system"));
        assert!(actor_is_named("root (uid:0)"));
    }

    #[test]
    fn state_spellings_round_trip() {
        for s in [
            State::Disabled,
            State::Disarmed,
            State::Arming,
            State::Armed,
            State::Verifying,
        ] {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        assert_eq!(State::parse("ARMED"), None);
    }

    #[test]
    fn wire_signatures_match_the_contract() {
        assert_eq!(AlarmDevice::SIGNATURE.to_string(), "(ssbt)");
        assert_eq!(PresenceDevice::SIGNATURE.to_string(), "(sst)");
        assert_eq!(ProbeAnswer::SIGNATURE.to_string(), "(sbs)");
        assert_eq!(HistoryEntry::SIGNATURE.to_string(), "(tsss)");
    }
}
