//! `rogue-hunter events` and `events show ID`: what went rogue, and the
//! timeline of one event.

use super::{CliError, Context, out, parse_duration};
use crate::format::{self, Align};
use crate::storage::{EventFilter, EventRow, SnapshotRow, Store};
use clap::Subcommand;
use serde::Serialize;

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
    /// One event with its snapshots.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
}

fn open_store(ctx: &Context) -> Result<Store, CliError> {
    Store::open_read_only(&ctx.paths.database()).map_err(|e| CliError::runtime(e.to_string()))
}

pub fn run(ctx: &Context, args: EventsArgs) -> Result<(), CliError> {
    if let Some(EventsCommand::Show { id, json }) = args.show {
        return show(ctx, id, json);
    }
    let since = match &args.since {
        Some(text) => Some(crate::unix_now() - parse_duration(text)?),
        None => None,
    };
    let store = open_store(ctx)?;
    let events = store
        .list_events(&EventFilter {
            open_only: args.open,
            since,
            limit: Some(args.limit),
        })
        .map_err(|e| CliError::runtime(e.to_string()))?;
    if args.json {
        let text = serde_json::to_string_pretty(&events)
            .map_err(|e| CliError::runtime(format!("cannot encode events: {e}")))?;
        return out(&format!("{text}\n"));
    }
    if events.is_empty() {
        return out("no events recorded\n");
    }
    out(&events_table(&events))
}

fn event_status(e: &EventRow) -> String {
    match (&e.exit_time, &e.close_reason) {
        (None, _) => "open".into(),
        (Some(_), Some(r)) => r.clone(),
        (Some(_), None) => "closed".into(),
    }
}

fn event_duration(e: &EventRow) -> String {
    format::duration(e.exit_time.unwrap_or_else(crate::unix_now) - e.entry_time)
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
                format::local_time(e.entry_time),
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

/// The stable JSON shape of `events show ID --json`.
#[derive(Debug, Serialize)]
struct EventDetail<'a> {
    #[serde(flatten)]
    event: &'a EventRow,
    snapshots: &'a [SnapshotRow],
}

fn show(ctx: &Context, id: i64, json: bool) -> Result<(), CliError> {
    let store = open_store(ctx)?;
    let Some((event, snapshots)) = store
        .event_detail(id)
        .map_err(|e| CliError::runtime(e.to_string()))?
    else {
        return Err(CliError::runtime(format!(
            "no event with id {id} (list them with `rogue-hunter events`)"
        )));
    };
    if json {
        let text = serde_json::to_string_pretty(&EventDetail {
            event: &event,
            snapshots: &snapshots,
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
        format::local_time(event.entry_time),
        event.entry_band,
        event.peak_score,
        event.peak_band,
        format::local_time(event.peak_time),
        event.dominant_resource,
    ));
    match event.exit_time {
        Some(x) => t.push_str(&format!(
            "closed {} after {} ({})\n",
            format::local_time(x),
            event_duration(&event),
            event_status(&event)
        )),
        None => t.push_str(&format!("still open after {}\n", event_duration(&event))),
    }
    t.push_str(&format!("forensic captures: {}\n\n", event.forensics_count));
    t.push_str(&timeline(&snapshots, event.entry_time));
    out(&t)
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
    let rows: Vec<Vec<String>> = snapshots
        .iter()
        .map(|s| {
            let bar = "█".repeat((s.score / 5.0).round().clamp(0.0, 20.0) as usize);
            vec![
                format::local_time(s.captured_at),
                format::duration(s.captured_at - start),
                s.snapshot_type.to_string(),
                format!("{:.1}", s.score),
                bar,
                s.band.to_string(),
                format::dominant_value(&s.process),
            ]
        })
        .collect();
    format::table(&headers, &rows)
}
