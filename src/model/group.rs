//! Groups: a process tree, a cgroup or an application (one executable), scored
//! as one entity from its members' numbers (`groups::group_all`).

use super::{Band, Resource};
use serde::{Deserialize, Serialize};

/// How processes are folded into a group.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::Display,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum GroupKind {
    /// A process and all its descendants, rooted at the child of the nearest
    /// anchor (init, a service manager, a terminal's shell, a container runtime).
    Tree,
    /// The cgroup the service manager or container runtime made (a unit, a
    /// container, a pod).
    Cgroup,
    /// Every process running one executable.
    App,
}

super::named_enum!(GroupKind);

/// A group's metrics: sums over its members (`null` when no member measured
/// it). Units as the per-process metrics of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct GroupMetrics {
    /// Percent of one core, members' own CPU.
    pub cpu: Option<f64>,
    /// Percent of one core, what members spent through reaped children.
    pub children_cpu: Option<f64>,
    /// ns/s waiting for a CPU.
    pub runnable_time_rate: Option<f64>,
    /// Resident bytes, summed (shared pages count once per member).
    pub mem: Option<f64>,
    pub disk_io_rate: Option<f64>,
    pub wakeups_rate: Option<f64>,
    pub gpu_time_rate: Option<f64>,
    pub pageins_rate: Option<f64>,
    pub threads: Option<f64>,
}

/// One scored group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupScore {
    pub kind: GroupKind,
    /// Stable within a run: the root's `pid:start_time` (tree), the unit's
    /// cgroup path (cgroup), the executable path (app).
    pub key: String,
    /// As users know it: the root's command, `nginx.service`, `docker:3f2a…`,
    /// the executable's file name. Untrusted: escaped where shown.
    pub name: String,
    pub member_count: u32,
    /// Up to five members' PIDs, worst first.
    pub top_members: Vec<u32>,
    /// The worst member's own score.
    pub worst_member_score: f64,
    pub metrics: GroupMetrics,
    /// 0-100, the process formula over the summed use.
    pub score: f64,
    pub band: Band,
    pub dominant_resource: Resource,
    pub cpu_share: Option<f64>,
    pub gpu_share: Option<f64>,
    pub mem_share: Option<f64>,
    pub disk_share: Option<f64>,
    pub wakeups_share: Option<f64>,
}
