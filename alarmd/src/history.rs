//! The event history: SQLite in the state directory. Every transition and command is kept
//! with its reason and actor; rows older than [`KEEP_AGE`] go, but never the newest
//! [`KEEP_ROWS`].

use crate::machine::Row;
use rusqlite::{Connection, params};
use secura_bus::types::{HistoryEntry, Micros};
use std::path::{Path, PathBuf};

/// Rows younger than this are always kept.
pub const KEEP_AGE: Micros = 30 * 24 * 3600 * 1_000_000;
/// This many newest rows are always kept, whatever their age.
pub const KEEP_ROWS: u32 = 100;
/// `History(limit)` answers at most this many rows.
pub const MAX_LIMIT: u32 = 1000;

/// History errors.
#[derive(Debug, thiserror::Error)]
#[error("event history {what}: {source}")]
pub struct HistoryError {
    what: String,
    source: Box<dyn std::error::Error + Send + Sync>,
}

fn err(what: &str) -> impl FnOnce(rusqlite::Error) -> HistoryError + '_ {
    move |source| HistoryError {
        what: what.to_string(),
        source: Box::new(source),
    }
}

/// The open history database.
#[derive(Debug)]
pub struct History {
    db: Connection,
    inserts: u32,
}

impl History {
    /// Open (creating if needed) `path`.
    pub fn open(path: &Path) -> Result<History, HistoryError> {
        let what = format!("opening {}", path.display());
        let db = Connection::open(path).map_err(err(&what))?;
        db.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS events (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 at INTEGER NOT NULL,
                 kind TEXT NOT NULL,
                 text TEXT NOT NULL,
                 actor TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS events_at ON events(at);",
        )
        .map_err(err(&what))?;
        Ok(History { db, inserts: 0 })
    }

    /// Open `path`; a file that is not a usable database is moved aside (the history is a
    /// log: losing it must never keep the alarm from running) and a fresh one started. The
    /// second value says what happened to the old one, for a trouble.
    pub fn open_or_fresh(
        path: &Path,
        stamp: Micros,
    ) -> Result<(History, Option<String>), HistoryError> {
        let first = match History::open(path) {
            Ok(h) => return Ok((h, None)),
            Err(e) => e,
        };
        let aside = PathBuf::from(format!("{}.damaged-{stamp}", path.display()));
        std::fs::rename(path, &aside).map_err(|e| HistoryError {
            what: format!("moving the damaged {} aside ({first})", path.display()),
            source: Box::new(e),
        })?;
        for ext in ["-wal", "-shm"] {
            let side = PathBuf::from(format!("{}{ext}", path.display()));
            let _ = std::fs::rename(&side, format!("{}{ext}", aside.display()));
        }
        let h = History::open(path)?;
        let why = format!(
            "the event history was damaged ({}); it was kept as {} and a new one started",
            first.source,
            aside.display()
        );
        Ok((h, Some(why)))
    }

    /// Append the rows of one step at `at`, in one transaction (one fsync); prunes now and
    /// then.
    pub fn record_all(&mut self, at: Micros, rows: &[Row]) -> Result<(), HistoryError> {
        let at_db = i64::try_from(at).unwrap_or(i64::MAX);
        let tx = self.db.transaction().map_err(err("begin"))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO events (at, kind, text, actor) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(err("insert"))?;
            for r in rows {
                stmt.execute(params![at_db, r.kind.as_str(), r.text, r.actor])
                    .map_err(err("insert"))?;
            }
        }
        tx.commit().map_err(err("commit"))?;
        let before = self.inserts;
        self.inserts = self
            .inserts
            .wrapping_add(u32::try_from(rows.len()).unwrap_or(u32::MAX));
        if before / 50 != self.inserts / 50 {
            self.prune(at)?;
        }
        Ok(())
    }

    /// Append one row.
    pub fn record(&mut self, at: Micros, row: Row) -> Result<(), HistoryError> {
        self.record_all(at, &[row])
    }

    /// Delete rows older than [`KEEP_AGE`] before `now`, keeping the newest [`KEEP_ROWS`].
    pub fn prune(&mut self, now: Micros) -> Result<usize, HistoryError> {
        let cutoff = i64::try_from(now.saturating_sub(KEEP_AGE)).unwrap_or(i64::MAX);
        self.db
            .execute(
                "DELETE FROM events WHERE at < ?1 AND id NOT IN
                   (SELECT id FROM events ORDER BY id DESC LIMIT ?2)",
                params![cutoff, KEEP_ROWS],
            )
            .map_err(err("prune"))
    }

    /// The newest `limit` rows (at most [`MAX_LIMIT`]), newest first.
    pub fn newest(&self, limit: u32) -> Result<Vec<HistoryEntry>, HistoryError> {
        let mut stmt = self
            .db
            .prepare("SELECT at, kind, text, actor FROM events ORDER BY id DESC LIMIT ?1")
            .map_err(err("query"))?;
        let rows = stmt
            .query_map(params![limit.min(MAX_LIMIT)], |r| {
                Ok(HistoryEntry {
                    at: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                    kind: r.get(1)?,
                    text: r.get(2)?,
                    actor: r.get(3)?,
                })
            })
            .map_err(err("query"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err("query"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::Kind;

    fn row(kind: Kind, text: &str, actor: &str) -> Row {
        Row {
            kind,
            text: text.into(),
            actor: actor.into(),
        }
    }

    const DAY: Micros = 24 * 3600 * 1_000_000;

    #[test]
    fn rows_come_back_newest_first_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let mut h = History::open(&path).unwrap();
        h.record(1, row(Kind::Command, "arm", "uid:0")).unwrap();
        h.record(2, row(Kind::State, "disarmed → arming", "uid:0"))
            .unwrap();
        drop(h);
        let h = History::open(&path).unwrap();
        let rows = h.newest(10).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].at, 2);
        assert_eq!(rows[1].text, "arm");
        assert_eq!(h.newest(1).unwrap().len(), 1);
    }

    #[test]
    fn pruning_keeps_thirty_days_and_at_least_the_newest_hundred() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(&dir.path().join("h.sqlite")).unwrap();
        let now = 400 * DAY;
        // 150 old rows (40 days ago) and 20 recent ones (10 days ago).
        for i in 0..150 {
            h.record(now - 40 * DAY + i, row(Kind::Motion, "old", "sensor"))
                .unwrap();
        }
        for i in 0..20 {
            h.record(now - 10 * DAY + i, row(Kind::Motion, "recent", "sensor"))
                .unwrap();
        }
        h.prune(now).unwrap();
        let rows = h.newest(MAX_LIMIT).unwrap();
        assert_eq!(
            rows.len(),
            100,
            "newest 100 kept although 80 of them are old"
        );
        assert_eq!(rows.iter().filter(|r| r.text == "recent").count(), 20);
        // With many recent rows, everything within 30 days stays.
        for i in 0..200 {
            h.record(now - DAY + i, row(Kind::Motion, "new", "sensor"))
                .unwrap();
        }
        h.prune(now).unwrap();
        let rows = h.newest(MAX_LIMIT).unwrap();
        assert_eq!(rows.len(), 220);
        assert!(rows.iter().all(|r| r.text != "old"));
    }

    #[test]
    fn a_damaged_history_is_moved_aside_and_a_fresh_one_started() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        std::fs::write(&path, vec![0x55u8; 8192]).unwrap();
        assert!(
            History::open(&path).is_err(),
            "a damaged file does not open"
        );
        let (mut h, why) = History::open_or_fresh(&path, 7).unwrap();
        let why = why.expect("the damage is reported");
        assert!(why.contains("history.sqlite.damaged-7"), "{why}");
        assert_eq!(
            std::fs::read(dir.path().join("history.sqlite.damaged-7"))
                .unwrap()
                .len(),
            8192
        );
        h.record(1, row(Kind::Command, "arm", "uid:0")).unwrap();
        assert_eq!(h.newest(10).unwrap().len(), 1);
        let (_, again) = History::open_or_fresh(&path, 8).unwrap();
        assert_eq!(again, None, "a good file is left alone");
    }

    #[test]
    fn a_step_s_rows_are_written_together() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(&dir.path().join("h.sqlite")).unwrap();
        h.record_all(
            5,
            &[
                row(Kind::Motion, "motion while armed: event 1", "sensor"),
                row(Kind::State, "armed → verifying", "sensor"),
            ],
        )
        .unwrap();
        let rows = h.newest(10).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].kind, "state");
        assert!(rows.iter().all(|r| r.at == 5));
    }
}
