//! secura-alarmd: owns the alarm state machine, persists it, keeps the event history, serves
//! `org.securapicam.Alarm1`, and drives the camera, the prober and the bot.

// Clocks are read in `clock` only (deadlines on monotonic time, the wall clock for records).
#![deny(clippy::disallowed_methods)]

pub mod activity;
pub mod alerts;
pub mod broker;
pub mod clock;
pub mod core;
pub mod courier;
pub mod daemon;
pub mod history;
pub mod inbox;
pub mod machine;
pub mod nodes;
pub mod persist;
pub mod photos;
pub mod service;
pub mod start;
pub mod watch;
