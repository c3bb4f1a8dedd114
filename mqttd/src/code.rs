//! The code Home Assistant sends with `ARM_AWAY`/`DISARM` (DESIGN §8): compared in constant
//! time, and, like botd's pairing codes, locked out after repeated wrong attempts. Time is
//! passed in (µs) so the rules are testable without waiting. The code is never logged.

use crate::secret::Secret;
use std::collections::VecDeque;
use subtle::ConstantTimeEq;

/// Wrong codes allowed per window; the next attempt is refused without comparing.
pub const MAX_WRONG: usize = 5;
/// The lock-out window.
pub const WINDOW_MICROS: u64 = 15 * 60 * 1_000_000;

/// What became of a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The code is right (or no code is configured).
    Accepted,
    /// Wrong (or missing) code.
    Wrong,
    /// Too many wrong codes lately: not even compared.
    LockedOut,
}

/// The configured code and the record of wrong attempts.
#[derive(Debug)]
pub struct CodeCheck {
    code: Option<Secret>,
    wrong: VecDeque<u64>,
}

impl CodeCheck {
    /// `code` = `None` accepts every command (no `code_file`).
    pub fn new(code: Option<Secret>) -> CodeCheck {
        CodeCheck {
            code,
            wrong: VecDeque::new(),
        }
    }

    /// Whether a code is configured.
    pub fn required(&self) -> bool {
        self.code.is_some()
    }

    /// Check `given` at time `now`.
    pub fn check(&mut self, given: Option<&str>, now: u64) -> Verdict {
        let Some(code) = &self.code else {
            return Verdict::Accepted;
        };
        while self
            .wrong
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= WINDOW_MICROS)
        {
            self.wrong.pop_front();
        }
        if self.wrong.len() >= MAX_WRONG {
            return Verdict::LockedOut;
        }
        let given = given.unwrap_or("");
        // ct_eq on slices of different lengths is false without comparing contents; the
        // length of the code is not a secret worth a padded comparison.
        let ok: bool = given.as_bytes().ct_eq(code.expose().as_bytes()).into();
        if ok {
            Verdict::Accepted
        } else {
            self.wrong.push_back(now);
            Verdict::Wrong
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;

    #[test]
    fn no_code_configured_accepts_everything() {
        let mut c = CodeCheck::new(None);
        assert_eq!(c.check(None, 0), Verdict::Accepted);
        assert!(!c.required());
    }

    #[test]
    fn the_right_code_is_accepted_and_a_wrong_or_missing_one_is_not() {
        let mut c = CodeCheck::new(Some(Secret::new("4711")));
        assert_eq!(c.check(Some("4711"), 0), Verdict::Accepted);
        assert_eq!(c.check(Some("4712"), 0), Verdict::Wrong);
        assert_eq!(c.check(Some("471"), 0), Verdict::Wrong);
        assert_eq!(c.check(None, 0), Verdict::Wrong);
    }

    #[test]
    fn repeated_wrong_codes_lock_out_even_the_right_one_until_the_window_passes() {
        let mut c = CodeCheck::new(Some(Secret::new("4711")));
        for i in 0..MAX_WRONG as u64 {
            assert_eq!(c.check(Some("0000"), i * S), Verdict::Wrong);
        }
        assert_eq!(c.check(Some("4711"), 10 * S), Verdict::LockedOut);
        // The first wrong attempt leaves the window: one more try is allowed.
        assert_eq!(c.check(Some("4711"), WINDOW_MICROS), Verdict::Accepted);
    }
}
