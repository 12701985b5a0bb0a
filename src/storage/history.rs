//! The recording's blocks: upserted by the writer thread, read back by
//! `history`, pruned whole.

use super::{Fail, StorageError, Store};
use rusqlite::{Connection, params};
use serde::Serialize;

/// One stored block (`data` still compressed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryBlockRow {
    pub id: i64,
    pub start_time: f64,
    pub end_time: f64,
    pub frames: u32,
    pub encoding: i64,
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// Insert a block, or replace the one with the same start (the open block).
pub(crate) fn upsert_block(
    conn: &Connection,
    start: f64,
    end: f64,
    frames: u32,
    encoding: i64,
    data: &[u8],
) -> Result<(), Fail> {
    conn.prepare_cached(
        "INSERT INTO history_blocks (start_time, end_time, frames, encoding, data)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(start_time) DO UPDATE SET
            end_time = excluded.end_time, frames = excluded.frames,
            encoding = excluded.encoding, data = excluded.data",
    )?
    .execute(params![start, end, frames, encoding, data])?;
    Ok(())
}

/// Blocks that ended before `older_than`: (count, bytes).
pub(crate) fn prunable_blocks(conn: &Connection, older_than: f64) -> Result<(u64, u64), Fail> {
    let (n, bytes): (i64, i64) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM history_blocks WHERE end_time < ?1",
        [older_than],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((
        u64::try_from(n).unwrap_or(0),
        u64::try_from(bytes).unwrap_or(0),
    ))
}

/// Delete every block that ended before `older_than`; returns how many.
pub(crate) fn prune_blocks(conn: &Connection, older_than: f64) -> Result<u64, Fail> {
    let n = conn.execute(
        "DELETE FROM history_blocks WHERE end_time < ?1",
        [older_than],
    )?;
    Ok(n as u64)
}

/// Totals of the recording, for `status` and measurements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct HistorySummary {
    pub blocks: u64,
    pub frames: u64,
    pub bytes: u64,
    pub first: Option<f64>,
    pub last: Option<f64>,
}

impl Store {
    /// Blocks overlapping `[from, to]`, oldest first. Empty on a file older
    /// than schema version 4.
    pub fn history_blocks(&self, from: f64, to: f64) -> Result<Vec<HistoryBlockRow>, StorageError> {
        if !self.has_version(4) {
            return Ok(Vec::new());
        }
        let run = || -> Result<Vec<HistoryBlockRow>, Fail> {
            let mut stmt = self.conn.prepare(
                "SELECT id, start_time, end_time, frames, encoding, data FROM history_blocks
                 WHERE end_time >= ?1 AND start_time <= ?2 ORDER BY start_time",
            )?;
            let rows = stmt
                .query_map(params![from, to], |r| {
                    Ok(HistoryBlockRow {
                        id: r.get(0)?,
                        start_time: r.get(1)?,
                        end_time: r.get(2)?,
                        frames: r.get(3)?,
                        encoding: r.get(4)?,
                        data: r.get(5)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        };
        run().map_err(|e| self.err(e))
    }

    /// The end of the last block that ended at or before `t` and the start
    /// of the first block that starts at or after it: the edges of a gap in
    /// the recording around `t` (replay says where it resumes).
    pub fn history_neighbours(&self, t: f64) -> Result<(Option<f64>, Option<f64>), StorageError> {
        if !self.has_version(4) {
            return Ok((None, None));
        }
        let run = || -> Result<(Option<f64>, Option<f64>), Fail> {
            let before = self.conn.query_row(
                "SELECT MAX(end_time) FROM history_blocks WHERE end_time <= ?1",
                [t],
                |r| r.get(0),
            )?;
            let after = self.conn.query_row(
                "SELECT MIN(start_time) FROM history_blocks WHERE start_time >= ?1",
                [t],
                |r| r.get(0),
            )?;
            Ok((before, after))
        };
        run().map_err(|e| self.err(e))
    }

    /// How much is recorded.
    pub fn history_summary(&self) -> Result<HistorySummary, StorageError> {
        if !self.has_version(4) {
            return Ok(HistorySummary::default());
        }
        self.conn
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(frames), 0), COALESCE(SUM(LENGTH(data)), 0),
                        MIN(start_time), MAX(end_time) FROM history_blocks",
                [],
                |r| {
                    let n: i64 = r.get(0)?;
                    let f: i64 = r.get(1)?;
                    let b: i64 = r.get(2)?;
                    Ok(HistorySummary {
                        blocks: u64::try_from(n).unwrap_or(0),
                        frames: u64::try_from(f).unwrap_or(0),
                        bytes: u64::try_from(b).unwrap_or(0),
                        first: r.get(3)?,
                        last: r.get(4)?,
                    })
                },
            )
            .map_err(|e| self.err(e))
    }

    /// Blocks (and their bytes) a history prune at `older_than` would delete.
    pub fn history_prune_plan(&self, older_than: f64) -> Result<(u64, u64), StorageError> {
        if !self.has_version(4) {
            return Ok((0, 0));
        }
        prunable_blocks(&self.conn, older_than).map_err(|e| self.err(e))
    }

    /// Delete whole blocks that ended before `older_than`.
    pub fn prune_history(&mut self, older_than: f64) -> Result<u64, StorageError> {
        prune_blocks(&self.conn, older_than).map_err(|e| self.err(e))
    }

    /// Write one block directly (tests, tools; the daemon uses the writer).
    pub fn put_history_block(
        &mut self,
        start: f64,
        end: f64,
        frames: u32,
        encoding: i64,
        data: &[u8],
    ) -> Result<(), StorageError> {
        upsert_block(&self.conn, start, end, frames, encoding, data).map_err(|e| self.err(e))
    }
}
