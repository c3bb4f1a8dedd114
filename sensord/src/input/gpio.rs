//! The PIR on a Raspberry Pi GPIO pin, through rppal's GPIO character-device interrupts.
//!
//! A thread blocks in the kernel waiting for either edge (no polling of the level). When no
//! edge has come for [`LEVEL_CHECK`], it reads the level once: an edge lost while the queue was
//! full, or while the line was reconfigured, is then reported late instead of never. An error
//! from the pin ends the thread with [`InputEvent::Failed`], and the core opens the pin again.

use super::{InputError, InputEvent, MotionInput, Opened, QUEUE};
use rppal::gpio::{Gpio, InputPin, Trigger};
use secura_bus::config::Pull;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long the interrupt wait lasts before the level is checked once.
const LEVEL_CHECK: Duration = Duration::from_secs(1);

/// A BCM pin with a bias, opened through rppal.
#[derive(Debug, Clone)]
pub struct GpioInput {
    pin: u8,
    pull: Pull,
}

impl GpioInput {
    /// The input on BCM pin `pin` with bias `pull`.
    pub fn new(pin: u8, pull: Pull) -> Self {
        GpioInput { pin, pull }
    }

    fn error(&self, action: &'static str, e: &rppal::gpio::Error) -> InputError {
        use rppal::gpio::Error as E;
        let message = match e {
            E::UnknownModel => return InputError::NotAPi,
            E::PermissionDenied(path) => permission_advice(path),
            E::PinUsed(_) => "the pin is in use by another program or a device-tree overlay \
                              (see `pinctrl get`)"
                .to_string(),
            E::PinNotAvailable(_) => {
                "this board has no such pin; pins are BCM numbers (0-27)".to_string()
            }
            other => other.to_string(),
        };
        InputError::Gpio {
            pin: self.pin,
            action,
            message,
        }
    }
}

/// Why `path` was refused, as far as can be told from here: the file's own permissions (a
/// group to join), or something else when they already allow this user (under systemd, the
/// unit's `DeviceAllow=`).
fn permission_advice(path: &str) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return format!("permission denied on {path}");
    };
    let uid = nix::unistd::geteuid().as_raw();
    let groups: Vec<u32> = nix::unistd::getgroups()
        .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_default();
    let in_group = groups.contains(&meta.gid()) || nix::unistd::getegid().as_raw() == meta.gid();
    let group = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(meta.gid()))
        .ok()
        .flatten()
        .map_or_else(|| format!("gid {}", meta.gid()), |g| g.name);
    advice(path, meta.mode(), meta.uid() == uid, in_group, &group)
}

fn advice(path: &str, mode: u32, owner: bool, in_group: bool, group: &str) -> String {
    let rw = |shift: u32| (mode >> shift) & 0o6 == 0o6;
    let allowed = rw(0) || (owner && rw(6)) || (in_group && rw(3));
    if allowed {
        format!(
            "permission denied on {path}, although its permissions allow this user: under \
             systemd the unit must allow the device (secura-sensord.service has \
             DeviceAllow=char-gpiochip rw and the /dev/gpiomem nodes; check a local override)"
        )
    } else {
        format!(
            "permission denied on {path}: add the daemon's user to the group {group}, which \
             owns it (the secura-sensord unit sets SupplementaryGroups=gpio)"
        )
    }
}

impl MotionInput for GpioInput {
    fn backend(&self) -> &'static str {
        "gpio"
    }

    fn open(&mut self) -> Result<Opened, InputError> {
        let gpio = Gpio::new().map_err(|e| self.error("opening the GPIO chip", &e))?;
        let pin = gpio
            .get(self.pin)
            .map_err(|e| self.error("claiming the pin", &e))?;
        let mut input = match self.pull {
            Pull::Up => pin.into_input_pullup(),
            Pull::Down => pin.into_input_pulldown(),
            Pull::None => pin.into_input(),
        };
        input
            .set_interrupt(Trigger::Both, None)
            .map_err(|e| self.error("enabling edge interrupts", &e))?;
        let level = input.is_high();
        let (tx, events) = mpsc::channel(QUEUE);
        let number = self.pin;
        std::thread::Builder::new()
            .name(format!("gpio{number}"))
            .spawn(move || watch(input, level, &tx, number))
            .map_err(|e| InputError::Gpio {
                pin: number,
                action: "starting the interrupt thread",
                message: e.to_string(),
            })?;
        Ok(Opened { level, events })
    }
}

/// Report edges of `pin` until the receiver is dropped or the pin fails.
fn watch(mut pin: InputPin, mut last: bool, tx: &mpsc::Sender<InputEvent>, number: u8) {
    let mut lost = false;
    loop {
        if tx.is_closed() {
            return;
        }
        let high = match pin.poll_interrupt(false, Some(LEVEL_CHECK)) {
            Ok(Some(event)) => match event.trigger {
                Trigger::RisingEdge => true,
                Trigger::FallingEdge => false,
                _ => pin.is_high(),
            },
            Ok(None) => {
                let now = pin.is_high();
                if now == last && !lost {
                    continue;
                }
                if now != last {
                    tracing::warn!(
                        pin = number,
                        high = now,
                        "GPIO level changed without an edge"
                    );
                }
                now
            }
            Err(e) => {
                let _ = tx.blocking_send(InputEvent::Failed(format!(
                    "GPIO {number}: waiting for an edge: {e}"
                )));
                return;
            }
        };
        last = high;
        match tx.try_send(InputEvent::Level { high }) {
            Ok(()) => lost = false,
            Err(mpsc::error::TrySendError::Full(_)) => lost = true,
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn permission_advice_matches_the_cause() {
        use super::advice;
        // Not in the owning group: join it.
        let a = advice("/dev/gpiochip0", 0o660, false, false, "gpio");
        assert!(a.contains("group gpio"), "{a}");
        // Already in it, yet refused: the unit's device list.
        let a = advice("/dev/gpiomem0", 0o660, false, true, "gpio");
        assert!(
            a.contains("DeviceAllow") && !a.contains("add the daemon"),
            "{a}"
        );
    }
}
