//! Start-up: restore the machine, open the history, connect to the bus, serve `Alarm1`,
//! start the listeners, own the name, tell systemd we are ready, then run the core.

use crate::clock::{Clock, SystemClock};
use crate::core::Core;
use crate::courier::Courier;
use crate::history::History;
use crate::inbox::Inbox;
use crate::machine::{Event, Machine, Saved, Settings, TroubleKey};
use crate::persist::{PersistError, StateFile};
use crate::photos::Photos;
use crate::service::{AlarmService, Publisher, View};
use crate::watch;
use anyhow::Context;
use secura_bus::config::{AlarmConfig, Document, MacAddr, PresenceConfig};
use secura_bus::names::Service;
use secura_bus::proxies::{Bot1Proxy, Camera1Proxy, Presence1Proxy, Sensor1Proxy};
use secura_bus::types::Micros;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use tracing::{error, info, warn};
use zbus::proxy::CacheProperties;

/// The sections alarmd reads: `[alarm]` and the device list of `[presence]`.
pub type Config = Document<AlarmConfig, PresenceConfig>;

/// The effective configuration, as `--check-config` prints it.
pub fn effective(doc: &Config) -> Result<String, toml::ser::Error> {
    #[derive(serde::Serialize)]
    struct Shown<'a> {
        alarm: &'a AlarmConfig,
        presence: &'a PresenceConfig,
    }
    toml::to_string(&Shown {
        alarm: &doc.alarm,
        presence: &doc.presence,
    })
}

/// What the state file holds; only a file that exists but cannot be read at all stops the
/// start (a damaged one is moved aside by [`StateFile::load`]).
fn saved(file: &StateFile, stamp: Micros) -> anyhow::Result<Saved> {
    match file.load(stamp) {
        Ok(Some(m)) => {
            info!(state = %m.state(), reason = %m.last_reason, "state restored");
            Ok(Saved::Found(Box::new(m)))
        }
        Ok(None) => {
            info!(path = %file.path().display(), "no saved state: starting disarmed");
            Ok(Saved::Nothing)
        }
        Err(e @ PersistError::Corrupt { .. }) => {
            // Never guess: a lost `disabled` must not turn into an armed system.
            error!(error = %e, "starting DISABLED");
            Ok(Saved::Unreadable(e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Run alarmd until `shutdown` resolves.
pub async fn run(
    doc: Config,
    state_dir: &Path,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    secura_kit::fs::create_private_dir(state_dir)
        .with_context(|| format!("creating the state directory {}", state_dir.display()))?;
    for w in doc.presence.warnings() {
        warn!("{w}");
    }
    let devices: Vec<(String, MacAddr)> = doc
        .presence
        .devices
        .iter()
        .map(|d| (d.name.clone(), d.mac))
        .collect();
    if devices.is_empty() {
        warn!("no [[presence.devices]] configured: automatic arming is off; arm by hand");
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let boot = clock.boot();
    let now = clock.now();
    let state_file = StateFile::new(state_dir);
    let (mut machine, mut first) = Machine::start(
        saved(&state_file, now.wall)?,
        Settings::from(&doc.alarm),
        &devices,
        now,
        &boot,
    );
    let (history, damaged) = History::open_or_fresh(&state_dir.join("history.sqlite"), now.wall)?;
    if let Some(why) = &damaged {
        error!("{why}");
    }
    // The damage is news until the next start that finds the history sound.
    if damaged.is_some() || machine.troubles.contains_key(&TroubleKey::History) {
        let out = machine.step(
            Event::Trouble {
                key: TroubleKey::History,
                text: damaged,
            },
            now,
        );
        first.extend(out.actions);
    }
    let history = Arc::new(Mutex::new(history));

    let conn = zbus::connection::Builder::system()
        .build()
        .await
        .context("connecting to the system bus")?;
    let presence = Presence1Proxy::builder(&conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await?;
    let camera = Camera1Proxy::builder(&conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await?;
    let bot = Bot1Proxy::builder(&conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await?;
    let sensor = Sensor1Proxy::builder(&conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await?;

    let (inbox, rx) = Inbox::new();
    // What the properties show from the moment the name is owned, before the core runs.
    let view = Arc::new(RwLock::new(View::of(&machine)));
    let service = AlarmService {
        tx: inbox.clone(),
        view: view.clone(),
        history: history.clone(),
        camera: camera.clone(),
        last_alert: crate::alerts::LastAlert::default(),
    };
    let path = Service::Alarm.path();
    conn.object_server()
        .at(path, service)
        .await
        .context("serving the Alarm1 object")?;
    let iface = conn
        .object_server()
        .interface::<_, AlarmService>(path)
        .await
        .context("finding the served Alarm1 object")?;

    tokio::spawn(watch::motion(sensor, inbox.clone()));
    tokio::spawn(watch::sightings(presence.clone(), inbox.clone()));
    let grace = doc.alarm.startup_grace.get();
    for service in watch::PEERS {
        tokio::spawn(watch::supervise(
            conn.clone(),
            service,
            grace,
            inbox.clone(),
        ));
    }
    tokio::spawn(crate::broker::follow(conn.clone(), inbox.clone()));
    tokio::spawn(crate::nodes::follow(conn.clone(), inbox.clone()));

    let publisher = Publisher::new(iface, view);
    tokio::spawn(crate::activity::drive_camera(
        conn.clone(),
        camera.clone(),
        publisher.camera_wanted(),
    ));
    let photos = Photos::default();
    let core = Core {
        machine,
        first,
        clock,
        boot,
        state_file,
        history,
        publisher,
        inbox: inbox.clone(),
        presence,
        camera,
        probe_timeout: doc.presence.probe_timeout.get(),
        photos: photos.clone(),
        courier: Courier::start(bot, photos, inbox.clone()),
    };

    let name = Service::Alarm.bus_name();
    conn.request_name(name).await.with_context(|| {
        format!(
            "owning {name}: is another secura-alarmd running, or does the D-Bus policy not let \
             this user own it?"
        )
    })?;
    info!(name, "ready");
    secura_kit::systemd::notify_ready();
    let result = core.run(rx, shutdown).await;
    drop(inbox);
    result
}
