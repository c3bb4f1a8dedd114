//! The whole system for the latency and footprint runs: a private bus, the Bot API stand-in,
//! and the five release daemons as child processes — sensord, camd and botd with their
//! simulated hardware, alarmd as it ships, and the sniffer capturing for real on a network
//! namespace's veth when running as root (simulated otherwise).

use anyhow::{Context, Result, bail};
use secura_bus::names;
use secura_bus::proxies::{Alarm1Proxy, Camera1Proxy, Simulator1Proxy};
use secura_testbed::netns::{self, Phone};
use secura_testbed::telegram::{SIM_TOKEN, StandIn};
use secura_testbed::{Daemon, TestBus, eventually};
use std::time::Duration;
use zbus::proxy::CacheProperties;

/// The allowlisted Telegram user who receives the alerts.
pub const OWNER: i64 = 111;
/// The owner's phone.
pub const PHONE_MAC: &str = "a4:5e:60:be:0c:01";
const START: Duration = Duration::from_secs(30);

/// A daemon of the system and its name.
#[derive(Debug)]
pub struct Running {
    /// `secura-alarmd`, …
    pub name: &'static str,
    /// The process.
    pub daemon: Daemon,
}

/// Everything started; all of it stops when dropped.
#[derive(Debug)]
pub struct System {
    /// The daemons, in start order.
    pub daemons: Vec<Running>,
    /// The Bot API stand-in.
    pub tg: StandIn,
    /// A client connection to the bus.
    pub conn: zbus::Connection,
    /// How the sniffer runs: `lan:<veth>` or `sim (…)`.
    pub sniffer_mode: String,
    // Dropped after the daemons: the phone's link and the bus outlive them.
    _phone: Option<Phone>,
    _bus: TestBus,
}

/// The configuration of the benchmark: alerts go out at once (manual arm, no exit delay, no
/// verify window, no cooldown, no debounce, no burst after the trigger); everything else is
/// the shipped default.
fn config(api_url: &str, lan: &str, dir: &std::path::Path) -> String {
    format!(
        "[alarm]\nexit_delay = \"0s\"\nverify = \"0s\"\nalert_cooldown = \"0s\"\n\
         startup_grace = \"30s\"\n\n\
         [presence]\nlan_interface = \"{lan}\"\n\
         [[presence.devices]]\nname = \"Alice\"\nmac = \"{PHONE_MAC}\"\n\n\
         [sensor]\nbackend = \"sim\"\nwarmup = \"0s\"\ndebounce = \"0s\"\n\n\
         [camera]\nbackend = \"sim\"\nburst_count = 0\n\n\
         [telegram]\nallowed_users = [{OWNER}]\napi_url = \"{api_url}\"\n\
         token_file = \"{}\"\n",
        dir.join("no-token-file").display()
    )
}

impl System {
    /// Start the bus, the stand-in and the five daemons; wait until each owns its name, botd
    /// polls the stand-in, the camera is healthy and the alarm is out of start-up.
    pub async fn start() -> Result<System> {
        let bus = TestBus::start().context("starting a private D-Bus")?;
        let tg = StandIn::start(SIM_TOKEN).await?;
        let phone = match netns::unavailable() {
            None => {
                let p = Phone::create(PHONE_MAC, 23).context("creating the phone namespace")?;
                // Absent: the phone stays silent and does not answer ARP.
                crate::presence::quiet(&p)?;
                Some(p)
            }
            Some(_) => None,
        };
        let lan = phone
            .as_ref()
            .map_or("wlan0", Phone::host_interface)
            .to_string();
        let sniffer_mode = match &phone {
            Some(_) => format!("capturing on a veth (lan:{lan})"),
            None => "simulated (--sim: not root)".to_string(),
        };
        let cfg = bus.dir().join("config.toml");
        std::fs::write(&cfg, config(&tg.url(), &lan, bus.dir()))?;
        let cfg = cfg.display().to_string();
        let plan: [(&'static str, &'static str, bool); 5] = [
            ("secura-alarmd", names::ALARM_NAME, false),
            ("secura-sniffer", names::PRESENCE_NAME, phone.is_none()),
            ("secura-sensord", names::SENSOR_NAME, true),
            ("secura-camd", names::CAMERA_NAME, true),
            ("secura-botd", names::BOT_NAME, true),
        ];
        let mut daemons = Vec::new();
        for (name, _, sim) in plan {
            let mut args = vec!["--config", cfg.as_str()];
            if sim {
                args.push("--sim");
            }
            let state = bus.dir().join(name);
            let daemon = Daemon::spawn(&bus, name, &args, &state)?;
            daemons.push(Running { name, daemon });
        }
        for ((_, bus_name, _), d) in plan.iter().zip(&daemons) {
            if let Err(e) = bus.wait_for_name(bus_name, START).await {
                bail!("{e}\n--- {} log ---\n{}", d.name, d.daemon.log());
            }
        }
        let conn = bus.connect().await?;
        let sys = System {
            daemons,
            tg,
            conn,
            sniffer_mode,
            _phone: phone,
            _bus: bus,
        };
        sys.settle().await?;
        Ok(sys)
    }

    async fn settle(&self) -> Result<()> {
        let polling = eventually(START, || async { self.tg.attempts("getUpdates") > 0 }).await;
        if !polling {
            bail!(
                "botd never polled the stand-in:\n{}",
                self.log("secura-botd")
            );
        }
        let camera = Camera1Proxy::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        let healthy = eventually(START, || async { camera.healthy().await.unwrap_or(false) }).await;
        if !healthy {
            bail!(
                "the camera never became healthy:\n{}",
                self.log("secura-camd")
            );
        }
        let alarm = self.alarm().await?;
        let up = eventually(START, || async {
            alarm.state().await.is_ok_and(|s| s == "disarmed")
        })
        .await;
        if !up {
            bail!("alarmd is not disarmed:\n{}", self.log("secura-alarmd"));
        }
        Ok(())
    }

    /// A proxy of alarmd.
    pub async fn alarm(&self) -> Result<Alarm1Proxy<'static>> {
        Ok(Alarm1Proxy::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await?)
    }

    /// Arm by hand and wait until alarmd is armed and camd's camera is on.
    pub async fn arm(&self) -> Result<()> {
        let alarm = self.alarm().await?;
        alarm.arm().await.context("Alarm1.Arm")?;
        let camera = Camera1Proxy::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        let on = eventually(START, || async {
            alarm.state().await.is_ok_and(|s| s == "armed")
                && camera.active().await.unwrap_or(false)
        })
        .await;
        if !on {
            bail!(
                "armed by hand, but the alarm is not armed with the camera on:\n{}\n{}",
                self.log("secura-alarmd"),
                self.log("secura-camd")
            );
        }
        Ok(())
    }

    /// sensord's `Simulator1`.
    pub async fn pir(&self) -> Result<Simulator1Proxy<'static>> {
        Ok(Simulator1Proxy::builder(&self.conn)
            .destination(names::SENSOR_NAME)
            .path(names::SENSOR_PATH)
            .cache_properties(CacheProperties::No)
            .build()
            .await?)
    }

    /// The log of daemon `name` so far.
    pub fn log(&self, name: &str) -> String {
        self.daemons
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.daemon.log())
            .unwrap_or_default()
    }

    /// Every daemon's process id.
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        self.daemons
            .iter()
            .filter_map(|d| d.daemon.pid().map(|p| (d.name, p)))
            .collect()
    }
}
