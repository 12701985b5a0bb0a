//! `rogue-hunter prune`: delete closed events older than the retention period.

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
    pub(crate) events_days: Option<u32>,
}

pub(crate) fn run(ctx: &Context, args: PruneArgs) -> Result<(), CliError> {
    let config = ctx.load_config()?;
    let days = args.events_days.unwrap_or(config.retention.events_days);
    if days == 0 {
        return Err(CliError::usage("--events-days must be at least 1"));
    }
    let older_than = crate::unix_now() - f64::from(days) * 86400.0;
    let db = ctx.paths.database();
    // A writing command: an old schema is upgraded here rather than refused.
    let plan = Store::open_upgrading(&db).and_then(|s| s.prune_plan(older_than))?;
    let summary = format!(
        "{} events, {} snapshots and {} forensic captures closed more than {days} days ago",
        plan.events, plan.snapshots, plan.captures
    );
    if plan.events == 0 {
        return out(&format!(
            "nothing to prune: no events closed more than {days} days ago\n"
        ));
    }
    if args.dry_run {
        return out(&format!("would delete {summary}\n"));
    }
    if !confirm(&format!("delete {summary}"), args.yes)? {
        return out("nothing deleted\n");
    }
    let done = Store::open(&db).and_then(|mut s| s.prune(older_than))?;
    out(&format!(
        "deleted {} events, {} snapshots and {} forensic captures\n",
        done.events, done.snapshots, done.captures
    ))
}
