//! The bot token (DESIGN §6, §8): read from systemd's credential directory or a private file,
//! checked for shape, and never shown — not in logs, errors or `Debug`.

use crate::error::BotError;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Name of the credential systemd passes with `LoadCredential=telegram-token:…`.
pub const CREDENTIAL_NAME: &str = "telegram-token";

/// The placeholder `--sim` uses when no token is configured; only the testbed's Bot API
/// stand-in accepts it (`secura_testbed::telegram::SIM_TOKEN` is the same).
pub const SIM_TOKEN: &str = "1:SIMULATEDxxxxxxxxxxxxxxxxxxxxxxxx";

/// Tokens are a few dozen bytes; anything bigger is not a token.
const MAX_TOKEN_FILE: u64 = 1024;

/// A Telegram bot token. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Check the shape `<bot id>:<secret>` without echoing any of it on error.
    pub fn parse(text: &str) -> Result<Token, BotError> {
        let t = text.trim();
        let Some((id, secret)) = t.split_once(':') else {
            return Err(BotError::Token(
                "the token has no ':'; it looks like 123456789:AA… as @BotFather gives it".into(),
            ));
        };
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BotError::Token(
                "the part before ':' must be the bot's numeric id".into(),
            ));
        }
        let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        if secret.len() < 20 || !secret.bytes().all(ok) {
            return Err(BotError::Token(
                "the part after ':' must be at least 20 letters, digits, '_' or '-'".into(),
            ));
        }
        Ok(Token(t.to_string()))
    }

    /// The secret itself, for the HTTP client only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Where the token is read from: `$CREDENTIALS_DIRECTORY/telegram-token` when systemd passed
/// one, else `token_file`.
pub fn token_path(credentials_dir: Option<&Path>, token_file: &Path) -> PathBuf {
    match credentials_dir {
        Some(dir) if dir.join(CREDENTIAL_NAME).exists() => dir.join(CREDENTIAL_NAME),
        _ => token_file.to_path_buf(),
    }
}

/// Read the token, refusing a file that group or others may access.
pub fn load(credentials_dir: Option<&Path>, token_file: &Path) -> Result<Token, BotError> {
    let path = token_path(credentials_dir, token_file);
    let meta = std::fs::metadata(&path).map_err(|e| {
        BotError::Token(format!(
            "cannot read {}: {e}; pass it with LoadCredential=telegram-token:… in the unit or \
             put it in token_file (chmod 600)",
            path.display()
        ))
    })?;
    if !meta.is_file() {
        return Err(BotError::Token(format!("{} is not a file", path.display())));
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(BotError::Token(format!(
            "{} is accessible by group or others (mode {:o}); run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    if meta.len() > MAX_TOKEN_FILE {
        return Err(BotError::Token(format!(
            "{} is {} bytes, too big to be a token",
            path.display(),
            meta.len()
        )));
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| BotError::Token(format!("cannot read {}: {e}", path.display())))?;
    Token::parse(&text).map_err(|e| match e {
        BotError::Token(m) => BotError::Token(format!("{}: {m}", path.display())),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn debug_never_shows_the_token() {
        let t = Token::parse(GOOD).unwrap();
        let shown = format!("{t:?}");
        assert!(!shown.contains("AAHdq"), "{shown}");
        assert!(!shown.contains("123456789"), "{shown}");
    }

    #[test]
    fn a_token_file_readable_by_others_is_refused_without_showing_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "tok", GOOD, 0o644);
        let err = load(None, &p).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        assert!(!err.contains("AAHdq"), "{err}");
        let p = write(dir.path(), "tok2", GOOD, 0o640);
        assert!(load(None, &p).is_err());
    }

    #[test]
    fn a_private_token_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "tok", &format!("{GOOD}\n"), 0o600);
        assert_eq!(load(None, &p).unwrap().expose(), GOOD);
    }

    #[test]
    fn the_systemd_credential_wins_over_token_file() {
        let dir = tempfile::tempdir().unwrap();
        let other = "42:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
        write(dir.path(), CREDENTIAL_NAME, other, 0o400);
        let file = write(dir.path(), "tok", GOOD, 0o600);
        assert_eq!(load(Some(dir.path()), &file).unwrap().expose(), other);
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(load(Some(empty.path()), &file).unwrap().expose(), GOOD);
    }

    #[test]
    fn malformed_tokens_are_refused_without_echo() {
        for bad in [
            "",
            "nocolon",
            "abc:AAAAAAAAAAAAAAAAAAAAAAAA",
            "12:short",
            "12:bad chars here!!!!!!!!",
        ] {
            let err = Token::parse(bad).unwrap_err().to_string();
            if !bad.is_empty() {
                assert!(!err.contains(bad), "{err}");
            }
        }
    }
}
