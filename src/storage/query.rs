//! The read side: what the CLI and status commands ask of the history.
//!
//! Owns the SELECT SQL. Every answer is a plain serde-serialisable struct, so
//! `--json` prints exactly what the database holds.

use super::state::{get_state, keys};
use super::{StorageError, Store, get_enum, get_enum_opt, get_json, get_json_opt, get_u64};
use crate::model::{
    CaptureData, CaptureRow, EventRow, FrameRecord, LogRecord, PressureRecord, ProcessSamples,
    ProcessScore, SnapshotRow, Stall, StallRow, ThreadRecord,
};
use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

/// Which events `list_events` returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    /// Only events that have not closed yet.
    pub open_only: bool,
    /// Only events active at or after this Unix time: still open, or closed at
    /// or after it (an event that began earlier but was still running counts).
    pub since: Option<f64>,
    /// At most this many, newest first.
    pub limit: Option<usize>,
}

/// A snapshot with the event it belongs to, for `history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    pub(crate) event_id: i64,
    pub(crate) pid: u32,
    pub(crate) command: String,
    #[serde(flatten)]
    pub(crate) snapshot: SnapshotRow,
}

/// The ring buffer as it was when a capture was triggered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BufferContextRow {
    pub(crate) id: i64,
    pub(crate) capture_id: i64,
    pub(crate) frozen: Vec<ProcessSamples>,
    pub(crate) culprits: Option<serde_json::Value>,
}

/// What the daemon last said about itself (`status`). Each field is `None` when
/// never recorded (or unreadable).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DaemonState {
    pub(crate) pid: Option<u32>,
    pub(crate) started_at: Option<f64>,
    /// Unix milliseconds.
    pub(crate) boot_time: Option<u64>,
    pub(crate) version: Option<String>,
    pub(crate) sample_count: Option<u64>,
    pub(crate) last_heartbeat: Option<f64>,
    /// Set on a clean stop; absent while running or after a crash.
    pub(crate) stopped_at: Option<f64>,
    pub(crate) latest_sample: Option<ProcessSamples>,
    pub(crate) worst_process: Option<ProcessScore>,
    /// What the stall detectors watch on this machine.
    pub(crate) stall_detectors: Option<String>,
}

const EVENT_COLUMNS: &str = "e.id, e.pid, e.start_time, e.command, e.boot_time, e.entry_time, \
     e.exit_time, e.entry_band, e.peak_band, e.peak_score, e.peak_time, e.dominant_resource, \
     e.close_reason, (SELECT COUNT(*) FROM forensic_captures c WHERE c.event_id = e.id), \
     e.subject_kind, e.group_key, e.members_json";
/// The same from a file older than version 5 (every event a process's).
const EVENT_COLUMNS_V4: &str = "e.id, e.pid, e.start_time, e.command, e.boot_time, \
     e.entry_time, e.exit_time, e.entry_band, e.peak_band, e.peak_score, e.peak_time, \
     e.dominant_resource, e.close_reason, \
     (SELECT COUNT(*) FROM forensic_captures c WHERE c.event_id = e.id), \
     'process', NULL, NULL";

fn event_row(row: &Row<'_>) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        id: row.get(0)?,
        pid: row.get(1)?,
        start_time_ms: get_u64(row, 2)?,
        command: row.get(3)?,
        boot_time_ms: get_u64(row, 4)?,
        entry_time_s: row.get(5)?,
        exit_time_s: row.get(6)?,
        entry_band: get_enum(row, 7)?,
        peak_band: get_enum(row, 8)?,
        peak_score: row.get(9)?,
        peak_time_s: row.get(10)?,
        dominant_resource: get_enum(row, 11)?,
        close_reason: get_enum_opt(row, 12)?,
        forensics_count: get_u64(row, 13)?,
        subject_kind: get_enum(row, 14)?,
        group_key: row.get(15)?,
        members: get_json_opt(row, 16)?.unwrap_or_default(),
    })
}

const SNAPSHOT_COLUMNS: &str =
    "s.snapshot_type, s.captured_at, s.score, s.band, s.process_json, s.group_json";
const SNAPSHOT_COLUMNS_V4: &str =
    "s.snapshot_type, s.captured_at, s.score, s.band, s.process_json, NULL";

/// Reads `SNAPSHOT_COLUMNS` starting at column `at`.
fn snapshot_row(row: &Row<'_>, at: usize) -> rusqlite::Result<SnapshotRow> {
    Ok(SnapshotRow {
        snapshot_type: get_enum(row, at)?,
        captured_at_s: row.get(at + 1)?,
        score: row.get(at + 2)?,
        band: get_enum(row, at + 3)?,
        process: get_json(row, at + 4)?,
        group: get_json_opt(row, at + 5)?,
    })
}

fn capture_row(row: &Row<'_>) -> rusqlite::Result<CaptureRow> {
    Ok(CaptureRow {
        id: row.get(0)?,
        event_id: row.get(1)?,
        captured_at_s: row.get(2)?,
        trigger: row.get(3)?,
        status: get_enum(row, 4)?,
        duration_ms: row.get(5)?,
        sources: get_json_opt(row, 6)?,
        error: row.get(7)?,
    })
}

const STALL_COLUMNS: &str = "id, kind, start_time, end_time, duration, suspended, cause, \
     pressure_kind, peak_pressure, window_pressure, verdict, pid, command, holders_json, \
     victims_json, (SELECT COUNT(*) FROM forensic_captures c WHERE c.stall_id = stalls.id)";

fn stall_row(row: &Row<'_>) -> rusqlite::Result<StallRow> {
    Ok(StallRow {
        id: row.get(0)?,
        stall: Stall {
            kind: get_enum(row, 1)?,
            start_s: row.get(2)?,
            end_s: row.get(3)?,
            duration_s: row.get(4)?,
            suspended_s: row.get(5)?,
            cause: get_enum_opt(row, 6)?,
            pressure_kind: row.get(7)?,
            peak_pressure_pct: row.get(8)?,
            window_pressure_pct: row.get(9)?,
            verdict: row.get(10)?,
            pid: row.get(11)?,
            command: row.get(12)?,
            holders: get_json(row, 13)?,
            victims: get_json(row, 14)?,
        },
        forensics_count: get_u64(row, 15)?,
    })
}

impl Store {
    /// Stalls that started at or after `since` (Unix seconds) or are still
    /// open, newest first, at most `limit`. Empty for a file older than the
    /// stalls table.
    pub fn list_stalls(
        &self,
        since: Option<f64>,
        limit: Option<usize>,
    ) -> Result<Vec<StallRow>, StorageError> {
        if !self.has_version(3) {
            return Ok(Vec::new());
        }
        let run = || -> rusqlite::Result<Vec<StallRow>> {
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT {STALL_COLUMNS} FROM stalls
                 WHERE ?1 IS NULL OR start_time >= ?1 OR end_time IS NULL OR end_time >= ?1
                 ORDER BY start_time DESC, id DESC LIMIT ?2"
            ))?;
            let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
            stmt.query_map(params![since, limit], stall_row)?.collect()
        };
        run().map_err(|e| self.err(e))
    }

    /// One stall by id.
    pub fn stall(&self, id: i64) -> Result<Option<StallRow>, StorageError> {
        if !self.has_version(3) {
            return Ok(None);
        }
        self.conn
            .query_row(
                &format!("SELECT {STALL_COLUMNS} FROM stalls WHERE id = ?1"),
                [id],
                stall_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Forensic captures of one stall, oldest first.
    pub fn stall_captures(&self, stall_id: i64) -> Result<Vec<CaptureRow>, StorageError> {
        if !self.has_version(3) {
            return Ok(Vec::new());
        }
        let run = || -> rusqlite::Result<Vec<CaptureRow>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT id, event_id, captured_at, \"trigger\", status, duration_ms,
                        sources_json, error
                 FROM forensic_captures WHERE stall_id = ?1 ORDER BY captured_at, id",
            )?;
            stmt.query_map([stall_id], capture_row)?.collect()
        };
        run().map_err(|e| self.err(e))
    }

    /// The event columns this file has (groups came with version 5).
    fn event_columns(&self) -> &'static str {
        if self.has_version(5) {
            EVENT_COLUMNS
        } else {
            EVENT_COLUMNS_V4
        }
    }

    fn snapshot_columns(&self) -> &'static str {
        if self.has_version(5) {
            SNAPSHOT_COLUMNS
        } else {
            SNAPSHOT_COLUMNS_V4
        }
    }

    /// Events matching `filter`, newest (by entry time) first.
    pub(crate) fn list_events(&self, filter: &EventFilter) -> Result<Vec<EventRow>, StorageError> {
        let limit = filter
            .limit
            .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let columns = self.event_columns();
        let sql = format!(
            "SELECT {columns} FROM process_events e
             WHERE (?1 = 0 OR e.exit_time IS NULL)
               AND (?2 IS NULL OR e.exit_time IS NULL OR e.exit_time >= ?2)
             ORDER BY e.entry_time DESC, e.id DESC
             LIMIT ?3"
        );
        let run = || -> rusqlite::Result<Vec<EventRow>> {
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![filter.open_only, filter.since, limit], event_row)?;
            rows.collect()
        };
        run().map_err(|e| self.err(e))
    }

    /// One event, if it exists.
    pub(crate) fn event(&self, id: i64) -> Result<Option<EventRow>, StorageError> {
        let columns = self.event_columns();
        let sql = format!("SELECT {columns} FROM process_events e WHERE e.id = ?1");
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row([id], event_row).optional())
            .map_err(|e| self.err(e))
    }

    /// One event and its snapshots in time order.
    pub fn event_detail(
        &self,
        id: i64,
    ) -> Result<Option<(EventRow, Vec<SnapshotRow>)>, StorageError> {
        let Some(event) = self.event(id)? else {
            return Ok(None);
        };
        let columns = self.snapshot_columns();
        let sql = format!(
            "SELECT {columns} FROM process_snapshots s
             WHERE s.event_id = ?1 ORDER BY s.captured_at, s.id"
        );
        let run = || -> rusqlite::Result<Vec<SnapshotRow>> {
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let rows = stmt.query_map([id], |r| snapshot_row(r, 0))?;
            rows.collect()
        };
        let snapshots = run().map_err(|e| self.err(e))?;
        Ok(Some((event, snapshots)))
    }

    /// Every snapshot captured at or after `since` (Unix seconds), oldest first,
    /// with the event it belongs to.
    pub(crate) fn history(&self, since: f64) -> Result<Vec<HistoryRow>, StorageError> {
        let columns = self.snapshot_columns();
        let sql = format!(
            "SELECT e.id, e.pid, e.command, {columns}
             FROM process_snapshots s JOIN process_events e ON e.id = s.event_id
             WHERE s.captured_at >= ?1
             ORDER BY s.captured_at, s.id"
        );
        let run = || -> rusqlite::Result<Vec<HistoryRow>> {
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let rows = stmt.query_map([since], |r| {
                Ok(HistoryRow {
                    event_id: r.get(0)?,
                    pid: r.get(1)?,
                    command: r.get(2)?,
                    snapshot: snapshot_row(r, 3)?,
                })
            })?;
            rows.collect()
        };
        run().map_err(|e| self.err(e))
    }

    /// Events not closed yet.
    pub(crate) fn open_event_count(&self) -> Result<u64, StorageError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM process_events WHERE exit_time IS NULL",
                [],
                |r| get_u64(r, 0),
            )
            .map_err(|e| self.err(e))
    }

    /// The highest event id in the file (0 when there is none): the daemon
    /// numbers new events after it, so its keys are the rows' ids.
    pub(crate) fn max_event_id(&self) -> Result<i64, StorageError> {
        self.conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM process_events", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))
    }

    /// Every event, open or closed.
    pub(crate) fn event_count(&self) -> Result<u64, StorageError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM process_events", [], |r| get_u64(r, 0))
            .map_err(|e| self.err(e))
    }

    /// Forensic captures of one event, oldest first.
    pub fn captures(&self, event_id: i64) -> Result<Vec<CaptureRow>, StorageError> {
        let run = || -> rusqlite::Result<Vec<CaptureRow>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT id, event_id, captured_at, \"trigger\", status, duration_ms,
                        sources_json, error
                 FROM forensic_captures WHERE event_id = ?1 ORDER BY captured_at, id",
            )?;
            let rows = stmt.query_map([event_id], capture_row)?;
            rows.collect()
        };
        run().map_err(|e| self.err(e))
    }

    /// The frozen ring buffer stored for a capture, if any.
    pub(crate) fn buffer_context(
        &self,
        capture_id: i64,
    ) -> Result<Option<BufferContextRow>, StorageError> {
        self.conn
            .query_row(
                "SELECT id, capture_id, frozen_json, culprits_json FROM buffer_context
                 WHERE capture_id = ?1 ORDER BY id LIMIT 1",
                [capture_id],
                |r| {
                    Ok(BufferContextRow {
                        id: r.get(0)?,
                        capture_id: r.get(1)?,
                        frozen: get_json(r, 2)?,
                        culprits: get_json_opt(r, 3)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// What a capture gathered: threads (each with its frame tree), logs in
    /// time order, pressure and system snapshots. Empty for a capture that
    /// stored nothing (or does not exist).
    pub(crate) fn capture_data(&self, capture_id: i64) -> Result<CaptureData, StorageError> {
        let run = || -> rusqlite::Result<CaptureData> {
            let mut data = CaptureData::default();
            let mut thread_ids: Vec<i64> = Vec::new();
            let mut stmt = self.conn.prepare_cached(
                "SELECT id, pid, tid, name, state, wchan, cpu_time, samples, priority, kernel_stack
                 FROM forensic_threads WHERE capture_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([capture_id], |r| {
                let samples: Option<i64> = r.get(7)?;
                Ok((
                    r.get::<_, i64>(0)?,
                    ThreadRecord {
                        pid: r.get(1)?,
                        tid: get_u64(r, 2)?,
                        name: r.get(3)?,
                        state: r.get(4)?,
                        wchan: r.get(5)?,
                        cpu_time: r.get(6)?,
                        samples: samples.and_then(|v| u64::try_from(v).ok()),
                        priority: r.get(8)?,
                        kernel_stack: get_json_opt(r, 9)?,
                        frames: Vec::new(),
                    },
                ))
            })?;
            for row in rows {
                let (id, t) = row?;
                thread_ids.push(id);
                data.threads.push(t);
            }
            let mut stmt = self.conn.prepare_cached(
                "SELECT id, thread_id, parent_id, depth, kernel, symbol, module, \"offset\",
                        address, samples, state
                 FROM forensic_frames WHERE capture_id = ?1 ORDER BY id",
            )?;
            // Frame row id → (thread index, frame index), for the parent links.
            let mut index: std::collections::HashMap<i64, (usize, usize)> =
                std::collections::HashMap::new();
            let rows = stmt.query_map([capture_id], |r| {
                let opt_u64 = |i: usize| -> rusqlite::Result<Option<u64>> {
                    Ok(r.get::<_, Option<i64>>(i)?
                        .and_then(|v| u64::try_from(v).ok()))
                };
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    FrameRecord {
                        parent: None,
                        depth: r.get(3)?,
                        kernel: r.get(4)?,
                        symbol: r.get(5)?,
                        module: r.get(6)?,
                        offset: opt_u64(7)?,
                        // Stored as the same 64 bits (see insert_capture_data).
                        address: r.get::<_, Option<i64>>(8)?.map(|a| a as u64),
                        samples: opt_u64(9)?,
                        state: r.get(10)?,
                    },
                ))
            })?;
            for row in rows {
                let (id, thread_id, parent_id, mut frame) = row?;
                let Some(ti) = thread_ids.iter().position(|&t| t == thread_id) else {
                    continue;
                };
                frame.parent = parent_id
                    .and_then(|p| index.get(&p))
                    .filter(|(pt, _)| *pt == ti)
                    .map(|&(_, fi)| fi);
                let frames = &mut data.threads[ti].frames;
                index.insert(id, (ti, frames.len()));
                frames.push(frame);
            }
            let mut stmt = self.conn.prepare_cached(
                "SELECT source, ts, priority, unit, process, pid, message
                 FROM forensic_logs WHERE capture_id = ?1 ORDER BY ts IS NULL, ts, id",
            )?;
            let rows = stmt.query_map([capture_id], |r| {
                Ok(LogRecord {
                    source: r.get(0)?,
                    ts: r.get(1)?,
                    priority: r.get(2)?,
                    unit: r.get(3)?,
                    process: r.get(4)?,
                    pid: r.get(5)?,
                    message: r.get(6)?,
                })
            })?;
            data.logs = rows.collect::<rusqlite::Result<_>>()?;
            let mut stmt = self.conn.prepare_cached(
                "SELECT resource, kind, avg10, avg60, avg300, total
                 FROM forensic_pressure WHERE capture_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([capture_id], |r| {
                let total: Option<i64> = r.get(5)?;
                Ok(PressureRecord {
                    resource: r.get(0)?,
                    kind: r.get(1)?,
                    avg10: r.get(2)?,
                    avg60: r.get(3)?,
                    avg300: r.get(4)?,
                    total: total.and_then(|v| u64::try_from(v).ok()),
                })
            })?;
            data.pressure = rows.collect::<rusqlite::Result<_>>()?;
            let mut stmt = self.conn.prepare_cached(
                "SELECT key, value_json FROM forensic_system WHERE capture_id = ?1 ORDER BY key",
            )?;
            let rows = stmt.query_map([capture_id], |r| {
                Ok((r.get::<_, String>(0)?, get_json::<serde_json::Value>(r, 1)?))
            })?;
            for row in rows {
                let (k, v) = row?;
                data.system.insert(k, v);
            }
            Ok(data)
        };
        run().map_err(|e| self.err(e))
    }

    /// The daemon's self-description from `daemon_state`.
    pub(crate) fn daemon_state(&self) -> Result<DaemonState, StorageError> {
        let get = |key: &str| get_state(&self.conn, key).map_err(|e| self.err(e));
        let parse = |key: &str| -> Result<Option<f64>, StorageError> {
            Ok(get(key)?.and_then(|v| v.parse().ok()))
        };
        Ok(DaemonState {
            pid: get(keys::PID)?.and_then(|v| v.parse().ok()),
            started_at: parse(keys::STARTED_AT)?,
            boot_time: get(keys::BOOT_TIME)?.and_then(|v| v.parse().ok()),
            version: get(keys::VERSION)?,
            sample_count: get(keys::SAMPLE_COUNT)?.and_then(|v| v.parse().ok()),
            last_heartbeat: parse(keys::LAST_HEARTBEAT)?,
            stopped_at: parse(keys::STOPPED_AT)?,
            latest_sample: get(keys::LATEST_SAMPLE)?.and_then(|v| serde_json::from_str(&v).ok()),
            worst_process: get(keys::WORST_PROCESS)?.and_then(|v| serde_json::from_str(&v).ok()),
            stall_detectors: get(keys::STALL_DETECTORS)?,
        })
    }
}
