//! The durable outbox: its file format ([`entry`]), its storage ([`store`]) and the sender
//! that empties it ([`delivery`]).

pub mod delivery;
pub mod entry;
pub mod look;
pub mod store;

pub use store::{Dropped, NewMessage, Outbox, Pending};
