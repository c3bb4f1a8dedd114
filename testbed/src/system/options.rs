//! What the whole system is started with: the five daemons ([`Part`]), how the phone is seen,
//! the Telegram to talk to, and the one configuration file they all read.

use secura_bus::names;

use super::{OWNER, PHONE};

/// One of the five daemons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    /// secura-sniffer
    Sniffer,
    /// secura-sensord
    Sensord,
    /// secura-camd
    Camd,
    /// secura-botd
    Botd,
    /// secura-alarmd
    Alarmd,
}

impl Part {
    /// All five, in start order (alarmd last, so it finds the others).
    pub const ALL: [Part; 5] = [
        Part::Sniffer,
        Part::Sensord,
        Part::Camd,
        Part::Botd,
        Part::Alarmd,
    ];

    /// The short name (`camd`), as in troubles and state directories.
    pub fn short(self) -> &'static str {
        match self {
            Part::Sniffer => "sniffer",
            Part::Sensord => "sensord",
            Part::Camd => "camd",
            Part::Botd => "botd",
            Part::Alarmd => "alarmd",
        }
    }

    /// The bus name it owns.
    pub fn bus_name(self) -> &'static str {
        match self {
            Part::Sniffer => names::PRESENCE_NAME,
            Part::Sensord => names::SENSOR_NAME,
            Part::Camd => names::CAMERA_NAME,
            Part::Botd => names::BOT_NAME,
            Part::Alarmd => names::ALARM_NAME,
        }
    }

    /// The path of its object.
    pub fn path(self) -> &'static str {
        match self {
            Part::Sniffer => names::PRESENCE_PATH,
            Part::Sensord => names::SENSOR_PATH,
            Part::Camd => names::CAMERA_PATH,
            Part::Botd => names::BOT_PATH,
            Part::Alarmd => names::ALARM_PATH,
        }
    }
}

/// How the owner's phone is seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phones {
    /// `secura-sniffer --sim`: `PhoneArrives`/`PhoneLeaves` on its Simulator1.
    Simulated,
    /// The real sniffer capturing on this interface (a network-namespace phone's link).
    Lan {
        /// The test's end of the link.
        interface: String,
        /// The phone's MAC.
        mac: String,
    },
}

/// The real Telegram Bot API instead of the stand-in (the demo, with the user's own bot).
#[derive(Clone)]
pub struct RealTelegram {
    /// The bot's token from @BotFather; handed to botd as a credential file, never printed.
    pub token: String,
    /// The user's own Telegram user id, the only one allowed.
    pub user: i64,
}

impl std::fmt::Debug for RealTelegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealTelegram")
            .field("token", &"<redacted>")
            .field("user", &self.user)
            .finish()
    }
}

/// What to start.
#[derive(Debug, Clone)]
pub struct Options {
    /// Extra lines for `[alarm]`, overriding the short defaults.
    pub alarm: Vec<(String, String)>,
    /// Extra lines for `[camera]`.
    pub camera: Vec<(String, String)>,
    /// How the phone is seen.
    pub phones: Phones,
    /// Whether the phone is at home before alarmd starts (simulated phones only).
    pub phone_home: bool,
    /// `--debug` logs (to the daemons' log files).
    pub debug: bool,
    /// Talk to the real Telegram instead of the stand-in.
    pub telegram: Option<RealTelegram>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            alarm: Vec::new(),
            camera: Vec::new(),
            phones: Phones::Simulated,
            phone_home: true,
            debug: true,
            telegram: None,
        }
    }
}

impl Options {
    /// Set `[alarm] key = value` (`value` is TOML, e.g. `"\"3s\""`).
    pub fn alarm(mut self, key: &str, value: &str) -> Options {
        self.alarm.push((key.into(), value.into()));
        self
    }

    /// Set `[camera] key = value`.
    pub fn camera(mut self, key: &str, value: &str) -> Options {
        self.camera.push((key.into(), value.into()));
        self
    }
}

fn section(name: &str, defaults: &[(&str, &str)], over: &[(String, String)]) -> String {
    let mut s = format!("[{name}]\n");
    for (k, v) in defaults {
        if !over.iter().any(|(ok, _)| ok == k) {
            s.push_str(&format!("{k} = {v}\n"));
        }
    }
    for (k, v) in over {
        s.push_str(&format!("{k} = {v}\n"));
    }
    s
}

/// The configuration file of the whole system, with timings short enough for tests.
pub fn config_text(opts: &Options, stand_in: &str) -> String {
    let (api_url, owner) = match &opts.telegram {
        Some(real) => ("https://api.telegram.org", real.user),
        None => (stand_in, OWNER),
    };
    let (lan, mac) = match &opts.phones {
        Phones::Simulated => ("lo".to_string(), PHONE.to_string()),
        Phones::Lan { interface, mac } => (interface.clone(), mac.clone()),
    };
    let alarm = section(
        "alarm",
        &[
            ("away_after", "\"2s\""),
            ("probe_attempts", "2"),
            ("exit_delay", "\"1s\""),
            ("verify", "\"3s\""),
            ("alert_cooldown", "\"2s\""),
            ("startup_grace", "\"5s\""),
        ],
        &opts.alarm,
    );
    let camera = section(
        "camera",
        &[
            ("backend", "\"sim\""),
            ("width", "320"),
            ("height", "240"),
            ("fps", "4"),
            ("pre_trigger", "\"1s\""),
            ("burst_count", "2"),
            ("burst_interval", "\"200ms\""),
        ],
        &opts.camera,
    );
    format!(
        "{alarm}\n[presence]\nlan_interface = \"{lan}\"\nsighting_interval = \"1s\"\n\
         probe_timeout = \"600ms\"\n[[presence.devices]]\nname = \"Alice\"\nmac = \"{mac}\"\n\n\
         [sensor]\nbackend = \"sim\"\nwarmup = \"0s\"\n\n{camera}\n[telegram]\n\
         allowed_users = [{owner}]\napi_url = \"{api_url}\"\ntoken_file = \"/nonexistent/token\"\n"
    )
}
