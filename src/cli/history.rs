//! `rogue-hunter history`: the continuous recording (`--at TIME`, `--from
//! T --to T`), and every event snapshot over a window (`--snapshots`).

use super::{CliError, Context, OrRuntime, out};
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
    /// Start of a range of recorded seconds (default: 10 minutes ago).
    #[arg(
        long,
        value_name = "TIME",
        allow_hyphen_values = true,
        conflicts_with = "snapshots"
    )]
    pub from: Option<String>,
    /// End of the range (default: now).
    #[arg(
        long,
        value_name = "TIME",
        allow_hyphen_values = true,
        conflicts_with = "snapshots"
    )]
    pub to: Option<String>,
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
    #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
    pub format: HistoryFormat,
    /// Same as `--format json`.
    #[arg(long)]
    pub json: bool,
    /// The per-event snapshot listing instead (entry, peak, checkpoint, exit).
    #[arg(long)]
    pub snapshots: bool,
    /// With --snapshots: how far back, in hours.
    #[arg(long, default_value_t = 24.0)]
    pub hours: f64,
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
    let resolve = |text: &str| -> Result<f64, CliError> {
        let spec = history::parse_time(text).map_err(CliError::usage)?;
        Ok(spec.resolve(now, local_seconds_of_day(now)))
    };
    let store = match Store::open_read_only(&ctx.paths.database()) {
        Ok(store) => Some(store),
        Err(StorageError::Missing { .. }) => None,
        Err(e) => return Err(CliError::runtime(e.to_string())),
    };
    if let Some(at) = &args.at {
        let t = resolve(at)?;
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
        return match args.format {
            HistoryFormat::Json => json_out(&frame_json(&frame)),
            HistoryFormat::Csv => out(&csv(std::slice::from_ref(&frame))),
            HistoryFormat::Table => out(&at_table(&frame)),
        };
    }
    let from = match &args.from {
        Some(text) => resolve(text)?,
        None => now - 600.0,
    };
    let to = match &args.to {
        Some(text) => resolve(text)?,
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
    match args.format {
        HistoryFormat::Json => json_out(&Value::Array(frames.iter().map(frame_json).collect())),
        HistoryFormat::Csv => out(&csv(&frames)),
        HistoryFormat::Table => {
            if frames.is_empty() {
                return out(&format!(
                    "nothing recorded from {} to {}\n",
                    format::local_time(from),
                    format::local_time(to)
                ));
            }
            out(&range_table(&frames))
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
    if let Some(key) = &args.group
        && let Some(Value::Array(groups)) = f.extra.get_mut("groups")
    {
        groups.retain(|g| g.get("key").and_then(Value::as_str) == Some(key));
    }
    f
}

/// A frame as JSON: the shape of a live `ProcessSamples` (docs/json.md).
fn frame_json(f: &Frame) -> Value {
    let mut map = Map::new();
    map.insert("timestamp".into(), f.timestamp_s.into());
    map.insert("elapsed_ms".into(), f.elapsed_ms.into());
    map.insert("process_count".into(), f.process_count.into());
    map.insert("max_score".into(), f.max_score.into());
    map.insert(
        "rogues".into(),
        serde_json::to_value(&f.processes).unwrap_or(Value::Null),
    );
    for (k, v) in &f.extra {
        map.insert(k.clone(), v.clone());
    }
    Value::Object(map)
}

fn json_out(v: &Value) -> Result<(), CliError> {
    let text = crate::json::to_string_pretty(v)
        .map_err(|e| CliError::runtime(format!("cannot encode history: {e}")))?;
    out(&format!("{text}\n"))
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
    if let Some(system) = f.extra.get("system") {
        let mut pairs = Vec::new();
        flatten("", system, &mut pairs);
        if !pairs.is_empty() {
            t.push_str("machine: ");
            t.push_str(&pairs.join("  "));
            t.push('\n');
        }
    }
    if let Some(Value::Array(groups)) = f.extra.get("groups") {
        t.push_str(&format!("groups: {} recorded\n", groups.len()));
    }
    t.push('\n');
    let samples = ProcessSamples {
        timestamp_s: f.timestamp_s,
        elapsed_ms: f.elapsed_ms,
        process_count: f.process_count,
        max_score: f.max_score,
        rogues: f.processes.clone(),
        groups: Vec::new(),
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
    let mut t =
        String::from("timestamp,pid,start_time,command,state,score,band,dominant_resource,cgroup");
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
    if !(args.hours.is_finite() && args.hours > 0.0) {
        return Err(CliError::usage(format!(
            "--hours {} must be above 0",
            args.hours
        )));
    }
    // No database yet means nothing recorded yet, not a failure.
    let rows = match Store::open_read_only(&ctx.paths.database()) {
        Ok(store) => store.history(crate::unix_now() - args.hours * 3600.0)?,
        Err(StorageError::Missing { .. }) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    match args.format {
        HistoryFormat::Json => {
            let text = crate::json::to_string_pretty(&rows)
                .or_runtime(|| "cannot encode history".into())?;
            out(&format!("{text}\n"))
        }
        HistoryFormat::Csv => {
            // One column per metric of the model's table (its current value).
            let mut t = String::from(
                "captured_at,event_id,pid,command,snapshot_type,score,band,dominant_resource",
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
                return out(&format!("no snapshots in the last {} hours\n", args.hours));
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
        Frame {
            timestamp_s: t,
            elapsed_ms: 1.0,
            process_count: 1,
            max_score: 0.0,
            processes: vec![p],
            extra: Map::new(),
        }
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
