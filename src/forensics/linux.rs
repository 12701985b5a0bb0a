//! Linux capture sources: the culprit's threads (state, wchan, CPU time, kernel
//! stack), status, smaps_rollup, fd count, cgroup and I/O counters from /proc;
//! PSI, loadavg, meminfo and a vmstat delta; the kernel log and the journal;
//! optional user-space stacks. Plain readers here; parsing lives in `parse`.

pub(crate) mod parse;

use super::{Gathered, Job, SourceContext, run_tool};
use crate::model::{LogRecord, SourceOutcome, SourceStatus, ThreadRecord, io_status};
use crate::platform::parse as proc_parse;
use crate::sys::tool::{find_in_path, says_denied};
use serde_json::json;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Root of procfs.
const PROC: &str = "/proc";
/// Lines asked of journalctl.
const JOURNAL_LINES: &str = "2000";
/// Longest interval between the two vmstat reads.
const VMSTAT_INTERVAL: Duration = Duration::from_secs(1);
/// How close (ms) the start time read now must be to the tracked one.
const START_TOLERANCE_MS: u64 = 1500;
/// What a denied kernel stack means.
pub(crate) const STACKS_NEED_ROOT: &str =
    "permission denied: kernel stacks need root or CAP_SYS_ADMIN";

/// The source jobs for one capture.
pub(crate) fn jobs(ctx: &SourceContext) -> Vec<Job> {
    let proc_budget = ctx.timeout + super::JOB_GRACE;
    // Tools get two runs (a fallback) plus grace.
    let tool_budget = ctx.timeout * 2 + super::JOB_GRACE;
    let mut jobs = Vec::new();
    let c = ctx.clone();
    jobs.push(Job::new(
        &["threads", "kernel_stacks"],
        proc_budget,
        move || threads(&c),
    ));
    for (name, file) in [
        ("status", "status"),
        ("smaps_rollup", "smaps_rollup"),
        ("cgroup", "cgroup"),
        ("io", "io"),
    ] {
        let c = ctx.clone();
        jobs.push(Job::new(&[name], proc_budget, move || {
            process_file(&c, name, file)
        }));
    }
    if !ctx.members.is_empty() {
        let c = ctx.clone();
        jobs.push(Job::new(&["member_threads"], proc_budget * 2, move || {
            member_threads(&c)
        }));
    }
    let c = ctx.clone();
    jobs.push(Job::new(&["fd_count"], proc_budget, move || fd_count(&c)));
    let c = ctx.clone();
    jobs.push(Job::new(&["pressure"], proc_budget, move || pressure(&c)));
    let c = ctx.clone();
    jobs.push(Job::new(&["loadavg"], proc_budget, move || loadavg(&c)));
    let c = ctx.clone();
    jobs.push(Job::new(&["meminfo"], proc_budget, move || meminfo(&c)));
    let c = ctx.clone();
    jobs.push(Job::new(
        &["vmstat"],
        proc_budget + VMSTAT_INTERVAL,
        move || vmstat(&c),
    ));
    let c = ctx.clone();
    jobs.push(Job::new(&["kernel_log"], tool_budget, move || {
        kernel_log(&c)
    }));
    let c = ctx.clone();
    jobs.push(Job::new(&["journal"], tool_budget, move || journal(&c)));
    if ctx.user_stacks {
        let c = ctx.clone();
        jobs.push(Job::new(&["user_stacks"], tool_budget, move || {
            user_stacks(&c)
        }));
    }
    jobs
}

fn pid_dir(pid: u32) -> PathBuf {
    Path::new(PROC).join(pid.to_string())
}

/// Read at most `cap` bytes of a file as text (lossy).
pub(crate) fn read_capped(path: &Path, cap: usize) -> std::io::Result<(String, u64)> {
    let file = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    file.take(cap as u64).read_to_end(&mut buf)?;
    let n = buf.len() as u64;
    Ok((String::from_utf8_lossy(&buf).into_owned(), n))
}

fn clock_ticks() -> f64 {
    crate::sys::params::clock_ticks().map_or(100.0, |t| t as f64)
}

/// Is `pid` still the process that was tracked? `Err` says why not.
fn check_identity(ctx: &SourceContext) -> Result<(), SourceOutcome> {
    let dir = pid_dir(ctx.pid);
    let stat = std::fs::read(dir.join("stat")).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            SourceOutcome::fail(SourceStatus::Error, format!("process {} is gone", ctx.pid))
        } else {
            SourceOutcome::from_io(&format!("/proc/{}/stat", ctx.pid), &e)
        }
    })?;
    let start_ticks = proc_parse::parse_stat(&stat).map(|s| s.start_ticks);
    let boot = std::fs::read_to_string(Path::new(PROC).join("stat"))
        .ok()
        .and_then(|t| proc_parse::boot_time(&t));
    if let (Some(ticks), Some(boot)) = (start_ticks, boot) {
        let start_ms = boot * 1000 + (ticks as f64 / clock_ticks() * 1000.0) as u64;
        if start_ms.abs_diff(ctx.start_time) > START_TOLERANCE_MS {
            return Err(SourceOutcome::fail(
                SourceStatus::Error,
                format!(
                    "pid {} now belongs to another process (the culprit is gone)",
                    ctx.pid
                ),
            ));
        }
    }
    Ok(())
}

/// A group's other top members: each one's threads as `threads` reads them
/// (identity checked per member), under one outcome.
fn member_threads(ctx: &SourceContext) -> Gathered {
    let mut g = Gathered::default();
    let (mut read, mut problems) = (0usize, Vec::new());
    for &(pid, start_time) in &ctx.members {
        let member = SourceContext {
            pid,
            start_time,
            members: Vec::new(),
            ..ctx.clone()
        };
        let got = threads(&member);
        match got.outcomes.iter().find(|(n, _)| n == "threads") {
            Some((_, o)) if o.status == SourceStatus::Ok => read += 1,
            Some((_, o)) => problems.push(format!("{pid}: {}", o.detail)),
            None => {}
        }
        super::merge_into(&mut g.data, got.data);
    }
    let n = ctx.members.len();
    let outcome = if read > 0 {
        let mut detail = format!("{read} of {n} members");
        if !problems.is_empty() {
            detail.push_str(&format!(" ({})", problems.join("; ")));
        }
        SourceOutcome::ok(detail, 0)
    } else {
        SourceOutcome::fail(SourceStatus::Error, problems.join("; "))
    };
    g.outcomes.push(("member_threads".into(), outcome));
    g
}

/// Every thread: name, state, wchan, CPU time, priority and kernel stack.
fn threads(ctx: &SourceContext) -> Gathered {
    let mut g = Gathered::default();
    if let Err(why) = check_identity(ctx) {
        g.outcomes.push(("threads".into(), why.clone()));
        g.outcomes.push(("kernel_stacks".into(), why));
        return g;
    }
    let task = pid_dir(ctx.pid).join("task");
    let entries = match std::fs::read_dir(&task) {
        Ok(e) => e,
        Err(e) => {
            let why = SourceOutcome::from_io(&task.display().to_string(), &e);
            g.outcomes.push(("threads".into(), why.clone()));
            g.outcomes.push(("kernel_stacks".into(), why));
            return g;
        }
    };
    let mut tids: Vec<u64> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    let ticks = clock_ticks();
    let (mut bytes, mut stack_bytes) = (0u64, 0u64);
    let (mut stacks_ok, mut stacks_denied) = (0usize, 0usize);
    let mut stack_error: Option<String> = None;
    for tid in tids {
        let dir = task.join(tid.to_string());
        let Ok((stat_text, n)) = read_capped(&dir.join("stat"), ctx.cap) else {
            continue; // the thread ended while we looked
        };
        bytes += n;
        let Some(stat) = proc_parse::parse_stat(stat_text.as_bytes()) else {
            continue;
        };
        let wchan = read_capped(&dir.join("wchan"), 4096)
            .ok()
            .and_then(|(t, _)| parse::parse_wchan(&t));
        let kernel_stack = match read_capped(&dir.join("stack"), ctx.cap) {
            Ok((text, n)) => {
                stacks_ok += 1;
                stack_bytes += n;
                Some(parse::parse_kernel_stack(&text))
            }
            Err(e) => {
                if io_status(&e) == SourceStatus::Denied {
                    stacks_denied += 1;
                } else if stack_error.is_none() {
                    stack_error = Some(e.to_string());
                }
                None
            }
        };
        g.data.threads.push(ThreadRecord {
            pid: Some(ctx.pid),
            tid,
            name: Some(stat.comm),
            state: Some(
                proc_parse::state_from_letter(stat.state)
                    .as_str()
                    .to_string(),
            ),
            wchan,
            cpu_time: Some((stat.utime + stat.stime) as f64 / ticks),
            samples: None,
            priority: Some(stat.priority),
            kernel_stack,
            frames: Vec::new(),
        });
    }
    let n = g.data.threads.len();
    g.outcomes.push((
        "threads".into(),
        if n > 0 {
            SourceOutcome::ok(format!("{n} threads"), bytes)
        } else {
            SourceOutcome::fail(
                SourceStatus::Error,
                format!("process {} has no readable threads", ctx.pid),
            )
        },
    ));
    let stacks = if stacks_ok > 0 {
        let mut detail = format!("{stacks_ok} of {n} kernel stacks");
        if stacks_denied > 0 {
            detail.push_str(&format!(" ({stacks_denied} denied)"));
        }
        SourceOutcome::ok(detail, stack_bytes)
    } else if stacks_denied > 0 {
        SourceOutcome::fail(SourceStatus::Denied, STACKS_NEED_ROOT)
    } else if let Some(e) = stack_error {
        let status = if e.contains("No such file") {
            SourceStatus::Missing
        } else {
            SourceStatus::Error
        };
        SourceOutcome::fail(status, format!("kernel stacks unreadable: {e}"))
    } else {
        SourceOutcome::fail(SourceStatus::Error, "no threads to read stacks of")
    };
    g.outcomes.push(("kernel_stacks".into(), stacks));
    g
}

/// One of the culprit's /proc files, parsed into a `process.NAME` snapshot.
fn process_file(ctx: &SourceContext, name: &str, file: &str) -> Gathered {
    if let Err(why) = check_identity(ctx) {
        return Gathered::outcome(name, why);
    }
    let path = pid_dir(ctx.pid).join(file);
    let (text, bytes) = match read_capped(&path, ctx.cap) {
        Ok(r) => r,
        Err(e) => {
            return Gathered::outcome(
                name,
                SourceOutcome::from_io(&path.display().to_string(), &e),
            );
        }
    };
    let (value, detail) = match file {
        "status" => {
            let m = parse::parse_status(&text);
            let n = m.len();
            (json!(m), format!("{n} fields"))
        }
        "smaps_rollup" => {
            let m = parse::parse_kb_lines(&text);
            let rss = m.get("Rss").copied();
            let n = m.len();
            (
                json!(m),
                match rss {
                    Some(r) => format!("{n} fields, Rss {r} kB"),
                    None => format!("{n} fields"),
                },
            )
        }
        "cgroup" => {
            let lines = parse::parse_cgroup(&text);
            let d = lines.last().cloned().unwrap_or_default();
            (json!(lines), d)
        }
        _ => {
            let m = parse::parse_io(&text);
            let n = m.len();
            (json!(m), format!("{n} counters"))
        }
    };
    Gathered::system(
        name,
        SourceOutcome::ok(detail, bytes),
        &format!("process.{name}"),
        value,
    )
}

fn fd_count(ctx: &SourceContext) -> Gathered {
    if let Err(why) = check_identity(ctx) {
        return Gathered::outcome("fd_count", why);
    }
    let dir = pid_dir(ctx.pid).join("fd");
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            let n = entries.flatten().count();
            Gathered::system(
                "fd_count",
                SourceOutcome::ok(format!("{n} open files"), 0),
                "process.fd_count",
                json!(n),
            )
        }
        Err(e) => Gathered::outcome(
            "fd_count",
            SourceOutcome::from_io(&dir.display().to_string(), &e),
        ),
    }
}

fn pressure(ctx: &SourceContext) -> Gathered {
    let mut g = Gathered::default();
    let mut bytes = 0u64;
    let mut failures = Vec::new();
    let mut worst = SourceStatus::Missing;
    for resource in ["cpu", "memory", "io"] {
        let path = Path::new(PROC).join("pressure").join(resource);
        match read_capped(&path, ctx.cap) {
            Ok((text, n)) => {
                bytes += n;
                g.data.pressure.extend(parse::parse_psi(resource, &text));
            }
            Err(e) => {
                let status = match io_status(&e) {
                    // psi=0 at boot: the files exist but refuse reads.
                    SourceStatus::Error if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                        SourceStatus::Missing
                    }
                    s => s,
                };
                if status != SourceStatus::Missing {
                    worst = status;
                }
                failures.push(format!("{resource}: {e}"));
            }
        }
    }
    let outcome = if !g.data.pressure.is_empty() {
        let mut detail = format!("{} PSI lines", g.data.pressure.len());
        if !failures.is_empty() {
            detail.push_str(&format!(" ({})", failures.join(", ")));
        }
        SourceOutcome::ok(detail, bytes)
    } else if worst == SourceStatus::Missing {
        SourceOutcome::fail(
            SourceStatus::Missing,
            format!(
                "no pressure stall information (kernel without CONFIG_PSI, or booted with psi=0): {}",
                failures.join(", ")
            ),
        )
    } else {
        SourceOutcome::fail(worst, failures.join(", "))
    };
    g.outcomes.push(("pressure".into(), outcome));
    g
}

fn loadavg(ctx: &SourceContext) -> Gathered {
    let path = Path::new(PROC).join("loadavg");
    match read_capped(&path, ctx.cap) {
        Ok((text, n)) => match parse::parse_loadavg(&text) {
            Some(l) => Gathered::system(
                "loadavg",
                SourceOutcome::ok(format!("{} {} {}", l.load1, l.load5, l.load15), n),
                "loadavg",
                json!(l),
            ),
            None => Gathered::outcome(
                "loadavg",
                SourceOutcome::fail(SourceStatus::Error, "unexpected /proc/loadavg format"),
            ),
        },
        Err(e) => Gathered::outcome("loadavg", SourceOutcome::from_io("/proc/loadavg", &e)),
    }
}

fn meminfo(ctx: &SourceContext) -> Gathered {
    let path = Path::new(PROC).join("meminfo");
    match read_capped(&path, ctx.cap) {
        Ok((text, n)) => {
            let m = parse::parse_meminfo(&text);
            Gathered::system(
                "meminfo",
                SourceOutcome::ok(format!("{} fields (kB)", m.len()), n),
                "meminfo",
                json!(m),
            )
        }
        Err(e) => Gathered::outcome("meminfo", SourceOutcome::from_io("/proc/meminfo", &e)),
    }
}

/// Two reads of /proc/vmstat about a second apart; the counters that moved.
fn vmstat(ctx: &SourceContext) -> Gathered {
    let path = Path::new(PROC).join("vmstat");
    let interval = VMSTAT_INTERVAL.min(ctx.timeout / 2);
    let first = read_capped(&path, ctx.cap);
    let t0 = std::time::Instant::now();
    std::thread::sleep(interval);
    let second = read_capped(&path, ctx.cap);
    let elapsed = t0.elapsed().as_secs_f64();
    match (first, second) {
        (Ok((a, n1)), Ok((b, n2))) => {
            let delta = parse::vmstat_delta(&parse::parse_vmstat(&a), &parse::parse_vmstat(&b));
            let n = delta.len();
            Gathered::system(
                "vmstat",
                SourceOutcome::ok(format!("{n} counters changed over {elapsed:.2}s"), n1 + n2),
                "vmstat_delta",
                json!({ "interval_s": (elapsed * 1000.0).round() / 1000.0, "counters": delta }),
            )
        }
        (Err(e), _) | (_, Err(e)) => {
            Gathered::outcome("vmstat", SourceOutcome::from_io("/proc/vmstat", &e))
        }
    }
}

/// The log window: `log_window` seconds before the trigger until now.
fn window(ctx: &SourceContext) -> (f64, f64) {
    (ctx.at - ctx.log_window, crate::unix_now() + 1.0)
}

/// `journalctl` over the window as JSON; `kernel` adds `-k`.
fn journalctl(
    ctx: &SourceContext,
    tool: &Path,
    kernel: bool,
) -> Result<(Vec<LogRecord>, u64, String), SourceOutcome> {
    let (from, to) = window(ctx);
    let mut args = Vec::new();
    if kernel {
        args.push("-k".to_string());
    }
    args.extend([
        format!("--since=@{}", from.floor() as i64),
        format!("--until=@{}", to.ceil() as i64),
        "-o".into(),
        "json".into(),
        "--no-pager".into(),
        "-n".into(),
        JOURNAL_LINES.into(),
    ]);
    let out = run_tool(&ctx.tool(tool).name("journalctl").args(&args))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let parsed = parse::parse_journal_json(&text, if kernel { "kernel" } else { "journal" });
    let mut note = out.stderr_line();
    if out.stdout_truncated {
        note = format!("output cut at {} bytes; {note}", ctx.cap);
    }
    if parsed.unknown_lines > 0 {
        note = format!("{} unparsed lines; {note}", parsed.unknown_lines);
    }
    Ok((parsed.records, out.stdout_total, note))
}

fn with_note(detail: String, note: &str) -> String {
    let note = note.trim().trim_end_matches(';').trim();
    if note.is_empty() {
        detail
    } else {
        format!("{detail} ({note})")
    }
}

/// The kernel log for the window: `dmesg`, or `journalctl -k` when dmesg is
/// missing or denied.
fn kernel_log(ctx: &SourceContext) -> Gathered {
    let minutes = ctx.log_window / 60.0;
    let mut g = Gathered::default();
    let mut why_not_dmesg = "dmesg not found in PATH".to_string();
    if let Some(dmesg) = find_in_path("dmesg") {
        let run = run_tool(
            &ctx.tool(&dmesg)
                .name("dmesg")
                .args(["-x", "--time-format", "iso"]),
        );
        match run {
            Ok(out) => {
                let parsed = parse::parse_dmesg(&String::from_utf8_lossy(&out.stdout));
                let read = parsed.records.len();
                let (from, to) = window(ctx);
                g.data.logs = parse::in_window(parsed.records, from, to);
                let mut detail = format!(
                    "dmesg: {} lines in the {minutes:.1}-minute window (of {read} read)",
                    g.data.logs.len()
                );
                if out.stdout_truncated {
                    detail.push_str(&format!("; output cut at {} bytes", ctx.cap));
                }
                g.outcomes.push((
                    "kernel_log".into(),
                    SourceOutcome::ok(detail, out.stdout_total),
                ));
                return g;
            }
            Err(o) if o.status == SourceStatus::Timeout => {
                g.outcomes.push(("kernel_log".into(), o));
                return g;
            }
            Err(o) => why_not_dmesg = format!("{} ({})", o.detail, o.status),
        }
    }
    let Some(journalctl_path) = find_in_path("journalctl") else {
        let status = if why_not_dmesg.contains("denied") {
            SourceStatus::Denied
        } else {
            SourceStatus::Missing
        };
        g.outcomes.push((
            "kernel_log".into(),
            SourceOutcome::fail(
                status,
                format!("{why_not_dmesg}; journalctl not found in PATH"),
            ),
        ));
        return g;
    };
    match journalctl(ctx, &journalctl_path, true) {
        Ok((records, bytes, note)) => {
            let detail = format!("journalctl -k: {} lines ({why_not_dmesg})", records.len());
            g.data.logs = records;
            g.outcomes.push((
                "kernel_log".into(),
                SourceOutcome::ok(with_note(detail, &note), bytes),
            ));
        }
        Err(mut o) => {
            o.detail = format!("{why_not_dmesg}; {}", o.detail);
            g.outcomes.push(("kernel_log".into(), o));
        }
    }
    g
}

/// The journal for the window.
fn journal(ctx: &SourceContext) -> Gathered {
    let Some(tool) = find_in_path("journalctl") else {
        return Gathered::outcome(
            "journal",
            SourceOutcome::fail(SourceStatus::Missing, "journalctl not found in PATH"),
        );
    };
    let mut g = Gathered::default();
    match journalctl(ctx, &tool, false) {
        Ok((records, bytes, note)) => {
            let detail = format!(
                "journalctl: {} entries in the {:.1}-minute window",
                records.len(),
                ctx.log_window / 60.0
            );
            g.data.logs = records;
            g.outcomes.push((
                "journal".into(),
                SourceOutcome::ok(with_note(detail, &note), bytes),
            ));
        }
        Err(o) => g.outcomes.push(("journal".into(), o)),
    }
    g
}

/// User-space stacks of every thread via eu-stack, or gdb in batch mode.
fn user_stacks(ctx: &SourceContext) -> Gathered {
    if let Err(why) = check_identity(ctx) {
        return Gathered::outcome("user_stacks", why);
    }
    let pid = ctx.pid.to_string();
    type Parser = fn(&str) -> parse::UserStacks;
    let choice: Option<(&str, PathBuf, Vec<String>, Parser)> =
        if let Some(path) = find_in_path("eu-stack") {
            Some((
                "eu-stack",
                path,
                vec!["-p".into(), pid],
                parse::parse_eu_stack,
            ))
        } else {
            find_in_path("gdb").map(|path| {
                let args = vec![
                    "-p".into(),
                    pid,
                    "-batch".into(),
                    "-nx".into(),
                    "-ex".into(),
                    "thread apply all bt".into(),
                ];
                ("gdb", path, args, parse::parse_gdb_bt as Parser)
            })
        };
    let Some((tool, path, args, parse_fn)) = choice else {
        return Gathered::outcome(
            "user_stacks",
            SourceOutcome::fail(
                SourceStatus::Missing,
                "neither eu-stack nor gdb found in PATH",
            ),
        );
    };
    let out = match run_tool(&ctx.tool(&path).name(tool).args(&args)) {
        Ok(o) => o,
        Err(o) => return Gathered::outcome("user_stacks", o),
    };
    let stacks = parse_fn(&String::from_utf8_lossy(&out.stdout));
    let mut g = Gathered::default();
    let outcome = if stacks.is_empty() {
        let line = out.stderr_line();
        let status = if says_denied(&line) {
            SourceStatus::Denied
        } else {
            SourceStatus::Error
        };
        SourceOutcome::fail(status, format!("{tool} printed no stacks: {line}"))
    } else {
        SourceOutcome::ok(
            format!("{tool}: {} threads", stacks.len()),
            out.stdout_total,
        )
    };
    g.data.threads = stacks
        .into_iter()
        .map(|(tid, frames)| ThreadRecord {
            pid: Some(ctx.pid),
            tid,
            frames,
            ..ThreadRecord::default()
        })
        .collect();
    g.outcomes.push(("user_stacks".into(), outcome));
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ctx_for_self() -> SourceContext {
        ctx_for(std::process::id())
    }

    fn ctx_for(pid: u32) -> SourceContext {
        let stat = std::fs::read(format!("/proc/{pid}/stat")).unwrap();
        let ticks = proc_parse::parse_stat(&stat).unwrap().start_ticks;
        let boot = proc_parse::boot_time(&std::fs::read_to_string("/proc/stat").unwrap()).unwrap();
        SourceContext {
            pid,
            start_time: boot * 1000 + (ticks as f64 / clock_ticks() * 1000.0) as u64,
            at: crate::unix_now(),
            timeout: Duration::from_secs(5),
            cap: 1 << 20,
            log_window: 60.0,
            user_stacks: false,
            capture_key: 1,
            members: Vec::new(),
        }
    }

    #[test]
    fn reads_this_process() {
        let ctx = ctx_for_self();
        let g = threads(&ctx);
        let outcomes: std::collections::BTreeMap<_, _> = g.outcomes.into_iter().collect();
        assert_eq!(outcomes["threads"].status, SourceStatus::Ok, "{outcomes:?}");
        assert!(g.data.threads.iter().any(|t| t.tid == u64::from(ctx.pid)));
        assert!(
            g.data
                .threads
                .iter()
                .all(|t| t.state.is_some() && t.cpu_time.is_some())
        );
        let stacks = &outcomes["kernel_stacks"];
        if crate::sys::current_uid() == 0 {
            assert_eq!(stacks.status, SourceStatus::Ok, "{stacks:?}");
        } else {
            assert_eq!(stacks.status, SourceStatus::Denied);
            assert_eq!(stacks.detail, STACKS_NEED_ROOT);
        }
        let s = process_file(&ctx, "status", "status");
        assert_eq!(s.outcomes[0].1.status, SourceStatus::Ok);
        assert!(s.data.system["process.status"]["Threads"].is_string());
        let fd = fd_count(&ctx);
        assert!(fd.data.system["process.fd_count"].as_u64().unwrap() >= 3);
    }

    #[test]
    fn a_reused_pid_is_not_captured() {
        let mut ctx = ctx_for_self();
        ctx.start_time -= 60_000;
        let g = threads(&ctx);
        assert!(g.data.threads.is_empty());
        assert_eq!(g.outcomes[0].1.status, SourceStatus::Error);
        assert!(
            g.outcomes[0].1.detail.contains("another process"),
            "{:?}",
            g.outcomes
        );
        ctx.pid = u32::MAX - 1;
        let g = process_file(&ctx, "io", "io");
        assert!(
            g.outcomes[0].1.detail.contains("is gone"),
            "{:?}",
            g.outcomes
        );
    }

    #[test]
    fn user_stacks_through_gdb_when_allowed() {
        if find_in_path("eu-stack").is_none() && find_in_path("gdb").is_none() {
            return;
        }
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let mut ctx = ctx_for(child.id());
        ctx.user_stacks = true;
        let g = user_stacks(&ctx);
        let _ = child.kill();
        let _ = child.wait();
        let outcome = &g.outcomes[0].1;
        if crate::sys::current_uid() == 0 {
            assert_eq!(outcome.status, SourceStatus::Ok, "{outcome:?}");
            let t = &g.data.threads[0];
            assert_eq!(t.tid, u64::from(ctx.pid));
            assert!(!t.frames.is_empty());
            assert_eq!(t.frames[0].parent, None);
        } else {
            assert_ne!(outcome.status, SourceStatus::Timeout, "{outcome:?}");
        }
    }
}
