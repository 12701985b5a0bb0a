//! `rogue-hunter events` and `events show ID`: what went rogue, and the
//! timeline of one event.
//!
//! `query` fetches from storage into plain structs, `render` turns those into
//! tables, text or JSON; this module holds the arguments and runs the command.

pub(crate) mod query;
pub(crate) mod render;

use super::{CliError, Context, OrRuntime, out};
use crate::storage::EventFilter;
use clap::Subcommand;
pub(crate) use render::ShowOptions;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct EventsArgs {
    #[command(subcommand)]
    pub(crate) show: Option<EventsCommand>,
    /// Only events still open.
    #[arg(long)]
    pub(crate) open: bool,
    /// At most N events, newest first; 0 lists them all.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub(crate) limit: usize,
    /// Only events active at or after TIME: still open, or closed since then.
    /// TIME as `history` takes it (RFC 3339, HH:MM, `yesterday 03:00`, `3h
    /// ago`, `-90s`) or a span back from now (90s, 10m, 2h, 3d).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub(crate) since: Option<String>,
    /// Only events that began at or before TIME (same forms as --since).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub(crate) until: Option<String>,
    /// Only these fields, comma-separated, in this order (table columns and
    /// JSON keys): id, pid, start_time_ms, command, boot_time_ms,
    /// entry_time_s, exit_time_s, entry_band, peak_band, peak_score,
    /// peak_time_s, dominant_resource, close_reason, forensics_count, status.
    #[arg(long, value_name = "LIST")]
    pub(crate) fields: Option<String>,
    /// Print one JSON document (the events under `events`) instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum EventsCommand {
    /// One event with its snapshots (and its forensic captures).
    Show {
        /// The event's id (the first column of `events`).
        #[arg(value_name = "ID")]
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
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(ctx: &Context, args: EventsArgs) -> Result<(), CliError> {
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
    let now = crate::unix_now();
    let since = match &args.since {
        Some(text) => Some(super::resolve_time("--since", text, now)?),
        None => None,
    };
    let until = match &args.until {
        Some(text) => Some(super::resolve_time("--until", text, now)?),
        None => None,
    };
    if let (Some(a), Some(b)) = (since, until)
        && a > b
    {
        return Err(CliError::usage(format!(
            "--since {} is after --until {}",
            crate::format::local_time(a),
            crate::format::local_time(b)
        )));
    }
    let fields = match &args.fields {
        Some(text) => Some(super::output::parse_fields(text, render::EVENT_FIELDS)?),
        None => None,
    };
    let limit = (args.limit > 0).then_some(args.limit);
    let mut events = query::list(
        &ctx.paths.database(),
        &EventFilter {
            open_only: args.open,
            since,
            // The storage filter has no upper bound: with --until the limit
            // applies after it.
            limit: if until.is_some() { None } else { limit },
        },
    )?;
    if let Some(until) = until {
        events.retain(|e| e.entry_time_s <= until);
        if let Some(n) = limit {
            events.truncate(n);
        }
    }
    if args.json {
        let text = render::events_json(&events, fields.as_deref())
            .or_runtime(|| "cannot encode events".into())?;
        return out(&text);
    }
    let filtered = args.open || since.is_some() || until.is_some();
    out(&render::events_text(
        &events,
        now,
        fields.as_deref(),
        filtered,
    ))
}

fn show(ctx: &Context, id: i64, opts: ShowOptions) -> Result<(), CliError> {
    let Some(detail) = query::detail(&ctx.paths.database(), id, opts.forensics)? else {
        return Err(CliError::runtime(format!(
            "no event with id {id} (list them with `rogue-hunter events`)"
        )));
    };
    if opts.json {
        let text = render::event_json(&detail).or_runtime(|| "cannot encode event".into())?;
        return out(&text);
    }
    out(&render::event_text(&detail, crate::unix_now(), opts))
}
