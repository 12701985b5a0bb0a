//! Live stream between the daemon and its clients over a Unix socket.
//!
//! `protocol` is the wire format; the daemon's side is `hub` (fan-out to clients
//! through bounded per-client queues, the history kept for `initial_state`) and
//! `server` (socket, accept loop, peer check, per-connection tasks); `client`
//! is the TUI's and `status`'s side (connect, read, reconnect).

pub mod client;
pub mod hub;
mod lines;
pub mod protocol;
pub mod server;
pub mod table;

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong on either end of the socket. Every message names
/// the socket path.
#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    #[error("cannot prepare {}: {message}", .path.display())]
    Setup { path: PathBuf, message: String },
    #[error("cannot start the live-stream server for {}: {source}", .path.display())]
    Runtime {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot bind {}: {source}", .path.display())]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot bind {}: address in use (another daemon answers on it)", .path.display())]
    InUse { path: PathBuf },
    #[error("cannot bind {}: it exists and is not a socket; refusing to remove it", .path.display())]
    NotASocket { path: PathBuf },
    #[error("cannot connect to {}: {}", .path.display(), connect_hint(.source))]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: no answer from the daemon within {} ms", .path.display(), .timeout.as_millis())]
    Timeout { path: PathBuf, timeout: Duration },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: bad message from the daemon: {source}", .path.display())]
    Decode {
        path: PathBuf,
        source: protocol::DecodeError,
    },
    #[error("{}: protocol error: {message}", .path.display())]
    Protocol { path: PathBuf, message: String },
    #[error("{}: daemon speaks protocol version {daemon}, this program version {ours}", .path.display())]
    Version {
        path: PathBuf,
        daemon: u32,
        ours: u32,
    },
    #[error("{}: the daemon refused the connection: {message}", .path.display())]
    Refused { path: PathBuf, message: String },
}

impl IpcError {
    /// True when nothing is listening: the socket is missing or stale. Callers
    /// use this to say "daemon not running" (or to fall back to an embedded
    /// sampler) rather than report a failure.
    pub fn is_not_running(&self) -> bool {
        match self {
            IpcError::Connect { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ),
            _ => false,
        }
    }
}

fn connect_hint(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such socket (is the daemon running?)".into(),
        std::io::ErrorKind::ConnectionRefused => {
            "connection refused (stale socket: the daemon is not running)".into()
        }
        _ => e.to_string(),
    }
}
