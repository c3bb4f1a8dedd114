//! [`Machine::step`]: one event in, new state and actions out.

use super::text::{self, dur, names};
use super::{
    Action, AlertPhotos, Answer, Event, Kind, Machine, Mode, Pending, ProbeFailure, Purpose,
    Refusal, Row, TroubleKey,
};
use crate::clock::Now;
use secura_bus::State;
use secura_bus::config::{DisarmRequires, MacAddr};
use secura_bus::types::{Command, MessageKind, Micros};

/// The actor of what the machine does by itself.
pub(super) const SYSTEM: &str = "system";

fn record(out: &mut Outcome, kind: Kind, text: String, actor: &str) {
    out.actions.push(Action::Record(Row {
        kind,
        text,
        actor: actor.to_string(),
    }));
}

/// What a step produced.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// To be carried out in order.
    pub actions: Vec<Action>,
    /// For commands: `Err` when refused (nothing changed).
    pub reply: Result<(), Refusal>,
}

impl Machine {
    /// Apply `event` at `now`.
    pub fn step(&mut self, event: Event, now: Now) -> Outcome {
        let mut out = Outcome {
            actions: Vec::new(),
            reply: Ok(()),
        };
        match event {
            Event::Command { cmd, actor } => out.reply = self.command(cmd, &actor, now, &mut out),
            Event::Tick => {}
            Event::Sighting { mac, source } => self.sighting(mac, &source, now, &mut out),
            Event::ProbeDone { id, outcome } => self.probe_done(id, outcome, now, &mut out),
            Event::Motion => self.motion(now, &mut out),
            Event::Trouble { key, text } => self.trouble(key, text, &mut out),
            Event::AlertHanded { event } => self.unsent_alerts.retain(|(e, _)| *e != event),
        }
        self.evaluate(now, &mut out);
        out
    }

    /// Raise a trouble outside a step (start-up); the notice and record it gives.
    pub(super) fn raise(&mut self, key: TroubleKey, text: String) -> Vec<Action> {
        let mut out = Outcome {
            actions: Vec::new(),
            reply: Ok(()),
        };
        self.raise_trouble(key, text, &mut out);
        out.actions
    }

    fn transition(&mut self, to: Mode, reason: String, actor: &str, now: Now, out: &mut Outcome) {
        let old = self.mode.state();
        self.mode = to;
        let new = to.state();
        if old != new {
            self.last_change = now.wall;
            self.last_reason = reason.clone();
            out.actions.push(Action::StateChanged {
                old,
                new,
                reason,
                actor: actor.to_string(),
            });
        }
    }

    fn notify(out: &mut Outcome, text: String) {
        out.actions.push(Action::Notify(MessageKind::Notice, text));
    }

    fn command(
        &mut self,
        cmd: Command,
        actor: &str,
        now: Now,
        out: &mut Outcome,
    ) -> Result<(), Refusal> {
        let state = self.mode.state();
        let refuse = |what: &str| {
            Err(Refusal(format!(
                "cannot {what}: the system is disabled; enable it first"
            )))
        };
        // People read names; the history keeps the ids (`actor`).
        let who = text::who(actor);
        match (cmd, self.mode) {
            (Command::Arm | Command::Disarm, Mode::Disabled) => return refuse(cmd.as_str()),
            (Command::Arm, Mode::Disarmed) => {
                self.pending = None;
                let until = now.mono.after(self.settings.exit_delay);
                let reason = format!(
                    "armed by hand by {who}; exit delay {}",
                    dur(self.settings.exit_delay)
                );
                self.transition(Mode::Arming { until }, reason, actor, now, out);
                let notice = format!(
                    "Arming — by {who}: armed in {}; only Disarm ends it",
                    dur(self.settings.exit_delay)
                );
                Machine::notify(out, text::armed_notice(&notice, self.troubles.keys()));
            }
            (Command::Arm, Mode::Armed { manual: false }) => {
                self.mode = Mode::Armed { manual: true };
                let notice = format!("Armed and now held — by {who}: presence will not disarm it");
                Machine::notify(out, text::armed_notice(&notice, self.troubles.keys()));
            }
            (
                Command::Disarm,
                Mode::Arming { .. } | Mode::Armed { .. } | Mode::Verifying { .. },
            ) => {
                self.presence_epoch = now.mono;
                self.pending = None;
                self.transition(
                    Mode::Disarmed,
                    format!("disarmed by {who}"),
                    actor,
                    now,
                    out,
                );
                Machine::notify(out, format!("Disarmed — by {who}."));
            }
            (Command::Disable, m) if m != Mode::Disabled => {
                self.pending = None;
                self.transition(
                    Mode::Disabled,
                    format!("disabled by {who}"),
                    actor,
                    now,
                    out,
                );
                Machine::notify(
                    out,
                    format!("Disabled — by {who}: nothing will arm the system until /enable."),
                );
            }
            (Command::Enable, Mode::Disabled) => {
                self.transition(Mode::Disarmed, format!("enabled by {who}"), actor, now, out);
                Machine::notify(out, format!("Enabled — by {who}: watching for presence."));
            }
            _ => {}
        }
        if self.mode.state() == state && out.actions.is_empty() {
            // Nothing changed, so nobody is told: the one who asked gets this answer.
            record(
                out,
                Kind::Command,
                format!("{} (already {state})", cmd.as_str()),
                actor,
            );
            let already = match cmd {
                Command::Enable => format!("enabled ({state})"),
                Command::Arm if state == State::Verifying => "armed".to_string(),
                _ => state.to_string(),
            };
            return Err(Refusal(format!(
                "nothing changed: the system is already {already}"
            )));
        }
        record(out, Kind::Command, cmd.as_str().to_string(), actor);
        Ok(())
    }

    fn device_name(&self, mac: MacAddr) -> Option<String> {
        self.devices
            .iter()
            .find(|d| d.mac == mac)
            .map(|d| d.name.clone())
    }

    fn sighting(&mut self, mac: MacAddr, source: &str, now: Now, out: &mut Outcome) {
        let Some(dev) = self.devices.iter_mut().find(|d| d.mac == mac) else {
            return;
        };
        dev.last_seen = dev.last_seen.max(now.wall);
        let name = dev.name.clone();
        match self.mode {
            Mode::Disarmed | Mode::Disabled | Mode::Arming { .. } => dev.present = true,
            Mode::Armed { manual: true } => {}
            Mode::Armed { manual: false } | Mode::Verifying { .. } => {
                if self.settings.disarm_requires == DisarmRequires::Sighting {
                    dev.present = true;
                    let reason = format!(
                        "{name} arrived (sighted on {source}; ARP not required by configuration)"
                    );
                    self.arrive(&name, false, reason, now, out);
                } else if self.pending.is_some() {
                    self.queued_arrivals.insert(mac, source.to_string());
                } else {
                    self.start_probe(
                        Purpose::Arrival {
                            source: source.to_string(),
                        },
                        vec![mac],
                        out,
                    );
                }
            }
        }
    }

    /// `name`'s phone came home (`answered` ARP, or was only sighted): disarmed. When that
    /// ends a verify window the photos already taken still go to the owners: evidence is never
    /// thrown away, as the arrival may be forged.
    fn arrive(&mut self, name: &str, answered: bool, reason: String, now: Now, out: &mut Outcome) {
        let verifying = match self.mode {
            Mode::Verifying {
                event, motion_at, ..
            } => Some((event, if motion_at == 0 { now.wall } else { motion_at })),
            _ => None,
        };
        self.presence_epoch = now.mono;
        self.pending = None;
        self.queued_arrivals.clear();
        self.transition(Mode::Disarmed, reason.clone(), SYSTEM, now, out);
        Machine::notify(out, format!("Disarmed: {reason}."));
        if let Some((event, motion_at)) = verifying {
            // Silent: no alarm, yet the photos are kept where the owners can see them.
            let caption = text::arrival_caption(name, answered, event);
            self.unsent_alerts.push((event, caption.clone()));
            out.actions.push(Action::Alert {
                kind: MessageKind::Evidence,
                event,
                caption,
                at: motion_at,
                photos: AlertPhotos::Captured,
            });
            record(out, Kind::Alert, text::ARRIVAL_RECORD.into(), SYSTEM);
        }
    }

    fn start_probe(&mut self, purpose: Purpose, macs: Vec<MacAddr>, out: &mut Outcome) {
        let id = self.next_probe;
        self.next_probe += 1;
        out.actions.push(Action::Probe {
            id,
            macs: macs.clone(),
        });
        self.pending = Some(Pending { id, purpose, macs });
    }

    /// Apply answers to the device list; the names of those that answered, with their IPs.
    fn apply_answers(&mut self, answers: &[Answer], now: Now) -> Vec<(String, String)> {
        let mut answered = Vec::new();
        for a in answers {
            if let Some(d) = self.devices.iter_mut().find(|d| d.mac == a.mac) {
                if a.answered {
                    d.present = true;
                    d.last_seen = d.last_seen.max(now.wall);
                    d.answered = d.answered.max(now.mono);
                    d.ip = a.ip.clone();
                    answered.push((d.name.clone(), a.ip.clone()));
                } else {
                    d.present = false;
                }
            }
        }
        answered
    }

    fn probe_done(
        &mut self,
        id: u64,
        outcome: Result<Vec<Answer>, ProbeFailure>,
        now: Now,
        out: &mut Outcome,
    ) {
        let Some(pending) = self.pending.take_if(|p| p.id == id) else {
            return; // stale: the machine moved on
        };
        let answers = match outcome {
            Ok(a) => {
                self.clear_trouble(TroubleKey::PresenceProbe, out);
                a
            }
            Err(e) => {
                self.raise_trouble(
                    TroubleKey::PresenceProbe,
                    format!("cannot probe the phones: {e}"),
                    out,
                );
                self.probe_retry_at = now.mono.after(super::PROBE_RETRY);
                self.next_queued(out);
                return;
            }
        };
        let answered = self.apply_answers(&answers, now);
        for a in answers.iter().filter(|a| a.answered) {
            self.clear_trouble(TroubleKey::Unanswered(a.mac), out);
        }
        match pending.purpose {
            Purpose::Away { attempt } => self.away_result(attempt, &answered, now, out),
            Purpose::Arrival { source } => {
                if !matches!(
                    self.mode,
                    Mode::Armed { manual: false } | Mode::Verifying { .. }
                ) {
                    return;
                }
                if let Some((name, ip)) = answered.first() {
                    let reason = format!("{name} arrived (ARP answer from {ip})");
                    self.arrive(&name.clone(), true, reason, now, out);
                } else {
                    let who = pending
                        .macs
                        .iter()
                        .map(|m| match self.device_name(*m) {
                            Some(n) => format!("{n} ({m})"),
                            None => m.to_string(),
                        })
                        .collect::<Vec<_>>();
                    record(
                        out,
                        Kind::Presence,
                        format!(
                            "unconfirmed sighting of {} on {source}: no ARP answer, staying armed",
                            names(&who)
                        ),
                        SYSTEM,
                    );
                    // Heard after everyone had left, yet silent to ARP: a forger, or a phone
                    // that cannot answer. Either way the owners should know.
                    for mac in &pending.macs {
                        if let Some(name) = self.device_name(*mac) {
                            self.raise_trouble(
                                TroubleKey::Unanswered(*mac),
                                text::heard_but_silent(&name),
                                out,
                            );
                        }
                    }
                    self.next_queued(out);
                }
            }
            Purpose::Verify { attempt } => {
                let Mode::Verifying { until, .. } = self.mode else {
                    return;
                };
                if let Some((name, ip)) = answered.first() {
                    let reason = format!("welcome home, {name} (ARP answer from {ip})");
                    self.arrive(&name.clone(), true, reason, now, out);
                } else if attempt < self.settings.probe_attempts && now.mono < until {
                    let macs = pending.macs;
                    self.start_probe(
                        Purpose::Verify {
                            attempt: attempt + 1,
                        },
                        macs,
                        out,
                    );
                }
            }
        }
    }

    fn away_result(
        &mut self,
        attempt: u32,
        answered: &[(String, String)],
        now: Now,
        out: &mut Outcome,
    ) {
        if self.mode != Mode::Disarmed {
            return;
        }
        if !answered.is_empty() {
            return; // someone is home: presence refreshed, no notice
        }
        if attempt < self.settings.probe_attempts {
            let macs = self.devices.iter().map(|d| d.mac).collect();
            self.start_probe(
                Purpose::Away {
                    attempt: attempt + 1,
                },
                macs,
                out,
            );
            return;
        }
        let n = self.settings.probe_attempts;
        let reason = format!(
            "nobody seen for {}, {n}/{n} ARP probes unanswered",
            dur(now.mono.since(self.away_ref()))
        );
        self.absent_at_arming = self.devices.iter().map(|d| d.mac).collect();
        self.transition(
            Mode::Armed { manual: false },
            reason.clone(),
            SYSTEM,
            now,
            out,
        );
        let notice = format!("Armed: {reason}");
        Machine::notify(out, text::armed_notice(&notice, self.troubles.keys()));
    }

    fn next_queued(&mut self, out: &mut Outcome) {
        if self.pending.is_some() || self.queued_arrivals.is_empty() {
            return;
        }
        if !matches!(
            self.mode,
            Mode::Armed { manual: false } | Mode::Verifying { .. }
        ) {
            self.queued_arrivals.clear();
            return;
        }
        let queued = std::mem::take(&mut self.queued_arrivals);
        let source = queued.values().next().cloned().unwrap_or_default();
        let macs = queued.into_keys().collect();
        self.start_probe(Purpose::Arrival { source }, macs, out);
    }

    fn motion(&mut self, now: Now, out: &mut Outcome) {
        match self.mode {
            Mode::Armed { manual } => {
                if let Some((at, event)) = self.last_alert
                    && now.mono.since(at) < self.settings.alert_cooldown
                {
                    out.actions.push(Action::Capture { event });
                    if self.followed_up != Some(event) {
                        // The first more motion of the window is sent, as a reply to the
                        // alert; later ones are only stored, so the chat is not flooded.
                        self.followed_up = Some(event);
                        out.actions.push(Action::Alert {
                            kind: MessageKind::FollowUp,
                            event,
                            caption: text::FOLLOW_UP.into(),
                            at: now.wall,
                            photos: AlertPhotos::Captured,
                        });
                        record(
                            out,
                            Kind::Motion,
                            format!("more motion: follow-up photos of event {event} sent"),
                            "sensor",
                        );
                        return;
                    }
                    record(
                        out,
                        Kind::Motion,
                        format!("more motion: photos added to event {event}"),
                        "sensor",
                    );
                    return;
                }
                let event = self.next_event;
                self.next_event += 1;
                out.actions.push(Action::Capture { event });
                record(
                    out,
                    Kind::Motion,
                    format!("motion while armed: event {event}"),
                    "sensor",
                );
                if manual {
                    self.alert(event, now.wall, now, out);
                } else {
                    let until = now.mono.after(self.settings.verify);
                    let reason = format!(
                        "motion (event {event}); waiting {} for a returning phone",
                        dur(self.settings.verify)
                    );
                    let verifying = Mode::Verifying {
                        until,
                        event,
                        motion_at: now.wall,
                    };
                    self.transition(verifying, reason, "sensor", now, out);
                    let absent = self.absent_at_arming.clone();
                    if self.settings.verify > 0 && !absent.is_empty() {
                        self.pending = None;
                        self.queued_arrivals.clear();
                        self.start_probe(Purpose::Verify { attempt: 1 }, absent, out);
                    }
                }
            }
            Mode::Verifying { event, .. } => out.actions.push(Action::Capture { event }),
            _ => {}
        }
    }

    /// Alert the owners of `event`, whose motion was at `motion_at` (wall clock; 0 if not
    /// known, then the time of the decision is shown).
    fn alert(&mut self, event: u64, motion_at: Micros, now: Now, out: &mut Outcome) {
        self.last_alert = Some((now.mono, event));
        let caption = text::alert_caption(event);
        self.unsent_alerts.push((event, caption.clone()));
        let at = if motion_at == 0 { now.wall } else { motion_at };
        out.actions.push(Action::Alert {
            kind: MessageKind::Alert,
            event,
            caption,
            at,
            photos: AlertPhotos::Captured,
        });
        record(
            out,
            Kind::Alert,
            format!("alert sent for event {event}"),
            SYSTEM,
        );
    }

    fn raise_trouble(&mut self, key: TroubleKey, text: String, out: &mut Outcome) {
        if self.troubles.get(&key) == Some(&text) {
            return;
        }
        self.troubles.insert(key, text.clone());
        let loud = if matches!(self.mode.state(), State::Armed | State::Verifying) {
            " The system is ARMED: an intrusion may go unseen or unreported."
        } else {
            ""
        };
        out.actions.push(Action::Notify(
            MessageKind::Trouble,
            format!("Trouble: {text}.{loud}"),
        ));
        record(out, Kind::Trouble, text, SYSTEM);
    }

    fn clear_trouble(&mut self, key: TroubleKey, out: &mut Outcome) {
        if let Some(text) = self.troubles.remove(&key) {
            out.actions.push(Action::Notify(
                MessageKind::Resolved,
                format!("Resolved: {text}."),
            ));
            record(out, Kind::Trouble, format!("resolved: {text}"), SYSTEM);
        }
    }

    fn trouble(&mut self, key: TroubleKey, text: Option<String>, out: &mut Outcome) {
        match text {
            Some(t) => self.raise_trouble(key, t, out),
            None => self.clear_trouble(key, out),
        }
    }

    /// The time-driven rules: exit delay, verify window, away timer.
    fn evaluate(&mut self, now: Now, out: &mut Outcome) {
        match self.mode {
            Mode::Arming { until } if now.mono >= until => {
                self.absent_at_arming = self
                    .devices
                    .iter()
                    .filter(|d| !d.present)
                    .map(|d| d.mac)
                    .collect();
                let reason = "armed by hand: exit delay over".to_string();
                self.transition(Mode::Armed { manual: true }, reason, SYSTEM, now, out);
                Machine::notify(out, text::armed_notice("Armed", self.troubles.keys()));
            }
            Mode::Verifying {
                until,
                event,
                motion_at,
            } if now.mono >= until => {
                self.pending = None;
                let reason = format!("motion not explained by a returning phone (event {event})");
                self.transition(Mode::Armed { manual: false }, reason, SYSTEM, now, out);
                self.alert(event, motion_at, now, out);
            }
            Mode::Disarmed
                if self.pending.is_none()
                    && !self.devices.is_empty()
                    && now.mono >= self.away_at()
                    && now.mono >= self.probe_retry_at =>
            {
                let macs = self.devices.iter().map(|d| d.mac).collect();
                self.start_probe(Purpose::Away { attempt: 1 }, macs, out);
            }
            _ => {}
        }
    }
}
