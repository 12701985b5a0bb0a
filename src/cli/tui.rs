//! `rogue-hunter tui`: the live dashboard, from the daemon when one runs,
//! else from an embedded sampler until one starts (said so in the header);
//! `--at TIME` replays the recording from that moment.

use super::{CliError, Context};
use crate::history;
use crate::ipc::client::fetch_initial_state;
use crate::tui;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct TuiArgs {
    /// Replay the recording from this moment: RFC 3339, local HH:MM[:SS],
    /// `yesterday 03:00`, `3h ago`, `-90s`, `@UNIX`. Keys: `[` `]` a second,
    /// `{` `}` a minute, `n` `N` the previous / next event or stall, `L` live.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub at: Option<String>,
}

pub(crate) fn run(ctx: &Context, args: &TuiArgs) -> Result<(), CliError> {
    // A bad time is refused before the configuration or the terminal.
    let at = match &args.at {
        Some(text) => {
            let spec =
                history::parse_time(text).map_err(|e| CliError::usage(format!("--at: {e}")))?;
            let now = crate::unix_now();
            Some(spec.resolve(now, super::history::local_seconds_of_day(now)))
        }
        None => None,
    };
    let config = ctx.load_config()?;
    let socket = ctx.paths.socket();
    let db = ctx.paths.database();
    if let Some(at) = at {
        let source = tui::ReplaySource::open(&db, at).map_err(CliError::runtime)?;
        return Ok(tui::run_dashboard(
            socket,
            db,
            config,
            tui::Start::Replay(Box::new(source)),
        )?);
    }
    let daemon_found = match fetch_initial_state(&socket, Duration::from_secs(2)) {
        Ok(_) => true,
        // No daemon yet: sample in-process, and switch to one that starts.
        Err(e) if e.is_not_running() => false,
        Err(e) => {
            return Err(CliError::runtime(format!(
                "a daemon is listening at {} but the dashboard cannot use it: {e}",
                socket.display()
            )));
        }
    };
    Ok(tui::run_dashboard(
        socket,
        db,
        config,
        tui::Start::Live { daemon_found },
    )?)
}
