//! One test per row of DESIGN §5's transition table, with injected time.

use super::*;
use secura_bus::names::Service;

const S: Micros = 1_000_000;
const T0: Micros = 1_700_000_000 * S;
const ALICE: MacAddr = MacAddr([0xa4, 0x5e, 0x60, 0, 0, 1]);
const BOB: MacAddr = MacAddr([0xa4, 0x5e, 0x60, 0, 0, 2]);
const BOOT: &str = "boot-1";

/// Both clocks at `us`, as when the wall clock is right.
fn t(us: Micros) -> Now {
    Now {
        mono: Mono(us),
        wall: us,
    }
}

fn settings() -> Settings {
    Settings {
        away_after: 600 * S,
        probe_attempts: 3,
        exit_delay: 30 * S,
        verify: 10 * S,
        alert_cooldown: 60 * S,
        disarm_requires: DisarmRequires::Arp,
    }
}

fn devices() -> Vec<(String, MacAddr)> {
    vec![("Alice".into(), ALICE), ("Bob".into(), BOB)]
}

fn machine() -> Machine {
    Machine::new(settings(), &devices(), t(T0))
}

fn cmd(c: Command) -> Event {
    Event::Command {
        cmd: c,
        actor: "uid:1000".into(),
    }
}

fn probes(out: &Outcome) -> Vec<(u64, Vec<MacAddr>)> {
    out.actions
        .iter()
        .filter_map(|a| match a {
            Action::Probe { id, macs } => Some((*id, macs.clone())),
            _ => None,
        })
        .collect()
}

fn notices(out: &Outcome) -> Vec<String> {
    out.actions
        .iter()
        .filter_map(|a| match a {
            Action::Notify(_, t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// The events of the photo messages of `kind` (alerts, follow-ups, evidence).
fn sent(out: &Outcome, want: MessageKind) -> Vec<u64> {
    out.actions
        .iter()
        .filter_map(|a| match a {
            Action::Alert { kind, event, .. } if *kind == want => Some(*event),
            _ => None,
        })
        .collect()
}

fn alerts(out: &Outcome) -> Vec<u64> {
    sent(out, MessageKind::Alert)
}

fn captures(out: &Outcome) -> Vec<u64> {
    out.actions
        .iter()
        .filter_map(|a| match a {
            Action::Capture { event } => Some(*event),
            _ => None,
        })
        .collect()
}

fn answers(macs: &[MacAddr], answered: Option<(MacAddr, &str)>) -> Vec<Answer> {
    macs.iter()
        .map(|m| match answered {
            Some((who, ip)) if who == *m => Answer {
                mac: *m,
                answered: true,
                ip: ip.into(),
            },
            _ => Answer {
                mac: *m,
                answered: false,
                ip: String::new(),
            },
        })
        .collect()
}

/// Drive a fresh machine to automatic `armed` the way the table says: away timer, then
/// `probe_attempts` unanswered probes. Returns the time it armed.
fn auto_armed(m: &mut Machine) -> Micros {
    let now = m.next_deadline().unwrap().0;
    let mut out = m.step(Event::Tick, t(now));
    for _ in 0..3 {
        let (id, macs) = probes(&out).pop().expect("a probe");
        out = m.step(
            Event::ProbeDone {
                id,
                outcome: Ok(answers(&macs, None)),
            },
            t(now),
        );
    }
    assert_eq!(m.state(), State::Armed);
    now
}

#[test]
fn disable_from_every_state_but_disabled_notifies() {
    for setup in 0..4 {
        let mut m = machine();
        let mut now = T0;
        match setup {
            0 => {}
            1 => {
                m.step(cmd(Command::Arm), t(now));
            }
            2 => now = auto_armed(&mut m),
            _ => {
                now = auto_armed(&mut m);
                m.step(Event::Motion, t(now));
                assert_eq!(m.state(), State::Verifying);
            }
        }
        let out = m.step(cmd(Command::Disable), t(now + S));
        assert_eq!(m.state(), State::Disabled, "setup {setup}");
        assert_eq!(notices(&out).len(), 1);
        assert!(notices(&out)[0].starts_with("Disabled — by uid:1000"));
        assert_eq!(m.next_deadline(), None);
    }
}

#[test]
fn disabled_ignores_time_motion_and_sightings() {
    let mut m = machine();
    m.step(cmd(Command::Disable), t(T0));
    let out = m.step(Event::Tick, t(T0 + 10_000 * S));
    assert!(out.actions.is_empty());
    let out = m.step(Event::Motion, t(T0 + 10_000 * S));
    assert!(out.actions.is_empty());
    assert_eq!(m.state(), State::Disabled);
}

#[test]
fn enable_goes_to_disarmed_and_applies_presence_rules_at_once() {
    let mut m = machine();
    m.step(cmd(Command::Disable), t(T0));
    let out = m.step(cmd(Command::Enable), t(T0 + 3600 * S));
    assert_eq!(m.state(), State::Disarmed);
    assert!(notices(&out)[0].starts_with("Enabled — by uid:1000"));
    // Nobody has been seen for an hour: the away probe starts in the same step.
    assert_eq!(probes(&out).len(), 1);
}

#[test]
fn nobody_seen_for_away_after_then_unanswered_probes_arm_with_reason() {
    let mut m = machine();
    assert_eq!(m.next_deadline(), Some(Mono(T0 + 600 * S)));
    assert!(probes(&m.step(Event::Tick, t(T0 + 599 * S))).is_empty());
    let now = T0 + 600 * S;
    let mut out = m.step(Event::Tick, t(now));
    for attempt in 1..=3 {
        let (id, macs) = probes(&out)
            .pop()
            .unwrap_or_else(|| panic!("probe {attempt}"));
        assert_eq!(macs, vec![ALICE, BOB]);
        assert_eq!(m.state(), State::Disarmed);
        out = m.step(
            Event::ProbeDone {
                id,
                outcome: Ok(answers(&macs, None)),
            },
            t(now),
        );
    }
    assert_eq!(m.state(), State::Armed);
    assert_eq!(
        notices(&out),
        vec!["Armed: nobody seen for 10m, 3/3 ARP probes unanswered.".to_string()]
    );
    assert_eq!(
        m.last_reason,
        "nobody seen for 10m, 3/3 ARP probes unanswered"
    );
    assert!(!m.home());
}

#[test]
fn answered_away_probe_keeps_disarmed_and_refreshes_presence_without_notice() {
    let mut m = machine();
    let now = T0 + 600 * S;
    let out = m.step(Event::Tick, t(now));
    let (id, macs) = probes(&out).pop().unwrap();
    let out = m.step(
        Event::ProbeDone {
            id,
            outcome: Ok(answers(&macs, Some((BOB, "192.168.1.23")))),
        },
        t(now),
    );
    assert_eq!(m.state(), State::Disarmed);
    assert!(notices(&out).is_empty());
    assert!(probes(&out).is_empty());
    assert!(m.home());
    assert_eq!(m.devices[1].ip, "192.168.1.23");
    // The away timer restarts from Bob's answer.
    assert_eq!(m.next_deadline(), Some(Mono(now + 600 * S)));
}

#[test]
fn sightings_without_an_arp_answer_do_not_postpone_the_away_probe() {
    let mut m = machine();
    // A forged frame from Alice's MAC every few seconds (it never answers ARP).
    for k in 0..300 {
        m.step(
            Event::Sighting {
                mac: ALICE,
                source: "lan:wlan0".into(),
            },
            t(T0 + k * 2 * S),
        );
    }
    assert!(
        m.home(),
        "a sighting still counts as being home while disarmed"
    );
    assert_eq!(m.next_deadline(), Some(Mono(T0 + 600 * S)), "not postponed");
    let out = m.step(Event::Tick, t(T0 + 600 * S));
    assert_eq!(probes(&out).len(), 1, "the away probe goes out on time");
}

#[test]
fn a_device_heard_while_armed_that_does_not_answer_is_a_trouble_until_it_answers() {
    let mut m = machine();
    let now = auto_armed(&mut m) + 10 * S;
    let out = m.step(
        Event::Sighting {
            mac: ALICE,
            source: "lan:wlan0".into(),
        },
        t(now),
    );
    let (id, macs) = probes(&out).pop().unwrap();
    let out = m.step(
        Event::ProbeDone {
            id,
            outcome: Ok(answers(&macs, None)),
        },
        t(now + S),
    );
    assert_eq!(m.state(), State::Armed);
    let want = "Alice's phone is heard but does not answer — possible spoofing";
    assert_eq!(
        m.troubles
            .get(&TroubleKey::Unanswered(ALICE))
            .map(String::as_str),
        Some(want)
    );
    assert!(
        notices(&out)
            .iter()
            .any(|n| n.starts_with(&format!("Trouble: {want}.")))
    );
    // Alice comes home for real: her answer clears it.
    let out = m.step(
        Event::Sighting {
            mac: ALICE,
            source: "lan:wlan0".into(),
        },
        t(now + 60 * S),
    );
    let (id, macs) = probes(&out).pop().unwrap();
    let out = m.step(
        Event::ProbeDone {
            id,
            outcome: Ok(answers(&macs, Some((ALICE, "192.168.1.5")))),
        },
        t(now + 61 * S),
    );
    assert_eq!(m.state(), State::Disarmed);
    assert!(m.troubles.is_empty());
    assert!(
        notices(&out)
            .iter()
            .any(|n| n.starts_with(&format!("Resolved: {want}.")))
    );
}

#[test]
fn arp_confirmed_sighting_disarms_with_the_ip_in_the_notice() {
    let mut m = machine();
    let now = auto_armed(&mut m) + 100 * S;
    let out = m.step(
        Event::Sighting {
            mac: MacAddr::parse(&ALICE.to_string().to_uppercase()).unwrap(),
            source: "lan:wlan0".into(),
        },
        t(now),
    );
    assert_eq!(
        m.state(),
        State::Armed,
        "radio evidence alone never disarms"
    );
    let (id, macs) = probes(&out).pop().unwrap();
    assert_eq!(macs, vec![ALICE]);
    let out = m.step(
        Event::ProbeDone {
            id,
            outcome: Ok(answers(&macs, Some((ALICE, "192.168.1.23")))),
        },
        t(now + S),
    );
    assert_eq!(m.state(), State::Disarmed);
    assert_eq!(
        notices(&out),
        vec!["Disarmed: Alice arrived (ARP answer from 192.168.1.23).".to_string()]
    );
}

#[test]
fn sighting_without_arp_answer_does_not_disarm() {
    let mut m = machine();
    let now = auto_armed(&mut m) + 100 * S;
    let out = m.step(
        Event::Sighting {
            mac: ALICE,
            source: "monitor:mon0".into(),
        },
        t(now),
    );
    let (id, macs) = probes(&out).pop().unwrap();
    let out = m.step(
        Event::ProbeDone {
            id,
            outcome: Ok(answers(&macs, None)),
        },
        t(now + 2 * S),
    );
    assert_eq!(m.state(), State::Armed);
    // Only the trouble that it was heard but did not answer.
    assert_eq!(
        notices(&out),
        vec![
            "Trouble: Alice's phone is heard but does not answer — possible spoofing. The \
             system is ARMED: an intrusion may go unseen or unreported."
                .to_string()
        ]
    );
    assert!(out.actions.iter().any(|a| matches!(a,
        Action::Record(Row { kind: Kind::Presence, text, .. }) if text.contains("unconfirmed sighting of Alice"))));
}

#[test]
fn sighting_while_a_probe_is_in_flight_is_probed_next() {
    let mut m = machine();
    let now = auto_armed(&mut m) + 100 * S;
    let out = m.step(
        Event::Sighting {
            mac: ALICE,
            source: "lan:wlan0".into(),
        },
        t(now),
    );
    let (id, macs) = probes(&out).pop().unwrap();
    assert!(
        probes(&m.step(
            Event::Sighting {
                mac: BOB,
                source: "lan:wlan0".into()
            },
            t(now)
        ))
        .is_empty()
    );
    let out = m.step(
        Event::ProbeDone {
            id,
            outcome: Ok(answers(&macs, None)),
        },
        t(now + S),
    );
    assert_eq!(probes(&out).pop().unwrap().1, vec![BOB]);
}

#[test]
fn disarm_requires_sighting_restores_the_original_behaviour() {
    let mut m = Machine::new(
        Settings {
            disarm_requires: DisarmRequires::Sighting,
            ..settings()
        },
        &devices(),
        t(T0),
    );
    let now = auto_armed(&mut m) + S;
    let out = m.step(
        Event::Sighting {
            mac: BOB,
            source: "lan:wlan0".into(),
        },
        t(now),
    );
    assert_eq!(m.state(), State::Disarmed);
    assert!(probes(&out).is_empty());
    assert!(notices(&out)[0].contains("Bob arrived"));
}

#[test]
fn manual_arm_goes_through_arming_to_armed_after_exit_delay() {
    let mut m = machine();
    let out = m.step(cmd(Command::Arm), t(T0));
    assert_eq!(m.state(), State::Arming);
    assert!(notices(&out)[0].contains("armed in 30s"));
    assert_eq!(m.next_deadline(), Some(Mono(T0 + 30 * S)));
    m.step(Event::Tick, t(T0 + 29 * S));
    assert_eq!(m.state(), State::Arming);
    let out = m.step(Event::Tick, t(T0 + 30 * S));
    assert_eq!(m.state(), State::Armed);
    assert_eq!(m.mode, Mode::Armed { manual: true });
    assert!(out.actions.iter().any(|a| matches!(
        a,
        Action::StateChanged {
            old: State::Arming,
            new: State::Armed,
            ..
        }
    )));
}

#[test]
fn manual_arm_is_never_disarmed_by_presence() {
    let mut m = machine();
    m.step(cmd(Command::Arm), t(T0));
    m.step(Event::Tick, t(T0 + 30 * S));
    let out = m.step(
        Event::Sighting {
            mac: ALICE,
            source: "lan:wlan0".into(),
        },
        t(T0 + 40 * S),
    );
    assert!(probes(&out).is_empty());
    assert_eq!(m.state(), State::Armed);
}

#[test]
fn arm_while_armed_automatically_holds_it() {
    let mut m = machine();
    let now = auto_armed(&mut m);
    m.step(cmd(Command::Arm), t(now));
    assert_eq!(m.mode, Mode::Armed { manual: true });
}

#[test]
fn arm_while_a_trouble_is_open_arms_all_the_same_and_says_what_is_wrong() {
    let mut m = machine();
    m.step(
        Event::Trouble {
            key: TroubleKey::Camera,
            text: Some("camera: /dev/video0 vanished".into()),
        },
        t(T0),
    );
    let out = m.step(cmd(Command::Arm), t(T0 + S));
    assert_eq!(out.reply, Ok(()));
    assert_eq!(m.state(), State::Arming);
    assert_eq!(
        notices(&out),
        vec![
            "Arming — by uid:1000: armed in 30s; only Disarm ends it — but the camera is not \
             working: motion will be sent without photos."
                .to_string()
        ]
    );
    let out = m.step(Event::Tick, t(T0 + 31 * S));
    assert_eq!(m.state(), State::Armed);
    assert_eq!(
        notices(&out),
        vec![
            "Armed — but the camera is not working: motion will be sent without photos."
                .to_string()
        ]
    );
    // A missing sensor daemon, when arming by itself.
    let mut m = machine();
    m.step(
        Event::Trouble {
            key: TroubleKey::Missing(Service::Sensor),
            text: Some("sensord is not running".into()),
        },
        t(T0),
    );
    let now = m.next_deadline().unwrap().0;
    let mut out = m.step(Event::Tick, t(now));
    for _ in 0..3 {
        let (id, macs) = probes(&out).pop().expect("a probe");
        out = m.step(
            Event::ProbeDone {
                id,
                outcome: Ok(answers(&macs, None)),
            },
            t(now),
        );
    }
    assert_eq!(m.state(), State::Armed);
    let armed = notices(&out).pop().unwrap();
    assert!(
        armed.ends_with(
            "unanswered — but the motion sensor is not working: motion will not be noticed."
        ),
        "{armed}"
    );
}

#[test]
fn a_command_that_changes_nothing_is_answered_and_nobody_is_told() {
    let mut m = machine();
    let out = m.step(cmd(Command::Disarm), t(T0));
    assert_eq!(
        out.reply,
        Err(Refusal(
            "nothing changed: the system is already disarmed".into()
        ))
    );
    assert!(notices(&out).is_empty());
    // Still recorded, as what it was.
    assert!(out.actions.iter().any(|a| matches!(
        a,
        Action::Record(Row { kind: Kind::Command, text, .. }) if text == "disarm (already disarmed)"
    )));
    let out = m.step(cmd(Command::Enable), t(T0));
    assert_eq!(
        out.reply,
        Err(Refusal(
            "nothing changed: the system is already enabled (disarmed)".into()
        ))
    );
    m.step(cmd(Command::Arm), t(T0));
    let out = m.step(cmd(Command::Arm), t(T0 + S));
    assert_eq!(
        out.reply,
        Err(Refusal(
            "nothing changed: the system is already arming".into()
        ))
    );
    // The names people read; the history row keeps the actor whole.
    let mut m = machine();
    let actor = "Alice (telegram:4242 via uid:110)";
    let out = m.step(
        Event::Command {
            cmd: Command::Arm,
            actor: actor.into(),
        },
        t(T0),
    );
    assert!(notices(&out)[0].starts_with("Arming — by Alice: armed in 30s"));
    assert_eq!(m.last_reason, "armed by hand by Alice; exit delay 30s");
    assert!(out.actions.iter().any(|a| matches!(
        a,
        Action::Record(Row { kind: Kind::Command, actor: a, .. }) if a == actor
    )));
}

#[test]
fn disarm_from_arming_armed_and_verifying_then_automatic_arming_resumes() {
    for setup in 0..3 {
        let mut m = machine();
        let mut now = T0;
        match setup {
            0 => {
                m.step(cmd(Command::Arm), t(now));
            }
            1 => now = auto_armed(&mut m),
            _ => {
                now = auto_armed(&mut m);
                m.step(Event::Motion, t(now));
            }
        }
        now += S;
        let out = m.step(cmd(Command::Disarm), t(now));
        assert_eq!(m.state(), State::Disarmed, "setup {setup}");
        assert_eq!(notices(&out), vec!["Disarmed — by uid:1000.".to_string()]);
        // Automatic arming resumes once everyone is away again, counted from the disarm.
        assert_eq!(m.next_deadline(), Some(Mono(now + 600 * S)));
    }
}

#[test]
fn motion_while_armed_captures_at_once_and_probes_absent_devices() {
    let mut m = machine();
    let now = auto_armed(&mut m) + 5 * S;
    let out = m.step(Event::Motion, t(now));
    assert_eq!(m.state(), State::Verifying);
    assert_eq!(captures(&out), vec![1]);
    assert!(alerts(&out).is_empty());
    let (_, macs) = probes(&out).pop().unwrap();
    assert_eq!(macs, vec![ALICE, BOB]);
    assert_eq!(m.next_deadline(), Some(Mono(now + 10 * S)));
}

#[test]
fn an_arrival_that_ends_verifying_still_sends_the_photos_with_the_arrival() {
    let mut m = machine();
    let now = auto_armed(&mut m) + 5 * S;
    let out = m.step(Event::Motion, t(now));
    assert_eq!(captures(&out), vec![1]);
    let (id, macs) = probes(&out).pop().unwrap();
    let out = m.step(
        Event::ProbeDone {
            id,
            outcome: Ok(answers(&macs, Some((ALICE, "192.168.1.5")))),
        },
        t(now + 2 * S),
    );
    assert_eq!(m.state(), State::Disarmed);
    assert_eq!(
        notices(&out),
        vec!["Disarmed: welcome home, Alice (ARP answer from 192.168.1.5).".to_string()]
    );
    // The answer may be forged: the photos go to the owners all the same, as the arrival,
    // silently (evidence, not an alarm).
    assert_eq!(sent(&out, MessageKind::Evidence), vec![1]);
    let sent: Vec<_> = out
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Alert {
                event,
                caption,
                photos,
                ..
            } => Some((*event, caption.clone(), *photos)),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        vec![(
            1,
            "Alice's phone answered — photos of event 1".to_string(),
            AlertPhotos::Captured
        )]
    );
    assert!(!sent[0].1.starts_with("Motion detected"), "not an alarm");
    assert_eq!(m.unsent_alerts.len(), 1, "durable until botd has it");
    assert!(
        alerts(&m.step(Event::Tick, t(now + 20 * S))).is_empty(),
        "no alarm after verify"
    );
}

#[test]
fn verify_elapsing_sends_the_alert_and_records_the_event() {
    let mut m = machine();
    let now = auto_armed(&mut m) + 5 * S;
    let out = m.step(Event::Motion, t(now));
    let (id, macs) = probes(&out).pop().unwrap();
    // Unanswered probes are retried while the window lasts.
    let out = m.step(
        Event::ProbeDone {
            id,
            outcome: Ok(answers(&macs, None)),
        },
        t(now + 2 * S),
    );
    assert_eq!(probes(&out).len(), 1);
    let out = m.step(Event::Tick, t(now + 10 * S));
    assert_eq!(m.state(), State::Armed);
    assert_eq!(alerts(&out), vec![1]);
    assert!(out.actions.iter().any(|a| matches!(
        a,
        Action::Record(Row {
            kind: Kind::Alert,
            ..
        })
    )));
    assert_eq!(m.last_alert, Some((Mono(now + 10 * S), 1)));
    // Kept (and persisted) until botd's outbox has it.
    assert_eq!(m.unsent_alerts.len(), 1);
    let out = m.step(Event::AlertHanded { event: 1 }, t(now + 11 * S));
    assert!(m.unsent_alerts.is_empty());
    assert!(out.actions.is_empty());
}

fn alert_times(out: &Outcome) -> Vec<Micros> {
    out.actions
        .iter()
        .filter_map(|a| match a {
            Action::Alert { at, .. } => Some(*at),
            _ => None,
        })
        .collect()
}

#[test]
fn the_alert_gives_the_time_of_the_motion_not_of_the_decision() {
    let mut m = machine();
    let motion = auto_armed(&mut m) + 5 * S;
    m.step(Event::Motion, t(motion));
    let out = m.step(Event::Tick, t(motion + 10 * S));
    assert_eq!(alerts(&out), vec![1]);
    assert_eq!(alert_times(&out), vec![motion]);
    // The verify window survives a restart with its motion time.
    let mut m = machine();
    let motion = auto_armed(&mut m) + 5 * S;
    m.step(Event::Motion, t(motion));
    let json = serde_json::to_string(&m).unwrap();
    let mut back: Machine = serde_json::from_str(&json).unwrap();
    back.settings = settings();
    let out = back.step(Event::Tick, t(motion + 10 * S));
    assert_eq!(alert_times(&out), vec![motion]);
    // The photos of a verify window an arrival ended carry the motion's time too.
    let mut m = machine();
    let motion = auto_armed(&mut m) + 5 * S;
    let out = m.step(Event::Motion, t(motion));
    let (id, macs) = probes(&out).pop().unwrap();
    let out = m.step(
        Event::ProbeDone {
            id,
            outcome: Ok(answers(&macs, Some((ALICE, "192.168.1.5")))),
        },
        t(motion + 3 * S),
    );
    assert_eq!(alert_times(&out), vec![motion]);
}

#[test]
fn motion_within_alert_cooldown_joins_the_last_event_without_a_new_alert() {
    let mut m = machine();
    let now = auto_armed(&mut m);
    m.step(Event::Motion, t(now));
    m.step(Event::Tick, t(now + 10 * S));
    let out = m.step(Event::Motion, t(now + 30 * S));
    assert_eq!(m.state(), State::Armed);
    assert_eq!(captures(&out), vec![1]);
    assert!(alerts(&out).is_empty());
    // The first more motion of the window goes out as the alert's follow-up…
    assert_eq!(sent(&out, MessageKind::FollowUp), vec![1]);
    assert_eq!(m.followed_up, Some(1));
    // …later ones in the same window are only stored: the chat is not flooded.
    let out = m.step(Event::Motion, t(now + 40 * S));
    assert_eq!(captures(&out), vec![1]);
    assert!(
        out.actions
            .iter()
            .all(|a| !matches!(a, Action::Alert { .. })),
        "{out:?}"
    );
    // After the cooldown, motion is a new event.
    let out = m.step(Event::Motion, t(now + 100 * S));
    assert_eq!(captures(&out), vec![2]);
    assert_eq!(m.state(), State::Verifying);
    // Its alert has a follow-up of its own.
    m.step(Event::Tick, t(now + 110 * S));
    let out = m.step(Event::Motion, t(now + 120 * S));
    assert_eq!(sent(&out, MessageKind::FollowUp), vec![2]);
}

#[test]
fn troubles_resolutions_and_notices_are_told_with_their_kind() {
    let mut m = machine();
    let out = m.step(
        Event::Trouble {
            key: TroubleKey::Delivery,
            text: Some("x".into()),
        },
        t(T0),
    );
    assert!(
        out.actions
            .contains(&Action::Notify(MessageKind::Trouble, "Trouble: x.".into()))
    );
    let out = m.step(
        Event::Trouble {
            key: TroubleKey::Delivery,
            text: None,
        },
        t(T0 + S),
    );
    assert!(out.actions.contains(&Action::Notify(
        MessageKind::Resolved,
        "Resolved: x.".into()
    )));
    let out = m.step(cmd(Command::Disable), t(T0 + 2 * S));
    assert!(
        out.actions.iter().any(
            |a| matches!(a, Action::Notify(MessageKind::Notice, t) if t.starts_with("Disabled"))
        )
    );
}

#[test]
fn manual_arm_skips_verify_and_alerts_once_photos_exist() {
    let mut m = machine();
    m.step(cmd(Command::Arm), t(T0));
    m.step(Event::Tick, t(T0 + 30 * S));
    let out = m.step(Event::Motion, t(T0 + 60 * S));
    assert_eq!(m.state(), State::Armed);
    assert_eq!(captures(&out), vec![1]);
    assert_eq!(alerts(&out), vec![1]);
    // Capture comes before the alert: the runtime sends the alert once photos exist.
    let cap = out
        .actions
        .iter()
        .position(|a| matches!(a, Action::Capture { .. }));
    let alert = out
        .actions
        .iter()
        .position(|a| matches!(a, Action::Alert { .. }));
    assert!(cap < alert);
}

#[test]
fn motion_while_disarmed_or_arming_does_nothing() {
    let mut m = machine();
    assert!(m.step(Event::Motion, t(T0)).actions.is_empty());
    m.step(cmd(Command::Arm), t(T0));
    assert!(m.step(Event::Motion, t(T0 + S)).actions.is_empty());
}

#[test]
fn troubles_notify_once_loudly_when_armed_and_say_when_resolved() {
    let mut m = machine();
    let now = auto_armed(&mut m);
    let raise = Event::Trouble {
        key: TroubleKey::Missing(Service::Camera),
        text: Some("camd is not running".into()),
    };
    let out = m.step(raise.clone(), t(now));
    assert_eq!(m.state(), State::Armed);
    let n = notices(&out);
    assert_eq!(n.len(), 1);
    assert!(n[0].starts_with("Trouble: camd is not running."));
    assert!(n[0].contains("ARMED"));
    assert!(m.step(raise, t(now)).actions.is_empty(), "no repeat");
    let out = m.step(
        Event::Trouble {
            key: TroubleKey::Missing(Service::Camera),
            text: None,
        },
        t(now),
    );
    assert_eq!(
        notices(&out),
        vec!["Resolved: camd is not running.".to_string()]
    );
    assert!(m.troubles.is_empty());
}

#[test]
fn arm_or_disarm_while_disabled_is_refused_and_changes_nothing() {
    let mut m = machine();
    m.step(cmd(Command::Disable), t(T0));
    let before = m.clone();
    let out = m.step(cmd(Command::Arm), t(T0 + S));
    assert!(out.reply.is_err());
    assert!(out.actions.is_empty());
    assert_eq!(m, before);
    assert!(m.step(cmd(Command::Disarm), t(T0 + S)).reply.is_err());
}

#[test]
fn failed_probe_does_not_arm_raises_a_trouble_and_retries_later() {
    let mut m = machine();
    let now = T0 + 600 * S;
    let out = m.step(Event::Tick, t(now));
    let (id, _) = probes(&out).pop().unwrap();
    let out = m.step(
        Event::ProbeDone {
            id,
            outcome: Err(ProbeFailure::Refused(
                "org.securapicam.Presence is not on the bus".into(),
            )),
        },
        t(now),
    );
    assert_eq!(m.state(), State::Disarmed);
    assert_eq!(notices(&out).len(), 1);
    assert_eq!(m.next_deadline(), Some(Mono(now + PROBE_RETRY)));
    assert!(probes(&m.step(Event::Tick, t(now + PROBE_RETRY - 1))).is_empty());
    let out = m.step(Event::Tick, t(now + PROBE_RETRY));
    let (id, macs) = probes(&out).pop().unwrap();
    let out = m.step(
        Event::ProbeDone {
            id,
            outcome: Ok(answers(&macs, Some((ALICE, "10.0.0.2")))),
        },
        t(now + PROBE_RETRY),
    );
    assert!(notices(&out)[0].starts_with("Resolved"));
}

#[test]
fn stale_probe_answers_are_ignored() {
    let mut m = machine();
    let out = m.step(Event::Tick, t(T0 + 600 * S));
    let (id, macs) = probes(&out).pop().unwrap();
    m.step(cmd(Command::Disable), t(T0 + 601 * S));
    let before = m.clone();
    m.step(
        Event::ProbeDone {
            id,
            outcome: Ok(answers(&macs, None)),
        },
        t(T0 + 602 * S),
    );
    assert_eq!(m, before);
}

#[test]
fn no_devices_means_no_automatic_arming() {
    let mut m = Machine::new(settings(), &[], t(T0));
    assert_eq!(m.next_deadline(), None);
    assert!(m.step(Event::Tick, t(T0 + 100_000 * S)).actions.is_empty());
}

#[test]
fn disabled_and_armed_survive_a_round_trip_through_the_state_file() {
    for state in [State::Disabled, State::Armed] {
        let mut m = machine();
        match state {
            State::Disabled => {
                m.step(cmd(Command::Disable), t(T0));
            }
            _ => {
                auto_armed(&mut m);
            }
        }
        let text = serde_json::to_string(&m).unwrap();
        let back: Machine = serde_json::from_str(&text).unwrap();
        let back = back.restored(settings(), &devices(), t(T0 + 999 * S), BOOT);
        assert_eq!(back.state(), state);
        assert_eq!(back.mode, m.mode);
    }
}

#[test]
fn restoring_with_a_changed_device_list_keeps_known_devices() {
    let mut m = machine();
    m.step(
        Event::Sighting {
            mac: ALICE,
            source: "lan:wlan0".into(),
        },
        t(T0 + S),
    );
    let cfg = vec![
        ("Alice A.".to_string(), ALICE),
        ("Carol".to_string(), MacAddr([0xa4, 0x5e, 0x60, 0, 0, 3])),
    ];
    let r = m.restored(settings(), &cfg, t(T0 + 2 * S), BOOT);
    assert_eq!(r.devices.len(), 2);
    assert_eq!(r.devices[0].name, "Alice A.");
    assert_eq!(r.devices[0].last_seen, T0 + S);
    assert_eq!(r.devices[1].last_seen, 0);
    assert_eq!(r.next_deadline(), Some(Mono(T0 + 2 * S + 600 * S)));
}

fn saved_after_crash(m: &Machine) -> Saved {
    let text = serde_json::to_string(m).unwrap();
    Saved::Found(Box::new(serde_json::from_str(&text).unwrap()))
}

#[test]
fn a_corrupt_state_file_starts_disabled_with_a_trouble() {
    let (m, first) = Machine::start(
        Saved::Unreadable("expected value at line 1 column 10".into()),
        settings(),
        &devices(),
        t(T0),
        BOOT,
    );
    assert_eq!(
        m.state(),
        State::Disabled,
        "never a guess at armed or disarmed"
    );
    let trouble = m.troubles.get(&TroubleKey::StateFile).expect("a trouble");
    assert!(
        trouble.contains("unreadable") && trouble.contains("/enable"),
        "{trouble}"
    );
    assert!(
        first.iter().any(
            |a| matches!(a, Action::Notify(_, t) if t.starts_with("Trouble: the saved alarm state"))
        ),
        "{first:?}"
    );
    let mut m = m;
    assert!(m.step(Event::Tick, t(T0 + 100_000 * S)).actions.is_empty());
}

#[test]
fn an_unclean_stop_is_announced_once() {
    let mut m = machine();
    auto_armed(&mut m);
    // A crash: the file holds clean_stop = false.
    let (mut back, first) = Machine::start(
        saved_after_crash(&m),
        settings(),
        &devices(),
        t(T0 + 2000 * S),
        BOOT,
    );
    let unclean: Vec<_> = first
        .iter()
        .filter(|a| matches!(a, Action::Notify(_, t) if t.contains("unclean stop")))
        .collect();
    assert_eq!(unclean.len(), 1, "{first:?}");
    assert!(matches!(unclean[0], Action::Notify(_, t) if t.contains("the alarm stayed armed")));
    assert_eq!(back.state(), State::Armed);
    let later = back.step(Event::Tick, t(T0 + 2001 * S));
    assert!(notices(&later).is_empty());
    // A clean stop after that: nothing to announce at the next start.
    back.clean_stop = true;
    let (_, first) = Machine::start(
        saved_after_crash(&back),
        settings(),
        &devices(),
        t(T0 + 3000 * S),
        BOOT,
    );
    assert!(
        !first.iter().any(|a| matches!(a, Action::Notify(..))),
        "{first:?}"
    );
}

#[test]
fn alerts_decided_but_not_accepted_by_botd_are_sent_again_after_a_restart() {
    let mut m = machine();
    let now = auto_armed(&mut m);
    m.step(Event::Motion, t(now + S));
    let out = m.step(Event::Tick, t(now + 12 * S));
    assert_eq!(alerts(&out), vec![1]);
    assert_eq!(m.unsent_alerts.len(), 1);
    let (mut back, first) = Machine::start(
        saved_after_crash(&m),
        settings(),
        &devices(),
        t(now + 20 * S),
        BOOT,
    );
    let resent: Vec<_> = first
        .iter()
        .filter_map(|a| match a {
            Action::Alert {
                event,
                photos,
                caption,
                ..
            } => Some((*event, *photos, caption.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        resent,
        vec![(1, AlertPhotos::KeptOnPi, text::alert_caption(1))]
    );
    back.step(Event::AlertHanded { event: 1 }, t(now + 21 * S));
    assert!(back.unsent_alerts.is_empty());
    let (_, first) = Machine::start(
        saved_after_crash(&back),
        settings(),
        &devices(),
        t(now + 30 * S),
        BOOT,
    );
    assert!(
        !first.iter().any(|a| matches!(a, Action::Alert { .. })),
        "handed: not again"
    );
}

#[test]
fn a_wall_clock_step_does_not_shorten_the_verify_window() {
    let mut m = machine();
    let now = auto_armed(&mut m);
    m.step(Event::Motion, t(now));
    assert_eq!(m.state(), State::Verifying);
    // One second later on the monotonic clock, NTP steps the wall clock a day ahead.
    let stepped = Now {
        mono: Mono(now + S),
        wall: now + S + 86_400 * S,
    };
    let out = m.step(Event::Tick, stepped);
    assert_eq!(
        m.state(),
        State::Verifying,
        "the window still lasts `verify`"
    );
    assert!(alerts(&out).is_empty());
    // And a step back does not lengthen it.
    let back = Now {
        mono: Mono(now + 10 * S),
        wall: now - 3600 * S,
    };
    let out = m.step(Event::Tick, back);
    assert_eq!(m.state(), State::Armed);
    assert_eq!(alerts(&out), vec![1]);
}

#[test]
fn deadlines_survive_a_restart_on_the_same_boot_and_are_carried_over_a_reboot() {
    let mut m = machine();
    m.step(cmd(Command::Arm), t(T0));
    m.saved = Some(Stamp {
        now: t(T0 + 5 * S),
        boot: BOOT.into(),
    });
    // Same boot: the monotonic deadline stands, whatever the wall clock says.
    let same = m.clone().restored(
        settings(),
        &devices(),
        Now {
            mono: Mono(T0 + 6 * S),
            wall: 0,
        },
        BOOT,
    );
    assert_eq!(
        same.mode,
        Mode::Arming {
            until: Mono(T0 + 30 * S)
        }
    );
    // After a reboot the monotonic clock starts again near 0; 10 s passed by the wall clock.
    let rebooted = m.restored(
        settings(),
        &devices(),
        Now {
            mono: Mono(20 * S),
            wall: T0 + 15 * S,
        },
        "boot-2",
    );
    assert_eq!(
        rebooted.mode,
        Mode::Arming {
            until: Mono(35 * S)
        }
    );
}

#[test]
fn a_wall_clock_step_back_does_not_postpone_arming() {
    let mut m = machine();
    // An hour's step back on the wall clock, 100 s after start.
    let back = Now {
        mono: Mono(T0 + 100 * S),
        wall: T0 - 3500 * S,
    };
    m.step(Event::Tick, back);
    assert_eq!(m.next_deadline(), Some(Mono(T0 + 600 * S)));
    let out = m.step(
        Event::Tick,
        Now {
            mono: Mono(T0 + 600 * S),
            wall: T0 - 3000 * S,
        },
    );
    assert_eq!(probes(&out).len(), 1, "the away probe is on time");
}

#[test]
fn a_state_file_from_before_monotonic_deadlines_is_carried_over() {
    // As the previous release wrote it: wall-clock deadlines, trouble keys as strings.
    let old = format!(
        r#"{{"mode":{{"state":"arming","until":{until}}},
            "devices":[{{"name":"Alice","mac":"a4:5e:60:00:00:01","present":false,
                         "last_seen":0,"ip":""}}],
            "last_change":{t0},"last_reason":"armed by hand","presence_epoch":{t0},
            "absent_at_arming":[],"last_alert":null,"next_event":1,
            "troubles":{{"camd":"camd is not running"}},"probe_retry_at":0,
            "unsent_alerts":[],"clean_stop":true}}"#,
        until = T0 + 30 * S,
        t0 = T0
    );
    let m: Machine = serde_json::from_str(&old).unwrap();
    assert_eq!(
        m.troubles
            .get(&TroubleKey::Missing(Service::Camera))
            .map(String::as_str),
        Some("camd is not running")
    );
    // Restarted 10 s later by the wall clock, 500 s after this boot began.
    let now = Now {
        mono: Mono(500 * S),
        wall: T0 + 10 * S,
    };
    let m = m.restored(settings(), &devices(), now, BOOT);
    assert_eq!(
        m.mode,
        Mode::Arming {
            until: Mono(520 * S)
        },
        "20 s of exit delay left"
    );
}
