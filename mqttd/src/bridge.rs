//! The hub's bridge between alarmd and the broker: follows `Alarm1` (properties, `Alerted`)
//! and `Sensor1.Active` and publishes what changed; publishes everything again at every
//! (re)connect and when Home Assistant announces itself; relays Home Assistant's commands
//! with `Alarm1.CommandAs(…, "mqtt:home-assistant:Home Assistant")`.

use crate::code::{CodeCheck, Verdict};
use crate::commands::{self, Command, Dropped};
use crate::discovery::{self, Phone};
use crate::mirror::{self, Alarm};
use crate::service::{LinkView, NodesService};
use crate::topics::Topics;
use futures_util::StreamExt;
use rumqttc::{AsyncClient, Event, EventLoop, Packet, QoS};
use secura_bus::names;
use secura_bus::proxies::{Alarm1Proxy, Sensor1Proxy};
use std::collections::HashMap;
use std::os::fd::AsFd;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// The actor passed to `CommandAs` for commands from Home Assistant (`<kind>:<id>:<name>`).
pub const ACTOR: &str = "mqtt:home-assistant:Home Assistant";
/// How long a relayed command or a snapshot may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// How long reading alarmd's or sensord's properties may take: the loop must stay free to
/// handle the broker and SIGTERM even when a peer hangs.
const READ_TIMEOUT: Duration = Duration::from_secs(3);
/// Reconnect back-off: first wait, and the longest.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What the bridge needs to know.
#[derive(Debug, Clone)]
pub struct Hub {
    /// This Pi's topics.
    pub topics: Topics,
    /// Publish Home Assistant discovery.
    pub homeassistant: bool,
    /// The configured phones.
    pub phones: Vec<Phone>,
    /// An alert shows as `triggered` this long.
    pub alert_cooldown: Duration,
    /// The other Pis this hub accepts.
    pub remote: Arc<crate::remote::Remote>,
}

/// What the broker connection reports to the bridge.
#[derive(Debug)]
pub(crate) enum Link {
    Connected,
    Disconnected,
    Message {
        topic: String,
        payload: Vec<u8>,
        retain: bool,
    },
}

/// Run the MQTT event loop, reconnecting with back-off, and report to `tx`.
pub(crate) async fn drive(mut eventloop: EventLoop, tx: mpsc::Sender<Link>) {
    let mut backoff = BACKOFF_MIN;
    let mut up = false;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                info!(
                    session_present = ack.session_present,
                    "connected to the broker"
                );
                backoff = BACKOFF_MIN;
                up = true;
                if tx.send(Link::Connected).await.is_err() {
                    return;
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let m = Link::Message {
                    topic: p.topic.clone(),
                    payload: p.payload.to_vec(),
                    retain: p.retain,
                };
                if tx.send(m).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => {
                let why = e.to_string();
                if up {
                    warn!(error = %why, "lost the broker; reconnecting");
                } else {
                    debug!(error = %why, retry_in = ?backoff, "cannot reach the broker");
                }
                up = false;
                if tx.send(Link::Disconnected).await.is_err() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// The bridge's state.
pub struct Bridge {
    hub: Hub,
    client: AsyncClient,
    conn: zbus::Connection,
    alarm: Alarm1Proxy<'static>,
    sensor: Sensor1Proxy<'static>,
    code: CodeCheck,
    view: Arc<RwLock<LinkView>>,
    connected: bool,
    /// The last payload published on each retained state topic.
    published: HashMap<String, Vec<u8>>,
    /// The last alert's photo or the last snapshot, for republishing.
    image: Arc<std::sync::Mutex<Option<Vec<u8>>>>,
    triggered_until: Option<Instant>,
    motion: Option<bool>,
    /// Messages dropped: malformed, oversized or retained commands.
    dropped: u64,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("node", &self.hub.topics.node)
            .field("connected", &self.connected)
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

impl Bridge {
    /// Set up the bridge; nothing runs until [`Bridge::run`].
    pub async fn new(
        hub: Hub,
        client: AsyncClient,
        conn: zbus::Connection,
        code: CodeCheck,
        view: Arc<RwLock<LinkView>>,
    ) -> zbus::Result<Bridge> {
        hub.remote.set_client(client.clone());
        let alarm = Alarm1Proxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await?;
        let sensor = Sensor1Proxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await?;
        Ok(Bridge {
            hub,
            client,
            conn,
            alarm,
            sensor,
            code,
            view,
            connected: false,
            published: HashMap::new(),
            image: Arc::default(),
            triggered_until: None,
            motion: None,
            dropped: 0,
        })
    }

    /// Run until `shutdown`; then say `offline` and disconnect.
    pub async fn run(
        mut self,
        eventloop: EventLoop,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let (tx, mut rx) = mpsc::channel(256);
        let driver = tokio::spawn(drive(eventloop, tx));
        let alarm_props = zbus::fdo::PropertiesProxy::builder(&self.conn)
            .destination(names::ALARM_NAME)
            .path(names::ALARM_PATH)
            .build()
            .await?;
        // The signal streams live in their own task, which only notes what they said: zbus's
        // reader blocks once any stream has `max_queued` messages waiting, and then not even
        // the replies to this loop's calls get through. alarmd sends several
        // PropertiesChanged per change, so one refresh per signal fell behind and filled the
        // queue (every read then ran into READ_TIMEOUT); now a burst is one refresh.
        let wake = Arc::new(Wake::default());
        let dbus = zbus::fdo::DBusProxy::new(&self.conn).await?;
        // The PIR's Active is followed through sensord's PropertiesChanged (a proxy without a
        // property cache has no change stream) and read again whenever it or its owner
        // changes.
        let sensor_props = zbus::fdo::PropertiesProxy::builder(&self.conn)
            .destination(names::SENSOR_NAME)
            .path(names::SENSOR_PATH)
            .build()
            .await?;
        let watcher = tokio::spawn(watch_signals(
            Streams {
                alarm_changes: alarm_props.receive_properties_changed().await?,
                alarm_owner: dbus
                    .receive_name_owner_changed_with_args(&[(0, names::ALARM_NAME)])
                    .await?,
                alerted: self.alarm.receive_alerted().await?,
                sensor_changes: sensor_props.receive_properties_changed().await?,
                sensor_owner: dbus
                    .receive_name_owner_changed_with_args(&[(0, names::SENSOR_NAME)])
                    .await?,
            },
            wake.clone(),
        ));
        tokio::pin!(shutdown);
        loop {
            let trigger_end = self.triggered_until;
            tokio::select! {
                () = &mut shutdown => break,
                l = rx.recv() => match l {
                    Some(l) => self.on_link(l).await,
                    None => break,
                },
                () = wake.stale.notified() => self.refresh().await,
                () = wake.alert.notified() => self.on_alert().await,
                () = wake.motion.notified() => {
                    if let Ok(Ok(active)) =
                        tokio::time::timeout(READ_TIMEOUT, self.sensor.active()).await
                    {
                        self.motion = Some(active);
                        self.publish_motion().await;
                    }
                }
                () = sleep_until(trigger_end) => {
                    self.triggered_until = None;
                    self.refresh().await;
                }
            }
        }
        if self.connected {
            let t = &self.hub.topics;
            let _ = self
                .client
                .publish(t.status(), QoS::AtLeastOnce, true, "offline")
                .await;
            let _ = self.client.disconnect().await;
            // Give the event loop a moment to send both before the process ends.
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Some(l) = rx.recv().await {
                    if matches!(l, Link::Disconnected) {
                        break;
                    }
                }
            })
            .await;
        }
        driver.abort();
        watcher.abort();
        Ok(())
    }

    async fn set_connected(&mut self, up: bool) {
        if self.connected == up {
            return;
        }
        self.connected = up;
        crate::service::announce_connected(&self.conn, &self.view, up).await;
    }

    async fn on_link(&mut self, l: Link) {
        match l {
            Link::Connected => {
                self.set_connected(true).await;
                self.subscribe().await;
                self.publish_everything().await;
            }
            Link::Disconnected => self.set_connected(false).await,
            Link::Message {
                topic,
                payload,
                retain,
            } => self.on_message(&topic, &payload, retain).await,
        }
    }

    async fn subscribe(&self) {
        let t = &self.hub.topics;
        // Commands at QoS 0: the broker does not keep them for mqttd while it is away, so a
        // DISARM sent an hour ago is never carried out on reconnect.
        let mut subs = vec![
            (t.alarm_set(), QoS::AtMostOnce),
            (t.autoarm_set(), QoS::AtMostOnce),
            (t.photo_press(), QoS::AtMostOnce),
        ];
        if self.hub.homeassistant {
            subs.push((t.homeassistant_status(), QoS::AtLeastOnce));
            subs.push((t.discovery_filter(), QoS::AtLeastOnce));
        }
        // The nodes' reports at QoS 1 in the persistent session: what a node publishes while
        // this mqttd restarts waits at the broker.
        for topic in self.hub.remote.subscriptions() {
            subs.push((topic, QoS::AtLeastOnce));
        }
        for (topic, qos) in subs {
            if let Err(e) = self.client.subscribe(topic.clone(), qos).await {
                warn!(%topic, error = %e, "cannot subscribe");
            }
        }
    }

    async fn publish(&self, topic: String, retain: bool, payload: Vec<u8>) {
        if let Err(e) = self
            .client
            .publish(topic.clone(), QoS::AtLeastOnce, retain, payload)
            .await
        {
            warn!(%topic, error = %e, "cannot queue a message for the broker");
        }
    }

    fn wanted_configs(&self) -> Vec<discovery::Config> {
        discovery::hub_configs(&self.hub.topics, self.code.required(), &self.hub.phones)
    }

    async fn publish_discovery(&self) {
        if !self.hub.homeassistant {
            return;
        }
        for c in self.wanted_configs() {
            self.publish(c.topic, true, c.payload.to_string().into_bytes())
                .await;
        }
    }

    async fn publish_everything(&mut self) {
        let status = self.hub.topics.status();
        self.publish(status, true, b"online".to_vec()).await;
        self.publish_discovery().await;
        self.published.clear();
        self.refresh().await;
        if self.motion.is_none() {
            self.motion = tokio::time::timeout(READ_TIMEOUT, self.sensor.active())
                .await
                .ok()
                .and_then(Result::ok);
        }
        self.publish_motion().await;
        if let Some(img) = remembered(&self.image) {
            self.publish(self.hub.topics.image(), true, img).await;
        }
        info!(node = %self.hub.topics.node, "published the discovery and state");
    }

    async fn publish_motion(&mut self) {
        let Some(active) = self.motion else { return };
        let payload = if active { "ON" } else { "OFF" };
        self.publish_changed(self.hub.topics.motion_state(), payload.as_bytes().to_vec())
            .await;
    }

    async fn publish_changed(&mut self, topic: String, payload: Vec<u8>) {
        if !self.connected || self.published.get(&topic) == Some(&payload) {
            return;
        }
        self.published.insert(topic.clone(), payload.clone());
        self.publish(topic, true, payload).await;
    }

    /// Read alarmd's properties and publish what changed.
    async fn refresh(&mut self) {
        let read = tokio::time::timeout(READ_TIMEOUT, self.read_alarm()).await;
        let Some(a) = read.ok().flatten() else {
            let t = self.hub.topics.troubles();
            let text = serde_json::json!({
                "count": 1,
                "text": "alarmd is not running",
                "troubles": ["alarmd is not running"],
            });
            self.publish_changed(t, text.to_string().into_bytes()).await;
            return;
        };
        for m in mirror::messages(&self.hub.topics, &a) {
            self.publish_changed(m.topic, m.payload).await;
        }
    }

    async fn read_alarm(&self) -> Option<Alarm> {
        let p = &self.alarm;
        let state = p.state().await.ok()?;
        let reason = p.last_reason().await.unwrap_or_default();
        let troubles = p.troubles().await.unwrap_or_default();
        let phones = p
            .devices()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|d| (d.mac, d.present))
            .collect();
        let history = p.history(50).await.unwrap_or_default();
        let actor = mirror::last_changer(
            history
                .iter()
                .map(|h| (h.kind.as_str(), h.text.as_str(), h.actor.as_str())),
        );
        let triggered = self.triggered_until.is_some_and(|t| t > Instant::now());
        Some(Alarm {
            state,
            reason,
            changed_by: mirror::changed_by(&actor, user_name),
            troubles,
            phones,
            triggered,
        })
    }

    async fn on_alert(&mut self) {
        self.triggered_until = Some(Instant::now() + self.hub.alert_cooldown);
        self.refresh().await;
        match tokio::time::timeout(CALL_TIMEOUT, self.alarm.last_alert()).await {
            Ok(Ok((event, _at, _caption, fd))) => {
                match secura_bus::fd::read_all(&fd.as_fd(), crate::link::MAX_PACKET as u64) {
                    Ok(jpeg) => {
                        info!(event, bytes = jpeg.len(), "publishing the alert's photo");
                        remember(&self.image, jpeg.clone());
                        if self.connected {
                            self.publish(self.hub.topics.image(), true, jpeg).await;
                        }
                    }
                    Err(e) => warn!(event, error = %e, "cannot read the alert's photo"),
                }
            }
            Ok(Err(e)) => debug!(error = %e, "the alert has no photo"),
            Err(_) => warn!("alarmd did not hand over the alert's photo in time"),
        }
    }

    async fn on_message(&mut self, topic: &str, payload: &[u8], retain: bool) {
        if self.hub.remote.owns(topic) {
            self.on_node_message(topic, payload, retain).await;
            return;
        }
        let t = &self.hub.topics;
        if topic == t.homeassistant_status() {
            if payload == b"online" {
                info!("Home Assistant is online: publishing the discovery again");
                self.publish_everything().await;
            }
            return;
        }
        if topic.ends_with("/config") {
            // A retained config of this Pi that is no longer wanted (a phone dropped from the
            // configuration): an empty retained message removes the entity.
            if !payload.is_empty() && discovery::is_stale(t, topic, &self.wanted_configs()) {
                info!(%topic, "removing an entity that is no longer configured");
                self.publish(topic.to_string(), true, Vec::new()).await;
            }
            return;
        }
        if retain {
            self.dropped += 1;
            warn!(%topic, dropped = self.dropped, "a retained command is ignored (commands are never retained)");
            if !payload.is_empty() {
                // Clear it, so it is not delivered again at every reconnect.
                self.publish(topic.to_string(), true, Vec::new()).await;
            }
            return;
        }
        let cmd = match commands::parse(t, topic, payload) {
            Ok(c) => c,
            Err(why) => {
                self.dropped += 1;
                let why = match why {
                    Dropped::Oversized => "oversized",
                    Dropped::Malformed => "malformed",
                    Dropped::UnknownTopic => "unexpected topic",
                };
                warn!(%topic, bytes = payload.len(), dropped = self.dropped, "{why} command dropped");
                return;
            }
        };
        if matches!(cmd, Command::ArmAway(_) | Command::Disarm(_)) {
            let now = secura_bus::types::now_micros();
            match self.code.check(cmd.code(), now) {
                Verdict::Accepted => {}
                Verdict::Wrong => {
                    warn!(command = ?cmd.alarm_command(), "wrong code from Home Assistant: command refused");
                    return;
                }
                Verdict::LockedOut => {
                    warn!(command = ?cmd.alarm_command(), "too many wrong codes: command refused without checking");
                    return;
                }
            }
        }
        self.execute(cmd);
    }

    /// A message from an accepted node: its signals and property changes on `Nodes1`.
    async fn on_node_message(&mut self, topic: &str, payload: &[u8], retain: bool) {
        use crate::remote::Effect;
        let now = secura_bus::types::now_micros();
        let effect = self.hub.remote.handle(topic, payload, retain, now);
        let iface = match self
            .conn
            .object_server()
            .interface::<_, NodesService>(names::NODES_PATH)
            .await
        {
            Ok(i) => i,
            Err(e) => {
                warn!(error = %e, "Nodes1 is not served");
                return;
            }
        };
        let emitter = iface.signal_emitter();
        let sent = match effect {
            Effect::Motion { node, at } => {
                info!(%node, at, "motion at a node");
                NodesService::motion(emitter, &node, at).await
            }
            Effect::Sighting { mac, source, at } => {
                debug!(%mac, %source, "sighting at a node");
                NodesService::sighting(emitter, &mac, &source, at).await
            }
            Effect::Changed => {
                let s = iface.get().await;
                match s.nodes_changed(emitter).await {
                    Ok(()) => s.faults_changed(emitter).await,
                    Err(e) => Err(e),
                }
            }
            Effect::Quiet => Ok(()),
            Effect::Dropped(why) => {
                self.dropped += 1;
                warn!(%topic, bytes = payload.len(), dropped = self.dropped, "{why}: dropped");
                Ok(())
            }
        };
        if let Err(e) = sent {
            warn!(%topic, error = %e, "cannot emit a node's signal");
        }
    }

    fn execute(&self, cmd: Command) {
        let alarm = self.alarm.clone();
        let client = self.client.clone();
        let image = self.hub.topics.image();
        let last_image = self.image.clone();
        match cmd.alarm_command() {
            Some(c) => {
                tokio::spawn(async move {
                    info!(command = c, "relaying a command from Home Assistant");
                    match tokio::time::timeout(CALL_TIMEOUT, alarm.command_as(c, ACTOR)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            warn!(command = c, error = %secura_bus::Error::from(e).message(), "alarmd refused")
                        }
                        Err(_) => warn!(command = c, "alarmd did not answer in time"),
                    }
                });
            }
            None => {
                tokio::spawn(async move {
                    info!("taking a photo for Home Assistant");
                    let fd = match tokio::time::timeout(CALL_TIMEOUT, alarm.snapshot()).await {
                        Ok(Ok(fd)) => fd,
                        Ok(Err(e)) => {
                            warn!(error = %secura_bus::Error::from(e).message(), "no photo");
                            return;
                        }
                        Err(_) => {
                            warn!("alarmd did not answer in time");
                            return;
                        }
                    };
                    match secura_bus::fd::read_all(&fd.as_fd(), crate::link::MAX_PACKET as u64) {
                        Ok(jpeg) => {
                            remember(&last_image, jpeg.clone());
                            if let Err(e) =
                                client.publish(image, QoS::AtLeastOnce, true, jpeg).await
                            {
                                warn!(error = %e, "cannot queue the photo");
                            }
                        }
                        Err(e) => warn!(error = %e, "cannot read the photo"),
                    }
                });
            }
        }
    }
}

fn remember(slot: &std::sync::Mutex<Option<Vec<u8>>>, jpeg: Vec<u8>) {
    match slot.lock() {
        Ok(mut g) => *g = Some(jpeg),
        Err(p) => *p.into_inner() = Some(jpeg),
    }
}

fn remembered(slot: &std::sync::Mutex<Option<Vec<u8>>>) -> Option<Vec<u8>> {
    match slot.lock() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

/// What alarmd's signals asked for since the loop last looked; a burst is one wake-up.
#[derive(Debug, Default)]
struct Wake {
    /// Its properties changed or its owner did: read them again.
    stale: tokio::sync::Notify,
    /// `Alerted`.
    alert: tokio::sync::Notify,
    /// sensord's properties or owner changed: read `Active` again.
    motion: tokio::sync::Notify,
}

/// The signal streams [`watch_signals`] drains.
struct Streams {
    alarm_changes: zbus::fdo::PropertiesChangedStream,
    alarm_owner: zbus::fdo::NameOwnerChangedStream,
    alerted: secura_bus::proxies::AlertedStream,
    sensor_changes: zbus::fdo::PropertiesChangedStream,
    sensor_owner: zbus::fdo::NameOwnerChangedStream,
}

/// Drain alarmd's and sensord's signal streams as they arrive, however long the loop is
/// busy, and note in `wake` what they ask for. Never awaits anything but the streams.
async fn watch_signals(mut s: Streams, wake: Arc<Wake>) {
    loop {
        tokio::select! {
            Some(_) = s.alarm_changes.next() => wake.stale.notify_one(),
            Some(_) = s.alarm_owner.next() => wake.stale.notify_one(),
            Some(sig) = s.alerted.next() => {
                if let Ok(a) = sig.args() {
                    info!(event = a.event, "alert: triggered in Home Assistant");
                }
                wake.alert.notify_one();
            }
            Some(_) = s.sensor_changes.next() => wake.motion.notify_one(),
            Some(_) = s.sensor_owner.next() => wake.motion.notify_one(),
            else => return,
        }
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// The local user name of `uid`, for "changed by".
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _ = f.next()?;
        (f.next()?.parse::<u32>().ok()? == uid).then(|| name.to_string())
    })
}
