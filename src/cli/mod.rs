//! Command-line interface: argument parsing and the commands.
//!
//! Owns what the user types and what they read back. Errors carry an exit code
//! (0 ok, 1 runtime failure, 2 usage or configuration error, 3 `status`: the
//! daemon is not running) and a message that names the flag, file, key or
//! thing at fault.

mod config_cmd;
mod daemon;
pub(crate) mod events;
pub(crate) mod generate;
mod history;
pub(crate) mod output;
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
    /// `status` found no daemon (exit 3); the report already said so, so
    /// there is no message.
    pub(crate) fn not_running() -> Self {
        CliError {
            code: 3,
            message: String::new(),
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

/// A time as a flag takes it (`--since`, `--until`, `--from`, `--to`,
/// `--at`): RFC 3339, local `HH:MM[:SS]`, `yesterday 03:00`, `3h ago`,
/// `-90s`, `now`, `@UNIX` (`history::parse_time`), or a bare span back from
/// now (`2h`, `90s`). An error names `flag`.
pub(crate) fn resolve_time(flag: &str, text: &str, now: f64) -> Result<f64, CliError> {
    match crate::history::parse_time(text) {
        Ok(spec) => Ok(spec.resolve(now, history::local_seconds_of_day(now))),
        Err(why) => match crate::history::timespec::parse_span(text) {
            Some(span) => Ok(now - span),
            None => Err(CliError::usage(format!("{flag}: {why}"))),
        },
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

    /// Every argument and every subcommand of every command says what it is
    /// for (clap's own `--help`/`--version` aside).
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg
                    .get_help()
                    .is_none_or(|h| h.to_string().trim().is_empty())
                {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                let sub_path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(sub_path.clone());
                }
                walk(sub, &sub_path, missing);
            }
        }
        use clap::CommandFactory;
        let mut missing = Vec::new();
        walk(&Cli::command(), "rogue-hunter", &mut missing);
        assert!(missing.is_empty(), "without help: {missing:#?}");
    }

    /// `events --fields`' help names exactly the fields it takes.
    #[test]
    fn events_fields_help_lists_the_known_fields() {
        use clap::CommandFactory;
        let cli = Cli::command();
        let help = cli
            .find_subcommand("events")
            .and_then(|e| e.get_arguments().find(|a| a.get_id() == "fields"))
            .and_then(|a| a.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        let listed: Vec<&str> = help
            .rsplit_once("keys):")
            .map_or("", |(_, l)| l)
            .trim_end_matches('.')
            .split(',')
            .map(str::trim)
            .collect();
        assert_eq!(listed, events::render::EVENT_FIELDS, "{help}");
    }

    #[test]
    fn times_take_every_history_form_or_a_span_and_errors_name_the_flag() {
        let now = 1_000_000.0;
        assert_eq!(resolve_time("--since", "2h", now).unwrap(), now - 7200.0);
        assert_eq!(resolve_time("--since", "90s ago", now).unwrap(), now - 90.0);
        assert_eq!(resolve_time("--since", "-90s", now).unwrap(), now - 90.0);
        assert_eq!(resolve_time("--until", "@5", now).unwrap(), 5.0);
        assert_eq!(
            resolve_time("--until", "1970-01-02T00:00:00Z", now).unwrap(),
            86400.0
        );
        let e = resolve_time("--since", "soon", now).unwrap_err();
        assert_eq!(e.code, 2);
        assert!(
            e.message.starts_with("--since: `soon` is not a time"),
            "{}",
            e.message
        );
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
