//! What a forensic capture gathered, as plain serde data: threads (with kernel
//! stacks and frame trees), log entries, pressure and system snapshots, and the
//! per-source outcomes. Storage writes and reads exactly these shapes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a capture belongs to, by the daemon's keys (the writer maps them to
/// row ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureOwner {
    /// The tracker's event id.
    Event(u64),
    /// The stall detector's stall key.
    Stall(u64),
}

/// Everything a capture gathered besides the frozen ring buffer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaptureData {
    pub threads: Vec<ThreadRecord>,
    pub logs: Vec<LogRecord>,
    pub pressure: Vec<PressureRecord>,
    /// Named snapshots (`loadavg`, `meminfo`, `vmstat_delta`, `process.status`,
    /// `spindump.header`, ...), each a JSON value.
    pub system: BTreeMap<String, serde_json::Value>,
}

impl CaptureData {
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
            && self.logs.is_empty()
            && self.pressure.is_empty()
            && self.system.is_empty()
    }

    /// Append another fragment's records.
    pub fn merge(&mut self, other: CaptureData) {
        self.threads.extend(other.threads);
        self.logs.extend(other.logs);
        self.pressure.extend(other.pressure);
        self.system.extend(other.system);
    }
}

/// One thread of the culprit (or, on macOS, of a process in the report).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreadRecord {
    /// Process the thread belongs to.
    pub pid: Option<u32>,
    /// Linux thread id; macOS thread id (the `0x...` of spindump).
    pub tid: u64,
    /// Untrusted: escaped whenever printed.
    pub name: Option<String>,
    /// Normalised state (`running`, `sleeping`, `disk_sleep`, ...) or, on macOS,
    /// the state spindump reports for the thread's leaf frame.
    pub state: Option<String>,
    /// Kernel function the thread sleeps in (Linux `wchan`).
    pub wchan: Option<String>,
    /// User + system CPU time, seconds (`cpu_time_s` on the wire; older
    /// captures say `cpu_time`).
    #[serde(rename = "cpu_time_s", alias = "cpu_time")]
    pub cpu_time: Option<f64>,
    /// Samples the thread appeared in (macOS spindump).
    pub samples: Option<u64>,
    pub priority: Option<i64>,
    /// Kernel stack, innermost first (Linux `/proc/PID/task/TID/stack`);
    /// `None` when it could not be read.
    pub kernel_stack: Option<Vec<String>>,
    /// Stack frames as a tree in pre-order (macOS spindump, user-space stacks).
    pub frames: Vec<FrameRecord>,
}

/// One stack frame. Frames form a tree: `parent` indexes the same thread's
/// `frames` (always an earlier entry); roots have none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameRecord {
    pub parent: Option<usize>,
    /// 0 for a root (outermost) frame.
    pub depth: u32,
    /// A kernel frame (`*` in spindump).
    pub kernel: bool,
    pub symbol: Option<String>,
    /// Library / image / module.
    pub module: Option<String>,
    /// Offset into the symbol (or into the module when there is no symbol).
    pub offset: Option<u64>,
    pub address: Option<u64>,
    /// Samples that went through this frame.
    pub samples: Option<u64>,
    /// Spindump's leaf state, e.g. `running` or `blocked by wait4 on make [123]`.
    pub state: Option<String>,
}

/// One log line around the trigger.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// `kernel`, `journal` or `oslog`.
    pub source: String,
    /// Unix seconds (`ts_s` on the wire; older captures say `ts`).
    #[serde(rename = "ts_s", alias = "ts")]
    pub ts: Option<f64>,
    /// Syslog priority 0 (emerg) .. 7 (debug).
    pub priority: Option<u8>,
    /// systemd unit or macOS subsystem.
    pub unit: Option<String>,
    /// Process name or image.
    pub process: Option<String>,
    pub pid: Option<u32>,
    /// Untrusted: escaped whenever printed.
    pub message: String,
}

/// Pressure stall information for one resource and kind (`some`/`full`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PressureRecord {
    /// `cpu`, `memory` or `io`.
    pub resource: String,
    /// `some` or `full`.
    pub kind: String,
    pub avg10: Option<f64>,
    pub avg60: Option<f64>,
    pub avg300: Option<f64>,
    /// Microseconds stalled since boot (`total_us` on the wire; older
    /// captures say `total`).
    #[serde(rename = "total_us", alias = "total")]
    pub total: Option<u64>,
}

super::wire_enum! {
    /// How one source went.
    pub enum SourceStatus {
        Ok,
        /// Permission denied.
        Denied,
        /// The tool or file does not exist here.
        Missing,
        Timeout,
        Error,
    }
}

/// What one source got, or why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceOutcome {
    pub status: SourceStatus,
    /// What was read (counts, tool used) or why it failed.
    pub detail: String,
    /// Bytes read from the source.
    pub bytes: u64,
}

impl SourceOutcome {
    pub fn ok(detail: impl Into<String>, bytes: u64) -> SourceOutcome {
        SourceOutcome {
            status: SourceStatus::Ok,
            detail: detail.into(),
            bytes,
        }
    }

    pub fn fail(status: SourceStatus, detail: impl Into<String>) -> SourceOutcome {
        SourceOutcome {
            status,
            detail: detail.into(),
            bytes: 0,
        }
    }

    /// An I/O error mapped to denied / missing / error.
    pub fn from_io(what: &str, e: &std::io::Error) -> SourceOutcome {
        SourceOutcome::fail(io_status(e), format!("{what}: {e}"))
    }
}

/// The source status an I/O error means.
pub fn io_status(e: &std::io::Error) -> SourceStatus {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => SourceStatus::Denied,
        std::io::ErrorKind::NotFound => SourceStatus::Missing,
        _ if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES)) => SourceStatus::Denied,
        _ => SourceStatus::Error,
    }
}

/// Per-source outcomes of one capture, by source name.
pub type Sources = BTreeMap<String, SourceOutcome>;
