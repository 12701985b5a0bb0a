//! Pure parsers for what the Linux capture reads: `/proc` text (kernel stacks,
//! wchan, status, smaps_rollup, io, cgroup, PSI, loadavg, meminfo, vmstat),
//! `dmesg --time-format iso`, `journalctl -o json`, `eu-stack` and gdb
//! backtraces. No I/O; tested with the fixtures in `../fixtures/`.

use crate::forensics::timefmt::parse_timestamp;
use crate::model::{FrameRecord, LogRecord, PressureRecord};
use serde::Serialize;
use std::collections::BTreeMap;

/// Characters of one log message kept.
pub(crate) const MESSAGE_CAP: usize = 4096;

/// `/proc/PID/task/TID/stack` → frames, innermost first, without the `[<0>]`
/// address prefix.
pub(crate) fn parse_kernel_stack(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            let l = l.trim();
            match l.strip_prefix("[<").and_then(|r| r.split_once(">]")) {
                Some((_, rest)) => rest.trim(),
                None => l,
            }
        })
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// `/proc/PID/task/TID/wchan`: "0" or empty means not waiting in the kernel.
pub(crate) fn parse_wchan(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty() && t != "0").then(|| t.to_string())
}

/// `Key: value` lines (`/proc/PID/status`) → key → trimmed value.
pub(crate) fn parse_status(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty() && !k.contains(' '))
        .collect()
}

/// `Key:   123 kB` lines (`smaps_rollup`, `meminfo`) → key → number (kB where
/// the file says kB). Lines of another shape (the rollup's header) are skipped.
pub(crate) fn parse_kb_lines(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let k = k.trim();
            if k.is_empty() || k.contains(' ') {
                return None;
            }
            let n = v.split_whitespace().next()?.parse().ok()?;
            Some((k.to_string(), n))
        })
        .collect()
}

/// The `meminfo` keys worth keeping in a capture.
pub(crate) const MEMINFO_KEYS: &[&str] = &[
    "MemTotal",
    "MemFree",
    "MemAvailable",
    "Buffers",
    "Cached",
    "SwapCached",
    "Active",
    "Inactive",
    "SwapTotal",
    "SwapFree",
    "Dirty",
    "Writeback",
    "AnonPages",
    "Mapped",
    "Shmem",
    "Slab",
    "SReclaimable",
    "SUnreclaim",
    "PageTables",
    "Committed_AS",
    "CommitLimit",
];

/// `meminfo` restricted to `MEMINFO_KEYS` (kB).
pub(crate) fn parse_meminfo(text: &str) -> BTreeMap<String, u64> {
    let mut all = parse_kb_lines(text);
    all.retain(|k, _| MEMINFO_KEYS.contains(&k.as_str()));
    all
}

/// `/proc/PID/io` → counter → value.
pub(crate) fn parse_io(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// `/proc/PID/cgroup` → its lines (`hierarchy:controllers:path`).
pub(crate) fn parse_cgroup(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// `/proc/pressure/RESOURCE` → one record per line (`some`, `full`).
pub fn parse_psi(resource: &str, text: &str) -> Vec<PressureRecord> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let kind = parts.next()?;
            if kind != "some" && kind != "full" {
                return None;
            }
            let mut r = PressureRecord {
                resource: resource.to_string(),
                kind: kind.to_string(),
                ..PressureRecord::default()
            };
            for part in parts {
                let Some((k, v)) = part.split_once('=') else {
                    continue;
                };
                match k {
                    "avg10" => r.avg10 = v.parse().ok(),
                    "avg60" => r.avg60 = v.parse().ok(),
                    "avg300" => r.avg300 = v.parse().ok(),
                    "total" => r.total = v.parse().ok(),
                    _ => {}
                }
            }
            Some(r)
        })
        .collect()
}

/// `/proc/loadavg`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct LoadAvg {
    pub(crate) load1: f64,
    pub(crate) load5: f64,
    pub(crate) load15: f64,
    pub(crate) runnable: u64,
    pub(crate) total: u64,
    pub(crate) last_pid: u64,
}

pub(crate) fn parse_loadavg(text: &str) -> Option<LoadAvg> {
    let mut f = text.split_whitespace();
    let load1 = f.next()?.parse().ok()?;
    let load5 = f.next()?.parse().ok()?;
    let load15 = f.next()?.parse().ok()?;
    let (runnable, total) = f.next()?.split_once('/')?;
    Some(LoadAvg {
        load1,
        load5,
        load15,
        runnable: runnable.parse().ok()?,
        total: total.parse().ok()?,
        last_pid: f.next()?.parse().ok()?,
    })
}

/// `/proc/vmstat` → counter → value.
pub(crate) fn parse_vmstat(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// The event counters (pgfault, pgmajfault, pswpin/out, pgscan*, ...) that
/// changed between two vmstat reads, with their increase. `nr_*` gauges are
/// levels, not events, and are left out.
pub(crate) fn vmstat_delta(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, i64> {
    after
        .iter()
        .filter(|(k, _)| !k.starts_with("nr_"))
        .filter_map(|(k, &a)| {
            let b = *before.get(k)?;
            let d = i64::try_from(a).ok()? - i64::try_from(b).ok()?;
            (d != 0).then(|| (k.clone(), d))
        })
        .collect()
}

fn cap_message(text: &str) -> String {
    crate::format::cap_bytes(text, MESSAGE_CAP)
}

/// Syslog level names as dmesg `-x` prints them.
fn level_priority(name: &str) -> Option<u8> {
    Some(match name {
        "emerg" => 0,
        "alert" => 1,
        "crit" => 2,
        "err" => 3,
        "warn" => 4,
        "notice" => 5,
        "info" => 6,
        "debug" => 7,
        _ => return None,
    })
}

/// Parsed kernel log plus the count of lines that fit no known shape.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ParsedLog {
    pub(crate) records: Vec<LogRecord>,
    pub(crate) unknown_lines: usize,
}

/// `dmesg -x --time-format iso` (`facility:level : TIMESTAMP message`, or
/// without `-x` just `TIMESTAMP message`). Lines without a timestamp continue
/// the previous message; before any message they are counted as unknown.
pub(crate) fn parse_dmesg(text: &str) -> ParsedLog {
    let mut out = ParsedLog::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let (priority, unit, rest) = match split_dmesg_prefix(line) {
            Some((facility, level, rest)) => (level_priority(level), Some(facility), rest),
            None => (None, None, line),
        };
        let (stamp, message) = rest
            .trim_start()
            .split_once(' ')
            .unwrap_or((rest.trim(), ""));
        match parse_timestamp(stamp) {
            Some(ts) => out.records.push(LogRecord {
                source: "kernel".into(),
                ts: Some(ts),
                priority,
                unit: unit.map(str::to_string),
                process: None,
                pid: None,
                message: cap_message(message),
            }),
            None => match out.records.last_mut() {
                Some(prev) => {
                    let joined = format!("{}\n{}", prev.message, line.trim());
                    prev.message = cap_message(&joined);
                }
                None => out.unknown_lines += 1,
            },
        }
    }
    out
}

/// `kern  :info  : rest` → ("kern", "info", "rest").
fn split_dmesg_prefix(line: &str) -> Option<(&str, &str, &str)> {
    let (facility, rest) = line.split_once(':')?;
    let (level, rest) = rest.split_once(':')?;
    let (facility, level) = (facility.trim(), level.trim());
    let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    (plain(facility) && level_priority(level).is_some()).then_some((facility, level, rest))
}

/// Keep the records whose time is inside `[from, to]` (records without a time
/// are kept).
pub(crate) fn in_window(records: Vec<LogRecord>, from: f64, to: f64) -> Vec<LogRecord> {
    records
        .into_iter()
        .filter(|r| r.ts.is_none_or(|t| t >= from && t <= to))
        .collect()
}

fn json_str<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(|x| x.as_str())
        .filter(|s| !s.is_empty())
}

/// journald's MESSAGE: a string, an array of bytes (not UTF-8), or null (too
/// large to export without `--all`).
fn journal_message(v: Option<&serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(s)) => cap_message(s),
        Some(serde_json::Value::Array(items)) => {
            let bytes: Vec<u8> = items
                .iter()
                .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            cap_message(&String::from_utf8_lossy(&bytes))
        }
        _ => "[message not exported by journalctl]".into(),
    }
}

/// `journalctl -o json` (one object a line). `source` names the stream
/// (`journal`, or `kernel` for `journalctl -k`).
pub(crate) fn parse_journal_json(text: &str, source: &str) -> ParsedLog {
    let mut out = ParsedLog::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            out.unknown_lines += 1;
            continue;
        };
        if !v.is_object() {
            out.unknown_lines += 1;
            continue;
        }
        let ts = json_str(&v, "__REALTIME_TIMESTAMP")
            .and_then(|t| t.parse::<u64>().ok())
            .map(|us| us as f64 / 1e6);
        let priority = json_str(&v, "PRIORITY")
            .and_then(|p| p.parse::<u8>().ok())
            .filter(|&p| p <= 7);
        let unit = json_str(&v, "_SYSTEMD_UNIT")
            .or_else(|| json_str(&v, "UNIT"))
            .map(str::to_string);
        let process = json_str(&v, "SYSLOG_IDENTIFIER")
            .or_else(|| json_str(&v, "_COMM"))
            .map(str::to_string);
        let pid = json_str(&v, "_PID")
            .or_else(|| json_str(&v, "SYSLOG_PID"))
            .and_then(|p| p.parse().ok());
        out.records.push(LogRecord {
            source: source.to_string(),
            ts,
            priority,
            unit,
            process,
            pid,
            message: journal_message(v.get("MESSAGE")),
        });
    }
    out
}

/// A linear stack (innermost first) → a frame chain, root (outermost) first.
pub(crate) fn chain(frames_innermost_first: Vec<FrameRecord>) -> Vec<FrameRecord> {
    frames_innermost_first
        .into_iter()
        .rev()
        .enumerate()
        .map(|(i, mut f)| {
            f.parent = i.checked_sub(1);
            f.depth = i as u32;
            f
        })
        .collect()
}

fn hex(text: &str) -> Option<u64> {
    u64::from_str_radix(text.strip_prefix("0x")?, 16).ok()
}

/// User-space stacks per thread id, each root-first.
pub(crate) type UserStacks = Vec<(u64, Vec<FrameRecord>)>;

/// `eu-stack -p PID`: `TID n:` headers and `#k  0xADDR symbol [- module]` lines.
pub(crate) fn parse_eu_stack(text: &str) -> UserStacks {
    let mut out: Vec<(u64, Vec<FrameRecord>)> = Vec::new();
    let mut current: Option<(u64, Vec<FrameRecord>)> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(tid) = line.strip_prefix("TID ").and_then(|r| r.strip_suffix(':')) {
            if let Some(done) = current.take() {
                out.push(done);
            }
            current = tid.trim().parse().ok().map(|t| (t, Vec::new()));
            continue;
        }
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let Some((_, rest)) = rest.split_once(char::is_whitespace) else {
            continue;
        };
        let rest = rest.trim();
        let (addr, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let (symbol, module) = match rest.rsplit_once(" - ") {
            Some((s, m)) => (s.trim(), Some(m.trim())),
            None => (rest.trim(), None),
        };
        if let Some((_, frames)) = current.as_mut() {
            frames.push(FrameRecord {
                symbol: (!symbol.is_empty()).then(|| symbol.to_string()),
                module: module.map(str::to_string),
                address: hex(addr),
                ..FrameRecord::default()
            });
        }
    }
    out.extend(current);
    out.into_iter().map(|(t, f)| (t, chain(f))).collect()
}

/// `gdb -batch -ex "thread apply all bt"`: `Thread N (... (LWP tid) ...):`
/// headers and `#k  [0xADDR in] symbol (args) [at file:line | from lib]`.
pub(crate) fn parse_gdb_bt(text: &str) -> UserStacks {
    let mut out: Vec<(u64, Vec<FrameRecord>)> = Vec::new();
    let mut current: Option<(u64, Vec<FrameRecord>)> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("Thread ") {
            if let Some(done) = current.take() {
                out.push(done);
            }
            // `(LWP tid)` with libthread_db, `(process pid ...)` without.
            let id_after = |marker: &str| -> Option<u64> {
                let (_, r) = line.split_once(marker)?;
                let digits: String = r.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            };
            current = id_after("(LWP ")
                .or_else(|| id_after("(process "))
                .map(|t| (t, Vec::new()));
            continue;
        }
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let Some((_, rest)) = rest.split_once(char::is_whitespace) else {
            continue;
        };
        let mut rest = rest.trim();
        let mut address = None;
        if let Some((addr, tail)) = rest.split_once(" in ")
            && let Some(a) = hex(addr.trim())
        {
            address = Some(a);
            rest = tail.trim();
        }
        let (call, module) = match rest.rsplit_once(" from ") {
            Some((c, m)) => (c, Some(m.trim().to_string())),
            None => match rest.rsplit_once(" at ") {
                Some((c, loc)) => (c, Some(loc.trim().to_string())),
                None => (rest, None),
            },
        };
        // The symbol is what precedes the argument list.
        let symbol = match call.find(" (") {
            Some(i) => &call[..i],
            None => call,
        }
        .trim();
        if let Some((_, frames)) = current.as_mut() {
            frames.push(FrameRecord {
                symbol: (!symbol.is_empty() && symbol != "??").then(|| symbol.to_string()),
                module,
                address,
                ..FrameRecord::default()
            });
        }
    }
    out.extend(current);
    out.into_iter().map(|(t, f)| (t, chain(f))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STACK: &str = include_str!("../fixtures/linux_stack.txt");
    const SMAPS: &str = include_str!("../fixtures/linux_smaps_rollup.txt");
    const STATUS: &str = include_str!("../fixtures/linux_status.txt");
    const IO: &str = include_str!("../fixtures/linux_io.txt");
    const CGROUP: &str = include_str!("../fixtures/linux_cgroup.txt");
    const PSI: &str = include_str!("../fixtures/linux_psi_cpu.txt");
    const LOADAVG: &str = include_str!("../fixtures/linux_loadavg.txt");
    const MEMINFO: &str = include_str!("../fixtures/linux_meminfo.txt");
    const VM_BEFORE: &str = include_str!("../fixtures/linux_vmstat_before.txt");
    const VM_AFTER: &str = include_str!("../fixtures/linux_vmstat_after.txt");
    const DMESG: &str = include_str!("../fixtures/linux_dmesg_iso.txt");
    const JOURNAL: &str = include_str!("../fixtures/linux_journal.json");
    const EU_STACK: &str = include_str!("../fixtures/linux_eu_stack.txt");
    const GDB: &str = include_str!("../fixtures/linux_gdb_bt.txt");

    #[test]
    fn kernel_stack_drops_addresses() {
        let s = parse_kernel_stack(STACK);
        assert_eq!(s.len(), 5);
        assert_eq!(s[0], "hrtimer_nanosleep+0x74/0xf0");
        assert_eq!(s[4], "entry_SYSCALL_64_after_hwframe+0x76/0x7e");
        assert!(parse_kernel_stack("").is_empty());
    }

    #[test]
    fn wchan_zero_is_none() {
        assert_eq!(parse_wchan("0"), None);
        assert_eq!(parse_wchan(""), None);
        assert_eq!(
            parse_wchan("hrtimer_nanosleep"),
            Some("hrtimer_nanosleep".into())
        );
    }

    #[test]
    fn status_and_kb_files() {
        let s = parse_status(STATUS);
        assert_eq!(s["Name"], "hog;$(id)");
        assert_eq!(s["State"], "S (sleeping)");
        assert_eq!(s["Threads"], "5");
        assert_eq!(s["VmRSS"], "2048 kB");
        let r = parse_kb_lines(SMAPS);
        assert_eq!(r["Rss"], 1728);
        assert_eq!(r["Pss_Anon"], 112);
        assert_eq!(r.len(), 7, "the [rollup] header is not a key: {r:?}");
        let m = parse_meminfo(MEMINFO);
        assert_eq!(m["MemAvailable"], 15_838_580);
        assert_eq!(m["Dirty"], 32);
        assert!(!m.contains_key("HugePages_Total"));
    }

    #[test]
    fn io_and_cgroup() {
        let io = parse_io(IO);
        assert_eq!(io["read_bytes"], 4096);
        assert_eq!(io["syscw"], 2);
        assert_eq!(io.len(), 7);
        let cg = parse_cgroup(CGROUP);
        assert_eq!(
            cg,
            [
                "4:memory:/user.slice/user-1000.slice",
                "0::/user.slice/user-1000.slice/session-2.scope"
            ]
        );
    }

    #[test]
    fn psi_some_and_full() {
        let p = parse_psi("cpu", PSI);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].kind, "some");
        assert_eq!(p[0].avg10, Some(28.82));
        assert_eq!(p[0].avg300, Some(34.87));
        assert_eq!(p[0].total, Some(393_082_440));
        assert_eq!(p[1].kind, "full");
        assert_eq!(p[1].avg60, Some(0.0));
        assert!(parse_psi("io", "nonsense\n").is_empty());
    }

    #[test]
    fn loadavg() {
        let l = parse_loadavg(LOADAVG).unwrap();
        assert_eq!((l.load1, l.load5, l.load15), (0.88, 2.33, 2.10));
        assert_eq!((l.runnable, l.total, l.last_pid), (1, 85, 3610));
        assert_eq!(parse_loadavg("1 2"), None);
    }

    #[test]
    fn vmstat_delta_reports_changed_event_counters() {
        let d = vmstat_delta(&parse_vmstat(VM_BEFORE), &parse_vmstat(VM_AFTER));
        let expected: BTreeMap<String, i64> = [
            ("pgfault", 12_345),
            ("pgmajfault", 3),
            ("pgpgout", 100),
            ("pgscan_direct", 64),
            ("pswpout", 5),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(d, expected);
    }

    #[test]
    fn dmesg_iso_lines() {
        let p = parse_dmesg(DMESG);
        assert_eq!(p.unknown_lines, 0);
        assert_eq!(p.records.len(), 5);
        let first = &p.records[0];
        assert_eq!(first.ts, Some(1_699_999_990.0));
        assert_eq!(first.priority, Some(6));
        assert_eq!(first.unit.as_deref(), Some("kern"));
        assert_eq!(first.message, "Linux version 6.1.0");
        // The continuation line joined the hung-task message.
        assert_eq!(p.records[1].priority, Some(4));
        assert!(p.records[1].message.ends_with("\nNot tainted 6.1.0 #1"));
        assert_eq!(p.records[2].priority, Some(3));
        assert_eq!(p.records[2].ts, Some(1_700_000_000.25));
        // No -x prefix: no priority, still a record.
        assert_eq!(p.records[3].priority, None);
        assert_eq!(
            p.records[3].message,
            "usb 1-1: new device without facility prefix"
        );
        assert_eq!(p.records[4].unit.as_deref(), Some("user"));
        // The garbage line continues the last record rather than being lost.
        assert!(
            p.records[4]
                .message
                .ends_with("garbage line without a timestamp")
        );
        let w = in_window(p.records, 1_699_999_999.0, 1_700_000_001.0);
        assert_eq!(w.len(), 3);
        assert_eq!(parse_dmesg("no stamp here\n").unknown_lines, 1);
    }

    #[test]
    fn journal_json_lines() {
        let p = parse_journal_json(JOURNAL, "journal");
        assert_eq!(p.unknown_lines, 1);
        assert_eq!(p.records.len(), 5);
        let r = &p.records[0];
        assert_eq!(r.ts, Some(1_700_000_000.25));
        assert_eq!(r.priority, Some(3));
        assert_eq!(r.unit.as_deref(), Some("hog.service"));
        assert_eq!(r.process.as_deref(), Some("hog"));
        assert_eq!(r.pid, Some(4242));
        assert_eq!(r.message, "worker stalled; $(touch /tmp/x)");
        assert_eq!(p.records[1].process.as_deref(), Some("kernel"));
        // Byte-array message, not UTF-8: decoded lossily, escape kept for later.
        assert_eq!(p.records[2].message, "hi\u{1b}[31m\u{fffd}");
        assert_eq!(p.records[2].process.as_deref(), Some("bash"));
        assert!(p.records[3].message.contains("not exported"));
        assert_eq!(p.records[4].priority, None, "9 is not a syslog priority");
        assert_eq!(p.records[4].ts, None);
    }

    #[test]
    fn long_messages_are_capped() {
        let line = format!(
            "{{\"__REALTIME_TIMESTAMP\":\"1\",\"MESSAGE\":\"{}\"}}",
            "é".repeat(MESSAGE_CAP)
        );
        let p = parse_journal_json(&line, "journal");
        assert!(p.records[0].message.len() <= MESSAGE_CAP + 4);
        assert!(p.records[0].message.ends_with('…'));
    }

    #[test]
    fn eu_stack_threads() {
        let s = parse_eu_stack(EU_STACK);
        assert_eq!(s.len(), 2);
        let (tid, frames) = &s[0];
        assert_eq!(*tid, 4242);
        assert_eq!(frames.len(), 4);
        // Root first: main is the outermost frame.
        assert_eq!(frames[0].symbol.as_deref(), Some("main"));
        assert_eq!(frames[0].parent, None);
        assert_eq!(frames[3].symbol.as_deref(), Some("__clock_nanosleep"));
        assert_eq!((frames[3].parent, frames[3].depth), (Some(2), 3));
        assert_eq!(frames[3].address, Some(0x7f3a_1c0e_1f3a));
        let (tid, frames) = &s[1];
        assert_eq!(*tid, 4243);
        assert_eq!(frames[1].symbol.as_deref(), Some("hog::spin"));
        assert_eq!(frames[1].module.as_deref(), Some("/work/target/debug/hog"));
        assert_eq!(frames[0].symbol, None);
    }

    #[test]
    fn gdb_backtraces() {
        let s = parse_gdb_bt(GDB);
        assert_eq!(s.len(), 2);
        let (tid, frames) = &s[0];
        assert_eq!(*tid, 4243);
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].symbol.as_deref(), Some("clone3"));
        assert_eq!(
            frames[0].module.as_deref(),
            Some("/lib/x86_64-linux-gnu/libc.so.6")
        );
        assert_eq!(frames[2].symbol.as_deref(), Some("hog::spin"));
        assert_eq!(frames[2].address, None);
        assert_eq!(frames[2].module.as_deref(), Some("src/main.rs:12"));
        let (tid, frames) = &s[1];
        assert_eq!(*tid, 4242);
        assert_eq!(frames[2].symbol.as_deref(), Some("__GI___clock_nanosleep"));
        assert_eq!(frames[2].address, Some(0x7f3a_1c0e_1f3a));
        assert_eq!(frames[0].symbol.as_deref(), Some("main"));
        // Without libthread_db the header names the process.
        let plain = parse_gdb_bt("Thread 1 (process 99 \"x\"):\n#0  0x10 in f ()\n");
        assert_eq!(plain[0].0, 99);
        assert_eq!(plain[0].1[0].symbol.as_deref(), Some("f"));
    }
}
