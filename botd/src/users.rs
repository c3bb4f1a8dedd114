//! Who may talk to the bot: the `allowed_users` of the configuration plus the users paired at
//! run time, which are kept in `paired-users` in the state directory (replaced atomically),
//! and the first names of the authorized users, learned when they pair or first write and
//! kept in `user-names` (a name grants nothing: removing a user from `allowed_users` still
//! takes their access away).

use crate::error::BotError;
use secura_kit::fs::write_atomic;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The file of paired users, one `<user id> <paired at, µs>` per line.
pub const FILE: &str = "paired-users";
/// The file of first names, one `<user id> <first name>` per line.
pub const NAMES: &str = "user-names";
/// Names are cut to this many characters (a relayed actor must stay short).
pub const MAX_NAME: usize = 30;

/// The authorized Telegram users.
#[derive(Debug)]
pub struct Users {
    allowed: BTreeSet<i64>,
    paired: BTreeMap<i64, u64>,
    path: PathBuf,
    names: BTreeMap<i64, String>,
    names_path: PathBuf,
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
        let names_path = state_dir.join(NAMES);
        let names = match std::fs::read_to_string(&names_path) {
            Ok(t) => t
                .lines()
                .filter_map(|l| {
                    let (id, name) = l.split_once(' ')?;
                    let id: i64 = id.parse().ok().filter(|id| *id > 0)?;
                    Some((id, clean_name(name)?))
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(BotError::io("reading user names", &names_path)(e)),
        };
        Ok(Users {
            allowed: allowed.iter().copied().collect(),
            paired,
            path,
            names,
            names_path,
        })
    }

    /// The first name `user` last wrote with, if known.
    pub fn name(&self, user: i64) -> Option<&str> {
        self.names.get(&user).map(String::as_str)
    }

    /// Whether `name` (as Telegram gave it) is news for the authorized `user`.
    pub fn name_is_new(&self, user: i64, name: &str) -> bool {
        self.is_authorized(user)
            && clean_name(name).is_some_and(|n| self.name(user) != Some(n.as_str()))
    }

    /// Keep `name` as the first name of the authorized `user`, persisted before returning.
    pub fn remember_name(&mut self, user: i64, name: &str) -> Result<(), BotError> {
        let Some(name) = clean_name(name) else {
            return Ok(());
        };
        if !self.is_authorized(user) || self.name(user) == Some(name.as_str()) {
            return Ok(());
        }
        let mut next = self.names.clone();
        next.insert(user, name);
        let mut text = String::from("# First names of the Telegram users: <user id> <name>\n");
        for (id, name) in &next {
            text.push_str(&format!("{id} {name}\n"));
        }
        write_atomic(&self.names_path, text.as_bytes())
            .map_err(BotError::io("writing user names", &self.names_path))?;
        self.names = next;
        Ok(())
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

/// A first name fit to show and to relay: no control characters, one line, at most
/// [`MAX_NAME`] characters; `None` when nothing is left.
pub fn clean_name(name: &str) -> Option<String> {
    let words: Vec<&str> = name
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    let one: String = words.join(" ").chars().take(MAX_NAME).collect();
    let one = one.trim_end().to_string();
    (!one.is_empty()).then_some(one)
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
    fn todays_paired_users_file_still_loads_and_names_are_learned_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE),
            "# Telegram users paired with /start CODE: <user id> <paired at, µs>\n7 1700000000000000\n",
        )
        .unwrap();
        let mut u = Users::load(dir.path(), &[5]).unwrap();
        assert_eq!(u.all(), vec![5, 7]);
        assert_eq!(u.name(7), None);
        assert!(u.name_is_new(7, "Alice"));
        u.remember_name(7, "Alice").unwrap();
        u.remember_name(5, " Bob\n  the\tbuilder ").unwrap();
        // Nobody unauthorized gets a name kept.
        assert!(!u.name_is_new(8, "Mallory"));
        u.remember_name(8, "Mallory").unwrap();
        let u = Users::load(dir.path(), &[5]).unwrap();
        assert_eq!(u.name(7), Some("Alice"));
        assert_eq!(u.name(5), Some("Bob the builder"));
        assert_eq!(u.name(8), None);
        assert!(!u.name_is_new(7, "Alice"));
        assert_eq!(u.all(), vec![5, 7], "names grant nothing");
        // The paired-users file keeps its format for older versions.
        let paired = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert!(paired.contains("\n7 1700000000000000\n"), "{paired}");
    }

    #[test]
    fn names_are_one_short_printable_line() {
        assert_eq!(clean_name("\u{0}\n\t"), None);
        assert_eq!(
            clean_name(&"é".repeat(100)).unwrap().chars().count(),
            MAX_NAME
        );
        assert_eq!(clean_name("Ann\u{7}e").as_deref(), Some("Ann e"));
    }

    #[test]
    fn a_user_in_both_lists_counts_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut u = Users::load(dir.path(), &[5]).unwrap();
        u.add_paired(5, 1).unwrap();
        assert_eq!(u.count(), 1);
    }
}
