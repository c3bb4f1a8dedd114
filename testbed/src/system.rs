//! The whole system for end-to-end tests and the demo: a private bus, the five real daemons as
//! child processes (simulated hardware; the sniffer either simulated or capturing on a real
//! interface), the Bot API stand-in, and one configuration file. Daemons can be killed,
//! restarted (as systemd's `Restart=` would), stopped and continued; what the stand-in received
//! is read back as the owner's chat.

use crate::telegram::{Call, SIM_TOKEN, StandIn};
use crate::{Daemon, TestBus, eventually};
use anyhow::{Context, Result, bail};
use nix::sys::signal::Signal;
use secura_bus::proxies::{Alarm1Proxy, Simulator1Proxy};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;
use zbus::proxy::CacheProperties;

mod options;

pub use options::{Options, Part, Phones, RealTelegram, config_text};

/// The allowlisted owner's Telegram user id.
pub const OWNER: i64 = 4242;
/// The owner's phone (a non-private, globally administered MAC).
pub const PHONE: &str = "a4:5e:60:de:e0:01";
/// How long a daemon gets to come onto the bus.
const START: Duration = Duration::from_secs(30);

/// The running system; everything is killed when it is dropped.
#[derive(Debug)]
pub struct System {
    /// The Bot API stand-in.
    pub tg: StandIn,
    /// The configuration file.
    pub config: PathBuf,
    /// A client of alarmd (properties uncached).
    pub alarm: Alarm1Proxy<'static>,
    conn: zbus::Connection,
    daemons: Vec<(Part, Daemon)>,
    opts: Options,
    /// Whether the simulated phone is at home, to tell a restarted simulated sniffer.
    phone_home: std::sync::atomic::AtomicBool,
    // Last: the daemons are killed before their bus.
    bus: TestBus,
}

impl System {
    /// Start the stand-in, the bus and the five daemons, and wait until each owns its name.
    pub async fn start(opts: Options) -> Result<System> {
        let tg = StandIn::start(SIM_TOKEN).await?;
        let bus = TestBus::start()?;
        let config = bus.dir().join("config.toml");
        std::fs::write(&config, config_text(&opts, &tg.url()))?;
        let conn = bus.connect().await?;
        let mut daemons = Vec::new();
        for part in Part::ALL {
            let d = spawn(&bus, part, &config, &opts)?;
            daemons.push((part, d));
            wait_name(&bus, part, &daemons).await?;
            if part == Part::Sniffer && opts.phone_home && opts.phones == Phones::Simulated {
                sim(&conn, Part::Sniffer)
                    .await?
                    .phone_arrives(PHONE)
                    .await?;
            }
        }
        let alarm = Alarm1Proxy::builder(&conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        let s = System {
            tg,
            config,
            alarm,
            conn,
            daemons,
            phone_home: std::sync::atomic::AtomicBool::new(opts.phone_home),
            opts,
            bus,
        };
        if s.opts.telegram.is_none() {
            let polling = eventually(START, || async { s.tg.attempts("getUpdates") > 0 }).await;
            if !polling {
                bail!("botd never polled the stand-in\n{}", s.logs());
            }
        }
        Ok(s)
    }

    /// The private bus.
    pub fn bus(&self) -> &TestBus {
        &self.bus
    }

    /// A connection to the bus, shared by the helpers.
    pub fn connection(&self) -> &zbus::Connection {
        &self.conn
    }

    /// The state directory of `part`.
    pub fn state_dir(&self, part: Part) -> PathBuf {
        state_dir(&self.bus, part)
    }

    /// The running daemon `part`.
    pub fn daemon(&self, part: Part) -> Option<&Daemon> {
        self.daemons
            .iter()
            .find(|(p, _)| *p == part)
            .map(|(_, d)| d)
    }

    fn daemon_mut(&mut self, part: Part) -> Result<&mut Daemon> {
        self.daemons
            .iter_mut()
            .find(|(p, _)| *p == part)
            .map(|(_, d)| d)
            .context("no such daemon")
    }

    /// SIGKILL `part` (a crash); it stays down until [`System::revive`].
    pub fn crash(&mut self, part: Part) -> Result<()> {
        self.daemon_mut(part)?.kill_hard();
        Ok(())
    }

    /// Start `part` again after a crash and wait until it owns its name. A simulated
    /// sniffer starts with an empty world, so it is told again that the phone is at home.
    pub async fn revive(&mut self, part: Part) -> Result<()> {
        self.daemon_mut(part)?.restart()?;
        wait_name(&self.bus, part, &self.daemons).await?;
        if part == Part::Sniffer
            && self.opts.phones == Phones::Simulated
            && self.phone_home.load(Ordering::SeqCst)
        {
            self.phone_arrives().await?;
        }
        Ok(())
    }

    /// SIGKILL and start again at once, as systemd's `Restart=always` would.
    pub async fn restart(&mut self, part: Part) -> Result<()> {
        self.crash(part)?;
        self.revive(part).await
    }

    /// SIGSTOP (`false`) or SIGCONT (`true`) `part`.
    pub fn set_running(&self, part: Part, running: bool) -> Result<()> {
        let sig = if running {
            Signal::SIGCONT
        } else {
            Signal::SIGSTOP
        };
        self.daemon(part).context("no such daemon")?.signal(sig)
    }

    /// SIGTERM every daemon (alarmd first) and wait for each to exit; their exit codes.
    pub fn shutdown(&mut self, grace: Duration) -> Vec<(Part, Result<Option<i32>>)> {
        let mut out = Vec::new();
        for (p, d) in self.daemons.iter_mut().rev() {
            out.push((*p, d.stop(grace)));
        }
        out
    }

    /// The simulator of `part` (sniffer, sensord or camd).
    pub async fn sim(&self, part: Part) -> Result<Simulator1Proxy<'static>> {
        sim(&self.conn, part).await
    }

    /// Somebody walks past the simulated PIR: its output rises, stays high a moment (longer
    /// than the debounce) and falls, so the next call is a new rising edge.
    pub async fn motion(&self) -> Result<()> {
        let pir = self.sim(Part::Sensord).await?;
        pir.motion().await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        pir.motion_ended().await?;
        Ok(())
    }

    /// The owner's simulated phone comes home (frames, ARP answers).
    pub async fn phone_arrives(&self) -> Result<()> {
        self.phone_home.store(true, Ordering::SeqCst);
        Ok(self.sim(Part::Sniffer).await?.phone_arrives(PHONE).await?)
    }

    /// The owner's simulated phone leaves.
    pub async fn phone_leaves(&self) -> Result<()> {
        self.phone_home.store(false, Ordering::SeqCst);
        Ok(self.sim(Part::Sniffer).await?.phone_leaves(PHONE).await?)
    }

    /// Break the simulated camera with `fault`, or repair it with `""`.
    pub async fn camera_fault(&self, fault: &str) -> Result<()> {
        Ok(self.sim(Part::Camd).await?.set_fault(fault).await?)
    }

    /// alarmd's `State`, or an empty string when it does not answer.
    pub async fn state(&self) -> String {
        self.alarm.state().await.unwrap_or_default()
    }

    /// Wait until `State` is `want`.
    pub async fn wait_state(&self, want: &str, within: Duration) -> Result<()> {
        if eventually(within, || async { self.state().await == want }).await {
            return Ok(());
        }
        bail!(
            "State is {:?}, not {want:?}, after {within:?}\n{}",
            self.state().await,
            self.logs()
        )
    }

    /// Everything sent to the owner, in order.
    pub fn sent(&self) -> Vec<Call> {
        self.tg.sent_to(OWNER)
    }

    /// The texts and captions sent to the owner, in order.
    pub fn texts(&self) -> Vec<String> {
        self.sent().into_iter().filter_map(|c| c.text).collect()
    }

    /// The albums (and single captioned photos) sent to the owner.
    pub fn albums(&self) -> Vec<Call> {
        self.sent()
            .into_iter()
            .filter(|c| !c.photos.is_empty() && c.text.is_some())
            .collect()
    }

    /// Wait for a text or caption to the owner that `want` accepts, among those after the
    /// first `after` sends; the text.
    pub async fn wait_text(
        &self,
        after: usize,
        within: Duration,
        want: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let find = || {
            self.sent()
                .into_iter()
                .skip(after)
                .filter_map(|c| c.text)
                .find(|t| want(t))
        };
        if eventually(within, || async { find().is_some() }).await
            && let Some(t) = find()
        {
            return Ok(t);
        }
        bail!(
            "no such message within {within:?}; the owner got {:?}\n{}",
            self.texts(),
            self.logs()
        )
    }

    /// Every daemon's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for (p, d) in &self.daemons {
            let log = d.log();
            // The tail is what matters; whole logs drown the failure.
            let tail: String = log
                .lines()
                .rev()
                .take(60)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            s.push_str(&format!("--- {} (tail) ---\n{tail}\n", p.short()));
        }
        s
    }

    /// The options it was started with.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Add Home Assistant's side: a real Mosquitto on a free loopback port and secura-mqttd
    /// (this Pi named `hall`) reading the same configuration plus an `[mqtt]` section the other
    /// daemons never read; returns once mqttd owns its name.
    pub async fn start_mqtt(&self) -> Result<Mqtt> {
        let broker = crate::mosquitto::Mosquitto::start(&self.bus.dir().join("broker"))?;
        let mut text = std::fs::read_to_string(&self.config)?;
        text.push_str(&format!(
            "\n[mqtt]\nnode_name = \"hall\"\nbroker = \"{}\"\n",
            broker.url(false)
        ));
        let config = self.bus.dir().join("with-mqtt.toml");
        std::fs::write(&config, text)?;
        let daemon = Daemon::spawn(
            &self.bus,
            "secura-mqttd",
            &[
                "--config",
                config.to_str().context("the config path is not UTF-8")?,
                "-d",
            ],
            &self.bus.dir().join("state-mqttd"),
        )?;
        if let Err(e) = self
            .bus
            .wait_for_name(secura_bus::names::NODES_NAME, START)
            .await
        {
            bail!("{e}\n{}", daemon.log());
        }
        Ok(Mqtt {
            broker,
            daemon,
            config,
        })
    }
}

/// mqttd and its broker, beside a [`System`]; both are killed when it is dropped.
#[derive(Debug)]
pub struct Mqtt {
    /// The broker (anonymous, plain TCP on loopback).
    pub broker: crate::mosquitto::Mosquitto,
    /// secura-mqttd.
    pub daemon: Daemon,
    /// Its configuration file.
    pub config: PathBuf,
}

fn state_dir(bus: &TestBus, part: Part) -> PathBuf {
    bus.dir().join(format!("state-{}", part.short()))
}

fn spawn(bus: &TestBus, part: Part, config: &Path, opts: &Options) -> Result<Daemon> {
    let bin = format!("secura-{}", part.short());
    let config = config.to_str().context("the config path is not UTF-8")?;
    let mut args = vec!["--config", config];
    let sim = match part {
        Part::Alarmd => false,
        Part::Sniffer => opts.phones == Phones::Simulated,
        Part::Botd => opts.telegram.is_none(),
        _ => true,
    };
    if sim {
        args.push("--sim");
    }
    if opts.debug {
        args.push("-d");
    }
    let dir = state_dir(bus, part);
    match (&opts.telegram, part) {
        (Some(real), Part::Botd) => {
            let creds = credentials(bus, &real.token)?;
            let creds = creds
                .to_str()
                .context("the credentials path is not UTF-8")?;
            Daemon::spawn_with_env(bus, &bin, &args, &dir, &[("CREDENTIALS_DIRECTORY", creds)])
        }
        _ => Daemon::spawn(bus, &bin, &args, &dir),
    }
}

/// A credentials directory holding `telegram-token` (0600), as systemd's `LoadCredential=`.
fn credentials(bus: &TestBus, token: &str) -> Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = bus.dir().join("credentials");
    if !dir.exists() {
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    }
    let path = dir.join("telegram-token");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(token.trim().as_bytes())?;
    Ok(dir)
}

async fn wait_name(bus: &TestBus, part: Part, daemons: &[(Part, Daemon)]) -> Result<()> {
    if let Err(e) = bus.wait_for_name(part.bus_name(), START).await {
        let log = daemons
            .iter()
            .find(|(p, _)| *p == part)
            .map(|(_, d)| d.log())
            .unwrap_or_default();
        bail!("{e}\n--- {} ---\n{log}", part.short());
    }
    Ok(())
}

async fn sim(conn: &zbus::Connection, part: Part) -> Result<Simulator1Proxy<'static>> {
    Ok(Simulator1Proxy::builder(conn)
        .destination(part.bus_name())
        .path(part.path())
        .cache_properties(CacheProperties::No)
        .build()
        .await?)
}
