//! `rogue-hunter prune`: delete closed events and recorded history older than their retention.

use super::{CliError, Context, confirm, out};
use crate::storage::Store;

#[derive(Debug, clap::Args)]
pub(crate) struct PruneArgs {
    /// Show what would be deleted, delete nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub(crate) yes: bool,
    /// Keep events from the last N days (default: [retention] events_days).
    #[arg(long, value_name = "N")]
    pub events_days: Option<u32>,
    /// Keep the recording of the last N days (default: [history] keep_days).
    #[arg(long, value_name = "N")]
    pub history_days: Option<u32>,
}

pub(crate) fn run(ctx: &Context, args: PruneArgs) -> Result<(), CliError> {
    let config = ctx.load_config()?;
    let days = args.events_days.unwrap_or(config.retention.events_days);
    if days == 0 {
        return Err(CliError::usage("--events-days must be at least 1"));
    }
    let history_days = args.history_days.unwrap_or(config.history.keep_days);
    if history_days == 0 {
        return Err(CliError::usage("--history-days must be at least 1"));
    }
    let now = crate::unix_now();
    let older_than = now - f64::from(days) * 86400.0;
    let history_older_than = now - f64::from(history_days) * 86400.0;
    let db = ctx.paths.database();
    // A writing command: an old schema is upgraded here rather than refused.
    let (plan, (blocks, block_bytes)) = Store::open_upgrading(&db).and_then(|s| {
        Ok((
            s.prune_plan(older_than)?,
            s.history_prune_plan(history_older_than)?,
        ))
    })?;
    let summary = format!(
        "{} events, {} snapshots and {} forensic captures closed more than {days} days ago, \
         and {blocks} recorded blocks ({}) older than {history_days} days",
        plan.events,
        plan.snapshots,
        plan.captures,
        crate::format::bytes(block_bytes as f64)
    );
    if plan.events == 0 && blocks == 0 {
        return out(&format!(
            "nothing to prune: no events closed more than {days} days ago and no recording older \
             than {history_days} days\n"
        ));
    }
    if args.dry_run {
        return out(&format!("would delete {summary}\n"));
    }
    if !confirm(&format!("delete {summary}"), args.yes)? {
        return out("nothing deleted\n");
    }
    let (done, blocks) = Store::open(&db)
        .and_then(|mut s| Ok((s.prune(older_than)?, s.prune_history(history_older_than)?)))?;
    out(&format!(
        "deleted {} events, {} snapshots, {} forensic captures and {blocks} recorded blocks\n",
        done.events, done.snapshots, done.captures
    ))
}
