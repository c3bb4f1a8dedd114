//! Commands from Home Assistant (DESIGN §8, §10): parsed from untrusted payloads without
//! panicking, size-limited, and only from the topics mqttd subscribed to for them.

use crate::topics::Topics;

/// Command payloads are a few dozen bytes; anything larger is dropped unread.
pub const MAX_COMMAND_PAYLOAD: usize = 256;

/// What Home Assistant asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The alarm panel's `ARM_AWAY`, with the code if it sent one.
    ArmAway(Option<String>),
    /// The alarm panel's `DISARM`, with the code if it sent one.
    Disarm(Option<String>),
    /// The auto-arm switch turned on: `Enable`.
    Enable,
    /// The auto-arm switch turned off: `Disable`.
    Disable,
    /// "Take photo".
    Photo,
}

impl Command {
    /// The `Alarm1.CommandAs` command it relays, if any (`Photo` is a snapshot instead).
    pub fn alarm_command(&self) -> Option<&'static str> {
        match self {
            Command::ArmAway(_) => Some("arm"),
            Command::Disarm(_) => Some("disarm"),
            Command::Enable => Some("enable"),
            Command::Disable => Some("disable"),
            Command::Photo => None,
        }
    }

    /// The code that came with it (alarm panel commands only).
    pub fn code(&self) -> Option<&str> {
        match self {
            Command::ArmAway(c) | Command::Disarm(c) => c.as_deref(),
            _ => None,
        }
    }
}

/// Why a message on a command topic was dropped (for the log and the counter; never
/// includes the payload, which may hold a code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Over [`MAX_COMMAND_PAYLOAD`].
    Oversized,
    /// Not a command this topic takes.
    Malformed,
    /// Not one of the command topics.
    UnknownTopic,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Coded {
    action: String,
    #[serde(default)]
    code: Option<String>,
}

/// Parse a message on one of the command topics of `t`.
pub fn parse(t: &Topics, topic: &str, payload: &[u8]) -> Result<Command, Dropped> {
    if payload.len() > MAX_COMMAND_PAYLOAD {
        return Err(Dropped::Oversized);
    }
    let text = std::str::from_utf8(payload)
        .map_err(|_| Dropped::Malformed)?
        .trim();
    if topic == t.alarm_set() {
        let (action, code) = if text.starts_with('{') {
            let c: Coded = serde_json::from_str(text).map_err(|_| Dropped::Malformed)?;
            // Home Assistant renders a missing code as an empty string.
            (c.action, c.code.filter(|c| !c.is_empty()))
        } else {
            (text.to_string(), None)
        };
        return match action.as_str() {
            "ARM_AWAY" => Ok(Command::ArmAway(code)),
            "DISARM" => Ok(Command::Disarm(code)),
            _ => Err(Dropped::Malformed),
        };
    }
    if topic == t.autoarm_set() {
        return match text {
            "ON" => Ok(Command::Enable),
            "OFF" => Ok(Command::Disable),
            _ => Err(Dropped::Malformed),
        };
    }
    if topic == t.photo_press() {
        return match text {
            "PRESS" => Ok(Command::Photo),
            _ => Err(Dropped::Malformed),
        };
    }
    Err(Dropped::UnknownTopic)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Topics {
        Topics::new("hall", "homeassistant")
    }

    #[test]
    fn plain_and_coded_panel_commands_parse() {
        let t = t();
        assert_eq!(
            parse(&t, &t.alarm_set(), b"ARM_AWAY"),
            Ok(Command::ArmAway(None))
        );
        assert_eq!(
            parse(
                &t,
                &t.alarm_set(),
                br#"{"action": "DISARM", "code": "4711"}"#
            ),
            Ok(Command::Disarm(Some("4711".into())))
        );
        assert_eq!(
            parse(&t, &t.alarm_set(), br#"{"action": "DISARM", "code": ""}"#),
            Ok(Command::Disarm(None))
        );
        assert_eq!(parse(&t, &t.autoarm_set(), b"OFF"), Ok(Command::Disable));
        assert_eq!(parse(&t, &t.photo_press(), b"PRESS"), Ok(Command::Photo));
    }

    #[test]
    fn malformed_and_oversized_payloads_are_dropped_without_panicking() {
        let t = t();
        for bad in [
            &b"ARM_HOME"[..],
            b"{\"action\": 3}",
            b"{\"action\": \"DISARM\", \"x\": 1}",
            b"{",
            b"\xff\xfe",
            b"",
        ] {
            assert_eq!(parse(&t, &t.alarm_set(), bad), Err(Dropped::Malformed));
        }
        let big = vec![b'A'; MAX_COMMAND_PAYLOAD + 1];
        assert_eq!(parse(&t, &t.alarm_set(), &big), Err(Dropped::Oversized));
        assert_eq!(parse(&t, &t.autoarm_set(), b"on"), Err(Dropped::Malformed));
        assert_eq!(
            parse(&t, "secura/hall/other", b"ON"),
            Err(Dropped::UnknownTopic)
        );
    }
}
