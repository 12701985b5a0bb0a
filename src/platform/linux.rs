//! Linux process source: reads `/proc`, returns raw counters.
//!
//! Owns every `/proc` read of the sampling path; computes no rates and no scores.
//! Two tiers: the cheap pass reads `stat` and `io` of every process through file
//! descriptors kept open between samples (`pread` at offset 0 returns fresh
//! values); the deep pass reads `status`, `schedstat`, every thread's counters and
//! the cgroup for the few processes `collect` asks about. A vanished process or a
//! denied file is normal: the field is `None` and the process still appears.

use crate::collect::{DeepCounters, ProcessSource, RawProcess, SystemInfo};
use crate::platform::parse::{
    self, ProcStat, parse_cgroup, parse_io, parse_schedstat, parse_stat, parse_status,
};
use std::collections::HashMap;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Descriptors kept back from the process limit for everything else.
const FD_RESERVE: u64 = 256;

enum Slot {
    /// Open, read with `pread` each sample.
    Kept(File),
    /// Could not keep one (descriptor budget): open, read, close each sample.
    Reopen,
    /// The kernel refused (permission): the field stays unknown for this process.
    Denied,
}

struct Entry {
    start_ticks: u64,
    stat: Slot,
    io: Slot,
    command: String,
    deep: Option<DeepCounters>,
}

/// Reads `/proc` for `collect`.
pub struct LinuxSource {
    proc_root: std::path::PathBuf,
    entries: HashMap<u32, Entry>,
    boot_time_ms: u64,
    ns_per_tick: f64,
    page_size: u64,
    cpu_count: usize,
    fd_budget: u64,
    fds_kept: u64,
    buf: Vec<u8>,
    pids: Vec<u32>,
}

impl LinuxSource {
    pub fn new() -> std::io::Result<LinuxSource> {
        Self::with_root(Path::new("/proc"))
    }

    /// A source over another procfs mount (tests and containers).
    pub fn with_root(root: &Path) -> std::io::Result<LinuxSource> {
        let stat = std::fs::read_to_string(root.join("stat"))?;
        let boot_secs = parse::boot_time(&stat).ok_or_else(|| {
            std::io::Error::new(ErrorKind::InvalidData, "no btime line in /proc/stat")
        })?;
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let cpu_count = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(LinuxSource {
            proc_root: root.to_path_buf(),
            entries: HashMap::new(),
            boot_time_ms: boot_secs * 1000,
            ns_per_tick: 1e9 / if ticks > 0 { ticks as f64 } else { 100.0 },
            page_size: if page > 0 { page as u64 } else { 4096 },
            cpu_count,
            fd_budget: raise_fd_limit().saturating_sub(FD_RESERVE),
            fds_kept: 0,
            buf: vec![0; 4096],
            pids: Vec::new(),
        })
    }

    fn keep_or_reopen(&mut self, pid: u32, name: &str) -> Slot {
        if self.fds_kept >= self.fd_budget {
            return Slot::Reopen;
        }
        match File::open(self.proc_root.join(pid.to_string()).join(name)) {
            Ok(f) => {
                self.fds_kept += 1;
                Slot::Kept(f)
            }
            Err(e) if e.kind() == ErrorKind::PermissionDenied => Slot::Denied,
            Err(_) => Slot::Reopen,
        }
    }

    fn release(&mut self, entry: &Entry) {
        for slot in [&entry.stat, &entry.io] {
            if matches!(slot, Slot::Kept(_)) {
                self.fds_kept = self.fds_kept.saturating_sub(1);
            }
        }
    }

    /// Read one per-process file through its slot into `buf`; `None` if gone,
    /// denied or unreadable.
    fn read_slot(
        root: &Path,
        pid: u32,
        name: &str,
        slot: &Slot,
        buf: &mut Vec<u8>,
    ) -> Option<usize> {
        match slot {
            Slot::Kept(f) => read_at_zero(f, buf).ok(),
            Slot::Reopen => {
                let mut f = File::open(root.join(pid.to_string()).join(name)).ok()?;
                read_whole(&mut f, buf).ok()
            }
            Slot::Denied => None,
        }
    }

    fn read_text(&self, pid: u32, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.proc_root.join(pid.to_string()).join(rel)).ok()
    }

    fn to_raw(
        &self,
        pid: u32,
        stat: &ProcStat,
        entry: &Entry,
        io: Option<parse::ProcIo>,
    ) -> RawProcess {
        let mut raw = RawProcess::new(pid, self.start_ms(stat.start_ticks), entry.command.clone());
        raw.state = parse::state_from_letter(stat.state);
        raw.priority = Some(stat.priority as i32);
        raw.cpu_time_ns = Some(((stat.utime + stat.stime) as f64 * self.ns_per_tick) as u64);
        raw.resident_bytes = Some(stat.rss_pages.max(0) as u64 * self.page_size);
        raw.faults = Some(stat.minflt + stat.majflt);
        raw.pageins = Some(stat.majflt);
        raw.threads = Some(stat.num_threads);
        if let Some(io) = io {
            raw.disk_bytes = Some(io.read_bytes + io.write_bytes);
            raw.syscalls = Some(io.syscr + io.syscw);
        }
        raw.deep = entry.deep.clone();
        raw
    }

    fn start_ms(&self, start_ticks: u64) -> u64 {
        self.boot_time_ms + (start_ticks as f64 * self.ns_per_tick / 1e6) as u64
    }

    fn command_for(&self, pid: u32, comm: &str) -> String {
        match self.read_text(pid, "cmdline") {
            Some(text) if !text.is_empty() => parse::cmdline_to_command(&text),
            // Kernel threads have no command line; show them as ps does.
            _ => format!("[{comm}]"),
        }
    }

    /// Sum `schedstat` and `status` over every thread of `pid`.
    fn read_threads(&self, pid: u32) -> Option<(u64, u64, u64)> {
        let task = self.proc_root.join(pid.to_string()).join("task");
        let mut run_wait = 0u64;
        let mut voluntary = 0u64;
        let mut involuntary = 0u64;
        let mut seen = 0usize;
        for entry in std::fs::read_dir(&task).ok()?.flatten() {
            let dir = entry.path();
            if let Ok(text) = std::fs::read_to_string(dir.join("schedstat"))
                && let Some(s) = parse_schedstat(&text)
            {
                run_wait += s.wait_ns;
            }
            if let Ok(text) = std::fs::read_to_string(dir.join("status")) {
                let s = parse_status(&text);
                voluntary += s.voluntary_ctxt_switches.unwrap_or(0);
                involuntary += s.nonvoluntary_ctxt_switches.unwrap_or(0);
                seen += 1;
            }
        }
        (seen > 0).then_some((run_wait, voluntary, involuntary))
    }
}

impl ProcessSource for LinuxSource {
    fn system(&mut self) -> SystemInfo {
        let mem_total = std::fs::read_to_string(self.proc_root.join("meminfo"))
            .ok()
            .and_then(|t| parse::meminfo_total_bytes(&t));
        SystemInfo {
            cpu_count: self.cpu_count,
            mem_total_bytes: mem_total,
            boot_time_ms: self.boot_time_ms,
        }
    }

    fn scan(&mut self, out: &mut Vec<RawProcess>) {
        out.clear();
        let mut pids = std::mem::take(&mut self.pids);
        pids.clear();
        if let Ok(dir) = std::fs::read_dir(&self.proc_root) {
            for entry in dir.flatten() {
                if let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<u32>().ok())
                {
                    pids.push(pid);
                }
            }
        }
        let mut buf = std::mem::take(&mut self.buf);
        let root = self.proc_root.clone();
        let mut alive: HashMap<u32, ()> = HashMap::with_capacity(pids.len());
        for &pid in &pids {
            // Known process: read through the kept descriptor.
            let mut stat = None;
            if let Some(entry) = self.entries.get(&pid) {
                stat = Self::read_slot(&root, pid, "stat", &entry.stat, &mut buf)
                    .and_then(|n| parse_stat(&buf[..n]))
                    .filter(|s| s.start_ticks == entry.start_ticks);
                if stat.is_none()
                    && let Some(old) = self.entries.remove(&pid)
                {
                    // Gone, or the PID now belongs to a new process.
                    self.release(&old);
                }
            }
            let stat = match stat {
                Some(s) => s,
                None => {
                    let slot = self.keep_or_reopen(pid, "stat");
                    let Some(s) = Self::read_slot(&root, pid, "stat", &slot, &mut buf)
                        .and_then(|n| parse_stat(&buf[..n]))
                    else {
                        if matches!(slot, Slot::Kept(_)) {
                            self.fds_kept = self.fds_kept.saturating_sub(1);
                        }
                        continue; // exited between listing and reading
                    };
                    let io = self.keep_or_reopen(pid, "io");
                    let command = self.command_for(pid, &s.comm);
                    self.entries.insert(
                        pid,
                        Entry {
                            start_ticks: s.start_ticks,
                            stat: slot,
                            io,
                            command,
                            deep: None,
                        },
                    );
                    s
                }
            };
            let Some(entry) = self.entries.get(&pid) else {
                continue;
            };
            let io = Self::read_slot(&root, pid, "io", &entry.io, &mut buf)
                .and_then(|n| std::str::from_utf8(&buf[..n]).ok().and_then(parse_io));
            out.push(self.to_raw(pid, &stat, entry, io));
            alive.insert(pid, ());
        }
        // Forget processes that were not listed this round.
        let gone: Vec<u32> = self
            .entries
            .keys()
            .filter(|p| !alive.contains_key(p))
            .copied()
            .collect();
        for pid in gone {
            if let Some(old) = self.entries.remove(&pid) {
                self.release(&old);
            }
        }
        self.buf = buf;
        self.pids = pids;
    }

    fn deepen(&mut self, raw: &mut RawProcess, now: f64) {
        let pid = raw.pid;
        let Some(status_text) = self.read_text(pid, "status") else {
            return; // gone: keep what the cheap pass saw
        };
        let status = parse_status(&status_text);
        let threads = status.threads.unwrap_or(1);
        let (runnable_ns, voluntary, involuntary) = if threads > 1 {
            match self.read_threads(pid) {
                Some(sums) => (Some(sums.0), Some(sums.1), Some(sums.2)),
                None => (None, None, None),
            }
        } else {
            let sched = self
                .read_text(pid, "schedstat")
                .and_then(|t| parse_schedstat(&t));
            (
                sched.map(|s| s.wait_ns),
                status.voluntary_ctxt_switches,
                status.nonvoluntary_ctxt_switches,
            )
        };
        let previous_cgroup = self
            .entries
            .get(&pid)
            .and_then(|e| e.deep.as_ref())
            .and_then(|d| d.cgroup.clone());
        let cgroup = self
            .read_text(pid, "cgroup")
            .and_then(|t| parse_cgroup(&t))
            .or(previous_cgroup);
        let deep = DeepCounters {
            read_at: now,
            csw: voluntary.zip(involuntary).map(|(v, i)| v + i),
            wakeups: voluntary,
            runnable_ns,
            peak_resident_bytes: status.vm_hwm_kb.map(|kb| kb * 1024),
            cgroup,
        };
        if let Some(entry) = self.entries.get_mut(&pid) {
            entry.deep = Some(deep.clone());
        }
        raw.deep = Some(deep);
    }
}

/// Read a /proc file from offset 0 through a kept descriptor.
fn read_at_zero(f: &File, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut n = 0;
    loop {
        if n == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let got = f.read_at(&mut buf[n..], n as u64)?;
        n += got;
        // Single-shot proc files produce their whole text in one read.
        if got == 0 || n < buf.len() {
            break;
        }
    }
    if n == 0 {
        return Err(ErrorKind::UnexpectedEof.into());
    }
    Ok(n)
}

fn read_whole(f: &mut File, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    buf.clear();
    let n = f.read_to_end(buf)?;
    let len = buf.len().max(4096);
    buf.resize(len, 0);
    if n == 0 {
        return Err(ErrorKind::UnexpectedEof.into());
    }
    Ok(n)
}

/// Raise the soft descriptor limit to the hard limit; returns the limit in force.
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    if lim.rlim_cur < lim.rlim_max {
        let want = libc::rlimit {
            rlim_cur: lim.rlim_max.min(1 << 20),
            rlim_max: lim.rlim_max,
        };
        // SAFETY: want is a valid rlimit; failure leaves the old limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            return want.rlim_cur;
        }
    }
    lim.rlim_cur
}
