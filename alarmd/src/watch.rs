//! What alarmd listens to: `Sensor1.Motion` and `Presence1.Sighting` through proxy signal
//! streams (which follow the current owner of the name, so nobody else's signal counts), the
//! comings and goings of the other daemons, and the health camd and sensord report.
//!
//! Health follows each daemon's current owner: when camd or sensord (re)appears on the bus its
//! `PropertiesChanged` is followed from that connection, and `Healthy` and `Fault` are read
//! together in one `GetAll`, so a change between two reads cannot give a fault without its
//! reason. Every read has a timeout: a daemon that holds its connection but never answers
//! cannot delay the news that another one left.

use crate::inbox::Inbox;
use crate::machine::{Event, TroubleKey, text};
use futures_util::StreamExt;
use secura_bus::config::MacAddr;
use secura_bus::names::Service;
use secura_bus::proxies::{Presence1Proxy, Sensor1Proxy};
use std::collections::HashMap;
use std::time::Duration;
use tracing::{debug, info, warn};
use zbus::fdo::{DBusProxy, PropertiesProxy};
use zbus::names::{BusName, InterfaceName, OwnedUniqueName};

/// The daemons alarmd depends on.
pub const PEERS: [Service; 4] = [
    Service::Presence,
    Service::Sensor,
    Service::Camera,
    Service::Bot,
];

/// How long a health or owner read may take.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long camd or sensord may say "starting" after coming onto the bus before that is a
/// trouble: every start (and every restart by systemd) passes through it, and an owner told
/// "Trouble: camera: starting" and "Resolved" a second later at each one stops reading.
pub const STARTING_GRACE: Duration = Duration::from_secs(10);

/// The fault camd and sensord report until their hardware is up.
const STARTING: &str = "starting";

/// Forward motion from sensord.
pub async fn motion(sensor: Sensor1Proxy<'static>, inbox: Inbox) {
    let mut stream = match sensor.receive_motion().await {
        Ok(s) => s,
        Err(e) => return inbox.fatal(format!("cannot listen for motion: {e}")).await,
    };
    while let Some(sig) = stream.next().await {
        let at = sig.args().map(|a| a.at).unwrap_or(0);
        info!(at, "motion");
        if !inbox.event(Event::Motion).await {
            return;
        }
    }
    inbox.fatal("the motion signal stream ended".into()).await;
}

/// Forward sightings from the sniffer.
pub async fn sightings(presence: Presence1Proxy<'static>, inbox: Inbox) {
    let mut stream = match presence.receive_sighting().await {
        Ok(s) => s,
        Err(e) => {
            return inbox
                .fatal(format!("cannot listen for sightings: {e}"))
                .await;
        }
    };
    while let Some(sig) = stream.next().await {
        match sig.args() {
            Ok(a) => match MacAddr::parse(a.mac) {
                Some(mac) => {
                    debug!(%mac, source = a.source, "sighting");
                    inbox.offer(Event::Sighting {
                        mac,
                        source: a.source.to_string(),
                    });
                }
                None => warn!(mac = a.mac, "Sighting of a malformed MAC address ignored"),
            },
            Err(e) => warn!(error = %e, "malformed Sighting signal ignored"),
        }
    }
    inbox.fatal("the sighting signal stream ended".into()).await;
}

/// The trouble camd's or sensord's own health is reported under.
fn health_key(service: Service) -> Option<TroubleKey> {
    match service {
        Service::Camera => Some(TroubleKey::Camera),
        Service::Sensor => Some(TroubleKey::Sensor),
        _ => None,
    }
}

fn trouble(key: TroubleKey, text: Option<String>) -> Event {
    Event::Trouble { key, text }
}

/// Raise a trouble while `service` has no owner (after `grace` at start-up), clear it when
/// it returns; for camd and sensord also follow `Healthy`/`Fault` of the current owner.
pub async fn supervise(conn: zbus::Connection, service: Service, grace: Duration, inbox: Inbox) {
    let name = service.bus_name();
    let Ok(dbus) = DBusProxy::new(&conn).await else {
        return inbox.fatal("cannot talk to the bus daemon".into()).await;
    };
    let Ok(bus_name) = BusName::try_from(name) else {
        return;
    };
    let mut changes = match dbus
        .receive_name_owner_changed_with_args(&[(0, name)])
        .await
    {
        Ok(s) => s,
        Err(e) => return inbox.fatal(format!("cannot follow {name}: {e}")).await,
    };
    let missing = TroubleKey::Missing(service);
    let gone = text::not_running(service);
    let mut owner = owner_of(&dbus, &bus_name).await;
    if owner.is_none() {
        // At boot the daemons start together: give them a moment before complaining.
        let sleep = tokio::time::sleep(grace);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                c = changes.next() => match c {
                    Some(c) => {
                        if let Ok(a) = c.args() && let Some(new) = a.new_owner.as_ref() {
                            owner = Some(new.to_owned().into());
                            break;
                        }
                    }
                    None => return,
                },
            }
        }
        if owner.is_none() {
            owner = owner_of(&dbus, &bus_name).await;
        }
        if owner.is_none() {
            inbox.event(trouble(missing, Some(gone.clone()))).await;
        }
    }
    loop {
        let mut health = match (owner.as_ref(), health_key(service)) {
            (Some(unique), Some(key)) => Health::follow(&conn, service, unique, key, &inbox).await,
            _ => None,
        };
        tokio::select! {
            c = changes.next() => {
                let Some(c) = c else { break };
                let Ok(args) = c.args() else { continue };
                match args.new_owner.as_ref() {
                    Some(new) => {
                        info!(daemon = service.short(), "back on the bus");
                        owner = Some(new.to_owned().into());
                        inbox.event(trouble(missing, None)).await;
                    }
                    None => {
                        warn!(daemon = service.short(), "left the bus");
                        owner = None;
                        inbox.event(trouble(missing, Some(gone.clone()))).await;
                    }
                }
            }
            () = async {
                match health.as_mut() {
                    Some(h) => h.run(&inbox).await,
                    None => std::future::pending().await,
                }
            } => {
                // The owner's signal stream ended: follow it again.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    inbox.fatal(format!("lost track of {name}")).await;
}

async fn owner_of(dbus: &DBusProxy<'_>, name: &BusName<'_>) -> Option<OwnedUniqueName> {
    match tokio::time::timeout(READ_TIMEOUT, dbus.get_name_owner(name.clone())).await {
        Ok(Ok(unique)) => Some(unique),
        Ok(Err(_)) => None,
        Err(_) => {
            warn!(%name, "the bus daemon did not say who owns the name in time");
            None
        }
    }
}

/// The health of one owner of camd's or sensord's name.
struct Health {
    props: PropertiesProxy<'static>,
    changes: zbus::fdo::PropertiesChangedStream,
    service: Service,
    key: TroubleKey,
    /// Until then a "starting" fault is expected, not a trouble.
    starting_until: tokio::time::Instant,
    /// A "starting" was held back: read the health again when the grace ends.
    recheck: bool,
}

impl Health {
    /// Follow `unique`'s `PropertiesChanged` and report its health as it is now.
    async fn follow(
        conn: &zbus::Connection,
        service: Service,
        unique: &OwnedUniqueName,
        key: TroubleKey,
        inbox: &Inbox,
    ) -> Option<Health> {
        let built = async {
            let props = PropertiesProxy::builder(conn)
                .destination(unique.clone())
                .path(service.path())
                .cache_properties(zbus::proxy::CacheProperties::No)
                .build()
                .await?;
            let changes = props.receive_properties_changed().await?;
            zbus::Result::Ok((props, changes))
        };
        let (props, changes) = match tokio::time::timeout(READ_TIMEOUT, built).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                warn!(error = %e, daemon = service.short(), "cannot follow health changes");
                return None;
            }
            Err(_) => {
                warn!(
                    daemon = service.short(),
                    "following health changes timed out"
                );
                return None;
            }
        };
        let mut h = Health {
            props,
            changes,
            service,
            key,
            starting_until: crate::clock::instant_in(STARTING_GRACE),
            recheck: false,
        };
        h.report(inbox).await;
        Some(h)
    }

    /// Report every change of `Healthy` or `Fault` until the stream ends.
    async fn run(&mut self, inbox: &Inbox) {
        loop {
            let recheck = self.recheck;
            tokio::select! {
                sig = self.changes.next() => {
                    let Some(sig) = sig else { return };
                    let relevant = sig.args().is_ok_and(|a| {
                        a.interface_name.as_str() == self.service.interface()
                            && (a.changed_properties().contains_key("Healthy")
                                || a.changed_properties().contains_key("Fault")
                                || a.invalidated_properties().contains(&"Healthy"))
                    });
                    if relevant {
                        self.report(inbox).await;
                    }
                }
                () = tokio::time::sleep_until(self.starting_until), if recheck => {
                    self.recheck = false;
                    self.report(inbox).await;
                }
            }
        }
    }

    /// Read `Healthy` and `Fault` in one call into the trouble.
    async fn report(&mut self, inbox: &Inbox) {
        let Ok(iface) = InterfaceName::try_from(self.service.interface()) else {
            return;
        };
        let all = match tokio::time::timeout(READ_TIMEOUT, self.props.get_all(iface)).await {
            Ok(Ok(all)) => all,
            Ok(Err(e)) => {
                debug!(error = %e, daemon = self.service.short(), "cannot read health");
                return;
            }
            Err(_) => {
                warn!(
                    daemon = self.service.short(),
                    "no answer reading health within {READ_TIMEOUT:?}"
                );
                return;
            }
        };
        let Some(text) = health_text(self.key, &all) else {
            return;
        };
        let starting = all
            .get("Fault")
            .and_then(|f| f.downcast_ref::<String>().ok())
            .is_some_and(|f| f.trim() == STARTING);
        if text.is_some()
            && starting
            && crate::clock::instant_in(Duration::ZERO) < self.starting_until
        {
            debug!(daemon = self.service.short(), "starting: not a trouble yet");
            self.recheck = true;
            return;
        }
        self.recheck = false;
        inbox.event(trouble(self.key, text)).await;
    }
}

/// `None` when the answer has no `Healthy`; `Some(None)` when healthy; else the trouble text.
fn health_text(
    key: TroubleKey,
    all: &HashMap<String, zbus::wire::OwnedVariant>,
) -> Option<Option<String>> {
    let healthy = all.get("Healthy")?.downcast_ref::<bool>().ok()?;
    if healthy {
        return Some(None);
    }
    let fault = all
        .get("Fault")
        .and_then(|f| f.downcast_ref::<String>().ok());
    Some(Some(text::unhealthy(key, fault.as_deref())))
}
