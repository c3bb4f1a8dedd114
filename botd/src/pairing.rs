//! One-time pairing codes (DESIGN §8): created by an operator over the bus, redeemed with
//! `/start CODE` by a new user. Single use, expiring, compared in constant time. Wrong
//! attempts lock out the user who made them; many wrong attempts from many accounts revoke the
//! codes outstanding then (a code created afterwards works), and both are announced to the
//! owners. Time is passed in (µs), so every rule is testable without waiting.

use crate::error::BotError;
use std::collections::{HashMap, VecDeque};
use subtle::ConstantTimeEq;

/// Letters and digits a person cannot confuse (no 0/O, 1/I); 32 of them, so a random byte
/// maps onto them without bias.
const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Code length: 8 × 5 bits = 40 bits.
pub const CODE_LEN: usize = 8;
/// How long a code is valid.
pub const DEFAULT_TTL_MICROS: u64 = 10 * 60 * 1_000_000;
/// Wrong attempts one user may make per window.
const PER_USER_ATTEMPTS: usize = 5;
/// Wrong attempts all users together may make per window before the outstanding codes are
/// revoked.
const GLOBAL_ATTEMPTS: usize = 20;
/// The rate-limit window.
const WINDOW_MICROS: u64 = 15 * 60 * 1_000_000;
/// Used and expired codes are remembered this long, for a clear log line.
const REMEMBER_MICROS: u64 = 60 * 60 * 1_000_000;

/// What became of a `/start CODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeem {
    /// The code was live: the user may be authorized now; the code is spent.
    Paired,
    /// No live code matches.
    Wrong,
    /// The code matches one that has expired.
    Expired,
    /// The code matches one that was already used.
    Reused,
    /// Too many wrong attempts: nothing was compared.
    RateLimited,
}

#[derive(Debug)]
struct Code {
    value: [u8; CODE_LEN],
    expires: u64,
    used_at: Option<u64>,
}

/// The codes handed out and the record of wrong attempts.
#[derive(Debug)]
pub struct Pairing {
    ttl: u64,
    codes: Vec<Code>,
    wrong_by_user: HashMap<i64, VecDeque<u64>>,
    wrong_all: VecDeque<(u64, i64)>,
    notices: Vec<String>,
}

impl Default for Pairing {
    fn default() -> Self {
        Pairing::new(DEFAULT_TTL_MICROS)
    }
}

impl Pairing {
    /// Codes valid for `ttl` µs.
    pub fn new(ttl: u64) -> Pairing {
        Pairing {
            ttl,
            codes: Vec::new(),
            wrong_by_user: HashMap::new(),
            wrong_all: VecDeque::new(),
            notices: Vec::new(),
        }
    }

    /// A new code and its expiry (µs since the epoch).
    pub fn create(&mut self, now: u64) -> Result<(String, u64), BotError> {
        let mut raw = [0u8; CODE_LEN];
        getrandom::fill(&mut raw).map_err(|e| BotError::Random(e.to_string()))?;
        let mut value = [0u8; CODE_LEN];
        for (v, r) in value.iter_mut().zip(raw) {
            *v = ALPHABET.get(usize::from(r % 32)).copied().unwrap_or(b'A');
        }
        let expires = now.saturating_add(self.ttl);
        self.prune(now);
        self.codes.push(Code {
            value,
            expires,
            used_at: None,
        });
        Ok((String::from_utf8_lossy(&value).into_owned(), expires))
    }

    /// Try `attempt` for `user` at `now`.
    pub fn redeem(&mut self, user: i64, attempt: &str, now: u64) -> Redeem {
        self.prune(now);
        let mine = self.wrong_by_user.entry(user).or_default();
        if mine.len() >= PER_USER_ATTEMPTS {
            return Redeem::RateLimited;
        }
        let candidate = normalize(attempt);
        // Compare against every code, whatever matched before, so the time taken says nothing
        // about which code (or how much of one) was right.
        let mut hit: Option<usize> = None;
        for (i, code) in self.codes.iter().enumerate() {
            let eq: bool = code.value.ct_eq(&candidate).into();
            if eq && hit.is_none() {
                hit = Some(i);
            }
        }
        let outcome = match hit.and_then(|i| self.codes.get_mut(i)) {
            Some(code) if code.used_at.is_some() => Redeem::Reused,
            Some(code) if now >= code.expires => Redeem::Expired,
            Some(code) => {
                code.used_at = Some(now);
                Redeem::Paired
            }
            None => Redeem::Wrong,
        };
        if outcome != Redeem::Paired {
            let mine = self.wrong_by_user.entry(user).or_default();
            mine.push_back(now);
            if mine.len() == PER_USER_ATTEMPTS {
                tracing::warn!(user, "too many wrong pairing codes: the user is locked out");
                self.notices.push(format!(
                    "Pairing: Telegram user {user} sent {PER_USER_ATTEMPTS} wrong pairing codes \
                     and may not try again for {}.",
                    minutes(WINDOW_MICROS)
                ));
            }
            self.wrong_all.push_back((now, user));
            if self.wrong_all.len() >= GLOBAL_ATTEMPTS {
                // Someone is guessing with many accounts: the codes out now are revoked, and
                // the count starts afresh so that a new code can be used.
                let mut accounts: Vec<i64> = self.wrong_all.iter().map(|(_, u)| *u).collect();
                accounts.sort_unstable();
                accounts.dedup();
                let revoked = self.live(now);
                for code in &mut self.codes {
                    code.expires = code.expires.min(now);
                }
                tracing::warn!(
                    attempts = self.wrong_all.len(),
                    accounts = accounts.len(),
                    revoked,
                    "too many wrong pairing codes: every outstanding code is revoked"
                );
                self.notices.push(format!(
                    "Pairing: {} wrong pairing codes from {} Telegram accounts within {}. \
                     {revoked} outstanding code(s) were revoked; create a new one when you \
                     need it.",
                    self.wrong_all.len(),
                    accounts.len(),
                    minutes(WINDOW_MICROS)
                ));
                self.wrong_all.clear();
            }
        }
        outcome
    }

    /// What the owners should be told (lock-outs, revocations) since the last call.
    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    /// Codes that are still usable.
    pub fn live(&self, now: u64) -> usize {
        self.codes
            .iter()
            .filter(|c| c.used_at.is_none() && now < c.expires)
            .count()
    }

    fn prune(&mut self, now: u64) {
        let cutoff = now.saturating_sub(WINDOW_MICROS);
        for q in self.wrong_by_user.values_mut() {
            while q.front().is_some_and(|t| *t <= cutoff) {
                q.pop_front();
            }
        }
        self.wrong_by_user.retain(|_, q| !q.is_empty());
        while self.wrong_all.front().is_some_and(|(t, _)| *t <= cutoff) {
            self.wrong_all.pop_front();
        }
        self.codes.retain(|c| {
            let end = c.used_at.unwrap_or(c.expires);
            now < end.saturating_add(REMEMBER_MICROS)
        });
    }
}

fn minutes(micros: u64) -> String {
    format!("{} minutes", micros / 60_000_000)
}

/// Upper-case, without spaces or dashes, padded or cut to the code length (a different length
/// simply never matches).
fn normalize(attempt: &str) -> [u8; CODE_LEN] {
    let mut out = [0u8; CODE_LEN];
    let mut chars = attempt
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'-' | b'\t'))
        .map(|b| b.to_ascii_uppercase());
    for slot in &mut out {
        *slot = chars.next().unwrap_or(0);
    }
    if chars.next().is_some() {
        out = [0u8; CODE_LEN];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60 * 1_000_000;

    #[test]
    fn a_code_pairs_once_and_is_then_spent() {
        let mut p = Pairing::default();
        let (code, expires) = p.create(0).unwrap();
        assert_eq!(code.len(), CODE_LEN);
        assert_eq!(expires, 10 * MIN);
        assert_eq!(p.redeem(1, &code, MIN), Redeem::Paired);
        assert_eq!(p.redeem(2, &code, MIN), Redeem::Reused);
        assert_eq!(p.live(MIN), 0);
    }

    #[test]
    fn codes_are_case_and_dash_insensitive() {
        let mut p = Pairing::default();
        let (code, _) = p.create(0).unwrap();
        let typed = format!("{}-{}", &code[..4], &code[4..]).to_lowercase();
        assert_eq!(p.redeem(1, &typed, 1), Redeem::Paired);
    }

    #[test]
    fn an_expired_code_does_not_pair() {
        let mut p = Pairing::default();
        let (code, expires) = p.create(0).unwrap();
        assert_eq!(p.redeem(1, &code, expires), Redeem::Expired);
    }

    #[test]
    fn wrong_attempts_are_rate_limited_per_user() {
        let mut p = Pairing::default();
        let (code, _) = p.create(0).unwrap();
        for _ in 0..PER_USER_ATTEMPTS {
            assert_eq!(p.redeem(7, "WRONGONE", 1), Redeem::Wrong);
        }
        // Even the right code is not compared while the user is locked out.
        assert_eq!(p.redeem(7, &code, 2), Redeem::RateLimited);
        // Another user is not affected, and the lock lifts after the window.
        let (code2, _) = p.create(2).unwrap();
        assert_eq!(p.redeem(8, &code2, 3), Redeem::Paired);
        let later = WINDOW_MICROS + 10;
        let (code3, _) = p.create(later).unwrap();
        assert_eq!(p.redeem(7, &code3, later + 1), Redeem::Paired);
    }

    #[test]
    fn guessing_from_many_accounts_revokes_the_codes_out_then_and_says_so() {
        let mut p = Pairing::default();
        let (code, _) = p.create(0).unwrap();
        // Four accounts, five wrong codes each.
        for user in 0..4 {
            for _ in 0..PER_USER_ATTEMPTS {
                p.redeem(100 + user, "ZZZZZZZZ", 1);
            }
        }
        assert_eq!(p.live(2), 0);
        assert_eq!(p.redeem(1, &code, 2), Redeem::Expired);
        let notices = p.take_notices();
        assert_eq!(notices.len(), 5, "{notices:?}");
        assert!(
            notices
                .iter()
                .any(|n| n.contains("20 wrong pairing codes from 4")
                    && n.contains("1 outstanding code(s) were revoked")),
            "{notices:?}"
        );
        assert!(p.take_notices().is_empty());
        // A code created after the lock-out works, for anyone not locked out.
        let (fresh, _) = p.create(3).unwrap();
        assert_eq!(p.redeem(100, &fresh, 4), Redeem::RateLimited);
        assert_eq!(p.redeem(2, &fresh, 4), Redeem::Paired);
    }

    #[test]
    fn a_user_locked_out_is_announced_once() {
        let mut p = Pairing::default();
        p.create(0).unwrap();
        for _ in 0..PER_USER_ATTEMPTS + 3 {
            p.redeem(9, "WRONGONE", 1);
        }
        let notices = p.take_notices();
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(notices[0].contains("user 9") && notices[0].contains("15 minutes"));
    }

    #[test]
    fn odd_input_never_matches_or_panics() {
        let mut p = Pairing::default();
        p.create(0).unwrap();
        for s in [
            "",
            "é",
            "\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}",
            &"A".repeat(5000),
        ] {
            assert_ne!(p.redeem(1, s, 1), Redeem::Paired);
        }
    }

    #[test]
    fn codes_use_only_the_unambiguous_alphabet() {
        let mut p = Pairing::default();
        for _ in 0..50 {
            let (code, _) = p.create(0).unwrap();
            assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
        }
    }
}
