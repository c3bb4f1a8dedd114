//! The broker password and the Home Assistant code (DESIGN §6, §8): read from systemd's
//! credential directory or a private file, and never shown — not in logs, errors or `Debug`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Name of the credential systemd passes with `LoadCredential=mqtt-password:…`.
pub const PASSWORD_CREDENTIAL: &str = "mqtt-password";

/// Passwords and codes are short; a bigger file is not one.
const MAX_SECRET_FILE: u64 = 4096;

/// A password or code. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap `text` (e.g. in tests).
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// The secret itself, for the MQTT client or the code comparison only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why a secret could not be read; never includes its content.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The file is missing or unreadable.
    #[error("{path}: cannot read the {what}: {source}")]
    Read {
        /// Password or code.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Group or others may read it.
    #[error(
        "{path}: the {what} file is readable by group or others (mode {mode:o}); chmod 600 it, or pass it with LoadCredential="
    )]
    Exposed {
        /// Password or code.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Empty or too long.
    #[error("{path}: the {what} file must hold one line of 1-{MAX_SECRET_FILE} bytes")]
    Shape {
        /// Password or code.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
}

/// Read a secret from `path`, which must be private unless it is in systemd's credential
/// directory (systemd makes those private itself).
fn read(path: &Path, what: &'static str, check_mode: bool) -> Result<Secret, SecretError> {
    let err = |source| SecretError::Read {
        what,
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(err)?;
    let mode = meta.permissions().mode() & 0o777;
    if check_mode && mode & 0o077 != 0 {
        return Err(SecretError::Exposed {
            what,
            path: path.to_path_buf(),
            mode,
        });
    }
    if meta.len() > MAX_SECRET_FILE {
        return Err(SecretError::Shape {
            what,
            path: path.to_path_buf(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(err)?;
    let line = text.trim_end_matches(['\n', '\r']);
    if line.is_empty() || line.contains('\n') {
        return Err(SecretError::Shape {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(Secret(line.to_string()))
}

/// The broker password: `$CREDENTIALS_DIRECTORY/mqtt-password` when systemd passed one, else
/// `password_file`. `None` when neither exists (a broker without passwords).
pub fn password(
    credentials_dir: Option<&Path>,
    password_file: &Path,
) -> Result<Option<Secret>, SecretError> {
    if let Some(dir) = credentials_dir {
        let p = dir.join(PASSWORD_CREDENTIAL);
        if p.exists() {
            return read(&p, "MQTT password", false).map(Some);
        }
    }
    if password_file.as_os_str().is_empty() || !password_file.exists() {
        return Ok(None);
    }
    read(password_file, "MQTT password", true).map(Some)
}

/// The code Home Assistant must send, from `code_file` (empty path = no code).
pub fn code(code_file: &Path) -> Result<Option<Secret>, SecretError> {
    if code_file.as_os_str().is_empty() {
        return Ok(None);
    }
    read(code_file, "Home Assistant code", true).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn a_password_file_readable_by_others_is_refused_without_showing_it() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "pw", "hunter2-secret\n", 0o644);
        let e = password(None, &p).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let p = write(d.path(), "pw2", "hunter2-secret\n", 0o600);
        let s = password(None, &p).unwrap().unwrap();
        assert_eq!(s.expose(), "hunter2-secret");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn the_credential_directory_wins_over_the_file() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), PASSWORD_CREDENTIAL, "from-systemd", 0o440);
        let file = write(d.path(), "pw", "from-file", 0o600);
        let s = password(Some(d.path()), &file).unwrap().unwrap();
        assert_eq!(s.expose(), "from-systemd");
        assert!(password(None, &d.path().join("absent")).unwrap().is_none());
    }

    #[test]
    fn empty_or_multi_line_code_files_are_refused() {
        let d = tempfile::tempdir().unwrap();
        for (i, text) in ["", "\n", "12\n34\n"].iter().enumerate() {
            let p = write(d.path(), &format!("c{i}"), text, 0o600);
            assert!(
                matches!(code(&p), Err(SecretError::Shape { .. })),
                "{text:?}"
            );
        }
        assert!(code(Path::new("")).unwrap().is_none());
    }
}
