//! `rogue-hunter completions bash|zsh|fish` and `rogue-hunter man`: shell
//! completion scripts and manual pages generated from the command-line
//! definition itself (clap_complete, clap_mangen), so they never drift.

use super::{Cli, CliError, OrRuntime, out};
use clap::CommandFactory;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub(crate) shell: Shell,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ManArgs {
    /// Write rogue-hunter.1 and one page per subcommand into DIR instead of
    /// printing the main page.
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
}

/// The completion script for `shell`.
pub(crate) fn completions(shell: Shell) -> String {
    let mut buf = Vec::new();
    let mut cmd = Cli::command();
    let name = cmd.get_name().to_string();
    match shell {
        Shell::Bash => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, name.clone(), &mut buf);
            return fix_bash_hyphen(&String::from_utf8_lossy(&buf), &name);
        }
        Shell::Zsh => clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, name, &mut buf),
        Shell::Fish => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, name, &mut buf)
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// clap_complete's bash script for a hyphenated name sets
/// `cmd="rogue__hunter__subcmd__history"` but labels the case arm
/// `rogue__subcmd__hunter__subcmd__history)`, so nothing after the first word
/// completes. Rewrite the labels to the form `cmd` takes.
fn fix_bash_hyphen(script: &str, name: &str) -> String {
    if !name.contains('-') {
        return script.to_string();
    }
    let wanted = format!("{}__subcmd__", name.replace('-', "__"));
    let generated = format!("{}__subcmd__", name.replace('-', "__subcmd__"));
    script.replace(&generated, &wanted)
}

/// The sections clap does not know: the dashboard's keys, files,
/// environment, exit status and examples, as (title, paragraphs).
fn extra_sections() -> Vec<(&'static str, Vec<(String, String)>)> {
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    let keys = crate::tui::keymap::HELP
        .iter()
        .map(|(k, what)| pair(k, what))
        .collect();
    vec![
        ("KEYS", keys),
        (
            "FILES",
            vec![
                pair(
                    "$XDG_CONFIG_HOME/rogue-hunter/config.toml",
                    "the user configuration (`config path`; --config FILE instead); /etc/rogue-hunter/config.toml below it",
                ),
                pair(
                    "$XDG_DATA_HOME/rogue-hunter/data.db",
                    "the SQLite database: events, snapshots, stalls, forensic captures, the recorded history",
                ),
                pair(
                    "$XDG_DATA_HOME/rogue-hunter/daemon.lock",
                    "held by the running daemon (one per data directory)",
                ),
                pair(
                    "$XDG_STATE_HOME/rogue-hunter/daemon.log",
                    "the daemon's log, JSON Lines, rotated by size",
                ),
                pair(
                    "$XDG_RUNTIME_DIR/rogue-hunter/daemon.sock",
                    "the live stream (directory 0700, socket 0600)",
                ),
                pair(
                    "$XDG_CONFIG_HOME/systemd/user/rogue-hunter.service",
                    "the user unit `service install` writes (Linux; --system: /etc/systemd/system/)",
                ),
                pair(
                    "~/Library/LaunchAgents/com.rogue-hunter.daemon.plist",
                    "the launchd agent `service install` writes (macOS)",
                ),
            ],
        ),
        (
            "ENVIRONMENT",
            vec![
                pair(
                    "ROGUE_HUNTER_<SECTION>__<KEY>",
                    "any configuration key, e.g. ROGUE_HUNTER_SYSTEM__SAMPLE_INTERVAL=0.5; above the files, below the flags",
                ),
                pair(
                    "ROGUE_HUNTER_SYSTEM_CONFIG",
                    "the system configuration file instead of /etc/rogue-hunter/config.toml (empty: none)",
                ),
                pair(
                    "XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_STATE_HOME, XDG_RUNTIME_DIR",
                    "where the files above live (defaults ~/.config, ~/.local/share, ~/.local/state, a private directory under the temp dir)",
                ),
                pair("TERM", "`tui` refuses TERM=dumb (use `sample`)"),
                pair(
                    "RUST_LOG",
                    "log filter of the daemon and the console (e.g. debug)",
                ),
                pair("VISUAL, EDITOR", "the editor of `config edit`"),
            ],
        ),
        (
            "EXIT STATUS",
            vec![
                pair("0", "success"),
                pair(
                    "1",
                    "runtime failure: the message names the file or thing at fault",
                ),
                pair(
                    "2",
                    "usage or configuration error: the message names the flag, file or key",
                ),
                pair(
                    "3",
                    "`status`: the daemon is not running (as `systemctl is-active` and LSB init scripts)",
                ),
            ],
        ),
        (
            "EXAMPLES",
            vec![
                pair(
                    "rogue-hunter sample --top 5",
                    "the five worst processes now (rates over one second)",
                ),
                pair(
                    "rogue-hunter sample --json --count 3 | jq -c '.rogues[0]'",
                    "three samples, one JSON object per line",
                ),
                pair(
                    "rogue-hunter status >/dev/null || rogue-hunter service install",
                    "start recording when no daemon runs",
                ),
                pair(
                    "rogue-hunter events --since 'yesterday 22:00' --until 06:00",
                    "what went rogue overnight",
                ),
                pair(
                    "rogue-hunter events --json --fields id,status,command | jq -r '.events[] | @tsv'",
                    "selected fields for a script",
                ),
                pair(
                    "rogue-hunter events --json | jq -r '.events[] | \"\\(.entry_time_s | floor | todate) \\(.command)\"'",
                    "when each event began: a JSON time names its unit (_s seconds, _ms milliseconds since the Unix epoch)",
                ),
                pair(
                    "rogue-hunter history --at '3h ago'",
                    "the machine and the worst processes three hours ago",
                ),
                pair(
                    "rogue-hunter history --since 2h --pid 1234 --fields pid,score,cpu --format csv",
                    "one process over two hours, as CSV",
                ),
            ],
        ),
    ]
}

/// The main manual page (roff): clap's sections, then KEYS, FILES,
/// ENVIRONMENT, EXIT STATUS and EXAMPLES, then the version.
pub(crate) fn man_page() -> Result<String, CliError> {
    use clap_mangen::roff::{Roff, bold, roman};
    let man = clap_mangen::Man::new(Cli::command());
    let mut buf = Vec::new();
    let what = || "cannot render the manual page".to_string();
    man.render_title(&mut buf).or_runtime(what)?;
    man.render_name_section(&mut buf).or_runtime(what)?;
    man.render_synopsis_section(&mut buf).or_runtime(what)?;
    man.render_description_section(&mut buf).or_runtime(what)?;
    man.render_options_section(&mut buf).or_runtime(what)?;
    man.render_subcommands_section(&mut buf).or_runtime(what)?;
    let mut roff = Roff::new();
    for (title, items) in extra_sections() {
        roff.control("SH", [title]);
        for (term, text) in items {
            roff.control("TP", []);
            roff.text([bold(term)]);
            roff.text([roman(text)]);
        }
    }
    roff.to_writer(&mut buf).or_runtime(what)?;
    man.render_version_section(&mut buf).or_runtime(what)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

pub(crate) fn run_completions(args: &CompletionsArgs) -> Result<(), CliError> {
    out(&completions(args.shell))
}

pub(crate) fn run_man(args: &ManArgs) -> Result<(), CliError> {
    match &args.dir {
        None => out(&man_page()?),
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .or_runtime(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(Cli::command(), dir)
                .or_runtime(|| format!("cannot write manual pages into {}", dir.display()))?;
            out(&format!("wrote manual pages into {}\n", dir.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_knows_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let text = completions(shell);
            for sub in ["daemon", "events", "service", "perms", "completions", "man"] {
                assert!(text.contains(sub), "{shell:?} lacks {sub}");
            }
        }
    }

    #[test]
    fn man_page_lists_commands() {
        let page = man_page().unwrap();
        assert!(page.starts_with(".ie") || page.contains(".TH"), "{page}");
        assert!(page.contains("service") && page.contains("perms"));
        for section in ["KEYS", "FILES", "ENVIRONMENT", "EXIT STATUS", "EXAMPLES"] {
            assert!(
                page.contains(&format!(".SH {section}"))
                    || page.contains(&format!(".SH \"{section}\"")),
                "no {section}"
            );
        }
        assert!(
            page.contains("daemon is not running"),
            "exit 3 is documented"
        );
        // The dashboard's keys come from its own help table.
        let (key, _) = crate::tui::keymap::HELP[0];
        assert!(
            page.contains(&key.replace('-', "\\-")) || page.contains(key),
            "{key}"
        );
    }
}
