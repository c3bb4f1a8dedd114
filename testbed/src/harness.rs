//! The one way a test starts a daemon of this project on a private bus: [`Launch`] names the
//! daemon ([`Service`]), its configuration text and arguments; [`Launch::start`] starts the
//! bus, writes the configuration, spawns the real binary with its own state directory, waits
//! for its name and connects. Every crate's bus tests and the contract tests use it.

use crate::{Daemon, Overlay, TestBus};
use secura_bus::names::Service;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a daemon may take to own its name on a slow machine.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A daemon running on its own private bus.
#[derive(Debug)]
pub struct Started {
    /// The daemon process (dropped, so killed, first).
    pub daemon: Daemon,
    /// A connection of the test's own to the bus.
    pub conn: zbus::Connection,
    /// The private bus.
    pub bus: TestBus,
    /// The daemon's state directory.
    pub state: PathBuf,
    /// Its configuration file.
    pub config: PathBuf,
}

/// Work on the state directory before the daemon starts.
type Prepare = Box<dyn FnOnce(&Path)>;

/// What to start.
pub struct Launch {
    service: Service,
    config: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    overlay: Overlay,
    prepare: Option<Prepare>,
}

impl std::fmt::Debug for Launch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launch")
            .field("service", &self.service)
            .field("args", &self.args)
            .finish_non_exhaustive()
    }
}

impl Launch {
    /// `service` with the whole configuration file `config` (sections and all), logging at
    /// debug level.
    pub fn new(service: Service, config: impl Into<String>) -> Launch {
        Launch {
            service,
            config: config.into(),
            args: vec!["-d".into()],
            env: Vec::new(),
            overlay: Overlay::SameUser,
            prepare: None,
        }
    }

    /// One more argument (`--sim`).
    pub fn arg(mut self, arg: &str) -> Launch {
        self.args.push(arg.into());
        self
    }

    /// More arguments.
    pub fn args(mut self, args: &[&str]) -> Launch {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// An environment variable for the daemon.
    pub fn env(mut self, key: &str, value: &str) -> Launch {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The bus's policy overlay (the default lets the test's user do anything).
    pub fn overlay(mut self, overlay: Overlay) -> Launch {
        self.overlay = overlay;
        self
    }

    /// Prepare the state directory before the daemon starts (seed files, damage them).
    pub fn prepare_state(mut self, f: impl FnOnce(&Path) + 'static) -> Launch {
        self.prepare = Some(Box::new(f));
        self
    }

    /// Start the daemon without waiting for its name: for tests of how it fails.
    pub fn spawn(self) -> (TestBus, Daemon, PathBuf) {
        let bus = TestBus::start_with(self.overlay).expect("starting the test bus");
        let config = write_config(bus.dir(), &self.config);
        let state = bus.dir().join(format!("state-{}", self.service.short()));
        std::fs::create_dir_all(&state).expect("creating the state directory");
        if let Some(prepare) = self.prepare {
            prepare(&state);
        }
        let mut args = vec!["--config".to_string(), config.display().to_string()];
        args.extend(self.args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let daemon = Daemon::spawn_with_env(&bus, self.service.binary(), &args, &state, &env)
            .expect("starting the daemon");
        (bus, daemon, state)
    }

    /// Start it and wait until it owns its name; panics with the daemon's log if it does not.
    pub async fn start(self) -> Started {
        let service = self.service;
        let (bus, daemon, state) = self.spawn();
        if let Err(e) = bus.wait_for_name(service.bus_name(), START_TIMEOUT).await {
            panic!("{e}\n--- {} log ---\n{}", service.binary(), daemon.log());
        }
        let conn = bus.connect().await.expect("connecting to the test bus");
        let config = bus.dir().join("config.toml");
        Started {
            bus,
            daemon,
            conn,
            state,
            config,
        }
    }
}

/// Write `text` as `config.toml` in `dir`; its path.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("writing the configuration");
    path
}
