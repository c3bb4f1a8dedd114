//! mqttd on a node Pi (`[mqtt] role = "node"`, DESIGN §10): no alarm of its own; it reports
//! to the hub through the broker and takes photos when the hub asks.
//!
//! - its PIR's `Sensor1.Motion` → `secura/<node>/motion` `{"at"}` (QoS 1, never retained);
//! - its sniffer's `Presence1.Sighting` → `…/sighting` `{"mac", "source", "at"}`;
//! - sensord's and camd's health (and whether they run at all) → `…/health`, retained,
//!   published again whenever either changes or comes and goes;
//! - `…/capture/request` → `Camera1.CaptureEvent` (or `Snapshot`), each JPEG on
//!   `…/capture/<id>/<n>` and then `…/capture/<id>/done` `{"count", "error", "at"}`.

use crate::bridge::{Link, drive};
use crate::service::LinkView;
use crate::topics::Topics;
use crate::wire::{self, CaptureDone, CaptureRequest, Health, PartHealth};
use futures_util::StreamExt;
use rumqttc::{AsyncClient, EventLoop, QoS};
use secura_bus::names;
use secura_bus::proxies::{Camera1Proxy, Presence1Proxy, Sensor1Proxy};
use std::os::fd::AsFd;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// How long reading a local daemon's health may take.
const READ_TIMEOUT: Duration = Duration::from_secs(3);
/// How long camd may take for an event's photos (its burst takes a few seconds).
const CAPTURE_TIMEOUT: Duration = Duration::from_secs(15);

/// What the local daemons said, as the node's signal watcher notes it.
#[derive(Debug)]
enum Local {
    Motion(u64),
    Sighting {
        mac: String,
        source: String,
        at: u64,
    },
    /// sensord's or camd's properties or owner changed: read the health again.
    Health,
}

/// The node's runtime.
pub struct Node {
    topics: Topics,
    client: AsyncClient,
    conn: zbus::Connection,
    view: Arc<RwLock<LinkView>>,
    sensor: Sensor1Proxy<'static>,
    camera: Camera1Proxy<'static>,
    connected: bool,
    dropped: u64,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("node", &self.topics.node)
            .field("connected", &self.connected)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Set up the node; nothing runs until [`Node::run`].
    pub async fn new(
        topics: Topics,
        client: AsyncClient,
        conn: zbus::Connection,
        view: Arc<RwLock<LinkView>>,
    ) -> zbus::Result<Node> {
        let sensor = Sensor1Proxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await?;
        let camera = Camera1Proxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await?;
        Ok(Node {
            topics,
            client,
            conn,
            view,
            sensor,
            camera,
            connected: false,
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
        // Motion must never be dropped, and the streams must be drained at all times (a full
        // zbus stream stops the connection's reader): an unbounded channel from a task that
        // awaits nothing but the streams. Sightings are rate-limited by the sniffer.
        let (local_tx, mut local) = mpsc::unbounded_channel();
        let watcher = tokio::spawn(watch_local(self.conn.clone(), local_tx));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                l = rx.recv() => match l {
                    Some(l) => self.on_link(l).await,
                    None => break,
                },
                e = local.recv() => match e {
                    Some(e) => self.on_local(e).await,
                    None => break,
                },
            }
        }
        if self.connected {
            let _ = self
                .client
                .publish(self.topics.status(), QoS::AtLeastOnce, true, "offline")
                .await;
            let _ = self.client.disconnect().await;
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

    async fn on_link(&mut self, l: Link) {
        match l {
            Link::Connected => {
                self.connected = true;
                crate::service::announce_connected(&self.conn, &self.view, true).await;
                let request = self.topics.capture_request();
                if let Err(e) = self
                    .client
                    .subscribe(request.clone(), QoS::AtLeastOnce)
                    .await
                {
                    warn!(topic = %request, error = %e, "cannot subscribe");
                }
                self.publish(self.topics.status(), true, b"online".to_vec())
                    .await;
                self.publish_health().await;
                info!(node = %self.topics.node, "reporting to the hub");
            }
            Link::Disconnected => {
                self.connected = false;
                crate::service::announce_connected(&self.conn, &self.view, false).await;
            }
            Link::Message {
                topic,
                payload,
                retain,
            } => self.on_message(&topic, &payload, retain),
        }
    }

    async fn on_local(&mut self, e: Local) {
        match e {
            Local::Motion(at) => {
                info!(at, "motion: reporting it to the hub");
                let m = wire::encode(&wire::Motion { at });
                self.publish(self.topics.node_motion(), false, m).await;
            }
            Local::Sighting { mac, source, at } => {
                debug!(%mac, %source, "sighting: reporting it to the hub");
                let source = format!("{}/{source}", self.topics.node);
                let s = wire::encode(&wire::Sighting { mac, source, at });
                self.publish(self.topics.node_sighting(), false, s).await;
            }
            Local::Health => self.publish_health().await,
        }
    }

    fn on_message(&mut self, topic: &str, payload: &[u8], retain: bool) {
        if topic != self.topics.capture_request() {
            return;
        }
        let request = match wire::parse::<CaptureRequest>(payload) {
            Some(r) if !retain => r,
            _ => {
                self.dropped += 1;
                let why = if retain { "retained" } else { "malformed" };
                warn!(%topic, dropped = self.dropped, "{why} capture request dropped");
                return;
            }
        };
        info!(event = request.event, hub = %request.reply, snapshot = request.snapshot, "the hub asks for photos");
        tokio::spawn(answer(
            self.camera.clone(),
            self.client.clone(),
            self.topics.clone(),
            request,
        ));
    }

    async fn publish(&self, topic: String, retain: bool, payload: Vec<u8>) {
        // Queued while the broker is away; rumqttc sends it after reconnecting.
        if let Err(e) = self
            .client
            .publish(topic.clone(), QoS::AtLeastOnce, retain, payload)
            .await
        {
            warn!(%topic, error = %e, "cannot queue a message for the broker");
        }
    }

    async fn publish_health(&self) {
        let sensor = part_health(self.sensor.healthy(), self.sensor.fault()).await;
        let camera = part_health(self.camera.healthy(), self.camera.fault()).await;
        let health = Health { sensor, camera };
        debug!(?health, "health");
        self.publish(self.topics.node_health(), true, wire::encode(&health))
            .await;
    }
}

/// One daemon's health from its two properties; `None` when it does not answer (not running).
async fn part_health(
    healthy: impl std::future::Future<Output = zbus::Result<bool>>,
    fault: impl std::future::Future<Output = zbus::Result<String>>,
) -> Option<PartHealth> {
    let healthy = tokio::time::timeout(READ_TIMEOUT, healthy)
        .await
        .ok()?
        .ok()?;
    let fault = tokio::time::timeout(READ_TIMEOUT, fault)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    Some(PartHealth { healthy, fault })
}

/// Take the photos the hub asked for and publish them, then `done`.
async fn answer(camera: Camera1Proxy<'static>, client: AsyncClient, t: Topics, r: CaptureRequest) {
    let taken = if r.snapshot {
        tokio::time::timeout(CAPTURE_TIMEOUT, camera.snapshot())
            .await
            .map(|res| res.map(|one| vec![one]))
    } else {
        tokio::time::timeout(CAPTURE_TIMEOUT, camera.capture_event(r.event)).await
    };
    let mut done = CaptureDone {
        count: 0,
        error: String::new(),
        at: Vec::new(),
    };
    match taken {
        Ok(Ok(photos)) => {
            for (n, (fd, at)) in photos.iter().enumerate() {
                match secura_bus::fd::read_all(&fd.as_fd(), crate::link::MAX_PACKET as u64) {
                    Ok(jpeg) => {
                        let topic = t.capture_photo(r.event, n);
                        if let Err(e) = client.publish(topic, QoS::AtLeastOnce, false, jpeg).await {
                            done.error = format!("cannot queue a photo: {e}");
                            break;
                        }
                        done.count += 1;
                        done.at.push(*at);
                    }
                    Err(e) => {
                        done.error = format!("cannot read a photo from camd: {e}");
                        break;
                    }
                }
            }
        }
        Ok(Err(e)) => {
            let e = secura_bus::Error::from(e);
            done.error = match &e {
                secura_bus::Error::NotAvailable(m) if m.contains("not provided") => {
                    "the camera is not running".into()
                }
                _ => format!("the camera failed: {}", e.message()),
            };
        }
        Err(_) => done.error = format!("the camera did not answer within {CAPTURE_TIMEOUT:?}"),
    }
    if done.error.is_empty() {
        info!(
            event = r.event,
            photos = done.count,
            "photos sent to the hub"
        );
    } else {
        warn!(event = r.event, error = %done.error, "capture for the hub failed");
        done.count = 0;
        done.at.clear();
    }
    let topic = t.capture_done(r.event);
    if let Err(e) = client
        .publish(topic, QoS::AtLeastOnce, false, wire::encode(&done))
        .await
    {
        warn!(error = %e, "cannot queue the capture's result");
    }
}

/// Drain the local daemons' signals as they arrive and pass on what matters. Awaits nothing
/// but the streams and the (unbounded) channel.
async fn watch_local(conn: zbus::Connection, tx: mpsc::UnboundedSender<Local>) {
    let streams = async {
        let sensor = Sensor1Proxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await?;
        let presence = Presence1Proxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await?;
        let props = |name: &'static str, path: &'static str| {
            let conn = conn.clone();
            async move {
                zbus::fdo::PropertiesProxy::builder(&conn)
                    .destination(name)
                    .path(path)
                    .build()
                    .await?
                    .receive_properties_changed()
                    .await
            }
        };
        let dbus = zbus::fdo::DBusProxy::new(&conn).await?;
        zbus::Result::Ok((
            sensor.receive_motion().await?,
            presence.receive_sighting().await?,
            props(names::SENSOR_NAME, names::SENSOR_PATH).await?,
            props(names::CAMERA_NAME, names::CAMERA_PATH).await?,
            dbus.receive_name_owner_changed_with_args(&[(0, names::SENSOR_NAME)])
                .await?,
            dbus.receive_name_owner_changed_with_args(&[(0, names::CAMERA_NAME)])
                .await?,
        ))
    };
    let (mut motion, mut sightings, mut sensor, mut camera, mut sensor_owner, mut camera_owner) =
        match streams.await {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "cannot follow the local daemons' signals");
                return;
            }
        };
    loop {
        let e = tokio::select! {
            Some(m) = motion.next() => match m.args() {
                Ok(a) => Local::Motion(a.at),
                Err(_) => continue,
            },
            Some(s) = sightings.next() => match s.args() {
                Ok(a) => Local::Sighting {
                    mac: a.mac.to_string(),
                    source: a.source.to_string(),
                    at: a.at,
                },
                Err(_) => continue,
            },
            Some(_) = sensor.next() => Local::Health,
            Some(_) = camera.next() => Local::Health,
            Some(_) = sensor_owner.next() => Local::Health,
            Some(_) = camera_owner.next() => Local::Health,
            else => return,
        };
        if tx.send(e).is_err() {
            return;
        }
    }
}
