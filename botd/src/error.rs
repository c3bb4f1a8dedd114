//! The errors of botd, one variant per failed operation, each naming what it was doing to which
//! file or request.

use std::path::PathBuf;

/// Everything that can go wrong in botd outside of a single Telegram request.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// A file of the state directory could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done ("writing the outbox entry", …).
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The bot token could not be used.
    #[error("telegram token: {0}")]
    Token(String),
    /// A message handed to `Notify`/`Alert` was refused; the text is for the caller.
    #[error("{0}")]
    Invalid(String),
    /// Nobody is authorized, so a message would go nowhere.
    #[error(
        "no Telegram user is authorized yet: list them in allowed_users or pair one with CreatePairingCode"
    )]
    NoRecipients,
    /// The outbox cannot take the message.
    #[error("the outbox is full: {0}")]
    Full(String),
    /// A stored file has content this version cannot read.
    #[error("{path}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// No randomness for a pairing code.
    #[error("no randomness from the kernel for a pairing code: {0}")]
    Random(String),
    /// The HTTP client for the Bot API could not be set up.
    #[error("Bot API client: {0}")]
    Client(String),
    /// The system bus failed.
    #[error("D-Bus: {0}")]
    Bus(#[from] zbus::Error),
    /// A task that runs for the daemon's whole life ended.
    #[error(transparent)]
    Task(#[from] secura_kit::tasks::TaskEnded),
}

impl From<BotError> for secura_kit::Exit {
    fn from(e: BotError) -> secura_kit::Exit {
        use secura_kit::Exit;
        match e {
            // The token file is part of the configuration: a restart cannot fix it.
            BotError::Token(_) => Exit::Config,
            _ => Exit::Failure,
        }
    }
}

impl BotError {
    /// An [`BotError::Io`] for `what` on `path`.
    pub fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> BotError {
        let path = path.into();
        move |source| BotError::Io { what, path, source }
    }
}

impl From<BotError> for secura_bus::Error {
    fn from(e: BotError) -> Self {
        match e {
            BotError::Invalid(m) => secura_bus::Error::InvalidArgument(m),
            BotError::Full(m) => secura_bus::Error::Busy(format!("the outbox is full: {m}")),
            BotError::Random(m) => secura_bus::Error::NotAvailable(m),
            other => secura_bus::Error::NotAvailable(other.to_string()),
        }
    }
}
