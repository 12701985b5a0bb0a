//! `rogue-hunter tui`: the live dashboard, from the daemon when one runs,
//! else from an embedded sampler until one starts (said so in the header);
//! `--at TIME` replays the recording from that moment. Enter on an event
//! shows what `events show ID --forensics` (or `stalls show ID`) prints,
//! read read-only from the daemon's database.

use super::events::{ShowOptions, query, render};
use super::{CliError, Context};
use crate::history;
use crate::ipc::client::fetch_initial_state;
use crate::storage::{EventFilter, StorageError, Store};
use crate::tui::{self, EventReader, EventRef};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Live events are looked up among this many of the newest stored ones.
const LOOKUP: usize = 500;
use std::io::IsTerminal;

/// Why the dashboard cannot run here, if it cannot: it needs a terminal on
/// stdin and stdout, and one that can move the cursor (not `TERM=dumb`).
fn terminal_refusal(stdin_tty: bool, stdout_tty: bool, term: Option<&str>) -> Option<String> {
    let plain = "for plain output use `rogue-hunter sample` (`--count N`, `--json`)";
    if !(stdin_tty && stdout_tty) {
        let which = match (stdin_tty, stdout_tty) {
            (false, false) => "stdin and stdout are not terminals",
            (false, true) => "stdin is not a terminal",
            _ => "stdout is not a terminal",
        };
        return Some(format!("tui needs a terminal ({which}); {plain}"));
    }
    if term.is_some_and(|t| t.trim() == "dumb") {
        return Some(format!(
            "tui needs a terminal that can move the cursor, and TERM=dumb says this one \
             cannot; {plain}"
        ));
    }
    None
}

#[derive(Debug, clap::Args)]
pub struct TuiArgs {
    /// Replay the recording from this moment: RFC 3339, local HH:MM[:SS],
    /// `yesterday 03:00`, `3h ago`, `-90s`, `@UNIX`. Keys: `[` `]` a second,
    /// `{` `}` a minute, `n` `N` the previous / next event or stall, `L` live.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub at: Option<String>,
}

pub(crate) fn run(ctx: &Context, args: &TuiArgs) -> Result<(), CliError> {
    // A bad time is refused before the terminal or the configuration.
    let at = match &args.at {
        Some(text) => {
            let spec =
                history::parse_time(text).map_err(|e| CliError::usage(format!("--at: {e}")))?;
            let now = crate::unix_now();
            Some(spec.resolve(now, super::history::local_seconds_of_day(now)))
        }
        None => None,
    };
    let db = ctx.paths.database();
    // So is a moment that is not recorded (no database, nothing there).
    let source = match at {
        Some(at) => Some(tui::ReplaySource::open(&db, at).map_err(CliError::runtime)?),
        None => None,
    };
    let term = std::env::var("TERM").ok();
    if let Some(why) = terminal_refusal(
        std::io::stdin().is_terminal(),
        std::io::stdout().is_terminal(),
        term.as_deref(),
    ) {
        return Err(CliError::usage(why));
    }
    let config = ctx.load_config()?;
    let socket = ctx.paths.socket();
    let reader = event_reader(db.clone());
    if let Some(source) = source {
        return Ok(tui::run_dashboard(
            socket,
            db,
            config,
            tui::Start::Replay(Box::new(source)),
            reader,
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
        reader,
    )?)
}

fn event_reader(db: PathBuf) -> EventReader {
    Box::new(move |what| read_event(&db, what))
}

/// The title and text of one event or stall, or why not (no database, not
/// recorded yet).
pub(crate) fn read_event(db: &Path, what: &EventRef) -> Result<(String, String), String> {
    let store = match Store::open_read_only(db) {
        Ok(s) => s,
        Err(StorageError::Missing { .. }) => {
            return Err(format!(
                "no database at {}: events are recorded by `rogue-hunter daemon`",
                db.display()
            ));
        }
        Err(e) => return Err(e.to_string()),
    };
    let id = match what {
        EventRef::Stored { id } => *id,
        EventRef::Process { pid, start_time_ms } => {
            let rows = store
                .list_events(&EventFilter {
                    limit: Some(LOOKUP),
                    ..EventFilter::default()
                })
                .map_err(|e| e.to_string())?;
            match rows
                .iter()
                .find(|r| r.pid == *pid && r.start_time_ms == *start_time_ms)
            {
                Some(r) => r.id,
                None => {
                    return Err(format!(
                        "the event of pid {pid} is not in {} yet (the daemon writes it within seconds): try again",
                        db.display()
                    ));
                }
            }
        }
        EventRef::Stall { start_s } => return read_stall(&store, db, *start_s),
    };
    let opts = ShowOptions {
        forensics: true,
        ..ShowOptions::default()
    };
    match query::detail(db, id, opts.forensics).map_err(|e| e.to_string())? {
        Some(d) => Ok((
            format!("Event {id}"),
            render::event_text(&d, crate::unix_now(), opts),
        )),
        None => Err(format!("no event {id} in {}", db.display())),
    }
}

fn read_stall(store: &Store, db: &Path, start_s: f64) -> Result<(String, String), String> {
    let rows = store
        .list_stalls(Some(start_s - 1.0), Some(LOOKUP))
        .map_err(|e| e.to_string())?;
    let Some(row) = rows
        .into_iter()
        .find(|r| (r.stall.start_s - start_s).abs() < 0.01)
    else {
        return Err(format!(
            "this stall is not in {} yet (it is written when it ends): try again",
            db.display()
        ));
    };
    let captures = store
        .stall_captures(row.id)
        .and_then(|c| query::views_of(store, c))
        .map_err(|e| e.to_string())?;
    Ok((
        format!("Stall {}", row.id),
        super::stalls::stall_text(&row, &captures),
    ))
}
#[cfg(test)]
mod tests {
    use super::terminal_refusal;

    #[test]
    fn without_a_terminal_or_with_a_dumb_one_the_dashboard_says_so_and_suggests_sample() {
        assert_eq!(terminal_refusal(true, true, Some("xterm-256color")), None);
        assert_eq!(terminal_refusal(true, true, None), None);
        let no_tty = terminal_refusal(false, false, Some("xterm")).unwrap();
        assert!(
            no_tty.starts_with("tui needs a terminal (stdin and stdout"),
            "{no_tty}"
        );
        assert!(no_tty.contains("rogue-hunter sample"), "{no_tty}");
        assert!(
            terminal_refusal(true, false, None)
                .unwrap()
                .contains("stdout is not")
        );
        let dumb = terminal_refusal(true, true, Some("dumb")).unwrap();
        assert!(
            dumb.contains("TERM=dumb") && dumb.contains("sample"),
            "{dumb}"
        );
    }
}
