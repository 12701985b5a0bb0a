//! `rogue-hunter events` and `events show ID`: what went rogue, and the
//! timeline of one event.

use super::{CliError, Context, out, parse_duration};
use crate::forensics;
use crate::format::{self, Align};
use crate::model::ProcessSamples;
use crate::model::{CaptureStatus, EventRow, LogRecord, SnapshotRow, SnapshotType, ThreadRecord};
use crate::storage::{EventFilter, StorageError, Store};
use clap::Subcommand;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EventsArgs {
    #[command(subcommand)]
    pub show: Option<EventsCommand>,
    /// Only events still open.
    #[arg(long)]
    pub open: bool,
    /// At most N events (newest first).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Only events active within this long ago: 90s, 10m, 2h, 3d.
    #[arg(long, value_name = "DUR")]
    pub since: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// One event with its snapshots (and its forensic captures).
    Show {
        id: i64,
        /// Include the forensic captures: a summary of each (threads by state,
        /// the hottest stack, pressure, culprits).
        #[arg(long)]
        forensics: bool,
        /// Every thread of each capture with its stack (implies --forensics).
        #[arg(long)]
        threads: bool,
        /// The kernel/journal/unified-log lines of each capture (implies
        /// --forensics).
        #[arg(long)]
        logs: bool,
        #[arg(long)]
        json: bool,
    },
}

fn open_store(ctx: &Context) -> Result<Store, CliError> {
    Store::open_read_only(&ctx.paths.database()).map_err(|e| CliError::runtime(e.to_string()))
}

pub fn run(ctx: &Context, args: EventsArgs) -> Result<(), CliError> {
    if let Some(EventsCommand::Show {
        id,
        forensics,
        threads,
        logs,
        json,
    }) = args.show
    {
        let opts = ShowOptions {
            forensics: forensics || threads || logs,
            threads,
            logs,
            json,
        };
        return show(ctx, id, opts);
    }
    let since = match &args.since {
        Some(text) => Some(crate::unix_now() - parse_duration(text)?),
        None => None,
    };
    // No database yet means nothing recorded yet, not a failure.
    let events = match Store::open_read_only(&ctx.paths.database()) {
        Ok(store) => store
            .list_events(&EventFilter {
                open_only: args.open,
                since,
                limit: Some(args.limit),
            })
            .map_err(|e| CliError::runtime(e.to_string()))?,
        Err(StorageError::Missing { .. }) => Vec::new(),
        Err(e) => return Err(CliError::runtime(e.to_string())),
    };
    if args.json {
        let text = serde_json::to_string_pretty(&events)
            .map_err(|e| CliError::runtime(format!("cannot encode events: {e}")))?;
        return out(&format!("{text}\n"));
    }
    if events.is_empty() {
        return out("no events recorded (events are recorded by `rogue-hunter daemon`)\n");
    }
    out(&events_table(&events))
}

fn event_status(e: &EventRow) -> String {
    match (&e.exit_time_s, &e.close_reason) {
        (None, _) => "open".into(),
        (Some(_), Some(r)) => r.to_string(),
        (Some(_), None) => "closed".into(),
    }
}

fn event_duration(e: &EventRow) -> String {
    format::duration(e.exit_time_s.unwrap_or_else(crate::unix_now) - e.entry_time_s)
}

pub fn events_table(events: &[EventRow]) -> String {
    let headers = [
        ("ID", Align::Right),
        ("PID", Align::Right),
        ("ENTERED", Align::Left),
        ("FOR", Align::Right),
        ("PEAK", Align::Right),
        ("BAND", Align::Left),
        ("DOMINANT", Align::Left),
        ("STATUS", Align::Left),
        ("FORENSICS", Align::Right),
        ("COMMAND", Align::Left),
    ];
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                e.pid.to_string(),
                format::local_time(e.entry_time_s),
                event_duration(e),
                format!("{:.1}", e.peak_score),
                e.peak_band.to_string(),
                e.dominant_resource.to_string(),
                event_status(e),
                e.forensics_count.to_string(),
                format::truncate(&format::escape(&e.command), 48),
            ]
        })
        .collect();
    format::table(&headers, &rows)
}

/// The stable JSON shape of `events show ID --json`; `forensics` only with
/// `--forensics`.
#[derive(Debug, Serialize)]
struct EventDetail<'a> {
    #[serde(flatten)]
    event: &'a EventRow,
    snapshots: &'a [SnapshotRow],
    #[serde(skip_serializing_if = "Option::is_none")]
    forensics: Option<&'a [ForensicView]>,
}

/// What `events show` prints.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShowOptions {
    pub forensics: bool,
    pub threads: bool,
    pub logs: bool,
    pub json: bool,
}

/// One capture as `events show --forensics --json` prints it.
#[derive(Debug, Serialize)]
pub struct ForensicView {
    pub id: i64,
    pub captured_at: f64,
    pub trigger: String,
    pub status: CaptureStatus,
    pub duration_ms: Option<f64>,
    /// Why the capture is not complete ("source: status (detail); ...").
    pub error: Option<String>,
    /// Per source: `{status, detail, bytes}`.
    pub sources: serde_json::Value,
    pub threads: Vec<ThreadRecord>,
    /// resource → kind (`some`/`full`) → `{avg10, avg60, avg300, total}`.
    pub pressure: BTreeMap<String, BTreeMap<String, PressureValues>>,
    pub logs: Vec<LogRecord>,
    /// Named snapshots: loadavg, meminfo, vmstat_delta, process.*, spindump.*.
    pub system: BTreeMap<String, serde_json::Value>,
    pub buffer_context: Option<BufferView>,
    pub culprits: serde_json::Value,
}

#[derive(Debug, Serialize)]
pub struct PressureValues {
    pub avg10: Option<f64>,
    pub avg60: Option<f64>,
    pub avg300: Option<f64>,
    pub total: Option<u64>,
}

/// The frozen ring buffer of a capture.
#[derive(Debug, Serialize)]
pub struct BufferView {
    pub id: i64,
    pub samples: usize,
    /// Unix seconds of the oldest and newest sample.
    pub from: Option<f64>,
    pub to: Option<f64>,
    pub frozen: Vec<ProcessSamples>,
}

/// Every capture of an event, with what it gathered.
pub fn forensic_views(store: &Store, event_id: i64) -> Result<Vec<ForensicView>, CliError> {
    let err = |e: crate::storage::StorageError| CliError::runtime(e.to_string());
    let mut views = Vec::new();
    for c in store.captures(event_id).map_err(err)? {
        let data = store.capture_data(c.id).map_err(err)?;
        let ctx = store.buffer_context(c.id).map_err(err)?;
        let mut pressure: BTreeMap<String, BTreeMap<String, PressureValues>> = BTreeMap::new();
        for p in data.pressure {
            pressure.entry(p.resource).or_default().insert(
                p.kind,
                PressureValues {
                    avg10: p.avg10,
                    avg60: p.avg60,
                    avg300: p.avg300,
                    total: p.total,
                },
            );
        }
        let (culprits, buffer_context) = match ctx {
            Some(b) => (
                b.culprits.unwrap_or_else(|| serde_json::json!([])),
                Some(BufferView {
                    id: b.id,
                    samples: b.frozen.len(),
                    from: b.frozen.first().map(|s| s.timestamp_s),
                    to: b.frozen.last().map(|s| s.timestamp_s),
                    frozen: b.frozen,
                }),
            ),
            None => (serde_json::json!([]), None),
        };
        views.push(ForensicView {
            id: c.id,
            captured_at: c.captured_at_s,
            trigger: c.trigger,
            status: c.status,
            duration_ms: c.duration_ms,
            error: c.error,
            sources: c.sources.unwrap_or_else(|| serde_json::json!({})),
            threads: data.threads,
            pressure,
            logs: data.logs,
            system: data.system,
            buffer_context,
            culprits,
        });
    }
    Ok(views)
}

fn show(ctx: &Context, id: i64, opts: ShowOptions) -> Result<(), CliError> {
    let store = open_store(ctx)?;
    let Some((event, snapshots)) = store
        .event_detail(id)
        .map_err(|e| CliError::runtime(e.to_string()))?
    else {
        return Err(CliError::runtime(format!(
            "no event with id {id} (list them with `rogue-hunter events`)"
        )));
    };
    let views = if opts.forensics {
        Some(forensic_views(&store, id)?)
    } else {
        None
    };
    if opts.json {
        let text = serde_json::to_string_pretty(&EventDetail {
            event: &event,
            snapshots: &snapshots,
            forensics: views.as_deref(),
        })
        .map_err(|e| CliError::runtime(format!("cannot encode event: {e}")))?;
        return out(&format!("{text}\n"));
    }
    let mut t = String::new();
    t.push_str(&format!(
        "event {}  pid {}  {}\n",
        event.id,
        event.pid,
        format::escape(&event.command)
    ));
    t.push_str(&format!(
        "entered {} ({})  peak {:.1} {} at {}  dominant {}\n",
        format::local_time(event.entry_time_s),
        event.entry_band,
        event.peak_score,
        event.peak_band,
        format::local_time(event.peak_time_s),
        event.dominant_resource,
    ));
    match event.exit_time_s {
        Some(x) => t.push_str(&format!(
            "closed {} after {} ({})\n",
            format::local_time(x),
            event_duration(&event),
            event_status(&event)
        )),
        None => t.push_str(&format!("still open after {}\n", event_duration(&event))),
    }
    t.push_str(&format!("forensic captures: {}\n\n", event.forensics_count));
    t.push_str(&timeline(&snapshots, event.entry_time_s));
    if let Some(views) = &views {
        if views.is_empty() {
            t.push_str("\nno forensic captures for this event\n");
        }
        for v in views {
            t.push('\n');
            t.push_str(&forensics_text(v, event.entry_time_s, opts));
        }
    }
    out(&t)
}

/// An untrusted string, escaped and cut to `width` characters.
fn clean(s: &str, width: usize) -> String {
    format::truncate(&format::escape(s), width)
}

fn opt_num(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

/// The human form of one capture: summary first, details behind the flags.
pub fn forensics_text(v: &ForensicView, entry_time: f64, opts: ShowOptions) -> String {
    let mut t = String::new();
    let took = v
        .duration_ms
        .map_or_else(String::new, |ms| format!(", took {:.2}s", ms / 1000.0));
    t.push_str(&format!(
        "forensic capture {} at {} (+{} after entry): {}{took}, trigger \"{}\"\n",
        v.id,
        format::local_time(v.captured_at),
        format::duration(v.captured_at - entry_time),
        v.status,
        clean(&v.trigger, 80),
    ));
    if let Some(e) = &v.error {
        t.push_str(&format!("  not gathered: {}\n", clean(e, 2000)));
    }

    // What the culprit was doing.
    let states = forensics::threads_by_state(&v.threads);
    if !v.threads.is_empty() {
        let by: Vec<String> = states
            .iter()
            .map(|(s, n)| format!("{n} {}", clean(s, 40)))
            .collect();
        t.push_str(&format!(
            "  threads: {} ({})\n",
            v.threads.len(),
            by.join(", ")
        ));
    }
    if let Some(hot) = forensics::hottest_stack(&v.threads) {
        let what = match hot.kind {
            "kernel" => format!("hottest kernel stack ({} threads)", hot.weight),
            _ => format!("hottest stack ({} samples)", hot.weight),
        };
        t.push_str(&format!("  {what}:\n"));
        for f in hot.frames.iter().take(12) {
            t.push_str(&format!("      {}\n", clean(f, 120)));
        }
        if hot.frames.len() > 12 {
            t.push_str(&format!("      … {} more\n", hot.frames.len() - 12));
        }
    }

    // The machine at that moment.
    if !v.pressure.is_empty() {
        let parts: Vec<String> = v
            .pressure
            .iter()
            .map(|(res, kinds)| {
                // "some" before "full", as the kernel prints them.
                let k: Vec<String> = kinds
                    .iter()
                    .rev()
                    .map(|(kind, p)| {
                        format!(
                            "{kind} {}/{}/{}",
                            opt_num(p.avg10, 1),
                            opt_num(p.avg60, 1),
                            opt_num(p.avg300, 1)
                        )
                    })
                    .collect();
                format!("{} {}", clean(res, 20), k.join(" "))
            })
            .collect();
        t.push_str(&format!(
            "  pressure (avg10/60/300 %): {}\n",
            parts.join(" | ")
        ));
    }
    if let Some(l) = v.system.get("loadavg") {
        let g = |k: &str| l.get(k).and_then(|x| x.as_f64());
        t.push_str(&format!(
            "  load: {} {} {}",
            opt_num(g("load1"), 2),
            opt_num(g("load5"), 2),
            opt_num(g("load15"), 2)
        ));
        if let Some(m) = v.system.get("meminfo") {
            let kb = |k: &str| m.get(k).and_then(|x| x.as_f64()).map(|v| v * 1024.0);
            if let (Some(avail), Some(total)) = (kb("MemAvailable"), kb("MemTotal")) {
                t.push_str(&format!(
                    "   memory available: {} of {}",
                    format::bytes(avail),
                    format::bytes(total)
                ));
            }
        }
        t.push('\n');
    }
    if let Some(d) = v.system.get("vmstat_delta") {
        let counters = d.get("counters").and_then(|c| c.as_object());
        let interesting = [
            "pgmajfault",
            "pswpin",
            "pswpout",
            "pgfault",
            "oom_kill",
            "allocstall_normal",
        ];
        let parts: Vec<String> = interesting
            .iter()
            .filter_map(|k| Some(format!("{k} +{}", counters?.get(*k)?.as_i64()?)))
            .collect();
        let scans: i64 = counters
            .map(|c| {
                c.iter()
                    .filter(|(k, _)| k.starts_with("pgscan"))
                    .filter_map(|(_, v)| v.as_i64())
                    .sum()
            })
            .unwrap_or(0);
        let mut line = parts.join(", ");
        if scans > 0 {
            line.push_str(&format!(", pgscan +{scans}"));
        }
        if !line.is_empty() {
            t.push_str(&format!(
                "  vmstat over {}s: {line}\n",
                opt_num(d.get("interval_s").and_then(|x| x.as_f64()), 1)
            ));
        }
    }
    let mut proc_parts = Vec::new();
    if let Some(n) = v.system.get("process.fd_count").and_then(|x| x.as_u64()) {
        proc_parts.push(format!("{n} open files"));
    }
    if let Some(rss) = v
        .system
        .get("process.smaps_rollup")
        .and_then(|m| m.get("Rss"))
        .and_then(|x| x.as_f64())
    {
        proc_parts.push(format!("rss {}", format::bytes(rss * 1024.0)));
    }
    if let Some(cg) = v
        .system
        .get("process.cgroup")
        .and_then(|c| c.as_array())
        .and_then(|a| a.last())
        .and_then(|x| x.as_str())
    {
        proc_parts.push(format!("cgroup {}", clean(cg, 80)));
    }
    if !proc_parts.is_empty() {
        t.push_str(&format!("  process: {}\n", proc_parts.join(", ")));
    }

    // Who dominated the window.
    if let Some(list) = v.culprits.as_array().filter(|l| !l.is_empty()) {
        t.push_str("  culprits over the ring buffer:\n");
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|c| {
                let num = |k: &str| c.get(k).and_then(|x| x.as_f64());
                vec![
                    format!(
                        "    {}",
                        clean(
                            c.get("resource").and_then(|x| x.as_str()).unwrap_or("?"),
                            12
                        )
                    ),
                    c.get("pid").map_or_else(|| "-".into(), |p| p.to_string()),
                    opt_num(num("mean_share"), 1),
                    opt_num(num("peak_share"), 1),
                    num("led_fraction")
                        .map_or_else(|| "-".into(), |f| format!("{:.0}%", f * 100.0)),
                    clean(c.get("command").and_then(|x| x.as_str()).unwrap_or(""), 48),
                ]
            })
            .collect();
        let headers = [
            ("    RESOURCE", Align::Left),
            ("PID", Align::Right),
            ("MEAN%", Align::Right),
            ("PEAK%", Align::Right),
            ("LED", Align::Right),
            ("COMMAND", Align::Left),
        ];
        t.push_str(&format::table(&headers, &rows));
    }
    if let Some(b) = &v.buffer_context {
        let span = match (b.from, b.to) {
            (Some(a), Some(z)) => format!(" over {}", format::duration(z - a)),
            _ => String::new(),
        };
        t.push_str(&format!(
            "  ring buffer: {} samples{span} before the trigger\n",
            b.samples
        ));
    }
    if let Some(sources) = v.sources.as_object() {
        let parts: Vec<String> = sources
            .iter()
            .map(|(k, o)| {
                let st = o.get("status").and_then(|x| x.as_str()).unwrap_or("?");
                format!("{} {}", clean(k, 40), clean(st, 20))
            })
            .collect();
        t.push_str(&format!("  sources: {}\n", parts.join(", ")));
    }
    if !opts.logs && !v.logs.is_empty() {
        t.push_str(&format!(
            "  logs: {} lines (show them with --logs)\n",
            v.logs.len()
        ));
    }
    if !opts.threads && !v.threads.is_empty() {
        t.push_str("  (every thread with its stack: --threads)\n");
    }

    if opts.threads && !v.threads.is_empty() {
        t.push_str("\n  threads:\n");
        t.push_str(&indent(&threads_table(&v.threads), "  "));
        for th in &v.threads {
            let stack: Vec<String> = match &th.kernel_stack {
                Some(s) if !s.is_empty() => s.clone(),
                _ => forensics::hottest_path(&th.frames)
                    .iter()
                    .map(|&i| forensics::frame_label(&th.frames[i]))
                    .collect(),
            };
            if stack.is_empty() {
                continue;
            }
            t.push_str(&format!(
                "  thread {} {}:\n",
                th.tid,
                clean(th.name.as_deref().unwrap_or(""), 40)
            ));
            for f in stack.iter().take(16) {
                t.push_str(&format!("      {}\n", clean(f, 120)));
            }
        }
    }
    if opts.logs {
        if v.logs.is_empty() {
            t.push_str("\n  no log lines in the window\n");
        } else {
            t.push_str("\n  logs:\n");
            t.push_str(&indent(&logs_table(&v.logs), "  "));
        }
    }
    t
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines().map(|l| format!("{prefix}{l}\n")).collect()
}

fn threads_table(threads: &[ThreadRecord]) -> String {
    let headers = [
        ("TID", Align::Right),
        ("NAME", Align::Left),
        ("STATE", Align::Left),
        ("WCHAN", Align::Left),
        ("CPU(s)", Align::Right),
        ("SAMPLES", Align::Right),
    ];
    let rows: Vec<Vec<String>> = threads
        .iter()
        .map(|th| {
            vec![
                th.tid.to_string(),
                clean(th.name.as_deref().unwrap_or("-"), 32),
                clean(th.state.as_deref().unwrap_or("-"), 40),
                clean(th.wchan.as_deref().unwrap_or("-"), 32),
                opt_num(th.cpu_time, 2),
                th.samples.map_or_else(|| "-".into(), |s| s.to_string()),
            ]
        })
        .collect();
    format::table(&headers, &rows)
}

fn priority_name(p: Option<u8>) -> &'static str {
    match p {
        Some(0) => "emerg",
        Some(1) => "alert",
        Some(2) => "crit",
        Some(3) => "err",
        Some(4) => "warn",
        Some(5) => "notice",
        Some(6) => "info",
        Some(7) => "debug",
        _ => "-",
    }
}

fn logs_table(logs: &[LogRecord]) -> String {
    let headers = [
        ("TIME", Align::Left),
        ("PRI", Align::Left),
        ("SOURCE", Align::Left),
        ("FROM", Align::Left),
        ("MESSAGE", Align::Left),
    ];
    let rows: Vec<Vec<String>> = logs
        .iter()
        .map(|l| {
            let from = match (&l.unit, &l.process, l.pid) {
                (Some(u), _, _) => u.clone(),
                (None, Some(p), Some(pid)) => format!("{p}[{pid}]"),
                (None, Some(p), None) => p.clone(),
                _ => "-".into(),
            };
            vec![
                l.ts.map_or_else(|| "-".into(), format::local_time),
                priority_name(l.priority).into(),
                clean(&l.source, 10),
                clean(&from, 32),
                clean(&l.message, 400),
            ]
        })
        .collect();
    format::table(&headers, &rows)
}

/// A compact timeline: one row per snapshot with a bar for the score.
pub fn timeline(snapshots: &[SnapshotRow], start: f64) -> String {
    let headers = [
        ("TIME", Align::Left),
        ("+", Align::Right),
        ("TYPE", Align::Left),
        ("SCORE", Align::Right),
        ("", Align::Left),
        ("BAND", Align::Left),
        ("DOMINANT", Align::Left),
    ];
    let shown = timeline_rows(snapshots, TIMELINE_ROWS);
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|&i| {
            let s = &snapshots[i];
            let bar = "█".repeat((s.score / 5.0).round().clamp(0.0, 20.0) as usize);
            vec![
                format::local_time(s.captured_at_s),
                format::duration(s.captured_at_s - start),
                s.snapshot_type.to_string(),
                format!("{:.1}", s.score),
                bar,
                s.band.to_string(),
                format::dominant_value(&s.process),
            ]
        })
        .collect();
    let mut text = format::table(&headers, &rows);
    if shown.len() < snapshots.len() {
        text.push_str(&format!(
            "({} of {} snapshots shown, evenly spaced; all of them with --json)\n",
            shown.len(),
            snapshots.len()
        ));
    }
    text
}

/// Rows of a human timeline at most.
const TIMELINE_ROWS: usize = 24;

/// Which snapshots a timeline of at most `max` rows shows: every entry, peak
/// and exit snapshot, and checkpoints evenly spaced in between.
pub fn timeline_rows(snapshots: &[SnapshotRow], max: usize) -> Vec<usize> {
    if snapshots.len() <= max {
        return (0..snapshots.len()).collect();
    }
    let keep = |s: &SnapshotRow| s.snapshot_type != SnapshotType::Checkpoint;
    let mut chosen: Vec<usize> = (0..snapshots.len())
        .filter(|&i| keep(&snapshots[i]))
        .collect();
    let checkpoints: Vec<usize> = (0..snapshots.len())
        .filter(|&i| !keep(&snapshots[i]))
        .collect();
    let room = max.saturating_sub(chosen.len());
    if room > 0 && !checkpoints.is_empty() {
        let step = checkpoints.len() as f64 / room as f64;
        for k in 0..room.min(checkpoints.len()) {
            chosen.push(checkpoints[(k as f64 * step) as usize]);
        }
    }
    chosen.sort_unstable();
    chosen.dedup();
    chosen
}

#[cfg(test)]
mod timeline_tests {
    use super::*;
    use crate::model::SnapshotType;
    use crate::model::{Band, ProcessScore};

    fn snap(kind: SnapshotType, t: f64) -> SnapshotRow {
        SnapshotRow {
            snapshot_type: kind,
            captured_at_s: t,
            score: 50.0,
            band: Band::High,
            process: ProcessScore::new(1, 1, "x".into(), t),
        }
    }

    #[test]
    fn long_timelines_keep_entry_peak_exit_and_spaced_checkpoints() {
        let mut rows = vec![
            snap(SnapshotType::Entry, 0.0),
            snap(SnapshotType::Peak, 1.0),
        ];
        rows.extend((2..300).map(|i| snap(SnapshotType::Checkpoint, f64::from(i))));
        rows.push(snap(SnapshotType::Exit, 300.0));
        let shown = timeline_rows(&rows, 24);
        assert_eq!(shown.len(), 24);
        assert_eq!(shown[0], 0);
        assert!(shown.contains(&1));
        assert_eq!(*shown.last().unwrap(), rows.len() - 1);
        assert!(shown.windows(2).all(|w| w[0] < w[1]));
        let text = timeline(&rows, 0.0);
        assert!(text.contains("24 of 301 snapshots shown"));
        assert_eq!(timeline_rows(&rows[..5], 24), vec![0, 1, 2, 3, 4]);
    }
}
