//! Events: one rogue episode of one process, its snapshots and forensic
//! captures, and the enums that name their moments and outcomes.

use super::process::{Band, ProcessScore, Resource};
use super::{GroupKind, GroupScore};
use serde::{Deserialize, Serialize};

super::wire_enum! {
    /// What an event is about: one process, or a group of one kind.
    #[derive(Default)]
    pub enum SubjectKind {
        #[default]
        Process,
        Tree,
        Cgroup,
        App,
    }
}

impl From<GroupKind> for SubjectKind {
    fn from(kind: GroupKind) -> SubjectKind {
        match kind {
            GroupKind::Tree => SubjectKind::Tree,
            GroupKind::Cgroup => SubjectKind::Cgroup,
            GroupKind::App => SubjectKind::App,
        }
    }
}

/// One of a group event's top members, as sampled with the group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMember {
    pub pid: u32,
    /// Process start, Unix milliseconds (with `pid`, the identity).
    #[serde(alias = "start_time")]
    pub start_time_ms: u64,
    /// Untrusted: escaped where shown.
    pub command: String,
    /// The member's own score.
    pub score: f64,
}

/// A group's event at one moment: the group and its top members, worst first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSubject {
    pub group: GroupScore,
    pub members: Vec<EventMember>,
}

super::wire_enum! {
    /// Which moment of an event a snapshot records.
    pub enum SnapshotType {
        Entry,
        Peak,
        Checkpoint,
        Exit,
    }
}

super::wire_enum! {
    /// Outcome of a forensic capture.
    pub enum CaptureStatus {
        /// Started, not finished (or the daemon died while it ran).
        Pending,
        /// Every source answered.
        Complete,
        /// Some sources failed or were skipped; `sources_json` says which.
        Partial,
        Failed,
    }
}

super::wire_enum! {
    /// Why an event ended.
    pub enum CloseReason {
        /// The score stayed below the tracking threshold for
        /// `exit_stability_samples` consecutive samples.
        Recovered,
        /// The process vanished, or its PID now belongs to a different process.
        Gone,
        /// The daemon stopped cleanly while the event was open.
        Shutdown,
        /// The daemon died while the event was open; closed at its next start
        /// (same boot).
        DaemonRestart,
        /// The machine rebooted while the event was open; closed at the
        /// daemon's next start.
        Reboot,
    }
}

/// One rogue episode of one process or one group. For a group's event,
/// `pid`/`start_time` are its top member's when it opened and `command` is
/// the group's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    pub id: i64,
    /// `process`, or the group's kind (`tree`, `cgroup`, `app`).
    pub subject_kind: SubjectKind,
    /// The group's key (`pid:start_time` of a tree's root, a cgroup path, an
    /// executable path); `None` for a process's event.
    pub group_key: Option<String>,
    /// A group's top members as of its peak (or entry); empty for a process.
    pub members: Vec<EventMember>,
    pub pid: u32,
    /// Process start, Unix milliseconds.
    #[serde(alias = "start_time")]
    pub start_time_ms: u64,
    pub command: String,
    /// Machine boot, Unix milliseconds.
    #[serde(alias = "boot_time")]
    pub boot_time_ms: u64,
    /// Unix seconds.
    #[serde(alias = "entry_time")]
    pub entry_time_s: f64,
    /// Unix seconds; `None` while the event is open.
    #[serde(alias = "exit_time")]
    pub exit_time_s: Option<f64>,
    pub entry_band: Band,
    pub peak_band: Band,
    pub peak_score: f64,
    /// Unix seconds.
    #[serde(alias = "peak_time")]
    pub peak_time_s: f64,
    pub dominant_resource: Resource,
    /// Why it closed; `None` while open.
    pub close_reason: Option<CloseReason>,
    /// Forensic captures taken for this event.
    pub forensics_count: u64,
}

/// One snapshot of an event's process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRow {
    pub snapshot_type: SnapshotType,
    /// Unix seconds.
    #[serde(alias = "captured_at")]
    pub captured_at_s: f64,
    pub score: f64,
    pub band: Band,
    /// The full process record as it was at `captured_at` (a group's top
    /// member; `score` and `band` above are then the group's).
    pub process: ProcessScore,
    /// The group as it was at `captured_at`; `None` for a process's event.
    pub group: Option<GroupScore>,
}

/// One forensic capture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureRow {
    pub id: i64,
    /// The event it belongs to; `None` for a stall's capture.
    pub event_id: Option<i64>,
    /// Unix seconds.
    #[serde(alias = "captured_at")]
    pub captured_at_s: f64,
    pub trigger: String,
    pub status: CaptureStatus,
    pub duration_ms: Option<f64>,
    /// Per-source outcome, as the forensics engine wrote it.
    pub sources: Option<serde_json::Value>,
    pub error: Option<String>,
}
