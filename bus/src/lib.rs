//! The Secura-Pi-Cam bus contract, shared by every daemon and by every client.
//!
//! Names and paths ([`names`]), the `#[proxy]` traits of all interfaces ([`proxies`]), the
//! wire types ([`types`]), the `org.securapicam.Error.*` errors ([`error`]), the configuration
//! file ([`config`]). No runtime logic: what every daemon does the same way at run time is in
//! `secura-kit`, and the daemons own the behaviour.

pub mod config;
pub mod error;
pub mod fd;
pub mod names;
pub mod proxies;
pub mod types;

pub use error::Error;
pub use types::{AlarmDevice, HistoryEntry, PresenceDevice, ProbeAnswer, State};
