//! macOS (Darwin) conversion rules: raw libproc, sysctl and IOKit values become
//! `RawProcess`es.
//!
//! Owns everything of the macOS collector that is not a system call: the mach
//! timebase math, the mapping of `rusage_info_v4`, `proc_taskinfo` and
//! `proc_bsdinfo` fields onto `RawProcess` (DESIGN §3, macOS column), the
//! process-state mapping, the choice of command string (`KERN_PROCARGS2`
//! parsing included) and the per-process sum of IOKit GPU clients
//! (`IOUserClientCreator`, `AppUsage[].accumulatedGPUTime`). Plain code, compiled
//! and unit-tested on every platform; `platform::macos` only copies the values
//! the kernel returns into the structs below and hands them here.

use super::{DeepCounters, RawProcess};
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{Previous, derive};
    use crate::config::Config;
    use crate::model::{Band, Resource};
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
}
