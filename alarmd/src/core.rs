//! The core task: the only owner of the [`Machine`]. It takes events and commands from one
//! queue, steps the machine, saves it, then carries out the actions. Nothing here waits on
//! another daemon: every bus call runs in its own task with a timeout and comes back as an
//! event, so a stopped or missing daemon can never stall the alarm.

use crate::history::History;
use crate::machine::{Action, Event, Machine, Refusal};
use crate::peers::{Courier, Outgoing, Photos};
use crate::persist::StateFile;
use crate::service::{AlarmService, View};
use secura_bus::names;
use secura_bus::proxies::{Camera1Proxy, Presence1Proxy};
use secura_bus::types::{AlarmDevice, Command, Micros, now_micros};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

/// How long `CaptureEvent` may take (pre-trigger frames are immediate; the burst is not).
pub const CAPTURE_TIMEOUT: Duration = Duration::from_secs(30);
/// Extra time beyond the probe's own timeout before a probe call is given up.
pub const PROBE_SLACK: Duration = Duration::from_secs(3);

/// What reaches the core.
#[derive(Debug)]
pub enum Input {
    /// Something happened.
    Event(Event),
    /// An owner's command; the answer goes back on `reply`.
    Command {
        /// What.
        cmd: Command,
        /// Who.
        actor: String,
        /// Accepted or refused.
        reply: oneshot::Sender<Result<(), Refusal>>,
    },
    /// A history row that is not a machine event (snapshots).
    Record {
        /// Kind.
        kind: &'static str,
        /// Text.
        text: String,
        /// Who.
        actor: String,
    },
    /// The bus connection is gone: exit so systemd restarts the daemon.
    Fatal(String),
}

/// The core's parts.
#[derive(Debug)]
pub struct Core {
    pub(crate) machine: Machine,
    pub(crate) state_file: StateFile,
    pub(crate) history: Arc<Mutex<History>>,
    pub(crate) view: Arc<RwLock<View>>,
    pub(crate) conn: zbus::Connection,
    pub(crate) tx: mpsc::Sender<Input>,
    pub(crate) presence: Presence1Proxy<'static>,
    pub(crate) camera: Camera1Proxy<'static>,
    pub(crate) probe_timeout: Duration,
    pub(crate) photos: Photos,
    pub(crate) courier: Courier,
    /// The machine came from a state file (not a first start).
    pub(crate) restored: bool,
}

fn to_instant(at: Micros) -> tokio::time::Instant {
    let wait = Duration::from_micros(at.saturating_sub(now_micros()));
    tokio::time::Instant::now() + wait
}

impl Core {
    /// Serve until `shutdown` resolves or the bus is lost (then `Err`).
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<Input>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        tokio::pin!(shutdown);
        let watchdog = sd_notify::watchdog_enabled().map(|d| d / 2);
        let mut dog = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
        self.publish().await;
        self.after_restart();
        // Whatever time passed while the daemon was down is applied at once.
        let _ = self.apply(Event::Tick).await;
        loop {
            let deadline = self.machine.next_deadline().map(to_instant);
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
                    self.save();
                    return Ok(());
                }
            }
        }
    }

    /// Say so when the last run did not stop cleanly, and send again the alerts it had not
    /// handed to botd (their photos stay in camd's event directory).
    fn after_restart(&mut self) {
        if self.restored && !self.machine.clean_stop {
            let text = format!(
                "alarmd restarted after an unclean stop (crash or power cut); the alarm stayed \
                 {}.",
                self.machine.state()
            );
            warn!("{text}");
            self.record(now_micros(), "trouble", &text, "system");
            self.courier.send(Outgoing::Notify(text));
        }
        for (event, caption) in self.machine.unsent_alerts.clone() {
            warn!(
                event,
                "sending an alert the previous run had not handed to botd"
            );
            self.courier.send_alert(
                Outgoing::Notify(format!(
                    "{caption}\nalarmd restarted before this alert was sent; its photos are kept \
                     on the Pi under camd's event {event}."
                )),
                event,
            );
        }
        self.machine.clean_stop = false;
        self.save();
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
            Input::Record { kind, text, actor } => self.record(now_micros(), kind, &text, &actor),
            Input::Fatal(_) => {}
        }
    }

    /// Step the machine, save it, carry out its actions, update the properties.
    async fn apply(&mut self, event: Event) -> Result<(), Refusal> {
        let now = now_micros();
        debug!(?event, "event");
        let before = self.machine.mode;
        let unsent = self.machine.unsent_alerts.len();
        let out = self.machine.step(event, now);
        if !out.actions.is_empty()
            || self.machine.mode != before
            || self.machine.unsent_alerts.len() != unsent
        {
            self.save();
        }
        for action in out.actions {
            self.execute(action, now).await;
        }
        self.publish().await;
        out.reply
    }

    fn save(&mut self) {
        if let Err(e) = self.state_file.save(&self.machine) {
            error!(error = %e, "cannot save the state; a restart may lose the latest change");
            let key = "state-file".to_string();
            if !self.machine.troubles.contains_key(&key) {
                let _ = self.tx.try_send(Input::Event(Event::Trouble {
                    key,
                    text: Some(format!("cannot save the alarm state: {e}")),
                }));
            }
        }
    }

    fn record(&self, at: Micros, kind: &str, text: &str, actor: &str) {
        let result = match self.history.lock() {
            Ok(mut h) => h.record(at, kind, text, actor).map_err(|e| e.to_string()),
            Err(_) => Err("history lock poisoned".into()),
        };
        if let Err(e) = result {
            error!(error = %e, kind, text, "cannot record an event in the history");
        }
    }

    async fn execute(&mut self, action: Action, now: Micros) {
        match action {
            Action::Notify(text) => {
                info!(%text, "notice");
                self.courier.send(Outgoing::Notify(text));
            }
            Action::Record { kind, text, actor } => self.record(now, kind, &text, &actor),
            Action::StateChanged {
                old,
                new,
                reason,
                actor,
            } => {
                info!(%old, %new, %reason, %actor, "state changed");
                self.record(now, "state", &format!("{old} → {new}: {reason}"), &actor);
                if let Ok(iface) = self
                    .conn
                    .object_server()
                    .interface::<_, AlarmService>(names::ALARM_PATH)
                    .await
                {
                    let emitter = iface.signal_emitter();
                    if let Err(e) =
                        AlarmService::state_transition(emitter, old.as_str(), new.as_str(), &reason)
                            .await
                    {
                        warn!(error = %e, "cannot emit StateChanged");
                    }
                }
            }
            Action::Probe { id, macs } => {
                let presence = self.presence.clone();
                let tx = self.tx.clone();
                let timeout = self.probe_timeout;
                tokio::spawn(async move {
                    let outcome = probe(&presence, &macs, timeout).await;
                    if let Err(e) = &outcome {
                        warn!(error = %e, "ARP probe failed");
                    }
                    let _ = tx
                        .send(Input::Event(Event::ProbeDone { id, outcome }))
                        .await;
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
                            Ok(Err(e)) => Err(secura_bus::Error::from(e).message()),
                            Err(_) => Err(format!("no answer within {CAPTURE_TIMEOUT:?}")),
                        };
                    if let Err(e) = &result {
                        warn!(event, error = %e, "capture failed");
                    }
                    photos.finish(event, result);
                });
            }
            Action::Alert { event, caption } => {
                let photos = self.photos.clone();
                let courier = self.courier.clone();
                let at = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
                let conn = self.conn.clone();
                tokio::spawn(async move {
                    let (fds, errors) = photos.wait(event, CAPTURE_TIMEOUT).await;
                    let mut caption = format!("{caption} at {at}");
                    if fds.is_empty() {
                        let why = if errors.is_empty() {
                            "no photos".to_string()
                        } else {
                            errors.join("; ")
                        };
                        if errors.iter().all(|e| e == crate::peers::NOT_IN_MEMORY) {
                            caption.push_str(&format!(
                                "\n{}: they are kept on the Pi under camd's event {event}.",
                                crate::peers::NOT_IN_MEMORY
                            ));
                        } else {
                            caption.push_str(&format!("\nThe camera failed: {why}."));
                        }
                        warn!(event, "alert without photos");
                    } else {
                        info!(event, photos = fds.len(), "alert");
                    }
                    crate::alerts::announce(&conn, event, &caption, fds.first()).await;
                    if fds.is_empty() {
                        courier.send_alert(Outgoing::Notify(caption), event);
                    } else {
                        courier.send_alert(Outgoing::Alert(caption, fds), event);
                    }
                });
            }
        }
    }

    /// Recompute the properties and emit `PropertiesChanged` for those that changed.
    async fn publish(&mut self) {
        let m = &self.machine;
        let new = View {
            state: m.state().as_str().to_string(),
            home: m.home(),
            devices: m
                .devices
                .iter()
                .map(|d| AlarmDevice {
                    name: d.name.clone(),
                    mac: d.mac.clone(),
                    present: d.present,
                    last_seen: d.last_seen,
                })
                .collect(),
            last_change: m.last_change,
            last_reason: m.last_reason.clone(),
            troubles: m.troubles.values().cloned().collect(),
        };
        let old = match self.view.write() {
            Ok(mut v) => std::mem::replace(&mut *v, new.clone()),
            Err(p) => std::mem::replace(&mut *p.into_inner(), new.clone()),
        };
        if old == new {
            return;
        }
        let Ok(iface) = self
            .conn
            .object_server()
            .interface::<_, AlarmService>(names::ALARM_PATH)
            .await
        else {
            return;
        };
        let e = iface.signal_emitter();
        let s = iface.get().await;
        let r = async {
            if old.state != new.state {
                s.state_changed(e).await?;
            }
            if old.home != new.home {
                s.home_changed(e).await?;
            }
            if old.devices != new.devices {
                s.devices_changed(e).await?;
            }
            if old.last_change != new.last_change {
                s.last_change_changed(e).await?;
            }
            if old.last_reason != new.last_reason {
                s.last_reason_changed(e).await?;
            }
            if old.troubles != new.troubles {
                s.troubles_changed(e).await?;
            }
            zbus::Result::Ok(())
        }
        .await;
        if let Err(e) = r {
            warn!(error = %e, "cannot emit PropertiesChanged");
        }
    }
}

async fn probe(
    presence: &Presence1Proxy<'static>,
    macs: &[String],
    timeout: Duration,
) -> Result<Vec<secura_bus::ProbeAnswer>, String> {
    let refs: Vec<&str> = macs.iter().map(String::as_str).collect();
    let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
    match tokio::time::timeout(timeout + PROBE_SLACK, presence.probe(&refs, ms)).await {
        Ok(Ok(answers)) => Ok(answers),
        Ok(Err(e)) => Err(secura_bus::Error::from(e).message()),
        Err(_) => Err(format!(
            "the sniffer did not answer within {:?}",
            timeout + PROBE_SLACK
        )),
    }
}
