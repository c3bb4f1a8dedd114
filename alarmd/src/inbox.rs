//! The core's one queue: events from the watchers, commands from the served object, history
//! rows that are not machine events, and the news that the daemon must stop.

use crate::machine::{Event, Refusal, Row};
use secura_bus::types::Command;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

/// Room in the queue; senders that must not lose what they send wait when it is full.
pub const CAPACITY: usize = 256;

/// What reaches the core.
#[derive(Debug)]
pub enum Input {
    /// Something happened.
    Event(Event),
    /// An owner's command; the answer goes back on `reply`.
    Command {
        /// What.
        cmd: Command,
        /// Who.
        actor: String,
        /// Accepted, refused, or not saved.
        reply: oneshot::Sender<Result<(), Refusal>>,
    },
    /// A history row that is not a machine event (snapshots).
    Record(Row),
    /// Something alarmd cannot run without is gone: exit so systemd restarts the daemon.
    Fatal(String),
}

/// The sending side, cloned by everyone who talks to the core.
#[derive(Debug, Clone)]
pub struct Inbox {
    tx: mpsc::Sender<Input>,
}

/// The receiving side, owned by the core.
pub type Receiver = mpsc::Receiver<Input>;

impl Inbox {
    /// A new queue.
    pub fn new() -> (Inbox, Receiver) {
        let (tx, rx) = mpsc::channel(CAPACITY);
        (Inbox { tx }, rx)
    }

    /// Hand over an event, waiting for room: motion, probe answers and botd's confirmations
    /// are never dropped. `false` when the core has stopped.
    pub async fn event(&self, e: Event) -> bool {
        self.tx.send(Input::Event(e)).await.is_ok()
    }

    /// Hand over anything, waiting for room.
    pub async fn send(&self, input: Input) -> bool {
        self.tx.send(input).await.is_ok()
    }

    /// Hand over an event that may be lost when the queue is full (a repeated sighting).
    pub fn offer(&self, e: Event) {
        if self.tx.try_send(Input::Event(e)).is_err() {
            warn!("the core's queue is full; a sighting was dropped");
        }
    }

    /// Ask the daemon to exit because `why`.
    pub async fn fatal(&self, why: String) {
        let _ = self.tx.send(Input::Fatal(why)).await;
    }
}
