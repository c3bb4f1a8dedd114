//! The words of alerts, camera failures and start-up notices, in one place.

use super::{PhotoProblem, ProbeFailure, TroubleKey};
use secura_bus::State;
use secura_bus::names::Service;
use secura_bus::types::Micros;
use std::fmt;
use std::time::Duration;

/// `600_000_000` → `10m`.
pub fn dur(us: Micros) -> String {
    let secs = us / 1_000_000;
    if secs == 0 && us > 0 {
        return format!("{}ms", us / 1000);
    }
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

/// A person's name list: "Alice", "Alice and Bob", "Alice, Bob and Carol".
pub fn names(list: &[String]) -> String {
    match list {
        [] => "nobody".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The name people read for a recorded actor (`Alice` of `Alice (telegram:4242 via uid:110)`).
pub fn who(actor: &str) -> &str {
    secura_bus::types::actor_name(actor)
}

/// What an open trouble means for an armed system, in plain words; `None` for troubles that
/// do not weaken the watch.
fn weakens(key: TroubleKey) -> Option<&'static str> {
    Some(match key {
        TroubleKey::Camera | TroubleKey::Missing(Service::Camera) => {
            "the camera is not working: motion will be sent without photos"
        }
        TroubleKey::Sensor | TroubleKey::Missing(Service::Sensor) => {
            "the motion sensor is not working: motion will not be noticed"
        }
        TroubleKey::Missing(Service::Bot) | TroubleKey::Delivery => {
            "messages are not getting through: alerts may reach you late or not at all"
        }
        TroubleKey::StateUnsaved | TroubleKey::StateFile => {
            "the alarm state cannot be saved: a restart may forget that it is armed"
        }
        _ => return None,
    })
}

/// A notice of arming, `text` (without its full stop), with what the open troubles `keys`
/// mean for it: "Armed — but the camera is not working: motion will be sent without photos."
pub fn armed_notice<'a>(text: &str, keys: impl IntoIterator<Item = &'a TroubleKey>) -> String {
    let mut wrong: Vec<&str> = Vec::new();
    for w in keys.into_iter().filter_map(|k| weakens(*k)) {
        if !wrong.contains(&w) {
            wrong.push(w);
        }
    }
    if wrong.is_empty() {
        return format!("{text}.");
    }
    format!("{text} — but {}.", wrong.join("; and "))
}

/// `last_reason` of a machine that has never run before.
pub const FIRST_START: &str = "first start";

/// The caption the machine gives the alert of `event`.
pub fn alert_caption(event: u64) -> String {
    format!("Motion detected while armed (event {event})")
}

/// The message an alert goes out with: its caption, the local time of its motion `at`, and —
/// when no photo came — why not and where the photos are.
pub fn alert_message(
    caption: &str,
    at: Micros,
    event: u64,
    photos: usize,
    problems: &[PhotoProblem],
) -> String {
    // Composed within seconds of the motion, so the time of day says it all.
    let mut text = format!("{caption} at {}", secura_kit::time::local(at, at));
    if photos > 0 {
        return text;
    }
    let before_restart = !problems.is_empty()
        && problems
            .iter()
            .all(|p| matches!(p, PhotoProblem::BeforeRestart));
    if before_restart {
        text.push_str(&format!(
            "\n{}: they are kept on the Pi under camd's event {event}.",
            PhotoProblem::BeforeRestart
        ));
    } else {
        let why = if problems.is_empty() {
            "no photos".to_string()
        } else {
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        };
        text.push_str(&format!("\nThe camera failed: {why}."));
    }
    text
}

/// The caption of the photos of more motion within `alert_cooldown`, a reply to the alert.
pub const FOLLOW_UP: &str = "More motion";

/// The caption of the photos of a verify window that an arrival ended.
pub fn arrival_caption(name: &str, answered: bool, event: u64) -> String {
    let how = if answered { "answered" } else { "was sighted" };
    format!("{name}'s phone {how} — photos of event {event}")
}

/// The history row of an arrival that ended a verify window.
pub const ARRIVAL_RECORD: &str =
    "motion was an owner coming home: no alarm; the photos were sent to the owners";

/// The trouble of a device sighted while armed that does not answer ARP.
pub fn heard_but_silent(name: &str) -> String {
    format!("{name}'s phone is heard but does not answer — possible spoofing")
}

/// The trouble of a daemon that is not on the bus.
pub fn not_running(service: Service) -> String {
    format!("{} is not running", service.short())
}

/// The trouble of camd or sensord reporting itself unhealthy, with its `Fault` (never an
/// empty reason).
pub fn unhealthy(key: TroubleKey, fault: Option<&str>) -> String {
    let fault = fault.map(str::trim).filter(|f| !f.is_empty());
    format!("{key}: {}", fault.unwrap_or("not healthy"))
}

/// An alert the previous run decided but never handed to botd.
pub fn resent_alert(caption: &str, event: u64) -> String {
    format!(
        "{caption}\nalarmd restarted before this alert was sent; its photos are kept on the Pi \
         under camd's event {event}."
    )
}

/// The one notice after a crash or power cut.
pub fn unclean_stop(state: State) -> String {
    format!(
        "alarmd restarted after an unclean stop (crash or power cut); the alarm stayed {state}."
    )
}

/// `last_reason` after an unreadable state file.
pub const UNREADABLE_REASON: &str = "the saved state was unreadable: started disabled";

/// The trouble an unreadable state file raises.
pub fn unreadable_state(why: &str) -> String {
    format!(
        "the saved alarm state was unreadable ({why}), so the system started disabled; /enable \
         when ready"
    )
}

impl fmt::Display for PhotoProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhotoProblem::BeforeRestart => {
                f.write_str("the photos were taken before alarmd restarted")
            }
            PhotoProblem::Failed(why) => f.write_str(why),
            PhotoProblem::NoAnswer(d) => write!(f, "the camera did not answer within {d:?}"),
        }
    }
}

impl fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeFailure::Refused(why) => f.write_str(why),
            ProbeFailure::NoAnswer(d) => write!(f, "the sniffer did not answer within {d:?}"),
            ProbeFailure::Malformed(mac) => {
                write!(
                    f,
                    "the sniffer answered for {mac:?}, which is not a MAC address"
                )
            }
        }
    }
}

/// An alert whose album botd refused, sent again as text.
pub fn photos_refused(caption: &str, why: &str) -> String {
    format!("{caption}\nThe photos could not be sent ({why}); they are kept on the Pi.")
}

/// The trouble a message botd refused for good raises.
pub fn message_refused(why: &str) -> String {
    format!("a message to the owners was refused by botd and dropped: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arming_with_a_broken_camera_or_sensor_says_what_it_means() {
        assert_eq!(
            armed_notice("Armed", &[TroubleKey::Camera]),
            "Armed — but the camera is not working: motion will be sent without photos."
        );
        let both = [
            TroubleKey::Missing(Service::Camera),
            TroubleKey::Camera,
            TroubleKey::Sensor,
            TroubleKey::Mqtt,
        ];
        let t = armed_notice("Armed", &both);
        assert_eq!(
            t,
            "Armed — but the camera is not working: motion will be sent without photos; and \
             the motion sensor is not working: motion will not be noticed."
        );
        assert_eq!(armed_notice("Armed", &[TroubleKey::Mqtt]), "Armed.");
    }

    #[test]
    fn an_alert_without_photos_says_why_and_where_they_are() {
        let kept = alert_message("A", 0, 5, 0, &[PhotoProblem::BeforeRestart]);
        assert!(
            kept.ends_with(
                "before alarmd restarted: they are kept on the Pi under camd's event 5."
            ),
            "{kept}"
        );
        let failed = alert_message(
            "A",
            0,
            5,
            0,
            &[PhotoProblem::Failed("/dev/video0 vanished".into())],
        );
        assert!(
            failed.ends_with("\nThe camera failed: /dev/video0 vanished."),
            "{failed}"
        );
        // No photos and no reason is a camera failure, not "taken before a restart".
        let none = alert_message("A", 0, 5, 0, &[]);
        assert!(none.ends_with("\nThe camera failed: no photos."), "{none}");
        let at = 1_764_680_551_000_000; // 2025-12-02 13:02:31 UTC
        // Local time of day to the second, whatever the zone: "A at 14:02:31".
        let with_photos = alert_message("A", at, 5, 2, &[]);
        let time = with_photos.strip_prefix("A at ").unwrap();
        assert!(
            time.len() == 8 && time.chars().all(|c| c.is_ascii_digit() || c == ':'),
            "{with_photos}"
        );
        assert!(time.ends_with(":31"), "{with_photos}");
    }
}
