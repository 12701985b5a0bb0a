//! Command-line interface: argument parsing and the commands.
//!
//! Owns what the user types and what they read back. Errors carry an exit code
//! (0 ok, 1 runtime failure, 2 usage or configuration error) and a message that
//! names the file, key or thing at fault.

mod config_cmd;
mod daemon;
pub(crate) mod events;
pub(crate) mod generate;
mod history;
mod perms;
mod prune;
mod sample;
mod service;
mod stalls;
pub(crate) mod status;
mod tui;

use crate::config::{self, Config, Paths, Sources};
use crate::service::ServiceError;
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
    pub(crate) config: Option<PathBuf>,
    /// More console logging (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Score every process now, without a daemon (like `top -b`).
    Sample(sample::SampleArgs),
    /// The live dashboard (from the daemon, or an embedded sampler when none
    /// runs); `--at TIME` replays the recording.
    Tui(tui::TuiArgs),
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
    pub(crate) fn runtime(message: impl Into<String>) -> Self {
        CliError {
            code: 1,
            message: message.into(),
        }
    }
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: 2,
            message: message.into(),
        }
    }
}

/// A configuration file or value at fault is a usage error (2); not finding
/// the directories at all is a runtime one (1).
impl From<config::ConfigError> for CliError {
    fn from(e: config::ConfigError) -> Self {
        match e {
            config::ConfigError::Paths(m) => CliError::runtime(m),
            other => CliError::usage(format!("configuration error: {other}")),
        }
    }
}

/// A path the service file cannot carry, or a user name a rule cannot, is a
/// usage error (2); everything else a runtime one (1).
impl From<ServiceError> for CliError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Usage(m) => CliError::usage(m),
            other => CliError::runtime(other.to_string()),
        }
    }
}

/// Runtime failures (exit 1) of the layers below, told in their own words.
macro_rules! runtime_errors {
    ($($error:ty),* $(,)?) => {$(
        impl From<$error> for CliError {
            fn from(e: $error) -> Self {
                CliError::runtime(e.to_string())
            }
        }
    )*};
}

runtime_errors!(
    crate::daemon::DaemonError,
    crate::ipc::IpcError,
    crate::logging::LoggingError,
    crate::platform::SourceError,
    crate::service::ManagerError,
    crate::storage::StorageError,
    crate::sys::PrivateDirError,
    crate::tui::TuiError,
);

/// Errors without a word on what was being done (`std::io::Error`,
/// `serde_json::Error`, ...) as a runtime failure that says it:
/// `"{what}: {error}"`.
pub(crate) trait OrRuntime<T> {
    fn or_runtime(self, what: impl FnOnce() -> String) -> Result<T, CliError>;
}

impl<T, E: std::fmt::Display> OrRuntime<T> for Result<T, E> {
    fn or_runtime(self, what: impl FnOnce() -> String) -> Result<T, CliError> {
        self.map_err(|e| CliError::runtime(format!("{}: {e}", what())))
    }
}

/// Shared context for commands: where things are and the loaded configuration.
pub(crate) struct Context {
    pub(crate) paths: Paths,
    pub(crate) sources: Sources,
}

impl Context {
    pub(crate) fn new(cli: &Cli) -> Result<Context, CliError> {
        let paths = Paths::from_env()?;
        let sources = Sources::new(&paths, cli.config.as_deref());
        Ok(Context { paths, sources })
    }

    pub(crate) fn load_config(&self) -> Result<Config, CliError> {
        Ok(config::load(&self.sources)?)
    }
}

/// Parse "90s", "10m", "2h", "3d" or plain seconds into seconds.
pub(crate) fn parse_duration(text: &str) -> Result<f64, CliError> {
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
pub(crate) fn confirm(question: &str, yes: bool) -> Result<bool, CliError> {
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
        .or_runtime(|| "cannot read answer".into())?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    // The daemon sets up its own logging (console + JSON file).
    // The dashboard owns the terminal: no console logging under it.
    let _log = match cli.command {
        Command::Daemon | Command::Tui(_) => None,
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
        Command::Tui(args) => tui::run(&ctx, &args),
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
pub(crate) fn out(text: &str) -> Result<(), CliError> {
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

    #[test]
    fn layer_errors_keep_their_message_and_exit_code() {
        let e = CliError::from(config::ConfigError::Invalid {
            key: "system.sample_interval".into(),
            message: "must be above 0".into(),
        });
        assert_eq!(e.code, 2);
        assert_eq!(
            e.message,
            "configuration error: invalid value for `system.sample_interval`: must be above 0"
        );
        assert_eq!(
            CliError::from(config::ConfigError::Paths("no home".into())).code,
            1
        );
        assert_eq!(
            CliError::from(ServiceError::Usage("bad path".into())).code,
            2
        );
        let e = CliError::from(ServiceError::NoHome);
        assert_eq!(
            (e.code, e.message.as_str()),
            (1, "$HOME is not set: cannot place the user service")
        );
        let e = CliError::from(crate::storage::StorageError::Locked {
            path: "/d/events.db".into(),
        });
        assert_eq!(e.code, 1);
        assert!(
            e.message.starts_with("/d/events.db is locked"),
            "{}",
            e.message
        );
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let e = Err::<(), _>(io)
            .or_runtime(|| "cannot write /x".into())
            .unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (1, "cannot write /x: denied"));
    }
}
