//! The simulated PIR: `Simulator1.Motion()` raises its output, `MotionEnded()` lowers it and
//! `SetFault(s)` breaks or repairs it, exactly as the GPIO backend would report.

use super::{InputError, InputEvent, MotionInput, Opened, QUEUE};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::mpsc;

#[derive(Debug, Default)]
struct Shared {
    level: bool,
    fault: String,
    tx: Option<mpsc::Sender<InputEvent>>,
}

/// The input half, owned by the daemon's core.
#[derive(Debug, Clone, Default)]
pub struct SimInput {
    shared: Arc<Mutex<Shared>>,
}

/// The control half, owned by the `Simulator1` object.
#[derive(Debug, Clone)]
pub struct SimControl {
    shared: Arc<Mutex<Shared>>,
}

/// Why a simulated edge was refused.
#[derive(Debug, thiserror::Error)]
#[error("the simulated sensor is broken ({0}); repair it with SetFault(\"\")")]
pub struct Broken(pub String);

impl SimInput {
    /// A simulated PIR, low and working.
    pub fn new() -> Self {
        SimInput::default()
    }

    /// The handle that drives it.
    pub fn control(&self) -> SimControl {
        SimControl {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl MotionInput for SimInput {
    fn backend(&self) -> &'static str {
        "sim"
    }

    fn open(&mut self) -> Result<Opened, InputError> {
        let mut s = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if !s.fault.is_empty() {
            return Err(InputError::Simulated(s.fault.clone()));
        }
        let (tx, events) = mpsc::channel(QUEUE);
        s.tx = Some(tx);
        Ok(Opened {
            level: s.level,
            events,
        })
    }
}

impl SimControl {
    /// Drive the simulated output to `high`.
    pub fn set_level(&self, high: bool) -> Result<(), Broken> {
        let mut s = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if !s.fault.is_empty() {
            return Err(Broken(s.fault.clone()));
        }
        s.level = high;
        if let Some(tx) = &s.tx {
            // A full queue means the core is far behind; it reads the level again on reopen.
            let _ = tx.try_send(InputEvent::Level { high });
        }
        Ok(())
    }

    /// Break the sensor with `fault`, or repair it with an empty text.
    pub fn set_fault(&self, fault: &str) {
        let mut s = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        s.fault = fault.trim().to_string();
        if !s.fault.is_empty()
            && let Some(tx) = s.tx.take()
        {
            let _ = tx.try_send(InputEvent::Failed(format!("simulated fault: {}", s.fault)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_reach_the_open_input_and_a_fault_stops_it_until_repaired() {
        let mut input = SimInput::new();
        let control = input.control();
        let mut opened = input.open().unwrap();
        assert!(!opened.level);
        control.set_level(true).unwrap();
        assert_eq!(
            opened.events.try_recv().unwrap(),
            InputEvent::Level { high: true }
        );
        control.set_fault("wire cut");
        assert!(matches!(
            opened.events.try_recv().unwrap(),
            InputEvent::Failed(m) if m.contains("wire cut")
        ));
        assert!(control.set_level(false).is_err());
        assert!(matches!(input.open(), Err(InputError::Simulated(_))));
        control.set_fault("");
        let reopened = input.open().unwrap();
        assert!(reopened.level);
    }
}
