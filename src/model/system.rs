//! The machine series: what the whole machine did between two readings (CPU
//! time by kind, memory, pressure, disk, network, load, process counts) and
//! the headline stress. Rates come from `collect::system::derive`; the
//! stress from `score::machine_stress`. Every field is documented with its
//! unit in docs/json.md; `None` (`null`) = not measurable here or not yet
//! (a rate needs two readings).

use serde::{Deserialize, Serialize};

/// Where a core's (or all cores') time went over the interval, percent of
/// that time (the kinds sum to 100). Rounded to 0.1.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct CpuPercent {
    pub user: f64,
    pub nice: f64,
    pub system: f64,
    pub iowait: f64,
    pub irq: f64,
    pub softirq: f64,
    pub steal: f64,
    pub idle: f64,
}

impl CpuPercent {
    /// Busy: everything but idle and iowait (iowait is idle time with I/O
    /// outstanding), percent.
    pub fn busy(&self) -> f64 {
        (100.0 - self.idle - self.iowait).clamp(0.0, 100.0)
    }
}

/// Memory gauges, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct MemorySample {
    pub total_bytes: u64,
    /// What can be given to new work without swapping (`MemAvailable`).
    pub available_bytes: Option<u64>,
    /// Page cache (`Cached`).
    pub cached_bytes: Option<u64>,
    /// Waiting to be written back (`Dirty`).
    pub dirty_bytes: Option<u64>,
    pub swap_total_bytes: Option<u64>,
    pub swap_used_bytes: Option<u64>,
}

impl MemorySample {
    /// Total minus available, bytes.
    pub fn used_bytes(&self) -> Option<u64> {
        self.available_bytes
            .map(|a| self.total_bytes.saturating_sub(a))
    }
}

/// PSI of one resource.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PsiSample {
    /// Percent of the last 10 s some task waited for the resource (kernel's
    /// `avg10`).
    pub some_avg10: Option<f64>,
    /// Percent of the last 10 s every non-idle task waited at once.
    pub full_avg10: Option<f64>,
    /// Microseconds some task waited during this interval (`total` delta).
    pub some_stall_us: Option<u64>,
    /// Microseconds all non-idle tasks waited during this interval.
    pub full_stall_us: Option<u64>,
}

/// PSI per resource (`None` where the kernel has no PSI).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PressureSample {
    pub cpu: Option<PsiSample>,
    pub memory: Option<PsiSample>,
    pub io: Option<PsiSample>,
}

/// Storage throughput of the whole-disk devices over the interval.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct DiskRates {
    pub read_bytes_per_s: f64,
    pub write_bytes_per_s: f64,
    pub reads_per_s: f64,
    pub writes_per_s: f64,
}

/// Network throughput of every interface but loopback over the interval.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct NetRates {
    pub rx_bytes_per_s: f64,
    pub tx_bytes_per_s: f64,
}

/// Load averages (runnable plus, on Linux, uninterruptible tasks) and the
/// scheduler's counts.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LoadSample {
    pub one: f64,
    pub five: f64,
    pub fifteen: f64,
    /// Runnable threads at the reading (`None` on macOS).
    pub runnable: Option<u64>,
    /// Threads that exist (Linux: scheduling entities; macOS: the processor
    /// set's thread count).
    pub threads: Option<u64>,
}

/// What the headline stress is made of (docs/scoring.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StressCause {
    /// The worst process's score.
    #[default]
    Process,
    /// CPU busy against capacity and the run queue.
    Saturation,
    /// PSI: tasks waiting for CPU, memory or I/O.
    Pressure,
}

impl StressCause {
    pub fn as_str(self) -> &'static str {
        match self {
            StressCause::Process => "process",
            StressCause::Saturation => "saturation",
            StressCause::Pressure => "pressure",
        }
    }
}

/// The machine over one sampling interval.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SystemSample {
    /// Seconds between the two readings the rates come from (`None` on the
    /// first reading: no rates yet).
    pub interval_s: Option<f64>,
    /// Cores the kernel reports time for.
    pub cpu_count: u32,
    /// All cores together, percent of their time.
    pub cpu: Option<CpuPercent>,
    /// Each core, in the kernel's order (empty until two readings, or when
    /// a core went on- or offline between them).
    #[serde(default)]
    pub cores: Vec<CpuPercent>,
    pub memory: Option<MemorySample>,
    pub pressure: Option<PressureSample>,
    pub disk: Option<DiskRates>,
    pub net: Option<NetRates>,
    pub load: Option<LoadSample>,
    /// Processes in the sample.
    pub processes: u32,
    /// Threads of those processes, summed when every one reported its count,
    /// else the kernel's count (`load.threads`); `None` when neither is known.
    pub threads: Option<u64>,
    /// Processes running or runnable (`R`).
    pub running: u32,
    /// Processes in uninterruptible sleep (`D`).
    pub blocked: u32,
    /// The headline stress, 0-100 (`score::machine_stress`).
    pub stress: f64,
    /// Which part of the stress is the largest.
    pub stress_cause: StressCause,
}
