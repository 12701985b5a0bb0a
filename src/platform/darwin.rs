//! macOS (Darwin) conversion rules: raw libproc, sysctl and IOKit values become
//! `RawProcess`es.
//!
//! Owns everything of the macOS collector that is not a system call: the mach
//! timebase math, the mapping of `rusage_info_v4`, `proc_taskinfo` and
//! `proc_bsdinfo` fields onto `RawProcess` (DESIGN §3, macOS column), the
//! process-state mapping, the choice of command string (`KERN_PROCARGS2`
//! parsing included) and the per-process sum of IOKit GPU clients
//! (`IOUserClientCreator`, `AppUsage[].accumulatedGPUTime`), and the machine
//! series' kernel structs (`processor_cpu_load_info`, `vm_statistics64`,
//! `xsw_usage`, `loadavg`, `processor_set_load_info`, `if_msghdr2`) with their
//! conversions into `RawMachine` counters. Plain code, compiled
//! and unit-tested on every platform; `platform::macos` only copies the values
//! the kernel returns into the structs below and hands them here.

use super::{
    CpuTimes, DeepCounters, DeviceTotals, DiskCounters, LoadAvg, MemCounters, NetCounters,
    RawProcess,
};
use crate::model::ProcessState;
use crate::platform::parse;
use std::collections::HashMap;

/// `mach_timebase_info`: `ticks × numer / denom` = nanoseconds. Laid out like
/// the C `struct mach_timebase_info`, so the macOS source passes it straight to
/// the kernel. Intel Macs answer 1/1; Apple Silicon answers 125/3 (24 MHz ticks).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timebase {
    pub(crate) numer: u32,
    pub(crate) denom: u32,
}

impl Timebase {
    /// Ticks are already nanoseconds (Intel Macs).
    pub(crate) const NANOSECONDS: Timebase = Timebase { numer: 1, denom: 1 };
    /// Apple Silicon: one tick is 125/3 ns (41.67 ns). The binding asks the
    /// kernel (`mach_timebase_info`); tests use this.
    #[cfg(test)]
    pub(crate) const APPLE_SILICON: Timebase = Timebase {
        numer: 125,
        denom: 3,
    };

    /// Convert mach absolute-time ticks to nanoseconds, without overflow (the
    /// product is taken in 128 bits; a result past `u64::MAX` saturates). A
    /// zero numerator or denominator (a failed query) counts as 1/1.
    pub(crate) fn ticks_to_ns(self, ticks: u64) -> u64 {
        if self.numer == 0 || self.denom == 0 {
            return ticks;
        }
        let ns = u128::from(ticks) * u128::from(self.numer) / u128::from(self.denom);
        u64::try_from(ns).unwrap_or(u64::MAX)
    }
}

impl Default for Timebase {
    fn default() -> Self {
        Timebase::NANOSECONDS
    }
}

/// The `rusage_info_v4` fields the collector uses (`proc_pid_rusage`). Times
/// are mach ticks, as the kernel gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawRusage {
    pub user_time: u64,
    pub system_time: u64,
    /// `ri_child_user_time` / `ri_child_system_time`: reaped children's CPU.
    pub child_user_time: u64,
    pub child_system_time: u64,
    pub pkg_idle_wkups: u64,
    pub interrupt_wkups: u64,
    pub pageins: u64,
    pub phys_footprint: u64,
    pub diskio_bytesread: u64,
    pub diskio_byteswritten: u64,
    pub cpu_time_qos_user_interactive: u64,
    pub lifetime_max_phys_footprint: u64,
    pub instructions: u64,
    pub cycles: u64,
    /// Nanojoules.
    pub(crate) billed_energy: u64,
    pub(crate) runnable_time: u64,
}

/// The `proc_taskinfo` fields the collector uses (`PROC_PIDTASKINFO`). The
/// kernel's counters are 32-bit `integer_t`s; `total_*` are mach ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RawTaskInfo {
    pub(crate) resident_size: u64,
    pub(crate) total_user: u64,
    pub(crate) total_system: u64,
    pub(crate) faults: i32,
    pub(crate) pageins: i32,
    pub(crate) messages_sent: i32,
    pub(crate) messages_received: i32,
    pub(crate) syscalls_mach: i32,
    pub(crate) syscalls_unix: i32,
    pub(crate) csw: i32,
    pub(crate) threadnum: i32,
    pub(crate) numrunning: i32,
    pub(crate) priority: i32,
}

/// The `proc_bsdinfo` fields the collector uses (`PROC_PIDTBSDINFO`), names
/// already decoded (see `c_name`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct RawBsdInfo {
    /// `pbi_status`: `SIDL`, `SRUN`, `SSLEEP`, `SSTOP` or `SZOMB`.
    pub(crate) status: u32,
    /// `pbi_comm`: the executable's name, at most 16 bytes.
    pub(crate) comm: String,
    /// `pbi_name`: the longer name `proc_name` returns, at most 32 bytes.
    pub name: String,
    pub start_tvsec: u64,
    pub start_tvusec: u64,
    /// `pbi_ppid`.
    pub ppid: u32,
    /// `pbi_uid`: the owner's (effective) user id.
    pub uid: u32,
}

/// `<sys/proc.h>` process states (`pbi_status`).
pub(crate) const SIDL: u32 = 1;
pub(crate) const SRUN: u32 = 2;
pub(crate) const SSLEEP: u32 = 3;
pub(crate) const SSTOP: u32 = 4;
pub(crate) const SZOMB: u32 = 5;

/// Everything the macOS source read for one process in one scan. `rusage` and
/// `task` are `None` when the kernel refused (`EPERM` for other users'
/// processes unless root) or the process vanished mid-read.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct DarwinReading {
    pub(crate) pid: u32,
    pub(crate) bsd: RawBsdInfo,
    pub(crate) command: String,
    pub(crate) rusage: Option<RawRusage>,
    pub(crate) task: Option<RawTaskInfo>,
    /// Accumulated GPU time from IOKit, ns; `None` when the process holds no
    /// GPU client (or the machine reports none).
    pub(crate) gpu_time_ns: Option<u64>,
}

/// Map `pbi_status` to the portable state. A live process is `SRUN` for the
/// kernel whatever its threads do, so when the task info is readable its
/// running-thread count splits `SRUN` into running and sleeping (as `ps` does
/// from thread states). `SIDL` (being forked) counts as running.
pub(crate) fn state_from_status(status: u32, running_threads: Option<i32>) -> ProcessState {
    match status {
        SIDL => ProcessState::Running,
        SRUN => match running_threads {
            Some(0) => ProcessState::Sleeping,
            _ => ProcessState::Running,
        },
        SSLEEP => ProcessState::Sleeping,
        SSTOP => ProcessState::Stopped,
        SZOMB => ProcessState::Zombie,
        _ => ProcessState::Unknown,
    }
}

/// A kernel `integer_t` counter as an unsigned count: these wrap past 2^31, so
/// the bits are read as `u32` rather than clamped.
fn counter(v: i32) -> u64 {
    u64::from(v as u32)
}

/// Decode a fixed-size, NUL-padded C name (`pbi_comm`, `pbi_name`, a path
/// buffer): bytes up to the first NUL, invalid UTF-8 replaced. The text stays
/// raw otherwise: escaping happens at the terminal.
pub(crate) fn c_name(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// The arguments of a process from the `KERN_PROCARGS2` sysctl buffer, joined
/// by spaces like a Linux command line. Layout: `argc` (native `int`), the
/// executable path, NUL padding, then `argc` NUL-terminated arguments, then
/// the environment (never read). `None` when malformed or empty.
pub(crate) fn parse_procargs2(buf: &[u8]) -> Option<String> {
    let argc = i32::from_ne_bytes(buf.get(..4)?.try_into().ok()?);
    if argc <= 0 {
        return None;
    }
    let rest = &buf[4..];
    // Skip the executable path, then the NULs that pad it.
    let after_path = rest.iter().position(|&b| b == 0)?;
    let rest = &rest[after_path..];
    let first_arg = rest.iter().position(|&b| b != 0)?;
    let rest = &rest[first_arg..];
    // The arguments end at the argc-th NUL (or the buffer's end).
    let mut seen = 0;
    let mut end = rest.len();
    for (i, &b) in rest.iter().enumerate() {
        if b == 0 {
            seen += 1;
            if seen == argc {
                end = i;
                break;
            }
        }
    }
    let command = parse::cmdline_to_command(&rest[..end]);
    (!command.trim().is_empty()).then_some(command)
}

/// The command string for a process: its arguments when readable (own
/// processes, or root), else its executable path, else `pbi_name`, else
/// `pbi_comm`, else `[pid]`.
pub(crate) fn choose_command(
    pid: u32,
    args: Option<String>,
    path: Option<String>,
    bsd: &RawBsdInfo,
) -> String {
    args.filter(|a| !a.is_empty())
        .or(path.filter(|p| !p.is_empty()))
        .or_else(|| (!bsd.name.is_empty()).then(|| bsd.name.clone()))
        .or_else(|| (!bsd.comm.is_empty()).then(|| bsd.comm.clone()))
        .unwrap_or_else(|| format!("[{pid}]"))
}

/// Process start, Unix milliseconds, from `pbi_start_tvsec`/`pbi_start_tvusec`.
pub(crate) fn start_time_ms(bsd: &RawBsdInfo) -> u64 {
    bsd.start_tvsec
        .saturating_mul(1000)
        .saturating_add(bsd.start_tvusec / 1000)
}

/// Turn one process's readings into a `RawProcess`. macOS counters are cheap,
/// so the deep counters are filled on every scan (`read_at` = `now`, the scan's
/// Unix time). Times are converted from mach ticks with `timebase`.
///
/// Hardware counters (instructions, cycles, energy) read 0 where the machine
/// has none (Intel Macs, VMs): a process that has used CPU time but shows zero
/// cycles reports `None` for them rather than a fake zero.
pub(crate) fn to_raw_process(reading: DarwinReading, timebase: Timebase, now: f64) -> RawProcess {
    let DarwinReading {
        pid,
        bsd,
        command,
        rusage,
        task,
        gpu_time_ns,
    } = reading;
    let ns = |ticks: u64| timebase.ticks_to_ns(ticks);
    let mut raw = RawProcess::new(pid, start_time_ms(&bsd), command);
    raw.state = state_from_status(bsd.status, task.map(|t| t.numrunning));
    raw.priority = task.map(|t| t.priority);
    raw.gpu_time_ns = gpu_time_ns;
    raw.ppid = (bsd.ppid > 0).then_some(bsd.ppid);
    raw.uid = Some(bsd.uid);
    raw.started_at_s = Some(bsd.start_tvsec as f64 + bsd.start_tvusec as f64 / 1e6);

    if let Some(t) = &task {
        raw.cpu_time_ns = Some(ns(t.total_user).saturating_add(ns(t.total_system)));
        raw.resident_bytes = Some(t.resident_size);
        raw.pageins = Some(counter(t.pageins));
        raw.faults = Some(counter(t.faults));
        raw.syscalls = Some(counter(t.syscalls_mach) + counter(t.syscalls_unix));
        raw.threads = Some(counter(t.threadnum));
        raw.mach_msgs = Some(counter(t.messages_sent) + counter(t.messages_received));
    }
    // rusage is the better source where both exist: the footprint is what
    // Activity Monitor calls memory, and its pageins do not wrap.
    if let Some(r) = &rusage {
        let cpu = ns(r.user_time).saturating_add(ns(r.system_time));
        raw.cpu_time_ns = Some(cpu);
        raw.children_cpu_ns = Some(ns(r.child_user_time).saturating_add(ns(r.child_system_time)));
        raw.resident_bytes = Some(r.phys_footprint);
        raw.pageins = Some(r.pageins);
        raw.disk_bytes = Some(r.diskio_bytesread.saturating_add(r.diskio_byteswritten));
        let counters_missing = r.cycles == 0 && cpu > 0;
        if !counters_missing {
            raw.instructions = Some(r.instructions);
            raw.cycles = Some(r.cycles);
        }
        if !(r.billed_energy == 0 && cpu > 0) {
            raw.energy_nj = Some(r.billed_energy);
        }
        raw.qos_interactive_ns = Some(ns(r.cpu_time_qos_user_interactive));
    }
    raw.deep = Some(DeepCounters {
        read_at: now,
        csw: task.map(|t| counter(t.csw)),
        wakeups: rusage.map(|r| r.pkg_idle_wkups.saturating_add(r.interrupt_wkups)),
        runnable_ns: rusage.map(|r| ns(r.runnable_time)),
        peak_resident_bytes: rusage.map(|r| r.lifetime_max_phys_footprint),
        cgroup: None,
        gpu_time_ns: None,
    });
    raw
}

/// The PID in an IOKit `IOUserClientCreator` value, `"pid 123, Safari"` → 123.
pub(crate) fn parse_creator_pid(creator: &str) -> Option<u32> {
    let rest = creator.trim_start().strip_prefix("pid")?.trim_start();
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .map_or(rest, |end| &rest[..end]);
    digits.parse().ok()
}

/// Sum accumulated GPU time per process over IOKit GPU clients: each client
/// is its `IOUserClientCreator` string and the `accumulatedGPUTime` values of
/// its `AppUsage` entries (ns). A process can hold several clients; clients
/// whose creator names no PID are skipped.
pub(crate) fn gpu_time_by_pid<'a, I>(clients: I) -> HashMap<u32, u64>
where
    I: IntoIterator<Item = (&'a str, &'a [u64])>,
{
    let mut out: HashMap<u32, u64> = HashMap::new();
    for (creator, times) in clients {
        let Some(pid) = parse_creator_pid(creator) else {
            continue;
        };
        let sum = times.iter().fold(0u64, |a, &t| a.saturating_add(t));
        let slot = out.entry(pid).or_insert(0);
        *slot = slot.saturating_add(sum);
    }
    out
}

// ---------------------------------------------------------------------------
// The machine series: what the kernel's machine-wide calls return, laid out as
// the 64-bit Darwin headers declare it (the macOS source hands these structs
// straight to the kernel), and the conversions into `RawMachine`'s counters.
// Rates are computed by `collect::system`, like Linux's.
// ---------------------------------------------------------------------------

/// `<mach/machine.h>` `CPU_STATE_*`: the indices of `cpu_ticks`.
pub(crate) const CPU_STATE_USER: usize = 0;
pub(crate) const CPU_STATE_SYSTEM: usize = 1;
pub(crate) const CPU_STATE_IDLE: usize = 2;
pub(crate) const CPU_STATE_NICE: usize = 3;
/// `CPU_STATE_MAX`.
pub(crate) const CPU_STATES: usize = 4;

/// One core's `processor_cpu_load_info` (`<mach/processor_info.h>`):
/// `natural_t cpu_ticks[CPU_STATE_MAX]`, 16 bytes. `host_processor_info(…,
/// PROCESSOR_CPU_LOAD_INFO, …)` returns an array of these, one per core.
/// The counters are 32-bit clock ticks (100 Hz) and wrap.
pub(crate) type CoreTicks = [u32; CPU_STATES];

/// The kernel's per-core tick counters widened to 64 bits: each reading adds
/// the 32-bit difference since the last (wrapping), so a counter passing
/// 2^32 (497 days of one core's idle time at 100 Hz) keeps counting up
/// instead of going backwards. A change in the number of cores starts over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CpuTickCounters {
    last: Vec<CoreTicks>,
    wide: Vec<[u64; CPU_STATES]>,
}

impl CpuTickCounters {
    /// Fold one reading in; the all-cores total (the sum over cores) and each
    /// core, as cumulative `CpuTimes`. `None` and empty without cores.
    pub(crate) fn update(&mut self, ticks: &[CoreTicks]) -> (Option<CpuTimes>, Vec<CpuTimes>) {
        if ticks.len() == self.last.len() {
            for ((wide, last), now) in self.wide.iter_mut().zip(&mut self.last).zip(ticks) {
                for k in 0..CPU_STATES {
                    wide[k] = wide[k].wrapping_add(u64::from(now[k].wrapping_sub(last[k])));
                }
                *last = *now;
            }
        } else {
            self.last = ticks.to_vec();
            self.wide = ticks.iter().map(|t| t.map(u64::from)).collect();
        }
        let times = |w: &[u64; CPU_STATES]| CpuTimes {
            user: w[CPU_STATE_USER],
            nice: w[CPU_STATE_NICE],
            system: w[CPU_STATE_SYSTEM],
            idle: w[CPU_STATE_IDLE],
            ..CpuTimes::default()
        };
        let cores: Vec<CpuTimes> = self.wide.iter().map(times).collect();
        let total = (!cores.is_empty()).then(|| {
            cores.iter().fold(CpuTimes::default(), |a, c| CpuTimes {
                user: a.user.saturating_add(c.user),
                nice: a.nice.saturating_add(c.nice),
                system: a.system.saturating_add(c.system),
                idle: a.idle.saturating_add(c.idle),
                ..a
            })
        });
        (total, cores)
    }
}

/// `struct vm_statistics64` (`<mach/vm_statistics.h>`, 64-bit Darwin), as far
/// as `HOST_VM_INFO64_REV1_COUNT` (38 `integer_t`s, 152 bytes), which every
/// macOS since 10.9 fills. `natural_t` is `u32`; the struct is
/// `__attribute__((aligned(8)))`. Page counts are in kernel pages
/// (`vm_kernel_page_size`: 16 KiB on Apple Silicon, 4 KiB on Intel).
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct VmStatistics64 {
    pub(crate) free_count: u32,
    pub(crate) active_count: u32,
    pub(crate) inactive_count: u32,
    pub(crate) wire_count: u32,
    pub(crate) zero_fill_count: u64,
    pub(crate) reactivations: u64,
    pub(crate) pageins: u64,
    pub(crate) pageouts: u64,
    pub(crate) faults: u64,
    pub(crate) cow_faults: u64,
    pub(crate) lookups: u64,
    pub(crate) hits: u64,
    pub(crate) purges: u64,
    pub(crate) purgeable_count: u32,
    pub(crate) speculative_count: u32,
    pub(crate) decompressions: u64,
    pub(crate) compressions: u64,
    pub(crate) swapins: u64,
    pub(crate) swapouts: u64,
    pub(crate) compressor_page_count: u32,
    pub(crate) throttled_count: u32,
    /// File-backed pages.
    pub(crate) external_page_count: u32,
    /// Anonymous pages.
    pub(crate) internal_page_count: u32,
    pub(crate) total_uncompressed_pages_in_compressor: u64,
}

/// The `count` to pass `host_statistics64(HOST_VM_INFO64)` for
/// `VmStatistics64`, in `integer_t`s (`HOST_VM_INFO64_REV1_COUNT`).
pub(crate) const HOST_VM_INFO64_COUNT: u32 = (size_of::<VmStatistics64>() / 4) as u32;

/// `struct xsw_usage` (`<sys/sysctl.h>`, the `vm.swapusage` sysctl): bytes;
/// `boolean_t` is a 32-bit int. 32 bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct XswUsage {
    pub(crate) xsu_total: u64,
    pub(crate) xsu_avail: u64,
    pub(crate) xsu_used: u64,
    pub(crate) xsu_pagesize: u32,
    pub(crate) xsu_encrypted: i32,
}

/// Memory gauges from `hw.memsize` (`total`, bytes), `host_statistics64`
/// page counts × the kernel's page size, and `vm.swapusage`.
///
/// Available is what Activity Monitor does not count as "Memory Used":
/// `total − (app + wired + compressed)`, with app memory = anonymous pages
/// that are not purgeable (`internal_page_count − purgeable_count`), wired =
/// `wire_count`, compressed = `compressor_page_count` (the pages the
/// compressor occupies). So free, file-backed and purgeable pages count as
/// available, as they do in `MemAvailable` on Linux. Cached = file-backed
/// pages (`external_page_count`). Dirty pages are not reported (`None`).
/// `None` without the total.
pub(crate) fn mem_counters(
    total: Option<u64>,
    vm: Option<&VmStatistics64>,
    page_size: u64,
    swap: Option<&XswUsage>,
) -> Option<MemCounters> {
    let total = total.filter(|&t| t > 0)?;
    let vm = vm.filter(|_| page_size > 0);
    let pages = |n: u64| n.saturating_mul(page_size);
    let used = vm.map(|v| {
        let app = u64::from(v.internal_page_count).saturating_sub(u64::from(v.purgeable_count));
        pages(
            app.saturating_add(u64::from(v.wire_count))
                .saturating_add(u64::from(v.compressor_page_count)),
        )
    });
    Some(MemCounters {
        total: Some(total),
        available: used.map(|u| total.saturating_sub(u)),
        cached: vm.map(|v| pages(u64::from(v.external_page_count))),
        dirty: None,
        swap_total: swap.map(|s| s.xsu_total),
        swap_free: swap.map(|s| s.xsu_avail.min(s.xsu_total)),
    })
}

/// `struct loadavg` (`<sys/resource.h>`, the `vm.loadavg` sysctl):
/// `fixpt_t ldavg[3]` (`u32`) then `long fscale` (64-bit), 24 bytes with the
/// padding.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Loadavg {
    pub(crate) ldavg: [u32; 3],
    pub(crate) fscale: i64,
}

/// `struct processor_set_load_info` (`<mach/processor_info.h>`,
/// `processor_set_statistics(PROCESSOR_SET_LOAD_INFO)`): four `integer_t`s.
/// `thread_count` is every thread on the machine, the kernel's included.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ProcessorSetLoadInfo {
    pub(crate) task_count: i32,
    pub(crate) thread_count: i32,
    pub(crate) load_average: i32,
    pub(crate) mach_factor: i32,
}

/// `PROCESSOR_SET_LOAD_INFO_COUNT`, in `integer_t`s.
pub(crate) const PROCESSOR_SET_LOAD_INFO_COUNT: u32 =
    (size_of::<ProcessorSetLoadInfo>() / 4) as u32;

/// Load averages from `vm.loadavg`: each fixed-point value divided by
/// `fscale`, rounded to 0.01 (what `/proc/loadavg` and `uptime` show). Threads
/// from `processor_set_load_info` when read (negative = not). macOS counts no
/// runnable threads anywhere cheap: `running` is `None`. `None` when `fscale`
/// is not positive.
pub(crate) fn load_avg(raw: &Loadavg, set: Option<&ProcessorSetLoadInfo>) -> Option<LoadAvg> {
    if raw.fscale <= 0 {
        return None;
    }
    let avg = |v: u32| (f64::from(v) / raw.fscale as f64 * 100.0).round() / 100.0;
    Some(LoadAvg {
        one: avg(raw.ldavg[0]),
        five: avg(raw.ldavg[1]),
        fifteen: avg(raw.ldavg[2]),
        running: None,
        threads: set.and_then(|s| u64::try_from(s.thread_count).ok()),
    })
}

/// One `IOBlockStorageDriver`'s `Statistics` dictionary: `Bytes (Read)`,
/// `Bytes (Write)`, `Operations (Read)`, `Operations (Write)` (cumulative
/// since the disk attached), `None` where a key is missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BlockStats {
    /// The driver's IORegistry entry ID (never reused within a boot).
    pub(crate) id: u64,
    pub(crate) read_bytes: Option<u64>,
    pub(crate) write_bytes: Option<u64>,
    pub(crate) reads: Option<u64>,
    pub(crate) writes: Option<u64>,
}

/// Storage traffic of the block storage drivers (one per whole disk, as
/// `iostat` counts them), each driver's fed to `totals` by its entry ID; the
/// running totals. A driver missing any of the four counters is left out.
/// `None` when no driver has them.
pub(crate) fn disk_counters(
    drivers: impl IntoIterator<Item = BlockStats>,
    totals: &mut DeviceTotals<4>,
) -> Option<DiskCounters> {
    let mut any = false;
    for d in drivers {
        let (Some(rb), Some(wb), Some(r), Some(w)) =
            (d.read_bytes, d.write_bytes, d.reads, d.writes)
        else {
            continue;
        };
        any = true;
        totals.add(d.id, [rb, wb, r, w]);
    }
    let [read_bytes, write_bytes, reads, writes] = totals.finish();
    any.then_some(DiskCounters {
        read_bytes,
        write_bytes,
        reads,
        writes,
    })
}

/// `struct if_data64` (`<net/if_var.h>`, under `#pragma pack(4)`): 64-bit
/// interface counters, 128 bytes. Declared for its layout only: the parser
/// locates fields with `offset_of!` and reads them from the bytes.
#[allow(dead_code)]
#[repr(C, packed(4))]
pub(crate) struct IfData64 {
    ifi_type: u8,
    ifi_typelen: u8,
    ifi_physical: u8,
    ifi_addrlen: u8,
    ifi_hdrlen: u8,
    ifi_recvquota: u8,
    ifi_xmitquota: u8,
    ifi_unused1: u8,
    ifi_mtu: u32,
    ifi_metric: u32,
    ifi_baudrate: u64,
    ifi_ipackets: u64,
    ifi_ierrors: u64,
    ifi_opackets: u64,
    ifi_oerrors: u64,
    ifi_collisions: u64,
    ifi_ibytes: u64,
    ifi_obytes: u64,
    ifi_imcasts: u64,
    ifi_omcasts: u64,
    ifi_iqdrops: u64,
    ifi_noproto: u64,
    ifi_recvtiming: u32,
    ifi_xmittiming: u32,
    /// `struct timeval32`: two 32-bit ints.
    ifi_lastchange: [i32; 2],
}

/// `struct if_msghdr2` (`<net/if.h>`, under `#pragma pack(4)`): the
/// `RTM_IFINFO2` message of the `NET_RT_IFLIST2` sysctl, 160 bytes, followed by
/// the interface's `sockaddr_dl` (inside `ifm_msglen`). Layout only, as
/// `IfData64`.
#[allow(dead_code)]
#[repr(C, packed(4))]
pub(crate) struct IfMsghdr2 {
    ifm_msglen: u16,
    ifm_version: u8,
    ifm_type: u8,
    ifm_addrs: i32,
    ifm_flags: i32,
    ifm_index: u16,
    ifm_snd_len: i32,
    ifm_snd_maxlen: i32,
    ifm_snd_drops: i32,
    ifm_timer: i32,
    ifm_data: IfData64,
}

/// `<net/route.h>` `RTM_IFINFO2`.
pub(crate) const RTM_IFINFO2: u8 = 0x12;
/// `<net/if_types.h>` `IFT_LOOP`: the loopback interface (`lo0`).
pub(crate) const IFT_LOOP: u8 = 0x18;

/// Received and sent bytes of every interface but loopback, from the buffer
/// the `NET_RT_IFLIST2` sysctl fills: a run of routing messages, each starting
/// with its length (`u16`) and type (`u8` at offset 3); the `RTM_IFINFO2`
/// ones carry an interface's 64-bit counters (`if_data64`: the 32-bit
/// `if_data` that `getifaddrs` gives wraps every 4 GiB). Other messages (the
/// interfaces' multicast addresses) are skipped. `None` when no interface
/// message is there; a truncated message ends the walk.
pub(crate) fn parse_iflist2(buf: &[u8], totals: &mut DeviceTotals<2>) -> Option<NetCounters> {
    use std::mem::offset_of;
    const DATA: usize = offset_of!(IfMsghdr2, ifm_data);
    const TYPE: usize = DATA + offset_of!(IfData64, ifi_type);
    const IBYTES: usize = DATA + offset_of!(IfData64, ifi_ibytes);
    const OBYTES: usize = DATA + offset_of!(IfData64, ifi_obytes);
    let u64_at = |msg: &[u8], at: usize| -> Option<u64> {
        Some(u64::from_ne_bytes(msg.get(at..at + 8)?.try_into().ok()?))
    };
    const INDEX: usize = offset_of!(IfMsghdr2, ifm_index);
    let mut any = false;
    let mut rest = buf;
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        if len < 4 || len > rest.len() {
            break;
        }
        let (msg, tail) = rest.split_at(len);
        rest = tail;
        if msg[3] != RTM_IFINFO2 || len < size_of::<IfMsghdr2>() {
            continue;
        }
        any = true;
        if msg[TYPE] == IFT_LOOP {
            continue;
        }
        let (Some(rx), Some(tx)) = (u64_at(msg, IBYTES), u64_at(msg, OBYTES)) else {
            continue;
        };
        // By interface index (a recycled index starts its counters low,
        // which `DeviceTotals` reads as a reset).
        let index = u16::from_ne_bytes([msg[INDEX], msg[INDEX + 1]]);
        totals.add(u64::from(index), [rx, tx]);
    }
    let [rx_bytes, tx_bytes] = totals.finish();
    any.then_some(NetCounters { rx_bytes, tx_bytes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{Previous, derive};
    use crate::config::Config;
    use crate::model::{Band, Resource};
    use crate::platform::RawMachine;
    use crate::score::{Capacity, score_all};

    #[test]
    fn timebase_is_laid_out_like_mach_timebase_info() {
        assert_eq!(std::mem::size_of::<Timebase>(), 8);
        assert_eq!(std::mem::align_of::<Timebase>(), 4);
    }

    #[test]
    fn timebase_math() {
        let tb = Timebase::APPLE_SILICON;
        assert_eq!(tb.ticks_to_ns(3), 125);
        assert_eq!(tb.ticks_to_ns(24_000_000), 1_000_000_000, "24 MHz = 1 s");
        assert_eq!(tb.ticks_to_ns(1), 41, "truncates");
        assert_eq!(tb.ticks_to_ns(0), 0);
        // No overflow in the product: u64::MAX ticks × 125 needs 128 bits.
        assert_eq!(tb.ticks_to_ns(u64::MAX / 125 * 3), u64::MAX / 125 * 125);
        assert_eq!(tb.ticks_to_ns(u64::MAX), u64::MAX, "saturates");
        assert_eq!(Timebase::NANOSECONDS.ticks_to_ns(777), 777);
        assert_eq!(Timebase { numer: 0, denom: 0 }.ticks_to_ns(5), 5);
        assert_eq!(Timebase::default(), Timebase::NANOSECONDS);
    }

    #[test]
    fn states() {
        assert_eq!(state_from_status(SRUN, Some(2)), ProcessState::Running);
        assert_eq!(state_from_status(SRUN, Some(0)), ProcessState::Sleeping);
        assert_eq!(state_from_status(SRUN, None), ProcessState::Running);
        assert_eq!(state_from_status(SIDL, None), ProcessState::Running);
        assert_eq!(state_from_status(SSLEEP, None), ProcessState::Sleeping);
        assert_eq!(state_from_status(SSTOP, Some(0)), ProcessState::Stopped);
        assert_eq!(state_from_status(SZOMB, None), ProcessState::Zombie);
        assert_eq!(state_from_status(99, None), ProcessState::Unknown);
    }

    #[test]
    fn names_and_commands() {
        let mut comm = [0u8; 16];
        comm[..6].copy_from_slice(b"Safari");
        assert_eq!(c_name(&comm), "Safari");
        assert_eq!(c_name(b"no-nul"), "no-nul");
        assert_eq!(c_name(&[0xff, b'x', 0, b'y']), "\u{fffd}x");

        let bsd = RawBsdInfo {
            comm: "com.apple.WebKi".into(),
            name: "com.apple.WebKit.WebContent".into(),
            ..Default::default()
        };
        let path = "/System/Library/WebKit.WebContent".to_string();
        assert_eq!(
            choose_command(7, Some("python3 -c x".into()), Some(path.clone()), &bsd),
            "python3 -c x"
        );
        assert_eq!(choose_command(7, None, Some(path.clone()), &bsd), path);
        assert_eq!(
            choose_command(7, None, Some(String::new()), &bsd),
            "com.apple.WebKit.WebContent"
        );
        let only_comm = RawBsdInfo {
            comm: "launchd".into(),
            ..Default::default()
        };
        assert_eq!(choose_command(1, None, None, &only_comm), "launchd");
        assert_eq!(choose_command(9, None, None, &RawBsdInfo::default()), "[9]");
    }

    fn procargs(argc: i32, body: &[u8]) -> Vec<u8> {
        let mut buf = argc.to_ne_bytes().to_vec();
        buf.extend_from_slice(body);
        buf
    }

    #[test]
    fn procargs2_parsing() {
        let buf = procargs(
            3,
            b"/usr/bin/python3\0\0\0\0python3\0-c\0while True: pass\0HOME=/Users/x\0SECRET=1\0",
        );
        assert_eq!(
            parse_procargs2(&buf).as_deref(),
            Some("python3 -c while True: pass"),
            "the environment is never read"
        );
        // Truncated after the arguments: still fine.
        let buf = procargs(2, b"/bin/sleep\0sleep\x00100");
        assert_eq!(parse_procargs2(&buf).as_deref(), Some("sleep 100"));
        assert_eq!(parse_procargs2(&procargs(0, b"/bin/x\0\0")), None);
        assert_eq!(parse_procargs2(&procargs(-1, b"")), None);
        assert_eq!(parse_procargs2(&procargs(1, b"/bin/x")), None);
        assert_eq!(parse_procargs2(b"\x01\0"), None);
        assert_eq!(parse_procargs2(b""), None);
    }

    #[test]
    fn creator_strings() {
        assert_eq!(parse_creator_pid("pid 123, Safari"), Some(123));
        assert_eq!(parse_creator_pid("pid 0, kernel_task"), Some(0));
        assert_eq!(parse_creator_pid("pid 4567"), Some(4567));
        assert_eq!(parse_creator_pid("  pid 88, a, b"), Some(88));
        assert_eq!(parse_creator_pid("pid , x"), None);
        assert_eq!(parse_creator_pid("WindowServer"), None);
        assert_eq!(parse_creator_pid(""), None);
        assert_eq!(parse_creator_pid("pid 99999999999, x"), None);
    }

    #[test]
    fn gpu_time_sums_clients_and_app_usage() {
        let ws: &[u64] = &[1_000, 2_000];
        let ws2: &[u64] = &[500];
        let safari: &[u64] = &[7];
        let none: &[u64] = &[];
        let by_pid = gpu_time_by_pid([
            ("pid 150, WindowServer", ws),
            ("pid 150, WindowServer", ws2),
            ("pid 900, Safari", safari),
            ("pid 901, idle", none),
            ("garbage", ws),
        ]);
        assert_eq!(by_pid.get(&150), Some(&3_500));
        assert_eq!(by_pid.get(&900), Some(&7));
        assert_eq!(by_pid.get(&901), Some(&0), "a client with no usage yet");
        assert_eq!(by_pid.len(), 3);
        let huge: &[u64] = &[u64::MAX, 1];
        assert_eq!(gpu_time_by_pid([("pid 1, x", huge)])[&1], u64::MAX);
    }

    fn rusage_at(t: u64) -> RawRusage {
        // `t` seconds into a busy process on Apple Silicon (24M ticks a second).
        RawRusage {
            user_time: 18_000_000 * t,
            system_time: 6_000_000 * t,
            child_user_time: 0,
            child_system_time: 0,
            pkg_idle_wkups: 40 * t,
            interrupt_wkups: 10 * t,
            pageins: 3 * t,
            phys_footprint: 512 << 20,
            diskio_bytesread: 1_000_000 * t,
            diskio_byteswritten: 3_000_000 * t,
            cpu_time_qos_user_interactive: 12_000_000 * t,
            lifetime_max_phys_footprint: 600 << 20,
            instructions: 6_000_000_000 * t,
            cycles: 2_000_000_000 * t,
            billed_energy: 2_000_000_000 * t,
            runnable_time: 2_400_000 * t,
        }
    }

    fn task_at(t: u64) -> RawTaskInfo {
        let t = t as i32;
        RawTaskInfo {
            resident_size: 400 << 20,
            total_user: 18_000_000 * t as u64,
            total_system: 6_000_000 * t as u64,
            faults: 1000 * t,
            pageins: 3 * t,
            messages_sent: 70 * t,
            messages_received: 30 * t,
            syscalls_mach: 200 * t,
            syscalls_unix: 300 * t,
            csw: 500 * t,
            threadnum: 12,
            numrunning: 1,
            priority: 46,
        }
    }

    fn reading(t: u64) -> DarwinReading {
        DarwinReading {
            pid: 4242,
            bsd: RawBsdInfo {
                status: SRUN,
                comm: "render".into(),
                name: "render".into(),
                start_tvsec: 1_700_000_000,
                start_tvusec: 250_000,
                ppid: 1,
                uid: 501,
            },
            command: "/Applications/Render.app/Contents/MacOS/render".into(),
            rusage: Some(rusage_at(t)),
            task: Some(task_at(t)),
            gpu_time_ns: Some(900_000_000 * t),
        }
    }

    #[test]
    fn raw_process_from_readings() {
        let raw = to_raw_process(reading(10), Timebase::APPLE_SILICON, 5000.0);
        assert_eq!(raw.pid, 4242);
        assert_eq!(raw.start_time_ms, 1_700_000_000_250);
        assert_eq!(raw.state, ProcessState::Running);
        assert_eq!(raw.priority, Some(46));
        assert_eq!(raw.uid, Some(501));
        // 240M ticks × 125/3 = 10 s of CPU.
        assert_eq!(raw.cpu_time_ns, Some(10_000_000_000));
        assert_eq!(raw.resident_bytes, Some(512 << 20), "phys footprint");
        assert_eq!(raw.pageins, Some(30));
        assert_eq!(raw.faults, Some(10_000));
        assert_eq!(raw.disk_bytes, Some(40_000_000));
        assert_eq!(raw.syscalls, Some(5_000));
        assert_eq!(raw.threads, Some(12));
        assert_eq!(raw.mach_msgs, Some(1_000));
        assert_eq!(raw.instructions, Some(60_000_000_000));
        assert_eq!(raw.cycles, Some(20_000_000_000));
        assert_eq!(raw.energy_nj, Some(20_000_000_000));
        assert_eq!(raw.qos_interactive_ns, Some(5_000_000_000));
        assert_eq!(raw.gpu_time_ns, Some(9_000_000_000));
        let deep = raw.deep.unwrap();
        assert_eq!(deep.read_at, 5000.0);
        assert_eq!(deep.csw, Some(5_000));
        assert_eq!(deep.wakeups, Some(500));
        assert_eq!(deep.runnable_ns, Some(1_000_000_000));
        assert_eq!(deep.peak_resident_bytes, Some(600 << 20));
        assert_eq!(deep.cgroup, None);
    }

    #[test]
    fn other_users_process_keeps_identity_and_state() {
        // EPERM for rusage and task info: bsdinfo alone.
        let mut r = reading(1);
        r.rusage = None;
        r.task = None;
        r.gpu_time_ns = None;
        let raw = to_raw_process(r, Timebase::APPLE_SILICON, 1.0);
        assert_eq!(raw.start_time_ms, 1_700_000_000_250);
        assert_eq!(raw.state, ProcessState::Running);
        assert_eq!(
            raw.command,
            "/Applications/Render.app/Contents/MacOS/render"
        );
        assert_eq!(raw.cpu_time_ns, None);
        assert_eq!(raw.resident_bytes, None);
        assert_eq!(raw.mach_msgs, None);
        assert_eq!(raw.energy_nj, None);
        assert_eq!(raw.gpu_time_ns, None);
        let deep = raw.deep.unwrap();
        assert_eq!(
            (deep.csw, deep.wakeups, deep.runnable_ns),
            (None, None, None)
        );
    }

    #[test]
    fn task_info_alone_gives_converted_cpu_and_counters() {
        let mut r = reading(10);
        r.rusage = None;
        let raw = to_raw_process(r, Timebase::APPLE_SILICON, 1.0);
        assert_eq!(
            raw.cpu_time_ns,
            Some(10_000_000_000),
            "pti_total_* are ticks"
        );
        assert_eq!(raw.resident_bytes, Some(400 << 20));
        assert_eq!(raw.pageins, Some(30));
        assert_eq!(raw.disk_bytes, None);
        assert_eq!(raw.instructions, None);
    }

    #[test]
    fn missing_hardware_counters_are_none_not_zero() {
        let mut r = reading(10);
        if let Some(u) = r.rusage.as_mut() {
            u.instructions = 0;
            u.cycles = 0;
            u.billed_energy = 0;
        }
        let raw = to_raw_process(r, Timebase::NANOSECONDS, 1.0);
        assert_eq!(
            (raw.instructions, raw.cycles, raw.energy_nj),
            (None, None, None)
        );
        // A process that has not run yet really has zero of everything.
        let mut r = reading(0);
        r.gpu_time_ns = None;
        let raw = to_raw_process(r, Timebase::NANOSECONDS, 1.0);
        assert_eq!((raw.instructions, raw.energy_nj), (Some(0), Some(0)));
    }

    #[test]
    fn wrapped_task_counters_read_as_unsigned() {
        let mut r = reading(1);
        r.rusage = None;
        if let Some(t) = r.task.as_mut() {
            t.faults = i32::MIN; // 2^31 faults
        }
        let raw = to_raw_process(r, Timebase::NANOSECONDS, 1.0);
        assert_eq!(raw.faults, Some(1 << 31));
    }

    /// Two scans one second apart, through `collect::derive` and `score`.
    fn scored_pair(
        first: DarwinReading,
        second: DarwinReading,
    ) -> (crate::model::ProcessScore, Previous) {
        let (_, prev) = derive(
            &to_raw_process(first, Timebase::APPLE_SILICON, 100.0),
            None,
            100.0,
        );
        let (mut p, next) = derive(
            &to_raw_process(second, Timebase::APPLE_SILICON, 101.0),
            Some(&prev),
            101.0,
        );
        let cfg = Config::default();
        let cap = Capacity {
            cpu_count: 8,
            mem_total_bytes: Some(16 << 30),
        };
        score_all(std::slice::from_mut(&mut p), &cap, &cfg.scoring, &cfg.bands);
        (p, next)
    }

    #[test]
    fn macos_fields_reach_process_score_with_rates_and_gpu_share() {
        let (p, _) = scored_pair(reading(10), reading(11));
        let cur = |m: Option<crate::model::MetricValue>| m.map(|m| m.current);
        // One second of CPU in one second: 100 % of one core.
        assert_eq!(cur(p.cpu), Some(100.0));
        assert_eq!(cur(p.mem), Some((512u64 << 20) as f64));
        assert_eq!(cur(p.mem_peak), Some((600u64 << 20) as f64));
        assert_eq!(cur(p.mach_msgs), Some(1_100.0));
        assert_eq!(cur(p.mach_msgs_rate), Some(100.0));
        assert_eq!(cur(p.instructions), Some(66e9));
        assert_eq!(cur(p.cycles), Some(22e9));
        assert_eq!(cur(p.ipc), Some(3.0));
        assert_eq!(cur(p.energy), Some(22e9));
        assert_eq!(cur(p.energy_rate), Some(2e9), "2 J/s = 2 W in nJ/s");
        assert_eq!(cur(p.qos_interactive), Some(5.5e9));
        assert_eq!(cur(p.qos_interactive_rate), Some(0.5e9));
        assert_eq!(cur(p.wakeups_rate), Some(50.0));
        assert_eq!(cur(p.csw_rate), Some(500.0));
        assert_eq!(cur(p.runnable_time_rate), Some(1e8));
        assert_eq!(cur(p.syscalls_rate), Some(500.0));
        assert_eq!(cur(p.disk_io_rate), Some(4e6));
        assert_eq!(cur(p.gpu_time), Some(9.9e9));
        assert_eq!(cur(p.gpu_time_rate), Some(0.9e9));
        assert_eq!(p.cgroup, None);
        // 0.9 s of GPU per second against one GPU: 90 fair shares, dominant.
        assert_eq!(p.gpu_share, Some(90.0));
        assert_eq!(p.dominant_resource, Resource::Gpu);
        assert!(p.band >= Band::High, "{}", p.score);
    }

    #[test]
    fn no_gpu_client_means_null_gpu_and_share() {
        let mut a = reading(10);
        let mut b = reading(11);
        a.gpu_time_ns = None;
        b.gpu_time_ns = None;
        let (p, _) = scored_pair(a, b);
        assert_eq!(p.gpu_time, None);
        assert_eq!(p.gpu_time_rate, None);
        assert_eq!(p.gpu_share, None);
        assert_eq!(p.dominant_resource, Resource::Cpu);
    }

    #[test]
    fn machine_structs_are_laid_out_like_the_darwin_headers() {
        use std::mem::{align_of, offset_of};
        assert_eq!(size_of::<CoreTicks>(), 16);
        // vm_statistics64 up to HOST_VM_INFO64_REV1_COUNT.
        assert_eq!(size_of::<VmStatistics64>(), 152);
        assert_eq!(align_of::<VmStatistics64>(), 8);
        assert_eq!(HOST_VM_INFO64_COUNT, 38);
        assert_eq!(offset_of!(VmStatistics64, wire_count), 12);
        assert_eq!(offset_of!(VmStatistics64, zero_fill_count), 16);
        assert_eq!(offset_of!(VmStatistics64, purgeable_count), 88);
        assert_eq!(offset_of!(VmStatistics64, speculative_count), 92);
        assert_eq!(offset_of!(VmStatistics64, compressor_page_count), 128);
        assert_eq!(offset_of!(VmStatistics64, external_page_count), 136);
        assert_eq!(offset_of!(VmStatistics64, internal_page_count), 140);
        assert_eq!(
            offset_of!(VmStatistics64, total_uncompressed_pages_in_compressor),
            144
        );
        assert_eq!(size_of::<XswUsage>(), 32);
        assert_eq!(offset_of!(XswUsage, xsu_pagesize), 24);
        assert_eq!(size_of::<Loadavg>(), 24);
        assert_eq!(offset_of!(Loadavg, fscale), 16);
        assert_eq!(size_of::<ProcessorSetLoadInfo>(), 16);
        assert_eq!(PROCESSOR_SET_LOAD_INFO_COUNT, 4);
        assert_eq!(size_of::<IfData64>(), 128);
        assert_eq!(offset_of!(IfData64, ifi_baudrate), 16);
        assert_eq!(offset_of!(IfData64, ifi_ibytes), 64);
        assert_eq!(offset_of!(IfData64, ifi_obytes), 72);
        assert_eq!(size_of::<IfMsghdr2>(), 160);
        assert_eq!(offset_of!(IfMsghdr2, ifm_index), 12);
        assert_eq!(offset_of!(IfMsghdr2, ifm_snd_len), 16);
        assert_eq!(offset_of!(IfMsghdr2, ifm_data), 32);
    }

    #[test]
    fn cpu_ticks_sum_over_cores_and_survive_a_wrap() {
        let mut c = CpuTickCounters::default();
        // user, system, idle, nice
        let (total, cores) = c.update(&[[10, 5, 80, 1], [20, 10, 60, 0]]);
        let total = total.unwrap();
        assert_eq!(
            (total.user, total.system, total.idle, total.nice),
            (30, 15, 140, 1)
        );
        assert_eq!((total.iowait, total.irq, total.steal), (0, 0, 0));
        assert_eq!(cores.len(), 2);
        assert_eq!((cores[1].user, cores[1].idle), (20, 60));
        // Core 0's idle counter wraps past 2^32: 20 more ticks, not a drop.
        let mut c = CpuTickCounters::default();
        c.update(&[[0, 0, u32::MAX - 9, 0]]);
        let (total, cores) = c.update(&[[0, 0, 10, 0]]);
        assert_eq!(cores[0].idle, u64::from(u32::MAX) + 11);
        assert_eq!(total.unwrap().idle, u64::from(u32::MAX) + 11);
        // A core went away: start over from this reading.
        let (total, cores) = c.update(&[[1, 2, 3, 4], [5, 6, 7, 8]]);
        assert_eq!(cores.len(), 2);
        assert_eq!(total.unwrap().idle, 10);
        assert_eq!(c.update(&[]), (None, Vec::new()));
    }

    fn vm(
        free: u32,
        wired: u32,
        internal: u32,
        purgeable: u32,
        external: u32,
        compressor: u32,
    ) -> VmStatistics64 {
        VmStatistics64 {
            free_count: free,
            wire_count: wired,
            internal_page_count: internal,
            purgeable_count: purgeable,
            external_page_count: external,
            compressor_page_count: compressor,
            ..VmStatistics64::default()
        }
    }

    #[test]
    fn memory_pages_to_bytes_and_activity_monitors_available() {
        const PAGE: u64 = 16384;
        const GIB: u64 = 1 << 30;
        // 16 GiB: app memory 5 GiB (6 anonymous, 1 purgeable), wired 2 GiB,
        // compressed 1 GiB → 8 GiB used, 8 available; 4 GiB file-backed.
        let g = |n: u64| u32::try_from(n * GIB / PAGE).unwrap();
        let v = vm(g(3), g(2), g(6), g(1), g(4), g(1));
        let swap = XswUsage {
            xsu_total: 2 * GIB,
            xsu_avail: GIB + GIB / 2,
            xsu_used: GIB / 2,
            xsu_pagesize: 16384,
            xsu_encrypted: 1,
        };
        let m = mem_counters(Some(16 * GIB), Some(&v), PAGE, Some(&swap)).unwrap();
        assert_eq!(m.total, Some(16 * GIB));
        assert_eq!(m.available, Some(8 * GIB));
        assert_eq!(m.cached, Some(4 * GIB));
        assert_eq!(m.dirty, None, "not measurable on macOS");
        assert_eq!(
            (m.swap_total, m.swap_free),
            (Some(2 * GIB), Some(GIB + GIB / 2))
        );
        // Through the shared derive: used = total − available, swap used.
        let raw = RawMachine {
            mem: Some(m),
            ..RawMachine::default()
        };
        let s = crate::collect::system::derive(&raw, None, Default::default());
        let mem = s.memory.unwrap();
        assert_eq!(mem.used_bytes(), Some(8 * GIB));
        assert_eq!(mem.swap_used_bytes, Some(GIB / 2));
        // 4 KiB pages (Intel): the same counts are a quarter of the bytes.
        let m = mem_counters(Some(16 * GIB), Some(&v), 4096, None).unwrap();
        assert_eq!(m.available, Some(14 * GIB));
        assert_eq!((m.swap_total, m.swap_free), (None, None));
        // More purgeable than anonymous, or more used than total: clamped.
        let m = mem_counters(Some(GIB), Some(&vm(0, g(2), 1, 5, 0, 0)), PAGE, None).unwrap();
        assert_eq!(m.available, Some(0));
        // No statistics (or no page size): the total alone.
        let m = mem_counters(Some(GIB), None, PAGE, None).unwrap();
        assert_eq!((m.available, m.cached), (None, None));
        let m = mem_counters(Some(GIB), Some(&v), 0, None).unwrap();
        assert_eq!(m.available, None);
        assert_eq!(mem_counters(None, Some(&v), PAGE, None), None);
        assert_eq!(mem_counters(Some(0), Some(&v), PAGE, None), None);
    }

    #[test]
    fn fixed_point_load_averages() {
        // FSCALE is 1 << 11 on Darwin.
        let raw = Loadavg {
            ldavg: [3072, 2048, 1000],
            fscale: 2048,
        };
        let set = ProcessorSetLoadInfo {
            task_count: 400,
            thread_count: 2100,
            load_average: 0,
            mach_factor: 0,
        };
        let l = load_avg(&raw, Some(&set)).unwrap();
        assert_eq!((l.one, l.five, l.fifteen), (1.5, 1.0, 0.49));
        assert_eq!((l.running, l.threads), (None, Some(2100)));
        let l = load_avg(&raw, None).unwrap();
        assert_eq!(l.threads, None);
        let negative = ProcessorSetLoadInfo {
            thread_count: -1,
            ..set
        };
        assert_eq!(load_avg(&raw, Some(&negative)).unwrap().threads, None);
        let big = Loadavg {
            ldavg: [u32::MAX, 0, 0],
            fscale: 2048,
        };
        assert_eq!(load_avg(&big, None).unwrap().one, 2_097_152.0);
        for fscale in [0, -2048] {
            assert_eq!(
                load_avg(
                    &Loadavg {
                        ldavg: [1, 1, 1],
                        fscale
                    },
                    None
                ),
                None
            );
        }
    }

    #[test]
    fn disk_counters_sum_whole_disks() {
        let d = |id, rb, wb, r, w| BlockStats {
            id,
            read_bytes: Some(rb),
            write_bytes: Some(wb),
            reads: Some(r),
            writes: Some(w),
        };
        let partial = BlockStats {
            id: 9,
            read_bytes: Some(1 << 40),
            ..BlockStats::default()
        };
        let mut t = DeviceTotals::new();
        let first = disk_counters(
            [d(1, 4096, 8192, 1, 2), partial, d(2, 100, 0, 3, 0)],
            &mut t,
        );
        assert_eq!(first, Some(DiskCounters::default()), "a first reading");
        // Both moved; a disk image attached with a lifetime behind it does not
        // count until it moves.
        let sum = disk_counters(
            [
                d(1, 8192, 8192, 2, 2),
                partial,
                d(2, 200, 0, 4, 1),
                d(3, 1 << 40, 1 << 40, 9, 9),
            ],
            &mut t,
        )
        .unwrap();
        assert_eq!(
            (sum.read_bytes, sum.write_bytes, sum.reads, sum.writes),
            (4196, 0, 2, 1)
        );
        assert_eq!(disk_counters([partial], &mut t), None);
        assert_eq!(disk_counters([], &mut t), None);
    }

    /// One `RTM_IFINFO2` message as the kernel writes it: the header, then a
    /// `sockaddr_dl` (here 20 bytes of it).
    fn ifinfo2(ifi_type: u8, ibytes: u64, obytes: u64) -> Vec<u8> {
        let len = size_of::<IfMsghdr2>() + 20;
        let mut m = vec![0u8; len];
        m[..2].copy_from_slice(&u16::try_from(len).unwrap().to_ne_bytes());
        m[2] = 5; // RTM_VERSION
        m[3] = RTM_IFINFO2;
        m[32] = ifi_type;
        m[96..104].copy_from_slice(&ibytes.to_ne_bytes());
        m[104..112].copy_from_slice(&obytes.to_ne_bytes());
        m
    }

    #[test]
    fn interface_list_sums_every_interface_but_loopback() {
        const IFT_ETHER: u8 = 0x06;
        let mut buf = ifinfo2(IFT_LOOP, 1 << 40, 1 << 40);
        buf.extend(ifinfo2(IFT_ETHER, 5_000_000_000, 7));
        // An RTM_NEWMADDR2 message (a multicast address): skipped.
        let mut maddr = vec![0u8; 24];
        maddr[..2].copy_from_slice(&24u16.to_ne_bytes());
        maddr[3] = 0x13;
        buf.extend(&maddr);
        let mut utun = ifinfo2(0xd1, 1000, 2000); // a tunnel (utun)
        utun[std::mem::offset_of!(IfMsghdr2, ifm_index)] = 7;
        buf.extend(&utun);
        let mut t = DeviceTotals::new();
        assert_eq!(parse_iflist2(&buf, &mut t), Some(NetCounters::default()));
        // The same interfaces, each 5 GB and 7 bytes on: 64-bit counters.
        let mut later = ifinfo2(IFT_LOOP, 1 << 41, 1 << 41);
        later.extend(ifinfo2(IFT_ETHER, 10_000_000_000, 14));
        let mut utun = ifinfo2(0xd1, 5_000_001_000, 2007);
        utun[std::mem::offset_of!(IfMsghdr2, ifm_index)] = 7;
        later.extend(&utun);
        let n = parse_iflist2(&later, &mut t).unwrap();
        assert_eq!(
            (n.rx_bytes, n.tx_bytes),
            (10_000_000_000, 14),
            "64-bit counters, loopback left out"
        );
        // Only loopback: no traffic, but readable.
        let n = parse_iflist2(&ifinfo2(IFT_LOOP, 9, 9), &mut DeviceTotals::new()).unwrap();
        assert_eq!((n.rx_bytes, n.tx_bytes), (0, 0));
        // Truncated: the whole messages before the cut count.
        let mut t = DeviceTotals::new();
        let _ = parse_iflist2(&ifinfo2(IFT_ETHER, 0, 0), &mut t);
        let mut cut = ifinfo2(IFT_ETHER, 10, 20);
        cut.extend(&ifinfo2(IFT_ETHER, 1, 1)[..50]);
        assert_eq!(parse_iflist2(&cut, &mut t).unwrap().rx_bytes, 10);
        // A zero length never loops; nothing readable is None.
        let mut t = DeviceTotals::new();
        assert_eq!(parse_iflist2(&[0, 0, 5, RTM_IFINFO2, 0, 0], &mut t), None);
        assert_eq!(parse_iflist2(&maddr, &mut t), None);
        assert_eq!(parse_iflist2(&[], &mut t), None);
    }

    #[test]
    fn machine_readings_become_rates_through_the_shared_derive() {
        let mut ticks = CpuTickCounters::default();
        let (mut net_totals, mut disk_totals) = (DeviceTotals::new(), DeviceTotals::new());
        let mut reading = |ticks: &mut CpuTickCounters, cores: &[CoreTicks], rx: u64, disk: u64| {
            let (cpu, cores) = ticks.update(cores);
            let mut net = ifinfo2(0x06, rx, 0);
            net.extend(ifinfo2(IFT_LOOP, rx * 10, rx * 10));
            RawMachine {
                cpu,
                cores,
                net: parse_iflist2(&net, &mut net_totals),
                disk: disk_counters(
                    [BlockStats {
                        id: 1,
                        read_bytes: Some(disk),
                        write_bytes: Some(0),
                        reads: Some(disk / 4096),
                        writes: Some(0),
                    }],
                    &mut disk_totals,
                ),
                load: load_avg(
                    &Loadavg {
                        ldavg: [4096, 2048, 2048],
                        fscale: 2048,
                    },
                    None,
                ),
                ..RawMachine::default()
            }
        };
        let a = reading(&mut ticks, &[[100, 50, 800, 0], [0, 0, 1000, 0]], 1000, 0);
        // 100 ticks a core: core 0 ran 60 user, 20 system, 10 nice; core 1 idle.
        let b = reading(
            &mut ticks,
            &[[160, 70, 810, 10], [0, 0, 1100, 0]],
            4000,
            40960,
        );
        let s = crate::collect::system::derive(&b, Some((&a, 1.0)), Default::default());
        assert_eq!(s.cpu_count, 2);
        let cpu = s.cpu.unwrap();
        assert_eq!(
            (cpu.user, cpu.system, cpu.nice, cpu.idle),
            (30.0, 10.0, 5.0, 55.0)
        );
        assert_eq!((cpu.iowait, cpu.steal, cpu.busy()), (0.0, 0.0, 45.0));
        assert_eq!(s.cores[0].busy(), 90.0);
        assert_eq!(s.cores[1].busy(), 0.0);
        assert_eq!(s.net.unwrap().rx_bytes_per_s, 3000.0, "loopback left out");
        let d = s.disk.unwrap();
        assert_eq!((d.read_bytes_per_s, d.reads_per_s), (40960.0, 10.0));
        assert_eq!(s.load.unwrap().one, 2.0);
        assert_eq!(s.pressure, None, "no PSI on macOS");
    }
}
