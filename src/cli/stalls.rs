//! `rogue-hunter stalls` and `stalls show ID`: when the machine (or the
//! monitor) could not make progress, for how long, the likely cause and who
//! suffered.

use super::events::{query, render};
use super::{CliError, Context, out};
use crate::format::{self, Align};
use crate::model::{StallParty, StallRow};
use crate::storage::{StorageError, Store};
use clap::Subcommand;
use serde::Serialize;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct StallsArgs {
    #[command(subcommand)]
    pub show: Option<StallsCommand>,
    /// Only stalls since TIME: a span back from now (90s, 10m, 2h, 3d) or any
    /// time `history` takes (RFC 3339, HH:MM, `yesterday 03:00`, `-90s`).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub since: Option<String>,
    /// At most N stalls (newest first).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
    /// Print one JSON document (the stalls under `stalls`) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum StallsCommand {
    /// One stall: its numbers, verdict, holders, victims and forensic captures.
    Show {
        /// The stall's id (the first column of `stalls`).
        id: i64,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn open(ctx: &Context) -> Result<Option<Store>, CliError> {
    match Store::open_read_only(&ctx.paths.database()) {
        Ok(s) => Ok(Some(s)),
        Err(StorageError::Missing { .. }) => Ok(None),
        Err(e) => Err(CliError::runtime(e.to_string())),
    }
}

pub fn run(ctx: &Context, args: StallsArgs) -> Result<(), CliError> {
    if let Some(StallsCommand::Show { id, json }) = args.show {
        return show(ctx, id, json);
    }
    let since = match &args.since {
        Some(d) => Some(super::resolve_time("--since", d, crate::unix_now())?),
        None => None,
    };
    let rows = match open(ctx)? {
        Some(store) => store
            .list_stalls(since, Some(args.limit))
            .map_err(|e| CliError::runtime(e.to_string()))?,
        None => Vec::new(),
    };
    if args.json {
        return super::output::print_list("stalls", &rows);
    }
    out(&stalls_text(&rows))
}

/// The `stalls` table (commands and verdicts escaped).
pub fn stalls_text(rows: &[StallRow]) -> String {
    if rows.is_empty() {
        return "no stalls recorded\n".into();
    }
    let headers = [
        ("ID", Align::Right),
        ("STARTED", Align::Left),
        ("FOR", Align::Right),
        ("KIND", Align::Left),
        ("VERDICT", Align::Left),
    ];
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let s = &r.stall;
            vec![
                r.id.to_string(),
                format::local_time(s.start_s),
                if s.end_s.is_some() {
                    format!("{:.1}s", s.duration_s)
                } else {
                    format!("{:.1}s…", s.duration_s)
                },
                s.kind.to_string(),
                format::truncate(&format::escape(&s.verdict), 110),
            ]
        })
        .collect();
    format::table(&headers, &table)
}

fn party_rows(parties: &[StallParty]) -> String {
    let headers = [
        ("PID", Align::Right),
        ("CPU", Align::Right),
        ("DISK", Align::Right),
        ("RSS Δ", Align::Right),
        ("MAJFLT", Align::Right),
        ("RUN WAIT", Align::Right),
        ("IN D", Align::Right),
        ("COMMAND", Align::Left),
    ];
    let dash = || "-".to_string();
    let secs = |v: Option<f64>| v.map_or_else(dash, |v| format!("{v:.2}s"));
    let rows: Vec<Vec<String>> = parties
        .iter()
        .map(|p| {
            vec![
                p.pid.to_string(),
                secs(p.cpu_s),
                p.disk_bytes.map_or_else(dash, format::bytes),
                p.resident_growth_bytes.map_or_else(dash, format::bytes),
                p.major_faults.map_or_else(dash, format::count),
                secs(p.run_delay_s),
                secs(p.blocked_s),
                format::truncate(&format::escape(&p.command), 60),
            ]
        })
        .collect();
    format::table(&headers, &rows)
}

/// `stalls show ID --json`: the stall with its captures.
#[derive(Debug, Serialize)]
struct StallDetail {
    #[serde(flatten)]
    row: StallRow,
    captures: Vec<query::ForensicView>,
}

/// The text of `stalls show`.
pub fn stall_text(r: &StallRow, captures: &[query::ForensicView]) -> String {
    let s = &r.stall;
    let mut t = format!(
        "stall {}  {}  started {}",
        r.id,
        s.kind,
        format::local_time(s.start_s)
    );
    match s.end_s {
        Some(end) => t.push_str(&format!(
            "  ended {}  stalled {:.1} s\n",
            format::local_time(end),
            s.duration_s
        )),
        None => t.push_str(&format!("  still going ({:.1} s so far)\n", s.duration_s)),
    }
    if s.suspended_s > 0.0 {
        t.push_str(&format!(
            "suspended {:.1} s in the same window (not counted)\n",
            s.suspended_s
        ));
    }
    t.push_str(&format!("verdict: {}\n", format::escape(&s.verdict)));
    if let Some(c) = s.cause {
        t.push_str(&format!("cause: {c}\n"));
    }
    if let (Some(k), Some(w), Some(p)) =
        (&s.pressure_kind, s.window_pressure_pct, s.peak_pressure_pct)
    {
        t.push_str(&format!(
            "pressure: {k} {w:.0} % of the window stalled, peak {p:.0} % of one interval\n"
        ));
    }
    if let (Some(pid), Some(cmd)) = (s.pid, &s.command) {
        t.push_str(&format!("process: pid {pid} {}\n", format::escape(cmd)));
    }
    t.push_str("\nlikely causes (holders):\n");
    if s.holders.is_empty() {
        t.push_str("  none measured\n");
    } else {
        t.push_str(&indent(&party_rows(&s.holders)));
    }
    t.push_str("\nhurt most (victims):\n");
    if s.victims.is_empty() {
        t.push_str("  none measured (run-queue delay is read for the few processes read in depth; time in D for all)\n");
    } else {
        t.push_str(&indent(&party_rows(&s.victims)));
    }
    t.push_str(&format!("\nforensic captures: {}\n", captures.len()));
    for v in captures {
        t.push_str(&render::forensics_text(
            v,
            render::Since::StallStart(s.start_s),
            render::ShowOptions::default(),
        ));
    }
    t
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn show(ctx: &Context, id: i64, json: bool) -> Result<(), CliError> {
    let err = |e: StorageError| CliError::runtime(e.to_string());
    let store = open(ctx)?
        .ok_or_else(|| CliError::runtime(format!("no stall {id}: nothing recorded yet")))?;
    let row = store
        .stall(id)
        .map_err(err)?
        .ok_or_else(|| CliError::runtime(format!("no stall {id} (see `rogue-hunter stalls`)")))?;
    let captures = query::views_of(&store, store.stall_captures(id).map_err(err)?).map_err(err)?;
    if json {
        return super::output::print("stall", &StallDetail { row, captures });
    }
    out(&stall_text(&row, &captures))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Stall, StallCause, StallKind};

    fn row() -> StallRow {
        StallRow {
            id: 3,
            stall: Stall {
                kind: StallKind::Scheduling,
                start_s: 1000.0,
                end_s: Some(1003.0),
                duration_s: 3.0,
                suspended_s: 0.0,
                cause: Some(StallCause::Stopped),
                pressure_kind: None,
                peak_pressure_pct: None,
                window_pressure_pct: None,
                verdict: "monitor stalled 3.0 s — stopped \u{1b}[2J".into(),
                holders: vec![StallParty {
                    pid: 42,
                    start_time_ms: 1,
                    command: "evil\u{202e}name".into(),
                    cpu_s: Some(2.5),
                    disk_bytes: None,
                    resident_growth_bytes: None,
                    major_faults: None,
                    run_delay_s: None,
                    blocked_s: None,
                }],
                victims: Vec::new(),
                pid: None,
                command: None,
            },
            forensics_count: 0,
        }
    }

    #[test]
    fn list_and_detail_escape_untrusted_text() {
        let list = stalls_text(&[row()]);
        assert!(
            list.contains("scheduling") && list.contains("3.0s"),
            "{list}"
        );
        let detail = stall_text(&row(), &[]);
        for text in [&list, &detail] {
            assert!(
                !text.contains('\u{1b}') && !text.contains('\u{202e}'),
                "{text}"
            );
        }
        assert!(detail.contains("cause: stopped"), "{detail}");
        assert!(detail.contains("2.50s"), "{detail}");
        assert_eq!(stalls_text(&[]), "no stalls recorded\n");
    }

    #[test]
    fn a_stalls_capture_is_timed_from_the_stall_start() {
        let capture = query::ForensicView {
            id: 7,
            captured_at: 1_002.0,
            trigger: "stall scheduling".into(),
            status: crate::model::CaptureStatus::Complete,
            duration_ms: None,
            error: None,
            sources: serde_json::json!({}),
            threads: Vec::new(),
            pressure: Default::default(),
            logs: Vec::new(),
            system: Default::default(),
            buffer_context: None,
            culprits: serde_json::json!([]),
        };
        let detail = stall_text(&row(), &[capture]);
        assert!(detail.contains("forensic captures: 1\n"), "{detail}");
        assert!(
            detail.contains("(+2s after the stall began): complete"),
            "{detail}"
        );
        assert!(!detail.contains("after entry"), "{detail}");
    }
}
