//! Readings for the stall detectors: the two clocks, the machine's PSI
//! totals and the monitor's own counters (run delay, major faults, CPU-quota
//! throttling). Files are opened once and re-read with `pread`; a file that
//! does not exist here (no PSI, another OS) reads as `None`, never zero.

use super::raw::{DeviceTotals, device_id};
use super::{ClockReading, OwnCounters, PsiTotals};
use std::fs::File;
use std::os::unix::fs::FileExt;

fn clock_s(id: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock ids used are
    // supported by the target OS (a failure leaves it zero).
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Both clocks now: one that stops in suspend and one that does not.
pub fn clocks() -> ClockReading {
    #[cfg(target_os = "linux")]
    let (mono, boot) = (libc::CLOCK_MONOTONIC, libc::CLOCK_BOOTTIME);
    // macOS: UPTIME_RAW is mach_absolute_time (stops in sleep), MONOTONIC_RAW
    // is mach_continuous_time (keeps counting).
    #[cfg(target_os = "macos")]
    let (mono, boot) = (libc::CLOCK_UPTIME_RAW, libc::CLOCK_MONOTONIC_RAW);
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    let (mono, boot) = (libc::CLOCK_MONOTONIC, libc::CLOCK_MONOTONIC);
    ClockReading {
        monotonic_s: clock_s(mono),
        boottime_s: clock_s(boot),
    }
}

/// Read a kept file from offset 0 into `buf`.
fn read_kept(f: &File, buf: &mut Vec<u8>) -> Option<()> {
    buf.clear();
    buf.resize(4096, 0);
    let n = f.read_at(buf, 0).ok()?;
    buf.truncate(n);
    Some(())
}

/// Where the monitor's cgroup keeps its CPU-quota throttling, and in what unit.
#[derive(Debug)]
enum CpuStat {
    /// cgroup v2 `cpu.stat` `throttled_usec`.
    V2(File),
    /// cgroup v1 `cpu.stat` `throttled_time` (ns).
    V1(File),
}

/// Kept files for the stall detectors' per-sample readings.
#[derive(Debug, Default)]
pub struct StallProbe {
    /// `/proc/pressure/{cpu,memory,io}`.
    psi: [Option<File>; 3],
    schedstat: Option<File>,
    stat: Option<File>,
    /// `/proc/self/cgroup`, re-read each sample: the monitor can be moved
    /// to another cgroup while it runs (`cgclassify`, a service manager).
    self_cgroup: Option<File>,
    /// Its text when `cpu_stat` was opened.
    cgroup_text: Vec<u8>,
    /// The `cpu.stat` of the cgroup the monitor is in, keyed by its path.
    cpu_stat: Option<(u64, CpuStat)>,
    /// Throttled time summed over the cgroups the monitor has been in, each
    /// counted while the monitor was there (one device a reading: the file
    /// it leaves is read a last time, the one it enters adds nothing).
    throttled: DeviceTotals<1>,
    buf: Vec<u8>,
}

impl StallProbe {
    /// Open what this machine has (Linux: `/proc/pressure/*`, the monitor's
    /// own `schedstat`/`stat` and its cgroup's `cpu.stat`).
    pub fn open() -> StallProbe {
        #[cfg(target_os = "linux")]
        {
            let open = |p: &str| File::open(p).ok();
            let mut probe = StallProbe {
                psi: [
                    open("/proc/pressure/cpu"),
                    open("/proc/pressure/memory"),
                    open("/proc/pressure/io"),
                ],
                schedstat: open("/proc/thread-self/schedstat")
                    .or_else(|| open("/proc/self/schedstat")),
                stat: open("/proc/self/stat"),
                self_cgroup: open("/proc/self/cgroup"),
                buf: Vec::with_capacity(4096),
                ..StallProbe::default()
            };
            probe.follow_cgroup();
            probe
        }
        #[cfg(not(target_os = "linux"))]
        StallProbe::default()
    }

    /// Whether PSI is readable here.
    pub fn has_pressure(&self) -> bool {
        self.psi.iter().any(Option::is_some)
    }

    /// The machine's PSI totals now.
    pub fn pressure(&mut self) -> PsiTotals {
        let mut read = |i: usize| {
            let f = self.psi[i].as_ref()?;
            read_kept(f, &mut self.buf)?;
            super::parse_psi(std::str::from_utf8(&self.buf).ok()?)
        };
        PsiTotals {
            cpu: read(0),
            memory: read(1),
            io: read(2),
        }
    }

    /// The monitor's own counters now.
    pub fn own(&mut self) -> OwnCounters {
        let mut out = OwnCounters::default();
        if let Some(f) = &self.schedstat
            && read_kept(f, &mut self.buf).is_some()
        {
            out.run_delay_ns = std::str::from_utf8(&self.buf)
                .ok()
                .and_then(super::parse::parse_schedstat)
                .map(|s| s.wait_ns);
        }
        if let Some(f) = &self.stat
            && read_kept(f, &mut self.buf).is_some()
        {
            out.major_faults = super::parse::parse_stat(&self.buf).map(|s| s.majflt);
        }
        out.throttled_ns = self.throttled_total();
        out
    }

    /// The running throttled total (ns), or `None` when no cgroup the
    /// monitor is in reports one. A move to another cgroup between two
    /// readings counts the one left up to now and starts the new one from
    /// here, so two totals' difference is throttling the monitor was under.
    fn throttled_total(&mut self) -> Option<u64> {
        let mut measured = self.add_throttled();
        if self.follow_cgroup() {
            measured |= self.add_throttled();
        }
        let [total] = self.throttled.finish();
        measured.then_some(total)
    }

    /// Add the current cgroup's throttled time to the reading under way.
    fn add_throttled(&mut self) -> bool {
        let Some((id, stat)) = &self.cpu_stat else {
            return false;
        };
        let ns = match stat {
            CpuStat::V2(f) => read_kept(f, &mut self.buf)
                .and_then(|()| stat_value(&self.buf, "throttled_usec"))
                .map(|u| u.saturating_mul(1000)),
            CpuStat::V1(f) => {
                read_kept(f, &mut self.buf).and_then(|()| stat_value(&self.buf, "throttled_time"))
            }
        };
        let Some(ns) = ns else {
            return false;
        };
        self.throttled.add(*id, [ns]);
        true
    }

    /// Re-read `/proc/self/cgroup`; when it changed, open the new cgroup's
    /// `cpu.stat`. Whether it changed.
    fn follow_cgroup(&mut self) -> bool {
        let Some(f) = &self.self_cgroup else {
            return false;
        };
        if read_kept(f, &mut self.buf).is_none() || self.buf == self.cgroup_text {
            return false;
        }
        std::mem::swap(&mut self.cgroup_text, &mut self.buf);
        self.cpu_stat = std::str::from_utf8(&self.cgroup_text)
            .ok()
            .and_then(cpu_stat_of);
        true
    }
}

/// `key value` lines (cgroup `cpu.stat`): the value of `key`.
fn stat_value(buf: &[u8], key: &str) -> Option<u64> {
    std::str::from_utf8(buf).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// The `cpu.stat` of the cgroup named in `text` (`/proc/self/cgroup`), keyed
/// by its path: v2 (unified) when the cpu controller is there, else the v1
/// cpu controller's.
fn cpu_stat_of(text: &str) -> Option<(u64, CpuStat)> {
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.split(',').any(|c| c == "cpu") {
            for root in ["/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu"] {
                let file = format!("{root}{path}/cpu.stat");
                if let Ok(f) = File::open(&file) {
                    return Some((device_id(file.as_bytes()), CpuStat::V1(f)));
                }
            }
        }
        if controllers.is_empty() {
            let file = format!("/sys/fs/cgroup{path}/cpu.stat");
            if let Ok(f) = File::open(&file)
                && let Ok(meta) = f.metadata()
                && meta.is_file()
            {
                let mut buf = Vec::new();
                if read_kept(&f, &mut buf).is_some() && stat_value(&buf, "throttled_usec").is_some()
                {
                    return Some((device_id(file.as_bytes()), CpuStat::V2(f)));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_move_forward_together() {
        let a = clocks();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = clocks();
        let dm = b.monotonic_s - a.monotonic_s;
        let db = b.boottime_s - a.boottime_s;
        assert!(dm >= 0.019, "{dm}");
        assert!((db - dm).abs() < 0.01, "no suspend in 20 ms: {dm} vs {db}");
    }

    #[test]
    fn cgroup_cpu_stat_values() {
        let text = b"nr_periods 10\nnr_throttled 2\nthrottled_time 123456\n";
        assert_eq!(stat_value(text, "throttled_time"), Some(123_456));
        assert_eq!(stat_value(text, "throttled_usec"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_machines_pressure_and_own_counters() {
        let mut p = StallProbe::open();
        let own = p.own();
        assert!(own.run_delay_ns.is_some(), "schedstat of this thread");
        assert!(own.major_faults.is_some());
        if std::path::Path::new("/proc/pressure/memory").exists() {
            let psi = p.pressure();
            assert!(psi.memory.and_then(|m| m.some_us).is_some(), "{psi:?}");
            assert!(psi.cpu.and_then(|c| c.some_us).is_some());
        }
    }
}
