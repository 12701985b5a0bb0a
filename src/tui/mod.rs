//! The terminal dashboard (`rogue-hunter tui`): `app` holds the state, `ui`
//! draws it, and this module owns the terminal loop (raw mode, alternate screen,
//! restoring the terminal on every exit path) and the embedded sampler used when
//! no daemon is running. The transport is not this module's business: whoever
//! owns it feeds `TuiInput`s into `run_loop` and serves its `TuiRequest`s;
//! `replay` switches between the live transport and the recording.

pub mod app;
mod connected;
mod embedded;
mod input;
pub mod keymap;
mod replay;
mod terminal;
pub mod tree;
pub mod ui;

#[cfg(test)]
mod tests;

pub use app::{Action, App, ConnectionState, EventRef};
pub use connected::{run_auto, run_connected};
pub use embedded::run_embedded;
pub use replay::{ReplayKey, ReplaySource, ReplayView, Start, run_dashboard};
pub use terminal::run_loop;

use crate::ipc::protocol::{ClientMessage, ServerMessage};

/// What feeds the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub enum TuiInput {
    /// A message from the daemon (or the embedded sampler).
    Message(ServerMessage),
    /// The transport's state changed.
    Connection(ConnectionState),
    /// The recording at the replay cursor (`tui --at`, `R`).
    Replay(Box<ReplayView>),
    /// A line for the status bar (a refused replay, say).
    Status(String),
}

/// What the dashboard asks of the transport.
#[derive(Debug, Clone, PartialEq)]
pub enum TuiRequest {
    /// The most recent events (`get_events`): sent after each `initial_state`
    /// and when the user presses `e`.
    GetEvents { limit: usize },
    /// Every process in each `sample` (`subscribe` with `full_table`): sent
    /// after each `initial_state` from a daemon.
    FullTable,
    /// Sample every `secs` seconds (served by the embedded sampler; a daemon's
    /// interval is its configuration's).
    SetInterval { secs: f64 },
    /// A replay key: the replay source moves its cursor, or switches
    /// between the recording and the live feed.
    Replay(ReplayKey),
}

/// Reads one event's (or stall's) timeline and forensic summary for the
/// panel: the title and the text, or why it cannot. Read-only I/O, called on
/// the dashboard's thread when the user presses Enter on an event.
pub type EventReader = Box<dyn Fn(&EventRef) -> Result<(String, String), String> + Send>;

impl TuiRequest {
    /// The wire message for this request (`None`: not the daemon's business).
    pub fn to_client_message(&self) -> Option<ClientMessage> {
        Some(match self {
            TuiRequest::GetEvents { limit } => ClientMessage::GetEvents {
                limit: Some(*limit),
                open_only: false,
            },
            TuiRequest::FullTable => ClientMessage::Subscribe {
                full_table: true,
                compact: true,
            },
            TuiRequest::SetInterval { .. } | TuiRequest::Replay(_) => return None,
        })
    }
}

/// Why the dashboard stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    #[error("the terminal went away: {0}")]
    TerminalGone(String),
    #[error("cannot install signal handlers: {0}")]
    Signal(std::io::Error),
    #[error("cannot start the embedded sampler: {0}")]
    Sampler(#[from] crate::platform::SourceError),
    #[error("cannot start the embedded sampler: cannot start a thread: {0}")]
    SamplerThread(std::io::Error),
}
