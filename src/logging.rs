//! Logging: human-readable lines on the console, JSON Lines in the state
//! directory's `daemon.log` (rotated by size, a fixed number kept).
//!
//! Owns the tracing subscriber. Library code logs with `tracing` macros and a
//! stable event name (`info!(event_name = "rogue_enter", pid, score)`); nothing
//! else prints diagnostics.

use crate::config::{LoggingConfig, Paths};
use logroller::{LogRollerBuilder, Rotation, RotationSize};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Log lines queued for the file writer thread.
const LOG_QUEUE_LINES: usize = 8192;

/// Why the daemon's log file cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoggingError {
    #[error("cannot use the log directory: {0}")]
    Dir(#[from] crate::sys::PrivateDirError),
    #[error("cannot open log file {}: {source}", .path.display())]
    Open {
        path: std::path::PathBuf,
        source: logroller::LogRollerError,
    },
    #[error("cannot make log file {} private: {source}", .path.display())]
    Private {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Keeps the background log writer alive; drop it last (it flushes).
pub(crate) struct LogGuard {
    _file: Option<tracing_appender::non_blocking::WorkerGuard>,
}

fn filter(level: &str) -> EnvFilter {
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Console only (warnings and errors by default): for one-shot commands.
pub(crate) fn init_console(verbose: u8) -> LogGuard {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let _ = tracing_subscriber::registry()
        .with(filter(level))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_target(false)
                .compact(),
        )
        .try_init();
    LogGuard { _file: None }
}

/// Create `path` owner-only (0600), or make an existing one so.
fn private_file(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
}

/// Console plus the rotated JSON Lines file: for the daemon.
pub(crate) fn init_daemon(paths: &Paths, cfg: &LoggingConfig) -> Result<LogGuard, LoggingError> {
    // Logs name processes and their command lines: keep them private.
    crate::sys::ensure_private_dir(&paths.state_dir)?;
    // Created (and kept) 0600 whatever the umask: it holds full command lines.
    private_file(&paths.log_file()).map_err(|source| LoggingError::Private {
        path: paths.log_file(),
        source,
    })?;
    let roller = LogRollerBuilder::new(
        paths.state_dir.as_path(),
        std::path::Path::new("daemon.log"),
    )
    .rotation(Rotation::SizeBased(RotationSize::Bytes(cfg.max_file_bytes)))
    .max_keep_files(cfg.keep_files as u64)
    .file_mode(0o600)
    .graceful_shutdown(true)
    .build()
    .map_err(|source| LoggingError::Open {
        path: paths.log_file(),
        source,
    })?;
    // The default queue holds 128 000 lines, 4 MiB allocated up front (a
    // sixth of an idle daemon's memory) for a log that writes a few lines a
    // second; a burst beyond this queue drops lines rather than block
    // sampling.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .lossy(true)
        .finish(roller);
    let _ = tracing_subscriber::registry()
        .with(filter(&cfg.level))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr.with_max_level(tracing::Level::INFO))
                .with_ansi(std::io::stderr().is_terminal())
                .with_target(false)
                .compact(),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_writer(move || crate::json::SafeWriter(writer.clone())),
        )
        .try_init();
    Ok(LogGuard { _file: Some(guard) })
}
