//! The motion input behind a trait: a PIR on a GPIO pin ([`gpio`]) or a simulated one
//! ([`sim`]). A backend only reports raw levels; debouncing is the same for both.

pub mod gpio;
pub mod sim;

use tokio::sync::mpsc;

/// What an open input reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputEvent {
    /// The input's level is now `high` (an interrupt, or a level check that found it changed).
    Level {
        /// The new level.
        high: bool,
    },
    /// The input stopped working; it must be opened again.
    Failed(String),
}

/// Why an input could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// rppal cannot identify the board: this is no Raspberry Pi. Permanent.
    #[error(
        "not a Raspberry Pi: the GPIO backend cannot run here (rppal could not identify the \
         board); use backend = \"sim\" in [sensor] or run with --sim"
    )]
    NotAPi,
    /// The GPIO pin could not be set up (busy, no permission, I/O error).
    #[error("GPIO {pin}: {action}: {message}")]
    Gpio {
        /// BCM pin number.
        pin: u8,
        /// What was being done.
        action: &'static str,
        /// rppal's error, with advice where there is some.
        message: String,
    },
    /// The simulated sensor is broken by `Simulator1.SetFault`.
    #[error("simulated fault: {0}")]
    Simulated(String),
}

impl InputError {
    /// Whether retrying can ever help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, InputError::NotAPi)
    }
}

/// An open input: its level when it was opened, and its events.
#[derive(Debug)]
pub struct Opened {
    /// The level read right after setting the input up.
    pub level: bool,
    /// Edges and failures, until the input is closed or fails.
    pub events: mpsc::Receiver<InputEvent>,
}

/// A source of PIR levels. Opening again after a failure starts over; dropping the receiver
/// of an earlier open stops that one.
pub trait MotionInput: Send {
    /// `gpio` or `sim`, for the `Backend` property.
    fn backend(&self) -> &'static str;
    /// Set the input up and start reporting its edges.
    fn open(&mut self) -> Result<Opened, InputError>;
}

/// Capacity of an input's event queue. Edges beyond it while the daemon is busy are dropped by
/// the backend, which then reports the level it finds at its next check instead.
pub(crate) const QUEUE: usize = 256;
