//! The write side: inserts and updates of events, snapshots, captures and daemon
//! state. Owns the INSERT/UPDATE/DELETE SQL.
//!
//! The free functions run on any connection or open transaction (the writer
//! thread calls them inside its batch); the `Store` methods wrap each in a
//! transaction of its own.

use super::state::{delete_state, keys, set_state};
use super::{Fail, PruneCounts, StorageError, Store, to_i64};
use crate::model::{
    Band, CaptureData, CaptureStatus, CloseReason, GroupScore, GroupSubject, ProcessSamples,
    ProcessScore, Resource, SnapshotType, Stall, SubjectKind,
};

/// What a snapshot or event row records as the subject's numbers: the
/// group's for a group's event, else the process's.
fn verdict(p: &ProcessScore, group: Option<&GroupScore>) -> (f64, Band, Resource) {
    match group {
        Some(g) => (g.score, g.band, g.dominant_resource),
        None => (p.score, p.band, p.dominant_resource),
    }
}
use rusqlite::{Connection, TransactionBehavior, params};

/// A foreign-key failure on insert means the parent row is not there.
fn missing_parent(e: rusqlite::Error, what: &'static str, id: i64) -> Fail {
    match e.sqlite_error() {
        Some(err) if err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
            Fail::NotFound { what, id }
        }
        _ => Fail::Sql(e),
    }
}

pub(crate) fn record_daemon_start(
    conn: &Connection,
    pid: u32,
    started_at: f64,
    boot_time: u64,
    version: &str,
) -> Result<(), Fail> {
    set_state(conn, keys::PID, &pid.to_string())?;
    set_state(conn, keys::STARTED_AT, &started_at.to_string())?;
    set_state(conn, keys::BOOT_TIME, &boot_time.to_string())?;
    set_state(conn, keys::VERSION, version)?;
    set_state(conn, keys::SAMPLE_COUNT, "0")?;
    set_state(conn, keys::LAST_HEARTBEAT, &started_at.to_string())?;
    // What the previous run left describes a machine that has moved on.
    for key in [keys::STOPPED_AT, keys::LATEST_SAMPLE, keys::WORST_PROCESS] {
        delete_state(conn, key)?;
    }
    Ok(())
}

pub(crate) fn record_daemon_stop(conn: &Connection, stopped_at: f64) -> Result<(), Fail> {
    set_state(conn, keys::STOPPED_AT, &stopped_at.to_string())
}

pub(crate) fn record_sample(
    conn: &Connection,
    samples: &ProcessSamples,
    sample_count: u64,
) -> Result<(), Fail> {
    set_state(conn, keys::LATEST_SAMPLE, &serde_json::to_string(samples)?)?;
    match samples.rogues.first() {
        Some(worst) => set_state(conn, keys::WORST_PROCESS, &serde_json::to_string(worst)?)?,
        None => delete_state(conn, keys::WORST_PROCESS)?,
    }
    set_state(conn, keys::SAMPLE_COUNT, &sample_count.to_string())?;
    set_state(conn, keys::LAST_HEARTBEAT, &samples.timestamp_s.to_string())?;
    Ok(())
}

/// Insert an event row with its entry snapshot. `id`: the row id the daemon
/// allocated (so its log lines and live stream name the row), or `None` for
/// SQLite's next one. Returns the id.
/// A group's event (`group`) records the group's kind, key, name (as its
/// command), score and members; `p` is then its top member.
pub(crate) fn open_event(
    conn: &Connection,
    id: Option<i64>,
    p: &ProcessScore,
    group: Option<&GroupSubject>,
    boot_time: u64,
    entry_time: f64,
) -> Result<i64, Fail> {
    let g = group.map(|s| &s.group);
    let (score, band, dominant) = verdict(p, g);
    let kind = g.map_or(SubjectKind::Process, |g| g.kind.into());
    let members = group
        .map(|s| serde_json::to_string(&s.members))
        .transpose()?;
    conn.prepare_cached(
        "INSERT INTO process_events
           (id, pid, start_time, command, boot_time, entry_time, entry_band, peak_band,
            peak_score, peak_time, dominant_resource, subject_kind, group_key, members_json)
         VALUES (?10, ?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?11, ?12, ?13)",
    )?
    .execute(params![
        p.pid,
        to_i64(p.start_time_ms)?,
        g.map_or(&p.command, |g| &g.name),
        to_i64(boot_time)?,
        entry_time,
        band.as_str(),
        score,
        p.captured_at_s,
        dominant.as_str(),
        id,
        kind.as_str(),
        g.map(|g| g.key.as_str()),
        members,
    ])?;
    let id = conn.last_insert_rowid();
    add_snapshot(conn, id, SnapshotType::Entry, p, g)?;
    Ok(id)
}

/// With `group` (a group's event) the score, band, dominant resource and
/// metric columns are the group's, and `p` is its top member.
pub(crate) fn add_snapshot(
    conn: &Connection,
    event_id: i64,
    kind: SnapshotType,
    p: &ProcessScore,
    group: Option<&GroupScore>,
) -> Result<i64, Fail> {
    let json = serde_json::to_string(p)?;
    let group_json = group.map(serde_json::to_string).transpose()?;
    let (score, band, dominant) = verdict(p, group);
    let metrics = match group {
        Some(g) => [
            g.metrics.cpu,
            g.metrics.mem,
            g.metrics.disk_io_rate,
            g.metrics.wakeups_rate,
        ],
        None => [
            ProcessScore::current(&p.cpu),
            ProcessScore::current(&p.mem),
            ProcessScore::current(&p.disk_io_rate),
            ProcessScore::current(&p.wakeups_rate),
        ],
    };
    conn.prepare_cached(
        "INSERT INTO process_snapshots
           (event_id, snapshot_type, captured_at, score, band, cpu, mem, disk_io_rate,
            wakeups_rate, dominant_resource, process_json, group_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        event_id,
        kind.as_str(),
        p.captured_at_s,
        score,
        band.as_str(),
        metrics[0],
        metrics[1],
        metrics[2],
        metrics[3],
        dominant.as_str(),
        json,
        group_json,
    ])
    .map_err(|e| missing_parent(e, "event", event_id))?;
    Ok(conn.last_insert_rowid())
}

/// A group's peak also records its top members as they are now.
pub(crate) fn update_peak(
    conn: &Connection,
    event_id: i64,
    p: &ProcessScore,
    group: Option<&GroupSubject>,
) -> Result<(), Fail> {
    let g = group.map(|s| &s.group);
    let (score, band, dominant) = verdict(p, g);
    let members = group
        .map(|s| serde_json::to_string(&s.members))
        .transpose()?;
    let changed = conn
        .prepare_cached(
            "UPDATE process_events
             SET peak_score = ?2, peak_band = ?3, peak_time = ?4, dominant_resource = ?5,
                 members_json = COALESCE(?6, members_json)
             WHERE id = ?1",
        )?
        .execute(params![
            event_id,
            score,
            band.as_str(),
            p.captured_at_s,
            dominant.as_str(),
            members,
        ])?;
    if changed == 0 {
        return Err(Fail::NotFound {
            what: "event",
            id: event_id,
        });
    }
    add_snapshot(conn, event_id, SnapshotType::Peak, p, g)?;
    Ok(())
}

pub(crate) fn close_event(
    conn: &Connection,
    event_id: i64,
    exit_time: f64,
    reason: CloseReason,
    exit: Option<&ProcessScore>,
    exit_group: Option<&GroupScore>,
) -> Result<(), Fail> {
    let changed = conn
        .prepare_cached(
            "UPDATE process_events SET exit_time = ?2, close_reason = ?3
             WHERE id = ?1 AND exit_time IS NULL",
        )?
        .execute(params![event_id, exit_time, reason.as_str()])?;
    if changed == 0 {
        return Err(Fail::NotFound {
            what: "open event",
            id: event_id,
        });
    }
    if let Some(p) = exit {
        add_snapshot(conn, event_id, SnapshotType::Exit, p, exit_group)?;
    }
    Ok(())
}

/// The exit time of an event a dead daemon left open: when it was last seen
/// (its newest snapshot), not when the daemon came back; `?1` without one.
const LAST_SEEN: &str = "COALESCE((SELECT MAX(s.captured_at) FROM process_snapshots s
                                  WHERE s.event_id = process_events.id), ?1)";

/// Mark captures a dead daemon left 'pending' as failed (interrupted).
pub(crate) fn fail_pending_captures(conn: &Connection) -> Result<usize, Fail> {
    Ok(conn.execute(
        "UPDATE forensic_captures
         SET status = 'failed',
             error = COALESCE(error, 'interrupted: the daemon stopped before the capture finished')
         WHERE status = 'pending'",
        [],
    )?)
}

pub(crate) fn close_dangling(
    conn: &Connection,
    now: f64,
    reason: CloseReason,
) -> Result<usize, Fail> {
    Ok(conn.execute(
        &format!(
            "UPDATE process_events SET exit_time = {LAST_SEEN}, close_reason = ?2
             WHERE exit_time IS NULL"
        ),
        params![now, reason.as_str()],
    )?)
}

pub(crate) fn close_dangling_for_boot(
    conn: &Connection,
    now: f64,
    current_boot_time: u64,
) -> Result<usize, Fail> {
    let boot = to_i64(current_boot_time)?;
    Ok(conn.execute(
        &format!(
            "UPDATE process_events
             SET exit_time = {LAST_SEEN},
                 close_reason = CASE WHEN boot_time = ?2 THEN ?3 ELSE ?4 END
             WHERE exit_time IS NULL"
        ),
        params![
            now,
            boot,
            CloseReason::DaemonRestart.as_str(),
            CloseReason::Reboot.as_str()
        ],
    )?)
}

pub(crate) fn insert_capture(
    conn: &Connection,
    event_id: i64,
    captured_at: f64,
    trigger: &str,
) -> Result<i64, Fail> {
    conn.prepare_cached(
        "INSERT INTO forensic_captures (event_id, captured_at, \"trigger\", status)
         VALUES (?1, ?2, ?3, 'pending')",
    )?
    .execute(params![event_id, captured_at, trigger])
    .map_err(|e| missing_parent(e, "event", event_id))?;
    Ok(conn.last_insert_rowid())
}

/// Start a capture ('pending') that belongs to a stall.
pub(crate) fn insert_stall_capture(
    conn: &Connection,
    stall_id: i64,
    captured_at: f64,
    trigger: &str,
) -> Result<i64, Fail> {
    conn.prepare_cached(
        "INSERT INTO forensic_captures (stall_id, captured_at, \"trigger\", status)
         VALUES (?1, ?2, ?3, 'pending')",
    )?
    .execute(params![stall_id, captured_at, trigger])
    .map_err(|e| missing_parent(e, "stall", stall_id))?;
    Ok(conn.last_insert_rowid())
}

/// Insert a stall (open or already over); returns its row id.
pub(crate) fn insert_stall(conn: &Connection, stall: &Stall, boot_time: u64) -> Result<i64, Fail> {
    conn.prepare_cached(
        "INSERT INTO stalls (kind, boot_time, start_time, end_time, duration, suspended, cause,
             pressure_kind, peak_pressure, window_pressure, verdict, pid, command,
             holders_json, victims_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        stall.kind.as_str(),
        to_i64(boot_time)?,
        stall.start_s,
        stall.end_s,
        stall.duration_s,
        stall.suspended_s,
        stall.cause.map(|c| c.as_str()),
        stall.pressure_kind,
        stall.peak_pressure_pct,
        stall.window_pressure_pct,
        stall.verdict,
        stall.pid,
        stall.command,
        serde_json::to_string(&stall.holders)?,
        serde_json::to_string(&stall.victims)?,
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Replace a stall's numbers, verdict and parties (its end, usually).
pub(crate) fn update_stall(conn: &Connection, id: i64, stall: &Stall) -> Result<(), Fail> {
    let n = conn
        .prepare_cached(
            "UPDATE stalls SET end_time = ?2, duration = ?3, suspended = ?4, cause = ?5,
                 pressure_kind = ?6, peak_pressure = ?7, window_pressure = ?8, verdict = ?9,
                 holders_json = ?10, victims_json = ?11
             WHERE id = ?1",
        )?
        .execute(params![
            id,
            stall.end_s,
            stall.duration_s,
            stall.suspended_s,
            stall.cause.map(|c| c.as_str()),
            stall.pressure_kind,
            stall.peak_pressure_pct,
            stall.window_pressure_pct,
            stall.verdict,
            serde_json::to_string(&stall.holders)?,
            serde_json::to_string(&stall.victims)?,
        ])?;
    if n == 0 {
        return Err(Fail::NotFound { what: "stall", id });
    }
    Ok(())
}

/// Stalls left open by a daemon that died: they end at their last known
/// moment (start + duration so far).
pub(crate) fn close_dangling_stalls(conn: &Connection) -> Result<usize, Fail> {
    Ok(conn.execute(
        "UPDATE stalls SET end_time = start_time + duration WHERE end_time IS NULL",
        [],
    )?)
}

pub(crate) fn finish_capture(
    conn: &Connection,
    capture_id: i64,
    status: CaptureStatus,
    duration_ms: Option<f64>,
    sources: Option<&serde_json::Value>,
    error: Option<&str>,
) -> Result<(), Fail> {
    let sources = sources.map(serde_json::to_string).transpose()?;
    let changed = conn
        .prepare_cached(
            "UPDATE forensic_captures
             SET status = ?2, duration_ms = ?3, sources_json = ?4, error = ?5
             WHERE id = ?1",
        )?
        .execute(params![
            capture_id,
            status.as_str(),
            duration_ms,
            sources,
            error
        ])?;
    if changed == 0 {
        return Err(Fail::NotFound {
            what: "forensic capture",
            id: capture_id,
        });
    }
    Ok(())
}

pub(crate) fn insert_buffer_context(
    conn: &Connection,
    capture_id: i64,
    frozen: &[ProcessSamples],
    culprits: Option<&serde_json::Value>,
) -> Result<i64, Fail> {
    let frozen = serde_json::to_string(frozen)?;
    let culprits = culprits.map(serde_json::to_string).transpose()?;
    conn.prepare_cached(
        "INSERT INTO buffer_context (capture_id, frozen_json, culprits_json) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![capture_id, frozen, culprits])
    .map_err(|e| missing_parent(e, "forensic capture", capture_id))?;
    Ok(conn.last_insert_rowid())
}

/// Store what a capture gathered: threads with their frame trees, log
/// entries, pressure and system snapshots.
pub(crate) fn insert_capture_data(
    conn: &Connection,
    capture_id: i64,
    data: &CaptureData,
) -> Result<(), Fail> {
    let exists: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM forensic_captures WHERE id = ?1")?
        .query_row([capture_id], |r| r.get(0))?;
    if exists == 0 {
        return Err(Fail::NotFound {
            what: "forensic capture",
            id: capture_id,
        });
    }
    let opt_i64 = |v: Option<u64>| v.map(to_i64).transpose();
    for t in &data.threads {
        let stack = t
            .kernel_stack
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?;
        conn.prepare_cached(
            "INSERT INTO forensic_threads
               (capture_id, pid, tid, name, state, wchan, cpu_time, samples, priority,
                kernel_stack)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            capture_id,
            t.pid,
            to_i64(t.tid)?,
            t.name,
            t.state,
            t.wchan,
            t.cpu_time,
            opt_i64(t.samples)?,
            t.priority,
            stack,
        ])?;
        let thread_id = conn.last_insert_rowid();
        // Row ids of this thread's frames, by index, for the parent links.
        let mut ids: Vec<i64> = Vec::with_capacity(t.frames.len());
        for (i, f) in t.frames.iter().enumerate() {
            let parent = match f.parent {
                Some(p) if p < i => Some(ids[p]),
                Some(p) => {
                    return Err(Fail::Invalid(format!(
                        "frame {i} of thread {} names parent {p}, not an earlier frame",
                        t.tid
                    )));
                }
                None => None,
            };
            conn.prepare_cached(
                "INSERT INTO forensic_frames
                   (capture_id, thread_id, parent_id, depth, kernel, symbol, module, \"offset\",
                    address, samples, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                capture_id,
                thread_id,
                parent,
                f.depth,
                f.kernel,
                f.symbol,
                f.module,
                opt_i64(f.offset)?,
                // Addresses use all 64 bits (kernel ones are above i64::MAX):
                // stored as the same bits, read back the same way.
                f.address.map(|a| a as i64),
                opt_i64(f.samples)?,
                f.state,
            ])?;
            ids.push(conn.last_insert_rowid());
        }
    }
    for l in &data.logs {
        conn.prepare_cached(
            "INSERT INTO forensic_logs (capture_id, source, ts, priority, unit, process, pid, message)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            capture_id, l.source, l.ts, l.priority, l.unit, l.process, l.pid, l.message
        ])?;
    }
    for p in &data.pressure {
        conn.prepare_cached(
            "INSERT INTO forensic_pressure (capture_id, resource, kind, avg10, avg60, avg300, total)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            capture_id,
            p.resource,
            p.kind,
            p.avg10,
            p.avg60,
            p.avg300,
            opt_i64(p.total)?,
        ])?;
    }
    for (key, value) in &data.system {
        conn.prepare_cached(
            "INSERT INTO forensic_system (capture_id, key, value_json) VALUES (?1, ?2, ?3)
             ON CONFLICT(capture_id, key) DO UPDATE SET value_json = excluded.value_json",
        )?
        .execute(params![capture_id, key, serde_json::to_string(value)?])?;
    }
    Ok(())
}

/// The WHERE clause of everything `prune` removes.
const PRUNABLE: &str = "exit_time IS NOT NULL AND exit_time < ?1";
const STALL_PRUNABLE: &str = "end_time IS NOT NULL AND end_time < ?1";

pub(crate) fn prune_counts(conn: &Connection, older_than: f64) -> Result<PruneCounts, Fail> {
    let count = |sql: &str| -> Result<u64, Fail> {
        let n: i64 = conn.query_row(sql, [older_than], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    };
    Ok(PruneCounts {
        events: count(&format!(
            "SELECT COUNT(*) FROM process_events WHERE {PRUNABLE}"
        ))?,
        snapshots: count(&format!(
            "SELECT COUNT(*) FROM process_snapshots WHERE event_id IN
               (SELECT id FROM process_events WHERE {PRUNABLE})"
        ))?,
        captures: count(&format!(
            "SELECT COUNT(*) FROM forensic_captures WHERE event_id IN
               (SELECT id FROM process_events WHERE {PRUNABLE})
             OR stall_id IN (SELECT id FROM stalls WHERE {STALL_PRUNABLE})"
        ))?,
        stalls: count(&format!(
            "SELECT COUNT(*) FROM stalls WHERE {STALL_PRUNABLE}"
        ))?,
    })
}

pub(crate) fn prune(conn: &Connection, older_than: f64) -> Result<PruneCounts, Fail> {
    let counts = prune_counts(conn, older_than)?;
    conn.execute(
        &format!("DELETE FROM process_events WHERE {PRUNABLE}"),
        [older_than],
    )?;
    conn.execute(
        &format!("DELETE FROM stalls WHERE {STALL_PRUNABLE}"),
        [older_than],
    )?;
    Ok(counts)
}

/// The write API for direct use (the CLI's `prune`, daemon start-up, tests).
/// Each method is one transaction. The daemon's steady-state writes go through
/// `Writer` instead, which batches them on its own thread.
impl Store {
    pub(super) fn write<T>(
        &mut self,
        f: impl FnOnce(&Connection) -> Result<T, Fail>,
    ) -> Result<T, StorageError> {
        let path = self.path().to_path_buf();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StorageError::from_sqlite(&path, e))?;
        let value = f(&tx).map_err(|e| e.at(&path))?;
        tx.commit()
            .map_err(|e| StorageError::from_sqlite(&path, e))?;
        Ok(value)
    }

    /// Open an event for `p` and record its entry snapshot. `boot_time` is Unix
    /// milliseconds; `entry_time` Unix seconds. Returns the event id.
    /// Public for the storage bench (its per-transaction reference writer);
    /// the daemon writes through `Writer`.
    pub fn open_event(
        &mut self,
        p: &ProcessScore,
        boot_time: u64,
        entry_time: f64,
    ) -> Result<i64, StorageError> {
        self.write(|c| open_event(c, None, p, None, boot_time, entry_time))
    }

    /// Add a snapshot to an event (open or closed). Returns the snapshot id.
    /// Public for the storage bench, like `open_event`.
    pub fn add_snapshot(
        &mut self,
        event_id: i64,
        kind: SnapshotType,
        p: &ProcessScore,
    ) -> Result<i64, StorageError> {
        self.write(|c| add_snapshot(c, event_id, kind, p, None))
    }

    /// Like `close_dangling`, choosing the reason per event: "daemon_restart"
    /// for events of the current boot, "reboot" for events of earlier boots.
    pub(crate) fn close_dangling_for_boot(
        &mut self,
        now: f64,
        current_boot_time: u64,
    ) -> Result<usize, StorageError> {
        self.write(|c| close_dangling_for_boot(c, now, current_boot_time))
    }

    /// Mark forensic captures a dead daemon left 'pending' as failed
    /// (interrupted) (start-up). Returns how many.
    pub fn fail_pending_captures(&mut self) -> Result<usize, StorageError> {
        self.write(fail_pending_captures)
    }

    /// Start a forensic capture for an event (status 'pending'). Returns its
    /// id. (The daemon's captures go through the writer; the integration
    /// tests use this one.)
    pub fn insert_capture(
        &mut self,
        event_id: i64,
        captured_at: f64,
        trigger: &str,
    ) -> Result<i64, StorageError> {
        self.write(|c| insert_capture(c, event_id, captured_at, trigger))
    }

    /// Close stalls a dead daemon left open (start-up). Returns how many.
    pub fn close_dangling_stalls(&mut self) -> Result<usize, StorageError> {
        self.write(close_dangling_stalls)
    }

    /// What `prune(older_than)` would delete, without deleting.
    pub(crate) fn prune_plan(&self, older_than: f64) -> Result<PruneCounts, StorageError> {
        prune_counts(&self.conn, older_than).map_err(|e| self.err(e))
    }

    /// Delete closed events whose exit time is before `older_than` (Unix
    /// seconds), with their snapshots, captures and buffer context, in one
    /// transaction. Open events are never pruned. Returns what went.
    pub(crate) fn prune(&mut self, older_than: f64) -> Result<PruneCounts, StorageError> {
        self.write(|c| prune(c, older_than))
    }
}

/// One-transaction wrappers over the same SQL, for the storage tests: they set
/// up and check single writes. The daemon writes through `Writer`.
#[cfg(test)]
impl Store {
    /// Record a daemon start: pid, start time, boot time (Unix ms), version; the
    /// sample count restarts at 0 and the previous run's latest sample goes.
    pub(crate) fn record_daemon_start(
        &mut self,
        pid: u32,
        started_at: f64,
        boot_time: u64,
        version: &str,
    ) -> Result<(), StorageError> {
        self.write(|c| record_daemon_start(c, pid, started_at, boot_time, version))
    }

    /// Record a clean daemon stop.
    pub(crate) fn record_daemon_stop(&mut self, stopped_at: f64) -> Result<(), StorageError> {
        self.write(|c| record_daemon_stop(c, stopped_at))
    }

    /// Store the latest sample (and its worst process), the sample count and
    /// the heartbeat time (= `samples.timestamp`).
    pub(crate) fn record_sample(
        &mut self,
        samples: &ProcessSamples,
        sample_count: u64,
    ) -> Result<(), StorageError> {
        self.write(|c| record_sample(c, samples, sample_count))
    }

    pub(crate) fn set_state(&mut self, key: &str, value: &str) -> Result<(), StorageError> {
        self.write(|c| set_state(c, key, value))
    }

    pub(crate) fn get_state(&self, key: &str) -> Result<Option<String>, StorageError> {
        super::state::get_state(&self.conn, key).map_err(|e| self.err(e))
    }

    /// Record a new peak: peak score/band/time and dominant resource, plus a
    /// 'peak' snapshot.
    pub(crate) fn update_peak(
        &mut self,
        event_id: i64,
        p: &ProcessScore,
    ) -> Result<(), StorageError> {
        self.write(|c| update_peak(c, event_id, p, None))
    }

    /// Close an open event, with an exit snapshot when `exit` is given.
    /// Closing an event that is already closed (or absent) is `NotFound`.
    pub(crate) fn close_event(
        &mut self,
        event_id: i64,
        exit_time: f64,
        reason: CloseReason,
        exit: Option<&ProcessScore>,
    ) -> Result<(), StorageError> {
        self.write(|c| close_event(c, event_id, exit_time, reason, exit, None))
    }

    /// Close every event still open (left by a crash or a reboot) with
    /// `reason`, at its newest snapshot's time (`now` if it has none). Returns
    /// how many were closed.
    pub(crate) fn close_dangling(
        &mut self,
        now: f64,
        reason: CloseReason,
    ) -> Result<usize, StorageError> {
        self.write(|c| close_dangling(c, now, reason))
    }

    /// Record how a capture ended: status, duration, per-source outcome (JSON)
    /// and an overall error.
    pub(crate) fn finish_capture(
        &mut self,
        capture_id: i64,
        status: CaptureStatus,
        duration_ms: Option<f64>,
        sources: Option<&serde_json::Value>,
        error: Option<&str>,
    ) -> Result<(), StorageError> {
        self.write(|c| finish_capture(c, capture_id, status, duration_ms, sources, error))
    }

    /// Attach the frozen ring buffer (and optionally the culprits) to a capture.
    pub(crate) fn insert_buffer_context(
        &mut self,
        capture_id: i64,
        frozen: &[ProcessSamples],
        culprits: Option<&serde_json::Value>,
    ) -> Result<i64, StorageError> {
        self.write(|c| insert_buffer_context(c, capture_id, frozen, culprits))
    }

    /// Store what a capture gathered (threads, frames, logs, pressure, system).
    pub(crate) fn insert_capture_data(
        &mut self,
        capture_id: i64,
        data: &CaptureData,
    ) -> Result<(), StorageError> {
        self.write(|c| insert_capture_data(c, capture_id, data))
    }

    /// Insert one stall directly (tests, tools); the daemon uses the writer.
    pub(crate) fn insert_stall(
        &mut self,
        stall: &Stall,
        boot_time: u64,
    ) -> Result<i64, StorageError> {
        self.write(|c| insert_stall(c, stall, boot_time))
    }
}
