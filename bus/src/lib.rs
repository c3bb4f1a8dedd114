//! The Secura-Pi-Cam bus contract, shared by every daemon and by every client.
//!
//! Names and paths ([`names`]), the `#[proxy]` traits of all interfaces ([`proxies`]), the
//! wire types ([`types`]), the `org.securapicam.Error.*` errors ([`error`]), the configuration
//! file ([`config`]), and the few start-up pieces every binary shares ([`cli`], [`systemd`]). Nothing here
//! runs on its own: the daemons own the behaviour.

pub mod cli;
pub mod config;
pub mod error;
pub mod fd;
pub mod names;
pub mod proxies;
pub mod systemd;
pub mod types;

pub use error::Error;
pub use types::{AlarmDevice, HistoryEntry, PresenceDevice, ProbeAnswer, State};
