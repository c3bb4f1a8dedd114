//! The event history: SQLite in the state directory. Every transition and command is kept
//! with its reason and actor; rows older than [`KEEP_AGE`] go, but never the newest
//! [`KEEP_ROWS`].

use rusqlite::{Connection, params};
use secura_bus::types::{HistoryEntry, Micros};
use std::path::Path;

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
    source: rusqlite::Error,
}

fn err(what: &str) -> impl FnOnce(rusqlite::Error) -> HistoryError + '_ {
    move |source| HistoryError {
        what: what.to_string(),
        source,
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

    /// Append a row; prunes now and then.
    pub fn record(
        &mut self,
        at: Micros,
        kind: &str,
        text: &str,
        actor: &str,
    ) -> Result<(), HistoryError> {
        self.db
            .execute(
                "INSERT INTO events (at, kind, text, actor) VALUES (?1, ?2, ?3, ?4)",
                params![i64::try_from(at).unwrap_or(i64::MAX), kind, text, actor],
            )
            .map_err(err("insert"))?;
        self.inserts += 1;
        if self.inserts.is_multiple_of(50) {
            self.prune(at)?;
        }
        Ok(())
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

    const DAY: Micros = 24 * 3600 * 1_000_000;

    #[test]
    fn rows_come_back_newest_first_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let mut h = History::open(&path).unwrap();
        h.record(1, "command", "arm", "uid:0").unwrap();
        h.record(2, "state", "disarmed → arming", "uid:0").unwrap();
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
            h.record(now - 40 * DAY + i, "motion", "old", "sensor")
                .unwrap();
        }
        for i in 0..20 {
            h.record(now - 10 * DAY + i, "motion", "recent", "sensor")
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
            h.record(now - DAY + i, "motion", "new", "sensor").unwrap();
        }
        h.prune(now).unwrap();
        let rows = h.newest(MAX_LIMIT).unwrap();
        assert_eq!(rows.len(), 220);
        assert!(rows.iter().all(|r| r.text != "old"));
    }
}
