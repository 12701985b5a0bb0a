//! The `daemon_state` key/value table: what the daemon says about itself
//! (pid, start, heartbeat, latest sample) for `status`.

use super::Fail;
use rusqlite::{Connection, OptionalExtension, params};

/// Keys of the `daemon_state` table.
pub(crate) mod keys {
    /// Daemon process id (text).
    pub(crate) const PID: &str = "pid";
    /// Unix seconds the daemon started.
    pub(crate) const STARTED_AT: &str = "started_at";
    /// Boot time of the machine the daemon runs on, Unix milliseconds.
    pub(crate) const BOOT_TIME: &str = "boot_time";
    /// rogue-hunter version of the running daemon.
    pub(crate) const VERSION: &str = "version";
    /// Samples taken since the daemon started.
    pub(crate) const SAMPLE_COUNT: &str = "sample_count";
    /// Unix seconds of the latest recorded sample.
    pub(crate) const LAST_HEARTBEAT: &str = "last_heartbeat";
    /// Unix seconds the daemon stopped cleanly (absent while it runs).
    pub(crate) const STOPPED_AT: &str = "stopped_at";
    /// The latest `ProcessSamples`, JSON.
    pub(crate) const LATEST_SAMPLE: &str = "latest_sample";
    /// What the stall detectors watch on this machine (one line).
    pub(crate) const STALL_DETECTORS: &str = "stall_detectors";
    /// The worst process of the latest sample, `ProcessScore` JSON.
    pub(crate) const WORST_PROCESS: &str = "worst_process";
}

pub(crate) fn set_state(conn: &Connection, key: &str, value: &str) -> Result<(), Fail> {
    conn.prepare_cached(
        "INSERT INTO daemon_state (key, value, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )?
    .execute(params![key, value, crate::unix_now()])?;
    Ok(())
}

pub(crate) fn delete_state(conn: &Connection, key: &str) -> Result<(), Fail> {
    conn.prepare_cached("DELETE FROM daemon_state WHERE key = ?1")?
        .execute([key])?;
    Ok(())
}

pub(crate) fn get_state(conn: &Connection, key: &str) -> Result<Option<String>, Fail> {
    Ok(conn
        .prepare_cached("SELECT value FROM daemon_state WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}
