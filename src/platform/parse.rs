//! Parsers for Linux `/proc` text: plain functions over bytes, compiled and
//! tested on every platform. No I/O here.

use crate::model::ProcessState;

/// The fields of `/proc/PID/stat` the collector uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcStat {
    pub comm: String,
    pub state: u8,
    pub ppid: u32,
    pub minflt: u64,
    pub majflt: u64,
    /// Clock ticks, whole process (all threads).
    pub utime: u64,
    pub stime: u64,
    pub priority: i64,
    pub nice: i64,
    pub num_threads: u64,
    /// Clock ticks after boot.
    pub start_ticks: u64,
    pub rss_pages: i64,
}

/// Parse `/proc/PID/stat`. The command sits in parentheses and may itself hold
/// spaces and parentheses, so fields are counted from the *last* `)`.
pub fn parse_stat(buf: &[u8]) -> Option<ProcStat> {
    let open = buf.iter().position(|&b| b == b'(')?;
    let close = buf.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let comm = String::from_utf8_lossy(&buf[open + 1..close]).into_owned();
    let rest = std::str::from_utf8(buf.get(close + 1..)?).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    // Field 3 (state) is the first after the command.
    let state = *fields.next()?.as_bytes().first()?;
    let mut f = [0i64; 22];
    // Fields 4..=24 (ppid .. rss) into f[4..=24-3].
    for slot in f.iter_mut().take(22).skip(1) {
        *slot = fields.next()?.parse::<i64>().ok()?;
    }
    // f[i] holds field i + 3.
    let field = |n: usize| f[n - 3];
    Some(ProcStat {
        comm,
        state,
        ppid: field(4) as u32,
        minflt: field(10) as u64,
        majflt: field(12) as u64,
        utime: field(14) as u64,
        stime: field(15) as u64,
        priority: field(18),
        nice: field(19),
        num_threads: field(20) as u64,
        start_ticks: field(22) as u64,
        rss_pages: field(24),
    })
}

/// `/proc/PID/io`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProcIo {
    pub rchar: u64,
    pub wchar: u64,
    pub syscr: u64,
    pub syscw: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub cancelled_write_bytes: u64,
}

pub fn parse_io(text: &str) -> Option<ProcIo> {
    let mut io = ProcIo::default();
    let mut seen = 0;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let Ok(v) = value.trim().parse::<u64>() else {
            continue;
        };
        let slot = match key {
            "rchar" => &mut io.rchar,
            "wchar" => &mut io.wchar,
            "syscr" => &mut io.syscr,
            "syscw" => &mut io.syscw,
            "read_bytes" => &mut io.read_bytes,
            "write_bytes" => &mut io.write_bytes,
            "cancelled_write_bytes" => &mut io.cancelled_write_bytes,
            _ => continue,
        };
        *slot = v;
        seen += 1;
    }
    (seen > 0).then_some(io)
}

/// `/proc/PID/schedstat` (and `/proc/PID/task/TID/schedstat`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SchedStat {
    /// Time spent on a CPU, ns.
    pub run_ns: u64,
    /// Time spent runnable but waiting for a CPU, ns.
    pub wait_ns: u64,
    /// Times scheduled onto a CPU.
    pub timeslices: u64,
}

pub fn parse_schedstat(text: &str) -> Option<SchedStat> {
    let mut it = text.split_ascii_whitespace().map(|f| f.parse::<u64>().ok());
    Some(SchedStat {
        run_ns: it.next()??,
        wait_ns: it.next()??,
        timeslices: it.next()??,
    })
}

/// The fields of `/proc/PID/status` the collector uses.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProcStatus {
    pub vm_hwm_kb: Option<u64>,
    pub vm_rss_kb: Option<u64>,
    pub threads: Option<u64>,
    /// Main thread only (for the whole process, sum `task/*/status`).
    pub voluntary_ctxt_switches: Option<u64>,
    pub nonvoluntary_ctxt_switches: Option<u64>,
}

pub fn parse_status(text: &str) -> ProcStatus {
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
pub fn parse_cgroup(text: &str) -> Option<String> {
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
pub fn boot_time(stat: &str) -> Option<u64> {
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

/// Turn a NUL-separated command line into one display string (arguments joined
/// by spaces). The text stays raw: escaping happens at the terminal.
pub fn cmdline_to_command(text: &str) -> String {
    let trimmed = text.trim_end_matches('\0');
    let mut out = String::with_capacity(trimmed.len().min(512));
    for (i, arg) in trimmed.split('\0').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(arg);
        if out.len() > 4096 {
            break;
        }
    }
    out
}

/// Map a `/proc/PID/stat` state letter to the portable state.
pub fn state_from_letter(letter: u8) -> ProcessState {
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

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &[u8] = b"3823 (cat) R 3821 3821 1038 0 -1 4194304 99 0 1 0 7 3 0 0 20 0 1 0 33994 3133440 388 18446744073709551615 94268172029952 0\n";

    #[test]
    fn stat_fields() {
        let s = parse_stat(STAT).unwrap();
        assert_eq!(s.comm, "cat");
        assert_eq!(s.state, b'R');
        assert_eq!(s.ppid, 3821);
        assert_eq!(s.minflt, 99);
        assert_eq!(s.majflt, 1);
        assert_eq!((s.utime, s.stime), (7, 3));
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
    }

    #[test]
    fn io_fields() {
        let io = parse_io("rchar: 6976\nwchar: 5\nsyscr: 10\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n").unwrap();
        assert_eq!(io.read_bytes + io.write_bytes, 12288);
        assert_eq!(io.syscr + io.syscw, 12);
        assert!(parse_io("").is_none());
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
    fn misc() {
        assert_eq!(boot_time("cpu 1 2\nbtime 1795535222\n"), Some(1795535222));
        assert_eq!(
            meminfo_total_bytes("MemTotal:       24684092 kB\n"),
            Some(24684092 * 1024)
        );
        assert_eq!(
            cmdline_to_command("python3\0-c\0print(1)\0"),
            "python3 -c print(1)"
        );
        assert_eq!(state_from_letter(b'D'), ProcessState::DiskSleep);
        assert_eq!(state_from_letter(b'?'), ProcessState::Unknown);
    }
}
