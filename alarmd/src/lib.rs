//! secura-alarmd: owns the alarm state machine, persists it, keeps the event history, serves
//! `org.securapicam.Alarm1`, and drives the camera, the prober and the bot.

pub mod alerts;
pub mod broker;
pub mod core;
pub mod daemon;
pub mod history;
pub mod machine;
pub mod peers;
pub mod persist;
pub mod service;
pub mod watch;
