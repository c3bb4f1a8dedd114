//! The texts of `/status`, `/who` and `/history`, built from what alarmd publishes. Pure
//! functions of the data and the time, so they are tested without a bus.

use secura_bus::proxies::Alarm1Proxy;
use secura_bus::{AlarmDevice, HistoryEntry};
use std::time::Duration;

/// Telegram refuses texts longer than this (in UTF-16 units; characters are a safe bound
/// below it once cut at 4000).
pub const MAX_TEXT: usize = 4000;

/// What alarmd publishes about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlarmView {
    /// `State`.
    pub state: String,
    /// `LastChange`.
    pub last_change: u64,
    /// `LastReason`.
    pub last_reason: String,
    /// `Home`.
    pub home: bool,
    /// `Devices`.
    pub devices: Vec<AlarmDevice>,
    /// `Troubles`.
    pub troubles: Vec<String>,
}

/// Read every property `/status` shows.
pub async fn read_view(alarm: &Alarm1Proxy<'_>) -> zbus::Result<AlarmView> {
    Ok(AlarmView {
        state: alarm.state().await?,
        last_change: alarm.last_change().await?,
        last_reason: alarm.last_reason().await?,
        home: alarm.home().await?,
        devices: alarm.devices().await?,
        troubles: alarm.troubles().await?,
    })
}

/// A time as people read it at `now` (local time: `14:02:31` today, `Tue 2 Dec 14:02`
/// otherwise), or "never" for 0.
pub fn when(t: u64, now: u64) -> String {
    if t == 0 {
        return "never".into();
    }
    secura_kit::time::local(t, now)
}

/// How long before `now` the time `t` was, as "5m ago", or "never".
pub fn ago(now: u64, t: u64) -> String {
    if t == 0 {
        return "never".into();
    }
    let secs = now.saturating_sub(t) / 1_000_000;
    let rounded = match secs {
        s if s >= 86_400 => s - s % 3600,
        s if s >= 3600 => s - s % 60,
        s => s,
    };
    format!(
        "{} ago",
        humantime::format_duration(Duration::from_secs(rounded))
    )
    .replace("0s ago", "just now")
}

/// Whether the camera is watching, as alarmd drives it (on while arming, armed or verifying;
/// off otherwise, unless `[camera] always_on`). Derived from `State`: botd reads Alarm1 only.
pub fn camera_line(v: &AlarmView, always_on: bool) -> &'static str {
    let watching = always_on || matches!(v.state.as_str(), "arming" | "armed" | "verifying");
    if watching {
        "camera: watching\n"
    } else if v.state == "disarmed" && v.home {
        "camera: off (someone is home)\n"
    } else {
        "camera: off\n"
    }
}

/// The `/status` text; `always_on` is `[camera] always_on`.
pub fn status_text(v: &AlarmView, outbox: u32, now: u64, always_on: bool) -> String {
    let mut s = format!("State: {}", v.state);
    if v.last_change != 0 {
        s.push_str(&format!(
            " since {} ({})",
            when(v.last_change, now),
            ago(now, v.last_change)
        ));
    }
    s.push('\n');
    if !v.last_reason.is_empty() {
        s.push_str(&format!("Why: {}\n", v.last_reason));
    }
    s.push_str(if v.home {
        "Someone is home.\n"
    } else {
        "Nobody is home.\n"
    });
    s.push_str(camera_line(v, always_on));
    s.push_str(&who_lines(&v.devices, now));
    if v.troubles.is_empty() {
        s.push_str("No troubles.\n");
    } else {
        s.push_str("Troubles:\n");
        for t in &v.troubles {
            s.push_str(&format!("• {t}\n"));
        }
    }
    s.push_str(&format!("Outbox: {outbox} waiting\n"));
    cut(s)
}

/// The `/who` text.
pub fn who_text(devices: &[AlarmDevice], now: u64) -> String {
    if devices.is_empty() {
        return "No devices are configured ([[presence.devices]] in the configuration).".into();
    }
    cut(who_lines(devices, now))
}

fn who_lines(devices: &[AlarmDevice], now: u64) -> String {
    let mut s = String::new();
    for d in devices {
        let here = if d.present { "home" } else { "away" };
        let seen = match d.last_seen {
            0 => "never".to_string(),
            t => format!("{} ({})", when(t, now), ago(now, t)),
        };
        s.push_str(&format!("• {}: {here}, last seen {seen}\n", d.name));
    }
    s
}

/// The `/history` text at `now`.
pub fn history_text(entries: &[HistoryEntry], now: u64) -> String {
    if entries.is_empty() {
        return "No events recorded yet.".into();
    }
    let mut s = String::new();
    for e in entries {
        s.push_str(&format!("{} {}: {}", when(e.at, now), e.kind, e.text));
        // The person, once: a state change's text already says "by Alice".
        let name = secura_bus::types::actor_name(&e.actor);
        if secura_bus::types::actor_is_named(&e.actor) && !e.text.contains(name) {
            s.push_str(&format!(" — by {name}"));
        }
        s.push('\n');
    }
    cut(s)
}

/// Cut a text to what one Telegram message holds.
pub fn cut(s: String) -> String {
    if s.chars().count() <= MAX_TEXT {
        return s;
    }
    let mut out: String = s.chars().take(MAX_TEXT - 2).collect();
    out.push_str(" …");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;
    const NOW: u64 = 1_764_000_000 * S;

    fn alice(present: bool) -> AlarmDevice {
        AlarmDevice {
            name: "Alice".into(),
            mac: "aa:bb:cc:dd:ee:ff".into(),
            present,
            last_seen: NOW - 300 * S,
        }
    }

    #[test]
    fn status_says_state_since_why_who_troubles_and_outbox() {
        let v = AlarmView {
            state: "armed".into(),
            last_change: NOW - 600 * S,
            last_reason: "nobody seen for 10m".into(),
            home: false,
            devices: vec![alice(false)],
            troubles: vec!["camd is not running".into()],
        };
        let t = status_text(&v, 3, NOW, false);
        let since = format!(
            "State: armed since {} (10m ago)",
            secura_kit::time::local(NOW - 600 * S, NOW)
        );
        assert!(t.contains(&since), "{t}");
        assert!(!t.contains("UTC"), "{t}");
        assert!(t.contains("Why: nobody seen for 10m"), "{t}");
        let seen = format!(
            "Alice: away, last seen {} (5m ago)",
            secura_kit::time::local(NOW - 300 * S, NOW)
        );
        assert!(t.contains(&seen), "{t}");
        assert!(t.contains("camd is not running"), "{t}");
        assert!(t.contains("Outbox: 3 waiting"), "{t}");
    }

    #[test]
    fn status_says_the_camera_is_off_while_someone_is_home_and_watching_while_armed() {
        let mut v = AlarmView {
            state: "disarmed".into(),
            last_change: 0,
            last_reason: String::new(),
            home: true,
            devices: vec![alice(true)],
            troubles: vec![],
        };
        let t = status_text(&v, 0, NOW, false);
        assert!(t.contains("camera: off (someone is home)\n"), "{t}");
        assert!(status_text(&v, 0, NOW, true).contains("camera: watching\n"));
        v.state = "disabled".into();
        assert!(status_text(&v, 0, NOW, false).contains("camera: off\n"));
        for state in ["arming", "armed", "verifying"] {
            v.state = state.into();
            assert!(
                status_text(&v, 0, NOW, false).contains("camera: watching\n"),
                "{state}"
            );
        }
    }

    #[test]
    fn never_seen_devices_and_empty_history_read_well() {
        let mut d = alice(true);
        d.last_seen = 0;
        assert!(who_text(&[d], NOW).contains("home, last seen never"));
        assert_eq!(history_text(&[], NOW), "No events recorded yet.");
    }

    #[test]
    fn absurd_times_are_shown_not_panicked_on() {
        assert_eq!(when(u64::MAX, NOW), "18446744073709551615 µs after 1970");
        assert_eq!(when(0, NOW), "never");
        assert_eq!(ago(1, u64::MAX), "just now");
    }

    #[test]
    fn history_names_the_person_once_and_never_the_ids() {
        let entry = |kind: &str, text: &str, actor: &str| HistoryEntry {
            at: NOW - 60 * S,
            kind: kind.into(),
            text: text.into(),
            actor: actor.into(),
        };
        let t = history_text(
            &[
                entry(
                    "state",
                    "disarmed → arming: armed by hand by Alice; exit delay 30s",
                    "Alice (telegram:4242 via uid:110)",
                ),
                entry("command", "arm", "Alice (telegram:4242 via uid:110)"),
                entry("command", "snapshot taken", "root (uid:0)"),
                entry("motion", "motion while armed: event 1", "sensor"),
            ],
            NOW,
        );
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].ends_with("exit delay 30s"), "{t}");
        assert_eq!(lines[0].matches("Alice").count(), 1, "{t}");
        assert!(lines[1].ends_with("command: arm — by Alice"), "{t}");
        assert!(lines[2].ends_with("snapshot taken — by root"), "{t}");
        assert!(lines[3].ends_with("event 1"), "{t}");
        assert!(!t.contains("telegram:") && !t.contains("uid:"), "{t}");
    }

    #[test]
    fn long_texts_are_cut_to_one_message() {
        let entries: Vec<HistoryEntry> = (0..500)
            .map(|i| HistoryEntry {
                at: NOW,
                kind: "state".into(),
                text: format!("event {i} {}", "x".repeat(50)),
                actor: "system".into(),
            })
            .collect();
        assert!(history_text(&entries, NOW).chars().count() <= MAX_TEXT);
    }
}
