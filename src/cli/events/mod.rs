//! `rogue-hunter events` and `events show ID`: what went rogue, and the
//! timeline of one event.
//!
//! `query` fetches from storage into plain structs, `render` turns those into
//! tables, text or JSON; this module holds the arguments and runs the command.

pub(crate) mod query;
pub(crate) mod render;

use super::{CliError, Context, OrRuntime, out, parse_duration};
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
    /// At most N events (newest first).
    #[arg(long, default_value_t = 50)]
    pub(crate) limit: usize,
    /// Only events active within this long ago: 90s, 10m, 2h, 3d.
    #[arg(long, value_name = "DUR")]
    pub(crate) since: Option<String>,
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum EventsCommand {
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
    let since = match &args.since {
        Some(text) => Some(crate::unix_now() - parse_duration(text)?),
        None => None,
    };
    let events = query::list(
        &ctx.paths.database(),
        &EventFilter {
            open_only: args.open,
            since,
            limit: Some(args.limit),
        },
    )?;
    if args.json {
        let text = render::events_json(&events).or_runtime(|| "cannot encode events".into())?;
        return out(&text);
    }
    out(&render::events_text(&events, crate::unix_now()))
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
