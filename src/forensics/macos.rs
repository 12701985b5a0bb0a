//! macOS capture sources (compiled only on macOS): `sudo -n tailspin save` into
//! a fixed private directory, decoded with `spindump -i`, and `log show --style
//! ndjson` for the window with a constant predicate. Thin: parsing lives in
//! `spindump` and `oslog`, which are tested everywhere.

use super::spindump::{self, SpindumpReport};
use super::{Gathered, Job, SourceContext, oslog, run_tool, timefmt};
use crate::model::{SourceOutcome, SourceStatus};
use crate::sys::tool::is_executable;
use serde_json::json;
use std::path::{Path, PathBuf};

pub(crate) const SUDO: &str = "/usr/bin/sudo";
pub(crate) const TAILSPIN: &str = "/usr/bin/tailspin";
pub(crate) const SPINDUMP: &str = "/usr/sbin/spindump";
pub(crate) const LOG: &str = "/usr/bin/log";
/// Processes listed in `spindump.top_processes`.
const TOP_PROCESSES: usize = 10;

/// The fixed directory `tailspin save` writes into, one per user (the sudoers
/// rule `perms install` writes names exactly this directory).
pub(crate) fn tailspin_dir() -> PathBuf {
    crate::perms::sudoers::tailspin_dir_for(crate::sys::current_uid())
}

/// The source jobs for one capture.
pub(crate) fn jobs(ctx: &SourceContext) -> Vec<Job> {
    let grace = super::JOB_GRACE;
    let c = ctx.clone();
    let tailspin = Job::new(
        &["tailspin", "spindump"],
        ctx.timeout * 2 + grace,
        move || tailspin_and_spindump(&c),
    );
    let c = ctx.clone();
    let log = Job::new(&["unified_log"], ctx.timeout + grace, move || {
        unified_log(&c)
    });
    vec![tailspin, log]
}

fn missing(tool: &str) -> SourceOutcome {
    SourceOutcome::fail(SourceStatus::Missing, format!("{tool} not found"))
}

/// Save the kernel trace ring (root, via the sudoers rule), decode it, parse
/// the report and keep the culprit's threads plus the system header.
fn tailspin_and_spindump(ctx: &SourceContext) -> Gathered {
    let mut g = Gathered::default();
    let skip = |g: &mut Gathered, why: &str| {
        g.outcomes.push((
            "spindump".into(),
            SourceOutcome::fail(SourceStatus::Error, format!("skipped: {why}")),
        ));
    };
    for tool in [SUDO, TAILSPIN] {
        if !is_executable(Path::new(tool)) {
            g.outcomes.push(("tailspin".into(), missing(tool)));
            skip(&mut g, "no tailspin file");
            return g;
        }
    }
    let dir = tailspin_dir();
    if let Err(e) = crate::sys::ensure_private_dir(&dir) {
        g.outcomes.push((
            "tailspin".into(),
            SourceOutcome::fail(SourceStatus::Error, e.to_string()),
        ));
        skip(&mut g, "no tailspin file");
        return g;
    }
    let file = dir.join(format!(
        "capture-{}-{}-{}.tailspin",
        std::process::id(),
        ctx.capture_key,
        ctx.at.floor() as i64
    ));
    let saved = run_tool(
        &ctx.tool(SUDO)
            .name("sudo tailspin save")
            .stdout_cap(64 * 1024)
            .args(["-n", TAILSPIN, "save", "-o"])
            .arg(&file),
    );
    if let Err(mut o) = saved {
        if o.status == SourceStatus::Denied {
            o.detail = format!(
                "{} (saving the trace needs root: run `rogue-hunter perms install` to add the \
                 sudoers rule)",
                o.detail
            );
        }
        g.outcomes.push(("tailspin".into(), o));
        skip(&mut g, "no tailspin file");
        let _ = std::fs::remove_file(&file);
        return g;
    }
    let size = std::fs::metadata(&file).map_or(0, |m| m.len());
    g.outcomes.push((
        "tailspin".into(),
        SourceOutcome::ok(format!("saved {size} bytes (deleted after decoding)"), size),
    ));
    if !is_executable(Path::new(SPINDUMP)) {
        g.outcomes.push(("spindump".into(), missing(SPINDUMP)));
        let _ = std::fs::remove_file(&file);
        return g;
    }
    let decoded = run_tool(
        &ctx.tool(SPINDUMP)
            .name("spindump")
            .arg("-i")
            .arg(&file)
            .arg("-stdout"),
    );
    if let Err(e) = std::fs::remove_file(&file) {
        tracing::debug!(file = %file.display(), error = %e, "cannot delete the tailspin file");
    }
    match decoded {
        Ok(out) => {
            let report = spindump::parse(&String::from_utf8_lossy(&out.stdout));
            let mut detail = summarise(&report, ctx.pid, &mut g);
            if out.stdout_truncated {
                detail.push_str(&format!("; report cut at {} bytes", ctx.cap));
            }
            g.outcomes.push((
                "spindump".into(),
                SourceOutcome::ok(detail, out.stdout_total),
            ));
        }
        Err(o) => g.outcomes.push(("spindump".into(), o)),
    }
    g
}

/// Move the useful parts of a report into the capture; returns the detail.
fn summarise(report: &SpindumpReport, pid: u32, g: &mut Gathered) -> String {
    let sys = &mut g.data.system;
    sys.insert("spindump.header".into(), json!(report.summary()));
    sys.insert("spindump.io_statistics".into(), json!(report.io_statistics));
    sys.insert("spindump.histograms".into(), json!(report.histograms));
    sys.insert(
        "spindump.aggregate_stats".into(),
        json!(report.aggregate_stats),
    );
    sys.insert("spindump.unknown_lines".into(), json!(report.unknown_lines));
    let mut top: Vec<_> = report.processes.iter().collect();
    top.sort_by(|a, b| {
        b.cpu_time_s
            .unwrap_or(0.0)
            .total_cmp(&a.cpu_time_s.unwrap_or(0.0))
    });
    let top: Vec<serde_json::Value> = top
        .iter()
        .take(TOP_PROCESSES)
        .map(|p| {
            json!({
                "name": p.name,
                "pid": p.pid,
                "cpu_time_s": p.cpu_time_s,
                "num_samples": p.num_samples,
                "footprint_bytes": p.footprint_bytes,
                "num_threads": p.num_threads,
            })
        })
        .collect();
    sys.insert("spindump.top_processes".into(), json!(top));
    let n = report.processes.len();
    match report.process(pid) {
        Some(p) => {
            sys.insert(
                "spindump.process".into(),
                json!({
                    "name": p.name,
                    "pid": p.pid,
                    "fields": p.fields,
                    "notes": p.notes,
                    "parent": p.parent,
                    "responsible": p.responsible,
                    "footprint_bytes": p.footprint_bytes,
                    "cpu_time_s": p.cpu_time_s,
                    "num_samples": p.num_samples,
                    "num_threads": p.num_threads,
                    "binary_images": p.binary_images.len(),
                }),
            );
            g.data.threads = spindump::thread_records(p);
            format!(
                "{n} processes; culprit has {} threads; {} unknown lines",
                p.threads.len(),
                report.unknown_lines
            )
        }
        None => format!(
            "{n} processes, but pid {pid} is not in the report; {} unknown lines",
            report.unknown_lines
        ),
    }
}

/// The unified log for the window.
fn unified_log(ctx: &SourceContext) -> Gathered {
    if !is_executable(Path::new(LOG)) {
        return Gathered::outcome("unified_log", missing(LOG));
    }
    let start = timefmt::format_utc(ctx.at - ctx.log_window);
    let end = timefmt::format_utc(crate::unix_now() + 1.0);
    let args = [
        "show",
        "--style",
        "ndjson",
        "--start",
        start.as_str(),
        "--end",
        end.as_str(),
        "--predicate",
        oslog::PREDICATE,
    ];
    let out = match run_tool(&ctx.tool(LOG).name("log show").args(args)) {
        Ok(o) => o,
        Err(o) => return Gathered::outcome("unified_log", o),
    };
    let parsed = oslog::parse_ndjson(&String::from_utf8_lossy(&out.stdout));
    let mut detail = format!(
        "{} entries from {start} to {end}; {} other lines",
        parsed.records.len(),
        parsed.unknown_lines
    );
    if out.stdout_truncated {
        detail.push_str(&format!("; output cut at {} bytes", ctx.cap));
    }
    let mut g = Gathered::outcome("unified_log", SourceOutcome::ok(detail, out.stdout_total));
    g.data.logs = parsed.records;
    g
}
