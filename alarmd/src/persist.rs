//! The state file: the machine as JSON, replaced atomically (temp file, fsync, rename, fsync
//! of the directory) so a crash or power cut leaves either the old or the new state, never a
//! torn one.

use crate::machine::Machine;
use secura_bus::types::Micros;
use std::path::{Path, PathBuf};

/// Errors reading or writing the state file.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// Reading failed.
    #[error("reading the state file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a state the daemon understands.
    #[error("the state file {path} is unreadable ({source}); it was kept as {kept}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
        /// Where the bad file was moved.
        kept: PathBuf,
    },
    /// Writing failed.
    #[error("writing the state file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The state file in a directory.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// `dir/state.json`.
    pub fn new(dir: &Path) -> StateFile {
        StateFile {
            path: dir.join("state.json"),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved machine, `Ok(None)` when there is none yet. A corrupt file is moved aside
    /// (never silently overwritten, named with the wall-clock `stamp`) and reported.
    pub fn load(&self, stamp: Micros) -> Result<Option<Machine>, PersistError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(PersistError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        match serde_json::from_str(&text) {
            Ok(m) => Ok(Some(m)),
            Err(source) => {
                let kept = self.path.with_extension(format!("json.corrupt-{stamp}"));
                let _ = std::fs::rename(&self.path, &kept);
                Err(PersistError::Corrupt {
                    path: self.path.clone(),
                    source,
                    kept,
                })
            }
        }
    }

    /// Replace the saved machine atomically and durably.
    pub fn save(&self, machine: &Machine) -> Result<(), PersistError> {
        let err = |source| PersistError::Write {
            path: self.path.clone(),
            source,
        };
        let text = serde_json::to_vec_pretty(machine).map_err(|e| err(std::io::Error::other(e)))?;
        secura_kit::fs::write_atomic(&self.path, &text).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Mono, Now};
    use crate::machine::{Event, Settings};
    use secura_bus::config::MacAddr;
    use secura_bus::types::Command;

    fn m() -> Machine {
        Machine::new(
            Settings::default(),
            &[("A".into(), MacAddr([0xa4, 0, 0, 0, 0, 1]))],
            Now {
                mono: Mono(1),
                wall: 1,
            },
        )
    }

    #[test]
    fn missing_file_is_no_state() {
        let dir = tempfile::tempdir().unwrap();
        assert!(StateFile::new(dir.path()).load(1).unwrap().is_none());
    }

    #[test]
    fn saved_state_loads_back_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::new(dir.path());
        let mut machine = m();
        machine.step(
            Event::Command {
                cmd: Command::Disable,
                actor: "uid:0".into(),
            },
            Now {
                mono: Mono(5),
                wall: 5,
            },
        );
        f.save(&machine).unwrap();
        assert_eq!(f.load(1).unwrap().unwrap().mode, machine.mode);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn corrupt_file_is_reported_and_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::new(dir.path());
        std::fs::write(f.path(), b"{\"mode\": tru").unwrap();
        let err = f.load(1).unwrap_err();
        assert!(matches!(err, PersistError::Corrupt { .. }), "{err}");
        assert!(!f.path().exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
