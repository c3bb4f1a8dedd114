//! Retry delays: exponential, capped, with jitter so that daemons (or many Pis) that lost the
//! same peer do not come back in lock-step.

use std::time::Duration;

/// Delays doubling from `base` to `cap`; each is drawn from the upper half of its step.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// Delays from `base` doubling up to `cap`.
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff {
            base,
            cap: cap.max(base),
            attempt: 0,
        }
    }

    /// The next delay to wait before trying again.
    pub fn next_delay(&mut self) -> Duration {
        let full = self
            .base
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        jitter(full / 2, full)
    }

    /// How many delays were taken since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// It worked: the next failure starts from `base` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A duration drawn evenly from `[lo, hi]`.
pub fn jitter(lo: Duration, hi: Duration) -> Duration {
    let span = hi.saturating_sub(lo);
    let r = getrandom::u32().unwrap_or(u32::MAX / 2);
    lo + span.mul_f64(f64::from(r) / f64::from(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_reset() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
        let second = b.next_delay();
        assert!(second >= Duration::from_secs(1) && second <= Duration::from_secs(2));
        for _ in 0..100 {
            assert!(b.next_delay() <= Duration::from_secs(60));
        }
        assert_eq!(b.attempts(), 102);
        b.reset();
        assert!(b.next_delay() <= Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_in_its_range() {
        for _ in 0..100 {
            let d = jitter(Duration::from_millis(10), Duration::from_millis(20));
            assert!(d >= Duration::from_millis(10) && d <= Duration::from_millis(20));
        }
    }
}
