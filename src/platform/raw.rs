//! What a platform reads: raw cumulative counters and gauges per process, the
//! machine's size, and the `ProcessSource` trait every OS binding implements.
//! No rates, no scores: `collect` turns these into the model's `ProcessScore`.

use crate::model::{ProcessKey, ProcessState, StallKind};
use std::sync::Arc;

/// What the machine is, as the platform reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SystemInfo {
    pub(crate) cpu_count: usize,
    pub(crate) mem_total_bytes: Option<u64>,
    /// Unix milliseconds.
    pub(crate) boot_time_ms: u64,
}

/// Counters that are read on their own schedule (Linux: `status`, `schedstat`
/// and every thread, for a few processes a sample). `read_at` tells `derive`
/// whether they are fresh; between reads their last rates carry over.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeepCounters {
    /// Unix seconds when these were read.
    pub(crate) read_at: f64,
    /// Context switches, voluntary + involuntary, all threads.
    pub(crate) csw: Option<u64>,
    /// Voluntary context switches, all threads (the wakeups proxy on Linux).
    pub(crate) wakeups: Option<u64>,
    /// Time runnable but waiting for a CPU, ns, all threads.
    pub(crate) runnable_ns: Option<u64>,
    pub(crate) peak_resident_bytes: Option<u64>,
    pub(crate) cgroup: Option<String>,
    /// GPU busy time, ns, where reading it is expensive (Linux DRM fdinfo).
    /// Used only when `RawProcess::gpu_time_ns` is `None`.
    pub(crate) gpu_time_ns: Option<u64>,
}

/// One process as the platform read it: cumulative counters and gauges, no
/// rates. `None` = could not be measured.
#[derive(Debug, Clone, PartialEq)]
pub struct RawProcess {
    pub(crate) pid: u32,
    /// Unix milliseconds.
    pub start_time_ms: u64,
    pub command: String,
    pub state: ProcessState,
    pub priority: Option<i32>,
    /// Parent PID (`None` when unknown, or for the first processes).
    pub ppid: Option<u32>,
    /// The owner's user id (Linux: the owner of `/proc/PID`, read at first
    /// sight and after an exec; macOS: `pbi_uid`).
    pub uid: Option<u32>,
    /// Leads its session (Linux: session id = PID): a terminal's shell.
    pub session_leader: bool,
    /// Executable path, read once per identity (Linux: `/proc/PID/exe`).
    pub exe: Option<Arc<str>>,
    /// Process start, Unix seconds, as precise as the platform knows it
    /// (`start_time_ms` rounds the boot time to a second on Linux).
    pub started_at_s: Option<f64>,
    /// User + system CPU time, ns, all threads.
    pub cpu_time_ns: Option<u64>,
    /// CPU time of reaped (waited-for) children, ns, cumulative.
    pub children_cpu_ns: Option<u64>,
    /// Major faults of reaped children, cumulative.
    pub children_pageins: Option<u64>,
    pub resident_bytes: Option<u64>,
    pub faults: Option<u64>,
    pub pageins: Option<u64>,
    /// Bytes read from and written to storage.
    pub(crate) disk_bytes: Option<u64>,
    pub(crate) syscalls: Option<u64>,
    pub(crate) threads: Option<u64>,
    pub(crate) gpu_time_ns: Option<u64>,
    pub(crate) mach_msgs: Option<u64>,
    pub(crate) instructions: Option<u64>,
    pub(crate) cycles: Option<u64>,
    /// Energy, nanojoules.
    pub(crate) energy_nj: Option<u64>,
    pub(crate) qos_interactive_ns: Option<u64>,
    pub(crate) deep: Option<DeepCounters>,
}

impl RawProcess {
    pub(crate) fn new(pid: u32, start_time_ms: u64, command: String) -> RawProcess {
        RawProcess {
            pid,
            start_time_ms,
            command,
            state: ProcessState::Unknown,
            priority: None,
            ppid: None,
            uid: None,
            session_leader: false,
            exe: None,
            started_at_s: None,
            cpu_time_ns: None,
            children_cpu_ns: None,
            children_pageins: None,
            resident_bytes: None,
            faults: None,
            pageins: None,
            disk_bytes: None,
            syscalls: None,
            threads: None,
            gpu_time_ns: None,
            mach_msgs: None,
            instructions: None,
            cycles: None,
            energy_nj: None,
            qos_interactive_ns: None,
            deep: None,
        }
    }

    pub(crate) fn key(&self) -> ProcessKey {
        ProcessKey {
            pid: self.pid,
            start_time_ms: self.start_time_ms,
        }
    }
}

/// A platform's process table.
pub trait ProcessSource {
    /// Cores, memory, boot time.
    fn system(&mut self) -> SystemInfo;
    /// The cheap pass: every process, replacing `out`'s contents.
    fn scan(&mut self, out: &mut Vec<RawProcess>);
    /// The expensive pass for one process: fill `raw.deep` (read at `now`).
    fn deepen(&mut self, raw: &mut RawProcess, now: f64);
    /// Whether a reaped child's disk bytes and syscalls are added to its
    /// parent's counters (Linux `/proc/PID/io`: yes; macOS rusage: no).
    fn reaped_io_in_parent(&self) -> bool {
        false
    }
    /// The machine-wide counters now (CPU time by kind, memory, pressure,
    /// disk, network, load). `None` where this platform reads none.
    fn machine(&mut self) -> Option<RawMachine> {
        None
    }
}

/// Cumulative CPU time of one core (or all of them) by kind, in the
/// platform's unit (Linux: clock ticks). Only ratios of deltas are used, so
/// the unit cancels. A kind the platform does not report stays 0 on every
/// reading (its share reads 0, which is what it is: macOS has no iowait).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub(crate) user: u64,
    pub(crate) nice: u64,
    pub(crate) system: u64,
    pub(crate) idle: u64,
    pub(crate) iowait: u64,
    pub(crate) irq: u64,
    pub(crate) softirq: u64,
    pub(crate) steal: u64,
}

/// Memory gauges, bytes (`None` = not reported here).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemCounters {
    pub(crate) total: Option<u64>,
    pub(crate) available: Option<u64>,
    pub(crate) cached: Option<u64>,
    pub(crate) dirty: Option<u64>,
    pub(crate) swap_total: Option<u64>,
    pub(crate) swap_free: Option<u64>,
}

/// Cumulative storage traffic of the whole-disk devices: what each moved
/// while it was there, summed (`DeviceTotals`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskCounters {
    pub(crate) read_bytes: u64,
    pub(crate) write_bytes: u64,
    pub(crate) reads: u64,
    pub(crate) writes: u64,
}

/// Cumulative network traffic of every interface but loopback: what each
/// moved while it was there, summed (`DeviceTotals`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetCounters {
    pub(crate) rx_bytes: u64,
    pub(crate) tx_bytes: u64,
}

/// Running totals of `N` counters over a set of devices that changes: each
/// reading adds what every device moved since the reading before. A device
/// seen for the first time adds nothing (its counters hold its whole life,
/// not the interval: a disk attached, an interface moved in), one that went
/// adds nothing more, and a counter that went back (a device reset, a name
/// reused) adds nothing for that reading. So the totals only grow by traffic
/// that happened, and two readings' difference is that interval's traffic.
#[derive(Debug)]
pub(crate) struct DeviceTotals<const N: usize> {
    last: std::collections::HashMap<u64, [u64; N]>,
    now: std::collections::HashMap<u64, [u64; N]>,
    total: [u64; N],
}

impl<const N: usize> DeviceTotals<N> {
    pub(crate) fn new() -> DeviceTotals<N> {
        DeviceTotals {
            last: std::collections::HashMap::new(),
            now: std::collections::HashMap::new(),
            total: [0; N],
        }
    }

    /// One device's counters in the reading under way (`id`: `device_id`
    /// of its name, or its number).
    pub(crate) fn add(&mut self, id: u64, counters: [u64; N]) {
        if self.now.contains_key(&id) {
            return; // listed twice in one reading: counted once
        }
        if let Some(prev) = self.last.get(&id) {
            for (t, (n, p)) in self.total.iter_mut().zip(counters.iter().zip(prev)) {
                *t = t.saturating_add(n.saturating_sub(*p));
            }
        }
        self.now.insert(id, counters);
    }

    /// The reading is complete: the running totals.
    pub(crate) fn finish(&mut self) -> [u64; N] {
        std::mem::swap(&mut self.last, &mut self.now);
        self.now.clear();
        self.total
    }
}

impl<const N: usize> Default for DeviceTotals<N> {
    fn default() -> DeviceTotals<N> {
        DeviceTotals::new()
    }
}

/// A device's identity from its name (FNV-1a).
pub(crate) fn device_id(name: &[u8]) -> u64 {
    name.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Load averages and the scheduler's entity counts (Linux `/proc/loadavg`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadAvg {
    pub(crate) one: f64,
    pub(crate) five: f64,
    pub(crate) fifteen: f64,
    /// Runnable scheduling entities (threads) now; `None` where not reported.
    pub(crate) running: Option<u64>,
    /// Scheduling entities (threads) that exist; `None` where not reported.
    pub(crate) threads: Option<u64>,
}

/// One reading of the machine's counters. `None` / empty = not readable here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawMachine {
    pub(crate) cpu: Option<CpuTimes>,
    /// Per core, in the kernel's order (an offline core is missing).
    pub(crate) cores: Vec<CpuTimes>,
    pub(crate) mem: Option<MemCounters>,
    pub(crate) psi: PsiTotals,
    pub(crate) disk: Option<DiskCounters>,
    pub(crate) net: Option<NetCounters>,
    pub(crate) load: Option<LoadAvg>,
}

/// PSI of one resource: the `total=` counters, microseconds since boot, and
/// the kernel's `avg10` (percent of the last 10 s stalled).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PsiTotal {
    pub(crate) some_us: Option<u64>,
    pub(crate) full_us: Option<u64>,
    pub(crate) some_avg10: Option<f64>,
    pub(crate) full_avg10: Option<f64>,
}

/// The machine's (or one cgroup's) PSI totals.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PsiTotals {
    pub(crate) cpu: Option<PsiTotal>,
    pub(crate) memory: Option<PsiTotal>,
    pub(crate) io: Option<PsiTotal>,
}

impl PsiTotals {
    pub(crate) fn get(&self, kind: StallKind) -> Option<PsiTotal> {
        match kind {
            StallKind::Cpu => self.cpu,
            StallKind::Memory => self.memory,
            StallKind::Io => self.io,
            _ => None,
        }
    }
}

/// The monitor's own counters (for the scheduling-stall classifier), each
/// `None` when unreadable here.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OwnCounters {
    /// schedstat run delay of the sampling (main) thread, ns.
    pub(crate) run_delay_ns: Option<u64>,
    /// Major page faults of the process.
    pub(crate) major_faults: Option<u64>,
    /// Its cgroup's CPU-quota throttled time, ns.
    pub(crate) throttled_ns: Option<u64>,
}

/// One reading of the two clocks. `monotonic_s` stops while the machine is
/// suspended (Linux `CLOCK_MONOTONIC`, macOS `mach_absolute_time`);
/// `boottime_s` keeps counting (`CLOCK_BOOTTIME`, `mach_continuous_time`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockReading {
    pub(crate) monotonic_s: f64,
    pub(crate) boottime_s: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_totals_count_what_devices_moved_while_they_were_there() {
        let (sda, sdb) = (device_id(b"sda"), device_id(b"sdb"));
        let mut t = DeviceTotals::<2>::new();
        t.add(sda, [100, 10]);
        assert_eq!(t.finish(), [0, 0], "a first reading is no traffic");
        t.add(sda, [150, 12]);
        assert_eq!(t.finish(), [50, 2]);
        // sdb attached with 500 GB behind it: only sda's traffic counts.
        t.add(sda, [160, 12]);
        t.add(sdb, [500 << 30, 7]);
        assert_eq!(t.finish(), [60, 2]);
        // Then sdb's traffic counts too.
        t.add(sda, [160, 13]);
        t.add(sdb, [(500 << 30) + 40, 7]);
        assert_eq!(t.finish(), [100, 3]);
        // sda gone, sdb reset (counters back to zero): nothing is lost
        // or invented.
        t.add(sdb, [5, 0]);
        assert_eq!(t.finish(), [100, 3]);
        t.add(sdb, [25, 1]);
        assert_eq!(t.finish(), [120, 4]);
        // A device listed twice in one reading counts once.
        t.add(sdb, [35, 1]);
        t.add(sdb, [35, 1]);
        assert_eq!(t.finish(), [130, 4]);
        // A reading with no device leaves the totals.
        assert_eq!(t.finish(), [130, 4]);
        assert_ne!(sda, sdb);
    }
}
