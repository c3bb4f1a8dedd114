//! Event photos on disk, pruned by age and by total size.
//!
//! Layout: `<state>/events/<event_id>/<capture time µs>.jpg`, directories 0700 and files 0600
//! (they are pictures of the inside of a home). Each photo is written to a temporary name,
//! synced and renamed, so a power cut — which a burglar may cause — leaves whole photos or
//! nothing. The capture time in the name is what pruning goes by.

use crate::ring::Frame;
use std::fs;
use std::path::{Path, PathBuf};

/// One stored photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    /// Its file.
    pub path: PathBuf,
    /// The event it belongs to.
    pub event: u64,
    /// Capture time, µs since the epoch.
    pub at: u64,
    /// Bytes on disk.
    pub size: u64,
}

/// What a prune removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Photos older than the retention.
    pub expired: usize,
    /// Photos removed to get under the size limit.
    pub over_size: usize,
}

/// The photos to delete, oldest first: those captured before `now - retention`, then the
/// oldest of the rest until the total is at most `max_bytes`.
pub fn plan(
    mut photos: Vec<Photo>,
    now: u64,
    retention: u64,
    max_bytes: u64,
) -> (Vec<Photo>, Pruned) {
    photos.sort_by_key(|p| (p.at, p.event));
    let cutoff = now.saturating_sub(retention);
    let (expired, mut kept): (Vec<Photo>, Vec<Photo>) =
        photos.into_iter().partition(|p| p.at < cutoff);
    let mut total: u64 = kept.iter().map(|p| p.size).sum();
    let mut over = 0;
    while total > max_bytes && over < kept.len() {
        total -= kept.get(over).map_or(0, |p| p.size);
        over += 1;
    }
    let pruned = Pruned {
        expired: expired.len(),
        over_size: over,
    };
    let mut delete = expired;
    delete.extend(kept.drain(..over));
    (delete, pruned)
}

/// Why storing or pruning failed.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct StoreError {
    action: &'static str,
    path: PathBuf,
    source: std::io::Error,
}

fn err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The event photo store under a state directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    retention: u64,
    max_bytes: u64,
}

impl Store {
    /// The store at `<state_dir>/events`, keeping photos for `retention` µs and at most
    /// `max_bytes` in all. Creates the directory.
    pub fn open(state_dir: &Path, retention: u64, max_bytes: u64) -> Result<Store, StoreError> {
        let root = state_dir.join("events");
        mkdir(&root)?;
        Ok(Store {
            root,
            retention,
            max_bytes,
        })
    }

    /// Where the photos of `event` go.
    pub fn event_dir(&self, event: u64) -> PathBuf {
        self.root.join(event.to_string())
    }

    /// Store `frames` under `event`; a frame already stored (same capture time) is kept as is.
    pub fn save(&self, event: u64, frames: &[Frame]) -> Result<Vec<PathBuf>, StoreError> {
        let dir = self.event_dir(event);
        mkdir(&dir)?;
        let mut paths = Vec::with_capacity(frames.len());
        for f in frames {
            let path = dir.join(format!("{}.jpg", f.at));
            if !path.exists() {
                write_atomic(&path, &f.jpeg)?;
            }
            paths.push(path);
        }
        let d = fs::File::open(&dir).map_err(err("opening", &dir))?;
        d.sync_all().map_err(err("syncing", &dir))?;
        Ok(paths)
    }

    /// Every stored photo. Files that are not `<digits>.jpg` in a `<digits>` directory are not
    /// the store's and are left alone.
    pub fn scan(&self) -> Result<Vec<Photo>, StoreError> {
        let mut photos = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(err("listing", &self.root))? {
            let entry = entry.map_err(err("listing", &self.root))?;
            let Some(event) = numeric(&entry.file_name(), "") else {
                continue;
            };
            let dir = entry.path();
            let Ok(files) = fs::read_dir(&dir) else {
                continue;
            };
            for file in files.flatten() {
                let Some(at) = numeric(&file.file_name(), ".jpg") else {
                    continue;
                };
                let Ok(meta) = file.metadata() else { continue };
                if meta.is_file() {
                    photos.push(Photo {
                        path: file.path(),
                        event,
                        at,
                        size: meta.len(),
                    });
                }
            }
        }
        Ok(photos)
    }

    /// Apply [`plan`] at `now` and remove event directories left empty.
    pub fn prune(&self, now: u64) -> Result<Pruned, StoreError> {
        let (delete, pruned) = plan(self.scan()?, now, self.retention, self.max_bytes);
        let mut dirs: Vec<PathBuf> = Vec::new();
        for p in &delete {
            match fs::remove_file(&p.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(err("removing", &p.path)(e)),
            }
            if let Some(parent) = p.path.parent()
                && !dirs.iter().any(|d| d == parent)
            {
                dirs.push(parent.to_path_buf());
            }
        }
        for d in dirs {
            // Only succeeds when empty, which is the point.
            let _ = fs::remove_dir(&d);
        }
        Ok(pruned)
    }

    /// Remove temporary files a crash left behind (only safe while nothing is writing).
    pub fn remove_partials(&self) -> usize {
        let mut removed = 0;
        let Ok(events) = fs::read_dir(&self.root) else {
            return 0;
        };
        for dir in events.flatten() {
            let Ok(files) = fs::read_dir(dir.path()) else {
                continue;
            };
            for f in files.flatten() {
                if f.file_name().to_string_lossy().ends_with(".tmp")
                    && fs::remove_file(f.path()).is_ok()
                {
                    removed += 1;
                }
            }
        }
        removed
    }
}

fn numeric(name: &std::ffi::OsStr, suffix: &str) -> Option<u64> {
    let name = name.to_str()?;
    let digits = name.strip_suffix(suffix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn mkdir(dir: &Path) -> Result<(), StoreError> {
    secura_kit::fs::create_private_dir(dir).map_err(err("creating", dir))
}

/// The photo durably in place once the directory is synced (once per event, by the caller).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    secura_kit::fs::replace(path, bytes)
        .map(|_| ())
        .map_err(err("writing", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    fn photo(event: u64, at: u64, size: u64) -> Photo {
        Photo {
            path: PathBuf::from(format!("{event}/{at}.jpg")),
            event,
            at,
            size,
        }
    }

    const DAY: u64 = 86_400_000_000;

    #[test]
    fn photos_older_than_the_retention_are_deleted() {
        let now = 100 * DAY;
        let photos = vec![photo(1, now - 40 * DAY, 10), photo(2, now - DAY, 10)];
        let (delete, pruned) = plan(photos, now, 30 * DAY, u64::MAX);
        assert_eq!(delete, vec![photo(1, now - 40 * DAY, 10)]);
        assert_eq!(
            pruned,
            Pruned {
                expired: 1,
                over_size: 0
            }
        );
    }

    #[test]
    fn over_the_size_limit_the_oldest_go_first_until_it_fits() {
        let now = 100 * DAY;
        let photos = vec![
            photo(3, now - 1000, 40),
            photo(1, now - 3000, 40),
            photo(2, now - 2000, 40),
        ];
        let (delete, pruned) = plan(photos, now, 30 * DAY, 50);
        assert_eq!(
            delete,
            vec![photo(1, now - 3000, 40), photo(2, now - 2000, 40)]
        );
        assert_eq!(
            pruned,
            Pruned {
                expired: 0,
                over_size: 2
            }
        );
    }

    #[test]
    fn within_both_limits_nothing_is_deleted() {
        let (delete, _) = plan(vec![photo(1, 5, 10)], 10, 100, 10);
        assert!(delete.is_empty());
    }

    fn frame(at: u64, bytes: usize) -> Frame {
        Frame {
            seq: at,
            at,
            mono: Instant::now(),
            jpeg: Arc::from(vec![0xAB; bytes].into_boxed_slice()),
        }
    }

    #[test]
    fn saved_events_are_found_and_pruned_on_disk_with_empty_dirs_removed() {
        let dir = tempfile::tempdir().unwrap();
        let now = 100 * DAY;
        let store = Store::open(dir.path(), 30 * DAY, 250).unwrap();
        store.save(7, &[frame(now - 40 * DAY, 100)]).unwrap();
        store
            .save(8, &[frame(now - 2000, 100), frame(now - 1000, 100)])
            .unwrap();
        store.save(9, &[frame(now - 500, 100)]).unwrap();
        // Saving a frame again keeps one copy.
        store.save(9, &[frame(now - 500, 100)]).unwrap();
        fs::write(dir.path().join("events/notes.txt"), b"not ours").unwrap();
        assert_eq!(store.scan().unwrap().len(), 4);

        let pruned = store.prune(now).unwrap();
        assert_eq!(
            pruned,
            Pruned {
                expired: 1,
                over_size: 1
            }
        );
        assert!(!store.event_dir(7).exists());
        assert!(
            !store
                .event_dir(8)
                .join(format!("{}.jpg", now - 2000))
                .exists()
        );
        assert!(
            store
                .event_dir(8)
                .join(format!("{}.jpg", now - 1000))
                .exists()
        );
        assert!(store.event_dir(9).exists());
        assert!(dir.path().join("events/notes.txt").exists());
    }

    #[test]
    fn photos_are_private_to_the_daemon() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), DAY, u64::MAX).unwrap();
        let paths = store.save(1, &[frame(5, 10)]).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&paths[0]), 0o600);
        assert_eq!(mode(&store.event_dir(1)), 0o700);
    }

    #[test]
    fn leftover_temporary_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), DAY, u64::MAX).unwrap();
        store.save(1, &[frame(5, 10)]).unwrap();
        fs::write(store.event_dir(1).join(".6.jpg.tmp"), b"half").unwrap();
        assert_eq!(store.remove_partials(), 1);
        assert_eq!(store.scan().unwrap().len(), 1);
    }
}
