//! The canonical schema: `ProcessScore`, `ProcessSamples` and the enums they use.
//!
//! Pure data. Every other module produces, stores, sends or draws exactly these
//! shapes; nobody invents a second shape of process data. A metric the platform
//! cannot measure is `None` (`null` in JSON), never a fake zero.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One metric: its value now and the min/max over this process's samples in the
/// ring-buffer window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricValue {
    pub current: f64,
    pub low: f64,
    pub high: f64,
}

impl MetricValue {
    /// A fresh reading whose range is just itself (the ring buffer widens it).
    pub fn new(current: f64) -> Self {
        Self {
            current,
            low: current,
            high: current,
        }
    }
}

/// Shorthand for building an optional metric from an optional reading.
pub fn metric(value: Option<f64>) -> Option<MetricValue> {
    value.map(MetricValue::new)
}

/// Score bands, ordered from harmless to worst.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    #[default]
    Low,
    Medium,
    Elevated,
    High,
    Critical,
}

impl Band {
    pub const ALL: [Band; 5] = [
        Band::Low,
        Band::Medium,
        Band::Elevated,
        Band::High,
        Band::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Band::Low => "low",
            Band::Medium => "medium",
            Band::Elevated => "elevated",
            Band::High => "high",
            Band::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Band> {
        Band::ALL.into_iter().find(|b| b.as_str() == text)
    }
}

impl fmt::Display for Band {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Scheduler state of a process, normalised across platforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ProcessState {
    Running,
    Sleeping,
    /// Uninterruptible sleep (Linux `D`): stuck waiting on I/O or a lock.
    DiskSleep,
    Stopped,
    Zombie,
    /// Kernel idle thread (Linux `I`).
    Idle,
    Dead,
    #[default]
    Unknown,
}

impl ProcessState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessState::Running => "running",
            ProcessState::Sleeping => "sleeping",
            ProcessState::DiskSleep => "disk_sleep",
            ProcessState::Stopped => "stopped",
            ProcessState::Zombie => "zombie",
            ProcessState::Idle => "idle",
            ProcessState::Dead => "dead",
            ProcessState::Unknown => "unknown",
        }
    }

    /// One letter, as `ps` and `top` show it.
    pub fn letter(self) -> char {
        match self {
            ProcessState::Running => 'R',
            ProcessState::Sleeping => 'S',
            ProcessState::DiskSleep => 'D',
            ProcessState::Stopped => 'T',
            ProcessState::Zombie => 'Z',
            ProcessState::Idle => 'I',
            ProcessState::Dead => 'X',
            ProcessState::Unknown => '?',
        }
    }
}

/// The resources a process is scored on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Cpu,
    Gpu,
    Memory,
    Disk,
    Wakeups,
}

impl Resource {
    pub const ALL: [Resource; 5] = [
        Resource::Cpu,
        Resource::Gpu,
        Resource::Memory,
        Resource::Disk,
        Resource::Wakeups,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Cpu => "cpu",
            Resource::Gpu => "gpu",
            Resource::Memory => "memory",
            Resource::Disk => "disk",
            Resource::Wakeups => "wakeups",
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything known about one process at one sample, scored.
///
/// Units: `cpu` is percent of one core; memory and disk in bytes; `*_rate`
/// fields per second; times (`runnable_time`, `gpu_time`, `qos_interactive`) in
/// nanoseconds, so their rates are nanoseconds per second. `start_time` and
/// `captured_at` are Unix time (milliseconds and seconds respectively).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessScore {
    pub pid: u32,
    /// Process start, Unix milliseconds. With `pid` it is the identity.
    pub start_time: u64,
    /// Untrusted: stored raw, escaped whenever it reaches a terminal.
    pub command: String,
    /// Unix seconds.
    pub captured_at: f64,

    pub cpu: Option<MetricValue>,

    pub mem: Option<MetricValue>,
    pub mem_peak: Option<MetricValue>,
    pub pageins: Option<MetricValue>,
    pub pageins_rate: Option<MetricValue>,
    pub faults: Option<MetricValue>,
    pub faults_rate: Option<MetricValue>,

    pub disk_io: Option<MetricValue>,
    pub disk_io_rate: Option<MetricValue>,

    pub csw: Option<MetricValue>,
    pub csw_rate: Option<MetricValue>,
    pub syscalls: Option<MetricValue>,
    pub syscalls_rate: Option<MetricValue>,
    pub threads: Option<MetricValue>,
    pub mach_msgs: Option<MetricValue>,
    pub mach_msgs_rate: Option<MetricValue>,

    pub instructions: Option<MetricValue>,
    pub cycles: Option<MetricValue>,
    pub ipc: Option<MetricValue>,

    pub energy: Option<MetricValue>,
    pub energy_rate: Option<MetricValue>,
    pub wakeups: Option<MetricValue>,
    pub wakeups_rate: Option<MetricValue>,

    pub runnable_time: Option<MetricValue>,
    pub runnable_time_rate: Option<MetricValue>,
    pub qos_interactive: Option<MetricValue>,
    pub qos_interactive_rate: Option<MetricValue>,

    pub gpu_time: Option<MetricValue>,
    pub gpu_time_rate: Option<MetricValue>,

    pub state: ProcessState,
    pub priority: Option<i32>,

    /// Linux: the cgroup path (systemd unit / container). `None` elsewhere.
    pub cgroup: Option<String>,

    /// 0-100.
    pub score: f64,
    pub band: Band,
    pub cpu_share: Option<f64>,
    pub gpu_share: Option<f64>,
    pub mem_share: Option<f64>,
    pub disk_share: Option<f64>,
    pub wakeups_share: Option<f64>,
    /// Use of the dominant resource as a multiple of an even split among the
    /// processes actively using it (see docs/scoring.md).
    pub disproportionality: f64,
    pub dominant_resource: Resource,
}

/// Number of `MetricValue` fields in a `ProcessScore`.
pub const METRIC_COUNT: usize = 29;

/// Names of the metric fields, in the order `metrics()` yields them.
pub const METRIC_NAMES: [&str; METRIC_COUNT] = [
    "cpu",
    "mem",
    "mem_peak",
    "pageins",
    "pageins_rate",
    "faults",
    "faults_rate",
    "disk_io",
    "disk_io_rate",
    "csw",
    "csw_rate",
    "syscalls",
    "syscalls_rate",
    "threads",
    "mach_msgs",
    "mach_msgs_rate",
    "instructions",
    "cycles",
    "ipc",
    "energy",
    "energy_rate",
    "wakeups",
    "wakeups_rate",
    "runnable_time",
    "runnable_time_rate",
    "qos_interactive",
    "qos_interactive_rate",
    "gpu_time",
    "gpu_time_rate",
];

/// Identity of a process across samples: PIDs are reused, start times are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProcessKey {
    pub pid: u32,
    pub start_time: u64,
}

impl ProcessScore {
    /// A process with identity only: every metric unknown, score zero.
    pub fn new(pid: u32, start_time: u64, command: String, captured_at: f64) -> Self {
        Self {
            pid,
            start_time,
            command,
            captured_at,
            cpu: None,
            mem: None,
            mem_peak: None,
            pageins: None,
            pageins_rate: None,
            faults: None,
            faults_rate: None,
            disk_io: None,
            disk_io_rate: None,
            csw: None,
            csw_rate: None,
            syscalls: None,
            syscalls_rate: None,
            threads: None,
            mach_msgs: None,
            mach_msgs_rate: None,
            instructions: None,
            cycles: None,
            ipc: None,
            energy: None,
            energy_rate: None,
            wakeups: None,
            wakeups_rate: None,
            runnable_time: None,
            runnable_time_rate: None,
            qos_interactive: None,
            qos_interactive_rate: None,
            gpu_time: None,
            gpu_time_rate: None,
            state: ProcessState::Unknown,
            priority: None,
            cgroup: None,
            score: 0.0,
            band: Band::Low,
            cpu_share: None,
            gpu_share: None,
            mem_share: None,
            disk_share: None,
            wakeups_share: None,
            disproportionality: 0.0,
            dominant_resource: Resource::Cpu,
        }
    }

    pub fn key(&self) -> ProcessKey {
        ProcessKey {
            pid: self.pid,
            start_time: self.start_time,
        }
    }

    /// Every metric field, in `METRIC_NAMES` order.
    pub fn metrics(&self) -> [&Option<MetricValue>; METRIC_COUNT] {
        [
            &self.cpu,
            &self.mem,
            &self.mem_peak,
            &self.pageins,
            &self.pageins_rate,
            &self.faults,
            &self.faults_rate,
            &self.disk_io,
            &self.disk_io_rate,
            &self.csw,
            &self.csw_rate,
            &self.syscalls,
            &self.syscalls_rate,
            &self.threads,
            &self.mach_msgs,
            &self.mach_msgs_rate,
            &self.instructions,
            &self.cycles,
            &self.ipc,
            &self.energy,
            &self.energy_rate,
            &self.wakeups,
            &self.wakeups_rate,
            &self.runnable_time,
            &self.runnable_time_rate,
            &self.qos_interactive,
            &self.qos_interactive_rate,
            &self.gpu_time,
            &self.gpu_time_rate,
        ]
    }

    /// Every metric field, mutable, in `METRIC_NAMES` order.
    pub fn metrics_mut(&mut self) -> [&mut Option<MetricValue>; METRIC_COUNT] {
        [
            &mut self.cpu,
            &mut self.mem,
            &mut self.mem_peak,
            &mut self.pageins,
            &mut self.pageins_rate,
            &mut self.faults,
            &mut self.faults_rate,
            &mut self.disk_io,
            &mut self.disk_io_rate,
            &mut self.csw,
            &mut self.csw_rate,
            &mut self.syscalls,
            &mut self.syscalls_rate,
            &mut self.threads,
            &mut self.mach_msgs,
            &mut self.mach_msgs_rate,
            &mut self.instructions,
            &mut self.cycles,
            &mut self.ipc,
            &mut self.energy,
            &mut self.energy_rate,
            &mut self.wakeups,
            &mut self.wakeups_rate,
            &mut self.runnable_time,
            &mut self.runnable_time_rate,
            &mut self.qos_interactive,
            &mut self.qos_interactive_rate,
            &mut self.gpu_time,
            &mut self.gpu_time_rate,
        ]
    }

    /// The share of one resource, if it was measured.
    pub fn share(&self, resource: Resource) -> Option<f64> {
        match resource {
            Resource::Cpu => self.cpu_share,
            Resource::Gpu => self.gpu_share,
            Resource::Memory => self.mem_share,
            Resource::Disk => self.disk_share,
            Resource::Wakeups => self.wakeups_share,
        }
    }

    /// Current value of a metric, if measured.
    pub fn current(metric: &Option<MetricValue>) -> Option<f64> {
        metric.map(|m| m.current)
    }
}

/// One sampling round: the machine-wide numbers and the top processes by score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessSamples {
    /// Unix seconds when the round started.
    pub timestamp: f64,
    /// How long collection and scoring took, milliseconds.
    pub elapsed_ms: f64,
    /// Processes seen this round.
    pub process_count: u32,
    /// Highest score this round (0 on an empty machine).
    pub max_score: f64,
    /// Top N by score, worst first; populated even on a healthy machine.
    pub rogues: Vec<ProcessScore>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_match_json_field_names() {
        let mut p = ProcessScore::new(1, 2, "x".into(), 3.0);
        for (i, m) in p.metrics_mut().into_iter().enumerate() {
            *m = Some(MetricValue::new(i as f64));
        }
        let json = serde_json::to_value(&p).unwrap();
        for (i, name) in METRIC_NAMES.iter().enumerate() {
            assert_eq!(json[name]["current"], serde_json::json!(i as f64), "{name}");
        }
    }

    #[test]
    fn unknown_metrics_serialize_as_null() {
        let p = ProcessScore::new(7, 8, "cmd".into(), 1.5);
        let json = serde_json::to_value(&p).unwrap();
        assert!(json["gpu_time"].is_null());
        assert!(json["cpu_share"].is_null());
        assert_eq!(json["band"], "low");
        assert_eq!(json["state"], "unknown");
        assert_eq!(json["dominant_resource"], "cpu");
        let back: ProcessScore = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn bands_order_and_parse() {
        assert!(Band::Critical > Band::High && Band::Medium > Band::Low);
        for b in Band::ALL {
            assert_eq!(Band::parse(b.as_str()), Some(b));
        }
        assert_eq!(Band::parse("severe"), None);
    }
}
