//! Process data: one process's scored sample (`ProcessScore`), one sampling
//! round (`ProcessSamples`), the per-process metric table and the enums they use.

use serde::{Deserialize, Serialize};

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

super::wire_enum! {
    /// Score bands, ordered from harmless to worst.
    #[derive(Default, PartialOrd, Ord)]
    pub enum Band {
        #[default]
        Low,
        Medium,
        Elevated,
        High,
        Critical,
    }
}

super::wire_enum! {
    /// Scheduler state of a process, normalised across platforms.
    #[derive(Default)]
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
}

impl ProcessState {
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

super::wire_enum! {
    /// The resources a process is scored on.
    #[derive(PartialOrd, Ord)]
    pub enum Resource {
        Cpu,
        Gpu,
        Memory,
        Disk,
        Wakeups,
    }
}

/// How a metric's number reads: what one unit of it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Percent of one core (100 = one core busy all the time).
    PercentOfCore,
    Bytes,
    BytesPerSecond,
    Count,
    CountPerSecond,
    /// A whole number that is a level, not a counter (threads).
    Integer,
    Ratio,
    Nanoseconds,
    /// Nanoseconds per second (a share of wall time).
    NanosecondsPerSecond,
    Nanojoules,
    /// Nanojoules per second (power).
    NanojoulesPerSecond,
}

/// One per-process metric: its wire name, how people read it, and its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricInfo {
    /// The JSON field name (and the CSV column).
    pub name: &'static str,
    /// Short human label (the dashboard's detail pane).
    pub label: &'static str,
    pub unit: Unit,
}

/// The per-process metric table, written once. Each line declares one
/// `Option<MetricValue>` field of `ProcessScore` (in JSON order), its label and
/// its unit; the struct, `METRICS`, `metrics()` and `metrics_mut()` all come
/// from it. Adding a metric is one line here (plus whatever measures it).
macro_rules! process_score {
    ($($(#[$doc:meta])* $name:ident: $label:literal, $unit:ident;)*) => {
        /// Everything known about one process at one sample, scored.
        ///
        /// Units are in `METRICS` (and docs/json.md): `cpu` is percent of one
        /// core; memory and disk in bytes; `*_rate` fields per second; times
        /// (`runnable_time`, `gpu_time`, `qos_interactive`) in nanoseconds, so
        /// their rates are nanoseconds per second. `start_time` is Unix
        /// milliseconds and `captured_at` Unix seconds (wire names; the Rust
        /// names carry the unit).
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct ProcessScore {
            pub pid: u32,
            /// Process start, Unix milliseconds. With `pid` it is the identity.
            #[serde(alias = "start_time")]
            pub start_time_ms: u64,
            /// Untrusted: stored raw, escaped whenever it reaches a terminal.
            pub command: String,
            /// Unix seconds.
            #[serde(alias = "captured_at")]
            pub captured_at_s: f64,
            $($(#[$doc])* pub $name: Option<MetricValue>,)*
            pub state: ProcessState,
            pub priority: Option<i32>,
            /// Parent process ID, when known.
            #[serde(default)]
            pub ppid: Option<u32>,
            /// The owner's user id, as the platform reports it (Linux: the
            /// owner of `/proc/PID`, as htop; macOS: `pbi_uid`). Absent from
            /// older samples.
            #[serde(default)]
            pub uid: Option<u32>,
            /// User + system CPU time since the process started, seconds
            /// (htop's TIME+). Absent from older samples.
            #[serde(default)]
            pub cpu_time_s: Option<f64>,
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

        /// Every per-process metric, in JSON order.
        pub const METRICS: &[MetricInfo] = &[
            $(MetricInfo { name: stringify!($name), label: $label, unit: Unit::$unit },)*
        ];

        impl ProcessScore {
            /// A process with identity only: every metric unknown, score zero.
            pub fn new(pid: u32, start_time_ms: u64, command: String, captured_at_s: f64) -> Self {
                Self {
                    pid,
                    start_time_ms,
                    command,
                    captured_at_s,
                    $($name: None,)*
                    state: ProcessState::Unknown,
                    priority: None,
                    ppid: None,
                    uid: None,
                    cpu_time_s: None,
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

            /// Every metric field, in `METRICS` order.
            pub fn metrics(&self) -> [&Option<MetricValue>; METRIC_COUNT] {
                [$(&self.$name,)*]
            }

            /// Every metric field, mutable, in `METRICS` order.
            pub fn metrics_mut(&mut self) -> [&mut Option<MetricValue>; METRIC_COUNT] {
                [$(&mut self.$name,)*]
            }
        }
    };
}

process_score! {
    /// Percent of one core.
    cpu: "cpu", PercentOfCore;
    /// CPU of children that were reaped since the last sample, beyond what was
    /// seen of them alive: percent of one core (docs/scoring.md).
    children_cpu: "children cpu", PercentOfCore;
    /// Resident memory, bytes.
    mem: "mem", Bytes;
    mem_peak: "mem peak", Bytes;
    pageins: "pageins", Count;
    pageins_rate: "pageins/s", CountPerSecond;
    faults: "faults", Count;
    faults_rate: "faults/s", CountPerSecond;
    /// Bytes read from and written to storage.
    disk_io: "disk io", Bytes;
    disk_io_rate: "disk io/s", BytesPerSecond;
    csw: "ctx switches", Count;
    csw_rate: "ctx switches/s", CountPerSecond;
    syscalls: "syscalls", Count;
    syscalls_rate: "syscalls/s", CountPerSecond;
    threads: "threads", Integer;
    mach_msgs: "mach msgs", Count;
    mach_msgs_rate: "mach msgs/s", CountPerSecond;
    instructions: "instructions", Count;
    cycles: "cycles", Count;
    ipc: "ipc", Ratio;
    energy: "energy", Nanojoules;
    energy_rate: "power", NanojoulesPerSecond;
    wakeups: "wakeups", Count;
    wakeups_rate: "wakeups/s", CountPerSecond;
    runnable_time: "runnable", Nanoseconds;
    runnable_time_rate: "runnable/s", NanosecondsPerSecond;
    qos_interactive: "qos interactive", Nanoseconds;
    qos_interactive_rate: "qos interact/s", NanosecondsPerSecond;
    gpu_time: "gpu time", Nanoseconds;
    gpu_time_rate: "gpu time/s", NanosecondsPerSecond;
}

/// Number of `MetricValue` fields in a `ProcessScore`.
pub const METRIC_COUNT: usize = METRICS.len();

/// Identity of a process across samples: PIDs are reused, start times are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProcessKey {
    pub pid: u32,
    /// Process start, Unix milliseconds.
    #[serde(alias = "start_time")]
    pub start_time_ms: u64,
}

impl ProcessScore {
    pub fn key(&self) -> ProcessKey {
        ProcessKey {
            pid: self.pid,
            start_time_ms: self.start_time_ms,
        }
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
    #[serde(alias = "timestamp")]
    pub timestamp_s: f64,
    /// How long collection and scoring took, milliseconds.
    pub elapsed_ms: f64,
    /// Processes seen this round.
    pub process_count: u32,
    /// Highest score this round (0 on an empty machine).
    pub max_score: f64,
    /// Top N by score, worst first; populated even on a healthy machine.
    pub rogues: Vec<ProcessScore>,
    /// The top groups of each kind (tree, cgroup, app) by score, worst first
    /// within a kind. Absent from older samples.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<super::GroupScore>,
    /// The machine over this round's interval (`null` where the platform
    /// reads no machine counters; absent from older samples).
    #[serde(default)]
    pub system: Option<Box<super::SystemSample>>,
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
        for (i, info) in METRICS.iter().enumerate() {
            assert_eq!(
                json[info.name]["current"],
                serde_json::json!(i as f64),
                "{}",
                info.name
            );
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
        for &b in Band::ALL {
            assert_eq!(b.as_str().parse::<Band>().ok(), Some(b));
        }
        assert!("severe".parse::<Band>().is_err());
    }
}
