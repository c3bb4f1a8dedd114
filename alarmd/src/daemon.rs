//! Start-up: restore the machine, open the history, connect to the bus, serve `Alarm1`,
//! start the listeners, own the name, tell systemd we are ready, then run the core.

use crate::core::{Core, Input};
use crate::history::History;
use crate::machine::{Machine, Mode, Settings};
use crate::peers::{Courier, Photos};
use crate::persist::{PersistError, StateFile};
use crate::service::{AlarmService, View};
use crate::watch;
use anyhow::Context;
use secura_bus::config::{AlarmConfig, Document, PresenceConfig};
use secura_bus::names;
use secura_bus::proxies::{Bot1Proxy, Camera1Proxy, Presence1Proxy, Sensor1Proxy};
use secura_bus::types::now_micros;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::mpsc;
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

fn restore(
    file: &StateFile,
    settings: Settings,
    devices: &[(String, String)],
) -> anyhow::Result<(Machine, bool)> {
    let now = now_micros();
    match file.load() {
        Ok(Some(m)) => {
            let m = m.restored(settings, devices, now);
            info!(state = %m.state(), reason = %m.last_reason, "state restored");
            Ok((m, true))
        }
        Ok(None) => {
            info!(path = %file.path().display(), "no saved state: starting disarmed");
            Ok((Machine::new(settings, devices, now), false))
        }
        Err(e @ PersistError::Corrupt { .. }) => {
            // Never guess: a lost `disabled` must not turn into an armed system.
            error!(error = %e, "starting DISABLED");
            let mut m = Machine::new(settings, devices, now);
            m.mode = Mode::Disabled;
            m.last_reason = "the saved state was unreadable: started disabled".into();
            m.troubles.insert(
                "state-file".into(),
                "the saved alarm state was unreadable, so the system started disabled; \
                 /enable when ready"
                    .into(),
            );
            Ok((m, false))
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
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("creating the state directory {}", state_dir.display()))?;
    for w in doc.presence.warnings() {
        warn!("{w}");
    }
    let devices: Vec<(String, String)> = doc
        .presence
        .devices
        .iter()
        .map(|d| (d.name.clone(), d.mac.to_string()))
        .collect();
    if devices.is_empty() {
        warn!("no [[presence.devices]] configured: automatic arming is off; arm by hand");
    }
    let state_file = StateFile::new(state_dir);
    let (machine, restored) = restore(&state_file, Settings::from(&doc.alarm), &devices)?;
    let history = Arc::new(Mutex::new(History::open(
        &state_dir.join("history.sqlite"),
    )?));

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

    let (tx, rx) = mpsc::channel(256);
    let view = Arc::new(RwLock::new(View::default()));
    let service = AlarmService {
        tx: tx.clone(),
        view: view.clone(),
        history: history.clone(),
        camera: camera.clone(),
        last_alert: crate::alerts::LastAlert::default(),
    };
    conn.object_server()
        .at(names::ALARM_PATH, service)
        .await
        .context("serving the Alarm1 object")?;

    tokio::spawn(watch::motion(sensor, tx.clone()));
    tokio::spawn(watch::sightings(presence.clone(), tx.clone()));
    let grace = doc.alarm.startup_grace.get();
    for (name, key) in watch::PEERS {
        tokio::spawn(watch::supervise(conn.clone(), name, key, grace, tx.clone()));
    }
    tokio::spawn(watch::health_changes(conn.clone(), "camd", tx.clone()));
    tokio::spawn(watch::health_changes(conn.clone(), "sensord", tx.clone()));
    tokio::spawn(crate::broker::follow(conn.clone(), tx.clone()));

    let core = Core {
        machine,
        state_file,
        history,
        view,
        conn: conn.clone(),
        tx: tx.clone(),
        presence,
        camera,
        probe_timeout: doc.presence.probe_timeout.get(),
        photos: Photos::default(),
        courier: Courier::start(bot, {
            let tx = tx.clone();
            move |event| {
                let _ = tx.try_send(Input::Event(crate::machine::Event::AlertHanded { event }));
            }
        }),
        restored,
    };

    conn.request_name(names::ALARM_NAME)
        .await
        .with_context(|| {
            format!(
                "owning {}: is another secura-alarmd running, or does the D-Bus policy not let \
             this user own it?",
                names::ALARM_NAME
            )
        })?;
    info!(name = names::ALARM_NAME, "ready");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    let result = core.run(rx, shutdown).await;
    drop(tx);
    result
}
