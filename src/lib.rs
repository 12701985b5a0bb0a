//! rogue-hunter: finds the process behind a slow or stalling machine and keeps
//! the evidence.
//!
//! Pure core (`model`, `score`, `ringbuffer`) with I/O at the edges (`platform`,
//! `collect`, `config`, `logging`, `cli`); OS helpers outside the collectors
//! (ids, private directories, local time, running tools) in `sys`. See
//! docs/architecture.md.

pub mod cli;
pub mod collect;
pub mod config;
pub mod daemon;
pub mod forensics;
pub mod format;
pub mod ipc;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod notifications;
pub mod perms;
pub mod platform;
pub mod ringbuffer;
pub mod score;
pub mod service;
pub mod storage;
pub mod sys;
pub mod tracker;
pub mod tui;

/// Unix time now, seconds.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
