//! secura-botd: the Telegram side of Secura-Pi-Cam (DESIGN §3, §6–§8).
//!
//! Only allowlisted or paired Telegram users in private chats are answered ([`users`],
//! [`pairing`], [`handler`]); their [`commands`] act through `Alarm1` as themselves. Messages
//! from alarmd go through a durable [`outbox`] that survives crashes and outages. The bus face
//! is `org.securapicam.Bot1` ([`service`]); the Bot API is reached with teloxide ([`api`],
//! [`poller`]).

pub mod api;
pub mod atomic;
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

pub use error::BotError;

use secura_bus::config::TelegramConfig;
use secura_bus::names::{BOT_NAME, BOT_PATH};
use secura_bus::proxies::Alarm1Proxy;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

/// What [`run`] needs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `[telegram]` section.
    pub config: TelegramConfig,
    /// The token.
    pub token: token::Token,
    /// Where the outbox and the paired users live.
    pub state_dir: PathBuf,
}

/// Prepare the state directory (mode 0700: it holds photos and who may command the alarm).
pub fn prepare_state_dir(dir: &std::path::Path) -> Result<(), BotError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
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

    let tasks = [
        tokio::spawn(service::announce(iface, Arc::clone(&shared))),
        tokio::spawn(outbox::delivery::run(api.clone(), Arc::clone(&shared))),
        tokio::spawn(poller::run(api, Arc::clone(&shared), alarm)),
        tokio::spawn(secura_bus::systemd::watchdog_loop()),
    ];
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::debug!(error = %e, "sd_notify READY failed");
    }
    tracing::info!(name = BOT_NAME, "serving");
    shutdown.await;
    tracing::info!("stopping");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    drop(conn);
    Ok(())
}
