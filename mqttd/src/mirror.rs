//! What Home Assistant is shown of the alarm (DESIGN §10): alarmd's state mapped onto the
//! alarm panel's states, its attributes, the troubles and the phones. Pure: the bridge feeds
//! it what alarmd says and publishes what it returns.

use crate::topics::Topics;
use serde_json::json;

/// The panel's state for alarmd's `State`, or `triggered` while an alert is recent.
pub fn panel_state(state: &str, triggered: bool) -> &'static str {
    if triggered {
        return "triggered";
    }
    match state {
        "arming" => "arming",
        "armed" => "armed_away",
        "verifying" => "pending",
        // `disabled` shows as disarmed; the auto-arm switch says it is off.
        _ => "disarmed",
    }
}

/// The name of a person (or of what) changed the state, from a history actor such as
/// `Alice (telegram:42 via uid:998)`, `root (uid:0)`, `system`, or one recorded before
/// alarmd named people: `uid:1000`, `telegram:42 (via uid:998)`,
/// `mqtt:home-assistant (via uid:997)`.
pub fn changed_by(actor: &str, user_name: impl Fn(u32) -> Option<String>) -> String {
    let first = secura_bus::types::actor_name(actor);
    if first == "system" {
        return "presence".into();
    }
    if first == "mqtt:home-assistant" {
        return "Home Assistant".into();
    }
    if let Some(uid) = first
        .strip_prefix("uid:")
        .and_then(|u| u.parse::<u32>().ok())
    {
        return user_name(uid).unwrap_or_else(|| first.to_string());
    }
    if let Some(id) = first.strip_prefix("telegram:") {
        return format!("Telegram user {id}");
    }
    first.to_string()
}

/// The actor of the last change someone made, from history entries (kind, text, actor),
/// newest first. The system's own follow-ups (`arming → armed` when the exit delay is over,
/// `verifying → armed`) belong to whoever started them, so they are passed over.
pub fn last_changer<'a>(history: impl Iterator<Item = (&'a str, &'a str, &'a str)>) -> String {
    history
        .filter(|(kind, _, _)| *kind == "state")
        .find(|(_, text, actor)| {
            !(*actor == "system"
                && (text.starts_with("arming → ") || text.starts_with("verifying → ")))
        })
        .map(|(_, _, actor)| actor.to_string())
        .unwrap_or_default()
}

/// One retained message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
}

fn msg(topic: String, payload: impl Into<Vec<u8>>) -> Message {
    Message {
        topic,
        payload: payload.into(),
    }
}

/// What alarmd says, as mqttd last read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Alarm {
    /// `State`
    pub state: String,
    /// `LastReason`
    pub reason: String,
    /// Who made the last change, for people.
    pub changed_by: String,
    /// `Troubles`
    pub troubles: Vec<String>,
    /// (mac, present) of each phone.
    pub phones: Vec<(String, bool)>,
    /// Whether an alert went out within `alert_cooldown`.
    pub triggered: bool,
}

/// Home Assistant has at most 255 characters of sensor state.
const STATE_LIMIT: usize = 255;

fn troubles_text(troubles: &[String]) -> String {
    if troubles.is_empty() {
        return "none".into();
    }
    let all = troubles.join("; ");
    if all.len() <= STATE_LIMIT {
        return all;
    }
    let mut cut = STATE_LIMIT - 1;
    while !all.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", all.get(..cut).unwrap_or(""))
}

/// The retained state messages for `a` (the image is published separately).
pub fn messages(t: &Topics, a: &Alarm) -> Vec<Message> {
    let mut out = vec![
        msg(t.alarm_state(), panel_state(&a.state, a.triggered)),
        msg(
            t.alarm_attributes(),
            json!({
                "reason": a.reason,
                "changed_by": a.changed_by,
                "troubles": a.troubles,
                "state": a.state,
            })
            .to_string(),
        ),
        msg(
            t.autoarm_state(),
            if a.state == "disabled" { "OFF" } else { "ON" },
        ),
        msg(
            t.troubles(),
            json!({
                "count": a.troubles.len(),
                "text": troubles_text(&a.troubles),
                "troubles": a.troubles,
            })
            .to_string(),
        ),
    ];
    for (mac, present) in &a.phones {
        out.push(msg(
            t.phone_state(mac),
            if *present { "home" } else { "not_home" },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarm_states_map_as_the_design_says() {
        for (state, want) in [
            ("disabled", "disarmed"),
            ("disarmed", "disarmed"),
            ("arming", "arming"),
            ("armed", "armed_away"),
            ("verifying", "pending"),
        ] {
            assert_eq!(panel_state(state, false), want, "{state}");
        }
        assert_eq!(panel_state("armed", true), "triggered");
    }

    #[test]
    fn changed_by_names_people_not_ids() {
        let names = |uid| (uid == 1000).then(|| "alice".to_string());
        assert_eq!(changed_by("uid:1000", names), "alice");
        assert_eq!(changed_by("uid:5", names), "uid:5");
        assert_eq!(
            changed_by("mqtt:home-assistant (via uid:997)", names),
            "Home Assistant"
        );
        assert_eq!(changed_by("system", names), "presence");
        assert_eq!(
            changed_by("telegram:42 (via uid:998)", names),
            "Telegram user 42"
        );
        // As alarmd records them now: the name first, the ids beside it.
        assert_eq!(
            changed_by("Alice (telegram:42 via uid:998)", names),
            "Alice"
        );
        assert_eq!(changed_by("root (uid:0)", names), "root");
        assert_eq!(
            changed_by("Home Assistant (mqtt:home-assistant via uid:997)", names),
            "Home Assistant"
        );
    }

    #[test]
    fn the_exit_delay_ending_does_not_hide_who_armed() {
        let h = [
            (
                "state",
                "arming → armed: armed by hand: exit delay over",
                "system",
            ),
            ("command", "arm", "mqtt:home-assistant (via uid:0)"),
            (
                "state",
                "disarmed → arming: armed by hand",
                "mqtt:home-assistant (via uid:0)",
            ),
        ];
        assert_eq!(
            last_changer(h.into_iter()),
            "mqtt:home-assistant (via uid:0)"
        );
        let auto = [("state", "disarmed → armed: nobody seen for 10m", "system")];
        assert_eq!(last_changer(auto.into_iter()), "system");
    }

    #[test]
    fn a_long_troubles_text_is_cut_to_what_home_assistant_accepts() {
        let long = vec!["é".repeat(300)];
        let text = troubles_text(&long);
        assert!(text.len() <= STATE_LIMIT + '…'.len_utf8());
        assert!(text.ends_with('…'));
        assert_eq!(troubles_text(&[]), "none");
    }

    #[test]
    fn disabled_turns_the_auto_arm_switch_off() {
        let t = Topics::new("hall", "homeassistant");
        let a = Alarm {
            state: "disabled".into(),
            phones: vec![("a4:5e:60:00:00:01".into(), true)],
            ..Alarm::default()
        };
        let m = messages(&t, &a);
        assert!(m.contains(&msg(t.autoarm_state(), "OFF")));
        assert!(m.contains(&msg(t.alarm_state(), "disarmed")));
        assert!(m.contains(&msg(t.phone_state("a4:5e:60:00:00:01"), "home")));
    }
}
