//! The one place alarmd reads a clock (DESIGN §2, §5).
//!
//! Deadlines — exit delay, away timer, verify window, alert cooldown — run on [`Mono`], the
//! kernel's boot-time clock: it never steps, so an NTP sync at boot (a Pi has no RTC) or an
//! unauthenticated SNTP answer can neither fire nor postpone them. The wall clock is read only
//! for what people see and what is recorded (`LastChange`, `last_seen`, history times).
//! A clippy `disallowed-methods` guard keeps every other module from reading a clock itself.

use secura_bus::types::Micros;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Microseconds on the boot-time clock (`CLOCK_BOOTTIME`): steady, counting suspend, and
/// continuous across restarts of the daemon within one boot.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Mono(pub Micros);

impl Mono {
    /// `d` microseconds later.
    pub fn after(self, d: Micros) -> Mono {
        Mono(self.0.saturating_add(d))
    }

    /// How long after `earlier` this is (0 if it is not later).
    pub fn since(self, earlier: Mono) -> Micros {
        self.0.saturating_sub(earlier.0)
    }

    /// Moved by `delta` microseconds, clamped at 0.
    pub fn shifted(self, delta: i128) -> Mono {
        let v = i128::from(self.0).saturating_add(delta).max(0);
        Mono(u64::try_from(v).unwrap_or(u64::MAX))
    }
}

impl fmt::Display for Mono {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}µs after boot", self.0)
    }
}

/// One reading of both clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Now {
    /// For deadlines.
    pub mono: Mono,
    /// For records and what people read: microseconds since the Unix epoch.
    pub wall: Micros,
}

/// Where the clocks are read. Tests inject their own to step the wall clock.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Both clocks now.
    fn now(&self) -> Now;
    /// Identifies this boot: monotonic readings compare only within one boot.
    fn boot(&self) -> String;
}

/// The kernel's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[allow(clippy::disallowed_methods)] // the one place allowed to read the clocks
impl Clock for SystemClock {
    fn now(&self) -> Now {
        let mono = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
            .map(|t| Duration::from(t).as_micros())
            .map(|us| u64::try_from(us).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Now {
            mono: Mono(mono),
            wall: secura_bus::types::now_micros(),
        }
    }

    fn boot(&self) -> String {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }
}

/// The tokio instant at which `clock` reaches `at` (now if it already has).
#[allow(clippy::disallowed_methods)] // tokio's timer runs on the monotonic clock too
pub fn instant_at(clock: &dyn Clock, at: Mono) -> tokio::time::Instant {
    let wait = Duration::from_micros(at.since(clock.now().mono));
    tokio::time::Instant::now() + wait
}

/// `d` from now, as a tokio instant (for timeouts that are not machine deadlines).
#[allow(clippy::disallowed_methods)]
pub fn instant_in(d: Duration) -> tokio::time::Instant {
    tokio::time::Instant::now() + d
}

/// A steady instant for measuring how long something has been held in memory.
#[allow(clippy::disallowed_methods)]
pub fn steady() -> std::time::Instant {
    std::time::Instant::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_clock_moves_forward_and_the_boot_is_named() {
        let c = SystemClock;
        let a = c.now();
        std::thread::sleep(Duration::from_millis(5));
        let b = c.now();
        assert!(b.mono > a.mono, "{a:?} then {b:?}");
        assert!(!c.boot().is_empty());
    }

    #[test]
    fn shifting_clamps_at_zero() {
        assert_eq!(Mono(5).shifted(-10), Mono(0));
        assert_eq!(Mono(5).shifted(10), Mono(15));
        assert_eq!(Mono(5).since(Mono(9)), 0);
    }
}
