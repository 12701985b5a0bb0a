//! The live-stream protocol: newline-delimited JSON, one object per line with a
//! `type` field. Pure data and a bounded line decoder; no sockets here.
//!
//! Daemon → client: `initial_state` (always first; carries `version`), then
//! `sample`, `event`, `events` (reply to `get_events`), `pong`, `error`.
//! Client → daemon: `ping`, `get_events`.

use crate::model::{Band, ProcessSamples, Resource};
use crate::storage::EventRow;
use serde::{Deserialize, Serialize};

/// Bumped when a message changes incompatibly.
pub const PROTOCOL_VERSION: u32 = 1;
/// Longest line a client accepts from the daemon (initial_state carries history).
pub const MAX_SERVER_LINE: usize = 16 * 1024 * 1024;
/// Longest line the daemon accepts from a client.
pub const MAX_CLIENT_LINE: usize = 64 * 1024;

/// Facts about the running daemon, sent in `initial_state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub pid: u32,
    /// Unix seconds.
    pub started_at: f64,
    /// Seconds between samples.
    pub sample_interval: f64,
    pub sample_count: u64,
    /// Machine boot, Unix milliseconds.
    pub boot_time: u64,
    pub open_events: u64,
}

/// What happened to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Opened,
    Escalated,
    Closed,
    Forensics,
}

/// A tracker event as the live stream reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventNotice {
    pub kind: EventKind,
    /// The daemon's key for the event (unique within one daemon run).
    pub event_key: u64,
    pub pid: u32,
    pub start_time: u64,
    /// Untrusted: escape before display.
    pub command: String,
    pub band: Band,
    pub score: f64,
    pub dominant_resource: Resource,
    /// Unix seconds.
    pub at: f64,
    /// For `closed`: recovered, gone, shutdown.
    pub reason: Option<String>,
}

/// Daemon → client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    InitialState {
        version: u32,
        daemon: DaemonInfo,
        /// The most recent samples, oldest first.
        history: Vec<ProcessSamples>,
    },
    Sample {
        samples: ProcessSamples,
    },
    Event {
        event: EventNotice,
    },
    Events {
        events: Vec<EventRow>,
    },
    Pong,
    Error {
        message: String,
    },
}

/// Client → daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Ping,
    GetEvents {
        #[serde(default)]
        limit: Option<usize>,
        #[serde(default)]
        open_only: bool,
    },
}

/// Why a line could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("line of {len} bytes exceeds the limit of {max}")]
    TooLong { len: usize, max: usize },
    #[error("line is not UTF-8")]
    NotUtf8,
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Encode one message as a JSON line (with the trailing newline).
pub fn encode<T: Serialize>(msg: &T) -> Result<String, serde_json::Error> {
    let mut s = serde_json::to_string(msg)?;
    s.push('\n');
    Ok(s)
}

/// Decode one line (without or with its newline), refusing lines over `max`.
pub fn decode<T: for<'de> Deserialize<'de>>(line: &[u8], max: usize) -> Result<T, DecodeError> {
    if line.len() > max {
        return Err(DecodeError::TooLong {
            len: line.len(),
            max,
        });
    }
    let text = std::str::from_utf8(line).map_err(|_| DecodeError::NotUtf8)?;
    serde_json::from_str(text.trim_end_matches(['\n', '\r']))
        .map_err(|e| DecodeError::Malformed(e.to_string()))
}
