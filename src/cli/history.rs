//! `rogue-hunter history`: the continuous recording (`--at TIME`, `--from
//! T --to T`), and every event snapshot over a window (`--snapshots`).

use super::{CliError, Context, out};
use crate::format::{self, Align};
use crate::history::{self, Frame};
use crate::model::{METRICS, ProcessSamples, ProcessScore};
use crate::storage::{StorageError, Store};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum HistoryFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The machine and the ranked processes at one moment: RFC 3339, local
    /// HH:MM[:SS], `yesterday 03:00`, `3h ago`, `-90s`.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true, conflicts_with_all = ["from", "snapshots"])]
    pub at: Option<String>,
    /// Start of a range of recorded seconds (default: 10 minutes ago); the
    /// same forms as --at, or a span back from now (`2h`).
    #[arg(
        long,
        visible_alias = "since",
        value_name = "TIME",
        allow_hyphen_values = true,
        conflicts_with = "snapshots"
    )]
    pub from: Option<String>,
    /// End of the range (default: now).
    #[arg(
        long,
        visible_alias = "until",
        value_name = "TIME",
        allow_hyphen_values = true,
        conflicts_with = "snapshots"
    )]
    pub to: Option<String>,
    /// Only these fields of each recorded process, comma-separated, in this
    /// order: any key of a process in `sample --json` (pid, command, score,
    /// band, cpu, mem, state, cgroup, ...). Table and CSV keep the time first.
    #[arg(long, value_name = "LIST", conflicts_with = "snapshots")]
    pub fields: Option<String>,
    /// Only this process ID.
    #[arg(long, value_name = "N")]
    pub pid: Option<u32>,
    /// Only commands containing PAT (case-insensitive).
    #[arg(long, value_name = "PAT")]
    pub command: Option<String>,
    /// Only processes of this group: a cgroup path, or its last part
    /// (`nginx.service`).
    #[arg(long, value_name = "KEY")]
    pub group: Option<String>,
    /// One recorded second per DUR (90s, 10m, 1h) instead of every one.
    #[arg(long, value_name = "DUR")]
    pub every: Option<String>,
    /// Output format: a table, one JSON document, or CSV.
    #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
    pub format: HistoryFormat,
    /// Same as `--format json`.
    #[arg(long)]
    pub json: bool,
    /// The per-event snapshot listing instead (entry, peak, checkpoint, exit).
    #[arg(long)]
    pub snapshots: bool,
    /// With --snapshots: how far back, in hours (above 0; default 24). The
    /// recording's range is --from/--to (`--from 6h`).
    #[arg(
        long,
        value_name = "H",
        allow_negative_numbers = true,
        requires = "snapshots"
    )]
    pub hours: Option<f64>,
}

/// How far from `--at` the nearest recorded second may be.
const AT_TOLERANCE_S: f64 = 10.0;

pub fn run(ctx: &Context, mut args: HistoryArgs) -> Result<(), CliError> {
    if args.json {
        args.format = HistoryFormat::Json;
    }
    if args.snapshots {
        return run_snapshots(ctx, &args);
    }
    let now = crate::unix_now();
    let fields = match &args.fields {
        Some(text) => {
            let known = process_fields();
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            Some(super::output::parse_fields(text, &known)?)
        }
        None => None,
    };
    let store = match Store::open_read_only(&ctx.paths.database()) {
        Ok(store) => Some(store),
        Err(StorageError::Missing { .. }) => None,
        Err(e) => return Err(CliError::runtime(e.to_string())),
    };
    if let Some(at) = &args.at {
        let t = super::resolve_time("--at", at, now)?;
        let frames = load(store.as_ref(), t - AT_TOLERANCE_S, t + AT_TOLERANCE_S)?;
        let nearest = frames.iter().min_by(|a, b| {
            (a.timestamp_s - t)
                .abs()
                .total_cmp(&(b.timestamp_s - t).abs())
        });
        let Some(frame) = nearest else {
            let span = store
                .as_ref()
                .and_then(|s| s.history_summary().ok())
                .and_then(|h| Some((h.first?, h.last?)));
            let recorded = match span {
                Some((a, b)) => format!(
                    "the recording covers {} to {}",
                    format::local_time(a),
                    format::local_time(b)
                ),
                None => "nothing is recorded yet (is the daemon running?)".into(),
            };
            return Err(CliError::runtime(format!(
                "no recorded second within {AT_TOLERANCE_S} s of {}: {recorded}",
                format::local_time(t)
            )));
        };
        let frame = filtered(frame, &args);
        return match (args.format, &fields) {
            (HistoryFormat::Json, _) => {
                super::output::print("history", &frame_json(&frame, fields.as_deref()))
            }
            (HistoryFormat::Csv, None) => out(&csv(std::slice::from_ref(&frame))),
            (HistoryFormat::Csv, Some(f)) => out(&fields_csv(std::slice::from_ref(&frame), f)),
            (HistoryFormat::Table, None) => out(&at_table(&frame)),
            (HistoryFormat::Table, Some(f)) => out(&fields_table(std::slice::from_ref(&frame), f)),
        };
    }
    let from = match &args.from {
        Some(text) => super::resolve_time("--from", text, now)?,
        None => now - 600.0,
    };
    let to = match &args.to {
        Some(text) => super::resolve_time("--to", text, now)?,
        None => now,
    };
    if from > to {
        return Err(CliError::usage(format!(
            "--from {} is after --to {}",
            format::local_time(from),
            format::local_time(to)
        )));
    }
    let every = match &args.every {
        Some(text) => Some(
            history::timespec::parse_span(text)
                .filter(|&s| s > 0.0)
                .ok_or_else(|| {
                    CliError::usage(format!(
                        "--every `{text}` is not a duration above 0 (examples: 90s, 10m, 1h)"
                    ))
                })?,
        ),
        None => None,
    };
    let mut frames = load(store.as_ref(), from, to)?;
    if let Some(every) = every {
        frames = thin(frames, from, every);
    }
    let frames: Vec<Frame> = frames.iter().map(|f| filtered(f, &args)).collect();
    match (args.format, &fields) {
        (HistoryFormat::Json, _) => {
            let samples: Vec<Value> = frames
                .iter()
                .map(|f| frame_json(f, fields.as_deref()))
                .collect();
            super::output::print_list("samples", &samples)
        }
        (HistoryFormat::Csv, None) => out(&csv(&frames)),
        (HistoryFormat::Csv, Some(f)) => out(&fields_csv(&frames, f)),
        (HistoryFormat::Table, fields) => {
            if frames.is_empty() {
                return out(&format!(
                    "nothing recorded from {} to {}\n",
                    format::local_time(from),
                    format::local_time(to)
                ));
            }
            match fields {
                Some(f) => out(&fields_table(&frames, f)),
                None => out(&range_table(&frames)),
            }
        }
    }
}

/// Local seconds since midnight at `now` (0 when the C library cannot say:
/// then clock times read as UTC).
pub(crate) fn local_seconds_of_day(now: f64) -> f64 {
    crate::sys::time::local_time(now.floor() as i64).map_or(now.rem_euclid(86400.0), |t| {
        f64::from(t.hour * 3600 + t.minute * 60 + t.second) + now.fract()
    })
}

/// Every recorded second in `[from, to]`, oldest first. A block that cannot
/// be read is reported on stderr and skipped; the rest is still shown.
fn load(store: Option<&Store>, from: f64, to: f64) -> Result<Vec<Frame>, CliError> {
    let Some(store) = store else {
        return Ok(Vec::new());
    };
    let blocks = store
        .history_blocks(from, to)
        .map_err(|e| CliError::runtime(e.to_string()))?;
    let mut frames = Vec::new();
    for b in blocks {
        match history::decode_block(b.encoding, &b.data) {
            Ok(decoded) => frames.extend(
                decoded
                    .into_iter()
                    .filter(|f| f.timestamp_s >= from && f.timestamp_s <= to),
            ),
            Err(e) => eprintln!(
                "warning: recorded block {} ({} to {}, {} seconds) is damaged and was skipped: {e}",
                b.id,
                format::local_time(b.start_time),
                format::local_time(b.end_time),
                b.frames
            ),
        }
    }
    frames.sort_by(|a, b| a.timestamp_s.total_cmp(&b.timestamp_s));
    Ok(frames)
}

/// The first recorded second of each `every`-long slice from `from`.
fn thin(frames: Vec<Frame>, from: f64, every: f64) -> Vec<Frame> {
    let mut last_slice = None;
    frames
        .into_iter()
        .filter(|f| {
            let slice = ((f.timestamp_s - from) / every).floor() as i64;
            let new = last_slice != Some(slice);
            last_slice = Some(slice);
            new
        })
        .collect()
}

fn group_matches(p: &ProcessScore, key: &str) -> bool {
    p.cgroup
        .as_deref()
        .is_some_and(|cg| cg == key || cg.rsplit('/').next() == Some(key))
}

/// The frame with only the processes the filters ask for (and, under
/// `--group`, only that group's entry of `groups`).
fn filtered(frame: &Frame, args: &HistoryArgs) -> Frame {
    let pattern = args.command.as_deref().map(str::to_lowercase);
    let mut f = frame.clone();
    f.processes.retain(|p| {
        args.pid.is_none_or(|pid| p.pid == pid)
            && pattern
                .as_deref()
                .is_none_or(|pat| p.command.to_lowercase().contains(pat))
            && args.group.as_deref().is_none_or(|g| group_matches(p, g))
    });
    if let Some(key) = &args.group {
        f.groups.retain(|g| &g.key == key);
        if let Some(Value::Array(groups)) = f.extra.get_mut("groups") {
            groups.retain(|g| g.get("key").and_then(Value::as_str) == Some(key));
        }
    }
    f
}

/// A frame as JSON: the shape of a live `ProcessSamples` (docs/json.md);
/// with `fields`, each process keeps only those keys.
fn frame_json(f: &Frame, fields: Option<&[String]>) -> Value {
    let mut map = Map::new();
    map.insert("timestamp_s".into(), f.timestamp_s.into());
    map.insert("elapsed_ms".into(), f.elapsed_ms.into());
    map.insert("process_count".into(), f.process_count.into());
    map.insert("max_score".into(), f.max_score.into());
    let rogues = f
        .processes
        .iter()
        .map(|p| {
            let v = serde_json::to_value(p).unwrap_or(Value::Null);
            match fields {
                Some(fields) => super::output::select(v, fields),
                None => v,
            }
        })
        .collect();
    map.insert("rogues".into(), Value::Array(rogues));
    // As `ProcessSamples` serialises them: `groups` absent when empty.
    if !f.groups.is_empty() {
        map.insert(
            "groups".into(),
            serde_json::to_value(&f.groups).unwrap_or(Value::Null),
        );
    }
    map.insert(
        "system".into(),
        serde_json::to_value(&f.system).unwrap_or(Value::Null),
    );
    for (k, v) in &f.extra {
        map.insert(k.clone(), v.clone());
    }
    Value::Object(map)
}

/// The names `--fields` takes: the keys of a process in `sample --json`.
fn process_fields() -> Vec<String> {
    match serde_json::to_value(ProcessScore::new(0, 0, String::new(), 0.0)) {
        Ok(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// One field of a recorded process as text: a metric's current value, a
/// scalar as it is (strings escaped for the terminal or CSV by the caller),
/// `None` when unknown.
fn field_text(p: &Value, field: &str) -> Option<String> {
    match p.get(field)? {
        Value::Null => None,
        Value::Object(m) => m.get("current").map(Value::to_string),
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The recorded processes with only `fields`, the time first.
fn fields_table(frames: &[Frame], fields: &[String]) -> String {
    let upper: Vec<String> = fields.iter().map(|f| f.to_ascii_uppercase()).collect();
    let mut headers = vec![("TIME", Align::Left)];
    headers.extend(upper.iter().map(|h| (h.as_str(), Align::Left)));
    let mut rows = Vec::new();
    for f in frames {
        for p in &f.processes {
            let v = serde_json::to_value(p).unwrap_or(Value::Null);
            let mut row = vec![format::local_time(f.timestamp_s)];
            row.extend(fields.iter().map(|name| {
                field_text(&v, name)
                    .map_or_else(|| "-".into(), |t| format::truncate(&format::escape(&t), 40))
            }));
            rows.push(row);
        }
    }
    format::table(&headers, &rows)
}

/// CSV of the recorded processes with only `fields`, `timestamp` first.
fn fields_csv(frames: &[Frame], fields: &[String]) -> String {
    let mut t = String::from("timestamp_s");
    for f in fields {
        t.push(',');
        t.push_str(f);
    }
    t.push('\n');
    for f in frames {
        for p in &f.processes {
            let v = serde_json::to_value(p).unwrap_or(Value::Null);
            t.push_str(&f.timestamp_s.to_string());
            for name in fields {
                t.push(',');
                if let Some(text) = field_text(&v, name) {
                    t.push_str(&format::csv_field(&text));
                }
            }
            t.push('\n');
        }
    }
    t
}

/// Scalars of a JSON value as `path=value` pairs (the machine summary: its
/// fields are whatever the sample recorded).
fn flatten(prefix: &str, v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, out);
            }
        }
        Value::Number(n) => out.push(format!(
            "{prefix}={}",
            n.as_f64().map_or_else(
                || n.to_string(),
                |f| format!("{:.4}", f)
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_string()
            )
        )),
        Value::String(s) => out.push(format!("{prefix}={}", format::escape(s))),
        Value::Bool(b) => out.push(format!("{prefix}={b}")),
        Value::Null | Value::Array(_) => {}
    }
}

fn at_table(f: &Frame) -> String {
    let mut t = format!(
        "{}  {} processes  max score {:.1}  (sampled in {:.1} ms)\n",
        format::local_time(f.timestamp_s),
        f.process_count,
        f.max_score,
        f.elapsed_ms
    );
    if let Some(sys) = &f.system {
        for (i, line) in format::system_lines(sys).iter().enumerate() {
            t.push_str(if i == 0 { "machine: " } else { "         " });
            t.push_str(line);
            t.push('\n');
        }
    } else if let Some(system) = f.extra.get("system") {
        // Recorded by a build whose machine series had other fields.
        let mut pairs = Vec::new();
        flatten("", system, &mut pairs);
        if !pairs.is_empty() {
            t.push_str("machine: ");
            t.push_str(&pairs.join("  "));
            t.push('\n');
        }
    }
    let groups = match f.extra.get("groups") {
        Some(Value::Array(old)) if f.groups.is_empty() => old.len(),
        _ => f.groups.len(),
    };
    if groups > 0 {
        t.push_str(&format!("groups: {groups} recorded\n"));
    }
    t.push('\n');
    let samples = ProcessSamples {
        timestamp_s: f.timestamp_s,
        elapsed_ms: f.elapsed_ms,
        process_count: f.process_count,
        max_score: f.max_score,
        rogues: f.processes.clone(),
        groups: Vec::new(),
        system: None,
    };
    t.push_str(&format::samples_table(&samples, 40));
    t
}

fn range_table(frames: &[Frame]) -> String {
    let headers = [
        ("TIME", Align::Left),
        ("PID", Align::Right),
        ("SCORE", Align::Right),
        ("BAND", Align::Left),
        ("DOMINANT", Align::Left),
        ("CPU%", Align::Right),
        ("MEM", Align::Right),
        ("S", Align::Left),
        ("COMMAND", Align::Left),
    ];
    let cur = ProcessScore::current;
    let dash = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or_else(|| "-".into(), f);
    let rows: Vec<Vec<String>> = frames
        .iter()
        .flat_map(|f| {
            f.processes.iter().map(move |p| {
                vec![
                    format::local_time(f.timestamp_s),
                    p.pid.to_string(),
                    format!("{:.1}", p.score),
                    p.band.to_string(),
                    format::dominant_value(p),
                    dash(cur(&p.cpu), &|v| format!("{v:.1}")),
                    dash(cur(&p.mem), &format::bytes),
                    p.state.letter().to_string(),
                    format::truncate(&format::escape(&p.command), 40),
                ]
            })
        })
        .collect();
    format::table(&headers, &rows)
}

/// One CSV row per recorded process per second; one column per metric of
/// the model's table.
fn csv(frames: &[Frame]) -> String {
    let mut t = String::from(
        "timestamp_s,pid,start_time_ms,command,state,score,band,dominant_resource,cgroup",
    );
    for info in METRICS {
        t.push(',');
        t.push_str(info.name);
    }
    t.push('\n');
    for f in frames {
        for p in &f.processes {
            t.push_str(&format!(
                "{},{},{},{},{},{},{},{},{}",
                f.timestamp_s,
                p.pid,
                p.start_time_ms,
                format::csv_field(&p.command),
                p.state,
                p.score,
                p.band,
                p.dominant_resource,
                p.cgroup
                    .as_deref()
                    .map(format::csv_field)
                    .unwrap_or_default(),
            ));
            for m in p.metrics() {
                t.push(',');
                if let Some(v) = m {
                    t.push_str(&v.current.to_string());
                }
            }
            t.push('\n');
        }
    }
    t
}

fn run_snapshots(ctx: &Context, args: &HistoryArgs) -> Result<(), CliError> {
    let hours = args.hours.unwrap_or(24.0);
    if !(hours.is_finite() && hours > 0.0) {
        return Err(CliError::usage(format!(
            "--hours {hours}: must be a number of hours above 0 (e.g. --hours 6)"
        )));
    }
    // No database yet means nothing recorded yet, not a failure.
    let rows = match Store::open_read_only(&ctx.paths.database()) {
        Ok(store) => store.history(crate::unix_now() - hours * 3600.0)?,
        Err(StorageError::Missing { .. }) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    match args.format {
        HistoryFormat::Json => super::output::print_list("snapshots", &rows),
        HistoryFormat::Csv => {
            // One column per metric of the model's table (its current value).
            let mut t = String::from(
                "captured_at_s,event_id,pid,command,snapshot_type,score,band,dominant_resource",
            );
            for info in METRICS {
                t.push(',');
                t.push_str(info.name);
            }
            t.push('\n');
            for r in &rows {
                let p = &r.snapshot.process;
                t.push_str(&format!(
                    "{},{},{},{},{},{},{},{}",
                    r.snapshot.captured_at_s,
                    r.event_id,
                    r.pid,
                    format::csv_field(&r.command),
                    r.snapshot.snapshot_type,
                    r.snapshot.score,
                    r.snapshot.band,
                    p.dominant_resource,
                ));
                for m in p.metrics() {
                    t.push(',');
                    if let Some(v) = m {
                        t.push_str(&v.current.to_string());
                    }
                }
                t.push('\n');
            }
            out(&t)
        }
        HistoryFormat::Table => {
            if rows.is_empty() {
                return out(&format!("no snapshots in the last {} hours\n", hours));
            }
            let headers = [
                ("TIME", Align::Left),
                ("EVENT", Align::Right),
                ("PID", Align::Right),
                ("TYPE", Align::Left),
                ("SCORE", Align::Right),
                ("BAND", Align::Left),
                ("DOMINANT", Align::Left),
                ("COMMAND", Align::Left),
            ];
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        format::local_time(r.snapshot.captured_at_s),
                        r.event_id.to_string(),
                        r.pid.to_string(),
                        r.snapshot.snapshot_type.to_string(),
                        format!("{:.1}", r.snapshot.score),
                        r.snapshot.band.to_string(),
                        format::dominant_value(&r.snapshot.process),
                        format::truncate(&format::escape(&r.command), 40),
                    ]
                })
                .collect();
            out(&format::table(&headers, &table))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(t: f64) -> Frame {
        let mut p = ProcessScore::new(7, 1, "=evil,cmd".into(), t);
        p.cgroup = Some("/system.slice/nginx.service".into());
        Frame::with_processes(t, vec![p])
    }

    #[test]
    fn thinning_keeps_one_second_per_slice() {
        let frames: Vec<Frame> = (0..10).map(|i| frame(100.0 + f64::from(i))).collect();
        let kept: Vec<f64> = thin(frames, 100.0, 3.0)
            .iter()
            .map(|f| f.timestamp_s)
            .collect();
        assert_eq!(kept, vec![100.0, 103.0, 106.0, 109.0]);
    }

    #[test]
    fn csv_quotes_and_neutralises_commands() {
        let text = csv(&[frame(5.0)]);
        let row = text.lines().nth(1).unwrap_or_default();
        assert!(row.starts_with("5,7,1,\"'=evil,cmd\",unknown"), "{row}");
        assert_eq!(
            text.lines().next().map(|h| h.split(',').count()),
            Some(9 + METRICS.len())
        );
    }

    #[test]
    fn groups_match_the_path_or_its_last_part() {
        let p = &frame(1.0).processes[0];
        assert!(group_matches(p, "nginx.service"));
        assert!(group_matches(p, "/system.slice/nginx.service"));
        assert!(!group_matches(p, "system.slice"));
    }

    #[test]
    fn machine_summary_flattens_scalars() {
        let mut out = Vec::new();
        flatten(
            "",
            &serde_json::json!({"load": {"one": 1.5}, "procs": 3, "x": [1]}),
            &mut out,
        );
        assert_eq!(out, vec!["load.one=1.5", "procs=3"]);
    }
}
