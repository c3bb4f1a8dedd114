//! secura-botd: the Telegram side of Secura-Pi-Cam (DESIGN §3, §6–§8).
//!
//! Only allowlisted or paired Telegram users in private chats are answered ([`users`],
//! [`pairing`], [`handler`]); their [`commands`] act through `Alarm1` as themselves. Messages
//! from alarmd go through a durable [`outbox`] that survives crashes and outages. The bus face
//! is `org.securapicam.Bot1` ([`service`]); the Bot API is reached with teloxide ([`api`],
//! [`poller`]).

pub mod api;
pub mod commands;
pub mod error;
pub mod handler;
pub mod outbox;
pub mod pairing;
pub mod poller;
pub mod relay;
pub mod report;
pub mod service;
pub mod state;
pub mod token;
pub mod users;
pub mod watch;

pub use error::BotError;

use secura_bus::config::{CameraConfig, Document, Skip, TelegramConfig};
use secura_bus::names::{BOT_NAME, BOT_PATH, Service};
use secura_bus::proxies::Alarm1Proxy;
use secura_kit::{Context, Exit, Tasks};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

/// The sections botd reads.
pub type Config = Document<Skip, Skip, Skip, CameraConfig, TelegramConfig>;

/// botd with its token read, ready to run.
#[derive(Debug)]
pub struct Botd {
    config: TelegramConfig,
    camera_always_on: bool,
    token: token::Token,
}

impl secura_kit::Daemon for Botd {
    const SERVICE: Service = Service::Bot;
    const EXITS: &'static [Exit] = &[Exit::Done, Exit::Failure, Exit::NoPermission, Exit::Config];
    // No simulated hardware: `--sim` lets it run without a token against the Bot API
    // stand-in (the demo and tests).
    const SIM: bool = true;
    const WORKERS: usize = 2;
    const ABOUT: &'static str = "The Telegram bot of Secura-Pi-Cam.";
    type Config = Config;
    type Error = BotError;

    fn effective(config: &Config) -> Result<String, toml::ser::Error> {
        secura_kit::daemon::section("telegram", &config.telegram)
    }

    fn prepare(config: Config, ctx: &Context) -> Result<Botd, BotError> {
        let cfg = config.telegram;
        let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        let token = match token::load(credentials.as_deref(), &cfg.token_file) {
            Ok(t) => t,
            Err(e) if ctx.sim => {
                tracing::warn!(
                    "--sim without a token ({e}): using a placeholder only a stand-in accepts"
                );
                token::Token::parse(token::SIM_TOKEN)?
            }
            Err(e) => return Err(e),
        };
        Ok(Botd {
            config: cfg,
            camera_always_on: config.camera.always_on,
            token,
        })
    }

    async fn run(
        self,
        ctx: Context,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), BotError> {
        let opts = Options {
            config: self.config,
            camera_always_on: self.camera_always_on,
            token: self.token,
            state_dir: ctx.state_dir,
        };
        run(opts, shutdown).await
    }
}

/// What [`run`] needs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `[telegram]` section.
    pub config: TelegramConfig,
    /// `[camera] always_on`: `/status` says the camera is watching whatever the state.
    pub camera_always_on: bool,
    /// The token.
    pub token: token::Token,
    /// Where the outbox and the paired users live.
    pub state_dir: PathBuf,
}

/// Prepare the state directory (mode 0700: it holds photos and who may command the alarm).
pub fn prepare_state_dir(dir: &std::path::Path) -> Result<(), BotError> {
    secura_kit::fs::create_private_dir(dir)
        .map_err(BotError::io("creating the state directory", dir))
}

/// Run botd until `shutdown` completes: serve `Bot1`, poll Telegram, empty the outbox.
pub async fn run(opts: Options, shutdown: impl Future<Output = ()>) -> Result<(), BotError> {
    let cfg = &opts.config;
    prepare_state_dir(&opts.state_dir)?;
    let users = users::Users::load(&opts.state_dir, &cfg.allowed_users)?;
    let outbox = outbox::Outbox::open(
        &opts.state_dir,
        cfg.outbox_max_age.micros(),
        cfg.outbox_max_bytes.0,
    )?;
    tracing::info!(
        users = users.count(),
        waiting = outbox.len(),
        state_dir = %opts.state_dir.display(),
        "state loaded"
    );
    let settings = state::Settings {
        max_command_age: cfg.max_command_age.micros(),
        outbox_max_age: cfg.outbox_max_age.get(),
        camera_always_on: opts.camera_always_on,
    };
    let shared = state::Shared::new(outbox, users, pairing::Pairing::default(), settings);
    let api = api::Api::new(&opts.token, &cfg.api_url, &opts.state_dir)?;

    let conn = zbus::connection::Builder::system()
        .serve_at(BOT_PATH, service::Bot1::new(Arc::clone(&shared)))
        .name(BOT_NAME)
        .build()
        .await?;
    let iface = conn
        .object_server()
        .interface::<_, service::Bot1>(BOT_PATH)
        .await?;
    let alarm = Alarm1Proxy::builder(&conn)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await?;

    let mut tasks = Tasks::new();
    tasks.spawn(
        "Bot1 properties",
        service::announce(iface, Arc::clone(&shared)),
    );
    tasks.spawn(
        "outbox delivery",
        outbox::delivery::run(api.clone(), Arc::clone(&shared)),
    );
    tasks.spawn(
        "Telegram poller",
        poller::run(api, Arc::clone(&shared), alarm),
    );
    tasks.spawn(
        "alarmd watch",
        watch::run(conn.clone(), Arc::clone(&shared)),
    );
    tasks.spawn("watchdog", secura_kit::systemd::watchdog());
    secura_kit::systemd::notify_ready();
    tracing::info!("serving {BOT_NAME}");
    let result = tasks.run_until(shutdown).await;
    drop(conn);
    Ok(result?)
}
