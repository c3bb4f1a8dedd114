//! Event photos on disk, pruned by age and by total size.
//!
//! Layout: `<state>/events/<event_id>/<capture time µs>.jpg`, directories 0700 and files 0600
//! (they are pictures of the inside of a home). Each photo is written to a temporary name,
//! synced and renamed, so a power cut — which a burglar may cause — leaves whole photos or
//! nothing. The capture time in the name is what pruning goes by.
//!
//! A Pi has no RTC and SNTP is unauthenticated, so the wall clock can be wrong by days. The
//! size limit is applied first and always; the age limit only while the clock is plausible:
//! not before this release was built, not stepped (against the monotonic clock) since camd
//! started, and not claiming that even the newest photo is past the retention.

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
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// Photos older than the retention.
    pub expired: usize,
    /// Photos removed to get under the size limit.
    pub over_size: usize,
    /// Why age pruning was skipped, if it was.
    pub age_skipped: Option<String>,
}

/// No correct clock reads earlier than this (2026-12-01, before this release was built).
pub const NOT_BEFORE: u64 = 1_796_083_200_000_000;
/// A wall clock that moved this far from the monotonic clock since camd started was stepped.
pub const STEP_TOLERANCE: u64 = 3600 * 1_000_000;

/// Whether `now` can be trusted to measure the photos' age: `Err(why)` if not. `expected` is
/// what the wall clock should read by the monotonic clock since start; `newest` the capture
/// time of the newest photo.
pub fn age_check(
    now: u64,
    expected: u64,
    newest: Option<u64>,
    retention: u64,
) -> Result<(), String> {
    if now < NOT_BEFORE {
        return Err("the clock reads earlier than this release was built".into());
    }
    if now.abs_diff(expected) > STEP_TOLERANCE {
        return Err(format!(
            "the clock was stepped by {} s since camd started",
            now.abs_diff(expected) / 1_000_000
        ));
    }
    if let Some(newest) = newest {
        if newest > now.saturating_add(STEP_TOLERANCE) {
            return Err("the newest photo is dated ahead of the clock".into());
        }
        if now.saturating_sub(newest) > retention {
            return Err("even the newest photo would be past the retention".into());
        }
    }
    Ok(())
}

/// The photos to delete, oldest first: the oldest until the total is at most `max_bytes`,
/// then, if `by_age`, those of the rest captured before `now - retention`.
pub fn plan(
    mut photos: Vec<Photo>,
    now: u64,
    retention: u64,
    max_bytes: u64,
    by_age: bool,
) -> (Vec<Photo>, Pruned) {
    photos.sort_by_key(|p| (p.at, p.event));
    let mut total: u64 = photos.iter().map(|p| p.size).sum();
    let mut over = 0;
    while total > max_bytes && over < photos.len() {
        total -= photos.get(over).map_or(0, |p| p.size);
        over += 1;
    }
    let mut delete: Vec<Photo> = photos.drain(..over).collect();
    let cutoff = now.saturating_sub(retention);
    let expired = if by_age {
        let (old, _kept): (Vec<Photo>, Vec<Photo>) =
            photos.into_iter().partition(|p| p.at < cutoff);
        let n = old.len();
        delete.extend(old);
        n
    } else {
        0
    };
    let pruned = Pruned {
        expired,
        over_size: over,
        age_skipped: None,
    };
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
    /// The wall clock and the monotonic clock at open (or at the last step that touched no
    /// photo), to notice a step.
    anchor: std::sync::Arc<std::sync::Mutex<(u64, std::time::Instant)>>,
    /// What is on disk, as of the last full prune plus the saves since (`None`: unknown).
    known: std::sync::Arc<std::sync::Mutex<Option<Known>>>,
}

/// The store's total and oldest photo, kept so that pruning after a save can tell without
/// listing every stored photo whether anything is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Known {
    bytes: u64,
    oldest: Option<u64>,
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
            anchor: std::sync::Arc::new(std::sync::Mutex::new((
                secura_bus::types::now_micros(),
                std::time::Instant::now(),
            ))),
            known: std::sync::Arc::new(std::sync::Mutex::new(None)),
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
                if let Some(k) = self.known_lock().as_mut() {
                    k.bytes = k.bytes.saturating_add(f.jpeg.len() as u64);
                    k.oldest = Some(k.oldest.map_or(f.at, |o| o.min(f.at)));
                }
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

    /// Apply [`plan`] at `now` and remove event directories left empty; by age only if
    /// [`age_check`] trusts the clock.
    pub fn prune(&self, now: u64) -> Result<Pruned, StoreError> {
        let (wall, mono) = *self
            .anchor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let since = u64::try_from(mono.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.prune_expecting(now, wall.saturating_add(since))
    }

    /// [`Store::prune`] right after a save: without listing the store when the photos known
    /// to be there are within `max_storage` and none is past the retention (the hourly
    /// [`Store::prune`] lists it regardless).
    pub fn prune_after_save(&self, now: u64) -> Result<Pruned, StoreError> {
        if let Some(k) = *self.known_lock() {
            let within_size = k.bytes <= self.max_bytes;
            let none_expired = k
                .oldest
                .is_none_or(|o| o >= now.saturating_sub(self.retention));
            if within_size && none_expired {
                return Ok(Pruned::default());
            }
        }
        self.prune(now)
    }

    fn known_lock(&self) -> std::sync::MutexGuard<'_, Option<Known>> {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// [`Store::prune`] with the wall clock expected to read `expected` (tests step it).
    pub fn prune_expecting(&self, now: u64, expected: u64) -> Result<Pruned, StoreError> {
        *self.known_lock() = None;
        let photos = self.scan()?;
        let listed: Vec<(PathBuf, u64, u64)> = photos
            .iter()
            .map(|p| (p.path.clone(), p.at, p.size))
            .collect();
        let newest = photos.iter().map(|p| p.at).max();
        let mut trust = age_check(now, expected, newest, self.retention);
        if now.abs_diff(expected) > STEP_TOLERANCE {
            // A step backwards only makes photos look younger; a step forwards misdates only
            // the photos taken since the anchor under the old clock. Without such photos (the
            // usual case: SNTP setting the clock soon after boot) the new clock is taken.
            let start = self
                .anchor
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
            let misdated = now > expected
                && photos
                    .iter()
                    .any(|p| p.at >= start && p.at <= expected.saturating_add(STEP_TOLERANCE));
            if !misdated {
                tracing::info!(
                    step_s = now.abs_diff(expected) / 1_000_000,
                    "the wall clock was stepped; no stored photo is dated by the old clock"
                );
                *self
                    .anchor
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    (now, std::time::Instant::now());
                trust = age_check(now, now, newest, self.retention);
            }
        }
        let (delete, mut pruned) = plan(photos, now, self.retention, self.max_bytes, trust.is_ok());
        if let Err(why) = &trust {
            tracing::warn!(reason = %why, "event photos pruned by size only: the clock is not trusted for their age");
        }
        pruned.age_skipped = trust.err();
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
        let mut known = Known {
            bytes: 0,
            oldest: None,
        };
        for (_, at, size) in listed
            .iter()
            .filter(|(path, _, _)| !delete.iter().any(|d| &d.path == path))
        {
            known.bytes = known.bytes.saturating_add(*size);
            known.oldest = Some(known.oldest.map_or(*at, |o| o.min(*at)));
        }
        *self.known_lock() = Some(known);
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
        let (delete, pruned) = plan(photos, now, 30 * DAY, u64::MAX, true);
        assert_eq!(delete, vec![photo(1, now - 40 * DAY, 10)]);
        assert_eq!(
            pruned,
            Pruned {
                expired: 1,
                over_size: 0,
                age_skipped: None
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
        let (delete, pruned) = plan(photos, now, 30 * DAY, 50, true);
        assert_eq!(
            delete,
            vec![photo(1, now - 3000, 40), photo(2, now - 2000, 40)]
        );
        assert_eq!(
            pruned,
            Pruned {
                expired: 0,
                over_size: 2,
                age_skipped: None
            }
        );
    }

    #[test]
    fn within_both_limits_nothing_is_deleted() {
        let (delete, _) = plan(vec![photo(1, 5, 10)], 10, 100, 10, true);
        assert!(delete.is_empty());
    }

    #[test]
    fn size_goes_first_then_age() {
        let now = NOT_BEFORE + 100 * DAY;
        let photos = vec![
            photo(1, now - 40 * DAY, 10),
            photo(2, now - 35 * DAY, 10),
            photo(3, now - DAY, 10),
        ];
        let (delete, pruned) = plan(photos, now, 30 * DAY, 25, true);
        assert_eq!(delete.len(), 2);
        assert_eq!((pruned.over_size, pruned.expired), (1, 1));
    }

    #[test]
    fn a_clock_stepped_31_days_ahead_deletes_no_recent_photos() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 30 * DAY, 1 << 20).unwrap();
        // Two minutes after camd started, a photo of this run.
        let t0 = store.anchor.lock().unwrap().0 + 240_000_000;
        store.save(1, &[frame(t0 - 120_000_000, 100)]).unwrap();
        // SNTP steps the clock 31 days ahead; the next event is captured at the new time.
        let stepped = t0 + 31 * DAY;
        store.save(2, &[frame(stepped, 100)]).unwrap();
        let pruned = store.prune_expecting(stepped, t0).unwrap();
        assert_eq!((pruned.expired, pruned.over_size), (0, 0));
        assert!(
            pruned.age_skipped.as_deref().unwrap().contains("stepped"),
            "{pruned:?}"
        );
        assert_eq!(store.scan().unwrap().len(), 2);
        // Over the size limit, photos still go, oldest first.
        let small = Store::open(dir.path(), 30 * DAY, 150).unwrap();
        let pruned = small.prune_expecting(stepped, t0).unwrap();
        assert_eq!((pruned.expired, pruned.over_size), (0, 1));
        assert!(store.event_dir(2).exists());
    }

    #[test]
    fn a_step_that_misdates_no_photo_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 30 * DAY, 1 << 20).unwrap();
        let start = store.anchor.lock().unwrap().0;
        // A photo of an earlier run, 40 days before the anchor, and the clock stepped 31 days
        // ahead (SNTP after boot) before any photo of this run.
        store.save(1, &[frame(start - 40 * DAY, 100)]).unwrap();
        let stepped = start + 31 * DAY;
        store.save(2, &[frame(stepped, 100)]).unwrap();
        let pruned = store.prune_expecting(stepped, start).unwrap();
        if start >= NOT_BEFORE {
            assert_eq!(pruned.age_skipped, None);
            assert_eq!(pruned.expired, 1);
            assert!(!store.event_dir(1).exists());
            assert!(store.event_dir(2).exists());
        }
    }

    #[test]
    fn the_age_limit_needs_a_plausible_clock() {
        let ret = 30 * DAY;
        let now = NOT_BEFORE + 100 * DAY;
        assert!(age_check(now, now, Some(now - DAY), ret).is_ok());
        assert!(age_check(now, now, None, ret).is_ok());
        // Before the build date: the clock was never set.
        let err = age_check(100 * DAY, 100 * DAY, Some(99 * DAY), ret).unwrap_err();
        assert!(err.contains("built"), "{err}");
        // Stepped since start, either way.
        assert!(age_check(now, now - 2 * DAY, Some(now), ret).is_err());
        assert!(age_check(now - 2 * DAY, now, Some(now - 3 * DAY), ret).is_err());
        // Even the newest photo would be past the retention: more likely a wrong clock
        // than a month without a single event.
        let err = age_check(now, now, Some(now - 31 * DAY), ret).unwrap_err();
        assert!(err.contains("newest"), "{err}");
        // A photo from the future.
        assert!(age_check(now, now, Some(now + DAY), ret).is_err());
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
    fn pruning_after_a_save_within_the_limits_does_not_list_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let now = NOT_BEFORE + 100 * DAY;
        let store = Store::open(dir.path(), 30 * DAY, 1 << 20).unwrap();
        store.save(1, &[frame(now - 1000, 100)]).unwrap();
        assert_eq!(store.prune_after_save(now).unwrap(), Pruned::default());
        // A photo past the retention that the store was not told of (as if written by an
        // older camd): only a full listing finds it.
        let stray = store.event_dir(9).join(format!("{}.jpg", now - 40 * DAY));
        fs::create_dir_all(store.event_dir(9)).unwrap();
        fs::write(&stray, [0u8; 10]).unwrap();
        store.save(2, &[frame(now - 500, 100)]).unwrap();
        assert_eq!(store.prune_after_save(now).unwrap(), Pruned::default());
        assert!(stray.exists());
        assert_eq!(store.prune_expecting(now, now).unwrap().expired, 1);
        assert!(!stray.exists());
    }

    #[test]
    fn pruning_after_a_save_past_max_storage_or_the_retention_deletes_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let now = NOT_BEFORE + 100 * DAY;
        let store = Store::open(dir.path(), 30 * DAY, 250).unwrap();
        store.save(1, &[frame(now - 3000, 100)]).unwrap();
        store.prune_expecting(now, now).unwrap();
        store.save(2, &[frame(now - 2000, 100)]).unwrap();
        assert_eq!(store.prune_after_save(now).unwrap(), Pruned::default());
        store.save(3, &[frame(now - 1000, 100)]).unwrap();
        assert_eq!(store.prune_after_save(now).unwrap().over_size, 1);
        assert!(!store.event_dir(1).exists());
        assert!(store.event_dir(2).exists());
    }

    #[test]
    fn saved_events_are_found_and_pruned_on_disk_with_empty_dirs_removed() {
        let dir = tempfile::tempdir().unwrap();
        let now = NOT_BEFORE + 100 * DAY;
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

        // Size first: the oldest two go (one of them also past the retention).
        let pruned = store.prune_expecting(now, now).unwrap();
        assert_eq!(
            pruned,
            Pruned {
                expired: 0,
                over_size: 2,
                age_skipped: None
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
