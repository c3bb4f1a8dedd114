//! The core task: the only owner of the [`Machine`]. It takes events and commands from the
//! [`inbox`](crate::inbox), steps the machine, saves it, then carries out the actions.
//! Nothing here waits on another daemon: every bus call runs in its own task with a timeout
//! and comes back as an event, so a stopped or missing daemon can never stall the alarm.

use crate::clock::{self, Clock, Now};
use crate::courier::Courier;
use crate::history::History;
use crate::inbox::{Inbox, Input, Receiver};
use crate::machine::{
    Action, Answer, Event, Kind, Machine, PhotoProblem, ProbeFailure, Refusal, Row, TroubleKey,
};
use crate::persist::StateFile;
use crate::photos::Photos;
use crate::service::{Publisher, View};
use secura_bus::config::MacAddr;
use secura_bus::proxies::{Camera1Proxy, Presence1Proxy};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{debug, error, info, warn};

/// How long `CaptureEvent` may take (pre-trigger frames are immediate; the burst is not).
pub const CAPTURE_TIMEOUT: Duration = Duration::from_secs(30);
/// Extra time beyond the probe's own timeout before a probe call is given up.
pub const PROBE_SLACK: Duration = Duration::from_secs(3);

/// The core's parts.
#[derive(Debug)]
pub struct Core {
    pub(crate) machine: Machine,
    /// What to do first (from [`Machine::start`]).
    pub(crate) first: Vec<Action>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) boot: String,
    pub(crate) state_file: StateFile,
    pub(crate) history: Arc<Mutex<History>>,
    pub(crate) publisher: Publisher,
    pub(crate) inbox: Inbox,
    pub(crate) presence: Presence1Proxy<'static>,
    pub(crate) camera: Camera1Proxy<'static>,
    pub(crate) probe_timeout: Duration,
    pub(crate) photos: Photos,
    pub(crate) courier: Courier,
}

impl Core {
    /// Serve until `shutdown` resolves or something alarmd cannot run without is lost
    /// (then `Err`).
    pub async fn run(
        mut self,
        mut rx: Receiver,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        tokio::pin!(shutdown);
        let watchdog = sd_notify::watchdog_enabled().map(|d| d / 2);
        let mut dog = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
        let mut first = std::mem::take(&mut self.first);
        let now = self.clock.now();
        if let Err(e) = self.save(now) {
            first.extend(self.trouble_unsaved(&e, now));
        }
        self.carry_out(first, now).await;
        // Whatever time passed while the daemon was down is applied at once.
        let _ = self.apply(Event::Tick).await;
        loop {
            let deadline = self
                .machine
                .next_deadline()
                .map(|at| clock::instant_at(self.clock.as_ref(), at));
            tokio::select! {
                input = rx.recv() => match input {
                    Some(Input::Fatal(why)) => anyhow::bail!(why),
                    Some(input) => self.handle(input).await,
                    None => return Ok(()),
                },
                () = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    let _ = self.apply(Event::Tick).await;
                }
                _ = dog.tick(), if watchdog.is_some() => {
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                }
                () = &mut shutdown => {
                    info!("stopping");
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
                    self.machine.clean_stop = true;
                    let now = self.clock.now();
                    if let Err(e) = self.save(now) {
                        error!(error = %e, "cannot save the state at stop");
                    }
                    return Ok(());
                }
            }
        }
    }

    async fn handle(&mut self, input: Input) {
        match input {
            Input::Event(e) => {
                let _ = self.apply(e).await;
            }
            Input::Command { cmd, actor, reply } => {
                info!(command = cmd.as_str(), %actor, "command");
                let answer = self.apply(Event::Command { cmd, actor }).await;
                let _ = reply.send(answer);
            }
            Input::Record(row) => {
                let now = self.clock.now();
                self.record(now, &[row]);
            }
            Input::Fatal(_) => {}
        }
    }

    /// Step the machine, save it, carry out its actions, update the properties. A command
    /// whose new state cannot be saved is undone and fails: the owner must not believe a
    /// change that a restart would lose.
    async fn apply(&mut self, event: Event) -> Result<(), Refusal> {
        let now = self.clock.now();
        debug!(?event, "event");
        let command = matches!(event, Event::Command { .. });
        let before = self.machine.clone();
        let out = self.machine.step(event, now);
        // Sightings alone only refresh `last_seen`: not worth an fsync each.
        let worth_saving = !out.actions.is_empty()
            || self.machine.mode != before.mode
            || self.machine.unsent_alerts != before.unsent_alerts
            || self.machine.troubles != before.troubles;
        let mut actions = out.actions;
        if worth_saving {
            match self.save(now) {
                Err(e) if command && self.machine.mode != before.mode => {
                    self.machine = before;
                    let trouble = self.trouble_unsaved(&e, now);
                    self.carry_out(trouble, now).await;
                    return Err(Refusal(format!(
                        "the new state could not be saved, so nothing changed: {e}"
                    )));
                }
                Err(e) => actions.extend(self.trouble_unsaved(&e, now)),
                Ok(())
                    if self
                        .machine
                        .troubles
                        .contains_key(&TroubleKey::StateUnsaved) =>
                {
                    actions.extend(self.saved_again(now));
                }
                Ok(()) => {}
            }
        }
        self.carry_out(actions, now).await;
        out.reply
    }

    async fn carry_out(&mut self, actions: Vec<Action>, now: Now) {
        let mut rows = Vec::new();
        for action in actions {
            self.execute(action, &mut rows).await;
        }
        self.record(now, &rows);
        self.publisher.publish(View::of(&self.machine)).await;
    }

    fn save(&mut self, now: Now) -> Result<(), String> {
        self.machine.saved = Some(crate::machine::Stamp {
            now,
            boot: self.boot.clone(),
        });
        self.state_file
            .save(&self.machine)
            .map_err(|e| e.to_string())
    }

    /// Raise the state-file trouble through the machine (not saved: saving just failed); the
    /// notice and record it gives.
    fn trouble_unsaved(&mut self, e: &str, now: Now) -> Vec<Action> {
        error!(error = %e, "cannot save the state; a restart may lose the latest change");
        let key = TroubleKey::StateUnsaved;
        if self.machine.troubles.contains_key(&key) {
            return Vec::new();
        }
        let text = Some(format!("cannot save the alarm state: {e}"));
        self.machine.step(Event::Trouble { key, text }, now).actions
    }

    /// A save worked after some did not: the trouble is over (and saved as over).
    fn saved_again(&mut self, now: Now) -> Vec<Action> {
        let key = TroubleKey::StateUnsaved;
        let out = self.machine.step(Event::Trouble { key, text: None }, now);
        if let Err(e) = self.save(now) {
            error!(error = %e, "cannot save the state");
        }
        out.actions
    }

    /// The rows of one step, in one transaction.
    fn record(&self, now: Now, rows: &[Row]) {
        if rows.is_empty() {
            return;
        }
        let result = match self.history.lock() {
            Ok(mut h) => h.record_all(now.wall, rows).map_err(|e| e.to_string()),
            Err(_) => Err("history lock poisoned".into()),
        };
        if let Err(e) = result {
            error!(error = %e, rows = rows.len(), "cannot record events in the history");
        }
    }

    async fn execute(&mut self, action: Action, rows: &mut Vec<Row>) {
        match action {
            Action::Notify(kind, text) => {
                info!(kind = kind.as_str(), %text, "notice");
                self.courier.notice(kind, text);
            }
            Action::Record(row) => rows.push(row),
            Action::StateChanged {
                old,
                new,
                reason,
                actor,
            } => {
                info!(%old, %new, %reason, %actor, "state changed");
                rows.push(Row {
                    kind: Kind::State,
                    text: format!("{old} → {new}: {reason}"),
                    actor,
                });
                self.publisher.state_changed(old, new, &reason).await;
            }
            Action::Probe { id, macs } => {
                let presence = self.presence.clone();
                let inbox = self.inbox.clone();
                let timeout = self.probe_timeout;
                tokio::spawn(async move {
                    let outcome = probe(&presence, &macs, timeout).await;
                    if let Err(e) = &outcome {
                        warn!(error = %e, "ARP probe failed");
                    }
                    inbox.event(Event::ProbeDone { id, outcome }).await;
                });
            }
            Action::Capture { event } => {
                self.photos.begin(event);
                let camera = self.camera.clone();
                let photos = self.photos.clone();
                tokio::spawn(async move {
                    let result =
                        match tokio::time::timeout(CAPTURE_TIMEOUT, camera.capture_event(event))
                            .await
                        {
                            Ok(Ok(frames)) => Ok(frames.into_iter().map(|(fd, _)| fd).collect()),
                            Ok(Err(e)) => Err(capture_failure(event, e)),
                            Err(_) => Err(PhotoProblem::NoAnswer(CAPTURE_TIMEOUT)),
                        };
                    if let Err(e) = &result {
                        warn!(event, error = %e, "capture failed");
                    }
                    photos.finish(event, result);
                });
            }
            Action::Alert {
                kind,
                event,
                caption,
                at,
                photos,
            } => {
                info!(event, kind = kind.as_str(), "alert decided");
                self.courier.alert(kind, event, caption, at, photos);
            }
        }
    }
}

/// A failed capture in words for the owners: no D-Bus error or bus names (those go to the
/// log).
fn capture_failure(event: u64, e: zbus::Error) -> PhotoProblem {
    let detail = secura_bus::Error::from(e).message();
    warn!(event, error = %detail, "camd failed the capture");
    let internal = detail.contains("org.freedesktop") || detail.contains("org.securapicam");
    PhotoProblem::Failed(
        if [
            "ServiceUnknown",
            "NameHasNoOwner",
            "NoReply",
            "Disconnected",
        ]
        .iter()
        .any(|k| detail.contains(k))
        {
            "camd is not running".into()
        } else if internal {
            "the camera could not take them (the details are in alarmd's log)".into()
        } else {
            detail
        },
    )
}

async fn probe(
    presence: &Presence1Proxy<'static>,
    macs: &[MacAddr],
    timeout: Duration,
) -> Result<Vec<Answer>, ProbeFailure> {
    let spelled: Vec<String> = macs.iter().map(ToString::to_string).collect();
    let refs: Vec<&str> = spelled.iter().map(String::as_str).collect();
    let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
    let answers = match tokio::time::timeout(timeout + PROBE_SLACK, presence.probe(&refs, ms)).await
    {
        Ok(Ok(answers)) => answers,
        Ok(Err(e)) => {
            return Err(ProbeFailure::Refused(secura_bus::Error::from(e).message()));
        }
        Err(_) => return Err(ProbeFailure::NoAnswer(timeout + PROBE_SLACK)),
    };
    answers
        .into_iter()
        .map(|a| {
            let mac = MacAddr::parse(&a.mac).ok_or(ProbeFailure::Malformed(a.mac))?;
            Ok(Answer {
                mac,
                answered: a.answered,
                ip: a.ip,
            })
        })
        .collect()
}
