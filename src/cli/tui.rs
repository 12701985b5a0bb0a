//! `rogue-hunter tui`: the live dashboard, from the daemon when one runs,
//! else from an embedded sampler until one starts (said so in the header).

use super::{CliError, Context};
use crate::ipc::client::fetch_initial_state;
use crate::tui;
use std::io::IsTerminal;
use std::time::Duration;

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

pub(crate) fn run(ctx: &Context) -> Result<(), CliError> {
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
    let result = match fetch_initial_state(&socket, Duration::from_secs(2)) {
        Ok(_) => tui::run_connected(socket, config),
        // No daemon yet: sample in-process, and switch to one that starts.
        Err(e) if e.is_not_running() => tui::run_auto(socket, config, false),
        Err(e) => {
            return Err(CliError::runtime(format!(
                "a daemon is listening at {} but the dashboard cannot use it: {e}",
                socket.display()
            )));
        }
    };
    Ok(result?)
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
