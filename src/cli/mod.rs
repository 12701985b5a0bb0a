//! Command-line interface: argument parsing and the commands.
//!
//! Owns what the user types and what they read back. Errors carry an exit code
//! (0 ok, 1 runtime failure, 2 usage or configuration error) and a message that
//! names the file, key or thing at fault.

mod config_cmd;
mod daemon;
pub mod events;
pub mod generate;
mod history;
mod perms;
mod prune;
mod sample;
mod service;
mod stalls;
pub mod status;
mod tui;

use crate::config::{self, Config, Paths, Sources};
use clap::{Parser, Subcommand};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "rogue-hunter",
    version,
    about = "Finds the process behind a slow or stalling machine and keeps the evidence"
)]
pub struct Cli {
    /// Use this configuration file instead of $XDG_CONFIG_HOME/rogue-hunter/config.toml.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More console logging (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Score every process now, without a daemon (like `top -b`).
    Sample(sample::SampleArgs),
    /// The live dashboard (from the daemon, or an embedded sampler when none runs).
    Tui,
    /// Run the sampler in the foreground (service managers background it).
    Daemon,
    /// Is the daemon running; uptime, samples, open events, the worst process now.
    Status(status::StatusArgs),
    /// Events recorded by the daemon; `events show ID` for one event's timeline.
    Events(events::EventsArgs),
    /// Stalls: when the machine or the monitor froze, why, and who suffered.
    Stalls(stalls::StallsArgs),
    /// The recording: the top processes (and the machine) at any moment (`--at`,
    /// `--from/--to`); `--snapshots` lists the events' snapshots.
    History(history::HistoryArgs),
    /// Delete closed events and recorded history older than their retention.
    Prune(prune::PruneArgs),
    /// Show, locate, check, reset or edit the configuration.
    Config {
        #[command(subcommand)]
        action: config_cmd::ConfigAction,
    },
    /// Run the daemon as a systemd (Linux) or launchd (macOS) service.
    Service {
        #[command(subcommand)]
        action: service::ServiceAction,
    },
    /// Permissions for forensics: which sources work, and the rules that widen them.
    Perms {
        #[command(subcommand)]
        action: perms::PermsAction,
    },
    /// Print a shell completion script (bash, zsh or fish).
    Completions(generate::CompletionsArgs),
    /// Print the manual page (or write every page into a directory).
    Man(generate::ManArgs),
}

/// A failed command: what to tell the user and which exit code to use.
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
}

impl CliError {
    pub fn runtime(message: impl Into<String>) -> Self {
        CliError {
            code: 1,
            message: message.into(),
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: 2,
            message: message.into(),
        }
    }
}

impl From<config::ConfigError> for CliError {
    fn from(e: config::ConfigError) -> Self {
        match e {
            config::ConfigError::Paths(m) => CliError::runtime(m),
            other => CliError::usage(format!("configuration error: {other}")),
        }
    }
}

/// Shared context for commands: where things are and the loaded configuration.
pub struct Context {
    pub paths: Paths,
    pub sources: Sources,
}

impl Context {
    pub fn new(cli: &Cli) -> Result<Context, CliError> {
        let paths = Paths::from_env()?;
        let sources = Sources::new(&paths, cli.config.as_deref());
        Ok(Context { paths, sources })
    }

    pub fn load_config(&self) -> Result<Config, CliError> {
        Ok(config::load(&self.sources)?)
    }
}

/// Parse "90s", "10m", "2h", "3d" or plain seconds into seconds.
pub fn parse_duration(text: &str) -> Result<f64, CliError> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let mult = match unit {
        "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86400.0,
        "w" | "week" | "weeks" => 7.0 * 86400.0,
        _ => f64::NAN,
    };
    match num.trim().parse::<f64>() {
        Ok(n) if n >= 0.0 && mult.is_finite() => Ok(n * mult),
        _ => Err(CliError::usage(format!(
            "`{text}` is not a duration (examples: 90s, 10m, 2h, 3d)"
        ))),
    }
}

/// Ask before deleting; refuse without a terminal unless `--yes`.
pub fn confirm(question: &str, yes: bool) -> Result<bool, CliError> {
    if yes {
        return Ok(true);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::usage(format!(
            "{question}: refusing without --yes when not on a terminal; nothing changed"
        )));
    }
    eprint!("{question}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::runtime(format!("cannot read answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    // The daemon sets up its own logging (console + JSON file).
    // The dashboard owns the terminal: no console logging under it.
    let _log = match cli.command {
        Command::Daemon | Command::Tui => None,
        _ => Some(crate::logging::init_console(cli.verbose)),
    };
    // These need no paths or configuration.
    match &cli.command {
        Command::Completions(args) => return generate::run_completions(args),
        Command::Man(args) => return generate::run_man(args),
        _ => {}
    }
    let ctx = Context::new(&cli)?;
    match cli.command {
        Command::Sample(args) => sample::run(&ctx, args),
        Command::Daemon => daemon::run(&ctx),
        Command::Tui => tui::run(&ctx),
        Command::Status(args) => status::run(&ctx, args),
        Command::Events(args) => events::run(&ctx, args),
        Command::Stalls(args) => stalls::run(&ctx, args),
        Command::History(args) => history::run(&ctx, args),
        Command::Prune(args) => prune::run(&ctx, args),
        Command::Config { action } => config_cmd::run(&ctx, action),
        Command::Service { action } => service::run(&ctx, action),
        Command::Perms { action } => perms::run(&ctx, action),
        Command::Completions(_) | Command::Man(_) => Ok(()),
    }
}

/// Write to stdout, treating a closed pipe (`| head`) as a normal end.
pub fn out(text: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(CliError::runtime(format!("cannot write to stdout: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), 90.0);
        assert_eq!(parse_duration("10m").unwrap(), 600.0);
        assert_eq!(parse_duration("2h").unwrap(), 7200.0);
        assert_eq!(parse_duration("3d").unwrap(), 259200.0);
        assert_eq!(parse_duration("45").unwrap(), 45.0);
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("-5m").is_err());
    }
}
