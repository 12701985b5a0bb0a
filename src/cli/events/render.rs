//! How `events` and `events show` print what the query fetched: tables and
//! text for people, JSON for programs. Pure: structs (and the current time,
//! where an open event's duration needs it) in, strings out.

use super::query::{EventDetail, ForensicView};
use crate::forensics;
use crate::format::{self, Align};
use crate::model::{EventRow, LogRecord, SnapshotRow, SnapshotType, ThreadRecord};
use serde::Serialize;

/// What `events show` prints.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ShowOptions {
    pub(crate) forensics: bool,
    pub(crate) threads: bool,
    pub(crate) logs: bool,
    pub(crate) json: bool,
}

/// `events` for people: the table, or a note that nothing is recorded yet
/// (or, when `filtered`, that nothing matches).
pub(crate) fn events_text(
    events: &[EventRow],
    now: f64,
    fields: Option<&[String]>,
    filtered: bool,
) -> String {
    if events.is_empty() {
        return if filtered {
            "no events match --open/--since/--until\n".into()
        } else {
            "no events recorded (events are recorded by `rogue-hunter daemon`)\n".into()
        };
    }
    match fields {
        Some(f) => events_table_of(events, f),
        None => events_table(events, now),
    }
}

/// The names `events --fields` takes: the JSON keys of one event.
pub(crate) const EVENT_FIELDS: &[&str] = &[
    "id",
    "pid",
    "start_time_ms",
    "command",
    "boot_time_ms",
    "entry_time_s",
    "exit_time_s",
    "entry_band",
    "peak_band",
    "peak_score",
    "peak_time_s",
    "dominant_resource",
    "close_reason",
    "forensics_count",
    "status",
];

/// One field of an event as a table cell, with its header and alignment.
fn event_cell(e: &EventRow, field: &str) -> (String, Align, String) {
    let time = |t: Option<f64>| t.map_or_else(|| "-".to_string(), format::local_time);
    let (align, cell) = match field {
        "id" => (Align::Right, e.id.to_string()),
        "pid" => (Align::Right, e.pid.to_string()),
        "start_time_ms" => (Align::Left, time(Some(e.start_time_ms as f64 / 1000.0))),
        "command" => (
            Align::Left,
            format::truncate(&format::escape(&e.command), 48),
        ),
        "boot_time_ms" => (Align::Left, time(Some(e.boot_time_ms as f64 / 1000.0))),
        "entry_time_s" => (Align::Left, time(Some(e.entry_time_s))),
        "exit_time_s" => (Align::Left, time(e.exit_time_s)),
        "entry_band" => (Align::Left, e.entry_band.to_string()),
        "peak_band" => (Align::Left, e.peak_band.to_string()),
        "peak_score" => (Align::Right, format!("{:.1}", e.peak_score)),
        "peak_time_s" => (Align::Left, time(Some(e.peak_time_s))),
        "dominant_resource" => (Align::Left, e.dominant_resource.to_string()),
        "close_reason" => (
            Align::Left,
            e.close_reason.map_or_else(|| "-".into(), |r| r.to_string()),
        ),
        "forensics_count" => (Align::Right, e.forensics_count.to_string()),
        "status" => (Align::Left, event_status(e)),
        // `--fields` admits only EVENT_FIELDS.
        _ => (Align::Left, "-".into()),
    };
    // A time's cell is local time, so its header drops the JSON unit suffix.
    let header = field
        .strip_suffix("_ms")
        .or_else(|| field.strip_suffix("_s"))
        .unwrap_or(field);
    (header.to_ascii_uppercase(), align, cell)
}

/// The `events` table with only `fields`, in their order.
pub(crate) fn events_table_of(events: &[EventRow], fields: &[String]) -> String {
    let Some(first) = events.first() else {
        return String::new();
    };
    let headers: Vec<(String, Align)> = fields
        .iter()
        .map(|f| {
            let (h, a, _) = event_cell(first, f);
            (h, a)
        })
        .collect();
    let headers: Vec<(&str, Align)> = headers.iter().map(|(h, a)| (h.as_str(), *a)).collect();
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| fields.iter().map(|f| event_cell(e, f).2).collect())
        .collect();
    format::table(&headers, &rows)
}

/// One event in JSON: its row and its `status`.
#[derive(Debug, Serialize)]
pub(crate) struct EventItem<'a> {
    #[serde(flatten)]
    pub(crate) event: &'a EventRow,
    /// `open`, or why it closed (`recovered`, `gone`, `shutdown`, ...).
    pub(crate) status: String,
}

impl<'a> EventItem<'a> {
    pub(crate) fn new(event: &'a EventRow) -> Self {
        EventItem {
            event,
            status: event_status(event),
        }
    }
}

/// `events --json`: one document, the events under `events`, each with its
/// `status`; with `fields`, only those keys of each event.
pub(crate) fn events_json(
    events: &[EventRow],
    fields: Option<&[String]>,
) -> Result<String, serde_json::Error> {
    let items: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            let v = serde_json::to_value(EventItem::new(e))?;
            Ok(match fields {
                Some(f) => crate::cli::output::select(v, f),
                None => v,
            })
        })
        .collect::<Result<_, serde_json::Error>>()?;
    crate::cli::output::list_line("events", &items)
}

pub(crate) fn event_status(e: &EventRow) -> String {
    match (&e.exit_time_s, &e.close_reason) {
        (None, _) => "open".into(),
        (Some(_), Some(r)) => r.to_string(),
        (Some(_), None) => "closed".into(),
    }
}

/// How long the event lasted, or has lasted by `now` (Unix seconds) if open.
fn event_duration(e: &EventRow, now: f64) -> String {
    format::duration(e.exit_time_s.unwrap_or(now) - e.entry_time_s)
}

/// A process event's command; a group's name with its members' PIDs
/// (`./build [4 members: 301,302,…]`). Escaped.
fn subject_text(e: &EventRow) -> String {
    let name = format::escape(&e.command);
    if e.members.is_empty() {
        return name;
    }
    let pids: Vec<String> = e.members.iter().map(|m| m.pid.to_string()).collect();
    format!("{name} [members {}]", pids.join(","))
}

/// The `events` table; open events' durations run to `now` (Unix seconds).
/// KIND is `process` or the group's kind (`tree`, `cgroup`, `app`); PID is a
/// group's top member when it opened.
pub(crate) fn events_table(events: &[EventRow], now: f64) -> String {
    let headers = [
        ("ID", Align::Right),
        ("KIND", Align::Left),
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
                e.subject_kind.to_string(),
                e.pid.to_string(),
                format::local_time(e.entry_time_s),
                event_duration(e, now),
                format!("{:.1}", e.peak_score),
                e.peak_band.to_string(),
                e.dominant_resource.to_string(),
                event_status(e),
                e.forensics_count.to_string(),
                format::truncate(&subject_text(e), 48),
            ]
        })
        .collect();
    format::table(&headers, &rows)
}

/// The stable JSON shape of `events show ID --json`; `forensics` only with
/// `--forensics`.
#[derive(Debug, Serialize)]
struct EventJson<'a> {
    #[serde(flatten)]
    event: EventItem<'a>,
    snapshots: &'a [SnapshotRow],
    #[serde(skip_serializing_if = "Option::is_none")]
    forensics: Option<&'a [ForensicView]>,
}

/// `events show ID --json`: one document, newline-terminated.
pub(crate) fn event_json(d: &EventDetail) -> Result<String, serde_json::Error> {
    crate::cli::output::line(&EventJson {
        event: EventItem::new(&d.event),
        snapshots: &d.snapshots,
        forensics: d.forensics.as_deref(),
    })
}

/// `events show ID` for people: the event, its timeline, then each capture
/// (when fetched). An open event's duration runs to `now` (Unix seconds).
pub(crate) fn event_text(d: &EventDetail, now: f64, opts: ShowOptions) -> String {
    let event = &d.event;
    let mut t = String::new();
    match &event.group_key {
        None => t.push_str(&format!(
            "event {}  pid {}  {}\n",
            event.id,
            event.pid,
            format::escape(&event.command)
        )),
        Some(key) => {
            t.push_str(&format!(
                "event {}  {} {}  (key {})\n",
                event.id,
                event.subject_kind,
                format::escape(&event.command),
                format::escape(key)
            ));
            t.push_str("top members:\n");
            for m in &event.members {
                t.push_str(&format!(
                    "  {:>7}  {:>5.1}  {}\n",
                    m.pid,
                    m.score,
                    format::truncate(&format::escape(&m.command), 60)
                ));
            }
        }
    }
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
            event_duration(event, now),
            event_status(event)
        )),
        None => t.push_str(&format!(
            "still open after {}\n",
            event_duration(event, now)
        )),
    }
    t.push_str(&format!("forensic captures: {}\n\n", event.forensics_count));
    t.push_str(&timeline(&d.snapshots, event.entry_time_s));
    if let Some(views) = &d.forensics {
        if views.is_empty() {
            t.push_str("\nno forensic captures for this event\n");
        }
        for v in views {
            t.push('\n');
            t.push_str(&forensics_text(v, Since::Entry(event.entry_time_s), opts));
        }
    }
    t
}

/// An untrusted string, escaped and cut to `width` characters.
fn clean(s: &str, width: usize) -> String {
    format::truncate(&format::escape(s), width)
}

fn opt_num(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

/// What a capture's offset is counted from (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Since {
    /// The event's entry into its band.
    Entry(f64),
    /// The stall's start.
    StallStart(f64),
}

impl Since {
    fn at(self) -> f64 {
        match self {
            Since::Entry(t) | Since::StallStart(t) => t,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Since::Entry(_) => "after entry",
            Since::StallStart(_) => "after the stall began",
        }
    }
}

/// The human form of one capture: summary first, details behind the flags.
pub(crate) fn forensics_text(v: &ForensicView, since: Since, opts: ShowOptions) -> String {
    let mut t = String::new();
    let took = v
        .duration_ms
        .map_or_else(String::new, |ms| format!(", took {:.2}s", ms / 1000.0));
    t.push_str(&format!(
        "forensic capture {} at {} (+{} {}): {}{took}, trigger \"{}\"\n",
        v.id,
        format::local_time(v.captured_at),
        format::duration(v.captured_at - since.at()),
        since.words(),
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
pub(crate) fn timeline(snapshots: &[SnapshotRow], start: f64) -> String {
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
                match &s.group {
                    Some(g) => format::group_dominant_value(g),
                    None => format::dominant_value(&s.process),
                },
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
pub(crate) fn timeline_rows(snapshots: &[SnapshotRow], max: usize) -> Vec<usize> {
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
    use crate::model::{Band, ProcessScore};

    fn snap(kind: SnapshotType, t: f64) -> SnapshotRow {
        SnapshotRow {
            group: None,
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

#[cfg(test)]
mod render_tests {
    use super::super::query::PressureValues;
    use super::*;
    use crate::model::{Band, CaptureStatus, CloseReason, Resource};
    use std::collections::BTreeMap;

    fn event(exit: Option<f64>, reason: Option<CloseReason>) -> EventRow {
        EventRow {
            subject_kind: crate::model::SubjectKind::Process,
            group_key: None,
            members: Vec::new(),
            id: 7,
            pid: 42,
            start_time_ms: 1_000,
            command: "evil\u{1b}[2Jname".into(),
            boot_time_ms: 0,
            entry_time_s: 1_000.0,
            exit_time_s: exit,
            entry_band: Band::Medium,
            peak_band: Band::High,
            peak_score: 61.0,
            peak_time_s: 1_010.0,
            dominant_resource: Resource::Cpu,
            close_reason: reason,
            forensics_count: 0,
        }
    }

    fn view() -> ForensicView {
        let mut cpu = BTreeMap::new();
        for kind in ["full", "some"] {
            cpu.insert(
                kind.to_string(),
                PressureValues {
                    avg10: Some(1.0),
                    avg60: None,
                    avg300: Some(3.0),
                    total: None,
                },
            );
        }
        ForensicView {
            id: 3,
            captured_at: 1_005.0,
            trigger: "entered high".into(),
            status: CaptureStatus::Partial,
            duration_ms: Some(1_500.0),
            error: Some("kernel_stacks: skipped (not root)".into()),
            sources: serde_json::json!({"threads": {"status": "ok"}}),
            threads: Vec::new(),
            pressure: BTreeMap::from([("cpu".to_string(), cpu)]),
            logs: vec![LogRecord {
                source: "kernel".into(),
                ts: None,
                priority: Some(3),
                unit: None,
                process: Some("kworker".into()),
                pid: Some(9),
                message: "oops\u{7}".into(),
            }],
            system: BTreeMap::new(),
            buffer_context: None,
            culprits: serde_json::json!([]),
        }
    }

    #[test]
    fn empty_list_says_where_events_come_from() {
        assert!(events_text(&[], 0.0, None, false).starts_with("no events recorded"));
        assert!(events_text(&[], 0.0, None, true).starts_with("no events match"));
        let v: serde_json::Value = serde_json::from_str(&events_json(&[], None).unwrap()).unwrap();
        assert_eq!(v["events"], serde_json::json!([]));
        assert_eq!(v["schema_version"], crate::cli::output::SCHEMA_VERSION);
    }

    #[test]
    fn listed_events_carry_their_status_and_only_the_fields_asked() {
        let events = [
            event(None, None),
            event(Some(1_005.0), Some(CloseReason::Gone)),
        ];
        let v: serde_json::Value =
            serde_json::from_str(&events_json(&events, None).unwrap()).unwrap();
        assert_eq!(v["events"][0]["status"], "open");
        assert_eq!(v["events"][1]["status"], "gone");
        assert_eq!(v["events"][1]["close_reason"], "gone");
        let fields = ["status".to_string(), "id".to_string()];
        let v: serde_json::Value =
            serde_json::from_str(&events_json(&events, Some(&fields)).unwrap()).unwrap();
        assert_eq!(
            v["events"][0],
            serde_json::json!({"id": 7, "status": "open"})
        );
        let table = events_table_of(&events, &fields);
        assert!(table.starts_with("STATUS  ID"), "{table}");
        assert!(table.lines().nth(2).unwrap().starts_with("gone"), "{table}");
    }

    #[test]
    fn open_events_run_to_now_and_commands_are_escaped() {
        let text = events_text(&[event(None, None)], 1_090.0, None, false);
        let row = text.lines().nth(1).unwrap();
        assert!(row.contains(" 1m30s "), "{row}");
        assert!(row.contains(" open "), "{row}");
        assert!(row.contains(" 61.0 "), "{row}");
        assert!(!text.contains('\u{1b}'), "{text}");
        let closed = events_table(&[event(Some(1_005.0), Some(CloseReason::Gone))], 9e9);
        assert!(closed.contains(" 5s "), "{closed}");
        assert!(closed.contains(" gone "), "{closed}");
    }

    #[test]
    fn show_json_flattens_the_event_and_adds_forensics_only_when_fetched() {
        let mut d = EventDetail {
            event: event(None, None),
            snapshots: Vec::new(),
            forensics: None,
        };
        let v: serde_json::Value = serde_json::from_str(&event_json(&d).unwrap()).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["status"], "open");
        assert_eq!(v["entry_time_s"], 1_000.0);
        assert!(v["snapshots"].as_array().unwrap().is_empty());
        assert!(v.get("forensics").is_none());
        d.forensics = Some(vec![view()]);
        let v: serde_json::Value = serde_json::from_str(&event_json(&d).unwrap()).unwrap();
        assert_eq!(v["forensics"][0]["status"], "partial");
        assert_eq!(v["forensics"][0]["pressure"]["cpu"]["some"]["avg10"], 1.0);
    }

    #[test]
    fn show_text_heads_with_the_event_and_notes_missing_captures() {
        let d = EventDetail {
            event: event(Some(1_100.0), Some(CloseReason::Recovered)),
            snapshots: Vec::new(),
            forensics: Some(Vec::new()),
        };
        let opts = ShowOptions {
            forensics: true,
            ..ShowOptions::default()
        };
        let text = event_text(&d, 0.0, opts);
        assert!(
            text.starts_with("event 7  pid 42  evil\\u{1b}[2Jname\n"),
            "{text}"
        );
        assert!(text.contains(" after 1m40s (recovered)\n"), "{text}");
        assert!(
            text.contains("no forensic captures for this event"),
            "{text}"
        );
        let open = EventDetail {
            event: event(None, None),
            snapshots: Vec::new(),
            forensics: None,
        };
        let text = event_text(&open, 1_003.0, ShowOptions::default());
        assert!(text.contains("still open after 3s\n"), "{text}");
        assert!(!text.contains("forensic capture "), "{text}");
    }

    #[test]
    fn capture_summary_hides_details_behind_the_flags() {
        let summary = forensics_text(&view(), Since::Entry(1_000.0), ShowOptions::default());
        assert!(
            summary.contains("(+5s after entry): partial, took 1.50s"),
            "{summary}"
        );
        let stall = forensics_text(&view(), Since::StallStart(1_002.0), ShowOptions::default());
        assert!(
            stall.contains("(+3s after the stall began): partial") && !stall.contains("entry"),
            "{stall}"
        );
        assert!(summary.contains("  not gathered: kernel_stacks: skipped (not root)\n"));
        assert!(
            summary.contains("cpu some 1.0/-/3.0 full 1.0/-/3.0"),
            "{summary}"
        );
        assert!(summary.contains("  sources: threads ok\n"), "{summary}");
        assert!(summary.contains("logs: 1 lines (show them with --logs)"));
        let logs = forensics_text(
            &view(),
            Since::Entry(1_000.0),
            ShowOptions {
                logs: true,
                ..ShowOptions::default()
            },
        );
        assert!(!logs.contains("show them with --logs"));
        assert!(logs.contains("kworker[9]"), "{logs}");
        assert!(logs.contains(" err "), "{logs}");
        assert!(
            logs.contains("oops\\u{7}") && !logs.contains('\u{7}'),
            "{logs}"
        );
    }
}
