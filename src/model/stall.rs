//! Stalls: moments when the machine (or the monitor on it) could not make
//! progress — the sampling loop overslept, pressure stalled tasks, a task sat
//! in uninterruptible sleep, or the kernel said a task hung — with who most
//! likely caused it (holders) and who suffered (victims).

use serde::{Deserialize, Serialize};

super::wire_enum! {
    /// What stalled.
    #[derive(PartialOrd, Ord)]
    pub enum StallKind {
        /// The monitor itself could not run: its wake-up came late on the
        /// monotonic clock (suspend subtracted).
        Scheduling,
        /// Tasks stalled on memory (PSI `memory`).
        Memory,
        /// Tasks stalled on I/O (PSI `io`).
        Io,
        /// Tasks waited for a CPU (PSI `cpu`).
        Cpu,
        /// A process stayed in uninterruptible sleep (`D`).
        Stuck,
        /// The kernel reported a hung task.
        HungTask,
        /// The kernel reported a soft or hard lockup.
        Lockup,
        /// The kernel's OOM killer killed a process.
        OomKill,
    }
}

super::wire_enum! {
    /// Why the monitor could not run across a scheduling stall.
    #[derive(PartialOrd, Ord)]
    pub enum StallCause {
        /// Runnable but given no CPU (other work, or a CPU quota throttled it).
        Starved,
        /// Its cgroup's CPU quota throttled it.
        Throttled,
        /// Blocked on memory (page faults, reclaim).
        BlockedMemory,
        /// Blocked on I/O.
        BlockedIo,
        /// Stopped (SIGSTOP, a debugger, a cgroup freezer).
        Stopped,
        /// None of the signals above explains it.
        Unknown,
    }
}

/// One process ranked for a stall: a likely cause (holder) or one that
/// suffered (victim), with what it did or endured in the stall window.
/// Each amount is `None` when it was not measured for this process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StallParty {
    pub pid: u32,
    /// Process start, Unix milliseconds.
    #[serde(alias = "start_time")]
    pub start_time_ms: u64,
    /// Untrusted: escaped whenever printed.
    pub command: String,
    /// CPU time used in the window, seconds.
    #[serde(alias = "cpu_seconds")]
    pub cpu_s: Option<f64>,
    /// Bytes read and written in the window.
    pub disk_bytes: Option<f64>,
    /// Growth of resident memory over the window, bytes (negative: shrank).
    pub resident_growth_bytes: Option<f64>,
    /// Major page faults in the window.
    pub major_faults: Option<f64>,
    /// Time spent runnable but waiting for a CPU, seconds (schedstat).
    #[serde(alias = "run_delay_seconds")]
    pub run_delay_s: Option<f64>,
    /// Time seen in uninterruptible sleep (`D`), seconds.
    #[serde(alias = "blocked_seconds")]
    pub blocked_s: Option<f64>,
}

/// One stall, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stall {
    pub kind: StallKind,
    /// Unix seconds.
    #[serde(alias = "start")]
    pub start_s: f64,
    /// Unix seconds; `None` while it lasts.
    #[serde(alias = "end")]
    pub end_s: Option<f64>,
    /// Seconds stalled (for a scheduling stall: the oversleep beyond the
    /// interval, suspend excluded; for pressure: the span of the run).
    #[serde(alias = "duration_seconds")]
    pub duration_s: f64,
    /// Seconds of suspend inside the window (excluded from the duration).
    #[serde(alias = "suspended_seconds")]
    pub suspended_s: f64,
    /// Scheduling stalls: why the monitor could not run.
    pub cause: Option<StallCause>,
    /// Pressure stalls: `some` or `full`.
    pub pressure_kind: Option<String>,
    /// Pressure stalls: the highest share of one sample interval stalled,
    /// percent.
    pub peak_pressure_pct: Option<f64>,
    /// Pressure stalls: share of the whole stall window stalled, percent.
    pub window_pressure_pct: Option<f64>,
    /// One line: what stalled, how long, the likely cause, who was hurt most.
    pub verdict: String,
    pub holders: Vec<StallParty>,
    pub victims: Vec<StallParty>,
    /// Stuck / kernel-reported stalls: the process concerned.
    pub pid: Option<u32>,
    pub command: Option<String>,
}

/// A recorded stall with its database id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StallRow {
    pub id: i64,
    #[serde(flatten)]
    pub stall: Stall,
    /// Forensic captures taken for this stall.
    pub forensics_count: u64,
}
