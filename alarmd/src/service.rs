//! `org.securapicam.Alarm1`: thin methods that find out who is calling, hand the command to
//! the core and return its answer; properties read from a [`View`] that the core replaces
//! through the [`Publisher`] after every step, which also emits the signals.

use crate::history::History;
use crate::inbox::{Inbox, Input};
use crate::machine::{Kind, Machine, Refusal, Row};
use secura_bus::Error;
use secura_bus::State;
use secura_bus::proxies::Camera1Proxy;
use secura_bus::types::{AlarmDevice, Command, HistoryEntry};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::oneshot;
use tracing::warn;
use zbus::message::Header;
use zbus::object_server::{InterfaceRef, SignalEmitter};
use zbus::{Connection, interface};

/// How long `Snapshot()` waits for camd.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the properties show, replaced by the core after every step.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct View {
    /// `State`
    pub state: String,
    /// `Home`
    pub home: bool,
    /// `Devices`
    pub devices: Vec<AlarmDevice>,
    /// `LastChange`
    pub last_change: u64,
    /// `LastReason`
    pub last_reason: String,
    /// `Troubles`
    pub troubles: Vec<String>,
}

impl View {
    /// What `m` shows on the bus.
    pub fn of(m: &Machine) -> View {
        View {
            state: m.state().as_str().to_string(),
            home: m.home(),
            devices: m
                .devices
                .iter()
                .map(|d| AlarmDevice {
                    name: d.name.clone(),
                    mac: d.mac.to_string(),
                    present: d.present,
                    last_seen: d.last_seen,
                })
                .collect(),
            last_change: m.last_change,
            last_reason: m.last_reason.clone(),
            troubles: m.troubles.values().cloned().collect(),
        }
    }
}

/// The served object.
#[derive(Debug)]
pub struct AlarmService {
    pub(crate) tx: Inbox,
    pub(crate) view: Arc<RwLock<View>>,
    pub(crate) history: Arc<Mutex<History>>,
    pub(crate) camera: Camera1Proxy<'static>,
    /// What `LastAlert()` returns; written by [`crate::alerts::announce`].
    pub(crate) last_alert: crate::alerts::LastAlert,
}

fn read(view: &Arc<RwLock<View>>) -> View {
    match view.read() {
        Ok(v) => v.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// The caller's uid, from the bus daemon (never from the message).
async fn caller_uid(conn: &Connection, hdr: &Header<'_>) -> Result<u32, Error> {
    let sender = hdr
        .sender()
        .ok_or_else(|| Error::Denied("the call has no sender".into()))?;
    let dbus = zbus::fdo::DBusProxy::new(conn).await?;
    dbus.get_connection_unix_user(sender.clone().into())
        .await
        .map_err(|e| Error::Denied(format!("cannot tell who {sender} is: {e}")))
}

/// The actor of a local caller as recorded: its user name beside its uid (`root (uid:0)`),
/// or `uid:N` when the passwd database does not know it.
async fn caller(conn: &Connection, hdr: &Header<'_>) -> Result<String, Error> {
    let uid = caller_uid(conn, hdr).await?;
    // getpwuid may read files or ask a name service: not on the runtime's threads.
    let user = tokio::task::spawn_blocking(move || {
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
    })
    .await;
    Ok(match user {
        Ok(Ok(Some(u))) => local_actor(&u.name, uid),
        _ => format!("uid:{uid}"),
    })
}

/// `root (uid:0)`.
fn local_actor(name: &str, uid: u32) -> String {
    format!("{name} (uid:{uid})")
}

/// The actor of a relayed command as recorded. `actor` is `<kind>:<id>[:<name>]`
/// (`telegram:4242:Alice`, `mqtt:home-assistant`); the result names the person first and keeps
/// the ids beside the name: `Alice (telegram:4242 via uid:110)`, or
/// `mqtt:home-assistant (via uid:110)` without a name.
fn relayed_actor(actor: &str, via_uid: u32) -> String {
    let mut parts = actor.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(kind), Some(id), Some(name)) if !name.trim().is_empty() => {
            format!("{} ({kind}:{id} via uid:{via_uid})", name.trim())
        }
        _ => format!("{actor} (via uid:{via_uid})"),
    }
}

/// The recorded actor of a relayed call: `actor` checked, with the relay's uid.
async fn relayed(actor: &str, conn: &Connection, hdr: &Header<'_>) -> Result<String, Error> {
    if !valid_actor(actor) {
        return Err(Error::InvalidArgument(
            "actor must be 1-64 printable characters, e.g. \"telegram:12345:Alice\"".into(),
        ));
    }
    Ok(relayed_actor(actor, caller_uid(conn, hdr).await?))
}

/// A label a relay may pass as the actor: short, printable, no spaces at the ends.
fn valid_actor(actor: &str) -> bool {
    !actor.is_empty()
        && actor.len() <= 64
        && actor.trim() == actor
        && actor.chars().all(|c| !c.is_control())
}

impl AlarmService {
    /// A photo now for `actor`, recorded in the history either way.
    async fn take_snapshot(&self, actor: String) -> Result<zbus::OwnedFd, Error> {
        let result = tokio::time::timeout(SNAPSHOT_TIMEOUT, self.camera.snapshot()).await;
        let (text, answer) = match result {
            Ok(Ok((fd, _at))) => ("snapshot taken".to_string(), Ok(fd)),
            Ok(Err(e)) => {
                let msg = format!(
                    "the camera could not take a photo: {}",
                    Error::from(e).message()
                );
                (
                    format!("snapshot failed: {msg}"),
                    Err(Error::NotAvailable(msg)),
                )
            }
            Err(_) => {
                let msg = format!("the camera did not answer within {SNAPSHOT_TIMEOUT:?}");
                (
                    format!("snapshot failed: {msg}"),
                    Err(Error::NotAvailable(msg)),
                )
            }
        };
        self.tx
            .send(Input::Record(Row {
                kind: Kind::Command,
                text,
                actor,
            }))
            .await;
        answer
    }

    async fn command(&self, cmd: Command, actor: String) -> Result<(), Error> {
        let (reply, answer) = oneshot::channel();
        if !self.tx.send(Input::Command { cmd, actor, reply }).await {
            return Err(Error::NotAvailable("alarmd is shutting down".into()));
        }
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Refusal(why))) => Err(Error::NotAvailable(why)),
            Err(_) => Err(Error::NotAvailable("alarmd is shutting down".into())),
        }
    }
}

#[interface(name = "org.securapicam.Alarm1")]
impl AlarmService {
    /// Arm by hand: `arming` for `exit_delay`, then `armed` until `Disarm()`.
    async fn arm(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), Error> {
        self.command(Command::Arm, caller(conn, &hdr).await?).await
    }

    /// Disarm.
    async fn disarm(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), Error> {
        self.command(Command::Disarm, caller(conn, &hdr).await?)
            .await
    }

    /// Leave `disabled`.
    async fn enable(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), Error> {
        self.command(Command::Enable, caller(conn, &hdr).await?)
            .await
    }

    /// Switch off until `Enable()`.
    async fn disable(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), Error> {
        self.command(Command::Disable, caller(conn, &hdr).await?)
            .await
    }

    /// `arm|disarm|enable|disable` relayed for `actor` (botd: `telegram:<user id>`).
    async fn command_as(
        &self,
        command: &str,
        actor: &str,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), Error> {
        let cmd = Command::parse(command).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "unknown command {command:?}: use arm, disarm, enable or disable"
            ))
        })?;
        let actor = relayed(actor, conn, &hdr).await?;
        self.command(cmd, actor).await
    }

    /// A JPEG taken now, as a sealed memfd.
    async fn snapshot(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<zbus::OwnedFd, Error> {
        let actor = caller(conn, &hdr).await?;
        self.take_snapshot(actor).await
    }

    /// `Snapshot()` relayed for `actor` (botd: `telegram:<user id>:<first name>`), recorded
    /// as theirs.
    async fn snapshot_as(
        &self,
        actor: &str,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<zbus::OwnedFd, Error> {
        let actor = relayed(actor, conn, &hdr).await?;
        self.take_snapshot(actor).await
    }

    /// The last alert since alarmd started: (event, time, caption, its first photo as a
    /// sealed memfd). `NotAvailable` when there was none, or it had no photo.
    async fn last_alert(&self) -> Result<(u64, u64, String, zbus::OwnedFd), Error> {
        let a = self
            .last_alert
            .get()
            .ok_or_else(|| Error::NotAvailable("no alert since alarmd started".into()))?;
        let photo = a.photo.as_deref().ok_or_else(|| {
            Error::NotAvailable(format!("the alert of event {} had no photo", a.event))
        })?;
        let fd = secura_bus::fd::sealed_memfd("last-alert.jpg", photo)
            .map_err(|e| Error::NotAvailable(format!("cannot hand over the photo: {e}")))?;
        Ok((a.event, a.at, a.caption, zbus::OwnedFd::from(fd)))
    }

    /// The newest `limit` events (at most 1000), newest first: (time, kind, text, actor).
    async fn history(&self, limit: u32) -> Result<Vec<HistoryEntry>, Error> {
        let h = self
            .history
            .lock()
            .map_err(|_| Error::NotAvailable("the event history is unavailable".into()))?;
        h.newest(limit)
            .map_err(|e| Error::NotAvailable(format!("the event history is unavailable: {e}")))
    }

    /// `disabled|disarmed|arming|armed|verifying`
    #[zbus(property)]
    async fn state(&self) -> String {
        read(&self.view).state
    }

    /// Whether any owner's device is taken to be at home.
    #[zbus(property)]
    async fn home(&self) -> bool {
        read(&self.view).home
    }

    /// (name, mac, present, last_seen) of each owner's device.
    #[zbus(property)]
    async fn devices(&self) -> Vec<AlarmDevice> {
        read(&self.view).devices
    }

    /// When `State` last changed.
    #[zbus(property)]
    async fn last_change(&self) -> u64 {
        read(&self.view).last_change
    }

    /// Why `State` last changed.
    #[zbus(property)]
    async fn last_reason(&self) -> String {
        read(&self.view).last_reason
    }

    /// What is wrong now.
    #[zbus(property)]
    async fn troubles(&self) -> Vec<String> {
        read(&self.view).troubles
    }

    /// Every transition of `State`, with its reason.
    #[zbus(signal, name = "StateChanged")]
    pub(crate) async fn state_transition(
        emitter: &SignalEmitter<'_>,
        old: &str,
        new: &str,
        reason: &str,
    ) -> zbus::Result<()>;

    /// An alert went out to the owners: its event, when, and its caption.
    #[zbus(signal)]
    pub(crate) async fn alerted(
        emitter: &SignalEmitter<'_>,
        event: u64,
        at: u64,
        caption: &str,
    ) -> zbus::Result<()>;
}

/// The core's handle on the served object: replaces the [`View`] and emits what changed.
#[derive(Clone)]
pub struct Publisher {
    iface: InterfaceRef<AlarmService>,
    view: Arc<RwLock<View>>,
    camera: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("view", &self.view)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// For the object `iface`, whose properties read `view`.
    pub fn new(iface: InterfaceRef<AlarmService>, view: Arc<RwLock<View>>) -> Publisher {
        let wanted = match view.read() {
            Ok(v) => crate::activity::camera_wanted(&v.state),
            Err(p) => crate::activity::camera_wanted(&p.into_inner().state),
        };
        let camera = tokio::sync::watch::Sender::new(wanted);
        Publisher {
            iface,
            view,
            camera,
        }
    }

    /// Whether the camera should be active, following every published state.
    pub fn camera_wanted(&self) -> tokio::sync::watch::Receiver<bool> {
        self.camera.subscribe()
    }

    /// Show `new`; emit `PropertiesChanged` for what differs from before.
    pub async fn publish(&self, new: View) {
        let old = match self.view.write() {
            Ok(mut v) => std::mem::replace(&mut *v, new.clone()),
            Err(p) => std::mem::replace(&mut *p.into_inner(), new.clone()),
        };
        self.camera.send_if_modified(|w| {
            std::mem::replace(w, crate::activity::camera_wanted(&new.state)) != *w
        });
        if old == new {
            return;
        }
        let e = self.iface.signal_emitter();
        let s = self.iface.get().await;
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

    /// Emit `StateChanged(old, new, reason)`.
    pub async fn state_changed(&self, old: State, new: State, reason: &str) {
        let emitter = self.iface.signal_emitter();
        if let Err(e) =
            AlarmService::state_transition(emitter, old.as_str(), new.as_str(), reason).await
        {
            warn!(error = %e, "cannot emit StateChanged");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{local_actor, relayed_actor, valid_actor};

    #[test]
    fn actors_name_the_person_first_and_keep_the_ids() {
        assert_eq!(
            relayed_actor("telegram:4242:Alice", 110),
            "Alice (telegram:4242 via uid:110)"
        );
        // A name may hold colons and brackets; only the first two colons split.
        assert_eq!(
            relayed_actor("telegram:7:Bob: (home)", 0),
            "Bob: (home) (telegram:7 via uid:0)"
        );
        assert_eq!(
            relayed_actor("mqtt:home-assistant", 0),
            "mqtt:home-assistant (via uid:0)"
        );
        assert_eq!(relayed_actor("telegram:42", 0), "telegram:42 (via uid:0)");
        assert_eq!(local_actor("root", 0), "root (uid:0)");
    }

    #[test]
    fn relayed_actor_labels_are_checked() {
        assert!(valid_actor("telegram:12345"));
        assert!(!valid_actor(""));
        assert!(!valid_actor(" telegram:1"));
        assert!(!valid_actor("a\nb"));
        assert!(!valid_actor(&"x".repeat(65)));
    }
}
