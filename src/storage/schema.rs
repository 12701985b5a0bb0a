//! Schema versions and the forward-only migration runner.
//!
//! Owns the DDL. `PRAGMA user_version` records how many migrations a file has had;
//! each migration is one SQL batch applied in the same transaction as the bump.
//! Migrations only ever add: a user's history is never dropped by an upgrade.

use super::Fail;
use rusqlite::{Connection, TransactionBehavior};

/// Marks the file as rogue-hunter's (`PRAGMA application_id`, "RHNT").
pub(crate) const APPLICATION_ID: i64 = 0x5248_4E54;

/// Schema version this build writes and understands (= `MIGRATIONS.len()`).
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Ordered migrations: entry `i` takes a file from version `i` to `i + 1`.
/// Never edit a released entry; append a new one.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5];

/// The oldest schema read-only commands can read (every table they query
/// exists; what a later version added reads as empty).
pub(crate) const MIN_READABLE_VERSION: i64 = 2;

/// Version 1. u64 values are stored as INTEGER (i64); timestamps are REAL Unix
/// seconds except `start_time` and `boot_time`, which are INTEGER Unix
/// milliseconds (identity values, compared exactly).
const V1: &str = "
CREATE TABLE daemon_state (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at REAL NOT NULL
);

CREATE TABLE process_events (
    id                INTEGER PRIMARY KEY,
    pid               INTEGER NOT NULL,
    start_time        INTEGER NOT NULL,
    command           TEXT NOT NULL,
    boot_time         INTEGER NOT NULL,
    entry_time        REAL NOT NULL,
    exit_time         REAL,
    entry_band        TEXT NOT NULL,
    peak_band         TEXT NOT NULL,
    peak_score        REAL NOT NULL,
    peak_time         REAL NOT NULL,
    dominant_resource TEXT NOT NULL,
    close_reason      TEXT
);
CREATE INDEX process_events_entry_time ON process_events(entry_time);
CREATE INDEX process_events_exit_time ON process_events(exit_time);
CREATE INDEX process_events_identity ON process_events(pid, start_time);

CREATE TABLE process_snapshots (
    id                INTEGER PRIMARY KEY,
    event_id          INTEGER NOT NULL REFERENCES process_events(id) ON DELETE CASCADE,
    snapshot_type     TEXT NOT NULL
                      CHECK (snapshot_type IN ('entry', 'peak', 'checkpoint', 'exit')),
    captured_at       REAL NOT NULL,
    score             REAL NOT NULL,
    band              TEXT NOT NULL,
    cpu               REAL,
    mem               REAL,
    disk_io_rate      REAL,
    wakeups_rate      REAL,
    dominant_resource TEXT NOT NULL,
    process_json      TEXT NOT NULL
);
CREATE INDEX process_snapshots_event ON process_snapshots(event_id, captured_at);
CREATE INDEX process_snapshots_captured_at ON process_snapshots(captured_at);

CREATE TABLE forensic_captures (
    id           INTEGER PRIMARY KEY,
    event_id     INTEGER NOT NULL REFERENCES process_events(id) ON DELETE CASCADE,
    captured_at  REAL NOT NULL,
    \"trigger\"  TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'complete', 'partial', 'failed')),
    duration_ms  REAL,
    sources_json TEXT,
    error        TEXT
);
CREATE INDEX forensic_captures_event ON forensic_captures(event_id);

CREATE TABLE buffer_context (
    id            INTEGER PRIMARY KEY,
    capture_id    INTEGER NOT NULL REFERENCES forensic_captures(id) ON DELETE CASCADE,
    frozen_json   TEXT NOT NULL,
    culprits_json TEXT
);
CREATE INDEX buffer_context_capture ON buffer_context(capture_id);
";

/// Version 2: what forensic captures gathered, normalised. Every table hangs
/// off `forensic_captures` with ON DELETE CASCADE, so pruning an event removes
/// its captures' threads, frames, logs, pressure and system snapshots too.
/// Frames form a tree per thread through `parent_id`.
const V2: &str = "
CREATE TABLE forensic_threads (
    id           INTEGER PRIMARY KEY,
    capture_id   INTEGER NOT NULL REFERENCES forensic_captures(id) ON DELETE CASCADE,
    pid          INTEGER,
    tid          INTEGER NOT NULL,
    name         TEXT,
    state        TEXT,
    wchan        TEXT,
    cpu_time     REAL,
    samples      INTEGER,
    priority     INTEGER,
    kernel_stack TEXT
);
CREATE INDEX forensic_threads_capture ON forensic_threads(capture_id);

CREATE TABLE forensic_frames (
    id         INTEGER PRIMARY KEY,
    capture_id INTEGER NOT NULL REFERENCES forensic_captures(id) ON DELETE CASCADE,
    thread_id  INTEGER NOT NULL REFERENCES forensic_threads(id) ON DELETE CASCADE,
    parent_id  INTEGER REFERENCES forensic_frames(id) ON DELETE CASCADE,
    depth      INTEGER NOT NULL,
    kernel     INTEGER NOT NULL DEFAULT 0,
    symbol     TEXT,
    module     TEXT,
    \"offset\"   INTEGER,
    address    INTEGER,
    samples    INTEGER,
    state      TEXT
);
CREATE INDEX forensic_frames_capture ON forensic_frames(capture_id);
CREATE INDEX forensic_frames_thread ON forensic_frames(thread_id);
CREATE INDEX forensic_frames_parent ON forensic_frames(parent_id);

CREATE TABLE forensic_logs (
    id         INTEGER PRIMARY KEY,
    capture_id INTEGER NOT NULL REFERENCES forensic_captures(id) ON DELETE CASCADE,
    source     TEXT NOT NULL,
    ts         REAL,
    priority   INTEGER,
    unit       TEXT,
    process    TEXT,
    pid        INTEGER,
    message    TEXT NOT NULL
);
CREATE INDEX forensic_logs_capture ON forensic_logs(capture_id, ts);

CREATE TABLE forensic_pressure (
    id         INTEGER PRIMARY KEY,
    capture_id INTEGER NOT NULL REFERENCES forensic_captures(id) ON DELETE CASCADE,
    resource   TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('some', 'full')),
    avg10      REAL,
    avg60      REAL,
    avg300     REAL,
    total      INTEGER
);
CREATE INDEX forensic_pressure_capture ON forensic_pressure(capture_id);

CREATE TABLE forensic_system (
    id         INTEGER PRIMARY KEY,
    capture_id INTEGER NOT NULL REFERENCES forensic_captures(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value_json TEXT NOT NULL,
    UNIQUE (capture_id, key)
);
";

/// Version 3: stalls. A capture belongs to an event or to a stall, so
/// `forensic_captures` is rebuilt with both links nullable (the runner turns
/// foreign keys off around a migration; every child table refers to it by
/// name, so the rebuilt table takes the old one's place).
const V3: &str = "
CREATE TABLE stalls (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,
    boot_time       INTEGER NOT NULL,
    start_time      REAL NOT NULL,
    end_time        REAL,
    duration        REAL NOT NULL,
    suspended       REAL NOT NULL DEFAULT 0,
    cause           TEXT,
    pressure_kind   TEXT,
    peak_pressure   REAL,
    window_pressure REAL,
    verdict         TEXT NOT NULL,
    pid             INTEGER,
    command         TEXT,
    holders_json    TEXT NOT NULL,
    victims_json    TEXT NOT NULL
);
CREATE INDEX stalls_start_time ON stalls(start_time);

CREATE TABLE forensic_captures_v3 (
    id           INTEGER PRIMARY KEY,
    event_id     INTEGER REFERENCES process_events(id) ON DELETE CASCADE,
    stall_id     INTEGER REFERENCES stalls(id) ON DELETE CASCADE,
    captured_at  REAL NOT NULL,
    \"trigger\"  TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'complete', 'partial', 'failed')),
    duration_ms  REAL,
    sources_json TEXT,
    error        TEXT,
    CHECK (event_id IS NOT NULL OR stall_id IS NOT NULL)
);
INSERT INTO forensic_captures_v3
    (id, event_id, stall_id, captured_at, \"trigger\", status, duration_ms, sources_json, error)
    SELECT id, event_id, NULL, captured_at, \"trigger\", status, duration_ms, sources_json, error
    FROM forensic_captures;
DROP TABLE forensic_captures;
ALTER TABLE forensic_captures_v3 RENAME TO forensic_captures;
CREATE INDEX forensic_captures_event ON forensic_captures(event_id);
CREATE INDEX forensic_captures_stall ON forensic_captures(stall_id);
";

/// Version 4: the continuous recording. One row per block of recorded
/// seconds (`crate::history`): `data` is the compressed block in encoding
/// `encoding`; the open block is rewritten in place (same `start_time`) as it
/// grows. Retention deletes whole blocks by `end_time`.
const V4: &str = "
CREATE TABLE history_blocks (
    id         INTEGER PRIMARY KEY,
    start_time REAL NOT NULL UNIQUE,
    end_time   REAL NOT NULL,
    frames     INTEGER NOT NULL,
    encoding   INTEGER NOT NULL,
    data       BLOB NOT NULL
);
CREATE INDEX history_blocks_end_time ON history_blocks(end_time);
";

/// Version 5: events for groups. An event is about a process (`subject_kind`
/// 'process', every older row) or a group ('tree', 'cgroup', 'app') named by
/// `group_key`, with its top members (`members_json`, as of its peak); a
/// group event's snapshots keep the group (`group_json`) beside its top
/// member (`process_json`).
const V5: &str = "
ALTER TABLE process_events ADD COLUMN subject_kind TEXT NOT NULL DEFAULT 'process'
    CHECK (subject_kind IN ('process', 'tree', 'cgroup', 'app'));
ALTER TABLE process_events ADD COLUMN group_key TEXT;
ALTER TABLE process_events ADD COLUMN members_json TEXT;
ALTER TABLE process_snapshots ADD COLUMN group_json TEXT;
";

pub(crate) fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// A SQLite error for the log, without the statement text (a migration's
/// SQL is long and says nothing about the file).
fn without_sql(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqlInputError { error, msg, .. } => format!("{msg} ({error})"),
        other => other.to_string(),
    }
}

/// Bring the file up to `migrations.len()`, each step in the same IMMEDIATE
/// transaction as the version bump, so a crash leaves the old version intact.
pub(crate) fn migrate(conn: &mut Connection, migrations: &[&str]) -> Result<(), Fail> {
    let target = migrations.len() as i64;
    if user_version(conn)? == target {
        return Ok(());
    }
    // Rebuilding a table needs foreign keys off, and the pragma is a no-op
    // inside a transaction; the check below runs before the commit instead.
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let result = migrate_locked(conn, migrations, target);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    result
}

fn migrate_locked(conn: &mut Connection, migrations: &[&str], target: i64) -> Result<(), Fail> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Re-read under the write lock: another process may have migrated already.
    let found = user_version(&tx)?;
    if found > target {
        return Err(Fail::Newer {
            found,
            supported: target,
        });
    }
    for (index, sql) in migrations.iter().enumerate().skip(found.max(0) as usize) {
        tx.execute_batch(sql).inspect_err(|e| {
            tracing::error!(
                migration = index + 1,
                error = %without_sql(e),
                "schema migration failed"
            );
        })?;
    }
    let orphans: i64 = tx.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
        r.get(0)
    })?;
    if orphans > 0 {
        return Err(Fail::Invalid(format!(
            "migration to version {target} would leave {orphans} rows pointing at missing parents"
        )));
    }
    if found == 0 {
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    }
    tx.pragma_update(None, "user_version", target)?;
    tx.commit()?;
    if found > 0 {
        tracing::info!(from = found, to = target, "database schema upgraded");
    }
    Ok(())
}
