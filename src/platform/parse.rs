//! Parsers for Linux `/proc` text: plain functions over bytes, compiled and
//! tested on every platform. No I/O here. Includes the DRM fdinfo parser
//! (`/proc/PID/fdinfo/FD` of GPU clients) and the per-process GPU time sum.

use crate::model::ProcessState;

/// The fields of `/proc/PID/stat` the collector uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcStat {
    pub comm: String,
    pub state: u8,
    pub ppid: u32,
    /// Session id (field 6): a process whose session is its own PID leads it.
    pub session: u32,
    pub minflt: u64,
    /// Minor faults of reaped (waited-for) children.
    pub cminflt: u64,
    pub majflt: u64,
    /// Major faults of reaped children.
    pub cmajflt: u64,
    /// Clock ticks, whole process (all threads).
    pub utime: u64,
    pub stime: u64,
    /// Clock ticks of reaped children (only those this process waited for).
    pub cutime: u64,
    pub cstime: u64,
    pub priority: i64,
    pub nice: i64,
    pub num_threads: u64,
    /// Clock ticks after boot.
    pub(crate) start_ticks: u64,
    pub(crate) rss_pages: i64,
}

/// Parse `/proc/PID/stat`. The command sits in parentheses and may itself hold
/// spaces and parentheses, so fields are counted from the *last* `)`.
pub(crate) fn parse_stat(buf: &[u8]) -> Option<ProcStat> {
    let (comm, fields) = parse_stat_fields(buf)?;
    Some(ProcStat {
        comm: String::from_utf8_lossy(comm).into_owned(),
        ..fields
    })
}

/// `parse_stat` without allocating: the command's bytes and the numeric fields
/// (with an empty `comm`). Used on the sampling path, where the command is
/// already known.
pub(crate) fn parse_stat_fields(buf: &[u8]) -> Option<(&[u8], ProcStat)> {
    let open = buf.iter().position(|&b| b == b'(')?;
    let close = buf.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let comm = &buf[open + 1..close];
    let mut rest = buf.get(close + 1..)?;
    // Field 3 (state) is the first after the command.
    rest = skip_spaces(rest);
    let state = *rest.first()?;
    rest = rest.get(1..)?;
    // f[i] holds field i + 3; fields 4..=24 (ppid .. rss).
    let mut f = [0i64; 22];
    for slot in f.iter_mut().skip(1) {
        let (v, tail) = next_int(rest)?;
        *slot = v;
        rest = tail;
    }
    let field = |n: usize| f[n - 3];
    Some((
        comm,
        ProcStat {
            comm: String::new(),
            state,
            ppid: field(4) as u32,
            session: field(6) as u32,
            minflt: field(10) as u64,
            cminflt: field(11) as u64,
            majflt: field(12) as u64,
            cmajflt: field(13) as u64,
            utime: field(14) as u64,
            stime: field(15) as u64,
            cutime: field(16) as u64,
            cstime: field(17) as u64,
            priority: field(18),
            nice: field(19),
            num_threads: field(20) as u64,
            start_ticks: field(22) as u64,
            rss_pages: field(24),
        },
    ))
}

fn skip_spaces(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

/// The next whitespace-separated signed decimal integer and what follows it.
fn next_int(b: &[u8]) -> Option<(i64, &[u8])> {
    let b = skip_spaces(b);
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    let len = digits.iter().take_while(|c| c.is_ascii_digit()).count();
    if len == 0 || len > 20 {
        return None;
    }
    let mut v: i64 = 0;
    for &d in &digits[..len] {
        // Wraps only for values above i64::MAX, which /proc prints for "unlimited"
        // fields we do not use.
        v = v.wrapping_mul(10).wrapping_add(i64::from(d - b'0'));
    }
    let rest = &digits[len..];
    if rest.first().is_some_and(|c| !c.is_ascii_whitespace()) {
        return None;
    }
    Some((if neg { v.wrapping_neg() } else { v }, rest))
}

/// `/proc/PID/io`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct ProcIo {
    pub(crate) rchar: u64,
    pub(crate) wchar: u64,
    pub(crate) syscr: u64,
    pub(crate) syscw: u64,
    pub(crate) read_bytes: u64,
    pub(crate) write_bytes: u64,
    pub(crate) cancelled_write_bytes: u64,
}

/// `/proc/PID/io`, as raw bytes (the sampling path reads bytes).
pub(crate) fn parse_io_bytes(buf: &[u8]) -> Option<ProcIo> {
    let mut io = ProcIo::default();
    let mut seen = 0;
    for line in buf.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let Some((v, _)) = next_int(&line[colon + 1..]) else {
            continue;
        };
        let slot = match &line[..colon] {
            b"rchar" => &mut io.rchar,
            b"wchar" => &mut io.wchar,
            b"syscr" => &mut io.syscr,
            b"syscw" => &mut io.syscw,
            b"read_bytes" => &mut io.read_bytes,
            b"write_bytes" => &mut io.write_bytes,
            b"cancelled_write_bytes" => &mut io.cancelled_write_bytes,
            _ => continue,
        };
        *slot = v as u64;
        seen += 1;
    }
    (seen > 0).then_some(io)
}

/// `/proc/PID/schedstat` (and `/proc/PID/task/TID/schedstat`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SchedStat {
    /// Time spent on a CPU, ns.
    pub(crate) run_ns: u64,
    /// Time spent runnable but waiting for a CPU, ns.
    pub(crate) wait_ns: u64,
    /// Times scheduled onto a CPU.
    pub(crate) timeslices: u64,
}

pub(crate) fn parse_schedstat(text: &str) -> Option<SchedStat> {
    let mut it = text.split_ascii_whitespace().map(|f| f.parse::<u64>().ok());
    Some(SchedStat {
        run_ns: it.next()??,
        wait_ns: it.next()??,
        timeslices: it.next()??,
    })
}

/// The fields of `/proc/PID/status` the collector uses.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct ProcStatus {
    pub(crate) vm_hwm_kb: Option<u64>,
    pub(crate) vm_rss_kb: Option<u64>,
    pub(crate) threads: Option<u64>,
    /// Main thread only (for the whole process, sum `task/*/status`).
    pub(crate) voluntary_ctxt_switches: Option<u64>,
    pub(crate) nonvoluntary_ctxt_switches: Option<u64>,
}

pub(crate) fn parse_status(text: &str) -> ProcStatus {
    let mut s = ProcStatus::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let number = || {
            value
                .split_ascii_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        };
        match key {
            "VmHWM" => s.vm_hwm_kb = number(),
            "VmRSS" => s.vm_rss_kb = number(),
            "Threads" => s.threads = number(),
            "voluntary_ctxt_switches" => s.voluntary_ctxt_switches = number(),
            "nonvoluntary_ctxt_switches" => s.nonvoluntary_ctxt_switches = number(),
            _ => {}
        }
    }
    s
}

/// The cgroup a process belongs to: the unified (v2) path when there is one,
/// else the systemd named hierarchy, else the first non-root controller path.
pub(crate) fn parse_cgroup(text: &str) -> Option<String> {
    let mut systemd = None;
    let mut any = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() && path != "/" {
            return Some(path.to_string());
        }
        if controllers == "name=systemd" && path != "/" {
            systemd = Some(path.to_string());
        } else if path != "/" && any.is_none() {
            any = Some(path.to_string());
        }
    }
    systemd.or(any)
}

/// `btime` (boot time, Unix seconds) from `/proc/stat`.
pub(crate) fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// `MemTotal` from `/proc/meminfo`, in bytes.
pub fn meminfo_total_bytes(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_ascii_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// Most bytes of a command line kept (a cut is marked with `…`): a single huge
/// argument would otherwise be stored whole in every snapshot.
pub(crate) const COMMAND_MAX_BYTES: usize = 4096;

/// Turn a NUL-separated command line, read as bytes, into one display string
/// (arguments joined by spaces) of at most `COMMAND_MAX_BYTES` bytes plus the
/// `…` that marks a cut (on a character boundary). A byte that is not valid
/// UTF-8 is written as `\xNN`, so a process cannot make its command line
/// unreadable. Other text stays raw: escaping happens at the terminal.
pub(crate) fn cmdline_to_command(bytes: &[u8]) -> String {
    let mut end = bytes.len();
    while end > 0 && bytes[end - 1] == 0 {
        end -= 1;
    }
    let mut out = String::with_capacity(end.min(512));
    for chunk in bytes[..end].utf8_chunks() {
        for c in chunk.valid().chars() {
            out.push(if c == '\0' { ' ' } else { c });
            if out.len() > COMMAND_MAX_BYTES {
                return crate::format::cap_bytes(&out, COMMAND_MAX_BYTES);
            }
        }
        for b in chunk.invalid() {
            use std::fmt::Write as _;
            let _ = write!(out, "\\x{b:02x}");
            if out.len() > COMMAND_MAX_BYTES {
                return crate::format::cap_bytes(&out, COMMAND_MAX_BYTES);
            }
        }
    }
    out
}

/// Map a `/proc/PID/stat` state letter to the portable state.
pub(crate) fn state_from_letter(letter: u8) -> ProcessState {
    match letter {
        b'R' => ProcessState::Running,
        b'S' => ProcessState::Sleeping,
        b'D' => ProcessState::DiskSleep,
        b'T' | b't' => ProcessState::Stopped,
        b'Z' => ProcessState::Zombie,
        b'I' => ProcessState::Idle,
        b'X' | b'x' => ProcessState::Dead,
        _ => ProcessState::Unknown,
    }
}

/// One DRM client as its `/proc/PID/fdinfo/FD` describes it (the kernel's DRM
/// client usage stats: `drm-driver`, `drm-pdev`, `drm-client-id`,
/// `drm-engine-<name>: <N> ns`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DrmClient {
    pub(crate) driver: String,
    /// The device (PCI address) when the driver says; client ids are unique
    /// per device, not necessarily across devices.
    pub(crate) pdev: Option<String>,
    pub(crate) client_id: u64,
    /// Busy time summed over the client's engines, ns. `None` when the driver
    /// reports no engine time (some report cycles only).
    pub(crate) engine_ns: Option<u64>,
}

/// Parse one fdinfo file. `None` for descriptors that are not DRM clients (no
/// `drm-driver` or no `drm-client-id`). Engine lines are
/// `drm-engine-<name>: <N> ns`; `drm-engine-capacity-<name>` (an engine count),
/// memory (`drm-memory-*`, `drm-*-memory`) and cycle lines are not time and are
/// skipped.
pub(crate) fn parse_drm_fdinfo(text: &str) -> Option<DrmClient> {
    let mut driver = None;
    let mut pdev = None;
    let mut client_id = None;
    let mut engine_ns: Option<u64> = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "drm-driver" => driver = Some(value.to_string()),
            "drm-pdev" => pdev = Some(value.to_string()),
            "drm-client-id" => client_id = value.parse::<u64>().ok(),
            _ => {
                let Some(engine) = key.strip_prefix("drm-engine-") else {
                    continue;
                };
                if engine.starts_with("capacity-") {
                    continue;
                }
                let mut parts = value.split_ascii_whitespace();
                if let (Some(n), Some("ns"), None) = (parts.next(), parts.next(), parts.next())
                    && let Ok(ns) = n.parse::<u64>()
                {
                    engine_ns = Some(engine_ns.unwrap_or(0).saturating_add(ns));
                }
            }
        }
    }
    Some(DrmClient {
        driver: driver.filter(|d| !d.is_empty())?,
        pdev,
        client_id: client_id?,
        engine_ns,
    })
}

/// GPU time of one process, ns, from the DRM clients of its descriptors: each
/// client counted once (several descriptors can share one client, identified
/// by driver, device and `drm-client-id`; the largest reading wins), then
/// summed over clients. `None` when no client reports engine time.
pub(crate) fn drm_gpu_time_ns(clients: &[DrmClient]) -> Option<u64> {
    let mut seen: Vec<(&str, Option<&str>, u64, u64)> = Vec::with_capacity(clients.len());
    for c in clients {
        let Some(ns) = c.engine_ns else {
            continue;
        };
        let key = (c.driver.as_str(), c.pdev.as_deref(), c.client_id);
        match seen.iter_mut().find(|s| (s.0, s.1, s.2) == key) {
            Some(s) => s.3 = s.3.max(ns),
            None => seen.push((key.0, key.1, key.2, ns)),
        }
    }
    if seen.is_empty() {
        return None;
    }
    Some(seen.iter().fold(0u64, |a, s| a.saturating_add(s.3)))
}

/// Parse one `/proc/pressure/*` (or cgroup `*.pressure`) file: the `total=`
/// counters and `avg10` of its `some` and `full` lines.
pub fn parse_psi(text: &str) -> Option<super::PsiTotal> {
    let mut t = super::PsiTotal::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let which = words.next();
        let (mut total, mut avg10) = (None, None);
        for w in words {
            if let Some(v) = w.strip_prefix("total=") {
                total = v.parse::<u64>().ok();
            } else if let Some(v) = w.strip_prefix("avg10=") {
                avg10 = v.parse::<f64>().ok().filter(|a| a.is_finite());
            }
        }
        match which {
            Some("some") => (t.some_us, t.some_avg10) = (total, avg10),
            Some("full") => (t.full_us, t.full_avg10) = (total, avg10),
            _ => {}
        }
    }
    (t.some_us.is_some() || t.full_us.is_some()).then_some(t)
}

/// The eight CPU-time fields of one `/proc/stat` `cpu` line (after the name).
fn cpu_times(rest: &str) -> Option<super::CpuTimes> {
    let mut f = rest.split_ascii_whitespace().map(|v| v.parse::<u64>().ok());
    let mut next = || f.next().flatten();
    // Kernels before 2.6.11 lack steal; before 2.6.0 iowait, irq, softirq.
    let (user, nice, system, idle) = (next()?, next()?, next()?, next()?);
    Some(super::CpuTimes {
        user,
        nice,
        system,
        idle,
        iowait: next().unwrap_or(0),
        irq: next().unwrap_or(0),
        softirq: next().unwrap_or(0),
        steal: next().unwrap_or(0),
    })
}

/// `/proc/stat`: the all-cores `cpu` line and each `cpuN` line, in order.
pub(crate) fn parse_proc_stat_cpu(
    text: &str,
    cores: &mut Vec<super::CpuTimes>,
) -> Option<super::CpuTimes> {
    cores.clear();
    let mut total = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("cpu") else {
            // The cpu lines come first; nothing after them is needed.
            if total.is_some() {
                break;
            }
            continue;
        };
        if let Some(rest) = rest.strip_prefix(' ') {
            total = cpu_times(rest);
        } else if let Some((n, rest)) = rest.split_once(' ')
            && n.bytes().all(|b| b.is_ascii_digit())
            && let Some(t) = cpu_times(rest)
        {
            cores.push(t);
        }
    }
    total
}

/// `/proc/meminfo`: the gauges the machine series shows, bytes.
pub(crate) fn parse_meminfo(text: &str) -> Option<super::MemCounters> {
    let mut m = super::MemCounters::default();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "MemTotal" => &mut m.total,
            "MemAvailable" => &mut m.available,
            "Cached" => &mut m.cached,
            "Dirty" => &mut m.dirty,
            "SwapTotal" => &mut m.swap_total,
            "SwapFree" => &mut m.swap_free,
            _ => continue,
        };
        *slot = rest
            .split_ascii_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kb| kb.saturating_mul(1024));
    }
    m.total.is_some().then_some(m)
}

/// `/proc/diskstats`: reads, sectors read, writes and sectors written of the
/// devices `whole_disk` accepts, each device's fed to `totals` by its name
/// (sectors are 512 bytes whatever the device's block size); the running
/// totals. `None` when the text has no device line.
pub(crate) fn parse_diskstats(
    text: &str,
    whole_disk: impl Fn(&str) -> bool,
    totals: &mut super::DeviceTotals<4>,
) -> Option<super::DiskCounters> {
    let mut any = false;
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        let (Some(_major), Some(_minor), Some(name)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let v: Vec<u64> = f.take(7).map_while(|x| x.parse().ok()).collect();
        if v.len() < 7 {
            continue;
        }
        any = true;
        if !whole_disk(name) {
            continue;
        }
        let counters = [
            v[0],
            v[2].saturating_mul(512),
            v[4],
            v[6].saturating_mul(512),
        ];
        totals.add(super::device_id(name.as_bytes()), counters);
    }
    let [reads, read_bytes, writes, write_bytes] = totals.finish();
    any.then_some(super::DiskCounters {
        read_bytes,
        write_bytes,
        reads,
        writes,
    })
}

/// `/proc/net/dev`: received and sent bytes of every interface but `lo`,
/// each interface's fed to `totals` by its name; the running totals.
pub(crate) fn parse_net_dev(
    text: &str,
    totals: &mut super::DeviceTotals<2>,
) -> Option<super::NetCounters> {
    let mut any = false;
    for line in text.lines() {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let f: Vec<u64> = rest
            .split_ascii_whitespace()
            .map_while(|x| x.parse().ok())
            .collect();
        if f.len() < 9 {
            continue;
        }
        any = true;
        if name.trim() == "lo" {
            continue;
        }
        totals.add(super::device_id(name.trim().as_bytes()), [f[0], f[8]]);
    }
    let [rx_bytes, tx_bytes] = totals.finish();
    any.then_some(super::NetCounters { rx_bytes, tx_bytes })
}

/// `/proc/loadavg`: `1 5 15 running/threads last_pid`.
pub(crate) fn parse_loadavg(text: &str) -> Option<super::LoadAvg> {
    let mut f = text.split_ascii_whitespace();
    let mut avg = || f.next()?.parse::<f64>().ok().filter(|v| v.is_finite());
    let (one, five, fifteen) = (avg()?, avg()?, avg()?);
    let (running, threads) = match text.split_ascii_whitespace().nth(3) {
        Some(rt) => match rt.split_once('/') {
            Some((r, t)) => (r.parse().ok(), t.parse().ok()),
            None => (None, None),
        },
        None => (None, None),
    };
    Some(super::LoadAvg {
        one,
        five,
        fifteen,
        running,
        threads,
    })
}

/// The last PID the kernel handed out (`/proc/loadavg`'s fifth field, of the
/// reader's PID namespace; threads take PIDs too). While it stays the same, no
/// process or thread was created.
pub(crate) fn loadavg_last_pid(text: &str) -> Option<u64> {
    text.split_ascii_whitespace().nth(4)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_pid_is_the_fifth_field() {
        assert_eq!(loadavg_last_pid("0.08 0.03 0.01 1/93 41207\n"), Some(41207));
        assert_eq!(loadavg_last_pid("0.08 0.03 0.01 1/93"), None);
        assert_eq!(loadavg_last_pid("0.08 0.03 0.01 1/93 x"), None);
    }

    // Captured on a 2-core virtual machine.
    const PROC_STAT: &str = "cpu  1160550 0 226700 842480 19031 0 1912 7667 0 0\n\
cpu0 543904 0 105068 469668 6386 0 134 3755 0 0\n\
cpu1 616646 0 121631 372811 12644 0 1778 3911 0 0\n\
intr 8287136 0 0 0\nctxt 8451327\nbtime 1795535222\nprocesses 23108\n\
procs_running 1\nprocs_blocked 0\n";

    const MEMINFO: &str = "MemTotal:        4020480 kB\nMemFree:          812340 kB\n\
MemAvailable:    2970112 kB\nBuffers:           90120 kB\nCached:          1960444 kB\n\
SwapCached:            0 kB\nSwapTotal:       2097148 kB\nSwapFree:        2000000 kB\n\
Dirty:               132 kB\nWriteback:             0 kB\n";

    const DISKSTATS: &str = "   7       0 loop0 10 0 80 1 0 0 0 0 0 4 1 0 0 0 0 0 0\n\
 254       0 vda 2181632 41631 158992442 7709602 284658 260554 394360640 2251403 0 353796 10047004 191693 49 294811552 84520 19468 1478\n\
 254       1 vda1 2000000 41000 150000000 7000000 280000 260000 390000000 2200000 0 350000 9000000 0 0 0 0 0 0\n\
 253       0 zram0 5 0 40 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    const NET_DEV: &str = "Inter-|   Receive                                                |  Transmit\n\
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n\
    lo:  483299    1306    0    0    0     0          0         0   483299    1306    0    0    0     0       0          0\n\
  eth0: 333592778   10380    0    0    0     0          0         0   431390    4997    0    0    0     0       0          0\n\
 wlan0: 1000   10    0    0    0     0          0         0   2000    20    0    0    0     0       0          0\n";

    #[test]
    fn proc_stat_cpu_lines() {
        let mut cores = Vec::new();
        let total = parse_proc_stat_cpu(PROC_STAT, &mut cores).unwrap();
        assert_eq!(total.user, 1160550);
        assert_eq!(total.system, 226700);
        assert_eq!(total.idle, 842480);
        assert_eq!(total.iowait, 19031);
        assert_eq!(total.softirq, 1912);
        assert_eq!(total.steal, 7667);
        assert_eq!(cores.len(), 2);
        assert_eq!(cores[1].user, 616646);
        assert_eq!(cores[1].steal, 3911);
        // An old kernel without steal; a garbled line is skipped.
        let old = "cpu 1 2 3 4\ncpu0 1 2 3 4\ncpux 9 9 9 9\ncpu1 bad\n";
        let t = parse_proc_stat_cpu(old, &mut cores).unwrap();
        assert_eq!((t.nice, t.steal), (2, 0));
        assert_eq!(cores.len(), 1);
        assert_eq!(parse_proc_stat_cpu("intr 1 2\n", &mut cores), None);
        assert!(cores.is_empty());
    }

    #[test]
    fn meminfo_gauges() {
        let m = parse_meminfo(MEMINFO).unwrap();
        assert_eq!(m.total, Some(4020480 * 1024));
        assert_eq!(m.available, Some(2970112 * 1024));
        assert_eq!(m.cached, Some(1960444 * 1024));
        assert_eq!(m.dirty, Some(132 * 1024));
        assert_eq!(m.swap_total, Some(2097148 * 1024));
        assert_eq!(m.swap_free, Some(2000000 * 1024));
        // An old kernel without MemAvailable: that one is unknown, not zero.
        let old = parse_meminfo("MemTotal: 100 kB\nCached: 5 kB\n").unwrap();
        assert_eq!((old.available, old.cached), (None, Some(5 * 1024)));
        assert_eq!(parse_meminfo("garbage"), None);
    }

    /// `text` with every number after the device name grown by `by` (so
    /// each device moved `by` of everything).
    fn grown(text: &str, name_field: usize, by: u64) -> String {
        text.lines()
            .map(|l| {
                let mut out = Vec::new();
                for (i, w) in l.split_whitespace().enumerate() {
                    match w.parse::<u64>() {
                        Ok(v) if i > name_field => out.push((v + by).to_string()),
                        _ => out.push(w.to_string()),
                    }
                }
                out.join(" ") + "\n"
            })
            .collect()
    }

    #[test]
    fn diskstats_sums_what_whole_disks_moved() {
        let mut t = crate::platform::DeviceTotals::new();
        let vda = |n: &str| n == "vda";
        let first = parse_diskstats(DISKSTATS, vda, &mut t).unwrap();
        assert_eq!(
            first,
            crate::platform::DiskCounters::default(),
            "a first reading"
        );
        // vda did 5 of everything (sectors: 5 × 512 bytes); its partition,
        // loop and zram devices too, and are not counted.
        let d = parse_diskstats(&grown(DISKSTATS, 2, 5), vda, &mut t).unwrap();
        assert_eq!(
            (d.reads, d.read_bytes, d.writes, d.write_bytes),
            (5, 2560, 5, 2560)
        );
        let mut none = crate::platform::DeviceTotals::new();
        let _ = parse_diskstats(DISKSTATS, |_| false, &mut none);
        let n = parse_diskstats(&grown(DISKSTATS, 2, 5), |_| false, &mut none).unwrap();
        assert_eq!(n, crate::platform::DiskCounters::default());
        assert_eq!(parse_diskstats("", |_| true, &mut t), None);
    }

    #[test]
    fn net_dev_sums_what_all_but_loopback_moved() {
        let mut t = crate::platform::DeviceTotals::new();
        assert_eq!(
            parse_net_dev(NET_DEV, &mut t),
            Some(crate::platform::NetCounters::default())
        );
        // eth0 and wlan0 moved 7 each way (lo too, not counted); a tunnel
        // came up with a lifetime of traffic, which is not this interval's.
        let next = format!(
            "{}  tun0: 900000 1 0 0 0 0 0 0 800000 1 0 0 0 0 0 0\n",
            grown(NET_DEV, 0, 7)
        );
        let n = parse_net_dev(&next, &mut t).unwrap();
        assert_eq!((n.rx_bytes, n.tx_bytes), (14, 14));
        assert_eq!(
            parse_net_dev("Inter-| Receive\n face |bytes\n", &mut t),
            None
        );
    }

    #[test]
    fn loadavg_fields() {
        let l = parse_loadavg("0.15 0.32 0.91 1/92 23108\n").unwrap();
        assert_eq!((l.one, l.five, l.fifteen), (0.15, 0.32, 0.91));
        assert_eq!((l.running, l.threads), (Some(1), Some(92)));
        let short = parse_loadavg("1.00 2.00 3.00").unwrap();
        assert_eq!(short.running, None);
        assert_eq!(parse_loadavg("x y z"), None);
    }

    const STAT: &[u8] = b"3823 (cat) R 3821 3821 1038 0 -1 4194304 99 0 1 0 7 3 0 0 20 0 1 0 33994 3133440 388 18446744073709551615 94268172029952 0\n";

    #[test]
    fn stat_fields() {
        let s = parse_stat(STAT).unwrap();
        assert_eq!(s.comm, "cat");
        assert_eq!(s.state, b'R');
        assert_eq!(s.ppid, 3821);
        assert_eq!(s.session, 1038);
        assert_eq!(s.minflt, 99);
        assert_eq!(s.majflt, 1);
        assert_eq!((s.utime, s.stime), (7, 3));
        let c =
            parse_stat(b"9 (sh) S 1 9 9 0 -1 0 5 40 0 3 1 2 70 30 20 0 1 0 100 0 10 0\n").unwrap();
        assert_eq!((c.cminflt, c.cmajflt, c.cutime, c.cstime), (40, 3, 70, 30));
        assert_eq!((s.priority, s.nice), (20, 0));
        assert_eq!(s.num_threads, 1);
        assert_eq!(s.start_ticks, 33994);
        assert_eq!(s.rss_pages, 388);
    }

    #[test]
    fn stat_with_hostile_command() {
        let line = b"42 (a) b) R (c) S 1 1 1 0 -1 0 5 0 6 0 1 2 0 0 20 0 4 0 100 0 10 0\n";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.comm, "a) b) R (c");
        assert_eq!(s.state, b'S');
        assert_eq!(s.num_threads, 4);
        assert_eq!(s.start_ticks, 100);
    }

    #[test]
    fn stat_truncated_or_garbage_is_none() {
        assert!(parse_stat(b"42 (x) R 1 2").is_none());
        assert!(parse_stat(b"").is_none());
        assert!(parse_stat(b")(").is_none());
        assert!(parse_stat(&STAT[..STAT.len() / 2]).is_none());
        assert!(
            parse_stat(b"42 (x) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 2x 21 22\n")
                .is_none()
        );
    }

    #[test]
    fn io_fields() {
        let io = parse_io_bytes(b"rchar: 6976\nwchar: 5\nsyscr: 10\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n").unwrap();
        assert_eq!(io.read_bytes + io.write_bytes, 12288);
        assert_eq!(io.syscr + io.syscw, 12);
        assert!(parse_io_bytes(b"").is_none());
        assert_eq!(
            parse_io_bytes(b"read_bytes: 7\nwrite_bytes: 8\n")
                .map(|i| i.read_bytes + i.write_bytes),
            Some(15)
        );
    }

    #[test]
    fn schedstat_fields() {
        let s = parse_schedstat("208075781 10816541 385\n").unwrap();
        assert_eq!(
            (s.run_ns, s.wait_ns, s.timeslices),
            (208075781, 10816541, 385)
        );
        assert!(parse_schedstat("1 2").is_none());
    }

    #[test]
    fn status_fields() {
        let s = parse_status(
            "Name:\tx\nVmHWM:\t    1900 kB\nVmRSS:\t 1800 kB\nThreads:\t3\nvoluntary_ctxt_switches:\t2\nnonvoluntary_ctxt_switches:\t7\n",
        );
        assert_eq!(s.vm_hwm_kb, Some(1900));
        assert_eq!(s.threads, Some(3));
        assert_eq!(s.voluntary_ctxt_switches, Some(2));
        assert_eq!(s.nonvoluntary_ctxt_switches, Some(7));
        assert_eq!(parse_status("").vm_hwm_kb, None);
    }

    #[test]
    fn cgroup_v2_v1_and_root() {
        assert_eq!(
            parse_cgroup("0::/user.slice/user-1000.slice/session-2.scope\n").as_deref(),
            Some("/user.slice/user-1000.slice/session-2.scope")
        );
        let v1 = "9:name=systemd:/system.slice/ssh.service\n4:memory:/x\n0::/\n";
        assert_eq!(
            parse_cgroup(v1).as_deref(),
            Some("/system.slice/ssh.service")
        );
        assert_eq!(
            parse_cgroup("4:memory:/box/1\n0::/\n").as_deref(),
            Some("/box/1")
        );
        assert_eq!(parse_cgroup("0::/\n"), None);
    }

    #[test]
    fn command_lines_keep_invalid_bytes_visible_and_are_capped() {
        assert_eq!(
            cmdline_to_command(b"/usr/sbin/miner\0--pool\0x\xff\0"),
            "/usr/sbin/miner --pool x\\xff"
        );
        assert_eq!(cmdline_to_command(b"\xc3\0"), "\\xc3");
        let huge = format!("prog\0{}", "é".repeat(100_000));
        let cmd = cmdline_to_command(huge.as_bytes());
        assert!(
            cmd.len() <= COMMAND_MAX_BYTES + '…'.len_utf8(),
            "{}",
            cmd.len()
        );
        assert!(cmd.ends_with('…') && cmd.starts_with("prog éé"));
        let exact = "a".repeat(COMMAND_MAX_BYTES);
        assert_eq!(cmdline_to_command(exact.as_bytes()), exact);
    }

    #[test]
    fn misc() {
        assert_eq!(boot_time("cpu 1 2\nbtime 1795535222\n"), Some(1795535222));
        assert_eq!(
            meminfo_total_bytes("MemTotal:       24684092 kB\n"),
            Some(24684092 * 1024)
        );
        assert_eq!(
            cmdline_to_command(b"python3\0-c\0print(1)\0"),
            "python3 -c print(1)"
        );
        assert_eq!(state_from_letter(b'D'), ProcessState::DiskSleep);
        assert_eq!(state_from_letter(b'?'), ProcessState::Unknown);
    }

    const AMDGPU_FDINFO: &str = "pos:\t0\nflags:\t02100002\nmnt_id:\t24\nino:\t1077\ndrm-driver:\tamdgpu\ndrm-client-id:\t42\ndrm-pdev:\t0000:03:00.0\npasid:\t32770\ndrm-memory-vram:\t1024 KiB\ndrm-memory-gtt:\t2048 KiB\ndrm-memory-cpu:\t0 KiB\namd-memory-visible-vram:\t0 KiB\namd-evicted-vram:\t0 KiB\ndrm-engine-gfx:\t12345 ns\ndrm-engine-compute:\t655 ns\ndrm-engine-dec:\t0 ns\n";

    const I915_FDINFO: &str = "pos:\t0\nflags:\t02100002\nmnt_id:\t26\nino:\t716\ndrm-driver:\ti915\ndrm-pdev:\t0000:00:02.0\ndrm-client-id:\t7\ndrm-engine-render:\t7865 ns\ndrm-engine-copy:\t0 ns\ndrm-engine-video:\t1000 ns\ndrm-engine-capacity-video:\t2\ndrm-engine-video-enhance:\t35 ns\n";

    #[test]
    fn drm_fdinfo_amdgpu() {
        let c = parse_drm_fdinfo(AMDGPU_FDINFO).unwrap();
        assert_eq!(c.driver, "amdgpu");
        assert_eq!(c.pdev.as_deref(), Some("0000:03:00.0"));
        assert_eq!(c.client_id, 42);
        assert_eq!(c.engine_ns, Some(12345 + 655), "memory lines are not time");
    }

    #[test]
    fn drm_fdinfo_i915() {
        let c = parse_drm_fdinfo(I915_FDINFO).unwrap();
        assert_eq!(c.driver, "i915");
        assert_eq!(c.client_id, 7);
        assert_eq!(c.engine_ns, Some(7865 + 1000 + 35), "capacity is a count");
    }

    #[test]
    fn drm_fdinfo_not_a_client() {
        // A plain file's fdinfo, and DRM without a client id.
        assert_eq!(
            parse_drm_fdinfo("pos:\t0\nflags:\t02\nmnt_id:\t9\nino:\t5\n"),
            None
        );
        assert_eq!(
            parse_drm_fdinfo("drm-driver:\tv3d\ndrm-engine-bin:\t5 ns\n"),
            None
        );
        assert_eq!(parse_drm_fdinfo(""), None);
        // A client whose driver reports cycles only has no engine time.
        let xe = "drm-driver:\txe\ndrm-client-id:\t3\ndrm-cycles-rcs:\t100\ndrm-total-cycles-rcs:\t900\n";
        assert_eq!(parse_drm_fdinfo(xe).unwrap().engine_ns, None);
        // Garbage values are skipped, not misread.
        let odd = "drm-driver:\tx\ndrm-client-id:\t1\ndrm-engine-a:\tlots ns\ndrm-engine-b:\t5 us\ndrm-engine-c:\t9 ns\n";
        assert_eq!(parse_drm_fdinfo(odd).unwrap().engine_ns, Some(9));
    }

    #[test]
    fn drm_gpu_time_dedups_shared_clients_and_sums_the_rest() {
        let amd = parse_drm_fdinfo(AMDGPU_FDINFO).unwrap();
        let intel = parse_drm_fdinfo(I915_FDINFO).unwrap();
        // The same client through a dup()ed fd, read a moment later.
        let mut amd_dup = amd.clone();
        amd_dup.engine_ns = Some(13_500);
        // Same client id on another device is another client.
        let mut other_gpu = amd.clone();
        other_gpu.pdev = Some("0000:04:00.0".into());
        other_gpu.engine_ns = Some(1);
        let total = drm_gpu_time_ns(&[amd.clone(), amd_dup, intel.clone(), other_gpu]);
        assert_eq!(total, Some(13_500 + 8_900 + 1));
        assert_eq!(drm_gpu_time_ns(&[amd.clone(), amd]), Some(13_000));
        let mut silent = intel;
        silent.engine_ns = None;
        assert_eq!(drm_gpu_time_ns(&[silent]), None);
        assert_eq!(drm_gpu_time_ns(&[]), None);
    }
}
