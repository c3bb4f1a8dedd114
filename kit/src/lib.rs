//! secura-kit: what every Secura-Pi-Cam daemon does the same way, written once.
//!
//! The options every daemon takes ([`cli`]), its exit codes ([`exit`]), logging ([`log`]), the
//! service manager's side — readiness, watchdog, stop signals ([`systemd`]) —, supervision of
//! its long-running tasks ([`tasks`]), crash-safe file replacement ([`fs`]), retry delays
//! ([`backoff`]), times as people read them ([`time`]) and the `main` that strings them
//! together ([`daemon`]). The bus contract itself (names, proxies, wire types, configuration)
//! is `secura-bus`; nothing here knows what a daemon does.

pub mod backoff;
pub mod cli;
pub mod daemon;
pub mod exit;
pub mod fs;
pub mod log;
pub mod systemd;
pub mod tasks;
pub mod time;

pub use backoff::Backoff;
pub use daemon::{Context, Daemon};
pub use exit::Exit;
pub use tasks::Tasks;
