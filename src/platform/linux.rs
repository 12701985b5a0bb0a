//! Linux process source: reads `/proc`, returns raw counters.
//!
//! Owns every `/proc` read of the sampling path; computes no rates and no scores.
//! Two tiers: the cheap pass reads `stat` and `io` of every process through file
//! descriptors kept open between samples (`pread` at offset 0 returns fresh
//! values); the deep pass reads `status`, `schedstat`, every thread's counters and
//! the cgroup for the few processes `collect` asks about, plus their GPU time from
//! DRM fdinfo when the machine has a DRM device (`/dev/dri`). A vanished process
//! or a denied file is normal: the field is `None` and the process still appears.

use super::{DeepCounters, ProcessSource, PsiTotals, RawMachine, RawProcess, SystemInfo};
use crate::platform::parse::{
    self, ProcStat, parse_cgroup, parse_io_bytes, parse_schedstat, parse_stat_fields, parse_status,
};
use std::collections::HashMap;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// Descriptors kept back from the process limit for everything else.
pub(crate) const FD_RESERVE: u64 = 256;

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
    /// `comm` when `command` was read: a change means the process exec'd.
    comm: Vec<u8>,
    /// The owner of `/proc/PID` (the process's effective uid, as htop shows
    /// it): read at first sight and again after an exec (setuid programs).
    uid: Option<u32>,
    deep: Option<DeepCounters>,
    /// `/proc/PID/exe`, once read (deep pass; again after an exec).
    exe: Option<Option<Arc<str>>>,
    /// The scan that last saw this process.
    seen: u64,
    /// `schedstat` of a single-threaded process: its run time tells, cheaply,
    /// whether it ran since `last_stat` was read.
    sched: Option<Slot>,
    last_stat: Option<ProcStat>,
    last_run_ns: Option<u64>,
    stat_generation: u64,
    /// CPU ticks and `io` counters at the last `io` read, and that read's scan.
    io_ticks: u64,
    last_io: Option<parse::ProcIo>,
    io_generation: u64,
}

/// Re-read MemTotal this often (scans).
const MEMINFO_REFRESH_SCANS: u64 = 300;

/// `/proc` is listed at least this often (scans) even when no PID was handed
/// out (see `scan`).
const LIST_EVERY_SCANS: u64 = 10;

/// Re-read `stat` of an idle single-threaded process at least this often (scans).
const STAT_REFRESH_SCANS: u64 = 30;

/// Re-read `io` of an idle process at least this often (scans).
const IO_REFRESH_SCANS: u64 = 30;

/// Reads `/proc` for `collect`.
pub struct LinuxSource {
    proc_root: std::path::PathBuf,
    entries: HashMap<u32, Entry>,
    boot_time_ms: u64,
    /// Boot time, Unix seconds, to the millisecond (realtime − boottime clock):
    /// `btime` is whole seconds, too coarse for a process's age.
    boot_precise_s: f64,
    ns_per_tick: f64,
    page_size: u64,
    cpu_count: usize,
    fd_budget: u64,
    fds_kept: u64,
    buf: Vec<u8>,
    text_buf: Vec<u8>,
    pids: Vec<u32>,
    /// `loadavg`, whose last PID tells whether any process or thread was
    /// created since `/proc` was last listed (`None`: list every scan).
    loadavg: Option<File>,
    /// The last PID read just before `/proc` was last listed, and the scan
    /// that listed it.
    listed_last_pid: Option<u64>,
    listed_generation: u64,
    generation: u64,
    mem_total: Option<u64>,
    /// Read GPU time from DRM fdinfo in the deep pass.
    drm: bool,
    machine: MachineFiles,
}

impl LinuxSource {
    pub fn new() -> std::io::Result<LinuxSource> {
        Self::with_root(Path::new("/proc"))
    }

    /// A source over another procfs mount (tests and containers).
    pub(crate) fn with_root(root: &Path) -> std::io::Result<LinuxSource> {
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
            boot_precise_s: precise_boot_s().unwrap_or(boot_secs as f64),
            ns_per_tick: 1e9 / if ticks > 0 { ticks as f64 } else { 100.0 },
            page_size: if page > 0 { page as u64 } else { 4096 },
            cpu_count,
            fd_budget: raise_fd_limit().saturating_sub(FD_RESERVE),
            fds_kept: 0,
            buf: vec![0; 4096],
            text_buf: Vec::with_capacity(16 * 1024),
            pids: Vec::new(),
            loadavg: File::open(root.join("loadavg")).ok(),
            listed_last_pid: None,
            listed_generation: 0,
            generation: 0,
            mem_total: None,
            drm: Path::new("/dev/dri").is_dir(),
            machine: MachineFiles::open(root, Path::new("/sys/block")),
        })
    }

    /// Whether the deep pass reads GPU time from DRM fdinfo. Default: when
    /// `/dev/dri` exists (without a DRM device the walk would only cost).
    /// Only tests override it.
    #[cfg(test)]
    pub(crate) fn set_drm_fdinfo(&mut self, enabled: bool) {
        self.drm = enabled;
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
        for slot in [Some(&entry.stat), Some(&entry.io), entry.sched.as_ref()]
            .into_iter()
            .flatten()
        {
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

    /// Read a small per-process file in one `read` into the reused buffer
    /// `text_buf`; the number of bytes read.
    fn read_raw(&mut self, pid: u32, rel: &str) -> Option<usize> {
        let path = self.proc_root.join(pid.to_string()).join(rel);
        let mut f = File::open(path).ok()?;
        let buf = &mut self.text_buf;
        buf.clear();
        buf.resize(buf.capacity().max(16 * 1024), 0);
        let mut n = 0;
        loop {
            let got = f.read(&mut buf[n..]).ok()?;
            n += got;
            // Single-shot proc files produce their whole text in one read.
            if got == 0 || n < buf.len() {
                break;
            }
            buf.resize(buf.len() * 2, 0);
        }
        Some(n)
    }

    /// `read_raw` as UTF-8 text (`None` when it is not).
    fn read_text(&mut self, pid: u32, rel: &str) -> Option<String> {
        let n = self.read_raw(pid, rel)?;
        String::from_utf8(self.text_buf[..n].to_vec()).ok()
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
        raw.ppid = (stat.ppid > 0).then_some(stat.ppid);
        raw.uid = entry.uid;
        raw.session_leader = stat.session == pid;
        raw.exe = entry.exe.clone().flatten();
        raw.started_at_s =
            Some(self.boot_precise_s + stat.start_ticks as f64 * self.ns_per_tick / 1e9);
        raw.cpu_time_ns = Some(((stat.utime + stat.stime) as f64 * self.ns_per_tick) as u64);
        raw.children_cpu_ns = Some(((stat.cutime + stat.cstime) as f64 * self.ns_per_tick) as u64);
        raw.children_pageins = Some(stat.cmajflt);
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

    /// A process's start, Unix milliseconds: the precise boot time (realtime
    /// − boottime clock, measured once per source, so one source's identities
    /// never move) plus the start in clock ticks. `btime` would make it up to
    /// a second early; `boot_time_ms` stays whole seconds because it names
    /// the boot (same boot or not), not a moment.
    fn start_ms(&self, start_ticks: u64) -> u64 {
        (self.boot_precise_s * 1000.0).round() as u64
            + (start_ticks as f64 * self.ns_per_tick / 1e6) as u64
    }

    /// The command line as bytes (invalid UTF-8 shown escaped, never dropped).
    /// Only an empty command line (kernel threads, zombies) gets the `[comm]`
    /// form, so a process cannot pass itself off as a kernel thread.
    fn command_for(&mut self, pid: u32, comm: &str) -> String {
        match self.read_raw(pid, "cmdline") {
            Some(n) if n > 0 => {
                let command = parse::cmdline_to_command(&self.text_buf[..n]);
                if command.is_empty() {
                    // Arguments overwritten with NULs: the name, unbracketed.
                    crate::format::cap_bytes(comm, parse::COMMAND_MAX_BYTES)
                } else {
                    command
                }
            }
            _ => format!("[{comm}]"),
        }
    }

    /// Keep the `stat` just read (and the run time seen with it) so an idle
    /// single-threaded process can skip its next reads; open its `schedstat`
    /// the first time it is seen single-threaded.
    fn remember_stat(&mut self, pid: u32, stat: &ProcStat, run_ns: Option<u64>, generation: u64) {
        let single = stat.num_threads == 1;
        let needs_sched = single && self.entries.get(&pid).is_some_and(|e| e.sched.is_none());
        // Only worth it through a kept descriptor (an open per read costs more
        // than the stat it saves).
        let sched = needs_sched
            .then(|| self.keep_or_reopen(pid, "schedstat"))
            .filter(|slot| matches!(slot, Slot::Kept(_)));
        let mut fresh_run = run_ns;
        if let (Some(slot), None) = (&sched, run_ns) {
            let mut buf = std::mem::take(&mut self.buf);
            fresh_run = Self::read_slot(&self.proc_root, pid, "schedstat", slot, &mut buf)
                .and_then(|n| std::str::from_utf8(&buf[..n]).ok())
                .and_then(parse_schedstat)
                .map(|s| s.run_ns);
            self.buf = buf;
        }
        let Some(entry) = self.entries.get_mut(&pid) else {
            return;
        };
        if let Some(slot) = sched {
            entry.sched = Some(slot);
        }
        if single {
            entry.last_stat = Some(stat.clone());
            entry.last_run_ns = fresh_run;
            // Spread idle processes' refreshes over the period.
            entry.stat_generation =
                generation.saturating_sub(u64::from(pid) % (STAT_REFRESH_SCANS / 2));
        } else {
            entry.last_stat = None;
            entry.last_run_ns = None;
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
        // MemTotal changes only with memory hotplug: re-read it now and then.
        if self.mem_total.is_none() || self.generation.is_multiple_of(MEMINFO_REFRESH_SCANS) {
            self.mem_total = std::fs::read_to_string(self.proc_root.join("meminfo"))
                .ok()
                .and_then(|t| parse::meminfo_total_bytes(&t));
        }
        SystemInfo {
            cpu_count: self.cpu_count,
            mem_total_bytes: self.mem_total,
            boot_time_ms: self.boot_time_ms,
        }
    }

    fn scan(&mut self, out: &mut Vec<RawProcess>) {
        out.clear();
        let mut pids = std::mem::take(&mut self.pids);
        let mut buf = std::mem::take(&mut self.buf);
        // Listing /proc was ~13 % of the daemon's CPU with 1000 idle
        // processes in an earlier profile (docs/performance.md). A new process
        // takes a new PID, so while the last PID handed out has not moved, the
        // known PIDs are all there is (those that exited fail their reads
        // below). The last PID is read before the listing: one created after
        // it moves it for the next scan.
        let last_pid = self
            .loadavg
            .as_ref()
            .and_then(|f| read_at_zero(f, &mut buf).ok())
            .and_then(|n| std::str::from_utf8(&buf[..n]).ok())
            .and_then(parse::loadavg_last_pid);
        // The last PID is of the reader's PID namespace: should `/proc` be
        // another namespace's mount, its new processes would not move it, so
        // it is listed anyway every `LIST_EVERY_SCANS` scans.
        if last_pid.is_none()
            || last_pid != self.listed_last_pid
            || self.generation - self.listed_generation >= LIST_EVERY_SCANS
        {
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
            self.listed_last_pid = last_pid;
            self.listed_generation = self.generation;
        }
        // Room for everyone listed, an eighth to spare rather than doubling
        // (a row is ~450 bytes).
        if out.capacity() < pids.len() {
            out.reserve_exact(pids.len() + pids.len() / 8);
        }
        let root = self.proc_root.clone();
        self.generation += 1;
        let generation = self.generation;
        for &pid in &pids {
            // Known process: read through the kept descriptor.
            let mut stat = None;
            let mut execd = None;
            let mut run_ns = None;
            if let Some(entry) = self.entries.get(&pid) {
                // A single-threaded process whose run time has not moved has not
                // run: its stat (state, memory, faults, CPU) is as last read. Its
                // schedstat costs a third of its stat. (State changes need the
                // process to run, so a process that blocks in D is seen in D.)
                if let (Some(sched), Some(last)) = (&entry.sched, &entry.last_stat) {
                    run_ns = Self::read_slot(&root, pid, "schedstat", sched, &mut buf)
                        .and_then(|n| std::str::from_utf8(&buf[..n]).ok())
                        .and_then(parse_schedstat)
                        .map(|s| s.run_ns);
                    if run_ns.is_some()
                        && run_ns == entry.last_run_ns
                        && generation - entry.stat_generation < STAT_REFRESH_SCANS
                    {
                        stat = Some(last.clone());
                    }
                }
            }
            let carried = stat.is_some();
            if stat.is_none()
                && let Some(entry) = self.entries.get(&pid)
            {
                stat = Self::read_slot(&root, pid, "stat", &entry.stat, &mut buf)
                    .and_then(|n| {
                        parse_stat_fields(&buf[..n]).map(|(comm, s)| {
                            if comm != entry.comm.as_slice() {
                                execd = Some(comm.to_vec());
                            }
                            s
                        })
                    })
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
                    let Some((comm, s)) = Self::read_slot(&root, pid, "stat", &slot, &mut buf)
                        .and_then(|n| parse_stat_fields(&buf[..n]).map(|(c, s)| (c.to_vec(), s)))
                    else {
                        if matches!(slot, Slot::Kept(_)) {
                            self.fds_kept = self.fds_kept.saturating_sub(1);
                        }
                        continue; // exited between listing and reading
                    };
                    let io = self.keep_or_reopen(pid, "io");
                    let command = self.command_for(pid, &parse::cmdline_to_command(&comm));
                    let uid = owner_uid(&root, pid);
                    self.entries.insert(
                        pid,
                        Entry {
                            start_ticks: s.start_ticks,
                            stat: slot,
                            io,
                            command,
                            comm,
                            uid,
                            sched: None,
                            last_stat: None,
                            last_run_ns: None,
                            stat_generation: 0,
                            deep: None,
                            exe: None,
                            seen: generation,
                            io_ticks: u64::MAX,
                            last_io: None,
                            io_generation: 0,
                        },
                    );
                    s
                }
            };
            if let Some(comm) = execd {
                // Same process, new program: its command line changed too.
                let command = self.command_for(pid, &parse::cmdline_to_command(&comm));
                let uid = owner_uid(&root, pid);
                if let Some(entry) = self.entries.get_mut(&pid) {
                    entry.command = command;
                    entry.comm = comm;
                    entry.uid = uid;
                    entry.exe = None;
                }
            }
            if !carried {
                self.remember_stat(pid, &stat, run_ns, generation);
            }
            let Some(entry) = self.entries.get_mut(&pid) else {
                continue;
            };
            entry.seen = generation;
            // I/O needs CPU: a process that has not run a clock tick since the
            // last read cannot have moved its counters by more than a trifle, and
            // the cumulative counters catch up at the next read. Reaping a child
            // adds the child's I/O to this process's `io` (the children's ticks
            // and minor faults move then: every child faults), so they count too.
            let ticks = stat.utime + stat.stime + stat.cutime + stat.cstime + stat.cminflt;
            let io = if ticks == entry.io_ticks
                && generation - entry.io_generation < IO_REFRESH_SCANS
                && !matches!(entry.io, Slot::Denied)
            {
                entry.last_io
            } else {
                let io = Self::read_slot(&root, pid, "io", &entry.io, &mut buf)
                    .and_then(|n| parse_io_bytes(&buf[..n]));
                entry.io_ticks = ticks;
                entry.last_io = io;
                // Spread idle processes' refreshes over the period.
                entry.io_generation =
                    generation.saturating_sub(u64::from(pid) % (IO_REFRESH_SCANS / 2));
                io
            };
            if let Some(entry) = self.entries.get(&pid) {
                out.push(self.to_raw(pid, &stat, entry, io));
            }
        }
        // Forget processes that were not listed this round.
        let before = self.entries.len();
        let mut released = 0u64;
        self.entries.retain(|_, e| {
            let keep = e.seen == generation;
            if !keep {
                released += u64::from(matches!(e.stat, Slot::Kept(_)))
                    + u64::from(matches!(e.io, Slot::Kept(_)))
                    + u64::from(matches!(e.sched, Some(Slot::Kept(_))));
            }
            keep
        });
        if self.entries.len() != before {
            self.fds_kept = self.fds_kept.saturating_sub(released);
        }
        // After a crowd of processes left, give back most of the table.
        if self.entries.capacity() > 256 && self.entries.len() < self.entries.capacity() / 4 {
            self.entries.shrink_to(self.entries.len() * 2);
        }
        // Without a new listing, the next scan reads only who is still here.
        pids.retain(|pid| self.entries.contains_key(pid));
        self.buf = buf;
        self.pids = pids;
    }

    fn reaped_io_in_parent(&self) -> bool {
        true
    }

    fn machine(&mut self) -> Option<RawMachine> {
        self.machine.read()
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
        // A process rarely changes cgroup: read it on the first deep read only.
        let previous_cgroup = self
            .entries
            .get(&pid)
            .and_then(|e| e.deep.as_ref())
            .map(|d| d.cgroup.clone());
        let cgroup = match previous_cgroup {
            Some(known) => known,
            None => self.read_text(pid, "cgroup").and_then(|t| parse_cgroup(&t)),
        };
        let deep = DeepCounters {
            read_at: now,
            csw: voluntary.zip(involuntary).map(|(v, i)| v + i),
            wakeups: voluntary,
            runnable_ns,
            peak_resident_bytes: status.vm_hwm_kb.map(|kb| kb * 1024),
            cgroup,
            gpu_time_ns: if self.drm {
                drm_gpu_time_ns(&self.proc_root, pid)
            } else {
                None
            },
        };
        // The executable, once per identity (a readlink; again after an exec).
        let exe = match self.entries.get(&pid).map(|e| e.exe.clone()) {
            Some(Some(known)) => known,
            _ => std::fs::read_link(self.proc_root.join(pid.to_string()).join("exe"))
                .ok()
                .map(|p| Arc::from(p.to_string_lossy().as_ref())),
        };
        // A process may rewrite its arguments without an exec (setproctitle:
        // postgres backends, nginx workers, sshd): the deep pass reads them
        // again. An empty read (a zombie, or arguments wiped) keeps the last.
        if let Some(n) = self.read_raw(pid, "cmdline").filter(|&n| n > 0) {
            let command = parse::cmdline_to_command(&self.text_buf[..n]);
            if !command.is_empty() && command != raw.command {
                if let Some(entry) = self.entries.get_mut(&pid) {
                    entry.command.clone_from(&command);
                }
                raw.command = command;
            }
        }
        if let Some(entry) = self.entries.get_mut(&pid) {
            entry.deep = Some(deep.clone());
            entry.exe = Some(exe.clone());
        }
        raw.deep = Some(deep);
        raw.exe = exe;
    }
}

/// GPU time of one process from DRM fdinfo, ns: every descriptor that is a DRM
/// device node (`/dev/dri/...`) has its fdinfo parsed, shared clients counted
/// once (`parse::drm_gpu_time_ns`). `None` when the process holds no DRM client
/// reporting engine time, or its descriptors are not readable (another user's
/// process, unless root). Costs a readlink per descriptor: deep pass only.
/// The owner of `/proc/PID`: the process's effective uid (what htop shows
/// as USER). One `stat` call; `None` if the process is gone.
fn owner_uid(proc_root: &Path, pid: u32) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(proc_root.join(pid.to_string()))
        .ok()
        .map(|m| m.uid())
}

fn drm_gpu_time_ns(proc_root: &Path, pid: u32) -> Option<u64> {
    let dir = proc_root.join(pid.to_string());
    let mut clients = Vec::new();
    for entry in std::fs::read_dir(dir.join("fd")).ok()?.flatten() {
        let is_drm =
            std::fs::read_link(entry.path()).is_ok_and(|target| target.starts_with("/dev/dri/"));
        if !is_drm {
            continue;
        }
        if let Ok(text) = std::fs::read_to_string(dir.join("fdinfo").join(entry.file_name()))
            && let Some(client) = parse::parse_drm_fdinfo(&text)
        {
            clients.push(client);
        }
    }
    parse::drm_gpu_time_ns(&clients)
}

/// Boot time, Unix seconds, from the realtime and boottime clocks (what
/// `/proc/PID/stat` start times count from).
fn precise_boot_s() -> Option<f64> {
    let read = |clock| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: ts is a valid, writable timespec.
        (unsafe { libc::clock_gettime(clock, &mut ts) } == 0)
            .then(|| ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9)
    };
    Some(read(libc::CLOCK_REALTIME)? - read(libc::CLOCK_BOOTTIME)?)
}

/// Re-list the whole-disk devices at least this often (readings): disks come
/// and go rarely.
const DISKS_REFRESH_READS: u64 = 60;

/// Kept descriptors for the machine-wide files, re-read with `pread` per
/// sample like the per-process ones. A file that does not exist here (no PSI,
/// a container without `diskstats`) stays `None` and so does its reading.
struct MachineFiles {
    stat: Option<File>,
    meminfo: Option<File>,
    psi: [Option<File>; 3],
    diskstats: Option<File>,
    net_dev: Option<File>,
    loadavg: Option<File>,
    sys_block: std::path::PathBuf,
    /// Whole-disk devices: in `/sys/block` with a `device` link (a physical
    /// or virtual disk; loop, zram, md and device-mapper devices have none,
    /// so stacked devices are not counted twice). Partitions are not there.
    disks: Vec<String>,
    /// What each disk and interface moved while it was there.
    disk_totals: super::DeviceTotals<4>,
    net_totals: super::DeviceTotals<2>,
    reads: u64,
    buf: Vec<u8>,
    cores: Vec<super::CpuTimes>,
}

impl MachineFiles {
    fn open(proc_root: &Path, sys_block: &Path) -> MachineFiles {
        let open = |rel: &str| File::open(proc_root.join(rel)).ok();
        MachineFiles {
            stat: open("stat"),
            meminfo: open("meminfo"),
            psi: [
                open("pressure/cpu"),
                open("pressure/memory"),
                open("pressure/io"),
            ],
            diskstats: open("diskstats"),
            net_dev: open("net/dev"),
            loadavg: open("loadavg"),
            sys_block: sys_block.to_path_buf(),
            disks: Vec::new(),
            disk_totals: super::DeviceTotals::new(),
            net_totals: super::DeviceTotals::new(),
            reads: 0,
            buf: vec![0; 4096],
            cores: Vec::new(),
        }
    }

    fn list_disks(&mut self) {
        self.disks.clear();
        if let Ok(dir) = std::fs::read_dir(&self.sys_block) {
            for e in dir.flatten() {
                if e.path().join("device").exists()
                    && let Some(name) = e.file_name().to_str()
                {
                    self.disks.push(name.to_string());
                }
            }
        }
    }

    /// The text of a kept file, or `None`.
    fn text<'a>(f: Option<&File>, buf: &'a mut Vec<u8>) -> Option<&'a str> {
        let n = read_at_zero(f?, buf).ok()?;
        std::str::from_utf8(&buf[..n]).ok()
    }

    /// The text of a kept file of many records (`diskstats`, `net/dev`), read
    /// to its end: such a file gives at most a page a read.
    fn records<'a>(f: Option<&File>, buf: &'a mut Vec<u8>) -> Option<&'a str> {
        let n = read_to_end_at_zero(f?, buf).ok()?;
        std::str::from_utf8(&buf[..n]).ok()
    }

    fn read(&mut self) -> Option<RawMachine> {
        if self.reads.is_multiple_of(DISKS_REFRESH_READS) {
            self.list_disks();
        }
        self.reads += 1;
        let mut m = RawMachine::default();
        let mut buf = std::mem::take(&mut self.buf);
        let mut cores = std::mem::take(&mut self.cores);
        if let Some(t) = Self::text(self.stat.as_ref(), &mut buf) {
            m.cpu = parse::parse_proc_stat_cpu(t, &mut cores);
            m.cores.clone_from(&cores);
        }
        m.mem = Self::text(self.meminfo.as_ref(), &mut buf).and_then(parse::parse_meminfo);
        let mut psi =
            |i: usize| Self::text(self.psi[i].as_ref(), &mut buf).and_then(parse::parse_psi);
        m.psi = PsiTotals {
            cpu: psi(0),
            memory: psi(1),
            io: psi(2),
        };
        let disks = &self.disks;
        let disk_totals = &mut self.disk_totals;
        m.disk = Self::records(self.diskstats.as_ref(), &mut buf).and_then(|t| {
            parse::parse_diskstats(t, |name| disks.iter().any(|d| d == name), disk_totals)
        });
        let net_totals = &mut self.net_totals;
        m.net = Self::records(self.net_dev.as_ref(), &mut buf)
            .and_then(|t| parse::parse_net_dev(t, net_totals));
        m.load = Self::text(self.loadavg.as_ref(), &mut buf).and_then(parse::parse_loadavg);
        self.buf = buf;
        self.cores = cores;
        (m.cpu.is_some() || m.mem.is_some() || m.load.is_some()).then_some(m)
    }
}

/// Read a /proc file from offset 0 through a kept descriptor. Single-shot
/// proc files (`stat`, `io`, `meminfo`) produce their whole text in one read.
fn read_at_zero(f: &File, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    read_from_zero(f, buf, false)
}

/// Read a /proc file of many records from offset 0 to its end through a kept
/// descriptor. Such a file (a `seq_file` listing one record per device) gives
/// at most a page a read, however large the buffer: it is read until a read
/// gives nothing.
fn read_to_end_at_zero(f: &File, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    read_from_zero(f, buf, true)
}

/// `pread` from offset 0, growing `buf` while reads fill it; with
/// `to_end`, also after a short read, until a read gives nothing.
fn read_from_zero(f: &File, buf: &mut Vec<u8>, to_end: bool) -> std::io::Result<usize> {
    let mut n = 0;
    loop {
        if n == buf.len() {
            buf.resize(buf.len().max(4096) * 2, 0);
        }
        let got = f.read_at(&mut buf[n..], n as u64)?;
        n += got;
        if got == 0 || (!to_end && n < buf.len()) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_fresh_childs_start_time_is_the_moment_it_started() {
        let mut source = LinuxSource::new().unwrap();
        let before_ms = crate::unix_now() * 1000.0;
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut raws = Vec::new();
        source.scan(&mut raws);
        let _ = child.kill();
        let _ = child.wait();
        let raw = raws.iter().find(|r| r.pid == pid).expect("child listed");
        let diff = raw.start_time_ms as f64 - before_ms;
        // One clock tick (10 ms) of granularity, and spawning takes a few ms.
        assert!(
            (-15.0..50.0).contains(&diff),
            "start_time {} is {diff:.1} ms from the time before spawn",
            raw.start_time_ms
        );
    }

    const CLIENT: &str = "pos:\t0\nflags:\t02100002\ndrm-driver:\ti915\ndrm-pdev:\t0000:00:02.0\ndrm-client-id:\t7\ndrm-engine-render:\t7000 ns\ndrm-engine-video:\t1000 ns\ndrm-engine-capacity-video:\t2\n";
    const OTHER_CLIENT: &str = "drm-driver:\ti915\ndrm-pdev:\t0000:00:02.0\ndrm-client-id:\t8\ndrm-engine-render:\t500 ns\n";
    const NOT_DRM: &str = "drm-driver:\tfake\ndrm-client-id:\t1\ndrm-engine-x:\t99 ns\n";

    #[test]
    fn reads_this_machines_counters() {
        let mut src = LinuxSource::new().unwrap();
        let m = src.machine().unwrap();
        let cores = std::fs::read_to_string("/proc/stat")
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
            .count();
        assert_eq!(m.cores.len(), cores);
        assert!(m.cpu.unwrap().idle > 0);
        assert!(m.mem.unwrap().total.unwrap() > 0);
        assert!(m.load.unwrap().threads.unwrap() > 0);
        assert!(m.net.is_some(), "/proc/net/dev");
        // Kept descriptors give fresh values on the next read.
        let again = src.machine().unwrap();
        assert!(again.cpu.unwrap().idle >= m.cpu.unwrap().idle);
    }

    #[test]
    fn a_file_of_many_records_is_read_past_its_first_page() {
        // /proc/crypto is a seq_file of many records, like diskstats and
        // net/dev on a host with many devices.
        let whole = std::fs::read("/proc/crypto").unwrap_or_default();
        if whole.len() <= 4096 {
            eprintln!("skipped: no /proc/crypto over a page here");
            return;
        }
        let f = File::open("/proc/crypto").unwrap();
        let mut buf = vec![0; 4096];
        let n = read_to_end_at_zero(&f, &mut buf).unwrap();
        assert_eq!(n, whole.len());
        assert_eq!(&buf[..n], &whole[..]);
    }

    #[test]
    fn machine_files_over_a_fake_proc() {
        let dir = tempfile::tempdir().unwrap();
        let proc_root = dir.path().join("proc");
        let sys = dir.path().join("block");
        std::fs::create_dir_all(proc_root.join("net")).unwrap();
        std::fs::create_dir_all(sys.join("sda/device")).unwrap();
        std::fs::create_dir_all(sys.join("loop0")).unwrap();
        std::fs::write(
            proc_root.join("stat"),
            "cpu  4 0 2 10 0 0 0 0 0 0\ncpu0 4 0 2 10 0 0 0 0 0 0\n",
        )
        .unwrap();
        std::fs::write(
            proc_root.join("diskstats"),
            "   8 0 sda 1 0 8 0 2 0 16 0 0 0 0\n   8 1 sda1 1 0 8 0 2 0 16 0 0 0 0\n   7 0 loop0 9 0 80 0 0 0 0 0 0 0 0\n",
        )
        .unwrap();
        let mut files = MachineFiles::open(&proc_root, &sys);
        let m = files.read().unwrap();
        assert_eq!(m.cores.len(), 1);
        assert_eq!(
            m.disk,
            Some(super::super::DiskCounters::default()),
            "first reading"
        );
        assert_eq!((m.mem, m.net, m.load), (None, None, None));
        assert_eq!(m.psi, PsiTotals::default());
        // Every device read 8 more sectors and wrote 2 more times: sda counts.
        std::fs::write(
            proc_root.join("diskstats"),
            "   8 0 sda 2 0 16 0 4 0 32 0 0 0 0\n   8 1 sda1 2 0 16 0 4 0 32 0 0 0 0\n   7 0 loop0 10 0 88 0 2 0 16 0 0 0 0\n",
        )
        .unwrap();
        let m = files.read().unwrap();
        assert_eq!(m.disk.unwrap().read_bytes, 8 * 512, "sda only");
        assert_eq!(m.disk.unwrap().writes, 2);
    }

    /// A fake procfs with one process (pid 42) holding a DRM client through two
    /// descriptors, another DRM client, and a regular file.
    fn fake_proc() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let p = root.path();
        std::fs::write(p.join("stat"), "cpu 1 2 3\nbtime 1700000000\n").unwrap();
        let proc42 = p.join("42");
        std::fs::create_dir_all(proc42.join("fd")).unwrap();
        std::fs::create_dir_all(proc42.join("fdinfo")).unwrap();
        std::fs::write(
            proc42.join("status"),
            "Name:\tgame\nThreads:\t1\nVmHWM:\t100 kB\nvoluntary_ctxt_switches:\t5\nnonvoluntary_ctxt_switches:\t1\n",
        )
        .unwrap();
        std::fs::write(proc42.join("schedstat"), "100 20 3\n").unwrap();
        let fds = [
            ("3", "/dev/dri/renderD128", CLIENT),
            ("4", "/dev/dri/renderD128", CLIENT), // dup() of fd 3: same client
            ("5", "/dev/dri/card0", OTHER_CLIENT),
            ("6", "/home/u/save.dat", NOT_DRM),
        ];
        for (fd, target, info) in fds {
            symlink(target, proc42.join("fd").join(fd)).unwrap();
            std::fs::write(proc42.join("fdinfo").join(fd), info).unwrap();
        }
        root
    }

    #[test]
    fn drm_walk_dedups_clients_and_ignores_non_drm_descriptors() {
        let root = fake_proc();
        assert_eq!(drm_gpu_time_ns(root.path(), 42), Some(8_000 + 500));
        assert_eq!(drm_gpu_time_ns(root.path(), 43), None, "no such process");
    }

    #[test]
    fn deepen_fills_gpu_time_only_when_drm_is_enabled() {
        let root = fake_proc();
        let mut source = LinuxSource::with_root(root.path()).unwrap();
        let mut raw = RawProcess::new(42, 0, "game".into());
        source.set_drm_fdinfo(true);
        source.deepen(&mut raw, 10.0);
        let deep = raw.deep.clone().unwrap();
        assert_eq!(deep.gpu_time_ns, Some(8_500));
        assert_eq!(deep.csw, Some(6));
        assert_eq!(
            raw.gpu_time_ns, None,
            "the cheap pass's field stays untouched"
        );
        source.set_drm_fdinfo(false);
        source.deepen(&mut raw, 11.0);
        assert_eq!(raw.deep.unwrap().gpu_time_ns, None);
    }

    #[test]
    fn deepen_reads_a_rewritten_command_line_and_keeps_it_through_an_empty_one() {
        let root = fake_proc();
        let p = root.path();
        std::fs::write(p.join("loadavg"), "0.00 0.00 0.00 1/2 42\n").unwrap();
        std::fs::write(
            p.join("42/stat"),
            "42 (postgres) S 1 9 9 0 -1 0 5 40 0 3 1 2 70 30 20 0 1 0 100 0 10 0\n",
        )
        .unwrap();
        let cmdline = p.join("42/cmdline");
        std::fs::write(&cmdline, b"postgres\0-D\0/var/lib/pg\0").unwrap();
        let mut source = LinuxSource::with_root(p).unwrap();
        let scan = |s: &mut LinuxSource| {
            let mut out = Vec::new();
            s.scan(&mut out);
            out.pop().unwrap()
        };
        let mut raw = scan(&mut source);
        assert_eq!(raw.command, "postgres -D /var/lib/pg");
        // Rewritten without an exec (comm unchanged): the cheap pass keeps
        // the command it knows, the deep pass reads the new one...
        std::fs::write(&cmdline, b"postgres: checkpointer\0\0\0").unwrap();
        assert_eq!(scan(&mut source).command, "postgres -D /var/lib/pg");
        source.deepen(&mut raw, 10.0);
        assert_eq!(raw.command, "postgres: checkpointer");
        // ...and the samples after it carry it.
        assert_eq!(scan(&mut source).command, "postgres: checkpointer");
        // A zombie's cmdline reads empty: not a reason to forget the name.
        std::fs::write(&cmdline, b"").unwrap();
        source.deepen(&mut raw, 11.0);
        assert_eq!(raw.command, "postgres: checkpointer");
        std::fs::write(&cmdline, b"\0\0\0").unwrap();
        source.deepen(&mut raw, 12.0);
        assert_eq!(raw.command, "postgres: checkpointer");
        assert_eq!(scan(&mut source).command, "postgres: checkpointer");
    }

    #[test]
    fn proc_is_listed_again_only_after_a_pid_was_handed_out() {
        let root = tempfile::tempdir().unwrap();
        let p = root.path();
        std::fs::write(p.join("stat"), "cpu 1 2 3\nbtime 1700000000\n").unwrap();
        let last_pid = |pid: u32| {
            std::fs::write(p.join("loadavg"), format!("0.00 0.00 0.00 1/2 {pid}\n")).unwrap();
        };
        let stat = |pid: u32, text: String| {
            std::fs::create_dir_all(p.join(pid.to_string())).unwrap();
            std::fs::write(p.join(pid.to_string()).join("stat"), text).unwrap();
        };
        let line = |pid: u32| {
            format!("{pid} (sh) S 1 9 9 0 -1 0 5 40 0 3 1 2 70 30 20 0 1 0 100 0 10 0\n")
        };
        let scan = |s: &mut LinuxSource| {
            let mut out = Vec::new();
            s.scan(&mut out);
            let mut pids: Vec<u32> = out.iter().map(|r| r.pid).collect();
            pids.sort_unstable();
            pids
        };
        last_pid(10);
        stat(10, line(10));
        let mut source = LinuxSource::with_root(p).unwrap();
        assert_eq!(scan(&mut source), [10]);
        // A process appears without a PID handed out (impossible on a real
        // /proc): the scan does not list the directory, so it is not seen.
        stat(11, line(11));
        assert_eq!(scan(&mut source), [10]);
        last_pid(11);
        assert_eq!(scan(&mut source), [10, 11]);
        // 10 exits: its read fails, and it is gone without a listing.
        stat(10, String::new());
        assert_eq!(scan(&mut source), [11]);
        assert_eq!(scan(&mut source), [11]);
        // Still unlisted processes are found by the periodic listing.
        stat(13, line(13));
        let listed = (0..LIST_EVERY_SCANS).any(|_| scan(&mut source).contains(&13));
        assert!(listed, "listed within {LIST_EVERY_SCANS} scans");
        // Without the file, every scan lists.
        std::fs::remove_file(p.join("loadavg")).unwrap();
        let mut source = LinuxSource::with_root(p).unwrap();
        stat(10, line(10));
        assert_eq!(scan(&mut source), [10, 11, 13]);
        stat(12, line(12));
        assert_eq!(scan(&mut source), [10, 11, 12, 13]);
    }
}
