//! Who may talk to the bot: the `allowed_users` of the configuration plus the users paired at
//! run time, which are kept in `paired-users` in the state directory (replaced atomically).

use crate::error::BotError;
use secura_kit::fs::write_atomic;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The file of paired users, one `<user id> <paired at, µs>` per line.
pub const FILE: &str = "paired-users";

/// The authorized Telegram users.
#[derive(Debug)]
pub struct Users {
    allowed: BTreeSet<i64>,
    paired: BTreeMap<i64, u64>,
    path: PathBuf,
}

impl Users {
    /// Load the paired users from `state_dir` beside the configured `allowed` ones. Lines that
    /// cannot be read are skipped with a warning: a damaged file can only take access away.
    pub fn load(state_dir: &Path, allowed: &[i64]) -> Result<Users, BotError> {
        let path = state_dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(BotError::io("reading paired users", &path)(e)),
        };
        let mut paired = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match parse_line(line) {
                Some((id, at)) => {
                    paired.insert(id, at);
                }
                None => tracing::warn!(
                    file = %path.display(),
                    line = n + 1,
                    "skipping an unreadable line of the paired users"
                ),
            }
        }
        Ok(Users {
            allowed: allowed.iter().copied().collect(),
            paired,
            path,
        })
    }

    /// Whether `user` may use the bot.
    pub fn is_authorized(&self, user: i64) -> bool {
        self.allowed.contains(&user) || self.paired.contains_key(&user)
    }

    /// Every authorized user, in id order.
    pub fn all(&self) -> Vec<i64> {
        self.allowed
            .iter()
            .chain(self.paired.keys())
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// How many users are authorized.
    pub fn count(&self) -> usize {
        self.all().len()
    }

    /// Authorize `user`, paired at `at` (µs), and persist it before returning.
    pub fn add_paired(&mut self, user: i64, at: u64) -> Result<(), BotError> {
        if user <= 0 {
            return Err(BotError::Invalid(format!(
                "{user} is not a Telegram user id"
            )));
        }
        let mut next = self.paired.clone();
        next.insert(user, at);
        let mut text =
            String::from("# Telegram users paired with /start CODE: <user id> <paired at, µs>\n");
        for (id, at) in &next {
            text.push_str(&format!("{id} {at}\n"));
        }
        write_atomic(&self.path, text.as_bytes())
            .map_err(BotError::io("writing paired users", &self.path))?;
        self.paired = next;
        Ok(())
    }
}

fn parse_line(line: &str) -> Option<(i64, u64)> {
    let mut parts = line.split_whitespace();
    let id: i64 = parts.next()?.parse().ok()?;
    let at: u64 = parts.next().map_or(Some(0), |s| s.parse().ok())?;
    (id > 0 && parts.next().is_none()).then_some((id, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_users_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut u = Users::load(dir.path(), &[1]).unwrap();
        assert!(u.is_authorized(1));
        assert!(!u.is_authorized(2));
        u.add_paired(2, 99).unwrap();
        let u = Users::load(dir.path(), &[1]).unwrap();
        assert!(u.is_authorized(2));
        assert_eq!(u.all(), vec![1, 2]);
    }

    #[test]
    fn damaged_lines_grant_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE),
            "7 1\n-5 1\nabc\n8 1 extra\n\u{0} junk\n99999999999999999999999 1\n9\n",
        )
        .unwrap();
        let u = Users::load(dir.path(), &[]).unwrap();
        assert_eq!(u.all(), vec![7, 9]);
    }

    #[test]
    fn a_user_in_both_lists_counts_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut u = Users::load(dir.path(), &[5]).unwrap();
        u.add_paired(5, 1).unwrap();
        assert_eq!(u.count(), 1);
    }
}
