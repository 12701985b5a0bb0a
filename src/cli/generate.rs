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

/// The main manual page (roff).
pub(crate) fn man_page() -> Result<String, CliError> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut buf)
        .or_runtime(|| "cannot render the manual page".into())?;
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
    }
}
